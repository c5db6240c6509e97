#![no_main]
//! `cargo +nightly fuzz run token fuzz/corpus/token` — see `comity_client::token::fuzz`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    comity_client::token::fuzz(data);
});
