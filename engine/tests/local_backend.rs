//! Deploys, rollbacks, pruning and failures on the real local backend.

mod common;

use common::{TestEngine, APP, ENV};
use engine::backends::local::{prune, HealthCheck};
use engine::domain::{JobKind, JobState, Release, ReleaseState};

async fn release_of(t: &TestEngine, job: &engine::domain::Job) -> Release {
    let id = job.release_id.expect("job has a release");
    t.engine.store().release(id).await.expect("release")
}

/// Deploys v1 with no hooks and returns its release (live, `current` at it).
async fn deploy_v1(t: &TestEngine) -> Release {
    let v1 = t.register_version("1.0.0").await;
    let job = t.deploy_and_wait(&v1).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let release = release_of(t, &job).await;
    assert_eq!(t.current(), Some(t.release_dir(&release.release_key)));
    release
}

/// No `.partial` staging directory is left in `releases/`.
fn assert_no_partial(t: &TestEngine) {
    let names = t.release_dir_names();
    assert!(
        !names.iter().any(|n| n.ends_with(".partial")),
        "left-overs in releases/: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_switch_and_rollback() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    let v2 = t.register_version("2.0.0").await;

    let job1 = t.deploy_and_wait(&v1).await;
    assert_eq!(job1.state, JobState::Succeeded, "{:?}", job1.error);
    let r1 = release_of(&t, &job1).await;
    assert_eq!(r1.state, ReleaseState::Live);
    assert_eq!(r1.kind, JobKind::Deploy);
    assert_eq!(t.current(), Some(t.release_dir(&r1.release_key)));
    assert!(t.current_index().contains("version 1.0.0"));
    assert!(
        std::fs::read_to_string(t.release_dir(&r1.release_key).join("index.html"))
            .unwrap()
            .contains("version 1.0.0")
    );

    let job2 = t.deploy_and_wait(&v2).await;
    assert_eq!(job2.state, JobState::Succeeded, "{:?}", job2.error);
    let r2 = release_of(&t, &job2).await;
    assert_ne!(r2.release_key, r1.release_key);
    assert_eq!(r2.state, ReleaseState::Live);
    assert_eq!(release_of(&t, &job1).await.state, ReleaseState::Superseded);
    assert_eq!(t.current(), Some(t.release_dir(&r2.release_key)));
    assert!(t.current_index().contains("version 2.0.0"));

    // A variable set since reaches the release rolled back to.
    t.set_plain_var("FEATURE", "rotated").await;
    let rollback = t
        .engine
        .rollback(&t.actor, APP, ENV, r1.id)
        .await
        .expect("rollback");
    assert_eq!(rollback.kind, JobKind::Rollback);
    assert_eq!(rollback.rollback_of, Some(r1.id));
    let rollback = t.wait_finished(rollback.id).await;
    assert_eq!(rollback.state, JobState::Succeeded, "{:?}", rollback.error);
    let r3 = release_of(&t, &rollback).await;
    assert_ne!(r3.id, r1.id, "a rollback records a new release");
    assert_eq!(r3.kind, JobKind::Rollback);
    assert_eq!(r3.state, ReleaseState::Live);
    assert_eq!(r3.release_key, r1.release_key);
    assert_eq!(r3.build_id, v1.id);
    assert_eq!(t.current(), Some(t.release_dir(&r1.release_key)));
    assert!(t.current_index().contains("version 1.0.0"));
    let env_file = std::fs::read_to_string(t.release_dir(&r1.release_key).join(".env")).unwrap();
    assert!(env_file.contains("FEATURE='rotated'"), "{env_file}");
    assert_eq!(release_of(&t, &job2).await.state, ReleaseState::Superseded);
    assert_eq!(release_of(&t, &job1).await.state, ReleaseState::Superseded);
    let env = t.engine.environment(&t.actor, APP, ENV).await.unwrap();
    assert_eq!(
        t.engine
            .store()
            .live_release(env.id)
            .await
            .unwrap()
            .map(|r| r.id),
        Some(r3.id)
    );

    // Rolling back to what is live already is refused, whichever row of
    // that release is asked for, and nothing is queued.
    for row in [r3.id, r1.id] {
        let again = t.engine.rollback(&t.actor, APP, ENV, row).await;
        assert!(
            matches!(&again, Err(engine::Error::Conflict(message)) if message.contains("live")),
            "{again:?}"
        );
    }
    let latest = t
        .engine
        .store()
        .jobs_for_environment(env.id, 1)
        .await
        .unwrap();
    assert_eq!(latest.first().map(|job| job.id), Some(rollback.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_n_releases_and_restages_a_pruned_rollback_target() {
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    config.keep_releases = 2;
    t.setup(config).await;
    t.start_runner();

    let mut releases = Vec::new();
    for version in ["1.0.0", "2.0.0", "3.0.0", "4.0.0"] {
        let build = t.register_version(version).await;
        let job = t.deploy_and_wait(&build).await;
        assert_eq!(job.state, JobState::Succeeded, "{version}: {:?}", job.error);
        releases.push(release_of(&t, &job).await);
    }
    let keys: Vec<&str> = releases.iter().map(|r| r.release_key.as_str()).collect();
    let mut newest_two = vec![keys[2].to_owned(), keys[3].to_owned()];
    newest_two.sort();
    assert_eq!(t.release_dir_names(), newest_two);
    assert_eq!(t.current(), Some(t.release_dir(keys[3])));

    // v1's directory is gone, but the release history knows it can go back.
    assert!(!t.release_dir(keys[0]).exists());
    let job = t
        .engine
        .rollback(&t.actor, APP, ENV, releases[0].id)
        .await
        .expect("rollback");
    let job = t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(t.current(), Some(t.release_dir(keys[0])));
    assert!(t.current_index().contains("version 1.0.0"));
    assert_eq!(
        std::fs::read_to_string(t.release_dir(keys[0]).join("VERSION")).unwrap(),
        "1.0.0\n"
    );
    assert!(t.release_dir(keys[0]).join(".env").exists());
    // Kept: the two newest, the new live one and the one it replaced.
    let mut expected = vec![keys[0].to_owned(), keys[2].to_owned(), keys[3].to_owned()];
    expected.sort();
    assert_eq!(t.release_dir_names(), expected);
    assert_no_partial(&t);
}

/// Release keys are `YYYYmmddHHMMSS-<job id>`; within one second the job with
/// the larger id is the newer release.
#[test]

fn prune_orders_job_ids_numerically_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let releases = dir.path().join("releases");
    for key in ["20261122120000-8", "20261122120000-9", "20261122120000-10"] {
        std::fs::create_dir_all(releases.join(key)).unwrap();
    }
    let removed = prune(&releases, 2, &[]).unwrap();
    assert_eq!(removed, vec!["20261122120000-8".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_before_switch_hook_on_first_deploy_leaves_no_current() {
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    config.before_switch = Some("exit 3".into());
    t.setup(config).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;

    let job = t.deploy_and_wait(&v1).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.clone().unwrap_or_default();
    assert!(
        error.contains("before_switch hook failed") && error.contains("status 3"),
        "{error}"
    );
    assert_eq!(t.current(), None);
    assert!(std::fs::symlink_metadata(t.target_dir().join("current")).is_err());
    assert_eq!(release_of(&t, &job).await.state, ReleaseState::Failed);
    assert_no_partial(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_before_switch_hook_leaves_current_alone() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let r1 = deploy_v1(&t).await;

    let mut config = t.config();
    config.before_switch = Some("exit 3".into());
    t.update_config(config).await;
    let v2 = t.register_version("2.0.0").await;
    let job = t.deploy_and_wait(&v2).await;

    assert_eq!(job.state, JobState::Failed);
    assert!(
        job.error
            .as_deref()
            .unwrap_or_default()
            .contains("before_switch hook failed"),
        "{:?}",
        job.error
    );
    assert_eq!(t.current(), Some(t.release_dir(&r1.release_key)));
    assert!(t.current_index().contains("version 1.0.0"));
    assert_eq!(release_of(&t, &job).await.state, ReleaseState::Failed);
    assert_eq!(
        t.engine.store().release(r1.id).await.unwrap().state,
        ReleaseState::Live
    );
    let hosts = t.engine.store().job_hosts(job.id).await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(
        (hosts[0].phase.as_str(), hosts[0].state.as_str()),
        ("stage", "failed")
    );
    assert_no_partial(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_after_switch_hook_switches_back() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let r1 = deploy_v1(&t).await;

    let mut config = t.config();
    config.after_switch = Some("echo switched to $(cat VERSION); exit 1".into());
    t.update_config(config).await;
    let v2 = t.register_version("2.0.0").await;
    let job = t.deploy_and_wait(&v2).await;

    assert_eq!(job.state, JobState::Failed);
    assert!(
        job.error
            .as_deref()
            .unwrap_or_default()
            .contains("after_switch hook failed"),
        "{:?}",
        job.error
    );
    // The hook ran in the new release, after the switch...
    let events = t.events(job.id).await;
    assert!(events
        .iter()
        .any(|e| e.level == "out" && e.text == "switched to 2.0.0"));
    // ...and current is back where it was.
    assert_eq!(t.current(), Some(t.release_dir(&r1.release_key)));
    assert!(t.current_index().contains("version 1.0.0"));
    assert_eq!(release_of(&t, &job).await.state, ReleaseState::Failed);
    assert_eq!(
        t.engine.store().release(r1.id).await.unwrap().state,
        ReleaseState::Live
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_after_switch_hook_on_first_deploy_removes_current() {
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    config.after_switch = Some("exit 1".into());
    t.setup(config).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;

    let job = t.deploy_and_wait(&v1).await;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(t.current(), None);
    assert!(std::fs::symlink_metadata(t.target_dir().join("current")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_health_check_switches_back() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let r1 = deploy_v1(&t).await;

    let mut config = t.config();
    config.health_check = Some(HealthCheck::Command {
        command: "false".into(),
        timeout_secs: 2,
    });
    // Stands for a service reload: it notes which release it reloaded into.
    let reloads = t.path().join("reloads");
    config.after_switch = Some(format!(
        r#"echo "$SLIPWAY_RELEASE_ID ${{SLIPWAY_SWITCHED_BACK:-0}}" >> '{}'"#,
        reloads.display()
    ));
    t.update_config(config).await;
    let v2 = t.register_version("2.0.0").await;
    let job = t.deploy_and_wait(&v2).await;

    assert_eq!(job.state, JobState::Failed);
    // Reloaded into the new release, then back into the old one.
    let r2 = release_of(&t, &job).await;
    assert_eq!(
        std::fs::read_to_string(&reloads).unwrap(),
        format!("{} 0\n{} 1\n", r2.release_key, r1.release_key)
    );
    assert!(
        job.error
            .as_deref()
            .unwrap_or_default()
            .contains("health check failed"),
        "{:?}",
        job.error
    );
    assert_eq!(t.current(), Some(t.release_dir(&r1.release_key)));
    assert!(t.current_index().contains("version 1.0.0"));
    assert_eq!(release_of(&t, &job).await.state, ReleaseState::Failed);
    assert_eq!(
        t.engine.store().release(r1.id).await.unwrap().state,
        ReleaseState::Live
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passing_health_check_keeps_the_new_release() {
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    config.health_check = Some(HealthCheck::Command {
        command: "grep -q 'version 1.0.0' index.html".into(),
        timeout_secs: 5,
    });
    t.setup(config).await;
    t.start_runner();
    deploy_v1(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_failure_when_the_artifact_is_gone_changes_nothing() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let r1 = deploy_v1(&t).await;

    let v2 = t.register_version("2.0.0").await;
    std::fs::remove_file(t.tarball_path("2.0.0")).unwrap();
    let job = t.deploy_and_wait(&v2).await;

    assert_eq!(job.state, JobState::Failed);
    assert!(
        job.error
            .as_deref()
            .unwrap_or_default()
            .contains("artifact"),
        "{:?}",
        job.error
    );
    assert_eq!(t.current(), Some(t.release_dir(&r1.release_key)));
    let r2 = release_of(&t, &job).await;
    assert_eq!(r2.state, ReleaseState::Failed);
    assert!(!t.release_dir(&r2.release_key).exists());
    assert_eq!(t.release_dir_names(), vec![r1.release_key.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_that_ships_its_own_env_file_is_refused_and_changes_nothing() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let r1 = deploy_v1(&t).await;

    let dir = t.path().join("with-env");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "version 2.0.0\n").unwrap();
    std::fs::write(dir.join(".env"), "FROM_THE_BUILD=1\n").unwrap();
    let v2 = t.register_directory_as("2.0.0", &dir).await;
    let job = t.deploy_and_wait(&v2).await;

    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(error.contains("the artifact has its own .env"), "{error}");
    assert_eq!(t.current(), Some(t.release_dir(&r1.release_key)));
    assert_no_partial(&t);
    assert_eq!(t.release_dir_names(), vec![r1.release_key.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_brings_no_setuid_file_and_no_owner_of_its_own() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let dir = t.path().join("setuid");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "version 1.0.0\n").unwrap();
    let tool = dir.join("tool");
    std::fs::write(&tool, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o4755)).unwrap();
    // Packed as someone else's (the tests run as root; elsewhere the
    // archive keeps whoever packed it, which is this user already).
    let _ = std::os::unix::fs::chown(&tool, Some(4321), Some(4321));
    let v1 = t.register_directory_as("1.0.0", &dir).await;
    let job = t.deploy_and_wait(&v1).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let release = release_of(&t, &job).await;
    let unpacked = std::fs::metadata(t.release_dir(&release.release_key).join("tool")).unwrap();
    assert_eq!(
        unpacked.mode() & 0o7000,
        0,
        "setuid kept: {:o}",
        unpacked.mode()
    );
    assert_eq!(unpacked.mode() & 0o111, 0o111, "executable bits lost");
    let me = std::fs::metadata(t.path()).unwrap().uid();
    assert_eq!(unpacked.uid(), me, "the archive's owner was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_failure_on_a_truncated_tarball_leaves_no_partial_dir() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let r1 = deploy_v1(&t).await;

    let v2 = t.register_version("2.0.0").await;
    let bytes = std::fs::read(t.tarball_path("2.0.0")).unwrap();
    std::fs::write(t.tarball_path("2.0.0"), &bytes[..bytes.len() / 2]).unwrap();
    let job = t.deploy_and_wait(&v2).await;

    assert_eq!(job.state, JobState::Failed);
    assert_eq!(t.current(), Some(t.release_dir(&r1.release_key)));
    assert!(t.current_index().contains("version 1.0.0"));
    let r2 = release_of(&t, &job).await;
    assert!(!t.release_dir(&r2.release_key).exists());
    assert_no_partial(&t);
    assert_eq!(t.release_dir_names(), vec![r1.release_key.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_url_is_downloaded_and_unpacked_leaving_nothing_beside_the_releases() {
    use engine::testing::share_server::{Serve, ShareServer};
    let mut t = TestEngine::new().await;
    let server = ShareServer::start(t.engine.artifact_shares().clone(), Serve::Faithfully).await;
    t.setup(t.config()).await;
    t.start_runner();
    let (build, _lent) = t.register_version_at_url("3.0.0", &server.base_url).await;
    let job = t.deploy_ok(&build).await;
    assert!(t.current_index().contains("version 3.0.0"));
    let shown: Vec<String> = (t.events(job.id).await.into_iter().map(|e| e.text))
        .chain(
            t.audit_after(0)
                .await
                .into_iter()
                .map(|a| a.details.to_string()),
        )
        .collect();
    assert!(
        shown.iter().any(|text| text.contains("/artifacts/")),
        "the URL is shown, without its signature"
    );
    assert!(
        !shown
            .iter()
            .any(|text| text.contains(common::URL_SIGNATURE)),
        "the URL's signature was shown: {shown:#?}"
    );
    assert_eq!(
        t.release_dir_names().len(),
        1,
        "{:?}",
        t.release_dir_names()
    );
    assert_no_partial(&t);
}
