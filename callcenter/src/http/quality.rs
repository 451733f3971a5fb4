//! Early warning under `/api/v1/quality`: the alerts the daily scan raised, closing one with a
//! note, and a scan on demand.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use crm_core::quality::QualityAlert;
use crm_core::types::Text;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AuthUser, MANAGERS, REVIEWERS};
use super::crm::limit;
use super::error::{ApiResult, ErrorBody};
use super::extract::{Body, Id, Params};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(close_alert))
        .routes(routes!(scan_now))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertSearch {
    /// Only open alerts (default `true`).
    open: Option<bool>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Newest first.
#[utoipa::path(get, path = "/api/v1/quality/alerts", tag = "quality", params(AlertSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<QualityAlert>), (status = 422, body = ErrorBody)))]
async fn list_alerts(
    State(st): State<AppState>,
    me: AuthUser,
    Params(q): Params<AlertSearch>,
) -> ApiResult<Json<Vec<QualityAlert>>> {
    me.require(REVIEWERS)?;
    let limit = limit(q.limit, 50, 200)?;
    Ok(Json(st.store.list_quality_alerts(q.open.unwrap_or(true), limit).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseAlert {
    /// What was found or done.
    pub note: Text,
}

/// Close an alert with a note (closing again changes nothing); the cause can be raised again.
#[utoipa::path(post, path = "/api/v1/quality/alerts/{id}/close", tag = "quality", params(("id" = i64, Path)),
    request_body = CloseAlert, security(("bearer" = [])),
    responses((status = 200, body = QualityAlert), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn close_alert(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(c): Body<CloseAlert>,
) -> ApiResult<Json<QualityAlert>> {
    me.require(REVIEWERS)?;
    Ok(Json(
        st.store
            .close_quality_alert(me.actor(), id, c.note.as_str(), Utc::now())
            .await?,
    ))
}

/// Scan the last whole month now (the daily round does the same); the alerts raised by it.
#[utoipa::path(post, path = "/api/v1/quality/scan", tag = "quality", security(("bearer" = [])),
    responses((status = 200, body = Vec<QualityAlert>)))]
async fn scan_now(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Vec<QualityAlert>>> {
    me.require(MANAGERS)?;
    let raised = crate::quality::scan(st.store.as_ref(), &st.settings.quality, Utc::now()).await?;
    Ok(Json(raised))
}
