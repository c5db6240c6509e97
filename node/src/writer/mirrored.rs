//! Staging a peer's verified entries as the next part of our mirror of its log (a mirror round,
//! an import or a recovery fetch all come here): each new statement through the licence rules
//! and key standing in log order, the recomputed root against the signed checkpoint, all or
//! nothing; a licence fork freezes the log, and so does split-view evidence.

use std::collections::HashMap;

use comity_proto::licence_map;
use comity_proto::log::{entry_leaf_hash, hashes_to_store, tree_root, verify_consistency};
use comity_proto::trust::{check_supersedes, KeySetView};
use comity_proto::witness::{merge_cosignatures, WitnessVerifier};

use super::cosign::stage_cosigned;
use super::stage::{agreement_key, apply_decision, apply_restricted, supersedes_agreement, StagedCatalogue};
use super::{Checked, Mirrored};
use crate::chain::stored_corrupt;
use crate::error::Error;
use crate::log::Overlay;
use crate::store::{Evidence, Store, WriteBatch};
use crate::trust::{StoredAgreement, Trust};

/// Stages a peer's verified entries `first..` and its checkpoint as the next part of the
/// mirrored log `origin`, applying each new decision to its licence. All or nothing.
/// Key sets and agreements a mirrored part puts in force once committed.
#[derive(Default)]
pub(super) struct Installs {
    pub(super) key_sets: Vec<KeySetView>,
    pub(super) agreements: Vec<StoredAgreement>,
    pub(super) catalogue: StagedCatalogue,
}

/// Returns the batch and what it puts in force.
pub(super) fn stage_mirror(
    store: &Store,
    m: &Mirrored,
    evidence: &mut Vec<Evidence>,
    witnesses: &[WitnessVerifier],
    trust: &Trust,
    own_origin: &str,
    now: i64,
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
    let mut catalogue = StagedCatalogue::default();
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
            // Listing and windows are checked in log order at the entry's log time. Compromise is
            // not: the entry is history either way, and verification flags or refuses it by when
            // it was logged.
            if let Some(signed) = checked.signed() {
                // A write-off by the customs of an authority not trusted here is taken as the
                // issuer's log holds it (it can only draw a balance down): its keys are unknown.
                let unknown_reporter = signed.role == comity_proto::pb::KeyRole::Customs && !trust.knows(signed.authority);
                if !unknown_reporter {
                    trust.admit(&signed, in_force(signed.authority).as_ref(), logged_at, true).map_err(|e| refused(e.to_string()))?;
                }
            }
            match checked {
                Checked::Decision { decision, .. } => {
                    apply_decision(store, &mut licences, &mut batch, evidence, envelope, decision, now)?;
                }
                Checked::Restricted { restricted, .. } => {
                    apply_restricted(store, &mut licences, &mut batch, evidence, envelope, restricted, None, now)?;
                    if restricted.may_receive(own_origin) {
                        batch.want_body(&id);
                    }
                }
                Checked::KeySet(set) => {
                    // Its signatures were checked against the roots by the mirror task.
                    check_supersedes(set, in_force(&set.authority).as_ref()).map_err(|e| refused(e.to_string()))?;
                    batch.put_key_set(&set.authority, &id);
                    key_sets.insert(set.authority.clone(), set.clone());
                }
                Checked::Agreement { agreement, .. } => {
                    let a = agreement.agreement();
                    supersedes_agreement(store, &agreements, agreement).map_err(|e| refused(e.to_string()))?;
                    batch.put_agreement(&a.relying_authority, &a.recognised_authority, &a.agreement_id, &id);
                    agreements.insert(agreement_key(agreement), a.version);
                    new_agreements.push(StoredAgreement { id, envelope: envelope.bytes().to_vec(), agreement: agreement.clone() });
                }
                Checked::ControlList { list, .. } => catalogue.stage_list(trust, &mut batch, id, list).map_err(|e| refused(e.to_string()))?,
                Checked::Crosswalk { crosswalk, .. } => catalogue.stage_crosswalk(trust, &mut batch, id, crosswalk).map_err(|e| refused(e.to_string()))?,
                Checked::ScreeningList { list, .. } => catalogue.stage_screening(trust, &mut batch, id, list).map_err(|e| refused(e.to_string()))?,
                Checked::Consultation { consultation, .. } => {
                    // The first request under an id keeps it; a peer's later one is logged but not indexed.
                    let (consulting, consultation_id, answer) = crate::consultation::store_key(&id, consultation);
                    if answer.is_some() || store.consultation(consulting, consultation_id)?.is_none() {
                        batch.put_consultation(consulting, consultation_id, answer, &id);
                    }
                }
                Checked::EndUseCheck { check, .. } => {
                    let ((licence_authority, licence_id), c) = (check.licence(), check.check());
                    batch.put_end_use_check(licence_authority, licence_id, &c.authority, &c.check_id, &id);
                }
                // The codes were checked against the issuer's lists at its node; here the version order.
                Checked::Ruling { ruling, .. } => catalogue.stage_ruling(store, trust, &mut batch, id, ruling, false).map_err(|e| refused(e.to_string()))?,
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
        return Ok((batch, Installs { key_sets: key_sets.into_values().collect(), agreements: new_agreements, catalogue }));
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
    Ok((batch, Installs { key_sets: key_sets.into_values().collect(), agreements: new_agreements, catalogue }))
}

/// Stores a peer's verified entries; a licence fork among them is kept as evidence against
/// the log that carried it (dated `now`), and that log is frozen.
pub(super) fn ingest_mirror(store: &Store, m: &Mirrored, witnesses: &[WitnessVerifier], trust: &Trust, own_origin: &str, now: i64) -> Result<(), Error> {
    let mut evidence = Vec::new();
    let error = match stage_mirror(store, m, &mut evidence, witnesses, trust, own_origin, now) {
        Ok((batch, installs)) => {
            store.commit(batch)?;
            for set in installs.key_sets {
                tracing::info!(origin = %m.checkpoint.origin, authority = %set.authority, version = set.version, "key set in force");
                trust.install(set);
            }
            for agreement in installs.agreements {
                trust.install_agreement(agreement);
            }
            installs.catalogue.install(trust);
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

pub(super) fn record_split_view(store: &Store, evidence: &Evidence) -> Result<(), Error> {
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
