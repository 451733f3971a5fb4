//! Throw-away databases for tests and benchmarks: each one is new, migrated and removed on drop.
//!
//! PostgreSQL tests use `AFTERCARE_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! as the admin connection and create a uniquely named database beside it. When the server cannot be
//! reached they fail under CI (`CI` set) and are skipped, with the reason printed, elsewhere.

use std::path::PathBuf;
use std::sync::Arc;

use crm_core::Store;
use rand::Rng;
use sqlx::Connection;

pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn unique_name(prefix: &str) -> String {
    let n: u64 = rand::thread_rng().gen();
    format!("{prefix}_{}_{n:016x}", std::process::id())
}

pub fn pg_admin_url() -> String {
    std::env::var("AFTERCARE_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_string())
}

/// Replace the database name at the end of a PostgreSQL URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let slash = base.rfind('/').filter(|i| *i > base.find("://").map_or(0, |s| s + 2));
    let root = match slash {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

enum Kind {
    Sqlite(PathBuf),
    Postgres { admin: String, name: String },
}

/// A database that exists for one test.
pub struct TestDb {
    url: String,
    kind: Kind,
    store: Option<Arc<dyn Store>>,
}

impl TestDb {
    /// A new SQLite file in the temp directory.
    pub async fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name("aftercare_test")));
        let url = format!("sqlite://{}", path.display());
        TestDb {
            url,
            kind: Kind::Sqlite(path),
            store: None,
        }
    }

    /// A new PostgreSQL database; `None` (with the reason on stderr) when the server is not
    /// reachable outside CI. Under CI an unreachable server is a failure.
    pub async fn postgres() -> Option<TestDb> {
        let admin = pg_admin_url();
        let name = unique_name("aftercare_test");
        let created = async {
            let mut c = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
            c.close().await
        }
        .await;
        if let Err(e) = created {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL at {} is required in CI: {e}", crate::redact_url(&admin));
            }
            eprintln!(
                "skipped: PostgreSQL at {} not reachable: {e}",
                crate::redact_url(&admin)
            );
            return None;
        }
        Some(TestDb {
            url: with_database(&admin, &name),
            kind: Kind::Postgres { admin, name },
            store: None,
        })
    }

    /// Both backends, PostgreSQL only where available.
    pub async fn each() -> Vec<TestDb> {
        let mut v = vec![TestDb::sqlite().await];
        v.extend(TestDb::postgres().await);
        v
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite(_) => "sqlite",
            Kind::Postgres { .. } => "postgres",
        }
    }

    /// Connect and migrate (once).
    pub async fn open(mut self) -> TestDb {
        let store = crate::connect(&self.url).await.expect("test database opens");
        self.store = Some(store);
        self
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_deref().expect("TestDb::open first")
    }

    pub fn shared(&self) -> Arc<dyn Store> {
        self.store.clone().expect("TestDb::open first")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.store = None;
        match &self.kind {
            Kind::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Kind::Postgres { admin, name } => {
                let (admin, name) = (admin.clone(), name.clone());
                // Drop may run inside a runtime; do the async work on a thread of its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        let mut c = sqlx::PgConnection::connect(&admin).await.ok()?;
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut c)
                            .await
                            .ok()?;
                        c.close().await.ok()
                    })
                })
                .join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
