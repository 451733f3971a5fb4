//! Warranty claims: what a station asks the manufacturer to pay for a completed warranty repair,
//! the checks that point a reviewer at what to look at, the rules of the line-by-line review, the
//! appeal, old-part returns, and the settlement of approved lines.
//!
//! Pure: the store loads the facts, calls these functions and writes what they return in one
//! transaction. Money is in minor units and every total is a sum of lines.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::types::{ParseError, Text};

/// A technician checking in further than this from the customer's address is flagged.
pub const FAR_CHECK_IN_M: f64 = 500.0;
/// The longest standard time one operation may have (100 hours).
pub const MAX_STANDARD_MINUTES: u32 = 6_000;

str_enum!(
    /// Derived from the lines: nothing decided yet, some decided, all decided, reopened by the
    /// station's appeal, or paid out in a settlement.
    ClaimStatus { Submitted = "submitted", InReview = "in_review", Decided = "decided", Appealed = "appealed", Settled = "settled" }
);
str_enum!(LineKind { Labour = "labour", Part = "part", Travel = "travel" });
str_enum!(LineDecision { Pending = "pending", Approved = "approved", Cut = "cut", Rejected = "rejected" });
str_enum!(
    /// Why a line is not paid.
    RejectCode {
        NotCovered = "not_covered", NotPerformed = "not_performed", NoEvidence = "no_evidence",
        WrongPart = "wrong_part", Duplicate = "duplicate", PartNotReturned = "part_not_returned", Other = "other",
    }
);
str_enum!(
    /// An old part the reviewer asked back: requested → shipped → received → inspected.
    ReturnStatus { Requested = "requested", Shipped = "shipped", Received = "received", Inspected = "inspected" }
);
str_enum!(
    /// What the automatic checks point a reviewer at.
    CheckFlag {
        FarCheckIn = "far_check_in", LabourAboveStandard = "labour_above_standard",
        NoStandardTime = "no_standard_time", PartNotInBom = "part_not_in_bom",
        RepeatRepair = "repeat_repair", NoSignature = "no_signature",
    }
);

impl ReturnStatus {
    /// The one step after this one.
    pub fn next(self) -> Option<ReturnStatus> {
        use ReturnStatus::*;
        match self {
            Requested => Some(Shipped),
            Shipped => Some(Received),
            Received => Some(Inspected),
            Inspected => None,
        }
    }
}

// ------------------------------------------------------------------------------ standard times

/// One version of the labour time for a product model and a fault (or operation) code.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StandardTime {
    pub id: i64,
    pub model_id: i64,
    pub code: String,
    pub minutes: u32,
    /// 1 for the first time for this model and code, then counting up.
    pub version: u32,
    /// Repairs completed from this day on are paid at this time.
    pub valid_from: NaiveDate,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStandardTime {
    pub model_id: i64,
    /// A fault code of the model, or an operation code.
    #[schema(
        pattern = "^(?=[^\\x00]{1,16}$)[^\\x00]*[^\\x00\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00]*$"
    )]
    pub code: String,
    #[schema(minimum = 1, maximum = 6000)]
    pub minutes: u32,
    pub valid_from: NaiveDate,
}

impl NewStandardTime {
    pub fn validate(&self) -> Result<(), FieldError> {
        let c = &self.code;
        if c.trim().is_empty() || c.chars().count() > 16 || c.contains('\0') {
            return Err(FieldError::new("code", "1 to 16 characters, not only spaces"));
        }
        if self.minutes == 0 || self.minutes > MAX_STANDARD_MINUTES {
            return Err(FieldError::new(
                "minutes",
                format!("must be 1 to {MAX_STANDARD_MINUTES}"),
            ));
        }
        Ok(())
    }
}

/// The version in force on `day`: the latest `valid_from` not after it (of two for the same
/// day, the later version).
pub fn standard_on(versions: &[StandardTime], day: NaiveDate) -> Option<&StandardTime> {
    versions
        .iter()
        .filter(|v| v.valid_from <= day)
        .max_by_key(|v| (v.valid_from, v.version))
}

// ------------------------------------------------------------------------------ travel bands

/// Travel paid by distance band: up to `up_to_km` (one way, station to customer) pays
/// `allowance_minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TravelBand {
    pub up_to_km: u32,
    pub allowance_minor: i64,
}

