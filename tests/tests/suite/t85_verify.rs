//! Registry.Verify through real nodes: every verdict, reached at the issuer's node and at a
//! mirror, with the same answer at both (except a fork, which only the node that saw the second
//! decision knows about).

use std::time::Duration;

use comity_node::config::{AuthorityConfig, Config};
use comity_proto::decision::fixtures::{follow_up, grant, DECIDED};
use comity_proto::pb::{self, Action, Verdict};
use comity_proto::statement::{sign_decision, sign_statement, Signer, StatementId};
use comity_proto::trust::sign_key_set;
use comity_tests::{eventually, trust_file, TestNode};

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const KSTC: &str = "kr.kstc";
const WAIT: Duration = Duration::from_secs(15);
const DAY: i64 = 86_400;

fn signing_key(s: &Signer, compromised: i64) -> pb::SigningKey {
    pb::SigningKey { public_key: s.verifying_key().to_bytes().to_vec(), valid_from: 0, valid_until: 0, compromised_since: compromised, ..Default::default() }
}

fn agreement(relying: &str, id: &str, patterns: &[&str], max_staleness_secs: u64) -> pb::Statement {
    let a = pb::RecognitionAgreement {
        relying_authority: relying.into(),
        recognised_authority: BAFA.into(),
        version: 1,
        agreement_id: id.into(),
        regimes: vec![pb::Regime::EuDualUse as i32],
        control_code_patterns: patterns.iter().map(|p| p.to_string()).collect(),
        destinations_allowed: vec!["JP".into(), "KR".into()],
        destinations_denied: vec!["RU".into()],
        max_risk_tier: 3,
        valid_from: DECIDED - 365 * DAY,
        conditions: vec!["End-use statement to be presented at export declaration".into()],
        max_staleness_secs,
        issued_at: DECIDED - 30 * DAY,
        ..Default::default()
    };
    pb::Statement { kind: Some(pb::statement::Kind::Agreement(a)) }
}

struct Case {
    name: &'static str,
    licence: &'static str,
    relying: &'static str,
    destination: &'static str,
    control_code: &'static str,
    at: i64,
    verdict: Verdict,
    reason: &'static str,
}

fn request(c: &Case, authority: &str) -> pb::VerifyRequest {
    pb::VerifyRequest {
        authority: authority.into(),
        licence_id: c.licence.into(),
        relying_authority: c.relying.into(),
        destination: c.destination.into(),
        control_code: c.control_code.into(),
        end_user: String::new(),
        at: c.at,
        screening_lists: Vec::new(),
        end_use: String::new(),
        ..Default::default()
    }
}

