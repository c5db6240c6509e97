//! The licence-state maps as stored: each log's current map in tiles, plus undo records that
//! let a reader see the map at a recent size.
//!
//! A tile holds the nodes of [`TILE_HEIGHT`] levels below its top node (up to 15), so a change
//! rewrites one record per four levels of its path instead of one per node, and the record
//! keeps its key (sled's cost is per key, and most of it for a key it has not seen). The commit
//! at log size V also writes one undo record: every node it changed, with the value before. The
//! map at size S < latest is the current map with the undo records of the commits after S
//! applied oldest first, so undo records are kept back to the oldest size a proof is served
//! at (the log's cosigned checkpoint) and pruned after, at most [`MAX_UNDO`] of them.
//!
//! One thread writes (the registry's writer), and sled applies a batch atomically to each read
//! but not across reads, so a reader may see the map change under it: [`LogRef::prove_map`]
//! checks the proof against the root the checkpoint signs and reads again if it fails.

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use comity_proto::licence_map::{self, Head, MapKey, MapProof, MapReadError, Node, NodeSource, Path};
use comity_proto::log::TreeHash;

use super::{corrupt, keys, LogRef, Result, Store, StoreError, WriteBatch};

/// Levels per tile.
pub const TILE_HEIGHT: usize = 4;
const TILE_SLOTS: usize = (1 << TILE_HEIGHT) - 1;

/// The writer keeps its own log's tiles whose top is above this depth in memory (at most
/// 1 + 16 + 256 + 4096 tiles, ~6 MB at 1M licences), so a change reads only the tiles below.
pub const CACHED_DEPTH: usize = 16;

/// Most undo records kept per log: a cosigned checkpoint further behind is proven against the
/// latest instead (a reader applies every undo record after its size, so this bounds its work).
pub const MAX_UNDO: usize = 256;

/// Paths are prefixes of SHA-256 outputs, so a multiply-xor over their bytes spreads them well
/// at a fraction of SipHash's cost (the writer looks up a few tiles per changed node).
#[derive(Default)]
struct PathHasher(u64);

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type PathMap<V> = HashMap<Path, V, BuildHasherDefault<PathHasher>>;

/// The nodes of one tile, by slot: level `r` below the top, position `i` in it at `2^r - 1 + i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tile([Node; TILE_SLOTS]);

impl Default for Tile {
    fn default() -> Self {
        Tile([Node::Empty; TILE_SLOTS])
    }
}

impl Tile {
    /// Storage form: for each non-empty slot in slot order, the slot (u8) ‖ the node's storage form.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TILE_SLOTS * 34);
        for (slot, node) in self.0.iter().enumerate() {
            if *node != Node::Empty {
                out.push(slot as u8);
                out.extend_from_slice(&node.encode());
            }
        }
        out
    }

    fn decode(mut bytes: &[u8]) -> Option<Tile> {
        let mut tile = Tile::default();
        while let Some((&slot, rest)) = bytes.split_first() {
            let (node, rest) = split_node(rest)?;
            *tile.0.get_mut(slot as usize)? = node;
            bytes = rest;
        }
        Some(tile)
    }
}

/// Splits one node's storage form (its length follows from its tag) off the front of `bytes`.
fn split_node(bytes: &[u8]) -> Option<(Node, &[u8])> {
    let len = match bytes.first()? {
        0 => 1,
        1 => 33,
        2 => 73,
        _ => return None,
    };
    let (node, rest) = bytes.split_at_checked(len)?;
    Some((Node::decode(node)?, rest))
}

/// Bit `i` of a path's prefix.
fn path_bit(path: &Path, i: usize) -> bool {
    path.prefix_bytes()[i / 8] >> (7 - i % 8) & 1 == 1
}

/// The top of the tile holding `path`.
fn tile_of(path: &Path) -> Path {
    let depth = path.depth() / TILE_HEIGHT * TILE_HEIGHT;
    (0..depth).fold(Path::ROOT, |p, i| p.child(path_bit(path, i)))
}

