//! Early warning for the quality engineers. Per product model, production batch (the serial
//! without its running number, [`crate::reports::serial_batch`]) and fault code: the repair
//! rate per unit-month in service in the month under watch against the same cell's own
//! baseline, its rate over the months before. A cell is raised when its rate rose beyond the
//! configured factor, with at least a few cases, and the rise is unlikely to be chance (a
//! Poisson test of the month's cases against what the baseline rate predicts for the month's
//! exposure). One alert per cause while it is open; the store keeps that.

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Average days in a month, for unit-months.
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// What raises an alert.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WarningRules {
    /// Raised when the month's rate exceeds the baseline rate by this factor (1.0: doubled).
    pub rise: f64,
    /// At least this many repairs in the month.
    pub min_cases: u32,
    /// Months before the watched one that make the baseline.
    pub baseline_months: u32,
    /// The chance of seeing as many cases from the baseline rate must be below this.
    pub alpha: f64,
}

impl Default for WarningRules {
    fn default() -> Self {
        WarningRules {
            rise: 1.0,
            min_cases: 3,
            baseline_months: 6,
            alpha: 0.01,
        }
    }
}

impl WarningRules {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.rise > 0.0 && self.rise <= 100.0) {
            return Err("rise: a factor above 0 and at most 100".into());
        }
        if self.min_cases == 0 || self.baseline_months == 0 || self.baseline_months > 36 {
            return Err("min_cases at least 1, baseline_months 1 to 36".into());
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err("alpha: between 0 and 1".into());
        }
        Ok(())
    }
}

/// The months a scan looks at: the watched month (the last whole month before `today`) and
/// the baseline before it, as `[from, to)` day ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Window {
    pub baseline_from: NaiveDate,
    pub month_from: NaiveDate,
    pub month_to: NaiveDate,
}

/// The window of a scan on `today` (see [`Window`]).
pub fn window(today: NaiveDate, baseline_months: u32) -> Window {
    let month_to = today.with_day(1).unwrap_or(today);
    let month_from = month_to - Months::new(1);
    Window {
        baseline_from: month_from - Months::new(baseline_months),
        month_from,
        month_to,
    }
}

/// Unit-months in service within `[from, to)` of units in service since each start date
/// (`(start, units)`); a unit counts from its start day.
pub fn exposure(starts: &[(NaiveDate, i64)], from: NaiveDate, to: NaiveDate) -> f64 {
    let days: i64 = starts
        .iter()
        .map(|(start, units)| {
            let begin = (*start).max(from);
            (to - begin).num_days().max(0) * units
        })
        .sum();
    days as f64 / DAYS_PER_MONTH
}

/// One cell's figures over the window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Cell {
    pub model_id: i64,
    pub batch: String,
    pub fault_code: String,
    /// Units of the batch in service by the end of the month.
    pub units: i64,
    pub cases_month: i64,
    pub exposure_month: f64,
    pub cases_before: i64,
    pub exposure_before: f64,
}

/// A cell that calls for an alert.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Finding {
    pub cell: Cell,
    /// Repairs per 1,000 unit-months in the month, and in the baseline.
    pub rate_month: f64,
    pub rate_before: f64,
    /// The month's cases over what the baseline rate predicts for the month's exposure.
    pub ratio: f64,
    /// Chance of at least the month's cases from the baseline rate.
    pub p_value: f64,
}

/// An alert as the quality engineers see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QualityAlert {
    pub id: i64,
    pub cause: String,
    pub model_id: i64,
    pub batch: String,
    pub fault_code: String,
    /// The watched month's first day.
    pub month: NaiveDate,
    pub units: i64,
    pub cases: i64,
    pub rate_month: f64,
    pub rate_before: f64,
    pub ratio: f64,
    pub p_value: f64,
    /// The month's repairs of the cell.
    pub repair_orders: Vec<i64>,
    pub open: bool,
    pub raised_at: chrono::DateTime<chrono::Utc>,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub closed_by: Option<i64>,
    pub note: Option<String>,
}

/// The cause an alert is raised once for: model, batch and fault code.
pub fn cause(model_id: i64, batch: &str, fault_code: &str) -> String {
    format!("{model_id}:{batch}:{fault_code}")
}

