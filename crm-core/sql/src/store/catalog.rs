//! `CatalogStore`: product models, parts and knowledge-base articles.

use super::*;

pub(super) fn model_from_row(r: &Row) -> StoreResult<ProductModel> {
    let category: String = get(r, "category")?;
    let line: String = get(r, "product_line")?;
    let faults: String = get(r, "fault_codes")?;
    let warranty: Option<String> = get(r, "warranty")?;
    Ok(ProductModel {
        id: get(r, "id")?,
        code: get(r, "code")?,
        name: get(r, "name")?,
        category: decode(ProductCategory::parse(&category), "category")?,
        product_line: decode(SkillName::parse(&line), "product_line")?,
        fault_codes: json_col(&faults, "fault_codes")?,
        warranty: warranty
            .map(|w| json_col::<WarrantyPolicy>(&w, "warranty"))
            .transpose()?,
        maintenance_months: get::<Option<i64>>(r, "maintenance_months")?.map(|m| m.clamp(0, 120) as u16),
    })
}

pub(super) fn part_from_row(r: &Row) -> StoreResult<Part> {
    let currency: String = get(r, "currency")?;
    let line: Option<String> = get(r, "product_line")?;
    Ok(Part {
        id: get(r, "id")?,
        sku: get(r, "sku")?,
        name: get(r, "name")?,
        price: Money {
            minor: get(r, "price_minor")?,
            currency: decode(Currency::parse(&currency), "currency")?,
        },
        product_line: line.map(|l| decode(SkillName::parse(&l), "product_line")).transpose()?,
        safety_stock: get_u32(r, "safety_stock")?,
    })
}

pub(super) fn article_from_row(r: &Row) -> StoreResult<KbArticle> {
    let line: Option<String> = get(r, "product_line")?;
    let tags: String = get(r, "tags")?;
    Ok(KbArticle {
        id: get(r, "id")?,
        title: get(r, "title")?,
        body: get(r, "body")?,
        product_line: line.map(|l| decode(SkillName::parse(&l), "product_line")).transpose()?,
        fault_code: get(r, "fault_code")?,
        tags: json_col(&tags, "tags")?,
        updated_at: get(r, "updated_at")?,
    })
}

pub(super) fn article_search_text(a: &NewKbArticle) -> String {
    format!("{} {} {}", a.title.as_str(), a.body.as_str(), a.tags.join(" ")).to_lowercase()
}

pub(super) const MODEL_COLS: &str = "id, code, name, category, product_line, fault_codes, warranty, maintenance_months";
pub(super) const PART_COLS: &str = "id, sku, name, price_minor, currency, product_line, safety_stock";
pub(super) const ARTICLE_COLS: &str = "id, title, body, product_line, fault_code, tags, updated_at";

