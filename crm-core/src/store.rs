//! Storage traits. One implementation per backend lives in `crm-sql`; the behaviour every backend
//! must show is written once in [`crate::testsuite`].
//!
//! Every write takes the acting user and records an audit entry in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::error::StoreResult;
use crate::field::*;
use crate::model::*;
use crate::types::{GeoPoint, PhoneNumber, SerialNumber};

#[async_trait]
pub trait CustomerStore {
    async fn create_customer(&self, actor: Actor, c: &NewCustomer) -> StoreResult<Customer>;
    async fn get_customer(&self, id: i64) -> StoreResult<Customer>;
    async fn update_customer(&self, actor: Actor, id: i64, p: &CustomerPatch) -> StoreResult<Customer>;
    /// Customers matching the query, by name; each carries its phones and addresses.
    async fn search_customers(&self, q: &CustomerQuery) -> StoreResult<Vec<Customer>>;
    /// The customer a number belongs to (the oldest, if several share it).
    async fn find_customer_by_phone(&self, phone: &PhoneNumber) -> StoreResult<Option<i64>>;
    /// Creates all or none: one transaction.
    /// One transaction for the whole file. A row whose phone number (or else e-mail address)
    /// belongs to a customer already is matched to that customer and changes nothing, so
    /// importing a file again adds no one; the answer says, per row, what was done.
    async fn import_customers(&self, actor: Actor, rows: &[NewCustomer]) -> StoreResult<Vec<ImportedCustomer>>;
    async fn add_interaction(&self, actor: Actor, customer_id: i64, i: &NewInteraction) -> StoreResult<Interaction>;
    /// Newest first.
    async fn list_interactions(&self, customer_id: i64, limit: u32) -> StoreResult<Vec<Interaction>>;
}

#[async_trait]
pub trait CatalogStore {
    async fn create_model(&self, actor: Actor, m: &NewProductModel) -> StoreResult<ProductModel>;
    async fn get_model(&self, id: i64) -> StoreResult<ProductModel>;
    async fn list_models(&self) -> StoreResult<Vec<ProductModel>>;
    async fn create_part(&self, actor: Actor, p: &NewPart) -> StoreResult<Part>;
    async fn get_part(&self, id: i64) -> StoreResult<Part>;
    async fn list_parts(&self) -> StoreResult<Vec<Part>>;
    async fn create_article(&self, actor: Actor, a: &NewKbArticle) -> StoreResult<KbArticle>;
    async fn get_article(&self, id: i64) -> StoreResult<KbArticle>;
    async fn update_article(&self, actor: Actor, id: i64, a: &NewKbArticle) -> StoreResult<KbArticle>;
    async fn delete_article(&self, actor: Actor, id: i64) -> StoreResult<()>;
    /// Articles whose title, body or tags hold every word of `q`, optionally for one product line.
    async fn search_articles(&self, q: &KbQuery) -> StoreResult<Vec<KbArticle>>;
}

#[async_trait]
pub trait AssetStore {
    async fn create_asset(&self, actor: Actor, a: &NewAsset) -> StoreResult<Asset>;
    async fn get_asset(&self, id: i64) -> StoreResult<Asset>;
    async fn update_asset(&self, actor: Actor, id: i64, p: &AssetPatch) -> StoreResult<Asset>;
    async fn find_asset_by_serial(&self, serial: &SerialNumber) -> StoreResult<Option<Asset>>;
    /// The asset whose serial number, stripped to its digits, is `digits` (what a caller can
    /// type on a keypad). `None` when no asset or more than one matches.
    async fn find_asset_by_serial_digits(&self, digits: &str) -> StoreResult<Option<Asset>>;
    async fn list_assets(&self, customer_id: i64) -> StoreResult<Vec<Asset>>;
    /// A customer's assets with the model facts needed for warranty, in one round of queries.
    async fn customer_assets(&self, customer_id: i64) -> StoreResult<Vec<AssetWithModel>>;
    async fn add_contract(&self, actor: Actor, asset_id: i64, c: &NewServiceContract) -> StoreResult<Asset>;
    /// Creates all or none: one transaction.
    async fn import_assets(&self, actor: Actor, rows: &[NewAsset]) -> StoreResult<Vec<i64>>;
}

