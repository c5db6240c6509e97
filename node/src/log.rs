//! The node's own log: its signing key, checkpoints, and the start-up check that the stored
//! tree still matches the last signed checkpoint.
//!
//! Appends happen in the registry's writer (one batch per group commit); this module holds
//! what the writer needs to extend the tree and sign a checkpoint over it.

use std::collections::HashMap;
use std::path::Path;

use comity_proto::log::{tree_root, LogError, LogKey, LogVerifier, SignedCheckpoint, StoredHashes, TreeHash, EMPTY_ROOT};
use comity_proto::licence_map;
use comity_proto::witness::WitnessKey;
use serde::{Deserialize, Serialize};

use crate::store::{LogRef, Store, WriteBatch};

/// A log that cannot be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum LogOpenError {
    #[error("log key {path}: {message}")]
    Key { path: String, message: String },
    #[error("log origin is `{stored}` in the store but `{configured}` in the config; an origin names one log forever, so use a new data dir for a new origin")]
    OriginChanged { stored: String, configured: String },
    #[error("stored log is damaged: {0}; refetch it from a peer that mirrors it or restore a backup")]
    Damaged(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A note key on disk (log key or witness key): JSON, mode 0600.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteKeyFile {
    /// The key name: the log origin for a log key, the witness name for a witness key.
    #[serde(alias = "origin")]
    name: String,
    /// Hex 32-byte ed25519 seed.
    secret_key: String,
    /// The verifier key to hand to auditors and peers.
    verifier_key: String,
}

/// Reads the log key at `path`, creating it for `origin` when the file does not exist.
pub fn load_or_create_key(path: &Path, origin: &str) -> Result<LogKey, LogOpenError> {
    let make = |seed: &[u8; 32]| LogKey::from_seed(origin, seed).map(|k| (k.verifier().to_string(), k));
    match load_or_create(path, origin, make)? {
        Loaded::Key(key) => Ok(key),
        Loaded::OtherName(stored) => Err(LogOpenError::OriginChanged { stored, configured: origin.into() }),
    }
}

/// Reads the witness key at `path`, creating it for `name` when the file does not exist.
pub fn load_or_create_witness_key(path: &Path, name: &str) -> Result<WitnessKey, LogOpenError> {
    let make = |seed: &[u8; 32]| WitnessKey::from_seed(name, seed).map(|k| (k.verifier().to_string(), k));
    match load_or_create(path, name, make)? {
        Loaded::Key(key) => Ok(key),
        Loaded::OtherName(stored) => Err(LogOpenError::Key {
            path: path.display().to_string(),
            message: format!("the key is for witness `{stored}`, the config names `{name}`; peers pin the name with the key"),
        }),
    }
}

enum Loaded<K> {
    Key(K),
    OtherName(String),
}

fn load_or_create<K>(path: &Path, name: &str, make: impl Fn(&[u8; 32]) -> Result<(String, K), LogError>) -> Result<Loaded<K>, LogOpenError> {
    let shown = path.display().to_string();
    let err = |message: String| LogOpenError::Key { path: shown.clone(), message };
    if !path.exists() {
        let seed: [u8; 32] = rand::random();
        let (verifier_key, key) = make(&seed).map_err(|e| err(e.to_string()))?;
        let file = NoteKeyFile { name: name.into(), secret_key: hex::encode(seed), verifier_key: verifier_key.clone() };
        write_private(path, &serde_json::to_string_pretty(&file).expect("serialises")).map_err(|e| err(e.to_string()))?;
        tracing::info!(path = %shown, %verifier_key, "created key");
        return Ok(Loaded::Key(key));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let file: NoteKeyFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    if file.name != name {
        return Ok(Loaded::OtherName(file.name));
    }
    let seed: [u8; 32] = hex::decode(&file.secret_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| err("secret_key must be 64 hex digits".into()))?;
    make(&seed).map(|(_, key)| Loaded::Key(key)).map_err(|e| err(e.to_string()))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// The node's log as the writer sees it.
pub struct NodeLog {
    key: LogKey,
    verifier: LogVerifier,
    latest: SignedCheckpoint,
}

impl NodeLog {
    /// Opens the log in `store`: checks the origin, the last checkpoint's signature, and that
    /// the root recomputed from the stored hashes equals the signed root. A new log gets a
    /// signed checkpoint of size 0.
    pub fn open(store: &Store, key: LogKey, now: i64) -> Result<Self, LogOpenError> {
        let verifier = key.verifier();
        if let Some(stored) = store.own_log_origin()? {
            if stored != verifier.name() {
                return Err(LogOpenError::OriginChanged { stored, configured: verifier.name().into() });
            }
        }
        let log = store.log(verifier.name());
        let latest = match log.checkpoint()? {
            Some(note) => {
                let cp = verifier.verify_checkpoint(&note).map_err(|e| LogOpenError::Damaged(format!("last checkpoint: {e}")))?;
                let size = log.size()?;
                if cp.size != size {
                    return Err(LogOpenError::Damaged(format!("log size {size} differs from the checkpoint's {}", cp.size)));
                }
                let root = tree_root(size, &log).map_err(LogOpenError::Damaged)?;
                if root != cp.root {
                    return Err(LogOpenError::Damaged(format!(
                        "recomputed root {} differs from the signed root {} at size {size}",
                        hex::encode(root),
                        hex::encode(cp.root)
                    )));
                }
                let map_root = map_root(&log, size).map_err(LogOpenError::Damaged)?;
                if map_root != cp.map_root {
                    return Err(LogOpenError::Damaged(format!(
                        "stored licence-state map root {} differs from the signed one {} at size {size}",
                        hex::encode(map_root),
                        hex::encode(cp.map_root)
                    )));
                }
                cp
            }
            None => {
                let note = key.sign_checkpoint(0, &EMPTY_ROOT, &licence_map::EMPTY_HASH, now).map_err(|e| LogOpenError::Damaged(e.to_string()))?;
                let mut batch = WriteBatch::default();
                batch.put_own_log_origin(verifier.name());
                batch.put_checkpoint(verifier.name(), 0, &note);
                store.commit(batch)?;
                verifier.verify_checkpoint(&note).map_err(|e| LogOpenError::Damaged(e.to_string()))?
            }
        };
        tracing::info!(origin = %verifier.name(), size = latest.size, root = %hex::encode(latest.root), verifier_key = %verifier, "log verified");
        Ok(Self { key, verifier, latest })
    }

    /// The origin.
    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// The public note key.
    pub fn verifier(&self) -> &LogVerifier {
        &self.verifier
    }

    /// The latest committed checkpoint.
    pub fn latest(&self) -> &SignedCheckpoint {
        &self.latest
    }

    /// Signs a checkpoint for `size` entries with `root` and licence-state map root `map_root`.
    pub fn sign(&self, size: u64, root: &TreeHash, map_root: &TreeHash, now: i64) -> String {
        self.key.sign_checkpoint(size, root, map_root, now).expect("the log's own origin and key form a valid checkpoint")
    }

    /// Records that `note` was committed.
    pub fn committed(&mut self, note: &str) {
        match self.verifier.verify_checkpoint(note) {
            Ok(cp) => self.latest = cp,
            Err(e) => tracing::error!(error = %e, "own checkpoint does not verify"),
        }
    }
}

/// Root of the stored licence-state map of `log` at size `size`.
pub fn map_root(log: &LogRef<'_>, size: u64) -> Result<TreeHash, String> {
    use licence_map::NodeSource as _;
    log.map(size).node(&licence_map::Path::ROOT).map(|n| n.hash())
}

/// A log's stored hashes plus those staged in the current batch.
pub struct Overlay<'a> {
    log: LogRef<'a>,
    pending: HashMap<u64, TreeHash>,
}

impl<'a> Overlay<'a> {
    /// An empty overlay over `log`.
    pub fn new(log: LogRef<'a>) -> Self {
        Self { log, pending: HashMap::new() }
    }

    /// Adds staged hashes.
    pub fn stage(&mut self, hashes: &[(u64, TreeHash)]) {
        self.pending.extend(hashes.iter().copied());
    }
}

impl StoredHashes for Overlay<'_> {
    fn read(&self, indexes: &[u64]) -> Result<Vec<TreeHash>, String> {
        let missing: Vec<u64> = indexes.iter().filter(|i| !self.pending.contains_key(i)).copied().collect();
        let mut from_store = self.log.read(&missing)?.into_iter();
        Ok(indexes
            .iter()
            .map(|i| self.pending.get(i).copied().unwrap_or_else(|| from_store.next().expect("one stored hash per missing index")))
            .collect())
    }
}
