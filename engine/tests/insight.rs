//! DORA metrics from a real history: deploys that went live through the
//! real runner, a deploy that failed, and builds that say when their commit
//! was made.

mod common;

use chrono::Duration;
use common::{TestEngine, APP, ENV};
use engine::backends::BackendConfig;
use engine::domain::{Build, JobState};
use engine::store::builds::Registered;

async fn build_committed_hours_ago(t: &TestEngine, version: &str, hours: i64) -> Build {
    engine::demo::write_demo_tarball(&t.tarball_path(version), version).expect("tarball");
    let mut request = t.build_request(version);
    request.committed_at = Some(engine::time::now() - Duration::hours(hours));
    match t
        .engine
        .register_build(&t.actor, request)
        .await
        .expect("register")
    {
        Registered::Created(build) => build,
        Registered::Existing(build) => panic!("build #{} existed", build.id),
    }
}

async fn set_hook(t: &TestEngine, hook: Option<&str>) {
    let mut config = t.config();
    config.before_switch = hook.map(str::to_owned);
    t.engine
        .update_environment(&t.actor, APP, ENV, BackendConfig::Local(config), false)
        .await
        .expect("update");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_weeks_deploys_lead_time_failures_and_restore_are_counted() {
    // The week's figures are this week's: start clear of midnight on a
    // Sunday (UTC), so the history does not straddle two weeks.
    let to_next_week = engine::domain::insight::week_of(engine::time::now()) + Duration::weeks(1)
        - engine::time::now();
    if to_next_week < Duration::minutes(2) {
        tokio::time::sleep((to_next_week + Duration::seconds(1)).to_std().unwrap()).await;
    }
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let v1 = build_committed_hours_ago(&t, "1.0.0", 2).await;
    let v2 = build_committed_hours_ago(&t, "2.0.0", 4).await;
    let v3 = build_committed_hours_ago(&t, "3.0.0", 6).await;

    assert_eq!(t.deploy_and_wait(&v1).await.state, JobState::Succeeded);
    set_hook(&t, Some("exit 7")).await;
    let failed = t.deploy_and_wait(&v2).await;
    assert_eq!(failed.state, JobState::Failed);
    set_hook(&t, None).await;
    let restored = t.deploy_and_wait(&v3).await;
    assert_eq!(restored.state, JobState::Succeeded);

    let weeks = t
        .engine
        .dora(&t.actor, APP, ENV, 4, 24)
        .await
        .expect("dora");
    assert_eq!(weeks.len(), 4, "this week and the three before");
    assert!(weeks[..3].iter().all(|w| w.deployments == 0));
    let week = &weeks[3];
    // 1.0.0 and 3.0.0 went live; 2.0.0 never did.
    assert_eq!(week.deployments, 2);
    // Lead times of about 2 h and 6 h: the median of two is their mean, ~4 h.
    let lead = week.lead_time_secs.expect("a lead time");
    assert!((4 * 3600..4 * 3600 + 120).contains(&lead), "{lead}");
    // 1.0.0 was followed by the failed deploy before 3.0.0 went live.
    assert_eq!(week.failed_deployments, 1);
    assert_eq!(week.change_failure_rate, Some(0.5));
    // Restored when 3.0.0 went live, a moment after the failure.
    let restore = week.time_to_restore_secs.expect("a time to restore");
    assert!((0..60).contains(&restore), "{restore}");

    let refused = t.engine.dora(&t.actor, APP, ENV, 0, 24).await.unwrap_err();
    assert_eq!(refused.http_status(), 400);
}
