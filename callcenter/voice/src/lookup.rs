//! The CRM look-ups an IVR flow asks for, turned into flow variables.

use std::collections::HashMap;

use chrono::NaiveDate;
use crm_core::model::{AssetView, CustomerKind, ScreenPop};
use crm_core::screen_pop::{screen_pop, Lookup, ScreenPopSettings};
use crm_core::types::{PhoneNumber, SerialNumber};
use crm_core::warranty::WarrantyRule;
use crm_core::Store;

use telephony::ivr::engine::Value;
use telephony::ivr::script::LookupKind;
use telephony::media::prompts::say_date;

/// What was found: the variables for the flow and the customer (for the call record).
pub struct Found {
    pub vars: HashMap<String, Value>,
    pub customer_id: i64,
}

fn customer_vars(pop: &ScreenPop, vars: &mut HashMap<String, Value>) {
    let c = &pop.customer;
    vars.insert("customer.id".into(), Value::Number(c.id));
    vars.insert("customer.name".into(), Value::Text(c.name.to_string()));
    if c.kind == CustomerKind::Person {
        if let Some(first) = c.name.to_string().split_whitespace().next() {
            vars.insert("customer.first_name".into(), Value::Name(first.to_string()));
        }
    }
}

fn asset_vars(a: &AssetView, today: NaiveDate, vars: &mut HashMap<String, Value>) {
    vars.insert(
        "asset.serial".into(),
        Value::Digits(a.asset.serial.as_str().to_string()),
    );
    vars.insert("asset.model".into(), Value::Text(a.model_name.clone()));
    vars.insert("asset.category".into(), Value::Text(a.category.as_str().to_string()));
    vars.insert(
        "asset.product_line".into(),
        Value::Text(a.product_line.as_str().to_string()),
    );
    vars.insert(
        "asset.warranty".into(),
        Value::Text(a.warranty.state.as_str().to_string()),
    );
    if let Some(until) = a.warranty.until {
        vars.insert("asset.warranty_until".into(), Value::Date(until));
    }
    warranty_vars(&a.warranty.rule, today, vars);
}

/// Why the warranty is what it is, for the readback:
/// - `asset.warranty_rule`: `factory`, `contract`, `mileage_exceeded`, `hours_exceeded` or
///   `no_coverage`;
/// - `asset.warranty_limit` and `asset.warranty_actual`: the mileage (km) or operating hours
///   limit and reading, when one of those ended the warranty;
/// - `asset.cover_detail`: only when parts and labour cover end on different days, a phrase that
///   says both ("parts are covered until …, labour cover ended on …").
pub fn warranty_vars(rule: &WarrantyRule, today: NaiveDate, vars: &mut HashMap<String, Value>) {
    let name = match rule {
        WarrantyRule::Factory { .. } => "factory",
        WarrantyRule::Contract { .. } => "contract",
        WarrantyRule::MileageExceeded { .. } => "mileage_exceeded",
        WarrantyRule::HoursExceeded { .. } => "hours_exceeded",
        WarrantyRule::NoCoverage => "no_coverage",
    };
    vars.insert("asset.warranty_rule".into(), Value::Text(name.into()));
    match *rule {
        WarrantyRule::MileageExceeded { limit_km, actual_km } => {
            vars.insert("asset.warranty_limit".into(), Value::Number(limit_km.into()));
            vars.insert("asset.warranty_actual".into(), Value::Number(actual_km.into()));
        }
        WarrantyRule::HoursExceeded {
            limit_hours,
            actual_hours,
        } => {
            vars.insert("asset.warranty_limit".into(), Value::Number(limit_hours.into()));
            vars.insert("asset.warranty_actual".into(), Value::Number(actual_hours.into()));
        }
        WarrantyRule::Factory {
            parts_until,
            labor_until,
        } if parts_until != labor_until => {
            vars.insert(
                "asset.cover_detail".into(),
                Value::Phrase(cover_detail(parts_until, labor_until, today)),
            );
        }
        _ => {}
    }
}

/// "Parts are covered until 3 May 2027, and labour until 3 May 2026" in the tense each needs.
pub fn cover_detail(parts_until: NaiveDate, labour_until: NaiveDate, today: NaiveDate) -> Vec<String> {
    let mut out = vec![];
    for (running, ended, until) in [
        ("parts_covered_until", "parts_cover_ended", parts_until),
        ("labour_covered_until", "labour_cover_ended", labour_until),
    ] {
        out.push(if until >= today { running } else { ended }.to_string());
        out.extend(say_date(until));
    }
    out
}

/// Caller ID → customer (and their first asset); typed serial digits → asset and owner.
pub async fn lookup(
    store: &dyn Store,
    what: LookupKind,
    key: &str,
    today: NaiveDate,
    settings: ScreenPopSettings,
) -> anyhow::Result<Option<Found>> {
    let mut vars = HashMap::new();
    match what {
        LookupKind::Caller => {
            let Ok(phone) = PhoneNumber::parse(key) else {
                return Ok(None);
            };
            let Some(pop) = screen_pop(store, &Lookup::Phone(phone), today, settings).await? else {
                return Ok(None);
            };
            customer_vars(&pop, &mut vars);
            if let Some(a) = pop.assets.first() {
                asset_vars(a, today, &mut vars);
            }
            Ok(Some(Found {
                vars,
                customer_id: pop.customer.id,
            }))
        }
        LookupKind::Serial => {
            let Some(asset) = store.find_asset_by_serial_digits(key).await? else {
                return Ok(None);
            };
            let serial = SerialNumber::parse(asset.serial.as_str())?;
            let Some(pop) = screen_pop(store, &Lookup::Serial(serial), today, settings).await? else {
                return Ok(None);
            };
            customer_vars(&pop, &mut vars);
            if let Some(a) = pop.assets.iter().find(|a| a.asset.id == asset.id) {
                asset_vars(a, today, &mut vars);
            }
            Ok(Some(Found {
                vars,
                customer_id: pop.customer.id,
            }))
        }
    }
}