/// The bands a contract pays when configuration names none.
pub const DEFAULT_TRAVEL_BANDS: [TravelBand; 4] = [
    TravelBand {
        up_to_km: 15,
        allowance_minor: 0,
    },
    TravelBand {
        up_to_km: 40,
        allowance_minor: 1_500,
    },
    TravelBand {
        up_to_km: 80,
        allowance_minor: 3_000,
    },
    TravelBand {
        up_to_km: 150,
        allowance_minor: 5_000,
    },
];

/// The allowance for a distance: the first band that reaches it; beyond the last band, the last
/// band's allowance.
pub fn travel_allowance(bands: &[TravelBand], km: f64) -> i64 {
    bands
        .iter()
        .find(|b| km <= f64::from(b.up_to_km))
        .or(bands.last())
        .map_or(0, |b| b.allowance_minor)
}

/// Bands must rise in distance and not fall in pay.
pub fn check_bands(bands: &[TravelBand]) -> Result<(), String> {
    for w in bands.windows(2) {
        if w[1].up_to_km <= w[0].up_to_km || w[1].allowance_minor < w[0].allowance_minor {
            return Err("travel bands must rise in distance and not fall in allowance".into());
        }
    }
    if bands.iter().any(|b| b.allowance_minor < 0) {
        return Err("a travel allowance is not negative".into());
    }
    Ok(())
}

// ------------------------------------------------------------------------------ drafting

/// A warranty part the repair used, at catalogue price.
#[derive(Debug, Clone, PartialEq)]
pub struct UsedPart {
    pub part_id: i64,
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    pub unit_price_minor: i64,
}

/// Everything a claim is drafted from, loaded by the store in the claim's transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimFacts {
    /// The hours the technician typed.
    pub labour_hours: f64,
    /// The station's reason for claiming more than the standard time.
    pub deviation_reason: Option<String>,
    /// The standard time in force on the completion day: (its id, minutes).
    pub standard: Option<(i64, u32)>,
    /// The contract's rate per labour hour.
    pub rate_minor: i64,
    /// Warranty parts used.
    pub parts: Vec<UsedPart>,
    /// Part ids in the model's bill of materials; none recorded means nothing to check against.
    pub bom: Vec<i64>,
    /// Station to customer, one way, km.
    pub travel_km: Option<f64>,
    pub check_in_distance_m: Option<f64>,
    pub signed: bool,
    /// The repair this one repeats (same asset within 30 days).
    pub repeat_of: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DraftLine {
    pub kind: LineKind,
    pub part_id: Option<i64>,
    pub description: String,
    pub quantity: u32,
    /// Labour lines: the minutes claimed.
    pub minutes: Option<u32>,
    pub unit_minor: i64,
    pub claimed_minor: i64,
    pub flags: Vec<CheckFlag>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub lines: Vec<DraftLine>,
    /// Flags on the claim as a whole (check-in distance, repeat, signature).
    pub flags: Vec<CheckFlag>,
}

/// Labour minutes at a rate per hour, rounded half up to the minor unit.
pub fn labour_amount(minutes: u32, rate_minor: i64) -> i64 {
    (i64::from(minutes) * rate_minor + 30).div_euclid(60)
}

