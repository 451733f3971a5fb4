//! `SubscriptionStore`: scheduled report subscriptions and the last period each was sent for.

use super::*;
use crm_core::subscriptions::*;
use crm_core::types::Email;

const SUB_COLS: &str = "id, user_id, report, frequency, email, sent_through, created_at";

fn sub_from_row(r: &Row) -> StoreResult<Subscription> {
    Ok(Subscription {
        id: get(r, "id")?,
        user_id: get(r, "user_id")?,
        report: decode(SubscribedReport::parse(&get::<String>(r, "report")?), "report")?,
        frequency: decode(Frequency::parse(&get::<String>(r, "frequency")?), "frequency")?,
        email: decode(Email::parse(&get::<String>(r, "email")?), "email")?,
        sent_through: get(r, "sent_through")?,
        created_at: get(r, "created_at")?,
    })
}

#[async_trait]
impl SubscriptionStore for This {
    async fn subscribe(
        &self,
        actor: Actor,
        n: &NewSubscription,
        now: DateTime<Utc>,
    ) -> StoreResult<(Subscription, bool)> {
        let mut tx = self.tx().await?;
        let added = sqlx::query::<Db>(
            "INSERT INTO report_subscriptions (user_id, report, frequency, email, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (report, frequency, email) DO NOTHING",
        )
        .bind(actor.user_id)
        .bind(n.report.as_str())
        .bind(n.frequency.as_str())
        .bind(n.email.as_str())
        .bind(trunc(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        let sql =
            format!("SELECT {SUB_COLS} FROM report_subscriptions WHERE report = $1 AND frequency = $2 AND email = $3");
        let row = sqlx::query::<Db>(&sql)
            .bind(n.report.as_str())
            .bind(n.frequency.as_str())
            .bind(n.email.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let s = sub_from_row(&row)?;
        if added == 1 {
            audit(
                &mut tx,
                actor,
                "create",
                "report_subscription",
                Some(s.id),
                serde_json::json!({"report": n.report.as_str(), "frequency": n.frequency.as_str()}),
            )
            .await?;
        }
        commit(tx).await?;
        Ok((s, added == 0))
    }

    async fn subscriptions(&self) -> StoreResult<Vec<Subscription>> {
        let sql = format!("SELECT {SUB_COLS} FROM report_subscriptions ORDER BY id");
        let rows = sqlx::query::<Db>(&sql)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(sub_from_row).collect()
    }

    async fn unsubscribe(&self, actor: Actor, id: i64) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        let gone = sqlx::query::<Db>("DELETE FROM report_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if gone == 0 {
            return Err(StoreError::not_found("subscription"));
        }
        audit(
            &mut tx,
            actor,
            "delete",
            "report_subscription",
            Some(id),
            serde_json::json!({}),
        )
        .await?;
        commit(tx).await
    }

    async fn mark_subscription_sent(&self, id: i64, period_from: NaiveDate) -> StoreResult<()> {
        sqlx::query::<Db>(
            "UPDATE report_subscriptions SET sent_through = $1 WHERE id = $2 AND (sent_through IS NULL OR sent_through < $1)",
        )
        .bind(period_from)
        .bind(id)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
