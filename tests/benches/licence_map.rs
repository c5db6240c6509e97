//! The licence-state map: update cost per licence change on a big stored map, proof size and
//! timings, disk use, and a token's size with and without its head proof, next to the
//! in-process limits (raw SHA-256, the in-memory map) measured in the same run.
//!
//! Run: `cargo bench -p comity-tests --bench licence_map` (figures go into BENCHMARKS.md).
//! `COMITY_BENCH_N` sets the number of licences in the stored map (default 1000000).

// The allocator comity-node runs with, so the node is measured as shipped.
#[global_allocator]
static ALLOCATOR: comity_node::Allocator = comity_node::Allocator;

use std::time::{Duration, Instant};

use comity_node::store::{MapCache, Store, WriteBatch};
use comity_proto::bundle::{check, wire_head_proof, Bundle};
use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::licence_map::{self, Head, MapKey, MemoryMap};
use comity_proto::log::{entry_leaf_hash, prove_inclusion, tree_root, wire_proof, LogKey, MemoryHashes};
use comity_proto::pb;
use comity_proto::statement::{sign_decision, Signer, StatementId};
use comity_proto::trust::{TrustFile, TrustedAuthority};
use prost::Message;
use sha2::{Digest, Sha256};

const BAFA: &str = "de.bafa";
const TIME: i64 = 1_793_196_000;
const BUILD_BATCH: usize = 10_000;

fn key_of(i: u64) -> MapKey {
    licence_map::licence_key(BAFA, &format!("DE-2026-{i:07}"))
}

fn head_of(i: u64, version: u64) -> Head {
    Head { version, id: StatementId::of(&[&i.to_be_bytes()[..], &version.to_be_bytes()].concat()).0 }
}

fn per_op(total: Duration, ops: u64) -> String {
    format!("{:.2} µs", total.as_secs_f64() * 1e6 / ops as f64)
}

fn row(name: &str, value: impl std::fmt::Display) {
    println!("| {name} | {value} |");
}

/// What one batch's map work cost.
#[derive(Default, Clone, Copy)]
struct Cost {
    update: Duration,
    commit: Duration,
    /// Map nodes changed.
    nodes: usize,
    /// sled records written (tiles and the undo record).
    records: usize,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        (self.update, self.commit, self.nodes, self.records) = (self.update + o.update, self.commit + o.commit, self.nodes + o.nodes, self.records + o.records);
    }
}

/// One publish batch's map work on the store, as the writer does it: update through its cache
/// of upper tiles and stage the tiles (`Store::stage_map`), commit with the log size (with
/// flush), settle the cache. Returns the cost and the new root.
fn apply(store: &Store, cache: &mut MapCache, origin: &str, version: u64, changes: &[(MapKey, Head)]) -> (Cost, [u8; 32]) {
    let start = Instant::now();
    let mut batch = WriteBatch::default();
    let staged = store.stage_map(&mut batch, origin, version, changes, Some(cache)).unwrap();
    batch.put_log_size(origin, version);
    let update = start.elapsed();
    let start = Instant::now();
    store.commit(batch).unwrap();
    cache.settle(true);
    (Cost { update, commit: start.elapsed(), nodes: staged.nodes, records: staged.records }, staged.root)
}

