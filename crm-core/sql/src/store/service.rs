//! `ServiceStore`: tickets, repair orders, complaints and wrap-ups, each status change recorded.

use super::*;

pub(super) async fn record_status(
    c: &mut Conn,
    subject: &str,
    id: i64,
    from: Option<&str>,
    to: &str,
    actor: Actor,
    note: Option<&str>,
) -> StoreResult<()> {
    sqlx::query::<Db>(
        "INSERT INTO status_history (subject, subject_id, from_status, to_status, at, user_id, note) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(subject)
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(now())
    .bind(actor.user_id)
    .bind(note)
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(super) async fn histories(
    c: &mut Conn,
    subject: &str,
    ids: &[i64],
) -> StoreResult<std::collections::HashMap<i64, Vec<StatusChange>>> {
    let mut out: std::collections::HashMap<i64, Vec<StatusChange>> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT subject_id, from_status, to_status, at, user_id, note FROM status_history WHERE subject = $1 AND subject_id IN ({}) ORDER BY id",
        placeholders(2, ids.len())
    );
    let mut q = sqlx::query::<Db>(&sql).bind(subject);
    for id in ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
        out.entry(get(&r, "subject_id")?).or_default().push(StatusChange {
            from: get(&r, "from_status")?,
            to: get(&r, "to_status")?,
            at: get(&r, "at")?,
            user_id: get(&r, "user_id")?,
            note: get(&r, "note")?,
        });
    }
    Ok(out)
}

pub(super) fn transition_error<T: Copy>(
    from: &str,
    to: &str,
    allowed: &[T],
    name: fn(T) -> &'static str,
) -> StoreError {
    let list: Vec<&str> = allowed.iter().map(|s| name(*s)).collect();
    StoreError::conflict(
        "status",
        format!(
            "cannot go from {from} to {to}; allowed: {}",
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        ),
    )
}

pub(super) const TICKET_COLS: &str =
    "id, customer_id, asset_id, subject, description, status, priority, created_at, updated_at";

pub(super) async fn load_tickets(c: &mut Conn, rows: Vec<Row>) -> StoreResult<Vec<Ticket>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let status: String = get(r, "status")?;
        let priority: String = get(r, "priority")?;
        out.push(Ticket {
            id: get(r, "id")?,
            customer_id: get(r, "customer_id")?,
            asset_id: get(r, "asset_id")?,
            subject: get(r, "subject")?,
            description: get(r, "description")?,
            status: decode(TicketStatus::parse(&status), "status")?,
            priority: decode(Priority::parse(&priority), "priority")?,
            created_at: get(r, "created_at")?,
            updated_at: get(r, "updated_at")?,
            history: vec![],
        });
    }
    let ids: Vec<i64> = out.iter().map(|t| t.id).collect();
    let mut h = histories(c, "ticket", &ids).await?;
    for t in &mut out {
        t.history = h.remove(&t.id).unwrap_or_default();
    }
    Ok(out)
}

pub(super) async fn load_ticket(c: &mut Conn, id: i64) -> StoreResult<Ticket> {
    let sql = format!("SELECT {TICKET_COLS} FROM tickets WHERE id = $1");
    let rows = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
    load_tickets(c, rows)
        .await?
        .pop()
        .ok_or(StoreError::not_found("ticket"))
}

pub(super) const RO_COLS: &str = "id, ticket_id, customer_id, asset_id, station_id, technician_id, status, fault_code, description, scheduled_for, created_at, completed_at, duration_minutes, route_seq, unassigned_reason, task_status, appointment_from, appointment_to, station_accepted_at";

