//! `SupplyStore`: warehouses and their ledger, per-station safety stock, parts orders and the
//! replenishment facts. Each step of an order locks the order's row, moves the stock it moves
//! (the warehouse's on shipping, the station's on receiving) and writes its audit entry in one
//! transaction.

use super::*;
use crm_core::supply::*;

const ORDER_COLS: &str =
    "id, station_id, warehouse_id, status, request_key, repair_order_id, note, carrier, tracking, \
     requested_by, requested_at, approved_by, shipped_at, received_at";

fn warehouse_from_row(r: &Row) -> StoreResult<Warehouse> {
    Ok(Warehouse {
        id: get(r, "id")?,
        name: get(r, "name")?,
        city: get(r, "city")?,
        location: get_point(r)?.ok_or_else(|| StoreError::Backend("warehouse without location".into()))?,
    })
}

async fn load_order(c: &mut Conn, id: i64) -> StoreResult<PartsOrder> {
    let r = sqlx::query::<Db>(&format!("SELECT {ORDER_COLS} FROM parts_orders WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::not_found("parts order"))?;
    let status: String = get(&r, "status")?;
    let lines = sqlx::query::<Db>(
        "SELECT l.part_id, p.sku, p.name, l.quantity, l.shipped, l.received, l.difference_note FROM parts_order_lines l \
         JOIN parts p ON p.id = l.part_id WHERE l.order_id = $1 ORDER BY l.part_id",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?
    .iter()
    .map(|l| {
        Ok(PartsOrderLine {
            part_id: get(l, "part_id")?,
            sku: get(l, "sku")?,
            name: get(l, "name")?,
            quantity: get_u32(l, "quantity")?,
            shipped: get_opt_u32(l, "shipped")?,
            received: get_opt_u32(l, "received")?,
            difference_note: get(l, "difference_note")?,
        })
    })
    .collect::<StoreResult<Vec<_>>>()?;
    Ok(PartsOrder {
        id: get(&r, "id")?,
        station_id: get(&r, "station_id")?,
        warehouse_id: get(&r, "warehouse_id")?,
        status: decode(PartsOrderStatus::parse(&status), "status")?,
        request_key: get(&r, "request_key")?,
        repair_order_id: get(&r, "repair_order_id")?,
        note: get(&r, "note")?,
        carrier: get(&r, "carrier")?,
        tracking: get(&r, "tracking")?,
        lines,
        requested_by: get(&r, "requested_by")?,
        requested_at: get(&r, "requested_at")?,
        approved_by: get(&r, "approved_by")?,
        shipped_at: get(&r, "shipped_at")?,
        received_at: get(&r, "received_at")?,
    })
}

/// One movement in a warehouse's ledger; refuses (`Conflict` on `delta`) what would take it
/// below zero.
async fn warehouse_move(c: &mut Conn, warehouse_id: i64, m: &NewWarehouseMovement) -> StoreResult<()> {
    let cur = sqlx::query_scalar::<Db, i64>(&format!(
        "SELECT quantity FROM warehouse_stock WHERE warehouse_id = $1 AND part_id = $2 {FOR_UPDATE}"
    ))
    .bind(warehouse_id)
    .bind(m.part_id)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_err)?
    .unwrap_or(0);
    if cur + m.delta < 0 {
        return Err(StoreError::conflict(
            "delta",
            format!(
                "the warehouse holds {cur} of part {}; it cannot give {}",
                m.part_id, -m.delta
            ),
        ));
    }
    // A new row starts at 0 (the CHECK sees the row as inserted), then takes the movement.
    sqlx::query::<Db>(
        "INSERT INTO warehouse_stock (warehouse_id, part_id, quantity) VALUES ($1, $2, 0) \
         ON CONFLICT (warehouse_id, part_id) DO NOTHING",
    )
    .bind(warehouse_id)
    .bind(m.part_id)
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    sqlx::query::<Db>("UPDATE warehouse_stock SET quantity = quantity + $1 WHERE warehouse_id = $2 AND part_id = $3")
        .bind(m.delta)
        .bind(warehouse_id)
        .bind(m.part_id)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    sqlx::query::<Db>(
        "INSERT INTO warehouse_movements (warehouse_id, part_id, delta, reason, reference, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(warehouse_id)
    .bind(m.part_id)
    .bind(m.delta)
    .bind(m.reason.as_str())
    .bind(m.reference.as_str())
    .bind(now())
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn set_order_status(c: &mut Conn, id: i64, from: PartsOrderStatus, to: PartsOrderStatus) -> StoreResult<()> {
    if !from.can_become(to) {
        return Err(StoreError::conflict(
            "status",
            format!("a {} parts order cannot become {}", from.as_str(), to.as_str()),
        ));
    }
    sqlx::query::<Db>("UPDATE parts_orders SET status = $1 WHERE id = $2")
        .bind(to.as_str())
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl SupplyStore for This {
    async fn create_warehouse(&self, actor: Actor, w: &NewWarehouse) -> StoreResult<Warehouse> {
        let mut tx = self.tx().await?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO warehouses (name, city, lat, lon) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(w.name.as_str())
        .bind(w.city.as_str())
        .bind(w.location.lat)
        .bind(w.location.lon)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "create", "warehouse", Some(id), to_json(w)).await?;
        commit(tx).await?;
        Ok(self
            .list_warehouses()
            .await?
            .into_iter()
            .find(|x| x.id == id)
            .ok_or(StoreError::not_found("warehouse"))?)
    }

    async fn list_warehouses(&self) -> StoreResult<Vec<Warehouse>> {
        let rows = sqlx::query::<Db>("SELECT id, name, city, lat, lon FROM warehouses ORDER BY id")
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(warehouse_from_row).collect()
    }

    async fn record_warehouse_movement(
        &self,
        actor: Actor,
        warehouse_id: i64,
        m: &NewWarehouseMovement,
    ) -> StoreResult<WarehouseStock> {
        m.validate()?;
        let mut tx = self.tx().await?;
        require_found(&mut tx, "warehouses", warehouse_id, "warehouse").await?;
        require(&mut tx, "parts", m.part_id, "part_id").await?;
        warehouse_move(&mut tx, warehouse_id, m).await?;
        audit(&mut tx, actor, "stock", "warehouse", Some(warehouse_id), to_json(m)).await?;
        commit(tx).await?;
        self.warehouse_stock(warehouse_id)
            .await?
            .into_iter()
            .find(|s| s.part_id == m.part_id)
            .ok_or(StoreError::not_found("warehouse stock"))
    }

    async fn warehouse_stock(&self, warehouse_id: i64) -> StoreResult<Vec<WarehouseStock>> {
        let mut c = self.conn().await?;
        require_found(&mut c, "warehouses", warehouse_id, "warehouse").await?;
        let rows = sqlx::query::<Db>(
            "SELECT s.warehouse_id, s.part_id, p.sku, p.name, s.quantity FROM warehouse_stock s JOIN parts p ON p.id = s.part_id \
             WHERE s.warehouse_id = $1 ORDER BY p.sku",
        )
        .bind(warehouse_id)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(WarehouseStock {
                    warehouse_id: get(r, "warehouse_id")?,
                    part_id: get(r, "part_id")?,
                    sku: get(r, "sku")?,
                    name: get(r, "name")?,
                    quantity: get(r, "quantity")?,
                })
            })
            .collect()
    }

    async fn set_safety_stock(&self, actor: Actor, station_id: i64, s: &SafetyStock) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        require_found(&mut tx, "stations", station_id, "station").await?;
        require(&mut tx, "parts", s.part_id, "part_id").await?;
        if s.level.is_some_and(|l| l > 100_000) {
            return Err(StoreError::invalid("level", "at most 100000"));
        }
        sqlx::query::<Db>(
            "INSERT INTO station_stock (station_id, part_id, quantity, safety_stock) VALUES ($1, $2, 0, $3) \
             ON CONFLICT (station_id, part_id) DO UPDATE SET safety_stock = $3",
        )
        .bind(station_id)
        .bind(s.part_id)
        .bind(s.level.map(i64::from))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "safety_stock", "station", Some(station_id), to_json(s)).await?;
        commit(tx).await
    }

    async fn request_parts(
        &self,
        actor: Actor,
        n: &NewPartsOrder,
        repair_order_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<(PartsOrder, bool)> {
        n.validate()?;
        let mut tx = self.tx().await?;
        // The station's row orders concurrent requests: a resubmission waits, then finds the first.
        match lock_row(&mut tx, "stations", n.station_id, "station").await {
            Err(StoreError::NotFound { .. }) => {
                return Err(StoreError::invalid(
                    "station_id",
                    format!("no station with id {}", n.station_id),
                ))
            }
            other => other?,
        }
        if let Some(key) = &n.request_key {
            if let Some(id) =
                sqlx::query_scalar::<Db, i64>("SELECT id FROM parts_orders WHERE station_id = $1 AND request_key = $2")
                    .bind(n.station_id)
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
            {
                let o = load_order(&mut tx, id).await?;
                commit(tx).await?;
                return Ok((o, true));
            }
        }
        require(&mut tx, "warehouses", n.warehouse_id, "warehouse_id").await?;
        for (i, l) in n.lines.iter().enumerate() {
            if !exists(&mut tx, "parts", l.part_id).await? {
                return Err(StoreError::invalid(
                    format!("lines[{i}].part_id"),
                    format!("no part with id {}", l.part_id),
                ));
            }
        }
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO parts_orders (station_id, warehouse_id, status, request_key, repair_order_id, note, requested_by, requested_at) \
             VALUES ($1, $2, 'requested', $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(n.station_id)
        .bind(n.warehouse_id)
        .bind(&n.request_key)
        .bind(repair_order_id)
        .bind(n.note.as_ref().map(|t| t.as_str()))
        .bind(actor.user_id)
        .bind(trunc(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        for l in &n.lines {
            sqlx::query::<Db>("INSERT INTO parts_order_lines (order_id, part_id, quantity) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(l.part_id)
                .bind(i64::from(l.quantity))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        audit(&mut tx, actor, "create", "parts_order", Some(id), to_json(n)).await?;
        let o = load_order(&mut tx, id).await?;
        commit(tx).await?;
        Ok((o, false))
    }

    async fn parts_order(&self, id: i64) -> StoreResult<PartsOrder> {
        load_order(&mut *self.conn().await?, id).await
    }

    async fn list_parts_orders(
        &self,
        stations: Option<&[i64]>,
        open_only: bool,
        limit: u32,
    ) -> StoreResult<Vec<PartsOrder>> {
        let mut c = self.conn().await?;
        let mut sql = "SELECT id FROM parts_orders WHERE 1 = 1".to_string();
        if let Some(ids) = stations {
            if ids.is_empty() {
                return Ok(vec![]);
            }
            sql.push_str(&format!(" AND station_id IN ({})", placeholders(1, ids.len())));
        }
        if open_only {
            sql.push_str(" AND status IN ('requested', 'approved', 'shipped')");
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit.min(1_000)));
        let mut q = sqlx::query_scalar::<Db, i64>(&sql);
        for id in stations.unwrap_or(&[]) {
            q = q.bind(id);
        }
        let ids = q.fetch_all(&mut *c).await.map_err(db_err)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(load_order(&mut c, id).await?);
        }
        Ok(out)
    }

    async fn approve_parts_order(&self, actor: Actor, id: i64, _now: DateTime<Utc>) -> StoreResult<PartsOrder> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "parts_orders", id, "parts order").await?;
        let cur = load_order(&mut tx, id).await?;
        if cur.status == PartsOrderStatus::Approved {
            commit(tx).await?;
            return Ok(cur);
        }
        set_order_status(&mut tx, id, cur.status, PartsOrderStatus::Approved).await?;
        sqlx::query::<Db>("UPDATE parts_orders SET approved_by = $1 WHERE id = $2")
            .bind(actor.user_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        audit(
            &mut tx,
            actor,
            "approve",
            "parts_order",
            Some(id),
            serde_json::json!({}),
        )
        .await?;
        let out = load_order(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn ship_parts_order(
        &self,
        actor: Actor,
        id: i64,
        s: &Shipment,
        now: DateTime<Utc>,
    ) -> StoreResult<PartsOrder> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "parts_orders", id, "parts order").await?;
        let cur = load_order(&mut tx, id).await?;
        if cur.status == PartsOrderStatus::Shipped && cur.tracking.as_deref() == Some(s.tracking.as_str()) {
            // The same shipment booked again.
            commit(tx).await?;
            return Ok(cur);
        }
        set_order_status(&mut tx, id, cur.status, PartsOrderStatus::Shipped).await?;
        let counts = shipped_quantities(&cur.lines, s)?;
        for (l, n) in cur.lines.iter().zip(&counts) {
            if *n > 0 {
                let out = NewWarehouseMovement {
                    part_id: l.part_id,
                    delta: -i64::from(*n),
                    reason: WarehouseReason::Shipment,
                    reference: Text::parse(&format!("parts_order:{id}")).map_err(|e| StoreError::Backend(e.0))?,
                };
                warehouse_move(&mut tx, cur.warehouse_id, &out)
                    .await
                    .map_err(|e| match e {
                        StoreError::Conflict { message, .. } => StoreError::conflict("lines", message),
                        e => e,
                    })?;
            }
            sqlx::query::<Db>("UPDATE parts_order_lines SET shipped = $1 WHERE order_id = $2 AND part_id = $3")
                .bind(i64::from(*n))
                .bind(id)
                .bind(l.part_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        sqlx::query::<Db>("UPDATE parts_orders SET carrier = $1, tracking = $2, shipped_at = $3 WHERE id = $4")
            .bind(s.carrier.as_str())
            .bind(s.tracking.as_str())
            .bind(trunc(now))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        audit(&mut tx, actor, "ship", "parts_order", Some(id), to_json(s)).await?;
        let out = load_order(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn receive_parts_order(
        &self,
        actor: Actor,
        id: i64,
        r: &Receipt,
        now: DateTime<Utc>,
    ) -> StoreResult<PartsOrder> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "parts_orders", id, "parts order").await?;
        let cur = load_order(&mut tx, id).await?;
        if cur.status == PartsOrderStatus::Received {
            // A second click: it is booked in already.
            commit(tx).await?;
            return Ok(cur);
        }
        set_order_status(&mut tx, id, cur.status, PartsOrderStatus::Received).await?;
        let counts = received_quantities(&cur.lines, r)?;
        for (l, (n, note)) in cur.lines.iter().zip(&counts) {
            if *n > 0 {
                let reference = format!("parts_order:{id}");
                ledger(
                    &mut tx,
                    actor,
                    cur.station_id,
                    l.part_id,
                    i64::from(*n),
                    StockReason::Receipt,
                    &reference,
                    "lines",
                )
                .await?;
            }
            sqlx::query::<Db>(
                "UPDATE parts_order_lines SET received = $1, difference_note = $2 WHERE order_id = $3 AND part_id = $4",
            )
            .bind(i64::from(*n))
            .bind(note)
            .bind(id)
            .bind(l.part_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        sqlx::query::<Db>("UPDATE parts_orders SET received_at = $1 WHERE id = $2")
            .bind(trunc(now))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        audit(&mut tx, actor, "receive", "parts_order", Some(id), to_json(r)).await?;
        let out = load_order(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn cancel_parts_order(&self, actor: Actor, id: i64) -> StoreResult<PartsOrder> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "parts_orders", id, "parts order").await?;
        let cur = load_order(&mut tx, id).await?;
        if cur.status != PartsOrderStatus::Cancelled {
            set_order_status(&mut tx, id, cur.status, PartsOrderStatus::Cancelled).await?;
            audit(&mut tx, actor, "cancel", "parts_order", Some(id), serde_json::json!({})).await?;
        }
        let out = load_order(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn part_positions(&self, station_id: i64, now: DateTime<Utc>) -> StoreResult<Vec<PartPosition>> {
        let mut c = self.conn().await?;
        require_found(&mut c, "stations", station_id, "station").await?;
        let since = trunc(now - chrono::Duration::days(30));
        let rows = sqlx::query::<Db>(
            "SELECT p.id, p.sku, p.name, COALESCE(s.quantity, 0) AS on_hand, CAST(COALESCE(s.safety_stock, p.safety_stock) AS BIGINT) AS safety, \
             CAST(COALESCE((SELECT SUM(n.quantity) FROM repair_order_parts n JOIN repair_orders r ON r.id = n.repair_order_id \
                WHERE n.part_id = p.id AND r.station_id = $1 AND r.status IN ('new', 'assigned', 'in_progress')), 0) AS BIGINT) AS needed, \
             CAST(COALESCE((SELECT SUM(l.quantity) FROM parts_order_lines l JOIN parts_orders o ON o.id = l.order_id \
                WHERE l.part_id = p.id AND o.station_id = $1 AND o.status IN ('requested', 'approved', 'shipped')), 0) AS BIGINT) AS in_transit, \
             CAST(COALESCE((SELECT -SUM(m.delta) FROM stock_movements m WHERE m.station_id = $1 AND m.part_id = p.id \
                AND m.reason = 'consumption' AND m.at >= $2), 0) AS BIGINT) AS used \
             FROM parts p LEFT JOIN station_stock s ON s.part_id = p.id AND s.station_id = $1 ORDER BY p.sku",
        )
        .bind(station_id)
        .bind(since)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let n = |col: &str| -> StoreResult<u32> {
                    let v: i64 = get(r, col)?;
                    Ok(u32::try_from(v.max(0)).unwrap_or(u32::MAX))
                };
                Ok(PartPosition {
                    part_id: get(r, "id")?,
                    sku: get(r, "sku")?,
                    name: get(r, "name")?,
                    on_hand: get(r, "on_hand")?,
                    safety_stock: n("safety")?,
                    needed: n("needed")?,
                    in_transit: n("in_transit")?,
                    used_30_days: n("used")?,
                })
            })
            .collect()
    }
}
