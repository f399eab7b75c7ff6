//! Signing in with a real OpenID Connect provider process on loopback: in
//! headless Chromium, and at the protocol level (state, PKCE, session id).

use anyhow::{bail, Context, Result};
use end2end::{wait_for_text, wait_hydrated, Browser, OidcAccount, OidcProvider, Slipway};
use fantoccini::Locator;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

fn start(account: &OidcAccount<'_>) -> Result<(OidcProvider, Slipway)> {
    let provider = OidcProvider::start(account)?;
    let slipway = Slipway::start_with_provider(&provider, &[])?;
    Ok((provider, slipway))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_with_the_identity_provider_in_the_browser() -> Result<()> {
    let (_provider, slipway) = start(&OidcAccount {
        subject: "alice-subject",
        login: "alice",
        groups: &["release-managers"],
    })?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    // Signed out, a page asked for sends to the login page, which sends
    // back there once signed in.
    client.goto(&slipway.url("/audit?action=login")).await?;
    wait_hydrated(client).await?;
    let url = client.current_url().await?;
    assert_eq!(url.path(), "/login", "{url}");
    wait_for_text(client, "a[data-provider='oidc']", |t| {
        t.contains("Sign in with Test SSO")
    })
    .await?;
    client
        .find(Locator::Css("a[data-provider='oidc']"))
        .await?
        .click()
        .await?;
    // Through the provider and back: signed in as a new viewer.
    wait_for_text(client, "header .who", |t| t.contains("alice (viewer)")).await?;
    let url = client.current_url().await?;
    assert_eq!(
        (url.path(), url.query()),
        ("/audit", Some("action=login")),
        "lands on the page asked for: {url}"
    );
    wait_for_text(client, "table.audit", |t| t.contains("alice")).await?;

    // The sign-in is in the audit log, with the provider.
    let db = open_db(&slipway).await?;
    let (actor, details): (String, String) = sqlx::query_as(
        "SELECT actor, details FROM audit_log WHERE action = 'login' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(&db)
    .await?;
    assert_eq!(actor, "alice");
    assert!(
        details.contains("oidc") && details.contains("release-managers"),
        "{details}"
    );
    Ok(())
}

/// A client that follows nothing: every hop of the sign-in is checked.
fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(|pair| pair[name.len() + 1..].to_owned())
}

fn location(resp: &reqwest::Response) -> Result<String> {
    Ok(resp
        .headers()
        .get(LOCATION)
        .context("no Location header")?
        .to_str()?
        .to_owned())
}

/// Starts a sign-in (asking to come back to `next`, if given) and lets the
/// provider answer. Returns the login cookie and the callback URL the
/// provider sent the browser to.
async fn begin(
    http: &reqwest::Client,
    slipway: &Slipway,
    session: Option<&str>,
    next: Option<&str>,
) -> Result<(String, String)> {
    let mut request = http.get(slipway.url("/auth/oidc/start"));
    if let Some(next) = next {
        request = request.query(&[("next", next)]);
    }
    if let Some(session) = session {
        request = request.header(COOKIE, format!("slipway_session={session}"));
    }
    let resp = request.send().await?;
    if !resp.status().is_redirection() {
        bail!("start answered {}: {}", resp.status(), resp.text().await?);
    }
    let login_cookie = cookie_value(&resp, "slipway_login").context("no login cookie")?;
    let authorize = location(&resp)?;
    assert!(
        authorize.starts_with("http://127.0.0.1:"),
        "loopback provider only: {authorize}"
    );
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    assert!(
        authorize.contains("state=") && authorize.contains("nonce="),
        "{authorize}"
    );
    let resp = http.get(&authorize).send().await?;
    let callback = location(&resp)?;
    assert!(
        callback.starts_with(&slipway.url("/auth/oidc/callback")),
        "{callback}"
    );
    Ok((login_cookie, callback))
}

async fn finish(
    http: &reqwest::Client,
    callback: &str,
    cookies: &[String],
) -> Result<reqwest::Response> {
    let mut request = http.get(callback);
    if !cookies.is_empty() {
        request = request.header(COOKIE, cookies.join("; "));
    }
    Ok(request.send().await?)
}

async fn open_db(slipway: &Slipway) -> Result<sqlx::SqlitePool> {
    let url = format!(
        "sqlite://{}",
        slipway.data_dir.path().join("slipway.db").display()
    );
    Ok(sqlx::SqlitePool::connect(&url).await?)
}

async fn failed_logins(db: &sqlx::SqlitePool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'login.failed' ORDER BY seq",
    )
    .fetch_all(db)
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refuses_a_wrong_state_or_a_missing_verifier_and_rotates_the_session_id(
) -> Result<()> {
    let (_provider, slipway) = start(&OidcAccount {
        subject: "bob-subject",
        login: "bob",
        groups: &[],
    })?;
    let http = http()?;
    let db = open_db(&slipway).await?;

    // A wrong state: refused, no session.
    let (login_cookie, callback) = begin(&http, &slipway, None, None).await?;
    let (base, query) = callback.split_once('?').context("callback has a query")?;
    let forged: Vec<String> = query
        .split('&')
        .map(|kv| {
            if kv.starts_with("state=") {
                "state=forged".to_owned()
            } else {
                kv.to_owned()
            }
        })
        .collect();
    let resp = finish(
        &http,
        &format!("{base}?{}", forged.join("&")),
        &[format!("slipway_login={login_cookie}")],
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        cookie_value(&resp, "slipway_session").is_none(),
        "no session for a forged state"
    );
    assert!(resp.text().await?.contains("state"), "the page says why");

    // No login cookie, so no PKCE verifier for this browser: refused.
    let (_, callback) = begin(&http, &slipway, None, None).await?;
    let resp = finish(&http, &callback, &[]).await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_value(&resp, "slipway_session").is_none());
    assert!(resp.text().await?.contains("PKCE"));

    // A verifier that does not match the challenge: the provider refuses the code.
    let (login_cookie, callback) = begin(&http, &slipway, None, None).await?;
    sqlx::query("UPDATE login_flows SET pkce_verifier = ?")
        .bind("x".repeat(64))
        .execute(&db)
        .await?;
    let resp = finish(&http, &callback, &[format!("slipway_login={login_cookie}")]).await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_value(&resp, "slipway_session").is_none());

    let failures = failed_logins(&db).await?;
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users WHERE login = 'bob'")
            .fetch_one(&db)
            .await?,
        0
    );

    // A real sign-in from a browser that already has a session: the session
    // id changes, and the old one stops working.
    let token = slipway
        .login_link
        .split_once("token=")
        .context("the link has a token")?
        .1;
    let resp = http
        .post(slipway.url("/login/link"))
        .header("origin", slipway.url(""))
        .form(&[("token", token)])
        .send()
        .await?;
    let before = cookie_value(&resp, "slipway_session").context("login link sets a session")?;
    let (login_cookie, callback) =
        begin(&http, &slipway, Some(&before), Some("//evil.example/")).await?;
    let resp = finish(
        &http,
        &callback,
        &[
            format!("slipway_session={before}"),
            format!("slipway_login={login_cookie}"),
        ],
    )
    .await?;
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert_eq!(location(&resp)?, "/", "another site is never returned to");
    let after = cookie_value(&resp, "slipway_session").context("a new session cookie")?;
    assert_ne!(after, before, "the session id is rotated at sign-in");
    let spent = cookie_value(&resp, "slipway_login").unwrap_or_default();
    assert!(spent.is_empty(), "the login cookie is cleared");

    let me = |session: String| {
        http.post(slipway.url("/fn/get_me"))
            .header(COOKIE, format!("slipway_session={session}"))
            .header("origin", slipway.url(""))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
    };
    let now = me(after).await?.text().await?;
    assert!(now.contains("\"bob\""), "signed in as bob: {now}");
    let old = me(before).await?.text().await?;
    assert!(
        !old.contains("admin") && !old.contains("bob"),
        "the old id is dead: {old}"
    );

    // The same login cookie cannot be replayed.
    let resp = finish(&http, &callback, &[format!("slipway_login={login_cookie}")]).await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_of_an_allowed_group_may_sign_in() -> Result<()> {
    let provider = OidcProvider::start(&OidcAccount {
        subject: "mallory-subject",
        login: "mallory",
        groups: &["contractors"],
    })?;
    let slipway = Slipway::start_with_provider(
        &provider,
        &[("SLIPWAY_OIDC_ALLOWED_GROUPS", "engineering,ops".to_owned())],
    )?;
    let http = http()?;
    let (login_cookie, callback) = begin(&http, &slipway, None, None).await?;
    let resp = finish(&http, &callback, &[format!("slipway_login={login_cookie}")]).await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_value(&resp, "slipway_session").is_none());
    assert!(resp.text().await?.contains("not in a group allowed"));
    let db = open_db(&slipway).await?;
    assert_eq!(failed_logins(&db).await?.len(), 1);
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE login = 'mallory'")
        .fetch_one(&db)
        .await?;
    assert_eq!(users, 0, "no account is made for someone refused");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_with_configured_endpoints_works_without_discovery() -> Result<()> {
    let provider = OidcProvider::start(&OidcAccount {
        subject: "erin-subject",
        login: "erin",
        groups: &[],
    })?;
    let issuer = provider.issuer.clone();
    let slipway = Slipway::start_with_provider(
        &provider,
        &[
            (
                "SLIPWAY_OIDC_AUTHORIZATION_URL",
                format!("{issuer}/authorize"),
            ),
            ("SLIPWAY_OIDC_TOKEN_URL", format!("{issuer}/token")),
            ("SLIPWAY_OIDC_JWKS_URL", format!("{issuer}/jwks")),
        ],
    )?;
    let http = http()?;
    let (login_cookie, callback) = begin(&http, &slipway, None, None).await?;
    let resp = finish(&http, &callback, &[format!("slipway_login={login_cookie}")]).await?;
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert!(cookie_value(&resp, "slipway_session").is_some());
    Ok(())
}