/// The lines and flags of a claim: labour at standard time (typed time only with a reason, and
/// flagged), each warranty part at catalogue price, travel by band.
pub fn draft(f: &ClaimFacts, bands: &[TravelBand]) -> Draft {
    let typed = (f.labour_hours.max(0.0) * 60.0).round() as u32;
    let mut labour_flags = vec![];
    let minutes = match f.standard {
        Some((_, std)) if typed > std && f.deviation_reason.is_some() => {
            labour_flags.push(CheckFlag::LabourAboveStandard);
            typed
        }
        Some((_, std)) => std,
        None => {
            labour_flags.push(CheckFlag::NoStandardTime);
            typed
        }
    };
    let mut lines = vec![DraftLine {
        kind: LineKind::Labour,
        part_id: None,
        description: match (&f.standard, &f.deviation_reason) {
            (Some((_, std)), Some(why)) if minutes > *std => {
                format!("labour {minutes} min (standard {std} min): {why}")
            }
            (Some(_), _) => format!("labour {minutes} min at standard time"),
            (None, _) => format!("labour {minutes} min as reported (no standard time)"),
        },
        quantity: 1,
        minutes: Some(minutes),
        unit_minor: f.rate_minor,
        claimed_minor: labour_amount(minutes, f.rate_minor),
        flags: labour_flags,
    }];
    for p in &f.parts {
        let mut flags = vec![];
        if !f.bom.is_empty() && !f.bom.contains(&p.part_id) {
            flags.push(CheckFlag::PartNotInBom);
        }
        lines.push(DraftLine {
            kind: LineKind::Part,
            part_id: Some(p.part_id),
            description: format!("{} {}", p.sku, p.name),
            quantity: p.quantity,
            minutes: None,
            unit_minor: p.unit_price_minor,
            claimed_minor: p.unit_price_minor * i64::from(p.quantity),
            flags,
        });
    }
    if let Some(km) = f.travel_km {
        let allowance = travel_allowance(bands, km);
        if allowance > 0 {
            lines.push(DraftLine {
                kind: LineKind::Travel,
                part_id: None,
                description: format!("travel {km:.1} km"),
                quantity: 1,
                minutes: None,
                unit_minor: allowance,
                claimed_minor: allowance,
                flags: vec![],
            });
        }
    }
    let mut flags = vec![];
    if f.check_in_distance_m.is_some_and(|d| d > FAR_CHECK_IN_M) {
        flags.push(CheckFlag::FarCheckIn);
    }
    if f.repeat_of.is_some() {
        flags.push(CheckFlag::RepeatRepair);
    }
    if !f.signed {
        flags.push(CheckFlag::NoSignature);
    }
    Draft { lines, flags }
}

// ------------------------------------------------------------------------------ claims as stored

/// A warranty claim: one per completed warranty repair.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Claim {
    pub id: i64,
    pub repair_order_id: i64,
    pub station_id: i64,
    pub technician_id: Option<i64>,
    pub asset_id: i64,
    pub model_id: i64,
    pub fault_code: Option<String>,
    pub completed_on: NaiveDate,
    pub status: ClaimStatus,
    pub currency: String,
    pub claimed_minor: i64,
    /// What the decided lines pay so far.
    pub approved_minor: i64,
    pub flags: Vec<CheckFlag>,
    pub evidence: Evidence,
    /// The station's appeal, once.
    pub appeal: Option<String>,
    pub settlement_id: Option<i64>,
    pub submitted_by: Option<i64>,
    pub submitted_at: DateTime<Utc>,
    pub lines: Vec<ClaimLine>,
}

/// What the claim rests on, as the repair recorded it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    pub diagnosis: Option<String>,
    pub work_done: Option<String>,
    pub labour_hours_reported: f64,
    pub photos: u32,
    pub signed_by: Option<String>,
    pub check_in_distance_m: Option<f64>,
    pub travel_km: Option<f64>,
    /// The customer's score of the repair in the satisfaction callback (1–5), when answered.
    pub survey_score: Option<u8>,
    pub standard_time_id: Option<i64>,
    pub repeat_of: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ClaimLine {
    pub id: i64,
    pub claim_id: i64,
    pub kind: LineKind,
    pub part_id: Option<i64>,
    pub description: String,
    pub quantity: u32,
    pub minutes: Option<u32>,
    pub unit_minor: i64,
    pub claimed_minor: i64,
    pub decision: LineDecision,
    /// What the line pays: claimed when approved, the cut amount when cut, 0 otherwise.
    pub approved_minor: i64,
    pub reject_code: Option<RejectCode>,
    pub reason: Option<String>,
    pub flags: Vec<CheckFlag>,
    pub return_status: Option<ReturnStatus>,
    /// Reopened by the appeal.
    pub appealed: bool,
    pub decided_by: Option<i64>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// A station's claim for a completed repair; submitting it twice answers the first claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClaim {
    pub repair_order_id: i64,
    /// Needed to claim more labour than the standard time.
    #[serde(default)]
    pub deviation_reason: Option<Text>,
}

