//! The web verification page in a real browser: headless Debian Chromium driven through
//! ChromeDriver (WebDriver), against the demo federation started by the test. A customs
//! officer's steps: verify a VALID and a REVOKED licence by typing into the form, follow the
//! licence's stable link, upload an offline token; a screenshot is kept in
//! `target/test-artefacts/`.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use comity_client::Client;
use comity_proto::pb;
use comity_tests::{artefacts_dir, chromium_and_driver, demo_listeners, demo_suggestion, eventually};
use fantoccini::{ClientBuilder, Locator};

/// ChromeDriver on a free port, killed when dropped.
struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn browser() -> (fantoccini::Client, Driver) {
    let (chromium, chromedriver) = chromium_and_driver();
    let port = free_port();
    let child = Command::new(chromedriver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start chromedriver");
    let driver = Driver(child, port);
    let profile = tempfile::tempdir().unwrap().keep();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            // The machine's network is closed: no background connections, no first-run work.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1000,1400",
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    let url = format!("http://127.0.0.1:{}", driver.1);
    let client = eventually(Duration::from_secs(20), "chromedriver accepts a session", || {
        let (caps, url) = (caps.clone(), url.clone());
        async move { ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new()).capabilities(caps).connect(&url).await.ok() }
    })
    .await;
    (client, driver)
}

async fn verify_in_the_form(b: &fantoccini::Client, base: &str, r: &pb::VerifyRequest) -> String {
    b.goto(base).await.unwrap();
    let licence = format!("{}/{}", r.authority, r.licence_id);
    for (name, value) in [("licence", &licence), ("relying_authority", &r.relying_authority), ("destination", &r.destination), ("item", &r.control_code)] {
        b.find(Locator::Css(&format!("input[name={name}]"))).await.unwrap().send_keys(value).await.unwrap();
    }
    b.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    let verdict = b.wait().for_element(Locator::Css("p.verdict")).await.unwrap();
    verdict.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_checks_licences_and_a_token_in_a_real_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = comity_node::ops::demo::start(&tmp.path().join("demo"), demo_listeners().await, vec![Some("127.0.0.1:0".parse().unwrap()); 3])
        .await
        .expect("demo starts");
    let meti = demo.nodes.iter().find(|n| n.name == "meti").unwrap();
    let base = format!("http://{}/", meti.node.http_addr().unwrap());
    let (b, _driver) = browser().await;

    // The examples in the empty form are placeholders, greyed, never values.
    b.goto(&base).await.unwrap();
    let looks = b
        .execute("const i = document.querySelector('input[name=relying_authority]'); return [i.value, i.placeholder, getComputedStyle(i, '::placeholder').color, getComputedStyle(i).color];", vec![])
        .await
        .unwrap();
    let looks: Vec<String> = looks.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert!(looks[0].is_empty() && looks[1].starts_with("e.g. ") && looks[2] != looks[3], "placeholder, its colour, the text colour: {looks:?}");

    // A VALID licence, then a REVOKED one, read off the page as a person would.
    let valid = demo_suggestion(&demo, "VALID");
    assert_eq!(verify_in_the_form(&b, &base, &valid).await, "VALID");
    let scope = b.find(Locator::Css("ul.scope")).await.unwrap().text().await.unwrap();
    assert!(scope.contains("checked against the licence") && scope.contains("End user: not given, not checked"), "{scope}");
    let checked_at = b.find(Locator::Css("p.checked-at")).await.unwrap().text().await.unwrap();
    assert!(checked_at.starts_with("Checked at 20") && checked_at.contains("Z (UTC)"), "{checked_at}");
    let parties = b.find(Locator::Css("p.parties")).await.unwrap().text().await.unwrap();
    assert!(parties.contains(&authority_label(&valid.authority)), "{parties}");
    let reasons = b.find(Locator::Css("ul.reasons")).await.unwrap().text().await.unwrap();
    assert!(reasons.contains("recognised under jp.meti"), "{reasons}");
    let timeline = b.find(Locator::Css("ol.timeline")).await.unwrap().text().await.unwrap();
    assert!(timeline.contains("v1 GRANT"), "{timeline}");
    let shot = b.screenshot().await.unwrap();
    assert!(shot.starts_with(b"\x89PNG") && shot.len() > 10_000, "a real screenshot");
    std::fs::write(artefacts_dir().join("web-verify-valid.png"), &shot).unwrap();

    let revoked = demo_suggestion(&demo, "REVOKED");
    assert_eq!(verify_in_the_form(&b, &base, &revoked).await, "REVOKED");
    let reasons = b.find(Locator::Css("ul.reasons")).await.unwrap().text().await.unwrap();
    assert!(reasons.contains("revoked"), "{reasons}");
    // The licence's stable link, from the verdict.
    b.find(Locator::Css("p.subject a")).await.unwrap().click().await.unwrap();
    let status = b.wait().for_element(Locator::Css("p.status")).await.unwrap().text().await.unwrap();
    assert_eq!(status, "REVOKED");
    assert!(b.current_url().await.unwrap().path().starts_with(&format!("/licences/{}/{}", revoked.authority, revoked.licence_id)));

    // An offline token, uploaded through the form.
    let answer = Client::connect(&meti.node.url()).await.unwrap().verify(valid.clone()).await.unwrap();
    let token = comity_proto::token::token_from_answer(&valid.authority, &valid.licence_id, &answer).unwrap();
    let token_path = tmp.path().join("licence.token");
    std::fs::write(&token_path, token).unwrap();
    b.goto(&format!("{base}token")).await.unwrap();
    b.find(Locator::Css("input[name=token_file]")).await.unwrap().send_keys(token_path.to_str().unwrap()).await.unwrap();
    b.find(Locator::Css("input[name=relying_authority]")).await.unwrap().send_keys(&valid.relying_authority).await.unwrap();
    b.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    let verdict = b.wait().for_element(Locator::Css("p.verdict")).await.unwrap().text().await.unwrap();
    assert_eq!(verdict, "VALID");
    let freshness = b.find(Locator::Css("p.freshness")).await.unwrap().text().await.unwrap();
    assert!(freshness.contains("cannot be known"), "{freshness}");
    std::fs::write(artefacts_dir().join("web-token.png"), b.screenshot().await.unwrap()).unwrap();

    // Readable on a phone: the form fits a 390-pixel-wide window without scrolling sideways.
    b.set_window_size(390, 844).await.unwrap();
    b.goto(&base).await.unwrap();
    let overflow = b.execute("return document.documentElement.scrollWidth <= window.innerWidth;", vec![]).await.unwrap();
    assert_eq!(overflow, serde_json::Value::Bool(true), "the page scrolls sideways on a phone");
    std::fs::write(artefacts_dir().join("web-phone.png"), b.screenshot().await.unwrap()).unwrap();

    b.close().await.unwrap();
    for n in demo.nodes {
        n.node.shutdown().await.unwrap();
    }
}

/// How the pages name a demo authority: its configured name, then its id.
fn authority_label(id: &str) -> String {
    let name = comity_node::ops::demo::data::authorities().into_iter().find(|a| a.id == id).unwrap_or_else(|| panic!("{id} is not a demo authority")).name;
    format!("{name} ({id})")
}
