//! The fixed test vectors of `docs/signing.md`, regenerated here with the real signing, log and
//! checkpoint code and compared with `docs/signing-vectors.json`, so the document cannot drift
//! from the implementation. Partners' implementations (and `client/python`'s tests) check the
//! same file. Regenerate it after a deliberate change of the wire format:
//! `cargo test -p comity-proto write_signing_vectors -- --ignored`.

use prost::Message;
use serde_json::{json, Value};

use crate::keyfile::KeyFile;
use crate::log::{entry_leaf_hash, prove_inclusion, tree_root, verify_receipt, LogKey, MemoryHashes};
use crate::pb;
use crate::statement::{pae, sign_body, Envelope, Signer, StatementError, StatementId, STATEMENT_PAYLOAD_TYPE};

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/signing-vectors.json");

/// 2026-10-28T14:00:00Z, the date of the first decision.
const DECIDED: i64 = 1_793_196_000;
const DAY: i64 = 86_400;
const ORIGIN: &str = "registry.bafa.example/log";

/// The authority's signing key: seed 00 01 02 ... 1f.
fn seed() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

/// The log's note key: seed 20 21 ... 3f.
fn log_seed() -> [u8; 32] {
    std::array::from_fn(|i| 0x20 + i as u8)
}

fn party(name: &str, country: &str) -> pb::Party {
    pb::Party { name: name.into(), country: country.into(), ..Default::default() }
}

fn grant(licence_id: &str, destination: &str) -> pb::Decision {
    pb::Decision {
        authority: "de.bafa".into(),
        licence_id: licence_id.into(),
        version: 1,
        action: pb::Action::Grant as i32,
        licence_type: pb::LicenceType::Individual as i32,
        applicant: Some(pb::Party {
            identifiers: vec![pb::Identifier { scheme: "EORI".into(), value: "DE9103374".into() }],
            ..party("Elbtal Halbleiter GmbH", "DE")
        }),
        end_users: vec![party("Tohoku Institute of Space Optics", destination)],
        end_use: "Integration into the payload of a civil Earth-observation satellite".into(),
        items: vec![pb::Item {
            regime: pb::Regime::EuDualUse as i32,
            control_code: "3A001.a.1".into(),
            description: "Radiation-hardened microcircuits, total dose > 5x10^3 Gy(Si)".into(),
            quantity: "200".into(),
            unit: "pcs".into(),
            value_minor: 4_800_000,
            currency: "EUR".into(),
        }],
        destinations: vec![destination.into()],
        valid_from: DECIDED,
        valid_until: DECIDED + 730 * DAY,
        risk_tier: 2,
        conditions: vec!["No re-export without the prior written consent of BAFA".into()],
        application_received: DECIDED - 40 * DAY,
        decided_at: DECIDED,
        ..Default::default()
    }
}

fn suspension(previous: StatementId) -> pb::Decision {
    pb::Decision {
        authority: "de.bafa".into(),
        licence_id: "DE-2026-000123".into(),
        version: 2,
        previous: previous.0.to_vec(),
        action: pb::Action::Suspend as i32,
        reasons: vec![pb::Reason {
            code: "DIVERSION_RISK".into(),
            legal_basis: "Art. 12(1) Regulation (EU) 2021/821".into(),
            text: "Information received on a possible diversion to a military end user".into(),
        }],
        application_received: DECIDED + 30 * DAY,
        decided_at: DECIDED + 31 * DAY,
        ..Default::default()
    }
}

/// One signed statement with every intermediate value.
fn statement_vector(name: &str, decision: &pb::Decision, signer: &Signer) -> (Value, Vec<u8>) {
    let body = pb::Statement { kind: Some(pb::statement::Kind::Decision(decision.clone())) }.encode_to_vec();
    let message = pae(STATEMENT_PAYLOAD_TYPE, &body);
    let signature = signer.sign_raw(&message).to_bytes();
    let envelope = sign_body(body.clone(), &[signer]);
    let value = json!({
        "name": name,
        "decision": serde_json::to_value(decision).expect("decision as proto3 JSON"),
        "body": hex::encode(&body),
        "pae": hex::encode(&message),
        "signature": hex::encode(signature),
        "envelope": hex::encode(&envelope),
        "statement_id": StatementId::of(&envelope).to_hex(),
    });
    (value, envelope)
}

