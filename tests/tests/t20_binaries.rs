//! Process-level tests: the real `comity-node` and `comity` binaries, as a user would run them.

use std::path::Path;

use assert_cmd::Command;
use comity_client::Client;
use comity_proto::decision::fixtures::grant;
use comity_proto::keyfile::KeyFile;
use comity_proto::statement::{sign_decision, StatementId};
use comity_tests::{bin_path, examples_dir, NodeProcess};
use predicates::str::contains;

fn comity(url: &str) -> Command {
    let mut cmd = Command::new(bin_path("comity"));
    cmd.env("COMITY_NODE", url);
    cmd
}

fn init(data_dir: &Path) {
    Command::new(bin_path("comity-node"))
        .args(["init", "--data-dir"])
        .arg(data_dir)
        .args(["--authority", "de.bafa=Federal Office for Economic Affairs and Export Control"])
        .assert()
        .success()
        .stdout(contains("authority de.bafa: signing key"));
}

#[test]
fn init_run_publish_tamper_kill_9_and_restart_without_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("node");
    init(&data);
    let key_path = data.join("keys/de.bafa.key");
    let data_arg = data.to_str().unwrap();
    // init refuses to run twice on the same directory.
    Command::new(bin_path("comity-node")).args(["init", "--data-dir", data_arg]).assert().failure().stderr(contains("already exists"));

    let node = NodeProcess::spawn(&["--data-dir", data_arg], &tmp.path().join("node1.log"));
    let url = node.url().to_string();
    let examples = examples_dir();

    // Sign and publish a document in one step (version and previous come from the node).
    comity(&url)
        .arg("publish")
        .arg(examples.join("grant.yaml"))
        .arg("--key")
        .arg(&key_path)
        .assert()
        .success()
        .stdout(contains("published de.bafa/DE-2026-009001 v1 GRANT"))
        .stdout(contains("licence is now"));

    // Sign to a file, tamper with one bit of the signature: refused with exit code 3.
    let signed = tmp.path().join("amend.signed");
    comity(&url)
        .arg("sign")
        .arg(examples.join("amend.yaml"))
        .arg("--key")
        .arg(&key_path)
        .arg("-o")
        .arg(&signed)
        .assert()
        .success()
        .stdout(contains("signed de.bafa/DE-2026-009001 v2 AMEND"));
    let mut bytes = std::fs::read(&signed).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let tampered = tmp.path().join("tampered.signed");
    std::fs::write(&tampered, &bytes).unwrap();
    comity(&url).arg("publish").arg(&tampered).assert().code(3).stderr(contains("does not verify"));
    comity(&url).arg("publish").arg(&signed).assert().success().stdout(contains("v2 AMEND"));
    comity(&url).arg("publish").arg(&signed).assert().success().stdout(contains("already published"));
    comity(&url)
        .arg("publish")
        .arg(examples.join("suspend.yaml"))
        .arg("--key")
        .arg(&key_path)
        .assert()
        .success()
        .stdout(contains("licence is now SUSPENDED"));

    comity(&url)
        .args(["licence", "show", "de.bafa/DE-2026-009001"])
        .assert()
        .success()
        .stdout(contains("SUSPENDED"))
        .stdout(contains("EU-DU:3A001.a.1"))
        .stdout(contains("v3   SUSPEND"));
    let out = comity(&url).args(["--json", "search", "--destination", "KR"]).output().unwrap();
    assert!(out.status.success());
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found[0]["licence"], "de.bafa/DE-2026-009001");
    assert_eq!(found[0]["status"], "SUSPENDED");

    // Failure classes have distinct exit codes.
    comity(&url).args(["licence", "show", "de.bafa/DE-2099-000001"]).assert().code(6).stderr(contains("not found"));
    comity(&url)
        .arg("publish")
        .arg(examples.join("suspend.yaml"))
        .assert()
        .code(3)
        .stderr(contains("--key"));

    // Load from many connections, then kill -9 while it may still be writing. At most 100 in
    // flight: one client address may have 128 (limits.concurrency_per_client).
    let key = KeyFile::read(&key_path).unwrap().signer().unwrap();
    let acknowledged = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut tasks = Vec::new();
        let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
        for c in 0..4 {
            let client = Client::connect(&url).await.unwrap();
            for i in 0..50 {
                let envelope = sign_decision(grant("de.bafa", &format!("DE-2026-1{c}{i:04}")), &key);
                let mut client = client.clone();
                let permit = in_flight.clone().acquire_owned().await.unwrap();
                tasks.push(tokio::spawn(async move {
                    let answer = client.publish(envelope).await.map(|r| r.statement_id);
                    drop(permit);
                    answer
                }));
            }
        }
        let mut ids = Vec::new();
        for t in tasks {
            if let Ok(Ok(id)) = t.await {
                ids.push(StatementId::from_slice(&id).unwrap());
            }
        }
        ids
    });
    assert_eq!(acknowledged.len(), 200, "every publish was acknowledged before the kill");
    node.kill_9();

    let node = NodeProcess::spawn(&["--data-dir", data_arg], &tmp.path().join("node2.log"));
    let url = node.url().to_string();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut client = Client::connect(&url).await.unwrap();
        for id in &acknowledged {
            client.statement(*id).await.unwrap_or_else(|e| panic!("acknowledged statement {id} lost: {e}"));
        }
        let licence = client.licence("de.bafa", "DE-2026-009001").await.unwrap();
        assert_eq!(licence.summary.version, 3);
    });
    comity(&url).args(["licence", "show", "de.bafa/DE-2026-009001"]).assert().success().stdout(contains("SUSPENDED"));

    // SIGTERM shuts down cleanly.
    #[cfg(unix)]
    assert!(node.terminate().success());
}

