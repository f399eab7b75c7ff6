//! Builds: one per commit per application.

use crate::store::{on_pool, on_tx, Tx};
use chrono::{DateTime, Utc};

use super::tx::audit;
use super::tx::promotion::{upstream_of, PROMOTABLE_BUILDS};
use super::Store;
use crate::audit::{actions, AuditRecord};
use crate::domain::{Application, BranchName, Build, CommitSha};
use crate::error::{Error, Result};
use crate::time;

/// A build as CI (or a person) registers it, already parsed.
#[derive(Clone, Debug)]
pub struct NewBuild {
    pub commit_sha: CommitSha,
    pub branch: BranchName,
    pub message: String,
    pub author: String,
    pub artifact: String,
    pub committed_at: Option<DateTime<Utc>>,
}

/// Whether registering created a build or found the same one.
#[derive(Clone, Debug)]
pub enum Registered {
    Created(Build),
    Existing(Build),
}

/// The build already made of `commit` in `app`, if any.
async fn existing_build(
    db: &mut Tx,
    app: &Application,
    commit: &CommitSha,
) -> Result<Option<Build>> {
    Ok(
        on_tx!(db => sqlx::query_as("SELECT * FROM builds WHERE application_id = $1 AND commit_sha = $2")
            .bind(app.id)
            .bind(commit.as_str())
            .fetch_optional(&mut *db)
            .await)?,
    )
}

/// `build`, made of `new`'s commit already, if it has `new`'s artifact: one
/// commit is exactly one build.
fn same_artifact(app: &Application, build: Build, new: &NewBuild) -> Result<Build> {
    if build.artifact == new.artifact {
        Ok(build)
    } else {
        Err(Error::Conflict(format!(
            "commit {} of {} is already build #{} with a different artifact ({}); \
             one commit is exactly one build",
            new.commit_sha,
            app.name,
            build.id,
            crate::domain::artifact::shown(&build.artifact)
        )))
    }
}

impl Store {
    /// What registering `new` would find: the build already made of its
    /// commit with the same artifact, nothing, or the conflict. For callers
    /// that must refuse before they do anything else (publishing a package).
    pub async fn build_of_commit(
        &self,
        app: &Application,
        new: &NewBuild,
    ) -> Result<Option<Build>> {
        existing_build(&mut self.read().await?, app, &new.commit_sha)
            .await?
            .map(|b| same_artifact(app, b, new))
            .transpose()
    }

    /// One commit = one build: the same sha and artifact again returns the
    /// existing build; the same sha with another artifact is a conflict.
    pub async fn register_build(
        &self,
        actor: &str,
        app: &Application,
        new: &NewBuild,
    ) -> Result<Registered> {
        let mut tx = self.write().await?;
        if let Some(build) = existing_build(&mut tx, app, &new.commit_sha).await? {
            return same_artifact(app, build, new).map(Registered::Existing);
        }
        let build: Build = on_tx!(tx => sqlx::query_as(
            "INSERT INTO builds (application_id, commit_sha, branch, message, author, artifact, registered_by, created_at, committed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
        )
        .bind(app.id)
        .bind(new.commit_sha.as_str())
        .bind(new.branch.as_str())
        .bind(&new.message)
        .bind(&new.author)
        .bind(&new.artifact)
        .bind(actor)
        .bind(time::now())
        .bind(new.committed_at)
        .fetch_one(&mut *tx)
        .await)?;
        audit::append(
            &mut tx,
            &AuditRecord::new(
                actor,
                actions::BUILD_REGISTERED,
                format!("build/{}", build.id),
            )
            .details(serde_json::json!({
                "application": app.name,
                "commit_sha": build.commit_sha,
                "branch": build.branch,
                "artifact": crate::domain::artifact::shown(&build.artifact),
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(Registered::Created(build))
    }

    /// The application's builds, newest first, older than `before_id` (a keyset cursor).
    pub async fn builds(
        &self,
        app_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Build>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT * FROM builds WHERE application_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(app_id)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    pub async fn build(&self, id: i64) -> Result<Build> {
        on_pool!(self, pool => sqlx::query_as("SELECT * FROM builds WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await)?
        .ok_or_else(|| Error::not_found(format!("build #{id}")))
    }

    /// Where `env` takes builds only from another environment: the ids of
    /// those that went live there, with which no job failed there since
    /// (`None`: it takes any build; none at all if that one is gone).
    pub async fn promotable_builds(
        &self,
        env: &crate::domain::Environment,
    ) -> Result<Option<std::collections::HashSet<i64>>> {
        let mut conn = self.read().await?;
        let upstream = match upstream_of(&mut conn, env).await? {
            None => return Ok(None),
            Some(Err(_gone)) => return Ok(Some(Default::default())),
            Some(Ok(id)) => id,
        };
        let ids: Vec<i64> = on_tx!(conn => sqlx::query_scalar(PROMOTABLE_BUILDS)
            .bind(upstream)
            .fetch_all(&mut *conn)
            .await)?;
        Ok(Some(ids.into_iter().collect()))
    }
}
