//! The client's side of "check, don't trust": a node's Verify or GetLicence answer is checked
//! against the relying party's trust file through the one verification path
//! ([`comity_proto::bundle::check`], which offline tokens use too), and the verdict is
//! recomputed with the node's own rules and compared with the node's.

use comity_proto::bundle::{apply_witness_quorum, check, judge_as_node, Bundle, BundleError, Verified};
use comity_proto::pb::{self, Verdict};
use comity_proto::recognition::Context;
use comity_proto::screening;
use comity_proto::trust::TrustFile;
use comity_proto::verdict::{Judgement, Question, DEFAULT_MAX_STALENESS_SECS};

use crate::ClientError;

/// How far the node's answer time may be from this machine's clock.
const MAX_CLOCK_SKEW_SECS: i64 = 600;

/// A Verify answer checked against a trust file.
#[derive(Debug, Clone)]
pub struct VerifiedAnswer {
    pub verified: Verified,
    /// The verdict recomputed from the proof, with the trust file's witness quorum applied.
    pub judgement: Judgement,
}

fn refused(e: BundleError) -> ClientError {
    ClientError::Verification(e.to_string())
}

/// Checks `answer` to `request` against `trust` at local time `now`: the proof bundle, then
/// the verdict recomputed from it must be the node's. A node may know more than its proof shows
/// only to be stricter: a FORKED verdict (evidence held at the node) stands.
pub fn check_verify_answer(trust: &TrustFile, request: &pb::VerifyRequest, answer: &pb::VerifyResponse, now: i64) -> Result<VerifiedAnswer, ClientError> {
    let proof = answer.proof.as_ref().ok_or_else(|| ClientError::Verification("the answer carries no proof bundle".into()))?;
    if (answer.checked_at - now).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(ClientError::Verification(format!(
            "the node answered as of {}, {} s from this machine's clock",
            answer.checked_at,
            answer.checked_at - now
        )));
    }
    let statements: Vec<&[u8]> = proof.statements.iter().map(|s| s.as_ref()).collect();
    let bundle = Bundle::of(&request.authority, &request.licence_id, &statements, proof);
    let verified = check(&bundle, trust, now).map_err(refused)?;
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let question = Question {
        authority: request.authority.clone(),
        licence_id: request.licence_id.clone(),
        relying_authority: request.relying_authority.clone(),
        context: Context {
            destination: nonempty(&request.destination),
            control_code: nonempty(&request.control_code),
            end_user: nonempty(&request.end_user),
            end_use: nonempty(&request.end_use),
            at: if request.at == 0 { answer.checked_at } else { request.at },
            shipment: comity_proto::usage::asked_shipment(request).map_err(ClientError::Verification)?,
        },
    };
    let node = Verdict::try_from(answer.verdict).unwrap_or(Verdict::Unspecified);
    let mut judgement = judge_as_node(&question, &verified, answer.checked_at, DEFAULT_MAX_STALENESS_SECS);
    if judgement.verdict != node {
        let screened = node == Verdict::Screened && judgement.verdict == Verdict::Valid && screening_holds(request, answer, &verified);
        if node == Verdict::Forked || screened {
            judgement.verdict = node;
            judgement.reasons = answer.reasons.clone();
        } else {
            return Err(ClientError::Mismatch {
                node: node.as_str_name().trim_start_matches("VERDICT_").into(),
                proven: judgement.verdict.as_str_name().trim_start_matches("VERDICT_").into(),
                reasons: judgement.reasons.join("; "),
            });
        }
    }
    apply_witness_quorum(&mut judgement, &verified.head);
    Ok(VerifiedAnswer { verified, judgement })
}

/// Whether a SCREENED answer holds as far as this client can tell without the lists: each strong
/// match is of a party the proven licence names (or the end user asked about), to a name the
/// listed entry carries, and scores strong when this client scores it. The entries themselves
/// are the node's word: the lists are not in the proof.
fn screening_holds(request: &pb::VerifyRequest, answer: &pb::VerifyResponse, verified: &Verified) -> bool {
    let mut parties: Vec<&str> = vec![request.end_user.as_str()];
    for link in &verified.chain {
        let d = &link.decision;
        parties.extend(d.applicant.iter().map(|p| p.name.as_str()));
        parties.extend(d.end_users.iter().chain(&d.consignees).map(|p| p.name.as_str()));
    }
    let strong: Vec<&pb::ScreeningHit> = answer.screening.iter().filter(|h| h.found.as_ref().is_some_and(|f| f.strong)).collect();
    !strong.is_empty()
        && strong.iter().all(|h| {
            let Some(found) = &h.found else { return false };
            let entry = found.entry.clone().unwrap_or_default();
            let names_it = entry.name == found.matched_name || entry.aliases.contains(&found.matched_name);
            let rescored = screening::score(&screening::words(&h.party), &screening::words(&found.matched_name));
            !h.party.is_empty() && parties.contains(&h.party.as_str()) && names_it && rescored >= screening::STRONG_MATCH
        })
}

