//! Log append rate inside a batch, next to raw sled batched inserts measured in the same run,
//! and proof generation and verification on a 1M-entry log.
//!
//! Run: `cargo bench -p comity-tests --bench log` (figures go into BENCHMARKS.md).
//! `COMITY_BENCH_LOG_SIZE` sets the big log's size (default 1000000).

// The allocator comity-node runs with, so the node is measured as shipped.
#[global_allocator]
static ALLOCATOR: comity_node::Allocator = comity_node::Allocator;

use std::time::{Duration, Instant};

use comity_node::log::Overlay;
use comity_node::store::{Store, WriteBatch};
use comity_proto::log::{entry_leaf_hash, hashes_to_store, prove_consistency, prove_inclusion, tree_root, verify_consistency, verify_inclusion, LogKey};
use comity_proto::statement::StatementId;

const ENTRY_BYTES: usize = 600;
const BATCH: usize = 1000;

fn envelope(i: u64) -> Vec<u8> {
    let mut e = vec![0u8; ENTRY_BYTES];
    e[..8].copy_from_slice(&i.to_be_bytes());
    e
}

/// Raw sled: one insert of the entry bytes per entry, a flush per batch.
fn raw_sled(n: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let start = Instant::now();
    for chunk_start in (0..n).step_by(BATCH) {
        let mut b = sled::Batch::default();
        for i in chunk_start..(chunk_start + BATCH as u64).min(n) {
            b.insert(&StatementId::of(&i.to_be_bytes()).0, envelope(i));
        }
        db.apply_batch(b).unwrap();
        db.flush().unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// The log time of every appended entry.
const LOGGED_AT: i64 = 1_793_196_000;

/// The log's append path: store the entry (with its index) and the new stored hashes, sign
/// one checkpoint per batch, commit and flush. Returns (appends/s, store).
fn log_appends(store: &Store, n: u64, batch: usize, key: &LogKey) -> f64 {
    let start = Instant::now();
    let origin = key.verifier().name().to_string();
    let mut size = store.log(&origin).size().unwrap();
    let end = size + n;
    while size < end {
        let mut overlay = Overlay::new(store.log(&origin));
        let mut writes = WriteBatch::default();
        let upto = (size + batch as u64).min(end);
        for index in size..upto {
            let entry = envelope(index);
            let id = StatementId::of(&entry);
            let hashes = hashes_to_store(index, &entry_leaf_hash(LOGGED_AT, &entry), &overlay).unwrap();
            overlay.stage(&hashes);
            writes.put_statement(&id, &entry, Some(index));
            writes.append_log(&origin, index, &id, LOGGED_AT, &hashes);
        }
        let root = tree_root(upto, &overlay).unwrap();
        let changes = comity_proto::licence_map::changes_of((size..upto).map(envelope).collect::<Vec<_>>().iter().map(Vec::as_slice));
        let map_root = store.stage_map(&mut writes, &origin, upto, &changes, None).unwrap().root;
        writes.put_checkpoint(key.verifier().name(), upto, &key.sign_checkpoint(upto, &root, &map_root, 1_793_196_000).unwrap());
        store.commit(writes).unwrap();
        size = upto;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn per_op(total: Duration, ops: u64) -> String {
    format!("{:.1} µs", total.as_secs_f64() * 1e6 / ops as f64)
}

fn main() {
    let big: u64 = std::env::var("COMITY_BENCH_LOG_SIZE").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let key = LogKey::from_seed("bench.comity.example/log", &[1; 32]).unwrap();
    println!("| measurement | value |");
    println!("|---|---:|");

    let n = 100_000;
    let raw = raw_sled(n);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let appends = log_appends(&store, n, BATCH, &key);
    println!("| raw sled: {ENTRY_BYTES}-byte inserts, batches of {BATCH}, flush per batch | {raw:.0} /s |");
    println!("| log appends (entry with index + stored hashes + signed checkpoint), batches of {BATCH} | {appends:.0} /s |");
    println!("| log append rate / raw sled insert rate | {:.0}% |", 100.0 * appends / raw);

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let start = Instant::now();
    log_appends(&store, big, 10_000, &key);
    println!("| build a {big}-entry log (batches of 10000) | {:.1} s |", start.elapsed().as_secs_f64());
    let origin = key.verifier().name().to_string();
    let log = store.log(&origin);
    let root = tree_root(big, &log).unwrap();
    // sled settles (flushes, merges pages) for a while after a bulk load; measure warm reads.
    let warmup = Instant::now();
    for i in (0..big).step_by(97) {
        prove_inclusion(big, i, &log).unwrap();
    }
    println!("| warm-up: {} inclusion proofs right after the build | {} |", big / 97, per_op(warmup.elapsed(), big / 97));

    let samples = 10_000u64;
    let indexes: Vec<u64> = (0..samples).map(|i| (i * 7_919_993) % big).collect();
    let start = Instant::now();
    let proofs: Vec<_> = indexes.iter().map(|&i| prove_inclusion(big, i, &log).unwrap()).collect();
    println!("| inclusion proof generation at size {big} ({} hashes) | {} |", proofs[0].len(), per_op(start.elapsed(), samples));
    let leaves: Vec<_> = indexes.iter().map(|&i| entry_leaf_hash(LOGGED_AT, &envelope(i))).collect();
    let start = Instant::now();
    for ((proof, &i), leaf) in proofs.iter().zip(&indexes).zip(&leaves) {
        verify_inclusion(proof, big, &root, i, leaf).unwrap();
    }
    println!("| inclusion proof verification | {} |", per_op(start.elapsed(), samples));

    let olds: Vec<u64> = (0..samples).map(|i| 1 + (i * 104_729) % (big - 1)).collect();
    let start = Instant::now();
    let cproofs: Vec<_> = olds.iter().map(|&o| prove_consistency(o, big, &log).unwrap()).collect();
    println!("| consistency proof generation to size {big} | {} |", per_op(start.elapsed(), samples));
    let old_roots: Vec<_> = olds.iter().map(|&o| tree_root(o, &log).unwrap()).collect();
    let start = Instant::now();
    for ((proof, &o), old_root) in cproofs.iter().zip(&olds).zip(&old_roots) {
        verify_consistency(proof, o, old_root, big, &root).unwrap();
    }
    println!("| consistency proof verification | {} |", per_op(start.elapsed(), samples));
}
