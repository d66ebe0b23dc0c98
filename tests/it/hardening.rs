//! Hostile inputs (issue 16): pare's view of an image must be the runtime's, and nothing it reads
//! may mislead a reader of its output. Each test here failed before its fix.

use std::fs;

use serde_json::Value;

use crate::support::{ok, pare, run, static_hello};

/// A build input named `.wh.NAME` would be a whiteout to every runtime (defect 5): refused, exit 2,
/// nothing written.
#[test]
fn build_inputs_named_like_whiteouts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, what) in [
        (".wh.etc", "\"etc\""),
        (".wh..wh..opq", "the directory's contents"),
    ] {
        let tree = dir.path().join(format!("tree-{}", name.len()));
        fs::create_dir_all(tree.join("app")).unwrap();
        fs::write(tree.join("app").join(name), "x").unwrap();
        let layout = dir.path().join(format!("out-{}", name.len()));
        let (code, _, stderr) = run(pare()
            .args(["build", "--copy"])
            .arg(format!("{}/:/", tree.display()))
            .args(["--output"])
            .arg(format!("oci:{}:x", layout.display())));
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(
            stderr.contains("whiteout") && stderr.contains(what),
            "{stderr}"
        );
        assert!(!layout.exists(), "nothing written for {name}");
    }
}

/// File names with terminal control sequences (defect 11) are shown escaped in human output and
/// kept exact in JSON.
#[test]
fn control_characters_in_names_are_escaped_in_human_output() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    let hostile = "evil\x1b]0;pwned\x07\x1b[2J.bin";
    fs::write(tree.join(hostile), vec![b'x'; 100_000]).unwrap();
    let layout = dir.path().join("out");
    let image = format!("oci:{}:x", layout.display());
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/hello:0755", static_hello().display()))
        .arg("--copy")
        .arg(format!("{}/:/data/", tree.display()))
        .args(["--entrypoint", "/hello", "--output", &image]));
    let (_, human, _) = run(pare().args(["audit", &image]));
    assert!(human.contains("/data/evil"), "{human}");
    assert!(
        !human.contains('\x1b') && !human.contains('\x07'),
        "raw escapes in: {human:?}"
    );
    assert!(
        human.contains("evil\\x1b]0;pwned\\x07\\x1b[2J.bin"),
        "{human}"
    );
    let (_, diff, _) = run(pare().args(["diff", &image, &image]));
    assert!(!diff.contains('\x1b'), "{diff:?}");
    let (_, json, _) = run(pare().args(["audit", "--format", "json", &image]));
    let report: Value = serde_json::from_str(&json).unwrap();
    let biggest = report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["largest_files"].as_array().unwrap().iter())
        .any(|f| f[0] == format!("/data/{hostile}"));
    assert!(biggest, "JSON keeps the exact name: {report}");
}

/// A one-layer OCI image in `layout` tagged `tag`, the layer `tar` stored uncompressed, running as
/// `user` with `/bin/sh` as its entrypoint.
fn hostile_image(layout: &std::path::Path, tag: &str, tar: &[u8], user: &str) -> String {
    use crate::support::{handmade_image, HandmadeLayer};
    let config = serde_json::json!({"User": user, "Entrypoint": ["/bin/sh"]});
    handmade_image(layout, tag, &[HandmadeLayer::tar(tar)], config);
    format!("oci:{}:{tag}", layout.display())
}

