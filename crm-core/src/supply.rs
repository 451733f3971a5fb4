//! The parts supply chain: central warehouses with their own ledger, parts orders from stations
//! (requested → approved → shipped → received, with differences recorded), and the replenishment
//! a station should order. Pure: the store applies what these rules allow.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::types::{GeoPoint, ParseError, Text};

/// The most one order line may ask for.
pub const MAX_LINE_QUANTITY: u32 = 10_000;
/// Days a warehouse shipment takes to arrive, for the replenishment suggestion.
pub const LEAD_DAYS: u32 = 7;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Warehouse {
    pub id: i64,
    pub name: String,
    pub city: String,
    pub location: GeoPoint,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWarehouse {
    pub name: Text,
    pub city: Text,
    pub location: GeoPoint,
}

/// A part on hand in a warehouse.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WarehouseStock {
    pub warehouse_id: i64,
    pub part_id: i64,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
}

str_enum!(WarehouseReason { Receipt = "receipt", Shipment = "shipment", Scrap = "scrap", Stocktake = "stocktake" });

/// A movement in a warehouse's ledger, with what caused it (`supplier:…`, `parts_order:…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWarehouseMovement {
    pub part_id: i64,
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    pub delta: i64,
    pub reason: WarehouseReason,
    pub reference: Text,
}

impl NewWarehouseMovement {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.delta == 0 {
            return Err(FieldError::new("delta", "must not be 0"));
        }
        if self.delta.abs() > 1_000_000 {
            return Err(FieldError::new("delta", "at most 1000000 units either way"));
        }
        let ok = match self.reason {
            WarehouseReason::Receipt => self.delta > 0,
            WarehouseReason::Shipment | WarehouseReason::Scrap => self.delta < 0,
            WarehouseReason::Stocktake => true,
        };
        if !ok {
            return Err(FieldError::new(
                "delta",
                format!("sign does not fit reason {}", self.reason.as_str()),
            ));
        }
        Ok(())
    }
}

str_enum!(
    /// requested → approved → shipped → received; requested or approved → cancelled.
    PartsOrderStatus {
        Requested = "requested", Approved = "approved", Shipped = "shipped", Received = "received",
        Cancelled = "cancelled",
    }
);

impl PartsOrderStatus {
    pub fn can_become(self, to: PartsOrderStatus) -> bool {
        use PartsOrderStatus::*;
        matches!(
            (self, to),
            (Requested, Approved)
                | (Approved, Shipped)
                | (Shipped, Received)
                | (Requested, Cancelled)
                | (Approved, Cancelled)
        )
    }
    /// Still to arrive at the station (counts as in transit for replenishment).
    pub fn open(self) -> bool {
        matches!(
            self,
            PartsOrderStatus::Requested | PartsOrderStatus::Approved | PartsOrderStatus::Shipped
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    pub part_id: i64,
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: u32,
}

/// A station's order of parts from a warehouse. `request_key` makes a resubmission (a double
/// click, a retry) answer the first order; an order raised for a repair order's missing parts
/// is keyed by that repair order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPartsOrder {
    pub station_id: i64,
    pub warehouse_id: i64,
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<OrderLine>,
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9:_-]{1,64}$")]
    pub request_key: Option<String>,
    #[serde(default)]
    pub note: Option<Text>,
}

impl NewPartsOrder {
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_lines(&self.lines)?;
        if let Some(k) = &self.request_key {
            let ok = (1..=64).contains(&k.len()) && k.chars().all(|c| c.is_ascii_alphanumeric() || ":_-".contains(c));
            if !ok {
                return Err(FieldError::new(
                    "request_key",
                    "1 to 64 letters, digits, ':', '_' or '-'",
                ));
            }
        }
        Ok(())
    }
}

