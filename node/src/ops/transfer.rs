//! Moving whole logs as files. `comity-node export` reads a log (a node's own, or one it
//! mirrors) from a running node up to its latest signed checkpoint into one portable file
//! ([`crate::log::logfile`]); `comity-node import` loads such a file into a stopped node as its
//! mirror of that peer's log, which then catches up the rest from the live peer.
//!
//! An import trusts nothing in the file. First it reads the whole file without writing
//! anything: the checkpoint must be signed by the log key pinned for its origin in `[[peer]]`,
//! every length must be in bounds, the root recomputed from all entries must equal the
//! checkpoint's, and the file must agree with the entries of that log already held here. Then
//! the new entries take a mirror catch-up's path into the store, with the mirror's own checks
//! ([`crate::federation::mirror::verify_entries`], then the writer: key standing, licence rules, the root
//! again), in parts of `limits.mirror_entries_per_part`, each proven a prefix of the checkpoint.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use comity_proto::log::{
    entry_leaf_hash, prove_consistency, stored_checkpoint_fields, tree_root, Frontier, LogVerifier, MemoryHashes, SignedCheckpoint, TreeHash,
};
use comity_proto::pb::{self, log_client::LogClient};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tonic::transport::Channel;

use crate::config::Config;
use crate::log::logfile::{LogFileReader, LogFileWriter};
use crate::log::{load_or_create_key, load_or_create_witness_key, NodeLog, SignedRecord};
use crate::now;
use crate::store::{LogRef, Store};
use crate::trust::Trust;
use crate::writer::{Mirrored, Registry};

/// Entries asked for per `GetEntries` call (what a node serves at most).
const ENTRIES_PER_CALL: u64 = crate::log::service::MAX_ENTRIES_PER_CALL;
/// Largest message accepted from the node exported from.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// What an export or an import did, for its summary line.
#[derive(Debug, Clone)]
pub struct Moved {
    pub origin: String,
    /// Entries written to the file (export) or newly stored (import).
    pub entries: u64,
    /// The size of the log in the file (its checkpoint's).
    pub log_size: u64,
    /// Entries of that log the node held before an import.
    pub held_before: u64,
    /// The file's length.
    pub bytes: u64,
    /// The checkpoint's root.
    pub root: TreeHash,
    pub elapsed: Duration,
}

/// Exports log `origin` (empty: the node's own log) of the running node at `url` up to its
/// latest checkpoint into the new file `out`. An `https://` URL is reached with the `[tls]` of
/// `config`, expecting a certificate for `tls_name` (empty: the URL's host).
pub async fn export_log(config: &Config, url: &str, tls_name: &str, origin: &str, out: &Path) -> anyhow::Result<Moved> {
    let started = Instant::now();
    anyhow::ensure!(!out.exists(), "{} exists; refusing to overwrite it", out.display());
    let mut node = connect(config, url, tls_name).await?;
    let wanted = if origin.is_empty() { "the node's own log".to_string() } else { format!("log {origin}") };
    let served = node
        .get_checkpoint(pb::GetCheckpointRequest { origin: origin.into() })
        .await
        .with_context(|| format!("the checkpoint of {wanted} at {url}"))?
        .into_inner();
    let (origin, size, root) = unverified_checkpoint(&served.checkpoint, origin)?;
    // Written under a temporary name and renamed when complete, so a failed export leaves no file.
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let written = write_export(&mut node, url, &served.checkpoint, (&origin, size, &root), &partial).await;
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, out).with_context(|| format!("rename {} to {}", partial.display(), out.display()))?;
    Ok(Moved { origin, entries: size, log_size: size, held_before: 0, bytes, root, elapsed: started.elapsed() })
}

