//! The relying party's side, through the real `comity` binary: a token that hides a revocation
//! is refused offline and at the web page; `comity verify` catches a node (here a proxy in front
//! of one) that drops the last decision from its answer or states a verdict its proof does not
//! support, or hides a re-export's parent or the withdrawal of its consent; a licence that was never issued is proven absent; `log audit` recomputes the
//! licence-state map of a 10,000-entry log and catches a checkpoint that signs a wrong map root;
//! a trust file's witness quorum that is not met is said so.

use std::path::Path;

use crate::cli::path;
use assert_cmd::Command;
use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::log::LogKey;
use comity_proto::pb::{self, log_client::LogClient, log_server, registry_client::RegistryClient, registry_server};
use comity_proto::statement::StatementId;
use comity_tests::{bin_path, http_post, publish_concurrently, TestNode};
use predicates::str::contains;
use prost::Message;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

fn comity(url: &str, trust: Option<&Path>) -> Command {
    let mut cmd = Command::new(bin_path("comity"));
    cmd.env("COMITY_NODE", url).env_remove("COMITY_TRUST");
    if let Some(t) = trust {
        cmd.env("COMITY_TRUST", t);
    }
    cmd
}

/// A trust file pinning de.bafa's signing key and the node's log key, with `witnesses`.
fn write_trust(dir: &Path, node: &TestNode, witnesses: Vec<String>, witness_quorum: usize) -> std::path::PathBuf {
    node.relying_party_trust(dir, "de.bafa", witnesses, witness_quorum)
}

/// Publishes a grant of `licence` and, with `revoke`, its revocation.
async fn publish_licence(node: &TestNode, licence: &str, revoke: bool) {
    let g = grant("de.bafa", licence);
    let grant_envelope = node.sign(g.clone());
    node.client().await.publish(grant_envelope.clone()).await.unwrap();
    if revoke {
        let revocation = node.sign(follow_up(&g, pb::Action::Revoke, 2, StatementId::of(&grant_envelope).0));
        node.client().await.publish(revocation).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_hiding_a_revocation_is_refused_offline_and_at_the_web_page() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&["de.bafa"]).await;
    let url = node.url();
    publish_licence(&node, "DE-2026-004211", true).await;
    publish_licence(&node, "DE-2026-004212", false).await;
    let trust = write_trust(tmp.path(), &node, vec![], 0);
    let export = |licence: &str, file: &str| {
        let out = tmp.path().join(file);
        comity(&url, None).args(["token", "export", licence, "-o", path(&out)]).assert().success();
        pb::LicenceToken::decode(std::fs::read(&out).unwrap().as_slice()).unwrap()
    };
    let revoked = export("de.bafa/DE-2026-004211", "revoked.token");
    let other = export("de.bafa/DE-2026-004212", "other.token");

    // The REVOKE statement and its receipt deleted; statements of another token spliced in.
    let revoke_at = revoked
        .statements
        .iter()
        .position(|s| comity_proto::statement::Envelope::parse(s.clone()).unwrap().decision().is_some_and(|d| d.version == 2))
        .unwrap();
    let mut spliced = revoked.clone();
    spliced.statements.remove(revoke_at);
    spliced.receipts.remove(revoke_at);
    for (s, r) in other.statements.iter().zip(&other.receipts) {
        if comity_proto::statement::Envelope::parse(s.clone()).unwrap().decision().is_none() && !spliced.statements.contains(s) {
            spliced.statements.push(s.clone());
            spliced.receipts.push(r.clone());
        }
    }
    let verify = |token: &pb::LicenceToken, name: &str| {
        let file = tmp.path().join(name);
        std::fs::write(&file, token.encode_to_vec()).unwrap();
        let mut cmd = comity(&url, Some(&trust));
        cmd.args(["token", "verify", path(&file)]);
        cmd
    };
    verify(&revoked, "revoked-as-is.token").assert().code(20 + pb::Verdict::Revoked as i32).stdout(contains("REVOKED"));
    verify(&spliced, "spliced.token")
        .assert()
        .code(8)
        .stderr(contains("the chain of de.bafa/DE-2026-004211 ends at version 1"))
        .stderr(contains("its head is version 2"))
        .stderr(contains("decision 2 is missing"));
    // Without the head proof, or with another licence's, the token proves nothing about its end.
    let mut headless = spliced.clone();
    headless.head = None;
    verify(&headless, "headless.token").assert().code(8).stderr(contains("carries no proof of the head"));
    let mut borrowed = spliced.clone();
    borrowed.head = other.head.clone();
    verify(&borrowed, "borrowed.token").assert().code(8).stderr(contains("head proof is for de.bafa/DE-2026-004212"));

    // The node's web page refuses it too, saying what is missing (the node pins the trust file).
    let mut node = node;
    node.stop().await;
    node.reconfigure(|c| c.trust_file = Some(trust.clone()));
    node.start_again().await.unwrap();
    let http = node.node().http_addr().expect("the HTTP port is on");
    let boundary = "comity-test-boundary-t26";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"token_file\"; filename=\"spliced.token\"\r\n\r\n").into_bytes();
    body.extend_from_slice(&spliced.encode_to_vec());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let (status, page) = tokio::task::spawn_blocking(move || http_post(http, "/token", &content_type, &body)).await.unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(!status.contains("200") && page.contains("decision 2 is missing"), "{status}\n{page}");
}

