//! Dealers and the sale: who sells the manufacturer's products, and the registered sale that
//! starts an asset's factory warranty. Pure: what a dealer record and a sale registration must
//! hold, and whether a dealer may sell on a day.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::model::Contact;
use crate::types::{ParseError, Text};

str_enum!(
    /// Where a dealer is in its relationship with the manufacturer. Only an active dealer
    /// registers sales.
    DealerStatus { Active = "active", Suspended = "suspended", Terminated = "terminated" }
);

/// A dealer's postal address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealerAddress {
    pub line1: Text,
    /// 1 to 12 characters.
    #[schema(
        pattern = "^(?=[^\\x00]{1,12}$)[^\\x00]*[^\\x00\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00]*$"
    )]
    pub postal_code: String,
    pub city: Text,
    /// ISO 3166-1 alpha-2.
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: String,
}

/// The dealer agreement: its number and the days it is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealerAgreement {
    pub number: Text,
    pub from: NaiveDate,
    /// Open-ended when absent; the last day in force.
    #[serde(default)]
    pub to: Option<NaiveDate>,
}

impl DealerAgreement {
    pub fn in_force(&self, day: NaiveDate) -> bool {
        self.from <= day && self.to.is_none_or(|t| day <= t)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDealer {
    /// The manufacturer's dealer code, unique (`D-HH-014`).
    #[schema(pattern = "^[A-Za-z0-9-]{1,20}$")]
    pub code: String,
    pub name: Text,
    pub address: DealerAddress,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub contacts: Vec<Contact>,
    /// The sales territory (a region name, as stations have).
    pub territory: Text,
    pub agreement: DealerAgreement,
    #[serde(default = "active")]
    pub status: DealerStatus,
}

fn active() -> DealerStatus {
    DealerStatus::Active
}

fn check_address(a: &DealerAddress) -> Result<(), FieldError> {
    if a.country.len() != 2 || !a.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(FieldError::new(
            "address.country",
            "an ISO 3166-1 alpha-2 code such as DE",
        ));
    }
    let code = a.postal_code.trim();
    if code.is_empty() || a.postal_code.chars().count() > 12 {
        return Err(FieldError::new("address.postal_code", "1 to 12 characters"));
    }
    Ok(())
}

fn check_agreement(a: &DealerAgreement) -> Result<(), FieldError> {
    if a.to.is_some_and(|t| t < a.from) {
        return Err(FieldError::new("agreement.to", "ends before it starts"));
    }
    Ok(())
}

impl NewDealer {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.code.is_empty()
            || self.code.len() > 20
            || !self.code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(FieldError::new("code", "1 to 20 letters, digits or dashes"));
        }
        if self.contacts.len() > 20 {
            return Err(FieldError::new("contacts", "at most 20"));
        }
        check_address(&self.address)?;
        check_agreement(&self.agreement)
    }
}

/// A change to a dealer; absent fields stay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealerPatch {
    pub name: Option<Text>,
    pub address: Option<DealerAddress>,
    #[schema(max_items = 20)]
    pub contacts: Option<Vec<Contact>>,
    pub territory: Option<Text>,
    pub agreement: Option<DealerAgreement>,
    pub status: Option<DealerStatus>,
}

