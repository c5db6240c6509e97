//! A log key never signs two histories: the last checkpoint it signed is kept next to it
//! (`log.key.signed`), so a node whose store was deleted or cut back to an older copy refuses
//! to start with the real `comity-node` binary, names `recover`, and `comity-node recover`
//! from a peer that mirrors it brings back the history the key signed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use comity_client::Client;
use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::pb::Action;
use comity_proto::statement::StatementId;
use comity_tests::{bin_path, eventually, NodeProcess, TestNode};

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const ORIGIN: &str = "registry.bafa.example/log";
const WAIT: Duration = Duration::from_secs(20);

/// Runs `comity-node ARGS` to its end, off the runtime's threads (in-process nodes keep
/// answering); kills it if it is still running after `WAIT` (a node that wrongly started).
async fn comity_node(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(bin_path("comity-node")).args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run comity-node");
        let deadline = Instant::now() + WAIT;
        while child.try_wait().expect("poll comity-node").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let output = child.wait_with_output().expect("reap comity-node");
                panic!("comity-node {args:?} still running after {WAIT:?}; stderr: {}", String::from_utf8_lossy(&output.stderr));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("reap comity-node")
    })
    .await
    .expect("join")
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes the node's config next to its data dir, for the binary.
fn config_file(node: &TestNode) -> PathBuf {
    let path = node.dir.path().join("node.toml");
    std::fs::write(&path, node.config().to_toml()).unwrap();
    path
}

/// `comity-node run --config CONFIG` on free ports; returns its output once it exits.
async fn run_expecting_exit(config: &Path) -> Output {
    comity_node(args(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ]))
    .await
}

/// Publishes `count` grants `PREFIX-i` at `node`, every third followed by a suspension.
async fn publish(node: &TestNode, prefix: &str, count: usize) {
    let mut client = node.client().await;
    for i in 0..count {
        let g = grant(BAFA, &format!("{prefix}-{i:03}"));
        let head = client.publish(node.sign(g.clone())).await.unwrap();
        if i % 3 == 0 {
            let id = StatementId::from_slice(&head.statement_id).unwrap();
            client.publish(node.sign(follow_up(&g, Action::Suspend, 2, id.0))).await.unwrap();
        }
    }
}

/// The recorded last signed checkpoint: (size, hex root).
fn recorded(node: &TestNode) -> (u64, String) {
    let record = comity_node::log::SignedRecord::next_to_key(&node.config().log_key_path()).unwrap();
    let last = record.last().expect("a record next to the key");
    (last.size, last.root.clone())
}

