//! Approvals against a real SQLite file and the real runner: a deploy to an
//! environment with approval rules waits for them; nobody approves their
//! own; a group rule counts the groups the approver has; a settings change
//! or an expiry voids the request; the last approval starts it as the one
//! who asked, and the release says who approved.

mod common;

use common::{TestEngine, APP, ENV};
use engine::audit::actions;
use engine::auth::{Actor, ApprovalPolicy, DeployPolicy};
use engine::backends::BackendConfig;
use engine::domain::{Build, DeployRequest, Deployment, JobState, RequestState, Role};
use engine::{DeployAsk, Error};

/// A signed-in person with `role` and identity-provider `groups`.
async fn person(t: &TestEngine, login: &str, role: Role, groups: &[&str]) -> Actor {
    let user = t
        .engine
        .store()
        .create_user("test", login, login, role)
        .await
        .expect("create user");
    Actor {
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..Actor::session(&user)
    }
}

async fn require_approvals(t: &TestEngine, rules: &str, prevent_self_review: bool) {
    let policy = DeployPolicy {
        approvals: ApprovalPolicy::parse(rules, prevent_self_review, 0, 24).expect("rules"),
        ..DeployPolicy::default()
    };
    t.engine
        .update_environment(&t.actor, APP, ENV, BackendConfig::Local(t.config()), policy)
        .await
        .expect("update environment");
}

async fn request_deploy(t: &TestEngine, actor: &Actor, build: &Build) -> DeployRequest {
    let ask = DeployAsk {
        build_id: build.id,
        ..DeployAsk::default()
    };
    match t
        .engine
        .request_deploy(actor, APP, ENV, &ask)
        .await
        .expect("deploy")
    {
        Deployment::Waiting(request) => request,
        Deployment::Started(job) => panic!("started job #{} without approval", job.id),
    }
}

