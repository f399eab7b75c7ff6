//! The layers every request passes: who is asking (a bearer token or the
//! session), whether the policy lets them, and whether a state change made
//! with a cookie comes from this site.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use engine::audit::{actions, AuditRecord};
use engine::auth::{token_hash, Actor};
use tower_sessions::Session;

use super::policy::{self, Rule};
use super::session;
use crate::error::ApiError;
use crate::state::AppState;

/// Resolves the actor, applies the route's rule, and records what the audit
/// log must show: refused mutations and mutations made with a token.
pub async fn authorize(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let Some(rule) = policy::rule_for(&method, route.as_deref(), &path) else {
        tracing::error!(%method, route = route.as_deref().unwrap_or(&path), "no access rule for this route: refused");
        return refuse(
            &path,
            ApiError::new(StatusCode::FORBIDDEN, "no access rule for this route"),
        );
    };
    // Assets and the liveness probe never need to know who asks.
    if rule == Rule::Public && policy::is_asset(&path) {
        return next.run(request).await;
    }
    let actor = match bearer_token(&request) {
        Some(token) => match state
            .engine
            .store()
            .api_token_by_hash(&token_hash(&token))
            .await
        {
            Ok(Some((user, token))) => Some(Actor::token(&user, &token)),
            Ok(None) => {
                return refuse(
                    &path,
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid, expired or revoked token",
                    ),
                )
            }
            Err(e) => return refuse(&path, e.into()),
        },
        None => session::actor(&state.engine, &session).await,
    };
    let permission = match (rule, &actor) {
        (Rule::Public, _) => None,
        (_, None) if is_machine_path(&path) || method != Method::GET => {
            return refuse(
                &path,
                ApiError::new(StatusCode::UNAUTHORIZED, "sign in or send a bearer token"),
            )
        }
        (_, None) => {
            let asked = request
                .uri()
                .path_and_query()
                .map_or(path.as_str(), |pq| pq.as_str());
            return Redirect::to(&super::return_to::login_page_for(asked)).into_response();
        }
        (Rule::SignedIn, Some(_)) => None,
        (Rule::Require(permission), Some(_)) => Some(permission),
    };
    if let (Some(permission), Some(actor)) = (permission, &actor) {
        if let Err(denied) = actor.require(permission) {
            if is_mutation(&method) {
                audit(
                    &state,
                    denial(actor, &method, &path, &denied.public_message()),
                )
                .await;
            }
            // A page opened in the browser gets a page, not JSON.
            if method == Method::GET && !is_machine_path(&path) {
                return crate::error::message_page(
                    StatusCode::FORBIDDEN,
                    "Not allowed",
                    &denied.public_message(),
                );
            }
            return refuse(&path, denied.into());
        }
    }
    let token_id = actor.as_ref().and_then(Actor::token_id);
    let login = actor.as_ref().map(|a| a.login.clone());
    if let Some(actor) = actor {
        request.extensions_mut().insert(actor);
    }
    let response = next.run(request).await;
    // A token that changed something is on the record (refused requests change nothing).
    let changed = is_mutation(&method) && response.status().is_success();
    if let (Some(token_id), Some(login), true) = (token_id, login, changed) {
        let record = AuditRecord::new(
            &login,
            actions::API_TOKEN_USED,
            format!("api_token/{token_id}"),
        )
        .details(serde_json::json!({
            "method": method.as_str(),
            "path": path,
            "status": response.status().as_u16(),
        }));
        audit(&state, record).await;
    }
    response
}

fn denial(actor: &Actor, method: &Method, path: &str, reason: &str) -> AuditRecord {
    AuditRecord::new(&actor.login, actions::ACCESS_DENIED, path.to_owned()).details(
        serde_json::json!({
            "method": method.as_str(),
            "reason": reason,
            "token": actor.token_id(),
        }),
    )
}

/// Audit rows about access are written after the fact; a failure to write
/// one is logged loudly but does not change the answer already decided.
async fn audit(state: &AppState, record: AuditRecord) {
    if let Err(e) = state.engine.store().audit_only(&record).await {
        tracing::error!(error = %e, action = record.action, "could not write an access audit row");
    }
}

