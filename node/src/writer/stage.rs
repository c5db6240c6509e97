//! Staging one statement into a batch: the licence rules against the stored chain plus what
//! the batch staged before it, key standing at the log time, agreements' versions, fork
//! evidence, and the log append. Publish stages through [`stage`]; a mirrored part (and so an
//! import) applies each entry with the same [`apply_decision`] / [`apply_restricted`].

use std::collections::HashMap;
use std::sync::Arc;

use comity_proto::catalogue::{categories_overlap, check_codes, check_follows, check_listed, ControlList, Crosswalk, ListHistory};
use comity_proto::decision::CheckedDecision;
use comity_proto::licence_map;
use comity_proto::log::{entry_leaf_hash, hashes_to_store};
use comity_proto::pb;
use comity_proto::recognition::CheckedAgreement;
use comity_proto::restricted::CheckedRestricted;
use comity_proto::rules::{LicenceState, RuleError};
use comity_proto::ruling::{check_next, Ruling};
use comity_proto::screening::ScreeningList;
use comity_proto::statement::{Envelope, StatementId};
use comity_proto::trust::{check_supersedes, KeySetView};

use super::{Checked, Job};
use crate::catalogue::ListKey;
use crate::chain::{fold_readable, load_chain, stored_corrupt};
use crate::error::Error;
use crate::log::Overlay;
use crate::store::{Evidence, Store, WriteBatch};
use crate::trust::{Inadmissible, StoredAgreement, Trust};

/// A licence as the current batch sees it.
pub(super) struct Pending {
    /// The folded state; `None` before the first decision, or when the licence is confidential
    /// and not every decision's body is held here.
    pub(super) state: Option<LicenceState>,
    /// Latest version and its statement id, readable or not.
    pub(super) version: u64,
    pub(super) head: Option<StatementId>,
    /// Whether the licence is confidential (`None`: no decision yet).
    pub(super) restricted: Option<bool>,
    /// Decisions of this licence staged in the current batch, by version.
    pub(super) staged: HashMap<u64, (StatementId, Vec<u8>)>,
}

/// Everything staged in one batch.
pub(super) struct BatchState<'a> {
    pub(super) batch: WriteBatch,
    pub(super) licences: HashMap<(String, String), Pending>,
    pub(super) overlay: Overlay<'a>,
    /// The node's own log.
    pub(super) origin: &'a str,
    /// Log size including the entries staged so far.
    pub(super) log_size: u64,
    /// Log index and log time of each statement staged in this batch.
    pub(super) staged_index: HashMap<StatementId, (u64, i64)>,
    /// The log time of this batch's new entries.
    pub(super) time: i64,
    /// The node's clock when the batch began (evidence is dated by it).
    pub(super) now: i64,
    /// Log time of the last entry staged (or stored before the batch): log times never fall.
    pub(super) last_time: i64,
    /// Key sets staged in this batch, by authority: in force for the rest of the batch.
    pub(super) key_sets: HashMap<String, KeySetView>,
    /// Versions of agreements staged in this batch.
    pub(super) staged_agreements: HashMap<(String, String, String), u64>,
    /// Agreements staged in this batch, put in force once committed.
    pub(super) new_agreements: Vec<StoredAgreement>,
    /// Control lists and crosswalks staged in this batch, put in force once committed.
    pub(super) catalogue: StagedCatalogue,
    /// Licence heads the batch's entries set, in log order, for the licence-state map.
    pub(super) map_changes: Vec<(licence_map::MapKey, licence_map::Head)>,
    /// The writer's copy of the upper tiles of its log's map, settled after each commit.
    pub(super) map_cache: &'a mut crate::store::MapCache,
    pub(super) trust: &'a Trust,
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

/// Control-list versions and crosswalks staged in one batch (publish or mirrored part).
#[derive(Default)]
pub(super) struct StagedCatalogue {
    pub(super) lists: Vec<(StatementId, ControlList)>,
    pub(super) crosswalks: Vec<(StatementId, Crosswalk)>,
    pub(super) screening: Vec<(StatementId, ScreeningList)>,
    /// Ruling versions staged in this batch (read from the store once committed: nothing is
    /// put in force in memory).
    pub(super) rulings: Vec<(StatementId, Ruling)>,
}

