//! Aftercare's CRM core: the domain every other part of the service works on.
//!
//! - [`types`]: value types parsed once at the edge (E.164 numbers, serials, VINs, skills, money).
//! - [`model`]: entities and the inputs that create or change them.
//! - [`field`]: technicians' tasks, their status flow and reports; stock transfers and stocktakes.
//! - [`warranty`]: warranty determination, a pure function.
//! - [`claims`]: warranty claims: drafting, automatic checks, review, appeal, returns, settlement.
//! - [`callback`]: when a satisfaction callback may be attempted, a pure function.
//! - [`care`]: agent tasks (preview-dial work, supervisors' alerts, reminders).
//! - [`reports`]: report shapes and the arithmetic on the sums the store aggregates.
//! - [`supply`]: warehouses, parts orders and their steps, the replenishment suggestion.
//! - [`mail`]: outbound e-mail: who may be written to, retries, templates (the outbox is storage's).
//! - [`subscriptions`]: scheduled reports: which period is due, one message per period.
//! - [`quality`]: early warning: repair rates per batch against their baseline, a pure rule.
//! - [`sales`]: dealers and the registered sale that starts the factory warranty.
//! - [`billing`]: paid repairs: quotes, invoices numbered without gaps, payments, tax per line.
//! - [`store`]: storage traits; backends live in the `crm-sql` crate.
//! - [`screen_pop`]: the customer 360 an agent sees when a call is offered.
//!
//! The demo generator and the behaviour suite every backend must pass live in `crm-fixtures`.
//!
//! Architecture invariant: this crate does no IO of its own, reads no clock and knows no SQL
//! driver types (the build checks its dependency tree: `.ci/run`).

#[macro_use]
pub mod model;
pub mod billing;
pub mod callback;
pub mod care;
pub mod claims;
pub mod error;
pub mod field;
pub mod mail;
pub mod quality;
pub mod reports;
pub mod sales;
pub mod screen_pop;
pub mod store;
pub mod subscriptions;
pub mod supply;
pub mod types;
pub mod warranty;

pub use error::{FieldError, StoreError, StoreResult};
pub use store::Store;
