//! Malicious peers and crashes: an honest node mirrors a peer that lies (forged entries under a
//! validly signed checkpoint, rewritten or truncated history, endless streams, a split view
//! shown to two nodes), and a node killed with SIGKILL in the middle of ingesting a mirror.
//!
//! The liar is written here: a tonic server of `comity.v1.Log` with a log key we hold and
//! entries we choose, so every answer can be exactly as wrong as a scenario needs. It does not
//! serve `Federation`, so its mirrors poll it (`Subscribe` answers `UNIMPLEMENTED`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use comity_client::Client;
use comity_node::config::{AuthorityConfig, PeerConfig};
use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::keyfile::KeyFile;
use comity_proto::log::{entry_leaf_hash, prove_consistency, tree_root, LogKey, LogVerifier, MemoryHashes, TreeHash, EMPTY_ROOT};
use comity_proto::pb::{self, log_server, Action};
use comity_proto::statement::{sign_decision, StatementId};
use comity_tests::fault_proxy::FaultProxy;
use comity_tests::{eventually, publish_concurrently, NodeProcess, TestNode};
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::tokio_stream::Stream;
use tonic::{Request, Response, Status};

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
/// The authority whose decisions the liar's log carries; the victim trusts its key.
const SBDU: &str = "fr.sbdu";
const EVIL_ORIGIN: &str = "registry.evil.example/log";
const WAIT: Duration = Duration::from_secs(30);
/// The log time of every entry of the liar's log: when its decisions were made, before any
/// checkpoint it signs (even those a day behind).
const LOGGED_AT: i64 = comity_proto::decision::fixtures::DECIDED;

// ---------------------------------------------------------------------------------------------
// The lying log server.

/// One version of the liar's log: entries, their Merkle tree, and a checkpoint signed over them.
struct View {
    envelopes: Vec<Vec<u8>>,
    hashes: MemoryHashes,
    size: u64,
    root: TreeHash,
    note: String,
}

impl View {
    /// `envelopes` as a log, with a checkpoint validly signed by `key` whatever they contain.
    fn new(key: &LogKey, envelopes: Vec<Vec<u8>>) -> Arc<Self> {
        Self::dated(key, envelopes, comity_node::now())
    }

    /// Like [`View::new`], with the checkpoint dated `time` (a peer whose clock is off).
    fn dated(key: &LogKey, envelopes: Vec<Vec<u8>>, time: i64) -> Arc<Self> {
        let mut hashes = MemoryHashes::default();
        for e in &envelopes {
            hashes.append(&entry_leaf_hash(LOGGED_AT, e));
        }
        let size = envelopes.len() as u64;
        let root = if size == 0 { EMPTY_ROOT } else { tree_root(size, &hashes).unwrap() };
        let map_root = comity_proto::licence_map::root_of_entries(envelopes.iter().map(Vec::as_slice));
        let note = key.sign_checkpoint(size, &root, &map_root, time).unwrap();
        Arc::new(Self { envelopes, hashes, size, root, note })
    }
}

/// How `GetEntries` answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Entries {
    /// The entries asked for, then the end of the stream.
    Honest,
    /// This many entries fewer than asked for, then the end.
    Short(u64),
    /// The entries asked for, then more (indexes past the end) for as long as anyone reads.
    PastEnd,
    /// The entries asked for, then nothing, and the stream never ends.
    NeverEnd,
}

struct Behaviour {
    view: Arc<View>,
    entries: Entries,
}

/// A `comity.v1.Log` server that says whatever its behaviour says.
#[derive(Clone)]
struct LyingLog {
    key: LogKey,
    behaviour: Arc<Mutex<Behaviour>>,
    /// `GetEntries` calls answered.
    entries_calls: Arc<AtomicU64>,
    /// Entry streams the client stopped reading before this server ended them.
    hung_up: Arc<AtomicU64>,
}

impl LyingLog {
    fn new(key: LogKey, envelopes: Vec<Vec<u8>>) -> Self {
        let view = View::new(&key, envelopes);
        Self {
            key,
            behaviour: Arc::new(Mutex::new(Behaviour { view, entries: Entries::Honest })),
            entries_calls: Arc::new(AtomicU64::new(0)),
            hung_up: Arc::new(AtomicU64::new(0)),
        }
    }

