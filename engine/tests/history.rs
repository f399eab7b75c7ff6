//! The sample history the demo can seed (twelve weeks on two locked
//! environments), imported through the store as one transaction with one
//! audit row: the timeline shows every outcome, the DORA weeks are not
//! empty, and an environment with jobs refuses an import.

mod common;

use common::TestEngine;
use engine::demo::{seed_history, HISTORY_APP};
use engine::domain::timeline::{self, Lane, Outcome, Timeline, TimelineRelease, Zoom};
use engine::domain::{JobKind, JobState, ReleaseState};
use engine::store::history::PastRelease;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_history_fills_the_timeline_and_the_dora_weeks() {
    let t = TestEngine::new().await;
    let seeded = seed_history(
        &t.engine,
        &t.actor,
        t.path(),
        &t.artifacts_dir().join("demo"),
    )
    .await
    .expect("seed the history");
    assert!(seeded);
    let again = seed_history(
        &t.engine,
        &t.actor,
        t.path(),
        &t.artifacts_dir().join("demo"),
    )
    .await
    .expect("a second seed");
    assert!(!again, "seeded once");

    let timeline = t
        .engine
        .timeline(&t.actor, Some(HISTORY_APP), Zoom::Quarter, 240)
        .await
        .expect("the timeline");
    let lanes: Vec<&str> = timeline
        .lanes
        .iter()
        .map(|l| l.environment.as_str())
        .collect();
    assert_eq!(lanes, ["storefront/production", "storefront/staging"]);
    let outcomes: std::collections::BTreeSet<Outcome> = timeline
        .lanes
        .iter()
        .flat_map(|l| l.marks.iter().map(|m| m.outcome))
        .collect();
    for outcome in [
        Outcome::Live,
        Outcome::Superseded,
        Outcome::Failed,
        Outcome::RolledBack,
    ] {
        assert!(
            outcomes.contains(&outcome),
            "{outcome:?} missing: {outcomes:?}"
        );
    }
    assert!(timeline.releases > 50, "{} releases", timeline.releases);
    for (zoom, columns) in [
        (Zoom::Quarter, 240),
        (Zoom::Quarter, 10),
        (Zoom::Week, 2000),
    ] {
        let timeline = t
            .engine
            .timeline(&t.actor, None, zoom, columns)
            .await
            .expect("the timeline");
        let expected = reference_lanes(&t, &timeline).await;
        // SQLite's julianday() may land a millisecond off.
        let near = |a: &Lane, b: &Lane| {
            a.environment == b.environment
                && a.marks.len() == b.marks.len()
                && a.marks.iter().zip(&b.marks).all(|(a, b)| {
                    (a.column, a.outcome, a.releases, a.job_id)
                        == (b.column, b.outcome, b.releases, b.job_id)
                        && (a.at - b.at).num_milliseconds().abs() <= 1
                })
        };
        assert!(
            timeline.lanes.len() == expected.len()
                && timeline
                    .lanes
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| near(a, b)),
            "{zoom:?} in {columns} columns:\n{:?}\n{expected:?}",
            timeline.lanes
        );
    }

    let weeks = t
        .engine
        .dora(&t.actor, HISTORY_APP, "production", 12, 24)
        .await
        .expect("DORA weeks");
    let with_deploys = weeks.iter().filter(|w| w.deployments > 0).count();
    assert!(
        with_deploys >= 10,
        "{with_deploys} of 12 weeks have deploys"
    );
    assert!(weeks
        .iter()
        .any(|w| w.change_failure_rate.is_some_and(|r| r > 0.0)));
    assert!(weeks.iter().any(|w| w.lead_time_secs.is_some()));

    // Locked, and said so; an environment with jobs takes no import.
    let env = t
        .engine
        .store()
        .environment(
            &engine::domain::AppName::parse(HISTORY_APP).unwrap(),
            &engine::domain::EnvName::parse("production").unwrap(),
        )
        .await
        .expect("production");
    assert!(env.lock.is_some());
    let build = t
        .engine
        .store()
        .releases(env.id, None, 1)
        .await
        .expect("releases")[0]
        .build_id;
    let refused = t
        .engine
        .import_history(
            &t.actor,
            HISTORY_APP,
            "production",
            &[PastRelease {
                build_id: build,
                kind: JobKind::Deploy,
                succeeded: true,
                by: "x".into(),
                at: engine::time::now(),
                seconds: 1,
            }],
        )
        .await;
    assert!(
        matches!(refused, Err(engine::Error::Conflict(_))),
        "{refused:?}"
    );
    let imported = t.audit_actions_after(0).await;
    assert_eq!(
        imported.iter().filter(|a| *a == "history.imported").count(),
        2,
        "one audit row per import"
    );
}

/// The timeline's lanes as [`timeline::lanes`] defines them, from every
/// release of the span read one by one: what the store's packed query
/// must agree with.
async fn reference_lanes(t: &TestEngine, shown: &Timeline) -> Vec<Lane> {
    type Row = (
        String,
        i64,
        chrono::DateTime<chrono::Utc>,
        ReleaseState,
        JobState,
        JobKind,
        i64,
    );
    let rows: Vec<Row> = engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query_as(
        "SELECT a.name || '/' || e.name, r.environment_id, r.created_at, r.state, j.state, r.kind, r.job_id
         FROM releases r JOIN jobs j ON j.id = r.job_id
         JOIN environments e ON e.id = r.environment_id JOIN applications a ON a.id = e.application_id
         WHERE r.created_at >= $1 AND r.created_at <= $2
         ORDER BY r.environment_id, r.id",
    )
    .bind(shown.from)
    .bind(shown.to)
    .fetch_all(pool)
    .await)
    .expect("every release of the span");
    let releases: Vec<TimelineRelease> = rows
        .iter()
        .enumerate()
        .map(|(i, (environment, env, at, state, job, _, job_id))| {
            let next = rows
                .get(i + 1)
                .filter(|next| next.1 == *env)
                .map(|next| next.5);
            TimelineRelease {
                environment: environment.clone(),
                at: *at,
                outcome: Outcome::of(*state, *job, next),
                job_id: *job_id,
            }
        })
        .collect();
    assert_eq!(shown.releases, releases.len());
    timeline::lanes(&releases, shown.from, shown.to, shown.columns)
}
