//! Customer-care reminders: maintenance due, warranty ending, birthdays (with consent), raised
//! as agent tasks once a day by housekeeping, or at once for an outbound campaign. The store
//! picks candidates; `crm_core::care::reminder` decides; raising a task twice adds nothing.
//! Maintenance and warranty reminders also go by e-mail to customers who agreed to hear from
//! us (`crm_core::mail::customer_address`).

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
    if matches!(kind, AgentTaskKind::MaintenanceDue | AgentTaskKind::WarrantyExpiring) {
        for t in &tasks {
            email_reminder(store, t, now).await?;
        }
    }
    Ok(added)
}

/// The reminder by e-mail too, to a customer who agreed to hear from us and is not on the
/// do-not-contact list; once per task source (the day's round raising it again adds nothing).
async fn email_reminder(store: &dyn Store, t: &NewAgentTask, now: DateTime<Utc>) -> StoreResult<()> {
    use crm_core::mail::{care_reminder, customer_address, MailKind, NewMail, Reachable};
    let Some(id) = t.customer_id else { return Ok(()) };
    let c = store.get_customer(id).await?;
    let reach = Reachable {
        email: c.email.as_ref(),
        do_not_contact: c.do_not_call,
        marketing_consent: c.marketing_consent,
    };
    let Some(to) = customer_address(MailKind::CareReminder, reach) else {
        return Ok(());
    };
    let r = care_reminder(&c.name, &t.summary, "Your service team");
    let mail = NewMail {
        key: format!("care:{}", t.source),
        kind: MailKind::CareReminder,
        to,
        subject: r.subject,
        text: r.text,
        attachments: vec![],
        due_at: now,
    };
    store.queue_mail(&mail, now).await?;
    Ok(())
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