/// Checks a GetLicence answer's proof against `trust`: the chain it shows must be exactly the
/// verified chain, ending at the proven head.
pub fn check_licence_answer(trust: &TrustFile, authority: &str, licence_id: &str, answer: &pb::GetLicenceResponse, now: i64) -> Result<Verified, ClientError> {
    let proof = answer.proof.as_ref().ok_or_else(|| ClientError::Verification("the answer carries no proof bundle".into()))?;
    let statements: Vec<&[u8]> = proof.statements.iter().map(|s| s.as_ref()).collect();
    let bundle = Bundle::of(authority, licence_id, &statements, proof);
    let verified = check(&bundle, trust, now).map_err(refused)?;
    let shown: Vec<&[u8]> = answer.chain.iter().map(|l| l.statement_id.as_slice()).collect();
    let proven: Vec<&[u8]> = verified.chain.iter().map(|l| l.id.0.as_slice()).collect();
    if shown != proven {
        return Err(ClientError::Verification(format!(
            "the chain shown ({} decisions) is not the chain proven ({} decisions, ending at the head the issuer's log proves)",
            shown.len(),
            proven.len()
        )));
    }
    Ok(verified)
}

/// Checks a GetRuling answer about `authority/ruling_id` against `trust`: every version is a
/// valid ruling of that reference linked to the one before, the latest is signed by a key its
/// authority's key set (`key_set`, checked against the pinned roots) or the trust file lists,
/// and its receipt proves it in a log whose key is pinned. A later version (a withdrawal) that
/// the node leaves out cannot be shown missing: rulings have no head proof.
pub fn check_ruling_answer(
    trust: &TrustFile,
    authority: &str,
    ruling_id: &str,
    answer: &pb::GetRulingResponse,
    key_set: Option<&comity_proto::statement::Envelope>,
    now: i64,
) -> Result<(comity_proto::ruling::Ruling, comity_proto::log::SignedCheckpoint), ClientError> {
    use comity_proto::checked::CheckedStatement;
    use comity_proto::statement::Envelope;
    let failed = |m: String| ClientError::Verification(m);
    let name = format!("{authority}/{ruling_id}");
    let mut previous: Option<(comity_proto::statement::StatementId, u64)> = None;
    let mut latest = None;
    if answer.versions.is_empty() || answer.versions.len() > comity_proto::bundle::MAX_BUNDLE_STATEMENTS {
        return Err(failed(format!("the answer carries {} versions of {name}", answer.versions.len())));
    }
    for bytes in &answer.versions {
        let envelope = Envelope::parse(bytes.clone()).map_err(|e| failed(format!("ruling {name}: {e}")))?;
        let Ok(CheckedStatement::Ruling(ruling)) = CheckedStatement::try_from(&envelope) else {
            return Err(failed(format!("the answer about {name} carries a statement that is no valid ruling")));
        };
        let r = ruling.ruling();
        if (r.authority.as_str(), r.ruling_id.as_str()) != (authority, ruling_id) {
            return Err(failed(format!("the answer about {name} carries {}", ruling.key())));
        }
        let follows = match previous {
            None => r.version == 1,
            Some((id, version)) => r.version == version + 1 && r.previous.as_slice() == id.0.as_slice(),
        };
        if !follows {
            return Err(failed(format!("{ruling}: its versions do not link one to the next")));
        }
        previous = Some((envelope.id(), r.version));
        latest = Some((envelope, ruling));
    }
    let (envelope, ruling) = latest.expect("at least one version");
    let trust_err = |e: comity_proto::trust::TrustError| failed(format!("trust file: {e}"));
    let keys = match key_set {
        Some(set) => comity_proto::trust::check_key_set(set, &trust.roots().map_err(trust_err)?, None)
            .map_err(|e| failed(e.to_string()))?
            .keys
            .iter()
            .map(|k| k.key)
            .collect(),
        None => trust.configured_keys().map_err(trust_err)?.remove(authority).unwrap_or_default(),
    };
    envelope.verify_with(&keys).map_err(|e| failed(format!("{ruling}: {e}")))?;
    let receipt = answer.receipt.as_ref().ok_or_else(|| failed(format!("the answer carries no receipt for {ruling}")))?;
    let logs = trust.log_verifiers().map_err(trust_err)?;
    let verifier =
        logs.get(&receipt.origin).ok_or_else(|| failed(format!("{ruling} is in log {}, whose key is not pinned in the trust file", receipt.origin)))?;
    let checkpoint = comity_proto::log::verify_receipt(receipt, envelope.bytes(), verifier).map_err(|e| failed(format!("{ruling}: {e}")))?;
    comity_proto::log::check_not_future(&checkpoint, now).map_err(|e| failed(format!("{ruling}: {e}")))?;
    Ok((ruling, checkpoint))
}

/// One line saying what was checked.
pub fn summary(verified: &Verified, now: i64) -> String {
    let cp = &verified.head.checkpoint;
    let head = match verified.head.head {
        Some(h) => format!("head v{} proven", h.version),
        None => "absence proven".into(),
    };
    let witnesses = if verified.head.quorum == 0 {
        format!("{} witness cosignature(s), no quorum required", verified.head.cosigners.len())
    } else {
        format!("{} witness cosignature(s), {} required", verified.head.cosigners.len(), verified.head.quorum)
    };
    // The licence it stands on (a general licence, a re-export's parent) was proven too.
    let parent = match &verified.parent {
        Some(p) => format!(
            "; and its parent {}/{}: {} decision(s), head v{} proven in {} at size {}",
            p.authority,
            p.licence_id,
            p.chain.len(),
            p.head.head.map_or(0, |h| h.version),
            p.head.checkpoint.origin,
            p.head.checkpoint.size
        ),
        None => String::new(),
    };
    format!(
        "verified: {} decision(s) signed by keys the trust file vouches for, each logged; {head} in {} at size {} (signed {}, {} s ago); {witnesses}{parent}",
        verified.chain.len(),
        cp.origin,
        cp.size,
        comity_proto::authoring::format_time(cp.time),
        now - cp.time
    )
}
