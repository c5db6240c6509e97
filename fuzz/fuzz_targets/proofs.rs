#![no_main]
//! `cargo +nightly fuzz run proofs fuzz/corpus/proofs` — see `comity_proto::fuzzing::proofs`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| comity_proto::fuzzing::proofs(data));
