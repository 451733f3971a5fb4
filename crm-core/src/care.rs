//! Customer care: agent tasks, the work an agent does that is not an inbound call.
//!
//! A task is raised by something that happened, named by its `source` (a satisfaction callback
//! nobody answered, a poor survey, an escalated or resolved complaint, a reminder), so raising it
//! again adds nothing. Agents of the task's queue claim it (one agent at a time), call the
//! customer from the desk (preview dial) and finish it with an outcome.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::types::ParseError;
use crate::warranty::{ServiceContract, WarrantyFacts, WarrantyPolicy, WarrantyState};

str_enum!(
    /// What raised the task.
    AgentTaskKind {
        CallbackNoAnswer = "callback_no_answer",
        PoorSurvey = "poor_survey",
        ComplaintEscalated = "complaint_escalated",
        ComplaintFollowUp = "complaint_follow_up",
        MaintenanceDue = "maintenance_due",
        WarrantyExpiring = "warranty_expiring",
        Birthday = "birthday",
        Voicemail = "voicemail",
        InvoiceOverdue = "invoice_overdue",
    }
);
str_enum!(AgentTaskStatus { Open = "open", Claimed = "claimed", Done = "done" });
str_enum!(
    /// How the agent finished it: `reached` (spoke to the customer), `no_answer`,
    /// `wrong_number`, `declined` (the customer did not want it), `handled` (no call needed).
    TaskOutcome { Reached = "reached", NoAnswer = "no_answer", WrongNumber = "wrong_number", Declined = "declined", Handled = "handled" }
);

/// The pseudo-queue of supervisors' alerts.
pub const SUPERVISORS: &str = "supervisors";

impl AgentTaskKind {
    /// The queue whose agents work a task of this kind.
    pub fn queue(self) -> &'static str {
        use AgentTaskKind::*;
        match self {
            CallbackNoAnswer | MaintenanceDue | WarrantyExpiring | Birthday | Voicemail | InvoiceOverdue => "general",
            ComplaintFollowUp => "complaints",
            PoorSurvey | ComplaintEscalated => SUPERVISORS,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentTask {
    pub id: i64,
    pub kind: AgentTaskKind,
    pub queue: String,
    /// What raised it, unique: `callback-<job>-exhausted`, `complaint-<id>-escalated`, …
    pub source: String,
    pub campaign_id: Option<i64>,
    /// The customer; none only for a voicemail from a caller the CRM does not know.
    pub customer_id: Option<i64>,
    pub repair_order_id: Option<i64>,
    pub complaint_id: Option<i64>,
    pub asset_id: Option<i64>,
    pub summary: String,
    /// The number to call back when it is not the customer's first phone (a voicemail's caller ID).
    pub callback_number: Option<String>,
    /// The call that raised it; a voicemail's recording is on that call record.
    pub cdr_id: Option<i64>,
    /// The customer's name and the product model's, to read the task by.
    pub customer_name: Option<String>,
    pub product: Option<String>,
    pub status: AgentTaskStatus,
    /// Work it not before this (reminders) — the list is ordered by it.
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub claimed_by: Option<i64>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<TaskOutcome>,
    pub note: Option<String>,
}

/// A task to raise (a no-op when its source has raised one already).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAgentTask {
    pub kind: AgentTaskKind,
    pub source: String,
    pub campaign_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub repair_order_id: Option<i64>,
    pub complaint_id: Option<i64>,
    pub asset_id: Option<i64>,
    pub summary: String,
    pub callback_number: Option<String>,
    pub cdr_id: Option<i64>,
    pub due_at: DateTime<Utc>,
}

/// Which tasks to list: open and claimed ones unless `status` says otherwise.
#[derive(Debug, Clone, Default)]
pub struct AgentTaskQuery {
    pub status: Option<AgentTaskStatus>,
    /// Only these queues (an agent's); all when empty.
    pub queues: Vec<String>,
    pub customer_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub kind: Option<AgentTaskKind>,
    pub limit: u32,
}

impl NewAgentTask {
    /// The queue that will work it.
    pub fn queue_kind(&self) -> &'static str {
        self.kind.queue()
    }
}

impl AgentTaskQuery {
    pub fn with_kind(self, kind: Option<AgentTaskKind>) -> Self {
        AgentTaskQuery { kind, ..self }
    }
}

