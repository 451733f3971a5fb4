//! Reports, written once for both backends like the other store files. `epoch(col)` is the
//! backend's seconds-since-1970 of a timestamp column. Service, station and settlement figures
//! group `repair_facts`, written by `record_completion` in the completion's own transaction.

use super::*;

/// Everything a completion writes beside the order itself, in its transaction: the
/// satisfaction callback (the outbox) and the repair's facts for reports.
pub(super) async fn record_completion(c: &mut Conn, repair_order_id: i64, at: DateTime<Utc>) -> StoreResult<()> {
    enqueue_callback(c, repair_order_id, at).await?;
    write_repair_facts(c, repair_order_id, at).await
}

/// The facts of a completed repair, once (completing again changes nothing). A repair opened at
/// most 30 days after the asset's previous repair was completed repeats it.
pub(super) async fn write_repair_facts(c: &mut Conn, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
    let ro = load_repair_order(c, id).await?;
    let asset = load_asset(c, ro.asset_id).await?;
    let report = sqlx::query::<Db>("SELECT labour_hours, check_in_at FROM field_reports WHERE repair_order_id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?;
    let (labour, check_in): (Option<f64>, Option<DateTime<Utc>>) = match &report {
        Some(r) => (get(r, "labour_hours")?, get(r, "check_in_at")?),
        None => (None, None),
    };
    let parts = sqlx::query::<Db>(
        "SELECT billing, CAST(SUM(quantity * unit_price_minor) AS BIGINT) AS value FROM repair_parts WHERE repair_order_id = $1 GROUP BY billing",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    let (mut warranty_minor, mut paid_minor) = (0i64, 0i64);
    for r in &parts {
        let v: i64 = get::<Option<i64>>(r, "value")?.unwrap_or(0);
        match get::<String>(r, "billing")?.as_str() {
            "warranty" => warranty_minor += v,
            _ => paid_minor += v,
        }
    }
    let covers_labor = warranty_today(c, asset.id).await?.covers_labor;
    let arrived = check_in.unwrap_or(at);
    let response = (arrived - ro.created_at).num_minutes().max(0);
    let since = trunc(ro.created_at - chrono::Duration::days(REPEAT_WINDOW_DAYS));
    let repeat_of = sqlx::query_scalar::<Db, i64>(
        "SELECT repair_order_id FROM repair_facts WHERE asset_id = $1 AND completed_at >= $2 AND completed_at <= $3 \
         AND repair_order_id <> $4 ORDER BY completed_at DESC LIMIT 1",
    )
    .bind(asset.id)
    .bind(since)
    .bind(trunc(ro.created_at))
    .bind(id)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_err)?;
    let added = sqlx::query::<Db>(
        "INSERT INTO repair_facts (repair_order_id, completed_on, completed_at, station_id, technician_id, asset_id, model_id, \
         serial_batch, fault_code, labour_hours, labour_warranty, parts_warranty_minor, parts_paid_minor, response_minutes, repeat_of) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (repair_order_id) DO NOTHING",
    )
    .bind(id)
    .bind(at.date_naive())
    .bind(trunc(at))
    .bind(ro.station_id)
    .bind(ro.technician_id)
    .bind(asset.id)
    .bind(asset.model_id)
    .bind(serial_batch(asset.serial.as_str()))
    .bind(ro.fault_code.as_deref())
    .bind(labour.unwrap_or(0.0))
    .bind(covers_labor)
    .bind(warranty_minor)
    .bind(paid_minor)
    .bind(response)
    .bind(repeat_of)
    .execute(&mut *c)
    .await
    .map_err(db_err)?
    .rows_affected();
    if let (1, Some(earlier)) = (added, repeat_of) {
        sqlx::query::<Db>("UPDATE repair_facts SET repeated = TRUE WHERE repair_order_id = $1")
            .bind(earlier)
            .execute(&mut *c)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// Add a queued call to its queue's 15-minute interval and, when an agent answered, to the
/// agent's day: the call-center report sums these instead of every call record.
pub(super) async fn roll_up_call(c: &mut Conn, call: &crm_core::model::NewCdr) -> StoreResult<()> {
    let Some(queue) = &call.queue else { return Ok(()) };
    let answered = call.outcome == CallOutcome::Answered;
    let abandoned = call.outcome == CallOutcome::Abandoned;
    let wait = if answered {
        call.queue_wait_ms.unwrap_or(0).max(0)
    } else {
        0
    };
    let talk = match (answered, call.answered_at) {
        (true, Some(a)) => (call.ended_at - a).num_seconds().max(0),
        _ => 0,
    };
    let within = answered && call.answered_within_sl == Some(true);
    let start =
        DateTime::from_timestamp(call.started_at.timestamp().div_euclid(900) * 900, 0).unwrap_or(call.started_at);
    sqlx::query::<Db>(
        "INSERT INTO queue_intervals (queue, interval_start, offered, answered, abandoned, answered_within_sl, wait_ms, talk_s) \
         VALUES ($1, $2, 1, $3, $4, $5, $6, $7) ON CONFLICT (queue, interval_start) DO UPDATE SET \
         offered = queue_intervals.offered + 1, answered = queue_intervals.answered + excluded.answered, \
         abandoned = queue_intervals.abandoned + excluded.abandoned, \
         answered_within_sl = queue_intervals.answered_within_sl + excluded.answered_within_sl, \
         wait_ms = queue_intervals.wait_ms + excluded.wait_ms, talk_s = queue_intervals.talk_s + excluded.talk_s",
    )
    .bind(queue)
    .bind(start)
    .bind(i64::from(answered))
    .bind(i64::from(abandoned))
    .bind(i64::from(within))
    .bind(wait)
    .bind(talk)
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    if let (true, Some(agent)) = (answered, call.agent_id) {
        sqlx::query::<Db>(
            "INSERT INTO agent_days (agent_id, day, answered, answered_within_sl, wait_ms, talk_s) VALUES ($1, $2, 1, $3, $4, $5) \
             ON CONFLICT (agent_id, day) DO UPDATE SET answered = agent_days.answered + 1, \
             answered_within_sl = agent_days.answered_within_sl + excluded.answered_within_sl, \
             wait_ms = agent_days.wait_ms + excluded.wait_ms, talk_s = agent_days.talk_s + excluded.talk_s",
        )
        .bind(agent)
        .bind(call.started_at.date_naive())
        .bind(i64::from(within))
        .bind(wait)
        .bind(talk)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

/// The columns that sum a group of facts into [`RepairSums`] (with `s` the survey joined).
pub(super) const FACT_SUMS: &str = "COUNT(*) AS repairs, CAST(SUM(CASE WHEN f.repeated THEN 1 ELSE 0 END) AS BIGINT) AS repeated, \
     SUM(f.labour_hours) AS labour, CAST(SUM(f.response_minutes) AS BIGINT) AS response, COUNT(s.repair_score) AS surveys, \
     CAST(SUM(s.repair_score) AS BIGINT) AS score, CAST(SUM(CASE WHEN s.fixed_first_time THEN 1 ELSE 0 END) AS BIGINT) AS fixed";

pub(super) fn repair_sums(r: &Row) -> StoreResult<RepairSums> {
    Ok(RepairSums {
        repairs: get(r, "repairs")?,
        repeated: get::<Option<i64>>(r, "repeated")?.unwrap_or(0),
        labour_hours: get::<Option<f64>>(r, "labour")?.unwrap_or(0.0),
        response_minutes: get::<Option<i64>>(r, "response")?.unwrap_or(0),
        surveys: get(r, "surveys")?,
        score_total: get::<Option<i64>>(r, "score")?.unwrap_or(0),
        surveys_fixed: get::<Option<i64>>(r, "fixed")?.unwrap_or(0),
    })
}

pub(super) const SETTLEMENT_COLS: &str = "id, station_id, period_from, period_to, status, claims, lines, labour_minor, \
     parts_warranty_minor, travel_minor, claimed_minor, warranty_amount_minor, currency, created_by, created_at, approved_by, approved_at";

pub(super) fn settlement_from_row(r: &Row) -> StoreResult<Settlement> {
    Ok(Settlement {
        id: get(r, "id")?,
        station_id: get(r, "station_id")?,
        period: Period {
            from: get(r, "period_from")?,
            to: get(r, "period_to")?,
        },
        status: decode(SettlementStatus::parse(&get::<String>(r, "status")?), "status")?,
        claims: get(r, "claims")?,
        lines: get(r, "lines")?,
        labour_minor: get(r, "labour_minor")?,
        parts_minor: get(r, "parts_warranty_minor")?,
        travel_minor: get(r, "travel_minor")?,
        claimed_minor: get(r, "claimed_minor")?,
        amount_minor: get(r, "warranty_amount_minor")?,
        currency: get(r, "currency")?,
        created_by: get(r, "created_by")?,
        created_at: get(r, "created_at")?,
        approved_by: get(r, "approved_by")?,
        approved_at: get(r, "approved_at")?,
    })
}

pub(super) async fn load_settlement(c: &mut Conn, id: i64) -> StoreResult<Settlement> {
    let sql = format!("SELECT {SETTLEMENT_COLS} FROM settlements WHERE id = $1");
    let row = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?;
    settlement_from_row(&row.ok_or(StoreError::not_found("settlement"))?)
}

pub(super) async fn load_settlement_lines(c: &mut Conn, id: i64) -> StoreResult<Vec<crm_core::claims::PaidLine>> {
    let rows = sqlx::query::<Db>(
        "SELECT c.id AS claim_id, l.id AS line_id, c.repair_order_id, c.completed_on, c.technician_id, l.kind, l.description, \
         l.decision, l.minutes, l.claimed_minor, l.approved_minor FROM claims c JOIN claim_lines l ON l.claim_id = c.id \
         WHERE c.settlement_id = $1 AND l.approved_minor > 0 ORDER BY c.id, l.id",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            Ok(crm_core::claims::PaidLine {
                claim_id: get(r, "claim_id")?,
                line_id: get(r, "line_id")?,
                repair_order_id: get(r, "repair_order_id")?,
                completed_on: get(r, "completed_on")?,
                technician_id: get(r, "technician_id")?,
                kind: decode(crm_core::claims::LineKind::parse(&get::<String>(r, "kind")?), "kind")?,
                description: get(r, "description")?,
                decision: decode(
                    crm_core::claims::LineDecision::parse(&get::<String>(r, "decision")?),
                    "decision",
                )?,
                minutes: get_opt_u32(r, "minutes")?,
                claimed_minor: get(r, "claimed_minor")?,
                amount_minor: get(r, "approved_minor")?,
            })
        })
        .collect()
}

#[async_trait]
impl ReportStore for This {
    async fn call_center_report(&self, period: Period, interval: Interval) -> StoreResult<CallCenterReport> {
        let (start, end) = period.bounds();
        let step = interval.seconds();
        let at = epoch("interval_start");
        let cells_sql = format!(
            "SELECT queue, ({at} / {step}) * {step} AS bucket, CAST(SUM(offered) AS BIGINT) AS offered, \
             CAST(SUM(answered) AS BIGINT) AS answered, CAST(SUM(abandoned) AS BIGINT) AS abandoned, \
             CAST(SUM(answered_within_sl) AS BIGINT) AS within, CAST(SUM(wait_ms) AS BIGINT) AS wait_ms, \
             CAST(SUM(talk_s) AS BIGINT) AS talk_s FROM queue_intervals \
             WHERE interval_start >= $1 AND interval_start < $2 GROUP BY queue, bucket"
        );
        let agents_sql = "SELECT x.agent_id, u.display_name, CAST(0 AS BIGINT) AS offered, x.answered, CAST(0 AS BIGINT) AS abandoned, x.within, x.wait_ms, x.talk_s FROM \
               (SELECT agent_id, CAST(SUM(answered) AS BIGINT) AS answered, CAST(SUM(answered_within_sl) AS BIGINT) AS within, \
                CAST(SUM(wait_ms) AS BIGINT) AS wait_ms, CAST(SUM(talk_s) AS BIGINT) AS talk_s FROM agent_days \
                WHERE day >= $1 AND day <= $2 GROUP BY agent_id) x JOIN users u ON u.id = x.agent_id";
        let sums_of = |r: &Row| -> StoreResult<CallSums> {
            Ok(CallSums {
                offered: get(r, "offered")?,
                answered: get(r, "answered")?,
                abandoned: get(r, "abandoned")?,
                answered_within_sl: get(r, "within")?,
                wait_ms: get(r, "wait_ms")?,
                talk_s: get(r, "talk_s")?,
            })
        };
        let mut c = self.conn().await?;
        let cells = sqlx::query::<Db>(&cells_sql)
            .bind(start)
            .bind(end)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                let at = DateTime::from_timestamp(get::<i64>(r, "bucket")?, 0).unwrap_or(start);
                Ok((get::<String>(r, "queue")?, at, sums_of(r)?))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let agents = sqlx::query::<Db>(agents_sql)
            .bind(period.from)
            .bind(period.to)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok((
                    get::<i64>(r, "agent_id")?,
                    get::<String>(r, "display_name")?,
                    sums_of(r)?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(CallCenterReport::build(period, interval, cells, agents))
    }

    async fn service_report(
        &self,
        period: Period,
        by: Dimension,
        stations: Option<&[i64]>,
    ) -> StoreResult<Vec<ServiceRow>> {
        let among = among_stations("f.station_id", stations);
        let (key, join) = match by {
            Dimension::Model => ("m.code", "JOIN product_models m ON m.id = f.model_id"),
            Dimension::SerialBatch => ("f.serial_batch", ""),
            Dimension::FaultCode => ("COALESCE(f.fault_code, '')", ""),
            Dimension::Station => ("COALESCE(st.name, '')", "LEFT JOIN stations st ON st.id = f.station_id"),
        };
        let sql = format!(
            "SELECT {key} AS k, {FACT_SUMS} FROM repair_facts f {join} \
             LEFT JOIN survey_results s ON s.repair_order_id = f.repair_order_id \
             WHERE f.completed_on >= $1 AND f.completed_on <= $2{among} GROUP BY {key} ORDER BY repairs DESC, k LIMIT 1000"
        );
        let rows = sqlx::query::<Db>(&sql)
            .bind(period.from)
            .bind(period.to)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| Ok(ServiceRow::from_sums(get(r, "k")?, &repair_sums(r)?)))
            .collect()
    }

    async fn station_ranking(&self, period: Period, stations: Option<&[i64]>) -> StoreResult<Vec<StationRank>> {
        let among = among_stations("f.station_id", stations);
        let sql = format!(
            "SELECT st.id AS station_id, st.name, x.* FROM stations st JOIN \
               (SELECT f.station_id AS sid, {FACT_SUMS} FROM repair_facts f \
                LEFT JOIN survey_results s ON s.repair_order_id = f.repair_order_id \
                WHERE f.completed_on >= $1 AND f.completed_on <= $2 AND f.station_id IS NOT NULL{among} GROUP BY f.station_id) x \
             ON x.sid = st.id"
        );
        let rows = sqlx::query::<Db>(&sql)
            .bind(period.from)
            .bind(period.to)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        let sums = rows
            .iter()
            .map(|r| Ok((get::<i64>(r, "station_id")?, get::<String>(r, "name")?, repair_sums(r)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(rank_stations(sums))
    }

    async fn parts_report(&self, period: Period, by: PartsBy, stations: Option<&[i64]>) -> StoreResult<PartsReport> {
        let (start, end) = period.bounds();
        let among = among_stations("station_id", stations);
        // Sum the period's uses per (model or station, part) first, then name them.
        let (group, names) = match by {
            PartsBy::Model => ("model_id", "product_models d ON d.id = x.g"),
            PartsBy::Station => ("station_id", "stations d ON d.id = x.g"),
        };
        let key = match by {
            PartsBy::Model => "d.code",
            PartsBy::Station => "d.name",
        };
        let sql = format!(
            "SELECT {key} AS k, p.sku, p.name, x.quantity, x.wq, x.wv, x.pv FROM \
               (SELECT {group} AS g, part_id, CAST(SUM(quantity) AS BIGINT) AS quantity, \
                CAST(SUM(CASE WHEN billing = 'warranty' THEN quantity ELSE 0 END) AS BIGINT) AS wq, \
                CAST(SUM(CASE WHEN billing = 'warranty' THEN quantity * unit_price_minor ELSE 0 END) AS BIGINT) AS wv, \
                CAST(SUM(CASE WHEN billing = 'paid' THEN quantity * unit_price_minor ELSE 0 END) AS BIGINT) AS pv \
                FROM repair_parts WHERE at >= $1 AND at < $2{among} GROUP BY {group}, part_id) x \
             JOIN parts p ON p.id = x.part_id JOIN {names} ORDER BY x.quantity DESC, k, p.sku LIMIT 2000"
        );
        let mut c = self.conn().await?;
        let rows = sqlx::query::<Db>(&sql)
            .bind(start)
            .bind(end)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        let consumption = rows
            .iter()
            .map(|r| {
                let quantity: i64 = get(r, "quantity")?;
                let wq: i64 = get(r, "wq")?;
                Ok(PartsRow {
                    key: get(r, "k")?,
                    sku: get(r, "sku")?,
                    part: get(r, "name")?,
                    quantity,
                    warranty_quantity: wq,
                    paid_quantity: quantity - wq,
                    warranty_value_minor: get(r, "wv")?,
                    paid_value_minor: get(r, "pv")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        // Closing = today's level less what moved after the period; opening = closing less the
        // period's net movement. Only ledgers that moved since the period began can differ.
        let among = among_stations("ss.station_id", stations);
        let sql = format!("SELECT ss.station_id, st.name AS station, p.sku, ss.quantity, COALESCE(ss.safety_stock, p.safety_stock) AS safety_stock, \
               COALESCE(m.after_end, 0) AS after_end, COALESCE(m.within, 0) AS within, COALESCE(m.consumed, 0) AS consumed \
             FROM station_stock ss JOIN stations st ON st.id = ss.station_id JOIN parts p ON p.id = ss.part_id \
             LEFT JOIN (SELECT station_id, part_id, \
                  CAST(SUM(CASE WHEN at >= $2 THEN delta ELSE 0 END) AS BIGINT) AS after_end, \
                  CAST(SUM(CASE WHEN at < $2 THEN delta ELSE 0 END) AS BIGINT) AS within, \
                  CAST(SUM(CASE WHEN at < $2 AND reason = 'consumption' THEN -delta ELSE 0 END) AS BIGINT) AS consumed \
                FROM stock_movements WHERE at >= $1 GROUP BY station_id, part_id) m \
               ON m.station_id = ss.station_id AND m.part_id = ss.part_id WHERE 1 = 1{among} \
             ORDER BY st.name, p.sku LIMIT 20000");
        let rows = sqlx::query::<Db>(&sql)
            .bind(start)
            .bind(end)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        let stock = rows
            .iter()
            .map(|r| {
                let closing = get::<i64>(r, "quantity")? - get::<i64>(r, "after_end")?;
                Ok(StockTurn::new(
                    get(r, "station_id")?,
                    get(r, "station")?,
                    get(r, "sku")?,
                    closing,
                    get(r, "within")?,
                    get(r, "consumed")?,
                    get(r, "safety_stock")?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(PartsReport {
            period,
            by,
            consumption,
            stock,
        })
    }

    async fn create_settlement(&self, actor: Actor, s: &NewSettlement, now: DateTime<Utc>) -> StoreResult<Settlement> {
        let period = Period::new(s.from, s.to)?;
        if period.to > now.date_naive() {
            return Err(StoreError::invalid("to", "a settlement cannot cover days to come"));
        }
        let mut tx = self.tx().await?;
        require(&mut tx, "stations", s.station_id, "station_id").await?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO settlements (station_id, period_from, period_to, status, orders, labour_hours_warranty, labour_hours_paid, \
             parts_warranty_minor, parts_paid_minor, labour_rate_minor, warranty_amount_minor, currency, created_by, created_at) \
             VALUES ($1, $2, $3, 'draft', 0, 0, 0, 0, 0, 0, 0, '', $4, $5) RETURNING id",
        )
        .bind(s.station_id)
        .bind(period.from)
        .bind(period.to)
        .bind(actor.user_id)
        .bind(trunc(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        // Take the period's decided, unsettled claims first and sum only what was taken. The
        // UPDATE locks each row it takes; a concurrent draft (a double click) waits for this one,
        // then finds those claims settled and takes nothing. A claim is settled at most once,
        // and the amount is the sum of exactly the lines this settlement holds.
        sqlx::query::<Db>(
            "UPDATE claims SET settlement_id = $1, status = 'settled' WHERE station_id = $2 AND completed_on >= $3 \
             AND completed_on <= $4 AND status = 'decided' AND settlement_id IS NULL",
        )
        .bind(id)
        .bind(s.station_id)
        .bind(period.from)
        .bind(period.to)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let currencies = sqlx::query_scalar::<Db, String>(
            "SELECT DISTINCT currency FROM claims WHERE settlement_id = $1 ORDER BY currency",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let lines = load_settlement_lines(&mut tx, id).await?;
        // Dropping the transaction rolls the draft back.
        match currencies.len() {
            0 => {
                return Err(StoreError::conflict(
                    "to",
                    "no decided claim of this station in the period is left to settle",
                ))
            }
            1 => {}
            _ => {
                return Err(StoreError::conflict(
                    "station_id",
                    format!(
                        "the claims are in {}: settle one currency at a time",
                        currencies.join(", ")
                    ),
                ))
            }
        }
        let t = crm_core::claims::PaidTotals::of(&lines);
        sqlx::query::<Db>(
            "UPDATE settlements SET orders = $1, claims = $1, lines = $2, labour_minor = $3, parts_warranty_minor = $4, \
             travel_minor = $5, claimed_minor = $6, warranty_amount_minor = $7, currency = $8 WHERE id = $9",
        )
        .bind(t.claims)
        .bind(t.lines)
        .bind(t.labour_minor)
        .bind(t.parts_minor)
        .bind(t.travel_minor)
        .bind(t.claimed_minor)
        .bind(t.amount_minor)
        .bind(&currencies[0])
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "create", "settlement", Some(id), to_json(s)).await?;
        let out = load_settlement(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn settlement(&self, id: i64) -> StoreResult<Settlement> {
        load_settlement(&mut *self.conn().await?, id).await
    }

    async fn list_settlements(&self, station_id: Option<i64>, limit: u32) -> StoreResult<Vec<Settlement>> {
        let rows = Filter::default()
            .eq_int("station_id", station_id)
            .fetch(
                &mut *self.conn().await?,
                SETTLEMENT_COLS,
                "settlements",
                "id DESC",
                limit,
            )
            .await?;
        rows.iter().map(settlement_from_row).collect()
    }

    async fn approve_settlement(&self, actor: Actor, id: i64, now: DateTime<Utc>) -> StoreResult<Settlement> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "settlements", id, "settlement").await?;
        let cur = load_settlement(&mut tx, id).await?;
        if cur.status != SettlementStatus::Draft {
            return Err(StoreError::conflict("status", "the settlement is approved already"));
        }
        if actor.user_id.is_some() && cur.created_by == actor.user_id {
            return Err(StoreError::conflict(
                "approved_by",
                "a settlement is approved by someone other than who drew it up",
            ));
        }
        sqlx::query::<Db>("UPDATE settlements SET status = 'approved', approved_by = $1, approved_at = $2 WHERE id = $3 AND status = 'draft'")
            .bind(actor.user_id)
            .bind(trunc(now))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        audit(&mut tx, actor, "approve", "settlement", Some(id), serde_json::json!({})).await?;
        let out = load_settlement(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn settlement_lines(&self, id: i64) -> StoreResult<Vec<crm_core::claims::PaidLine>> {
        let mut c = self.conn().await?;
        load_settlement(&mut c, id).await?;
        load_settlement_lines(&mut c, id).await
    }

    async fn backfill_repair_facts(&self, limit: u32) -> StoreResult<u32> {
        let ids = sqlx::query_scalar::<Db, i64>(
            "SELECT r.id FROM repair_orders r WHERE r.status = 'completed' AND r.completed_at IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM repair_facts f WHERE f.repair_order_id = r.id) ORDER BY r.id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        for id in &ids {
            let mut tx = self.tx().await?;
            let at: Option<DateTime<Utc>> =
                sqlx::query_scalar::<Db, Option<DateTime<Utc>>>("SELECT completed_at FROM repair_orders WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
            if let Some(at) = at {
                write_repair_facts(&mut tx, *id, at).await?;
            }
            commit(tx).await?;
        }
        Ok(ids.len() as u32)
    }
}
