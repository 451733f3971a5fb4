//! Agent tasks, written once for both backends like the other store files. `raise` runs inside the
//! transaction of whatever caused the task (a callback ending exhausted, a complaint escalated or
//! resolved, a poor survey), so the cause never lands without its task.

use super::*;

pub(super) const AGENT_TASK_COLS: &str =
    "id, kind, queue, source, campaign_id, customer_id, repair_order_id, complaint_id, asset_id, summary, \
     status, due_at, created_at, claimed_by, claimed_at, finished_at, outcome, note, callback_number, cdr_id, \
     customer_name, product";

/// Tasks with the names an agent reads them by (the customer, the product model); the
/// subquery keeps the table's name so filters stay unqualified.
pub(super) const AGENT_TASKS: &str = "(SELECT t.*, c.name AS customer_name, m.name AS product FROM agent_tasks t \
     LEFT JOIN customers c ON c.id = t.customer_id LEFT JOIN assets a ON a.id = t.asset_id \
     LEFT JOIN product_models m ON m.id = a.model_id) agent_tasks";

pub(super) fn agent_task_from_row(r: &Row) -> StoreResult<AgentTask> {
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
        callback_number: get(r, "callback_number")?,
        cdr_id: get(r, "cdr_id")?,
        customer_name: get(r, "customer_name")?,
        product: get(r, "product")?,
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

pub(super) async fn load_agent_task(c: &mut Conn, id: i64) -> StoreResult<AgentTask> {
    let sql = format!("SELECT {AGENT_TASK_COLS} FROM {AGENT_TASKS} WHERE id = $1");
    let row = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?;
    agent_task_from_row(&row.ok_or(StoreError::not_found("agent task"))?)
}

/// Raise one task in the caller's transaction; nothing when its source raised one already,
/// except that a campaign adopts an open task of its cause that no campaign holds yet.
pub(super) async fn raise(c: &mut Conn, t: &NewAgentTask, now: DateTime<Utc>) -> StoreResult<u32> {
    let n = sqlx::query::<Db>(
        "INSERT INTO agent_tasks (kind, queue, source, campaign_id, customer_id, repair_order_id, complaint_id, asset_id, \
         summary, status, due_at, created_at, callback_number, cdr_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $11, $12, $13) \
         ON CONFLICT (source) DO UPDATE SET campaign_id = excluded.campaign_id \
         WHERE agent_tasks.campaign_id IS NULL AND excluded.campaign_id IS NOT NULL AND agent_tasks.status = 'open'",
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
    .bind(&t.callback_number)
    .bind(t.cdr_id)
    .execute(&mut *c)
    .await
    .map_err(db_err)?
    .rows_affected();
    Ok(n as u32)
}

/// Who owns a new complaint nobody was named for: the agent with the `complaints` skill (best
/// level first) holding the fewest unresolved complaints, else the least loaded supervisor.
pub(super) async fn pick_complaint_owner(c: &mut Conn) -> StoreResult<Option<i64>> {
    let load =
        "(SELECT COUNT(*) FROM complaints k WHERE k.owner_user_id = u.id AND k.status IN ('open', 'in_progress'))";
    let sql = format!(
        "SELECT u.id FROM users u JOIN agent_skills s ON s.user_id = u.id AND s.skill = 'complaints' \
         ORDER BY {load}, s.level DESC, u.id LIMIT 1"
    );
    if let Some(id) = sqlx::query_scalar::<Db, i64>(&sql)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
    {
        return Ok(Some(id));
    }
    let sql = format!("SELECT u.id FROM users u WHERE u.role = 'supervisor' ORDER BY {load}, u.id LIMIT 1");
    sqlx::query_scalar::<Db, i64>(&sql)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)
}

pub(super) const CAMPAIGN_COLS: &str = "c.id, c.name, c.kind, c.queue, c.created_by, c.created_at, \
     (SELECT COUNT(*) FROM agent_tasks t WHERE t.campaign_id = c.id) AS tasks, \
     (SELECT COUNT(*) FROM agent_tasks t WHERE t.campaign_id = c.id AND t.status = 'open') AS open, \
     (SELECT COUNT(*) FROM agent_tasks t WHERE t.campaign_id = c.id AND t.status = 'claimed') AS claimed, \
     (SELECT COUNT(*) FROM agent_tasks t WHERE t.campaign_id = c.id AND t.status = 'done') AS done, \
     (SELECT COUNT(*) FROM agent_tasks t WHERE t.campaign_id = c.id AND t.outcome = 'reached') AS reached";

pub(super) fn campaign_from_row(r: &Row) -> StoreResult<Campaign> {
    Ok(Campaign {
        id: get(r, "id")?,
        name: get(r, "name")?,
        kind: decode(AgentTaskKind::parse(&get::<String>(r, "kind")?), "kind")?,
        queue: get(r, "queue")?,
        created_by: get(r, "created_by")?,
        created_at: get(r, "created_at")?,
        tasks: get(r, "tasks")?,
        open: get(r, "open")?,
        claimed: get(r, "claimed")?,
        done: get(r, "done")?,
        reached: get(r, "reached")?,
    })
}

pub(super) async fn load_campaign(c: &mut Conn, id: i64) -> StoreResult<Campaign> {
    let sql = format!("SELECT {CAMPAIGN_COLS} FROM campaigns c WHERE c.id = $1");
    let row = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?;
    campaign_from_row(&row.ok_or(StoreError::not_found("campaign"))?)
}

/// Assets (with their customer) as reminders need them, read by chunks of ids: one query for
/// the assets with their model, customer and last repair, one for their contracts.
pub(super) async fn asset_candidates(c: &mut Conn, ids: &[i64]) -> StoreResult<Vec<CareCandidate>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT {ASSET_COLS}, m.warranty, m.maintenance_months, k.do_not_call, k.marketing_consent, \
             (SELECT MAX(f.completed_on) FROM repair_facts f WHERE f.asset_id = a.id) AS last_service \
             FROM assets a JOIN product_models m ON m.id = a.model_id JOIN customers k ON k.id = a.customer_id \
             WHERE a.id IN ({}) ORDER BY a.id",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query::<Db>(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&mut *c).await.map_err(db_err)?;
        let assets = with_contracts(c, rows.iter().map(asset_from_row).collect::<StoreResult<Vec<_>>>()?).await?;
        for (asset, r) in assets.into_iter().zip(&rows) {
            let policy: Option<String> = get(r, "warranty")?;
            out.push(CareCandidate {
                customer_id: asset.customer_id,
                asset_id: Some(asset.id),
                do_not_call: get(r, "do_not_call")?,
                marketing_consent: get(r, "marketing_consent")?,
                birthday: None,
                purchase_date: Some(asset.purchase_date),
                warranty_start: Some(asset.warranty_start()),
                last_service: get(r, "last_service")?,
                maintenance_months: get::<Option<i64>>(r, "maintenance_months")?.map(|m| m.clamp(0, 120) as u16),
                policy: policy.map(|w| json_col::<WarrantyPolicy>(&w, "warranty")).transpose()?,
                contracts: asset.contracts,
                mileage_km: asset.mileage_km,
                operating_hours: asset.operating_hours,
            });
        }
    }
    Ok(out)
}

