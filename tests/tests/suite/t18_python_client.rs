//! The Python client (`client/python`) against the demo federation: its pytest suite (the
//! fixed vectors of docs/signing.md, and reading, checking and publishing at a live node) and
//! the tour example, run with the stock Python tooling `scripts/install-test-tools` puts in
//! `target/test-venv`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use comity_client::Client;
use comity_tests::demo_listeners;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The venv's Python, holding a comity-client built from the current sources.
fn python() -> PathBuf {
    let python = repo().join("target/test-venv/bin/python");
    assert!(python.exists(), "no Python venv at {}: run scripts/install-test-tools", python.display());
    let current = Command::new("bash").args(["scripts/test-tools/50-python-client.sh", "--check"]).current_dir(repo()).status().expect("run bash");
    assert!(current.success(), "the Python client in target/test-venv is missing or older than client/python and proto/: run scripts/install-test-tools");
    python
}

/// Runs `python ARGS` from the repository root with `env`, off the runtime's threads (the demo
/// nodes run on them), and asserts it succeeded.
async fn run(python: &Path, args: &[&str], env: &[(&str, String)]) -> String {
    let mut command = Command::new(python);
    command.args(args).current_dir(repo()).env("PYTHONDONTWRITEBYTECODE", "1");
    for (name, value) in env {
        command.env(name, value);
    }
    let shown = format!("python {}", args.join(" "));
    let Output { status, stdout, stderr } = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("run python");
    let (stdout, stderr) = (String::from_utf8_lossy(&stdout).to_string(), String::from_utf8_lossy(&stderr));
    assert!(status.success(), "`{shown}` failed ({status}):\n{stdout}\n{stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_tests_and_tour_pass_against_the_demo() {
    let python = python();
    let tmp = tempfile::tempdir().unwrap();
    let demo = comity_node::ops::demo::start(&tmp.path().join("demo"), demo_listeners().await, vec![None; 3]).await.expect("demo starts");
    let bafa = demo.nodes.iter().find(|n| n.name == "bafa").expect("bafa node");
    let env = [
        ("COMITY_NODE", bafa.node.url()),
        ("COMITY_KEY", demo.dir.join("keys/de.bafa.key").display().to_string()),
        ("COMITY_TRUST", demo.dir.join("trust.toml").display().to_string()),
    ];

    let report = run(&python, &["-m", "pytest", "-v", "-p", "no:cacheprovider", "client/python/tests"], &env).await;
    assert!(report.contains("test_node.py::test_publish_a_decision_signed_in_python_and_check_its_receipt PASSED"), "{report}");
    assert!(report.contains("test_vectors.py::test_body_pae_signature_and_envelope_match_the_vectors PASSED"), "{report}");
    assert!(!report.contains("SKIPPED") && !report.contains("skipped"), "no test may be skipped here:\n{report}");

    let tour = run(&python, &["client/python/examples/tour.py", "--node", &env[0].1, "--key", &env[1].1, "--trust", &env[2].1], &[]).await;
    assert!(tour.contains("checkpoint signature verified") && tour.contains("receipt verified"), "{tour}");
    // What the tour published is at the node.
    let published = tour.lines().find_map(|l| l.strip_prefix("published ")).expect("a `published` line");
    let (authority, licence_id) = published.split_whitespace().next().and_then(|l| l.split_once('/')).expect("AUTHORITY/LICENCE");
    let licence = Client::connect(&bafa.node.url()).await.unwrap().licence(authority, licence_id).await.expect("the tour's licence at the bafa node");
    assert_eq!(licence.summary.version, 1);
}
