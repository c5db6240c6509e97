//! Re-export chains at publish (docs/re-export.md). A consent, and its withdrawal, must follow
//! the consents already on the parent's chain and name only the parent's items; a re-export
//! (child) licence must stand on a parent held here (this node mirrors the parent's log) that
//! is in force at the child's date, with a consent on the parent's chain that is given, not
//! withdrawn, and covers the child's terms, counting the quantities of every other child held
//! under the same consent. Checked at publish only: a mirror takes the issuer's word, as for
//! control codes. The rules themselves are `comity_proto::re_export`'s.

use std::collections::HashMap;

use comity_proto::authoring::{format_time, qualified_control_code};
use comity_proto::decision::{carries_terms, split_licence_ref, CheckedDecision};
use comity_proto::pb;
use comity_proto::quantity::Quantity;
use comity_proto::re_export::{check_items, check_sequence, consents, is_consent_action, uncovered_terms};
use comity_proto::rules::Status;
use comity_proto::statement::Envelope;

use super::stage::{licence_entry, Pending};
use crate::chain::{load_chain, stored_corrupt};
use crate::error::Error;
use crate::store::Store;

/// The re-export checks of a decision about to be published.
pub(super) fn check_publish(store: &Store, licences: &mut HashMap<(String, String), Pending>, decision: &CheckedDecision) -> Result<(), Error> {
    if is_consent_action(decision.action()) {
        return check_consent(store, licences, decision);
    }
    let d = decision.decision();
    if carries_terms(decision.action()) && !d.parent_licence.is_empty() {
        return check_child(store, licences, decision);
    }
    Ok(())
}

/// Records a public re-export licence under its parent, so the parent's page and the quantity
/// rule find it. Done for publish and mirror alike (the index is derived from the log).
pub(super) fn index_child(batch: &mut crate::store::WriteBatch, d: &pb::Decision) {
    if let Some((authority, licence_id)) = split_licence_ref(&d.parent_licence) {
        batch.put_re_export_child(authority, licence_id, &d.authority, &d.licence_id, &d.consent_id);
    }
}

/// A consent follows the consents on its licence's chain and consents only to the licence's
/// own items, each at most in the quantity licensed; a withdrawal names a consent in force.
fn check_consent(store: &Store, licences: &mut HashMap<(String, String), Pending>, decision: &CheckedDecision) -> Result<(), Error> {
    let d = decision.decision();
    let name = format!("{}/{}", d.authority, d.licence_id);
    let chain = chain_decisions(store, licences, &d.authority, &d.licence_id)?;
    check_sequence(&consents(&chain), d).map_err(|why| Error::FailedPrecondition(format!("{name}: {why}")))?;
    if decision.action() != pb::Action::ReExportConsent {
        return Ok(());
    }
    let (Some(consent), Some(state)) = (&d.re_export_consent, &licence_entry(store, licences, &d.authority, &d.licence_id)?.state) else {
        return Ok(());
    };
    check_items(consent, &state.terms).map_err(|why| Error::FailedPrecondition(format!("{name}: consent {}: {why}", consent.consent_id)))
}

