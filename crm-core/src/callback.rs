//! Satisfaction callbacks: when the next attempt to call a customer back may be made. A pure
//! function of the time, the customer (time zone, do-not-call flag) and the attempts so far; the
//! scheduler that claims jobs and dials lives in the service.
//!
//! Rules: never on the do-not-call flag; only inside the customer's local calling hours on a
//! calling day; at most `daily_limit` attempts per local day; retries back off (`retry_after`
//! doubled per attempt made); after `max_attempts` the job stops and becomes an agent's task.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::types::ParseError;

str_enum!(
    /// Where a callback job stands: `pending` until surveyed (`done`), out of attempts
    /// (`exhausted`: an agent's preview-dial task) or stopped by the customer's flag.
    JobStatus { Pending = "pending", Done = "done", Exhausted = "exhausted", DoNotCall = "do_not_call" }
);
str_enum!(
    /// How an attempt ended; `in_doubt` when the node placing it died before recording it (the
    /// attempt is never placed again).
    Outcome { Answered = "answered", NoAnswer = "no_answer", Busy = "busy", Failed = "failed", InDoubt = "in_doubt" }
);

/// A satisfaction callback owed for a completed repair order.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallbackJob {
    pub id: i64,
    pub repair_order_id: i64,
    pub customer_id: i64,
    pub status: JobStatus,
    /// The next attempt not before this (the repair's completion for the first).
    pub due_at: DateTime<Utc>,
    /// Attempts made (recorded) so far.
    pub attempts: u32,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One attempt, recorded before the call is placed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallbackAttempt {
    pub id: i64,
    pub job_id: i64,
    /// 1-based.
    pub attempt: u32,
    /// [`attempt_key`]: also the SIP Call-ID's stem, so a trunk sees retries as one call.
    pub idempotency_key: String,
    pub node: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
}

/// After an attempt: what becomes of its job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AfterAttempt {
    /// Try again, not before this.
    Retry(DateTime<Utc>),
    /// The job ends with this status (`done`, `exhausted`, `do_not_call`).
    End(JobStatus),
}

/// The survey's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSurvey {
    pub repair_order_id: i64,
    /// The callback job that asked, if any (a survey can also be typed in by an agent).
    #[serde(default)]
    pub job_id: Option<i64>,
    /// 1–5.
    #[schema(minimum = 1, maximum = 5)]
    pub repair_score: u8,
    /// 1–5.
    #[schema(minimum = 1, maximum = 5)]
    pub technician_score: u8,
    pub fixed_first_time: bool,
    /// A recorded comment, stored under the data directory by the survey call itself: never
    /// taken from a request.
    #[serde(skip_deserializing)]
    #[schema(ignore)]
    pub comment_path: Option<String>,
}