/// A tar entry: a ustar header for the raw name `name` (bytes), then the data padded.
fn entry(out: &mut Vec<u8>, name: &[u8], typeflag: u8, mode: u32, data: &[u8], link: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    let mut h = tar::Header::new_ustar();
    h.set_path(std::ffi::OsStr::from_bytes(name)).unwrap();
    if !link.is_empty() {
        h.set_link_name(std::ffi::OsStr::from_bytes(link)).unwrap();
    }
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_entry_type(tar::EntryType::new(typeflag));
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

use pare_fuzz::corpus::pax_record;

fn audit_json(image: &str) -> (i32, Value, String) {
    let (code, out, stderr) = run(pare().args(["audit", "--format", "json", image]));
    (
        code,
        serde_json::from_str(&out).unwrap_or(Value::Null),
        stderr,
    )
}

/// Defect 1: a PAX `comment` whose value holds a newline and a well-formed `path=` record. GNU tar
/// (and the runtimes, which read PAX by record length) see `bin/sh`; so must pare, and report it.
#[test]
fn a_pax_value_with_a_newline_does_not_hide_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let mut tar = Vec::new();
    entry(&mut tar, b"bin", b'5', 0o755, b"", b"");
    let mut pax = pax_record("comment", b"innocent\n22 path=harmless/file\n");
    pax.extend(pax_record("mtime", b"0"));
    entry(&mut tar, b"PaxHeaders.0/sh", b'x', 0o644, &pax, b"");
    entry(&mut tar, b"bin/sh", b'0', 0o755, b"#!/bin/sh\n", b"");
    tar.extend([0u8; 1024]);
    let file = dir.path().join("layer.tar");
    fs::write(&file, &tar).unwrap();
    // What GNU tar sees.
    let listing = ok(std::process::Command::new("tar").arg("-tf").arg(&file));
    assert!(listing.lines().any(|l| l == "bin/sh"), "GNU tar: {listing}");
    assert!(!listing.contains("harmless"), "GNU tar: {listing}");
    let image = hostile_image(&dir.path().join("img"), "pax", &tar, "0");
    let (code, report, stderr) = audit_json(&image);
    assert_eq!(code, 1, "{stderr}");
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "PARE-SHELL" && f["path"] == "/bin/sh"),
        "{findings:#?}"
    );
    assert!(findings.iter().any(|f| f["rule"] == "PARE-USER-ROOT"));
}

/// Defect 2: two names that differ only in invalid UTF-8 bytes stay two entries, and the setuid
/// one is reported (with the byte shown escaped).
#[test]
fn names_that_are_not_utf8_do_not_fold_into_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut tar = Vec::new();
    entry(&mut tar, b"bin", b'5', 0o755, b"", b"");
    entry(&mut tar, b"bin/su\xff", b'0', 0o4755, b"setuid", b"");
    entry(&mut tar, b"bin/su\xfe", b'0', 0o755, b"plain", b"");
    tar.extend([0u8; 1024]);
    let image = hostile_image(&dir.path().join("img"), "bytes", &tar, "65532");
    let (code, report, stderr) = audit_json(&image);
    assert_eq!(code, 1, "{stderr}");
    let setuid: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "PARE-SETUID")
        .collect();
    assert_eq!(setuid.len(), 1, "{report}");
    assert_eq!(setuid[0]["path"], "/bin/su\\xff");
}

