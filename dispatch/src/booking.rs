//! Whether a visit window may be booked with a customer: in the future, within a year, and inside
//! one of the technician's shifts (local times at their station, so a DST change moves the shift
//! with the clock on the wall). No IO and no clock: `now` is given.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone as _, Utc};
use crm_core::model::{Appointment, Shift};

/// How far ahead a visit can be booked.
pub const MAX_DAYS_AHEAD: i64 = 365;

/// Why a window cannot be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The window starts before now.
    InThePast,
    /// The window starts more than [`MAX_DAYS_AHEAD`] days from now.
    TooFarAhead,
    /// No shift of the technician's holds the whole window.
    OutsideShifts,
}

impl Refusal {
    /// The field of the request the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            Refusal::InThePast | Refusal::TooFarAhead => "appointment.from",
            Refusal::OutsideShifts => "appointment",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::InThePast => "the window has begun or is over; offer one still to come".into(),
            Refusal::TooFarAhead => format!("at most {MAX_DAYS_AHEAD} days ahead"),
            Refusal::OutsideShifts => "outside the technician's shifts".into(),
        }
    }
}

/// A window when it is booked (the shifts are not known yet, as when an agent books first).
pub fn check_window(w: &Appointment, now: DateTime<Utc>) -> Result<(), Refusal> {
    if w.from < now {
        return Err(Refusal::InThePast);
    }
    if w.from > now + Duration::days(MAX_DAYS_AHEAD) {
        return Err(Refusal::TooFarAhead);
    }
    Ok(())
}

/// A window booked with a technician: [`check_window`], and one shift (in `tz`, the station's
/// zone) from before the window starts to after it ends.
pub fn check_booking(w: &Appointment, shifts: &[Shift], tz: chrono_tz::Tz, now: DateTime<Utc>) -> Result<(), Refusal> {
    check_window(w, now)?;
    // A shift closes after it opens on the same day (the model refuses anything else).
    let day = w.from.with_timezone(&tz).date_naive();
    let weekday = day.weekday().number_from_monday() as u8;
    let inside = shifts
        .iter()
        .filter(|s| s.weekday == weekday)
        .any(|s| at(day, tz, s.opens) <= w.from && w.to <= at(day, tz, s.closes));
    if inside {
        Ok(())
    } else {
        Err(Refusal::OutsideShifts)
    }
}

/// A local wall-clock time on a day as an instant; a time in a spring-forward gap is an hour
/// later, one in the repeated hour of autumn the first.
fn at(day: NaiveDate, tz: chrono_tz::Tz, t: NaiveTime) -> DateTime<Utc> {
    let local = day.and_time(t);
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(local + Duration::hours(1))).earliest())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| local.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }
    fn window(from: &str, to: &str) -> Appointment {
        Appointment {
            from: utc(from),
            to: utc(to),
        }
    }
    fn shift(weekday: u8, opens: &str, closes: &str) -> Shift {
        Shift {
            weekday,
            opens: opens.parse().unwrap(),
            closes: closes.parse().unwrap(),
        }
    }

    const BERLIN: chrono_tz::Tz = chrono_tz::Europe::Berlin;

    #[test]
    fn past_and_far_windows_are_refused() {
        let now = utc("2026-12-02T19:30:00Z");
        let w = window("2026-12-02T09:00:00Z", "2026-12-02T11:00:00Z");
        assert_eq!(check_window(&w, now), Err(Refusal::InThePast));
        let w = window("9999-01-04T09:00:00Z", "9999-01-04T11:00:00Z");
        assert_eq!(check_window(&w, now), Err(Refusal::TooFarAhead));
        let w = window("2026-12-03T09:00:00Z", "2026-12-03T11:00:00Z");
        assert_eq!(check_window(&w, now), Ok(()));
    }

    #[test]
    fn a_window_must_lie_in_one_shift_in_the_stations_zone() {
        let now = utc("2026-12-01T06:00:00Z");
        // Thursday 3 December 2026: 08:00–17:00 in Berlin is 07:00–16:00 UTC in winter.
        let shifts = [shift(4, "08:00:00", "17:00:00")];
        let ok = window("2026-12-03T07:00:00Z", "2026-12-03T09:00:00Z");
        assert_eq!(check_booking(&ok, &shifts, BERLIN, now), Ok(()));
        let late = window("2026-12-03T15:00:00Z", "2026-12-03T17:00:00Z");
        assert_eq!(check_booking(&late, &shifts, BERLIN, now), Err(Refusal::OutsideShifts));
        let saturday = window("2026-12-05T09:00:00Z", "2026-12-05T11:00:00Z");
        assert_eq!(
            check_booking(&saturday, &shifts, BERLIN, now),
            Err(Refusal::OutsideShifts)
        );
        assert_eq!(
            check_booking(&ok, &[], BERLIN, now),
            Err(Refusal::OutsideShifts),
            "no shifts at all"
        );
        // A split shift: a window across the gap fits neither half.
        let split = [shift(4, "08:00:00", "12:00:00"), shift(4, "13:00:00", "17:00:00")];
        let across = window("2026-12-03T10:00:00Z", "2026-12-03T12:30:00Z");
        assert_eq!(check_booking(&across, &split, BERLIN, now), Err(Refusal::OutsideShifts));
    }

    #[test]
    fn shifts_follow_the_wall_clock_across_a_dst_change() {
        let now = utc("2026-03-20T06:00:00Z");
        // Monday 30 March 2026, the day after Berlin moved to summer time: 08:00 is 06:00 UTC.
        let shifts = [shift(1, "08:00:00", "17:00:00")];
        let first = window("2026-03-30T06:00:00Z", "2026-03-30T08:00:00Z");
        assert_eq!(check_booking(&first, &shifts, BERLIN, now), Ok(()));
        // The same UTC hours a week earlier (winter time) start before the shift.
        let winter = window("2026-03-23T06:00:00Z", "2026-03-23T08:00:00Z");
        assert_eq!(
            check_booking(&winter, &shifts, BERLIN, now),
            Err(Refusal::OutsideShifts)
        );
    }
}
