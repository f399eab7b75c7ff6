//! Writing a job's events and its hosts' progress inside a transaction.

use sqlx::SqliteConnection;

use crate::domain::{EventLevel, HostProgress, JobEvent};
use crate::error::Result;
use crate::time;

/// Appends events after the job's last one, inside the caller's transaction,
/// so a job's final state and its closing events commit together. Returns
/// them for publishing once committed.
pub(crate) async fn append_in_tx(
    conn: &mut SqliteConnection,
    job_id: i64,
    lines: &[(EventLevel, String)],
) -> Result<Vec<JobEvent>> {
    let mut seq: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM job_events WHERE job_id = ?")
            .bind(job_id)
            .fetch_one(&mut *conn)
            .await?;
    let mut events = Vec::with_capacity(lines.len());
    for (level, text) in lines {
        seq += 1;
        let event = JobEvent {
            job_id,
            seq,
            ts: time::now(),
            host: None,
            level: *level,
            text: text.clone(),
        };
        sqlx::query(
            "INSERT INTO job_events (job_id, seq, ts, host, level, text) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(event.job_id)
        .bind(event.seq)
        .bind(event.ts)
        .bind(&event.host)
        .bind(event.level)
        .bind(&event.text)
        .execute(&mut *conn)
        .await?;
        events.push(event);
    }
    Ok(events)
}

/// Journals one host's progress (inside a caller's transaction or not).
pub(crate) async fn upsert_host_progress(
    conn: &mut sqlx::SqliteConnection,
    job_id: i64,
    p: &HostProgress,
) -> Result<()> {
    let now = time::now();
    sqlx::query(
        "INSERT INTO job_hosts (job_id, host, phase, step, steps_done, steps_total, state, error, started_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (job_id, host) DO UPDATE SET phase = excluded.phase, step = excluded.step,
             steps_done = excluded.steps_done, steps_total = excluded.steps_total,
             state = excluded.state, error = excluded.error, updated_at = excluded.updated_at",
    )
    .bind(job_id)
    .bind(&p.host)
    .bind(&p.phase)
    .bind(&p.step)
    .bind(p.steps_done)
    .bind(p.steps_total)
    .bind(p.state)
    .bind(&p.error)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