/// The slot of `path` in its tile.
fn slot_of(path: &Path) -> usize {
    let top = path.depth() / TILE_HEIGHT * TILE_HEIGHT;
    let below = path.depth() - top;
    let index = (top..path.depth()).fold(0usize, |i, b| i << 1 | path_bit(path, b) as usize);
    (1 << below) - 1 + index
}

/// One undo entry: depth (u16 BE) ‖ path bytes ‖ the node's storage form before the commit.
fn push_undo(out: &mut Vec<u8>, path: &Path, before: &Node) {
    out.extend_from_slice(&(path.depth() as u16).to_be_bytes());
    out.extend_from_slice(path.prefix_bytes());
    out.extend_from_slice(&before.encode());
}

/// Reads an undo record's entries, those a proof for `key` reads when one is given.
fn read_undo(mut bytes: &[u8], key: Option<&MapKey>, mut each: impl FnMut(Path, Node)) -> Option<()> {
    while !bytes.is_empty() {
        let (depth, rest) = bytes.split_first_chunk::<2>()?;
        let depth = u16::from_be_bytes(*depth) as usize;
        let (prefix, rest) = rest.split_at_checked(depth.div_ceil(8))?;
        let (node, rest) = split_node(rest)?;
        if key.is_none_or(|key| read_by_proof(depth, prefix, key)) {
            each(Path::from_parts(depth, prefix)?, node);
        }
        bytes = rest;
    }
    Some(())
}

/// Whether the node at `depth` with path bytes `prefix` is on `key`'s path or beside it: the
/// nodes a proof for `key` reads (their parent's bits are the key's first bits).
fn read_by_proof(depth: usize, prefix: &[u8], key: &MapKey) -> bool {
    let Some(parent) = depth.checked_sub(1) else { return true };
    let (full, rest) = (parent / 8, parent % 8);
    prefix[..full] == key[..full] && (rest == 0 || (prefix[full] ^ key[full]) >> (8 - rest) == 0)
}

/// One log's licence-state map at one size, read from the store (a view reads each tile once).
pub struct MapView<'a> {
    store: &'a Store,
    origin: &'a str,
    /// Nodes changed after the view's size, with their values at it.
    overlay: PathMap<Node>,
    tiles: RefCell<PathMap<Tile>>,
}

impl NodeSource for MapView<'_> {
    fn node(&self, path: &Path) -> std::result::Result<Node, MapReadError> {
        if let Some(node) = self.overlay.get(path) {
            return Ok(*node);
        }
        let top = tile_of(path);
        let mut tiles = self.tiles.borrow_mut();
        let tile = match tiles.entry(top) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(self.store.map_tile(self.origin, &top).map_err(|e| MapReadError::Read(format!("read licence-map tile: {e}")))?),
        };
        Ok(tile.0[slot_of(path)])
    }
}

/// The writer's copy of the upper tiles of its own log's map. It is the only writer of that
/// map, so the copy stays current as long as every commit is settled with [`MapCache::settle`].
#[derive(Default)]
pub struct MapCache {
    origin: String,
    tiles: PathMap<Tile>,
    /// Tiles the batch being committed rewrites.
    staged: Vec<(Path, Tile)>,
}

impl MapCache {
    /// Takes in the staged tiles once their batch is committed; after a failed commit drops
    /// everything (the tiles are read again from the store).
    pub fn settle(&mut self, committed: bool) {
        if committed {
            self.tiles.extend(self.staged.drain(..));
        } else {
            self.staged.clear();
            self.tiles.clear();
        }
    }

    /// Tiles held.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// True when no tile is held.
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }
}

/// Why a stored licence-state map could not be read or staged: the store refused, or a node
/// read through it is missing or damaged. The text is the underlying error's.
#[derive(Debug, thiserror::Error)]
pub enum MapStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Read(#[from] MapReadError),
}

/// The undo records of one log a batch writes (`added`) and removes.
#[derive(Debug)]
pub(super) struct UndoChange {
    origin: String,
    added: Option<u64>,
    removed: Vec<u64>,
}

