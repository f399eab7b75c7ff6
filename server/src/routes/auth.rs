//! Sign-in, sign-out, and the one layer that decides whether a request may
//! proceed (deny by default) and whether a state change is same-origin.

use axum::extract::{Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use engine::audit::{actions, AuditRecord};
use engine::auth::{token_hash, Actor};
use serde::Deserialize;
use tower_sessions::Session;

use crate::error::ApiError;
use crate::state::AppState;

const SESSION_USER_ID: &str = "user_id";

/// Paths anyone may load: the login page, login links and static assets.
pub fn is_public(path: &str) -> bool {
    matches!(path, "/login" | "/login/link") || is_asset(path)
}

/// Public paths that never depend on the actor.
fn is_asset(path: &str) -> bool {
    matches!(path, "/favicon.ico" | "/healthz") || path.starts_with("/pkg/")
}

/// Requests answered with 401 rather than a redirect to the login page.
fn is_machine_path(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/events/") || path.ends_with(".csv")
}

/// Resolves the actor from a bearer token or the session and puts it in the
/// request; refuses everything else that is not public.
pub async fn require_actor(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    // Assets and the liveness probe never need to know who asks: skip the
    // session and user look-ups on the hottest paths.
    if is_asset(&path) {
        return next.run(request).await;
    }
    let actor = match bearer_token(&request) {
        Some(token) => match state
            .engine
            .store()
            .user_for_api_token(&token_hash(&token))
            .await
        {
            Ok(Some(user)) => Some(Actor::from(&user)),
            Ok(None) => {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid, expired or revoked token",
                )
                .into_response()
            }
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => session_actor(&state, &session).await,
    };
    match actor {
        Some(actor) => {
            request.extensions_mut().insert(actor);
            next.run(request).await
        }
        None if is_public(&path) => next.run(request).await,
        None if is_machine_path(&path) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "sign in or send a bearer token")
                .into_response()
        }
        None => Redirect::to("/login").into_response(),
    }
}

async fn session_actor(state: &AppState, session: &Session) -> Option<Actor> {
    let user_id: i64 = session.get(SESSION_USER_ID).await.ok().flatten()?;
    match state.engine.store().user_by_id(user_id).await {
        Ok(Some(user)) => Some(Actor::from(&user)),
        _ => None,
    }
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

/// Refuses state-changing requests made with cookies from another site.
/// Bearer-token requests carry no ambient credentials and are exempt.
pub async fn same_origin_only(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe || bearer_token(&request).is_some() {
        return next.run(request).await;
    }
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return ApiError::new(StatusCode::FORBIDDEN, "cross-site request refused")
                .into_response();
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(origin);
        if origin_host != host {
            return ApiError::new(StatusCode::FORBIDDEN, "cross-origin request refused")
                .into_response();
        }
    }
    next.run(request).await
}

#[derive(Deserialize)]
pub struct LinkQuery {
    token: String,
}

/// `GET /login/link?token=…`: spends a one-time login link.
pub async fn redeem_login_link(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<LinkQuery>,
) -> Response {
    match state
        .engine
        .store()
        .redeem_login_link(&token_hash(&query.token), "login link")
        .await
    {
        Ok(user) => {
            // A fresh session id at every login: no fixation.
            if let Err(e) = session.cycle_id().await {
                tracing::error!(error = %e, "could not rotate the session id");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            if let Err(e) = session.insert(SESSION_USER_ID, user.id).await {
                tracing::error!(error = %e, "could not store the session");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            tracing::info!(user = %user.login, "signed in with a login link");
            Redirect::to("/").into_response()
        }
        Err(engine::Error::Unauthenticated) => (
            StatusCode::UNAUTHORIZED,
            Html(
                "<!doctype html><title>Slipway</title><h1>This login link cannot be used</h1>\
                 <p>It was already used, has expired, or was replaced by a newer one. \
                 Ask an admin for a new link (<code>slipway login-link &lt;login&gt;</code>).</p>",
            ),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /logout`
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    actor: Option<Extension<Actor>>,
) -> Response {
    if let Some(Extension(actor)) = actor {
        let record = AuditRecord::new(
            &actor.login,
            actions::LOGOUT,
            format!("user/{}", actor.login),
        );
        if let Err(e) = state.engine.store().audit_only(&record).await {
            return ApiError::from(e).into_response();
        }
    }
    if let Err(e) = session.flush().await {
        tracing::warn!(error = %e, "could not delete the session");
    }
    Redirect::to("/login").into_response()
}
