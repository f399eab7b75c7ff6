//! Reading releases in a transaction (a caller's, or a read of its own).

use crate::domain::Release;
use crate::error::{Error, Result};
use crate::store::{on_tx, Dialect, Tx};

/// The release live on the environment, read through `db` (the pool, or a
/// transaction that must see it as it decides).
pub(crate) async fn live_release(db: &mut Tx, env_id: i64) -> Result<Option<Release>> {
    let select = select_release(db.dialect());
    Ok(on_tx!(db => sqlx::query_as(&format!(
        "{select} WHERE r.environment_id = $1 AND r.state = 'live'"
    ))
    .bind(env_id)
    .fetch_optional(&mut *db)
    .await)?)
}

pub(crate) async fn release(db: &mut Tx, id: i64) -> Result<Release> {
    let select = select_release(db.dialect());
    on_tx!(db => sqlx::query_as(&format!("{select} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(&mut *db)
        .await)?
    .ok_or_else(|| Error::not_found(format!("release #{id}")))
}

/// The newest release before `release_id` on the environment that went
/// live: what was live when release `release_id`'s job was queued.
pub(crate) async fn released_before(
    db: &mut Tx,
    env_id: i64,
    release_id: i64,
) -> Result<Option<Release>> {
    let select = select_release(db.dialect());
    Ok(on_tx!(db => sqlx::query_as(&format!(
        "{select} WHERE r.environment_id = $1 AND r.id < $2 AND r.released_at IS NOT NULL
         ORDER BY r.id DESC LIMIT 1"
    ))
    .bind(env_id)
    .bind(release_id)
    .fetch_optional(&mut *db)
    .await)?)
}

/// A release with its build, its job's state and who approved it.
pub(crate) fn select_release(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => SELECT_RELEASE_SQLITE,
        Dialect::Postgres => SELECT_RELEASE_POSTGRES,
    }
}

/// A release with its build, its job's state and who approved it;
/// `$aggregate` joins the approvers' names.
macro_rules! select_release {
    ($aggregate:literal) => {
        concat!(
            "SELECT r.*, b.commit_sha, b.branch, b.message AS build_message, j.state AS job_state,
                (SELECT ",
            $aggregate,
            "(ap.approver, ', ' ORDER BY ap.id) FROM approvals ap
                 JOIN deploy_requests dr ON dr.id = ap.request_id
                 WHERE dr.job_id = r.job_id AND ap.decision = 'approved') AS approved_by
             FROM releases r JOIN builds b ON b.id = r.build_id JOIN jobs j ON j.id = r.job_id"
        )
    };
}

const SELECT_RELEASE_SQLITE: &str = select_release!("group_concat");
const SELECT_RELEASE_POSTGRES: &str = select_release!("string_agg");
