use leptos::prelude::*;

use crate::error::AppError;

use crate::model::AppOverview;

#[server(prefix = "/fn", endpoint = "get_overview")]
pub async fn get_overview() -> Result<Vec<AppOverview>, AppError> {
    use super::context::{actor, engine};
    use super::convert;
    let (engine, actor) = (engine()?, actor().await?);
    let overview = engine.overview(&actor).await?;
    let now = engine::time::now();
    Ok(overview
        .into_iter()
        .map(|(app, envs)| AppOverview {
            name: app.name,
            repository_url: app.repository_url,
            environments: envs
                .iter()
                .map(|e| {
                    convert::env_summary(
                        &e.environment,
                        e.live.as_ref(),
                        e.last_job.as_ref(),
                        convert::freeze_state(&e.freeze, now),
                        e.pending.as_ref(),
                    )
                })
                .collect(),
        })
        .collect())
}

#[server(prefix = "/fn", endpoint = "create_application")]
pub async fn create_application(name: String, repository_url: String) -> Result<String, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let app = engine
        .create_application(&actor, &name, Some(&repository_url))
        .await?;
    Ok(app.name)
}
