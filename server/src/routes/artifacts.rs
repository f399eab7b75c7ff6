//! Release archives lent to ssh hosts that fetch their release.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// `GET /artifacts/{token}`: the archive a running job lent under `token`
/// (hosts check its sha256 themselves); 404 once the job is done with it.
pub async fn lent(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let Some(file) = state.engine.artifact_shares().file(&token) else {
        return (
            StatusCode::NOT_FOUND,
            "no such artifact (or its job is over)\n",
        )
            .into_response();
    };
    super::serve_file(&file, request).await
}
