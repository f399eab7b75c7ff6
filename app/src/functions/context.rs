//! What server functions need from the request: the engine, the actor, and
//! arguments read as what they stand for.

use axum::Extension;
use engine::auth::Actor;
use engine::Engine;
use leptos::prelude::*;

use crate::error::AppError;

/// The engine, provided as context by the server when it mounts the routes.
pub fn engine() -> Result<Engine, AppError> {
    use_context::<Engine>()
        .ok_or_else(|| AppError::with_status(500, "server misconfigured: no engine in context"))
}

/// The signed-in actor, put in the request by the server's auth layer.
pub async fn actor() -> Result<Actor, AppError> {
    match leptos_axum::extract::<Extension<Actor>>().await {
        Ok(Extension(actor)) => Ok(actor),
        Err(_) => Err(AppError::with_status(401, "not signed in")),
    }
}

/// An argument that names a number (an id, a count), or a 400 naming it.
pub fn number<T: std::str::FromStr>(name: &str, raw: &str) -> Result<T, AppError> {
    raw.trim().parse().map_err(|_| {
        // Echoed back in full only when short: the message is for people.
        let shown: String = raw.chars().take(40).collect();
        AppError::invalid(format!("{name}: expected a whole number, got {shown:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn a_number_argument_names_itself_when_it_is_not_one() {
        assert_eq!(number::<i64>("id", " 42 ").unwrap(), 42);
        let error = number::<i64>("release_id", "4x").unwrap_err();
        assert_eq!(
            error.message(),
            "release_id: expected a whole number, got \"4x\""
        );
    }
}
