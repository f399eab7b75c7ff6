//! Registering builds, and which of them an environment can deploy.

use crate::auth::{Actor, Permission};
use crate::domain::{AppName, BranchName, Build, CommitSha, Environment};
use crate::error::{InvalidInput, Result};
use crate::store::builds::{NewBuild, Registered};

use super::{BuildRequest, Engine, MAX_TEXT};

impl Engine {
    pub async fn register_build(&self, actor: &Actor, request: BuildRequest) -> Result<Registered> {
        actor.require(Permission::RegisterBuild)?;
        actor.require_reach_application(&request.application)?;
        let (app, new) = self.checked_build(request)?;
        let app = self.store.application(&app).await?;
        let registered = self.store.register_build(&actor.login, &app, &new).await?;
        if let Registered::Created(build) = &registered {
            self.follow_branch_rules(actor, &app, build).await;
        }
        Ok(registered)
    }

    /// A build request's fields, checked: what registering it would record.
    pub(super) fn checked_build(&self, request: BuildRequest) -> Result<(AppName, NewBuild)> {
        let app = AppName::parse(&request.application)?;
        let commit_sha = CommitSha::parse(&request.commit_sha)?;
        let branch = BranchName::parse(&request.branch)?;
        if request.message.len() > MAX_TEXT {
            return Err(InvalidInput::new(
                "message",
                "the message is longer than 10000 characters",
            )
            .into());
        }
        let author = request.author.trim();
        if author.len() > 200 || author.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "author",
                "the author is at most 200 characters of plain text",
            )
            .into());
        }
        // Refuse what no backend could ever fetch, before it is recorded:
        // a package version (dnf), an image reference (docker), or a path or
        // URL of an archive (release directories).
        let artifact = request.artifact.trim();
        if crate::domain::artifact::ArtifactKind::of(artifact)
            != crate::domain::artifact::ArtifactKind::Package
        {
            crate::runtime::artifacts::check_build_artifact(&self.artifacts, artifact).map_err(
                |e| {
                    if artifact.starts_with('/') || artifact.contains("://") {
                        e
                    } else {
                        InvalidInput::new(
                            "artifact",
                            format!(
                                "{}; nor is it a package version name-version-release (dnf)",
                                e.message
                            ),
                        )
                    }
                },
            )?;
        }
        if request
            .committed_at
            .is_some_and(|at| at > crate::time::now() + chrono::Duration::hours(1))
        {
            return Err(InvalidInput::new(
                "committed_at",
                "a commit time in the future (more than an hour ahead of this server's clock)",
            )
            .into());
        }
        let new = NewBuild {
            commit_sha,
            branch,
            message: request.message,
            author: author.to_owned(),
            artifact: artifact.to_owned(),
            committed_at: request.committed_at,
        };
        Ok((app, new))
    }

    /// The build, if it belongs to the environment's application.
    pub(super) async fn build_of(&self, env: &Environment, build_id: i64) -> Result<Build> {
        let build = self.store.build(build_id).await?;
        if build.application_id != env.application_id {
            return Err(InvalidInput::new(
                "build_id",
                format!("build #{build_id} belongs to another application"),
            )
            .into());
        }
        if !env.config.deploys(&build.artifact) {
            return Err(InvalidInput::new(
                "build_id",
                format!(
                    "build #{build_id} is {} ({}); {} is a {} environment and deploys {}",
                    crate::domain::artifact::ArtifactKind::of(&build.artifact).described(),
                    crate::domain::artifact::shown(&build.artifact),
                    env.path(),
                    env.config.backend_name(),
                    env.config.artifact_kind().described(),
                ),
            )
            .into());
        }
        Ok(build)
    }
}
