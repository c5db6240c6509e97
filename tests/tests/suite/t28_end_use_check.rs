//! Post-shipment verification (#23 part 4) through the commands a user types: a confirmed check
//! logged and mirrored to a partner, a confidential one that shows its outcome only, and a
//! diverted one that in the same command suspends the licence and lists its end user for
//! screening; Stats counts the outcomes by destination and tier.

use std::time::Duration;

use comity_proto::decision::fixtures::grant;
use comity_tests::{eventually, TestNode};
use predicates::str::contains;

use crate::cli::{comity, path};

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_are_logged_mirrored_and_a_diversion_suspends_and_screens_in_one_step() {
    let tmp = tempfile::tempdir().unwrap();
    let a = TestNode::start(&[BAFA]).await;
    let b = TestNode::start_mirror_of(&a, "bafa", &[METI], "registry.meti.example/log", |_| {}).await;
    let key = tmp.path().join("bafa.key");
    a.write_key(BAFA, &key);
    let mut client = a.client().await;
    client.publish(a.sign(grant(BAFA, "DE-2026-004300"))).await.unwrap();
    client.publish(a.sign(grant(BAFA, "DE-2026-004301"))).await.unwrap();
    // An (empty) end-user alert list to add diverted end users to.
    let alerts = tmp.path().join("alerts.csv");
    std::fs::write(&alerts, "entry_id,name,aliases,countries,addresses,reason,legal_basis\nEUA-2026-0001,Gromov Trading House,,RU,,front company,Art. 4(1) Regulation (EU) 2021/821\n").unwrap();
    comity(&a.url())
        .args([
            "screening",
            "add",
            "--authority",
            BAFA,
            "--id",
            "end-user-alert",
            "--title",
            "BAFA end-user alert list",
            "--file",
            path(&alerts),
            "--key",
            path(&key),
        ])
        .assert()
        .success();

    // Confirmed, with where, by whom and what was found.
    comity(&a.url())
        .args([
            "end-use-check",
            "record",
            "de.bafa/DE-2026-004300",
            "--id",
            "DE-PSV-2026-0031",
            "--outcome",
            "confirmed",
            "--shipment",
            "MRN 26DE0000000001234",
        ])
        .args(["--checked-on", "2026-11-20", "--place", "Sendai, JP", "--checked-by", "Embassy of Germany in Tokyo (export-control attaché)"])
        .args(["--findings", "All 200 microcircuits found in the payload under integration.", "--key", path(&key)])
        .assert()
        .success()
        .stdout(contains("published end-use check de.bafa/DE-PSV-2026-0031 of de.bafa/DE-2026-004300: CONFIRMED"));
    // A confidential check carries its outcome only; findings given with it are refused.
    comity(&a.url())
        .args(["end-use-check", "record", "de.bafa/DE-2026-004300", "--id", "DE-PSV-2026-0032", "--outcome", "confirmed", "--confidential", "--findings", "x"])
        .args(["--key", path(&key)])
        .assert()
        .failure()
        .stderr(contains("findings: must be empty for a confidential check"));
    comity(&a.url())
        .args([
            "end-use-check",
            "record",
            "de.bafa/DE-2026-004300",
            "--id",
            "DE-PSV-2026-0032",
            "--outcome",
            "confirmed",
            "--confidential",
            "--key",
            path(&key),
        ])
        .assert()
        .success();
    // A licence the node does not hold is refused.
    comity(&a.url())
        .args(["end-use-check", "record", "de.bafa/DE-2026-999999", "--id", "DE-PSV-2026-0033", "--outcome", "not-found", "--place", "x", "--checked-by", "y"])
        .args(["--findings", "z", "--key", path(&key)])
        .assert()
        .failure();

    // Diverted: the check, the suspension and the screening entry, in one command.
    comity(&a.url())
        .args(["end-use-check", "record", "de.bafa/DE-2026-004301", "--id", "DE-PSV-2026-0040", "--outcome", "diverted"])
        .args(["--place", "Vladivostok, RU", "--checked-by", "Zollfahndungsamt Essen (customs investigation)"])
        .args(["--findings", "The microcircuits were re-exported to an unlicensed end user.", "--suspend", "--screening-list", "de.bafa/end-user-alert"])
        .args(["--key", path(&key)])
        .assert()
        .success()
        .stdout(contains("DIVERTED"))
        .stdout(contains("suspended de.bafa/DE-2026-004301 (version 2)"))
        .stdout(contains("(1 added, 0 removed)"));
    comity(&a.url())
        .args(["licence", "show", "de.bafa/DE-2026-004301"])
        .assert()
        .success()
        .stdout(contains("SUSPENDED"))
        .stdout(contains("reason DIVERSION_FOUND"))
        .stdout(contains("DIVERTED de.bafa/DE-PSV-2026-0040"));
    comity(&a.url()).args(["screen", "Tohoku Institute of Space Optics"]).assert().success().stdout(contains("DE-PSV-2026-0040-1"));

    // At the partner, once mirrored: the checks with the licence, Watch, and the counts.
    eventually(Duration::from_secs(15), "B to hold the checks", || async {
        let held = b.client().await.licence_answer(BAFA, "DE-2026-004301").await.ok()?;
        (!held.end_use_checks.is_empty()).then_some(())
    })
    .await;
    comity(&b.url())
        .args(["licence", "show", "de.bafa/DE-2026-004300"])
        .assert()
        .success()
        .stdout(contains("CONFIRMED de.bafa/DE-PSV-2026-0031 shipment MRN 26DE0000000001234 on 2026-11-20  Sendai, JP, by Embassy of Germany"))
        .stdout(contains("CONFIRMED de.bafa/DE-PSV-2026-0032"))
        .stdout(contains("(confidential: place, checker and findings withheld)"));
    comity(&b.url())
        .args(["watch", "--from-start", "--until-caught-up", "--kind", "end-use-check"])
        .assert()
        .success()
        .stdout(contains("de.bafa checked de.bafa/DE-2026-004301: DIVERTED"));
    let out = comity(&b.url()).args(["--json", "stats", "--authority", BAFA]).assert().success().get_output().stdout.clone();
    let stats: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let row = &stats["end_use_checks"][0];
    assert_eq!((row["destination"].as_str(), row["confirmed"].as_u64(), row["diverted"].as_u64()), (Some("JP"), Some(2), Some(1)), "{stats}");
    let web = b.node().http_addr().expect("the HTTP port is on");
    let (_, page) = tokio::task::spawn_blocking(move || comity_tests::http_get(web, "/licences/de.bafa/DE-2026-004301")).await.unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("End-use checks") && page.contains("data-outcome=\"DIVERTED\""), "{page}");
}
