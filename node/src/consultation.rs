//! The no-undercut rule at this node (docs/consultation.md): which partners' denials a grant
//! would undercut, and whether the grant covers each by an answered consultation it cites or
//! by its override. Publish refuses a grant that leaves one uncovered; `CheckUndercut` answers
//! the same question for a draft.

use std::collections::HashMap;

use comity_proto::consultation::{describe, position_name, split_licence_ref, Consultation, GrantTerms};
use comity_proto::pb;
use comity_proto::screening::STRONG_MATCH;
use comity_proto::statement::{Envelope, StatementId};

use crate::chain::stored_corrupt;
use crate::error::Error;
use crate::store::Store;
use crate::trust::Trust;

/// A stored consultation statement, parsed.
pub fn load(store: &Store, id: &StatementId) -> Result<Consultation, Error> {
    let bytes = store.statement(id)?.ok_or_else(|| stored_corrupt(format!("consultation statement {id} missing")))?;
    let statement = match Envelope::parse(bytes).map_err(stored_corrupt)?.statement().clone() {
        pb::statement::Kind::ConsultationRequest(r) => Consultation::try_from(r),
        pb::statement::Kind::ConsultationAnswer(a) => Consultation::try_from(a),
        _ => return Err(stored_corrupt(format!("statement {id} is not a consultation"))),
    };
    statement.map_err(|e| stored_corrupt(format!("consultation {id}: {e}")))
}

/// A consultation held here: its request and its answers, oldest first.
pub struct Held {
    pub request_id: StatementId,
    pub request: pb::ConsultationRequest,
    pub answers: Vec<(StatementId, pb::ConsultationAnswer)>,
}

impl Held {
    /// The answers given by the authority whose denial was consulted on (others are ignored).
    pub fn answers_from_denier(&self) -> impl Iterator<Item = &pb::ConsultationAnswer> {
        let denier = split_licence_ref(&self.request.denial).map(|(a, _)| a.to_string()).unwrap_or_default();
        self.answers.iter().map(|(_, a)| a).filter(move |a| a.authority == denier && a.request == self.request_id.0)
    }
}

/// Consultation `consultation_id` of `consulting`, if its request is held.
pub fn held(store: &Store, consulting: &str, consultation_id: &str) -> Result<Option<Held>, Error> {
    let Some((request_id, answer_ids)) = store.consultation(consulting, consultation_id)? else { return Ok(None) };
    assemble(store, request_id, answer_ids).map(Some)
}

/// A consultation from the statement ids the store lists for it: its request and answers read.
pub fn assemble(store: &Store, request_id: StatementId, answer_ids: Vec<StatementId>) -> Result<Held, Error> {
    let Consultation::Request(request) = load(store, &request_id)? else {
        return Err(stored_corrupt(format!("consultation statement {request_id} is listed as a request but is an answer")));
    };
    let mut answers = Vec::new();
    for id in answer_ids {
        if let Consultation::Answer(a) = load(store, &id)? {
            answers.push((id, a));
        }
    }
    answers.sort_by_key(|(_, a)| a.issued_at);
    Ok(Held { request_id, request, answers })
}

/// The partners' denials `decision` (a GRANT) would undercut, each with what covers it, and
/// the denials whose cited consultation has no answer yet.
pub fn undercuts(store: &Store, trust: &Trust, decision: &pb::Decision) -> Result<(Vec<pb::Undercut>, HashMap<String, String>), Error> {
    let terms = GrantTerms::of(decision);
    let crosswalks = trust.catalogue().crosswalks();
    let crosswalks: Vec<_> = crosswalks.iter().map(|(_, c)| c.as_ref()).collect();
    // Candidates by name first (an index per destination), then every condition on each.
    let names: Vec<&str> = decision.end_users.iter().map(|p| p.name.as_str()).collect();
    let mut candidates: Vec<std::sync::Arc<pb::LicenceSummary>> = Vec::new();
    for destination in terms.destinations() {
        candidates.extend(store.denials_naming(destination, &names, STRONG_MATCH)?);
    }
    candidates.sort_by(|a, b| (&a.authority, &a.licence_id).cmp(&(&b.authority, &b.licence_id)));
    candidates.dedup_by(|a, b| (&a.authority, &a.licence_id) == (&b.authority, &b.licence_id));
    let mut found: Vec<pb::Undercut> = candidates.iter().filter_map(|denial| terms.undercut(denial, &crosswalks)).collect();
    if found.is_empty() {
        return Ok((found, HashMap::new()));
    }
    let mut covered: HashMap<String, String> = HashMap::new();
    let mut unanswered: HashMap<String, String> = HashMap::new();
    for (i, consultation_id) in decision.consultations.iter().enumerate() {
        let Some(held) = held(store, &decision.authority, consultation_id)? else {
            return Err(Error::FailedPrecondition(format!(
                "consultations[{i}]: {}/{consultation_id} is not a consultation held here (open it with `comity consult open`)",
                decision.authority
            )));
        };
        match held.answers_from_denier().last() {
            Some(answer) => {
                covered.insert(held.request.denial.clone(), format!("consultation {consultation_id} (answered: {})", position_name(answer.position)));
            }
            None => {
                unanswered.insert(held.request.denial.clone(), consultation_id.clone());
            }
        }
    }
    if let Some(o) = &decision.undercut_override {
        for denial in &o.denials {
            covered.entry(denial.clone()).or_insert_with(|| "override".to_string());
        }
    }
    for u in &mut found {
        if let Some(how) = covered.get(&u.denial) {
            u.covered_by.clone_from(how);
        }
    }
    found.sort_by(|a, b| a.denial.cmp(&b.denial));
    Ok((found, unanswered))
}

