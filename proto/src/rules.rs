//! The licence rules: a pure state machine that folds a licence's decisions in version order.
//!
//! The transition table is documented in `docs/licence-rules.md` and every cell is tested below.
//! Nothing here does I/O or checks signatures: callers pass decisions already verified.

use std::fmt;

use crate::authoring::qualified_control_code;
use crate::decision::{states_terms, CheckedDecision};
use crate::pb::{self, Action, LicenceStatus};
use crate::statement::StatementId;
use crate::usage::Usage;

/// The state a licence's decisions put it in (time-derived states such as expiry are not here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Issued,
    Denied,
    Suspended,
    Revoked,
    Surrendered,
    Cancelled,
    /// An appeal is pending against the decision that produced the inner state.
    UnderAppeal(Appealed),
    /// An application lodged and not yet decided: only milestones so far.
    UnderReview,
    /// The applicant withdrew the application before a decision.
    Withdrawn,
    /// Customs wrote off every limited item: nothing more may ship under it.
    Exhausted,
}

/// The states an appeal can be lodged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Appealed {
    Denied,
    Suspended,
    Revoked,
}

impl Appealed {
    fn status(self) -> Status {
        match self {
            Appealed::Denied => Status::Denied,
            Appealed::Suspended => Status::Suspended,
            Appealed::Revoked => Status::Revoked,
        }
    }
}

impl Status {
    /// The wire status.
    pub fn to_wire(self) -> LicenceStatus {
        match self {
            Status::Issued => LicenceStatus::Issued,
            Status::Denied => LicenceStatus::Denied,
            Status::Suspended => LicenceStatus::Suspended,
            Status::Revoked => LicenceStatus::Revoked,
            Status::Surrendered => LicenceStatus::Surrendered,
            Status::Cancelled => LicenceStatus::Cancelled,
            Status::UnderAppeal(_) => LicenceStatus::UnderAppeal,
            Status::UnderReview => LicenceStatus::UnderReview,
            Status::Withdrawn => LicenceStatus::Withdrawn,
            Status::Exhausted => LicenceStatus::Exhausted,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::UnderAppeal(a) => write!(f, "UNDER_APPEAL (against {})", a.status().to_wire().as_str_name()),
            s => f.write_str(s.to_wire().as_str_name()),
        }
    }
}

/// The state after applying `action` to a licence in state `from` (`None`: no decision yet), or
/// `None` when the transition is illegal. This function is the transition table.
pub fn transition(from: Option<Status>, action: Action) -> Option<Status> {
    use Action as A;
    use Status as S;
    match (from, action) {
        (None | Some(S::UnderReview), A::Grant) => Some(S::Issued),
        (None | Some(S::UnderReview), A::Deny) => Some(S::Denied),
        (None, A::ApplicationLodged) => Some(S::UnderReview),
        (Some(S::UnderReview), A::InformationRequested | A::Referred) => Some(S::UnderReview),
        (Some(S::UnderReview), A::ApplicationWithdrawn) => Some(S::Withdrawn),
        (Some(S::Issued), A::Amend | A::Extend) => Some(S::Issued),
        // A write-off leaves the licence issued; `LicenceState::apply` makes it EXHAUSTED when
        // it used the last limited item up, and an amendment that adds quantity issues it again.
        (Some(S::Issued), A::WriteOff) => Some(S::Issued),
        (Some(S::Exhausted), A::Amend) => Some(S::Issued),
        (Some(S::Exhausted), A::Revoke) => Some(S::Revoked),
        (Some(S::Exhausted), A::Surrender) => Some(S::Surrendered),
        (Some(S::Exhausted), A::Cancel) => Some(S::Cancelled),
        (Some(S::Issued), A::Suspend) => Some(S::Suspended),
        (Some(S::Suspended), A::Reinstate) => Some(S::Issued),
        (Some(S::Issued | S::Suspended), A::Revoke) => Some(S::Revoked),
        (Some(S::Issued | S::Suspended), A::Surrender) => Some(S::Surrendered),
        (Some(S::Issued | S::Suspended), A::Cancel) => Some(S::Cancelled),
        (Some(S::Denied), A::AppealLodged) => Some(S::UnderAppeal(Appealed::Denied)),
        (Some(S::Suspended), A::AppealLodged) => Some(S::UnderAppeal(Appealed::Suspended)),
        (Some(S::Revoked), A::AppealLodged) => Some(S::UnderAppeal(Appealed::Revoked)),
        (Some(S::UnderAppeal(against)), A::AppealUpheld) => Some(against.status()),
        (Some(S::UnderAppeal(_)), A::AppealOverturned) => Some(S::Issued),
        // A consent to a re-export, and its withdrawal, leave the licence as it was.
        (Some(S::Issued), A::ReExportConsent | A::ConsentWithdrawn) => Some(S::Issued),
        // Goods all shipped may still be re-exported: the usual case of a consent.
        (Some(S::Exhausted), A::ReExportConsent | A::ConsentWithdrawn) => Some(S::Exhausted),
        _ => None,
    }
}

