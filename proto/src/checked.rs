//! A statement parsed and checked once: [`CheckedStatement`] is built from an [`Envelope`] with
//! every check that needs neither a store nor a trust state (the fields of a decision, of a
//! restricted decision's signed commitment, of an agreement; a key set's authority id, its
//! contents being checked once its roots' signatures are, by [`crate::trust::verify_key_set`]).
//! What is left to check needs state: the signatures against the keys in force, key standing at
//! the log time, and the licence rules against the stored chain.
//!
//! Publishing, mirroring (and so importing and recovering) and the log audit all build one;
//! their error texts are this module's.

use crate::catalogue::{ControlList, Crosswalk};
use crate::consultation::Consultation;
use crate::decision::{CheckedDecision, FieldError};
use crate::end_use_check::CheckedEndUseCheck;
use crate::pb;
use crate::recognition::CheckedAgreement;
use crate::restricted::{CheckedRestricted, RestrictedError};
use crate::ruling::Ruling;
use crate::screening::ScreeningList;
use crate::statement::Envelope;
use crate::trust::{CheckedKeySet, TrustError};

/// A statement whose content is well formed; its signatures are not checked yet.
// Decisions, the largest variant, are nearly every statement: boxing them would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CheckedStatement {
    Decision(CheckedDecision),
    /// A confidential decision's signed commitment (its body travels apart).
    Restricted(CheckedRestricted),
    /// A key set, to be verified against its authority's roots ([`crate::trust::verify_key_set`]).
    KeySet(CheckedKeySet),
    Agreement(CheckedAgreement),
    /// A version of a control list (docs/control-lists.md).
    ControlList(ControlList),
    Crosswalk(Crosswalk),
    /// A version of a denied-party or end-user alert list (docs/screening.md).
    ScreeningList(ScreeningList),
    /// A no-undercut consultation request or answer (docs/consultation.md).
    Consultation(Consultation),
    /// A post-shipment verification's outcome (#23).
    EndUseCheck(CheckedEndUseCheck),
    /// A version of a classification ruling (docs/rulings-and-general-licences.md).
    Ruling(Ruling),
}

/// Why a statement's content was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("invalid decision: {0}")]
    Decision(FieldError),
    #[error("{0}")]
    Restricted(RestrictedError),
    /// Always [`TrustError::Invalid`].
    #[error("{0}")]
    KeySet(TrustError),
    #[error("invalid agreement: {0}")]
    Agreement(FieldError),
    #[error("invalid control list: {0}")]
    ControlList(FieldError),
    #[error("invalid crosswalk: {0}")]
    Crosswalk(FieldError),
    #[error("invalid screening list: {0}")]
    ScreeningList(FieldError),
    #[error("invalid consultation: {0}")]
    Consultation(FieldError),
    #[error("invalid end-use check: {0}")]
    EndUseCheck(FieldError),
    #[error("invalid classification ruling: {0}")]
    Ruling(FieldError),
}

impl TryFrom<&Envelope> for CheckedStatement {
    type Error = CheckError;

    fn try_from(envelope: &Envelope) -> Result<Self, CheckError> {
        Ok(match envelope.statement() {
            pb::statement::Kind::Decision(d) => Self::Decision(CheckedDecision::try_from(d.clone()).map_err(CheckError::Decision)?),
            pb::statement::Kind::RestrictedDecision(r) => Self::Restricted(CheckedRestricted::try_from(r.clone()).map_err(CheckError::Restricted)?),
            pb::statement::Kind::KeySet(set) => Self::KeySet(CheckedKeySet::check(set, envelope.id()).map_err(CheckError::KeySet)?),
            pb::statement::Kind::Agreement(a) => Self::Agreement(CheckedAgreement::try_from(a.clone()).map_err(CheckError::Agreement)?),
            pb::statement::Kind::ControlList(l) => Self::ControlList(ControlList::try_from(l.clone()).map_err(CheckError::ControlList)?),
            pb::statement::Kind::Crosswalk(c) => Self::Crosswalk(Crosswalk::try_from(c.clone()).map_err(CheckError::Crosswalk)?),
            pb::statement::Kind::ScreeningList(l) => Self::ScreeningList(ScreeningList::try_from(l.clone()).map_err(CheckError::ScreeningList)?),
            pb::statement::Kind::ConsultationRequest(r) => Self::Consultation(Consultation::try_from(r.clone()).map_err(CheckError::Consultation)?),
            pb::statement::Kind::ConsultationAnswer(a) => Self::Consultation(Consultation::try_from(a.clone()).map_err(CheckError::Consultation)?),
            pb::statement::Kind::EndUseCheck(c) => Self::EndUseCheck(CheckedEndUseCheck::try_from(c.clone()).map_err(CheckError::EndUseCheck)?),
            pb::statement::Kind::ClassificationRuling(r) => Self::Ruling(Ruling::try_from(r.clone()).map_err(CheckError::Ruling)?),
        })
    }
}

