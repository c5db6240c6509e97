//! Offline licence tokens: everything needed to verify a licence without a network — its signed
//! decisions, the key sets that vouch for their keys, the agreement applied, and a receipt per
//! statement proving it sits in a log under a checkpoint signed by a pinned log key.
//!
//! What a token cannot show: anything logged after its checkpoints (a later revocation), and a
//! decision its holder left out. The report says so, with the evidence's age.

use std::collections::HashMap;

use crate::decision::{is_authority_id, is_licence_id};
use crate::log::verify_receipt;
use crate::pb;
use crate::recognition::CheckedAgreement;
use crate::statement::Envelope;
use crate::trust::{check_key_set, KeySetView, TrustFile};
use crate::verdict::{judge, Facts, Judgement, Link, Question};
use ed25519_dalek::VerifyingKey;
use prost::Message;

/// Layout version written and read.
pub const TOKEN_FORMAT: u32 = 1;
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
    #[error("token format {0} is not supported (this verifier reads format {TOKEN_FORMAT})")]
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
    /// Time of the newest checkpoint of the issuer's log in the token.
    pub issuer_checkpoint_time: i64,
}

/// Builds a token from a Verify answer about `authority/licence_id`.
pub fn token_from_answer(authority: &str, licence_id: &str, answer: &pb::VerifyResponse) -> Result<Vec<u8>, TokenError> {
    let proof = answer.proof.clone().ok_or_else(|| TokenError::Refused("the node's answer has no proof bundle".into()))?;
    if proof.statements.is_empty() {
        return Err(TokenError::Refused(format!("the node holds no decision on {authority}/{licence_id}")));
    }
    let token = pb::LicenceToken { format: TOKEN_FORMAT, authority: authority.into(), licence_id: licence_id.into(), statements: proof.statements.into_iter().map(Vec::from).collect(), receipts: proof.receipts };
    Ok(token.encode_to_vec())
}

