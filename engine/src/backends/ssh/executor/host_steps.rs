//! One host's steps: stage, switch, after-switch, switch back, and the
//! clean-ups (discard, unlock, prune) a job ends with.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tracing::{info_span, Instrument};

use super::ArchiveOnce;
use super::{step, Host, HostStep, Shared, SshRun, QUICK_TIMEOUT, STEP_TIMEOUT};
use crate::backends::exec::{At, Echo};
use crate::backends::ssh::plan::{self, LOCKED_EXIT, OWNED_EXIT};
use crate::backends::ssh::transport::{RemoteOutput, Stdin};
use crate::domain::{EventLevel, HostState};

pub(super) async fn stage_host(
    run: &SshRun<'_>,
    host: &Shared,
    archive: &ArchiveOnce,
) -> Result<(), String> {
    let mut h = host.lock().await;
    let layout = &run.layout;
    // Unlocking checks the lock names this job, so it is safe to mark it
    // held before knowing whether the `mkdir` won.
    h.locked = true;
    let locked = if run.spec.reuses_release {
        match restage(run, &mut h, archive).await? {
            Some(prepared) => prepared,
            // Not a failure: the phase ends cancelled (see `two_phases`).
            None => return Ok(()),
        }
    } else {
        // A new release directory: lock, check and upload in one round trip.
        let archive = archive.get(run).await?;
        let upload = archive.transfer();
        let staged = step(
            run,
            &mut h,
            HostStep {
                phase: "stage",
                label: &format!("lock, {upload}"),
                script: run.release_step(plan::lock_and_stage(
                    layout,
                    &run.spec.lock,
                    archive.incoming(),
                    run.spec.env_file.len(),
                )),
                stdin: archive.stdin(&run.spec.env_file),
                timeout: STEP_TIMEOUT,
                echo: Echo::Errors,
            },
        )
        .await;
        // Past the lock and the existence check, whatever is there is this job's.
        h.staged_here = match &staged {
            Ok(_) => true,
            Err(e) => !matches!(e.code, Some(LOCKED_EXIT | OWNED_EXIT | plan::EXISTS_EXIT)),
        };
        staged?
    };
    h.previous = locked
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix(plan::CURRENT_NOTE))
        .filter(|t| !t.trim().is_empty())
        .map(PathBuf::from)
        .and_then(|current| previous_release(current, &run.layout, run.spec.previous_key));
    if let Some(command) = &run.config.before_switch {
        let exports = plan::exports(&run.vars);
        let script = plan::hook(layout, command);
        step(
            run,
            &mut h,
            HostStep {
                phase: "stage",
                label: "before_switch hook",
                script,
                stdin: Stdin::bytes(exports.as_bytes()),
                timeout: STEP_TIMEOUT,
                echo: Echo::Everything,
            },
        )
        .await?;
    }
    Ok(())
}

/// What a host goes back to if the job fails: where `current` pointed
/// before the job, or, where it points at this very release already (an
/// interrupted job switched this host before it died), the release live on
/// the environment before (none before its first release: then `current`
/// goes, as on the hosts never switched).
fn previous_release(
    current: PathBuf,
    layout: &plan::ReleaseLayout,
    live_before: Option<&str>,
) -> Option<PathBuf> {
    if current == layout.release_dir() {
        live_before.map(|key| layout.releases_dir().join(key))
    } else {
        Some(current)
    }
}

/// A rollback's (or a resumed job's) stage: the release may still be staged on the host (then
/// only its `.env` is written again); if not, it is staged anew. `None`:
/// the job was cancelled after the lock.
async fn restage(
    run: &SshRun<'_>,
    h: &mut Host,
    archive: &ArchiveOnce,
) -> Result<Option<RemoteOutput>, String> {
    let layout = &run.layout;
    // The release may still be staged: look before uploading anything.
    let prepared = step(
        run,
        h,
        HostStep {
            phase: "stage",
            label: "lock and prepare",
            script: run.release_step(plan::lock_and_prepare(layout, &run.spec.lock)),
            stdin: Stdin::NONE,
            timeout: QUICK_TIMEOUT,
            echo: Echo::Nothing,
        },
    )
    .await?;
    if run.ctx.cancel.reason().is_some() {
        // Not a failure: the phase ends cancelled (see `two_phases`).
        return Ok(None);
    }
    if prepared.stdout.iter().any(|l| l == "staged") {
        run.report
            .log(
                Some(&h.name),
                EventLevel::Info,
                "release is still staged; reusing it",
            )
            .await;
        // Variables are configuration, not code: the release gets the
        // environment's current ones (a rotated secret stays rotated).
        step(
            run,
            h,
            HostStep {
                phase: "stage",
                label: "write the current .env",
                script: run.release_step(plan::refresh_env(layout, run.spec.env_file.len())),
                stdin: Stdin::bytes(run.spec.env_file.as_bytes()),
                timeout: QUICK_TIMEOUT,
                echo: Echo::Errors,
            },
        )
        .await?;
    } else {
        let archive = match archive.get(run).await {
            Ok(archive) => archive,
            Err(e) => {
                let message = format!("cannot re-stage the release: {e}");
                run.report
                    .journal(
                        &h.name,
                        At::new("stage", "re-stage", h.done),
                        HostState::Failed,
                        Some(&message),
                    )
                    .await;
                return Err(format!("{}: {message}", h.name));
            }
        };
        h.staged_here = true;
        step(
            run,
            h,
            HostStep {
                phase: "stage",
                label: &archive.transfer(),
                script: run.release_step(plan::stage(
                    layout,
                    archive.incoming(),
                    run.spec.env_file.len(),
                )),
                stdin: archive.stdin(&run.spec.env_file),
                timeout: STEP_TIMEOUT,
                echo: Echo::Errors,
            },
        )
        .await?;
    }
    Ok(Some(prepared))
}

