//! The verification verdict: is a licence valid for this destination, item and end user, and
//! does the relying authority recognise its issuer for that? One pure function over facts that
//! were verified before (by a node when it stored them, or by the offline verifier when it
//! checked a token), so a node and a token give the same answer for the same facts.

use crate::authoring::format_time;
use crate::catalogue::Crosswalk;
use crate::decision::CheckedDecision;
use crate::pb::{self, Verdict};
use crate::recognition::{agreement_covers, licence_covers, CheckedAgreement, Context};
use crate::rules::{fold, Appealed, LicenceState, Status};
use crate::statement::StatementId;
use crate::trust::{KeySetView, KeyStanding};

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
            if let Err(reason) = signer_standing(set, link, f.now, &mut warnings) {
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
    if let Err(reasons) = licence_covers(&state.terms, &q.context) {
        return answer(Verdict::OutOfScope, reasons);
    }
    let mut applied = None;
    let mut mappings = Vec::new();
    if q.relying_authority != q.authority {
        let candidates: Vec<usize> = (0..f.agreements.len())
            .filter(|i| {
                let a = f.agreements[*i].agreement();
                a.relying_authority == q.relying_authority && a.recognised_authority == q.authority && !a.withdrawn
            })
            .collect();
        if candidates.is_empty() {
            return answer(
                Verdict::NotRecognised,
                vec![format!("{} has no recognition agreement in force for licences of {}", q.relying_authority, q.authority)],
            );
        }
        let mut why_not = Vec::new();
        for i in candidates {
            let named = &f.agreements[i].agreement().crosswalk;
            let crosswalk = f.crosswalks.iter().copied().find(|c| !named.is_empty() && c.key() == *named);
            match agreement_covers(f.agreements[i], &state.terms, &q.context, crosswalk) {
                Ok(used) => {
                    applied = Some(i);
                    mappings = used;
                    break;
                }
                Err(reasons) => why_not.extend(reasons),
            }
        }
        if applied.is_none() {
            return answer(Verdict::NotRecognised, why_not);
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
    if q.context.destination.is_some() || q.context.control_code.is_some() || q.context.end_user.is_some() {
        let asked: Vec<String> =
            [q.context.destination.clone(), q.context.control_code.clone(), q.context.end_user.as_ref().map(|u| format!("end user {u:?}"))]
                .into_iter()
                .flatten()
                .collect();
        reasons.push(format!("the licence covers {}", asked.join(", ")));
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
    j
}

/// Checks one decision's signing keys against the key set; a key compromised only after the
/// decision entered the log adds a warning.
fn signer_standing(set: &KeySetView, link: &Link, now: i64, warnings: &mut Vec<String>) -> Result<(), SignerError> {
    let version = link.decision.version;
    for key_id in &link.key_ids {
        let key = set.find(key_id).ok_or_else(|| SignerError::NotListed {
            version,
            key_id: key_id.clone(),
            set_version: set.version,
            authority: set.authority.clone(),
        })?;
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
    };
    Some(verdict)
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
                context: Context { destination: Some("JP".into()), control_code: None, end_user: None, at },
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
}
