//! The parts supply chain under `/api/v1`: warehouses and their stock, per-station safety stock,
//! the replenishment suggestion, and parts orders from request to receipt (one step from a
//! repair order short of parts). A station manager works their own station's orders only; the
//! manufacturer's managers approve and ship.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use crm_core::model::Role;
use crm_core::supply::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AuthUser, ADMIN, MANAGERS, NETWORK};
use super::crm::limit;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Id, Params};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_warehouses, create_warehouse))
        .routes(routes!(warehouse_stock, warehouse_movement))
        .routes(routes!(set_safety_stock))
        .routes(routes!(replenishment_for))
        .routes(routes!(list_parts_orders, request_parts))
        .routes(routes!(get_parts_order))
        .routes(routes!(approve_parts_order))
        .routes(routes!(ship_parts_order))
        .routes(routes!(receive_parts_order))
        .routes(routes!(cancel_parts_order))
        .routes(routes!(order_missing_parts))
}

const ORDERING: &[Role] = &[Role::Admin, Role::Supervisor, Role::StationManager];

#[utoipa::path(get, path = "/api/v1/warehouses", tag = "supply", security(("bearer" = [])), responses((status = 200, body = Vec<Warehouse>)))]
async fn list_warehouses(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Vec<Warehouse>>> {
    me.require(NETWORK)?;
    Ok(Json(st.store.list_warehouses().await?))
}

#[utoipa::path(post, path = "/api/v1/warehouses", tag = "supply", request_body = NewWarehouse, security(("bearer" = [])),
    responses((status = 201, body = Warehouse), (status = 422, body = ErrorBody)))]
