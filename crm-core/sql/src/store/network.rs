//! `NetworkStore`: stations, technicians and stock levels.

use super::*;

pub(super) const STATION_COLS: &str =
    "id, name, city, lat, lon, time_zone, skills, capacity_per_day, opening_hours, rating, status, status_reason, region, partner";
pub(super) const TECH_COLS: &str = "id, station_id, name, skills, shifts, lat, lon, rating";

pub(super) fn stock_level_from_row(r: &Row) -> StoreResult<StockLevel> {
    let quantity: i64 = get(r, "quantity")?;
    let safety_stock = get_u32(r, "safety_stock")?;
    Ok(StockLevel {
        station_id: get(r, "station_id")?,
        part_id: get(r, "part_id")?,
        sku: get(r, "sku")?,
        name: get(r, "name")?,
        quantity,
        safety_stock,
        below_safety_stock: quantity < i64::from(safety_stock),
    })
}

pub(super) async fn load_station(c: &mut Conn, id: i64) -> StoreResult<Station> {
    let sql = format!("SELECT {STATION_COLS} FROM stations WHERE id = $1");
    let r = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::not_found("station"))?;
    station_from_row(&r)
}

pub(super) fn station_from_row(r: &Row) -> StoreResult<Station> {
    let tz: String = get(r, "time_zone")?;
    let skills: String = get(r, "skills")?;
    let hours: String = get(r, "opening_hours")?;
    let status: String = get(r, "status")?;
    let partner: String = get(r, "partner")?;
    Ok(Station {
        id: get(r, "id")?,
        name: get(r, "name")?,
        city: get(r, "city")?,
        status: decode(StationStatus::parse(&status), "status")?,
        status_reason: get(r, "status_reason")?,
        region: get(r, "region")?,
        partner: json_col(&partner, "partner")?,
        location: get_point(r)?.ok_or_else(|| StoreError::Backend("station without location".into()))?,
        time_zone: decode(TimeZone::parse(&tz), "time_zone")?,
        skills: json_col(&skills, "skills")?,
        capacity_per_day: get_u32(r, "capacity_per_day")?,
        opening_hours: json_col(&hours, "opening_hours")?,
        rating: get(r, "rating")?,
    })
}

pub(super) async fn load_technician(c: &mut Conn, id: i64) -> StoreResult<Technician> {
    let sql = format!("SELECT {TECH_COLS} FROM technicians WHERE id = $1");
    let r = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::not_found("technician"))?;
    technician_from_row(&r)
}

pub(super) fn technician_from_row(r: &Row) -> StoreResult<Technician> {
    let skills: String = get(r, "skills")?;
    let shifts: String = get(r, "shifts")?;
    Ok(Technician {
        id: get(r, "id")?,
        station_id: get(r, "station_id")?,
        name: get(r, "name")?,
        skills: json_col(&skills, "skills")?,
        shifts: json_col(&shifts, "shifts")?,
        location: get_point(r)?,
        rating: get(r, "rating")?,
    })
}

/// Give a station's open orders that are not started back to dispatch (no station, no
/// technician, `new`, the reason as why they are unassigned). Returns their ids.
pub(super) async fn release_station_orders(
    c: &mut Conn,
    actor: Actor,
    station_id: i64,
    why: &str,
) -> StoreResult<Vec<i64>> {
    let rows = sqlx::query::<Db>(&format!(
        "SELECT id, status FROM repair_orders WHERE station_id = $1 AND status IN ('new', 'assigned') \
         AND (task_status IS NULL OR task_status IN ('assigned', 'accepted')) ORDER BY id {FOR_UPDATE}"
    ))
    .bind(station_id)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    let mut ids = vec![];
    for r in &rows {
        let id: i64 = get(r, "id")?;
        release_order(c, actor, id, &get::<String>(r, "status")?, why).await?;
        ids.push(id);
    }
    Ok(ids)
}

