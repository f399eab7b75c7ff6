//! The dnf backend's page actions: what each host has installed.

use leptos::prelude::*;

use crate::error::AppError;

use crate::model::HostVersionInfo;

/// Asks every host of a dnf environment which version it has installed.
#[server(prefix = "/fn", endpoint = "installed_versions")]
pub async fn installed_versions(
    app: String,
    env: String,
) -> Result<Vec<HostVersionInfo>, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let versions = engine.installed_versions(&actor, &app, &env).await?;
    Ok(versions.iter().map(super::convert::host_version).collect())
}
