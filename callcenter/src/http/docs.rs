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
];

pub async fn script(axum::extract::Path(name): axum::extract::Path<String>) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    match SCRIPTS.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => super::error::ApiError::not_found("script").into_response(),
    }
}
