//! The licence-state map: for one log, an authenticated map from each licence it holds
//! (authority + licence id) to its head there: the version and statement id of the licence's
//! last decision in log order (a confidential licence by its public face). The map at size N
//! is a pure function of the log's first N entries, and every checkpoint carries its root in a
//! `licence-map` extension line, so a proof can show that a chain is complete and current, or
//! that a log holds no such licence. Exact bytes: docs/licence-map.md.
//!
//! The map is a compact sparse Merkle tree over 256-bit keys (as in Diem's and AKD's): a
//! subtree holding no licence hashes to 32 zero bytes, a subtree holding one licence is that
//! licence's leaf, and any other subtree is an interior node over its two halves. Proofs are
//! the sibling hashes on the path from the root, O(log n) for n licences. Licences are never
//! removed from a map, so a leaf only ever moves down.
//!
//! The same update and proof code serves a node's stored map ([`NodeSource`] over its store)
//! and the in-memory map of an auditor or a test ([`MemoryMap`]).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::log::TreeHash;

/// A licence's position in the map: SHA-256 of its authority and licence id.
pub type MapKey = [u8; 32];

/// Hash of an empty subtree (and root of an empty map).
pub const EMPTY_HASH: TreeHash = [0; 32];

/// Most levels a path can have.
pub const KEY_BITS: usize = 256;

const KEY_LABEL: &[u8] = b"comity.v1.licence-map.key\0";
const LEAF_PREFIX: u8 = 0x02;
const NODE_PREFIX: u8 = 0x03;

/// The map change an entry makes: a decision or a confidential decision's public face sets its
/// licence's head; other statements (key sets, agreements) change nothing.
pub fn change_of(envelope: &crate::statement::Envelope) -> Option<(MapKey, Head)> {
    use crate::pb::statement::Kind;
    let (authority, licence_id, version) = match envelope.statement() {
        Kind::Decision(d) => (&d.authority, &d.licence_id, d.version),
        Kind::RestrictedDecision(r) => (&r.authority, &r.licence_id, r.version),
        Kind::KeySet(_)
        | Kind::Agreement(_)
        | Kind::ControlList(_)
        | Kind::Crosswalk(_)
        | Kind::ScreeningList(_)
        | Kind::ConsultationRequest(_)
        | Kind::ConsultationAnswer(_)
        | Kind::ClassificationRuling(_)
        | Kind::EndUseCheck(_) => return None,
    };
    Some((licence_key(authority, licence_id), Head { version, id: envelope.id().0 }))
}

/// The map changes of log entries (envelope bytes) in log order; an entry that is not a valid
/// envelope changes nothing (auditors refuse such a log on its own grounds).
pub fn changes_of<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Vec<(MapKey, Head)> {
    entries.into_iter().filter_map(|e| crate::statement::Envelope::parse(e.to_vec()).ok().as_ref().and_then(change_of)).collect()
}

/// The map root of a log holding exactly `entries` (envelope bytes), in log order.
pub fn root_of_entries<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> TreeHash {
    let mut map = MemoryMap::default();
    map.apply(&changes_of(entries));
    map.root()
}

/// A licence's head in one log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Head {
    pub version: u64,
    /// Statement id of the decision (or restricted decision) with that version.
    pub id: [u8; 32],
}

/// The map key of `authority/licence_id`: SHA-256("comity.v1.licence-map.key" ‖ 0x00 ‖
/// authority ‖ 0x00 ‖ licence id).
pub fn licence_key(authority: &str, licence_id: &str) -> MapKey {
    let mut h = Sha256::new();
    h.update(KEY_LABEL);
    h.update(authority.as_bytes());
    h.update([0]);
    h.update(licence_id.as_bytes());
    h.finalize().into()
}

/// Leaf hash: SHA-256(0x02 ‖ key ‖ version (u64 big-endian) ‖ head statement id).
pub fn leaf_hash(key: &MapKey, head: &Head) -> TreeHash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(key);
    h.update(head.version.to_be_bytes());
    h.update(head.id);
    h.finalize().into()
}

/// Interior node hash: SHA-256(0x03 ‖ left ‖ right).
pub fn node_hash(left: &TreeHash, right: &TreeHash) -> TreeHash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Bit `i` of `key`, most significant bit of byte 0 first.
pub fn bit(key: &MapKey, i: usize) -> bool {
    key[i / 8] >> (7 - i % 8) & 1 == 1
}

