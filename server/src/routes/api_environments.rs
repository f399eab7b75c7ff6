//! The JSON API for environments: what each application has and what is
//! live on it, locks, and QA environments.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use engine::auth::Actor;
use engine::domain::{DeployRequest, EnvironmentKind, Job, Release};
use engine::{EnvironmentOverview, QaRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api::ErrorBody;
use super::api_freezes::FreezeStatusDocument;
use crate::error::ApiError;
use crate::state::AppState;

/// An application and its environments.
#[derive(Serialize, ToSchema)]
pub struct ApplicationDocument {
    name: String,
    repository_url: Option<String>,
    environments: Vec<EnvironmentDocument>,
}

/// An environment, what is live on it, and its latest job.
#[derive(Serialize, ToSchema)]
pub struct EnvironmentDocument {
    name: String,
    /// "local", "ssh", "dnf" or "docker".
    backend: String,
    /// "permanent" or "qa".
    kind: String,
    protected: bool,
    lock: Option<LockDocument>,
    /// QA environments: when they are destroyed automatically.
    expires_at: Option<DateTime<Utc>>,
    live: Option<Release>,
    last_job: Option<Job>,
    /// The freeze window in force over it, and the next one.
    freeze: FreezeStatusDocument,
    /// The deploy request pending there (awaiting approval or waiting), if any.
    pending_request: Option<DeployRequest>,
}

/// Who locked an environment, when and why: deploys wait until it is unlocked.
#[derive(Serialize, ToSchema)]
pub struct LockDocument {
    reason: String,
    locked_by: String,
    since: DateTime<Utc>,
}

impl From<EnvironmentOverview> for EnvironmentDocument {
    fn from(overview: EnvironmentOverview) -> Self {
        let env = overview.environment;
        Self {
            backend: env.config.backend_name().to_owned(),
            kind: match env.kind {
                EnvironmentKind::Permanent => "permanent",
                EnvironmentKind::Qa => "qa",
            }
            .to_owned(),
            protected: env.protected,
            lock: env.lock.map(|lock| LockDocument {
                reason: lock.reason,
                locked_by: lock.locked_by,
                since: lock.since,
            }),
            expires_at: env.expires_at,
            name: env.name,
            live: overview.live,
            last_job: overview.last_job,
            freeze: FreezeStatusDocument::from(&overview.freeze),
            pending_request: overview.pending,
        }
    }
}

/// `GET /api/apps`: every application with its environments.
#[utoipa::path(
    get, path = "/api/apps", tag = "environments",
    responses((status = 200, description = "Applications and their environments", body = Vec<ApplicationDocument>)),
    security(("bearer" = ["read"]))
)]
pub async fn applications(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Response, ApiError> {
    let overview = state.engine.overview(&actor).await?;
    let apps: Vec<ApplicationDocument> = overview
        .into_iter()
        .map(|(app, environments)| ApplicationDocument {
            name: app.name,
            repository_url: app.repository_url,
            environments: environments.into_iter().map(Into::into).collect(),
        })
        .collect();
    Ok(Json(apps).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockRequest {
    /// Why, for whoever finds it locked.
    reason: String,
}

/// `PUT /api/apps/{app}/envs/{env}/lock`: lock it (deploys and rollbacks are refused until it is unlocked).
#[utoipa::path(
    put, path = "/api/apps/{app}/envs/{env}/lock", tag = "environments",
    params(("app" = String, Path), ("env" = String, Path)),
    request_body = LockRequest,
    responses(
        (status = 200, description = "Locked", body = LockDocument),
        (status = 400, description = "No reason given", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "Already locked", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn lock(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
    body: Result<Json<LockRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    state
        .engine
        .lock(&actor, &app, &env, &request.reason)
        .await?;
    let lock = state
        .engine
        .environment(&actor, &app, &env)
        .await?
        .lock
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "unlocked again meanwhile"))?;
    Ok(Json(LockDocument {
        reason: lock.reason,
        locked_by: lock.locked_by,
        since: lock.since,
    })
    .into_response())
}

/// `DELETE /api/apps/{app}/envs/{env}/lock`: unlock it.
#[utoipa::path(
    delete, path = "/api/apps/{app}/envs/{env}/lock", tag = "environments",
    params(("app" = String, Path), ("env" = String, Path)),
    responses(
        (status = 204, description = "Unlocked"),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "Not locked", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn unlock(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state.engine.unlock(&actor, &app, &env).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What creating a QA environment answers: its name and the job setting it up.
#[derive(Serialize, ToSchema)]
pub struct QaCreated {
    environment: String,
    job: Job,
}

/// `POST /api/apps/{app}/qa`: a QA environment copying a docker environment, with a build on it.
#[utoipa::path(
    post, path = "/api/apps/{app}/qa", tag = "environments",
    params(("app" = String, Path)),
    request_body = QaRequest,
    responses(
        (status = 202, description = "Created; the job deploys the build on it", body = QaCreated),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn create_qa(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    body: Result<Json<QaRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let (env, job) = state
        .engine
        .create_qa_environment(&actor, &app, request)
        .await?;
    let created = QaCreated {
        environment: env.name,
        job,
    };
    Ok((StatusCode::ACCEPTED, Json(created)).into_response())
}

/// `DELETE /api/apps/{app}/envs/{env}`: destroy a QA environment (its history stays).
#[utoipa::path(
    delete, path = "/api/apps/{app}/envs/{env}", tag = "environments",
    params(("app" = String, Path), ("env" = String, Path)),
    responses(
        (status = 202, description = "The destroy job", body = Job),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "Not a QA environment, or busy", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn destroy(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let job = state.engine.destroy_environment(&actor, &app, &env).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}
