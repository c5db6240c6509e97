//! The registry: licence rules applied to storage.
//!
//! Stateless checks (envelope, fields, signature) run in the caller's task, in parallel.
//! Stateful checks and writes run on one writer thread, which takes every publish waiting in
//! its queue, checks them in order against the stored licences plus the earlier ones of the
//! same batch, commits them in one atomic batch with one flush, and only then answers them all
//! (group commit: many publishes share one fsync).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use comity_proto::decision::CheckedDecision;
use comity_proto::licence_map;
use comity_proto::log::{
    check_dated_by_log_time, entry_leaf_hash, hashes_to_store, prove_inclusion, tree_root, verify_consistency, SignedCheckpoint, TreeHash,
};
use comity_proto::pb;
use comity_proto::recognition::CheckedAgreement;
use comity_proto::restricted::CheckedRestricted;
use comity_proto::rules::{LicenceState, RuleError};
use comity_proto::statement::{Envelope, StatementId};
use comity_proto::trust::KeySetView;
use comity_proto::witness::{cosigners, merge_cosignatures, note_body, note_size, WitnessVerifier};
use ed25519_dalek::VerifyingKey;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::config::Config;
use crate::error::{write_refused, Error};
use crate::log::{NodeLog, Overlay};
use crate::now;
use crate::store::{Evidence, SearchPage, SearchQuery, Store, WriteBatch};
use crate::trust::{Signers, StoredAgreement, Trust};

/// The result of a publish.
#[derive(Debug, Clone)]
pub struct Published {
    pub id: StatementId,
    /// The exact envelope was already stored; nothing was written.
    pub already_present: bool,
    /// The licence after the decision (none for other statements).
    pub licence: Option<LicenceState>,
    /// Where the statement sits in the log, proven against the batch's checkpoint.
    pub receipt: pb::Receipt,
}

/// A licence with its decision chain.
#[derive(Debug, Clone)]
pub struct LicenceView {
    /// `None` when the licence is confidential and this node cannot read every decision.
    pub state: Option<LicenceState>,
    /// The decisions in version order.
    pub chain: Vec<StoredLink>,
}

/// One decision of a licence's chain as stored here.
#[derive(Debug, Clone)]
pub struct StoredLink {
    pub id: StatementId,
    pub envelope: Vec<u8>,
    /// The decision: in full, or for a restricted one whose body is not held here, its public
    /// face (authority, licence id, version, previous, decided_at).
    pub decision: pb::Decision,
    /// Key ids of its signatures (verified when stored).
    pub key_ids: Vec<String>,
    /// For a restricted (confidential) decision: its audience and, when held here, its body.
    pub restricted: Option<RestrictedPart>,
}

/// What a node holds of a restricted decision beyond its signed commitment.
#[derive(Debug, Clone)]
pub struct RestrictedPart {
    /// Log origins of the nodes that may read it.
    pub audience: Vec<String>,
    /// The opening of its commitment, when this node holds it.
    pub body: Option<pb::RestrictedBody>,
}

impl StoredLink {
    /// Whether this node can read the decision in full.
    pub fn readable(&self) -> bool {
        self.restricted.as_ref().is_none_or(|r| r.body.is_some())
    }

    /// The opening of a restricted decision's commitment, when this node holds its body.
    pub fn opening(&self) -> Option<pb::RestrictedOpening> {
        let body = self.restricted.as_ref()?.body.clone()?;
        Some(pb::RestrictedOpening { statement_id: self.id.0.to_vec(), body: Some(body) })
    }
}

/// A statement that passed the checks that need no state: its fields and its signatures.
// Decisions, the largest variant, are nearly every entry: boxing them would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Checked {
    /// A decision, with the keys that signed it (their standing is judged in log order).
    Decision { decision: CheckedDecision, signers: Vec<VerifyingKey> },
    /// A key set signed by a threshold of its authority's roots (its version is checked in log order).
    KeySet(KeySetView),
    /// A recognition agreement, with the keys of the relying authority that signed it.
    Agreement { agreement: CheckedAgreement, signers: Vec<VerifyingKey> },
    /// A confidential decision's signed commitment, with the keys that signed it, and its body
    /// opened when it came with one (a publish; mirrors in its audience fetch bodies later).
    Restricted { restricted: CheckedRestricted, body: Option<(pb::RestrictedBody, CheckedDecision)>, signers: Vec<VerifyingKey> },
}

impl Checked {
    /// The same statement, signed by `signers` (known only once checked).
    pub fn signed_by(self, signers: Vec<VerifyingKey>) -> Self {
        match self {
            Checked::Decision { decision, .. } => Checked::Decision { decision, signers },
            Checked::Agreement { agreement, .. } => Checked::Agreement { agreement, signers },
            Checked::Restricted { restricted, body, .. } => Checked::Restricted { restricted, body, signers },
            key_set @ Checked::KeySet(_) => key_set,
        }
    }
}

struct Job {
    envelope: Envelope,
    checked: Checked,
    /// Re-logging the node's own history (recovery): the entry's original log time. It entered
    /// the log then, so its keys are judged at that time and a key compromised since does not
    /// refuse it (verification judges it by that log time).
    history: Option<i64>,
    reply: oneshot::Sender<Result<(Staged, Arc<SignedCheckpoint>), Error>>,
}

/// A peer's checkpoint with the entries that extend our mirror of its log, to it or (in a long
/// catch-up) part of the way; every envelope already verified by the mirror task.
pub struct Mirrored {
    pub checkpoint: SignedCheckpoint,
    /// Index of the first entry.
    pub first: u64,
    pub entries: Vec<(Envelope, Checked)>,
    /// Each entry's log time as the peer served it, same order (bound into its leaf, so the
    /// signed root proves it).
    pub logged_at: Vec<i64>,
    /// For a part that stops short of the checkpoint: the peer's consistency proof from the
    /// part's end to the checkpoint, which shows the entries are that prefix of the signed tree.
    pub prefix_proof: Option<Vec<comity_proto::log::TreeHash>>,
}

/// What the writer thread is asked to do.
enum Work {
    Publish(Box<Job>),
    Mirror(Box<Mirrored>, oneshot::Sender<Result<(), Error>>),
    /// Store split-view evidence and freeze the origin.
    SplitView(Box<Evidence>, oneshot::Sender<Result<(), Error>>),
    /// Add verified cosignatures to a checkpoint of a log.
    Cosignatures {
        origin: String,
        note: String,
        witnessed: bool,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// Re-sign the checkpoint if the latest is older than this many seconds.
    Heartbeat {
        max_age: i64,
    },
    /// Copy the store to a new directory between batches: a consistent snapshot.
    Backup {
        dir: std::path::PathBuf,
        reply: oneshot::Sender<Result<(u64, String), Error>>,
    },
    /// Store the bodies of restricted decisions received from a peer.
    Bodies {
        openings: Vec<pb::RestrictedOpening>,
        reply: oneshot::Sender<Result<BodiesStored, Error>>,
    },
}

/// What became of restricted bodies received from a peer.
#[derive(Debug, Default)]
pub struct BodiesStored {
    pub stored: usize,
    /// One line per body refused, naming the statement and why (never the body's content).
    pub refused: Vec<String>,
}

/// Publishing and reading licences.
#[derive(Clone)]
pub struct Registry {
    store: Store,
    /// The node's own log origin: its identity in audiences of confidential decisions.
    origin: Arc<str>,
    trust: Arc<Trust>,
    writer: mpsc::Sender<Work>,
    writer_thread: Arc<Mutex<Option<JoinHandle<()>>>>,
    checkpoints: broadcast::Sender<CommittedCheckpoint>,
    /// Bumped after every batch the writer handles, so readers such as Watch streams know to
    /// look at the store again.
    changes: watch::Receiver<u64>,
    verify_cache: Arc<crate::service::verify::VerifyCache>,
}

/// A signed checkpoint just committed here, of the node's own log or a mirrored one.
#[derive(Debug, Clone)]
pub struct CommittedCheckpoint {
    pub origin: String,
    pub note: Arc<str>,
}

/// What the writer tells readers: each checkpoint it commits, and that it handled a batch.
struct Announce {
    checkpoints: broadcast::Sender<CommittedCheckpoint>,
    changed: watch::Sender<u64>,
}

/// Checkpoints buffered per subscriber before it starts missing them.
const CHECKPOINT_BUFFER: usize = 16;

impl Registry {
    /// Starts the writer thread over `store` and its `log`, accepting the authorities
    /// configured in `config`.
    /// Cosignatures by `witnesses` are kept with checkpoints; others are dropped.
    pub fn start(store: Store, config: &Config, log: NodeLog, witnesses: Vec<WitnessVerifier>, trust: Arc<Trust>) -> Self {
        let writer_trust = trust.clone();
        let max_batch = config.limits.max_publish_batch;
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let writer_store = store.clone();
        let origin: Arc<str> = log.origin().into();
        let (checkpoints, _) = broadcast::channel(CHECKPOINT_BUFFER);
        let (changed, changes) = watch::channel(0);
        let announce = Announce { checkpoints: checkpoints.clone(), changed };
        let writer_thread = thread::Builder::new()
            .name("comity-writer".into())
            .spawn(move || writer_loop(writer_store, rx, max_batch, log, announce, witnesses, writer_trust))
            .expect("spawn writer thread");
        Self {
            store,
            origin,
            trust,
            writer: tx,
            writer_thread: Arc::new(Mutex::new(Some(writer_thread))),
            checkpoints,
            changes,
            verify_cache: Arc::new(crate::service::verify::VerifyCache::new(config.limits.verify_cache_licences)),
        }
    }

