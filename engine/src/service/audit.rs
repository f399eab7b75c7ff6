//! Verifying the audit log's hash chain.

use crate::audit::{
    verify_chain, AuditSigningKey, ChainBreak, ChainHead, Checkpoint, CheckpointMatcher,
    CheckpointSummary, GENESIS_HASH,
};
use crate::auth::{Actor, Permission};
use crate::domain::AuditEntry;
use crate::error::Result;
use crate::jobs::{CheckpointSettings, Checkpointer};
use crate::store::audit::AuditFilter;

use super::Engine;

impl Engine {
    /// Audit rows matching `filter`, newest first (at most `limit`).
    pub async fn audit_page(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        actor.require(Permission::Read)?;
        self.store.audit_page(filter, limit.clamp(1, 1000)).await
    }

    /// The newest audit row's seq about `environment` (`app/env`; `None`:
    /// any): a page that read less tells its reader to refresh.
    pub async fn latest_activity(&self, actor: &Actor, environment: Option<&str>) -> Result<i64> {
        actor.require(Permission::Read)?;
        self.store.latest_audit_seq(environment).await
    }

    /// Walks the whole audit chain: its head, or the first bad row.
    pub async fn verify_audit(&self) -> Result<std::result::Result<ChainHead, ChainBreak>> {
        Ok(self.verify_audit_against(None).await?.map(|(head, _)| head))
    }

    /// Walks the whole audit chain and compares it with signed checkpoints
    /// (their signatures checked by `matcher` already): its head, or the
    /// first row that is not what it was (changed, or cut off).
    pub async fn verify_audit_against(
        &self,
        mut matcher: Option<CheckpointMatcher>,
    ) -> Result<std::result::Result<(ChainHead, Option<CheckpointSummary>), ChainBreak>> {
        let mut prev = (GENESIS_HASH.to_owned(), 0);
        loop {
            let rows = self.store.audit_rows_after(prev.1, 1000).await?;
            if rows.is_empty() {
                let head = ChainHead {
                    rows: prev.1,
                    hash: prev.0,
                };
                return Ok(match matcher {
                    None => Ok((head, None)),
                    Some(matcher) => matcher.finish(&head).map(|summary| (head, Some(summary))),
                });
            }
            match verify_chain(rows.iter(), prev) {
                Ok(next) => prev = next,
                Err(broken) => return Ok(Err(broken)),
            }
            if let Some(matcher) = matcher.as_mut() {
                for row in &rows {
                    if let Err(broken) = matcher.observe(row) {
                        return Ok(Err(broken));
                    }
                }
            }
        }
    }

    /// What signs the audit chain's checkpoints and exports them.
    pub fn checkpointer(&self, key: AuditSigningKey, settings: CheckpointSettings) -> Checkpointer {
        Checkpointer::new(self.store.clone(), key, settings)
    }

    /// Signed checkpoints after row `after_seq`, oldest first.
    pub async fn audit_checkpoints(
        &self,
        actor: &Actor,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<Checkpoint>> {
        actor.require(Permission::Read)?;
        self.store
            .checkpoints_after(after_seq, limit.clamp(1, 10_000))
            .await
    }
}
