//! The access policy: one table that says, for every route and every server
//! function, who may call it. A route without a rule is refused (deny by
//! default), and the route × role test walks this table and the router.

use axum::http::Method;
use engine::auth::Permission;
use serde::Serialize;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, signed in or not (login, assets, health).
    Public,
    /// Any signed-in person or token (e.g. sign out).
    SignedIn,
    /// Signed in, with a role (and for tokens a scope) that grants this.
    Require(Permission),
}

impl Rule {
    pub fn describe(self) -> String {
        match self {
            Rule::Public => "public".to_owned(),
            Rule::SignedIn => "signed-in".to_owned(),
            Rule::Require(permission) => format!("{permission:?}"),
        }
    }
}

/// Where server functions are mounted (`#[server(prefix = "/fn", …)]`).
pub const SERVER_FN_PREFIX: &str = "/fn/";

/// The rule for a request to `route` (the router's matched path pattern,
/// e.g. `/apps/{app}/envs/{env}`; `None` when no route matched).
pub fn rule_for(method: &Method, route: Option<&str>, path: &str) -> Option<Rule> {
    let Some(route) = route else {
        // Unmatched: static files are public; anything else is a 404 page
        // for people who are signed in.
        return Some(if is_asset(path) {
            Rule::Public
        } else {
            Rule::SignedIn
        });
    };
    if let Some(name) = route.strip_prefix(SERVER_FN_PREFIX) {
        return (*method == Method::POST || *method == Method::GET)
            .then(|| server_fn_rule(name))
            .flatten();
    }
    http_rule(method, route)
        .or_else(|| (*method == Method::GET).then(|| page_rule(route)).flatten())
}

/// Paths that never depend on who asks: static files, the liveness probe,
/// the package repository hosts read without credentials, and the release
/// archives lent to hosts under a job's token.
pub fn is_asset(path: &str) -> bool {
    matches!(path, "/favicon.ico" | "/healthz")
        || path.starts_with("/pkg/")
        || path.starts_with("/repo/")
        || path.starts_with("/artifacts/")
}

/// The JSON API, SSE, login and export routes (see `routes::http_routes`).
fn http_rule(method: &Method, route: &str) -> Option<Rule> {
    use Permission::*;
    let rule = match (method.as_str(), route) {
        ("GET", "/healthz") => Rule::Public,
        ("GET", "/login/link") => Rule::Public,
        ("POST", "/login/link") => Rule::Public,
        ("GET", "/auth/{provider}/start") => Rule::Public,
        ("GET", "/auth/{provider}/callback") => Rule::Public,
        ("GET", "/api/openapi.json") => Rule::Public,
        ("POST", "/logout") => Rule::SignedIn,
        ("POST", "/logout/everywhere") => Rule::SignedIn,
        ("POST", "/api/builds") => Rule::Require(RegisterBuild),
        ("POST", "/api/apps/{app}/packages") => Rule::Require(RegisterBuild),
        ("GET", "/repo/{app}/{*path}") => Rule::Public,
        // The unguessable token is the credential, valid while its job stages.
        ("GET", "/artifacts/{token}") => Rule::Public,
        ("GET", "/api/apps") => Rule::Require(Read),
        ("GET", "/api/apps/{app}/builds") => Rule::Require(Read),
        ("PUT", "/api/apps/{app}/envs/{env}/lock") => Rule::Require(Lock),
        ("DELETE", "/api/apps/{app}/envs/{env}/lock") => Rule::Require(Lock),
        ("POST", "/api/apps/{app}/qa") => Rule::Require(Deploy),
        ("DELETE", "/api/apps/{app}/envs/{env}") => Rule::Require(Deploy),
        ("GET", "/api/apps/{app}/freezes") => Rule::Require(Read),
        ("POST", "/api/apps/{app}/freezes") => Rule::Require(ManageFreezes),
        ("DELETE", "/api/apps/{app}/freezes/{id}") => Rule::Require(ManageFreezes),
        ("POST", "/api/apps/{app}/envs/{env}/deploy") => Rule::Require(Deploy),
        ("POST", "/api/apps/{app}/envs/{env}/rollback") => Rule::Require(Deploy),
        ("POST", "/api/apps/{app}/envs/{env}/promote") => Rule::Require(Deploy),
        ("GET", "/api/requests") => Rule::Require(Read),
        ("GET", "/api/audit") => Rule::Require(Read),
        ("GET", "/api/audit/checkpoints") => Rule::Require(Read),
        ("GET", "/api/apps/{app}/envs/{env}/dora") => Rule::Require(Read),
        ("GET", "/api/apps/{app}/dora") | ("GET", "/api/apps/{app}/dora.csv") => {
            Rule::Require(Read)
        }
        ("GET", "/api/apps/{app}/envs/{env}/changes") => Rule::Require(Read),
        ("GET", "/api/jobs/{id}/changes") => Rule::Require(Read),
        ("GET", "/api/timeline") => Rule::Require(Read),
        ("GET", "/api/apps/{app}/notifications") => Rule::Require(Read),
        ("GET", "/api/notifications/{id}/deliveries") => Rule::Require(Read),
        ("POST", "/api/apps/{app}/notifications") | ("DELETE", "/api/notifications/{id}") => {
            Rule::Require(ManageNotifications)
        }
        ("GET", "/api/apps/{app}/envs/{env}/dora.csv") => Rule::Require(Read),
        ("GET", "/api/requests/{id}") => Rule::Require(Read),
        ("DELETE", "/api/requests/{id}") => Rule::Require(CancelJob),
        ("POST", "/api/requests/{id}/approve") => Rule::Require(Approve),
        ("POST", "/api/requests/{id}/reject") => Rule::Require(Approve),
        ("GET", "/api/apps/{app}/envs/{env}/releases") => Rule::Require(Read),
        ("GET", "/api/jobs/{id}") => Rule::Require(Read),
        ("POST", "/api/jobs/{id}/cancel") => Rule::Require(CancelJob),
        ("POST", "/api/jobs/{id}/abandon") => Rule::Require(CancelJob),
        ("POST", "/api/jobs/{id}/resume") => Rule::Require(Deploy),
        ("GET", "/events/jobs/{id}") => Rule::Require(Read),
        ("GET", "/audit.csv") => Rule::Require(Read),
        // The webhook secret is the credential, checked over the body.
        ("POST", "/hooks/{forge}/{app}") => Rule::Public,
        _ => return None,
    };
    Some(rule)
}

