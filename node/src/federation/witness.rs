//! Witnessing: this node cosigns its peers' checkpoints, and gathers its peers' cosignatures
//! on its own.
//!
//! A witness here is also a full mirror, so it cosigns only what it verified itself: the
//! checkpoint must be the latest one its mirror holds (every entry re-verified, the root
//! recomputed) and consistent with the last checkpoint of that log it cosigned. It records
//! what it cosigned durably before answering, in the store and next to the witness key
//! (`<witness key>.cosigned`), so neither a restart nor a deleted or cut store can make the
//! key cosign a conflicting view.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use comity_proto::log::{stored_checkpoint_fields, tree_root, LogVerifier, SignedCheckpoint, StoredHashes};
use comity_proto::pb::{self, federation_client::FederationClient};
use comity_proto::witness::{cosigners, WitnessKey, WitnessVerifier};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Mutex};
use tonic::transport::Channel;

use crate::config::PeerConfig;
use crate::error::Error;
use crate::log::{read_json, write_durably, LogOpenError};
use crate::writer::Registry;

/// How long a cosign request waits for this node's mirror to reach the checkpoint.
const MIRROR_WAIT: Duration = Duration::from_secs(5);
/// Deadline of one cosign request to a peer.
const COSIGN_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest cosign answer accepted from a peer.
const MAX_COSIGN_ANSWER: usize = 64 * 1024;

/// Cosigns checkpoints of the logs this node mirrors.
pub struct Witness {
    key: WitnessKey,
    registry: Registry,
    /// Log keys of the mirrored logs, by origin.
    logs: HashMap<String, LogVerifier>,
    /// What the key last cosigned per log, kept next to it; one cosignature at a time, so
    /// "the last one cosigned" is well defined.
    cosigned: Mutex<CosignedRecord>,
}

/// The last checkpoint a witness key cosigned of one log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cosigned {
    pub size: u64,
    /// Hex root hash.
    pub root: String,
}

/// Where the witness key's cosigned record lives: next to the key file.
pub fn last_cosigned_path(witness_key_path: &Path) -> PathBuf {
    let mut name = witness_key_path.as_os_str().to_owned();
    name.push(".cosigned");
    PathBuf::from(name)
}

/// The `.cosigned` file of a witness key (JSON, origin -> size and root), and what it holds.
#[derive(Debug)]
pub struct CosignedRecord {
    path: PathBuf,
    logs: BTreeMap<String, Cosigned>,
}

impl CosignedRecord {
    /// Reads the record next to the witness key at `witness_key_path` (none yet is fine).
    pub fn next_to_key(witness_key_path: &Path) -> Result<Self, LogOpenError> {
        let path = last_cosigned_path(witness_key_path);
        let logs = read_json(&path)?.unwrap_or_default();
        Ok(Self { path, logs })
    }

    /// What the key last cosigned of `origin`.
    pub fn last(&self, origin: &str) -> Option<&Cosigned> {
        self.logs.get(origin)
    }

    /// Why `asked` must not be cosigned, given what the key cosigned of its log before: a
    /// smaller checkpoint, another root at the same size, or a larger one whose tree (this
    /// node's verified mirror, `log`) does not extend the one cosigned.
    pub fn check(&self, asked: &SignedCheckpoint, log: &impl StoredHashes) -> Result<(), Error> {
        let Some(last) = self.logs.get(&asked.origin) else { return Ok(()) };
        let refuse = |why: &str| {
            Err(Error::FailedPrecondition(format!(
                "checkpoint of {} at size {} {why} the one this witness key last cosigned (size {}, root {}; recorded in {})",
                asked.origin,
                asked.size,
                last.size,
                last.root,
                self.path.display()
            )))
        };
        if asked.size < last.size {
            return refuse("is older than");
        }
        let root = if asked.size == last.size {
            asked.root
        } else {
            tree_root(last.size, log).map_err(|e| Error::damaged("the mirrored log cannot be checked", e))?
        };
        if hex::encode(root) != last.root {
            return refuse("is not consistent with");
        }
        Ok(())
    }

    /// Records `cp` durably as the last cosigned checkpoint of its log (never moving back).
    pub fn record(&mut self, cp: &SignedCheckpoint) -> std::io::Result<()> {
        let Some((logs, bytes)) = self.with(cp) else { return Ok(()) };
        write_durably(&self.path, &bytes)?;
        self.logs = logs;
        Ok(())
    }

