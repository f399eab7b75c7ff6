use leptos::prelude::*;

use crate::error::AppError;

use crate::model::{Deployed, EnvDetail, EnvForm};

#[server(prefix = "/fn", endpoint = "get_environment")]
pub async fn get_environment(app: String, env: String) -> Result<EnvDetail, AppError> {
    use super::context::{actor, engine};
    use super::convert;
    let (engine, actor) = (engine()?, actor().await?);
    let environment = engine.environment(&actor, &app, &env).await?;
    let engine::EnvironmentActivity {
        activity,
        live,
        recent_jobs,
    } = engine
        .environment_activity(&actor, &environment, 10)
        .await?;
    let releases = engine.releases(&actor, &environment, None, 50).await?;
    let builds = engine.deployable_builds(&actor, &environment, 100).await?;
    let vars = engine.env_vars_masked(&actor, &environment).await?;
    let policy = engine.deploy_policy(&actor, &environment).await?;
    // The windows over it, read once: listed, and what is in force or next.
    let freeze_windows: Vec<_> = engine
        .freeze_windows(&actor, &app)
        .await?
        .into_iter()
        .filter(|window| window.covers(&environment.name))
        .collect();
    let now = engine::time::now();
    let freeze = convert::freeze_state(&engine::FreezeStatus::of(&freeze_windows, now), now);
    let requests = engine.environment_requests(&actor, &environment, 5).await?;
    let promotes_to = engine.promotes_to(&actor, &environment).await?;
    Ok(EnvDetail {
        summary: convert::env_summary(
            &environment,
            live.as_ref(),
            recent_jobs.first(),
            freeze,
            requests
                .iter()
                .map(|view| &view.request)
                .find(|r| r.is_pending()),
        ),
        settings: EnvForm::of(&environment, &policy),
        vars: vars.iter().map(convert::var).collect(),
        releases: releases.iter().map(convert::release).collect(),
        builds: builds.iter().map(convert::build).collect(),
        recent_jobs: recent_jobs.iter().map(convert::job).collect(),
        unsettled: engine::domain::unsettled(recent_jobs.first()),
        activity,
        may: crate::model::MayHere {
            deploy_refused: actor
                .require_on(
                    engine::auth::Permission::Deploy,
                    &environment,
                    &policy.deployers,
                )
                .err()
                .map(|e| e.public_message()),
            manage: actor
                .require(engine::auth::Permission::ManageEnvironments)
                .is_ok(),
            manage_freezes: actor
                .require(engine::auth::Permission::ManageFreezes)
                .is_ok(),
        },
        freeze_windows: freeze_windows.iter().map(convert::freeze_window).collect(),
        requests: requests.iter().map(convert::request_view).collect(),
        promotes_to,
    })
}

/// The "new environment" form, filled with the defaults.
#[server(prefix = "/fn", endpoint = "default_settings")]
pub async fn default_settings(app: String) -> Result<EnvForm, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    // No form for an application that is not there.
    engine.application(&actor, &app).await?;
    Ok(EnvForm::new_environment(&app))
}

/// Creates (when `original` is empty) or updates an environment; returns its name.
#[server(prefix = "/fn", endpoint = "save_environment")]
pub async fn save_environment(
    app: String,
    original: String,
    #[server(flatten)] form: EnvForm,
) -> Result<String, AppError> {
    use super::context::{actor, engine};
    use engine::backends::BackendConfig;
    let (engine, actor) = (engine()?, actor().await?);
    let config = BackendConfig::try_from(&form)?;
    let policy = form.access.policy()?;
    let env = if original.is_empty() {
        engine
            .create_environment(&actor, &app, &form.name, config, policy)
            .await?
    } else {
        engine
            .update_environment(&actor, &app, &original, config, policy)
            .await?
    };
    Ok(env.name)
}

#[server(prefix = "/fn", endpoint = "delete_environment")]
pub async fn delete_environment(app: String, env: String) -> Result<(), AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    Ok(engine.delete_environment(&actor, &app, &env).await?)
}

#[server(prefix = "/fn", endpoint = "lock_environment")]
pub async fn lock_environment(app: String, env: String, reason: String) -> Result<(), AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    Ok(engine.lock(&actor, &app, &env, &reason).await?)
}

#[server(prefix = "/fn", endpoint = "unlock_environment")]
pub async fn unlock_environment(app: String, env: String) -> Result<(), AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    Ok(engine.unlock(&actor, &app, &env).await?)
}

