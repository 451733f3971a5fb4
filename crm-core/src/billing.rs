//! Paid repairs: the quote the customer accepts before work starts, the invoice on completion,
//! and the payments against it. Pure: pricing (labour at standard time, parts at price, travel
//! by distance), tax per line, the invoice number, and what a payment does to the balance.
//!
//! Money adds up line by line: each line's net and tax are rounded on the line, and a total is
//! the sum of its lines, never a rate applied to a sum.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::claims::LineKind;
use crate::error::FieldError;
use crate::model::NeededPart;
use crate::types::{ParseError, Text};

str_enum!(
    /// A quote is offered, then accepted; a newer version supersedes it (and needs its own
    /// acceptance).
    QuoteStatus { Offered = "offered", Accepted = "accepted", Superseded = "superseded" }
);
str_enum!(
    /// How the customer accepted: signing on the technician's device, or on the phone to an
    /// agent (who notes the call).
    AcceptanceMethod { Signature = "signature", Phone = "phone" }
);
str_enum!(PaymentMethod { Cash = "cash", Card = "card", Transfer = "transfer" });
str_enum!(InvoiceStatus { Open = "open", PartlyPaid = "partly_paid", Paid = "paid" });
str_enum!(RevenueBy { Station = "station", Model = "model" });

/// The manufacturer's prices and terms for customer-paid work.
#[derive(Debug, Clone, PartialEq)]
pub struct BillingRules {
    /// Per labour hour.
    pub labour_rate_minor: i64,
    /// Per km driven (there and back: twice the distance).
    pub travel_per_km_minor: i64,
    /// Tax in basis points (1900 = 19 %), on every line.
    pub tax_rate_bp: u32,
    pub currency: String,
    /// Days from the invoice to its due date.
    pub payment_days: u32,
}

impl Default for BillingRules {
    fn default() -> Self {
        BillingRules {
            labour_rate_minor: 7_900,
            travel_per_km_minor: 60,
            tax_rate_bp: 1_900,
            currency: "EUR".into(),
            payment_days: 14,
        }
    }
}

/// What a quote should contain; absent figures come from the records (the standard time for
/// the model and fault, the distance from the station to the customer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    #[serde(default)]
    #[schema(max_items = 50)]
    pub parts: Vec<NeededPart>,
    /// Labour minutes; default the standard time for the model and the order's fault code.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 6000)]
    pub labour_minutes: Option<u32>,
    /// One-way distance in km; default the straight line from the station to the customer.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000)]
    pub travel_km: Option<f64>,
}

impl QuoteRequest {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.parts.len() > 50 {
            return Err(FieldError::new("parts", "at most 50 lines"));
        }
        if let Some(p) = self.parts.iter().find(|p| !(1..=100).contains(&p.quantity)) {
            return Err(FieldError::new(
                "parts.quantity",
                format!("part {}: 1 to 100", p.part_id),
            ));
        }
        if self.labour_minutes.is_some_and(|m| !(1..=6000).contains(&m)) {
            return Err(FieldError::new("labour_minutes", "1 to 6000"));
        }
        if self
            .travel_km
            .is_some_and(|k| !(0.0..=1000.0).contains(&k) || k.is_nan())
        {
            return Err(FieldError::new("travel_km", "0 to 1000"));
        }
        Ok(())
    }
}

/// A part to price, as the catalogue has it.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedPart {
    pub part_id: i64,
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    pub unit_minor: i64,
}

/// Everything pricing needs, gathered by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteInput {
    pub labour_minutes: u32,
    /// Where the minutes came from (`standard time for WM-7000 E21`, `estimated`).
    pub labour_basis: String,
    pub parts: Vec<PricedPart>,
    pub travel_km: Option<f64>,
    /// The warranty covers these today: their lines are shown and charged at zero.
    pub covers_parts: bool,
    pub covers_labor: bool,
}

