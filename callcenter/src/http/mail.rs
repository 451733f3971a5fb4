//! The e-mail outbox under `/api/v1/mail`, for administrators: what is queued, sent or given
//! up, and a test message to check the SMTP settings.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use crm_core::mail::{Mail, MailKind, MailStatus, NewMail};
use crm_core::types::Email;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AuthUser, ADMIN};
use super::crm::limit;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Params};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mail))
        .routes(routes!(test_mail))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MailSearch {
    #[param(inline)]
    status: Option<MailStatus>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The outbox, newest first.
#[utoipa::path(get, path = "/api/v1/mail", tag = "mail", params(MailSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<Mail>), (status = 422, body = ErrorBody)))]
async fn list_mail(
    State(st): State<AppState>,
    me: AuthUser,
    Params(q): Params<MailSearch>,
) -> ApiResult<Json<Vec<Mail>>> {
    me.require(ADMIN)?;
    let limit = limit(q.limit, 100, 500)?;
    Ok(Json(st.store.list_mail(q.status, limit).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestMail {
    pub to: Email,
    /// Names the message: sending again with the same key answers the first one.
    #[schema(pattern = "^[A-Za-z0-9:_.-]{1,64}$")]
    pub key: String,
}

#[derive(Serialize, ToSchema)]
pub struct MailQueued {
    pub mail: Mail,
    /// Queued before under this key: nothing new was queued.
    pub replayed: bool,
}

/// Queue a test message to `to` (sent by the outbox like any other).
#[utoipa::path(post, path = "/api/v1/mail/test", tag = "mail", request_body = TestMail, security(("bearer" = [])),
    responses((status = 201, body = MailQueued), (status = 200, body = MailQueued), (status = 422, body = ErrorBody)))]
async fn test_mail(
    State(st): State<AppState>,
    me: AuthUser,
    Body(t): Body<TestMail>,
) -> ApiResult<(StatusCode, Json<MailQueued>)> {
    me.require(ADMIN)?;
    let key_ok =
        (1..=64).contains(&t.key.len()) && t.key.chars().all(|c| c.is_ascii_alphanumeric() || ":_.-".contains(c));
    if !key_ok {
        return Err(ApiError::invalid(
            "key",
            "1 to 64 letters, digits, ':', '_', '.' or '-'",
        ));
    }
    let now = Utc::now();
    let m = NewMail {
        key: format!("test:{}", t.key),
        kind: MailKind::Test,
        to: t.to,
        subject: "Aftercare test message".into(),
        text: format!("This message tests the service's e-mail settings (key {}).\n", t.key),
        attachments: vec![],
        due_at: now,
    };
    let (mail, replayed) = st.store.queue_mail(&m, now).await?;
    let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(MailQueued { mail, replayed })))
}
