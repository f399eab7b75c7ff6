//! `GET /api/audit`: the audit log as JSON, filtered as the Audit page
//! filters it, newest first, keyset-paged.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use engine::auth::Actor;
use engine::domain::AuditEntry;
use engine::store::audit::AuditFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use super::api::ErrorBody;
use crate::error::ApiError;
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

/// Filters (empty: any) and the page.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    /// Who acted (a login).
    actor: String,
    /// An action, e.g. `deploy.requested`, `request.approved`.
    action: String,
    /// `app/env`.
    environment: String,
    /// From this day (`YYYY-MM-DD`, UTC) or instant (RFC 3339).
    since: String,
    /// Until this day (inclusive) or instant.
    until: String,
    /// Only rows with a smaller seq (the `Link` header's next page sets it).
    before: Option<i64>,
    /// Rows per page, 1-1000 (default 100).
    limit: Option<i64>,
}

/// `GET /api/audit`: audit rows, newest first; `Link: <…>; rel="next"`
/// (with the same filters) while there are older ones.
#[utoipa::path(
    get, path = "/api/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit rows, newest first", body = Vec<AuditEntry>),
        (status = 400, description = "A filter, cursor or limit that is not one", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn audit(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: rows per page, 1-{MAX_LIMIT}"
        )));
    }
    let filter = AuditFilter::from_query(
        &q.actor,
        &q.action,
        &q.environment,
        &q.since,
        &q.until,
        q.before,
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut rows = state.engine.audit_page(&actor, &filter, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = rows
        .last()
        .filter(|_| more)
        .map(|last| next_link(&q, last.seq, limit));
    let mut response = Json(rows).into_response();
    if let Some(link) = next.and_then(|l| header::HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// The next page's address: the same filters, older rows.
fn next_link(q: &AuditQuery, before: i64, limit: i64) -> String {
    let mut query = String::new();
    for (name, value) in [
        ("actor", &q.actor),
        ("action", &q.action),
        ("environment", &q.environment),
        ("since", &q.since),
        ("until", &q.until),
    ] {
        if !value.is_empty() {
            query.push_str(&format!("{name}={}&", app::urls::encode_query_value(value)));
        }
    }
    format!("</api/audit?{query}before={before}&limit={limit}>; rel=\"next\"")
}

/// Which checkpoints.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointQuery {
    /// Only checkpoints of later rows (to fetch just the new ones).
    after: i64,
}

/// `GET /api/audit/checkpoints`: the signed checkpoints of the audit chain,
/// oldest first, one JSON object per line — the format
/// `slipway audit verify --checkpoints` reads, so a copy kept elsewhere is
/// one request away.
#[utoipa::path(
    get, path = "/api/audit/checkpoints", tag = "audit",
    params(CheckpointQuery),
    responses(
        (status = 200, description = "Checkpoints as JSON lines (seq, hash, ts, public_key, signature)", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "A cursor that is not a number", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn checkpoints(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    query: Result<Query<CheckpointQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let checkpoints = state
        .engine
        .audit_checkpoints(&actor, q.after, 10_000)
        .await?;
    let mut body = String::new();
    for checkpoint in &checkpoints {
        body.push_str(&checkpoint.to_json_line());
        body.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}
