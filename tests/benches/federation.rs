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

    let start = Instant::now();
    let b = TestNode::start_with(&[METI], mirror_config(&a)).await;
    loop {
        if b.node().mirror_status("bafa").is_some_and(|s| s.size == n) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    println!("| fresh mirror catches up with {n} statements | {:.1} s | {:.0} /s |", elapsed.as_secs_f64(), n as f64 / elapsed.as_secs_f64());
}

/// In-process limits of the same work: strict and batch signature checks of real envelopes,
/// and raw sled inserts of the same bytes.
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
    let start = Instant::now();
    for e in &envelopes {
        Envelope::parse(e.bytes().to_vec()).unwrap();
    }
    let parse = n as f64 / start.elapsed().as_secs_f64();
    println!("| raw ed25519 verify_strict, one core | {n} | {strict:.0} /s |");
    println!("| batch verification, exact (R torsion-free by random subset sums), one core | {n} | {batch:.0} /s |");
    println!("| envelope parse (canonical check), one core | {n} | {parse:.0} /s |");

    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let start = Instant::now();
    for chunk in envelopes.chunks(10_000) {
        let mut b = sled::Batch::default();
        for e in chunk {
            b.insert(&e.id().0, e.bytes());
        }
        db.apply_batch(b).unwrap();
        db.flush().unwrap();
    }
    println!("| raw sled: envelope inserts, flush per 10000 | {n} | {:.0} /s |", n as f64 / start.elapsed().as_secs_f64());

    // The two steps no mirror can skip, overlapped on both cores: two threads check
    // signatures in batches while a third stores each checked envelope under its id.
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let (tx, rx) = std::sync::mpsc::sync_channel::<&[Envelope]>(4);
    let start = Instant::now();
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
        let mut b = sled::Batch::default();
        let mut stored = 0;
        for chunk in rx {
            for e in chunk {
                b.insert(&e.id().0, e.bytes());
            }
            stored += chunk.len();
            if stored % 10_240 == 0 || stored == envelopes.len() {
                db.apply_batch(std::mem::take(&mut b)).unwrap();
                db.flush().unwrap();
            }
        }
    });
    println!(
        "| floor: exact batch verification on two threads and a bare sled insert per envelope (no log, licence or index), overlapped on both cores | {n} | {:.0} /s |",
        n as f64 / start.elapsed().as_secs_f64()
    );
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
    limits(&Signer::from_seed(&[4; 32]));
    runtime.block_on(async {
        for n in sizes {
            catch_up(n).await;
        }
        if std::env::var_os("COMITY_BENCH_SKIP_LATENCY").is_none() {
            visible_at_peer(0, 200).await;
            visible_at_peer(16, 300).await;
        }
    });
}
