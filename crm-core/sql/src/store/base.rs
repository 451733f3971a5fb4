//! The pieces every store file uses: connections and transactions, column getters, the audit
//! entry, existence checks and row locks, the query filter builder; and `Store` itself.

// Written once for both backends, in the SQL both accept (`$n` placeholders numbered in order of
// first use, `RETURNING`, `ON CONFLICT … DO UPDATE`, `LIKE … ESCAPE`); `sqlite.rs` and `postgres.rs`
// each compile it as a module with their own `Db` (the sqlx database), `This` (the store type) and
// backend constants. These imports are shared with the sibling files through the backend module.

pub(super) use crate::common::{db_err, decode, json_col, like_pattern, now, placeholders, trunc, unique_as};
pub(super) use async_trait::async_trait;
pub(super) use chrono::{DateTime, NaiveDate, Utc};
pub(super) use crm_core::callback::*;
pub(super) use crm_core::care::*;
pub(super) use crm_core::error::{StoreError, StoreResult};
pub(super) use crm_core::field::*;
pub(super) use crm_core::model::*;
pub(super) use crm_core::reports::*;
pub(super) use crm_core::store::*;
pub(super) use crm_core::types::*;
pub(super) use crm_core::warranty::{ServiceContract, WarrantyPolicy};
pub(super) use sqlx::Row as _;

use super::*;

pub(super) type Conn = <Db as sqlx::Database>::Connection;
pub(super) type Row = <Db as sqlx::Database>::Row;

impl This {
    pub(super) async fn conn(&self) -> StoreResult<sqlx::pool::PoolConnection<Db>> {
        self.pool.acquire().await.map_err(db_err)
    }
    pub(super) async fn tx(&self) -> StoreResult<sqlx::Transaction<'static, Db>> {
        self.pool.begin_with(BEGIN_WRITE).await.map_err(db_err)
    }
}

pub(super) async fn commit(tx: sqlx::Transaction<'static, Db>) -> StoreResult<()> {
    tx.commit().await.map_err(db_err)
}

pub(super) fn get<'r, T>(row: &'r Row, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    row.try_get::<T, _>(col).map_err(db_err)
}

pub(super) fn get_u32(row: &Row, col: &str) -> StoreResult<u32> {
    let v: i64 = get(row, col)?;
    u32::try_from(v).map_err(|_| StoreError::Backend(format!("{col} out of range: {v}")))
}

pub(super) fn get_opt_u32(row: &Row, col: &str) -> StoreResult<Option<u32>> {
    let v: Option<i64> = get(row, col)?;
    v.map(|v| u32::try_from(v).map_err(|_| StoreError::Backend(format!("{col} out of range: {v}"))))
        .transpose()
}

pub(super) fn get_point(row: &Row) -> StoreResult<Option<GeoPoint>> {
    let lat: Option<f64> = get(row, "lat")?;
    let lon: Option<f64> = get(row, "lon")?;
    lat.zip(lon)
        .map(|(a, o)| decode(GeoPoint::new(a, o), "location"))
        .transpose()
}

pub(super) async fn audit(
    c: &mut Conn,
    actor: Actor,
    action: &str,
    entity: &str,
    id: Option<i64>,
    detail: serde_json::Value,
) -> StoreResult<()> {
    sqlx::query::<Db>(
        "INSERT INTO audit_log (at, user_id, action, entity, entity_id, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
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

/// `AND {col} IN (…)` for a scoped report (`AND 1 = 0` for no station), nothing for `None`.
/// The ids are integers, written as literals so one statement serves any number of them.
pub(super) fn among_stations(col: &str, stations: Option<&[i64]>) -> String {
    match stations {
        None => String::new(),
        Some([]) => " AND 1 = 0".to_string(),
        Some(ids) => {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            format!(" AND {col} IN ({})", list.join(", "))
        }
    }
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Is there a row with this id in `table`? `table` is always one of our constant names.
pub(super) async fn exists(c: &mut Conn, table: &'static str, id: i64) -> StoreResult<bool> {
    let sql = format!("SELECT 1 FROM {table} WHERE id = $1");
    Ok(sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .is_some())
}

/// A referenced row must exist; otherwise the input's `field` is invalid.
pub(super) async fn require(c: &mut Conn, table: &'static str, id: i64, field: &str) -> StoreResult<()> {
    if exists(c, table, id).await? {
        Ok(())
    } else {
        Err(StoreError::invalid(
            field,
            format!("no {} with id {id}", table.trim_end_matches('s')),
        ))
    }
}

/// The row addressed by the path must exist; otherwise not found.
pub(super) async fn require_found(c: &mut Conn, table: &'static str, id: i64, entity: &'static str) -> StoreResult<()> {
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
pub(super) async fn lock_row(c: &mut Conn, table: &'static str, id: i64, entity: &'static str) -> StoreResult<()> {
    let sql = format!("SELECT 1 FROM {table} WHERE id = $1 {FOR_UPDATE}");
    match sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
    {
        Some(_) => Ok(()),
        None => Err(StoreError::not_found(entity)),
    }
}

/// A value for a dynamically built `WHERE`.
pub(super) enum Bind {
    Int(i64),
    Str(&'static str),
    Day(NaiveDate),
}

/// `WHERE` clauses with only the conditions given, so every backend can use its indexes (an
/// `($1 IS NULL OR col = $1)` pattern defeats SQLite's planner).
#[derive(Default)]
pub(super) struct Filter {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    pub(super) fn eq_int(mut self, col: &str, v: Option<i64>) -> Self {
        if let Some(v) = v {
            self.binds.push(Bind::Int(v));
            self.clauses.push(format!("{col} = ${}", self.binds.len()));
        }
        self
    }
    pub(super) fn eq_str(mut self, col: &str, v: Option<&'static str>) -> Self {
        if let Some(v) = v {
            self.binds.push(Bind::Str(v));
            self.clauses.push(format!("{col} = ${}", self.binds.len()));
        }
        self
    }
    /// Any condition on one value: `sql` holds `?` where the value goes.
    pub(super) fn with(mut self, sql: &str, v: Option<Bind>) -> Self {
        if let Some(v) = v {
            self.binds.push(v);
            self.clauses.push(sql.replace('?', &format!("${}", self.binds.len())));
        }
        self
    }
    /// `SELECT {cols} FROM {table} WHERE … ORDER BY {order} LIMIT $n`, bound and fetched
    /// (`table` may be a join).
    pub(super) async fn fetch(
        self,
        c: &mut Conn,
        cols: &str,
        table: &str,
        order: &str,
        limit: u32,
    ) -> StoreResult<Vec<Row>> {
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
                Bind::Day(v) => q.bind(*v),
            };
        }
        q.bind(i64::from(limit)).fetch_all(&mut *c).await.map_err(db_err)
    }
}

// ------------------------------------------------------------------------------------ customers

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
