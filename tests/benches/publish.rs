//! Publish and read throughput, next to the in-process limits measured in the same run.
//!
//! Run: `cargo bench -p comity-tests --bench publish` (figures go into BENCHMARKS.md).
//! Set `COMITY_BENCH_N` to change the number of operations per measurement (default 4000).

// The allocator comity-node runs with, so the node is measured as shipped.
#[global_allocator]
static ALLOCATOR: comity_node::Allocator = comity_node::Allocator;

use std::sync::Arc;
use std::time::{Duration, Instant};

use comity_proto::decision::fixtures::grant;
use comity_proto::pb;
use comity_proto::statement::{pae, Signer, STATEMENT_PAYLOAD_TYPE};
use comity_tests::TestNode;
use ed25519_dalek::Signature;
use tokio::sync::Semaphore;

const BAFA: &str = "de.bafa";

struct Row {
    name: String,
    ops: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Row {
    fn print(&self) {
        let rate = self.ops as f64 / self.elapsed.as_secs_f64();
        let (p50, p99) = if self.latencies.is_empty() {
            ("-".to_string(), "-".to_string())
        } else {
            let mut l = self.latencies.clone();
            l.sort();
            let at = |q: f64| format!("{:.2} ms", l[((l.len() as f64 * q) as usize).min(l.len() - 1)].as_secs_f64() * 1e3);
            (at(0.50), at(0.99))
        };
        println!("| {:<58} | {:>7} | {:>12.0} | {:>9} | {:>9} |", self.name, self.ops, rate, p50, p99);
    }
}

fn envelopes(node: &TestNode, prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| node.sign(grant(BAFA, &format!("{prefix}-{i:07}")))).collect()
}

fn raw_verify(n: usize) -> Row {
    let signer = Signer::from_seed(&[1; 32]);
    let key = signer.verifying_key();
    let message = pae(STATEMENT_PAYLOAD_TYPE, &vec![7u8; 600]);
    let sig: Signature = signer.sign_raw(&message);
    let start = Instant::now();
    for _ in 0..n {
        key.verify_strict(&message, &sig).expect("verifies");
    }
    Row { name: "raw ed25519 verify_strict (600-byte body)".into(), ops: n, elapsed: start.elapsed(), latencies: vec![] }
}

fn raw_sled(n: usize, batch: usize) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let value = vec![9u8; 700];
    let start = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(batch) {
        let mut b = sled::Batch::default();
        for i in chunk {
            b.insert(&(*i as u64).to_be_bytes(), value.as_slice());
        }
        db.apply_batch(b).unwrap();
        db.flush().unwrap();
    }
    Row { name: format!("raw sled: 700-byte inserts, flush every {batch}"), ops: n, elapsed: start.elapsed(), latencies: vec![] }
}

