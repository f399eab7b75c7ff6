//! Records as the store returns them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::settings::BackendConfig;
use super::{EventLevel, HostState};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[sqlx(rename_all = "lowercase", type_name = "text")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Deployer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Deployer, Role::Admin];

    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// Groups from the identity provider at the last sign-in.
    pub groups: sqlx::types::Json<Vec<String>>,
    /// Sessions started before this are refused ("log out everywhere").
    pub sessions_valid_after: Option<DateTime<Utc>>,
}

/// An API token as listed: never the secret, which only its owner saw once.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub user_id: i64,
    /// Space-separated scopes.
    pub scopes: String,
    /// Where it may act (see [`super::TokenReach`]); `None`: wherever its owner may.
    pub reach: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Application {
    pub id: i64,
    pub name: String,
    pub repository_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(rename_all = "lowercase", type_name = "text")]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentKind {
    Permanent,
    Qa,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnvironmentLock {
    pub reason: String,
    pub locked_by: String,
    pub since: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    pub id: i64,
    pub application_id: i64,
    pub application: String,
    pub name: String,
    pub kind: EnvironmentKind,
    pub config: BackendConfig,
    pub protected: bool,
    /// Builds of branches matching this deploy here as they are registered.
    pub auto_deploy: Option<super::BranchPattern>,
    /// Builds of branches matching this get a QA environment of their own,
    /// a copy of this one (docker environments only).
    pub previews: Option<super::BranchPattern>,
    /// A deploy that meets a running job waits for it (one waits; a newer
    /// one replaces it) instead of being refused.
    pub queue_deploys: bool,
    /// What a deploy or rollback needs before it starts (no rules: nothing).
    pub approvals: super::ApprovalPolicy,
    /// It takes builds only from this environment of its application:
    /// those that went live there (promotion, e.g. production <- staging).
    pub promotes_from: Option<super::EnvName>,
    pub lock: Option<EnvironmentLock>,
    /// When a QA environment is destroyed automatically.
    pub expires_at: Option<DateTime<Utc>>,
    /// Set once a destroy job removed it; its history stays.
    pub destroyed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Environment {
    /// `app/env`, the way the audit log and messages name an environment.
    pub fn path(&self) -> String {
        format!("{}/{}", self.application, self.name)
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    pub secret: bool,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Build {
    pub id: i64,
    pub application_id: i64,
    pub commit_sha: String,
    pub branch: String,
    pub message: String,
    pub author: String,
    /// Serialized as people may see it ([`super::artifact::shown`]): a
    /// URL's credentials and signature stay in the database.
    #[serde(serialize_with = "serialize_shown_artifact")]
    pub artifact: String,
    pub registered_by: String,
    pub created_at: DateTime<Utc>,
    /// When its commit was made, if CI or the forge said.
    pub committed_at: Option<DateTime<Utc>>,
}

fn serialize_shown_artifact<S: serde::Serializer>(
    artifact: &str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&super::artifact::shown(artifact))
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(rename_all = "lowercase", type_name = "text")]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Deploy,
    Rollback,
    /// Creates an environment (a QA environment) and releases its first build.
    Create,
    /// Removes everything an environment's backend created, then the environment.
    Destroy,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Deploy => "deploy",
            JobKind::Rollback => "rollback",
            JobKind::Create => "create",
            JobKind::Destroy => "destroy",
        }
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(rename_all = "lowercase", type_name = "text")]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }

    pub fn is_finished(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

/// Whether an environment may be out of step with its live release: its
/// latest job was a deploy or rollback that failed, was cancelled or was
/// interrupted, so some hosts may have switched (a server killed after the
/// switch, a package installed on some hosts only). Then the live release
/// may be rolled back to ("restored"), which re-applies it everywhere.
pub fn unsettled(latest_job: Option<&Job>) -> bool {
    latest_job.is_some_and(|job| {
        matches!(job.kind, JobKind::Deploy | JobKind::Rollback)
            && matches!(
                job.state,
                JobState::Failed | JobState::Cancelled | JobState::Interrupted
            )
    })
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    pub environment_id: i64,
    pub build_id: i64,
    pub release_id: Option<i64>,
    pub rollback_of: Option<i64>,
    pub requested_by: String,
    pub state: JobState,
    pub error: Option<String>,
    pub cancel_requested: bool,
    /// Who asked it to stop while it ran.
    pub cancel_requested_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Who acknowledged this interrupted job and let it go, when and why
    /// (until then it needs attention).
    pub abandoned_by: Option<String>,
    pub abandoned_at: Option<DateTime<Utc>>,
    pub abandon_reason: Option<String>,
    /// The interrupted job this one finishes (see [`super::resume_refusal`]).
    pub resumes_job_id: Option<i64>,
    /// The job that finishes this interrupted one.
    pub resumed_by_job_id: Option<i64>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct JobHost {
    pub host: String,
    pub phase: String,
    pub step: String,
    pub steps_done: i64,
    pub steps_total: i64,
    pub state: HostState,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct JobEvent {
    pub job_id: i64,
    pub seq: i64,
    pub ts: DateTime<Utc>,
    pub host: Option<String>,
    pub level: EventLevel,
    pub text: String,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(rename_all = "lowercase", type_name = "text")]
#[serde(rename_all = "lowercase")]
pub enum ReleaseState {
    Pending,
    Live,
    Superseded,
    Failed,
}

/// A release: one build switched live (or attempted) on an environment.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Release {
    pub id: i64,
    pub environment_id: i64,
    pub build_id: i64,
    pub job_id: i64,
    pub release_key: String,
    pub kind: JobKind,
    pub state: ReleaseState,
    pub released_by: String,
    pub released_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub commit_sha: String,
    pub branch: String,
    pub build_message: String,
    pub job_state: JobState,
    /// Who approved the request that made it, comma-separated (none: it
    /// needed no approval).
    pub approved_by: Option<String>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub ts: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub environment: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}
