//! Job events: the live log, stored so any client can replay it.

use sqlx::SqliteConnection;

use super::Store;
use crate::domain::JobEvent;
use crate::error::Result;
use crate::time;

/// Appends events after the job's last one, inside the caller's transaction,
/// so a job's final state and its closing events commit together. Returns
/// them for publishing once committed.
pub(crate) async fn append_in_tx(
    conn: &mut SqliteConnection,
    job_id: i64,
    lines: &[(&str, String)],
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
            level: (*level).to_owned(),
            text: text.clone(),
        };
        sqlx::query(
            "INSERT INTO job_events (job_id, seq, ts, host, level, text) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(event.job_id)
        .bind(event.seq)
        .bind(event.ts)
        .bind(&event.host)
        .bind(&event.level)
        .bind(&event.text)
        .execute(&mut *conn)
        .await?;
        events.push(event);
    }
    Ok(events)
}

/// Per-host progress to journal alongside an event, owned so it can queue.
#[derive(Clone, Debug)]
pub struct ProgressRow {
    pub host: String,
    pub phase: String,
    pub step: String,
    pub steps_done: i64,
    pub steps_total: i64,
    pub state: String,
    pub error: Option<String>,
}

impl Store {
    /// Stores several events (and the host progress some carry) in one
    /// transaction: concurrent hosts share one commit.
    pub async fn append_job_events(&self, batch: &[(JobEvent, Option<ProgressRow>)]) -> Result<()> {
        let mut tx = self.write().await?;
        for (event, progress) in batch {
            if let Some(p) = progress {
                let row = super::jobs::HostProgress {
                    host: &p.host,
                    phase: &p.phase,
                    step: &p.step,
                    steps_done: p.steps_done,
                    steps_total: p.steps_total,
                    state: &p.state,
                    error: p.error.as_deref(),
                };
                super::jobs::upsert_host_progress(&mut tx, event.job_id, &row).await?;
            }
            sqlx::query("INSERT INTO job_events (job_id, seq, ts, host, level, text) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(event.job_id)
                .bind(event.seq)
                .bind(event.ts)
                .bind(&event.host)
                .bind(&event.level)
                .bind(&event.text)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Events with `seq > after`, in order, at most `limit`.
    pub async fn job_events_after(
        &self,
        job_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<JobEvent>> {
        Ok(sqlx::query_as(
            "SELECT * FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(job_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The job's last event, if any.
    pub async fn last_job_event(&self, job_id: i64) -> Result<Option<JobEvent>> {
        Ok(
            sqlx::query_as("SELECT * FROM job_events WHERE job_id = ? ORDER BY seq DESC LIMIT 1")
                .bind(job_id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    pub async fn last_job_event_seq(&self, job_id: i64) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM job_events WHERE job_id = ?")
                .bind(job_id)
                .fetch_one(self.pool())
                .await?,
        )
    }
}
