//! Federation topologies and link faults: every log reaches every node, directly or through
//! relays, and all nodes end with identical signed roots; a stopped node catches up; a cut or
//! blackholed link is routed around through another peer.
//!
//! Peers need each other's URL and log key in their configs before they start, and a node's
//! port is chosen when it starts. So every node gets a stable front address first (a
//! [`FaultProxy`] reserved before the node starts, in pass mode) and its log key is created
//! before it starts (`log_key_file`); all traffic between nodes goes through those fronts.
//! The consortium simulation puts its fronts on the in-process network (`memnet`) instead of
//! TCP, so a hundred members fit in the machine's file limit.

use std::time::Duration;

use comity_node::config::{AuthorityConfig, Mesh, PeerConfig};
use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::keyfile::KeyFile;
use comity_proto::log::{LogVerifier, TreeHash};
use comity_proto::pb::{self, log_client::LogClient, Action};
use comity_proto::statement::{sign_decision, StatementId};
use comity_tests::fault_proxy::FaultProxy;
use comity_tests::{eventually, publish_concurrently, TestNode};
use tempfile::TempDir;

const WAIT: Duration = Duration::from_secs(45);

/// Authorities, one per node, in node order (generated ids past the fifth).
const AUTHORITIES: [&str; 5] = ["de.bafa", "jp.meti", "uk.ecju", "fr.sbdu", "us.bis"];

fn authority_id(i: usize) -> &'static str {
    match AUTHORITIES.get(i) {
        Some(a) => a,
        // Test-lifetime names for large simulated consortia.
        None => Box::leak(format!("m{i:02}.sim").into_boxed_str()),
    }
}

/// A node of a test network: it hosts one authority and runs the log `origin`.
struct Member {
    authority: &'static str,
    key: KeyFile,
    origin: String,
    verifier: LogVerifier,
    node: TestNode,
}

impl Member {
    fn sign(&self, decision: pb::Decision) -> Vec<u8> {
        sign_decision(decision, &self.key.signer().unwrap())
    }
}

/// A log to mirror: the log of node `origin`, fetched from `url` (its front or a relay's).
struct Link {
    id: String,
    origin: usize,
    url: String,
}

/// A node's stable address, reserved before the node starts: a TCP proxy, or a host on the
/// in-process network.
enum Front {
    Tcp(FaultProxy),
    Mem(String),
}

impl Front {
    async fn reserve(memnet: bool) -> Self {
        if memnet {
            Front::Mem(comity_node::net::memnet::host("front"))
        } else {
            Front::Tcp(FaultProxy::reserve().await)
        }
    }

    fn url(&self) -> String {
        match self {
            Front::Tcp(proxy) => proxy.url(),
            Front::Mem(host) => format!("http://{host}"),
        }
    }

    fn set_target(&self, target: std::net::SocketAddr) {
        match self {
            Front::Tcp(proxy) => proxy.set_target(target),
            Front::Mem(host) => comity_node::net::memnet::point(host, target),
        }
    }

    fn cut(&self) {
        match self {
            Front::Tcp(proxy) => proxy.cut(),
            Front::Mem(host) => comity_node::net::memnet::cut(host),
        }
    }

    fn tcp(&self) -> &FaultProxy {
        match self {
            Front::Tcp(proxy) => proxy,
            Front::Mem(_) => panic!("a TCP front was needed"),
        }
    }
}

/// Everything a network's configs need before any node starts: keys, origins, front addresses.
struct Plan {
    keys: Vec<KeyFile>,
    origins: Vec<String>,
    log_key_files: Vec<std::path::PathBuf>,
    verifiers: Vec<LogVerifier>,
    fronts: Vec<Front>,
    /// How the members connect (`mesh` in their configs).
    mesh: Mesh,
    dir: TempDir,
}

struct Net {
    members: Vec<Member>,
    /// Each node's stable address; kept for the nodes' lifetime.
    _fronts: Vec<Front>,
    _dir: TempDir,
}

