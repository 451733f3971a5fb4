//! Warranty determination: a pure function of the asset's facts and today's date.
//!
//! Coverage comes from the model's factory warranty (parts and labour run separately from the purchase
//! date, voided past a mileage or operating-hours limit) and from extended service contracts. The answer
//! names the rule that decided it, so an agent (or the IVR) can say *why*.

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The factory warranty of a product model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarrantyPolicy {
    /// Months of parts coverage from the purchase date.
    #[schema(maximum = 240)]
    pub parts_months: u16,
    /// Months of labour coverage from the purchase date.
    #[schema(maximum = 240)]
    pub labor_months: u16,
    /// Coverage ends when the odometer passes this (vehicles).
    #[serde(default)]
    pub max_mileage_km: Option<u32>,
    /// Coverage ends past this many operating hours (machines).
    #[serde(default)]
    pub max_hours: Option<u32>,
}

/// An extended service contract on one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceContract {
    pub id: i64,
    pub name: String,
    pub starts_on: NaiveDate,
    /// Last covered day (inclusive).
    pub ends_on: NaiveDate,
    pub covers_parts: bool,
    pub covers_labor: bool,
}

/// Months after the production date that count as the purchase date when no sale is
/// registered (the knowledge base's "production date on the serial plate plus 6 months").
pub const PRODUCTION_GRACE_MONTHS: u16 = 6;

/// Which fact decided the day the factory warranty starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum WarrantyStart {
    /// The sale a dealer registered.
    RegisteredSale {
        sale_id: i64,
        dealer_id: i64,
        sold_on: NaiveDate,
    },
    /// No sale is registered: the production date plus the grace period.
    ProductionGrace {
        produced_on: NaiveDate,
        grace_months: u16,
        starts_on: NaiveDate,
    },
    /// Neither a sale nor a production date is known: the purchase date on record (a receipt).
    StatedPurchase { purchase_date: NaiveDate },
}

impl WarrantyStart {
    /// Decide the start: a registered sale, else production plus grace, else the stated date.
    pub fn decide(sale: Option<(i64, i64, NaiveDate)>, produced_on: Option<NaiveDate>, stated: NaiveDate) -> Self {
        match (sale, produced_on) {
            (Some((sale_id, dealer_id, sold_on)), _) => WarrantyStart::RegisteredSale {
                sale_id,
                dealer_id,
                sold_on,
            },
            (None, Some(produced_on)) => WarrantyStart::ProductionGrace {
                produced_on,
                grace_months: PRODUCTION_GRACE_MONTHS,
                starts_on: produced_on
                    .checked_add_months(Months::new(PRODUCTION_GRACE_MONTHS.into()))
                    .unwrap_or(produced_on),
            },
            (None, None) => WarrantyStart::StatedPurchase { purchase_date: stated },
        }
    }

    /// The first day of the factory warranty.
    pub fn date(&self) -> NaiveDate {
        match self {
            WarrantyStart::RegisteredSale { sold_on, .. } => *sold_on,
            WarrantyStart::ProductionGrace { starts_on, .. } => *starts_on,
            WarrantyStart::StatedPurchase { purchase_date } => *purchase_date,
        }
    }
}

/// What is known about an asset for the purpose of warranty.
#[derive(Debug, Clone, Copy)]
pub struct WarrantyFacts<'a> {
    /// Where the factory warranty starts, and why.
    pub start: &'a WarrantyStart,
    pub policy: Option<&'a WarrantyPolicy>,
    pub contracts: &'a [ServiceContract],
    pub mileage_km: Option<u32>,
    pub operating_hours: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarrantyState {
    InWarranty,
    ExpiringSoon,
    Expired,
}

impl WarrantyState {
    pub fn as_str(self) -> &'static str {
        match self {
            WarrantyState::InWarranty => "in_warranty",
            WarrantyState::ExpiringSoon => "expiring_soon",
            WarrantyState::Expired => "expired",
        }
    }
}