/// One priced line of a quote or invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PriceLine {
    pub line_no: u32,
    pub kind: LineKind,
    pub part_id: Option<i64>,
    pub description: String,
    /// In thousandths (hours for labour, km for travel, pieces for parts).
    pub quantity_milli: i64,
    pub unit_minor: i64,
    /// Covered by the warranty: charged at zero.
    pub covered: bool,
    pub net_minor: i64,
    pub tax_rate_bp: u32,
    pub tax_minor: i64,
    pub gross_minor: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Totals {
    pub net_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
}

/// `a × b / d`, rounded half up (all operands non-negative).
fn mul_div_round(a: i64, b: i64, d: i64) -> i64 {
    let p = i128::from(a) * i128::from(b);
    ((p + i128::from(d) / 2) / i128::from(d)) as i64
}

/// A priced line: net = quantity × unit (0 when covered), tax on the line's net.
#[allow(clippy::too_many_arguments)]
pub fn line(
    line_no: u32,
    kind: LineKind,
    part_id: Option<i64>,
    description: String,
    quantity_milli: i64,
    unit_minor: i64,
    covered: bool,
    tax_rate_bp: u32,
) -> PriceLine {
    let net_minor = if covered {
        0
    } else {
        mul_div_round(quantity_milli, unit_minor, 1000)
    };
    taxed(PriceLine {
        line_no,
        kind,
        part_id,
        description,
        quantity_milli,
        unit_minor,
        covered,
        net_minor,
        tax_rate_bp,
        tax_minor: 0,
        gross_minor: 0,
    })
}

/// The line's tax on its net, rounded on the line, and its gross.
fn taxed(mut l: PriceLine) -> PriceLine {
    l.tax_minor = mul_div_round(l.net_minor, i64::from(l.tax_rate_bp), 10_000);
    l.gross_minor = l.net_minor + l.tax_minor;
    l
}

/// The quote's lines: labour, each part, travel there and back.
pub fn price(input: &QuoteInput, rules: &BillingRules) -> Vec<PriceLine> {
    let mut out = vec![];
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    let tax = rules.tax_rate_bp;
    let mut labour = line(
        next(),
        LineKind::Labour,
        None,
        format!("labour {} min ({})", input.labour_minutes, input.labour_basis),
        i64::from(input.labour_minutes) * 1000 / 60,
        rules.labour_rate_minor,
        input.covers_labor,
        tax,
    );
    // Hours in thousandths lose up to a thousandth: labour is priced from its minutes.
    if !labour.covered {
        labour.net_minor = mul_div_round(i64::from(input.labour_minutes), rules.labour_rate_minor, 60);
        labour = taxed(labour);
    }
    out.push(labour);
    for p in &input.parts {
        out.push(line(
            next(),
            LineKind::Part,
            Some(p.part_id),
            format!("{} {}", p.sku, p.name),
            i64::from(p.quantity) * 1000,
            p.unit_minor,
            input.covers_parts,
            tax,
        ));
    }
    if let Some(km) = input.travel_km.filter(|k| *k > 0.0) {
        let there_and_back = (km * 2.0 * 1000.0).round() as i64;
        out.push(line(
            next(),
            LineKind::Travel,
            None,
            format!("travel 2 × {km:.1} km"),
            there_and_back,
            rules.travel_per_km_minor,
            input.covers_labor,
            tax,
        ));
    }
    out
}

pub fn totals(lines: &[PriceLine]) -> Totals {
    lines.iter().fold(Totals::default(), |t, l| Totals {
        net_minor: t.net_minor + l.net_minor,
        tax_minor: t.tax_minor + l.tax_minor,
        total_minor: t.total_minor + l.gross_minor,
    })
}

/// The same lines (a repeated request), as opposed to a changed quote.
pub fn same_lines(a: &[PriceLine], b: &[PriceLine]) -> bool {
    a == b
}

