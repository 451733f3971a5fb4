//! What supervisors see: per-queue figures, the agents, 15-minute intervals and the Erlang C
//! staffing advice. [`Tally`] is a core without IO or clock: the switch reports each queue event
//! with the time it happened, and asks for a [`Wallboard`] snapshot at a given time.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub const INTERVAL_MINUTES: i64 = 15;
/// Intervals kept for the chart (one day).
const KEEP_INTERVALS: usize = 96;
/// Arrival rate and handle time for the advisor come from this last stretch.
const ADVISOR_WINDOW_MINUTES: i64 = 60;

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Counts {
    pub offered: u64,
    pub answered: u64,
    pub answered_within_sl: u64,
    pub abandoned: u64,
    pub wait_ms_total: u64,
    pub handled: u64,
    pub handle_ms_total: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.answered_within_sl += o.answered_within_sl;
        self.abandoned += o.abandoned;
        self.wait_ms_total += o.wait_ms_total;
        self.handled += o.handled;
        self.handle_ms_total += o.handle_ms_total;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = WallboardInterval)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub queue: String,
    #[serde(flatten)]
    pub counts: Counts,
    /// Answered within the threshold / answered (null with nothing answered).
    pub service_level: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct AgentCounts {
    pub logged_in: u32,
    pub available: u32,
    pub ringing: u32,
    pub on_call: u32,
    pub wrap_up: u32,
    pub on_break: u32,
    /// Signed in, not yet ready for calls.
    pub not_ready: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Advice {
    /// Observed over the last hour (or since start).
    pub arrivals_per_hour: f64,
    pub aht_seconds: f64,
    /// Erlang C agents needed to reach the queue's target; null when no staffing reaches it.
    pub agents_needed: Option<u32>,
    pub agents_logged_in: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueueBoard {
    pub name: String,
    pub waiting: u32,
    pub longest_wait_seconds: f64,
    pub agents: AgentCounts,
    /// Today so far.
    #[serde(flatten)]
    pub counts: Counts,
    pub sl_threshold_seconds: f64,
    pub sl_target: f64,
    /// Answered within the threshold / answered.
    pub service_level: Option<f64>,
    /// Answered within the threshold / (answered + abandoned).
    pub service_level_with_abandons: Option<f64>,
    pub asa_seconds: Option<f64>,
    pub aht_seconds: Option<f64>,
    /// Abandoned / (answered + abandoned).
    pub abandon_rate: Option<f64>,
    /// Of the queue's staffed agents now: busy (ringing, on a call, wrap-up) / (busy + available).
    pub occupancy: Option<f64>,
    pub advice: Advice,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentRow {
    pub id: i64,
    pub name: String,
    /// logged_out, available, ringing, on_call, wrap_up, break.
    pub state: String,
    pub reason: Option<String>,
    pub state_seconds: f64,
    pub calls: u64,
    pub talk_seconds: f64,
    /// The queue of the current call.
    pub queue: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Wallboard {
    pub at: DateTime<Utc>,
    pub queues: Vec<QueueBoard>,
    pub agents: Vec<AgentRow>,
    pub intervals: Vec<Interval>,
}

/// A queue as the tally needs it.
#[derive(Debug, Clone)]
pub struct QueueInfo {
    pub name: String,
    pub sl_threshold_ms: u64,
    pub sl_target: f64,
}

/// What the switch knows right now about a queue's callers and agents.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub waiting: u32,
    pub longest_wait_ms: u64,
    pub agents: AgentCounts,
}

pub struct Tally {
    queues: Vec<QueueInfo>,
    /// (interval start, queue index) → counts.
    intervals: BTreeMap<(DateTime<Utc>, usize), Counts>,
    index: HashMap<String, usize>,
}

fn interval_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(INTERVAL_MINUTES)).unwrap_or(t)
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

impl Tally {
    pub fn new(queues: Vec<QueueInfo>) -> Tally {
        let index = queues.iter().enumerate().map(|(i, q)| (q.name.clone(), i)).collect();
        Tally {
            queues,
            intervals: BTreeMap::new(),
            index,
        }
    }

    /// `queues.toml` changed: a queue's goals change in place, a new queue is added; one left
    /// out keeps its figures (the ACD keeps it too until restart).
    pub fn set_queues(&mut self, queues: Vec<QueueInfo>) {
        for q in queues {
            match self.index.get(&q.name) {
                Some(&i) => self.queues[i] = q,
                None => {
                    self.index.insert(q.name.clone(), self.queues.len());
                    self.queues.push(q);
                }
            }
        }
    }

    fn bucket(&mut self, at: DateTime<Utc>, queue: &str) -> Option<&mut Counts> {
        let q = *self.index.get(queue)?;
        let key = (interval_of(at), q);
        if !self.intervals.contains_key(&key) {
            while self.intervals.len() >= KEEP_INTERVALS * self.queues.len().max(1) {
                let first = *self.intervals.keys().next().expect("non-empty");
                self.intervals.remove(&first);
            }
        }
        Some(self.intervals.entry(key).or_default())
    }

    pub fn offered(&mut self, at: DateTime<Utc>, queue: &str) {
        if let Some(c) = self.bucket(at, queue) {
            c.offered += 1;
        }
    }

    /// The queue's service-level threshold, when the queue is known.
    pub fn threshold_ms(&self, queue: &str) -> Option<u64> {
        self.index.get(queue).map(|&q| self.queues[q].sl_threshold_ms)
    }

    pub fn answered(&mut self, at: DateTime<Utc>, queue: &str, waited_ms: u64) {
        let threshold = self.index.get(queue).map(|&q| self.queues[q].sl_threshold_ms);
        if let (Some(c), Some(threshold)) = (self.bucket(at, queue), threshold) {
            c.answered += 1;
            c.wait_ms_total += waited_ms;
            if waited_ms <= threshold {
                c.answered_within_sl += 1;
            }
        }
    }

    pub fn abandoned(&mut self, at: DateTime<Utc>, queue: &str) {
        if let Some(c) = self.bucket(at, queue) {
            c.abandoned += 1;
        }
    }

    pub fn handled(&mut self, at: DateTime<Utc>, queue: &str, handle_ms: u64) {
        if let Some(c) = self.bucket(at, queue) {
            c.handled += 1;
            c.handle_ms_total += handle_ms;
        }
    }

    /// The board at `now`: today's counts (UTC day), live figures and the advice.
    pub fn board(&self, now: DateTime<Utc>, live: &HashMap<String, Live>, agents: Vec<AgentRow>) -> Wallboard {
        let day = now.duration_trunc(TimeDelta::days(1)).unwrap_or(now);
        let window_start = now - TimeDelta::minutes(ADVISOR_WINDOW_MINUTES);
        let first_seen = self.intervals.keys().next().map(|(t, _)| *t);
        let mut queues = vec![];
        for (qi, q) in self.queues.iter().enumerate() {
            let mut today = Counts::default();
            let mut window = Counts::default();
            for ((start, i), c) in &self.intervals {
                if *i != qi {
                    continue;
                }
                if *start >= day {
                    today.add(c);
                }
                if *start + TimeDelta::minutes(INTERVAL_MINUTES) > window_start {
                    window.add(c);
                }
            }
            let l = live.get(&q.name).cloned().unwrap_or_default();
            // The observed rate over the window, or since the first event when that is shorter.
            let span_minutes = match first_seen {
                Some(f) if f > window_start => ((now - f).num_seconds() as f64 / 60.0).max(INTERVAL_MINUTES as f64),
                _ => ADVISOR_WINDOW_MINUTES as f64,
            };
            let arrivals_per_hour = window.offered as f64 * 60.0 / span_minutes;
            let aht_seconds = if window.handled > 0 {
                window.handle_ms_total as f64 / window.handled as f64 / 1000.0
            } else {
                180.0
            };
            let traffic = arrivals_per_hour * aht_seconds / 3600.0;
            let agents_needed = if traffic <= 0.0 {
                Some(0)
            } else {
                acd::erlang::agents_needed(traffic, aht_seconds, q.sl_threshold_ms as f64 / 1000.0, q.sl_target)
            };
            let busy = l.agents.ringing + l.agents.on_call + l.agents.wrap_up;
            queues.push(QueueBoard {
                name: q.name.clone(),
                waiting: l.waiting,
                longest_wait_seconds: l.longest_wait_ms as f64 / 1000.0,
                sl_threshold_seconds: q.sl_threshold_ms as f64 / 1000.0,
                sl_target: q.sl_target,
                service_level: ratio(today.answered_within_sl, today.answered),
                service_level_with_abandons: ratio(today.answered_within_sl, today.answered + today.abandoned),
                asa_seconds: ratio(today.wait_ms_total, today.answered).map(|x| x / 1000.0),
                aht_seconds: ratio(today.handle_ms_total, today.handled).map(|x| x / 1000.0),
                abandon_rate: ratio(today.abandoned, today.answered + today.abandoned),
                occupancy: ratio(busy as u64, (busy + l.agents.available) as u64),
                advice: Advice {
                    arrivals_per_hour,
                    aht_seconds,
                    agents_needed,
                    agents_logged_in: l.agents.logged_in,
                },
                agents: l.agents,
                counts: today,
            });
        }
        let intervals = self
            .intervals
            .iter()
            .filter(|((start, _), _)| *start >= day)
            .map(|((start, qi), c)| Interval {
                start: *start,
                queue: self.queues[*qi].name.clone(),
                counts: c.clone(),
                service_level: ratio(c.answered_within_sl, c.answered),
            })
            .collect();
        Wallboard {
            at: now,
            queues,
            agents,
            intervals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tally() -> Tally {
        Tally::new(vec![QueueInfo {
            name: "repairs".into(),
            sl_threshold_ms: 20_000,
            sl_target: 0.8,
        }])
    }

    #[test]
    fn service_level_both_ways_asa_aht_and_abandon_rate() {
        let mut t = tally();
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 7, 0).unwrap();
        for _ in 0..5 {
            t.offered(at, "repairs");
        }
        t.answered(at, "repairs", 5_000);
        t.answered(at, "repairs", 15_000);
        t.answered(at, "repairs", 40_000);
        t.abandoned(at, "repairs");
        t.handled(at, "repairs", 100_000);
        t.handled(at, "repairs", 200_000);
        t.offered(at, "nosuchqueue");
        let board = t.board(at + TimeDelta::minutes(1), &HashMap::new(), vec![]);
        let q = &board.queues[0];
        assert_eq!((q.counts.offered, q.counts.answered, q.counts.abandoned), (5, 3, 1));
        assert_eq!(q.service_level, Some(2.0 / 3.0));
        assert_eq!(q.service_level_with_abandons, Some(2.0 / 4.0));
        assert_eq!(q.asa_seconds, Some(20.0));
        assert_eq!(q.aht_seconds, Some(150.0));
        assert_eq!(q.abandon_rate, Some(0.25));
        assert_eq!(board.intervals.len(), 1);
        assert_eq!(
            board.intervals[0].start,
            Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
        );
    }

    #[test]
    fn intervals_are_fifteen_minutes_and_today_only() {
        let mut t = tally();
        let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        t.offered(day - TimeDelta::minutes(5), "repairs"); // yesterday
        for m in [0, 14, 15, 44, 45] {
            t.offered(day + TimeDelta::minutes(m), "repairs");
        }
        let board = t.board(day + TimeDelta::minutes(50), &HashMap::new(), vec![]);
        let per: Vec<(i64, u64)> = board
            .intervals
            .iter()
            .map(|i| ((i.start - day).num_minutes(), i.counts.offered))
            .collect();
        assert_eq!(per, vec![(0, 2), (15, 1), (30, 1), (45, 1)]);
        assert_eq!(board.queues[0].counts.offered, 5);
    }

    #[test]
    fn the_advisor_uses_erlang_c_on_the_observed_load() {
        let mut t = tally();
        let start = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
        // 200 calls in the last hour, 180 s each: 10 Erlangs.
        for i in 0..200 {
            let at = start + TimeDelta::seconds(i * 18);
            t.offered(at, "repairs");
            t.handled(at, "repairs", 180_000);
        }
        let live = HashMap::from([(
            "repairs".to_string(),
            Live {
                agents: AgentCounts {
                    logged_in: 9,
                    available: 1,
                    on_call: 8,
                    ..Default::default()
                },
                ..Default::default()
            },
        )]);
        let board = t.board(start + TimeDelta::minutes(60), &live, vec![]);
        let a = &board.queues[0].advice;
        assert!((a.arrivals_per_hour - 200.0).abs() < 1e-9, "{a:?}");
        assert_eq!(a.aht_seconds, 180.0);
        let expected = acd::erlang::agents_needed(10.0, 180.0, 20.0, 0.8);
        assert_eq!(a.agents_needed, expected);
        assert!(a.agents_needed.unwrap() > 10);
        assert_eq!(a.agents_logged_in, 9);
        assert_eq!(board.queues[0].occupancy, Some(8.0 / 9.0));
    }
}