impl NewSurvey {
    /// A poor answer opens a complaint: its category and what it says. A technician scored 1–2
    /// is about service attitude; a repair that did not fix the fault is about product quality;
    /// a repair scored 1–2 otherwise is "other".
    pub fn complaint(&self) -> Option<(crate::model::ComplaintCategory, String)> {
        use crate::model::ComplaintCategory as C;
        let category = if self.technician_score <= 2 {
            C::ServiceAttitude
        } else if !self.fixed_first_time {
            C::ProductQuality
        } else if self.repair_score <= 2 {
            C::Other
        } else {
            return None;
        };
        let fixed = if self.fixed_first_time { "fixed" } else { "not fixed" };
        Some((
            category,
            format!(
                "Satisfaction survey: repair {}/5, technician {}/5, {fixed} the first time.",
                self.repair_score, self.technician_score
            ),
        ))
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        for (field, v) in [
            ("repair_score", self.repair_score),
            ("technician_score", self.technician_score),
        ] {
            if !(1..=5).contains(&v) {
                return Err(FieldError::new(field, "must be 1 to 5"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SurveyResult {
    pub id: i64,
    pub repair_order_id: i64,
    pub job_id: Option<i64>,
    pub station_id: Option<i64>,
    pub technician_id: Option<i64>,
    pub repair_score: u8,
    pub technician_score: u8,
    pub fixed_first_time: bool,
    pub comment_path: Option<String>,
    pub answered_at: DateTime<Utc>,
    /// The complaint a poor answer opened (see [`NewSurvey::complaint`]).
    pub complaint_id: Option<i64>,
}

/// A station's or technician's score from its surveys.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Score {
    pub surveys: u32,
    /// Mean repair (station) or technician score, 1–5; `None` without surveys.
    pub mean: Option<f64>,
    /// Share fixed the first time, 0–1.
    pub first_time_fix: Option<f64>,
}

/// How callbacks are paced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallbackPolicy {
    /// Local calling hours at the customer in minutes from midnight: from, until (exclusive;
    /// 1440 is midnight at the end of the day).
    pub opens: u32,
    pub closes: u32,
    /// Calling days, 1 = Monday … 7 = Sunday.
    pub days: Vec<u8>,
    /// After the repair is completed, wait this long before the first call.
    pub first_delay_minutes: u32,
    /// Before the second attempt; doubled for each further one.
    pub retry_after_minutes: u32,
    pub max_attempts: u32,
    /// Attempts per customer per local day.
    pub daily_limit: u32,
}

impl Default for CallbackPolicy {
    fn default() -> Self {
        CallbackPolicy {
            opens: 9 * 60,
            closes: 20 * 60,
            days: vec![1, 2, 3, 4, 5, 6],
            first_delay_minutes: 120,
            retry_after_minutes: 60,
            max_attempts: 4,
            daily_limit: 2,
        }
    }
}

/// What to do with a callback job now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Dial,
    /// Not before this instant.
    Wait(DateTime<Utc>),
    /// No (more) calls: the job ends and, when exhausted, becomes an agent's task.
    Stop(StopReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    DoNotCall,
    Exhausted,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::DoNotCall => "do_not_call",
            StopReason::Exhausted => "exhausted",
        }
    }
}

/// The customer as the callback rules see them.
#[derive(Debug, Clone, Copy)]
pub struct Callee {
    pub tz: chrono_tz::Tz,
    pub do_not_call: bool,
}

impl CallbackPolicy {
    /// When the first attempt is due after a completion at `completed`.
    pub fn first_due(&self, completed: DateTime<Utc>) -> DateTime<Utc> {
        completed + Duration::minutes(i64::from(self.first_delay_minutes))
    }

    /// When the attempt after `made` attempts (the last at `last`) is due.
    pub fn retry_due(&self, made: u32, last: DateTime<Utc>) -> DateTime<Utc> {
        let factor = 1i64 << made.saturating_sub(1).min(10);
        last + Duration::minutes(i64::from(self.retry_after_minutes) * factor)
    }

    /// What to do at `now` with a job due at `due` after `made` attempts, `today` of them on
    /// the customer's local date of `now`.
    pub fn next(&self, now: DateTime<Utc>, callee: Callee, due: DateTime<Utc>, made: u32, today: u32) -> Next {
        if callee.do_not_call {
            return Next::Stop(StopReason::DoNotCall);
        }
        if made >= self.max_attempts {
            return Next::Stop(StopReason::Exhausted);
        }
        let mut t = due.max(now);
        if today >= self.daily_limit {
            // Not again today (the customer's day): from the next local day.
            let local_today = now.with_timezone(&callee.tz).date_naive();
            t = t.max(self.local(callee.tz, local_today.succ_opt().unwrap_or(local_today), 0));
        }
        let t = self.calling_time(t, callee.tz);
        if t <= now {
            Next::Dial
        } else {
            Next::Wait(t)
        }
    }

    /// The first moment at or after `t` inside the calling hours, local to `tz`.
    pub fn calling_time(&self, t: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
        let local = t.with_timezone(&tz);
        let mut date = local.date_naive();
        for _ in 0..8 {
            if self.days.contains(&(date.weekday().number_from_monday() as u8)) {
                let open = self.local(tz, date, self.opens);
                let close = self.local(tz, date, self.closes);
                if t < close {
                    return t.max(open);
                }
            }
            date = date.succ_opt().unwrap_or(date);
        }
        // No calling day at all: never sooner than a week out.
        t + Duration::days(7)
    }

    /// A local wall-clock time (minutes from midnight) as an instant (a time skipped by a clock
    /// change: an hour later).
    fn local(&self, tz: chrono_tz::Tz, date: NaiveDate, minutes: u32) -> DateTime<Utc> {
        let (date, minutes) = match minutes >= 1440 {
            true => (date.succ_opt().unwrap_or(date), minutes - 1440),
            false => (date, minutes),
        };
        let time = NaiveTime::from_num_seconds_from_midnight_opt(minutes * 60, 0).unwrap_or_default();
        let at = date.and_time(time);
        tz.from_local_datetime(&at)
            .earliest()
            .or_else(|| tz.from_local_datetime(&(at + Duration::hours(1))).earliest())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&at))
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.opens >= self.closes || self.closes > 1440 {
            return Err("calling hours: opens must be before closes, within the day".into());
        }
        if self.days.is_empty() || self.days.iter().any(|d| !(1..=7).contains(d)) {
            return Err("calling days: 1 (Monday) to 7 (Sunday), at least one".into());
        }
        if self.max_attempts == 0 || self.daily_limit == 0 {
            return Err("max_attempts and daily_limit must be at least 1".into());
        }
        Ok(())
    }
}