/// Envelopes that must be refused, each made from the first (valid) envelope.
fn refused_vectors(envelope: &[u8]) -> Vec<(&'static str, &'static str, Vec<u8>, &'static str)> {
    let decoded = pb::SignedStatement::decode(envelope).expect("valid envelope");
    let mut trailing = envelope.to_vec();
    trailing.extend_from_slice(&[0x18, 0x01]); // field 3 (unknown), varint 1
    let mut flipped = envelope.to_vec();
    *flipped.last_mut().expect("non-empty") ^= 0x01; // the signature's last byte
    let mut upper = decoded.clone();
    upper.signatures[0].key_id = upper.signatures[0].key_id.to_uppercase();
    let mut twice = decoded.clone();
    twice.signatures.push(decoded.signatures[0].clone());
    vec![
        ("non_canonical", "an unknown field appended: re-encoding drops it, so the bytes are not canonical", trailing, "non_canonical"),
        ("bad_signature", "the last byte of the signature flipped", flipped, "bad_signature"),
        ("key_id_not_exact", "key_id in uppercase hex: it must equal the lowercase key id of an accepted key", upper.encode_to_vec(), "unknown_key"),
        ("duplicate_signer", "the same signature twice", twice.encode_to_vec(), "duplicate_signer"),
    ]
}

fn error_name(e: &StatementError) -> &'static str {
    match e {
        StatementError::NonCanonical => "non_canonical",
        StatementError::BadSignature(_) => "bad_signature",
        StatementError::UnknownKey(_) => "unknown_key",
        StatementError::DuplicateSigner(_) => "duplicate_signer",
        _ => "other",
    }
}

/// The whole vector file, computed.
fn vectors() -> Value {
    let signer = Signer::from_seed(&seed());
    let key_file = KeyFile::from_signing_key("de.bafa", &ed25519_dalek::SigningKey::from_bytes(&seed()));
    let (grant_vector, grant_envelope) = statement_vector("grant", &grant("DE-2026-000123", "JP"), &signer);
    let (suspend_vector, suspend_envelope) = statement_vector("suspend", &suspension(StatementId::of(&grant_envelope)), &signer);
    let (other_vector, other_envelope) = statement_vector("other_licence", &grant("DE-2026-000124", "KR"), &signer);
    let envelopes = [&grant_envelope, &suspend_envelope, &other_envelope];

    // A log holding the three envelopes, a checkpoint of it and a receipt for each entry.
    let logged_at = [DECIDED + 60, DECIDED + 31 * DAY + 60, DECIDED + 31 * DAY + 61];
    let mut hashes = MemoryHashes::default();
    let mut entries = Vec::new();
    for (i, envelope) in envelopes.iter().enumerate() {
        let leaf = entry_leaf_hash(logged_at[i], envelope);
        hashes.append(&leaf);
        entries.push(json!({ "statement": i, "logged_at": logged_at[i], "leaf_hash": hex::encode(leaf) }));
    }
    let size = envelopes.len() as u64;
    let root = tree_root(size, &hashes).expect("root");
    let map_root = crate::licence_map::root_of_entries(envelopes.iter().map(|e| e.as_slice()));
    let time = logged_at[2] + 5;
    let log_key = LogKey::from_seed(ORIGIN, &log_seed()).expect("log key");
    let checkpoint = log_key.sign_checkpoint(size, &root, &map_root, time).expect("checkpoint");
    let receipts: Vec<Value> = (0..size)
        .map(|index| {
            let proof = prove_inclusion(size, index, &hashes).expect("proof");
            let i = index as usize;
            json!({
                "origin": ORIGIN,
                "index": index,
                "logged_at": logged_at[i],
                "leaf_hash": hex::encode(entry_leaf_hash(logged_at[i], envelopes[i])),
                "checkpoint": checkpoint,
                "inclusion_proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
            })
        })
        .collect();

    let refused: Vec<Value> = refused_vectors(&grant_envelope)
        .into_iter()
        .map(|(name, what, bytes, error)| json!({ "name": name, "what": what, "envelope": hex::encode(bytes), "error": error }))
        .collect();

    json!({
        "about": "Fixed test vectors of docs/signing.md. Generated by `cargo test -p comity-proto write_signing_vectors -- --ignored`; the test signing_vectors_match_the_file checks them.",
        "payload_type": STATEMENT_PAYLOAD_TYPE,
        "key": {
            "seed": hex::encode(seed()),
            "public_key": key_file.public_key,
            "key_id": key_file.key_id,
            "key_file": serde_json::to_value(&key_file).expect("key file as JSON"),
        },
        "statements": [grant_vector, suspend_vector, other_vector],
        "log": {
            "origin": ORIGIN,
            "key_seed": hex::encode(log_seed()),
            "verifier_key": log_key.verifier().to_string(),
            "entries": entries,
            "size": size,
            "root": hex::encode(root),
            "licence_map_root": hex::encode(map_root),
            "time": time,
            "checkpoint": checkpoint,
            "receipts": receipts,
        },
        "refused": refused,
    })
}

