//! The node's own log: its signing key, checkpoints, and the start-up checks that the stored
//! tree still matches the last signed checkpoint, and that it holds everything the key has
//! signed (the key's last signed checkpoint is kept next to the key, outside the store, so a
//! deleted or cut store cannot make the key sign a second history).
//!
//! Appends happen in the registry's writer (one batch per group commit); this module holds
//! what the writer needs to extend the tree and sign a checkpoint over it.
//!
//! Beside it: the read-only tlog-tiles view of the log over HTTP ([`tiles`]), the log export
//! file format ([`logfile`]), and the `Log` gRPC service ([`service`]).

pub mod logfile;
pub mod service;
pub mod tiles;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use comity_proto::authoring::format_time;
use comity_proto::licence_map;
use comity_proto::log::{tree_root, HashReadError, LogError, LogKey, LogVerifier, SignedCheckpoint, StoredHashes, TreeHash, EMPTY_ROOT};
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
    /// The store does not hold the history the log key last signed: it was deleted, cut back
    /// (an older backup) or replaced. Signing on from it would sign a second history.
    #[error(transparent)]
    NotWhatKeySigned(Box<NotWhatKeySigned>),
    #[error("{path}: {message}")]
    SignedRecord { path: String, message: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What the log key last signed, against what the store holds (see [`LogOpenError::NotWhatKeySigned`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "this node's log key last signed {origin} at size {signed_size} (root {signed_root}, time {signed_time}; recorded in {path}), \
     but the store holds {held}. Starting would make the key sign a second history, so the node refuses. \
     Fetch the log back from a peer that mirrors it: stop the node and run `comity-node recover --from <peer url>` \
     (with this node's --config or --data-dir). If no peer holds {signed_size} entries of {origin}, this log cannot go on: \
     start a new origin with a new log key. Never delete or replace {path}: it must stay with the key"
)]
pub struct NotWhatKeySigned {
    pub origin: String,
    pub signed_size: u64,
    pub signed_root: String,
    pub signed_time: String,
    pub path: String,
    pub held: String,
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
    let seed: [u8; 32] = hex::decode(&file.secret_key).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| err("secret_key must be 64 hex digits".into()))?;
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

/// The last checkpoint a log key signed, kept next to the key (`<log key>.signed`).
///
/// Written after the store commit and before the checkpoint is announced or acknowledged, so
/// the store is never behind it except when it was deleted or cut: then the node refuses to
/// start instead of signing a second history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastSigned {
    pub origin: String,
    pub size: u64,
    /// Hex root hash.
    pub root: String,
    /// Unix seconds of the checkpoint.
    pub time: i64,
    /// The signed note, for an operator or auditor to check with the log's verifier key.
    pub note: String,
}

impl LastSigned {
    fn of(cp: &SignedCheckpoint) -> Self {
        Self { origin: cp.origin.clone(), size: cp.size, root: hex::encode(cp.root), time: cp.time, note: cp.note.clone() }
    }
}

/// Where the log key's last signed checkpoint lives: next to the key file.
pub fn last_signed_path(log_key_path: &Path) -> PathBuf {
    let mut name = log_key_path.as_os_str().to_owned();
    name.push(".signed");
    PathBuf::from(name)
}

/// Bytes of one slot of the `.signed` file.
const SLOT_BYTES: usize = 4096;

/// One slot of the `.signed` file: a JSON line padded with spaces to [`SLOT_BYTES`].
///
/// The file holds two slots, written in turn in place with one `fdatasync` per checkpoint
/// (a temp file, rename and directory fsync cost ~30 times more per batch, measured on ext4:
/// 6.5 ms against 0.2 ms). A write torn by a crash fails its checksum, and the other slot, the
/// checkpoint before, is read: the store is then ahead of the record, which is consistent.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Slot {
    /// Higher is newer.
    seq: u64,
    /// SHA-256 (hex) of `last_signed` as serialised here.
    sha256: String,
    last_signed: LastSigned,
}

fn slot_checksum(last: &LastSigned) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(serde_json::to_vec(last).expect("serialises")))
}

