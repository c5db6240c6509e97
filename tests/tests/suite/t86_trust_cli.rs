//! The trust workflow through the real `comity` binary: key sets (init, rotate, compromise,
//! show), agreements (new, list, withdraw), verify with its exit codes, and offline tokens
//! (export, QR, verify, tampering refused field by field).

use std::path::Path;
use std::time::Duration;

use crate::cli::{comity, path};
use assert_cmd::Command;
use comity_client::token::verify_token;
use comity_node::config::{AuthorityConfig, Config};
use comity_proto::keyfile::KeyFile;
use comity_proto::pb;
use comity_proto::recognition::Context;
use comity_proto::trust::{TrustFile, TrustedAuthority};
use comity_proto::verdict::Question;
use comity_tests::{bin_path, eventually, examples_dir, TestNode};
use predicates::str::contains;
use prost::Message;

const BAFA: &str = "de.bafa";
const KSTC: &str = "kr.kstc";
const WAIT: Duration = Duration::from_secs(15);

/// The verification arguments of the sample grant and agreement.
const CHECK: [&str; 7] = ["de.bafa/DE-2026-009001", "--for", KSTC, "--destination", "KR", "--item", "EU-DU:3A001.a.1"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_agreements_verify_and_offline_tokens_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let keys_dir = tmp.path().join("bafa-keys");

    // BAFA creates its root keys, first signing key and key set; the trust entry goes to partners.
    Command::new(bin_path("comity"))
        .args(["keys", "init", "--authority", BAFA, "--roots", "3", "--threshold", "2", "--dir", path(&keys_dir)])
        .assert()
        .success()
        .stdout(contains("2 of 3 sign each key set"));
    let trust_path = keys_dir.join("trust.toml");
    assert_eq!(TrustFile::read(&trust_path).unwrap().roots().unwrap()[BAFA].threshold, 2);

    // A: BAFA's node, by root keys only. B: KSTC's node, trusting BAFA's roots; they mirror each other.
    let kstc_key = KeyFile::generate(KSTC);
    let kstc_key_path = tmp.path().join("kr.kstc.key");
    kstc_key.write(&kstc_key_path).unwrap();
    let kstc_public = kstc_key.public_key.clone();
    let (trust_a, trust_b) = (trust_path.clone(), trust_path.clone());
    let kstc_trusted = AuthorityConfig { id: KSTC.into(), name: String::new(), keys: vec![kstc_public.clone()] };
    let mut a = TestNode::start_with(&[], move |c: &mut Config| {
        c.origin = "registry.bafa.example/log".into();
        c.trust_file = Some(trust_a);
        c.authorities = vec![AuthorityConfig { id: BAFA.into(), name: "BAFA".into(), keys: vec![] }];
        c.trusted = vec![kstc_trusted];
        c.mirror_interval_ms = 50;
    })
    .await;
    let a_peer = a.as_peer("bafa");
    let b = TestNode::start_with(&[], move |c: &mut Config| {
        c.origin = "registry.kstc.example/log".into();
        c.trust_file = Some(trust_b);
        c.authorities = vec![AuthorityConfig { id: KSTC.into(), name: "KSTC".into(), keys: vec![kstc_public] }];
        c.peers = vec![a_peer];
        c.mirror_interval_ms = 50;
    })
    .await;
    a.stop().await;
    let b_peer = b.as_peer("kstc");
    a.reconfigure(|c| c.peers = vec![b_peer]);
    a.start_again().await.unwrap();
    let (url_a, url_b) = (a.url(), b.url());

    // Key set v1 and the sample grant, signed with the new signing key.
    comity(&url_a).args(["publish", path(&keys_dir.join("de.bafa.keyset-1.signed"))]).assert().success().stdout(contains("key set v1 of de.bafa"));
    let signing_1 = keys_dir.join("de.bafa.signing-1.key");
    comity(&url_a).arg("publish").arg(examples_dir().join("grant.yaml")).args(["--key", path(&signing_1)]).assert().success();
    // KSTC's agreement, from the sample document.
    comity(&url_b)
        .args(["agreement", "new"])
        .arg(examples_dir().join("agreement.yaml"))
        .args(["--key", path(&kstc_key_path)])
        .assert()
        .success()
        .stdout(contains("kr.kstc recognises de.bafa (eu-du-2026 v1)"));
    comity(&url_b).args(["agreement", "list"]).assert().success().stdout(contains("kr.kstc/de.bafa/eu-du-2026"));
    let a_size = a.node().registry().store().log("registry.bafa.example/log").size().unwrap();
    eventually(WAIT, "B mirrors A", || async { (b.node().mirror_status("bafa")?.size == a_size).then_some(()) }).await;
    eventually(WAIT, "A mirrors B", || async { (a.node().mirror_status("kstc")?.size == 1).then_some(()) }).await;

    // Verify at either node: VALID is exit 0; out of scope is 20 + 8.
    for url in [&url_a, &url_b] {
        comity(url).arg("verify").args(CHECK).assert().success().stdout(contains("VALID")).stdout(contains("recognised under kr.kstc recognises de.bafa"));
    }
    comity(&url_b).arg("verify").args(["de.bafa/DE-2026-009001", "--for", KSTC, "--destination", "CN"]).assert().code(28).stdout(contains("OUT_OF_SCOPE"));
    comity(&url_b).arg("verify").args(["de.bafa/DE-2026-000000", "--for", KSTC]).assert().code(22).stdout(contains("NOT_FOUND"));
    let output = comity(&url_b).arg("--json").arg("verify").args(CHECK).output().unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["verdict"], "VALID");
    assert_eq!(answer["proof"]["receipts"].as_array().unwrap().len(), 3, "grant, key set, agreement");
    comity(&url_b)
        .args(["keys", "show", BAFA, "--trust", path(&trust_path)])
        .assert()
        .success()
        .stdout(contains("key set v1 of de.bafa"))
        .stdout(contains("verified against"));

    // Offline token: exported at B, verified with no node against a trust file that also pins
    // both logs' keys and KSTC's signing key.
    let token = tmp.path().join("DE-2026-009001.token");
    comity(&url_b).args(["token", "export", "de.bafa/DE-2026-009001", "--for", KSTC, "-o", path(&token)]).assert().success();
    let mut offline = TrustFile::read(&trust_path).unwrap();
    offline.authorities[0].logs = vec![a.node().log_verifier().to_string()];
    offline.authorities.push(TrustedAuthority {
        id: KSTC.into(),
        keys: vec![kstc_key.public_key.clone()],
        logs: vec![b.node().log_verifier().to_string()],
        ..Default::default()
    });
    let offline_path = tmp.path().join("verifier-trust.toml");
    std::fs::write(&offline_path, offline.to_toml()).unwrap();
    let token_verify = |file: &Path| {
        let mut cmd = Command::new(bin_path("comity"));
        cmd.env("COMITY_NODE", "http://127.0.0.1:1").args(["token", "verify", path(file), "--trust", path(&offline_path)]).args(&CHECK[1..]);
        cmd
    };
    token_verify(&token).assert().success().stdout(contains("VALID")).stdout(contains("cannot be known offline"));
    let png = tmp.path().join("token.png");
    comity("http://127.0.0.1:1").args(["token", "qr", path(&token), "-o", path(&png)]).assert().success().stdout(contains("comity:2:"));
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");

    // A truncated token file is refused with the reason (exit 8: verification failed).
    let bytes = std::fs::read(&token).unwrap();
    let truncated = tmp.path().join("truncated.token");
    std::fs::write(&truncated, &bytes[..bytes.len() - 40]).unwrap();
    token_verify(&truncated).assert().code(8).stderr(contains("truncated or corrupted"));
    // Every field, tampered, is refused (checked through the library for precise reasons).
    tampered_tokens_are_refused(&bytes, &offline);

    // Withdrawing the agreement: KSTC no longer recognises BAFA's licence (20 + 10).
    comity(&url_b).args(["agreement", "withdraw", "kr.kstc/de.bafa/eu-du-2026", "--key", path(&kstc_key_path)]).assert().success();
    comity(&url_b).args(["--json", "agreement", "list"]).assert().success().stdout(contains("[]"));
    comity(&url_b).arg("verify").args(CHECK).assert().code(30).stdout(contains("NOT_RECOGNISED"));
    // The issuer itself still relies on its licence.
    comity(&url_b).arg("verify").args(["de.bafa/DE-2026-009001", "--destination", "KR"]).assert().success();

    // Rotation and compromise through the CLI, signed by two of the three roots.
    let (root_1, root_3) = (keys_dir.join("de.bafa.root-1.key"), keys_dir.join("de.bafa.root-3.key"));
    let roots = ["--root", path(&root_1), "--root", path(&root_3)];
    let signing_2 = tmp.path().join("de.bafa.signing-2.key");
    comity(&url_a).args(["keys", "rotate", "--authority", BAFA, "-o", path(&signing_2)]).args(roots).assert().success().stdout(contains("key set v2"));
    let k1 = KeyFile::read(&signing_1).unwrap().signer().unwrap().key_id().to_string();
    comity(&url_a)
        .args(["keys", "compromise", "--authority", BAFA, "--key", &k1, "--since", "2026-10-01"])
        .args(roots)
        .assert()
        .success()
        .stdout(contains("key set v3"));
    comity(&url_a).args(["--json", "keys", "show", BAFA]).assert().success().stdout(contains("COMPROMISED")).stdout(contains("\"version\": 3"));
    // The grant was signed with k1, declared compromised since before it was logged.
    comity(&url_a).arg("verify").args(CHECK).assert().code(31).stdout(contains("BAD_SIGNATURE")).stdout(contains("compromised since"));
    // A single root cannot sign a key set.
    comity(&url_a)
        .args(["keys", "compromise", "--authority", BAFA, "--key", &k1, "--since", "2026-09-01", "--root", path(&keys_dir.join("de.bafa.root-2.key"))])
        .assert()
        .code(4);
}

