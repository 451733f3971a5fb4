//! The HTTP adapter: axum routes over the CRM store. `run` serves a bound listener until the
//! shutdown future resolves, so tests start the real server on port 0.

pub mod auth;
mod billing;
mod callbacks;
mod care;
mod contract;
mod crm;
mod desk;
mod dispatch;
mod docs;
pub mod error;
pub mod extract;
mod mail;
mod metrics;
mod network;
mod quality;
mod reports;
mod sales;
mod strict;
mod subscriptions;
mod supply;
mod tech;
mod throttle;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use crm_core::screen_pop::ScreenPopSettings;
use crm_core::Store;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use metrics::Metrics;
pub use reports::csv_body;

/// Settings the handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub session_ttl: chrono::Duration,
    pub screen_pop: ScreenPopSettings,
    /// Where uploaded photos and signatures are written (`data_dir/files`).
    pub files_dir: std::path::PathBuf,
    /// Where the switch writes callers' messages (`data_dir/voicemail`); only files there are served.
    pub voicemail_dir: std::path::PathBuf,
    /// Largest photo accepted, in bytes.
    pub photo_max_bytes: usize,
    /// Map tiles for the dispatcher's page, `{z}/{x}/{y}` placeholders; empty: no tiles.
    pub map_tiles_url: String,
    /// Travel speed for ETAs and day plans.
    pub travel_speed_kmh: f64,
    /// Break per stretch of shift over six hours, in day plans.
    pub break_minutes: f64,
    /// Assign new repair orders to the best candidate as they are created.
    pub auto_assign: bool,
    /// Labour rate per hour in minor units, and the currency, for stations without a contract;
    /// travel bands: what warranty claims are priced with.
    pub claim_rules: crm_core::claims::ClaimRules,
    /// Prices, tax and terms of customer-paid work.
    pub billing: crm_core::billing::BillingRules,
    /// Early warning: what raises an alert and who hears of it.
    pub quality: crate::quality::QualitySettings,
}

impl Settings {
    /// Defaults for tests and embedding: files under `files_dir`.
    pub fn new(files_dir: std::path::PathBuf) -> Settings {
        Settings {
            session_ttl: chrono::Duration::hours(12),
            screen_pop: ScreenPopSettings::default(),
            voicemail_dir: files_dir.with_file_name("voicemail"),
            files_dir,
            photo_max_bytes: 8 * 1024 * 1024,
            map_tiles_url: String::new(),
            travel_speed_kmh: 40.0,
            break_minutes: 30.0,
            auto_assign: true,
            claim_rules: crm_core::claims::ClaimRules::default(),
            billing: crm_core::billing::BillingRules::default(),
            quality: crate::quality::QualitySettings::default(),
        }
    }

    /// How technicians' days run, for the planner.
    pub fn day_rules(&self) -> fieldops::DayRules {
        fieldops::DayRules {
            speed_kmh: self.travel_speed_kmh,
            reach_km: ::dispatch::candidates::REACH_KM,
            break_minutes: self.break_minutes,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    /// The voice front end's counters, when it runs.
    pub voice: Option<Arc<voice::VoiceStats>>,
    /// Places outbound calls, when the voice front end runs.
    pub dialer: Option<voice::Dialer>,
    /// The ACD's agent desk and wallboard, when the voice front end runs.
    pub desk: Option<voice::desk::Desk>,
    /// The dispatch adapter: plans, assignments, re-plans and the live field events.
    pub field: fieldops::FieldOps,
    /// Verified against when a username is unknown, so login timing does not reveal users.
    dummy_hash: Arc<String>,
    /// Login attempts per address and failures per username.
    logins: Arc<throttle::LoginThrottle>,
    /// Sessions ended by signing out (their token hashes), for the WebSockets they opened.
    pub signed_out: tokio::sync::broadcast::Sender<String>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, settings: Settings) -> Self {
        let field = fieldops::FieldOps::new(store.clone(), settings.day_rules(), settings.auto_assign);
        AppState {
            store,
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::default()),
            voice: None,
            dialer: None,
            desk: None,
            field,
            dummy_hash: Arc::new(auth::hash_password("not a real password")),
            logins: Arc::default(),
            signed_out: tokio::sync::broadcast::channel(256).0,
        }
    }
}

