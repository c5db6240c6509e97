//! No-undercut consultation (#22 part 3) through the commands a user types, between two nodes
//! that mirror each other: BAFA denies an export to a Russian end user; METI's grant of an
//! essentially identical transaction (the end user spelt differently, the item under its
//! Wassenaar number) is refused until METI consults BAFA and BAFA answers; a second grant
//! overrides the denial with reasons, which BAFA sees in Watch and a relying party in Verify.

use std::time::Duration;

use crate::cli::{comity, path, write};
use comity_tests::{eventually, TestNode};
use predicates::str::contains;

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const WAIT: Duration = Duration::from_secs(20);

const DENIAL: &str = "authority: de.bafa
licence_id: DE-2026-000481
action: deny
licence_type: individual
applicant: { name: Rheinfeld Mikrowellentechnik GmbH, country: DE }
end_users:
  - { name: OOO Uralskie Elektronnye Sistemy, country: RU, address: \"ul. Mira 12, Yekaterinburg\" }
end_use: Phased-array radar modules for civil air-traffic control
items:
  - { regime: eu_dual_use, control_code: 3A001.b.2, description: GaN MMIC power amplifiers 8.5-10.5 GHz, quantity: \"400\", unit: pcs, value: \"260000.00\", currency: EUR }
destinations: [RU]
risk_tier: 4
reasons:
  - { code: MILITARY_END_USE_RISK, legal_basis: Art. 4(1) Regulation (EU) 2021/821, text: The end user supplies radar modules to a military programme. }
application_received: 2026-08-03T09:00:00Z
decided_at: 2026-10-01T10:00:00Z
";

/// METI's draft grant of `licence_id`: the same end user in another spelling, the same item
/// under its Wassenaar number, to the same destination; `extra` is appended.
fn meti_grant(licence_id: &str, extra: &str) -> String {
    format!(
        "authority: jp.meti
licence_id: {licence_id}
action: grant
licence_type: individual
applicant: {{ name: Kansai Microwave Devices K.K., country: JP }}
end_users:
  - {{ name: Uralskiye Elektronnyye Sistemy LLC, country: RU }}
end_use: Weather radar transmitters
items:
  - {{ regime: wassenaar, control_code: 3.A.1.b.2, description: GaN MMIC power amplifiers, quantity: \"300\", unit: pcs, value: \"21000000\", currency: JPY }}
destinations: [RU]
risk_tier: 3
valid_from: 2026-11-20
valid_until: 2027-11-20
application_received: 2026-10-20T01:00:00Z
decided_at: 2026-11-20T02:00:00Z
{extra}"
    )
}

const CROSSWALK: &str = "wa,eu-du,ear,note
3.A.1.b.2,3A001.b.2,3A001.b.2,
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_undercutting_a_partner_denial_is_refused_until_consulted_and_an_override_stays_visible() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Two nodes mirroring each other: METI's mirrors BAFA's, then BAFA's is restarted mirroring METI's.
    let mut a = TestNode::start(&[BAFA]).await;
    let b = TestNode::start_mirror_of(&a, "bafa", &[METI], "registry.meti.example/log", |_| {}).await;
    a.stop().await;
    let (peer, trusted) = (b.as_peer("meti"), b.authority(METI));
    a.reconfigure(|c| {
        c.peers = vec![peer];
        c.trusted.push(trusted);
        c.mirror_interval_ms = 50;
    });
    a.start_again().await.unwrap();
    let (bafa_key, meti_key) = (dir.join("bafa.key"), dir.join("meti.key"));
    a.write_key(BAFA, &bafa_key);
    b.write_key(METI, &meti_key);

    // BAFA denies; METI holds its crosswalk of Wassenaar and Annex I numbers.
    let denial = write(dir, "deny.yaml", DENIAL);
    comity(&a.url()).args(["publish", path(&denial), "--key", path(&bafa_key)]).assert().success();
    let cw = write(dir, "crosswalk.csv", CROSSWALK);
    comity(&b.url())
        .args(["crosswalk", "load", "--authority", METI, "--id", "wa-eu-us", "--title", "Wassenaar, Annex I and CCL (test extract)", "--file", path(&cw)])
        .args(["--key", path(&meti_key)])
        .assert()
        .success();
    eventually(WAIT, "METI's node to hold BAFA's denial", || async { b.node().registry().store().licence(BAFA, "DE-2026-000481").ok().flatten() }).await;

    // The grant is refused, naming the denial, the name match and the mapping used.
    let grant = write(dir, "grant.yaml", &meti_grant("JP-2026-100017", ""));
    comity(&b.url())
        .args(["publish", path(&grant), "--key", path(&meti_key)])
        .assert()
        .failure()
        .stderr(contains("would undercut 1 partner denial"))
        .stderr(contains("de.bafa/DE-2026-000481"))
        .stderr(contains("`Uralskiye Elektronnyye Sistemy LLC` matches `OOO Uralskie Elektronnye Sistemy`"))
        .stderr(contains("WA:3.A.1.b.2 ≡ EU-DU:3A001.b.2 (crosswalk jp.meti/wa-eu-us version 1)"));
    assert!(b.client().await.head(METI, "JP-2026-100017").await.unwrap().is_none(), "a refused grant changes nothing");
    comity(&b.url()).args(["consult", "check", path(&grant)]).assert().success().stdout(contains("NOT COVERED: de.bafa/DE-2026-000481"));
    // A grant to another end user is not affected.
    let other = meti_grant("JP-2026-100018", "").replace("Uralskiye Elektronnyye Sistemy LLC", "Kamchatka Weather Service");
    let other = write(dir, "other.yaml", &other);
    comity(&b.url()).args(["publish", path(&other), "--key", path(&meti_key)]).assert().success();

    // METI consults BAFA; citing the consultation before BAFA answers is still refused.
    comity(&b.url())
        .args(["consult", "open", "--denial", "de.bafa/DE-2026-000481", "--draft", path(&grant), "--id", "JP-CONS-2026-0007"])
        .args(["--question", "The end user now supplies a civil weather service only. Do you maintain your denial?", "--key", path(&meti_key)])
        .assert()
        .success()
        .stdout(contains("opened consultation jp.meti/JP-CONS-2026-0007 on de.bafa/DE-2026-000481"));
    comity(&b.url())
        .args(["consult", "open", "--denial", "de.bafa/DE-2026-000481", "--draft", path(&grant), "--id", "JP-CONS-2026-0007"])
        .args(["--question", "Again", "--key", path(&meti_key)])
        .assert()
        .failure()
        .stderr(contains("consultation jp.meti/JP-CONS-2026-0007 already exists"));
    let cited = write(dir, "cited.yaml", &meti_grant("JP-2026-100017", "consultations: [JP-CONS-2026-0007]\n"));
    comity(&b.url())
        .args(["publish", path(&cited), "--key", path(&meti_key)])
        .assert()
        .failure()
        .stderr(contains("consultation JP-CONS-2026-0007 has no answer from de.bafa yet"));

    // BAFA sees the open consultation, in Watch and in its list, and answers.
    eventually(WAIT, "BAFA's node to hold the request", || async { b_request_at(&a).await }).await;
    comity(&a.url()).args(["consult", "ls", "--open"]).assert().success().stdout(contains("jp.meti/JP-CONS-2026-0007")).stdout(contains("open"));
    comity(&a.url())
        .args(["watch", "--from-start", "--until-caught-up", "--kind", "consultation"])
        .assert()
        .success()
        .stdout(contains("jp.meti consults de.bafa on its denial de.bafa/DE-2026-000481: consultation JP-CONS-2026-0007"));
    comity(&a.url())
        .args(["watch", "--from-start", "--until-caught-up", "--kind", "denial"])
        .assert()
        .success()
        .stdout(contains("DENIAL"))
        .stdout(contains("de.bafa/DE-2026-000481 v1 DENY"));
    // Only the denying authority answers.
    comity(&a.url())
        .args(["consult", "answer", "jp.meti/JP-CONS-2026-0009", "--position", "objection", "--text", "x", "--key", path(&bafa_key)])
        .assert()
        .failure()
        .stderr(contains("consultation jp.meti/JP-CONS-2026-0009 is not held by this node"));
    comity(&a.url())
        .args(["consult", "answer", "jp.meti/JP-CONS-2026-0007", "--position", "objection"])
        .args(["--text", "We maintain the denial: the end user's radar modules went to a military programme in 2025.", "--key", path(&bafa_key)])
        .assert()
        .success()
        .stdout(contains("published answer of de.bafa to consultation jp.meti/JP-CONS-2026-0007 (objection)"));

    // Once the answer is back at METI's node, the grant citing the consultation is accepted.
    eventually(WAIT, "METI's node to hold the answer", || async {
        let held = comity_node::consultation::held(b.node().registry().store(), METI, "JP-CONS-2026-0007").ok().flatten()?;
        let answered = held.answers_from_denier().next().is_some();
        answered.then_some(())
    })
    .await;
    comity(&b.url())
        .args(["consult", "check", path(&cited)])
        .assert()
        .success()
        .stdout(contains("covered by consultation JP-CONS-2026-0007 (answered: objection)"));
    comity(&b.url()).args(["publish", path(&cited), "--key", path(&meti_key)]).assert().success();
    comity(&b.url())
        .args(["consult", "show", "jp.meti/JP-CONS-2026-0007"])
        .assert()
        .success()
        .stdout(contains("answered: objection"))
        .stdout(contains("We maintain the denial"));

    // Another grant overrides the denial instead; the override travels with it.
    let override_doc = meti_grant(
        "JP-2026-100019",
        "undercut_override:
  denials: [de.bafa/DE-2026-000481]
  reasons:
    - { code: END_USE_VERIFIED, legal_basis: Art. 25 Foreign Exchange and Foreign Trade Act, text: On-site check in 2026 confirmed civil weather-radar production only. }
",
    );
    let overriding = write(dir, "override.yaml", &override_doc);
    comity(&b.url()).args(["publish", path(&overriding), "--key", path(&meti_key)]).assert().success();
    eventually(WAIT, "BAFA's node to hold the overriding grant", || async { a.node().registry().store().licence(METI, "JP-2026-100019").ok().flatten() }).await;
    comity(&a.url())
        .args(["watch", "--from-start", "--until-caught-up", "--authority", METI])
        .assert()
        .success()
        .stdout(contains("consulted: jp.meti/JP-CONS-2026-0007"))
        .stdout(contains("OVERRIDES the denial of de.bafa/DE-2026-000481"))
        .stdout(contains("override reason END_USE_VERIFIED"));
    comity(&b.url())
        .args(["verify", "jp.meti/JP-2026-100019"])
        .assert()
        .success()
        .stdout(contains("granted over the denial of de.bafa/DE-2026-000481 without consultation"));

    // Transparency: both sides count the consultation, METI's grants count by how they were cleared.
    let out = comity(&a.url()).args(["--json", "stats", "--authority", METI]).assert().success().get_output().stdout.clone();
    let stats: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let count = &stats["consultations"][0];
    assert_eq!((count["authority"].as_str(), count["requests"].as_u64(), count["answered"].as_u64()), (Some(METI), Some(1), Some(1)), "{stats}");
    assert_eq!((count["consulted_grants"].as_u64(), count["overrides"].as_u64()), (Some(1), Some(1)), "{stats}");
    let out = comity(&a.url()).args(["--json", "stats", "--authority", BAFA]).assert().success().get_output().stdout.clone();
    let stats: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((stats["consultations"][0]["answers_given"].as_u64(), stats["consultations"][0]["objections"].as_u64()), (Some(1), Some(1)), "{stats}");

    // The web page and its JSON.
    let web = b.node().http_addr().expect("the HTTP port is on");
    let (_, body) = tokio::task::spawn_blocking(move || comity_tests::http_get(web, "/consultations")).await.unwrap();
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("data-consultation=\"jp.meti/JP-CONS-2026-0007\"") && page.contains("Answered: objection"), "{page}");
    let (_, body) = tokio::task::spawn_blocking(move || comity_tests::http_get(web, "/api/v1/consultations?authority=de.bafa")).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["consultations"][0]["request"]["consultationId"], "JP-CONS-2026-0007", "{json}");

    // The applicant appeals BAFA's denial: under appeal, the denial still stands.
    let appeal = write(
        dir,
        "appeal.yaml",
        "authority: de.bafa\nlicence_id: DE-2026-000481\naction: appeal_lodged\nreasons:\n  - { code: APPEAL, legal_basis: § 79 VwGO, text: The applicant contests the diversion finding. }\napplication_received: 2026-08-03T09:00:00Z\ndecided_at: 2026-11-25T10:00:00Z\n",
    );
    comity(&a.url()).args(["publish", path(&appeal), "--key", path(&bafa_key)]).assert().success();
    eventually(WAIT, "METI's node to hold the appeal", || async {
        let s = b.node().registry().store().licence(BAFA, "DE-2026-000481").ok().flatten()?;
        (s.status == comity_proto::pb::LicenceStatus::UnderAppeal as i32).then_some(())
    })
    .await;
    let again = write(dir, "again.yaml", &meti_grant("JP-2026-100020", ""));
    comity(&b.url())
        .args(["publish", path(&again), "--key", path(&meti_key)])
        .assert()
        .failure()
        .stderr(contains("would undercut 1 partner denial"))
        .stderr(contains("de.bafa/DE-2026-000481"));
}

async fn b_request_at(a: &TestNode) -> Option<()> {
    comity_node::consultation::held(a.node().registry().store(), METI, "JP-CONS-2026-0007").ok().flatten().map(|_| ())
}