/// What [`Store::stage_map`] staged.
#[derive(Debug, Clone, Copy)]
pub struct StagedMap {
    /// The new map root.
    pub root: TreeHash,
    /// Map nodes changed.
    pub nodes: usize,
    /// Records written: tiles, plus the undo record.
    pub records: usize,
}

impl Store {
    /// Applies `changes` (in log order) to the map of log `origin` and stages the changed tiles
    /// and the commit's undo record into `batch` at log size `version`; prunes undo records no
    /// proof needs any more. `cache`: the writer's copy of its own log's upper tiles (settle it
    /// after the commit).
    pub fn stage_map(
        &self,
        batch: &mut WriteBatch,
        origin: &str,
        version: u64,
        changes: &[(MapKey, Head)],
        cache: Option<&mut MapCache>,
    ) -> std::result::Result<StagedMap, MapStoreError> {
        let mut scratch = MapCache::default();
        let cache = cache.unwrap_or(&mut scratch);
        if cache.origin != origin {
            cache.settle(false);
            cache.origin = origin.to_string();
        }
        cache.staged.clear();
        let mut tiles = std::mem::take(&mut cache.tiles);
        // Each change reads about two tiles below the cached ones: room for them up front, so
        // a mirrored part of many thousand changes does not grow the map step by step.
        tiles.reserve(changes.len() * 2);
        let view = MapView { store: self, origin, overlay: PathMap::default(), tiles: RefCell::new(tiles) };
        let updated = licence_map::update(&view, changes);
        let mut tiles = view.tiles.into_inner();
        let (root, writes) = match updated {
            Ok(u) => u,
            Err(e) => {
                tiles.retain(|top, _| top.depth() < CACHED_DEPTH);
                cache.tiles = tiles;
                return Err(e.into());
            }
        };
        // The tiles the update read are taken, not copied or read again: the cache gets the
        // upper ones back from `staged` once the commit settles.
        let mut changed: PathMap<Tile> = PathMap::default();
        changed.reserve(writes.len().min(tiles.len()));
        let mut undo = Vec::with_capacity(writes.len() * 40);
        for (path, node) in &writes {
            let top = tile_of(path);
            let tile = match changed.entry(top) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(match tiles.remove(&top) {
                    Some(t) => t,
                    None => self.map_tile(origin, &top).map_err(|e| MapReadError::Read(format!("read licence-map tile: {e}")))?,
                }),
            };
            let slot = &mut tile.0[slot_of(path)];
            push_undo(&mut undo, path, slot);
            *slot = *node;
        }
        for (top, tile) in &changed {
            batch.inner.insert(keys::map_tile(origin, top), tile.encode());
        }
        let records = changed.len() + usize::from(!writes.is_empty());
        if !writes.is_empty() {
            batch.inner.insert(keys::map_undo(origin, version), undo);
        }
        tiles.retain(|top, _| top.depth() < CACHED_DEPTH);
        cache.tiles = tiles;
        self.prune_map_undo(batch, origin, version, !writes.is_empty())?;
        cache.staged = changed.into_iter().filter(|(top, _)| top.depth() < CACHED_DEPTH).collect();
        Ok(StagedMap { root, nodes: writes.len(), records })
    }

    /// Removes the undo records of `origin` at or below its cosigned checkpoint (else its latest),
    /// the smallest size a proof is served at, and all but the newest [`MAX_UNDO`] (counting the
    /// one staged at `version`, which stays).
    fn prune_map_undo(&self, batch: &mut WriteBatch, origin: &str, version: u64, written: bool) -> Result<()> {
        let log = self.log(origin);
        let served = match log.cosigned()?.as_deref().and_then(comity_proto::log::stored_checkpoint_fields) {
            Some((size, _, _)) => size,
            None => log.size()?,
        };
        let versions: Vec<u64> = self.undo_versions(origin)?.into_iter().filter(|v| *v != version).collect();
        let excess = (versions.len() + 1).saturating_sub(MAX_UNDO);
        let mut removed = Vec::new();
        for (i, v) in versions.iter().enumerate() {
            if *v <= served || i < excess {
                batch.inner.remove(keys::map_undo(origin, *v));
                removed.push(*v);
            }
        }
        batch.map_undo.push(UndoChange { origin: origin.to_string(), added: written.then_some(version), removed });
        Ok(())
    }

    /// The versions of `origin`'s stored undo records, oldest first: from the store's list,
    /// read once per log by a scan. Only the writer lists them (readers never do), between its
    /// commits, so the scan cannot miss a commit in flight.
    fn undo_versions(&self, origin: &str) -> Result<Vec<u64>> {
        let mut known = self.undo_versions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(versions) = known.get(origin) {
            return Ok(versions.iter().copied().collect());
        }
        let mut versions = std::collections::BTreeSet::new();
        for kv in self.db.scan_prefix(keys::map_undo_prefix(origin)) {
            versions.extend(keys::map_undo_version(&kv?.0));
        }
        let list = versions.iter().copied().collect();
        known.insert(origin.to_string(), versions);
        Ok(list)
    }

    /// Lists the undo records a batch is about to write.
    pub(super) fn list_undo_added(&self, changes: &[UndoChange]) {
        let mut known = self.undo_versions.lock().unwrap_or_else(|e| e.into_inner());
        for change in changes {
            if let Some(versions) = known.get_mut(&change.origin) {
                versions.extend(change.added);
            }
        }
    }

    /// Unlists the undo records a committed batch removed.
    pub(super) fn list_undo_removed(&self, changes: &[UndoChange]) {
        let mut known = self.undo_versions.lock().unwrap_or_else(|e| e.into_inner());
        for change in changes {
            if let Some(versions) = known.get_mut(&change.origin) {
                for v in &change.removed {
                    versions.remove(v);
                }
            }
        }
    }

    /// After a failed commit: the logs it touched are read again by a scan.
    pub(super) fn forget_undo_versions(&self, changes: &[UndoChange]) {
        let mut known = self.undo_versions.lock().unwrap_or_else(|e| e.into_inner());
        for change in changes {
            known.remove(&change.origin);
        }
    }

    fn map_tile(&self, origin: &str, top: &Path) -> Result<Tile> {
        match self.db.get(keys::map_tile(origin, top))? {
            None => Ok(Tile::default()),
            Some(v) => Tile::decode(&v).ok_or_else(|| corrupt("map_tile", &format!("tile of {origin} at depth {} is malformed", top.depth()))),
        }
    }
}

