//! The hosted rpm repository: CI uploads a package (which registers its
//! build), hosts read the repository with dnf.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use engine::auth::{Actor, Permission};
use engine::backends::dnf::repository::MAX_PACKAGE_BYTES;
use engine::store::builds::Registered;
use engine::PackageUpload;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    commit_sha: String,
    branch: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    author: String,
}

/// Removes a received upload however the request ends (once published,
/// the file has been moved and there is nothing left to remove).
struct Received(std::path::PathBuf);

impl Drop for Received {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `POST /api/apps/{app}/packages?commit_sha=…&branch=…[&message=…&author=…]`
/// with the rpm as the body: 201 with the new build, 200 when exactly this
/// package and commit were already published and registered.
#[utoipa::path(
    post, path = "/api/apps/{app}/packages", tag = "builds",
    params(("app" = String, Path), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/x-rpm", description = "The rpm file"),
    responses(
        (status = 201, description = "Published to the application's repository and registered", body = engine::domain::Build),
        (status = 200, description = "Exactly this package and commit were already published", body = engine::domain::Build),
        (status = 400, description = "Not an rpm of this application, or invalid input", body = super::api::ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = super::api::ErrorBody),
    ),
    security(("bearer" = ["builds:write"]))
)]
pub async fn upload(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Refuse before reading a byte of what may be a large body.
    actor
        .require(Permission::RegisterBuild)
        .map_err(ApiError::from)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_PACKAGE_BYTES) {
        return Err(too_large());
    }
    let repository = state.engine.package_repository();
    let received = Received(repository.incoming_path());
    receive(body, &received.0).await?;
    let (registered, published) = state
        .engine
        .publish_package(
            &actor,
            PackageUpload {
                application: app,
                commit_sha: query.commit_sha,
                branch: query.branch,
                message: query.message,
                author: query.author,
            },
            &received.0,
        )
        .await?;
    let (status, build) = match registered {
        Registered::Created(build) => (StatusCode::CREATED, build),
        Registered::Existing(build) => (StatusCode::OK, build),
    };
    Ok((
        status,
        Json(json!({
            "build": build,
            "package": published.header.version.to_string(),
            "file": published.header.file_name(),
            "new_in_repository": published.new,
        })),
    )
        .into_response())
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the package is larger than {} MiB",
            MAX_PACKAGE_BYTES / 1024 / 1024
        ),
    )
}

/// Streams the body into `path`, refusing more than the size limit.
async fn receive(body: Body, path: &std::path::Path) -> Result<(), ApiError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| io_error("cannot store the upload", e))?;
    let mut stream = body.into_data_stream();
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("the upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > MAX_PACKAGE_BYTES {
            return Err(too_large());
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| io_error("cannot store the upload", e))?;
    }
    if size == 0 {
        return Err(ApiError::bad_request(
            "the body is empty: send the rpm file as the request body",
        ));
    }
    file.flush()
        .await
        .map_err(|e| io_error("cannot store the upload", e))
}

fn io_error(what: &str, e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "{what}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; the server log has the details",
    )
}

/// `GET /repo/{app}/{*path}`: the application's repository, read-only.
/// Only packages and `repodata/` files are served (see
/// `PackageRepository::resolve`); anything else is a 404.
pub async fn serve(
    State(state): State<AppState>,
    Path((app, path)): Path<(String, String)>,
    request: Request,
) -> Response {
    let Some(file) = state.engine.package_repository().resolve(&app, &path) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    super::serve_file(&file, request).await
}