impl AppState {
    /// Share live events with other nodes (Redis).
    pub fn with_bus(mut self, bus: fieldops::bus::Bus) -> Self {
        self.field = self.field.with_bus(bus);
        self
    }

    pub fn with_voice(mut self, voice: &voice::Voice) -> Self {
        self.voice = Some(voice.stats.clone());
        self.metrics = Arc::new(Metrics::with_voice());
        self.dialer = Some(voice.dialer());
        self.desk = Some(voice.desk.clone());
        self
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Aftercare API", description = "After-sales service: customers, assets and warranty, service requests, repair orders, stations and technicians."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Log in and out"),
        (name = "customers", description = "Customers, their history and the screen pop"),
        (name = "assets", description = "Products owned by customers, with warranty status"),
        (name = "service", description = "Service requests, repair orders, complaints"),
        (name = "network", description = "Service stations, technicians, parts stock"),
        (name = "catalogue", description = "Product models and parts"),
        (name = "knowledge base", description = "FAQ and fault → fix articles"),
        (name = "users", description = "Users and the audit log"),
        (name = "calls", description = "Call detail records"),
        (name = "reports", description = "Reports (call center, service quality, station ranking, parts; JSON or CSV; page at /reports) claims; settlements of approved claim lines"),
        (name = "station portal", description = "A station manager's day (page at /station): the station's orders to accept, decline or assign, its stock, its repairs to claim"),
        (name = "supply", description = "Central warehouses and their ledger, per-station safety stock, replenishment suggestions, parts orders from request to receipt"),
        (name = "claims", description = "Warranty claims from stations: submitted for completed warranty repairs, reviewed line by line, appealed once, old parts returned"),
        (name = "care", description = "Agent tasks: unanswered satisfaction callbacks, complaint follow-ups and escalations, customer-care reminders and campaigns"),
        (name = "technician", description = "The technician's mobile task API: own tasks, status flow, check-in, report, parts, photos, signature, position. Every write takes an Idempotency-Key header."),
        (name = "dispatch", description = "Auto-assignment, day plans, the dispatcher's board (page at /dispatch; WebSocket at /api/v1/dispatch/ws), station stock operations"),
        (name = "dealers", description = "Dealers, sale registration by VIN or serial (the warranty starts at the sale), what a dealer sold and what happened to it since"),
        (name = "billing", description = "Paid repairs: quotes accepted before work (signed on site or by phone), invoices numbered without gaps per station and year, payments"),
        (name = "call center", description = "The agent desk's wrap-up and the supervisor wallboard (pages at /desk and /wallboard; WebSockets at /api/v1/agent/ws and /api/v1/wallboard/ws)"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The refusals every operation of a kind can give, documented on each with the error body:
/// 401 and 403 where a session is needed, 400 (malformed JSON), 413, 415 and 422 where a JSON
/// body is taken, 400 and 422 where there are query parameters (a NUL character is 422), 404
/// where the path names an object. An operation's own description of a status is kept.
fn document_common_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in contract::operations(item) {
            let mut add = vec![];
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                add.push(("401", "No session, or it expired"));
                add.push(("403", "Your role may not do this"));
            }
            let json_body = op
                .request_body
                .as_ref()
                .is_some_and(|b| b.content.contains_key("application/json"));
            if json_body {
                add.push(("400", "Malformed JSON"));
                add.push(("413", "The body is larger than 1 MiB"));
                add.push(("415", "Not application/json"));
                add.push(("422", "A field is missing, unknown or invalid (named in `field`)"));
            }
            let params = op.parameters.as_deref().unwrap_or(&[]);
            if params.iter().any(|p| p.parameter_in == ParameterIn::Query) {
                add.push(("400", "A query parameter is not of its type"));
                add.push(("422", "A query parameter is invalid (named in `field`)"));
            }
            if path.contains('{') {
                add.push(("400", "A path id is not a positive integer"));
                add.push(("404", "No such object, or not yours to see"));
            }
            for (code, description) in add {
                op.responses
                    .responses
                    .entry(code.to_string())
                    .or_insert_with(|| error(description).into());
            }
        }
    }
}

