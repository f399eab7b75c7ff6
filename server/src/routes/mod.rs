//! The HTTP surface: Leptos pages and server functions, the JSON API,
//! server-sent events, sign-in, and the layers every request passes.

mod api;
mod api_audit;
mod api_changes;
mod api_environments;
mod api_freezes;
mod api_insight;
mod api_notifications;
mod api_requests;
mod artifacts;
mod audit_csv;
mod events;
mod layers;
mod login;
pub mod openapi;
mod packages;
mod webhooks;

use axum::http::Method;
use axum::middleware;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use engine::Engine;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};

use crate::access::policy::RouteEntry;
use crate::access::{middleware as access, session};
use crate::state::AppState;

/// Serves one file from disk (with tower-http's content type, ranges and
/// conditional requests).
async fn serve_file(
    file: &std::path::Path,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use tower::ServiceExt;
    match tower_http::services::ServeFile::new(file)
        .oneshot(request)
        .await
    {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

/// Every route that is not a Leptos page or server function. Each one needs
/// a rule in `access::policy`, or every request to it is refused.
fn http_routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/healthz", get(|| async { "ok" })),
        (Method::GET, "/login/link", get(login::confirm_login_link)),
        (Method::POST, "/login/link", post(login::redeem_login_link)),
        (Method::GET, "/auth/{provider}/start", get(login::start)),
        (
            Method::GET,
            "/auth/{provider}/callback",
            get(login::callback),
        ),
        (Method::POST, "/logout", post(login::logout)),
        (
            Method::POST,
            "/logout/everywhere",
            post(login::logout_everywhere),
        ),
        (Method::GET, "/api/openapi.json", get(openapi::document)),
        (Method::POST, "/api/builds", post(api::register_build)),
        (Method::GET, "/api/apps/{app}/builds", get(api::builds)),
        (
            Method::GET,
            "/api/apps",
            get(api_environments::applications),
        ),
        (
            Method::PUT,
            "/api/apps/{app}/envs/{env}/lock",
            put(api_environments::lock),
        ),
        (
            Method::DELETE,
            "/api/apps/{app}/envs/{env}/lock",
            delete(api_environments::unlock),
        ),
        (
            Method::POST,
            "/api/apps/{app}/qa",
            post(api_environments::create_qa),
        ),
        (
            Method::DELETE,
            "/api/apps/{app}/envs/{env}",
            delete(api_environments::destroy),
        ),
        (
            Method::GET,
            "/api/apps/{app}/freezes",
            get(api_freezes::list),
        ),
        (
            Method::POST,
            "/api/apps/{app}/freezes",
            post(api_freezes::create),
        ),
        (
            Method::DELETE,
            "/api/apps/{app}/freezes/{id}",
            delete(api_freezes::delete),
        ),
        (
            Method::POST,
            "/api/apps/{app}/envs/{env}/deploy",
            post(api::deploy),
        ),
        (
            Method::POST,
            "/api/apps/{app}/envs/{env}/promote",
            post(api_requests::promote),
        ),
        (Method::GET, "/api/requests", get(api_requests::pending)),
        (Method::GET, "/api/audit", get(api_audit::audit)),
        (
            Method::GET,
            "/api/audit/checkpoints",
            get(api_audit::checkpoints),
        ),
        (
            Method::GET,
            "/api/apps/{app}/dora",
            get(api_insight::app_dora),
        ),
        (
            Method::GET,
            "/api/apps/{app}/dora.csv",
            get(api_insight::app_dora_csv),
        ),
        (
            Method::GET,
            "/api/apps/{app}/envs/{env}/dora",
            get(api_insight::dora),
        ),
        (
            Method::GET,
            "/api/apps/{app}/envs/{env}/dora.csv",
            get(api_insight::dora_csv),
        ),
        (
            Method::POST,
            "/api/requests/{id}/approve",
            post(api_requests::approve),
        ),
        (
            Method::POST,
            "/api/requests/{id}/reject",
            post(api_requests::reject),
        ),
        (
            Method::GET,
            "/api/requests/{id}",
            get(api_requests::request),
        ),
        (
            Method::DELETE,
            "/api/requests/{id}",
            delete(api_requests::cancel),
        ),
        (
            Method::POST,
            "/api/apps/{app}/envs/{env}/rollback",
            post(api::rollback),
        ),
        (
            Method::GET,
            "/api/apps/{app}/envs/{env}/releases",
            get(api::releases),
        ),
        (
            Method::POST,
            "/api/apps/{app}/packages",
            post(packages::upload),
        ),
        // dnf on the hosts reads the package repository without Slipway
        // credentials: public and read-only.
        (Method::GET, "/repo/{app}/{*path}", get(packages::serve)),
        // ssh hosts that fetch their release: the token a job lent it under.
        (Method::GET, "/artifacts/{token}", get(artifacts::lent)),
        (Method::GET, "/api/jobs/{id}", get(api::job)),
        (Method::GET, "/api/timeline", get(api_insight::timeline)),
        (
            Method::GET,
            "/api/apps/{app}/notifications",
            get(api_notifications::list),
        ),
        (
            Method::POST,
            "/api/apps/{app}/notifications",
            post(api_notifications::create),
        ),
        (
            Method::DELETE,
            "/api/notifications/{id}",
            delete(api_notifications::delete),
        ),
        (
            Method::GET,
            "/api/notifications/{id}/deliveries",
            get(api_notifications::deliveries),
        ),
        (
            Method::GET,
            "/api/jobs/{id}/changes",
            get(api_changes::job_changes),
        ),
        (
            Method::GET,
            "/api/apps/{app}/envs/{env}/changes",
            get(api_changes::deploy_changes),
        ),
        (Method::POST, "/api/jobs/{id}/cancel", post(api::cancel)),
        (Method::POST, "/api/jobs/{id}/abandon", post(api::abandon)),
        (Method::POST, "/api/jobs/{id}/resume", post(api::resume)),
        (Method::GET, "/events/jobs/{id}", get(events::job_events)),
        (Method::GET, "/audit.csv", get(audit_csv::export)),
        (
            Method::POST,
            "/hooks/{forge}/{app}",
            post(webhooks::receive),
        ),
    ]
}

