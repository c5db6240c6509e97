//! `comity-node check` finds derived data that disagrees with the log (issue #19): a licence
//! summary edited in the store, a summary deleted, a stored Merkle hash flipped. `--repair`
//! rewrites the summaries and index entries from the log, never the tree hashes (it names
//! `recover`), and afterwards Search and GetLicence agree again. The index of re-export licences
//! under their parents is checked and repaired the same way.

use std::path::Path;
use std::process::Command;

use comity_node::store::Store;
use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::log::StoredHashes;
use comity_proto::pb::{self, Action, LicenceStatus};
use comity_tests::{bin_path, TestNode};

const BAFA: &str = "de.bafa";
/// Issued; its summary is edited to say REVOKED.
const EDITED: &str = "DE-2026-000001";
/// Revoked; its summary is deleted.
const DELETED: &str = "DE-2026-000002";
/// Issued and left alone.
const UNTOUCHED: &str = "DE-2026-000003";

/// Runs `comity-node check` on `data_dir`: (exit code, stdout).
fn check(data_dir: &Path, repair: bool) -> (i32, String) {
    let mut cmd = Command::new(bin_path("comity-node"));
    cmd.arg("check").arg("--data-dir").arg(data_dir);
    if repair {
        cmd.arg("--repair");
    }
    let out = cmd.output().expect("comity-node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.code().is_some(), "killed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap(), stdout)
}

fn lines_naming<'a>(stdout: &'a str, what: &str) -> Vec<&'a str> {
    stdout.lines().filter(|l| l.contains(what)).collect()
}

#[tokio::test]
async fn check_reports_and_repairs_derived_data_that_disagrees_with_the_log() {
    let mut node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    for id in [EDITED, DELETED, UNTOUCHED] {
        client.publish(node.sign(grant(BAFA, id))).await.expect("grant published");
    }
    let head = client.head(BAFA, DELETED).await.unwrap().unwrap().1;
    client.publish(node.sign(follow_up(&grant(BAFA, DELETED), Action::Revoke, 2, head.0))).await.expect("revocation published");
    let origin = node.config().origin.clone();
    let data_dir = node.config().data_dir.clone();
    node.stop().await;

    // A consistent store: exit 0 and the summary line.
    let (code, stdout) = check(&data_dir, false);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("checked 3 licences in 1 logs: 0 differences"), "{stdout}");

    // Damage the derived data through the store, as an edit of the data dir would.
    let original_hash = {
        let store = Store::open(&node.config().store_dir()).unwrap();
        let mut edited = store.licence(BAFA, EDITED).unwrap().unwrap();
        assert_eq!(edited.status, LicenceStatus::Issued as i32);
        edited.status = LicenceStatus::Revoked as i32;
        store.overwrite_summary_for_tests(BAFA, EDITED, Some(&edited)).unwrap();
        store.overwrite_summary_for_tests(BAFA, DELETED, None).unwrap();
        // Stored hash 0 is entry 0's leaf: an inner hash that no start-up root check reads.
        let original = store.log(&origin).read(&[0]).unwrap()[0];
        let mut flipped = original;
        flipped[7] ^= 0x01;
        store.overwrite_log_hash_for_tests(&origin, 0, flipped).unwrap();
        original
    };

    let (code, stdout) = check(&data_dir, false);
    assert_eq!(code, 3, "{stdout}");
    let edited = lines_naming(&stdout, &format!("{BAFA}/{EDITED}:"));
    assert_eq!(edited.len(), 1, "{stdout}");
    assert!(edited[0].contains("stored summary says REVOKED (version 1), the log says ISSUED (version 1)"), "{stdout}");
    let deleted = lines_naming(&stdout, &format!("{BAFA}/{DELETED}:"));
    assert_eq!(deleted.len(), 1, "{stdout}");
    assert!(deleted[0].contains("no stored summary, the log says REVOKED (version 2)"), "{stdout}");
    assert!(lines_naming(&stdout, UNTOUCHED).is_empty(), "{stdout}");
    let log_lines = lines_naming(&stdout, &format!("log {origin}: stored hash 0 (written with entry 0)"));
    assert_eq!(log_lines.len(), 1, "{stdout}");
    assert!(stdout.contains("checked 3 licences in 1 logs: 3 differences"), "{stdout}");
    assert!(!stdout.lines().any(|l| l.starts_with("repaired")), "check without --repair changed nothing: {stdout}");

    // --repair rewrites both summaries from the log, leaves the hash and names recover.
    let (code, stdout) = check(&data_dir, true);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains(&format!("repaired {BAFA}/{EDITED}: summary and search index rewritten from the log (ISSUED, version 1)")), "{stdout}");
    assert!(stdout.contains(&format!("repaired {BAFA}/{DELETED}: summary and search index rewritten from the log (REVOKED, version 2)")), "{stdout}");
    assert!(lines_naming(&stdout, "repaired log").is_empty(), "{stdout}");
    assert!(stdout.contains(&format!("comity-node recover --data-dir {} --from PEER_URL", data_dir.display())), "{stdout}");

    // Only the tree hash is left.
    let (code, stdout) = check(&data_dir, false);
    assert_eq!(code, 3, "{stdout}");
    assert!(lines_naming(&stdout, BAFA).is_empty(), "{stdout}");
    assert_eq!(lines_naming(&stdout, &format!("log {origin}: stored hash 0")).len(), 1, "{stdout}");
    assert!(stdout.contains("1 differences"), "{stdout}");

    // Put the hash back (as recover would rebuild it): consistent again.
    Store::open(&node.config().store_dir()).unwrap().overwrite_log_hash_for_tests(&origin, 0, original_hash).unwrap();
    let (code, stdout) = check(&data_dir, false);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("checked 3 licences in 1 logs: 0 differences"), "{stdout}");

    // The node serves the repaired licences: Search and GetLicence agree, and a paged search
    // of every licence finds all three.
    node.start_again().await.expect("node starts on the repaired store");
    let mut client = node.client().await;
    for (id, decided) in [(EDITED, LicenceStatus::Issued), (DELETED, LicenceStatus::Revoked), (UNTOUCHED, LicenceStatus::Issued)] {
        let licence = client.licence(BAFA, id).await.unwrap();
        let found = client.search(pb::SearchRequest { authority: BAFA.into(), licence_id_prefix: id.into(), ..Default::default() }).await.unwrap();
        assert_eq!(found.licences, vec![licence.summary.clone()], "{id}");
        assert_eq!(licence.summary.version, if id == DELETED { 2 } else { 1 });
        assert_eq!(licence.summary.head_id, licence.chain.last().unwrap().0 .0.to_vec(), "{id}");
        // Decided status: the served one may be evaluated at now (not yet valid), never revoked for an issued licence.
        assert_eq!(licence.summary.status == LicenceStatus::Revoked as i32, decided == LicenceStatus::Revoked, "{id}");
    }
    let revoked = client.search(pb::SearchRequest { status: LicenceStatus::Revoked as i32, ..Default::default() }).await.unwrap();
    assert_eq!(revoked.licences.iter().map(|s| s.licence_id.as_str()).collect::<Vec<_>>(), vec![DELETED]);
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = client.search(pb::SearchRequest { page_size: 1, cursor: cursor.clone(), ..Default::default() }).await.unwrap();
        all.extend(page.licences.into_iter().map(|s| s.licence_id));
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(all, vec![EDITED, DELETED, UNTOUCHED]);
}