    /// From now on, serves `envelopes` under a fresh, validly signed checkpoint.
    fn serve(&self, envelopes: Vec<Vec<u8>>) -> Arc<View> {
        let view = View::new(&self.key, envelopes);
        self.behaviour.lock().unwrap().view = view.clone();
        view
    }

    /// Serves `envelopes` under a checkpoint dated `skew` seconds off the true time.
    fn serve_skewed(&self, envelopes: Vec<Vec<u8>>, skew: i64) -> Arc<View> {
        let view = View::dated(&self.key, envelopes, comity_node::now() + skew);
        self.behaviour.lock().unwrap().view = view.clone();
        view
    }

    fn set_entries(&self, entries: Entries) {
        self.behaviour.lock().unwrap().entries = entries;
    }

    fn view(&self) -> Arc<View> {
        self.behaviour.lock().unwrap().view.clone()
    }

    fn check_origin(&self, origin: &str) -> Result<(), Status> {
        if origin.is_empty() || origin == EVIL_ORIGIN {
            Ok(())
        } else {
            Err(Status::not_found(format!("no log `{origin}` here")))
        }
    }
}

type EntryStream = std::pin::Pin<Box<dyn Stream<Item = Result<pb::GetEntriesResponse, Status>> + Send>>;

fn entry_message(view: &View, indexes: std::ops::Range<u64>) -> pb::GetEntriesResponse {
    pb::GetEntriesResponse { entries: indexes.map(|i| pb::LogEntry { index: i, envelope: view.envelopes[i as usize].clone(), logged_at: LOGGED_AT }).collect() }
}

#[tonic::async_trait]
impl log_server::Log for LyingLog {
    async fn get_checkpoint(&self, request: Request<pb::GetCheckpointRequest>) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        self.check_origin(&request.get_ref().origin)?;
        let view = self.view();
        Ok(Response::new(pb::GetCheckpointResponse {
            checkpoint: view.note.clone(),
            origin: EVIL_ORIGIN.into(),
            size: view.size,
            root: view.root.to_vec(),
            time: comity_node::now(),
            verifier_key: self.key.verifier().to_string(),
            cosigned_checkpoint: String::new(),
            frozen: String::new(),
        }))
    }

    type GetEntriesStream = EntryStream;

    async fn get_entries(&self, request: Request<pb::GetEntriesRequest>) -> Result<Response<EntryStream>, Status> {
        let pb::GetEntriesRequest { start, end, origin } = request.into_inner();
        self.check_origin(&origin)?;
        let (view, mode) = {
            let b = self.behaviour.lock().unwrap();
            (b.view.clone(), b.entries)
        };
        if start >= end || end > view.size {
            return Err(Status::out_of_range(format!("[{start}, {end}) is not in a log of size {}", view.size)));
        }
        self.entries_calls.fetch_add(1, Ordering::SeqCst);
        let hung_up = self.hung_up.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let served_end = match mode {
                Entries::Short(fewer) => end.saturating_sub(fewer).max(start),
                _ => end,
            };
            let mut next = start;
            while next < served_end {
                let upto = served_end.min(next + 256);
                if tx.send(Ok(entry_message(&view, next..upto))).await.is_err() {
                    hung_up.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                next = upto;
            }
            match mode {
                Entries::PastEnd => loop {
                    // Entry `next` and on, as if the log went on forever.
                    let message =
                        pb::GetEntriesResponse { entries: vec![pb::LogEntry { index: next, envelope: view.envelopes[0].clone(), logged_at: LOGGED_AT }] };
                    if tx.send(Ok(message)).await.is_err() {
                        hung_up.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    next += 1;
                },
                Entries::NeverEnd => {
                    // Hold the stream open until the client goes away.
                    tx.closed().await;
                    hung_up.fetch_add(1, Ordering::SeqCst);
                }
                Entries::Honest | Entries::Short(_) => {}
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_inclusion_proof(&self, _: Request<pb::GetInclusionProofRequest>) -> Result<Response<pb::GetInclusionProofResponse>, Status> {
        Err(Status::unimplemented("not needed by mirrors"))
    }

    /// A genuine proof within the current tree: after a rewrite, it cannot link the old root.
    async fn get_consistency_proof(&self, request: Request<pb::GetConsistencyProofRequest>) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
        let r = request.into_inner();
        self.check_origin(&r.origin)?;
        let view = self.view();
        let new_size = if r.new_size == 0 { view.size } else { r.new_size };
        if new_size > view.size || r.old_size > new_size {
            return Err(Status::out_of_range(format!("no proof from {} to {new_size} in a log of size {}", r.old_size, view.size)));
        }
        let hashes = if r.old_size == 0 || r.old_size == new_size { vec![] } else { prove_consistency(r.old_size, new_size, &view.hashes).unwrap() };
        Ok(Response::new(pb::GetConsistencyProofResponse { old_size: r.old_size, new_size, hashes: hashes.into_iter().map(|h| h.to_vec()).collect() }))
    }
}

/// A running lying server; stops when dropped.
struct Liar {
    log: LyingLog,
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Liar {
    async fn start(log: LyingLog) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let service = log_server::LogServer::new(log.clone());
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await;
        });
        Self { log, url, task }
    }
}

