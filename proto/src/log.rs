//! The verifiable log, verifier side: RFC 9162 / RFC 6962 Merkle hashing, inclusion and
//! consistency proof checks, a Merkle frontier for auditors, and C2SP signed checkpoints.
//!
//! Built on `tlog_tiles` (hashing, proofs, checkpoint text) and `signed_note` (note format),
//! wrapped here so the rest of Comity never sees them. Note signatures are checked with
//! `verify_strict`, never the permissive `verify` of `signed_note`'s standard verifier.

use std::fmt;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use ed25519_dalek::{Signature as EdSignature, Signer as _, SigningKey, VerifyingKey};
use signed_note::{Note, VerifierList};
use tlog_tiles::{Checkpoint, Hash, HashReader};

/// Size of a Merkle hash.
pub const HASH_SIZE: usize = 32;
/// Merkle hash of a tree.
pub type TreeHash = [u8; HASH_SIZE];

/// Why a log proof, checkpoint or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("inclusion proof does not verify: {0}")]
    BadInclusionProof(String),
    #[error("consistency proof does not verify: {0}")]
    BadConsistencyProof(String),
    #[error("checkpoint is malformed: {0}")]
    MalformedCheckpoint(String),
    #[error("checkpoint signature does not verify with log key {0}")]
    BadCheckpointSignature(String),
    #[error("checkpoint is for origin `{got}`, expected `{expected}`")]
    WrongOrigin { expected: String, got: String },
    #[error("log key is malformed: {0}")]
    BadKey(String),
    #[error("checkpoint is dated {secs} s in the future, beyond the {MAX_FUTURE_SECS} s allowed for clock differences")]
    FromTheFuture { secs: i64 },
}

/// A stored hash that could not be read (missing or damaged), or a tree root or proof that
/// could not be computed from the stored hashes. The text says which hash and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HashReadError(pub String);

/// Why a log entry's bytes or a proof's hashes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("a log entry of {len} bytes is shorter than its 8-byte log time")]
    ShortEntry { len: usize },
    #[error("proof hash of {len} bytes")]
    ProofHashLength { len: usize },
    #[error(
        "it is dated {} but entered the log at {}, more than {} s earlier",
        crate::authoring::format_time(*dated),
        crate::authoring::format_time(*logged_at),
        CLOCK_ALLOWANCE_SECS
    )]
    DatedAfterLogTime { dated: i64, logged_at: i64 },
}

/// How far in the future a checkpoint may be dated (clocks differ between nodes). Beyond it a
/// checkpoint is refused: a future date would make a stale view look fresh.
pub const MAX_FUTURE_SECS: i64 = 600;

/// Refuses a checkpoint dated more than [`MAX_FUTURE_SECS`] after `now`.
pub fn check_not_future(checkpoint: &SignedCheckpoint, now: i64) -> Result<(), LogError> {
    let ahead = checkpoint.time.saturating_sub(now);
    if ahead > MAX_FUTURE_SECS {
        return Err(LogError::FromTheFuture { secs: ahead });
    }
    Ok(())
}

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> TreeHash {
    tlog_tiles::record_hash(entry).0
}

/// A Comity log entry's bytes: the time its origin integrated it (its log time, Unix seconds,
/// i64 big-endian) then the statement envelope. Binding the time into the leaf gives every copy
/// of the log (mirror, import, recovered node, token) the same provable time for the entry.
pub fn entry_bytes(logged_at: i64, envelope: &[u8]) -> Vec<u8> {
    [&logged_at.to_be_bytes()[..], envelope].concat()
}

/// Splits a log entry's bytes into its log time and envelope.
pub fn split_entry(entry: &[u8]) -> Result<(i64, &[u8]), EntryError> {
    match entry.split_first_chunk::<8>() {
        Some((time, envelope)) => Ok((i64::from_be_bytes(*time), envelope)),
        None => Err(EntryError::ShortEntry { len: entry.len() }),
    }
}