/// Origin, size and root of a served checkpoint note, without checking its signature (an
/// exporter may not pin the log's key; every importer checks it), for what to fetch and the
/// root the fetched entries must hash to.
fn unverified_checkpoint(note: &str, asked: &str) -> anyhow::Result<(String, u64, TreeHash)> {
    let origin = note.lines().next().unwrap_or_default().to_string();
    let (size, root, _) = stored_checkpoint_fields(note).with_context(|| format!("the node served a malformed checkpoint note for {origin}"))?;
    anyhow::ensure!(asked.is_empty() || asked == origin, "asked for log {asked}, the node served a checkpoint of {origin}");
    Ok((origin, size, root))
}

async fn connect(config: &Config, url: &str, tls_name: &str) -> anyhow::Result<LogClient<Channel>> {
    let host = || url.parse::<tonic::transport::Uri>().ok().and_then(|u| u.host().map(str::to_string)).unwrap_or_default();
    let name = if tls_name.is_empty() { host() } else { tls_name.to_string() };
    let endpoint =
        crate::net::tls::peer_endpoint(url, config.tls.as_ref(), &name)?.timeout(config.limits.request_timeout()).connect_timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.with_context(|| format!("connect to {url}"))?;
    Ok(LogClient::new(channel).max_decoding_message_size(MAX_MESSAGE))
}

/// Writes the header and entries `0..size` to the new file `path`; the entries must hash to
/// `root`. Returns the file's length.
async fn write_export(node: &mut LogClient<Channel>, url: &str, note: &str, (origin, size, root): (&str, u64, &TreeHash), path: &Path) -> anyhow::Result<u64> {
    let file = File::create_new(path).with_context(|| format!("create {}", path.display()))?;
    let mut writer = LogFileWriter::start(BufWriter::new(file), origin, note, url, now()).with_context(|| format!("write {}", path.display()))?;
    let bar = progress(size, "exporting", "entries");
    let mut frontier = Frontier::new();
    let mut next = 0;
    while next < size {
        let end = size.min(next + ENTRIES_PER_CALL);
        let request = pb::GetEntriesRequest { start: next, end, origin: origin.into() };
        let mut stream = node.get_entries(request).await.with_context(|| format!("entries {next}..{end} of {origin}"))?.into_inner();
        while let Some(message) = stream.message().await.with_context(|| format!("entries {next}..{end} of {origin}"))? {
            for entry in message.entries {
                anyhow::ensure!(entry.index == next && next < end, "the node sent entry {} where {next} was due", entry.index);
                writer.entry(entry.logged_at, &entry.envelope).with_context(|| format!("entry {next}"))?;
                frontier.push(entry_leaf_hash(entry.logged_at, &entry.envelope));
                next += 1;
            }
            bar.set_position(next);
        }
        anyhow::ensure!(next == end, "the node's stream of entries {next}..{end} of {origin} ended early");
    }
    bar.finish_and_clear();
    anyhow::ensure!(frontier.root() == *root, "the entries the node served do not hash to its checkpoint's root: no file written");
    let bytes = writer.bytes();
    let file = writer.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all().with_context(|| format!("sync {}", path.display()))?;
    Ok(bytes)
}

/// Imports the log export file at `path` into the stopped node configured by `config`, as its
/// mirror of that peer's log. Nothing is written unless the whole file passes the checks that
/// need no store writes; see the module documentation.
pub async fn import_log(config: &Config, path: &Path) -> anyhow::Result<Moved> {
    let started = Instant::now();
    let checked = check_import(config, path).context("nothing imported")?;
    let CheckedImport { header, checkpoint, store, held, hashes, bytes } = checked;
    let moved = |entries| Moved {
        origin: checkpoint.origin.clone(),
        entries,
        log_size: checkpoint.size,
        held_before: held,
        bytes,
        root: checkpoint.root,
        elapsed: started.elapsed(),
    };
    if checkpoint.size <= held {
        return Ok(moved(0));
    }
    let registry = start_registry(config, store)?;
    let stored = store_entries(path, &header, &registry, &checkpoint, held, &hashes, config.limits.mirror_entries_per_part).await;
    registry.close();
    stored?;
    Ok(moved(checkpoint.size - held))
}

