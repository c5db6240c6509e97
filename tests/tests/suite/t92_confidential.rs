//! Confidential decisions across three real nodes: BAFA's node publishes a licence readable
//! only by METI's node. METI's node receives the decisions and answers in full; a third node
//! (ECJU's) mirrors the same log, can prove the licence exists and was logged, and holds not
//! one byte of its content. Bad publishes change nothing; bodies are served only to the audience.

use std::path::Path;
use std::time::Duration;

use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::log::verify_receipt;
use comity_proto::pb::{self, federation_client::FederationClient, Action, Verdict};
use comity_proto::restricted::seal;
use comity_proto::statement::{sign_decision, sign_statement, Signer, StatementId};
use comity_tests::{eventually, TestNode};

const WAIT: Duration = Duration::from_secs(30);
const BAFA: &str = "de.bafa";
const METI_LOG: &str = "meti.test/log";
const ECJU_LOG: &str = "ecju.test/log";
const LICENCE: &str = "DE-2026-C-000042";
/// Appears only in the confidential decision: in the end user's name and the end use.
const SECRET: &str = "Kestrel Photonics";

fn confidential(decision: &pb::Decision, audience: &[&str], salt: u8, signer: &Signer) -> (Vec<u8>, pb::RestrictedBody) {
    let (restricted, body) = seal(decision, audience.iter().map(|a| a.to_string()).collect(), [salt; 32]);
    (sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::RestrictedDecision(restricted)) }, &[signer]), body)
}

fn secret_grant() -> pb::Decision {
    let mut d = grant(BAFA, LICENCE);
    d.end_users[0].name = format!("{SECRET} KK");
    d.end_use = format!("Laser rangefinder modules for {SECRET}'s survey drones");
    d
}

/// Whether any file under `dir` contains `needle`.
fn dir_contains(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            dir_contains(&path, needle)
        } else {
            std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        }
    })
}

/// BAFA's node, and METI's and ECJU's nodes mirroring its log.
async fn bafa_meti_ecju() -> (TestNode, TestNode, TestNode) {
    let a = TestNode::start_with(&[BAFA], |c| c.origin = "bafa.test/log".into()).await;
    let meti = TestNode::start_mirror_of(&a, "bafa", &["jp.meti"], METI_LOG, |_| {}).await;
    let ecju = TestNode::start_mirror_of(&a, "bafa", &["uk.ecju"], ECJU_LOG, |_| {}).await;
    (a, meti, ecju)
}

