//! `QualityStore`: the early-warning scan's cells and the alerts it raises. A cell's repairs
//! come from `repair_facts` (grouped on its index); its exposure from the batch's units and
//! the day each went into service (the purchase date), summed by `crm_core::quality::exposure`.

use super::*;
use crm_core::mail::{MailKind, NewMail};
use crm_core::quality::*;
use crm_core::types::Email;

const ALERT_COLS: &str =
    "id, cause, model_id, serial_batch, fault_code, month, units, cases, rate_month, rate_before, ratio, \
     p_value, repair_orders, status, raised_at, closed_at, closed_by, note";

fn alert_from_row(r: &Row) -> StoreResult<QualityAlert> {
    Ok(QualityAlert {
        id: get(r, "id")?,
        cause: get(r, "cause")?,
        model_id: get(r, "model_id")?,
        batch: get(r, "serial_batch")?,
        fault_code: get(r, "fault_code")?,
        month: get(r, "month")?,
        units: get(r, "units")?,
        cases: get(r, "cases")?,
        rate_month: get(r, "rate_month")?,
        rate_before: get(r, "rate_before")?,
        ratio: get(r, "ratio")?,
        p_value: get(r, "p_value")?,
        repair_orders: json_col(&get::<String>(r, "repair_orders")?, "repair_orders")?,
        open: get::<String>(r, "status")? == "open",
        raised_at: get(r, "raised_at")?,
        closed_at: get(r, "closed_at")?,
        closed_by: get(r, "closed_by")?,
        note: get(r, "note")?,
    })
}

/// A `LIKE` pattern for text starting with `prefix` (its `%`, `_` and `\` literal).
fn prefix_pattern(prefix: &str) -> String {
    let anywhere = like_pattern(prefix);
    format!("{}%", &anywhere[1..anywhere.len() - 1])
}

async fn load_alert(c: &mut Conn, id: i64) -> StoreResult<QualityAlert> {
    let sql = format!("SELECT {ALERT_COLS} FROM quality_alerts WHERE id = $1");
    let row = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::not_found("quality alert"))?;
    alert_from_row(&row)
}

#[async_trait]
impl QualityStore for This {
    async fn quality_cells(&self, w: &Window, min_cases: u32) -> StoreResult<Vec<Cell>> {
        let mut c = self.conn().await?;
        let rows = sqlx::query::<Db>(
            "SELECT model_id, serial_batch, COALESCE(fault_code, '') AS fault, \
             CAST(SUM(CASE WHEN completed_on >= $2 THEN 1 ELSE 0 END) AS BIGINT) AS month, \
             CAST(SUM(CASE WHEN completed_on < $2 THEN 1 ELSE 0 END) AS BIGINT) AS before \
             FROM repair_facts WHERE completed_on >= $1 AND completed_on < $3 \
             GROUP BY model_id, serial_batch, COALESCE(fault_code, '') \
             HAVING SUM(CASE WHEN completed_on >= $2 THEN 1 ELSE 0 END) >= $4 ORDER BY 1, 2, 3",
        )
        .bind(w.baseline_from)
        .bind(w.month_from)
        .bind(w.month_to)
        .bind(i64::from(min_cases))
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        // Each candidate batch's units, by the day they went into service (once per batch).
        let mut starts: std::collections::HashMap<(i64, String), Vec<(NaiveDate, i64)>> = Default::default();
        let mut out = vec![];
        for r in &rows {
            let model_id: i64 = get(r, "model_id")?;
            let batch: String = get(r, "serial_batch")?;
            let key = (model_id, batch.clone());
            if !starts.contains_key(&key) {
                // In service from the day its warranty starts: the registered sale, else the
                // production date plus the grace period, else the stated purchase date.
                let units = sqlx::query::<Db>(
                    "SELECT a.serial, a.purchase_date, a.produced_on, s.id AS sale_id, s.dealer_id, s.sold_on FROM assets a \
                     LEFT JOIN sales s ON s.asset_id = a.id WHERE a.model_id = $1 AND a.serial LIKE $2 ESCAPE '\\'",
                )
                .bind(model_id)
                .bind(prefix_pattern(&batch))
                .fetch_all(&mut *c)
                .await
                .map_err(db_err)?;
                let mut by_day: std::collections::BTreeMap<NaiveDate, i64> = Default::default();
                for u in &units {
                    if crm_core::reports::serial_batch(&get::<String>(u, "serial")?) == batch {
                        let sale = match get::<Option<i64>>(u, "sale_id")? {
                            Some(id) => Some((id, get(u, "dealer_id")?, get(u, "sold_on")?)),
                            None => None,
                        };
                        let start = crm_core::warranty::WarrantyStart::decide(
                            sale,
                            get(u, "produced_on")?,
                            get(u, "purchase_date")?,
                        );
                        *by_day.entry(start.date()).or_default() += 1;
                    }
                }
                starts.insert(key.clone(), by_day.into_iter().collect());
            }
            let s = &starts[&key];
            out.push(Cell {
                model_id,
                batch,
                fault_code: get(r, "fault")?,
                units: s.iter().filter(|(d, _)| *d < w.month_to).map(|(_, n)| n).sum(),
                cases_month: get(r, "month")?,
                exposure_month: exposure(s, w.month_from, w.month_to),
                cases_before: get(r, "before")?,
                exposure_before: exposure(s, w.baseline_from, w.month_from),
            });
        }
        Ok(out)
    }

