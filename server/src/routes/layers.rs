//! Layers every response passes on its way out: refusals a server
//! function's caller can read, no cached signed-in pages, one URL per page.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

/// The most of a refusal's body read back to re-encode it.
const MAX_REFUSAL_BYTES: usize = 64 * 1024;

/// Server functions are called by the page's own code, which reads an
/// error as `ServerError|<message>` (Leptos' encoding), not as the JSON the
/// access layers answer with: a refusal (signed out, not allowed,
/// cross-site) is re-encoded so the page shows its message.
pub async fn server_fn_errors(request: Request, next: Next) -> Response {
    let is_server_fn = request.uri().path().starts_with("/fn/");
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_server_fn || !response.status().is_client_error() || !is_json {
        return response;
    }
    let status = response.status();
    let Ok(body) = axum::body::to_bytes(response.into_body(), MAX_REFUSAL_BYTES).await else {
        return (status, "ServerError|refused").into_response();
    };
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    let mut response = (status, format!("ServerError|{message}")).into_response();
    if let Ok(value) = HeaderValue::from_str(&path) {
        response.headers_mut().insert("serverfnerror", value);
    }
    response
}

/// Signed-in pages and answers are not kept by the browser: after logging
/// out, Back must not show them again. Built assets (`/pkg/`) may be cached.
pub async fn no_store(request: Request, next: Next) -> Response {
    let cacheable = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;
    if !cacheable && !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Paths whose trailing slash means something (a repository directory) or
/// that machines call exactly as documented.
const EXACT_PREFIXES: [&str; 7] = [
    "/repo/",
    "/api/",
    "/fn/",
    "/hooks/",
    "/events/",
    "/pkg/",
    "/artifacts/",
];

/// A page asked for with a trailing slash (`/builds/`) is sent to its one
/// URL (`/builds`), keeping the query.
pub async fn no_trailing_slash(request: Request<Body>, next: Next) -> Response {
    let path = request.uri().path();
    let is_page = matches!(*request.method(), Method::GET | Method::HEAD)
        && path.len() > 1
        && path.ends_with('/')
        && !EXACT_PREFIXES.iter().any(|p| path.starts_with(p));
    if !is_page {
        return next.run(request).await;
    }
    let trimmed = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    // `//evil.example` (or `/\evil.example`, which browsers read the same
    // way) would leave the site: only a path that stays.
    if trimmed.starts_with("//") || trimmed.starts_with("/\\") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let target = match request.uri().query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    Redirect::permanent(&target).into_response()
}
