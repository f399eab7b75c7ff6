//! Marking a QA environment destroyed in its destroy job's transaction.

use super::audit;
use crate::audit::{actions, AuditRecord, SYSTEM_ACTOR};
use crate::domain::Job;
use crate::error::Result;
use crate::store::{on_tx, Done, Tx};
use crate::time;

/// Marks the environment destroyed (inside `finish_job`'s transaction) and
/// frees its name: it becomes `name~id`, which no URL can address. Its live
/// release is live no more: the history says it was superseded.
pub(crate) async fn mark_destroyed(
    tx: &mut Tx,
    env_id: i64,
    env_path: &str,
    job: &Job,
) -> Result<()> {
    on_tx!(tx => sqlx::query(
        "UPDATE environments SET destroyed_at = $1, name = name || '~' || id, updated_at = $2 WHERE id = $3",
    )
    .bind(time::now())
    .bind(time::now())
    .bind(env_id)
    .execute(&mut *tx)
    .await.map(Done::from))?;
    on_tx!(tx => sqlx::query(
        "UPDATE releases SET state = 'superseded' WHERE environment_id = $1 AND state = 'live'",
    )
    .bind(env_id)
    .execute(&mut *tx)
    .await.map(Done::from))?;
    audit::append(
        &mut *tx,
        &AuditRecord::new(
            SYSTEM_ACTOR,
            actions::ENVIRONMENT_DESTROYED,
            format!("env/{env_path}"),
        )
        .environment(env_path)
        .details(serde_json::json!({ "job_id": job.id, "requested_by": job.requested_by })),
    )
    .await?;
    Ok(())
}
