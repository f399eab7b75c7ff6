//! Benchmark: 2,000 watchers of one job over server-sent events, against
//! the real `slipway` binary (the bench profile's) on loopback. Prints the
//! server's memory (before, peak while watched, after they left), the time
//! each watcher waited for its first event, and the latency of every live
//! event emitted after all had connected (a hook prints `tick <i> <unix
//! ns>`; a watcher subtracts that from when it reads the event). Checks
//! that every watcher got every event exactly once.
//!
//! ```text
//! cargo bench -p server --bench sse
//! ```
//!
//! `SLIPWAY_BENCH_WATCHERS` (default 2000) and `SLIPWAY_BENCH_TICKS` (100,
//! one every 20 ms) change the load. Under `cargo test` it does nothing.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{gated_hook, open_gate, set_before_switch, Auth, TestServer};
use support::{env_usize, percentile, rss_kib, watch_all};

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let watchers = env_usize("SLIPWAY_BENCH_WATCHERS", 2000);
    let ticks = env_usize("SLIPWAY_BENCH_TICKS", 100);
    let server = TestServer::start().await;
    let Auth::Cookie(cookie) = server.login().await else {
        panic!("a session cookie")
    };
    let token = server.bearer_token("bench");
    let db = server.db().await;
    set_before_switch(
        &db,
        &gated_hook(
            server.data_dir(),
            "echo waiting for the watchers",
            &format!(
                "for i in $(seq 1 {ticks}); do echo \"tick $i $(date +%s%N)\"; sleep 0.02; done"
            ),
        ),
    )
    .await;
    let job = server.deploy(&token, 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let pid = server.pid();
    let before = rss_kib(pid);
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let url = server.url(&format!("/events/jobs/{job}"));
    let started = Instant::now();
    let tasks = watch_all(&url, &cookie, watchers).await;
    let connect_all = started.elapsed();
    let connected_rss = rss_kib(pid);
    open_gate(server.data_dir());
    let mut seen = Vec::with_capacity(watchers);
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let peak = peak.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(pid);

    let failed: Vec<_> = seen.iter().filter_map(|w| w.error.clone()).collect();
    let reference = seen.iter().map(|w| w.ids.len()).max().unwrap_or(0);
    let complete = seen
        .iter()
        .filter(|w| {
            w.ended
                && w.ids.len() == reference
                && w.ids.windows(2).all(|p| p[0] < p[1])
                && w.tick_latencies_ms.len() == ticks
        })
        .count();
    let mut connects: Vec<f64> = seen
        .iter()
        .filter_map(|w| w.first_event)
        .map(|d| d.as_secs_f64() * 1e3)
        .collect();
    let mut latencies: Vec<f64> = seen
        .iter()
        .flat_map(|w| w.tick_latencies_ms.iter().copied())
        .collect();

    println!("\n{watchers} watchers of one job, {ticks} live events each (one every 20 ms)\n");
    println!(
        "every event exactly once, in order, through the end: {complete} of {watchers} watchers ({reference} events each); {} failed{}",
        failed.len(),
        failed.first().map(|e| format!(" (first: {e})")).unwrap_or_default()
    );
    println!(
        "first event after connecting: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (all {watchers} connected in {:.2} s)",
        percentile(&mut connects, 0.5),
        percentile(&mut connects, 0.99),
        percentile(&mut connects, 1.0),
        connect_all.as_secs_f64()
    );
    println!(
        "live event latency (hook's print → watcher's read), {} samples: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        latencies.len(),
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
        percentile(&mut latencies, 1.0)
    );
    println!(
        "server RSS: {:.1} MiB before, {:.1} MiB with all connected, peak {:.1} MiB ({:.1} KiB per watcher), {:.1} MiB 3 s after they left",
        before as f64 / 1024.0,
        connected_rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / watchers as f64,
        after as f64 / 1024.0
    );
    drop(server);
}
