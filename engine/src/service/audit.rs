//! Verifying the audit log's hash chain.

use crate::audit::{verify_chain, ChainBreak, ChainHead, GENESIS_HASH};
use crate::auth::{Actor, Permission};
use crate::domain::AuditEntry;
use crate::error::Result;
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
        let mut prev = (GENESIS_HASH.to_owned(), 0);
        loop {
            let rows = self.store.audit_rows_after(prev.1, 1000).await?;
            if rows.is_empty() {
                return Ok(Ok(ChainHead {
                    rows: prev.1,
                    hash: prev.0,
                }));
            }
            match verify_chain(rows.iter(), prev) {
                Ok(next) => prev = next,
                Err(broken) => return Ok(Err(broken)),
            }
        }
    }
}
