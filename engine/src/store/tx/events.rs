//! Writing a job's events and its hosts' progress inside a transaction.

use crate::store::Tx;
use crate::store::{on_tx, Done};

use crate::domain::{EventLevel, HostProgress, JobEvent};
use crate::error::Result;
use crate::time;

/// Appends events after the job's last one, inside the caller's transaction,
/// so a job's final state and its closing events commit together. Returns
/// them for publishing once committed.
pub(crate) async fn append_in_tx(
    conn: &mut Tx,
    job_id: i64,
    lines: &[(EventLevel, String)],
) -> Result<Vec<JobEvent>> {
    let mut seq: i64 = on_tx!(conn => sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM job_events WHERE job_id = $1")
            .bind(job_id)
            .fetch_one(&mut *conn)
            .await)?;
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
        on_tx!(conn => sqlx::query(
            "INSERT INTO job_events (job_id, seq, ts, host, level, text) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(event.job_id)
        .bind(event.seq)
        .bind(event.ts)
        .bind(&event.host)
        .bind(event.level)
        .bind(&event.text)
        .execute(&mut *conn)
        .await.map(Done::from))?;
        events.push(event);
    }
    if let (Some(first), Some(last)) = (events.first(), events.last()) {
        announce(conn, job_id, first.seq, last.seq).await?;
    }
    Ok(events)
}

/// Tells the other replicas (PostgreSQL's `NOTIFY`, delivered when the
/// transaction commits, in commit order) that job `job_id`'s events
/// `first..=last` are stored. Nothing to tell on SQLite: one machine.
pub(crate) async fn announce(conn: &mut Tx, job_id: i64, first: i64, last: i64) -> Result<()> {
    let payload = format!("{} {job_id} {first} {last}", crate::store::db::instance());
    notify(conn, crate::store::db::EVENTS_CHANNEL, &payload).await
}

/// Tells the other replicas that `login` asked job `job_id` to stop: the
/// replica running it stops it at once, not at its next lease renewal.
pub(crate) async fn announce_cancel(conn: &mut Tx, job_id: i64, login: &str) -> Result<()> {
    let payload = format!("{} {job_id} {login}", crate::store::db::instance());
    notify(conn, crate::store::db::CANCELS_CHANNEL, &payload).await
}

async fn notify(conn: &mut Tx, channel: &str, payload: &str) -> Result<()> {
    if let Tx::Postgres(tx) = conn {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Journals one host's progress (inside a caller's transaction or not).
pub(crate) async fn upsert_host_progress(
    conn: &mut Tx,
    job_id: i64,
    p: &HostProgress,
) -> Result<()> {
    let now = time::now();
    on_tx!(conn => sqlx::query(
        "INSERT INTO job_hosts (job_id, host, phase, step, steps_done, steps_total, state, error, started_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
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
    .await.map(Done::from))?;
    Ok(())
}
