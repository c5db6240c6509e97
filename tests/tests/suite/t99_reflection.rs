//! Stock gRPC clients against a live node, knowing nothing but what server reflection tells them:
//! grpcurl 1.8.6 and Python's grpcio-reflection (both speak reflection v1alpha only), a v1
//! request, and grpc.health.v1 answering SERVING for every service. The tools come from
//! `scripts/install-test-tools`.

use std::path::PathBuf;
use std::process::Command;

use comity_proto::decision::fixtures::grant;
use comity_tests::TestNode;

const BAFA: &str = "de.bafa";

/// Every service a node serves, as reflection lists them (sorted).
const SERVED: [&str; 6] = [
    "comity.v1.Federation",
    "comity.v1.Log",
    "comity.v1.Registry",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// A tool in the test venv (`target/test-venv`, made by `scripts/install-test-tools`).
fn venv_tool(name: &str, step: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-venv/bin").join(name);
    assert!(path.exists(), "{} is missing: run scripts/install-test-tools (its step scripts/test-tools/{step} installs it)", path.display());
    path
}

/// Runs `command` off the runtime (the node serves meanwhile); its stdout, or a panic with all
/// it said.
async fn run(mut command: Command) -> String {
    let shown = format!("{command:?}");
    let out = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap_or_else(|e| panic!("{shown}: {e}"));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{shown} failed ({}):\n{stdout}\n{stderr}", out.status);
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_reflection_lists_every_service_over_v1alpha_and_v1_and_health_serves_each() {
    let node = TestNode::start(&[BAFA]).await;
    let mut python = Command::new(venv_tool("python", "20-python.sh"));
    python.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/reflect.py")).arg(node.node().addr().to_string());
    let seen: serde_json::Value = serde_json::from_str(&run(python).await).expect("reflect.py prints JSON");
    assert_eq!(seen["v1alpha"], serde_json::json!(SERVED), "{seen}");
    assert_eq!(seen["v1"], serde_json::json!(SERVED), "{seen}");
    for service in std::iter::once("").chain(SERVED) {
        assert_eq!(seen["health"][service], "SERVING", "health of `{service}`: {seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_the_services_checks_health_and_searches_as_the_readme_shows() {
    let node = TestNode::start(&[BAFA]).await;
    node.client().await.publish(node.sign(grant(BAFA, "DE-2026-CURL-1"))).await.unwrap();
    let addr = node.node().addr().to_string();
    let grpcurl = |args: &[&str]| {
        let mut c = Command::new(venv_tool("grpcurl", "41-grpcurl.sh"));
        c.arg("-plaintext").args(args);
        c
    };

    let listed = run(grpcurl(&[&addr, "list"])).await;
    assert_eq!(listed.lines().collect::<Vec<_>>(), SERVED, "{listed}");
    for service in ["comity.v1.Federation", "comity.v1.Log", "comity.v1.Registry"] {
        let request = format!(r#"{{"service":"{service}"}}"#);
        let health: serde_json::Value = serde_json::from_str(&run(grpcurl(&["-d", &request, &addr, "grpc.health.v1.Health/Check"])).await).unwrap();
        assert_eq!(health["status"], "SERVING", "{service}: {health}");
    }
    let found: serde_json::Value = serde_json::from_str(&run(grpcurl(&["-d", r#"{"destination":"JP"}"#, &addr, "comity.v1.Registry/Search"])).await).unwrap();
    assert_eq!(found["licences"][0]["licenceId"], "DE-2026-CURL-1", "{found}");
}
