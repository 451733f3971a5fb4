//! Customer-care reminders: maintenance due, warranty ending, birthdays (with consent), raised
//! as agent tasks once a day by housekeeping, or at once for an outbound campaign. The store
//! picks candidates; `crm_core::care::reminder` decides; raising a task twice adds nothing.

use chrono::{DateTime, NaiveDate, Utc};
use crm_core::care::{reminder, AgentTaskKind, NewAgentTask};
use crm_core::{Store, StoreResult};

/// Days ahead a maintenance reminder comes.
pub const MAINTENANCE_AHEAD_DAYS: u32 = 14;

/// The reminders of `kind` due on `today`, as tasks to raise (by the day's round or a campaign).
pub async fn reminders(
    store: &dyn Store,
    kind: AgentTaskKind,
    today: NaiveDate,
    horizon_days: u32,
    now: DateTime<Utc>,
) -> StoreResult<Vec<NewAgentTask>> {
    let candidates = store.care_candidates(kind, today, horizon_days).await?;
    Ok(candidates
        .iter()
        .filter_map(|c| reminder(kind, today, horizon_days, c, None, now))
        .collect())
}

/// Raise the day's reminders of `kind`; returns how many tasks were added.
pub async fn raise(
    store: &dyn Store,
    kind: AgentTaskKind,
    today: NaiveDate,
    horizon_days: u32,
    now: DateTime<Utc>,
) -> StoreResult<u32> {
    let tasks = reminders(store, kind, today, horizon_days, now).await?;
    let mut added = 0;
    for chunk in tasks.chunks(500) {
        added += store.raise_tasks(chunk, now).await?;
    }
    Ok(added)
}

/// The day's reminders of every kind.
pub async fn raise_daily(
    store: &dyn Store,
    today: NaiveDate,
    warranty_days: u32,
    now: DateTime<Utc>,
) -> StoreResult<u32> {
    let mut added = 0;
    for (kind, horizon) in [
        (AgentTaskKind::MaintenanceDue, MAINTENANCE_AHEAD_DAYS),
        (AgentTaskKind::WarrantyExpiring, warranty_days),
        (AgentTaskKind::Birthday, 0),
    ] {
        added += raise(store, kind, today, horizon, now).await?;
    }
    Ok(added)
}
