//! Metrics in Prometheus text format, with the `prometheus` crate: HTTP requests labelled by the
//! matched route template (never the raw URI, which may carry a phone number) and the voice
//! front end's counters, read from its atomics at each scrape.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use super::AppState;

const BUCKETS: [f64; 9] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0];

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    /// The voice front end's figures, set from its atomics when `/metrics` is read (counters
    /// there are monotonic, so a gauge set to them reads as the counter it is).
    voice: Vec<(&'static str, IntGauge)>,
    jitter: GaugeVec,
}

/// (name, help) of each voice figure; the order matches `voice_values`.
const VOICE: [(&str, &str); 16] = [
    ("aftercare_calls_offered_total", "Calls offered to the IVR."),
    ("aftercare_calls_active", "Calls in progress."),
    (
        "aftercare_calls_refused_total",
        "INVITEs refused (capacity, media, no flow).",
    ),
    ("aftercare_sip_messages_total", "SIP messages received."),
    (
        "aftercare_sip_banned_total",
        "SIP messages dropped from banned sources.",
    ),
    (
        "aftercare_sip_bans_total",
        "Bans the per-source SIP rate limiter started.",
    ),
    (
        "aftercare_cdr_failures_total",
        "Call records that could not be written.",
    ),
    ("aftercare_agents_connected", "Agent desks connected."),
    (
        "aftercare_queue_announcements_total",
        "Position and expected-wait announcements played to waiting callers.",
    ),
    (
        "aftercare_callbacks_requested_total",
        "Callers who chose to be called back, keeping their place.",
    ),
    (
        "aftercare_callbacks_placed_total",
        "Callbacks dialled when the caller's turn came.",
    ),
    (
        "aftercare_callbacks_connected_total",
        "Callbacks answered and connected to an agent.",
    ),
    ("aftercare_rtp_sent_total", "RTP packets sent."),
    ("aftercare_rtp_received_total", "RTP packets received."),
    (
        "aftercare_rtp_foreign_total",
        "RTP packets dropped: not from the latched source.",
    ),
    ("aftercare_media_streams", "Media streams running."),
];

fn voice_values(v: &voice::VoiceStats) -> [u64; 16] {
    use std::sync::atomic::Ordering::Relaxed;
    [
        v.calls_offered.load(Relaxed),
        v.calls_active.load(Relaxed),
        v.calls_refused.load(Relaxed),
        v.sip_received.load(Relaxed),
        v.sip_banned.load(Relaxed),
        v.sip_bans.load(Relaxed),
        v.cdr_failures.load(Relaxed),
        v.agents_connected.load(Relaxed),
        v.announcements.load(Relaxed),
        v.callbacks_requested.load(Relaxed),
        v.callbacks_placed.load(Relaxed),
        v.callbacks_connected.load(Relaxed),
        v.media.sent.load(Relaxed),
        v.media.received.load(Relaxed),
        v.media.foreign.load(Relaxed),
        v.media.active.load(Relaxed),
    ]
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "aftercare_http_requests_total",
                "HTTP requests by method, route and status.",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("aftercare_http_request_duration_seconds", "HTTP request latency.")
                .buckets(BUCKETS.to_vec()),
            &["method", "route"],
        )
        .expect("valid metric");
        let jitter = GaugeVec::new(
            Opts::new(
                "aftercare_rtp_send_jitter_ms",
                "RTP send-interval jitter quantiles, in milliseconds.",
            ),
            &["quantile"],
        )
        .expect("valid metric");
        registry.register(Box::new(requests.clone())).expect("registered once");
        registry.register(Box::new(duration.clone())).expect("registered once");
        Metrics {
            registry,
            requests,
            duration,
            voice: vec![],
            jitter,
        }
    }
}

impl Metrics {
    /// With the voice front end's figures too.
    pub fn with_voice() -> Self {
        let mut m = Metrics::default();
        for (name, help) in VOICE {
            let g = IntGauge::new(name, help).expect("valid metric");
            m.registry.register(Box::new(g.clone())).expect("registered once");
            m.voice.push((name, g));
        }
        m.registry
            .register(Box::new(m.jitter.clone()))
            .expect("registered once");
        m
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.duration.with_label_values(&[method, route]).observe(seconds);
    }

    pub fn render(&self, voice: Option<&voice::VoiceStats>) -> String {
        if let Some(v) = voice {
            for ((_, gauge), value) in self.voice.iter().zip(voice_values(v)) {
                gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
            }
            for q in [0.5, 0.99, 0.999] {
                if let Some(ms) = v.media.jitter_quantile_ms(q) {
                    self.jitter.with_label_values(&[&q.to_string()]).set(ms);
                }
            }
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

pub async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    // Labels come from a closed set, so made-up methods and paths cannot grow the series:
    // any other method is `other`, any path no route matched is `unmatched`.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    st.metrics.observe(method, &route, status, secs);
    tracing::debug!(%method, %route, status, ms = secs * 1000.0, "request");
    resp
}

pub async fn render(State(st): State<AppState>) -> impl IntoResponse {
    let text = st.metrics.render(st.voice.as_deref());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
}