#[async_trait]
impl CareStore for This {
    async fn care_candidates(
        &self,
        kind: AgentTaskKind,
        today: NaiveDate,
        horizon_days: u32,
    ) -> StoreResult<Vec<CareCandidate>> {
        let mut c = self.conn().await?;
        let horizon = chrono::Duration::days(i64::from(horizon_days));
        let ids: Vec<i64> = match kind {
            AgentTaskKind::Birthday => {
                let keys = birthday_keys(today);
                let sql = format!(
                    "SELECT id, birthday, marketing_consent FROM customers WHERE birthday IS NOT NULL AND do_not_call = $1 \
                     AND marketing_consent = $2 AND {} IN ($3, $4)",
                    month_day("birthday")
                );
                let rows = sqlx::query::<Db>(&sql)
                    .bind(false)
                    .bind(true)
                    .bind(&keys[0])
                    .bind(keys.last().expect("a key"))
                    .fetch_all(&mut *c)
                    .await
                    .map_err(db_err)?;
                return rows
                    .iter()
                    .map(|r| {
                        Ok(CareCandidate {
                            customer_id: get(r, "id")?,
                            marketing_consent: get(r, "marketing_consent")?,
                            birthday: get(r, "birthday")?,
                            ..Default::default()
                        })
                    })
                    .collect();
            }
            AgentTaskKind::MaintenanceDue => {
                // Every asset of a model with routine maintenance, with its last repair, in one
                // pass (the reminder decides which are due).
                let rows = sqlx::query::<Db>(
                    "SELECT a.id, a.customer_id, a.purchase_date, m.maintenance_months, f.last_service FROM assets a \
                     JOIN product_models m ON m.id = a.model_id JOIN customers k ON k.id = a.customer_id \
                     LEFT JOIN (SELECT asset_id, MAX(completed_on) AS last_service FROM repair_facts GROUP BY asset_id) f \
                       ON f.asset_id = a.id \
                     WHERE m.maintenance_months IS NOT NULL AND k.do_not_call = $1 ORDER BY a.id",
                )
                .bind(false)
                .fetch_all(&mut *c)
                .await
                .map_err(db_err)?;
                return rows
                    .iter()
                    .map(|r| {
                        Ok(CareCandidate {
                            customer_id: get(r, "customer_id")?,
                            asset_id: Some(get(r, "id")?),
                            purchase_date: Some(get(r, "purchase_date")?),
                            last_service: get(r, "last_service")?,
                            maintenance_months: get::<Option<i64>>(r, "maintenance_months")?
                                .map(|m| m.clamp(0, 120) as u16),
                            ..Default::default()
                        })
                    })
                    .collect();
            }
            AgentTaskKind::WarrantyExpiring => {
                // Per model, the purchase dates whose factory warranty ends within the horizon;
                // and every asset with a contract ending within it.
                let models = sqlx::query::<Db>("SELECT id, warranty FROM product_models WHERE warranty IS NOT NULL")
                    .fetch_all(&mut *c)
                    .await
                    .map_err(db_err)?;
                let mut ids = Vec::new();
                for m in &models {
                    let policy = json_col::<WarrantyPolicy>(&get::<String>(m, "warranty")?, "warranty")?;
                    let months = chrono::Months::new(u32::from(policy.parts_months.max(policy.labor_months)));
                    let (Some(from), Some(to)) = (
                        today.checked_sub_months(months),
                        (today + horizon).checked_sub_months(months),
                    ) else {
                        continue;
                    };
                    ids.extend(
                        sqlx::query_scalar::<Db, i64>(
                            "SELECT a.id FROM assets a JOIN customers k ON k.id = a.customer_id WHERE a.model_id = $1 \
                             AND a.purchase_date >= $2 AND a.purchase_date <= $3 AND k.do_not_call = $4",
                        )
                        .bind(get::<i64>(m, "id")?)
                        .bind(from)
                        .bind(to + chrono::Duration::days(1))
                        .bind(false)
                        .fetch_all(&mut *c)
                        .await
                        .map_err(db_err)?,
                    );
                }
                ids.extend(
                    sqlx::query_scalar::<Db, i64>(
                        "SELECT s.asset_id FROM service_contracts s JOIN assets a ON a.id = s.asset_id \
                         JOIN customers k ON k.id = a.customer_id WHERE s.ends_on >= $1 AND s.ends_on <= $2 AND k.do_not_call = $3",
                    )
                    .bind(today)
                    .bind(today + horizon)
                    .bind(false)
                    .fetch_all(&mut *c)
                    .await
                    .map_err(db_err)?,
                );
                ids.sort_unstable();
                ids.dedup();
                ids
            }
            _ => return Ok(vec![]),
        };
        asset_candidates(&mut c, &ids).await
    }

