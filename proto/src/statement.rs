//! Signed statements: DSSE-style pre-authentication encoding, signing, envelope parsing and
//! strict ed25519 verification.
//!
//! The envelope bytes are the unit of storage and transport. They are parsed to be read and
//! never re-encoded: a statement's id is the SHA-256 of the envelope exactly as received, and an
//! envelope that is not in canonical protobuf form is refused, so one statement has one id.

use std::collections::HashMap;
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

/// Keys with their key ids worked out once, to find the key of each signature of many
/// statements (`verify_batch`'s lookup) without hashing every key for every signature.
#[derive(Debug, Clone, Default)]
pub struct KeyRing(Vec<(String, VerifyingKey)>);

impl KeyRing {
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        Self(keys.into_iter().map(|k| (key_id(&k), k)).collect())
    }

    /// The key with id `id`, if it is on the ring.
    pub fn get(&self, id: &str) -> Option<VerifyingKey> {
        self.0.iter().find(|(known, _)| known == id).map(|(_, k)| *k)
    }
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
    let signatures = signers.iter().map(|s| pb::Signature { key_id: s.key_id.clone(), sig: s.sign_raw(&message).to_bytes().to_vec() }).collect();
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
        let decoded = pb::SignedStatement::decode(bytes.as_slice()).map_err(|e| StatementError::Malformed(e.to_string()))?;
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
        let statement = pb::Statement::decode(body.as_slice()).map_err(|e| StatementError::BadBody(e.to_string()))?.kind.ok_or(StatementError::EmptyBody)?;
        let id = StatementId::of(&bytes);
        Ok(Self { bytes, id, signatures, body, statement })
    }

    /// Checks every signature with `verify_strict` against the key `lookup` returns for its key id.
    /// All signatures must verify and no key may sign twice. Returns the keys that signed.
    pub fn verify(&self, lookup: impl Fn(&str) -> Option<VerifyingKey>) -> Result<Vec<VerifyingKey>, StatementError> {
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
/// what [`Envelope::verify`] (`verify_strict`) accepts. Returns the keys that signed each
/// envelope, or the first failure as (index, error).
///
/// A batch checks one random linear combination of the cofactorless equations
/// `R = [s]B - [k]A`. Alone it would accept some signatures `verify_strict` refuses: one whose
/// R carries a small-order component T passes whenever the random weight kills T (half the time
/// for order 2). With a torsion-free key every R that `verify_strict` accepts is torsion-free,
/// so the batch also requires every R to be torsion-free ([`all_torsion_free`]: 64 random
/// subset sums, each checked once, instead of a scalar multiplication per signature),
/// canonically encoded and not of small order. Signatures by a key with a small-order component (which
/// `verify_strict` does accept) are checked alone. A batch that fails is checked again one
/// signature at a time, so the answer, and the error named, are `verify_strict`'s.
///
/// A batch has a fixed cost (the 64 torsion checks are scalar multiplications, ~2 ms in all)
/// that only pays from ~150 signatures on: fewer are checked one by one with `verify_strict`
/// ([`MIN_BATCH`]). A mirror following a live log gets one or a few entries per round.
///
/// `lookup(index, key_id)` gives the key the signature of `envelopes[index]` may be checked
/// with (so it can depend on the envelope's authority).
pub fn verify_batch(envelopes: &[&Envelope], lookup: impl Fn(usize, &str) -> Option<VerifyingKey>) -> Result<Vec<Vec<VerifyingKey>>, (usize, StatementError)> {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    // Large enough that the per-chunk costs (the multiscalar set-up, 64 torsion checks) vanish
    // per signature, small enough to keep a failing chunk's re-check short.
    const CHUNK: usize = 1024;
    let mut batchable_keys: HashMap<[u8; 32], bool> = HashMap::new();
    let mut signers = Vec::with_capacity(envelopes.len());
    for (start, chunk) in envelopes.chunks(CHUNK).enumerate().map(|(i, c)| (i * CHUNK, c)) {
        let strict = |offset: usize| chunk[offset].verify(|id| lookup(start + offset, id)).map_err(|e| (start + offset, e));
        if chunk.len() < MIN_BATCH {
            for offset in 0..chunk.len() {
                signers.push(strict(offset)?);
            }
            continue;
        }
        let mut messages = Vec::with_capacity(chunk.len());
        let mut signatures = Vec::with_capacity(chunk.len());
        let mut keys = Vec::with_capacity(chunk.len());
        let mut rs = Vec::with_capacity(chunk.len());
        let mut alone = Vec::new();
        for (offset, envelope) in chunk.iter().enumerate() {
            let parts = envelope.signed_parts(&|id: &str| lookup(start + offset, id)).map_err(|e| (start + offset, e))?;
            signers.push(parts.iter().map(|(_, key)| *key).collect());
            let batchable = parts.iter().all(|(signature, key)| {
                *batchable_keys.entry(key.to_bytes()).or_insert_with(|| !key.is_weak() && key.to_edwards().is_torsion_free())
                    && canonical_point_encoding(signature.r_bytes())
            });
            let decompressed: Option<Vec<_>> = parts.iter().map(|(signature, _)| CompressedEdwardsY(*signature.r_bytes()).decompress()).collect();
            match decompressed {
                // The identity and every other small-order R: refused by verify_strict, which says why.
                Some(points) if batchable && points.iter().all(|r| !r.is_small_order()) => {
                    let message = pae(STATEMENT_PAYLOAD_TYPE, &envelope.body);
                    for ((signature, key), r) in parts.into_iter().zip(points) {
                        messages.push(message.clone());
                        signatures.push(signature);
                        keys.push(key);
                        rs.push(r);
                    }
                }
                _ => alone.push(offset),
            }
        }
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let batch_holds = all_torsion_free(&rs) && ed25519_dalek::verify_batch(&refs, &signatures, &keys).is_ok();
        if batch_holds {
            alone.into_iter().try_for_each(|offset| strict(offset).map(|_| ()))?;
        } else {
            (0..chunk.len()).try_for_each(|offset| strict(offset).map(|_| ()))?;
        }
    }
    Ok(signers)
}

/// The fewest signatures [`verify_batch`] checks as a batch. Per signature, on one core
/// (BENCHMARKS.md, Federation): `verify_strict` 41 µs; a batch of 128 also 41 µs, of 192 35 µs,
/// of 1024 23 µs; a batch of one 2.1 ms.
pub const MIN_BATCH: usize = 192;

/// Whether the bytes are the canonical encoding of a field element y < p (x's sign bit aside),
/// as `verify_strict` requires of R by comparing it with a freshly compressed point.
fn canonical_point_encoding(bytes: &[u8; 32]) -> bool {
    // p = 2^255 - 19: y is non-canonical exactly when its low 255 bits are p..2^255-1, that is
    // bytes 1..31 all 0xff (bit 255 masked) and byte 0 at least 0xed.
    let top_ones = bytes[1..31].iter().all(|b| *b == 0xff) && bytes[31] & 0x7f == 0x7f;
    let y_canonical = !(top_ones && bytes[0] >= 0xed);
    // x = 0 only for y = 1 and y = -1; its sign bit must then be 0.
    let y_is_plus_minus_one = bytes[1..31].iter().all(|b| *b == 0) && bytes[31] & 0x7f == 0 && bytes[0] == 1 || top_ones && bytes[0] == 0xec;
    y_canonical && !(y_is_plus_minus_one && bytes[31] & 0x80 != 0)
}

/// Trials of [`all_torsion_free`]: a point with a small-order component survives each with
/// probability at most 1/2.
const TORSION_TRIALS: usize = 64;

/// Whether every point lies in the prime-order subgroup, except with probability 2^-64 when
/// one does not. Each trial sums a random subset of the points and checks the sum alone: if
/// point j carries a small-order component T, then for any choice of the other points the two
/// sums with and without j differ by T, so at most one of them is torsion-free. Costs 32 point
/// additions per point plus 64 scalar multiplications, instead of one scalar multiplication
/// per point.
pub fn all_torsion_free(points: &[curve25519_dalek::EdwardsPoint]) -> bool {
    use rand::Rng;
    if points.is_empty() {
        return true;
    }
    // The thread RNG is a CSPRNG seeded by the OS: a signer cannot predict the subsets.
    let mut rng = rand::rng();
    let mut sums = [curve25519_dalek::EdwardsPoint::default(); TORSION_TRIALS];
    for point in points {
        let mut chosen = rng.next_u64();
        while chosen != 0 {
            let trial = chosen.trailing_zeros() as usize;
            sums[trial] += point;
            chosen &= chosen - 1;
        }
    }
    sums.iter().all(|sum| sum.is_torsion_free())
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

    /// The point of order 2, (0, -1).
    fn order_two() -> curve25519_dalek::EdwardsPoint {
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        let t = curve25519_dalek::edwards::CompressedEdwardsY(minus_one).decompress().unwrap();
        assert!(t.is_small_order() && t != curve25519_dalek::EdwardsPoint::default());
        t
    }

    /// An envelope whose signature has R = [r]B + T for a small-order T, the scalar s made with
    /// the secret `a` of the public key `public` (which need not be `a`'s own key):
    /// s = r + k·a, so [s]B - [k]A = R - T - [k](A - [a]B).
    fn crafted(key_id: &str, a: curve25519_dalek::Scalar, public: &VerifyingKey, licence: &str, r: u8, t: curve25519_dalek::EdwardsPoint) -> (Envelope, bool) {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        use curve25519_dalek::scalar::Scalar;
        use sha2::Sha512;
        let mut d = sample_decision();
        d.licence_id = licence.into();
        let body = pb::Statement { kind: Some(pb::statement::Kind::Decision(d)) }.encode_to_vec();
        let message = pae(STATEMENT_PAYLOAD_TYPE, &body);
        let big_r = (Scalar::from_bytes_mod_order([r; 32]) * B + t).compress();
        let k = Scalar::from_hash(Sha512::new().chain_update(big_r.as_bytes()).chain_update(public.as_bytes()).chain_update(&message));
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(big_r.as_bytes());
        sig[32..].copy_from_slice((Scalar::from_bytes_mod_order([r; 32]) + k * a).as_bytes());
        let bare_batch_accepts = ed25519_dalek::verify_batch(&[&message], &[Signature::from_bytes(&sig)], &[*public]).is_ok();
        let env = pb::SignedStatement { body, signatures: vec![pb::Signature { key_id: key_id.into(), sig: sig.to_vec() }] };
        (Envelope::parse(env.encode_to_vec()).unwrap(), bare_batch_accepts)
    }

    /// A signer who knows the secret scalar can add a small-order point T to R: then
    /// [s]B - [k]A = R - T, so verify_strict refuses it, while a bare batch check (whose random
    /// weight z kills T whenever z is even) would accept it about half the time.
    #[test]
    fn batch_verification_refuses_what_verify_strict_refuses() {
        let s = signer();
        let (a, public, t) = (s.key.to_scalar(), s.verifying_key(), order_two());
        let mut accepted_by_bare_batch = 0;
        let valid = envelopes(MIN_BATCH, &s);
        for i in 0..16u8 {
            let (envelope, bare) = crafted(s.key_id(), a, &public, &format!("DE-2026-TORSION-{i}"), i + 1, t);
            assert!(envelope.verify(lookup_for(&s)).is_err());
            accepted_by_bare_batch += usize::from(bare);
            // In a batch, and in a call too small for one.
            let mut refs: Vec<&Envelope> = valid.iter().collect();
            refs[1] = &envelope;
            assert_eq!(verify_batch(&refs, |_, id| lookup_for(&s)(id)).unwrap_err().0, 1);
            assert_eq!(verify_batch(&refs[..3], |_, id| lookup_for(&s)(id)).unwrap_err().0, 1);
        }
        // The torsion test matters: the bare batch equation let some of these through.
        assert!(accepted_by_bare_batch > 0, "bare batch refused all 16; the test no longer shows the gap");
    }

    /// Two such signatures whose small-order parts cancel in any combination with weights of
    /// equal parity: a torsion test on the sum of all R would miss them; one per random subset
    /// does not.
    #[test]
    fn batch_verification_refuses_torsion_that_cancels_in_pairs() {
        let s = signer();
        let (a, public, t) = (s.key.to_scalar(), s.verifying_key(), order_two());
        let valid = envelopes(MIN_BATCH, &s);
        for round in 0..8u8 {
            let mut all = valid.clone();
            all[17] = crafted(s.key_id(), a, &public, "DE-2026-PAIR-1", 2 * round + 1, t).0;
            all[29] = crafted(s.key_id(), a, &public, "DE-2026-PAIR-2", 2 * round + 2, t).0;
            let refs: Vec<&Envelope> = all.iter().collect();
            let (index, error) = verify_batch(&refs, |_, id| lookup_for(&s)(id)).unwrap_err();
            assert_eq!((index, error), (17, StatementError::BadSignature(s.key_id().into())));
        }
    }

    /// verify_strict accepts a key with a small-order component (it only refuses keys of small
    /// order), and so must the batch: such signatures are checked alone.
    #[test]
    fn batch_verification_accepts_what_verify_strict_accepts_from_a_mixed_order_key() {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        let a = curve25519_dalek::Scalar::from_bytes_mod_order([5u8; 32]);
        let t = order_two();
        let public = VerifyingKey::from_bytes((a * B + t).compress().as_bytes()).unwrap();
        assert!(!public.is_weak() && !public.to_edwards().is_torsion_free());
        let id = key_id(&public);
        // [s]B - [k]A = [r]B + [k]T: with R = [r]B + T that holds when k is odd.
        let mut strict_valid = Vec::new();
        let mut strict_invalid = Vec::new();
        for r in 1..=40u8 {
            let (envelope, _) = crafted(&id, a, &public, &format!("DE-2026-MIXED-{r}"), r, t);
            if envelope.verify(|_| Some(public)).is_ok() {
                strict_valid.push(envelope)
            } else {
                strict_invalid.push(envelope)
            }
        }
        assert!(!strict_valid.is_empty() && !strict_invalid.is_empty());
        let s = signer();
        let mut all = envelopes(MIN_BATCH, &s);
        all.extend(strict_valid);
        let lookup = |_: usize, key: &str| if key == id { Some(public) } else { lookup_for(&s)(key) };
        let refs: Vec<&Envelope> = all.iter().collect();
        assert_eq!(verify_batch(&refs, lookup).unwrap().len(), all.len());
        all.push(strict_invalid.remove(0));
        let refs: Vec<&Envelope> = all.iter().collect();
        assert_eq!(verify_batch(&refs, lookup).unwrap_err().0, all.len() - 1);
    }

    #[test]
    fn point_encodings_must_be_canonical() {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        // Real points encode canonically.
        for i in 1..50u8 {
            let p = (curve25519_dalek::Scalar::from(i) * B).compress();
            assert!(canonical_point_encoding(p.as_bytes()));
        }
        // y = p + 1 (the identity written the long way) and y = 2^255 - 1.
        let mut p_plus_one = [0xffu8; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        assert!(!canonical_point_encoding(&p_plus_one));
        assert!(!canonical_point_encoding(&[0xff; 32]));
        // The identity and (0, -1) with the sign bit of x set, though x = 0.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(canonical_point_encoding(&identity));
        identity[31] |= 0x80;
        assert!(!canonical_point_encoding(&identity));
        let mut minus_one = order_two().compress().to_bytes();
        assert!(canonical_point_encoding(&minus_one));
        minus_one[31] |= 0x80;
        assert!(!canonical_point_encoding(&minus_one));
    }

    #[test]
    fn torsion_test_finds_one_small_order_component_among_many() {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        let mut points: Vec<_> = (1..300u64).map(|i| curve25519_dalek::Scalar::from(i * 7919) * B).collect();
        assert!(all_torsion_free(&points));
        assert!(all_torsion_free(&[]));
        points[123] += order_two();
        assert!(!all_torsion_free(&points));
        // Two equal components cancel in a plain sum, never in every subset sum.
        points[200] += order_two();
        assert!(!all_torsion_free(&points));
    }
}
