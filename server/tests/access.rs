//! Access control against the real server: every route and server function
//! (listed by the binary from its own router) × every role and token scope,
//! protected environments, cross-site refusals, and token storage.

mod common;

use common::{cli, count, session_expiry, sessions_table, snapshot, Auth, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// One route as `slipway routes` prints it.
#[derive(Debug)]
struct Route {
    method: Method,
    path: String,
    rule: Option<String>,
    least_role: Option<String>,
    scope: Option<String>,
}

fn routes(server: &TestServer) -> Vec<Route> {
    let out = cli(server.data_dir(), &["routes"]);
    assert!(out.status.success(), "slipway routes failed");
    let routes: Vec<Route> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("a JSON route line");
            let text = |k: &str| v[k].as_str().map(str::to_owned);
            Route {
                method: Method::from_bytes(v["method"].as_str().unwrap().as_bytes()).unwrap(),
                path: text("path").unwrap(),
                rule: text("rule"),
                least_role: text("least_role"),
                scope: text("scope"),
            }
        })
        .collect();
    assert!(routes.len() > 40, "the router lists its routes: {routes:?}");
    routes
}

/// A concrete URL for a route pattern.
fn concrete(path: &str) -> String {
    path.replace("{app}", "demo")
        .replace("{env}", "demo")
        .replace("{id}", "1")
        .replace("{provider}", "none")
}

fn role_rank(role: &str) -> u8 {
    match role {
        "viewer" => 1,
        "deployer" => 2,
        "admin" => 3,
        other => panic!("unknown role {other}"),
    }
}

async fn call(server: &TestServer, route: &Route, auth: &Auth) -> (StatusCode, String) {
    let url = concrete(&route.path);
    let mut builder = server.request(route.method.clone(), &url, auth);
    if route.method == Method::POST {
        builder = if route.path.starts_with("/fn/") {
            // A server function with no arguments: access is decided before its body is read.
            builder
                .header("content-type", "application/x-www-form-urlencoded")
                .body("")
        } else {
            builder
                .header("content-type", "application/json")
                .body("{}")
        };
    }
    let reply = server.send(builder).await;
    let location = reply.header("location").unwrap_or_default().to_owned();
    (reply.status, location)
}

/// POSTs a viewer may make: reading server functions, and managing their
/// own sign-in and tokens. Every other non-GET route changes something and
/// must refuse a viewer, whatever the policy table says.
fn viewer_may_post(path: &str) -> bool {
    path.starts_with("/fn/get_")
        || matches!(
            path,
            "/fn/default_settings"
                | "/fn/deploy_plan"
                | "/fn/deploy_changes"
                | "/fn/job_changes"
                | "/fn/latest_activity"
                | "/fn/installed_versions"
                | "/fn/login_providers"
                | "/fn/create_token"
                | "/fn/revoke_token"
                | "/logout"
                | "/logout/everywhere"
                // The link's token is the credential, whoever sends it.
                | "/login/link"
                // So is the webhook secret the body is signed with.
                | "/hooks/{forge}/{app}"
        )
}

