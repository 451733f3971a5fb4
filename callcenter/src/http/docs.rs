//! A browsable API page rendered in the browser from `/openapi.json`; it needs nothing from the
//! network beyond this server.

use axum::response::Html;

pub async fn index() -> Html<&'static str> {
    Html(
        "<!doctype html><meta charset=utf-8><title>Aftercare</title>\
         <h1>Aftercare</h1><p>After-sales service platform.</p>\
         <ul><li><a href=/docs>API documentation</a></li><li><a href=/openapi.json>OpenAPI document</a></li>\
         <li><a href=/healthz>Health</a></li><li><a href=/metrics>Metrics</a></li></ul>",
    )
}

pub async fn page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

/// The pages' scripts, served from our own origin (the CSP runs no inline script). Built into the
/// binary; the pages need nothing from the network.
const SCRIPTS: &[(&str, &str)] = &[
    ("dom.js", include_str!("assets/dom.js")),
    ("session.js", include_str!("assets/session.js")),
    ("desk.js", include_str!("assets/desk.js")),
    ("wallboard.js", include_str!("assets/wallboard.js")),
    ("dispatch.js", include_str!("assets/dispatch.js")),
    ("reports.js", include_str!("assets/reports.js")),
    ("docs.js", include_str!("assets/docs.js")),
    ("dispatch.css", include_str!("assets/dispatch.css")),
    ("network.js", include_str!("assets/network.js")),
    ("network.css", include_str!("assets/network.css")),
    ("station.js", include_str!("assets/station.js")),
    ("claims.js", include_str!("assets/claims.js")),
    ("dealer.js", include_str!("assets/dealer.js")),
];

pub async fn script(axum::extract::Path(name): axum::extract::Path<String>) -> axum::response::Response {
    serve(SCRIPTS, &name, "no-cache")
}

/// Libraries from npm, vendored by `callcenter/web/vendor.sh` (pinned versions; see their
/// LICENSE files beside them). They change only with a release: cached for a day.
const VENDOR: &[(&str, &str)] = &[
    ("leaflet.js", include_str!("assets/vendor/leaflet.js")),
    ("leaflet.css", include_str!("assets/vendor/leaflet.css")),
    (
        "leaflet.markercluster.js",
        include_str!("assets/vendor/leaflet.markercluster.js"),
    ),
    ("MarkerCluster.css", include_str!("assets/vendor/MarkerCluster.css")),
    (
        "MarkerCluster.Default.css",
        include_str!("assets/vendor/MarkerCluster.Default.css"),
    ),
];

pub async fn vendor(axum::extract::Path(name): axum::extract::Path<String>) -> axum::response::Response {
    serve(VENDOR, &name, "public, max-age=86400")
}

fn serve(files: &[(&str, &'static str)], name: &str, cache: &'static str) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let kind = if name.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        "text/javascript; charset=utf-8"
    };
    match files.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, cache)], *body).into_response(),
        None => super::error::ApiError::not_found("asset").into_response(),
    }
}