#[async_trait]
pub trait ServiceStore {
    async fn create_ticket(&self, actor: Actor, t: &NewTicket) -> StoreResult<Ticket>;
    async fn get_ticket(&self, id: i64) -> StoreResult<Ticket>;
    /// Refuses a status change that `TicketStatus::next` does not allow (`Conflict` on `status`).
    async fn update_ticket(&self, actor: Actor, id: i64, p: &TicketPatch) -> StoreResult<Ticket>;
    /// Newest first.
    async fn list_tickets(&self, q: &TicketQuery) -> StoreResult<Vec<Ticket>>;
    async fn create_repair_order(&self, actor: Actor, r: &NewRepairOrder) -> StoreResult<RepairOrder>;
    /// Files a call (note, ticket, repair order) in one transaction, once per `call_id`: a
    /// repeat with the same fingerprint, concurrent or later, gets the first answer (`replayed`);
    /// a different form for a filed call is a `Conflict` on `call_id`.
    async fn wrap_up_call(&self, actor: Actor, w: &NewWrapUp) -> StoreResult<WrapUpRecord>;
    async fn get_repair_order(&self, id: i64) -> StoreResult<RepairOrder>;
    async fn update_repair_order(&self, actor: Actor, id: i64, p: &RepairOrderPatch) -> StoreResult<RepairOrder>;
    async fn list_repair_orders(&self, q: &RepairOrderQuery) -> StoreResult<Vec<RepairOrder>>;
    async fn create_complaint(&self, actor: Actor, c: &NewComplaint) -> StoreResult<Complaint>;
    async fn get_complaint(&self, id: i64) -> StoreResult<Complaint>;
    async fn update_complaint(&self, actor: Actor, id: i64, p: &ComplaintPatch) -> StoreResult<Complaint>;
    async fn list_complaints(&self, customer_id: Option<i64>, limit: u32) -> StoreResult<Vec<Complaint>>;
    /// Complaints matching every filter given, newest first.
    async fn search_complaints(&self, q: &crate::reports::ComplaintQuery) -> StoreResult<Vec<Complaint>>;
    /// Complaints raised in the period by cause, station or model (`stations`: only complaints
    /// about those stations' repairs); open and overdue as of `today`.
    async fn complaints_report(
        &self,
        period: crate::reports::Period,
        by: crate::reports::ComplaintsBy,
        stations: Option<&[i64]>,
        today: NaiveDate,
    ) -> StoreResult<Vec<crate::reports::ComplaintsRow>>;
    /// Escalate, once, every complaint still open or in progress whose due date is before
    /// `today`; returns those escalated now.
    async fn escalate_overdue_complaints(
        &self,
        actor: Actor,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Complaint>>;
}

#[async_trait]
pub trait NetworkStore {
    async fn create_station(&self, actor: Actor, s: &NewStation) -> StoreResult<Station>;
    async fn get_station(&self, id: i64) -> StoreResult<Station>;
    async fn update_station(&self, actor: Actor, id: i64, p: &StationPatch) -> StoreResult<Station>;
    /// Move a station in its lifecycle (`StationStatus::can_become`; else `Conflict` on
    /// `status`). A station that stops taking work gives its open orders not yet started back to
    /// dispatch, with the reason. Asking for the status it has changes nothing.
    async fn set_station_status(
        &self,
        actor: Actor,
        id: i64,
        change: &StationStatusChange,
    ) -> StoreResult<StationStatusChanged>;
    async fn list_stations(&self) -> StoreResult<Vec<Station>>;
    /// The station takes an order dispatch gave it (`NotFound` unless the order is open and at
    /// this station). Accepting again changes nothing.
    async fn accept_order(
        &self,
        actor: Actor,
        station_id: i64,
        repair_order_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<RepairOrder>;
    /// The station declines an order not yet started: it goes back to dispatch (no station, no
    /// technician, `new`, the reason as why), and dispatch never gives it to this station again.
    async fn decline_order(
        &self,
        actor: Actor,
        station_id: i64,
        repair_order_id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<RepairOrder>;
    /// The stations that declined an order.
    async fn declined_stations(&self, repair_order_id: i64) -> StoreResult<Vec<i64>>;
    async fn create_technician(&self, actor: Actor, t: &NewTechnician) -> StoreResult<Technician>;
    async fn get_technician(&self, id: i64) -> StoreResult<Technician>;
    async fn update_technician(&self, actor: Actor, id: i64, p: &TechnicianPatch) -> StoreResult<Technician>;
    async fn list_technicians(&self, station_id: Option<i64>) -> StoreResult<Vec<Technician>>;
    /// Applies one movement to the station's ledger; refuses (`Conflict` on `delta`) one that would
    /// take the quantity below zero.
    async fn record_stock_movement(
        &self,
        actor: Actor,
        station_id: i64,
        m: &NewStockMovement,
    ) -> StoreResult<StockMovement>;
    async fn stock_levels(&self, station_id: i64) -> StoreResult<Vec<StockLevel>>;
    /// Newest first.
    async fn stock_movements(&self, station_id: i64, limit: u32) -> StoreResult<Vec<StockMovement>>;
}

#[async_trait]
pub trait UserStore {
    async fn create_user(&self, actor: Actor, u: &NewUserRecord) -> StoreResult<User>;
    async fn get_user(&self, id: i64) -> StoreResult<User>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// The user and their password hash, for login.
    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>>;
    async fn create_session(&self, token_hash: &str, user_id: i64, expires_at: DateTime<Utc>) -> StoreResult<()>;
    /// The user behind a live session.
    async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<User>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Replace a user's agent skills (sorted by name in the answer). Invalid lists are refused.
    async fn set_agent_skills(&self, actor: Actor, user_id: i64, skills: &[AgentSkill])
        -> StoreResult<Vec<AgentSkill>>;
    /// A user's agent skills, sorted by name.
    async fn agent_skills(&self, user_id: i64) -> StoreResult<Vec<AgentSkill>>;
    async fn record_audit(
        &self,
        actor: Actor,
        action: &str,
        entity: &str,
        entity_id: Option<i64>,
        detail: serde_json::Value,
    ) -> StoreResult<()>;
    /// Newest first.
    async fn list_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>>;
}

/// Call detail records.
#[async_trait]
pub trait CallStore {
    /// Write a call record. One with a voicemail also raises the agent task to call back (in the
    /// same transaction: a message is never left without its task).
    async fn insert_cdr(&self, cdr: &NewCdr) -> StoreResult<Cdr>;
    async fn get_cdr(&self, id: i64) -> StoreResult<Cdr>;
    /// Newest first (by start time).
    async fn list_cdrs(&self, limit: u32) -> StoreResult<Vec<Cdr>>;
}

/// Field work: technicians' tasks, dispatch decisions, stock transfers and stocktakes.
#[async_trait]
pub trait FieldStore {
    /// A technician's tasks: open repair orders assigned to them, and those they finished since
    /// `finished_since`. Ordered by planned start (unscheduled last), then id.
    async fn tech_tasks(&self, technician_id: i64, finished_since: DateTime<Utc>) -> StoreResult<Vec<Task>>;
    /// One task; `NotFound` unless the repair order is assigned to this technician.
    async fn tech_task(&self, technician_id: i64, repair_order_id: i64) -> StoreResult<Task>;
    /// Apply one write to a technician's own task (`NotFound` otherwise) in one transaction with
    /// its effects (repair order status, stock ledger) and, when given, the idempotency record: a
    /// key seen before with the same fingerprint is answered with the stored task and changes
    /// nothing; with another fingerprint it is a `Conflict` on `Idempotency-Key`.
    async fn task_write(
        &self,
        actor: Actor,
        technician_id: i64,
        repair_order_id: i64,
        idempotency: Option<&Idempotency>,
        w: &TaskWrite,
    ) -> StoreResult<Task>;
    /// Record where a technician is. A report older than the last one is ignored (`false`).
    async fn record_position(&self, technician_id: i64, at: GeoPoint, time: DateTime<Utc>) -> StoreResult<bool>;
    /// Apply dispatch's decision. Assigning moves a `new` (or not yet started) order to
    /// `assigned`; started work is never reassigned (`Conflict` on `technician_id`).
    async fn set_dispatch(&self, actor: Actor, repair_order_id: i64, d: &DispatchDecision) -> StoreResult<RepairOrder>;
    /// Open repair orders (new, assigned, in progress), oldest first, at most `limit`.
    async fn open_repair_orders(&self, limit: u32) -> StoreResult<Vec<RepairOrder>>;
    /// Where each order's visit is and the product line it needs, in one pass (ids not found
    /// are left out).
    async fn order_sites(&self, ids: &[i64]) -> StoreResult<Vec<OrderSite>>;
    /// Move parts between stations: two movements referencing one transfer, or nothing.
    async fn transfer_stock(&self, actor: Actor, t: &NewTransfer) -> StoreResult<Transfer>;
    /// Book counted quantities: each variance becomes a `stocktake` movement.
    async fn stocktake(&self, actor: Actor, station_id: i64, t: &NewStocktake) -> StoreResult<Stocktake>;
    /// Every station's parts below their safety stock.
    async fn stock_alerts(&self) -> StoreResult<Vec<StockLevel>>;
}

/// Satisfaction callbacks: the outbox written with each completion, leases for the nodes that
/// dial, attempts recorded before dialling, and the survey's answers. Times are passed in.
#[async_trait]
pub trait CallbackStore {
    /// Lease up to `limit` pending jobs due by `now` whose lease is free or expired to `node`
    /// until `now + lease_seconds`; two nodes never hold the same job (PostgreSQL: `FOR UPDATE
    /// SKIP LOCKED`). Oldest due first.
    async fn claim_callbacks(
        &self,
        node: &str,
        now: DateTime<Utc>,
        lease_seconds: u32,
        limit: u32,
    ) -> StoreResult<Vec<crate::callback::CallbackJob>>;
    /// Extend `node`'s lease on a job it is calling to `now + lease_seconds` (a call may outlast
    /// the first lease); `Conflict` when the lease was lost.
    async fn renew_callback(&self, node: &str, job_id: i64, now: DateTime<Utc>, lease_seconds: u32) -> StoreResult<()>;
    /// Record the job's next attempt under its idempotency key before it is placed; `Conflict`
    /// when `node` no longer holds the lease (it expired and another node took the job).
    async fn begin_attempt(
        &self,
        node: &str,
        job_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::callback::CallbackAttempt>;
    /// Record how an attempt ended and what becomes of its job; the lease is released.
    async fn finish_attempt(
        &self,
        attempt_id: i64,
        outcome: crate::callback::Outcome,
        now: DateTime<Utc>,
        after: crate::callback::AfterAttempt,
    ) -> StoreResult<crate::callback::CallbackJob>;
    /// A leased job that is not to be dialled now: wait until `after` (`Retry`) or end it; the
    /// lease is released. `Conflict` when `node` does not hold the lease.
    async fn defer_callback(
        &self,
        node: &str,
        job_id: i64,
        now: DateTime<Utc>,
        after: crate::callback::AfterAttempt,
    ) -> StoreResult<crate::callback::CallbackJob>;
    /// Attempts left without an outcome on jobs whose lease expired by `now` (their node died):
    /// marked `in_doubt`, never placed again. Returns how many.
    async fn recover_callbacks(&self, now: DateTime<Utc>) -> StoreResult<u32>;
    /// Attempts on the customer's callbacks started at or after `since` (the daily limit).
    async fn customer_attempts_since(&self, customer_id: i64, since: DateTime<Utc>) -> StoreResult<u32>;
    async fn callback_job(&self, id: i64) -> StoreResult<crate::callback::CallbackJob>;
    async fn callback_for_order(&self, repair_order_id: i64) -> StoreResult<Option<crate::callback::CallbackJob>>;
    async fn callback_attempts(&self, job_id: i64) -> StoreResult<Vec<crate::callback::CallbackAttempt>>;
    /// Record a survey for a completed order (once per order: `Conflict` after that), with the
    /// order's station and technician, and end its callback job as `done`.
    async fn record_survey(
        &self,
        actor: Actor,
        s: &crate::callback::NewSurvey,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::callback::SurveyResult>;
    /// The survey of a repair order, with the complaint a poor answer opened.
    async fn survey_for_order(&self, repair_order_id: i64) -> StoreResult<Option<crate::callback::SurveyResult>>;
    async fn station_score(&self, station_id: i64) -> StoreResult<crate::callback::Score>;
    async fn technician_score(&self, technician_id: i64) -> StoreResult<crate::callback::Score>;
}

/// Agent tasks: raised once per cause, claimed by one agent, finished with an outcome.
#[async_trait]
pub trait CareStore {
    /// Raise tasks; a task whose source has raised one already is skipped. Returns how many
    /// were added.
    async fn raise_tasks(&self, tasks: &[crate::care::NewAgentTask], now: DateTime<Utc>) -> StoreResult<u32>;
    async fn agent_task(&self, id: i64) -> StoreResult<crate::care::AgentTask>;
    /// Open and claimed tasks (or those of `q.status`), due first.
    async fn list_agent_tasks(&self, q: &crate::care::AgentTaskQuery) -> StoreResult<Vec<crate::care::AgentTask>>;
    /// Take an open task (or one this user holds already); `Conflict` when another agent holds
    /// it or it is done.
    async fn claim_agent_task(&self, user_id: i64, id: i64, now: DateTime<Utc>) -> StoreResult<crate::care::AgentTask>;
    /// Customers and assets that may call for a reminder of `kind` from `today` to
    /// `horizon_days` ahead (a coarse pick; `care::reminder` decides). Customers on the
    /// do-not-call list are left out.
    async fn care_candidates(
        &self,
        kind: crate::care::AgentTaskKind,
        today: NaiveDate,
        horizon_days: u32,
    ) -> StoreResult<Vec<crate::care::CareCandidate>>;
    /// A campaign and its tasks, in one transaction. Each reminder is raised once whoever
    /// raises it: one already open without a campaign joins this one, one raised otherwise is
    /// left alone. A campaign that would hold no task (every reminder is in a task already, as
    /// when the same campaign is started twice) is refused: `Conflict` on `kind`.
    async fn create_campaign(
        &self,
        actor: Actor,
        c: &crate::care::NewCampaign,
        tasks: &[crate::care::NewAgentTask],
        now: DateTime<Utc>,
    ) -> StoreResult<crate::care::Campaign>;
    /// A campaign with its progress.
    async fn campaign(&self, id: i64) -> StoreResult<crate::care::Campaign>;
    async fn list_campaigns(&self, limit: u32) -> StoreResult<Vec<crate::care::Campaign>>;
    /// Finish a task this user holds (`Conflict` otherwise), with its outcome.
    async fn finish_agent_task(
        &self,
        user_id: i64,
        id: i64,
        f: &crate::care::TaskFinish,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::care::AgentTask>;
}

/// Warranty claims: bills of materials and standard times they are drafted from, the claims,
/// their review, appeal and old-part returns. Every write locks the claim and writes its audit
/// entry in one transaction.
#[async_trait]
pub trait ClaimStore {
    /// Replace a model's bill of materials; answers it sorted.
    async fn set_bill_of_materials(&self, actor: Actor, model_id: i64, part_ids: &[i64]) -> StoreResult<Vec<i64>>;
    async fn bill_of_materials(&self, model_id: i64) -> StoreResult<Vec<i64>>;
    /// Add the next version of a model's standard time for a code.
    async fn add_standard_time(
        &self,
        actor: Actor,
        t: &crate::claims::NewStandardTime,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::claims::StandardTime>;
    /// Every version, by model, code, then version.
    async fn standard_times(&self, model_id: Option<i64>) -> StoreResult<Vec<crate::claims::StandardTime>>;
    /// Draft and file the claim for a completed warranty repair. Submitting it again, at once or
    /// later, answers the claim there is (`true`: replayed) and changes nothing.
    async fn submit_claim(
        &self,
        actor: Actor,
        c: &crate::claims::NewClaim,
        rules: &crate::claims::ClaimRules,
        now: DateTime<Utc>,
    ) -> StoreResult<(crate::claims::Claim, bool)>;
    async fn get_claim(&self, id: i64) -> StoreResult<crate::claims::Claim>;
    /// Newest first, with their lines.
    async fn list_claims(&self, q: &crate::claims::ClaimQuery) -> StoreResult<Vec<crate::claims::Claim>>;
    /// Decide one line (`claims::decide`). The same decision again changes nothing.
    async fn review_line(
        &self,
        actor: Actor,
        claim_id: i64,
        line_id: i64,
        r: &crate::claims::Review,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::claims::Claim>;
    /// The station's one appeal: reopens the cut and rejected lines.
    async fn appeal_claim(
        &self,
        actor: Actor,
        claim_id: i64,
        a: &crate::claims::Appeal,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::claims::Claim>;
    /// Move a line's old-part return one step (`claims::return_step`).
    async fn return_step(
        &self,
        actor: Actor,
        claim_id: i64,
        line_id: i64,
        s: &crate::claims::ReturnStep,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::claims::Claim>;
    /// Claims completed in the period, grouped; `stations`: only these stations' claims (a
    /// scoped user's), `None` for every station.
    async fn claims_report(
        &self,
        period: crate::reports::Period,
        by: crate::claims::ClaimsBy,
        stations: Option<&[i64]>,
    ) -> StoreResult<Vec<crate::claims::ClaimsRow>>;
}

/// The parts supply chain: warehouses and their ledger, per-station safety stock, parts orders
/// from stations, and what replenishment needs to know. Every step of an order locks it and
/// moves the stock it moves in its transaction.
#[async_trait]
pub trait SupplyStore {
    async fn create_warehouse(
        &self,
        actor: Actor,
        w: &crate::supply::NewWarehouse,
    ) -> StoreResult<crate::supply::Warehouse>;
    async fn list_warehouses(&self) -> StoreResult<Vec<crate::supply::Warehouse>>;
    /// One movement in the warehouse's ledger; `Conflict` on `delta` below zero.
    async fn record_warehouse_movement(
        &self,
        actor: Actor,
        warehouse_id: i64,
        m: &crate::supply::NewWarehouseMovement,
    ) -> StoreResult<crate::supply::WarehouseStock>;
    async fn warehouse_stock(&self, warehouse_id: i64) -> StoreResult<Vec<crate::supply::WarehouseStock>>;
    /// A station's own safety stock for a part (`None`: the part's).
    async fn set_safety_stock(&self, actor: Actor, station_id: i64, s: &crate::supply::SafetyStock) -> StoreResult<()>;
    /// A station asks a warehouse for parts. With a `request_key` seen before at the station the
    /// first order is answered (`true`) and nothing changes.
    async fn request_parts(
        &self,
        actor: Actor,
        n: &crate::supply::NewPartsOrder,
        repair_order_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<(crate::supply::PartsOrder, bool)>;
    async fn parts_order(&self, id: i64) -> StoreResult<crate::supply::PartsOrder>;
    /// Newest first; `stations` limits them (a scoped user's).
    async fn list_parts_orders(
        &self,
        stations: Option<&[i64]>,
        open_only: bool,
        limit: u32,
    ) -> StoreResult<Vec<crate::supply::PartsOrder>>;
    async fn approve_parts_order(
        &self,
        actor: Actor,
        id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::supply::PartsOrder>;
    /// Takes the shipped parts out of the warehouse (`Conflict` on `lines` when it lacks them).
    async fn ship_parts_order(
        &self,
        actor: Actor,
        id: i64,
        s: &crate::supply::Shipment,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::supply::PartsOrder>;
    /// Books what arrived into the station's stock, differences noted per line.
    async fn receive_parts_order(
        &self,
        actor: Actor,
        id: i64,
        r: &crate::supply::Receipt,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::supply::PartsOrder>;
    async fn cancel_parts_order(&self, actor: Actor, id: i64) -> StoreResult<crate::supply::PartsOrder>;
    /// Every part at the station: on hand, safety stock, open orders' needs, in transit, used in
    /// the 30 days before `now`.
    async fn part_positions(
        &self,
        station_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<crate::supply::PartPosition>>;
}

/// Reports: aggregates over indexed columns and the per-repair facts written at completion.
#[async_trait]
pub trait ReportStore {
    /// Calls that reached a queue, per queue and interval and per agent, from the running sums
    /// each call record adds to (service level as judged when the call was answered).
    async fn call_center_report(
        &self,
        period: crate::reports::Period,
        interval: crate::reports::Interval,
    ) -> StoreResult<crate::reports::CallCenterReport>;
    /// Repairs completed in the period, grouped by model, serial batch, fault code or station.
    /// In this and the next two reports `stations` limits the figures to those stations' work
    /// (a regional supervisor's); `None`: every station.
    async fn service_report(
        &self,
        period: crate::reports::Period,
        by: crate::reports::Dimension,
        stations: Option<&[i64]>,
    ) -> StoreResult<Vec<crate::reports::ServiceRow>>;
    async fn station_ranking(
        &self,
        period: crate::reports::Period,
        stations: Option<&[i64]>,
    ) -> StoreResult<Vec<crate::reports::StationRank>>;
    async fn parts_report(
        &self,
        period: crate::reports::Period,
        by: crate::reports::PartsBy,
        stations: Option<&[i64]>,
    ) -> StoreResult<crate::reports::PartsReport>;
    /// Draft a station's settlement of the decided claims completed in the period and not yet
    /// settled (`Conflict` when there are none); not for days to come. A claim decided later
    /// goes to the next settlement.
    async fn create_settlement(
        &self,
        actor: Actor,
        s: &crate::reports::NewSettlement,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::reports::Settlement>;
    async fn settlement(&self, id: i64) -> StoreResult<crate::reports::Settlement>;
    async fn list_settlements(
        &self,
        station_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<crate::reports::Settlement>>;
    /// Approve a draft; not by the user who drew it up (`Conflict`).
    async fn approve_settlement(
        &self,
        actor: Actor,
        id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::reports::Settlement>;
    /// The paid claim lines, by claim then line.
    async fn settlement_lines(&self, id: i64) -> StoreResult<Vec<crate::claims::PaidLine>>;
    /// Write the facts of up to `limit` completed repairs that have none (completed before the
    /// facts existed); returns how many.
    async fn backfill_repair_facts(&self, limit: u32) -> StoreResult<u32>;
}

/// The e-mail outbox: queued once per idempotency key, leased to one node to send, kept until
/// sent or given up (`crm_core::mail`).
#[async_trait]
pub trait MailStore {
    /// Queue a message; the one queued before under its key (and `true`) when there is one.
    async fn queue_mail(&self, m: &crate::mail::NewMail, now: DateTime<Utc>) -> StoreResult<(crate::mail::Mail, bool)>;
    /// Lease up to `limit` queued messages due by `now` whose lease is free or expired to
    /// `node` until `now + lease_seconds`, counting the attempt; oldest due first. Two nodes
    /// never hold one message (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    async fn claim_mail(
        &self,
        node: &str,
        now: DateTime<Utc>,
        lease_seconds: u32,
        limit: u32,
    ) -> StoreResult<Vec<crate::mail::Mail>>;
    /// Record an attempt's outcome; `Conflict` on `lease` when `node` no longer holds it.
    async fn finish_mail(
        &self,
        node: &str,
        id: i64,
        after: &crate::mail::Disposition,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::mail::Mail>;
    /// Newest first.
    async fn list_mail(
        &self,
        status: Option<crate::mail::MailStatus>,
        limit: u32,
    ) -> StoreResult<Vec<crate::mail::Mail>>;
    async fn mail_by_key(&self, key: &str) -> StoreResult<Option<crate::mail::Mail>>;
}

/// Early warning (`crm_core::quality`): the cells of a scan and the alerts it raises.
#[async_trait]
pub trait QualityStore {
    /// Every model × batch × fault code with at least `min_cases` repairs in the window's month:
    /// its repairs in the month and in the baseline, and its batch's exposure in each.
    async fn quality_cells(&self, w: &crate::quality::Window, min_cases: u32)
        -> StoreResult<Vec<crate::quality::Cell>>;
    /// Raise a finding unless its cause is open already (`None`), with the month's repair
    /// orders, and queue its e-mail to each of `recipients` in the same transaction.
    async fn raise_quality_alert(
        &self,
        f: &crate::quality::Finding,
        w: &crate::quality::Window,
        recipients: &[crate::types::Email],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<crate::quality::QualityAlert>>;
    /// Newest first; `open_only` leaves out closed ones.
    async fn list_quality_alerts(&self, open_only: bool, limit: u32) -> StoreResult<Vec<crate::quality::QualityAlert>>;
    /// Close with a note (closing again changes nothing); the cause may be raised again.
    async fn close_quality_alert(
        &self,
        actor: Actor,
        id: i64,
        note: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::quality::QualityAlert>;
}

/// Scheduled report subscriptions (`crm_core::subscriptions`).
#[async_trait]
pub trait SubscriptionStore {
    /// Subscribe; the existing subscription (and `true`) for the same report, frequency and
    /// address.
    async fn subscribe(
        &self,
        actor: Actor,
        n: &crate::subscriptions::NewSubscription,
        now: DateTime<Utc>,
    ) -> StoreResult<(crate::subscriptions::Subscription, bool)>;
    async fn subscriptions(&self) -> StoreResult<Vec<crate::subscriptions::Subscription>>;
    async fn unsubscribe(&self, actor: Actor, id: i64) -> StoreResult<()>;
    /// Record that the period starting `period_from` was sent (never moves back).
    async fn mark_subscription_sent(&self, id: i64, period_from: chrono::NaiveDate) -> StoreResult<()>;
}

/// Dealers and registered sales (`crm_core::sales`).
#[async_trait]
pub trait SalesStore {
    async fn create_dealer(&self, actor: Actor, d: &crate::sales::NewDealer) -> StoreResult<crate::sales::Dealer>;
    async fn get_dealer(&self, id: i64) -> StoreResult<crate::sales::Dealer>;
    async fn list_dealers(&self) -> StoreResult<Vec<crate::sales::Dealer>>;
    async fn update_dealer(
        &self,
        actor: Actor,
        id: i64,
        p: &crate::sales::DealerPatch,
    ) -> StoreResult<crate::sales::Dealer>;
    /// Register a sale: the asset by VIN or serial, its owner becomes the buyer, its warranty
    /// starts on the sale date. The same registration again answers the sale on record (and
    /// `false`); a different one for an asset already sold is a conflict.
    async fn register_sale(
        &self,
        actor: Actor,
        s: &crate::sales::NewSale,
        today: chrono::NaiveDate,
    ) -> StoreResult<(crate::sales::Sale, bool)>;
    async fn sale_for_asset(&self, asset_id: i64) -> StoreResult<Option<crate::sales::Sale>>;
    /// What a dealer sold (newest first), each with its repairs and complaints since.
    async fn dealer_vehicles(&self, dealer_id: i64, limit: u32) -> StoreResult<Vec<crate::sales::SoldAsset>>;
    /// After-sales figures per dealer (one dealer, or every one).
    async fn dealer_report(
        &self,
        period: &crate::reports::Period,
        dealer_id: Option<i64>,
    ) -> StoreResult<Vec<crate::sales::DealerRow>>;
}

/// Paid repairs: quotes, invoices and payments (`crm_core::billing`).
#[async_trait]
pub trait BillingStore {
    /// Price a new version of the repair order's quote; it supersedes the one before. The same
    /// lines as the current quote answer that quote (and `false`).
    async fn create_quote(
        &self,
        actor: Actor,
        repair_order_id: i64,
        q: &crate::billing::QuoteRequest,
        rules: &crate::billing::BillingRules,
        now: DateTime<Utc>,
    ) -> StoreResult<(crate::billing::Quote, bool)>;
    async fn quotes(&self, repair_order_id: i64) -> StoreResult<Vec<crate::billing::Quote>>;
    /// Record the customer's acceptance of the current quote; accepting it again answers it.
    async fn accept_quote(
        &self,
        actor: Actor,
        repair_order_id: i64,
        quote_id: i64,
        a: &crate::billing::NewAcceptance,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::billing::Quote>;
    async fn invoice(&self, id: i64) -> StoreResult<crate::billing::Invoice>;
    async fn invoice_for_order(&self, repair_order_id: i64) -> StoreResult<Option<crate::billing::Invoice>>;
    /// Invoices, newest first: a station's (or all), only those with a balance when asked.
    async fn list_invoices(
        &self,
        station_id: Option<i64>,
        unpaid_only: bool,
        limit: u32,
    ) -> StoreResult<Vec<crate::billing::Invoice>>;
    /// Record a payment; the same `request_key` on the same invoice answers the first one.
    async fn record_payment(
        &self,
        actor: Actor,
        invoice_id: i64,
        p: &crate::billing::NewPayment,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::billing::Invoice>;
    /// Raise an agent task (once per invoice) for every invoice unpaid past its due date.
    async fn remind_overdue_invoices(&self, today: chrono::NaiveDate, now: DateTime<Utc>) -> StoreResult<u32>;
    async fn revenue_report(
        &self,
        period: &crate::reports::Period,
        by: crate::billing::RevenueBy,
        stations: Option<&[i64]>,
    ) -> StoreResult<Vec<crate::billing::RevenueRow>>;
}

/// Everything the service needs from storage.
#[async_trait]
pub trait Store:
    CustomerStore
    + CatalogStore
    + AssetStore
    + ServiceStore
    + NetworkStore
    + UserStore
    + CallStore
    + FieldStore
    + CallbackStore
    + CareStore
    + ReportStore
    + ClaimStore
    + SupplyStore
    + MailStore
    + QualityStore
    + SubscriptionStore
    + SalesStore
    + BillingStore
    + Send
    + Sync
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Succeeds once the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// True when no customer, model or user exists yet (the demo seeds only such a database).
    async fn is_empty(&self) -> StoreResult<bool>;
}
