//! The verifiable log: receipts, entries, proofs, checkpoints, restart, heartbeat, and the
//! audit catching a log that rewrote history or serves entries it did not log.

use std::time::Duration;

use assert_cmd::Command;
use comity_client::audit::{audit, AuditError, AuditFailure, AuditState, AuthorityKeys};
use comity_client::{Client, ClientError};
use comity_proto::decision::fixtures::grant;
use comity_proto::log::{entry_bytes, entry_leaf_hash, leaf_hash, proof_hashes, verify_consistency, verify_inclusion, verify_receipt, Frontier};
use comity_proto::pb;
use comity_proto::statement::StatementId;
use comity_tests::{bin_path, http_get, TestNode};
use predicates::str::contains;
use tonic::Code;

const BAFA: &str = "de.bafa";

async fn publish_grants(node: &TestNode, client: &mut Client, prefix: &str, n: usize) -> Vec<(StatementId, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..n {
        let envelope = node.sign(grant(BAFA, &format!("{prefix}-{i:04}")));
        let response = client.publish(envelope.clone()).await.unwrap();
        out.push((StatementId::from_slice(&response.statement_id).unwrap(), envelope));
    }
    out
}

fn keys_file(node: &TestNode) -> AuthorityKeys {
    let path = node.dir.path().join("keys.toml");
    std::fs::write(&path, node.config().to_toml()).unwrap();
    AuthorityKeys::load(&[path]).unwrap()
}

fn status_code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Code {
    match r {
        Err(ClientError::Status(s)) => s.code(),
        other => panic!("expected a status, got {other:?}"),
    }
}

#[tokio::test]
async fn every_publish_gets_a_receipt_that_verifies() {
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    let verifier = node.node().log_verifier().clone();
    for i in 0..5u64 {
        let envelope = node.sign(grant(BAFA, &format!("DE-2026-{i:06}")));
        let response = client.publish(envelope.clone()).await.unwrap();
        let receipt = response.receipt.expect("receipt");
        assert_eq!(receipt.index, i);
        let cp = verify_receipt(&receipt, &envelope, &verifier).unwrap();
        assert_eq!(cp.size, i + 1, "each batch signs a checkpoint covering it");
        // A receipt does not verify for another envelope or with another key.
        assert!(verify_receipt(&receipt, b"other", &verifier).is_err());
        let stranger = comity_proto::log::LogKey::from_seed(verifier.name(), &[9; 32]).unwrap().verifier();
        assert!(verify_receipt(&receipt, &envelope, &stranger).is_err());
        // Re-publishing returns the original position.
        let again = client.publish(envelope).await.unwrap();
        assert!(again.already_present);
        assert_eq!(again.receipt.unwrap().index, i);
    }
}

#[tokio::test]
async fn entries_and_proofs_match_the_signed_checkpoint() {
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    let published = publish_grants(&node, &mut client, "DE-2026-LOG", 37).await;
    let verifier = node.node().log_verifier().clone();
    let cp = verifier.verify_checkpoint(&client.checkpoint().await.unwrap().checkpoint).unwrap();
    assert_eq!(cp.size, 37);

    let entries = client.entries(0, 37).await.unwrap();
    let mut frontier = Frontier::new();
    for (entry, (_, envelope)) in entries.iter().zip(&published) {
        assert_eq!(&entry.envelope, envelope);
        assert!(entry.logged_at > 0 && entry.logged_at <= cp.time, "each entry's log time is served, never after the checkpoint");
        frontier.push(entry_leaf_hash(entry.logged_at, &entry.envelope));
    }
    assert_eq!(frontier.root(), cp.root);

    for (i, (id, envelope)) in published.iter().enumerate() {
        let proof = client.inclusion_proof(*id, 0).await.unwrap();
        assert_eq!(proof.index, i as u64);
        assert_eq!(proof.logged_at, entries[i].logged_at);
        verify_inclusion(&proof_hashes(&proof.hashes).unwrap(), cp.size, &cp.root, proof.index, &entry_leaf_hash(proof.logged_at, envelope)).unwrap();
    }
    // Consistency between any earlier size and now, using roots recomputed from the entries.
    let mut prefix = Frontier::new();
    for (size, entry) in entries.iter().enumerate().map(|(i, e)| (i as u64 + 1, e)) {
        prefix.push(entry_leaf_hash(entry.logged_at, &entry.envelope));
        let proof = client.consistency_proof(size, 37).await.unwrap();
        verify_consistency(&proof, size, &prefix.root(), 37, &cp.root).unwrap();
    }
}