#[test]
fn signing_vectors_match_the_file() {
    let text = std::fs::read_to_string(VECTORS_PATH).expect("docs/signing-vectors.json");
    let file: Value = serde_json::from_str(&text).expect("docs/signing-vectors.json is JSON");
    assert!(
        file == vectors(),
        "docs/signing-vectors.json differs from what the code produces; if the change is deliberate, regenerate it with \
         `cargo test -p comity-proto write_signing_vectors -- --ignored` and update docs/signing.md"
    );
}

/// docs/signing.md shows the file's values (whitespace aside: long hex is wrapped there).
#[test]
fn the_signing_document_shows_the_vectors() {
    let squeeze = |t: &str| t.split_whitespace().collect::<String>();
    let doc = squeeze(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/signing.md")).expect("docs/signing.md"));
    let v = vectors();
    let grant = &v["statements"][0];
    let suspension_receipt = &v["log"]["receipts"][1];
    let mut shown: Vec<&Value> =
        vec![&v["key"]["seed"], &v["key"]["public_key"], &v["key"]["key_id"], &v["log"]["root"], &v["log"]["verifier_key"], &v["log"]["checkpoint"]];
    shown.extend(["body", "pae", "signature", "envelope", "statement_id"].map(|field| &grant[field]));
    shown.extend(v["log"]["entries"].as_array().unwrap().iter().map(|e| &e["leaf_hash"]));
    shown.extend(suspension_receipt["inclusion_proof"].as_array().unwrap());
    shown.extend(v["refused"].as_array().unwrap().iter().map(|r| &r["name"]));
    for value in shown {
        let text = value.as_str().expect("a string");
        assert!(doc.contains(&squeeze(text)), "docs/signing.md does not show `{text}` from docs/signing-vectors.json");
    }
}

/// The vectors say what they claim: every envelope verifies with the key, every receipt against
/// the log key, and every refused envelope is refused for the stated reason.
#[test]
fn signing_vectors_verify_and_the_refused_ones_are_refused() {
    let v = vectors();
    let signer = Signer::from_seed(&seed());
    let keys = [signer.verifying_key()];
    let verifier: crate::log::LogVerifier = v["log"]["verifier_key"].as_str().unwrap().parse().unwrap();
    for (i, s) in v["statements"].as_array().unwrap().iter().enumerate() {
        let bytes = hex::decode(s["envelope"].as_str().unwrap()).unwrap();
        let envelope = Envelope::parse(bytes.clone()).unwrap();
        assert_eq!(envelope.verify_with(&keys).unwrap(), keys);
        assert_eq!(envelope.key_ids().collect::<Vec<_>>(), [signer.key_id()]);
        let decision: pb::Decision = serde_json::from_value(s["decision"].clone()).unwrap();
        crate::decision::CheckedDecision::try_from(decision.clone()).expect("the vectors' decisions are valid");
        assert_eq!(envelope.decision(), Some(&decision));
        let r = &v["log"]["receipts"][i];
        let receipt = pb::Receipt {
            origin: r["origin"].as_str().unwrap().into(),
            index: r["index"].as_u64().unwrap(),
            leaf_hash: hex::decode(r["leaf_hash"].as_str().unwrap()).unwrap().into(),
            checkpoint: r["checkpoint"].as_str().unwrap().into(),
            inclusion_proof: r["inclusion_proof"].as_array().unwrap().iter().map(|h| hex::decode(h.as_str().unwrap()).unwrap().into()).collect(),
            logged_at: r["logged_at"].as_i64().unwrap(),
        };
        verify_receipt(&receipt, &bytes, &verifier).unwrap();
        let mut later = receipt.clone();
        later.logged_at += 1;
        assert!(verify_receipt(&later, &bytes, &verifier).is_err(), "a receipt with another log time verifies");
    }
    for r in v["refused"].as_array().unwrap() {
        let bytes = hex::decode(r["envelope"].as_str().unwrap()).unwrap();
        let error = Envelope::parse(bytes).and_then(|e| e.verify_with(&keys)).expect_err(r["name"].as_str().unwrap());
        assert_eq!(error_name(&error), r["error"], "{}: {error}", r["name"]);
    }
}

/// Rewrites docs/signing-vectors.json: `cargo test -p comity-proto write_signing_vectors -- --ignored`.
#[test]
#[ignore]
fn write_signing_vectors() {
    let text = serde_json::to_string_pretty(&vectors()).expect("vectors as JSON");
    std::fs::write(VECTORS_PATH, text + "\n").expect("write docs/signing-vectors.json");
}