impl StagedCatalogue {
    /// The histories of `authority`'s lists of `regime`, one per part: those in force plus the
    /// versions staged.
    fn histories(&self, trust: &Trust, authority: &str, regime: i32) -> Vec<(ListKey, ListHistory)> {
        let mut histories = trust.catalogue().histories(authority, regime);
        for (id, list) in self.lists.iter().filter(|(_, l)| l.list().authority == authority && l.list().regime == regime) {
            let key = (authority.to_string(), regime, list.scope());
            let at = match histories.iter().position(|(k, _)| *k == key) {
                Some(at) => at,
                None => {
                    histories.push((key, ListHistory::default()));
                    histories.len() - 1
                }
            };
            histories[at].1.versions.push((*id, Arc::new(list.clone())));
        }
        histories
    }

    /// Stages list version `list` (statement `id`): it must follow the newest version held of
    /// the same part, declare exactly what it changes, and hold no category another part of
    /// the authority's list of that regime holds.
    pub(super) fn stage_list(&mut self, trust: &Trust, batch: &mut WriteBatch, id: StatementId, list: &ControlList) -> Result<(), Error> {
        let l = list.list();
        let histories = self.histories(trust, &l.authority, l.regime);
        let scope = list.scope();
        let same = histories.iter().find(|((_, _, s), _)| *s == scope).map(|(_, h)| h);
        check_follows(list, same.and_then(ListHistory::latest)).map_err(|e| Error::FailedPrecondition(e.to_string()))?;
        let other = histories
            .iter()
            .filter(|((_, _, s), _)| *s != scope)
            .filter_map(|(_, h)| h.latest())
            .find(|(_, o)| categories_overlap(&o.list().categories, &l.categories));
        if let Some((_, other)) = other {
            return Err(Error::FailedPrecondition(format!("{list}: its categories overlap those of {other}; publish the next version of that one instead")));
        }
        batch.put_control_list(&l.authority, l.regime, &scope, l.version, &id);
        self.lists.push((id, list.clone()));
        Ok(())
    }

    /// Stages screening-list version `list`: the next of its list, adding only entries not
    /// listed and removing only entries listed.
    pub(super) fn stage_screening(&mut self, trust: &Trust, batch: &mut WriteBatch, id: StatementId, list: &ScreeningList) -> Result<(), Error> {
        let key = list.key();
        let mut history = trust.catalogue().screening().get(&key).map(|s| s.history.clone()).unwrap_or_default();
        history.versions.extend(self.screening.iter().filter(|(_, l)| l.key() == key).map(|(id, l)| (*id, Arc::new(l.clone()))));
        history.check_next(list).map_err(|e| Error::FailedPrecondition(e.to_string()))?;
        let l = list.list();
        batch.put_screening_list(&l.authority, &l.list_id, l.version, &id);
        self.screening.push((id, list.clone()));
        Ok(())
    }

    /// Stages ruling version `ruling`: the next of its ruling (after the versions stored and
    /// staged); at publish (`check_codes`) its codes must be on its issuer's lists in force at
    /// its `issued_at`, as a decision's are at its date.
    pub(super) fn stage_ruling(
        &mut self,
        store: &Store,
        trust: &Trust,
        batch: &mut WriteBatch,
        id: StatementId,
        ruling: &Ruling,
        check_codes: bool,
    ) -> Result<(), Error> {
        let r = ruling.ruling();
        let key = ruling.key();
        let staged = self.rulings.iter().rev().find(|(_, s)| s.key() == key).map(|(id, s)| (*id, s.clone()));
        let held = match staged {
            Some(held) => Some(held),
            None => crate::rulings::versions(store, &r.authority, &r.ruling_id)?.pop().map(|s| (s.id, s.ruling)),
        };
        check_next(ruling, held.as_ref().map(|(id, r)| (id, r))).map_err(|e| Error::FailedPrecondition(e.to_string()))?;
        if check_codes {
            let codes: Vec<(String, pb::Regime, &str)> =
                ruling.codes().into_iter().enumerate().map(|(i, (regime, bare))| (format!("control_codes[{i}]"), regime, bare)).collect();
            let mut histories: HashMap<i32, Vec<ListHistory>> = HashMap::new();
            for (_, regime, _) in &codes {
                let regime = *regime as i32;
                histories.entry(regime).or_insert_with(|| self.histories(trust, &r.authority, regime).into_iter().map(|(_, h)| h).collect());
            }
            check_listed(&codes, r.issued_at, |g| histories.get(&(g as i32)).map(|h| h.iter().collect()).unwrap_or_default())
                .map_err(|why| Error::InvalidArgument(format!("{key}: {why}")))?;
        }
        batch.put_ruling(&r.authority, &r.ruling_id, r.version, &id);
        self.rulings.push((id, ruling.clone()));
        Ok(())
    }

