//! The fuzz targets on the stable toolchain, in every test run: each target gets its committed
//! inputs (`fuzz/seeds/<target>`, among them the tricky tars of `pare_fuzz::corpus`, and
//! `fuzz/corpus/<target>`, what coverage-guided runs kept), each input as is, then `PARE_FUZZ_MUTATIONS` seeded mutations
//! (default 20,000 per target) spread over the inputs in turn. A panic fails the test and names the target, the input and
//! the seed, so `PARE_FUZZ_SEED` replays it. Long coverage-guided runs are `cargo fuzz` (see
//! fuzz/README.md).

// The executions per target are reported on stderr, as test output.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};

use pare_fuzz::mutate::{mutate, Rng};

/// The committed inputs of `target`: its named seeds (`fuzz/seeds/<target>`) and what
/// coverage-guided runs kept (`fuzz/corpus/<target>`, named by hash).
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [
        root.join("seeds").join(target),
        root.join("corpus").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        files.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
    }
    files.sort();
    let inputs: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
        .collect();
    assert!(
        !inputs.is_empty(),
        "no seeds or corpus for {target} in {}",
        root.display()
    );
    inputs
}

fn number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn replay(target: &str) {
    let run = pare_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, run)| *run)
        .unwrap();
    let inputs = corpus(target);
    let mutations = number("PARE_FUZZ_MUTATIONS", 20_000);
    let base_seed = number("PARE_FUZZ_SEED", 0x5eed);
    for (_, input) in &inputs {
        run(input);
    }
    let mut executions = inputs.len() as u64;
    for m in 0..mutations {
        let index = (m % inputs.len() as u64) as usize;
        let (name, input) = &inputs[index];
        let other = &inputs[(index + 1) % inputs.len()].1;
        let seed = base_seed ^ m.rotate_left(17);
        let mutated = mutate(input, other, &mut Rng::new(seed));
        if std::panic::catch_unwind(|| run(&mutated)).is_err() {
            let kept = std::env::temp_dir().join(format!("pare-fuzz-crash-{target}-{seed}"));
            let _ = std::fs::write(&kept, &mutated);
            panic!(
                "fuzz target {target} panicked on a mutation of {name} (seed {seed:#x}, input \
                 kept in {})",
                kept.display()
            );
        }
        executions += 1;
    }
    eprintln!(
        "{target}: {executions} executions over {} inputs",
        inputs.len()
    );
}

#[test]
fn layer_reader_survives_its_corpus() {
    replay("layer");
}

#[test]
fn image_json_readers_survive_their_corpus() {
    replay("image_json");
}

#[test]
fn elf_parsers_survive_their_corpus() {
    replay("elf");
}

#[test]
fn deb822_parsers_survive_their_corpus() {
    replay("deb822");
}

#[test]
fn apt_index_parsers_survive_their_corpus() {
    replay("apt");
}

#[test]
fn dockerfile_parser_survives_its_corpus() {
    replay("dockerfile");
}

/// Writes the tricky tars (and a gzip of the plain one) into `fuzz/seeds/layer`:
/// `cargo test -p pare-fuzz --test replay -- --ignored write_layer_seeds`.
#[test]
#[ignore = "writes seed files into the source tree"]
fn write_layer_seeds() {
    use std::io::Write;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/layer");
    std::fs::create_dir_all(&dir).unwrap();
    for case in pare_fuzz::corpus::tricky_tars() {
        for (n, layer) in case.layers.iter().enumerate() {
            std::fs::write(dir.join(format!("{}-{n}.tar", case.name)), layer).unwrap();
            if case.name == "plain" {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(layer).unwrap();
                std::fs::write(dir.join("plain-0.tar.gz"), gz.finish().unwrap()).unwrap();
            }
        }
    }
}
