//! Runs a local plan step by step, journaling progress and streaming output.
//!
//! Guarantees: nothing before the switch touches `current`; a failure at or
//! after the switch points `current` back where it was; a cancel is honoured
//! until the switch and then the release is finished.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::{info_span, Instrument};

use super::files::{prune, replace_env_file, switch_symlink, write_env_file};
use super::plan::{HookPoint, Plan, Step};
use super::LocalConfig;
use super::HOST_NAME;
use crate::backends::exec::{self, At, Reporter, ShellError, ShellOptions};
use crate::backends::{JobContext, ReleaseSpec, RunFailure};
use crate::domain::settings::local::HealthCheck;
use crate::domain::{EventLevel, HostState};
use crate::runtime::artifacts::{self as artifact, ArtifactPolicy};
use crate::runtime::CancelSignal;

const HOOK_TIMEOUT: Duration = Duration::from_secs(600);
const ENV_FILE_NAME: &str = ".env";

/// Everything a run needs besides the plan.
pub struct LocalRun<'a> {
    pub report: Reporter<'a>,
    pub cancel: CancelSignal,
    pub artifacts: &'a ArtifactPolicy,
    /// Variables given to hooks and health-check commands (SLIPWAY_* and the environment's own).
    pub hook_env: Vec<(String, String)>,
    /// Contents of the release's env file.
    pub env_file: String,
}

/// The local backend's entry: plans the release and runs the plan.
pub async fn release(
    config: &LocalConfig,
    ctx: &JobContext<'_>,
    spec: &ReleaseSpec<'_>,
) -> Result<(), RunFailure> {
    let plan = super::plan(&super::PlanRequest {
        config,
        release_key: spec.release_key,
        artifact: spec.artifact,
        reuses_release: spec.reuses_release,
        protect: spec.protect.clone(),
    });
    let run = LocalRun {
        report: Reporter::new(ctx.emitter, plan.steps.len() as i64),
        cancel: ctx.cancel.clone(),
        artifacts: ctx.artifacts,
        hook_env: spec.vars_with_paths(&config.target_dir),
        env_file: spec.env_file.clone(),
    };
    run_plan(&plan, run).await
}

/// What a run has changed so far, so a failure can undo it.
#[derive(Default)]
struct Undo {
    /// Set once `current` was switched: where it pointed before (if anywhere).
    switched_from: Option<Option<PathBuf>>,
    /// A release directory this run created (not one it reused).
    staged_here: Option<PathBuf>,
    /// `after_switch` started: a switch back must run it again.
    after_switch_ran: bool,
}

pub async fn run_plan(plan: &Plan, run: LocalRun<'_>) -> Result<(), RunFailure> {
    let total = plan.steps.len() as i64;
    let mut undo = Undo::default();
    for (index, step) in plan.steps.iter().enumerate() {
        let phase = step.phase().as_str();
        let label = step.describe();
        if undo.switched_from.is_none() {
            if let Some(reason) = run.cancel.reason() {
                run.report
                    .journal(
                        HOST_NAME,
                        At::new(phase, &label, index as i64),
                        HostState::Cancelled,
                        Some(&reason),
                    )
                    .await;
                return Err(RunFailure::Cancelled(reason));
            }
        }
        run.report
            .journal(
                HOST_NAME,
                At::new(phase, &label, index as i64),
                HostState::Running,
                None,
            )
            .await;
        run.report
            .log(
                Some(HOST_NAME),
                EventLevel::Info,
                &format!("[{phase}] {label}"),
            )
            .await;
        let started = std::time::Instant::now();
        let result = run_step(step, &run, &mut undo)
            .instrument(info_span!(
                "host_step",
                host = HOST_NAME,
                phase,
                step = index
            ))
            .await;
        match result {
            Ok(()) => {
                run.report
                    .log(
                        Some(HOST_NAME),
                        EventLevel::Info,
                        &format!("[{phase}] done in {:.1}s", started.elapsed().as_secs_f64()),
                    )
                    .await;
            }
            Err(failure) => {
                let message = failure.to_string();
                run.report
                    .log(
                        Some(HOST_NAME),
                        EventLevel::Error,
                        &format!("[{phase}] failed: {message}"),
                    )
                    .await;
                undo_failed_release(plan, &run, &mut undo).await;
                let state = if matches!(failure, RunFailure::Cancelled(_)) {
                    HostState::Cancelled
                } else {
                    HostState::Failed
                };
                run.report
                    .journal(
                        HOST_NAME,
                        At::new(phase, &label, index as i64),
                        state,
                        Some(&message),
                    )
                    .await;
                return Err(failure);
            }
        }
    }
    run.report
        .journal(
            HOST_NAME,
            At::new("done", "released", total),
            HostState::Succeeded,
            None,
        )
        .await;
    Ok(())
}

