//! The JSON API for deploy requests: deploys and rollbacks that wait (for
//! approvals, their time, or behind a running job) — list, read, approve,
//! reject, cancel.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use engine::auth::Actor;
use engine::domain::{ApprovalRecord, DeployRequest, Deployment};
use engine::RequestView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api::ErrorBody;
use crate::error::ApiError;
use crate::state::AppState;

/// A deploy that waits, as a deploy or rollback answers it.
#[derive(Serialize, ToSchema)]
pub struct WaitingDocument {
    request: DeployRequest,
}

/// 202 with the job that starts now, or with `{"request": …}` and its
/// `Location` when it waits.
pub fn accepted(deployment: Deployment) -> Response {
    match deployment {
        Deployment::Started(job) => (StatusCode::ACCEPTED, Json(job)).into_response(),
        Deployment::Waiting(request) => {
            let location = format!("/api/requests/{}", request.id);
            (
                StatusCode::ACCEPTED,
                [(header::LOCATION, location)],
                Json(WaitingDocument { request }),
            )
                .into_response()
        }
    }
}

/// A pending request with its approvals so far.
#[derive(Serialize, ToSchema)]
pub struct PendingDocument {
    #[serde(flatten)]
    request: DeployRequest,
    approvals: Vec<ApprovalRecord>,
    /// Whether the caller may approve or reject it.
    may_answer: bool,
    /// Awaiting approval, but the caller may not answer it: why.
    why_not: Option<String>,
}

impl From<RequestView> for PendingDocument {
    fn from(view: RequestView) -> Self {
        Self {
            request: view.request,
            approvals: view.approvals,
            may_answer: view.may_answer,
            why_not: view.why_not,
        }
    }
}

/// `GET /api/requests`: every pending deploy request (awaiting approval or
/// waiting), oldest first, with its approvals.
#[utoipa::path(
    get, path = "/api/requests", tag = "requests",
    responses((status = 200, description = "Pending requests", body = Vec<PendingDocument>)),
    security(("bearer" = ["read"]))
)]
pub async fn pending(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Response, ApiError> {
    let views = state.engine.pending_requests(&actor).await?;
    let documents: Vec<PendingDocument> = views.into_iter().map(Into::into).collect();
    Ok(Json(documents).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// Optional to approve; a rejection must say why.
    #[serde(default)]
    comment: String,
}

/// `POST /api/requests/{id}/approve`: approve a request awaiting approval.
/// The last approval its rules need lets it start by itself.
#[utoipa::path(
    post, path = "/api/requests/{id}/approve", tag = "requests",
    params(("id" = i64, Path)),
    request_body = AnswerBody,
    responses(
        (status = 200, description = "Approved: the request as it is now", body = DeployRequest),
        (status = 403, description = "Not one who may approve it (its requester, or not named by a rule)", body = ErrorBody),
        (status = 409, description = "Not awaiting approval (or it expired, or its settings changed)", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn approve(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    body: Result<Json<AnswerBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    answer(&state, &actor, id, body, true).await
}

/// `POST /api/requests/{id}/reject`: reject a request awaiting approval, saying why.
#[utoipa::path(
    post, path = "/api/requests/{id}/reject", tag = "requests",
    params(("id" = i64, Path)),
    request_body = AnswerBody,
    responses(
        (status = 200, description = "Rejected", body = DeployRequest),
        (status = 400, description = "No comment", body = ErrorBody),
        (status = 403, description = "Not one who may answer it", body = ErrorBody),
        (status = 409, description = "Not awaiting approval", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn reject(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    body: Result<Json<AnswerBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    answer(&state, &actor, id, body, false).await
}

/// Approves (`approve`) or rejects a request with the body's comment.
async fn answer(
    state: &AppState,
    actor: &Actor,
    id: i64,
    body: Result<Json<AnswerBody>, JsonRejection>,
    approve: bool,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let request = state
        .engine
        .decide_request(actor, id, approve, &body.comment)
        .await?;
    Ok(Json(request).into_response())
}

/// `GET /api/requests/{id}`: a deploy request; once `started`, its `job_id`.
#[utoipa::path(
    get, path = "/api/requests/{id}", tag = "requests",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The request", body = DeployRequest),
        (status = 404, description = "No such request", body = ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn request(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let request = state.engine.deploy_request(&actor, id).await?;
    Ok(Json(request).into_response())
}

/// `DELETE /api/requests/{id}`: withdraw a request that has not started.
#[utoipa::path(
    delete, path = "/api/requests/{id}", tag = "requests",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "Cancelled", body = DeployRequest),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "It started or ended already", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let request = state.engine.cancel_request(&actor, id).await?;
    Ok(Json(request).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteBody {
    /// The environment that takes builds from this one, e.g. "production".
    to: String,
}

/// `POST /api/apps/{app}/envs/{env}/promote`: deploys what is live on
/// `env` to the environment `to` that takes builds from it — 202 with the
/// job, or with `{"request": …}` where it waits (approvals, a running job).
#[utoipa::path(
    post, path = "/api/apps/{app}/envs/{env}/promote", tag = "jobs",
    params(("app" = String, Path), ("env" = String, Path)),
    request_body = PromoteBody,
    responses(
        (status = 202, description = "The job; or {\"request\": …} when it waits", body = engine::domain::Job),
        (status = 400, description = "`to` does not take builds from this environment", body = ErrorBody),
        (status = 409, description = "Nothing live here, or busy, locked or frozen there", body = ErrorBody),
    ),
    security(("bearer" = ["deploy"]))
)]
pub async fn promote(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, env)): Path<(String, String)>,
    body: Result<Json<PromoteBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let deployment = state.engine.promote(&actor, &app, &env, &body.to).await?;
    Ok(accepted(deployment))
}
