//! Customer care: agent tasks, the work an agent does that is not an inbound call.
//!
//! A task is raised by something that happened, named by its `source` (a satisfaction callback
//! nobody answered, a poor survey, an escalated or resolved complaint, a reminder), so raising it
//! again adds nothing. Agents of the task's queue claim it (one agent at a time), call the
//! customer from the desk (preview dial) and finish it with an outcome.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::types::ParseError;

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
            CallbackNoAnswer | MaintenanceDue | WarrantyExpiring | Birthday => "general",
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
    pub customer_id: i64,
    pub repair_order_id: Option<i64>,
    pub complaint_id: Option<i64>,
    pub asset_id: Option<i64>,
    pub summary: String,
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
    pub customer_id: i64,
    pub repair_order_id: Option<i64>,
    pub complaint_id: Option<i64>,
    pub asset_id: Option<i64>,
    pub summary: String,
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

    #[test]
    fn a_long_note_is_refused_by_name() {
        let f = TaskFinish {
            outcome: TaskOutcome::Reached,
            note: Some("x".repeat(2001)),
        };
        assert_eq!(f.validate().unwrap_err().field, "note");
    }
}
