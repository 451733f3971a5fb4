// The storage implementation, written once and compiled once per backend: `lib.rs` includes this
// file into `mod sqlite` and `mod postgres`, each of which defines `Db` (the sqlx database) and
// `This` (the store type with a `pool` field). The SQL here is the dialect both accept: `$n`
// placeholders numbered in order of first use, `RETURNING`, `ON CONFLICT … DO UPDATE`,
// `LIKE … ESCAPE`.
//
// Not a module of its own: `include!` pastes it, so it cannot be `cargo fmt`-ed separately.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use crm_core::error::{StoreError, StoreResult};
use crm_core::model::*;
use crm_core::store::*;
use crm_core::types::*;
use crm_core::warranty::{ServiceContract, WarrantyPolicy};
use sqlx::Row as _;

use crate::common::{db_err, decode, json_col, like_pattern, now, placeholders, trunc, unique_as};

type Conn = <Db as sqlx::Database>::Connection;
type Row = <Db as sqlx::Database>::Row;

impl This {
    async fn conn(&self) -> StoreResult<sqlx::pool::PoolConnection<Db>> {
        self.pool.acquire().await.map_err(db_err)
    }
    async fn tx(&self) -> StoreResult<sqlx::Transaction<'static, Db>> {
        self.pool.begin_with(BEGIN_WRITE).await.map_err(db_err)
    }
}

async fn commit(tx: sqlx::Transaction<'static, Db>) -> StoreResult<()> {
    tx.commit().await.map_err(db_err)
}

fn get<'r, T>(row: &'r Row, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    row.try_get::<T, _>(col).map_err(db_err)
}

fn get_u32(row: &Row, col: &str) -> StoreResult<u32> {
    let v: i64 = get(row, col)?;
    u32::try_from(v).map_err(|_| StoreError::Backend(format!("{col} out of range: {v}")))
}

fn get_opt_u32(row: &Row, col: &str) -> StoreResult<Option<u32>> {
    let v: Option<i64> = get(row, col)?;
    v.map(|v| u32::try_from(v).map_err(|_| StoreError::Backend(format!("{col} out of range: {v}"))))
        .transpose()
}

fn get_point(row: &Row) -> StoreResult<Option<GeoPoint>> {
    let lat: Option<f64> = get(row, "lat")?;
    let lon: Option<f64> = get(row, "lon")?;
    lat.zip(lon).map(|(a, o)| decode(GeoPoint::new(a, o), "location")).transpose()
}

