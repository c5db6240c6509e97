//! Signed statements: DSSE-style pre-authentication encoding, signing, envelope parsing and
//! strict ed25519 verification.
//!
//! The envelope bytes are the unit of storage and transport. They are parsed to be read and
//! never re-encoded: a statement's id is the SHA-256 of the envelope exactly as received, and an
//! envelope that is not in canonical protobuf form is refused, so one statement has one id.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::pb;

/// Payload type bound into every signature, so a Comity signature can never be replayed as a
/// signature over anything else.
pub const STATEMENT_PAYLOAD_TYPE: &str = "comity.v1.statement";

/// Largest envelope a node accepts (a decision with many items is a few KiB). 65535, because
/// C2SP tlog-tiles entry bundles frame each entry with a 16-bit length.
pub const MAX_ENVELOPE_BYTES: usize = u16::MAX as usize;

/// Most signatures one envelope may carry.
pub const MAX_SIGNATURES: usize = 16;

/// SHA-256 of an envelope's bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatementId(pub [u8; 32]);

impl StatementId {
    /// The id of `envelope`.
    pub fn of(envelope: &[u8]) -> Self {
        Self(Sha256::digest(envelope).into())
    }

    /// Parses 32 raw bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        hex::decode(text).ok().and_then(|b| Self::from_slice(&b))
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for StatementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for StatementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatementId({})", self.to_hex())
    }
}

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("envelope is {0} bytes, more than the {MAX_ENVELOPE_BYTES} allowed")]
    TooLarge(usize),
    #[error("envelope is not a valid SignedStatement: {0}")]
    Malformed(String),
    #[error("envelope is not in canonical protobuf encoding (re-encoding it changes its bytes)")]
    NonCanonical,
    #[error("statement body is not a valid Statement: {0}")]
    BadBody(String),
    #[error("statement body has no content (none of decision, key_set, agreement is set)")]
    EmptyBody,
    #[error("envelope carries no signature")]
    Unsigned,
    #[error("envelope carries {0} signatures, more than the {MAX_SIGNATURES} allowed")]
    TooManySignatures(usize),
    #[error("key {0} signs the envelope more than once")]
    DuplicateSigner(String),
    #[error("signature by key {0} is not accepted here (unknown key)")]
    UnknownKey(String),
    #[error("signature by key {0} does not verify")]
    BadSignature(String),
}

/// DSSE pre-authentication encoding:
/// `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + payload_type.len() + 32);
    out.extend_from_slice(format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// Key id: lowercase hex of the first 8 bytes of SHA-256(public key). Only a hint for finding
/// the key; verification always uses the full key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// An ed25519 signing key with its key id.
pub struct Signer {
    key: SigningKey,
    key_id: String,
}

impl Signer {
    /// Wraps a signing key.
    pub fn new(key: SigningKey) -> Self {
        let key_id = key_id(&key.verifying_key());
        Self { key, key_id }
    }

    /// From the 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self::new(SigningKey::from_bytes(seed))
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Plain ed25519 signature over `message` (RFC 8032). Statements are signed through
    /// [`sign_body`], which applies the pre-authentication encoding first.
    pub fn sign_raw(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "Signer({})", self.key_id)
    }
}

/// Signs an already encoded `Statement` body and returns the envelope bytes.
pub fn sign_body(body: Vec<u8>, signers: &[&Signer]) -> Vec<u8> {
    let message = pae(STATEMENT_PAYLOAD_TYPE, &body);
    let signatures = signers
        .iter()
        .map(|s| pb::Signature { key_id: s.key_id.clone(), sig: s.sign_raw(&message).to_bytes().to_vec() })
        .collect();
    pb::SignedStatement { body, signatures }.encode_to_vec()
}

/// Encodes `statement` and signs it.
pub fn sign_statement(statement: &pb::Statement, signers: &[&Signer]) -> Vec<u8> {
    sign_body(statement.encode_to_vec(), signers)
}

/// Wraps a decision in a statement and signs it.
pub fn sign_decision(decision: pb::Decision, signer: &Signer) -> Vec<u8> {
    let statement = pb::Statement { kind: Some(pb::statement::Kind::Decision(decision)) };
    sign_statement(&statement, &[signer])
}