fn main() {
    let n: u64 = std::env::var("COMITY_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let log_key = LogKey::from_seed("bench.comity.example/log", &[1; 32]).unwrap();
    let origin = log_key.verifier().name().to_string();
    println!("| measurement (n = {n}) | value |");
    println!("|---|---:|");

    // (a) In-process limits.
    let samples = 1_000_000u64;
    let block = [7u8; 64];
    let start = Instant::now();
    let mut acc = [0u8; 32];
    for i in 0..samples {
        let mut h = Sha256::new();
        h.update(block);
        h.update(&acc[..(i % 2) as usize]);
        acc = h.finalize().into();
    }
    let sha = samples as f64 / start.elapsed().as_secs_f64();
    std::hint::black_box(acc);
    row("raw SHA-256 of 64 bytes", format!("{sha:.0} /s ({:.2} µs)", 1e6 / sha));

    let mem_n = n.min(100_000);
    let mut map = MemoryMap::default();
    let start = Instant::now();
    for first in (0..mem_n).step_by(1000) {
        let changes: Vec<_> = (first..(first + 1000).min(mem_n)).map(|i| (key_of(i), head_of(i, 1))).collect();
        map.apply(&changes);
    }
    row(&format!("MemoryMap: insert {mem_n} licences, batches of 1000"), format!("{} per licence", per_op(start.elapsed(), mem_n)));
    let updates = 10_000u64;
    let start = Instant::now();
    for i in 0..updates {
        let l = (i * 7919) % mem_n;
        map.apply(&[(key_of(l), head_of(l, 2))]);
    }
    row(&format!("MemoryMap: one head change in a {mem_n}-licence map (batch of 1)"), per_op(start.elapsed(), updates));
    let start = Instant::now();
    for i in 0..updates {
        std::hint::black_box(map.prove(&key_of((i * 7919) % mem_n)));
    }
    row(&format!("MemoryMap: proof generation at {mem_n} licences"), per_op(start.elapsed(), updates));

    // (b) The stored map: n licences in one log's map, built in batches.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.commit(WriteBatch::default()).unwrap();
    let empty_size = store.size_on_disk().unwrap();
    let start = Instant::now();
    let mut version = 0u64;
    let mut built = Cost::default();
    let mut cache = MapCache::default();
    for first in (0..n).step_by(BUILD_BATCH) {
        let changes: Vec<_> = (first..(first + BUILD_BATCH as u64).min(n)).map(|i| (key_of(i), head_of(i, 1))).collect();
        version += changes.len() as u64;
        built += apply(&store, &mut cache, &origin, version, &changes).0;
    }
    let build = start.elapsed();
    row(
        &format!("build a {n}-licence stored map (stage_map + commit, batches of {BUILD_BATCH})"),
        format!("{:.1} s ({} per licence)", build.as_secs_f64(), per_op(build, n)),
    );
    let built_size = store.size_on_disk().unwrap();
    row(
        "sled records written for the build: tiles + undo (map nodes changed)",
        format!("{} ({:.2} per licence; {:.2} nodes per licence)", built.records, built.records as f64 / n as f64, built.nodes as f64 / n as f64),
    );
    row(&format!("store size on disk: empty / with the {n}-licence map"), format!("{:.1} MB / {:.1} MB", empty_size as f64 / 1e6, built_size as f64 / 1e6));

    // Warm reads (sled settles after a bulk load), as the log bench does.
    for i in (0..n).step_by(97) {
        licence_map::prove(&store.log(&origin).map(version).unwrap(), &key_of(i)).unwrap();
    }
    row(&format!("writer's cache: tiles above depth {} held", comity_node::store::CACHED_DEPTH), cache.len());

    // Adding licences to the big map, in the batch sizes a writer sees.
    let mut next = n;
    for (batch_size, rounds) in [(1u64, 200u64), (34, 100), (1000, 20)] {
        let mut cost = Cost::default();
        for _ in 0..rounds {
            let changes: Vec<_> = (next..next + batch_size).map(|i| (key_of(i), head_of(i, 1))).collect();
            next += batch_size;
            version += batch_size;
            cost += apply(&store, &mut cache, &origin, version, &changes).0;
        }
        let changes = batch_size * rounds;
        row(
            &format!("add licences in batches of {batch_size}: map update (read + hash + stage) per change"),
            format!(
                "{} ({:.1} records, {:.1} nodes/change)",
                per_op(cost.update, changes),
                cost.records as f64 / changes as f64,
                cost.nodes as f64 / changes as f64
            ),
        );
        row(&format!("add licences in batches of {batch_size}: commit + flush of those records per batch"), per_op(cost.commit, rounds));
    }
    // Head changes of licences already in the map (amend, revoke), batches of 34, with a
    // cosigned checkpoint left behind at the start so that every commit keeps its undo record.
    let lag_from = version;
    let mut batch = WriteBatch::default();
    batch.put_cosigned(&origin, &log_key.sign_checkpoint(lag_from, &[0x5a; 32], &[0; 32], TIME).unwrap());
    store.commit(batch).unwrap();
    let mut cost = Cost::default();
    let mut roots = Vec::new();
    for r in 0..100u64 {
        let changes: Vec<_> = (0..34u64).map(|j| ((r * 34 + j) * 104_729) % n).map(|i| (key_of(i), head_of(i, 2))).collect();
        version += 34;
        let (c, root) = apply(&store, &mut cache, &origin, version, &changes);
        cost += c;
        roots.push((version, root));
    }
    row(
        "new heads of existing licences in batches of 34: map update per change",
        format!("{} ({:.1} records, {:.1} nodes/change)", per_op(cost.update, 3400), cost.records as f64 / 3400.0, cost.nodes as f64 / 3400.0),
    );
    row("new heads of existing licences in batches of 34: commit + flush per batch", per_op(cost.commit, 100));
    // Proofs at a size some commits behind the latest (a cosigned checkpoint lagging).
    for lag in [1usize, 3, 10, 99] {
        let (size, root) = roots[roots.len() - 1 - lag];
        let samples = 1000u64;
        let start = Instant::now();
        for i in 0..samples {
            let key = key_of((i * 7_919_993) % n);
            let proof = store.log(&origin).prove_map(size, &root, &key).unwrap().expect("held");
            std::hint::black_box(proof);
        }
        row(
            &format!("membership proof {lag} commits of 34 behind the latest (undo records read and checked against the root)"),
            per_op(start.elapsed(), samples),
        );
    }
    let total = next;
    let after_size = store.size_on_disk().unwrap();
    row("store size on disk after those updates", format!("{:.1} MB", after_size as f64 / 1e6));

    // Proofs at this size.
    let map_root = licence_map::update(&store.log(&origin).map(version).unwrap(), &[]).unwrap().0;
    let note = log_key.sign_checkpoint(version, &[0x5a; 32], &map_root, TIME).unwrap();
    let samples = 10_000u64;
    let present: Vec<u64> = (0..samples).map(|i| (i * 7_919_993) % total).collect();
    let start = Instant::now();
    let proofs: Vec<_> = present.iter().map(|&i| licence_map::prove(&store.log(&origin).map(version).unwrap(), &key_of(i)).unwrap()).collect();
    row(&format!("membership proof generation from the store ({total} licences)"), per_op(start.elapsed(), samples));
    let depths: Vec<usize> = proofs.iter().map(|p| p.siblings.len()).collect();
    let mean = depths.iter().sum::<usize>() as f64 / depths.len() as f64;
    row("proof depth (siblings): mean / max", format!("{mean:.1} / {}", depths.iter().max().unwrap()));
    let sizes = |with_note: bool| -> (f64, usize) {
        let s: Vec<usize> = present
            .iter()
            .zip(&proofs)
            .map(|(&i, p)| wire_head_proof(&origin, if with_note { &note } else { "" }, BAFA, &format!("DE-2026-{i:07}"), p).encoded_len())
            .collect();
        (s.iter().sum::<usize>() as f64 / s.len() as f64, *s.iter().max().unwrap())
    };
    let (without, without_max) = sizes(false);
    let (with, with_max) = sizes(true);
    row("wire LicenceHeadProof, mean / max bytes, without its checkpoint note", format!("{without:.0} / {without_max}"));
    row(&format!("wire LicenceHeadProof, mean / max bytes, with its checkpoint note ({} bytes)", note.len()), format!("{with:.0} / {with_max}"));
    let start = Instant::now();
    for (&i, p) in present.iter().zip(&proofs) {
        licence_map::verify(&map_root, &key_of(i), p).unwrap().unwrap();
    }
    row("membership proof verification (licence_map::verify)", per_op(start.elapsed(), samples));
    let absent: Vec<MapKey> = (0..samples).map(|i| licence_map::licence_key(BAFA, &format!("XX-{i}"))).collect();
    let start = Instant::now();
    let nproofs: Vec<_> = absent.iter().map(|k| licence_map::prove(&store.log(&origin).map(version).unwrap(), k).unwrap()).collect();
    row("non-membership proof generation from the store", per_op(start.elapsed(), samples));
    let others = nproofs.iter().filter(|p| matches!(p.end, licence_map::ProofEnd::Other { .. })).count();
    let nsize: f64 = nproofs.iter().map(|p| wire_head_proof(&origin, "", BAFA, "XX-1", p).encoded_len()).sum::<usize>() as f64 / samples as f64;
    row("non-membership proofs ending at another leaf / at an empty subtree", format!("{others} / {}", samples as usize - others));
    row("non-membership wire proof, mean bytes without the note", format!("{nsize:.0}"));
    let start = Instant::now();
    for (k, p) in absent.iter().zip(&nproofs) {
        assert_eq!(licence_map::verify(&map_root, k, p).unwrap(), None);
    }
    row("non-membership proof verification", per_op(start.elapsed(), samples));

    // Proofs for an independent verifier to check (docs/licence-map.md's Python reference).
    if let Ok(path) = std::env::var("COMITY_BENCH_PROOFS") {
        let wire = |id: &str, p: &licence_map::MapProof| {
            let w = wire_head_proof(&origin, &note, BAFA, id, p);
            serde_json::json!({
                "authority": BAFA, "licence_id": id, "version": w.version, "head_id": hex::encode(&w.head_id),
                "siblings": w.siblings.iter().map(hex::encode).collect::<Vec<_>>(),
                "other_key": hex::encode(&w.other_key), "other_version": w.other_version, "other_head_id": hex::encode(&w.other_head_id),
            })
        };
        let mut cases: Vec<_> = present.iter().zip(&proofs).take(20).map(|(&i, p)| wire(&format!("DE-2026-{i:07}"), p)).collect();
        let empty = (0..samples as usize).find(|&i| matches!(nproofs[i].end, licence_map::ProofEnd::Empty));
        let other = (0..samples as usize).filter(|&i| matches!(nproofs[i].end, licence_map::ProofEnd::Other { .. })).take(10);
        cases.extend(empty.into_iter().chain(other).map(|i| wire(&format!("XX-{i}"), &nproofs[i])));
        let doc = serde_json::json!({ "map_root": hex::encode(map_root), "checkpoint": note, "proofs": cases });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        row("proofs written for the reference verifier", &path);
    }

    // (4) A token: a 4-decision chain whose head is proven against the big map.
    let signer = Signer::from_seed(&[3; 32]);
    let licence = "DE-2026-900001";
    let g = grant(BAFA, licence);
    let mut envelopes = vec![sign_decision(g.clone(), &signer)];
    for (v, action) in [(2, pb::Action::Amend), (3, pb::Action::Extend), (4, pb::Action::Revoke)] {
        let previous = StatementId::of(envelopes.last().unwrap()).0;
        envelopes.push(sign_decision(follow_up(&g, action, v, previous), &signer));
    }
    let changes = licence_map::changes_of(envelopes.iter().map(Vec::as_slice));
    version += 4;
    apply(&store, &mut cache, &origin, version, &changes);
    let map_root = licence_map::update(&store.log(&origin).map(version).unwrap(), &[]).unwrap().0;
    // The chain's receipts: a small log holding the four decisions (its checkpoint carries
    // the big map's root; the bundle check does not recompute a map from the log).
    let mut hashes = MemoryHashes::default();
    for e in &envelopes {
        hashes.append(&entry_leaf_hash(TIME, e));
    }
    let log_root = tree_root(4, &hashes).unwrap();
    let cp = log_key.sign_checkpoint(4, &log_root, &map_root, TIME).unwrap();
    let receipts: Vec<pb::Receipt> = envelopes
        .iter()
        .enumerate()
        .map(|(i, e)| pb::Receipt {
            origin: origin.clone(),
            index: i as u64,
            leaf_hash: entry_leaf_hash(TIME, e).to_vec().into(),
            checkpoint: cp.clone(),
            inclusion_proof: wire_proof(&prove_inclusion(4, i as u64, &hashes).unwrap()),
            logged_at: TIME,
        })
        .collect();
    let map_proof = licence_map::prove(&store.log(&origin).map(version).unwrap(), &licence_map::licence_key(BAFA, licence)).unwrap();
    let head = wire_head_proof(&origin, &cp, BAFA, licence, &map_proof);
    let token = pb::LicenceToken {
        format: comity_proto::token::TOKEN_FORMAT,
        authority: BAFA.into(),
        licence_id: licence.into(),
        statements: envelopes.clone(),
        receipts: receipts.clone(),
        head: Some(head.clone()),
        parent: None,
    };
    let with_head = token.encoded_len();
    let without_head = pb::LicenceToken { head: None, ..token.clone() }.encoded_len();
    row(
        &format!("token, 4-decision chain, head proof of {} siblings: with / without head", map_proof.siblings.len()),
        format!("{with_head} / {without_head} bytes (+{})", with_head - without_head),
    );
    // The same token with receipts as long as a 1M-entry log's (20 hashes each).
    let padded = pb::LicenceToken {
        receipts: receipts.iter().map(|r| pb::Receipt { inclusion_proof: wire_proof(&vec![[0x77; 32]; 20]), ..r.clone() }).collect(),
        ..token.clone()
    };
    let (pw, pwo) = (padded.encoded_len(), pb::LicenceToken { head: None, ..padded.clone() }.encoded_len());
    row(
        "same token, receipts with 20-hash inclusion proofs (a 1M-entry log): with / without head",
        format!("{pw} / {pwo} bytes (+{:.0}%)", 100.0 * (pw - pwo) as f64 / pwo as f64),
    );

    // Full bundle check (receipts, signatures, head proof) against a trust file.
    let trust = TrustFile {
        witnesses: vec![],
        witness_quorum: 0,
        screening_lists: vec![],
        authorities: vec![TrustedAuthority {
            id: BAFA.into(),
            keys: vec![hex::encode(signer.verifying_key().to_bytes())],
            logs: vec![log_key.verifier().to_string()],
            ..Default::default()
        }],
    };
    let statements: Vec<&[u8]> = envelopes.iter().map(Vec::as_slice).collect();
    let bundle = |head: Option<&pb::LicenceHeadProof>| {
        let b = Bundle { authority: BAFA, licence_id: licence, statements: &statements, receipts: &receipts, head, openings: &[], parent: None };
        check(&b, &trust, TIME + 86_400)
    };
    bundle(Some(&head)).unwrap();
    let rounds = 2000u64;
    let start = Instant::now();
    for _ in 0..rounds {
        bundle(Some(&head)).unwrap();
    }
    let full = start.elapsed();
    row("bundle::check of that token's bundle (4 receipts + 4 signatures + head proof)", per_op(full, rounds));
    let start = Instant::now();
    for _ in 0..rounds {
        let key = licence_map::licence_key(BAFA, licence);
        let proof = comity_proto::bundle::map_proof_of(&head).unwrap();
        let cp = log_key.verifier().verify_checkpoint(&head.checkpoint).unwrap();
        licence_map::verify(&cp.map_root, &key, &proof).unwrap().unwrap();
    }
    row("its head check alone (checkpoint signature + decode + map verify)", per_op(start.elapsed(), rounds));
}
