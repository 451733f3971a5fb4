//! Logins and sessions. Passwords are hashed with argon2id; a login returns an opaque random token
//! whose SHA-256 is stored, so a leaked database holds no usable token. Role checks are explicit at
//! the top of every handler (`user.require(…)`).

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use chrono::Utc;
use crm_core::model::{Actor, Role, User};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Body;
use super::AppState;

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The signed-in user of a request: a `Bearer` token of a live session, else 401.
pub struct AuthUser {
    pub user: User,
    token_hash: String,
}

impl AuthUser {
    /// 403 unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> ApiResult<()> {
        if roles.contains(&self.user.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
    pub fn actor(&self) -> Actor {
        Actor::user(self.user.id)
    }
    pub fn is(&self, role: Role) -> bool {
        self.user.role == role
    }
    /// A regional supervisor's stations; the field-service and CRM routes that other roles share
    /// are limited by region only (a technician's own work is checked where it is served).
    pub async fn region(&self, st: &AppState) -> ApiResult<Scope> {
        if self.user.role == Role::Supervisor && self.user.region.is_some() {
            self.scope(st).await
        } else {
            Ok(Scope::All)
        }
    }

    /// The stations this user may see.
    pub async fn scope(&self, st: &AppState) -> ApiResult<Scope> {
        Ok(match (self.user.role, self.user.station_id, &self.user.region) {
            (Role::StationManager, Some(id), _) => Scope::Stations(vec![id]),
            (Role::StationManager, None, _) => Scope::Stations(vec![]),
            (Role::Technician, ..) => match self.user.technician_id {
                Some(t) => Scope::Stations(vec![st.store.get_technician(t).await?.station_id]),
                None => Scope::Stations(vec![]),
            },
            (Role::Supervisor, _, Some(region)) => Scope::Stations(
                st.store
                    .list_stations()
                    .await?
                    .into_iter()
                    .filter(|s| s.region.as_deref() == Some(region.as_str()))
                    .map(|s| s.id)
                    .collect(),
            ),
            _ => Scope::All,
        })
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <token> (POST /api/v1/auth/login)"))?;
        let hash = token_hash(token);
        match state.store.session_user(&hash, Utc::now()).await? {
            Some(user) => Ok(AuthUser { user, token_hash: hash }),
            None => Err(ApiError::unauthorized("token unknown or expired")),
        }
    }
}

/// How often an open WebSocket checks that its session still stands (expiry, or a sign-out on
/// another node); a sign-out on this node closes it at once.
pub const SESSION_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// The WebSocket close code for a session that ended (signed out or expired); pages show the
/// sign-in form for it instead of reconnecting.
pub const CLOSE_SIGNED_OUT: u16 = 4401;

/// Resolves when the session with this token hash ends: signed out here, or found gone or
/// expired on a recheck. Every page's WebSocket selects on it and closes.
pub fn session_ended(st: &AppState, token_hash: String) -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::sync::broadcast::error::RecvError;
    let store = st.store.clone();
    let mut signed_out = st.signed_out.subscribe();
    async move {
        let mut tick = tokio::time::interval(SESSION_RECHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut listening = true;
        loop {
            tokio::select! {
                ended = signed_out.recv(), if listening => match ended {
                    Ok(h) if h == token_hash => return,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => listening = false,
                },
                _ = tick.tick() => {
                    if matches!(store.session_user(&token_hash, Utc::now()).await, Ok(None)) {
                        return;
                    }
                }
            }
        }
    }
}

/// Tell the page its session ended, and close.
pub async fn close_signed_out(socket: &mut axum::extract::ws::WebSocket) {
    use axum::extract::ws::{CloseFrame, Message};
    let frame = CloseFrame {
        code: CLOSE_SIGNED_OUT,
        reason: "signed out".into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// The address a request came from, when the server knows it (`http::run` records it).
pub struct PeerAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

pub const ALL: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent, Role::Technician];
pub const STAFF: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent];
pub const MANAGERS: &[Role] = &[Role::Admin, Role::Supervisor];
pub const ADMIN: &[Role] = &[Role::Admin];
/// Who works the service network's claims and settlements from the manufacturer's side.
pub const REVIEWERS: &[Role] = &[Role::Admin, Role::Supervisor, Role::Reviewer];
/// Who may read a station's claims and settlements: the manufacturer's side and the station's
/// own manager (scoped by [`AuthUser::scope`]).
pub const NETWORK: &[Role] = &[Role::Admin, Role::Supervisor, Role::Reviewer, Role::StationManager];

/// The stations a user may see: all of them, or a set (a station manager's own, a regional
/// supervisor's region, a technician's home station). Objects outside are answered 404.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    All,
    Stations(Vec<i64>),
}

