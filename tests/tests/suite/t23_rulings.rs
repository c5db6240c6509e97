//! Classification rulings and general licences (#22 part 4) through the commands a user types:
//! a ruling checked against the issuer's control list, replicated to a partner and shown
//! there verified; a confidential ruling opened by its applicant; a registration under a
//! general licence verified online, with `--trust` and offline, and refused when it, or its
//! general licence, is not in force or does not cover the question.

use std::time::Duration;

use comity_proto::decision::fixtures::{follow_up, general_licence, registration};
use comity_proto::pb;
use comity_proto::statement::StatementId;
use comity_tests::{eventually, TestNode};
use predicates::str::contains;
use prost::Message;

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const ECJU: &str = "uk.ecju";

const LIST: &str = "code,parent,title,unit
3A001,,Electronic items,
3A001.b,3A001,Microwave or millimetre wave items,
3A001.b.2,3A001.b,MMIC amplifiers,
5A002,,Information security,
5A002.a,5A002,Cryptography for data confidentiality,
5A002.a.1,5A002.a,Information security as a primary function,
";

fn ruling_doc(id: &str, codes: &str, extra: &str) -> String {
    format!(
        "authority: de.bafa
ruling_id: {id}
applicant: {{name: Hochfrequenz Systeme Ulm GmbH, country: DE}}
item_description: X-band GaN MMIC power amplifier
parameters:
  - {{name: Frequency range, value: 8.5-10.5 GHz}}
  - {{name: Peak saturated power output, value: 10 W}}
{codes}
rationale: Exceeds the 3A001.b.2 thresholds for its frequency range
valid_from: 2026-01-01
valid_until: 2029-01-01
issued_at: 2026-02-01
{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ruling_is_checked_replicated_shown_and_a_confidential_one_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = TestNode::start(&[BAFA]).await;
    let b = TestNode::start_mirror_of(&a, "bafa", &[METI], "registry.meti.example/log", |_| {}).await;
    let key = dir.join("bafa.key");
    a.write_key(BAFA, &key);
    let list = write(dir, "annex-i.csv", LIST);
    comity(&a.url())
        .args(["list", "load", "--authority", BAFA, "--regime", "EU-DU", "--title", "Annex I (test)", "--valid-from", "2020-01-01", "--file", path(&list)])
        .args(["--key", path(&key)])
        .assert()
        .success();

    let public = write(dir, "mmic.yaml", &ruling_doc("DE-CR-2026-0115", "control_codes: [\"EU-DU:3A001.b.2\"]", ""));
    comity(&a.url())
        .args(["ruling", "publish", path(&public), "--key", path(&key)])
        .assert()
        .success()
        .stdout(contains("published ruling de.bafa/DE-CR-2026-0115 v1: EU-DU:3A001.b.2"));
    // A code the list in force does not hold is refused, naming the field and the list.
    let unknown = write(dir, "unknown.yaml", &ruling_doc("DE-CR-2026-0116", "control_codes: [\"EU-DU:3A001.b.2.b\"]", ""));
    comity(&a.url())
        .args(["ruling", "publish", path(&unknown), "--key", path(&key)])
        .assert()
        .failure()
        .stderr(contains("control_codes[0]: control code EU-DU:3A001.b.2.b is not on"));
    // A version that does not follow is refused.
    let skipped = write(dir, "skipped.yaml", &ruling_doc("DE-CR-2026-0115", "control_codes: [\"EU-DU:3A001.b.2\"]", "version: 3\nprevious: \"00\"\n"));
    comity(&a.url()).args(["ruling", "publish", path(&skipped), "--key", path(&key)]).assert().failure().stderr(contains("previous"));

    // Confidential: the result is public, the applicant and parameters are the applicant's.
    let secret = write(dir, "hsm.yaml", &ruling_doc("DE-CR-2026-0127", "control_codes: [\"EU-DU:5A002.a.1\"]", "confidential: true\n"));
    let opening = dir.join("hsm.opening.json");
    comity(&a.url())
        .args(["ruling", "publish", path(&secret), "--key", path(&key), "--opening", path(&opening)])
        .assert()
        .success()
        .stdout(contains("confidential: the applicant and parameters are withheld"));
    comity(&a.url())
        .args(["ruling", "show", "de.bafa/DE-CR-2026-0127"])
        .assert()
        .success()
        .stdout(contains("(confidential)"))
        .stdout(contains("EU-DU:5A002.a.1"));
    comity(&a.url())
        .args(["ruling", "check", "de.bafa/DE-CR-2026-0127", "--opening", path(&opening)])
        .assert()
        .success()
        .stdout(contains("OPENED"))
        .stdout(contains("Hochfrequenz Systeme Ulm GmbH (DE)"))
        .stdout(contains("Peak saturated power output: 10 W"));
    let forged = std::fs::read_to_string(&opening).unwrap().replace("Hochfrequenz Systeme Ulm GmbH", "Someone Else GmbH");
    let forged = write(dir, "forged.opening.json", &forged);
    comity(&a.url())
        .args(["ruling", "check", "de.bafa/DE-CR-2026-0127", "--opening", path(&forged)])
        .assert()
        .failure()
        .stderr(contains("do not open the commitment of de.bafa/DE-CR-2026-0127"));

    // At the partner, once mirrored: listed by code, shown and verified against a trust file.
    eventually(Duration::from_secs(15), "B to hold both rulings", || async {
        let held = comity_node::rulings::latest(b.node().registry().store(), Some(BAFA), 10, |_| true).ok()?.0;
        (held.len() == 2).then_some(())
    })
    .await;
    let trust = a.relying_party_trust(dir, BAFA, vec![], 0);
    comity(&b.url())
        .args(["ruling", "show", "de.bafa/DE-CR-2026-0115", "--trust", path(&trust)])
        .assert()
        .success()
        .stdout(contains("result:      EU-DU:3A001.b.2"))
        .stdout(contains("parameter:   Frequency range: 8.5-10.5 GHz"))
        .stdout(contains("verified: signed by a key of de.bafa"));
    comity(&b.url()).args(["ruling", "ls", "--code", "EU-DU:3A001.b"]).assert().success().stdout(contains("DE-CR-2026-0115")).stdout(contains("IN_FORCE"));
    let out = comity(&b.url()).args(["--json", "ruling", "ls", "--code", "EU-DU:5A002"]).assert().success().get_output().stdout.clone();
    let rows: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        (rows[0]["ruling"].as_str(), rows[0]["confidential"].as_bool(), rows.as_array().unwrap().len()),
        (Some("de.bafa/DE-CR-2026-0127"), Some(true), 1),
        "{rows}"
    );

    // The web pages at the partner: the list by code, and the ruling with its parameters; a
    // confidential ruling shows its result and commitment, not its applicant.
    let web = b.node().http_addr().expect("the HTTP port is on");
    let get = |path: &'static str| async move {
        let (status, body) = tokio::task::spawn_blocking(move || comity_tests::http_get(web, path)).await.unwrap();
        (status, String::from_utf8(body).unwrap())
    };
    let (_, page) = get("/rulings?control_code=EU-DU%3A3A001.b").await;
    assert!(page.contains("data-ruling=\"de.bafa/DE-CR-2026-0115\"") && !page.contains("data-ruling=\"de.bafa/DE-CR-2026-0127\""), "{page}");
    let (_, page) = get("/rulings/de.bafa/DE-CR-2026-0115").await;
    assert!(page.contains("EU-DU:3A001.b.2") && page.contains("8.5-10.5 GHz"), "{page}");
    let (_, page) = get("/rulings/de.bafa/DE-CR-2026-0127").await;
    assert!(page.contains("confidential") && page.contains("Commitment"), "{page}");
    let (status, json) = get("/api/v1/rulings?authority=de.bafa").await;
    assert!(status.contains("200"), "{status} {json}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["rulings"].as_array().map(Vec::len), Some(2), "{json}");

    // Withdrawn in version 2: gone from the rulings in force, shown with --all, and Watch says so.
    let withdrawn = write(dir, "withdrawn.yaml", &ruling_doc("DE-CR-2026-0115", "control_codes: [\"EU-DU:3A001.b.2\"]", "withdrawn: true\n"));
    comity(&a.url()).args(["ruling", "publish", path(&withdrawn), "--key", path(&key)]).assert().success().stdout(contains("v2"));
    comity(&a.url()).args(["ruling", "ls"]).assert().success().stdout(contains("DE-CR-2026-0127")).stdout(contains("DE-CR-2026-0115").not());
    comity(&a.url()).args(["ruling", "ls", "--all"]).assert().success().stdout(contains("WITHDRAWN"));
    comity(&a.url())
        .args(["watch", "--from-start", "--until-caught-up", "--kind", "ruling"])
        .assert()
        .success()
        .stdout(contains("de.bafa ruling DE-CR-2026-0115 v2: EU-DU:3A001.b.2 (withdrawn)"));
    // After a withdrawal nothing follows.
    comity(&a.url()).args(["ruling", "publish", path(&public), "--key", path(&key)]).assert().failure().stderr(contains("is withdrawn"));
}

use crate::cli::{comity, path, write};
use predicates::prelude::PredicateBooleanExt;

const GL: &str = "OGEL-DU-REPAIR";
const REG: &str = "GBOGE2026/01234";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_under_a_general_licence_verifies_like_an_individual_licence() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let node = TestNode::start(&[ECJU]).await;
    let mut client = node.client().await;
    // A registration needs its general licence published and in force first.
    let orphan = node.sign(registration(ECJU, "GBOGE2026/00001", "uk.ecju/OGEL-NONE"));
    let refused = client.publish(orphan).await.unwrap_err();
    assert!(refused.to_string().contains("general licence uk.ecju/OGEL-NONE: no such licence is held here"), "{refused}");
    let gl = general_licence(ECJU, GL);
    let gl_v1 = node.sign(gl.clone());
    client.publish(gl_v1.clone()).await.unwrap();
    client.publish(node.sign(registration(ECJU, REG, &format!("uk.ecju/{GL}")))).await.unwrap();

    let trust = node.relying_party_trust(dir, ECJU, vec![], 0);
    let licence = format!("{ECJU}/{REG}");
    let ask = |args: &[&str]| {
        let mut cmd = comity(&node.url());
        cmd.args(["verify", &licence, "--trust", path(&trust)]).args(args);
        cmd
    };
    ask(&["--destination", "NZ", "--item", "UK:3A001.b.2", "--end-use", "repair under warranty"])
        .assert()
        .code(0)
        .stdout(contains("VALID"))
        .stdout(contains("under general licence uk.ecju/OGEL-DU-REPAIR (version 1)"))
        .stdout(contains("verified:"));
    // The licence page links the registration to its general licence.
    let web = node.node().http_addr().expect("the HTTP port is on");
    let (_, page) = tokio::task::spawn_blocking(move || comity_tests::http_get(web, "/licences/uk.ecju/GBOGE2026/01234")).await.unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("Registered under general licence") && page.contains("href=\"/licences/uk.ecju/OGEL-DU-REPAIR\""), "{page}");
    ask(&["--destination", "CN"])
        .assert()
        .code(20 + pb::Verdict::OutOfScope as i32)
        .stdout(contains("general licence uk.ecju/OGEL-DU-REPAIR: destination CN is not among the licence's destinations"));
    ask(&["--destination", "NZ", "--end-use", "military end use"]).assert().code(20 + pb::Verdict::OutOfScope as i32).stdout(contains("permitted end uses"));
    comity(&node.url()).args(["licence", "show", &licence]).assert().success().stdout(contains("registered under general licence uk.ecju/OGEL-DU-REPAIR"));

    // Offline: the token carries the general licence's proof too.
    let token = dir.join("reg.token");
    comity(&node.url()).args(["token", "export", &licence, "-o", path(&token)]).assert().success();
    let valid_token = pb::LicenceToken::decode(std::fs::read(&token).unwrap().as_slice()).unwrap();
    assert!(valid_token.parent.is_some() && valid_token.format == 3);
    comity("http://127.0.0.1:1")
        .args(["token", "verify", path(&token), "--destination", "JP", "--trust", path(&trust)])
        .assert()
        .code(0)
        .stdout(contains("VALID"));
    let mut orphaned = valid_token.clone();
    orphaned.parent = None;
    let orphaned_path = write(dir, "orphaned.token", "");
    std::fs::write(&orphaned_path, orphaned.encode_to_vec()).unwrap();
    comity("http://127.0.0.1:1")
        .args(["token", "verify", path(&orphaned_path), "--trust", path(&trust)])
        .assert()
        .failure()
        .stderr(contains("carries no proof of that general licence"));

    // The general licence suspended: the registration is refused, the reason naming it.
    let suspension = node.sign(follow_up(&gl, pb::Action::Suspend, 2, StatementId::of(&gl_v1).0));
    client.publish(suspension).await.unwrap();
    ask(&["--destination", "NZ"])
        .assert()
        .code(20 + pb::Verdict::Suspended as i32)
        .stdout(contains("general licence uk.ecju/OGEL-DU-REPAIR: licence uk.ecju/OGEL-DU-REPAIR is suspended"));
    // The registration revoked: REVOKED, as an individual licence would be.
    let reg = registration(ECJU, REG, &format!("uk.ecju/{GL}"));
    let head = node.node().registry().chain(ECJU, REG).unwrap().last().unwrap().id.0;
    client.publish(node.sign(follow_up(&reg, pb::Action::Revoke, 2, head))).await.unwrap();
    ask(&["--destination", "NZ"]).assert().code(20 + pb::Verdict::Revoked as i32).stdout(contains("licence uk.ecju/GBOGE2026/01234 was revoked"));
    // A token of now, with the general licence's proof from before its suspension: refused.
    let now_token = dir.join("now.token");
    comity(&node.url()).args(["token", "export", &licence, "-o", path(&now_token)]).assert().success();
    let mut stale_parent = pb::LicenceToken::decode(std::fs::read(&now_token).unwrap().as_slice()).unwrap();
    stale_parent.parent = valid_token.parent.clone();
    let stale_path = write(dir, "stale.token", "");
    std::fs::write(&stale_path, stale_parent.encode_to_vec()).unwrap();
    comity("http://127.0.0.1:1")
        .args(["token", "verify", path(&stale_path), "--trust", path(&trust)])
        .assert()
        .failure()
        .stderr(contains("older than the size"));
}
