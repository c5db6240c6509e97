//! Federation: catch-up rate of a fresh mirror, and publish-to-visible latency at a peer under
//! load, next to the in-process limits measured in the same run.
//!
//! Run: `cargo bench -p comity-tests --bench federation` (figures go into BENCHMARKS.md).
//! `COMITY_BENCH_CATCH_UP` lists the log sizes to catch up with (default `100000`; the 1M run in
//! BENCHMARKS.md used `100000,1000000`).

// The allocator comity-node runs with, so the node is measured as shipped.
#[global_allocator]
static ALLOCATOR: comity_node::Allocator = comity_node::Allocator;

use std::sync::Arc;
use std::time::{Duration, Instant};

use comity_node::log::{load_or_create_key, Overlay};
use comity_node::store::engine::{Batch, Engine, EngineKind};
use comity_node::store::{Store, WriteBatch};
use comity_proto::decision::fixtures::grant;
use comity_proto::log::{entry_leaf_hash, hashes_to_store, tree_root};
use comity_proto::pb::{self, federation_client::FederationClient};
use comity_proto::statement::{sign_decision, verify_batch, Envelope, Signer};
use comity_tests::TestNode;
use tokio::sync::Semaphore;

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const ORIGIN: &str = "registry.bafa.example/log";

fn signed(signer: &Signer, prefix: &str, range: std::ops::Range<u64>) -> Vec<Vec<u8>> {
    // Two threads: signing a million decisions is the slow part of setting up.
    let mid = range.start + (range.end - range.start) / 2;
    std::thread::scope(|s| {
        let halves = [range.start..mid, mid..range.end]
            .map(|r| s.spawn(move || r.map(|i| sign_decision(grant(BAFA, &format!("{prefix}-{i:08}")), signer)).collect::<Vec<_>>()));
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

/// CPU time this process has used, both cores together (`/proc/self/stat`, in the kernel's
/// 1/100 s ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// Fetches entries `0..n` from the origin as the mirror does (calls of 10,000, over loopback
/// gRPC), and checks and stores nothing: what serving and receiving them costs.
async fn fetch_only(origin: &TestNode, n: u64) {
    let mut client = comity_proto::pb::log_client::LogClient::connect(origin.url()).await.unwrap().max_decoding_message_size(64 << 20);
    let (cpu, start) = (cpu_seconds(), Instant::now());
    let mut received = 0u64;
    while received < n {
        let end = (received + 10_000).min(n);
        let mut stream = client.get_entries(pb::GetEntriesRequest { start: received, end, origin: ORIGIN.into() }).await.unwrap().into_inner();
        while let Some(message) = stream.message().await.unwrap() {
            received += message.entries.len() as u64;
        }
    }
    let (elapsed, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    println!(
        "| the origin serves its entries, fetched as the mirror fetches them and nothing checked or stored (CPU per entry, both cores) | {n} | {:.0} /s ({:.1} µs) |",
        n as f64 / elapsed,
        cpu / n as f64 * 1e6
    );
}

/// Writes `n` signed decisions straight into the stopped origin's log (statements, log
/// entries, stored hashes, one signed checkpoint per 10k), as if it had published them.
fn bulk_load(origin: &TestNode, n: u64) {
    let store = Store::open(&origin.config().store_dir()).unwrap();
    let key = load_or_create_key(&origin.config().log_key_path(), ORIGIN).unwrap();
    let signer = origin.signer(BAFA);
    let mut size = store.log(ORIGIN).size().unwrap();
    let end = size + n;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    while size < end {
        let upto = (size + 10_000).min(end);
        let envelopes = signed(&signer, "DE-2026-BULK", size..upto);
        let mut overlay = Overlay::new(store.log(ORIGIN));
        let mut batch = WriteBatch::default();
        for (index, bytes) in (size..upto).zip(&envelopes) {
            let id = comity_proto::statement::StatementId::of(bytes);
            let hashes = hashes_to_store(index, &entry_leaf_hash(now, bytes), &overlay).unwrap();
            overlay.stage(&hashes);
            batch.put_statement(&id, bytes, Some(index));
            batch.append_log(ORIGIN, index, &id, now, &hashes);
        }
        let root = tree_root(upto, &overlay).unwrap();
        let map_root =
            store.stage_map(&mut batch, ORIGIN, upto, &comity_proto::licence_map::changes_of(envelopes.iter().map(Vec::as_slice)), None).unwrap().root;
        batch.put_checkpoint(ORIGIN, upto, &key.sign_checkpoint(upto, &root, &map_root, now).unwrap());
        store.commit(batch).unwrap();
        size = upto;
    }
}

fn mirror_config(origin: &TestNode) -> impl FnOnce(&mut comity_node::Config) {
    let (peer, trusted) = (origin.as_peer("bafa"), vec![origin.authority(BAFA)]);
    move |c| {
        c.origin = "registry.meti.example/log".into();
        c.peers = vec![peer];
        c.trusted = trusted;
        c.mirror_interval_ms = 50;
    }
}

async fn catch_up(n: u64) {
    let mut a = TestNode::start_with(&[BAFA], |c| c.origin = ORIGIN.into()).await;
    a.stop().await;
    let loading = Instant::now();
    bulk_load(&a, n);
    eprintln!("loaded {n} signed decisions into the origin in {:.1} s", loading.elapsed().as_secs_f64());
    a.start_again().await.unwrap();
    fetch_only(&a, n).await;

    let (cpu, start) = (cpu_seconds(), Instant::now());
    let b = TestNode::start_with(&[METI], mirror_config(&a)).await;
    loop {
        if b.node().mirror_status("bafa").is_some_and(|s| s.size == n) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (elapsed, cpu) = (start.elapsed(), cpu_seconds() - cpu);
    println!(
        "| fresh mirror catches up with {n} statements (CPU per entry, both cores, origin included) | {:.1} s | {:.0} /s ({:.1} µs) |",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        cpu / n as f64 * 1e6
    );
}

/// In-process limits of the same work: strict and batch signature checks of real envelopes,
/// and raw inserts of the same bytes into each store engine.
fn limits(signer: &Signer) {
    let n = 20_000u64;
    let envelopes: Vec<Envelope> = signed(signer, "DE-2026-LIMIT", 0..n).into_iter().map(|b| Envelope::parse(b).unwrap()).collect();
    let key = signer.verifying_key();
    let start = Instant::now();
    for e in &envelopes {
        e.verify(|_| Some(key)).unwrap();
    }
    let strict = n as f64 / start.elapsed().as_secs_f64();
    let refs: Vec<&Envelope> = envelopes.iter().collect();
    let start = Instant::now();
    verify_batch(&refs, |_, _| Some(key)).unwrap();
    let batch = n as f64 / start.elapsed().as_secs_f64();
    for size in [1usize, 16, 64, 128, 192, 256, 384, 512] {
        let start = Instant::now();
        for chunk in refs.chunks(size).take(4096 / size) {
            verify_batch(chunk, |_, _| Some(key)).unwrap();
        }
        println!(
            "| verify_batch in calls of {size} | {} | {:.1} µs per signature |",
            size * (4096 / size),
            start.elapsed().as_secs_f64() * 1e6 / (size * (4096 / size)) as f64
        );
    }
    let start = Instant::now();
    for e in &envelopes {
        Envelope::parse(e.bytes().to_vec()).unwrap();
    }
    let parse = n as f64 / start.elapsed().as_secs_f64();
    println!("| raw ed25519 verify_strict, one core | {n} | {strict:.0} /s |");
    println!("| batch verification, exact (R torsion-free by random subset sums), one core | {n} | {batch:.0} /s |");
    println!("| envelope parse (canonical check), one core | {n} | {parse:.0} /s |");

    for kind in [EngineKind::Sled, EngineKind::Fjall] {
        let name = format!("{kind:?}").to_lowercase();
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), kind, comity_node::store::DEFAULT_CACHE_BYTES).unwrap();
        let start = Instant::now();
        for chunk in envelopes.chunks(10_000) {
            let mut b = Batch::default();
            for e in chunk {
                b.insert(e.id().0, e.bytes());
            }
            engine.apply(b).unwrap();
            engine.flush().unwrap();
        }
        println!(
            "| raw {name} (the node's engine, as it opens it): envelope inserts, flush per 10000 | {n} | {:.0} /s |",
            n as f64 / start.elapsed().as_secs_f64()
        );
    }
    for kind in [EngineKind::Sled, EngineKind::Fjall] {
        let (rate, cpu) = floor(&envelopes, key, kind);
        let name = format!("{kind:?}").to_lowercase();
        let default = if kind == EngineKind::default() { ", the default engine: the floor the goal refers to" } else { "" };
        println!(
            "| floor: exact batch verification on two threads and a bare {name} insert per envelope (no log, licence or index), overlapped on both cores{default} (CPU per entry, both cores) | {n} | {rate:.0} /s ({cpu:.1} µs) |"
        );
    }
}

/// The two steps no mirror can skip, overlapped on both cores: two threads check signatures
/// in batches while a third stores each checked envelope under its id in `kind`, opened as the
/// node opens its store, and makes it durable per 10,240.
/// Returns the rate and the CPU per entry (µs, both cores).
fn floor(envelopes: &[Envelope], key: ed25519_dalek::VerifyingKey, kind: EngineKind) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), kind, comity_node::store::DEFAULT_CACHE_BYTES).unwrap();
    let (tx, rx) = std::sync::mpsc::sync_channel::<&[Envelope]>(4);
    let (cpu, start) = (cpu_seconds(), Instant::now());
    std::thread::scope(|s| {
        let chunks: Vec<&[Envelope]> = envelopes.chunks(1024).collect();
        for half in chunks.chunks(chunks.len().div_ceil(2)) {
            let (tx, half) = (tx.clone(), half.to_vec());
            s.spawn(move || {
                for chunk in half {
                    let refs: Vec<&Envelope> = chunk.iter().collect();
                    verify_batch(&refs, |_, _| Some(key)).unwrap();
                    tx.send(chunk).unwrap();
                }
            });
        }
        drop(tx);
        let mut b = Batch::default();
        let mut stored = 0;
        for chunk in rx {
            for e in chunk {
                b.insert(e.id().0, e.bytes());
            }
            stored += chunk.len();
            if stored % 10_240 == 0 || stored == envelopes.len() {
                engine.apply(std::mem::take(&mut b)).unwrap();
                engine.flush().unwrap();
            }
        }
    });
    (envelopes.len() as f64 / start.elapsed().as_secs_f64(), (cpu_seconds() - cpu) / envelopes.len() as f64 * 1e6)
}

