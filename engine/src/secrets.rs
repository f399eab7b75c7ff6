//! Secret values at rest: sealed with XChaCha20-Poly1305 under a key kept
//! outside the database (`<data-dir>/secret.key`, made at first start with
//! mode 0600, or `SLIPWAY_SECRET_KEY`), each bound to the variable it
//! belongs to, so a sealed value copied to another variable does not open.
//! A keyed digest stands for a value wherever Slipway compares values
//! without showing them (approvals' settings digests, release snapshots).
//!
//! Whoever copies the database (a backup, a support bundle) without the key
//! has no secret; whoever loses the key has none either, and is told which
//! variables cannot be read.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// What a sealed value starts with (and the format's version).
const SEALED: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;

impl From<crate::keyfile::KeyFileError> for SecretError {
    fn from(err: crate::keyfile::KeyFileError) -> Self {
        match err {
            crate::keyfile::KeyFileError::BadKey => SecretError::BadKey,
            crate::keyfile::KeyFileError::Unreadable { path, reason } => {
                SecretError::KeyFile { path, reason }
            }
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the secret key is 64 hex digits (32 bytes)")]
    BadKey,
    #[error("cannot read the secret key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("not a sealed value")]
    NotSealed,
    #[error(
        "the value does not open with this secret key (another key sealed it, or it was altered)"
    )]
    WrongKey,
}

/// The key secret values are sealed with. Never printed.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    pub fn generate() -> Self {
        SecretKey(crate::keyfile::random_key())
    }

    pub fn from_hex(hex_key: &str) -> Result<Self, SecretError> {
        crate::keyfile::parse_hex_key(hex_key)
            .map(SecretKey)
            .map_err(SecretError::from)
    }

    /// The key as the key file holds it. Never log it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads the key file at `path`, or makes one (mode 0600, never
    /// overwriting) when there is none.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretError> {
        crate::keyfile::load_or_create(path, crate::keyfile::random_key)
            .map(SecretKey)
            .map_err(SecretError::from)
    }

    /// Writes the key to a new file at `path`, readable by its owner only.
    pub fn write_new(&self, path: &Path) -> std::io::Result<()> {
        crate::keyfile::write_new(path, &self.0)
    }

    /// `plaintext` sealed for `context` (what it is: `env_var:<id>:<name>`).
    pub fn seal(&self, context: &str, plaintext: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        #[allow(clippy::expect_used)] // encrypting to memory cannot fail
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any length");
        format!("{SEALED}{}{}", hex::encode(nonce), hex::encode(sealed))
    }

    /// The plaintext of a value sealed for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, SecretError> {
        let body = sealed.strip_prefix(SEALED).ok_or(SecretError::NotSealed)?;
        let bytes = hex::decode(body).map_err(|_| SecretError::NotSealed)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::NotSealed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| SecretError::WrongKey)
    }

    /// A digest of `plaintext` for `context` that only this key makes:
    /// equal values give equal digests, and a copy of the database gives
    /// nothing to guess a weak secret against.
    pub fn digest(&self, context: &str, plaintext: &str) -> String {
        #[allow(clippy::expect_used)] // HMAC takes a key of any length
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("an HMAC key of any length");
        mac.update(b"slipway secret digest\0");
        mac.update(context.as_bytes());
        mac.update(b"\0");
        mac.update(plaintext.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Whether a stored value is sealed (secrets written before sealing was
/// introduced are sealed at the next start).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED)
}

/// What a variable's sealed value and digest are bound to.
pub fn var_context(env_id: i64, name: &str) -> String {
    format!("env_var:{env_id}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_its_context() {
        let key = SecretKey::generate();
        let sealed = key.seal("env_var:1:TOKEN", "hunter2");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            key.open("env_var:1:TOKEN", &sealed).as_deref(),
            Ok("hunter2")
        );
        assert_ne!(
            sealed,
            key.seal("env_var:1:TOKEN", "hunter2"),
            "a fresh nonce each time"
        );
        assert_eq!(
            key.open("env_var:2:TOKEN", &sealed),
            Err(SecretError::WrongKey),
            "moved to another variable"
        );
        assert_eq!(
            SecretKey::generate().open("env_var:1:TOKEN", &sealed),
            Err(SecretError::WrongKey)
        );
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('0') { '1' } else { '0' });
        assert_eq!(
            key.open("env_var:1:TOKEN", &tampered),
            Err(SecretError::WrongKey)
        );
        assert_eq!(
            key.open("env_var:1:TOKEN", "hunter2"),
            Err(SecretError::NotSealed)
        );
    }

    #[test]
    fn keys_round_trip_as_hex_and_never_print() {
        let key = SecretKey::generate();
        let again = SecretKey::from_hex(&key.to_hex()).unwrap_or_else(|_| SecretKey::generate());
        assert_eq!(key.digest("c", "v"), again.digest("c", "v"));
        assert_ne!(key.digest("c", "v"), SecretKey::generate().digest("c", "v"));
        assert_eq!(format!("{key:?}"), "SecretKey(…)");
        assert_eq!(SecretKey::from_hex("abcd").err(), Some(SecretError::BadKey));
    }
}