/// How many of a part the quote allows.
pub fn quoted_quantity(lines: &[PriceLine], part_id: i64) -> i64 {
    lines
        .iter()
        .filter(|l| l.kind == LineKind::Part && l.part_id == Some(part_id))
        .map(|l| l.quantity_milli / 1000)
        .sum()
}

/// The customer's acceptance of a quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Acceptance {
    pub method: AcceptanceMethod,
    /// Who accepted (the customer's name as signed or as given on the phone).
    pub by: String,
    /// The agent's note of the call (phone), or none.
    pub note: Option<String>,
    /// The signature file (signature), under the files directory.
    pub signature_path: Option<String>,
    /// The login that recorded it (the technician or the agent).
    pub recorded_by: Option<i64>,
    pub at: DateTime<Utc>,
}

/// An acceptance to record.
#[derive(Debug, Clone, PartialEq)]
pub enum NewAcceptance {
    Signature { signed_by: Text, signature_path: String },
    Phone { customer_name: Text, note: Text },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Quote {
    pub id: i64,
    pub repair_order_id: i64,
    pub version: u32,
    pub status: QuoteStatus,
    pub currency: String,
    pub lines: Vec<PriceLine>,
    #[serde(flatten)]
    pub totals: Totals,
    pub created_at: DateTime<Utc>,
    pub acceptance: Option<Acceptance>,
}

/// Invoice numbers run without gaps per station and year: `S003-2026-00017`.
pub fn invoice_number(station_id: i64, year: i32, seq: i64) -> String {
    format!("S{station_id:03}-{year}-{seq:05}")
}

pub fn due_on(issued_on: NaiveDate, rules: &BillingRules) -> NaiveDate {
    issued_on + Duration::days(i64::from(rules.payment_days))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    pub id: i64,
    pub method: PaymentMethod,
    pub amount_minor: i64,
    pub paid_on: NaiveDate,
    pub reference: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    pub method: PaymentMethod,
    #[schema(minimum = 1, maximum = 10_000_000_000_i64)]
    pub amount_minor: i64,
    pub paid_on: NaiveDate,
    /// The card slip or bank reference.
    #[serde(default)]
    pub reference: Option<Text>,
    /// Makes the request idempotent: the same key records one payment.
    #[schema(pattern = "^[\\x21-\\x7e]{1,100}$")]
    pub request_key: String,
}

impl NewPayment {
    pub fn validate(&self, today: NaiveDate, issued_on: NaiveDate) -> Result<(), FieldError> {
        if !(1..=10_000_000_000).contains(&self.amount_minor) {
            return Err(FieldError::new("amount_minor", "1 to 10^10 minor units"));
        }
        if self.paid_on > today {
            return Err(FieldError::new("paid_on", "must not be in the future"));
        }
        if self.paid_on < issued_on {
            return Err(FieldError::new(
                "paid_on",
                format!("before the invoice date {issued_on}"),
            ));
        }
        if self.request_key.is_empty()
            || self.request_key.len() > 100
            || !self.request_key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(FieldError::new("request_key", "1 to 100 visible ASCII characters"));
        }
        Ok(())
    }
}

