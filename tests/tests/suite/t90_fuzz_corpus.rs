//! Replays the fuzz corpus (`fuzz/corpus/TARGET/*`) through the same entry points the cargo-fuzz
//! targets call, so CI runs every input a fuzzer ever found worth keeping. The seed inputs must
//! reach deep: the token seed verifies to VALID.

use std::path::PathBuf;

use comity_proto::pb::Verdict;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus for {target}");
    files
}

#[test]
fn every_corpus_input_runs_without_panicking() {
    for (_, data) in corpus("envelope") {
        comity_proto::fuzzing::envelope(&data);
    }
    for (_, data) in corpus("checkpoint") {
        comity_proto::fuzzing::checkpoint(&data);
    }
    for (_, data) in corpus("proofs") {
        comity_proto::fuzzing::proofs(&data);
    }
    for (_, data) in corpus("token") {
        comity_client::token::fuzz(&data);
    }
}

#[test]
fn the_seed_corpus_is_current_and_reaches_the_verdict() {
    // The committed seeds are what `comity_proto::fuzzing::seed_corpus` writes.
    for (target, name, bytes) in comity_proto::fuzzing::seed_corpus() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target).join(&name);
        let stored = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(stored, bytes, "{target}/{name} is stale: cargo test -p comity-proto write_fuzz_corpus -- --ignored");
    }
    let (_, token) = corpus("token").into_iter().find(|(p, _)| p.ends_with("one-grant")).unwrap();
    assert_eq!(comity_client::token::fuzz(&token), Some(Verdict::Valid));
    // One flipped bit anywhere in the token: never VALID.
    for i in 0..token.len() {
        let mut t = token.clone();
        t[i] ^= 0x10;
        assert_ne!(comity_client::token::fuzz(&t), Some(Verdict::Valid), "byte {i} flipped still verifies");
    }
}
