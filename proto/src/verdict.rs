//! The verification verdict: is a licence valid for this destination, item and end user, and
//! does the relying authority recognise its issuer for that? One pure function over facts that
//! were verified before (by a node when it stored them, or by the offline verifier when it
//! checked a token), so a node and a token give the same answer for the same facts.

use crate::authoring::{format_money, format_time, qualified_control_code};
use crate::catalogue::Crosswalk;
use crate::decision::{split_licence_ref, CheckedDecision};
use crate::pb::{self, Verdict};
use crate::recognition::{licence_covers, recognising, CheckedAgreement, Context};
use crate::rules::{fold, Appealed, LicenceState, Status};
use crate::statement::StatementId;
use crate::trust::{KeySetView, KeyStanding};
use crate::usage::{describe_balance, AskedShipment};

/// Default maximum staleness of an issuer's log when no agreement sets one: a day.
pub const DEFAULT_MAX_STALENESS_SECS: u64 = 86_400;

/// One decision of the chain, as stored.
#[derive(Debug, Clone)]
pub struct Link {
    pub id: StatementId,
    pub decision: pb::Decision,
    /// Key ids of its signatures (verified when stored).
    pub key_ids: Vec<String>,
    /// When it entered its log, as far as known.
    pub logged_at: Option<i64>,
}

/// What is asked.
#[derive(Debug, Clone)]
pub struct Question {
    pub authority: String,
    pub licence_id: String,
    pub relying_authority: String,
    pub context: Context,
}

/// What is known, all of it verified already.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// The issuer's root keys are pinned (or its keys configured) here.
    pub issuer_trusted: bool,
    /// The issuer's key set in force; `None` when its keys are configured rather than logged.
    pub key_set: Option<&'a KeySetView>,
    /// The decision chain in version order (empty: not found).
    pub chain: &'a [Link],
    /// Why the licence or its log is forked, if it is.
    pub fork: Option<String>,
    /// Agreements in force (any relying authority; the right ones are picked here).
    pub agreements: &'a [&'a CheckedAgreement],
    /// Crosswalks held (the latest version of each); an agreement that names one counts codes
    /// through it.
    pub crosswalks: &'a [&'a Crosswalk],
    /// Time of the newest checkpoint held of the issuer's log.
    pub log_heard_at: Option<i64>,
    /// Used when the applied agreement sets no maximum staleness.
    pub default_max_staleness_secs: u64,
    /// The time of the answer.
    pub now: i64,
    /// Why a confidential licence's decisions cannot be read here, when they cannot.
    pub withheld: Option<String>,
    /// The chain's decisions already checked ([`check_chain`]), for a caller that answers
    /// about one licence often; `None`: `judge` checks those it needs.
    pub checked: Option<&'a [(StatementId, CheckedDecision)]>,
    /// The licence state every decision of `checked` folds to, kept by the same caller; used
    /// when the time asked about comes after all of them (a question about now).
    pub folded: Option<&'a LicenceState>,
    /// What is known of the licence this one stands on (`None`: not held): a registration's
    /// general licence, or a re-export licence's parent (with the consent on its chain). Either
    /// authorises an export only when its parent does.
    pub parent: Option<&'a Facts<'a>>,
    /// Key sets held of the authorities whose customs keys signed write-offs in the chain
    /// (`Decision.reported_by`); a write-off whose reporter's key set is missing counts, flagged.
    pub reporters: &'a [&'a KeySetView],
}

/// Every decision of `chain` checked, or why one fails.
pub fn check_chain<'a>(chain: impl IntoIterator<Item = &'a Link>) -> Result<Vec<(StatementId, CheckedDecision)>, crate::decision::FieldError> {
    chain.into_iter().map(|l| CheckedDecision::try_from(l.decision.clone()).map(|d| (l.id, d))).collect()
}

/// The answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
    /// The licence at the time asked about.
    pub state: Option<LicenceState>,
    /// Index into `Facts::agreements` of the agreement applied.
    pub agreement: Option<usize>,
}

impl Judgement {
    fn new(verdict: Verdict, reasons: Vec<String>) -> Self {
        Self { verdict, reasons, warnings: Vec::new(), state: None, agreement: None }
    }
}

