//! Authority signing-key files: JSON, written with owner-only permissions.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::decision::is_authority_id;
use crate::statement::{key_id, Signer};

/// A key file could not be read, parsed or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a Comity key file: {message}")]
    Format { path: String, message: String },
    #[error("{path}: already exists; refusing to overwrite a key")]
    Exists { path: String },
}

/// A key that does not parse, or that is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("secret_key must be 64 hex digits")]
    SecretKey,
    #[error("`{0}` is not 64 hex digits")]
    NotHex(String),
    #[error("`{0}` is not a valid ed25519 point")]
    NotPoint(String),
    #[error("`{0}` is a weak (small-order) ed25519 key and is refused")]
    Weak(String),
}

/// An authority's signing key as stored on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// Authority the key signs for, e.g. `de.bafa`.
    pub authority: String,
    /// Key id (see [`key_id`]).
    pub key_id: String,
    /// Hex ed25519 public key: this goes into a node's `authorities[].keys`.
    pub public_key: String,
    /// Hex 32-byte secret seed. Keep this file private.
    pub secret_key: String,
}

impl KeyFile {
    /// A fresh random key for `authority`.
    pub fn generate(authority: &str) -> Self {
        use rand::TryRng;
        // Straight from the OS, as ed25519-dalek's own `generate(&mut OsRng)` would take it.
        let mut seed = [0u8; 32];
        rand::rngs::SysRng.try_fill_bytes(&mut seed).expect("the operating system's random number generator");
        Self::from_signing_key(authority, &SigningKey::from_bytes(&seed))
    }

    /// Wraps an existing key.
    pub fn from_signing_key(authority: &str, key: &SigningKey) -> Self {
        let public = key.verifying_key();
        Self { authority: authority.to_string(), key_id: key_id(&public), public_key: hex::encode(public.as_bytes()), secret_key: hex::encode(key.to_bytes()) }
    }

    /// Reads and checks a key file.
    pub fn read(path: &Path) -> Result<Self, KeyFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io { path: shown.clone(), source })?;
        let file: Self = serde_json::from_str(&text).map_err(|e| KeyFileError::Format { path: shown.clone(), message: e.to_string() })?;
        let fmt_err = |message: &str| KeyFileError::Format { path: shown.clone(), message: message.into() };
        if !is_authority_id(&file.authority) {
            return Err(fmt_err("authority is not a dotted lowercase id"));
        }
        let signer = file.signer().map_err(|m| fmt_err(&m.to_string()))?;
        if hex::encode(signer.verifying_key().as_bytes()) != file.public_key || signer.key_id() != file.key_id {
            return Err(fmt_err("public_key or key_id does not match secret_key"));
        }
        Ok(file)
    }

    /// Writes the file with mode 0600, never replacing an existing file.
    pub fn write(&self, path: &Path) -> Result<(), KeyFileError> {
        let shown = path.display().to_string();
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => KeyFileError::Exists { path: shown.clone() },
            _ => KeyFileError::Io { path: shown.clone(), source },
        })?;
        let json = serde_json::to_string_pretty(self).expect("key file serialises");
        f.write_all(json.as_bytes()).and_then(|_| f.write_all(b"\n")).and_then(|_| f.sync_all()).map_err(|source| KeyFileError::Io { path: shown, source })
    }

    /// The signer for this key.
    pub fn signer(&self) -> Result<Signer, KeyError> {
        let seed: [u8; 32] = hex::decode(&self.secret_key).ok().and_then(|b| b.try_into().ok()).ok_or(KeyError::SecretKey)?;
        Ok(Signer::from_seed(&seed))
    }
}

/// Parses a hex ed25519 public key, refusing weak (small-order) keys, which would let anyone
/// forge signatures that verify.
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, KeyError> {
    let bytes: [u8; 32] = hex::decode(hex_key).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| KeyError::NotHex(hex_key.to_string()))?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::NotPoint(hex_key.to_string()))?;
    if key.is_weak() {
        return Err(KeyError::Weak(hex_key.to_string()));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("de.bafa.key");
        let key = KeyFile::generate("de.bafa");
        key.write(&path).unwrap();
        let back = KeyFile::read(&path).unwrap();
        assert_eq!(back.public_key, key.public_key);
        assert!(matches!(KeyFile::generate("de.bafa").write(&path), Err(KeyFileError::Exists { .. })));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn mismatched_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let mut key = KeyFile::generate("de.bafa");
        key.public_key = KeyFile::generate("de.bafa").public_key;
        std::fs::write(&path, serde_json::to_string(&key).unwrap()).unwrap();
        assert!(matches!(KeyFile::read(&path), Err(KeyFileError::Format { .. })));
    }

    #[test]
    fn weak_public_keys_are_refused() {
        // The identity point (small order), encoded: y = 1.
        let identity = format!("01{}", "00".repeat(31));
        assert!(parse_public_key(&identity).unwrap_err().to_string().contains("weak"));
        let good = KeyFile::generate("de.bafa").public_key;
        parse_public_key(&good).unwrap();
        assert!(parse_public_key("abc").is_err());
    }
}
