//! Signed checkpoints of the audit chain: an ed25519 key kept outside the
//! database signs (last seq, head hash, time) every so many rows and every
//! so many minutes. Whoever can write the database can rewrite the chain
//! and recompute every hash, and cut rows off its end; neither survives a
//! comparison with checkpoints kept elsewhere and the public key.

use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::{ChainBreak, ChainHead, StoredRow};
use crate::keyfile::{self, KeyFileError};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("the audit signing key: {0}")]
    Key(#[from] KeyFileError),
    #[error("{0:?} is not a public key (64 hex digits, as `slipway audit public-key` prints)")]
    BadPublicKey(String),
    #[error("line {line} of the checkpoints is not a checkpoint: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("the checkpoint of row {seq} is not signed by this public key (forged, altered, or signed by another key)")]
    BadSignature { seq: i64 },
}

/// Signs checkpoints. Never printed.
pub struct AuditSigningKey(SigningKey);

impl std::fmt::Debug for AuditSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditSigningKey(public {})", self.public_key())
    }
}

impl AuditSigningKey {
    pub fn generate() -> Self {
        Self(SigningKey::from_bytes(&keyfile::random_key()))
    }

    pub fn from_hex(hex_key: &str) -> Result<Self, CheckpointError> {
        Ok(Self(SigningKey::from_bytes(&keyfile::parse_hex_key(
            hex_key,
        )?)))
    }

    /// Reads the key file at `path`, or makes one (mode 0600) when there is none.
    pub fn load_or_create(path: &Path) -> Result<Self, CheckpointError> {
        Ok(Self(SigningKey::from_bytes(&keyfile::load_or_create(
            path,
            keyfile::random_key,
        )?)))
    }

    /// Reads the key file at `path`; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>, CheckpointError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_hex(&text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KeyFileError::Unreadable {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
            .into()),
        }
    }

    pub fn public_key(&self) -> AuditPublicKey {
        AuditPublicKey(self.0.verifying_key())
    }

    /// A checkpoint of the chain ending at `head_seq` with `head_hash`, signed now.
    pub fn sign(&self, head_seq: i64, head_hash: &str, ts: &str) -> Checkpoint {
        let signature = self
            .0
            .sign(signed_message(head_seq, head_hash, ts).as_bytes());
        Checkpoint {
            seq: head_seq,
            hash: head_hash.to_owned(),
            ts: ts.to_owned(),
            public_key: self.public_key().to_string(),
            signature: hex::encode(signature.to_bytes()),
        }
    }
}

/// Verifies checkpoints; safe to publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditPublicKey(VerifyingKey);

impl AuditPublicKey {
    pub fn from_hex(text: &str) -> Result<Self, CheckpointError> {
        let bad = || CheckpointError::BadPublicKey(text.trim().chars().take(80).collect());
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| bad())
    }
}

impl std::fmt::Display for AuditPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0.as_bytes()))
    }
}

/// What a checkpoint's signature covers: a fixed text, so no serializer
/// setting can change it.
fn signed_message(seq: i64, hash: &str, ts: &str) -> String {
    format!("slipway audit checkpoint v1\nseq {seq}\nhash {hash}\nts {ts}\n")
}

/// The chain's head at one moment, signed. Exported as one JSON line each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Checkpoint {
    /// The last row it covers.
    pub seq: i64,
    /// That row's hash (which covers every row before it).
    pub hash: String,
    /// When it was signed (RFC 3339, UTC).
    pub ts: String,
    /// The public key that signed it (hex), for reading; verification
    /// uses the key the verifier trusts, never this one.
    pub public_key: String,
    /// ed25519 over `seq`, `hash` and `ts` (hex).
    pub signature: String,
}

impl Checkpoint {
    pub fn verify(&self, key: &AuditPublicKey) -> Result<(), CheckpointError> {
        let bad = || CheckpointError::BadSignature { seq: self.seq };
        let bytes: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        key.0
            .verify(
                signed_message(self.seq, &self.hash, &self.ts).as_bytes(),
                &Signature::from_bytes(&bytes),
            )
            .map_err(|_| bad())
    }