/// The floor with the work no honest mirror can skip on top of the signatures: the log's
/// Merkle hashes (the root is checked against the signed checkpoint) and the licence-state map
/// (its root too), stored through the node's own store on its default engine with each
/// envelope, committed and made durable per 10,240 entries, while two threads check the
/// signatures in batches. No licence rules, summaries, index or network: the mirror adds those.
/// Returns the rate and the CPU per entry (µs, both cores).
fn floor_with_log_and_map(n: u64) -> (f64, f64) {
    let signer = Signer::from_seed(&[5; 32]);
    let key = signer.verifying_key();
    let envelopes: Vec<Envelope> = signed(&signer, "DE-2026-FLOOR", 0..n).into_iter().map(|b| Envelope::parse(b).unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let now = 1_790_000_000;
    let (tx, rx) = std::sync::mpsc::sync_channel::<&[Envelope]>(4);
    let (cpu, start) = (cpu_seconds(), Instant::now());
    std::thread::scope(|s| {
        // Chunks alternate between the two checkers and are stored in order.
        let even: Vec<&[Envelope]> = envelopes.chunks(1024).step_by(2).collect();
        let odd: Vec<&[Envelope]> = envelopes.chunks(1024).skip(1).step_by(2).collect();
        let (tx_even, rx_even) = std::sync::mpsc::sync_channel::<&[Envelope]>(2);
        let (tx_odd, rx_odd) = std::sync::mpsc::sync_channel::<&[Envelope]>(2);
        for (part, out) in [(even, tx_even), (odd, tx_odd)] {
            s.spawn(move || {
                for chunk in part {
                    let refs: Vec<&Envelope> = chunk.iter().collect();
                    verify_batch(&refs, |_, _| Some(key)).unwrap();
                    out.send(chunk).unwrap();
                }
            });
        }
        s.spawn(move || {
            for (a, b) in rx_even.iter().zip(rx_odd.iter().map(Some).chain(std::iter::repeat(None))) {
                tx.send(a).unwrap();
                if let Some(b) = b {
                    tx.send(b).unwrap();
                }
            }
        });
        let mut size = 0u64;
        let mut overlay = Overlay::new(store.log(ORIGIN));
        let mut batch = WriteBatch::default();
        let mut changes = Vec::new();
        for chunk in rx {
            for e in chunk {
                let bytes = e.bytes();
                let hashes = hashes_to_store(size, &entry_leaf_hash(now, bytes), &overlay).unwrap();
                overlay.stage(&hashes);
                batch.put_statement(&e.id(), bytes, None);
                batch.append_log(ORIGIN, size, &e.id(), now, &hashes);
                changes.extend(comity_proto::licence_map::change_of(e));
                size += 1;
            }
            if size.is_multiple_of(10_240) || size == n {
                tree_root(size, &overlay).unwrap();
                store.stage_map(&mut batch, ORIGIN, size, &std::mem::take(&mut changes), None).unwrap();
                batch.put_log_size(ORIGIN, size);
                store.commit(std::mem::take(&mut batch)).unwrap();
                overlay = Overlay::new(store.log(ORIGIN));
            }
        }
    });
    (n as f64 / start.elapsed().as_secs_f64(), (cpu_seconds() - cpu) / n as f64 * 1e6)
}

/// Publishes at A with `load` publishes in flight, and measures for `probes` of them the time
/// from sending the publish to the peer B committing a checkpoint that includes it.
async fn visible_at_peer(load: usize, probes: usize) {
    let a = TestNode::start_with(&[BAFA], |c| c.origin = ORIGIN.into()).await;
    let b = TestNode::start_with(&[METI], mirror_config(&a)).await;
    let mut events = FederationClient::connect(b.url()).await.unwrap().subscribe(pb::SubscribeRequest { origin: ORIGIN.into() }).await.unwrap().into_inner();
    let (seen_tx, seen_rx) = tokio::sync::watch::channel(0u64);
    tokio::spawn(async move {
        while let Ok(Some(event)) = events.message().await {
            if let Some(size) = comity_proto::witness::note_size(&event.checkpoint) {
                seen_tx.send_modify(|s| *s = (*s).max(size));
            }
        }
    });
    // Background load.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gate = Arc::new(Semaphore::new(load.max(1)));
    let signer = a.signer(BAFA);
    let url = a.url();
    let loader = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let client = comity_client::Client::connect(&url).await.unwrap();
            let mut i = 0u64;
            while load > 0 && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let permit = gate.clone().acquire_owned().await.unwrap();
                let envelope = sign_decision(grant(BAFA, &format!("DE-2026-LOAD-{i:08}")), &signer);
                let mut c = client.clone();
                tokio::spawn(async move {
                    let _ = c.publish(envelope).await;
                    drop(permit);
                });
                i += 1;
            }
            i
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut client = a.client().await;
    let mut latencies = Vec::with_capacity(probes);
    let started = Instant::now();
    for i in 0..probes {
        let envelope = a.sign(grant(BAFA, &format!("DE-2026-PROBE-{i:06}")));
        let sent = Instant::now();
        let index = client.publish(envelope).await.unwrap().receipt.unwrap().index;
        let mut seen = seen_rx.clone();
        seen.wait_for(|s| *s > index).await.unwrap();
        latencies.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let published = loader.await.unwrap();
    let rate = published as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "| publish at A → committed at peer B, {load} publishes in flight at A (~{rate:.0}/s) | {probes} | p50 {:.1} ms | p99 {:.1} ms |",
        at(0.5),
        at(0.99)
    );
}

fn main() {
    let sizes: Vec<u64> =
        std::env::var("COMITY_BENCH_CATCH_UP").ok().map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect()).unwrap_or_else(|| vec![100_000]);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("| measurement | n | value |");
    println!("|---|---:|---:|");
    // `COMITY_BENCH_SKIP_LIMITS`: the catch-up alone (to profile it).
    let limits_too = std::env::var_os("COMITY_BENCH_SKIP_LIMITS").is_none();
    if limits_too {
        limits(&Signer::from_seed(&[4; 32]));
    }
    runtime.block_on(async {
        for n in sizes {
            if limits_too {
                let (floor, cpu) = floor_with_log_and_map(n);
                println!(
                    "| floor with the log and the licence-state map: exact batch verification on two threads, each envelope stored with its log entry, Merkle hashes and map change through the node's store (no rules, summary, index or network; CPU per entry, both cores) | {n} | {floor:.0} /s ({cpu:.1} µs) |"
                );
            }
            catch_up(n).await;
        }
        if std::env::var_os("COMITY_BENCH_SKIP_LATENCY").is_none() {
            visible_at_peer(0, 200).await;
            visible_at_peer(16, 300).await;
        }
    });
}
