//! Field work and station stock operations, written once for both backends like the other store
//! files.

use super::*;

/// One movement on a station's ledger: the ledger row is created at 0 when missing, then changed
/// by one atomic increment whose CHECK (quantity >= 0) refuses going negative, also under
/// concurrent movements (the row lock orders them). `field` names the input blamed for a refusal.
#[allow(clippy::too_many_arguments)]
pub(super) async fn ledger(
    c: &mut Conn,
    actor: Actor,
    station_id: i64,
    part_id: i64,
    delta: i64,
    reason: StockReason,
    reference: &str,
    field: &str,
) -> StoreResult<(i64, DateTime<Utc>)> {
    sqlx::query::<Db>(
        "INSERT INTO station_stock (station_id, part_id, quantity) VALUES ($1, $2, 0) ON CONFLICT (station_id, part_id) DO NOTHING",
    )
    .bind(station_id)
    .bind(part_id)
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    sqlx::query::<Db>("UPDATE station_stock SET quantity = quantity + $1 WHERE station_id = $2 AND part_id = $3")
        .bind(delta)
        .bind(station_id)
        .bind(part_id)
        .execute(&mut *c)
        .await
        .map_err(|e| match crate::common::is_check_violation(&e) {
            true => StoreError::conflict(
                field,
                format!("stock of part {part_id} at station {station_id} would go below zero"),
            ),
            false => db_err(e),
        })?;
    let at = now();
    let id = sqlx::query_scalar::<Db, i64>(
        "INSERT INTO stock_movements (station_id, part_id, delta, reason, reference, at, user_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(station_id)
    .bind(part_id)
    .bind(delta)
    .bind(reason.as_str())
    .bind(reference)
    .bind(at)
    .bind(actor.user_id)
    .fetch_one(&mut *c)
    .await
    .map_err(db_err)?;
    Ok((id, at))
}

pub(super) async fn stock_document(
    c: &mut Conn,
    actor: Actor,
    kind: &str,
    station_id: i64,
    other: Option<i64>,
) -> StoreResult<(i64, DateTime<Utc>)> {
    let at = now();
    let id = sqlx::query_scalar::<Db, i64>(
        "INSERT INTO stock_documents (kind, station_id, other_station_id, at, user_id) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(kind)
    .bind(station_id)
    .bind(other)
    .bind(at)
    .bind(actor.user_id)
    .fetch_one(&mut *c)
    .await
    .map_err(db_err)?;
    Ok((id, at))
}

pub(super) const TASK_COLS: &str = "ro.id, ro.status, ro.task_status, ro.scheduled_for, ro.route_seq, ro.duration_minutes, ro.description, \
    ro.station_id, ro.fault_code, ro.customer_id, ro.asset_id, a.serial, m.code AS model_code, m.name AS model_name, m.product_line, \
    f.diagnosis, f.work_done, f.labour_hours, f.check_in_at, f.check_in_lat, f.check_in_lon, f.check_in_distance_m, \
    f.cannot_complete_reason, f.signed_by, f.signature_bytes, f.signed_at";
pub(super) const TASK_FROM: &str =
    "repair_orders ro JOIN assets a ON a.id = ro.asset_id JOIN product_models m ON m.id = a.model_id \
    LEFT JOIN field_reports f ON f.repair_order_id = ro.id";

/// Tasks from rows of `TASK_COLS`, with customers, parts, photos and history attached.
pub(super) async fn load_tasks(c: &mut Conn, rows: Vec<Row>) -> StoreResult<Vec<Task>> {
    let ids: Vec<i64> = rows.iter().map(|r| get(r, "id")).collect::<StoreResult<_>>()?;
    let mut customer_ids: Vec<i64> = rows.iter().map(|r| get(r, "customer_id")).collect::<StoreResult<_>>()?;
    customer_ids.sort_unstable();
    customer_ids.dedup();
    let customers: std::collections::HashMap<i64, Customer> = load_customers(c, &customer_ids)
        .await?
        .into_iter()
        .map(|k| (k.id, k))
        .collect();
    let mut parts: std::collections::HashMap<i64, Vec<PartUsed>> = std::collections::HashMap::new();
    let mut photos: std::collections::HashMap<i64, Vec<Photo>> = std::collections::HashMap::new();
    if !ids.is_empty() {
        let sql = format!(
            "SELECT rp.id, rp.repair_order_id, rp.part_id, p.sku, p.name, rp.quantity, rp.billing, rp.unit_price_minor, rp.currency, rp.station_id, rp.at \
             FROM repair_parts rp JOIN parts p ON p.id = rp.part_id WHERE rp.repair_order_id IN ({}) ORDER BY rp.id",
            placeholders(1, ids.len())
        );
        let mut q = sqlx::query::<Db>(&sql);
        for id in &ids {
            q = q.bind(id);
        }
        for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
            let billing: String = get(&r, "billing")?;
            let currency: String = get(&r, "currency")?;
            parts.entry(get(&r, "repair_order_id")?).or_default().push(PartUsed {
                id: get(&r, "id")?,
                part_id: get(&r, "part_id")?,
                sku: get(&r, "sku")?,
                name: get(&r, "name")?,
                quantity: get_u32(&r, "quantity")?,
                billing: decode(Billing::parse(&billing), "billing")?,
                unit_price: Money {
                    minor: get(&r, "unit_price_minor")?,
                    currency: decode(Currency::parse(&currency), "currency")?,
                },
                station_id: get(&r, "station_id")?,
                at: get(&r, "at")?,
            });
        }
        let sql = format!(
            "SELECT id, repair_order_id, content_type, bytes, sha256, at FROM repair_photos WHERE repair_order_id IN ({}) ORDER BY id",
            placeholders(1, ids.len())
        );
        let mut q = sqlx::query::<Db>(&sql);
        for id in &ids {
            q = q.bind(id);
        }
        for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
            let bytes: i64 = get(&r, "bytes")?;
            photos.entry(get(&r, "repair_order_id")?).or_default().push(Photo {
                id: get(&r, "id")?,
                content_type: get(&r, "content_type")?,
                bytes: bytes.max(0) as u64,
                sha256: get(&r, "sha256")?,
                at: get(&r, "at")?,
            });
        }
    }
    let mut history = histories(c, "task", &ids).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: i64 = get(r, "id")?;
        let status: String = get(r, "status")?;
        let repair_status = decode(RepairStatus::parse(&status), "status")?;
        let task_status: Option<String> = get(r, "task_status")?;
        let status = match task_status {
            Some(t) => decode(TaskStatus::parse(&t), "task_status")?,
            None => TaskStatus::Assigned,
        };
        let customer_id: i64 = get(r, "customer_id")?;
        let customer = customers.get(&customer_id);
        let check_in_at: Option<DateTime<Utc>> = get(r, "check_in_at")?;
        let check_in = match (
            check_in_at,
            get::<Option<f64>>(r, "check_in_lat")?,
            get::<Option<f64>>(r, "check_in_lon")?,
        ) {
            (Some(at), Some(lat), Some(lon)) => Some(CheckIn {
                at,
                location: decode(GeoPoint::new(lat, lon), "check-in location")?,
                distance_m: get(r, "check_in_distance_m")?,
            }),
            _ => None,
        };
        let signed_by: Option<String> = get(r, "signed_by")?;
        let signature = match (signed_by, get::<Option<DateTime<Utc>>>(r, "signed_at")?) {
            (Some(signed_by), Some(at)) => Some(Signature {
                signed_by,
                bytes: get::<Option<i64>>(r, "signature_bytes")?.unwrap_or(0).max(0) as u64,
                at,
            }),
            _ => None,
        };
        out.push(Task {
            repair_order_id: id,
            status,
            allowed: status.actions().to_vec(),
            repair_status,
            scheduled_for: get(r, "scheduled_for")?,
            route_seq: get_opt_u32(r, "route_seq")?,
            duration_minutes: get_u32(r, "duration_minutes")?,
            description: get(r, "description")?,
            station_id: get(r, "station_id")?,
            customer: TaskCustomer {
                id: customer_id,
                name: customer.map(|k| k.name.clone()).unwrap_or_default(),
                phone: customer
                    .and_then(|k| k.phones.first())
                    .map(|p| p.number.as_str().to_string()),
                address: customer.and_then(|k| k.addresses.first()).cloned(),
            },
            asset: TaskAsset {
                id: get(r, "asset_id")?,
                serial: get(r, "serial")?,
                model_code: get(r, "model_code")?,
                model_name: get(r, "model_name")?,
                product_line: get(r, "product_line")?,
            },
            fault_code: get(r, "fault_code")?,
            diagnosis: get(r, "diagnosis")?,
            work_done: get(r, "work_done")?,
            labour_hours: get(r, "labour_hours")?,
            check_in,
            cannot_complete_reason: get(r, "cannot_complete_reason")?,
            parts: parts.remove(&id).unwrap_or_default(),
            photos: photos.remove(&id).unwrap_or_default(),
            signature,
            history: history.remove(&id).unwrap_or_default(),
        });
    }
    Ok(out)
}

