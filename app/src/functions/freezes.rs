//! Freeze windows from an environment's page: make one, remove one.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::FreezeForm;

/// Makes a freeze window over `env` (or, with scope "app", over every
/// environment of `app`); returns its id.
#[server(prefix = "/fn", endpoint = "create_freeze_window")]
pub async fn create_freeze_window(
    app: String,
    env: String,
    #[server(flatten)] form: FreezeForm,
) -> Result<i64, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let request = super::convert::freeze_request(form, &env)?;
    let window = engine.create_freeze_window(&actor, &app, &request).await?;
    Ok(window.id)
}

#[server(prefix = "/fn", endpoint = "delete_freeze_window")]
pub async fn delete_freeze_window(app: String, id: String) -> Result<(), AppError> {
    use super::context::{actor, engine, number};
    let id = number("id", &id)?;
    let (engine, actor) = (engine()?, actor().await?);
    engine.delete_freeze_window(&actor, &app, id).await?;
    Ok(())
}