/// After a failed step: `current` back where it was (if the job switched
/// it), and the release directory removed if it never went live — it would
/// only take a place from a release that can be rolled back to.
async fn undo_failed_release(plan: &Plan, run: &LocalRun<'_>, undo: &mut Undo) {
    if let Some(previous) = undo.switched_from.take() {
        restore_current(plan, run, previous.as_deref(), undo.after_switch_ran).await;
    }
    let live_target = plan.steps.iter().find_map(|s| match s {
        Step::Switch { current_link, .. } => std::fs::read_link(current_link).ok(),
        _ => None,
    });
    if let Some(dir) = undo
        .staged_here
        .take()
        .filter(|d| live_target.as_ref() != Some(d))
    {
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {
                run.report
                    .log(
                        Some(HOST_NAME),
                        EventLevel::Info,
                        &format!("removed {}", dir.display()),
                    )
                    .await
            }
            Err(e) => {
                run.report
                    .log(
                        Some(HOST_NAME),
                        EventLevel::Warn,
                        &format!("could not remove {}: {e}", dir.display()),
                    )
                    .await
            }
        }
    }
}

async fn run_step(step: &Step, run: &LocalRun<'_>, undo: &mut Undo) -> Result<(), RunFailure> {
    match step {
        Step::EnsureLayout { releases_dir } => tokio::fs::create_dir_all(releases_dir)
            .await
            .map_err(|e| failed(format!("cannot create {}: {e}", releases_dir.display()))),
        Step::Stage {
            artifact,
            release_dir,
            reuse_existing,
        } => {
            let created = stage(run, artifact, release_dir, *reuse_existing).await?;
            if created {
                undo.staged_here = Some(release_dir.clone());
            }
            Ok(())
        }
        Step::Hook {
            point,
            command,
            release_dir,
        } => {
            let cancel = if *point == HookPoint::BeforeSwitch {
                Some(run.cancel.clone())
            } else {
                undo.after_switch_ran = true;
                None
            };
            run_command(
                run,
                command,
                release_dir,
                &run.hook_env,
                HOOK_TIMEOUT,
                cancel,
            )
            .await
            .map_err(|e| match e {
                RunFailure::Failed(why) => failed(format!("{} hook failed: {why}", point.as_str())),
                other => other,
            })
        }
        Step::Switch {
            current_link,
            release_dir,
        } => {
            let previous = std::fs::read_link(current_link).ok();
            switch_symlink(current_link, release_dir)
                .map_err(|e| failed(format!("switch failed: {e}")))?;
            undo.switched_from = Some(previous);
            Ok(())
        }
        Step::HealthCheck { check, release_dir } => health_check(run, check, release_dir).await,
        Step::Prune {
            releases_dir,
            keep,
            protect,
        } => {
            match prune(releases_dir, *keep, protect) {
                Ok(removed) => {
                    for name in removed {
                        run.report
                            .log(
                                Some(HOST_NAME),
                                EventLevel::Info,
                                &format!("pruned release {name}"),
                            )
                            .await;
                    }
                }
                // The release is live; a failed clean-up is a warning, not a failed deploy.
                Err(e) => {
                    run.report
                        .log(
                            Some(HOST_NAME),
                            EventLevel::Warn,
                            &format!("could not prune old releases: {e}"),
                        )
                        .await
                }
            }
            Ok(())
        }
    }
}

fn failed(message: impl Into<String>) -> RunFailure {
    RunFailure::Failed(message.into())
}

async fn stage(
    run: &LocalRun<'_>,
    artifact: &str,
    release_dir: &Path,
    reuse_existing: bool,
) -> Result<bool, RunFailure> {
    if release_dir.exists() {
        if reuse_existing {
            run.report
                .log(
                    Some(HOST_NAME),
                    EventLevel::Info,
                    "release is still staged; reusing it",
                )
                .await;
            // Variables are configuration, not code: the release gets the
            // environment's current ones (a rotated secret stays rotated).
            replace_env_file(&release_dir.join(ENV_FILE_NAME), &run.env_file)
                .map_err(|e| failed(format!("cannot write the env file: {e}")))?;
            return Ok(false);
        }
        return Err(failed(format!("{} already exists", release_dir.display())));
    }
    let source = run
        .artifacts
        .resolve(artifact)
        .map_err(|e| failed(format!("artifact refused: {}", e.message)))?;
    let Some(name) = release_dir.file_name() else {
        return Err(failed("release directory has no name"));
    };
    let partial = release_dir.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let _ = tokio::fs::remove_dir_all(&partial).await;
    tokio::fs::create_dir_all(&partial)
        .await
        .map_err(|e| failed(format!("cannot create {}: {e}", partial.display())))?;
    let result = async {
        artifact::unpack_into(&source, &partial)
            .await
            .map_err(|e| failed(e.to_string()))?;
        write_env_file(&partial.join(ENV_FILE_NAME), &run.env_file).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                failed(crate::backends::ARTIFACT_HAS_ENV_FILE)
            } else {
                failed(format!("cannot write the env file: {e}"))
            }
        })?;
        tokio::fs::rename(&partial, release_dir)
            .await
            .map_err(|e| failed(format!("cannot move the staged release into place: {e}")))
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_dir_all(&partial).await;
    }
    result.map(|()| true)
}

