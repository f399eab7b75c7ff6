//! The JSON API for notification targets: list, make, remove, and each
//! one's delivery log. URLs are shown only as scheme and host; a secret
//! is never shown.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use engine::auth::Actor;
use engine::store::notifications::{Delivery, NotificationTarget};
use engine::NotificationTargetRequest;
use serde::Deserialize;
use utoipa::IntoParams;

use super::api::ErrorBody;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/apps/{app}/notifications`: the application's targets, its
/// environments' included.
#[utoipa::path(
    get, path = "/api/apps/{app}/notifications", tag = "notifications",
    params(("app" = String, Path)),
    responses(
        (status = 200, description = "The targets", body = Vec<NotificationTarget>),
        (status = 404, description = "No such application", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
) -> Result<Json<Vec<NotificationTarget>>, ApiError> {
    Ok(Json(state.engine.notification_targets(&actor, &app).await?))
}

/// `POST /api/apps/{app}/notifications`: a new target (admins).
#[utoipa::path(
    post, path = "/api/apps/{app}/notifications", tag = "notifications",
    params(("app" = String, Path)),
    request_body = NotificationTargetRequest,
    responses(
        (status = 201, description = "Made", body = NotificationTarget),
        (status = 400, description = "A bad URL, format, secret or event (the message names the field)", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such application or environment", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    body: Result<Json<NotificationTargetRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let target = state
        .engine
        .create_notification_target(&actor, &app, &request)
        .await?;
    Ok((StatusCode::CREATED, Json(target)).into_response())
}

/// `DELETE /api/notifications/{id}`: remove a target and its log (admins).
#[utoipa::path(
    delete, path = "/api/notifications/{id}", tag = "notifications",
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such target", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_notification_target(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// How many, newest first: 1-500 (default 50).
    limit: Option<i64>,
}

/// `GET /api/notifications/{id}/deliveries`: the target's delivery log.
#[utoipa::path(
    get, path = "/api/notifications/{id}/deliveries", tag = "notifications",
    params(("id" = i64, Path), DeliveriesQuery),
    responses(
        (status = 200, description = "Newest first: state, attempts, last status and error", body = Vec<Delivery>),
        (status = 404, description = "No such target", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn deliveries(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(
        state
            .engine
            .notification_deliveries(&actor, id, q.limit.unwrap_or(50))
            .await?,
    ))
}
