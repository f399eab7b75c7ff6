//! Deploy requests: a deploy or rollback that waits before it becomes a
//! job — for approvals, behind a running job, or until the time it was
//! scheduled for.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::JobKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[sqlx(rename_all = "snake_case", type_name = "text")]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waits for the approvals the environment's rules ask for.
    AwaitingApproval,
    /// Waits for its time, or for the environment to be free, unlocked
    /// and not frozen.
    Waiting,
    /// Became a job (`job_id`).
    Started,
    /// A newer request for the same environment took its place.
    Superseded,
    /// Someone withdrew it before it started.
    Cancelled,
    /// An approver said no.
    Rejected,
    /// The environment's settings or variables changed after it was
    /// asked for: its approvals were for something else.
    Voided,
    /// Not approved in time.
    Expired,
    /// It could not become a job (the note says why).
    Failed,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::AwaitingApproval => "awaiting_approval",
            RequestState::Waiting => "waiting",
            RequestState::Started => "started",
            RequestState::Superseded => "superseded",
            RequestState::Cancelled => "cancelled",
            RequestState::Rejected => "rejected",
            RequestState::Voided => "voided",
            RequestState::Expired => "expired",
            RequestState::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeployRequest {
    pub id: i64,
    pub environment_id: i64,
    /// `app/env`.
    pub environment: String,
    pub build_id: i64,
    pub commit_sha: String,
    pub branch: String,
    pub kind: JobKind,
    /// A rollback's release to return to.
    pub rollback_to: Option<i64>,
    pub requested_by: String,
    pub state: RequestState,
    /// Not started before this.
    pub not_before: Option<DateTime<Utc>>,
    /// Why it waits now, or how it ended.
    pub note: Option<String>,
    /// The job it became.
    pub job_id: Option<i64>,
    /// Awaiting approval: it expires then.
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub freeze_override: Option<String>,
    /// What its approvals are for (see `store::tx::environments::settings_digest`).
    #[serde(skip)]
    pub settings_digest: Option<String>,
}

impl DeployRequest {
    /// Not started and not ended: awaiting approval or waiting.
    pub fn is_pending(&self) -> bool {
        matches!(
            self.state,
            RequestState::AwaitingApproval | RequestState::Waiting
        )
    }
}

/// An approval or a rejection of a request.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApprovalRecord {
    pub request_id: i64,
    pub approver: String,
    /// "approved" or "rejected".
    pub decision: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

/// What a deploy or rollback asked for became: a job now, or a request
/// that waits.
#[derive(Clone, Debug)]
pub enum Deployment {
    Started(super::Job),
    Waiting(DeployRequest),
}
