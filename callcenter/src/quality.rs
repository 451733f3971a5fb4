//! The early-warning scan: the store sums the cells of the last whole month and its baseline,
//! `crm_core::quality::assess` decides, the store raises each finding once per cause and queues
//! its e-mail to the quality engineers in the same transaction. Run daily by housekeeping, or at
//! once from `POST /api/v1/quality/scan`.

use chrono::{DateTime, Utc};
use crm_core::quality::{assess, window, QualityAlert, WarningRules};
use crm_core::types::Email;
use crm_core::{Store, StoreResult};

/// Who hears of an alert, and what raises one.
#[derive(Debug, Clone, Default)]
pub struct QualitySettings {
    pub rules: WarningRules,
    pub engineers: Vec<Email>,
}

/// Scan the month before `now` and raise what rose; returns the alerts raised now (a cause
/// already open raises nothing).
pub async fn scan(store: &dyn Store, s: &QualitySettings, now: DateTime<Utc>) -> StoreResult<Vec<QualityAlert>> {
    let w = window(now.date_naive(), s.rules.baseline_months);
    let cells = store.quality_cells(&w, s.rules.min_cases).await?;
    let mut raised = vec![];
    for cell in &cells {
        if let Some(f) = assess(cell, &s.rules) {
            if let Some(a) = store.raise_quality_alert(&f, &w, &s.engineers, now).await? {
                raised.push(a);
            }
        }
    }
    Ok(raised)
}
