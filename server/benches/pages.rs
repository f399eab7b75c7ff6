//! Benchmark: every page and API answer with 1,000,000 audit rows and
//! 100,000 releases on one environment, served by the real `slipway`
//! binary (the bench profile's) over HTTP on loopback — and the audit CSV
//! export of the whole log: its first byte, its total, and the server's
//! peak memory while it streams.
//!
//! ```text
//! cargo bench -p server --bench pages
//! ```
//!
//! `SLIPWAY_BENCH_AUDIT_ROWS`, `SLIPWAY_BENCH_RELEASES` and
//! `SLIPWAY_BENCH_ROUNDS` change the load and the repetitions. Under
//! `cargo test` it does nothing.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::time::{Duration, Instant};

use common::{Auth, TestServer};
use engine::audit::{actions, AuditRecord};
use engine::auth::Actor;
use engine::backends::local::LocalConfig;
use engine::backends::BackendConfig;
use engine::domain::{JobKind, Role};
use engine::store::builds::Registered;
use engine::store::history::PastRelease;
use engine::{BuildRequest, Engine, EngineSettings};
use support::{env_usize, memory_kib};

const ACTORS: usize = 25;
const ENVIRONMENTS: usize = 50;
const BUILDS: usize = 200;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(what: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what:<58} p50 {:>7.2} ms   p95 {:>7.2} ms   max {:>7.2} ms",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(samples.last().copied().unwrap_or_default()),
    );
    at(0.95)
}

/// Peak and current resident memory of a process, in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let mib = |field| memory_kib(pid, field) as f64 / 1024.0;
    (mib("VmHWM"), mib("VmRSS"))
}