/// A reviewer's decision on one line.
#[derive(Debug, Clone, PartialEq)]
pub enum Review {
    Approve,
    /// Pay `amount_minor` (less than claimed, more than 0) instead of the claimed amount.
    Cut {
        amount_minor: i64,
        reason: Text,
    },
    Reject {
        code: RejectCode,
        reason: Option<Text>,
    },
}

str_enum!(Verdict { Approve = "approve", Cut = "cut", Reject = "reject" });

/// A reviewer's decision on one line as sent: `approve`; `cut` with the amount to pay and a
/// reason; `reject` with a reason code (and a note if wanted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineReview {
    pub decision: Verdict,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10_000_000_000_i64)]
    pub amount_minor: Option<i64>,
    #[serde(default)]
    pub reason: Option<Text>,
    #[serde(default)]
    pub code: Option<RejectCode>,
}

impl LineReview {
    pub fn review(&self) -> Result<Review, FieldError> {
        match (self.decision, self.amount_minor, &self.reason, self.code) {
            (Verdict::Approve, None, None, None) => Ok(Review::Approve),
            (Verdict::Approve, ..) => Err(FieldError::new(
                "decision",
                "an approval takes no amount, reason or code",
            )),
            (Verdict::Cut, Some(amount_minor), Some(reason), None) => Ok(Review::Cut {
                amount_minor,
                reason: reason.clone(),
            }),
            (Verdict::Cut, ..) => Err(FieldError::new(
                "amount_minor",
                "a cut needs amount_minor and a reason, and no code",
            )),
            (Verdict::Reject, None, reason, Some(code)) => Ok(Review::Reject {
                code,
                reason: reason.clone(),
            }),
            (Verdict::Reject, ..) => Err(FieldError::new("code", "a rejection needs its code, and no amount")),
        }
    }
}

/// The station's one appeal against the cut and rejected lines of a decided claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Appeal {
    pub reason: Text,
}

/// Moves an old-part return on: the reviewer requests it, the station ships it (carrier and
/// tracking), the manufacturer receives and inspects it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnStep {
    pub status: ReturnStatus,
    #[serde(default)]
    pub carrier: Option<Text>,
    #[serde(default)]
    pub tracking: Option<Text>,
    #[serde(default)]
    pub note: Option<Text>,
}

/// A refusal of a review step: the field it concerns and why. The store answers it as a
/// conflict (the claim's state refuses it) or invalid input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Conflict(&'static str, String),
    Invalid(&'static str, String),
}

/// A claim's status from its lines.
pub fn status_of(decisions: &[LineDecision], appealed: bool, settled: bool) -> ClaimStatus {
    let pending = decisions.iter().filter(|d| **d == LineDecision::Pending).count();
    if settled {
        ClaimStatus::Settled
    } else if pending == 0 {
        ClaimStatus::Decided
    } else if appealed {
        ClaimStatus::Appealed
    } else if pending < decisions.len() {
        ClaimStatus::InReview
    } else {
        ClaimStatus::Submitted
    }
}

/// What a line pays after a decision: (decision, approved amount).
pub fn decide(line: &ClaimLine, claim: ClaimStatus, r: &Review) -> Result<(LineDecision, i64), Refusal> {
    if claim == ClaimStatus::Settled {
        return Err(Refusal::Conflict("status", "the claim is settled".into()));
    }
    if line.decision != LineDecision::Pending {
        return Err(Refusal::Conflict(
            "decision",
            format!(
                "the line is {} already; only an appeal reopens it",
                line.decision.as_str()
            ),
        ));
    }
    let waiting = line.return_status.is_some_and(|s| s != ReturnStatus::Inspected);
    match r {
        Review::Approve | Review::Cut { .. } if waiting => Err(Refusal::Conflict(
            "return_status",
            "the old part is asked back; decide once it is inspected".into(),
        )),
        Review::Approve => Ok((LineDecision::Approved, line.claimed_minor)),
        Review::Cut { amount_minor, .. } => {
            if *amount_minor <= 0 || *amount_minor >= line.claimed_minor {
                Err(Refusal::Invalid(
                    "amount_minor",
                    format!(
                        "a cut pays more than 0 and less than the {} claimed",
                        line.claimed_minor
                    ),
                ))
            } else {
                Ok((LineDecision::Cut, *amount_minor))
            }
        }
        Review::Reject { .. } => Ok((LineDecision::Rejected, 0)),
    }
}