/// Refuses a GRANT that would undercut a partner's denial it does not cover.
pub fn check_grant(store: &Store, trust: &Trust, decision: &pb::Decision) -> Result<(), Error> {
    let (found, unanswered) = undercuts(store, trust, decision)?;
    let open: Vec<&pb::Undercut> = found.iter().filter(|u| u.covered_by.is_empty()).collect();
    if open.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = open
        .iter()
        .map(|u| match unanswered.get(&u.denial) {
            Some(c) => format!("{}; consultation {c} has no answer from {} yet", describe(u), u.denial.split('/').next().unwrap_or_default()),
            None => describe(u),
        })
        .collect();
    Err(Error::FailedPrecondition(format!(
        "GRANT {}/{} would undercut {} partner denial{} of an essentially identical transaction in the last three years: {}. \
         Consult the partner first (`comity consult open --denial AUTHORITY/LICENCE --draft FILE`) and cite the answered consultation in \
         `consultations`, or grant with an `undercut_override` giving the reasons, which every partner sees",
        decision.authority,
        decision.licence_id,
        open.len(),
        if open.len() == 1 { "" } else { "s" },
        lines.join("; ")
    )))
}

/// Checks a consultation statement published here against what the node holds: a request's
/// id is new and cites a denied licence held here at its latest decision; an answer's request
/// is held and consulted the answering authority.
pub fn check_publish(store: &Store, id: &StatementId, consultation: &Consultation) -> Result<(), Error> {
    match consultation {
        Consultation::Request(r) => {
            if let Some((held, _)) = store.consultation(&r.authority, &r.consultation_id)? {
                if held != *id {
                    return Err(Error::FailedPrecondition(format!(
                        "consultation {}/{} already exists (statement {held}); choose a new consultation id",
                        r.authority, r.consultation_id
                    )));
                }
            }
            let (authority, licence_id) = split_licence_ref(&r.denial).expect("checked with the statement");
            let Some(summary) = store.licence(authority, licence_id)? else {
                return Err(Error::FailedPrecondition(format!("denial: {} is not a licence held here", r.denial)));
            };
            if !comity_proto::consultation::is_standing_denial(&summary) {
                let status = pb::LicenceStatus::try_from(summary.status).map(|s| s.as_str_name()).unwrap_or("unknown");
                return Err(Error::FailedPrecondition(format!("denial: {} is not denied (its status is {status})", r.denial)));
            }
            if summary.head_id != r.denial_statement {
                return Err(Error::FailedPrecondition(format!(
                    "denial_statement: the latest decision of {} is statement {}",
                    r.denial,
                    hex::encode(&summary.head_id)
                )));
            }
            Ok(())
        }
        Consultation::Answer(a) => {
            let Some(held) = held(store, &a.consulting_authority, &a.consultation_id)? else {
                return Err(Error::FailedPrecondition(format!(
                    "consultation {}/{} is not held here (is {}'s log mirrored?)",
                    a.consulting_authority, a.consultation_id, a.consulting_authority
                )));
            };
            if held.request_id.0 != a.request.as_slice() {
                return Err(Error::FailedPrecondition(format!(
                    "request: consultation {}/{} is statement {}",
                    a.consulting_authority, a.consultation_id, held.request_id
                )));
            }
            if split_licence_ref(&held.request.denial).is_none_or(|(denier, _)| denier != a.authority) {
                return Err(Error::PermissionDenied(format!(
                    "consultation {}/{} consults {} on its denial {}, not {}",
                    a.consulting_authority,
                    a.consultation_id,
                    held.request.denial.split('/').next().unwrap_or_default(),
                    held.request.denial,
                    a.authority
                )));
            }
            Ok(())
        }
    }
}

/// The key a consultation statement is stored under: (consulting authority, consultation id,
/// the answer's own id for an answer).
pub fn store_key<'a>(id: &'a StatementId, consultation: &'a Consultation) -> (&'a str, &'a str, Option<&'a StatementId>) {
    let (consulting, consultation_id) = consultation.key();
    let answer = matches!(consultation, Consultation::Answer(_)).then_some(id);
    (consulting, consultation_id, answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(authority: &str, request: &StatementId, position: pb::ConsultationPosition) -> (StatementId, pb::ConsultationAnswer) {
        let a = pb::ConsultationAnswer {
            authority: authority.into(),
            consulting_authority: "jp.meti".into(),
            consultation_id: "JP-CONS-2026-0007".into(),
            request: request.0.to_vec(),
            position: position as i32,
            text: "x".into(),
            issued_at: 1,
        };
        (StatementId([authority.len() as u8; 32]), a)
    }

    #[test]
    fn only_the_denying_authority_answering_this_request_counts() {
        let request_id = StatementId([1; 32]);
        let other_request = StatementId([2; 32]);
        let request = pb::ConsultationRequest { authority: "jp.meti".into(), denial: "de.bafa/DE-2026-000481".into(), ..Default::default() };
        let held = Held {
            request_id,
            request,
            answers: vec![
                // A third authority's answer, and the denier's answer to another request, do not count.
                answer("fr.sbdu", &request_id, pb::ConsultationPosition::NoObjection),
                answer("de.bafa", &other_request, pb::ConsultationPosition::NoObjection),
            ],
        };
        assert_eq!(held.answers_from_denier().count(), 0);
        let held = Held { answers: vec![answer("de.bafa", &request_id, pb::ConsultationPosition::Objection)], ..held };
        assert_eq!(held.answers_from_denier().map(|a| a.position).collect::<Vec<_>>(), vec![pb::ConsultationPosition::Objection as i32]);
    }
}
