//! Deploy requests against a real SQLite file and the real runner: a deploy
//! that meets a running job waits (one per environment, the newest wins),
//! auto-deploys wait instead of being dropped, a scheduled deploy starts at
//! its time, and a waiting request says what it waits for.
//!
//! A job with no runner stays queued: that is how these tests hold an
//! environment busy without racing a real job's duration.

mod common;

use common::{TestEngine, APP, ENV};
use engine::audit::actions;
use engine::auth::DeployPolicy;
use engine::backends::BackendConfig;
use engine::domain::{Build, DeployRequest, Deployment, Job, JobState, RequestState};
use engine::{DeployAsk, Error};

fn ask(build: &Build) -> DeployAsk {
    DeployAsk {
        build_id: build.id,
        ..DeployAsk::default()
    }
}

fn started(deployment: Deployment) -> Job {
    match deployment {
        Deployment::Started(job) => job,
        Deployment::Waiting(request) => panic!("expected a job, got request {request:?}"),
    }
}

fn waiting(deployment: Deployment) -> DeployRequest {
    match deployment {
        Deployment::Waiting(request) => request,
        Deployment::Started(job) => panic!("expected a waiting request, got job {job:?}"),
    }
}

async fn with_policy(t: &TestEngine, policy: DeployPolicy) {
    t.engine
        .update_environment(&t.actor, APP, ENV, BackendConfig::Local(t.config()), policy)
        .await
        .expect("update environment");
}

async fn queueing(t: &TestEngine) {
    let policy = DeployPolicy {
        queue_deploys: true,
        ..DeployPolicy::default()
    };
    with_policy(t, policy).await;
}

async fn request(t: &TestEngine, id: i64) -> DeployRequest {
    t.engine.store().deploy_request(id).await.expect("request")
}

