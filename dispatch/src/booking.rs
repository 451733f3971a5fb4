//! Whether a visit window may be booked with a customer: in the future, within a year, and inside
//! one of the technician's shifts (local times at their station, so a DST change moves the shift
//! with the clock on the wall). No IO and no clock: `now` is given.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone as _, Utc};
use crm_core::model::{Appointment, Shift};
use crm_core::types::Skill;

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
    /// Assigned by hand to a technician without the order's skill at its level.
    LacksSkill { skill: String, level: u8 },
    /// Assigned by hand for a time none of the technician's shifts holds.
    NoShiftThen,
}

impl Refusal {
    /// The field of the request the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            Refusal::InThePast | Refusal::TooFarAhead => "appointment.from",
            Refusal::OutsideShifts => "appointment",
            Refusal::LacksSkill { .. } => "technician_id",
            Refusal::NoShiftThen => "scheduled_for",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::InThePast => "the window has begun or is over; offer one still to come".into(),
            Refusal::TooFarAhead => format!("at most {MAX_DAYS_AHEAD} days ahead"),
            Refusal::OutsideShifts => "outside the technician's shifts".into(),
            Refusal::LacksSkill { skill, level } => format!(
                "the technician lacks the skill {skill} at level {level}; name an override_reason to assign anyway"
            ),
            Refusal::NoShiftThen => {
                "the technician has no shift at that time; name an override_reason to assign anyway".into()
            }
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

/// A technician given an order by hand: they have the order's skill (its product line) at
/// `level` or above, and a shift (in `tz`) that holds the planned start, when there is one.
pub fn check_assignment(
    skills: &[Skill],
    shifts: &[Shift],
    tz: chrono_tz::Tz,
    line: &str,
    level: u8,
    planned: Option<DateTime<Utc>>,
) -> Result<(), Refusal> {
    if !skills.iter().any(|s| s.name.as_str() == line && s.level.get() >= level) {
        return Err(Refusal::LacksSkill {
            skill: line.to_string(),
            level,
        });
    }
    let Some(at) = planned else { return Ok(()) };
    let day = at.with_timezone(&tz).date_naive();
    let weekday = day.weekday().number_from_monday() as u8;
    let inside = shifts
        .iter()
        .filter(|s| s.weekday == weekday)
        .any(|s| self::at(day, tz, s.opens) <= at && at < self::at(day, tz, s.closes));
    if inside {
        Ok(())
    } else {
        Err(Refusal::NoShiftThen)
    }
}

/// When the technician can next work, from `after`: `after` itself inside a shift, else the
/// next shift's opening within two weeks. `None`: no shift in that time.
pub fn next_working_time(shifts: &[Shift], tz: chrono_tz::Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let first = after.with_timezone(&tz).date_naive();
    (0..14).find_map(|d| {
        let day = first + Duration::days(d);
        let weekday = day.weekday().number_from_monday() as u8;
        shifts
            .iter()
            .filter(|s| s.weekday == weekday)
            .filter_map(|s| {
                let (opens, closes) = (at(day, tz, s.opens), at(day, tz, s.closes));
                (closes > after).then_some(opens.max(after))
            })
            .min()
    })
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

    #[test]
    fn a_hand_assignment_needs_skill_level_and_a_shift() {
        let skill = |name: &str, level: u8| Skill {
            name: name.parse().unwrap(),
            level: crm_core::types::SkillLevel::new(level).unwrap(),
        };
        let skills = [skill("appliance", 2)];
        let shifts = [shift(4, "08:00:00", "17:00:00")];
        let thursday_ten = Some(utc("2026-12-03T09:00:00Z"));
        assert_eq!(
            check_assignment(&skills, &shifts, BERLIN, "appliance", 2, thursday_ten),
            Ok(())
        );
        assert_eq!(
            check_assignment(&skills, &shifts, BERLIN, "appliance", 3, thursday_ten),
            Err(Refusal::LacksSkill {
                skill: "appliance".into(),
                level: 3
            })
        );
        let r = check_assignment(&skills, &shifts, BERLIN, "truck", 1, None).unwrap_err();
        assert_eq!(
            (r.field(), r.message().contains("truck at level 1")),
            ("technician_id", true)
        );
        // 19:30 Berlin on Thursday, and Saturday morning: no shift then.
        for at in ["2026-12-03T18:30:00Z", "2026-12-05T09:00:00Z"] {
            assert_eq!(
                check_assignment(&skills, &shifts, BERLIN, "appliance", 1, Some(utc(at))),
                Err(Refusal::NoShiftThen),
                "{at}"
            );
        }
        assert_eq!(check_assignment(&skills, &[], BERLIN, "appliance", 1, None), Ok(()));
    }

    #[test]
    fn the_next_working_time_skips_evenings_and_weekends() {
        let shifts = [shift(5, "08:00:00", "17:00:00"), shift(1, "08:00:00", "17:00:00")];
        // Friday 4 December 2026 at 10:00 Berlin: now.
        let friday_ten = utc("2026-12-04T09:00:00Z");
        assert_eq!(next_working_time(&shifts, BERLIN, friday_ten), Some(friday_ten));
        // Friday at 19:30 Berlin: Monday 08:00 Berlin.
        let evening = utc("2026-12-04T18:30:00Z");
        assert_eq!(
            next_working_time(&shifts, BERLIN, evening),
            Some(utc("2026-12-07T07:00:00Z"))
        );
        assert_eq!(next_working_time(&[], BERLIN, evening), None);
    }
}
