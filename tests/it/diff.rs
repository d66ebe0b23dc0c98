//! `pare diff` and `pare gate` end to end: changes between pare-built images, whiteouts and opaque
//! directories written by umoci, the gate's verdicts and exit codes, and hostile or broken images.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{ok, pare, require, run, static_hello};

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(pare().args(args).args(["--format", "json"]))).unwrap()
}

/// Builds an image from a directory tree (copied to /srv) plus the static hello.
fn build(layout: &Path, tag: &str, tree: &Path, extra: &[&str]) {
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .arg("--copy")
        .arg(format!("{}:/srv/", tree.display()))
        .args(["--entrypoint", "/hello"])
        .args(extra)
        .arg("--output")
        .arg(format!("oci:{}:{tag}", layout.display())));
}

fn two_versions(dir: &Path) -> std::path::PathBuf {
    let layout = dir.join("images");
    let v1 = dir.join("v1");
    fs::create_dir_all(v1.join("data")).unwrap();
    fs::write(v1.join("app.conf"), "mode=a\n").unwrap();
    fs::write(v1.join("data/old.bin"), vec![7u8; 5000]).unwrap();
    fs::write(v1.join("same.txt"), "unchanged\n").unwrap();
    build(&layout, "v1", &v1, &["--env", "LEVEL=1"]);
    let v2 = dir.join("v2");
    fs::create_dir_all(v2.join("data")).unwrap();
    fs::write(v2.join("app.conf"), "mode=b, with more settings\n").unwrap();
    fs::write(v2.join("data/new.bin"), vec![9u8; 20000]).unwrap();
    fs::write(v2.join("same.txt"), "unchanged\n").unwrap();
    build(
        &layout,
        "v2",
        &v2,
        &["--env", "LEVEL=2", "--expose", "8080"],
    );
    layout
}

#[test]
fn diff_reports_files_sizes_layers_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let layout = two_versions(dir.path());
    let a = format!("oci:{}:v1", layout.display());
    let b = format!("oci:{}:v2", layout.display());
    let report = json(&["diff", &a, &b]);
    assert_eq!(report["schema"], "pare.diff/v1");
    let paths = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(paths("added"), ["/srv/data/new.bin"]);
    assert_eq!(paths("removed"), ["/srv/data/old.bin"]);
    assert_eq!(paths("changed"), ["/srv/app.conf"]);
    assert_eq!(report["changed"][0]["what"], serde_json::json!(["content"]));
    assert_eq!(report["changed"][0]["size"]["delta"], 20);
    assert_eq!(report["added"][0]["size"], 20000);
    assert_eq!(report["layers_shared"], 1, "the static base is shared");
    let fields: Vec<&str> = report["config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["Env", "ExposedPorts"]);
    // Env changes are also given variable by variable (issue 15: not two whole arrays).
    assert_eq!(
        report["config"][0]["variables"],
        serde_json::json!([{"name": "LEVEL", "a": "1", "b": "2"}])
    );
    let human = ok(pare().args(["diff", &a, &b]));
    assert!(
        human.contains("config Env LEVEL: \"1\" -> \"2\""),
        "{human}"
    );
    assert_eq!(report["file_bytes"]["delta"], 20000 - 5000 + 20);
    // The same image against itself: nothing.
    let same = json(&["diff", &a, &a]);
    assert!(
        same["added"].as_array().unwrap().is_empty()
            && same["changed"].as_array().unwrap().is_empty()
    );
    assert_eq!(same["compressed_size"]["delta"], 0);
    let markdown = ok(pare().args(["diff", "--format", "markdown", &a, &b]));
    assert!(
        markdown.contains("| added | `/srv/data/new.bin` |"),
        "{markdown}"
    );
    let text = ok(pare().args(["diff", &a, &b]));
    assert!(
        text.contains("+ ") && text.contains("/srv/data/new.bin"),
        "{text}"
    );
}