/// The value of the metric sample named exactly `name` in a scrape of `addr`.
/// A re-export licence's index entry under its parent (which publish sums a consent's quantity
/// over) deleted, and a stray one added: check names both, `--repair` restores the index.
#[tokio::test]
async fn check_reports_and_repairs_the_re_export_index() {
    use comity_proto::re_export::fixtures::{child, consent};
    use comity_proto::statement::StatementId;
    let mut node = TestNode::start(&[BAFA, "jp.meti"]).await;
    let mut client = node.client().await;
    let parent = grant(BAFA, "DE-2026-000412");
    let granted = node.sign(parent.clone());
    client.publish(granted.clone()).await.unwrap();
    client.publish(node.sign(consent(&parent, "RXC-1", 2, StatementId::of(&granted).0))).await.unwrap();
    client.publish(node.sign(child("JP-RX-1", "de.bafa/DE-2026-000412", "RXC-1"))).await.unwrap();
    let data_dir = node.config().data_dir.clone();
    node.stop().await;
    assert_eq!(check(&data_dir, false).0, 0);

    let entry = |child: &str| ["de.bafa", "DE-2026-000412", "jp.meti", child].map(String::from);
    {
        let store = Store::open(&node.config().store_dir()).unwrap();
        store.repair_re_export_child(&entry("JP-RX-1"), None).unwrap();
        store.repair_re_export_child(&entry("JP-RX-9"), Some("RXC-1")).unwrap();
    }
    let (code, stdout) = check(&data_dir, false);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("jp.meti/JP-RX-1: a re-export licence under de.bafa/DE-2026-000412 (consent RXC-1) missing from the re-export index"), "{stdout}");
    assert!(stdout.contains("jp.meti/JP-RX-9: the re-export index lists it under de.bafa/DE-2026-000412, but its log names no such parent"), "{stdout}");
    let (_, stdout) = check(&data_dir, true);
    assert_eq!(lines_naming(&stdout, "re-export index entry under de.bafa/DE-2026-000412 rewritten from the log").len(), 2, "{stdout}");
    let (code, stdout) = check(&data_dir, false);
    assert_eq!(code, 0, "{stdout}");
    let store = Store::open(&node.config().store_dir()).unwrap();
    assert_eq!(store.re_export_children("de.bafa", "DE-2026-000412").unwrap(), [("jp.meti".into(), "JP-RX-1".into(), "RXC-1".into())]);
}

