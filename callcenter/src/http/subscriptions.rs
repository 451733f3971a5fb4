//! Scheduled reports under `/api/v1/report-subscriptions`: subscribe (again: the same
//! subscription), list, unsubscribe, and send the latest period now.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use crm_core::mail::Mail;
use crm_core::subscriptions::{NewSubscription, Subscription};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AuthUser, REVIEWERS};
use super::error::{ApiResult, ErrorBody};
use super::extract::{Body, Id};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, subscribe))
        .routes(routes!(unsubscribe))
        .routes(routes!(send_now))
}

#[derive(Serialize, ToSchema)]
pub struct Subscribed {
    pub subscription: Subscription,
    /// The same report, frequency and address were subscribed before: nothing changed.
    pub replayed: bool,
}

#[utoipa::path(get, path = "/api/v1/report-subscriptions", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = Vec<Subscription>)))]
async fn list(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Vec<Subscription>>> {
    me.require(REVIEWERS)?;
    Ok(Json(st.store.subscriptions().await?))
}

/// Receive a report by e-mail once per day, ISO week or month, for the period just ended.
#[utoipa::path(post, path = "/api/v1/report-subscriptions", tag = "reports", request_body = NewSubscription, security(("bearer" = [])),
    responses((status = 201, body = Subscribed), (status = 200, body = Subscribed), (status = 422, body = ErrorBody)))]
async fn subscribe(
    State(st): State<AppState>,
    me: AuthUser,
    Body(n): Body<NewSubscription>,
) -> ApiResult<(StatusCode, Json<Subscribed>)> {
    me.require(REVIEWERS)?;
    let (subscription, replayed) = st.store.subscribe(me.actor(), &n, Utc::now()).await?;
    let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(Subscribed { subscription, replayed })))
}

#[utoipa::path(delete, path = "/api/v1/report-subscriptions/{id}", tag = "reports", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn unsubscribe(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<StatusCode> {
    me.require(REVIEWERS)?;
    st.store.unsubscribe(me.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queue the report of the latest whole period now (once per period: again, the same message).
#[utoipa::path(post, path = "/api/v1/report-subscriptions/{id}/send", tag = "reports", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Mail), (status = 404, body = ErrorBody)))]
async fn send_now(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Mail>> {
    me.require(REVIEWERS)?;
    let s = st
        .store
        .subscriptions()
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or(crm_core::StoreError::not_found("subscription"))?;
    let (mail, _) = crate::subscriptions::send(st.store.as_ref(), &s, Utc::now()).await?;
    Ok(Json(mail))
}