/// A trust file pinning BAFA's two root keys (2 of 2), in a directory kept while it is held.
/// METI asks whether BAFA's `licence` covers a 3A001.a.1 item for Japan.
fn ask_meti_for_japan(licence: &str) -> pb::VerifyRequest {
    pb::VerifyRequest {
        authority: BAFA.into(),
        licence_id: licence.into(),
        relying_authority: METI.into(),
        destination: "JP".into(),
        control_code: "EU-DU:3A001.a.1".into(),
        end_user: String::new(),
        at: 0,
        screening_lists: Vec::new(),
        end_use: String::new(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verdict_through_real_nodes_and_the_same_answer_at_a_mirror() {
    let roots = [Signer::from_seed(&[1; 32]), Signer::from_seed(&[2; 32])];
    let (k1, k2) = (Signer::from_seed(&[10; 32]), Signer::from_seed(&[11; 32]));
    let (_trust_dir, trust_path) = trust_file(BAFA, &roots);

    // B: the Japanese and Korean authorities' node, trusting BAFA by its root keys.
    let b_trust = trust_path.clone();
    let mut b = TestNode::start_with(&[METI, KSTC], move |c: &mut Config| {
        c.origin = "registry.meti.example/log".into();
        c.trust_file = Some(b_trust);
        c.mirror_interval_ms = 50;
    })
    .await;
    // A: BAFA's node, hosting BAFA by root keys alone, mirroring B (for its agreements).
    let (a_trust, b_peer, b_trusted) = (trust_path.clone(), b.as_peer("meti"), vec![b.authority(METI), b.authority(KSTC)]);
    let a = TestNode::start_with(&[], move |c: &mut Config| {
        c.origin = "registry.bafa.example/log".into();
        c.trust_file = Some(a_trust);
        c.authorities = vec![AuthorityConfig { id: BAFA.into(), name: "BAFA".into(), keys: vec![] }];
        c.trusted = b_trusted;
        c.peers = vec![b_peer];
        c.mirror_interval_ms = 50;
        // No heartbeat during the test: the STALE case needs the log's checkpoint to age.
        c.checkpoint_interval_secs = 3600;
    })
    .await;
    b.stop().await;
    let a_peer = a.as_peer("bafa");
    b.reconfigure(|c| c.peers = vec![a_peer]);
    b.start_again().await.unwrap();

    let mut at_a = a.client().await;
    at_a.publish(sign_key_set(
        pb::KeySet { authority: BAFA.into(), version: 1, keys: vec![signing_key(&k1, 0), signing_key(&k2, 0)], issued_at: DECIDED },
        &[&roots[0], &roots[1]],
    ))
    .await
    .unwrap();
    let publish = |d: pb::Decision, k: &Signer| sign_decision(d, k);
    let head = |resp: pb::PublishResponse| -> [u8; 32] { StatementId::from_slice(&resp.statement_id).unwrap().0 };

    let valid = grant(BAFA, "DE-2026-004211");
    at_a.publish(publish(valid.clone(), &k1)).await.unwrap();
    let mut denied = grant(BAFA, "DE-2026-004212");
    denied.action = Action::Deny as i32;
    denied = follow_up(&denied, Action::Deny, 1, [0; 32]);
    denied.previous = vec![];
    at_a.publish(publish(denied, &k1)).await.unwrap();
    for (licence, action) in [("DE-2026-004213", Action::Revoke), ("DE-2026-004214", Action::Suspend)] {
        let g = grant(BAFA, licence);
        let first = head(at_a.publish(publish(g.clone(), &k1)).await.unwrap());
        at_a.publish(publish(follow_up(&g, action, 2, first), &k1)).await.unwrap();
    }
    // Signed with k2, which is then declared compromised since before it was logged.
    at_a.publish(publish(grant(BAFA, "DE-2026-004215"), &k2)).await.unwrap();
    let since = comity_node::now() - 3600;
    at_a.publish(sign_key_set(
        pb::KeySet { authority: BAFA.into(), version: 2, keys: vec![signing_key(&k1, 0), signing_key(&k2, since)], issued_at: DECIDED },
        &[&roots[0], &roots[1]],
    ))
    .await
    .unwrap();
    // A fork: a second, different decision for version 1 of a licence.
    let fork = grant(BAFA, "DE-2026-004216");
    at_a.publish(publish(fork.clone(), &k1)).await.unwrap();
    let mut other = fork;
    other.note = "issued twice".into();
    assert!(at_a.publish(publish(other, &k1)).await.is_err());
    // A licence for cryptography items, outside METI's pattern.
    let mut crypto = grant(BAFA, "DE-2026-004217");
    crypto.items[0].control_code = "5A002.a".into();
    at_a.publish(publish(crypto, &k1)).await.unwrap();
    // Applications tracked by milestones: one under review, one withdrawn.
    for (licence, last) in [("DE-2026-004218", Action::InformationRequested), ("DE-2026-004219", Action::ApplicationWithdrawn)] {
        let mut lodged = follow_up(&grant(BAFA, licence), Action::ApplicationLodged, 1, [0; 32]);
        lodged.previous.clear();
        let first = head(at_a.publish(publish(lodged.clone(), &k1)).await.unwrap());
        at_a.publish(publish(follow_up(&lodged, last, 2, first), &k1)).await.unwrap();
    }

    // Agreements at B: METI recognises BAFA's 3A001 licences (stale after a day); KSTC the
    // same, but treats a log silent for more than a second as stale.
    let mut at_b = b.client().await;
    at_b.publish(sign_statement(&agreement(METI, "eu-du-2026", &["EU-DU:3A001.*"], 86_400), &[&b.signer(METI)])).await.unwrap();
    at_b.publish(sign_statement(&agreement(KSTC, "eu-du-2026", &["EU-DU:3A001.*"], 1), &[&b.signer(KSTC)])).await.unwrap();

    // Both nodes hold everything.
    let a_size = a.node().registry().store().log("registry.bafa.example/log").size().unwrap();
    eventually(WAIT, "B mirrors A", || async { (b.node().mirror_status("bafa")?.size == a_size).then_some(()) }).await;
    eventually(WAIT, "A mirrors B", || async { (a.node().mirror_status("meti")?.size == 2).then_some(()) }).await;
    // Let A's last checkpoint age past KSTC's one second, at A and at its mirror B.
    for node in [&a, &b] {
        node.clock().advance(2);
    }

    let now = a.clock().now();
    let cases = [
        Case {
            name: "valid",
            licence: "DE-2026-004211",
            relying: METI,
            destination: "JP",
            control_code: "EU-DU:3A001.a.1",
            at: 0,
            verdict: Verdict::Valid,
            reason: "recognised under jp.meti recognises de.bafa (eu-du-2026 v1)",
        },
        Case {
            name: "issuer relies on itself",
            licence: "DE-2026-004211",
            relying: BAFA,
            destination: "JP",
            control_code: "",
            at: 0,
            verdict: Verdict::Valid,
            reason: "relies on its own licence",
        },
        Case {
            name: "not found",
            licence: "DE-2026-999999",
            relying: METI,
            destination: "",
            control_code: "",
            at: 0,
            verdict: Verdict::NotFound,
            reason: "no decision",
        },
        Case {
            name: "denied",
            licence: "DE-2026-004212",
            relying: METI,
            destination: "JP",
            control_code: "",
            at: 0,
            verdict: Verdict::Denied,
            reason: "DIVERSION_RISK",
        },
        Case {
            name: "revoked",
            licence: "DE-2026-004213",
            relying: METI,
            destination: "JP",
            control_code: "",
            at: 0,
            verdict: Verdict::Revoked,
            reason: "DIVERSION_RISK",
        },
        Case {
            name: "suspended",
            licence: "DE-2026-004214",
            relying: METI,
            destination: "JP",
            control_code: "",
            at: 0,
            verdict: Verdict::Suspended,
            reason: "DIVERSION_RISK",
        },
        Case {
            name: "expired",
            licence: "DE-2026-004211",
            relying: METI,
            destination: "JP",
            control_code: "",
            at: DECIDED + 800 * DAY,
            verdict: Verdict::Expired,
            reason: "expired",
        },
        Case {
            name: "not yet valid",
            licence: "DE-2026-004211",
            relying: METI,
            destination: "JP",
            control_code: "",
            at: DECIDED - DAY,
            verdict: Verdict::NotYetValid,
            reason: "after the time asked about",
        },
        Case {
            name: "out of scope: destination",
            licence: "DE-2026-004211",
            relying: METI,
            destination: "RU",
            control_code: "",
            at: 0,
            verdict: Verdict::OutOfScope,
            reason: "destination RU",
        },
        Case {
            name: "out of scope: item",
            licence: "DE-2026-004211",
            relying: METI,
            destination: "JP",
            control_code: "EU-DU:3A001.b",
            at: 0,
            verdict: Verdict::OutOfScope,
            reason: "control code EU-DU:3A001.b",
        },
        Case {
            name: "issuer not trusted",
            licence: "FR-2026-000001",
            relying: METI,
            destination: "",
            control_code: "",
            at: 0,
            verdict: Verdict::IssuerNotTrusted,
            reason: "fr.sbdu",
        },
        Case {
            name: "no agreement",
            licence: "DE-2026-004211",
            relying: "uk.ecju",
            destination: "JP",
            control_code: "",
            at: 0,
            verdict: Verdict::NotRecognised,
            reason: "uk.ecju has no recognition agreement",
        },
        Case {
            name: "item outside the agreement",
            licence: "DE-2026-004217",
            relying: METI,
            destination: "JP",
            control_code: "",
            at: 0,
            verdict: Verdict::NotRecognised,
            reason: "matches none of the agreement's patterns",
        },
        Case {
            name: "compromised key",
            licence: "DE-2026-004215",
            relying: METI,
            destination: "JP",
            control_code: "",
            at: 0,
            verdict: Verdict::BadSignature,
            reason: "compromised since",
        },
        Case {
            name: "forked",
            licence: "DE-2026-004216",
            relying: METI,
            destination: "JP",
            control_code: "",
            at: 0,
            verdict: Verdict::Forked,
            reason: "two different signed decisions",
        },
        Case {
            name: "under review",
            licence: "DE-2026-004218",
            relying: METI,
            destination: "JP",
            control_code: "",
            at: 0,
            verdict: Verdict::NotIssued,
            reason: "application under review",
        },
        Case {
            name: "withdrawn",
            licence: "DE-2026-004219",
            relying: METI,
            destination: "JP",
            control_code: "",
            at: 0,
            verdict: Verdict::NotIssued,
            reason: "withdrawn by the applicant",
        },
        Case {
            name: "stale",
            licence: "DE-2026-004211",
            relying: KSTC,
            destination: "JP",
            control_code: "",
            at: 0,
            verdict: Verdict::Stale,
            reason: "accepts at most 1 s",
        },
    ];
    let mut failures = Vec::new();
    for c in &cases {
        let authority = if c.name == "issuer not trusted" { "fr.sbdu" } else { BAFA };
        let req = request(c, authority);
        let answer = at_a.verify(req.clone()).await.unwrap();
        let verdict = Verdict::try_from(answer.verdict).unwrap();
        if verdict != c.verdict || !answer.reasons.iter().any(|r| r.contains(c.reason)) {
            failures.push(format!("{}: {verdict:?} {:?}", c.name, answer.reasons));
            continue;
        }
        if c.verdict == Verdict::Forked {
            continue;
        }
        let mirrored = at_b.verify(req).await.unwrap();
        if (mirrored.verdict, &mirrored.reasons) != (answer.verdict, &answer.reasons) {
            failures.push(format!("{}: at the mirror {:?} {:?}", c.name, Verdict::try_from(mirrored.verdict), mirrored.reasons));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // A VALID answer carries the statements and a receipt for each, and the agreement applied.
    let answer = at_b.verify(request(&cases[0], BAFA)).await.unwrap();
    let proof = answer.proof.unwrap();
    assert_eq!(proof.statements.len(), 3, "decision, key set, agreement");
    assert_eq!(proof.receipts.len(), 3);
    assert!(!answer.agreement.is_empty());
    assert!(answer.checked_at >= now);
    for (bytes, receipt) in proof.statements.iter().zip(&proof.receipts) {
        let verifier = if receipt.origin == "registry.bafa.example/log" { a.node().log_verifier().clone() } else { b.node().log_verifier().clone() };
        comity_proto::log::verify_receipt(receipt, bytes, &verifier).unwrap();
    }

    // Bad questions are refused with the field named.
    let bad = pb::VerifyRequest { destination: "Japan".into(), ..request(&cases[0], BAFA) };
    let err = at_a.verify(bad).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::InvalidArgument));
    assert!(err.to_string().contains("destination"), "{err}");
}

/// Verify keeps what it reads of a licence between writes (`limits.verify_cache_licences`):
/// every change that bears on an answer — a new decision, a key declared compromised, an
/// agreement withdrawn, fork evidence — shows in the very next answer after it is
/// acknowledged, with the earlier answer read (and kept) just before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_answer_never_outlives_a_change() {
    let roots = [Signer::from_seed(&[1; 32]), Signer::from_seed(&[2; 32])];
    let (k1, k2) = (Signer::from_seed(&[10; 32]), Signer::from_seed(&[11; 32]));
    let (_trust_dir, trust_path) = trust_file(BAFA, &roots);
    // One node holding BAFA's licences and METI's agreement, so every change is acknowledged here.
    let node = TestNode::start_with(&[METI], move |c: &mut Config| {
        c.trust_file = Some(trust_path);
        c.authorities.push(AuthorityConfig { id: BAFA.into(), name: "BAFA".into(), keys: vec![] });
    })
    .await;
    assert_eq!(node.config().limits.verify_cache_licences, 4096, "the cache is on by default");
    let mut client = node.client().await;
    let key_set = |version: u64, k2_compromised: i64| {
        sign_key_set(
            pb::KeySet { authority: BAFA.into(), version, keys: vec![signing_key(&k1, 0), signing_key(&k2, k2_compromised)], issued_at: DECIDED },
            &[&roots[0], &roots[1]],
        )
    };
    client.publish(key_set(1, 0)).await.unwrap();
    let mut recognition = agreement(METI, "eu-du-2026", &["EU-DU:3A001.*"], 86_400);
    client.publish(sign_statement(&recognition, &[&node.signer(METI)])).await.unwrap();
    // Asked twice, so the second answer comes from what the node kept.
    let valid_twice = |client: comity_client::Client, licence: &'static str| async move {
        let mut client = client;
        for _ in 0..2 {
            let answer = client.verify(ask_meti_for_japan(licence)).await.unwrap();
            assert_eq!(Verdict::try_from(answer.verdict), Ok(Verdict::Valid), "{licence}: {:?}", answer.reasons);
        }
    };
    let verdict = |answer: pb::VerifyResponse| (Verdict::try_from(answer.verdict).unwrap(), answer.reasons.join("; "));

    // A new decision: a revocation.
    let g = grant(BAFA, "DE-2026-005001");
    let first = StatementId::from_slice(&client.publish(sign_decision(g.clone(), &k1)).await.unwrap().statement_id).unwrap();
    valid_twice(client.clone(), "DE-2026-005001").await;
    client.publish(sign_decision(follow_up(&g, Action::Revoke, 2, first.0), &k1)).await.unwrap();
    let (v, why) = verdict(client.verify(ask_meti_for_japan("DE-2026-005001")).await.unwrap());
    assert_eq!(v, Verdict::Revoked, "{why}");
    let answer = client.verify(ask_meti_for_japan("DE-2026-005001")).await.unwrap();
    assert_eq!(answer.chain.len(), 2, "the kept chain is the new one");
    assert_eq!(answer.proof.unwrap().statements.len(), 3, "two decisions and the key set");

    // A key declared compromised (the trust in force changes, not just the store).
    client.publish(sign_decision(grant(BAFA, "DE-2026-005002"), &k2)).await.unwrap();
    valid_twice(client.clone(), "DE-2026-005002").await;
    client.publish(key_set(2, comity_node::now() - 3600)).await.unwrap();
    let (v, why) = verdict(client.verify(ask_meti_for_japan("DE-2026-005002")).await.unwrap());
    assert_eq!(v, Verdict::BadSignature, "{why}");
    assert!(why.contains("compromised since"), "{why}");

    // The agreement withdrawn.
    client.publish(sign_decision(grant(BAFA, "DE-2026-005003"), &k1)).await.unwrap();
    valid_twice(client.clone(), "DE-2026-005003").await;
    let Some(pb::statement::Kind::Agreement(a)) = &mut recognition.kind else { unreachable!() };
    a.version = 2;
    a.withdrawn = true;
    client.publish(sign_statement(&recognition, &[&node.signer(METI)])).await.unwrap();
    let (v, why) = verdict(client.verify(ask_meti_for_japan("DE-2026-005003")).await.unwrap());
    assert_eq!(v, Verdict::NotRecognised, "{why}");

    // Fork evidence: a second, different version 1, refused but recorded.
    let mut back = recognition.clone();
    let Some(pb::statement::Kind::Agreement(a)) = &mut back.kind else { unreachable!() };
    a.version = 3;
    a.withdrawn = false;
    client.publish(sign_statement(&back, &[&node.signer(METI)])).await.unwrap();
    let fork = grant(BAFA, "DE-2026-005004");
    client.publish(sign_decision(fork.clone(), &k1)).await.unwrap();
    valid_twice(client.clone(), "DE-2026-005004").await;
    let mut other = fork;
    other.note = "issued twice".into();
    assert!(client.publish(sign_decision(other, &k1)).await.is_err());
    let (v, why) = verdict(client.verify(ask_meti_for_japan("DE-2026-005004")).await.unwrap());
    assert_eq!(v, Verdict::Forked, "{why}");
}

/// What Verify keeps of a licence survives writes that do not bear on it: another licence
/// published to the same log changes only the log's checkpoint, and the kept receipts stay
/// valid proofs against the earlier one until they are up to `RECEIPTS_REFRESH` old; after
/// that the next answer is proven against the newest checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_answer_outlives_writes_to_other_licences_and_its_receipts_follow_the_log() {
    use comity_node::service::verify::RECEIPTS_REFRESH;
    use comity_proto::witness::note_size;
    let roots = [Signer::from_seed(&[1; 32]), Signer::from_seed(&[2; 32])];
    let k1 = Signer::from_seed(&[10; 32]);
    let (_trust_dir, trust_path) = trust_file(BAFA, &roots);
    let node = TestNode::start_with(&[METI], move |c: &mut Config| {
        c.trust_file = Some(trust_path);
        c.authorities.push(AuthorityConfig { id: BAFA.into(), name: "BAFA".into(), keys: vec![] });
    })
    .await;
    let mut client = node.client().await;
    client
        .publish(sign_key_set(pb::KeySet { authority: BAFA.into(), version: 1, keys: vec![signing_key(&k1, 0)], issued_at: DECIDED }, &[&roots[0], &roots[1]]))
        .await
        .unwrap();
    client.publish(sign_statement(&agreement(METI, "eu-du-2026", &["EU-DU:3A001.*"], 86_400), &[&node.signer(METI)])).await.unwrap();
    // The size of the checkpoint the licence's grant is proven against.
    let proven_at = |answer: pb::VerifyResponse| {
        assert_eq!(Verdict::try_from(answer.verdict), Ok(Verdict::Valid), "{:?}", answer.reasons);
        note_size(&answer.proof.unwrap().receipts[0].checkpoint).unwrap()
    };
    let mut kept = None;
    for attempt in 0..5 {
        // A licence not asked about before, so the first answer is read now.
        let licence = format!("DE-2026-00600{attempt}");
        client.publish(sign_decision(grant(BAFA, &licence), &k1)).await.unwrap();
        let asked = std::time::Instant::now();
        let first = proven_at(client.verify(ask_meti_for_japan(&licence)).await.unwrap());
        // Another licence's publish moves the log's checkpoint past the one the answer holds.
        let other = client.publish(sign_decision(grant(BAFA, &format!("DE-2026-00610{attempt}")), &k1)).await.unwrap();
        assert!(other.receipt.unwrap().index + 1 > first);
        let again = proven_at(client.verify(ask_meti_for_japan(&licence)).await.unwrap());
        // The copy is refreshed at an age of RECEIPTS_REFRESH / 2 at the earliest; on a machine
        // too slow to ask again before that, either answer is right, so try again.
        if asked.elapsed() < RECEIPTS_REFRESH / 2 {
            assert_eq!(again, first, "the answer was read again for a write to another licence");
            kept = Some(licence);
            break;
        }
    }
    let licence = kept.expect("five attempts each took longer than RECEIPTS_REFRESH / 2");
    node.clock().advance_millis((RECEIPTS_REFRESH + Duration::from_millis(100)).as_millis() as i64);
    let size = node.node().registry().store().log(node.node().registry().origin()).size().unwrap();
    assert_eq!(proven_at(client.verify(ask_meti_for_japan(&licence)).await.unwrap()), size, "receipts follow the newest checkpoint once they are old");
}
