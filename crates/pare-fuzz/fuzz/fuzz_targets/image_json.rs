//! cargo-fuzz target `image_json`: `pare_fuzz::image_json` on libFuzzer's inputs (see ../README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pare_fuzz::image_json(data));