fn ask(relying: &str) -> pb::VerifyRequest {
    pb::VerifyRequest { authority: BAFA.into(), licence_id: LICENCE.into(), relying_authority: relying.into(), destination: "JP".into(), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_audience_reads_a_confidential_licence() {
    let (a, meti, ecju) = bafa_meti_ecju().await;
    let signer = a.signer(BAFA);
    let mut at_a = a.client().await;

    // Published with its body; the publishing node checks it and holds it.
    let base = secret_grant();
    let (envelope, body) = confidential(&base, &[METI_LOG], 7, &signer);
    let published = at_a.publish_with_body(envelope.clone(), Some(body.clone())).await.unwrap();
    assert_eq!(published.licence.as_ref().unwrap().status, pb::LicenceStatus::Issued as i32);
    let v1 = StatementId::from_slice(&published.statement_id).unwrap();

    // METI's node, in the audience, receives the decision and answers in full.
    let mut at_meti = meti.client().await;
    let full = eventually(WAIT, "METI's node to receive the confidential decision", || {
        let mut c = at_meti.clone();
        async move { c.licence(BAFA, LICENCE).await.ok().filter(|l| l.state.is_some()) }
    })
    .await;
    assert_eq!(full.audience, vec![METI_LOG.to_string()]);
    assert!(full.state.unwrap().terms.end_users[0].name.contains(SECRET));
    let answer = at_meti.verify(ask(BAFA)).await.unwrap();
    assert_eq!(answer.verdict, Verdict::Valid as i32, "{:?}", answer.reasons);
    assert_eq!(answer.proof.as_ref().unwrap().openings.len(), 1, "the caller can open the signed commitment");

    // ECJU's node mirrors the same log: the licence exists, proven, and nothing more.
    let mut at_ecju = ecju.client().await;
    let withheld = eventually(WAIT, "ECJU's node to mirror the commitment", || {
        let mut c = at_ecju.clone();
        async move { c.licence(BAFA, LICENCE).await.ok() }
    })
    .await;
    assert!(withheld.state.is_none());
    assert_eq!(withheld.chain.len(), 1);
    assert!(withheld.chain[0].1.end_users.is_empty() && withheld.chain[0].1.end_use.is_empty());
    let answer = at_ecju.verify(ask(BAFA)).await.unwrap();
    assert_eq!(answer.verdict, Verdict::Restricted as i32);
    assert!(answer.reasons.iter().any(|r| r.contains("not among them") && r.contains(METI_LOG)), "{:?}", answer.reasons);
    let proof = answer.proof.unwrap();
    assert!(proof.openings.is_empty());
    assert_eq!(proof.statements[0], envelope, "the proof carries the signed commitment");
    verify_receipt(&proof.receipts[0], &proof.statements[0], a.node().log_verifier()).expect("the receipt proves it was logged");
    let found = at_ecju.search_all(pb::SearchRequest { party: SECRET.into(), ..Default::default() }, 10).await.unwrap();
    assert!(found.is_empty(), "confidential licences are not in search indexes");

    // A revocation follows, confidential too: METI's node sees REVOKED, ECJU's still only RESTRICTED.
    let (revocation, revocation_body) = confidential(&follow_up(&base, Action::Revoke, 2, v1.0), &[METI_LOG], 8, &signer);
    at_a.publish_with_body(revocation, Some(revocation_body)).await.unwrap();
    eventually(WAIT, "METI's node to see the revocation", || {
        let mut c = at_meti.clone();
        async move { c.verify(ask(BAFA)).await.ok().filter(|a| a.verdict == Verdict::Revoked as i32) }
    })
    .await;
    let answer = eventually(WAIT, "ECJU's node to mirror the second commitment", || {
        let mut c = at_ecju.clone();
        async move { c.verify(ask(BAFA)).await.ok().filter(|a| a.chain.len() == 2) }
    })
    .await;
    assert_eq!(answer.verdict, Verdict::Restricted as i32);

    // Not one byte of the content outside the audience; the audience holds it (so this can fail).
    assert!(dir_contains(a.dir.path(), SECRET.as_bytes()));
    assert!(dir_contains(meti.dir.path(), SECRET.as_bytes()));
    assert!(!dir_contains(ecju.dir.path(), SECRET.as_bytes()), "ECJU's data dir holds confidential content");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_confidential_publishes_change_nothing() {
    let a = TestNode::start_with(&[BAFA], |c| c.origin = "bafa.test/log".into()).await;
    let signer = a.signer(BAFA);
    let mut client = a.client().await;
    let base = secret_grant();
    let (envelope, body) = confidential(&base, &[METI_LOG], 7, &signer);

    let refused = |r: Result<pb::PublishResponse, comity_client::ClientError>, expected: &str| {
        let message = r.expect_err("refused").to_string();
        assert!(message.contains(expected), "`{message}` should say `{expected}`");
    };
    refused(client.publish(envelope.clone()).await, "published with its body");
    let mut tampered = body.clone();
    tampered.decision[20] ^= 1;
    refused(client.publish_with_body(envelope.clone(), Some(tampered)).await, "does not open the commitment");
    refused(client.publish_with_body(a.sign(base.clone()), Some(body.clone())).await, "only a RestrictedDecision comes with a body");
    assert!(client.licence(BAFA, LICENCE).await.is_err(), "nothing was stored");

    // Once confidential, always confidential; and a public licence stays public.
    let first = client.publish_with_body(envelope, Some(body)).await.unwrap();
    let head = StatementId::from_slice(&first.statement_id).unwrap();
    refused(client.publish(sign_decision(follow_up(&base, Action::Suspend, 2, head.0), &signer)).await, "must be restricted decisions too");
    let public = grant(BAFA, "DE-2026-000777");
    let public_id = StatementId::from_slice(&client.publish(a.sign(public.clone())).await.unwrap().statement_id).unwrap();
    let (late, late_body) = confidential(&follow_up(&public, Action::Suspend, 2, public_id.0), &[METI_LOG], 9, &signer);
    refused(client.publish_with_body(late, Some(late_body)).await, "is public");
    assert_eq!(client.licence(BAFA, LICENCE).await.unwrap().summary.version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_served_only_to_the_audience() {
    let a = TestNode::start_with(&[BAFA], |c| c.origin = "bafa.test/log".into()).await;
    let (envelope, body) = confidential(&secret_grant(), &[METI_LOG], 7, &a.signer(BAFA));
    let id = a.client().await.publish_with_body(envelope, Some(body.clone())).await.unwrap().statement_id;
    let federation = FederationClient::connect(a.url()).await.unwrap();
    let ask = |caller: &str, ids: Vec<Vec<u8>>| {
        let request = pb::GetRestrictedBodiesRequest { statement_ids: ids, caller_origin: caller.into() };
        let mut f = federation.clone();
        async move { f.get_restricted_bodies(request).await.map(|r| r.into_inner()) }
    };

    let served = ask(METI_LOG, vec![id.clone()]).await.unwrap();
    assert_eq!(served.bodies.len(), 1);
    assert_eq!(served.bodies[0].body.as_ref(), Some(&body));

    let refused = ask(ECJU_LOG, vec![id.clone(), vec![1; 32], vec![2; 5]]).await.unwrap();
    assert!(refused.bodies.is_empty());
    let reasons: Vec<&str> = refused.withheld.iter().map(|w| w.reason.as_str()).collect();
    assert_eq!(reasons, ["the caller is not in its audience", "no such statement is held here", "not a 32-byte statement id"]);

    let missing = ask("", vec![id.clone()]).await.expect_err("a plaintext caller must state its origin");
    assert_eq!(missing.code(), tonic::Code::InvalidArgument);
    let too_many = ask(METI_LOG, vec![id; 257]).await.expect_err("bounded");
    assert_eq!(too_many.code(), tonic::Code::InvalidArgument);
}

/// The CLI workflow with the real binaries: publish with `--audience`, show it, follow it up; a
/// public follow-up is refused; the node's log names nothing of the decision's content.
#[test]
fn confidential_publishing_from_the_command_line() {
    use assert_cmd::Command;
    use comity_tests::{bin_path, examples_dir, NodeProcess};
    use predicates::str::contains;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("node");
    Command::new(bin_path("comity-node")).args(["init", "--data-dir"]).arg(&data).args(["--authority", "de.bafa"]).assert().success();
    let node_log = tmp.path().join("node.log");
    let node = NodeProcess::spawn(&["--data-dir", data.to_str().unwrap()], &node_log);
    let key = data.join("keys/de.bafa.key");
    let comity = || {
        let mut cmd = Command::new(bin_path("comity"));
        cmd.env("COMITY_NODE", node.url());
        cmd
    };
    let examples = examples_dir();

    comity()
        .arg("publish")
        .arg(examples.join("grant.yaml"))
        .arg("--key")
        .arg(&key)
        .args(["--audience", METI_LOG])
        .assert()
        .success()
        .stdout(contains(format!("confidential decision de.bafa/DE-2026-009001 v1 GRANT (readable only by {METI_LOG})")));
    comity().args(["licence", "show", "de.bafa/DE-2026-009001"]).assert().success().stdout(contains(format!("confidential  readable only by {METI_LOG}")));
    comity().arg("publish").arg(examples.join("amend.yaml")).arg("--key").arg(&key).assert().code(3).stderr(contains("must be restricted decisions too"));
    comity()
        .arg("publish")
        .arg(examples.join("amend.yaml"))
        .arg("--key")
        .arg(&key)
        .args(["--audience", METI_LOG])
        .assert()
        .success()
        .stdout(contains("v2 AMEND"));
    comity().args(["publish", "some.signed", "--audience", METI_LOG]).assert().code(3).stderr(contains("--audience needs a decision document"));
    comity()
        .args(["publish"])
        .arg(examples.join("suspend.yaml"))
        .arg("--key")
        .arg(&key)
        .args(["--audience", "not an origin"])
        .assert()
        .code(3)
        .stderr(contains("audience[0]"));

    let log = std::fs::read_to_string(&node_log).unwrap();
    assert!(log.contains("restricted decision accepted"), "{log}");
    assert!(!log.contains("Korea Aerospace") && !log.contains("Elbtal"), "the node logged confidential content: {log}");
}

/// Watch at a node in the audience shows a confidential decision's content with the opening
/// that proves it; elsewhere the event names the licence and states nothing of its content. An
/// event whose opening does not match its commitment, or that states content without one, is
/// refused by the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_shows_confidential_content_only_in_the_audience_and_proves_it() {
    let (a, meti, ecju) = bafa_meti_ecju().await;
    let signer = a.signer(BAFA);
    let mut at_a = a.client().await;
    let base = secret_grant();
    let (envelope, body) = confidential(&base, &[METI_LOG], 7, &signer);
    let v1 = StatementId::from_slice(&at_a.publish_with_body(envelope, Some(body)).await.unwrap().statement_id).unwrap();
    let (revocation, revocation_body) = confidential(&follow_up(&base, Action::Revoke, 2, v1.0), &[METI_LOG], 8, &signer);
    at_a.publish_with_body(revocation, Some(revocation_body)).await.unwrap();
    let at_meti = meti.client().await;
    eventually(WAIT, "METI's node to read the revocation", || {
        let mut c = at_meti.clone();
        async move { c.verify(ask(BAFA)).await.ok().filter(|a| a.verdict == Verdict::Revoked as i32) }
    })
    .await;
    let at_ecju = ecju.client().await;
    eventually(WAIT, "ECJU's node to mirror both commitments", || {
        let mut c = at_ecju.clone();
        async move { c.licence(BAFA, LICENCE).await.ok().filter(|l| l.chain.len() == 2) }
    })
    .await;

    // Every confidential event of the licence, replayed from the start.
    let confidential_events = |client: comity_client::Client| async move {
        let mut client = client;
        let filter = pb::WatchFilter {
            authority: BAFA.into(),
            licence_id: LICENCE.into(),
            kinds: vec![pb::WatchEventKind::ConfidentialDecision as i32],
            ..Default::default()
        };
        let mut events = client.watch(pb::WatchRequest { filter: Some(filter), from_start: true, ..Default::default() }).await.unwrap();
        let mut out = Vec::new();
        while out.len() < 2 {
            let e = events.next().await.unwrap().unwrap();
            if e.kind != pb::WatchEventKind::CaughtUp as i32 {
                out.push(e);
            }
        }
        out
    };
    let at_audience = confidential_events(at_meti.clone()).await;
    assert_eq!(
        at_audience.iter().map(|e| (e.action, e.status_after)).collect::<Vec<_>>(),
        vec![(Action::Grant as i32, pb::LicenceStatus::Issued as i32), (Action::Revoke as i32, pb::LicenceStatus::Revoked as i32),]
    );
    assert_eq!(at_audience[1].status_before, pb::LicenceStatus::Issued as i32);
    assert!(at_audience.iter().all(|e| e.opening.is_some()));
    assert!(at_audience[0].licence.as_ref().unwrap().end_users.iter().any(|name| name.contains(SECRET)), "{:?}", at_audience[0].licence);
    let elsewhere = confidential_events(at_ecju.clone()).await;
    assert!(elsewhere.iter().all(|e| e.opening.is_none() && e.action == 0 && e.licence.is_none()), "{elsewhere:?}");

    // The client proves what an event states.
    let mut forged = at_audience[1].clone();
    forged.action = Action::Amend as i32;
    assert!(comity_client::check_event(&forged).unwrap_err().to_string().contains("does not state what its statement says"));
    let mut tampered = at_audience[0].clone();
    tampered.opening.as_mut().unwrap().body.as_mut().unwrap().salt[0] ^= 1;
    assert!(comity_client::check_event(&tampered).unwrap_err().to_string().contains("opening"));
    let mut unproven = elsewhere[1].clone();
    unproven.action = Action::Revoke as i32;
    assert!(comity_client::check_event(&unproven).is_err());
}