/// Defects 3, 4 and 6: a NUL inside a PAX path, an unknown typeflag and a hard link out of the root
/// are refused (exit 2, named), never read as something harmless.
#[test]
fn what_the_runtimes_refuse_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "nul",
            {
                let mut tar = Vec::new();
                entry(
                    &mut tar,
                    b"p",
                    b'x',
                    0o644,
                    &pax_record("path", b"etc/passwd\0/../../harmless"),
                    b"",
                );
                entry(&mut tar, b"x", b'0', 0o644, b"root::0:0::/:/bin/sh\n", b"");
                tar.extend([0u8; 1024]);
                tar
            },
            "NUL",
        ),
        (
            "typeflag",
            {
                let mut tar = Vec::new();
                entry(
                    &mut tar,
                    b"bin/su",
                    b'Z',
                    0o4755,
                    b"-----BEGIN PRIVATE KEY-----",
                    b"",
                );
                tar.extend([0u8; 1024]);
                tar
            },
            "unknown type",
        ),
        (
            "hardlink",
            {
                let mut tar = Vec::new();
                entry(
                    &mut tar,
                    b"etc/shadow",
                    b'1',
                    0o644,
                    b"",
                    b"../../../etc/shadow",
                );
                tar.extend([0u8; 1024]);
                tar
            },
            "outside the image root",
        ),
        (
            "paxlink",
            {
                let mut tar = Vec::new();
                entry(
                    &mut tar,
                    b"p",
                    b'x',
                    0o644,
                    &pax_record("linkpath", b"a/../../../x"),
                    b"",
                );
                entry(&mut tar, b"l", b'1', 0o644, b"", b"");
                tar.extend([0u8; 1024]);
                tar
            },
            "outside the image root",
        ),
    ];
    for (tag, tar, expected) in cases {
        let image = hostile_image(&dir.path().join(format!("img-{tag}")), tag, &tar, "65532");
        let (code, _, stderr) = run(pare().args(["audit", &image]));
        assert_eq!(code, 2, "{tag}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{tag}: expected {expected:?} in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Defect 12: a file whose size only PAX can hold (the ustar size field 0) is read by its PAX size.
#[test]
fn the_pax_size_wins_over_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let data = vec![b'z'; 5000];
    let mut tar = Vec::new();
    entry(
        &mut tar,
        b"p",
        b'x',
        0o644,
        &pax_record("size", b"5000"),
        b"",
    );
    // The header says 0 bytes, as Python's tarfile and Go write files past 8 GiB.
    let mut h = tar::Header::new_ustar();
    h.set_path("data.bin").unwrap();
    h.set_size(0);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.extend_from_slice(&data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.extend([0u8; 1024]);
    let image = hostile_image(&dir.path().join("img"), "size", &tar, "65532");
    let (code, report, stderr) = audit_json(&image);
    assert!(code == 0 || code == 1, "{stderr}");
    assert_eq!(report["file_bytes"], 5000, "{report}");
}

/// `pare` under a time limit, for inputs that used to hang it.
fn pare_with_deadline(seconds: u32) -> std::process::Command {
    let mut cmd = std::process::Command::new("timeout");
    cmd.arg(seconds.to_string()).arg(env!("CARGO_BIN_EXE_pare"));
    cmd
}

/// Defects 13 and 14: a FIFO where a blob or index.json should be never hangs pare, and a
/// destination whose `blobs` is a symlink is refused before anything is written through it.
#[test]
fn fifos_and_symlinked_blob_directories_are_refused() {
    if !crate::support::require("mkfifo") || !crate::support::require("timeout") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output"])
        .arg(format!("oci:{}:x", src.display())));
    // A layer blob replaced by a FIFO.
    let fifo_src = dir.path().join("fifo-src");
    ok(std::process::Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(&fifo_src));
    let manifest: Value = {
        let index = crate::support::read_json(&fifo_src.join("index.json"));
        let digest = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        crate::support::read_json(&crate::support::blob(&fifo_src, &digest))
    };
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let blob = crate::support::blob(&fifo_src, layer);
    fs::remove_file(&blob).unwrap();
    ok(std::process::Command::new("mkfifo").arg(&blob));
    let (code, _, stderr) = run(pare_with_deadline(20)
        .arg("copy")
        .arg(format!("oci:{}:x", fifo_src.display()))
        .arg(format!("oci:{}:y", dir.path().join("out1").display())));
    assert_eq!(code, 2, "no hang (124 is the deadline): {stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    let (code, _, stderr) = run(pare_with_deadline(20)
        .args(["audit"])
        .arg(format!("oci:{}:x", fifo_src.display())));
    assert_eq!(code, 2, "{stderr}");
    // A destination whose index.json is a FIFO.
    let dest = dir.path().join("fifo-dest");
    fs::create_dir_all(dest.join("blobs/sha256")).unwrap();
    fs::write(
        dest.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    ok(std::process::Command::new("mkfifo").arg(dest.join("index.json")));
    let (code, _, stderr) = run(pare_with_deadline(20)
        .arg("copy")
        .arg(format!("oci:{}:x", src.display()))
        .arg(format!("oci:{}:y", dest.display())));
    assert_eq!(code, 2, "{stderr}");
    // A destination whose blobs directory is a symlink to somewhere else.
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir_all(elsewhere.join("sha256")).unwrap();
    let linked = dir.path().join("linked");
    fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(&elsewhere, linked.join("blobs")).unwrap();
    let (code, _, stderr) = run(pare()
        .arg("copy")
        .arg(format!("oci:{}:x", src.display()))
        .arg(format!("oci:{}:y", linked.display())));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("symlink"), "{stderr}");
    assert_eq!(
        fs::read_dir(elsewhere.join("sha256")).unwrap().count(),
        0,
        "nothing was written through the link"
    );
}

/// Defect 7: long looping symlink targets and a huge PATH cost bounded work (audit of a tiny image
/// finishes in seconds; it used to take minutes and gigabytes).
#[test]
fn symlink_resolution_has_a_work_budget() {
    if !crate::support::require("timeout") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // d -> d/d/d/.../d (about 4 KB, in a PAX linkpath): every component is the link again.
    let target = vec!["d"; 2000].join("/");
    let looping = |out: &mut Vec<u8>| {
        entry(
            out,
            b"PaxHeaders/d",
            b'x',
            0o644,
            &pax_record("linkpath", target.as_bytes()),
            b"",
        );
        entry(out, b"d", b'2', 0o777, b"", b"placeholder");
        out.extend([0u8; 1024]);
    };
    let mut tar = Vec::new();
    looping(&mut tar);
    let layout = dir.path().join("img");
    let image = hostile_image(&layout, "loop", &tar, "65532");
    let started = std::time::Instant::now();
    let (code, _, stderr) =
        run(pare_with_deadline(120).args(["audit", "--format", "json", &image]));
    assert!(code == 0 || code == 1, "{stderr}");
    assert!(
        started.elapsed().as_secs() < 60,
        "took {:?}",
        started.elapsed()
    );
    // A second image runs `app` through a PATH of 200,000 entries that all go through the loop.
    let mut long_path = Vec::new();
    looping(&mut long_path);
    // Distinct entries (a repeated one is searched once): /d/d/d0, /d/d/d1, ...
    let path_env = (0..200_000)
        .map(|i| format!("/d/d/d{i}"))
        .collect::<Vec<_>>()
        .join(":");
    let layout2 = dir.path().join("img2");
    let image2 = {
        let image = hostile_image(&layout2, "path", &long_path, "65532");
        // Give the config a PATH and a relative program.
        let index = crate::support::read_json(&layout2.join("index.json"));
        let digest = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let manifest_path = crate::support::blob(&layout2, &digest);
        let mut manifest = crate::support::read_json(&manifest_path);
        let config_digest = manifest["config"]["digest"].as_str().unwrap().to_string();
        let mut config = crate::support::read_json(&crate::support::blob(&layout2, &config_digest));
        config["config"]["Env"] = serde_json::json!([format!("PATH={path_env}")]);
        config["config"]["Entrypoint"] = serde_json::json!(["app"]);
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let new_config = crate::support::sha256_file(&config_bytes);
        fs::write(crate::support::blob(&layout2, &new_config), &config_bytes).unwrap();
        manifest["config"]["digest"] = Value::String(new_config);
        manifest["config"]["size"] = serde_json::json!(config_bytes.len());
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        let new_manifest = crate::support::sha256_file(&manifest_bytes);
        fs::write(
            crate::support::blob(&layout2, &new_manifest),
            &manifest_bytes,
        )
        .unwrap();
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": new_manifest,
            "size": manifest_bytes.len(), "annotations": {"org.opencontainers.image.ref.name": "path"}}]});
        fs::write(
            layout2.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
        image
    };
    let started = std::time::Instant::now();
    let (code, out, stderr) =
        run(pare_with_deadline(120).args(["audit", "--format", "json", &image2]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        started.elapsed().as_secs() < 60,
        "took {:?}",
        started.elapsed()
    );
    assert!(out.contains("does not exist in the image"), "{out}");
}

