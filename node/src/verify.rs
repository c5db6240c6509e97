//! `Registry.Verify`: gathers what the store holds about a licence (every byte of it verified
//! when it was stored), asks `comity_proto::verdict::judge` for the verdict, and adds a proof
//! bundle a partner can check without trusting this node. No signature is verified here.

use std::collections::HashMap;

use comity_proto::log::{prove_inclusion, stored_checkpoint_fields, TreeHash};
use comity_proto::pb;
use comity_proto::recognition::{CheckedAgreement, Context};
use comity_proto::statement::StatementId;
use comity_proto::verdict::{judge, Facts, Link, Question};

use crate::error::Error;
use crate::registry::{Registry, StoredLink};
use crate::store::{Evidence, Store};
use crate::trust::StoredAgreement;

/// Answers `q` at time `now`.
pub fn verify(registry: &Registry, q: &Question, default_max_staleness_secs: u64, now: i64) -> Result<pb::VerifyResponse, Error> {
    let store = registry.store();
    let trust = registry.trust();
    let chain = registry.chain(&q.authority, &q.licence_id)?;
    let mut logs = LogViews::default();
    let mut locations: HashMap<StatementId, (String, u64)> = HashMap::new();

    let mut links = Vec::with_capacity(chain.len());
    let mut origins: Vec<String> = Vec::new();
    for link in &chain {
        let location = store.location_of(&link.id)?;
        let logged_at = match &location {
            Some((origin, index)) => store.log(origin).entered_at(*index)?,
            None => None,
        };
        if let Some((origin, index)) = location {
            if !origins.contains(&origin) {
                origins.push(origin.clone());
            }
            locations.insert(link.id, (origin, index));
        }
        links.push(Link { id: link.id, decision: link.decision.clone(), key_ids: link.key_ids.clone(), logged_at });
    }

    let in_force = trust.agreements();
    let agreements: Vec<&StoredAgreement> = in_force.iter().filter(|a| a.agreement.agreement().relying_authority == q.relying_authority).collect();
    let checked: Vec<&CheckedAgreement> = agreements.iter().map(|a| &a.agreement).collect();
    let key_set = trust.key_set(&q.authority);
    // The issuer's log is the one carrying its latest decision; heard from = that log's newest checkpoint.
    let log_heard_at = match origins.last() {
        Some(origin) => logs.latest(store, origin)?.map(|(_, _, time)| time),
        None => None,
    };
    let facts = Facts {
        issuer_trusted: trust.knows(&q.authority),
        key_set: key_set.as_deref(),
        chain: &links,
        fork: fork_of(store, &q.authority, &q.licence_id, &origins)?,
        agreements: &checked,
        log_heard_at,
        default_max_staleness_secs,
        now,
        withheld: withheld_reason(&chain, registry.origin()),
    };
    let judgement = judge(q, &facts);

    // The statements of the proof: the chain, the issuer's key set, the agreement applied and
    // the relying authority's key set (so the agreement's signature can be checked offline).
    let mut statements: Vec<(StatementId, Vec<u8>)> = chain.iter().map(|l| (l.id, l.envelope.clone())).collect();
    let agreement = judgement.agreement.map(|i| agreements[i]);
    let mut key_sets = vec![key_set];
    if let Some(a) = agreement {
        statements.push((a.id, a.envelope.clone()));
        key_sets.push(trust.key_set(&q.relying_authority));
    }
    for set in key_sets.into_iter().flatten() {
        if let Some(bytes) = store.statement(&set.id)? {
            statements.push((set.id, bytes));
        }
    }
    let mut proof = proof_bundle(store, &mut logs, &locations, statements, now)?;
    proof.openings = chain.iter().filter_map(StoredLink::opening).collect();
    Ok(pb::VerifyResponse {
        verdict: judgement.verdict as i32,
        reasons: judgement.reasons,
        warnings: judgement.warnings,
        licence: judgement.state.as_ref().map(|s| s.summary_at(q.context.at)),
        chain: links.into_iter().map(|link| pb::ChainLink { statement_id: link.id.0.to_vec(), envelope: Vec::new(), decision: Some(link.decision) }).collect(),
        agreement: agreement.map(|a| a.envelope.clone()).unwrap_or_default(),
        proof: Some(proof),
        checked_at: now,
    })
}

/// Why a confidential licence cannot be judged here, when it cannot: this node is not in the
/// audience of one of its decisions, or has not received that decision yet.
fn withheld_reason(chain: &[StoredLink], own_origin: &str) -> Option<String> {
    let hidden = chain.iter().find(|l| !l.readable())?;
    let audience = &hidden.restricted.as_ref()?.audience;
    Some(if audience.iter().any(|a| a == own_origin) {
        format!("this node ({own_origin}) is in its audience but has not received decision v{} yet; ask again shortly", hidden.decision.version)
    } else {
        format!("its decisions are shared only with {}; this node ({own_origin}) is not among them", audience.join(", "))
    })
}

