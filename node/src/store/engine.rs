//! The key-value engine under [`super::Store`]: fjall (an LSM tree, the default for new stores)
//! or sled (the design's first store, kept for stores created with it; BENCHMARKS.md, Storage
//! engines). The store uses only what both offer: point reads, ordered prefix and range scans,
//! atomic batches made durable by `flush`, and a counter. A store keeps the engine it was
//! created with.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use fjall::AbstractTree;

/// A value as the store reads it (sled's shared bytes; fjall's are copied in).
pub type Value = sled::IVec;

/// Which engine a new store is created with. fjall by default: about a tenth of sled's bytes on disk
/// and a restart in milliseconds (BENCHMARKS.md, Storage at scale).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Sled,
    #[default]
    Fjall,
}

impl EngineKind {
    /// The engine of the store in `dir`, if it holds one.
    pub fn of_dir(dir: &Path) -> Option<Self> {
        if dir.join("conf").exists() {
            Some(EngineKind::Sled)
        } else if dir.join("version").exists() {
            Some(EngineKind::Fjall)
        } else {
            None
        }
    }
}

/// An engine failure.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Sled(#[from] sled::Error),
    #[error("fjall: {0}")]
    Fjall(#[from] fjall::Error),
}

impl EngineError {
    /// A failure to write or read the files (disk full, I/O), not damage.
    pub fn is_io(&self) -> bool {
        matches!(self, EngineError::Sled(sled::Error::Io(_)) | EngineError::Fjall(fjall::Error::Io(_) | fjall::Error::Poisoned))
    }

    /// Damage to the engine's files, found on reading them (fjall's lsm-tree errors, I/O among
    /// them, come from reading its segment and manifest files).
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            EngineError::Sled(sled::Error::Corruption { .. } | sled::Error::ReportableBug(_) | sled::Error::Unsupported(_))
                | EngineError::Fjall(fjall::Error::Decode(_) | fjall::Error::JournalRecovery(_) | fjall::Error::Storage(_) | fjall::Error::InvalidVersion(_))
        )
    }
}

type Result<T> = std::result::Result<T, EngineError>;

/// Writes applied together. Later writes of a key replace earlier ones of the same batch.
#[derive(Debug, Default)]
pub struct Batch {
    ops: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Batch {
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.ops.insert(key.as_ref().to_vec(), Some(value.as_ref().to_vec()));
    }

    pub fn remove(&mut self, key: impl AsRef<[u8]>) {
        self.ops.insert(key.as_ref().to_vec(), None);
    }
}

/// An open engine.
#[derive(Clone)]
pub enum Engine {
    Sled(sled::Db),
    Fjall(Fjall),
}

#[derive(Clone)]
pub struct Fjall {
    keyspace: fjall::Keyspace,
    data: fjall::PartitionHandle,
    /// The next id [`Engine::generate_id`] hands out; its high-water mark is stored.
    next_id: std::sync::Arc<AtomicU64>,
}

impl Fjall {
    /// The sequence number fjall reads are made at: every batch committed before, none being
    /// applied. fjall's plain reads see a batch's items as it inserts them one by one; sled's
    /// batches are atomic to readers, and the store relies on that (a log's size is never read
    /// before its entries).
    fn visible(&self) -> Option<fjall::Instant> {
        Some(self.keyspace.instant())
    }
}

/// Where fjall keeps the counter's high-water mark (outside the store's tables, which start
/// with a table byte below 0xff).
const FJALL_ID_KEY: &[u8] = b"\xff\xffgenerated_id";

/// fjall's memory, bounded for a node that holds a million decisions (BENCHMARKS.md, Storage at
/// scale): all memtables together (fjall's default is 64 MiB, which their skiplists' overhead
/// makes larger still), one memtable, and the segment a compaction writes (its bloom filter's
/// key hashes are held in memory while it is written: 16 bytes per key, millions of the store's
/// small keys in a 64 MiB segment). The last applies to new stores only.
const FJALL_WRITE_BUFFER_BYTES: u64 = 24 * 1024 * 1024;
const FJALL_MEMTABLE_BYTES: u32 = 8 * 1024 * 1024;
const FJALL_SEGMENT_BYTES: u32 = 16 * 1024 * 1024;

type Entry = Result<(Value, Value)>;

/// The engine's memory that grows with the store, besides its fixed cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineMemory {
    /// Memtables, the active one and those sealed but not yet flushed.
    pub memtable_bytes: u64,
    /// The bloom filters of all segments, which fjall keeps in memory.
    pub bloom_filter_bytes: u64,
    /// Segments on disk.
    pub segments: u64,
}