impl Plan {
    async fn new(n: usize) -> Self {
        Self::on(n, false).await
    }

    /// A plan whose nodes meet on the in-process network (`memnet = true`) or over TCP.
    async fn on(n: usize, memnet: bool) -> Self {
        if memnet {
            comity_node::net::memnet::enable();
        }
        let dir = tempfile::tempdir().unwrap();
        let mut plan = Plan { keys: vec![], origins: vec![], log_key_files: vec![], verifiers: vec![], fronts: vec![], mesh: Mesh::Auto, dir };
        for authority in (0..n).map(authority_id) {
            let origin = format!("registry.{}.example/log", authority.replace('.', "-"));
            let path = plan.dir.path().join(format!("{authority}.log.key"));
            let log_key = comity_node::log::load_or_create_key(&path, &origin).unwrap();
            plan.keys.push(KeyFile::generate(authority));
            plan.verifiers.push(log_key.verifier());
            plan.origins.push(origin);
            plan.log_key_files.push(path);
            plan.fronts.push(Front::reserve(memnet).await);
        }
        plan
    }

    /// The stable URL of node `i`.
    fn url(&self, i: usize) -> String {
        self.fronts[i].url()
    }

    /// Node `i`'s log, fetched from node `from`.
    fn link(&self, origin: usize, from: usize) -> Link {
        let id = if origin == from { format!("n{origin}") } else { format!("n{origin}-via-n{from}") };
        Link { id, origin, url: self.url(from) }
    }

    fn authority(&self, i: usize) -> AuthorityConfig {
        AuthorityConfig { id: authority_id(i).into(), name: String::new(), keys: vec![self.keys[i].public_key.clone()] }
    }

    /// Starts every node: node `i` mirrors `links[i]` and trusts every other node's authority.
    async fn start(self, links: Vec<Vec<Link>>) -> Net {
        // Peer entries are made by `as_peer` of some running node, then pointed elsewhere.
        let template = TestNode::start(&[]).await;
        let peers: Vec<Vec<PeerConfig>> = links
            .iter()
            .map(|l| {
                l.iter()
                    .map(|link| {
                        let mut p = template.as_peer(&link.id);
                        p.url = link.url.clone();
                        p.log_key = self.verifiers[link.origin].to_string();
                        p
                    })
                    .collect()
            })
            .collect();
        drop(template);
        let authorities: Vec<AuthorityConfig> = (0..self.keys.len()).map(|i| self.authority(i)).collect();
        let on_memnet = matches!(self.fronts.first(), Some(Front::Mem(_)));
        let mesh = self.mesh;
        let mut members = Vec::new();
        for (i, (key, peers)) in self.keys.into_iter().zip(peers).enumerate() {
            let hosted = authorities[i].clone();
            let trusted: Vec<AuthorityConfig> = authorities.iter().filter(|a| a.id != hosted.id).cloned().collect();
            let (origin, log_key_file) = (self.origins[i].clone(), self.log_key_files[i].clone());
            let node = TestNode::start_with(&[], move |c| {
                c.origin = origin;
                c.log_key_file = Some(log_key_file);
                c.authorities = vec![hosted];
                c.trusted = trusted;
                c.peers = peers;
                c.mirror_interval_ms = 50;
                c.mesh = mesh;
                // Bounds how long a call into a blackholed link hangs (TCP fronts can blackhole;
                // memnet refuses at once, and its hundred nodes share two cores).
                c.limits.request_timeout_secs = if on_memnet { 60 } else { 5 };
            })
            .await;
            self.fronts[i].set_target(node.node().addr());
            members.push(Member { authority: authority_id(i), key, origin: self.origins[i].clone(), verifier: self.verifiers[i].clone(), node });
        }
        Net { members, _fronts: self.fronts, _dir: self.dir }
    }
}

/// Full mesh: every node fetches every other log from its origin.
async fn mesh(n: usize) -> Net {
    let plan = Plan::new(n).await;
    let links = (0..n).map(|i| (0..n).filter(|j| *j != i).map(|j| plan.link(j, j)).collect()).collect();
    plan.start(links).await
}

