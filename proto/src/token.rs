//! Offline licence tokens: everything needed to verify a licence without a network — its signed
//! decisions, the key sets that vouch for their keys, the agreement applied, and a receipt per
//! statement proving it sits in a log under a checkpoint signed by a pinned log key.
//!
//! A token also carries the licence's head proven against its issuer's licence-state map, so a
//! decision its holder left out is caught. What it cannot show is anything logged after its
//! checkpoint (a later revocation): the report gives the evidence's age.

use crate::bundle::{check, judge_verified, Bundle, BundleError, ProvenHead};
use crate::decision::{is_authority_id, is_licence_id};
use crate::pb;
use crate::statement::Envelope;
use crate::trust::TrustFile;
use crate::verdict::{Judgement, Question};
use prost::Message;

/// Layout version written and read.
/// Format 2 added the head proof: a format-1 token cannot show its chain is complete.
/// Format 3 added `parent` (a registration's general licence, or a re-export licence's parent with
/// its consent); such a token is
/// written as format 3 so a verifier that cannot check its general licence refuses it.
pub const TOKEN_FORMAT: u32 = 3;
/// Oldest layout read: format 2 is format 3 without `parent`.
pub const OLDEST_TOKEN_FORMAT: u32 = 2;
/// Largest token accepted.
pub const MAX_TOKEN_BYTES: usize = 1024 * 1024;
/// Most statements in one token.
pub const MAX_TOKEN_STATEMENTS: usize = 256;

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token is {0} bytes, more than the {MAX_TOKEN_BYTES} allowed")]
    TooLarge(usize),
    #[error("not a licence token (truncated or corrupted): {0}")]
    Malformed(String),
    #[error("token format {0} is not supported (this verifier reads formats {OLDEST_TOKEN_FORMAT} to {TOKEN_FORMAT})")]
    Format(u32),
    #[error("token refused: {0}")]
    Refused(String),
    #[error("trust file: {0}")]
    Trust(String),
}

/// A token checked offline: the verdict and how old its evidence is.
#[derive(Debug, Clone)]
pub struct TokenReport {
    pub judgement: Judgement,
    /// Time of the oldest checkpoint the token's statements are proven against.
    pub evidence_time: i64,
    /// Time of the checkpoint the licence's head is proven against.
    pub issuer_checkpoint_time: i64,
    /// The proven head, its checkpoint and witnesses.
    pub head: ProvenHead,
}

/// Builds a token from a Verify answer about `authority/licence_id`.
pub fn token_from_answer(authority: &str, licence_id: &str, answer: &pb::VerifyResponse) -> Result<Vec<u8>, TokenError> {
    let proof = answer.proof.clone().ok_or_else(|| TokenError::Refused("the node's answer has no proof bundle".into()))?;
    if proof.statements.is_empty() {
        return Err(TokenError::Refused(format!("the node holds no decision on {authority}/{licence_id}")));
    }
    let head = proof.head.ok_or_else(|| TokenError::Refused("the node's answer has no proof of the licence's head".into()))?;
    let parent = proof.parent.map(|p| *p);
    let token = pb::LicenceToken {
        format: if parent.is_some() { TOKEN_FORMAT } else { OLDEST_TOKEN_FORMAT },
        authority: authority.into(),
        licence_id: licence_id.into(),
        statements: proof.statements.into_iter().map(Vec::from).collect(),
        receipts: proof.receipts,
        head: Some(head),
        parent,
    };
    Ok(token.encode_to_vec())
}

