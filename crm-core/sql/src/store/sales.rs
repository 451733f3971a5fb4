//! `SalesStore`: dealers, registered sales and the dealers' after-sales figures.

use super::*;
use crm_core::sales::*;

const DEALER_COLS: &str = "id, code, name, address, contacts, territory, agreement, status";
const SALE_COLS: &str = "s.id, s.asset_id, a.serial, a.vin, s.dealer_id, d.code AS dealer_code, s.customer_id, \
     s.sold_on, s.delivery, s.registered_at";
const SALE_FROM: &str = "sales s JOIN assets a ON a.id = s.asset_id JOIN dealers d ON d.id = s.dealer_id";

fn dealer_from_row(r: &Row) -> StoreResult<Dealer> {
    Ok(Dealer {
        id: get(r, "id")?,
        code: get(r, "code")?,
        name: get(r, "name")?,
        address: json_col(&get::<String>(r, "address")?, "address")?,
        contacts: json_col(&get::<String>(r, "contacts")?, "contacts")?,
        territory: get(r, "territory")?,
        agreement: json_col(&get::<String>(r, "agreement")?, "agreement")?,
        status: decode(DealerStatus::parse(&get::<String>(r, "status")?), "status")?,
    })
}

fn sale_from_row(r: &Row) -> StoreResult<Sale> {
    Ok(Sale {
        id: get(r, "id")?,
        asset_id: get(r, "asset_id")?,
        serial: get(r, "serial")?,
        vin: get(r, "vin")?,
        dealer_id: get(r, "dealer_id")?,
        dealer_code: get(r, "dealer_code")?,
        customer_id: get(r, "customer_id")?,
        sold_on: get(r, "sold_on")?,
        delivery: json_col(&get::<String>(r, "delivery")?, "delivery")?,
        registered_at: get(r, "registered_at")?,
    })
}

pub(super) async fn load_dealer(c: &mut Conn, id: i64) -> StoreResult<Dealer> {
    let r = sqlx::query::<Db>(&format!("SELECT {DEALER_COLS} FROM dealers WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::not_found("dealer"))?;
    dealer_from_row(&r)
}

async fn sale_where(c: &mut Conn, clause: &str, id: i64) -> StoreResult<Option<Sale>> {
    let sql = format!("SELECT {SALE_COLS} FROM {SALE_FROM} WHERE {clause} = $1");
    sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .map(|r| sale_from_row(&r))
        .transpose()
}

/// The registered sales of these assets, as the assets show them.
pub(super) async fn asset_sales(c: &mut Conn, asset_ids: &[i64]) -> StoreResult<Vec<(i64, AssetSale)>> {
    if asset_ids.is_empty() {
        return Ok(vec![]);
    }
    let sql = format!(
        "SELECT s.id, s.asset_id, s.dealer_id, d.code, s.sold_on FROM sales s JOIN dealers d ON d.id = s.dealer_id \
         WHERE s.asset_id IN ({})",
        placeholders(1, asset_ids.len())
    );
    let mut q = sqlx::query::<Db>(&sql);
    for id in asset_ids {
        q = q.bind(*id);
    }
    q.fetch_all(&mut *c)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok((
                get(r, "asset_id")?,
                AssetSale {
                    sale_id: get(r, "id")?,
                    dealer_id: get(r, "dealer_id")?,
                    dealer_code: get(r, "code")?,
                    sold_on: get(r, "sold_on")?,
                },
            ))
        })
        .collect()
}

fn count(r: &Row, col: &str) -> StoreResult<u64> {
    Ok(get::<Option<i64>>(r, col)?.unwrap_or(0).max(0) as u64)
}

