//! The relying party's one verification path. A proof bundle (a Verify answer's proof, a
//! GetLicence answer's proof, or an offline token) is checked here against a trust file, and
//! nothing in it is taken on the node's word:
//!
//! 1. every statement sits in a log whose key the trust file pins, under a checkpoint that key
//!    signed (its receipt);
//! 2. key sets are signed by a threshold of the authority's pinned root keys, and every
//!    decision and agreement by a key its authority's key set (or pinned keys) lists;
//! 3. the licence's head in its issuer's log is proven against that log's licence-state map at
//!    a signed checkpoint, and the chain must end exactly there: a decision left out (a hidden
//!    revocation) is refused, and a licence the log does not hold is proven absent;
//! 4. the head's checkpoint carries the witness cosignatures the trust file's quorum asks for.
//!
//! What the bundle proves is then judged with [`crate::verdict::judge`], the function the node
//! itself uses, so the verdict can be recomputed and compared with the node's.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;

use crate::catalogue::Crosswalk;
use crate::checked::CheckedStatement;
use crate::decision::split_licence_ref;
use crate::licence_map::{self, Head, MapProof, ProofEnd};
use crate::log::{check_not_future, proof_hashes, verify_receipt, verify_receipt_at, SignedCheckpoint};
use crate::pb;
use crate::recognition::CheckedAgreement;
use crate::statement::{Envelope, StatementId};
use crate::trust::{check_key_set, KeySetView, TrustFile};
use crate::verdict::{judge, Facts, Judgement, Link, Question};
use crate::witness::cosigners;

/// Most statements one bundle may carry.
/// Most statements one bundle may carry: a licence's chain (each customs write-off is a
/// decision of it) with its key sets and agreement. 1,024 statements make about 1.2 MB and
/// check in ~100 ms (BENCHMARKS.md, Usage and drawdown).
pub const MAX_BUNDLE_STATEMENTS: usize = 1024;

/// Why a bundle was refused: the answer cannot be relied on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("trust file: {0}")]
    Trust(String),
    #[error("{0}")]
    Refused(String),
}

fn refused(message: impl Into<String>) -> BundleError {
    BundleError::Refused(message.into())
}

/// The parts of a bundle.
#[derive(Debug, Clone, Copy)]
pub struct Bundle<'a> {
    pub authority: &'a str,
    pub licence_id: &'a str,
    /// Envelopes: the decision chain, key sets, agreements.
    pub statements: &'a [&'a [u8]],
    /// One receipt per statement, same order.
    pub receipts: &'a [pb::Receipt],
    pub head: Option<&'a pb::LicenceHeadProof>,
    /// Openings of confidential decisions (answers from a node in their audience).
    pub openings: &'a [pb::RestrictedOpening],
    /// For a registration: the proof of its general licence (`ProofBundle.parent`).
    pub parent: Option<&'a pb::ProofBundle>,
}

impl<'a> Bundle<'a> {
    /// The bundle of `authority/licence_id` that `proof` carries (`statements`: its envelopes,
    /// borrowed by the caller).
    pub fn of(authority: &'a str, licence_id: &'a str, statements: &'a [&'a [u8]], proof: &'a pb::ProofBundle) -> Self {
        Bundle {
            authority,
            licence_id,
            statements,
            receipts: &proof.receipts,
            head: proof.head.as_ref(),
            openings: &proof.openings,
            parent: proof.parent.as_deref(),
        }
    }
}

/// The proven head of the licence in its issuer's log.
#[derive(Debug, Clone)]
pub struct ProvenHead {
    pub checkpoint: SignedCheckpoint,
    /// `None`: the log holds no decision on the licence.
    pub head: Option<Head>,
    /// Listed witnesses whose valid cosignatures the checkpoint carries.
    pub cosigners: Vec<String>,
    /// The trust file's witness quorum.
    pub quorum: usize,
}

impl ProvenHead {
    /// Why the checkpoint does not count, when the witness quorum is not met.
    pub fn quorum_unmet(&self) -> Option<String> {
        (self.cosigners.len() < self.quorum).then(|| {
            format!(
                "the checkpoint of {} (size {}) carries {} of the {} witness cosignatures the trust file requires{}: this view of the log is not confirmed by independent witnesses",
                self.checkpoint.origin,
                self.checkpoint.size,
                self.cosigners.len(),
                self.quorum,
                if self.cosigners.is_empty() { String::new() } else { format!(" ({})", self.cosigners.join(", ")) }
            )
        })
    }
}