/// A structurally valid envelope whose signatures have not been checked yet.
#[derive(Debug, Clone)]
pub struct Envelope {
    bytes: Vec<u8>,
    id: StatementId,
    signatures: Vec<pb::Signature>,
    body: Vec<u8>,
    statement: pb::statement::Kind,
}

impl Envelope {
    /// Parses envelope bytes: size bound, protobuf decoding, canonical form, body decoding.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, StatementError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(StatementError::TooLarge(bytes.len()));
        }
        let decoded = pb::SignedStatement::decode(bytes.as_slice())
            .map_err(|e| StatementError::Malformed(e.to_string()))?;
        if decoded.encoded_len() != bytes.len() || decoded.encode_to_vec() != bytes {
            return Err(StatementError::NonCanonical);
        }
        let pb::SignedStatement { body, signatures } = decoded;
        if signatures.is_empty() {
            return Err(StatementError::Unsigned);
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(StatementError::TooManySignatures(signatures.len()));
        }
        let statement = pb::Statement::decode(body.as_slice())
            .map_err(|e| StatementError::BadBody(e.to_string()))?
            .kind
            .ok_or(StatementError::EmptyBody)?;
        let id = StatementId::of(&bytes);
        Ok(Self { bytes, id, signatures, body, statement })
    }

    /// Checks every signature with `verify_strict` against the key `lookup` returns for its key id.
    /// All signatures must verify and no key may sign twice. Returns the keys that signed.
    pub fn verify(
        &self,
        lookup: impl Fn(&str) -> Option<VerifyingKey>,
    ) -> Result<Vec<VerifyingKey>, StatementError> {
        let message = pae(STATEMENT_PAYLOAD_TYPE, &self.body);
        let parts = self.signed_parts(&lookup)?;
        for ((signature, key), sig) in parts.iter().zip(&self.signatures) {
            key.verify_strict(&message, signature).map_err(|_| StatementError::BadSignature(sig.key_id.clone()))?;
        }
        Ok(parts.into_iter().map(|(_, key)| key).collect())
    }

    /// [`Envelope::verify`] against `keys`, each signature's key found by its key id.
    pub fn verify_with(&self, keys: &[VerifyingKey]) -> Result<Vec<VerifyingKey>, StatementError> {
        self.verify(|id| keys.iter().find(|k| key_id(k) == id).copied())
    }

    /// The signatures to check: (message, signature, key) per signature, or why not.
    fn signed_parts(&self, lookup: &impl Fn(&str) -> Option<VerifyingKey>) -> Result<Vec<(Signature, VerifyingKey)>, StatementError> {
        let mut parts: Vec<(Signature, VerifyingKey)> = Vec::with_capacity(self.signatures.len());
        for sig in &self.signatures {
            let key = lookup(&sig.key_id).ok_or_else(|| StatementError::UnknownKey(sig.key_id.clone()))?;
            if parts.iter().any(|(_, k)| *k == key) {
                return Err(StatementError::DuplicateSigner(sig.key_id.clone()));
            }
            let signature = Signature::from_slice(&sig.sig).map_err(|_| StatementError::BadSignature(sig.key_id.clone()))?;
            parts.push((signature, key));
        }
        Ok(parts)
    }

    /// The envelope bytes, exactly as received.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the envelope, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// SHA-256 of the envelope bytes.
    pub fn id(&self) -> StatementId {
        self.id
    }

    /// Key ids named by the signatures, in order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.signatures.iter().map(|s| s.key_id.as_str())
    }

    /// The decoded statement.
    pub fn statement(&self) -> &pb::statement::Kind {
        &self.statement
    }

    /// The decision, when the statement is one.
    pub fn decision(&self) -> Option<&pb::Decision> {
        match &self.statement {
            pb::statement::Kind::Decision(d) => Some(d),
            _ => None,
        }
    }
}