/// Each field of a valid token, changed, makes the offline verifier refuse it.
fn tampered_tokens_are_refused(bytes: &[u8], trust: &TrustFile) {
    let question = Question {
        authority: BAFA.into(),
        licence_id: "DE-2026-009001".into(),
        relying_authority: KSTC.into(),
        context: Context {
            destination: Some("KR".into()),
            control_code: Some("EU-DU:3A001.a.1".into()),
            end_user: None,
            end_use: None,
            at: comity_node::now(),
            shipment: None,
        },
    };
    let now = comity_node::now();
    let good = pb::LicenceToken::decode(bytes).unwrap();
    assert!(verify_token(bytes, trust, &question, now, 86_400 * 30).is_ok());
    let flip = |v: &mut Vec<u8>| {
        let i = v.len() / 2;
        v[i] ^= 1;
    };
    // Receipts hold shared buffers: flip a copy.
    let flip_shared = move |b: &mut prost::bytes::Bytes| {
        let mut v = b.to_vec();
        flip(&mut v);
        *b = v.into();
    };
    type Edit = Box<dyn Fn(&mut pb::LicenceToken)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("format", Box::new(|t| t.format = 1)),
        ("head proof dropped", Box::new(|t| t.head = None)),
        ("head version", Box::new(|t| t.head.as_mut().unwrap().version += 1)),
        (
            "head checkpoint",
            Box::new(|t| {
                let head = t.head.as_mut().unwrap();
                head.checkpoint = head.checkpoint.replacen('\n', "\n1", 1);
            }),
        ),
        (
            "head proof sibling",
            Box::new(move |t| {
                let head = t.head.as_mut().unwrap();
                match head.siblings.first_mut() {
                    Some(h) => flip_shared(h),
                    None => head.siblings.push(vec![0; 32].into()),
                }
            }),
        ),
        ("authority", Box::new(|t| t.authority = "de.bafb".into())),
        ("licence_id", Box::new(|t| t.licence_id = "DE-2026-009002".into())),
        ("statement bytes", Box::new(move |t| flip(&mut t.statements[0]))),
        (
            "a statement dropped",
            Box::new(|t| {
                t.statements.remove(0);
            }),
        ),
        ("receipt origin", Box::new(|t| t.receipts[0].origin = "registry.evil.example/log".into())),
        ("receipt index", Box::new(|t| t.receipts[0].index += 1)),
        ("receipt leaf hash", Box::new(move |t| flip_shared(&mut t.receipts[0].leaf_hash))),
        ("receipt checkpoint", Box::new(|t| t.receipts[0].checkpoint = t.receipts[0].checkpoint.replacen('\n', "\n1", 1))),
        (
            "receipt inclusion proof",
            Box::new(move |t| {
                if let Some(h) = t.receipts[1].inclusion_proof.first_mut() {
                    flip_shared(h);
                } else {
                    t.receipts[1].inclusion_proof.push(vec![0; 32].into());
                }
            }),
        ),
    ];
    for (field, edit) in edits {
        let mut t = good.clone();
        edit(&mut t);
        let mut q = question.clone();
        // The question names the token's licence, as `comity token verify` does.
        (q.authority, q.licence_id) = (t.authority.clone(), t.licence_id.clone());
        let result = verify_token(&t.encode_to_vec(), trust, &q, now, 86_400 * 30);
        assert!(result.is_err(), "tampered {field} was accepted: {:?}", result.map(|r| r.judgement));
    }
}