    /// [`Self::record`] off the async runtime's threads (it waits for the disk).
    async fn record_async(&mut self, cp: &SignedCheckpoint) -> std::io::Result<()> {
        let Some((logs, bytes)) = self.with(cp) else { return Ok(()) };
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_durably(&path, &bytes)).await.map_err(std::io::Error::other)??;
        self.logs = logs;
        Ok(())
    }

    /// The record with `cp` in it and its file's bytes, or `None` when it holds a larger one.
    fn with(&self, cp: &SignedCheckpoint) -> Option<(BTreeMap<String, Cosigned>, Vec<u8>)> {
        if self.logs.get(&cp.origin).is_some_and(|last| last.size > cp.size) {
            return None;
        }
        let mut logs = self.logs.clone();
        logs.insert(cp.origin.clone(), Cosigned { size: cp.size, root: hex::encode(cp.root) });
        let bytes = serde_json::to_vec_pretty(&logs).expect("serialises");
        Some((logs, bytes))
    }
}

impl Witness {
    /// A witness with `key` (and its record of what it cosigned) for the logs of `peers`.
    pub fn new(key: WitnessKey, cosigned: CosignedRecord, registry: Registry, peers: &[PeerConfig]) -> Self {
        let logs = peers.iter().filter_map(|p| p.log_key.parse::<LogVerifier>().ok()).map(|v| (v.name().to_string(), v)).collect();
        Self { key, registry, logs, cosigned: Mutex::new(cosigned) }
    }

    /// The witness's public key.
    pub fn verifier(&self) -> WitnessVerifier {
        self.key.verifier()
    }

    /// A cosignature line for `note`, or why not.
    pub async fn cosign(&self, note: &str) -> Result<String, Error> {
        let origin = note.lines().next().unwrap_or_default();
        let verifier = self
            .logs
            .get(origin)
            .ok_or_else(|| Error::NotFound(format!("this node does not mirror log `{}`, so it cannot witness it", crate::input::shown(origin))))?;
        let asked = verifier.verify_checkpoint(note).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        comity_proto::log::check_not_future(&asked, self.registry.clock().now()).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let store = self.registry.store();
        let log = store.log(origin);
        if let Some(reason) = log.frozen()? {
            return Err(Error::FailedPrecondition(format!("log {origin} is frozen here ({reason}); nothing of it is cosigned")));
        }
        self.wait_for_mirror(origin, asked.size).await?;

        let mut cosigned = self.cosigned.lock().await;
        let held_note = log.checkpoint()?.ok_or_else(|| Error::Unavailable(format!("no checkpoint of {origin} held yet")))?;
        let held = verifier.verify_checkpoint(&held_note).map_err(|e| Error::Internal(format!("held checkpoint of {origin}: {e}")))?;
        if held.size > asked.size {
            return Err(Error::FailedPrecondition(format!(
                "this witness has verified a larger checkpoint of {origin} (size {}); it cosigns only its latest view",
                held.size
            )));
        }
        if held.root != asked.root {
            let reason = format!("two different roots for size {} (the second was sent to be cosigned)", held.size);
            let refusal = self.registry.split_view(origin, held_note, note.into(), reason).await?;
            return Err(Error::FailedPrecondition(refusal));
        }
        if let Some(last) = log.witnessed()? {
            let last = verifier.verify_checkpoint(&last).map_err(|e| Error::Internal(format!("last cosigned checkpoint of {origin}: {e}")))?;
            let prefix = tree_root(last.size, &log).map_err(|e| Error::Internal(e.to_string()))?;
            if last.size > asked.size || prefix != last.root {
                return Err(Error::FailedPrecondition(format!(
                    "checkpoint of {origin} at size {} is not consistent with the one this witness last cosigned (size {})",
                    asked.size, last.size
                )));
            }
        }
        // The record next to the key wins over the store's, which may have been deleted or cut.
        cosigned.check(&asked, &log)?;
        let line = self.key.cosign(note, self.registry.clock().now().max(0) as u64).map_err(|e| Error::Internal(e.to_string()))?;
        // Durable, in the store and next to the key, before it leaves this node.
        self.registry.add_cosignatures(origin, format!("{note}{line}"), true).await?;
        cosigned.record_async(&asked).await.map_err(|e| {
            // Where and why the record failed is this node's business: the log says it.
            tracing::error!(path = %cosigned.path.display(), error = %e, "cannot record the cosignature");
            Error::Unavailable("cannot record the cosignature; it is not given, ask again".into())
        })?;
        tracing::debug!(%origin, size = asked.size, "cosigned");
        Ok(line)
    }