/// The idempotency key of attempt `n` (1-based) of callback job `job`: recorded before the
/// call is placed, so an attempt whose outcome was lost in a crash is never placed again.
pub fn attempt_key(job: i64, n: u32) -> String {
    format!("callback-{job}-{n}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike as _;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const BERLIN: Callee = Callee {
        tz: chrono_tz::Europe::Berlin,
        do_not_call: false,
    };

    #[test]
    fn calls_only_in_the_customers_calling_hours() {
        let p = CallbackPolicy::default();
        // Monday 2026-11-30, 07:30 UTC is 08:30 in Berlin: wait until 09:00 local.
        let now = at("2026-11-30T07:30:00Z");
        assert_eq!(p.next(now, BERLIN, now, 0, 0), Next::Wait(at("2026-11-30T08:00:00Z")));
        // 10:00 local: now.
        let now = at("2026-11-30T09:00:00Z");
        assert_eq!(p.next(now, BERLIN, now, 0, 0), Next::Dial);
        // 20:30 local on Saturday: Sunday is no calling day, so Monday 09:00.
        let now = at("2026-12-05T19:30:00Z");
        assert_eq!(p.next(now, BERLIN, now, 1, 0), Next::Wait(at("2026-12-07T08:00:00Z")));
        // The same instant is 14:30 in New York: call.
        let ny = Callee {
            tz: chrono_tz::America::New_York,
            ..BERLIN
        };
        assert_eq!(p.next(now, ny, now, 1, 0), Next::Dial);
        // Summer time: 09:00 in Berlin is 07:00 UTC.
        let now = at("2026-07-01T06:00:00Z");
        assert_eq!(p.next(now, BERLIN, now, 0, 0), Next::Wait(at("2026-07-01T07:00:00Z")));
    }

    #[test]
    fn poor_answers_open_complaints() {
        use crate::model::ComplaintCategory as C;
        let s = |repair, technician, fixed| NewSurvey {
            repair_order_id: 1,
            job_id: None,
            repair_score: repair,
            technician_score: technician,
            fixed_first_time: fixed,
            comment_path: None,
        };
        assert_eq!(s(5, 5, true).complaint(), None);
        assert_eq!(s(3, 3, true).complaint(), None);
        assert_eq!(s(4, 2, true).complaint().unwrap().0, C::ServiceAttitude);
        assert_eq!(s(4, 4, false).complaint().unwrap().0, C::ProductQuality);
        let (c, text) = s(1, 4, true).complaint().unwrap();
        assert_eq!(c, C::Other);
        assert_eq!(
            text,
            "Satisfaction survey: repair 1/5, technician 4/5, fixed the first time."
        );
    }

    #[test]
    fn all_day_hours_reach_midnight() {
        let p = CallbackPolicy {
            opens: 0,
            closes: 1440,
            days: (1..=7).collect(),
            ..CallbackPolicy::default()
        };
        assert!(p.validate().is_ok());
        let now = at("2026-11-30T22:59:30Z"); // 23:59:30 in Berlin
        assert_eq!(p.next(now, BERLIN, now, 0, 0), Next::Dial);
        let bad = CallbackPolicy {
            opens: 600,
            closes: 540,
            ..CallbackPolicy::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn do_not_call_daily_limit_back_off_and_the_last_attempt() {
        let p = CallbackPolicy::default();
        let now = at("2026-11-30T10:00:00Z");
        let dnc = Callee {
            do_not_call: true,
            ..BERLIN
        };
        assert_eq!(p.next(now, dnc, now, 0, 0), Next::Stop(StopReason::DoNotCall));
        // Two attempts today already: tomorrow at opening.
        assert_eq!(p.next(now, BERLIN, now, 2, 2), Next::Wait(at("2026-12-01T08:00:00Z")));
        // Back-off doubles: 1 h after the first attempt, 2 h after the second, 4 h after the third.
        assert_eq!(p.retry_due(1, now), now + Duration::hours(1));
        assert_eq!(p.retry_due(2, now), now + Duration::hours(2));
        assert_eq!(p.retry_due(3, now), now + Duration::hours(4));
        // A due time in the future waits for it.
        let due = now + Duration::hours(1);
        assert_eq!(p.next(now, BERLIN, due, 1, 1), Next::Wait(due));
        assert_eq!(p.next(now, BERLIN, now, 4, 0), Next::Stop(StopReason::Exhausted));
        assert_eq!(p.first_due(now), now + Duration::hours(2));
        assert_eq!(attempt_key(7, 2), "callback-7-2");
    }

    #[test]
    fn a_whole_schedule_in_virtual_time_stays_inside_the_rules() {
        let p = CallbackPolicy::default();
        // Nobody answers: walk the job in virtual time and check every dial.
        let mut now = at("2026-12-04T18:40:00Z"); // Friday 19:40 in Berlin
        let mut due = p.first_due(now);
        let mut dials: Vec<DateTime<Utc>> = vec![];
        loop {
            let local_day = |t: DateTime<Utc>| t.with_timezone(&BERLIN.tz).date_naive();
            let today = dials.iter().filter(|d| local_day(**d) == local_day(now)).count() as u32;
            match p.next(now, BERLIN, due, dials.len() as u32, today) {
                Next::Dial => {
                    dials.push(now);
                    due = p.retry_due(dials.len() as u32, now);
                }
                Next::Wait(t) => {
                    assert!(t > now);
                    now = t;
                }
                Next::Stop(r) => {
                    assert_eq!(r, StopReason::Exhausted);
                    break;
                }
            }
        }
        assert_eq!(dials.len(), 4);
        for d in &dials {
            let local = d.with_timezone(&BERLIN.tz);
            let minute = local.time().num_seconds_from_midnight() / 60;
            assert!(minute >= p.opens && minute < p.closes, "{local}");
            assert_ne!(local.weekday().number_from_monday(), 7, "{local}");
        }
        // Saturday 09:00 and 10:00 (the daily limit), then Monday 09:00 and 13:00.
        let expect = [
            "2026-12-05T08:00:00Z",
            "2026-12-05T09:00:00Z",
            "2026-12-07T08:00:00Z",
            "2026-12-07T12:00:00Z",
        ];
        assert_eq!(dials, expect.map(at).to_vec());
    }
}
