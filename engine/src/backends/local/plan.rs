//! The plan of a local deploy or rollback: pure data, built without touching
//! the disk, so it can be tested and shown before anything runs.

use std::path::{Path, PathBuf};

use crate::domain::settings::local::{HealthCheck, LocalConfig};

/// The phases of a release, in order. A failure before `Switch` leaves
/// `current` untouched; a failure from `Switch` on switches back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Stage,
    Switch,
    Verify,
    Cleanup,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Stage => "stage",
            Phase::Switch => "switch",
            Phase::Verify => "verify",
            Phase::Cleanup => "cleanup",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookPoint {
    BeforeSwitch,
    AfterSwitch,
}

impl HookPoint {
    pub fn as_str(self) -> &'static str {
        match self {
            HookPoint::BeforeSwitch => "before_switch",
            HookPoint::AfterSwitch => "after_switch",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Create `releases/` if it is missing.
    EnsureLayout { releases_dir: PathBuf },
    /// Put the artifact in `release_dir` (via a temporary sibling, renamed
    /// into place) with the environment file. With `reuse_existing`, an
    /// already staged directory is kept (rollback).
    Stage {
        artifact: String,
        release_dir: PathBuf,
        reuse_existing: bool,
    },
    Hook {
        point: HookPoint,
        command: String,
        release_dir: PathBuf,
    },
    /// Point `current` at `release_dir` atomically (symlink + rename).
    Switch {
        current_link: PathBuf,
        release_dir: PathBuf,
    },
    HealthCheck {
        check: HealthCheck,
        release_dir: PathBuf,
    },
    /// Remove old release directories beyond `keep`, never those in `protect`.
    Prune {
        releases_dir: PathBuf,
        keep: usize,
        protect: Vec<String>,
    },
}

impl Step {
    pub fn phase(&self) -> Phase {
        match self {
            Step::EnsureLayout { .. } | Step::Stage { .. } => Phase::Stage,
            Step::Hook {
                point: HookPoint::BeforeSwitch,
                ..
            } => Phase::Stage,
            Step::Switch { .. }
            | Step::Hook {
                point: HookPoint::AfterSwitch,
                ..
            } => Phase::Switch,
            Step::HealthCheck { .. } => Phase::Verify,
            Step::Prune { .. } => Phase::Cleanup,
        }
    }

    /// A one-line description for logs and the plan view.
    pub fn describe(&self) -> String {
        match self {
            Step::EnsureLayout { releases_dir } => format!("ensure {}", releases_dir.display()),
            Step::Stage {
                artifact,
                release_dir,
                reuse_existing,
            } => {
                let mode = if *reuse_existing {
                    " (re-stage if pruned)"
                } else {
                    ""
                };
                format!(
                    "stage {} into {}{mode}",
                    crate::domain::artifact::shown(artifact),
                    release_dir.display()
                )
            }
            Step::Hook { point, command, .. } => format!("{} hook: {command}", point.as_str()),
            Step::Switch {
                current_link,
                release_dir,
            } => {
                format!(
                    "switch {} -> {}",
                    current_link.display(),
                    release_dir.display()
                )
            }
            Step::HealthCheck { check, .. } => match check {
                HealthCheck::Command {
                    command,
                    timeout_secs,
                } => {
                    format!("health check: {command} (timeout {timeout_secs}s)")
                }
                HealthCheck::Http { url, timeout_secs } => {
                    format!("health check: GET {url} (timeout {timeout_secs}s)")
                }
            },
            Step::Prune { keep, .. } => format!("keep the last {keep} releases"),
        }
    }

