//! Job events: the live log, stored so any client can replay it.

use super::{tx, Store};
use crate::domain::{HostProgress, JobEvent};
use crate::error::Result;
use crate::store::{on_pool, on_tx, Done};

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
            on_tx!(tx => sqlx::query("INSERT INTO job_events (job_id, seq, ts, host, level, text) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(event.job_id)
                .bind(event.seq)
                .bind(event.ts)
                .bind(&event.host)
                .bind(event.level)
                .bind(&event.text)
                .execute(&mut *tx)
                .await.map(Done::from))?;
        }
        // Batches hold one job's events in order; announce each job's run.
        for run in batch.chunk_by(|(a, _), (b, _)| a.job_id == b.job_id) {
            let (first, last) = (&run[0].0, &run[run.len() - 1].0);
            tx::events::announce(&mut tx, first.job_id, first.seq, last.seq).await?;
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
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT * FROM job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(job_id)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// The job's last event, if any.
    pub async fn last_job_event(&self, job_id: i64) -> Result<Option<JobEvent>> {
        Ok(
            on_pool!(self, pool => sqlx::query_as("SELECT * FROM job_events WHERE job_id = $1 ORDER BY seq DESC LIMIT 1")
                .bind(job_id)
                .fetch_optional(pool)
                .await)?,
        )
    }

    pub async fn last_job_event_seq(&self, job_id: i64) -> Result<i64> {
        Ok(
            on_pool!(self, pool => sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM job_events WHERE job_id = $1")
                .bind(job_id)
                .fetch_one(pool)
                .await)?,
        )
    }
}
