//! Paid repairs under `/api/v1`: the quote for work the warranty does not fully cover (made by
//! the technician on site or by an agent; accepted by the customer's signature on the
//! technician's device, or on the phone with the agent's note), the invoice issued when the
//! technician completes, and the payments recorded against it.
//!
//! A station manager works only their own station's orders and invoices; another's are 404.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use chrono::Utc;
use crm_core::billing::*;
use crm_core::model::Role;
use crm_core::types::Text;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::crm::limit;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Id, Params};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_quotes, create_quote))
        .routes(routes!(accept_by_phone))
        .routes(routes!(order_invoice))
        .routes(routes!(list_invoices))
        .routes(routes!(get_invoice))
        .routes(routes!(record_payment))
        .routes(routes!(tech_quote))
        .routes(routes!(tech_accept))
}

/// Who quotes and takes payments: the manufacturer's staff and the station's manager.
const BILLING: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent, Role::StationManager];

/// The order, if this user may work on it (404 outside their stations).
async fn order_in_scope(st: &AppState, me: &AuthUser, id: i64) -> ApiResult<()> {
    me.require(BILLING)?;
    let ro = st.store.get_repair_order(id).await?;
    me.scope(st).await?.check_open(ro.station_id, "repair order")
}

#[derive(Serialize, ToSchema)]
pub struct Quoted {
    pub quote: Quote,
    /// The same lines as the current quote: nothing changed.
    pub replayed: bool,
}