/// A node's position: the first `depth` bits of the keys below it (later bits zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Path {
    depth: u16,
    bits: [u8; 32],
}

impl Path {
    /// The root.
    pub const ROOT: Path = Path { depth: 0, bits: [0; 32] };

    /// Number of bits.
    pub fn depth(&self) -> usize {
        self.depth as usize
    }

    /// The significant bytes: `ceil(depth / 8)` bytes of the prefix.
    pub fn prefix_bytes(&self) -> &[u8] {
        &self.bits[..self.depth().div_ceil(8)]
    }

    /// The child one level down towards `right`.
    pub fn child(&self, right: bool) -> Path {
        let mut bits = self.bits;
        let d = self.depth();
        if right {
            bits[d / 8] |= 1 << (7 - d % 8);
        }
        Path { depth: self.depth + 1, bits }
    }

    /// Rebuilds a path from its depth and significant bytes, refusing non-canonical forms.
    pub fn from_parts(depth: usize, prefix: &[u8]) -> Option<Path> {
        if depth > KEY_BITS || prefix.len() != depth.div_ceil(8) {
            return None;
        }
        let mut bits = [0; 32];
        bits[..prefix.len()].copy_from_slice(prefix);
        let path = Path { depth: depth as u16, bits };
        // Bits beyond the depth must be zero.
        (path.truncated() == bits).then_some(path)
    }

    fn truncated(&self) -> [u8; 32] {
        let mut bits = self.bits;
        let d = self.depth();
        for (i, b) in bits.iter_mut().enumerate() {
            let keep = d.saturating_sub(i * 8).min(8);
            *b &= if keep == 0 { 0 } else { 0xFFu8 << (8 - keep) };
        }
        bits
    }
}

/// One node of the stored tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Empty,
    Leaf { key: MapKey, head: Head },
    Interior(TreeHash),
}

impl Node {
    /// The subtree's hash.
    pub fn hash(&self) -> TreeHash {
        match self {
            Node::Empty => EMPTY_HASH,
            Node::Leaf { key, head } => leaf_hash(key, head),
            Node::Interior(h) => *h,
        }
    }

    /// Storage form: `0x00` empty; `0x01` ‖ hash; `0x02` ‖ key ‖ version (u64 BE) ‖ id.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Node::Empty => vec![0],
            Node::Interior(h) => [&[1u8][..], h].concat(),
            Node::Leaf { key, head } => [&[2u8][..], key, &head.version.to_be_bytes(), &head.id].concat(),
        }
    }

    /// Reads the storage form.
    pub fn decode(bytes: &[u8]) -> Option<Node> {
        match bytes.split_first()? {
            (0, []) => Some(Node::Empty),
            (1, h) => Some(Node::Interior(h.try_into().ok()?)),
            (2, rest) if rest.len() == 72 => Some(Node::Leaf {
                key: rest[..32].try_into().ok()?,
                head: Head { version: u64::from_be_bytes(rest[32..40].try_into().ok()?), id: rest[40..].try_into().ok()? },
            }),
            _ => None,
        }
    }
}

/// Why a map could not be read, updated or proven from its stored nodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapReadError {
    /// A stored node could not be read (missing or damaged); the text says which and why.
    #[error("{0}")]
    Read(String),
    #[error("two licences with the same map key")]
    DuplicateKey,
    #[error("the stored map is deeper than a key")]
    TooDeep,
}

/// Reads the nodes of one version of a map; a position never written is [`Node::Empty`].
pub trait NodeSource {
    fn node(&self, path: &Path) -> Result<Node, MapReadError>;
}

/// Applies `changes` (in log order: a later head of the same licence wins) to the map read
/// through `source`. Returns the new root and the nodes to write (each position once).
pub fn update(source: &(impl NodeSource + ?Sized), changes: &[(MapKey, Head)]) -> Result<(TreeHash, Vec<(Path, Node)>), MapReadError> {
    let mut latest: HashMap<MapKey, Head> = HashMap::with_capacity(changes.len());
    for (key, head) in changes {
        latest.insert(*key, *head);
    }
    let mut sorted: Vec<(MapKey, Head)> = latest.into_iter().collect();
    sorted.sort_unstable_by_key(|(key, _)| *key);
    let mut writes = Vec::new();
    let root = source.node(&Path::ROOT)?;
    let hash = update_at(source, Path::ROOT, root, &sorted, &mut writes)?;
    Ok((hash, writes))
}

