//! Log monitoring: check that a node's log only ever grew, and that every new entry is a
//! validly signed statement, against the state kept from the previous run.
//!
//! The state holds the last verified checkpoint and the tree's frontier (O(log n) hashes), so a
//! run fetches only the new entries and still recomputes the full root. It also holds the key
//! sets in force in the log, so a decision signed with a key that an earlier run's key set
//! introduced is checked against it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use comity_proto::authoring::format_time;
use comity_proto::checked::CheckedStatement;
use comity_proto::licence_map::{self, Head, MemoryMap};
use comity_proto::log::{check_dated_by_log_time, entry_leaf_hash, verify_consistency, Frontier, LogError, LogVerifier, SignedCheckpoint, TreeHash};
use comity_proto::statement::{verify_batch, Envelope, KeyRing};
use comity_proto::trust::{check_key_set, verify_key_set, KeySetView, Roots, TrustFile, TrustedAuthority};
use comity_proto::witness::{cosigners, WitnessVerifier};
use ed25519_dalek::VerifyingKey;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::{Client, ClientError};

/// What a monitor remembers between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditState {
    pub origin: String,
    /// The pinned log key.
    pub verifier_key: String,
    pub size: u64,
    /// Hex root of the last verified checkpoint.
    pub root: String,
    /// Hex peaks of the tree's frontier at `size`.
    pub frontier: Vec<String>,
    /// The last verified checkpoint note.
    pub checkpoint: String,
    /// Hex envelopes of the key sets in force in the log at `size`, one per authority.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_sets: Vec<String>,
    /// The log's licence-state map at `size`: one hex `key ‖ version (u64 BE) ‖ head id` per
    /// licence (the map's root depends only on these, so the next run rebuilds it from them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licences: Vec<String>,
    /// Log time of the last entry checked (log times never fall; the next run goes on from it).
    #[serde(default = "no_log_time")]
    pub last_logged_at: i64,
}

fn no_log_time() -> i64 {
    i64::MIN
}

impl AuditState {
    /// Reads a state file; `None` when it does not exist yet.
    pub fn load(path: &Path) -> Result<Option<Self>, ClientError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| ClientError::Document(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ClientError::Document(format!("{}: {e}", path.display()))),
        }
    }

    /// Writes the state file atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_string_pretty(self).expect("state serialises");
        std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| ClientError::Document(format!("write {}: {e}", path.display())))
    }

    fn licence_map(&self) -> Result<MemoryMap, ClientError> {
        let bad = || ClientError::Document("state file: a licence must be 144 hex digits (key, version, head id)".into());
        let mut heads = Vec::with_capacity(self.licences.len());
        for text in &self.licences {
            let bytes = hex::decode(text).map_err(|_| bad())?;
            let (key, rest) = bytes.split_first_chunk::<32>().ok_or_else(bad)?;
            let (version, id) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
            heads.push((*key, Head { version: u64::from_be_bytes(*version), id: id.try_into().map_err(|_| bad())? }));
        }
        let mut map = MemoryMap::default();
        map.apply(&heads);
        Ok(map)
    }

    fn frontier(&self) -> Result<Frontier, ClientError> {
        let peaks: Vec<TreeHash> = self
            .frontier
            .iter()
            .map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| ClientError::Document("state file: frontier hashes must be 64 hex digits".into()))?;
        Frontier::from_parts(self.size, peaks).ok_or_else(|| ClientError::Document("state file: frontier does not fit its size".into()))
    }
}

/// The keys statements are checked with, read from TOML files with `[[authority]]` tables:
/// root keys and threshold (a trust file), which check the key sets in the log, and signing
/// keys (`keys`, as a node's `comity.toml` lists them) for authorities that sign without one.
/// Other fields and tables are ignored, so a node's config and a trust file both work as they are.
/// A trust file's `witnesses` and `witness_quorum` make the audit require that many witness
/// cosignatures on a checkpoint consistent with the one audited.
#[derive(Debug, Clone, Default)]
pub struct AuthorityKeys {
    roots: HashMap<String, Roots>,
    configured: HashMap<String, Vec<VerifyingKey>>,
    witnesses: Vec<WitnessVerifier>,
    witness_quorum: usize,
}

#[derive(Deserialize)]
struct KeysFile {
    #[serde(default)]
    authority: Vec<KeysEntry>,
    #[serde(default)]
    witnesses: Vec<String>,
    #[serde(default)]
    witness_quorum: usize,
}

#[derive(Deserialize)]
struct KeysEntry {
    id: String,
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    root_keys: Vec<String>,
    #[serde(default)]
    threshold: usize,
}