/// The verdict for `q` from `f`. Checks run in order and the first that fails decides: trust
/// in the issuer, existence, forks, signing keys, whether its decisions can be read here
/// (confidential licences), the licence's state at the time asked about, its scope,
/// recognition, and last the freshness of the issuer's log.
pub fn judge(q: &Question, f: &Facts<'_>) -> Judgement {
    let licence = format!("{}/{}", q.authority, q.licence_id);
    if !f.issuer_trusted {
        return Judgement::new(
            Verdict::IssuerNotTrusted,
            vec![format!("{} is not a trusted issuer here: its root keys are not pinned in the trust file", q.authority)],
        );
    }
    if f.chain.is_empty() {
        return Judgement::new(Verdict::NotFound, vec![format!("no decision on licence {licence} is held here")]);
    }
    if let Some(fork) = &f.fork {
        return Judgement::new(Verdict::Forked, vec![format!("licence {licence} cannot be relied on: {fork}")]);
    }
    let mut warnings = Vec::new();
    if let Some(set) = f.key_set {
        for link in f.chain {
            if let Err(reason) = link_signers(set, f.reporters, link, f.now, &mut warnings) {
                return Judgement::new(Verdict::BadSignature, vec![reason.to_string()]);
            }
        }
    }
    if let Some(why) = &f.withheld {
        let logged = match f.chain.len() {
            1 => "1 decision".to_string(),
            n => format!("{n} decisions"),
        };
        let exists = format!("licence {licence} exists ({logged} logged, see the proof) but is confidential");
        return Judgement { verdict: Verdict::Restricted, reasons: vec![exists, why.clone()], warnings, state: None, agreement: None };
    }
    let at = q.context.at;
    let checked_here;
    let checked = match f.checked {
        Some(checked) => checked,
        None => {
            checked_here = match check_chain(f.chain.iter().filter(|l| l.decision.decided_at <= at)) {
                Ok(d) => d,
                Err(e) => return Judgement::new(Verdict::BadSignature, vec![format!("a stored decision of {licence} is not valid: {e}")]),
            };
            &checked_here
        }
    };
    let decisions: Vec<&(StatementId, CheckedDecision)> = checked.iter().filter(|(_, d)| d.decision().decided_at <= at).collect();
    let folded = f.folded.filter(|_| decisions.len() == checked.len());
    let state = match folded.map_or_else(|| fold(decisions.iter().map(|(id, d)| (*id, d))), |s| Ok(Some(s.clone()))) {
        Ok(Some(state)) => state,
        Ok(None) => {
            let first = f.chain[0].decision.decided_at;
            return Judgement::new(
                Verdict::NotYetValid,
                vec![format!("licence {licence} was first decided at {}, after the time asked about ({})", format_time(first), format_time(at))],
            );
        }
        Err(e) => return Judgement::new(Verdict::BadSignature, vec![format!("the decision chain of {licence} breaks the licence rules: {e}")]),
    };
    let answer =
        |verdict: Verdict, reasons: Vec<String>| Judgement { verdict, reasons, warnings: warnings.clone(), state: Some(state.clone()), agreement: None };

    // The reasons of the decision that put the licence in its state (a denial, a revocation).
    let last_reasons = decisions.last().map_or(&[][..], |(_, d)| d.decision().reasons.as_slice());
    if let Some((verdict, reasons)) = status_verdict(&licence, &state, last_reasons, at) {
        return answer(verdict, reasons);
    }
    // A registration's scope (items, destinations, end uses) is its general licence's, which
    // must itself be in force and cover the question. A re-export licence's scope is its own,
    // and its parent must be in force with the consent it relies on covering the question.
    let mut re_export = None;
    let general = if state.terms.licence_type == pb::LicenceType::Registration as i32 {
        match under_general_licence(q, &licence, &state.terms, f) {
            Ok(general) => Some(general),
            Err(refused) => {
                let mut j = answer(refused.verdict, refused.reasons);
                j.warnings.extend(refused.warnings);
                return j;
            }
        }
    } else {
        if let Err(reasons) = licence_covers(&state.terms, &q.context) {
            return answer(Verdict::OutOfScope, reasons);
        }
        if !state.terms.parent_licence.is_empty() {
            match under_re_export_parent(q, &licence, &state.terms, f) {
                Ok(parent) => re_export = Some(parent),
                Err(refused) => {
                    let mut j = answer(refused.verdict, refused.reasons);
                    j.warnings.extend(refused.warnings);
                    return j;
                }
            }
        }
        None
    };
    // A shipment asked about must fit what customs have not yet written off.
    let balance = match &q.context.shipment {
        None => None,
        Some(asked) => match shipment_fits(&licence, &state, asked, q.context.control_code.as_deref()) {
            Ok(line) => Some(line),
            Err((verdict, reasons)) => return answer(verdict, reasons),
        },
    };
    // What recognition is judged on: the general licence's terms for a registration.
    let scope = general.as_ref().map_or(&state.terms, |(s, _)| &s.terms);
    let mut applied = None;
    let mut mappings = Vec::new();
    if q.relying_authority != q.authority {
        let crosswalk_of = |named: &str| f.crosswalks.iter().copied().find(|c| c.key() == named);
        match recognising(f.agreements, crosswalk_of, &q.relying_authority, &q.authority, scope, &q.context) {
            Ok((i, used)) => (applied, mappings) = (Some(i), used),
            Err(why_not) => return answer(Verdict::NotRecognised, why_not),
        }
    }
    let max_age = applied.map(|i| f.agreements[i].agreement().max_staleness_secs).filter(|s| *s > 0).unwrap_or(f.default_max_staleness_secs);
    let stale = match f.log_heard_at {
        None => Some(format!("no checkpoint of {}'s log is held here", q.authority)),
        Some(t) if f.now.saturating_sub(t) > max_age as i64 => Some(format!(
            "{}'s log was last heard from at {} ({} ago); {} accepts at most {}",
            q.authority,
            format_time(t),
            human_secs(f.now.saturating_sub(t)),
            q.relying_authority,
            human_secs(max_age as i64)
        )),
        Some(_) => None,
    };
    if let Some(reason) = stale {
        let mut j = answer(Verdict::Stale, vec![reason, "a revocation published since then would not be known here".into()]);
        j.agreement = applied;
        return j;
    }
    let t = &state.terms;
    let mut reasons =
        vec![format!("licence {licence} (version {}) is ISSUED, valid {} to {}", state.version, format_time(t.valid_from), format_time(t.valid_until))];
    if let Some((g, _)) = &general {
        reasons.push(format!(
            "it registers {} under general licence {} (version {}), ISSUED, valid {} to {}",
            t.applicant.as_ref().map_or("its exporter", |p| p.name.as_str()),
            t.general_licence,
            g.version,
            format_time(g.terms.valid_from),
            format_time(g.terms.valid_until)
        ));
    }
    if let Some((parent, consent, _)) = &re_export {
        reasons.push(format!(
            "it re-exports under licence {} (version {}), ISSUED, valid {} to {}, with {} given in version {} to {} for {}",
            t.parent_licence,
            parent.version,
            format_time(parent.terms.valid_from),
            format_time(parent.terms.valid_until),
            consent.name(),
            consent.version,
            consent.consent.re_export_authority,
            consent.consent.destinations.join(", ")
        ));
    }
    let asked: Vec<String> = [
        q.context.destination.clone(),
        q.context.control_code.clone(),
        q.context.end_user.as_ref().map(|u| format!("end user {u:?}")),
        q.context.end_use.as_ref().filter(|_| !scope.permitted_end_uses.is_empty()).map(|u| format!("end use {u:?}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !asked.is_empty() {
        let whose = if general.is_some() { "the general licence" } else { "the licence" };
        reasons.push(format!("{whose} covers {}", asked.join(", ")));
    }
    match balance {
        Some(line) => reasons.push(line),
        None if state.usage.shipments() > 0 => {
            let lines: Vec<String> = state.usage.balances(&state.terms).iter().map(describe_balance).collect();
            reasons.push(format!("balance after customs write-offs: {}", lines.join("; ")));
        }
        None => {}
    }
    match applied {
        Some(i) => {
            reasons.push(format!("recognised under {}", f.agreements[i]));
            reasons.extend(mappings.iter().map(|how| format!("control code counted through the crosswalk: {how}")));
        }
        None => reasons.push(format!("{} relies on its own licence", q.relying_authority)),
    }
    let mut j = answer(Verdict::Valid, reasons);
    j.agreement = applied;
    // The no-undercut record of the grant travels with every answer (docs/consultation.md).
    if let Some((_, grant)) = decisions.iter().rev().find(|(_, d)| d.action() == pb::Action::Grant) {
        let g = grant.decision();
        for c in &g.consultations {
            j.reasons.push(format!("granted after consultation {}/{c} on a partner's denial", g.authority));
        }
        if let Some(o) = &g.undercut_override {
            let why: Vec<String> = o.reasons.iter().map(|r| format!("{}: {}", r.code, r.text)).collect();
            j.warnings.push(format!("granted over the denial of {} without consultation; override reasons: {}", o.denials.join(", "), why.join("; ")));
        }
    }
    if let Some((_, warnings)) = general {
        j.warnings.extend(warnings);
    }
    if let Some((_, consent, warnings)) = re_export {
        j.warnings.extend(warnings);
        j.reasons.extend(consent.consent.conditions.iter().map(|c| format!("condition of {}: {c}", consent.name())));
    }
    j
}

/// A re-export licence's parent judged as its own issuer relies on it (state, keys, forks and
/// log freshness; the question's control code, not its destination or end user, which are the
/// consent's), then the consent it relies on: on the parent's chain by the time asked about, not
/// withdrawn, for this licence's authority, and covering the question's destination, end user
/// and control code. Its parent's state, the consent and the parent's warnings when they
/// authorise the re-export, else the answer, its reasons naming the parent or the consent.
fn under_re_export_parent(
    q: &Question,
    licence: &str,
    child: &pb::Decision,
    f: &Facts<'_>,
) -> Result<(LicenceState, crate::re_export::Consent, Vec<String>), Refusal> {
    let reference = &child.parent_licence;
    let child_of = format!("licence {licence} is a re-export under licence {reference}");
    // The quantity asked about is the re-export licence's own balance, not the parent's.
    let context = Context { destination: None, end_user: None, end_use: None, shipment: None, ..q.context.clone() };
    let (judged, parent) = judge_parent(&child_of, reference, context, f)?;
    let state = match (judged.verdict, judged.state) {
        // A parent whose goods were all shipped is in force for their re-export.
        (Verdict::Valid | Verdict::Exhausted, Some(state)) => state,
        (verdict, _) => {
            let mut reasons = vec![format!("{child_of}, which does not authorise this re-export:")];
            reasons.extend(judged.reasons.into_iter().map(|r| format!("parent licence {reference}: {r}")));
            return Err(Refusal { verdict, reasons, warnings: judged.warnings });
        }
    };
    let held = crate::re_export::consents(parent.chain.iter().map(|l| &l.decision).filter(|d| d.decided_at <= q.context.at));
    let Some(consent) = held.into_iter().find(|c| c.consent.consent_id == child.consent_id) else {
        return Err(Refusal::new(Verdict::NotFound, format!("{child_of} with consent {}, which is not on that licence's chain", child.consent_id)));
    };
    let name = consent.name();
    if let Some((version, at)) = consent.withdrawn {
        return Err(Refusal::new(
            Verdict::OutOfScope,
            format!("{child_of}: {name} was withdrawn (version {version} of {reference}, {}), so the re-export is no longer consented", format_time(at)),
        ));
    }
    if consent.consent.re_export_authority != q.authority {
        return Err(Refusal::new(
            Verdict::OutOfScope,
            format!("{child_of}: {name} consents to a re-export licensed by {}, not {}", consent.consent.re_export_authority, q.authority),
        ));
    }
    let uncovered = crate::re_export::uncovered_question(&consent, &q.context);
    if !uncovered.is_empty() {
        return Err(Refusal { verdict: Verdict::OutOfScope, reasons: uncovered, warnings: judged.warnings });
    }
    Ok((state, consent, judged.warnings))
}

/// A registration's general licence judged for the same question (its scope, state, keys and
/// log freshness, as its own issuer relies on it): its state and warnings when it authorises
/// the export, else the answer, its reasons saying it is the general licence that refuses.
fn under_general_licence(q: &Question, licence: &str, registration: &pb::Decision, f: &Facts<'_>) -> Result<(LicenceState, Vec<String>), Refusal> {
    let reference = &registration.general_licence;
    let registered = format!("licence {licence} is a registration under general licence {reference}");
    let (judged, _) = judge_parent(&registered, reference, q.context.clone(), f)?;
    let state = judged.state.clone().filter(|s| s.terms.licence_type == pb::LicenceType::GeneralAuthorisation as i32);
    match (judged.verdict, state) {
        (Verdict::Valid, Some(state)) => Ok((state, judged.warnings)),
        (Verdict::Valid, None) => Err(Refusal::new(Verdict::OutOfScope, format!("{registered}, which is not a general licence"))),
        (verdict, _) => {
            let mut reasons = vec![format!("{registered}, which does not authorise this export:")];
            reasons.extend(judged.reasons.into_iter().map(|r| format!("general licence {reference}: {r}")));
            Err(Refusal { verdict, reasons, warnings: judged.warnings })
        }
    }
}

/// The licence `reference` that a licence stands on (its general licence or its re-export
/// parent, `f.parent`), judged on its own for `context` as its issuer relies on it (a parent's
/// own parent is not followed), with the facts it was judged on; `described` says what the
/// licence is to it, for the refusals.
fn judge_parent<'a>(described: &str, reference: &str, context: Context, f: &Facts<'a>) -> Result<(Judgement, Facts<'a>), Refusal> {
    let Some((authority, licence_id)) = split_licence_ref(reference) else {
        return Err(Refusal::new(Verdict::NotFound, format!("{described}, which is not a licence reference")));
    };
    let Some(parent) = f.parent.filter(|p| !p.chain.is_empty()) else {
        return Err(Refusal::new(Verdict::NotFound, format!("{described}, which is not held here")));
    };
    let parent = Facts { parent: None, ..parent.clone() };
    let question = Question { authority: authority.into(), licence_id: licence_id.into(), relying_authority: authority.into(), context };
    Ok((judge(&question, &parent), parent))
}

/// Why a registration's general licence does not authorise the export.
struct Refusal {
    verdict: Verdict,
    reasons: Vec<String>,
    warnings: Vec<String>,
}

impl Refusal {
    fn new(verdict: Verdict, reason: String) -> Self {
        Self { verdict, reasons: vec![reason], warnings: Vec::new() }
    }
}

/// Checks one decision's signing keys: a write-off's against its reporting authority's key
/// set, as a customs key (counted with a warning when that key set is not held); anything else
/// against the issuer's, as a licensing key.
fn link_signers(issuer: &KeySetView, reporters: &[&KeySetView], link: &Link, now: i64, warnings: &mut Vec<String>) -> Result<(), SignerError> {
    if link.decision.action != pb::Action::WriteOff as i32 {
        return signer_standing(issuer, pb::KeyRole::Licensing, link, now, warnings);
    }
    let reporter = &link.decision.reported_by;
    match reporters.iter().find(|s| s.authority == *reporter) {
        Some(set) => signer_standing(set, pb::KeyRole::Customs, link, now, warnings),
        None => {
            warnings.push(format!(
                "write-off v{} was signed by a customs key of {reporter}, whose key set is not held here: it counts as {}'s log holds it",
                link.decision.version, issuer.authority
            ));
            Ok(())
        }
    }
}

/// Checks one decision's signing keys against the key set and the role they must have; a key
/// compromised only after the decision entered the log adds a warning.
fn signer_standing(set: &KeySetView, role: pb::KeyRole, link: &Link, now: i64, warnings: &mut Vec<String>) -> Result<(), SignerError> {
    let version = link.decision.version;
    for key_id in &link.key_ids {
        let key = set.find(key_id).ok_or_else(|| SignerError::NotListed {
            version,
            key_id: key_id.clone(),
            set_version: set.version,
            authority: set.authority.clone(),
        })?;
        let held = set.entry(&key).map_or(pb::KeyRole::Licensing, |e| e.role);
        if held != role {
            return Err(SignerError::WrongRole { version, key_id: key_id.clone(), authority: set.authority.clone(), held, needed: role });
        }
        let logged = link.logged_at.unwrap_or(now);
        crate::log::check_dated_by_log_time(link.decision.decided_at, logged).map_err(|source| SignerError::Dated { version, source })?;
        match set.standing(&key, logged) {
            KeyStanding::Good => {}
            KeyStanding::CompromisedAfter { since } => warnings.push(format!(
                "decision v{version} was signed with key {key_id}, declared compromised since {}; it entered the log before that ({}) and stays valid",
                format_time(since),
                format_time(logged)
            )),
            KeyStanding::Compromised { since } => return Err(SignerError::Compromised { version, key_id: key_id.clone(), since, logged }),
            KeyStanding::OutsideWindow => return Err(SignerError::OutsideWindow { version, key_id: key_id.clone(), logged }),
            KeyStanding::Unknown => return Err(SignerError::Unknown { version, key_id: key_id.clone(), set_version: set.version }),
        }
    }
    Ok(())
}

/// Why a decision's signing key does not stand for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum SignerError {
    #[error("decision v{version} was signed by key {key_id}, which key set v{set_version} of {authority} does not list")]
    NotListed { version: u64, key_id: String, set_version: u64, authority: String },
    #[error("decision v{version}: {source}")]
    Dated { version: u64, source: crate::log::EntryError },
    #[error("decision v{version} was signed with key {key_id}, compromised since {}, and entered the log at {}", format_time(*since), format_time(*logged))]
    Compromised { version: u64, key_id: String, since: i64, logged: i64 },
    #[error("decision v{version} entered the log at {}, outside the validity of its signing key {key_id}", format_time(*logged))]
    OutsideWindow { version: u64, key_id: String, logged: i64 },
    #[error("decision v{version} was signed by key {key_id}, which is not in key set v{set_version}")]
    Unknown { version: u64, key_id: String, set_version: u64 },
    #[error("decision v{version} was signed by key {key_id}, a {} key of {authority}; it needs a {} key", held.as_str_name(), needed.as_str_name())]
    WrongRole { version: u64, key_id: String, authority: String, held: pb::KeyRole, needed: pb::KeyRole },
}

