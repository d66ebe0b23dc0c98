//! cargo-fuzz target `layer`: `pare_fuzz::layer` on libFuzzer's inputs (see ../README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pare_fuzz::layer(data));