/// What a bundle proves, every part verified.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The licence proven.
    pub authority: String,
    pub licence_id: String,
    /// The decision chain in version order, ending at the proven head.
    pub chain: Vec<Link>,
    pub key_sets: HashMap<String, KeySetView>,
    pub agreements: Vec<CheckedAgreement>,
    /// Crosswalks the bundle carries (those its agreements name), signature-checked.
    pub crosswalks: Vec<Crosswalk>,
    pub head: ProvenHead,
    /// Why a confidential licence's decisions cannot be read from this bundle.
    pub withheld: Option<String>,
    /// Time of the oldest checkpoint the statements are proven against.
    pub evidence_time: i64,
    /// Whether the issuer's root keys or keys are pinned.
    pub issuer_trusted: bool,
    /// For a registration: its general licence; for a re-export licence: its parent (with the
    /// consent on its chain). Proven the same way against the same trust file.
    pub parent: Option<Box<Verified>>,
}

/// Checks `bundle` against `trust` at time `now`.
pub fn check(bundle: &Bundle<'_>, trust: &TrustFile, now: i64) -> Result<Verified, BundleError> {
    let Bundle { authority, licence_id, statements, receipts, head, openings, parent } = *bundle;
    let name = format!("{authority}/{licence_id}");
    if statements.len() > MAX_BUNDLE_STATEMENTS || statements.len() != receipts.len() {
        return Err(refused(format!("{} statements and {} receipts (at most {MAX_BUNDLE_STATEMENTS}, one receipt each)", statements.len(), receipts.len())));
    }
    let trust_err = |e: crate::trust::TrustError| BundleError::Trust(e.to_string());
    let roots = trust.roots().map_err(trust_err)?;
    let configured = trust.configured_keys().map_err(trust_err)?;
    let logs = trust.log_verifiers().map_err(trust_err)?;
    let (witnesses, quorum) = trust.witness_verifiers().map_err(trust_err)?;

    // 1. Every statement sits in a pinned log, under a checkpoint its key signed.
    let mut envelopes = Vec::with_capacity(statements.len());
    // Most receipts share a checkpoint: its signature is verified once.
    let mut verified_notes: HashMap<(&str, &str), SignedCheckpoint> = HashMap::new();
    for (i, (bytes, receipt)) in statements.iter().zip(receipts).enumerate() {
        let verifier = logs
            .get(&receipt.origin)
            .ok_or_else(|| refused(format!("statement {i} is in log {}, whose key is not pinned in the trust file", receipt.origin)))?;
        let note = (receipt.origin.as_str(), receipt.checkpoint.as_str());
        let checkpoint = match verified_notes.get(&note) {
            Some(checkpoint) => verify_receipt_at(receipt, bytes, checkpoint.clone()),
            None => verify_receipt(receipt, bytes, verifier).inspect(|checkpoint| {
                verified_notes.insert(note, checkpoint.clone());
            }),
        }
        .map_err(|e| refused(format!("statement {i}: {e}")))?;
        check_not_future(&checkpoint, now).map_err(|e| refused(format!("statement {i}: {e}")))?;
        let envelope = Envelope::parse(bytes.to_vec()).map_err(|e| refused(format!("statement {i}: {e}")))?;
        envelopes.push((envelope, checkpoint, receipt.logged_at));
    }

    // 2. Key sets first: they vouch for the keys of everything else.
    let mut key_sets: HashMap<String, KeySetView> = HashMap::new();
    for (envelope, _, _) in &envelopes {
        if let pb::statement::Kind::KeySet(_) = envelope.statement() {
            let set = check_key_set(envelope, &roots, None).map_err(|e| refused(e.to_string()))?;
            if key_sets.get(&set.authority).is_none_or(|s| s.version < set.version) {
                key_sets.insert(set.authority.clone(), set);
            }
        }
    }
    let keys_of = |authority: &str| -> Vec<VerifyingKey> {
        match key_sets.get(authority) {
            Some(set) => set.keys.iter().map(|k| k.key).collect(),
            None => configured.get(authority).cloned().unwrap_or_default(),
        }
    };
    let verify = |envelope: &Envelope, signer: &str| {
        envelope.verify_with(&keys_of(signer)).map_err(|e| refused(format!("statement {} of {signer}: {e}", envelope.id())))
    };
    let opening_of: HashMap<&[u8], &pb::RestrictedBody> = openings.iter().filter_map(|o| Some((o.statement_id.as_slice(), o.body.as_ref()?))).collect();

    let mut chain: Vec<(Link, String)> = Vec::new();
    let mut agreements = Vec::new();
    let mut crosswalks = Vec::new();
    let mut withheld = None;
    for (envelope, checkpoint, logged_at) in &envelopes {
        // Judged at the log time its receipt proves, the same for every copy of the log.
        let link = |id: StatementId, decision: pb::Decision| Link {
            id,
            decision,
            key_ids: envelope.key_ids().map(str::to_string).collect(),
            logged_at: Some(*logged_at),
        };
        let statement = match envelope.statement() {
            // Not refused here for its fields: the judgement checks the decisions it relies on
            // (a malformed one is answered BAD_SIGNATURE).
            pb::statement::Kind::Decision(d) => {
                if (d.authority.as_str(), d.licence_id.as_str()) != (authority, licence_id) {
                    return Err(refused(format!("it carries a decision on {}/{}, not {name}", d.authority, d.licence_id)));
                }
                // A write-off is signed by a customs key of the reporting authority. Without
                // that authority's keys here it still counts (it can only draw the balance
                // down, and its issuer's log holds it); the judgement flags it.
                let signer = crate::usage::signing_authority(d);
                if d.action != pb::Action::WriteOff as i32 || !keys_of(signer).is_empty() {
                    verify(envelope, signer)?;
                }
                chain.push((link(envelope.id(), d.clone()), checkpoint.origin.clone()));
                continue;
            }
            // Checked above.
            pb::statement::Kind::KeySet(_) => continue,
            pb::statement::Kind::RestrictedDecision(r) => {
                if (r.authority.as_str(), r.licence_id.as_str()) != (authority, licence_id) {
                    return Err(refused(format!("it carries a decision on {}/{}, not {name}", r.authority, r.licence_id)));
                }
                verify(envelope, &r.authority)?;
                CheckedStatement::try_from(envelope).map_err(|e| refused(format!("confidential decision v{}: {e}", r.version)))?
            }
            pb::statement::Kind::Agreement(_) | pb::statement::Kind::Crosswalk(_) => {
                CheckedStatement::try_from(envelope).map_err(|e| refused(e.to_string()))?
            }
            pb::statement::Kind::ControlList(_)
            | pb::statement::Kind::ScreeningList(_)
            | pb::statement::Kind::ConsultationRequest(_)
            | pb::statement::Kind::ConsultationAnswer(_)
            | pb::statement::Kind::ClassificationRuling(_)
            | pb::statement::Kind::EndUseCheck(_) => {
                return Err(refused("a control or screening list, a consultation or a ruling has no place in a proof bundle"))
            }
        };
        match statement {
            CheckedStatement::Restricted(checked) => {
                let r = checked.restricted();
                let decision = match opening_of.get(envelope.id().0.as_slice()) {
                    Some(body) => checked.open(body).map_err(|e| refused(format!("confidential decision v{}: {e}", r.version)))?.decision().clone(),
                    None => {
                        withheld =
                            Some(format!("its decisions are confidential (shared only with {}) and this answer does not open them", r.audience.join(", ")));
                        pb::Decision {
                            authority: r.authority.clone(),
                            licence_id: r.licence_id.clone(),
                            version: r.version,
                            previous: r.previous.clone(),
                            decided_at: r.decided_at,
                            ..Default::default()
                        }
                    }
                };
                chain.push((link(envelope.id(), decision), checkpoint.origin.clone()));
            }
            CheckedStatement::Agreement(checked) => {
                verify(envelope, &checked.agreement().relying_authority)?;
                agreements.push(checked);
            }
            CheckedStatement::Crosswalk(checked) => {
                verify(envelope, &checked.crosswalk().authority)?;
                crosswalks.push(checked);
            }
            CheckedStatement::Decision(_)
            | CheckedStatement::KeySet(_)
            | CheckedStatement::ControlList(_)
            | CheckedStatement::ScreeningList(_)
            | CheckedStatement::Consultation(_)
            | CheckedStatement::Ruling(_)
            | CheckedStatement::EndUseCheck(_) => {}
        }
    }
    chain.sort_by_key(|(l, _)| l.decision.version);
    for (i, (link, _)) in chain.iter().enumerate() {
        if link.decision.version != i as u64 + 1 {
            return Err(refused(format!("its decision chain of {name} is incomplete: version {} is missing", i + 1)));
        }
    }

    // 3. The chain ends exactly at the head its issuer's log proves.
    let head = head.ok_or_else(|| {
        refused(format!("it carries no proof of the head of {name} in its issuer's log, so a later decision (a revocation) could be missing"))
    })?;
    let proven = check_head(head, trust, &logs, authority, licence_id, now)?;
    let last = chain.last().map(|(l, origin)| (l.decision.version, l.id, origin));
    match (proven.head, last) {
        (None, None) => {}
        (None, Some((version, _, _))) => {
            return Err(refused(format!(
                "the issuer's log {} proves it holds no decision on {name} at size {}, yet the answer carries a chain up to version {version}",
                proven.checkpoint.origin, proven.checkpoint.size
            )));
        }
        (Some(h), None) => {
            return Err(refused(format!(
                "the issuer's log {} proves {name} has decisions up to version {} (head {}), but the answer carries none of them",
                proven.checkpoint.origin,
                h.version,
                short(&h.id)
            )));
        }
        (Some(h), Some((version, id, origin))) => {
            if version < h.version {
                return Err(refused(format!(
                    "the chain of {name} ends at version {version}, but the issuer's log {} proves at size {} (signed {}) that its head is version {} (statement {}): decision{} {} missing",
                    proven.checkpoint.origin,
                    proven.checkpoint.size,
                    crate::authoring::format_time(proven.checkpoint.time),
                    h.version,
                    short(&h.id),
                    if h.version - version > 1 { "s" } else { "" },
                    if h.version - version > 1 { format!("{}..{} are", version + 1, h.version) } else { format!("{} is", h.version) },
                )));
            }
            if version > h.version || id.0 != h.id {
                return Err(refused(format!(
                    "the chain of {name} ends at version {version} (statement {}), but the issuer's log {} proves its head is version {} (statement {})",
                    short(&id.0),
                    proven.checkpoint.origin,
                    h.version,
                    short(&h.id)
                )));
            }
            if *origin != proven.checkpoint.origin {
                return Err(refused(format!("the head of {name} is proven in log {}, but its chain is in log {origin}", proven.checkpoint.origin)));
            }
        }
    }
    let parent = check_parent(&name, &chain, parent, trust, now)?;
    // A parent proven at an older checkpoint of the same log than its child could hide its
    // suspension since: its proof must be at least as recent. (A re-export's parent is in
    // another authority's log: its freshness is judged as its own, by the verdict.)
    if let Some(p) = &parent {
        let (theirs, ours) = (&p.head.checkpoint, &proven.checkpoint);
        if theirs.origin == ours.origin && theirs.size < ours.size {
            return Err(refused(format!(
                "the head of parent licence {}/{} is proven at size {} of {}, older than the size {} {name} is proven at: a later decision on it could be missing",
                p.authority, p.licence_id, theirs.size, theirs.origin, ours.size
            )));
        }
    }
    let cosigned = cosigners(&head.checkpoint, &witnesses).into_iter().map(|(name, _)| name).collect();
    let evidence_time =
        envelopes.iter().map(|(_, c, _)| c.time).chain([proven.checkpoint.time]).chain(parent.as_ref().map(|p| p.evidence_time)).min().unwrap_or(now);
    Ok(Verified {
        authority: authority.into(),
        licence_id: licence_id.into(),
        parent,
        chain: chain.into_iter().map(|(l, _)| l).collect(),
        key_sets,
        agreements,
        crosswalks,
        head: ProvenHead { checkpoint: proven.checkpoint, head: proven.head, cosigners: cosigned, quorum },
        withheld,
        evidence_time,
        issuer_trusted: roots.contains_key(authority) || configured.contains_key(authority),
    })
}