/// The job request `id` became, once it has started.
async fn job_of(t: &TestEngine, id: i64) -> Job {
    let job_id = t
        .poll(&format!("request #{id} to start"), || async move {
            request(t, id).await.job_id
        })
        .await;
    t.job(job_id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_meeting_a_running_job_waits_and_a_newer_one_replaces_it() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    queueing(&t).await;
    let v1 = t.register_version("1.0.0").await;
    let v2 = t.register_version("2.0.0").await;
    let v3 = t.register_version("3.0.0").await;
    let before = t.last_audit_seq().await;

    let first = started(
        t.engine
            .request_deploy(&t.actor, APP, ENV, &ask(&v1))
            .await
            .unwrap(),
    );
    let second = waiting(
        t.engine
            .request_deploy(&t.actor, APP, ENV, &ask(&v2))
            .await
            .unwrap(),
    );
    assert_eq!(second.state, RequestState::Waiting);
    assert_eq!(
        second.note.as_deref(),
        Some(format!("waits for job #{}", first.id).as_str())
    );
    let third = waiting(
        t.engine
            .request_deploy(&t.actor, APP, ENV, &ask(&v3))
            .await
            .unwrap(),
    );

    let second = request(&t, second.id).await;
    assert_eq!(second.state, RequestState::Superseded);
    let note = second.note.unwrap_or_default();
    assert!(
        note.contains(&format!("superseded by request #{}", third.id))
            && note.contains(&format!("build #{}", v3.id)),
        "{note}"
    );
    assert_eq!(t.count("jobs").await, 1, "a waiting request is not a job");

    t.start_runner();
    let job = job_of(&t, third.id).await;
    let job = t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(job.build_id, v3.id);
    let first = t.job(first.id).await;
    assert_eq!(first.state, JobState::Succeeded);
    assert!(
        first.finished_at.unwrap() <= job.created_at,
        "it started only after the first ended"
    );
    assert!(t.current_index().contains("version 3.0.0"));
    assert_eq!(t.count("jobs").await, 2, "the superseded request never ran");
    assert!(t.events(job.id).await.iter().any(|e| e
        .text
        .contains(&format!("started from request #{}", third.id))));

    let actions = t.audit_actions_after(before).await;
    for expected in [
        actions::REQUEST_QUEUED,
        actions::REQUEST_SUPERSEDED,
        actions::DEPLOY_REQUESTED,
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "no {expected} in {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_queueing_a_busy_environment_still_refuses() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    let v1 = t.register_version("1.0.0").await;
    let v2 = t.register_version("2.0.0").await;
    let first = started(
        t.engine
            .request_deploy(&t.actor, APP, ENV, &ask(&v1))
            .await
            .unwrap(),
    );
    match t.engine.request_deploy(&t.actor, APP, ENV, &ask(&v2)).await {
        Err(Error::Busy { job_id, .. }) => assert_eq!(job_id, first.id),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert_eq!(t.count("deploy_requests").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_deploy_during_a_running_job_runs_after_it() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    // Deploys are not queued here: only the auto-deploy waits.
    with_policy(&t, DeployPolicy::parse(false, "", "release/*", "").unwrap()).await;
    let v1 = t.register_version_on(&t.actor, "1.0.0", "hotfix").await;
    let first = t.deploy(&v1).await;

    let v2 = t
        .register_version_on(&t.actor, "2.0.0", "release/2.0")
        .await;
    let waits = t
        .engine
        .store()
        .pending_requests()
        .await
        .unwrap()
        .pop()
        .expect("the auto-deploy waits");
    assert_eq!(waits.build_id, v2.id);
    assert_eq!(
        waits.note.as_deref(),
        Some(format!("waits for job #{}", first.id).as_str())
    );

    t.start_runner();
    let job = t.wait_finished(job_of(&t, waits.id).await.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert!(t.current_index().contains("version 2.0.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_deploy_starts_at_its_time() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;

    // Too far ahead: refused, nothing kept.
    let far = DeployAsk {
        at: Some(engine::time::now() + chrono::Duration::days(91)),
        ..ask(&v1)
    };
    let refused = t
        .engine
        .request_deploy(&t.actor, APP, ENV, &far)
        .await
        .unwrap_err();
    assert_eq!(refused.http_status(), 400, "{refused}");
    assert_eq!(t.count("deploy_requests").await, 0);

    let at = engine::time::now() + chrono::Duration::milliseconds(1500);
    let soon = DeployAsk {
        at: Some(at),
        ..ask(&v1)
    };
    let request = waiting(
        t.engine
            .request_deploy(&t.actor, APP, ENV, &soon)
            .await
            .unwrap(),
    );
    assert_eq!(request.not_before, Some(at));
    assert!(request
        .note
        .unwrap_or_default()
        .starts_with("scheduled for "));
    assert_eq!(t.count("jobs").await, 0, "nothing runs before its time");

    let job = job_of(&t, request.id).await;
    assert!(
        job.created_at >= at,
        "started at {} before {at}",
        job.created_at
    );
    let job = t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_request_says_it_waits_for_a_lock_and_starts_once_unlocked() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    queueing(&t).await;
    let v1 = t.register_version("1.0.0").await;
    let v2 = t.register_version("2.0.0").await;
    t.deploy(&v1).await;
    let request = waiting(
        t.engine
            .request_deploy(&t.actor, APP, ENV, &ask(&v2))
            .await
            .unwrap(),
    );
    // Locking cancels the job that had not started; the request waits on.
    t.engine
        .lock(&t.actor, APP, ENV, "<b>db migration</b> $(reboot)")
        .await
        .unwrap();
    t.start_runner();
    let note = t
        .poll("the request to say it waits for the lock", || async {
            let note = request_note(&t, request.id).await;
            note.contains("locked").then_some(note)
        })
        .await;
    assert!(note.contains("<b>db migration</b> $(reboot)"), "{note}");
    assert_eq!(request_state(&t, request.id).await, RequestState::Waiting);

    t.engine.unlock(&t.actor, APP, ENV).await.unwrap();
    let job = t.wait_finished(job_of(&t, request.id).await.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert!(t.current_index().contains("version 2.0.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_never_starts() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    queueing(&t).await;
    let v1 = t.register_version("1.0.0").await;
    let v2 = t.register_version("2.0.0").await;
    let first = t.deploy(&v1).await;
    let request = waiting(
        t.engine
            .request_deploy(&t.actor, APP, ENV, &ask(&v2))
            .await
            .unwrap(),
    );
    let cancelled = t.engine.cancel_request(&t.actor, request.id).await.unwrap();
    assert_eq!(cancelled.state, RequestState::Cancelled);
    let again = t
        .engine
        .cancel_request(&t.actor, request.id)
        .await
        .unwrap_err();
    assert_eq!(again.http_status(), 409);

    t.start_runner();
    t.wait_finished(first.id).await;
    // Give the dispatcher its rounds: the request stays cancelled, no job.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(request_state(&t, request.id).await, RequestState::Cancelled);
    assert_eq!(t.count("jobs").await, 1);
}

async fn request_note(t: &TestEngine, id: i64) -> String {
    request(t, id).await.note.unwrap_or_default()
}

async fn request_state(t: &TestEngine, id: i64) -> RequestState {
    request(t, id).await.state
}
