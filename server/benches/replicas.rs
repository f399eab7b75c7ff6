//! Benchmark: two real `slipway serve` replicas on one PostgreSQL database
//! (a throwaway cluster, or `SLIPWAY_TEST_POSTGRES`'s), on loopback.
//!
//! 1. Job claims: rounds of one deploy per environment at once, requests
//!    alternating replicas, each job's hook trivial; prints jobs per second
//!    queued-to-finished, and how long a queued job waited to be claimed
//!    (`started_at - created_at`, both stamped by the database).
//! 2. Fan-out through NOTIFY: a job run by one replica, watched through the
//!    other by many watchers; a hook prints `tick <i> <unix ns>`, a watcher
//!    subtracts that from when it reads the event. Checks every watcher got
//!    every event exactly once.
//!
//! ```text
//! cargo bench -p server --bench replicas
//! ```
//!
//! `SLIPWAY_BENCH_ENVS` (20), `SLIPWAY_BENCH_ROUNDS` (10),
//! `SLIPWAY_BENCH_WATCHERS` (500) and `SLIPWAY_BENCH_TICKS` (100, one
//! every 20 ms) change the load. Under `cargo test` it does nothing.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::time::Instant;

use common::{
    create_local_environments, gated_hook, open_gate, start_replicas, wait_claimed, Auth,
    TestServer,
};
use engine::testing::postgres::Cluster;
use sqlx::PgPool;
use support::{env_usize, percentile, watch_all};

async fn deploy(server: &TestServer, auth: &Auth, env: &str, build_id: i64) -> i64 {
    let reply = server.deploy_to(auth, env, build_id).await;
    assert_eq!(reply.status, 202, "deploy to {env}: {}", reply.text);
    reply.json()["id"].as_i64().expect("a job id")
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let envs = env_usize("SLIPWAY_BENCH_ENVS", 20);
    let rounds = env_usize("SLIPWAY_BENCH_ROUNDS", 10);
    let watchers = env_usize("SLIPWAY_BENCH_WATCHERS", 500);
    let ticks = env_usize("SLIPWAY_BENCH_TICKS", 100);

    let (admin, _cluster) = Cluster::shared_or_start();
    let url = engine::testing::database::fresh_postgres(&admin).await;
    let (a, b, auth) = start_replicas(&url).await;
    let db = PgPool::connect(&url)
        .await
        .expect("the bench's own connection");
    let build_id: i64 = sqlx::query_scalar("SELECT id FROM builds ORDER BY id DESC LIMIT 1")
        .fetch_one(&db)
        .await
        .expect("a demo build");

    // 1. Claims.
    let names: Vec<String> = (1..=envs).map(|n| format!("env-{n}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    create_local_environments(&url, a.data_dir(), &names, "true").await;
    let started = Instant::now();
    let mut jobs = Vec::new();
    for _ in 0..rounds {
        let round = names.iter().enumerate().map(|(i, name)| {
            let server = if i % 2 == 0 { &a } else { &b };
            deploy(server, &auth, name, build_id)
        });
        let ids = futures::future::join_all(round).await;
        for id in &ids {
            let view = a.wait_job_finished(&auth, *id).await;
            assert_eq!(view["job"]["state"], "succeeded", "{view}");
        }
        jobs.extend(ids);
    }
    let elapsed = started.elapsed();
    let rows: Vec<(f64, String)> = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM started_at - created_at)::FLOAT8 * 1000, lease_owner
         FROM jobs WHERE id = ANY($1)",
    )
    .bind(&jobs)
    .fetch_all(&db)
    .await
    .expect("the jobs' times");
    let mut waits: Vec<f64> = rows.iter().map(|(ms, _)| *ms).collect();
    let on_a = rows
        .iter()
        .filter(|(_, owner)| owner.contains(&format!("-{}-", a.pid())))
        .count();
    println!(
        "\n2 replicas, one PostgreSQL: {} jobs ({rounds} rounds of one deploy on each of {envs} environments at once)",
        jobs.len()
    );
    println!(
        "queued to finished: {:.1} jobs/s ({:.2} s); claimed by replica A {on_a}, B {}",
        jobs.len() as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        jobs.len() - on_a
    );
    println!(
        "queued to claimed: p50 {:.1} ms  p95 {:.1} ms  max {:.1} ms",
        percentile(&mut waits, 0.5),
        percentile(&mut waits, 0.95),
        percentile(&mut waits, 1.0)
    );

    // 2. Fan-out through NOTIFY.
    create_local_environments(
        &url,
        a.data_dir(),
        &["ticker"],
        &gated_hook(
            a.data_dir(),
            "echo waiting for the watchers",
            &format!(
                "for i in $(seq 1 {ticks}); do echo \"tick $i $(date +%s%N)\"; sleep 0.02; done"
            ),
        ),
    )
    .await;
    let job = deploy(&a, &auth, "ticker", build_id).await;
    let owner = wait_claimed(&db, job, None).await;
    let (runs, watched) = if owner.contains(&format!("-{}-", a.pid())) {
        (("A", &a), ("B", &b))
    } else {
        (("B", &b), ("A", &a))
    };
    let Auth::Cookie(cookie) = auth else {
        panic!("a session cookie")
    };
    let url = watched.1.url(&format!("/events/jobs/{job}"));
    let tasks = watch_all(&url, &cookie, watchers).await;
    open_gate(a.data_dir());
    let mut seen = Vec::with_capacity(watchers);
    for task in tasks {
        seen.push(task.await.expect("a watcher"));
    }
    let stored: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM job_events WHERE job_id = $1 ORDER BY seq")
            .bind(job)
            .fetch_all(&db)
            .await
            .expect("the stored events");
    let complete = seen
        .iter()
        .filter(|w| w.ended && w.ids == stored && w.tick_latencies_ms.len() == ticks)
        .count();
    let mut latencies: Vec<f64> = seen
        .iter()
        .flat_map(|w| w.tick_latencies_ms.iter().copied())
        .collect();
    println!(
        "\none job run by replica {}, {watchers} watchers through replica {}, {ticks} live events (one every 20 ms)",
        runs.0, watched.0
    );
    println!(
        "every stored event exactly once, in order, through the end: {complete} of {watchers} watchers ({} events)",
        stored.len()
    );
    println!(
        "live event latency (hook's print on {} → watcher's read on {}), {} samples: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        runs.0,
        watched.0,
        latencies.len(),
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
        percentile(&mut latencies, 1.0)
    );
    drop((a, b));
}