pub(super) async fn switch_host(run: &SshRun<'_>, host: &Shared) -> Result<Duration, String> {
    let mut h = host.lock().await;
    // Marked before the step: when its outcome is lost (the connection drops
    // or the step times out after `mv` ran), the host may already serve the
    // new release, so an undo must switch it back and must not remove that
    // release. Switching back a host that never moved changes nothing.
    h.switched = true;
    let started = Instant::now();
    let switched = step(
        run,
        &mut h,
        HostStep {
            phase: "switch",
            label: "switch current",
            script: run.release_step(plan::switch_and_list(&run.layout)),
            stdin: Stdin::NONE,
            timeout: QUICK_TIMEOUT,
            echo: Echo::Nothing,
        },
    )
    .await?;
    h.releases = switched.stdout;
    Ok(started.elapsed())
}

pub(super) async fn after_switch_host(run: &SshRun<'_>, host: &Shared) -> Result<(), String> {
    let mut h = host.lock().await;
    if let Some(command) = &run.config.after_switch {
        h.after_switch_ran = true;
        let exports = plan::exports(&run.vars);
        let script = plan::hook(&run.layout, command);
        step(
            run,
            &mut h,
            HostStep {
                phase: "switch",
                label: "after_switch hook",
                script,
                stdin: Stdin::bytes(exports.as_bytes()),
                timeout: STEP_TIMEOUT,
                echo: Echo::Everything,
            },
        )
        .await?;
    }
    if let Some(command) = &run.config.health_check {
        let exports = plan::exports(&run.vars);
        let script = plan::health_check(&run.layout, command);
        let timeout = Duration::from_secs(run.config.health_timeout_secs);
        step(
            run,
            &mut h,
            HostStep {
                phase: "verify",
                label: "health check",
                script,
                stdin: Stdin::bytes(exports.as_bytes()),
                timeout,
                echo: Echo::Everything,
            },
        )
        .await?;
    }
    Ok(())
}

/// Points `current` back where it was before this job, if this job moved
/// it. `Err` names a host left on the new release.
pub(super) async fn switch_back_host(run: &SshRun<'_>, host: &Shared) -> Result<(), String> {
    let mut h = host.lock().await;
    if !h.switched {
        return Ok(());
    }
    let script = run.release_step(plan::switch_back(&run.layout, h.previous.as_deref()));
    let outcome = match h
        .conn
        .run(&script, Stdin::NONE, QUICK_TIMEOUT, &|_, _| {})
        .instrument(info_span!("host_step", host = %h.name, phase = "undo", step = "switch back"))
        .await
    {
        Ok(out) if out.success => Ok(()),
        Ok(out) => Err(out.reason()),
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(()) => {
            h.switched = false;
            let target = h
                .previous
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "nothing".into());
            let text = format!("switched back to {target}");
            run.report.log(Some(&h.name), EventLevel::Warn, &text).await;
            after_switch_again(run, &mut h).await?;
            undone(run, &h, &text).await;
            Ok(())
        }
        Err(why) => {
            let text = format!("could not switch back: {why}");
            run.report
                .log(Some(&h.name), EventLevel::Error, &text)
                .await;
            run.report
                .journal(
                    &h.name,
                    At::new("undo", "switch back", h.done),
                    HostState::Failed,
                    Some(&text),
                )
                .await;
            Err(format!("{}: {why}", h.name))
        }
    }
}