/// Leaf hash of the log entry for `envelope` integrated at `logged_at`:
/// SHA-256(0x00 ‖ logged_at ‖ envelope), without copying the envelope.
pub fn entry_leaf_hash(logged_at: i64, envelope: &[u8]) -> TreeHash {
    use sha2::{Digest, Sha256};
    Sha256::new().chain_update([0u8]).chain_update(logged_at.to_be_bytes()).chain_update(envelope).finalize().into()
}

/// How far a decision's own date may run ahead of its log time (clocks differ).
pub const CLOCK_ALLOWANCE_SECS: i64 = 600;

/// A statement dated `dated` (its `decided_at` / `issued_at`) cannot have entered the log at
/// `logged_at` if it is dated after it beyond the clock allowance: it was signed with a date
/// the log's time contradicts. Backdated history (dated long before its log time) is fine.
pub fn check_dated_by_log_time(dated: i64, logged_at: i64) -> Result<(), EntryError> {
    if dated.saturating_sub(logged_at) > CLOCK_ALLOWANCE_SECS {
        return Err(EntryError::DatedAfterLogTime { dated, logged_at });
    }
    Ok(())
}

/// RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &TreeHash, right: &TreeHash) -> TreeHash {
    tlog_tiles::node_hash(Hash(*left), Hash(*right)).0
}

/// Root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: TreeHash = tlog_tiles::EMPTY_HASH.0;

fn to_hashes(proof: &[TreeHash]) -> Vec<Hash> {
    proof.iter().map(|h| Hash(*h)).collect()
}

/// Checks that the leaf `leaf` is entry `index` of the tree of `tree_size` entries with root
/// `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(proof: &[TreeHash], tree_size: u64, root: &TreeHash, index: u64, leaf: &TreeHash) -> Result<(), LogError> {
    if index >= tree_size {
        return Err(LogError::BadInclusionProof(format!("index {index} is outside a tree of size {tree_size}")));
    }
    tlog_tiles::check_record(&to_hashes(proof), tree_size, Hash(*root), index, Hash(*leaf)).map_err(|e| LogError::BadInclusionProof(e.to_string()))
}

/// Checks that the tree of `old_size` entries with root `old_root` is a prefix of the tree of
/// `new_size` entries with root `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(proof: &[TreeHash], old_size: u64, old_root: &TreeHash, new_size: u64, new_root: &TreeHash) -> Result<(), LogError> {
    if old_size > new_size {
        return Err(LogError::BadConsistencyProof(format!("old size {old_size} is larger than new size {new_size}")));
    }
    tlog_tiles::check_tree(&to_hashes(proof), new_size, Hash(*new_root), old_size, Hash(*old_root)).map_err(|e| LogError::BadConsistencyProof(e.to_string()))
}

/// The right edge of a Merkle tree: the roots of its complete subtrees, largest first. An
/// auditor keeps this (O(log n) hashes) to extend a verified tree with new entries and
/// recompute its root without the old entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Complete subtree roots, one per set bit of `size`, from the highest bit down.
    peaks: Vec<TreeHash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier from its parts, checking that the number of peaks fits the size.
    pub fn from_parts(size: u64, peaks: Vec<TreeHash>) -> Option<Self> {
        (peaks.len() == size.count_ones() as usize).then_some(Self { size, peaks })
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The peaks, largest subtree first.
    pub fn peaks(&self) -> &[TreeHash] {
        &self.peaks
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: TreeHash) {
        let mut hash = leaf;
        // Each trailing one bit of the old size is a same-sized subtree to merge with.
        let mut size = self.size;
        while size & 1 == 1 {
            let left = self.peaks.pop().expect("a peak per set bit");
            hash = node_hash(&left, &hash);
            size >>= 1;
        }
        self.peaks.push(hash);
        self.size += 1;
    }

    /// The tree's root (RFC 6962 MTH).
    pub fn root(&self) -> TreeHash {
        let mut peaks = self.peaks.iter().rev();
        match peaks.next() {
            None => EMPTY_ROOT,
            Some(first) => peaks.fold(*first, |acc, left| node_hash(left, &acc)),
        }
    }
}