/// What a payment of `amount` does to an invoice of `total` with `paid` so far: the new paid
/// sum and status, or why it is refused (more than the balance).
pub fn apply_payment(total: i64, paid: i64, amount: i64) -> Result<(i64, InvoiceStatus), FieldError> {
    let balance = total - paid;
    if balance <= 0 {
        return Err(FieldError::new("amount_minor", "the invoice is paid"));
    }
    if amount > balance {
        return Err(FieldError::new(
            "amount_minor",
            format!("{amount} is more than the balance of {balance}"),
        ));
    }
    let paid = paid + amount;
    Ok((
        paid,
        if paid == total {
            InvoiceStatus::Paid
        } else {
            InvoiceStatus::PartlyPaid
        },
    ))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Invoice {
    pub id: i64,
    pub number: String,
    pub repair_order_id: i64,
    pub quote_id: i64,
    pub station_id: i64,
    pub customer_id: i64,
    pub model_id: i64,
    pub issued_on: NaiveDate,
    pub due_on: NaiveDate,
    pub currency: String,
    pub lines: Vec<PriceLine>,
    #[serde(flatten)]
    pub totals: Totals,
    pub paid_minor: i64,
    pub balance_minor: i64,
    pub status: InvoiceStatus,
    pub payments: Vec<Payment>,
}

impl Invoice {
    pub fn overdue(&self, today: NaiveDate) -> bool {
        self.status != InvoiceStatus::Paid && self.due_on < today
    }
}

/// Revenue from customer-paid work over a period (invoices issued in it), by station or model.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RevenueRow {
    pub key: String,
    pub id: i64,
    pub invoices: u64,
    pub net_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub paid_minor: i64,
    pub outstanding_minor: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(covers_parts: bool, covers_labor: bool) -> QuoteInput {
        QuoteInput {
            labour_minutes: 50,
            labour_basis: "standard time".into(),
            parts: vec![PricedPart {
                part_id: 4,
                sku: "P-4".into(),
                name: "pump".into(),
                quantity: 3,
                unit_minor: 1_999,
            }],
            travel_km: Some(12.34),
            covers_parts,
            covers_labor,
        }
    }

    #[test]
    fn lines_round_on_the_line_and_totals_are_their_sums() {
        let rules = BillingRules::default();
        let lines = price(&input(false, false), &rules);
        assert_eq!(lines.len(), 3);
        // 50 min at 79.00/h = 65.833… → 65.83; tax 19 % = 12.5077 → 12.51.
        assert_eq!((lines[0].net_minor, lines[0].tax_minor), (6_583, 1_251));
        // 3 × 19.99 = 59.97; tax 11.3943 → 11.39.
        assert_eq!((lines[1].net_minor, lines[1].tax_minor), (5_997, 1_139));
        // 24.68 km × 0.60 = 14.808 → 14.81; tax 2.8139 → 2.81.
        assert_eq!(
            (lines[2].quantity_milli, lines[2].net_minor, lines[2].tax_minor),
            (24_680, 1_481, 281)
        );
        let t = totals(&lines);
        assert_eq!(t.net_minor, 6_583 + 5_997 + 1_481);
        assert_eq!(t.tax_minor, 1_251 + 1_139 + 281);
        assert_eq!(t.total_minor, t.net_minor + t.tax_minor);
        assert_eq!(t.total_minor, lines.iter().map(|l| l.gross_minor).sum::<i64>());
    }

    #[test]
    fn covered_lines_show_at_zero() {
        let rules = BillingRules::default();
        let lines = price(&input(true, false), &rules);
        assert!(lines[1].covered);
        assert_eq!(lines[1].gross_minor, 0);
        assert!(!lines[0].covered && lines[0].net_minor > 0);
        let all = price(&input(true, true), &rules);
        assert_eq!(totals(&all).total_minor, 0);
        assert_eq!(quoted_quantity(&all, 4), 3);
        assert_eq!(quoted_quantity(&all, 5), 0);
    }

    #[test]
    fn payments_take_the_balance_down_and_never_past_zero() {
        assert_eq!(
            apply_payment(10_000, 0, 4_000).unwrap(),
            (4_000, InvoiceStatus::PartlyPaid)
        );
        assert_eq!(
            apply_payment(10_000, 4_000, 6_000).unwrap(),
            (10_000, InvoiceStatus::Paid)
        );
        assert_eq!(apply_payment(10_000, 4_000, 6_001).unwrap_err().field, "amount_minor");
        assert!(apply_payment(10_000, 10_000, 1).is_err());
    }

    #[test]
    fn numbers_sort_within_station_and_year() {
        assert_eq!(invoice_number(3, 2026, 17), "S003-2026-00017");
        assert!(invoice_number(3, 2026, 9) < invoice_number(3, 2026, 10));
    }
}