    /// Waits until this node's mirror of `origin` holds a verified checkpoint of `size` entries
    /// or more (entries stored ahead of the checkpoint in a long catch-up do not count).
    async fn wait_for_mirror(&self, origin: &str, size: u64) -> Result<(), Error> {
        let deadline = Instant::now() + MIRROR_WAIT;
        // Subscribe before looking, so a commit in between is not missed.
        let mut committed = self.registry.subscribe();
        loop {
            let held = self.registry.store().log(origin).checkpoint()?;
            let have = held.as_deref().and_then(stored_checkpoint_fields).map_or(0, |(size, _, _)| size);
            if have >= size {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, committed.recv()).await {
                Err(_) => return Err(Error::Unavailable(format!("this witness has verified {have} entries of {origin}, not yet {size}; ask again shortly"))),
                Ok(Err(broadcast::error::RecvError::Closed)) => return Err(Error::Unavailable("node is shutting down".into())),
                Ok(_) => {}
            }
        }
    }
}

/// A peer that witnesses this node's log.
#[derive(Clone)]
struct PeerWitness {
    id: String,
    verifier: WitnessVerifier,
    client: FederationClient<Channel>,
}

/// Gathers cosignatures of the node's own log from the peers configured with a witness key:
/// after each new checkpoint, and again every `retry` while some witness has not cosigned
/// the latest one. One round at a time, always for the latest checkpoint, so a busy log
/// coalesces its checkpoints instead of queueing cosign requests.
#[allow(clippy::too_many_arguments)]
pub async fn gather_cosignatures(
    registry: Registry,
    origin: String,
    peers: Vec<(PeerConfig, WitnessVerifier)>,
    wanted: usize,
    retry: Duration,
    tls: Option<crate::net::tls::TlsConfig>,
    channels: crate::federation::mirror::PeerChannels,
    call_timeout: Duration,
) {
    // The same connection to each peer as its mirror paths use.
    // The same witnesses for this log every time, best ranked first.
    let mut witnesses: Vec<PeerWitness> = peers
        .into_iter()
        .filter_map(|(peer, verifier)| match channels.get(&peer, tls.as_ref(), call_timeout) {
            Ok(channel) => Some(PeerWitness { id: peer.id, verifier, client: FederationClient::new(channel).max_decoding_message_size(MAX_COSIGN_ANSWER) }),
            Err(e) => {
                tracing::error!(peer = %peer.id, error = %e, "cannot call this witness");
                None
            }
        })
        .collect();
    if witnesses.is_empty() {
        return;
    }
    witnesses.sort_by_key(|w| rendezvous_rank(&origin, w.verifier.name()));
    let wanted = if wanted == 0 { witnesses.len() } else { wanted.min(witnesses.len()) };
    // Witnesses that gave no cosignature in the last round: skipped while others can stand in.
    let mut failed: HashSet<String> = HashSet::new();
    let all: Vec<WitnessVerifier> = witnesses.iter().map(|w| w.verifier.clone()).collect();
    let mut committed = registry.subscribe();
    let mut last_round: Option<(String, Instant)> = None;
    loop {
        match tokio::time::timeout(retry, committed.recv()).await {
            Ok(Ok(c)) if c.origin != origin => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) => return,
            _ => {}
        }
        let note = match registry.store().log(&origin).checkpoint() {
            Ok(Some(note)) => note,
            _ => continue,
        };
        let have = cosigners(&note, &all);
        let still = wanted.saturating_sub(have.len());
        let unsigned: Vec<&PeerWitness> = witnesses.iter().filter(|w| !have.iter().any(|(name, _)| name == w.verifier.name())).collect();
        // The best ranked that did not just fail; the ones that failed when nobody else is left.
        let missing: Vec<PeerWitness> = unsigned
            .iter()
            .filter(|w| !failed.contains(w.verifier.name()))
            .chain(unsigned.iter().filter(|w| failed.contains(w.verifier.name())))
            .take(still)
            .map(|w| (*w).clone())
            .collect();
        let body = comity_proto::witness::note_body(&note).unwrap_or_default().to_string();
        let recent = last_round.as_ref().is_some_and(|(b, at)| *b == body && at.elapsed() < retry);
        if missing.is_empty() || recent {
            continue;
        }
        last_round = Some((body, Instant::now()));
        let mut asks = tokio::task::JoinSet::new();
        for w in missing {
            let request = pb::CosignRequest { checkpoint: note.clone() };
            asks.spawn(async move {
                let late = || tonic::Status::from(Error::DeadlineExceeded(format!("no answer within {COSIGN_TIMEOUT:?}")));
                let answer = tokio::time::timeout(COSIGN_TIMEOUT, w.client.clone().cosign(request)).await.unwrap_or_else(|_| Err(late()));
                (w, answer)
            });
        }
        let mut gathered = note.clone();
        while let Some(Ok((w, answer))) = asks.join_next().await {
            match answer {
                Ok(a) => {
                    let line = a.into_inner().cosignature;
                    let candidate = format!("{note}{line}");
                    if w.verifier.cosigned_at(&candidate).is_some() {
                        gathered.push_str(&line);
                        failed.remove(w.verifier.name());
                    } else {
                        tracing::warn!(peer = %w.id, "peer's cosignature does not verify with its witness key; dropped");
                        failed.insert(w.verifier.name().to_string());
                    }
                }
                Err(e) => {
                    tracing::debug!(peer = %w.id, error = %e.message(), "no cosignature this round");
                    failed.insert(w.verifier.name().to_string());
                }
            }
        }
        if gathered != note {
            if let Err(e) = registry.add_cosignatures(&origin, gathered, false).await {
                tracing::warn!(error = %e, "cannot store cosignatures");
            }
        }
    }
}