/// Updates the subtree at `path`, currently `existing`, with `changes` (sorted by key, all
/// below `path`).
fn update_at(
    source: &(impl NodeSource + ?Sized),
    path: Path,
    existing: Node,
    changes: &[(MapKey, Head)],
    writes: &mut Vec<(Path, Node)>,
) -> Result<TreeHash, MapReadError> {
    if changes.is_empty() {
        return Ok(existing.hash());
    }
    match existing {
        Node::Empty if changes.len() == 1 => Ok(write(writes, path, Node::Leaf { key: changes[0].0, head: changes[0].1 })),
        Node::Empty => split(source, path, changes, false, writes),
        Node::Leaf { key, head } => {
            if changes.len() == 1 && changes[0].0 == key {
                return Ok(write(writes, path, Node::Leaf { key, head: changes[0].1 }));
            }
            // The leaf moves down with the new licences sharing its subtree. Nothing was ever
            // stored below a leaf (leaves never move up), so its children start empty.
            match changes.binary_search_by(|c| c.0.cmp(&key)) {
                Ok(_) => split(source, path, changes, false, writes),
                Err(at) => {
                    let mut merged = changes.to_vec();
                    merged.insert(at, (key, head));
                    split(source, path, &merged, false, writes)
                }
            }
        }
        Node::Interior(_) => split(source, path, changes, true, writes),
    }
}

fn split(
    source: &(impl NodeSource + ?Sized),
    path: Path,
    changes: &[(MapKey, Head)],
    stored_children: bool,
    writes: &mut Vec<(Path, Node)>,
) -> Result<TreeHash, MapReadError> {
    let depth = path.depth();
    if depth >= KEY_BITS {
        return Err(MapReadError::DuplicateKey);
    }
    let mid = changes.partition_point(|(k, _)| !bit(k, depth));
    let (left, right) = (path.child(false), path.child(true));
    let child = |p: &Path| if stored_children { source.node(p) } else { Ok(Node::Empty) };
    let lh = update_at(source, left, child(&left)?, &changes[..mid], writes)?;
    let rh = update_at(source, right, child(&right)?, &changes[mid..], writes)?;
    Ok(write(writes, path, Node::Interior(node_hash(&lh, &rh))))
}

fn write(writes: &mut Vec<(Path, Node)>, path: Path, node: Node) -> TreeHash {
    let hash = node.hash();
    writes.push((path, node));
    hash
}

/// A proof about one licence key against a map root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapProof {
    /// Sibling hashes from the root's children down to the proven position.
    pub siblings: Vec<TreeHash>,
    pub end: ProofEnd,
}

/// What sits at the end of the key's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofEnd {
    /// The licence's own leaf: it is in the map with this head.
    Head(Head),
    /// An empty subtree: the licence is not in the map.
    Empty,
    /// Another licence's leaf: the licence is not in the map.
    Other { key: MapKey, head: Head },
}

/// Why a map proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("licence-map proof has {0} levels, more than the {KEY_BITS} a key has")]
    TooDeep(usize),
    #[error("licence-map proof ends at another licence's leaf that is not on this licence's path")]
    OffPath,
    #[error("licence-map proof does not lead to the checkpoint's map root")]
    RootMismatch,
}

/// Proves `key` in the map read through `source`.
pub fn prove(source: &(impl NodeSource + ?Sized), key: &MapKey) -> Result<MapProof, MapReadError> {
    let mut path = Path::ROOT;
    let mut siblings = Vec::new();
    loop {
        match source.node(&path)? {
            Node::Empty => return Ok(MapProof { siblings, end: ProofEnd::Empty }),
            Node::Leaf { key: k, head } if k == *key => return Ok(MapProof { siblings, end: ProofEnd::Head(head) }),
            Node::Leaf { key: k, head } => return Ok(MapProof { siblings, end: ProofEnd::Other { key: k, head } }),
            Node::Interior(_) => {
                if path.depth() >= KEY_BITS {
                    return Err(MapReadError::TooDeep);
                }
                let right = bit(key, path.depth());
                siblings.push(source.node(&path.child(!right))?.hash());
                path = path.child(right);
            }
        }
    }
}