/// A gRPC proxy in front of a node: answers Verify with the node's answer changed by `tamper`,
/// and GetCheckpoint with the node's checkpoint re-signed (with the node's own log key) over
/// another licence-state map root when `wrong_map_root` holds one.
#[derive(Clone)]
struct Proxy {
    registry: RegistryClient<Channel>,
    log: LogClient<Channel>,
    tamper: fn(&mut pb::VerifyResponse),
    resign: Option<(LogKey, [u8; 32])>,
}

impl Proxy {
    async fn start(node: &TestNode, tamper: fn(&mut pb::VerifyResponse), resign: Option<(LogKey, [u8; 32])>) -> (String, tokio::task::JoinHandle<()>) {
        let channel = Channel::from_shared(node.url()).unwrap().connect().await.unwrap();
        let proxy = Proxy { registry: RegistryClient::new(channel.clone()), log: LogClient::new(channel), tamper, resign };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(registry_server::RegistryServer::new(proxy.clone()))
                .add_service(log_server::LogServer::new(proxy))
                .serve_with_incoming(incoming)
                .await;
        });
        (url, task)
    }
}

fn unused<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not proxied"))
}

#[tonic::async_trait]
impl registry_server::Registry for Proxy {
    async fn verify(&self, request: Request<pb::VerifyRequest>) -> Result<Response<pb::VerifyResponse>, Status> {
        let mut answer = self.registry.clone().verify(request.into_inner()).await?.into_inner();
        (self.tamper)(&mut answer);
        Ok(Response::new(answer))
    }
    async fn publish(&self, _: Request<pb::PublishRequest>) -> Result<Response<pb::PublishResponse>, Status> {
        unused()
    }
    async fn get_licence(&self, _: Request<pb::GetLicenceRequest>) -> Result<Response<pb::GetLicenceResponse>, Status> {
        unused()
    }
    async fn get_statement(&self, _: Request<pb::GetStatementRequest>) -> Result<Response<pb::GetStatementResponse>, Status> {
        unused()
    }
    async fn search(&self, _: Request<pb::SearchRequest>) -> Result<Response<pb::SearchResponse>, Status> {
        unused()
    }
    type WatchStream = tonic::codec::Streaming<pb::WatchEvent>;
    async fn watch(&self, _: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        unused()
    }
    async fn get_key_set(&self, _: Request<pb::GetKeySetRequest>) -> Result<Response<pb::GetKeySetResponse>, Status> {
        unused()
    }
    async fn list_agreements(&self, _: Request<pb::ListAgreementsRequest>) -> Result<Response<pb::ListAgreementsResponse>, Status> {
        unused()
    }
    async fn list_control_lists(&self, _: Request<pb::ListControlListsRequest>) -> Result<Response<pb::ListControlListsResponse>, Status> {
        unused()
    }
    async fn lookup_control_code(&self, _: Request<pb::LookupControlCodeRequest>) -> Result<Response<pb::LookupControlCodeResponse>, Status> {
        unused()
    }
    async fn screen(&self, _: Request<pb::ScreenRequest>) -> Result<Response<pb::ScreenResponse>, Status> {
        unused()
    }
    async fn list_consultations(&self, _: Request<pb::ListConsultationsRequest>) -> Result<Response<pb::ListConsultationsResponse>, Status> {
        unused()
    }
    async fn check_undercut(&self, _: Request<pb::CheckUndercutRequest>) -> Result<Response<pb::CheckUndercutResponse>, Status> {
        unused()
    }
    async fn list_rulings(&self, _: Request<pb::ListRulingsRequest>) -> Result<Response<pb::ListRulingsResponse>, Status> {
        unused()
    }
    async fn get_ruling(&self, _: Request<pb::GetRulingRequest>) -> Result<Response<pb::GetRulingResponse>, Status> {
        unused()
    }
    async fn stats(&self, _: Request<pb::StatsRequest>) -> Result<Response<pb::StatsResponse>, Status> {
        unused()
    }
}