/// A re-export licence stands on a parent held here, in force at its date, with a consent that
/// covers its terms and leaves room for its quantities.
fn check_child(store: &Store, licences: &mut HashMap<(String, String), Pending>, decision: &CheckedDecision) -> Result<(), Error> {
    let d = decision.decision();
    let Some((authority, licence_id)) = split_licence_ref(&d.parent_licence) else {
        return Err(Error::InvalidArgument(format!("parent_licence: `{}` is not a licence reference", d.parent_licence)));
    };
    let child = format!("{}/{}", d.authority, d.licence_id);
    let refused = |why: String| Error::FailedPrecondition(format!("{child}: parent licence {}: {why}", d.parent_licence));
    let parent = licence_entry(store, licences, authority, licence_id)?;
    let Some(state) = &parent.state else {
        return Err(refused("no such licence is held here (this node must mirror the parent's log)".into()));
    };
    // EXHAUSTED (its quantity all shipped) is in force for a re-export: the normal case.
    let status = state.status_at(d.decided_at);
    if !matches!(status, pb::LicenceStatus::Issued | pb::LicenceStatus::Exhausted) {
        return Err(refused(format!("it is {} at {}, so it carries no re-export", status.as_str_name(), format_time(d.decided_at))));
    }
    let chain = chain_decisions(store, licences, authority, licence_id)?;
    // Given by the child's date, and not withdrawn as the chain stands now: a licence dated
    // before a withdrawal is not a way around it.
    let given = consents(&chain);
    let Some(consent) = given.iter().find(|c| c.consent.consent_id == d.consent_id && c.given_at <= d.decided_at) else {
        return Err(refused(format!("consent {} is not on its chain (by {})", d.consent_id, format_time(d.decided_at))));
    };
    if let Some((version, at)) = consent.withdrawn {
        return Err(refused(format!("consent {} was withdrawn (version {version}, {})", d.consent_id, format_time(at))));
    }
    let used = used_under(store, licences, authority, licence_id, &d.consent_id, (&d.authority, &d.licence_id))?;
    let uncovered = uncovered_terms(consent, d, &|code: &str| used.get(code).copied().unwrap_or_default());
    if !uncovered.is_empty() {
        return Err(refused(format!("consent {} does not cover this licence: {}", d.consent_id, uncovered.join("; "))));
    }
    Ok(())
}

/// The quantities, by qualified control code, licensed under consent `consent_id` of parent
/// `authority/licence_id` by every child held here (stored, or staged in this batch) but `this`.
/// A child never issued (denied, withdrawn, under review) licenses nothing.
fn used_under(
    store: &Store,
    licences: &mut HashMap<(String, String), Pending>,
    authority: &str,
    licence_id: &str,
    consent_id: &str,
    this: (&str, &str),
) -> Result<HashMap<String, Quantity>, Error> {
    let parent = format!("{authority}/{licence_id}");
    let mut children: Vec<(String, String)> =
        store.re_export_children(authority, licence_id)?.into_iter().filter(|(_, _, c)| c == consent_id).map(|(a, l, _)| (a, l)).collect();
    for ((a, l), pending) in licences.iter() {
        let cites = pending.state.as_ref().is_some_and(|s| s.terms.parent_licence == parent && s.terms.consent_id == consent_id);
        if cites && !children.contains(&(a.clone(), l.clone())) {
            children.push((a.clone(), l.clone()));
        }
    }
    let mut used = HashMap::new();
    for (a, l) in children.iter().filter(|(a, l)| (a.as_str(), l.as_str()) != this) {
        let Some(state) = &licence_entry(store, licences, a, l)?.state else { continue };
        if matches!(state.status, Status::Denied | Status::UnderReview | Status::Withdrawn) {
            continue;
        }
        for item in &state.terms.items {
            let sum = used.entry(qualified_control_code(item)).or_insert(Quantity::ZERO);
            *sum = sum.checked_add(Quantity::parse(&item.quantity).unwrap_or_default()).unwrap_or(*sum);
        }
    }
    Ok(used)
}

/// The decisions of a public licence in version order: those stored and those staged in this
/// batch.
fn chain_decisions(store: &Store, licences: &mut HashMap<(String, String), Pending>, authority: &str, licence_id: &str) -> Result<Vec<pb::Decision>, Error> {
    let mut chain: Vec<pb::Decision> = load_chain(store, authority, licence_id, &HashMap::new())?.into_iter().map(|l| l.decision).collect();
    let pending = licence_entry(store, licences, authority, licence_id)?;
    let mut staged: Vec<_> = pending.staged.iter().filter(|(v, _)| **v > chain.len() as u64).collect();
    staged.sort_by_key(|(v, _)| **v);
    for (_, (id, bytes)) in staged {
        let envelope = Envelope::parse(bytes.clone()).map_err(|e| stored_corrupt(format!("staged statement {id}: {e}")))?;
        if let pb::statement::Kind::Decision(d) = envelope.statement() {
            chain.push(d.clone());
        }
    }
    Ok(chain)
}