/// A registration's general licence, proven by `parent` exactly as the registration is (same
/// trust file, same head rule): a registration must come with it, anything else without.
fn check_parent(
    name: &str,
    chain: &[(Link, String)],
    parent: Option<&pb::ProofBundle>,
    trust: &TrustFile,
    now: i64,
) -> Result<Option<Box<Verified>>, BundleError> {
    match (parent_reference(chain.iter().map(|(l, _)| &l.decision)), parent) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(refused(format!("it carries the proof of a parent licence, but {name} is neither a registration nor a re-export licence"))),
        (Some((what, reference)), None) => Err(refused(format!(
            "{name} is a {} {reference}, but the answer carries no proof of that {}, so its suspension or revocation{} could be hidden",
            what.stands_on(),
            what.noun(),
            what.also_hidden()
        ))),
        (Some((what, reference)), Some(proof)) => {
            let (authority, licence_id) = split_licence_ref(reference)
                .ok_or_else(|| refused(format!("{name} names `{reference}` as its {}, which is not a licence reference", what.noun())))?;
            if proof.parent.is_some() {
                return Err(refused(format!("the proof of {} {reference} carries a further parent, which is not followed", what.noun())));
            }
            let statements: Vec<&[u8]> = proof.statements.iter().map(|s| s.as_ref()).collect();
            let bundle = Bundle::of(authority, licence_id, &statements, proof);
            let verified = check(&bundle, trust, now).map_err(|e| match e {
                BundleError::Refused(m) => refused(format!("{} {reference}: {m}", what.noun())),
                trust @ BundleError::Trust(_) => trust,
            })?;
            Ok(Some(Box::new(verified)))
        }
    }
}

