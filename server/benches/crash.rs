//! Crash safety, measured (not a test): SIGKILL at 25 points of an SSH
//! deploy to 20 real sshd hosts, a restart on the same data after each, and
//! the checks of `tests/common/crash_rig.rs` (complete releases on every
//! host, `interrupted` within 30 s, locks named on the page, the audit
//! chain, nothing lost). Prints one line per point.
//!
//! `cargo bench -p server --bench crash` (`SLIPWAY_CRASH_HOSTS`,
//! `SLIPWAY_CRASH_POINTS` change the fleet and the number of points).
//! Needs root (the hosts' chroots) and `scripts/setup --test`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/crash_rig.rs"]
mod crash_rig;
mod support;

use crash_rig::CrashRig;
use support::env_usize;

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let hosts = env_usize("SLIPWAY_CRASH_HOSTS", 20);
    let points = env_usize("SLIPWAY_CRASH_POINTS", 25).max(2) as i64;
    let mut rig = CrashRig::start(hosts).await;
    let events = rig.calibrate().await;
    println!("\n{hosts} hosts; an undisturbed deploy stores {events} events\n");
    let mut failed = 0;
    for i in 0..points {
        // From the first event to the last but one, evenly.
        let point = 1 + i * (events - 2) / (points - 1);
        let outcome = rig.kill_at(point).await;
        if !outcome.problems.is_empty() {
            failed += 1;
        }
        println!("{:>2}. {}", i + 1, outcome.line());
    }
    let last = rig.deploy_once_more().await;
    println!(
        "\n{} of {points} kill points recovered cleanly; the deploy after them: {}",
        points - failed,
        if last.is_empty() {
            "succeeded on every host".to_owned()
        } else {
            last.join("; ")
        }
    );
}
