//! `ClaimStore`: bills of materials, standard times, warranty claims and their review. The rules
//! are `crm_core::claims`; this file loads their facts and writes what they decide, one
//! transaction per write, the claim's row locked first.

use super::*;
use crm_core::claims::{self as rules, *};

const CLAIM_COLS: &str = "id, repair_order_id, station_id, technician_id, asset_id, model_id, fault_code, \
     completed_on, status, currency, claimed_minor, approved_minor, flags, evidence, appeal, settlement_id, submitted_by, submitted_at";
const LINE_COLS: &str = "id, claim_id, kind, part_id, description, quantity, minutes, unit_minor, claimed_minor, \
     decision, approved_minor, reject_code, reason, flags, return_status, appealed, decided_by, decided_at";
pub(super) const STD_COLS: &str = "id, model_id, code, minutes, version, valid_from, created_by, created_at";

fn line_from_row(r: &Row) -> StoreResult<ClaimLine> {
    let kind: String = get(r, "kind")?;
    let decision: String = get(r, "decision")?;
    let code: Option<String> = get(r, "reject_code")?;
    let ret: Option<String> = get(r, "return_status")?;
    let flags: String = get(r, "flags")?;
    Ok(ClaimLine {
        id: get(r, "id")?,
        claim_id: get(r, "claim_id")?,
        kind: decode(LineKind::parse(&kind), "kind")?,
        part_id: get(r, "part_id")?,
        description: get(r, "description")?,
        quantity: get_u32(r, "quantity")?,
        minutes: get_opt_u32(r, "minutes")?,
        unit_minor: get(r, "unit_minor")?,
        claimed_minor: get(r, "claimed_minor")?,
        decision: decode(LineDecision::parse(&decision), "decision")?,
        approved_minor: get(r, "approved_minor")?,
        reject_code: code.map(|c| decode(RejectCode::parse(&c), "reject_code")).transpose()?,
        reason: get(r, "reason")?,
        flags: json_col(&flags, "flags")?,
        return_status: ret
            .map(|s| decode(ReturnStatus::parse(&s), "return_status"))
            .transpose()?,
        appealed: get(r, "appealed")?,
        decided_by: get(r, "decided_by")?,
        decided_at: get(r, "decided_at")?,
    })
}

fn claim_from_row(r: &Row) -> StoreResult<Claim> {
    let status: String = get(r, "status")?;
    let flags: String = get(r, "flags")?;
    let evidence: String = get(r, "evidence")?;
    Ok(Claim {
        id: get(r, "id")?,
        repair_order_id: get(r, "repair_order_id")?,
        station_id: get(r, "station_id")?,
        technician_id: get(r, "technician_id")?,
        asset_id: get(r, "asset_id")?,
        model_id: get(r, "model_id")?,
        fault_code: get(r, "fault_code")?,
        completed_on: get(r, "completed_on")?,
        status: decode(ClaimStatus::parse(&status), "status")?,
        currency: get(r, "currency")?,
        claimed_minor: get(r, "claimed_minor")?,
        approved_minor: get(r, "approved_minor")?,
        flags: json_col(&flags, "flags")?,
        evidence: json_col(&evidence, "evidence")?,
        appeal: get(r, "appeal")?,
        settlement_id: get(r, "settlement_id")?,
        submitted_by: get(r, "submitted_by")?,
        submitted_at: get(r, "submitted_at")?,
        lines: vec![],
    })
}

/// Claims with their lines, in the order given.
async fn with_lines(c: &mut Conn, mut claims: Vec<Claim>) -> StoreResult<Vec<Claim>> {
    for chunk in claims.chunks_mut(500) {
        let sql = format!(
            "SELECT {LINE_COLS} FROM claim_lines WHERE claim_id IN ({}) ORDER BY claim_id, id",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query::<Db>(&sql);
        for cl in chunk.iter() {
            q = q.bind(cl.id);
        }
        let lines = q.fetch_all(&mut *c).await.map_err(db_err)?;
        for r in &lines {
            let l = line_from_row(r)?;
            if let Some(cl) = chunk.iter_mut().find(|cl| cl.id == l.claim_id) {
                cl.lines.push(l);
            }
        }
    }
    Ok(claims)
}

async fn load_claim(c: &mut Conn, id: i64) -> StoreResult<Claim> {
    let sql = format!("SELECT {CLAIM_COLS} FROM claims WHERE id = $1");
    let r = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::not_found("claim"))?;
    let claim = claim_from_row(&r)?;
    Ok(with_lines(c, vec![claim]).await?.remove(0))
}