fn metric(addr: std::net::SocketAddr, name: &str) -> Option<f64> {
    let (_, body) = comity_tests::http_get(addr, "/metrics");
    String::from_utf8_lossy(&body).lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Waits for `runs` more completed background checks; returns what the last one found.
fn scrubbed(addr: std::net::SocketAddr, runs: f64) -> f64 {
    comity_tests::wait_until(std::time::Duration::from_secs(60), "a background check to complete", || {
        (metric(addr, "comity_scrub_runs_total")? >= runs).then_some(())?;
        metric(addr, "comity_scrub_differences")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_node_checks_in_the_background_without_false_alarms_and_names_drift() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = TestNode::start_with(&[BAFA], |c| c.data_dir = data.clone()).await;
    let mut client = node.client().await;
    for id in [EDITED, UNTOUCHED] {
        client.publish(node.sign(grant(BAFA, id))).await.expect("grant published");
    }
    let origin = node.config().origin.clone();
    let envelopes: Vec<Vec<u8>> = (0..400).map(|i| node.sign(grant(BAFA, &format!("DE-2026-SCRUB-{i:05}")))).collect();
    node.stop().await;
    let config = tmp.path().join("comity.toml");
    node.reconfigure(|c| c.scrub_interval_secs = 1);
    std::fs::write(&config, node.config().to_toml()).unwrap();
    drop(client);
    let args = ["--config", config.to_str().unwrap(), "--data-dir", data.to_str().unwrap()];

    // A consistent store under steady publishing: checks complete and find nothing, although
    // each reads licences the writer is changing.
    let running = comity_tests::NodeProcess::spawn(&args, &tmp.path().join("first.log"));
    let metrics = running.metrics_addr().expect("metrics endpoint");
    assert_eq!(metric(metrics, "comity_scrub_differences"), Some(0.0), "the start-up check of a sound store finds nothing");
    let client = comity_client::Client::connect(running.url()).await.unwrap();
    let publishing = tokio::spawn(comity_tests::publish_concurrently(client.clone(), envelopes, 8));
    let (runs, differences) = tokio::task::spawn_blocking(move || {
        let found: Vec<f64> = (1..=3).map(|runs| scrubbed(metrics, runs as f64)).collect();
        (metric(metrics, "comity_scrub_runs_total").unwrap(), found)
    })
    .await
    .unwrap();
    publishing.await.unwrap();
    assert!(runs >= 3.0);
    assert_eq!(differences, vec![0.0; 3], "false alarms while publishing");
    let log = std::fs::read_to_string(tmp.path().join("first.log")).unwrap();
    assert!(log.contains("background check: derived data agrees with the log"), "{log}");
    assert!(running.terminate().success());

    // Drift in the derived data: the next check finds it, counts it and names the repair.
    {
        let store = Store::open(&data.join("store")).unwrap();
        let mut edited = store.licence(BAFA, EDITED).unwrap().unwrap();
        edited.status = LicenceStatus::Revoked as i32;
        store.overwrite_summary_for_tests(BAFA, EDITED, Some(&edited)).unwrap();
    }
    let running = comity_tests::NodeProcess::spawn(&args, &tmp.path().join("second.log"));
    let metrics = running.metrics_addr().unwrap();
    let found = tokio::task::spawn_blocking(move || scrubbed(metrics, 1.0)).await.unwrap();
    assert_eq!(found, 1.0);
    let log = std::fs::read_to_string(tmp.path().join("second.log")).unwrap();
    assert!(log.contains(&format!("{BAFA}/{EDITED}: stored summary says REVOKED (version 1), the log says ISSUED (version 1)")), "{log}");
    assert!(log.contains(&format!("comity-node check --data-dir {} --repair", data.display())), "{log}");
    assert!(running.terminate().success());

    // Damage to the newest entry of the node's own log: the cheap start-up check refuses to
    // start, naming the store and the repair.
    {
        let store = Store::open(&data.join("store")).unwrap();
        let size = store.log(&origin).size().unwrap();
        let newest = store.log(&origin).entry(size - 1).unwrap().unwrap();
        let mut bytes = store.statement(&newest).unwrap().unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        store.overwrite_statement_for_tests(&newest, &bytes).unwrap();
    }
    let out = std::process::Command::new(bin_path("comity-node")).arg("run").args(["--listen", "127.0.0.1:0"]).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the stored hashes of newest entry") && stderr.contains(&data.join("store").display().to_string()), "{stderr}");
    assert!(stderr.contains("comity-node recover"), "{stderr}");
}