    /// Stages crosswalk version `crosswalk`: it must be newer than the one held.
    pub(super) fn stage_crosswalk(&mut self, trust: &Trust, batch: &mut WriteBatch, id: StatementId, crosswalk: &Crosswalk) -> Result<(), Error> {
        let key = crosswalk.key();
        let held = self.crosswalks.iter().rev().find(|(_, c)| c.key() == key).map(|(_, c)| c.crosswalk().version);
        let held = held.or_else(|| trust.catalogue().crosswalk(&key).map(|(_, c)| c.crosswalk().version));
        if let Some(v) = held.filter(|v| crosswalk.crosswalk().version <= *v) {
            return Err(Error::FailedPrecondition(format!("{crosswalk} does not supersede version {v} held (a later version is needed)")));
        }
        batch.put_crosswalk(&crosswalk.crosswalk().authority, &crosswalk.crosswalk().crosswalk_id, &id);
        self.crosswalks.push((id, crosswalk.clone()));
        Ok(())
    }

    /// Checks a decision's control codes against its authority's lists in force at its date.
    fn check_codes(&self, trust: &Trust, decision: &pb::Decision) -> Result<(), Error> {
        if trust.catalogue().lists().is_empty() && self.lists.is_empty() {
            return Ok(());
        }
        let mut histories: HashMap<i32, Vec<ListHistory>> = HashMap::new();
        for item in &decision.items {
            histories.entry(item.regime).or_insert_with(|| self.histories(trust, &decision.authority, item.regime).into_iter().map(|(_, h)| h).collect());
        }
        check_codes(decision, |r| histories.get(&(r as i32)).map(|h| h.iter().collect()).unwrap_or_default())
            .map_err(|why| Error::InvalidArgument(format!("{}/{}: {why}", decision.authority, decision.licence_id)))
    }

    /// Puts what was staged in force (after the commit).
    pub(super) fn install(self, trust: &Trust) {
        for (id, list) in self.lists {
            tracing::info!(list = %list, id = %id, "control list in force");
            trust.catalogue().install_list(id, list);
        }
        for (id, crosswalk) in self.crosswalks {
            tracing::info!(crosswalk = %crosswalk, id = %id, "crosswalk in force");
            trust.catalogue().install_crosswalk(id, crosswalk);
        }
        for (id, list) in &self.screening {
            tracing::info!(list = %list, id = %id, added = list.list().added.len(), removed = list.list().removed.len(), "screening list in force");
        }
        trust.catalogue().install_screening(self.screening);
    }
}

/// A publish checked and staged, waiting for its receipt.
pub(super) struct Staged {
    pub(super) id: StatementId,
    pub(super) already_present: bool,
    pub(super) licence: Option<LicenceState>,
    pub(super) index: u64,
    pub(super) leaf: [u8; 32],
    pub(super) logged_at: i64,
}