/// The verdict for a licence whose state at `at` is not plainly issued and in force.
fn status_verdict(licence: &str, state: &LicenceState, last_reasons: &[pb::Reason], at: i64) -> Option<(Verdict, Vec<String>)> {
    let last = format!("{} on {}", state.last_action.as_str_name(), format_time(state.last_decided_at));
    let why: Vec<String> = last_reasons.iter().map(|r| format!("{}: {} ({})", r.code, r.text, r.legal_basis)).collect();
    let with_reasons = |head: String| std::iter::once(head).chain(why.iter().cloned()).collect::<Vec<_>>();
    let verdict = match state.status {
        Status::Issued => match state.status_at(at) {
            pb::LicenceStatus::Expired => {
                return Some((Verdict::Expired, vec![format!("licence {licence} expired at {}", format_time(state.terms.valid_until))]))
            }
            pb::LicenceStatus::NotYetValid => {
                return Some((Verdict::NotYetValid, vec![format!("licence {licence} is valid only from {}", format_time(state.terms.valid_from))]))
            }
            _ => return None,
        },
        Status::Denied => (Verdict::Denied, with_reasons(format!("licence application {licence} was denied ({last})"))),
        Status::UnderAppeal(Appealed::Denied) => {
            (Verdict::Denied, with_reasons(format!("licence application {licence} was denied; an appeal is pending ({last})")))
        }
        Status::Suspended | Status::UnderAppeal(Appealed::Suspended) => (Verdict::Suspended, with_reasons(format!("licence {licence} is suspended ({last})"))),
        Status::Revoked | Status::UnderAppeal(Appealed::Revoked) => (Verdict::Revoked, with_reasons(format!("licence {licence} was revoked ({last})"))),
        Status::Surrendered => (Verdict::Revoked, vec![format!("licence {licence} was surrendered by its holder ({last}); it no longer authorises exports")]),
        Status::Cancelled => (Verdict::Revoked, vec![format!("licence {licence} was cancelled ({last}); it no longer authorises exports")]),
        Status::UnderReview => (
            Verdict::NotIssued,
            with_reasons(format!(
                "{licence} is an application under review, received {}; no licence has been granted ({last})",
                format_time(state.terms.application_received)
            )),
        ),
        Status::Withdrawn => (Verdict::NotIssued, vec![format!("the application {licence} was withdrawn by the applicant ({last}); no licence was granted")]),
        Status::Exhausted => {
            let mut reasons = vec![format!(
                "licence {licence} is exhausted: customs wrote off every licensed quantity in {} shipments ({last}); nothing more may ship under it",
                state.usage.shipments()
            )];
            reasons.extend(state.usage.balances(&state.terms).iter().map(describe_balance));
            (Verdict::Exhausted, reasons)
        }
    };
    Some(verdict)
}