pub(super) async fn load_repair_orders(c: &mut Conn, rows: Vec<Row>) -> StoreResult<Vec<RepairOrder>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let status: String = get(r, "status")?;
        out.push(RepairOrder {
            id: get(r, "id")?,
            ticket_id: get(r, "ticket_id")?,
            customer_id: get(r, "customer_id")?,
            asset_id: get(r, "asset_id")?,
            station_id: get(r, "station_id")?,
            technician_id: get(r, "technician_id")?,
            status: decode(RepairStatus::parse(&status), "status")?,
            fault_code: get(r, "fault_code")?,
            description: get(r, "description")?,
            scheduled_for: get(r, "scheduled_for")?,
            appointment: match (get(r, "appointment_from")?, get(r, "appointment_to")?) {
                (Some(from), Some(to)) => Some(crm_core::model::Appointment { from, to }),
                _ => None,
            },
            created_at: get(r, "created_at")?,
            completed_at: get(r, "completed_at")?,
            duration_minutes: get_u32(r, "duration_minutes")?,
            route_seq: get_opt_u32(r, "route_seq")?,
            unassigned_reason: get(r, "unassigned_reason")?,
            task_status: get::<Option<String>>(r, "task_status")?
                .map(|t| decode(crm_core::field::TaskStatus::parse(&t), "task_status"))
                .transpose()?,
            station_accepted_at: get(r, "station_accepted_at")?,
            parts_needed: vec![],
            history: vec![],
        });
    }
    let ids: Vec<i64> = out.iter().map(|t| t.id).collect();
    let mut h = histories(c, "repair_order", &ids).await?;
    let mut needed: std::collections::HashMap<i64, Vec<NeededPart>> = std::collections::HashMap::new();
    if !ids.is_empty() {
        let sql = format!(
            "SELECT repair_order_id, part_id, quantity FROM repair_order_parts WHERE repair_order_id IN ({}) ORDER BY part_id",
            placeholders(1, ids.len())
        );
        let mut q = sqlx::query::<Db>(&sql);
        for id in &ids {
            q = q.bind(id);
        }
        for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
            needed.entry(get(&r, "repair_order_id")?).or_default().push(NeededPart {
                part_id: get(&r, "part_id")?,
                quantity: get_u32(&r, "quantity")?,
            });
        }
    }
    for t in &mut out {
        t.history = h.remove(&t.id).unwrap_or_default();
        t.parts_needed = needed.remove(&t.id).unwrap_or_default();
    }
    Ok(out)
}

pub(super) async fn load_repair_order(c: &mut Conn, id: i64) -> StoreResult<RepairOrder> {
    let sql = format!("SELECT {RO_COLS} FROM repair_orders WHERE id = $1");
    let rows = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
    load_repair_orders(c, rows)
        .await?
        .pop()
        .ok_or(StoreError::not_found("repair order"))
}

/// The technician's task status after a staff change to a repair order: a new assignment starts
/// the flow over; closing the order from the office closes the task too.
pub(super) fn task_status_for(
    status: RepairStatus,
    cur: Option<crm_core::field::TaskStatus>,
    reassigned: bool,
) -> Option<crm_core::field::TaskStatus> {
    use crm_core::field::TaskStatus as T;
    match status {
        RepairStatus::New | RepairStatus::Cancelled => None,
        RepairStatus::Assigned if reassigned || cur.is_none_or(|t| !matches!(t, T::Assigned | T::Accepted)) => {
            Some(T::Assigned)
        }
        RepairStatus::Completed => Some(T::Completed),
        RepairStatus::CannotComplete => Some(T::CannotComplete),
        _ => cur.or(Some(T::Assigned)),
    }
}

/// A fault code must be in the catalogue of the asset's model.
pub(super) async fn check_fault_code(c: &mut Conn, asset_id: i64, code: &str) -> StoreResult<()> {
    let faults: String = sqlx::query_scalar::<Db, String>(
        "SELECT m.fault_codes FROM assets a JOIN product_models m ON m.id = a.model_id WHERE a.id = $1",
    )
    .bind(asset_id)
    .fetch_one(&mut *c)
    .await
    .map_err(db_err)?;
    let list: Vec<FaultCode> = json_col(&faults, "fault_codes")?;
    if list.iter().any(|f| f.code == code) {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "fault_code",
            format!("{code:?} is not in the model's fault catalogue"),
        ))
    }
}

pub(super) const COMPLAINT_COLS: &str =
    "id, customer_id, ticket_id, repair_order_id, category, status, description, owner_user_id, due_on, resolution, created_at, escalated_at";

