#![no_main]
//! `cargo +nightly fuzz run checkpoint fuzz/corpus/checkpoint` — see `comity_proto::fuzzing::checkpoint`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| comity_proto::fuzzing::checkpoint(data));
