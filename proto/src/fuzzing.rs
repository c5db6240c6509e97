//! Entry points for fuzzing the parsers that read bytes from outside: each takes arbitrary bytes,
//! must never panic, and exercises one decoder the way a node or verifier uses it. The
//! cargo-fuzz targets in `fuzz/` call these, and the normal test suite runs them on the seed
//! corpus and on proptest inputs, so CI exercises them too. Behind feature `fixtures`.

use crate::log::{verify_consistency, verify_inclusion, LogKey, TreeHash};
use crate::statement::Envelope;

/// A fixed log key, so signed checkpoints in a corpus stay valid.
pub fn corpus_log_key() -> LogKey {
    LogKey::from_seed("fuzz.comity.example/log", &[7; 32]).expect("valid key")
}

/// Envelope decoding, statement decoding and every check that needs no key: decisions,
/// agreements and key sets as a node would see them on publish or from a peer.
pub fn envelope(data: &[u8]) {
    let Ok(envelope) = Envelope::parse(data.to_vec()) else { return };
    let _ = envelope.verify(|_| None);
    match envelope.statement() {
        crate::pb::statement::Kind::Decision(d) => {
            if let Ok(checked) = crate::decision::CheckedDecision::try_from(d.clone()) {
                let _ = crate::rules::LicenceState::start(envelope.id(), &checked);
            }
        }
        crate::pb::statement::Kind::Agreement(a) => {
            let _ = crate::recognition::CheckedAgreement::try_from(a.clone());
        }
        crate::pb::statement::Kind::ControlList(l) => {
            let _ = crate::catalogue::ControlList::try_from(l.clone());
        }
        crate::pb::statement::Kind::Crosswalk(c) => {
            let _ = crate::catalogue::Crosswalk::try_from(c.clone());
        }
        crate::pb::statement::Kind::ScreeningList(l) => {
            let _ = crate::screening::ScreeningList::try_from(l.clone());
        }
        crate::pb::statement::Kind::ConsultationRequest(r) => {
            let _ = crate::consultation::Consultation::try_from(r.clone());
        }
        crate::pb::statement::Kind::ConsultationAnswer(a) => {
            let _ = crate::consultation::Consultation::try_from(a.clone());
        }
        crate::pb::statement::Kind::EndUseCheck(c) => {
            let _ = crate::end_use_check::CheckedEndUseCheck::try_from(c.clone());
        }
        crate::pb::statement::Kind::ClassificationRuling(r) => {
            let _ = crate::ruling::Ruling::try_from(r.clone());
        }
        crate::pb::statement::Kind::KeySet(_) => {
            let _ = crate::trust::check_key_set(&envelope, &Default::default(), None);
        }
        crate::pb::statement::Kind::RestrictedDecision(r) => {
            if let Ok(checked) = crate::restricted::CheckedRestricted::try_from(r.clone()) {
                // The envelope's own body as a would-be opening: exercises the decoder and checks.
                let _ = checked.open(&crate::pb::RestrictedBody { salt: data.iter().copied().take(32).collect(), decision: data.to_vec() });
            }
        }
    }
}

/// Checkpoint and signed-note parsing: as a checkpoint of the corpus log key, as a cosigned
/// note, and as the stored-note field reader.
pub fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = corpus_log_key().verifier().verify_checkpoint(text);
    let _ = crate::log::stored_checkpoint_fields(text);
    let _ = crate::witness::note_size(text);
    let _ = crate::witness::merge_cosignatures(text, &[], &[]);
    let _ = text.parse::<crate::log::LogVerifier>();
    let _ = text.parse::<crate::witness::WitnessVerifier>();
}

/// Proof verification with sizes, indexes and hashes taken from the bytes.
pub fn proofs(data: &[u8]) {
    if data.len() < 16 {
        return;
    }
    let (head, rest) = data.split_at(16);
    let a = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    let b = u64::from_le_bytes(head[8..].try_into().expect("8 bytes"));
    let hashes: Vec<TreeHash> = rest.chunks_exact(32).map(|c| c.try_into().expect("32 bytes")).collect();
    let (first, others) = hashes.split_first().map_or(([0; 32], &[][..]), |(f, o)| (*f, o));
    let _ = verify_inclusion(others, b, &first, a, &first);
    let _ = verify_consistency(others, a, &first, b, &first);
    let _ = crate::log::proof_hashes(&rest.chunks(32).map(<[u8]>::to_vec).collect::<Vec<_>>());
}

