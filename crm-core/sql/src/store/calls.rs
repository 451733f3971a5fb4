//! `CallStore`: call detail records (a voicemail raises its agent task in the same transaction).

use super::*;

pub(super) const CDR_COLS: &str = "id, call_id, direction, caller, called, customer_id, started_at, answered_at, ended_at, \
     ivr_script, ivr_path, dtmf, queue, outcome, end_reason, recording, agent_id, queue_wait_ms, answered_within_sl, serial_owner_id, voicemail";

pub(super) fn cdr_from_row(r: &Row) -> StoreResult<Cdr> {
    let direction: String = get(r, "direction")?;
    let outcome: String = get(r, "outcome")?;
    Ok(Cdr {
        id: get(r, "id")?,
        call: NewCdr {
            call_id: get(r, "call_id")?,
            direction: decode(Direction::parse(&direction), "direction")?,
            caller: get(r, "caller")?,
            called: get(r, "called")?,
            customer_id: get(r, "customer_id")?,
            started_at: get(r, "started_at")?,
            answered_at: get(r, "answered_at")?,
            ended_at: get(r, "ended_at")?,
            ivr_script: get(r, "ivr_script")?,
            ivr_path: get(r, "ivr_path")?,
            dtmf: get(r, "dtmf")?,
            queue: get(r, "queue")?,
            outcome: decode(CallOutcome::parse(&outcome), "outcome")?,
            end_reason: get(r, "end_reason")?,
            recording: get(r, "recording")?,
            agent_id: get(r, "agent_id")?,
            queue_wait_ms: get(r, "queue_wait_ms")?,
            answered_within_sl: get(r, "answered_within_sl")?,
            serial_owner_id: get(r, "serial_owner_id")?,
            voicemail: get(r, "voicemail")?,
        },
    })
}

#[async_trait]
impl CallStore for This {
    async fn insert_cdr(&self, c: &NewCdr) -> StoreResult<Cdr> {
        if let Some(id) = c.customer_id {
            require(&mut *self.conn().await?, "customers", id, "customer_id").await?;
        }
        if let Some(id) = c.agent_id {
            require(&mut *self.conn().await?, "users", id, "agent_id").await?;
        }
        if let Some(id) = c.serial_owner_id {
            require(&mut *self.conn().await?, "customers", id, "serial_owner_id").await?;
        }
        let sql = format!(
            "INSERT INTO cdrs (call_id, direction, caller, called, customer_id, started_at, answered_at, ended_at, \
             ivr_script, ivr_path, dtmf, queue, outcome, end_reason, recording, agent_id, queue_wait_ms, answered_within_sl, \
             serial_owner_id, voicemail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
             RETURNING {CDR_COLS}"
        );
        let mut tx = self.tx().await?;
        let r = sqlx::query::<Db>(&sql)
            .bind(&c.call_id)
            .bind(c.direction.as_str())
            .bind(&c.caller)
            .bind(&c.called)
            .bind(c.customer_id)
            .bind(trunc(c.started_at))
            .bind(c.answered_at.map(trunc))
            .bind(trunc(c.ended_at))
            .bind(&c.ivr_script)
            .bind(&c.ivr_path)
            .bind(&c.dtmf)
            .bind(&c.queue)
            .bind(c.outcome.as_str())
            .bind(&c.end_reason)
            .bind(&c.recording)
            .bind(c.agent_id)
            .bind(c.queue_wait_ms)
            .bind(c.answered_within_sl)
            .bind(c.serial_owner_id)
            .bind(&c.voicemail)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        // The call-center report reads these running sums, written with the record.
        roll_up_call(&mut tx, c).await?;
        let cdr = cdr_from_row(&r)?;
        // A message left for us is a promise to call back: its task is written with the record.
        if c.voicemail.is_some() {
            let task = crm_core::care::NewAgentTask {
                kind: crm_core::care::AgentTaskKind::Voicemail,
                source: format!("voicemail-{}", cdr.id),
                campaign_id: None,
                customer_id: c.customer_id,
                repair_order_id: None,
                complaint_id: None,
                asset_id: None,
                summary: match &c.queue {
                    Some(q) => format!("Voicemail left while waiting in {q}: listen and call back."),
                    None => "Voicemail left outside opening hours: listen and call back.".to_string(),
                },
                callback_number: Some(c.caller.clone()).filter(|n| !n.is_empty()),
                cdr_id: Some(cdr.id),
                due_at: c.ended_at,
            };
            raise(&mut tx, &task, c.ended_at).await?;
        }
        commit(tx).await?;
        Ok(cdr)
    }

    async fn get_cdr(&self, id: i64) -> StoreResult<Cdr> {
        let sql = format!("SELECT {CDR_COLS} FROM cdrs WHERE id = $1");
        let row = sqlx::query::<Db>(&sql)
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        cdr_from_row(&row.ok_or(StoreError::not_found("call record"))?)
    }

    async fn list_cdrs(&self, limit: u32) -> StoreResult<Vec<Cdr>> {
        let sql = format!("SELECT {CDR_COLS} FROM cdrs ORDER BY started_at DESC, id DESC LIMIT $1");
        let rows = sqlx::query::<Db>(&sql)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(cdr_from_row).collect()
    }
}