/// Ring of five: each node fetches its two neighbours' logs from them, and the two logs two
/// hops away through the neighbour on that side (which mirrors them directly).
async fn ring() -> Net {
    let n = 5;
    let plan = Plan::new(n).await;
    let links = (0..n)
        .map(|i| {
            let (prev, next) = ((i + n - 1) % n, (i + 1) % n);
            let (prev2, next2) = ((i + n - 2) % n, (i + 2) % n);
            vec![plan.link(prev, prev), plan.link(next, next), plan.link(prev2, prev), plan.link(next2, next)]
        })
        .collect();
    plan.start(links).await
}

/// Star of five: the hub (node 0) fetches every leaf's log; each leaf fetches the hub's log and
/// the other leaves' logs from the hub.
async fn star() -> Net {
    let n = 5;
    let plan = Plan::new(n).await;
    let links = (0..n)
        .map(|i| match i {
            0 => (1..n).map(|leaf| plan.link(leaf, leaf)).collect(),
            _ => (0..n).filter(|j| *j != i).map(|j| plan.link(j, 0)).collect(),
        })
        .collect();
    plan.start(links).await
}

/// `log`'s size and root as `at` holds it (its own log, or a mirror), verified with the log's
/// key; `None` while `at` holds none of it yet.
async fn held(at: &TestNode, log: &Member) -> Option<(u64, TreeHash)> {
    let mut client = LogClient::connect(at.url()).await.ok()?;
    let served = client.get_checkpoint(pb::GetCheckpointRequest { origin: log.origin.clone() }).await.ok()?.into_inner();
    let checkpoint =
        log.verifier.verify_checkpoint(&served.checkpoint).unwrap_or_else(|e| panic!("{} serves a bad checkpoint of {}: {e}", at.url(), log.origin));
    Some((checkpoint.size, checkpoint.root))
}

/// Waits until every node holds every log at the size and root its origin signed last.
async fn assert_converged(net: &Net) {
    for log in &net.members {
        let tip = held(&log.node, log).await.expect("a node serves its own log");
        for at in &net.members {
            let what = format!("{} to hold {} at size {}", at.origin, log.origin, tip.0);
            // A mirror stores nothing, not even the checkpoint, of a log that is still empty.
            let want = |got: Option<(u64, TreeHash)>| got == Some(tip) || (tip.0 == 0 && got.is_none());
            eventually(WAIT, &what, || async { want(held(&at.node, log).await).then_some(()) }).await;
        }
    }
}