/// The newest intact slot of a `.signed` file, or `None` when there is no file.
fn read_slots(path: &Path) -> Result<Option<(u64, LastSigned)>, LogOpenError> {
    let refuse = |message: String| LogOpenError::SignedRecord { path: path.display().to_string(), message };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(refuse(e.to_string())),
    };
    let newest = bytes
        .chunks(SLOT_BYTES)
        .filter_map(|chunk| serde_json::from_str::<Slot>(std::str::from_utf8(chunk).ok()?.trim()).ok())
        .filter(|slot| slot.sha256 == slot_checksum(&slot.last_signed))
        .max_by_key(|slot| slot.seq);
    match newest {
        Some(slot) => Ok(Some((slot.seq, slot.last_signed))),
        None => Err(refuse("no intact record in it; it was edited or damaged: restore it from the key's backup (never an older copy than the last one), or, if it is lost, move it aside and start: the record is then written from the store".into())),
    }
}

/// The `.signed` file of a log key, and what it holds.
#[derive(Debug)]
pub struct SignedRecord {
    path: PathBuf,
    last: Option<LastSigned>,
    /// Sequence number of the newest slot.
    seq: u64,
    /// While a rebuild re-signs the history, the record is left as it is: the caller records
    /// the end once it has checked the rebuilt tree against what the key signed.
    frozen: bool,
}

impl SignedRecord {
    /// Reads the record next to the log key at `log_key_path` (none yet is fine).
    pub fn next_to_key(log_key_path: &Path) -> Result<Self, LogOpenError> {
        let path = last_signed_path(log_key_path);
        let found = read_slots(&path)?;
        let (seq, last) = found.map_or((0, None), |(seq, last)| (seq, Some(last)));
        Ok(Self { path, last, seq, frozen: false })
    }

