//! Fuzz target: every parser of pare-elf on arbitrary bytes must return, never panic or hang.
//! Run with `cargo +nightly fuzz run inspect crates/pare-elf/fuzz/corpus/inspect` from crates/pare-elf.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pare_elf::inspect(data);
    let _ = pare_elf::inspect_static_prefix(data);
    let _ = pare_elf::buildinfo::go_build_info(data);
    let _ = pare_elf::buildinfo::cargo_auditable(data);
    let _ = pare_elf::buildinfo::parse_auditable(data);
});
