//! The dnf backend's operations: publishing a package to the hosted
//! repository (which registers its build), and asking hosts what they have
//! installed.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use tracing::{info_span, Instrument};

use super::{BuildRequest, Engine};
use crate::auth::{Actor, Permission};
use crate::backends::dnf::inventory::{self, HostVersion};
use crate::backends::dnf::repository::{PackageRepository, Published, RepositoryError};
use crate::backends::BackendConfig;
use crate::error::{Error, InvalidInput, Result};
use crate::store::builds::Registered;

/// The build a published package belongs to (the package itself is the artifact).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageUpload {
    pub application: String,
    pub commit_sha: String,
    pub branch: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub author: String,
}

impl From<RepositoryError> for Error {
    fn from(err: RepositoryError) -> Self {
        match err {
            RepositoryError::NotAnRpm(_) | RepositoryError::Refused(_) => {
                InvalidInput::new("package", err.to_string()).into()
            }
            RepositoryError::Conflict(_) => Error::Conflict(err.to_string()),
            RepositoryError::Metadata(why) => {
                Error::Io(std::io::Error::other(format!("createrepo_c failed: {why}")))
            }
            RepositoryError::Io(e) => Error::Io(e),
        }
    }
}

impl Engine {
    pub fn package_repository(&self) -> &PackageRepository {
        &self.packages
    }

    /// Checks the rpm at `file` (a real package, of a package one of the
    /// application's dnf environments runs), publishes it to the
    /// application's repository, regenerates the metadata, and registers
    /// the build whose artifact is its `name-version-release`.
    pub async fn publish_package(
        &self,
        actor: &Actor,
        upload: PackageUpload,
        file: &Path,
    ) -> Result<(Registered, Published)> {
        actor.require(Permission::RegisterBuild)?;
        actor.require_reach_application(&upload.application)?;
        let header = PackageRepository::inspect(file).await?;
        // Refuse a bad build before anything is published: a package that
        // is served but never registered is one no one asked for.
        let request = BuildRequest {
            application: upload.application,
            commit_sha: upload.commit_sha,
            branch: upload.branch,
            message: upload.message,
            author: upload.author,
            artifact: header.version.to_string(),
            committed_at: None,
            commits: Vec::new(),
        };
        let (app_name, new) = self.checked_build(request.clone())?;
        let app = self.store.application(&app_name).await?;
        self.store.build_of_commit(&app, &new).await?;
        let packages: Vec<String> = self
            .store
            .environments()
            .await?
            .into_iter()
            .filter(|e| e.application_id == app.id)
            .filter_map(|e| match e.config {
                BackendConfig::Dnf(config) => Some(config.package),
                _ => None,
            })
            .collect();
        if packages.is_empty() {
            return Err(InvalidInput::new(
                "application",
                format!(
                    "{app_name} has no dnf environment; create one first (its package name \
                     decides which packages may be published)"
                ),
            )
            .into());
        }
        let name = header.version.name();
        if !packages.iter().any(|p| p == name) {
            return Err(InvalidInput::new(
                "package",
                format!(
                    "the upload is package {name}, but {app_name}'s dnf environments run {}",
                    packages.join(", ")
                ),
            )
            .into());
        }
        let published = self
            .packages
            .publish(&app_name, file, &header)
            .instrument(info_span!("publish_package", app = %app_name, package = %header.version))
            .await?;
        let registered = self.register_build(actor, request).await?;
        Ok((registered, published))
    }

    /// Asks every host of a dnf environment what it has installed, and
    /// flags versions Slipway did not release there.
    pub async fn installed_versions(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
    ) -> Result<Vec<HostVersion>> {
        actor.require(Permission::Read)?;
        let env = self.find_environment(app, env).await?;
        let BackendConfig::Dnf(config) = &env.config else {
            return Err(InvalidInput::new(
                "backend",
                "only dnf environments have installed package versions",
            )
            .into());
        };
        let artifacts: HashMap<i64, String> = self
            .store
            .builds(env.application_id, None, 500)
            .await?
            .into_iter()
            .map(|b| (b.id, b.artifact))
            .collect();
        let releases = self.store.releases(env.id, None, 200).await?;
        let released: Vec<String> = releases
            .iter()
            .filter_map(|r| artifacts.get(&r.build_id).cloned())
            .collect();
        let live = self
            .store
            .live_release(env.id)
            .await?
            .and_then(|r| artifacts.get(&r.build_id).cloned());
        inventory::installed_versions(config, live.as_deref(), &released)
            .instrument(info_span!("installed_versions", env = %env.path()))
            .await
            .map_err(|e| Error::Conflict(format!("could not ask the hosts: {e}")))
    }
}
