//! Release archives lent to hosts over HTTP while a job stages them.
//!
//! When an ssh environment's hosts fetch their release (its `fetch_from`
//! setting), the job lends the archive under a random token and each host
//! downloads `<fetch_from>/artifacts/<token>` and checks its sha256. A token
//! serves exactly one file, only while the job holds its [`Share`]; it is
//! never stored, and it stops working the moment the job ends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// The archives currently lent, by token. Cheap to clone; clones share.
#[derive(Clone, Debug, Default)]
pub struct ArtifactShares {
    lent: Arc<Mutex<HashMap<String, PathBuf>>>,
}

/// One lent archive. Dropping it withdraws the token.
#[derive(Debug)]
pub struct Share {
    shares: ArtifactShares,
    token: String,
}

/// Where hosts fetch the share `token`, below `base`, the URL they reach Slipway at.
pub fn share_url(base: &str, token: &str) -> String {
    format!("{}/artifacts/{token}", base.trim_end_matches('/'))
}

impl ArtifactShares {
    /// Lends `file` under a fresh 256-bit token until the [`Share`] drops.
    pub fn lend(&self, file: PathBuf) -> Share {
        let token = hex::encode(rand::random::<[u8; 32]>());
        self.lock().insert(token.clone(), file);
        Share {
            shares: self.clone(),
            token,
        }
    }

    /// The file lent under `token`, if it is still lent.
    pub fn file(&self, token: &str) -> Option<PathBuf> {
        self.lock().get(token).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PathBuf>> {
        // The map is only ever inserted into or removed from: a panic
        // elsewhere cannot leave it half-changed.
        self.lent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Share {
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.shares.lock().remove(&self.token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_serves_its_file_only_while_the_share_lives() {
        let shares = ArtifactShares::default();
        let a = shares.lend("/a.tar.gz".into());
        let b = shares.lend("/b.tar.gz".into());
        assert_ne!(a.token(), b.token());
        assert_eq!(a.token().len(), 64);
        assert_eq!(shares.file(a.token()), Some("/a.tar.gz".into()));
        let token = a.token().to_owned();
        drop(a);
        assert_eq!(shares.file(&token), None);
        assert_eq!(shares.file(b.token()), Some("/b.tar.gz".into()));
        assert_eq!(shares.file(""), None);
    }
}
