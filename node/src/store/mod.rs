//! The node's storage, over sled. The only module that imports sled.
//!
//! Writes go through [`WriteBatch`], applied atomically and flushed before [`Store::commit`]
//! returns, so a caller may acknowledge as soon as it does.

mod changes;
mod denials;
pub mod engine;
mod keys;
mod map;
pub mod search;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use comity_proto::pb;
use comity_proto::statement::StatementId;
use prost::Message;
use serde::{Deserialize, Serialize};

pub use changes::Changes;
use engine::{Engine, Value};
pub use engine::{EngineError, EngineKind};
pub use keys::table;
pub use map::{MapCache, MapStoreError, MapView, StagedMap, CACHED_DEPTH, MAX_UNDO, TILE_HEIGHT};
pub use search::{SearchPage, SearchQuery, MAX_PAGE_SIZE};

/// Layout version of the data this binary writes. Older and newer data are refused.
/// 3: log entries carry their log time (in the leaf), licence-state maps in tiles with undo
/// records. (2: maps in tiles, entries without log time; 1: a record per map node version.)
pub const SCHEMA_VERSION: u32 = 3;
const FORMAT_MARKER: &[u8] = b"comity-store";
/// The engine's cache of store pages, bytes. sled's default (1 GiB) let a node's memory grow
/// with its store to that size; the operating system's page cache holds the files as well, so
/// a small cache costs reads little: on fjall at 100k decisions, 8 MiB instead of 64 MiB took
/// ~70 MB off the node's memory with read latency within the run's noise (BENCHMARKS.md,
/// Storage at scale).
pub const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("open data dir {dir}: {source}")]
    Open { dir: String, source: EngineError },
    #[error("open data dir {dir}: schema version {found} is newer than this binary ({SCHEMA_VERSION}); upgrade comity-node")]
    NewerSchema { dir: String, found: u32 },
    #[error(
        "open data dir {dir}: schema version {found} was written before log entries carried their log time (schema {SCHEMA_VERSION}); a log's signed leaves cannot be converted: start this node on a new data dir with a new origin, and re-publish the decisions there"
    )]
    OlderSchema { dir: String, found: u32 },
    #[error("open data dir {dir}: it holds data that is not a Comity store")]
    Foreign { dir: String },
    /// sled refused or panicked on its files: name them and the commands that repair them.
    #[error(
        "the store in {dir} is damaged ({reason}); rebuild it from a peer that mirrors this node's log with `comity-node recover --data-dir {data_dir} --from PEER_URL` (it keeps the damaged store aside), or move {dir} aside and restore a backup with `comity-node restore --data-dir {data_dir} --from BACKUP_DIR`"
    )]
    Damaged { dir: String, data_dir: String, reason: String },
    #[error("storage: {0}")]
    Engine(#[from] EngineError),
    #[error("storage: corrupt record under {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// A commit did not reach the disk (disk full, I/O error); set by the first and repeated
    /// by every later one.
    #[error("storage: {0}; writes stay refused until the node restarts, once the disk has space")]
    Failed(String),
    /// The disk holding the store has less free space than the reserve: refused before sled
    /// writes anything, so reads stay unaffected and writes resume once space is freed.
    #[error(
        "storage: the disk holding {dir} has {free} bytes free, below the reserve of {reserve} (limits.min_free_disk_bytes); writes resume once space is freed"
    )]
    DiskLow { dir: String, free: u64, reserve: u64 },
}

impl StoreError {
    /// The store in `dir` (a data dir's `store`) is damaged, for `reason`.
    pub fn damaged(dir: &Path, reason: impl Into<String>) -> Self {
        let data_dir = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        StoreError::Damaged { dir: dir.display().to_string(), data_dir: data_dir.display().to_string(), reason: reason.into() }
    }

    /// The store could not write (or read) its files: the request may be repeated once the
    /// node has disk space again, unlike data found damaged.
    pub fn is_write_failure(&self) -> bool {
        match self {
            StoreError::Failed(_) | StoreError::DiskLow { .. } => true,
            StoreError::Engine(e) => e.is_io(),
            _ => false,
        }
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// Two signed objects that cannot both be true, kept for everyone to inspect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Evidence {
    /// Two validly signed decisions for the same licence version.
    LicenceFork {
        authority: String,
        licence_id: String,
        version: u64,
        /// Hex envelope bytes of the decision stored first.
        first_envelope: String,
        /// Hex envelope bytes of the conflicting decision.
        second_envelope: String,
        /// Unix seconds when this node detected it.
        detected_at: i64,
        /// The mirrored log that carried the conflicting decision (none: offered for publishing
        /// here).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<String>,
    },
    /// Two checkpoints signed by one log's key that cannot both be true: the log showed
    /// different histories (a split view).
    SplitView {
        origin: String,
        /// The checkpoint held here (signed note text).
        first_checkpoint: String,
        /// The contradicting checkpoint (signed note text).
        second_checkpoint: String,
        /// Why they cannot both be true.
        reason: String,
        detected_at: i64,
    },
}

impl Evidence {
    /// Short name of the kind, as serialised.
    pub fn kind(&self) -> &'static str {
        match self {
            Evidence::LicenceFork { .. } => "licence_fork",
            Evidence::SplitView { .. } => "split_view",
        }
    }
}

/// The node's database.
#[derive(Clone)]
pub struct Store {
    db: Engine,
    /// Set by the first commit that fails: sled's memory may then hold writes that are not on
    /// disk, so no later commit is attempted until the node restarts and recovers from disk.
    failed: std::sync::Arc<std::sync::OnceLock<String>>,
    /// The log records (checkpoints, sizes) a failed commit replaced, as they were before it.
    /// Read in place of sled's, so no checkpoint of a batch that never reached the disk is
    /// served (after a failed flush sled's memory holds one that may never be).
    durable: std::sync::Arc<std::sync::RwLock<HashMap<Vec<u8>, Option<Value>>>>,
    /// Bumped after every write for what it changed, so caches of what the store held
    /// (Verify's) know when to read again.
    changes: std::sync::Arc<Changes>,
    /// Evidence and freezes as last read, with the `other` change counter taken before the
    /// read: every Verify that reads a licence asks for them, they almost never change, and
    /// scanning them (past every version of the log records an LSM tree keeps) cost more than
    /// the rest of the answer.
    kept_forks: std::sync::Arc<std::sync::Mutex<Option<(u64, KeptForks)>>>,
    /// The versions of each log's stored map undo records, once read ([`map`]): every commit
    /// prunes them, and finding them by a scan walks every deleted one an LSM tree still holds.
    undo_versions: std::sync::Arc<std::sync::Mutex<HashMap<String, std::collections::BTreeSet<u64>>>>,
    /// Where the store lives, for its free space.
    dir: std::sync::Arc<std::path::PathBuf>,
    /// Free bytes a commit leaves on the disk at least (0: no reserve). sled that runs out of
    /// space mid-write refuses every later write, and even some reads, until restart; a commit
    /// refused before it starts leaves sled sound.
    reserve: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Denied licences by destination, for the no-undercut check ([`denials`]).
    denials: std::sync::Arc<denials::Denials>,
}