    /// Drops this handle and waits until the writer has answered every queued publish and
    /// closed its store handle. Call it on the last handle, after the server has stopped:
    /// the writer ends only when no handle can send to it any more.
    pub fn close(self) {
        let thread = self.writer_thread.lock().ok().and_then(|mut t| t.take());
        drop(self);
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("writer thread panicked");
            }
        }
    }

    /// What Verify keeps of the store between writes.
    pub(crate) fn verify_cache(&self) -> &crate::service::verify::VerifyCache {
        &self.verify_cache
    }

    /// The underlying store (read-only use).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The node's own log origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// What this node trusts.
    pub fn trust(&self) -> &Arc<Trust> {
        &self.trust
    }

    /// Verifies and durably stores one envelope: a decision signed by a key of an authority
    /// hosted here, or a key set of such an authority signed by a threshold of its roots. A
    /// restricted decision comes with its `body`, which only this node and the decision's
    /// audience will hold.
    pub async fn publish(&self, envelope: Vec<u8>, body: Option<pb::RestrictedBody>) -> Result<Published, Error> {
        self.submit(envelope, body, None).await
    }

    /// Re-logs an entry of this node's own log fetched from a peer, during recovery, at its
    /// original log time `logged_at` (so the leaf, and the log's root, come out the same): the
    /// same checks as a publish judged at that time, except that a key compromised since does
    /// not refuse it, and a restricted decision may come without its body (fetched later from
    /// its audience).
    pub async fn restore(&self, envelope: Vec<u8>, body: Option<pb::RestrictedBody>, logged_at: i64) -> Result<Published, Error> {
        self.submit(envelope, body, Some(logged_at)).await
    }

    async fn submit(&self, envelope: Vec<u8>, mut body: Option<pb::RestrictedBody>, history: Option<i64>) -> Result<Published, Error> {
        let envelope = Envelope::parse(envelope)?;
        if body.is_some() && !matches!(envelope.statement(), pb::statement::Kind::RestrictedDecision(_)) {
            return Err(Error::InvalidArgument("restricted_body: only a RestrictedDecision comes with a body".into()));
        }
        let not_hosted = |authority: &str| Error::PermissionDenied(format!("authority `{authority}` is not hosted by this node"));
        // The keys of hosted `authority` that signed the envelope.
        let signed_by_hosted = |authority: &str| -> Result<Vec<VerifyingKey>, Error> {
            if !self.trust.hosts(authority) {
                return Err(not_hosted(authority));
            }
            Ok(envelope.verify_with(&self.trust.candidate_keys(authority))?)
        };
        let checked = match envelope.statement() {
            pb::statement::Kind::Decision(d) => {
                let decision = CheckedDecision::try_from(d.clone())?;
                let signers = signed_by_hosted(&decision.decision().authority)?;
                Checked::Decision { decision, signers }
            }
            pb::statement::Kind::KeySet(set) => {
                if !self.trust.hosts(&set.authority) {
                    return Err(not_hosted(&set.authority));
                }
                // Signatures and contents here; the version against the set in force on the writer.
                Checked::KeySet(self.trust.check_key_set(&envelope, None)?)
            }
            pb::statement::Kind::Agreement(a) => {
                let agreement = CheckedAgreement::try_from(a.clone()).map_err(|e| Error::InvalidArgument(format!("invalid agreement: {e}")))?;
                let signers = signed_by_hosted(&agreement.agreement().relying_authority)?;
                Checked::Agreement { agreement, signers }
            }
            pb::statement::Kind::RestrictedDecision(r) => {
                let restricted = CheckedRestricted::try_from(r.clone()).map_err(|e| Error::InvalidArgument(e.to_string()))?;
                let signers = signed_by_hosted(&restricted.restricted().authority)?;
                let body = match body.take() {
                    Some(b) => {
                        let decision = restricted.open(&b).map_err(|e| Error::InvalidArgument(format!("restricted_body: {e}")))?;
                        Some((b, decision))
                    }
                    None if history.is_some() => None,
                    None => {
                        return Err(Error::InvalidArgument(
                            "restricted_body: a restricted decision is published with its body, which this node checks against the licence rules".into(),
                        ))
                    }
                };
                Checked::Restricted { restricted, body, signers }
            }
        };

        let (staged, checkpoint) = self.ask(|reply| Work::Publish(Box::new(Job { envelope, checked, history, reply }))).await?;
        // The proof is built here rather than on the writer thread, which every publish shares.
        receipt_for(&self.store, &checkpoint, staged)
    }

    /// Sends the writer the work `make` builds around a reply channel, and waits for its answer.
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Work) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        self.writer.send(make(reply)).await.map_err(|_| Error::Unavailable("node is shutting down".into()))?;
        answer.await.map_err(|_| Error::Unavailable("writer stopped before answering".into()))?
    }

    /// New checkpoints as they are committed (own and mirrored logs).
    pub fn subscribe(&self) -> broadcast::Receiver<CommittedCheckpoint> {
        self.checkpoints.subscribe()
    }

    /// A counter that moves after every batch the writer handles (publishes, mirrored parts,
    /// evidence): wait on it, then read the store again.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// Asks the writer to sign a fresh checkpoint if the latest is older than `max_age` seconds,
    /// so readers can tell how fresh an idle log's view is.
    pub async fn heartbeat(&self, max_age: i64) -> Result<(), Error> {
        self.writer.send(Work::Heartbeat { max_age }).await.map_err(|_| Error::Unavailable("node is shutting down".into()))
    }

    /// Stores the bodies of restricted decisions a peer sent: each must open the commitment of a
    /// stored RestrictedDecision whose audience names this node, and follow the licence rules.
    pub async fn store_bodies(&self, openings: Vec<pb::RestrictedOpening>) -> Result<BodiesStored, Error> {
        self.ask(|reply| Work::Bodies { openings, reply }).await
    }

    /// Stores a peer's verified entries and checkpoint as the next part of our mirror of its log.
    pub async fn ingest_mirrored(&self, mirrored: Mirrored) -> Result<(), Error> {
        self.ask(|reply| Work::Mirror(Box::new(mirrored), reply)).await
    }

    /// Writes a consistent snapshot of the store to `dir` (taken by the writer between
    /// batches, so no commit is half in it); returns the number of records and the node's own
    /// signed checkpoint at that moment.
    pub async fn backup(&self, dir: std::path::PathBuf) -> Result<(u64, String), Error> {
        self.ask(|reply| Work::Backup { dir, reply }).await
    }

    /// Stores split-view evidence against a mirrored log and freezes it: no further ingest until
    /// an operator clears it (`comity-node unfreeze`).
    pub async fn split_view(&self, evidence: Evidence) -> Result<(), Error> {
        self.ask(|reply| Work::SplitView(Box::new(evidence), reply)).await
    }

    /// Adds the verified cosignatures carried by `note` (a checkpoint of `origin`) to the
    /// stored notes of that checkpoint; `witnessed` records it as this node's last cosigned
    /// checkpoint of the log. Durable when this returns.
    pub async fn add_cosignatures(&self, origin: &str, note: String, witnessed: bool) -> Result<(), Error> {
        self.ask(|reply| Work::Cosignatures { origin: origin.into(), note, witnessed, reply }).await
    }

    /// A licence's state and chain, or `None` when no decision exists.
    pub fn licence(&self, authority: &str, licence_id: &str) -> Result<Option<LicenceView>, Error> {
        let chain = self.chain(authority, licence_id)?;
        if chain.is_empty() {
            return Ok(None);
        }
        let state = fold_readable(&chain)?;
        Ok(Some(LicenceView { state, chain }))
    }

    /// A licence's decisions in version order (empty when none exists).
    pub fn chain(&self, authority: &str, licence_id: &str) -> Result<Vec<StoredLink>, Error> {
        load_chain(&self.store, authority, licence_id, &HashMap::new())
    }

    /// A statement's envelope.
    pub fn statement(&self, id: &StatementId) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.store.statement(id)?)
    }

    /// One page of search results.
    pub fn search(&self, query: &SearchQuery) -> Result<SearchPage, Error> {
        Ok(self.store.search(query, now())?)
    }

    /// Recorded evidence.
    pub fn evidence(&self) -> Result<Vec<Evidence>, Error> {
        Ok(self.store.evidence()?)
    }
}

