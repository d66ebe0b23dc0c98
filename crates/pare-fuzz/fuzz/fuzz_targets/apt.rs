//! cargo-fuzz target `apt`: `pare_fuzz::apt` on libFuzzer's inputs (see ../README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pare_fuzz::apt(data));