impl AuthorityKeys {
    /// Reads the `[[authority]]` tables of TOML files; an authority may appear in several
    /// (its signing keys in a node's config, its root keys in a trust file), not twice in one.
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Self, ClientError> {
        let mut out = Self::default();
        for path in paths {
            let path = path.as_ref();
            let bad = |m: String| ClientError::Document(format!("{}: {m}", path.display()));
            let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
            let file: KeysFile = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
            // A node's config may list an authority it hosts by key set only: nothing to read.
            let authorities = file
                .authority
                .into_iter()
                .filter(|a| !(a.keys.is_empty() && a.root_keys.is_empty() && a.threshold == 0))
                .map(|a| TrustedAuthority { id: a.id, keys: a.keys, root_keys: a.root_keys, threshold: a.threshold, ..Default::default() })
                .collect();
            let file = TrustFile { authorities, witnesses: file.witnesses, witness_quorum: file.witness_quorum, screening_lists: Vec::new() };
            let (witnesses, quorum) = file.witness_verifiers().map_err(|e| bad(e.to_string()))?;
            out.witnesses.extend(witnesses);
            out.witness_quorum = out.witness_quorum.max(quorum);
            out.roots.extend(file.roots().map_err(|e| bad(e.to_string()))?);
            for (id, keys) in file.configured_keys().map_err(|e| bad(e.to_string()))? {
                out.configured.entry(id).or_default().extend(keys);
            }
        }
        Ok(out)
    }

    /// The keys of `authority`, whose customs write off in the audited log: its key set as the
    /// node serves it, checked against its pinned roots; `None` when its roots are not pinned.
    async fn reporter_ring(&self, client: &mut Client, authority: &str) -> Result<Option<Arc<KeyRing>>, String> {
        if !self.roots.contains_key(authority) {
            return Ok(None);
        }
        let envelope = client.key_set(authority).await.map_err(|e| format!("key set of {authority}, whose customs write off here: {e}"))?;
        let set = comity_proto::trust::check_key_set(&envelope, &self.roots, None).map_err(|e| format!("key set of {authority}: {e}"))?;
        Ok(Some(Arc::new(KeyRing::new(set.keys.iter().map(|k| k.key)))))
    }

    /// Witness cosignatures a checkpoint must carry (0: none).
    pub fn witness_quorum(&self) -> usize {
        self.witness_quorum
    }

    /// Checks one statement of the log, in log order: a key set against its authority's roots
    /// (and the key set in force, which it must supersede); anything else must be well formed,
    /// and its signatures are to be checked against the keys returned: those of its authority's
    /// key set in force, or its configured keys when it has none. `rings` keeps each
    /// authority's keys; the caller drops an authority's when a key set of it comes into force.
    fn check(&self, envelope: &Envelope, key_sets: &KeySets, rings: &mut HashMap<String, Arc<KeyRing>>) -> Result<Checked, String> {
        let statement = CheckedStatement::try_from(envelope).map_err(|e| e.to_string())?;
        let dated = statement.dated();
        let write_off = matches!(&statement, CheckedStatement::Decision(d) if d.action() == comity_proto::pb::Action::WriteOff);
        let authority = match statement {
            CheckedStatement::KeySet(set) => {
                let current = key_sets.get(set.authority()).map(|(set, _)| set);
                return verify_key_set(envelope, set, &self.roots, current).map(Checked::KeySet).map_err(|e| e.to_string());
            }
            other => other.authority().to_string(),
        };
        if let Some(ring) = rings.get(&authority) {
            return Ok(Checked::SignedBy(ring.clone(), dated));
        }
        // A partner's customs signs write-offs in the issuer's log with keys its own authority's
        // key set delegates, which is logged in that authority's log: the caller fetches it.
        if write_off && !key_sets.contains_key(&authority) && !self.configured.contains_key(&authority) {
            return Ok(Checked::Reporter(authority, dated));
        }
        let ring = Arc::new(match key_sets.get(&authority) {
            Some((set, _)) => KeyRing::new(set.keys.iter().map(|k| k.key)),
            None => KeyRing::new(
                self.configured
                    .get(&authority)
                    .cloned()
                    .ok_or_else(|| format!("authority `{authority}` has no key set in the log and no keys in the keys files"))?,
            ),
        });
        rings.insert(authority, ring.clone());
        Ok(Checked::SignedBy(ring, dated))
    }
}

