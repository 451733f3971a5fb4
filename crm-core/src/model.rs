//! Entities as stored and returned, and the inputs that create or change them.
//!
//! Inputs (`New*`, `*Patch`) refuse unknown fields and are built only from parsed value types, so a
//! value that reaches storage is valid. `validate()` adds the cross-field rules that types cannot say.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::types::*;
use crate::warranty::{ServiceContract, WarrantyPolicy, WarrantyStatus};

/// Declares a string-valued enum with `as_str`/`parse` for storage round-trips.
macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($s => Ok($name::$variant),)+
                    other => Err(ParseError(format!(
                        concat!("unknown ", stringify!($name), " {:?}"), other))),
                }
            }
        }
    };
}

str_enum!(
    /// A user's role; it decides which routes the user may call.
    Role {
        Admin = "admin", Supervisor = "supervisor", Agent = "agent", Technician = "technician",
        StationManager = "station_manager", Reviewer = "reviewer", Dealer = "dealer",
    }
);
str_enum!(CustomerKind { Person = "person", Company = "company" });
str_enum!(PhoneLabel { Mobile = "mobile", Home = "home", Work = "work", Other = "other" });
str_enum!(InteractionKind { Call = "call", Note = "note", Email = "email" });
str_enum!(Direction { Inbound = "inbound", Outbound = "outbound", Internal = "internal" });
str_enum!(ProductCategory { Appliance = "appliance", Motorcycle = "motorcycle", Truck = "truck" });
str_enum!(TicketStatus {
    Open = "open", InProgress = "in_progress", WaitingCustomer = "waiting_customer",
    Resolved = "resolved", Closed = "closed",
});
str_enum!(Priority { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" });
str_enum!(RepairStatus {
    New = "new", Assigned = "assigned", InProgress = "in_progress", Completed = "completed",
    CannotComplete = "cannot_complete", Cancelled = "cancelled",
});
str_enum!(ComplaintCategory {
    ProductQuality = "product_quality", ServiceAttitude = "service_attitude", Delay = "delay",
    Parts = "parts", Other = "other",
});
str_enum!(ComplaintStatus { Open = "open", InProgress = "in_progress", Resolved = "resolved", Closed = "closed" });
str_enum!(
    /// How a call ended for the caller: `self_service` (the IVR answered), `answered` (by an
    /// agent), `queued` (sent to a queue the ACD does not run), `voicemail` (left a message or
    /// asked for a callback), `abandoned` (the caller hung up before any of those, also while
    /// waiting in a queue), `ivr_ended` (the IVR said goodbye before any of those: no choice
    /// made, too many invalid keys), `rejected` (refused at the SIP level), `failed` (outbound,
    /// not reached).
    CallOutcome {
        SelfService = "self_service", Answered = "answered", Queued = "queued", Voicemail = "voicemail",
        Abandoned = "abandoned", IvrEnded = "ivr_ended", Rejected = "rejected", Failed = "failed",
    }
);
str_enum!(StockReason {
    Receipt = "receipt", Consumption = "consumption", TransferIn = "transfer_in",
    TransferOut = "transfer_out", Stocktake = "stocktake", Adjustment = "adjustment",
    // Taken out for good (damaged, obsolete); the reference says why.
    Scrap = "scrap",
});

impl TicketStatus {
    /// Statuses a ticket may move to from this one.
    pub fn next(self) -> &'static [TicketStatus] {
        use TicketStatus::*;
        match self {
            Open => &[InProgress, WaitingCustomer, Resolved, Closed],
            InProgress => &[WaitingCustomer, Resolved, Open],
            WaitingCustomer => &[InProgress, Resolved, Closed],
            Resolved => &[Closed, Open],
            Closed => &[],
        }
    }
    pub fn is_open(self) -> bool {
        !matches!(self, TicketStatus::Resolved | TicketStatus::Closed)
    }
}

impl RepairStatus {
    pub fn next(self) -> &'static [RepairStatus] {
        use RepairStatus::*;
        match self {
            New => &[Assigned, Cancelled],
            Assigned => &[InProgress, New, Cancelled],
            InProgress => &[Completed, CannotComplete],
            CannotComplete => &[Assigned, Cancelled],
            Completed | Cancelled => &[],
        }
    }
    /// Statuses only the technician's task flow sets (on site, completed with its report, cannot
    /// complete with its reason); the office may not set them by editing the order.
    pub fn set_by_task_flow(self) -> bool {
        matches!(
            self,
            RepairStatus::InProgress | RepairStatus::Completed | RepairStatus::CannotComplete
        )
    }
}

impl ComplaintStatus {
    pub fn next(self) -> &'static [ComplaintStatus] {
        use ComplaintStatus::*;
        match self {
            Open => &[InProgress, Resolved],
            InProgress => &[Resolved],
            Resolved => &[Closed, InProgress],
            Closed => &[],
        }
    }
}

fn check_len(field: &str, items: usize, max: usize) -> Result<(), FieldError> {
    if items > max {
        return Err(FieldError::new(field, format!("at most {max} entries")));
    }
    Ok(())
}

