//! QA environments: create one from a docker environment, destroy one.

use leptos::prelude::*;

use crate::error::AppError;

/// Creates a QA environment; returns the id of the job that sets it up.
#[server(prefix = "/fn", endpoint = "create_qa_environment")]
pub async fn create_qa_environment(
    app: String,
    based_on: String,
    name: String,
    build_id: String,
    ttl_hours: String,
) -> Result<i64, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let build_id: i64 = build_id
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("choose a build for the QA environment"))?;
    let ttl_hours: u32 = ttl_hours
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("ttl_hours: enter a whole number of hours (1-720)"))?;
    let request = engine::QaRequest {
        based_on,
        name: Some(name),
        build_id,
        ttl_hours,
    };
    let (_, job) = engine.create_qa_environment(&actor, &app, request).await?;
    Ok(job.id)
}

/// Queues the destroy of a QA environment; returns the job id.
#[server(prefix = "/fn", endpoint = "destroy_environment")]
pub async fn destroy_environment(app: String, env: String) -> Result<i64, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let job = engine.destroy_environment(&actor, &app, &env).await?;
    Ok(job.id)
}