#[tokio::test]
async fn out_of_range_requests_get_precise_codes() {
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    publish_grants(&node, &mut client, "DE-2026-OOR", 3).await;

    assert_eq!(status_code(client.entries(0, 4).await), Code::OutOfRange);
    assert_eq!(status_code(client.inclusion_proof(StatementId([7; 32]), 0).await), Code::NotFound);
    let (id, _) = (StatementId::of(b"x"), ());
    assert_eq!(status_code(client.inclusion_proof(id, 9).await), Code::OutOfRange);
    assert_eq!(status_code(client.consistency_proof(3, 2).await), Code::InvalidArgument);
    assert_eq!(status_code(client.consistency_proof(1, 4).await), Code::OutOfRange);

    let channel = tonic::transport::Endpoint::from_shared(node.url()).unwrap().connect().await.unwrap();
    let mut raw = pb::log_client::LogClient::new(channel);
    let too_many = raw.get_entries(pb::GetEntriesRequest { start: 0, end: 20_000, ..Default::default() }).await.unwrap_err();
    assert_eq!(too_many.code(), Code::OutOfRange);
    let empty = raw.get_entries(pb::GetEntriesRequest { start: 2, end: 2, ..Default::default() }).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    let index_beyond = raw
        .get_inclusion_proof(pb::GetInclusionProofRequest { entry: Some(pb::get_inclusion_proof_request::Entry::Index(3)), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(index_beyond.code(), Code::OutOfRange);
    let no_entry = raw.get_inclusion_proof(pb::GetInclusionProofRequest::default()).await.unwrap_err();
    assert_eq!(no_entry.code(), Code::InvalidArgument);
    let unknown_log = raw.get_checkpoint(pb::GetCheckpointRequest { origin: "elsewhere.example/log".into() }).await.unwrap_err();
    assert_eq!(unknown_log.code(), Code::NotFound);
}

#[tokio::test]
async fn restart_keeps_the_same_root_and_grows_consistently() {
    let mut node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    publish_grants(&node, &mut client, "DE-2026-RST", 10).await;
    let before = client.checkpoint().await.unwrap();
    node.restart().await;
    let mut client = node.client().await;
    let after = client.checkpoint().await.unwrap();
    assert_eq!((after.size, &after.root, &after.verifier_key), (before.size, &before.root, &before.verifier_key));
    publish_grants(&node, &mut client, "DE-2026-RST2", 3).await;
    let grown = client.checkpoint().await.unwrap();
    let proof = client.consistency_proof(10, 13).await.unwrap();
    verify_consistency(&proof, 10, &before.root.try_into().unwrap(), 13, &grown.root.try_into().unwrap()).unwrap();
}

#[tokio::test]
async fn an_idle_log_re_signs_its_checkpoint_on_the_heartbeat() {
    // An hour's heartbeat: the checkpoint ages only as the node's clock is moved (the
    // heartbeat still ticks in real time, every second).
    let node = TestNode::start_with(&[BAFA], |c| c.checkpoint_interval_secs = 3600).await;
    let mut client = node.client().await;
    let first = client.checkpoint().await.unwrap();
    node.clock().advance(3600);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = client.checkpoint().await.unwrap();
        if now.time > first.time {
            assert_eq!(now.size, first.size);
            assert!(now.time >= first.time + 3600, "re-signed at {} after {}", now.time, first.time);
            node.node().log_verifier().verify_checkpoint(&now.checkpoint).unwrap();
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no fresh checkpoint within 10 s of the clock passing the heartbeat interval");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn audit_follows_growth_and_catches_a_rewritten_history() {
    let mut node = TestNode::start(&[BAFA]).await;
    let keys = keys_file(&node);
    let mut client = node.client().await;
    publish_grants(&node, &mut client, "DE-2026-AUD", 4).await;

    let (report, state) = audit(&mut client, None, None, &keys).await.unwrap();
    assert!(report.key_from_node);
    assert_eq!(state.size, 4);
    publish_grants(&node, &mut client, "DE-2026-AUD2", 3).await;
    let (report, state) = audit(&mut client, Some(&state), None, &keys).await.unwrap();
    assert_eq!((report.old_size, report.checkpoint.size), (4, 7));

    // The operator wipes the store and re-logs different history under the same origin and key
    // (removing the key's last signed record too, which an honest node refuses to start without).
    node.stop().await;
    std::fs::remove_dir_all(node.config().store_dir()).unwrap();
    std::fs::remove_file(comity_node::log::last_signed_path(&node.config().log_key_path())).unwrap();
    node.start_again().await.unwrap();
    let mut client = node.client().await;
    publish_grants(&node, &mut client, "DE-2026-NEW", 9).await;
    let err = audit(&mut client, Some(&state), None, &keys).await.unwrap_err();
    assert!(matches!(err, AuditError::Failed(AuditFailure::Inconsistent { old: 7, .. })), "{err}");

    // A shorter rewritten log, and one of equal size with another root.
    node.stop().await;
    std::fs::remove_dir_all(node.config().store_dir()).unwrap();
    std::fs::remove_file(comity_node::log::last_signed_path(&node.config().log_key_path())).unwrap();
    node.start_again().await.unwrap();
    let mut client = node.client().await;
    publish_grants(&node, &mut client, "DE-2026-SHORT", 2).await;
    let err = audit(&mut client, Some(&state), None, &keys).await.unwrap_err();
    assert!(matches!(err, AuditError::Failed(AuditFailure::Shrank { old: 7, new: 2 })), "{err}");
    publish_grants(&node, &mut client, "DE-2026-SAME", 5).await;
    let err = audit(&mut client, Some(&state), None, &keys).await.unwrap_err();
    assert!(matches!(err, AuditError::Failed(AuditFailure::Fork { size: 7, .. })), "{err}");
}

/// A log holding a key set, an agreement and decisions signed with the key set's keys: the
/// audit checks the key set against the root keys of a trust file, and remembers it in its
/// state, so a later run checks new decisions by its keys without seeing it again.
#[tokio::test]
async fn audit_checks_key_sets_by_their_roots_and_remembers_them_between_runs() {
    use comity_proto::statement::{sign_decision, sign_statement, Signer};
    use comity_proto::trust::sign_key_set;
    const METI: &str = "jp.meti";
    let roots = [Signer::from_seed(&[1; 32]), Signer::from_seed(&[2; 32])];
    let signer = Signer::from_seed(&[10; 32]);
    let (dir, trust_path) = comity_tests::trust_file(BAFA, &roots);
    let tp = trust_path.clone();
    let node = TestNode::start_with(&[METI], move |c| {
        c.trust_file = Some(tp);
        c.authorities.push(comity_node::config::AuthorityConfig { id: BAFA.into(), name: "BAFA".into(), keys: vec![] });
    })
    .await;
    let mut client = node.client().await;
    let key_set = pb::KeySet {
        authority: BAFA.into(),
        version: 1,
        keys: vec![pb::SigningKey { public_key: signer.verifying_key().to_bytes().to_vec(), ..Default::default() }],
        issued_at: comity_proto::decision::fixtures::DECIDED,
    };
    client.publish(sign_key_set(key_set, &[&roots[0], &roots[1]])).await.unwrap();
    let agreement = pb::RecognitionAgreement {
        relying_authority: METI.into(),
        recognised_authority: BAFA.into(),
        version: 1,
        agreement_id: "eu-du".into(),
        control_code_patterns: vec!["EU-DU:3A001.*".into()],
        max_risk_tier: 3,
        ..Default::default()
    };
    client.publish(sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::Agreement(agreement)) }, &[&node.signer(METI)])).await.unwrap();
    client.publish(sign_decision(grant(BAFA, "DE-2026-KS-1"), &signer)).await.unwrap();

    // METI signs with the keys in the node's config; BAFA's come from its key set.
    let config = dir.path().join("comity.toml");
    std::fs::write(&config, node.config().to_toml()).unwrap();
    let keys = AuthorityKeys::load(&[&trust_path, &config]).unwrap();
    let (_, state) = audit(&mut client, None, None, &keys).await.unwrap();
    assert_eq!((state.size, state.key_sets.len()), (3, 1));
    client.publish(sign_decision(grant(BAFA, "DE-2026-KS-2"), &signer)).await.unwrap();
    let (report, state) = audit(&mut client, Some(&state), None, &keys).await.unwrap();
    assert_eq!((report.old_size, state.size), (3, 4));

    // Without the root keys the key set cannot be checked, and the audit says so.
    let err = audit(&mut client, None, None, &AuthorityKeys::load(&[&config]).unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("entry 0") && err.to_string().contains("root keys"), "{err}");
    // Without the config, METI's agreement has no keys to be checked with.
    let err = audit(&mut client, None, None, &AuthorityKeys::load(&[&trust_path]).unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("entry 1: authority `jp.meti` has no key set in the log and no keys"), "{err}");
}