    /// The checkpoint as one line of an export file (no newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Checkpoints from an export file: one JSON object per line, blank lines
/// ignored.
pub fn parse_checkpoints(text: &str) -> Result<Vec<Checkpoint>, CheckpointError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|e| CheckpointError::Malformed {
                line: index + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Compares a chain, row by row as it is walked, with checkpoints whose
/// signatures were checked first.
#[derive(Debug)]
pub struct CheckpointMatcher {
    /// Not yet reached, lowest seq last (popped as the walk reaches it).
    pending: Vec<Checkpoint>,
    /// The highest checkpoint matched so far (0: none).
    last_matched: i64,
    matched: usize,
    /// The newest checkpoint (seq, signed at).
    newest: Option<(i64, String)>,
}

/// How a chain compared with its checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointSummary {
    pub matched: usize,
    /// The newest checkpoint (seq, signed at), if any.
    pub newest: Option<(i64, String)>,
}

impl CheckpointMatcher {
    /// Checks every signature against `key` before any row is compared.
    pub fn new(
        mut checkpoints: Vec<Checkpoint>,
        key: &AuditPublicKey,
    ) -> Result<Self, CheckpointError> {
        for checkpoint in &checkpoints {
            checkpoint.verify(key)?;
        }
        checkpoints.sort_by_key(|c| std::cmp::Reverse(c.seq));
        let newest = checkpoints.first().map(|c| (c.seq, c.ts.clone()));
        Ok(Self {
            pending: checkpoints,
            last_matched: 0,
            matched: 0,
            newest,
        })
    }

    /// Compares `row` (already verified as a link of the chain) with the
    /// checkpoints that name it.
    pub fn observe(&mut self, row: &StoredRow) -> Result<(), ChainBreak> {
        while let Some(checkpoint) = self.pending.last() {
            if checkpoint.seq > row.seq {
                break;
            }
            if checkpoint.hash != row.hash {
                return Err(ChainBreak {
                    seq: row.seq,
                    reason: format!(
                        "the chain was rewritten: row {} does not match the checkpoint signed at {} \
                         (a row from {} to {} was changed and the hashes after it recomputed)",
                        row.seq,
                        checkpoint.ts,
                        self.last_matched + 1,
                        row.seq
                    ),
                });
            }
            self.last_matched = checkpoint.seq;
            self.matched += 1;
            self.pending.pop();
        }
        Ok(())
    }

