//! The service network under `/api/v1`: station lifecycle, the standard-time catalogue and bills
//! of materials, and warranty claims with their review, appeal and old-part returns.
//!
//! Every handler checks the role, then the scope ([`AuthUser::scope`]): a station manager works
//! only their own station's claims; another station's are 404, so ids do not leak.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use crm_core::claims::*;
use crm_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AuthUser, ADMIN, MANAGERS, NETWORK, REVIEWERS};
use super::crm::limit;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Id, Ids, Params};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_station_status))
        .routes(routes!(get_bill_of_materials, set_bill_of_materials))
        .routes(routes!(list_standard_times, add_standard_time))
        .routes(routes!(list_claims, submit_claim))
        .routes(routes!(get_claim))
        .routes(routes!(review_line))
        .routes(routes!(appeal_claim))
        .routes(routes!(return_step))
        .routes(routes!(station_overview))
        .routes(routes!(accept_order))
        .routes(routes!(decline_order))
        .routes(routes!(assign_order))
}

/// The station manager's portal and the manufacturer's claims desk.
pub fn pages() -> axum::Router<AppState> {
    use axum::response::Html;
    axum::Router::new()
        .route(
            "/station",
            axum::routing::get(|| async { Html(include_str!("station.html")) }),
        )
        .route(
            "/claims",
            axum::routing::get(|| async { Html(include_str!("claims.html")) }),
        )
}

// ------------------------------------------------------------------------------ the station portal

/// The station a portal request works on: a station manager's own; an administrator names one.
fn portal_station(me: &AuthUser, station_id: Option<i64>) -> ApiResult<i64> {
    match (me.user.role, me.user.station_id, station_id) {
        (Role::StationManager, Some(own), None) => Ok(own),
        (Role::StationManager, Some(own), Some(asked)) if asked == own => Ok(own),
        (Role::StationManager, ..) => Err(ApiError::not_found("station")),
        (Role::Admin, _, Some(asked)) => Ok(asked),
        (Role::Admin, _, None) => Err(ApiError::invalid("station_id", "name the station")),
        _ => Err(ApiError::forbidden()),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PortalQuery {
    /// An administrator names the station; a station manager works on their own.
    station_id: Option<i64>,
}

/// An order as the station sees it.
#[derive(Serialize, ToSchema)]
pub struct PortalOrder {
    pub order: RepairOrder,
    pub customer: String,
    pub address: String,
    pub model: String,
    /// Filed as a warranty claim already.
    pub claim_id: Option<i64>,
}

/// Everything the station portal shows: the station, its technicians and stock, its open orders
/// (to accept, decline or assign), and its repairs completed in the last 60 days with their
/// claims.
#[derive(Serialize, ToSchema)]
pub struct StationOverview {
    pub station: Station,
    pub technicians: Vec<Technician>,
    pub stock: Vec<StockLevel>,
    pub open: Vec<PortalOrder>,
    pub completed: Vec<PortalOrder>,
}

#[utoipa::path(get, path = "/api/v1/station/overview", tag = "station portal", params(PortalQuery), security(("bearer" = [])),
    responses((status = 200, body = StationOverview), (status = 404, body = ErrorBody)))]
async fn station_overview(
    State(st): State<AppState>,
    me: AuthUser,
    Params(q): Params<PortalQuery>,
) -> ApiResult<Json<StationOverview>> {
    let id = portal_station(&me, q.station_id)?;
    let station = st.store.get_station(id).await?;
    let technicians = st.store.list_technicians(Some(id)).await?;
    let stock = st.store.stock_levels(id).await?;
    let orders = |status| RepairOrderQuery {
        station_id: Some(id),
        status: Some(status),
        limit: 200,
        ..Default::default()
    };
    let mut open = vec![];
    for status in [RepairStatus::New, RepairStatus::Assigned, RepairStatus::InProgress] {
        open.extend(st.store.list_repair_orders(&orders(status)).await?);
    }
    let since = Utc::now() - chrono::Duration::days(60);
    let done: Vec<RepairOrder> = st
        .store
        .list_repair_orders(&orders(RepairStatus::Completed))
        .await?
        .into_iter()
        .filter(|o| o.completed_at.is_some_and(|t| t >= since))
        .collect();
    let claims = st
        .store
        .list_claims(&ClaimQuery {
            stations: Some(vec![id]),
            limit: 1_000,
            ..Default::default()
        })
        .await?;
    let all: Vec<RepairOrder> = open.iter().chain(&done).cloned().collect();
    let mut sites = fieldops::sites(st.store.as_ref(), &all).await?;
    let view = |o: RepairOrder, sites: &mut std::collections::HashMap<i64, fieldops::Site>| {
        let site = sites.remove(&o.id).unwrap_or_default();
        PortalOrder {
            claim_id: claims.iter().find(|c| c.repair_order_id == o.id).map(|c| c.id),
            customer: site.customer,
            address: site.address,
            model: site.model,
            order: o,
        }
    };
    open.sort_by_key(|o| (o.scheduled_for.is_none(), o.scheduled_for, o.id));
    let open = open.into_iter().map(|o| view(o, &mut sites)).collect();
    let completed = done.into_iter().map(|o| view(o, &mut sites)).collect();
    Ok(Json(StationOverview {
        station,
        technicians,
        stock,
        open,
        completed,
    }))
}

