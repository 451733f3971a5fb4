//! SQLite and PostgreSQL implementations of the crm-core storage traits.
//!
//! Both backends compile the same source (the files in `store/`, one per storage trait) against
//! their own sqlx driver: `sqlite.rs` and `postgres.rs` each declare them as `#[path]` modules
//! beside their `Db` type and backend constants. So the SQL is written once in the dialect both
//! speak and each backend is still a concrete, separately tested type. The backend is picked from the database URL's scheme; migrations for each live in
//! `migrations/<backend>/` at the repository root and run on connect.
//!
//! Architecture invariant: sqlx types stay in this crate; callers see `crm_core::Store` only.

// Each file in `store/` is compiled twice on purpose, once per backend.
#![allow(clippy::duplicate_mod)]

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crm_core::Store;

mod common {
    use chrono::{DateTime, SubsecRound, Utc};
    use crm_core::error::StoreError;

    /// Timestamps are kept to the microsecond, the precision PostgreSQL stores.
    pub fn trunc(t: DateTime<Utc>) -> DateTime<Utc> {
        t.trunc_subsecs(6)
    }

    /// The time a write records: the wall clock, or the virtual one of [`crate::clock::run_at`].
    pub fn now() -> DateTime<Utc> {
        trunc(crate::clock::now())
    }

    /// `$start, $start+1, …` for an `IN (…)` list of `n` values.
    pub fn placeholders(start: usize, n: usize) -> String {
        (start..start + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A `LIKE` pattern matching `text` anywhere, with `%`, `_` and `\` taken literally.
    pub fn like_pattern(text: &str) -> String {
        let mut p = String::with_capacity(text.len() + 2);
        p.push('%');
        for c in text.chars() {
            if matches!(c, '%' | '_' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('%');
        p
    }

    pub fn db_err(e: sqlx::Error) -> StoreError {
        match e {
            sqlx::Error::RowNotFound => StoreError::not_found("row"),
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::conflict(guess_field(d.as_ref()), "already exists")
            }
            other => StoreError::Backend(other.to_string()),
        }
    }

    /// Map a unique violation to a conflict on `field`.
    pub fn unique_as(field: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
        move |e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                let guessed = guess_field(d.as_ref());
                // `vin` is the only other unique column written alongside `serial`.
                let f = if guessed == "vin" { "vin" } else { field };
                StoreError::conflict(f, "already exists")
            }
            _ => db_err(e),
        }
    }

    pub fn is_unique_violation(e: &sqlx::Error) -> bool {
        matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
    }

    pub fn is_check_violation(e: &sqlx::Error) -> bool {
        matches!(e, sqlx::Error::Database(d) if d.is_check_violation())
    }

    /// The column behind a unique violation: from PostgreSQL's constraint name (`assets_vin_key`)
    /// or SQLite's message (`UNIQUE constraint failed: assets.vin`).
    fn guess_field(d: &dyn sqlx::error::DatabaseError) -> String {
        if let Some(c) = d.constraint() {
            let c = c.strip_suffix("_key").unwrap_or(c);
            return c
                .split_once('_')
                .map(|(_, f)| f.to_string())
                .unwrap_or_else(|| c.to_string());
        }
        let m = d.message();
        m.rsplit('.').next().map(str::trim).unwrap_or("value").to_string()
    }

    /// A stored value that no longer parses means the database was changed behind our back.
    pub fn decode<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, StoreError> {
        r.map_err(|e| StoreError::Backend(format!("stored {what} is invalid: {e}")))
    }

    pub fn json_col<T: serde::de::DeserializeOwned>(raw: &str, what: &str) -> Result<T, StoreError> {
        decode(serde_json::from_str(raw), what)
    }
}

pub mod postgres;
pub mod sqlite;
pub mod testing;

pub mod clock {
    //! The clock the store writes timestamps with. In production the wall clock; a simulation
    //! runs its task under a virtual clock instead ([`run_at`]), so that orders created on
    //! simulated Tuesday are created on Tuesday. Task-local: tests running side by side do not
    //! see each other's clocks.
    use std::sync::{Arc, Mutex};

    use chrono::{DateTime, Utc};

    /// A virtual clock a simulation moves forward.
    pub type VirtualClock = Arc<Mutex<DateTime<Utc>>>;

    tokio::task_local! {
        static CLOCK: VirtualClock;
    }

    /// Now: the virtual clock of the running task, if any, else the wall clock.
    pub fn now() -> DateTime<Utc> {
        CLOCK
            .try_with(|c| *c.lock().unwrap_or_else(|e| e.into_inner()))
            .unwrap_or_else(|_| Utc::now())
    }

    /// Run `f` with the store's timestamps taken from `clock`.
    pub async fn run_at<F: std::future::Future>(clock: VirtualClock, f: F) -> F::Output {
        CLOCK.scope(clock, f).await
    }
}

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("database URL must start with sqlite:// or postgres:// (got scheme {0:?})")]
    Scheme(String),
    #[error("cannot open database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("cannot create directory {0}: {1}")]
    Dir(String, #[source] std::io::Error),
    #[error("migrating the database failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Which backend a URL names.
pub fn backend_of(url: &str) -> Result<&'static str, ConnectError> {
    let scheme = url.split(':').next().unwrap_or("");
    match scheme {
        "sqlite" => Ok("sqlite"),
        "postgres" | "postgresql" => Ok("postgres"),
        other => Err(ConnectError::Scheme(other.to_string())),
    }
}

/// A URL with any password replaced, safe to log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{}{user}:***{}", &url[..s + 3], &url[at..])
            } else {
                url.to_string()
            }
        }
        _ => url.to_string(),
    }
}

pub static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
pub static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

pub async fn connect_sqlite(url: &str) -> Result<SqliteStore, ConnectError> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(ConnectError::Open)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    if let Some(parent) = Path::new(opts.get_filename()).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|e| ConnectError::Dir(parent.display().to_string(), e))?;
        }
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await
        .map_err(ConnectError::Open)?;
    SQLITE_MIGRATIONS.run(&pool).await.map_err(ConnectError::Migrate)?;
    Ok(SqliteStore::from_pool(pool))
}

pub async fn connect_postgres(url: &str, max_connections: u32) -> Result<PgStore, ConnectError> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(ConnectError::Open)?;
    POSTGRES_MIGRATIONS.run(&pool).await.map_err(ConnectError::Migrate)?;
    Ok(PgStore::from_pool(pool))
}

/// Open (and migrate) the database a URL names.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, ConnectError> {
    Ok(match backend_of(url)? {
        "sqlite" => Arc::new(connect_sqlite(url).await?),
        _ => Arc::new(connect_postgres(url, 16).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(backend_of("sqlite://x.db").unwrap(), "sqlite");
        assert_eq!(backend_of("postgres://u@h/db").unwrap(), "postgres");
        assert!(backend_of("mysql://h/db").is_err());
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(common::like_pattern("a%b_c"), "%a\\%b\\_c%");
        assert_eq!(common::placeholders(2, 3), "$2, $3, $4");
    }
}