/// Stored data that no longer passes the checks it passed on the way in.
pub(crate) fn stored_corrupt(e: impl std::fmt::Display) -> Error {
    Error::Store(crate::store::StoreError::Corrupt { table: "statement", detail: e.to_string() })
}

/// A statement's bytes must still hash to its id: a record damaged in the data dir is never
/// answered from (the log itself serves it as stored, for auditors and mirrors to catch).
pub(crate) fn check_stored_hash(id: &StatementId, bytes: &[u8]) -> Result<(), Error> {
    if StatementId::of(bytes) != *id {
        return Err(stored_corrupt(format!("statement {id} no longer hashes to its id: the data dir is damaged")));
    }
    Ok(())
}

/// A licence's stored chain; restricted decisions are opened with the bodies held here or in
/// `staged_bodies` (received in the current batch).
fn load_chain(store: &Store, authority: &str, licence_id: &str, staged_bodies: &HashMap<StatementId, pb::RestrictedBody>) -> Result<Vec<StoredLink>, Error> {
    store
        .chain_ids(authority, licence_id)?
        .into_iter()
        .map(|id| {
            let bytes = store.statement(&id)?.ok_or_else(|| stored_corrupt(format!("statement {id} missing")))?;
            check_stored_hash(&id, &bytes)?;
            let env = Envelope::parse(bytes).map_err(stored_corrupt)?;
            let key_ids = env.key_ids().map(str::to_string).collect();
            let (decision, restricted) = match env.statement() {
                pb::statement::Kind::Decision(d) => (d.clone(), None),
                pb::statement::Kind::RestrictedDecision(r) => {
                    let checked = CheckedRestricted::try_from(r.clone()).map_err(stored_corrupt)?;
                    let body = match staged_bodies.get(&id) {
                        Some(b) => Some(b.clone()),
                        None => store.restricted_body(&id)?,
                    };
                    // Re-opened on every read: a damaged body is never answered from.
                    let decision = match &body {
                        Some(b) => checked.open(b).map_err(|e| stored_corrupt(format!("body of {id}: {e}")))?.into_inner(),
                        None => checked.public_face(),
                    };
                    (decision, Some(RestrictedPart { audience: r.audience.clone(), body }))
                }
                _ => return Err(stored_corrupt(format!("statement {id} is not a decision"))),
            };
            Ok(StoredLink { id, envelope: env.into_bytes(), decision, key_ids, restricted })
        })
        .collect()
}

/// A licence as the current batch sees it.
struct Pending {
    /// The folded state; `None` before the first decision, or when the licence is confidential
    /// and not every decision's body is held here.
    state: Option<LicenceState>,
    /// Latest version and its statement id, readable or not.
    version: u64,
    head: Option<StatementId>,
    /// Whether the licence is confidential (`None`: no decision yet).
    restricted: Option<bool>,
    /// Decisions of this licence staged in the current batch, by version.
    staged: HashMap<u64, (StatementId, Vec<u8>)>,
}

/// Everything staged in one batch.
struct BatchState<'a> {
    batch: WriteBatch,
    licences: HashMap<(String, String), Pending>,
    overlay: Overlay<'a>,
    /// The node's own log.
    origin: &'a str,
    /// Log size including the entries staged so far.
    log_size: u64,
    /// Log index and log time of each statement staged in this batch.
    staged_index: HashMap<StatementId, (u64, i64)>,
    /// The log time of this batch's new entries.
    time: i64,
    /// Log time of the last entry staged (or stored before the batch): log times never fall.
    last_time: i64,
    /// Key sets staged in this batch, by authority: in force for the rest of the batch.
    key_sets: HashMap<String, KeySetView>,
    /// Versions of agreements staged in this batch.
    staged_agreements: HashMap<(String, String, String), u64>,
    /// Agreements staged in this batch, put in force once committed.
    new_agreements: Vec<StoredAgreement>,
    /// Licence heads the batch's entries set, in log order, for the licence-state map.
    map_changes: Vec<(licence_map::MapKey, licence_map::Head)>,
    /// The writer's copy of the upper tiles of its log's map, settled after each commit.
    map_cache: &'a mut crate::store::MapCache,
    trust: &'a Trust,
}

impl BatchState<'_> {
    /// The key set in force for `authority` at this point of the batch.
    fn key_set(&self, authority: &str) -> Option<std::borrow::Cow<'_, KeySetView>> {
        match self.key_sets.get(authority) {
            Some(set) => Some(std::borrow::Cow::Borrowed(set)),
            None => self.trust.key_set(authority).map(|s| std::borrow::Cow::Owned((*s).clone())),
        }
    }
}

/// A publish checked and staged, waiting for its receipt.
struct Staged {
    id: StatementId,
    already_present: bool,
    licence: Option<LicenceState>,
    index: u64,
    leaf: [u8; 32],
    logged_at: i64,
}