impl CheckedStatement {
    /// The authority whose keys sign the statement: a decision's (or restricted decision's)
    /// authority (for a write-off, the authority delegating the customs key), a key set's authority (through its roots), an agreement's relying authority,
    /// a control list's or crosswalk's publisher.
    pub fn authority(&self) -> &str {
        match self {
            Self::Decision(d) => crate::usage::signing_authority(d.decision()),
            Self::Restricted(r) => &r.restricted().authority,
            Self::KeySet(set) => set.authority(),
            Self::Agreement(a) => &a.agreement().relying_authority,
            Self::ControlList(l) => &l.list().authority,
            Self::Crosswalk(c) => &c.crosswalk().authority,
            Self::ScreeningList(l) => &l.list().authority,
            Self::Consultation(c) => c.authority(),
            Self::EndUseCheck(c) => &c.check().authority,
            Self::Ruling(r) => &r.ruling().authority,
        }
    }

    /// The date its signer wrote on it, which its log time must not precede
    /// ([`crate::log::check_dated_by_log_time`]): a decision's (or restricted decision's)
    /// `decided_at`, an agreement's `issued_at`; none for a key set.
    pub fn dated(&self) -> Option<i64> {
        match self {
            Self::Decision(d) => Some(d.decision().decided_at),
            Self::Restricted(r) => Some(r.restricted().decided_at),
            Self::KeySet(_) => None,
            Self::Agreement(a) => Some(a.agreement().issued_at),
            Self::ControlList(l) => Some(l.list().issued_at),
            Self::Crosswalk(c) => Some(c.crosswalk().issued_at),
            Self::ScreeningList(l) => Some(l.list().issued_at),
            Self::Consultation(c) => Some(c.issued_at()),
            Self::EndUseCheck(c) => Some(c.check().issued_at),
            Self::Ruling(r) => Some(r.ruling().issued_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::fixtures::{grant, DECIDED};
    use crate::restricted::seal;
    use crate::statement::{sign_decision, sign_statement, Signer};
    use crate::trust::{check_key_set, sign_key_set, verify_key_set, Roots};

    fn signer() -> Signer {
        Signer::from_seed(&[7; 32])
    }

    fn root() -> Signer {
        Signer::from_seed(&[1; 32])
    }

    fn envelope(kind: pb::statement::Kind) -> Envelope {
        Envelope::parse(sign_statement(&pb::Statement { kind: Some(kind) }, &[&signer()])).expect("parses")
    }

    fn checked(kind: pb::statement::Kind) -> Result<CheckedStatement, CheckError> {
        CheckedStatement::try_from(&envelope(kind))
    }

    fn restricted() -> pb::RestrictedDecision {
        seal(&grant("de.bafa", "DE-2026-C-000042"), vec!["jp.meti.registry/log".into()], [7; 32]).0
    }

    fn key_set(version: u64) -> pb::KeySet {
        let key = pb::SigningKey { public_key: signer().verifying_key().to_bytes().to_vec(), ..Default::default() };
        pb::KeySet { authority: "de.bafa".into(), version, keys: vec![key], issued_at: DECIDED }
    }

    fn agreement() -> pb::RecognitionAgreement {
        pb::RecognitionAgreement {
            relying_authority: "jp.meti".into(),
            recognised_authority: "de.bafa".into(),
            agreement_id: "eu-du-2026".into(),
            version: 1,
            issued_at: DECIDED - 1,
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_statement_of_each_kind_is_accepted() {
        let envelope = Envelope::parse(sign_decision(grant("de.bafa", "DE-2026-000123"), &signer())).unwrap();
        let decision = CheckedStatement::try_from(&envelope).unwrap();
        assert!(matches!(&decision, CheckedStatement::Decision(d) if d.decision().licence_id == "DE-2026-000123"));
        assert_eq!((decision.authority(), decision.dated()), ("de.bafa", Some(DECIDED)));

        let r = checked(pb::statement::Kind::RestrictedDecision(restricted())).unwrap();
        assert!(matches!(&r, CheckedStatement::Restricted(r) if r.may_receive("jp.meti.registry/log")));
        assert_eq!((r.authority(), r.dated()), ("de.bafa", Some(DECIDED)));

        let set = checked(pb::statement::Kind::KeySet(key_set(1))).unwrap();
        assert!(matches!(&set, CheckedStatement::KeySet(s) if s.unverified().version == 1 && s.unverified().keys.len() == 1));
        // Its contents are read once its signatures are checked.
        assert!(matches!(checked(pb::statement::Kind::KeySet(key_set(0))), Ok(CheckedStatement::KeySet(_))));
        assert_eq!((set.authority(), set.dated()), ("de.bafa", None));

        let a = checked(pb::statement::Kind::Agreement(agreement())).unwrap();
        assert!(matches!(&a, CheckedStatement::Agreement(a) if a.agreement().agreement_id == "eu-du-2026"));
        assert_eq!((a.authority(), a.dated()), ("jp.meti", Some(DECIDED - 1)));
    }

    #[test]
    fn each_kind_refuses_its_malformed_content_with_its_error() {
        let mut d = grant("de.bafa", "DE-2026-000123");
        d.items[0].currency = "EURO".into();
        let err = checked(pb::statement::Kind::Decision(d)).unwrap_err();
        assert!(matches!(&err, CheckError::Decision(f) if f.field == "items[0].currency"), "{err:?}");
        assert!(err.to_string().starts_with("invalid decision: items[0].currency: "), "{err}");

        let r = pb::RestrictedDecision { audience: vec![], ..restricted() };
        let err = checked(pb::statement::Kind::RestrictedDecision(r)).unwrap_err();
        assert!(matches!(err, CheckError::Restricted(RestrictedError::Field(_))), "{err:?}");
        assert!(err.to_string().starts_with("restricted decision: audience must name 1 to"), "{err}");

        let bad_authority = pb::KeySet { authority: "BAFA".into(), ..key_set(1) };
        let err = checked(pb::statement::Kind::KeySet(bad_authority)).unwrap_err();
        assert!(matches!(&err, CheckError::KeySet(TrustError::Invalid { authority, .. }) if authority == "BAFA"), "{err:?}");
        assert_eq!(err.to_string(), "key set of BAFA: authority is not a lowercase dotted id like de.bafa");

        let a = pb::RecognitionAgreement { recognised_authority: "jp.meti".into(), ..agreement() };
        let err = checked(pb::statement::Kind::Agreement(a)).unwrap_err();
        assert!(matches!(&err, CheckError::Agreement(f) if f.field == "recognised_authority"), "{err:?}");
        assert!(err.to_string().starts_with("invalid agreement: recognised_authority: "), "{err}");
    }

    #[test]
    fn a_withdrawn_agreement_needs_only_its_identity() {
        let withdrawn = pb::RecognitionAgreement { withdrawn: true, max_risk_tier: 9, ..agreement() };
        assert!(matches!(checked(pb::statement::Kind::Agreement(withdrawn)), Ok(CheckedStatement::Agreement(_))));
    }

    #[test]
    fn a_checked_key_set_verifies_as_check_key_set_does() {
        let roots = std::collections::HashMap::from([("de.bafa".to_string(), Roots { threshold: 1, keys: vec![root().verifying_key()] })]);
        let envelope = Envelope::parse(sign_key_set(key_set(2), &[&root()])).unwrap();
        let CheckedStatement::KeySet(set) = CheckedStatement::try_from(&envelope).unwrap() else { panic!("a key set") };
        let whole = check_key_set(&envelope, &roots, None).unwrap();
        assert_eq!(verify_key_set(&envelope, set.clone(), &roots, None).unwrap(), whole);
        // Signed by the signing key rather than a root: refused as check_key_set refuses it.
        let unrooted = Envelope::parse(sign_key_set(key_set(2), &[&signer()])).unwrap();
        assert_eq!(verify_key_set(&unrooted, set.clone(), &roots, None).unwrap_err(), check_key_set(&unrooted, &roots, None).unwrap_err());
        // Its contents after its signatures, as check_key_set.
        let roots_of_other = std::collections::HashMap::new();
        let unversioned = Envelope::parse(sign_key_set(key_set(0), &[&root()])).unwrap();
        let CheckedStatement::KeySet(bad) = CheckedStatement::try_from(&unversioned).unwrap() else { panic!("a key set") };
        assert_eq!(verify_key_set(&unversioned, bad.clone(), &roots_of_other, None).unwrap_err(), TrustError::NotTrusted("de.bafa".into()));
        let err = verify_key_set(&unversioned, bad, &roots, None).unwrap_err();
        assert_eq!(err, TrustError::Invalid { authority: "de.bafa".into(), detail: "version must be 1 or more".into() });
        assert_eq!(err, check_key_set(&unversioned, &roots, None).unwrap_err());
        // No rollback.
        let err = verify_key_set(&envelope, set, &roots, Some(&whole)).unwrap_err();
        assert!(matches!(err, TrustError::Rollback { version: 2, current: 2, .. }), "{err}");
    }
}
