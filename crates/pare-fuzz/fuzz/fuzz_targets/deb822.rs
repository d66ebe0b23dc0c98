//! cargo-fuzz target `deb822`: `pare_fuzz::deb822` on libFuzzer's inputs (see ../README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pare_fuzz::deb822(data));