/// Checks one job against the licence state and the key sets in force, and stages its
/// writes, including its log append.
pub(super) fn stage(store: &Store, state: &mut BatchState<'_>, job: &Job) -> Result<Staged, Error> {
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
            Checked::KeySet(_)
            | Checked::Agreement { .. }
            | Checked::ControlList { .. }
            | Checked::Crosswalk { .. }
            | Checked::ScreeningList { .. }
            | Checked::Consultation { .. }
            | Checked::EndUseCheck { .. }
            | Checked::Ruling { .. } => None,
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
    if let Some(signed) = job.checked.signed() {
        let set = state.key_set(signed.authority);
        state.trust.admit(&signed, set.as_deref(), logged_at, job.history.is_some()).map_err(|e| match e {
            Inadmissible::Dated(_) => Error::InvalidArgument(e.to_string()),
            Inadmissible::Signers(reason) => Error::PermissionDenied(reason),
        })?;
    }
    let licence = match &job.checked {
        Checked::Decision { decision, .. } => {
            if job.history.is_none() {
                state.catalogue.check_codes(state.trust, decision.decision())?;
                check_general_licence(store, &mut state.licences, decision)?;
                check_not_raced(store, &mut state.licences, decision)?;
                check_reporter(store, &mut state.licences, state.trust, decision)?;
                super::re_export::check_publish(store, &mut state.licences, decision)?;
            }
            let mut evidence = Vec::new();
            let applied = apply_decision(store, &mut state.licences, &mut state.batch, &mut evidence, &job.envelope, decision, state.now);
            for e in &evidence {
                state.batch.put_evidence(store.next_evidence_seq()?, e);
            }
            Some(applied?.clone())
        }
        Checked::Restricted { restricted, body, .. } => {
            let mut evidence = Vec::new();
            let applied = apply_restricted(store, &mut state.licences, &mut state.batch, &mut evidence, &job.envelope, restricted, body.as_ref(), state.now);
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
            // Its signatures were checked against the roots before it was queued.
            check_supersedes(set, state.key_set(&set.authority).as_deref())?;
            let set = set.clone();
            state.batch.put_key_set(&set.authority, &id);
            state.key_sets.insert(set.authority.clone(), set);
            None
        }
        Checked::Agreement { agreement, .. } => {
            let a = agreement.agreement();
            supersedes_agreement(store, &state.staged_agreements, agreement)?;
            state.batch.put_agreement(&a.relying_authority, &a.recognised_authority, &a.agreement_id, &id);
            state.staged_agreements.insert(agreement_key(agreement), a.version);
            state.new_agreements.push(StoredAgreement { id, envelope: job.envelope.bytes().to_vec(), agreement: agreement.clone() });
            None
        }
        Checked::ControlList { list, .. } => {
            state.catalogue.stage_list(state.trust, &mut state.batch, id, list)?;
            None
        }
        Checked::Crosswalk { crosswalk, .. } => {
            state.catalogue.stage_crosswalk(state.trust, &mut state.batch, id, crosswalk)?;
            None
        }
        Checked::ScreeningList { list, .. } => {
            state.catalogue.stage_screening(state.trust, &mut state.batch, id, list)?;
            None
        }
        Checked::Consultation { consultation, .. } => {
            if job.history.is_none() {
                crate::consultation::check_publish(store, &id, consultation)?;
            }
            let (consulting, consultation_id, answer) = crate::consultation::store_key(&id, consultation);
            state.batch.put_consultation(consulting, consultation_id, answer, &id);
            None
        }
        Checked::EndUseCheck { check, .. } => {
            let (licence_authority, licence_id) = check.licence();
            if job.history.is_none() && store.licence(licence_authority, licence_id)?.is_none() {
                return Err(Error::FailedPrecondition(format!("licence: {} is not a licence held here", check.check().licence)));
            }
            let c = check.check();
            state.batch.put_end_use_check(licence_authority, licence_id, &c.authority, &c.check_id, &id);
            None
        }
        Checked::Ruling { ruling, .. } => {
            state.catalogue.stage_ruling(store, state.trust, &mut state.batch, id, ruling, job.history.is_none())?;
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
        Checked::ControlList { list, .. } => tracing::info!(list = %list, id = %id, index, "control list accepted"),
        Checked::Crosswalk { crosswalk, .. } => tracing::info!(crosswalk = %crosswalk, id = %id, index, "crosswalk accepted"),
        Checked::ScreeningList { list, .. } => tracing::info!(list = %list, id = %id, index, "screening list accepted"),
        Checked::Consultation { consultation, .. } => tracing::info!(consultation = %consultation, id = %id, index, "consultation accepted"),
        Checked::EndUseCheck { check, .. } => tracing::info!(check = %check, id = %id, index, "end-use check accepted"),
        Checked::Ruling { ruling, .. } => tracing::info!(ruling = %ruling, id = %id, index, "classification ruling accepted"),
        // Nothing of the decision's content: this line may reach log collectors outside the audience.
        Checked::Restricted { restricted, .. } => {
            let r = restricted.restricted();
            tracing::info!(authority = %r.authority, licence = %r.licence_id, version = r.version, audience = r.audience.len(), id = %id, index, "restricted decision accepted");
        }
    }
    Ok(Staged { id, already_present: false, licence, index, leaf, logged_at })
}

/// A registration's terms name a general licence that exists here (the same authority's, so
/// in this node's own log) and is an issued GENERAL_AUTHORISATION in force at the decision's
/// date. Checked at publish only: a mirror takes the issuer's word, as for control codes.
fn check_general_licence(store: &Store, licences: &mut HashMap<(String, String), Pending>, decision: &CheckedDecision) -> Result<(), Error> {
    let d = decision.decision();
    if decision.licence_type() != pb::LicenceType::Registration || !comity_proto::decision::carries_terms(decision.action()) {
        return Ok(());
    }
    let Some((authority, licence_id)) = comity_proto::decision::split_licence_ref(&d.general_licence) else {
        return Err(Error::InvalidArgument(format!("general_licence: `{}` is not a licence reference", d.general_licence)));
    };
    let refused = |why: String| Error::FailedPrecondition(format!("{}/{}: general licence {}: {why}", d.authority, d.licence_id, d.general_licence));
    let general = licence_entry(store, licences, authority, licence_id)?;
    let Some(state) = &general.state else {
        return Err(refused("no such licence is held here (publish the general licence first)".into()));
    };
    if state.terms.licence_type != pb::LicenceType::GeneralAuthorisation as i32 {
        let kind = pb::LicenceType::try_from(state.terms.licence_type).map_or("unknown", |t| t.as_str_name());
        return Err(refused(format!("it is a {kind} licence, not a GENERAL_AUTHORISATION")));
    }
    match state.status_at(d.decided_at) {
        pb::LicenceStatus::Issued => Ok(()),
        status => Err(refused(format!(
            "it is {} at {}, so no exporter can register under it",
            status.as_str_name(),
            comity_proto::authoring::format_time(d.decided_at)
        ))),
    }
}

/// A decision signed for a version a write-off took meanwhile (or a write-off signed for a
/// version another decision took): customs and the licensing officers sign independently, so
/// this is a race to re-sign, not an issuer signing two decisions for one version (a fork).
fn check_not_raced(store: &Store, licences: &mut HashMap<(String, String), Pending>, decision: &CheckedDecision) -> Result<(), Error> {
    let d = decision.decision();
    let licence = licence_entry(store, licences, &d.authority, &d.licence_id)?;
    if d.version == 0 || d.version > licence.version {
        return Ok(());
    }
    let taken = envelope_at(store, licence, &d.authority, &d.licence_id, d.version)?;
    let taken_by_write_off =
        matches!(Envelope::parse(taken).map_err(stored_corrupt)?.statement(), pb::statement::Kind::Decision(t) if t.action == pb::Action::WriteOff as i32);
    if decision.action() == pb::Action::WriteOff || taken_by_write_off {
        let what = if taken_by_write_off { "a customs write-off" } else { "another decision" };
        return Err(Error::Aborted(format!(
            "{}/{} is at version {} now ({what} took version {} while this one was signed): read the head and sign again",
            d.authority, d.licence_id, licence.version, d.version
        )));
    }
    Ok(())
}

/// The envelope holding `version` of a licence: staged in this batch, or stored.
fn envelope_at(store: &Store, licence: &Pending, authority: &str, licence_id: &str, version: u64) -> Result<Vec<u8>, Error> {
    if let Some((_, bytes)) = licence.staged.get(&version) {
        return Ok(bytes.clone());
    }
    let id =
        store.decision_id(authority, licence_id, version)?.ok_or_else(|| stored_corrupt(format!("version {version} of {authority}/{licence_id} missing")))?;
    store.statement(&id)?.ok_or_else(|| stored_corrupt(format!("statement {id} missing")))
}

/// A write-off by another authority's customs needs that authority to recognise the licence
/// for the shipment: an agreement in force of the reporter covering the licence's terms for
/// the destination on the shipping day. Checked at publish (the issuer's node).
fn check_reporter(store: &Store, licences: &mut HashMap<(String, String), Pending>, trust: &Trust, decision: &CheckedDecision) -> Result<(), Error> {
    let d = decision.decision();
    let (Some(shipment), true) = (&d.shipment, decision.action() == pb::Action::WriteOff && d.reported_by != d.authority) else { return Ok(()) };
    // No licence yet: the rules refuse the write-off with their own reason.
    let Some(state) = &licence_entry(store, licences, &d.authority, &d.licence_id)?.state else { return Ok(()) };
    let refused = |why: String| {
        Error::PermissionDenied(format!("{}'s customs cannot write shipments off against {}/{}: {why}", d.reported_by, d.authority, d.licence_id))
    };
    let context = comity_proto::recognition::Context { destination: Some(shipment.destination.clone()), at: shipment.shipped_on, ..Default::default() };
    let in_force = trust.agreements();
    let agreements: Vec<&CheckedAgreement> = in_force.iter().map(|a| &a.agreement).collect();
    let crosswalks = trust.catalogue().crosswalks_named_by(&agreements);
    let crosswalk_of = |named: &str| crosswalks.iter().map(|(_, c)| c.as_ref()).find(|c| c.key() == named);
    comity_proto::recognition::recognising(&agreements, crosswalk_of, &d.reported_by, &d.authority, &state.terms, &context)
        .map(|_| ())
        .map_err(|why_not| refused(why_not.join("; ")))
}

/// The batch's view of a licence, loaded from the store on first use.
pub(super) fn licence_entry<'m>(
    store: &Store,
    licences: &'m mut HashMap<(String, String), Pending>,
    authority: &str,
    licence_id: &str,
) -> Result<&'m mut Pending, Error> {
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
pub(super) fn apply_decision<'a>(
    store: &Store,
    licences: &'a mut HashMap<(String, String), Pending>,
    batch: &mut WriteBatch,
    evidence: &mut Vec<Evidence>,
    envelope: &Envelope,
    decision: &CheckedDecision,
    now: i64,
) -> Result<&'a LicenceState, Error> {
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
        Err(RuleError::VersionTaken { .. }) => return Err(record_fork(store, licence, evidence, envelope, &d.authority, &d.licence_id, d.version, now)?),
        Err(e) => return Err(e.into()),
    };
    let old = licence.state.as_ref().map(LicenceState::decided_summary);
    batch.put_decision(&d.authority, &d.licence_id, d.version, &id);
    batch.put_licence(old.as_ref(), &next.decided_summary());
    super::re_export::index_child(batch, d);
    licence.staged.insert(d.version, (id, envelope.bytes().to_vec()));
    (licence.version, licence.head, licence.restricted) = (d.version, Some(id), Some(false));
    Ok(licence.state.insert(next))
}

