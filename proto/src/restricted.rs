//! Confidential decisions. The log carries a signed [`pb::RestrictedDecision`]: the chain fields
//! of the decision, a commitment to it and the audience allowed to read it. The decision itself
//! travels as a [`pb::RestrictedBody`] (salt and decision bytes) to the audience only; opening
//! the commitment proves the body is the one the authority signed for.

use prost::Message;
use sha2::{Digest, Sha256};

use crate::decision::{is_authority_id, is_licence_id, CheckedDecision};
use crate::pb;
use crate::statement::{pae, MAX_ENVELOPE_BYTES};

/// Payload type bound into every commitment, so it can never be taken for another hash.
pub const BODY_PAYLOAD_TYPE: &str = "comity.v1.restricted-body";
/// Most nodes one decision may be shared with.
pub const MAX_AUDIENCE: usize = 32;
/// Length of the salt.
pub const SALT_BYTES: usize = 32;

/// Why a restricted decision or its body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestrictedError {
    #[error("restricted decision: {0}")]
    Field(String),
    #[error("the body does not open the commitment: it is not the decision that was signed")]
    CommitmentMismatch,
    #[error("the body's salt must be {SALT_BYTES} bytes")]
    BadSalt,
    #[error("the body's decision cannot be decoded: {0}")]
    Undecodable(String),
    #[error("the body's decision is invalid: {0}")]
    InvalidDecision(String),
    #[error("the body's decision has {field} `{body}`, the signed statement `{signed}`")]
    Mismatch { field: &'static str, body: String, signed: String },
}

/// The commitment to `decision` (its protobuf bytes) under `salt`.
pub fn commitment(salt: &[u8], decision: &[u8]) -> [u8; 32] {
    let mut message = Vec::with_capacity(salt.len() + decision.len());
    message.extend_from_slice(salt);
    message.extend_from_slice(decision);
    Sha256::digest(pae(BODY_PAYLOAD_TYPE, &message)).into()
}

/// Commits to `decision` for `audience` with `salt` (fresh random bytes for every decision):
/// the statement to sign and the body to send along.
pub fn seal(decision: &pb::Decision, audience: Vec<String>, salt: [u8; SALT_BYTES]) -> (pb::RestrictedDecision, pb::RestrictedBody) {
    let bytes = decision.encode_to_vec();
    let restricted = pb::RestrictedDecision {
        authority: decision.authority.clone(),
        licence_id: decision.licence_id.clone(),
        version: decision.version,
        previous: decision.previous.clone(),
        decided_at: decision.decided_at,
        commitment: commitment(&salt, &bytes).to_vec(),
        audience,
    };
    (restricted, pb::RestrictedBody { salt: salt.to_vec(), decision: bytes })
}

/// A restricted decision whose fields are well formed.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRestricted(pb::RestrictedDecision);

impl TryFrom<pb::RestrictedDecision> for CheckedRestricted {
    type Error = RestrictedError;

    fn try_from(r: pb::RestrictedDecision) -> Result<Self, RestrictedError> {
        let bad = |m: String| Err(RestrictedError::Field(m));
        if !is_authority_id(&r.authority) {
            return bad(format!("authority `{}` is not a lowercase dotted id like de.bafa", r.authority));
        }
        if !is_licence_id(&r.licence_id) {
            return bad(format!("licence_id `{}` is not a valid licence reference", r.licence_id));
        }
        match (r.version, r.previous.len()) {
            (0, _) => return bad("version must be 1 or more".into()),
            (1, 0) => {}
            (1, _) => return bad("previous must be empty for version 1".into()),
            (_, 32) => {}
            _ => return bad("previous must be the 32-byte id of the previous version".into()),
        }
        if r.decided_at <= 0 {
            return bad("decided_at is required".into());
        }
        if r.commitment.len() != 32 {
            return bad("commitment must be 32 bytes".into());
        }
        if r.audience.is_empty() || r.audience.len() > MAX_AUDIENCE {
            return bad(format!("audience must name 1 to {MAX_AUDIENCE} nodes (log origins)"));
        }
        for (i, origin) in r.audience.iter().enumerate() {
            if origin.is_empty() || origin.len() > 255 || origin.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+') {
                return bad(format!("audience[{i}] `{origin}` is not a log origin like jp.meti.registry/log"));
            }
            if r.audience[..i].contains(origin) {
                return bad(format!("audience[{i}] `{origin}` is named twice"));
            }
        }
        Ok(Self(r))
    }
}

impl CheckedRestricted {
    pub fn restricted(&self) -> &pb::RestrictedDecision {
        &self.0
    }

    /// Whether the node with log `origin` may read the decision.
    pub fn may_receive(&self, origin: &str) -> bool {
        self.0.audience.iter().any(|a| a == origin)
    }

    /// What anyone may know of the decision: its place in the chain, as a decision with only
    /// authority, licence id, version, previous and decided_at set.
    pub fn public_face(&self) -> pb::Decision {
        let r = &self.0;
        pb::Decision {
            authority: r.authority.clone(),
            licence_id: r.licence_id.clone(),
            version: r.version,
            previous: r.previous.clone(),
            decided_at: r.decided_at,
            ..Default::default()
        }
    }