pub(super) async fn load_task(c: &mut Conn, technician_id: i64, repair_order_id: i64) -> StoreResult<Task> {
    let sql = format!(
        "SELECT {TASK_COLS} FROM {TASK_FROM} WHERE ro.id = $1 AND ro.technician_id = $2 AND ro.status <> 'new' AND ro.status <> 'cancelled'"
    );
    let rows = sqlx::query::<Db>(&sql)
        .bind(repair_order_id)
        .bind(technician_id)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
    load_tasks(c, rows).await?.pop().ok_or(StoreError::not_found("task"))
}

pub(super) async fn ensure_report(c: &mut Conn, repair_order_id: i64) -> StoreResult<()> {
    sqlx::query::<Db>(
        "INSERT INTO field_reports (repair_order_id) VALUES ($1) ON CONFLICT (repair_order_id) DO NOTHING",
    )
    .bind(repair_order_id)
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// The asset's warranty status today (factory warranty and contracts).
pub(super) async fn warranty_today(c: &mut Conn, asset_id: i64) -> StoreResult<crm_core::warranty::WarrantyStatus> {
    let asset = load_asset(c, asset_id).await?;
    let policy: Option<String> =
        sqlx::query_scalar::<Db, Option<String>>("SELECT warranty FROM product_models WHERE id = $1")
            .bind(asset.model_id)
            .fetch_one(&mut *c)
            .await
            .map_err(db_err)?;
    let policy = policy.map(|w| json_col::<WarrantyPolicy>(&w, "warranty")).transpose()?;
    let start = asset.warranty_start();
    Ok(crm_core::warranty::determine(
        now().date_naive(),
        crm_core::warranty::WarrantyFacts {
            start: &start,
            policy: policy.as_ref(),
            contracts: &asset.contracts,
            mileage_km: asset.mileage_km,
            operating_hours: asset.operating_hours,
        },
        0,
    ))
}

pub(super) fn refuse_in(status: TaskStatus, what: &str, allowed: &[TaskStatus]) -> StoreResult<()> {
    if allowed.contains(&status) {
        return Ok(());
    }
    let list: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    Err(StoreError::conflict(
        "status",
        format!(
            "{what} is possible only when the task is {}; it is {}",
            list.join(" or "),
            status.as_str()
        ),
    ))
}

impl This {
    /// The stored answer to an idempotency key, if the key was used before.
    async fn replay(&self, c: &mut Conn, user_id: i64, idem: &Idempotency) -> StoreResult<Option<Task>> {
        let row =
            sqlx::query::<Db>("SELECT fingerprint, response FROM idempotency_keys WHERE user_id = $1 AND key = $2")
                .bind(user_id)
                .bind(&idem.key)
                .fetch_optional(&mut *c)
                .await
                .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let fingerprint: String = get(&row, "fingerprint")?;
        if fingerprint != idem.fingerprint {
            return Err(StoreError::conflict(
                "Idempotency-Key",
                "this key was used for a different request",
            ));
        }
        let response: String = get(&row, "response")?;
        Ok(Some(json_col(&response, "idempotent response")?))
    }

    async fn apply_task_write(
        &self,
        tx: &mut Conn,
        actor: Actor,
        technician_id: i64,
        id: i64,
        w: &TaskWrite,
    ) -> StoreResult<Task> {
        lock_row(tx, "repair_orders", id, "task").await?;
        let task = load_task(tx, technician_id, id).await?;
        let on_site = [TaskStatus::OnSite, TaskStatus::Paused];
        match w {
            TaskWrite::Step(step) => {
                let Some(next) = task.status.after(step.action) else {
                    let allowed: Vec<&str> = task.allowed.iter().map(|a| a.as_str()).collect();
                    return Err(StoreError::conflict(
                        "action",
                        format!(
                            "cannot {} a task that is {}; allowed: {}",
                            step.action.as_str(),
                            task.status.as_str(),
                            if allowed.is_empty() {
                                "none".to_string()
                            } else {
                                allowed.join(", ")
                            }
                        ),
                    ));
                };
                step.validate()?;
                if step.action == TaskAction::Complete {
                    // A completion carries its report: what was found, what was done, how long it took.
                    if task.fault_code.is_none() {
                        return Err(StoreError::invalid(
                            "fault_code",
                            "record the fault code before completing",
                        ));
                    }
                    if task.work_done.is_none() || task.labour_hours.is_none() {
                        return Err(StoreError::invalid(
                            "work_done",
                            "record the work done and labour hours before completing",
                        ));
                    }
                    let w = warranty_today(tx, task.asset.id).await?;
                    super::billing::require_accepted_quote(tx, id, &w, None).await?;
                }
                ensure_report(tx, id).await?;
                if let (TaskAction::CheckIn, Some(at)) = (step.action, step.location) {
                    let distance = task
                        .customer
                        .address
                        .as_ref()
                        .and_then(|a| a.location)
                        .map(|home| distance_m(home, at).round());
                    sqlx::query::<Db>(
                        "UPDATE field_reports SET check_in_at = $1, check_in_lat = $2, check_in_lon = $3, check_in_distance_m = $4 WHERE repair_order_id = $5",
                    )
                    .bind(now())
                    .bind(at.lat)
                    .bind(at.lon)
                    .bind(distance)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                if let (TaskAction::CannotComplete, Some(reason)) = (step.action, &step.reason) {
                    sqlx::query::<Db>(
                        "UPDATE field_reports SET cannot_complete_reason = $1 WHERE repair_order_id = $2",
                    )
                    .bind(reason.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                let repair = next.repair_status();
                if repair != task.repair_status {
                    record_status(
                        tx,
                        "repair_order",
                        id,
                        Some(task.repair_status.as_str()),
                        repair.as_str(),
                        actor,
                        None,
                    )
                    .await?;
                }
                let completed_at = (repair == RepairStatus::Completed).then(now);
                sqlx::query::<Db>(
                    "UPDATE repair_orders SET task_status = $1, status = $2, completed_at = COALESCE($3, completed_at) WHERE id = $4",
                )
                .bind(next.as_str())
                .bind(repair.as_str())
                .bind(completed_at)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                if let Some(at) = completed_at {
                    // The satisfaction callback and the repair's facts, in the completion's transaction.
                    record_completion(tx, id, at).await?;
                    super::billing::issue_invoice(tx, id, at).await?;
                }
                record_status(
                    tx,
                    "task",
                    id,
                    Some(task.status.as_str()),
                    next.as_str(),
                    actor,
                    step.reason.as_ref().map(|r| r.as_str()),
                )
                .await?;
            }
            TaskWrite::Report(r) => {
                r.validate()?;
                refuse_in(task.status, "reporting", &on_site)?;
                if let Some(code) = &r.fault_code {
                    check_fault_code(tx, task.asset.id, code).await?;
                    sqlx::query::<Db>("UPDATE repair_orders SET fault_code = $1 WHERE id = $2")
                        .bind(code)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                ensure_report(tx, id).await?;
                sqlx::query::<Db>(
                    "UPDATE field_reports SET diagnosis = COALESCE($1, diagnosis), work_done = COALESCE($2, work_done), \
                     labour_hours = COALESCE($3, labour_hours) WHERE repair_order_id = $4",
                )
                .bind(r.diagnosis.as_ref().map(|t| t.as_str()))
                .bind(r.work_done.as_ref().map(|t| t.as_str()))
                .bind(r.labour_hours)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            TaskWrite::Part(u) => {
                u.validate()?;
                refuse_in(task.status, "using parts", &on_site)?;
                let part =
                    match sqlx::query::<Db>("SELECT sku, price_minor, currency, product_line FROM parts WHERE id = $1")
                        .bind(u.part_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?
                    {
                        Some(p) => p,
                        None => return Err(StoreError::invalid("part_id", "no such part")),
                    };
                // A part made for one product line does not go into another's product; parts
                // without a line (screws, fuses) fit any.
                if let Some(line) = get::<Option<String>>(&part, "product_line")? {
                    if line != task.asset.product_line {
                        return Err(StoreError::invalid(
                            "part_id",
                            format!(
                                "part {} is for {line}; this asset ({}) is {}",
                                get::<String>(&part, "sku")?,
                                task.asset.model_code,
                                task.asset.product_line
                            ),
                        ));
                    }
                }
                let station = match task.station_id {
                    Some(s) => s,
                    None => sqlx::query_scalar::<Db, i64>("SELECT station_id FROM technicians WHERE id = $1")
                        .bind(technician_id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)?,
                };
                // Parts are billed to the warranty when it (or a contract) covers parts today.
                let w = warranty_today(tx, task.asset.id).await?;
                super::billing::require_accepted_quote(tx, id, &w, Some((u.part_id, u.quantity))).await?;
                let billing = if w.covers_parts {
                    Billing::Warranty
                } else {
                    Billing::Paid
                };
                let reference = format!("repair_order:{id}");
                let delta = -i64::from(u.quantity);
                let (movement, at) = ledger(
                    tx,
                    actor,
                    station,
                    u.part_id,
                    delta,
                    StockReason::Consumption,
                    &reference,
                    "quantity",
                )
                .await?;
                sqlx::query::<Db>(
                    "INSERT INTO repair_parts (repair_order_id, part_id, station_id, quantity, billing, unit_price_minor, currency, movement_id, at, model_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(id)
                .bind(u.part_id)
                .bind(station)
                .bind(i64::from(u.quantity))
                .bind(billing.as_str())
                .bind(get::<i64>(&part, "price_minor")?)
                .bind(get::<String>(&part, "currency")?)
                .bind(movement)
                .bind(at)
                .bind(load_asset(tx, task.asset.id).await?.model_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            TaskWrite::Photo(f) => {
                refuse_in(task.status, "adding photos", &on_site)?;
                sqlx::query::<Db>(
                    "INSERT INTO repair_photos (repair_order_id, path, content_type, bytes, sha256, at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (repair_order_id, sha256) DO NOTHING",
                )
                .bind(id)
                .bind(&f.path)
                .bind(&f.content_type)
                .bind(f.bytes as i64)
                .bind(&f.sha256)
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            TaskWrite::Signature { signed_by, file } => {
                refuse_in(task.status, "signing", &on_site)?;
                ensure_report(tx, id).await?;
                sqlx::query::<Db>(
                    "UPDATE field_reports SET signed_by = $1, signature_path = $2, signature_bytes = $3, signed_at = $4 WHERE repair_order_id = $5",
                )
                .bind(signed_by.as_str())
                .bind(&file.path)
                .bind(file.bytes as i64)
                .bind(now())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        audit(tx, actor, "update", "task", Some(id), to_json(w)).await?;
        load_task(tx, technician_id, id).await
    }
}

#[async_trait]
impl FieldStore for This {
    async fn tech_tasks(&self, technician_id: i64, finished_since: DateTime<Utc>) -> StoreResult<Vec<Task>> {
        let mut c = self.conn().await?;
        let sql = format!(
            "SELECT {TASK_COLS} FROM {TASK_FROM} WHERE ro.technician_id = $1 AND \
             (ro.status IN ('assigned', 'in_progress') OR (ro.status IN ('completed', 'cannot_complete') AND ro.id IN \
               (SELECT subject_id FROM status_history WHERE subject = 'task' AND at >= $2))) \
             ORDER BY CASE WHEN ro.scheduled_for IS NULL THEN 1 ELSE 0 END, ro.scheduled_for, ro.route_seq, ro.id LIMIT 500"
        );
        let rows = sqlx::query::<Db>(&sql)
            .bind(technician_id)
            .bind(trunc(finished_since))
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        load_tasks(&mut c, rows).await
    }

    async fn tech_task(&self, technician_id: i64, repair_order_id: i64) -> StoreResult<Task> {
        load_task(&mut *self.conn().await?, technician_id, repair_order_id).await
    }

    async fn task_write(
        &self,
        actor: Actor,
        technician_id: i64,
        repair_order_id: i64,
        idempotency: Option<&Idempotency>,
        w: &TaskWrite,
    ) -> StoreResult<Task> {
        let user = actor.user_id.unwrap_or(0);
        let mut tx = self.tx().await?;
        if let Some(idem) = idempotency {
            // Claim the key before doing anything. A concurrent duplicate blocks on the key's
            // primary key (PostgreSQL) or the write lock (SQLite) until this transaction ends:
            // if it commits, the duplicate replays its answer; if it rolls back, the duplicate
            // claims the key and applies the write itself. Never a 409 for a true duplicate.
            let claimed = sqlx::query::<Db>(
                "INSERT INTO idempotency_keys (user_id, key, fingerprint, response, at) VALUES ($1, $2, $3, '', $4) \
                 ON CONFLICT (user_id, key) DO NOTHING",
            )
            .bind(user)
            .bind(&idem.key)
            .bind(&idem.fingerprint)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            if claimed == 0 {
                return self
                    .replay(&mut tx, user, idem)
                    .await?
                    .ok_or_else(|| StoreError::Backend("idempotency record vanished".into()));
            }
        }
        let task = self
            .apply_task_write(&mut tx, actor, technician_id, repair_order_id, w)
            .await?;
        if let Some(idem) = idempotency {
            sqlx::query::<Db>("UPDATE idempotency_keys SET response = $1 WHERE user_id = $2 AND key = $3")
                .bind(to_json(&task).to_string())
                .bind(user)
                .bind(&idem.key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        commit(tx).await?;
        Ok(task)
    }

    async fn record_position(&self, technician_id: i64, at: GeoPoint, time: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.tx().await?;
        let last = sqlx::query_scalar::<Db, Option<DateTime<Utc>>>("SELECT position_at FROM technicians WHERE id = $1")
            .bind(technician_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::not_found("technician"))?;
        let time = trunc(time);
        if last.is_some_and(|l| l >= time) {
            return Ok(false);
        }
        sqlx::query::<Db>("UPDATE technicians SET lat = $1, lon = $2, position_at = $3 WHERE id = $4")
            .bind(at.lat)
            .bind(at.lon)
            .bind(time)
            .bind(technician_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        commit(tx).await?;
        Ok(true)
    }

    async fn set_dispatch(&self, actor: Actor, id: i64, d: &DispatchDecision) -> StoreResult<RepairOrder> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "repair_orders", id, "repair order").await?;
        let cur = load_repair_order(&mut tx, id).await?;
        let started = cur.task_status.is_some_and(TaskStatus::started);
        match d {
            DispatchDecision::Assign {
                station_id,
                technician_id,
                scheduled_for,
                route_seq,
                appointment,
                override_reason,
            } => {
                require(&mut tx, "stations", *station_id, "station_id").await?;
                require(&mut tx, "technicians", *technician_id, "technician_id").await?;
                let station_status = sqlx::query_scalar::<Db, String>("SELECT status FROM stations WHERE id = $1")
                    .bind(station_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if station_status != StationStatus::Approved.as_str() {
                    return Err(StoreError::conflict(
                        "station_id",
                        format!("the station is {station_status}; only an approved station gets work"),
                    ));
                }
                let declined = sqlx::query_scalar::<Db, i64>(
                    "SELECT COUNT(*) FROM station_declines WHERE repair_order_id = $1 AND station_id = $2",
                )
                .bind(id)
                .bind(station_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                if declined > 0 {
                    return Err(StoreError::conflict("station_id", "the station declined this order"));
                }
                let reassigned = cur.technician_id != Some(*technician_id);
                if reassigned && started {
                    return Err(StoreError::conflict(
                        "technician_id",
                        "work has started; the order cannot be reassigned",
                    ));
                }
                let status = match cur.status {
                    RepairStatus::New | RepairStatus::CannotComplete => RepairStatus::Assigned,
                    RepairStatus::Assigned | RepairStatus::InProgress => cur.status,
                    other => {
                        return Err(StoreError::conflict(
                            "status",
                            format!("a {} order is not dispatched", other.as_str()),
                        ));
                    }
                };
                let task = if reassigned || cur.task_status.is_none() || status != cur.status {
                    TaskStatus::Assigned
                } else {
                    cur.task_status.unwrap_or(TaskStatus::Assigned)
                };
                if status != cur.status {
                    record_status(
                        &mut tx,
                        "repair_order",
                        id,
                        Some(cur.status.as_str()),
                        status.as_str(),
                        actor,
                        Some("dispatch"),
                    )
                    .await?;
                }
                sqlx::query::<Db>(
                    "UPDATE repair_orders SET status = $1, station_id = $2, technician_id = $3, scheduled_for = $4, route_seq = $5, \
                     unassigned_reason = NULL, task_status = $6, appointment_from = $7, appointment_to = $8, \
                     station_accepted_at = CASE WHEN station_id = $2 THEN station_accepted_at END WHERE id = $9",
                )
                .bind(status.as_str())
                .bind(station_id)
                .bind(technician_id)
                .bind(trunc(*scheduled_for))
                .bind(route_seq.map(i64::from))
                .bind(task.as_str())
                .bind(appointment.or(cur.appointment).map(|a| trunc(a.from)))
                .bind(appointment.or(cur.appointment).map(|a| trunc(a.to)))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                audit(
                    &mut tx,
                    actor,
                    "dispatch",
                    "repair_order",
                    Some(id),
                    serde_json::json!({"technician_id": technician_id, "station_id": station_id, "scheduled_for": scheduled_for, "route_seq": route_seq, "appointment": appointment, "override": override_reason}),
                )
                .await?;
                // A window booked with the customer is confirmed to them, with the booking.
                if let Some(window) = appointment {
                    super::mail::queue_appointment_confirmation(&mut tx, &cur, *station_id, *window, now()).await?;
                }
            }
            DispatchDecision::Unassigned { reason } => {
                if started {
                    return Err(StoreError::conflict(
                        "technician_id",
                        "work has started; the order stays with its technician",
                    ));
                }
                if !matches!(cur.status, RepairStatus::New | RepairStatus::Assigned) {
                    return Err(StoreError::conflict(
                        "status",
                        format!("a {} order is not dispatched", cur.status.as_str()),
                    ));
                }
                if cur.status != RepairStatus::New {
                    record_status(
                        &mut tx,
                        "repair_order",
                        id,
                        Some(cur.status.as_str()),
                        "new",
                        actor,
                        Some(reason),
                    )
                    .await?;
                }
                sqlx::query::<Db>(
                    "UPDATE repair_orders SET status = 'new', technician_id = NULL, route_seq = NULL, task_status = NULL, unassigned_reason = $1 WHERE id = $2",
                )
                .bind(reason)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                audit(
                    &mut tx,
                    actor,
                    "dispatch",
                    "repair_order",
                    Some(id),
                    serde_json::json!({"unassigned": reason}),
                )
                .await?;
            }
        }
        let out = load_repair_order(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn open_repair_orders(&self, limit: u32) -> StoreResult<Vec<RepairOrder>> {
        let mut c = self.conn().await?;
        let sql = format!("SELECT {RO_COLS} FROM repair_orders WHERE status IN ('new', 'assigned', 'in_progress') ORDER BY id LIMIT $1");
        let rows = sqlx::query::<Db>(&sql)
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        load_repair_orders(&mut c, rows).await
    }

    async fn order_sites(&self, ids: &[i64]) -> StoreResult<Vec<OrderSite>> {
        let mut c = self.conn().await?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT ro.id, m.product_line, m.name AS model, cu.name AS customer, t.priority, ad.lat, ad.lon, ad.line1, ad.city \
                 FROM repair_orders ro JOIN customers cu ON cu.id = ro.customer_id \
                 JOIN tickets t ON t.id = ro.ticket_id JOIN assets s ON s.id = ro.asset_id JOIN product_models m ON m.id = s.model_id \
                 LEFT JOIN customer_addresses ad ON ad.id = (SELECT x.id FROM customer_addresses x \
                   WHERE x.customer_id = ro.customer_id AND x.lat IS NOT NULL AND x.lon IS NOT NULL ORDER BY x.position, x.id LIMIT 1) \
                 WHERE ro.id IN ({}) ORDER BY ro.id",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query::<Db>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
                out.push(OrderSite {
                    repair_order_id: get(&r, "id")?,
                    location: get_point(&r)?,
                    product_line: get(&r, "product_line")?,
                    priority: decode(
                        crm_core::model::Priority::parse(&get::<String>(&r, "priority")?),
                        "priority",
                    )?,
                    customer: get(&r, "customer")?,
                    address: match (get::<Option<String>>(&r, "line1")?, get::<Option<String>>(&r, "city")?) {
                        (Some(l), Some(c)) => format!("{l}, {c}"),
                        _ => String::new(),
                    },
                    model: get(&r, "model")?,
                    declined: vec![],
                });
            }
            let sql = format!(
                "SELECT repair_order_id, station_id FROM station_declines WHERE repair_order_id IN ({}) \
                 ORDER BY repair_order_id, station_id",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query::<Db>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
                let order: i64 = get(&r, "repair_order_id")?;
                if let Some(site) = out.iter_mut().rev().find(|s| s.repair_order_id == order) {
                    site.declined.push(get(&r, "station_id")?);
                }
            }
        }
        Ok(out)
    }

    async fn transfer_stock(&self, actor: Actor, t: &NewTransfer) -> StoreResult<Transfer> {
        t.validate()?;
        let mut tx = self.tx().await?;
        require(&mut tx, "stations", t.from_station_id, "from_station_id").await?;
        require(&mut tx, "stations", t.to_station_id, "to_station_id").await?;
        require(&mut tx, "parts", t.part_id, "part_id").await?;
        let (doc, at) = stock_document(&mut tx, actor, "transfer", t.from_station_id, Some(t.to_station_id)).await?;
        let reference = format!("transfer:{doc}");
        let q = i64::from(t.quantity);
        let (out_id, _) = ledger(
            &mut tx,
            actor,
            t.from_station_id,
            t.part_id,
            -q,
            StockReason::TransferOut,
            &reference,
            "quantity",
        )
        .await?;
        let (in_id, _) = ledger(
            &mut tx,
            actor,
            t.to_station_id,
            t.part_id,
            q,
            StockReason::TransferIn,
            &reference,
            "quantity",
        )
        .await?;
        audit(&mut tx, actor, "create", "stock_transfer", Some(doc), to_json(t)).await?;
        commit(tx).await?;
        Ok(Transfer {
            id: doc,
            from_station_id: t.from_station_id,
            to_station_id: t.to_station_id,
            part_id: t.part_id,
            quantity: t.quantity,
            movement_ids: [out_id, in_id],
            at,
        })
    }

    async fn stocktake(&self, actor: Actor, station_id: i64, t: &NewStocktake) -> StoreResult<Stocktake> {
        t.validate()?;
        let mut tx = self.tx().await?;
        require_found(&mut tx, "stations", station_id, "station").await?;
        let (doc, at) = stock_document(&mut tx, actor, "stocktake", station_id, None).await?;
        let reference = format!("stocktake:{doc}");
        let mut lines = Vec::with_capacity(t.counts.len());
        for (i, c) in t.counts.iter().enumerate() {
            if !exists(&mut tx, "parts", c.part_id).await? {
                return Err(StoreError::invalid(format!("counts[{i}].part_id"), "no such part"));
            }
            let expected = sqlx::query_scalar::<Db, i64>(
                "SELECT quantity FROM station_stock WHERE station_id = $1 AND part_id = $2",
            )
            .bind(station_id)
            .bind(c.part_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .unwrap_or(0);
            let variance = i64::from(c.counted) - expected;
            if variance != 0 {
                ledger(
                    &mut tx,
                    actor,
                    station_id,
                    c.part_id,
                    variance,
                    StockReason::Stocktake,
                    &reference,
                    "counted",
                )
                .await?;
            }
            lines.push(Variance {
                part_id: c.part_id,
                expected,
                counted: c.counted,
                variance,
            });
        }
        audit(&mut tx, actor, "create", "stocktake", Some(doc), to_json(t)).await?;
        commit(tx).await?;
        Ok(Stocktake {
            id: doc,
            station_id,
            at,
            lines,
        })
    }

    async fn stock_alerts(&self) -> StoreResult<Vec<StockLevel>> {
        let mut c = self.conn().await?;
        let rows = sqlx::query::<Db>(
            "SELECT s.station_id, s.part_id, p.sku, p.name, s.quantity, COALESCE(s.safety_stock, p.safety_stock) AS safety_stock \
             FROM station_stock s JOIN parts p ON p.id = s.part_id WHERE s.quantity < COALESCE(s.safety_stock, p.safety_stock) \
             ORDER BY s.station_id, p.sku LIMIT 1000",
        )
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        rows.iter().map(stock_level_from_row).collect()
    }
}
