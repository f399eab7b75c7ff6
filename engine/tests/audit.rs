//! The audit log: one row per action, a verifiable chain, and bad input that
//! changes nothing.

mod common;

use common::{sha, TestEngine, APP, ENV};
use engine::audit::actions;
use engine::auth::Actor;
use engine::backends::local::LocalConfig;
use engine::backends::BackendConfig;
use engine::domain::{JobState, Role};
use engine::store::builds::Registered;
use engine::{BuildRequest, EnvVarRequest, Error};

/// Asserts that exactly the given actions were recorded after `before`, in
/// that order, and returns the last seq.
async fn assert_new_rows(t: &TestEngine, before: i64, expected: &[&str]) -> i64 {
    let rows = t.audit_after(before).await;
    let got: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(got, expected, "audit rows after seq {before}");
    rows.last().map_or(before, |r| r.seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_is_recorded_once() {
    let mut t = TestEngine::new().await;
    let seq = t.last_audit_seq().await;
    assert_eq!(
        t.audit_after(0)
            .await
            .iter()
            .map(|r| r.action.as_str())
            .collect::<Vec<_>>(),
        [actions::USER_CREATED]
    );

    t.create_app().await;
    let seq = assert_new_rows(&t, seq, &[actions::APPLICATION_CREATED]).await;
    t.create_env(t.config()).await;
    let seq = assert_new_rows(&t, seq, &[actions::ENVIRONMENT_CREATED]).await;
    let mut config = t.config();
    config.keep_releases = 3;
    t.update_config(config.clone()).await;
    let seq = assert_new_rows(&t, seq, &[actions::ENVIRONMENT_UPDATED]).await;
    t.engine
        .lock(&t.actor, APP, ENV, "maintenance")
        .await
        .unwrap();
    let seq = assert_new_rows(&t, seq, &[actions::ENVIRONMENT_LOCKED]).await;
    t.engine.unlock(&t.actor, APP, ENV).await.unwrap();
    let seq = assert_new_rows(&t, seq, &[actions::ENVIRONMENT_UNLOCKED]).await;
    let var = EnvVarRequest {
        name: "GREETING".into(),
        value: "hello".into(),
        secret: false,
    };
    t.engine.set_env_var(&t.actor, APP, ENV, var).await.unwrap();
    let seq = assert_new_rows(&t, seq, &[actions::ENV_VAR_SET]).await;
    t.engine
        .delete_env_var(&t.actor, APP, ENV, "GREETING")
        .await
        .unwrap();
    let seq = assert_new_rows(&t, seq, &[actions::ENV_VAR_DELETED]).await;

    // Failed attempts record nothing.
    assert!(matches!(
        t.engine.unlock(&t.actor, APP, ENV).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        t.engine
            .delete_env_var(&t.actor, APP, ENV, "GREETING")
            .await,
        Err(Error::NotFound(_))
    ));
    let seq = assert_new_rows(&t, seq, &[]).await;

    let v1 = t.register_version("1.0.0").await;
    let seq = assert_new_rows(&t, seq, &[actions::BUILD_REGISTERED]).await;
    let again = t
        .engine
        .register_build(&t.actor, t.build_request("1.0.0"))
        .await
        .unwrap();
    assert!(
        matches!(&again, Registered::Existing(b) if b.id == v1.id),
        "{again:?}"
    );
    let mut other_artifact = t.build_request("1.0.0");
    engine::demo::write_demo_tarball(&t.tarball_path("1.0.1"), "1.0.1").unwrap();
    other_artifact.artifact = t.tarball_path("1.0.1").display().to_string();
    let conflict = t.engine.register_build(&t.actor, other_artifact).await;
    assert!(matches!(conflict, Err(Error::Conflict(_))), "{conflict:?}");
    let seq = assert_new_rows(&t, seq, &[]).await;
    assert_eq!(t.count("builds").await, 1);
    let v2 = t.register_version("2.0.0").await;
    let seq = assert_new_rows(&t, seq, &[actions::BUILD_REGISTERED]).await;

    // Cancelling a queued job (no runner yet).
    let queued = t.deploy(&v1).await;
    let seq = assert_new_rows(&t, seq, &[actions::DEPLOY_REQUESTED]).await;
    t.engine.cancel_job(&t.actor, queued.id).await.unwrap();
    let seq = assert_new_rows(&t, seq, &[actions::JOB_CANCELLED]).await;

    t.start_runner();
    let job = t.deploy_and_wait(&v1).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let seq = assert_new_rows(
        &t,
        seq,
        &[actions::DEPLOY_REQUESTED, actions::JOB_SUCCEEDED],
    )
    .await;
    let job2 = t.deploy_and_wait(&v2).await;
    assert_eq!(job2.state, JobState::Succeeded, "{:?}", job2.error);
    let seq = assert_new_rows(
        &t,
        seq,
        &[actions::DEPLOY_REQUESTED, actions::JOB_SUCCEEDED],
    )
    .await;

    let rollback = t
        .engine
        .rollback(&t.actor, APP, ENV, job.release_id.unwrap())
        .await
        .unwrap();
    let rollback = t.wait_finished(rollback.id).await;
    assert_eq!(rollback.state, JobState::Succeeded, "{:?}", rollback.error);
    let seq = assert_new_rows(
        &t,
        seq,
        &[actions::ROLLBACK_REQUESTED, actions::JOB_SUCCEEDED],
    )
    .await;

    config.before_switch = Some("exit 3".into());
    t.update_config(config).await;
    let seq = assert_new_rows(&t, seq, &[actions::ENVIRONMENT_UPDATED]).await;
    let failed = t.deploy_and_wait(&v2).await;
    assert_eq!(failed.state, JobState::Failed);
    let seq = assert_new_rows(&t, seq, &[actions::DEPLOY_REQUESTED, actions::JOB_FAILED]).await;

    // Who did what: people for requests, Slipway for outcomes.
    let rows = t.audit_after(0).await;
    for row in &rows {
        let expected_actor = match row.action.as_str() {
            a if a.starts_with("job.") && a != actions::JOB_CANCELLED => "slipway",
            actions::USER_CREATED => "test",
            _ => "admin",
        };
        assert_eq!(
            row.actor, expected_actor,
            "actor of {} (seq {})",
            row.action, row.seq
        );
        assert!(
            actions::ALL.contains(&row.action.as_str()),
            "unknown action {}",
            row.action
        );
    }
    let deploy_row = rows
        .iter()
        .find(|r| r.action == actions::DEPLOY_REQUESTED)
        .unwrap();
    assert_eq!(deploy_row.environment.as_deref(), Some("shop/production"));
    assert_eq!(deploy_row.target, format!("job/{}", queued.id));

    assert_eq!(
        t.engine.verify_audit().await.unwrap().map(|h| h.rows),
        Ok(seq)
    );
    assert_eq!(seq, t.count("audit_log").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_is_append_only_and_tampering_is_found() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    for (name, value) in [("A", "1"), ("B", "2"), ("C", "3")] {
        let var = EnvVarRequest {
            name: name.into(),
            value: value.into(),
            secret: false,
        };
        t.engine.set_env_var(&t.actor, APP, ENV, var).await.unwrap();
    }
    t.register_version("1.0.0").await;
    let total = t.count("audit_log").await;
    assert_eq!(total, 7);
    assert_eq!(
        t.engine.verify_audit().await.unwrap().map(|h| h.rows),
        Ok(total)
    );
    // A row in the middle of the chain: setting B = 2.
    let middle: i64 =
        engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query_scalar("SELECT seq FROM audit_log WHERE target = 'env/shop/production/vars/B'")
            .fetch_one(pool)
            .await)
            .unwrap();
    assert!(1 < middle && middle < total);

    // With the triggers in place, the log cannot be changed or shortened.
    let update = engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query("UPDATE audit_log SET details = '{}' WHERE seq = $1")
        .bind(middle)
        .execute(pool)
        .await.map(|done| done.rows_affected()));
    let err = update.expect_err("UPDATE on audit_log must fail");
    assert!(err.to_string().contains("append-only"), "{err}");
    let delete = engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(total)
        .execute(pool)
        .await.map(|done| done.rows_affected()));
    let err = delete.expect_err("DELETE on audit_log must fail");
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(
        t.engine.verify_audit().await.unwrap().map(|h| h.rows),
        Ok(total)
    );

    // Someone with the database file drops the trigger and edits a row.
    drop_update_guard(&t).await;
    let original: String = engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query_scalar("SELECT details FROM audit_log WHERE seq = $1")
        .bind(middle)
        .fetch_one(pool)
        .await)
        .unwrap();
    let forged = original.replace(r#""value":"2""#, r#""value":"9""#);
    assert_ne!(forged, original, "{}", original);
    engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query("UPDATE audit_log SET details = $1 WHERE seq = $2")
        .bind(&forged)
        .bind(middle)
        .execute(pool)
        .await.map(|done| done.rows_affected()))
        .unwrap();

    let broken = t
        .engine
        .verify_audit()
        .await
        .unwrap()
        .expect_err("tampering must be found");
    assert_eq!(broken.seq, middle, "{}", broken.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_rewritten_in_another_format_or_type_is_found_and_named() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.register_version("1.0.0").await;
    t.register_version("2.0.0").await;
    let head = t.engine.verify_audit().await.unwrap().expect("intact");
    assert_eq!(head.rows, t.count("audit_log").await);
    assert_eq!(head.hash.len(), 64);

    drop_update_guard(&t).await;
    // The same instant, written differently: the hash covers the stored text.
    let ts: String = engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query_scalar("SELECT ts FROM audit_log WHERE seq = 2")
        .fetch_one(pool)
        .await)
        .unwrap();
    let same_instant = ts.replace('T', " ").replace('Z', "+00:00");
    assert_ne!(same_instant, ts);
    engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query("UPDATE audit_log SET ts = $1 WHERE seq = 2")
        .bind(&same_instant)
        .execute(pool)
        .await.map(|done| done.rows_affected()))
        .unwrap();
    let broken = t.engine.verify_audit().await.unwrap().expect_err("found");
    assert_eq!(broken.seq, 2, "{}", broken.reason);

    // Not a time at all (not even text): still the row is named, no decode error.
    engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query("UPDATE audit_log SET ts = $1, actor = 42 WHERE seq = 2")
        .bind(&ts)
        .execute(pool)
        .await.map(|done| done.rows_affected()))
        .unwrap();
    engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query("UPDATE audit_log SET ts = 12345 WHERE seq = 3")
        .execute(pool)
        .await.map(|done| done.rows_affected()))
        .unwrap();
    let broken = t.engine.verify_audit().await.unwrap().expect_err("found");
    assert_eq!(broken.seq, 2, "{}", broken.reason);
}