fn writer_loop(
    store: Store,
    mut rx: mpsc::Receiver<Work>,
    max_batch: usize,
    mut log: NodeLog,
    announce: Announce,
    witnesses: Vec<WitnessVerifier>,
    trust: Arc<Trust>,
) {
    // No subscribers is fine: the send result is ignored.
    let publish = |origin: &str, note: &str| {
        let _ = announce.checkpoints.send(CommittedCheckpoint { origin: origin.to_string(), note: note.into() });
    };
    let origin = log.origin().to_string();
    let mut map_cache = crate::store::MapCache::default();
    while let Some(first) = rx.blocking_recv() {
        let mut work = vec![first];
        while work.len() < max_batch {
            match rx.try_recv() {
                Ok(w) => work.push(w),
                Err(_) => break,
            }
        }
        let mut heartbeat: Option<i64> = None;
        let mut jobs = Vec::with_capacity(work.len());
        for w in work {
            match w {
                Work::Publish(job) => jobs.push(*job),
                // A mirrored checkpoint is its own transaction: all of it or nothing.
                Work::Mirror(m, reply) => {
                    let result = ingest_mirror(&store, &m, &witnesses, &trust, &origin);
                    if result.is_ok() {
                        tracing::info!(origin = %m.checkpoint.origin, size = m.checkpoint.size, entries = m.entries.len(), "mirrored");
                        publish(&m.checkpoint.origin, &m.checkpoint.note);
                    }
                    let _ = reply.send(result);
                }
                Work::SplitView(evidence, reply) => {
                    let _ = reply.send(record_split_view(&store, &evidence));
                }
                Work::Cosignatures { origin, note, witnessed, reply } => {
                    let result = add_cosignatures(&store, &origin, &note, witnessed, &witnesses);
                    if let Ok(Some(latest)) = &result {
                        publish(&origin, latest);
                    }
                    let _ = reply.send(result.map(|_| ()));
                }
                Work::Heartbeat { max_age } => heartbeat = Some(heartbeat.map_or(max_age, |h: i64| h.min(max_age))),
                Work::Bodies { openings, reply } => {
                    let _ = reply.send(store_bodies(&store, &origin, openings));
                }
                Work::Backup { dir, reply } => {
                    let result = store.copy_to(&dir).map_err(Error::from);
                    if let Ok(records) = &result {
                        tracing::info!(dir = %dir.display(), records, "backup written");
                    }
                    let _ = reply.send(result.map(|records| (records, log.latest().note.clone())));
                }
            }
        }

        // After a failed commit sled's memory may hold writes that never reached the disk:
        // staging against it could answer "already present" for a decision that is not stored.
        if let Some(reason) = store.failed() {
            let reason = crate::store::StoreError::Failed(reason.to_string());
            for job in jobs {
                let _ = job.reply.send(Err(write_refused(&reason)));
            }
            continue;
        }
        let old_size = log.latest().size;
        let last_time = match old_size.checked_sub(1).map(|last| store.log(&origin).entered_at(last)) {
            Some(Ok(Some(t))) => t,
            None => i64::MIN,
            Some(Ok(None)) => {
                tracing::error!(size = old_size, "the log time of the last entry is missing; nothing in this batch is committed");
                fail_jobs(jobs, "the log time of the last entry is missing from the store");
                continue;
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "cannot read the log time of the last entry; nothing in this batch is committed");
                fail_jobs(jobs, &e.to_string());
                continue;
            }
        };
        // Log times never fall, even if the clock does.
        let time = now().max(log.latest().time).max(last_time);
        let mut state = BatchState {
            batch: WriteBatch::default(),
            licences: HashMap::new(),
            overlay: Overlay::new(store.log(&origin)),
            origin: &origin,
            log_size: old_size,
            staged_index: HashMap::new(),
            time,
            last_time,
            key_sets: HashMap::new(),
            staged_agreements: HashMap::new(),
            new_agreements: Vec::new(),
            map_changes: Vec::new(),
            map_cache: &mut map_cache,
            trust: &trust,
        };
        let mut writes = false;
        let results: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                let result = stage(&store, &mut state, &job);
                writes |= matches!(&result, Ok(p) if !p.already_present) || matches!(&result, Err(Error::Fork(_)));
                (job.reply, result)
            })
            .collect();

        let stale = heartbeat.is_some_and(|max_age| now() - log.latest().time >= max_age);
        let mut note = None;
        if state.log_size > old_size || stale {
            match tree_root(state.log_size, &state.overlay).and_then(|root| Ok((root, stage_map(&store, &mut state, log.latest().map_root)?))) {
                Ok((root, map_root)) => {
                    // Never before the log time of an entry it covers.
                    let signed = log.sign(state.log_size, &root, &map_root, state.time.max(state.last_time));
                    state.batch.put_checkpoint(&origin, state.log_size, &signed);
                    note = Some(signed);
                    writes = true;
                }
                Err(e) => tracing::error!(error = %e, "cannot compute the log root; nothing in this batch is committed"),
            }
        }
        let mut committed = if !writes {
            Ok(())
        } else if state.log_size > old_size && note.is_none() {
            // A store that failed a write can fail the root's reads too: its reason says more.
            Err(store.failed().map_or_else(|| "log root unavailable".to_string(), |reason| crate::store::StoreError::Failed(reason.to_string()).to_string()))
        } else {
            store.commit(state.batch).map_err(|e| e.to_string())
        };
        if committed.is_ok() {
            for (_, set) in state.key_sets.drain() {
                tracing::info!(authority = %set.authority, version = set.version, "key set in force");
                trust.install(set);
            }
            for agreement in state.new_agreements.drain(..) {
                trust.install_agreement(agreement);
            }
        }
        match (&committed, &note) {
            (Ok(()), Some(n)) => match log.committed(n) {
                Ok(()) => publish(&origin, n),
                // Not recorded next to the key: neither announced nor acknowledged.
                Err(e) => {
                    tracing::error!(error = %e, "commit failed");
                    committed = Err(e.to_string());
                }
            },
            (Err(e), _) => tracing::error!(error = %e, "commit failed"),
            _ => {}
        }
        state.map_cache.settle(committed.is_ok());
        let count = results.len();
        let checkpoint = Arc::new(log.latest().clone());
        for (reply, result) in results {
            let answer = match (&committed, result) {
                // Even one found already present: it may have been staged by this very batch.
                (Err(e), Ok(_)) => Err(write_refused(e)),
                (_, Ok(staged)) => Ok((staged, checkpoint.clone())),
                (_, Err(e)) => Err(e),
            };
            // The client may have gone; the data is stored either way.
            let _ = reply.send(answer);
        }
        if writes && committed.is_ok() {
            tracing::debug!(batch = count, log_size = log.latest().size, "committed publish batch");
        }
        announce.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Answers every job of a batch that cannot be staged with `reason`.
fn fail_jobs(jobs: Vec<Job>, reason: &str) {
    for job in jobs {
        let _ = job.reply.send(Err(Error::Unavailable(format!(
            "the store cannot be read, the decision is not acknowledged (publishing the same envelope again is safe): {reason}"
        ))));
    }
}

/// Applies the batch's licence heads to the own log's licence-state map, staging the changed
/// nodes at the batch's log size. Returns the map root to sign (`current` when nothing changed).
fn stage_map(store: &Store, state: &mut BatchState<'_>, current: TreeHash) -> Result<TreeHash, String> {
    if state.map_changes.is_empty() {
        return Ok(current);
    }
    let staged = store.stage_map(&mut state.batch, state.origin, state.log_size, &state.map_changes, Some(&mut *state.map_cache))?;
    state.map_changes.clear();
    Ok(staged.root)
}

/// Completes a staged publish with its receipt against the checkpoint of its batch.
fn receipt_for(store: &Store, cp: &SignedCheckpoint, staged: Staged) -> Result<Published, Error> {
    let proof = prove_inclusion(cp.size, staged.index, &store.log(&cp.origin)).map_err(stored_corrupt)?;
    Ok(Published {
        id: staged.id,
        already_present: staged.already_present,
        licence: staged.licence,
        receipt: pb::Receipt {
            origin: cp.origin.clone(),
            index: staged.index,
            leaf_hash: staged.leaf.to_vec().into(),
            checkpoint: cp.note.clone(),
            inclusion_proof: comity_proto::log::wire_proof(&proof),
            logged_at: staged.logged_at,
        },
    })
}

