//! Reading no-undercut consultations (docs/consultation.md): the consultations held, and the
//! partners' denials a draft grant would undercut.

use comity_proto::consultation::split_licence_ref;
use comity_proto::decision::CheckedDecision;
use comity_proto::pb;

use crate::consultation::{assemble, undercuts};
use crate::error::Error;
use crate::store::Store;
use crate::trust::Trust;

/// Most consultations one answer lists.
const MAX_LISTED: usize = 1000;

/// The consultations held where `authority` (any when empty) consults or is consulted, newest
/// request first; only unanswered ones with `open_only`.
pub fn list(store: &Store, q: &pb::ListConsultationsRequest) -> Result<pb::ListConsultationsResponse, Error> {
    let mut out = Vec::new();
    // Answers held without their request (its log not mirrored here) are left out.
    for (request, answers) in store.consultations()? {
        let Some(request) = request else { continue };
        let h = assemble(store, request, answers)?;
        let consulted = split_licence_ref(&h.request.denial).map(|(a, _)| a).unwrap_or_default();
        if !q.authority.is_empty() && q.authority != h.request.authority && q.authority != consulted {
            continue;
        }
        if q.open_only && h.answers_from_denier().next().is_some() {
            continue;
        }
        out.push(pb::ConsultationRecord {
            request_id: h.request_id.0.to_vec(),
            answer_ids: h.answers.iter().map(|(id, _)| id.0.to_vec()).collect(),
            answers: h.answers.into_iter().map(|(_, a)| a).collect(),
            request: Some(h.request),
        });
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.request.as_ref().map_or(0, |r| r.issued_at)));
    out.truncate(MAX_LISTED);
    Ok(pb::ListConsultationsResponse { consultations: out })
}

/// The partners' denials a draft GRANT would undercut, with what covers each.
pub fn check(store: &Store, trust: &Trust, q: pb::CheckUndercutRequest) -> Result<pb::CheckUndercutResponse, Error> {
    let decision = q.decision.ok_or_else(|| Error::InvalidArgument("decision: required (a draft GRANT)".into()))?;
    let checked = CheckedDecision::try_from(decision).map_err(|e| Error::InvalidArgument(format!("decision: {e}")))?;
    if checked.action() != pb::Action::Grant {
        return Err(Error::InvalidArgument(format!("decision: the no-undercut rule applies to a GRANT, not {}", checked.action().as_str_name())));
    }
    let (undercuts, _) = undercuts(store, trust, checked.decision())?;
    Ok(pb::CheckUndercutResponse { undercuts })
}
