//! Layers every response passes on its way out: no cached signed-in pages,
//! one URL per page.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

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