impl Drop for Liar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn evil_key() -> LogKey {
    LogKey::from_seed(EVIL_ORIGIN, &[66; 32]).unwrap()
}

/// Grants `SBDU-{tag}-{i}` for `range`, signed with `key`.
fn grants(key: &KeyFile, tag: &str, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    let signer = key.signer().unwrap();
    range.map(|i| sign_decision(grant(SBDU, &format!("SBDU-{tag}-{i}")), &signer)).collect()
}

fn trusted(key: &KeyFile) -> AuthorityConfig {
    AuthorityConfig { id: key.authority.clone(), name: String::new(), keys: vec![key.public_key.clone()] }
}

// ---------------------------------------------------------------------------------------------
// A victim node mirroring the liar and an honest peer.

struct Scene {
    /// The honest peer, hosting `de.bafa`.
    honest: TestNode,
    liar: Liar,
    /// The honest node under attack: it mirrors `honest` (peer `bafa`) and the liar (`evil`).
    victim: TestNode,
    sbdu: KeyFile,
    published: usize,
}

impl Scene {
    async fn new(first_view: impl FnOnce(&KeyFile) -> Vec<Vec<u8>>, entries: Entries) -> Self {
        let sbdu = KeyFile::generate(SBDU);
        let log = LyingLog::new(evil_key(), first_view(&sbdu));
        log.set_entries(entries);
        let liar = Liar::start(log).await;
        let honest = TestNode::start_with(&[BAFA], |c| c.origin = "registry.bafa.example/log".into()).await;
        let mut evil = honest.as_peer("evil");
        evil.url = liar.url.clone();
        evil.log_key = evil_key().verifier().to_string();
        evil.witness_key = None;
        let peers = vec![honest.as_peer("bafa"), evil];
        let trust = vec![honest.authority(BAFA), trusted(&sbdu)];
        let victim = TestNode::start_with(&[METI], move |c| {
            c.origin = "registry.meti.example/log".into();
            c.peers = peers;
            c.trusted = trust;
            c.mirror_interval_ms = 50;
            // Every call to a peer, streams included, must end within this deadline.
            c.limits.request_timeout_secs = 3;
        })
        .await;
        Self { honest, liar, victim, sbdu, published: 0 }
    }

    fn evil_status(&self) -> comity_node::federation::mirror::MirrorStatus {
        self.victim.node().mirror_status("evil").unwrap()
    }

    /// Entries of the liar's log the victim stored.
    fn evil_stored(&self) -> u64 {
        self.victim.node().registry().store().log(EVIL_ORIGIN).size().unwrap()
    }

    /// Waits for a failed round of the liar's mirror whose error contains `text`.
    async fn refused(&self, text: &str) -> String {
        eventually(WAIT, &format!("the victim to refuse the liar with `{text}`"), || async { self.evil_status().last_error.filter(|e| e.contains(text)) }).await
    }

    /// The liar's licences the victim serves.
    async fn evil_licences(&self) -> usize {
        let mut client = self.victim.client().await;
        client.search_all(pb::SearchRequest { authority: SBDU.into(), ..Default::default() }, 1000).await.unwrap().len()
    }