/// A statement of the log after [`AuthorityKeys::check`].
enum Checked {
    /// A key set, verified, now in force.
    KeySet(KeySetView),
    /// A statement to be verified with one of these keys, and the date its signer wrote on it.
    SignedBy(Arc<KeyRing>, Option<i64>),
    /// A write-off signed by the customs of an authority whose key set is in another log.
    Reporter(String, Option<i64>),
}

/// The key sets in force in a log, by authority, with their envelopes.
type KeySets = HashMap<String, (KeySetView, Vec<u8>)>;

/// The log misbehaved (or was tampered with): what a monitor exists to catch.
#[derive(Debug, thiserror::Error)]
pub enum AuditFailure {
    #[error("checkpoint: {0}")]
    Checkpoint(LogError),
    #[error("the node now serves origin `{now}`, but the pinned log is `{pinned}`")]
    OriginChanged { pinned: String, now: String },
    #[error("log shrank from {old} to {new} entries: its history was rewritten")]
    Shrank { old: u64, new: u64 },
    #[error("fork: two signed checkpoints for size {size} with different roots (seen {seen}, now {now})")]
    Fork { size: u64, seen: String, now: String },
    #[error("log is not consistent with the checkpoint seen before (size {old}): it rewrote or forked its history: {reason}")]
    Inconsistent { old: u64, reason: LogError },
    #[error("entry {index}: {reason}")]
    BadEntry { index: u64, reason: String },
    #[error("entries {from}..{to} do not hash to the signed root: the served entries are not the logged ones")]
    RootMismatch { from: u64, to: u64 },
    #[error(
        "the licence-state map recomputed from entries 0..{size} has root {computed}, but the checkpoint signs {signed}: the log misstates its licences' heads"
    )]
    MapRootMismatch { size: u64, computed: String, signed: String },
    #[error("witness quorum not met: {0}")]
    Unwitnessed(String),
}

/// Why an audit did not complete.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    // Not a `source`: the message already holds it, and error chains would print it twice.
    #[error("AUDIT FAILED: {0}")]
    Failed(AuditFailure),
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl From<AuditFailure> for AuditError {
    fn from(failure: AuditFailure) -> Self {
        AuditError::Failed(failure)
    }
}

/// What a successful audit saw.
#[derive(Debug, Clone)]
pub struct AuditReport {
    pub origin: String,
    pub old_size: u64,
    pub checkpoint: SignedCheckpoint,
    /// The log key came from the node itself (first run without `--log-key`).
    pub key_from_node: bool,
    /// Licences in the recomputed licence-state map.
    pub licences: usize,
    /// The witnessed checkpoint checked (size, cosigners), when the keys name witnesses.
    pub witnessed: Option<(u64, Vec<String>)>,
}

/// Audits the node behind `client` against `state` (the previous run's, if any). The log key is
/// the state's, else `pinned`, else (first run) the node's own, reported as such.
pub async fn audit(
    client: &mut Client,
    state: Option<&AuditState>,
    pinned: Option<&LogVerifier>,
    keys: &AuthorityKeys,
) -> Result<(AuditReport, AuditState), AuditError> {
    audit_with_progress(client, state, pinned, keys, &ProgressBar::hidden()).await
}

