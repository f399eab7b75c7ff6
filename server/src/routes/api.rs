//! The JSON API for CI: register builds, deploy, roll back, read jobs,
//! builds and releases (keyset-paged).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use engine::auth::Actor;
use engine::domain::{Build, Job, JobHost, Release};
use engine::store::builds::Registered;
use engine::BuildRequest;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::state::AppState;

/// `POST /api/builds`: 201 with the new build, 200 with the existing one
/// when the same commit and artifact are registered again, 409 when the
/// commit is already a build with another artifact.
#[utoipa::path(
    post, path = "/api/builds", tag = "builds",
    request_body = BuildRequest,
    responses(
        (status = 201, description = "Registered", body = Build),
        (status = 200, description = "The same commit and artifact were already registered", body = Build),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 409, description = "The commit is already a build with another artifact", body = ErrorBody),
    ),
    security(("bearer" = ["builds:write"]))
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    build_id: i64,
    /// Start it then, not now (RFC 3339); it waits as a request until then.
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    /// Admins: why this deploy goes through a freeze window in force (audited).
    #[serde(default)]
    freeze_override: Option<String>,
}

/// `POST /api/apps/{app}/envs/{env}/deploy` → 202 with the job; or, when
/// it waits (scheduled with `at`, or behind a running job where the
/// environment queues deploys), 202 with `{"request": …}` and its
/// `Location`.
#[utoipa::path(
    post, path = "/api/apps/{app}/envs/{env}/deploy", tag = "jobs",
    params(("app" = String, Path), ("env" = String, Path)),
    request_body = DeployBody,
    responses(
        (status = 202, description = "The job; or {\"request\": …} when it waits", body = Job),
        (status = 400, description = "Invalid input (a time too far ahead, a build of another application)", body = ErrorBody),
        (status = 403, description = "Not allowed (role, scope, or a protected environment)", body = ErrorBody),
        (status = 409, description = "Environment busy (and not queueing), locked or frozen", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn deploy(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
    body: Result<Json<DeployBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let ask = engine::DeployAsk {
        build_id: body.build_id,
        at: body.at,
        freeze_override: body.freeze_override,
    };
    let deployment = state
        .engine
        .request_deploy(&actor, &app, &env, &ask)
        .await?;
    Ok(super::api_requests::accepted(deployment))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    release_id: i64,
    /// Admins: why this rollback goes through a freeze window that refuses rollbacks.
    #[serde(default)]
    freeze_override: Option<String>,
}

/// `POST /api/apps/{app}/envs/{env}/rollback` → 202 with the job (or, behind
/// a running job where the environment queues deploys, with `{"request": …}`).
#[utoipa::path(
    post, path = "/api/apps/{app}/envs/{env}/rollback", tag = "jobs",
    params(("app" = String, Path), ("env" = String, Path)),
    request_body = RollbackBody,
    responses(
        (status = 202, description = "Queued", body = Job),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "Busy, locked, or not a release to roll back to", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn rollback(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
    body: Result<Json<RollbackBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let deployment = state
        .engine
        .request_rollback(
            &actor,
            &app,
            &env,
            request.release_id,
            request.freeze_override.as_deref(),
        )
        .await?;
    Ok(super::api_requests::accepted(deployment))
}

/// `GET /api/jobs/{id}`: the job with its per-host state.
#[utoipa::path(
    get, path = "/api/jobs/{id}", tag = "jobs",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The job, its environment, build, release and hosts", body = JobDocument),
        (status = 404, description = "No such job", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
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

/// `GET /api/apps/{app}/envs/{env}/releases`: the release history, newest
/// first, a page at a time (the `Link` header names the next page).
#[utoipa::path(
    get, path = "/api/apps/{app}/envs/{env}/releases", tag = "releases",
    params(("app" = String, Path), ("env" = String, Path), Page),
    responses(
        (status = 200, description = "Releases, newest first; `Link: <…>; rel=\"next\"` while there are older ones", body = Vec<Release>),
        (status = 400, description = "A cursor or limit that is not one", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn releases(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
    uri: OriginalUri,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Response, ApiError> {
    let page = Page::read(page)?;
    let env = state.engine.environment(&actor, &app, &env).await?;
    let releases = state
        .engine
        .releases(&actor, &env, page.before, page.limit() + 1)
        .await?;
    Ok(page.answer(&uri, releases, |r| r.id))
}

/// `GET /api/apps/{app}/builds`: the application's builds, newest first, a page at a time.
#[utoipa::path(
    get, path = "/api/apps/{app}/builds", tag = "builds",
    params(("app" = String, Path), Page),
    responses(
        (status = 200, description = "Builds, newest first; `Link: <…>; rel=\"next\"` while there are older ones", body = Vec<Build>),
        (status = 400, description = "A cursor or limit that is not one", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn builds(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    uri: OriginalUri,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Response, ApiError> {
    let page = Page::read(page)?;
    let (_, builds) = state
        .engine
        .builds(&actor, &app, page.before, page.limit() + 1)
        .await?;
    Ok(page.answer(&uri, builds, |b| b.id))
}

/// A keyset page: rows older than `before` (an id), at most `limit` of them.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Only rows with a smaller id (the `Link` header's next page sets it).
    before: Option<i64>,
    /// Rows per page, 1-200 (default 100).
    limit: Option<i64>,
}

impl Page {
    const DEFAULT: i64 = 100;
    const MAX: i64 = 200;

    fn read(page: Result<Query<Page>, QueryRejection>) -> Result<Page, ApiError> {
        let Query(page) = page.map_err(|e| ApiError::bad_request(e.body_text()))?;
        if page.limit.is_some_and(|l| !(1..=Self::MAX).contains(&l)) {
            return Err(ApiError::bad_request(format!(
                "limit: rows per page, 1-{}",
                Self::MAX
            )));
        }
        Ok(page)
    }

    fn limit(&self) -> i64 {
        self.limit.unwrap_or(Self::DEFAULT)
    }

    /// The page's rows (asked for one more than it holds, to know whether
    /// older ones follow) and, when they do, the next page's `Link`.
    fn answer<T: Serialize>(
        &self,
        uri: &OriginalUri,
        mut rows: Vec<T>,
        id: impl Fn(&T) -> i64,
    ) -> Response {
        let more = rows.len() as i64 > self.limit();
        rows.truncate(self.limit() as usize);
        let next = rows.last().filter(|_| more).map(|last| {
            format!(
                "<{}?before={}&limit={}>; rel=\"next\"",
                uri.path(),
                id(last),
                self.limit()
            )
        });
        let mut response = Json(rows).into_response();
        if let Some(link) = next.and_then(|l| header::HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LINK, link);
        }
        response
    }
}

/// `POST /api/jobs/{id}/cancel` → 202 with the job (cancellation is asynchronous).
#[utoipa::path(
    post, path = "/api/jobs/{id}/cancel", tag = "jobs",
    params(("id" = i64, Path)),
    responses(
        (status = 202, description = "Cancellation requested", body = Job),
        (status = 409, description = "The job has already finished", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let job = state.engine.cancel_job(&actor, id).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbandonBody {
    /// Why the job is let go: what was checked, what happens next.
    reason: String,
}

/// `POST /api/jobs/{id}/abandon`: acknowledge an interrupted job and let it
/// go, saying why (audited). Its hosts stay as they are: roll back or deploy
/// again to change them.
#[utoipa::path(
    post, path = "/api/jobs/{id}/abandon", tag = "jobs",
    params(("id" = i64, Path)),
    request_body = AbandonBody,
    responses(
        (status = 200, description = "Abandoned: the job as it is now", body = Job),
        (status = 400, description = "No reason, or a reason too long", body = ErrorBody),
        (status = 409, description = "The job was not interrupted, or was abandoned already", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn abandon(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    body: Result<Json<AbandonBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let job = state.engine.abandon_job(&actor, id, &body.reason).await?;
    Ok(Json(job).into_response())
}

/// `POST /api/jobs/{id}/resume`: finish an interrupted deploy or rollback.
/// A new job runs the same release again (taking over the deploy locks the
/// interrupted one left); both name each other, audited as `job.resumed`.
#[utoipa::path(
    post, path = "/api/jobs/{id}/resume", tag = "jobs",
    params(("id" = i64, Path)),
    responses(
        (status = 202, description = "Queued: the job that finishes it", body = Job),
        (status = 409, description = "Not safe to resume: the job was not interrupted, was abandoned or resumed already, another job ran after it, its environment's settings changed; or the environment is locked or frozen", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn resume(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let job = state.engine.resume_job(&actor, id).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// What `GET /api/jobs/{id}` answers.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON for the OpenAPI document.
pub struct JobDocument {
    job: Job,
    /// `<application>/<environment>`
    environment: String,
    build: Build,
    release: Option<Release>,
    hosts: Vec<JobHost>,
}

/// Every error: a status and a message for people.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON for the OpenAPI document.
pub struct ErrorBody {
    error: String,
}