    /// After the walk: a checkpoint beyond the chain's end means rows were cut off.
    pub fn finish(self, head: &ChainHead) -> Result<CheckpointSummary, ChainBreak> {
        if let Some(beyond) = self.pending.first() {
            return Err(ChainBreak {
                seq: head.rows + 1,
                reason: format!(
                    "the chain was truncated: it ends at row {}, but the checkpoint signed at {} covers row {} \
                     (rows {} to {} were removed)",
                    head.rows,
                    beyond.ts,
                    beyond.seq,
                    head.rows + 1,
                    beyond.seq
                ),
            });
        }
        Ok(CheckpointSummary {
            matched: self.matched,
            newest: self.newest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{canonical_content, row_hash, verify_chain, GENESIS_HASH};

    fn chain(len: i64, tamper_at: Option<i64>) -> Vec<StoredRow> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=len)
            .map(|seq| {
                let details = if tamper_at == Some(seq) {
                    "{\"x\":1}"
                } else {
                    "{}"
                };
                let canonical = canonical_content(seq, "t", "a", "b", "c", None, details);
                let hash = row_hash(&prev, &canonical);
                let row = StoredRow {
                    seq,
                    ts: "t".into(),
                    actor: "a".into(),
                    action: "b".into(),
                    target: "c".into(),
                    environment: None,
                    details: details.into(),
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                row
            })
            .collect()
    }

    fn walk(
        rows: &[StoredRow],
        checkpoints: Vec<Checkpoint>,
        key: &AuditPublicKey,
    ) -> Result<CheckpointSummary, ChainBreak> {
        let (hash, last) = verify_chain(rows, (GENESIS_HASH.to_owned(), 0))?;
        let mut matcher = CheckpointMatcher::new(checkpoints, key).map_err(|e| ChainBreak {
            seq: 0,
            reason: e.to_string(),
        })?;
        for row in rows {
            matcher.observe(row)?;
        }
        matcher.finish(&ChainHead { rows: last, hash })
    }

    fn signed_at(key: &AuditSigningKey, rows: &[StoredRow], seqs: &[i64]) -> Vec<Checkpoint> {
        seqs.iter()
            .map(|&seq| key.sign(seq, &rows[(seq - 1) as usize].hash, &format!("ts{seq}")))
            .collect()
    }

    #[test]
    fn an_intact_chain_matches_its_checkpoints() {
        let key = AuditSigningKey::generate();
        let rows = chain(30, None);
        let checkpoints = signed_at(&key, &rows, &[10, 20, 25]);
        let summary =
            walk(&rows, checkpoints, &key.public_key()).unwrap_or_else(|b| panic!("{b:?}"));
        assert_eq!(summary.matched, 3);
        assert_eq!(summary.newest, Some((25, "ts25".to_owned())));
    }

    #[test]
    fn a_rewritten_chain_with_recomputed_hashes_is_found_at_the_next_checkpoint() {
        let key = AuditSigningKey::generate();
        let checkpoints = signed_at(&key, &chain(30, None), &[10, 20]);
        let rewritten = chain(30, Some(14));
        let broken = walk(&rewritten, checkpoints, &key.public_key()).err();
        let broken = broken.unwrap_or_else(|| panic!("a rewrite passed"));
        assert_eq!(broken.seq, 20);
        assert!(broken.reason.contains("from 11 to 20"), "{}", broken.reason);
    }

    #[test]
    fn a_truncated_chain_is_found_by_a_checkpoint_beyond_its_end() {
        let key = AuditSigningKey::generate();
        let rows = chain(30, None);
        let checkpoints = signed_at(&key, &rows, &[10, 30]);
        let broken = walk(&rows[..22], checkpoints, &key.public_key()).err();
        let broken = broken.unwrap_or_else(|| panic!("a truncation passed"));
        assert_eq!(broken.seq, 23);
        assert!(
            broken.reason.contains("rows 23 to 30 were removed"),
            "{}",
            broken.reason
        );
    }

    #[test]
    fn a_forged_or_foreign_checkpoint_is_refused() {
        let key = AuditSigningKey::generate();
        let rows = chain(5, None);
        let mut forged = key.sign(5, &rows[4].hash, "ts");
        forged.seq = 4;
        let trusted = key.public_key();
        assert_eq!(
            forged.verify(&trusted),
            Err(CheckpointError::BadSignature { seq: 4 })
        );
        let foreign = AuditSigningKey::generate().sign(5, &rows[4].hash, "ts");
        assert_eq!(
            foreign.verify(&trusted),
            Err(CheckpointError::BadSignature { seq: 5 })
        );
        assert!(CheckpointMatcher::new(vec![foreign], &trusted).is_err());
    }

    #[test]
    fn checkpoints_round_trip_through_an_export_file_and_bad_lines_are_named() {
        let key = AuditSigningKey::generate();
        let a = key.sign(3, "aa", "2026-12-07T00:00:00Z");
        let b = key.sign(9, "bb", "2026-12-07T00:10:00Z");
        let text = format!("{}\n\n{}\n", a.to_json_line(), b.to_json_line());
        assert_eq!(parse_checkpoints(&text), Ok(vec![a, b]));
        let err = parse_checkpoints("{\"seq\":1}\nnot json").err();
        assert!(
            matches!(err, Some(CheckpointError::Malformed { line: 1, .. })),
            "{err:?}"
        );
        let public = key.public_key();
        assert_eq!(AuditPublicKey::from_hex(&public.to_string()), Ok(public));
        assert!(AuditPublicKey::from_hex("zz").is_err());
        assert!(!format!("{key:?}").contains(&hex::encode(key.0.to_bytes())));
    }
}
