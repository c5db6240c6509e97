//! Process-level tests: the real `comity-node` and `comity` binaries, as a user would run them.

use std::path::Path;

use crate::cli::comity;
use assert_cmd::Command;
use comity_client::Client;
use comity_proto::decision::fixtures::grant;
use comity_proto::keyfile::KeyFile;
use comity_proto::statement::{sign_decision, StatementId};
use comity_tests::{bin_path, examples_dir, NodeProcess};
use predicates::str::contains;

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
    comity(&url).arg("publish").arg(examples.join("suspend.yaml")).arg("--key").arg(&key_path).assert().success().stdout(contains("licence is now SUSPENDED"));

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
    comity(&url).arg("publish").arg(examples.join("suspend.yaml")).assert().code(3).stderr(contains("--key"));

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
    comity(unreachable).arg("search").assert().code(7).stderr(contains("cannot reach the node at http://127.0.0.1:1"));

    let key = tmp.path().join("bafa.key");
    Command::new(bin_path("comity")).args(["keygen", "--authority", "de.bafa", "-o"]).arg(&key).assert().success().stdout(contains("public key:"));

    // A document with a bad country code is refused locally, naming the field.
    let doc = std::fs::read_to_string(examples_dir().join("grant.yaml")).unwrap().replace("destinations: [KR]", "destinations: [UK]");
    let doc = format!("version: 1\n{doc}");
    let path = tmp.path().join("bad.yaml");
    std::fs::write(&path, doc).unwrap();
    comity(unreachable).arg("sign").arg(&path).arg("--key").arg(&key).assert().code(3).stderr(contains("destinations[0]"));

    // Unknown fields are refused rather than ignored.
    let path = tmp.path().join("typo.yaml");
    std::fs::write(&path, "authority: de.bafa\nlicence_id: X\naction: grant\ndestination: [JP]\napplication_received: 2026-01-01\ndecided_at: 2026-01-02\n")
        .unwrap();
    comity(unreachable).arg("sign").arg(&path).arg("--key").arg(&key).assert().code(3).stderr(contains("unknown field `destination`"));

    Command::new(bin_path("comity-node")).args(["run", "--config"]).arg(tmp.path().join("missing.toml")).assert().failure().stderr(contains("missing.toml"));
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
        let mut child =
            std::process::Command::new(bin_path("comity")).args(["--node", &url, "peers"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
    })
    .await
    .unwrap();
    assert_eq!(status.signal(), Some(13), "not ended by SIGPIPE: {status:?}, stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Habits from kubectl, cosign and rekor-cli: `--version` names the command, `--help` lists the
/// exit codes, `--node` takes a bare HOST:PORT, choices are taken as printed (REVOKED), a refused
/// connection is one clear sentence, and tables line up with Japanese names in them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_behaves_as_users_expect() {
    use unicode_width::UnicodeWidthStr;
    let node = comity_tests::TestNode::start(&["jp.meti"]).await;
    let mut client = node.client().await;
    for (id, applicant) in [("JP-2026-0001", "株式会社東京精密"), ("JP-2026-0002", "Kessler Optronik GmbH")] {
        let mut decision = grant("jp.meti", id);
        decision.applicant = Some(comity_proto::pb::Party { name: applicant.into(), country: "JP".into(), ..Default::default() });
        client.publish(node.sign(decision)).await.unwrap();
    }
    let address = node.url().trim_start_matches("http://").to_string();
    let run = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        async move { tokio::task::spawn_blocking(move || std::process::Command::new(bin_path("comity")).args(&args).output().unwrap()).await.unwrap() }
    };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();

    let version = run(&["--version"]).await;
    assert_eq!(text(&version.stdout), format!("comity {}\n", env!("CARGO_PKG_VERSION")));
    let help = text(&run(&["--help"]).await.stdout);
    assert!(help.contains("Exit codes:") && help.contains("  7    node unreachable") && help.contains("24 REVOKED"), "{help}");
    let node_help = Command::new(bin_path("comity-node")).arg("--help").output().unwrap();
    assert!(text(&node_help.stdout).contains("Exit codes:\n  0  success"), "{}", text(&node_help.stdout));

    // A bare HOST:PORT is an http:// node; statuses are taken as tables print them.
    for status in ["ISSUED", "issued"] {
        let out = run(&["--node", &address, "search", "--status", status]).await;
        assert!(out.status.success(), "--status {status}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("2 licence(s)"), "{}", text(&out.stdout));
    }
    // The table's columns line up in terminal columns: 株式会社東京精密 is 16 wide, not 8.
    let table = text(&run(&["--node", &address, "search"]).await.stdout);
    let dest_columns: Vec<usize> = table.lines().take(3).map(|l| l[..l.find(" JP ").map_or_else(|| l.find("DEST").unwrap(), |i| i + 1)].width()).collect();
    assert_eq!(dest_columns.len(), 3, "{table}");
    assert!(dest_columns.iter().all(|c| *c == dest_columns[0]), "DEST is not one column: {dest_columns:?}\n{table}");
    assert!(table.contains("株式会社東京精密"), "{table}");

    // A refused connection: one sentence, no repeated "tcp connect error".
    let refused = run(&["--node", "127.0.0.1:1", "search"]).await;
    assert_eq!(refused.status.code(), Some(7));
    assert_eq!(text(&refused.stderr), "comity: cannot reach the node at http://127.0.0.1:1: connection refused; is comity-node running there?\n");
}

/// `completion SHELL` prints a script the shell accepts: bash, sourced, completes the command.
#[test]
fn both_binaries_print_shell_completions() {
    for binary in ["comity", "comity-node"] {
        let script = Command::new(bin_path(binary)).args(["completion", "bash"]).output().unwrap();
        assert!(script.status.success());
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &script.stdout).unwrap();
        let sourced =
            std::process::Command::new("bash").arg("-c").arg(format!("source {} && complete -p {binary}", file.path().display())).output().expect("bash runs");
        assert!(sourced.status.success(), "{binary}: {}", String::from_utf8_lossy(&sourced.stderr));
        assert!(String::from_utf8_lossy(&sourced.stdout).starts_with("complete "), "{}", String::from_utf8_lossy(&sourced.stdout));
        for shell in ["zsh", "FISH", "powershell", "elvish"] {
            let out = Command::new(bin_path(binary)).args(["completion", shell]).output().unwrap();
            assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains(binary), "{binary} completion {shell}");
        }
    }
    Command::new(bin_path("comity")).args(["completion", "tcsh"]).assert().code(2);
}