/// Verifies token `bytes` against `trust` and answers `question` (whose authority and licence
/// must be the token's) at time `now`; the issuer's log counts as stale after
/// `max_age_secs` unless the agreement applied says otherwise.
pub fn verify_token(bytes: &[u8], trust: &TrustFile, question: &Question, now: i64, max_age_secs: u64) -> Result<TokenReport, TokenError> {
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge(bytes.len()));
    }
    let token = pb::LicenceToken::decode(bytes).map_err(|e| TokenError::Malformed(e.to_string()))?;
    if token.format != TOKEN_FORMAT {
        return Err(TokenError::Format(token.format));
    }
    let refuse = |m: String| TokenError::Refused(m);
    if !is_authority_id(&token.authority) || !is_licence_id(&token.licence_id) {
        return Err(refuse(format!("`{}/{}` is not a licence reference", token.authority, token.licence_id)));
    }
    if (token.authority.as_str(), token.licence_id.as_str()) != (question.authority.as_str(), question.licence_id.as_str()) {
        return Err(refuse(format!("the token is for {}/{}, not {}/{}", token.authority, token.licence_id, question.authority, question.licence_id)));
    }
    if token.statements.is_empty() || token.statements.len() > MAX_TOKEN_STATEMENTS || token.statements.len() != token.receipts.len() {
        return Err(refuse(format!("{} statements and {} receipts (1 to {MAX_TOKEN_STATEMENTS}, one receipt each)", token.statements.len(), token.receipts.len())));
    }
    let roots = trust.roots().map_err(|e| TokenError::Trust(e.to_string()))?;
    let configured = trust.configured_keys().map_err(|e| TokenError::Trust(e.to_string()))?;
    let logs = trust.log_verifiers().map_err(|e| TokenError::Trust(e.to_string()))?;

    // Every statement must sit in a log whose key is pinned, under a checkpoint it signed.
    let mut envelopes = Vec::with_capacity(token.statements.len());
    let mut logged_at = Vec::with_capacity(token.statements.len());
    for (i, (bytes, receipt)) in token.statements.iter().zip(&token.receipts).enumerate() {
        let verifier = logs.get(&receipt.origin).ok_or_else(|| refuse(format!("statement {i} is in log {}, whose key is not pinned in the trust file", receipt.origin)))?;
        let checkpoint = verify_receipt(receipt, bytes, verifier).map_err(|e| refuse(format!("statement {i}: {e}")))?;
        crate::log::check_not_future(&checkpoint, now).map_err(|e| refuse(format!("statement {i}: {e}")))?;
        let envelope = Envelope::parse(bytes.clone()).map_err(|e| refuse(format!("statement {i}: {e}")))?;
        envelopes.push((envelope, receipt.origin.clone()));
        logged_at.push(checkpoint.time);
    }

    // Key sets first: they vouch for the keys of everything else.
    let mut key_sets: HashMap<String, KeySetView> = HashMap::new();
    for (envelope, _) in &envelopes {
        if let pb::statement::Kind::KeySet(_) = envelope.statement() {
            let set = check_key_set(envelope, &roots, None).map_err(|e| refuse(e.to_string()))?;
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
    let verify = |envelope: &Envelope, authority: &str| {
        let keys = keys_of(authority);
        envelope.verify_with(&keys).map_err(|e| refuse(format!("statement {} of {authority}: {e}", envelope.id())))
    };

    let mut chain: Vec<Link> = Vec::new();
    let mut agreements = Vec::new();
    let mut issuer_checkpoint_time = i64::MIN;
    for ((envelope, _), logged) in envelopes.iter().zip(&logged_at) {
        match envelope.statement() {
            pb::statement::Kind::Decision(d) => {
                if (d.authority.as_str(), d.licence_id.as_str()) != (token.authority.as_str(), token.licence_id.as_str()) {
                    return Err(refuse(format!("it carries a decision on {}/{}, not {}/{}", d.authority, d.licence_id, token.authority, token.licence_id)));
                }
                verify(envelope, &d.authority)?;
                issuer_checkpoint_time = issuer_checkpoint_time.max(*logged);
                chain.push(Link { id: envelope.id(), decision: d.clone(), key_ids: envelope.key_ids().map(str::to_string).collect(), logged_at: Some(*logged) });
            }
            pb::statement::Kind::Agreement(a) => {
                let checked = CheckedAgreement::try_from(a.clone()).map_err(|e| refuse(format!("agreement: {e}")))?;
                verify(envelope, &a.relying_authority)?;
                agreements.push(checked);
            }
            pb::statement::Kind::KeySet(_) => {}
            // A token is meant to be shown to anyone; a confidential licence is not.
            pb::statement::Kind::RestrictedDecision(_) => return Err(refuse("it carries a confidential decision: confidential licences have no offline token".into())),
        }
    }
    chain.sort_by_key(|l| l.decision.version);
    for (i, link) in chain.iter().enumerate() {
        if link.decision.version != i as u64 + 1 {
            return Err(refuse(format!("its decision chain is incomplete: version {} is missing", i + 1)));
        }
    }
    let facts = Facts {
        issuer_trusted: roots.contains_key(&question.authority) || configured.contains_key(&question.authority),
        key_set: key_sets.get(&question.authority),
        chain: &chain,
        fork: None,
        agreements: &agreements.iter().collect::<Vec<_>>(),
        log_heard_at: Some(issuer_checkpoint_time),
        default_max_staleness_secs: max_age_secs,
        now,
        withheld: None,
        checked: None,
    };
    let judgement = judge(question, &facts);
    Ok(TokenReport { judgement, evidence_time: logged_at.iter().copied().min().unwrap_or(now), issuer_checkpoint_time })
}

/// Fuzzing entry point: verifies arbitrary bytes as a token against a trust file that pins the
/// fuzz corpus log key and a signing key the corpus uses. Must never panic. Returns the
/// verdict when the bytes verify, so tests can check the corpus reaches the verdict.
pub fn fuzz(data: &[u8]) -> Option<pb::Verdict> {
    use crate::trust::TrustedAuthority;
    let signer = crate::statement::Signer::from_seed(&[3; 32]);
    let trust = TrustFile {
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
