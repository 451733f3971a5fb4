//! Scheduled reports: an engineer subscribes to a report and receives it by e-mail once per
//! period (the day, the ISO week or the month just ended), a CSV attached and a summary in the
//! text. Pure: which period is due, and the message's key (one message per subscription and
//! period, however often the round runs).

use chrono::{Datelike, Duration, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::reports::Period;
use crate::types::{Email, ParseError};

str_enum!(
    /// The reports one can subscribe to: service figures by model, batch or fault code,
    /// warranty claims by station or model, complaints by cause, station or model.
    SubscribedReport {
        ServiceByModel = "service_by_model", ServiceBySerialBatch = "service_by_serial_batch",
        ServiceByFaultCode = "service_by_fault_code", ClaimsByStation = "claims_by_station",
        ClaimsByModel = "claims_by_model", ComplaintsByCause = "complaints_by_cause",
        ComplaintsByStation = "complaints_by_station", ComplaintsByModel = "complaints_by_model",
    }
);
str_enum!(Frequency { Daily = "daily", Weekly = "weekly", Monthly = "monthly" });

impl SubscribedReport {
    pub fn title(self) -> &'static str {
        match self {
            SubscribedReport::ServiceByModel => "Service by model",
            SubscribedReport::ServiceBySerialBatch => "Service by production batch",
            SubscribedReport::ServiceByFaultCode => "Service by fault code",
            SubscribedReport::ClaimsByStation => "Warranty claims by station",
            SubscribedReport::ClaimsByModel => "Warranty claims by model",
            SubscribedReport::ComplaintsByCause => "Complaints by cause",
            SubscribedReport::ComplaintsByStation => "Complaints by station",
            SubscribedReport::ComplaintsByModel => "Complaints by model",
        }
    }
}

/// A new subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    pub report: SubscribedReport,
    pub frequency: Frequency,
    /// Where it goes.
    pub email: Email,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Subscription {
    pub id: i64,
    pub user_id: Option<i64>,
    pub report: SubscribedReport,
    pub frequency: Frequency,
    pub email: Email,
    /// The first day of the last period sent.
    pub sent_through: Option<NaiveDate>,
    pub created_at: chrono::DateTime<Utc>,
}

/// The latest whole period of `frequency` before `today`: yesterday, last ISO week (Monday to
/// Sunday), or last month.
pub fn last_period(frequency: Frequency, today: NaiveDate) -> Period {
    match frequency {
        Frequency::Daily => {
            let d = today - Duration::days(1);
            Period { from: d, to: d }
        }
        Frequency::Weekly => {
            let this_monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
            Period {
                from: this_monday - Duration::days(7),
                to: this_monday - Duration::days(1),
            }
        }
        Frequency::Monthly => {
            let first = today.with_day(1).unwrap_or(today);
            Period {
                from: first - Months::new(1),
                to: first - Duration::days(1),
            }
        }
    }
}

/// The period to send now, if the subscription has not had it (nothing before the day it was
/// created: a new subscription starts with the period that ends after it).
pub fn due(s: &Subscription, today: NaiveDate) -> Option<Period> {
    let p = last_period(s.frequency, today);
    let created = s.created_at.date_naive();
    let fresh = s.sent_through.is_none_or(|t| t < p.from);
    (fresh && p.to >= created).then_some(p)
}

/// One message per subscription and period.
pub fn mail_key(subscription_id: i64, p: &Period) -> String {
    format!("report:{subscription_id}:{}", p.from)
}

/// A period in words for the subject: `2026-12-03`, `2026-W48`, `2026-11`.
pub fn period_name(frequency: Frequency, p: &Period) -> String {
    match frequency {
        Frequency::Daily => p.from.to_string(),
        Frequency::Weekly => {
            let w = p.from.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }
        Frequency::Monthly => p.from.format("%Y-%m").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_end_before_today_across_weeks_months_and_years() {
        let p = |f, t| {
            let p = last_period(f, d(t));
            (p.from.to_string(), p.to.to_string())
        };
        assert_eq!(
            p(Frequency::Daily, "2027-01-01"),
            ("2026-12-31".into(), "2026-12-31".into())
        );
        // Friday 4 December 2026: last week is 23–29 November.
        assert_eq!(
            p(Frequency::Weekly, "2026-12-04"),
            ("2026-11-23".into(), "2026-11-29".into())
        );
        // A Monday: the week just ended.
        assert_eq!(
            p(Frequency::Weekly, "2026-11-30"),
            ("2026-11-23".into(), "2026-11-29".into())
        );
        assert_eq!(
            p(Frequency::Monthly, "2026-03-01"),
            ("2026-02-01".into(), "2026-02-28".into())
        );
        assert_eq!(
            p(Frequency::Monthly, "2027-01-15"),
            ("2026-12-01".into(), "2026-12-31".into())
        );
        assert_eq!(
            period_name(Frequency::Weekly, &last_period(Frequency::Weekly, d("2027-01-04"))),
            "2026-W53"
        );
    }

    #[test]
    fn a_period_is_sent_once_and_none_before_the_subscription() {
        let mut s = Subscription {
            id: 7,
            user_id: None,
            report: SubscribedReport::ServiceByModel,
            frequency: Frequency::Weekly,
            email: Email::parse("qe@example.com").unwrap(),
            sent_through: None,
            created_at: Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap(),
        };
        // Created on Wednesday: last week ended before it, nothing is due this week.
        assert_eq!(due(&s, d("2026-12-04")), None);
        let next = due(&s, d("2026-12-07")).expect("the week of the subscription");
        assert_eq!((next.from, next.to), (d("2026-11-30"), d("2026-12-06")));
        assert_eq!(mail_key(7, &next), "report:7:2026-11-30");
        s.sent_through = Some(next.from);
        assert_eq!(due(&s, d("2026-12-08")), None, "sent once");
        assert!(due(&s, d("2026-12-14")).is_some(), "the next week");
    }
}