/// The lines an appeal reopens: every cut or rejected line of a decided claim not appealed
/// before.
pub fn appealable(status: ClaimStatus, appealed_before: bool, lines: &[ClaimLine]) -> Result<Vec<i64>, Refusal> {
    if appealed_before {
        return Err(Refusal::Conflict("appeal", "a claim is appealed once".into()));
    }
    if status != ClaimStatus::Decided {
        return Err(Refusal::Conflict(
            "status",
            format!("only a decided claim can be appealed; this one is {}", status.as_str()),
        ));
    }
    let ids: Vec<i64> = lines
        .iter()
        .filter(|l| matches!(l.decision, LineDecision::Cut | LineDecision::Rejected))
        .map(|l| l.id)
        .collect();
    if ids.is_empty() {
        return Err(Refusal::Conflict("appeal", "nothing was cut or rejected".into()));
    }
    Ok(ids)
}

/// The next state of a line's old-part return.
pub fn return_step(line: &ClaimLine, claim: ClaimStatus, to: ReturnStatus) -> Result<(), Refusal> {
    if line.kind != LineKind::Part {
        return Err(Refusal::Invalid("line_id", "only a part line has an old part".into()));
    }
    if claim == ClaimStatus::Settled {
        return Err(Refusal::Conflict("status", "the claim is settled".into()));
    }
    let ok = match line.return_status {
        None => to == ReturnStatus::Requested && line.decision == LineDecision::Pending,
        Some(cur) => cur.next() == Some(to),
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::Conflict(
            "status",
            match line.return_status {
                None => format!(
                    "a return starts as requested, on a line still pending; not {}",
                    to.as_str()
                ),
                Some(cur) => format!("a return {} cannot become {}", cur.as_str(), to.as_str()),
            },
        ))
    }
}

/// What the manufacturer's configuration decides for every claim.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRules {
    /// Paid by straight-line distance from the station to the customer.
    pub travel_bands: Vec<TravelBand>,
    /// The labour rate for a station without a contract, and its currency.
    pub default_rate_minor: i64,
    pub currency: String,
}

impl Default for ClaimRules {
    fn default() -> Self {
        ClaimRules {
            travel_bands: DEFAULT_TRAVEL_BANDS.to_vec(),
            default_rate_minor: 4_500,
            currency: "EUR".into(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ClaimQuery {
    /// Only these stations' claims (a scoped user's); `None`: every station.
    pub stations: Option<Vec<i64>>,
    pub status: Option<ClaimStatus>,
    /// Claims with a line whose old part is at this step.
    pub return_status: Option<ReturnStatus>,
    /// Only claims some automatic check flagged.
    pub flagged: bool,
    pub limit: u32,
}

str_enum!(ClaimsBy { Station = "station", Model = "model", FaultCode = "fault_code", CutReason = "cut_reason" });

/// One group of a claims report: claims completed in the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ClaimsRow {
    /// Station or model id, fault code, or the reject code (`cut` for cuts).
    pub key: String,
    pub label: String,
    pub claims: i64,
    pub claimed_minor: i64,
    pub approved_minor: i64,
    /// Claimed less approved, over decided claims.
    pub reduced_minor: i64,
}

// ------------------------------------------------------------------------------ settlement

/// One approved (or cut) claim line in a settlement.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PaidLine {
    pub claim_id: i64,
    pub line_id: i64,
    pub repair_order_id: i64,
    pub completed_on: NaiveDate,
    pub technician_id: Option<i64>,
    pub kind: LineKind,
    pub description: String,
    pub decision: LineDecision,
    /// Labour lines: minutes claimed.
    pub minutes: Option<u32>,
    pub claimed_minor: i64,
    pub amount_minor: i64,
}

/// A technician's share of a settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TechnicianFigures {
    pub technician_id: Option<i64>,
    pub claims: i64,
    pub labour_minutes: i64,
    pub amount_minor: i64,
}

/// A settlement's totals, from its lines only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct PaidTotals {
    pub claims: i64,
    pub lines: i64,
    pub labour_minor: i64,
    pub parts_minor: i64,
    pub travel_minor: i64,
    /// Claimed on these lines, before cuts.
    pub claimed_minor: i64,
    pub amount_minor: i64,
}

