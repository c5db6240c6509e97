//! Mirroring (pull): a node copies a peer's log, verifies every entry and the signed root, and
//! makes the peer's licences readable and searchable; untrusted or forged input is refused.

use std::time::Duration;

use comity_node::config::PeerConfig;
use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::pb::{self, Action};
use comity_proto::statement::StatementId;
use comity_tests::{eventually, TestNode};

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const WAIT: Duration = Duration::from_secs(15);

async fn origin_node() -> TestNode {
    TestNode::start_with(&[BAFA], |c| c.origin = "registry.bafa.example/log".into()).await
}

async fn mirror_of(peer: &TestNode, trust: bool, log_key: Option<String>) -> TestNode {
    TestNode::start_mirror_of(peer, "bafa", &[METI], "registry.meti.example/log", move |c| {
        if let Some(k) = log_key {
            c.peers[0].log_key = k;
        }
        if !trust {
            c.trusted.clear();
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peers_decisions_become_readable_and_searchable() {
    let a = origin_node().await;
    let b = mirror_of(&a, true, None).await;
    let mut at_a = a.client().await;
    let mut at_b = b.client().await;

    let base = grant(BAFA, "DE-2026-MIR-1");
    let first = at_a.publish(a.sign(base.clone())).await.unwrap();
    for i in 2..=3 {
        at_a.publish(a.sign(grant(BAFA, &format!("DE-2026-MIR-{i}")))).await.unwrap();
    }
    let licence = eventually(WAIT, "B to mirror A's first licence", || {
        let mut c = at_b.clone();
        async move { c.licence(BAFA, "DE-2026-MIR-1").await.ok() }
    })
    .await;
    assert_eq!(licence.chain.len(), 1);

    // A later amendment arrives too, and the mirrored licence follows the rules as at A.
    let head = StatementId::from_slice(&first.statement_id).unwrap();
    at_a.publish(a.sign(follow_up(&base, Action::Amend, 2, head.0))).await.unwrap();
    eventually(WAIT, "B to mirror the amendment", || {
        let mut c = at_b.clone();
        async move { c.licence(BAFA, "DE-2026-MIR-1").await.ok().filter(|l| l.summary.version == 2).map(|_| ()) }
    })
    .await;
    let found = at_b.search_all(pb::SearchRequest { authority: BAFA.into(), ..Default::default() }, 100).await.unwrap();
    assert_eq!(found.len(), 3);

    // B holds A's log: same size and root as A signed, and the checkpoint verifies with A's key.
    let a_checkpoint = at_a.checkpoint().await.unwrap();
    let status = eventually(WAIT, "B's mirror status to show 4 entries", || {
        let s = b.node().mirror_status("bafa");
        async move { s.filter(|s| s.size == 4) }
    })
    .await;
    assert_eq!(status.last_error, None);
    let store = b.node().registry().store();
    let note = store.log("registry.bafa.example/log").checkpoint().unwrap().unwrap();
    let verified = a.node().log_verifier().verify_checkpoint(&note).unwrap();
    assert_eq!(verified.root.to_vec(), a_checkpoint.root);
    // B's own log is untouched by what it mirrors.
    assert_eq!(at_b.checkpoint().await.unwrap().size, 0);
    let report = at_b.status().await.unwrap();
    assert_eq!((report.origin.as_str(), report.size, report.evidence_count), ("registry.meti.example/log", 0, 0));
    let peer = &report.peers[0];
    assert_eq!((peer.id.as_str(), peer.origin.as_str()), ("bafa", "registry.bafa.example/log"));
    assert!(peer.connected && !peer.frozen);
    assert_eq!((peer.mirrored_size, peer.peer_size, peer.lag_entries), (4, 4, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_of_an_untrusted_authority_are_refused() {
    let a = origin_node().await;
    let c = mirror_of(&a, false, None).await;
    let mut at_a = a.client().await;
    at_a.publish(a.sign(grant(BAFA, "DE-2026-UNT-1"))).await.unwrap();
    let status = eventually(WAIT, "C to refuse A's entries", || {
        let s = c.node().mirror_status("bafa");
        async move { s.filter(|s| s.failures > 0) }
    })
    .await;
    let error = status.last_error.unwrap();
    assert!(error.contains("authority `de.bafa` is not trusted here"), "{error}");
    assert_eq!(status.size, 0);
    assert_eq!(c.node().registry().store().log("registry.bafa.example/log").size().unwrap(), 0);
    let mut at_c = c.client().await;
    assert!(at_c.licence(BAFA, "DE-2026-UNT-1").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_not_signed_by_the_pinned_key_is_refused() {
    let a = origin_node().await;
    let impostor = comity_proto::log::LogKey::from_seed("registry.bafa.example/log", &[7; 32]).unwrap().verifier().to_string();
    let d = mirror_of(&a, true, Some(impostor)).await;
    let mut at_a = a.client().await;
    at_a.publish(a.sign(grant(BAFA, "DE-2026-KEY-1"))).await.unwrap();
    let status = eventually(WAIT, "D to refuse A's checkpoint", || {
        let s = d.node().mirror_status("bafa");
        async move { s.filter(|s| s.failures > 0) }
    })
    .await;
    assert!(status.last_error.unwrap().contains("signature does not verify"));
    assert_eq!(d.node().registry().store().log("registry.bafa.example/log").size().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_peer_is_retried_and_does_not_stop_the_node() {
    let unreachable = PeerConfig {
        id: "gone".into(),
        url: "http://127.0.0.1:1".into(),
        log_key: comity_proto::log::LogKey::from_seed("gone.example/log", &[1; 32]).unwrap().verifier().to_string(),
        witness_key: None,
        tls_name: None,
        relay: false,
    };
    let b = TestNode::start_with(&[METI], move |c| {
        c.peers = vec![unreachable];
        c.mirror_interval_ms = 20;
    })
    .await;
    let status = eventually(WAIT, "the dead peer to fail twice", || {
        let s = b.node().mirror_status("gone");
        async move { s.filter(|s| s.failures >= 2) }
    })
    .await;
    let error = status.last_error.unwrap();
    assert!(error.contains("unreachable"), "{error}");
    // The node still serves its own publishes meanwhile.
    let mut at_b = b.client().await;
    at_b.publish(b.sign(grant(METI, "JP-METI-2026-00001"))).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_that_do_not_hash_to_the_signed_root_are_refused() {
    let mut a = origin_node().await;
    let mut at_a = a.client().await;
    let published = at_a.publish(a.sign(grant(BAFA, "DE-2026-ROOT-1"))).await.unwrap();
    // A later entry, so the swapped one is not the newest, which A's own start-up check reads.
    at_a.publish(a.sign(grant(BAFA, "DE-2026-ROOT-2"))).await.unwrap();
    // A's operator swaps the logged envelope for another validly signed decision.
    a.stop().await;
    let swapped = a.sign(grant(BAFA, "DE-2026-ROOT-SWAPPED"));
    let id = StatementId::from_slice(&published.statement_id).unwrap();
    comity_node::store::Store::open(&a.config().store_dir()).unwrap().overwrite_statement_for_tests(&id, &swapped).unwrap();
    a.start_again().await.unwrap();

    let b = mirror_of(&a, true, None).await;
    let status = eventually(WAIT, "B to refuse A's entries", || {
        let s = b.node().mirror_status("bafa");
        async move { s.filter(|s| s.failures > 0) }
    })
    .await;
    let error = status.last_error.unwrap();
    assert!(error.contains("do not hash to its signed root"), "{error}");
    let mut at_b = b.client().await;
    assert!(at_b.licence(BAFA, "DE-2026-ROOT-SWAPPED").await.is_err(), "nothing of a refused checkpoint is kept");
}

/// Publishes `n` grants at A and waits until B's mirror holds `n` entries.
async fn publish_and_mirror(a: &TestNode, b: &TestNode, n: usize, prefix: &str) {
    let mut at_a = a.client().await;
    for i in 0..n {
        at_a.publish(a.sign(grant(BAFA, &format!("{prefix}-{i}")))).await.unwrap();
    }
    eventually(WAIT, "B to mirror A's entries", || {
        let s = b.node().mirror_status("bafa");
        async move { s.filter(|s| s.size == n as u64).map(|_| ()) }
    })
    .await;
}

/// A restarts with a wiped store but the same origin, key and port, and logs other history
/// (its operator removes the key's last signed record too, which an honest node keeps).
/// B is stopped meanwhile, so it sees only the finished rewrite (not the empty log on the way).
async fn rewrite_history(a: &mut TestNode, b: &mut TestNode, entries: usize, prefix: &str) {
    b.stop().await;
    a.stop().await;
    std::fs::remove_dir_all(a.config().store_dir()).unwrap();
    std::fs::remove_file(comity_node::log::last_signed_path(&a.config().log_key_path())).unwrap();
    a.start_again().await.unwrap();
    let mut at_a = a.client().await;
    for i in 0..entries {
        at_a.publish(a.sign(grant(BAFA, &format!("{prefix}-{i}")))).await.unwrap();
    }
    b.start_again().await.unwrap();
}

async fn split_view_evidence(b: &TestNode) -> (String, Vec<String>) {
    let at_b = b.client().await;
    let answer = eventually(WAIT, "B to find the split view", || {
        let mut c = at_b.clone();
        async move { c.evidence().await.ok().filter(|e| !e.frozen.is_empty()) }
    })
    .await;
    assert_eq!(answer.evidence.len(), 1);
    let e = &answer.evidence[0];
    assert_eq!((e.kind.as_str(), e.origin.as_str()), ("split_view", "registry.bafa.example/log"));
    (e.reason.clone(), e.checkpoints.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_rewrites_history_is_caught_and_frozen() {
    let mut a = origin_node().await;
    let mut b = mirror_of(&a, true, None).await;
    publish_and_mirror(&a, &b, 3, "DE-2026-OLD").await;

    rewrite_history(&mut a, &mut b, 5, "DE-2026-NEW").await;
    let (reason, checkpoints) = split_view_evidence(&b).await;
    assert!(reason.contains("no valid consistency proof from size 3 to 5"), "{reason}");
    // Both checkpoints carry A's signature: anyone can check the contradiction.
    let key = a.node().log_verifier();
    let sizes: Vec<u64> = checkpoints.iter().map(|c| key.verify_checkpoint(c).unwrap().size).collect();
    assert_eq!(sizes, vec![3, 5]);
    // Frozen: nothing of the new history was taken in.
    assert_eq!(b.node().registry().store().log("registry.bafa.example/log").size().unwrap(), 3);
    let mut at_b = b.client().await;
    assert!(at_b.licence(BAFA, "DE-2026-NEW-0").await.is_err());
    // The freeze is committed before the mirror task records its failure: wait for both.
    eventually(WAIT, "B's mirror to report the freeze", || {
        let s = b.node().mirror_status("bafa");
        async move { s.and_then(|s| s.last_error).filter(|e| e.contains("frozen")) }
    })
    .await;
    let report = at_b.status().await.unwrap();
    assert!(report.peers[0].frozen && !report.peers[0].connected);
    assert_eq!(report.evidence_count, 1);
    assert_eq!((report.peers[0].mirrored_size, report.peers[0].peer_size, report.peers[0].lag_entries), (3, 5, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_roots_for_one_size_are_a_split_view() {
    let mut a = origin_node().await;
    let mut b = mirror_of(&a, true, None).await;
    publish_and_mirror(&a, &b, 2, "DE-2026-SAME").await;
    rewrite_history(&mut a, &mut b, 2, "DE-2026-OTHER").await;
    let (reason, _) = split_view_evidence(&b).await;
    assert!(reason.contains("two different roots for size 2"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_sees_the_evidence_and_can_unfreeze() {
    use assert_cmd::Command;
    use predicates::str::contains;

    let mut a = origin_node().await;
    let mut b = mirror_of(&a, true, None).await;
    publish_and_mirror(&a, &b, 1, "DE-2026-OP").await;
    rewrite_history(&mut a, &mut b, 1, "DE-2026-OP-NEW").await;
    split_view_evidence(&b).await;

    let url = b.url();
    tokio::task::spawn_blocking(move || {
        Command::new(comity_tests::bin_path("comity"))
            .args(["--node", &url, "evidence"])
            .assert()
            .success()
            .stdout(contains("split_view   registry.bafa.example/log: two different roots for size 1"))
            .stdout(contains("FROZEN registry.bafa.example/log"));
        Command::new(comity_tests::bin_path("comity"))
            .args(["--node", &url, "peers"])
            .assert()
            .success()
            .stdout(contains("this node: log registry.meti.example/log with 0 entries; 1 piece(s) of evidence"))
            .stdout(contains("bafa  FROZEN"));
    })
    .await
    .unwrap();

    b.stop().await;
    let data_dir = b.config().data_dir.clone();
    tokio::task::spawn_blocking(move || {
        Command::new(comity_tests::bin_path("comity-node"))
            .args(["unfreeze", "--data-dir"])
            .arg(&data_dir)
            .arg("registry.bafa.example/log")
            .assert()
            .success()
            .stdout(contains("unfrozen; the evidence is kept"));
    })
    .await
    .unwrap();
    let store = comity_node::store::Store::open(&b.config().store_dir()).unwrap();
    assert_eq!(store.frozen_logs().unwrap(), vec![]);
    assert_eq!(store.evidence().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_reaches_a_node_through_a_relay_that_cannot_forge_it() {
    // C has no link to A: it mirrors A's log through B, pinning A's key.
    let a = origin_node().await;
    let b = mirror_of(&a, true, None).await;
    let via_b =
        PeerConfig { id: "bafa-via-meti".into(), url: b.url(), log_key: a.node().log_verifier().to_string(), witness_key: None, tls_name: None, relay: false };
    let trusted = vec![a.authority(BAFA)];
    let c = TestNode::start_with(&["uk.ecju"], move |cfg| {
        cfg.origin = "registry.ecju.example/log".into();
        cfg.peers = vec![via_b];
        cfg.trusted = trusted;
        cfg.mirror_interval_ms = 50;
    })
    .await;
    let mut at_a = a.client().await;
    at_a.publish(a.sign(grant(BAFA, "DE-2026-RELAY-1"))).await.unwrap();
    let at_c = c.client().await;
    let licence = eventually(WAIT, "C to get A's licence through B", || {
        let mut cl = at_c.clone();
        async move { cl.licence(BAFA, "DE-2026-RELAY-1").await.ok() }
    })
    .await;
    assert_eq!(licence.chain.len(), 1);
    // What C holds is A's log, signed by A, not B's.
    let note = c.node().registry().store().log("registry.bafa.example/log").checkpoint().unwrap().unwrap();
    a.node().log_verifier().verify_checkpoint(&note).unwrap();
    let status = eventually(WAIT, "C's status to show the mirrored entry", || {
        let mut cl = at_c.clone();
        async move { cl.status().await.ok().filter(|s| s.peers[0].mirrored_size == 1) }
    })
    .await;
    assert_eq!(status.peers[0].origin, "registry.bafa.example/log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_checkpoints_are_pushed_to_mirrors_and_shutdown_ends_the_streams() {
    let mut a = origin_node().await;
    let entry = a.as_peer("bafa");
    let trusted = vec![a.authority(BAFA)];
    // B polls only every 30 s: anything it sees within the 10 s below was pushed.
    let b = TestNode::start_with(&[METI], move |c| {
        c.origin = "registry.meti.example/log".into();
        c.peers = vec![entry];
        c.trusted = trusted;
        c.mirror_interval_ms = 30_000;
    })
    .await;
    eventually(WAIT, "B's first round", || {
        let s = b.node().mirror_status("bafa");
        async move { s.filter(|s| s.checkpoint_time > 0).map(|_| ()) }
    })
    .await;
    let at_a = a.client().await;
    let at_b = b.client().await;
    let mut n = 0;
    eventually(Duration::from_secs(10), "a checkpoint pushed to B", || {
        n += 1;
        let (mut a_client, mut b_client, envelope) = (at_a.clone(), at_b.clone(), a.sign(grant(BAFA, &format!("DE-2026-PUSH-{n}"))));
        async move {
            // Keep publishing until B's subscription is in place and a push arrives.
            a_client.publish(envelope).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let found = b_client.search(pb::SearchRequest { authority: BAFA.into(), ..Default::default() }).await.unwrap();
            (!found.licences.is_empty()).then_some(())
        }
    })
    .await;
    // A stops gracefully although B holds a subscription stream to it.
    tokio::time::timeout(Duration::from_secs(10), a.stop()).await.expect("graceful shutdown is not held up by subscribers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_is_behind_is_not_evidence_against_the_origin() {
    let mut a = origin_node().await;
    let mut b = mirror_of(&a, true, None).await;
    let direct = a.as_peer("bafa");
    let via_b =
        PeerConfig { id: "bafa-via-meti".into(), url: b.url(), log_key: a.node().log_verifier().to_string(), witness_key: None, tls_name: None, relay: false };
    let trusted = vec![a.authority(BAFA)];
    let c = TestNode::start_with(&["uk.ecju"], move |cfg| {
        cfg.origin = "registry.ecju.example/log".into();
        cfg.peers = vec![direct, via_b];
        cfg.trusted = trusted;
        cfg.mirror_interval_ms = 50;
    })
    .await;
    publish_and_mirror(&a, &b, 3, "DE-2026-LAG").await;
    let wait_for = |peer: &'static str, what: &'static str, want: fn(&comity_node::federation::mirror::MirrorStatus) -> bool| {
        let node = &c;
        async move {
            eventually(WAIT, what, || {
                let s = node.node().mirror_status(peer);
                async move { s.filter(want).map(|_| ()) }
            })
            .await
        }
    };
    wait_for("bafa-via-meti", "C to mirror A through B", |s| s.size == 3).await;

    // B goes down; A logs two more entries, which C gets directly; then A goes away too.
    b.stop().await;
    let mut at_a = a.client().await;
    for i in 3..5 {
        at_a.publish(a.sign(grant(BAFA, &format!("DE-2026-LAG-{i}")))).await.unwrap();
    }
    wait_for("bafa", "C to get 5 entries from A", |s| s.size == 5).await;
    wait_for("bafa-via-meti", "C's relay path to fail while B is down", |s| s.failures > 0).await;
    a.stop().await;
    b.start_again().await.unwrap();

    // Through B, C now sees A's checkpoint of size 3: older than its own, and consistent.
    wait_for("bafa-via-meti", "C's relay path to recover", |s| s.failures == 0).await;
    let mut at_c = c.client().await;
    let evidence = at_c.evidence().await.unwrap();
    assert!(evidence.evidence.is_empty() && evidence.frozen.is_empty(), "{evidence:?}");
    assert_eq!(c.node().registry().store().log("registry.bafa.example/log").size().unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_carried_by_a_mirrored_log_is_evidence_and_freezes_that_log() {
    // BAFA's key is (wrongly) hosted at two nodes, and signs two different first decisions for
    // one licence: each node accepts one, so the fork only shows at a node mirroring both.
    let a = origin_node().await;
    let c = TestNode::start_with(&[], |cfg| {
        cfg.origin = "registry.second.example/log".into();
        cfg.authorities = vec![a.authority(BAFA)];
    })
    .await;
    let (to_a, to_c) = (a.as_peer("bafa"), c.as_peer("second"));
    let trusted = vec![a.authority(BAFA)];
    let b = TestNode::start_with(&[METI], move |cfg| {
        cfg.origin = "registry.meti.example/log".into();
        cfg.peers = vec![to_a, to_c];
        cfg.trusted = trusted;
        cfg.mirror_interval_ms = 50;
    })
    .await;
    let first = grant(BAFA, "DE-2026-FORK-1");
    let mut second = first.clone();
    second.end_users[0].name = "Another End User Ltd".into();
    a.client().await.publish(a.sign(first)).await.unwrap();
    eventually(WAIT, "B to mirror A", || {
        let s = b.node().mirror_status("bafa");
        async move { s.filter(|s| s.size == 1).map(|_| ()) }
    })
    .await;
    let published = c.client().await.publish(a.sign(second)).await.unwrap();

    let at_b = b.client().await;
    let answer = eventually(WAIT, "B to record the fork and freeze the second log", || {
        let mut client = at_b.clone();
        async move { client.evidence().await.ok().filter(|e| !e.frozen.is_empty()) }
    })
    .await;
    assert_eq!(answer.frozen.len(), 1);
    assert_eq!(answer.frozen[0].origin, "registry.second.example/log");
    let fork = answer.evidence.iter().find(|e| e.kind == "licence_fork").expect("fork evidence");
    assert_eq!((fork.licence_id.as_str(), fork.version, fork.origin.as_str()), ("DE-2026-FORK-1", 1, "registry.second.example/log"));
    assert_eq!(StatementId::of(&fork.envelopes[1]).0.to_vec(), published.statement_id);
    // The licence at B is still the first decision; the log that carried the fork stops there.
    let mut client = at_b.clone();
    let licence = client.licence(BAFA, "DE-2026-FORK-1").await.unwrap();
    assert_eq!(licence.chain.len(), 1);
    assert_eq!(b.node().mirror_status("second").unwrap().size, 0);
    let status = client.status().await.unwrap();
    let second_peer = status.peers.iter().find(|p| p.id == "second").unwrap();
    assert!(second_peer.frozen);
    assert_eq!(second_peer.evidence_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_catch_up_is_stored_in_proven_parts() {
    let a = origin_node().await;
    let mut at_a = a.client().await;
    let total = 450;
    for i in 0..total {
        at_a.publish(a.sign(grant(BAFA, &format!("DE-2026-PART-{i}")))).await.unwrap();
    }
    let (peer, trusted) = (a.as_peer("bafa"), vec![a.authority(BAFA)]);
    let b = TestNode::start_with(&[METI], move |c| {
        c.origin = "registry.meti.example/log".into();
        c.peers = vec![peer];
        c.trusted = trusted;
        c.mirror_interval_ms = 50;
        c.limits.mirror_entries_per_part = 100;
    })
    .await;
    eventually(WAIT, "B to catch up with A's whole log", || {
        let s = b.node().mirror_status("bafa");
        async move { s.filter(|s| s.size == total).map(|_| ()) }
    })
    .await;
    let mut at_b = b.client().await;
    let theirs = at_a.checkpoint().await.unwrap();
    let ours = at_b.checkpoint_of("registry.bafa.example/log").await.unwrap();
    assert_eq!((ours.size, ours.root), (theirs.size, theirs.root));
    for i in [0, 99, 100, 449] {
        assert_eq!(at_b.licence(BAFA, &format!("DE-2026-PART-{i}")).await.unwrap().chain.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_holds_the_fresh_heartbeats_of_an_idle_log() {
    let a = TestNode::start_with(&[BAFA], |c| {
        c.origin = "registry.bafa.example/log".into();
        c.checkpoint_interval_secs = 1;
    })
    .await;
    let b = mirror_of(&a, true, None).await;
    publish_and_mirror(&a, &b, 1, "DE-2026-IDLE").await;
    let held_time = || {
        let note = b.node().registry().store().log("registry.bafa.example/log").checkpoint().unwrap().unwrap();
        comity_proto::log::stored_checkpoint_fields(&note).unwrap().2
    };
    let first = held_time();
    // A publishes nothing more; it re-signs the same tree every second, and B holds the fresher
    // note (so the idle log never looks stale there).
    eventually(WAIT, "B to hold a later signing of A's idle log", || async { (held_time() >= first + 2).then_some(()) }).await;
    assert_eq!(b.node().mirror_status("bafa").unwrap().size, 1);
}