fn is_mutation(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Requests answered with 401 rather than a redirect to the login page.
fn is_machine_path(path: &str) -> bool {
    path.starts_with("/api/")
        || path.starts_with("/fn/")
        || path.starts_with("/events/")
        || path.ends_with(".csv")
}

/// A refusal in the encoding its caller reads: a server function (`/fn/…`,
/// called by the page's own code) reads Leptos' `ServerError|<message>`
/// and the `serverfnerror` header, so the page shows the message; every
/// other caller gets the JSON `{"error": …}`.
fn refuse(path: &str, error: ApiError) -> Response {
    if !path.starts_with("/fn/") {
        return error.into_response();
    }
    let mut response = (error.status, format!("ServerError|{}", error.message)).into_response();
    if let Ok(value) = HeaderValue::from_str(path) {
        response.headers_mut().insert("serverfnerror", value);
    }
    response
}

pub fn bearer_token(request: &Request) -> Option<String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// Refuses state-changing requests that ride on a cookie unless the browser
/// says they come from this site (`Sec-Fetch-Site`, `Origin`). Bearer-token
/// requests carry no ambient credentials and are exempt.
pub async fn same_origin_only(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !is_mutation(request.method()) || bearer_token(&request).is_some() {
        return next.run(request).await;
    }
    match same_origin_verdict(request.headers(), &state.public_origin) {
        Ok(()) => next.run(request).await,
        Err(why) => refuse(
            request.uri().path(),
            ApiError::new(StatusCode::FORBIDDEN, why),
        ),
    }
}

/// Same-site browsers say so (`Sec-Fetch-Site`); an `Origin` must be the
/// public URL's origin, or name the host the request was sent to.
fn same_origin_verdict(
    headers: &axum::http::HeaderMap,
    public_origin: &str,
) -> Result<(), &'static str> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    let fetch_site = text(header::HeaderName::from_static("sec-fetch-site"));
    if let Some(site) = fetch_site {
        if !matches!(site, "same-origin" | "none") {
            return Err("cross-site request refused");
        }
    }
    let origin = text(header::ORIGIN);
    if let Some(origin) = origin {
        let host = text(header::HOST).unwrap_or_default();
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(origin);
        if origin_host != host && !origin.eq_ignore_ascii_case(public_origin) {
            return Err("cross-origin request refused");
        }
    }
    // A cookie-carrying change with neither header did not come from a
    // browser page of ours (every current browser sends one of them).
    if fetch_site.is_none() && origin.is_none() && headers.contains_key(header::COOKIE) {
        return Err("request without Origin or Sec-Fetch-Site refused");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn same_origin_rules() {
        const PUBLIC: &str = "https://deploy.example.com";
        let base = [("host", "127.0.0.1:3000"), ("cookie", "s=1")];
        let ok = |extra: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            same_origin_verdict(&headers(&all), PUBLIC)
        };
        assert!(ok(&[("sec-fetch-site", "same-origin")]).is_ok());
        assert!(ok(&[("origin", "http://127.0.0.1:3000")]).is_ok());
        assert!(
            ok(&[("origin", "https://deploy.example.com")]).is_ok(),
            "behind a proxy that rewrites Host, the public URL's origin"
        );
        assert!(
            ok(&[("origin", "http://deploy.example.com")]).is_err(),
            "other scheme"
        );
        assert!(ok(&[("origin", "https://deploy.example.com.evil")]).is_err());
        assert!(ok(&[("sec-fetch-site", "cross-site")]).is_err());
        assert!(ok(&[("sec-fetch-site", "same-site")]).is_err());
        assert!(ok(&[("origin", "http://evil.example")]).is_err());
        assert!(ok(&[("origin", "null")]).is_err());
        assert!(ok(&[]).is_err(), "cookie without either header");
        assert!(
            same_origin_verdict(&headers(&[("host", "x")]), PUBLIC).is_ok(),
            "no cookie: nothing ambient"
        );
    }
}