/// Pages: reading, except the login page (public) and the admin pages.
fn page_rule(route: &str) -> Option<Rule> {
    use Permission::*;
    let rule = match route {
        "/login" => Rule::Public,
        "/users" => Rule::Require(ManageUsers),
        "/tokens" => Rule::Require(ManageOwnAccount),
        "/"
        | "/builds"
        | "/audit"
        | "/requests"
        | "/timeline"
        | "/jobs/{id}"
        | "/apps/{app}/envs/{env}"
        | "/apps/{app}/envs/{env}/insight"
        | "/apps/{app}/insight" => Rule::Require(Read),
        "/apps/{app}/new-env" | "/apps/{app}/envs/{env}/edit" => Rule::Require(ManageEnvironments),
        _ => return None,
    };
    Some(rule)
}

/// Server functions, by endpoint name.
fn server_fn_rule(name: &str) -> Option<Rule> {
    use Permission::*;
    let rule = match name {
        "login_providers" | "get_me" => Rule::Public,
        "get_overview" | "get_environment" | "default_settings" | "get_job" | "get_audit"
        | "get_builds" | "installed_versions" | "deploy_plan" | "latest_activity"
        | "get_requests" | "get_insight" | "deploy_changes" | "job_changes"
        | "get_notifications" | "get_timeline" => Rule::Require(Read),
        "deploy"
        | "rollback"
        | "promote"
        | "resume_job"
        | "create_qa_environment"
        | "destroy_environment" => Rule::Require(Deploy),
        "lock_environment" | "unlock_environment" => Rule::Require(Lock),
        "cancel_job" | "cancel_request" | "abandon_job" => Rule::Require(CancelJob),
        "answer_request" => Rule::Require(Approve),
        "create_freeze_window" | "delete_freeze_window" => Rule::Require(ManageFreezes),
        "register_build" => Rule::Require(RegisterBuild),
        "create_notification_target" | "delete_notification_target" => {
            Rule::Require(ManageNotifications)
        }
        "save_environment" | "delete_environment" | "set_env_var" | "delete_env_var"
        | "break_remote_locks" | "scan_host_keys" => Rule::Require(ManageEnvironments),
        "create_application" => Rule::Require(ManageApplications),
        "get_users" | "set_role" => Rule::Require(ManageUsers),
        "get_tokens" | "create_token" | "revoke_token" => Rule::Require(ManageOwnAccount),
        _ => return None,
    };
    Some(rule)
}

/// One route as `slipway routes` lists it, for people and for the access tests.
#[derive(Clone, Debug, Serialize)]
pub struct RouteEntry {
    pub method: String,
    pub path: String,
    /// `None`: no rule, so every request is refused.
    pub rule: Option<String>,
    /// The least role that may call it (`None` for public and signed-in routes).
    pub least_role: Option<&'static str>,
    /// The token scope that grants it (`None`: tokens cannot).
    pub scope: Option<&'static str>,
}

impl RouteEntry {
    pub fn new(method: &Method, path: &str) -> Self {
        let rule = rule_for(method, Some(path), path);
        let permission = match rule {
            Some(Rule::Require(p)) => Some(p),
            _ => None,
        };
        Self {
            method: method.to_string(),
            path: path.to_owned(),
            rule: rule.map(Rule::describe),
            least_role: permission.map(|p| p.least_role().as_str()),
            scope: permission.and_then(|p| p.scope()).map(|s| s.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_routes_and_server_functions_have_no_rule() {
        assert_eq!(
            rule_for(&Method::POST, Some("/api/new-thing"), "/api/new-thing"),
            None
        );
        assert_eq!(
            rule_for(&Method::POST, Some("/fn/new_thing"), "/fn/new_thing"),
            None
        );
        assert_eq!(
            rule_for(&Method::DELETE, Some("/api/builds"), "/api/builds"),
            None
        );
        assert_eq!(
            rule_for(&Method::GET, Some("/secret-page"), "/secret-page"),
            None
        );
    }

    #[test]
    fn assets_are_public_and_unmatched_paths_need_a_session() {
        assert_eq!(
            rule_for(&Method::GET, None, "/pkg/slipway.wasm"),
            Some(Rule::Public)
        );
        assert_eq!(rule_for(&Method::GET, None, "/nope"), Some(Rule::SignedIn));
    }
}
