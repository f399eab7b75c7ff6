//! Registering builds, and which of them an environment can deploy.

use crate::auth::{Actor, Permission};
use crate::domain::{AppName, BranchName, Build, CommitSha, Environment};
use crate::error::{InvalidInput, Result};
use crate::store::builds::{NewBuild, Registered};

use super::{BuildRequest, CommitRequest, Engine, MAX_TEXT};
use crate::domain::changes::subject_of;
use crate::store::commits::CommitNote;

/// The most commits one build registration may describe.
const MAX_COMMITS: usize = 1_000;

/// The commits a build registration lists, checked; each without parents
/// gets the one listed before it (the list is oldest first).
fn checked_commits(commits: &[CommitRequest]) -> Result<Vec<CommitNote>> {
    if commits.len() > MAX_COMMITS {
        return Err(InvalidInput::new(
            "commits",
            format!("at most {MAX_COMMITS} commits with one build"),
        )
        .into());
    }
    let mut notes: Vec<CommitNote> = Vec::with_capacity(commits.len());
    for (i, commit) in commits.iter().enumerate() {
        let bad = |what: &str, why: String| {
            InvalidInput::new("commits", format!("commits[{i}].{what}: {why}"))
        };
        let sha = CommitSha::parse(&commit.sha).map_err(|e| bad("sha", e.message))?;
        let parents = match &commit.parents {
            Some(parents) => Some(
                parents
                    .iter()
                    .take(64)
                    .map(|p| CommitSha::parse(p).map_err(|e| bad("parents", e.message)))
                    .collect::<std::result::Result<Vec<_>, _>>()?,
            ),
            None => notes.last().map(|before| vec![before.sha.clone()]),
        };
        let author = plain_text(&commit.author, 200);
        if commit.message.len() > MAX_TEXT {
            return Err(bad("message", "longer than 10000 characters".into()).into());
        }
        notes.push(CommitNote {
            sha,
            parents,
            author,
            committed_at: commit.committed_at,
            subject: subject_of(&commit.message),
        });
    }
    Ok(notes)
}

/// `text` without control characters, at most `max` characters.
fn plain_text(text: &str, max: usize) -> String {
    text.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

impl Engine {
    pub async fn register_build(&self, actor: &Actor, request: BuildRequest) -> Result<Registered> {
        actor.require(Permission::RegisterBuild)?;
        actor.require_reach_application(&request.application)?;
        let commits = checked_commits(&request.commits)?;
        let (app, new) = self.checked_build(request)?;
        let app = self.store.application(&app).await?;
        let registered = self.store.register_build(&actor.login, &app, &new).await?;
        let (Registered::Created(build) | Registered::Existing(build)) = &registered;
        self.record_build_commits(&app, build, commits).await?;
        self.refresh_mirror(&app);
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