#[tonic::async_trait]
impl log_server::Log for Proxy {
    async fn get_checkpoint(&self, request: Request<pb::GetCheckpointRequest>) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        let mut answer = self.log.clone().get_checkpoint(request.into_inner()).await?.into_inner();
        if let Some((key, map_root)) = &self.resign {
            let root: [u8; 32] = answer.root.clone().try_into().unwrap();
            answer.checkpoint = key.sign_checkpoint(answer.size, &root, map_root, answer.time).unwrap();
            answer.cosigned_checkpoint.clear();
        }
        Ok(Response::new(answer))
    }
    type GetEntriesStream = tonic::codec::Streaming<pb::GetEntriesResponse>;
    async fn get_entries(&self, request: Request<pb::GetEntriesRequest>) -> Result<Response<Self::GetEntriesStream>, Status> {
        self.log.clone().get_entries(request.into_inner()).await
    }
    async fn get_inclusion_proof(&self, request: Request<pb::GetInclusionProofRequest>) -> Result<Response<pb::GetInclusionProofResponse>, Status> {
        self.log.clone().get_inclusion_proof(request.into_inner()).await
    }
    async fn get_consistency_proof(&self, request: Request<pb::GetConsistencyProofRequest>) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
        self.log.clone().get_consistency_proof(request.into_inner()).await
    }
}

/// Drops the licence's last decision from the answer (chain, statement and receipt) and says
/// VALID, as a node hiding a revocation would.
fn drop_last_decision(answer: &mut pb::VerifyResponse) {
    let last = answer.chain.pop().unwrap();
    let proof = answer.proof.as_mut().unwrap();
    let at = proof.statements.iter().position(|s| StatementId::of(s).0.as_slice() == last.statement_id.as_slice()).unwrap();
    proof.statements.remove(at);
    proof.receipts.remove(at);
    answer.verdict = pb::Verdict::Valid as i32;
    answer.reasons = vec!["licence de.bafa/DE-2026-004211 (version 1) is ISSUED".into()];
}

/// Keeps the proof, states VALID.
fn claim_valid(answer: &mut pb::VerifyResponse) {
    answer.verdict = pb::Verdict::Valid as i32;
}

fn unchanged(_: &mut pb::VerifyResponse) {}

/// Hides the proof of a registration's general licence (or a re-export's parent), verdict VALID.
fn hide_general_licence(answer: &mut pb::VerifyResponse) {
    answer.proof.as_mut().unwrap().parent = None;
    answer.verdict = pb::Verdict::Valid as i32;
}

/// Hides the general licence's revocation: its proof without the REVOKE, verdict VALID.
fn drop_general_licence_revocation(answer: &mut pb::VerifyResponse) {
    let parent = answer.proof.as_mut().unwrap().parent.as_mut().unwrap();
    let at = parent
        .statements
        .iter()
        .position(|s| comity_proto::statement::Envelope::parse(s.to_vec()).unwrap().decision().is_some_and(|d| d.version == 2))
        .unwrap();
    parent.statements.remove(at);
    parent.receipts.remove(at);
    answer.verdict = pb::Verdict::Valid as i32;
}