/// Why a decision cannot follow the licence's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("decision is for licence {got}, not {expected}")]
    WrongLicence { expected: String, got: String },
    #[error("version {got} does not follow the current version {current}: expected {expected}", expected = current + 1)]
    VersionGap { current: u64, got: u64 },
    #[error("version {got} is already decided (current version {current})")]
    VersionTaken { current: u64, got: u64 },
    #[error("previous must be {expected}, the id of version {version}")]
    PreviousMismatch { version: u64, expected: StatementId },
    #[error("{action} is not allowed when the licence is {from}")]
    IllegalTransition { action: &'static str, from: String },
    #[error("{field} cannot change after the licence was applied for (was `{was}`, now `{now}`)")]
    TermsChanged { field: &'static str, was: String, now: String },
    #[error("EXTEND must move valid_until later than the current {current}")]
    NotAnExtension { current: i64 },
    #[error("decided_at {got} is before the previous decision ({previous})")]
    DecidedEarlier { previous: i64, got: i64 },
    #[error("application_received must stay {lodged} (when the application under review was received), got {got}")]
    ApplicationChanged { lodged: i64, got: i64 },
    #[error("write-off refused: {0}")]
    WriteOff(String),
    #[error("amendment refused: {0}")]
    BelowWrittenOff(String),
}

/// A licence after folding its decisions.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenceState {
    /// Current version (the number of decisions).
    pub version: u64,
    /// Id of the latest decision.
    pub head: StatementId,
    pub status: Status,
    /// Terms in force: the latest GRANT / DENY / AMEND / APPEAL_OVERTURNED with later EXTENDs
    /// applied to `valid_until`. Chain fields (version, previous, action, reasons) are those of
    /// the decision that stated the terms.
    pub terms: pb::Decision,
    pub last_action: Action,
    pub last_decided_at: i64,
    /// What customs wrote off against the licence's items so far.
    pub usage: Usage,
}

impl LicenceState {
    /// The state after the first decision of a licence.
    pub fn start(id: StatementId, decision: &CheckedDecision) -> Result<Self, RuleError> {
        let d = decision.decision();
        if d.version != 1 {
            return Err(RuleError::VersionGap { current: 0, got: d.version });
        }
        let status = transition(None, decision.action()).ok_or_else(|| RuleError::IllegalTransition {
            action: decision.action().as_str_name(),
            from: "not yet decided (a licence starts with GRANT, DENY or APPLICATION_LODGED)".into(),
        })?;
        Ok(Self { version: 1, head: id, status, terms: d.clone(), last_action: decision.action(), last_decided_at: d.decided_at, usage: Usage::default() })
    }