    /// Publishes a new licence at the honest peer and waits for the victim to serve it.
    async fn honest_peer_keeps_converging(&mut self) {
        self.published += 1;
        let id = format!("DE-2026-HONEST-{}", self.published);
        self.honest.client().await.publish(self.honest.sign(grant(BAFA, &id))).await.unwrap();
        let client = self.victim.client().await;
        eventually(WAIT, &format!("the victim to mirror the honest peer's {id}"), || {
            let (mut client, id) = (client.clone(), id.clone());
            async move { client.licence(BAFA, &id).await.ok().map(|_| ()) }
        })
        .await;
    }

    /// Waits for the victim's split-view evidence against the liar; returns its reason and the
    /// sizes of the two checkpoints, each verified with the liar's key.
    async fn split_view(&self) -> (String, Vec<(u64, TreeHash)>) {
        split_view_at(&self.victim, &evil_key().verifier()).await.expect("split view")
    }
}

/// The split-view evidence `node` holds against `log`, once it also froze the log; `None` if
/// there is none yet.
async fn split_view_evidence(node: &TestNode, log: &LogVerifier) -> Option<(String, Vec<(u64, TreeHash)>)> {
    let answer = node.client().await.evidence().await.ok()?;
    if !answer.frozen.iter().any(|f| f.origin == log.name()) {
        return None;
    }
    let e = answer.evidence.iter().find(|e| e.kind == "split_view" && e.origin == log.name())?;
    let checkpoints = e.checkpoints.iter().map(|c| log.verify_checkpoint(c).map(|c| (c.size, c.root)).expect("evidence checkpoints verify")).collect();
    Some((e.reason.clone(), checkpoints))
}

async fn split_view_at(node: &TestNode, log: &LogVerifier) -> Option<(String, Vec<(u64, TreeHash)>)> {
    Some(eventually(WAIT, "split-view evidence and a frozen log", || split_view_evidence(node, log)).await)
}

