//! Reading releases on any executor (a pool or a caller's transaction).

use crate::domain::Release;
use crate::error::{Error, Result};

/// The release live on the environment, read through `db` (the pool, or a
/// transaction that must see it as it decides).
pub(crate) async fn live_release<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    env_id: i64,
) -> Result<Option<Release>> {
    Ok(sqlx::query_as(&format!(
        "{SELECT_RELEASE} WHERE r.environment_id = ? AND r.state = 'live'"
    ))
    .bind(env_id)
    .fetch_optional(db)
    .await?)
}

pub(crate) async fn release<'e>(db: impl sqlx::SqliteExecutor<'e>, id: i64) -> Result<Release> {
    sqlx::query_as(&format!("{SELECT_RELEASE} WHERE r.id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("release #{id}")))
}

/// The newest release before `release_id` on the environment that went
/// live: what was live when release `release_id`'s job was queued.
pub(crate) async fn released_before<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    env_id: i64,
    release_id: i64,
) -> Result<Option<Release>> {
    Ok(sqlx::query_as(&format!(
        "{SELECT_RELEASE} WHERE r.environment_id = ? AND r.id < ? AND r.released_at IS NOT NULL
         ORDER BY r.id DESC LIMIT 1"
    ))
    .bind(env_id)
    .bind(release_id)
    .fetch_optional(db)
    .await?)
}

pub(crate) const SELECT_RELEASE: &str =
    "SELECT r.*, b.commit_sha, b.branch, b.message AS build_message, j.state AS job_state,
        (SELECT group_concat(ap.approver, ', ' ORDER BY ap.id) FROM approvals ap
         JOIN deploy_requests dr ON dr.id = ap.request_id
         WHERE dr.job_id = r.job_id AND ap.decision = 'approved') AS approved_by
     FROM releases r JOIN builds b ON b.id = r.build_id JOIN jobs j ON j.id = r.job_id";