/// The rule that decided the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum WarrantyRule {
    /// The factory warranty (its longer-running part) decided.
    Factory {
        parts_until: NaiveDate,
        labor_until: NaiveDate,
    },
    /// An extended service contract decided.
    Contract {
        contract_id: i64,
        name: String,
        until: NaiveDate,
    },
    /// The factory warranty is void past its mileage limit.
    MileageExceeded { limit_km: u32, actual_km: u32 },
    /// The factory warranty is void past its operating-hours limit.
    HoursExceeded { limit_hours: u32, actual_hours: u32 },
    /// The model has no factory warranty and no contract ever covered the asset.
    NoCoverage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WarrantyStatus {
    pub state: WarrantyState,
    #[serde(flatten)]
    pub rule: WarrantyRule,
    /// Parts are covered today.
    pub covers_parts: bool,
    /// Labour is covered today.
    pub covers_labor: bool,
    /// Last covered day of the deciding coverage, when there is one.
    pub until: Option<NaiveDate>,
    /// Days from today to `until` (negative once expired).
    pub days_left: Option<i64>,
    /// Where the factory warranty starts, and the fact that decided it.
    pub start: WarrantyStart,
}

/// One source of coverage, normalised.
struct Coverage {
    parts_until: Option<NaiveDate>,
    labor_until: Option<NaiveDate>,
    starts_on: NaiveDate,
    rule: WarrantyRule,
}

impl Coverage {
    fn until(&self) -> Option<NaiveDate> {
        self.parts_until.max(self.labor_until)
    }
}

fn last_day(start: NaiveDate, months: u16) -> Option<NaiveDate> {
    if months == 0 {
        return None;
    }
    start
        .checked_add_months(Months::new(months.into()))
        .and_then(|d| d.pred_opt())
}

