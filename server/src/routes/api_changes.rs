//! What a deploy would change, and what a job changed: commits, settings
//! and variables (secrets only as "changed").

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use engine::auth::Actor;
use engine::ReleaseChanges;
use serde::Deserialize;
use utoipa::IntoParams;

use super::api::ErrorBody;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// The build that would be deployed.
    build_id: i64,
}

/// `GET /api/apps/{app}/envs/{env}/changes?build_id=N`: the commits
/// between the live build and build N (or those a rollback takes away),
/// where the list came from, and the settings and variables that differ
/// from the live release's.
#[utoipa::path(
    get, path = "/api/apps/{app}/envs/{env}/changes", tag = "changes",
    params(("app" = String, Path), ("env" = String, Path), ChangesQuery),
    responses(
        (status = 200, description = "What deploying the build would change", body = ReleaseChanges),
        (status = 400, description = "No build_id, or a build this environment cannot deploy", body = ErrorBody),
        (status = 404, description = "No such environment or build", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn deploy_changes(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> Result<Json<ReleaseChanges>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(
        state
            .engine
            .deploy_changes(&actor, &app, &env, q.build_id)
            .await?,
    ))
}

/// `GET /api/jobs/{id}/changes`: what the job changed, from the release
/// live when it was queued to its build.
#[utoipa::path(
    get, path = "/api/jobs/{id}/changes", tag = "changes",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "What the job changed", body = ReleaseChanges),
        (status = 404, description = "No such job", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn job_changes(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
) -> Result<Json<ReleaseChanges>, ApiError> {
    Ok(Json(state.engine.job_changes(&actor, id).await?))
}
