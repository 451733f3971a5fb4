//! `MailStore`: the e-mail outbox. Queued once per idempotency key; leased to one node at a
//! time to send (PostgreSQL: `FOR UPDATE SKIP LOCKED`); an attempt counts when it is leased, so
//! one a crash cut short still counts towards the limit.

use super::*;
use crm_core::mail::*;
use crm_core::types::Email;

const MAIL_COLS: &str = "id, idempotency_key, kind, to_address, subject, body, attachments, status, attempts, due_at, \
     last_error, created_at, sent_at";

fn mail_from_row(r: &Row) -> StoreResult<Mail> {
    Ok(Mail {
        id: get(r, "id")?,
        key: get(r, "idempotency_key")?,
        kind: decode(MailKind::parse(&get::<String>(r, "kind")?), "kind")?,
        to: decode(Email::parse(&get::<String>(r, "to_address")?), "to_address")?,
        subject: get(r, "subject")?,
        text: get(r, "body")?,
        attachments: json_col(&get::<String>(r, "attachments")?, "attachments")?,
        status: decode(MailStatus::parse(&get::<String>(r, "status")?), "status")?,
        attempts: get_u32(r, "attempts")?,
        due_at: get(r, "due_at")?,
        last_error: get(r, "last_error")?,
        created_at: get(r, "created_at")?,
        sent_at: get(r, "sent_at")?,
    })
}

