//! The SSH backend against real sshd processes: two-phase releases on a
//! fleet, rollback, keep-N, failures that leave every host untouched or
//! switched back, refused host keys, and hostile values that never execute.

mod common;

use common::TestEngine;
use engine::domain::{JobState, ReleaseState};
use engine::testing::share_server::{Serve, ShareServer};
use engine::testing::sshd::{require_deploy_user, Fleet, HostImage, DEPLOY_PATH, DEPLOY_USER};
use std::os::unix::fs::MetadataExt;

const HOSTS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_reaches_every_host_and_rolls_back_everywhere() {
    let fleet = Fleet::start(HOSTS);
    let mut t = TestEngine::new().await;
    let mut config = fleet.config();
    config.before_switch =
        Some("echo staged $SLIPWAY_RELEASE_ID on $(hostname 2>/dev/null || echo host)".into());
    config.after_switch = Some("cat VERSION".into());
    config.health_check = Some("grep -q 'Slipway demo' index.html".into());
    t.setup_ssh(config).await;
    t.start_runner();

    let v1 = t.register_version("1.0.0").await;
    let v2 = t.register_version("2.0.0").await;
    let job1 = t.deploy_ok(&v1).await;
    assert_every_host_serves(&fleet, "1.0.0");
    let job2 = t.deploy_ok(&v2).await;
    for host in &fleet.hosts {
        assert_eq!(host.current_version().as_deref(), Some("2.0.0"));
        assert!(
            !host.path(&format!("{DEPLOY_PATH}/.slipway-lock")).exists(),
            "lock left on {}",
            host.name()
        );
    }
    // Every host has its own progress, and it ended well.
    let hosts = t.engine.store().job_hosts(job2.id).await.unwrap();
    assert_eq!(hosts.len(), HOSTS);
    assert!(hosts.iter().all(|h| h.state == "succeeded"), "{hosts:?}");
    let events = t.events(job2.id).await;
    assert!(
        events.iter().any(|e| e.text.contains("switched 5 hosts")),
        "no switch summary"
    );

    // A variable set since: the release rolled back to gets it in its .env
    // (configuration is the environment's now, not the build's).
    t.set_plain_var("FEATURE", "rotated").await;
    let first = t.release_of_job(job1.id).await;
    assert_eq!(first.state, ReleaseState::Superseded);
    let rollback = t.roll_back_and_wait(first.id).await;
    assert_eq!(rollback.state, JobState::Succeeded, "{:?}", rollback.error);
    assert_every_host_serves(&fleet, "1.0.0");
    for host in &fleet.hosts {
        let release = host.path(&host.current().unwrap().to_string_lossy());
        let env = std::fs::read_to_string(release.join(".env")).unwrap();
        assert!(env.contains("FEATURE='rotated'"), "{}: {env}", host.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keep_n_prunes_on_every_host_and_a_pruned_release_is_restaged() {
    let fleet = Fleet::start(2);
    let mut t = TestEngine::new().await;
    let mut config = fleet.config();
    config.keep_releases = 2;
    t.setup_ssh(config).await;
    t.start_runner();
    let mut jobs = Vec::new();
    for v in ["1.0.0", "2.0.0", "3.0.0", "4.0.0"] {
        let build = t.register_version(v).await;
        let job = t.deploy_and_wait(&build).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        jobs.push(job);
    }
    for host in &fleet.hosts {
        assert_eq!(host.release_names().len(), 2, "{:?}", host.release_names());
    }
    let env = t
        .engine
        .environment(&t.actor, common::APP, common::ENV)
        .await
        .unwrap();
    let releases = t.engine.releases(&t.actor, &env, None, 10).await.unwrap();
    let oldest = releases.iter().find(|r| r.job_id == jobs[0].id).unwrap();
    let job = t
        .engine
        .rollback(&t.actor, common::APP, common::ENV, oldest.id)
        .await
        .unwrap();
    let job = t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_every_host_serves(&fleet, "1.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hook_failing_on_one_host_switches_no_host() {
    let (fleet, t) = fleet_serving_v1(HOSTS).await;

    // The hook fails on the third host only.
    let marker = fleet.hosts[2].path("/fail-here");
    std::fs::write(&marker, "").unwrap();
    let mut config = fleet.config();
    config.before_switch = Some("if [ -f /fail-here ]; then echo broken >&2; exit 3; fi".into());
    t.update_ssh(config).await;
    let v2 = t.register_version("2.0.0").await;
    let job = t.deploy_and_wait(&v2).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("nothing was switched") && error.contains(&fleet.hosts[2].name()),
        "{error}"
    );
    for host in &fleet.hosts {
        assert_eq!(
            host.current_version().as_deref(),
            Some("1.0.0"),
            "{} was switched",
            host.name()
        );
        assert_eq!(
            host.release_names().len(),
            1,
            "staged release left on {}",
            host.name()
        );
        assert!(!host.path(&format!("{DEPLOY_PATH}/.slipway-lock")).exists());
    }
    // The report: the failing host failed, every other one had its staged
    // release removed (none is left looking "running").
    assert_host_states(&t, job.id, &fleet, 2, "reverted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_health_check_switches_every_host_back() {
    let (fleet, t) = fleet_serving_v1(3).await;

    std::fs::write(fleet.hosts[1].path("/unhealthy"), "").unwrap();
    let mut config = fleet.config();
    config.health_check = Some("test ! -f /unhealthy".into());
    // Stands for `service php-fpm reload`: it notes which release it reloaded into.
    config.after_switch = Some(
        r#"echo "$SLIPWAY_RELEASE_ID ${SLIPWAY_SWITCHED_BACK:-0}" >> "$SLIPWAY_DEPLOY_PATH/reloads""#
            .into(),
    );
    t.update_ssh(config).await;
    let v2 = t.register_version("2.0.0").await;
    let job = t.deploy_and_wait(&v2).await;
    assert_eq!(job.state, JobState::Failed);
    assert!(
        job.error
            .as_deref()
            .unwrap_or_default()
            .contains("switched back"),
        "{:?}",
        job.error
    );
    assert_every_host_serves(&fleet, "1.0.0");
    assert!(
        job.error
            .as_deref()
            .unwrap_or_default()
            .contains("all switched back"),
        "{:?}",
        job.error
    );
    assert_host_states(&t, job.id, &fleet, 1, "reverted").await;
    // Every host was reloaded into the new release, then back into the old one.
    let new_release = t.release_of_job(job.id).await.release_key;
    for host in &fleet.hosts {
        let reloads =
            std::fs::read_to_string(host.path(&format!("{DEPLOY_PATH}/reloads"))).unwrap();
        let serving = host.current().unwrap();
        let serving = serving.file_name().unwrap().to_string_lossy();
        assert_eq!(
            reloads.lines().collect::<Vec<_>>(),
            [format!("{new_release} 0"), format!("{serving} 1")],
            "{}",
            host.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_whose_switch_step_fails_after_the_rename_is_switched_back_too() {
    let (fleet, t) = fleet_serving_v1(3).await;

    // On the second host the switch step renames `current`, then fails
    // (its `ls` is gone): the job cannot tell that host moved, as when a
    // connection drops right after the rename.
    std::fs::write(fleet.hosts[1].path("/break-ls"), "").unwrap();
    let mut config = fleet.config();
    config.before_switch = Some("if [ -f /break-ls ]; then rm -f /bin/ls; fi".into());
    t.update_ssh(config).await;
    let v2 = t.register_version("2.0.0").await;
    let job = t.deploy_and_wait(&v2).await;
    std::os::unix::fs::symlink("busybox", fleet.hosts[1].path("/bin/ls")).unwrap();

    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(error.contains("all switched back"), "{error}");
    assert_every_host_serves(&fleet, "1.0.0");
    for host in &fleet.hosts {
        assert_eq!(host.release_names().len(), 1, "{}", host.name());
    }
    assert_host_states(&t, job.id, &fleet, 1, "reverted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_artifact_that_ships_its_own_env_file_is_refused_on_every_host() {
    let (fleet, t) = fleet_serving_v1(2).await;

    // Its `.env` points at a directory: moved "onto" it, the env file would
    // land inside whatever it names.
    let dir = t.path().join("with-env");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("VERSION"), "2.0.0\n").unwrap();
    std::os::unix::fs::symlink("/tmp", dir.join(".env")).unwrap();
    let v2 = t.register_directory_as("2.0.0", &dir).await;
    let job = t.deploy_and_wait(&v2).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("the artifact has its own .env") && error.contains("nothing was switched"),
        "{error}"
    );
    assert_every_host_serves(&fleet, "1.0.0");
    for host in &fleet.hosts {
        assert_eq!(host.release_names().len(), 1, "{}", host.name());
    }
}

/// `hosts` fake hosts in an SSH environment, with a runner, all serving 1.0.0.
async fn fleet_serving_v1(hosts: usize) -> (Fleet, TestEngine) {
    let fleet = Fleet::start(hosts);
    let mut t = TestEngine::new().await;
    t.setup_ssh(fleet.config()).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    assert_eq!(t.deploy_and_wait(&v1).await.state, JobState::Succeeded);
    (fleet, t)
}

/// The job's report per host: `failing` failed, every other host `others`.
async fn assert_host_states(
    t: &TestEngine,
    job_id: i64,
    fleet: &Fleet,
    failing: usize,
    others: &str,
) {
    let rows = t.engine.store().job_hosts(job_id).await.unwrap();
    for (i, host) in fleet.hosts.iter().enumerate() {
        let row = rows
            .iter()
            .find(|r| r.host == host.name())
            .unwrap_or_else(|| panic!("no row for {}", host.name()));
        let expected = if i == failing { "failed" } else { others };
        assert_eq!(row.state, expected, "{}: {row:?}", host.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_that_dies_mid_stage_leaves_every_host_unswitched() {
    let (mut fleet, t) = fleet_serving_v1(HOSTS).await;

    // On the fourth host the hook waits; the test then kills that host's sshd
    // and its session (the host "dies") while the others have staged.
    let mut config = fleet.config();
    config.before_switch = Some("if [ -f /slow ]; then echo waiting; sleep 30; fi".into());
    t.update_ssh(config).await;
    std::fs::write(fleet.hosts[3].path("/slow"), "").unwrap();
    let v2 = t.register_version("2.0.0").await;
    let job = t.deploy(&v2).await;
    t.wait_for_event(job.id, "waiting").await;
    fleet.hosts[3].stop_sshd();
    kill_sessions_in(&fleet.hosts[3].root);
    let job = t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Failed, "{:?}", job.error);
    assert_every_host_serves(&fleet, "1.0.0");
}

/// Kills the sshd session processes chrooted into `root` (a host going down).
fn kill_sessions_in(root: &std::path::Path) {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(proc_root) = std::fs::read_link(format!("/proc/{pid}/root")) else {
            continue;
        };
        if proc_root == root {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_changed_host_key_is_refused_before_anything_changes() {
    let (mut fleet, t) = fleet_serving_v1(3).await;

    // Host 0 comes back with another key; the environment still pins the old one.
    fleet.hosts[0].stop_sshd();
    fleet.hosts[0].new_host_key();
    fleet.hosts[0].start_sshd();
    fleet.hosts[0].wait_listening();
    let v2 = t.register_version("2.0.0").await;
    let job = t.deploy_and_wait(&v2).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains(&fleet.hosts[0].name()) && error.contains("nothing was changed"),
        "{error}"
    );
    for host in &fleet.hosts {
        assert_eq!(host.current_version().as_deref(), Some("1.0.0"));
        assert_eq!(host.release_names().len(), 1, "{} was staged", host.name());
    }
    // The others connected and went no further: the job's end says so.
    assert_host_states(&t, job.id, &fleet, 0, "stopped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_values_never_execute_on_a_host() {
    let fleet = Fleet::start(1);
    let mut t = TestEngine::new().await;
    let mut config = fleet.config();
    config.before_switch = Some("printf '%s|' \"$EVIL\" \"$SLIPWAY_BRANCH\" > /hook-saw".into());
    t.setup_ssh(config).await;
    t.start_runner();
    let canary = "/canary";
    let hostile = format!("$(touch {canary}); `touch {canary}`; touch {canary} \n -rf '\"");
    t.set_plain_var("EVIL", &hostile).await;
    let v1 = t.register_version("1.0.0").await;
    t.deploy_ok(&v1).await;
    let host = &fleet.hosts[0];
    assert!(!host.path(canary).exists(), "a hostile value was executed");
    let seen = std::fs::read_to_string(host.path("/hook-saw")).unwrap();
    assert_eq!(seen, format!("{hostile}|main|"));
    let env_file = std::fs::read_to_string(host.path(&format!("{DEPLOY_PATH}/current/.env")))
        .unwrap_or_else(|_| {
            let target = host.current().unwrap();
            std::fs::read_to_string(host.path(&target.to_string_lossy()).join(".env")).unwrap()
        });
    assert!(env_file.starts_with("EVIL='$(touch"), "{env_file}");

    // A deploy path full of shell syntax is a path, nothing more.
    let hostile_path = format!("/srv/it's $(touch {canary}) `touch {canary}`; -rf \"x\"");
    let mut config = fleet.config();
    config.deploy_path = hostile_path.clone().into();
    t.update_ssh(config).await;
    let v2 = t.register_version("2.0.0").await;
    t.deploy_ok(&v2).await;
    assert!(!host.path(canary).exists(), "the deploy path was executed");
    let releases = std::fs::read_dir(host.path(&format!("{hostile_path}/releases")))
        .unwrap()
        .count();
    assert_eq!(releases, 1, "the release is under the hostile path");
    assert!(std::fs::symlink_metadata(host.path(&format!("{hostile_path}/current"))).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_remote_lock_blocks_deploys_until_an_admin_breaks_it() {
    let fleet = Fleet::start(3);
    let mut t = TestEngine::new().await;
    t.setup_ssh(fleet.config()).await;
    t.start_runner();
    // A Slipway that died mid-job (or a hand deploy) left its lock on two hosts.
    for host in &fleet.hosts[..2] {
        let lock = host.path(&format!("{DEPLOY_PATH}/.slipway-lock"));
        std::fs::create_dir_all(&lock).unwrap();
        std::fs::write(
            lock.join("owner"),
            "job 41 by carol from slipway old-host since 2026-11-01\n",
        )
        .unwrap();
    }
    let v1 = t.register_version("1.0.0").await;
    let job = t.deploy_and_wait(&v1).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("deploy lock held: job 41 by carol"),
        "{error}"
    );
    for host in &fleet.hosts {
        assert_eq!(host.current(), None, "{} changed", host.name());
    }
    // The failed job did not remove someone else's lock.
    assert!(fleet.hosts[0]
        .path(&format!("{DEPLOY_PATH}/.slipway-lock"))
        .exists());

    let before = t.last_audit_seq().await;
    let reports = t
        .engine
        .break_remote_locks(&t.actor, common::APP, common::ENV)
        .await
        .unwrap();
    let held: Vec<_> = reports.iter().filter_map(|r| r.held_by.clone()).collect();
    assert_eq!(held.len(), 2, "{reports:?}");
    assert!(held[0].contains("carol"));
    assert_eq!(
        t.audit_actions_after(before).await,
        vec!["environment.remote_locks_broken".to_owned()]
    );

    t.deploy_ok(&v1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_discovered_at_job_start_from_a_file_or_a_command() {
    let fleet = Fleet::start(3);
    let mut t = TestEngine::new().await;
    let listed = fleet.config().hosts;
    let dir = tempfile::tempdir().unwrap();
    let hosts_file = dir.path().join("fleet.txt");

    // A file: two of the three hosts today.
    std::fs::write(
        &hosts_file,
        format!("# web tier\n{}\n{}\n", listed[0], listed[1]),
    )
    .unwrap();
    let mut config = fleet.config();
    config.hosts = Vec::new();
    config.hosts_file = Some(hosts_file.clone());
    t.setup_ssh(config.clone()).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    let job = t.deploy_ok(&v1).await;
    let versions: Vec<Option<String>> = fleet.hosts.iter().map(|h| h.current_version()).collect();
    assert_eq!(versions, [Some("1.0.0".into()), Some("1.0.0".into()), None]);
    let events = t.events(job.id).await;
    assert!(
        events
            .iter()
            .any(|e| e.text.starts_with("2 hosts from the file")),
        "{events:?}"
    );

    // The fleet grew: a command lists all three at the next job's start.
    config.hosts_file = None;
    config.hosts_command = Some(format!("cat {}; echo {}", hosts_file.display(), listed[2]));
    t.update_ssh(config.clone()).await;
    let v2 = t.register_version("2.0.0").await;
    t.deploy_ok(&v2).await;
    assert_every_host_serves(&fleet, "2.0.0");

    // A source that names something that is not a host fails the job before
    // any host is touched, and says why.
    let canary = dir.path().join("canary");
    config.hosts_command = Some(format!("echo '{}; touch {}'", listed[0], canary.display()));
    t.update_ssh(config).await;
    let v3 = t.register_version("3.0.0").await;
    let job = t.deploy_and_wait(&v3).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(error.contains("hosts from the command"), "{error}");
    assert!(!canary.exists(), "the listed text never ran");
    assert_every_host_serves(&fleet, "2.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_environment_on_discovered_hosts_cannot_release_into_the_firsts_deploy_path() {
    let (fleet, t) = fleet_serving_v1(2).await;
    // Its hosts come from a command, so nothing could see at save time
    // that they are production's hosts, deploy path and all.
    let listed = fleet.config().hosts;
    let mut config = fleet.config();
    config.hosts = Vec::new();
    config.hosts_command = Some(format!("echo {}; echo {}", listed[0], listed[1]));
    t.engine
        .create_environment(
            &t.actor,
            common::APP,
            "staging",
            engine::backends::BackendConfig::Ssh(config),
            false,
        )
        .await
        .expect("create staging");
    let v2 = t.register_version("2.0.0").await;
    let job = t.deploy_to("staging", &v2).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains(&format!(
            "is the deploy path of {}/{}",
            common::APP,
            common::ENV
        )),
        "{error}"
    );
    assert_every_host_serves(&fleet, "1.0.0");

    // Production still deploys there: the refusal left no lock behind.
    t.deploy_ok(&v2).await;
    assert_every_host_serves(&fleet, "2.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_sudo_the_release_steps_run_through_sudo_and_values_stay_quoted() {
    // Hosts with sudo (the machine's /usr and /etc), reached as a non-root
    // user who cannot write the deploy path itself.
    require_deploy_user();
    let fleet = Fleet::start_with(2, HostImage::Full);
    let mut t = TestEngine::new().await;
    let mut config = fleet.config();
    config.user = DEPLOY_USER.into();
    config.before_switch = Some("echo hook runs as $(id -un)".into());
    t.setup_ssh(config.clone()).await;
    t.start_runner();
    let canary = "/canary";
    let hostile = format!("$(touch {canary}); `touch {canary}` '\"\n -rf");
    t.set_plain_var("EVIL", &hostile).await;
    let v1 = t.register_version("1.0.0").await;
    let v2 = t.register_version("2.0.0").await;

    // Without sudo the user cannot write there: a clear failure, nothing switched.
    let refused = t.deploy_and_wait(&v1).await;
    assert_eq!(refused.state, JobState::Failed);
    let error = refused.error.unwrap_or_default();
    assert!(error.contains("Permission denied"), "{error}");
    assert!(fleet.hosts.iter().all(|h| h.current().is_none()));

    config.sudo = true;
    t.update_ssh(config).await;
    let job1 = t.deploy_ok(&v1).await;
    let job2 = t.deploy_ok(&v2).await;
    let events = t.events(job2.id).await;
    assert!(
        events
            .iter()
            .any(|e| e.text.contains(&format!("hook runs as {DEPLOY_USER}"))),
        "the hook did not run as the remote user"
    );
    for host in &fleet.hosts {
        assert_eq!(host.current_version().as_deref(), Some("2.0.0"));
        assert!(!host.path(canary).exists(), "a hostile value was executed");
        assert!(!host.path(&format!("{DEPLOY_PATH}/.slipway-lock")).exists());
        let target = host.current().unwrap();
        // Unpacked by root, through sudo.
        let owner = std::fs::metadata(host.path(&target.to_string_lossy()))
            .unwrap()
            .uid();
        assert_eq!(owner, 0, "the release was not unpacked as root");
        let env_file =
            std::fs::read_to_string(host.path(&target.to_string_lossy()).join(".env")).unwrap();
        assert!(env_file.starts_with("EVIL='$(touch"), "{env_file}");
    }
    let first = t.release_of_job(job1.id).await;
    let rollback = t.roll_back_and_wait(first.id).await;
    assert_eq!(rollback.state, JobState::Succeeded, "{:?}", rollback.error);
    assert_every_host_serves(&fleet, "1.0.0");

    // Unpacked as root, an archive still brings no setuid file and no
    // owner of its own.
    let dir = t.path().join("setuid");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("VERSION"), "3.0.0\n").unwrap();
    let tool = dir.join("tool");
    std::fs::write(&tool, "#!/bin/sh\n").unwrap();
    std::os::unix::fs::chown(&tool, Some(4321), Some(4321)).unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
    let v3 = t.register_directory_as("3.0.0", &dir).await;
    t.deploy_ok(&v3).await;
    for host in &fleet.hosts {
        assert_eq!(host.current_version().as_deref(), Some("3.0.0"));
        let target = host.current().unwrap();
        let unpacked =
            std::fs::metadata(host.path(&target.to_string_lossy()).join("tool")).unwrap();
        assert_eq!(unpacked.uid(), 0, "the archive's owner was kept");
        assert_eq!(
            unpacked.mode() & 0o7000,
            0,
            "setuid kept: {:o}",
            unpacked.mode()
        );
        assert_eq!(unpacked.mode() & 0o111, 0o111, "executable bits lost");
    }

    // A host without sudo: the setting is really used, the job fails
    // clearly and nothing is switched.
    let bare = Fleet::start(1);
    let mut t = TestEngine::new().await;
    let mut config = bare.config();
    config.sudo = true;
    t.setup_ssh(config).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    let job = t.deploy_and_wait(&v1).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(error.contains("sudo"), "{error}");
    assert_eq!(bare.hosts[0].current(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_fetch_the_release_from_slipway_and_check_its_sha256() {
    let fleet = Fleet::start(HOSTS);
    let mut t = TestEngine::new().await;
    let server = ShareServer::start(t.engine.artifact_shares().clone(), Serve::Faithfully).await;
    let mut config = fleet.config();
    config.fetch_from = Some(format!("{}/", server.base_url));
    // The live release and the rollback target only: older ones are pruned.
    config.keep_releases = 1;
    t.setup_ssh(config).await;
    t.start_runner();

    let v1 = t.register_version("1.0.0").await;
    let v2 = t.register_version("2.0.0").await;
    let job1 = t.deploy_ok(&v1).await;
    let job2 = t.deploy_ok(&v2).await;
    let events = t.events(job2.id).await;
    assert!(
        events
            .iter()
            .any(|e| e.text.contains("fetch ") && e.text.contains("done in")),
        "no fetch step in the log"
    );
    assert!(
        !events.iter().any(|e| e.text.contains("/artifacts/")),
        "the lent URL reached the log"
    );
    assert!(
        !events.iter().any(|e| e.text.starts_with("current=")),
        "Slipway's own notes reached the log"
    );
    // Only the releases: no download or partial directory left behind.
    assert_every_host_on(&fleet, "2.0.0", 2);

    // A build whose artifact is a URL: Slipway downloads it once, then lends
    // its own copy to the hosts.
    let (v3, lent) = t.register_version_at_url("3.0.0", &server.base_url).await;
    let job3 = t.deploy_ok(&v3).await;
    assert_every_host_on(&fleet, "3.0.0", 2);

    // Rolling back to a release still staged everywhere needs no artifact:
    // it works with its URL gone.
    let v4 = t.register_version("4.0.0").await;
    t.deploy_ok(&v4).await;
    drop(lent);
    let rollback = t
        .roll_back_and_wait(t.release_of_job(job3.id).await.id)
        .await;
    assert_eq!(rollback.state, JobState::Succeeded, "{:?}", rollback.error);
    let events = t.events(rollback.id).await;
    assert!(
        !events.iter().any(|e| e.text.starts_with("downloading")),
        "a staged release was downloaded again"
    );
    assert_every_host_on(&fleet, "3.0.0", 2);

    // Release 1 was pruned everywhere: rolling back fetches it again.
    let rollback = t
        .roll_back_and_wait(t.release_of_job(job1.id).await.id)
        .await;
    assert_eq!(rollback.state, JobState::Succeeded, "{:?}", rollback.error);
    let events = t.events(rollback.id).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.text.contains("fetch ") && e.text.contains("done in"))
            .count(),
        HOSTS,
        "every host fetches the pruned release"
    );
    assert_every_host_serves(&fleet, "1.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_download_that_fails_its_checksum_is_refused_and_no_host_switches() {
    let fleet = Fleet::start(3);
    let mut t = TestEngine::new().await;
    let corrupting = ShareServer::start(t.engine.artifact_shares().clone(), Serve::Corrupted).await;
    t.setup_ssh(fleet.config()).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    assert_eq!(t.deploy_and_wait(&v1).await.state, JobState::Succeeded);

    let mut config = fleet.config();
    config.fetch_from = Some(corrupting.base_url.clone());
    t.update_ssh(config).await;
    let v2 = t.register_version("2.0.0").await;
    let job = t.deploy_and_wait(&v2).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("nothing was switched") && error.contains("does not match its sha256"),
        "{error}"
    );
    assert_every_host_on(&fleet, "1.0.0", 1);
}

/// Every host serves `version` and holds exactly `entries` entries in
/// `releases/` (so nothing half-staged is left beside the releases).
fn assert_every_host_on(fleet: &Fleet, version: &str, entries: usize) {
    assert_every_host_serves(fleet, version);
    for host in &fleet.hosts {
        let names = host.release_names();
        assert_eq!(names.len(), entries, "{}: {names:?}", host.name());
    }
}

/// `current` points at `version` on every host of the fleet.
fn assert_every_host_serves(fleet: &Fleet, version: &str) {
    for host in &fleet.hosts {
        assert_eq!(
            host.current_version().as_deref(),
            Some(version),
            "{} does not serve {version}",
            host.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scanning_reads_each_hosts_key_for_pinning_and_names_the_unreachable() {
    let fleet = Fleet::start(2);
    let t = TestEngine::new().await;
    let silent = common::free_port();
    let listed = format!(
        "127.0.0.1:{}\n\n127.0.0.1:{}\n127.0.0.1:{silent}\n",
        fleet.hosts[0].port, fleet.hosts[1].port
    );
    let scanned = t
        .engine
        .scan_host_keys(&t.actor, &listed, 22)
        .await
        .unwrap();
    assert_eq!(scanned.len(), 3);
    let pinned: Vec<String> = scanned
        .iter()
        .flat_map(|s| s.known_hosts.clone())
        .filter(|l| l.contains(" ssh-ed25519 "))
        .collect();
    assert_eq!(
        pinned.join("\n"),
        fleet.known_hosts(),
        "the scanned keys are the hosts' own"
    );
    assert!(scanned[0]
        .fingerprints
        .iter()
        .any(|f| f.contains("SHA256:") && f.contains("ED25519")));
    assert!(
        scanned[2].known_hosts.is_empty()
            && scanned[2]
                .error
                .as_deref()
                .is_some_and(|e| e.contains(&format!("port {silent}"))),
        "{:?}",
        scanned[2]
    );

    for hostile in ["-oProxyCommand=touch /tmp/x", "a;b", ""] {
        assert!(
            t.engine
                .scan_host_keys(&t.actor, hostile, 22)
                .await
                .is_err(),
            "{hostile:?}"
        );
    }
}