/// An agent finishing a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskFinish {
    pub outcome: TaskOutcome,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

impl TaskFinish {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
            return Err(FieldError::new("note", "at most 2000 characters"));
        }
        Ok(())
    }
}

/// Source keys: one task per cause.
pub fn callback_source(job_id: i64) -> String {
    format!("callback-{job_id}-exhausted")
}
pub fn poor_survey_source(survey_id: i64) -> String {
    format!("survey-{survey_id}-poor")
}
pub fn escalation_source(complaint_id: i64) -> String {
    format!("complaint-{complaint_id}-escalated")
}
pub fn follow_up_source(complaint_id: i64) -> String {
    format!("complaint-{complaint_id}-follow-up")
}

/// Days after a complaint's resolution that its follow-up call is due.
pub const FOLLOW_UP_DAYS: i64 = 2;

// ------------------------------------------------------------------------------ reminders

/// Days a maintenance reminder stays due after its date; older ones are not raised.
pub const MAINTENANCE_GRACE_DAYS: i64 = 30;

/// What the store found that may call for a reminder; [`reminder`] decides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CareCandidate {
    pub customer_id: i64,
    pub asset_id: Option<i64>,
    pub do_not_call: bool,
    pub marketing_consent: bool,
    pub birthday: Option<NaiveDate>,
    pub purchase_date: Option<NaiveDate>,
    /// Where the asset's factory warranty starts (else the purchase date).
    pub warranty_start: Option<crate::warranty::WarrantyStart>,
    /// The asset's last completed repair.
    pub last_service: Option<NaiveDate>,
    pub maintenance_months: Option<u16>,
    pub policy: Option<WarrantyPolicy>,
    pub contracts: Vec<ServiceContract>,
    pub mileage_km: Option<u32>,
    pub operating_hours: Option<u32>,
}

/// A birthday falls on `today`; 29 February is kept on 28 February in other years.
pub fn birthday_on(today: NaiveDate, birthday: NaiveDate) -> bool {
    let (m, d) = (birthday.month(), birthday.day());
    if (m, d) == (today.month(), today.day()) {
        return true;
    }
    let leap = NaiveDate::from_ymd_opt(today.year(), 2, 29).is_some();
    (m, d) == (2, 29) && !leap && (today.month(), today.day()) == (2, 28)
}

/// The `month-day` keys whose birthdays are kept today (see [`birthday_on`]).
pub fn birthday_keys(today: NaiveDate) -> Vec<String> {
    let mut keys = vec![today.format("%m-%d").to_string()];
    if (today.month(), today.day()) == (2, 28) && NaiveDate::from_ymd_opt(today.year(), 2, 29).is_none() {
        keys.push("02-29".into());
    }
    keys
}

/// When routine maintenance falls due: `months` after the last service (or the purchase).
pub fn maintenance_due(last: NaiveDate, months: u16) -> Option<NaiveDate> {
    last.checked_add_months(Months::new(u32::from(months)))
}