#[tokio::test]
async fn audit_catches_tampered_entries_in_the_data_dir() {
    let mut node = TestNode::start(&[BAFA]).await;
    let keys = keys_file(&node);
    let mut client = node.client().await;
    let published = publish_grants(&node, &mut client, "DE-2026-TMP", 5).await;
    node.stop().await;

    // Flip one bit of a stored envelope while the node is stopped.
    let (id, envelope) = &published[2];
    let mut flipped = envelope.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    comity_node::store::Store::open(&node.config().store_dir()).unwrap().overwrite_statement_for_tests(id, &flipped).unwrap();
    node.start_again().await.unwrap();
    let mut client = node.client().await;
    let err = audit(&mut client, None, None, &keys).await.unwrap_err();
    assert!(matches!(&err, AuditError::Failed(AuditFailure::BadEntry { index: 2, reason }) if reason.contains("does not verify")), "{err}");

    // Swap in another validly signed decision: signatures pass, the root does not.
    node.stop().await;
    let other = node.sign(grant(BAFA, "DE-2026-SWAPPED"));
    comity_node::store::Store::open(&node.config().store_dir()).unwrap().overwrite_statement_for_tests(id, &other).unwrap();
    node.start_again().await.unwrap();
    let mut client = node.client().await;
    let err = audit(&mut client, None, None, &keys).await.unwrap_err();
    assert!(matches!(err, AuditError::Failed(AuditFailure::RootMismatch { .. })), "{err}");
    // The node itself never answers from the damaged record: no licence view, no verdict.
    let licence = published_licence(&published[2].1);
    let err = client.licence(BAFA, &licence).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::Internal), "{err}");
    let request = comity_proto::pb::VerifyRequest { authority: BAFA.into(), licence_id: licence, relying_authority: BAFA.into(), ..Default::default() };
    let err = client.verify(request).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::Internal), "{err}");
}

