//! Consortium scale: real `comity-node` processes in the default topology (`mesh = "auto"`: a
//! full mesh up to 10 members, a half mesh beyond; `COMITY_BENCH_MESH=full|half` forces one;
//! relay paths on, witnesses on), at the sizes in `COMITY_BENCH_MEMBERS` (default `3,6,10,16`). Per size it prints: connections per node;
//! idle CPU and loopback traffic of the whole consortium; then, for `COMITY_BENCH_DECISIONS`
//! decisions (default 200) published at one member, 16 in flight: convergence (publish
//! acknowledged → held by every member) p50/p99, and CPU and bytes per decision over all nodes
//! (idle rate subtracted); then 50 decisions at 5 a second: convergence p50/p99 at a steady
//! rate.
//!
//! Run: `cargo build --release --workspace --bins && cargo bench -p comity-tests --bench consortium`
//! (release build of the node; figures go into
//! BENCHMARKS.md). Measured with /proc: CPU as utime + stime of every node process, bytes as
//! the loopback interface's transmitted bytes (the nodes are the machine's only loopback
//! traffic while it runs), connections as each process's socket descriptors.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use comity_node::config::{AuthorityConfig, Config, PeerConfig};
use comity_proto::decision::fixtures::grant;
use comity_proto::keyfile::KeyFile;
use comity_proto::pb::{self, federation_client::FederationClient, log_client::LogClient};
use comity_proto::statement::sign_decision;
use comity_tests::bin_path;

/// A heartbeat every 10 s (the default is 60 s): idle figures are an upper bound.
const HEARTBEAT_SECS: u64 = 10;
const IDLE_WINDOW: Duration = Duration::from_secs(30);
const IN_FLIGHT: usize = 16;
/// After the burst: this many decisions, one every PACED_EVERY, for convergence at a steady
/// rate (no backlog on the machine that runs every member).
const PACED: usize = 50;
const PACED_EVERY: Duration = Duration::from_millis(200);

struct Member {
    authority: String,
    origin: String,
    url: String,
    key: KeyFile,
    child: Child,
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// utime + stime of `pid`, in clock ticks (100 per second).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0) + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

fn loopback_tx_bytes() -> u64 {
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    dev.lines()
        .find_map(|l| l.trim_start().strip_prefix("lo:").map(|rest| rest.split_whitespace().nth(8).and_then(|b| b.parse().ok()).unwrap_or(0)))
        .unwrap_or(0)
}

fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.filter_map(Result::ok).filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))).count())
        .unwrap_or(0)
}

/// CPU ticks of all members and loopback bytes, now.
fn sample(members: &[Member]) -> (u64, u64) {
    (members.iter().map(|m| cpu_ticks(m.child.id())).sum(), loopback_tx_bytes())
}

fn start(dir: &Path, n: usize) -> Vec<Member> {
    struct Plan {
        config: Config,
        key: KeyFile,
        log_key: String,
        witness_key: String,
    }
    let mut plans = Vec::new();
    for i in 0..n {
        let authority = format!("m{i:02}.bench");
        let data_dir = dir.join(format!("m{i:02}"));
        std::fs::create_dir_all(&data_dir).unwrap();
        let mut config = Config {
            data_dir: data_dir.clone(),
            insecure_plaintext: true,
            origin: format!("registry.m{i:02}.bench/log"),
            listen: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            http_listen: None,
            metrics_listen: None,
            checkpoint_interval_secs: HEARTBEAT_SECS,
            mesh: mesh(),
            ..Config::default()
        };
        // Every member reaches the others from 127.0.0.1: one client address for the limits.
        config.limits.concurrency_per_client = 4096;
        config.limits.requests_per_client_per_sec = 0;
        let key = KeyFile::generate(&authority);
        config.authorities = vec![AuthorityConfig { id: authority.clone(), name: String::new(), keys: vec![key.public_key.clone()] }];
        let log_key = comity_node::log::load_or_create_key(&config.log_key_path(), &config.origin).unwrap().verifier().to_string();
        let witness_key = comity_node::log::load_or_create_witness_key(&config.witness_key_path(), &config.witness_name()).unwrap().verifier().to_string();
        plans.push(Plan { config, key, log_key, witness_key });
    }
    let everyone: Vec<(AuthorityConfig, PeerConfig)> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let peer = PeerConfig {
                id: format!("m{i:02}"),
                url: format!("http://{}", p.config.listen),
                log_key: p.log_key.clone(),
                witness_key: Some(p.witness_key.clone()),
                tls_name: None,
                relay: false,
            };
            (p.config.authorities[0].clone(), peer)
        })
        .collect();
    plans
        .into_iter()
        .enumerate()
        .map(|(i, mut p)| {
            for (j, (authority, peer)) in everyone.iter().enumerate() {
                if i != j {
                    p.config.trusted.push(authority.clone());
                    p.config.peers.push(peer.clone());
                }
            }
            let path = p.config.data_dir.join("comity.toml");
            std::fs::write(&path, p.config.to_toml()).unwrap();
            let log = std::fs::File::create(p.config.data_dir.join("node.log")).unwrap();
            let child = Command::new(bin_path("comity-node"))
                .args(["run", "--config", path.to_str().unwrap()])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .spawn()
                .expect("spawn comity-node");
            Member {
                authority: p.config.authorities[0].id.clone(),
                origin: p.config.origin.clone(),
                url: format!("http://{}", p.config.listen),
                key: p.key,
                child,
            }
        })
        .collect()
}