    /// True for steps after which `current` points at the new release.
    pub fn switches(&self) -> bool {
        matches!(self, Step::Switch { .. })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
}

/// What the plan needs to know about the job.
#[derive(Clone, Debug)]
pub struct PlanRequest<'a> {
    pub config: &'a LocalConfig,
    pub release_key: &'a str,
    pub artifact: &'a str,
    pub reuses_release: bool,
    /// Release keys that must survive pruning (the rollback target).
    pub protect: Vec<String>,
}

pub fn releases_dir(target: &Path) -> PathBuf {
    target.join("releases")
}

pub fn current_link(target: &Path) -> PathBuf {
    target.join("current")
}

pub fn plan(req: &PlanRequest<'_>) -> Plan {
    let target = &req.config.target_dir;
    let releases = releases_dir(target);
    let release_dir = releases.join(req.release_key);
    let mut steps = vec![
        Step::EnsureLayout {
            releases_dir: releases.clone(),
        },
        Step::Stage {
            artifact: req.artifact.to_owned(),
            release_dir: release_dir.clone(),
            reuse_existing: req.reuses_release,
        },
    ];
    if let Some(command) = &req.config.before_switch {
        steps.push(Step::Hook {
            point: HookPoint::BeforeSwitch,
            command: command.clone(),
            release_dir: release_dir.clone(),
        });
    }
    steps.push(Step::Switch {
        current_link: current_link(target),
        release_dir: release_dir.clone(),
    });
    if let Some(command) = &req.config.after_switch {
        steps.push(Step::Hook {
            point: HookPoint::AfterSwitch,
            command: command.clone(),
            release_dir: release_dir.clone(),
        });
    }
    if let Some(check) = &req.config.health_check {
        steps.push(Step::HealthCheck {
            check: check.clone(),
            release_dir: release_dir.clone(),
        });
    }
    let mut protect = req.protect.clone();
    protect.push(req.release_key.to_owned());
    steps.push(Step::Prune {
        releases_dir: releases,
        keep: req.config.keep_releases as usize,
        protect,
    });
    Plan { steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LocalConfig {
        let mut c = LocalConfig::new("/srv/shop");
        c.before_switch = Some("make migrate".into());
        c.after_switch = Some("touch restart.txt".into());
        c.health_check = Some(HealthCheck::Command {
            command: "true".into(),
            timeout_secs: 5,
        });
        c
    }

    #[test]
    fn a_deploy_stages_hooks_switches_checks_and_prunes_in_that_order() {
        let config = config();
        let plan = plan(&PlanRequest {
            config: &config,
            release_key: "20261122120000-7",
            artifact: "/data/artifacts/shop.tar.gz",
            reuses_release: false,
            protect: vec!["20261121120000-6".into()],
        });
        let phases: Vec<_> = plan.steps.iter().map(|s| s.phase().as_str()).collect();
        assert_eq!(
            phases,
            ["stage", "stage", "stage", "switch", "switch", "verify", "cleanup"]
        );
        assert!(
            matches!(&plan.steps[1], Step::Stage { reuse_existing: false, release_dir, .. }
            if release_dir == Path::new("/srv/shop/releases/20261122120000-7"))
        );
        assert!(
            matches!(&plan.steps[6], Step::Prune { keep: 5, protect, .. }
            if protect == &vec!["20261121120000-6".to_string(), "20261122120000-7".to_string()])
        );
    }

    #[test]
    fn the_switch_comes_only_after_every_stage_step() {
        let config = config();
        let plan = plan(&PlanRequest {
            config: &config,
            release_key: "k",
            artifact: "a",
            reuses_release: true,
            protect: vec![],
        });
        let switch_at = plan.steps.iter().position(Step::switches).unwrap();
        assert!(plan.steps[..switch_at]
            .iter()
            .all(|s| s.phase() == Phase::Stage));
        assert!(matches!(
            &plan.steps[1],
            Step::Stage {
                reuse_existing: true,
                ..
            }
        ));
    }

    #[test]
    fn optional_steps_are_left_out_when_not_configured() {
        let config = LocalConfig::new("/srv/shop");
        let plan = plan(&PlanRequest {
            config: &config,
            release_key: "k",
            artifact: "a",
            reuses_release: false,
            protect: vec![],
        });
        assert_eq!(plan.steps.len(), 4);
    }
}