/// Whether the shipment asked about fits the licence's balance: the line saying what remains
/// after it, or the answer refusing it (the item cannot be told, or the balance is exceeded).
fn shipment_fits(licence: &str, state: &LicenceState, asked: &AskedShipment, control_code: Option<&str>) -> Result<String, (Verdict, Vec<String>)> {
    let items = &state.terms.items;
    let n = match (asked.item, control_code) {
        // The item the code is at or under, as the licence's scope counts it.
        (0, Some(code)) => items.iter().position(|i| crate::recognition::is_at_or_under(&qualified_control_code(i), code)).map(|i| i as u32 + 1),
        (0, None) if items.len() == 1 => Some(1),
        (0, None) => {
            return Err((Verdict::OutOfScope, vec![format!("licence {licence} has {} items: name the item (its number or control code)", items.len())]))
        }
        (n, _) => Some(n),
    };
    let Some((n, left)) = n.and_then(|n| Some((n, state.usage.remaining(&state.terms, n)?))) else {
        let which = if asked.item > 0 { format!("item {}", asked.item) } else { format!("item with control code {}", control_code.unwrap_or_default()) };
        return Err((Verdict::OutOfScope, vec![format!("licence {licence} has no {which} (it has {} items)", items.len())]));
    };
    let item = &items[n as usize - 1];
    let code = qualified_control_code(item);
    let written_off = match state.usage.shipments() {
        0 => "nothing written off yet".to_string(),
        1 => "after 1 shipment written off".to_string(),
        k => format!("after {k} shipments written off"),
    };
    let mut over = Vec::new();
    if let (Some(quantity), Some(left)) = (asked.quantity, left.quantity) {
        if quantity > left {
            over.push(format!(
                "item {n} ({code}) has {left} {unit} left of {} {unit} ({written_off}); {quantity} {unit} asked",
                item.quantity,
                unit = item.unit
            ));
        }
    }
    if let Some(left) = left.value_minor.filter(|left| asked.value_minor > *left) {
        over.push(format!(
            "item {n} ({code}) has {} {cur} of its value left ({written_off}); {} {cur} asked",
            format_money(left, &item.currency),
            format_money(asked.value_minor, &item.currency),
            cur = item.currency
        ));
    }
    if !over.is_empty() {
        return Err((Verdict::OverBalance, over));
    }
    let quantity = asked.quantity.map_or_else(String::new, |q| format!("{q} {} ", item.unit));
    let remaining = match left.quantity {
        Some(left) => format!("{left} of {} {} remain", item.quantity, item.unit),
        None => "the item sets no quantity limit".to_string(),
    };
    Ok(format!("item {n} ({code}): {quantity}fits the balance; {remaining} ({written_off})"))
}

