//! `AssetStore`: assets, their service contracts and readings.

use super::*;

pub(super) const ASSET_COLS: &str =
    "a.id, a.customer_id, a.model_id, a.serial, a.vin, a.purchase_date, a.dealer, a.mileage_km, a.operating_hours, a.produced_on";

pub(super) fn asset_from_row(r: &Row) -> StoreResult<Asset> {
    let serial: String = get(r, "serial")?;
    let vin: Option<String> = get(r, "vin")?;
    Ok(Asset {
        id: get(r, "id")?,
        customer_id: get(r, "customer_id")?,
        model_id: get(r, "model_id")?,
        serial: decode(SerialNumber::parse(&serial), "serial")?,
        vin: vin.map(|v| decode(Vin::parse(&v), "vin")).transpose()?,
        purchase_date: get(r, "purchase_date")?,
        dealer: get(r, "dealer")?,
        mileage_km: get_opt_u32(r, "mileage_km")?,
        operating_hours: get_opt_u32(r, "operating_hours")?,
        produced_on: get(r, "produced_on")?,
        sale: None,
        contracts: vec![],
    })
}

/// Attach service contracts and registered sales to assets.
pub(super) async fn with_contracts(c: &mut Conn, mut assets: Vec<Asset>) -> StoreResult<Vec<Asset>> {
    if assets.is_empty() {
        return Ok(assets);
    }
    let ids: Vec<i64> = assets.iter().map(|a| a.id).collect();
    for (asset_id, sale) in super::sales::asset_sales(c, &ids).await? {
        if let Some(a) = assets.iter_mut().find(|a| a.id == asset_id) {
            a.sale = Some(sale);
        }
    }
    let sql = format!(
        "SELECT id, asset_id, name, starts_on, ends_on, covers_parts, covers_labor FROM service_contracts \
         WHERE asset_id IN ({}) ORDER BY id",
        placeholders(1, assets.len())
    );
    let mut q = sqlx::query::<Db>(&sql);
    for a in &assets {
        q = q.bind(a.id);
    }
    for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
        let asset_id: i64 = get(&r, "asset_id")?;
        let contract = ServiceContract {
            id: get(&r, "id")?,
            name: get(&r, "name")?,
            starts_on: get(&r, "starts_on")?,
            ends_on: get(&r, "ends_on")?,
            covers_parts: get(&r, "covers_parts")?,
            covers_labor: get(&r, "covers_labor")?,
        };
        if let Some(a) = assets.iter_mut().find(|a| a.id == asset_id) {
            a.contracts.push(contract);
        }
    }
    Ok(assets)
}

pub(super) async fn load_asset(c: &mut Conn, id: i64) -> StoreResult<Asset> {
    let sql = format!("SELECT {ASSET_COLS} FROM assets a WHERE a.id = $1");
    let r = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::not_found("asset"))?;
    let a = asset_from_row(&r)?;
    Ok(with_contracts(c, vec![a]).await?.remove(0))
}

