//! Prometheus metrics on their own HTTP port: publishes by result with latency, verifications
//! by verdict, every RPC by method and code, the process, log sizes, mirror lag per path,
//! evidence, store size and build info; in the Prometheus text format unless OpenMetrics is
//! asked for; and `promtool check metrics` (from `scripts/install-test-tools`) finds nothing
//! wrong with them.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use comity_proto::decision::fixtures::grant;
use comity_proto::pb;
use comity_proto::statement::{sign_decision, Signer};
use comity_tests::{demo_listeners, eventually, TestNode};

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";

/// The value of the sample `name{labels}` in a text exposition.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
}

/// `GET /metrics` with `accept` as the Accept header (if any): (Content-Type, body).
fn scrape_as(addr: SocketAddr, accept: Option<&str>) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n").expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("header end");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let content_type = head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.trim().to_string()));
    (content_type.expect("a Content-Type"), body.to_string())
}

/// The node's metrics as Prometheus scrapes them by default (text format 0.0.4).
async fn scrape(node: &TestNode) -> String {
    let addr = node.node().metrics_addr().expect("metrics enabled");
    let (content_type, text) = tokio::task::spawn_blocking(move || scrape_as(addr, None)).await.unwrap();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    text
}

/// Fails the test with promtool's complaints if `promtool check metrics` finds any in `text`.
fn promtool_check(text: &str) {
    let promtool = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("promtool")).find(|p| p.is_file()))
        .expect("promtool not found: run scripts/install-test-tools (its step scripts/test-tools/40-promtool.sh installs Debian's prometheus package)");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed promtool");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{}{}\n--- the metrics ---\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The label set of one RPC in the grpc_server_* families.