/// Checks one job against the licence state and the key sets in force, and stages its
/// writes, including its log append.
fn stage(store: &Store, state: &mut BatchState<'_>, job: &Job) -> Result<Staged, Error> {
    let id = job.envelope.id();
    let known = match state.staged_index.get(&id) {
        Some(known) => Some(*known),
        None => match store.log_index_of(&id)? {
            None => None,
            Some(index) => {
                let logged_at = store.log(state.origin).entered_at(index)?.ok_or_else(|| stored_corrupt(format!("log time of entry {index} missing")))?;
                Some((index, logged_at))
            }
        },
    };
    if let Some((index, logged_at)) = known {
        let leaf = entry_leaf_hash(logged_at, job.envelope.bytes());
        let licence = match &job.checked {
            Checked::Decision { decision, .. } => {
                let d = decision.decision();
                let current = licence_entry(store, &mut state.licences, &d.authority, &d.licence_id)?.state.clone();
                Some(current.ok_or_else(|| stored_corrupt(format!("statement {id} stored without its licence")))?)
            }
            Checked::Restricted { restricted, .. } => {
                let r = restricted.restricted();
                licence_entry(store, &mut state.licences, &r.authority, &r.licence_id)?.state.clone()
            }
            Checked::KeySet(_) | Checked::Agreement { .. } => None,
        };
        return Ok(Staged { id, already_present: true, licence, index, leaf, logged_at });
    }
    let logged_at = match job.history {
        None => state.time,
        Some(t) if t < state.last_time => {
            return Err(Error::InvalidArgument(format!(
                "re-logged entry {} has log time {}, before the previous entry's {}: log times never fall",
                state.log_size,
                comity_proto::authoring::format_time(t),
                comity_proto::authoring::format_time(state.last_time)
            )))
        }
        Some(t) => t,
    };
    // A statement is never dated after its log time; its keys are judged at the log time, and
    // history re-logged in recovery is not refused for a compromise declared after it was
    // first logged.
    let admit = |authority: &str, signers: &[VerifyingKey], dated: i64| -> Result<(), Error> {
        comity_proto::log::check_dated_by_log_time(dated, logged_at).map_err(|e| Error::InvalidArgument(format!("the statement's date: {e}")))?;
        let set = state.key_set(authority);
        let judged = match job.history {
            None => state.trust.standing(authority, set.as_deref(), signers, logged_at),
            Some(_) => state.trust.standing_in_history(authority, set.as_deref(), signers, logged_at),
        };
        match judged {
            Signers::Refused(reason) => Err(Error::PermissionDenied(reason)),
            _ => Ok(()),
        }
    };
    let licence = match &job.checked {
        Checked::Decision { decision, signers } => {
            let d = decision.decision();
            admit(&d.authority, signers, d.decided_at)?;
            let mut evidence = Vec::new();
            let applied = apply_decision(store, &mut state.licences, &mut state.batch, &mut evidence, &job.envelope, decision);
            for e in &evidence {
                state.batch.put_evidence(store.next_evidence_seq()?, e);
            }
            Some(applied?)
        }
        Checked::Restricted { restricted, body, signers } => {
            let r = restricted.restricted();
            admit(&r.authority, signers, r.decided_at)?;
            let mut evidence = Vec::new();
            let applied = apply_restricted(store, &mut state.licences, &mut state.batch, &mut evidence, &job.envelope, restricted, body.as_ref());
            for e in &evidence {
                state.batch.put_evidence(store.next_evidence_seq()?, e);
            }
            let applied = applied?;
            if body.is_none() {
                // Recovery without the body: fetch it back from the audience.
                state.batch.want_body(&id);
            }
            applied
        }
        Checked::KeySet(set) => {
            let set = state.trust.check_key_set(&job.envelope, state.key_set(&set.authority).as_deref())?;
            state.batch.put_key_set(&set.authority, &id);
            state.key_sets.insert(set.authority.clone(), set);
            None
        }
        Checked::Agreement { agreement, signers } => {
            let a = agreement.agreement();
            admit(&a.relying_authority, signers, a.issued_at)?;
            supersedes_agreement(store, &state.staged_agreements, agreement)?;
            state.batch.put_agreement(&a.relying_authority, &a.recognised_authority, &a.agreement_id, &id);
            state.staged_agreements.insert(agreement_key(agreement), a.version);
            state.new_agreements.push(StoredAgreement { id, envelope: job.envelope.bytes().to_vec(), agreement: agreement.clone() });
            None
        }
    };

    let index = state.log_size;
    let leaf = entry_leaf_hash(logged_at, job.envelope.bytes());
    let hashes = hashes_to_store(index, &leaf, &state.overlay).map_err(stored_corrupt)?;
    state.overlay.stage(&hashes);
    state.batch.put_statement(&id, job.envelope.bytes(), Some(index));
    state.batch.append_log(state.origin, index, &id, logged_at, &hashes);
    state.log_size += 1;
    state.staged_index.insert(id, (index, logged_at));
    state.last_time = logged_at;
    state.map_changes.extend(licence_map::change_of(&job.envelope));
    match &job.checked {
        Checked::Decision { decision, .. } => {
            let d = decision.decision();
            tracing::info!(authority = %d.authority, licence = %d.licence_id, version = d.version, action = decision.action().as_str_name(), id = %id, index, "decision accepted");
        }
        Checked::KeySet(set) => tracing::info!(authority = %set.authority, version = set.version, id = %id, index, "key set accepted"),
        Checked::Agreement { agreement, .. } => {
            tracing::info!(agreement = %agreement, withdrawn = agreement.agreement().withdrawn, id = %id, index, "agreement accepted")
        }
        // Nothing of the decision's content: this line may reach log collectors outside the audience.
        Checked::Restricted { restricted, .. } => {
            let r = restricted.restricted();
            tracing::info!(authority = %r.authority, licence = %r.licence_id, version = r.version, audience = r.audience.len(), id = %id, index, "restricted decision accepted");
        }
    }
    Ok(Staged { id, already_present: false, licence, index, leaf, logged_at })
}

/// The batch's view of a licence, loaded from the store on first use.
fn licence_entry<'m>(store: &Store, licences: &'m mut HashMap<(String, String), Pending>, authority: &str, licence_id: &str) -> Result<&'m mut Pending, Error> {
    let key = (authority.to_string(), licence_id.to_string());
    if !licences.contains_key(&key) {
        let chain = load_chain(store, authority, licence_id, &HashMap::new())?;
        let state = fold_readable(&chain)?;
        licences.insert(
            key.clone(),
            Pending {
                state,
                version: chain.len() as u64,
                head: chain.last().map(|l| l.id),
                restricted: chain.first().map(|l| l.restricted.is_some()),
                staged: HashMap::new(),
            },
        );
    }
    Ok(licences.get_mut(&key).expect("inserted above"))
}

/// Applies a verified decision to its licence: the licence rules, fork evidence, and the chain
/// and summary writes. Shared by publishing and by mirroring a peer's log.
fn apply_decision(
    store: &Store,
    licences: &mut HashMap<(String, String), Pending>,
    batch: &mut WriteBatch,
    evidence: &mut Vec<Evidence>,
    envelope: &Envelope,
    decision: &CheckedDecision,
) -> Result<LicenceState, Error> {
    let d = decision.decision();
    let id = envelope.id();
    let licence = licence_entry(store, licences, &d.authority, &d.licence_id)?;
    if licence.restricted == Some(true) {
        return Err(Error::InvalidArgument(format!(
            "licence {}/{} is confidential: its further decisions must be restricted decisions too",
            d.authority, d.licence_id
        )));
    }
    let next = match &licence.state {
        None => LicenceState::start(id, decision),
        Some(s) => s.apply(id, decision),
    };
    let next = match next {
        Ok(n) => n,
        Err(RuleError::VersionTaken { .. }) => return Err(record_fork(store, licence, evidence, envelope, &d.authority, &d.licence_id, d.version)?),
        Err(e) => return Err(e.into()),
    };
    let old = licence.state.as_ref().map(LicenceState::decided_summary);
    batch.put_decision(&d.authority, &d.licence_id, d.version, &id);
    batch.put_licence(old.as_ref(), &next.decided_summary());
    licence.staged.insert(d.version, (id, envelope.bytes().to_vec()));
    licence.state = Some(next.clone());
    (licence.version, licence.head, licence.restricted) = (d.version, Some(id), Some(false));
    Ok(next)
}

