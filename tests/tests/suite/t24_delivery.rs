//! Delivery receipts (#23 part 3): at the issuer's node, each decision shows which partners'
//! witnesses confirmed holding and having verified it, and when; a partner that is cut off
//! shows as behind until it comes back and confirms.

use std::time::Duration;

use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::pb;
use comity_tests::{eventually, TestNode};
use predicates::str::contains;

use crate::cli::comity;

const SITES: [(&str, &str, &str); 3] =
    [("bafa", "de.bafa", "registry.bafa.example/log"), ("meti", "jp.meti", "registry.meti.example/log"), ("ecju", "uk.ecju", "registry.ecju.example/log")];
const LICENCE: &str = "DE-2026-004711";
const WAIT: Duration = Duration::from_secs(20);

/// The issuer's delivery receipts of `version` of the licence, by witness name: delivered or not.
async fn receipts(node: &TestNode, version: u64) -> Vec<(String, bool)> {
    let answer = node.client().await.licence_answer("de.bafa", LICENCE).await.unwrap();
    let mut out: Vec<(String, bool)> = answer.deliveries.iter().filter(|d| d.version == version).map(|d| (d.witness.clone(), d.delivered)).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_follows_a_partner_that_is_cut_off_and_comes_back() {
    let mut nodes = comity_tests::mutual_federation(&SITES).await;
    let witness = |i: usize| nodes[i].node().witness_verifier().name().to_string();
    let (meti, ecju) = (witness(1), witness(2));
    let mut both = vec![(meti.clone(), true), (ecju.clone(), true)];
    both.sort();

    // v1 reaches both partners, and the issuer shows when each confirmed it.
    let mut client = nodes[0].client().await;
    let v1 = grant("de.bafa", LICENCE);
    let published = client.publish(nodes[0].sign(v1.clone())).await.unwrap();
    eventually(WAIT, "both partners to confirm v1", || async { (receipts(&nodes[0], 1).await == both).then_some(()) }).await;
    comity(&nodes[0].url())
        .args(["licence", "show", &format!("de.bafa/{LICENCE}")])
        .assert()
        .success()
        .stdout(contains("delivered to"))
        .stdout(contains(meti.as_str()))
        .stdout(contains(ecju.as_str()));
    // A partner's node does not hold the issuer's receipts.
    assert!(nodes[1].client().await.licence_answer("de.bafa", LICENCE).await.unwrap().deliveries.is_empty());

    // ECJU's node goes down: v2 reaches METI only, and ECJU shows as behind.
    nodes[2].stop().await;
    let previous: [u8; 32] = published.statement_id.as_slice().try_into().unwrap();
    let v2 = follow_up(&v1, pb::Action::Suspend, 2, previous);
    client.publish(nodes[0].sign(v2)).await.unwrap();
    let mut only_meti = vec![(meti.clone(), true), (ecju.clone(), false)];
    only_meti.sort();
    eventually(WAIT, "METI to confirm v2", || async { (receipts(&nodes[0], 2).await == only_meti).then_some(()) }).await;
    comity(&nodes[0].url())
        .args(["licence", "show", &format!("de.bafa/{LICENCE}")])
        .assert()
        .success()
        .stdout(contains(format!("not yet confirmed by {ecju} (its last cosigned checkpoint has size ")));
    let web = nodes[0].node().http_addr().expect("the HTTP port is on");
    let (_, page) = tokio::task::spawn_blocking(move || comity_tests::http_get(web, &format!("/licences/de.bafa/{LICENCE}"))).await.unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("Delivered to partners") && page.contains("data-delivered=\"false\""), "{page}");

    // ECJU comes back, catches up and confirms v2; Watch at the issuer has said so all along.
    nodes[2].start_again().await.unwrap();
    eventually(WAIT, "ECJU to confirm v2 once back", || async { (receipts(&nodes[0], 2).await == both).then_some(()) }).await;
    let watched = comity(&nodes[0].url()).args(["watch", "--from-start", "--until-caught-up", "--kind", "delivery"]).assert().success().get_output().clone();
    let out = String::from_utf8(watched.stdout).unwrap();
    let resume = String::from_utf8(watched.stderr).unwrap();
    for w in [&meti, &ecju] {
        assert!(out.contains(&format!("DELIVERY      {w} confirmed registry.bafa.example/log up to size")), "{out}");
    }
    let json = comity(&nodes[0].url()).args(["--json", "licence", "show", &format!("de.bafa/{LICENCE}")]).assert().success().get_output().stdout.clone();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let v2: Vec<&serde_json::Value> = json["deliveries"].as_array().unwrap().iter().filter(|d| d["version"] == 2).collect();
    assert!(v2.len() == 2 && v2.iter().all(|d| d["delivered"] == true && d["delay_ms"].as_i64().is_some()), "{json}");
    // The cursor carries what each witness had confirmed: resuming from it repeats nothing.
    let cursor = resume.lines().last().and_then(|l| l.split("--from '").nth(1)).map(|c| c.trim_end_matches('\'').to_string()).expect("a resume cursor");
    assert!(cursor.contains(&format!("#delivery:{meti}=")), "{cursor}");
    let again =
        comity(&nodes[0].url()).args(["watch", "--from", &cursor, "--until-caught-up", "--kind", "delivery"]).assert().success().get_output().stdout.clone();
    assert!(!String::from_utf8(again).unwrap().contains("DELIVERY "), "nothing new to deliver");
}