/// A node that hides that a registration's general licence was revoked, by leaving its proof
/// out or by dropping the revocation from it, is refused by `comity verify --trust`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_hiding_a_general_licence_revocation_is_refused() {
    use comity_proto::decision::fixtures::{general_licence, registration};
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&["uk.ecju"]).await;
    let gl = general_licence("uk.ecju", "OGEL-DU-REPAIR");
    let gl_v1 = node.sign(gl.clone());
    let mut client = node.client().await;
    client.publish(gl_v1.clone()).await.unwrap();
    client.publish(node.sign(registration("uk.ecju", "GBOGE2026/01234", "uk.ecju/OGEL-DU-REPAIR"))).await.unwrap();
    client.publish(node.sign(follow_up(&gl, pb::Action::Revoke, 2, StatementId::of(&gl_v1).0))).await.unwrap();
    let trust = node.relying_party_trust(tmp.path(), "uk.ecju", vec![], 0);
    let licence = "uk.ecju/GBOGE2026/01234";
    comity(&node.url(), Some(&trust))
        .args(["verify", licence])
        .assert()
        .code(20 + pb::Verdict::Revoked as i32)
        .stdout(contains("general licence uk.ecju/OGEL-DU-REPAIR: licence uk.ecju/OGEL-DU-REPAIR was revoked"));
    let (hiding, _task) = Proxy::start(&node, hide_general_licence, None).await;
    comity(&hiding, Some(&trust)).args(["verify", licence]).assert().code(8).stderr(contains("carries no proof of that general licence"));
    let (dropping, _task) = Proxy::start(&node, drop_general_licence_revocation, None).await;
    comity(&dropping, Some(&trust))
        .args(["verify", licence])
        .assert()
        .code(8)
        .stderr(contains("general licence uk.ecju/OGEL-DU-REPAIR: the chain of uk.ecju/OGEL-DU-REPAIR ends at version 1"));
    let (lying, _task) = Proxy::start(&node, claim_valid, None).await;
    comity(&lying, Some(&trust)).args(["verify", licence]).assert().code(10).stderr(contains("is not what its proof shows (REVOKED"));
}

/// Hides a consent withdrawal on a re-export's parent: the parent's proof without its
/// CONSENT_WITHDRAWN (version 3), verdict VALID.
fn drop_consent_withdrawal(answer: &mut pb::VerifyResponse) {
    let parent = answer.proof.as_mut().unwrap().parent.as_mut().unwrap();
    let at = parent
        .statements
        .iter()
        .position(|s| comity_proto::statement::Envelope::parse(s.to_vec()).unwrap().decision().is_some_and(|d| d.version == 3))
        .unwrap();
    parent.statements.remove(at);
    parent.receipts.remove(at);
    answer.verdict = pb::Verdict::Valid as i32;
}

/// A node (METI's, mirroring BAFA's log) that hides that the consent a re-export relies on was
/// withdrawn, by dropping the withdrawal from the parent's proof or leaving the parent's proof
/// out, is refused by `comity verify --trust`: the parent's head proof shows its chain goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_hiding_a_consent_withdrawal_is_refused() {
    use comity_proto::re_export::fixtures::{child, consent, withdrawal};
    use comity_proto::trust::{TrustFile, TrustedAuthority};
    let tmp = tempfile::tempdir().unwrap();
    let nodes = comity_tests::mutual_federation(&[("bafa", "de.bafa", "registry.bafa.test/log"), ("meti", "jp.meti", "registry.meti.test/log")]).await;
    let (bafa, meti) = (&nodes[0], &nodes[1]);
    let parent = grant("de.bafa", "DE-2026-000412");
    let v1 = bafa.sign(parent.clone());
    let v2 = bafa.sign(consent(&parent, "RXC-1", 2, StatementId::of(&v1).0));
    let mut client = bafa.client().await;
    client.publish(v1).await.unwrap();
    client.publish(v2.clone()).await.unwrap();
    comity_tests::eventually(std::time::Duration::from_secs(20), "the consent mirrored to METI", || async {
        let held = meti.client().await.licence("de.bafa", "DE-2026-000412").await.ok()?;
        (held.summary.version == 2).then_some(())
    })
    .await;
    meti.client().await.publish(meti.sign(child("JP-RX-1", "de.bafa/DE-2026-000412", "RXC-1"))).await.unwrap();
    client.publish(bafa.sign(withdrawal(&parent, "RXC-1", 3, StatementId::of(&v2).0))).await.unwrap();
    comity_tests::eventually(std::time::Duration::from_secs(20), "the withdrawal mirrored to METI", || async {
        let held = meti.client().await.licence("de.bafa", "DE-2026-000412").await.ok()?;
        (held.summary.version == 3).then_some(())
    })
    .await;
    let pin = |node: &TestNode, authority: &str| TrustedAuthority {
        id: authority.into(),
        keys: vec![hex::encode(node.signer(authority).verifying_key().to_bytes())],
        logs: vec![node.node().log_verifier().to_string()],
        ..Default::default()
    };
    let trust = tmp.path().join("trust.toml");
    std::fs::write(&trust, TrustFile { authorities: vec![pin(bafa, "de.bafa"), pin(meti, "jp.meti")], ..Default::default() }.to_toml()).unwrap();
    let licence = "jp.meti/JP-RX-1";
    comity(&meti.url(), Some(&trust))
        .args(["verify", licence, "--destination", "TH"])
        .assert()
        .code(20 + pb::Verdict::OutOfScope as i32)
        .stdout(contains("consent RXC-1 of de.bafa was withdrawn"));
    let (dropping, _task) = Proxy::start(meti, drop_consent_withdrawal, None).await;
    comity(&dropping, Some(&trust))
        .args(["verify", licence, "--destination", "TH"])
        .assert()
        .code(8)
        .stderr(contains("parent licence de.bafa/DE-2026-000412: the chain of de.bafa/DE-2026-000412 ends at version 2"));
    let (hiding, _task) = Proxy::start(meti, hide_general_licence, None).await;
    comity(&hiding, Some(&trust))
        .args(["verify", licence])
        .assert()
        .code(8)
        .stderr(contains("carries no proof of that parent licence, so its suspension or revocation or the withdrawal of its consent could be hidden"));
}