/// What kind of parent a licence stands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentKind {
    /// A registration's general licence (same authority).
    GeneralLicence,
    /// A re-export licence's parent (another authority's), whose chain carries the consent.
    ReExport,
}

impl ParentKind {
    fn noun(self) -> &'static str {
        match self {
            ParentKind::GeneralLicence => "general licence",
            ParentKind::ReExport => "parent licence",
        }
    }

    fn stands_on(self) -> &'static str {
        match self {
            ParentKind::GeneralLicence => "registration under general licence",
            ParentKind::ReExport => "re-export licence under",
        }
    }

    fn also_hidden(self) -> &'static str {
        match self {
            ParentKind::GeneralLicence => "",
            ParentKind::ReExport => " or the withdrawal of its consent",
        }
    }
}

/// The parent a chain (its decisions in version order) names, if any: a registration's
/// general licence or a re-export licence's parent. The licence rules keep the reference the
/// same along the chain, so the last decision stating terms names it.
pub fn parent_reference<'a>(chain: impl DoubleEndedIterator<Item = &'a pb::Decision>) -> Option<(ParentKind, &'a str)> {
    let last = chain.rev().find(|d| d.licence_type != 0)?;
    if last.licence_type == pb::LicenceType::Registration as i32 {
        Some((ParentKind::GeneralLicence, &last.general_licence))
    } else if !last.parent_licence.is_empty() {
        Some((ParentKind::ReExport, &last.parent_licence))
    } else {
        None
    }
}

