//! Satisfaction callbacks and scores: a repair order's callback job with its attempts, a survey
//! typed in by an agent (a customer who called in instead), and the scores of stations and
//! technicians.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use crm_core::callback::{CallbackAttempt, CallbackJob, NewSurvey, Score, SurveyResult};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AuthUser, STAFF};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Id};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(order_callback))
        .routes(routes!(record_survey))
        .routes(routes!(station_score))
        .routes(routes!(technician_score))
}

#[derive(Serialize, ToSchema)]
pub struct CallbackView {
    pub job: CallbackJob,
    pub attempts: Vec<CallbackAttempt>,
    /// What the customer answered, once surveyed.
    pub survey: Option<SurveyResult>,
}

/// The satisfaction callback owed for a completed repair order, with every attempt and the
/// survey's answers.
#[utoipa::path(get, path = "/api/v1/repair-orders/{id}/callback", tag = "service", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = CallbackView), (status = 404, body = ErrorBody)))]
async fn order_callback(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<CallbackView>> {
    me.require(STAFF)?;
    st.store.get_repair_order(id).await?;
    let Some(job) = st.store.callback_for_order(id).await? else {
        return Err(ApiError::not_found("callback"));
    };
    let attempts = st.store.callback_attempts(job.id).await?;
    let survey = st.store.survey_for_order(id).await?;
    Ok(Json(CallbackView { job, attempts, survey }))
}

/// Record a survey's answers (an agent typing in what a customer said); ends the order's
/// callback. Once per repair order (409 after that); the order must be completed.
#[utoipa::path(post, path = "/api/v1/surveys", tag = "service", request_body = NewSurvey, security(("bearer" = [])),
    responses((status = 201, body = SurveyResult), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_survey(
    State(st): State<AppState>,
    me: AuthUser,
    Body(s): Body<NewSurvey>,
) -> ApiResult<(StatusCode, Json<SurveyResult>)> {
    me.require(STAFF)?;
    let r = st.store.record_survey(me.actor(), &s, Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// A station's score from its customers' surveys: mean satisfaction with the repair, share
/// fixed the first time.
#[utoipa::path(get, path = "/api/v1/stations/{id}/score", tag = "network", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Score), (status = 404, body = ErrorBody)))]
async fn station_score(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Score>> {
    me.require(STAFF)?;
    st.store.get_station(id).await?;
    Ok(Json(st.store.station_score(id).await?))
}

/// A technician's score from the surveys of their repairs.
#[utoipa::path(get, path = "/api/v1/technicians/{id}/score", tag = "network", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Score), (status = 404, body = ErrorBody)))]
async fn technician_score(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Score>> {
    me.require(STAFF)?;
    st.store.get_technician(id).await?;
    Ok(Json(st.store.technician_score(id).await?))
}
