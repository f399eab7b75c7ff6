//! DORA metrics of an environment or an application, week by week, as
//! JSON and CSV; the release timeline.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use engine::auth::Actor;
use engine::domain::insight::WeekMetrics;
use engine::domain::timeline::{Timeline, Zoom};
use serde::Deserialize;
use utoipa::IntoParams;

use super::api::ErrorBody;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DoraQuery {
    /// Weeks to cover, this one included: 1-104 (default 12).
    weeks: Option<u32>,
    /// A failure this many hours after a deploy counts against it: 1-720 (default 24).
    failure_window_hours: Option<u32>,
}

/// The weeks of `app/env`, or of `app`'s environments together.
async fn weeks(
    state: &AppState,
    actor: &Actor,
    app: &str,
    env: Option<&str>,
    query: Result<Query<DoraQuery>, QueryRejection>,
) -> Result<Vec<WeekMetrics>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (weeks, window) = (q.weeks.unwrap_or(12), q.failure_window_hours.unwrap_or(24));
    Ok(match env {
        Some(env) => state.engine.dora(actor, app, env, weeks, window).await?,
        None => {
            state
                .engine
                .dora_of_application(actor, app, weeks, window)
                .await?
        }
    })
}

/// `GET /api/apps/{app}/envs/{env}/dora`: deployment frequency, lead time
/// (median seconds), change failure rate and time to restore (median
/// seconds), per week (Monday, UTC), oldest first.
#[utoipa::path(
    get, path = "/api/apps/{app}/envs/{env}/dora", tag = "insight",
    params(("app" = String, Path), ("env" = String, Path), DoraQuery),
    responses(
        (status = 200, description = "One row per week, oldest first", body = Vec<WeekMetrics>),
        (status = 400, description = "weeks or failure_window_hours out of range", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn dora(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
    query: Result<Query<DoraQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let rows = weeks(&state, &actor, &app, Some(&env), query).await?;
    Ok(Json(rows).into_response())
}

/// `GET /api/apps/{app}/envs/{env}/dora.csv`: the same, as CSV.
#[utoipa::path(
    get, path = "/api/apps/{app}/envs/{env}/dora.csv", tag = "insight",
    params(("app" = String, Path), ("env" = String, Path), DoraQuery),
    responses(
        (status = 200, description = "week_start,deployments,lead_time_secs,failed_deployments,change_failure_rate,time_to_restore_secs", content_type = "text/csv"),
        (status = 400, description = "weeks or failure_window_hours out of range", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn dora_csv(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
    query: Result<Query<DoraQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    Ok(csv(weeks(&state, &actor, &app, Some(&env), query).await?))
}

/// `GET /api/apps/{app}/dora`: the same figures for the application's
/// permanent environments taken together — deploys and failed deploys
/// summed, medians over all of them (QA environments left out).
#[utoipa::path(
    get, path = "/api/apps/{app}/dora", tag = "insight",
    params(("app" = String, Path), DoraQuery),
    responses(
        (status = 200, description = "One row per week, oldest first", body = Vec<WeekMetrics>),
        (status = 400, description = "weeks or failure_window_hours out of range", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn app_dora(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    query: Result<Query<DoraQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let rows = weeks(&state, &actor, &app, None, query).await?;
    Ok(Json(rows).into_response())
}

/// `GET /api/apps/{app}/dora.csv`: the application's figures as CSV.
#[utoipa::path(
    get, path = "/api/apps/{app}/dora.csv", tag = "insight",
    params(("app" = String, Path), DoraQuery),
    responses(
        (status = 200, description = "week_start,deployments,lead_time_secs,failed_deployments,change_failure_rate,time_to_restore_secs", content_type = "text/csv"),
        (status = 400, description = "weeks or failure_window_hours out of range", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn app_dora_csv(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    query: Result<Query<DoraQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    Ok(csv(weeks(&state, &actor, &app, None, query).await?))
}

/// The weeks as CSV, a row each.
fn csv(rows: Vec<WeekMetrics>) -> Response {
    let mut csv = String::from(
        "week_start,deployments,lead_time_secs,failed_deployments,change_failure_rate,time_to_restore_secs\n",
    );
    let or_empty = |v: Option<String>| v.unwrap_or_default();
    for week in rows {
        csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            week.week_start.format("%Y-%m-%d"),
            week.deployments,
            or_empty(week.lead_time_secs.map(|s| s.to_string())),
            week.failed_deployments,
            or_empty(week.change_failure_rate.map(|r| format!("{r:.4}"))),
            or_empty(week.time_to_restore_secs.map(|s| s.to_string())),
        ));
    }
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response()
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// One application's environments only (default: all).
    app: Option<String>,
    /// `day`, `week` (default) or `quarter`, ending now.
    zoom: Option<String>,
    /// Columns per lane: releases in one column make one mark (10-2000, default 240).
    columns: Option<u32>,
}

/// `GET /api/timeline`: releases across environments, each lane's marks
/// with their worst outcome (live, superseded, failed, rolled_back,
/// interrupted, running), how many releases each stands for, and the
/// newest one's job.
#[utoipa::path(
    get, path = "/api/timeline", tag = "insight",
    params(TimelineQuery),
    responses(
        (status = 200, description = "The lanes and their marks", body = Timeline),
        (status = 400, description = "A bad zoom or column count", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn timeline(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    query: Result<Query<TimelineQuery>, QueryRejection>,
) -> Result<Json<Timeline>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let zoom = match q.zoom.as_deref() {
        None => Zoom::Week,
        Some(raw) => Zoom::parse(raw).ok_or_else(|| {
            ApiError::bad_request(format!("zoom: day, week or quarter, not {raw:?}"))
        })?,
    };
    Ok(Json(
        state
            .engine
            .timeline(&actor, q.app.as_deref(), zoom, q.columns.unwrap_or(240))
            .await?,
    ))
}