#[server(prefix = "/fn", endpoint = "set_env_var")]
pub async fn set_env_var(
    app: String,
    env: String,
    name: String,
    value: String,
    secret: Option<String>,
) -> Result<(), AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let request = engine::EnvVarRequest {
        name,
        value,
        secret: secret.is_some(),
    };
    Ok(engine.set_env_var(&actor, &app, &env, request).await?)
}

#[server(prefix = "/fn", endpoint = "delete_env_var")]
pub async fn delete_env_var(app: String, env: String, name: String) -> Result<(), AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    Ok(engine.delete_env_var(&actor, &app, &env, &name).await?)
}

/// Deploys a build: a job now, or a request that waits (behind a running
/// job where the environment queues deploys, or until `at`, a wall-clock
/// time `utc_offset_minutes` east of UTC as the browser says). Blank
/// fields count as not given. `freeze_override`: an admin's reason to
/// deploy through a freeze window in force.
#[server(prefix = "/fn", endpoint = "deploy")]
pub async fn deploy(
    app: String,
    env: String,
    build_id: String,
    freeze_override: Option<String>,
    at: Option<String>,
    utc_offset_minutes: Option<String>,
) -> Result<Deployed, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let build_id: i64 = build_id
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("choose a build to deploy"))?;
    let given = |field: Option<String>| field.filter(|text| !text.trim().is_empty());
    let ask = engine::DeployAsk {
        build_id,
        at: match given(at) {
            Some(at) => Some(super::convert::browser_time(
                &at,
                given(utc_offset_minutes).as_deref(),
            )?),
            None => None,
        },
        freeze_override: given(freeze_override),
    };
    let deployment = engine.request_deploy(&actor, &app, &env, &ask).await?;
    Ok(super::convert::deployed(deployment))
}

/// Deploys what is live on `env` to `to`, which takes builds from it.
#[server(prefix = "/fn", endpoint = "promote")]
pub async fn promote(app: String, env: String, to: String) -> Result<Deployed, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let deployment = engine.promote(&actor, &app, &env, &to).await?;
    Ok(super::convert::deployed(deployment))
}

/// Rolls back to an earlier release: a job now, or a request that waits
/// behind a running job where the environment queues deploys.
/// `freeze_override`: an admin's reason to roll back through a freeze
/// window that refuses rollbacks (blank counts as not given).
#[server(prefix = "/fn", endpoint = "rollback")]
pub async fn rollback(
    app: String,
    env: String,
    release_id: String,
    freeze_override: Option<String>,
) -> Result<Deployed, AppError> {
    use super::context::{actor, engine, number};
    let release_id = number("release_id", &release_id)?;
    let (engine, actor) = (engine()?, actor().await?);
    let freeze_override = freeze_override.filter(|reason| !reason.trim().is_empty());
    let deployment = engine
        .request_rollback(&actor, &app, &env, release_id, freeze_override.as_deref())
        .await?;
    Ok(super::convert::deployed(deployment))
}

/// Removes stale deploy locks on an SSH environment's hosts; one line per host.
#[server(prefix = "/fn", endpoint = "break_remote_locks")]
pub async fn break_remote_locks(app: String, env: String) -> Result<Vec<String>, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let reports = engine.break_remote_locks(&actor, &app, &env).await?;
    Ok(reports
        .into_iter()
        .map(|r| match (r.held_by, r.error) {
            (_, Some(error)) => format!("{}: could not check: {error}", r.host),
            (Some(holder), None) => format!("{}: removed the lock held by {holder}", r.host),
            (None, None) => format!("{}: no lock", r.host),
        })
        .collect())
}

/// Reads the listed hosts' public keys (`ssh-keyscan`), for the form's
/// pinned keys. Pins nothing: the admin compares and saves.
#[server(prefix = "/fn", endpoint = "scan_host_keys")]
pub async fn scan_host_keys(
    hosts: String,
    port: String,
) -> Result<Vec<crate::model::ScannedKeys>, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let port: u16 = port
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("port: enter a port number 1-65535"))?;
    let scanned = engine.scan_host_keys(&actor, &hosts, port).await?;
    Ok(scanned
        .into_iter()
        .map(|s| crate::model::ScannedKeys {
            host: s.host,
            known_hosts: s.known_hosts,
            fingerprints: s.fingerprints,
            error: s.error,
        })
        .collect())
}
