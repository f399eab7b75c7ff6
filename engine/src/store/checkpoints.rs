//! The audit chain's signed checkpoints, as the database keeps them.

use super::Store;
use crate::audit::Checkpoint;
use crate::error::Result;

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
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Keeps a checkpoint; false when one for that row exists already
    /// (another process signed the same head).
    pub async fn record_checkpoint(&self, checkpoint: &Checkpoint) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, ts, public_key, signature)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING",
        )
        .bind(checkpoint.seq)
        .bind(&checkpoint.hash)
        .bind(&checkpoint.ts)
        .bind(&checkpoint.public_key)
        .bind(&checkpoint.signature)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// The newest checkpoint, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>> {
        Ok(
            sqlx::query_as("SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Checkpoints after row `after_seq`, oldest first, at most `limit`.
    pub async fn checkpoints_after(&self, after_seq: i64, limit: i64) -> Result<Vec<Checkpoint>> {
        Ok(
            sqlx::query_as("SELECT * FROM audit_checkpoints WHERE seq > ? ORDER BY seq LIMIT ?")
                .bind(after_seq)
                .bind(limit)
                .fetch_all(self.pool())
                .await?,
        )
    }
}