impl Scope {
    pub fn allows(&self, station_id: i64) -> bool {
        match self {
            Scope::All => true,
            Scope::Stations(ids) => ids.contains(&station_id),
        }
    }
    /// 404 (not 403) outside the scope, so ids of other stations' objects do not leak.
    pub fn check(&self, station_id: Option<i64>, what: &str) -> ApiResult<()> {
        match station_id {
            Some(id) if self.allows(id) => Ok(()),
            None if *self == Scope::All => Ok(()),
            _ => Err(ApiError::not_found(what)),
        }
    }
    /// As `check`, but an object no station holds yet (an order waiting for dispatch) is open to
    /// every scope that may see the route.
    pub fn check_open(&self, station_id: Option<i64>, what: &str) -> ApiResult<()> {
        match station_id {
            None => Ok(()),
            some => self.check(some, what),
        }
    }
    /// The stations a list asked for (`requested`) within the scope: only it when allowed, none
    /// when not, else the whole scope (`None`: every station).
    pub fn narrowed(&self, requested: Option<i64>) -> Option<Vec<i64>> {
        match requested {
            Some(id) if !self.allows(id) => Some(vec![]),
            Some(id) => Some(vec![id]),
            None => self.stations(),
        }
    }
    /// For list queries: `None` for every station.
    pub fn stations(&self) -> Option<Vec<i64>> {
        match self {
            Scope::All => None,
            Scope::Stations(ids) => Some(ids.clone()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: chrono::DateTime<Utc>,
    pub user: User,
}

/// Exchange a username and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "Too many attempts from this address or for this username; see Retry-After")))]
pub async fn login(
    State(st): State<AppState>,
    PeerAddr(addr): PeerAddr,
    Body(req): Body<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    if req.username.is_empty() || req.username.len() > 64 {
        return Err(ApiError::invalid("username", "must have 1 to 64 characters"));
    }
    if req.password.len() > 1024 {
        return Err(ApiError::invalid("password", "too long"));
    }
    if let Err(wait) = st.logins.admit(addr, &req.username, std::time::Instant::now()) {
        return Err(ApiError::too_many(
            format!("too many sign-in attempts; try again in {wait} s"),
            wait,
        ));
    }
    let found = st.store.user_credentials(&req.username).await?;
    // Verify against a dummy hash for unknown users, so timing does not tell who exists. The
    // hash is slow on purpose: off the async workers, so other requests keep being served.
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, st.dummy_hash.as_ref().clone()),
    };
    let password = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let user = match (user, ok) {
        (Some(u), true) => u,
        (user, _) => {
            st.logins.failed(&req.username, std::time::Instant::now());
            // Who tried and from where; never the password. The name stays in the audit log,
            // not in the service log.
            st.store
                .record_audit(
                    Actor::SYSTEM,
                    "login_failed",
                    "user",
                    user.map(|u| u.id),
                    serde_json::json!({ "username": req.username, "address": addr.map(|a| a.to_string()) }),
                )
                .await?;
            tracing::info!("sign-in refused: wrong username or password");
            return Err(ApiError::unauthorized("wrong username or password"));
        }
    };
    st.logins.succeeded(&req.username);
    let token = new_token();
    let expires_at = Utc::now() + st.settings.session_ttl;
    st.store
        .create_session(&token_hash(&token), user.id, expires_at)
        .await?;
    st.store
        .record_audit(
            Actor::user(user.id),
            "login",
            "user",
            Some(user.id),
            serde_json::Value::Null,
        )
        .await?;
    Ok(Json(LoginResponse {
        token,
        expires_at,
        user,
    }))
}

/// End the current session; its token stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(st): State<AppState>, me: AuthUser) -> ApiResult<StatusCode> {
    st.store.delete_session(&me.token_hash).await?;
    // Nobody listening is fine.
    let _ = st.signed_out.send(me.token_hash.clone());
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(me: AuthUser) -> Json<User> {
    Json(me.user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens() {
        let h = hash_password("demo");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("demo", &h));
        assert!(!verify_password("Demo", &h));
        assert!(!verify_password("demo", "not a hash"));
        let t = new_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, new_token());
        assert_eq!(token_hash(&t).len(), 64);
        assert_ne!(token_hash(&t), t);
    }
}
