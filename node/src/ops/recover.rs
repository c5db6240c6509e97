//! Recovering a node whose own store is damaged: its log is mirrored, verified, by its peers,
//! so it can fetch its own history back from one of them. The damaged store is kept aside;
//! a fresh store re-logs every entry in the same order through the normal checks, which gives
//! the same tree, and the result must equal the root the node itself signed.

use std::time::Duration;

use anyhow::Context;
use comity_proto::log::SignedCheckpoint;
use comity_proto::pb::{self, log_client::LogClient};

use crate::config::Config;
use crate::log::{load_or_create_key, verified_latest, NodeLog, SignedRecord};
use crate::now;
use crate::store::Store;
use crate::trust::Trust;
use crate::writer::Registry;

/// Entries asked for per call.
const PER_CALL: u64 = 10_000;

/// What a recovery did.
#[derive(Debug)]
pub struct Recovered {
    pub entries: u64,
    /// Where the damaged store was moved.
    pub damaged_store: std::path::PathBuf,
}

/// Fetches this node's own log from the peer at `peer_url` (which mirrors it), checks the
/// peer's checkpoint against this node's log key, moves the damaged store aside and re-logs
/// every entry into a fresh one. The node must be stopped.
pub async fn recover_own_log(config: &Config, peer_url: &str, peer_tls_name: &str) -> anyhow::Result<Recovered> {
    let key = load_or_create_key(&config.log_key_path(), &config.origin)?;
    let verifier = key.verifier();
    let endpoint = crate::net::tls::peer_endpoint(peer_url, config.tls.as_ref(), peer_tls_name)?
        .timeout(config.limits.request_timeout())
        .connect_timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.with_context(|| format!("connect to {peer_url}"))?;
    let mut peer = LogClient::new(channel).max_decoding_message_size(16 * 1024 * 1024);
    let served =
        peer.get_checkpoint(pb::GetCheckpointRequest { origin: config.origin.clone() }).await.context("the peer's checkpoint of this node's log")?.into_inner();
    let checkpoint: SignedCheckpoint =
        verifier.verify_checkpoint(&served.checkpoint).context("the peer's copy of this node's checkpoint does not verify with this node's log key")?;
    // A peer that lags behind what the key signed cannot give the history back: re-logging
    // its copy would leave the node to sign on from a smaller size, a second history.
    let signed = SignedRecord::next_to_key(&config.log_key_path())?;
    if let Some(last) = signed.last() {
        anyhow::ensure!(
            checkpoint.size >= last.size,
            "{peer_url} holds only {} entries of {} (time {}), but this node's log key last signed size {} (root {}, time {}; recorded in {}). \
             Nothing was changed. Recover from a peer that holds at least {} entries; if none does, this log cannot go on: start a new origin with a new log key",
            checkpoint.size,
            config.origin,
            comity_proto::authoring::format_time(checkpoint.time),
            last.size,
            last.root,
            comity_proto::authoring::format_time(last.time),
            signed.path().display(),
            last.size
        );
    }

    let store_dir = config.store_dir();
    let damaged = config.data_dir.join(format!("store.damaged-{}", now()));
    if store_dir.exists() {
        std::fs::rename(&store_dir, &damaged).with_context(|| format!("move {} aside", store_dir.display()))?;
    }
    // A new store: of the configured engine, as the node would create it.
    let store = Store::open_with(&store_dir, config.store_engine, config.limits.store_cache_bytes)?;
    let log = NodeLog::open_to_rebuild(&store, key, signed, now())?;
    let trust = std::sync::Arc::new(Trust::load(config, config.trust_roots()?, &store)?);
    let registry = Registry::start(store.clone(), config, log, Vec::new(), trust, crate::Clock::system());

    let bar = crate::ops::transfer::progress(checkpoint.size, "recovering", "entries");
    let mut next = 0;
    while next < checkpoint.size {
        let end = checkpoint.size.min(next + PER_CALL);
        let request = pb::GetEntriesRequest { start: next, end, origin: config.origin.clone() };
        let mut stream = peer.get_entries(request).await.with_context(|| format!("entries {next}..{end}"))?.into_inner();
        while let Some(message) = stream.message().await? {
            for entry in message.entries {
                anyhow::ensure!(entry.index == next, "the peer sent entry {} where {next} was due", entry.index);
                let published = registry.restore(entry.envelope, None, entry.logged_at).await.with_context(|| format!("re-logging entry {next}"))?;
                anyhow::ensure!(published.receipt.index == next, "entry {next} was re-logged at {}", published.receipt.index);
                next += 1;
                bar.set_position(next);
            }
        }
        anyhow::ensure!(next == end, "the peer's stream ended at {next}, not {end}");
    }
    bar.finish_and_clear();
    // Same entries in the same order: the same tree, or the peer served something else.
    let rebuilt = comity_proto::log::tree_root(checkpoint.size, &store.log(&config.origin)).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(rebuilt == checkpoint.root, "the rebuilt log does not match the checkpoint this node signed at size {}", checkpoint.size);
    registry.close();
    // The rebuilt log must hold what the key last signed; only then does the record move on.
    let mut signed = SignedRecord::next_to_key(&config.log_key_path())?;
    let held = verified_latest(&store, &verifier)?;
    signed.check(&config.origin, held.as_ref(), &store.log(&config.origin))?;
    if let Some(cp) = &held {
        signed.record(cp).with_context(|| format!("record the last signed checkpoint in {}", signed.path().display()))?;
    }
    Ok(Recovered { entries: checkpoint.size, damaged_store: damaged })
}