/// A file that passed every check needing no store writes, with the store it goes into.
struct CheckedImport {
    header: pb::LogExportHeader,
    checkpoint: SignedCheckpoint,
    store: Store,
    /// Entries of the log already held.
    held: u64,
    /// The file's tree, for the parts' prefix proofs.
    hashes: MemoryHashes,
    bytes: u64,
}

/// Checks the file against the node's config and store, writing nothing: a peer's log, its
/// checkpoint signed by the key pinned for that peer, the entries hashing to it, and agreement
/// with what is held.
fn check_import(config: &Config, path: &Path) -> anyhow::Result<CheckedImport> {
    let (header, _) = open_file(path)?;
    let verifier = pinned_verifier(config, &header.origin)?;
    let checkpoint =
        crate::federation::mirror::verify_peer_checkpoint(&verifier, &header.checkpoint, now()).map_err(anyhow::Error::msg).context("the file's checkpoint")?;
    anyhow::ensure!(
        config.log_key_path().exists(),
        "{} is missing: import into an initialised node (comity-node init, or a node started once)",
        config.log_key_path().display()
    );
    // The store may not exist yet (after `init`): created with the configured engine.
    let store = Store::open_with(&config.store_dir(), config.store_engine, config.limits.store_cache_bytes)
        .with_context(|| format!("open {} (the node must be stopped for an import)", config.store_dir().display()))?;
    let log = store.log(&checkpoint.origin);
    if let Some(reason) = log.frozen()? {
        anyhow::bail!("{} is frozen here ({reason}); comity-node unfreeze lifts it", checkpoint.origin);
    }
    let held = log.size()?;
    let (hashes, bytes) = check_entries(path, &checkpoint, &log, held)?;
    Ok(CheckedImport { header, checkpoint, store, held, hashes, bytes })
}

/// The log key this node pins for `origin`: that of the configured peer whose log it is.
fn pinned_verifier(config: &Config, origin: &str) -> anyhow::Result<LogVerifier> {
    anyhow::ensure!(
        origin != config.origin,
        "the file holds this node's own log {origin}; import loads peers' logs only (comity-node restore puts back a backup, comity-node recover refetches the own log from a peer)"
    );
    for peer in &config.peers {
        let verifier: LogVerifier = peer.log_key.parse().map_err(|e| anyhow::anyhow!("peer {}: {e}", peer.id))?;
        if verifier.name() == origin {
            return Ok(verifier);
        }
    }
    anyhow::bail!("the file holds log {origin}, which is no peer's log in this node's config: add its [[peer]] (with the log_key pinned for it) first")
}

/// Opens an export file and reads its header.
fn open_file(path: &Path) -> anyhow::Result<(pb::LogExportHeader, LogFileReader<BufReader<File>>)> {
    let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    LogFileReader::open(BufReader::new(file)).with_context(|| format!("read {}", path.display()))
}

/// Reads the whole file once: every entry's length, the root recomputed from
/// all entries against the verified checkpoint's, and agreement with the `held` entries of the
/// log already stored. Returns the file's tree (for the parts' prefix proofs) and its length.
/// The tree's hashes stay in memory, about 100 bytes an entry (~100 MiB for a million).
fn check_entries(path: &Path, checkpoint: &SignedCheckpoint, stored: &LogRef<'_>, held: u64) -> anyhow::Result<(MemoryHashes, u64)> {
    let origin = &checkpoint.origin;
    let (_, mut reader) = open_file(path)?;
    let bar = progress(checkpoint.size, "checking", "entries");
    let mut hashes = MemoryHashes::default();
    while let Some((logged_at, envelope)) = reader.next_entry(checkpoint.size)? {
        hashes.append(&entry_leaf_hash(logged_at, &envelope));
        if hashes.size() % 1024 == 0 {
            bar.set_position(hashes.size());
        }
    }
    bar.finish_and_clear();
    let root = tree_root(checkpoint.size, &hashes).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        root == checkpoint.root,
        "the file's {} entries do not hash to the root its checkpoint of {origin} signs: it was damaged or altered",
        checkpoint.size
    );
    let common = held.min(checkpoint.size);
    if common > 0 {
        let ours = tree_root(common, stored).map_err(anyhow::Error::msg)?;
        let theirs = tree_root(common, &hashes).map_err(anyhow::Error::msg)?;
        anyhow::ensure!(ours == theirs, "the file's log is inconsistent with the {held} entries of {origin} held here (its first {common} entries differ)");
    }
    Ok((hashes, reader.bytes()))
}

