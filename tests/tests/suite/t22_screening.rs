//! Screening lists (#22 part 2) through the commands a user types: an end-user alert list
//! published from CSV at the issuer's node, mirrored to a partner, screened there with a
//! Cyrillic spelling of a listed Latin name, and an entry removed with its reason.

use std::time::Duration;

use crate::cli::{comity, path};
use comity_tests::{eventually, TestNode};
use predicates::str::contains;

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";

const ALERTS: &str = "entry_id,name,aliases,countries,addresses,reason,legal_basis
EUA-2026-0001,Uralskie Elektronnye Sistemy LLC,Ural Electronic Systems,RU,\"ul. Mira 12, Yekaterinburg\",procurement of radiation-hardened ICs for military end use,Art. 4(1) Regulation (EU) 2021/821
EUA-2026-0002,Gromov Trading House,Gromov Trade;TD Gromov,RU;AE,,front company for re-export to an embargoed destination,Art. 4(1) Regulation (EU) 2021/821
EUA-2026-0003,Tehran Precision Instruments Co.,TPI,IR,,WMD procurement network,Art. 4(1) Regulation (EU) 2021/821
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_published_at_the_issuer_screens_a_cyrillic_name_at_a_partner() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = TestNode::start(&[BAFA]).await;
    let b = TestNode::start_mirror_of(&a, "bafa", &[METI], "registry.meti.example/log", |_| {}).await;
    let key = tmp.path().join("bafa.key");
    a.write_key(BAFA, &key);
    let file = tmp.path().join("alerts.csv");
    std::fs::write(&file, ALERTS).unwrap();
    comity(&a.url())
        .args(["screening", "add", "--authority", BAFA, "--id", "end-user-alert", "--title", "BAFA end-user alert list (Art. 4 Regulation (EU) 2021/821)"])
        .args(["--file", path(&file), "--key", path(&key)])
        .assert()
        .success()
        .stdout(contains("published screening list de.bafa/end-user-alert version 1 (3 added, 0 removed)"));
    // The same entries again are refused: they are listed already.
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
            path(&file),
            "--key",
            path(&key),
        ])
        .assert()
        .failure()
        .stderr(contains("EUA-2026-0001 is already listed"));

    // At the partner, once mirrored: the Cyrillic name is a strong match, with the list's reason.
    eventually(Duration::from_secs(15), "B to hold the list", || async {
        b.node().registry().trust().catalogue().screening().get("de.bafa/end-user-alert").map(|_| ())
    })
    .await;
    comity(&b.url())
        .args(["screen", "ООО «Уральские электронные системы»"])
        .assert()
        .success()
        .stdout(contains("STRONG"))
        .stdout(contains("de.bafa/end-user-alert EUA-2026-0001"))
        .stdout(contains("procurement of radiation-hardened ICs"));
    let out = comity(&b.url()).args(["--json", "screen", "Uralskiye Elektronnyye Sistemy", "--country", "RU"]).assert().success().get_output().stdout.clone();
    let answer: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(answer["matches"][0]["entry_id"], "EUA-2026-0001", "{answer}");
    assert!(answer["matches"][0]["score"].as_u64().unwrap() >= 93 && answer["matches"][0]["strong"] == true, "{answer}");
    assert_eq!(answer["entries_screened"], 3, "{answer}");
    // English words in Cyrillic letters: a weak match; another country, or another name: none.
    comity(&b.url()).args(["screen", "Громов Трейдинг Хаус"]).assert().success().stdout(contains("weak")).stdout(contains("EUA-2026-0002"));
    comity(&b.url()).args(["screen", "Uralskie Elektronnye Sistemy", "--country", "DE"]).assert().success().stdout(contains("no match"));
    comity(&b.url())
        .args(["screen", "Nagoya Aerospace KK"])
        .assert()
        .success()
        .stdout(contains("no match for \"Nagoya Aerospace KK\" in 1 list(s), 3 entries screened"));
    comity(&b.url()).args(["screen", "GmbH"]).assert().failure().stderr(contains("at least one word to screen"));
    // The web page and the JSON API say the same.
    let http = b.node().http_addr().unwrap();
    let get = |path: String| async move {
        let (status, body) = tokio::task::spawn_blocking(move || comity_tests::http_get(http, &path)).await.unwrap();
        (status, String::from_utf8(body).unwrap())
    };
    let (status, page) = get("/screen?name=%D0%9E%D0%9E%D0%9E+%D0%A3%D1%80%D0%B0%D0%BB%D1%8C%D1%81%D0%BA%D0%B8%D0%B5+%D1%8D%D0%BB%D0%B5%D0%BA%D1%82%D1%80%D0%BE%D0%BD%D0%BD%D1%8B%D0%B5+%D1%81%D0%B8%D1%81%D1%82%D0%B5%D0%BC%D1%8B".into()).await;
    assert!(status.contains("200"), "{status}");
    assert!(page.contains("data-entry=\"EUA-2026-0001\" data-strong=\"true\"") && page.contains("procurement of radiation-hardened ICs"), "{page}");
    let (status, page) = get("/screen?name=LLC".into()).await;
    assert!(status.contains("400") && page.contains("at least one word to screen"), "{status} {page}");
    let (status, json) = get("/api/v1/screen?name=Ural+Electronic+Systems&country=RU".into()).await;
    assert!(status.contains("200"), "{status} {json}");
    let answer: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!((answer["matches"][0]["entry"]["entryId"].as_str(), answer["matches"][0]["strong"].as_bool()), (Some("EUA-2026-0001"), Some(true)), "{answer}");
    comity(&b.url())
        .args(["screen", "x", "--list", "de.bafa/nothing"])
        .assert()
        .failure()
        .stderr(contains("screening list `de.bafa/nothing` is not held here"));

    // Verify with the relying party's lists (its trust file names them): a licence whose end
    // user is a listed alias is SCREENED, and the client re-scores the match before it agrees.
    let mut client = a.client().await;
    let mut screened = comity_proto::decision::fixtures::grant(BAFA, "DE-2026-004220");
    screened.end_users[0].name = "Ural Electronic Systems".into();
    client.publish(a.sign(screened)).await.unwrap();
    client.publish(a.sign(comity_proto::decision::fixtures::grant(BAFA, "DE-2026-004221"))).await.unwrap();
    let trust = comity_proto::trust::TrustFile {
        screening_lists: vec!["de.bafa/end-user-alert".into()],
        authorities: vec![comity_proto::trust::TrustedAuthority {
            id: BAFA.into(),
            keys: vec![hex::encode(a.signer(BAFA).verifying_key().to_bytes())],
            logs: vec![a.node().log_verifier().to_string()],
            ..Default::default()
        }],
        ..Default::default()
    };
    let trust_path = tmp.path().join("trust.toml");
    std::fs::write(&trust_path, trust.to_toml()).unwrap();
    comity(&a.url())
        .args(["verify", "de.bafa/DE-2026-004220", "--trust", path(&trust_path)])
        .assert()
        .code(36)
        .stdout(contains("SCREENED"))
        .stdout(contains("end user \"Ural Electronic Systems\" matches de.bafa/end-user-alert entry EUA-2026-0001 \"Ural Electronic Systems\" (score 100)"))
        .stdout(contains("verified:"));
    comity(&a.url()).args(["verify", "de.bafa/DE-2026-004221", "--trust", path(&trust_path)]).assert().code(0).stdout(contains("VALID"));
    // The end user asked about is screened too; a list the node does not hold is refused.
    comity(&a.url())
        .args(["verify", "de.bafa/DE-2026-004221", "--end-user", "Tohoku Institute of Space Optics", "--trust", path(&trust_path)])
        .assert()
        .code(0);
    let mut elsewhere = trust.clone();
    elsewhere.screening_lists = vec!["us.bis/entity-list".into()];
    std::fs::write(&trust_path, elsewhere.to_toml()).unwrap();
    comity(&a.url())
        .args(["verify", "de.bafa/DE-2026-004221", "--trust", path(&trust_path)])
        .assert()
        .failure()
        .stderr(contains("screening list `us.bis/entity-list` is not held here"));

    // The web verification page screens as `comity verify` does, against the lists of the
    // trust file the node pins.
    let pinned = tmp.path().join("pinned.toml");
    std::fs::write(&pinned, trust.to_toml()).unwrap();
    a.stop().await;
    a.reconfigure(|c| c.trust_file = Some(pinned.clone()));
    a.start_again().await.unwrap();
    let web = a.node().http_addr().expect("the HTTP port is on");
    let (_, page) =
        tokio::task::spawn_blocking(move || comity_tests::http_get(web, "/?licence=de.bafa%2FDE-2026-004220&relying_authority=de.bafa")).await.unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("data-verdict=\"SCREENED\"") && page.contains("de.bafa/end-user-alert EUA-2026-0001"), "{page}");

    // A removal, with its reason, takes the entry out of every screen.
    comity(&a.url())
        .args(["screening", "remove", "de.bafa/end-user-alert", "EUA-2026-0002", "--reason", "delisted on review", "--key", path(&key)])
        .assert()
        .success()
        .stdout(contains("version 2 (0 added, 1 removed)"));
    comity(&a.url()).args(["screen", "Gromov Trading House"]).assert().success().stdout(contains("no match"));
    comity(&a.url()).args(["screening", "ls"]).assert().success().stdout(contains("de.bafa/end-user-alert  2"));
    comity(&a.url())
        .args(["watch", "--from-start", "--until-caught-up", "--kind", "screening"])
        .assert()
        .success()
        .stdout(contains("de.bafa screening list end-user-alert v2: 0 added, 1 removed"));
}