/// What a restore checked and copied.
#[derive(Debug)]
pub struct Restored {
    pub statements: u64,
    pub log_size: u64,
}

/// Restores a backup (from `comity-node backup`) into this node's empty data dir, after checking
/// it: the node's own log root against its signed checkpoint, each mirrored log's root against
/// its checkpoint, every statement's hash and signatures. The node must be stopped.
pub fn restore_backup(config: &Config, from: &std::path::Path) -> anyhow::Result<Restored> {
    let target = config.store_dir();
    anyhow::ensure!(!target.exists(), "{} exists: restore only into a data dir without a store (move it aside first)", target.display());
    anyhow::ensure!(
        config.log_key_path().exists(),
        "the node's log key {} is missing: restore it with the data dir's other files",
        config.log_key_path().display()
    );
    let backup = Store::open(from).with_context(|| format!("open the backup {}", from.display()))?;
    anyhow::ensure!(backup.own_log_origin()?.as_deref() == Some(config.origin.as_str()), "the backup is not of log {}", config.origin);
    let key = load_or_create_key(&config.log_key_path(), &config.origin)?;
    // The root recomputed from the stored hashes must equal the signed one, and the backup must
    // hold what the key last signed (an older backup would make it sign a second history).
    let latest = verified_latest(&backup, &key.verifier()).context("the backup's own log")?;
    SignedRecord::next_to_key(&config.log_key_path())?.check(&config.origin, latest.as_ref(), &backup.log(&config.origin)).context("the backup's own log")?;
    for peer in &config.peers {
        let verifier: comity_proto::log::LogVerifier = peer.log_key.parse().map_err(|e| anyhow::anyhow!("peer {}: {e}", peer.id))?;
        let held = backup.log(verifier.name());
        if let Some(note) = held.checkpoint()? {
            let checkpoint = verifier.verify_checkpoint(&note).with_context(|| format!("the backup's checkpoint of {}", verifier.name()))?;
            let root = comity_proto::log::tree_root(checkpoint.size, &held).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                root == checkpoint.root || held.size()? != checkpoint.size,
                "the backup's copy of {} does not hash to its signed root",
                verifier.name()
            );
        }
    }
    let trust = Trust::load(config, config.trust_roots()?, &backup)?;
    let bar = crate::ops::transfer::progress(backup.statement_count() as u64, "checking", "statements");
    let mut statements = 0;
    for record in backup.statements() {
        bar.set_position(statements);
        let (id, bytes) = record?;
        anyhow::ensure!(comity_proto::statement::StatementId::of(&bytes) == id, "statement {id} in the backup does not hash to its id");
        let envelope = comity_proto::statement::Envelope::parse(bytes).with_context(|| format!("statement {id}"))?;
        let authority = match envelope.statement() {
            pb::statement::Kind::Decision(d) => comity_proto::usage::signing_authority(d).to_string(),
            pb::statement::Kind::RestrictedDecision(r) => r.authority.clone(),
            pb::statement::Kind::Agreement(a) => a.relying_authority.clone(),
            pb::statement::Kind::ControlList(l) => l.authority.clone(),
            pb::statement::Kind::Crosswalk(c) => c.authority.clone(),
            pb::statement::Kind::ScreeningList(l) => l.authority.clone(),
            pb::statement::Kind::ConsultationRequest(r) => r.authority.clone(),
            pb::statement::Kind::ConsultationAnswer(a) => a.authority.clone(),
            pb::statement::Kind::EndUseCheck(c) => c.authority.clone(),
            pb::statement::Kind::ClassificationRuling(r) => r.authority.clone(),
            pb::statement::Kind::KeySet(_) => {
                trust.check_key_set(&envelope, None).with_context(|| format!("key set {id}"))?;
                statements += 1;
                continue;
            }
        };
        let keys = trust.candidate_keys(&authority);
        envelope.verify_with(&keys).with_context(|| format!("statement {id} of {authority}"))?;
        statements += 1;
    }
    bar.finish_and_clear();
    let log_size = latest.map_or(0, |cp| cp.size);
    let copying = crate::ops::transfer::spinner(&format!("copying the backup into {}", target.display()));
    // The node's new store is of the configured engine (a sled backup restores into fjall by default).
    backup.copy_to_with(&target, config.store_engine)?;
    copying.finish_and_clear();
    Ok(Restored { statements, log_size })
}

/// Asks the node running with `config` (on this machine) to write a snapshot to `dir`.
pub async fn request_backup(config: &Config, dir: &std::path::Path) -> anyhow::Result<pb::BackupResponse> {
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    let own_name = config.origin.split('/').next().unwrap_or_default().to_string();
    let endpoint = crate::net::tls::peer_endpoint(&format!("{scheme}://{addr}"), config.tls.as_ref(), &own_name)?.connect_timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.with_context(|| format!("connect to the node at {addr}"))?;
    let mut federation = pb::federation_client::FederationClient::new(channel);
    let request = pb::BackupRequest { directory: dir.to_string_lossy().into_owned() };
    let waiting = crate::ops::transfer::spinner(&format!("the node is writing its snapshot to {}", dir.display()));
    let answer = federation.backup(request).await.context("the node refused the backup");
    waiting.finish_and_clear();
    Ok(answer?.into_inner())
}
