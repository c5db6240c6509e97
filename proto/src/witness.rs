//! Witness cosignatures (C2SP `tlog-cosignature`, Ed25519 `cosignature/v1`).
//!
//! A witness that has verified a log's checkpoint signs
//! `"cosignature/v1\ntime T\n" ‖ checkpoint body` and the log appends the signature line to its
//! checkpoint note. A Comity witness also states more than the base semantics: it mirrored the
//! log up to the checkpoint's size and re-verified every entry (signatures, licence rules) and
//! the root.
//!
//! Key IDs use the algorithm byte 0x04, so a cosignature can never pass for a log signature
//! (byte 0x01) even by name. Signatures are checked with `verify_strict`.

use std::fmt;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use ed25519_dalek::{Signature as EdSignature, Signer as _, SigningKey, VerifyingKey};
use signed_note::{Note, Signature};

use crate::log::{parse_vkey, LogError};

/// Algorithm byte of Ed25519 cosignature keys.
const ALG_COSIGNATURE_V1: u8 = 0x04;
/// Length of a `timestamped_signature`: u64 timestamp ‖ 64-byte signature.
const TIMESTAMPED_SIGNATURE_LEN: usize = 8 + 64;

fn witness_key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut encoded = vec![ALG_COSIGNATURE_V1];
    encoded.extend_from_slice(key.as_bytes());
    signed_note::key_id(name, &encoded)
}

/// The message a cosignature signs.
fn signed_message(checkpoint_body: &[u8], time: u64) -> Vec<u8> {
    let mut message = format!("cosignature/v1\ntime {time}\n").into_bytes();
    message.extend_from_slice(checkpoint_body);
    message
}

/// A witness's signing key.
#[derive(Clone)]
pub struct WitnessKey {
    name: String,
    id: u32,
    key: SigningKey,
}

impl WitnessKey {
    /// A witness key named `name` (a schema-less URL, e.g. `registry.bafa.example/witness`).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, LogError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(LogError::BadKey(format!("`{name}` is not a valid note key name (no spaces or '+')")));
        }
        let key = SigningKey::from_bytes(seed);
        Ok(Self { name: name.into(), id: witness_key_id(name, &key.verifying_key()), key })
    }

    /// The public half.
    pub fn verifier(&self) -> WitnessVerifier {
        WitnessVerifier { name: self.name.clone(), id: self.id, key: self.key.verifying_key() }
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A cosignature line (`— name base64(…)\n`) for the checkpoint in `note`, made at `time`.
    /// The caller must have verified the checkpoint first.
    pub fn cosign(&self, note: &str, time: u64) -> Result<String, LogError> {
        let parsed = Note::from_bytes(note.as_bytes()).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
        let signature = self.key.sign(&signed_message(parsed.text(), time));
        let mut bytes = Vec::with_capacity(TIMESTAMPED_SIGNATURE_LEN);
        bytes.extend_from_slice(&time.to_be_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        let line = Signature::new(self.name.clone(), self.id, bytes).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
        String::from_utf8(line.to_bytes()).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))
    }
}

/// A witness's public key, in the vkey form `name+hexid+base64(0x04‖key)`.
#[derive(Clone, PartialEq, Eq)]
pub struct WitnessVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for WitnessVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for WitnessVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut encoded = vec![ALG_COSIGNATURE_V1];
        encoded.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, BASE64_STANDARD.encode(encoded))
    }
}

impl std::str::FromStr for WitnessVerifier {
    type Err = LogError;

    /// Parses a witness vkey, refusing weak (small-order) keys and mismatched key IDs.
    fn from_str(text: &str) -> Result<Self, LogError> {
        let (name, id, key) = parse_vkey(text, ALG_COSIGNATURE_V1, "an Ed25519 cosignature/v1 key", witness_key_id)?;
        Ok(Self { name, id, key })
    }
}

impl WitnessVerifier {
    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The time of this witness's valid cosignature on `note`, if it carries one.
    pub fn cosigned_at(&self, note: &str) -> Option<u64> {
        let parsed = Note::from_bytes(note.as_bytes()).ok()?;
        let signatures = note_signatures(note)?;
        signatures.iter().filter(|s| s.name() == self.name && s.id() == self.id).find_map(|s| self.check(parsed.text(), s.signature()))
    }