/// [`audit`], counting the new entries checked on `progress` (its length is set to their number).
pub async fn audit_with_progress(
    client: &mut Client,
    state: Option<&AuditState>,
    pinned: Option<&LogVerifier>,
    keys: &AuthorityKeys,
    progress: &ProgressBar,
) -> Result<(AuditReport, AuditState), AuditError> {
    let served = client.checkpoint().await?;
    let (verifier, key_from_node) = match (state, pinned) {
        (Some(s), _) => (s.verifier_key.parse::<LogVerifier>().map_err(|e| ClientError::Document(format!("state file: {e}")))?, false),
        (None, Some(p)) => (p.clone(), false),
        (None, None) => (served.verifier_key.parse::<LogVerifier>().map_err(AuditFailure::Checkpoint)?, true),
    };
    if let (Some(s), Some(p)) = (state, pinned) {
        if s.verifier_key != p.to_string() {
            return Err(ClientError::Document(format!("--log-key differs from the key pinned in the state file ({})", s.verifier_key)).into());
        }
    }
    let checkpoint = verifier.verify_checkpoint(&served.checkpoint).map_err(AuditFailure::Checkpoint)?;

    let mut key_sets = KeySets::new();
    for hex_envelope in state.map(|s| s.key_sets.as_slice()).unwrap_or_default() {
        let bad = |m: String| ClientError::Document(format!("state file: key set: {m}"));
        let envelope = hex::decode(hex_envelope).map_err(|e| bad(e.to_string())).and_then(|b| Envelope::parse(b).map_err(|e| bad(e.to_string())))?;
        let set = check_key_set(&envelope, &keys.roots, None).map_err(|e| bad(e.to_string()))?;
        key_sets.insert(set.authority.clone(), (set, envelope.into_bytes()));
    }
    let mut licence_map = match state {
        Some(s) => s.licence_map()?,
        None => MemoryMap::default(),
    };
    let (old_size, mut frontier) = match state {
        None => (0, Frontier::new()),
        Some(s) => {
            if s.origin != checkpoint.origin {
                return Err(AuditFailure::OriginChanged { pinned: s.origin.clone(), now: checkpoint.origin }.into());
            }
            let old_root = hex::encode(s.frontier()?.root());
            if old_root != s.root {
                return Err(ClientError::Document("state file: frontier does not match its root".into()).into());
            }
            if checkpoint.size < s.size {
                return Err(AuditFailure::Shrank { old: s.size, new: checkpoint.size }.into());
            }
            if checkpoint.size == s.size && hex::encode(checkpoint.root) != s.root {
                return Err(AuditFailure::Fork { size: s.size, seen: s.root.clone(), now: hex::encode(checkpoint.root) }.into());
            }
            if checkpoint.size > s.size && s.size > 0 {
                let old_root: TreeHash = s.frontier()?.root();
                let proof = client.consistency_proof(s.size, checkpoint.size).await?;
                verify_consistency(&proof, s.size, &old_root, checkpoint.size, &checkpoint.root)
                    .map_err(|reason| AuditFailure::Inconsistent { old: s.size, reason })?;
            }
            (s.size, s.frontier()?)
        }
    };

    // Log times never fall: from the last entry an earlier run checked.
    let mut last_logged_at = state.map_or(i64::MIN, |s| s.last_logged_at);
    if checkpoint.size > old_size {
        // Page by page, so memory stays bounded however long the log is.
        const PAGE: u64 = 10_000;
        // Each authority's keys, made again when a key set of it comes into force.
        let mut rings: HashMap<String, Arc<KeyRing>> = HashMap::new();
        // The keys of authorities whose customs write off in this log, from their key sets
        // (checked against their pinned roots); `None`: not pinned here.
        let mut reporters: HashMap<String, Option<Arc<KeyRing>>> = HashMap::new();
        let mut next = old_size;
        progress.set_length(checkpoint.size - old_size);
        while next < checkpoint.size {
            let upto = checkpoint.size.min(next + PAGE);
            // In log order: parse, check each key set, note the keys each other statement may be
            // signed with; then verify the page's signatures together (exact batch verification),
            // up to the first entry that failed.
            let mut envelopes = Vec::with_capacity((upto - next) as usize);
            let mut signed: Vec<(usize, Arc<KeyRing>)> = Vec::new();
            let mut failed = None;
            for entry in client.entries(next, upto).await? {
                let bad = |reason: String| AuditFailure::BadEntry { index: entry.index, reason };
                let checked = Envelope::parse(entry.envelope).map_err(|e| e.to_string()).and_then(|e| Ok((keys.check(&e, &key_sets, &mut rings)?, e)));
                let (envelope, dated) = match checked {
                    Ok((Checked::KeySet(set), envelope)) => {
                        rings.remove(&set.authority);
                        key_sets.insert(set.authority.clone(), (set, envelope.bytes().to_vec()));
                        (envelope, None)
                    }
                    Ok((Checked::SignedBy(ring, dated), envelope)) => {
                        signed.push((envelopes.len(), ring));
                        (envelope, dated)
                    }
                    Ok((Checked::Reporter(authority, dated), envelope)) => {
                        if !reporters.contains_key(&authority) {
                            let ring = keys.reporter_ring(client, &authority).await.map_err(&bad)?;
                            reporters.insert(authority.clone(), ring);
                        }
                        // Not pinned here: it counts as the issuer's log holds it (it can only
                        // draw a balance down), as a relying party takes it.
                        if let Some(ring) = reporters[&authority].clone() {
                            signed.push((envelopes.len(), ring));
                        }
                        (envelope, dated)
                    }
                    Err(reason) => {
                        failed = Some(bad(reason));
                        break;
                    }
                };
                // Log times never fall and never pass the checkpoint; a decision is never dated
                // after its log time (beyond the clock allowance).
                if entry.logged_at < last_logged_at || entry.logged_at > checkpoint.time {
                    failed = Some(bad(format!(
                        "log time {} is before the previous entry's or after the checkpoint's ({})",
                        format_time(entry.logged_at),
                        format_time(checkpoint.time)
                    )));
                    break;
                }
                last_logged_at = entry.logged_at;
                if let Some(dated) = dated {
                    if let Err(e) = check_dated_by_log_time(dated, entry.logged_at) {
                        failed = Some(bad(e.to_string()));
                        break;
                    }
                }
                frontier.push(entry_leaf_hash(entry.logged_at, envelope.bytes()));
                envelopes.push((entry.index, envelope));
                progress.inc(1);
            }
            licence_map.apply(&envelopes.iter().filter_map(|(_, e)| licence_map::change_of(e)).collect::<Vec<_>>());
            let refs: Vec<&Envelope> = signed.iter().map(|(at, _)| &envelopes[*at].1).collect();
            let lookup = |n: usize, id: &str| signed[n].1.get(id);
            verify_batch(&refs, lookup).map_err(|(n, e)| AuditFailure::BadEntry { index: envelopes[signed[n].0].0, reason: e.to_string() })?;
            if let Some(failure) = failed {
                return Err(failure.into());
            }
            next = upto;
        }
    }
    if frontier.root() != checkpoint.root {
        return Err(AuditFailure::RootMismatch { from: old_size, to: checkpoint.size }.into());
    }
    if licence_map.root() != checkpoint.map_root {
        return Err(AuditFailure::MapRootMismatch {
            size: checkpoint.size,
            computed: hex::encode(licence_map.root()),
            signed: hex::encode(checkpoint.map_root),
        }
        .into());
    }
    let witnessed =
        if keys.witness_quorum > 0 { Some(check_witnessed(client, &verifier, &served.cosigned_checkpoint, &checkpoint, keys).await?) } else { None };
    let new_state = AuditState {
        origin: checkpoint.origin.clone(),
        verifier_key: verifier.to_string(),
        size: checkpoint.size,
        root: hex::encode(checkpoint.root),
        frontier: frontier.peaks().iter().map(hex::encode).collect(),
        checkpoint: checkpoint.note.clone(),
        key_sets: {
            let mut sets: Vec<(String, Vec<u8>)> = key_sets.into_iter().map(|(id, (_, envelope))| (id, envelope)).collect();
            sets.sort();
            sets.iter().map(|(_, envelope)| hex::encode(envelope)).collect()
        },
        licences: {
            let mut heads: Vec<String> = licence_map.leaves().map(|(k, h)| hex::encode([&k[..], &h.version.to_be_bytes(), &h.id].concat())).collect();
            heads.sort();
            heads
        },
        last_logged_at,
    };
    let licences = licence_map.len();
    Ok((AuditReport { origin: checkpoint.origin.clone(), old_size, checkpoint, key_from_node, licences, witnessed }, new_state))
}