    async fn raise_quality_alert(
        &self,
        f: &Finding,
        w: &Window,
        recipients: &[Email],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<QualityAlert>> {
        let cell = &f.cell;
        let cause = cause(cell.model_id, &cell.batch, &cell.fault_code);
        let mut tx = self.tx().await?;
        let open = sqlx::query_scalar::<Db, i64>("SELECT id FROM quality_alerts WHERE cause = $1 AND status = 'open'")
            .bind(&cause)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if open.is_some() {
            return Ok(None);
        }
        let cases = sqlx::query_scalar::<Db, i64>(
            "SELECT repair_order_id FROM repair_facts WHERE completed_on >= $1 AND completed_on < $2 AND model_id = $3 \
             AND serial_batch = $4 AND COALESCE(fault_code, '') = $5 ORDER BY repair_order_id",
        )
        .bind(w.month_from)
        .bind(w.month_to)
        .bind(cell.model_id)
        .bind(&cell.batch)
        .bind(&cell.fault_code)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let inserted = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO quality_alerts (cause, model_id, serial_batch, fault_code, month, units, cases, rate_month, rate_before, \
             ratio, p_value, repair_orders, status, raised_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'open', $13) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&cause)
        .bind(cell.model_id)
        .bind(&cell.batch)
        .bind(&cell.fault_code)
        .bind(w.month_from)
        .bind(cell.units)
        .bind(cell.cases_month)
        .bind(f.rate_month)
        .bind(f.rate_before)
        .bind(f.ratio)
        .bind(f.p_value)
        .bind(serde_json::to_string(&cases).map_err(|e| StoreError::Backend(e.to_string()))?)
        .bind(trunc(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        // Another node raised it a moment ago.
        let Some(id) = inserted else { return Ok(None) };
        let model = sqlx::query_scalar::<Db, String>("SELECT name FROM product_models WHERE id = $1")
            .bind(cell.model_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let (title, lines) = describe(f, &model, w, &cases);
        let r = crm_core::mail::alert(&title, &lines);
        for to in recipients {
            let mail = NewMail {
                key: format!("alert:{id}:{}", to.as_str()),
                kind: MailKind::Alert,
                to: to.clone(),
                subject: r.subject.clone(),
                text: r.text.clone(),
                attachments: vec![],
                due_at: now,
            };
            super::mail::queue_mail_in(&mut tx, &mail, now).await?;
        }
        audit(
            &mut tx,
            Actor::SYSTEM,
            "raise",
            "quality_alert",
            Some(id),
            serde_json::json!({"cause": cause, "cases": cell.cases_month, "ratio": f.ratio}),
        )
        .await?;
        let out = load_alert(&mut tx, id).await?;
        commit(tx).await?;
        Ok(Some(out))
    }

    async fn list_quality_alerts(&self, open_only: bool, limit: u32) -> StoreResult<Vec<QualityAlert>> {
        let sql = format!(
            "SELECT {ALERT_COLS} FROM quality_alerts WHERE ($1 = 0 OR status = 'open') ORDER BY raised_at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query::<Db>(&sql)
            .bind(i64::from(open_only))
            .bind(i64::from(limit))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(alert_from_row).collect()
    }

    async fn close_quality_alert(
        &self,
        actor: Actor,
        id: i64,
        note: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<QualityAlert> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "quality_alerts", id, "quality alert").await?;
        let cur = load_alert(&mut tx, id).await?;
        if !cur.open {
            return Ok(cur);
        }
        sqlx::query::<Db>(
            "UPDATE quality_alerts SET status = 'closed', closed_at = $1, closed_by = $2, note = $3 WHERE id = $4",
        )
        .bind(trunc(now))
        .bind(actor.user_id)
        .bind(note)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(
            &mut tx,
            actor,
            "close",
            "quality_alert",
            Some(id),
            serde_json::json!({"note": note}),
        )
        .await?;
        let out = load_alert(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }
}
