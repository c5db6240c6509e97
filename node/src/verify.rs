//! `Registry.Verify`: gathers what the store holds about a licence (every byte of it verified
//! when it was stored), asks `comity_proto::verdict::judge` for the verdict, and adds a proof
//! bundle a partner can check without trusting this node. No signature is verified here.

use std::collections::HashMap;

use comity_proto::log::{prove_inclusion, stored_checkpoint_fields};
use comity_proto::pb;
use comity_proto::recognition::{CheckedAgreement, Context};
use comity_proto::statement::{Envelope, StatementId};
use comity_proto::verdict::{judge, Facts, Link, Question};

use crate::error::Error;
use crate::registry::Registry;
use crate::store::{Evidence, Store};

/// Answers `q` at time `now`.
pub fn verify(registry: &Registry, q: &Question, default_max_staleness_secs: u64, now: i64) -> Result<pb::VerifyResponse, Error> {
    let store = registry.store();
    let trust = registry.trust();
    let view = registry.licence(&q.authority, &q.licence_id)?;
    let chain_raw = view.map(|v| v.chain).unwrap_or_default();

    let mut links = Vec::with_capacity(chain_raw.len());
    let mut origins = Vec::new();
    for (id, bytes, decision) in &chain_raw {
        let envelope = Envelope::parse(bytes.clone()).map_err(corrupt)?;
        let location = store.location_of(id)?;
        let logged_at = match &location {
            Some((origin, index)) => store.log(origin).entered_at(*index)?,
            None => None,
        };
        if let Some((origin, _)) = &location {
            if !origins.contains(origin) {
                origins.push(origin.clone());
            }
        }
        links.push(Link { id: *id, decision: decision.clone(), key_ids: envelope.key_ids().map(str::to_string).collect(), logged_at });
    }

    let agreements = agreements_in_force(store, Some(&q.relying_authority))?;
    let key_set = trust.key_set(&q.authority);
    // The issuer's log is the one carrying its latest decision; heard from = that log's newest checkpoint.
    let issuer_log = origins.last().cloned();
    let log_heard_at = match &issuer_log {
        Some(origin) => store.log(origin).checkpoint()?.and_then(|note| stored_checkpoint_fields(&note)).map(|(_, _, time)| time),
        None => None,
    };
    let facts = Facts {
        issuer_trusted: trust.knows(&q.authority),
        key_set: key_set.as_deref(),
        chain: &links,
        fork: fork_of(store, &q.authority, &q.licence_id, &origins)?,
        agreements: &agreements.iter().map(|a| a.agreement.clone()).collect::<Vec<_>>(),
        log_heard_at,
        default_max_staleness_secs,
        now,
    };
    let judgement = judge(q, &facts);

    let mut statements: Vec<(StatementId, Vec<u8>)> = chain_raw.iter().map(|(id, bytes, _)| (*id, bytes.clone())).collect();
    if let Some(set) = &key_set {
        if let Some(bytes) = store.statement(&set.id)? {
            statements.push((set.id, bytes));
        }
    }
    let agreement = judgement.agreement.map(|i| (agreements[i].id, agreements[i].envelope.clone()));
    if let Some((id, bytes)) = &agreement {
        statements.push((*id, bytes.clone()));
        // The relying authority's key set, so the agreement's signature can be checked offline.
        if let Some(set) = trust.key_set(&q.relying_authority) {
            if let Some(bytes) = store.statement(&set.id)? {
                statements.push((set.id, bytes));
            }
        }
    }
    let proof = proof_bundle(store, statements, now)?;
    Ok(pb::VerifyResponse {
        verdict: judgement.verdict as i32,
        reasons: judgement.reasons,
        warnings: judgement.warnings,
        licence: judgement.state.as_ref().map(|s| s.summary_at(q.context.at)),
        chain: chain_raw
            .into_iter()
            .map(|(id, envelope, decision)| pb::ChainLink { statement_id: id.0.to_vec(), envelope, decision: Some(decision) })
            .collect(),
        agreement: agreement.map(|(_, bytes)| bytes).unwrap_or_default(),
        proof: Some(proof),
        checked_at: now,
    })
}

/// A stored agreement.
pub struct StoredAgreement {
    pub id: StatementId,
    pub envelope: Vec<u8>,
    pub agreement: CheckedAgreement,
}

/// The agreements in force (latest version of each, withdrawn ones left out), optionally only
/// those of one relying authority.
pub fn agreements_in_force(store: &Store, relying: Option<&str>) -> Result<Vec<StoredAgreement>, Error> {
    let mut out = Vec::new();
    for id in store.agreement_ids(relying)? {
        let bytes = store.statement(&id)?.ok_or_else(|| corrupt(format!("agreement {id} missing")))?;
        let envelope = Envelope::parse(bytes.clone()).map_err(corrupt)?;
        let pb::statement::Kind::Agreement(a) = envelope.statement() else { return Err(corrupt(format!("statement {id} is not an agreement"))) };
        let checked = CheckedAgreement::try_from(a.clone()).map_err(corrupt)?;
        if !checked.agreement().withdrawn {
            out.push(StoredAgreement { id, envelope: bytes, agreement: checked });
        }
    }
    Ok(out)
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

/// Each statement with a receipt: its place in its log, proven against the cosigned
/// checkpoint of that log when it covers it, else the latest.
fn proof_bundle(store: &Store, statements: Vec<(StatementId, Vec<u8>)>, now: i64) -> Result<pb::ProofBundle, Error> {
    let mut bundle = pb::ProofBundle::default();
    let mut oldest = now;
    for (id, bytes) in statements {
        let (origin, index) = store.location_of(&id)?.ok_or_else(|| corrupt(format!("statement {id} is in no log")))?;
        let log = store.log(&origin);
        let note = [log.cosigned()?, log.checkpoint()?]
            .into_iter()
            .flatten()
            .find(|n| stored_checkpoint_fields(n).is_some_and(|(size, _, _)| size > index))
            .ok_or_else(|| corrupt(format!("no checkpoint of {origin} covers entry {index}")))?;
        let (size, _, time) = stored_checkpoint_fields(&note).ok_or_else(|| corrupt("stored checkpoint unreadable"))?;
        oldest = oldest.min(time);
        let hashes = prove_inclusion(size, index, &log).map_err(corrupt)?;
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

/// The question a request asks, with its fields checked.
pub fn question(r: pb::VerifyRequest, now: i64) -> Result<Question, Error> {
    let bad = |m: String| Error::InvalidArgument(m);
    if !comity_proto::decision::is_authority_id(&r.authority) {
        return Err(bad(format!("authority: `{}` is not a lowercase dotted id like de.bafa", r.authority)));
    }
    if !comity_proto::decision::is_licence_id(&r.licence_id) {
        return Err(bad(format!("licence_id: `{}` is not a licence reference", r.licence_id)));
    }
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