/// The licence id of a published envelope.
fn published_licence(envelope: &[u8]) -> String {
    comity_proto::statement::Envelope::parse(envelope.to_vec()).unwrap().decision().unwrap().licence_id.clone()
}

#[tokio::test]
async fn a_damaged_tree_is_refused_at_start() {
    let mut node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    publish_grants(&node, &mut client, "DE-2026-DMG", 6).await;
    node.stop().await;
    let store = comity_node::store::Store::open(&node.config().store_dir()).unwrap();
    // The root of 6 entries is read from the subtree hashes [0, 4) and [4, 6); damage the second.
    // (Damage below those, e.g. to one leaf's stored hash, is for a per-record check to find.)
    store.overwrite_log_hash_for_tests(&node.config().origin, comity_proto::log::stored_hash_index(1, 2), [0xAB; 32]).unwrap();
    drop(store);
    let err = node.start_again().await.unwrap_err().to_string();
    assert!(err.contains("recomputed root") && err.contains("differs from the signed root"), "{err}");
}

// The CLI runs as a blocking child process: the node needs a second runtime thread meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_commands_of_the_cli() {
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    let published = publish_grants(&node, &mut client, "DE-2026-CLI", 3).await;
    let key = node.node().log_verifier().to_string();
    let comity = || {
        let mut cmd = Command::new(bin_path("comity"));
        cmd.env("COMITY_NODE", node.url()).env("COMITY_LOG_KEY", &key);
        cmd
    };
    comity().args(["log", "checkpoint"]).assert().success().stdout(contains("size          3")).stdout(contains("with the pinned log key"));
    comity().args(["log", "prove", &published[1].0.to_hex()]).assert().success().stdout(contains("is entry 1 of test.comity.example/log"));

    let state = node.dir.path().join("audit.json");
    let keys = node.dir.path().join("keys.toml");
    std::fs::write(&keys, node.config().to_toml()).unwrap();
    let audit_cmd = || {
        let mut c = comity();
        c.args(["log", "audit", "--state"]).arg(&state).arg("--keys").arg(&keys);
        c
    };
    audit_cmd().assert().success().stdout(contains("size 0 -> 3, 3 new entries"));
    publish_grants(&node, &mut client, "DE-2026-CLI2", 2).await;
    audit_cmd().assert().success().stdout(contains("size 3 -> 5, 2 new entries"));
    let saved = AuditState::load(&state).unwrap().unwrap();
    assert_eq!(saved.size, 5);

    // A state file from another history makes the audit fail with exit code 9.
    let mut forged = saved.clone();
    forged.size = 5;
    forged.root = "00".repeat(32);
    let mut peaks = forged.frontier.clone();
    peaks[0] = "11".repeat(32);
    forged.frontier = peaks;
    forged.root = hex::encode(Frontier::from_parts(5, forged.frontier.iter().map(|h| hex::decode(h).unwrap().try_into().unwrap()).collect()).unwrap().root());
    forged.save(&state).unwrap();
    audit_cmd()
        .assert()
        .code(9)
        .stderr(contains("AUDIT FAILED: fork"))
        .stderr(predicates::function::function(|e: &str| e.matches("AUDIT FAILED").count() == 1));

    // Wrong pinned key: the checkpoint signature does not verify.
    std::fs::remove_file(&state).unwrap();
    let other = comity_proto::log::LogKey::from_seed("test.comity.example/log", &[5; 32]).unwrap().verifier().to_string();
    audit_cmd().env("COMITY_LOG_KEY", other).assert().code(9).stderr(contains("checkpoint signature does not verify"));
}