fn refused(r: Refusal) -> StoreError {
    match r {
        Refusal::Conflict(f, m) => StoreError::conflict(f, m),
        Refusal::Invalid(f, m) => StoreError::invalid(f, m),
    }
}

/// After a line changed: the claim's status and approved total again from its lines.
async fn restate(c: &mut Conn, id: i64) -> StoreResult<Claim> {
    let claim = load_claim(c, id).await?;
    let decisions: Vec<LineDecision> = claim.lines.iter().map(|l| l.decision).collect();
    let status = status_of(&decisions, claim.appeal.is_some(), claim.settlement_id.is_some());
    let approved: i64 = claim.lines.iter().map(|l| l.approved_minor).sum();
    sqlx::query::<Db>("UPDATE claims SET status = $1, approved_minor = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(approved)
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    load_claim(c, id).await
}

pub(super) fn std_from_row(r: &Row) -> StoreResult<StandardTime> {
    Ok(StandardTime {
        id: get(r, "id")?,
        model_id: get(r, "model_id")?,
        code: get(r, "code")?,
        minutes: get_u32(r, "minutes")?,
        version: get_u32(r, "version")?,
        valid_from: get(r, "valid_from")?,
        created_by: get(r, "created_by")?,
        created_at: get(r, "created_at")?,
    })
}

#[async_trait]
impl ClaimStore for This {
    async fn set_bill_of_materials(&self, actor: Actor, model_id: i64, part_ids: &[i64]) -> StoreResult<Vec<i64>> {
        if part_ids.len() > 2_000 {
            return Err(StoreError::invalid("part_ids", "at most 2000 parts"));
        }
        let mut ids = part_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "product_models", model_id, "model").await?;
        for (i, p) in ids.iter().enumerate() {
            if !exists(&mut tx, "parts", *p).await? {
                return Err(StoreError::invalid(
                    format!("part_ids[{i}]"),
                    format!("no part with id {p}"),
                ));
            }
        }
        sqlx::query::<Db>("DELETE FROM model_parts WHERE model_id = $1")
            .bind(model_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for p in &ids {
            sqlx::query::<Db>("INSERT INTO model_parts (model_id, part_id) VALUES ($1, $2)")
                .bind(model_id)
                .bind(p)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        audit(
            &mut tx,
            actor,
            "update",
            "bill_of_materials",
            Some(model_id),
            serde_json::json!({ "part_ids": ids }),
        )
        .await?;
        commit(tx).await?;
        Ok(ids)
    }

    async fn bill_of_materials(&self, model_id: i64) -> StoreResult<Vec<i64>> {
        let mut c = self.conn().await?;
        require_found(&mut c, "product_models", model_id, "model").await?;
        sqlx::query_scalar::<Db, i64>("SELECT part_id FROM model_parts WHERE model_id = $1 ORDER BY part_id")
            .bind(model_id)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)
    }

    async fn add_standard_time(
        &self,
        actor: Actor,
        t: &NewStandardTime,
        now: DateTime<Utc>,
    ) -> StoreResult<StandardTime> {
        t.validate()?;
        let mut tx = self.tx().await?;
        // The model's row is the lock that numbers versions one at a time.
        match lock_row(&mut tx, "product_models", t.model_id, "model").await {
            Err(StoreError::NotFound { .. }) => {
                return Err(StoreError::invalid(
                    "model_id",
                    format!("no model with id {}", t.model_id),
                ))
            }
            other => other?,
        }
        let version = sqlx::query_scalar::<Db, i64>(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM standard_times WHERE model_id = $1 AND code = $2",
        )
        .bind(t.model_id)
        .bind(&t.code)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO standard_times (model_id, code, minutes, version, valid_from, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(t.model_id)
        .bind(&t.code)
        .bind(i64::from(t.minutes))
        .bind(version)
        .bind(t.valid_from)
        .bind(actor.user_id)
        .bind(trunc(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "create", "standard_time", Some(id), to_json(t)).await?;
        let r = sqlx::query::<Db>(&format!("SELECT {STD_COLS} FROM standard_times WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let out = std_from_row(&r)?;
        commit(tx).await?;
        Ok(out)
    }

    async fn standard_times(&self, model_id: Option<i64>) -> StoreResult<Vec<StandardTime>> {
        let rows = Filter::default()
            .eq_int("model_id", model_id)
            .fetch(
                &mut *self.conn().await?,
                STD_COLS,
                "standard_times",
                "model_id, code, version",
                10_000,
            )
            .await?;
        rows.iter().map(std_from_row).collect()
    }

    async fn submit_claim(
        &self,
        actor: Actor,
        n: &NewClaim,
        cfg: &ClaimRules,
        now: DateTime<Utc>,
    ) -> StoreResult<(Claim, bool)> {
        let mut tx = self.tx().await?;
        // The order's row lock makes a double submission wait, then find the first claim.
        match lock_row(&mut tx, "repair_orders", n.repair_order_id, "repair order").await {
            Err(StoreError::NotFound { .. }) => {
                return Err(StoreError::invalid(
                    "repair_order_id",
                    format!("no repair order with id {}", n.repair_order_id),
                ))
            }
            other => other?,
        }
        if let Some(id) = sqlx::query_scalar::<Db, i64>("SELECT id FROM claims WHERE repair_order_id = $1")
            .bind(n.repair_order_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
        {
            let claim = load_claim(&mut tx, id).await?;
            commit(tx).await?;
            return Ok((claim, true));
        }
        let facts = sqlx::query::<Db>(
            "SELECT f.completed_on, f.station_id, f.technician_id, f.asset_id, f.model_id, f.fault_code, f.labour_hours, \
             f.labour_warranty, f.repeat_of, r.diagnosis, r.work_done, r.check_in_distance_m, r.signed_by, \
             (SELECT COUNT(*) FROM repair_photos p WHERE p.repair_order_id = f.repair_order_id) AS photos, \
             (SELECT s.repair_score FROM survey_results s WHERE s.repair_order_id = f.repair_order_id) AS survey_score \
             FROM repair_facts f LEFT JOIN field_reports r ON r.repair_order_id = f.repair_order_id WHERE f.repair_order_id = $1",
        )
        .bind(n.repair_order_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::conflict("repair_order_id", "the repair is not completed"))?;
        if !get::<bool>(&facts, "labour_warranty")? {
            return Err(StoreError::conflict(
                "repair_order_id",
                "not a warranty repair: the customer pays, nothing to claim",
            ));
        }
        let station_id: i64 = get::<Option<i64>>(&facts, "station_id")?
            .ok_or_else(|| StoreError::conflict("repair_order_id", "the repair has no station to claim for"))?;
        let station = load_station(&mut tx, station_id).await?;
        let completed_on: NaiveDate = get(&facts, "completed_on")?;
        let model_id: i64 = get(&facts, "model_id")?;
        let fault_code: Option<String> = get(&facts, "fault_code")?;
        let (rate, currency) = match &station.partner.contract {
            Some(k) => (k.labour_rate.minor, k.labour_rate.currency.as_str().to_string()),
            None => (cfg.default_rate_minor, cfg.currency.clone()),
        };
        let versions = match &fault_code {
            Some(code) => {
                let sql = format!("SELECT {STD_COLS} FROM standard_times WHERE model_id = $1 AND code = $2");
                let rows = sqlx::query::<Db>(&sql)
                    .bind(model_id)
                    .bind(code)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?;
                rows.iter().map(std_from_row).collect::<StoreResult<Vec<_>>>()?
            }
            None => vec![],
        };
        let standard = standard_on(&versions, completed_on).map(|s| (s.id, s.minutes));
        let parts = sqlx::query::<Db>(
            "SELECT p.id, p.sku, p.name, p.price_minor, CAST(SUM(u.quantity) AS BIGINT) AS quantity FROM repair_parts u \
             JOIN parts p ON p.id = u.part_id WHERE u.repair_order_id = $1 AND u.billing = 'warranty' \
             GROUP BY p.id, p.sku, p.name, p.price_minor ORDER BY p.id",
        )
        .bind(n.repair_order_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(UsedPart {
                part_id: get(r, "id")?,
                sku: get(r, "sku")?,
                name: get(r, "name")?,
                quantity: get_u32(r, "quantity")?,
                unit_price_minor: get(r, "price_minor")?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
        let bom = sqlx::query_scalar::<Db, i64>("SELECT part_id FROM model_parts WHERE model_id = $1")
            .bind(model_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let site = sqlx::query::<Db>(
            "SELECT ad.lat, ad.lon FROM repair_orders ro JOIN customer_addresses ad ON ad.customer_id = ro.customer_id \
             WHERE ro.id = $1 AND ad.lat IS NOT NULL AND ad.lon IS NOT NULL ORDER BY ad.position, ad.id LIMIT 1",
        )
        .bind(n.repair_order_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let travel_km = match site {
            Some(r) => get_point(&r)?.map(|p| (distance_m(station.location, p) / 100.0).round() / 10.0),
            None => None,
        };
        let f = ClaimFacts {
            labour_hours: get::<f64>(&facts, "labour_hours")?,
            deviation_reason: n.deviation_reason.as_ref().map(|t| t.as_str().to_string()),
            standard,
            rate_minor: rate,
            parts,
            bom,
            travel_km,
            check_in_distance_m: get(&facts, "check_in_distance_m")?,
            signed: get::<Option<String>>(&facts, "signed_by")?.is_some(),
            repeat_of: get(&facts, "repeat_of")?,
        };
        let d = rules::draft(&f, &cfg.travel_bands);
        let evidence = Evidence {
            diagnosis: get(&facts, "diagnosis")?,
            work_done: get(&facts, "work_done")?,
            labour_hours_reported: f.labour_hours,
            photos: u32::try_from(get::<i64>(&facts, "photos")?).unwrap_or(u32::MAX),
            signed_by: get(&facts, "signed_by")?,
            check_in_distance_m: f.check_in_distance_m,
            travel_km,
            survey_score: get::<Option<i64>>(&facts, "survey_score")?.and_then(|s| u8::try_from(s).ok()),
            standard_time_id: standard.map(|s| s.0),
            repeat_of: f.repeat_of,
        };
        let mut flags = d.flags.clone();
        for l in &d.lines {
            flags.extend(l.flags.iter().copied().filter(|x| !d.flags.contains(x)));
        }
        flags.dedup();
        let claimed: i64 = d.lines.iter().map(|l| l.claimed_minor).sum();
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO claims (repair_order_id, station_id, technician_id, asset_id, model_id, fault_code, completed_on, status, \
             currency, claimed_minor, approved_minor, flags, evidence, submitted_by, submitted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'submitted', $8, $9, 0, $10, $11, $12, $13) RETURNING id",
        )
        .bind(n.repair_order_id)
        .bind(station_id)
        .bind(get::<Option<i64>>(&facts, "technician_id")?)
        .bind(get::<i64>(&facts, "asset_id")?)
        .bind(model_id)
        .bind(&fault_code)
        .bind(completed_on)
        .bind(&currency)
        .bind(claimed)
        .bind(to_json(&flags).to_string())
        .bind(to_json(&evidence).to_string())
        .bind(actor.user_id)
        .bind(trunc(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        for l in &d.lines {
            sqlx::query::<Db>(
                "INSERT INTO claim_lines (claim_id, completed_on, kind, part_id, description, quantity, minutes, unit_minor, \
                 claimed_minor, decision, approved_minor, flags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10)",
            )
            .bind(id)
            .bind(completed_on)
            .bind(l.kind.as_str())
            .bind(l.part_id)
            .bind(&l.description)
            .bind(i64::from(l.quantity))
            .bind(l.minutes.map(i64::from))
            .bind(l.unit_minor)
            .bind(l.claimed_minor)
            .bind(to_json(&l.flags).to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        audit(
            &mut tx,
            actor,
            "create",
            "claim",
            Some(id),
            serde_json::json!({"repair_order_id": n.repair_order_id, "claimed_minor": claimed, "flags": flags}),
        )
        .await?;
        let claim = load_claim(&mut tx, id).await?;
        commit(tx).await?;
        Ok((claim, false))
    }

    async fn get_claim(&self, id: i64) -> StoreResult<Claim> {
        load_claim(&mut *self.conn().await?, id).await
    }

    async fn list_claims(&self, q: &ClaimQuery) -> StoreResult<Vec<Claim>> {
        let mut c = self.conn().await?;
        let mut sql = format!("SELECT {CLAIM_COLS} FROM claims c WHERE 1 = 1");
        let mut binds: Vec<Bind> = vec![];
        if let Some(ids) = &q.stations {
            if ids.is_empty() {
                return Ok(vec![]);
            }
            let first = binds.len() + 1;
            binds.extend(ids.iter().take(1_000).map(|id| Bind::Int(*id)));
            sql.push_str(&format!(
                " AND c.station_id IN ({})",
                placeholders(first, ids.len().min(1_000))
            ));
        }
        if let Some(s) = q.status {
            binds.push(Bind::Str(s.as_str()));
            sql.push_str(&format!(" AND c.status = ${}", binds.len()));
        }
        if let Some(s) = q.return_status {
            binds.push(Bind::Str(s.as_str()));
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM claim_lines l WHERE l.claim_id = c.id AND l.return_status = ${})",
                binds.len()
            ));
        }
        if q.flagged {
            sql.push_str(" AND c.flags <> '[]'");
        }
        sql.push_str(&format!(" ORDER BY c.id DESC LIMIT ${}", binds.len() + 1));
        let mut query = sqlx::query::<Db>(&sql);
        for b in &binds {
            query = match b {
                Bind::Int(v) => query.bind(*v),
                Bind::Str(v) => query.bind(*v),
                Bind::Day(v) => query.bind(*v),
            };
        }
        let rows = query
            .bind(i64::from(q.limit))
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        let claims = rows.iter().map(claim_from_row).collect::<StoreResult<Vec<_>>>()?;
        with_lines(&mut c, claims).await
    }

    async fn review_line(
        &self,
        actor: Actor,
        claim_id: i64,
        line_id: i64,
        r: &Review,
        now: DateTime<Utc>,
    ) -> StoreResult<Claim> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "claims", claim_id, "claim").await?;
        let claim = load_claim(&mut tx, claim_id).await?;
        let line = claim
            .lines
            .iter()
            .find(|l| l.id == line_id)
            .ok_or(StoreError::not_found("claim line"))?;
        let (code, reason) = match r {
            Review::Approve => (None, None),
            Review::Cut { reason, .. } => (None, Some(reason.as_str())),
            Review::Reject { code, reason } => (Some(code.as_str()), reason.as_ref().map(|t| t.as_str())),
        };
        let wanted = match r {
            Review::Approve => Some((LineDecision::Approved, line.claimed_minor)),
            Review::Cut { amount_minor, .. } => Some((LineDecision::Cut, *amount_minor)),
            Review::Reject { .. } => Some((LineDecision::Rejected, 0)),
        };
        // The same decision again (a second click) is answered with the claim as it is.
        if wanted == Some((line.decision, line.approved_minor)) && line.reject_code.map(|c| c.as_str()) == code {
            commit(tx).await?;
            return Ok(claim);
        }
        let (decision, amount) = decide(line, claim.status, r).map_err(refused)?;
        sqlx::query::<Db>(
            "UPDATE claim_lines SET decision = $1, approved_minor = $2, reject_code = $3, reason = $4, decided_by = $5, \
             decided_at = $6 WHERE id = $7",
        )
        .bind(decision.as_str())
        .bind(amount)
        .bind(code)
        .bind(reason)
        .bind(actor.user_id)
        .bind(trunc(now))
        .bind(line_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(
            &mut tx,
            actor,
            "review",
            "claim",
            Some(claim_id),
            serde_json::json!({"line_id": line_id, "decision": decision, "approved_minor": amount, "reject_code": code, "reason": reason}),
        )
        .await?;
        let out = restate(&mut tx, claim_id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn appeal_claim(&self, actor: Actor, claim_id: i64, a: &Appeal, now: DateTime<Utc>) -> StoreResult<Claim> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "claims", claim_id, "claim").await?;
        let claim = load_claim(&mut tx, claim_id).await?;
        let reopen = appealable(claim.status, claim.appeal.is_some(), &claim.lines).map_err(refused)?;
        sqlx::query::<Db>("UPDATE claims SET appeal = $1, appealed_at = $2 WHERE id = $3")
            .bind(a.reason.as_str())
            .bind(trunc(now))
            .bind(claim_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for id in &reopen {
            sqlx::query::<Db>(
                "UPDATE claim_lines SET decision = 'pending', approved_minor = 0, appealed = $1 WHERE id = $2",
            )
            .bind(true)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        audit(
            &mut tx,
            actor,
            "appeal",
            "claim",
            Some(claim_id),
            serde_json::json!({"lines": reopen, "reason": a.reason.as_str()}),
        )
        .await?;
        let out = restate(&mut tx, claim_id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn return_step(
        &self,
        actor: Actor,
        claim_id: i64,
        line_id: i64,
        s: &ReturnStep,
        _now: DateTime<Utc>,
    ) -> StoreResult<Claim> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "claims", claim_id, "claim").await?;
        let claim = load_claim(&mut tx, claim_id).await?;
        let line = claim
            .lines
            .iter()
            .find(|l| l.id == line_id)
            .ok_or(StoreError::not_found("claim line"))?;
        if line.return_status == Some(s.status) {
            // Asked again for the step it is at: nothing to do.
            commit(tx).await?;
            return Ok(claim);
        }
        rules::return_step(line, claim.status, s.status).map_err(refused)?;
        if s.status == ReturnStatus::Shipped && (s.carrier.is_none() || s.tracking.is_none()) {
            return Err(StoreError::invalid(
                "tracking",
                "a shipped part needs its carrier and tracking reference",
            ));
        }
        sqlx::query::<Db>(
            "UPDATE claim_lines SET return_status = $1, return_carrier = COALESCE($2, return_carrier), \
             return_tracking = COALESCE($3, return_tracking), return_note = COALESCE($4, return_note) WHERE id = $5",
        )
        .bind(s.status.as_str())
        .bind(s.carrier.as_ref().map(|t| t.as_str()))
        .bind(s.tracking.as_ref().map(|t| t.as_str()))
        .bind(s.note.as_ref().map(|t| t.as_str()))
        .bind(line_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(
            &mut tx,
            actor,
            "return",
            "claim",
            Some(claim_id),
            serde_json::json!({"line_id": line_id, "step": s}),
        )
        .await?;
        let out = load_claim(&mut tx, claim_id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn claims_report(
        &self,
        period: Period,
        by: ClaimsBy,
        stations: Option<&[i64]>,
    ) -> StoreResult<Vec<ClaimsRow>> {
        let mut c = self.conn().await?;
        let among = among_stations("c.station_id", stations);
        let decided = "c.status IN ('decided', 'settled')";
        let sql = match by {
            ClaimsBy::Station | ClaimsBy::Model | ClaimsBy::FaultCode => {
                let (key, join, label) = match by {
                    ClaimsBy::Station => ("c.station_id", "JOIN stations s ON s.id = g.k", "s.name"),
                    ClaimsBy::Model => ("c.model_id", "JOIN product_models s ON s.id = g.k", "s.name"),
                    _ => ("COALESCE(c.fault_code, '')", "", "g.k"),
                };
                format!(
                    "SELECT CAST(g.k AS TEXT) AS key, {label} AS label, g.claims, g.claimed, g.approved, g.reduced FROM ( \
                     SELECT {key} AS k, COUNT(*) AS claims, CAST(SUM(c.claimed_minor) AS BIGINT) AS claimed, CAST(SUM(c.approved_minor) AS BIGINT) AS approved, \
                     CAST(SUM(CASE WHEN {decided} THEN c.claimed_minor - c.approved_minor ELSE 0 END) AS BIGINT) AS reduced \
                     FROM claims c WHERE c.completed_on >= $1 AND c.completed_on <= $2{among} GROUP BY {key}) g {join} \
                     ORDER BY g.claimed DESC, key"
                )
            }
            ClaimsBy::CutReason => {
                let mine = match stations {
                    None => String::new(),
                    Some(_) => format!(" AND l.claim_id IN (SELECT c.id FROM claims c WHERE c.completed_on >= $1 AND c.completed_on <= $2{among})"),
                };
                format!("SELECT CASE WHEN l.decision = 'cut' THEN 'cut' ELSE l.reject_code END AS key, \
                 CASE WHEN l.decision = 'cut' THEN 'cut' ELSE l.reject_code END AS label, \
                 COUNT(DISTINCT l.claim_id) AS claims, CAST(SUM(l.claimed_minor) AS BIGINT) AS claimed, CAST(SUM(l.approved_minor) AS BIGINT) AS approved, \
                 CAST(SUM(l.claimed_minor - l.approved_minor) AS BIGINT) AS reduced FROM claim_lines l \
                 WHERE l.completed_on >= $1 AND l.completed_on <= $2 AND l.decision IN ('cut', 'rejected'){mine} \
                 GROUP BY 1, 2 ORDER BY reduced DESC, key"
                )
            }
        };
        let rows = sqlx::query::<Db>(&sql)
            .bind(period.from)
            .bind(period.to)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(ClaimsRow {
                    key: get(r, "key")?,
                    label: get(r, "label")?,
                    claims: get(r, "claims")?,
                    claimed_minor: get(r, "claimed")?,
                    approved_minor: get(r, "approved")?,
                    reduced_minor: get(r, "reduced")?,
                })
            })
            .collect()
    }
}