fn rpc(kind: &str, service: &str, method: &str) -> String {
    format!("grpc_type=\"{kind}\",grpc_service=\"{service}\",grpc_method=\"{method}\"")
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

    let text = scrape(&a).await;
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
    // The engine's memory: the publishes are in a memtable until it is flushed to a segment.
    assert!(sample(&text, "comity_store_memory_bytes{part=\"memtables\"}").is_some_and(|b| b > 0.0), "{text}");
    assert!(sample(&text, "comity_store_memory_bytes{part=\"bloom_filters\"}").is_some(), "{text}");
    assert!(sample(&text, "comity_store_segments").is_some(), "{text}");
    assert!(text.contains(&format!("comity_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))), "{text}");
    // Every RPC by method and code, as go-grpc-prometheus counts them.
    let publish = rpc("unary", "comity.v1.Registry", "Publish");
    assert_eq!(sample(&text, &format!("grpc_server_handled_total{{{publish},grpc_code=\"OK\"}}")), Some(3.0), "{text}");
    assert_eq!(sample(&text, &format!("grpc_server_handled_total{{{publish},grpc_code=\"PermissionDenied\"}}")), Some(1.0), "{text}");
    assert_eq!(sample(&text, &format!("grpc_server_handling_seconds_count{{{publish}}}")), Some(4.0), "{text}");
    let verify = rpc("unary", "comity.v1.Registry", "Verify");
    assert_eq!(sample(&text, &format!("grpc_server_handled_total{{{verify},grpc_code=\"OK\"}}")), Some(4.0), "{text}");
    // B's mirror reads A's log through a stream.
    let entries = rpc("server_stream", "comity.v1.Log", "GetEntries");
    assert!(sample(&text, &format!("grpc_server_handled_total{{{entries},grpc_code=\"OK\"}}")).is_some_and(|n| n >= 1.0), "{text}");
    // The process, from /proc.
    assert!(sample(&text, "process_resident_memory_bytes").is_some_and(|b| b > 0.0), "{text}");
    assert!(sample(&text, "process_virtual_memory_bytes").is_some_and(|b| b > 0.0), "{text}");
    assert!(sample(&text, "process_open_fds").is_some_and(|n| n > 0.0), "{text}");
    assert!(sample(&text, "process_max_fds").is_some_and(|n| n > 0.0), "{text}");
    assert!(sample(&text, "process_cpu_seconds_total").is_some_and(|s| s > 0.0), "{text}");
    assert!(sample(&text, "process_start_time_seconds").is_some_and(|t| t > 1.5e9), "{text}");
    promtool_check(&text);

    // OpenMetrics when asked for, as Prometheus asks.
    let addr = a.node().metrics_addr().unwrap();
    let (content_type, open) =
        tokio::task::spawn_blocking(move || scrape_as(addr, Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"))).await.unwrap();
    assert_eq!(content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(open.ends_with("# EOF\n") && open.contains("# TYPE comity_publishes counter\n"), "{open}");
    assert!(!text.contains("# EOF") && text.contains("# TYPE comity_publishes_total counter\n"), "{text}");
    assert_eq!(sample(&open, "comity_publishes_total{result=\"ok\"}"), Some(3.0), "{open}");

    let text = scrape(&b).await;
    assert_eq!(sample(&text, "comity_log_entries{origin=\"registry.bafa.example/log\"}"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "comity_peer_lag_entries{path=\"bafa\"}"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "comity_peer_failures{path=\"bafa\"}"), Some(0.0), "{text}");
    promtool_check(&text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_shows_from_the_start_at_zero() {
    let node = TestNode::start(&[BAFA]).await;
    let text = scrape(&node).await;
    for result in ["ok", "INVALID_ARGUMENT", "PERMISSION_DENIED", "FAILED_PRECONDITION", "UNAVAILABLE"] {
        assert_eq!(sample(&text, &format!("comity_publishes_total{{result=\"{result}\"}}")), Some(0.0), "{result}: {text}");
    }
    for verdict in ["VALID", "NOT_FOUND", "REVOKED", "NOT_RECOGNISED", "FORKED", "STALE"] {
        assert_eq!(sample(&text, &format!("comity_verifications_total{{verdict=\"{verdict}\"}}")), Some(0.0), "{verdict}: {text}");
    }
    for cache in ["kept", "read", "refreshed", "off"] {
        assert_eq!(sample(&text, &format!("comity_verify_cache_total{{result=\"{cache}\"}}")), Some(0.0), "{cache}: {text}");
    }
    for (kind, service, method) in [
        ("unary", "comity.v1.Registry", "Publish"),
        ("server_stream", "comity.v1.Registry", "Watch"),
        ("unary", "comity.v1.Federation", "Status"),
        ("server_stream", "comity.v1.Log", "GetEntries"),
        ("unary", "grpc.health.v1.Health", "Check"),
        ("bidi_stream", "grpc.reflection.v1.ServerReflection", "ServerReflectionInfo"),
    ] {
        let labels = rpc(kind, service, method);
        assert_eq!(sample(&text, &format!("grpc_server_handled_total{{{labels},grpc_code=\"OK\"}}")), Some(0.0), "{labels}: {text}");
        assert_eq!(sample(&text, &format!("grpc_server_handling_seconds_count{{{labels}}}")), Some(0.0), "{labels}: {text}");
    }
    promtool_check(&text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_counts_the_publishes_that_filled_its_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let local = Some("127.0.0.1:0".parse().unwrap());
    let demo =
        comity_node::ops::demo::start_with_metrics(&tmp.path().join("demo"), demo_listeners().await, vec![None; 3], vec![local; 3]).await.expect("demo starts");
    for site in &demo.nodes {
        let addr = site.node.metrics_addr().expect("metrics enabled");
        let text = tokio::task::spawn_blocking(move || scrape_as(addr, None)).await.unwrap().1;
        // Everything in a node's own log was published there.
        let own = site.node.log_verifier().name().to_string();
        let entries = sample(&text, &format!("comity_log_entries{{origin=\"{own}\"}}")).unwrap_or_else(|| panic!("{}: no own log size\n{text}", site.name));
        assert!(entries > 0.0, "{}: {text}", site.name);
        assert_eq!(sample(&text, "comity_publishes_total{result=\"ok\"}"), Some(entries), "{}: {text}", site.name);
        assert_eq!(sample(&text, "comity_publish_seconds_count"), Some(entries), "{}: {text}", site.name);
        promtool_check(&text);
    }
}
