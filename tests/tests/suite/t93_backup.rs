//! Backup while the node runs and restore after checks, through the real binaries. The node's
//! store is a sled one (created before fjall became the default) and the restore makes a fjall
//! store: the way to move a store to fjall.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use assert_cmd::Command;
use comity_node::store::EngineKind;
use comity_proto::decision::fixtures::grant;
use comity_tests::{bin_path, TestNode};
use predicates::str::contains;

const BAFA: &str = "de.bafa";

fn write_config(node: &TestNode, data_dir: &std::path::Path, path: &std::path::Path) {
    let mut config = node.config().clone();
    config.data_dir = data_dir.to_path_buf();
    // The default: an existing (sled) store keeps its engine; a restored one is created with it.
    config.store_engine = EngineKind::Fjall;
    std::fs::write(path, config.to_toml()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_after_its_checks_and_a_damaged_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = TestNode::start_with(&[BAFA], |c| {
        c.origin = "registry.bafa.example/log".into();
        c.store_engine = EngineKind::Sled;
    })
    .await;
    let mut client = node.client().await;
    for i in 0..30 {
        client.publish(node.sign(grant(BAFA, &format!("DE-2026-BAK-{i:03}")))).await.unwrap();
    }
    // Publishes keep arriving while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, mut client, signer) = (stop.clone(), client.clone(), node.signer(BAFA));
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                client.publish(comity_proto::statement::sign_decision(grant(BAFA, &format!("DE-2026-LOAD-{i:04}")), &signer)).await.unwrap();
                i += 1;
            }
        })
    };
    let live_config = tmp.path().join("live.toml");
    write_config(&node, &node.config().data_dir, &live_config);
    let backup = tmp.path().join("backup");
    let out = tokio::task::spawn_blocking({
        let (live_config, backup) = (live_config.clone(), backup.clone());
        move || Command::new(bin_path("comity-node")).args(["backup", "--config"]).arg(&live_config).arg("--to").arg(&backup).output().unwrap()
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let backed_up: u64 = stdout.split("own log at ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(backed_up >= 30, "{stdout}");
    // A second backup into the same directory is refused.
    Command::new(bin_path("comity-node"))
        .args(["backup", "--config"])
        .arg(&live_config)
        .arg("--to")
        .arg(&backup)
        .assert()
        .failure()
        .stderr(contains("not empty"));
    node.stop().await;

    // A damaged copy of the backup is refused.
    let damaged = tmp.path().join("damaged");
    comity_node::store::Store::open(&backup).unwrap().copy_to(&damaged).unwrap();
    let id = comity_proto::statement::StatementId::of(&node.sign(grant(BAFA, "DE-2026-BAK-007")));
    comity_node::store::Store::open(&damaged).unwrap().overwrite_statement_for_tests(&id, &node.sign(grant(BAFA, "DE-2026-BAK-FAKE"))).unwrap();
    let restore = |from: &std::path::Path, dir: &str| {
        let data = tmp.path().join(dir);
        std::fs::create_dir_all(&data).unwrap();
        for key in ["log.key", "witness.key"] {
            std::fs::copy(node.config().data_dir.join(key), data.join(key)).unwrap();
        }
        let config = tmp.path().join(format!("{dir}.toml"));
        write_config(&node, &data, &config);
        let mut cmd = Command::new(bin_path("comity-node"));
        cmd.args(["restore", "--config"]).arg(&config).arg("--from").arg(from);
        (cmd, data)
    };
    let (mut cmd, _) = restore(&damaged, "restored-damaged");
    cmd.assert().failure().stderr(contains("does not hash to its id"));

    // The good backup restores, and a node started on it serves everything backed up.
    let (mut cmd, data) = restore(&backup, "restored");
    cmd.assert().success().stdout(contains("backup checked and restored"));
    assert_eq!(EngineKind::of_dir(&backup), Some(EngineKind::Sled), "a backup has the engine of its store");
    assert_eq!(EngineKind::of_dir(&data.join("store")), Some(EngineKind::Fjall), "a restore creates the configured engine's store");
    node.reconfigure(|c| c.data_dir = data);
    node.start_again().await.unwrap();
    let mut client = node.client().await;
    assert_eq!(client.checkpoint().await.unwrap().size, backed_up);
    for i in 0..30 {
        client.licence(BAFA, &format!("DE-2026-BAK-{i:03}")).await.unwrap();
    }
}
