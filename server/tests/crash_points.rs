//! kill -9 at a handful of points of an SSH deploy to four real sshd
//! hosts: after each restart every host serves a complete release, the job
//! is interrupted within 30 s, a host left locked is named on the job's
//! page, the audit chain verifies and nothing stored before the kill is
//! lost. `cargo bench -p server --bench crash` runs 25 points on 20 hosts.

mod common;
#[path = "common/crash_rig.rs"]
mod crash_rig;

use crash_rig::CrashRig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_killed_at_any_of_several_points_recovers_cleanly() {
    let mut rig = CrashRig::start(4).await;
    let events = rig.calibrate().await;
    // Early (locking, staging), middle (hooks, switching), late (after
    // the switch, cleaning up).
    let points = [2, events / 3, events / 2, events * 3 / 4, events - 2];
    let mut report = Vec::new();
    for point in points {
        let outcome = rig.kill_at(point).await;
        report.push(outcome.line());
        assert!(outcome.problems.is_empty(), "{}", report.join("\n"));
    }
    let last = rig.deploy_once_more().await;
    assert!(last.is_empty(), "{}\n{last:?}", report.join("\n"));
    println!("{}", report.join("\n"));
}

/// Killed mid-stage, with every host holding its deploy lock: Resume
/// queues a new job that takes the dead job's locks over and finishes its
/// release (the same key): hosts where it was staged keep it, the others
/// are staged, then all switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_deploy_resumes_through_the_locks_it_left() {
    let mut rig = CrashRig::start(3).await;
    let events = rig.calibrate().await;
    rig.break_locks = false;
    let outcome = rig.kill_at(events / 4).await;
    assert!(outcome.problems.is_empty(), "{}", outcome.line());
    assert!(outcome.interrupted_after.is_some(), "{}", outcome.line());
    assert!(
        outcome.locked_hosts > 0,
        "no host kept a lock to take over: {}",
        outcome.line()
    );
    let resumed = rig.resume(outcome.job).await;
    assert!(
        resumed.problems.is_empty(),
        "{}\n{resumed:#?}",
        outcome.line()
    );
}

/// Killed once every host has staged (in the hooks, or switching): the
/// resumed job stages nothing again, it switches every host to the
/// release the dead job staged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_killed_after_staging_resumes_with_what_it_staged() {
    let mut rig = CrashRig::start(3).await;
    let events = rig.calibrate().await;
    rig.break_locks = false;
    let outcome = rig.kill_at(events * 3 / 5).await;
    assert!(outcome.problems.is_empty(), "{}", outcome.line());
    assert!(outcome.interrupted_after.is_some(), "{}", outcome.line());
    let resumed = rig.resume(outcome.job).await;
    assert_eq!(
        resumed.staged_before.len(),
        rig.fleet.hosts.len(),
        "killed before every host had staged: {}",
        outcome.line()
    );
    assert!(
        resumed.problems.is_empty(),
        "{}\n{resumed:#?}",
        outcome.line()
    );
}
