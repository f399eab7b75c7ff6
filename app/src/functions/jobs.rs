use leptos::prelude::*;

use crate::error::AppError;

use crate::model::JobDetail;

#[server(prefix = "/fn", endpoint = "get_job")]
pub async fn get_job(id: String) -> Result<JobDetail, AppError> {
    use super::context::{actor, engine, number};
    use super::convert;
    let id = number("id", &id)?;
    let (engine, actor) = (engine()?, actor().await?);
    let view = engine.job_view(&actor, id).await?;
    let policy = engine.deploy_policy(&actor, &view.environment).await?;
    let may_cancel = actor
        .require_on(
            engine::auth::Permission::CancelJob,
            &view.environment,
            &policy.deployers,
        )
        .is_ok();
    let may_deploy = actor
        .require_on(
            engine::auth::Permission::Deploy,
            &view.environment,
            &policy.deployers,
        )
        .is_ok();
    let request = engine.request_of_job(&actor, id).await?;
    let waits_for_someone = view.job.state == engine::domain::JobState::Interrupted
        && view.job.abandoned_by.is_none()
        && view.job.resumed_by_job_id.is_none()
        && view.later_job.is_none();
    let restore = if waits_for_someone && may_deploy {
        engine
            .live_release(&actor, &view.environment)
            .await?
            .map(|live| crate::model::RestoreTarget {
                release_id: live.id,
                release_key: live.release_key,
                commit_sha: live.commit_sha,
                branch: live.branch,
            })
    } else {
        None
    };
    let duration = match (view.job.started_at, view.job.finished_at) {
        (Some(start), Some(end)) => Some(format!(
            "{:.1}s",
            (end - start).num_milliseconds() as f64 / 1000.0
        )),
        _ => None,
    };
    Ok(JobDetail {
        summary: convert::job(&view.job),
        app: view.environment.application.clone(),
        env: view.environment.name.clone(),
        build: convert::build(&view.build),
        release_key: view.release.as_ref().map(|r| r.release_key.clone()),
        started_at: view.job.started_at.map(convert::when),
        finished_at: view.job.finished_at.map(convert::when),
        duration,
        hosts: view.hosts.iter().map(convert::host).collect(),
        events: view.events.iter().map(convert::event).collect(),
        more_events: view.more_events,
        may_cancel,
        cancel_requested_by: view.job.cancel_requested_by.clone(),
        abandoned: view
            .job
            .abandoned_by
            .clone()
            .map(|by| crate::model::Abandoned {
                by,
                at: view.job.abandoned_at.map(convert::when).unwrap_or_default(),
                reason: view.job.abandon_reason.clone().unwrap_or_default(),
            }),
        may_deploy,
        resumes: view.job.resumes_job_id,
        resumed_by: view.job.resumed_by_job_id,
        restore,
        later_job: view.later_job,
        request_id: request.map(|r| r.id),
        approved_by: view.release.as_ref().and_then(|r| r.approved_by.clone()),
    })
}

#[server(prefix = "/fn", endpoint = "cancel_job")]
pub async fn cancel_job(id: String) -> Result<(), AppError> {
    use super::context::{actor, engine, number};
    let id = number("id", &id)?;
    let (engine, actor) = (engine()?, actor().await?);
    engine.cancel_job(&actor, id).await?;
    Ok(())
}

/// Acknowledges an interrupted job and lets it go, saying why.
#[server(prefix = "/fn", endpoint = "abandon_job")]
pub async fn abandon_job(id: String, reason: String) -> Result<(), AppError> {
    use super::context::{actor, engine, number};
    let id = number("id", &id)?;
    let (engine, actor) = (engine()?, actor().await?);
    engine.abandon_job(&actor, id, &reason).await?;
    Ok(())
}

/// Finishes an interrupted job with a new one; answers the new job's id.
#[server(prefix = "/fn", endpoint = "resume_job")]
pub async fn resume_job(id: String) -> Result<i64, AppError> {
    use super::context::{actor, engine, number};
    let id = number("id", &id)?;
    let (engine, actor) = (engine()?, actor().await?);
    Ok(engine.resume_job(&actor, id).await?.id)
}

/// "What will run" if this build is deployed to the environment now.
#[server(prefix = "/fn", endpoint = "deploy_plan")]
pub async fn deploy_plan(
    app: String,
    env: String,
    build_id: String,
) -> Result<Vec<crate::model::PlanStep>, AppError> {
    use super::context::{actor, engine, number};
    let build_id = number("build_id", &build_id)?;
    let (engine, actor) = (engine()?, actor().await?);
    let plan = engine.deploy_plan(&actor, &app, &env, build_id).await?;
    Ok(plan
        .into_iter()
        .map(|l| crate::model::PlanStep {
            phase: l.phase,
            target: l.target,
            action: l.action,
        })
        .collect())
}