/// A log's ed25519 note key: name (the log's origin) and key.
#[derive(Clone)]
pub struct LogKey {
    name: String,
    id: u32,
    key: SigningKey,
}

/// Algorithm byte of ed25519 note keys (C2SP signed-note).
const ALG_ED25519: u8 = 1;

fn note_key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut encoded = vec![ALG_ED25519];
    encoded.extend_from_slice(key.as_bytes());
    signed_note::key_id(name, &encoded)
}

impl LogKey {
    /// A log key named `name` (the origin) from a 32-byte seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, LogError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(LogError::BadKey(format!("`{name}` is not a valid note key name (no spaces or '+')")));
        }
        let key = SigningKey::from_bytes(seed);
        Ok(Self { name: name.into(), id: note_key_id(name, &key.verifying_key()), key })
    }

    /// The public half.
    pub fn verifier(&self) -> LogVerifier {
        LogVerifier { name: self.name.clone(), id: self.id, key: self.key.verifying_key() }
    }

    /// Signs a checkpoint of `size` entries with `root` for `origin`, stamped with `time`
    /// (Unix seconds) and committing to the root of the log's licence-state map at that size
    /// (`map_root`), each in an extension line. Returns the signed note text.
    pub fn sign_checkpoint(&self, size: u64, root: &TreeHash, map_root: &TreeHash, time: i64) -> Result<String, LogError> {
        let extension = format!("{TIME_EXTENSION}{time}\n{MAP_EXTENSION}{}\n", BASE64_STANDARD.encode(map_root));
        let checkpoint = Checkpoint::new(&self.name, size, Hash(*root), &extension).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
        let mut note = Note::new(&checkpoint.to_bytes(), &[]).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
        note.add_sigs(&[self]).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))
    }
}

impl signed_note::Signer for LogKey {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// Extension line carrying the checkpoint's signing time.
const TIME_EXTENSION: &str = "time ";
/// Extension line carrying the root of the log's licence-state map (`crate::licence_map`).
const MAP_EXTENSION: &str = "licence-map ";

/// (time, map root) from a checkpoint's extension lines.
fn extension_fields(extension: &str) -> Result<(i64, TreeHash), LogError> {
    let line = |prefix: &str| extension.lines().find_map(|l| l.strip_prefix(prefix));
    let time = line(TIME_EXTENSION).and_then(|t| t.parse().ok()).ok_or_else(|| LogError::MalformedCheckpoint("no `time` extension line".into()))?;
    let map_root = line(MAP_EXTENSION)
        .and_then(|m| BASE64_STANDARD.decode(m).ok())
        .and_then(|m| TreeHash::try_from(m).ok())
        .ok_or_else(|| LogError::MalformedCheckpoint("no `licence-map` extension line with a 32-byte base64 root".into()))?;
    Ok((time, map_root))
}

/// A log's public note key, in the C2SP verifier-key form `name+hexid+base64(0x01‖key)`.
#[derive(Clone, PartialEq, Eq)]
pub struct LogVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for LogVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for LogVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&signed_note::new_ed25519_verifier_key(&self.name, &self.key))
    }
}

impl std::str::FromStr for LogVerifier {
    type Err = LogError;

    /// Parses a verifier key, refusing weak (small-order) keys.
    fn from_str(text: &str) -> Result<Self, LogError> {
        let (name, id, key) = parse_vkey(text, ALG_ED25519, "an ed25519 note key", note_key_id)?;
        Ok(Self { name, id, key })
    }
}