// ---- bad input changes nothing ----

struct Counts {
    builds: i64,
    environments: i64,
    audit: i64,
}

async fn counts(t: &TestEngine) -> Counts {
    Counts {
        builds: t.count("builds").await,
        environments: t.count("environments").await,
        audit: t.count("audit_log").await,
    }
}

async fn assert_unchanged(t: &TestEngine, before: &Counts, what: &str) {
    let now = counts(t).await;
    assert_eq!(now.builds, before.builds, "{what}: builds changed");
    assert_eq!(
        now.environments, before.environments,
        "{what}: environments changed"
    );
    assert_eq!(now.audit, before.audit, "{what}: audit_log changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_build_registrations_change_nothing() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    engine::demo::write_demo_tarball(&t.tarball_path("1.0.0"), "1.0.0").unwrap();
    let outside = t.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    engine::demo::write_demo_tarball(&outside.join("shop.tar.gz"), "1.0.0").unwrap();
    let before = counts(&t).await;

    let good = t.build_request("1.0.0");
    type Tweak = fn(&mut BuildRequest, &std::path::Path);
    let cases: Vec<(&str, Tweak, &str)> = vec![
        (
            "sha with bad characters",
            |r, _| r.commit_sha = format!("{};rm -rf", &sha("1.0.0")[..33]),
            "invalid",
        ),
        (
            "short sha",
            |r, _| r.commit_sha = "abc123".into(),
            "invalid",
        ),
        (
            "unknown application",
            |r, _| r.application = "nope".into(),
            "not found",
        ),
        (
            "application name with bad characters",
            |r, _| r.application = "Shop;id".into(),
            "invalid",
        ),
        (
            "artifact outside the roots",
            |r, root| r.artifact = root.join("outside/shop.tar.gz").display().to_string(),
            "invalid",
        ),
        (
            "artifact escaping with ..",
            |r, root| {
                r.artifact = root
                    .join("artifacts/../outside/shop.tar.gz")
                    .display()
                    .to_string()
            },
            "invalid",
        ),
        (
            "relative artifact",
            |r, _| r.artifact = "artifacts/shop-1.0.0.tar.gz".into(),
            "invalid",
        ),
        (
            "missing artifact",
            |r, root| r.artifact = root.join("artifacts/none.tar.gz").display().to_string(),
            "invalid",
        ),
        ("branch -rf", |r, _| r.branch = "-rf".into(), "invalid"),
        (
            "branch with a command",
            |r, _| r.branch = "main;$(id)".into(),
            "invalid",
        ),
    ];
    for (what, tweak, expected) in cases {
        let mut request = good.clone();
        tweak(&mut request, t.path());
        let result = t.engine.register_build(&t.actor, request).await;
        match (expected, &result) {
            ("invalid", Err(Error::Invalid(_))) | ("not found", Err(Error::NotFound(_))) => {}
            _ => panic!("{what}: expected {expected}, got {result:?}"),
        }
        assert_unchanged(&t, &before, what).await;
    }

    // The untouched request is fine.
    let created = t.engine.register_build(&t.actor, good).await.unwrap();
    assert!(matches!(created, Registered::Created(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_environments_change_nothing() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    let before = counts(&t).await;

    let mut elsewhere = t.config();
    elsewhere.target_dir = t.path().join("elsewhere");
    let duplicate = t
        .engine
        .create_environment(&t.actor, APP, ENV, BackendConfig::Local(elsewhere), false)
        .await;
    assert!(
        matches!(duplicate, Err(Error::Conflict(_))),
        "{duplicate:?}"
    );
    assert_unchanged(&t, &before, "duplicate name").await;

    let bad_configs = [
        ("relative target_dir", LocalConfig::new("relative/target")),
        (
            "target_dir with ..",
            LocalConfig::new(t.path().join("a/../b")),
        ),
        (
            "keep 0",
            LocalConfig {
                keep_releases: 0,
                ..t.config()
            },
        ),
        (
            "blank hook",
            LocalConfig {
                before_switch: Some("  ".into()),
                ..t.config()
            },
        ),
    ];
    for (what, config) in bad_configs {
        let result = t
            .engine
            .create_environment(
                &t.actor,
                APP,
                "staging",
                BackendConfig::Local(config.clone()),
                false,
            )
            .await;
        assert!(
            matches!(result, Err(Error::Invalid(_))),
            "{what}: {result:?}"
        );
        assert_unchanged(&t, &before, what).await;
        let result = t
            .engine
            .update_environment(&t.actor, APP, ENV, BackendConfig::Local(config), false)
            .await;
        assert!(
            matches!(result, Err(Error::Invalid(_))),
            "{what} (update): {result:?}"
        );
        assert_unchanged(&t, &before, what).await;
    }
    for bad_name in ["Staging", "-x", "a/b", "$(id)"] {
        let result = t
            .engine
            .create_environment(
                &t.actor,
                APP,
                bad_name,
                BackendConfig::Local(t.config()),
                false,
            )
            .await;
        assert!(
            matches!(result, Err(Error::Invalid(_))),
            "{bad_name}: {result:?}"
        );
    }
    let unknown_app = t
        .engine
        .create_environment(
            &t.actor,
            "nope",
            "staging",
            BackendConfig::Local(t.config()),
            false,
        )
        .await;
    assert!(
        matches!(unknown_app, Err(Error::NotFound(_))),
        "{unknown_app:?}"
    );
    assert_unchanged(&t, &before, "bad names").await;

    // Variables: reserved names (Slipway's, the shell's), a secret too
    // short to be masked in logs.
    for (name, value, secret) in [
        ("SLIPWAY_X", "v", false),
        ("PATH", "/opt/app/bin", false),
        ("LD_PRELOAD", "/tmp/x.so", false),
        ("DB_PASSWORD", "ab", true),
    ] {
        let var = EnvVarRequest {
            name: name.into(),
            value: value.into(),
            secret,
        };
        let refused = t.engine.set_env_var(&t.actor, APP, ENV, var).await;
        assert!(
            matches!(refused, Err(Error::Invalid(_))),
            "{name}: {refused:?}"
        );
    }
    assert_eq!(t.count("env_vars").await, 0);
    assert_unchanged(&t, &before, "bad variables").await;

    // Two docker environments cannot publish on one address and port.
    let mut web = engine::backends::docker::DockerConfig::new(80, 18080);
    web.health_path = Some("/health".into());
    t.engine
        .create_environment(
            &t.actor,
            APP,
            "web",
            BackendConfig::Docker(web.clone()),
            false,
        )
        .await
        .expect("the first one");
    let before = counts(&t).await;
    let clash = t
        .engine
        .create_environment(
            &t.actor,
            APP,
            "web-two",
            BackendConfig::Docker(web.clone()),
            false,
        )
        .await;
    match clash {
        Err(Error::Invalid(e)) => assert!(
            e.message
                .contains("127.0.0.1:18080 is already published by shop/web"),
            "{e:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert_unchanged(&t, &before, "published port clash").await;
    // Saving the owner itself again is fine.
    t.engine
        .update_environment(&t.actor, APP, "web", BackendConfig::Docker(web), false)
        .await
        .expect("its own port");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_can_read_but_change_nothing() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    let build = t.register_version("1.0.0").await;
    let viewer = t
        .engine
        .store()
        .create_user("admin", "viewer", "Viewer", Role::Viewer)
        .await
        .unwrap();
    let viewer = Actor::from(&viewer);
    let before = counts(&t).await;
    let jobs = t.count("jobs").await;

    assert!(t.engine.environment(&viewer, APP, ENV).await.is_ok());
    let forbidden = |r: Result<(), Error>| assert!(matches!(r, Err(Error::Forbidden(_))), "{r:?}");
    forbidden(t.engine.deploy(&viewer, APP, ENV, build.id).await.map(drop));
    forbidden(t.engine.lock(&viewer, APP, ENV, "mine").await);
    let var = EnvVarRequest {
        name: "X".into(),
        value: "1".into(),
        secret: false,
    };
    forbidden(t.engine.set_env_var(&viewer, APP, ENV, var).await);
    forbidden(
        t.engine
            .register_build(&viewer, t.build_request("2.0.0"))
            .await
            .map(drop),
    );
    forbidden(
        t.engine
            .create_application(&viewer, "other", None)
            .await
            .map(drop),
    );
    assert_unchanged(&t, &before, "viewer").await;
    assert_eq!(t.count("jobs").await, jobs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_stays_admin_even_when_two_demote_each_other_at_once() {
    let t = TestEngine::new().await;
    let store = t.engine.store();
    let second = store
        .create_user("test", "second", "Second", Role::Admin)
        .await
        .unwrap();
    let (first, second) = (t.actor.clone(), Actor::from(&second));
    for _ in 0..5 {
        let (a, b) = tokio::join!(
            t.engine.set_role(&first, "second", Role::Viewer),
            t.engine.set_role(&second, "admin", Role::Viewer),
        );
        let refused = [&a, &b]
            .iter()
            .filter(|r| matches!(r, Err(Error::Conflict(m)) if m.contains("last admin")))
            .count();
        assert_eq!(refused, 1, "{a:?} / {b:?}");
        let admins = store
            .users()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.role == Role::Admin)
            .count();
        assert_eq!(admins, 1);
        // Back to two admins for the next round.
        let survivor = if a.is_ok() { &first } else { &second };
        let demoted = if a.is_ok() { "second" } else { "admin" };
        t.engine
            .set_role(survivor, demoted, Role::Admin)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_in_progress_are_capped_and_expired_ones_make_room() {
    use engine::store::login_flows::{LoginFlow, MAX_LIVE_LOGIN_FLOWS};
    let t = TestEngine::new().await;
    let flow = |minutes: i64| LoginFlow {
        provider: "oidc".into(),
        state: "s".into(),
        pkce_verifier: "v".into(),
        nonce: "n".into(),
        expires_at: engine::time::now() + chrono::Duration::minutes(minutes),
        return_to: None,
    };
    // A flood of starts: the table is full of live flows.
    engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
         INSERT INTO login_flows (handle_hash, provider, state, pkce_verifier, nonce, created_at, expires_at)
         SELECT 'flood-' || i, 'oidc', 's', 'v', 'n', $2, $3 FROM n",
    )
    .bind(MAX_LIVE_LOGIN_FLOWS)
    .bind(engine::time::now())
    .bind(engine::time::now() + chrono::Duration::minutes(10))
    .execute(pool)
    .await.map(|done| done.rows_affected()))
    .unwrap();
    let refused = t
        .engine
        .store()
        .create_login_flow("one-more", &flow(10))
        .await;
    assert!(
        matches!(&refused, Err(Error::Conflict(m)) if m.contains("too many sign-ins")),
        "{refused:?}"
    );
    // Once they expire they are dropped, and sign-ins start again.
    engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query("UPDATE login_flows SET expires_at = $1")
        .bind(engine::time::now() - chrono::Duration::minutes(1))
        .execute(pool)
        .await.map(|done| done.rows_affected()))
        .unwrap();
    t.engine
        .store()
        .create_login_flow("one-more", &flow(10))
        .await
        .unwrap();
    assert_eq!(t.count("login_flows").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_person_signs_in_as_slipway_or_anonymous() {
    let t = TestEngine::new().await;
    for (n, name) in ["slipway", "anonymous"].into_iter().enumerate() {
        let identity = engine::store::users::ExternalIdentity {
            provider: "oidc".into(),
            subject: format!("subject-{n}"),
            preferred_login: name.into(),
            display_name: name.into(),
            email: None,
            groups: Vec::new(),
            role: Role::Viewer,
        };
        let user = t
            .engine
            .store()
            .sign_in_with_identity(&identity)
            .await
            .expect("sign in");
        assert_eq!(user.login, format!("{name}-oidc"));
        assert!(matches!(
            t.engine
                .store()
                .create_user("ada", name, name, Role::Viewer)
                .await,
            Err(Error::Invalid(_))
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_not_overwritten_by_a_plain_value_by_accident() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    let set = |value: &str, secret: bool| EnvVarRequest {
        name: "DB_PASSWORD".into(),
        value: value.into(),
        secret,
    };
    t.engine
        .set_env_var(&t.actor, APP, ENV, set("correct-horse-battery", true))
        .await
        .unwrap();
    let before = t.count("audit_log").await;
    for value in ["", "plain now"] {
        let refused = t
            .engine
            .set_env_var(&t.actor, APP, ENV, set(value, false))
            .await;
        assert!(
            matches!(&refused, Err(Error::Invalid(e)) if e.message.contains("is a secret")),
            "{refused:?}"
        );
    }
    assert_eq!(
        t.count("audit_log").await,
        before,
        "a refusal records nothing"
    );
    let env = t.engine.environment(&t.actor, APP, ENV).await.unwrap();
    let vars = t.engine.store().env_vars(&env).await.unwrap();
    assert_eq!(vars.len(), 1);
    assert!(vars[0].secret);
    assert_eq!(vars[0].value, "correct-horse-battery");
    // Rotated as a secret, it is simply replaced.
    t.engine
        .set_env_var(&t.actor, APP, ENV, set("staple-rotated-2026", true))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_the_backend_cannot_deploy_is_refused_before_any_job() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    let tarball = t.register_version("1.0.0").await;
    let mut image = t.build_request("image");
    image.artifact = "shop:v2".into();
    let Registered::Created(image) = t.engine.register_build(&t.actor, image).await.unwrap() else {
        panic!("a new build");
    };
    let before = (t.count("jobs").await, t.count("audit_log").await);

    let refused = t.engine.deploy(&t.actor, APP, ENV, image.id).await;
    let Err(Error::Invalid(why)) = refused else {
        panic!("an image deployed to a local environment: {refused:?}");
    };
    assert!(
        why.message.contains("a docker image") && why.message.contains("archive or directory"),
        "{}",
        why.message
    );
    let plan = t.engine.deploy_plan(&t.actor, APP, ENV, image.id).await;
    assert!(matches!(plan, Err(Error::Invalid(_))), "{plan:?}");
    assert_eq!(
        (t.count("jobs").await, t.count("audit_log").await),
        before,
        "a refused deploy changed something"
    );

    // The environment's picker lists only what it can deploy.
    let env = t.engine.environment(&t.actor, APP, ENV).await.unwrap();
    let offered: Vec<i64> = t
        .engine
        .deployable_builds(&t.actor, &env, 10)
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(offered, vec![tarball.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_has_one_token_in_use_per_name() {
    let t = TestEngine::new().await;
    let scopes = vec!["read".to_owned()];
    let (first, _) = t
        .engine
        .create_api_token(&t.actor, &token_request("ci-main", &scopes))
        .await
        .expect("the first");
    let tokens = t.count("api_tokens").await;
    let again = t
        .engine
        .create_api_token(&t.actor, &token_request(" ci-main ", &scopes))
        .await;
    let Err(Error::Conflict(why)) = again else {
        panic!("a second ci-main: {again:?}");
    };
    assert!(
        why.contains("ci-main") && why.contains(&format!("#{first}")),
        "{why}"
    );
    assert_eq!(
        t.count("api_tokens").await,
        tokens,
        "a refused token was stored"
    );

    // Revoked, its name is free again.
    t.engine
        .revoke_api_token(&t.actor, first)
        .await
        .expect("revoke");
    t.engine
        .create_api_token(&t.actor, &token_request("ci-main", &scopes))
        .await
        .expect("the name is free");
}

fn token_request(name: &str, scopes: &[String]) -> engine::TokenRequest {
    engine::TokenRequest {
        name: name.to_owned(),
        scopes: scopes.to_vec(),
        valid_for_days: Some(30),
        limited_to: String::new(),
    }
}

/// What someone with the database's files or superuser rights does first:
/// drops the trigger that refuses an UPDATE of the audit log.
async fn drop_update_guard(t: &TestEngine) {
    let statement = match t.engine.store().pool().dialect() {
        engine::store::Dialect::Sqlite => "DROP TRIGGER audit_log_no_update",
        engine::store::Dialect::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log",
    };
    engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query(statement).execute(pool).await.map(drop))
        .expect("drop the trigger");
}