#[async_trait]
impl SalesStore for This {
    async fn create_dealer(&self, actor: Actor, d: &NewDealer) -> StoreResult<Dealer> {
        d.validate()?;
        let mut tx = self.tx().await?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO dealers (code, name, address, contacts, territory, agreement, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&d.code)
        .bind(d.name.as_str())
        .bind(to_json(&d.address).to_string())
        .bind(to_json(&d.contacts).to_string())
        .bind(d.territory.as_str())
        .bind(to_json(&d.agreement).to_string())
        .bind(d.status.as_str())
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_as("code"))?;
        audit(
            &mut tx,
            actor,
            "create",
            "dealer",
            Some(id),
            serde_json::json!({"code": d.code}),
        )
        .await?;
        let out = load_dealer(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn get_dealer(&self, id: i64) -> StoreResult<Dealer> {
        load_dealer(&mut *self.conn().await?, id).await
    }

    async fn list_dealers(&self) -> StoreResult<Vec<Dealer>> {
        let rows = sqlx::query::<Db>(&format!("SELECT {DEALER_COLS} FROM dealers ORDER BY code"))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(dealer_from_row).collect()
    }

    async fn update_dealer(&self, actor: Actor, id: i64, p: &DealerPatch) -> StoreResult<Dealer> {
        p.validate()?;
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "dealers", id, "dealer").await?;
        let cur = load_dealer(&mut tx, id).await?;
        sqlx::query::<Db>(
            "UPDATE dealers SET name = $1, address = $2, contacts = $3, territory = $4, agreement = $5, status = $6 WHERE id = $7",
        )
        .bind(p.name.as_ref().map(|t| t.as_str()).unwrap_or(&cur.name))
        .bind(to_json(p.address.as_ref().unwrap_or(&cur.address)).to_string())
        .bind(to_json(p.contacts.as_ref().unwrap_or(&cur.contacts)).to_string())
        .bind(p.territory.as_ref().map(|t| t.as_str()).unwrap_or(&cur.territory))
        .bind(to_json(p.agreement.as_ref().unwrap_or(&cur.agreement)).to_string())
        .bind(p.status.unwrap_or(cur.status).as_str())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "update", "dealer", Some(id), to_json(p)).await?;
        let out = load_dealer(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn register_sale(&self, actor: Actor, s: &NewSale, today: NaiveDate) -> StoreResult<(Sale, bool)> {
        let key = s.vin_or_serial.trim();
        let mut tx = self.tx().await?;
        let asset_id = sqlx::query_scalar::<Db, i64>(
            "SELECT id FROM assets WHERE serial = $1 UNION ALL SELECT id FROM assets WHERE vin = $1 LIMIT 1",
        )
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::invalid("vin_or_serial", "no asset has this VIN or serial"))?;
        // One registration at a time per asset: a concurrent retry waits here, then finds the sale.
        lock_row(&mut tx, "assets", asset_id, "asset").await?;
        let produced_on: Option<NaiveDate> =
            sqlx::query_scalar::<Db, Option<NaiveDate>>("SELECT produced_on FROM assets WHERE id = $1")
                .bind(asset_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        s.validate(today, produced_on)?;
        // A buyer given by their details is the customer with the same phone or e-mail, if any.
        let (buyer, new_buyer) = match (&s.customer_id, &s.customer) {
            (Some(id), _) => {
                require(&mut tx, "customers", *id, "customer_id").await?;
                (*id, None)
            }
            (None, Some(n)) => match match_customer(&mut tx, n).await? {
                Some(found) => (found.id, None),
                None => (0, Some(n)),
            },
            (None, None) => unreachable!("validate needs one buyer"),
        };
        if let Some(sold) = sale_where(&mut tx, "s.asset_id", asset_id).await? {
            if s.same_as(buyer, &sold) {
                return Ok((sold, false));
            }
            return Err(StoreError::conflict(
                "vin_or_serial",
                format!(
                    "sold on {} by dealer {}; a sale is registered once",
                    sold.sold_on, sold.dealer_code
                ),
            ));
        }
        let dealer = match load_dealer(&mut tx, s.dealer_id).await {
            Ok(d) => d,
            Err(StoreError::NotFound { .. }) => return Err(StoreError::invalid("dealer_id", "no such dealer")),
            Err(e) => return Err(e),
        };
        dealer.may_sell_on(s.sold_on)?;
        let buyer = match new_buyer {
            Some(n) => {
                let id = insert_customer(&mut tx, n).await?;
                audit(
                    &mut tx,
                    actor,
                    "create",
                    "customer",
                    Some(id),
                    serde_json::json!({"via": "sale"}),
                )
                .await?;
                id
            }
            None => buyer,
        };
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO sales (asset_id, dealer_id, customer_id, sold_on, delivery, registered_by, registered_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(asset_id)
        .bind(s.dealer_id)
        .bind(buyer)
        .bind(s.sold_on)
        .bind(to_json(&s.delivery).to_string())
        .bind(actor.user_id)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_as("vin_or_serial"))?;
        // The buyer owns it now; the dealer text follows the record.
        sqlx::query::<Db>(
            "UPDATE assets SET customer_id = $1, dealer = $2, \
             mileage_km = CASE WHEN mileage_km IS NULL THEN $3 ELSE mileage_km END WHERE id = $4",
        )
        .bind(buyer)
        .bind(&dealer.name)
        .bind(s.delivery.odometer_km.map(i64::from))
        .bind(asset_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(
            &mut tx,
            actor,
            "create",
            "sale",
            Some(id),
            serde_json::json!({"asset_id": asset_id, "dealer_id": s.dealer_id, "sold_on": s.sold_on}),
        )
        .await?;
        let sale = sale_where(&mut tx, "s.id", id)
            .await?
            .ok_or_else(|| StoreError::Backend("sale vanished".into()))?;
        commit(tx).await?;
        Ok((sale, true))
    }

    async fn sale_for_asset(&self, asset_id: i64) -> StoreResult<Option<Sale>> {
        sale_where(&mut *self.conn().await?, "s.asset_id", asset_id).await
    }

    async fn dealer_vehicles(&self, dealer_id: i64, limit: u32) -> StoreResult<Vec<SoldAsset>> {
        let mut c = self.conn().await?;
        load_dealer(&mut c, dealer_id).await?;
        let sql = format!(
            "SELECT {SALE_COLS}, m.code AS model_code, m.name AS model_name, cu.name AS customer_name \
             FROM {SALE_FROM} JOIN product_models m ON m.id = a.model_id JOIN customers cu ON cu.id = s.customer_id \
             WHERE s.dealer_id = $1 ORDER BY s.sold_on DESC, s.id DESC LIMIT $2"
        );
        let rows = sqlx::query::<Db>(&sql)
            .bind(dealer_id)
            .bind(i64::from(limit.clamp(1, 1000)))
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(SoldAsset {
                sale: sale_from_row(r)?,
                model_code: get(r, "model_code")?,
                model_name: get(r, "model_name")?,
                customer_name: get(r, "customer_name")?,
                repairs: vec![],
                complaints: vec![],
            });
        }
        if out.is_empty() {
            return Ok(out);
        }
        let ids: Vec<i64> = out.iter().map(|s| s.sale.asset_id).collect();
        let sql = format!(
            "SELECT r.id, r.asset_id, r.status, r.fault_code, r.created_at, r.completed_at, sr.repair_score \
             FROM repair_orders r LEFT JOIN survey_results sr ON sr.repair_order_id = r.id \
             WHERE r.asset_id IN ({}) ORDER BY r.created_at, r.id",
            placeholders(1, ids.len())
        );
        let mut q = sqlx::query::<Db>(&sql);
        for id in &ids {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
            let asset: i64 = get(&r, "asset_id")?;
            let score: Option<i64> = get(&r, "repair_score")?;
            if let Some(s) = out.iter_mut().find(|s| s.sale.asset_id == asset) {
                s.repairs.push(AfterSalesRepair {
                    repair_order_id: get(&r, "id")?,
                    status: get(&r, "status")?,
                    fault_code: get(&r, "fault_code")?,
                    created_at: get(&r, "created_at")?,
                    completed_at: get(&r, "completed_at")?,
                    survey_score: score.map(|v| v.clamp(0, 5) as u8),
                });
            }
        }
        let sql = format!(
            "SELECT c.id, c.category, c.status, c.created_at, COALESCE(r.asset_id, t.asset_id) AS asset_id \
             FROM complaints c LEFT JOIN repair_orders r ON r.id = c.repair_order_id LEFT JOIN tickets t ON t.id = c.ticket_id \
             WHERE COALESCE(r.asset_id, t.asset_id) IN ({}) ORDER BY c.created_at, c.id",
            placeholders(1, ids.len())
        );
        let mut q = sqlx::query::<Db>(&sql);
        for id in &ids {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
            let asset: i64 = get(&r, "asset_id")?;
            if let Some(s) = out.iter_mut().find(|s| s.sale.asset_id == asset) {
                s.complaints.push(AfterSalesComplaint {
                    complaint_id: get(&r, "id")?,
                    category: get(&r, "category")?,
                    status: get(&r, "status")?,
                    created_at: get(&r, "created_at")?,
                });
            }
        }
        Ok(out)
    }

    async fn dealer_report(&self, period: &Period, dealer_id: Option<i64>) -> StoreResult<Vec<DealerRow>> {
        let mut c = self.conn().await?;
        let from = period
            .from
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| StoreError::invalid("from", "out of range"))?;
        let until = (period.to + chrono::Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| StoreError::invalid("to", "out of range"))?;
        let only = dealer_id.map(|d| format!(" AND d.id = {d}")).unwrap_or_default();
        // One row per dealer; each figure a correlated count over the dealer's sold assets.
        let sql = format!(
            "SELECT d.id, d.code, d.name, d.territory, \
               (SELECT COUNT(*) FROM sales s WHERE s.dealer_id = d.id AND s.sold_on BETWEEN $1 AND $2) AS sold, \
               (SELECT COUNT(*) FROM sales s WHERE s.dealer_id = d.id AND s.sold_on <= $2) AS sold_to_date, \
               (SELECT COUNT(*) FROM repair_facts f JOIN sales s ON s.asset_id = f.asset_id \
                  WHERE s.dealer_id = d.id AND f.completed_on BETWEEN $1 AND $2) AS repairs, \
               (SELECT COUNT(*) FROM repair_facts f JOIN sales s ON s.asset_id = f.asset_id \
                  WHERE s.dealer_id = d.id AND f.completed_on BETWEEN $1 AND $2 AND f.labour_warranty) AS warranty_repairs, \
               (SELECT COUNT(*) FROM complaints c LEFT JOIN repair_orders r ON r.id = c.repair_order_id \
                  LEFT JOIN tickets t ON t.id = c.ticket_id JOIN sales s ON s.asset_id = COALESCE(r.asset_id, t.asset_id) \
                  WHERE s.dealer_id = d.id AND c.created_at >= $3 AND c.created_at < $4) AS complaints, \
               (SELECT COUNT(*) FROM survey_results sr JOIN repair_orders r ON r.id = sr.repair_order_id \
                  JOIN sales s ON s.asset_id = r.asset_id \
                  WHERE s.dealer_id = d.id AND sr.answered_at >= $3 AND sr.answered_at < $4) AS surveys, \
               (SELECT CAST(SUM(sr.repair_score) AS BIGINT) FROM survey_results sr JOIN repair_orders r ON r.id = sr.repair_order_id \
                  JOIN sales s ON s.asset_id = r.asset_id \
                  WHERE s.dealer_id = d.id AND sr.answered_at >= $3 AND sr.answered_at < $4) AS score_sum \
             FROM dealers d WHERE 1 = 1{only} ORDER BY d.code"
        );
        let rows = sqlx::query::<Db>(&sql)
            .bind(period.from)
            .bind(period.to)
            .bind(from)
            .bind(until)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(DealerRow {
                    dealer_id: get(r, "id")?,
                    code: get(r, "code")?,
                    name: get(r, "name")?,
                    territory: get(r, "territory")?,
                    sold: count(r, "sold")?,
                    repairs: count(r, "repairs")?,
                    warranty_repairs: count(r, "warranty_repairs")?,
                    complaints: count(r, "complaints")?,
                    surveys: count(r, "surveys")?,
                    survey_mean: None,
                    repairs_per_100_sold: None,
                }
                .finish(count(r, "sold_to_date")?, count(r, "score_sum")?))
            })
            .collect()
    }
}