/// A stored checkpoint note with its (size, root, time).
type Note = (String, (u64, TreeHash, i64));

/// The checkpoint notes of the logs one answer uses, read once each.
#[derive(Default)]
struct LogViews {
    notes: HashMap<String, Vec<Note>>,
}

impl LogViews {
    /// The cosigned and the latest checkpoint of `origin`, cosigned first.
    fn notes(&mut self, store: &Store, origin: &str) -> Result<&[Note], Error> {
        if !self.notes.contains_key(origin) {
            let log = store.log(origin);
            let notes = [log.cosigned()?, log.checkpoint()?].into_iter().flatten().filter_map(|n| stored_checkpoint_fields(&n).map(|f| (n, f))).collect();
            self.notes.insert(origin.to_string(), notes);
        }
        Ok(&self.notes[origin])
    }

    /// (size, root, time) of the newest checkpoint held of `origin`.
    fn latest(&mut self, store: &Store, origin: &str) -> Result<Option<(u64, TreeHash, i64)>, Error> {
        Ok(self.notes(store, origin)?.iter().map(|(_, f)| *f).max_by_key(|(size, _, time)| (*size, *time)))
    }
}

/// Each statement with a receipt: its place in its log (from `known`, else the store), proven
/// against the cosigned checkpoint of that log when it covers it, else the latest.
fn proof_bundle(store: &Store, logs: &mut LogViews, known: &HashMap<StatementId, (String, u64)>, statements: Vec<(StatementId, Vec<u8>)>, now: i64) -> Result<pb::ProofBundle, Error> {
    let mut bundle = pb::ProofBundle::default();
    let mut oldest = now;
    for (id, bytes) in statements {
        let (origin, index) = match known.get(&id) {
            Some(location) => location.clone(),
            None => store.location_of(&id)?.ok_or_else(|| corrupt(format!("statement {id} is in no log")))?,
        };
        let (note, (size, _, time)) = logs
            .notes(store, &origin)?
            .iter()
            .find(|(_, (size, _, _))| *size > index)
            .cloned()
            .ok_or_else(|| corrupt(format!("no checkpoint of {origin} covers entry {index}")))?;
        oldest = oldest.min(time);
        let hashes = prove_inclusion(size, index, &store.log(&origin)).map_err(corrupt)?;
        bundle.receipts.push(pb::Receipt {
            origin,
            index,
            leaf_hash: comity_proto::log::leaf_hash(&bytes).to_vec(),
            checkpoint: note,
            inclusion_proof: hashes.into_iter().map(|h| h.to_vec()).collect(),
        });
        bundle.statements.push(bytes);
    }
    bundle.checkpoint_age_secs = now - oldest;
    Ok(bundle)
}

/// Why the licence cannot be relied on: fork evidence against it, or a frozen log carrying it.
fn fork_of(store: &Store, authority: &str, licence_id: &str, origins: &[String]) -> Result<Option<String>, Error> {
    for e in store.evidence()? {
        if let Evidence::LicenceFork { authority: a, licence_id: l, version, .. } = &e {
            if a == authority && l == licence_id {
                return Ok(Some(format!("two different signed decisions exist for version {version} (evidence held, see `comity evidence`)")));
            }
        }
    }
    let frozen: HashMap<String, String> = store.frozen_logs()?.into_iter().collect();
    for origin in origins {
        if let Some(reason) = frozen.get(origin) {
            return Ok(Some(format!("the log {origin} carrying it is frozen: {reason}")));
        }
    }
    Ok(None)
}

/// The question a request asks, with its context fields checked (the licence reference is
/// checked by the service, as for GetLicence).
pub fn question(r: pb::VerifyRequest, now: i64) -> Result<Question, Error> {
    let bad = |m: String| Error::InvalidArgument(m);
    if !comity_proto::decision::is_authority_id(&r.relying_authority) {
        return Err(bad(format!("relying_authority: `{}` is not a lowercase dotted id like jp.meti", r.relying_authority)));
    }
    if !r.destination.is_empty() && !comity_proto::codes::is_country(&r.destination) {
        return Err(bad(format!("destination: `{}` is not an ISO 3166-1 alpha-2 code like JP", r.destination)));
    }
    if !r.control_code.is_empty() && !r.control_code.contains(':') {
        return Err(bad(format!("control_code: `{}` needs its regime, like EU-DU:3A001.a.1", r.control_code)));
    }
    if r.end_user.chars().count() > 300 {
        return Err(bad("end_user: longer than 300 characters".into()));
    }
    let nonempty = |s: String| (!s.is_empty()).then_some(s);
    Ok(Question {
        authority: r.authority,
        licence_id: r.licence_id,
        relying_authority: r.relying_authority,
        context: Context { destination: nonempty(r.destination), control_code: nonempty(r.control_code), end_user: nonempty(r.end_user), at: if r.at == 0 { now } else { r.at } },
    })
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Store(crate::store::StoreError::Corrupt { table: "statement", detail: e.to_string() })
}