/// Decide the warranty state of an asset on `today`.
///
/// `expiring_within_days`: a covered asset whose coverage ends within this many days is
/// `expiring_soon` rather than `in_warranty`.
pub fn determine(today: NaiveDate, facts: WarrantyFacts<'_>, expiring_within_days: u32) -> WarrantyStatus {
    let purchase_date = facts.start.date();
    let mut coverages: Vec<Coverage> = Vec::new();
    let mut void_rule = None;

    if let Some(p) = facts.policy {
        let over_km = p
            .max_mileage_km
            .zip(facts.mileage_km)
            .filter(|(limit, actual)| actual > limit);
        let over_h = p
            .max_hours
            .zip(facts.operating_hours)
            .filter(|(limit, actual)| actual > limit);
        if let Some((limit_km, actual_km)) = over_km {
            void_rule = Some(WarrantyRule::MileageExceeded { limit_km, actual_km });
        } else if let Some((limit_hours, actual_hours)) = over_h {
            void_rule = Some(WarrantyRule::HoursExceeded {
                limit_hours,
                actual_hours,
            });
        } else {
            let parts_until = last_day(purchase_date, p.parts_months);
            let labor_until = last_day(purchase_date, p.labor_months);
            if parts_until.is_some() || labor_until.is_some() {
                let fallback = purchase_date;
                coverages.push(Coverage {
                    parts_until,
                    labor_until,
                    starts_on: purchase_date,
                    rule: WarrantyRule::Factory {
                        parts_until: parts_until.unwrap_or(fallback),
                        labor_until: labor_until.unwrap_or(fallback),
                    },
                });
            }
        }
    }
    for c in facts.contracts {
        coverages.push(Coverage {
            parts_until: c.covers_parts.then_some(c.ends_on),
            labor_until: c.covers_labor.then_some(c.ends_on),
            starts_on: c.starts_on,
            rule: WarrantyRule::Contract {
                contract_id: c.id,
                name: c.name.clone(),
                until: c.ends_on,
            },
        });
    }

    let active = |d: Option<NaiveDate>, start: NaiveDate| d.is_some_and(|u| start <= today && today <= u);
    let covers_parts = coverages.iter().any(|c| active(c.parts_until, c.starts_on));
    let covers_labor = coverages.iter().any(|c| active(c.labor_until, c.starts_on));

    // The deciding coverage: among active ones the one running longest; if none is active, the one
    // that ended last.
    let deciding = coverages
        .iter()
        .filter(|c| active(c.until(), c.starts_on))
        .max_by_key(|c| c.until())
        .or_else(|| {
            coverages
                .iter()
                .filter(|c| c.until().is_some_and(|u| u < today))
                .max_by_key(|c| c.until())
        });

    match deciding {
        Some(c) if covers_parts || covers_labor => {
            let until = c.until().expect("active coverage has an end");
            let days_left = (until - today).num_days();
            let state = if days_left <= i64::from(expiring_within_days) {
                WarrantyState::ExpiringSoon
            } else {
                WarrantyState::InWarranty
            };
            WarrantyStatus {
                state,
                rule: c.rule.clone(),
                covers_parts,
                covers_labor,
                until: Some(until),
                days_left: Some(days_left),
                start: facts.start.clone(),
            }
        }
        other => {
            // Nothing covers today. A voided factory warranty explains more than an old contract.
            let (rule, until) = match (void_rule, other) {
                (Some(v), _) => (v, None),
                (None, Some(c)) => (c.rule.clone(), c.until()),
                (None, None) => (WarrantyRule::NoCoverage, None),
            };
            WarrantyStatus {
                state: WarrantyState::Expired,
                rule,
                covers_parts: false,
                covers_labor: false,
                until,
                days_left: until.map(|u| (u - today).num_days()),
                start: facts.start.clone(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn policy(parts: u16, labor: u16) -> WarrantyPolicy {
        WarrantyPolicy {
            parts_months: parts,
            labor_months: labor,
            max_mileage_km: None,
            max_hours: None,
        }
    }
    fn facts<'a>(purchase: &str, p: Option<&'a WarrantyPolicy>, contracts: &'a [ServiceContract]) -> WarrantyFacts<'a> {
        let start: &'static WarrantyStart = Box::leak(Box::new(WarrantyStart::StatedPurchase {
            purchase_date: d(purchase),
        }));
        WarrantyFacts {
            start,
            policy: p,
            contracts,
            mileage_km: None,
            operating_hours: None,
        }
    }

    #[test]
    fn factory_warranty_states_through_time() {
        let p = policy(24, 12);
        // purchase 2024-01-15, 24 months of parts → last day 2026-01-14.
        let cases = [
            ("2024-06-01", WarrantyState::InWarranty, true, true),
            ("2025-01-14", WarrantyState::InWarranty, true, true),
            ("2025-01-15", WarrantyState::InWarranty, true, false),
            ("2025-12-20", WarrantyState::ExpiringSoon, true, false),
            ("2026-01-14", WarrantyState::ExpiringSoon, true, false),
            ("2026-01-15", WarrantyState::Expired, false, false),
        ];
        for (today, state, parts, labor) in cases {
            let s = determine(d(today), facts("2024-01-15", Some(&p), &[]), 30);
            assert_eq!(s.state, state, "{today}");
            assert_eq!((s.covers_parts, s.covers_labor), (parts, labor), "{today}");
            assert_eq!(
                s.rule,
                WarrantyRule::Factory {
                    parts_until: d("2026-01-14"),
                    labor_until: d("2025-01-14")
                }
            );
            assert_eq!(s.until, Some(d("2026-01-14")));
        }
    }

    #[test]
    fn month_end_purchase_is_clamped() {
        let p = policy(1, 1);
        let s = determine(d("2024-02-29"), facts("2024-01-31", Some(&p), &[]), 0);
        assert_eq!(s.until, Some(d("2024-02-28")));
        assert_eq!(s.state, WarrantyState::Expired);
    }

    #[test]
    fn contract_extends_coverage_and_names_itself() {
        let p = policy(12, 12);
        let c = [ServiceContract {
            id: 7,
            name: "CarePlus 3y".into(),
            starts_on: d("2025-03-01"),
            ends_on: d("2027-02-28"),
            covers_parts: true,
            covers_labor: true,
        }];
        let s = determine(d("2026-06-01"), facts("2025-03-01", Some(&p), &c), 30);
        assert_eq!(s.state, WarrantyState::InWarranty);
        assert!(matches!(s.rule, WarrantyRule::Contract { contract_id: 7, .. }));
        assert_eq!(s.days_left, Some(272));
        // A contract that has not started yet does not cover.
        let s = determine(d("2025-02-01"), facts("2023-01-01", Some(&p), &c), 30);
        assert_eq!(s.state, WarrantyState::Expired);
        assert!(matches!(s.rule, WarrantyRule::Factory { .. }));
    }

    #[test]
    fn mileage_and_hours_void_the_factory_warranty() {
        let mut p = policy(36, 36);
        p.max_mileage_km = Some(100_000);
        let mut f = facts("2025-01-01", Some(&p), &[]);
        f.mileage_km = Some(100_001);
        let s = determine(d("2025-06-01"), f, 30);
        assert_eq!(s.state, WarrantyState::Expired);
        assert_eq!(
            s.rule,
            WarrantyRule::MileageExceeded {
                limit_km: 100_000,
                actual_km: 100_001
            }
        );
        f.mileage_km = Some(100_000);
        assert_eq!(determine(d("2025-06-01"), f, 30).state, WarrantyState::InWarranty);

        let mut p = policy(24, 24);
        p.max_hours = Some(2_000);
        let mut f = facts("2025-01-01", Some(&p), &[]);
        f.operating_hours = Some(2_500);
        let s = determine(d("2025-06-01"), f, 30);
        assert!(matches!(s.rule, WarrantyRule::HoursExceeded { .. }));
    }

    #[test]
    fn no_policy_no_contract() {
        let s = determine(d("2025-06-01"), facts("2025-01-01", None, &[]), 30);
        assert_eq!(s.state, WarrantyState::Expired);
        assert_eq!(s.rule, WarrantyRule::NoCoverage);
        assert_eq!(s.until, None);
    }

    #[test]
    fn the_start_is_the_sale_else_production_plus_grace_else_the_stated_date() {
        let stated = d("2025-01-10");
        let made = Some(d("2024-11-20"));
        let sale = WarrantyStart::decide(Some((7, 3, d("2025-02-01"))), made, stated);
        assert_eq!(sale.date(), d("2025-02-01"));
        assert!(matches!(
            sale,
            WarrantyStart::RegisteredSale {
                sale_id: 7,
                dealer_id: 3,
                ..
            }
        ));
        let grace = WarrantyStart::decide(None, made, stated);
        assert_eq!(grace.date(), d("2025-05-20"));
        assert!(matches!(grace, WarrantyStart::ProductionGrace { grace_months: 6, .. }));
        assert_eq!(WarrantyStart::decide(None, None, stated).date(), stated);
        // The start moves the end: a 24-month warranty from the sale, not from the receipt.
        let p = policy(24, 24);
        let f = WarrantyFacts {
            start: &sale,
            policy: Some(&p),
            contracts: &[],
            mileage_km: None,
            operating_hours: None,
        };
        let s = determine(d("2027-01-20"), f, 0);
        assert_eq!(s.until, Some(d("2027-01-31")));
        assert_eq!(s.state, WarrantyState::InWarranty);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["start"]["basis"], "registered_sale");
        assert_eq!(v["start"]["sold_on"], "2025-02-01");
    }

    #[test]
    fn serialises_flat() {
        let p = policy(24, 24);
        let s = determine(d("2024-06-01"), facts("2024-01-15", Some(&p), &[]), 30);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["state"], "in_warranty");
        assert_eq!(v["rule"], "factory");
        assert_eq!(v["until"], "2026-01-14");
    }
}
