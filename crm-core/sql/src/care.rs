// Agent tasks, written once for both backends like `body.rs` (and included after it). `raise`
// runs inside the transaction of whatever caused the task (a callback ending exhausted, a
// complaint escalated or resolved, a poor survey), so the cause never lands without its task.

use crm_core::care::*;

const AGENT_TASK_COLS: &str = "id, kind, queue, source, campaign_id, customer_id, repair_order_id, complaint_id, asset_id, summary, \
     status, due_at, created_at, claimed_by, claimed_at, finished_at, outcome, note";

fn agent_task_from_row(r: &Row) -> StoreResult<AgentTask> {
    Ok(AgentTask {
        id: get(r, "id")?,
        kind: decode(AgentTaskKind::parse(&get::<String>(r, "kind")?), "kind")?,
        queue: get(r, "queue")?,
        source: get(r, "source")?,
        campaign_id: get(r, "campaign_id")?,
        customer_id: get(r, "customer_id")?,
        repair_order_id: get(r, "repair_order_id")?,
        complaint_id: get(r, "complaint_id")?,
        asset_id: get(r, "asset_id")?,
        summary: get(r, "summary")?,
        status: decode(AgentTaskStatus::parse(&get::<String>(r, "status")?), "status")?,
        due_at: get(r, "due_at")?,
        created_at: get(r, "created_at")?,
        claimed_by: get(r, "claimed_by")?,
        claimed_at: get(r, "claimed_at")?,
        finished_at: get(r, "finished_at")?,
        outcome: get::<Option<String>>(r, "outcome")?
            .map(|o| decode(TaskOutcome::parse(&o), "outcome"))
            .transpose()?,
        note: get(r, "note")?,
    })
}

async fn load_agent_task(c: &mut Conn, id: i64) -> StoreResult<AgentTask> {
    let sql = format!("SELECT {AGENT_TASK_COLS} FROM agent_tasks WHERE id = $1");
    let row = sqlx::query::<Db>(&sql).bind(id).fetch_optional(&mut *c).await.map_err(db_err)?;
    agent_task_from_row(&row.ok_or(StoreError::not_found("agent task"))?)
}

/// Raise one task in the caller's transaction; nothing when its source raised one already.
async fn raise(c: &mut Conn, t: &NewAgentTask, now: DateTime<Utc>) -> StoreResult<u32> {
    let n = sqlx::query::<Db>(
        "INSERT INTO agent_tasks (kind, queue, source, campaign_id, customer_id, repair_order_id, complaint_id, asset_id, \
         summary, status, due_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $11) \
         ON CONFLICT (source) DO NOTHING",
    )
    .bind(t.kind.as_str())
    .bind(t.kind.queue())
    .bind(&t.source)
    .bind(t.campaign_id)
    .bind(t.customer_id)
    .bind(t.repair_order_id)
    .bind(t.complaint_id)
    .bind(t.asset_id)
    .bind(&t.summary)
    .bind(trunc(t.due_at))
    .bind(trunc(now))
    .execute(&mut *c)
    .await
    .map_err(db_err)?
    .rows_affected();
    Ok(n as u32)
}

/// Who owns a new complaint nobody was named for: the agent with the `complaints` skill (best
/// level first) holding the fewest unresolved complaints, else the least loaded supervisor.
async fn pick_complaint_owner(c: &mut Conn) -> StoreResult<Option<i64>> {
    let load = "(SELECT COUNT(*) FROM complaints k WHERE k.owner_user_id = u.id AND k.status IN ('open', 'in_progress'))";
    let sql = format!(
        "SELECT u.id FROM users u JOIN agent_skills s ON s.user_id = u.id AND s.skill = 'complaints' \
         ORDER BY {load}, s.level DESC, u.id LIMIT 1"
    );
    if let Some(id) = sqlx::query_scalar::<Db, i64>(&sql).fetch_optional(&mut *c).await.map_err(db_err)? {
        return Ok(Some(id));
    }
    let sql = format!("SELECT u.id FROM users u WHERE u.role = 'supervisor' ORDER BY {load}, u.id LIMIT 1");
    sqlx::query_scalar::<Db, i64>(&sql).fetch_optional(&mut *c).await.map_err(db_err)
}