/// Defect 16: what a killed pare left (a half-written archive's temporary file, a staging layout
/// beside an archive, a staging layout in TMPDIR) is removed by the next pare that writes there; a
/// live staging layout (locked), one just created and not yet locked by its pare, and a fresh
/// temporary file are left alone.
#[test]
fn leftovers_of_killed_runs_are_cleaned_up() {
    if !crate::support::require("touch") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let tmp = dir.path().join("tmp");
    fs::create_dir_all(&out).unwrap();
    fs::create_dir_all(&tmp).unwrap();
    let old_temp = out.join(".pare-tmp-killed");
    fs::write(&old_temp, vec![0u8; 4096]).unwrap();
    ok(std::process::Command::new("touch")
        .args(["-d", "3 hours ago"])
        .arg(&old_temp));
    let fresh_temp = out.join(".pare-tmp-live");
    fs::write(&fresh_temp, b"being written").unwrap();
    let dead_build = out.join(".pare-build-dead");
    fs::create_dir_all(dead_build.join("blobs/sha256")).unwrap();
    let dead_staging = tmp.join("pare-staging-dead");
    fs::create_dir_all(dead_staging.join("blobs/sha256")).unwrap();
    ok(std::process::Command::new("touch")
        .args(["-d", "3 hours ago"])
        .arg(&dead_build)
        .arg(&dead_staging));
    let live_staging = tmp.join("pare-staging-live");
    fs::create_dir_all(&live_staging).unwrap();
    let held = fs::File::open(&live_staging).unwrap();
    held.lock().unwrap();
    let new_staging = tmp.join("pare-staging-new");
    fs::create_dir_all(&new_staging).unwrap();
    let archive = out.join("hello.tar");
    ok(pare()
        .env("TMPDIR", &tmp)
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output"])
        .arg(format!("docker-archive:{}:hello:1", archive.display())));
    assert!(
        !old_temp.exists(),
        "an hour-old temporary file is a dead write's"
    );
    assert!(
        fresh_temp.exists(),
        "a fresh one may be another pare's, still writing"
    );
    assert!(!dead_build.exists(), "an unlocked staging layout is dead");
    // Reading an archive stages in TMPDIR.
    ok(pare()
        .env("TMPDIR", &tmp)
        .args(["audit", "-q", "--format", "json"])
        .arg(format!("docker-archive:{}", archive.display())));
    assert!(
        !dead_staging.exists(),
        "a dead staging layout in TMPDIR is removed"
    );
    assert!(live_staging.exists(), "a locked one is another pare's");
    assert!(
        new_staging.exists(),
        "an unlocked one made a moment ago is another pare's, about to lock it"
    );
    // Slim's scratch trees (and build --bytecode's, made the same way) go as staging layouts go.
    let dead_slim = tmp.join("pare-slim-dead");
    fs::create_dir_all(dead_slim.join("rootfs/usr")).unwrap();
    ok(std::process::Command::new("touch")
        .args(["-d", "3 hours ago"])
        .arg(&dead_slim));
    let live_slim = tmp.join("pare-slim-live");
    fs::create_dir_all(&live_slim).unwrap();
    let held_slim = fs::File::open(&live_slim).unwrap();
    held_slim.lock().unwrap();
    ok(std::process::Command::new("touch")
        .args(["-d", "3 hours ago"])
        .arg(&live_slim));
    ok(pare()
        .env("TMPDIR", &tmp)
        .args(["slim", "-q"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("oci:{}:slim", out.join("slim").display())));
    assert!(
        !dead_slim.exists(),
        "a killed slim's scratch tree is removed"
    );
    assert!(live_slim.exists(), "a running slim's is kept");
    drop((held, held_slim));
}