impl Engine {
    /// Opens the engine in `dir` with `cache_bytes` of page cache: the one the store there was
    /// created with, or `new` for a new store.
    pub fn open(dir: &Path, new: EngineKind, cache_bytes: u64) -> Result<Self> {
        match EngineKind::of_dir(dir).unwrap_or(new) {
            EngineKind::Sled => Ok(Engine::Sled(sled::Config::new().path(dir).cache_capacity(cache_bytes).open()?)),
            EngineKind::Fjall => {
                let keyspace = fjall::Config::new(dir).cache_size(cache_bytes).max_write_buffer_size(FJALL_WRITE_BUFFER_BYTES).open()?;
                let options = fjall::PartitionCreateOptions::default().max_memtable_size(FJALL_MEMTABLE_BYTES).compaction_strategy(
                    fjall::compaction::Strategy::Leveled(fjall::compaction::Leveled { target_size: FJALL_SEGMENT_BYTES, ..Default::default() }),
                );
                let data = keyspace.open_partition("store", options)?;
                let stored = data.get(FJALL_ID_KEY)?.and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)).unwrap_or(0);
                Ok(Engine::Fjall(Fjall { keyspace, data, next_id: std::sync::Arc::new(AtomicU64::new(stored)) }))
            }
        }
    }

    pub fn kind(&self) -> EngineKind {
        match self {
            Engine::Sled(_) => EngineKind::Sled,
            Engine::Fjall(_) => EngineKind::Fjall,
        }
    }

    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        match self {
            Engine::Sled(db) => Ok(db.get(key)?),
            Engine::Fjall(f) => Ok(f.data.tree.get(key, f.visible()).map_err(fjall::Error::from)?.map(|v| Value::from(v.as_ref()))),
        }
    }

    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        match self {
            Engine::Sled(db) => Ok(db.contains_key(key)?),
            Engine::Fjall(f) => Ok(f.data.tree.contains_key(key, f.visible()).map_err(fjall::Error::from)?),
        }
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Box<dyn DoubleEndedIterator<Item = Entry>> {
        match self {
            Engine::Sled(db) => Box::new(db.scan_prefix(prefix).map(|r| r.map_err(EngineError::from))),
            Engine::Fjall(f) => Box::new(f.data.tree.prefix(prefix.as_ref(), f.visible(), None).map(fjall_entry)),
        }
    }

    /// Entries with keys in `range`, in key order.
    pub fn range(&self, range: impl std::ops::RangeBounds<Vec<u8>>) -> Box<dyn DoubleEndedIterator<Item = Entry>> {
        let range = (range.start_bound().cloned(), range.end_bound().cloned());
        match self {
            Engine::Sled(db) => Box::new(db.range(range).map(|r| r.map_err(EngineError::from))),
            Engine::Fjall(f) => Box::new(f.data.tree.range(range, f.visible(), None).map(fjall_entry)),
        }
    }

    /// Every entry, in key order (fjall's id counter left out).
    pub fn iter(&self) -> Box<dyn DoubleEndedIterator<Item = Entry>> {
        match self {
            Engine::Sled(db) => Box::new(db.iter().map(|r| r.map_err(EngineError::from))),
            Engine::Fjall(f) => Box::new(f.data.tree.range(..FJALL_ID_KEY.to_vec(), f.visible(), None).map(fjall_entry)),
        }
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.iter().next().is_none())
    }

    /// Applies `batch` atomically; durable after [`Engine::flush`].
    pub fn apply(&self, batch: Batch) -> Result<()> {
        match self {
            Engine::Sled(db) => {
                let mut b = sled::Batch::default();
                for (k, v) in batch.ops {
                    match v {
                        Some(v) => b.insert(k, v),
                        None => b.remove(k),
                    }
                }
                Ok(db.apply_batch(b)?)
            }
            Engine::Fjall(f) => {
                let mut b = f.keyspace.batch();
                for (k, v) in batch.ops {
                    match v {
                        Some(v) => b.insert(&f.data, k, v),
                        None => b.remove(&f.data, k),
                    }
                }
                Ok(b.commit()?)
            }
        }
    }

    /// One write (for tools and tests that edit a store; the node writes in batches).
    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = Batch::default();
        batch.insert(key, value);
        self.apply(batch)
    }

    /// One removal (as [`Engine::insert`]).
    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let mut batch = Batch::default();
        batch.remove(key);
        self.apply(batch)
    }

    /// Makes every applied batch durable.
    pub fn flush(&self) -> Result<()> {
        match self {
            Engine::Sled(db) => db.flush().map(|_| ()).map_err(Into::into),
            // Every write goes to the keyspace's one journal, in order; a commit only hands it to
            // the OS. SyncAll fsyncs the journal (sealed journals were fsynced when rotated).
            Engine::Fjall(f) => Ok(f.keyspace.persist(fjall::PersistMode::SyncAll)?),
        }
    }

    /// A number never handed out before in this store, across restarts.
    pub fn generate_id(&self) -> Result<u64> {
        match self {
            Engine::Sled(db) => Ok(db.generate_id()?),
            Engine::Fjall(f) => {
                let id = f.next_id.fetch_add(1, Ordering::SeqCst);
                // Journaled before the batch that uses it, so that batch's flush makes it durable
                // too: no id in a durable record is handed out again after a crash.
                f.data.insert(FJALL_ID_KEY, (id + 1).to_be_bytes())?;
                Ok(id)
            }
        }
    }

    /// Bytes on disk.
    /// What the engine holds in the node's memory that grows with the store, where it can say
    /// (fjall; sled does not tell).
    pub fn memory(&self) -> Option<EngineMemory> {
        match self {
            Engine::Sled(_) => None,
            Engine::Fjall(f) => Some(EngineMemory {
                memtable_bytes: f.keyspace.write_buffer_size(),
                bloom_filter_bytes: f.data.tree.bloom_filter_size() as u64,
                segments: f.data.tree.segment_count() as u64,
            }),
        }
    }

    pub fn size_on_disk(&self) -> Result<u64> {
        match self {
            Engine::Sled(db) => Ok(db.size_on_disk()?),
            Engine::Fjall(f) => Ok(f.keyspace.disk_space()),
        }
    }

    /// Whether the engine holds data of something other than a Comity store (sled trees
    /// besides its default one).
    pub fn has_foreign_trees(&self) -> bool {
        match self {
            Engine::Sled(db) => db.tree_names().into_iter().any(|n| n.as_ref() != b"__sled__default"),
            Engine::Fjall(f) => f.keyspace.partition_count() != 1,
        }
    }
}

fn fjall_entry(r: std::result::Result<fjall::KvPair, impl Into<fjall::Error>>) -> Entry {
    let (k, v) = r.map_err(Into::into)?;
    Ok((Value::from(k.as_ref()), Value::from(v.as_ref())))
}
