//! The JSON API for freeze windows: list, make, remove. While one is in
//! force, deploys answer 409 naming it; an admin's `freeze_override`
//! reason on a deploy or rollback goes through (audited).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use engine::auth::Actor;
use engine::domain::{ActiveFreeze, FreezeSchedule, FreezeWindow};
use engine::{FreezeRequest, FreezeStatus};
use serde::Serialize;
use utoipa::ToSchema;

use super::api::ErrorBody;
use crate::error::ApiError;
use crate::state::AppState;

/// A freeze window.
#[derive(Serialize, ToSchema)]
pub struct FreezeDocument {
    id: i64,
    name: String,
    /// The environment it freezes; none: every environment of the application.
    environment: Option<String>,
    /// "once", "weekly" or "cron".
    kind: String,
    /// The schedule as the pages show it, in its zone.
    schedule: String,
    time_zone: String,
    blocks_rollbacks: bool,
    /// The period in force now, if any.
    active: Option<PeriodDocument>,
    /// The next period after the one in force (or after now).
    next: Option<PeriodDocument>,
    created_by: String,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct PeriodDocument {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// What freezes an environment: the window in force and the next one.
#[derive(Serialize, ToSchema)]
pub struct FreezeStatusDocument {
    active: Option<ActiveFreezeDocument>,
    upcoming: Option<ActiveFreezeDocument>,
}

#[derive(Serialize, ToSchema)]
pub struct ActiveFreezeDocument {
    window_id: i64,
    name: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    blocks_rollbacks: bool,
}

impl From<&ActiveFreeze> for ActiveFreezeDocument {
    fn from(freeze: &ActiveFreeze) -> Self {
        Self {
            window_id: freeze.window.id,
            name: freeze.window.rule.name.clone(),
            start: freeze.period.start,
            end: freeze.period.end,
            blocks_rollbacks: freeze.window.rule.blocks_rollbacks,
        }
    }
}

impl From<&FreezeStatus> for FreezeStatusDocument {
    fn from(status: &FreezeStatus) -> Self {
        Self {
            active: status.active.as_ref().map(Into::into),
            upcoming: status.upcoming.as_ref().map(Into::into),
        }
    }
}

impl From<FreezeWindow> for FreezeDocument {
    fn from(window: FreezeWindow) -> Self {
        let status = FreezeStatus::of(std::slice::from_ref(&window), engine::time::now());
        let period = |freeze: ActiveFreeze| PeriodDocument {
            start: freeze.period.start,
            end: freeze.period.end,
        };
        let rule = window.rule;
        Self {
            id: window.id,
            kind: match rule.schedule {
                FreezeSchedule::Once { .. } => "once",
                FreezeSchedule::Weekly { .. } => "weekly",
                FreezeSchedule::Cron { .. } => "cron",
            }
            .to_owned(),
            schedule: rule.schedule.describe(rule.zone),
            time_zone: rule.zone.name().to_owned(),
            blocks_rollbacks: rule.blocks_rollbacks,
            active: status.active.map(period),
            next: status.upcoming.map(period),
            name: rule.name,
            environment: window.environment,
            created_by: window.created_by,
            created_at: window.created_at,
        }
    }
}

/// `GET /api/apps/{app}/freezes`: the application's freeze windows, its environments' included.
#[utoipa::path(
    get, path = "/api/apps/{app}/freezes", tag = "freezes",
    params(("app" = String, Path)),
    responses(
        (status = 200, description = "Freeze windows", body = Vec<FreezeDocument>),
        (status = 404, description = "No such application", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    let windows = state.engine.freeze_windows(&actor, &app).await?;
    let documents: Vec<FreezeDocument> = windows.into_iter().map(Into::into).collect();
    Ok(Json(documents).into_response())
}

/// `POST /api/apps/{app}/freezes`: a new freeze window (admins).
#[utoipa::path(
    post, path = "/api/apps/{app}/freezes", tag = "freezes",
    params(("app" = String, Path)),
    request_body = FreezeRequest,
    responses(
        (status = 201, description = "Made", body = FreezeDocument),
        (status = 400, description = "A bad schedule, time or zone (the message names the field)", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such application or environment", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    body: Result<Json<FreezeRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let window = state
        .engine
        .create_freeze_window(&actor, &app, &request)
        .await?;
    Ok((StatusCode::CREATED, Json(FreezeDocument::from(window))).into_response())
}

/// `DELETE /api/apps/{app}/freezes/{id}`: remove a freeze window (admins).
#[utoipa::path(
    delete, path = "/api/apps/{app}/freezes/{id}", tag = "freezes",
    params(("app" = String, Path), ("id" = i64, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such window", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, id)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    state.engine.delete_freeze_window(&actor, &app, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
