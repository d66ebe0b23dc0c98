//! cargo-fuzz target `elf`: `pare_fuzz::elf` on libFuzzer's inputs (see ../README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pare_fuzz::elf(data));
