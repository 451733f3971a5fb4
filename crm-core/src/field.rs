//! Field work: a technician's tasks (the repair orders assigned to them), the status flow they
//! walk on the road and on site, what they record there, and the station stock operations that
//! move parts (transfers between stations, stocktakes).
//!
//! The status flow is a pure table ([`TaskStatus::after`]); storage applies it inside one
//! transaction together with the repair order's own status, the stock ledger and the
//! idempotency record of the request.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::model::{Address, RepairStatus, StatusChange};
use crate::types::*;

str_enum!(
    /// Where a technician is with a task.
    TaskStatus {
        Assigned = "assigned", Accepted = "accepted", EnRoute = "en_route", OnSite = "on_site",
        Paused = "paused", Completed = "completed", CannotComplete = "cannot_complete",
    }
);
str_enum!(
    /// What a technician does to a task; each is allowed from some statuses only.
    TaskAction {
        Accept = "accept", Depart = "depart", CheckIn = "check_in", Pause = "pause", Resume = "resume",
        Complete = "complete", CannotComplete = "cannot_complete",
    }
);
str_enum!(
    /// Who pays for a part used: the manufacturer's warranty (or a service contract), or the customer.
    Billing { Warranty = "warranty", Paid = "paid" }
);

impl TaskStatus {
    /// The actions allowed from this status.
    pub fn actions(self) -> &'static [TaskAction] {
        use TaskAction as A;
        match self {
            TaskStatus::Assigned => &[A::Accept],
            TaskStatus::Accepted => &[A::Depart],
            TaskStatus::EnRoute => &[A::CheckIn],
            TaskStatus::OnSite => &[A::Pause, A::Complete, A::CannotComplete],
            TaskStatus::Paused => &[A::Resume, A::CannotComplete],
            TaskStatus::Completed | TaskStatus::CannotComplete => &[],
        }
    }

    /// The status an action leads to, when it is allowed.
    pub fn after(self, action: TaskAction) -> Option<TaskStatus> {
        if !self.actions().contains(&action) {
            return None;
        }
        Some(match action {
            TaskAction::Accept => TaskStatus::Accepted,
            TaskAction::Depart => TaskStatus::EnRoute,
            TaskAction::CheckIn | TaskAction::Resume => TaskStatus::OnSite,
            TaskAction::Pause => TaskStatus::Paused,
            TaskAction::Complete => TaskStatus::Completed,
            TaskAction::CannotComplete => TaskStatus::CannotComplete,
        })
    }

    /// Work has started: the technician is on the way or on site. Started work is not re-planned
    /// or reassigned.
    pub fn started(self) -> bool {
        matches!(self, TaskStatus::EnRoute | TaskStatus::OnSite | TaskStatus::Paused)
    }

    /// The repair order's status that goes with this task status.
    pub fn repair_status(self) -> RepairStatus {
        match self {
            TaskStatus::Assigned | TaskStatus::Accepted => RepairStatus::Assigned,
            TaskStatus::EnRoute | TaskStatus::OnSite | TaskStatus::Paused => RepairStatus::InProgress,
            TaskStatus::Completed => RepairStatus::Completed,
            TaskStatus::CannotComplete => RepairStatus::CannotComplete,
        }
    }
}

/// Great-circle distance in metres (haversine on a 6,371 km sphere).
pub fn distance_m(a: GeoPoint, b: GeoPoint) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dla = la2 - la1;
    let dlo = (b.lon - a.lon).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * 6_371_000.0 * h.sqrt().asin()
}

