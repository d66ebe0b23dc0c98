//! Fuzz targets over the parsers that read untrusted input: layer tars (plain, gzip, zstd), image
//! manifests, indexes and configs, ELF files, deb822 text (dpkg status, control fields, relations,
//! versions), apt's Release and Packages indexes and InRelease signatures, apk's database, and
//! Dockerfiles with `.dockerignore` globs. Each target takes arbitrary bytes and must return: an
//! error is fine, a panic, a hang or unbounded memory is a bug. The same functions are driven by
//! cargo-fuzz (`fuzz/`, coverage-guided, nightly) and by `tests/replay.rs` (stable: the committed
//! corpus and seeded mutations of it, in every test run). Not here: what the parsers mean, which
//! their own crates test. `corpus` builds the tricky tars the differential test against umoci uses.

pub mod corpus;
pub mod mutate;

use std::sync::OnceLock;

/// A fuzz target: arbitrary bytes in, nothing out.
pub type Target = fn(&[u8]);

/// Every target, by the name its cargo-fuzz binary and corpus directory have.
pub const TARGETS: &[(&str, Target)] = &[
    ("layer", layer),
    ("image_json", image_json),
    ("elf", elf),
    ("deb822", deb822),
    ("apt", apt),
    ("dockerfile", dockerfile),
];

/// A layout for the layer target's blobs, made once per process in the temporary directory.
fn scratch_layout() -> Option<&'static (tempfile::TempDir, pare_oci::layout::Layout)> {
    static LAYOUT: OnceLock<Option<(tempfile::TempDir, pare_oci::layout::Layout)>> =
        OnceLock::new();
    LAYOUT
        .get_or_init(|| {
            let dir = tempfile::Builder::new()
                .prefix("pare-fuzz-")
                .tempdir()
                .ok()?;
            let layout =
                pare_oci::layout::Layout::create_throwaway(&dir.path().join("oci")).ok()?;
            Some((dir, layout))
        })
        .as_ref()
}

/// A layer blob as `pare` reads every layer: compression sniffed, the tar walked by record
/// length, names checked, sizes bounded, digest and diff_id checked. Samples every file's first
/// bytes so that path is exercised too.
pub fn layer(data: &[u8]) {
    let Some((_, layout)) = scratch_layout() else {
        return;
    };
    let Ok(digest) = layout.write_blob(data) else {
        return;
    };
    let blob = pare_oci::read::LayerBlob {
        digest: &digest,
        size: data.len() as u64,
        diff_id: None,
        stored_verified: false,
        location: None,
    };
    // A small expansion allowance keeps a bomb's cost bounded, as the reader's own limit does.
    let limits = pare_oci::read::ReadLimits {
        max_ratio: 100,
        min_allowance: 16 << 20,
    };
    let sample = |_: &str, size: u64, _: u32| size.min(64) as usize;
    let _ = pare_oci::read::read_layer(layout, blob, limits, &sample, |_| Ok(()));
    if let Ok(path) = layout.blob_path(&digest) {
        let _ = std::fs::remove_file(path);
    }
}

/// A manifest or index document, an image config and an `index.json`, as image I/O parses them.
pub fn image_json(data: &[u8]) {
    let _ = pare_oci::manifest::parse_document(data, "fuzz");
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = serde_json::from_value::<oci_spec::image::ImageConfiguration>(value.clone());
        if let Ok(index) = serde_json::from_value::<oci_spec::image::ImageIndex>(value) {
            let want = pare_oci::image::Platform::host();
            let _ = pare_oci::manifest::choose_platform(&index, &want, "fuzz");
            for descriptor in index.manifests() {
                let _ = pare_oci::manifest::descriptor_platform(descriptor);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pare_oci::reference::ImageRef::parse(text);
        let _ = pare_oci::image::parse_rfc3339(text);
        let _ = pare_oci::image::Platform::parse(text);
    }
}

/// Every ELF parser: facts, the static prefix, Go build info, cargo-auditable data.
pub fn elf(data: &[u8]) {
    let _ = pare_elf::inspect(data);
    let _ = pare_elf::inspect_static_prefix(data);
    let _ = pare_elf::buildinfo::go_build_info(data);
    let _ = pare_elf::buildinfo::cargo_auditable(data);
    let _ = pare_elf::buildinfo::parse_auditable(data);
}

/// deb822 paragraphs, a dpkg status database, every field as a relation and every Version field
/// as a version (compared with the next), md5sums and list files, apk's installed database.
pub fn deb822(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(paragraphs) = pare_pkg::control::paragraphs(&text, "fuzz") {
        let mut versions = Vec::new();
        for paragraph in &paragraphs {
            for (name, value) in paragraph.fields() {
                let _ = pare_pkg::relation::parse_relations(value, "fuzz");
                if name.eq_ignore_ascii_case("version") {
                    if let Ok(v) = pare_pkg::version::Version::parse(value) {
                        versions.push(v);
                    }
                }
                let _ = pare_pkg::control::value_lines(value).count();
            }
        }
        versions.sort();
    }
    let _ = pare_pkg::dpkg_db::parse_records(&text, "fuzz");
    let _ = pare_pkg::dpkg_db::md5sums_paths(&text).count();
    let _ = pare_pkg::dpkg_db::list_paths(&text).count();
    let _ = pare_pkg::apk_db::parse_installed(&text);
}

/// An InRelease file (its cleartext signature checked against an empty keyring), a Release file
/// and a Packages index, as the apt client reads them.
pub fn apt(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ =
        pare_pkg::release::verify_inrelease(&text, &pare_pkg::release::Keyring::default(), "fuzz");
    let _ = pare_pkg::release::Release::parse(&text, "fuzz");
    let _ = pare_pkg::index::parse_packages(&text, 0, "amd64", "fuzz");
    let _ = pare_pkg::release::parse_rfc2822(&text);
}

/// A Dockerfile (parsed as BuildKit does, its stages and global ARGs), a shell line split into
/// words, and `.dockerignore` globs matched against a few paths.
pub fn dockerfile(data: &[u8]) {
    let parsed = pare_dockerfile::parse(data);
    let _ = pare_dockerfile::global_args(&parsed);
    let _ = pare_dockerfile::stages(&parsed).len();
    let text = String::from_utf8_lossy(data);
    let _ = pare_dockerfile::shell_split(&text);
    let ignore = pare_dockerfile::ignore::DockerIgnore::parse(&text);
    for path in ["app", "src/main.rs", ".git/config", "a/b/c/d"] {
        let _ = ignore.excludes(path);
    }
}