    async fn create_campaign(
        &self,
        actor: Actor,
        k: &NewCampaign,
        tasks: &[NewAgentTask],
        now: DateTime<Utc>,
    ) -> StoreResult<Campaign> {
        k.validate()?;
        let mut tx = self.tx().await?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO campaigns (name, kind, queue, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(k.name.trim())
        .bind(k.kind.as_str())
        .bind(k.kind.queue())
        .bind(actor.user_id)
        .bind(trunc(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut added = 0;
        for t in tasks {
            let t = NewAgentTask {
                campaign_id: Some(id),
                ..t.clone()
            };
            added += raise(&mut tx, &t, now).await?;
        }
        if added == 0 {
            return Err(StoreError::conflict(
                "kind",
                "no reminder of this kind is left to raise: each is in a task already (was this campaign started before?)",
            ));
        }
        audit(&mut tx, actor, "create", "campaign", Some(id), to_json(k)).await?;
        let out = load_campaign(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn campaign(&self, id: i64) -> StoreResult<Campaign> {
        load_campaign(&mut *self.conn().await?, id).await
    }

    async fn list_campaigns(&self, limit: u32) -> StoreResult<Vec<Campaign>> {
        let sql = format!("SELECT {CAMPAIGN_COLS} FROM campaigns c ORDER BY c.id DESC LIMIT $1");
        let rows = sqlx::query::<Db>(&sql)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(campaign_from_row).collect()
    }

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
            "SELECT {AGENT_TASK_COLS} FROM {AGENT_TASKS} WHERE {} ORDER BY due_at, id LIMIT ${}",
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
        lock_row(&mut tx, "agent_tasks", id, "agent task").await?;
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
        audit(
            &mut tx,
            Actor::user(user_id),
            "claim",
            "agent_task",
            Some(id),
            serde_json::json!({}),
        )
        .await?;
        let out = load_agent_task(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn finish_agent_task(
        &self,
        user_id: i64,
        id: i64,
        f: &TaskFinish,
        now: DateTime<Utc>,
    ) -> StoreResult<AgentTask> {
        f.validate()?;
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "agent_tasks", id, "agent task").await?;
        let cur = load_agent_task(&mut tx, id).await?;
        if cur.status == AgentTaskStatus::Done {
            return Err(StoreError::conflict("status", "the task is done"));
        }
        if cur.status != AgentTaskStatus::Claimed || cur.claimed_by != Some(user_id) {
            return Err(StoreError::conflict("status", "claim the task before finishing it"));
        }
        sqlx::query::<Db>(
            "UPDATE agent_tasks SET status = 'done', finished_at = $1, outcome = $2, note = $3 WHERE id = $4",
        )
        .bind(trunc(now))
        .bind(f.outcome.as_str())
        .bind(f.note.as_deref())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(
            &mut tx,
            Actor::user(user_id),
            "finish",
            "agent_task",
            Some(id),
            to_json(f),
        )
        .await?;
        let out = load_agent_task(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }
}