impl PaidTotals {
    pub fn of(lines: &[PaidLine]) -> PaidTotals {
        let mut t = PaidTotals::default();
        let mut claims: Vec<i64> = lines.iter().map(|l| l.claim_id).collect();
        claims.sort_unstable();
        claims.dedup();
        t.claims = claims.len() as i64;
        for l in lines {
            t.lines += 1;
            match l.kind {
                LineKind::Labour => t.labour_minor += l.amount_minor,
                LineKind::Part => t.parts_minor += l.amount_minor,
                LineKind::Travel => t.travel_minor += l.amount_minor,
            }
            t.claimed_minor += l.claimed_minor;
            t.amount_minor += l.amount_minor;
        }
        t
    }
}

/// Per technician, ordered by technician (unassigned last).
pub fn per_technician(lines: &[PaidLine]) -> Vec<TechnicianFigures> {
    let mut by: std::collections::BTreeMap<(bool, i64), (Vec<i64>, i64, i64)> = Default::default();
    for l in lines {
        let e = by
            .entry((l.technician_id.is_none(), l.technician_id.unwrap_or(0)))
            .or_default();
        e.0.push(l.claim_id);
        if l.kind == LineKind::Labour && l.amount_minor > 0 {
            e.1 += i64::from(l.minutes.unwrap_or(0));
        }
        e.2 += l.amount_minor;
    }
    by.into_iter()
        .map(|((none, id), (mut claims, minutes, amount))| {
            claims.sort_unstable();
            claims.dedup();
            TechnicianFigures {
                technician_id: (!none).then_some(id),
                claims: claims.len() as i64,
                labour_minutes: minutes,
                amount_minor: amount,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn facts() -> ClaimFacts {
        ClaimFacts {
            labour_hours: 1.5,
            deviation_reason: None,
            standard: Some((7, 60)),
            rate_minor: 4_500,
            parts: vec![UsedPart {
                part_id: 3,
                sku: "PUMP-1".into(),
                name: "Drain pump".into(),
                quantity: 2,
                unit_price_minor: 1_995,
            }],
            bom: vec![3, 4],
            travel_km: Some(22.0),
            check_in_distance_m: Some(40.0),
            signed: true,
            repeat_of: None,
        }
    }

    #[test]
    fn labour_is_paid_at_standard_time_unless_a_reason_says_otherwise() {
        let d0 = draft(&facts(), &DEFAULT_TRAVEL_BANDS);
        assert_eq!(d0.lines[0].minutes, Some(60), "typed 90, standard 60");
        assert_eq!(d0.lines[0].claimed_minor, 4_500);
        assert!(d0.lines[0].flags.is_empty() && d0.flags.is_empty(), "{d0:?}");
        assert_eq!((d0.lines[1].claimed_minor, d0.lines[2].claimed_minor), (3_990, 1_500));

        let with_reason = ClaimFacts {
            deviation_reason: Some("seized bolts".into()),
            ..facts()
        };
        let d1 = draft(&with_reason, &DEFAULT_TRAVEL_BANDS);
        assert_eq!((d1.lines[0].minutes, d1.lines[0].claimed_minor), (Some(90), 6_750));
        assert_eq!(d1.lines[0].flags, vec![CheckFlag::LabourAboveStandard]);
        assert!(d1.lines[0].description.contains("seized bolts"));

        // Less than standard is still paid at standard; no standard time pays what was typed.
        let quick = ClaimFacts {
            labour_hours: 0.25,
            ..facts()
        };
        assert_eq!(draft(&quick, &DEFAULT_TRAVEL_BANDS).lines[0].minutes, Some(60));
        let none = ClaimFacts {
            standard: None,
            ..facts()
        };
        let d2 = draft(&none, &DEFAULT_TRAVEL_BANDS);
        assert_eq!(
            (d2.lines[0].minutes, d2.lines[0].flags.clone()),
            (Some(90), vec![CheckFlag::NoStandardTime])
        );
    }

    #[test]
    fn the_checks_flag_what_a_reviewer_should_look_at() {
        let f = ClaimFacts {
            check_in_distance_m: Some(2_400.0),
            signed: false,
            repeat_of: Some(11),
            parts: vec![UsedPart {
                part_id: 9,
                sku: "X".into(),
                name: "Not ours".into(),
                quantity: 1,
                unit_price_minor: 100,
            }],
            travel_km: Some(5.0),
            ..facts()
        };
        let d = draft(&f, &DEFAULT_TRAVEL_BANDS);
        assert_eq!(
            d.flags,
            vec![CheckFlag::FarCheckIn, CheckFlag::RepeatRepair, CheckFlag::NoSignature]
        );
        assert_eq!(d.lines[1].flags, vec![CheckFlag::PartNotInBom]);
        assert_eq!(d.lines.len(), 2, "travel within the first band pays nothing: no line");
        // Without a recorded bill of materials there is nothing to check parts against.
        let no_bom = ClaimFacts { bom: vec![], ..f };
        assert!(draft(&no_bom, &DEFAULT_TRAVEL_BANDS).lines[1].flags.is_empty());
    }

    #[test]
    fn travel_bands_and_rounding() {
        let b = &DEFAULT_TRAVEL_BANDS;
        assert_eq!(
            [0.0, 15.0, 15.1, 40.0, 79.9, 150.0, 400.0].map(|km| travel_allowance(b, km)),
            [0, 0, 1_500, 1_500, 3_000, 5_000, 5_000]
        );
        assert!(check_bands(b).is_ok());
        assert!(check_bands(&[b[1], b[0]]).is_err());
        assert_eq!(labour_amount(1, 4_500), 75);
        assert_eq!(labour_amount(1, 4_510), 75, "75.17 rounds down");
        assert_eq!(labour_amount(1, 4_530), 76, "75.5 rounds up");
    }

    #[test]
    fn the_standard_time_in_force_is_the_latest_valid_one() {
        let v = |id, version, from: &str, minutes| StandardTime {
            id,
            model_id: 1,
            code: "E21".into(),
            minutes,
            version,
            valid_from: d(from),
            created_by: None,
            created_at: DateTime::<Utc>::MIN_UTC,
        };
        let versions = [
            v(1, 1, "2026-01-01", 60),
            v(2, 2, "2026-06-01", 45),
            v(3, 3, "2026-06-01", 50),
        ];
        assert_eq!(standard_on(&versions, d("2025-12-31")), None);
        assert_eq!(standard_on(&versions, d("2026-05-31")).map(|s| s.minutes), Some(60));
        assert_eq!(standard_on(&versions, d("2026-06-01")).map(|s| s.minutes), Some(50));
    }

    fn line(id: i64, kind: LineKind, claimed: i64) -> ClaimLine {
        ClaimLine {
            id,
            claim_id: 1,
            kind,
            part_id: (kind == LineKind::Part).then_some(5),
            description: String::new(),
            quantity: 1,
            minutes: (kind == LineKind::Labour).then_some(60),
            unit_minor: claimed,
            claimed_minor: claimed,
            decision: LineDecision::Pending,
            approved_minor: 0,
            reject_code: None,
            reason: None,
            flags: vec![],
            return_status: None,
            appealed: false,
            decided_by: None,
            decided_at: None,
        }
    }

    #[test]
    fn a_review_decides_each_line_once_and_an_appeal_reopens_what_was_cut() {
        let cut = Review::Cut {
            amount_minor: 3_000,
            reason: Text::parse("one hour is enough").unwrap(),
        };
        let mut labour = line(1, LineKind::Labour, 4_500);
        let mut part = line(2, LineKind::Part, 1_995);
        assert_eq!(
            status_of(&[labour.decision, part.decision], false, false),
            ClaimStatus::Submitted
        );
        assert_eq!(
            decide(&labour, ClaimStatus::Submitted, &cut),
            Ok((LineDecision::Cut, 3_000))
        );
        let too_much = Review::Cut {
            amount_minor: 4_500,
            reason: Text::parse("x").unwrap(),
        };
        assert!(matches!(
            decide(&labour, ClaimStatus::Submitted, &too_much),
            Err(Refusal::Invalid("amount_minor", _))
        ));
        (labour.decision, labour.approved_minor) = (LineDecision::Cut, 3_000);
        assert_eq!(
            status_of(&[labour.decision, part.decision], false, false),
            ClaimStatus::InReview
        );
        assert!(matches!(
            decide(&labour, ClaimStatus::InReview, &Review::Approve),
            Err(Refusal::Conflict("decision", _))
        ));

        // The old part is asked back: the line waits for the inspection.
        assert!(return_step(&labour, ClaimStatus::InReview, ReturnStatus::Requested).is_err());
        assert!(return_step(&part, ClaimStatus::InReview, ReturnStatus::Shipped).is_err());
        assert!(return_step(&part, ClaimStatus::InReview, ReturnStatus::Requested).is_ok());
        part.return_status = Some(ReturnStatus::Requested);
        assert!(matches!(
            decide(&part, ClaimStatus::InReview, &Review::Approve),
            Err(Refusal::Conflict("return_status", _))
        ));
        for to in [ReturnStatus::Shipped, ReturnStatus::Received, ReturnStatus::Inspected] {
            assert!(return_step(&part, ClaimStatus::InReview, to).is_ok());
            part.return_status = Some(to);
        }
        assert!(return_step(&part, ClaimStatus::InReview, ReturnStatus::Inspected).is_err());
        let reject = Review::Reject {
            code: RejectCode::WrongPart,
            reason: None,
        };
        assert_eq!(
            decide(&part, ClaimStatus::InReview, &reject),
            Ok((LineDecision::Rejected, 0))
        );
        part.decision = LineDecision::Rejected;
        let st = status_of(&[labour.decision, part.decision], false, false);
        assert_eq!(st, ClaimStatus::Decided);

        // One appeal, of a decided claim, reopening the cut and rejected lines.
        assert!(appealable(ClaimStatus::InReview, false, &[labour.clone(), part.clone()]).is_err());
        assert_eq!(appealable(st, false, &[labour.clone(), part.clone()]), Ok(vec![1, 2]));
        assert!(matches!(
            appealable(st, true, &[labour.clone(), part.clone()]),
            Err(Refusal::Conflict("appeal", _))
        ));
        let mut fine = labour.clone();
        fine.decision = LineDecision::Approved;
        assert!(appealable(st, false, &[fine]).is_err(), "nothing to appeal");
        assert_eq!(
            status_of(&[LineDecision::Pending, LineDecision::Approved], true, false),
            ClaimStatus::Appealed
        );
        assert!(decide(&line(3, LineKind::Travel, 10), ClaimStatus::Settled, &Review::Approve).is_err());
    }

    /// Property: however lines are decided, a settlement's total is the sum of its lines, its
    /// kinds add up to it, and the technicians' shares add up to it too.
    #[test]
    fn a_settlement_equals_the_sum_of_its_lines() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(18);
        for _ in 0..2_000 {
            let n = rng.gen_range(0..40);
            let lines: Vec<PaidLine> = (0..n)
                .map(|i| {
                    let claimed = rng.gen_range(1..2_000_000);
                    let decision = [LineDecision::Approved, LineDecision::Cut][rng.gen_range(0..2)];
                    PaidLine {
                        claim_id: rng.gen_range(1..8),
                        line_id: i,
                        repair_order_id: 1,
                        completed_on: d("2026-11-02"),
                        technician_id: [None, Some(1), Some(2), Some(3)][rng.gen_range(0..4)],
                        kind: [LineKind::Labour, LineKind::Part, LineKind::Travel][rng.gen_range(0..3)],
                        description: String::new(),
                        decision,
                        minutes: Some(60),
                        claimed_minor: claimed,
                        amount_minor: if decision == LineDecision::Cut {
                            rng.gen_range(1..claimed.max(2))
                        } else {
                            claimed
                        },
                    }
                })
                .collect();
            let t = PaidTotals::of(&lines);
            let sum: i64 = lines.iter().map(|l| l.amount_minor).sum();
            assert_eq!(t.amount_minor, sum);
            assert_eq!(t.labour_minor + t.parts_minor + t.travel_minor, sum);
            assert!(t.amount_minor <= t.claimed_minor);
            let per = per_technician(&lines);
            assert_eq!(per.iter().map(|p| p.amount_minor).sum::<i64>(), sum);
            assert!(per.iter().all(|p| p.claims <= t.claims));
        }
    }
}
