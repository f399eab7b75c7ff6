//! Verifying the audit log's hash chain.

use crate::audit::{verify_chain, ChainBreak, ChainHead, GENESIS_HASH};
use crate::error::Result;

use super::Engine;

impl Engine {
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
