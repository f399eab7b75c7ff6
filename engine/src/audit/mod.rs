//! The audit log: one append-only, hash-chained row per action.
//!
//! Rows are written by the store in the same transaction as the action they
//! record (see `store::audit`). This module owns what a row *means*: its
//! canonical content, its hash, and how a chain is verified.

mod chain;
mod checkpoint;

pub use chain::{
    canonical_content, row_hash, verify_chain, ChainBreak, ChainHead, StoredRow, GENESIS_HASH,
};
pub use checkpoint::{
    parse_checkpoints, AuditPublicKey, AuditSigningKey, Checkpoint, CheckpointError,
    CheckpointMatcher, CheckpointSummary,
};

use serde_json::Value;

/// An action about to be recorded.
#[derive(Clone, Debug)]
pub struct AuditRecord {
    pub actor: String,
    pub action: &'static str,
    pub target: String,
    pub environment: Option<String>,
    pub details: Value,
}

impl AuditRecord {
    pub fn new(actor: impl Into<String>, action: &'static str, target: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            action,
            target: target.into(),
            environment: None,
            details: Value::Object(Default::default()),
        }
    }

    pub fn environment(mut self, env_path: impl Into<String>) -> Self {
        self.environment = Some(env_path.into());
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// The actor of what Slipway does on its own: expiring QA environments,
/// interrupting jobs whose lease lapsed, finishing jobs.
pub const SYSTEM_ACTOR: &str = "slipway";

/// The actor of a failed sign-in: nobody known yet.
pub const ANONYMOUS_ACTOR: &str = "anonymous";

/// Logins no person gets: audit rows by them would pass for Slipway's own.
pub const RESERVED_LOGINS: [&str; 2] = [SYSTEM_ACTOR, ANONYMOUS_ACTOR];

/// The actions Slipway records. One place, so the audit page can offer them.
pub mod actions {
    pub const LOGIN: &str = "login";
    pub const LOGOUT: &str = "logout";
    pub const LOGIN_FAILED: &str = "login.failed";
    pub const SESSIONS_REVOKED: &str = "user.sessions_revoked";
    pub const USER_ROLE_CHANGED: &str = "user.role_changed";
    pub const API_TOKEN_REVOKED: &str = "api_token.revoked";
    pub const API_TOKEN_USED: &str = "api_token.used";
    pub const ACCESS_DENIED: &str = "access.denied";
    pub const LOGIN_LINK_CREATED: &str = "login_link.created";
    pub const USER_CREATED: &str = "user.created";
    pub const API_TOKEN_CREATED: &str = "api_token.created";
    pub const APPLICATION_CREATED: &str = "application.created";
    pub const ENVIRONMENT_CREATED: &str = "environment.created";
    pub const ENVIRONMENT_UPDATED: &str = "environment.updated";
    pub const ENVIRONMENT_DELETED: &str = "environment.deleted";
    pub const ENVIRONMENT_LOCKED: &str = "environment.locked";
    pub const ENVIRONMENT_UNLOCKED: &str = "environment.unlocked";
    pub const REMOTE_LOCKS_BROKEN: &str = "environment.remote_locks_broken";
    pub const ENV_VAR_SET: &str = "env_var.set";
    pub const ENV_VAR_DELETED: &str = "env_var.deleted";
    pub const BUILD_REGISTERED: &str = "build.registered";
    pub const DEPLOY_REQUESTED: &str = "deploy.requested";
    pub const AUTO_DEPLOY_SKIPPED: &str = "auto_deploy.skipped";
    pub const BRANCH_PREVIEW_SKIPPED: &str = "branch_preview.skipped";
    pub const ROLLBACK_REQUESTED: &str = "rollback.requested";
    pub const JOB_CANCEL_REQUESTED: &str = "job.cancel_requested";
    pub const JOB_SUCCEEDED: &str = "job.succeeded";
    pub const JOB_FAILED: &str = "job.failed";
    pub const JOB_CANCELLED: &str = "job.cancelled";
    pub const JOB_INTERRUPTED: &str = "job.interrupted";
    pub const JOB_ABANDONED: &str = "job.abandoned";
    pub const JOB_RESUMED: &str = "job.resumed";
    pub const QA_CREATE_REQUESTED: &str = "qa.create_requested";
    pub const ENVIRONMENT_DESTROY_REQUESTED: &str = "environment.destroy_requested";
    pub const ENVIRONMENT_EXPIRED: &str = "environment.expired";
    pub const ENVIRONMENT_EXPIRY_CHANGED: &str = "environment.expiry_changed";
    pub const ENVIRONMENT_DESTROYED: &str = "environment.destroyed";
    pub const FREEZE_CREATED: &str = "freeze.created";
    pub const FREEZE_DELETED: &str = "freeze.deleted";
    /// An admin deployed through a freeze window, with a reason (break-glass).
    pub const FREEZE_OVERRIDDEN: &str = "freeze.overridden";
    /// A deploy or rollback waits (behind a running job, or for its time).
    pub const REQUEST_QUEUED: &str = "request.queued";
    /// A newer request for the environment took a waiting one's place.
    pub const REQUEST_SUPERSEDED: &str = "request.superseded";
    pub const REQUEST_CANCELLED: &str = "request.cancelled";
    /// A waiting request could not become a job (the reason says why).
    pub const REQUEST_FAILED: &str = "request.failed";
    pub const REQUEST_APPROVED: &str = "request.approved";
    pub const REQUEST_REJECTED: &str = "request.rejected";
    /// The environment's settings changed after it was requested: its approvals no longer count.
    pub const REQUEST_VOIDED: &str = "request.voided";
    /// Not approved in time.
    pub const REQUEST_EXPIRED: &str = "request.expired";
    pub const NOTIFICATION_TARGET_CREATED: &str = "notification_target.created";
    pub const NOTIFICATION_TARGET_DELETED: &str = "notification_target.deleted";
    /// A release history made elsewhere was written in (the demo's sample weeks, a benchmark's load).
    pub const HISTORY_IMPORTED: &str = "history.imported";
    /// A webhook whose signature did not match (rate-limited like failed sign-ins).
    pub const WEBHOOK_REFUSED: &str = "webhook.refused";
    /// Secret variables stored as plain text (before sealing existed) were sealed.
    pub const SECRETS_SEALED: &str = "secrets.sealed";
    /// Every secret was sealed again under a new key (`slipway rotate-secret-key`).
    pub const SECRET_KEY_ROTATED: &str = "secrets.key_rotated";

    pub const ALL: &[&str] = &[
        NOTIFICATION_TARGET_CREATED,
        NOTIFICATION_TARGET_DELETED,
        HISTORY_IMPORTED,
        WEBHOOK_REFUSED,
        SECRETS_SEALED,
        SECRET_KEY_ROTATED,
        LOGIN,
        LOGOUT,
        LOGIN_FAILED,
        SESSIONS_REVOKED,
        LOGIN_LINK_CREATED,
        USER_CREATED,
        USER_ROLE_CHANGED,
        API_TOKEN_CREATED,
        API_TOKEN_REVOKED,
        API_TOKEN_USED,
        ACCESS_DENIED,
        APPLICATION_CREATED,
        ENVIRONMENT_CREATED,
        ENVIRONMENT_UPDATED,
        ENVIRONMENT_DELETED,
        ENVIRONMENT_LOCKED,
        ENVIRONMENT_UNLOCKED,
        REMOTE_LOCKS_BROKEN,
        ENV_VAR_SET,
        ENV_VAR_DELETED,
        BUILD_REGISTERED,
        DEPLOY_REQUESTED,
        AUTO_DEPLOY_SKIPPED,
        BRANCH_PREVIEW_SKIPPED,
        ROLLBACK_REQUESTED,
        JOB_CANCEL_REQUESTED,
        JOB_SUCCEEDED,
        JOB_FAILED,
        JOB_CANCELLED,
        JOB_INTERRUPTED,
        JOB_ABANDONED,
        JOB_RESUMED,
        QA_CREATE_REQUESTED,
        ENVIRONMENT_DESTROY_REQUESTED,
        ENVIRONMENT_EXPIRED,
        ENVIRONMENT_EXPIRY_CHANGED,
        ENVIRONMENT_DESTROYED,
        FREEZE_CREATED,
        FREEZE_DELETED,
        FREEZE_OVERRIDDEN,
        REQUEST_QUEUED,
        REQUEST_SUPERSEDED,
        REQUEST_CANCELLED,
        REQUEST_FAILED,
        REQUEST_APPROVED,
        REQUEST_REJECTED,
        REQUEST_VOIDED,
        REQUEST_EXPIRED,
    ];
}
