//! Benchmark: the release timeline and DORA metrics over 100,000 releases
//! on 50 environments (10 applications × 5), a year of history, in the
//! real SQLite store — what the timeline page and the DORA page and API
//! ask the engine for, timed end to end through `Engine`.
//!
//! ```text
//! cargo bench -p engine --bench insight
//! ```
//!
//! Prints p50 / p95 / max per question. `SLIPWAY_BENCH_RELEASES` and
//! `SLIPWAY_BENCH_ROUNDS` change the load and the repetitions. Under
//! `cargo test` it does nothing.

use std::time::{Duration, Instant};

use engine::auth::Actor;
use engine::backends::local::LocalConfig;
use engine::backends::BackendConfig;
use engine::domain::timeline::Zoom;
use engine::domain::{JobKind, Role};
use engine::store::builds::Registered;
use engine::store::history::PastRelease;
use engine::{BuildRequest, Engine, EngineSettings};

const APPS: usize = 10;
const ENVS_PER_APP: usize = 5;
const BUILDS_PER_APP: usize = 200;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what:<52} p50 {:>7.2} ms   p95 {:>7.2} ms   max {:>7.2} ms   ({} runs)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        samples.len()
    );
}

async fn time<F, Fut, T>(rounds: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        std::hint::black_box(f().await);
        samples.push(start.elapsed());
    }
    samples
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let releases = env_usize("SLIPWAY_BENCH_RELEASES", 100_000);
    let rounds = env_usize("SLIPWAY_BENCH_ROUNDS", 50);
    let work = tempfile::tempdir().unwrap();
    let settings = EngineSettings {
        database_url: format!("sqlite://{}/bench.db", work.path().display()),
        artifact_roots: vec![work.path().join("artifacts")],
        package_root: work.path().join("repo"),
        state_dir: work.path().join("state"),
        secret_key: engine::secrets::SecretKey::generate(),
    };
    std::fs::create_dir_all(work.path().join("artifacts")).unwrap();
    let tarball = work.path().join("artifacts/app.tar.gz");
    engine::demo::write_demo_tarball(&tarball, "1.0.0").unwrap();
    let engine = Engine::open(&settings).await.unwrap();
    let user = engine
        .store()
        .create_user("bench", "bench", "Bench", Role::Admin)
        .await
        .unwrap();
    let actor = Actor::from(&user);

    let seeding = Instant::now();
    let envs = APPS * ENVS_PER_APP;
    let per_env = releases / envs;
    let now = engine::time::now();
    let year = chrono::Duration::days(365);
    let step = year / per_env as i32;
    for a in 0..APPS {
        let app = format!("app-{a}");
        engine.create_application(&actor, &app, None).await.unwrap();
        let mut builds = Vec::with_capacity(BUILDS_PER_APP);
        for b in 0..BUILDS_PER_APP {
            let registered = engine
                .register_build(
                    &actor,
                    BuildRequest {
                        application: app.clone(),
                        commit_sha: engine::demo::fake_commit_sha(&format!("{app} {b}")),
                        branch: "main".into(),
                        message: format!("change {b}"),
                        author: "bench".into(),
                        artifact: tarball.display().to_string(),
                        committed_at: Some(
                            now - year + step * (b as i32) * (per_env / BUILDS_PER_APP) as i32,
                        ),
                        commits: Vec::new(),
                    },
                )
                .await
                .unwrap();
            let (Registered::Created(build) | Registered::Existing(build)) = registered;
            builds.push(build.id);
        }
        for e in 0..ENVS_PER_APP {
            let env = format!("env-{e}");
            let target = work.path().join(format!("{app}-{env}"));
            engine
                .create_environment(
                    &actor,
                    &app,
                    &env,
                    BackendConfig::Local(LocalConfig::new(target)),
                    false,
                )
                .await
                .unwrap();
            let history: Vec<PastRelease> = (0..per_env)
                .map(|i| PastRelease {
                    build_id: builds[i * BUILDS_PER_APP / per_env],
                    kind: if i % 13 == 12 {
                        JobKind::Rollback
                    } else {
                        JobKind::Deploy
                    },
                    succeeded: i % 17 != 16,
                    by: "bench".into(),
                    at: now - year + step * i as i32 + chrono::Duration::minutes((e * 7) as i64),
                    seconds: 120,
                })
                .collect();
            engine
                .import_history(&actor, &app, &env, &history)
                .await
                .unwrap();
        }
    }
    println!(
        "seeded {} releases on {envs} environments ({APPS} applications) in {:.1} s",
        per_env * envs,
        seeding.elapsed().as_secs_f64()
    );

    for (zoom, label) in [
        (Zoom::Day, "day"),
        (Zoom::Week, "week"),
        (Zoom::Quarter, "quarter"),
    ] {
        let samples = time(rounds, || engine.timeline(&actor, None, zoom, 240)).await;
        report(&format!("timeline, all 50 environments, {label}"), samples);
    }
    let samples = time(rounds, || {
        engine.timeline(&actor, Some("app-3"), Zoom::Quarter, 240)
    })
    .await;
    report(
        "timeline, one application (5 environments), quarter",
        samples,
    );
    let samples = time(rounds, || engine.dora(&actor, "app-3", "env-2", 12, 24)).await;
    report("DORA, one environment, 12 weeks", samples);
    let samples = time(rounds, || engine.dora(&actor, "app-3", "env-2", 104, 24)).await;
    report("DORA, one environment, 104 weeks", samples);
    let samples = time(rounds, || {
        engine.dora_of_application(&actor, "app-3", 12, 24)
    })
    .await;
    report("DORA, one application (5 environments), 12 weeks", samples);
    let env = engine.environment(&actor, "app-3", "env-2").await.unwrap();
    let samples = time(rounds, || engine.releases(&actor, &env, None, 50)).await;
    report("release history page (50 newest of 2,000)", samples);
}
