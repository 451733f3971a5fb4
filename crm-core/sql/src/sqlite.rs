//! The embedded default: one SQLite file in WAL mode.
type Db = sqlx::Sqlite;
const BACKEND: &str = "sqlite";
/// Write transactions take the write lock at once, so a busy database is waited for
/// (busy_timeout) instead of failing when a read snapshot would have to be upgraded.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// One writer at a time: nothing to skip.
const SKIP_LOCKED: &str = "";
/// A write transaction holds the database's write lock already (`BEGIN IMMEDIATE`).
const FOR_UPDATE: &str = "";
/// Imports run one at a time; the write lock sees to that.
const IMPORT_LOCK: &str = "SELECT 1";
/// Whole seconds since 1970 of a timestamp column.
fn epoch(col: &str) -> String {
    format!("CAST(strftime('%s', {col}) AS INTEGER)")
}
/// `MM-DD` of a date column.
fn month_day(col: &str) -> String {
    format!("strftime('%m-%d', {col})")
}

pub struct SqliteStore {
    pool: sqlx::SqlitePool,
}
type This = SqliteStore;

impl SqliteStore {
    pub fn from_pool(pool: sqlx::SqlitePool) -> Self {
        SqliteStore { pool }
    }
    pub fn pool(&self) -> &sqlx::SqlitePool {
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