struct Proven {
    checkpoint: SignedCheckpoint,
    head: Option<Head>,
}

/// Checks a head proof for `authority/licence_id`: a log pinned for that authority, a
/// checkpoint its key signed, and the map proof against the checkpoint's map root.
fn check_head(
    proof: &pb::LicenceHeadProof,
    trust: &TrustFile,
    logs: &HashMap<String, crate::log::LogVerifier>,
    authority: &str,
    licence_id: &str,
    now: i64,
) -> Result<Proven, BundleError> {
    if (proof.authority.as_str(), proof.licence_id.as_str()) != (authority, licence_id) {
        return Err(refused(format!("its head proof is for {}/{}, not {authority}/{licence_id}", proof.authority, proof.licence_id)));
    }
    if !trust.logs_of(authority).contains(&proof.origin) {
        return Err(refused(format!("its head proof is from log {}, which the trust file does not pin for {authority}", proof.origin)));
    }
    let verifier = logs.get(&proof.origin).ok_or_else(|| refused(format!("log {} is not pinned", proof.origin)))?;
    let checkpoint = verifier.verify_checkpoint(&proof.checkpoint).map_err(|e| refused(format!("head proof: {e}")))?;
    check_not_future(&checkpoint, now).map_err(|e| refused(format!("head proof: {e}")))?;
    let map_proof = map_proof_of(proof).map_err(|e| refused(format!("head proof: {e}")))?;
    let key = licence_map::licence_key(authority, licence_id);
    let head = licence_map::verify(&checkpoint.map_root, &key, &map_proof)
        .map_err(|e| refused(format!("head proof of {authority}/{licence_id} in {}: {e}", proof.origin)))?;
    Ok(Proven { checkpoint, head })
}

