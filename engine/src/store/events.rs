//! Job events: the live log, stored so any client can replay it.

use super::{tx, Store};
use crate::domain::{HostProgress, JobEvent};
use crate::error::Result;

impl Store {
    /// Stores several events (and the host progress some carry) in one
    /// transaction: concurrent hosts share one commit.
    pub async fn append_job_events(
        &self,
        batch: &[(JobEvent, Option<HostProgress>)],
    ) -> Result<()> {
        let mut tx = self.write().await?;
        for (event, progress) in batch {
            if let Some(progress) = progress {
                tx::events::upsert_host_progress(&mut tx, event.job_id, progress).await?;
            }
            sqlx::query("INSERT INTO job_events (job_id, seq, ts, host, level, text) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(event.job_id)
                .bind(event.seq)
                .bind(event.ts)
                .bind(&event.host)
                .bind(event.level)
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