/// A `DELIVERY_LATEST` value: (size, Unix ms).
fn decode_delivery(v: &[u8]) -> Result<(u64, i64)> {
    match (v.first_chunk::<8>(), v.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok())) {
        (Some(size), Some(at)) if v.len() == 16 => Ok((u64::from_be_bytes(*size), i64::from_be_bytes(at))),
        _ => Err(corrupt("delivery", "value is not 16 bytes")),
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, checking that it is a Comity store this binary can
    /// read. Damaged files (a sled error or panic) give [`StoreError::Damaged`].
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with(dir, EngineKind::default(), DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`], creating a new store with `engine`, with the engine's page cache
    /// bounded to `cache_bytes`. An existing store keeps the engine it was created with.
    pub fn open_with(dir: &Path, engine: EngineKind, cache_bytes: u64) -> Result<Self> {
        guard_damage(dir, || Self::open_unguarded(dir, engine, cache_bytes))
    }

    fn open_unguarded(dir: &Path, engine: EngineKind, cache_bytes: u64) -> Result<Self> {
        let shown = dir.display().to_string();
        // sled releases its file lock from a background thread after the last handle is
        // dropped, so a reopen right after a close (a restart) may briefly find it held.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let db = loop {
            match Engine::open(dir, engine, cache_bytes) {
                Err(EngineError::Sled(sled::Error::Io(e))) if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                // The engine's own word for damage; an I/O error (permissions, a lock) is not.
                Err(e) if e.is_damage() => return Err(damaged_by(dir, &e)),
                other => break other.map_err(|source| StoreError::Open { dir: shown.clone(), source })?,
            }
        };
        let store = Self {
            db,
            failed: Default::default(),
            durable: Default::default(),
            changes: Default::default(),
            kept_forks: Default::default(),
            denials: Default::default(),
            undo_versions: Default::default(),
            dir: std::sync::Arc::new(dir.to_path_buf()),
            reserve: Default::default(),
        };
        store.check_schema(&shown).map_err(|e| match e {
            StoreError::Engine(e) => damaged_by(dir, &e),
            StoreError::Corrupt { table, detail } => StoreError::damaged(dir, format!("{table}: {detail}")),
            other => other,
        })?;
        Ok(store)
    }

    fn check_schema(&self, dir: &str) -> Result<()> {
        let foreign_trees = self.db.has_foreign_trees();
        let marker = self.db.get(keys::meta("format"))?;
        // fjall data in Comity's own partition alone, without its marker: a damaged segment
        // (fjall checks no checksum on read), not another program's data.
        if marker.as_deref() != Some(FORMAT_MARKER) && self.db.kind() == EngineKind::Fjall && !foreign_trees && !self.db.is_empty()? {
            return Err(StoreError::Corrupt { table: "meta", detail: "the format marker is missing or changed".into() });
        }
        match marker {
            Some(marker) if marker.as_ref() == FORMAT_MARKER => {}
            Some(_) => return Err(StoreError::Foreign { dir: dir.into() }),
            None if self.db.is_empty()? && !foreign_trees => {
                let mut batch = engine::Batch::default();
                batch.insert(keys::meta("format"), FORMAT_MARKER);
                batch.insert(keys::meta("schema_version"), SCHEMA_VERSION.to_be_bytes());
                self.db.apply(batch)?;
                self.db.flush()?;
                return Ok(());
            }
            None => return Err(StoreError::Foreign { dir: dir.into() }),
        }
        let version = self
            .db
            .get(keys::meta("schema_version"))?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes))
            .ok_or(StoreError::Corrupt { table: "meta", detail: "schema_version missing".into() })?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { dir: dir.into(), found: version });
        }
        if version < SCHEMA_VERSION {
            return Err(StoreError::OlderSchema { dir: dir.into(), found: version });
        }
        Ok(())
    }

    /// Envelope bytes of a statement.
    pub fn statement(&self, id: &StatementId) -> Result<Option<Vec<u8>>> {
        self.db.get(keys::statement(id))?.map(|v| split_statement(&v).map(|(_, e)| e.to_vec())).transpose()
    }

    /// Statement ids of a licence's decisions, in version order.
    pub fn chain_ids(&self, authority: &str, licence_id: &str) -> Result<Vec<StatementId>> {
        // Versions run 1, 2, 3... without a gap (the licence rules refuse one), so the chain is
        // read by point reads up to the first missing version: an LSM tree answers a read of an
        // absent key from its bloom filters, where a prefix scan seeks in every level.
        let mut ids = Vec::new();
        while let Some(id) = self.decision_id(authority, licence_id, ids.len() as u64 + 1)? {
            ids.push(id);
        }
        Ok(ids)
    }

    /// Every decision of `authority` (of every authority when `None`) as (authority, licence,
    /// version, statement id), in that order: each licence's chain comes whole, versions rising.
    pub fn decisions(&self, authority: Option<&str>) -> impl Iterator<Item = Result<(String, String, u64, StatementId)>> + '_ {
        self.db.scan_prefix(keys::authority_decisions_prefix(authority)).map(|r| {
            let (k, v) = r?;
            let (authority, licence_id, version) = keys::decision_of_key(&k).ok_or_else(|| corrupt("decision", "key is not authority/licence/version"))?;
            let id = StatementId::from_slice(&v).ok_or_else(|| corrupt("decision", "statement id is not 32 bytes"))?;
            Ok((authority, licence_id, version, id))
        })
    }

    /// Every log held here (the node's own and those it mirrors) with its size, in origin order.
    pub fn log_sizes(&self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix([table::LOG_META]) {
            let (key, value) = entry?;
            if let Some((origin, name)) = keys::licence_of_key(&key) {
                if name == "size" {
                    let size = value.as_ref().try_into().map(u64::from_be_bytes).map_err(|_| corrupt("log_meta", "size is not 8 bytes"))?;
                    out.push((origin, size));
                }
            }
        }
        Ok(out)
    }

    /// The id of a licence's decision at `version`.
    pub fn decision_id(&self, authority: &str, licence_id: &str, version: u64) -> Result<Option<StatementId>> {
        match self.db.get(keys::decision(authority, licence_id, version))? {
            None => Ok(None),
            Some(v) => StatementId::from_slice(&v).map(Some).ok_or(StoreError::Corrupt { table: "decision", detail: format!("id of {} bytes", v.len()) }),
        }
    }

    /// The stored summary of a licence (status as decided, not evaluated at a time).
    pub fn licence(&self, authority: &str, licence_id: &str) -> Result<Option<pb::LicenceSummary>> {
        self.db.get(keys::licence(authority, licence_id))?.map(|v| decode_summary(&v)).transpose()
    }

    /// Every piece of evidence, oldest first.
    pub fn evidence(&self) -> Result<Vec<Evidence>> {
        Ok(self.kept_forks()?.evidence.to_vec())
    }

    /// Evidence and freezes, read again only after a commit that may have changed them.
    fn kept_forks(&self) -> Result<KeptForks> {
        // The counter before the reads: a commit racing with them leaves a copy stamped older
        // than its data, which the next call reads again.
        let counter = self.changes.other();
        let mut kept = self.kept_forks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, forks)) = kept.as_ref() {
            if *at == counter {
                return Ok(forks.clone());
            }
        }
        let evidence = self.evidence_from(0, usize::MAX)?.into_iter().map(|(_, e)| e).collect::<Vec<_>>().into();
        let mut frozen = Vec::new();
        for entry in self.db.scan_prefix([table::LOG_META]) {
            let (key, value) = entry?;
            if let Some((origin, name)) = keys::licence_of_key(&key) {
                if name == "frozen" {
                    frozen.push((origin, String::from_utf8_lossy(&value).into_owned()));
                }
            }
        }
        let forks = KeptForks { evidence, frozen: frozen.into() };
        *kept = Some((counter, forks.clone()));
        Ok(forks)
    }

    /// Evidence numbered `from` or later, oldest first, at most `limit`, with its numbers.
    pub fn evidence_from(&self, from: u64, limit: usize) -> Result<Vec<(u64, Evidence)>> {
        self.db
            .range(keys::evidence(from)..keys::evidence(u64::MAX))
            .take(limit)
            .map(|r| {
                let (k, v) = r?;
                let seq = keys::evidence_seq(&k).ok_or_else(|| corrupt("evidence", "key is not a sequence number"))?;
                let evidence = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt { table: "evidence", detail: e.to_string() })?;
                Ok((seq, evidence))
            })
            .collect()
    }

    /// The number after the last evidence recorded (0 when there is none).
    pub fn evidence_end(&self) -> Result<u64> {
        match self.db.scan_prefix([table::EVIDENCE]).next_back() {
            None => Ok(0),
            Some(r) => {
                let (k, _) = r?;
                keys::evidence_seq(&k).map(|seq| seq + 1).ok_or_else(|| corrupt("evidence", "key is not a sequence number"))
            }
        }
    }

    /// Logs whose ingest is frozen, with the reason.
    pub fn frozen_logs(&self) -> Result<Vec<(String, String)>> {
        Ok(self.kept_forks()?.frozen.to_vec())
    }

    /// Number of statements stored.
    pub fn statement_count(&self) -> usize {
        self.db.scan_prefix([table::STATEMENT]).count()
    }

    /// Applies `batch` atomically and flushes it to disk. Nothing is acknowledged before this
    /// returns. Only one writer may commit at a time (the registry's writer thread): log chunks
    /// are extended by reading their current value here.
    pub fn commit(&self, batch: WriteBatch) -> Result<()> {
        if let Some(reason) = self.failed.get() {
            return Err(StoreError::Failed(reason.clone()));
        }
        if let Some((free, reserve)) = self.disk_low() {
            return Err(StoreError::DiskLow { dir: self.dir.display().to_string(), free, reserve });
        }
        let WriteBatch { mut inner, log_ids, log_hashes, log_times, touched, log_meta, map_undo, denials } = batch;
        for ((origin, end), time) in log_times {
            inner.insert(keys::log_time(&origin, end), time.to_be_bytes());
        }
        self.extend_chunks(&mut inner, keys::log_entry_chunk, "log_entry", log_ids)?;
        self.extend_chunks(&mut inner, keys::log_hash_chunk, "log_hash", log_hashes)?;
        let before = log_meta.into_iter().map(|k| Ok((self.db.get(&k)?, k))).collect::<Result<Vec<_>>>()?;
        // Listed before they are written: a reader skips a listed record it cannot find yet.
        self.list_undo_added(&map_undo);
        let written = self.db.apply(inner).and_then(|()| self.db.flush());
        if let Err(e) = written {
            // sled's memory now holds this batch's checkpoints and sizes, which may never reach
            // the disk: serve the ones before it from now on. (Only after a failure: while a
            // commit is in progress, hiding its records would make a mirror that reads its
            // size mid-commit ask for entries the log already took.)
            self.durable_view().extend(before.into_iter().map(|(v, k)| (k, v)));
            self.changes.bump(&touched);
            self.forget_undo_versions(&map_undo);
            let _ = self.failed.set(e.to_string());
            tracing::error!(error = %e, "storage write failed; refusing further writes until restart");
            return Err(StoreError::Failed(e.to_string()));
        }
        self.changes.bump(&touched);
        self.list_undo_removed(&map_undo);
        self.denials.apply(denials);
        Ok(())
    }

    /// Counters of what commits changed: read the ones a cached copy depends on before
    /// reading the store, and the copy is current while they are unchanged.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Every stored statement: (id, envelope bytes).
    pub fn statements(&self) -> impl Iterator<Item = Result<(StatementId, Vec<u8>)>> + '_ {
        self.db.scan_prefix([table::STATEMENT]).map(|kv| {
            let (k, v) = kv?;
            let id = StatementId::from_slice(&k[1..]).ok_or_else(|| corrupt("statement", "key is not a statement id"))?;
            Ok((id, split_statement(&v)?.1.to_vec()))
        })
    }

    /// Copies every record into a new store at `dir` (which must not hold one) and flushes it.
    /// Consistent when no commit runs meanwhile (the registry's writer calls it between
    /// batches). Returns the number of records. A backup has the engine of its store.
    pub fn copy_to(&self, dir: &Path) -> Result<u64> {
        self.copy_to_with(dir, self.db.kind())
    }

    /// [`Store::copy_to`] into a new store of `engine` (a restore creates the node's store with
    /// the configured engine, which may differ from the backup's).
    pub fn copy_to_with(&self, dir: &Path, engine: EngineKind) -> Result<u64> {
        if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
            return Err(StoreError::Corrupt { table: "backup", detail: format!("{} exists and is not empty", dir.display()) });
        }
        let target = Engine::open(dir, engine, DEFAULT_CACHE_BYTES).map_err(|source| StoreError::Open { dir: dir.display().to_string(), source })?;
        let mut records = 0u64;
        let mut batch = engine::Batch::default();
        for kv in self.db.iter() {
            let (k, v) = kv?;
            batch.insert(k, v);
            records += 1;
            if records.is_multiple_of(10_000) {
                target.apply(std::mem::take(&mut batch))?;
            }
        }
        target.apply(batch)?;
        target.flush()?;
        Ok(records)
    }

    /// Bytes the store takes on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }

    /// The engine's memory that grows with the store (fjall's memtables and bloom filters), or
    /// `None` when the engine does not tell (sled).
    pub fn engine_memory(&self) -> Option<engine::EngineMemory> {
        self.db.memory()
    }

    fn durable_view(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Vec<u8>, Option<Value>>> {
        self.durable.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A log record as it is on disk: the value before a failed commit, if one replaced it.
    fn durable_get(&self, key: &[u8]) -> Result<Option<Value>> {
        if let Some(before) = self.durable.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(key) {
            return Ok(before.clone());
        }
        Ok(self.db.get(key)?)
    }

    /// Keeps `bytes` free on the store's disk: a commit that finds less is refused.
    pub fn set_min_free_bytes(&self, bytes: u64) {
        self.reserve.store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// (free bytes, reserve) when the store's disk has less free space than the reserve.
    pub fn disk_low(&self) -> Option<(u64, u64)> {
        let reserve = self.reserve.load(std::sync::atomic::Ordering::Relaxed);
        if reserve == 0 {
            return None;
        }
        // Unreadable free space (an odd file system) does not block writes: sled's own
        // failure handling still stands behind this check.
        let free = fs2::available_space(self.dir.as_path()).ok()?;
        (free < reserve).then_some((free, reserve))
    }

    /// Why writes are refused, after a failed commit.
    pub fn failed(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }

    /// Appends `items` (by position) to their chunks. Items only ever extend a chunk at its end.
    fn extend_chunks(
        &self,
        batch: &mut engine::Batch,
        key: fn(&str, u64) -> Vec<u8>,
        table: &'static str,
        items: BTreeMap<(String, u64), [u8; 32]>,
    ) -> Result<()> {
        let mut current: Option<(Vec<u8>, Vec<u8>)> = None;
        for ((origin, position), item) in items {
            let chunk_key = key(&origin, position / keys::CHUNK);
            if current.as_ref().is_none_or(|(k, _)| *k != chunk_key) {
                if let Some((k, bytes)) = current.take() {
                    batch.insert(k, bytes);
                }
                let existing = self.db.get(&chunk_key)?.map(|c| c.to_vec()).unwrap_or_default();
                current = Some((chunk_key, existing));
            }
            let (_, bytes) = current.as_mut().expect("set above");
            if bytes.len() as u64 != (position % keys::CHUNK) * 32 {
                return Err(StoreError::Corrupt { table, detail: format!("append at {position} is not at the end of its chunk") });
            }
            bytes.extend_from_slice(&item);
        }
        if let Some((k, bytes)) = current {
            batch.insert(k, bytes);
        }
        Ok(())
    }

    /// One log held here: the node's own (`own_log_origin`) or a peer's it mirrors.
    pub fn log<'a>(&'a self, origin: &'a str) -> LogRef<'a> {
        LogRef { store: self, origin }
    }

    /// Statement ids of the key sets in force, by authority.
    pub fn key_set_ids(&self) -> Result<Vec<(String, StatementId)>> {
        let mut out = Vec::new();
        for kv in self.db.scan_prefix([table::KEY_SET]) {
            let (k, v) = kv?;
            let authority = String::from_utf8(k[1..].to_vec()).map_err(|_| corrupt("key_set", "authority is not UTF-8"))?;
            out.push((authority, StatementId::from_slice(&v).ok_or_else(|| corrupt("key_set", "statement id is not 32 bytes"))?));
        }
        Ok(out)
    }

    /// Statement ids of the latest version of every agreement whose relying authority is
    /// `relying` (every agreement when `None`).
    pub fn agreement_ids(&self, relying: Option<&str>) -> Result<Vec<StatementId>> {
        let prefix = match relying {
            Some(r) => [&[table::AGREEMENT][..], r.as_bytes(), &[keys::SEP]].concat(),
            None => vec![table::AGREEMENT],
        };
        self.db
            .scan_prefix(prefix)
            .map(|kv| {
                let (_, v) = kv?;
                StatementId::from_slice(&v).ok_or_else(|| corrupt("agreement", "statement id is not 32 bytes"))
            })
            .collect()
    }

    /// The origin of the node's own log, recorded at its first checkpoint.
    pub fn own_log_origin(&self) -> Result<Option<String>> {
        Ok(self.db.get(keys::meta("log_origin"))?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The index of a statement in the node's own log (`None`: not stored, or only in a
    /// mirrored log).
    pub fn log_index_of(&self, id: &StatementId) -> Result<Option<u64>> {
        let record = self.db.get(keys::statement(id))?;
        Ok(record.map(|v| split_statement(&v).map(|(i, _)| i)).transpose()?.filter(|i| *i != NOT_IN_OWN_LOG))
    }

    /// Where a statement sits: (origin, index) in the node's own log or in the mirrored log that
    /// brought it.
    pub fn location_of(&self, id: &StatementId) -> Result<Option<(String, u64)>> {
        if let Some(index) = self.log_index_of(id)? {
            let origin = self.own_log_origin()?.ok_or_else(|| corrupt("statement", "own log has no origin"))?;
            return Ok(Some((origin, index)));
        }
        let Some(v) = self.db.get(keys::mirrored_at(id))? else { return Ok(None) };
        let (origin, index) = v.split_at(v.len().saturating_sub(9));
        let index: [u8; 8] = index.get(1..).and_then(|b| b.try_into().ok()).ok_or_else(|| corrupt("mirrored_at", "bad record"))?;
        let origin = String::from_utf8(origin.to_vec()).map_err(|_| corrupt("mirrored_at", "origin is not UTF-8"))?;
        Ok(Some((origin, u64::from_be_bytes(index))))
    }

    /// The body of restricted decision `id`, when this node holds it.
    pub fn restricted_body(&self, id: &StatementId) -> Result<Option<pb::RestrictedBody>> {
        let v = self.db.get(keys::restricted_body(id))?;
        v.map(|v| pb::RestrictedBody::decode(v.as_ref()).map_err(|e| corrupt("restricted_body", &e.to_string()))).transpose()
    }

    /// Up to `limit` restricted decisions whose body this node should receive and does not hold.
    pub fn wanted_bodies(&self, limit: usize) -> Result<Vec<StatementId>> {
        self.db
            .scan_prefix([table::BODY_WANTED])
            .take(limit)
            .map(|r| {
                let (k, _) = r?;
                StatementId::from_slice(&k[1..]).ok_or_else(|| corrupt("body_wanted", "id is not 32 bytes"))
            })
            .collect()
    }

    /// Statement ids of every stored control-list version, in key order (by authority, regime
    /// and version), and of the latest version of every crosswalk.
    pub fn catalogue_ids(&self) -> Result<(Vec<StatementId>, Vec<StatementId>)> {
        let ids = |table: u8, name: &'static str| -> Result<Vec<StatementId>> {
            self.db
                .scan_prefix([table])
                .map(|kv| {
                    let (_, v) = kv?;
                    StatementId::from_slice(&v).ok_or_else(|| corrupt(name, "statement id is not 32 bytes"))
                })
                .collect()
        };
        Ok((ids(table::CONTROL_LIST, "control_list")?, ids(table::CROSSWALK, "crosswalk")?))
    }

    /// Statement ids of every stored screening-list version, in key order (each list's versions in order).
    pub fn screening_list_ids(&self) -> Result<Vec<StatementId>> {
        self.db
            .scan_prefix([table::SCREENING_LIST])
            .map(|kv| {
                let (_, v) = kv?;
                StatementId::from_slice(&v).ok_or_else(|| corrupt("screening_list", "statement id is not 32 bytes"))
            })
            .collect()
    }

    /// The request and the answers held of consultation `consultation_id` of `consulting`:
    /// (request id, answer ids), `None` when the request is not held.
    pub fn consultation(&self, consulting: &str, consultation_id: &str) -> Result<Option<(StatementId, Vec<StatementId>)>> {
        let mut request = None;
        let mut answers = Vec::new();
        for kv in self.db.scan_prefix(keys::consultation_prefix(consulting, consultation_id)) {
            let (k, v) = kv?;
            let id = StatementId::from_slice(&v).ok_or_else(|| corrupt("consultation", "statement id is not 32 bytes"))?;
            match keys::consultation_kind(&k) {
                Some((_, true)) => answers.push(id),
                Some((_, false)) => request = Some(id),
                None => return Err(corrupt("consultation", "malformed key")),
            }
        }
        Ok(request.map(|r| (r, answers)))
    }

    /// Every consultation held: (request id if held, answer ids), in key order.
    pub fn consultations(&self) -> Result<Vec<(Option<StatementId>, Vec<StatementId>)>> {
        let mut out: Vec<(Vec<u8>, Option<StatementId>, Vec<StatementId>)> = Vec::new();
        for kv in self.db.scan_prefix([table::CONSULTATION]) {
            let (k, v) = kv?;
            let id = StatementId::from_slice(&v).ok_or_else(|| corrupt("consultation", "statement id is not 32 bytes"))?;
            let (prefix, is_answer) = keys::consultation_kind(&k).ok_or_else(|| corrupt("consultation", "malformed key"))?;
            if out.last().is_none_or(|(p, _, _)| p.as_slice() != prefix) {
                out.push((prefix.to_vec(), None, Vec::new()));
            }
            let last = out.last_mut().expect("pushed above");
            if is_answer {
                last.2.push(id);
            } else {
                last.1 = Some(id);
            }
        }
        Ok(out.into_iter().map(|(_, r, a)| (r, a)).collect())
    }

    /// Statement ids of stored classification-ruling versions under `prefix`
    /// ([`keys::ruling_prefix`]), in key order: by authority and ruling, each ruling's versions
    /// oldest first.
    pub fn ruling_ids(&self, authority: Option<&str>, ruling_id: Option<&str>) -> Result<Vec<StatementId>> {
        self.db
            .scan_prefix(keys::ruling_prefix(authority, ruling_id))
            .map(|kv| {
                let (_, v) = kv?;
                StatementId::from_slice(&v).ok_or_else(|| corrupt("ruling", "statement id is not 32 bytes"))
            })
            .collect()
    }

    /// Every witness that has confirmed entries of this node's own log, with the size it
    /// confirmed last and when (Unix ms).
    pub fn deliveries_latest(&self) -> Result<Vec<(String, u64, i64)>> {
        self.db
            .scan_prefix([table::DELIVERY_LATEST])
            .map(|kv| {
                let (k, v) = kv?;
                let witness = String::from_utf8(k[1..].to_vec()).map_err(|_| corrupt("delivery", "witness name is not UTF-8"))?;
                let (size, at) = decode_delivery(&v)?;
                Ok((witness, size, at))
            })
            .collect()
    }

    /// The size `witness` confirmed last of this node's own log, and when (Unix ms).
    pub fn latest_delivery(&self, witness: &str) -> Result<Option<(u64, i64)>> {
        self.db.get(keys::delivery_latest(witness))?.map(|v| decode_delivery(&v)).transpose()
    }

    /// When `witness` first confirmed entry `index` of this node's own log (Unix ms), with the
    /// size of the checkpoint it cosigned then; `None` while it has not.
    pub fn delivered(&self, witness: &str, index: u64) -> Result<Option<(u64, i64)>> {
        let range = keys::delivery(witness, index + 1)..=keys::delivery(witness, u64::MAX);
        match self.db.range(range).next() {
            None => Ok(None),
            Some(kv) => {
                let (k, v) = kv?;
                let size = k.last_chunk::<8>().map(|b| u64::from_be_bytes(*b)).ok_or_else(|| corrupt("delivery", "key too short"))?;
                let at = v.as_ref().try_into().map(i64::from_be_bytes).map_err(|_| corrupt("delivery", "time is not 8 bytes"))?;
                Ok(Some((size, at)))
            }
        }
    }

    /// The re-export (child) licences held under parent licence `authority/licence_id`: each
    /// child's authority, licence and the consent id it relies on.
    pub fn re_export_children(&self, authority: &str, licence_id: &str) -> Result<Vec<(String, String, String)>> {
        self.db
            .scan_prefix(keys::re_export_child_prefix(authority, licence_id))
            .map(|kv| {
                let (k, v) = kv?;
                let (child_authority, child_id) = keys::re_export_child_of_key(&k).ok_or_else(|| corrupt("re_export_child", "key does not name a licence"))?;
                let consent = String::from_utf8(v.to_vec()).map_err(|_| corrupt("re_export_child", "consent id is not UTF-8"))?;
                Ok((child_authority, child_id, consent))
            })
            .collect()
    }

    /// Every re-export index entry: (parent authority, parent licence, child authority, child
    /// licence) and the consent id, in key order.
    pub fn re_export_index(&self) -> impl Iterator<Item = Result<([String; 4], String)>> + '_ {
        self.db.scan_prefix(keys::re_export_children_prefix()).map(|kv| {
            let (k, v) = kv?;
            let parts = keys::re_export_child_parts(&k).ok_or_else(|| corrupt("re_export_child", "key does not name two licences"))?;
            let consent = String::from_utf8(v.to_vec()).map_err(|_| corrupt("re_export_child", "consent id is not UTF-8"))?;
            Ok((parts, consent))
        })
    }

    /// Sets (`Some(consent id)`) or removes (`None`) one re-export index entry. For
    /// `comity-node check --repair` and tests that damage the store; the writer indexes
    /// children with the decisions that name them.
    pub fn repair_re_export_child(&self, [pa, pl, ca, cl]: &[String; 4], consent: Option<&str>) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.touched.licence(pa, pl);
        let key = keys::re_export_child(pa, pl, ca, cl);
        match consent {
            Some(c) => batch.inner.insert(key, c.as_bytes()),
            None => batch.inner.remove(key),
        }
        self.commit(batch)
    }

    /// Statement ids of the end-use checks of licence `licence` (`None`: of every licence).
    pub fn end_use_check_ids(&self, licence: Option<(&str, &str)>) -> Result<Vec<StatementId>> {
        self.db
            .scan_prefix(keys::end_use_check_prefix(licence))
            .map(|kv| {
                let (_, v) = kv?;
                StatementId::from_slice(&v).ok_or_else(|| corrupt("end_use_check", "statement id is not 32 bytes"))
            })
            .collect()
    }

    /// The statement id of the latest version of an agreement.
    pub fn agreement_id(&self, relying: &str, recognised: &str, agreement_id: &str) -> Result<Option<StatementId>> {
        let v = self.db.get(keys::agreement(relying, recognised, agreement_id))?;
        v.map(|v| StatementId::from_slice(&v).ok_or_else(|| corrupt("agreement", "statement id is not 32 bytes"))).transpose()
    }

    /// Overwrites the stored schema version, to test how a binary treats data from another
    /// version. Never used by the node itself.
    #[doc(hidden)]
    pub fn set_schema_version_for_tests(&self, version: u32) -> Result<()> {
        self.db.insert(keys::meta("schema_version"), version.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Lifts the freeze on log `origin`; returns whether it was frozen. For the offline
    /// `comity-node unfreeze` command.
    pub fn unfreeze(&self, origin: &str) -> Result<bool> {
        let was = self.log(origin).frozen()?.is_some();
        let mut batch = WriteBatch::default();
        batch.unfreeze(origin);
        self.commit(batch)?;
        Ok(was)
    }

    /// Every stored licence summary, in key order, read as it goes. For `comity-node check`.
    pub fn summaries(&self) -> impl Iterator<Item = Result<pb::LicenceSummary>> + '_ {
        self.db.scan_prefix([table::LICENCE]).map(|r| decode_summary(&r?.1))
    }

    /// Every search index entry with the (authority, licence) it points at, read as it goes.
    /// For `comity-node check`.
    pub fn index_entries(&self) -> impl Iterator<Item = Result<(Vec<u8>, (String, String))>> + '_ {
        [table::IDX_PARTY, table::IDX_DESTINATION, table::IDX_CONTROL_CODE, table::IDX_STATUS].into_iter().flat_map(|tag| {
            self.db.scan_prefix([tag]).map(|r| {
                let (key, _) = r?;
                let licence = keys::licence_of_key(&key).ok_or_else(|| corrupt("index", "key without licence"))?;
                Ok((key.to_vec(), licence))
            })
        })
    }

    /// Whether the store holds `key` (one returned by [`search::index_keys`] or
    /// [`Store::index_entries`]).
    pub fn holds_index_entry(&self, key: &[u8]) -> Result<bool> {
        Ok(self.db.contains_key(key)?)
    }

    /// Replaces a licence's summary and every index entry held for it (`held_index`) by those
    /// of `derived` (none: removes them). For `comity-node check --repair`: the summary and
    /// index are written by the writer's own [`WriteBatch::put_licence`].
    pub fn repair_licence(&self, authority: &str, licence_id: &str, held_index: &[Vec<u8>], derived: Option<&pb::LicenceSummary>) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.touched.licence(authority, licence_id);
        // sled applies a batch as a map: the inserts of put_licence win over these removals.
        for k in held_index {
            batch.inner.remove(k.as_slice());
        }
        batch.inner.remove(keys::licence(authority, licence_id));
        if let Some(summary) = derived {
            batch.put_licence(None, summary);
        }
        self.commit(batch)?;
        self.denials.forget();
        Ok(())
    }

    /// Writes a licence summary without its index entries, or deletes it (`None`), to simulate
    /// tampering with the data directory. Never used by the node itself.
    #[doc(hidden)]
    pub fn overwrite_summary_for_tests(&self, authority: &str, licence_id: &str, summary: Option<&pb::LicenceSummary>) -> Result<()> {
        match summary {
            Some(s) => self.db.insert(keys::licence(authority, licence_id), s.encode_to_vec())?,
            None => self.db.remove(keys::licence(authority, licence_id))?,
        };
        self.db.flush()?;
        self.changes.bump_all();
        self.denials.forget();
        Ok(())
    }

    /// Overwrites a stored statement's bytes, to simulate tampering with the data directory.
    /// Never used by the node itself.
    #[doc(hidden)]
    pub fn overwrite_statement_for_tests(&self, id: &StatementId, bytes: &[u8]) -> Result<()> {
        let index = self.log_index_of(id)?.unwrap_or(NOT_IN_OWN_LOG);
        self.db.insert(keys::statement(id), [&index.to_be_bytes()[..], bytes].concat())?;
        self.db.flush()?;
        self.changes.bump_all();
        Ok(())
    }

    /// Overwrites a stored Merkle hash, to simulate tampering with the data directory.
    #[doc(hidden)]
    pub fn overwrite_log_hash_for_tests(&self, origin: &str, stored_index: u64, hash: [u8; 32]) -> Result<()> {
        let key = keys::log_hash_chunk(origin, stored_index / keys::CHUNK);
        let mut chunk = self.db.get(&key)?.map(|c| c.to_vec()).unwrap_or_default();
        let at = (stored_index % keys::CHUNK) as usize * 32;
        chunk[at..at + 32].copy_from_slice(&hash);
        self.db.insert(key, chunk)?;
        self.db.flush()?;
        self.changes.bump_all();
        Ok(())
    }

    /// A fresh evidence sequence number.
    pub fn next_evidence_seq(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    /// Raw access for the search module.
    fn scan_from(&self, prefix: &[u8], after: Option<&[u8]>) -> impl Iterator<Item = std::result::Result<(Value, Value), EngineError>> {
        let start: Vec<u8> = match after {
            // The smallest key greater than `after`.
            Some(a) => [a, &[0]].concat(),
            None => prefix.to_vec(),
        };
        let prefix = prefix.to_vec();
        self.db.range(start..).take_while(move |r| r.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
    }
}

/// The engine's error at open, said shortly: sled's message for a damaged `conf` file speaks of versions.
fn damaged_by(dir: &Path, e: &EngineError) -> StoreError {
    let reason = match e {
        EngineError::Sled(sled::Error::Unsupported(m)) if m.contains("earlier than 0.29") => "sled: its `conf` file cannot be read".to_string(),
        EngineError::Sled(sled::Error::Corruption { at, .. }) => format!("sled: corrupt data at {at:?}"),
        EngineError::Sled(other) => format!("sled: {other}"),
        EngineError::Fjall(other) => format!("fjall: {other}"),
    };
    StoreError::damaged(dir, reason)
}

std::thread_local! {
    /// Set while [`guard_damage`] runs on this thread: its panics are reported as damage, not printed.
    static GUARDED: std::cell::RefCell<Option<Guarded>> = const { std::cell::RefCell::new(None) };
}

/// The store [`guard_damage`] reads on this thread, and the first panic in it.
struct Guarded {
    dir: std::path::PathBuf,
    first_panic: Option<String>,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload.downcast_ref::<&str>().map(|m| m.to_string()).or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_else(|| "a panic".into())
}

/// The engine a panic came from, for the message.
fn engine_name(dir: &Path) -> &'static str {
    if EngineKind::of_dir(dir) == Some(EngineKind::Fjall) {
        "fjall"
    } else {
        "sled"
    }
}

/// An error that may carry a [`StoreError`], whose engine damage [`guard_damage`] names.
pub trait NameDamage {
    fn name_damage(self, dir: &Path) -> Self;
}

impl NameDamage for StoreError {
    fn name_damage(self, dir: &Path) -> Self {
        match self {
            StoreError::Engine(e) if e.is_damage() => damaged_by(dir, &e),
            other => other,
        }
    }
}

impl NameDamage for crate::log::LogOpenError {
    fn name_damage(self, dir: &Path) -> Self {
        match self {
            crate::log::LogOpenError::Store(e) => crate::log::LogOpenError::Store(e.name_damage(dir)),
            other => other,
        }
    }
}

/// Runs `f`, which reads the store in `dir`, turning damage it meets into [`StoreError::Damaged`]:
/// an engine error that says so (fjall reads a segment only when asked for a key in it, so its
/// damage may show after open), or a panic: sled (and fjall, on a few) panics on some damaged
/// files instead of returning an error. The panic's message and backtrace are not printed
/// (other threads' panics are, as before), so the operator sees one message naming the store
/// and its repair.
pub fn guard_damage<T, E: From<StoreError> + NameDamage>(dir: &Path, f: impl FnOnce() -> std::result::Result<T, E>) -> std::result::Result<T, E> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let damage = GUARDED.with_borrow_mut(|guarded| {
                let guarded = guarded.as_mut()?;
                match guarded.first_panic.take() {
                    // A second panic before the first was caught is one in a destructor while
                    // unwinding (fjall's keyspace drop after a panic in its recovery), which Rust
                    // turns into an abort: exit naming the damage instead, as `comity-node` would.
                    Some(first) => Some(Some(StoreError::damaged(&guarded.dir, format!("{}: {first}", engine_name(&guarded.dir))))),
                    None => {
                        guarded.first_panic = Some(panic_message(info.payload()));
                        Some(None)
                    }
                }
            });
            match damage {
                None => previous(info),
                Some(None) => {}
                Some(Some(damage)) => {
                    eprintln!("comity-node: {damage}");
                    std::process::exit(1);
                }
            }
        }));
    });
    let was = GUARDED.replace(Some(Guarded { dir: dir.to_path_buf(), first_panic: None }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.set(was);
    match result {
        Ok(result) => result.map_err(|e| e.name_damage(dir)),
        Err(panic) => Err(StoreError::damaged(dir, format!("{}: {}", engine_name(dir), panic_message(&*panic))).into()),
    }
}

/// One log in the store, read-only.
#[derive(Clone, Copy)]
pub struct LogRef<'a> {
    store: &'a Store,
    origin: &'a str,
}

impl LogRef<'_> {
    /// The log's origin.
    pub fn origin(&self) -> &str {
        self.origin
    }

    /// Why ingest into this (mirrored) log is frozen, if it is.
    pub fn frozen(&self) -> Result<Option<String>> {
        Ok(self.store.db.get(keys::log_meta(self.origin, "frozen"))?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Number of entries (as of the last commit).
    pub fn size(&self) -> Result<u64> {
        match self.store.durable_get(&keys::log_meta(self.origin, "size"))? {
            None => Ok(0),
            Some(v) => {
                v.as_ref().try_into().map(u64::from_be_bytes).map_err(|_| StoreError::Corrupt { table: "log_meta", detail: "size is not 8 bytes".into() })
            }
        }
    }

    /// The latest signed checkpoint note, if the log has one (with the cosignatures gathered
    /// for it so far).
    pub fn checkpoint(&self) -> Result<Option<String>> {
        self.note("checkpoint")
    }

    /// The latest checkpoint of this log that carries at least one verified witness
    /// cosignature, with those cosignatures.
    pub fn cosigned(&self) -> Result<Option<String>> {
        self.note("cosigned")
    }

    /// The last checkpoint of this (mirrored) log that this node cosigned as a witness.
    pub fn witnessed(&self) -> Result<Option<String>> {
        self.note("witnessed")
    }

    /// When entry `index` entered this log: its log time, which the origin bound into the
    /// entry's leaf, so the same at the origin, a mirror, an import and a recovered node.
    pub fn entered_at(&self, index: u64) -> Result<Option<i64>> {
        let start = keys::log_time(self.origin, index + 1);
        let end = keys::log_time(self.origin, u64::MAX);
        match self.store.db.range(start..=end).next() {
            None => Ok(None),
            Some(kv) => {
                let (_, v) = kv?;
                let bytes: [u8; 8] = v.as_ref().try_into().map_err(|_| corrupt("log_time", "time is not 8 bytes"))?;
                Ok(Some(i64::from_be_bytes(bytes)))
            }
        }
    }

    fn note(&self, name: &'static str) -> Result<Option<String>> {
        self.store
            .durable_get(&keys::log_meta(self.origin, name))?
            .map(|v| String::from_utf8(v.to_vec()).map_err(|_| StoreError::Corrupt { table: "log_meta", detail: format!("{name} is not UTF-8") }))
            .transpose()
    }

    /// The statement id at `index`.
    pub fn entry(&self, index: u64) -> Result<Option<StatementId>> {
        let chunk = self.store.db.get(keys::log_entry_chunk(self.origin, index / keys::CHUNK))?;
        Ok(chunk.and_then(|c| chunk_item(&c, index % keys::CHUNK)).map(StatementId))
    }
}

impl comity_proto::log::StoredHashes for LogRef<'_> {
    fn read(&self, indexes: &[u64]) -> std::result::Result<Vec<[u8; 32]>, comity_proto::log::HashReadError> {
        use comity_proto::log::HashReadError;
        // Proofs ask for hashes from few chunks: read each chunk once.
        let mut chunks: HashMap<u64, Option<Value>> = HashMap::new();
        indexes
            .iter()
            .map(|i| {
                let chunk_no = i / keys::CHUNK;
                let chunk = match chunks.entry(chunk_no) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(
                        self.store.db.get(keys::log_hash_chunk(self.origin, chunk_no)).map_err(|e| HashReadError(format!("read stored hash {i}: {e}")))?,
                    ),
                };
                chunk.as_ref().and_then(|c| chunk_item(c, i % keys::CHUNK)).ok_or_else(|| HashReadError(format!("stored hash {i} missing")))
            })
            .collect()
    }
}

/// What [`Store::evidence`] and [`Store::frozen_logs`] answer, shared between readers.
#[derive(Clone)]
struct KeptForks {
    evidence: std::sync::Arc<[Evidence]>,
    frozen: std::sync::Arc<[(String, String)]>,
}

/// Item `n` (32 bytes) of a log chunk, if the chunk is that long.
fn chunk_item(chunk: &[u8], n: u64) -> Option<[u8; 32]> {
    let at = n as usize * 32;
    chunk.get(at..at + 32).and_then(|b| b.try_into().ok())
}

/// Statement-record index of a statement that is not in the node's own log (it came from a
/// mirrored log).
const NOT_IN_OWN_LOG: u64 = u64::MAX;

/// A statement record is its log index (u64 BE) followed by the envelope: keeping the index
/// here saves a second random-key write per append.
fn corrupt(table: &'static str, detail: &str) -> StoreError {
    StoreError::Corrupt { table, detail: detail.to_string() }
}

fn split_statement(value: &[u8]) -> Result<(u64, &[u8])> {
    match value.split_first_chunk::<8>() {
        Some((index, envelope)) => Ok((u64::from_be_bytes(*index), envelope)),
        None => Err(StoreError::Corrupt { table: "statement", detail: "record shorter than its index".into() }),
    }
}

fn decode_summary(bytes: &[u8]) -> Result<pb::LicenceSummary> {
    pb::LicenceSummary::decode(bytes).map_err(|e| StoreError::Corrupt { table: "licence", detail: e.to_string() })
}

/// Writes that must land together.
#[derive(Default)]
pub struct WriteBatch {
    inner: engine::Batch,
    /// Log entry ids by (origin, index), and stored hashes by (origin, stored-hash index):
    /// written as chunks on commit.
    log_ids: BTreeMap<(String, u64), [u8; 32]>,
    log_hashes: BTreeMap<(String, u64), [u8; 32]>,
    /// Log times of the appended entries as runs of equal times, by (origin, log size at the
    /// run's end): log times never fall, so a run is one `log_time` record.
    log_times: BTreeMap<(String, u64), i64>,
    /// What the batch changes, for [`Changes`]. New statements and log entries change nothing
    /// a reader holds: they only ever add.
    touched: changes::Touched,
    /// The log records (checkpoints, sizes) the batch writes: served as they were until it is on disk.
    log_meta: Vec<Vec<u8>>,
    /// The map undo records the batch writes and removes, for the store's list of them.
    map_undo: Vec<map::UndoChange>,
    /// Licences the batch moves into or out of DENIED, for the in-memory denials.
    denials: Vec<denials::DenialChange>,
}

impl WriteBatch {
    /// Records that `id` is version `version` of the licence.
    pub fn put_decision(&mut self, authority: &str, licence_id: &str, version: u64, id: &StatementId) {
        self.touched.licence(authority, licence_id);
        self.inner.insert(keys::decision(authority, licence_id, version), id.0);
    }

    /// Replaces a licence's summary and its index entries (`old`: the summary it replaces).
    /// Only index keys that change are written: sled's cost is per key.
    pub fn put_licence(&mut self, old: Option<&pb::LicenceSummary>, new: &pb::LicenceSummary) {
        self.touched.licence(&new.authority, &new.licence_id);
        self.denials.extend(denials::DenialChange::of(old, new));
        let old_keys = old.map(search::index_keys).unwrap_or_default();
        let new_keys = search::index_keys(new);
        for k in old_keys.iter().filter(|k| new_keys.binary_search(k).is_err()) {
            self.inner.remove(k.as_slice());
        }
        for k in new_keys.iter().filter(|k| old_keys.binary_search(k).is_err()) {
            self.inner.insert(k.as_slice(), []);
        }
        self.inner.insert(keys::licence(&new.authority, &new.licence_id), new.encode_to_vec());
    }

    /// Stores a statement's envelope, with its index in the node's own log when it is in it.
    pub fn put_statement(&mut self, id: &StatementId, envelope: &[u8], own_log_index: Option<u64>) {
        let index = own_log_index.unwrap_or(NOT_IN_OWN_LOG);
        self.inner.insert(keys::statement(id), [&index.to_be_bytes()[..], envelope].concat());
    }

    /// Appends statement `id` at `index` of log `origin`, integrated at `logged_at` (its log
    /// time, bound into its leaf), with the stored hashes that append creates (from
    /// `comity_proto::log::hashes_to_store`). Appends come in log order.
    pub fn append_log(&mut self, origin: &str, index: u64, id: &StatementId, logged_at: i64, hashes: &[(u64, [u8; 32])]) {
        self.log_ids.insert((origin.to_string(), index), id.0);
        self.log_hashes.extend(hashes.iter().map(|(i, h)| ((origin.to_string(), *i), *h)));
        // The same time as the entry before in this batch: extend its run.
        let previous = (origin.to_string(), index);
        if self.log_times.get(&previous) == Some(&logged_at) {
            self.log_times.remove(&previous);
        }
        self.log_times.insert((origin.to_string(), index + 1), logged_at);
    }

    /// Records a new signed checkpoint of `size` entries for log `origin`.
    pub fn put_checkpoint(&mut self, origin: &str, size: u64, note: &str) {
        self.touched.log(origin);
        self.log_meta.push(keys::log_meta(origin, "size"));
        self.inner.insert(keys::log_meta(origin, "size"), size.to_be_bytes());
        self.log_meta.push(keys::log_meta(origin, "checkpoint"));
        self.inner.insert(keys::log_meta(origin, "checkpoint"), note.as_bytes());
    }

    /// Records where a statement brought by mirrored log `origin` sits in it.
    pub fn put_mirrored_at(&mut self, id: &StatementId, origin: &str, index: u64) {
        self.inner.insert(keys::mirrored_at(id), [origin.as_bytes(), &[keys::SEP], &index.to_be_bytes()].concat());
    }

    /// Makes statement `id` the key set in force for `authority`.
    pub fn put_key_set(&mut self, authority: &str, id: &StatementId) {
        self.touched.other();
        self.inner.insert(keys::key_set(authority), id.0);
    }

    /// Makes statement `id` the latest version of an agreement.
    pub fn put_agreement(&mut self, relying: &str, recognised: &str, agreement_id: &str, id: &StatementId) {
        self.touched.other();
        self.inner.insert(keys::agreement(relying, recognised, agreement_id), id.0);
    }

    /// Stores where a control-list version is (its statement is stored with `put_statement`).
    pub fn put_control_list(&mut self, authority: &str, regime: i32, scope: &str, version: u64, id: &StatementId) {
        self.touched.other();
        self.inner.insert(keys::control_list(authority, regime, scope, version), id.0);
    }

    /// Stores where a screening-list version is (its statement is stored with `put_statement`).
    pub fn put_screening_list(&mut self, authority: &str, list_id: &str, version: u64, id: &StatementId) {
        self.touched.other();
        self.inner.insert(keys::screening_list(authority, list_id, version), id.0);
    }

    /// Stores where a consultation request or answer is (its statement is stored with
    /// `put_statement`): `answer` is the answer's own id, `None` for the request.
    pub fn put_consultation(&mut self, consulting: &str, consultation_id: &str, answer: Option<&StatementId>, id: &StatementId) {
        self.touched.other();
        self.inner.insert(keys::consultation(consulting, consultation_id, answer), id.0);
    }

    /// Stores where a classification-ruling version is (its statement is stored with `put_statement`).
    pub fn put_ruling(&mut self, authority: &str, ruling_id: &str, version: u64, id: &StatementId) {
        self.touched.other();
        self.inner.insert(keys::ruling(authority, ruling_id, version), id.0);
    }

    /// Records that `witness` confirmed (cosigned) this node's log at `size` at `at_ms`.
    pub fn put_delivery(&mut self, witness: &str, size: u64, at_ms: i64) {
        self.touched.other();
        self.inner.insert(keys::delivery(witness, size), at_ms.to_be_bytes());
        self.inner.insert(keys::delivery_latest(witness), [&size.to_be_bytes()[..], &at_ms.to_be_bytes()].concat());
    }

    /// Records a re-export licence under its parent (and the consent it relies on).
    pub fn put_re_export_child(&mut self, parent_authority: &str, parent_id: &str, child_authority: &str, child_id: &str, consent_id: &str) {
        self.touched.licence(parent_authority, parent_id);
        self.inner.insert(keys::re_export_child(parent_authority, parent_id, child_authority, child_id), consent_id.as_bytes());
    }

    /// Stores where an end-use check is (its statement is stored with `put_statement`).
    pub fn put_end_use_check(&mut self, licence_authority: &str, licence_id: &str, authority: &str, check_id: &str, id: &StatementId) {
        self.touched.other();
        self.inner.insert(keys::end_use_check(licence_authority, licence_id, authority, check_id), id.0);
    }

    /// Stores where a crosswalk's latest version is.
    pub fn put_crosswalk(&mut self, authority: &str, crosswalk_id: &str, id: &StatementId) {
        self.touched.other();
        self.inner.insert(keys::crosswalk(authority, crosswalk_id), id.0);
    }

    /// Records that log `origin` holds `size` entries, ahead of its stored checkpoint (a part
    /// of a long catch-up, proven to be a prefix of a newer checkpoint).
    pub fn put_log_size(&mut self, origin: &str, size: u64) {
        self.touched.log(origin);
        self.log_meta.push(keys::log_meta(origin, "size"));
        self.inner.insert(keys::log_meta(origin, "size"), size.to_be_bytes());
    }

    /// Replaces the stored note of the latest checkpoint of `origin` by the same checkpoint
    /// with more cosignatures.
    pub fn put_checkpoint_note(&mut self, origin: &str, note: &str) {
        self.touched.log(origin);
        self.log_meta.push(keys::log_meta(origin, "checkpoint"));
        self.inner.insert(keys::log_meta(origin, "checkpoint"), note.as_bytes());
    }

    /// Records the latest cosigned checkpoint of `origin`.
    pub fn put_cosigned(&mut self, origin: &str, note: &str) {
        self.touched.log(origin);
        self.log_meta.push(keys::log_meta(origin, "cosigned"));
        self.inner.insert(keys::log_meta(origin, "cosigned"), note.as_bytes());
    }

    /// Records the checkpoint of `origin` this node has just cosigned as a witness.
    pub fn put_witnessed(&mut self, origin: &str, note: &str) {
        self.touched.log(origin);
        self.log_meta.push(keys::log_meta(origin, "witnessed"));
        self.inner.insert(keys::log_meta(origin, "witnessed"), note.as_bytes());
    }

    /// Freezes ingest into log `origin` (evidence was found), with the reason.
    pub fn freeze(&mut self, origin: &str, reason: &str) {
        self.touched.other();
        self.inner.insert(keys::log_meta(origin, "frozen"), reason.as_bytes());
    }

    /// Lifts a freeze; an operator's decision.
    pub fn unfreeze(&mut self, origin: &str) {
        self.touched.other();
        self.inner.remove(keys::log_meta(origin, "frozen"));
    }

    /// Records the origin of the node's own log (once, with its first checkpoint).
    pub fn put_own_log_origin(&mut self, origin: &str) {
        self.touched.other();
        self.inner.insert(keys::meta("log_origin"), origin.as_bytes());
    }

    /// Stores the body of restricted decision `id` (its commitment opened) and marks it received.
    pub fn put_restricted_body(&mut self, id: &StatementId, body: &pb::RestrictedBody) {
        self.touched.other();
        self.inner.insert(keys::restricted_body(id), body.encode_to_vec());
        self.inner.remove(keys::body_wanted(id));
    }

    /// Records that this node is in the audience of restricted decision `id` and should fetch
    /// its body.
    pub fn want_body(&mut self, id: &StatementId) {
        self.touched.other();
        self.inner.insert(keys::body_wanted(id), []);
    }

    /// Stores evidence under a sequence number from [`Store::next_evidence_seq`].
    pub fn put_evidence(&mut self, seq: u64, evidence: &Evidence) {
        self.touched.other();
        let json = serde_json::to_vec(evidence).expect("evidence serialises");
        self.inner.insert(keys::evidence(seq), json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopening_keeps_committed_data() {
        let dir = tempfile::tempdir().unwrap();
        let id = StatementId([5; 32]);
        {
            let store = Store::open(dir.path()).unwrap();
            let mut batch = WriteBatch::default();
            batch.put_statement(&id, b"envelope", Some(0));
            batch.append_log("o", 0, &id, 0, &[]);
            batch.put_decision("de.bafa", "L1", 1, &id);
            store.commit(batch).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.statement(&id).unwrap().as_deref(), Some(&b"envelope"[..]));
        assert_eq!(store.log_index_of(&id).unwrap(), Some(0));
        assert_eq!(store.log("o").entry(0).unwrap(), Some(id));
        assert_eq!(store.chain_ids("de.bafa", "L1").unwrap(), vec![id]);
        assert_eq!(store.decision_id("de.bafa", "L1", 1).unwrap(), Some(id));
        assert_eq!(store.decision_id("de.bafa", "L1", 2).unwrap(), None);
    }

    #[test]
    fn log_chunks_grow_across_batches_and_read_back() {
        use comity_proto::log::StoredHashes as _;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut next_hash = 0u64;
        // 600 entries in uneven batches: chunks are extended across commits.
        for (start, end) in [(0u64, 1u64), (1, 300), (300, 301), (301, 600)] {
            let mut batch = WriteBatch::default();
            for i in start..end {
                let hashes: Vec<(u64, [u8; 32])> = (0..2).map(|k| (next_hash + k, [((next_hash + k) % 253) as u8; 32])).collect();
                next_hash += 2;
                batch.append_log("o", i, &StatementId([i as u8; 32]), 0, &hashes);
                // A second log in the same batch stays separate.
                batch.append_log("other", i, &StatementId([0xEE; 32]), 0, &[]);
            }
            store.commit(batch).unwrap();
        }
        let log = store.log("o");
        for i in [0u64, 255, 256, 299, 300, 599] {
            assert_eq!(log.entry(i).unwrap(), Some(StatementId([i as u8; 32])), "entry {i}");
            assert_eq!(store.log("other").entry(i).unwrap(), Some(StatementId([0xEE; 32])));
        }
        assert_eq!(log.entry(600).unwrap(), None);
        assert_eq!(store.log("nope").entry(0).unwrap(), None);
        let read = log.read(&[0, 255, 256, 1199]).unwrap();
        let expected: Vec<[u8; 32]> = [0u64, 255, 256, 1199].iter().map(|i| [(i % 253) as u8; 32]).collect();
        assert_eq!(read, expected);
        assert!(log.read(&[1200]).is_err());
        assert!(store.log("other").read(&[0]).is_err());

        // An append that would leave a gap is refused, not written.
        let mut gap = WriteBatch::default();
        gap.append_log("o", 700, &StatementId([1; 32]), 0, &[]);
        assert!(matches!(store.commit(gap), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn log_times_are_kept_as_runs_and_read_back_per_entry() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let times = [10, 10, 20, 20, 20, 20, 30];
        for (from, to) in [(0, 5), (5, 7)] {
            let mut batch = WriteBatch::default();
            for i in from..to {
                batch.append_log("o", i, &StatementId([i as u8; 32]), times[i as usize], &[]);
            }
            store.commit(batch).unwrap();
        }
        let read: Vec<i64> = (0..7).map(|i| store.log("o").entered_at(i).unwrap().unwrap()).collect();
        assert_eq!(read, times);
        assert_eq!(store.log("o").entered_at(7).unwrap(), None);
        // One record per run of equal times within a batch: (2, 10), (5, 20), then (6, 20), (7, 30).
        assert_eq!(store.db.scan_prefix([table::LOG_TIME]).count(), 4);
    }

    #[test]
    fn a_store_from_before_log_times_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.db.insert(keys::meta("schema_version"), 2u32.to_be_bytes()).unwrap();
            store.db.flush().unwrap();
        }
        let err = Store::open(dir.path()).err().expect("an older schema must be refused");
        assert!(matches!(err, StoreError::OlderSchema { found: 2, .. }), "{err}");
        assert!(err.to_string().contains("before log entries carried their log time") && err.to_string().contains("new data dir"), "{err}");
    }

    #[test]
    fn newer_schema_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.db.insert(keys::meta("schema_version"), (SCHEMA_VERSION + 1).to_be_bytes()).unwrap();
            store.db.flush().unwrap();
        }
        let err = Store::open(dir.path()).err().expect("newer schema must be refused");
        assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1), "{err}");
        assert!(err.to_string().contains("newer than this binary"), "{err}");
    }

    #[test]
    fn foreign_sled_data_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            db.insert(b"user:1", b"alice").unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(dir.path()).err().expect("foreign data must be refused");
        assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    }

    #[test]
    fn a_directory_that_is_not_a_database_gives_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("conf"), b"\x00\x01garbage").unwrap();
        std::fs::write(dir.path().join("db"), b"not a sled file at all").unwrap();
        assert!(Store::open(dir.path()).is_err());
    }
}