/// Applies a verified restricted decision to its licence: its place in the chain (version,
/// previous, fork evidence) always, and the licence rules when its body is here (always at the
/// publishing node). Confidential licences get no summary and no search index entries, so
/// nothing of their content can surface in a search.
fn apply_restricted(
    store: &Store,
    licences: &mut HashMap<(String, String), Pending>,
    batch: &mut WriteBatch,
    evidence: &mut Vec<Evidence>,
    envelope: &Envelope,
    restricted: &CheckedRestricted,
    body: Option<&(pb::RestrictedBody, CheckedDecision)>,
) -> Result<Option<LicenceState>, Error> {
    let r = restricted.restricted();
    let id = envelope.id();
    let licence = licence_entry(store, licences, &r.authority, &r.licence_id)?;
    let name = format!("{}/{}", r.authority, r.licence_id);
    if licence.restricted == Some(false) {
        return Err(Error::InvalidArgument(format!("licence {name} is public: a restricted decision cannot join its chain")));
    }
    if r.version <= licence.version {
        return Err(record_fork(store, licence, evidence, envelope, &r.authority, &r.licence_id, r.version)?);
    }
    if r.version != licence.version + 1 {
        return Err(RuleError::VersionGap { current: licence.version, got: r.version }.into());
    }
    if let Some(head) = licence.head {
        if r.previous.as_slice() != head.0.as_slice() {
            return Err(RuleError::PreviousMismatch { version: licence.version, expected: head }.into());
        }
    }
    let next = match body {
        None => None,
        Some((opened, decision)) => {
            let next = match (&licence.state, licence.version) {
                (None, 0) => LicenceState::start(id, decision)?,
                (Some(s), _) => s.apply(id, decision)?,
                (None, _) => {
                    return Err(Error::FailedPrecondition(format!(
                        "the bodies of earlier decisions of {name} are not held here, so the licence rules cannot be checked"
                    )));
                }
            };
            batch.put_restricted_body(&id, opened);
            Some(next)
        }
    };
    batch.put_decision(&r.authority, &r.licence_id, r.version, &id);
    licence.staged.insert(r.version, (id, envelope.bytes().to_vec()));
    licence.state = next.clone();
    (licence.version, licence.head, licence.restricted) = (r.version, Some(id), Some(true));
    Ok(next)
}

/// Stages a peer's verified entries `first..` and its checkpoint as the next part of the
/// mirrored log `origin`, applying each new decision to its licence. All or nothing.
/// Key sets and agreements a mirrored part puts in force once committed.
#[derive(Default)]
struct Installs {
    key_sets: Vec<KeySetView>,
    agreements: Vec<StoredAgreement>,
}

/// Returns the batch and what it puts in force.
fn stage_mirror(
    store: &Store,
    m: &Mirrored,
    evidence: &mut Vec<Evidence>,
    witnesses: &[WitnessVerifier],
    trust: &Trust,
    own_origin: &str,
) -> Result<(WriteBatch, Installs), Error> {
    let log = store.log(&m.checkpoint.origin);
    if let Some(reason) = log.frozen()? {
        return Err(Error::FailedPrecondition(format!("{} is frozen ({reason}); an operator must clear it", m.checkpoint.origin)));
    }
    let size = log.size()?;
    if size != m.first {
        return Err(Error::Unavailable(format!("mirror of {} is at {size}, not {}; fetch again", m.checkpoint.origin, m.first)));
    }
    let end = m.first + m.entries.len() as u64;
    if m.logged_at.len() != m.entries.len() {
        return Err(Error::InvalidArgument(format!("{} log times for {} entries of {}", m.logged_at.len(), m.entries.len(), m.checkpoint.origin)));
    }
    let mut last_time = match m.first.checked_sub(1) {
        None => i64::MIN,
        Some(last) => log.entered_at(last)?.ok_or_else(|| stored_corrupt(format!("log time of entry {last} of {} missing", m.checkpoint.origin)))?,
    };
    let reaches = if m.prefix_proof.is_some() { end < m.checkpoint.size && end > m.first } else { end == m.checkpoint.size };
    if !reaches {
        return Err(Error::InvalidArgument(format!("{} entries from {} do not fit the checkpoint size {}", m.entries.len(), m.first, m.checkpoint.size)));
    }
    let mut overlay = Overlay::new(log);
    let mut batch = WriteBatch::default();
    let mut licences = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut key_sets: HashMap<String, KeySetView> = HashMap::new();
    let mut agreements = HashMap::new();
    let mut new_agreements = Vec::new();
    let mut map_changes = Vec::new();
    for (offset, ((envelope, checked), &logged_at)) in m.entries.iter().zip(&m.logged_at).enumerate() {
        let index = m.first + offset as u64;
        let id = envelope.id();
        let refused = |reason: String| Error::InvalidArgument(format!("entry {index} of {}: {reason}", m.checkpoint.origin));
        // The root check below proves the times are the origin's; these are its promises.
        if logged_at < last_time || logged_at > m.checkpoint.time {
            return Err(refused(format!(
                "log time {} is before the previous entry's or after its checkpoint's ({})",
                comity_proto::authoring::format_time(logged_at),
                comity_proto::authoring::format_time(m.checkpoint.time)
            )));
        }
        last_time = logged_at;
        // A statement may already be here (relayed by another path): its effects are stored.
        if seen.insert(id) && store.statement(&id)?.is_none() {
            let in_force = |authority: &str| key_sets.get(authority).cloned().or_else(|| trust.key_set(authority).map(|s| (*s).clone()));
            match checked {
                Checked::Decision { decision, signers } => {
                    let d = decision.decision();
                    // Listing and windows are checked in log order at the entry's log time.
                    // Compromise is not: the entry is history either way, and verification flags
                    // or refuses it by when it was logged.
                    check_dated_by_log_time(d.decided_at, logged_at).map_err(refused)?;
                    if let Signers::Refused(reason) = trust.standing_in_history(&d.authority, in_force(&d.authority).as_ref(), signers, logged_at) {
                        return Err(refused(reason));
                    }
                    apply_decision(store, &mut licences, &mut batch, evidence, envelope, decision)?;
                }
                Checked::Restricted { restricted, signers, .. } => {
                    let r = restricted.restricted();
                    check_dated_by_log_time(r.decided_at, logged_at).map_err(refused)?;
                    if let Signers::Refused(reason) = trust.standing_in_history(&r.authority, in_force(&r.authority).as_ref(), signers, logged_at) {
                        return Err(refused(reason));
                    }
                    apply_restricted(store, &mut licences, &mut batch, evidence, envelope, restricted, None)?;
                    if restricted.may_receive(own_origin) {
                        batch.want_body(&id);
                    }
                }
                Checked::KeySet(set) => {
                    let set = trust.check_key_set(envelope, in_force(&set.authority).as_ref()).map_err(|e| refused(e.to_string()))?;
                    batch.put_key_set(&set.authority, &id);
                    key_sets.insert(set.authority.clone(), set);
                }
                Checked::Agreement { agreement, signers } => {
                    let a = agreement.agreement();
                    check_dated_by_log_time(a.issued_at, logged_at).map_err(refused)?;
                    if let Signers::Refused(reason) =
                        trust.standing_in_history(&a.relying_authority, in_force(&a.relying_authority).as_ref(), signers, logged_at)
                    {
                        return Err(refused(reason));
                    }
                    supersedes_agreement(store, &agreements, agreement).map_err(|e| refused(e.to_string()))?;
                    batch.put_agreement(&a.relying_authority, &a.recognised_authority, &a.agreement_id, &id);
                    agreements.insert(agreement_key(agreement), a.version);
                    new_agreements.push(StoredAgreement { id, envelope: envelope.bytes().to_vec(), agreement: agreement.clone() });
                }
            }
            batch.put_statement(&id, envelope.bytes(), None);
            batch.put_mirrored_at(&id, &m.checkpoint.origin, index);
        }
        let hashes = hashes_to_store(index, &entry_leaf_hash(logged_at, envelope.bytes()), &overlay).map_err(stored_corrupt)?;
        overlay.stage(&hashes);
        batch.append_log(&m.checkpoint.origin, index, &id, logged_at, &hashes);
        // Every decision entry moves its licence's head in this log, relayed or not.
        map_changes.extend(licence_map::change_of(envelope));
    }
    let root = tree_root(end, &overlay).map_err(stored_corrupt)?;
    let map_root = store.stage_map(&mut batch, &m.checkpoint.origin, end, &map_changes, None).map_err(stored_corrupt)?.root;
    if let Some(proof) = &m.prefix_proof {
        verify_consistency(proof, end, &root, m.checkpoint.size, &m.checkpoint.root).map_err(|e| {
            Error::InvalidArgument(format!("entries {}..{end} of {} are not a prefix of its signed checkpoint: {e}", m.first, m.checkpoint.origin))
        })?;
        // The checkpoint itself is stored with the last part.
        batch.put_log_size(&m.checkpoint.origin, end);
        return Ok((batch, Installs { key_sets: key_sets.into_values().collect(), agreements: new_agreements }));
    }
    if root != m.checkpoint.root {
        return Err(Error::InvalidArgument(format!("entries {}..{} of {} do not hash to its signed root", m.first, m.checkpoint.size, m.checkpoint.origin)));
    }
    // The map is a pure function of the entries: a log that signs another map root lies about
    // its licences' heads.
    if map_root != m.checkpoint.map_root {
        return Err(Error::InvalidArgument(format!(
            "the licence-state map of {} entries 0..{} has root {}, but its checkpoint signs {}",
            m.checkpoint.origin,
            m.checkpoint.size,
            hex::encode(map_root),
            hex::encode(m.checkpoint.map_root)
        )));
    }
    // Keep the log's signature and the cosignatures this node can verify, nothing else.
    let note = merge_cosignatures(&m.checkpoint.note, &[], witnesses).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    batch.put_checkpoint(&m.checkpoint.origin, m.checkpoint.size, &note);
    stage_cosigned(store, &mut batch, &m.checkpoint.origin, &note, witnesses)?;
    Ok((batch, Installs { key_sets: key_sets.into_values().collect(), agreements: new_agreements }))
}

