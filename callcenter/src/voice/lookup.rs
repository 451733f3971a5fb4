//! The CRM look-ups an IVR flow asks for, turned into flow variables.

use std::collections::HashMap;

use chrono::NaiveDate;
use crm_core::model::{AssetView, CustomerKind, ScreenPop};
use crm_core::screen_pop::{screen_pop, Lookup, ScreenPopSettings};
use crm_core::types::{PhoneNumber, SerialNumber};
use crm_core::Store;

use crate::ivr::engine::Value;
use crate::ivr::script::LookupKind;

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

fn asset_vars(a: &AssetView, vars: &mut HashMap<String, Value>) {
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
                asset_vars(a, &mut vars);
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
                asset_vars(a, &mut vars);
            }
            Ok(Some(Found {
                vars,
                customer_id: pop.customer.id,
            }))
        }
    }
}