/// Size of `origin`'s log held at `url` (0 when not yet held or unreachable).
async fn held(url: &str, origin: &str) -> u64 {
    let Ok(mut log) = LogClient::connect(url.to_string()).await else { return 0 };
    let Ok(cp) = log.get_checkpoint(pb::GetCheckpointRequest { origin: origin.into() }).await else { return 0 };
    comity_proto::log::stored_checkpoint_fields(&cp.into_inner().checkpoint).map_or(0, |(size, _, _)| size)
}

/// Waits until every member holds every log at `sizes[origin]`.
async fn converged(members: &[Member], sizes: &HashMap<String, u64>, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let mut all = true;
        'outer: for m in members {
            for (origin, size) in sizes {
                if held(&m.url, origin).await < *size {
                    all = false;
                    break 'outer;
                }
            }
        }
        if all {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Records, at `url`, when `origin`'s log first reached each size (pushed on Subscribe).
fn watch_sizes(url: String, origin: String, start: Instant) -> tokio::task::JoinHandle<Vec<(u64, Duration)>> {
    tokio::spawn(async move {
        let mut reached = Vec::new();
        let Ok(mut federation) = FederationClient::connect(url).await else { return reached };
        let Ok(stream) = federation.subscribe(pb::SubscribeRequest { origin }).await else { return reached };
        let mut stream = stream.into_inner();
        while let Ok(Ok(Some(event))) = tokio::time::timeout(Duration::from_secs(30), stream.message()).await {
            if let Some((size, _, _)) = comity_proto::log::stored_checkpoint_fields(&event.checkpoint) {
                reached.push((size, start.elapsed()));
            }
        }
        reached
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn run(n: usize, decisions: usize) {
    let dir = tempfile::tempdir().unwrap();
    let members = start(dir.path(), n);
    for m in &members {
        let deadline = Instant::now() + Duration::from_secs(30);
        while LogClient::connect(m.url.clone()).await.is_err() {
            assert!(Instant::now() < deadline, "{} did not start", m.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let empty: HashMap<String, u64> = members.iter().map(|m| (m.origin.clone(), 0)).collect();
    assert!(converged(&members, &empty, Duration::from_secs(60)).await, "{n} members did not find each other");
    // Settle: first cosignature rounds, first heartbeats.
    tokio::time::sleep(Duration::from_secs(HEARTBEAT_SECS + 2)).await;

    let connections = members.iter().map(|m| sockets(m.child.id())).sum::<usize>() as f64 / n as f64;
    let (cpu0, bytes0) = sample(&members);
    tokio::time::sleep(IDLE_WINDOW).await;
    let (cpu1, bytes1) = sample(&members);
    let idle_cores = (cpu1 - cpu0) as f64 / 100.0 / IDLE_WINDOW.as_secs_f64();
    let idle_bytes = (bytes1 - bytes0) as f64 / IDLE_WINDOW.as_secs_f64();

    // Publish at member 0; every member reports when it holds each size.
    let origin = members[0].origin.clone();
    let start_at = Instant::now();
    let watchers: Vec<_> = members.iter().map(|m| watch_sizes(m.url.clone(), origin.clone(), start_at)).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let signer = members[0].key.signer().unwrap();
    let envelopes: Vec<Vec<u8>> = (0..decisions).map(|i| sign_decision(grant(&members[0].authority, &format!("XX-2026-{n:02}{i:06}")), &signer)).collect();
    let (cpu2, bytes2) = sample(&members);
    let window_start = Instant::now();
    let client = comity_client::Client::connect(&members[0].url).await.unwrap();
    let acks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut running = tokio::task::JoinSet::new();
    for envelope in envelopes {
        if running.len() >= IN_FLIGHT {
            running.join_next().await.unwrap().unwrap();
        }
        let (mut client, acks) = (client.clone(), acks.clone());
        running.spawn(async move {
            let published = client.publish(envelope).await.expect("publish");
            acks.lock().unwrap().push((published.receipt.unwrap().index, start_at.elapsed()));
        });
    }
    while let Some(done) = running.join_next().await {
        done.unwrap();
    }
    let mut sizes = empty.clone();
    sizes.insert(origin.clone(), decisions as u64);
    let all_held = converged(&members, &sizes, Duration::from_secs(300)).await;
    let window = window_start.elapsed();
    let (cpu3, bytes3) = sample(&members);

    // Then paced, as authorities publish: one decision at a time, PACED_EVERY apart.
    let mut paced_acks = Vec::new();
    let mut client = client.clone();
    for i in 0..PACED {
        tokio::time::sleep(PACED_EVERY).await;
        let envelope = sign_decision(grant(&members[0].authority, &format!("XX-2026-{n:02}P{i:05}")), &signer);
        let published = client.publish(envelope).await.expect("publish");
        paced_acks.push((published.receipt.unwrap().index, start_at.elapsed()));
    }
    sizes.insert(origin.clone(), (decisions + PACED) as u64);
    let all_held = all_held && converged(&members, &sizes, Duration::from_secs(60)).await;
    drop(members);
    let mut reached_at: Vec<Vec<(u64, Duration)>> = Vec::new();
    for w in watchers {
        reached_at.push(w.await.unwrap_or_default());
    }
    // Convergence of a decision: the latest of the times a member first held its index.
    let convergence = |acks: &[(u64, Duration)]| {
        let mut latencies: Vec<Duration> = acks
            .iter()
            .filter_map(|(index, acked)| {
                let held_by_all = reached_at.iter().map(|r| r.iter().find(|(size, _)| *size > *index).map(|(_, t)| *t)).collect::<Option<Vec<_>>>()?;
                held_by_all.into_iter().max().map(|t| t.saturating_sub(*acked))
            })
            .collect();
        latencies.sort();
        latencies
    };
    let latencies = convergence(&acks.lock().unwrap());
    let paced = convergence(&paced_acks);
    let (paced_p50, paced_p99) = if paced.is_empty() { (Duration::ZERO, Duration::ZERO) } else { (percentile(&paced, 50.0), percentile(&paced, 99.0)) };
    let busy_cores_secs = (cpu3 - cpu2) as f64 / 100.0 - idle_cores * window.as_secs_f64();
    let busy_bytes = (bytes3 - bytes2) as f64 - idle_bytes * window.as_secs_f64();
    let measured = latencies.len();
    let (p50, p99) = if measured > 0 { (percentile(&latencies, 50.0), percentile(&latencies, 99.0)) } else { (Duration::ZERO, Duration::ZERO) };
    println!(
        "| {n} ({:?}) | {connections:.0} | {:.3} cores | {:.1} KB/s | {decisions} in {:.1} s{} | {:.0} ms / {:.0} ms ({measured} timed) | {:.0} ms / {:.0} ms ({} timed) | {:.1} ms | {:.1} KB |",
        Config { mesh: mesh(), ..Config::default() }.mesh_for(n),
        idle_cores,
        idle_bytes / 1000.0,
        window.as_secs_f64(),
        if all_held { "" } else { " (NOT CONVERGED)" },
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        paced_p50.as_secs_f64() * 1000.0,
        paced_p99.as_secs_f64() * 1000.0,
        paced.len(),
        busy_cores_secs * 1000.0 / decisions as f64,
        busy_bytes / 1000.0 / decisions as f64,
    );
}

/// `COMITY_BENCH_MESH`, else the default.
fn mesh() -> comity_node::config::Mesh {
    match std::env::var("COMITY_BENCH_MESH").as_deref() {
        Ok("full") => comity_node::config::Mesh::Full,
        Ok("half") => comity_node::config::Mesh::Half,
        Ok("auto") | Err(_) => comity_node::config::Mesh::Auto,
        Ok(other) => panic!("COMITY_BENCH_MESH must be full, half or auto, not {other}"),
    }
}

fn main() {
    let sizes: Vec<usize> =
        std::env::var("COMITY_BENCH_MEMBERS").unwrap_or_else(|_| "3,6,10,16".into()).split(',').map(|s| s.trim().parse().expect("member count")).collect();
    let decisions: usize = std::env::var("COMITY_BENCH_DECISIONS").ok().and_then(|d| d.parse().ok()).unwrap_or(200);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!("| members | sockets per node | idle CPU, all nodes | idle loopback traffic | publish window | convergence p50 / p99, burst | convergence p50 / p99, paced | CPU per decision, all nodes | bytes per decision, all nodes |");
    println!("|---|---:|---:|---:|---|---:|---:|---:|---:|");
    for n in sizes {
        runtime.block_on(run(n, decisions));
    }
}