/// Checks the signatures of many envelopes with ed25519 batch verification, accepting exactly
/// what [`Envelope::verify`] (`verify_strict`) accepts, and returns the first failure as
/// (index, error).
///
/// Batch verification checks one random linear combination of the cofactorless equations,
/// and alone it would accept some signatures `verify_strict` refuses: one whose R (or key)
/// carries a small-order component passes whenever the random weight kills that component
/// (half the time for order 2). So every R and key must first be torsion-free and not of
/// small order; then a combination that sums to zero means every equation holds, except with
/// probability about 2^-128. A failing batch is re-checked one signature at a time to name
/// the culprit.
///
/// `lookup(envelope, key_id)` gives the key an envelope's signature may be checked with (so it
/// can depend on the envelope's authority).
pub fn verify_batch(envelopes: &[&Envelope], lookup: impl Fn(&Envelope, &str) -> Option<VerifyingKey>) -> Result<(), (usize, StatementError)> {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    const CHUNK: usize = 256;
    let mut torsion_free_keys: Vec<VerifyingKey> = Vec::new();
    for (start, chunk) in envelopes.chunks(CHUNK).enumerate().map(|(i, c)| (i * CHUNK, c)) {
        let mut messages = Vec::with_capacity(chunk.len());
        let mut signatures = Vec::with_capacity(chunk.len());
        let mut keys = Vec::with_capacity(chunk.len());
        for (offset, envelope) in chunk.iter().enumerate() {
            let index = start + offset;
            let lookup = |id: &str| lookup(envelope, id);
            let parts = envelope.signed_parts(&lookup).map_err(|e| (index, e))?;
            let message = pae(STATEMENT_PAYLOAD_TYPE, &envelope.body);
            for (signature, key) in parts {
                let r_ok = CompressedEdwardsY(signature.r_bytes().to_owned())
                    .decompress()
                    .is_some_and(|r| !r.is_small_order() && r.is_torsion_free());
                if !torsion_free_keys.contains(&key) {
                    if key.is_weak() || !key.to_edwards().is_torsion_free() {
                        return Err((index, envelope.verify(lookup).err().unwrap_or(StatementError::BadSignature("key with a small-order component".into()))));
                    }
                    torsion_free_keys.push(key);
                }
                if !r_ok {
                    // verify_strict refuses it too; let it say why.
                    return Err((index, envelope.verify(lookup).err().unwrap_or(StatementError::BadSignature("signature R has a small-order component".into()))));
                }
                messages.push(message.clone());
                signatures.push(signature);
                keys.push(key);
            }
        }
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        if ed25519_dalek::verify_batch(&refs, &signatures, &keys).is_err() {
            for (offset, envelope) in chunk.iter().enumerate() {
                envelope.verify(|id| lookup(envelope, id)).map_err(|e| (start + offset, e))?;
            }
            // Every signature verifies alone: cannot happen when the batch fails; refuse anyway.
            return Err((start, StatementError::BadSignature("batch verification failed".into())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_decision() -> pb::Decision {
        pb::Decision {
            authority: "de.bafa".into(),
            licence_id: "DE-2026-000123".into(),
            version: 1,
            action: pb::Action::Grant as i32,
            end_use: "Radiation-hardened ICs for an Earth-observation satellite payload".into(),
            destinations: vec!["JP".into()],
            ..Default::default()
        }
    }

    fn signer() -> Signer {
        Signer::from_seed(&[7u8; 32])
    }

    fn lookup_for(s: &Signer) -> impl Fn(&str) -> Option<VerifyingKey> + '_ {
        move |id| (id == s.key_id()).then(|| s.verifying_key())
    }

    #[test]
    fn pae_matches_the_dsse_specification() {
        // Example from the DSSE protocol description.
        assert_eq!(pae("http://example.com/HelloWorld", b"hello world"), b"DSSEv1 29 http://example.com/HelloWorld 11 hello world");
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn rfc8032_test_vectors_pass_through_the_signer() {
        // RFC 8032 section 7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ];
        for (secret, public, message, expected) in cases {
            let seed: [u8; 32] = hex::decode(secret).unwrap().try_into().unwrap();
            let signer = Signer::from_seed(&seed);
            assert_eq!(hex::encode(signer.verifying_key().as_bytes()), public);
            let message = hex::decode(message).unwrap();
            let sig = signer.sign_raw(&message);
            assert_eq!(hex::encode(sig.to_bytes()), expected);
            signer.verifying_key().verify_strict(&message, &sig).unwrap();
        }
    }

    #[test]
    fn fixed_key_and_body_give_a_fixed_envelope() {
        // Pins the signing input: any change to PAE, the payload type or the encoding breaks this.
        let envelope = sign_decision(sample_decision(), &signer());
        let parsed = Envelope::parse(envelope.clone()).unwrap();
        parsed.verify(lookup_for(&signer())).unwrap();
        assert_eq!(signer().key_id(), "fe812c12f3ab4ce6");
        assert_eq!(
            hex::encode(&envelope),
            concat!(
                "0a660a640a0764652e62616661120e44452d323032362d303030313233180128015241526164696174696f6e2d6861",
                "7264656e65642049437320666f7220616e2045617274682d6f62736572766174696f6e20736174656c6c6974652070",
                "61796c6f616462024a5012540a10666538313263313266336162346365361240dc08a884afa7feca00c5db0536eb33",
                "90cffb5ec683b669660b24cf5ad534a2a91a7c190be69f6e8ae17129b16d08f0b8abaec8d549a3a5f007828a55ad83",
                "8f03"
            )
        );
        assert_eq!(parsed.id().to_hex(), "838d84459ebe895c249eba7bb1a9c7202c99baef55504e519ada9428d0b4861c");
    }

    #[test]
    fn round_trip_keeps_bytes_and_content() {
        let envelope = sign_decision(sample_decision(), &signer());
        let parsed = Envelope::parse(envelope.clone()).unwrap();
        assert_eq!(parsed.bytes(), envelope.as_slice());
        assert_eq!(parsed.decision(), Some(&sample_decision()));
        assert_eq!(parsed.id(), StatementId::of(&envelope));
        let keys = parsed.verify(lookup_for(&signer())).unwrap();
        assert_eq!(keys, vec![signer().verifying_key()]);
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let envelope = sign_decision(sample_decision(), &signer());
        let s = signer();
        for bit in 0..envelope.len() * 8 {
            let mut tampered = envelope.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            let accepted = Envelope::parse(tampered).and_then(|e| e.verify(lookup_for(&s)));
            assert!(accepted.is_err(), "flipping bit {bit} was accepted");
        }
    }

    #[test]
    fn unknown_duplicate_and_missing_signatures_are_refused() {
        let a = signer();
        let b = Signer::from_seed(&[9u8; 32]);
        let body = pb::Statement { kind: Some(pb::statement::Kind::Decision(sample_decision())) }.encode_to_vec();

        let by_b = Envelope::parse(sign_body(body.clone(), &[&b])).unwrap();
        assert_eq!(by_b.verify(lookup_for(&a)), Err(StatementError::UnknownKey(b.key_id().into())));

        let twice = Envelope::parse(sign_body(body.clone(), &[&a, &a])).unwrap();
        assert_eq!(twice.verify(lookup_for(&a)), Err(StatementError::DuplicateSigner(a.key_id().into())));

        let unsigned = pb::SignedStatement { body: body.clone(), signatures: vec![] }.encode_to_vec();
        assert_eq!(Envelope::parse(unsigned).unwrap_err(), StatementError::Unsigned);

        let empty_body = sign_body(pb::Statement { kind: None }.encode_to_vec(), &[&a]);
        assert_eq!(Envelope::parse(empty_body).unwrap_err(), StatementError::EmptyBody);

        let huge = vec![0u8; MAX_ENVELOPE_BYTES + 1];
        assert_eq!(Envelope::parse(huge).unwrap_err(), StatementError::TooLarge(MAX_ENVELOPE_BYTES + 1));
    }

    #[test]
    fn non_canonical_encoding_is_refused() {
        // Appending an unknown field keeps the content but would change the id.
        let mut envelope = sign_decision(sample_decision(), &signer());
        envelope.extend_from_slice(&[0x18, 0x01]); // field 3, varint 1
        assert_eq!(Envelope::parse(envelope).unwrap_err(), StatementError::NonCanonical);
    }

    fn envelopes(n: usize, s: &Signer) -> Vec<Envelope> {
        (0..n)
            .map(|i| {
                let mut d = sample_decision();
                d.licence_id = format!("DE-2026-{i:06}");
                Envelope::parse(sign_decision(d, s)).unwrap()
            })
            .collect()
    }

    #[test]
    fn batch_verification_accepts_valid_and_names_the_bad_one() {
        let s = signer();
        let mut all = envelopes(600, &s);
        let refs: Vec<&Envelope> = all.iter().collect();
        assert!(verify_batch(&refs, |_, id| lookup_for(&s)(id)).is_ok());
        // A signature by another key under the same key id, in the third chunk.
        let mut d = sample_decision();
        d.licence_id = "DE-2026-BAD".into();
        let other = Signer::from_seed(&[8u8; 32]);
        let mut bytes = pb::SignedStatement::decode(sign_decision(d, &other).as_slice()).unwrap();
        bytes.signatures[0].key_id = s.key_id().into();
        all[555] = Envelope::parse(bytes.encode_to_vec()).unwrap();
        let refs: Vec<&Envelope> = all.iter().collect();
        let (index, error) = verify_batch(&refs, |_, id| lookup_for(&s)(id)).unwrap_err();
        assert_eq!(index, 555);
        assert!(matches!(error, StatementError::BadSignature(_)));
        // An unknown key is named too.
        let unknown = Envelope::parse(sign_decision(sample_decision(), &other)).unwrap();
        let (index, error) = verify_batch(&[&all[0], &unknown], |_, id| lookup_for(&s)(id)).unwrap_err();
        assert_eq!(index, 1);
        assert!(matches!(error, StatementError::UnknownKey(_)));
    }

    /// A signer who knows the secret scalar can add a small-order point T to R: then
    /// [s]B - [k]A = R - T, so verify_strict refuses it, while a bare batch check (whose random
    /// weight z kills T whenever z is even) would accept it about half the time.
    #[test]
    fn batch_verification_refuses_what_verify_strict_refuses() {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        use curve25519_dalek::edwards::CompressedEdwardsY;
        use curve25519_dalek::scalar::Scalar;
        use sha2::Sha512;
        let s = signer();
        let a = s.key.to_scalar();
        let public = s.verifying_key();
        // The point of order 2: (0, -1).
        let mut minus_one = [0u8; 32];
        minus_one[0] = 0xec;
        minus_one[1..31].fill(0xff);
        minus_one[31] = 0x7f;
        let t = CompressedEdwardsY(minus_one).decompress().unwrap();
        assert!(t.is_small_order() && t != curve25519_dalek::EdwardsPoint::default());
        let mut refused_by_bare_batch = 0;
        for i in 0..16u8 {
            let mut d = sample_decision();
            d.licence_id = format!("DE-2026-TORSION-{i}");
            let body = pb::Statement { kind: Some(pb::statement::Kind::Decision(d)) }.encode_to_vec();
            let message = pae(STATEMENT_PAYLOAD_TYPE, &body);
            let r = Scalar::from_bytes_mod_order([i + 1; 32]);
            let big_r = (r * B + t).compress();
            let k = Scalar::from_hash(Sha512::new().chain_update(big_r.as_bytes()).chain_update(public.as_bytes()).chain_update(&message));
            let sig_s = r + k * a;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(big_r.as_bytes());
            sig[32..].copy_from_slice(sig_s.as_bytes());
            let signature = Signature::from_bytes(&sig);
            assert!(public.verify_strict(&message, &signature).is_err());
            if ed25519_dalek::verify_batch(&[&message], &[signature], &[public]).is_err() {
                refused_by_bare_batch += 1;
            }
            let env = pb::SignedStatement { body, signatures: vec![pb::Signature { key_id: s.key_id().into(), sig: sig.to_vec() }] };
            let envelope = Envelope::parse(env.encode_to_vec()).unwrap();
            let valid = envelopes(3, &s);
            let refs = [&valid[0], &envelope, &valid[1]];
            assert_eq!(verify_batch(&refs, |_, id| lookup_for(&s)(id)).unwrap_err().0, 1);
        }
        // The pre-check matters: the bare batch equation let some of these through.
        assert!(refused_by_bare_batch < 16, "bare batch refused all 16; the test no longer shows the gap");
    }
}
