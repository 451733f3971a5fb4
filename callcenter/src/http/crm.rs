//! CRUD and search for the CRM entities under `/api/v1`. Each handler checks the role first, then
//! parses (the extractors refuse bad input), then calls the store. Technicians see only their own
//! repair orders and technician record: another's is 404, not 403, so ids do not leak.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use crm_core::model::*;
use crm_core::screen_pop::{asset_view, screen_pop as build_screen_pop, Lookup};
use crm_core::types::{PhoneNumber, SerialNumber, SkillName};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{hash_password, AuthUser, Scope, ADMIN, ALL, MANAGERS, STAFF};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Id, Params};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, update_customer))
        .routes(routes!(list_interactions, add_interaction))
        .routes(routes!(customer_assets))
        .routes(routes!(screen_pop))
        .routes(routes!(list_models, create_model))
        .routes(routes!(get_model))
        .routes(routes!(find_assets, create_asset))
        .routes(routes!(get_asset, update_asset))
        .routes(routes!(add_contract))
        .routes(routes!(list_tickets, create_ticket))
        .routes(routes!(get_ticket, update_ticket))
        .routes(routes!(list_repair_orders, create_repair_order))
        .routes(routes!(get_repair_order, update_repair_order))
        .routes(routes!(list_complaints, create_complaint))
        .routes(routes!(get_complaint, update_complaint))
        .routes(routes!(list_stations, create_station))
        .routes(routes!(get_station, update_station))
        .routes(routes!(stock_levels, record_stock_movement))
        .routes(routes!(stock_movements))
        .routes(routes!(list_technicians, create_technician))
        .routes(routes!(get_technician, update_technician))
        .routes(routes!(list_parts, create_part))
        .routes(routes!(get_part))
        .routes(routes!(search_articles, create_article))
        .routes(routes!(get_article, update_article, delete_article))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_agent_skills, set_agent_skills))
        .routes(routes!(list_audit))
        .routes(routes!(list_cdrs))
        .routes(routes!(get_voicemail))
        .routes(routes!(place_call))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCall {
    /// An E.164 number (sent to the configured trunk) or `sip:user@IP:port`.
    to: String,
    /// The IVR flow to run when the call is answered (its `[flow] name`).
    flow: String,
}

#[derive(Serialize, ToSchema)]
pub struct PlacedCall {
    /// The SIP Call-ID; the call record carries it when the call ends.
    call_id: String,
}

/// Place an outbound call that runs an IVR flow once answered (satisfaction callbacks and other
/// automated calls). Answers as soon as the INVITE is sent; the outcome is in the call record.
#[utoipa::path(post, path = "/api/v1/calls", tag = "calls", request_body = NewCall, security(("bearer" = [])),
    responses((status = 202, body = PlacedCall), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn place_call(
    State(st): State<AppState>,
    me: AuthUser,
    Body(c): Body<NewCall>,
) -> ApiResult<(StatusCode, Json<PlacedCall>)> {
    me.require(MANAGERS)?;
    let Some(dialer) = &st.dialer else {
        return Err(ApiError::unavailable("the voice front end is not running"));
    };
    match dialer.dial(&c.to, &c.flow).await {
        Ok(call_id) => Ok((StatusCode::ACCEPTED, Json(PlacedCall { call_id }))),
        Err(voice::DialError::Invalid(field, message)) => Err(ApiError::invalid(field, message)),
        Err(voice::DialError::Unavailable(message)) => Err(ApiError::unavailable(message)),
    }
}

/// Call detail records, newest first: one per call, with the IVR path (`ivr_path`, node names
/// joined by `>`) and the DTMF digits received (`dtmf`).
#[utoipa::path(get, path = "/api/v1/cdrs", tag = "calls", params(LimitParam), security(("bearer" = [])),
    responses((status = 200, body = Vec<Cdr>), (status = 400, body = ErrorBody)))]
async fn list_cdrs(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<LimitParam>,
) -> ApiResult<Json<Vec<Cdr>>> {
    me.require(STAFF)?;
    Ok(Json(st.store.list_cdrs(limit(p.limit, 20, 200)?).await?))
}

