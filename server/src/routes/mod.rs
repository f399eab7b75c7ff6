//! The HTTP surface: Leptos pages and server functions, the JSON API,
//! server-sent events, login, and the layers every request passes.

mod api;
mod audit_csv;
pub mod auth;
mod events;
mod packages;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use engine::Engine;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::SqliteStore;

use crate::state::AppState;

pub fn router(state: AppState, sessions: SqliteStore, secure_cookies: bool) -> Router {
    let routes = generate_route_list(app::App);
    let engine: Engine = state.engine.clone();
    let session_layer = SessionManagerLayer::new(sessions)
        .with_name("slipway_session")
        .with_http_only(true)
        // Lax, not Strict: an identity provider's redirect back must carry it.
        .with_same_site(SameSite::Lax)
        .with_secure(secure_cookies)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::days(7),
        ));

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/login/link", get(auth::redeem_login_link))
        .route("/logout", post(auth::logout))
        .route("/api/builds", post(api::register_build))
        .route("/api/apps/{app}/envs/{env}/deploy", post(api::deploy))
        .route("/api/apps/{app}/envs/{env}/rollback", post(api::rollback))
        .route("/api/apps/{app}/envs/{env}/releases", get(api::releases))
        .route("/api/apps/{app}/packages", post(packages::upload))
        .route("/api/jobs/{id}", get(api::job))
        .route("/events/jobs/{id}", get(events::job_events))
        .route("/audit.csv", get(audit_csv::export))
        .leptos_routes_with_context(&state, routes, move || provide_context(engine.clone()), {
            let options = state.leptos_options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_actor,
        ))
        .layer(middleware::from_fn(auth::same_origin_only))
        .layer(session_layer)
        // Added after the layers on purpose: dnf on the hosts reads the
        // package repository without Slipway credentials (public, read-only).
        .route("/repo/{app}/{*path}", get(packages::serve))
        .with_state(state)
}
