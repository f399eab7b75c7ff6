use leptos::prelude::*;

use crate::error::AppError;
use crate::model::ChangesInfo;

/// What deploying `build_id` to the environment would change.
#[server(prefix = "/fn", endpoint = "deploy_changes")]
pub async fn deploy_changes(
    app: String,
    env: String,
    build_id: String,
) -> Result<ChangesInfo, AppError> {
    use super::context::{actor, engine, number};
    let build_id = number("build_id", &build_id)?;
    let (engine, actor) = (engine()?, actor().await?);
    let changes = engine.deploy_changes(&actor, &app, &env, build_id).await?;
    Ok(super::convert::release_changes(&changes))
}

/// What job `id` changed.
#[server(prefix = "/fn", endpoint = "job_changes")]
pub async fn job_changes(id: String) -> Result<ChangesInfo, AppError> {
    use super::context::{actor, engine, number};
    let id = number("id", &id)?;
    let (engine, actor) = (engine()?, actor().await?);
    let changes = engine.job_changes(&actor, id).await?;
    Ok(super::convert::release_changes(&changes))
}
