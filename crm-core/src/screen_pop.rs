//! The customer 360 shown to an agent when a call is offered: from a phone number or a serial
//! number to the customer, their assets with warranty status, tickets, repair orders and recent
//! contacts.

use chrono::NaiveDate;

use crate::error::StoreResult;
use crate::model::*;
use crate::store::Store;
use crate::types::{PhoneNumber, SerialNumber};
use crate::warranty::{determine, WarrantyFacts};

/// How the caller is to be found.
#[derive(Debug, Clone)]
pub enum Lookup {
    Phone(PhoneNumber),
    Serial(SerialNumber),
}

#[derive(Debug, Clone, Copy)]
pub struct ScreenPopSettings {
    /// Coverage ending within this many days shows as `expiring_soon`.
    pub expiring_within_days: u32,
    /// How many closed tickets, repair orders and interactions to include.
    pub recent: u32,
}

impl Default for ScreenPopSettings {
    fn default() -> Self {
        ScreenPopSettings {
            expiring_within_days: 30,
            recent: 10,
        }
    }
}

/// Attach today's warranty status to an asset.
pub fn asset_view(a: AssetWithModel, today: NaiveDate, expiring_within_days: u32) -> AssetView {
    let start = a.asset.warranty_start();
    let warranty = determine(
        today,
        WarrantyFacts {
            start: &start,
            policy: a.policy.as_ref(),
            contracts: &a.asset.contracts,
            mileage_km: a.asset.mileage_km,
            operating_hours: a.asset.operating_hours,
        },
        expiring_within_days,
    );
    AssetView {
        asset: a.asset,
        model_code: a.model_code,
        model_name: a.model_name,
        category: a.category,
        product_line: a.product_line,
        warranty,
    }
}

/// Build the screen pop, or `None` when nobody matches.
pub async fn screen_pop(
    store: &(impl Store + ?Sized),
    lookup: &Lookup,
    today: NaiveDate,
    settings: ScreenPopSettings,
) -> StoreResult<Option<ScreenPop>> {
    let (customer_id, matched_by) = match lookup {
        Lookup::Phone(p) => match store.find_customer_by_phone(p).await? {
            Some(id) => (id, "phone"),
            None => return Ok(None),
        },
        Lookup::Serial(s) => match store.find_asset_by_serial(s).await? {
            Some(a) => (a.customer_id, "serial"),
            None => return Ok(None),
        },
    };
    // The five reads depend only on the customer id: issue them together (each takes its own
    // pooled connection), so the screen pop costs about two round trips of latency, not ten.
    let ticket_query = TicketQuery {
        customer_id: Some(customer_id),
        status: None,
        limit: 100,
    };
    let repair_query = RepairOrderQuery {
        customer_id: Some(customer_id),
        limit: settings.recent,
        ..Default::default()
    };
    let (customer, assets, tickets, repair_orders, recent_interactions) = futures_util::future::try_join5(
        store.get_customer(customer_id),
        store.customer_assets(customer_id),
        store.list_tickets(&ticket_query),
        store.list_repair_orders(&repair_query),
        store.list_interactions(customer_id, settings.recent),
    )
    .await?;
    let assets = assets
        .into_iter()
        .map(|a| asset_view(a, today, settings.expiring_within_days))
        .collect();
    let (open_tickets, mut recent_tickets): (Vec<_>, Vec<_>) = tickets.into_iter().partition(|t| t.status.is_open());
    recent_tickets.truncate(settings.recent as usize);
    Ok(Some(ScreenPop {
        customer,
        matched_by: matched_by.to_string(),
        assets,
        open_tickets,
        recent_tickets,
        repair_orders,
        recent_interactions,
    }))
}
