//! `comity-node export` and `comity-node import` with the real binary: a log exported from a
//! running node loads into a stopped node that has its origin as a peer, is served there, and
//! is caught up from the live peer afterwards; damaged, inconsistent or unwanted files are
//! refused with a clear message and leave the target's store as it was.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use base64::Engine;
use comity_node::log::logfile::{LogFileReader, LogFileWriter, MAGIC};
use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::pb::{self, Action};
use comity_proto::statement::StatementId;
use comity_tests::fault_proxy::FaultProxy;
use comity_tests::{bin_path, eventually, TestNode};

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const ORIGIN: &str = "registry.bafa.example/log";
const METI_ORIGIN: &str = "registry.meti.example/log";
const WAIT: Duration = Duration::from_secs(20);

/// Runs `comity-node ARGS` off the runtime's threads, so in-process nodes keep answering.
async fn comity_node(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || std::process::Command::new(bin_path("comity-node")).args(args).output().expect("run comity-node")).await.expect("join")
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exports `origin` from the node at `url` into `out`; returns the summary line.
async fn export(url: &str, origin: &str, out: &Path) -> String {
    let output = comity_node(args(&["export", "--from", url, "--origin", origin, "-o", out.to_str().unwrap()])).await;
    assert!(output.status.success(), "export failed: {}", text(&output.stderr));
    text(&output.stdout)
}

