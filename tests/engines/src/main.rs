//! Writes N new licences the way the node's store lays them out today (BENCHMARKS.md, "Reading
//! the figures"): the envelope under its random statement id, the chain entry and the summary
//! under the licence, and ten search postings (term, licence) spread over 500 terms; in group
//! commits of `COMITY_ENGINES_BATCH` (35: what the writer commits per flush with 64 publishes
//! in flight), each made durable before the next. Envelope bytes are random (signatures and
//! hashes do not compress), 920 bytes as in the scale bench. Prints a row per engine, then the
//! time of a random point read in a fjall store of 10,000 and of N licences (the engine's floor
//! for how reads slow as a store grows). `COMITY_ENGINES_READS_ONLY=1` runs only the reads.

use std::path::Path;
use std::time::Instant;

type Record = (Vec<u8>, Vec<u8>);

/// xorshift: the same keys and bytes for every engine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The records a new licence number `n` writes.
fn licence(n: u64, rng: &mut Rng) -> Vec<Record> {
    let licence = format!("de.bafa\0DE-2026-{n:08}");
    let mut id = vec![b'S'];
    let mut envelope = Vec::with_capacity(920);
    for _ in 0..4 {
        id.extend(rng.next().to_be_bytes());
    }
    while envelope.len() < 920 {
        envelope.extend(rng.next().to_le_bytes());
    }
    let mut out = vec![(id, envelope)];
    for posting in 0..10u8 {
        let key = [&[b'I' + posting % 4][..], format!("term{}", rng.next() % 500).as_bytes(), &[0], licence.as_bytes()].concat();
        out.push((key, Vec::new()));
    }
    out.push(([b"L", licence.as_bytes()].concat(), vec![1; 250]));
    out.push(([b"D", licence.as_bytes(), b"\x00\x01"].concat(), vec![2; 32]));
    out
}

fn disk_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => disk_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Runs `commit` for each group of records; prints the row.
fn measure(name: &str, n: u64, batch: u64, dir: &Path, mut commit: impl FnMut(Vec<Record>), close: impl FnOnce()) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    for b in 0..n / batch {
        commit((0..batch).flat_map(|i| licence(b * batch + i, &mut rng)).collect());
    }
    close();
    let took = started.elapsed().as_secs_f64();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let bytes = disk_bytes(dir);
    println!("| {name} | {:.0} | {} | {} | {:.2} |", n as f64 / took, bytes >> 20, bytes / n, bytes as f64 / (n as f64 * 920.0));
}

/// Average time of a random point read of a stored envelope in a fjall store of `n` licences
/// written as above, with the node's default cache (16 MiB): the engine's share of every
/// GetLicence and Verify, at this store size.
fn fjall_read_micros(n: u64, batch: u64, reads: usize) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let keyspace = fjall::Config::new(tmp.path()).cache_size(16 << 20).open().unwrap();
    let store = keyspace.open_partition("store", fjall::PartitionCreateOptions::default()).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut ids = Vec::with_capacity(n as usize);
    for b in 0..n / batch {
        let mut w = keyspace.batch();
        for (k, v) in (0..batch).flat_map(|i| licence(b * batch + i, &mut rng)) {
            if k[0] == b'S' {
                ids.push(k.clone());
            }
            w.insert(&store, k, v);
        }
        w.commit().unwrap();
    }
    keyspace.persist(fjall::PersistMode::SyncAll).unwrap();
    // Let flushes and compactions settle, as on a node between bursts.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let started = Instant::now();
    for _ in 0..reads {
        let id = &ids[(rng.next() % ids.len() as u64) as usize];
        assert!(store.get(id).unwrap().is_some());
    }
    started.elapsed().as_secs_f64() * 1e6 / reads as f64
}

fn main() {
    let n: u64 = std::env::var("COMITY_ENGINES_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let batch: u64 = std::env::var("COMITY_ENGINES_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(35);
    let reads_only = std::env::var_os("COMITY_ENGINES_READS_ONLY").is_some();
    println!("### {n} licences (13 records each), group commits of {batch}, durable per commit\n");
    println!("| engine | licences/s | disk MB | disk B / licence | disk / envelope bytes |");
    println!("|---|---:|---:|---:|---:|");
    for compression in [false, true].into_iter().filter(|_| !reads_only) {
        let tmp = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(tmp.path()).cache_capacity(64 << 20).use_compression(compression).open().unwrap();
        let name = if compression { "sled 0.34, zstd compression" } else { "sled 0.34 (the node's store)" };
        measure(
            name,
            n,
            batch,
            tmp.path(),
            |records| {
                let mut b = sled::Batch::default();
                records.into_iter().for_each(|(k, v)| b.insert(k, v));
                db.apply_batch(b).unwrap();
                db.flush().unwrap();
            },
            || drop(db.flush()),
        );
    }
    if !reads_only {
        const TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("store");
        let tmp = tempfile::tempdir().unwrap();
        let db = redb::Database::create(tmp.path().join("store.redb")).unwrap();
        measure(
            "redb 2",
            n,
            batch,
            tmp.path(),
            |records| {
                let tx = db.begin_write().unwrap();
                {
                    let mut table = tx.open_table(TABLE).unwrap();
                    for (k, v) in &records {
                        table.insert(k.as_slice(), v.as_slice()).unwrap();
                    }
                }
                tx.commit().unwrap();
            },
            || {},
        );
    }
    if !reads_only {
        let tmp = tempfile::tempdir().unwrap();
        let keyspace = fjall::Config::new(tmp.path()).open().unwrap();
        let store = keyspace.open_partition("store", fjall::PartitionCreateOptions::default()).unwrap();
        measure(
            "fjall 2",
            n,
            batch,
            tmp.path(),
            |records| {
                let mut b = keyspace.batch();
                records.into_iter().for_each(|(k, v)| b.insert(&store, k, v));
                b.commit().unwrap();
                keyspace.persist(fjall::PersistMode::SyncAll).unwrap();
            },
            || {},
        );
    }
    let reads = 200_000;
    let small = fjall_read_micros(10_000.min(n), batch, reads);
    let large = fjall_read_micros(n, batch, reads);
    println!("\n| fjall 2, random point reads of stored envelopes, 16 MiB cache, one thread | 10,000 licences | {n} licences | ratio |");
    println!("|---|---:|---:|---:|");
    println!("| µs per read ({reads} reads) | {small:.2} | {large:.2} | {:.2} |", large / small);
}