impl LogRef<'_> {
    /// The licence-state map as of log size `version` (`u64::MAX`: the latest written). A size
    /// older than the undo records kept reads a map that is not the one at that size: a proof
    /// read from it does not verify (see [`LogRef::prove_map`]).
    pub fn map(&self, version: u64) -> Result<MapView<'_>> {
        self.map_for(version, None)
    }

    /// [`LogRef::map`] holding, of the nodes changed after `version`, only those a proof for
    /// `key` reads (when given).
    fn map_for(&self, version: u64, key: Option<&MapKey>) -> Result<MapView<'_>> {
        let mut overlay = PathMap::default();
        if version != u64::MAX {
            for v in self.undo_records_after(version)? {
                // Oldest first: the first value recorded for a node is its value at `version`.
                read_undo(&v, key, |path, node| {
                    overlay.entry(path).or_insert(node);
                })
                .ok_or_else(|| corrupt("map_undo", &format!("undo record of {} is malformed", self.origin)))?;
            }
        }
        Ok(MapView { store: self.store, origin: self.origin, overlay, tiles: RefCell::default() })
    }

    /// The undo records of this log after `version`, oldest first: point reads of the records
    /// the store lists (a record pruned meanwhile is missing, and a proof read without it fails
    /// its root check and is read again), or a scan while the writer has not listed them yet.
    fn undo_records_after(&self, version: u64) -> Result<Vec<super::engine::Value>> {
        let listed =
            self.store.undo_versions.lock().unwrap_or_else(|e| e.into_inner()).get(self.origin).map(|v| v.range(version + 1..).copied().collect::<Vec<_>>());
        let Some(newer) = listed else {
            let prefix = keys::map_undo_prefix(self.origin);
            let undo = self.store.db.range(keys::map_undo(self.origin, version + 1)..);
            return undo.take_while(|kv| kv.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix))).map(|kv| Ok(kv?.1)).collect();
        };
        let mut records = Vec::with_capacity(newer.len());
        for v in newer {
            records.extend(self.store.db.get(keys::map_undo(self.origin, v))?);
        }
        Ok(records)
    }

    /// A proof for `key` in the map at size `size`, checked against `root`, the map root its
    /// checkpoint signs; read again when a commit changed the map meanwhile. `None` when the
    /// store no longer holds the map at that size.
    pub fn prove_map(&self, size: u64, root: &TreeHash, key: &MapKey) -> Result<Option<MapProof>> {
        for _ in 0..3 {
            let proof =
                licence_map::prove(&self.map_for(size, Some(key))?, key).map_err(|e| StoreError::Corrupt { table: "map_tile", detail: e.to_string() })?;
            if licence_map::verify(root, key, &proof).is_ok() {
                return Ok(Some(proof));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use comity_proto::licence_map::{licence_key, root_of, MemoryMap};

    use super::*;

    fn head(version: u64, tag: u8) -> Head {
        Head { version, id: [tag; 32] }
    }

    fn change(i: u64, version: u64) -> (MapKey, Head) {
        (licence_key("de.bafa", &format!("L{i}")), head(version, i as u8))
    }

    #[test]
    fn slots_and_tiles_cover_every_node_once() {
        let mut seen = std::collections::HashSet::new();
        let mut level = vec![Path::ROOT];
        let mut paths = level.clone();
        for _ in 0..9 {
            level = level.iter().flat_map(|p| [p.child(false), p.child(true)]).collect();
            paths.extend(&level);
        }
        for p in &paths {
            let top = tile_of(p);
            assert_eq!(top.depth() % TILE_HEIGHT, 0);
            assert!(p.depth() - top.depth() < TILE_HEIGHT);
            assert!(slot_of(p) < TILE_SLOTS);
            assert!(seen.insert((top, slot_of(p))), "two paths share a slot");
        }
        let tile = Tile([
            Node::Interior([3; 32]),
            Node::Empty,
            Node::Leaf { key: [1; 32], head: head(2, 9) },
            Node::Empty,
            Node::Empty,
            Node::Empty,
            Node::Empty,
            Node::Empty,
            Node::Empty,
            Node::Empty,
            Node::Empty,
            Node::Empty,
            Node::Empty,
            Node::Empty,
            Node::Interior([4; 32]),
        ]);
        assert_eq!(Tile::decode(&tile.encode()), Some(tile));
        assert_eq!(Tile::decode(&[15, 0]), None);
    }

    #[test]
    fn stored_map_matches_the_memory_map_at_every_size_and_proves_recent_sizes() {
        // The same changes through the writer's cache and without one.
        let (cached_dir, plain_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (cached, plain) = (Store::open(cached_dir.path()).unwrap(), Store::open(plain_dir.path()).unwrap());
        let origin = "test.example/log";
        let mut memory = MemoryMap::default();
        let mut roots = Vec::new();
        let mut cache = MapCache::default();
        let mut size = 0;
        for batch_no in 0..12u64 {
            let changes: Vec<_> = (0..40).map(|j| change((batch_no * 29 + j * 7) % 300, batch_no + 1)).collect();
            memory.apply(&changes);
            size += 40;
            for (store, cache) in [(&cached, Some(&mut cache)), (&plain, None)] {
                let mut batch = WriteBatch::default();
                let staged = store.stage_map(&mut batch, origin, size, &changes, cache).unwrap();
                batch.put_log_size(origin, size);
                store.commit(batch).unwrap();
                assert_eq!(staged.root, memory.root());
            }
            cache.settle(true);
            roots.push((size, memory.root(), memory.clone()));
        }
        let leaves: HashMap<_, _> = memory.leaves().collect();
        assert_eq!(root_of(&leaves), memory.root());
        let log = cached.log(origin);
        // Without a cosigned checkpoint each commit prunes the undo records up to the size
        // before it: the latest size and the one before are held.
        for (size, root, map) in roots.iter().rev().take(2) {
            for i in [0u64, 5, 77, 299, 1000] {
                let key = change(i, 0).0;
                let proof = log.prove_map(*size, root, &key).unwrap().expect("the map at that size is held");
                assert_eq!(proof, map.prove(&key));
            }
        }
        // A size whose undo records were pruned does not yield a proof against its root.
        let (old, old_root, _) = &roots[0];
        assert_eq!(log.prove_map(*old, old_root, &change(5, 0).0).unwrap(), None);
    }

    #[test]
    fn a_proof_reads_the_nodes_on_and_beside_its_path() {
        let key: MapKey = [0b1011_0110; 32];
        let on: Vec<Path> = (0..22)
            .scan(Path::ROOT, |p, i| {
                let here = *p;
                *p = p.child(licence_map::bit(&key, i));
                Some(here)
            })
            .collect();
        for p in on.iter().take(20) {
            assert!(read_by_proof(p.depth(), p.prefix_bytes(), &key));
            for c in [p.child(false), p.child(true)] {
                assert!(read_by_proof(c.depth(), c.prefix_bytes(), &key), "a child of a node on the path");
                for g in [c.child(false), c.child(true)] {
                    let beside = on.contains(&c);
                    assert_eq!(read_by_proof(g.depth(), g.prefix_bytes(), &key), beside);
                }
            }
        }
    }

    #[test]
    fn undo_records_are_kept_back_to_the_cosigned_checkpoint_and_at_most_max_undo() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let origin = "test.example/log";
        let key = comity_proto::log::LogKey::from_seed(origin, &[1; 32]).unwrap();
        let undo_count = || store.db.scan_prefix(keys::map_undo_prefix(origin)).count();
        let mut memory = MemoryMap::default();
        let mut roots = vec![(0, memory.root())];
        for size in 1..=(MAX_UNDO as u64 + 20) {
            let changes = [change(size % 97, size)];
            memory.apply(&changes);
            let mut batch = WriteBatch::default();
            store.stage_map(&mut batch, origin, size, &changes, None).unwrap();
            batch.put_log_size(origin, size);
            if size == 10 {
                // Witnesses cosigned size 10: proofs are served there, so history is kept from it.
                batch.put_cosigned(origin, &key.sign_checkpoint(10, &[0; 32], &memory.root(), 1).unwrap());
            }
            store.commit(batch).unwrap();
            roots.push((size, memory.root()));
            if size == 30 {
                assert_eq!(undo_count(), 20, "the commits after the cosigned size 10");
            }
        }
        assert_eq!(undo_count(), MAX_UNDO);
        let log = store.log(origin);
        let probe = change(3, 0).0;
        let (latest, _) = *roots.last().unwrap();
        let (held, held_root) = roots[(latest - MAX_UNDO as u64) as usize];
        assert!(log.prove_map(held, &held_root, &probe).unwrap().is_some());
        let (gone, gone_root) = roots[10];
        assert_eq!(log.prove_map(gone, &gone_root, &probe).unwrap(), None);
    }

    #[test]
    fn a_failed_commit_drops_the_cached_tiles() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut cache = MapCache::default();
        let mut batch = WriteBatch::default();
        store.stage_map(&mut batch, "o", 1, &[change(1, 1)], Some(&mut cache)).unwrap();
        // Not committed: the cache must not keep the staged tile.
        cache.settle(false);
        assert!(cache.is_empty());
        let mut batch = WriteBatch::default();
        let staged = store.stage_map(&mut batch, "o", 1, &[change(2, 1)], Some(&mut cache)).unwrap();
        let mut memory = MemoryMap::default();
        memory.apply(&[change(2, 1)]);
        assert_eq!(staged.root, memory.root());
    }
}
