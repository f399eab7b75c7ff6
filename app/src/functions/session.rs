use leptos::prelude::*;

use crate::model::Me;

/// The signed-in user, for the header.
#[server(prefix = "/fn", endpoint = "get_me")]
pub async fn get_me() -> Result<Me, ServerFnError> {
    let actor = super::context::actor().await?;
    Ok(Me {
        login: actor.login,
        role: actor.role.as_str().to_owned(),
    })
}