/// Every route the router serves, with its access rule: HTTP routes, pages
/// and server functions. `slipway routes` prints it; the access tests walk it.
pub fn route_table() -> Vec<RouteEntry> {
    let mut entries: Vec<RouteEntry> = http_routes()
        .iter()
        .map(|(method, path, _)| RouteEntry::new(method, path))
        .collect();
    for page in generate_route_list(app::App) {
        entries.push(RouteEntry::new(&Method::GET, page.path()));
    }
    let mut server_fns: Vec<(&str, Method)> = leptos::server_fn::axum::server_fn_paths().collect();
    server_fns.sort_by_key(|(path, _)| *path);
    for (path, method) in server_fns {
        entries.push(RouteEntry::new(&method, path));
    }
    entries
}

pub fn router<S: SessionStore + Clone>(state: AppState, sessions: S) -> Router {
    let routes = generate_route_list(app::App);
    let engine: Engine = state.engine.clone();
    let login_providers = app::model::LoginProviders(
        state
            .providers
            .list()
            .iter()
            .map(|p| app::model::LoginProvider {
                id: p.config.id.clone(),
                name: p.display_name(),
            })
            .collect(),
    );
    let session_layer = SessionManagerLayer::new(sessions)
        .with_name(session::cookie_name(state.secure_cookies))
        .with_http_only(true)
        // Lax, not Strict: an identity provider's redirect back must carry it.
        .with_same_site(SameSite::Lax)
        .with_secure(state.secure_cookies)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::hours(session::IDLE_TIMEOUT_HOURS),
        ));

    let mut router = Router::new();
    for (_, path, handler) in http_routes() {
        router = router.route(path, handler);
    }
    router
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(engine.clone());
                provide_context(login_providers.clone());
            },
            {
                let options = state.leptos_options.clone();
                move || app::shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            access::authorize,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            access::same_origin_only,
        ))
        .layer(session_layer)
        .layer(middleware::from_fn(layers::no_store))
        .layer(middleware::from_fn(layers::no_trailing_slash))
        .with_state(state)
}