async fn comity_in_process(n: usize, in_flight: usize) -> Row {
    let node = TestNode::start(&[BAFA]).await;
    let registry = node.node().registry().clone();
    let work = envelopes(&node, "INPROC", n);
    let gate = Arc::new(Semaphore::new(in_flight));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for envelope in work {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let registry = registry.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            registry.publish(envelope, None).await.expect("published");
            drop(permit);
            t.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    for t in tasks {
        latencies.push(t.await.unwrap());
    }
    Row { name: format!("comity publish, in process, {in_flight} in flight"), ops: n, elapsed: start.elapsed(), latencies }
}

async fn comity_grpc(n: usize, connections: usize, per_connection: usize) -> (Row, TestNode) {
    let node = TestNode::start(&[BAFA]).await;
    let work = envelopes(&node, "GRPC", n);
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(node.client().await);
    }
    let gate = Arc::new(Semaphore::new(connections * per_connection));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for (i, envelope) in work.into_iter().enumerate() {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let mut client = clients[i % connections].clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            client.publish(envelope).await.expect("published");
            drop(permit);
            t.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    for t in tasks {
        latencies.push(t.await.unwrap());
    }
    let row = Row { name: format!("comity publish, loopback gRPC, {} in flight", connections * per_connection), ops: n, elapsed: start.elapsed(), latencies };
    (row, node)
}

async fn grpc_reads(node: &TestNode, n: usize, connections: usize, per_connection: usize, health_only: bool) -> Row {
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..connections {
        let channel = tonic::transport::Endpoint::from_shared(node.url()).unwrap().tcp_nodelay(true).connect().await.unwrap();
        for w in 0..per_connection {
            let channel = channel.clone();
            let count = n / (connections * per_connection);
            tasks.push(tokio::spawn(async move {
                let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
                let mut registry = pb::registry_client::RegistryClient::new(channel);
                let mut latencies = Vec::with_capacity(count);
                for i in 0..count {
                    let t = Instant::now();
                    if health_only {
                        health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
                    } else {
                        let licence_id = format!("GRPC-{:07}", (c * per_connection + w + i * 7) % 1000);
                        registry.get_licence(pb::GetLicenceRequest { authority: BAFA.into(), licence_id }).await.unwrap();
                    }
                    latencies.push(t.elapsed());
                }
                latencies
            }));
        }
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let name = if health_only {
        format!("bare loopback gRPC (health check), {} in flight", connections * per_connection)
    } else {
        format!("comity GetLicence, loopback gRPC, {} in flight", connections * per_connection)
    };
    Row { name, ops: latencies.len(), elapsed: start.elapsed(), latencies }
}

/// Replays the node's whole history to one watcher over loopback gRPC.
async fn watch_replay(node: &TestNode) -> Row {
    let mut client = node.client().await;
    let start = Instant::now();
    let mut events = client.watch(pb::WatchRequest { from_start: true, ..Default::default() }).await.unwrap();
    let mut ops = 0;
    while let Some(e) = events.next().await.unwrap() {
        if e.kind == pb::WatchEventKind::CaughtUp as i32 {
            break;
        }
        ops += 1;
    }
    Row { name: "comity Watch replay from the start, 1 watcher, loopback gRPC".into(), ops, elapsed: start.elapsed(), latencies: vec![] }
}

/// Time from the start of a publish to the event reaching a live watcher, publishes one at a time.
async fn publish_to_watch(node: &TestNode, n: usize) -> Row {
    let mut events = node.client().await.watch(pb::WatchRequest::default()).await.unwrap();
    let sent: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> = Arc::default();
    let watcher = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(n);
            while latencies.len() < n {
                let e = events.next().await.unwrap().unwrap();
                if let Some(t) = sent.lock().unwrap().remove(&e.licence_id) {
                    latencies.push(t.elapsed());
                }
            }
            latencies
        })
    };
    let mut client = node.client().await;
    let envelopes = envelopes(node, "WATCH", n);
    let start = Instant::now();
    for (i, envelope) in envelopes.into_iter().enumerate() {
        sent.lock().unwrap().insert(format!("WATCH-{i:07}"), Instant::now());
        client.publish(envelope).await.unwrap();
    }
    let latencies = watcher.await.unwrap();
    Row { name: "comity publish -> live Watch event, 1 publish in flight".into(), ops: latencies.len(), elapsed: start.elapsed(), latencies }
}

fn main() {
    let n: usize = std::env::var("COMITY_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(4000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("| measurement (n = {n}) | ops | ops/s | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|");
    raw_verify(n * 5).print();
    raw_sled(n / 4, 1).print();
    raw_sled(n, 100).print();
    runtime.block_on(async {
        comity_in_process(n / 4, 1).await.print();
        comity_in_process(n, 64).await.print();
        let (row, _single) = comity_grpc(n / 4, 1, 1).await;
        row.print();
        let (row, node) = comity_grpc(n.max(1000), 8, 8).await;
        row.print();
        grpc_reads(&node, n * 2, 8, 8, true).await.print();
        grpc_reads(&node, n * 2, 8, 8, false).await.print();
        publish_to_watch(&node, n / 4).await.print();
        watch_replay(&node).await.print();
    });
}
