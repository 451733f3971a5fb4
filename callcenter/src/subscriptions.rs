//! Scheduled reports: for each subscription whose period has ended and not been sent, build the
//! report over that period, write it as CSV (the reports' own CSV, formula cells neutralised),
//! and queue it in the outbox with a short summary, keyed by subscription and period — a round
//! that runs twice, or on two nodes, queues one message. Run daily by housekeeping, or for one
//! subscription from `POST /api/v1/report-subscriptions/{id}/send`.

use chrono::{DateTime, Utc};
use crm_core::claims::ClaimsBy;
use crm_core::mail::{scheduled_report, Attachment, Mail, MailKind, NewMail};
use crm_core::reports::{ComplaintsBy, Dimension, Period};
use crm_core::subscriptions::{due, last_period, mail_key, period_name, SubscribedReport, Subscription};
use crm_core::{Store, StoreError, StoreResult};

/// The report's CSV and up to five summary lines.
async fn build(
    store: &dyn Store,
    report: SubscribedReport,
    p: Period,
    today: chrono::NaiveDate,
) -> StoreResult<(String, Vec<String>)> {
    let csv_of = |bytes: Result<Vec<u8>, csv::Error>| {
        bytes
            .map_err(|e| StoreError::Backend(format!("writing the report's CSV: {e}")))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    Ok(match report {
        SubscribedReport::ServiceByModel
        | SubscribedReport::ServiceBySerialBatch
        | SubscribedReport::ServiceByFaultCode => {
            let d = match report {
                SubscribedReport::ServiceByModel => Dimension::Model,
                SubscribedReport::ServiceBySerialBatch => Dimension::SerialBatch,
                _ => Dimension::FaultCode,
            };
            let rows = store.service_report(p, d, None).await?;
            let summary = rows
                .iter()
                .take(5)
                .map(|r| {
                    let ftf = r
                        .first_time_fix_rate
                        .map_or("–".to_string(), |f| format!("{:.0} %", f * 100.0));
                    format!(
                        "{}: {} repairs, first-time fix {ftf}, {} repeats",
                        r.key, r.repairs, r.repeat_repairs
                    )
                })
                .collect();
            (csv_of(crate::http::csv_body(&rows))?, summary)
        }
        SubscribedReport::ClaimsByStation | SubscribedReport::ClaimsByModel => {
            let by = match report {
                SubscribedReport::ClaimsByStation => ClaimsBy::Station,
                _ => ClaimsBy::Model,
            };
            let rows = store.claims_report(p, by, None).await?;
            let summary = rows
                .iter()
                .take(5)
                .map(|r| {
                    format!(
                        "{}: {} claims, {:.2} claimed, {:.2} approved",
                        r.label,
                        r.claims,
                        r.claimed_minor as f64 / 100.0,
                        r.approved_minor as f64 / 100.0
                    )
                })
                .collect();
            (csv_of(crate::http::csv_body(&rows))?, summary)
        }
        SubscribedReport::ComplaintsByCause
        | SubscribedReport::ComplaintsByStation
        | SubscribedReport::ComplaintsByModel => {
            let by = match report {
                SubscribedReport::ComplaintsByCause => ComplaintsBy::Cause,
                SubscribedReport::ComplaintsByStation => ComplaintsBy::Station,
                _ => ComplaintsBy::Model,
            };
            let rows = store.complaints_report(p, by, None, today).await?;
            let summary = rows
                .iter()
                .take(5)
                .map(|r| {
                    let rate = r
                        .per_100_repairs
                        .map_or(String::new(), |x| format!(", {x:.1} per 100 repairs"));
                    format!(
                        "{}: {} complaints, {} open, {} overdue{rate}",
                        r.label, r.complaints, r.open, r.overdue
                    )
                })
                .collect();
            (csv_of(crate::http::csv_body(&rows))?, summary)
        }
    })
}

/// Queue the subscription's report for its latest whole period (again: the same message).
pub async fn send(store: &dyn Store, s: &Subscription, now: DateTime<Utc>) -> StoreResult<(Mail, bool)> {
    let p = last_period(s.frequency, now.date_naive());
    send_period(store, s, p, now).await
}

async fn send_period(store: &dyn Store, s: &Subscription, p: Period, now: DateTime<Utc>) -> StoreResult<(Mail, bool)> {
    let (csv, mut summary) = build(store, s.report, p, now.date_naive()).await?;
    if summary.is_empty() {
        summary.push("Nothing in this period.".into());
    }
    let name = period_name(s.frequency, &p);
    let r = scheduled_report(s.report.title(), &name, &summary);
    let mail = NewMail {
        key: mail_key(s.id, &p),
        kind: MailKind::ScheduledReport,
        to: s.email.clone(),
        subject: r.subject,
        text: r.text,
        attachments: vec![Attachment {
            filename: format!("{}-{name}.csv", s.report.as_str()),
            content_type: "text/csv".into(),
            content: csv,
        }],
        due_at: now,
    };
    let out = store.queue_mail(&mail, now).await?;
    store.mark_subscription_sent(s.id, p.from).await?;
    Ok(out)
}

/// Every subscription's report whose period has ended and not been sent; how many were queued.
pub async fn send_due(store: &dyn Store, now: DateTime<Utc>) -> StoreResult<u32> {
    let mut n = 0;
    for s in store.subscriptions().await? {
        if let Some(p) = due(&s, now.date_naive()) {
            send_period(store, &s, p, now).await?;
            n += 1;
        }
    }
    Ok(n)
}