/// The registry's writer over `store`, set up as `run` sets it up (own log checked, trust
/// loaded, witness keys known), so imported entries take the mirror's path into the store.
fn start_registry(config: &Config, store: Store) -> anyhow::Result<Registry> {
    let key = load_or_create_key(&config.log_key_path(), &config.origin)?;
    let log = NodeLog::open(&store, key, SignedRecord::next_to_key(&config.log_key_path())?, now())?;
    let mut witnesses: Vec<_> = config.peer_witnesses().into_iter().map(|(_, w)| w).collect();
    if config.witness_key_path().exists() {
        witnesses.push(load_or_create_witness_key(&config.witness_key_path(), &config.witness_name())?.verifier());
    }
    let trust = Arc::new(Trust::load(config, config.trust_roots()?, &store)?);
    Ok(Registry::start(store, config, log, witnesses, trust, crate::Clock::system()))
}

/// Reads the file again and stores entries `held..` in parts of `per_part`, each verified and
/// committed as a mirror catch-up's part (with a prefix proof from the file's tree when it
/// stops short of the checkpoint).
async fn store_entries(
    path: &Path,
    header: &pb::LogExportHeader,
    registry: &Registry,
    checkpoint: &SignedCheckpoint,
    held: u64,
    hashes: &MemoryHashes,
    per_part: u64,
) -> anyhow::Result<()> {
    let (origin, size) = (&checkpoint.origin, checkpoint.size);
    let (again, mut reader) = open_file(path)?;
    anyhow::ensure!(again == *header, "{} changed while it was imported; nothing imported", path.display());
    let mut next_entry = || -> anyhow::Result<(i64, Vec<u8>)> { reader.next_entry(size)?.context("the file ended early") };
    for _ in 0..held {
        next_entry()?;
    }
    let bar = progress(size - held, "importing", "entries");
    let mut next = held;
    while next < size {
        let end = size.min(next + per_part);
        let stopped = || {
            let kept = if next > held { format!("entries {held}..{next} are stored, verified") } else { "nothing imported".into() };
            format!("importing entries {next}..{end} of {origin} ({kept})")
        };
        let (logged_at, raw): (Vec<i64>, Vec<Vec<u8>>) =
            (next..end).map(|_| next_entry()).collect::<anyhow::Result<Vec<_>>>().with_context(stopped)?.into_iter().unzip();
        let entries = crate::federation::mirror::verify_entries(registry.trust(), origin, next, raw).await.map_err(anyhow::Error::msg).with_context(stopped)?;
        let prefix_proof = if end < size { Some(prove_consistency(end, size, hashes).map_err(anyhow::Error::msg)?) } else { None };
        registry.ingest_mirrored(Mirrored { checkpoint: checkpoint.clone(), first: next, entries, logged_at, prefix_proof }).await.with_context(stopped)?;
        next = end;
        bar.set_position(next - held);
    }
    bar.finish_and_clear();
    Ok(())
}

/// A progress bar counting `unit` on stderr when it is a terminal; hidden otherwise, so scripts
/// and logs get only the summary line.
pub(crate) fn progress(len: u64, what: &str, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(&format!("{{prefix:>10}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"))
        .map(|s| s.progress_chars("=> "));
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()).with_prefix(what.to_string());
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

/// A spinner with the time elapsed, for a step that cannot count its progress (one request, one
/// copy); on stderr when it is a terminal, hidden otherwise.
pub(crate) fn spinner(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_message(what.to_string());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
