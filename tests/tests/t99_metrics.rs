//! Prometheus metrics on their own HTTP port: publishes by result with latency, verifications
//! by verdict, log sizes, mirror lag per path, evidence, store size and build info.

use std::time::Duration;

use comity_proto::decision::fixtures::grant;
use comity_proto::pb;
use comity_proto::statement::{sign_decision, Signer};
use comity_tests::{eventually, http_get, TestNode};

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";

/// The value of the sample `name{labels}` in a text exposition.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_node_does_and_show_its_state() {
    let a = TestNode::start_with(&[BAFA], |c| c.origin = "registry.bafa.example/log".into()).await;
    let mut client = a.client().await;
    for i in 0..3 {
        client.publish(a.sign(grant(BAFA, &format!("DE-2026-MET-{i}")))).await.unwrap();
    }
    let stranger = Signer::from_seed(&[9; 32]);
    assert!(client.publish(sign_decision(grant(BAFA, "DE-2026-MET-X"), &stranger)).await.is_err());
    let ask = |licence: &str| pb::VerifyRequest { authority: BAFA.into(), licence_id: licence.into(), relying_authority: BAFA.into(), ..Default::default() };
    client.verify(ask("DE-2026-MET-0")).await.unwrap();
    client.verify(ask("DE-2026-MET-1")).await.unwrap();
    client.verify(ask("DE-2026-NONE")).await.unwrap();
    // Asked again with nothing written meanwhile: answered from what the node kept.
    client.verify(ask("DE-2026-MET-1")).await.unwrap();

    let b = TestNode::start_mirror_of(&a, "bafa", &[METI], "registry.meti.example/log", |_| {}).await;
    eventually(Duration::from_secs(15), "B to mirror A", || async { b.node().mirror_status("bafa").filter(|s| s.size == 3).map(|_| ()) }).await;

    let scrape = |node: &TestNode| {
        let addr = node.node().metrics_addr().expect("metrics enabled");
        async move { tokio::task::spawn_blocking(move || http_get(addr, "/metrics")).await.unwrap() }
    };
    let (status, body) = scrape(&a).await;
    assert!(status.contains("200"), "{status}");
    let text = String::from_utf8(body).unwrap();
    assert_eq!(sample(&text, "comity_publishes_total{result=\"ok\"}"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "comity_publishes_total{result=\"PERMISSION_DENIED\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "comity_publish_seconds_count"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "comity_verifications_total{verdict=\"VALID\"}"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "comity_verify_cache_total{result=\"read\"}"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "comity_verify_cache_total{result=\"kept\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "comity_verifications_total{verdict=\"NOT_FOUND\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "comity_log_entries{origin=\"registry.bafa.example/log\"}"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "comity_evidence"), Some(0.0), "{text}");
    assert!(sample(&text, "comity_store_bytes").is_some_and(|b| b > 0.0), "{text}");
    assert!(text.contains(&format!("comity_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))), "{text}");

    let text = String::from_utf8(scrape(&b).await.1).unwrap();
    assert_eq!(sample(&text, "comity_log_entries{origin=\"registry.bafa.example/log\"}"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "comity_peer_lag_entries{path=\"bafa\"}"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "comity_peer_failures{path=\"bafa\"}"), Some(0.0), "{text}");
}