pub(super) fn complaint_from_row(r: &Row) -> StoreResult<Complaint> {
    let category: String = get(r, "category")?;
    let status: String = get(r, "status")?;
    Ok(Complaint {
        id: get(r, "id")?,
        customer_id: get(r, "customer_id")?,
        ticket_id: get(r, "ticket_id")?,
        repair_order_id: get(r, "repair_order_id")?,
        category: decode(ComplaintCategory::parse(&category), "category")?,
        status: decode(ComplaintStatus::parse(&status), "status")?,
        description: get(r, "description")?,
        owner_user_id: get(r, "owner_user_id")?,
        due_on: get(r, "due_on")?,
        resolution: get(r, "resolution")?,
        created_at: get(r, "created_at")?,
        escalated_at: get(r, "escalated_at")?,
    })
}

pub(super) async fn load_complaint(c: &mut Conn, id: i64) -> StoreResult<Complaint> {
    let sql = format!("SELECT {COMPLAINT_COLS} FROM complaints WHERE id = $1");
    let r = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::not_found("complaint"))?;
    complaint_from_row(&r)
}

/// A new ticket in the caller's transaction.
pub(super) async fn insert_ticket(c: &mut Conn, actor: Actor, t: &NewTicket) -> StoreResult<i64> {
    require(c, "customers", t.customer_id, "customer_id").await?;
    if let Some(aid) = t.asset_id {
        let owner = sqlx::query_scalar::<Db, i64>("SELECT customer_id FROM assets WHERE id = $1")
            .bind(aid)
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err)?;
        if owner != Some(t.customer_id) {
            return Err(StoreError::invalid("asset_id", "no such asset for this customer"));
        }
    }
    let at = now();
    let id = sqlx::query_scalar::<Db, i64>(
        "INSERT INTO tickets (customer_id, asset_id, subject, description, status, priority, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(t.customer_id)
    .bind(t.asset_id)
    .bind(t.subject.as_str())
    .bind(&t.description)
    .bind(TicketStatus::Open.as_str())
    .bind(t.priority.as_str())
    .bind(at)
    .fetch_one(&mut *c)
    .await
    .map_err(db_err)?;
    record_status(c, "ticket", id, None, TicketStatus::Open.as_str(), actor, None).await?;
    audit(c, actor, "create", "ticket", Some(id), to_json(t)).await?;
    Ok(id)
}