/// Why a wire head proof's map proof is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireMapProofError {
    #[error(transparent)]
    Siblings(#[from] crate::log::EntryError),
    #[error("{what} is {len} bytes, not 32")]
    IdLength { what: &'static str, len: usize },
}

/// The map proof in a wire head proof.
pub fn map_proof_of(proof: &pb::LicenceHeadProof) -> Result<MapProof, WireMapProofError> {
    let siblings = proof_hashes(&proof.siblings)?;
    let id = |bytes: &[u8], what: &'static str| -> Result<[u8; 32], WireMapProofError> {
        bytes.try_into().map_err(|_| WireMapProofError::IdLength { what, len: bytes.len() })
    };
    let end = if proof.version > 0 {
        ProofEnd::Head(Head { version: proof.version, id: id(&proof.head_id, "head_id")? })
    } else if proof.other_key.is_empty() {
        ProofEnd::Empty
    } else {
        ProofEnd::Other { key: id(&proof.other_key, "other_key")?, head: Head { version: proof.other_version, id: id(&proof.other_head_id, "other_head_id")? } }
    };
    Ok(MapProof { siblings, end })
}

/// The wire form of a map proof about `authority/licence_id` against checkpoint `note`.
pub fn wire_head_proof(origin: &str, note: &str, authority: &str, licence_id: &str, proof: &MapProof) -> pb::LicenceHeadProof {
    let mut wire = pb::LicenceHeadProof {
        origin: origin.into(),
        checkpoint: note.into(),
        authority: authority.into(),
        licence_id: licence_id.into(),
        siblings: crate::log::wire_proof(&proof.siblings),
        ..Default::default()
    };
    match proof.end {
        ProofEnd::Head(h) => (wire.version, wire.head_id) = (h.version, h.id.to_vec().into()),
        ProofEnd::Empty => {}
        ProofEnd::Other { key, head } => {
            (wire.other_key, wire.other_version, wire.other_head_id) = (key.to_vec().into(), head.version, head.id.to_vec().into())
        }
    }
    wire
}

/// Judges `question` on what `verified` proves, as the node does, then applies the witness
/// quorum: a checkpoint without it makes a VALID answer STALE, saying why.
pub fn judge_verified(question: &Question, verified: &Verified, now: i64, default_max_staleness_secs: u64) -> Judgement {
    let mut judgement = judge_as_node(question, verified, now, default_max_staleness_secs);
    apply_witness_quorum(&mut judgement, &verified.head);
    judgement
}

/// The relying party's witness policy on a judgement: without the quorum a VALID answer is
/// STALE, and the reasons say why.
pub fn apply_witness_quorum(judgement: &mut Judgement, head: &ProvenHead) {
    if let Some(why) = head.quorum_unmet() {
        if judgement.verdict == pb::Verdict::Valid {
            judgement.verdict = pb::Verdict::Stale;
        }
        judgement.reasons.push(why);
    }
}

/// Judges `question` on what `verified` proves with the node's own rules (no witness quorum:
/// that is the relying party's policy). The issuer's log counts as heard from at the head
/// checkpoint's time.
pub fn judge_as_node(question: &Question, verified: &Verified, now: i64, default_max_staleness_secs: u64) -> Judgement {
    let agreements: Vec<&CheckedAgreement> = verified.agreements.iter().collect();
    let crosswalks: Vec<&Crosswalk> = verified.crosswalks.iter().collect();
    let reporters: Vec<&KeySetView> = verified.key_sets.values().collect();
    let parent_reporters: Vec<&KeySetView> = verified.parent.iter().flat_map(|p| p.key_sets.values()).collect();
    let parent = verified.parent.as_deref().map(|p| facts_of(p, now, default_max_staleness_secs, &[], &[], &parent_reporters));
    let facts = Facts { parent: parent.as_ref(), ..facts_of(verified, now, default_max_staleness_secs, &agreements, &crosswalks, &reporters) };
    judge(question, &facts)
}

/// The facts `verified` proves about its licence.
fn facts_of<'a>(
    verified: &'a Verified,
    now: i64,
    default_max_staleness_secs: u64,
    agreements: &'a [&'a CheckedAgreement],
    crosswalks: &'a [&'a Crosswalk],
    reporters: &'a [&'a KeySetView],
) -> Facts<'a> {
    Facts {
        issuer_trusted: verified.issuer_trusted,
        key_set: verified.key_sets.get(&verified.authority),
        chain: &verified.chain,
        fork: None,
        agreements,
        crosswalks,
        log_heard_at: Some(verified.head.checkpoint.time),
        default_max_staleness_secs,
        now,
        withheld: verified.withheld.clone(),
        checked: None,
        folded: None,
        parent: None,
        reporters,
    }
}

fn short(id: &[u8]) -> String {
    hex::encode(&id[..id.len().min(6)])
}