fn validate_lines(lines: &[OrderLine]) -> Result<(), FieldError> {
    if lines.is_empty() || lines.len() > 100 {
        return Err(FieldError::new("lines", "1 to 100 lines"));
    }
    for (i, l) in lines.iter().enumerate() {
        if l.quantity == 0 || l.quantity > MAX_LINE_QUANTITY {
            return Err(FieldError::new(format!("lines[{i}].quantity"), "must be 1 to 10000"));
        }
        if lines[..i].iter().any(|m| m.part_id == l.part_id) {
            return Err(FieldError::new(format!("lines[{i}].part_id"), "listed twice"));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PartsOrderLine {
    pub part_id: i64,
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    pub shipped: Option<u32>,
    pub received: Option<u32>,
    /// Why what arrived differs from what was shipped.
    pub difference_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PartsOrder {
    pub id: i64,
    pub station_id: i64,
    pub warehouse_id: i64,
    pub status: PartsOrderStatus,
    pub request_key: Option<String>,
    /// The repair order whose missing parts it was raised for.
    pub repair_order_id: Option<i64>,
    pub note: Option<String>,
    pub carrier: Option<String>,
    pub tracking: Option<String>,
    pub lines: Vec<PartsOrderLine>,
    pub requested_by: Option<i64>,
    pub requested_at: DateTime<Utc>,
    pub approved_by: Option<i64>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
}

/// The warehouse ships: what went in the parcel (default: everything ordered) and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Shipment {
    pub carrier: Text,
    pub tracking: Text,
    /// Per part, when less than ordered goes out.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub lines: Vec<OrderLine>,
}

/// What the station counted on arrival; a part not listed arrived as shipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    #[serde(default)]
    #[schema(max_items = 100)]
    pub lines: Vec<ReceivedLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivedLine {
    pub part_id: i64,
    #[schema(minimum = 0, maximum = 10000)]
    pub quantity: u32,
    #[serde(default)]
    pub note: Option<Text>,
}

/// How many of each line go out: the shipment's own count (never more than ordered), else all.
pub fn shipped_quantities(order: &[PartsOrderLine], s: &Shipment) -> Result<Vec<u32>, FieldError> {
    for (i, l) in s.lines.iter().enumerate() {
        match order.iter().find(|o| o.part_id == l.part_id) {
            None => return Err(FieldError::new(format!("lines[{i}].part_id"), "not on the order")),
            Some(o) if l.quantity > o.quantity => {
                return Err(FieldError::new(format!("lines[{i}].quantity"), "more than ordered"))
            }
            _ => {}
        }
    }
    Ok(order
        .iter()
        .map(|o| {
            s.lines
                .iter()
                .find(|l| l.part_id == o.part_id)
                .map_or(o.quantity, |l| l.quantity)
        })
        .collect())
}

/// What arrived per line, and the difference notes: a count that differs from what was shipped
/// needs a note.
pub fn received_quantities(order: &[PartsOrderLine], r: &Receipt) -> Result<Vec<(u32, Option<String>)>, FieldError> {
    for (i, l) in r.lines.iter().enumerate() {
        let Some(o) = order.iter().find(|o| o.part_id == l.part_id) else {
            return Err(FieldError::new(format!("lines[{i}].part_id"), "not on the order"));
        };
        if Some(l.quantity) != o.shipped && l.note.is_none() {
            return Err(FieldError::new(
                format!("lines[{i}].note"),
                "say why the count differs from what was shipped",
            ));
        }
    }
    Ok(order
        .iter()
        .map(|o| match r.lines.iter().find(|l| l.part_id == o.part_id) {
            Some(l) => (l.quantity, l.note.as_ref().map(|n| n.as_str().to_string())),
            None => (o.shipped.unwrap_or(0), None),
        })
        .collect())
}

// ------------------------------------------------------------------------------ replenishment

/// One part at one station, as replenishment sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartPosition {
    pub part_id: i64,
    pub sku: String,
    pub name: String,
    pub on_hand: i64,
    /// The station's own safety stock for the part, else the part's.
    pub safety_stock: u32,
    /// Needed by the station's open repair orders.
    pub needed: u32,
    /// On open parts orders, not yet received.
    pub in_transit: u32,
    /// Used in the last 30 days.
    pub used_30_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Suggestion {
    pub part_id: i64,
    pub sku: String,
    pub name: String,
    pub on_hand: i64,
    pub safety_stock: u32,
    pub needed: u32,
    pub in_transit: u32,
    pub used_30_days: u32,
    /// Order this many.
    pub order: u32,
}

/// What to order so that, once it arrives, the station covers its safety stock, its open
/// orders' needs and what it uses while the shipment is on its way: safety + needed + use over
/// the lead time − on hand − in transit, rounded up, never below 0. Parts needing none are left
/// out; the biggest gaps come first.
pub fn replenishment(positions: &[PartPosition]) -> Vec<Suggestion> {
    let mut out: Vec<Suggestion> = positions
        .iter()
        .filter_map(|p| {
            let lead_use = (u64::from(p.used_30_days) * u64::from(LEAD_DAYS)).div_ceil(30) as i64;
            let want = i64::from(p.safety_stock) + i64::from(p.needed) + lead_use;
            let have = p.on_hand.max(0) + i64::from(p.in_transit);
            let order = u32::try_from((want - have).max(0)).unwrap_or(u32::MAX);
            (order > 0).then(|| Suggestion {
                part_id: p.part_id,
                sku: p.sku.clone(),
                name: p.name.clone(),
                on_hand: p.on_hand,
                safety_stock: p.safety_stock,
                needed: p.needed,
                in_transit: p.in_transit,
                used_30_days: p.used_30_days,
                order,
            })
        })
        .collect();
    out.sort_by(|a, b| b.order.cmp(&a.order).then(a.sku.cmp(&b.sku)));
    out
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SafetyStock {
    pub part_id: i64,
    /// This station's level; none: the part's own.
    #[schema(minimum = 0, maximum = 100000)]
    pub level: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(part_id: i64, quantity: u32, shipped: Option<u32>) -> PartsOrderLine {
        PartsOrderLine {
            part_id,
            sku: format!("P{part_id}"),
            name: String::new(),
            quantity,
            shipped,
            received: None,
            difference_note: None,
        }
    }

    #[test]
    fn an_order_moves_forward_only() {
        use PartsOrderStatus::*;
        assert!(Requested.can_become(Approved) && Approved.can_become(Shipped) && Shipped.can_become(Received));
        assert!(Requested.can_become(Cancelled) && Approved.can_become(Cancelled));
        for (a, b) in [
            (Requested, Shipped),
            (Shipped, Cancelled),
            (Received, Requested),
            (Cancelled, Approved),
            (Approved, Requested),
        ] {
            assert!(!a.can_become(b), "{a:?} → {b:?}");
        }
        assert!(Shipped.open() && !Received.open() && !Cancelled.open());
    }

    #[test]
    fn shipments_and_receipts_count_per_line_and_differences_need_a_note() {
        let order = [line(1, 5, None), line(2, 2, None)];
        let t = |s: &str| Text::parse(s).unwrap();
        let all = Shipment {
            carrier: t("DHL"),
            tracking: t("1"),
            lines: vec![],
        };
        assert_eq!(shipped_quantities(&order, &all).unwrap(), vec![5, 2]);
        let short = Shipment {
            lines: vec![OrderLine {
                part_id: 1,
                quantity: 3,
            }],
            ..all.clone()
        };
        assert_eq!(shipped_quantities(&order, &short).unwrap(), vec![3, 2]);
        let over = Shipment {
            lines: vec![OrderLine {
                part_id: 2,
                quantity: 3,
            }],
            ..all.clone()
        };
        assert_eq!(
            shipped_quantities(&order, &over).unwrap_err().field,
            "lines[0].quantity"
        );
        let stray = Shipment {
            lines: vec![OrderLine {
                part_id: 9,
                quantity: 1,
            }],
            ..all
        };
        assert_eq!(
            shipped_quantities(&order, &stray).unwrap_err().field,
            "lines[0].part_id"
        );

        let shipped = [line(1, 5, Some(3)), line(2, 2, Some(2))];
        let as_shipped = Receipt { lines: vec![] };
        assert_eq!(
            received_quantities(&shipped, &as_shipped).unwrap(),
            vec![(3, None), (2, None)]
        );
        let broken = Receipt {
            lines: vec![ReceivedLine {
                part_id: 2,
                quantity: 1,
                note: None,
            }],
        };
        assert_eq!(
            received_quantities(&shipped, &broken).unwrap_err().field,
            "lines[0].note"
        );
        let noted = Receipt {
            lines: vec![ReceivedLine {
                part_id: 2,
                quantity: 1,
                note: Some(t("one crushed")),
            }],
        };
        assert_eq!(
            received_quantities(&shipped, &noted).unwrap()[1],
            (1, Some("one crushed".into()))
        );
    }

    #[test]
    fn replenishment_covers_safety_stock_needs_and_use_over_the_lead_time() {
        let p = |part_id, on_hand, safety_stock, needed, in_transit, used_30_days| PartPosition {
            part_id,
            sku: format!("P{part_id}"),
            name: String::new(),
            on_hand,
            safety_stock,
            needed,
            in_transit,
            used_30_days,
        };
        let s = replenishment(&[
            // 3 safe + 2 needed + 30 a month over 7 days (7) − 4 on hand − 1 in transit = 7.
            p(1, 4, 3, 2, 1, 30),
            // Covered: nothing to order.
            p(2, 10, 3, 0, 0, 0),
            // A negative count (a booking error) counts as none on hand.
            p(3, -2, 1, 0, 0, 1),
        ]);
        let got: Vec<(i64, u32)> = s.iter().map(|x| (x.part_id, x.order)).collect();
        assert_eq!(got, vec![(1, 7), (3, 2)]);
    }

    #[test]
    fn order_requests_are_checked() {
        let mut n = NewPartsOrder {
            station_id: 1,
            warehouse_id: 1,
            lines: vec![OrderLine {
                part_id: 1,
                quantity: 2,
            }],
            request_key: Some("ro:17".into()),
            note: None,
        };
        assert!(n.validate().is_ok());
        n.lines.push(OrderLine {
            part_id: 1,
            quantity: 1,
        });
        assert_eq!(n.validate().unwrap_err().field, "lines[1].part_id");
        n.lines.truncate(1);
        n.request_key = Some("bad key".into());
        assert_eq!(n.validate().unwrap_err().field, "request_key");
        n.request_key = None;
        n.lines.clear();
        assert_eq!(n.validate().unwrap_err().field, "lines");
    }
}
