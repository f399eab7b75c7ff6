//! Errors at the HTTP edge: a status and a message a person can act on.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<engine::Error> for ApiError {
    fn from(err: engine::Error) -> Self {
        let status =
            StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %err, "request failed");
        }
        Self::new(status, err.public_message())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        Self::bad_request(format!("invalid JSON body: {}", rejection.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

/// `s` as HTML text (or a double-quoted attribute value).
pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A plain page for a person whose browser landed on a refusal (a sign-in
/// that failed, a page their role may not open): a title, why, a way back.
pub fn message_page(status: StatusCode, title: &str, detail: &str) -> Response {
    (
        status,
        axum::response::Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · Slipway</title>\
             <link rel=\"stylesheet\" href=\"/pkg/slipway.css\"></head><body>\
             <main class=\"card login-link\"><h1>{title}</h1><p class=\"error\">{detail}</p>\
             <p><a href=\"/\">Back to Slipway</a> · <a href=\"/login\">Sign in</a></p></main></body></html>",
            title = escape_html(title),
            detail = escape_html(detail)
        )),
    )
        .into_response()
}