/// The whole HTTP surface and its OpenAPI document, built from the same route list.
pub fn app(state: AppState) -> Router {
    let (api_router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .merge(crm::router())
        .merge(desk::router())
        .merge(dispatch::router())
        .merge(tech::router())
        .merge(callbacks::router())
        .merge(care::router())
        .merge(reports::router())
        .merge(network::router())
        .merge(supply::router())
        .merge(mail::router())
        .merge(quality::router())
        .merge(subscriptions::router())
        .merge(sales::router())
        .merge(billing::router())
        .split_for_parts();
    let mut openapi = openapi;
    document_common_errors(&mut openapi);
    contract::document_constraints(&mut openapi);
    let openapi = Arc::new(openapi);
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::render))
        .route(
            "/openapi.json",
            get({
                let doc = openapi.clone();
                move || async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/docs", get(docs::page))
        .route("/assets/{name}", get(docs::script))
        .route("/assets/vendor/{name}", get(docs::vendor))
        .route("/", get(docs::index))
        .merge(api_router)
        .merge(desk::pages())
        .merge(dispatch::pages())
        .merge(reports::pages())
        .merge(network::pages())
        .merge(sales::pages())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track));
    let csp = content_security_policy(&state.settings.map_tiles_url);
    security_headers(router, csp).with_state(state)
}

/// The Content-Security-Policy of every answer: scripts, styles' files, images, sockets and media
/// from this server only (no inline script runs, so markup smuggled into data cannot run
/// either); never framed. Inline `style` attributes stay allowed: they run no code. The map's
/// tile server, when one is configured, may serve images.
pub fn content_security_policy(map_tiles_url: &str) -> String {
    let tiles = map_tiles_url
        .split_once("://")
        .map(|(scheme, rest)| format!(" {scheme}://{}", rest.split('/').next().unwrap_or("")))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:{tiles}; \
         connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

fn security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>, csp: String) -> Router<S> {
    use axum::http::{header, HeaderValue};
    use tower_http::set_header::SetResponseHeaderLayer;
    let csp = HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    router
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, csp))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

async fn not_found() -> impl IntoResponse {
    error::ApiError::not_found("route")
}

/// 200 once storage answers, 503 otherwise.
async fn healthz(State(st): State<AppState>) -> impl IntoResponse {
    match st.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ok", "storage": st.store.backend() })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: storage unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable", "storage": st.store.backend() })),
            )
        }
    }
}

/// Longest a client may take to send a request's headers; also how long an idle keep-alive
/// connection is kept waiting for its next request.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections served at once; further ones are closed as they arrive until some end.
pub const MAX_CONNECTIONS: usize = 4096;
/// How long shutting down waits for requests in flight.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Serve until `shutdown` resolves, then finish in-flight requests (for at most ten seconds).
/// Each connection is hyper's, with a header read timeout that also bounds idle keep-alive
/// connections, and at most [`MAX_CONNECTIONS`] at once. Handlers see the peer's address as
/// `ConnectInfo<SocketAddr>` (login throttling keys on it).
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt as _;
    let app = app(state);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024);
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(100);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!("HTTP connection refused: {MAX_CONNECTIONS} open already");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = app
            .clone()
            .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                req
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(svc))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "HTTP connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutting down with HTTP requests still in flight");
    }
    Ok(())
}
