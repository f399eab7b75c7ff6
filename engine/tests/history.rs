//! The sample history the demo can seed (twelve weeks on two locked
//! environments), imported through the store as one transaction with one
//! audit row: the timeline shows every outcome, the DORA weeks are not
//! empty, and an environment with jobs refuses an import.

mod common;

use common::TestEngine;
use engine::demo::{seed_history, HISTORY_APP};
use engine::domain::timeline::{Outcome, Zoom};
use engine::domain::JobKind;
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
