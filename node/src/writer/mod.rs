//! The registry: licence rules applied to storage.
//!
//! Stateless checks (envelope, fields, signature) run in the caller's task, in parallel.
//! Stateful checks and writes run on one writer thread, which takes every publish waiting in
//! its queue, checks them in order against the stored licences plus the earlier ones of the
//! same batch, commits them in one atomic batch with one flush, and only then answers them all
//! (group commit: many publishes share one fsync).
//!
//! [`Registry`] is the handle every service holds: it queues work for the writer thread and
//! answers reads from the store. The thread's loop is in `group_commit`; staging a publish in
//! `stage`, a mirrored part (mirror round, import, recovery) in `mirrored`, cosignatures in
//! `cosign` and confidential bodies received from peers in `bodies`. The read side (licence
//! chains as stored) is [`crate::chain`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use comity_proto::catalogue::{ControlList, Crosswalk};
use comity_proto::checked::CheckedStatement;
use comity_proto::consultation::Consultation;
use comity_proto::decision::CheckedDecision;
use comity_proto::end_use_check::CheckedEndUseCheck;
use comity_proto::log::SignedCheckpoint;
use comity_proto::pb;
use comity_proto::recognition::CheckedAgreement;
use comity_proto::restricted::CheckedRestricted;
use comity_proto::rules::LicenceState;
use comity_proto::ruling::Ruling;
use comity_proto::screening::ScreeningList;
use comity_proto::statement::{Envelope, StatementId};
use comity_proto::trust::KeySetView;
use comity_proto::witness::WitnessVerifier;
use ed25519_dalek::VerifyingKey;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::chain::{fold_readable, load_chain, LicenceView, StoredLink};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::Error;
use crate::log::NodeLog;
use crate::store::{Evidence, SearchPage, SearchQuery, Store};
use crate::trust::Trust;
use group_commit::{receipt_for, writer_loop};
use stage::Staged;

mod bodies;
mod cosign;
mod group_commit;
mod mirrored;
mod re_export;
mod stage;

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
    /// A control-list version, with the keys of its publisher that signed it.
    ControlList { list: ControlList, signers: Vec<VerifyingKey> },
    /// A crosswalk version, with the keys of its publisher that signed it.
    Crosswalk { crosswalk: Crosswalk, signers: Vec<VerifyingKey> },
    /// A screening-list version, with the keys of its publisher that signed it.
    ScreeningList { list: ScreeningList, signers: Vec<VerifyingKey> },
    /// A consultation request or answer, with the keys of its authority that signed it.
    Consultation { consultation: Consultation, signers: Vec<VerifyingKey> },
    /// A post-shipment verification's outcome, with the keys of its authority that signed it.
    EndUseCheck { check: CheckedEndUseCheck, signers: Vec<VerifyingKey> },
    /// A classification-ruling version, with the keys of its issuer that signed it.
    Ruling { ruling: Ruling, signers: Vec<VerifyingKey> },
}

impl Checked {
    /// The same statement, signed by `signers` (known only once checked).
    pub fn signed_by(self, signers: Vec<VerifyingKey>) -> Self {
        match self {
            Checked::Decision { decision, .. } => Checked::Decision { decision, signers },
            Checked::Agreement { agreement, .. } => Checked::Agreement { agreement, signers },
            Checked::Restricted { restricted, body, .. } => Checked::Restricted { restricted, body, signers },
            Checked::ControlList { list, .. } => Checked::ControlList { list, signers },
            Checked::Crosswalk { crosswalk, .. } => Checked::Crosswalk { crosswalk, signers },
            Checked::ScreeningList { list, .. } => Checked::ScreeningList { list, signers },
            Checked::Consultation { consultation, .. } => Checked::Consultation { consultation, signers },
            Checked::EndUseCheck { check, .. } => Checked::EndUseCheck { check, signers },
            Checked::Ruling { ruling, .. } => Checked::Ruling { ruling, signers },
            key_set @ Checked::KeySet(_) => key_set,
        }
    }