/// Parses a C2SP vkey `name+hexid+base64(alg‖key)` of algorithm `alg` with an Ed25519 key,
/// refusing weak (small-order) keys and a key ID other than `key_id(name, key)`.
pub(crate) fn parse_vkey(text: &str, alg: u8, kind: &str, key_id: fn(&str, &VerifyingKey) -> u32) -> Result<(String, u32, VerifyingKey), LogError> {
    let bad = |m: &str| LogError::BadKey(format!("`{text}`: {m}"));
    let (name, rest) = text.split_once('+').ok_or_else(|| bad("expected name+id+key"))?;
    let (id_hex, key_b64) = rest.split_once('+').ok_or_else(|| bad("expected name+id+key"))?;
    if !signed_note::is_key_name_valid(name) || id_hex.len() != 8 {
        return Err(bad("bad name or id"));
    }
    let id = u32::from_str_radix(id_hex, 16).map_err(|_| bad("id is not hex"))?;
    let raw = BASE64_STANDARD.decode(key_b64).map_err(|_| bad("key is not base64"))?;
    let (found, key) = raw.split_first().ok_or_else(|| bad("empty key"))?;
    if *found != alg {
        return Err(bad(&format!("not {kind} (algorithm byte {alg:#04x})")));
    }
    let key: [u8; 32] = key.try_into().map_err(|_| bad("ed25519 key must be 32 bytes"))?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| bad("not a valid ed25519 point"))?;
    if key.is_weak() {
        return Err(bad("weak (small-order) key refused"));
    }
    if key_id(name, &key) != id {
        return Err(bad("key id does not match the key"));
    }
    Ok((name.into(), id, key))
}

impl signed_note::Verifier for LogVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        EdSignature::from_slice(sig).is_ok_and(|sig| self.key.verify_strict(msg, &sig).is_ok())
    }
}

impl LogVerifier {
    /// The key name, which is the log's origin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Parses a signed checkpoint note and checks its signature by this key. Other signatures
    /// (witness cosignatures) are kept but not checked here.
    pub fn verify_checkpoint(&self, note_text: &str) -> Result<SignedCheckpoint, LogError> {
        let note = Note::from_bytes(note_text.as_bytes()).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
        let verifiers = VerifierList::new(vec![Box::new(self.clone())]);
        note.verify(&verifiers).map_err(|_| LogError::BadCheckpointSignature(self.to_string()))?;
        let checkpoint = Checkpoint::from_bytes(note.text()).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
        if checkpoint.origin() != self.name {
            return Err(LogError::WrongOrigin { expected: self.name.clone(), got: checkpoint.origin().into() });
        }
        let (time, map_root) = extension_fields(checkpoint.extension())?;
        Ok(SignedCheckpoint { origin: checkpoint.origin().into(), size: checkpoint.size(), root: checkpoint.hash().0, map_root, time, note: note_text.into() })
    }
}

/// (size, root, time) of a checkpoint note, WITHOUT checking any signature: only for notes
/// that were verified before they were stored.
pub fn stored_checkpoint_fields(note: &str) -> Option<(u64, TreeHash, i64)> {
    let (body, _) = note.rsplit_once("\n\n")?;
    let checkpoint = Checkpoint::from_bytes(format!("{body}\n").as_bytes()).ok()?;
    let (time, _) = extension_fields(checkpoint.extension()).ok()?;
    Some((checkpoint.size(), checkpoint.hash().0, time))
}

/// The licence-state map root of a checkpoint note, WITHOUT checking any signature: only for
/// notes that were verified before they were stored.
pub fn stored_map_root(note: &str) -> Option<TreeHash> {
    let (body, _) = note.rsplit_once("\n\n")?;
    let checkpoint = Checkpoint::from_bytes(format!("{body}\n").as_bytes()).ok()?;
    extension_fields(checkpoint.extension()).ok().map(|(_, map_root)| map_root)
}

/// A checkpoint whose signature by the log key has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub origin: String,
    pub size: u64,
    pub root: TreeHash,
    /// Root of the log's licence-state map at `size` (`crate::licence_map`).
    pub map_root: TreeHash,
    /// Unix seconds when the log signed it.
    pub time: i64,
    /// The signed note text.
    pub note: String,
}

/// Checks a publish receipt for `envelope`: the checkpoint is signed by `verifier`'s key, the
/// leaf hash is that of the envelope at the receipt's log time, that time is not after the
/// checkpoint's, and the inclusion proof leads to the checkpoint's root.
pub fn verify_receipt(receipt: &crate::pb::Receipt, envelope: &[u8], verifier: &LogVerifier) -> Result<SignedCheckpoint, LogError> {
    verify_receipt_at(receipt, envelope, verifier.verify_checkpoint(&receipt.checkpoint)?)
}

