//! The audit chain's signed checkpoints, as the database keeps them.

use super::Store;
use crate::audit::Checkpoint;
use crate::error::Result;
use crate::store::{on_pool, Done};

/// The chain's last row: its seq and hash.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

impl Store {
    /// The last audit row, if any.
    pub async fn audit_head(&self) -> Result<Option<AuditHead>> {
        Ok(
            on_pool!(self, pool => sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(pool)
                .await)?,
        )
    }

    /// Keeps a checkpoint; false when one for that row exists already
    /// (another process signed the same head).
    pub async fn record_checkpoint(&self, checkpoint: &Checkpoint) -> Result<bool> {
        let inserted = on_pool!(self, pool => sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, ts, public_key, signature)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
        )
        .bind(checkpoint.seq)
        .bind(&checkpoint.hash)
        .bind(&checkpoint.ts)
        .bind(&checkpoint.public_key)
        .bind(&checkpoint.signature)
        .execute(pool)
        .await.map(Done::from))?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// The newest checkpoint, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>> {
        Ok(
            on_pool!(self, pool => sqlx::query_as("SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
                .fetch_optional(pool)
                .await)?,
        )
    }

    /// Checkpoints after row `after_seq`, oldest first, at most `limit`.
    pub async fn checkpoints_after(&self, after_seq: i64, limit: i64) -> Result<Vec<Checkpoint>> {
        Ok(
            on_pool!(self, pool => sqlx::query_as("SELECT * FROM audit_checkpoints WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after_seq)
                .bind(limit)
                .fetch_all(pool)
                .await)?,
        )
    }
}