/// A new repair order in the caller's transaction.
pub(super) async fn insert_repair_order(c: &mut Conn, actor: Actor, r: &NewRepairOrder) -> StoreResult<i64> {
    r.validate()?;
    let ticket = match load_ticket(c, r.ticket_id).await {
        Err(StoreError::NotFound { .. }) => return Err(StoreError::invalid("ticket_id", "no such ticket")),
        other => other?,
    };
    let asset_id = r
        .asset_id
        .or(ticket.asset_id)
        .ok_or_else(|| StoreError::invalid("asset_id", "the ticket names no asset; give asset_id"))?;
    let owner = sqlx::query_scalar::<Db, i64>("SELECT customer_id FROM assets WHERE id = $1")
        .bind(asset_id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?;
    if owner != Some(ticket.customer_id) {
        return Err(StoreError::invalid(
            "asset_id",
            "no such asset for the ticket's customer",
        ));
    }
    if let Some(s) = r.station_id {
        require(c, "stations", s, "station_id").await?;
    }
    if let Some(t) = r.technician_id {
        require(c, "technicians", t, "technician_id").await?;
    }
    if let Some(code) = &r.fault_code {
        check_fault_code(c, asset_id, code).await?;
    }
    let id = sqlx::query_scalar::<Db, i64>(
        "INSERT INTO repair_orders (ticket_id, customer_id, asset_id, station_id, technician_id, status, fault_code, description, scheduled_for, created_at, duration_minutes, \
         appointment_from, appointment_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(r.ticket_id)
    .bind(ticket.customer_id)
    .bind(asset_id)
    .bind(r.station_id)
    .bind(r.technician_id)
    .bind(RepairStatus::New.as_str())
    .bind(r.fault_code.as_deref())
    .bind(&r.description)
    .bind(r.scheduled_for.map(crate::common::trunc))
    .bind(now())
    .bind(i64::from(r.duration_minutes.unwrap_or(90)))
    .bind(r.appointment.map(|a| crate::common::trunc(a.from)))
    .bind(r.appointment.map(|a| crate::common::trunc(a.to)))
    .fetch_one(&mut *c)
    .await
    .map_err(db_err)?;
    for (i, p) in r.parts.iter().enumerate() {
        if !exists(c, "parts", p.part_id).await? {
            return Err(StoreError::invalid(format!("parts[{i}].part_id"), "no such part"));
        }
        sqlx::query::<Db>("INSERT INTO repair_order_parts (repair_order_id, part_id, quantity) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(p.part_id)
            .bind(i64::from(p.quantity))
            .execute(&mut *c)
            .await
            .map_err(db_err)?;
    }
    record_status(c, "repair_order", id, None, RepairStatus::New.as_str(), actor, None).await?;
    audit(c, actor, "create", "repair_order", Some(id), to_json(r)).await?;
    Ok(id)
}

/// A filed call with its ticket and repair order as they stand now.
pub(super) async fn load_wrap_up(
    c: &mut Conn,
    interaction: Interaction,
    ticket_id: Option<i64>,
    repair_order_id: Option<i64>,
    replayed: bool,
) -> StoreResult<WrapUpRecord> {
    let ticket = match ticket_id {
        Some(id) => Some(load_ticket(c, id).await?),
        None => None,
    };
    let repair_order = match repair_order_id {
        Some(id) => Some(load_repair_order(c, id).await?),
        None => None,
    };
    Ok(WrapUpRecord {
        interaction,
        ticket,
        repair_order,
        replayed,
    })
}

#[async_trait]
impl ServiceStore for This {
    async fn create_ticket(&self, actor: Actor, t: &NewTicket) -> StoreResult<Ticket> {
        let mut tx = self.tx().await?;
        let id = insert_ticket(&mut tx, actor, t).await?;
        let out = load_ticket(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn get_ticket(&self, id: i64) -> StoreResult<Ticket> {
        load_ticket(&mut *self.conn().await?, id).await
    }

    async fn update_ticket(&self, actor: Actor, id: i64, p: &TicketPatch) -> StoreResult<Ticket> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "tickets", id, "ticket").await?;
        let cur = load_ticket(&mut tx, id).await?;
        let status = p.status.unwrap_or(cur.status);
        if status != cur.status {
            if !cur.status.next().contains(&status) {
                return Err(transition_error(
                    cur.status.as_str(),
                    status.as_str(),
                    cur.status.next(),
                    TicketStatus::as_str,
                ));
            }
            record_status(
                &mut tx,
                "ticket",
                id,
                Some(cur.status.as_str()),
                status.as_str(),
                actor,
                p.note.as_deref(),
            )
            .await?;
        }
        sqlx::query::<Db>("UPDATE tickets SET status = $1, priority = $2, subject = $3, updated_at = $4 WHERE id = $5")
            .bind(status.as_str())
            .bind(p.priority.unwrap_or(cur.priority).as_str())
            .bind(p.subject.as_ref().map(|s| s.as_str()).unwrap_or(&cur.subject))
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        audit(&mut tx, actor, "update", "ticket", Some(id), to_json(p)).await?;
        let out = load_ticket(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn list_tickets(&self, q: &TicketQuery) -> StoreResult<Vec<Ticket>> {
        let mut c = self.conn().await?;
        let rows = Filter::default()
            .eq_int("customer_id", q.customer_id)
            .eq_str("status", q.status.map(TicketStatus::as_str))
            .fetch(&mut c, TICKET_COLS, "tickets", "id DESC", q.limit)
            .await?;
        load_tickets(&mut c, rows).await
    }

    async fn create_repair_order(&self, actor: Actor, r: &NewRepairOrder) -> StoreResult<RepairOrder> {
        let mut tx = self.tx().await?;
        let id = insert_repair_order(&mut tx, actor, r).await?;
        let out = load_repair_order(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn wrap_up_call(&self, actor: Actor, w: &NewWrapUp) -> StoreResult<WrapUpRecord> {
        let mut tx = self.tx().await?;
        // Claim the call first. A concurrent wrap-up of the same call waits here on the key
        // (PostgreSQL) or on the write lock (SQLite) until this one commits, then replays it.
        let claimed = sqlx::query::<Db>(
            "INSERT INTO wrap_ups (call_id, customer_id, fingerprint, user_id, at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (call_id) DO NOTHING",
        )
        .bind(&w.call_id)
        .bind(w.customer_id)
        .bind(&w.fingerprint)
        .bind(actor.user_id)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if claimed == 0 {
            let row = sqlx::query::<Db>(
                "SELECT fingerprint, interaction_id, ticket_id, repair_order_id FROM wrap_ups WHERE call_id = $1",
            )
            .bind(&w.call_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            if get::<String>(&row, "fingerprint")? != w.fingerprint {
                return Err(StoreError::conflict(
                    "call_id",
                    "this call has been filed already, with other details",
                ));
            }
            let interaction_id: i64 = get(&row, "interaction_id")?;
            let ticket_id: Option<i64> = get(&row, "ticket_id")?;
            let repair_order_id: Option<i64> = get(&row, "repair_order_id")?;
            let interaction = load_interaction(&mut tx, interaction_id).await?;
            return load_wrap_up(&mut tx, interaction, ticket_id, repair_order_id, true).await;
        }
        let ticket_id = match &w.ticket {
            Some(t) => Some(insert_ticket(&mut tx, actor, t).await?),
            None => None,
        };
        let repair_order_id = match (&w.repair_order, ticket_id) {
            (Some(r), Some(ticket_id)) => {
                let r = NewRepairOrder { ticket_id, ..r.clone() };
                Some(insert_repair_order(&mut tx, actor, &r).await?)
            }
            (Some(_), None) => {
                return Err(StoreError::invalid(
                    "subject",
                    "a repair order needs its service request",
                ))
            }
            (None, _) => None,
        };
        let interaction = insert_interaction(&mut tx, actor, w.customer_id, &w.interaction).await?;
        sqlx::query::<Db>(
            "UPDATE wrap_ups SET interaction_id = $1, ticket_id = $2, repair_order_id = $3 WHERE call_id = $4",
        )
        .bind(interaction.id)
        .bind(ticket_id)
        .bind(repair_order_id)
        .bind(&w.call_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let out = load_wrap_up(&mut tx, interaction, ticket_id, repair_order_id, false).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn get_repair_order(&self, id: i64) -> StoreResult<RepairOrder> {
        load_repair_order(&mut *self.conn().await?, id).await
    }

    async fn update_repair_order(&self, actor: Actor, id: i64, p: &RepairOrderPatch) -> StoreResult<RepairOrder> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "repair_orders", id, "repair order").await?;
        let cur = load_repair_order(&mut tx, id).await?;
        if let Some(s) = p.station_id {
            require(&mut tx, "stations", s, "station_id").await?;
        }
        if let Some(t) = p.technician_id {
            require(&mut tx, "technicians", t, "technician_id").await?;
        }
        if let Some(code) = &p.fault_code {
            check_fault_code(&mut tx, cur.asset_id, code).await?;
        }
        let status = p.status.unwrap_or(cur.status);
        let technician = p.technician_id.or(cur.technician_id);
        let started = cur.task_status.is_some_and(crm_core::field::TaskStatus::started);
        if technician != cur.technician_id && started {
            return Err(StoreError::conflict(
                "technician_id",
                "work has started; the order cannot be reassigned",
            ));
        }
        let task_status = task_status_for(status, cur.task_status, technician != cur.technician_id);
        if status != cur.status {
            if !cur.status.next().contains(&status) {
                return Err(transition_error(
                    cur.status.as_str(),
                    status.as_str(),
                    cur.status.next(),
                    RepairStatus::as_str,
                ));
            }
            if status.set_by_task_flow() {
                return Err(StoreError::conflict(
                    "status",
                    format!("{} is set by the technician's task (POST /api/v1/tech/tasks/{{id}}/status), not by editing the order", status.as_str()),
                ));
            }
            if status == RepairStatus::Assigned && technician.is_none() {
                return Err(StoreError::invalid("technician_id", "assigning needs a technician"));
            }
            record_status(
                &mut tx,
                "repair_order",
                id,
                Some(cur.status.as_str()),
                status.as_str(),
                actor,
                p.note.as_deref(),
            )
            .await?;
        }
        sqlx::query::<Db>(
            "UPDATE repair_orders SET status = $1, station_id = $2, technician_id = $3, fault_code = $4, scheduled_for = $5, completed_at = $6, task_status = $7, \
             unassigned_reason = CASE WHEN $3 IS NULL THEN unassigned_reason ELSE NULL END WHERE id = $8",
        )
        .bind(status.as_str())
        .bind(p.station_id.or(cur.station_id))
        .bind(technician)
        .bind(p.fault_code.as_deref().or(cur.fault_code.as_deref()))
        .bind(p.scheduled_for.map(crate::common::trunc).or(cur.scheduled_for))
        .bind(cur.completed_at)
        .bind(task_status.map(crm_core::field::TaskStatus::as_str))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "update", "repair_order", Some(id), to_json(p)).await?;
        let out = load_repair_order(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn list_repair_orders(&self, q: &RepairOrderQuery) -> StoreResult<Vec<RepairOrder>> {
        let mut c = self.conn().await?;
        let rows = Filter::default()
            .eq_int("customer_id", q.customer_id)
            .eq_int("station_id", q.station_id)
            .eq_int("technician_id", q.technician_id)
            .eq_str("status", q.status.map(RepairStatus::as_str))
            .fetch(&mut c, RO_COLS, "repair_orders", "id DESC", q.limit)
            .await?;
        load_repair_orders(&mut c, rows).await
    }

    async fn create_complaint(&self, actor: Actor, k: &NewComplaint) -> StoreResult<Complaint> {
        let mut tx = self.tx().await?;
        require(&mut tx, "customers", k.customer_id, "customer_id").await?;
        if let Some(t) = k.ticket_id {
            require(&mut tx, "tickets", t, "ticket_id").await?;
        }
        if let Some(r) = k.repair_order_id {
            require(&mut tx, "repair_orders", r, "repair_order_id").await?;
        }
        let owner = match k.owner_user_id {
            Some(u) => {
                require(&mut tx, "users", u, "owner_user_id").await?;
                Some(u)
            }
            None => pick_complaint_owner(&mut tx).await?,
        };
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO complaints (customer_id, ticket_id, repair_order_id, category, status, description, owner_user_id, due_on, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(k.customer_id)
        .bind(k.ticket_id)
        .bind(k.repair_order_id)
        .bind(k.category.as_str())
        .bind(ComplaintStatus::Open.as_str())
        .bind(k.description.as_str())
        .bind(owner)
        .bind(k.due_on)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "create", "complaint", Some(id), to_json(k)).await?;
        let out = load_complaint(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn get_complaint(&self, id: i64) -> StoreResult<Complaint> {
        load_complaint(&mut *self.conn().await?, id).await
    }

    async fn update_complaint(&self, actor: Actor, id: i64, p: &ComplaintPatch) -> StoreResult<Complaint> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "complaints", id, "complaint").await?;
        let cur = load_complaint(&mut tx, id).await?;
        let status = p.status.unwrap_or(cur.status);
        if status != cur.status && !cur.status.next().contains(&status) {
            return Err(transition_error(
                cur.status.as_str(),
                status.as_str(),
                cur.status.next(),
                ComplaintStatus::as_str,
            ));
        }
        if let Some(u) = p.owner_user_id {
            require(&mut tx, "users", u, "owner_user_id").await?;
        }
        sqlx::query::<Db>(
            "UPDATE complaints SET status = $1, owner_user_id = $2, due_on = $3, resolution = $4 WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(p.owner_user_id.or(cur.owner_user_id))
        .bind(p.due_on.or(cur.due_on))
        .bind(p.resolution.as_ref().map(|r| r.as_str().to_string()).or(cur.resolution))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "update", "complaint", Some(id), to_json(p)).await?;
        let out = load_complaint(&mut tx, id).await?;
        // Resolved: a follow-up call asks the customer whether it is settled for them.
        if status == ComplaintStatus::Resolved && cur.status != ComplaintStatus::Resolved {
            let at = now();
            let task = crm_core::care::NewAgentTask {
                kind: crm_core::care::AgentTaskKind::ComplaintFollowUp,
                source: crm_core::care::follow_up_source(id),
                campaign_id: None,
                customer_id: Some(out.customer_id),
                repair_order_id: out.repair_order_id,
                complaint_id: Some(id),
                asset_id: None,
                summary: format!(
                    "Complaint {id} was resolved: call the customer to check it is settled for them, then close it."
                ),
                callback_number: None,
                cdr_id: None,
                due_at: at + chrono::Duration::days(crm_core::care::FOLLOW_UP_DAYS),
            };
            raise(&mut tx, &task, at).await?;
        }
        commit(tx).await?;
        Ok(out)
    }

    async fn list_complaints(&self, customer_id: Option<i64>, limit: u32) -> StoreResult<Vec<Complaint>> {
        let rows = Filter::default()
            .eq_int("customer_id", customer_id)
            .fetch(&mut *self.conn().await?, COMPLAINT_COLS, "complaints", "id DESC", limit)
            .await?;
        rows.iter().map(complaint_from_row).collect()
    }

    async fn search_complaints(&self, q: &crm_core::reports::ComplaintQuery) -> StoreResult<Vec<Complaint>> {
        let cols: Vec<String> = COMPLAINT_COLS.split(", ").map(|c| format!("c.{c}")).collect();
        let rows = Filter::default()
            .eq_int("c.customer_id", q.customer_id)
            .eq_str("c.status", q.status.map(ComplaintStatus::as_str))
            .eq_int("c.owner_user_id", q.owner_user_id)
            .eq_str("c.category", q.category.map(ComplaintCategory::as_str))
            .eq_int("ro.station_id", q.station_id)
            .eq_int("a.model_id", q.model_id)
            .with(
                "c.status IN ('open', 'in_progress') AND c.due_on < ?",
                q.overdue_on.map(Bind::Day),
            )
            .fetch(
                &mut *self.conn().await?,
                &cols.join(", "),
                "complaints c LEFT JOIN repair_orders ro ON ro.id = c.repair_order_id \
                 LEFT JOIN tickets t ON t.id = c.ticket_id LEFT JOIN assets a ON a.id = COALESCE(ro.asset_id, t.asset_id)",
                "c.id DESC",
                q.limit,
            )
            .await?;
        rows.iter().map(complaint_from_row).collect()
    }

    async fn complaints_report(
        &self,
        period: crm_core::reports::Period,
        by: crm_core::reports::ComplaintsBy,
        stations: Option<&[i64]>,
        today: NaiveDate,
    ) -> StoreResult<Vec<crm_core::reports::ComplaintsRow>> {
        use crm_core::reports::{ComplaintsBy, ComplaintsRow};
        let (start, end) = period.bounds();
        let among = among_stations("ro.station_id", stations);
        let (key, label, join) = match by {
            ComplaintsBy::Cause => ("c.category", "c.category", ""),
            ComplaintsBy::Station => (
                "CAST(ro.station_id AS TEXT)",
                "st.name",
                "JOIN stations st ON st.id = ro.station_id",
            ),
            ComplaintsBy::Model => (
                "CAST(a.model_id AS TEXT)",
                "m.name",
                "JOIN product_models m ON m.id = a.model_id",
            ),
        };
        let sql = format!(
            "SELECT {key} AS k, {label} AS label, COUNT(*) AS complaints, \
             CAST(SUM(CASE WHEN c.status IN ('open', 'in_progress') THEN 1 ELSE 0 END) AS BIGINT) AS open, \
             CAST(SUM(CASE WHEN c.status IN ('open', 'in_progress') AND c.due_on < $3 THEN 1 ELSE 0 END) AS BIGINT) AS overdue \
             FROM complaints c LEFT JOIN repair_orders ro ON ro.id = c.repair_order_id \
             LEFT JOIN tickets t ON t.id = c.ticket_id LEFT JOIN assets a ON a.id = COALESCE(ro.asset_id, t.asset_id) {join} \
             WHERE c.created_at >= $1 AND c.created_at < $2{among} GROUP BY {key}, {label} ORDER BY complaints DESC, k"
        );
        let mut c = self.conn().await?;
        let rows = sqlx::query::<Db>(&sql)
            .bind(start)
            .bind(end)
            .bind(today)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        // The repairs completed in the period, per station or model, for the rates.
        let repairs: std::collections::HashMap<String, i64> = match by {
            ComplaintsBy::Cause => Default::default(),
            ComplaintsBy::Station | ComplaintsBy::Model => {
                let col = if by == ComplaintsBy::Station {
                    "f.station_id"
                } else {
                    "f.model_id"
                };
                let among = among_stations("f.station_id", stations);
                let sql = format!(
                    "SELECT CAST({col} AS TEXT) AS k, COUNT(*) AS n FROM repair_facts f \
                     WHERE f.completed_on >= $1 AND f.completed_on <= $2 AND {col} IS NOT NULL{among} GROUP BY {col}"
                );
                sqlx::query::<Db>(&sql)
                    .bind(period.from)
                    .bind(period.to)
                    .fetch_all(&mut *c)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(|r| Ok((get::<String>(r, "k")?, get::<i64>(r, "n")?)))
                    .collect::<StoreResult<_>>()?
            }
        };
        rows.iter()
            .map(|r| {
                let key: String = get(r, "k")?;
                let complaints: i64 = get(r, "complaints")?;
                let n = (by != ComplaintsBy::Cause).then(|| repairs.get(&key).copied().unwrap_or(0));
                Ok(ComplaintsRow {
                    label: get(r, "label")?,
                    complaints,
                    open: get(r, "open")?,
                    overdue: get(r, "overdue")?,
                    repairs: n,
                    per_100_repairs: n.and_then(|n| ComplaintsRow::rate(complaints, n)),
                    key,
                })
            })
            .collect()
    }

    async fn escalate_overdue_complaints(
        &self,
        actor: Actor,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Complaint>> {
        let mut tx = self.tx().await?;
        let sql = format!(
            "UPDATE complaints SET escalated_at = $1 WHERE status IN ('open', 'in_progress') AND due_on < $2 \
             AND escalated_at IS NULL RETURNING {COMPLAINT_COLS}"
        );
        let rows = sqlx::query::<Db>(&sql)
            .bind(crate::common::trunc(now))
            .bind(today)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let mut out = rows.iter().map(complaint_from_row).collect::<StoreResult<Vec<_>>>()?;
        for k in &out {
            audit(
                &mut tx,
                actor,
                "escalate",
                "complaint",
                Some(k.id),
                serde_json::json!({"due_on": k.due_on}),
            )
            .await?;
            let task = crm_core::care::NewAgentTask {
                kind: crm_core::care::AgentTaskKind::ComplaintEscalated,
                source: crm_core::care::escalation_source(k.id),
                campaign_id: None,
                customer_id: Some(k.customer_id),
                repair_order_id: k.repair_order_id,
                complaint_id: Some(k.id),
                asset_id: None,
                summary: format!(
                    "Complaint {} ({}) is open past its due date {}.",
                    k.id,
                    k.category.as_str(),
                    k.due_on.map(|d| d.to_string()).unwrap_or_default()
                ),
                callback_number: None,
                cdr_id: None,
                due_at: now,
            };
            raise(&mut tx, &task, now).await?;
        }
        commit(tx).await?;
        out.sort_by_key(|k| k.id);
        Ok(out)
    }
}

// ------------------------------------------------------------------------------------ network