/// [`verify_receipt`] with its checkpoint already verified (`checkpoint`, from the receipt's
/// note): a proof whose statements share a checkpoint verifies its signature once.
pub fn verify_receipt_at(receipt: &crate::pb::Receipt, envelope: &[u8], checkpoint: SignedCheckpoint) -> Result<SignedCheckpoint, LogError> {
    let leaf = entry_leaf_hash(receipt.logged_at, envelope);
    if receipt.leaf_hash.as_ref() != leaf.as_slice() {
        return Err(LogError::BadInclusionProof("receipt's leaf hash is not the hash of the envelope at its log time".into()));
    }
    if receipt.logged_at > checkpoint.time {
        return Err(LogError::BadInclusionProof(format!(
            "receipt's log time {} is after its checkpoint's time {}",
            crate::authoring::format_time(receipt.logged_at),
            crate::authoring::format_time(checkpoint.time)
        )));
    }
    if receipt.origin != checkpoint.origin {
        return Err(LogError::WrongOrigin { expected: checkpoint.origin, got: receipt.origin.clone() });
    }
    let proof = proof_hashes(&receipt.inclusion_proof).map_err(|e| LogError::BadInclusionProof(e.to_string()))?;
    verify_inclusion(&proof, checkpoint.size, &checkpoint.root, receipt.index, &leaf)?;
    Ok(checkpoint)
}

/// Proof hashes for the wire: one buffer, each hash a slice of it.
pub fn wire_proof(hashes: &[TreeHash]) -> Vec<prost::bytes::Bytes> {
    let all = prost::bytes::Bytes::from(hashes.concat());
    (0..hashes.len()).map(|i| all.slice(i * HASH_SIZE..(i + 1) * HASH_SIZE)).collect()
}

/// Converts wire proof hashes, refusing any that is not 32 bytes.
pub fn proof_hashes(raw: &[impl AsRef<[u8]>]) -> Result<Vec<TreeHash>, EntryError> {
    raw.iter().map(|h| h.as_ref().try_into().map_err(|_| EntryError::ProofHashLength { len: h.as_ref().len() })).collect()
}

/// Reads stored hashes by their `tlog` stored-hash index (see [`stored_hash_index`]).
pub trait StoredHashes {
    /// The hashes at `indexes`, in the same order; an error if any is missing.
    fn read(&self, indexes: &[u64]) -> Result<Vec<TreeHash>, HashReadError>;
}

/// Index under which the hash of the complete subtree at `level` and position `n` is stored.
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    tlog_tiles::stored_hash_index(level, n)
}

/// Stored hashes below this many entries per append; the log needs no other writes.
pub fn stored_hash_count(entries: u64) -> u64 {
    tlog_tiles::stored_hash_count(entries)
}

struct Reader<'a, S: StoredHashes + ?Sized>(&'a S);

impl<S: StoredHashes + ?Sized> HashReader for Reader<'_, S> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let hashes = self.0.read(indexes).map_err(|e| tlog_tiles::Error::InvalidInput(e.0))?;
        if hashes.len() != indexes.len() {
            return Err(tlog_tiles::Error::InvalidInput("stored hash reader returned the wrong count".into()));
        }
        Ok(hashes.into_iter().map(Hash).collect())
    }
}

/// The hashes to store when appending entry number `index` with leaf hash `leaf`: the leaf
/// and every complete subtree it closes (O(log n), 2 on average), as (stored index, hash).
pub fn hashes_to_store(index: u64, leaf: &TreeHash, store: &(impl StoredHashes + ?Sized)) -> Result<Vec<(u64, TreeHash)>, HashReadError> {
    let hashes = tlog_tiles::stored_hashes_for_record_hash(index, Hash(*leaf), &Reader(store)).map_err(|e| HashReadError(e.to_string()))?;
    let first = stored_hash_index(0, index);
    Ok(hashes.into_iter().enumerate().map(|(i, h)| (first + i as u64, h.0)).collect())
}

