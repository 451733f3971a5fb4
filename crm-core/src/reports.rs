//! Reports and analytics: the figures managers read, computed from sums the store returns.
//!
//! The store aggregates in SQL over indexed columns and the pre-aggregated `repair_facts` (one
//! row per completed repair, written in the completion's transaction: labour, parts by billing,
//! response time, and whether it repeated an earlier repair of the same asset within 30 days).
//! This module holds the report shapes and the arithmetic on the sums (service level, ASA,
//! AHT, rates), pure and tested here. Settlement arithmetic is in `claims`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::types::ParseError;

/// A repair is a repeat when the asset's previous repair was completed at most this long
/// before it was opened.
pub const REPEAT_WINDOW_DAYS: i64 = 30;
/// The longest period one report covers.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// Days `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Period, FieldError> {
        if to < from {
            return Err(FieldError::new("to", "must not be before from"));
        }
        if (to - from).num_days() >= MAX_PERIOD_DAYS {
            return Err(FieldError::new(
                "to",
                format!("a report covers at most {MAX_PERIOD_DAYS} days"),
            ));
        }
        Ok(Period { from, to })
    }
    /// The last `days` days up to `today`.
    pub fn last(today: NaiveDate, days: i64) -> Period {
        Period {
            from: today - Duration::days(days - 1),
            to: today,
        }
    }
    /// The first instant of the period and the first after it (UTC days).
    pub fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = self.from.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let end = (self.to + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc();
        (start, end)
    }
}

str_enum!(
    /// Call-center report rows per 15 minutes, hour or day.
    Interval { Quarter = "quarter", Hour = "hour", Day = "day" }
);

impl Interval {
    pub fn seconds(self) -> i64 {
        match self {
            Interval::Quarter => 900,
            Interval::Hour => 3600,
            Interval::Day => 86_400,
        }
    }
}

str_enum!(
    /// What service-quality rows are grouped by.
    Dimension { Model = "model", SerialBatch = "serial_batch", FaultCode = "fault_code", Station = "station" }
);
str_enum!(
    /// What parts consumption rows are grouped by.
    PartsBy { Model = "model", Station = "station" }
);

/// A serial number's production batch: everything before its last `-` or `/` group
/// (`WM-2403-000123` → `WM-2403`), else all but its last four characters.
pub fn serial_batch(serial: &str) -> String {
    match serial.rfind(['-', '/']) {
        Some(i) if i > 0 => serial[..i].to_string(),
        _ => {
            let n = serial.chars().count().saturating_sub(4).max(1);
            serial.chars().take(n).collect()
        }
    }
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| round3(part as f64 / whole as f64))
}
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

// ---------------------------------------------------------------------------- call center

/// Sums over the calls of one queue in one interval (or one agent), as the store counts them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallSums {
    pub offered: i64,
    pub answered: i64,
    pub abandoned: i64,
    pub answered_within_sl: i64,
    /// Queue waits of answered calls.
    pub wait_ms: i64,
    /// Talk of answered calls (answer to hang-up).
    pub talk_s: i64,
}

impl CallSums {
    pub fn add(&mut self, o: &CallSums) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.abandoned += o.abandoned;
        self.answered_within_sl += o.answered_within_sl;
        self.wait_ms += o.wait_ms;
        self.talk_s += o.talk_s;
    }
}

/// The figures of a queue over an interval.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueueFigures {
    pub queue: String,
    /// Start of the interval (absent on totals).
    pub interval: Option<DateTime<Utc>>,
    pub offered: i64,
    pub answered: i64,
    pub abandoned: i64,
    /// Answered within the queue's service-level time, over answered plus abandoned.
    pub service_level: Option<f64>,
    /// Average speed of answer, seconds.
    pub asa_seconds: Option<f64>,
    /// Average handle (talk) time, seconds.
    pub aht_seconds: Option<f64>,
    pub abandon_rate: Option<f64>,
}