pub(super) async fn insert_asset(c: &mut Conn, a: &NewAsset) -> StoreResult<i64> {
    require(c, "customers", a.customer_id, "customer_id").await?;
    require(c, "product_models", a.model_id, "model_id").await?;
    sqlx::query_scalar::<Db, i64>(
        "INSERT INTO assets (customer_id, model_id, serial, vin, purchase_date, dealer, mileage_km, operating_hours, produced_on) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(a.customer_id)
    .bind(a.model_id)
    .bind(a.serial.as_str())
    .bind(a.vin.as_ref().map(Vin::as_str))
    .bind(a.purchase_date)
    .bind(a.dealer.as_deref())
    .bind(a.mileage_km.map(i64::from))
    .bind(a.operating_hours.map(i64::from))
    .bind(a.produced_on)
    .fetch_one(&mut *c)
    .await
    .map_err(unique_as("serial"))
}

#[async_trait]
impl AssetStore for This {
    async fn create_asset(&self, actor: Actor, a: &NewAsset) -> StoreResult<Asset> {
        let mut tx = self.tx().await?;
        let id = insert_asset(&mut tx, a).await?;
        audit(&mut tx, actor, "create", "asset", Some(id), to_json(a)).await?;
        let out = load_asset(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn get_asset(&self, id: i64) -> StoreResult<Asset> {
        load_asset(&mut *self.conn().await?, id).await
    }

    async fn update_asset(&self, actor: Actor, id: i64, p: &AssetPatch) -> StoreResult<Asset> {
        if p.dealer.as_ref().is_some_and(|d| d.chars().count() > 200) {
            return Err(StoreError::invalid("dealer", "at most 200 characters"));
        }
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "assets", id, "asset").await?;
        let cur = load_asset(&mut tx, id).await?;
        if let Some(cid) = p.customer_id {
            require(&mut tx, "customers", cid, "customer_id").await?;
        }
        sqlx::query::<Db>(
            "UPDATE assets SET customer_id = $1, mileage_km = $2, operating_hours = $3, dealer = $4 WHERE id = $5",
        )
        .bind(p.customer_id.unwrap_or(cur.customer_id))
        .bind(p.mileage_km.or(cur.mileage_km).map(i64::from))
        .bind(p.operating_hours.or(cur.operating_hours).map(i64::from))
        .bind(p.dealer.as_deref().or(cur.dealer.as_deref()))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "update", "asset", Some(id), to_json(p)).await?;
        let out = load_asset(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn find_asset_by_serial_digits(&self, digits: &str) -> StoreResult<Option<Asset>> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let mut c = self.conn().await?;
        let ids = sqlx::query_scalar::<Db, i64>("SELECT id FROM assets WHERE serial_digits = $1 LIMIT 2")
            .bind(digits)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        match ids.as_slice() {
            [id] => Ok(Some(load_asset(&mut c, *id).await?)),
            _ => Ok(None),
        }
    }

    async fn find_asset_by_serial(&self, serial: &SerialNumber) -> StoreResult<Option<Asset>> {
        let mut c = self.conn().await?;
        // Two index lookups; an `OR` over two columns makes SQLite scan the table.
        let id = sqlx::query_scalar::<Db, i64>(
            "SELECT id FROM assets WHERE serial = $1 UNION ALL SELECT id FROM assets WHERE vin = $1 LIMIT 1",
        )
        .bind(serial.as_str())
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?;
        match id {
            Some(id) => Ok(Some(load_asset(&mut c, id).await?)),
            None => Ok(None),
        }
    }

    async fn list_assets(&self, customer_id: i64) -> StoreResult<Vec<Asset>> {
        let mut c = self.conn().await?;
        let sql = format!("SELECT {ASSET_COLS} FROM assets a WHERE a.customer_id = $1 ORDER BY a.id");
        let rows = sqlx::query::<Db>(&sql)
            .bind(customer_id)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        let assets = rows.iter().map(asset_from_row).collect::<StoreResult<Vec<_>>>()?;
        with_contracts(&mut c, assets).await
    }

    async fn customer_assets(&self, customer_id: i64) -> StoreResult<Vec<AssetWithModel>> {
        let mut c = self.conn().await?;
        let sql = format!(
            "SELECT {ASSET_COLS}, m.code AS model_code, m.name AS model_name, m.category, m.product_line, m.warranty \
             FROM assets a JOIN product_models m ON m.id = a.model_id WHERE a.customer_id = $1 ORDER BY a.id"
        );
        let rows = sqlx::query::<Db>(&sql)
            .bind(customer_id)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        let mut assets = Vec::with_capacity(rows.len());
        for r in &rows {
            assets.push(asset_from_row(r)?);
            let category: String = get(r, "category")?;
            let line: String = get(r, "product_line")?;
            let warranty: Option<String> = get(r, "warranty")?;
            out.push((
                get::<String>(r, "model_code")?,
                get::<String>(r, "model_name")?,
                decode(ProductCategory::parse(&category), "category")?,
                decode(SkillName::parse(&line), "product_line")?,
                warranty
                    .map(|w| json_col::<WarrantyPolicy>(&w, "warranty"))
                    .transpose()?,
            ));
        }
        let assets = with_contracts(&mut c, assets).await?;
        Ok(assets
            .into_iter()
            .zip(out)
            .map(
                |(asset, (model_code, model_name, category, product_line, policy))| AssetWithModel {
                    asset,
                    model_code,
                    model_name,
                    category,
                    product_line,
                    policy,
                },
            )
            .collect())
    }

    async fn add_contract(&self, actor: Actor, asset_id: i64, k: &NewServiceContract) -> StoreResult<Asset> {
        let mut tx = self.tx().await?;
        require_found(&mut tx, "assets", asset_id, "asset").await?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO service_contracts (asset_id, name, starts_on, ends_on, covers_parts, covers_labor) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(asset_id)
        .bind(k.name.as_str())
        .bind(k.starts_on)
        .bind(k.ends_on)
        .bind(k.covers_parts)
        .bind(k.covers_labor)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(&mut tx, actor, "create", "service_contract", Some(id), to_json(k)).await?;
        let out = load_asset(&mut tx, asset_id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn import_assets(&self, actor: Actor, rows: &[NewAsset]) -> StoreResult<Vec<i64>> {
        let mut tx = self.tx().await?;
        let mut ids = Vec::with_capacity(rows.len());
        for a in rows {
            ids.push(insert_asset(&mut tx, a).await?);
        }
        audit(
            &mut tx,
            actor,
            "import",
            "asset",
            None,
            serde_json::json!({ "rows": rows.len() }),
        )
        .await?;
        commit(tx).await?;
        Ok(ids)
    }
}

// ------------------------------------------------------------------------------------ service