    fn check(&self, body: &[u8], signature: &[u8]) -> Option<u64> {
        if signature.len() != TIMESTAMPED_SIGNATURE_LEN {
            return None;
        }
        let time = u64::from_be_bytes(signature[..8].try_into().ok()?);
        if time > i64::MAX as u64 {
            return None;
        }
        let sig = EdSignature::from_slice(&signature[8..]).ok()?;
        self.key.verify_strict(&signed_message(body, time), &sig).is_ok().then_some(time)
    }
}

/// The signature lines of a note, parsed.
fn note_signatures(note: &str) -> Option<Vec<Signature>> {
    let (_, lines) = note.rsplit_once("\n\n")?;
    lines.lines().filter(|l| !l.is_empty()).map(|l| Signature::from_bytes(l.as_bytes()).ok()).collect()
}

/// The checkpoint body of a note (everything before the blank line), for comparing two notes
/// of one checkpoint that carry different signatures.
pub fn note_body(note: &str) -> Option<&str> {
    note.rsplit_once("\n\n").map(|(body, _)| body)
}

/// `note` reduced to the log's own signature (by the key named as the checkpoint's origin)
/// plus the newest valid cosignature of each of `witnesses` found in `note` or in `others`
/// (notes of the same checkpoint body). Invalid, foreign or unknown lines are dropped, so a
/// relay cannot make a node store junk.
pub fn merge_cosignatures(note: &str, others: &[&str], witnesses: &[WitnessVerifier]) -> Result<String, LogError> {
    let malformed = |m: String| LogError::MalformedCheckpoint(m);
    let parsed = Note::from_bytes(note.as_bytes()).map_err(|e| malformed(e.to_string()))?;
    let origin = note.lines().next().unwrap_or_default();
    let own = note_signatures(note).ok_or_else(|| malformed("unparsable signature lines".into()))?;
    let mut keep: Vec<Signature> = own.into_iter().filter(|s| s.name() == origin).collect();
    for witness in witnesses {
        let newest = std::iter::once(note)
            .chain(others.iter().copied())
            .filter(|other| note_body(other) == note_body(note))
            .filter_map(note_signatures)
            .flatten()
            .filter(|s| s.name() == witness.name && s.id() == witness.id)
            .filter_map(|s| witness.check(parsed.text(), s.signature()).map(|t| (t, s)))
            .max_by_key(|(t, _)| *t);
        if let Some((_, signature)) = newest {
            keep.push(signature);
        }
    }
    let merged = Note::new(parsed.text(), &keep).map_err(|e| malformed(e.to_string()))?;
    String::from_utf8(merged.to_bytes()).map_err(|e| malformed(e.to_string()))
}

/// The size line of a checkpoint note, unverified (for ordering notes already verified).
pub fn note_size(note: &str) -> Option<u64> {
    note.lines().nth(1)?.parse().ok()
}