/// Whether a cell is raised. The baseline rate counts half a case more than it saw, so a cell
/// without earlier repairs still has a finite rate to rise from.
pub fn assess(cell: &Cell, rules: &WarningRules) -> Option<Finding> {
    if cell.cases_month < i64::from(rules.min_cases) || cell.exposure_month <= 0.0 || cell.exposure_before <= 0.0 {
        return None;
    }
    let base = (cell.cases_before as f64 + 0.5) / cell.exposure_before;
    let expected = base * cell.exposure_month;
    let ratio = cell.cases_month as f64 / expected;
    let p = poisson_at_least(cell.cases_month, expected);
    (ratio >= 1.0 + rules.rise && p < rules.alpha).then(|| Finding {
        cell: cell.clone(),
        rate_month: round(1000.0 * cell.cases_month as f64 / cell.exposure_month),
        rate_before: round(1000.0 * cell.cases_before as f64 / cell.exposure_before),
        ratio: round(ratio),
        p_value: p,
    })
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// P(X ≥ k) for X ~ Poisson(λ). Below the mean, one less the lower terms; above it, the upper
/// terms summed from k (in log space for the first), so a tiny tail keeps its precision.
pub fn poisson_at_least(k: i64, lambda: f64) -> f64 {
    if k <= 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    if (k as f64) <= lambda {
        let mut term = (-lambda).exp();
        let mut below = 0.0;
        for i in 0..k {
            below += term;
            term *= lambda / (i + 1) as f64;
        }
        return (1.0 - below).clamp(0.0, 1.0);
    }
    let ln_k_factorial: f64 = (2..=k).map(|i| (i as f64).ln()).sum();
    let mut term = (-lambda + k as f64 * lambda.ln() - ln_k_factorial).exp();
    let mut tail = 0.0;
    let mut i = k;
    while term > tail * 1e-17 && i < k + 100_000 {
        tail += term;
        i += 1;
        term *= lambda / i as f64;
    }
    tail.min(1.0)
}

/// The words of an alert: what rose, by how much, and the cases.
pub fn describe(f: &Finding, model: &str, w: &Window, cases: &[i64]) -> (String, Vec<String>) {
    let c = &f.cell;
    let fault = if c.fault_code.is_empty() {
        "no fault code"
    } else {
        &c.fault_code
    };
    let title = format!("{model}, batch {}, {fault}", c.batch);
    let mut lines = vec![
        format!(
            "{} repairs in {} ({} per 1,000 unit-months) against {} per 1,000 in the {} months before: {:.1} times what the baseline predicts (p = {:.2e}).",
            c.cases_month,
            w.month_from.format("%B %Y"),
            f.rate_month,
            f.rate_before,
            (w.month_from.year() * 12 + w.month_from.month() as i32) - (w.baseline_from.year() * 12 + w.baseline_from.month() as i32),
            f.ratio,
            f.p_value
        ),
        format!("{} units of the batch in service.", c.units),
        String::from("Repair orders:"),
    ];
    lines.extend(cases.iter().map(|id| format!("  #{id}")));
    (title, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_window_is_the_last_whole_month_and_the_months_before() {
        let w = window(d("2026-12-04"), 6);
        assert_eq!(
            (w.baseline_from, w.month_from, w.month_to),
            (d("2026-05-01"), d("2026-11-01"), d("2026-12-01"))
        );
        let jan = window(d("2027-01-01"), 3);
        assert_eq!((jan.baseline_from, jan.month_from), (d("2026-09-01"), d("2026-12-01")));
    }

    #[test]
    fn exposure_counts_each_unit_from_its_start() {
        // 10 units in service all month (30 days), 5 from the 16th (15 days).
        let e = exposure(
            &[(d("2026-01-01"), 10), (d("2026-11-16"), 5)],
            d("2026-11-01"),
            d("2026-12-01"),
        );
        assert!((e - (300.0 + 75.0) / DAYS_PER_MONTH).abs() < 1e-9, "{e}");
        assert_eq!(
            exposure(&[(d("2026-12-05"), 10)], d("2026-11-01"), d("2026-12-01")),
            0.0
        );
    }

    #[test]
    fn poisson_tail_matches_known_values() {
        // P(X >= 1 | 1) = 1 - e^-1; P(X >= 3 | 0.5) = 0.01439
        assert!((poisson_at_least(1, 1.0) - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
        assert!((poisson_at_least(3, 0.5) - 0.014_387_677).abs() < 1e-6);
        assert_eq!(poisson_at_least(0, 3.0), 1.0);
        assert!(poisson_at_least(200, 10.0) < 1e-100 && poisson_at_least(200, 10.0) > 0.0);
        // The upper-tail sum agrees with one less the lower terms where both are precise.
        let lower = |k: i64, l: f64| {
            (0..k)
                .map(|i| (-l + i as f64 * l.ln() - (1..=i).map(|j| (j as f64).ln()).sum::<f64>()).exp())
                .sum::<f64>()
        };
        for (k, l) in [(8, 7.5), (12, 4.0), (30, 20.0)] {
            assert!((poisson_at_least(k, l) - (1.0 - lower(k, l))).abs() < 1e-12, "{k} {l}");
        }
        // P(X >= 8 | 7.5) = 0.4757...
        assert!(
            (poisson_at_least(8, 7.5) - 0.475_361).abs() < 1e-5,
            "{}",
            poisson_at_least(8, 7.5)
        );
    }

    fn cell(cases_month: i64, cases_before: i64) -> Cell {
        Cell {
            model_id: 1,
            batch: "WM-2403".into(),
            fault_code: "E21".into(),
            units: 1000,
            cases_month,
            exposure_month: 1000.0,
            cases_before,
            exposure_before: 6000.0,
        }
    }

    #[test]
    fn a_rise_is_raised_a_steady_rate_and_a_few_cases_are_not() {
        let rules = WarningRules::default();
        // 2 a month before (12 in six months), 12 this month: six times the rate.
        let f = assess(&cell(12, 12), &rules).expect("a rise");
        assert!(f.ratio > 5.0 && f.p_value < 1e-4, "{f:?}");
        assert_eq!((f.rate_month, f.rate_before), (12.0, 2.0));
        // Steady: 2 this month after 12 in six.
        assert_eq!(assess(&cell(2, 12), &rules), None);
        // Steady at a higher level: 10 a month, 11 now.
        assert_eq!(assess(&cell(11, 60), &rules), None);
        // A jump from nothing, but only two cases: chance.
        assert_eq!(assess(&cell(2, 0), &rules), None);
        // Nothing in service before: no baseline to rise from.
        let new = Cell {
            exposure_before: 0.0,
            ..cell(5, 0)
        };
        assert_eq!(assess(&new, &rules), None);
        assert_eq!(cause(1, "WM-2403", "E21"), "1:WM-2403:E21");
    }
}