/// States SCREENED with one strong match of `party` to a listed entry named `listed`.
fn claim_screened(answer: &mut pb::VerifyResponse, party: &str, listed: &str) {
    answer.verdict = pb::Verdict::Screened as i32;
    answer.reasons = vec![format!("end user {party:?} matches de.bafa/end-user-alert entry EUA-1 {listed:?} (score 100)")];
    let entry = pb::ScreenedParty { entry_id: "EUA-1".into(), name: listed.into(), reason: "WMD procurement".into(), ..Default::default() };
    let found = pb::ScreeningMatch {
        list: "de.bafa/end-user-alert".into(),
        list_version: 1,
        entry: Some(entry),
        matched_name: listed.into(),
        score: 100,
        strong: true,
        ..Default::default()
    };
    answer.screening = vec![pb::ScreeningHit { party: party.into(), role: "end user".into(), found: Some(found) }];
}

/// A strong match of a party the licence does not name.
fn screened_stranger(answer: &mut pb::VerifyResponse) {
    claim_screened(answer, "Nagoya Aerospace KK", "Nagoya Aerospace KK");
}

/// The licence's own end user, matched to a listed name that does not resemble it.
fn screened_unlike(answer: &mut pb::VerifyResponse) {
    claim_screened(answer, "Tohoku Institute of Space Optics", "Pars Precision Instruments");
}