fn is_refused(status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_has_a_rule_and_every_role_gets_exactly_what_it_allows() {
    let server = TestServer::start().await;
    let routes = routes(&server);
    for route in &routes {
        assert!(
            route.rule.is_some(),
            "{} {} has no access rule in server/src/access/policy.rs",
            route.method,
            route.path
        );
    }
    let people = [("viewer", "vera"), ("deployer", "dan"), ("admin", "ada")];
    let mut sessions = Vec::new();
    for (role, login) in people {
        sessions.push((role, login, server.login_as(login, role).await));
    }
    let mut checked = 0;
    for route in &routes {
        let rule = route.rule.as_deref().unwrap();
        // Anonymous: public routes answer; everything else is 401 or a redirect to sign in.
        let (status, location) = call(&server, route, &Auth::None).await;
        if rule == "public" {
            assert!(
                !is_refused(status),
                "anonymous {} {}: {status}",
                route.method,
                route.path
            );
        } else {
            let to_login = status.is_redirection()
                && (location == "/login" || location.starts_with("/login?next=%2F"));
            assert!(
                status == StatusCode::UNAUTHORIZED || to_login,
                "anonymous {} {} must be refused, got {status} {location}",
                route.method,
                route.path
            );
        }
        for (role, login, auth) in &sessions {
            let allowed = match route.least_role.as_deref() {
                Some(least) => role_rank(role) >= role_rank(least),
                None => true,
            };
            // Signing out ends sessions: use someone else's, with the same role.
            let fresh;
            let auth = if route.path.starts_with("/logout") {
                fresh = server.login_as(&format!("{login}-out"), role).await;
                &fresh
            } else {
                auth
            };
            let (status, _) = call(&server, route, auth).await;
            // Independent of the table: a viewer never changes anything.
            if *role == "viewer" && route.method != Method::GET && !viewer_may_post(&route.path) {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "a viewer may not {} {}",
                    route.method,
                    route.path
                );
            }
            if allowed {
                assert!(
                    !is_refused(status),
                    "{role} {} {}: {status}",
                    route.method,
                    route.path
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} {} {}",
                    route.method,
                    route.path
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 3 * routes.len(),
        "checked {checked} route × role pairs"
    );

    // Tokens: an admin's token with one scope reaches exactly the routes of
    // that scope; admin-only work is never open to tokens.
    for scope in ["read", "builds:write", "deploy"] {
        let token = server.token_for("ada", scope);
        for route in routes
            .iter()
            .filter(|r| r.rule.as_deref() != Some("public"))
        {
            if route.path.starts_with("/logout") {
                continue;
            }
            let (status, _) = call(&server, route, &token).await;
            let rule = route.rule.as_deref().unwrap();
            if rule == "signed-in" || route.scope.as_deref() == Some(scope) {
                assert!(
                    !is_refused(status),
                    "token[{scope}] {} {}: {status}",
                    route.method,
                    route.path
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "token[{scope}] {} {}",
                    route.method,
                    route.path
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_environment_takes_deploys_only_from_admins_and_named_deployers() {
    let server = TestServer::start().await;
    let db = server.db().await;
    engine::on_test_pool!(&db, pool => sqlx::query("UPDATE environments SET protected = TRUE")
        .execute(pool)
        .await.map(|done| done.rows_affected()))
    .unwrap();
    engine::on_test_pool!(&db, pool => sqlx::query("INSERT INTO environment_deployers (environment_id, principal) SELECT id, 'user:dana' FROM environments")
        .execute(pool)
        .await.map(|done| done.rows_affected()))
        .unwrap();
    let erin = server.login_as("erin", "deployer").await;
    let dana = server.login_as("dana", "deployer").await;
    let path = "/api/apps/demo/envs/demo/deploy";

    let before = snapshot(&db).await;
    let denied_before = count(
        &db,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'access.denied'",
    )
    .await;
    let reply = server.post_json(path, &erin, &json!({"build_id": 1})).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(reply.error().contains("protected"), "{}", reply.text);
    let after = snapshot(&db).await;
    assert_eq!(
        (after.jobs, after.releases),
        (before.jobs, before.releases),
        "nothing queued"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'access.denied'"
        )
        .await,
        denied_before + 1,
        "the refusal is audited"
    );

    let reply = server.post_json(path, &dana, &json!({"build_id": 1})).await;
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "a named deployer may: {}",
        reply.text
    );
    let job_id = reply.json()["id"].as_i64().unwrap();

    // Nor may erin freeze, unfreeze, cancel or destroy what she may not deploy.
    let env = [("app", "demo"), ("env", "demo")];
    let lock = [("app", "demo"), ("env", "demo"), ("reason", "mine now")];
    let cancel_path = format!("/api/jobs/{job_id}/cancel");
    let untouched = "SELECT COUNT(*) FROM environments WHERE lock_reason IS NULL \
                     UNION ALL SELECT COUNT(*) FROM jobs WHERE NOT cancel_requested";
    for reply in [
        server.call_fn("lock_environment", &erin, &lock).await,
        server.call_fn("unlock_environment", &erin, &env).await,
        server.post_json(&cancel_path, &erin, &json!({})).await,
        server.call_fn("destroy_environment", &erin, &env).await,
    ] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
        assert!(reply.text.contains("protected"), "{}", reply.text);
    }
    let still: Vec<i64> =
        engine::on_test_pool!(&db, pool => sqlx::query_scalar(untouched).fetch_all(pool).await)
            .unwrap();
    assert_eq!(still, [1, 1], "no lock taken, no cancel requested");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'access.denied'"
        )
        .await,
        denied_before + 5,
        "each refusal is audited"
    );
    server.wait_job_finished(&dana, job_id).await;
    for (name, form) in [
        ("lock_environment", &lock[..]),
        ("unlock_environment", &env[..]),
    ] {
        let reply = server.call_fn(name, &dana, form).await;
        assert!(reply.status.is_success(), "dana may {name}: {}", reply.text);
    }

    let admin = server.login().await;
    let reply = server
        .post_json(path, &admin, &json!({"build_id": 2}))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "an admin may: {}",
        reply.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutation_from_another_site_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    let db = server.db().await;
    let admin = server.login().await;
    let mutations: Vec<Route> = routes(&server)
        .into_iter()
        .filter(|r| r.method != Method::GET)
        .collect();
    assert!(mutations.len() > 20);
    let tables = [
        "builds",
        "jobs",
        "releases",
        "audit_log",
        "users",
        "api_tokens",
        "environments",
        "env_vars",
        sessions_table(&db),
    ];
    let counts = |db| async move {
        let mut out = Vec::new();
        for t in tables {
            out.push(count(db, &format!("SELECT COUNT(*) FROM {t}")).await);
        }
        out
    };
    let before = counts(&db).await;
    for route in &mutations {
        for header in [
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ] {
            let body = if route.path.starts_with("/fn/") {
                ""
            } else {
                "{}"
            };
            let reply = server
                .post_raw(&concrete(&route.path), &admin, &[header], body)
                .await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{} {} with {header:?}: {}",
                route.method,
                route.path,
                reply.text
            );
            // Each caller reads why: a page's server function in Leptos'
            // encoding, everything else as JSON.
            let readable = if route.path.starts_with("/fn/") {
                reply.text.starts_with("ServerError|")
            } else {
                serde_json::from_str::<Value>(&reply.text).is_ok_and(|v| v["error"].is_string())
            };
            assert!(readable, "{} {}: {}", route.method, route.path, reply.text);
        }
    }
    assert_eq!(counts(&db).await, before, "nothing changed");
    // The session survived (even the cross-site logout was refused).
    let reply = server.get("/api/jobs/1", &admin).await;
    assert_ne!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_stored_hashed_scoped_revocable_and_expire() {
    let server = TestServer::start().await;
    let db = server.db().await;
    let Auth::Bearer(secret) = server.token_for("admin", "read,builds:write") else {
        unreachable!()
    };
    let token = Auth::Bearer(secret.clone());

    // Only a hash is stored: no column of any token row holds the secret.
    let rows: Vec<(String, String, String)> =
        engine::on_test_pool!(&db, pool => sqlx::query_as("SELECT token_hash, name, scopes FROM api_tokens")
            .fetch_all(pool)
            .await)
            .unwrap();
    assert_eq!(rows.len(), 1);
    let (hash, _, scopes) = &rows[0];
    assert_ne!(hash, &secret);
    assert_eq!(hash, &engine::auth::token_hash(&secret));
    assert_eq!(scopes, "read builds:write");
    let dump: i64 =
        engine::on_test_pool!(&db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE details LIKE '%' || $1 || '%'")
            .bind(&secret)
            .fetch_one(pool)
            .await)
            .unwrap();
    assert_eq!(dump, 0, "the secret is in no audit row");

    // Without the deploy scope it cannot deploy, and nothing is queued.
    let reply = server
        .post_json(
            "/api/apps/demo/envs/demo/deploy",
            &token,
            &json!({"build_id": 1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(reply.error().contains("deploy"), "{}", reply.text);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM jobs").await, 0);
    assert_eq!(
        server.get("/api/jobs/1", &token).await.status,
        StatusCode::NOT_FOUND
    );

    // Revoked through the UI's server function → 401.
    let admin = server.login().await;
    let id: i64 =
        engine::on_test_pool!(&db, pool => sqlx::query_scalar("SELECT id FROM api_tokens")
        .fetch_one(pool)
        .await)
        .unwrap();
    let reply = server
        .send(
            server
                .request(Method::POST, "/fn/revoke_token", &admin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("id={id}")),
        )
        .await;
    assert!(reply.status.is_success(), "{} {}", reply.status, reply.text);
    assert_eq!(
        server.get("/api/jobs/1", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'api_token.revoked'"
        )
        .await,
        1
    );

    // Expired → 401.
    let expiring = server.token_for("admin", "read");
    assert_eq!(
        server.get("/api/jobs/1", &expiring).await.status,
        StatusCode::NOT_FOUND
    );
    engine::on_test_pool!(&db, pool => sqlx::query(
        "UPDATE api_tokens SET expires_at = '2000-01-01T00:00:00Z' WHERE revoked_at IS NULL",
    )
    .execute(pool)
    .await.map(|done| done.rows_affected()))
    .unwrap();
    assert_eq!(
        server.get("/api/jobs/1", &expiring).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A mutation made with a token is on the record, naming the token.
    let ci = server.token_for("admin", "deploy");
    let reply = server
        .post_json(
            "/api/apps/demo/envs/demo/deploy",
            &ci,
            &json!({"build_id": 1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'api_token.used'"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_out_everywhere_ends_every_session_of_that_user() {
    let server = TestServer::start().await;
    let one = server.login_as("pat", "viewer").await;
    let two = server.login_as("pat", "viewer").await;
    assert_eq!(
        server.get("/api/jobs/1", &two).await.status,
        StatusCode::NOT_FOUND
    );
    let reply = server
        .send(server.request(Method::POST, "/logout/everywhere", &one))
        .await;
    assert!(reply.status.is_redirection(), "{}", reply.status);
    assert_eq!(
        server.get("/api/jobs/1", &one).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.get("/api/jobs/1", &two).await.status,
        StatusCode::UNAUTHORIZED
    );
    let three = server.login_as("pat", "viewer").await;
    assert_eq!(
        server.get("/api/jobs/1", &three).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_in_use_moves_its_idle_expiry_forward() {
    let server = TestServer::start().await;
    let db = server.db().await;
    let admin = server.login().await;
    let expiry = || async {
        // RFC 3339 in UTC with nanoseconds: ordered as text.
        let select = format!(
            "SELECT {} FROM {}",
            session_expiry(&db),
            sessions_table(&db)
        );
        engine::on_test_pool!(&db, pool => sqlx::query_scalar::<_, String>(&select)
            .fetch_one(pool)
            .await)
        .unwrap()
    };
    let at_sign_in = expiry().await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let reply = server.get("/api/jobs/1", &admin).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(expiry().await > at_sign_in, "the idle expiry did not move");
    let cookie = reply
        .headers
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("the renewed cookie is sent back");
    for attribute in ["HttpOnly", "SameSite=Lax", "Max-Age=86400"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_api_and_event_route_the_router_serves() {
    let server = TestServer::start().await;
    let auth = server.bearer_token("read");
    let reply = server.get("/api/openapi.json", &auth).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let doc = reply.json();
    let documented = &doc["paths"];
    let served: Vec<Route> = routes(&server)
        .into_iter()
        .filter(|r| {
            (r.path.starts_with("/api/") || r.path.starts_with("/events/"))
                && r.path != "/api/openapi.json"
        })
        .collect();
    assert!(served.len() >= 8, "{served:?}");
    for route in served {
        let method = route.method.as_str().to_ascii_lowercase();
        assert!(
            documented[&route.path][&method].is_object(),
            "{} {} is served but not in /api/openapi.json",
            route.method,
            route.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_login_links_adds_a_bounded_number_of_audit_rows() {
    let server = TestServer::start().await;
    let db = server.db().await;
    let failed = "SELECT COUNT(*) FROM audit_log WHERE action = 'login.failed'";
    let before = count(&db, failed).await;
    for i in 0..40 {
        let reply = server
            .send(
                server
                    .request(reqwest::Method::POST, "/login/link", &Auth::None)
                    .header("origin", server.url(""))
                    .form(&[("token", format!("forged{i:02}"))]),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    }
    // 20 recorded one by one, then one that says the rest are not.
    assert_eq!(count(&db, failed).await - before, 21);
    let last: String = engine::on_test_pool!(&db, pool => sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'login.failed' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await)
    .unwrap();
    assert!(last.contains("not recorded one by one"), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_link_is_spent_only_by_a_same_site_post_never_by_a_get() {
    let server = TestServer::start().await;
    let link = server.login_link().await;
    let (_, query) = link.split_once("/login/link?").unwrap();
    let token = query.strip_prefix("token=").unwrap().to_owned();
    // A link preview, a prefetch, a reload: the page asks, nothing is spent.
    for _ in 0..2 {
        let page = server
            .get(&format!("/login/link?{query}"), &Auth::None)
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.text.contains("id=\"use-login-link\""), "{}", page.text);
    }
    // Another site posting the link (to sign this browser in as the link's
    // owner) is refused, and the link still works.
    let post = |origin: &'static str| {
        server
            .request(reqwest::Method::POST, "/login/link", &Auth::None)
            .header("origin", origin)
            .header("sec-fetch-site", "cross-site")
            .form(&[("token", token.clone())])
    };
    let forged = server.send(post("http://evil.example")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
    let session = server.session_from_link(&link).await;
    assert!(matches!(session, Auth::Cookie(_)));
    // Spent: the page now says so.
    let page = server
        .get(&format!("/login/link?{query}"), &Auth::None)
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.text.contains("cannot be used"), "{}", page.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_reach_the_page_readable_and_signed_in_pages_are_not_cached() {
    let server = TestServer::start().await;
    let viewer = server.login_as("vera", "viewer").await;
    // A server function refused by the access layer answers in the
    // encoding the page's code reads (not JSON it cannot parse).
    let form = [("app", "demo"), ("env", "demo"), ("reason", "mine")];
    for auth in [&viewer, &Auth::None] {
        let reply = server.call_fn("lock_environment", auth, &form).await;
        assert!(is_refused(reply.status), "{} {}", reply.status, reply.text);
        assert!(
            reply.text.starts_with("ServerError|") && reply.text.len() > "ServerError|".len(),
            "{}",
            reply.text
        );
        assert_eq!(reply.header("serverfnerror"), Some("/fn/lock_environment"));
    }
    let db = server.db().await;
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM environments WHERE lock_reason IS NOT NULL"
        )
        .await,
        0
    );

    // Signed-in pages are not kept for Back after a log-out; built assets are.
    let page = server.get("/apps/demo/envs/demo", &viewer).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let asset = server.get("/pkg/slipway.css", &Auth::None).await;
    assert_ne!(asset.header("cache-control"), Some("no-store"));

    // A page asked for with a trailing slash is sent to its one URL; a
    // repository directory keeps its slash.
    for (asked, sent_to) in [
        ("/builds/", "/builds"),
        ("/apps/demo/envs/demo/?x=1", "/apps/demo/envs/demo?x=1"),
    ] {
        let reply = server.get(asked, &viewer).await;
        assert_eq!(reply.status, StatusCode::PERMANENT_REDIRECT, "{asked}");
        assert_eq!(reply.header("location"), Some(sent_to), "{asked}");
    }
    let reply = server.get("//evil.example/", &viewer).await;
    assert!(!reply.status.is_redirection(), "{}", reply.status);
}

/// Whether `page`, read as `auth`, has `text` in it (its streamed parts too).
async fn page_has(server: &TestServer, page: &str, auth: &Auth, text: &str) -> bool {
    let reply = server.get(page, auth).await;
    assert_eq!(reply.status, StatusCode::OK, "{page}: {}", reply.text);
    reply.text.contains(text)
}

/// What the job page is told about cancelling job `id` for `auth`.
async fn may_cancel(server: &TestServer, auth: &Auth, id: i64) -> bool {
    let id = id.to_string();
    let reply = server
        .call_fn("get_job", auth, &[("id", id.as_str())])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()["may_cancel"].as_bool().expect("may_cancel")
}

#[tokio::test]
async fn pages_offer_only_what_their_reader_may_do() {
    let server = TestServer::start().await;
    let viewer = server.login_as("vera", "viewer").await;
    let deployer = server.login_as("dan", "deployer").await;
    let admin = server.login_as("ada", "admin").await;
    for (who, auth, apps, builds) in [
        ("viewer", &viewer, false, false),
        ("deployer", &deployer, false, true),
        ("admin", &admin, true, true),
    ] {
        assert_eq!(
            page_has(&server, "/", auth, "New application").await,
            apps,
            "{who}: New application"
        );
        assert_eq!(
            page_has(&server, "/builds", auth, "Register a build").await,
            builds,
            "{who}: Register a build"
        );
    }

    // Each page names itself in its title (a tab, the history).
    for (page, title) in [
        ("/apps/demo/envs/demo", "demo/demo · Slipway"),
        ("/audit", "Audit log · Slipway"),
    ] {
        let title = format!("<title>{title}</title>");
        assert!(
            page_has(&server, page, &viewer, &title).await,
            "{page}: no {title}"
        );
    }

    // Cancel: offered to whoever may deploy here, and on a protected
    // environment only to admins and its named deployers.
    let job = server.deploy(&deployer, 1).await;
    server.wait_job_finished(&deployer, job).await;
    let title = format!("<title>Job #{job} · Slipway</title>");
    assert!(page_has(&server, &format!("/jobs/{job}"), &viewer, &title).await);
    assert!(!may_cancel(&server, &viewer, job).await);
    assert!(may_cancel(&server, &deployer, job).await);
    let db = server.db().await;
    engine::on_test_pool!(&db, pool => sqlx::query("UPDATE environments SET protected = TRUE")
        .execute(pool)
        .await.map(|done| done.rows_affected()))
    .expect("protect");
    assert!(!may_cancel(&server, &deployer, job).await);
    assert!(may_cancel(&server, &admin, job).await);
}
