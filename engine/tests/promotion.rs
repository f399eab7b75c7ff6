//! Promotion against a real SQLite file and the real runner: production
//! takes builds only from staging — those that went live there, with which
//! no job failed there since. Its deploy picker offers only those; a deploy
//! of another is refused naming the rule; Promote deploys staging's live
//! build; a rollback is not held to the rule.

mod common;

use common::{TestEngine, APP, ENV};
use engine::auth::DeployPolicy;
use engine::backends::local::LocalConfig;
use engine::backends::BackendConfig;
use engine::domain::{AppName, Build, Deployment, EnvName, JobState};
use engine::DeployAsk;

const STAGING: &str = "staging";

fn staging_config(t: &TestEngine, hook: Option<&str>) -> BackendConfig {
    let mut config = LocalConfig::new(t.path().join("staging-target"));
    config.before_switch = hook.map(str::to_owned);
    BackendConfig::Local(config)
}

async fn set_staging_hook(t: &TestEngine, hook: Option<&str>) {
    t.engine
        .update_environment(&t.actor, APP, STAGING, staging_config(t, hook), false)
        .await
        .expect("update staging");
}

async fn deploy_to(
    t: &TestEngine,
    env: &str,
    build: &Build,
) -> engine::Result<engine::domain::Job> {
    t.engine.deploy(&t.actor, APP, env, build.id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_takes_only_builds_that_went_live_on_staging() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.engine
        .create_environment(&t.actor, APP, STAGING, staging_config(&t, None), false)
        .await
        .expect("create staging");
    let policy = DeployPolicy {
        promotes_from: Some(EnvName::parse(STAGING).unwrap()),
        ..DeployPolicy::default()
    };
    t.engine
        .update_environment(&t.actor, APP, ENV, BackendConfig::Local(t.config()), policy)
        .await
        .expect("production promotes from staging");
    t.start_runner();
    let good = t.register_version("1.0.0").await;
    let broken = t.register_version("2.0.0").await;

    // Nothing went live on staging yet: production is offered nothing, and
    // a deploy is refused naming the rule.
    let production = t
        .engine
        .store()
        .environment(&AppName::parse(APP).unwrap(), &EnvName::parse(ENV).unwrap())
        .await
        .unwrap();
    assert!(t
        .engine
        .deployable_builds(&t.actor, &production, 100)
        .await
        .unwrap()
        .is_empty());
    let refused = deploy_to(&t, ENV, &good).await.unwrap_err();
    assert_eq!(refused.http_status(), 409);
    let message = refused.to_string();
    assert!(
        message.contains("takes builds only from shop/staging")
            && message.contains("never went live there"),
        "{message}"
    );

    // 1.0.0 goes live on staging; 2.0.0 fails there.
    let job = t
        .wait_finished(deploy_to(&t, STAGING, &good).await.unwrap().id)
        .await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    set_staging_hook(&t, Some("exit 3")).await;
    let failed = t
        .wait_finished(deploy_to(&t, STAGING, &broken).await.unwrap().id)
        .await;
    assert_eq!(failed.state, JobState::Failed);
    set_staging_hook(&t, None).await;

    let offered: Vec<i64> = t
        .engine
        .deployable_builds(&t.actor, &production, 100)
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(offered, vec![good.id]);
    let refused = deploy_to(&t, ENV, &broken).await.unwrap_err().to_string();
    assert!(
        refused.contains(&format!("job #{} with it failed there", failed.id)),
        "{refused}"
    );
    assert_eq!(t.count("deploy_requests").await, 0);

    // Promote: what is live on staging goes to production.
    let promoted = match t.engine.promote(&t.actor, APP, STAGING, ENV).await.unwrap() {
        Deployment::Started(job) => job,
        Deployment::Waiting(request) => panic!("waits: {request:?}"),
    };
    assert_eq!(promoted.build_id, good.id);
    let promoted = t.wait_finished(promoted.id).await;
    assert_eq!(promoted.state, JobState::Succeeded, "{:?}", promoted.error);
    assert!(t.current_index().contains("version 1.0.0"));
    // Staging does not promote to itself, nor production to staging.
    let wrong = t
        .engine
        .promote(&t.actor, APP, ENV, STAGING)
        .await
        .unwrap_err();
    assert_eq!(wrong.http_status(), 400, "{wrong}");

    // A job with 1.0.0 failing on staging later withdraws it.
    set_staging_hook(&t, Some("exit 4")).await;
    let ask = DeployAsk {
        build_id: good.id,
        ..DeployAsk::default()
    };
    let redeploy = match t
        .engine
        .request_deploy(&t.actor, APP, STAGING, &ask)
        .await
        .unwrap()
    {
        Deployment::Started(job) => job,
        Deployment::Waiting(request) => panic!("waits: {request:?}"),
    };
    assert_eq!(t.wait_finished(redeploy.id).await.state, JobState::Failed);
    assert!(t
        .engine
        .deployable_builds(&t.actor, &production, 100)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_cannot_promote_from_itself_or_in_a_circle() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.engine
        .create_environment(&t.actor, APP, STAGING, staging_config(&t, None), false)
        .await
        .expect("create staging");
    let from = |name: &str| DeployPolicy {
        promotes_from: Some(EnvName::parse(name).unwrap()),
        ..DeployPolicy::default()
    };
    t.engine
        .update_environment(
            &t.actor,
            APP,
            ENV,
            BackendConfig::Local(t.config()),
            from(STAGING),
        )
        .await
        .unwrap();
    for (env, config, source) in [
        (STAGING, staging_config(&t, None), ENV),
        (STAGING, staging_config(&t, None), STAGING),
        (STAGING, staging_config(&t, None), "nowhere"),
    ] {
        let refused = t
            .engine
            .update_environment(&t.actor, APP, env, config, from(source))
            .await
            .unwrap_err();
        assert_eq!(refused.http_status(), 400, "{source}: {refused}");
    }
}