/// A plain HTTP/1.1 GET, as any tool would send it; returns (status line, body).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_served_as_tlog_tiles_over_http() {
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    let published = publish_grants(&node, &mut client, "DE-2026-TILE", 3).await;
    let addr = node.node().http_addr().expect("tiles enabled");
    let served = client.checkpoint().await.unwrap();

    let (status, body) = tokio::task::spawn_blocking(move || http_get(addr, "/checkpoint")).await.unwrap();
    assert!(status.contains("200"), "{status}");
    assert_eq!(String::from_utf8(body).unwrap(), served.checkpoint);

    // The partial level-0 tile holds the three leaf hashes; the entry bundle the envelopes.
    let (status, tile) = tokio::task::spawn_blocking(move || http_get(addr, "/tile/0/000.p/3")).await.unwrap();
    assert!(status.contains("200"), "{status}");
    // Each entry is its log time then its envelope, as GetEntries serves them.
    let entries: Vec<Vec<u8>> = client.entries(0, 3).await.unwrap().iter().map(|e| entry_bytes(e.logged_at, &e.envelope)).collect();
    assert!(entries.iter().zip(&published).all(|(entry, (_, e))| entry.ends_with(e)));
    let leaves: Vec<u8> = entries.iter().flat_map(|e| leaf_hash(e)).collect();
    assert_eq!(tile, leaves);
    let (_, bundle) = tokio::task::spawn_blocking(move || http_get(addr, "/tile/entries/000.p/3")).await.unwrap();
    let mut expected = Vec::new();
    for e in &entries {
        expected.extend_from_slice(&(e.len() as u16).to_be_bytes());
        expected.extend_from_slice(e);
    }
    assert_eq!(bundle, expected);
    let (status, _) = tokio::task::spawn_blocking(move || http_get(addr, "/tile/0/000.p/4")).await.unwrap();
    assert!(status.contains("404"), "{status}");
}