fn agreement_key(a: &CheckedAgreement) -> (String, String, String) {
    let a = a.agreement();
    (a.relying_authority.clone(), a.recognised_authority.clone(), a.agreement_id.clone())
}

/// An agreement's version must rise above the latest stored (or staged) one of the same agreement.
fn supersedes_agreement(store: &Store, staged: &HashMap<(String, String, String), u64>, agreement: &CheckedAgreement) -> Result<(), Error> {
    let key = agreement_key(agreement);
    let current = match staged.get(&key) {
        Some(v) => Some(*v),
        None => match store.agreement_id(&key.0, &key.1, &key.2)? {
            None => None,
            Some(id) => {
                let bytes = store.statement(&id)?.ok_or_else(|| stored_corrupt(format!("agreement {id} missing")))?;
                match Envelope::parse(bytes).map_err(stored_corrupt)?.statement() {
                    pb::statement::Kind::Agreement(a) => Some(a.version),
                    _ => return Err(stored_corrupt(format!("statement {id} is not an agreement"))),
                }
            }
        },
    };
    match current {
        Some(v) if agreement.agreement().version <= v => {
            Err(Error::FailedPrecondition(format!("{agreement} does not supersede version {v} in force (a later version is needed)")))
        }
        _ => Ok(()),
    }
}

/// Stores a peer's verified entries; a licence fork among them is kept as evidence against
/// the log that carried it, and that log is frozen.
fn ingest_mirror(store: &Store, m: &Mirrored, witnesses: &[WitnessVerifier], trust: &Trust, own_origin: &str) -> Result<(), Error> {
    let mut evidence = Vec::new();
    let error = match stage_mirror(store, m, &mut evidence, witnesses, trust, own_origin) {
        Ok((batch, installs)) => {
            store.commit(batch)?;
            for set in installs.key_sets {
                tracing::info!(origin = %m.checkpoint.origin, authority = %set.authority, version = set.version, "key set in force");
                trust.install(set);
            }
            for agreement in installs.agreements {
                trust.install_agreement(agreement);
            }
            return Ok(());
        }
        Err(e) => e,
    };
    if let Error::Fork(reason) = &error {
        let origin = &m.checkpoint.origin;
        let mut batch = WriteBatch::default();
        for mut e in evidence {
            if let Evidence::LicenceFork { origin: found_in, .. } = &mut e {
                *found_in = Some(origin.clone());
            }
            batch.put_evidence(store.next_evidence_seq()?, &e);
        }
        let reason = format!("the log carries a conflicting decision: {reason}");
        batch.freeze(origin, &reason);
        store.commit(batch)?;
        tracing::error!(%origin, %reason, "licence fork in a mirrored log; evidence stored, origin frozen");
    }
    Err(error)
}

/// Records `note` (verified, with its cosignatures verified) as the latest cosigned checkpoint
/// of `origin` if it carries a cosignature and is not older than the one held.
/// Returns whether it staged a write.
fn stage_cosigned(store: &Store, batch: &mut WriteBatch, origin: &str, note: &str, witnesses: &[WitnessVerifier]) -> Result<bool, Error> {
    if cosigners(note, witnesses).is_empty() {
        return Ok(false);
    }
    let held = store.log(origin).cosigned()?;
    let merged = match &held {
        Some(h) if note_body(h) == note_body(note) => merge_cosignatures(note, &[h], witnesses).map_err(stored_corrupt)?,
        Some(h) if note_size(h) > note_size(note) => return Ok(false),
        _ => note.to_string(),
    };
    let changed = held.as_deref() != Some(merged.as_str());
    if changed {
        batch.put_cosigned(origin, &merged);
    }
    Ok(changed)
}

/// Adds verified cosignatures to the stored notes of checkpoint `note` of `origin`; when
/// `witnessed`, `note` carries this node's own new cosignature, recorded as the last checkpoint
/// it cosigned. Returns the stored latest checkpoint note if it changed (to announce it).
/// True when `note` signs the same tree as `held` (size and root) at a later time. Both notes'
/// log signatures were verified by whoever stored or passed them.
fn is_newer_signing_of(held: &str, note: &str) -> bool {
    use comity_proto::log::stored_checkpoint_fields;
    match (stored_checkpoint_fields(held), stored_checkpoint_fields(note)) {
        (Some((size, root, time)), Some((new_size, new_root, new_time))) => size == new_size && root == new_root && new_time > time,
        _ => false,
    }
}

/// Merges `note`'s verified cosignatures into the stored checkpoint of `origin` (or holds `note`
/// instead when it is the same tree signed later). The caller verified `note`'s log signature.
fn add_cosignatures(store: &Store, origin: &str, note: &str, witnessed: bool, witnesses: &[WitnessVerifier]) -> Result<Option<String>, Error> {
    let log = store.log(origin);
    let mut batch = WriteBatch::default();
    let mut changed = None;
    if let Some(latest) = log.checkpoint()? {
        if note_body(&latest) == note_body(note) {
            let merged = merge_cosignatures(&latest, &[note], witnesses).map_err(stored_corrupt)?;
            if merged != latest {
                batch.put_checkpoint_note(origin, &merged);
                changed = Some(merged);
            }
        } else if is_newer_signing_of(&latest, note) {
            // The log re-signed the same tree (its heartbeat): hold the fresher note, so an idle
            // log does not look stale here.
            let fresh = merge_cosignatures(note, &[], witnesses).map_err(stored_corrupt)?;
            batch.put_checkpoint_note(origin, &fresh);
            changed = Some(fresh);
        }
    }
    let note = merge_cosignatures(note, &[], witnesses).map_err(stored_corrupt)?;
    let mut dirty = stage_cosigned(store, &mut batch, origin, &note, witnesses)? || changed.is_some();
    if witnessed {
        batch.put_witnessed(origin, &note);
        dirty = true;
    }
    if dirty {
        store.commit(batch)?;
    }
    Ok(changed)
}