/// Checks that the node's cosigned checkpoint carries the witness quorum and is consistent with
/// the audited one (the same tree, or a prefix of it). Returns its size and cosigners.
async fn check_witnessed(
    client: &mut Client,
    verifier: &LogVerifier,
    note: &str,
    audited: &SignedCheckpoint,
    keys: &AuthorityKeys,
) -> Result<(u64, Vec<String>), AuditError> {
    let unwitnessed = |m: String| AuditError::Failed(AuditFailure::Unwitnessed(m));
    if note.is_empty() {
        return Err(unwitnessed(format!("the node holds no cosigned checkpoint of {}; {} cosignature(s) required", audited.origin, keys.witness_quorum)));
    }
    let cosigned = verifier.verify_checkpoint(note).map_err(AuditFailure::Checkpoint)?;
    let names: Vec<String> = cosigners(note, &keys.witnesses).into_iter().map(|(name, _)| name).collect();
    if names.len() < keys.witness_quorum {
        return Err(unwitnessed(format!(
            "the cosigned checkpoint of size {} carries {} of the {} required cosignatures",
            cosigned.size,
            names.len(),
            keys.witness_quorum
        )));
    }
    if cosigned.size > audited.size {
        return Err(unwitnessed(format!(
            "the cosigned checkpoint (size {}) is newer than the one audited (size {}); audit again",
            cosigned.size, audited.size
        )));
    }
    if cosigned.size == audited.size {
        if cosigned.root != audited.root {
            return Err(AuditFailure::Fork { size: cosigned.size, seen: hex::encode(cosigned.root), now: hex::encode(audited.root) }.into());
        }
    } else if cosigned.size > 0 {
        let proof = client.consistency_proof(cosigned.size, audited.size).await?;
        verify_consistency(&proof, cosigned.size, &cosigned.root, audited.size, &audited.root)
            .map_err(|reason| AuditFailure::Inconsistent { old: cosigned.size, reason })?;
    }
    Ok((cosigned.size, names))
}