/// A duration as people read it: `45 s`, `12 min`, `5 h`, `3 days`.
pub fn human_secs(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::fixtures::{follow_up, grant, DECIDED};

    const DAY: i64 = 86_400;

    fn link(n: u8, decision: pb::Decision) -> Link {
        Link { id: StatementId([n; 32]), decision, key_ids: Vec::new(), logged_at: None }
    }

    // A caller's kept fold of the whole chain gives the same judgement as folding afresh, for a
    // time before, inside and after the chain (where only part of it, or all of it, applies).
    #[test]
    fn a_kept_fold_judges_like_folding_afresh() {
        let granted = grant("de.bafa", "DE-2026-0001");
        let suspended = follow_up(&granted, pb::Action::Suspend, 2, [1; 32]);
        let reinstated = follow_up(&granted, pb::Action::Reinstate, 3, [2; 32]);
        let chain = vec![link(1, granted), link(2, suspended), link(3, reinstated)];
        let checked = check_chain(&chain).unwrap();
        let folded = fold(checked.iter().map(|(id, d)| (*id, d))).unwrap().unwrap();
        let mut verdicts = Vec::new();
        for at in [DECIDED - DAY, DECIDED + DAY / 2, DECIDED + 2 * DAY + 1, DECIDED + 30 * DAY] {
            let q = Question {
                authority: "de.bafa".into(),
                licence_id: "DE-2026-0001".into(),
                relying_authority: "de.bafa".into(),
                context: Context { destination: Some("JP".into()), control_code: None, end_user: None, end_use: None, at, shipment: None },
            };
            let facts = Facts {
                issuer_trusted: true,
                chain: &chain,
                log_heard_at: Some(at),
                default_max_staleness_secs: 3600,
                now: at,
                checked: Some(&checked),
                ..Default::default()
            };
            let afresh = judge(&q, &facts);
            let kept = judge(&q, &Facts { folded: Some(&folded), ..facts.clone() });
            assert_eq!(kept, afresh, "at {at}");
            verdicts.push(kept.verdict);
        }
        assert_eq!(verdicts, [Verdict::NotYetValid, Verdict::Valid, Verdict::Suspended, Verdict::Valid]);
    }

    // A registration answers like an individual licence: valid only while it and its general
    // licence are in force and the general licence covers the question; the reasons say which
    // of the two refuses.
    #[test]
    fn a_registration_is_judged_with_its_general_licence() {
        use crate::decision::fixtures::{general_licence, registration};
        let gl = general_licence("uk.ecju", "OGEL-DU-REPAIR");
        let reg = registration("uk.ecju", "GBOGE2026/01234", "uk.ecju/OGEL-DU-REPAIR");
        // After the follow-up decisions below (each dated its version's day after DECIDED).
        let at = DECIDED + 3 * DAY;
        let question = |destination: &str, end_use: Option<&str>| Question {
            authority: "uk.ecju".into(),
            licence_id: "GBOGE2026/01234".into(),
            relying_authority: "uk.ecju".into(),
            context: Context {
                destination: Some(destination.into()),
                control_code: Some("UK:3A001.b.2.b".into()),
                end_user: None,
                end_use: end_use.map(str::to_string),
                at,
                shipment: None,
            },
        };
        let facts = |chain: &'static [Link], parent: Option<&'static Facts<'static>>| Facts {
            issuer_trusted: true,
            chain,
            log_heard_at: Some(at),
            default_max_staleness_secs: 3600,
            now: at,
            parent,
            ..Default::default()
        };
        let leak = |links: Vec<Link>| -> &'static [Link] { Box::leak(links.into_boxed_slice()) };
        let gl_chain = leak(vec![link(1, gl.clone())]);
        let gl_facts: &'static Facts<'static> = Box::leak(Box::new(facts(gl_chain, None)));
        let reg_chain = leak(vec![link(2, reg.clone())]);

        let valid = judge(&question("NZ", Some("repair under warranty")), &facts(reg_chain, Some(gl_facts)));
        assert_eq!(valid.verdict, Verdict::Valid, "{:?}", valid.reasons);
        assert!(valid.reasons.iter().any(|r| r.contains("under general licence uk.ecju/OGEL-DU-REPAIR (version 1)")), "{:?}", valid.reasons);

        let out = judge(&question("CN", None), &facts(reg_chain, Some(gl_facts)));
        assert_eq!(out.verdict, Verdict::OutOfScope);
        assert!(out.reasons.iter().any(|r| r.starts_with("general licence uk.ecju/OGEL-DU-REPAIR: destination CN")), "{:?}", out.reasons);
        let wrong_use = judge(&question("NZ", Some("military end use")), &facts(reg_chain, Some(gl_facts)));
        assert_eq!(wrong_use.verdict, Verdict::OutOfScope);

        let missing = judge(&question("NZ", None), &facts(reg_chain, None));
        assert_eq!(missing.verdict, Verdict::NotFound);
        assert!(missing.reasons[0].contains("which is not held here"), "{:?}", missing.reasons);

        let suspended_gl = leak(vec![link(1, gl.clone()), link(3, follow_up(&gl, pb::Action::Suspend, 2, [1; 32]))]);
        let suspended_facts: &'static Facts<'static> = Box::leak(Box::new(facts(suspended_gl, None)));
        let suspended = judge(&question("NZ", None), &facts(reg_chain, Some(suspended_facts)));
        assert_eq!(suspended.verdict, Verdict::Suspended);
        assert!(
            suspended.reasons.iter().any(|r| r.starts_with("general licence uk.ecju/OGEL-DU-REPAIR: licence uk.ecju/OGEL-DU-REPAIR is suspended")),
            "{:?}",
            suspended.reasons
        );

        let revoked_reg = leak(vec![link(2, reg.clone()), link(4, follow_up(&reg, pb::Action::Revoke, 2, [2; 32]))]);
        let revoked = judge(&question("NZ", None), &facts(revoked_reg, Some(gl_facts)));
        assert_eq!(revoked.verdict, Verdict::Revoked);
        assert!(revoked.reasons[0].contains("licence uk.ecju/GBOGE2026/01234 was revoked"), "{:?}", revoked.reasons);

        // A "general licence" that is an individual licence does not carry registrations.
        let individual = leak(vec![link(1, grant("uk.ecju", "OGEL-DU-REPAIR"))]);
        let individual_facts: &'static Facts<'static> = Box::leak(Box::new(facts(individual, None)));
        let mut q = question("JP", None);
        q.context.control_code = Some("EU-DU:3A001.a.1".into());
        assert_eq!(judge(&q, &facts(reg_chain, Some(individual_facts))).verdict, Verdict::OutOfScope);
    }

    // A write-off counts when a CUSTOMS key of its reporting authority signed it; a licensing
    // key cannot sign one, a customs key cannot sign anything else, and a write-off whose
    // reporter's key set is not held still counts (it only draws the balance down), flagged.
    #[test]
    fn write_offs_are_judged_by_their_customs_keys() {
        use crate::statement::{key_id, Signer};
        use crate::trust::KeyEntry;
        let entry = |s: &Signer, role: pb::KeyRole| KeyEntry {
            key: s.verifying_key(),
            valid_from: 0,
            valid_until: 0,
            compromised_since: None,
            role,
            holder: String::new(),
        };
        let (licensing, bafa_customs, japan_customs) = (Signer::from_seed(&[1; 32]), Signer::from_seed(&[2; 32]), Signer::from_seed(&[3; 32]));
        let set = |authority: &str, keys: Vec<KeyEntry>| KeySetView { authority: authority.into(), version: 1, issued_at: 0, keys, id: StatementId([9; 32]) };
        let bafa = set("de.bafa", vec![entry(&licensing, pb::KeyRole::Licensing), entry(&bafa_customs, pb::KeyRole::Customs)]);
        let meti = set("jp.meti", vec![entry(&japan_customs, pb::KeyRole::Customs)]);
        let granted = grant("de.bafa", "DE-2026-0001");
        let mut written_off = follow_up(&granted, pb::Action::WriteOff, 2, [1; 32]);
        written_off.reported_by = "jp.meti".into();
        let signed = |n: u8, d: pb::Decision, by: &Signer| Link { key_ids: vec![key_id(&by.verifying_key())], ..link(n, d) };
        let at = DECIDED + 3 * DAY;
        let question = Question {
            authority: "de.bafa".into(),
            licence_id: "DE-2026-0001".into(),
            relying_authority: "de.bafa".into(),
            context: Context { destination: Some("JP".into()), at, ..Default::default() },
        };
        let judged = |chain: Vec<Link>, reporters: &[&KeySetView]| {
            let facts = Facts {
                issuer_trusted: true,
                key_set: Some(&bafa),
                chain: &chain,
                log_heard_at: Some(at),
                default_max_staleness_secs: 3600,
                now: at,
                reporters,
                ..Default::default()
            };
            judge(&question, &facts)
        };
        let valid = judged(vec![signed(1, granted.clone(), &licensing), signed(2, written_off.clone(), &japan_customs)], &[&bafa, &meti]);
        assert_eq!(valid.verdict, Verdict::Valid, "{:?}", valid.reasons);
        assert!(valid.reasons.iter().any(|r| r.contains("199 of 200 pcs left")), "{:?}", valid.reasons);
        assert!(valid.warnings.is_empty(), "{:?}", valid.warnings);

        let mut by_licensing_key = written_off.clone();
        by_licensing_key.reported_by = "de.bafa".into();
        let refused = judged(vec![signed(1, granted.clone(), &licensing), signed(2, by_licensing_key, &licensing)], &[&bafa, &meti]);
        assert_eq!(refused.verdict, Verdict::BadSignature);
        assert!(refused.reasons[0].contains("a LICENSING key of de.bafa; it needs a CUSTOMS key"), "{:?}", refused.reasons);

        let granted_by_customs = judged(vec![signed(1, granted.clone(), &bafa_customs)], &[&bafa]);
        assert_eq!(granted_by_customs.verdict, Verdict::BadSignature);
        assert!(granted_by_customs.reasons[0].contains("a CUSTOMS key of de.bafa; it needs a LICENSING key"), "{:?}", granted_by_customs.reasons);

        let unknown_reporter = judged(vec![signed(1, granted, &licensing), signed(2, written_off, &japan_customs)], &[&bafa]);
        assert_eq!(unknown_reporter.verdict, Verdict::Valid);
        assert!(
            unknown_reporter.warnings.iter().any(|w| w.contains("customs key of jp.meti, whose key set is not held here")),
            "{:?}",
            unknown_reporter.warnings
        );
    }

    // A re-export licence is valid only while its parent (another authority's) is in force and
    // the consent on the parent's chain covers the question; the reasons name the one that refuses.
    #[test]
    fn a_re_export_is_judged_with_its_parent_and_consent() {
        use crate::re_export::fixtures::{child, consent, withdrawal};
        let parent = grant("de.bafa", "DE-2026-000412");
        let given = consent(&parent, "DE-RXC-2026-0007", 2, [1; 32]);
        let kid = child("JP-RX-2026-0001", "de.bafa/DE-2026-000412", "DE-RXC-2026-0007");
        let at = DECIDED + 20 * DAY;
        let question = |destination: &str| Question {
            authority: "jp.meti".into(),
            licence_id: "JP-RX-2026-0001".into(),
            relying_authority: "jp.meti".into(),
            context: Context {
                destination: Some(destination.into()),
                control_code: Some("EU-DU:3A001.a.1".into()),
                end_user: None,
                end_use: None,
                at,
                shipment: None,
            },
        };
        let leak = |links: Vec<Link>| -> &'static [Link] { Box::leak(links.into_boxed_slice()) };
        let facts = |chain: &'static [Link], parent: Option<&'static Facts<'static>>| Facts {
            issuer_trusted: true,
            chain,
            log_heard_at: Some(at),
            default_max_staleness_secs: 3600,
            now: at,
            parent,
            ..Default::default()
        };
        let parent_facts = |links: Vec<Link>| -> &'static Facts<'static> { Box::leak(Box::new(facts(leak(links), None))) };
        let kid_chain = leak(vec![link(9, kid.clone())]);
        let consented = parent_facts(vec![link(1, parent.clone()), link(2, given.clone())]);

        let valid = judge(&question("TH"), &facts(kid_chain, Some(consented)));
        assert_eq!(valid.verdict, Verdict::Valid, "{:?}", valid.reasons);
        assert!(valid.reasons.iter().any(|r| r.contains("re-exports under licence de.bafa/DE-2026-000412 (version 2)")), "{:?}", valid.reasons);
        assert!(valid.reasons.iter().any(|r| r.contains("with consent DE-RXC-2026-0007 of de.bafa")), "{:?}", valid.reasons);

        // The child's own destinations refuse first; a consent naming fewer refuses next.
        let mut wider = kid.clone();
        wider.destinations = vec!["TH".into(), "VN".into()];
        let wider_chain = leak(vec![link(9, wider)]);
        let out = judge(&question("VN"), &facts(wider_chain, Some(consented)));
        assert_eq!(out.verdict, Verdict::OutOfScope);
        assert_eq!(out.reasons, ["consent DE-RXC-2026-0007 of de.bafa does not cover destination VN (it names TH)"]);

        let revoked = parent_facts(vec![link(1, parent.clone()), link(2, given.clone()), link(3, follow_up(&parent, pb::Action::Revoke, 3, [2; 32]))]);
        let refused = judge(&question("TH"), &facts(kid_chain, Some(revoked)));
        assert_eq!(refused.verdict, Verdict::Revoked);
        assert!(
            refused.reasons.iter().any(|r| r.starts_with("parent licence de.bafa/DE-2026-000412: licence de.bafa/DE-2026-000412 was revoked")),
            "{:?}",
            refused.reasons
        );

        let withdrawn = parent_facts(vec![link(1, parent.clone()), link(2, given.clone()), link(3, withdrawal(&parent, "DE-RXC-2026-0007", 3, [2; 32]))]);
        let refused = judge(&question("TH"), &facts(kid_chain, Some(withdrawn)));
        assert_eq!(refused.verdict, Verdict::OutOfScope);
        assert!(refused.reasons[0].contains("consent DE-RXC-2026-0007 of de.bafa was withdrawn"), "{:?}", refused.reasons);

        let no_consent = parent_facts(vec![link(1, parent.clone())]);
        assert_eq!(judge(&question("TH"), &facts(kid_chain, Some(no_consent))).verdict, Verdict::NotFound);
        let missing = judge(&question("TH"), &facts(kid_chain, None));
        assert_eq!(missing.verdict, Verdict::NotFound);
        assert!(missing.reasons[0].contains("which is not held here"), "{:?}", missing.reasons);
    }

    // A quantity asked about is checked against the item the question's code falls under (a
    // sub-item of a licensed heading counts against that heading), after the write-offs so far.
    #[test]
    fn a_shipment_is_checked_against_its_items_balance() {
        use crate::quantity::Quantity;
        use crate::usage::AskedShipment;
        let mut granted = grant("de.bafa", "DE-2026-0001");
        granted.items[0].control_code = "3A001".into();
        let written_off = follow_up(&granted, pb::Action::WriteOff, 2, [1; 32]);
        let chain = [link(1, granted), link(2, written_off)];
        let at = DECIDED + 3 * DAY;
        let ask = |quantity: &str| {
            let question = Question {
                authority: "de.bafa".into(),
                licence_id: "DE-2026-0001".into(),
                relying_authority: "de.bafa".into(),
                context: Context {
                    destination: Some("JP".into()),
                    control_code: Some("EU-DU:3A001.a.1".into()),
                    at,
                    shipment: Some(AskedShipment { item: 0, quantity: Quantity::parse(quantity), value_minor: 0 }),
                    ..Default::default()
                },
            };
            let facts = Facts { issuer_trusted: true, chain: &chain, log_heard_at: Some(at), default_max_staleness_secs: 3600, now: at, ..Default::default() };
            judge(&question, &facts)
        };
        let fits = ask("199");
        assert_eq!(fits.verdict, Verdict::Valid, "{:?}", fits.reasons);
        assert!(
            fits.reasons.contains(&"item 1 (EU-DU:3A001): 199 pcs fits the balance; 199 of 200 pcs remain (after 1 shipment written off)".to_string()),
            "{:?}",
            fits.reasons
        );
        let over = ask("200");
        assert_eq!(over.verdict, Verdict::OverBalance);
        assert_eq!(over.reasons, ["item 1 (EU-DU:3A001) has 199 pcs left of 200 pcs (after 1 shipment written off); 200 pcs asked"]);
    }
}