/// Root of the tree of `size` entries, from at most 1 + log2(size) stored hashes.
pub fn tree_root(size: u64, store: &(impl StoredHashes + ?Sized)) -> Result<TreeHash, HashReadError> {
    tlog_tiles::tree_hash(size, &Reader(store)).map(|h| h.0).map_err(|e| HashReadError(e.to_string()))
}

/// Inclusion proof of entry `index` in the tree of `size` entries.
pub fn prove_inclusion(size: u64, index: u64, store: &(impl StoredHashes + ?Sized)) -> Result<Vec<TreeHash>, HashReadError> {
    tlog_tiles::prove_record(size, index, &Reader(store)).map(|p| p.into_iter().map(|h| h.0).collect()).map_err(|e| HashReadError(e.to_string()))
}

/// Consistency proof from the tree of `old_size` entries to the tree of `new_size` entries.
pub fn prove_consistency(old_size: u64, new_size: u64, store: &(impl StoredHashes + ?Sized)) -> Result<Vec<TreeHash>, HashReadError> {
    tlog_tiles::prove_tree(new_size, old_size, &Reader(store)).map(|p| p.into_iter().map(|h| h.0).collect()).map_err(|e| HashReadError(e.to_string()))
}

/// Stored hashes in memory: for tests, benchmarks and offline tools.
#[derive(Debug, Clone, Default)]
pub struct MemoryHashes {
    hashes: std::collections::HashMap<u64, TreeHash>,
    size: u64,
}