async fn audit(c: &mut Conn, actor: Actor, action: &str, entity: &str, id: Option<i64>, detail: serde_json::Value) -> StoreResult<()> {
    sqlx::query::<Db>("INSERT INTO audit_log (at, user_id, action, entity, entity_id, detail) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(now())
        .bind(actor.user_id)
        .bind(action)
        .bind(entity)
        .bind(id)
        .bind(detail.to_string())
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    Ok(())
}

fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Is there a row with this id in `table`? `table` is always one of our constant names.
async fn exists(c: &mut Conn, table: &'static str, id: i64) -> StoreResult<bool> {
    let sql = format!("SELECT 1 FROM {table} WHERE id = $1");
    Ok(sqlx::query::<Db>(&sql).bind(id).fetch_optional(&mut *c).await.map_err(db_err)?.is_some())
}

/// A referenced row must exist; otherwise the input's `field` is invalid.
async fn require(c: &mut Conn, table: &'static str, id: i64, field: &str) -> StoreResult<()> {
    if exists(c, table, id).await? {
        Ok(())
    } else {
        Err(StoreError::invalid(field, format!("no {} with id {id}", table.trim_end_matches('s'))))
    }
}

/// The row addressed by the path must exist; otherwise not found.
async fn require_found(c: &mut Conn, table: &'static str, id: i64, entity: &'static str) -> StoreResult<()> {
    if exists(c, table, id).await? {
        Ok(())
    } else {
        Err(StoreError::not_found(entity))
    }
}

/// Lock the row with this id for the rest of the transaction, before reading it to change it:
/// a read-modify-write never loses a concurrent update. PostgreSQL takes a row lock
/// (`FOR UPDATE`); SQLite's write transactions hold the database's write lock from `BEGIN
/// IMMEDIATE` on. Not found when there is no such row.
async fn lock_row(c: &mut Conn, table: &'static str, id: i64, entity: &'static str) -> StoreResult<()> {
    let sql = format!("SELECT 1 FROM {table} WHERE id = $1 {FOR_UPDATE}");
    match sqlx::query::<Db>(&sql).bind(id).fetch_optional(&mut *c).await.map_err(db_err)? {
        Some(_) => Ok(()),
        None => Err(StoreError::not_found(entity)),
    }
}

/// A value for a dynamically built `WHERE`.
enum Bind {
    Int(i64),
    Str(&'static str),
}

/// `WHERE` clauses with only the conditions given, so every backend can use its indexes (an
/// `($1 IS NULL OR col = $1)` pattern defeats SQLite's planner).
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    fn eq_int(mut self, col: &str, v: Option<i64>) -> Self {
        if let Some(v) = v {
            self.binds.push(Bind::Int(v));
            self.clauses.push(format!("{col} = ${}", self.binds.len()));
        }
        self
    }
    fn eq_str(mut self, col: &str, v: Option<&'static str>) -> Self {
        if let Some(v) = v {
            self.binds.push(Bind::Str(v));
            self.clauses.push(format!("{col} = ${}", self.binds.len()));
        }
        self
    }
    /// `SELECT {cols} FROM {table} WHERE … ORDER BY {order} LIMIT $n`, bound and fetched.
    async fn fetch(self, c: &mut Conn, cols: &str, table: &str, order: &str, limit: u32) -> StoreResult<Vec<Row>> {
        let mut sql = format!("SELECT {cols} FROM {table}");
        if !self.clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&self.clauses.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY {order} LIMIT ${}", self.binds.len() + 1));
        let mut q = sqlx::query::<Db>(&sql);
        for b in &self.binds {
            q = match b {
                Bind::Int(v) => q.bind(*v),
                Bind::Str(v) => q.bind(*v),
            };
        }
        q.bind(i64::from(limit)).fetch_all(&mut *c).await.map_err(db_err)
    }
}

// ------------------------------------------------------------------------------------ customers

fn search_name(name: &str, email: Option<&Email>) -> String {
    match email {
        Some(e) => format!("{} {}", name.to_lowercase(), e.as_str().to_lowercase()),
        None => name.to_lowercase(),
    }
}

async fn write_phones(c: &mut Conn, customer_id: i64, phones: &[Phone]) -> StoreResult<()> {
    sqlx::query::<Db>("DELETE FROM customer_phones WHERE customer_id = $1")
        .bind(customer_id)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    for (i, p) in phones.iter().enumerate() {
        sqlx::query::<Db>("INSERT INTO customer_phones (customer_id, position, e164, label) VALUES ($1, $2, $3, $4)")
            .bind(customer_id)
            .bind(i as i32)
            .bind(p.number.as_str())
            .bind(p.label.as_str())
            .execute(&mut *c)
            .await
            .map_err(unique_as("phones"))?;
    }
    Ok(())
}

async fn write_addresses(c: &mut Conn, customer_id: i64, addresses: &[Address]) -> StoreResult<()> {
    sqlx::query::<Db>("DELETE FROM customer_addresses WHERE customer_id = $1")
        .bind(customer_id)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    for (i, a) in addresses.iter().enumerate() {
        sqlx::query::<Db>(
            "INSERT INTO customer_addresses (customer_id, position, label, line1, line2, postal_code, city, country, lat, lon) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(customer_id)
        .bind(i as i32)
        .bind(&a.label)
        .bind(a.line1.as_str())
        .bind(a.line2.as_deref())
        .bind(&a.postal_code)
        .bind(a.city.as_str())
        .bind(&a.country)
        .bind(a.location.map(|p| p.lat))
        .bind(a.location.map(|p| p.lon))
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

async fn insert_customer(c: &mut Conn, n: &NewCustomer) -> StoreResult<i64> {
    let id: i64 = sqlx::query_scalar::<Db, i64>(
        "INSERT INTO customers (kind, name, search_name, email, time_zone, do_not_call, marketing_consent, birthday, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(n.kind.as_str())
    .bind(n.name.as_str())
    .bind(search_name(n.name.as_str(), n.email.as_ref()))
    .bind(n.email.as_ref().map(Email::as_str))
    .bind(n.time_zone.as_str())
    .bind(n.do_not_call)
    .bind(n.marketing_consent)
    .bind(n.birthday)
    .bind(now())
    .fetch_one(&mut *c)
    .await
    .map_err(db_err)?;
    write_phones(c, id, &n.phones).await?;
    write_addresses(c, id, &n.addresses).await?;
    Ok(id)
}

/// Load customers with phones and addresses, in the order of `ids`.
/// An interaction on a customer's history, in the caller's transaction.
async fn insert_interaction(c: &mut Conn, actor: Actor, customer_id: i64, i: &NewInteraction) -> StoreResult<Interaction> {
    require_found(c, "customers", customer_id, "customer").await?;
    let at = i.at.map(crate::common::trunc).unwrap_or_else(now);
    let id = sqlx::query_scalar::<Db, i64>(
        "INSERT INTO interactions (customer_id, kind, direction, at, summary, user_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(customer_id)
    .bind(i.kind.as_str())
    .bind(i.direction.as_str())
    .bind(at)
    .bind(i.summary.as_str())
    .bind(actor.user_id)
    .fetch_one(&mut *c)
    .await
    .map_err(db_err)?;
    audit(c, actor, "create", "interaction", Some(id), serde_json::json!({ "customer_id": customer_id, "kind": i.kind })).await?;
    Ok(Interaction {
        id,
        customer_id,
        kind: i.kind,
        direction: i.direction,
        at,
        summary: i.summary.as_str().to_string(),
        user_id: actor.user_id,
    })
}

/// The customer an imported row stands for, when one exists: by any of its phone numbers, else
/// by its e-mail address (compared without case).
async fn match_customer(c: &mut Conn, n: &NewCustomer) -> StoreResult<Option<ImportedCustomer>> {
    for p in &n.phones {
        let id = sqlx::query_scalar::<Db, i64>("SELECT customer_id FROM customer_phones WHERE e164 = $1 ORDER BY customer_id LIMIT 1")
            .bind(p.number.as_str())
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err)?;
        if let Some(id) = id {
            return Ok(Some(ImportedCustomer {
                id,
                matched: ImportMatch::Phone,
            }));
        }
    }
    if let Some(email) = &n.email {
        let id = sqlx::query_scalar::<Db, i64>("SELECT id FROM customers WHERE lower(email) = $1 ORDER BY id LIMIT 1")
            .bind(email.as_str().to_lowercase())
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err)?;
        if let Some(id) = id {
            return Ok(Some(ImportedCustomer {
                id,
                matched: ImportMatch::Email,
            }));
        }
    }
    Ok(None)
}

fn interaction_from_row(r: &Row) -> StoreResult<Interaction> {
    let kind: String = get(r, "kind")?;
    let dir: String = get(r, "direction")?;
    Ok(Interaction {
        id: get(r, "id")?,
        customer_id: get(r, "customer_id")?,
        kind: decode(InteractionKind::parse(&kind), "kind")?,
        direction: decode(Direction::parse(&dir), "direction")?,
        at: get(r, "at")?,
        summary: get(r, "summary")?,
        user_id: get(r, "user_id")?,
    })
}

async fn load_interaction(c: &mut Conn, id: i64) -> StoreResult<Interaction> {
    let row = sqlx::query::<Db>("SELECT id, customer_id, kind, direction, at, summary, user_id FROM interactions WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::not_found("interaction"))?;
    interaction_from_row(&row)
}

async fn load_customers(c: &mut Conn, ids: &[i64]) -> StoreResult<Vec<Customer>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let ph = placeholders(1, ids.len());
    let sql = format!(
        "SELECT id, kind, name, email, time_zone, do_not_call, marketing_consent, birthday, created_at FROM customers WHERE id IN ({ph})"
    );
    let mut q = sqlx::query::<Db>(&sql);
    for id in ids {
        q = q.bind(id);
    }
    let rows = q.fetch_all(&mut *c).await.map_err(db_err)?;
    let mut by_id = std::collections::HashMap::new();
    for r in &rows {
        let email: Option<String> = get(r, "email")?;
        let tz: String = get(r, "time_zone")?;
        let kind: String = get(r, "kind")?;
        let id: i64 = get(r, "id")?;
        by_id.insert(
            id,
            Customer {
                id,
                kind: decode(CustomerKind::parse(&kind), "kind")?,
                name: get(r, "name")?,
                email: email.map(|e| decode(Email::parse(&e), "email")).transpose()?,
                time_zone: decode(TimeZone::parse(&tz), "time_zone")?,
                do_not_call: get(r, "do_not_call")?,
                marketing_consent: get(r, "marketing_consent")?,
                birthday: get(r, "birthday")?,
                phones: vec![],
                addresses: vec![],
                created_at: get(r, "created_at")?,
            },
        );
    }
    let sql = format!("SELECT customer_id, e164, label FROM customer_phones WHERE customer_id IN ({ph}) ORDER BY customer_id, position");
    let mut q = sqlx::query::<Db>(&sql);
    for id in ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
        let cid: i64 = get(&r, "customer_id")?;
        let num: String = get(&r, "e164")?;
        let label: String = get(&r, "label")?;
        if let Some(cu) = by_id.get_mut(&cid) {
            cu.phones.push(Phone {
                number: decode(PhoneNumber::parse(&num), "phone")?,
                label: decode(PhoneLabel::parse(&label), "label")?,
            });
        }
    }
    let sql = format!(
        "SELECT customer_id, label, line1, line2, postal_code, city, country, lat, lon FROM customer_addresses \
         WHERE customer_id IN ({ph}) ORDER BY customer_id, position"
    );
    let mut q = sqlx::query::<Db>(&sql);
    for id in ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
        let cid: i64 = get(&r, "customer_id")?;
        let line1: String = get(&r, "line1")?;
        let city: String = get(&r, "city")?;
        let addr = Address {
            label: get(&r, "label")?,
            line1: decode(Text::parse(&line1), "line1")?,
            line2: get(&r, "line2")?,
            postal_code: get(&r, "postal_code")?,
            city: decode(Text::parse(&city), "city")?,
            country: get(&r, "country")?,
            location: get_point(&r)?,
        };
        if let Some(cu) = by_id.get_mut(&cid) {
            cu.addresses.push(addr);
        }
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

async fn load_customer(c: &mut Conn, id: i64) -> StoreResult<Customer> {
    load_customers(c, &[id]).await?.pop().ok_or(StoreError::not_found("customer"))
}

/// Digits to look for in stored E.164 numbers when a query looks like a phone number.
fn phone_digits(q: &str) -> Option<String> {
    if !q.chars().all(|c| c.is_ascii_digit() || " +-()/.".contains(c)) {
        return None;
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let national = if q.trim_start().starts_with('+') {
        digits.as_str()
    } else if let Some(d) = digits.strip_prefix("00") {
        d
    } else {
        digits.strip_prefix('0').unwrap_or(&digits)
    };
    (national.len() >= 4).then(|| national.to_string())
}

#[async_trait]
impl CustomerStore for This {
    async fn create_customer(&self, actor: Actor, n: &NewCustomer) -> StoreResult<Customer> {
        let mut tx = self.tx().await?;
        let id = insert_customer(&mut tx, n).await?;
        audit(&mut tx, actor, "create", "customer", Some(id), to_json(n)).await?;
        let out = load_customer(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn get_customer(&self, id: i64) -> StoreResult<Customer> {
        load_customer(&mut *self.conn().await?, id).await
    }

    async fn update_customer(&self, actor: Actor, id: i64, p: &CustomerPatch) -> StoreResult<Customer> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "customers", id, "customer").await?;
        let cur = load_customer(&mut tx, id).await?;
        let name = p.name.as_ref().map(|n| n.as_str().to_string()).unwrap_or(cur.name.clone());
        let email = p.email.clone().unwrap_or(cur.email.clone());
        sqlx::query::<Db>(
            "UPDATE customers SET name = $1, search_name = $2, email = $3, time_zone = $4, do_not_call = $5, \
             marketing_consent = $6, birthday = $7 WHERE id = $8",
        )
        .bind(&name)
        .bind(search_name(&name, email.as_ref()))
        .bind(email.as_ref().map(Email::as_str))
        .bind(p.time_zone.unwrap_or(cur.time_zone).as_str())
        .bind(p.do_not_call.unwrap_or(cur.do_not_call))
        .bind(p.marketing_consent.unwrap_or(cur.marketing_consent))
        .bind(p.birthday.unwrap_or(cur.birthday))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(phones) = &p.phones {
            write_phones(&mut tx, id, phones).await?;
        }
        if let Some(addresses) = &p.addresses {
            write_addresses(&mut tx, id, addresses).await?;
        }
        audit(&mut tx, actor, "update", "customer", Some(id), to_json(p)).await?;
        let out = load_customer(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn search_customers(&self, q: &CustomerQuery) -> StoreResult<Vec<Customer>> {
        let mut c = self.conn().await?;
        let mut sql = String::from("SELECT c.id FROM customers c WHERE 1 = 1");
        let mut binds: Vec<String> = vec![];
        if let Some(text) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            if let Some(d) = phone_digits(text) {
                binds.push(format!("%{d}%"));
                sql.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM customer_phones p WHERE p.customer_id = c.id AND p.e164 LIKE ${})",
                    binds.len()
                ));
            } else {
                binds.push(like_pattern(&text.to_lowercase()));
                sql.push_str(&format!(" AND c.search_name LIKE ${} ESCAPE '\\'", binds.len()));
            }
        }
        sql.push_str(&format!(" ORDER BY c.search_name, c.id LIMIT ${} OFFSET ${}", binds.len() + 1, binds.len() + 2));
        let mut query = sqlx::query_scalar::<Db, i64>(&sql);
        for b in &binds {
            query = query.bind(b);
        }
        let ids = query
            .bind(i64::from(q.limit))
            .bind(i64::from(q.offset))
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        load_customers(&mut c, &ids).await
    }

    async fn find_customer_by_phone(&self, phone: &PhoneNumber) -> StoreResult<Option<i64>> {
        sqlx::query_scalar::<Db, i64>("SELECT customer_id FROM customer_phones WHERE e164 = $1 ORDER BY customer_id LIMIT 1")
            .bind(phone.as_str())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)
    }

    async fn import_customers(&self, actor: Actor, rows: &[NewCustomer]) -> StoreResult<Vec<ImportedCustomer>> {
        let mut tx = self.tx().await?;
        // Two imports at once would each miss the other's rows: one at a time.
        sqlx::query::<Db>(IMPORT_LOCK).execute(&mut *tx).await.map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        let (mut created, mut matched) = (0usize, 0usize);
        for (i, n) in rows.iter().enumerate() {
            if let Some(found) = match_customer(&mut tx, n).await? {
                matched += 1;
                out.push(found);
                continue;
            }
            let id = insert_customer(&mut tx, n).await.map_err(|e| match e {
                StoreError::Conflict { field, message } => StoreError::conflict(format!("rows[{i}].{field}"), message),
                other => other,
            })?;
            created += 1;
            out.push(ImportedCustomer {
                id,
                matched: ImportMatch::Created,
            });
        }
        audit(
            &mut tx,
            actor,
            "import",
            "customer",
            None,
            serde_json::json!({ "rows": rows.len(), "created": created, "matched": matched }),
        )
        .await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn add_interaction(&self, actor: Actor, customer_id: i64, i: &NewInteraction) -> StoreResult<Interaction> {
        let mut tx = self.tx().await?;
        let out = insert_interaction(&mut tx, actor, customer_id, i).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn list_interactions(&self, customer_id: i64, limit: u32) -> StoreResult<Vec<Interaction>> {
        let rows = sqlx::query::<Db>(
            "SELECT id, customer_id, kind, direction, at, summary, user_id FROM interactions WHERE customer_id = $1 \
             ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(customer_id)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.iter().map(interaction_from_row).collect()
    }
}

// ------------------------------------------------------------------------------------ catalogue

fn model_from_row(r: &Row) -> StoreResult<ProductModel> {
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
        warranty: warranty.map(|w| json_col::<WarrantyPolicy>(&w, "warranty")).transpose()?,
        maintenance_months: get::<Option<i64>>(r, "maintenance_months")?.map(|m| m.clamp(0, 120) as u16),
    })
}

fn part_from_row(r: &Row) -> StoreResult<Part> {
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

fn article_from_row(r: &Row) -> StoreResult<KbArticle> {
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

fn article_search_text(a: &NewKbArticle) -> String {
    format!("{} {} {}", a.title.as_str(), a.body.as_str(), a.tags.join(" ")).to_lowercase()
}

const MODEL_COLS: &str = "id, code, name, category, product_line, fault_codes, warranty, maintenance_months";
const PART_COLS: &str = "id, sku, name, price_minor, currency, product_line, safety_stock";
const ARTICLE_COLS: &str = "id, title, body, product_line, fault_code, tags, updated_at";

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
        let rows = sqlx::query::<Db>(&sql).fetch_all(&mut *self.conn().await?).await.map_err(db_err)?;
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
        let rows = sqlx::query::<Db>(&sql).fetch_all(&mut *self.conn().await?).await.map_err(db_err)?;
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
        audit(&mut tx, actor, "create", "kb_article", Some(id), serde_json::json!({ "title": a.title })).await?;
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
        audit(&mut tx, actor, "update", "kb_article", Some(id), serde_json::json!({ "title": a.title })).await?;
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
        audit(&mut tx, actor, "delete", "kb_article", Some(id), serde_json::Value::Null).await?;
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
            sql.push_str(&format!(" AND (product_line = ${} OR product_line IS NULL)", binds.len()));
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

const ASSET_COLS: &str = "a.id, a.customer_id, a.model_id, a.serial, a.vin, a.purchase_date, a.dealer, a.mileage_km, a.operating_hours";

fn asset_from_row(r: &Row) -> StoreResult<Asset> {
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
        contracts: vec![],
    })
}

/// Attach service contracts to assets.
async fn with_contracts(c: &mut Conn, mut assets: Vec<Asset>) -> StoreResult<Vec<Asset>> {
    if assets.is_empty() {
        return Ok(assets);
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

async fn load_asset(c: &mut Conn, id: i64) -> StoreResult<Asset> {
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

async fn insert_asset(c: &mut Conn, a: &NewAsset) -> StoreResult<i64> {
    require(c, "customers", a.customer_id, "customer_id").await?;
    require(c, "product_models", a.model_id, "model_id").await?;
    sqlx::query_scalar::<Db, i64>(
        "INSERT INTO assets (customer_id, model_id, serial, vin, purchase_date, dealer, mileage_km, operating_hours) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(a.customer_id)
    .bind(a.model_id)
    .bind(a.serial.as_str())
    .bind(a.vin.as_ref().map(Vin::as_str))
    .bind(a.purchase_date)
    .bind(a.dealer.as_deref())
    .bind(a.mileage_km.map(i64::from))
    .bind(a.operating_hours.map(i64::from))
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
        sqlx::query::<Db>("UPDATE assets SET customer_id = $1, mileage_km = $2, operating_hours = $3, dealer = $4 WHERE id = $5")
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
        let rows = sqlx::query::<Db>(&sql).bind(customer_id).fetch_all(&mut *c).await.map_err(db_err)?;
        let assets = rows.iter().map(asset_from_row).collect::<StoreResult<Vec<_>>>()?;
        with_contracts(&mut c, assets).await
    }

    async fn customer_assets(&self, customer_id: i64) -> StoreResult<Vec<AssetWithModel>> {
        let mut c = self.conn().await?;
        let sql = format!(
            "SELECT {ASSET_COLS}, m.code AS model_code, m.name AS model_name, m.category, m.product_line, m.warranty \
             FROM assets a JOIN product_models m ON m.id = a.model_id WHERE a.customer_id = $1 ORDER BY a.id"
        );
        let rows = sqlx::query::<Db>(&sql).bind(customer_id).fetch_all(&mut *c).await.map_err(db_err)?;
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
                warranty.map(|w| json_col::<WarrantyPolicy>(&w, "warranty")).transpose()?,
            ));
        }
        let assets = with_contracts(&mut c, assets).await?;
        Ok(assets
            .into_iter()
            .zip(out)
            .map(|(asset, (model_code, model_name, category, product_line, policy))| AssetWithModel {
                asset,
                model_code,
                model_name,
                category,
                product_line,
                policy,
            })
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
        audit(&mut tx, actor, "import", "asset", None, serde_json::json!({ "rows": rows.len() })).await?;
        commit(tx).await?;
        Ok(ids)
    }
}

// ------------------------------------------------------------------------------------ service

async fn record_status(
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

async fn histories(c: &mut Conn, subject: &str, ids: &[i64]) -> StoreResult<std::collections::HashMap<i64, Vec<StatusChange>>> {
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

fn transition_error<T: Copy>(from: &str, to: &str, allowed: &[T], name: fn(T) -> &'static str) -> StoreError {
    let list: Vec<&str> = allowed.iter().map(|s| name(*s)).collect();
    StoreError::conflict(
        "status",
        format!("cannot go from {from} to {to}; allowed: {}", if list.is_empty() { "none".to_string() } else { list.join(", ") }),
    )
}

const TICKET_COLS: &str = "id, customer_id, asset_id, subject, description, status, priority, created_at, updated_at";

async fn load_tickets(c: &mut Conn, rows: Vec<Row>) -> StoreResult<Vec<Ticket>> {
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

async fn load_ticket(c: &mut Conn, id: i64) -> StoreResult<Ticket> {
    let sql = format!("SELECT {TICKET_COLS} FROM tickets WHERE id = $1");
    let rows = sqlx::query::<Db>(&sql).bind(id).fetch_all(&mut *c).await.map_err(db_err)?;
    load_tickets(c, rows).await?.pop().ok_or(StoreError::not_found("ticket"))
}

const RO_COLS: &str = "id, ticket_id, customer_id, asset_id, station_id, technician_id, status, fault_code, description, scheduled_for, created_at, completed_at, duration_minutes, route_seq, unassigned_reason, task_status, appointment_from, appointment_to";

async fn load_repair_orders(c: &mut Conn, rows: Vec<Row>) -> StoreResult<Vec<RepairOrder>> {
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

async fn load_repair_order(c: &mut Conn, id: i64) -> StoreResult<RepairOrder> {
    let sql = format!("SELECT {RO_COLS} FROM repair_orders WHERE id = $1");
    let rows = sqlx::query::<Db>(&sql).bind(id).fetch_all(&mut *c).await.map_err(db_err)?;
    load_repair_orders(c, rows).await?.pop().ok_or(StoreError::not_found("repair order"))
}

/// The technician's task status after a staff change to a repair order: a new assignment starts
/// the flow over; closing the order from the office closes the task too.
fn task_status_for(
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
async fn check_fault_code(c: &mut Conn, asset_id: i64, code: &str) -> StoreResult<()> {
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
        Err(StoreError::invalid("fault_code", format!("{code:?} is not in the model's fault catalogue")))
    }
}

const COMPLAINT_COLS: &str =
    "id, customer_id, ticket_id, repair_order_id, category, status, description, owner_user_id, due_on, resolution, created_at, escalated_at";

fn complaint_from_row(r: &Row) -> StoreResult<Complaint> {
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

async fn load_complaint(c: &mut Conn, id: i64) -> StoreResult<Complaint> {
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
async fn insert_ticket(c: &mut Conn, actor: Actor, t: &NewTicket) -> StoreResult<i64> {
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
async fn insert_repair_order(c: &mut Conn, actor: Actor, r: &NewRepairOrder) -> StoreResult<i64> {
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
        return Err(StoreError::invalid("asset_id", "no such asset for the ticket's customer"));
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
async fn load_wrap_up(
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
                return Err(transition_error(cur.status.as_str(), status.as_str(), cur.status.next(), TicketStatus::as_str));
            }
            record_status(&mut tx, "ticket", id, Some(cur.status.as_str()), status.as_str(), actor, p.note.as_deref()).await?;
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
                return Err(StoreError::conflict("call_id", "this call has been filed already, with other details"));
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
            (Some(_), None) => return Err(StoreError::invalid("subject", "a repair order needs its service request")),
            (None, _) => None,
        };
        let interaction = insert_interaction(&mut tx, actor, w.customer_id, &w.interaction).await?;
        sqlx::query::<Db>("UPDATE wrap_ups SET interaction_id = $1, ticket_id = $2, repair_order_id = $3 WHERE call_id = $4")
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
            return Err(StoreError::conflict("technician_id", "work has started; the order cannot be reassigned"));
        }
        let task_status = task_status_for(status, cur.task_status, technician != cur.technician_id);
        if status != cur.status {
            if !cur.status.next().contains(&status) {
                return Err(transition_error(cur.status.as_str(), status.as_str(), cur.status.next(), RepairStatus::as_str));
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
            record_status(&mut tx, "repair_order", id, Some(cur.status.as_str()), status.as_str(), actor, p.note.as_deref()).await?;
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
            return Err(transition_error(cur.status.as_str(), status.as_str(), cur.status.next(), ComplaintStatus::as_str));
        }
        if let Some(u) = p.owner_user_id {
            require(&mut tx, "users", u, "owner_user_id").await?;
        }
        sqlx::query::<Db>("UPDATE complaints SET status = $1, owner_user_id = $2, due_on = $3, resolution = $4 WHERE id = $5")
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

    async fn escalate_overdue_complaints(&self, actor: Actor, today: NaiveDate, now: DateTime<Utc>) -> StoreResult<Vec<Complaint>> {
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
            audit(&mut tx, actor, "escalate", "complaint", Some(k.id), serde_json::json!({"due_on": k.due_on})).await?;
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

const STATION_COLS: &str = "id, name, city, lat, lon, time_zone, skills, capacity_per_day, opening_hours, rating";
const TECH_COLS: &str = "id, station_id, name, skills, shifts, lat, lon, rating";

fn stock_level_from_row(r: &Row) -> StoreResult<StockLevel> {
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

async fn load_station(c: &mut Conn, id: i64) -> StoreResult<Station> {
    let sql = format!("SELECT {STATION_COLS} FROM stations WHERE id = $1");
    let r = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::not_found("station"))?;
    station_from_row(&r)
}

fn station_from_row(r: &Row) -> StoreResult<Station> {
    let tz: String = get(r, "time_zone")?;
    let skills: String = get(r, "skills")?;
    let hours: String = get(r, "opening_hours")?;
    Ok(Station {
        id: get(r, "id")?,
        name: get(r, "name")?,
        city: get(r, "city")?,
        location: get_point(r)?.ok_or_else(|| StoreError::Backend("station without location".into()))?,
        time_zone: decode(TimeZone::parse(&tz), "time_zone")?,
        skills: json_col(&skills, "skills")?,
        capacity_per_day: get_u32(r, "capacity_per_day")?,
        opening_hours: json_col(&hours, "opening_hours")?,
        rating: get(r, "rating")?,
    })
}

async fn load_technician(c: &mut Conn, id: i64) -> StoreResult<Technician> {
    let sql = format!("SELECT {TECH_COLS} FROM technicians WHERE id = $1");
    let r = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::not_found("technician"))?;
    technician_from_row(&r)
}

fn technician_from_row(r: &Row) -> StoreResult<Technician> {
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

#[async_trait]
impl NetworkStore for This {
    async fn create_station(&self, actor: Actor, s: &NewStation) -> StoreResult<Station> {
        let mut tx = self.tx().await?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO stations (name, city, lat, lon, time_zone, skills, capacity_per_day, opening_hours, rating) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0) RETURNING id",
        )
        .bind(s.name.as_str())
        .bind(s.city.as_str())
        .bind(s.location.lat)
        .bind(s.location.lon)
        .bind(s.time_zone.as_str())
        .bind(to_json(&s.skills).to_string())
        .bind(i64::from(s.capacity_per_day))
        .bind(to_json(&s.opening_hours).to_string())
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
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "stations", id, "station").await?;
        let cur = load_station(&mut tx, id).await?;
        sqlx::query::<Db>("UPDATE stations SET name = $1, skills = $2, capacity_per_day = $3, opening_hours = $4, rating = $5 WHERE id = $6")
            .bind(p.name.as_ref().map(|n| n.as_str()).unwrap_or(&cur.name))
            .bind(to_json(p.skills.as_ref().unwrap_or(&cur.skills)).to_string())
            .bind(i64::from(p.capacity_per_day.unwrap_or(cur.capacity_per_day)))
            .bind(to_json(p.opening_hours.as_ref().unwrap_or(&cur.opening_hours)).to_string())
            .bind(p.rating.unwrap_or(cur.rating))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        audit(&mut tx, actor, "update", "station", Some(id), to_json(p)).await?;
        commit(tx).await?;
        self.get_station(id).await
    }

    async fn list_stations(&self) -> StoreResult<Vec<Station>> {
        let sql = format!("SELECT {STATION_COLS} FROM stations ORDER BY id");
        let rows = sqlx::query::<Db>(&sql).fetch_all(&mut *self.conn().await?).await.map_err(db_err)?;
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
        sqlx::query::<Db>("UPDATE technicians SET station_id = $1, skills = $2, shifts = $3, lat = $4, lon = $5 WHERE id = $6")
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

    async fn record_stock_movement(&self, actor: Actor, station_id: i64, m: &NewStockMovement) -> StoreResult<StockMovement> {
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
            "SELECT s.station_id, s.part_id, p.sku, p.name, s.quantity, p.safety_stock FROM station_stock s \
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

const USER_COLS: &str = "u.id, u.username, u.display_name, u.role, u.technician_id";

fn user_from_row(r: &Row) -> StoreResult<User> {
    let role: String = get(r, "role")?;
    Ok(User {
        id: get(r, "id")?,
        username: get(r, "username")?,
        display_name: get(r, "display_name")?,
        role: decode(Role::parse(&role), "role")?,
        technician_id: get(r, "technician_id")?,
    })
}

#[async_trait]
impl UserStore for This {
    async fn create_user(&self, actor: Actor, u: &NewUserRecord) -> StoreResult<User> {
        let mut tx = self.tx().await?;
        if let Some(t) = u.technician_id {
            require(&mut tx, "technicians", t, "technician_id").await?;
        }
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO users (username, display_name, role, technician_id, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&u.username)
        .bind(&u.display_name)
        .bind(u.role.as_str())
        .bind(u.technician_id)
        .bind(&u.password_hash)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_as("username"))?;
        audit(
            &mut tx,
            actor,
            "create",
            "user",
            Some(id),
            serde_json::json!({ "username": u.username, "role": u.role, "technician_id": u.technician_id }),
        )
        .await?;
        commit(tx).await?;
        self.get_user(id).await
    }

    async fn get_user(&self, id: i64) -> StoreResult<User> {
        let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1");
        let r = sqlx::query::<Db>(&sql)
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::not_found("user"))?;
        user_from_row(&r)
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users u ORDER BY u.username");
        let rows = sqlx::query::<Db>(&sql).fetch_all(&mut *self.conn().await?).await.map_err(db_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        let sql = format!("SELECT {USER_COLS}, u.password_hash FROM users u WHERE u.username = $1");
        let r = sqlx::query::<Db>(&sql)
            .bind(username)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        match r {
            Some(r) => Ok(Some((user_from_row(&r)?, get(&r, "password_hash")?))),
            None => Ok(None),
        }
    }

    async fn create_session(&self, token_hash: &str, user_id: i64, expires_at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query::<Db>("INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(user_id)
            .bind(crate::common::trunc(expires_at))
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2");
        let r = sqlx::query::<Db>(&sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        r.as_ref().map(user_from_row).transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query::<Db>("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn set_agent_skills(&self, actor: Actor, user_id: i64, skills: &[AgentSkill]) -> StoreResult<Vec<AgentSkill>> {
        AgentSkill::validate(skills).map_err(|e| StoreError::invalid("skills", e))?;
        let mut tx = self.tx().await?;
        require_found(&mut tx, "users", user_id, "user").await?;
        sqlx::query::<Db>("DELETE FROM agent_skills WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for s in skills {
            sqlx::query::<Db>("INSERT INTO agent_skills (user_id, skill, level) VALUES ($1, $2, $3)")
                .bind(user_id)
                .bind(&s.skill)
                .bind(i16::from(s.level))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        audit(&mut tx, actor, "set_skills", "user", Some(user_id), serde_json::json!({ "skills": skills })).await?;
        commit(tx).await?;
        self.agent_skills(user_id).await
    }

    async fn agent_skills(&self, user_id: i64) -> StoreResult<Vec<AgentSkill>> {
        let rows = sqlx::query::<Db>("SELECT skill, level FROM agent_skills WHERE user_id = $1 ORDER BY skill")
            .bind(user_id)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let level: i16 = get(r, "level")?;
                Ok(AgentSkill {
                    skill: get(r, "skill")?,
                    level: level as u8,
                })
            })
            .collect()
    }

    async fn record_audit(&self, actor: Actor, action: &str, entity: &str, entity_id: Option<i64>, detail: serde_json::Value) -> StoreResult<()> {
        audit(&mut *self.conn().await?, actor, action, entity, entity_id, detail).await
    }

    async fn list_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query::<Db>("SELECT id, at, user_id, action, entity, entity_id, detail FROM audit_log ORDER BY id DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let detail: String = get(r, "detail")?;
                Ok(AuditEntry {
                    id: get(r, "id")?,
                    at: get(r, "at")?,
                    user_id: get(r, "user_id")?,
                    action: get(r, "action")?,
                    entity: get(r, "entity")?,
                    entity_id: get(r, "entity_id")?,
                    detail: json_col(&detail, "detail")?,
                })
            })
            .collect()
    }
}

const CDR_COLS: &str = "id, call_id, direction, caller, called, customer_id, started_at, answered_at, ended_at, \
     ivr_script, ivr_path, dtmf, queue, outcome, end_reason, recording, agent_id, queue_wait_ms, answered_within_sl, serial_owner_id, voicemail";

fn cdr_from_row(r: &Row) -> StoreResult<Cdr> {
    let direction: String = get(r, "direction")?;
    let outcome: String = get(r, "outcome")?;
    Ok(Cdr {
        id: get(r, "id")?,
        call: NewCdr {
            call_id: get(r, "call_id")?,
            direction: decode(Direction::parse(&direction), "direction")?,
            caller: get(r, "caller")?,
            called: get(r, "called")?,
            customer_id: get(r, "customer_id")?,
            started_at: get(r, "started_at")?,
            answered_at: get(r, "answered_at")?,
            ended_at: get(r, "ended_at")?,
            ivr_script: get(r, "ivr_script")?,
            ivr_path: get(r, "ivr_path")?,
            dtmf: get(r, "dtmf")?,
            queue: get(r, "queue")?,
            outcome: decode(CallOutcome::parse(&outcome), "outcome")?,
            end_reason: get(r, "end_reason")?,
            recording: get(r, "recording")?,
            agent_id: get(r, "agent_id")?,
            queue_wait_ms: get(r, "queue_wait_ms")?,
            answered_within_sl: get(r, "answered_within_sl")?,
            serial_owner_id: get(r, "serial_owner_id")?,
            voicemail: get(r, "voicemail")?,
        },
    })
}

#[async_trait]
impl CallStore for This {
    async fn insert_cdr(&self, c: &NewCdr) -> StoreResult<Cdr> {
        if let Some(id) = c.customer_id {
            require(&mut *self.conn().await?, "customers", id, "customer_id").await?;
        }
        if let Some(id) = c.agent_id {
            require(&mut *self.conn().await?, "users", id, "agent_id").await?;
        }
        if let Some(id) = c.serial_owner_id {
            require(&mut *self.conn().await?, "customers", id, "serial_owner_id").await?;
        }
        let sql = format!(
            "INSERT INTO cdrs (call_id, direction, caller, called, customer_id, started_at, answered_at, ended_at, \
             ivr_script, ivr_path, dtmf, queue, outcome, end_reason, recording, agent_id, queue_wait_ms, answered_within_sl, \
             serial_owner_id, voicemail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
             RETURNING {CDR_COLS}"
        );
        let mut tx = self.tx().await?;
        let r = sqlx::query::<Db>(&sql)
            .bind(&c.call_id)
            .bind(c.direction.as_str())
            .bind(&c.caller)
            .bind(&c.called)
            .bind(c.customer_id)
            .bind(trunc(c.started_at))
            .bind(c.answered_at.map(trunc))
            .bind(trunc(c.ended_at))
            .bind(&c.ivr_script)
            .bind(&c.ivr_path)
            .bind(&c.dtmf)
            .bind(&c.queue)
            .bind(c.outcome.as_str())
            .bind(&c.end_reason)
            .bind(&c.recording)
            .bind(c.agent_id)
            .bind(c.queue_wait_ms)
            .bind(c.answered_within_sl)
            .bind(c.serial_owner_id)
            .bind(&c.voicemail)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        // The call-center report reads these running sums, written with the record.
        roll_up_call(&mut tx, c).await?;
        let cdr = cdr_from_row(&r)?;
        // A message left for us is a promise to call back: its task is written with the record.
        if c.voicemail.is_some() {
            let task = crm_core::care::NewAgentTask {
                kind: crm_core::care::AgentTaskKind::Voicemail,
                source: format!("voicemail-{}", cdr.id),
                campaign_id: None,
                customer_id: c.customer_id,
                repair_order_id: None,
                complaint_id: None,
                asset_id: None,
                summary: match &c.queue {
                    Some(q) => format!("Voicemail left while waiting in {q}: listen and call back."),
                    None => "Voicemail left outside opening hours: listen and call back.".to_string(),
                },
                callback_number: Some(c.caller.clone()).filter(|n| !n.is_empty()),
                cdr_id: Some(cdr.id),
                due_at: c.ended_at,
            };
            raise(&mut tx, &task, c.ended_at).await?;
        }
        commit(tx).await?;
        Ok(cdr)
    }

    async fn get_cdr(&self, id: i64) -> StoreResult<Cdr> {
        let sql = format!("SELECT {CDR_COLS} FROM cdrs WHERE id = $1");
        let row = sqlx::query::<Db>(&sql)
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        cdr_from_row(&row.ok_or(StoreError::not_found("call record"))?)
    }

    async fn list_cdrs(&self, limit: u32) -> StoreResult<Vec<Cdr>> {
        let sql = format!("SELECT {CDR_COLS} FROM cdrs ORDER BY started_at DESC, id DESC LIMIT $1");
        let rows = sqlx::query::<Db>(&sql)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(cdr_from_row).collect()
    }
}

#[async_trait]
impl Store for This {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query_scalar::<Db, i32>("SELECT 1")
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn is_empty(&self) -> StoreResult<bool> {
        let n = sqlx::query_scalar::<Db, i64>(
            "SELECT (SELECT COUNT(*) FROM customers) + (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM product_models)",
        )
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(n == 0)
    }
}
