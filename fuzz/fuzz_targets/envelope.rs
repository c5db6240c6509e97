#![no_main]
//! `cargo +nightly fuzz run envelope fuzz/corpus/envelope` — see `comity_proto::fuzzing::envelope`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| comity_proto::fuzzing::envelope(data));