/// The reminder of `kind` this candidate calls for on `today`, looking `horizon_days` ahead:
/// never for a customer on the do-not-call list; birthdays only with marketing consent;
/// maintenance from `horizon_days` before its date until a month after; a warranty (or
/// contract) ending within the horizon. One task per cause: the source names the asset and the
/// date (or the customer and the year), whoever raises it.
pub fn reminder(
    kind: AgentTaskKind,
    today: NaiveDate,
    horizon_days: u32,
    c: &CareCandidate,
    campaign_id: Option<i64>,
    now: DateTime<Utc>,
) -> Option<NewAgentTask> {
    if c.do_not_call {
        return None;
    }
    let horizon = Duration::days(i64::from(horizon_days));
    let (cause, summary) = match kind {
        AgentTaskKind::Birthday => {
            if !c.marketing_consent || !c.birthday.is_some_and(|b| birthday_on(today, b)) {
                return None;
            }
            (
                format!("birthday-{}-{}", c.customer_id, today.year()),
                "Birthday today: call with the company's wishes (the customer agreed to marketing calls).".to_string(),
            )
        }
        AgentTaskKind::MaintenanceDue => {
            let asset = c.asset_id?;
            let last = c.last_service.or(c.purchase_date)?;
            let due = maintenance_due(last, c.maintenance_months?)?;
            if today < due - horizon || today > due + Duration::days(MAINTENANCE_GRACE_DAYS) {
                return None;
            }
            (
                format!("maintenance-{asset}-{due}"),
                format!("Routine maintenance is due on {due}: offer an appointment."),
            )
        }
        AgentTaskKind::WarrantyExpiring => {
            let asset = c.asset_id?;
            let start = c.warranty_start.clone().or_else(|| {
                c.purchase_date
                    .map(|purchase_date| crate::warranty::WarrantyStart::StatedPurchase { purchase_date })
            })?;
            let facts = WarrantyFacts {
                start: &start,
                policy: c.policy.as_ref(),
                contracts: &c.contracts,
                mileage_km: c.mileage_km,
                operating_hours: c.operating_hours,
            };
            let status = crate::warranty::determine(today, facts, horizon_days);
            let until = status.until?;
            if status.state != WarrantyState::ExpiringSoon {
                return None;
            }
            (
                format!("warranty-{asset}-{until}"),
                format!("The warranty ends on {until}: offer a check-up or an extended contract."),
            )
        }
        _ => return None,
    };
    Some(NewAgentTask {
        kind,
        // The cause alone: a campaign raising the same reminder adds no second task.
        source: cause,
        campaign_id,
        customer_id: Some(c.customer_id),
        repair_order_id: None,
        complaint_id: None,
        asset_id: c.asset_id,
        summary,
        callback_number: None,
        cdr_id: None,
        due_at: now,
    })
}

/// The reminder kinds.
pub const REMINDERS: [AgentTaskKind; 3] = [
    AgentTaskKind::MaintenanceDue,
    AgentTaskKind::WarrantyExpiring,
    AgentTaskKind::Birthday,
];

/// An outbound campaign: reminder tasks of one kind raised at once, worked by agents from the
/// task list (preview dialling), with its progress.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub kind: AgentTaskKind,
    pub queue: String,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// Tasks by status, and done tasks by outcome.
    pub tasks: i64,
    pub open: i64,
    pub claimed: i64,
    pub done: i64,
    pub reached: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    #[schema(
        pattern = "^(?=[^\\x00]{1,200}$)[^\\x00]*[^\\x00\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00]*$"
    )]
    pub name: String,
    /// `maintenance_due`, `warranty_expiring` or `birthday`.
    pub kind: AgentTaskKind,
    /// Look this many days ahead (maintenance and warranty), 0–180; default 30.
    #[serde(default = "default_within")]
    #[schema(maximum = 180)]
    pub within_days: u32,
}

fn default_within() -> u32 {
    30
}

