//! Re-export chains with consent (#23 part 2, docs/re-export.md), through the real `comity`
//! binary on two nodes that mirror each other: BAFA grants a licence to a Japanese end user and
//! consents to a re-export to Thailand licensed by METI; METI's re-export licence is accepted
//! only within the consent (destinations, quantity summed over its re-export licences), verifies
//! VALID online, with a trust file and by token, and is refused once BAFA revokes the parent or
//! withdraws the consent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{comity, path};
use comity_proto::authoring::DecisionDoc;
use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::pb;
use comity_proto::re_export::fixtures::child;
use comity_proto::statement::StatementId;
use comity_proto::trust::{TrustFile, TrustedAuthority};
use comity_tests::{eventually, mutual_federation, TestNode};
use predicates::str::contains;
use prost::Message;

const PARENT: &str = "de.bafa/DE-2026-000412";
const CONSENT: &str = "DE-RXC-2026-0007";
const CHILD: &str = "jp.meti/JP-RX-2026-0001";

/// BAFA's node and METI's, each mirroring the other, with both authorities' key files in `dir`.
async fn federation(dir: &Path) -> (TestNode, TestNode) {
    let mut nodes = mutual_federation(&[("bafa", "de.bafa", "registry.bafa.test/log"), ("meti", "jp.meti", "registry.meti.test/log")]).await;
    let meti = nodes.pop().unwrap();
    let bafa = nodes.pop().unwrap();
    bafa.write_key("de.bafa", &dir.join("bafa.key"));
    meti.write_key("jp.meti", &dir.join("meti.key"));
    (bafa, meti)
}

/// A relying party's trust file pinning both authorities' signing keys and both logs.
fn trust(dir: &Path, bafa: &TestNode, meti: &TestNode) -> PathBuf {
    let pin = |node: &TestNode, authority: &str| TrustedAuthority {
        id: authority.into(),
        keys: vec![hex::encode(node.signer(authority).verifying_key().to_bytes())],
        logs: vec![node.node().log_verifier().to_string()],
        ..Default::default()
    };
    let file = TrustFile { authorities: vec![pin(bafa, "de.bafa"), pin(meti, "jp.meti")], ..Default::default() };
    let path = dir.join("trust.toml");
    std::fs::write(&path, file.to_toml()).unwrap();
    path
}

/// BAFA's grant of the parent (200 pieces of EU-DU:3A001.a.1 to a Japanese institute) and
/// BAFA's consent to METI re-exporting 50 of them to Thailand (by the CLI).
async fn grant_and_consent(bafa: &TestNode, dir: &Path) -> pb::Decision {
    let parent = grant("de.bafa", "DE-2026-000412");
    bafa.client().await.publish(bafa.sign(parent.clone())).await.unwrap();
    comity(&bafa.url())
        .args(["re-export", "consent", PARENT, "--id", CONSENT, "--authority", "jp.meti"])
        .args(["--end-user", "TH:Siam Orbital Systems Co., Ltd.", "--destination", "TH", "--item", "EU-DU:3A001.a.1=50"])
        .args(["--valid-until", "2028-01-01", "--decided-at", "2026-11-01", "--condition", "No further re-export without BAFA's consent"])
        .args(["--key", path(&dir.join("bafa.key"))])
        .assert()
        .success()
        .stdout(contains("published de.bafa/DE-2026-000412 v2 RE_EXPORT_CONSENT"));
    parent
}

/// Waits until `node` holds version `version` of the parent.
async fn holds_parent(node: &TestNode, version: u64) {
    eventually(Duration::from_secs(20), "the parent's decision mirrored to METI", || async {
        let held = node.client().await.licence("de.bafa", "DE-2026-000412").await.ok()?;
        (held.summary.version >= version).then_some(())
    })
    .await;
}

/// A re-export licence document of METI under the consent, with `adjust` applied.
fn child_doc(dir: &Path, licence_id: &str, adjust: impl FnOnce(&mut pb::Decision)) -> PathBuf {
    let mut d = child(licence_id, PARENT, CONSENT);
    adjust(&mut d);
    let mut doc = DecisionDoc::from_wire(&d);
    (doc.version, doc.previous) = (None, None);
    let file = dir.join(format!("{}.yaml", licence_id.replace('/', "_")));
    std::fs::write(&file, serde_norway::to_string(&doc).unwrap()).unwrap();
    file
}

fn publish_child(meti: &TestNode, dir: &Path, file: &Path) -> assert_cmd::assert::Assert {
    comity(&meti.url()).args(["publish", path(file), "--key", path(&dir.join("meti.key"))]).assert()
}