/// `envelope` with one bit of its signature flipped (still a well-formed envelope).
fn forge(mut envelope: Vec<u8>) -> Vec<u8> {
    let last = envelope.len() - 1;
    envelope[last] ^= 1;
    envelope
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_entries_under_a_valid_checkpoint_are_refused_and_nothing_is_stored() {
    // A bad signature on entry 1 of 2.
    let mut scene = Scene::new(
        |k| {
            let mut view = grants(k, "FORGED", 0..2);
            view[1] = forge(view[1].clone());
            view
        },
        Entries::Honest,
    )
    .await;
    scene.refused("entry 1 of registry.evil.example/log: signature by key").await;
    assert!(scene.evil_status().last_error.unwrap().contains("does not verify"));
    scene.honest_peer_keeps_converging().await;

    // Signed by a key the victim does not know for the authority.
    let stranger = KeyFile::generate(SBDU);
    let mut view = grants(&scene.sbdu, "FORGED", 0..1);
    view.extend(grants(&stranger, "FORGED", 1..2));
    scene.liar.log.serve(view);
    scene.refused("is not accepted here (unknown key)").await;

    // A decision by an authority the victim does not trust at all.
    let untrusted = KeyFile::generate("ch.seco");
    let mut view = grants(&scene.sbdu, "FORGED", 0..1);
    view.push(sign_decision(grant("ch.seco", "CH-2026-1"), &untrusted.signer().unwrap()));
    scene.liar.log.serve(view);
    scene.refused("authority `ch.seco` is not trusted here").await;

    // Nothing of any refused checkpoint was kept, not even its valid entry 0.
    assert_eq!(scene.evil_stored(), 0);
    assert_eq!(scene.evil_licences().await, 0);
    scene.honest_peer_keeps_converging().await;

    // The same log without the bad entry is taken in: it was the entry that was refused.
    scene.liar.log.serve(grants(&scene.sbdu, "FORGED", 0..2));
    eventually(WAIT, "the victim to mirror the clean log", || async { (scene.evil_stored() == 2).then_some(()) }).await;
    assert_eq!(scene.evil_licences().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_history_is_split_view_evidence_and_freezes_the_origin() {
    let mut scene = Scene::new(|k| grants(k, "OLD", 0..3), Entries::Honest).await;
    eventually(WAIT, "the victim to mirror the first history", || async { (scene.evil_stored() == 3).then_some(()) }).await;

    // A larger tree that does not extend the first: no consistency proof can link them.
    let rewritten = scene.liar.log.serve(grants(&scene.sbdu, "NEW", 0..5));
    let (reason, checkpoints) = scene.split_view().await;
    assert!(reason.contains("no valid consistency proof from size 3 to 5"), "{reason}");
    assert_eq!(checkpoints.iter().map(|c| c.0).collect::<Vec<_>>(), vec![3, 5]);
    assert_eq!(checkpoints[1].1, rewritten.root);

    // Frozen: nothing of the rewrite is taken in, and the honest peer is still mirrored.
    assert_eq!(scene.evil_stored(), 3);
    assert!(scene.victim.client().await.licence(SBDU, "SBDU-NEW-4").await.is_err());
    scene.refused("is frozen").await;
    scene.honest_peer_keeps_converging().await;
    assert_eq!(scene.evil_stored(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_log_is_refused_without_storing_part_of_it() {
    // Two entries fewer than asked for.
    let mut scene = Scene::new(|k| grants(k, "TRUNC", 0..5), Entries::Short(2)).await;
    scene.refused("peer sent 3 of the 5 entries asked for").await;
    assert_eq!(scene.evil_stored(), 0);
    assert_eq!(scene.evil_licences().await, 0);
    scene.honest_peer_keeps_converging().await;

    // Served in full, the same log is taken in.
    scene.liar.log.set_entries(Entries::Honest);
    eventually(WAIT, "the victim to mirror all 5 entries", || async { (scene.evil_stored() == 5).then_some(()) }).await;

    // The checkpoint shrinks to a tree that is not a prefix of the one held.
    scene.liar.log.serve(grants(&scene.sbdu, "SHRUNK", 0..3));
    let (reason, checkpoints) = scene.split_view().await;
    assert!(reason.contains("the root signed for size 3 differs from that prefix of the tree signed at size 5"), "{reason}");
    assert_eq!(checkpoints.iter().map(|c| c.0).collect::<Vec<_>>(), vec![5, 3]);
    assert_eq!(scene.evil_stored(), 5);
    assert_eq!(scene.evil_licences().await, 5);
    scene.honest_peer_keeps_converging().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_stream_running_past_the_requested_end_is_cut_off() {
    let mut scene = Scene::new(|k| grants(k, "ENDLESS", 0..3), Entries::PastEnd).await;
    scene.refused("peer sent entry 3 where 3 was due").await;
    // The victim stopped reading: the endless stream ended from its side.
    eventually(WAIT, "the victim to hang up on the endless stream", || async { (scene.liar.log.hung_up.load(Ordering::SeqCst) > 0).then_some(()) }).await;
    assert_eq!(scene.evil_stored(), 0);
    scene.honest_peer_keeps_converging().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_stream_that_never_ends_fails_the_round_in_bounded_time() {
    let mut scene = Scene::new(|k| grants(k, "STUCK", 0..3), Entries::NeverEnd).await;
    eventually(WAIT, "the victim to ask for the liar's entries", || async { (scene.liar.log.entries_calls.load(Ordering::SeqCst) > 0).then_some(()) }).await;
    // Meanwhile the honest peer's mirror is not held up.
    scene.honest_peer_keeps_converging().await;
    // The victim's calls have a 3 s deadline, streams included: the round fails soon after.
    let status = eventually(Duration::from_secs(20), "the stuck round to fail", || async { Some(scene.evil_status()).filter(|s| s.failures > 0) }).await;
    assert_eq!(scene.evil_stored(), 0, "{status:?}");
    // The victim dropped the stream when the round failed; the liar's server sees the reset
    // a moment later.
    eventually(WAIT, "the liar to see the victim hang up on the stuck stream", || async { (scene.liar.log.hung_up.load(Ordering::SeqCst) > 0).then_some(()) })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_clock_off_by_hours_or_days_never_reorders_a_log_and_future_checkpoints_are_refused() {
    const HOUR: i64 = 3600;
    const DAY: i64 = 86_400;
    let mut scene = Scene::new(|_| Vec::new(), Entries::Honest).await;
    let mut envelopes = grants(&scene.sbdu, "SKEW", 0..2);
    // A clock a day or an hour ahead dates checkpoints in the future: refused, nothing stored.
    for skew in [DAY, HOUR] {
        scene.liar.log.serve_skewed(envelopes.clone(), skew);
        let error = scene.refused("in the future").await;
        assert!(error.contains("600 s allowed"), "{error}");
        assert_eq!(scene.evil_stored(), 0);
    }
    // A clock a day or an hour behind only makes the log look older; sizes and proofs order it.
    scene.liar.log.serve_skewed(envelopes.clone(), -DAY);
    eventually(WAIT, "the day-behind checkpoint to be ingested", || async { (scene.evil_stored() == 2).then_some(()) }).await;
    envelopes.extend(grants(&scene.sbdu, "SKEW", 2..4));
    scene.liar.log.serve_skewed(envelopes.clone(), -DAY - HOUR);
    eventually(WAIT, "a larger checkpoint dated earlier still to be ingested", || async { (scene.evil_stored() == 4).then_some(()) }).await;
    // Within the tolerance (clocks a few minutes apart) is fine.
    envelopes.extend(grants(&scene.sbdu, "SKEW", 4..5));
    scene.liar.log.serve_skewed(envelopes.clone(), 300);
    eventually(WAIT, "a checkpoint five minutes ahead to be ingested", || async { (scene.evil_stored() == 5).then_some(()) }).await;
    assert!(scene.victim.node().registry().store().evidence().unwrap().is_empty(), "clock differences are not evidence");
    scene.honest_peer_keeps_converging().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_shown_different_checkpoints_of_one_size_find_the_split_view() {
    // The liar shows B one log of two entries and C another, both under validly signed
    // checkpoints of size 2. B and C mirror each other's logs.
    let sbdu = KeyFile::generate(SBDU);
    let to_b = Liar::start(LyingLog::new(evil_key(), grants(&sbdu, "TO-B", 0..2))).await;
    let to_c = Liar::start(LyingLog::new(evil_key(), grants(&sbdu, "TO-C", 0..2))).await;
    assert_ne!(to_b.log.view().root, to_c.log.view().root);

    // Each node's address and log key must be in the other's config before either starts.
    let keys = tempfile::tempdir().unwrap();
    let (b_front, c_front) = (FaultProxy::reserve().await, FaultProxy::reserve().await);
    let b_origin = "registry.meti.example/log";
    let c_origin = "registry.ecju.example/log";
    let b_key_file = keys.path().join("b.log.key");
    let c_key_file = keys.path().join("c.log.key");
    let b_log = comity_node::log::load_or_create_key(&b_key_file, b_origin).unwrap().verifier().to_string();
    let c_log = comity_node::log::load_or_create_key(&c_key_file, c_origin).unwrap().verifier().to_string();
    let template = TestNode::start(&[]).await;
    let peer = |id: &str, url: &str, log_key: &str| -> PeerConfig {
        let mut p = template.as_peer(id);
        p.url = url.into();
        p.log_key = log_key.into();
        p
    };
    let evil = evil_key().verifier().to_string();
    // No relay path is configured: each node asks its other peer for the liar's log by itself
    // (`relay_paths`, on by default), which is how the two views meet.
    let b_peers = vec![peer("evil", &to_b.url, &evil), peer("ecju", &c_front.url(), &c_log)];
    let c_peers = vec![peer("evil", &to_c.url, &evil), peer("meti", &b_front.url(), &b_log)];
    drop(template);
    let start = |origin: &'static str, key_file: std::path::PathBuf, peers: Vec<PeerConfig>| {
        let trust = vec![trusted(&sbdu)];
        TestNode::start_with(&[], move |c| {
            c.origin = origin.into();
            c.log_key_file = Some(key_file);
            c.peers = peers;
            c.trusted = trust;
            c.mirror_interval_ms = 50;
        })
    };
    let b = start(b_origin, b_key_file, b_peers).await;
    b_front.set_target(b.node().addr());
    let c = start(c_origin, c_key_file, c_peers).await;
    c_front.set_target(c.node().addr());

    let evil = evil_key().verifier();
    let (reason, checkpoints) = eventually(WAIT, "B or C to record the split view", || async {
        match split_view_evidence(&b, &evil).await {
            Some(found) => Some(found),
            None => split_view_evidence(&c, &evil).await,
        }
    })
    .await;
    assert!(reason.contains("two different roots for size 2"), "{reason}");
    let roots: Vec<TreeHash> = checkpoints.iter().map(|c| c.1).collect();
    assert_eq!(checkpoints.iter().map(|c| c.0).collect::<Vec<_>>(), vec![2, 2]);
    assert!(roots.contains(&to_b.log.view().root) && roots.contains(&to_c.log.view().root), "the evidence holds both views");
}

// ---------------------------------------------------------------------------------------------
// kill -9 in the middle of ingest.

/// Licences the honest node publishes before the mirror process starts; every tenth is amended.
const LICENCES: usize = 2000;

/// Grants `DE-2026-K9-{i}` for `range`, then an amendment of every tenth: returns both batches.
fn grants_and_amendments(node: &TestNode, range: std::ops::Range<usize>) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut grants_out = Vec::new();
    let mut amendments = Vec::new();
    for i in range {
        let base = grant(BAFA, &format!("DE-2026-K9-{i:05}"));
        let envelope = node.sign(base.clone());
        if i.is_multiple_of(10) {
            amendments.push(node.sign(follow_up(&base, Action::Amend, 2, StatementId::of(&envelope).0)));
        }
        grants_out.push(envelope);
    }
    (grants_out, amendments)
}

/// The signer of `node`'s authority, to publish from a task.
fn keys_of(node: &TestNode) -> comity_proto::statement::Signer {
    node.signer(BAFA)
}

/// Publishes licences `DE-2026-K9-{LICENCES..}` at `client`, 16 at a time, each tenth followed
/// by its amendment, until `stop`; returns how many licences it published.
async fn publish_until(client: Client, signer: comity_proto::statement::Signer, stop: Arc<std::sync::atomic::AtomicBool>) -> usize {
    let signer = Arc::new(signer);
    let mut running = tokio::task::JoinSet::new();
    let mut i = LICENCES;
    while !stop.load(Ordering::SeqCst) {
        if running.len() >= 16 {
            running.join_next().await.unwrap().unwrap();
        }
        let (mut client, signer) = (client.clone(), signer.clone());
        running.spawn(async move {
            let base = grant(BAFA, &format!("DE-2026-K9-{i:05}"));
            let envelope = sign_decision(base.clone(), &signer);
            let head = StatementId::of(&envelope);
            client.publish(envelope).await.unwrap();
            if i.is_multiple_of(10) {
                client.publish(sign_decision(follow_up(&base, Action::Amend, 2, head.0), &signer)).await.unwrap();
            }
        });
        i += 1;
    }
    while let Some(done) = running.join_next().await {
        done.unwrap();
    }
    i - LICENCES
}

/// The mirror process's view of its one peer, `(mirrored_size, peer_size)`.
async fn process_mirror(url: &str) -> Option<(u64, u64)> {
    let status = Client::connect(url).await.ok()?.status().await.ok()?;
    status.peers.first().map(|p| (p.mirrored_size, p.peer_size))
}

/// Starts `comity-node run --config` (blocking work, off the async threads).
async fn spawn_process(config: &std::path::Path, log: std::path::PathBuf) -> NodeProcess {
    let config = config.to_str().unwrap().to_string();
    tokio::task::spawn_blocking(move || NodeProcess::spawn(&["--config", &config], &log)).await.unwrap()
}

async fn kill_9(process: NodeProcess) {
    tokio::task::spawn_blocking(move || process.kill_9()).await.unwrap();
}

/// The mirrored log in the stopped process's store: size, and root recomputed from the stored
/// tree (not read from the stored checkpoint).
fn stored_log(data_dir: &std::path::Path, origin: &str) -> (u64, Option<TreeHash>) {
    let store = comity_node::store::Store::open(&data_dir.join("store")).unwrap();
    let log = store.log(origin);
    let size = log.size().unwrap();
    let root = (size > 0).then(|| tree_root(size, &log).unwrap());
    (size, root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_ingest_restarts_consistent_and_resumes_without_duplicates() {
    let a = TestNode::start_with(&[BAFA], |c| c.origin = "registry.bafa.example/log".into()).await;
    let at_a = a.client().await;
    let (first, amended) = grants_and_amendments(&a, 0..LICENCES);
    publish_concurrently(at_a.clone(), first, 16).await;
    publish_concurrently(at_a.clone(), amended, 16).await;
    let total = at_a.clone().checkpoint().await.unwrap().size;
    assert_eq!(total as usize, LICENCES + LICENCES / 10);

    // The mirror runs as a real process, with a config file written here.
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let config = tmp.path().join("comity.toml");
    let toml = format!(
        "data_dir = {data:?}\norigin = \"registry.meti.example/log\"\nmirror_interval_ms = 50\ninsecure_plaintext = true\n\n\
         [[peer]]\nid = \"bafa\"\nurl = {url:?}\nlog_key = {log_key:?}\n\n\
         [[trusted]]\nid = {BAFA:?}\nkeys = [{key:?}]\n",
        data = data_dir.to_str().unwrap(),
        url = a.url(),
        log_key = a.node().log_verifier().to_string(),
        key = a.authority(BAFA).keys[0],
    );
    std::fs::write(&config, toml).unwrap();
    let origin = a.node().log_verifier().name().to_string();

    // Kill 1: once the process has verified A's checkpoint but not yet committed the entries,
    // that is, while it fetches, verifies and stages the whole log.
    let process = spawn_process(&config, tmp.path().join("run1.log")).await;
    let url = process.url().to_string();
    eventually(WAIT, "the process to be ingesting A's log", || async {
        process_mirror(&url).await.filter(|(mirrored, peer)| *peer == total && *mirrored < total).map(|_| ())
    })
    .await;
    kill_9(process).await;
    // All of A's checkpoint or none of it, and whatever is held hashes to A's signed root.
    let (size, root) = stored_log(&data_dir, &origin);
    assert!(size == 0 || size == total, "a killed ingest left {size} of {total} entries");
    let a_root: TreeHash = at_a.clone().checkpoint().await.unwrap().root.try_into().unwrap();
    if size == total {
        assert_eq!(root, Some(a_root));
    }

    // Kill 2: while A keeps publishing and the restarted process keeps mirroring.
    let process = spawn_process(&config, tmp.path().join("run2.log")).await;
    let url = process.url().to_string();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publishing = tokio::spawn(publish_until(a.client().await, keys_of(&a), stop.clone()));
    eventually(WAIT, "the process to mirror part of A's new entries", || async {
        process_mirror(&url).await.filter(|(mirrored, _)| *mirrored > total).map(|_| ())
    })
    .await;
    kill_9(process).await;
    stop.store(true, Ordering::SeqCst);
    let more = publishing.await.unwrap();
    let final_size = at_a.clone().checkpoint().await.unwrap().size;
    assert_eq!(final_size, total + (more + more.div_ceil(10)) as u64);
    let (size, _) = stored_log(&data_dir, &origin);
    assert!(size > total && size <= final_size, "{size}");

    // Restarted on the same data dir, it resumes and ends with A's exact log.
    let process = spawn_process(&config, tmp.path().join("run3.log")).await;
    let url = process.url().to_string();
    eventually(Duration::from_secs(60), "the process to mirror all of A's log", || async {
        process_mirror(&url).await.filter(|(mirrored, _)| *mirrored == final_size).map(|_| ())
    })
    .await;
    let a_checkpoint = at_a.clone().checkpoint().await.unwrap();
    let mut log = pb::log_client::LogClient::connect(url.clone()).await.unwrap();
    let held = log.get_checkpoint(pb::GetCheckpointRequest { origin: origin.clone() }).await.unwrap().into_inner();
    let held = a.node().log_verifier().verify_checkpoint(&held.checkpoint).unwrap();
    assert_eq!((held.size, held.root.to_vec()), (a_checkpoint.size, a_checkpoint.root));

    // Nothing doubled: every licence once, amended ones with two decisions, others with one.
    let mut at_p = Client::connect(&url).await.unwrap();
    let all = pb::SearchRequest { authority: BAFA.into(), page_size: 500, ..Default::default() };
    let at_process = at_p.search_all(all.clone(), 10_000).await.unwrap();
    let at_origin = at_a.clone().search_all(all, 10_000).await.unwrap();
    assert_eq!(at_process.len(), LICENCES + more);
    assert_eq!(at_process.len(), at_origin.len());
    for i in [0, 1, 10, 999, 1000, LICENCES - 10, LICENCES - 1, LICENCES, LICENCES + 1, LICENCES + more - 1] {
        let licence = at_p.licence(BAFA, &format!("DE-2026-K9-{i:05}")).await.unwrap();
        assert_eq!(licence.chain.len(), if i.is_multiple_of(10) { 2 } else { 1 }, "licence {i}");
    }
    drop(process);
}
