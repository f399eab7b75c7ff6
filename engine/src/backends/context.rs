//! The one contract between the runner and a backend: a [`JobContext`]
//! (what any job has) and, for a deploy or rollback, a [`ReleaseSpec`]
//! (what it releases). The runner makes both; each backend takes them
//! through [`release`] or [`destroy`].

use std::path::Path;

use super::{dnf, docker, local, ssh, BackendConfig, RunFailure};
use crate::runtime::artifacts::ArtifactPolicy;
use crate::runtime::shares::ArtifactShares;
use crate::runtime::{CancelSignal, EventEmitter};

/// What a backend's run has, whatever it does.
pub struct JobContext<'a> {
    pub job_id: i64,
    pub application: &'a str,
    pub environment: &'a str,
    pub emitter: &'a EventEmitter,
    pub cancel: CancelSignal,
    pub artifacts: &'a ArtifactPolicy,
    /// Where archives are lent when the hosts fetch them.
    pub shares: &'a ArtifactShares,
    /// Where backends keep state on this machine (docker: proxy files).
    pub state_dir: &'a Path,
}

impl JobContext<'_> {
    /// `application/environment`, as people name it.
    pub fn environment_path(&self) -> String {
        format!("{}/{}", self.application, self.environment)
    }
}

/// What a deploy or rollback releases.
pub struct ReleaseSpec<'a> {
    pub release_key: &'a str,
    pub build_id: i64,
    /// The build's artifact: an archive, a package version or an image.
    pub artifact: &'a str,
    /// The release may be staged already, under its key: a rollback's
    /// target, or the release an interrupted job began (this job resumes
    /// it). What is still staged is used, the rest staged anew; a deploy
    /// always stages a new release.
    pub reuses_release: bool,
    /// The release live before this job, if any.
    pub previous_key: Option<&'a str>,
    /// Release keys that must survive pruning (the rollback target).
    pub protect: Vec<String>,
    /// What hooks and containers are told: the environment's variables,
    /// then Slipway's own (`SLIPWAY_*`, without paths).
    pub vars: Vec<(String, String)>,
    /// The contents of the release's env file.
    pub env_file: String,
    /// A digest of the environment's own variables (docker: whether a kept
    /// container still has the current ones).
    pub vars_digest: String,
    /// The note a host's deploy lock carries while this job runs, and
    /// whose lock it may take over.
    pub lock: DeployLock,
}

/// A host's deploy lock as a job holds it.
#[derive(Clone, Debug)]
pub struct DeployLock {
    /// The note the lock carries (`job N by X from slipway … since T`).
    pub holder: String,
    /// For a job that resumes an interrupted one: the start of the note its
    /// dead runner left (`job N by X from slipway R since `). A lock with
    /// such a note is taken over instead of refusing the host.
    pub takes_over: Option<String>,
}

impl ReleaseSpec<'_> {
    /// [`vars`](Self::vars) plus where the release is on disk, for a
    /// backend with a `releases/<id>` layout under `deploy_path`.
    pub fn vars_with_paths(&self, deploy_path: &Path) -> Vec<(String, String)> {
        let path = |p: &Path| p.display().to_string();
        let releases = deploy_path.join("releases");
        let mut vars = self.vars.clone();
        vars.push((
            "SLIPWAY_RELEASE_PATH".into(),
            path(&releases.join(self.release_key)),
        ));
        vars.push(("SLIPWAY_DEPLOY_PATH".into(), path(deploy_path)));
        if let Some(previous) = self.previous_key {
            vars.push((
                "SLIPWAY_PREVIOUS_RELEASE_PATH".into(),
                path(&releases.join(previous)),
            ));
        }
        vars
    }
}

/// Stages and switches the release on the environment's targets.
pub async fn release(
    config: &BackendConfig,
    ctx: &JobContext<'_>,
    spec: &ReleaseSpec<'_>,
) -> Result<(), RunFailure> {
    match config {
        BackendConfig::Local(config) => local::release(config, ctx, spec).await,
        BackendConfig::Ssh(config) => ssh::release(config, ctx, spec).await,
        BackendConfig::Dnf(config) => dnf::release(config, ctx, spec).await,
        BackendConfig::Docker(config) => docker::release(config, ctx, spec).await,
    }
}

/// Removes what the environment's backend created for it.
pub async fn destroy(config: &BackendConfig, ctx: &JobContext<'_>) -> Result<(), RunFailure> {
    match config {
        BackendConfig::Docker(config) => docker::destroy(config, ctx).await,
        other => Err(RunFailure::Failed(format!(
            "{} environments cannot be destroyed by Slipway",
            other.backend_name()
        ))),
    }
}