/// Queue a message in the caller's transaction (with what caused it); the message already
/// queued under the key when there is one, and whether it was.
pub(super) async fn queue_mail_in(c: &mut Conn, m: &NewMail, now: DateTime<Utc>) -> StoreResult<(Mail, bool)> {
    m.validate()?;
    let attachments = serde_json::to_string(&m.attachments).map_err(|e| StoreError::Backend(e.to_string()))?;
    let added = sqlx::query::<Db>(
        "INSERT INTO mail_outbox (idempotency_key, kind, to_address, subject, body, attachments, status, attempts, due_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&m.key)
    .bind(m.kind.as_str())
    .bind(m.to.as_str())
    .bind(&m.subject)
    .bind(&m.text)
    .bind(attachments)
    .bind(trunc(m.due_at))
    .bind(trunc(now))
    .execute(&mut *c)
    .await
    .map_err(db_err)?
    .rows_affected();
    let sql = format!("SELECT {MAIL_COLS} FROM mail_outbox WHERE idempotency_key = $1");
    let row = sqlx::query::<Db>(&sql)
        .bind(&m.key)
        .fetch_one(&mut *c)
        .await
        .map_err(db_err)?;
    Ok((mail_from_row(&row)?, added == 0))
}

#[async_trait]
impl MailStore for This {
    async fn queue_mail(&self, m: &NewMail, now: DateTime<Utc>) -> StoreResult<(Mail, bool)> {
        let mut tx = self.tx().await?;
        let out = queue_mail_in(&mut tx, m, now).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn claim_mail(
        &self,
        node: &str,
        now: DateTime<Utc>,
        lease_seconds: u32,
        limit: u32,
    ) -> StoreResult<Vec<Mail>> {
        let now = trunc(now);
        let until = now + chrono::Duration::seconds(i64::from(lease_seconds));
        let mut tx = self.tx().await?;
        let sql = format!(
            "UPDATE mail_outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 WHERE id IN (\
               SELECT id FROM mail_outbox WHERE status = 'queued' AND due_at <= $3 \
               AND (lease_until IS NULL OR lease_until < $3) ORDER BY due_at, id LIMIT $4 {SKIP_LOCKED}) \
             RETURNING {MAIL_COLS}"
        );
        let rows = sqlx::query::<Db>(&sql)
            .bind(node)
            .bind(until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        commit(tx).await?;
        let mut out = rows.iter().map(mail_from_row).collect::<StoreResult<Vec<_>>>()?;
        out.sort_by_key(|m| (m.due_at, m.id));
        Ok(out)
    }

    async fn finish_mail(&self, node: &str, id: i64, after: &Disposition, now: DateTime<Utc>) -> StoreResult<Mail> {
        let now = trunc(now);
        // One statement for every outcome: the status, when it went, the next try, the error.
        let (status, sent_at, due_at, error) = match after {
            Disposition::Sent => ("sent", Some(now), None, None),
            Disposition::Failed(e) => ("failed", None, None, Some(e.as_str())),
            Disposition::Retry { at, error } => ("queued", None, Some(trunc(*at)), Some(error.as_str())),
        };
        let mut tx = self.tx().await?;
        let done = sqlx::query::<Db>(
            "UPDATE mail_outbox SET status = $1, sent_at = $2, due_at = COALESCE($3, due_at), last_error = $4, \
             lease_owner = NULL, lease_until = NULL WHERE id = $5 AND lease_owner = $6 AND status = 'queued'",
        )
        .bind(status)
        .bind(sent_at)
        .bind(due_at)
        .bind(error)
        .bind(id)
        .bind(node)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        let sql = format!("SELECT {MAIL_COLS} FROM mail_outbox WHERE id = $1");
        let row = sqlx::query::<Db>(&sql)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::not_found("mail"))?;
        commit(tx).await?;
        if done == 0 {
            return Err(StoreError::conflict(
                "lease",
                "this node does not hold the message's lease",
            ));
        }
        mail_from_row(&row)
    }

    async fn list_mail(&self, status: Option<MailStatus>, limit: u32) -> StoreResult<Vec<Mail>> {
        let sql =
            format!("SELECT {MAIL_COLS} FROM mail_outbox WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2");
        let rows = sqlx::query::<Db>(&sql)
            .bind(status.map(MailStatus::as_str))
            .bind(i64::from(limit))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(mail_from_row).collect()
    }

    async fn mail_by_key(&self, key: &str) -> StoreResult<Option<Mail>> {
        let sql = format!("SELECT {MAIL_COLS} FROM mail_outbox WHERE idempotency_key = $1");
        let row = sqlx::query::<Db>(&sql)
            .bind(key)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        row.as_ref().map(mail_from_row).transpose()
    }
}

/// Confirm a booked visit window to the customer, in the booking's transaction: once per order
/// and window (booking the same window again writes nothing), in the station's time zone, and
/// only to a customer with an address.
pub(super) async fn queue_appointment_confirmation(
    c: &mut Conn,
    ro: &RepairOrder,
    station_id: i64,
    window: Appointment,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let customer = load_customer(c, ro.customer_id).await?;
    let reach = Reachable {
        email: customer.email.as_ref(),
        do_not_contact: customer.do_not_call,
        marketing_consent: customer.marketing_consent,
    };
    let Some(to) = customer_address(MailKind::AppointmentConfirmation, reach) else {
        return Ok(());
    };
    let station = load_station(c, station_id).await?;
    let asset = load_asset(c, ro.asset_id).await?;
    let model = sqlx::query_scalar::<Db, String>("SELECT name FROM product_models WHERE id = $1")
        .bind(asset.model_id)
        .fetch_one(&mut *c)
        .await
        .map_err(db_err)?;
    let tz = station.time_zone.tz();
    let (from, to_local) = (window.from.with_timezone(&tz), window.to.with_timezone(&tz));
    let when = format!(
        "{}, {} to {}",
        from.format("%A %-d %B %Y"),
        from.format("%H:%M"),
        to_local.format("%H:%M")
    );
    let r = appointment_confirmation(&AppointmentFacts {
        customer: &customer.name,
        order_id: ro.id,
        product: &model,
        window: &when,
        station: &station.name,
        company: "Your service team",
    });
    let mail = NewMail {
        key: format!("appointment:{}:{}", ro.id, window.from.timestamp()),
        kind: MailKind::AppointmentConfirmation,
        to,
        subject: r.subject,
        text: r.text,
        attachments: vec![],
        due_at: now,
    };
    queue_mail_in(c, &mail, now).await?;
    Ok(())
}