impl DealerPatch {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.contacts.as_ref().is_some_and(|c| c.len() > 20) {
            return Err(FieldError::new("contacts", "at most 20"));
        }
        if let Some(a) = &self.address {
            check_address(a)?;
        }
        if let Some(a) = &self.agreement {
            check_agreement(a)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dealer {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub address: DealerAddress,
    pub contacts: Vec<Contact>,
    pub territory: String,
    pub agreement: DealerAgreement,
    pub status: DealerStatus,
}

impl Dealer {
    /// Why this dealer may not register a sale made on `day`, if it may not.
    pub fn may_sell_on(&self, day: NaiveDate) -> Result<(), FieldError> {
        if self.status != DealerStatus::Active {
            return Err(FieldError::new(
                "dealer_id",
                format!(
                    "dealer {} is {}; only an active dealer registers sales",
                    self.code,
                    self.status.as_str()
                ),
            ));
        }
        if !self.agreement.in_force(day) {
            return Err(FieldError::new(
                "sold_on",
                format!(
                    "dealer {}'s agreement {} is not in force on {day}",
                    self.code,
                    self.agreement.number.as_str()
                ),
            ));
        }
        Ok(())
    }
}

/// The pre-delivery inspection the dealer did before handing the product over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryInspection {
    pub inspected_on: NaiveDate,
    /// Who inspected.
    pub inspector: Text,
    /// Every point of the checklist passed; a product that failed is not handed over.
    pub passed: bool,
    /// The odometer at handover (vehicles).
    #[serde(default)]
    pub odometer_km: Option<u32>,
    #[serde(default)]
    pub notes: Option<Text>,
}

/// A sale to register: the product by VIN or serial, who sold it to whom and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSale {
    /// The VIN or the serial number, as on the plate.
    #[schema(min_length = 1, max_length = 40)]
    pub vin_or_serial: String,
    pub dealer_id: i64,
    /// The buyer, when the CRM knows them; else `customer`.
    #[serde(default)]
    pub customer_id: Option<i64>,
    /// The buyer's details, for a buyer the CRM does not know yet (found again by phone or
    /// e-mail when it does). Exactly one of `customer_id` and `customer`.
    #[serde(default)]
    pub customer: Option<crate::model::NewCustomer>,
    pub sold_on: NaiveDate,
    pub delivery: DeliveryInspection,
}

impl NewSale {
    /// The sale on its own and against the product's production date.
    pub fn validate(&self, today: NaiveDate, produced_on: Option<NaiveDate>) -> Result<(), FieldError> {
        let id = self.vin_or_serial.trim();
        if id.is_empty() || id.len() > 40 {
            return Err(FieldError::new("vin_or_serial", "1 to 40 characters"));
        }
        if self.customer_id.is_some() == self.customer.is_some() {
            return Err(FieldError::new(
                "customer_id",
                "give the buyer: customer_id or customer, not both",
            ));
        }
        if self.sold_on > today {
            return Err(FieldError::new("sold_on", "must not be in the future"));
        }
        if let Some(p) = produced_on.filter(|p| self.sold_on < *p) {
            return Err(FieldError::new("sold_on", format!("before the production date {p}")));
        }
        let d = &self.delivery;
        if d.inspected_on > self.sold_on {
            return Err(FieldError::new(
                "delivery.inspected_on",
                "the inspection comes before the handover",
            ));
        }
        if let Some(p) = produced_on.filter(|p| d.inspected_on < *p) {
            return Err(FieldError::new(
                "delivery.inspected_on",
                format!("before the production date {p}"),
            ));
        }
        if !d.passed {
            return Err(FieldError::new(
                "delivery.passed",
                "a product that failed its delivery inspection is not handed over; register the sale once it passes",
            ));
        }
        Ok(())
    }

