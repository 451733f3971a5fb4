//! The agent desk and the supervisor wallboard over HTTP: their pages, the agent's WebSocket
//! (state, offers with the screen pop, softphone signalling), the wallboard as JSON and as a
//! WebSocket feed, and the one-step wrap-up that files notes, a service request and a repair
//! order from a call.
//!
//! Browsers cannot put a bearer token on a WebSocket request, so the sockets take it as
//! `?token=` (the same session tokens as the API).

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use crm_core::model::*;
use crm_core::types::Text;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{close_signed_out, session_ended, token_hash, AuthUser, MANAGERS, STAFF};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Params};
use super::AppState;
use voice::desk::{CenterIn, Desk, DeskIn, DeskOut};
use voice::wallboard::Wallboard;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(wallboard)).routes(routes!(wrap_up))
}

/// Routes outside the OpenAPI document: pages and WebSockets.
pub fn pages() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/desk", axum::routing::get(desk_page))
        .route("/wallboard", axum::routing::get(wallboard_page))
        .route("/api/v1/agent/ws", axum::routing::get(agent_socket))
        .route("/api/v1/wallboard/ws", axum::routing::get(wallboard_socket))
}

fn page(html: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(html),
    )
        .into_response()
}

async fn desk_page() -> Response {
    page(include_str!("desk.html"))
}

