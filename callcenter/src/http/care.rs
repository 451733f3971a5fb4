//! Agent tasks: the work queue beside the calls. Agents see their queues' tasks (supervisors
//! also see their alerts), claim one, call the customer from the desk (preview dial) and finish
//! it with an outcome.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use crm_core::care::{
    AgentTask, AgentTaskKind, AgentTaskQuery, AgentTaskStatus, Campaign, NewCampaign, TaskFinish, SUPERVISORS,
};
use crm_core::model::Role;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AuthUser, MANAGERS, STAFF};
use super::crm::limit;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Id, Params};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks))
        .routes(routes!(get_task))
        .routes(routes!(claim_task))
        .routes(routes!(finish_task))
        .routes(routes!(list_campaigns, create_campaign))
        .routes(routes!(get_campaign))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskSearch {
    /// `open`, `claimed` or `done`; open and claimed when absent.
    #[param(value_type = Option<crm_core::care::AgentTaskStatus>, inline)]
    status: Option<String>,
    /// One queue (`general`, `complaints`, … or `supervisors`).
    queue: Option<String>,
    #[param(value_type = Option<crm_core::care::AgentTaskKind>, inline)]
    kind: Option<String>,
    customer_id: Option<i64>,
    campaign_id: Option<i64>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Agents may not see the supervisors' alerts.
fn may_see(me: &AuthUser, queue: &str) -> bool {
    queue != SUPERVISORS || me.is(Role::Supervisor) || me.is(Role::Admin)
}

/// Tasks due first. An agent sees every queue but the supervisors' alerts.
#[utoipa::path(get, path = "/api/v1/agent-tasks", tag = "care", params(TaskSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<AgentTask>), (status = 400, body = ErrorBody)))]
async fn list_tasks(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<TaskSearch>,
) -> ApiResult<Json<Vec<AgentTask>>> {
    me.require(STAFF)?;
    let status = p
        .status
        .as_deref()
        .map(AgentTaskStatus::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(Some("status"), e.0))?;
    let kind = p
        .kind
        .as_deref()
        .map(AgentTaskKind::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(Some("kind"), e.0))?;
    let queues = match p.queue {
        Some(q) if !may_see(&me, &q) => return Err(ApiError::forbidden()),
        Some(q) => vec![q],
        None if may_see(&me, SUPERVISORS) => vec![],
        None => {
            let mut all: Vec<String> = AgentTaskKind::ALL.iter().map(|k| k.queue().to_string()).collect();
            all.retain(|q| q != SUPERVISORS);
            all.sort();
            all.dedup();
            all
        }
    };
    let q = AgentTaskQuery {
        status,
        queues,
        customer_id: p.customer_id,
        campaign_id: p.campaign_id,
        kind,
        limit: limit(p.limit, 100, 500)?,
    };
    Ok(Json(st.store.list_agent_tasks(&q).await?))
}

async fn visible(st: &AppState, me: &AuthUser, id: i64) -> ApiResult<AgentTask> {
    me.require(STAFF)?;
    let t = st.store.agent_task(id).await?;
    if !may_see(me, &t.queue) {
        return Err(ApiError::not_found("agent task"));
    }
    Ok(t)
}

#[utoipa::path(get, path = "/api/v1/agent-tasks/{id}", tag = "care", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = AgentTask), (status = 404, body = ErrorBody)))]
async fn get_task(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<AgentTask>> {
    Ok(Json(visible(&st, &me, id).await?))
}

/// Take a task: nobody else works it meanwhile (409 when another agent holds it).
#[utoipa::path(post, path = "/api/v1/agent-tasks/{id}/claim", tag = "care", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = AgentTask), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn claim_task(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<AgentTask>> {
    visible(&st, &me, id).await?;
    Ok(Json(st.store.claim_agent_task(me.user.id, id, Utc::now()).await?))
}

/// Finish a task you hold, with its outcome (`reached`, `no_answer`, `wrong_number`,
/// `declined`, `handled`) and a note.
#[utoipa::path(post, path = "/api/v1/agent-tasks/{id}/finish", tag = "care", params(("id" = i64, Path)),
    request_body = TaskFinish, security(("bearer" = [])),
    responses((status = 200, body = AgentTask), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn finish_task(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(f): Body<TaskFinish>,
) -> ApiResult<Json<AgentTask>> {
    visible(&st, &me, id).await?;
    Ok(Json(st.store.finish_agent_task(me.user.id, id, &f, Utc::now()).await?))
}

/// Outbound campaigns, newest first, with their progress.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "care", security(("bearer" = [])),
    responses((status = 200, body = Vec<Campaign>)))]
async fn list_campaigns(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Vec<Campaign>>> {
    me.require(STAFF)?;
    Ok(Json(st.store.list_campaigns(100).await?))
}

/// Start an outbound campaign: a task for every customer the reminder applies to today
/// (`within_days` ahead for maintenance and warranties; birthdays only with marketing consent;
/// never on the do-not-call list), worked by the kind's queue from the task list.
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "care", request_body = NewCampaign, security(("bearer" = [])),
    responses((status = 201, body = Campaign), (status = 409, body = ErrorBody, description = "Every such reminder is in a task already"), (status = 422, body = ErrorBody)))]
async fn create_campaign(
    State(st): State<AppState>,
    me: AuthUser,
    Body(c): Body<NewCampaign>,
) -> ApiResult<(StatusCode, Json<Campaign>)> {
    me.require(MANAGERS)?;
    c.validate()?;
    let now = Utc::now();
    let tasks = crate::care::reminders(st.store.as_ref(), c.kind, now.date_naive(), c.within_days, now).await?;
    let campaign = st.store.create_campaign(me.actor(), &c, &tasks, now).await?;
    Ok((StatusCode::CREATED, Json(campaign)))
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "care", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Campaign), (status = 404, body = ErrorBody)))]
async fn get_campaign(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Campaign>> {
    me.require(STAFF)?;
    Ok(Json(st.store.campaign(id).await?))
}