/// A licence and the statement ids of its chain, as its authority published them.
type Published = (&'static str, String, Vec<StatementId>);

/// Each authority publishes at its own node: two grants, then an amendment of the first.
async fn publish_at_every_node(net: &Net, tag: &str) -> Vec<Published> {
    let mut out = Vec::new();
    for m in &net.members {
        let mut client = m.node.client().await;
        let first = grant(m.authority, &format!("{}-{tag}-1", m.authority.to_uppercase()));
        let second = grant(m.authority, &format!("{}-{tag}-2", m.authority.to_uppercase()));
        let v1 = StatementId::from_slice(&client.publish(m.sign(first.clone())).await.unwrap().statement_id).unwrap();
        let other = StatementId::from_slice(&client.publish(m.sign(second.clone())).await.unwrap().statement_id).unwrap();
        let v2 = StatementId::from_slice(&client.publish(m.sign(follow_up(&first, Action::Amend, 2, v1.0))).await.unwrap().statement_id).unwrap();
        out.push((m.authority, first.licence_id, vec![v1, v2]));
        out.push((m.authority, second.licence_id, vec![other]));
    }
    out
}

/// Every node serves every published licence with the same chain.
async fn assert_licences_everywhere(net: &Net, published: &[Published]) {
    for m in &net.members {
        let client = m.node.client().await;
        for (authority, licence, chain) in published {
            let licence = eventually(WAIT, &format!("{} to serve {authority}/{licence}", m.origin), || {
                let mut client = client.clone();
                async move { client.licence(authority, licence).await.ok().filter(|l| l.chain.len() == chain.len()) }
            })
            .await;
            let ids: Vec<StatementId> = licence.chain.iter().map(|(id, _)| *id).collect();
            assert_eq!(&ids, chain, "{authority}/{} at {}", licence.summary.licence_id, m.origin);
        }
    }
}

async fn publish_and_converge(net: &Net) {
    let published = publish_at_every_node(net, "TOPO").await;
    assert_converged(net).await;
    assert_licences_everywhere(net, &published).await;
    // Every node holds each log at the origin's size: three entries per authority.
    for log in &net.members {
        for at in &net.members {
            assert_eq!(held(&at.node, log).await.unwrap().0, 3, "{} holds {}", at.origin, log.origin);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_reaches_every_node_of_a_full_mesh() {
    let net = mesh(3).await;
    publish_and_converge(&net).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_reaches_every_node_of_a_ring_through_relays() {
    let net = ring().await;
    publish_and_converge(&net).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_reaches_every_node_of_a_star_through_the_hub() {
    let net = star().await;
    publish_and_converge(&net).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_during_a_thousand_publishes_catches_up() {
    let mut net = mesh(3).await;
    let (a, b) = (&net.members[0], &net.members[1]);
    let at_a: Vec<Vec<u8>> = (0..500).map(|i| a.sign(grant(a.authority, &format!("DE-2026-LOAD-{i:04}")))).collect();
    let at_b: Vec<Vec<u8>> = (0..500).map(|i| b.sign(grant(b.authority, &format!("JP-2026-LOAD-{i:04}")))).collect();
    let publishing_a = tokio::spawn(publish_concurrently(a.node.client().await, at_a, 8));
    let publishing_b = tokio::spawn(publish_concurrently(b.node.client().await, at_b, 8));

    // C goes down once it has mirrored part of A's log, while A and B keep publishing.
    eventually(WAIT, "C to mirror part of A's log", || async { held(&net.members[2].node, &net.members[0]).await.filter(|(size, _)| *size >= 50) }).await;
    net.members[2].node.stop().await;
    let a_size_at_stop = held(&net.members[0].node, &net.members[0]).await.unwrap().0;
    publishing_a.await.unwrap();
    publishing_b.await.unwrap();
    assert!(a_size_at_stop < 500, "C was stopped only after A's publishes ended ({a_size_at_stop}); the test proves nothing");

    net.members[2].node.start_again().await.unwrap();
    assert_converged(&net).await;
    let c = &net.members[2];
    for m in &net.members[..2] {
        assert_eq!(held(&c.node, m).await.unwrap().0, 500);
        // Each licence once: nothing lost, nothing doubled.
        let found =
            c.node.client().await.search_all(pb::SearchRequest { authority: m.authority.into(), page_size: 500, ..Default::default() }, 1000).await.unwrap();
        assert_eq!(found.len(), 500, "{} licences at C", m.authority);
    }
}

/// Publishes grants `LINK-from` to `LINK-(to-1)` of `m`'s authority at `m`.
async fn publish_range(m: &Member, from: usize, to: usize) {
    let envelopes: Vec<Vec<u8>> = (from..to).map(|i| m.sign(grant(m.authority, &format!("LINK-{i}")))).collect();
    publish_concurrently(m.node.client().await, envelopes, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_or_blackholed_link_is_routed_around_through_another_peer() {
    let plan = Plan::new(3).await;
    // C (node 2) fetches A's log both over a faulty direct link and through B.
    let direct = FaultProxy::start(plan.fronts[0].tcp().addr()).await;
    let links = vec![
        vec![plan.link(1, 1), plan.link(2, 2)],
        vec![plan.link(0, 0), plan.link(2, 2)],
        vec![Link { id: "a-direct".into(), origin: 0, url: direct.url() }, plan.link(0, 1), plan.link(1, 1)],
    ];
    let net = plan.start(links).await;
    let (a, b, c) = (&net.members[0], &net.members[1], &net.members[2]);
    let status = |peer: &'static str| c.node.node().mirror_status(peer).unwrap();
    publish_range(a, 0, 3).await;
    assert_converged(&net).await;
    eventually(WAIT, "C's direct mirror of A to reach 3", || async { (status("a-direct").size == 3).then_some(()) }).await;

    // Cut: C notices, and still gets A's new entries, through B.
    direct.cut();
    eventually(WAIT, "C's direct link to A to fail", || async { (status("a-direct").failures > 0).then_some(()) }).await;
    publish_range(a, 3, 6).await;
    assert_converged(&net).await;
    assert_eq!(held(&c.node, a).await.unwrap().0, 6);
    assert_eq!(status("a-direct").size, 3, "nothing came over the cut link");
    assert_eq!(status("n0-via-n1").size, 6);

    // Blackhole: C's next request over the direct link hangs, and meanwhile the other mirrors
    // keep going: A's new entries arrive through B, B's directly.
    direct.blackhole();
    eventually(WAIT, "C to send a request into the blackhole", || async { (direct.swallowed() > 0).then_some(()) }).await;
    let hung = status("a-direct").failures;
    publish_range(a, 6, 9).await;
    publish_range(b, 0, 2).await;
    assert_converged(&net).await;
    assert_eq!(held(&c.node, a).await.unwrap().0, 9);
    assert_eq!(held(&c.node, b).await.unwrap().0, 2);
    let direct_status = status("a-direct");
    assert_eq!(direct_status.size, 3, "nothing came through the blackhole");
    assert_eq!(direct_status.failures, hung, "C's request into the blackhole was still hanging while the others progressed");
    // Only the mirror's own request deadline ends the hung round: the link never answers.
    let timed_out = |e: &String| e.contains("Timeout expired") || e.contains("did not answer within") || e.contains("did not send entries");
    let failed =
        eventually(Duration::from_secs(30), "C's request into the blackhole to time out", || async { status("a-direct").last_error.filter(timed_out) }).await;
    assert!(timed_out(&failed), "{failed}");
}

/// A slow peer with a long log does not hold up another peer's news: while C is still catching
/// up with A's 1,500 entries over a slowed link, a decision published at B reaches C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_peer_with_a_long_log_does_not_hold_up_the_others() {
    const TOTAL: u64 = 1500;
    let a = TestNode::start_with(&["de.bafa"], |c| c.origin = "registry.bafa.example/log".into()).await;
    let b = TestNode::start_with(&["uk.ecju"], |c| c.origin = "registry.ecju.example/log".into()).await;
    let envelopes = (0..TOTAL).map(|i| a.sign(grant("de.bafa", &format!("DE-2026-SLOW-{i:05}")))).collect();
    publish_concurrently(a.client().await, envelopes, 32).await;

    let slow_link = FaultProxy::start(a.node().addr()).await;
    // 16 KiB every 40 ms: A's log (~1.5 MB) takes seconds to arrive.
    slow_link.slow(Duration::from_millis(40));
    let mut via_slow = a.as_peer("bafa");
    via_slow.url = slow_link.url();
    let (peers, trusted) = (vec![via_slow, b.as_peer("ecju")], vec![a.authority("de.bafa"), b.authority("uk.ecju")]);
    let c = TestNode::start_with(&["jp.meti"], move |cfg| {
        cfg.origin = "registry.meti.example/log".into();
        cfg.peers = peers;
        cfg.trusted = trusted;
        cfg.mirror_interval_ms = 50;
        cfg.limits.mirror_entries_per_part = 100;
    })
    .await;
    eventually(WAIT, "C to start catching up with A", || async { c.node().mirror_status("bafa").filter(|s| s.size > 0).map(|_| ()) }).await;

    b.client().await.publish(b.sign(grant("uk.ecju", "GBSIEL/2026/0000001"))).await.unwrap();
    let mut at_c = c.client().await;
    eventually(WAIT, "B's decision at C", || {
        let mut at_c = at_c.clone();
        async move { at_c.licence("uk.ecju", "GBSIEL/2026/0000001").await.ok().map(|_| ()) }
    })
    .await;
    let behind = c.node().mirror_status("bafa").unwrap().size;
    assert!(behind < TOTAL, "C had already caught up with A ({behind}); the link was not slow enough to show anything");
    // And A's log still arrives whole.
    slow_link.pass();
    eventually(WAIT, "C to catch up with A", || async { c.node().mirror_status("bafa").filter(|s| s.size == TOTAL).map(|_| ()) }).await;
    at_c.licence("de.bafa", "DE-2026-SLOW-01499").await.unwrap();
}

/// A consortium of `COMITY_SIM_MEMBERS` members (default 8; the simulation runs at 42 and 100
/// with `COMITY_SIM_MEMBERS=42` / `100`), on the in-process network: real nodes, real gRPC over
/// in-memory pipes, in the default topology (`mesh = "auto"`: a full mesh with relay paths up
/// to 10 members, a half mesh beyond). One member's log equivocates: a second node with a copy
/// of its log key shows half the members that connect to it another history of the same size.
/// One member's direct link to another is cut. Every honest log still reaches every member
/// (through relays where cut), the two views of the lying log meet (members on both sides
/// store split-view evidence against it), and that evidence then reaches every member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consortium_converges_around_a_cut_link_and_catches_an_equivocating_log() {
    consortium_simulation(members_from_env(8), Mesh::Auto).await;
}

/// The same consortium in a half mesh (`mesh = "half"`): each member connects to half the
/// others and gets the other logs one relay hop away, and still every honest log reaches every
/// member and both sides catch the equivocating log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_mesh_consortium_converges_around_a_cut_link_and_catches_an_equivocating_log() {
    consortium_simulation(members_from_env(9), Mesh::Half).await;
}

/// `COMITY_SIM_MEMBERS`, else `default`.
fn members_from_env(default: usize) -> usize {
    std::env::var("COMITY_SIM_MEMBERS").ok().and_then(|v| v.parse().ok()).unwrap_or(default).max(4)
}

async fn consortium_simulation(n: usize, mesh: Mesh) {
    let liar = n - 1;
    let mut plan = Plan::on(n, true).await;
    plan.mesh = mesh;
    // The liar's second face: its own front, its own copy of the log key.
    let fork_front = Front::reserve(true).await;
    let fork_key = plan.dir.path().join("fork.log.key");
    std::fs::copy(&plan.log_key_files[liar], &fork_key).unwrap();
    let (fork_origin, fork_authority) = (plan.origins[liar].clone(), plan.authority(liar));
    let trusted_by_fork: Vec<AuthorityConfig> = (0..n).filter(|i| *i != liar).map(|i| plan.authority(i)).collect();
    // Which members connect to the liar (all, in a full mesh); every other one of them sees its
    // second face.
    let ring = comity_node::config::ring(plan.origins.iter().cloned());
    let dialers: Vec<usize> = (0..liar)
        .filter(|i| {
            mesh == Mesh::Full
                || (mesh == Mesh::Auto && n <= comity_node::config::FULL_MESH_UP_TO)
                || comity_node::config::dials(&ring, &plan.origins[*i], &plan.origins[liar])
        })
        .collect();
    let sees_fork = |i: usize| dialers.iter().position(|d| *d == i).is_some_and(|rank| rank % 2 == 1);
    // Member 0 reaches member 1 only through a link that will be cut.
    let cut = Front::reserve(true).await;
    let links = (0..n)
        .map(|i| {
            (0..n)
                .filter(|j| *j != i)
                .map(|j| match (i, j) {
                    (0, 1) => Link { id: "n1".into(), origin: 1, url: cut.url() },
                    // Half of the members that connect to the liar see it through its second face.
                    (i, j) if j == liar && sees_fork(i) => Link { id: format!("n{j}"), origin: j, url: fork_front.url() },
                    _ => plan.link(j, j),
                })
                .collect()
        })
        .collect();
    let started = std::time::Instant::now();
    let net = plan.start(links).await;
    // The consortium forms: every member holds a checkpoint of every other log.
    for at in &net.members {
        for log in &net.members {
            eventually(WAIT * 2, &format!("{} to hold a checkpoint of {}", at.origin, log.origin), || async { held_in_store(&at.node, log).map(|_| ()) }).await;
        }
    }
    let formed = started.elapsed();
    // The cut link leads to member 1 until it is cut.
    cut.set_target(net.members[1].node.node().addr());
    let fork = TestNode::start_with(&[], move |c| {
        c.origin = fork_origin;
        c.log_key_file = Some(fork_key);
        c.authorities = vec![fork_authority];
        c.trusted = trusted_by_fork;
        c.mesh = mesh;
    })
    .await;
    fork_front.set_target(fork.node().addr());
    cut.cut();

    // Each honest member publishes; the liar publishes three decisions at each face.
    let honest = &net.members[..liar];
    for m in honest {
        publish_range(m, 0, 2).await;
    }
    let published = started.elapsed();
    let lying = &net.members[liar];
    publish_range(lying, 0, 3).await;
    let other: Vec<Vec<u8>> = (0..3).map(|i| lying.sign(grant(lying.authority, &format!("OTHER-{i}")))).collect();
    publish_concurrently(fork.client().await, other, 2).await;

    // Every honest log reaches every member, member 0 getting member 1's log through relays.
    for log in honest {
        let tip = held(&log.node, log).await.unwrap();
        for at in &net.members {
            eventually(WAIT, &format!("{} to hold {}", at.origin, log.origin), || async { (held_in_store(&at.node, log) == Some(tip)).then_some(()) }).await;
        }
    }
    let converged = started.elapsed();
    // The two views of the liar's log meet: evidence on both sides.
    let evidence_at = |m: &Member| {
        let frozen = m.node.node().registry().store().frozen_logs().unwrap();
        frozen.iter().any(|(origin, _)| *origin == lying.origin)
    };
    let sides: [Vec<&Member>; 2] = [
        honest.iter().filter(|m| m.node.config().peers.iter().all(|p| p.url != fork_front.url())).collect(),
        honest.iter().filter(|m| m.node.config().peers.iter().any(|p| p.url == fork_front.url())).collect(),
    ];
    for (side, members) in sides.iter().enumerate() {
        eventually(Duration::from_secs(90), &format!("a member of side {side} to catch the equivocating log"), || async {
            members.iter().any(|m| evidence_at(m)).then_some(())
        })
        .await;
    }
    let caught = started.elapsed();
    // Whoever caught it first, its evidence reaches every honest member (a member that only
    // ever saw one history freezes the log on a peer's evidence, which it checks).
    for m in honest {
        eventually(Duration::from_secs(60 + 2 * n as u64), &format!("{} to hold evidence against the equivocating log", m.origin), || async {
            evidence_at(m).then_some(())
        })
        .await;
    }
    let everywhere = started.elapsed();
    eprintln!("{n} members, {mesh:?} mesh: formed {formed:.1?}, {} decisions published by {published:.1?}, every honest log everywhere by {converged:.1?}, the equivocation caught on both sides by {caught:.1?}, by every member by {everywhere:.1?}", 2 * honest.len() + 6);
}

/// The checkpoint of `log` that `at` holds, read from its store and checked with the log's key.
fn held_in_store(at: &TestNode, log: &Member) -> Option<(u64, TreeHash)> {
    let note = at.node().registry().store().log(&log.origin).checkpoint().ok()??;
    let checkpoint = log.verifier.verify_checkpoint(&note).unwrap_or_else(|e| panic!("{} holds a bad checkpoint of {}: {e}", at.url(), log.origin));
    Some((checkpoint.size, checkpoint.root))
}