async fn wallboard_page() -> Response {
    page(include_str!("wallboard.html"))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TokenParam {
    /// A session token from `POST /api/v1/auth/login`.
    token: String,
}

async fn user_of(st: &AppState, token: &str) -> ApiResult<User> {
    match st.store.session_user(&token_hash(token), Utc::now()).await? {
        Some(u) => Ok(u),
        None => Err(ApiError::unauthorized("token unknown or expired")),
    }
}

fn desk_of(st: &AppState) -> ApiResult<Desk> {
    st.desk
        .clone()
        .ok_or_else(|| ApiError::unavailable("the voice front end is not running"))
}

/// The agent's WebSocket. The first message is `hello`; then states, offers, and so on (see
/// `center::DeskOut`); the page sends `center::DeskIn` commands.
async fn agent_socket(
    State(st): State<AppState>,
    Params(p): Params<TokenParam>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let user = user_of(&st, &p.token).await?;
    if !STAFF.contains(&user.role) {
        return Err(ApiError::forbidden());
    }
    let desk = desk_of(&st)?;
    let skills = st.store.agent_skills(user.id).await?;
    let store = st.store.clone();
    let ended = session_ended(&st, token_hash(&p.token));
    Ok(ws.on_upgrade(move |socket| agent_session(socket, desk, store, user, skills, ended)))
}

/// A preview dial, checked: the task is claimed by this agent and its customer has a phone.
async fn preview_dial(store: &dyn crm_core::Store, user_id: i64, session: u64, task: i64) -> Result<CenterIn, String> {
    let t = store
        .agent_task(task)
        .await
        .map_err(|_| format!("task: no task {task}"))?;
    if t.status != crm_core::care::AgentTaskStatus::Claimed || t.claimed_by != Some(user_id) {
        return Err("task: claim the task before calling".into());
    }
    // The number the task names (a voicemail's caller ID), else the customer's first phone.
    let number = match (&t.callback_number, t.customer_id) {
        (Some(n), _) => n.clone(),
        (None, Some(id)) => {
            let customer = store.get_customer(id).await.map_err(|e| format!("task: {e}"))?;
            let Some(phone) = customer.phones.first() else {
                return Err("task: the customer has no phone number".into());
            };
            phone.number.as_str().to_string()
        }
        (None, None) => return Err("task: nobody to call".into()),
    };
    let today = chrono::Utc::now().date_naive();
    let pop = match crm_core::types::PhoneNumber::parse(&number) {
        Ok(phone) => crm_core::screen_pop::screen_pop(
            store,
            &crm_core::screen_pop::Lookup::Phone(phone),
            today,
            crm_core::screen_pop::ScreenPopSettings::default(),
        )
        .await
        .ok()
        .flatten()
        .map(Box::new),
        Err(_) => None,
    };
    // Supervisors' alerts have no ACD queue: their calls count under `general`.
    let queue = if t.queue == crm_core::care::SUPERVISORS {
        "general".to_string()
    } else {
        t.queue
    };
    Ok(CenterIn::PreviewDial {
        user_id,
        session,
        task,
        queue,
        number,
        pop,
    })
}

async fn agent_session(
    mut socket: WebSocket,
    desk: Desk,
    store: std::sync::Arc<dyn crm_core::Store>,
    user: User,
    skills: Vec<AgentSkill>,
    ended: impl std::future::Future<Output = ()>,
) {
    let (tx, mut rx) = mpsc::channel::<DeskOut>(voice::DESK_BUFFER);
    let (reply, answer) = oneshot::channel();
    let user_id = user.id;
    tracing::info!(agent = user_id, "agent desk connected");
    if desk
        .tx
        .send(CenterIn::Connect {
            user,
            skills,
            tx,
            reply,
        })
        .await
        .is_err()
    {
        return;
    }
    let Ok(Ok(session)) = answer.await else { return };
    tokio::pin!(ended);
    loop {
        tokio::select! {
            // Signed out or expired: the desk closes and the agent is freed as for a closed browser.
            _ = &mut ended => {
                close_signed_out(&mut socket).await;
                break;
            }
            out = rx.recv() => {
                let Some(out) = out else { break };
                let text = serde_json::to_string(&out).unwrap_or_default();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            msg = tokio::time::timeout(Duration::from_secs(90), socket.recv()) => {
                // Pages ping every 20 s; a silent socket for 90 s is a closed browser.
                let Ok(Some(Ok(msg))) = msg else { break };
                let text = match msg {
                    Message::Text(t) => t.to_string(),
                    Message::Close(_) => break,
                    _ => continue,
                };
                if text.len() > 64 * 1024 {
                    let _ = socket.send(Message::Text(error_json("message too large").into())).await;
                    continue;
                }
                if text.trim() == "{\"type\":\"ping\"}" {
                    continue;
                }
                match serde_json::from_str::<DeskIn>(&text) {
                    Ok(DeskIn::PreviewDial { task }) => {
                        let msg = match preview_dial(store.as_ref(), user_id, session, task).await {
                            Ok(m) => m,
                            Err(e) => {
                                let _ = socket.send(Message::Text(error_json(&e).into())).await;
                                continue;
                            }
                        };
                        if desk.tx.send(msg).await.is_err() {
                            break;
                        }
                    }
                    Ok(cmd) => {
                        if desk.tx.send(CenterIn::Command { user_id, session, cmd }).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = socket.send(Message::Text(error_json(&e.to_string()).into())).await;
                    }
                }
            }
        }
    }
    let _ = desk.tx.send(CenterIn::Disconnect { user_id, session }).await;
}

fn error_json(message: &str) -> String {
    serde_json::to_string(&DeskOut::Error {
        message: message.to_string(),
    })
    .unwrap_or_default()
}

/// Live figures per queue and agent, today's 15-minute intervals and the Erlang C staffing
/// advice. Refreshed every second.
#[utoipa::path(get, path = "/api/v1/wallboard", tag = "call center", security(("bearer" = [])),
    responses((status = 200, body = Wallboard), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn wallboard(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Wallboard>> {
    me.require(MANAGERS)?;
    let desk = desk_of(&st)?;
    let board = desk.wallboard.borrow().as_ref().clone();
    Ok(Json(board))
}

/// The wallboard as a feed: one JSON snapshot per change (every second while the service runs).
async fn wallboard_socket(
    State(st): State<AppState>,
    Params(p): Params<TokenParam>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let user = user_of(&st, &p.token).await?;
    if !MANAGERS.contains(&user.role) {
        return Err(ApiError::forbidden());
    }
    let desk = desk_of(&st)?;
    let ended = session_ended(&st, token_hash(&p.token));
    Ok(ws.on_upgrade(move |socket| wallboard_feed(socket, desk, ended)))
}

async fn wallboard_feed(mut socket: WebSocket, mut desk: Desk, ended: impl std::future::Future<Output = ()>) {
    tokio::pin!(ended);
    loop {
        let text = serde_json::to_string(desk.wallboard.borrow_and_update().as_ref()).unwrap_or_default();
        if socket.send(Message::Text(text.into())).await.is_err() {
            break;
        }
        tokio::select! {
            _ = &mut ended => {
                close_signed_out(&mut socket).await;
                break;
            }
            changed = desk.wallboard.changed() => if changed.is_err() { break },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Answered on the call.
    Resolved,
    /// Information given (warranty, opening hours …).
    Information,
    /// A service request (ticket) to follow up.
    ServiceRequest,
    /// A service request with a repair order for a technician.
    RepairOrder,
    /// The customer asked to be called back.
    CallbackRequested,
    WrongNumber,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WrapUp {
    /// The call's SIP Call-ID (from the desk's `ended` message); kept in the notes.
    #[schema(min_length = 1, max_length = 256)]
    pub call_id: String,
    pub customer_id: i64,
    pub disposition: Disposition,
    #[serde(default)]
    #[schema(max_length = 1500)]
    pub notes: String,
    /// For service requests and repair orders: what is wrong.
    #[serde(default)]
    #[schema(value_type = Option<crm_core::types::Text>)]
    pub subject: Option<String>,
    #[serde(default)]
    pub asset_id: Option<i64>,
    #[serde(default)]
    pub fault_code: Option<String>,
    #[serde(default)]
    pub priority: Option<Priority>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WrapUpResult {
    pub interaction: Interaction,
    pub ticket: Option<Ticket>,
    pub repair_order: Option<RepairOrder>,
}

/// File a call in one step: the note with its disposition on the customer's history and, as
/// the disposition asks, a service request and a repair order for the asset — in one
/// transaction, once per call. The same form sent again (Save pressed twice, a retry) is
/// answered 200 with what the first filed; a different form for a filed call is 409.
#[utoipa::path(post, path = "/api/v1/desk/wrap-up", tag = "call center", request_body = WrapUp, security(("bearer" = [])),
    responses((status = 201, body = WrapUpResult, description = "Filed"), (status = 200, body = WrapUpResult, description = "Filed before: the first answer"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn wrap_up(
    State(st): State<AppState>,
    me: AuthUser,
    Body(w): Body<WrapUp>,
) -> ApiResult<(StatusCode, Json<WrapUpResult>)> {
    me.require(STAFF)?;
    if w.call_id.is_empty() || w.call_id.chars().count() > 256 {
        return Err(ApiError::invalid("call_id", "1 to 256 characters"));
    }
    if w.notes.chars().count() > 1500 {
        return Err(ApiError::invalid("notes", "at most 1500 characters"));
    }
    let customer = st.store.get_customer(w.customer_id).await.map_err(|e| match e {
        crm_core::StoreError::NotFound { .. } => ApiError::invalid("customer_id", "no such customer"),
        e => e.into(),
    })?;
    let needs_ticket = matches!(w.disposition, Disposition::ServiceRequest | Disposition::RepairOrder);
    let subject = match (&w.subject, needs_ticket) {
        (Some(s), true) => Some(Text::parse(s).map_err(|e| ApiError::invalid("subject", e.to_string()))?),
        (None, true) => {
            return Err(ApiError::invalid(
                "subject",
                "required for service requests and repair orders",
            ))
        }
        (_, false) => None,
    };
    if w.disposition == Disposition::RepairOrder && w.asset_id.is_none() {
        return Err(ApiError::invalid("asset_id", "a repair order needs the asset"));
    }
    if let Some(asset_id) = w.asset_id {
        let asset = st.store.get_asset(asset_id).await.map_err(|e| match e {
            crm_core::StoreError::NotFound { .. } => ApiError::invalid("asset_id", "no such asset"),
            e => e.into(),
        })?;
        if asset.customer_id != customer.id {
            return Err(ApiError::invalid("asset_id", "the asset belongs to another customer"));
        }
    }
    let disposition = serde_json::to_value(w.disposition)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let summary = if w.notes.trim().is_empty() {
        format!("Call {}: {disposition}", w.call_id)
    } else {
        format!("Call {}: {disposition}. {}", w.call_id, w.notes.trim())
    };
    let summary = Text::parse(&summary).map_err(|e| ApiError::invalid("notes", e.to_string()))?;
    let fingerprint = {
        use sha2::{Digest, Sha256};
        let form = serde_json::json!([
            w.customer_id,
            disposition,
            w.notes.trim(),
            w.subject,
            w.asset_id,
            w.fault_code,
            w.priority
        ]);
        hex::encode(Sha256::digest(form.to_string().as_bytes()))
    };
    let ticket = subject.map(|subject| NewTicket {
        customer_id: customer.id,
        asset_id: w.asset_id,
        subject,
        description: w.notes.trim().to_string(),
        priority: w.priority.unwrap_or(Priority::Normal),
    });
    let repair_order = (w.disposition == Disposition::RepairOrder).then(|| NewRepairOrder {
        ticket_id: 0,
        asset_id: w.asset_id,
        station_id: None,
        technician_id: None,
        fault_code: w.fault_code.clone(),
        description: w.notes.trim().to_string(),
        scheduled_for: None,
        appointment: None,
        duration_minutes: None,
        parts: vec![],
    });
    let filed = st
        .store
        .wrap_up_call(
            me.actor(),
            &NewWrapUp {
                call_id: w.call_id.clone(),
                customer_id: customer.id,
                fingerprint,
                interaction: NewInteraction {
                    kind: InteractionKind::Call,
                    direction: Direction::Inbound,
                    summary,
                    at: None,
                },
                ticket,
                repair_order,
            },
        )
        .await?;
    let (status, repair_order) = match (filed.replayed, filed.repair_order) {
        // Filed before: the first answer, as things stand now; dispatched then already.
        (true, ro) => (StatusCode::OK, ro),
        (false, Some(ro)) => (
            StatusCode::CREATED,
            Some(st.field.dispatch_new(me.actor(), ro, chrono::Utc::now()).await),
        ),
        (false, None) => (StatusCode::CREATED, None),
    };
    Ok((
        status,
        Json(WrapUpResult {
            interaction: filed.interaction,
            ticket: filed.ticket,
            repair_order,
        }),
    ))
}