fn assert_refused(output: &Output, size: u64, root: &str) {
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "the node must not start; stderr: {stderr}");
    assert!(stderr.contains(&format!("this node's log key last signed {ORIGIN} at size {size} (root {root}")), "names what the key signed: {stderr}");
    assert!(stderr.contains("comity-node recover --from <peer url>"), "names recover: {stderr}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_store_is_refused_and_recovered_from_a_mirror() {
    let mut a = TestNode::start_with(&[BAFA], |c| c.origin = ORIGIN.into()).await;
    publish(&a, "DE-2026-SIG", 6).await;
    let before = a.client().await.checkpoint().await.unwrap();
    assert_eq!(before.size, 8);
    let b = TestNode::start_mirror_of(&a, "bafa", &[METI], "registry.meti.example/log", |_| {}).await;
    eventually(WAIT, "B to mirror A", || async { b.node().mirror_status("bafa").filter(|s| s.size == before.size).map(|_| ()) }).await;
    a.stop().await;
    assert_eq!(recorded(&a), (before.size, hex::encode(&before.root)), "the key's last checkpoint is recorded next to it");

    // The store is deleted: the key must not start a second history at index 0.
    std::fs::remove_dir_all(a.config().store_dir()).unwrap();
    let config = config_file(&a);
    let refused = run_expecting_exit(&config).await;
    assert_refused(&refused, before.size, &hex::encode(&before.root));
    assert!(text(&refused.stderr).contains("no log (an empty or new store)"), "{}", text(&refused.stderr));
    assert_eq!(recorded(&a).0, before.size, "a refused start leaves the record as it was");

    // Recovery from the mirror brings the signed history back.
    let recovered = comity_node(args(&["recover", "--config", config.to_str().unwrap(), "--from", &b.url()])).await;
    assert!(recovered.status.success(), "recover failed: {}", text(&recovered.stderr));
    assert!(text(&recovered.stdout).contains(&format!("recovered {} entries of {ORIGIN}", before.size)), "{}", text(&recovered.stdout));

    let config_arg = config.to_str().unwrap().to_string();
    let log = a.dir.path().join("node.log");
    let node = tokio::task::spawn_blocking(move || NodeProcess::spawn(&["--config", &config_arg], &log)).await.unwrap();
    let mut client = Client::connect(node.url()).await.unwrap();
    let after = client.checkpoint().await.unwrap();
    assert_eq!((after.size, &after.root), (before.size, &before.root), "it serves the checkpoint its key signed");
    // And carries on from there.
    client.publish(a.sign(grant(BAFA, "DE-2026-SIG-NEW"))).await.unwrap();
    assert_eq!(client.checkpoint().await.unwrap().size, before.size + 1);
    tokio::task::spawn_blocking(move || node.terminate()).await.unwrap();
    assert_eq!(recorded(&a).0, before.size + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_cut_back_to_an_older_backup_is_refused() {
    let mut a = TestNode::start_with(&[BAFA], |c| c.origin = ORIGIN.into()).await;
    publish(&a, "DE-2026-OLD", 3).await;
    let config = config_file(&a);
    let backup = a.dir.path().join("backup");
    let taken = comity_node(args(&["backup", "--config", config.to_str().unwrap(), "--to", backup.to_str().unwrap()])).await;
    assert!(taken.status.success(), "backup failed: {}", text(&taken.stderr));
    publish(&a, "DE-2026-NEW", 3).await;
    let latest = a.client().await.checkpoint().await.unwrap();
    a.stop().await;

    // `restore` checks the backup against what the key signed, and changes nothing.
    let store = a.config().store_dir();
    std::fs::rename(&store, a.dir.path().join("store.moved")).unwrap();
    let restored = comity_node(args(&["restore", "--config", config.to_str().unwrap(), "--from", backup.to_str().unwrap()])).await;
    assert!(!restored.status.success(), "restoring an older backup must be refused");
    assert!(text(&restored.stderr).contains(&format!("at size {}", latest.size)), "{}", text(&restored.stderr));
    assert!(text(&restored.stderr).contains("only 4 entries"), "{}", text(&restored.stderr));
    assert!(!store.exists(), "a refused restore writes no store");

    // The backup copied in by hand: the node refuses to start.
    copy_dir(&backup, &store);
    let refused = run_expecting_exit(&config).await;
    assert_refused(&refused, latest.size, &hex::encode(&latest.root));
    assert!(text(&refused.stderr).contains("only 4 entries"), "{}", text(&refused.stderr));

    // The store it had, put back, starts again.
    std::fs::remove_dir_all(&store).unwrap();
    std::fs::rename(a.dir.path().join("store.moved"), &store).unwrap();
    a.start_again().await.unwrap();
    assert_eq!(a.client().await.checkpoint().await.unwrap().size, latest.size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_from_a_peer_behind_the_key_is_refused_and_changes_nothing() {
    let mut a = TestNode::start_with(&[BAFA], |c| c.origin = ORIGIN.into()).await;
    publish(&a, "DE-2026-LAG", 3).await;
    let mirrored = a.client().await.checkpoint().await.unwrap();
    let mut b = TestNode::start_mirror_of(&a, "bafa", &[METI], "registry.meti.example/log", |_| {}).await;
    eventually(WAIT, "B to mirror A", || async { b.node().mirror_status("bafa").filter(|s| s.size == mirrored.size).map(|_| ()) }).await;
    // A signs on while B is down; then A stops and B comes back with its older copy.
    b.stop().await;
    publish(&a, "DE-2026-AHEAD", 2).await;
    let latest = a.client().await.checkpoint().await.unwrap();
    a.stop().await;
    b.start_again().await.unwrap();
    std::fs::remove_dir_all(a.config().store_dir()).unwrap();

    let config = config_file(&a);
    let recovered = comity_node(args(&["recover", "--config", config.to_str().unwrap(), "--from", &b.url()])).await;
    let stderr = text(&recovered.stderr);
    assert!(!recovered.status.success(), "recovering from a peer behind the key must be refused");
    assert!(stderr.contains(&format!("holds only {} entries", mirrored.size)) && stderr.contains(&format!("last signed size {}", latest.size)), "{stderr}");
    assert!(stderr.contains("Nothing was changed"), "{stderr}");
    assert!(!a.config().store_dir().exists(), "nothing was re-logged");
    assert_eq!(recorded(&a).0, latest.size, "the record is not moved back");
}