/// Applies a verified restricted decision to its licence: its place in the chain (version,
/// previous, fork evidence) always, and the licence rules when its body is here (always at the
/// publishing node). Confidential licences get no summary and no search index entries, so
/// nothing of their content can surface in a search.
#[allow(clippy::too_many_arguments)]
pub(super) fn apply_restricted(
    store: &Store,
    licences: &mut HashMap<(String, String), Pending>,
    batch: &mut WriteBatch,
    evidence: &mut Vec<Evidence>,
    envelope: &Envelope,
    restricted: &CheckedRestricted,
    body: Option<&(pb::RestrictedBody, CheckedDecision)>,
    now: i64,
) -> Result<Option<LicenceState>, Error> {
    let r = restricted.restricted();
    let id = envelope.id();
    let licence = licence_entry(store, licences, &r.authority, &r.licence_id)?;
    let name = format!("{}/{}", r.authority, r.licence_id);
    if licence.restricted == Some(false) {
        return Err(Error::InvalidArgument(format!("licence {name} is public: a restricted decision cannot join its chain")));
    }
    if r.version <= licence.version {
        return Err(record_fork(store, licence, evidence, envelope, &r.authority, &r.licence_id, r.version, now)?);
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

pub(super) fn agreement_key(a: &CheckedAgreement) -> (String, String, String) {
    let a = a.agreement();
    (a.relying_authority.clone(), a.recognised_authority.clone(), a.agreement_id.clone())
}

/// An agreement's version must rise above the latest stored (or staged) one of the same agreement.
pub(super) fn supersedes_agreement(store: &Store, staged: &HashMap<(String, String, String), u64>, agreement: &CheckedAgreement) -> Result<(), Error> {
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

/// A validly signed decision (or restricted decision) for a version that already has another
/// one: keep both as evidence (detected at `now`, the node's clock) and refuse the second.
#[allow(clippy::too_many_arguments)]
pub(super) fn record_fork(
    store: &Store,
    licence: &Pending,
    evidence: &mut Vec<Evidence>,
    envelope: &Envelope,
    authority: &str,
    licence_id: &str,
    version: u64,
    now: i64,
) -> Result<Error, Error> {
    let first = envelope_at(store, licence, authority, licence_id, version)?;
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
            detected_at: now,
            origin: None,
        });
    }
    tracing::error!(authority = %authority, licence = %licence_id, version, first = %StatementId::of(&first), second = %envelope.id(), "fork: two signed decisions for one licence version; evidence recorded");
    Ok(Error::Fork(format!(
        "version {version} of {authority}/{licence_id} is already decided by statement {}; this conflicting, validly signed decision was recorded as evidence",
        StatementId::of(&first)
    )))
}