#[async_trait]
impl CatalogStore for This {
    async fn create_model(&self, actor: Actor, m: &NewProductModel) -> StoreResult<ProductModel> {
        let mut tx = self.tx().await?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO product_models (code, name, category, product_line, fault_codes, warranty, maintenance_months) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(m.code.as_str())
        .bind(m.name.as_str())
        .bind(m.category.as_str())
        .bind(m.product_line.as_str())
        .bind(to_json(&m.fault_codes).to_string())
        .bind(m.warranty.as_ref().map(|w| to_json(w).to_string()))
        .bind(m.maintenance_months.map(i64::from))
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_as("code"))?;
        audit(&mut tx, actor, "create", "product_model", Some(id), to_json(m)).await?;
        commit(tx).await?;
        self.get_model(id).await
    }

    async fn get_model(&self, id: i64) -> StoreResult<ProductModel> {
        let sql = format!("SELECT {MODEL_COLS} FROM product_models WHERE id = $1");
        let r = sqlx::query::<Db>(&sql)
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::not_found("product model"))?;
        model_from_row(&r)
    }

    async fn list_models(&self) -> StoreResult<Vec<ProductModel>> {
        let sql = format!("SELECT {MODEL_COLS} FROM product_models ORDER BY code");
        let rows = sqlx::query::<Db>(&sql)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(model_from_row).collect()
    }

    async fn create_part(&self, actor: Actor, p: &NewPart) -> StoreResult<Part> {
        let mut tx = self.tx().await?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO parts (sku, name, price_minor, currency, product_line, safety_stock) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(p.sku.as_str())
        .bind(p.name.as_str())
        .bind(p.price.minor)
        .bind(p.price.currency.as_str())
        .bind(p.product_line.as_ref().map(SkillName::as_str))
        .bind(i64::from(p.safety_stock))
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_as("sku"))?;
        audit(&mut tx, actor, "create", "part", Some(id), to_json(p)).await?;
        commit(tx).await?;
        self.get_part(id).await
    }

    async fn get_part(&self, id: i64) -> StoreResult<Part> {
        let sql = format!("SELECT {PART_COLS} FROM parts WHERE id = $1");
        let r = sqlx::query::<Db>(&sql)
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::not_found("part"))?;
        part_from_row(&r)
    }

    async fn list_parts(&self) -> StoreResult<Vec<Part>> {
        let sql = format!("SELECT {PART_COLS} FROM parts ORDER BY sku");
        let rows = sqlx::query::<Db>(&sql)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(part_from_row).collect()
    }

    async fn create_article(&self, actor: Actor, a: &NewKbArticle) -> StoreResult<KbArticle> {
        let mut tx = self.tx().await?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO kb_articles (title, body, product_line, fault_code, tags, search_text, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(a.title.as_str())
        .bind(a.body.as_str())
        .bind(a.product_line.as_ref().map(SkillName::as_str))
        .bind(a.fault_code.as_deref())
        .bind(to_json(&a.tags).to_string())
        .bind(article_search_text(a))
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        audit(
            &mut tx,
            actor,
            "create",
            "kb_article",
            Some(id),
            serde_json::json!({ "title": a.title }),
        )
        .await?;
        commit(tx).await?;
        self.get_article(id).await
    }

    async fn get_article(&self, id: i64) -> StoreResult<KbArticle> {
        let sql = format!("SELECT {ARTICLE_COLS} FROM kb_articles WHERE id = $1");
        let r = sqlx::query::<Db>(&sql)
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::not_found("article"))?;
        article_from_row(&r)
    }

    async fn update_article(&self, actor: Actor, id: i64, a: &NewKbArticle) -> StoreResult<KbArticle> {
        let mut tx = self.tx().await?;
        let done = sqlx::query::<Db>(
            "UPDATE kb_articles SET title = $1, body = $2, product_line = $3, fault_code = $4, tags = $5, search_text = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(a.title.as_str())
        .bind(a.body.as_str())
        .bind(a.product_line.as_ref().map(SkillName::as_str))
        .bind(a.fault_code.as_deref())
        .bind(to_json(&a.tags).to_string())
        .bind(article_search_text(a))
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("article"));
        }
        audit(
            &mut tx,
            actor,
            "update",
            "kb_article",
            Some(id),
            serde_json::json!({ "title": a.title }),
        )
        .await?;
        commit(tx).await?;
        self.get_article(id).await
    }

    async fn delete_article(&self, actor: Actor, id: i64) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        let done = sqlx::query::<Db>("DELETE FROM kb_articles WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("article"));
        }
        audit(
            &mut tx,
            actor,
            "delete",
            "kb_article",
            Some(id),
            serde_json::Value::Null,
        )
        .await?;
        commit(tx).await
    }

    async fn search_articles(&self, q: &KbQuery) -> StoreResult<Vec<KbArticle>> {
        let mut sql = format!("SELECT {ARTICLE_COLS} FROM kb_articles WHERE 1 = 1");
        let mut binds: Vec<String> = vec![];
        for word in q.q.as_deref().unwrap_or("").split_whitespace().take(8) {
            binds.push(like_pattern(&word.to_lowercase()));
            sql.push_str(&format!(" AND search_text LIKE ${} ESCAPE '\\'", binds.len()));
        }
        if let Some(line) = &q.product_line {
            binds.push(line.as_str().to_string());
            sql.push_str(&format!(
                " AND (product_line = ${} OR product_line IS NULL)",
                binds.len()
            ));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", binds.len() + 1));
        let mut query = sqlx::query::<Db>(&sql);
        for b in &binds {
            query = query.bind(b);
        }
        let rows = query
            .bind(i64::from(q.limit))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(article_from_row).collect()
    }
}

// ------------------------------------------------------------------------------------ assets