fn verify(meti: &TestNode, trust: Option<&Path>, args: &[&str]) -> assert_cmd::assert::Assert {
    let mut cmd = comity(&meti.url());
    if let Some(t) = trust {
        cmd.env("COMITY_TRUST", t);
    }
    cmd.args(["verify", CHILD]).args(args).assert()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_re_export_within_the_consent_verifies_and_is_refused_once_the_parent_is_revoked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (bafa, meti) = federation(dir).await;
    let parent = grant_and_consent(&bafa, dir).await;
    holds_parent(&meti, 2).await;
    let trust = trust(dir, &bafa, &meti);

    // A destination the consent does not name, and a quantity over it, are refused at publish.
    let elsewhere = child_doc(dir, "JP-RX-2026-0009", |d| d.destinations = vec!["TH".into(), "VN".into()]);
    publish_child(&meti, dir, &elsewhere)
        .code(5)
        .stderr(contains("parent licence de.bafa/DE-2026-000412: consent DE-RXC-2026-0007 does not cover this licence"))
        .stderr(contains("destination VN is not among its destinations (TH)"));
    let too_many = child_doc(dir, "JP-RX-2026-0009", |d| d.items[0].quantity = "51".into());
    publish_child(&meti, dir, &too_many).code(5).stderr(contains("over the 50 pcs consented"));

    // Within the consent: accepted; a second re-export counts against what is left.
    publish_child(&meti, dir, &child_doc(dir, "JP-RX-2026-0001", |_| {})).success();
    let over_the_rest = child_doc(dir, "JP-RX-2026-0002", |d| d.items[0].quantity = "31".into());
    publish_child(&meti, dir, &over_the_rest)
        .code(5)
        .stderr(contains("EU-DU:3A001.a.1: 31 pcs would bring the re-exports under it to 51 pcs, over the 50 pcs consented"));
    publish_child(&meti, dir, &child_doc(dir, "JP-RX-2026-0002", |d| d.items[0].quantity = "30".into())).success();

    // Online, with a trust file, and offline by token: VALID, naming the parent and the consent.
    let ask = ["--destination", "TH", "--item", "EU-DU:3A001.a.1", "--end-user", "Siam Orbital Systems Co Ltd"];
    verify(&meti, None, &ask).code(0).stdout(contains("VALID")).stdout(contains("re-exports under licence de.bafa/DE-2026-000412"));
    verify(&meti, Some(&trust), &ask).code(0).stdout(contains("with consent DE-RXC-2026-0007 of de.bafa"));
    verify(&meti, Some(&trust), &["--destination", "VN"]).code(20 + pb::Verdict::OutOfScope as i32);
    let token = dir.join("child.token");
    comity(&meti.url()).args(["token", "export", CHILD, "-o", path(&token)]).assert().success();
    let exported = pb::LicenceToken::decode(std::fs::read(&token).unwrap().as_slice()).unwrap();
    assert!(exported.parent.is_some() && exported.format == 3, "the token carries the parent's proof");
    comity("http://127.0.0.1:1")
        .args(["token", "verify", path(&token), "--destination", "TH", "--trust", path(&trust)])
        .assert()
        .code(0)
        .stdout(contains("VALID"));

    // `licence show` shows the chain across authorities, both ways.
    comity(&meti.url())
        .args(["licence", "show", CHILD])
        .assert()
        .success()
        .stdout(contains("parent        de.bafa/DE-2026-000412  ISSUED"))
        .stdout(contains("consent       DE-RXC-2026-0007 (in force, v2"));
    let shown = comity(&meti.url()).args(["--json", "licence", "show", PARENT]).assert().success().get_output().stdout.clone();
    let shown: serde_json::Value = serde_json::from_slice(&shown).unwrap();
    assert_eq!(shown["re_export"]["consents"][0]["consent_id"], CONSENT);
    let children: Vec<&str> = shown["re_export"]["children"].as_array().unwrap().iter().map(|c| c["licence"].as_str().unwrap()).collect();
    assert_eq!(children, [CHILD, "jp.meti/JP-RX-2026-0002"]);
    // The licence page links the child to its parent.
    let web = meti.node().http_addr().expect("the HTTP port is on");
    let (_, page) = tokio::task::spawn_blocking(move || comity_tests::http_get(web, "/licences/jp.meti/JP-RX-2026-0001")).await.unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("Re-export under") && page.contains("href=\"/licences/de.bafa/DE-2026-000412\""), "{page}");
    let (_, page) = tokio::task::spawn_blocking(move || comity_tests::http_get(web, "/licences/de.bafa/DE-2026-000412")).await.unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("DE-RXC-2026-0007 (in force") && page.contains("href=\"/licences/jp.meti/JP-RX-2026-0002\""), "{page}");

    // BAFA revokes the parent: the re-export is REVOKED, online and by a fresh token.
    let mut revocation = follow_up(&parent, pb::Action::Revoke, 3, parent_head(&bafa).await.0);
    revocation.decided_at = unix_now() - 60;
    let revoke = bafa.sign(revocation);
    bafa.client().await.publish(revoke).await.unwrap();
    holds_parent(&meti, 3).await;
    verify(&meti, Some(&trust), &["--destination", "TH"])
        .code(20 + pb::Verdict::Revoked as i32)
        .stdout(contains("parent licence de.bafa/DE-2026-000412: licence de.bafa/DE-2026-000412 was revoked"));
    comity(&meti.url()).args(["token", "export", CHILD, "-o", path(&token)]).assert().success();
    comity("http://127.0.0.1:1")
        .args(["token", "verify", path(&token), "--destination", "TH", "--trust", path(&trust)])
        .assert()
        .code(20 + pb::Verdict::Revoked as i32)
        .stdout(contains("parent licence de.bafa/DE-2026-000412"));
    // No new re-export stands on a revoked parent.
    publish_child(&meti, dir, &child_doc(dir, "JP-RX-2026-0003", |d| d.items[0].quantity = "1".into()))
        .code(5)
        .stderr(contains("parent licence de.bafa/DE-2026-000412: it is REVOKED"));
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The statement id of the parent's head at BAFA's node.
async fn parent_head(bafa: &TestNode) -> StatementId {
    bafa.client().await.head("de.bafa", "DE-2026-000412").await.unwrap().expect("the parent is held").1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_withdrawn_consent_refuses_its_re_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (bafa, meti) = federation(dir).await;
    grant_and_consent(&bafa, dir).await;
    holds_parent(&meti, 2).await;
    let trust = trust(dir, &bafa, &meti);
    publish_child(&meti, dir, &child_doc(dir, "JP-RX-2026-0001", |_| {})).success();
    verify(&meti, Some(&trust), &["--destination", "TH"]).code(0);

    // A consent to more than the parent licensed, or under an id already given, is refused.
    let consent_again = |id: &str, quantity: &str| {
        comity(&bafa.url())
            .args(["re-export", "consent", PARENT, "--id", id, "--authority", "jp.meti", "--end-user", "TH:Siam Orbital Systems Co., Ltd."])
            .args(["--destination", "TH", "--item", &format!("EU-DU:3A001.a.1={quantity}"), "--valid-until", "2028-01-01"])
            .args(["--key", path(&dir.join("bafa.key"))])
            .assert()
    };
    consent_again("DE-RXC-2026-0008", "201").code(5).stderr(contains("201 pcs of EU-DU:3A001.a.1 is more than the 200 pcs licensed"));
    consent_again(CONSENT, "10").code(5).stderr(contains("consent DE-RXC-2026-0007 was already given (version 2)"));
    // A consent drafted for review, then published as any decision document.
    let draft = dir.join("consent.yaml");
    consent_again("DE-RXC-2026-0008", "10").success();
    comity(&bafa.url())
        .args(["re-export", "consent", PARENT, "--id", "DE-RXC-2026-0009", "--authority", "jp.meti", "--end-user", "VN:Hanoi Space Works JSC"])
        .args(["--destination", "VN", "--item", "EU-DU:3A001.a.1=5", "--valid-until", "2028-01-01", "--key", path(&dir.join("bafa.key"))])
        .args(["--draft", path(&draft)])
        .assert()
        .success()
        .stdout(contains("publish it with `comity publish"));
    assert!(std::fs::read_to_string(&draft).unwrap().contains("action: re_export_consent"));
    comity(&bafa.url()).args(["publish", path(&draft), "--key", path(&dir.join("bafa.key"))]).assert().success().stdout(contains("v4 RE_EXPORT_CONSENT"));

    // A consent id not on the parent's chain is refused, and so is a second withdrawal.
    let unknown = child_doc(dir, "JP-RX-2026-0004", |d| d.consent_id = "DE-RXC-2026-0099".into());
    publish_child(&meti, dir, &unknown).code(5).stderr(contains("consent DE-RXC-2026-0099 is not on its chain"));
    let withdraw = |expect_ok: bool| {
        let assert = comity(&bafa.url())
            .args(["re-export", "withdraw", PARENT, "--id", CONSENT, "--note", "end user under review", "--key", path(&dir.join("bafa.key"))])
            .assert();
        if expect_ok {
            assert.success().stdout(contains("CONSENT_WITHDRAWN"));
        } else {
            assert.code(5).stderr(contains("consent DE-RXC-2026-0007 was already withdrawn"));
        }
    };
    withdraw(true);
    withdraw(false);
    holds_parent(&meti, 5).await;

    verify(&meti, Some(&trust), &["--destination", "TH"])
        .code(20 + pb::Verdict::OutOfScope as i32)
        .stdout(contains("consent DE-RXC-2026-0007 of de.bafa was withdrawn"));
    publish_child(&meti, dir, &child_doc(dir, "JP-RX-2026-0005", |d| d.decided_at = unix_now() - 60))
        .code(5)
        .stderr(contains("consent DE-RXC-2026-0007 was withdrawn"));
    comity(&meti.url()).args(["licence", "show", PARENT]).assert().success().stdout(contains("DE-RXC-2026-0007 (WITHDRAWN"));
    // Partners following METI's node see the consent and its withdrawal as they arrive.
    comity(&meti.url())
        .args(["watch", "--from-start", "--until-caught-up", "--kind", "re-export-consent"])
        .assert()
        .success()
        .stdout(contains("RE_EXPORT_CONSENT  de.bafa/DE-2026-000412 v2: consent DE-RXC-2026-0007 to a re-export by jp.meti to TH"))
        .stdout(contains("de.bafa/DE-2026-000412 v5: consent DE-RXC-2026-0007 withdrawn"));
}
