//! Satisfaction callbacks, written once for both backends like the other store files. `SKIP_LOCKED`
//! is the backend's row-locking clause for claiming jobs: PostgreSQL skips rows another node is
//! claiming; SQLite has one writer anyway.

use super::*;

pub(super) const JOB_COLS: &str =
    "id, repair_order_id, customer_id, status, due_at, attempts, lease_owner, lease_until, created_at, finished_at";
pub(super) const ATTEMPT_COLS: &str = "id, job_id, attempt, idempotency_key, node, started_at, finished_at, outcome";

pub(super) fn job_from_row(r: &Row) -> StoreResult<CallbackJob> {
    Ok(CallbackJob {
        id: get(r, "id")?,
        repair_order_id: get(r, "repair_order_id")?,
        customer_id: get(r, "customer_id")?,
        status: decode(JobStatus::parse(&get::<String>(r, "status")?), "status")?,
        due_at: get(r, "due_at")?,
        attempts: get_u32(r, "attempts")?,
        lease_owner: get(r, "lease_owner")?,
        lease_until: get(r, "lease_until")?,
        created_at: get(r, "created_at")?,
        finished_at: get(r, "finished_at")?,
    })
}

pub(super) fn attempt_from_row(r: &Row) -> StoreResult<CallbackAttempt> {
    Ok(CallbackAttempt {
        id: get(r, "id")?,
        job_id: get(r, "job_id")?,
        attempt: get_u32(r, "attempt")?,
        idempotency_key: get(r, "idempotency_key")?,
        node: get(r, "node")?,
        started_at: get(r, "started_at")?,
        finished_at: get(r, "finished_at")?,
        outcome: get::<Option<String>>(r, "outcome")?
            .map(|o| decode(Outcome::parse(&o), "outcome"))
            .transpose()?,
    })
}

pub(super) async fn load_job(c: &mut Conn, id: i64) -> StoreResult<CallbackJob> {
    let sql = format!("SELECT {JOB_COLS} FROM callback_jobs WHERE id = $1");
    let row = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?;
    job_from_row(&row.ok_or(StoreError::not_found("callback job"))?)
}

