//! A node whose store is damaged refetches its own log from a peer that mirrors it: the same
//! tree comes back, every licence with its chain, and the federation carries on without a split
//! view.

use std::time::Duration;

use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::pb::Action;
use comity_proto::statement::StatementId;
use comity_tests::{eventually, TestNode};

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const ORIGIN: &str = "registry.bafa.example/log";
const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_node_refetches_its_own_log_from_a_peer() {
    let mut a = TestNode::start_with(&[BAFA], |c| c.origin = ORIGIN.into()).await;
    let mut at_a = a.client().await;
    for i in 0..12 {
        let g = grant(BAFA, &format!("DE-2026-REC-{i:03}"));
        let head = at_a.publish(a.sign(g.clone())).await.unwrap();
        if i % 3 == 0 {
            let id = StatementId::from_slice(&head.statement_id).unwrap();
            at_a.publish(a.sign(follow_up(&g, Action::Suspend, 2, id.0))).await.unwrap();
        }
    }
    let before = at_a.checkpoint().await.unwrap();
    let b = TestNode::start_mirror_of(&a, "bafa", &[METI], "registry.meti.example/log", |_| {}).await;
    eventually(WAIT, "B to mirror A", || async { b.node().mirror_status("bafa").filter(|s| s.size == before.size).map(|_| ()) }).await;

    // A's tree is damaged while it is stopped (16 entries: the root is the one stored hash at
    // level 4): it refuses to start.
    assert_eq!(before.size, 16);
    a.stop().await;
    let store = comity_node::store::Store::open(&a.config().store_dir()).unwrap();
    store.overwrite_log_hash_for_tests(ORIGIN, comity_proto::log::stored_hash_index(4, 0), [0xAB; 32]).unwrap();
    drop(store);
    assert!(a.start_again().await.is_err(), "a damaged tree must be refused at start");

    // Recovery from B.
    let recovered = comity_node::ops::recover::recover_own_log(a.config(), &b.url(), "").await.unwrap();
    assert_eq!(recovered.entries, before.size);
    assert!(recovered.damaged_store.exists(), "the damaged store is kept");
    a.start_again().await.unwrap();
    let mut at_a = a.client().await;
    let after = at_a.checkpoint().await.unwrap();
    assert_eq!((after.size, &after.root), (before.size, &before.root), "the same tree came back");
    for i in 0..12 {
        let licence = at_a.licence(BAFA, &format!("DE-2026-REC-{i:03}")).await.unwrap();
        assert_eq!(licence.chain.len(), if i % 3 == 0 { 2 } else { 1 });
    }
    // The federation carries on: a new decision reaches B, and B holds no evidence against A.
    at_a.publish(a.sign(grant(BAFA, "DE-2026-REC-NEW"))).await.unwrap();
    eventually(WAIT, "B to mirror A's new decision", || async { b.node().mirror_status("bafa").filter(|s| s.size == before.size + 1).map(|_| ()) }).await;
    assert!(b.node().registry().store().evidence().unwrap().is_empty(), "recovery is not a split view");
}