/// After a switch back, runs `after_switch` again in the release switched
/// back to, if it had run for the new one: what it did (reload a service,
/// say) is redone for the code `current` serves again.
pub(super) async fn after_switch_again(run: &SshRun<'_>, h: &mut Host) -> Result<(), String> {
    let (Some(command), Some(previous), true) = (
        &run.config.after_switch,
        h.previous.clone(),
        h.after_switch_ran,
    ) else {
        return Ok(());
    };
    let exports = plan::exports(&crate::backends::switched_back_vars(&run.vars, &previous));
    step(
        run,
        h,
        HostStep {
            phase: "undo",
            label: "after_switch hook in the previous release",
            script: plan::run_in(&previous, command),
            stdin: Stdin::bytes(exports.as_bytes()),
            timeout: STEP_TIMEOUT,
            echo: Echo::Everything,
        },
    )
    .await
    .map(|_| ())
    .map_err(|e| format!("{} (after switching back)", e.message))
}

/// Removes what this job staged on a host it did not leave switched.
pub(super) async fn discard_staged(run: &SshRun<'_>, host: &Shared) {
    let mut h = host.lock().await;
    if !h.staged_here || h.switched {
        return;
    }
    let removed = h
        .conn
        .run(
            &run.release_step(plan::discard(&run.layout)),
            Stdin::NONE,
            QUICK_TIMEOUT,
            &|_, _| {},
        )
        .instrument(info_span!("host_step", host = %h.name, phase = "undo", step = "discard"))
        .await;
    if matches!(&removed, Ok(out) if out.success) {
        h.staged_here = false;
        run.report
            .log(
                Some(&h.name),
                EventLevel::Info,
                "removed the staged release",
            )
            .await;
        undone(run, &h, "not released: staged release removed").await;
    } else {
        run.report
            .log(
                Some(&h.name),
                EventLevel::Warn,
                "could not remove the staged release",
            )
            .await;
    }
}

/// Journals what was undone on a host: `reverted` when the failure was
/// elsewhere, else still `failed` with its own first failure.
pub(super) async fn undone(run: &SshRun<'_>, h: &Host, what: &str) {
    let (state, error) = match &h.failure {
        None => (HostState::Reverted, None),
        Some(failure) => (HostState::Failed, Some(failure.as_str())),
    };
    run.report
        .journal(&h.name, At::new("undo", what, h.done), state, error)
        .await;
}

pub(super) async fn release_lock(run: &SshRun<'_>, host: &Shared) {
    let mut h = host.lock().await;
    if !h.locked {
        return;
    }
    if let Ok(out) = h
        .conn
        .run(
            &run.release_step(plan::unlock(&run.layout, &run.spec.lock.holder)),
            Stdin::NONE,
            QUICK_TIMEOUT,
            &|_, _| {},
        )
        .await
    {
        if out.success {
            h.locked = false;
        }
    }
}

/// Keep-N from the listing taken at the switch, and the lock released, in one round trip.
pub(super) async fn prune_host(run: &SshRun<'_>, host: &Shared) {
    let mut h = host.lock().await;
    let mut protect = run.spec.protect.clone();
    protect.push(run.layout.release_key.clone());
    let doomed = crate::backends::local::releases_to_prune(
        std::mem::take(&mut h.releases),
        run.config.keep_releases as usize,
        &protect,
    );
    let cleaned = step(
        run,
        &mut h,
        HostStep {
            phase: "cleanup",
            label: "prune and unlock",
            script: run.release_step(plan::prune_and_unlock(
                &run.layout,
                &run.spec.lock.holder,
                &doomed,
            )),
            stdin: Stdin::NONE,
            timeout: QUICK_TIMEOUT,
            echo: Echo::Everything,
        },
    )
    .await;
    if cleaned.is_err() {
        // Still locked: the job's final unlock tries once more.
        return;
    }
    h.locked = false;
    let name = h.name.clone();
    if !doomed.is_empty() {
        run.report
            .log(
                Some(&name),
                EventLevel::Info,
                &format!("pruned {}", doomed.join(", ")),
            )
            .await;
    }
    run.report
        .journal(
            &name,
            At::new("done", "released", run.report.total()),
            HostState::Succeeded,
            None,
        )
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> plan::ReleaseLayout {
        plan::ReleaseLayout {
            deploy_path: PathBuf::from("/srv/app"),
            environment: "app/prod".into(),
            release_key: "20261207-9".into(),
            job_id: 9,
        }
    }

    #[test]
    fn a_host_goes_back_to_where_current_pointed() {
        let before = PathBuf::from("/srv/app/releases/20261201-3");
        assert_eq!(
            previous_release(before.clone(), &layout(), Some("20261201-3")),
            Some(before)
        );
    }

    #[test]
    fn a_host_switched_by_the_interrupted_job_goes_back_to_the_release_live_before() {
        let switched = PathBuf::from("/srv/app/releases/20261207-9");
        assert_eq!(
            previous_release(switched.clone(), &layout(), Some("20261201-3")),
            Some(PathBuf::from("/srv/app/releases/20261201-3"))
        );
        // The environment's first release: no `current` to go back to.
        assert_eq!(previous_release(switched, &layout(), None), None);
    }
}
