//! The JSON API for CI: register builds, deploy, roll back, read jobs.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use engine::auth::Actor;
use engine::store::builds::Registered;
use engine::BuildRequest;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// `POST /api/builds`: 201 with the new build, 200 with the existing one
/// when the same commit and artifact are registered again, 409 when the
/// commit is already a build with another artifact.
pub async fn register_build(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Result<Json<BuildRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let (status, build) = match state.engine.register_build(&actor, request).await? {
        Registered::Created(build) => (StatusCode::CREATED, build),
        Registered::Existing(build) => (StatusCode::OK, build),
    };
    Ok((status, Json(build)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    build_id: i64,
}

/// `POST /api/apps/{app}/envs/{env}/deploy` → 202 with the job.
pub async fn deploy(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
    body: Result<Json<DeployRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let job = state
        .engine
        .deploy(&actor, &app, &env, request.build_id)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    release_id: i64,
}

/// `POST /api/apps/{app}/envs/{env}/rollback` → 202 with the job.
pub async fn rollback(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
    body: Result<Json<RollbackRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let job = state
        .engine
        .rollback(&actor, &app, &env, request.release_id)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// `GET /api/jobs/{id}`: the job with its per-host state.
pub async fn job(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let view = state.engine.job_view(&actor, id).await?;
    Ok(Json(json!({
        "job": view.job,
        "environment": view.environment.path(),
        "build": view.build,
        "release": view.release,
        "hosts": view.hosts,
    }))
    .into_response())
}

/// `GET /api/apps/{app}/envs/{env}/releases`: the release history, newest first.
pub async fn releases(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let env = state.engine.environment(&actor, &app, &env).await?;
    let releases = state.engine.releases(&actor, &env, None, 200).await?;
    Ok(Json(releases).into_response())
}
