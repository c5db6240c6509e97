//! Usage and drawdown (#23 part 1, docs/usage-and-drawdown.md) through the commands a customs
//! office and a relying party type, on the demo federation: two customs offices of two
//! countries writing off against one balance at once never overspend it; an exhausted licence
//! is refused for a further shipment online and offline; a quantity beyond the balance is
//! refused; the issuer's node refuses what customs may not write off; a partner's node relays
//! its customs' write-off to the issuer's.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use comity_tests::{bin_path, start_demo};
use predicates::str::contains;

use crate::cli::{comity, path, write};

/// A shipment written off with `key` (a customs key file) at the node `url`, as its own process.
fn write_off(url: &str, licence: &str, declaration: &str, quantity: &str, key: &Path) -> Command {
    let mut cmd = Command::new(bin_path("comity"));
    cmd.env("COMITY_NODE", url).env_remove("COMITY_TRUST");
    cmd.args(["write-off", licence, "--declaration", declaration, "--item", &format!("1={quantity}"), "--destination", "KR"])
        .args(["--customs-office", "customs office of the test", "--key", path(key)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A BAFA grant of `quantity` pcs of a 3A001.a.1 item to Korea (the repository's example).
fn grant_document(dir: &Path, licence_id: &str, quantity: &str) -> std::path::PathBuf {
    let example = std::fs::read_to_string(comity_tests::examples_dir().join("grant.yaml")).unwrap();
    let text = example.replace("DE-2026-009001", licence_id).replace("quantity: \"200\"", &format!("quantity: \"{quantity}\""));
    assert!(text.contains(licence_id) && text.contains(&format!("quantity: \"{quantity}\"")), "the example grant changed");
    write(dir, &format!("{licence_id}.yaml"), &text)
}

#[test]
fn concurrent_customs_never_overspend_and_an_exhausted_licence_is_refused_online_and_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let (_demo, nodes) = start_demo(tmp.path());
    let (bafa, meti) = (&nodes[0], &nodes[2]);
    let demo = tmp.path().join("comity-demo");
    let trust = demo.join("trust.toml");
    let keys = demo.join("keys");
    let (german_customs, japan_customs) = (keys.join("de.bafa.customs.key"), keys.join("jp.meti.customs.key"));

    // Many rounds: each a fresh licence of 9 pcs; German and Japanese customs (Japan relying
    // on its recognition agreement with BAFA) write off 2 pcs three times each, all at once.
    // Exactly four fit; every other write-off is refused for the balance, never accepted.
    for round in 0..5 {
        let licence_id = format!("DE-2026-0095{round:02}");
        let licence = format!("de.bafa/{licence_id}");
        comity(&bafa.url).args(["publish", path(&grant_document(tmp.path(), &licence_id, "9")), "--key", path(&keys.join("de.bafa.key"))]).assert().success();
        let children: Vec<_> = (0..6)
            .map(|i| {
                let key = if i % 2 == 0 { &german_customs } else { &japan_customs };
                write_off(&bafa.url, &licence, &format!("26DE{round:02}{i:02}0000000E1"), "2", key).spawn().unwrap()
            })
            .collect();
        let outputs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let accepted = outputs.iter().filter(|o| o.status.success()).count();
        for o in outputs.iter().filter(|o| !o.status.success()) {
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(stderr.contains("write-off refused: item 1 (EU-DU:3A001.a.1) has 1 pcs left of 9 pcs"), "round {round}: {stderr}");
        }
        assert_eq!(accepted, 4, "round {round}: {} accepted", accepted);
        let raced = outputs.iter().filter(|o| String::from_utf8_lossy(&o.stdout).contains("signed ")).count();
        eprintln!("round {round}: {raced} of the accepted write-offs were signed again after losing a race");
        comity(&bafa.url)
            .args(["licence", "show", &licence])
            .assert()
            .success()
            .stdout(contains("balance       item 1 EU-DU:3A001.a.1: 1 of 9 pcs left"))
            .stdout(contains("(4 shipments)"))
            .stdout(contains("(customs of jp.meti)"))
            .stdout(contains("(customs of de.bafa)"));
    }

    // The last piece uses the licence up: EXHAUSTED, and a further shipment is refused.
    let licence = "de.bafa/DE-2026-009504";
    let last = write_off(&bafa.url, licence, "26DE04990000000E1", "1", &german_customs).output().unwrap();
    assert!(last.status.success(), "{}", String::from_utf8_lossy(&last.stderr));
    assert!(String::from_utf8_lossy(&last.stdout).contains("is now EXHAUSTED"));
    let further = write_off(&bafa.url, licence, "26DE04990000001E1", "1", &german_customs).output().unwrap();
    assert!(String::from_utf8_lossy(&further.stderr).contains("WRITE_OFF is not allowed when the licence is EXHAUSTED"), "{further:?}");
    // Online, checked against the trust file, at the partner's node once mirrored.
    let verify_at_meti =
        || comity(&meti.url).args(["verify", licence, "--for", "jp.meti", "--destination", "KR", "--quantity", "1", "--trust", path(&trust)]).assert();
    let mut waited = 0;
    while !String::from_utf8_lossy(&verify_at_meti().get_output().stdout).starts_with("EXHAUSTED") {
        waited += 1;
        assert!(waited < 300, "METI's node never showed the licence exhausted");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    verify_at_meti().code(37).stdout(contains("exhausted: customs wrote off every licensed quantity in 5 shipments"));
    // Offline: a token exported now proves it exhausted; one exported before cannot know.
    let token = tmp.path().join("exhausted.token");
    comity(&meti.url).args(["token", "export", licence, "--for", "jp.meti", "-o", path(&token)]).assert().success();
    comity("http://127.0.0.1:9")
        .args(["token", "verify", path(&token), "--for", "jp.meti", "--destination", "KR", "--trust", path(&trust)])
        .assert()
        .code(37)
        .stdout(contains("EXHAUSTED"))
        .stdout(contains("item 1 EU-DU:3A001.a.1: 0 of 9 pcs left"));

    // A quantity beyond the balance: OVER_BALANCE online and offline; within it: VALID.
    let drawn = "de.bafa/DE-2026-007315";
    let ask = |quantity: &str| {
        comity(&meti.url)
            .args(["verify", drawn, "--for", "jp.meti", "--destination", "JP", "--item", "EU-DU:3A001.b.2", "--quantity", quantity, "--trust", path(&trust)])
            .assert()
    };
    ask("16").code(38).stdout(contains("item 1 (EU-DU:3A001.b.2) has 15 pcs left of 40 pcs (after 1 shipment written off); 16 pcs asked"));
    ask("15").success().stdout(contains("15 pcs fits the balance; 15 of 40 pcs remain"));
    let drawn_token = tmp.path().join("drawn.token");
    comity(&meti.url).args(["token", "export", drawn, "--for", "jp.meti", "-o", path(&drawn_token)]).assert().success();
    comity("http://127.0.0.1:9")
        .args(["token", "verify", path(&drawn_token), "--quantity", "16", "--trust", path(&trust)])
        .assert()
        .code(38)
        .stdout(contains("has 15 pcs left of 40 pcs"));

    // What customs may not write off, each refused with its reason and nothing stored.
    let refused = |args: &[&str], key: &Path, why: &str| {
        comity(&bafa.url)
            .args(["write-off", drawn, "--declaration", "26DE004852009999E9", "--customs-office", "DE004852 Zollamt Frankfurt am Main Flughafen"])
            .args(args)
            .args(["--key", path(key)])
            .assert()
            .failure()
            .stderr(contains(why));
    };
    refused(
        &["--item", "1=1", "--destination", "JP", "--transit", "RU"],
        &german_customs,
        "transit through RU is not permitted by the licence (transit countries: KR)",
    );
    refused(&["--item", "1=1", "--destination", "CN"], &german_customs, "destination CN is not among the licence's destinations (JP)");
    refused(&["--item", "2=1", "--destination", "JP"], &german_customs, "the licence has no item 2");
    refused(&["--item", "1=1", "--destination", "JP"], &keys.join("de.bafa.key"), "is a LICENSING key of de.bafa; this statement needs a CUSTOMS key");
    refused(&["--item", "1=1", "--destination", "JP"], &keys.join("uk.ecju.key"), "is a LICENSING key of uk.ecju; this statement needs a CUSTOMS key");
    // A partner's customs writes off only what its authority recognises: METI's agreement with
    // BAFA covers no 6A005 item (the demo's NOT_RECOGNISED case).
    comity(&bafa.url)
        .args(["write-off", "de.bafa/DE-2024-008951", "--declaration", "2611-NRT-004499", "--item", "1=1", "--destination", "SG"])
        .args(["--customs-office", "Tokyo Customs, Narita Airport Branch", "--key", path(&japan_customs)])
        .assert()
        .code(4)
        .stderr(contains("jp.meti's customs cannot write shipments off against de.bafa/DE-2024-008951: jp.meti recognises de.bafa"));
    comity(&bafa.url).args(["licence", "show", drawn]).assert().success().stdout(contains("15 of 40 pcs left")).stdout(contains("(version 2,"));
    // Japan Customs publishes at METI's node: it relays the write-off to BAFA's, which
    // sequences it and answers with the new balance and the receipt in BAFA's log.
    comity(&meti.url)
        .args(["write-off", drawn, "--declaration", "2611-NRT-004417", "--item", "1=1", "--destination", "JP"])
        .args(["--customs-office", "Tokyo Customs, Narita Airport Branch", "--key", path(&japan_customs)])
        .assert()
        .success()
        .stdout(contains("as version 3"))
        .stdout(contains("logged at registry.bafa.example/log#"))
        .stdout(contains("item 1 EU-DU:3A001.b.2: 14 of 40 pcs left"));

    // A monitor auditing BAFA's log checks each write-off's signature, Japan Customs' too, with
    // METI's key set (logged in METI's log) checked against METI's pinned roots.
    comity(&bafa.url).args(["log", "audit", "--state", path(&tmp.path().join("audit.json")), "--keys", path(&trust)]).assert().success();

    // Watch and the licence page show the write-offs.
    comity(&meti.url)
        .args(["watch", "--from-start", "--until-caught-up", "--kind", "write-off"])
        .assert()
        .success()
        .stdout(contains("de.bafa/DE-2026-009504 v6 WRITE_OFF 26DE04990000000E1 by de.bafa customs to KR  ISSUED -> EXHAUSTED"));
    let (head, body) = comity_tests::http_get(bafa.web.parse().unwrap(), "/licences/de.bafa/DE-2026-007315");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let page = String::from_utf8_lossy(&body);
    assert!(page.contains(r#"<tr data-item="1" data-remaining="14">"#), "{page}");
    assert!(page.contains(r#"data-declaration="2611-NRT-004417""#), "{page}");
    assert!(page.contains(r#"data-declaration="26DE004852000731E4""#), "{page}");
}
