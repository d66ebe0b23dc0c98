//! cargo-fuzz target `dockerfile`: `pare_fuzz::dockerfile` on libFuzzer's inputs (see ../README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pare_fuzz::dockerfile(data));
