//! Appending to the hash-chained audit log inside an action's transaction.

use crate::store::Tx;
use crate::store::{on_tx, Done};

use crate::audit::{canonical_content, row_hash, AuditRecord, GENESIS_HASH};
use crate::error::Result;
use crate::time;

/// Appends one row, chained to the last. Call inside the action's write
/// transaction (`BEGIN IMMEDIATE` serialises writers, so the chain cannot fork).
pub(crate) async fn append(conn: &mut Tx, record: &AuditRecord) -> Result<i64> {
    let seq = append_at(conn, record, time::now()).await?;
    // Whoever chose to hear of it is told, in the same transaction.
    super::notifications::enqueue_for_audit(conn, record).await?;
    Ok(seq)
}

/// Appends one row stamped `at` — or, when the clock has gone back
/// since the last row, at the last row's time: times never decrease along
/// the chain, so a time range is a range of rows (see `store::audit`).
pub(crate) async fn append_at(
    conn: &mut Tx,
    record: &AuditRecord,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<i64> {
    let last: Option<(i64, String, String)> = on_tx!(conn => sqlx::query_as("SELECT seq, hash, ts FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await)?;
    let (prev_seq, prev_hash, prev_ts) =
        last.unwrap_or((0, GENESIS_HASH.to_owned(), String::new()));
    let seq = prev_seq + 1;
    let ts = time::to_rfc3339(at).max(prev_ts);
    let details = record.details.to_string();
    let canonical = canonical_content(
        seq,
        &ts,
        &record.actor,
        record.action,
        &record.target,
        record.environment.as_deref(),
        &details,
    );
    let hash = row_hash(&prev_hash, &canonical);
    on_tx!(conn => sqlx::query(
        "INSERT INTO audit_log (seq, ts, actor, action, target, environment, details, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(seq)
    .bind(&ts)
    .bind(&record.actor)
    .bind(record.action)
    .bind(&record.target)
    .bind(&record.environment)
    .bind(&details)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await.map(Done::from))?;
    Ok(seq)
}