    /// The role the keys signing the statement must have: CUSTOMS for a write-off, else LICENSING.
    pub fn role(&self) -> pb::KeyRole {
        match self {
            Checked::Decision { decision, .. } => comity_proto::usage::signing_role(decision.decision()),
            _ => pb::KeyRole::Licensing,
        }
    }

    /// For a statement signed by its authority's signing keys (anything but a key set): that
    /// authority, the keys that signed, the role they need and the date the signer wrote on it.
    fn signed(&self) -> Option<crate::trust::Signed<'_>> {
        let (authority, signers, dated): (&str, &[VerifyingKey], i64) = match self {
            Checked::Decision { decision, signers } => (comity_proto::usage::signing_authority(decision.decision()), signers, decision.decision().decided_at),
            Checked::Restricted { restricted, signers, .. } => (&restricted.restricted().authority, signers, restricted.restricted().decided_at),
            Checked::Agreement { agreement, signers } => (&agreement.agreement().relying_authority, signers, agreement.agreement().issued_at),
            Checked::ControlList { list, signers } => (&list.list().authority, signers, list.list().issued_at),
            Checked::Crosswalk { crosswalk, signers } => (&crosswalk.crosswalk().authority, signers, crosswalk.crosswalk().issued_at),
            Checked::ScreeningList { list, signers } => (&list.list().authority, signers, list.list().issued_at),
            Checked::Consultation { consultation, signers } => (consultation.authority(), signers, consultation.issued_at()),
            Checked::EndUseCheck { check, signers } => (&check.check().authority, signers, check.check().issued_at),
            Checked::Ruling { ruling, signers } => (&ruling.ruling().authority, signers, ruling.ruling().issued_at),
            Checked::KeySet(_) => return None,
        };
        Some(crate::trust::Signed { authority, signers, role: self.role(), dated })
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
    /// The node's wall clock.
    clock: Clock,
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
    /// Cosignatures by `witnesses` are kept with checkpoints; others are dropped. Log times,
    /// checkpoint staleness and everything else the node dates come from `clock`.
    pub fn start(store: Store, config: &Config, log: NodeLog, witnesses: Vec<WitnessVerifier>, trust: Arc<Trust>, clock: Clock) -> Self {
        let writer_trust = trust.clone();
        let max_batch = config.limits.max_publish_batch;
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let writer_store = store.clone();
        let origin: Arc<str> = log.origin().into();
        let (checkpoints, _) = broadcast::channel(CHECKPOINT_BUFFER);
        let (changed, changes) = watch::channel(0);
        let announce = Announce { checkpoints: checkpoints.clone(), changed };
        let writer_clock = clock.clone();
        let writer_thread = thread::Builder::new()
            .name("comity-writer".into())
            .spawn(move || writer_loop(writer_store, rx, max_batch, log, announce, witnesses, writer_trust, writer_clock))
            .expect("spawn writer thread");
        Self { store, origin, trust, writer: tx, writer_thread: Arc::new(Mutex::new(Some(writer_thread))), checkpoints, changes, clock }
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

    /// The underlying store (read-only use).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The node's wall clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
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
        // A key set of an authority not hosted here is refused before its contents are read.
        if let pb::statement::Kind::KeySet(set) = envelope.statement() {
            if !self.trust.hosts(&set.authority) {
                return Err(not_hosted(&set.authority));
            }
        }
        let statement = CheckedStatement::try_from(&envelope).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        // The keys of hosted `authority` that signed the envelope.
        let signed_by_hosted = |authority: &str| -> Result<Vec<VerifyingKey>, Error> {
            if !self.trust.hosts(authority) {
                return Err(not_hosted(authority));
            }
            Ok(envelope.verify_with(&self.trust.candidate_keys(authority))?)
        };
        let checked = match statement {
            // A write-off is published at the licence issuer's node and signed by a customs key
            // of the reporting authority (judged with its role on the writer).
            CheckedStatement::Decision(decision) if decision.action() == pb::Action::WriteOff => {
                let d = decision.decision();
                if !self.trust.hosts(&d.authority) {
                    return Err(Error::PermissionDenied(format!(
                        "licence {}/{} is not issued here: customs write shipments off at the issuer's node (authority `{}` is not hosted by this node)",
                        d.authority, d.licence_id, d.authority
                    )));
                }
                if !self.trust.knows(&d.reported_by) {
                    return Err(Error::PermissionDenied(format!(
                        "reported_by: authority `{}` is not trusted here, so its customs keys are unknown",
                        d.reported_by
                    )));
                }
                let signers = envelope.verify_with(&self.trust.candidate_keys(&d.reported_by))?;
                Checked::Decision { decision, signers }
            }
            CheckedStatement::Decision(decision) => {
                let signers = signed_by_hosted(&decision.decision().authority)?;
                Checked::Decision { decision, signers }
            }
            // Signatures here; the version against the set in force on the writer.
            CheckedStatement::KeySet(set) => Checked::KeySet(self.trust.verify_key_set(&envelope, set, None)?),
            CheckedStatement::Agreement(agreement) => {
                let signers = signed_by_hosted(&agreement.agreement().relying_authority)?;
                Checked::Agreement { agreement, signers }
            }
            CheckedStatement::ControlList(list) => {
                let signers = signed_by_hosted(&list.list().authority)?;
                Checked::ControlList { list, signers }
            }
            CheckedStatement::Crosswalk(crosswalk) => {
                let signers = signed_by_hosted(&crosswalk.crosswalk().authority)?;
                Checked::Crosswalk { crosswalk, signers }
            }
            CheckedStatement::ScreeningList(list) => {
                let signers = signed_by_hosted(&list.list().authority)?;
                Checked::ScreeningList { list, signers }
            }
            CheckedStatement::Consultation(consultation) => {
                let signers = signed_by_hosted(consultation.authority())?;
                Checked::Consultation { consultation, signers }
            }
            CheckedStatement::EndUseCheck(check) => {
                let signers = signed_by_hosted(&check.check().authority)?;
                Checked::EndUseCheck { check, signers }
            }
            CheckedStatement::Ruling(ruling) => {
                let signers = signed_by_hosted(&ruling.ruling().authority)?;
                Checked::Ruling { ruling, signers }
            }
            CheckedStatement::Restricted(restricted) => {
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

        // The no-undercut rule (docs/consultation.md) against the denials held as the grant
        // arrives: on the caller's task, since the writer thread that every publish shares
        // would otherwise score each grant's end users against partners' denials.
        if let Checked::Decision { decision, .. } = &checked {
            if history.is_none() && decision.action() == pb::Action::Grant {
                crate::consultation::check_grant(&self.store, &self.trust, decision.decision())?;
            }
        }
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

    /// Stores evidence that log `origin` signed two checkpoints that cannot both be true (dated
    /// now, with `reason`) and freezes it: no further ingest until an operator clears it
    /// (`comity-node unfreeze`). Returns the refusal for whoever sent the second.
    pub async fn split_view(&self, origin: &str, first_checkpoint: String, second_checkpoint: String, reason: String) -> Result<String, Error> {
        let refusal = format!("split view of {origin}: {reason}; evidence stored, log frozen");
        let evidence = Evidence::SplitView { origin: origin.into(), first_checkpoint, second_checkpoint, reason, detected_at: self.clock.now() };
        self.ask(|reply| Work::SplitView(Box::new(evidence), reply)).await?;
        Ok(refusal)
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
        Ok(self.store.search(query, self.clock.now())?)
    }

    /// Recorded evidence.
    pub fn evidence(&self) -> Result<Vec<Evidence>, Error> {
        Ok(self.store.evidence()?)
    }
}