/// The licence's own end user, matched to a listed name the client scores strong too.
fn screened_alike(answer: &mut pb::VerifyResponse) {
    claim_screened(answer, "Tohoku Institute of Space Optics", "Tohoku Institute of Space Optics Ltd.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comity_verify_checks_what_it_prints() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&["de.bafa"]).await;
    publish_licence(&node, "DE-2026-004211", true).await;
    publish_licence(&node, "DE-2026-004212", false).await;
    let trust = write_trust(tmp.path(), &node, vec![], 0);
    let revoked = "de.bafa/DE-2026-004211";

    // The honest node: the verdict recomputed from its proof is its own.
    comity(&node.url(), Some(&trust))
        .args(["verify", revoked])
        .assert()
        .code(20 + pb::Verdict::Revoked as i32)
        .stdout(contains("REVOKED"))
        .stdout(contains("verified: 2 decision(s)"))
        .stdout(contains("head v2 proven"));
    comity(&node.url(), Some(&trust))
        .args(["verify", "de.bafa/DE-2026-004212"])
        .assert()
        .success()
        .stdout(contains("VALID"))
        .stdout(contains("verified: 1 decision(s)"));
    // Without a trust file the node's word is printed, and said to be only that.
    comity(&node.url(), None).args(["verify", revoked]).assert().stdout(contains("NOT VERIFIED: no trust file"));

    // A node dropping the revocation: without a trust file VALID is printed as the node's word;
    // with one, the head proof shows the chain is cut.
    let (dropping, _task) = Proxy::start(&node, drop_last_decision, None).await;
    comity(&dropping, None).args(["verify", revoked]).assert().success().stdout(contains("VALID")).stdout(contains("NOT VERIFIED"));
    comity(&dropping, Some(&trust)).args(["verify", revoked]).assert().code(8).stderr(contains("decision 2 is missing"));
    // A node stating VALID over a proof of a revocation: the verdicts differ, exit 10.
    let (lying, _task) = Proxy::start(&node, claim_valid, None).await;
    comity(&lying, Some(&trust)).args(["verify", revoked]).assert().code(10).stderr(contains("the node's verdict VALID is not what its proof shows (REVOKED"));
    // SCREENED is the node's finding on lists the proof does not carry: the client accepts it
    // only for a party the proven licence names, matched to a name it scores strong itself.
    for tamper in [screened_stranger as fn(&mut pb::VerifyResponse), screened_unlike] {
        let (lying, _task) = Proxy::start(&node, tamper, None).await;
        comity(&lying, Some(&trust))
            .args(["verify", "de.bafa/DE-2026-004212"])
            .assert()
            .code(10)
            .stderr(contains("the node's verdict SCREENED is not what its proof shows (VALID"));
    }
    let (screening, _task) = Proxy::start(&node, screened_alike, None).await;
    comity(&screening, Some(&trust)).args(["verify", "de.bafa/DE-2026-004212"]).assert().code(20 + pb::Verdict::Screened as i32).stdout(contains("SCREENED"));

    // A licence never issued: its absence is proven in the issuer's log.
    comity(&node.url(), Some(&trust))
        .args(["verify", "de.bafa/DE-2099-000001"])
        .assert()
        .code(20 + pb::Verdict::NotFound as i32)
        .stdout(contains("NOT_FOUND"))
        .stdout(contains("absence proven in"));
    // `licence show` runs the same checks.
    comity(&node.url(), Some(&trust)).args(["licence", "show", revoked]).assert().success().stdout(contains("verified: 2 decision(s)"));
    comity(&node.url(), None).args(["licence", "show", revoked]).assert().success().stdout(contains("NOT VERIFIED"));

    // A witness quorum the checkpoint does not meet: the verdict says so.
    let witness = comity_proto::witness::WitnessKey::from_seed("witness.jp.example", &[9; 32]).unwrap().verifier().to_string();
    let strict = write_trust(tmp.path(), &node, vec![witness], 1);
    comity(&node.url(), Some(&strict))
        .args(["verify", "de.bafa/DE-2026-004212"])
        .assert()
        .code(20 + pb::Verdict::Stale as i32)
        .stdout(contains("STALE"))
        .stdout(contains("carries 0 of the 1 witness cosignatures the trust file requires"));
    let (plain, _task) = Proxy::start(&node, unchanged, None).await;
    comity(&plain, Some(&strict))
        .args(["log", "audit", "--state", path(&tmp.path().join("strict.json"))])
        .assert()
        .code(9)
        .stderr(contains("witness quorum not met"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_audit_recomputes_the_licence_state_map_of_a_10k_entry_log() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&["de.bafa"]).await;
    let envelopes: Vec<Vec<u8>> = (0..10_000).map(|i| node.sign(grant("de.bafa", &format!("DE-2026-{i:06}")))).collect();
    publish_concurrently(node.client().await, envelopes, 64).await;
    let trust = write_trust(tmp.path(), &node, vec![], 0);
    let vkey = node.node().log_verifier().to_string();
    comity(&node.url(), Some(&trust))
        .args(["--log-key", &vkey, "log", "audit", "--state", path(&tmp.path().join("honest.json"))])
        .assert()
        .success()
        .stdout(contains("licence-state map recomputed from the entries: 10000 licence(s)"));

    // The same entries under a checkpoint that signs another map root (one bit flipped).
    let config = node.config();
    let key = comity_node::log::load_or_create_key(&config.log_key_path(), &config.origin).unwrap();
    let mut wrong = comity_proto::log::stored_map_root(&node.client().await.checkpoint().await.unwrap().checkpoint).unwrap();
    wrong[0] ^= 1;
    let (liar, _task) = Proxy::start(&node, unchanged, Some((key, wrong))).await;
    comity(&liar, Some(&trust))
        .args(["--log-key", &vkey, "log", "audit", "--state", path(&tmp.path().join("liar.json"))])
        .assert()
        .code(9)
        .stderr(contains("the licence-state map recomputed from entries 0..10000"))
        .stderr(contains("misstates its licences' heads"));
}
