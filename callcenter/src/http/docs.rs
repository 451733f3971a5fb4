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
