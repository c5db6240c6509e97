//! Control lists and crosswalks (#22 part 1) through the commands a user types: a list loaded
//! from CSV and reviewed, a decision refused for a code the review removed, a crosswalk and an
//! agreement in Wassenaar numbers that recognises an Annex I item, checked online, against the
//! proof bundle and offline in a token, and a code looked up under every regime.

use std::time::Duration;

use crate::cli::{comity, path, write};
use comity_proto::decision::fixtures::grant;
use comity_proto::pb;
use comity_proto::trust::{TrustFile, TrustedAuthority};
use comity_tests::{eventually, TestNode};
use predicates::str::contains;

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const LICENCE: &str = "DE-2026-004211";
const DAY: i64 = 86_400;

const LIST_V1: &str = "code,parent,title,unit
3A001,,Electronic items,
3A001.a,3A001,General purpose integrated circuits,
3A001.a.1,3A001.a,\"Integrated circuits designed or rated as radiation hardened, total dose 5 × 10^3 Gy (Si) or higher\",
3A001.b,3A001,Microwave or millimetre wave items,
3A001.f,3A001,Rotary position encoders,
5A002,,Information security systems,
5A002.a,5A002,Designed or modified to use cryptography for data confidentiality,
";

const REVIEW: &str = "change,code,parent,title,note
REMOVED,3A001.f,,,sunset review 2026: no longer controlled
ADDED,3A001.a.2,3A001.a,Microprocessor microcircuits rated for operation above 125 °C,Wassenaar 2025 plenary
";