/// The witnesses among `witnesses` whose valid cosignatures `note` carries, with their times,
/// each once (a witness listed twice, say by two trust files, still counts once to a quorum).
pub fn cosigners(note: &str, witnesses: &[WitnessVerifier]) -> Vec<(String, u64)> {
    let mut found: Vec<(String, u64)> = Vec::new();
    for w in witnesses {
        if found.iter().any(|(name, _)| *name == w.name) {
            continue;
        }
        if let Some(t) = w.cosigned_at(note) {
            found.push((w.name.clone(), t));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogKey;

    fn checkpoint() -> String {
        LogKey::from_seed("registry.bafa.example/log", &[7; 32]).unwrap().sign_checkpoint(3, &[9; 32], &[0; 32], 1_780_000_000).unwrap()
    }

    fn witness(name: &str, seed: u8) -> WitnessKey {
        WitnessKey::from_seed(name, &[seed; 32]).unwrap()
    }

    #[test]
    fn a_witness_listed_twice_counts_once() {
        let note = checkpoint();
        let w = witness("witness.example/w", 3);
        let cosigned = format!("{note}{}", w.cosign(&note, 1_780_000_100).unwrap());
        let twice = [w.verifier(), w.verifier()];
        assert_eq!(cosigners(&cosigned, &twice), vec![("witness.example/w".to_string(), 1_780_000_100)]);
    }

    #[test]
    fn signed_message_is_the_c2sp_form() {
        assert_eq!(signed_message(b"o\n1\nAA==\n", 1679315147), b"cosignature/v1\ntime 1679315147\no\n1\nAA==\n");
    }

    #[test]
    fn the_spec_example_has_the_timestamp_where_we_put_it() {
        // The cosignature line of the C2SP tlog-cosignature example: key ID, then the u64
        // timestamp 1679315147 (the time in its example message), then 64 signature bytes.
        let line = "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";
        let sig = Signature::from_bytes(line.as_bytes()).unwrap();
        assert_eq!(sig.signature().len(), TIMESTAMPED_SIGNATURE_LEN);
        assert_eq!(u64::from_be_bytes(sig.signature()[..8].try_into().unwrap()), 1679315147);
    }

    #[test]
    fn a_cosignature_verifies_and_the_log_signature_still_does() {
        let w = witness("registry.meti.example/witness", 1);
        let note = checkpoint();
        let merged = merge_cosignatures(&note, &[&format!("{note}{}", w.cosign(&note, 1_780_000_100).unwrap())], &[w.verifier()]).unwrap();
        assert_eq!(w.verifier().cosigned_at(&merged), Some(1_780_000_100));
        let log = LogKey::from_seed("registry.bafa.example/log", &[7; 32]).unwrap().verifier();
        assert_eq!(log.verify_checkpoint(&merged).unwrap().size, 3);
        // The log's own signature line stays first.
        assert!(merged.split("\n\n").nth(1).unwrap().starts_with("— registry.bafa.example/log "));
    }

    #[test]
    fn key_ids_use_algorithm_byte_4() {
        let w = witness("w.example/w1", 2);
        let mut encoded = vec![0x04];
        encoded.extend_from_slice(w.key.verifying_key().as_bytes());
        assert_eq!(w.verifier().id, signed_note::key_id("w.example/w1", &encoded));
        let text = w.verifier().to_string();
        assert_eq!(text.parse::<WitnessVerifier>().unwrap(), w.verifier());
        // A log (0x01) vkey of the same key is not a witness key.
        let log_vkey = signed_note::new_ed25519_verifier_key("w.example/w1", &w.key.verifying_key());
        assert!(log_vkey.parse::<WitnessVerifier>().is_err());
    }

    #[test]
    fn forged_or_foreign_cosignatures_are_dropped() {
        let honest = witness("a.example/w", 1);
        let other = witness("b.example/w", 2);
        let note = checkpoint();
        // A cosignature on another checkpoint body does not carry over.
        let other_note = LogKey::from_seed("registry.bafa.example/log", &[7; 32]).unwrap().sign_checkpoint(4, &[9; 32], &[0; 32], 1).unwrap();
        let foreign = format!("{other_note}{}", honest.cosign(&other_note, 5).unwrap());
        // A signature line under the honest name but made with another key.
        let impostor = WitnessKey { name: honest.name.clone(), id: honest.id, key: other.key.clone() };
        let forged = format!("{note}{}", impostor.cosign(&note, 6).unwrap());
        let merged = merge_cosignatures(&note, &[&foreign, &forged], &[honest.verifier(), other.verifier()]).unwrap();
        assert!(cosigners(&merged, &[honest.verifier(), other.verifier()]).is_empty());
        assert_eq!(merged, note);
        // Unknown signature lines in the note itself are dropped too.
        let stranger = witness("c.example/w", 3);
        let with_junk = format!("{note}{}", stranger.cosign(&note, 7).unwrap());
        assert_eq!(merge_cosignatures(&with_junk, &[], &[honest.verifier()]).unwrap(), note);
    }

    #[test]
    fn one_cosignature_per_witness_the_newest() {
        let w = witness("a.example/w", 1);
        let note = checkpoint();
        let older = format!("{note}{}", w.cosign(&note, 10).unwrap());
        let newer = format!("{note}{}", w.cosign(&note, 20).unwrap());
        let merged = merge_cosignatures(&older, &[&newer], &[w.verifier()]).unwrap();
        assert_eq!(cosigners(&merged, &[w.verifier()]), vec![("a.example/w".to_string(), 20)]);
        assert_eq!(merged.matches("— a.example/w ").count(), 1);
    }

    #[test]
    fn a_flipped_bit_breaks_the_cosignature() {
        let w = witness("a.example/w", 1);
        let note = checkpoint();
        let line = w.cosign(&note, 10).unwrap();
        let tampered = note.replacen("\n3\n", "\n4\n", 1);
        assert_eq!(w.verifier().cosigned_at(&format!("{tampered}{line}")), None);
        assert_eq!(w.verifier().cosigned_at(&format!("{note}{line}")), Some(10));
    }
}