    /// What the key last signed, as recorded.
    pub fn last(&self) -> Option<&LastSigned> {
        self.last.as_ref()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records `cp` durably, unless the file already holds a larger checkpoint (a rebuild
    /// re-signs the prefix of a history the key signed further; the record keeps the end).
    pub fn record(&mut self, cp: &SignedCheckpoint) -> std::io::Result<()> {
        if self.frozen || self.last.as_ref().is_some_and(|last| last.size > cp.size) {
            return Ok(());
        }
        let last = LastSigned::of(cp);
        let seq = self.seq + 1;
        let mut line = serde_json::to_vec(&Slot { seq, sha256: slot_checksum(&last), last_signed: last.clone() }).expect("serialises");
        if line.len() >= SLOT_BYTES {
            return Err(std::io::Error::other(format!("the checkpoint record takes {} bytes, more than a slot's {SLOT_BYTES}", line.len())));
        }
        line.resize(SLOT_BYTES - 1, b' ');
        line.push(b'\n');
        let offset = (seq % 2) * SLOT_BYTES as u64;
        // Opened each time (microseconds next to the sync), so the write lands at the path
        // even if the file was replaced while the node runs.
        match std::fs::OpenOptions::new().write(true).open(&self.path) {
            Ok(mut file) if self.last.is_some() => {
                use std::io::{Seek, Write};
                file.seek(std::io::SeekFrom::Start(offset))?;
                file.write_all(&line)?;
                // The file's size and blocks are fixed: the data is all there is to sync.
                file.sync_data()?;
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {
                // First record (or the file went away): the whole file, both slots, atomically.
                let mut empty = vec![b' '; SLOT_BYTES - 1];
                empty.push(b'\n');
                let mut bytes = [empty.clone(), empty].concat();
                bytes[offset as usize..offset as usize + SLOT_BYTES].copy_from_slice(&line);
                write_durably(&self.path, &bytes)?;
            }
        }
        self.seq = seq;
        self.last = Some(last);
        Ok(())
    }

    /// Checks that `log` (holding `held`, its verified latest checkpoint, or nothing) holds the
    /// history this key last signed. `Ok(true)` when the store is ahead of the record.
    pub fn check(&self, origin: &str, held: Option<&SignedCheckpoint>, log: &impl StoredHashes) -> Result<bool, LogOpenError> {
        let Some(last) = &self.last else { return Ok(held.is_some()) };
        let refuse = |held: String| {
            LogOpenError::NotWhatKeySigned(Box::new(NotWhatKeySigned {
                origin: last.origin.clone(),
                signed_size: last.size,
                signed_root: last.root.clone(),
                signed_time: format_time(last.time),
                path: self.path.display().to_string(),
                held,
            }))
        };
        if last.origin != origin {
            return Err(LogOpenError::SignedRecord {
                path: self.path.display().to_string(),
                message: format!("it records log `{}` but this key signs `{origin}`; it belongs to another key: put back this key's own file", last.origin),
            });
        }
        let Some(held) = held else {
            // A key that signed only the empty tree may start it again: no history to contradict.
            return if last.size == 0 { Ok(false) } else { Err(refuse("no log (an empty or new store)".into())) };
        };
        if held.size < last.size {
            return Err(refuse(format!("only {} entries (root {}, time {})", held.size, hex::encode(held.root), format_time(held.time))));
        }
        let root = tree_root(last.size, log).map_err(|e| LogOpenError::Damaged(e.to_string()))?;
        if hex::encode(root) != last.root {
            return Err(refuse(format!("{} entries whose first {} hash to a different root {}", held.size, last.size, hex::encode(root))));
        }
        Ok(held.size > last.size)
    }
}

/// Reads a JSON file, or `None` when it does not exist; refused as a damaged signed record.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, LogOpenError> {
    let refuse = |message: String| LogOpenError::SignedRecord { path: path.display().to_string(), message };
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            refuse(format!("unreadable ({e}); it is written atomically, so it was edited or damaged: restore it from the key's backup (never an older copy than the last one)"))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(refuse(e.to_string())),
    }
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new file, and the
/// new one is on disk when this returns: temp file, fsync, rename, fsync the directory.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

/// The node's log as the writer sees it.
pub struct NodeLog {
    key: LogKey,
    verifier: LogVerifier,
    latest: SignedCheckpoint,
    signed: SignedRecord,
}

impl NodeLog {
    /// Opens the log in `store` to serve it: checks the origin, the last checkpoint's
    /// signature, that the root recomputed from the stored hashes equals the signed root, and
    /// that the store holds the history the key last signed (`signed`). A new log gets a
    /// signed checkpoint of size 0.
    pub fn open(store: &Store, key: LogKey, signed: SignedRecord, now: i64) -> Result<Self, LogOpenError> {
        let verifier = key.verifier();
        let held = verified_latest(store, &verifier)?;
        let ahead = signed.check(verifier.name(), held.as_ref(), &store.log(verifier.name()))?;
        let mut log = Self::start(store, key, held, signed, now)?;
        if ahead {
            let recorded = log.signed.last().map(|l| l.size);
            match recorded {
                None => {
                    tracing::warn!(path = %log.signed.path().display(), size = log.latest.size, "no record of the log key's last signed checkpoint (a store from before it was kept, or the file was moved); writing it from the store's verified checkpoint")
                }
                Some(size) => {
                    tracing::warn!(path = %log.signed.path().display(), recorded = size, store = log.latest.size, "the store is ahead of the last signed record (a stop between commit and record); bringing the record forward")
                }
            }
            log.signed.record(&log.latest).map_err(|e| LogOpenError::SignedRecord { path: log.signed.path().display().to_string(), message: e.to_string() })?;
        }
        tracing::info!(origin = %log.origin(), size = log.latest.size, root = %hex::encode(log.latest.root), verifier_key = %log.verifier, "log verified");
        Ok(log)
    }

    /// Opens an empty `store` that `recover` fills again with the history the key signed: no
    /// check against `signed` here, and nothing is recorded in it while the rebuild re-signs
    /// the history; the caller checks the rebuilt tree against the record and records its end.
    pub fn open_to_rebuild(store: &Store, key: LogKey, mut signed: SignedRecord, now: i64) -> Result<Self, LogOpenError> {
        signed.frozen = true;
        let verifier = key.verifier();
        let held = verified_latest(store, &verifier)?;
        Self::start(store, key, held, signed, now)
    }

    fn start(store: &Store, key: LogKey, held: Option<SignedCheckpoint>, mut signed: SignedRecord, now: i64) -> Result<Self, LogOpenError> {
        let verifier = key.verifier();
        let latest = match held {
            Some(cp) => cp,
            None => {
                let note = key.sign_checkpoint(0, &EMPTY_ROOT, &licence_map::EMPTY_HASH, now).map_err(|e| LogOpenError::Damaged(e.to_string()))?;
                let mut batch = WriteBatch::default();
                batch.put_own_log_origin(verifier.name());
                batch.put_checkpoint(verifier.name(), 0, &note);
                store.commit(batch)?;
                let cp = verifier.verify_checkpoint(&note).map_err(|e| LogOpenError::Damaged(e.to_string()))?;
                signed.record(&cp).map_err(|e| LogOpenError::SignedRecord { path: signed.path().display().to_string(), message: e.to_string() })?;
                cp
            }
        };
        Ok(Self { key, verifier, latest, signed })
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

    /// Records that `note` was committed to the store, and records it durably next to the key:
    /// only after this returns `Ok` may the checkpoint be announced or acknowledged. On an
    /// error the store still holds it (so the next batch extends it, and the record is
    /// written again then), but it must not be served as acknowledged.
    pub fn committed(&mut self, note: &str) -> Result<(), std::io::Error> {
        match self.verifier.verify_checkpoint(note) {
            Ok(cp) => self.latest = cp,
            Err(e) => {
                tracing::error!(error = %e, "own checkpoint does not verify");
                return Ok(());
            }
        }
        self.signed
            .record(&self.latest)
            .map_err(|e| std::io::Error::new(e.kind(), format!("recording the last signed checkpoint in {}: {e}", self.signed.path().display())))
    }

    /// What the key last signed, as recorded next to it.
    pub fn last_signed(&self) -> Option<&LastSigned> {
        self.signed.last()
    }
}

/// The store's latest checkpoint of the node's own log, verified: origin, signature, size and
/// the root recomputed from the stored hashes. `None` for a store without the log.
pub fn verified_latest(store: &Store, verifier: &LogVerifier) -> Result<Option<SignedCheckpoint>, LogOpenError> {
    if let Some(stored) = store.own_log_origin()? {
        if stored != verifier.name() {
            return Err(LogOpenError::OriginChanged { stored, configured: verifier.name().into() });
        }
    }
    let log = store.log(verifier.name());
    let Some(note) = log.checkpoint()? else { return Ok(None) };
    let cp = verifier.verify_checkpoint(&note).map_err(|e| LogOpenError::Damaged(format!("last checkpoint: {e}")))?;
    let size = log.size()?;
    if cp.size != size {
        return Err(LogOpenError::Damaged(format!("log size {size} differs from the checkpoint's {}", cp.size)));
    }
    let root = tree_root(size, &log).map_err(|e| LogOpenError::Damaged(e.to_string()))?;
    if root != cp.root {
        return Err(LogOpenError::Damaged(format!(
            "recomputed root {} differs from the signed root {} at size {size}",
            hex::encode(root),
            hex::encode(cp.root)
        )));
    }
    let map_root = map_root(&log, size).map_err(|e| LogOpenError::Damaged(e.to_string()))?;
    if map_root != cp.map_root {
        return Err(LogOpenError::Damaged(format!(
            "stored licence-state map root {} differs from the signed one {} at size {size}",
            hex::encode(map_root),
            hex::encode(cp.map_root)
        )));
    }
    Ok(Some(cp))
}

/// Root of the stored licence-state map of `log` at size `size`.
pub fn map_root(log: &LogRef<'_>, size: u64) -> Result<TreeHash, crate::store::MapStoreError> {
    use licence_map::NodeSource as _;
    Ok(log.map(size)?.node(&licence_map::Path::ROOT)?.hash())
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
    fn read(&self, indexes: &[u64]) -> Result<Vec<TreeHash>, HashReadError> {
        let missing: Vec<u64> = indexes.iter().filter(|i| !self.pending.contains_key(i)).copied().collect();
        let mut from_store = self.log.read(&missing)?.into_iter();
        Ok(indexes.iter().map(|i| self.pending.get(i).copied().unwrap_or_else(|| from_store.next().expect("one stored hash per missing index"))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use comity_proto::log::hashes_to_store;
    use comity_proto::statement::StatementId;

    const ORIGIN: &str = "registry.test.example/log";

    fn key() -> LogKey {
        LogKey::from_seed(ORIGIN, &[7; 32]).unwrap()
    }

    /// Appends entries with leaves `leaves` to the store's own log and commits a checkpoint
    /// over them signed by the key, as the writer does (without touching the record).
    fn append(store: &Store, leaves: &[u8]) {
        let log = store.log(ORIGIN);
        let mut size = log.size().unwrap();
        let mut overlay = Overlay::new(store.log(ORIGIN));
        let mut batch = WriteBatch::default();
        batch.put_own_log_origin(ORIGIN);
        for leaf in leaves {
            let hash = [*leaf; 32];
            let hashes = hashes_to_store(size, &hash, &overlay).unwrap();
            overlay.stage(&hashes);
            batch.append_log(ORIGIN, size, &StatementId([*leaf; 32]), 0, &hashes);
            size += 1;
        }
        let root = tree_root(size, &overlay).unwrap();
        batch.put_checkpoint(ORIGIN, size, &key().sign_checkpoint(size, &root, &licence_map::EMPTY_HASH, 1_700_000_000 + size as i64).unwrap());
        store.commit(batch).unwrap();
    }

    fn record(dir: &Path) -> SignedRecord {
        SignedRecord::next_to_key(&dir.join("log.key")).unwrap()
    }

    fn recorded(dir: &Path) -> LastSigned {
        record(dir).last().expect("a record").clone()
    }

    #[test]
    fn a_new_log_records_its_empty_checkpoint_next_to_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let log = NodeLog::open(&store, key(), record(dir.path()), 1_700_000_000).unwrap();
        let last = recorded(dir.path());
        assert_eq!((last.origin.as_str(), last.size, last.root.as_str(), last.time), (ORIGIN, 0, hex::encode(EMPTY_ROOT).as_str(), 1_700_000_000));
        assert_eq!(log.last_signed(), Some(&last));
        assert!(key().verifier().verify_checkpoint(&last.note).is_ok(), "the note is the signed checkpoint");
        assert!(!dir.path().join("log.key.signed.tmp").exists(), "no temp file is left");
    }

    #[test]
    fn committed_records_each_checkpoint_and_never_moves_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let mut log = NodeLog::open(&store, key(), record(dir.path()), 1_700_000_000).unwrap();
        let mut hashes = comity_proto::log::MemoryHashes::default();
        for leaf in [1u8, 2, 3] {
            hashes.append(&[leaf; 32]);
        }
        let note = log.sign(3, &tree_root(3, &hashes).unwrap(), &licence_map::EMPTY_HASH, 1_700_000_010);
        log.committed(&note).unwrap();
        assert_eq!(recorded(dir.path()).size, 3);
        let older = log.sign(2, &tree_root(2, &hashes).unwrap(), &licence_map::EMPTY_HASH, 1_700_000_011);
        log.committed(&older).unwrap();
        assert_eq!(recorded(dir.path()).size, 3, "a smaller checkpoint never replaces the record");
    }

    #[test]
    fn a_store_ahead_of_the_record_brings_it_forward() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        drop(NodeLog::open(&store, key(), record(dir.path()), 1_700_000_000).unwrap());
        // A stop between the store commit and the record: the store holds 4, the record 0.
        append(&store, &[1, 2, 3, 4]);
        let log = NodeLog::open(&store, key(), record(dir.path()), 1_700_000_100).unwrap();
        assert_eq!(log.latest().size, 4);
        let last = recorded(dir.path());
        assert_eq!((last.size, last.root), (4, hex::encode(log.latest().root)));
    }

    #[test]
    fn a_missing_record_is_written_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        append(&store, &[1, 2, 3]);
        assert!(!dir.path().join("log.key.signed").exists());
        NodeLog::open(&store, key(), record(dir.path()), 1_700_000_100).unwrap();
        assert_eq!(recorded(dir.path()).size, 3);
    }

    fn refused(result: Result<NodeLog, LogOpenError>) -> String {
        match result {
            Err(e @ LogOpenError::NotWhatKeySigned(_)) => e.to_string(),
            Err(e) => panic!("refused for another reason: {e}"),
            Ok(_) => panic!("a store without what the key signed must be refused"),
        }
    }

    #[test]
    fn a_deleted_store_is_refused_naming_what_the_key_signed_and_recover() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(&dir.path().join("store")).unwrap();
            drop(NodeLog::open(&store, key(), record(dir.path()), 1_700_000_000).unwrap());
            append(&store, &[1, 2, 3, 4, 5]);
            NodeLog::open(&store, key(), record(dir.path()), 1_700_000_100).unwrap();
        }
        let signed_root = recorded(dir.path()).root;
        std::fs::remove_dir_all(dir.path().join("store")).unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let message = refused(NodeLog::open(&store, key(), record(dir.path()), 1_700_000_200));
        assert!(message.contains("last signed registry.test.example/log at size 5"), "{message}");
        assert!(message.contains(&signed_root), "{message}");
        assert!(message.contains("no log (an empty or new store)"), "{message}");
        assert!(message.contains("comity-node recover --from <peer url>"), "{message}");
        assert_eq!(store.log(ORIGIN).checkpoint().unwrap(), None, "nothing was signed into the empty store");
        assert_eq!(recorded(dir.path()).size, 5, "the record is untouched");
    }