/// A new quote version (201), or the current one when its lines are the same (200).
async fn price_quote(st: &AppState, me: &AuthUser, id: i64, q: &QuoteRequest) -> ApiResult<(StatusCode, Json<Quoted>)> {
    let (quote, created) = st
        .store
        .create_quote(me.actor(), id, q, &st.settings.billing, Utc::now())
        .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(Quoted {
            quote,
            replayed: !created,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/repair-orders/{id}/quotes", tag = "billing", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<Quote>), (status = 404, body = ErrorBody)))]
async fn list_quotes(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Vec<Quote>>> {
    order_in_scope(&st, &me, id).await?;
    Ok(Json(st.store.quotes(id).await?))
}

/// Price a new quote version: labour at standard time (or the minutes given), parts at price,
/// travel there and back; lines the warranty covers show at zero. It supersedes the one before,
/// which then needs nothing more: the customer accepts the new one.
#[utoipa::path(post, path = "/api/v1/repair-orders/{id}/quotes", tag = "billing", params(("id" = i64, Path)), request_body = QuoteRequest,
    security(("bearer" = [])), responses((status = 201, body = Quoted), (status = 200, body = Quoted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_quote(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(q): Body<QuoteRequest>,
) -> ApiResult<(StatusCode, Json<Quoted>)> {
    order_in_scope(&st, &me, id).await?;
    price_quote(&st, &me, id, &q).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneAcceptance {
    /// The quote read out (the current version; an older one is 409).
    pub quote_id: i64,
    /// The customer's name as they gave it on the phone.
    pub customer_name: Text,
    /// The agent's note of the call: what was read out and agreed.
    pub note: Text,
}

/// The customer accepted the quote on the phone; the agent records it with a note.
#[utoipa::path(post, path = "/api/v1/repair-orders/{id}/quote/accept", tag = "billing",
    params(("id" = i64, Path)), request_body = PhoneAcceptance,
    security(("bearer" = [])), responses((status = 200, body = Quote), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn accept_by_phone(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(a): Body<PhoneAcceptance>,
) -> ApiResult<Json<Quote>> {
    order_in_scope(&st, &me, id).await?;
    let quote_id = a.quote_id;
    let a = NewAcceptance::Phone {
        customer_name: a.customer_name,
        note: a.note,
    };
    Ok(Json(
        st.store.accept_quote(me.actor(), id, quote_id, &a, Utc::now()).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/repair-orders/{id}/invoice", tag = "billing", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody)))]
async fn order_invoice(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Invoice>> {
    order_in_scope(&st, &me, id).await?;
    st.store
        .invoice_for_order(id)
        .await?
        .map(Json)
        .ok_or(ApiError::not_found("invoice"))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoiceQuery {
    station_id: Option<i64>,
    /// Only invoices with a balance.
    unpaid: Option<bool>,
    /// Default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Invoices, newest first; a station manager's own station's.
#[utoipa::path(get, path = "/api/v1/invoices", tag = "billing", params(InvoiceQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<Invoice>), (status = 400, body = ErrorBody)))]
async fn list_invoices(
    State(st): State<AppState>,
    me: AuthUser,
    Params(q): Params<InvoiceQuery>,
) -> ApiResult<Json<Vec<Invoice>>> {
    me.require(BILLING)?;
    let limit = limit(q.limit, 100, 1000)?;
    let scope = me.scope(&st).await?;
    let out = match scope.narrowed(q.station_id) {
        None => st.store.list_invoices(None, q.unpaid.unwrap_or(false), limit).await?,
        Some(ids) => {
            let mut all = vec![];
            for s in ids {
                all.extend(
                    st.store
                        .list_invoices(Some(s), q.unpaid.unwrap_or(false), limit)
                        .await?,
                );
            }
            all.sort_by_key(|i| std::cmp::Reverse(i.id));
            all.truncate(limit as usize);
            all
        }
    };
    Ok(Json(out))
}

async fn invoice_in_scope(st: &AppState, me: &AuthUser, id: i64) -> ApiResult<Invoice> {
    me.require(BILLING)?;
    let inv = st.store.invoice(id).await?;
    me.scope(st).await?.check(Some(inv.station_id), "invoice")?;
    Ok(inv)
}

#[utoipa::path(get, path = "/api/v1/invoices/{id}", tag = "billing", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody)))]
async fn get_invoice(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Invoice>> {
    Ok(Json(invoice_in_scope(&st, &me, id).await?))
}

/// Record a payment (cash, card or transfer; part of the balance or all of it). The same
/// `request_key` again answers the invoice as it is; more than the balance is refused.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/payments", tag = "billing", params(("id" = i64, Path)), request_body = NewPayment,
    security(("bearer" = [])), responses((status = 200, body = Invoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_payment(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(p): Body<NewPayment>,
) -> ApiResult<Json<Invoice>> {
    invoice_in_scope(&st, &me, id).await?;
    Ok(Json(st.store.record_payment(me.actor(), id, &p, Utc::now()).await?))
}

// ------------------------------------------------------------------------------ on site

/// The technician prices the work on site (their own task only).
#[utoipa::path(post, path = "/api/v1/tech/tasks/{id}/quote", tag = "technician", params(("id" = i64, Path)), request_body = QuoteRequest,
    security(("bearer" = [])), responses((status = 201, body = Quoted), (status = 200, body = Quoted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn tech_quote(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(q): Body<QuoteRequest>,
) -> ApiResult<(StatusCode, Json<Quoted>)> {
    let tech = super::tech::technician(&me)?;
    st.store.tech_task(tech, id).await?;
    price_quote(&st, &me, id, &q).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedAcceptance {
    pub quote_id: i64,
    /// Who signed.
    pub signed_by: Text,
    /// The signature drawn on the device under the quote, as a PNG in base64 (at most 256 KiB).
    pub png_base64: String,
}

/// The customer signs the quote on the technician's device.
#[utoipa::path(put, path = "/api/v1/tech/tasks/{id}/quote/accept", tag = "technician", params(("id" = i64, Path)), request_body = SignedAcceptance,
    security(("bearer" = [])), responses((status = 200, body = Quote), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn tech_accept(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(a): Body<SignedAcceptance>,
) -> ApiResult<Json<Quote>> {
    let tech = super::tech::technician(&me)?;
    st.store.tech_task(tech, id).await?;
    if a.png_base64.len() > 350_000 {
        return Err(ApiError::too_large("png_base64", "signatures are limited to 256 KiB"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(a.png_base64.trim())
        .map_err(|_| ApiError::invalid("png_base64", "not base64"))?;
    if super::tech::sniff(&bytes).map(|s| s.0) != Some("image/png") {
        return Err(ApiError::invalid("png_base64", "not a PNG image"));
    }
    let (file, _) = super::tech::store_file(&st, "quote-signatures", id, &bytes, "image/png", "png").await?;
    let acceptance = NewAcceptance::Signature {
        signed_by: a.signed_by,
        signature_path: file.path,
    };
    Ok(Json(
        st.store
            .accept_quote(me.actor(), id, a.quote_id, &acceptance, Utc::now())
            .await?,
    ))
}