    /// Opens the commitment with `body`: the decision, checked field by field and against the
    /// signed chain fields, or why the body is refused. Bounded by the envelope size limit.
    pub fn open(&self, body: &pb::RestrictedBody) -> Result<CheckedDecision, RestrictedError> {
        if body.salt.len() != SALT_BYTES {
            return Err(RestrictedError::BadSalt);
        }
        if body.decision.len() > MAX_ENVELOPE_BYTES {
            return Err(RestrictedError::Undecodable(format!("{} bytes is over the limit of {MAX_ENVELOPE_BYTES}", body.decision.len())));
        }
        if commitment(&body.salt, &body.decision)[..] != self.0.commitment[..] {
            return Err(RestrictedError::CommitmentMismatch);
        }
        let decision = pb::Decision::decode(body.decision.as_slice()).map_err(|e| RestrictedError::Undecodable(e.to_string()))?;
        let r = &self.0;
        let fields: [(&'static str, String, String); 5] = [
            ("authority", decision.authority.clone(), r.authority.clone()),
            ("licence_id", decision.licence_id.clone(), r.licence_id.clone()),
            ("version", decision.version.to_string(), r.version.to_string()),
            ("previous", hex::encode(&decision.previous), hex::encode(&r.previous)),
            ("decided_at", decision.decided_at.to_string(), r.decided_at.to_string()),
        ];
        for (field, body, signed) in fields {
            if body != signed {
                return Err(RestrictedError::Mismatch { field, body, signed });
            }
        }
        CheckedDecision::try_from(decision).map_err(|e| RestrictedError::InvalidDecision(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::fixtures::grant;

    fn sealed() -> (CheckedRestricted, pb::RestrictedBody) {
        let (r, body) = seal(&grant("de.bafa", "DE-2026-C-000042"), vec!["jp.meti.registry/log".into()], [7; 32]);
        (CheckedRestricted::try_from(r).expect("well formed"), body)
    }

    #[test]
    fn the_body_opens_its_commitment() {
        let (r, body) = sealed();
        let decision = r.open(&body).expect("opens");
        assert_eq!(decision.decision().licence_id, "DE-2026-C-000042");
        assert!(r.may_receive("jp.meti.registry/log"));
        assert!(!r.may_receive("us.bis.registry/log"));
        assert_eq!(r.public_face().end_users.len(), 0);
        assert_eq!(r.public_face().version, 1);
    }

    #[test]
    fn a_changed_body_or_salt_does_not_open_it() {
        let (r, body) = sealed();
        let mut other = body.clone();
        other.salt[0] ^= 1;
        assert_eq!(r.open(&other), Err(RestrictedError::CommitmentMismatch));
        let mut decision = pb::Decision::decode(body.decision.as_slice()).expect("decodes");
        decision.destinations = vec!["IR".into()];
        let swapped = pb::RestrictedBody { salt: body.salt.clone(), decision: decision.encode_to_vec() };
        assert_eq!(r.open(&swapped), Err(RestrictedError::CommitmentMismatch));
        assert_eq!(r.open(&pb::RestrictedBody { salt: vec![1; 5], decision: body.decision }), Err(RestrictedError::BadSalt));
    }

    #[test]
    fn a_body_for_another_place_in_the_chain_is_refused() {
        let mut d = grant("de.bafa", "DE-2026-C-000042");
        let (r, _) = seal(&d, vec!["jp.meti.registry/log".into()], [7; 32]);
        // A statement claiming version 1 of another licence, committing to this decision.
        d.licence_id = "DE-2026-C-000043".into();
        let bytes = d.encode_to_vec();
        let lying = pb::RestrictedDecision { commitment: commitment(&[9; 32], &bytes).to_vec(), ..r };
        let lying = CheckedRestricted::try_from(lying).expect("well formed");
        let err = lying.open(&pb::RestrictedBody { salt: vec![9; 32], decision: bytes }).expect_err("refused");
        assert!(matches!(err, RestrictedError::Mismatch { field: "licence_id", .. }), "{err}");
    }

    #[test]
    fn malformed_statements_are_refused() {
        let (good, _) = seal(&grant("de.bafa", "DE-2026-C-000042"), vec!["jp.meti.registry/log".into()], [7; 32]);
        let cases: Vec<(&str, pb::RestrictedDecision)> = vec![
            ("audience must name", pb::RestrictedDecision { audience: vec![], ..good.clone() }),
            ("named twice", pb::RestrictedDecision { audience: vec!["a.b/log".into(), "a.b/log".into()], ..good.clone() }),
            ("not a log origin", pb::RestrictedDecision { audience: vec!["a b".into()], ..good.clone() }),
            ("commitment must be 32 bytes", pb::RestrictedDecision { commitment: vec![1; 31], ..good.clone() }),
            ("previous must be empty", pb::RestrictedDecision { previous: vec![1; 32], ..good.clone() }),
            ("version must be 1", pb::RestrictedDecision { version: 0, ..good.clone() }),
            ("decided_at", pb::RestrictedDecision { decided_at: 0, ..good.clone() }),
            ("authority", pb::RestrictedDecision { authority: "BAFA".into(), ..good.clone() }),
        ];
        for (expected, r) in cases {
            let err = CheckedRestricted::try_from(r).expect_err(expected).to_string();
            assert!(err.contains(expected), "{err} should mention {expected}");
        }
    }
}