// ---------------------------------------------------------------- the task as the technician sees it

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskCustomer {
    pub id: i64,
    pub name: String,
    /// The first phone number, to call ahead.
    pub phone: Option<String>,
    /// The first address: where the visit is.
    pub address: Option<Address>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskAsset {
    pub id: i64,
    pub serial: String,
    pub model_code: String,
    pub model_name: String,
    pub product_line: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckIn {
    pub at: DateTime<Utc>,
    pub location: GeoPoint,
    /// From the customer's address, when it has a location.
    pub distance_m: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PartUsed {
    pub id: i64,
    pub part_id: i64,
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    /// Decided by the asset's warranty on the day the part was used.
    pub billing: Billing,
    pub unit_price: Money,
    pub station_id: i64,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Photo {
    pub id: i64,
    pub content_type: String,
    pub bytes: u64,
    pub sha256: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Signature {
    pub signed_by: String,
    pub bytes: u64,
    pub at: DateTime<Utc>,
}

/// A repair order as its technician works it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub repair_order_id: i64,
    pub status: TaskStatus,
    /// The actions allowed now.
    pub allowed: Vec<TaskAction>,
    pub repair_status: RepairStatus,
    /// Planned start of the visit.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Position in the technician's day route (1 = first).
    pub route_seq: Option<u32>,
    pub duration_minutes: u32,
    pub description: String,
    pub station_id: Option<i64>,
    pub customer: TaskCustomer,
    pub asset: TaskAsset,
    /// The diagnosed fault, from the model's fault catalogue.
    pub fault_code: Option<String>,
    pub diagnosis: Option<String>,
    pub work_done: Option<String>,
    pub labour_hours: Option<f64>,
    pub check_in: Option<CheckIn>,
    pub cannot_complete_reason: Option<String>,
    pub parts: Vec<PartUsed>,
    pub photos: Vec<Photo>,
    pub signature: Option<Signature>,
    /// The task's status changes, oldest first.
    pub history: Vec<StatusChange>,
}

// ---------------------------------------------------------------- writes

/// A status change requested by the technician.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskStep {
    pub action: TaskAction,
    /// Where the technician is: required to check in.
    #[serde(default)]
    pub location: Option<GeoPoint>,
    /// Why the work cannot be completed: required for `cannot_complete`.
    #[serde(default)]
    pub reason: Option<Text>,
}

impl TaskStep {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.action == TaskAction::CheckIn && self.location.is_none() {
            return Err(FieldError::new("location", "checking in needs the GPS position"));
        }
        if self.action == TaskAction::CannotComplete && self.reason.is_none() {
            return Err(FieldError::new("reason", "say why the work cannot be completed"));
        }
        Ok(())
    }
}

/// The technician's report; fields left out keep their value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskReport {
    /// A code from the asset model's fault catalogue.
    #[serde(default)]
    pub fault_code: Option<String>,
    #[serde(default)]
    pub diagnosis: Option<Text>,
    #[serde(default)]
    pub work_done: Option<Text>,
    /// 0–24, in steps the technician chooses (0.25 is common).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 24)]
    pub labour_hours: Option<f64>,
}

impl TaskReport {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self
            .labour_hours
            .is_some_and(|h| !(0.0..=24.0).contains(&h) || h.is_nan())
        {
            return Err(FieldError::new("labour_hours", "must be 0 to 24"));
        }
        if self == &TaskReport::default() {
            return Err(FieldError::new("fault_code", "the report is empty"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPartUse {
    pub part_id: i64,
    /// 1–100.
    #[schema(minimum = 1, maximum = 100)]
    pub quantity: u32,
}

impl NewPartUse {
    pub fn validate(&self) -> Result<(), FieldError> {
        if !(1..=100).contains(&self.quantity) {
            return Err(FieldError::new("quantity", "must be 1 to 100"));
        }
        Ok(())
    }
}

/// A file the adapter has already written to disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFile {
    pub path: String,
    pub content_type: String,
    pub bytes: u64,
    pub sha256: String,
}

/// One write to a task. Storage applies it in one transaction with the idempotency record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "write", rename_all = "snake_case")]
pub enum TaskWrite {
    Step(TaskStep),
    Report(TaskReport),
    Part(NewPartUse),
    Photo(StoredFile),
    Signature { signed_by: Text, file: StoredFile },
}

/// The `Idempotency-Key` of a request and a fingerprint of the request itself: the same key with
/// a different request is refused rather than answered with another request's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
}

/// Where a repair order's visit is and what it needs, for dispatch.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderSite {
    pub repair_order_id: i64,
    /// The first of the customer's addresses that has a location.
    pub location: Option<GeoPoint>,
    /// The asset model's product line (the skill needed).
    pub product_line: String,
    /// The ticket's priority (the SLA follows it).
    pub priority: crate::model::Priority,
    /// Who and what, for the dispatcher's cards: the customer's name, the visit address
    /// ("street, city"; empty without one) and the asset's model name.
    pub customer: String,
    pub address: String,
    pub model: String,
    /// The stations that declined the order (dispatch never gives it back to them), in order.
    pub declined: Vec<i64>,
}

/// What dispatch decided for a repair order (auto-assignment or a day plan).
#[derive(Debug, Clone, PartialEq)]
pub enum DispatchDecision {
    Assign {
        station_id: i64,
        technician_id: i64,
        scheduled_for: DateTime<Utc>,
        route_seq: Option<u32>,
        /// Book this visit window with the customer; `None` keeps the one there is.
        appointment: Option<crate::model::Appointment>,
        /// A person assigned despite a failed check (skill, level or shift): why. Kept in the
        /// audit entry of the assignment.
        override_reason: Option<String>,
    },
    /// Nobody can take it; the reason is one of dispatch's (`no_skill_match`,
    /// `no_shift_left`, `out_of_reach`, `no_capacity`, `window_infeasible`, `parts_missing`).
    Unassigned { reason: String },
}

// ---------------------------------------------------------------- stock operations

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransfer {
    pub from_station_id: i64,
    pub to_station_id: i64,
    pub part_id: i64,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub quantity: u32,
}

impl NewTransfer {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.quantity == 0 || i64::from(self.quantity) > crate::model::MAX_STOCK_UNITS {
            return Err(FieldError::new("quantity", "must be 1 to 1000000"));
        }
        if self.from_station_id == self.to_station_id {
            return Err(FieldError::new("to_station_id", "must differ from from_station_id"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Transfer {
    pub id: i64,
    pub from_station_id: i64,
    pub to_station_id: i64,
    pub part_id: i64,
    pub quantity: u32,
    /// The `transfer_out` and `transfer_in` movements, both referencing `transfer:<id>`.
    pub movement_ids: [i64; 2],
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockCount {
    pub part_id: i64,
    #[schema(maximum = 1_000_000)]
    pub counted: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStocktake {
    /// Parts counted; parts not listed are not touched.
    #[schema(min_items = 1, max_items = 10000)]
    pub counts: Vec<StockCount>,
}

impl NewStocktake {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.counts.is_empty() || self.counts.len() > 10_000 {
            return Err(FieldError::new("counts", "1 to 10000 parts"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.counts.iter().enumerate() {
            if i64::from(c.counted) > crate::model::MAX_STOCK_UNITS {
                return Err(FieldError::new(format!("counts[{i}].counted"), "at most 1000000"));
            }
            if !seen.insert(c.part_id) {
                return Err(FieldError::new(format!("counts[{i}].part_id"), "counted twice"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Variance {
    pub part_id: i64,
    pub expected: i64,
    pub counted: u32,
    /// counted − expected; booked as a `stocktake` movement when not 0.
    pub variance: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stocktake {
    pub id: i64,
    pub station_id: i64,
    pub at: DateTime<Utc>,
    pub lines: Vec<Variance>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_flow() {
        use TaskAction as A;
        use TaskStatus as S;
        let walk = [A::Accept, A::Depart, A::CheckIn, A::Pause, A::Resume, A::Complete];
        let mut s = S::Assigned;
        for a in walk {
            s = s.after(a).unwrap_or_else(|| panic!("{a:?} from {s:?}"));
        }
        assert_eq!(s, S::Completed);
        assert!(S::Completed.actions().is_empty());
        assert_eq!(S::Assigned.after(A::Complete), None);
        assert_eq!(S::Accepted.after(A::CheckIn), None);
        assert_eq!(S::Paused.after(A::CannotComplete), Some(S::CannotComplete));
        // Every allowed action leads somewhere and nothing else does.
        for &s in S::ALL {
            for &a in A::ALL {
                assert_eq!(s.after(a).is_some(), s.actions().contains(&a));
            }
        }
        assert!(S::EnRoute.started() && S::Paused.started() && !S::Accepted.started());
        assert_eq!(S::OnSite.repair_status(), RepairStatus::InProgress);
    }

    #[test]
    fn distances() {
        let a = GeoPoint::new(52.5200, 13.4050).unwrap();
        let b = GeoPoint::new(52.5200, 13.4197).unwrap();
        let d = distance_m(a, b);
        assert!((990.0..1010.0).contains(&d), "{d}");
        assert_eq!(distance_m(a, a), 0.0);
    }

    #[test]
    fn inputs_are_checked() {
        let step = TaskStep {
            action: TaskAction::CheckIn,
            location: None,
            reason: None,
        };
        assert_eq!(step.validate().unwrap_err().field, "location");
        assert_eq!(
            TaskReport::default().validate().unwrap_err().message,
            "the report is empty"
        );
        let r = TaskReport {
            labour_hours: Some(25.0),
            ..Default::default()
        };
        assert_eq!(r.validate().unwrap_err().field, "labour_hours");
        let t = NewTransfer {
            from_station_id: 1,
            to_station_id: 1,
            part_id: 1,
            quantity: 2,
        };
        assert_eq!(t.validate().unwrap_err().field, "to_station_id");
        let st = NewStocktake {
            counts: vec![
                StockCount { part_id: 1, counted: 2 },
                StockCount { part_id: 1, counted: 3 },
            ],
        };
        assert_eq!(st.validate().unwrap_err().field, "counts[1].part_id");
    }
}
