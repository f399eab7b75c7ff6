use leptos::prelude::*;

use crate::error::AppError;

use crate::model::{BuildsPage, Registration};

#[server(prefix = "/fn", endpoint = "get_builds")]
pub async fn get_builds(app: String) -> Result<BuildsPage, AppError> {
    use super::context::{actor, engine};
    use super::convert;
    let (engine, actor) = (engine()?, actor().await?);
    let apps: Vec<String> = engine
        .applications(&actor)
        .await?
        .into_iter()
        .map(|a| a.name)
        .collect();
    let app = if app.is_empty() {
        apps.first().cloned().unwrap_or_default()
    } else {
        app
    };
    if app.is_empty() {
        return Ok(BuildsPage {
            app,
            apps,
            builds: vec![],
        });
    }
    let (app, builds) = engine.builds(&actor, &app, None, 200).await?;
    Ok(BuildsPage {
        app: app.name,
        apps,
        builds: builds.iter().map(convert::build).collect(),
    })
}

#[server(prefix = "/fn", endpoint = "register_build")]
pub async fn register_build(
    application: String,
    commit_sha: String,
    branch: String,
    message: String,
    author: String,
    artifact: String,
) -> Result<Registration, AppError> {
    use super::context::{actor, engine};
    use engine::store::builds::Registered;
    let (engine, actor) = (engine()?, actor().await?);
    let request = engine::BuildRequest {
        application,
        commit_sha,
        branch,
        message,
        author,
        artifact,
        committed_at: None,
        commits: Vec::new(),
    };
    match engine.register_build(&actor, request).await? {
        Registered::Created(b) => Ok(Registration {
            build: super::convert::build(&b),
            created: true,
        }),
        Registered::Existing(b) => Ok(Registration {
            build: super::convert::build(&b),
            created: false,
        }),
    }
}