/// The station takes an order dispatch gave it. Accepting again changes nothing.
#[utoipa::path(post, path = "/api/v1/station/orders/{id}/accept", tag = "station portal", params(("id" = i64, Path), PortalQuery),
    security(("bearer" = [])), responses((status = 200, body = RepairOrder), (status = 404, body = ErrorBody)))]
async fn accept_order(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Params(q): Params<PortalQuery>,
) -> ApiResult<Json<RepairOrder>> {
    let station = portal_station(&me, q.station_id)?;
    Ok(Json(st.store.accept_order(me.actor(), station, id, Utc::now()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decline {
    /// Why the station cannot take it (told to dispatch).
    pub reason: crm_core::types::Text,
}

/// The station declines an order not yet started: it goes back to dispatch with the reason,
/// which assigns it elsewhere (never to this station again).
#[utoipa::path(post, path = "/api/v1/station/orders/{id}/decline", tag = "station portal", params(("id" = i64, Path), PortalQuery),
    request_body = Decline, security(("bearer" = [])),
    responses((status = 200, body = RepairOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn decline_order(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Params(q): Params<PortalQuery>,
    Body(d): Body<Decline>,
) -> ApiResult<Json<RepairOrder>> {
    let station = portal_station(&me, q.station_id)?;
    let now = Utc::now();
    let ro = st
        .store
        .decline_order(me.actor(), station, id, d.reason.as_str(), now)
        .await?;
    st.field.publish(fieldops::FieldEvent::dispatch(&ro));
    Ok(Json(st.field.dispatch_new(me.actor(), ro, now).await))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationAssign {
    /// One of the station's own technicians.
    pub technician_id: i64,
}

/// The station gives an open order to one of its own technicians (at the planned time, or in an
/// hour when none is planned). Started work is not moved.
#[utoipa::path(post, path = "/api/v1/station/orders/{id}/assign", tag = "station portal", params(("id" = i64, Path), PortalQuery),
    request_body = StationAssign, security(("bearer" = [])),
    responses((status = 200, body = RepairOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn assign_order(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Params(q): Params<PortalQuery>,
    Body(a): Body<StationAssign>,
) -> ApiResult<Json<RepairOrder>> {
    let station = portal_station(&me, q.station_id)?;
    let ro = st.store.get_repair_order(id).await?;
    if ro.station_id != Some(station) {
        return Err(ApiError::not_found("repair order"));
    }
    let tech = match st.store.get_technician(a.technician_id).await {
        Ok(t) if t.station_id == station => t,
        Ok(_) | Err(crm_core::StoreError::NotFound { .. }) => {
            return Err(ApiError::invalid(
                "technician_id",
                format!("no technician with id {}", a.technician_id),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let decision = crm_core::field::DispatchDecision::Assign {
        station_id: station,
        technician_id: tech.id,
        scheduled_for: ro
            .scheduled_for
            .unwrap_or_else(|| Utc::now() + chrono::Duration::hours(1)),
        route_seq: None,
        appointment: None,
        override_reason: Some("assigned by the station".into()),
    };
    let out = st.store.set_dispatch(me.actor(), id, &decision).await?;
    st.field.publish(fieldops::FieldEvent::dispatch(&out));
    Ok(Json(out))
}

/// Move a station in its lifecycle (applying → approved ⇄ suspended → terminated). A station
/// that stops taking work hands its open orders not yet started back to dispatch, which
/// assigns them anew; a reason is needed to suspend or terminate.
#[utoipa::path(post, path = "/api/v1/stations/{id}/status", tag = "network", params(("id" = i64, Path)),
    request_body = StationStatusChange, security(("bearer" = [])),
    responses((status = 200, body = StationStatusChanged), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn set_station_status(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(change): Body<StationStatusChange>,
) -> ApiResult<Json<StationStatusChanged>> {
    me.require(MANAGERS)?;
    me.scope(&st).await?.check(Some(id), "station")?;
    let out = st.store.set_station_status(me.actor(), id, &change).await?;
    let now = Utc::now();
    for ro in &out.released_orders {
        let order = st.store.get_repair_order(*ro).await?;
        st.field.publish(fieldops::FieldEvent::dispatch(&order));
        st.field.dispatch_new(me.actor(), order, now).await;
    }
    Ok(Json(out))
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillOfMaterials {
    /// The parts the model is built from; a claimed part outside it is flagged.
    #[schema(max_items = 2000)]
    pub part_ids: Vec<i64>,
}

#[utoipa::path(get, path = "/api/v1/models/{id}/parts", tag = "catalogue", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = BillOfMaterials), (status = 404, body = ErrorBody)))]
async fn get_bill_of_materials(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
) -> ApiResult<Json<BillOfMaterials>> {
    me.require(NETWORK)?;
    Ok(Json(BillOfMaterials {
        part_ids: st.store.bill_of_materials(id).await?,
    }))
}

/// Replace a model's bill of materials.
#[utoipa::path(put, path = "/api/v1/models/{id}/parts", tag = "catalogue", params(("id" = i64, Path)),
    request_body = BillOfMaterials, security(("bearer" = [])),
    responses((status = 200, body = BillOfMaterials), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_bill_of_materials(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(b): Body<BillOfMaterials>,
) -> ApiResult<Json<BillOfMaterials>> {
    me.require(ADMIN)?;
    Ok(Json(BillOfMaterials {
        part_ids: st.store.set_bill_of_materials(me.actor(), id, &b.part_ids).await?,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StandardTimeSearch {
    model_id: Option<i64>,
}

/// Every version of the standard times, by model, code and version.
#[utoipa::path(get, path = "/api/v1/standard-times", tag = "catalogue", params(StandardTimeSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<StandardTime>)))]
async fn list_standard_times(
    State(st): State<AppState>,
    me: AuthUser,
    Params(q): Params<StandardTimeSearch>,
) -> ApiResult<Json<Vec<StandardTime>>> {
    me.require(NETWORK)?;
    Ok(Json(st.store.standard_times(q.model_id).await?))
}

/// A new version of a model's labour time for a fault or operation code, in force from
/// `valid_from`; earlier versions stay for the repairs they priced.
#[utoipa::path(post, path = "/api/v1/standard-times", tag = "catalogue", request_body = NewStandardTime, security(("bearer" = [])),
    responses((status = 201, body = StandardTime), (status = 422, body = ErrorBody)))]
async fn add_standard_time(
    State(st): State<AppState>,
    me: AuthUser,
    Body(t): Body<NewStandardTime>,
) -> ApiResult<(StatusCode, Json<StandardTime>)> {
    me.require(&[Role::Admin, Role::Reviewer])?;
    Ok((
        StatusCode::CREATED,
        Json(st.store.add_standard_time(me.actor(), &t, Utc::now()).await?),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClaimSearch {
    station_id: Option<i64>,
    #[param(inline)]
    status: Option<ClaimStatus>,
    /// Claims with an old part at this step of its return.
    #[param(inline)]
    return_status: Option<ReturnStatus>,
    /// Only claims an automatic check flagged.
    flagged: Option<bool>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Newest first, with their lines; a station manager sees their station's only.
#[utoipa::path(get, path = "/api/v1/claims", tag = "claims", params(ClaimSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<Claim>)))]
async fn list_claims(
    State(st): State<AppState>,
    me: AuthUser,
    Params(q): Params<ClaimSearch>,
) -> ApiResult<Json<Vec<Claim>>> {
    me.require(NETWORK)?;
    let scope = me.scope(&st).await?;
    let stations = scope.narrowed(q.station_id);
    let query = ClaimQuery {
        stations,
        status: q.status,
        return_status: q.return_status,
        flagged: q.flagged.unwrap_or(false),
        limit: limit(q.limit, 50, 200)?,
    };
    Ok(Json(st.store.list_claims(&query).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ClaimSubmitted {
    pub claim: Claim,
    /// The claim was filed before (a repeated submission): nothing changed.
    pub replayed: bool,
}

/// File the claim for a completed warranty repair of the station: labour at standard time × the
/// contract's rate, warranty parts at catalogue price, travel by distance band, the evidence and
/// the automatic checks' flags. Submitting it again answers the claim there is (200, replayed).
#[utoipa::path(post, path = "/api/v1/claims", tag = "claims", request_body = NewClaim, security(("bearer" = [])),
    responses((status = 201, body = ClaimSubmitted), (status = 200, body = ClaimSubmitted), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn submit_claim(
    State(st): State<AppState>,
    me: AuthUser,
    Body(n): Body<NewClaim>,
) -> ApiResult<(StatusCode, Json<ClaimSubmitted>)> {
    me.require(&[Role::Admin, Role::Supervisor, Role::StationManager])?;
    let scope = me.scope(&st).await?;
    let unknown = || {
        ApiError::invalid(
            "repair_order_id",
            format!("no repair order with id {}", n.repair_order_id),
        )
    };
    match st.store.get_repair_order(n.repair_order_id).await {
        Ok(ro) if ro.station_id.is_some_and(|s| scope.allows(s)) || scope == super::auth::Scope::All => {}
        Ok(_) | Err(crm_core::StoreError::NotFound { .. }) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    }
    let (claim, replayed) = st
        .store
        .submit_claim(me.actor(), &n, &st.settings.claim_rules, Utc::now())
        .await?;
    let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(ClaimSubmitted { claim, replayed })))
}

async fn scoped_claim(st: &AppState, me: &AuthUser, id: i64) -> ApiResult<Claim> {
    let claim = st.store.get_claim(id).await?;
    me.scope(st).await?.check(Some(claim.station_id), "claim")?;
    Ok(claim)
}

#[utoipa::path(get, path = "/api/v1/claims/{id}", tag = "claims", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Claim), (status = 404, body = ErrorBody)))]
async fn get_claim(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Claim>> {
    me.require(NETWORK)?;
    Ok(Json(scoped_claim(&st, &me, id).await?))
}

/// Decide one line: approve, cut (pay less, with the amount and a reason) or reject (with a
/// reason code). A line is decided once (the same decision again changes nothing); a part asked
/// back waits for its inspection.
#[utoipa::path(post, path = "/api/v1/claims/{id}/lines/{line_id}/review", tag = "claims",
    params(("id" = i64, Path), ("line_id" = i64, Path)), request_body = LineReview, security(("bearer" = [])),
    responses((status = 200, body = Claim), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn review_line(
    State(st): State<AppState>,
    me: AuthUser,
    Ids(id, line): Ids,
    Body(r): Body<LineReview>,
) -> ApiResult<Json<Claim>> {
    me.require(&[Role::Admin, Role::Reviewer])?;
    let r = r.review()?;
    scoped_claim(&st, &me, id).await?;
    Ok(Json(st.store.review_line(me.actor(), id, line, &r, Utc::now()).await?))
}

/// The station's one appeal against the cut and rejected lines of a decided claim; they go back
/// to the reviewer.
#[utoipa::path(post, path = "/api/v1/claims/{id}/appeal", tag = "claims", params(("id" = i64, Path)),
    request_body = Appeal, security(("bearer" = [])),
    responses((status = 200, body = Claim), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn appeal_claim(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(a): Body<Appeal>,
) -> ApiResult<Json<Claim>> {
    me.require(&[Role::Admin, Role::StationManager])?;
    scoped_claim(&st, &me, id).await?;
    Ok(Json(st.store.appeal_claim(me.actor(), id, &a, Utc::now()).await?))
}

/// Move an old part's return one step: the reviewer requests it, the station ships it (carrier
/// and tracking), the manufacturer receives and inspects it.
#[utoipa::path(post, path = "/api/v1/claims/{id}/lines/{line_id}/return", tag = "claims",
    params(("id" = i64, Path), ("line_id" = i64, Path)), request_body = ReturnStep, security(("bearer" = [])),
    responses((status = 200, body = Claim), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn return_step(
    State(st): State<AppState>,
    me: AuthUser,
    Ids(id, line): Ids,
    Body(s): Body<ReturnStep>,
) -> ApiResult<Json<Claim>> {
    match s.status {
        ReturnStatus::Shipped => me.require(&[Role::Admin, Role::StationManager])?,
        _ => me.require(REVIEWERS)?,
    }
    scoped_claim(&st, &me, id).await?;
    Ok(Json(st.store.return_step(me.actor(), id, line, &s, Utc::now()).await?))
}