    /// The same registration as one already on record (a retry), as opposed to a second sale;
    /// `buyer` is who this registration names.
    pub fn same_as(&self, buyer: i64, s: &Sale) -> bool {
        self.dealer_id == s.dealer_id && buyer == s.customer_id && self.sold_on == s.sold_on
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sale {
    pub id: i64,
    pub asset_id: i64,
    pub serial: String,
    pub vin: Option<String>,
    pub dealer_id: i64,
    pub dealer_code: String,
    pub customer_id: i64,
    pub sold_on: NaiveDate,
    pub delivery: DeliveryInspection,
    pub registered_at: DateTime<Utc>,
}

/// A vehicle or appliance a dealer sold, with what happened to it after the sale.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SoldAsset {
    pub sale: Sale,
    pub model_code: String,
    pub model_name: String,
    pub customer_name: String,
    pub repairs: Vec<AfterSalesRepair>,
    pub complaints: Vec<AfterSalesComplaint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AfterSalesRepair {
    pub repair_order_id: i64,
    pub status: String,
    pub fault_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The satisfaction survey's repair score (1–5), once answered.
    pub survey_score: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AfterSalesComplaint {
    pub complaint_id: i64,
    pub category: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// One dealer's after-sales figures over a period: the products it sold (in the period), and
/// the repairs, complaints and survey answers on everything it ever sold (in the period).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DealerRow {
    pub dealer_id: i64,
    pub code: String,
    pub name: String,
    pub territory: String,
    pub sold: u64,
    pub repairs: u64,
    pub warranty_repairs: u64,
    pub complaints: u64,
    pub surveys: u64,
    /// The mean repair score of the surveys (1–5), when there are any.
    pub survey_mean: Option<f64>,
    /// Repairs per 100 products it has sold (ever, up to the period's end).
    pub repairs_per_100_sold: Option<f64>,
}

impl DealerRow {
    /// Fill the derived figures from the sums.
    pub fn finish(mut self, sold_to_date: u64, score_sum: u64) -> Self {
        self.survey_mean = (self.surveys > 0).then(|| round2(score_sum as f64 / self.surveys as f64));
        self.repairs_per_100_sold =
            (sold_to_date > 0).then(|| round2(self.repairs as f64 * 100.0 / sold_to_date as f64));
        self
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn dealer(status: DealerStatus, to: Option<&str>) -> Dealer {
        Dealer {
            id: 1,
            code: "D-1".into(),
            name: "Motor Nord".into(),
            address: DealerAddress {
                line1: Text::parse("Hafenstr. 1").unwrap(),
                postal_code: "20457".into(),
                city: Text::parse("Hamburg").unwrap(),
                country: "DE".into(),
            },
            contacts: vec![],
            territory: "north".into(),
            agreement: DealerAgreement {
                number: Text::parse("DA-2024-1").unwrap(),
                from: d("2024-01-01"),
                to: to.map(d),
            },
            status,
        }
    }

    fn sale(sold: &str, inspected: &str, passed: bool) -> NewSale {
        NewSale {
            vin_or_serial: "WMC1234567890ABCD".into(),
            dealer_id: 1,
            customer_id: Some(2),
            customer: None,
            sold_on: d(sold),
            delivery: DeliveryInspection {
                inspected_on: d(inspected),
                inspector: Text::parse("K. Brandt").unwrap(),
                passed,
                odometer_km: Some(12),
                notes: None,
            },
        }
    }

    #[test]
    fn a_sale_needs_a_passed_inspection_before_handover_and_after_production() {
        let today = d("2026-06-01");
        let made = Some(d("2026-02-10"));
        assert!(sale("2026-05-02", "2026-05-01", true).validate(today, made).is_ok());
        let field = |s: NewSale| s.validate(today, made).unwrap_err().field;
        assert_eq!(field(sale("2026-06-02", "2026-05-01", true)), "sold_on");
        assert_eq!(field(sale("2026-02-01", "2026-02-01", true)), "sold_on");
        assert_eq!(field(sale("2026-05-02", "2026-05-03", true)), "delivery.inspected_on");
        assert_eq!(field(sale("2026-05-02", "2026-05-01", false)), "delivery.passed");
        let mut nobody = sale("2026-05-02", "2026-05-01", true);
        nobody.customer_id = None;
        assert_eq!(field(nobody), "customer_id");
    }

    #[test]
    fn only_an_active_dealer_with_an_agreement_in_force_sells() {
        let day = d("2026-03-01");
        assert!(dealer(DealerStatus::Active, None).may_sell_on(day).is_ok());
        assert!(dealer(DealerStatus::Active, Some("2026-03-01"))
            .may_sell_on(day)
            .is_ok());
        assert_eq!(
            dealer(DealerStatus::Active, Some("2026-02-28"))
                .may_sell_on(day)
                .unwrap_err()
                .field,
            "sold_on"
        );
        assert_eq!(
            dealer(DealerStatus::Suspended, None)
                .may_sell_on(day)
                .unwrap_err()
                .field,
            "dealer_id"
        );
        assert_eq!(
            dealer(DealerStatus::Active, None)
                .may_sell_on(d("2023-12-31"))
                .unwrap_err()
                .field,
            "sold_on"
        );
    }

    #[test]
    fn derived_figures() {
        let row = DealerRow {
            dealer_id: 1,
            code: "D-1".into(),
            name: "x".into(),
            territory: "north".into(),
            sold: 4,
            repairs: 3,
            warranty_repairs: 2,
            complaints: 1,
            surveys: 3,
            survey_mean: None,
            repairs_per_100_sold: None,
        }
        .finish(40, 13);
        assert_eq!(row.survey_mean, Some(4.33));
        assert_eq!(row.repairs_per_100_sold, Some(7.5));
    }
}
