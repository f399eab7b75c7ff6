//! Freeze windows against a real engine and SQLite file: what they refuse,
//! what they let through, and the break-glass override.

mod common;

use chrono::{Duration, SecondsFormat, Utc};
use common::{TestEngine, APP, ENV};
use engine::audit::actions;
use engine::auth::{Actor, DeployPolicy};
use engine::backends::BackendConfig;
use engine::domain::{JobState, Role};
use engine::{Error, FreezeKind, FreezeRequest};

fn rfc3339(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A one-off window from an hour ago to an hour from now.
fn freeze_now(name: &str, environment: Option<&str>) -> FreezeRequest {
    FreezeRequest {
        name: name.into(),
        environment: environment.map(str::to_owned),
        kind: FreezeKind::Once,
        from: Some(rfc3339(-Duration::hours(1))),
        to: Some(rfc3339(Duration::hours(1))),
        days: None,
        start: None,
        end: None,
        cron: None,
        minutes: None,
        time_zone: "Europe/Berlin".into(),
        blocks_rollbacks: false,
    }
}

async fn deployer(t: &TestEngine) -> Actor {
    let user = t
        .engine
        .store()
        .create_user("test", "dora", "Dora", Role::Deployer)
        .await
        .expect("a deployer");
    Actor::from(&user)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_refuses_deploys_naming_the_window_and_lets_rollbacks_through() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    let first = t.deploy_ok(&v1).await;
    let v2 = t.register_version("2.0.0").await;
    t.deploy_ok(&v2).await;
    let window = t
        .engine
        .create_freeze_window(&t.actor, APP, &freeze_now("Black Friday", Some(ENV)))
        .await
        .expect("a window");
    let jobs_before = t.count("jobs").await;

    let refused = t
        .engine
        .deploy(&t.actor, APP, ENV, v1.id)
        .await
        .expect_err("frozen");
    let message = refused.to_string();
    assert!(matches!(refused, Error::Frozen { .. }), "{refused:?}");
    assert_eq!(refused.http_status(), 409);
    assert!(message.contains("\"Black Friday\""), "{message}");
    assert!(message.contains("Europe/Berlin"), "{message}");
    assert_eq!(t.count("jobs").await, jobs_before, "nothing was queued");

    let status = t
        .engine
        .freeze_status(&t.actor, APP, ENV)
        .await
        .expect("status");
    assert_eq!(status.active.expect("in force").window.id, window.id);

    // Rollbacks go through a window that does not refuse them.
    let release = t.release_of_job(first.id).await;
    let rolled_back = t.roll_back_and_wait(release.id).await;
    assert_eq!(
        rolled_back.state,
        JobState::Succeeded,
        "{:?}",
        rolled_back.error
    );

    // Removed, it refuses nothing.
    t.engine
        .delete_freeze_window(&t.actor, APP, window.id)
        .await
        .expect("deleted");
    t.deploy_ok(&v2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_that_refuses_rollbacks_refuses_them_too() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    let first = t.deploy_ok(&v1).await;
    t.deploy_ok(&t.register_version("2.0.0").await).await;
    let mut request = freeze_now("incident review", None);
    request.blocks_rollbacks = true;
    t.engine
        .create_freeze_window(&t.actor, APP, &request)
        .await
        .expect("a window");
    let release = t.release_of_job(first.id).await;
    let refused = t
        .engine
        .rollback(&t.actor, APP, ENV, release.id)
        .await
        .expect_err("frozen");
    assert!(
        refused.to_string().contains("rollbacks are refused"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_deploys_through_a_freeze_with_a_reason_and_it_is_audited() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    let window = t
        .engine
        .create_freeze_window(&t.actor, APP, &freeze_now("year end", None))
        .await
        .expect("a window");
    let dora = deployer(&t).await;
    let refused = t
        .engine
        .deploy_through_freeze(&dora, APP, ENV, v1.id, Some("I really must"))
        .await
        .expect_err("only admins override");
    assert!(matches!(refused, Error::Forbidden(_)), "{refused:?}");
    let blank = t
        .engine
        .deploy_through_freeze(&t.actor, APP, ENV, v1.id, Some("  "))
        .await
        .expect_err("a reason is needed");
    assert_eq!(blank.http_status(), 400, "{blank}");

    let seq = t.last_audit_seq().await;
    let job = t
        .engine
        .deploy_through_freeze(&t.actor, APP, ENV, v1.id, Some("hotfix for INC-42"))
        .await
        .expect("through the freeze");
    let job = t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let rows = t.audit_after(seq).await;
    let actions: Vec<&str> = rows.iter().map(|row| row.action.as_str()).collect();
    assert_eq!(
        &actions[..2],
        [actions::FREEZE_OVERRIDDEN, actions::DEPLOY_REQUESTED],
        "{actions:?}"
    );
    assert_eq!(rows[0].target, format!("freeze/{}", window.id));
    assert!(
        rows[0].details.contains("hotfix for INC-42"),
        "{}",
        rows[0].details
    );
    assert!(rows[0].details.contains("year end"), "{}", rows[0].details);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_deploy_during_a_freeze_is_skipped_and_says_why() {
    let t = TestEngine::new().await;
    t.create_app().await;
    t.engine
        .create_environment(
            &t.actor,
            APP,
            ENV,
            BackendConfig::Local(t.config()),
            DeployPolicy::parse(false, "", "main", "").expect("a policy"),
        )
        .await
        .expect("an environment");
    t.engine
        .create_freeze_window(&t.actor, APP, &freeze_now("launch", Some(ENV)))
        .await
        .expect("a window");
    let seq = t.last_audit_seq().await;
    t.register_version("1.0.0").await;
    assert_eq!(t.count("jobs").await, 0);
    let skipped = t
        .audit_after(seq)
        .await
        .into_iter()
        .find(|row| row.action == actions::AUTO_DEPLOY_SKIPPED)
        .expect("the skip is audited");
    assert!(skipped.details.contains("launch"), "{}", skipped.details);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_over_one_environment_leaves_the_others_alone() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    t.engine
        .create_environment(
            &t.actor,
            APP,
            "staging",
            BackendConfig::Local(engine::backends::local::LocalConfig::new(
                t.path().join("staging"),
            )),
            false,
        )
        .await
        .expect("staging");
    t.engine
        .create_freeze_window(&t.actor, APP, &freeze_now("prod only", Some("staging")))
        .await
        .expect("a window");
    t.deploy_ok(&t.register_version("1.0.0").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_windows_are_refused_and_hostile_names_kept_as_typed() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    let mut cron = freeze_now("x", None);
    cron.kind = FreezeKind::Cron;
    cron.cron = Some("0 18 * * 5; rm -rf /".into());
    cron.minutes = Some(60);
    let mut zone = freeze_now("x", None);
    zone.time_zone = "Europe/Atlantis".into();
    let dora = deployer(&t).await;
    for (request, actor) in [
        (&cron, &t.actor),
        (&zone, &t.actor),
        (&freeze_now("x", None), &dora),
    ] {
        let refused = t
            .engine
            .create_freeze_window(actor, APP, request)
            .await
            .expect_err("refused");
        assert!([400, 403].contains(&refused.http_status()), "{refused:?}");
    }
    assert_eq!(t.count("freeze_windows").await, 0);

    let hostile = "<script>alert(1)</script> $(reboot) `id`\u{7}";
    let window = t
        .engine
        .create_freeze_window(&t.actor, APP, &freeze_now(hostile, None))
        .await
        .expect("stored");
    assert_eq!(window.rule.name, hostile);
}