// ---------------------------------------------------------------- customers

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    pub number: PhoneNumber,
    #[serde(default = "default_phone_label")]
    pub label: PhoneLabel,
}
fn default_phone_label() -> PhoneLabel {
    PhoneLabel::Mobile
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default = "default_address_label")]
    pub label: String,
    pub line1: Text,
    #[serde(default)]
    pub line2: Option<String>,
    #[schema(
        pattern = "^(?=[^\\x00]{1,12}$)[^\\x00]*[^\\x00\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00]*$"
    )]
    pub postal_code: String,
    pub city: Text,
    /// ISO 3166-1 alpha-2 country code.
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: String,
    #[serde(default)]
    pub location: Option<GeoPoint>,
}
fn default_address_label() -> String {
    "home".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Customer {
    pub id: i64,
    pub kind: CustomerKind,
    pub name: String,
    pub email: Option<Email>,
    pub time_zone: TimeZone,
    /// Never call this customer for marketing or surveys.
    pub do_not_call: bool,
    /// Consent to care reminders and campaigns.
    pub marketing_consent: bool,
    pub birthday: Option<NaiveDate>,
    pub phones: Vec<Phone>,
    pub addresses: Vec<Address>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    #[serde(default = "default_kind")]
    pub kind: CustomerKind,
    pub name: Text,
    #[serde(default)]
    pub email: Option<Email>,
    #[serde(default)]
    pub time_zone: TimeZone,
    #[serde(default)]
    pub do_not_call: bool,
    #[serde(default)]
    pub marketing_consent: bool,
    #[serde(default)]
    pub birthday: Option<NaiveDate>,
    #[serde(default)]
    #[schema(max_items = 10)]
    pub phones: Vec<Phone>,
    #[serde(default)]
    #[schema(max_items = 10)]
    pub addresses: Vec<Address>,
}
fn default_kind() -> CustomerKind {
    CustomerKind::Person
}

fn validate_addresses(addresses: &[Address]) -> Result<(), FieldError> {
    check_len("addresses", addresses.len(), 10)?;
    for (i, a) in addresses.iter().enumerate() {
        if a.country.len() != 2 || !a.country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(FieldError::new(
                format!("addresses[{i}].country"),
                "must be an ISO 3166-1 alpha-2 code such as DE",
            ));
        }
        if a.postal_code.trim().is_empty() || a.postal_code.chars().count() > 12 {
            return Err(FieldError::new(
                format!("addresses[{i}].postal_code"),
                "must have 1 to 12 characters",
            ));
        }
    }
    Ok(())
}

fn validate_phones(phones: &[Phone]) -> Result<(), FieldError> {
    check_len("phones", phones.len(), 10)?;
    for (i, p) in phones.iter().enumerate() {
        if phones[..i].iter().any(|q| q.number == p.number) {
            return Err(FieldError::new(format!("phones[{i}].number"), "listed twice"));
        }
    }
    Ok(())
}

