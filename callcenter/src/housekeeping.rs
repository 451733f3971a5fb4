//! The service's periodic chores: escalating complaints left open past their due date, the
//! day's customer-care reminders, the day's early-warning scan, scheduled reports whose period
//! ended, payment reminders for overdue invoices, and writing the report facts of repairs
//! completed before facts existed. Safe on several nodes at
//! once (a complaint is escalated once, a repair's facts written once).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crm_core::model::Actor;
use crm_core::Store;
use tokio::sync::watch;

/// Run every `every` until `shutdown` turns true (the first round at once). Customer-care
/// reminders are raised once a day (`warranty_days` ahead for warranties).
pub async fn run(
    store: Arc<dyn Store>,
    every: Duration,
    warranty_days: u32,
    quality: crate::quality::QualitySettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut reminded: Option<chrono::NaiveDate> = None;
    let mut scanned: Option<chrono::NaiveDate> = None;
    loop {
        let now = Utc::now();
        match crate::subscriptions::send_due(store.as_ref(), now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(reports = n, "scheduled reports queued"),
            Err(e) => tracing::warn!(error = %e, "queueing scheduled reports failed; retrying later"),
        }
        if scanned != Some(now.date_naive()) {
            match crate::quality::scan(store.as_ref(), &quality, now).await {
                Ok(raised) => {
                    scanned = Some(now.date_naive());
                    if !raised.is_empty() {
                        let causes: Vec<&str> = raised.iter().map(|a| a.cause.as_str()).collect();
                        tracing::warn!(?causes, "early warning: repair rates rose");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "the early-warning scan failed; retrying later"),
            }
        }
        if reminded != Some(now.date_naive()) {
            match crate::care::raise_daily(store.as_ref(), now.date_naive(), warranty_days, now).await {
                Ok(n) => {
                    reminded = Some(now.date_naive());
                    tracing::info!(tasks = n, "customer-care reminders raised");
                }
                Err(e) => tracing::warn!(error = %e, "raising reminders failed; retrying later"),
            }
        }
        match store
            .escalate_overdue_complaints(Actor::SYSTEM, now.date_naive(), now)
            .await
        {
            Ok(escalated) if !escalated.is_empty() => {
                let ids: Vec<i64> = escalated.iter().map(|k| k.id).collect();
                tracing::warn!(?ids, "complaints escalated: open past their due date");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "complaint escalation failed; retrying later"),
        }
        match store.remind_overdue_invoices(now.date_naive(), now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(tasks = n, "overdue invoices: payment reminders raised"),
            Err(e) => tracing::warn!(error = %e, "raising payment reminders failed; retrying later"),
        }
        match store.backfill_repair_facts(1000).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(repairs = n, "report facts written for earlier completions"),
            Err(e) => tracing::warn!(error = %e, "writing report facts failed; retrying later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|v| *v) => break,
        }
    }
}