#[async_trait]
impl CareStore for This {
    async fn raise_tasks(&self, tasks: &[NewAgentTask], now: DateTime<Utc>) -> StoreResult<u32> {
        let mut tx = self.tx().await?;
        let mut added = 0;
        for t in tasks {
            added += raise(&mut tx, t, now).await?;
        }
        commit(tx).await?;
        Ok(added)
    }

    async fn agent_task(&self, id: i64) -> StoreResult<AgentTask> {
        load_agent_task(&mut *self.conn().await?, id).await
    }

    async fn list_agent_tasks(&self, q: &AgentTaskQuery) -> StoreResult<Vec<AgentTask>> {
        let mut clauses = vec![match q.status {
            Some(s) => format!("status = '{}'", s.as_str()),
            None => "status IN ('open', 'claimed')".to_string(),
        }];
        if let Some(k) = q.kind {
            clauses.push(format!("kind = '{}'", k.as_str()));
        }
        let mut n = 0;
        if !q.queues.is_empty() {
            let marks: Vec<String> = (0..q.queues.len()).map(|i| format!("${}", n + i + 1)).collect();
            n += q.queues.len();
            clauses.push(format!("queue IN ({})", marks.join(", ")));
        }
        if q.customer_id.is_some() {
            n += 1;
            clauses.push(format!("customer_id = ${n}"));
        }
        if q.campaign_id.is_some() {
            n += 1;
            clauses.push(format!("campaign_id = ${n}"));
        }
        let sql = format!(
            "SELECT {AGENT_TASK_COLS} FROM agent_tasks WHERE {} ORDER BY due_at, id LIMIT ${}",
            clauses.join(" AND "),
            n + 1
        );
        let mut query = sqlx::query::<Db>(&sql);
        for queue in &q.queues {
            query = query.bind(queue);
        }
        if let Some(c) = q.customer_id {
            query = query.bind(c);
        }
        if let Some(c) = q.campaign_id {
            query = query.bind(c);
        }
        let rows = query
            .bind(i64::from(q.limit))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(agent_task_from_row).collect()
    }

    async fn claim_agent_task(&self, user_id: i64, id: i64, now: DateTime<Utc>) -> StoreResult<AgentTask> {
        let mut tx = self.tx().await?;
        let cur = load_agent_task(&mut tx, id).await?;
        match cur.status {
            AgentTaskStatus::Claimed if cur.claimed_by == Some(user_id) => {
                commit(tx).await?;
                return Ok(cur);
            }
            AgentTaskStatus::Open => {}
            AgentTaskStatus::Claimed => {
                return Err(StoreError::conflict("status", "another agent holds this task"));
            }
            AgentTaskStatus::Done => return Err(StoreError::conflict("status", "the task is done")),
        }
        // Conditional: of two agents claiming at once, one wins.
        let n = sqlx::query::<Db>(
            "UPDATE agent_tasks SET status = 'claimed', claimed_by = $1, claimed_at = $2 WHERE id = $3 AND status = 'open'",
        )
        .bind(user_id)
        .bind(trunc(now))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::conflict("status", "another agent holds this task"));
        }
        audit(&mut tx, Actor::user(user_id), "claim", "agent_task", Some(id), serde_json::json!({})).await?;
        let out = load_agent_task(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn finish_agent_task(&self, user_id: i64, id: i64, f: &TaskFinish, now: DateTime<Utc>) -> StoreResult<AgentTask> {
        f.validate()?;
        let mut tx = self.tx().await?;
        let cur = load_agent_task(&mut tx, id).await?;
        if cur.status == AgentTaskStatus::Done {
            return Err(StoreError::conflict("status", "the task is done"));
        }
        if cur.status != AgentTaskStatus::Claimed || cur.claimed_by != Some(user_id) {
            return Err(StoreError::conflict("status", "claim the task before finishing it"));
        }
        sqlx::query::<Db>("UPDATE agent_tasks SET status = 'done', finished_at = $1, outcome = $2, note = $3 WHERE id = $4")
            .bind(trunc(now))
            .bind(f.outcome.as_str())
            .bind(f.note.as_deref())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        audit(&mut tx, Actor::user(user_id), "finish", "agent_task", Some(id), to_json(f)).await?;
        let out = load_agent_task(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }
}
