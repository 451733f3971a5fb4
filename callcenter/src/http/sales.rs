//! Dealers and registered sales under `/api/v1`: the dealer records (the manufacturer's side),
//! sale registration by VIN or serial (the manufacturer, or a dealer login for its own sales),
//! and what a dealer sees of the products it sold. A dealer login sees its own dealer only;
//! another's is 404, so ids do not leak.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use crm_core::model::Role;
use crm_core::sales::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AuthUser, ADMIN, STAFF};
use super::crm::limit;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Id, Params};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_dealers, create_dealer))
        .routes(routes!(get_dealer, update_dealer))
        .routes(routes!(dealer_vehicles))
        .routes(routes!(register_sale))
        .routes(routes!(asset_sale))
}

/// The dealer portal.
pub fn pages() -> axum::Router<AppState> {
    axum::Router::new().route(
        "/dealer",
        axum::routing::get(|| async { axum::response::Html(include_str!("dealer.html")) }),
    )
}

/// Who reads dealer records: the manufacturer's staff and the dealer's own logins.
const DEALER_READERS: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent, Role::Dealer];

/// The dealer a request may see: a dealer login's own (another is 404); anyone else's choice.
pub fn dealer_scope(me: &AuthUser, requested: Option<i64>) -> ApiResult<Option<i64>> {
    match (me.user.role, me.user.dealer_id, requested) {
        (Role::Dealer, Some(own), None) => Ok(Some(own)),
        (Role::Dealer, Some(own), Some(asked)) if asked == own => Ok(Some(own)),
        (Role::Dealer, ..) => Err(ApiError::not_found("dealer")),
        (_, _, requested) => Ok(requested),
    }
}

#[utoipa::path(get, path = "/api/v1/dealers", tag = "dealers", security(("bearer" = [])),
    responses((status = 200, body = Vec<Dealer>)))]
async fn list_dealers(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Vec<Dealer>>> {
    me.require(DEALER_READERS)?;
    let mut all = st.store.list_dealers().await?;
    if let Some(own) = dealer_scope(&me, None)?.filter(|_| me.is(Role::Dealer)) {
        all.retain(|d| d.id == own);
    }
    Ok(Json(all))
}

#[utoipa::path(post, path = "/api/v1/dealers", tag = "dealers", request_body = NewDealer, security(("bearer" = [])),
    responses((status = 201, body = Dealer), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_dealer(
    State(st): State<AppState>,
    me: AuthUser,
    Body(d): Body<NewDealer>,
) -> ApiResult<(StatusCode, Json<Dealer>)> {
    me.require(ADMIN)?;
    Ok((StatusCode::CREATED, Json(st.store.create_dealer(me.actor(), &d).await?)))
}

#[utoipa::path(get, path = "/api/v1/dealers/{id}", tag = "dealers", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Dealer), (status = 404, body = ErrorBody)))]
async fn get_dealer(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Dealer>> {
    me.require(DEALER_READERS)?;
    dealer_scope(&me, Some(id))?;
    Ok(Json(st.store.get_dealer(id).await?))
}

/// Change a dealer's record: contacts, territory, agreement, status (a suspended or terminated
/// dealer registers no sales).
#[utoipa::path(patch, path = "/api/v1/dealers/{id}", tag = "dealers", params(("id" = i64, Path)), request_body = DealerPatch,
    security(("bearer" = [])), responses((status = 200, body = Dealer), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_dealer(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(p): Body<DealerPatch>,
) -> ApiResult<Json<Dealer>> {
    me.require(ADMIN)?;
    Ok(Json(st.store.update_dealer(me.actor(), id, &p).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VehiclesQuery {
    /// At most this many sales, newest first (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// What the dealer sold, newest first, each with its repairs (and survey scores) and complaints.
#[utoipa::path(get, path = "/api/v1/dealers/{id}/vehicles", tag = "dealers", params(("id" = i64, Path), VehiclesQuery),
    security(("bearer" = [])), responses((status = 200, body = Vec<SoldAsset>), (status = 404, body = ErrorBody)))]
async fn dealer_vehicles(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Params(q): Params<VehiclesQuery>,
) -> ApiResult<Json<Vec<SoldAsset>>> {
    me.require(DEALER_READERS)?;
    dealer_scope(&me, Some(id))?;
    Ok(Json(st.store.dealer_vehicles(id, limit(q.limit, 100, 1000)?).await?))
}

#[derive(Serialize, ToSchema)]
pub struct Registered {
    pub sale: Sale,
    /// The same registration was on record: nothing changed.
    pub replayed: bool,
}

/// Register a sale by VIN or serial: the buyer becomes the owner and the factory warranty
/// starts on the sale date. A dealer login registers its own sales only. The same registration
/// again answers the first (200); a different one for a product already sold is 409.
#[utoipa::path(post, path = "/api/v1/sales", tag = "dealers", request_body = NewSale, security(("bearer" = [])),
    responses((status = 201, body = Registered), (status = 200, body = Registered), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn register_sale(
    State(st): State<AppState>,
    me: AuthUser,
    Body(s): Body<NewSale>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    me.require(&[Role::Admin, Role::Supervisor, Role::Dealer])?;
    if me.is(Role::Dealer) && me.user.dealer_id != Some(s.dealer_id) {
        return Err(ApiError::invalid(
            "dealer_id",
            "a dealer login registers its own dealer's sales",
        ));
    }
    let (sale, created) = st.store.register_sale(me.actor(), &s, Utc::now().date_naive()).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(Registered {
            sale,
            replayed: !created,
        }),
    ))
}

/// An asset's registered sale (404 when none is registered).
#[utoipa::path(get, path = "/api/v1/assets/{id}/sale", tag = "dealers", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Sale), (status = 404, body = ErrorBody)))]
async fn asset_sale(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Sale>> {
    me.require(STAFF)?;
    st.store
        .sale_for_asset(id)
        .await?
        .map(Json)
        .ok_or(ApiError::not_found("sale"))
}