    /// The state after `decision` (with statement id `id`), or why it cannot follow.
    pub fn apply(&self, id: StatementId, decision: &CheckedDecision) -> Result<Self, RuleError> {
        let d = decision.decision();
        let action = decision.action();
        if d.authority != self.terms.authority || d.licence_id != self.terms.licence_id {
            return Err(RuleError::WrongLicence {
                expected: format!("{}/{}", self.terms.authority, self.terms.licence_id),
                got: format!("{}/{}", d.authority, d.licence_id),
            });
        }
        if d.version <= self.version {
            return Err(RuleError::VersionTaken { current: self.version, got: d.version });
        }
        if d.version != self.version + 1 {
            return Err(RuleError::VersionGap { current: self.version, got: d.version });
        }
        if d.previous.as_slice() != self.head.0.as_slice() {
            return Err(RuleError::PreviousMismatch { version: self.version, expected: self.head });
        }
        let mut status = transition(Some(self.status), action)
            .ok_or_else(|| RuleError::IllegalTransition { action: action.as_str_name(), from: self.status.to_string() })?;
        if d.decided_at < self.last_decided_at {
            return Err(RuleError::DecidedEarlier { previous: self.last_decided_at, got: d.decided_at });
        }
        // Milestones and the decision ending a review belong to one application: its receipt
        // time is what processing times are measured from, so it cannot drift.
        if self.status == Status::UnderReview && d.application_received != self.terms.application_received {
            return Err(RuleError::ApplicationChanged { lodged: self.terms.application_received, got: d.application_received });
        }
        let mut terms = self.terms.clone();
        if states_terms(action) {
            self.check_same_licence_terms(d)?;
            terms = d.clone();
        } else if action == Action::Extend {
            if d.valid_until <= self.terms.valid_until {
                return Err(RuleError::NotAnExtension { current: self.terms.valid_until });
            }
            terms.valid_until = d.valid_until;
        }
        // Drawdown: a write-off counts against the balance; amended terms must cover what was
        // written off; either may leave the licence used up.
        let mut usage = self.usage.clone();
        if action == Action::WriteOff {
            let shipment = d.shipment.as_ref().expect("a checked WRITE_OFF carries its shipment");
            usage = self.usage.write_off(&terms, shipment).map_err(RuleError::WriteOff)?;
        } else if states_terms(action) && self.usage.shipments() > 0 {
            self.usage.check_amendment(&terms).map_err(RuleError::BelowWrittenOff)?;
        }
        if status == Status::Issued && usage.exhausts(&terms) {
            status = Status::Exhausted;
        }
        Ok(Self { version: d.version, head: id, status, terms, last_action: action, last_decided_at: d.decided_at, usage })
    }

    /// An amendment or overturned appeal restates the terms of the same licence: the licence type
    /// and the applicant stay those applied for.
    fn check_same_licence_terms(&self, d: &pb::Decision) -> Result<(), RuleError> {
        if d.licence_type != self.terms.licence_type {
            return Err(RuleError::TermsChanged {
                field: "licence_type",
                was: type_name(self.terms.licence_type).into(),
                now: type_name(d.licence_type).into(),
            });
        }
        let name = |p: &Option<pb::Party>| p.as_ref().map(|p| p.name.clone()).unwrap_or_default();
        if name(&d.applicant) != name(&self.terms.applicant) {
            return Err(RuleError::TermsChanged { field: "applicant", was: name(&self.terms.applicant), now: name(&d.applicant) });
        }
        // A registration stays under the general licence it was granted under, and a re-export
        // licence under its parent and the consent it relies on.
        for (field, was, now) in [
            ("general_licence", &self.terms.general_licence, &d.general_licence),
            ("parent_licence", &self.terms.parent_licence, &d.parent_licence),
            ("consent_id", &self.terms.consent_id, &d.consent_id),
        ] {
            if was != now {
                return Err(RuleError::TermsChanged { field, was: was.clone(), now: now.clone() });
            }
        }
        Ok(())
    }