/// A witness's rank for log `origin` (lower asks first): SHA-256 of both names, so every
/// checkpoint of a log goes to the same witnesses and the logs spread over all of them.
fn rendezvous_rank(origin: &str, witness: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::new().chain_update(origin).chain_update([0]).chain_update(witness).finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use comity_proto::log::{LogKey, MemoryHashes};

    const ORIGIN: &str = "registry.peer.example/log";

    fn tree(leaves: &[u8]) -> MemoryHashes {
        let mut hashes = MemoryHashes::default();
        for leaf in leaves {
            hashes.append(&[*leaf; 32]);
        }
        hashes
    }

    fn checkpoint(hashes: &MemoryHashes, size: u64) -> SignedCheckpoint {
        let key = LogKey::from_seed(ORIGIN, &[3; 32]).unwrap();
        let note = key.sign_checkpoint(size, &tree_root(size, hashes).unwrap(), &comity_proto::licence_map::EMPTY_HASH, 1_700_000_000).unwrap();
        key.verifier().verify_checkpoint(&note).unwrap()
    }

    #[test]
    fn the_cosigned_record_next_to_the_key_refuses_what_contradicts_it() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("witness.key");
        let log = tree(&[1, 2, 3, 4, 5]);
        let mut record = CosignedRecord::next_to_key(&key_path).unwrap();
        assert_eq!(record.last(ORIGIN), None);
        record.check(&checkpoint(&log, 4), &log).unwrap();
        record.record(&checkpoint(&log, 4)).unwrap();

        // The store's record is gone (a deleted or cut store): the file alone still rules.
        let record = CosignedRecord::next_to_key(&key_path).unwrap();
        assert_eq!(record.last(ORIGIN), Some(&Cosigned { size: 4, root: hex::encode(tree_root(4, &log).unwrap()) }));
        let smaller = record.check(&checkpoint(&log, 3), &log).unwrap_err().to_string();
        assert!(smaller.contains("is older than the one this witness key last cosigned (size 4"), "{smaller}");
        let forked = tree(&[1, 2, 9, 4, 5]);
        let same_size = record.check(&checkpoint(&forked, 4), &forked).unwrap_err().to_string();
        assert!(same_size.contains("is not consistent with"), "{same_size}");
        let larger_forked = record.check(&checkpoint(&forked, 5), &forked).unwrap_err().to_string();
        assert!(larger_forked.contains("is not consistent with"), "{larger_forked}");
        record.check(&checkpoint(&log, 4), &log).expect("the same checkpoint again is fine");
        record.check(&checkpoint(&log, 5), &log).expect("an extension is fine");
    }

    #[test]
    fn the_cosigned_record_never_moves_back_and_keeps_other_logs() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("witness.key");
        let log = tree(&[1, 2, 3]);
        let mut record = CosignedRecord::next_to_key(&key_path).unwrap();
        record.record(&checkpoint(&log, 3)).unwrap();
        record.record(&checkpoint(&log, 2)).unwrap();
        let other_key = LogKey::from_seed("other.example/log", &[4; 32]).unwrap();
        let other = other_key
            .verifier()
            .verify_checkpoint(&other_key.sign_checkpoint(0, &comity_proto::log::EMPTY_ROOT, &comity_proto::licence_map::EMPTY_HASH, 1).unwrap())
            .unwrap();
        record.record(&other).unwrap();
        let text = std::fs::read_to_string(last_cosigned_path(&key_path)).unwrap();
        let logs: BTreeMap<String, Cosigned> = serde_json::from_str(&text).unwrap();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[ORIGIN].size, 3);
    }
}