/// The message a caller left on this call (mono WAV, 8 kHz), for staff: agents play it from the
/// voicemail's task before calling back.
#[utoipa::path(get, path = "/api/v1/cdrs/{id}/voicemail", tag = "calls", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 200, content_type = "audio/wav", description = "The recording (WAV)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn get_voicemail(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    me.require(STAFF)?;
    let cdr = st.store.get_cdr(id).await?;
    let path = cdr.call.voicemail.ok_or_else(|| ApiError::not_found("voicemail"))?;
    // Only files the switch wrote to the voicemail directory, whatever the record says.
    let path = std::path::PathBuf::from(path);
    let inside = match (
        tokio::fs::canonicalize(&path).await,
        tokio::fs::canonicalize(&st.settings.voicemail_dir).await,
    ) {
        (Ok(file), Ok(dir)) => file.starts_with(dir).then_some(file),
        _ => None,
    };
    let file = inside.ok_or_else(|| ApiError::not_found("voicemail"))?;
    let bytes = tokio::fs::read(file)
        .await
        .map_err(|_| ApiError::not_found("voicemail"))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "audio/wav"),
            (axum::http::header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        bytes,
    )
        .into_response())
}

type Created<T> = (StatusCode, Json<T>);

fn created<T>(v: T) -> Created<T> {
    (StatusCode::CREATED, Json(v))
}

fn today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}

/// A `limit` query parameter: default when absent, 400 outside 1..=max.
pub(super) fn limit(v: Option<u32>, default: u32, max: u32) -> ApiResult<u32> {
    match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request(
            Some("limit"),
            format!("limit must be 1 to {max}"),
        )),
    }
}

// ------------------------------------------------------------------------------------ customers

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerSearch {
    /// Part of a name or e-mail, or a phone number in any spelling.
    q: Option<String>,
    /// 1–200, default 20.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    offset: Option<u32>,
}

/// Search customers by name, e-mail or phone number; each result carries its phones.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(CustomerSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<Customer>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_customers(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<CustomerSearch>,
) -> ApiResult<Json<Vec<Customer>>> {
    me.require(STAFF)?;
    if p.q.as_ref().is_some_and(|q| q.len() > 200) {
        return Err(ApiError::bad_request(Some("q"), "at most 200 characters"));
    }
    let q = CustomerQuery {
        q: p.q,
        limit: limit(p.limit, 20, 200)?,
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(st.store.search_customers(&q).await?))
}