/// Checks `proof` for `key` against `root`: `Some(head)` when the licence is in the map,
/// `None` when the proof shows it is not.
pub fn verify(root: &TreeHash, key: &MapKey, proof: &MapProof) -> Result<Option<Head>, MapError> {
    let depth = proof.siblings.len();
    if depth > KEY_BITS {
        return Err(MapError::TooDeep(depth));
    }
    let (mut hash, found) = match &proof.end {
        ProofEnd::Head(head) => (leaf_hash(key, head), Some(*head)),
        ProofEnd::Empty => (EMPTY_HASH, None),
        ProofEnd::Other { key: other, head } => {
            if other == key || (0..depth).any(|i| bit(other, i) != bit(key, i)) {
                return Err(MapError::OffPath);
            }
            (leaf_hash(other, head), None)
        }
    };
    for (i, sibling) in proof.siblings.iter().enumerate().rev() {
        hash = if bit(key, i) { node_hash(sibling, &hash) } else { node_hash(&hash, sibling) };
    }
    if hash != *root {
        return Err(MapError::RootMismatch);
    }
    Ok(found)
}

/// A map held in memory: for auditors recomputing a log's map, tests and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct MemoryMap {
    nodes: HashMap<Path, Node>,
    root: TreeHash,
    len: usize,
}

impl NodeSource for MemoryMap {
    fn node(&self, path: &Path) -> Result<Node, MapReadError> {
        Ok(self.nodes.get(path).copied().unwrap_or(Node::Empty))
    }
}

impl MemoryMap {
    /// Applies changes in log order.
    pub fn apply(&mut self, changes: &[(MapKey, Head)]) {
        let (root, writes) = update(self, changes).expect("an in-memory map reads every node");
        for (path, node) in writes {
            if matches!(node, Node::Leaf { .. }) && !matches!(self.nodes.get(&path), Some(Node::Leaf { .. })) {
                self.len += 1;
            }
            if let (Some(Node::Leaf { .. }), Node::Interior(_)) = (self.nodes.get(&path), &node) {
                // That leaf moved down: it is counted again where it lands.
                self.len -= 1;
            }
            self.nodes.insert(path, node);
        }
        self.root = root;
    }

    /// The root hash.
    pub fn root(&self) -> TreeHash {
        self.root
    }

    /// Number of licences.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no licence is in the map.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every licence with its head.
    pub fn leaves(&self) -> impl Iterator<Item = (MapKey, Head)> + '_ {
        self.nodes.values().filter_map(|n| match n {
            Node::Leaf { key, head } => Some((*key, *head)),
            _ => None,
        })
    }

    /// A proof for `key`.
    pub fn prove(&self, key: &MapKey) -> MapProof {
        prove(self, key).expect("an in-memory map reads every node")
    }
}

/// The root of the map holding exactly `leaves`, computed directly from the definition (for
/// tests: the stored, incremental map must always equal it).
pub fn root_of(leaves: &HashMap<MapKey, Head>) -> TreeHash {
    let mut sorted: Vec<(MapKey, Head)> = leaves.iter().map(|(k, h)| (*k, *h)).collect();
    sorted.sort_unstable_by_key(|(key, _)| *key);
    root_of_sorted(&sorted)
}