    #[test]
    fn a_store_cut_back_or_holding_another_history_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        append(&store, &[1, 2, 3, 4, 5]);
        NodeLog::open(&store, key(), record(dir.path()), 1_700_000_100).unwrap();
        drop(store);

        // Cut back: the first three entries only.
        let cut = Store::open(&dir.path().join("cut")).unwrap();
        append(&cut, &[1, 2, 3]);
        let message = refused(NodeLog::open(&cut, key(), record(dir.path()), 1_700_000_200));
        assert!(message.contains("only 3 entries"), "{message}");

        // Same size, another history (the key signed it, e.g. after an earlier deletion).
        let other = Store::open(&dir.path().join("other")).unwrap();
        append(&other, &[1, 2, 9, 4, 5]);
        let message = refused(NodeLog::open(&other, key(), record(dir.path()), 1_700_000_200));
        assert!(message.contains("hash to a different root"), "{message}");

        // Longer but not extending the signed history.
        let longer = Store::open(&dir.path().join("longer")).unwrap();
        append(&longer, &[1, 2, 9, 4, 5, 6, 7]);
        refused(NodeLog::open(&longer, key(), record(dir.path()), 1_700_000_200));

        // Longer and extending it: fine, and the record moves on.
        let ahead = Store::open(&dir.path().join("ahead")).unwrap();
        append(&ahead, &[1, 2, 3, 4, 5, 6, 7]);
        NodeLog::open(&ahead, key(), record(dir.path()), 1_700_000_200).unwrap();
        assert_eq!(recorded(dir.path()).size, 7);
    }

    #[test]
    fn a_rebuild_opens_an_empty_store_and_leaves_the_record_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        append(&store, &[1, 2, 3]);
        NodeLog::open(&store, key(), record(dir.path()), 1_700_000_100).unwrap();
        let fresh = Store::open(&dir.path().join("fresh")).unwrap();
        let mut log = NodeLog::open_to_rebuild(&fresh, key(), record(dir.path()), 1_700_000_200).unwrap();
        assert_eq!(log.latest().size, 0);
        let mut hashes = comity_proto::log::MemoryHashes::default();
        for leaf in [1u8, 2, 3, 4] {
            hashes.append(&[leaf; 32]);
        }
        log.committed(&log.sign(4, &tree_root(4, &hashes).unwrap(), &licence_map::EMPTY_HASH, 1_700_000_300)).unwrap();
        assert_eq!(recorded(dir.path()).size, 3, "the caller records the rebuilt end once checked");
    }

    #[test]
    fn a_record_of_another_log_or_damaged_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let other_key = LogKey::from_seed("other.example/log", &[8; 32]).unwrap();
        let other = other_key.verifier().verify_checkpoint(&other_key.sign_checkpoint(0, &EMPTY_ROOT, &licence_map::EMPTY_HASH, 1).unwrap()).unwrap();
        record(dir.path()).record(&other).unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let e = NodeLog::open(&store, key(), record(dir.path()), 1_700_000_000).err().expect("refused");
        assert!(e.to_string().contains("it belongs to another key"), "{e}");
        std::fs::write(dir.path().join("log.key.signed"), "{ not json").unwrap();
        let e = SignedRecord::next_to_key(&dir.path().join("log.key")).unwrap_err();
        assert!(e.to_string().contains("no intact record"), "{e}");
    }

    #[test]
    fn the_record_alternates_slots_and_a_torn_slot_falls_back_to_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let mut hashes = comity_proto::log::MemoryHashes::default();
        let mut signed = record(dir.path());
        for leaf in 1..=5u8 {
            hashes.append(&[leaf; 32]);
            let size = leaf as u64;
            let note = key().sign_checkpoint(size, &tree_root(size, &hashes).unwrap(), &licence_map::EMPTY_HASH, 1_700_000_000 + size as i64).unwrap();
            signed.record(&key().verifier().verify_checkpoint(&note).unwrap()).unwrap();
            assert_eq!(recorded(dir.path()).size, size, "read back after each write");
        }
        let path = dir.path().join("log.key.signed");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * SLOT_BYTES as u64, "two fixed slots");
        // The newest (seq 5) is in slot 1: tear it.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[SLOT_BYTES + 40] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(recorded(dir.path()).size, 4, "the slot before is read");
        // A fresh handle writes on from there, over the torn slot.
        let mut signed = record(dir.path());
        let note = key().sign_checkpoint(5, &tree_root(5, &hashes).unwrap(), &licence_map::EMPTY_HASH, 1_700_000_010).unwrap();
        signed.record(&key().verifier().verify_checkpoint(&note).unwrap()).unwrap();
        assert_eq!(recorded(dir.path()).time, 1_700_000_010);
    }
}
