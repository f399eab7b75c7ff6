//! 32-byte keys kept in files of their own, outside the database: written
//! once as 64 hex digits, readable by their owner only, never overwritten.

use std::io::Write;
use std::path::Path;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyFileError {
    #[error("a key is 64 hex digits (32 bytes)")]
    BadKey,
    #[error("cannot read the key file {path}: {reason}")]
    Unreadable { path: String, reason: String },
}

/// A key written as 64 hex digits (surrounding white space ignored).
pub fn parse_hex_key(text: &str) -> Result<[u8; 32], KeyFileError> {
    let bytes = hex::decode(text.trim()).map_err(|_| KeyFileError::BadKey)?;
    bytes.try_into().map_err(|_| KeyFileError::BadKey)
}

/// Reads the key file at `path`, or makes one from `generate` (mode 0600,
/// never overwriting one another process made meanwhile) when there is none.
pub fn load_or_create(
    path: &Path,
    generate: impl FnOnce() -> [u8; 32],
) -> Result<[u8; 32], KeyFileError> {
    let unreadable = |e: std::io::Error| KeyFileError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    match std::fs::read_to_string(path) {
        Ok(text) => parse_hex_key(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = generate();
            write_new(path, &key).map_err(unreadable)?;
            Ok(key)
        }
        Err(e) => Err(unreadable(e)),
    }
}

/// Writes `key` to a new file at `path`, readable by its owner only.
pub fn write_new(path: &Path, key: &[u8; 32]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{}\n", hex::encode(key)).as_bytes())?;
    file.sync_all()
}

/// 32 random bytes from the operating system.
pub fn random_key() -> [u8; 32] {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_made_once_for_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("some.key");
        let made = load_or_create(&path, random_key).unwrap_or_else(|e| panic!("{e}"));
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
        let again = load_or_create(&path, random_key).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(made, again, "read back, not made again");
        assert_eq!(parse_hex_key("abcd"), Err(KeyFileError::BadKey));
        assert!(write_new(&path, &made).is_err(), "never overwritten");
    }
}
