//! Request metrics in Prometheus text format, labelled by the matched route template (never the
//! raw URI, which may carry a phone number).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

const BUCKETS: [f64; 9] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub struct Metrics {
    // A std mutex: nothing awaits while it is held.
    requests: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry((method.to_string(), route.to_string(), status)).or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn render(&self) -> String {
        let m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP aftercare_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE aftercare_http_requests_total counter\n");
        for ((method, route, status), s) in m.iter() {
            let _ = writeln!(
                out,
                "aftercare_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP aftercare_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE aftercare_http_request_duration_seconds histogram\n");
        let mut per_route: BTreeMap<(&str, &str), Series> = BTreeMap::new();
        for ((method, route, _), s) in m.iter() {
            let agg = per_route.entry((method, route)).or_default();
            agg.count += s.count;
            agg.sum += s.sum;
            for i in 0..BUCKETS.len() {
                agg.buckets[i] += s.buckets[i];
            }
        }
        for ((method, route), s) in &per_route {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "aftercare_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "aftercare_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(out, "aftercare_http_request_duration_seconds_sum{{{labels}}} {}", s.sum);
            let _ = writeln!(
                out,
                "aftercare_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
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

fn render_voice(v: &crate::voice::VoiceStats, out: &mut String) {
    use std::sync::atomic::Ordering::Relaxed;
    let counters = [
        (
            "aftercare_calls_offered_total",
            "counter",
            "Calls offered to the IVR.",
            v.calls_offered.load(Relaxed),
        ),
        (
            "aftercare_calls_active",
            "gauge",
            "Calls in progress.",
            v.calls_active.load(Relaxed),
        ),
        (
            "aftercare_calls_refused_total",
            "counter",
            "INVITEs refused (capacity, media, no flow).",
            v.calls_refused.load(Relaxed),
        ),
        (
            "aftercare_sip_messages_total",
            "counter",
            "SIP messages received.",
            v.sip_received.load(Relaxed),
        ),
        (
            "aftercare_sip_banned_total",
            "counter",
            "SIP messages dropped from banned sources.",
            v.sip_banned.load(Relaxed),
        ),
        (
            "aftercare_cdr_failures_total",
            "counter",
            "Call records that could not be written.",
            v.cdr_failures.load(Relaxed),
        ),
        (
            "aftercare_agents_connected",
            "gauge",
            "Agent desks connected.",
            v.agents_connected.load(Relaxed),
        ),
        (
            "aftercare_queue_announcements_total",
            "counter",
            "Position and expected-wait announcements played to waiting callers.",
            v.announcements.load(Relaxed),
        ),
        (
            "aftercare_callbacks_requested_total",
            "counter",
            "Callers who chose to be called back, keeping their place.",
            v.callbacks_requested.load(Relaxed),
        ),
        (
            "aftercare_callbacks_placed_total",
            "counter",
            "Callbacks dialled when the caller's turn came.",
            v.callbacks_placed.load(Relaxed),
        ),
        (
            "aftercare_callbacks_connected_total",
            "counter",
            "Callbacks answered and connected to an agent.",
            v.callbacks_connected.load(Relaxed),
        ),
        (
            "aftercare_rtp_sent_total",
            "counter",
            "RTP packets sent.",
            v.media.sent.load(Relaxed),
        ),
        (
            "aftercare_rtp_received_total",
            "counter",
            "RTP packets received.",
            v.media.received.load(Relaxed),
        ),
        (
            "aftercare_rtp_foreign_total",
            "counter",
            "RTP packets dropped: not from the latched source.",
            v.media.foreign.load(Relaxed),
        ),
        (
            "aftercare_media_streams",
            "gauge",
            "Media streams running.",
            v.media.active.load(Relaxed),
        ),
    ];
    for (name, kind, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    }
    for q in [0.5, 0.99, 0.999] {
        if let Some(ms) = v.media.jitter_quantile_ms(q) {
            let _ = writeln!(out, "aftercare_rtp_send_jitter_ms{{quantile=\"{q}\"}} {ms}");
        }
    }
}

pub async fn render(State(st): State<AppState>) -> impl IntoResponse {
    let mut text = st.metrics.render();
    if let Some(v) = &st.voice {
        render_voice(v, &mut text);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
}
