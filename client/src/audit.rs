//! Log monitoring: check that a node's log only ever grew, and that every new entry is a
//! validly signed statement, against the state kept from the previous run.
//!
//! The state holds the last verified checkpoint and the tree's frontier (O(log n) hashes), so a
//! run fetches only the new entries and still recomputes the full root.

use std::collections::HashMap;
use std::path::Path;

use comity_proto::decision::CheckedDecision;
use comity_proto::keyfile::parse_public_key;
use comity_proto::log::{leaf_hash, verify_consistency, Frontier, LogError, LogVerifier, SignedCheckpoint, TreeHash};
use comity_proto::statement::Envelope;
use ed25519_dalek::VerifyingKey;
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
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| ClientError::Document(format!("write {}: {e}", path.display())))
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

/// Authority signing keys, read from a TOML file with `[[authority]]` tables (`id`, `keys`):
/// a node's `comity.toml` works as it is.
#[derive(Debug, Clone, Default)]
pub struct AuthorityKeys {
    keys: HashMap<String, Vec<VerifyingKey>>,
}

#[derive(Deserialize)]
struct KeysFile {
    #[serde(default)]
    authority: Vec<KeysEntry>,
}

#[derive(Deserialize)]
struct KeysEntry {
    id: String,
    keys: Vec<String>,
}

impl AuthorityKeys {
    /// Reads the `[[authority]]` tables of a TOML file, ignoring everything else in it.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let bad = |m: String| ClientError::Document(format!("{}: {m}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let file: KeysFile = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let mut keys = HashMap::new();
        for entry in file.authority {
            let parsed: Vec<VerifyingKey> = entry.keys.iter().map(|k| parse_public_key(k)).collect::<Result<_, _>>().map_err(bad)?;
            keys.insert(entry.id, parsed);
        }
        Ok(Self { keys })
    }

    fn verify(&self, envelope: &Envelope, authority: &str) -> Result<(), String> {
        let keys = self.keys.get(authority).ok_or_else(|| format!("authority `{authority}` is not in the keys file"))?;
        envelope
            .verify_with(keys)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

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
}

/// Why an audit did not complete.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("AUDIT FAILED: {0}")]
    Failed(#[from] AuditFailure),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// What a successful audit saw.
#[derive(Debug, Clone)]
pub struct AuditReport {
    pub origin: String,
    pub old_size: u64,
    pub checkpoint: SignedCheckpoint,
    /// The log key came from the node itself (first run without `--log-key`).
    pub key_from_node: bool,
}

/// Audits the node behind `client` against `state` (the previous run's, if any). The log key is
/// the state's, else `pinned`, else (first run) the node's own, reported as such.
pub async fn audit(
    client: &mut Client,
    state: Option<&AuditState>,
    pinned: Option<&LogVerifier>,
    keys: &AuthorityKeys,
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

    if checkpoint.size > old_size {
        for entry in client.entries(old_size, checkpoint.size).await? {
            check_entry(&entry, keys).map_err(|reason| AuditFailure::BadEntry { index: entry.index, reason })?;
            frontier.push(leaf_hash(&entry.envelope));
        }
    }
    if frontier.root() != checkpoint.root {
        return Err(AuditFailure::RootMismatch { from: old_size, to: checkpoint.size }.into());
    }
    let new_state = AuditState {
        origin: checkpoint.origin.clone(),
        verifier_key: verifier.to_string(),
        size: checkpoint.size,
        root: hex::encode(checkpoint.root),
        frontier: frontier.peaks().iter().map(hex::encode).collect(),
        checkpoint: checkpoint.note.clone(),
    };
    Ok((AuditReport { origin: checkpoint.origin.clone(), old_size, checkpoint, key_from_node }, new_state))
}

/// An entry must be a well-formed envelope of a well-formed decision, signed by its authority.
fn check_entry(entry: &comity_proto::pb::LogEntry, keys: &AuthorityKeys) -> Result<(), String> {
    let envelope = Envelope::parse(entry.envelope.clone()).map_err(|e| e.to_string())?;
    let decision = envelope.decision().cloned().ok_or("not a decision (other statement kinds are not logged yet)")?;
    let checked = CheckedDecision::try_from(decision).map_err(|e| format!("invalid decision: {e}"))?;
    keys.verify(&envelope, &checked.decision().authority)
}
