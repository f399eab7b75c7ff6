//! Hash chaining: each row's hash covers the previous row's hash and the
//! row's own canonical content, so changing any row breaks every later link.

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The canonical bytes of a row's content: a JSON object whose keys are
/// written in one fixed order, by hand, so no serializer setting (such as
/// `serde_json`'s `preserve_order`, which feature unification can switch
/// on) can change what a row's hash covers. The order is the sorted one
/// earlier chains were written with, so they still verify.
pub fn canonical_content(
    seq: i64,
    ts: &str,
    actor: &str,
    action: &str,
    target: &str,
    environment: Option<&str>,
    details: &str,
) -> String {
    let environment = environment.map_or_else(|| "null".to_owned(), json_string);
    format!(
        "{{\"action\":{},\"actor\":{},\"details\":{},\"environment\":{},\"seq\":{},\"target\":{},\"ts\":{}}}",
        json_string(action),
        json_string(actor),
        json_string(details),
        environment,
        seq,
        json_string(target),
        json_string(ts),
    )
}

/// `text` as a JSON string literal (quotes and escapes; no key order involved).
fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

pub fn row_hash(prev_hash: &str, canonical: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.as_bytes());
    hex::encode(hasher.finalize())
}

/// The first row whose link does not hold, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// A row exactly as stored, every column read as text: verification hashes
/// what is in the file, so an edit that only changes how a value is written
/// (a time in another format, a number as text) is found too.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredRow {
    pub seq: i64,
    pub ts: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub environment: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The end of a verified chain: how many rows, and the last row's hash.
/// Deleting rows from the end leaves a valid, shorter chain; compare the
/// head with one noted earlier to see that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub rows: i64,
    pub hash: String,
}

/// Checks rows in `seq` order, continuing from `prev` (the previous row's
/// hash and seq). Returns the last good (hash, seq) or the first break.
pub fn verify_chain<'a>(
    rows: impl IntoIterator<Item = &'a StoredRow>,
    mut prev: (String, i64),
) -> Result<(String, i64), ChainBreak> {
    for row in rows {
        if row.seq != prev.1 + 1 {
            return Err(ChainBreak {
                seq: row.seq,
                reason: format!("sequence gap: expected {}, found {}", prev.1 + 1, row.seq),
            });
        }
        if row.prev_hash != prev.0 {
            return Err(ChainBreak {
                seq: row.seq,
                reason: "prev_hash does not match the previous row's hash".to_owned(),
            });
        }
        let canonical = canonical_content(
            row.seq,
            &row.ts,
            &row.actor,
            &row.action,
            &row.target,
            row.environment.as_deref(),
            &row.details,
        );
        if row_hash(&row.prev_hash, &canonical) != row.hash {
            return Err(ChainBreak {
                seq: row.seq,
                reason: "content does not match its hash (the row was changed)".to_owned(),
            });
        }
        prev = (row.hash.clone(), row.seq);
    }
    Ok(prev)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes and hash of one known row, pinned: if either changes,
    /// every chain written before no longer verifies.
    #[test]
    fn a_known_row_has_its_pinned_bytes_and_hash() {
        let canonical = canonical_content(
            7,
            "2026-01-02T03:04:05.678Z",
            "alice",
            "deploy.requested",
            "env/shop/production",
            Some("shop/production"),
            r#"{"build":"ab12 \"quoted\"\n"}"#,
        );
        assert_eq!(
            canonical,
            r#"{"action":"deploy.requested","actor":"alice","details":"{\"build\":\"ab12 \\\"quoted\\\"\\n\"}","environment":"shop/production","seq":7,"target":"env/shop/production","ts":"2026-01-02T03:04:05.678Z"}"#
        );
        assert_eq!(row_hash(GENESIS_HASH, &canonical), PINNED_HASH);
    }

    #[test]
    fn a_row_without_environment_writes_null() {
        let canonical = canonical_content(1, "t", "a", "b", "c", None, "{}");
        assert_eq!(
            canonical,
            r#"{"action":"b","actor":"a","details":"{}","environment":null,"seq":1,"target":"c","ts":"t"}"#
        );
    }

    const PINNED_HASH: &str = "480341d31c56075202e54d8311981f7e6e57833c8b180ebfb3acbb584ffb51ac";
}