    /// Status at time `now` (Unix seconds): an issued licence outside its window is EXPIRED or
    /// NOT_YET_VALID.
    pub fn status_at(&self, now: i64) -> LicenceStatus {
        status_at(self.status.to_wire(), self.terms.valid_from, self.terms.valid_until, now)
    }

    /// The summary shown in listings, with the status evaluated at `now`.
    pub fn summary_at(&self, now: i64) -> pb::LicenceSummary {
        pb::LicenceSummary { status: self.status_at(now) as i32, ..self.decided_summary() }
    }

    /// The summary with the status as decided (what a store indexes; time is applied on reading).
    pub fn decided_summary(&self) -> pb::LicenceSummary {
        let t = &self.terms;
        let names = |parties: &[pb::Party]| parties.iter().map(|p| p.name.clone()).collect();
        pb::LicenceSummary {
            authority: t.authority.clone(),
            licence_id: t.licence_id.clone(),
            status: self.status.to_wire() as i32,
            version: self.version,
            head_id: self.head.0.to_vec(),
            licence_type: t.licence_type,
            applicant: t.applicant.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
            end_users: names(&t.end_users),
            consignees: names(&t.consignees),
            destinations: t.destinations.clone(),
            control_codes: t.items.iter().map(qualified_control_code).collect(),
            valid_from: t.valid_from,
            valid_until: t.valid_until,
            risk_tier: t.risk_tier,
            last_action: self.last_action as i32,
            last_decided_at: self.last_decided_at,
            balances: self.usage.balances(t),
        }
    }
}

/// The status at `now` of a licence whose decisions left it in `decided`: an issued licence
/// outside its validity window `[valid_from, valid_until)` is EXPIRED or NOT_YET_VALID.
pub fn status_at(decided: LicenceStatus, valid_from: i64, valid_until: i64, now: i64) -> LicenceStatus {
    match decided {
        LicenceStatus::Issued if now >= valid_until => LicenceStatus::Expired,
        LicenceStatus::Issued if now < valid_from => LicenceStatus::NotYetValid,
        s => s,
    }
}

fn type_name(t: i32) -> &'static str {
    pb::LicenceType::try_from(t).map_or("?", |t| t.as_str_name())
}