/// Seed inputs for each target: valid statements of every kind, signed notes, proofs.
pub fn seed_corpus() -> Vec<(&'static str, String, Vec<u8>)> {
    use crate::decision::fixtures::{follow_up, grant};
    use crate::pb;
    use crate::statement::{sign_decision, sign_statement, Signer};
    let signer = Signer::from_seed(&[3; 32]);
    let g = grant("de.bafa", "DE-2026-004211");
    let revoke = follow_up(&g, pb::Action::Revoke, 2, [9; 32]);
    let key_set = pb::KeySet {
        authority: "de.bafa".into(),
        version: 1,
        keys: vec![pb::SigningKey { public_key: signer.verifying_key().to_bytes().to_vec(), ..Default::default() }],
        issued_at: 1_793_196_000,
    };
    let agreement = pb::RecognitionAgreement {
        relying_authority: "jp.meti".into(),
        recognised_authority: "de.bafa".into(),
        version: 1,
        agreement_id: "eu-du-2026".into(),
        control_code_patterns: vec!["EU-DU:3A001.*".into()],
        destinations_denied: vec!["RU".into()],
        ..Default::default()
    };
    let key = corpus_log_key();
    let note = key.sign_checkpoint(5, &[0x5a; 32], &[0xa5; 32], 1_793_196_000).expect("sign");
    let mut proof = Vec::new();
    proof.extend_from_slice(&3u64.to_le_bytes());
    proof.extend_from_slice(&8u64.to_le_bytes());
    for i in 0..4u8 {
        proof.extend_from_slice(&[i; 32]);
    }
    // A token of one statement in a one-entry log, proven against a checkpoint of the corpus key.
    let grant_envelope = sign_decision(g.clone(), &signer);
    let leaf = crate::log::entry_leaf_hash(1_793_196_000, &grant_envelope);
    let token = pb::LicenceToken {
        format: crate::token::OLDEST_TOKEN_FORMAT,
        authority: "de.bafa".into(),
        licence_id: "DE-2026-004211".into(),
        statements: vec![grant_envelope.clone()],
        receipts: vec![pb::Receipt {
            origin: key.verifier().name().into(),
            index: 0,
            leaf_hash: leaf.to_vec().into(),
            checkpoint: key.sign_checkpoint(1, &leaf, &crate::licence_map::root_of_entries([grant_envelope.as_slice()]), 1_793_196_000).expect("sign"),
            inclusion_proof: vec![],
            logged_at: 1_793_196_000,
        }],
        head: Some(crate::bundle::wire_head_proof(
            key.verifier().name(),
            &key.sign_checkpoint(1, &leaf, &crate::licence_map::root_of_entries([grant_envelope.as_slice()]), 1_793_196_000).expect("sign"),
            "de.bafa",
            "DE-2026-004211",
            &crate::licence_map::MapProof {
                siblings: vec![],
                end: crate::licence_map::ProofEnd::Head(crate::licence_map::Head { version: 1, id: crate::statement::StatementId::of(&grant_envelope).0 }),
            },
        )),
        parent: None,
    };
    vec![
        ("token", "one-grant".into(), prost::Message::encode_to_vec(&token)),
        ("envelope", "grant".into(), sign_decision(g, &signer)),
        ("envelope", "revoke".into(), sign_decision(revoke, &signer)),
        ("envelope", "key-set".into(), crate::trust::sign_key_set(key_set, &[&signer])),
        ("envelope", "agreement".into(), sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::Agreement(agreement)) }, &[&signer])),
        ("checkpoint", "signed-note".into(), note.into_bytes()),
        ("checkpoint", "log-vkey".into(), key.verifier().to_string().into_bytes()),
        ("proofs", "eight-leaves".into(), proof),
    ]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Regenerates `fuzz/corpus/TARGET/NAME` from [`seed_corpus`]:
    /// `cargo test -p comity-proto write_fuzz_corpus -- --ignored`.
    #[test]
    #[ignore]
    fn write_fuzz_corpus() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        for (target, name, bytes) in seed_corpus() {
            std::fs::create_dir_all(root.join(target)).unwrap();
            std::fs::write(root.join(target).join(name), bytes).unwrap();
        }
    }

    /// Valid statements with random bytes flipped, inserted or cut: the inputs a fuzzer finds first.
    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        let seeds: Vec<Vec<u8>> = seed_corpus().into_iter().filter(|(t, _, _)| *t == "envelope").map(|(_, _, b)| b).collect();
        (0..seeds.len(), proptest::collection::vec((any::<usize>(), any::<u8>(), 0..3u8), 1..8)).prop_map(move |(i, edits)| {
            let mut bytes = seeds[i].clone();
            for (at, byte, op) in edits {
                let at = at % (bytes.len() + 1);
                match op {
                    0 if at < bytes.len() => bytes[at] ^= byte | 1,
                    1 => bytes.insert(at, byte),
                    _ => bytes.truncate(at),
                }
            }
            bytes
        })
    }

    proptest! {
        #[test]
        fn no_input_panics_the_envelope_parser(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            envelope(&data);
        }

        #[test]
        fn no_mutated_statement_panics_the_checks(data in mutated()) {
            envelope(&data);
        }

        #[test]
        fn no_input_panics_the_checkpoint_parsers(text in "[ -~\n\u{2014}]{0,600}") {
            checkpoint(text.as_bytes());
        }

        #[test]
        fn no_input_panics_proof_verification(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            proofs(&data);
        }
    }

    #[test]
    fn a_valid_checkpoint_of_the_corpus_key_parses() {
        let note = corpus_log_key().sign_checkpoint(0, &crate::log::EMPTY_ROOT, &crate::licence_map::EMPTY_HASH, 1_793_196_000).unwrap();
        assert!(corpus_log_key().verifier().verify_checkpoint(&note).is_ok());
        checkpoint(note.as_bytes());
    }
}