#[test]
fn whiteouts_and_opaque_directories_from_umoci_are_applied() {
    if !require("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = two_versions(dir.path());
    let image = |tag: &str| format!("{}:{tag}", layout.display());
    ok(Command::new("umoci").args([
        "insert",
        "--image",
        &image("v1"),
        "--tag",
        "wh",
        "--whiteout",
        "/srv/app.conf",
    ]));
    let replacement = dir.path().join("replacement");
    fs::create_dir_all(&replacement).unwrap();
    fs::write(replacement.join("fresh.txt"), "fresh\n").unwrap();
    ok(Command::new("umoci")
        .args([
            "insert",
            "--image",
            &image("wh"),
            "--tag",
            "opq",
            "--opaque",
        ])
        .arg(&replacement)
        .arg("/srv/data"));
    let report = json(&[
        "diff",
        &format!("oci:{}", image("v1")),
        &format!("oci:{}", image("opq")),
    ]);
    let removed: Vec<&str> = report["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(removed.contains(&"/srv/app.conf"), "{removed:?}");
    assert!(
        removed.contains(&"/srv/data/old.bin"),
        "the opaque directory hides it: {removed:?}"
    );
    let added: Vec<&str> = report["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["/srv/data/fresh.txt"]);
    assert_eq!(report["layers_added"].as_array().unwrap().len(), 2);
}

#[test]
fn gate_passes_fails_explains_and_updates() {
    let dir = tempfile::tempdir().unwrap();
    let layout = two_versions(dir.path());
    let a = format!("oci:{}:v1", layout.display());
    let b = format!("oci:{}:v2", layout.display());
    let baseline = dir.path().join("size-baseline.json");
    let base = baseline.to_str().unwrap();

    let (code, _, stderr) = run(pare().args(["gate", &a, "--baseline", base]));
    assert_eq!(code, 2, "a missing baseline is bad input: {stderr}");
    assert!(stderr.contains("--update-baseline"), "{stderr}");

    let updated = json(&["gate", &a, "--baseline", base, "--update-baseline"]);
    assert_eq!(updated["updated_baseline"], true);
    let stored: Value = serde_json::from_slice(&fs::read(&baseline).unwrap()).unwrap();
    assert_eq!(stored["schema"], "pare.baseline/v1");
    assert_eq!(stored["files"]["/srv/data/old.bin"], 5000);

    let same = json(&["gate", &a, "--baseline", base, "--max-growth", "0%"]);
    assert_eq!(same["passed"], true);

    let (code, stdout, _) = run(pare().args([
        "gate",
        &b,
        "--baseline",
        base,
        "--max-growth",
        "0.1%",
        "--by",
        "uncompressed",
    ]));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.starts_with("FAIL"), "{stdout}");
    let biggest = stdout.lines().find(|l| l.contains("/srv/")).unwrap();
    assert!(
        biggest.contains("/srv/data/new.bin"),
        "the biggest growth comes first: {stdout}"
    );

    let (code, out, _) = run(pare().args([
        "gate",
        &b,
        "--baseline",
        base,
        "--max-growth",
        "1MiB",
        "--format",
        "json",
    ]));
    assert_eq!(code, 0, "{out}");
    let loose: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(loose["passed"], true);
    assert!(loose["size"]["delta"].as_i64().unwrap() > 0);

    // Repetitive bytes compress to almost nothing: judged compressed, the same change is small.
    let vs_image = run(pare().args([
        "gate",
        &b,
        "--baseline-image",
        &a,
        "--max-growth",
        "0.1%",
        "--by",
        "uncompressed",
    ]));
    assert_eq!(vs_image.0, 1);
    let (code, _, stderr) = run(pare().args(["gate", &b, "--baseline", base, "--max-growth", "5"]));
    assert_eq!(code, 2, "{stderr}");
}

/// Writes a one-layer image by hand: `layer` is the blob as stored, `tar` the uncompressed stream.
fn handmade(layout: &Path, tag: &str, layer: &[u8], tar: &[u8], media_type: &str) -> String {
    let layers = [crate::support::HandmadeLayer {
        stored: layer,
        tar,
        media_type,
    }];
    crate::support::handmade_image(layout, tag, &layers, serde_json::json!({})).remove(0)
}

fn raw_tar(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    let bytes = name.as_bytes();
    header.as_gnu_mut().unwrap().name[..bytes.len()].copy_from_slice(bytes);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, data).unwrap();
    builder.into_inner().unwrap()
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn hostile_and_broken_images_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("bad");
    let gz = "application/vnd.oci.image.layer.v1.tar+gzip";
    let good_tar = raw_tar("etc/ok", b"fine");
    handmade(&layout, "good", &gzip(&good_tar), &good_tar, gz);
    let escape = raw_tar("../../escape", b"evil");
    handmade(&layout, "escape", &gzip(&escape), &escape, gz);
    // 400 MB of zeros: a few hundred KB stored.
    let mut bomb_gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..400 {
        bomb_gz.write_all(&zeros).unwrap();
    }
    let bomb = bomb_gz.finish().unwrap();
    handmade(&layout, "bomb", &bomb, b"not the real stream", gz);
    let big_tar = raw_tar("etc/big", &vec![42u8; 300_000]);
    let full = gzip(&big_tar);
    handmade(&layout, "truncated", &full[..full.len() / 2], &big_tar, gz);
    let missing_digest = handmade(
        &layout,
        "missing",
        &gzip(&raw_tar("etc/m", b"m")),
        &raw_tar("etc/m", b"m"),
        gz,
    );
    fs::remove_file(crate::support::blob(&layout, &missing_digest)).unwrap();
    let corrupt_digest = handmade(
        &layout,
        "corrupt",
        &gzip(&raw_tar("etc/c", b"c")),
        &raw_tar("etc/c", b"c"),
        gz,
    );
    let path = crate::support::blob(&layout, &corrupt_digest);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&path, bytes).unwrap();
    // An uncompressed layer whose file content (not its tar structure) was altered: the walk itself
    // succeeds, the digest check on the same pass catches it.
    let plain = raw_tar("etc/p", b"plain content");
    let plain_digest = handmade(
        &layout,
        "corrupt-plain",
        &plain,
        &plain,
        "application/vnd.oci.image.layer.v1.tar",
    );
    let path = crate::support::blob(&layout, &plain_digest);
    let mut bytes = fs::read(&path).unwrap();
    bytes[512] ^= 0x20;
    fs::write(&path, bytes).unwrap();
    let wrong_diff_id = raw_tar("etc/d", b"d");
    handmade(
        &layout,
        "diffid",
        &gzip(&wrong_diff_id),
        b"something else",
        gz,
    );

    let good = json(&[
        "diff",
        &format!("oci:{}:good", layout.display()),
        &format!("oci:{}:good", layout.display()),
    ]);
    assert_eq!(good["a_digest"], good["b_digest"]);
    for (tag, expected) in [
        ("escape", "outside the image root"),
        ("bomb", "decompression bomb"),
        ("truncated", "truncated"),
        ("missing", "missing"),
        ("corrupt", "corrupt"),
        ("corrupt-plain", "corrupt"),
        ("diffid", "diff_id"),
    ] {
        let reference = format!("oci:{}:{tag}", layout.display());
        let (code, _, stderr) = run(pare().args([
            "diff",
            &format!("oci:{}:good", layout.display()),
            &reference,
        ]));
        assert_eq!(code, 2, "{tag}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{tag}: expected {expected:?} in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!dir.path().join("escape").exists() && !Path::new("/escape").exists());
    // A manifest that points at a manifest: its layer is the good image's manifest (JSON, not a tar).
    // (A manifest naming its own digest cannot be made under sha256; this is the nearest loop.)
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let good_manifest = index["manifests"][0].clone();
    let good_bytes = fs::read(crate::support::blob(
        &layout,
        good_manifest["digest"].as_str().unwrap(),
    ))
    .unwrap();
    let good_json: Value = serde_json::from_slice(&good_bytes).unwrap();
    let looping = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": good_json["config"],
        "layers": [{"mediaType": gz, "digest": good_manifest["digest"], "size": good_manifest["size"]}],
    });
    let looping_bytes = serde_json::to_vec(&looping).unwrap();
    let looping_digest = format!("sha256:{}", hex_sha256(&looping_bytes));
    fs::write(
        crate::support::blob(&layout, &looping_digest),
        &looping_bytes,
    )
    .unwrap();
    let mut index = index;
    index["manifests"].as_array_mut().unwrap().push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": looping_digest,
        "size": looping_bytes.len(), "annotations": {"org.opencontainers.image.ref.name": "loop"}}));
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    for verb in ["diff", "audit"] {
        let mut cmd = pare();
        cmd.arg(verb);
        if verb == "diff" {
            cmd.arg(format!("oci:{}:good", layout.display()));
        }
        let (code, _, stderr) = run(cmd.arg(format!("oci:{}:loop", layout.display())));
        assert_eq!(code, 2, "{verb} loop: {stderr}");
        assert!(stderr.contains("layer"), "{verb} loop: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // Malformed JSON in the manifest.
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest_path = crate::support::blob(&layout, manifest_digest);
    fs::write(&manifest_path, b"{\"layers\": [").unwrap();
    let (code, _, stderr) = run(pare().args([
        "gate",
        &format!("oci:{}:good", layout.display()),
        "--baseline-image",
        &format!("oci:{}:good", layout.display()),
    ]));
    assert_eq!(code, 2, "{stderr}");
}

/// Flips one byte of `file` at the first place `marker` occurs.
fn flip_at_marker(file: &Path, marker: &[u8]) {
    let mut bytes = fs::read(file).unwrap();
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap_or_else(|| panic!("{marker:?} is not in {}", file.display()));
    bytes[at] ^= 0x01;
    fs::write(file, bytes).unwrap();
}

#[test]
fn archives_read_in_place_are_verified_as_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    let marker = b"IN-PLACE-MARKER-0123456789";
    let mut content = marker.to_vec();
    content.extend(std::iter::repeat_n(b'x', 300_000));
    fs::write(tree.join("payload.bin"), &content).unwrap();
    let layout = dir.path().join("images");
    build(&layout, "plain", &tree, &["--compression", "none"]);
    let source = format!("oci:{}:plain", layout.display());
    let expected = json(&["audit", &source]);
    let layers = |report: &Value| -> Vec<(u64, u64)> {
        report["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["uncompressed_size"].as_u64().unwrap(),
                    l["entries"].as_u64().unwrap(),
                )
            })
            .collect()
    };

    // pare's archives (OCI blobs) and skopeo's classic docker-archive (`<digest>.tar` members whose
    // digest pare takes from the diff_id) read the same as the layout.
    let mut archives = Vec::new();
    for kind in ["oci-archive", "docker-archive"] {
        let file = dir.path().join(format!("{kind}.tar"));
        ok(pare()
            .args(["copy", "-q", &source])
            .arg(format!("{kind}:{}", file.display())));
        archives.push((kind.to_string(), file));
    }
    if require("skopeo") {
        let file = dir.path().join("skopeo-docker.tar");
        ok(Command::new("skopeo").args([
            "copy",
            "-q",
            &format!("oci:{}:plain", layout.display()),
            &format!("docker-archive:{}:demo:plain", file.display()),
        ]));
        archives.push(("docker-archive".to_string(), file));
    }
    for (kind, file) in &archives {
        let reference = format!("{kind}:{}", file.display());
        let report = json(&["audit", &reference]);
        assert_eq!(layers(&report), layers(&expected), "{reference}");
        for field in ["uncompressed_size", "file_bytes", "waste_bytes"] {
            assert_eq!(report[field], expected[field], "{reference}: {field}");
        }

        // One bit changed inside the layer's file content: the tar walk succeeds, the hash does not.
        let corrupt = dir.path().join(format!(
            "corrupt-{}",
            file.file_name().unwrap().to_string_lossy()
        ));
        fs::copy(file, &corrupt).unwrap();
        flip_at_marker(&corrupt, marker);
        let (code, _, stderr) = run(pare()
            .args(["audit"])
            .arg(format!("{kind}:{}", corrupt.display())));
        assert_eq!(code, 2, "{reference}: {stderr}");
        assert!(
            stderr.contains("corrupt") || stderr.contains("diff_id"),
            "{reference}: {stderr}"
        );

        // Cut inside the layer: named as a truncated archive before any layer is read.
        let truncated = dir.path().join(format!(
            "cut-{}",
            file.file_name().unwrap().to_string_lossy()
        ));
        let bytes = fs::read(file).unwrap();
        let at = bytes
            .windows(marker.len())
            .position(|w| w == marker)
            .unwrap();
        fs::write(&truncated, &bytes[..at + 1000]).unwrap();
        let (code, _, stderr) = run(pare()
            .args(["audit"])
            .arg(format!("{kind}:{}", truncated.display())));
        assert_eq!(code, 2, "{reference}: {stderr}");
        assert!(stderr.contains("truncated"), "{reference}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