/// Folds a whole chain (in version order) into its state.
pub fn fold<'a>(chain: impl IntoIterator<Item = (StatementId, &'a CheckedDecision)>) -> Result<Option<LicenceState>, RuleError> {
    let mut state: Option<LicenceState> = None;
    for (id, decision) in chain {
        state = Some(match &state {
            None => LicenceState::start(id, decision)?,
            Some(s) => s.apply(id, decision)?,
        });
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message;

    use super::*;
    use crate::decision::fixtures::{follow_up, grant};

    const ALL_ACTIONS: [Action; 19] = [
        Action::Grant,
        Action::Deny,
        Action::Amend,
        Action::Extend,
        Action::Suspend,
        Action::Reinstate,
        Action::Revoke,
        Action::AppealLodged,
        Action::AppealUpheld,
        Action::AppealOverturned,
        Action::Surrender,
        Action::Cancel,
        Action::ApplicationLodged,
        Action::InformationRequested,
        Action::Referred,
        Action::ApplicationWithdrawn,
        Action::WriteOff,
        Action::ReExportConsent,
        Action::ConsentWithdrawn,
    ];

    fn id_of(d: &pb::Decision) -> StatementId {
        StatementId::of(&d.encode_to_vec())
    }

    /// Builds and applies decisions for `actions`; returns the state or the first refusal.
    fn run(actions: &[Action]) -> Result<Option<LicenceState>, RuleError> {
        let base = grant("de.bafa", "DE-2026-000123");
        let mut state: Option<LicenceState> = None;
        for (i, &action) in actions.iter().enumerate() {
            let version = i as u64 + 1;
            let previous = state.as_ref().map_or([0; 32], |s| s.head.0);
            let mut d = follow_up(&base, action, version, previous);
            if version == 1 {
                d.previous.clear();
            }
            let checked = CheckedDecision::try_from(d.clone()).expect("fixture decisions are well formed");
            let id = id_of(&d);
            state = Some(match &state {
                None => LicenceState::start(id, &checked)?,
                Some(s) => s.apply(id, &checked)?,
            });
        }
        Ok(state)
    }

    /// Every state with a shortest path reaching it, and the expected table written out by hand
    /// (independently of `transition`): for each state, the legal actions and where they lead.
    /// (state name, path of actions reaching it, legal actions with the state each leads to)
    type TableRow = (&'static str, Vec<Action>, Vec<(Action, Status)>);

    fn expected_table() -> Vec<TableRow> {
        use Action as A;
        use Status as S;
        vec![
            ("none", vec![], vec![(A::Grant, S::Issued), (A::Deny, S::Denied), (A::ApplicationLodged, S::UnderReview)]),
            (
                "under review",
                vec![A::ApplicationLodged],
                vec![
                    (A::Grant, S::Issued),
                    (A::Deny, S::Denied),
                    (A::InformationRequested, S::UnderReview),
                    (A::Referred, S::UnderReview),
                    (A::ApplicationWithdrawn, S::Withdrawn),
                ],
            ),
            ("withdrawn", vec![A::ApplicationLodged, A::ApplicationWithdrawn], vec![]),
            (
                "issued",
                vec![A::Grant],
                vec![
                    (A::Amend, S::Issued),
                    (A::Extend, S::Issued),
                    (A::WriteOff, S::Issued),
                    (A::Suspend, S::Suspended),
                    (A::Revoke, S::Revoked),
                    (A::Surrender, S::Surrendered),
                    (A::Cancel, S::Cancelled),
                    (A::ReExportConsent, S::Issued),
                    (A::ConsentWithdrawn, S::Issued),
                ],
            ),
            ("denied", vec![A::Deny], vec![(A::AppealLodged, S::UnderAppeal(Appealed::Denied))]),
            (
                "suspended",
                vec![A::Grant, A::Suspend],
                vec![
                    (A::Reinstate, S::Issued),
                    (A::Revoke, S::Revoked),
                    (A::Surrender, S::Surrendered),
                    (A::Cancel, S::Cancelled),
                    (A::AppealLodged, S::UnderAppeal(Appealed::Suspended)),
                ],
            ),
            ("revoked", vec![A::Grant, A::Revoke], vec![(A::AppealLodged, S::UnderAppeal(Appealed::Revoked))]),
            ("surrendered", vec![A::Grant, A::Surrender], vec![]),
            ("cancelled", vec![A::Grant, A::Cancel], vec![]),
            ("appeal against denial", vec![A::Deny, A::AppealLodged], vec![(A::AppealUpheld, S::Denied), (A::AppealOverturned, S::Issued)]),
            ("appeal against suspension", vec![A::Grant, A::Suspend, A::AppealLodged], vec![(A::AppealUpheld, S::Suspended), (A::AppealOverturned, S::Issued)]),
            ("appeal against revocation", vec![A::Grant, A::Revoke, A::AppealLodged], vec![(A::AppealUpheld, S::Revoked), (A::AppealOverturned, S::Issued)]),
        ]
    }

    #[test]
    fn every_cell_of_the_transition_table() {
        for (name, path, legal) in expected_table() {
            for action in ALL_ACTIONS {
                let mut actions = path.clone();
                actions.push(action);
                let result = run(&actions);
                match legal.iter().find(|(a, _)| *a == action) {
                    Some((_, to)) => {
                        let state = result.unwrap_or_else(|e| panic!("{name} + {action:?} refused: {e}")).unwrap();
                        assert_eq!(state.status, *to, "{name} + {action:?}");
                    }
                    None => assert!(matches!(result, Err(RuleError::IllegalTransition { .. })), "{name} + {action:?} should be illegal, got {result:?}"),
                }
            }
        }
    }

    #[test]
    fn chain_links_are_enforced() {
        let base = grant("de.bafa", "DE-2026-000123");
        let first = CheckedDecision::try_from(base.clone()).unwrap();
        let state = LicenceState::start(id_of(&base), &first).unwrap();
        let head = state.head.0;

        let gap = CheckedDecision::try_from(follow_up(&base, Action::Suspend, 3, head)).unwrap();
        assert_eq!(state.apply(StatementId([3; 32]), &gap), Err(RuleError::VersionGap { current: 1, got: 3 }));

        let wrong_prev = CheckedDecision::try_from(follow_up(&base, Action::Suspend, 2, [9; 32])).unwrap();
        assert!(matches!(state.apply(StatementId([3; 32]), &wrong_prev), Err(RuleError::PreviousMismatch { .. })));

        let mut other = follow_up(&base, Action::Suspend, 2, head);
        other.licence_id = "DE-2026-000999".into();
        let other = CheckedDecision::try_from(other).unwrap();
        assert!(matches!(state.apply(StatementId([3; 32]), &other), Err(RuleError::WrongLicence { .. })));

        let mut early = follow_up(&base, Action::Suspend, 2, head);
        early.decided_at = base.decided_at - 1;
        early.application_received = early.decided_at;
        let early = CheckedDecision::try_from(early).unwrap();
        assert!(matches!(state.apply(StatementId([3; 32]), &early), Err(RuleError::DecidedEarlier { .. })));

        let mut not_later = follow_up(&base, Action::Extend, 2, head);
        not_later.valid_until = base.valid_until;
        let not_later = CheckedDecision::try_from(not_later).unwrap();
        assert!(matches!(state.apply(StatementId([3; 32]), &not_later), Err(RuleError::NotAnExtension { .. })));

        let mut retyped = follow_up(&base, Action::Amend, 2, head);
        retyped.licence_type = pb::LicenceType::Global as i32;
        let retyped = CheckedDecision::try_from(retyped).unwrap();
        assert!(matches!(state.apply(StatementId([3; 32]), &retyped), Err(RuleError::TermsChanged { field: "licence_type", .. })));

        let mut not_first = base.clone();
        not_first.version = 2;
        not_first.previous = vec![1; 32];
        let not_first = CheckedDecision::try_from(not_first).unwrap();
        assert!(LicenceState::start(StatementId([3; 32]), &not_first).is_err());
    }

    #[test]
    fn a_review_keeps_its_application_and_ends_in_a_decision() {
        let state = run(&[Action::ApplicationLodged, Action::InformationRequested, Action::Referred]).unwrap().unwrap();
        assert_eq!(state.status, Status::UnderReview);
        assert_eq!(state.status_at(DECIDED_FAR_FUTURE), LicenceStatus::UnderReview, "no window makes a review expire");
        assert_eq!((state.terms.valid_from, state.terms.valid_until), (0, 0), "an application has no validity window");
        assert_eq!(state.terms.action, Action::ApplicationLodged as i32, "the terms applied for");

        let base = grant("de.bafa", "DE-2026-000123");
        let head = state.head.0;
        let granted = CheckedDecision::try_from(follow_up(&base, Action::Grant, 4, head)).unwrap();
        let issued = state.apply(StatementId([4; 32]), &granted).unwrap();
        assert_eq!(issued.status, Status::Issued);
        assert_eq!(issued.terms.valid_until, base.valid_until, "the grant states the terms in force");

        let mut drifted = follow_up(&base, Action::InformationRequested, 4, head);
        drifted.application_received += 1;
        let drifted = CheckedDecision::try_from(drifted).unwrap();
        assert_eq!(
            state.apply(StatementId([4; 32]), &drifted),
            Err(RuleError::ApplicationChanged { lodged: base.application_received, got: base.application_received + 1 })
        );

        let mut other_applicant = follow_up(&base, Action::Grant, 4, head);
        other_applicant.applicant.as_mut().unwrap().name = "Someone Else GmbH".into();
        let other_applicant = CheckedDecision::try_from(other_applicant).unwrap();
        assert!(matches!(state.apply(StatementId([4; 32]), &other_applicant), Err(RuleError::TermsChanged { field: "applicant", .. })));

        let mut denial = follow_up(&base, Action::Deny, 4, head);
        denial.risk_tier = 4;
        let denied = state.apply(StatementId([4; 32]), &CheckedDecision::try_from(denial).unwrap()).unwrap();
        assert_eq!((denied.status, denied.terms.risk_tier), (Status::Denied, 4), "a denial states what it refused");
    }

    const DECIDED_FAR_FUTURE: i64 = 4_000_000_000;

    #[test]
    fn extension_and_time_derived_status() {
        let state = run(&[Action::Grant, Action::Extend]).unwrap().unwrap();
        let g = grant("de.bafa", "DE-2026-000123");
        assert!(state.terms.valid_until > g.valid_until);
        assert_eq!(state.terms.items, g.items, "extension keeps the granted items");
        assert_eq!(state.status_at(g.valid_from - 1), LicenceStatus::NotYetValid);
        assert_eq!(state.status_at(g.valid_from), LicenceStatus::Issued);
        assert_eq!(state.status_at(state.terms.valid_until), LicenceStatus::Expired);
        let summary = state.summary_at(g.valid_from);
        assert_eq!(state.decided_summary().status, LicenceStatus::Issued as i32);
        assert_eq!(summary.control_codes, vec!["EU-DU:3A001.a.1".to_string()]);
        assert_eq!(summary.version, 2);
    }

    /// A licence of 200 pcs (the fixture's grant) after writing off `quantities` in turn.
    fn written_off(quantities: &[&str]) -> Result<LicenceState, RuleError> {
        use crate::decision::fixtures::shipment;
        let base = grant("de.bafa", "DE-2026-000123");
        let mut state = LicenceState::start(id_of(&base), &CheckedDecision::try_from(base.clone()).unwrap()).unwrap();
        for (i, quantity) in quantities.iter().enumerate() {
            let version = i as u64 + 2;
            let mut d = follow_up(&base, Action::WriteOff, version, state.head.0);
            d.shipment = Some(shipment(&format!("26DE004852{version:08}E4"), d.decided_at, quantity));
            state = state.apply(id_of(&d), &CheckedDecision::try_from(d).unwrap())?;
        }
        Ok(state)
    }

    // Write-offs draw the balance down exactly; the last one exhausts the licence, after which
    // only an amendment adding quantity, a revocation, a surrender or a cancellation follows.
    #[test]
    fn write_offs_draw_down_and_exhaust() {
        let state = written_off(&["120", "79.5"]).unwrap();
        assert_eq!(state.status, Status::Issued);
        let balance = &state.decided_summary().balances[0];
        assert_eq!((balance.used.as_str(), balance.remaining.as_str(), balance.shipments), ("199.5", "0.5", 2));
        let over = written_off(&["120", "79.5", "1"]).unwrap_err();
        assert_eq!(over, RuleError::WriteOff("item 1 (EU-DU:3A001.a.1) has 0.5 pcs left of 200 pcs; the shipment writes off 1 pcs".into()), "{over}");
        let exhausted = written_off(&["120", "79.5", "0.5"]).unwrap();
        assert_eq!(exhausted.status, Status::Exhausted);
        assert_eq!(exhausted.status_at(DECIDED_FAR_FUTURE), LicenceStatus::Exhausted, "exhausted is not read as expired");

        let base = grant("de.bafa", "DE-2026-000123");
        // A consent to re-export goods all shipped is the usual case (docs/re-export.md).
        let legal = [
            (Action::Amend, Status::Issued),
            (Action::Revoke, Status::Revoked),
            (Action::Surrender, Status::Surrendered),
            (Action::Cancel, Status::Cancelled),
            (Action::ReExportConsent, Status::Exhausted),
            (Action::ConsentWithdrawn, Status::Exhausted),
        ];
        for action in ALL_ACTIONS {
            let mut d = follow_up(&base, action, 5, exhausted.head.0);
            if action == Action::Amend {
                d.items[0].quantity = "250".into();
            }
            let result = exhausted.apply(id_of(&d), &CheckedDecision::try_from(d).unwrap());
            match legal.iter().find(|(a, _)| *a == action) {
                Some((_, to)) => assert_eq!(result.map(|s| s.status), Ok(*to), "exhausted + {action:?}"),
                None => assert!(matches!(result, Err(RuleError::IllegalTransition { .. })), "exhausted + {action:?}: {result:?}"),
            }
        }
        // An amendment may not license less than was written off.
        let mut smaller = follow_up(&base, Action::Amend, 5, exhausted.head.0);
        smaller.items[0].quantity = "150".into();
        assert!(matches!(exhausted.apply(id_of(&smaller), &CheckedDecision::try_from(smaller).unwrap()), Err(RuleError::BelowWrittenOff(_))));
    }

    // What customs may not write off: a declaration twice, another destination, an unlicensed
    // transit country, a shipment outside the validity window, an item the licence lacks.
    #[test]
    fn write_offs_follow_the_licence_terms() {
        let state = written_off(&["10"]).unwrap();
        let base = grant("de.bafa", "DE-2026-000123");
        let refused = |edit: &dyn Fn(&mut pb::Shipment)| {
            let mut d = follow_up(&base, Action::WriteOff, 3, state.head.0);
            edit(d.shipment.as_mut().unwrap());
            match state.apply(id_of(&d), &CheckedDecision::try_from(d).unwrap()) {
                Err(RuleError::WriteOff(why)) => why,
                other => panic!("expected a refused write-off, got {other:?}"),
            }
        };
        assert!(refused(&|s| s.declaration = "26DE00485200000002E4".into()).contains("already written off"));
        assert!(refused(&|s| s.destination = "CN".into()).contains("destination CN is not among"));
        assert!(refused(&|s| s.transit_countries = vec!["RU".into()]).contains("transit through RU is not permitted"));
        assert!(refused(&|s| s.shipped_on = base.valid_from - 1).contains("not valid on the shipping day"));
        assert!(refused(&|s| s.items[0].item = 2).contains("has no item 2"));
        assert!(refused(&|s| s.items[0].quantity = "191".into()).contains("has 190 pcs left of 200 pcs"));
        let over_value = refused(&|s| s.items[0].value_minor = 4_800_001);
        assert!(over_value.contains("48000.00 EUR of its value left"), "{over_value}");
    }

    proptest! {
        /// Any random sequence of actions: each step is accepted exactly when the table allows it,
        /// and the resulting status is the table's.
        #[test]
        fn random_sequences_follow_the_table(indices in proptest::collection::vec(0usize..ALL_ACTIONS.len(), 1..12)) {
            let actions: Vec<Action> = indices.iter().map(|&i| ALL_ACTIONS[i]).collect();
            let mut expected: Option<Status> = None;
            let mut accepted = 0;
            for &action in &actions {
                match transition(expected, action) {
                    Some(next) => { expected = Some(next); accepted += 1; }
                    None => break,
                }
            }
            let result = run(&actions[..accepted]);
            let state = result.expect("sequence allowed by the table must be accepted");
            prop_assert_eq!(state.as_ref().map(|s| s.status), expected);
            if accepted < actions.len() {
                let refused = matches!(run(&actions[..=accepted]), Err(RuleError::IllegalTransition { .. }));
                prop_assert!(refused, "step {} ({:?}) should be refused", accepted, actions[accepted]);
            }
        }
    }
}