/// Verifies token `bytes` against `trust` and answers `question` (whose authority and licence
/// must be the token's) at time `now`, through the one verification path
/// ([`crate::bundle::check`]); the issuer's log counts as stale after `max_age_secs` unless
/// the agreement applied says otherwise.
pub fn verify_token(bytes: &[u8], trust: &TrustFile, question: &Question, now: i64, max_age_secs: u64) -> Result<TokenReport, TokenError> {
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge(bytes.len()));
    }
    let token = pb::LicenceToken::decode(bytes).map_err(|e| TokenError::Malformed(e.to_string()))?;
    if !(OLDEST_TOKEN_FORMAT..=TOKEN_FORMAT).contains(&token.format) || (token.parent.is_some() && token.format < TOKEN_FORMAT) {
        return Err(TokenError::Format(token.format));
    }
    let refuse = |m: String| TokenError::Refused(m);
    if !is_authority_id(&token.authority) || !is_licence_id(&token.licence_id) {
        return Err(refuse(format!("`{}/{}` is not a licence reference", token.authority, token.licence_id)));
    }
    if (token.authority.as_str(), token.licence_id.as_str()) != (question.authority.as_str(), question.licence_id.as_str()) {
        return Err(refuse(format!("the token is for {}/{}, not {}/{}", token.authority, token.licence_id, question.authority, question.licence_id)));
    }
    if token.statements.is_empty() || token.statements.len() > MAX_TOKEN_STATEMENTS {
        return Err(refuse(format!("{} statements (1 to {MAX_TOKEN_STATEMENTS})", token.statements.len())));
    }
    if let Some(parent) = &token.parent {
        if parent.statements.len() > MAX_TOKEN_STATEMENTS || !parent.openings.is_empty() {
            return Err(refuse(format!(
                "its general licence's proof has {} statements (at most {MAX_TOKEN_STATEMENTS}) and no openings",
                parent.statements.len()
            )));
        }
    }
    // A token is meant to be shown to anyone; a confidential licence is not.
    let parent_statements = token.parent.iter().flat_map(|p| p.statements.iter().map(|s| s.as_ref()));
    for bytes in token.statements.iter().map(Vec::as_slice).chain(parent_statements) {
        if let Ok(envelope) = Envelope::parse(bytes.to_vec()) {
            if let pb::statement::Kind::RestrictedDecision(_) = envelope.statement() {
                return Err(refuse("it carries a confidential decision: confidential licences have no offline token".into()));
            }
        }
    }
    let statements: Vec<&[u8]> = token.statements.iter().map(Vec::as_slice).collect();
    let bundle = Bundle {
        authority: &token.authority,
        licence_id: &token.licence_id,
        statements: &statements,
        receipts: &token.receipts,
        head: token.head.as_ref(),
        openings: &[],
        parent: token.parent.as_ref(),
    };
    let verified = check(&bundle, trust, now).map_err(|e| match e {
        BundleError::Trust(m) => TokenError::Trust(m),
        BundleError::Refused(m) => TokenError::Refused(m),
    })?;
    let judgement = judge_verified(question, &verified, now, max_age_secs);
    Ok(TokenReport { judgement, evidence_time: verified.evidence_time, issuer_checkpoint_time: verified.head.checkpoint.time, head: verified.head })
}

/// Fuzzing entry point: verifies arbitrary bytes as a token against a trust file that pins the
/// fuzz corpus log key and a signing key the corpus uses. Must never panic. Returns the
/// verdict when the bytes verify, so tests can check the corpus reaches the verdict.
/// Feature `fixtures`, as it uses the corpus key of [`crate::fuzzing`].
#[cfg(any(test, feature = "fixtures"))]
pub fn fuzz(data: &[u8]) -> Option<pb::Verdict> {
    use crate::trust::TrustedAuthority;
    let signer = crate::statement::Signer::from_seed(&[3; 32]);
    let trust = TrustFile {
        witnesses: vec![],
        witness_quorum: 0,
        screening_lists: vec![],
        authorities: vec![TrustedAuthority {
            id: "de.bafa".into(),
            keys: vec![hex::encode(signer.verifying_key().to_bytes())],
            logs: vec![crate::fuzzing::corpus_log_key().verifier().to_string()],
            ..Default::default()
        }],
    };
    let question = Question {
        authority: "de.bafa".into(),
        licence_id: "DE-2026-004211".into(),
        relying_authority: "de.bafa".into(),
        context: crate::recognition::Context { destination: Some("JP".into()), at: 1_793_200_000, ..Default::default() },
    };
    crate::token_qr::fuzz(data);
    verify_token(data, &trust, &question, 1_793_200_000, 86_400).ok().map(|r| r.judgement.verdict)
}