/// The outbox: the callback job owed for a repair order completed at `at`, in the caller's
/// transaction (the completion's). Completing an order again owes no second job.
pub(super) async fn enqueue_callback(c: &mut Conn, repair_order_id: i64, at: DateTime<Utc>) -> StoreResult<()> {
    sqlx::query::<Db>(
        "INSERT INTO callback_jobs (repair_order_id, customer_id, status, due_at, attempts, created_at) \
         SELECT id, customer_id, 'pending', $2, 0, $2 FROM repair_orders WHERE id = $1 \
         ON CONFLICT (repair_order_id) DO NOTHING",
    )
    .bind(repair_order_id)
    .bind(trunc(at))
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Move a job on after an attempt or instead of one, releasing its lease.
pub(super) async fn settle_job(c: &mut Conn, job_id: i64, now: DateTime<Utc>, after: AfterAttempt) -> StoreResult<()> {
    let (status, due, finished) = match after {
        AfterAttempt::Retry(due) => (JobStatus::Pending, Some(trunc(due)), None),
        AfterAttempt::End(status) => (status, None, Some(trunc(now))),
    };
    sqlx::query::<Db>(
        "UPDATE callback_jobs SET status = $1, due_at = COALESCE($2, due_at), finished_at = $3, \
         lease_owner = NULL, lease_until = NULL WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(due)
    .bind(finished)
    .bind(job_id)
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    // Out of attempts: an agent calls (preview dial), in the same write.
    if after == AfterAttempt::End(JobStatus::Exhausted) {
        let job = load_job(c, job_id).await?;
        let task = crm_core::care::NewAgentTask {
            kind: crm_core::care::AgentTaskKind::CallbackNoAnswer,
            source: crm_core::care::callback_source(job_id),
            campaign_id: None,
            customer_id: Some(job.customer_id),
            repair_order_id: Some(job.repair_order_id),
            complaint_id: None,
            asset_id: None,
            summary: format!(
                "Satisfaction callback for repair order {} unanswered after {} attempts: call the customer and take the survey.",
                job.repair_order_id, job.attempts
            ),
            callback_number: None,
            cdr_id: None,
            due_at: now,
        };
        raise(c, &task, now).await?;
    }
    Ok(())
}

/// A rolling score: the mean of the last 50 survey answers about a station or technician, which
/// dispatch's candidate ranking reads as its rating. Unchanged until it has an answer.
pub(super) async fn roll_rating(c: &mut Conn, table: &str, column: &str, by: &str, id: Option<i64>) -> StoreResult<()> {
    let Some(id) = id else { return Ok(()) };
    let sql = format!(
        "UPDATE {table} SET rating = (SELECT AVG(CAST(v AS DOUBLE PRECISION)) FROM            (SELECT {column} AS v FROM survey_results WHERE {by} = $1 ORDER BY answered_at DESC, id DESC LIMIT 50) recent)          WHERE id = $1"
    );
    sqlx::query::<Db>(&sql)
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// `Conflict` unless `node` holds the job's lease at `now` and the job is still pending.
pub(super) fn check_lease(job: &CallbackJob, node: &str, now: DateTime<Utc>) -> StoreResult<()> {
    if job.status != JobStatus::Pending {
        return Err(StoreError::conflict(
            "status",
            format!("the callback is {}", job.status.as_str()),
        ));
    }
    if job.lease_owner.as_deref() != Some(node) || job.lease_until.is_none_or(|u| u < now) {
        return Err(StoreError::conflict(
            "lease",
            "this node does not hold the callback's lease",
        ));
    }
    Ok(())
}

pub(super) async fn score(c: &mut Conn, column: &str, by: &str, id: i64) -> StoreResult<Score> {
    let sql = format!(
        "SELECT COUNT(*) AS n, AVG(CAST({column} AS DOUBLE PRECISION)) AS mean, \
         AVG(CASE WHEN fixed_first_time THEN CAST(1 AS DOUBLE PRECISION) ELSE CAST(0 AS DOUBLE PRECISION) END) AS ftf \
         FROM survey_results WHERE {by} = $1"
    );
    let r = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_one(&mut *c)
        .await
        .map_err(db_err)?;
    Ok(Score {
        surveys: get::<i64>(&r, "n")?.max(0) as u32,
        mean: get::<Option<f64>>(&r, "mean")?.map(|m| (m * 100.0).round() / 100.0),
        first_time_fix: get::<Option<f64>>(&r, "ftf")?.map(|m| (m * 1000.0).round() / 1000.0),
    })
}

#[async_trait]
impl CallbackStore for This {
    async fn claim_callbacks(
        &self,
        node: &str,
        now: DateTime<Utc>,
        lease_seconds: u32,
        limit: u32,
    ) -> StoreResult<Vec<CallbackJob>> {
        let now = trunc(now);
        let until = now + chrono::Duration::seconds(i64::from(lease_seconds));
        let mut tx = self.tx().await?;
        let sql = format!(
            "UPDATE callback_jobs SET lease_owner = $1, lease_until = $2 WHERE id IN (\
               SELECT id FROM callback_jobs WHERE status = 'pending' AND due_at <= $3 \
               AND (lease_until IS NULL OR lease_until < $3) ORDER BY due_at, id LIMIT $4 {SKIP_LOCKED}) \
             RETURNING {JOB_COLS}"
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
        let mut jobs = rows.iter().map(job_from_row).collect::<StoreResult<Vec<_>>>()?;
        jobs.sort_by_key(|j| (j.due_at, j.id));
        Ok(jobs)
    }

    async fn renew_callback(&self, node: &str, job_id: i64, now: DateTime<Utc>, lease_seconds: u32) -> StoreResult<()> {
        let now = trunc(now);
        let mut tx = self.tx().await?;
        let renewed = sqlx::query::<Db>(
            "UPDATE callback_jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'pending' AND lease_until >= $4",
        )
        .bind(now + chrono::Duration::seconds(i64::from(lease_seconds)))
        .bind(job_id)
        .bind(node)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        commit(tx).await?;
        if renewed == 0 {
            return Err(StoreError::conflict(
                "lease",
                "this node does not hold the callback's lease",
            ));
        }
        Ok(())
    }

    async fn begin_attempt(&self, node: &str, job_id: i64, now: DateTime<Utc>) -> StoreResult<CallbackAttempt> {
        let now = trunc(now);
        let mut tx = self.tx().await?;
        let job = load_job(&mut tx, job_id).await?;
        check_lease(&job, node, now)?;
        let n = job.attempts + 1;
        let key = attempt_key(job_id, n);
        let sql = format!(
            "INSERT INTO callback_attempts (job_id, customer_id, attempt, idempotency_key, node, started_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ATTEMPT_COLS}"
        );
        let row = sqlx::query::<Db>(&sql)
            .bind(job_id)
            .bind(job.customer_id)
            .bind(i64::from(n))
            .bind(&key)
            .bind(node)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(unique_as("idempotency_key"))?;
        sqlx::query::<Db>("UPDATE callback_jobs SET attempts = $1 WHERE id = $2")
            .bind(i64::from(n))
            .bind(job_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let attempt = attempt_from_row(&row)?;
        commit(tx).await?;
        Ok(attempt)
    }

    async fn finish_attempt(
        &self,
        attempt_id: i64,
        outcome: Outcome,
        now: DateTime<Utc>,
        after: AfterAttempt,
    ) -> StoreResult<CallbackJob> {
        let now = trunc(now);
        let mut tx = self.tx().await?;
        let sql = format!("SELECT {ATTEMPT_COLS} FROM callback_attempts WHERE id = $1");
        let row = sqlx::query::<Db>(&sql)
            .bind(attempt_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::not_found("callback attempt"))?;
        let attempt = attempt_from_row(&row)?;
        if let Some(o) = attempt.outcome {
            return Err(StoreError::conflict(
                "outcome",
                format!("the attempt already ended: {}", o.as_str()),
            ));
        }
        sqlx::query::<Db>("UPDATE callback_attempts SET outcome = $1, finished_at = $2 WHERE id = $3")
            .bind(outcome.as_str())
            .bind(now)
            .bind(attempt_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let job = load_job(&mut tx, attempt.job_id).await?;
        // A survey recorded meanwhile (the call's answers) has already ended the job.
        if job.status == JobStatus::Pending {
            settle_job(&mut tx, attempt.job_id, now, after).await?;
        }
        let job = load_job(&mut tx, attempt.job_id).await?;
        commit(tx).await?;
        Ok(job)
    }

    async fn defer_callback(
        &self,
        node: &str,
        job_id: i64,
        now: DateTime<Utc>,
        after: AfterAttempt,
    ) -> StoreResult<CallbackJob> {
        let now = trunc(now);
        let mut tx = self.tx().await?;
        let job = load_job(&mut tx, job_id).await?;
        check_lease(&job, node, now)?;
        settle_job(&mut tx, job_id, now, after).await?;
        let job = load_job(&mut tx, job_id).await?;
        commit(tx).await?;
        Ok(job)
    }

    async fn recover_callbacks(&self, now: DateTime<Utc>) -> StoreResult<u32> {
        let now = trunc(now);
        let mut tx = self.tx().await?;
        let done = sqlx::query::<Db>(
            "UPDATE callback_attempts SET outcome = 'in_doubt', finished_at = $1 WHERE outcome IS NULL AND job_id IN (\
               SELECT id FROM callback_jobs WHERE lease_until IS NULL OR lease_until < $1)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        commit(tx).await?;
        Ok(done as u32)
    }

    async fn customer_attempts_since(&self, customer_id: i64, since: DateTime<Utc>) -> StoreResult<u32> {
        let mut c = self.conn().await?;
        let n: i64 = sqlx::query_scalar::<Db, i64>(
            "SELECT COUNT(*) FROM callback_attempts WHERE customer_id = $1 AND started_at >= $2",
        )
        .bind(customer_id)
        .bind(trunc(since))
        .fetch_one(&mut *c)
        .await
        .map_err(db_err)?;
        Ok(n.max(0) as u32)
    }

    async fn callback_job(&self, id: i64) -> StoreResult<CallbackJob> {
        let mut c = self.conn().await?;
        load_job(&mut c, id).await
    }

    async fn callback_for_order(&self, repair_order_id: i64) -> StoreResult<Option<CallbackJob>> {
        let mut c = self.conn().await?;
        let sql = format!("SELECT {JOB_COLS} FROM callback_jobs WHERE repair_order_id = $1");
        let row = sqlx::query::<Db>(&sql)
            .bind(repair_order_id)
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err)?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn callback_attempts(&self, job_id: i64) -> StoreResult<Vec<CallbackAttempt>> {
        let mut c = self.conn().await?;
        let sql = format!("SELECT {ATTEMPT_COLS} FROM callback_attempts WHERE job_id = $1 ORDER BY attempt");
        let rows = sqlx::query::<Db>(&sql)
            .bind(job_id)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        rows.iter().map(attempt_from_row).collect()
    }

    async fn record_survey(&self, actor: Actor, s: &NewSurvey, now: DateTime<Utc>) -> StoreResult<SurveyResult> {
        s.validate()?;
        let now = trunc(now);
        let mut tx = self.tx().await?;
        let ro = load_repair_order(&mut tx, s.repair_order_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => StoreError::invalid("repair_order_id", "no such repair order"),
                e => e,
            })?;
        if ro.status != RepairStatus::Completed {
            return Err(StoreError::conflict(
                "repair_order_id",
                "only a completed repair is surveyed",
            ));
        }
        if let Some(j) = s.job_id {
            let job = load_job(&mut tx, j)
                .await
                .map_err(|_| StoreError::invalid("job_id", "no such callback job"))?;
            if job.repair_order_id != ro.id {
                return Err(StoreError::invalid(
                    "job_id",
                    "the callback job is for another repair order",
                ));
            }
        }
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO survey_results (repair_order_id, job_id, station_id, technician_id, repair_score, technician_score, \
             fixed_first_time, comment_path, answered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(ro.id)
        .bind(s.job_id)
        .bind(ro.station_id)
        .bind(ro.technician_id)
        .bind(i64::from(s.repair_score))
        .bind(i64::from(s.technician_score))
        .bind(s.fixed_first_time)
        .bind(s.comment_path.as_deref())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match crate::common::is_unique_violation(&e) {
            true => StoreError::conflict("repair_order_id", "this repair has been surveyed already"),
            false => db_err(e),
        })?;
        sqlx::query::<Db>(
            "UPDATE callback_jobs SET status = 'done', finished_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE repair_order_id = $2 AND status = 'pending'",
        )
        .bind(now)
        .bind(ro.id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "create", "survey_result", Some(id), to_json(s)).await?;
        // On the customer's history, beside their calls.
        let fixed = if s.fixed_first_time { "fixed" } else { "not fixed" };
        sqlx::query::<Db>("INSERT INTO interactions (customer_id, kind, direction, at, summary, user_id) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(ro.customer_id)
            .bind(InteractionKind::Call.as_str())
            .bind(if s.job_id.is_some() { Direction::Outbound.as_str() } else { Direction::Inbound.as_str() })
            .bind(now)
            .bind(format!(
                "Satisfaction survey on repair order {}: repair {}/5, technician {}/5, {fixed} the first time.",
                ro.id, s.repair_score, s.technician_score
            ))
            .bind(actor.user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        roll_rating(&mut tx, "stations", "repair_score", "station_id", ro.station_id).await?;
        roll_rating(
            &mut tx,
            "technicians",
            "technician_score",
            "technician_id",
            ro.technician_id,
        )
        .await?;
        // A poor answer opens a complaint about the repair, due in three days, with an owner,
        // and alerts the supervisors.
        let complaint_id = match s.complaint() {
            None => None,
            Some((category, description)) => {
                let owner = pick_complaint_owner(&mut tx).await?;
                let cid = sqlx::query_scalar::<Db, i64>(
                    "INSERT INTO complaints (customer_id, ticket_id, repair_order_id, category, status, description, owner_user_id, due_on, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                )
                .bind(ro.customer_id)
                .bind(ro.ticket_id)
                .bind(ro.id)
                .bind(category.as_str())
                .bind(ComplaintStatus::Open.as_str())
                .bind(&description)
                .bind(owner)
                .bind((now + chrono::Duration::days(3)).date_naive())
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                audit(
                    &mut tx,
                    actor,
                    "create",
                    "complaint",
                    Some(cid),
                    serde_json::json!({"survey_result": id}),
                )
                .await?;
                let alert = crm_core::care::NewAgentTask {
                    kind: crm_core::care::AgentTaskKind::PoorSurvey,
                    source: crm_core::care::poor_survey_source(id),
                    campaign_id: None,
                    customer_id: Some(ro.customer_id),
                    repair_order_id: Some(ro.id),
                    complaint_id: Some(cid),
                    asset_id: Some(ro.asset_id),
                    summary: format!(
                        "Poor survey on repair order {} opened complaint {cid}: {description}",
                        ro.id
                    ),
                    callback_number: None,
                    cdr_id: None,
                    due_at: now,
                };
                raise(&mut tx, &alert, now).await?;
                Some(cid)
            }
        };
        commit(tx).await?;
        Ok(SurveyResult {
            id,
            repair_order_id: ro.id,
            job_id: s.job_id,
            station_id: ro.station_id,
            technician_id: ro.technician_id,
            repair_score: s.repair_score,
            technician_score: s.technician_score,
            fixed_first_time: s.fixed_first_time,
            comment_path: s.comment_path.clone(),
            answered_at: now,
            complaint_id,
        })
    }

    async fn survey_for_order(&self, repair_order_id: i64) -> StoreResult<Option<SurveyResult>> {
        let row = sqlx::query::<Db>(
            "SELECT s.id, s.repair_order_id, s.job_id, s.station_id, s.technician_id, s.repair_score, s.technician_score, \
             s.fixed_first_time, s.comment_path, s.answered_at, (SELECT MIN(k.id) FROM complaints k WHERE k.repair_order_id = s.repair_order_id \
             AND k.created_at >= s.answered_at) AS complaint_id FROM survey_results s WHERE s.repair_order_id = $1",
        )
        .bind(repair_order_id)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok(SurveyResult {
                id: get(&r, "id")?,
                repair_order_id: get(&r, "repair_order_id")?,
                job_id: get(&r, "job_id")?,
                station_id: get(&r, "station_id")?,
                technician_id: get(&r, "technician_id")?,
                repair_score: get::<i64>(&r, "repair_score")?.clamp(1, 5) as u8,
                technician_score: get::<i64>(&r, "technician_score")?.clamp(1, 5) as u8,
                fixed_first_time: get(&r, "fixed_first_time")?,
                comment_path: get(&r, "comment_path")?,
                answered_at: get(&r, "answered_at")?,
                complaint_id: get(&r, "complaint_id")?,
            })
        })
        .transpose()
    }

    async fn station_score(&self, station_id: i64) -> StoreResult<Score> {
        let mut c = self.conn().await?;
        score(&mut c, "repair_score", "station_id", station_id).await
    }

    async fn technician_score(&self, technician_id: i64) -> StoreResult<Score> {
        let mut c = self.conn().await?;
        score(&mut c, "technician_score", "technician_id", technician_id).await
    }
}