/// Stores the restricted bodies a peer sent. Each must belong to a stored RestrictedDecision
/// whose audience names this node (or that this node's own log carries), open its commitment,
/// and follow the licence rules after the decisions before it; when an earlier body is still
/// missing, the rules are checked as soon as the chain is complete, on every read.
fn store_bodies(store: &Store, own_origin: &str, openings: Vec<pb::RestrictedOpening>) -> Result<BodiesStored, Error> {
    let mut result = BodiesStored::default();
    let mut opened = Vec::new();
    for opening in openings {
        let Some(id) = StatementId::from_slice(&opening.statement_id) else {
            result.refused.push(format!("a body names no statement id ({} bytes)", opening.statement_id.len()));
            continue;
        };
        match open_body(store, own_origin, &id, opening.body) {
            Ok(Some(found)) => opened.push((id, found)),
            Ok(None) => {}
            Err(reason) => result.refused.push(format!("body of {id}: {reason}")),
        }
    }
    // In chain order, so each is checked after the ones before it.
    opened.sort_by(|(_, (a, _, _)), (_, (b, _, _))| (&a.authority, &a.licence_id, a.version).cmp(&(&b.authority, &b.licence_id, b.version)));
    let mut staged: HashMap<StatementId, pb::RestrictedBody> = HashMap::new();
    let mut batch = WriteBatch::default();
    for (id, (r, body, decision)) in opened {
        let chain = load_chain(store, &r.authority, &r.licence_id, &staged)?;
        let before: Vec<StoredLink> = chain.into_iter().take_while(|l| l.id != id).collect();
        if before.iter().all(StoredLink::readable) {
            let checked = match fold_chain(&before)? {
                None => LicenceState::start(id, &decision),
                Some(state) => state.apply(id, &decision),
            };
            if let Err(e) = checked {
                result.refused.push(format!("body of {id} ({}/{} v{}): breaks the licence rules: {e}", r.authority, r.licence_id, r.version));
                continue;
            }
        }
        batch.put_restricted_body(&id, &body);
        staged.insert(id, body);
        result.stored += 1;
    }
    if result.stored > 0 {
        store.commit(batch)?;
    }
    Ok(result)
}

/// The restricted decision `id` with its `body` and the decision it opens to, when this node
/// may hold it and the body opens its commitment; `None` when the body is already held.
fn open_body(
    store: &Store,
    own_origin: &str,
    id: &StatementId,
    body: Option<pb::RestrictedBody>,
) -> Result<Option<(pb::RestrictedDecision, pb::RestrictedBody, CheckedDecision)>, String> {
    let body = body.ok_or("no body sent")?;
    let stored_err = |e: crate::store::StoreError| e.to_string();
    if store.restricted_body(id).map_err(stored_err)?.is_some() {
        return Ok(None);
    }
    let bytes = store.statement(id).map_err(stored_err)?.ok_or("no such statement is held here")?;
    let envelope = Envelope::parse(bytes).map_err(|e| e.to_string())?;
    let pb::statement::Kind::RestrictedDecision(r) = envelope.statement() else {
        return Err("not a restricted decision".into());
    };
    let checked = CheckedRestricted::try_from(r.clone()).map_err(|e| e.to_string())?;
    let own_log = store.log_index_of(id).map_err(stored_err)?.is_some();
    if !checked.may_receive(own_origin) && !own_log {
        return Err(format!("its audience does not name this node ({own_origin}); not stored"));
    }
    let decision = checked.open(&body).map_err(|e| e.to_string())?;
    Ok(Some((r.clone(), body, decision)))
}

fn record_split_view(store: &Store, evidence: &Evidence) -> Result<(), Error> {
    let Evidence::SplitView { origin, reason, second_checkpoint, .. } = evidence else {
        return Err(Error::InvalidArgument("not split-view evidence".into()));
    };
    let known = store.evidence()?.iter().any(|e| matches!(e, Evidence::SplitView { second_checkpoint: s, .. } if s == second_checkpoint));
    let mut batch = WriteBatch::default();
    if !known {
        batch.put_evidence(store.next_evidence_seq()?, evidence);
    }
    batch.freeze(origin, reason);
    store.commit(batch)?;
    tracing::error!(%origin, %reason, "split view: two signed checkpoints that cannot both be true; evidence stored, origin frozen");
    Ok(())
}

/// The summary the writer stores for a licence, re-derived from its logged chain: `None` when
/// it has no decisions and for a confidential licence (those get no summary). For the offline
/// `comity-node check`.
pub fn derived_summary(store: &Store, authority: &str, licence_id: &str) -> Result<Option<pb::LicenceSummary>, Error> {
    let chain = load_chain(store, authority, licence_id, &HashMap::new())?;
    if chain.first().is_none_or(|l| l.restricted.is_some()) {
        return Ok(None);
    }
    Ok(fold_readable(&chain)?.map(|s| s.decided_summary()))
}

/// The state of a stored chain, or `None` when it is empty or holds a decision not readable
/// here (a confidential licence outside its audience, or a body not received yet).
fn fold_readable(chain: &[StoredLink]) -> Result<Option<LicenceState>, Error> {
    if chain.iter().all(StoredLink::readable) {
        fold_chain(chain)
    } else {
        Ok(None)
    }
}

/// Folds a stored chain whose decisions are all readable here. Stored decisions passed these
/// checks on the way in, so a failure here means the store was damaged.
pub(crate) fn fold_chain(chain: &[StoredLink]) -> Result<Option<LicenceState>, Error> {
    let checked: Vec<(StatementId, CheckedDecision)> =
        chain.iter().map(|link| CheckedDecision::try_from(link.decision.clone()).map(|c| (link.id, c)).map_err(stored_corrupt)).collect::<Result<_, _>>()?;
    comity_proto::rules::fold(checked.iter().map(|(id, c)| (*id, c))).map_err(stored_corrupt)
}

/// A validly signed decision (or restricted decision) for a version that already has another
/// one: keep both as evidence and refuse the second.
fn record_fork(
    store: &Store,
    licence: &Pending,
    evidence: &mut Vec<Evidence>,
    envelope: &Envelope,
    authority: &str,
    licence_id: &str,
    version: u64,
) -> Result<Error, Error> {
    let first = match licence.staged.get(&version) {
        Some((_, bytes)) => bytes.clone(),
        None => {
            let first_id = store
                .decision_id(authority, licence_id, version)?
                .ok_or_else(|| stored_corrupt(format!("version {version} of {authority}/{licence_id} missing")))?;
            store.statement(&first_id)?.ok_or_else(|| stored_corrupt(format!("statement {first_id} missing")))?
        }
    };
    let second = hex::encode(envelope.bytes());
    let known =
        store.evidence()?.iter().chain(evidence.iter()).any(|e| matches!(e, Evidence::LicenceFork { second_envelope, .. } if *second_envelope == second));
    if !known {
        evidence.push(Evidence::LicenceFork {
            authority: authority.to_string(),
            licence_id: licence_id.to_string(),
            version,
            first_envelope: hex::encode(&first),
            second_envelope: second,
            detected_at: now(),
            origin: None,
        });
    }
    tracing::error!(authority = %authority, licence = %licence_id, version, first = %StatementId::of(&first), second = %envelope.id(), "fork: two signed decisions for one licence version; evidence recorded");
    Ok(Error::Fork(format!(
        "version {version} of {authority}/{licence_id} is already decided by statement {}; this conflicting, validly signed decision was recorded as evidence",
        StatementId::of(&first)
    )))
}