async fn create_warehouse(
    State(st): State<AppState>,
    me: AuthUser,
    Body(w): Body<NewWarehouse>,
) -> ApiResult<(StatusCode, Json<Warehouse>)> {
    me.require(ADMIN)?;
    Ok((
        StatusCode::CREATED,
        Json(st.store.create_warehouse(me.actor(), &w).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/warehouses/{id}/stock", tag = "supply", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<WarehouseStock>), (status = 404, body = ErrorBody)))]
async fn warehouse_stock(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Vec<WarehouseStock>>> {
    me.require(NETWORK)?;
    Ok(Json(st.store.warehouse_stock(id).await?))
}

/// Book a movement in the warehouse's ledger (a receipt from a supplier, scrapping, a count);
/// 409 when it would go below zero.
#[utoipa::path(post, path = "/api/v1/warehouses/{id}/stock", tag = "supply", params(("id" = i64, Path)),
    request_body = NewWarehouseMovement, security(("bearer" = [])),
    responses((status = 201, body = WarehouseStock), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn warehouse_movement(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(m): Body<NewWarehouseMovement>,
) -> ApiResult<(StatusCode, Json<WarehouseStock>)> {
    me.require(MANAGERS)?;
    Ok((
        StatusCode::CREATED,
        Json(st.store.record_warehouse_movement(me.actor(), id, &m).await?),
    ))
}

/// A station's own safety stock for a part (`level` null: the part's again).
#[utoipa::path(put, path = "/api/v1/stations/{id}/safety-stock", tag = "supply", params(("id" = i64, Path)),
    request_body = SafetyStock, security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_safety_stock(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(s): Body<SafetyStock>,
) -> ApiResult<StatusCode> {
    me.require(ORDERING)?;
    me.scope(&st).await?.check(Some(id), "station")?;
    st.store.set_safety_stock(me.actor(), id, &s).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the station should order now: its safety stock, its open orders' needs and its use over
/// the lead time, less what it holds and what is on the way.
#[utoipa::path(get, path = "/api/v1/stations/{id}/replenishment", tag = "supply", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<Suggestion>), (status = 404, body = ErrorBody)))]
async fn replenishment_for(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Vec<Suggestion>>> {
    me.require(NETWORK)?;
    me.scope(&st).await?.check(Some(id), "station")?;
    Ok(Json(replenishment(&st.store.part_positions(id, Utc::now()).await?)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PartsOrderSearch {
    station_id: Option<i64>,
    /// Only orders not yet received or cancelled.
    open: Option<bool>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/parts-orders", tag = "supply", params(PartsOrderSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<PartsOrder>)))]
async fn list_parts_orders(
    State(st): State<AppState>,
    me: AuthUser,
    Params(q): Params<PartsOrderSearch>,
) -> ApiResult<Json<Vec<PartsOrder>>> {
    me.require(NETWORK)?;
    let scope = me.scope(&st).await?;
    let stations = scope.narrowed(q.station_id);
    let limit = limit(q.limit, 50, 200)?;
    Ok(Json(
        st.store
            .list_parts_orders(stations.as_deref(), q.open.unwrap_or(false), limit)
            .await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct PartsOrderFiled {
    pub order: PartsOrder,
    /// The order was filed before under this `request_key`: nothing changed.
    pub replayed: bool,
}

/// A station asks a warehouse for parts; a repeat with the same `request_key` answers the first
/// order (200, replayed).
#[utoipa::path(post, path = "/api/v1/parts-orders", tag = "supply", request_body = NewPartsOrder, security(("bearer" = [])),
    responses((status = 201, body = PartsOrderFiled), (status = 200, body = PartsOrderFiled), (status = 422, body = ErrorBody)))]
async fn request_parts(
    State(st): State<AppState>,
    me: AuthUser,
    Body(n): Body<NewPartsOrder>,
) -> ApiResult<(StatusCode, Json<PartsOrderFiled>)> {
    me.require(ORDERING)?;
    if !me.scope(&st).await?.allows(n.station_id) {
        return Err(ApiError::invalid(
            "station_id",
            format!("no station with id {}", n.station_id),
        ));
    }
    let (order, replayed) = st.store.request_parts(me.actor(), &n, None, Utc::now()).await?;
    let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(PartsOrderFiled { order, replayed })))
}

async fn scoped_order(st: &AppState, me: &AuthUser, id: i64) -> ApiResult<PartsOrder> {
    let o = st.store.parts_order(id).await?;
    me.scope(st).await?.check(Some(o.station_id), "parts order")?;
    Ok(o)
}

#[utoipa::path(get, path = "/api/v1/parts-orders/{id}", tag = "supply", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PartsOrder), (status = 404, body = ErrorBody)))]
async fn get_parts_order(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<PartsOrder>> {
    me.require(NETWORK)?;
    Ok(Json(scoped_order(&st, &me, id).await?))
}

#[utoipa::path(post, path = "/api/v1/parts-orders/{id}/approve", tag = "supply", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PartsOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn approve_parts_order(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<PartsOrder>> {
    me.require(MANAGERS)?;
    scoped_order(&st, &me, id).await?;
    Ok(Json(st.store.approve_parts_order(me.actor(), id, Utc::now()).await?))
}

/// The warehouse ships (carrier and tracking; per part when less than ordered goes out); the
/// parts leave the warehouse's ledger.
#[utoipa::path(post, path = "/api/v1/parts-orders/{id}/ship", tag = "supply", params(("id" = i64, Path)),
    request_body = Shipment, security(("bearer" = [])),
    responses((status = 200, body = PartsOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn ship_parts_order(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(s): Body<Shipment>,
) -> ApiResult<Json<PartsOrder>> {
    me.require(MANAGERS)?;
    scoped_order(&st, &me, id).await?;
    Ok(Json(st.store.ship_parts_order(me.actor(), id, &s, Utc::now()).await?))
}

/// The station books what arrived into its stock; a count that differs from the shipment needs
/// a note.
#[utoipa::path(post, path = "/api/v1/parts-orders/{id}/receive", tag = "supply", params(("id" = i64, Path)),
    request_body = Receipt, security(("bearer" = [])),
    responses((status = 200, body = PartsOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn receive_parts_order(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(r): Body<Receipt>,
) -> ApiResult<Json<PartsOrder>> {
    me.require(ORDERING)?;
    scoped_order(&st, &me, id).await?;
    Ok(Json(
        st.store.receive_parts_order(me.actor(), id, &r, Utc::now()).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/parts-orders/{id}/cancel", tag = "supply", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PartsOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_parts_order(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<PartsOrder>> {
    me.require(ORDERING)?;
    scoped_order(&st, &me, id).await?;
    Ok(Json(st.store.cancel_parts_order(me.actor(), id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MissingParts {
    pub warehouse_id: i64,
    /// The station to supply; default: the order's own.
    #[serde(default)]
    pub station_id: Option<i64>,
}

/// One step from a repair order short of parts (`parts_missing`) to a parts order: the parts it
/// needs that the station lacks, keyed by the repair order (asking again answers the first).
#[utoipa::path(post, path = "/api/v1/repair-orders/{id}/parts-order", tag = "supply", params(("id" = i64, Path)),
    request_body = MissingParts, security(("bearer" = [])),
    responses((status = 201, body = PartsOrderFiled), (status = 200, body = PartsOrderFiled), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn order_missing_parts(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(m): Body<MissingParts>,
) -> ApiResult<(StatusCode, Json<PartsOrderFiled>)> {
    me.require(&[Role::Admin, Role::Supervisor, Role::Agent])?;
    let ro = st.store.get_repair_order(id).await?;
    let station_id = m
        .station_id
        .or(ro.station_id)
        .ok_or_else(|| ApiError::invalid("station_id", "the repair order has no station; name the one to supply"))?;
    let stock = match st.store.stock_levels(station_id).await {
        Ok(s) => s,
        Err(crm_core::StoreError::NotFound { .. }) => {
            return Err(ApiError::invalid(
                "station_id",
                format!("no station with id {station_id}"),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let lines: Vec<OrderLine> = ro
        .parts_needed
        .iter()
        .filter_map(|n| {
            let have = stock
                .iter()
                .find(|s| s.part_id == n.part_id)
                .map_or(0, |s| s.quantity.max(0));
            let short = i64::from(n.quantity) - have;
            (short > 0).then(|| OrderLine {
                part_id: n.part_id,
                quantity: u32::try_from(short).unwrap_or(u32::MAX).min(MAX_LINE_QUANTITY),
            })
        })
        .collect();
    if lines.is_empty() {
        return Err(
            crm_core::StoreError::conflict("parts_needed", "the station holds every part the order needs").into(),
        );
    }
    let n = NewPartsOrder {
        station_id,
        warehouse_id: m.warehouse_id,
        lines,
        request_key: Some(format!("repair_order:{id}")),
        note: None,
    };
    let (order, replayed) = st.store.request_parts(me.actor(), &n, Some(id), Utc::now()).await?;
    let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(PartsOrderFiled { order, replayed })))
}