/// [`root_of`] for leaves already sorted by key, one per key: no copy of them is made (a
/// check of a log of a million licences holds them once).
pub fn root_of_sorted(leaves: &[(MapKey, Head)]) -> TreeHash {
    fn subtree(leaves: &[(MapKey, Head)], depth: usize) -> TreeHash {
        match leaves {
            [] => EMPTY_HASH,
            [(k, h)] => leaf_hash(k, h),
            _ => {
                let mid = leaves.partition_point(|(k, _)| !bit(k, depth));
                node_hash(&subtree(&leaves[..mid], depth + 1), &subtree(&leaves[mid..], depth + 1))
            }
        }
    }
    debug_assert!(leaves.windows(2).all(|w| w[0].0 < w[1].0), "leaves sorted by key, one per key");
    subtree(leaves, 0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn head(version: u64, tag: u8) -> Head {
        Head { version, id: [tag; 32] }
    }

    // Fixed vectors: any change to the map's bytes (key derivation, leaf or node hashing,
    // placement) changes these, and docs/licence-map.md must change with them.
    #[test]
    fn known_answer_vectors() {
        // The values were computed independently with the Python reference in docs/licence-map.md.
        let key = licence_key("de.bafa", "DE-2026-000123");
        assert_eq!(hex::encode(key), "b8af4566454d5a4ad258d7cf485cb71aaefc6b67721a985c5016b77cb3b6e535");
        let mut map = MemoryMap::default();
        map.apply(&[(key, head(1, 0x11)), (licence_key("de.bafa", "DE-2026-000124"), head(3, 0x22)), (licence_key("jp.meti", "JP-2026-0042"), head(2, 0x33))]);
        assert_eq!(hex::encode(map.root()), "90fd6d239b7603e74488e0563ef392bb66509814b6d32bbafbcd71e91d72837a");
    }

    #[test]
    fn empty_map_and_single_licence() {
        let mut map = MemoryMap::default();
        assert_eq!(map.root(), EMPTY_HASH);
        let key = licence_key("de.bafa", "DE-2026-000123");
        assert_eq!(verify(&EMPTY_HASH, &key, &map.prove(&key)), Ok(None));
        map.apply(&[(key, head(1, 7))]);
        assert_eq!(map.root(), leaf_hash(&key, &head(1, 7)));
        assert_eq!(verify(&map.root(), &key, &map.prove(&key)), Ok(Some(head(1, 7))));
    }

    #[test]
    fn a_proof_of_an_old_head_fails_against_the_new_root() {
        let mut map = MemoryMap::default();
        let keys: Vec<MapKey> = (0..50).map(|i| licence_key("jp.meti", &format!("JP-{i}"))).collect();
        map.apply(&keys.iter().map(|k| (*k, head(1, 1))).collect::<Vec<_>>());
        let old = map.prove(&keys[7]);
        map.apply(&[(keys[7], head(2, 2))]);
        assert_eq!(verify(&map.root(), &keys[7], &old), Err(MapError::RootMismatch));
        // Nor can the old leaf be passed off as the licence's absence.
        let MapProof { siblings, end: ProofEnd::Head(h) } = old else { panic!("membership") };
        let forged = MapProof { siblings, end: ProofEnd::Other { key: keys[7], head: h } };
        assert_eq!(verify(&map.root(), &keys[7], &forged), Err(MapError::OffPath));
    }

    proptest! {
        /// The incremental map equals the map computed from the definition after every batch;
        /// every licence's proof verifies with its head, absent licences' proofs verify as
        /// absent, and any changed sibling or head fails.
        #[test]
        fn incremental_map_matches_definition(batches in proptest::collection::vec(proptest::collection::vec((0u16..300, 1u64..5), 0..20), 1..8), absent in proptest::collection::vec(300u16..400, 1..5)) {
            let mut map = MemoryMap::default();
            let mut model: HashMap<MapKey, Head> = HashMap::new();
            for (b, batch) in batches.iter().enumerate() {
                let changes: Vec<(MapKey, Head)> = batch.iter().map(|(l, v)| (licence_key("de.bafa", &format!("L{l}")), head(*v, b as u8))).collect();
                map.apply(&changes);
                for (k, h) in &changes {
                    model.insert(*k, *h);
                }
                prop_assert_eq!(map.root(), root_of(&model));
                prop_assert_eq!(map.len(), model.len());
            }
            let root = map.root();
            for (k, h) in &model {
                let proof = map.prove(k);
                prop_assert_eq!(verify(&root, k, &proof), Ok(Some(*h)));
                let mut bad = proof.clone();
                bad.end = ProofEnd::Head(Head { version: h.version + 1, id: h.id });
                prop_assert!(verify(&root, k, &bad).is_err());
                if !proof.siblings.is_empty() {
                    let mut bad = proof.clone();
                    bad.siblings[0][0] ^= 1;
                    prop_assert!(verify(&root, k, &bad).is_err());
                }
            }
            for l in absent {
                let k = licence_key("de.bafa", &format!("L{l}"));
                prop_assert_eq!(verify(&root, &k, &map.prove(&k)), Ok(None));
            }
        }
    }

    #[test]
    fn nodes_round_trip_their_storage_form() {
        for node in [Node::Empty, Node::Interior([9; 32]), Node::Leaf { key: [1; 32], head: head(3, 4) }] {
            assert_eq!(Node::decode(&node.encode()), Some(node));
        }
        assert_eq!(Node::decode(&[1, 2]), None);
        let p = Path::ROOT.child(true).child(false).child(true);
        assert_eq!(p.prefix_bytes(), &[0b1010_0000]);
        assert_eq!(Path::from_parts(3, &[0b1010_0000]), Some(p));
        assert_eq!(Path::from_parts(3, &[0b1010_1000]), None);
    }
}
