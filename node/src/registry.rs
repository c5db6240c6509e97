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
use comity_proto::pb;
use comity_proto::rules::{LicenceState, RuleError};
use comity_proto::statement::{Envelope, StatementId};
use ed25519_dalek::VerifyingKey;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::error::Error;
use crate::store::{Evidence, SearchPage, SearchQuery, Store, WriteBatch};

/// Current Unix time in seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The result of a publish.
#[derive(Debug, Clone)]
pub struct Published {
    pub id: StatementId,
    /// The exact envelope was already stored; nothing was written.
    pub already_present: bool,
    /// The licence after the decision.
    pub licence: LicenceState,
}

/// A licence with its decision chain.
#[derive(Debug, Clone)]
pub struct LicenceView {
    pub state: LicenceState,
    /// (id, envelope bytes, decision) in version order.
    pub chain: Vec<(StatementId, Vec<u8>, pb::Decision)>,
}

struct Job {
    envelope: Envelope,
    decision: CheckedDecision,
    reply: oneshot::Sender<Result<Published, Error>>,
}

/// Publishing and reading licences.
#[derive(Clone)]
pub struct Registry {
    store: Store,
    authority_keys: Arc<HashMap<String, Vec<VerifyingKey>>>,
    writer: mpsc::Sender<Job>,
    writer_thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Registry {
    /// Starts the writer thread over `store`, accepting the authorities configured in `config`.
    pub fn start(store: Store, config: &Config) -> Self {
        let authority_keys = config
            .authorities
            .iter()
            .map(|a| (a.id.clone(), config.authority_keys(&a.id).unwrap_or_default()))
            .collect();
        let max_batch = config.limits.max_publish_batch;
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let writer_store = store.clone();
        let writer_thread = thread::Builder::new()
            .name("comity-writer".into())
            .spawn(move || writer_loop(writer_store, rx, max_batch))
            .expect("spawn writer thread");
        Self {
            store,
            authority_keys: Arc::new(authority_keys),
            writer: tx,
            writer_thread: Arc::new(Mutex::new(Some(writer_thread))),
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

    /// The underlying store (read-only use).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Verifies and durably stores one envelope.
    pub async fn publish(&self, envelope: Vec<u8>) -> Result<Published, Error> {
        let envelope = Envelope::parse(envelope)?;
        let decision = match envelope.statement() {
            pb::statement::Kind::Decision(d) => CheckedDecision::try_from(d.clone())?,
            pb::statement::Kind::KeySet(_) | pb::statement::Kind::Agreement(_) => {
                return Err(Error::Unimplemented("only decisions can be published; key sets and agreements are not supported yet".into()))
            }
        };
        let authority = &decision.decision().authority;
        let keys = self
            .authority_keys
            .get(authority)
            .ok_or_else(|| Error::PermissionDenied(format!("authority `{authority}` is not hosted by this node")))?;
        envelope.verify(|key_id| keys.iter().find(|k| comity_proto::statement::key_id(k) == key_id).copied())?;

        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Job { envelope, decision, reply })
            .await
            .map_err(|_| Error::Unavailable("node is shutting down".into()))?;
        answer.await.map_err(|_| Error::Unavailable("writer stopped before answering".into()))?
    }

    /// A licence's state and chain, or `None` when no decision exists.
    pub fn licence(&self, authority: &str, licence_id: &str) -> Result<Option<LicenceView>, Error> {
        let chain = load_chain(&self.store, authority, licence_id)?;
        let checked: Vec<(StatementId, CheckedDecision)> = chain
            .iter()
            .map(|(id, _, d)| CheckedDecision::try_from(d.clone()).map(|c| (*id, c)).map_err(stored_corrupt))
            .collect::<Result<_, _>>()?;
        let state = comity_proto::rules::fold(checked.iter().map(|(id, c)| (*id, c))).map_err(stored_corrupt)?;
        Ok(state.map(|state| LicenceView { state, chain }))
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
fn stored_corrupt(e: impl std::fmt::Display) -> Error {
    Error::Store(crate::store::StoreError::Corrupt { table: "statement", detail: e.to_string() })
}

fn load_chain(store: &Store, authority: &str, licence_id: &str) -> Result<Vec<(StatementId, Vec<u8>, pb::Decision)>, Error> {
    store
        .chain_ids(authority, licence_id)?
        .into_iter()
        .map(|id| {
            let bytes = store.statement(&id)?.ok_or_else(|| stored_corrupt(format!("statement {id} missing")))?;
            let env = Envelope::parse(bytes.clone()).map_err(stored_corrupt)?;
            let decision = env.decision().cloned().ok_or_else(|| stored_corrupt(format!("statement {id} is not a decision")))?;
            Ok((id, bytes, decision))
        })
        .collect()
}

/// A licence as the current batch sees it.
struct Pending {
    state: Option<LicenceState>,
    /// Decisions of this licence staged in the current batch, by version.
    staged: HashMap<u64, (StatementId, Vec<u8>)>,
}

fn writer_loop(store: Store, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let mut batch = WriteBatch::default();
        let mut pending: HashMap<(String, String), Pending> = HashMap::new();
        let mut writes = false;
        let results: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                let result = stage(&store, &mut pending, &mut batch, &job);
                writes |= matches!(&result, Ok(p) if !p.already_present) || matches!(&result, Err(Error::Fork(_)));
                (job.reply, result)
            })
            .collect();
        let committed = if writes { store.commit(batch) } else { Ok(()) };
        let count = results.len();
        for (reply, result) in results {
            let result = match (&committed, result) {
                (Err(e), Ok(p)) if !p.already_present => Err(Error::Unavailable(format!("storage write failed, nothing was stored: {e}"))),
                (_, r) => r,
            };
            // The client may have gone; the data is stored either way.
            let _ = reply.send(result);
        }
        if let Err(e) = committed {
            tracing::error!(error = %e, batch = count, "commit failed");
        } else if writes {
            tracing::debug!(batch = count, "committed publish batch");
        }
    }
}

/// Checks one job against the licence state and stages its writes.
fn stage(
    store: &Store,
    pending: &mut HashMap<(String, String), Pending>,
    batch: &mut WriteBatch,
    job: &Job,
) -> Result<Published, Error> {
    let d = job.decision.decision();
    let id = job.envelope.id();
    let key = (d.authority.clone(), d.licence_id.clone());
    if !pending.contains_key(&key) {
        let state = fold_stored(store, &d.authority, &d.licence_id)?;
        pending.insert(key.clone(), Pending { state, staged: HashMap::new() });
    }
    let licence = pending.get_mut(&key).expect("inserted above");

    let already = licence.staged.get(&d.version).is_some_and(|(s, _)| *s == id) || store.has_statement(&id)?;
    if already {
        let state = licence.state.clone().ok_or_else(|| stored_corrupt(format!("statement {id} stored without its licence")))?;
        return Ok(Published { id, already_present: true, licence: state });
    }

    let next = match &licence.state {
        None => LicenceState::start(id, &job.decision),
        Some(s) => s.apply(id, &job.decision),
    };
    let next = match next {
        Ok(n) => n,
        Err(RuleError::VersionTaken { .. }) => return Err(record_fork(store, licence, batch, job)?),
        Err(e) => return Err(e.into()),
    };
    let old = licence.state.as_ref().map(LicenceState::decided_summary);
    batch.put_statement(&id, job.envelope.bytes());
    batch.put_decision(&d.authority, &d.licence_id, d.version, &id);
    batch.put_licence(old.as_ref(), &next.decided_summary());
    licence.staged.insert(d.version, (id, job.envelope.bytes().to_vec()));
    licence.state = Some(next.clone());
    tracing::info!(authority = %d.authority, licence = %d.licence_id, version = d.version, action = job.decision.action().as_str_name(), id = %id, "decision accepted");
    Ok(Published { id, already_present: false, licence: next })
}

fn fold_stored(store: &Store, authority: &str, licence_id: &str) -> Result<Option<LicenceState>, Error> {
    let chain = load_chain(store, authority, licence_id)?;
    let checked: Vec<(StatementId, CheckedDecision)> = chain
        .into_iter()
        .map(|(id, _, d)| CheckedDecision::try_from(d).map(|c| (id, c)).map_err(stored_corrupt))
        .collect::<Result<_, _>>()?;
    comity_proto::rules::fold(checked.iter().map(|(id, c)| (*id, c))).map_err(stored_corrupt)
}

/// A validly signed decision for a version that already has another one: keep both as
/// evidence and refuse the second.
fn record_fork(store: &Store, licence: &Pending, batch: &mut WriteBatch, job: &Job) -> Result<Error, Error> {
    let d = job.decision.decision();
    let first = match licence.staged.get(&d.version) {
        Some((_, bytes)) => bytes.clone(),
        None => {
            let first_id = store
                .decision_id(&d.authority, &d.licence_id, d.version)?
                .ok_or_else(|| stored_corrupt(format!("version {} of {}/{} missing", d.version, d.authority, d.licence_id)))?;
            store.statement(&first_id)?.ok_or_else(|| stored_corrupt(format!("statement {first_id} missing")))?
        }
    };
    let evidence = Evidence {
        kind: "licence_fork".into(),
        authority: d.authority.clone(),
        licence_id: d.licence_id.clone(),
        version: d.version,
        first_envelope: hex::encode(&first),
        second_envelope: hex::encode(job.envelope.bytes()),
        detected_at: now(),
    };
    let known = store.evidence()?.iter().any(|e| e.second_envelope == evidence.second_envelope);
    if !known {
        batch.put_evidence(store.next_evidence_seq()?, &evidence);
    }
    tracing::error!(authority = %d.authority, licence = %d.licence_id, version = d.version, first = %StatementId::of(&first), second = %job.envelope.id(), "fork: two signed decisions for one licence version; evidence recorded");
    Ok(Error::Fork(format!(
        "version {} of {}/{} is already decided by statement {}; this conflicting, validly signed decision was recorded as evidence",
        d.version,
        d.authority,
        d.licence_id,
        StatementId::of(&first)
    )))
}
