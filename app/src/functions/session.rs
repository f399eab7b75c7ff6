use leptos::prelude::*;

use crate::error::AppError;

use crate::model::Me;

/// The signed-in user, for the header; `None` when nobody is (the login
/// page renders the header too, and must not turn into an error page).
#[server(prefix = "/fn", endpoint = "get_me")]
pub async fn get_me() -> Result<Option<Me>, AppError> {
    use axum::Extension;
    use engine::auth::{Actor, Permission};
    Ok(leptos_axum::extract::<Extension<Actor>>()
        .await
        .ok()
        .map(|Extension(actor)| Me {
            may_register_builds: actor.require(Permission::RegisterBuild).is_ok(),
            may_manage_applications: actor.require(Permission::ManageApplications).is_ok(),
            role: actor.role.as_str().to_owned(),
            login: actor.login,
        }))
}