#[test]
fn unreachable_node_and_bad_documents_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let unreachable = "http://127.0.0.1:1";
    comity(unreachable).arg("search").assert().code(7).stderr(contains("cannot reach node"));

    let key = tmp.path().join("bafa.key");
    Command::new(bin_path("comity"))
        .args(["keygen", "--authority", "de.bafa", "-o"])
        .arg(&key)
        .assert()
        .success()
        .stdout(contains("public key:"));

    // A document with a bad country code is refused locally, naming the field.
    let doc = std::fs::read_to_string(examples_dir().join("grant.yaml")).unwrap().replace("destinations: [KR]", "destinations: [UK]");
    let doc = format!("version: 1\n{doc}");
    let path = tmp.path().join("bad.yaml");
    std::fs::write(&path, doc).unwrap();
    comity(unreachable).arg("sign").arg(&path).arg("--key").arg(&key).assert().code(3).stderr(contains("destinations[0]"));

    // Unknown fields are refused rather than ignored.
    let path = tmp.path().join("typo.yaml");
    std::fs::write(&path, "authority: de.bafa\nlicence_id: X\naction: grant\ndestination: [JP]\napplication_received: 2026-01-01\ndecided_at: 2026-01-02\n").unwrap();
    comity(unreachable).arg("sign").arg(&path).arg("--key").arg(&key).assert().code(3).stderr(contains("unknown field `destination`"));

    Command::new(bin_path("comity-node"))
        .args(["run", "--config"])
        .arg(tmp.path().join("missing.toml"))
        .assert()
        .failure()
        .stderr(contains("missing.toml"));
}

/// `comity ... | head` ends the CLI quietly by SIGPIPE, as it ends other Unix tools, instead of
/// a panic on a failed print: here the reader is gone before the CLI prints its first line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_cli_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let node = comity_tests::TestNode::start(&["de.bafa"]).await;
    let url = node.url();
    let (status, stderr) = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(bin_path("comity"))
            .args(["--node", &url, "peers"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
    })
    .await
    .unwrap();
    assert_eq!(status.signal(), Some(13), "not ended by SIGPIPE: {status:?}, stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