impl NewCampaign {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            return Err(FieldError::new("name", "1 to 200 characters"));
        }
        if !REMINDERS.contains(&self.kind) {
            return Err(FieldError::new(
                "kind",
                "maintenance_due, warranty_expiring or birthday",
            ));
        }
        if self.within_days > 180 {
            return Err(FieldError::new("within_days", "0 to 180"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_queue_and_alerts_go_to_supervisors() {
        for k in AgentTaskKind::ALL {
            assert!(!k.queue().is_empty());
        }
        assert_eq!(AgentTaskKind::ComplaintEscalated.queue(), SUPERVISORS);
        assert_eq!(AgentTaskKind::PoorSurvey.queue(), SUPERVISORS);
        assert_eq!(AgentTaskKind::ComplaintFollowUp.queue(), "complaints");
        assert_eq!(AgentTaskKind::CallbackNoAnswer.queue(), "general");
    }

    #[test]
    fn sources_differ_by_cause() {
        assert_ne!(escalation_source(7), follow_up_source(7));
        assert_eq!(callback_source(3), "callback-3-exhausted");
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn now() -> DateTime<Utc> {
        d("2026-03-10").and_hms_opt(9, 0, 0).unwrap().and_utc()
    }

    #[test]
    fn birthdays_need_consent_and_leap_days_move_to_the_28th() {
        let c = CareCandidate {
            customer_id: 7,
            marketing_consent: true,
            birthday: Some(d("1980-03-10")),
            ..Default::default()
        };
        let t = reminder(AgentTaskKind::Birthday, d("2026-03-10"), 0, &c, None, now()).unwrap();
        assert_eq!((t.source.as_str(), t.queue_kind()), ("birthday-7-2026", "general"));
        assert!(!t.summary.contains("1980"), "no personal data in the summary");
        let no_consent = CareCandidate {
            marketing_consent: false,
            ..c.clone()
        };
        assert!(reminder(AgentTaskKind::Birthday, d("2026-03-10"), 0, &no_consent, None, now()).is_none());
        let dnc = CareCandidate {
            do_not_call: true,
            ..c.clone()
        };
        assert!(reminder(AgentTaskKind::Birthday, d("2026-03-10"), 0, &dnc, None, now()).is_none());
        assert!(reminder(AgentTaskKind::Birthday, d("2026-03-11"), 0, &c, None, now()).is_none());
        assert!(birthday_on(d("2027-02-28"), d("2000-02-29")));
        assert!(!birthday_on(d("2028-02-28"), d("2000-02-29")));
        assert!(birthday_on(d("2028-02-29"), d("2000-02-29")));
        assert_eq!(
            birthday_keys(d("2027-02-28")),
            vec!["02-28".to_string(), "02-29".to_string()]
        );
        assert_eq!(birthday_keys(d("2028-02-28")), vec!["02-28".to_string()]);
    }

    #[test]
    fn maintenance_falls_due_after_the_last_service_and_not_forever() {
        let c = CareCandidate {
            customer_id: 7,
            asset_id: Some(3),
            purchase_date: Some(d("2024-01-15")),
            last_service: Some(d("2025-03-20")),
            maintenance_months: Some(12),
            ..Default::default()
        };
        let t = reminder(AgentTaskKind::MaintenanceDue, d("2026-03-10"), 14, &c, None, now()).unwrap();
        assert_eq!(t.source, "maintenance-3-2026-03-20");
        assert_eq!(t.asset_id, Some(3));
        assert!(
            reminder(AgentTaskKind::MaintenanceDue, d("2026-03-01"), 14, &c, None, now()).is_none(),
            "too early"
        );
        assert!(
            reminder(AgentTaskKind::MaintenanceDue, d("2026-04-20"), 14, &c, None, now()).is_none(),
            "too late"
        );
        let never_serviced = CareCandidate {
            last_service: None,
            ..c.clone()
        };
        assert!(reminder(
            AgentTaskKind::MaintenanceDue,
            d("2026-03-10"),
            14,
            &never_serviced,
            None,
            now()
        )
        .is_none());
        let in_campaign = reminder(AgentTaskKind::MaintenanceDue, d("2026-03-10"), 14, &c, Some(9), now()).unwrap();
        assert_eq!(
            (in_campaign.source.as_str(), in_campaign.campaign_id),
            ("maintenance-3-2026-03-20", Some(9))
        );
    }

    #[test]
    fn warranty_reminders_come_within_the_horizon() {
        let c = CareCandidate {
            customer_id: 7,
            asset_id: Some(3),
            purchase_date: Some(d("2024-04-01")),
            policy: Some(WarrantyPolicy {
                parts_months: 24,
                labor_months: 12,
                max_mileage_km: None,
                max_hours: None,
            }),
            ..Default::default()
        };
        let t = reminder(AgentTaskKind::WarrantyExpiring, d("2026-03-10"), 30, &c, None, now()).unwrap();
        assert_eq!(t.source, "warranty-3-2026-03-31");
        assert!(reminder(AgentTaskKind::WarrantyExpiring, d("2026-02-01"), 30, &c, None, now()).is_none());
        assert!(
            reminder(AgentTaskKind::WarrantyExpiring, d("2026-04-02"), 30, &c, None, now()).is_none(),
            "expired"
        );
    }

    #[test]
    fn campaigns_are_reminders_with_a_name() {
        let c = |kind, within_days| NewCampaign {
            name: "Spring check".into(),
            kind,
            within_days,
        };
        assert!(c(AgentTaskKind::MaintenanceDue, 30).validate().is_ok());
        assert_eq!(c(AgentTaskKind::PoorSurvey, 30).validate().unwrap_err().field, "kind");
        assert_eq!(
            c(AgentTaskKind::Birthday, 181).validate().unwrap_err().field,
            "within_days"
        );
    }

    #[test]
    fn a_long_note_is_refused_by_name() {
        let f = TaskFinish {
            outcome: TaskOutcome::Reached,
            note: Some("x".repeat(2001)),
        };
        assert_eq!(f.validate().unwrap_err().field, "note");
    }
}