impl MemoryHashes {
    /// Appends an entry's leaf hash.
    pub fn append(&mut self, leaf: &TreeHash) {
        let new = hashes_to_store(self.size, leaf, self).expect("in-memory hashes are complete");
        self.hashes.extend(new);
        self.size += 1;
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl StoredHashes for MemoryHashes {
    fn read(&self, indexes: &[u64]) -> Result<Vec<TreeHash>, HashReadError> {
        indexes.iter().map(|i| self.hashes.get(i).copied().ok_or_else(|| HashReadError(format!("stored hash {i} missing")))).collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn h(hex_text: &str) -> TreeHash {
        hex::decode(hex_text).unwrap().try_into().unwrap()
    }

    // Test vectors from google/certificate-transparency, python/ct/crypto/merkle_test.py
    // (TreeHasherTest.test_vector_leaves / test_vector_hashes, MerkleVerifierTest.sha256_proofs
    // and the sha256_audit_path inclusion proof of a real CT log entry), the same vectors the
    // C++ and Go implementations (Trillian, transparency-dev/merkle) use.
    const LEAVES: [&str; 8] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn vector_tree(n: usize) -> (MemoryHashes, Frontier) {
        let mut stored = MemoryHashes::default();
        let mut frontier = Frontier::new();
        for leaf in &LEAVES[..n] {
            let lh = leaf_hash(&hex::decode(leaf).unwrap());
            stored.append(&lh);
            frontier.push(lh);
        }
        (stored, frontier)
    }

    #[test]
    fn known_answer_roots() {
        assert_eq!(Frontier::new().root(), h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        for n in 1..=8 {
            let (stored, frontier) = vector_tree(n);
            assert_eq!(tree_root(n as u64, &stored).unwrap(), h(ROOTS[n - 1]), "stored-hash root of size {n}");
            assert_eq!(frontier.root(), h(ROOTS[n - 1]), "frontier root of size {n}");
        }
    }

    #[test]
    fn known_answer_consistency_proofs() {
        let (stored, _) = vector_tree(8);
        let cases: [(u64, u64, &[&str]); 3] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (2, 5, &["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
        ];
        for (old, new, expected) in cases {
            let expected: Vec<TreeHash> = expected.iter().map(|x| h(x)).collect();
            assert_eq!(prove_consistency(old, new, &stored).unwrap(), expected, "{old} -> {new}");
            let (old_root, new_root) = (h(ROOTS[old as usize - 1]), h(ROOTS[new as usize - 1]));
            verify_consistency(&expected, old, &old_root, new, &new_root).unwrap();
            // The published bad cases: a flipped bit in either root, a shortened proof.
            let mut flipped = new_root;
            flipped[31] ^= 1;
            assert!(verify_consistency(&expected, old, &old_root, new, &flipped).is_err());
            assert!(verify_consistency(&expected[..expected.len() - 1], old, &old_root, new, &new_root).is_err());
        }
    }

    #[test]
    fn known_answer_inclusion_proof_from_a_real_ct_log() {
        let path: Vec<TreeHash> = [
            "1a208aeebcd1b39fe2de247ee8db9454e1e93a312d206b87f6ca9cc6ec6f1ddd",
            "0a1b78b383f580856f433c01a5741e160d451c185910027f6cc9f828687a40c4",
            "3d1745789bc63f2da15850de1c12a5bf46ed81e1cc90f086148b1662e79aab3d",
            "9095b61e14d8990acf390905621e62b1714fb8e399fbb71de5510e0aef45affe",
            "0a332b91b8fab564e6afd1dd452449e04619b18accc0ff9aa8393cd4928451f2",
            "2336f0181d264aed6d8f3a6507ca14a8d3b3c3a23791ac263e845d208c1ee330",
            "b4ce56e300590500360c146c6452edbede25d4ed83919278749ee5dbe178e048",
            "933f6ddc848ea562e4f9c5cfb5f176941301dad0c6fdb9d1fbbe34fac1be6966",
            "b95a6222958a86f74c030be27c44f57dbe313e5e7c7f4ffb98bcbd3a03bb52f2",
            "daeeb3ce5923defd0faeb8e0c210b753b85b809445d7d3d3cd537a9aabaa9c45",
            "7fadd0a13e9138a2aa6c3fdec4e2275af233b94812784f66bcca9aa8e989f2bc",
            "1864e6ba3e32878610546539734fb5eeae2529991f130c575c73a7e25a2a7c56",
            "12842d1202b1dc6828a17ab253c02e7ce9409b5192430feba44189f39cc02d66",
            "29af64b16fa3053c13d02ac63aa75b23aa468506e44c3a2315edc85d2dc22b11",
            "b527b99934a0bd9edd154e449b0502e2c499bba783f3bc3dfe23364b6b532009",
            "4584db8ae8e351ace08e01f306378a92bfd43611714814f3d834a2842d69faa8",
            "86a9a41573b0d6e4292f01e93243d6cc65b30f06606fc6fa57390e7e90ed580f",
            "a88b98fbe84d4c6aae8db9d1605dfac059d9f03fe0fcb0d5dff1295dacba09e6",
            "06326dc617a6d1f7021dc536026dbfd5fffc6f7c5531d48ef6ccd1ed1569f2a1",
            "f41fe8fdc3a2e4e8345e30216e7ebecffee26ff266eeced208a6c2a3cf08f960",
            "40cf5bde8abb76983f3e98ba97aa36240402975674e120f234b3448911090f8d",
            "b3222dc8658538079883d980d7fdc2bef9285344ea34338968f736b04aeb387a",
        ]
        .iter()
        .map(|x| h(x))
        .collect();
        let leaf = h("7a395c866d5ecdb0cccb623e011dbc392cd348d1d1d72776174e127a24b09c78");
        let root = h("78316a05c9bcf14a3a4548f5b854a9adfcd46a4c034401b3ce7eb7ac2f1d0ecb");
        verify_inclusion(&path, 3_630_887, &root, 848_049, &leaf).unwrap();
        assert!(verify_inclusion(&path, 3_630_887, &root, 848_050, &leaf).is_err());
        assert!(verify_inclusion(&path[..21], 3_630_887, &root, 848_049, &leaf).is_err());
    }

    #[test]
    fn checkpoint_signs_and_verifies_and_refuses_tampering() {
        let key = LogKey::from_seed("registry.bafa.example/log", &[3; 32]).unwrap();
        let verifier: LogVerifier = key.verifier().to_string().parse().unwrap();
        let note = key.sign_checkpoint(8, &h(ROOTS[7]), &[0xAB; 32], 1_793_196_000).unwrap();
        assert!(
            note.starts_with("registry.bafa.example/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\ntime 1793196000\nlicence-map q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n\n— registry.bafa.example/log "),
            "{note}"
        );
        let cp = verifier.verify_checkpoint(&note).unwrap();
        assert_eq!((cp.size, cp.root, cp.map_root, cp.time), (8, h(ROOTS[7]), [0xAB; 32], 1_793_196_000));
        assert_eq!(stored_map_root(&note), Some([0xAB; 32]));

        let tampered = note.replacen("\n8\n", "\n9\n", 1);
        assert!(matches!(verifier.verify_checkpoint(&tampered), Err(LogError::BadCheckpointSignature(_))));
        let other = LogKey::from_seed("registry.bafa.example/log", &[4; 32]).unwrap();
        assert!(other.verifier().verify_checkpoint(&note).is_err());
        let elsewhere = LogKey::from_seed("registry.meti.example/log", &[3; 32]).unwrap();
        assert!(elsewhere.verifier().verify_checkpoint(&note).is_err());
        assert!("registry.bafa.example/log+00000000+AQ==".parse::<LogVerifier>().is_err());
    }

    #[test]
    fn weak_note_keys_are_refused() {
        let mut raw = vec![ALG_ED25519, 1];
        raw.extend([0u8; 31]);
        let name = "weak.example/log";
        let text = format!("{name}+{:08x}+{}", signed_note::key_id(name, &raw), BASE64_STANDARD.encode(&raw));
        let err = text.parse::<LogVerifier>().unwrap_err();
        assert!(err.to_string().contains("weak"), "{err}");
    }

    proptest! {
        /// For random tree sizes, every inclusion and consistency proof verifies and any single
        /// change to a proof hash, the index or a size makes it fail. (A changed size is checked
        /// against the root of a tree of that size: the same path can fit two sizes, but never
        /// two roots.)
        #[test]
        fn proofs_verify_and_any_alteration_fails(size in 1u64..150, picks in proptest::collection::vec(any::<u64>(), 4)) {
            let mut stored = MemoryHashes::default();
            let mut frontier = Frontier::new();
            let leaves: Vec<TreeHash> = (0..=size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let mut roots = vec![EMPTY_ROOT];
            for l in &leaves {
                frontier.push(*l);
                roots.push(frontier.root());
            }
            for l in &leaves[..size as usize] {
                stored.append(l);
            }
            prop_assert_eq!(tree_root(size, &stored).unwrap(), roots[size as usize]);
            let root = roots[size as usize];

            let index = picks[0] % size;
            let proof = prove_inclusion(size, index, &stored).unwrap();
            prop_assert!(verify_inclusion(&proof, size, &root, index, &leaves[index as usize]).is_ok());
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][(picks[1] % 32) as usize] ^= 1;
                prop_assert!(verify_inclusion(&bad, size, &root, index, &leaves[index as usize]).is_err());
            }
            if size > 1 {
                let other = (index + 1 + picks[2] % (size - 1)) % size;
                prop_assert!(verify_inclusion(&proof, size, &root, other, &leaves[index as usize]).is_err());
            }
            prop_assert!(verify_inclusion(&proof, size + 1, &roots[size as usize + 1], index, &leaves[index as usize]).is_err());
            if index + 1 < size {
                prop_assert!(verify_inclusion(&proof, size - 1, &roots[size as usize - 1], index, &leaves[index as usize]).is_err());
            }

            let old = 1 + picks[3] % size;
            let proof = prove_consistency(old, size, &stored).unwrap();
            prop_assert!(verify_consistency(&proof, old, &roots[old as usize], size, &root).is_ok());
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][0] ^= 0x80;
                prop_assert!(verify_consistency(&bad, old, &roots[old as usize], size, &root).is_err());
            }
            if old < size {
                prop_assert!(verify_consistency(&proof, old + 1, &roots[old as usize + 1], size, &root).is_err());
            }
            prop_assert!(verify_consistency(&proof, old, &roots[old as usize], size + 1, &roots[size as usize + 1]).is_err());
        }
    }
}