const CROSSWALK: &str = "wa,eu-du,ear,note
3.A.1,3A001,3A001,
3.A.1.a.1,3A001.a.1,3A001.a.1,same scope in all three
5.A.2,5A002,5A002,
,,5A992.c,mass-market encryption: US-only
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_from_csv_refuse_a_removed_code_and_an_agreement_recognises_through_a_crosswalk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = TestNode::start(&[BAFA]).await;
    let b = TestNode::start_mirror_of(&a, "bafa", &[METI], "registry.meti.example/log", |_| {}).await;
    let (bafa_key, meti_key) = (dir.join("bafa.key"), dir.join("meti.key"));
    a.write_key(BAFA, &bafa_key);
    b.write_key(METI, &meti_key);

    // BAFA loads its Annex I list, then a review of it that removes 3A001.f.
    let v1 = write(dir, "eu-du.csv", LIST_V1);
    let review_from = comity_node::now() - 10 * DAY;
    let load = |args: &[&str]| {
        let mut cmd = comity(&a.url());
        cmd.args([
            "list",
            "load",
            "--authority",
            BAFA,
            "--regime",
            "EU-DU",
            "--title",
            "Annex I to Regulation (EU) 2021/821 (test extract)",
            "--key",
            path(&bafa_key),
        ]);
        cmd.args(args);
        cmd
    };
    load(&["--valid-from", "2020-01-01", "--file", path(&v1)])
        .assert()
        .success()
        .stdout(contains("published de.bafa's EU-DU list (categories 3, 5) version 1 (7 entries, 0 changes)"));
    let review = write(dir, "review.csv", REVIEW);
    let review_date = comity_proto::authoring::format_time(review_from);
    load(&["--valid-from", &review_date, "--review", path(&review)]).assert().success().stdout(contains("version 2 (7 entries, 2 changes)"));
    // Loading the same review again is refused: 3A001.f is no longer there to remove.
    load(&["--valid-from", &review_date, "--review", path(&review)]).assert().failure().stderr(contains("3A001.f is REMOVED but not listed"));
    comity(&a.url())
        .args(["list", "show", BAFA, "EU-DU"])
        .assert()
        .success()
        .stdout(contains("REMOVED  3A001.f"))
        .stdout(contains("sunset review 2026"))
        .stdout(contains("ADDED    3A001.a.2"));

    // A decision taken after the review may not cite the removed code; one taken before may.
    let mut client = a.client().await;
    let mut removed = grant(BAFA, "DE-2026-004299");
    removed.items[0].control_code = "3A001.f".into();
    removed.decided_at = comity_node::now() - DAY;
    removed.valid_from = removed.decided_at;
    let err = client.publish(a.sign(removed.clone())).await.unwrap_err().to_string();
    assert!(err.contains("control code EU-DU:3A001.f was removed from the list in version 2"), "{err}");
    assert!(err.contains("sunset review 2026") && err.contains("de.bafa's EU-DU list (categories 3, 5) version 2"), "{err}");
    let mut unknown = removed.clone();
    unknown.items[0].control_code = "3A001.z".into();
    let err = client.publish(a.sign(unknown)).await.unwrap_err().to_string();
    assert!(err.contains("control code EU-DU:3A001.z is not on de.bafa's EU-DU list (categories 3, 5) version 2"), "{err}");
    let mut before = removed;
    before.decided_at = review_from - DAY;
    before.valid_from = before.decided_at;
    client.publish(a.sign(before)).await.unwrap();
    // The licence METI will be asked about (3A001.a.1), and one for cryptography (5A002.a).
    client.publish(a.sign(grant(BAFA, LICENCE))).await.unwrap();
    let mut crypto = grant(BAFA, "DE-2026-004212");
    crypto.items[0].control_code = "5A002.a".into();
    client.publish(a.sign(crypto)).await.unwrap();

    // METI's crosswalk and its agreement, written in Wassenaar numbers.
    let cw = write(dir, "crosswalk.csv", CROSSWALK);
    comity(&b.url())
        .args(["crosswalk", "load", "--authority", METI, "--id", "wa-eu-us", "--title", "Wassenaar, Annex I and CCL (test extract)", "--file", path(&cw)])
        .args(["--key", path(&meti_key)])
        .assert()
        .success()
        .stdout(contains("published crosswalk jp.meti/wa-eu-us version 1 (4 equivalences)"));
    let agreement = write(
        dir,
        "agreement.yaml",
        "relying_authority: jp.meti\nrecognised_authority: de.bafa\nagreement_id: wa-electronics\nversion: 1\nregimes: [WA]\ncontrol_code_patterns: [\"WA:3.A.1.*\"]\ndestinations_allowed: [JP]\ncrosswalk: jp.meti/wa-eu-us\n",
    );
    comity(&b.url()).args(["agreement", "new", path(&agreement), "--key", path(&meti_key)]).assert().success();

    // B mirrors BAFA's log: the lists and both licences arrive with it.
    eventually(Duration::from_secs(15), "B to hold BAFA's licences", || async {
        b.node().registry().licence(BAFA, "DE-2026-004212").ok().flatten().map(|_| ())
    })
    .await;
    comity(&b.url()).args(["list", "ls"]).assert().success().stdout(contains("de.bafa    EU-DU  2")).stdout(contains("jp.meti/wa-eu-us"));
    // Watch shows them, each checked against its statement.
    comity(&b.url())
        .args(["watch", "--from-start", "--until-caught-up", "--kind", "control-list"])
        .assert()
        .success()
        .stdout(contains("de.bafa EU-DU list v2: 7 entries, 2 changes"))
        .stdout(contains("jp.meti crosswalk wa-eu-us v1: 4 equivalences"));

    // Verify at B, with the answer checked against a trust file: the proof must carry the
    // crosswalk for the client's own judgement to agree.
    let trust = TrustFile {
        authorities: vec![
            TrustedAuthority {
                id: BAFA.into(),
                keys: vec![hex::encode(a.signer(BAFA).verifying_key().to_bytes())],
                logs: vec![a.node().log_verifier().to_string()],
                ..Default::default()
            },
            TrustedAuthority {
                id: METI.into(),
                keys: vec![hex::encode(b.signer(METI).verifying_key().to_bytes())],
                logs: vec![b.node().log_verifier().to_string()],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let trust_path = write(dir, "trust.toml", &trust.to_toml());
    let mapped = "control code counted through the crosswalk: EU-DU:3A001.a.1 ≡ WA:3.A.1.a.1 (crosswalk jp.meti/wa-eu-us version 1)";
    comity(&b.url())
        .args(["verify", &format!("{BAFA}/{LICENCE}"), "--for", METI, "--destination", "JP", "--item", "EU-DU:3A001.a.1", "--trust", path(&trust_path)])
        .assert()
        .code(0)
        .stdout(contains("VALID"))
        .stdout(contains(mapped))
        .stdout(contains("verified:"));
    // 5A002.a is outside WA:3.A.1.*, through the crosswalk or not (the node's reasons: without
    // a trust file the command prints the node's word).
    comity(&b.url())
        .args(["verify", &format!("{BAFA}/DE-2026-004212"), "--for", METI, "--destination", "JP"])
        .assert()
        .code(20 + pb::Verdict::NotRecognised as i32)
        .stdout(contains("control code EU-DU:5A002.a matches none of the agreement's patterns (WA:3.A.1.*)"));

    // Offline: the token carries the crosswalk, and the same verdict follows from it alone.
    let token = dir.join("licence.token");
    comity(&b.url()).args(["token", "export", &format!("{BAFA}/{LICENCE}"), "--for", METI, "-o", path(&token)]).assert().success();
    comity("http://127.0.0.1:1")
        .args(["token", "verify", path(&token), "--for", METI, "--destination", "JP", "--item", "EU-DU:3A001.a.1", "--trust", path(&trust_path)])
        .assert()
        .success()
        .stdout(contains("VALID"))
        .stdout(contains(mapped));

    // One code, every regime: its entry in each list, its equivalents, the licences under them.
    comity(&b.url())
        .args(["code", "WA:3.A.1.a.1"])
        .assert()
        .success()
        .stdout(contains("WA:3.A.1.a.1  EU-DU:3A001.a.1"))
        .stdout(contains("de.bafa/DE-2026-004211  EU-DU:3A001.a.1"));
    comity(&a.url()).args(["code", "EU-DU:3A001.f"]).assert().success().stdout(contains("EU-DU:3A001.f  NOT LISTED: removed in version 2"));
    comity(&b.url()).args(["code", "3A001"]).assert().failure().stderr(contains("not a qualified code like EU-DU:3A001.a.1"));
}

/// A whole list larger than one statement (64 KB) is published a part at a time: a category
/// per statement, and a category too large for one, a product group per statement. Decisions
/// are checked against the part holding their code, and parts may not overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_list_too_large_for_one_statement_is_published_in_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = TestNode::start(&[BAFA]).await;
    let key = dir.join("bafa.key");
    a.write_key(BAFA, &key);
    // Categories 1 (two product groups of 200 entries with long titles) and 2.
    let mut csv = String::from("code,parent,title,unit\n");
    let long = "materials specially designed for the applications specified, with the parameters and tolerances stated in the technical notes to this entry";
    for group in ['A', 'B'] {
        for n in 1..=200 {
            csv.push_str(&format!("1{group}{n:03},,\"Item 1{group}{n:03}: {long}\",\n"));
        }
    }
    for n in 1..=50 {
        csv.push_str(&format!("2B{n:03},,Machine tool item 2B{n:03},\n"));
    }
    assert!(csv.len() > comity_proto::statement::MAX_ENVELOPE_BYTES, "the test list must not fit in one statement");
    let file = write(dir, "annex-i.csv", &csv);
    let out = comity(&a.url())
        .args(["list", "load", "--authority", BAFA, "--regime", "EU-DU", "--title", "Annex I (test)", "--valid-from", "2020-01-01", "--file", path(&file)])
        .args(["--key", path(&key)])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    for part in ["(categories 1A) version 1 (200 entries", "(categories 1B) version 1 (200 entries", "(categories 2) version 1 (50 entries"] {
        assert!(out.contains(part), "{part} not in: {out}");
    }
    // Loading the same file again publishes version 2 of each part, with no changes.
    comity(&a.url())
        .args(["list", "load", "--authority", BAFA, "--regime", "EU-DU", "--title", "Annex I (test)", "--valid-from", "2020-02-01", "--file", path(&file)])
        .args(["--key", path(&key)])
        .assert()
        .success()
        .stdout(contains("(categories 1B) version 2 (200 entries, 0 changes)"));
    comity(&a.url()).args(["list", "show", BAFA, "EU-DU"]).assert().failure().stderr(contains("published in parts (1A; 1B; 2): choose one with --part"));
    comity(&a.url()).args(["list", "show", BAFA, "EU-DU", "--part", "2"]).assert().success().stdout(contains("2B050")).stdout(contains("version 2"));

    // Each decision is checked against the part holding its code.
    let mut client = a.client().await;
    let mut d = grant(BAFA, "DE-2026-004230");
    d.items[0].control_code = "1B123".into();
    client.publish(a.sign(d.clone())).await.unwrap();
    d.licence_id = "DE-2026-004231".into();
    d.items[0].control_code = "2B051".into();
    let err = client.publish(a.sign(d)).await.unwrap_err().to_string();
    assert!(err.contains("control code EU-DU:2B051 is not on de.bafa's EU-DU list (categories 2) version 2"), "{err}");
    // A statement over categories 1 and 2 would overlap the parts held.
    let overlapping = pb::ControlList {
        authority: BAFA.into(),
        regime: pb::Regime::EuDualUse as i32,
        version: 1,
        title: "Annex I (test), categories 1 and 2".into(),
        categories: vec!["1".into(), "2".into()],
        valid_from: 1_600_000_000,
        entries: vec![pb::ControlEntry { code: "1A001".into(), title: "Item".into(), ..Default::default() }],
        issued_at: 1_600_000_000,
        ..Default::default()
    };
    let envelope = comity_proto::statement::sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::ControlList(overlapping)) }, &[&a.signer(BAFA)]);
    let err = client.publish(envelope).await.unwrap_err().to_string();
    assert!(err.contains("its categories overlap those of de.bafa's EU-DU list (categories 1A) version 2"), "{err}");
}