async fn state_of(t: &TestEngine, id: i64) -> DeployRequest {
    t.engine.store().deploy_request(id).await.expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_waits_for_its_approvals_and_starts_as_the_one_who_asked() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    require_approvals(
        &t,
        "1 of group:oidc:release-managers\n1 of user:quinn",
        false,
    )
    .await;
    let dana = person(&t, "dana", Role::Deployer, &[]).await;
    let rita = person(&t, "rita", Role::Deployer, &["oidc:release-managers"]).await;
    let impostor = person(&t, "ivan", Role::Deployer, &["github:release-managers"]).await;
    let quinn = person(&t, "quinn", Role::Deployer, &[]).await;
    t.start_runner();
    let build = t.register_version("1.0.0").await;

    // A deploy that may not wait is refused, not started without approval.
    let direct = t
        .engine
        .deploy(&dana, APP, ENV, build.id)
        .await
        .unwrap_err();
    assert_eq!(direct.http_status(), 409, "{direct}");
    assert_eq!(t.count("deploy_requests").await, 0);
    let request = request_deploy(&t, &dana, &build).await;
    assert_eq!(request.state, RequestState::AwaitingApproval);
    assert_eq!(
        request.note.as_deref(),
        Some("awaiting approval: 1 more of group:oidc:release-managers; 1 more of user:quinn")
    );
    assert_eq!(t.count("jobs").await, 0);

    // Nobody approves their own request; a same-named group of another
    // provider is not the group.
    let own = t
        .engine
        .decide_request(&dana, request.id, true, "")
        .await
        .unwrap_err();
    assert!(matches!(own, Error::Forbidden(_)), "{own:?}");
    let other = t
        .engine
        .decide_request(&impostor, request.id, true, "")
        .await
        .unwrap_err();
    assert!(other.to_string().contains("no approval rule"), "{other}");

    let comment = "<img src=x onerror=alert(1)> $(reboot) `id`";
    let after_rita = t
        .engine
        .decide_request(&rita, request.id, true, comment)
        .await
        .unwrap();
    assert_eq!(after_rita.state, RequestState::AwaitingApproval);
    assert_eq!(
        after_rita.note.as_deref(),
        Some("awaiting approval: 1 more of user:quinn")
    );
    let twice = t
        .engine
        .decide_request(&rita, request.id, true, "")
        .await
        .unwrap_err();
    assert_eq!(twice.http_status(), 409);

    let approved = t
        .engine
        .decide_request(&quinn, request.id, true, "ok")
        .await
        .unwrap();
    assert_eq!(approved.note.as_deref(), Some("approved by rita, quinn"));
    let job_id = t
        .poll("the approved request to start", || async {
            state_of(&t, request.id).await.job_id
        })
        .await;
    let job = t.wait_finished(job_id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(job.requested_by, "dana");
    let release = t.release_of_job(job.id).await;
    assert_eq!(release.approved_by.as_deref(), Some("rita, quinn"));

    let approvals = t.engine.store().approvals_of(&[request.id]).await.unwrap();
    assert_eq!(approvals[0].comment, comment, "stored as typed");
    let audit = t.audit_after(0).await;
    let approved_rows: Vec<_> = audit
        .iter()
        .filter(|r| r.action == actions::REQUEST_APPROVED)
        .collect();
    assert_eq!(approved_rows.len(), 2);
    assert_eq!(approved_rows[0].actor, "rita");
    assert!(approved_rows[0].details.contains("onerror"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_registered_the_build_may_not_approve_where_self_review_is_prevented() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    require_approvals(&t, "1 of user:admin user:rita", true).await;
    let dana = person(&t, "dana", Role::Deployer, &[]).await;
    let rita = person(&t, "rita", Role::Deployer, &[]).await;
    // The admin registered the build.
    let build = t.register_version("1.0.0").await;
    let request = request_deploy(&t, &dana, &build).await;
    let refused = t
        .engine
        .decide_request(&t.actor, request.id, true, "")
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("prevents self-review"),
        "{refused}"
    );
    // A rejection must say why; then it ends.
    let silent = t
        .engine
        .decide_request(&rita, request.id, false, " ")
        .await
        .unwrap_err();
    assert_eq!(silent.http_status(), 400);
    let rejected = t
        .engine
        .decide_request(&rita, request.id, false, "not on a Friday")
        .await
        .unwrap();
    assert_eq!(rejected.state, RequestState::Rejected);
    assert_eq!(
        rejected.note.as_deref(),
        Some("rejected by rita: not on a Friday")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settings_change_voids_a_request_and_its_approvals() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    require_approvals(&t, "2 of user:rita user:quinn", false).await;
    let dana = person(&t, "dana", Role::Deployer, &[]).await;
    let rita = person(&t, "rita", Role::Deployer, &[]).await;
    let quinn = person(&t, "quinn", Role::Deployer, &[]).await;
    let build = t.register_version("1.0.0").await;
    let request = request_deploy(&t, &dana, &build).await;
    t.engine
        .decide_request(&rita, request.id, true, "")
        .await
        .unwrap();

    // A variable changes after rita approved: what she approved is gone.
    t.set_plain_var("FEATURE_X", "on").await;
    let late = t
        .engine
        .decide_request(&quinn, request.id, true, "")
        .await
        .unwrap_err();
    assert_eq!(late.http_status(), 409);
    assert!(
        late.to_string().contains("changed after it was requested"),
        "{late}"
    );
    let voided = state_of(&t, request.id).await;
    assert_eq!(voided.state, RequestState::Voided);

    // A fresh request for the new settings goes through; the runner also
    // voids, by itself, one whose settings change while it waits.
    let again = request_deploy(&t, &dana, &build).await;
    t.set_plain_var("FEATURE_X", "off").await;
    t.start_runner();
    let settled = t
        .poll("the runner to void the request", || async {
            let r = state_of(&t, again.id).await;
            (r.state != RequestState::AwaitingApproval).then_some(r)
        })
        .await;
    assert_eq!(settled.state, RequestState::Voided);
    assert_eq!(t.count("jobs").await, 0);
    let actions = t.audit_actions_after(0).await;
    assert!(
        actions.iter().any(|a| a == actions::REQUEST_VOIDED),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_not_approved_in_time_expires() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    require_approvals(&t, "1 of user:rita", false).await;
    let dana = person(&t, "dana", Role::Deployer, &[]).await;
    let rita = person(&t, "rita", Role::Deployer, &[]).await;
    let build = t.register_version("1.0.0").await;
    let request = request_deploy(&t, &dana, &build).await;
    let expires = request.expires_at.expect("an expiry");
    let hours = (expires - request.created_at).num_hours();
    assert_eq!(hours, 24, "the default: a day");

    // The clock moves on: its expiry passes (set back, rather than waiting a day).
    engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query("UPDATE deploy_requests SET expires_at = $1 WHERE id = $2")
        .bind(engine::time::now() - chrono::Duration::seconds(1))
        .bind(request.id)
        .execute(pool)
        .await.map(|done| done.rows_affected()))
        .unwrap();
    let late = t
        .engine
        .decide_request(&rita, request.id, true, "")
        .await
        .unwrap_err();
    assert!(late.to_string().contains("expired"), "{late}");
    assert_eq!(state_of(&t, request.id).await.state, RequestState::Expired);
    t.start_runner();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(t.count("jobs").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_request_supersedes_one_awaiting_approval() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    require_approvals(&t, "1 of user:rita", false).await;
    let dana = person(&t, "dana", Role::Deployer, &[]).await;
    let rita = person(&t, "rita", Role::Deployer, &[]).await;
    let v1 = t.register_version("1.0.0").await;
    let v2 = t.register_version("2.0.0").await;
    let first = request_deploy(&t, &dana, &v1).await;
    let second = request_deploy(&t, &dana, &v2).await;
    assert_eq!(state_of(&t, first.id).await.state, RequestState::Superseded);
    let stale = t
        .engine
        .decide_request(&rita, first.id, true, "")
        .await
        .unwrap_err();
    assert!(stale.to_string().contains("superseded"), "{stale}");
    assert_eq!(second.state, RequestState::AwaitingApproval);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_timer_holds_an_approved_request_until_its_minutes_pass() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    let policy = DeployPolicy {
        approvals: ApprovalPolicy::parse("1 of user:rita", false, 30, 24).expect("rules"),
        ..DeployPolicy::default()
    };
    t.engine
        .update_environment(&t.actor, APP, ENV, BackendConfig::Local(t.config()), policy)
        .await
        .expect("update environment");
    let dana = person(&t, "dana", Role::Deployer, &[]).await;
    let rita = person(&t, "rita", Role::Deployer, &[]).await;
    t.start_runner();
    let build = t.register_version("1.0.0").await;
    let request = request_deploy(&t, &dana, &build).await;
    let before = engine::time::now();
    let approved = t
        .engine
        .decide_request(&rita, request.id, true, "")
        .await
        .unwrap();
    assert_eq!(approved.state, RequestState::Waiting);
    let starts = approved.not_before.expect("a start time");
    assert!(starts >= before + chrono::Duration::minutes(30), "{starts}");
    assert!(approved.note.unwrap_or_default().contains("; starts at "));
    // The runner's rounds pass; it still waits for its minutes.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(state_of(&t, request.id).await.state, RequestState::Waiting);
    assert_eq!(t.count("jobs").await, 0);
}
