//! Production: PostgreSQL.
type Db = sqlx::Postgres;
const BACKEND: &str = "postgres";
const BEGIN_WRITE: &str = "BEGIN";
/// Nodes claiming callbacks at once skip each other's rows.
const SKIP_LOCKED: &str = "FOR UPDATE SKIP LOCKED";
/// Locks the rows read, until the transaction ends.
const FOR_UPDATE: &str = "FOR UPDATE";
/// Imports run one at a time: a lock held until the importing transaction ends.
const IMPORT_LOCK: &str = "SELECT pg_advisory_xact_lock(7100)";
/// Whole seconds since 1970 of a timestamp column.
fn epoch(col: &str) -> String {
    format!("CAST(FLOOR(EXTRACT(EPOCH FROM {col})) AS BIGINT)")
}
/// `MM-DD` of a date column.
fn month_day(col: &str) -> String {
    format!("to_char({col}, 'MM-DD')")
}

pub struct PgStore {
    pool: sqlx::PgPool,
}
type This = PgStore;

impl PgStore {
    pub fn from_pool(pool: sqlx::PgPool) -> Self {
        PgStore { pool }
    }
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }
}

// The implementation, one file per storage trait, shared with the other backend; the helpers
// each file offers the others are `pub(super)` and brought in here.
#[path = "store/assets.rs"]
mod assets;
#[path = "store/base.rs"]
mod base;
#[path = "store/billing.rs"]
mod billing;
#[path = "store/callback.rs"]
mod callback;
#[path = "store/calls.rs"]
mod calls;
#[path = "store/care.rs"]
mod care;
#[path = "store/catalog.rs"]
mod catalog;
#[path = "store/claims.rs"]
mod claims;
#[path = "store/customers.rs"]
mod customers;
#[path = "store/field.rs"]
mod field;
#[path = "store/mail.rs"]
mod mail;
#[path = "store/network.rs"]
mod network;
#[path = "store/quality.rs"]
mod quality;
#[path = "store/reports.rs"]
mod reports;
#[path = "store/sales.rs"]
mod sales;
#[path = "store/service.rs"]
mod service;
#[path = "store/subscriptions.rs"]
mod subscriptions;
#[path = "store/supply.rs"]
mod supply;
#[path = "store/users.rs"]
mod users;

use assets::*;
use base::*;
use callback::*;
use care::*;
use customers::*;
use field::*;
use network::*;
use reports::*;
use service::*;