impl NewCustomer {
    pub fn validate(&self, today: NaiveDate) -> Result<(), FieldError> {
        validate_phones(&self.phones)?;
        validate_addresses(&self.addresses)?;
        if let Some(b) = self.birthday {
            if b > today {
                return Err(FieldError::new("birthday", "must not be in the future"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    pub name: Option<Text>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<Email>)]
    pub email: Option<Option<Email>>,
    pub time_zone: Option<TimeZone>,
    pub do_not_call: Option<bool>,
    pub marketing_consent: Option<bool>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub birthday: Option<Option<NaiveDate>>,
    /// Replaces the whole list when given.
    #[schema(max_items = 10)]
    pub phones: Option<Vec<Phone>>,
    /// Replaces the whole list when given.
    #[schema(max_items = 10)]
    pub addresses: Option<Vec<Address>>,
}

impl CustomerPatch {
    pub fn validate(&self, today: NaiveDate) -> Result<(), FieldError> {
        if let Some(p) = &self.phones {
            validate_phones(p)?;
        }
        if let Some(a) = &self.addresses {
            validate_addresses(a)?;
        }
        if let Some(Some(b)) = self.birthday {
            if b > today {
                return Err(FieldError::new("birthday", "must not be in the future"));
            }
        }
        Ok(())
    }
}

/// `null` clears a field, absence leaves it alone.
pub mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<T: Serialize, S: Serializer>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    /// Matches name or e-mail (case-insensitive substring) or, when it looks like a number, a phone.
    pub q: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Interaction {
    pub id: i64,
    pub customer_id: i64,
    pub kind: InteractionKind,
    pub direction: Direction,
    pub at: DateTime<Utc>,
    pub summary: String,
    pub user_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInteraction {
    pub kind: InteractionKind,
    #[serde(default = "default_direction")]
    pub direction: Direction,
    pub summary: Text,
    /// Defaults to now.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}
fn default_direction() -> Direction {
    Direction::Internal
}

/// A call filed by the agent who took it: the note on the customer's history and, as the
/// disposition asks, a service request and a repair order. Filed once per call: the call's id
/// is the key, so pressing Save again (or a retry racing the first) gets the first answer.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWrapUp {
    /// The call's SIP Call-ID.
    pub call_id: String,
    pub customer_id: i64,
    /// Tells a repeat of the same form from a different one for the same call (which is refused).
    pub fingerprint: String,
    pub interaction: NewInteraction,
    pub ticket: Option<NewTicket>,
    /// Its `ticket_id` is ignored: the repair order belongs to the ticket filed with it.
    pub repair_order: Option<NewRepairOrder>,
}

/// What a wrap-up filed; `replayed` when the call had been filed before and this is that answer.
#[derive(Debug, Clone, PartialEq)]
pub struct WrapUpRecord {
    pub interaction: Interaction,
    pub ticket: Option<Ticket>,
    pub repair_order: Option<RepairOrder>,
    pub replayed: bool,
}

/// How an imported customer row was taken: written anew, or matched to a customer who exists
/// (by one of the row's phone numbers, or its e-mail address) and left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportMatch {
    Created,
    Phone,
    Email,
}

/// One imported customer row: the customer's id and how the row was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportedCustomer {
    pub id: i64,
    pub matched: ImportMatch,
}

// ---------------------------------------------------------------- products and assets

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultCode {
    #[schema(
        pattern = "^(?=[^\\x00]{1,16}$)[^\\x00]*[^\\x00\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00]*$"
    )]
    pub code: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProductModel {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub category: ProductCategory,
    /// The line that decides routing skills (`washing_machines`, `touring_bikes`).
    pub product_line: SkillName,
    pub fault_codes: Vec<FaultCode>,
    pub warranty: Option<WarrantyPolicy>,
    /// Routine maintenance every this many months (customer-care reminders), if any.
    pub maintenance_months: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProductModel {
    pub code: SerialNumber,
    pub name: Text,
    pub category: ProductCategory,
    pub product_line: SkillName,
    #[serde(default)]
    #[schema(max_items = 500)]
    pub fault_codes: Vec<FaultCode>,
    #[serde(default)]
    pub warranty: Option<WarrantyPolicy>,
    /// 1–120.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 120)]
    pub maintenance_months: Option<u16>,
}

impl NewProductModel {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_len("fault_codes", self.fault_codes.len(), 500)?;
        for (i, f) in self.fault_codes.iter().enumerate() {
            if f.code.trim().is_empty() || f.code.chars().count() > 16 {
                return Err(FieldError::new(
                    format!("fault_codes[{i}].code"),
                    "must have 1 to 16 characters",
                ));
            }
            if self.fault_codes[..i].iter().any(|g| g.code == f.code) {
                return Err(FieldError::new(format!("fault_codes[{i}].code"), "listed twice"));
            }
        }
        if let Some(w) = &self.warranty {
            if w.parts_months > 240 || w.labor_months > 240 {
                return Err(FieldError::new("warranty", "at most 240 months"));
            }
        }
        if self.maintenance_months.is_some_and(|m| !(1..=120).contains(&m)) {
            return Err(FieldError::new("maintenance_months", "1 to 120"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Asset {
    pub id: i64,
    pub customer_id: i64,
    pub model_id: i64,
    pub serial: SerialNumber,
    pub vin: Option<Vin>,
    /// The purchase date on record (a receipt); the warranty starts here only when neither a
    /// sale is registered nor the production date is known.
    pub purchase_date: NaiveDate,
    /// Free text from before dealers were records; a registered sale names its dealer.
    pub dealer: Option<String>,
    pub mileage_km: Option<u32>,
    pub operating_hours: Option<u32>,
    /// The production date on the serial plate, when known.
    pub produced_on: Option<NaiveDate>,
    /// The registered sale, when there is one.
    pub sale: Option<AssetSale>,
    pub contracts: Vec<ServiceContract>,
}

/// An asset's registered sale, as the asset shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssetSale {
    pub sale_id: i64,
    pub dealer_id: i64,
    pub dealer_code: String,
    pub sold_on: NaiveDate,
}

impl Asset {
    /// Where its factory warranty starts and which fact decided it.
    pub fn warranty_start(&self) -> crate::warranty::WarrantyStart {
        crate::warranty::WarrantyStart::decide(
            self.sale.as_ref().map(|s| (s.sale_id, s.dealer_id, s.sold_on)),
            self.produced_on,
            self.purchase_date,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAsset {
    pub customer_id: i64,
    pub model_id: i64,
    pub serial: SerialNumber,
    #[serde(default)]
    pub vin: Option<Vin>,
    pub purchase_date: NaiveDate,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub dealer: Option<String>,
    #[serde(default)]
    pub mileage_km: Option<u32>,
    #[serde(default)]
    pub operating_hours: Option<u32>,
    /// The production date on the serial plate.
    #[serde(default)]
    pub produced_on: Option<NaiveDate>,
}

impl NewAsset {
    pub fn validate(&self, today: NaiveDate) -> Result<(), FieldError> {
        if self.purchase_date > today {
            return Err(FieldError::new("purchase_date", "must not be in the future"));
        }
        if self.produced_on.is_some_and(|p| p > today) {
            return Err(FieldError::new("produced_on", "must not be in the future"));
        }
        if self.dealer.as_ref().is_some_and(|d| d.chars().count() > 200) {
            return Err(FieldError::new("dealer", "at most 200 characters"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetPatch {
    pub customer_id: Option<i64>,
    pub mileage_km: Option<u32>,
    pub operating_hours: Option<u32>,
    #[schema(max_length = 200)]
    pub dealer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServiceContract {
    pub name: Text,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    #[serde(default = "yes")]
    pub covers_parts: bool,
    #[serde(default = "yes")]
    pub covers_labor: bool,
}
fn yes() -> bool {
    true
}

impl NewServiceContract {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.ends_on < self.starts_on {
            return Err(FieldError::new("ends_on", "must not be before starts_on"));
        }
        if !self.covers_parts && !self.covers_labor {
            return Err(FieldError::new("covers_parts", "a contract must cover parts or labor"));
        }
        Ok(())
    }
}

/// An asset with its model and today's warranty status, as shown to agents.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AssetView {
    #[serde(flatten)]
    pub asset: Asset,
    pub model_code: String,
    pub model_name: String,
    pub category: ProductCategory,
    pub product_line: SkillName,
    pub warranty: WarrantyStatus,
}

/// An asset joined with what warranty determination needs from its model.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetWithModel {
    pub asset: Asset,
    pub model_code: String,
    pub model_name: String,
    pub category: ProductCategory,
    pub product_line: SkillName,
    pub policy: Option<WarrantyPolicy>,
}

// ---------------------------------------------------------------- service

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    pub from: Option<String>,
    pub to: String,
    pub at: DateTime<Utc>,
    pub user_id: Option<i64>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Ticket {
    pub id: i64,
    pub customer_id: i64,
    pub asset_id: Option<i64>,
    pub subject: String,
    pub description: String,
    pub status: TicketStatus,
    pub priority: Priority,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub history: Vec<StatusChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    pub customer_id: i64,
    #[serde(default)]
    pub asset_id: Option<i64>,
    pub subject: Text,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_priority")]
    pub priority: Priority,
}
fn default_priority() -> Priority {
    Priority::Normal
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketPatch {
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
    pub subject: Option<Text>,
    /// Recorded with the status change.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TicketQuery {
    pub customer_id: Option<i64>,
    pub status: Option<TicketStatus>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RepairOrder {
    pub id: i64,
    pub ticket_id: i64,
    pub customer_id: i64,
    pub asset_id: i64,
    pub station_id: Option<i64>,
    pub technician_id: Option<i64>,
    pub status: RepairStatus,
    pub fault_code: Option<String>,
    pub description: String,
    pub scheduled_for: Option<DateTime<Utc>>,
    /// The visit window agreed with the customer, if any.
    pub appointment: Option<Appointment>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The visit's estimated length.
    pub duration_minutes: u32,
    /// Position in the technician's day route (1 = first), once planned.
    pub route_seq: Option<u32>,
    /// Why dispatch could not assign it (`no_skill_match`, `no_capacity`, `window_infeasible`,
    /// `parts_missing`); cleared once assigned.
    pub unassigned_reason: Option<String>,
    /// The technician's status flow, once somebody is assigned.
    pub task_status: Option<crate::field::TaskStatus>,
    /// When the station dispatch gave it to accepted it (in the station portal); cleared when
    /// it moves to another station.
    pub station_accepted_at: Option<DateTime<Utc>>,
    /// Parts the repair is expected to need.
    pub parts_needed: Vec<NeededPart>,
    pub history: Vec<StatusChange>,
}

/// A part a repair is expected to need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NeededPart {
    pub part_id: i64,
    /// 1–100.
    #[schema(minimum = 1, maximum = 100)]
    pub quantity: u32,
}

/// A visit window agreed with the customer: the technician starts the visit between `from` and
/// `to` (at most 12 hours apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Appointment {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Appointment {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.to <= self.from {
            return Err(FieldError::new(format!("{field}.to"), "must be after from"));
        }
        if self.to - self.from > chrono::Duration::hours(12) {
            return Err(FieldError::new(format!("{field}.to"), "at most 12 hours after from"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRepairOrder {
    pub ticket_id: i64,
    /// Defaults to the ticket's asset.
    #[serde(default)]
    pub asset_id: Option<i64>,
    #[serde(default)]
    pub station_id: Option<i64>,
    #[serde(default)]
    pub technician_id: Option<i64>,
    #[serde(default)]
    pub fault_code: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub scheduled_for: Option<DateTime<Utc>>,
    /// A visit window agreed with the customer.
    #[serde(default)]
    pub appointment: Option<Appointment>,
    /// Estimated length of the visit, 15–600 minutes (default 90).
    #[serde(default)]
    #[schema(minimum = 15, maximum = 600)]
    pub duration_minutes: Option<u32>,
    /// Parts the repair is expected to need (at most 20).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub parts: Vec<NeededPart>,
}

impl NewRepairOrder {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.duration_minutes.is_some_and(|m| !(15..=600).contains(&m)) {
            return Err(FieldError::new("duration_minutes", "must be 15 to 600"));
        }
        if let Some(a) = &self.appointment {
            a.validate("appointment")?;
        }
        check_len("parts", self.parts.len(), 20)?;
        for (i, p) in self.parts.iter().enumerate() {
            if !(1..=100).contains(&p.quantity) {
                return Err(FieldError::new(format!("parts[{i}].quantity"), "must be 1 to 100"));
            }
            if self.parts[..i].iter().any(|q| q.part_id == p.part_id) {
                return Err(FieldError::new(format!("parts[{i}].part_id"), "listed twice"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepairOrderPatch {
    pub status: Option<RepairStatus>,
    pub station_id: Option<i64>,
    pub technician_id: Option<i64>,
    pub fault_code: Option<String>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RepairOrderQuery {
    pub customer_id: Option<i64>,
    pub station_id: Option<i64>,
    pub technician_id: Option<i64>,
    pub status: Option<RepairStatus>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Complaint {
    pub id: i64,
    pub customer_id: i64,
    pub ticket_id: Option<i64>,
    pub repair_order_id: Option<i64>,
    pub category: ComplaintCategory,
    pub status: ComplaintStatus,
    pub description: String,
    pub owner_user_id: Option<i64>,
    pub due_on: Option<NaiveDate>,
    pub resolution: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was escalated for being open past its due date.
    pub escalated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComplaint {
    pub customer_id: i64,
    #[serde(default)]
    pub ticket_id: Option<i64>,
    #[serde(default)]
    pub repair_order_id: Option<i64>,
    pub category: ComplaintCategory,
    pub description: Text,
    #[serde(default)]
    pub owner_user_id: Option<i64>,
    #[serde(default)]
    pub due_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintPatch {
    pub status: Option<ComplaintStatus>,
    pub owner_user_id: Option<i64>,
    pub due_on: Option<NaiveDate>,
    pub resolution: Option<Text>,
}

// ---------------------------------------------------------------- service network

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpeningHours {
    /// ISO weekday, 1 = Monday … 7 = Sunday.
    #[schema(minimum = 1, maximum = 7)]
    pub weekday: u8,
    #[schema(value_type = String, example = "08:00:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$")]
    pub opens: NaiveTime,
    #[schema(value_type = String, example = "17:00:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$")]
    pub closes: NaiveTime,
}

/// A technician's working time on one weekday (a shift calendar repeats weekly).
pub type Shift = OpeningHours;

fn validate_hours(field: &str, hours: &[OpeningHours]) -> Result<(), FieldError> {
    check_len(field, hours.len(), 21)?;
    for (i, h) in hours.iter().enumerate() {
        if !(1..=7).contains(&h.weekday) {
            return Err(FieldError::new(
                format!("{field}[{i}].weekday"),
                "must be 1 (Monday) to 7 (Sunday)",
            ));
        }
        if h.closes <= h.opens {
            return Err(FieldError::new(format!("{field}[{i}].closes"), "must be after opens"));
        }
    }
    Ok(())
}

fn validate_skills(skills: &[Skill]) -> Result<(), FieldError> {
    check_len("skills", skills.len(), 50)?;
    for (i, s) in skills.iter().enumerate() {
        if skills[..i].iter().any(|t| t.name == s.name) {
            return Err(FieldError::new(format!("skills[{i}].name"), "listed twice"));
        }
    }
    Ok(())
}

str_enum!(
    /// Where a station stands with the manufacturer. Only an approved station gets work; a
    /// suspended one keeps its history and can be approved again; terminated is final.
    StationStatus { Applying = "applying", Approved = "approved", Suspended = "suspended", Terminated = "terminated" }
);
str_enum!(StationKind { Own = "own", Franchised = "franchised" });

impl StationStatus {
    /// The lifecycle: applying → approved or terminated; approved ⇄ suspended; either → terminated.
    pub fn can_become(self, to: StationStatus) -> bool {
        use StationStatus::*;
        matches!(
            (self, to),
            (Applying, Approved)
                | (Applying, Terminated)
                | (Approved, Suspended)
                | (Suspended, Approved)
                | (Approved, Terminated)
                | (Suspended, Terminated)
        )
    }
    pub fn takes_work(self) -> bool {
        self == StationStatus::Approved
    }
}

/// A person at a station the manufacturer deals with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: Text,
    /// What they do there (`owner`, `workshop`, `accounts`).
    #[serde(default)]
    pub role: Option<Text>,
    #[serde(default)]
    pub phone: Option<PhoneNumber>,
    #[serde(default)]
    pub email: Option<Email>,
}

/// Where the manufacturer pays a station's settlements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankDetails {
    pub holder: Text,
    pub iban: Iban,
    #[serde(default)]
    pub bic: Option<Text>,
}

/// The service contract between the manufacturer and a station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub from: NaiveDate,
    /// Open-ended when absent.
    #[serde(default)]
    pub to: Option<NaiveDate>,
    /// What the manufacturer pays per labour hour of warranty work.
    pub labour_rate: Money,
    /// The product lines the station may repair under warranty (empty: all it has skills for).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub product_lines: Vec<SkillName>,
}

impl Contract {
    pub fn in_force(&self, day: NaiveDate) -> bool {
        self.from <= day && self.to.is_none_or(|to| day <= to)
    }
    pub fn covers(&self, line: &SkillName) -> bool {
        self.product_lines.is_empty() || self.product_lines.contains(line)
    }
    fn validate(&self) -> Result<(), FieldError> {
        if self.to.is_some_and(|to| to < self.from) {
            return Err(FieldError::new("partner.contract.to", "must not be before from"));
        }
        if self.labour_rate.minor <= 0 || self.labour_rate.minor > MAX_PRICE_MINOR {
            return Err(FieldError::new(
                "partner.contract.labour_rate.minor",
                if self.labour_rate.minor <= 0 {
                    "must be above 0"
                } else {
                    "must be at most 10000000000"
                },
            ));
        }
        check_len("partner.contract.product_lines", self.product_lines.len(), 50)
    }
}

/// A station as a contracted partner: who it is, how to reach and pay it, what it may do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    #[serde(default)]
    pub kind: StationKind,
    #[serde(default)]
    pub address: Option<Text>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub bank: Option<BankDetails>,
    #[serde(default)]
    pub contract: Option<Contract>,
    /// Certificates the station holds (`high_voltage`, `gas_appliances`).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub qualifications: Vec<SkillName>,
}

// The enum comes from `str_enum!`, which cannot take `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for StationKind {
    fn default() -> Self {
        StationKind::Own
    }
}

impl Partner {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_len("partner.contacts", self.contacts.len(), 20)?;
        check_len("partner.qualifications", self.qualifications.len(), 50)?;
        if let Some(c) = &self.contract {
            c.validate()?;
        }
        Ok(())
    }
}

/// A move in a station's lifecycle, with its reason (required for suspension and termination).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationStatusChange {
    pub status: StationStatus,
    #[serde(default)]
    pub reason: Option<Text>,
}

impl StationStatusChange {
    pub fn check(&self, from: StationStatus) -> Result<(), FieldError> {
        if !from.can_become(self.status) {
            return Err(FieldError::new(
                "status",
                format!("a station {} cannot become {}", from.as_str(), self.status.as_str()),
            ));
        }
        if matches!(self.status, StationStatus::Suspended | StationStatus::Terminated) && self.reason.is_none() {
            return Err(FieldError::new("reason", "a suspension or termination needs a reason"));
        }
        Ok(())
    }
}

/// What a lifecycle move did: the station, and the open orders it gave back to dispatch.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StationStatusChanged {
    pub station: Station,
    pub released_orders: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Station {
    pub id: i64,
    pub name: String,
    pub city: String,
    pub status: StationStatus,
    /// Why it was last suspended or terminated.
    pub status_reason: Option<String>,
    /// The region a supervisor may be scoped to.
    pub region: Option<String>,
    pub partner: Partner,
    pub location: GeoPoint,
    pub time_zone: TimeZone,
    pub skills: Vec<Skill>,
    /// Repair orders the station can take per day.
    pub capacity_per_day: u32,
    pub opening_hours: Vec<OpeningHours>,
    /// Rolling customer score, 0–5.
    pub rating: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStation {
    pub name: Text,
    pub city: Text,
    pub location: GeoPoint,
    #[serde(default)]
    pub time_zone: TimeZone,
    #[serde(default)]
    #[schema(max_items = 50)]
    pub skills: Vec<Skill>,
    #[schema(minimum = 1, maximum = 10000)]
    pub capacity_per_day: u32,
    #[serde(default)]
    #[schema(max_items = 21)]
    pub opening_hours: Vec<OpeningHours>,
    /// `approved` (the default) for a contracted station, `applying` for an applicant.
    #[serde(default = "approved")]
    pub status: StationStatus,
    #[serde(default)]
    pub region: Option<SkillName>,
    #[serde(default)]
    pub partner: Partner,
}

fn approved() -> StationStatus {
    StationStatus::Approved
}

impl NewStation {
    pub fn validate(&self) -> Result<(), FieldError> {
        if !matches!(self.status, StationStatus::Applying | StationStatus::Approved) {
            return Err(FieldError::new("status", "a new station is applying or approved"));
        }
        self.partner.validate()?;
        validate_skills(&self.skills)?;
        validate_hours("opening_hours", &self.opening_hours)?;
        if self.capacity_per_day == 0 || self.capacity_per_day > 10_000 {
            return Err(FieldError::new("capacity_per_day", "must be 1 to 10000"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationPatch {
    pub name: Option<Text>,
    #[schema(max_items = 50)]
    pub skills: Option<Vec<Skill>>,
    #[schema(minimum = 1, maximum = 10000)]
    pub capacity_per_day: Option<u32>,
    #[schema(max_items = 21)]
    pub opening_hours: Option<Vec<OpeningHours>>,
    #[schema(minimum = 0, maximum = 5)]
    pub rating: Option<f64>,
    pub region: Option<SkillName>,
    /// Replaces the partner record as a whole.
    pub partner: Option<Partner>,
}

impl StationPatch {
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(p) = &self.partner {
            p.validate()?;
        }
        if let Some(s) = &self.skills {
            validate_skills(s)?;
        }
        if let Some(h) = &self.opening_hours {
            validate_hours("opening_hours", h)?;
        }
        if self.capacity_per_day.is_some_and(|c| c == 0 || c > 10_000) {
            return Err(FieldError::new("capacity_per_day", "must be 1 to 10000"));
        }
        if self.rating.is_some_and(|r| !(0.0..=5.0).contains(&r)) {
            return Err(FieldError::new("rating", "must be 0 to 5"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Technician {
    pub id: i64,
    pub station_id: i64,
    pub name: String,
    pub skills: Vec<Skill>,
    pub shifts: Vec<Shift>,
    pub location: Option<GeoPoint>,
    pub rating: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTechnician {
    pub station_id: i64,
    pub name: Text,
    #[serde(default)]
    #[schema(max_items = 50)]
    pub skills: Vec<Skill>,
    #[serde(default)]
    #[schema(max_items = 21)]
    pub shifts: Vec<Shift>,
    #[serde(default)]
    pub location: Option<GeoPoint>,
}

impl NewTechnician {
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_skills(&self.skills)?;
        validate_hours("shifts", &self.shifts)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TechnicianPatch {
    pub station_id: Option<i64>,
    #[schema(max_items = 50)]
    pub skills: Option<Vec<Skill>>,
    #[schema(max_items = 21)]
    pub shifts: Option<Vec<Shift>>,
    pub location: Option<GeoPoint>,
}

impl TechnicianPatch {
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(s) = &self.skills {
            validate_skills(s)?;
        }
        if let Some(h) = &self.shifts {
            validate_hours("shifts", h)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Part {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub price: Money,
    pub product_line: Option<SkillName>,
    /// Below this quantity a station should reorder.
    pub safety_stock: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPart {
    pub sku: SerialNumber,
    pub name: Text,
    pub price: Money,
    #[serde(default)]
    pub product_line: Option<SkillName>,
    #[serde(default)]
    pub safety_stock: u32,
}

impl NewPart {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.price.minor < 0 {
            return Err(FieldError::new("price.minor", "must not be negative"));
        }
        if self.price.minor > MAX_PRICE_MINOR {
            return Err(FieldError::new("price.minor", format!("at most {MAX_PRICE_MINOR}")));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StockLevel {
    pub station_id: i64,
    pub part_id: i64,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    pub safety_stock: u32,
    pub below_safety_stock: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StockMovement {
    pub id: i64,
    pub station_id: i64,
    pub part_id: i64,
    pub delta: i64,
    pub reason: StockReason,
    /// What caused it: `repair_order:17`, `transfer:3`, `stocktake:2026-11-01`.
    pub reference: String,
    pub at: DateTime<Utc>,
    pub user_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStockMovement {
    pub part_id: i64,
    /// Positive adds stock, negative removes it.
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    pub delta: i64,
    pub reason: StockReason,
    pub reference: Text,
}

/// The most units of a part one movement, count or transfer may name: far above any real
/// stock, and far below where sums of movements could overflow.
pub const MAX_STOCK_UNITS: i64 = 1_000_000;

/// The highest price of a part, in minor units (100 million in the major unit).
pub const MAX_PRICE_MINOR: i64 = 10_000_000_000;

impl NewStockMovement {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.delta == 0 {
            return Err(FieldError::new("delta", "must not be 0"));
        }
        if self.delta.abs() > MAX_STOCK_UNITS {
            return Err(FieldError::new(
                "delta",
                format!("at most {MAX_STOCK_UNITS} units either way"),
            ));
        }
        let outgoing = matches!(
            self.reason,
            StockReason::Consumption | StockReason::TransferOut | StockReason::Scrap
        );
        let incoming = matches!(self.reason, StockReason::Receipt | StockReason::TransferIn);
        if (outgoing && self.delta > 0) || (incoming && self.delta < 0) {
            return Err(FieldError::new(
                "delta",
                format!("sign does not fit reason {}", self.reason.as_str()),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- knowledge base

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KbArticle {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub product_line: Option<SkillName>,
    pub fault_code: Option<String>,
    pub tags: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKbArticle {
    pub title: Text,
    pub body: Text,
    #[serde(default)]
    pub product_line: Option<SkillName>,
    #[serde(default)]
    pub fault_code: Option<String>,
    #[serde(default)]
    #[schema(max_items = 20, value_type = Vec<Tag>)]
    pub tags: Vec<String>,
}

/// A knowledge-base tag as the document states it: 1 to 40 characters, not only spaces.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = "^(?=[^\\x00]{1,40}$)[^\\x00]*[^\\x00\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00]*$")]
pub struct Tag(pub String);

impl NewKbArticle {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_len("tags", self.tags.len(), 20)?;
        if self.tags.iter().any(|t| t.trim().is_empty() || t.chars().count() > 40) {
            return Err(FieldError::new("tags", "each tag must have 1 to 40 characters"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
pub struct KbQuery {
    pub q: Option<String>,
    pub product_line: Option<SkillName>,
    pub limit: u32,
}

// ---------------------------------------------------------------- users and audit

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// Set for technicians: the technician record this login works as.
    pub technician_id: Option<i64>,
    /// Set for station managers: the station they run (and see, and nothing else).
    pub station_id: Option<i64>,
    /// A supervisor scoped to a region sees only its stations; none sees all.
    pub region: Option<String>,
    /// Set for dealer logins: the dealer they work for (and see, and nothing else).
    pub dealer_id: Option<i64>,
}

/// A skill an agent has, with a level from 1 (normal seat) to 5 (expert).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSkill {
    /// A product line (`appliance`, `motorcycle`, `truck`) or a topic (`complaints`, `general`).
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub skill: String,
    #[schema(minimum = 1, maximum = 5)]
    pub level: u8,
}

impl AgentSkill {
    /// Check a skill list: names of 1–40 letters, digits, `-` or `_`, levels 1–5, no repeats.
    pub fn validate(skills: &[AgentSkill]) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for s in skills {
            if s.skill.is_empty()
                || s.skill.len() > 40
                || !s
                    .skill
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!("skill {:?}: 1 to 40 letters, digits, '-' or '_'", s.skill));
            }
            if !(1..=5).contains(&s.level) {
                return Err(format!("skill {:?}: level must be 1 to 5", s.skill));
            }
            if !seen.insert(s.skill.as_str()) {
                return Err(format!("skill {:?} listed twice", s.skill));
            }
        }
        if skills.len() > 50 {
            return Err("at most 50 skills".into());
        }
        Ok(())
    }
}

/// A user to create; the password is already hashed by the caller.
#[derive(Debug, Clone)]
pub struct NewUserRecord {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub technician_id: Option<i64>,
    pub station_id: Option<i64>,
    pub region: Option<String>,
    pub dealer_id: Option<i64>,
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<i64>,
    /// `create`, `update`, `delete`, `login`, `import`.
    pub action: String,
    pub entity: String,
    pub entity_id: Option<i64>,
    /// What changed, as JSON (never a password).
    pub detail: serde_json::Value,
}

/// Who is acting, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<i64>,
}

impl Actor {
    pub const SYSTEM: Actor = Actor { user_id: None };
    pub fn user(id: i64) -> Actor {
        Actor { user_id: Some(id) }
    }
}

// ---------------------------------------------------------------- screen pop

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ScreenPop {
    pub customer: Customer,
    /// How the customer was found: `phone` or `serial`.
    pub matched_by: String,
    pub assets: Vec<AssetView>,
    pub open_tickets: Vec<Ticket>,
    pub recent_tickets: Vec<Ticket>,
    pub repair_orders: Vec<RepairOrder>,
    pub recent_interactions: Vec<Interaction>,
}

/// One call's detail record, written when the call ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cdr {
    pub id: i64,
    #[serde(flatten)]
    pub call: NewCdr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewCdr {
    /// The SIP Call-ID.
    pub call_id: String,
    pub direction: Direction,
    /// The caller's number as signalled (user part of From).
    pub caller: String,
    /// The number called (user part of the Request-URI).
    pub called: String,
    /// The customer recognised during the call, if any.
    pub customer_id: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    /// The IVR script that handled the call.
    pub ivr_script: Option<String>,
    /// The IVR nodes visited, in order, separated by `>`.
    pub ivr_path: String,
    /// Every DTMF digit received, in order.
    pub dtmf: String,
    /// The queue the call was transferred to.
    pub queue: Option<String>,
    pub outcome: CallOutcome,
    /// Who ended the call and how (`caller_hangup`, `ivr_hangup`, `cancelled`, `no_ack`, SIP status …).
    pub end_reason: String,
    /// Path of the WAV recording, when recording is on.
    pub recording: Option<String>,
    /// The agent (user id) who answered the call.
    #[serde(default)]
    pub agent_id: Option<i64>,
    /// How long the caller waited in the queue before an agent answered, or before leaving.
    #[serde(default)]
    pub queue_wait_ms: Option<i64>,
    /// Answered within the queue's service-level time (judged by the threshold in force then).
    #[serde(default)]
    pub answered_within_sl: Option<bool>,
    /// The owner of a serial number the caller typed, when it is found. Kept beside
    /// `customer_id` (who the caller is): a neighbour may ask about someone else's product.
    #[serde(default)]
    pub serial_owner_id: Option<i64>,
    /// The caller's message, when they left one (a WAV under the voicemail directory; play it
    /// with `GET /api/v1/cdrs/{id}/voicemail`). Writing a record with one raises an agent task
    /// to call the caller back, in the same transaction.
    #[serde(default)]
    pub voicemail: Option<String>,
}
