//! Signing in and out: one-time login links (first admin, break-glass), and
//! identity providers (authorization code + PKCE + state, OIDC nonce).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::Duration;
use engine::audit::{actions, AuditRecord, ANONYMOUS_ACTOR};
use engine::auth::{new_secret_token, token_hash, Actor};
use engine::store::login_flows::LoginFlow;
use serde::Deserialize;
use tower_sessions::cookie::{Cookie, SameSite};
use tower_sessions::Session;

use crate::access::return_to::return_path;
use crate::access::session;
use crate::error::ApiError;
use crate::identity::IdentityError;
use crate::state::AppState;

/// How long a browser may take at the identity provider.
const LOGIN_FLOW_MINUTES: i64 = 10;

#[derive(Deserialize)]
pub struct LinkQuery {
    token: String,
}

/// `GET /login/link?token=…`: asks before spending a one-time login link.
/// A GET changes nothing, so a link preview or a prefetch cannot burn the
/// link, and no other site can sign a browser in with a link of its own
/// (the POST is same-origin only).
pub async fn confirm_login_link(
    State(state): State<AppState>,
    Query(query): Query<LinkQuery>,
) -> Response {
    match state
        .engine
        .store()
        .login_link_usable(&token_hash(&query.token))
        .await
    {
        Ok(true) => {
            let token = crate::error::escape_html(&query.token);
            let page = format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width\"><title>Sign in · Slipway</title>\
                 <link rel=\"stylesheet\" href=\"/pkg/slipway.css\"></head><body>\
                 <main class=\"card login-link\"><h1>Sign in to Slipway</h1>\
                 <p>This one-time link signs this browser in. It stops working once used.</p>\
                 <form method=\"post\" action=\"/login/link\">\
                 <input type=\"hidden\" name=\"token\" value=\"{token}\">\
                 <button type=\"submit\" class=\"primary\" id=\"use-login-link\">Sign in</button>\
                 </form></main></body></html>"
            );
            let mut response = Html(page).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            // Not `no-referrer`: browsers then send `Origin: null` with the
            // form, which the same-origin check rightly refuses.
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            response
        }
        Ok(false) => unusable_link(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn unusable_link() -> Response {
    crate::error::message_page(
        StatusCode::UNAUTHORIZED,
        "This login link cannot be used",
        "It was already used, has expired, or was replaced by a newer one. \
         Ask an admin for a new link (slipway login-link <login>).",
    )
}

/// `POST /login/link` (form `token=…`): spends a one-time login link.
pub async fn redeem_login_link(
    State(state): State<AppState>,
    session: Session,
    axum::Form(query): axum::Form<LinkQuery>,
) -> Response {
    match state
        .engine
        .store()
        .redeem_login_link(&token_hash(&query.token), "login link")
        .await
    {
        Ok(user) => {
            if let Err(e) = session::sign_in(&session, &user).await {
                tracing::error!(error = %e, "could not start the session");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            tracing::info!(user = %user.login, "signed in with a login link");
            Redirect::to("/").into_response()
        }
        Err(engine::Error::Unauthenticated) => {
            audit_failed_login(&state, "login link", "used, expired or replaced link").await;
            unusable_link()
        }
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

/// `POST /logout/everywhere`: ends every session of the signed-in user.
pub async fn logout_everywhere(
    State(state): State<AppState>,
    session: Session,
    Extension(actor): Extension<Actor>,
) -> Response {
    if let Err(e) = state.engine.revoke_sessions(&actor, &actor.login).await {
        return ApiError::from(e).into_response();
    }
    if let Err(e) = session.flush().await {
        tracing::warn!(error = %e, "could not delete the session");
    }
    Redirect::to("/login").into_response()
}

#[derive(Deserialize)]
pub struct StartQuery {
    /// The page to come back to once signed in (see `access::return_to`).
    next: Option<String>,
}

/// `GET /auth/{provider}/start`: sends the browser to the provider.
pub async fn start(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    Query(query): Query<StartQuery>,
) -> Response {
    let Some(provider) = state.providers.get(&provider_id) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no identity provider {provider_id:?}"),
        )
        .into_response();
    };
    let authorization = match state.providers.authorize(provider).await {
        Ok(a) => a,
        Err(e) => return identity_failure(&state, &provider_id, e).await,
    };
    let handle = new_secret_token();
    let flow = LoginFlow {
        provider: provider_id,
        state: authorization.state,
        pkce_verifier: authorization.pkce_verifier,
        nonce: authorization.nonce,
        expires_at: engine::time::now() + Duration::minutes(LOGIN_FLOW_MINUTES),
        return_to: query
            .next
            .as_deref()
            .and_then(return_path)
            .map(str::to_owned),
    };
    if let Err(e) = state
        .engine
        .store()
        .create_login_flow(&token_hash(&handle), &flow)
        .await
    {
        return ApiError::from(e).into_response();
    }
    let mut response = Redirect::to(&authorization.url).into_response();
    set_cookie(
        &mut response,
        flow_cookie(&state, handle, LOGIN_FLOW_MINUTES * 60),
    );
    response
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/{provider}/callback`: the provider's answer. Refused unless it
/// comes back to the browser that started (the login cookie), with the same
/// `state`, and the code exchanges with that sign-in's PKCE verifier.
pub async fn callback(
    State(state): State<AppState>,
    session: Session,
    Path(provider_id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let mut response = finish_sign_in(&state, &session, &provider_id, &headers, query).await;
    // The login cookie is spent whatever happened.
    set_cookie(&mut response, flow_cookie(&state, String::new(), 0));
    response
}

async fn finish_sign_in(
    state: &AppState,
    session: &Session,
    provider_id: &str,
    headers: &HeaderMap,
    query: CallbackQuery,
) -> Response {
    let refuse = |reason: &'static str| async move {
        audit_failed_login(state, provider_id, reason).await;
        crate::error::message_page(StatusCode::UNAUTHORIZED, "Sign-in refused", reason)
    };
    let Some(provider) = state.providers.get(provider_id) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no identity provider {provider_id:?}"),
        )
        .into_response();
    };
    let Some(handle) = flow_handle(state, headers) else {
        return refuse("this sign-in was not started in this browser (no login cookie, so no PKCE verifier); start again").await;
    };
    let flow = match state
        .engine
        .store()
        .take_login_flow(&token_hash(&handle))
        .await
    {
        Ok(Some(flow)) => flow,
        Ok(None) => return refuse("this sign-in expired or was already used; start again").await,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if flow.provider != provider_id {
        return refuse("this sign-in was started with another provider").await;
    }
    if flow.pkce_verifier.is_empty() {
        return refuse("this sign-in has no PKCE verifier").await;
    }
    let state_ok = query
        .state
        .as_deref()
        .is_some_and(|s| constant_time_eq(s.as_bytes(), flow.state.as_bytes()));
    if !state_ok {
        return refuse("the state parameter does not match this sign-in").await;
    }
    if let Some(error) = query.error {
        tracing::info!(provider = provider_id, %error, description = ?query.error_description, "provider refused the sign-in");
        return refuse("the identity provider did not sign you in").await;
    }
    let Some(code) = query.code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return refuse("the provider sent no authorization code").await;
    };
    let identity = match state
        .providers
        .finish(provider, &code, &flow.pkce_verifier, &flow.nonce)
        .await
    {
        Ok(identity) => identity,
        Err(e) => return identity_failure(state, provider_id, e).await,
    };
    let user = match state.engine.store().sign_in_with_identity(&identity).await {
        Ok(user) => user,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Err(e) = session::sign_in(session, &user).await {
        tracing::error!(error = %e, "could not start the session");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    tracing::info!(user = %user.login, provider = provider_id, "signed in");
    // Checked again: the row outlives the code that wrote it.
    Redirect::to(
        flow.return_to
            .as_deref()
            .and_then(return_path)
            .unwrap_or("/"),
    )
    .into_response()
}

async fn identity_failure(state: &AppState, provider_id: &str, error: IdentityError) -> Response {
    tracing::warn!(provider = provider_id, error = %error, "sign-in failed");
    match error {
        IdentityError::Provider(_) => crate::error::message_page(
            StatusCode::BAD_GATEWAY,
            "The identity provider is unavailable",
            "Slipway could not complete the sign-in with the provider. Try again, or ask an admin to check its configuration.",
        ),
        IdentityError::Refused(reason) => {
            audit_failed_login(state, provider_id, &reason).await;
            crate::error::message_page(StatusCode::UNAUTHORIZED, "Sign-in refused", &reason)
        }
    }
}

async fn audit_failed_login(state: &AppState, via: &str, reason: &str) {
    use crate::access::throttle::{Admit, FAILED_LOGINS_PER_MINUTE};
    let details = match state.failed_logins.admit() {
        Admit::Record => serde_json::json!({ "via": via, "reason": reason }),
        Admit::RecordLast => serde_json::json!({
            "via": via,
            "reason": reason,
            "note": format!(
                "more than {FAILED_LOGINS_PER_MINUTE} failed sign-ins this minute: \
                 the rest of this minute's are counted in the server log, not recorded one by one"
            ),
        }),
        Admit::Skip => return,
    };
    let record = AuditRecord::new(
        ANONYMOUS_ACTOR,
        actions::LOGIN_FAILED,
        format!("login/{via}"),
    )
    .details(details);
    if let Err(e) = state.engine.store().audit_only(&record).await {
        tracing::error!(error = %e, "could not record a failed sign-in");
    }
}

fn flow_cookie_name(state: &AppState) -> &'static str {
    if state.secure_cookies {
        "__Host-slipway_login"
    } else {
        "slipway_login"
    }
}

/// The short-lived login cookie: Lax, so the provider's redirect back carries it.
fn flow_cookie(state: &AppState, handle: String, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build((flow_cookie_name(state), handle))
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(tower_sessions::cookie::time::Duration::seconds(
            max_age_secs,
        ))
        .build()
}

fn set_cookie(response: &mut Response, cookie: Cookie<'static>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn flow_handle(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let name = flow_cookie_name(state);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| Cookie::parse(pair.trim().to_owned()).ok())
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