/// Create a customer with phones and addresses.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = NewCustomer, security(("bearer" = [])),
    responses((status = 201, body = Customer), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_customer(
    State(st): State<AppState>,
    me: AuthUser,
    Body(n): Body<NewCustomer>,
) -> ApiResult<Created<Customer>> {
    me.require(STAFF)?;
    n.validate(today())?;
    Ok(created(st.store.create_customer(me.actor(), &n).await?))
}

#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Customer), (status = 404, body = ErrorBody)))]
async fn get_customer(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Customer>> {
    me.require(STAFF)?;
    Ok(Json(st.store.get_customer(id).await?))
}

/// Change a customer; absent fields stay, `null` clears, lists are replaced whole.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = i64, Path)), request_body = CustomerPatch,
    security(("bearer" = [])), responses((status = 200, body = Customer), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_customer(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(p): Body<CustomerPatch>,
) -> ApiResult<Json<Customer>> {
    me.require(STAFF)?;
    p.validate(today())?;
    Ok(Json(st.store.update_customer(me.actor(), id, &p).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitParam {
    /// 1–200, default 20.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A customer's interaction history (calls, notes, e-mails), newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/interactions", tag = "customers", params(("id" = i64, Path), LimitParam),
    security(("bearer" = [])), responses((status = 200, body = Vec<Interaction>), (status = 404, body = ErrorBody)))]
async fn list_interactions(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Params(p): Params<LimitParam>,
) -> ApiResult<Json<Vec<Interaction>>> {
    me.require(STAFF)?;
    st.store.get_customer(id).await?;
    Ok(Json(st.store.list_interactions(id, limit(p.limit, 20, 200)?).await?))
}

#[utoipa::path(post, path = "/api/v1/customers/{id}/interactions", tag = "customers", params(("id" = i64, Path)),
    request_body = NewInteraction, security(("bearer" = [])),
    responses((status = 201, body = Interaction), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_interaction(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(n): Body<NewInteraction>,
) -> ApiResult<Created<Interaction>> {
    me.require(STAFF)?;
    Ok(created(st.store.add_interaction(me.actor(), id, &n).await?))
}

/// A customer's assets, each with today's warranty status.
#[utoipa::path(get, path = "/api/v1/customers/{id}/assets", tag = "assets", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<AssetView>), (status = 404, body = ErrorBody)))]
async fn customer_assets(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Vec<AssetView>>> {
    me.require(STAFF)?;
    st.store.get_customer(id).await?;
    let days = st.settings.screen_pop.expiring_within_days;
    let views = st
        .store
        .customer_assets(id)
        .await?
        .into_iter()
        .map(|a| asset_view(a, today(), days))
        .collect();
    Ok(Json(views))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScreenPopQuery {
    /// The caller's number in E.164 (`+4930123456`); give this or `serial`.
    #[param(value_type = Option<crm_core::types::PhoneNumber>, inline)]
    phone: Option<String>,
    /// A serial number or VIN.
    #[param(value_type = Option<crm_core::types::SerialNumber>, inline)]
    serial: Option<String>,
}

/// The customer 360 for a caller: customer, assets with warranty status, open and recent tickets,
/// repair orders and last contacts, from a phone number or a serial number.
#[utoipa::path(get, path = "/api/v1/screen-pop", tag = "customers", params(ScreenPopQuery), security(("bearer" = [])),
    responses((status = 200, body = ScreenPop), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn screen_pop(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<ScreenPopQuery>,
) -> ApiResult<Json<ScreenPop>> {
    me.require(STAFF)?;
    let lookup = match (p.phone, p.serial) {
        (Some(phone), None) => {
            Lookup::Phone(PhoneNumber::parse(&phone).map_err(|e| ApiError::bad_request(Some("phone"), e.0))?)
        }
        (None, Some(serial)) => {
            Lookup::Serial(SerialNumber::parse(&serial).map_err(|e| ApiError::bad_request(Some("serial"), e.0))?)
        }
        _ => {
            return Err(ApiError::bad_request(
                Some("phone"),
                "give exactly one of phone or serial",
            ))
        }
    };
    build_screen_pop(st.store.as_ref(), &lookup, today(), st.settings.screen_pop)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("customer"))
}

// ------------------------------------------------------------------------------------ products and assets

#[utoipa::path(get, path = "/api/v1/product-models", tag = "catalogue", security(("bearer" = [])),
    responses((status = 200, body = Vec<ProductModel>)))]
async fn list_models(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Vec<ProductModel>>> {
    me.require(&[
        Role::Admin,
        Role::Supervisor,
        Role::Agent,
        Role::Technician,
        Role::Reviewer,
    ])?;
    Ok(Json(st.store.list_models().await?))
}

/// Create a product model with its fault-code catalogue and warranty policy.
#[utoipa::path(post, path = "/api/v1/product-models", tag = "catalogue", request_body = NewProductModel, security(("bearer" = [])),
    responses((status = 201, body = ProductModel), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_model(
    State(st): State<AppState>,
    me: AuthUser,
    Body(m): Body<NewProductModel>,
) -> ApiResult<Created<ProductModel>> {
    me.require(MANAGERS)?;
    m.validate()?;
    Ok(created(st.store.create_model(me.actor(), &m).await?))
}

#[utoipa::path(get, path = "/api/v1/product-models/{id}", tag = "catalogue", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = ProductModel), (status = 404, body = ErrorBody)))]
async fn get_model(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<ProductModel>> {
    me.require(ALL)?;
    Ok(Json(st.store.get_model(id).await?))
}

async fn view_of(st: &AppState, asset: Asset) -> ApiResult<AssetView> {
    let m = st.store.get_model(asset.model_id).await?;
    let joined = AssetWithModel {
        asset,
        model_code: m.code,
        model_name: m.name,
        category: m.category,
        product_line: m.product_line,
        policy: m.warranty,
    };
    Ok(asset_view(joined, today(), st.settings.screen_pop.expiring_within_days))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssetSearch {
    /// Serial number or VIN.
    #[param(value_type = crm_core::types::SerialNumber, inline)]
    serial: String,
}

/// Find an asset by serial number or VIN (an empty list when none matches).
#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", params(AssetSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<AssetView>), (status = 400, body = ErrorBody)))]
async fn find_assets(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<AssetSearch>,
) -> ApiResult<Json<Vec<AssetView>>> {
    me.require(STAFF)?;
    let serial = SerialNumber::parse(&p.serial).map_err(|e| ApiError::bad_request(Some("serial"), e.0))?;
    let mut out = vec![];
    if let Some(a) = st.store.find_asset_by_serial(&serial).await? {
        out.push(view_of(&st, a).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(post, path = "/api/v1/assets", tag = "assets", request_body = NewAsset, security(("bearer" = [])),
    responses((status = 201, body = AssetView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_asset(
    State(st): State<AppState>,
    me: AuthUser,
    Body(a): Body<NewAsset>,
) -> ApiResult<Created<AssetView>> {
    me.require(STAFF)?;
    a.validate(today())?;
    let asset = st.store.create_asset(me.actor(), &a).await?;
    Ok(created(view_of(&st, asset).await?))
}

/// An asset with its model and today's warranty status (and the rule that decided it).
#[utoipa::path(get, path = "/api/v1/assets/{id}", tag = "assets", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = AssetView), (status = 404, body = ErrorBody)))]
async fn get_asset(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<AssetView>> {
    me.require(STAFF)?;
    let a = st.store.get_asset(id).await?;
    Ok(Json(view_of(&st, a).await?))
}

#[utoipa::path(patch, path = "/api/v1/assets/{id}", tag = "assets", params(("id" = i64, Path)), request_body = AssetPatch,
    security(("bearer" = [])), responses((status = 200, body = AssetView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_asset(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(p): Body<AssetPatch>,
) -> ApiResult<Json<AssetView>> {
    me.require(STAFF)?;
    let a = st.store.update_asset(me.actor(), id, &p).await?;
    Ok(Json(view_of(&st, a).await?))
}

/// Add an extended service contract to an asset.
#[utoipa::path(post, path = "/api/v1/assets/{id}/contracts", tag = "assets", params(("id" = i64, Path)),
    request_body = NewServiceContract, security(("bearer" = [])),
    responses((status = 201, body = AssetView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_contract(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(c): Body<NewServiceContract>,
) -> ApiResult<Created<AssetView>> {
    me.require(STAFF)?;
    c.validate()?;
    let a = st.store.add_contract(me.actor(), id, &c).await?;
    Ok(created(view_of(&st, a).await?))
}

// ------------------------------------------------------------------------------------ tickets

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketSearch {
    customer_id: Option<i64>,
    status: Option<TicketStatus>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Service requests, newest first.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "service", params(TicketSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<Ticket>), (status = 400, body = ErrorBody)))]
async fn list_tickets(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<TicketSearch>,
) -> ApiResult<Json<Vec<Ticket>>> {
    me.require(STAFF)?;
    let q = TicketQuery {
        customer_id: p.customer_id,
        status: p.status,
        limit: limit(p.limit, 50, 200)?,
    };
    Ok(Json(st.store.list_tickets(&q).await?))
}

#[utoipa::path(post, path = "/api/v1/tickets", tag = "service", request_body = NewTicket, security(("bearer" = [])),
    responses((status = 201, body = Ticket), (status = 422, body = ErrorBody)))]
async fn create_ticket(
    State(st): State<AppState>,
    me: AuthUser,
    Body(t): Body<NewTicket>,
) -> ApiResult<Created<Ticket>> {
    me.require(STAFF)?;
    Ok(created(st.store.create_ticket(me.actor(), &t).await?))
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "service", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Ticket), (status = 404, body = ErrorBody)))]
async fn get_ticket(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Ticket>> {
    me.require(STAFF)?;
    Ok(Json(st.store.get_ticket(id).await?))
}

/// Change a ticket; a status change must follow the flow (409 names the allowed next statuses).
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "service", params(("id" = i64, Path)), request_body = TicketPatch,
    security(("bearer" = [])), responses((status = 200, body = Ticket), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_ticket(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(p): Body<TicketPatch>,
) -> ApiResult<Json<Ticket>> {
    me.require(STAFF)?;
    Ok(Json(st.store.update_ticket(me.actor(), id, &p).await?))
}

// ------------------------------------------------------------------------------------ repair orders

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RepairOrderSearch {
    customer_id: Option<i64>,
    station_id: Option<i64>,
    technician_id: Option<i64>,
    status: Option<RepairStatus>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Repair orders, newest first. A technician sees only their own.
#[utoipa::path(get, path = "/api/v1/repair-orders", tag = "service", params(RepairOrderSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<RepairOrder>)))]
async fn list_repair_orders(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<RepairOrderSearch>,
) -> ApiResult<Json<Vec<RepairOrder>>> {
    me.require(ALL)?;
    let mut q = RepairOrderQuery {
        customer_id: p.customer_id,
        station_id: p.station_id,
        technician_id: p.technician_id,
        status: p.status,
        limit: limit(p.limit, 50, 200)?,
    };
    if me.is(Role::Technician) {
        match me.user.technician_id {
            Some(own) if p.technician_id.is_none_or(|t| t == own) => q.technician_id = Some(own),
            _ => return Ok(Json(vec![])),
        }
    }
    let region = me.region(&st).await?;
    let mut orders = st.store.list_repair_orders(&q).await?;
    orders.retain(|o| o.station_id.is_none_or(|s| region.allows(s)));
    Ok(Json(orders))
}

/// Open a repair order from a service request (the asset defaults to the ticket's). Unless a
/// technician is given, it is assigned to the best candidate at once (or carries the reason why
/// nobody can take it).
#[utoipa::path(post, path = "/api/v1/repair-orders", tag = "service", request_body = NewRepairOrder, security(("bearer" = [])),
    responses((status = 201, body = RepairOrder), (status = 422, body = ErrorBody)))]
async fn create_repair_order(
    State(st): State<AppState>,
    me: AuthUser,
    Body(r): Body<NewRepairOrder>,
) -> ApiResult<Created<RepairOrder>> {
    me.require(STAFF)?;
    let mut r = r;
    if let Some(ap) = &r.appointment {
        ap.validate("appointment").map_err(ApiError::from)?;
        super::dispatch::bookable(&st, r.technician_id, ap).await?;
    }
    if let Some(id) = r.technician_id {
        // Named at once: the same checks as assigning by hand, and a visit time (the
        // appointment, else when the technician next works) so the order is in a route.
        r.scheduled_for = super::dispatch::check_named(&st, id, &r).await?;
    }
    let ro = st.store.create_repair_order(me.actor(), &r).await?;
    Ok(created(st.field.dispatch_new(me.actor(), ro, chrono::Utc::now()).await))
}

#[utoipa::path(get, path = "/api/v1/repair-orders/{id}", tag = "service", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = RepairOrder), (status = 404, body = ErrorBody)))]
async fn get_repair_order(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<RepairOrder>> {
    me.require(ALL)?;
    let ro = st.store.get_repair_order(id).await?;
    me.region(&st).await?.check_open(ro.station_id, "repair order")?;
    if me.is(Role::Technician) && (ro.technician_id.is_none() || ro.technician_id != me.user.technician_id) {
        return Err(ApiError::not_found("repair order"));
    }
    Ok(Json(ro))
}

#[utoipa::path(patch, path = "/api/v1/repair-orders/{id}", tag = "service", params(("id" = i64, Path)),
    request_body = RepairOrderPatch, security(("bearer" = [])),
    responses((status = 200, body = RepairOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_repair_order(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(p): Body<RepairOrderPatch>,
) -> ApiResult<Json<RepairOrder>> {
    me.require(STAFF)?;
    let region = me.region(&st).await?;
    if region != Scope::All {
        region.check_open(st.store.get_repair_order(id).await?.station_id, "repair order")?;
    }
    Ok(Json(st.store.update_repair_order(me.actor(), id, &p).await?))
}

// ------------------------------------------------------------------------------------ complaints

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ComplaintSearch {
    customer_id: Option<i64>,
    #[param(inline)]
    status: Option<crm_core::model::ComplaintStatus>,
    owner_user_id: Option<i64>,
    #[param(inline)]
    category: Option<crm_core::model::ComplaintCategory>,
    /// About a repair by this station.
    station_id: Option<i64>,
    /// About an asset of this model.
    model_id: Option<i64>,
    /// Only those still open past their due date.
    overdue: Option<bool>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Newest first, narrowed by every filter given (status, owner, category, station, model,
/// overdue).
#[utoipa::path(get, path = "/api/v1/complaints", tag = "service", params(ComplaintSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<Complaint>)))]
async fn list_complaints(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<ComplaintSearch>,
) -> ApiResult<Json<Vec<Complaint>>> {
    me.require(STAFF)?;
    let mine = me.region(&st).await?;
    if let Some(s) = p.station_id {
        if !mine.allows(s) {
            return Ok(Json(vec![]));
        }
    }
    let q = crm_core::reports::ComplaintQuery {
        customer_id: p.customer_id,
        status: p.status,
        owner_user_id: p.owner_user_id,
        category: p.category,
        station_id: p.station_id,
        model_id: p.model_id,
        overdue_on: p.overdue.unwrap_or(false).then(|| chrono::Utc::now().date_naive()),
        limit: limit(p.limit, 50, 200)?,
    };
    Ok(Json(st.store.search_complaints(&q).await?))
}

#[utoipa::path(post, path = "/api/v1/complaints", tag = "service", request_body = NewComplaint, security(("bearer" = [])),
    responses((status = 201, body = Complaint), (status = 422, body = ErrorBody)))]
async fn create_complaint(
    State(st): State<AppState>,
    me: AuthUser,
    Body(c): Body<NewComplaint>,
) -> ApiResult<Created<Complaint>> {
    me.require(STAFF)?;
    Ok(created(st.store.create_complaint(me.actor(), &c).await?))
}

#[utoipa::path(get, path = "/api/v1/complaints/{id}", tag = "service", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Complaint), (status = 404, body = ErrorBody)))]
async fn get_complaint(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Complaint>> {
    me.require(STAFF)?;
    Ok(Json(st.store.get_complaint(id).await?))
}

#[utoipa::path(patch, path = "/api/v1/complaints/{id}", tag = "service", params(("id" = i64, Path)), request_body = ComplaintPatch,
    security(("bearer" = [])), responses((status = 200, body = Complaint), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_complaint(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(p): Body<ComplaintPatch>,
) -> ApiResult<Json<Complaint>> {
    me.require(STAFF)?;
    Ok(Json(st.store.update_complaint(me.actor(), id, &p).await?))
}

// ------------------------------------------------------------------------------------ stations, technicians, parts

#[utoipa::path(get, path = "/api/v1/stations", tag = "network", security(("bearer" = [])), responses((status = 200, body = Vec<Station>)))]
async fn list_stations(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Vec<Station>>> {
    me.require(&[
        Role::Admin,
        Role::Supervisor,
        Role::Agent,
        Role::Technician,
        Role::Reviewer,
    ])?;
    let region = me.region(&st).await?;
    let stations = st.store.list_stations().await?;
    Ok(Json(
        stations
            .into_iter()
            .filter(|s| region.allows(s.id))
            .map(|s| partner_view(&me, s))
            .collect(),
    ))
}

/// Bank details and contract terms are for the manufacturer's managers and reviewers only.
fn partner_view(me: &AuthUser, mut s: Station) -> Station {
    if !matches!(me.user.role, Role::Admin | Role::Supervisor | Role::Reviewer) {
        s.partner.bank = None;
        s.partner.contract = None;
    }
    s
}

#[utoipa::path(post, path = "/api/v1/stations", tag = "network", request_body = NewStation, security(("bearer" = [])),
    responses((status = 201, body = Station), (status = 422, body = ErrorBody)))]
async fn create_station(
    State(st): State<AppState>,
    me: AuthUser,
    Body(s): Body<NewStation>,
) -> ApiResult<Created<Station>> {
    me.require(MANAGERS)?;
    s.validate()?;
    Ok(created(st.store.create_station(me.actor(), &s).await?))
}

#[utoipa::path(get, path = "/api/v1/stations/{id}", tag = "network", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Station), (status = 404, body = ErrorBody)))]
async fn get_station(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Station>> {
    me.require(&[
        Role::Admin,
        Role::Supervisor,
        Role::Agent,
        Role::Technician,
        Role::Reviewer,
    ])?;
    me.region(&st).await?.check(Some(id), "station")?;
    Ok(Json(partner_view(&me, st.store.get_station(id).await?)))
}

#[utoipa::path(patch, path = "/api/v1/stations/{id}", tag = "network", params(("id" = i64, Path)), request_body = StationPatch,
    security(("bearer" = [])), responses((status = 200, body = Station), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_station(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(p): Body<StationPatch>,
) -> ApiResult<Json<Station>> {
    me.require(MANAGERS)?;
    me.region(&st).await?.check(Some(id), "station")?;
    p.validate()?;
    Ok(Json(st.store.update_station(me.actor(), id, &p).await?))
}

/// Parts on hand at a station, flagged when below safety stock.
#[utoipa::path(get, path = "/api/v1/stations/{id}/stock", tag = "network", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<StockLevel>), (status = 404, body = ErrorBody)))]
async fn stock_levels(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Vec<StockLevel>>> {
    me.require(ALL)?;
    me.region(&st).await?.check(Some(id), "station")?;
    Ok(Json(st.store.stock_levels(id).await?))
}

/// Book a stock movement (receipt, consumption, transfer, stocktake); 409 if stock would go negative.
#[utoipa::path(post, path = "/api/v1/stations/{id}/stock", tag = "network", params(("id" = i64, Path)),
    request_body = NewStockMovement, security(("bearer" = [])),
    responses((status = 201, body = StockMovement), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_stock_movement(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(m): Body<NewStockMovement>,
) -> ApiResult<Created<StockMovement>> {
    me.require(MANAGERS)?;
    me.region(&st).await?.check(Some(id), "station")?;
    m.validate()?;
    Ok(created(st.store.record_stock_movement(me.actor(), id, &m).await?))
}

#[utoipa::path(get, path = "/api/v1/stations/{id}/stock/movements", tag = "network", params(("id" = i64, Path), LimitParam),
    security(("bearer" = [])), responses((status = 200, body = Vec<StockMovement>), (status = 404, body = ErrorBody)))]
async fn stock_movements(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Params(p): Params<LimitParam>,
) -> ApiResult<Json<Vec<StockMovement>>> {
    me.require(MANAGERS)?;
    me.region(&st).await?.check(Some(id), "station")?;
    Ok(Json(st.store.stock_movements(id, limit(p.limit, 20, 200)?).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TechnicianSearch {
    station_id: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/technicians", tag = "network", params(TechnicianSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<Technician>)))]
async fn list_technicians(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<TechnicianSearch>,
) -> ApiResult<Json<Vec<Technician>>> {
    me.require(STAFF)?;
    let region = me.region(&st).await?;
    let mut techs = st.store.list_technicians(p.station_id).await?;
    techs.retain(|t| region.allows(t.station_id));
    Ok(Json(techs))
}

#[utoipa::path(post, path = "/api/v1/technicians", tag = "network", request_body = NewTechnician, security(("bearer" = [])),
    responses((status = 201, body = Technician), (status = 422, body = ErrorBody)))]
async fn create_technician(
    State(st): State<AppState>,
    me: AuthUser,
    Body(t): Body<NewTechnician>,
) -> ApiResult<Created<Technician>> {
    me.require(MANAGERS)?;
    t.validate()?;
    Ok(created(st.store.create_technician(me.actor(), &t).await?))
}

/// A technician record; a technician may read only their own.
#[utoipa::path(get, path = "/api/v1/technicians/{id}", tag = "network", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Technician), (status = 404, body = ErrorBody)))]
async fn get_technician(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Technician>> {
    me.require(ALL)?;
    if me.is(Role::Technician) && me.user.technician_id != Some(id) {
        return Err(ApiError::not_found("technician"));
    }
    let t = st.store.get_technician(id).await?;
    me.region(&st).await?.check(Some(t.station_id), "technician")?;
    Ok(Json(t))
}

#[utoipa::path(patch, path = "/api/v1/technicians/{id}", tag = "network", params(("id" = i64, Path)), request_body = TechnicianPatch,
    security(("bearer" = [])), responses((status = 200, body = Technician), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_technician(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(p): Body<TechnicianPatch>,
) -> ApiResult<Json<Technician>> {
    me.require(MANAGERS)?;
    let region = me.region(&st).await?;
    if region != Scope::All {
        region.check(Some(st.store.get_technician(id).await?.station_id), "technician")?;
        if p.station_id.is_some_and(|s| !region.allows(s)) {
            return Err(ApiError::invalid("station_id", "not a station of your region"));
        }
    }
    p.validate()?;
    Ok(Json(st.store.update_technician(me.actor(), id, &p).await?))
}

#[utoipa::path(get, path = "/api/v1/parts", tag = "catalogue", security(("bearer" = [])), responses((status = 200, body = Vec<Part>)))]
async fn list_parts(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Vec<Part>>> {
    me.require(ALL)?;
    Ok(Json(st.store.list_parts().await?))
}

#[utoipa::path(post, path = "/api/v1/parts", tag = "catalogue", request_body = NewPart, security(("bearer" = [])),
    responses((status = 201, body = Part), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_part(State(st): State<AppState>, me: AuthUser, Body(p): Body<NewPart>) -> ApiResult<Created<Part>> {
    me.require(MANAGERS)?;
    p.validate()?;
    Ok(created(st.store.create_part(me.actor(), &p).await?))
}

#[utoipa::path(get, path = "/api/v1/parts/{id}", tag = "catalogue", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Part), (status = 404, body = ErrorBody)))]
async fn get_part(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Part>> {
    me.require(ALL)?;
    Ok(Json(st.store.get_part(id).await?))
}

// ------------------------------------------------------------------------------------ knowledge base

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArticleSearch {
    /// Words that must all appear in title, body or tags.
    q: Option<String>,
    /// Only articles for this product line (and general ones).
    #[param(value_type = Option<crm_core::types::SkillName>, inline)]
    product_line: Option<String>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/kb", tag = "knowledge base", params(ArticleSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<KbArticle>), (status = 400, body = ErrorBody)))]
async fn search_articles(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<ArticleSearch>,
) -> ApiResult<Json<Vec<KbArticle>>> {
    me.require(ALL)?;
    let product_line = p
        .product_line
        .map(|l| SkillName::parse(&l).map_err(|e| ApiError::bad_request(Some("product_line"), e.0)))
        .transpose()?;
    let q = KbQuery {
        q: p.q,
        product_line,
        limit: limit(p.limit, 20, 100)?,
    };
    Ok(Json(st.store.search_articles(&q).await?))
}

#[utoipa::path(post, path = "/api/v1/kb", tag = "knowledge base", request_body = NewKbArticle, security(("bearer" = [])),
    responses((status = 201, body = KbArticle), (status = 422, body = ErrorBody)))]
async fn create_article(
    State(st): State<AppState>,
    me: AuthUser,
    Body(a): Body<NewKbArticle>,
) -> ApiResult<Created<KbArticle>> {
    me.require(MANAGERS)?;
    a.validate()?;
    Ok(created(st.store.create_article(me.actor(), &a).await?))
}

#[utoipa::path(get, path = "/api/v1/kb/{id}", tag = "knowledge base", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = KbArticle), (status = 404, body = ErrorBody)))]
async fn get_article(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<KbArticle>> {
    me.require(ALL)?;
    Ok(Json(st.store.get_article(id).await?))
}

#[utoipa::path(put, path = "/api/v1/kb/{id}", tag = "knowledge base", params(("id" = i64, Path)), request_body = NewKbArticle,
    security(("bearer" = [])), responses((status = 200, body = KbArticle), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_article(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(a): Body<NewKbArticle>,
) -> ApiResult<Json<KbArticle>> {
    me.require(MANAGERS)?;
    a.validate()?;
    Ok(Json(st.store.update_article(me.actor(), id, &a).await?))
}

#[utoipa::path(delete, path = "/api/v1/kb/{id}", tag = "knowledge base", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_article(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<StatusCode> {
    me.require(MANAGERS)?;
    st.store.delete_article(me.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------------------------ users and audit

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 3–32 characters: a-z, 0-9, `.`, `_`, `-`.
    #[schema(pattern = "^[a-z0-9._-]{3,32}$")]
    username: String,
    #[schema(
        pattern = "^(?=[^\\x00]{1,100}$)[^\\x00]*[^\\x00\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00]*$"
    )]
    display_name: String,
    role: Role,
    /// Required for the technician role: the technician record this login works as.
    #[serde(default)]
    technician_id: Option<i64>,
    /// Required for the station manager role: the station they run (and all they see).
    #[serde(default)]
    station_id: Option<i64>,
    /// A supervisor's region: they see only its stations. None: every station.
    #[serde(default)]
    region: Option<SkillName>,
    /// Required for the dealer role: the dealer this login works for (and all it sees).
    #[serde(default)]
    dealer_id: Option<i64>,
    /// 8 to 1024 characters.
    #[schema(pattern = "^[^\\x00]{8,1024}$")]
    password: String,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), responses((status = 200, body = Vec<User>)))]
async fn list_users(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Vec<User>>> {
    me.require(ADMIN)?;
    Ok(Json(st.store.list_users().await?))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser, security(("bearer" = [])),
    responses((status = 201, body = User), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_user(State(st): State<AppState>, me: AuthUser, Body(u): Body<NewUser>) -> ApiResult<Created<User>> {
    me.require(ADMIN)?;
    let name_ok = (3..=32).contains(&u.username.len())
        && u.username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c));
    if !name_ok {
        return Err(ApiError::invalid(
            "username",
            "3 to 32 characters of a-z, 0-9, '.', '_' and '-'",
        ));
    }
    if u.display_name.trim().is_empty() || u.display_name.chars().count() > 100 {
        return Err(ApiError::invalid("display_name", "1 to 100 characters"));
    }
    if !(8..=1024).contains(&u.password.chars().count()) {
        return Err(ApiError::invalid("password", "8 to 1024 characters"));
    }
    if (u.role == Role::Technician) != u.technician_id.is_some() {
        return Err(ApiError::invalid(
            "technician_id",
            "required for technicians and only for them",
        ));
    }
    let record = NewUserRecord {
        username: u.username,
        display_name: u.display_name.trim().to_string(),
        role: u.role,
        technician_id: u.technician_id,
        station_id: u.station_id,
        region: u.region.map(|r| r.as_str().to_string()),
        dealer_id: u.dealer_id,
        password_hash: hash_password(&u.password),
    };
    Ok(created(st.store.create_user(me.actor(), &record).await?))
}

/// An agent's skills and levels (1 normal seat … 5 expert), used by the ACD at their next login.
#[utoipa::path(get, path = "/api/v1/users/{id}/skills", tag = "users", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<AgentSkill>), (status = 404, body = ErrorBody)))]
async fn get_agent_skills(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Vec<AgentSkill>>> {
    if me.user.id != id {
        me.require(MANAGERS)?;
    }
    st.store.get_user(id).await?;
    Ok(Json(st.store.agent_skills(id).await?))
}

/// Replace an agent's skills.
#[utoipa::path(put, path = "/api/v1/users/{id}/skills", tag = "users", params(("id" = i64, Path)), request_body = Vec<AgentSkill>,
    security(("bearer" = [])),
    responses((status = 200, body = Vec<AgentSkill>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_agent_skills(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(skills): Body<Vec<AgentSkill>>,
) -> ApiResult<Json<Vec<AgentSkill>>> {
    me.require(MANAGERS)?;
    Ok(Json(st.store.set_agent_skills(me.actor(), id, &skills).await?))
}

/// Who changed what, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "users", params(LimitParam), security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditEntry>)))]
async fn list_audit(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<LimitParam>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    me.require(MANAGERS)?;
    Ok(Json(st.store.list_audit(limit(p.limit, 50, 200)?).await?))
}