/// One order back to dispatch: `new`, no station, technician, plan or acceptance; `why` is its
/// status history's note and why it is unassigned.
async fn release_order(c: &mut Conn, actor: Actor, id: i64, status: &str, why: &str) -> StoreResult<()> {
    if status != "new" {
        record_status(c, "repair_order", id, Some(status), "new", actor, Some(why)).await?;
    }
    sqlx::query::<Db>(
        "UPDATE repair_orders SET status = 'new', station_id = NULL, technician_id = NULL, route_seq = NULL, \
         task_status = NULL, scheduled_for = NULL, station_accepted_at = NULL, unassigned_reason = $1 WHERE id = $2",
    )
    .bind(why)
    .bind(id)
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl NetworkStore for This {
    async fn create_station(&self, actor: Actor, s: &NewStation) -> StoreResult<Station> {
        s.validate()?;
        let mut tx = self.tx().await?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO stations (name, city, lat, lon, time_zone, skills, capacity_per_day, opening_hours, rating, \
             status, region, partner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $11) RETURNING id",
        )
        .bind(s.name.as_str())
        .bind(s.city.as_str())
        .bind(s.location.lat)
        .bind(s.location.lon)
        .bind(s.time_zone.as_str())
        .bind(to_json(&s.skills).to_string())
        .bind(i64::from(s.capacity_per_day))
        .bind(to_json(&s.opening_hours).to_string())
        .bind(s.status.as_str())
        .bind(s.region.as_ref().map(|r| r.as_str()))
        .bind(to_json(&s.partner).to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "create", "station", Some(id), to_json(s)).await?;
        commit(tx).await?;
        self.get_station(id).await
    }

    async fn get_station(&self, id: i64) -> StoreResult<Station> {
        load_station(&mut *self.conn().await?, id).await
    }

    async fn update_station(&self, actor: Actor, id: i64, p: &StationPatch) -> StoreResult<Station> {
        p.validate()?;
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "stations", id, "station").await?;
        let cur = load_station(&mut tx, id).await?;
        sqlx::query::<Db>(
            "UPDATE stations SET name = $1, skills = $2, capacity_per_day = $3, opening_hours = $4, rating = $5, region = $6, \
             partner = $7 WHERE id = $8",
        )
            .bind(p.name.as_ref().map(|n| n.as_str()).unwrap_or(&cur.name))
            .bind(to_json(p.skills.as_ref().unwrap_or(&cur.skills)).to_string())
            .bind(i64::from(p.capacity_per_day.unwrap_or(cur.capacity_per_day)))
            .bind(to_json(p.opening_hours.as_ref().unwrap_or(&cur.opening_hours)).to_string())
            .bind(p.rating.unwrap_or(cur.rating))
            .bind(p.region.as_ref().map(|r| r.as_str().to_string()).or(cur.region))
            .bind(to_json(p.partner.as_ref().unwrap_or(&cur.partner)).to_string())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        audit(&mut tx, actor, "update", "station", Some(id), to_json(p)).await?;
        commit(tx).await?;
        self.get_station(id).await
    }

    async fn set_station_status(
        &self,
        actor: Actor,
        id: i64,
        ch: &StationStatusChange,
    ) -> StoreResult<StationStatusChanged> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "stations", id, "station").await?;
        let cur = load_station(&mut tx, id).await?;
        if cur.status == ch.status {
            // A repeated click: the station is there already.
            commit(tx).await?;
            return Ok(StationStatusChanged {
                station: cur,
                released_orders: vec![],
            });
        }
        ch.check(cur.status)
            .map_err(|e| StoreError::conflict(e.field, e.message))?;
        let reason = ch.reason.as_ref().map(|r| r.as_str());
        sqlx::query::<Db>("UPDATE stations SET status = $1, status_reason = COALESCE($2, status_reason) WHERE id = $3")
            .bind(ch.status.as_str())
            .bind(reason)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // A station that stops taking work gives back the orders not started yet, with the
        // reason; started work stays with its technician to finish.
        let mut released = vec![];
        if !ch.status.takes_work() {
            let why = format!(
                "station {}: {}",
                ch.status.as_str(),
                reason.unwrap_or("no reason given")
            );
            released = release_station_orders(&mut tx, actor, id, &why).await?;
        }
        audit(
            &mut tx,
            actor,
            "status",
            "station",
            Some(id),
            serde_json::json!({"from": cur.status, "to": ch.status, "reason": reason, "released_orders": released}),
        )
        .await?;
        let station = load_station(&mut tx, id).await?;
        commit(tx).await?;
        Ok(StationStatusChanged {
            station,
            released_orders: released,
        })
    }

    async fn accept_order(
        &self,
        actor: Actor,
        station_id: i64,
        id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<RepairOrder> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "repair_orders", id, "repair order").await?;
        let cur = load_repair_order(&mut tx, id).await?;
        let open = matches!(
            cur.status,
            RepairStatus::New | RepairStatus::Assigned | RepairStatus::InProgress
        );
        if cur.station_id != Some(station_id) || !open {
            return Err(StoreError::not_found("repair order"));
        }
        if cur.station_accepted_at.is_none() {
            sqlx::query::<Db>("UPDATE repair_orders SET station_accepted_at = $1 WHERE id = $2")
                .bind(trunc(now))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            audit(
                &mut tx,
                actor,
                "accept",
                "repair_order",
                Some(id),
                serde_json::json!({"station_id": station_id}),
            )
            .await?;
        }
        let out = load_repair_order(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn decline_order(
        &self,
        actor: Actor,
        station_id: i64,
        id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<RepairOrder> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "repair_orders", id, "repair order").await?;
        let cur = load_repair_order(&mut tx, id).await?;
        let open = matches!(
            cur.status,
            RepairStatus::New | RepairStatus::Assigned | RepairStatus::InProgress
        );
        if cur.station_id != Some(station_id) || !open {
            return Err(StoreError::not_found("repair order"));
        }
        if cur.status == RepairStatus::InProgress || cur.task_status.is_some_and(crm_core::field::TaskStatus::started) {
            return Err(StoreError::conflict(
                "status",
                "work has started; the order stays with its technician",
            ));
        }
        let station = load_station(&mut tx, station_id).await?;
        let why = format!("declined by {}: {reason}", station.name);
        sqlx::query::<Db>(
            "INSERT INTO station_declines (repair_order_id, station_id, reason, declined_by, at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (repair_order_id, station_id) DO NOTHING",
        )
        .bind(id)
        .bind(station_id)
        .bind(reason)
        .bind(actor.user_id)
        .bind(trunc(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        release_order(&mut tx, actor, id, cur.status.as_str(), &why).await?;
        audit(
            &mut tx,
            actor,
            "decline",
            "repair_order",
            Some(id),
            serde_json::json!({"station_id": station_id, "reason": reason}),
        )
        .await?;
        let out = load_repair_order(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn declined_stations(&self, id: i64) -> StoreResult<Vec<i64>> {
        sqlx::query_scalar::<Db, i64>(
            "SELECT station_id FROM station_declines WHERE repair_order_id = $1 ORDER BY station_id",
        )
        .bind(id)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)
    }

    async fn list_stations(&self) -> StoreResult<Vec<Station>> {
        let sql = format!("SELECT {STATION_COLS} FROM stations ORDER BY id");
        let rows = sqlx::query::<Db>(&sql)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(station_from_row).collect()
    }

    async fn create_technician(&self, actor: Actor, t: &NewTechnician) -> StoreResult<Technician> {
        let mut tx = self.tx().await?;
        require(&mut tx, "stations", t.station_id, "station_id").await?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO technicians (station_id, name, skills, shifts, lat, lon, rating) VALUES ($1, $2, $3, $4, $5, $6, 0) RETURNING id",
        )
        .bind(t.station_id)
        .bind(t.name.as_str())
        .bind(to_json(&t.skills).to_string())
        .bind(to_json(&t.shifts).to_string())
        .bind(t.location.map(|p| p.lat))
        .bind(t.location.map(|p| p.lon))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "create", "technician", Some(id), to_json(t)).await?;
        commit(tx).await?;
        self.get_technician(id).await
    }

    async fn get_technician(&self, id: i64) -> StoreResult<Technician> {
        load_technician(&mut *self.conn().await?, id).await
    }

    async fn update_technician(&self, actor: Actor, id: i64, p: &TechnicianPatch) -> StoreResult<Technician> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "technicians", id, "technician").await?;
        let cur = load_technician(&mut tx, id).await?;
        if let Some(s) = p.station_id {
            require(&mut tx, "stations", s, "station_id").await?;
        }
        let loc = p.location.or(cur.location);
        sqlx::query::<Db>(
            "UPDATE technicians SET station_id = $1, skills = $2, shifts = $3, lat = $4, lon = $5 WHERE id = $6",
        )
        .bind(p.station_id.unwrap_or(cur.station_id))
        .bind(to_json(p.skills.as_ref().unwrap_or(&cur.skills)).to_string())
        .bind(to_json(p.shifts.as_ref().unwrap_or(&cur.shifts)).to_string())
        .bind(loc.map(|l| l.lat))
        .bind(loc.map(|l| l.lon))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "update", "technician", Some(id), to_json(p)).await?;
        commit(tx).await?;
        self.get_technician(id).await
    }

    async fn list_technicians(&self, station_id: Option<i64>) -> StoreResult<Vec<Technician>> {
        let rows = Filter::default()
            .eq_int("station_id", station_id)
            .fetch(&mut *self.conn().await?, TECH_COLS, "technicians", "id", u32::MAX)
            .await?;
        rows.iter().map(technician_from_row).collect()
    }

    async fn record_stock_movement(
        &self,
        actor: Actor,
        station_id: i64,
        m: &NewStockMovement,
    ) -> StoreResult<StockMovement> {
        let mut tx = self.tx().await?;
        require_found(&mut tx, "stations", station_id, "station").await?;
        require(&mut tx, "parts", m.part_id, "part_id").await?;
        let (id, at) = ledger(
            &mut tx,
            actor,
            station_id,
            m.part_id,
            m.delta,
            m.reason,
            m.reference.as_str(),
            "delta",
        )
        .await?;
        audit(&mut tx, actor, "create", "stock_movement", Some(id), to_json(m)).await?;
        commit(tx).await?;
        Ok(StockMovement {
            id,
            station_id,
            part_id: m.part_id,
            delta: m.delta,
            reason: m.reason,
            reference: m.reference.as_str().to_string(),
            at,
            user_id: actor.user_id,
        })
    }

    async fn stock_levels(&self, station_id: i64) -> StoreResult<Vec<StockLevel>> {
        let mut c = self.conn().await?;
        require_found(&mut c, "stations", station_id, "station").await?;
        let rows = sqlx::query::<Db>(
            "SELECT s.station_id, s.part_id, p.sku, p.name, s.quantity, COALESCE(s.safety_stock, p.safety_stock) AS safety_stock FROM station_stock s \
             JOIN parts p ON p.id = s.part_id WHERE s.station_id = $1 ORDER BY p.sku",
        )
        .bind(station_id)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        rows.iter().map(stock_level_from_row).collect()
    }

    async fn stock_movements(&self, station_id: i64, limit: u32) -> StoreResult<Vec<StockMovement>> {
        let mut c = self.conn().await?;
        require_found(&mut c, "stations", station_id, "station").await?;
        let rows = sqlx::query::<Db>(
            "SELECT id, station_id, part_id, delta, reason, reference, at, user_id FROM stock_movements WHERE station_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(station_id)
        .bind(i64::from(limit))
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let reason: String = get(r, "reason")?;
                Ok(StockMovement {
                    id: get(r, "id")?,
                    station_id: get(r, "station_id")?,
                    part_id: get(r, "part_id")?,
                    delta: get(r, "delta")?,
                    reason: decode(StockReason::parse(&reason), "reason")?,
                    reference: get(r, "reference")?,
                    at: get(r, "at")?,
                    user_id: get(r, "user_id")?,
                })
            })
            .collect()
    }
}

// ------------------------------------------------------------------------------------ users