/// Writes the load straight through the engine, before the server starts.
async fn seed(data_dir: &std::path::Path, audit_rows: usize, releases: usize) -> String {
    let key = engine::secrets::SecretKey::generate();
    key.write_new(&data_dir.join("secret.key")).unwrap();
    let artifacts = data_dir.join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let settings = EngineSettings {
        database_url: format!("sqlite://{}", data_dir.join("slipway.db").display()),
        artifact_roots: vec![artifacts.clone()],
        package_root: data_dir.join("repo"),
        state_dir: data_dir.to_path_buf(),
        secret_key: key,
    };
    let engine = Engine::open(&settings).await.unwrap();
    let now = engine::time::now();
    let year = chrono::Duration::days(365);

    // A year of audit rows, oldest first: 25 people, every action, 50
    // environments (and a tenth about none).
    let started = Instant::now();
    let batch = 20_000;
    let step = year / audit_rows.max(1) as i32;
    for first in (0..audit_rows).step_by(batch) {
        let records: Vec<_> = (first..(first + batch).min(audit_rows))
            .map(|i| {
                let action = actions::ALL[i % actions::ALL.len()];
                let mut record =
                    AuditRecord::new(format!("person-{}", i % ACTORS), action, format!("row/{i}"))
                        .details(serde_json::json!({ "n": i }));
                if i % 10 != 0 {
                    record = record.environment(format!(
                        "app-{}/env-{}",
                        (i / 7) % 10,
                        i % (ENVIRONMENTS / 10)
                    ));
                }
                (now - year + step * i as i32, record)
            })
            .collect();
        engine.store().append_audit_load(&records).await.unwrap();
    }
    println!(
        "seeded {audit_rows} audit rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let user = engine
        .store()
        .create_user("bench", "admin", "Admin", Role::Admin)
        .await
        .unwrap();
    let actor = Actor::from(&user);
    let tarball = artifacts.join("app.tar.gz");
    engine::demo::write_demo_tarball(&tarball, "1.0.0").unwrap();
    engine
        .create_application(&actor, "bench", None)
        .await
        .unwrap();
    let mut builds = Vec::with_capacity(BUILDS);
    for b in 0..BUILDS {
        let registered = engine
            .register_build(
                &actor,
                BuildRequest {
                    application: "bench".into(),
                    commit_sha: engine::demo::fake_commit_sha(&format!("bench {b}")),
                    branch: "main".into(),
                    message: format!("change {b}"),
                    author: "bench".into(),
                    artifact: tarball.display().to_string(),
                    committed_at: Some(now - year),
                    commits: Vec::new(),
                },
            )
            .await
            .unwrap();
        let (Registered::Created(build) | Registered::Existing(build)) = registered;
        builds.push(build.id);
    }
    engine
        .create_environment(
            &actor,
            "bench",
            "production",
            BackendConfig::Local(LocalConfig::new(data_dir.join("bench-target"))),
            false,
        )
        .await
        .unwrap();
    let step = year / releases.max(1) as i32;
    let history: Vec<PastRelease> = (0..releases)
        .map(|i| PastRelease {
            build_id: builds[i * BUILDS / releases.max(1)],
            kind: if i % 13 == 12 {
                JobKind::Rollback
            } else {
                JobKind::Deploy
            },
            succeeded: i % 17 != 16,
            by: "bench".into(),
            at: now - year + step * i as i32,
            seconds: 60,
        })
        .collect();
    engine
        .import_history(&actor, "bench", "production", &history)
        .await
        .unwrap();
    println!(
        "seeded {releases} releases on bench/production in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    engine.store().pool().close().await;
    engine::time::to_rfc3339(now - chrono::Duration::days(200))[..10].to_owned()
}

async fn time_get(server: &TestServer, auth: &Auth, path: &str, rounds: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let reply = server.get(path, auth).await;
        samples.push(start.elapsed());
        assert!(
            reply.status.is_success(),
            "{path}: {} {}",
            reply.status,
            reply.text
        );
    }
    samples
}

/// Time to the first byte and to the last, and the bytes, of one download.
async fn download(server: &TestServer, auth: &Auth, path: &str) -> (Duration, Duration, usize) {
    use futures::StreamExt;
    let start = Instant::now();
    let response = server
        .request(reqwest::Method::GET, path, auth)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let mut body = response.bytes_stream();
    let mut first = None;
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        if first.is_none() && !chunk.is_empty() {
            first = Some(start.elapsed());
        }
        bytes += chunk.len();
    }
    (first.unwrap_or_default(), start.elapsed(), bytes)
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let audit_rows = env_usize("SLIPWAY_BENCH_AUDIT_ROWS", 1_000_000);
    let releases = env_usize("SLIPWAY_BENCH_RELEASES", 100_000);
    let rounds = env_usize("SLIPWAY_BENCH_ROUNDS", 50);
    let data = tempfile::Builder::new()
        .prefix("slipway-bench-")
        .tempdir()
        .unwrap();
    let day = seed(data.path(), audit_rows, releases).await;
    let server = TestServer::start_in(data).await;
    let session = server.login().await;
    let token = server.token_for("admin", "read");
    let newest_release = server
        .get("/api/apps/bench/envs/production/releases?limit=1", &token)
        .await
        .json()[0]["id"]
        .as_i64()
        .unwrap_or(1);
    let middle = newest_release / 2;
    let week_end = {
        let d = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").unwrap();
        (d + chrono::Days::new(7)).format("%Y-%m-%d").to_string()
    };
    let job = server
        .get("/api/apps/bench/envs/production/releases?limit=1", &token)
        .await
        .json()[0]["job_id"]
        .as_i64()
        .unwrap_or(1);

    println!(
        "\n{audit_rows} audit rows, {releases} releases on bench/production; {rounds} requests each, one at a time\n"
    );
    let env = "app-3/env-2";
    let pages: Vec<(&str, String, &Auth)> = vec![
        ("page  /  (environments)", "/".into(), &session),
        (
            "page  environment (100k releases)",
            "/apps/bench/envs/production".into(),
            &session,
        ),
        ("page  job", format!("/jobs/{job}"), &session),
        ("page  builds", "/builds".into(), &session),
        ("page  requests", "/requests".into(), &session),
        ("page  timeline (week)", "/timeline".into(), &session),
        (
            "page  DORA",
            "/apps/bench/envs/production/insight".into(),
            &session,
        ),
        ("page  audit, no filter", "/audit".into(), &session),
        (
            "page  audit, environment",
            format!("/audit?environment={env}"),
            &session,
        ),
        (
            "page  audit, environment + a week",
            format!("/audit?environment={env}&since={day}&until={week_end}"),
            &session,
        ),
        (
            "page  audit, actor + action + a week",
            format!("/audit?actor=person-7&action=deploy.requested&since={day}&until={week_end}"),
            &session,
        ),
        (
            "api   releases, newest 100",
            "/api/apps/bench/envs/production/releases".into(),
            &token,
        ),
        (
            "api   releases, 100 from the middle",
            format!("/api/apps/bench/envs/production/releases?before={middle}"),
            &token,
        ),
        ("api   apps", "/api/apps".into(), &token),
        ("api   audit, no filter", "/api/audit".into(), &token),
        (
            "api   audit, actor",
            "/api/audit?actor=person-3".into(),
            &token,
        ),
        (
            "api   audit, action",
            "/api/audit?action=job.failed".into(),
            &token,
        ),
        (
            "api   audit, environment",
            format!("/api/audit?environment={env}"),
            &token,
        ),
        (
            "api   audit, dates (a week)",
            format!("/api/audit?since={day}&until={week_end}"),
            &token,
        ),
        (
            "api   audit, environment + dates",
            format!("/api/audit?environment={env}&since={day}&until={week_end}"),
            &token,
        ),
        (
            "api   audit, actor + environment + dates",
            format!("/api/audit?actor=person-12&environment={env}&since={day}&until={week_end}"),
            &token,
        ),
        (
            "api   audit, action + environment",
            format!("/api/audit?action=login&environment={env}"),
            &token,
        ),
        (
            "api   audit, since a day (200 days of rows)",
            format!("/api/audit?since={day}"),
            &token,
        ),
        (
            "api   audit, until a day (165 days of rows)",
            format!("/api/audit?until={day}"),
            &token,
        ),
        (
            "api   audit, a rare actor",
            "/api/audit?actor=nobody".into(),
            &token,
        ),
        (
            "api   timeline (quarter)",
            "/api/timeline?zoom=quarter".into(),
            &token,
        ),
    ];
    let mut worst = ("", Duration::ZERO);
    for (name, path, auth) in &pages {
        let _ = time_get(&server, auth, path, 2).await; // warm
        let p95 = report(name, time_get(&server, auth, path, rounds).await);
        if p95 > worst.1 {
            worst = (name, p95);
        }
    }
    println!("\nslowest p95: {} ({:.2} ms)", worst.0, ms(worst.1));

    let (peak_before, rss_before) = memory_mib(server.pid());
    for (name, path) in [
        (
            "CSV export, one environment",
            format!("/audit.csv?environment={env}"),
        ),
        ("CSV export, the whole log", "/audit.csv".to_owned()),
    ] {
        let (first, total, bytes) = download(&server, &session, &path).await;
        println!(
            "{name:<34} first byte {:>7.2} ms   all {:>9.1} ms   {:>6.1} MiB",
            ms(first),
            ms(total),
            bytes as f64 / 1048576.0
        );
    }
    let (peak_after, rss_after) = memory_mib(server.pid());
    println!(
        "server memory: RSS {rss_before:.1} MiB before the exports, {rss_after:.1} MiB after; peak {peak_before:.1} → {peak_after:.1} MiB"
    );
    drop(server);
}