/// Runs `comity-node import` for the stopped `node` (its config written next to the file).
async fn import(node: &TestNode, file: &Path) -> Output {
    let config = node.dir.path().join("import.toml");
    std::fs::write(&config, node.config().to_toml()).unwrap();
    comity_node(args(&["import", "--file", file.to_str().unwrap(), "--config", config.to_str().unwrap()])).await
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

/// A node hosting jp.meti that mirrors `source` (trusting its authorities) through `proxy`;
/// it commits a catch-up or an import in parts of 5 entries, each with a prefix proof.
async fn mirror_through(source: &TestNode, proxy: &FaultProxy, adjust: impl FnOnce(&mut comity_node::Config)) -> TestNode {
    let url = proxy.url();
    TestNode::start_mirror_of(source, "bafa", &[METI], METI_ORIGIN, move |c| {
        c.peers[0].url = url;
        c.limits.mirror_entries_per_part = 5;
        adjust(c);
    })
    .await
}

/// What a store holds, to show a refused import changed nothing: every statement id, and size
/// and checkpoint of the mirrored and the own log.
fn contents(store_dir: &Path) -> (Vec<StatementId>, u64, Option<String>, Option<String>) {
    let store = comity_node::store::Store::open(store_dir).unwrap();
    let mut ids: Vec<StatementId> = store.statements().map(|r| r.unwrap().0).collect();
    ids.sort_by_key(|id| id.0);
    let mirrored = store.log(ORIGIN);
    (ids, mirrored.size().unwrap(), mirrored.checkpoint().unwrap(), store.log(METI_ORIGIN).checkpoint().unwrap())
}

/// The file's header and entries (log time, envelope).
fn read_file(path: &Path) -> (pb::LogExportHeader, Vec<(i64, Vec<u8>)>) {
    let (header, mut reader) = LogFileReader::open(std::fs::File::open(path).unwrap()).unwrap();
    let size = comity_proto::log::stored_checkpoint_fields(&header.checkpoint).unwrap().0;
    let mut entries = Vec::new();
    while let Some(e) = reader.next_entry(size).unwrap() {
        entries.push(e);
    }
    (header, entries)
}

/// Writes a file with `header` and `entries`, as an attacker with the format would.
fn write_file(path: &Path, header: &pb::LogExportHeader, entries: &[(i64, Vec<u8>)]) {
    let mut w = LogFileWriter::start(Vec::new(), &header.origin, &header.checkpoint, &header.exported_from, header.exported_at).unwrap();
    for (logged_at, e) in entries {
        w.entry(*logged_at, e).unwrap();
    }
    std::fs::write(path, w.finish().unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_log_imports_into_a_stopped_peer_is_served_and_catches_up_live() {
    let tmp = tempfile::tempdir().unwrap();
    let a = TestNode::start_with(&[BAFA], |c| c.origin = ORIGIN.into()).await;
    publish(&a, "DE-2026-EXP", 12).await;
    let exported_at = a.client().await.checkpoint().await.unwrap();
    assert_eq!(exported_at.size, 16);

    let file = tmp.path().join("bafa.log");
    let summary = export(&a.url(), ORIGIN, &file).await;
    assert!(summary.starts_with(&format!("exported 16 entries of {ORIGIN}")), "{summary}");
    assert!(summary.contains(&hex::encode(&exported_at.root)), "{summary}");
    let (header, entries) = read_file(&file);
    assert!(std::fs::read(&file).unwrap().starts_with(MAGIC));
    assert_eq!((header.origin.as_str(), header.checkpoint.as_str()), (ORIGIN, exported_at.checkpoint.as_str()));
    let mut at_a = a.client().await;
    for (i, entry) in at_a.entries(0, 16).await.unwrap().into_iter().enumerate() {
        assert_eq!((entry.logged_at, &entry.envelope), (entries[i].0, &entries[i].1), "entry {i} is the logged envelope at its log time, byte for byte");
    }
    // A second export to the same path is refused, and the file stays.
    let again = comity_node(args(&["export", "--from", &a.url(), "-o", file.to_str().unwrap()])).await;
    assert!(!again.status.success() && text(&again.stderr).contains("exists"), "{}", text(&again.stderr));

    // B has A as a peer, but the link is cut: whatever B serves of A's log came from the file.
    let proxy = FaultProxy::start(a.node().addr()).await;
    proxy.cut();
    let mut b = mirror_through(&a, &proxy, |_| {}).await;
    b.stop().await;
    let out = import(&b, &file).await;
    assert!(out.status.success(), "import failed: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&format!("imported 16 entries of {ORIGIN}")), "{stdout}");
    assert!(stdout.contains(&hex::encode(&exported_at.root)), "{stdout}");
    assert_eq!(text(&out.stderr), "", "nothing but the summary when stderr is not a terminal");

    b.start_again().await.unwrap();
    let mut at_b = b.client().await;
    let mirrored = at_b.checkpoint_of(ORIGIN).await.unwrap();
    assert_eq!(mirrored.checkpoint, exported_at.checkpoint, "B serves the source's signed checkpoint");
    for i in 0..12 {
        let licence = at_b.licence(BAFA, &format!("DE-2026-EXP-{i:03}")).await.unwrap();
        assert_eq!(licence.chain.len(), if i % 3 == 0 { 2 } else { 1 }, "licence {i} with its chain");
    }

    // A publishes more after the export; once the link is back, B catches up the rest from A.
    publish(&a, "DE-2026-LATER", 3).await;
    let latest = at_a.checkpoint().await.unwrap();
    proxy.pass();
    eventually(WAIT, "B to catch up A's later entries", || async { b.node().mirror_status("bafa").filter(|s| s.size == latest.size).map(|_| ()) }).await;
    let mirrored = at_b.checkpoint_of(ORIGIN).await.unwrap();
    assert_eq!((mirrored.size, &mirrored.root), (latest.size, &latest.root));
    at_b.licence(BAFA, "DE-2026-LATER-002").await.unwrap();
    assert!(b.node().registry().store().evidence().unwrap().is_empty(), "an import and a catch-up are one history");

    // A later export imports onto the prefix B holds (cut off again): only the new entries are stored.
    proxy.cut();
    b.stop().await;
    publish(&a, "DE-2026-LAST", 2).await;
    let newest = at_a.checkpoint().await.unwrap();
    let second = tmp.path().join("bafa-2.log");
    export(&a.url(), ORIGIN, &second).await;
    let out = import(&b, &second).await;
    assert!(out.status.success(), "import failed: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&format!("imported {} entries of {ORIGIN}", newest.size - latest.size)), "{stdout}");
    // The first file is an older prefix now: nothing to do, and it says so.
    let out = import(&b, &file).await;
    assert!(out.status.success() && text(&out.stdout).starts_with("nothing to import"), "{}{}", text(&out.stdout), text(&out.stderr));
    b.start_again().await.unwrap();
    let mirrored = b.client().await.checkpoint_of(ORIGIN).await.unwrap();
    assert_eq!((mirrored.size, &mirrored.root), (newest.size, &newest.root));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_inconsistent_or_unwanted_files_are_refused_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = TestNode::start_with(&[BAFA], |c| c.origin = ORIGIN.into()).await;
    publish(&a, "DE-2026-TAMPER", 9).await;
    let file = tmp.path().join("bafa.log");
    export(&a.url(), ORIGIN, &file).await;
    let (header, entries) = read_file(&file);
    let proxy = FaultProxy::start(a.node().addr()).await;
    proxy.cut();
    let mut b = mirror_through(&a, &proxy, |_| {}).await;
    let own = tmp.path().join("meti.log");
    export(&b.url(), "", &own).await;
    b.stop().await;

    // B already holds the first 4 entries of A's log, from a shorter file: A's first 4 entries
    // under a checkpoint of size 4 signed with A's log key.
    let prefix = tmp.path().join("prefix.log");
    let a_key = comity_node::log::load_or_create_key(&a.config().log_key_path(), ORIGIN).unwrap();
    let mut first4 = comity_proto::log::MemoryHashes::default();
    for (logged_at, e) in &entries[..4] {
        first4.append(&comity_proto::log::entry_leaf_hash(*logged_at, e));
    }
    let root4 = comity_proto::log::tree_root(4, &first4).unwrap();
    let map4 = comity_proto::licence_map::root_of_entries(entries[..4].iter().map(|(_, e)| e.as_slice()));
    let note4 = a_key.sign_checkpoint(4, &root4, &map4, entries[3].0).unwrap();
    write_file(&prefix, &pb::LogExportHeader { checkpoint: note4, ..header.clone() }, &entries[..4]);
    let out = import(&b, &prefix).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = contents(&b.config().store_dir());
    assert_eq!(before.1, 4);

    let mut cases: Vec<(&str, PathBuf, &str)> = Vec::new();

    // One flipped byte in an entry.
    let flipped = tmp.path().join("flipped.log");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - entries.last().unwrap().1.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&flipped, bytes).unwrap();
    cases.push(("a flipped byte", flipped, "do not hash to the root its checkpoint"));

    // A file cut short.
    let truncated = tmp.path().join("truncated.log");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
    cases.push(("a truncated file", truncated, "cut short"));

    // Extra bytes after the last entry.
    let longer = tmp.path().join("longer.log");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(&[0, 0, 0, 1, 7]);
    std::fs::write(&longer, bytes).unwrap();
    cases.push(("trailing bytes", longer, "bytes follow the last"));

    // The same entries in another order: the checkpoint's root does not match them.
    let swapped = tmp.path().join("swapped.log");
    let mut reordered = entries.clone();
    reordered.swap(5, 6);
    write_file(&swapped, &header, &reordered);
    cases.push(("entries whose root is not the checkpoint's", swapped, "do not hash to the root its checkpoint"));

    // A checkpoint whose root was edited: A's signature no longer covers it.
    let edited = tmp.path().join("edited.log");
    let (_, root, _) = comity_proto::log::stored_checkpoint_fields(&header.checkpoint).unwrap();
    let mut other_root = root;
    other_root[0] ^= 0xff;
    let b64 = base64::engine::general_purpose::STANDARD;
    let note = header.checkpoint.replace(&b64.encode(root), &b64.encode(other_root));
    assert_ne!(note, header.checkpoint);
    write_file(&edited, &pb::LogExportHeader { checkpoint: note, ..header.clone() }, &entries);
    cases.push(("an edited checkpoint", edited, "the file's checkpoint"));

    // A history B cannot reconcile with what it holds: signed with A's log key by a node that
    // logged other decisions (a copy of the key without its last signed record).
    let stolen_key = tmp.path().join("a-log.key");
    std::fs::copy(a.config().log_key_path(), &stolen_key).unwrap();
    let forked = TestNode::start_with(&[BAFA], |c| {
        c.origin = ORIGIN.into();
        c.log_key_file = Some(stolen_key);
    })
    .await;
    publish(&forked, "DE-2026-OTHER", 6).await;
    let other = tmp.path().join("other-history.log");
    export(&forked.url(), ORIGIN, &other).await;
    cases.push(("an inconsistent history", other, "inconsistent with the 4 entries"));

    // Not a log export at all.
    let config_file = tmp.path().join("not-an-export.log");
    std::fs::write(&config_file, a.config().to_toml()).unwrap();
    cases.push(("another kind of file", config_file, "not a Comity log export"));

    // B's own log.
    cases.push(("the node's own log", own, "this node's own log"));

    for (name, path, expected) in cases {
        let out = import(&b, &path).await;
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{name}: imported: {}", text(&out.stdout));
        assert!(stderr.contains("nothing imported") && stderr.contains(expected), "{name}: expected `{expected}` in: {stderr}");
        assert_eq!(contents(&b.config().store_dir()), before, "{name}: the store is unchanged");
    }

    // A log no peer of this node is: refused, unchanged.
    b.reconfigure(|c| c.peers.clear());
    let out = import(&b, &file).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success() && stderr.contains("nothing imported") && stderr.contains("no peer's log in this node's config"), "{stderr}");
    assert_eq!(contents(&b.config().store_dir()), before, "unknown origin: the store is unchanged");

    // The untouched file still imports.
    b.reconfigure(|c| c.peers = vec![a.as_peer("bafa")]);
    let out = import(&b, &file).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(contents(&b.config().store_dir()).1, entries.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_stops_at_the_part_this_node_cannot_accept_and_resumes_once_it_can() {
    const ETHZ: &str = "uni.ethz";
    let tmp = tempfile::tempdir().unwrap();
    let a = TestNode::start_with(&[BAFA, ETHZ], |c| c.origin = ORIGIN.into()).await;
    publish(&a, "DE-2026-PART", 6).await;
    a.client().await.publish(a.sign(grant(ETHZ, "CH-2026-0001"))).await.unwrap();
    let file = tmp.path().join("bafa.log");
    export(&a.url(), ORIGIN, &file).await;
    let proxy = FaultProxy::start(a.node().addr()).await;
    proxy.cut();
    // B does not trust uni.ethz, whose grant is entry 8, in the part 5..9.
    let mut b = mirror_through(&a, &proxy, |c| c.trusted.retain(|t| t.id == BAFA)).await;
    b.stop().await;

    let out = import(&b, &file).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "imported: {}", text(&out.stdout));
    assert!(stderr.contains("entries 0..5 are stored, verified") && stderr.contains("`uni.ethz` is not trusted here"), "{stderr}");
    assert_eq!(contents(&b.config().store_dir()).1, 5, "the part before the refused one is kept, as a catch-up keeps it");

    // Trusted now, the same file imports the rest onto that prefix.
    let ethz = a.authority(ETHZ);
    b.reconfigure(|c| c.trusted.push(ethz));
    let out = import(&b, &file).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("imported 4 entries of {ORIGIN}")), "{}", text(&out.stdout));
    b.start_again().await.unwrap();
    let mut at_b = b.client().await;
    assert_eq!(at_b.checkpoint_of(ORIGIN).await.unwrap().size, 9);
    at_b.licence(ETHZ, "CH-2026-0001").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confidential_decision_travels_as_its_commitment_and_its_body_comes_from_the_peer() {
    const LICENCE: &str = "DE-2026-C-000077";
    const SECRET: &str = "Kestrel Photonics";
    let tmp = tempfile::tempdir().unwrap();
    let a = TestNode::start_with(&[BAFA], |c| c.origin = ORIGIN.into()).await;
    let mut decision = grant(BAFA, LICENCE);
    decision.end_use = format!("Laser rangefinder modules for {SECRET}");
    // Readable by B's node only.
    let (restricted, body) = comity_proto::restricted::seal(&decision, vec![METI_ORIGIN.into()], [7; 32]);
    let statement = pb::Statement { kind: Some(pb::statement::Kind::RestrictedDecision(restricted)) };
    let envelope = comity_proto::statement::sign_statement(&statement, &[&a.signer(BAFA)]);
    a.client().await.publish_with_body(envelope, Some(body)).await.unwrap();
    publish(&a, "DE-2026-OPEN", 2).await;
    let file = tmp.path().join("bafa.log");
    export(&a.url(), ORIGIN, &file).await;
    let bytes = std::fs::read(&file).unwrap();
    assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()), "the export holds the signed commitment, not the body");

    let proxy = FaultProxy::start(a.node().addr()).await;
    proxy.cut();
    let mut b = mirror_through(&a, &proxy, |_| {}).await;
    b.stop().await;
    let out = import(&b, &file).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    b.start_again().await.unwrap();
    let mut at_b = b.client().await;
    let proven = at_b.licence(BAFA, LICENCE).await.unwrap();
    assert_eq!((proven.state.is_none(), proven.audience.clone()), (true, vec![METI_ORIGIN.to_string()]), "logged and proven, not readable yet");

    // With the link back, B (in the audience) receives the body from A and reads the licence.
    proxy.pass();
    let full = eventually(WAIT, "B to receive the confidential body", || {
        let mut c = at_b.clone();
        async move { c.licence(BAFA, LICENCE).await.ok().filter(|l| l.state.is_some()) }
    })
    .await;
    assert!(full.state.unwrap().terms.end_use.contains(SECRET));
}