/// Points `current` back at `previous` (or removes it), and if
/// `after_switch` had run for the new release, runs it again in `previous`:
/// what it did (reload a service, say) is redone for the code served again.
async fn restore_current(
    plan: &Plan,
    run: &LocalRun<'_>,
    previous: Option<&Path>,
    after_switch_ran: bool,
) {
    let Some(current) = plan.steps.iter().find_map(|s| match s {
        Step::Switch { current_link, .. } => Some(current_link.clone()),
        _ => None,
    }) else {
        return;
    };
    let result = match previous {
        Some(target) => switch_symlink(&current, target)
            .map(|_| format!("switched current back to {}", target.display())),
        None => std::fs::remove_file(&current)
            .map(|_| "removed current (there was no earlier release)".to_owned()),
    };
    match result {
        Ok(message) => {
            run.report
                .log(Some(HOST_NAME), EventLevel::Warn, &message)
                .await
        }
        Err(e) => {
            run.report
                .log(
                    Some(HOST_NAME),
                    EventLevel::Error,
                    &format!("could not restore current: {e}"),
                )
                .await;
            return;
        }
    }
    let after_switch = plan.steps.iter().find_map(|s| match s {
        Step::Hook {
            point: HookPoint::AfterSwitch,
            command,
            ..
        } => Some(command),
        _ => None,
    });
    if let (Some(command), Some(previous), true) = (after_switch, previous, after_switch_ran) {
        run.report
            .log(
                Some(HOST_NAME),
                EventLevel::Info,
                "[undo] after_switch hook in the previous release",
            )
            .await;
        let vars = crate::backends::switched_back_vars(&run.hook_env, previous);
        if let Err(e) = run_command(run, command, previous, &vars, HOOK_TIMEOUT, None)
            .instrument(info_span!("host_step", host = HOST_NAME, phase = "undo"))
            .await
        {
            run.report
                .log(
                    Some(HOST_NAME),
                    EventLevel::Error,
                    &format!("after_switch failed in the previous release: {e}"),
                )
                .await;
        }
    }
}

async fn health_check(
    run: &LocalRun<'_>,
    check: &HealthCheck,
    release_dir: &Path,
) -> Result<(), RunFailure> {
    match check {
        HealthCheck::Command {
            command,
            timeout_secs,
        } => run_command(
            run,
            command,
            release_dir,
            &run.hook_env,
            Duration::from_secs(*timeout_secs),
            None,
        )
        .await
        .map_err(|e| failed(format!("health check failed: {e}"))),
        HealthCheck::Http { url, timeout_secs } => {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(*timeout_secs);
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| failed(format!("health check failed: {e}")))?;
            let mut last_problem = String::from("no answer");
            while tokio::time::Instant::now() < deadline {
                match client.get(url).send().await {
                    Ok(resp) if resp.status().is_success() => {
                        run.report
                            .log(
                                Some(HOST_NAME),
                                EventLevel::Info,
                                &format!("GET {url} answered {}", resp.status()),
                            )
                            .await;
                        return Ok(());
                    }
                    Ok(resp) => last_problem = format!("answered {}", resp.status()),
                    Err(e) => last_problem = e.to_string(),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(failed(format!(
                "health check failed: GET {url} {last_problem} (gave up after {timeout_secs}s)"
            )))
        }
    }
}

/// Runs `sh -c command` in `dir` with a clean environment plus the hook
/// variables, streaming its output as events.
async fn run_command(
    run: &LocalRun<'_>,
    command: &str,
    dir: &Path,
    vars: &[(String, String)],
    timeout: Duration,
    cancel: Option<CancelSignal>,
) -> Result<(), RunFailure> {
    let (on_line, forward) = exec::line_forwarder(&run.report, HOST_NAME, exec::Echo::Everything);
    let options = ShellOptions {
        dir: Some(dir),
        vars,
    };
    let work = async {
        let ran = exec::run_sh(command, options, timeout, cancel, &on_line).await;
        drop(on_line);
        ran
    };
    let (ran, ()) = tokio::join!(work, forward);
    match ran {
        Ok(output) if output.success => Ok(()),
        Ok(output) => Err(failed(match output.code {
            Some(code) => format!("exited with status {code}"),
            None => "killed by a signal".to_owned(),
        })),
        Err(ShellError::Cancelled(reason)) => Err(RunFailure::Cancelled(reason)),
        Err(e) => Err(failed(e.to_string())),
    }
}

#[cfg(test)]
mod tests;