impl QueueFigures {
    pub fn from_sums(queue: &str, interval: Option<DateTime<Utc>>, s: &CallSums) -> QueueFigures {
        QueueFigures {
            queue: queue.to_string(),
            interval,
            offered: s.offered,
            answered: s.answered,
            abandoned: s.abandoned,
            service_level: ratio(s.answered_within_sl, s.answered + s.abandoned),
            asa_seconds: (s.answered > 0).then(|| round1(s.wait_ms as f64 / 1000.0 / s.answered as f64)),
            aht_seconds: (s.answered > 0).then(|| round1(s.talk_s as f64 / s.answered as f64)),
            abandon_rate: ratio(s.abandoned, s.offered),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentFigures {
    pub agent_id: i64,
    pub agent: String,
    pub answered: i64,
    pub talk_seconds: i64,
    pub aht_seconds: Option<f64>,
    pub asa_seconds: Option<f64>,
}

impl AgentFigures {
    pub fn from_sums(agent_id: i64, agent: &str, s: &CallSums) -> AgentFigures {
        let q = QueueFigures::from_sums("", None, s);
        AgentFigures {
            agent_id,
            agent: agent.to_string(),
            answered: s.answered,
            talk_seconds: s.talk_s,
            aht_seconds: q.aht_seconds,
            asa_seconds: q.asa_seconds,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallCenterReport {
    pub period: Period,
    pub interval: Interval,
    /// Per queue and interval, in time order.
    pub intervals: Vec<QueueFigures>,
    /// Per queue over the period.
    pub queues: Vec<QueueFigures>,
    pub agents: Vec<AgentFigures>,
}

impl CallCenterReport {
    /// Assemble the report from per-(queue, interval) and per-agent sums.
    pub fn build(
        period: Period,
        interval: Interval,
        cells: Vec<(String, DateTime<Utc>, CallSums)>,
        agents: Vec<(i64, String, CallSums)>,
    ) -> CallCenterReport {
        let mut totals: std::collections::BTreeMap<String, CallSums> = Default::default();
        for (q, _, s) in &cells {
            totals.entry(q.clone()).or_default().add(s);
        }
        let mut intervals: Vec<QueueFigures> = cells
            .iter()
            .map(|(q, at, s)| QueueFigures::from_sums(q, Some(*at), s))
            .collect();
        intervals.sort_by(|a, b| (a.interval, &a.queue).cmp(&(b.interval, &b.queue)));
        let mut agents: Vec<AgentFigures> = agents
            .iter()
            .map(|(id, name, s)| AgentFigures::from_sums(*id, name, s))
            .collect();
        agents.sort_by(|a, b| b.answered.cmp(&a.answered).then(a.agent_id.cmp(&b.agent_id)));
        CallCenterReport {
            period,
            interval,
            intervals,
            queues: totals
                .iter()
                .map(|(q, s)| QueueFigures::from_sums(q, None, s))
                .collect(),
            agents,
        }
    }
}

// ------------------------------------------------------------------------------- service

/// Sums over the completed repairs of one group, as the store counts them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RepairSums {
    pub repairs: i64,
    /// Repairs followed by another repair of the same asset within the window.
    pub repeated: i64,
    pub labour_hours: f64,
    pub response_minutes: i64,
    pub surveys: i64,
    pub score_total: i64,
    pub surveys_fixed: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ServiceRow {
    /// The model's code, the serial batch, the fault code or the station's name.
    pub key: String,
    pub repairs: i64,
    /// Share not followed by another repair of the asset within 30 days.
    pub first_time_fix_rate: Option<f64>,
    /// Repairs followed by a repeat within 30 days.
    pub repeat_repairs: i64,
    pub repeat_rate: Option<f64>,
    /// What the customers said in surveys: share fixed the first time.
    pub surveyed_fixed_rate: Option<f64>,
    pub mean_score: Option<f64>,
    pub mean_labour_hours: Option<f64>,
    /// Hours from opening the order to the technician's arrival.
    pub mean_response_hours: Option<f64>,
}

impl ServiceRow {
    pub fn from_sums(key: String, s: &RepairSums) -> ServiceRow {
        let n = s.repairs;
        ServiceRow {
            key,
            repairs: n,
            first_time_fix_rate: ratio(n - s.repeated, n),
            repeat_repairs: s.repeated,
            repeat_rate: ratio(s.repeated, n),
            surveyed_fixed_rate: ratio(s.surveys_fixed, s.surveys),
            mean_score: (s.surveys > 0).then(|| (s.score_total as f64 / s.surveys as f64 * 100.0).round() / 100.0),
            mean_labour_hours: (n > 0).then(|| (s.labour_hours / n as f64 * 100.0).round() / 100.0),
            mean_response_hours: (n > 0).then(|| round1(s.response_minutes as f64 / 60.0 / n as f64)),
        }
    }
}

/// A station's place: by mean survey score (best first), then repeat rate (lowest first),
/// then response time.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StationRank {
    pub rank: u32,
    pub station_id: i64,
    pub station: String,
    #[serde(flatten)]
    pub figures: ServiceRow,
}

pub fn rank_stations(mut rows: Vec<(i64, String, RepairSums)>) -> Vec<StationRank> {
    let figures: Vec<(i64, String, ServiceRow)> = rows
        .drain(..)
        .map(|(id, name, s)| (id, name.clone(), ServiceRow::from_sums(name, &s)))
        .collect();
    let mut figures = figures;
    let key = |r: &ServiceRow| {
        (
            -(r.mean_score.unwrap_or(0.0) * 1000.0) as i64,
            (r.repeat_rate.unwrap_or(1.0) * 1000.0) as i64,
            (r.mean_response_hours.unwrap_or(f64::MAX / 1e6) * 10.0) as i64,
        )
    };
    figures.sort_by(|a, b| key(&a.2).cmp(&key(&b.2)).then(a.0.cmp(&b.0)));
    figures
        .into_iter()
        .enumerate()
        .map(|(i, (station_id, station, figures))| StationRank {
            rank: i as u32 + 1,
            station_id,
            station,
            figures,
        })
        .collect()
}

// --------------------------------------------------------------------------------- parts

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PartsRow {
    /// The model's code or the station's name.
    pub key: String,
    pub sku: String,
    pub part: String,
    pub quantity: i64,
    pub warranty_quantity: i64,
    pub paid_quantity: i64,
    pub warranty_value_minor: i64,
    pub paid_value_minor: i64,
}

/// A station's stock of a part over the period: opening and closing levels from the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StockTurn {
    pub station_id: i64,
    pub station: String,
    pub sku: String,
    pub opening: i64,
    pub closing: i64,
    pub consumed: i64,
    /// Consumed over the average of opening and closing stock.
    pub turnover: Option<f64>,
    pub safety_stock: i64,
    /// Below its safety stock at the start or the end of the period.
    pub safety_breach: bool,
}

impl StockTurn {
    pub fn new(
        station_id: i64,
        station: String,
        sku: String,
        closing: i64,
        net_in_period: i64,
        consumed: i64,
        safety_stock: i64,
    ) -> StockTurn {
        let opening = closing - net_in_period;
        let average = (opening + closing) as f64 / 2.0;
        StockTurn {
            station_id,
            station,
            sku,
            opening,
            closing,
            consumed,
            turnover: (average > 0.0).then(|| (consumed as f64 / average * 100.0).round() / 100.0),
            safety_stock,
            safety_breach: opening < safety_stock || closing < safety_stock,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PartsReport {
    pub period: Period,
    pub by: PartsBy,
    pub consumption: Vec<PartsRow>,
    pub stock: Vec<StockTurn>,
}

// ---------------------------------------------------------------------------- settlement

str_enum!(SettlementStatus { Draft = "draft", Approved = "approved" });

/// What the manufacturer pays a station for a period: the approved (and cut) lines of its
/// decided warranty claims completed in the period. Drafted, approved by a second person, then
/// exported; a claim is settled once. Every figure is a sum of the lines
/// (`claims::PaidTotals::of`), in minor units.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Settlement {
    pub id: i64,
    pub station_id: i64,
    pub period: Period,
    pub status: SettlementStatus,
    /// Claims with a paid line.
    pub claims: i64,
    pub lines: i64,
    pub labour_minor: i64,
    pub parts_minor: i64,
    pub travel_minor: i64,
    /// Claimed on the paid lines, before cuts.
    pub claimed_minor: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub approved_by: Option<i64>,
    pub approved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSettlement {
    pub station_id: i64,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_are_checked_and_bounded_by_utc_days() {
        assert_eq!(Period::new(d("2026-03-02"), d("2026-03-01")).unwrap_err().field, "to");
        assert!(Period::new(d("2026-01-01"), d("2026-12-31")).is_ok());
        assert_eq!(Period::new(d("2026-01-01"), d("2027-01-02")).unwrap_err().field, "to");
        let p = Period::last(d("2026-03-31"), 31);
        assert_eq!(p.from, d("2026-03-01"));
        let (a, b) = p.bounds();
        assert_eq!((b - a).num_days(), 31);
    }

    #[test]
    fn complaint_rates_are_per_hundred_repairs() {
        assert_eq!(ComplaintsRow::rate(3, 40), Some(7.5));
        assert_eq!(ComplaintsRow::rate(1, 3), Some(33.3));
        assert_eq!(ComplaintsRow::rate(2, 0), None);
    }

    #[test]
    fn serial_batches_drop_the_running_number() {
        assert_eq!(serial_batch("WM-2403-000123"), "WM-2403");
        assert_eq!(serial_batch("AB12/7"), "AB12");
        assert_eq!(serial_batch("SN12345678"), "SN1234");
        assert_eq!(serial_batch("-X"), "-");
    }

    #[test]
    fn queue_figures_follow_the_usual_definitions() {
        let s = CallSums {
            offered: 10,
            answered: 8,
            abandoned: 2,
            answered_within_sl: 6,
            wait_ms: 80_000,
            talk_s: 1_600,
        };
        let f = QueueFigures::from_sums("general", None, &s);
        assert_eq!(f.service_level, Some(0.6));
        assert_eq!(f.asa_seconds, Some(10.0));
        assert_eq!(f.aht_seconds, Some(200.0));
        assert_eq!(f.abandon_rate, Some(0.2));
        let none = QueueFigures::from_sums("general", None, &CallSums::default());
        assert_eq!((none.service_level, none.asa_seconds), (None, None));
    }

    #[test]
    fn a_report_totals_its_intervals_per_queue() {
        let at = |h| d("2026-03-01").and_hms_opt(h, 0, 0).unwrap().and_utc();
        let one = CallSums {
            offered: 2,
            answered: 2,
            answered_within_sl: 1,
            wait_ms: 4_000,
            talk_s: 100,
            ..Default::default()
        };
        let r = CallCenterReport::build(
            Period::last(d("2026-03-01"), 1),
            Interval::Hour,
            vec![
                ("b".into(), at(9), one.clone()),
                ("a".into(), at(10), one.clone()),
                ("a".into(), at(9), one.clone()),
            ],
            vec![
                (7, "Ann".into(), one.clone()),
                (8, "Bob".into(), CallSums { answered: 5, ..one }),
            ],
        );
        assert_eq!(r.queues.len(), 2);
        assert_eq!(
            (
                r.queues[0].queue.as_str(),
                r.queues[0].offered,
                r.queues[0].service_level
            ),
            ("a", 4, Some(0.5))
        );
        let order: Vec<_> = r
            .intervals
            .iter()
            .map(|f| (f.interval.unwrap(), f.queue.as_str()))
            .collect();
        assert_eq!(order, vec![(at(9), "a"), (at(9), "b"), (at(10), "a")]);
        assert_eq!(r.agents[0].agent, "Bob", "most answered first");
    }

    #[test]
    fn repeats_lower_the_first_time_fix_rate() {
        let s = RepairSums {
            repairs: 8,
            repeated: 2,
            labour_hours: 12.0,
            response_minutes: 8 * 90,
            surveys: 4,
            score_total: 15,
            surveys_fixed: 3,
        };
        let r = ServiceRow::from_sums("WM-7000".into(), &s);
        assert_eq!(r.first_time_fix_rate, Some(0.75));
        assert_eq!(r.repeat_rate, Some(0.25));
        assert_eq!(r.surveyed_fixed_rate, Some(0.75));
        assert_eq!(r.mean_score, Some(3.75));
        assert_eq!(r.mean_labour_hours, Some(1.5));
        assert_eq!(r.mean_response_hours, Some(1.5));
    }

    #[test]
    fn stations_rank_by_score_then_repeats_then_response() {
        let sums = |score_total, repeated, response_minutes| RepairSums {
            repairs: 10,
            repeated,
            response_minutes,
            surveys: 5,
            score_total,
            ..Default::default()
        };
        let unsurveyed = RepairSums {
            repairs: 3,
            ..Default::default()
        };
        let ranked = rank_stations(vec![
            (1, "North".into(), sums(20, 1, 600)),
            (2, "South".into(), sums(24, 3, 600)),
            (3, "East".into(), sums(20, 1, 300)),
            (4, "West".into(), sums(20, 0, 900)),
            (5, "Quiet".into(), unsurveyed),
        ]);
        let order: Vec<_> = ranked.iter().map(|r| (r.rank, r.station.as_str())).collect();
        assert_eq!(
            order,
            vec![(1, "South"), (2, "West"), (3, "East"), (4, "North"), (5, "Quiet")]
        );
    }

    #[test]
    fn turnover_uses_the_average_stock_and_flags_breaches() {
        let t = StockTurn::new(1, "North".into(), "P-1".into(), 4, -6, 8, 5);
        assert_eq!(
            (t.opening, t.closing, t.turnover, t.safety_breach),
            (10, 4, Some(1.14), true)
        );
        let t = StockTurn::new(1, "North".into(), "P-1".into(), 0, 0, 0, 0);
        assert_eq!((t.turnover, t.safety_breach), (None, false));
    }
}

// ------------------------------------------------------------------------------ complaints

str_enum!(ComplaintsBy { Cause = "cause", Station = "station", Model = "model" });

/// One group of the complaints report: complaints raised in the period, how many are still open
/// and how many of those are past their due date, and (for stations and models) the repairs
/// completed there in the period and complaints per 100 of them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ComplaintsRow {
    /// The category, or the station's or model's id.
    pub key: String,
    pub label: String,
    pub complaints: i64,
    pub open: i64,
    pub overdue: i64,
    pub repairs: Option<i64>,
    pub per_100_repairs: Option<f64>,
}

impl ComplaintsRow {
    /// Complaints per 100 repairs (none without repairs).
    pub fn rate(complaints: i64, repairs: i64) -> Option<f64> {
        (repairs > 0).then(|| (1000.0 * complaints as f64 / repairs as f64).round() / 10.0)
    }
}

/// The complaint list's filters; each narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComplaintQuery {
    pub customer_id: Option<i64>,
    pub status: Option<crate::model::ComplaintStatus>,
    pub owner_user_id: Option<i64>,
    pub category: Option<crate::model::ComplaintCategory>,
    /// Complaints about a repair by this station.
    pub station_id: Option<i64>,
    /// Complaints about an asset of this model (through the repair or the service request).
    pub model_id: Option<i64>,
    /// Still open and due before this day.
    pub overdue_on: Option<NaiveDate>,
    pub limit: u32,
}
