//! What server functions need from the request: the engine and the actor.

use axum::Extension;
use engine::auth::Actor;
use engine::Engine;
use leptos::prelude::*;

/// The engine, provided as context by the server when it mounts the routes.
pub fn engine() -> Result<Engine, ServerFnError> {
    use_context::<Engine>()
        .ok_or_else(|| ServerFnError::new("server misconfigured: no engine in context"))
}

/// The signed-in actor, put in the request by the server's auth layer.
pub async fn actor() -> Result<Actor, ServerFnError> {
    match leptos_axum::extract::<Extension<Actor>>().await {
        Ok(Extension(actor)) => Ok(actor),
        Err(_) => {
            set_status(401);
            Err(ServerFnError::new("not signed in"))
        }
    }
}

/// Turns an engine error into a message for people, with a fitting status.
pub fn to_server_error(err: engine::Error) -> ServerFnError {
    let status = err.http_status();
    if status >= 500 {
        tracing::error!(error = %err, "server function failed");
    }
    set_status(status);
    ServerFnError::new(err.public_message())
}

pub fn invalid(message: impl Into<String>) -> ServerFnError {
    set_status(400);
    ServerFnError::new(message.into())
}

fn set_status(status: u16) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(code) = http::StatusCode::from_u16(status) {
            response.set_status(code);
        }
    }
}
