//! `pare build` end to end through the CLI: what lands in the layout, reproducibility, bases, inputs,
//! guard rails and bad input. Peers are not needed here (see build_interop for those).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{blob, image_json, layer_entries, ok, pare, read_json, run, static_hello};

fn build_json(args: &[&str]) -> Value {
    let out = ok(pare().args(["build", "--format", "json"]).args(args));
    serde_json::from_str(&out).unwrap()
}

fn hello_args(out: &str) -> Vec<String> {
    vec![
        "--copy".into(),
        format!("{}:/hello", static_hello().display()),
        "--entrypoint".into(),
        "/hello".into(),
        "--output".into(),
        out.into(),
    ]
}

fn args_ref(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn builds_a_non_root_static_image_into_a_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = hello_args(&format!("oci:{}:latest", out.display()));
    let report = build_json(&args_ref(&args));
    assert_eq!(report["schema"], "pare.build/v1");
    assert_eq!(report["user"], "65532:65532");
    assert_eq!(report["layers"].as_array().unwrap().len(), 2);

    assert_eq!(
        read_json(&out.join("oci-layout"))["imageLayoutVersion"],
        "1.0.0"
    );
    let (manifest, config) = image_json(&out, "latest");
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let size = fs::metadata(blob(&out, layer["digest"].as_str().unwrap()))
            .unwrap()
            .len();
        assert_eq!(layer["size"].as_u64().unwrap(), size);
    }
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/hello"])
    );
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.iter().any(|e| e.starts_with("PATH=/usr/local/sbin:")),
        "{env:?}"
    );
    assert!(
        env.contains(&"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
        "{env:?}"
    );
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert_eq!(config["history"].as_array().unwrap().len(), 2);
    // Blobs are readable by everyone (other tools run as other users), no temp files remain.
    for entry in fs::read_dir(out.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(
            entry.metadata().unwrap().permissions().mode() & 0o777,
            0o644
        );
    }
    let leftovers: Vec<_> = fs::read_dir(out.join("blobs"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".pare-tmp")
        })
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn the_static_base_is_small_and_every_file_is_deliberate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = build_json(&["--output", &format!("oci:{}:base", out.display())]);
    let base = &report["layers"][0];
    let uncompressed = base["uncompressed_size"].as_u64().unwrap();
    assert!(
        uncompressed <= 300_000,
        "static base is {uncompressed} bytes uncompressed"
    );
    let (manifest, _) = image_json(&out, "base");
    let entries = layer_entries(&blob(
        &out,
        manifest["layers"][0]["digest"].as_str().unwrap(),
    ));
    let find = |p: &str| {
        entries
            .iter()
            .find(|e| e.path == p)
            .unwrap_or_else(|| panic!("{p} missing: {entries:#?}"))
    };
    assert_eq!(entries[0].path, "./");
    assert_eq!(
        find("./").mode,
        0o755,
        "a 0700 root breaks every non-root image"
    );
    assert_eq!(find("tmp/").mode, 0o1777);
    assert_eq!(find("tmp/").kind, tar::EntryType::Directory);
    let home = find("home/nonroot/");
    assert_eq!((home.mode, home.uid, home.gid), (0o700, 65532, 65532));
    let passwd = String::from_utf8(find("etc/passwd").data.clone()).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532:"));
    assert!(passwd.contains("nobody:x:65534:65534:"));
    assert!(
        passwd.lines().all(|l| l.ends_with("/sbin/nologin")),
        "no login shells: {passwd}"
    );
    assert!(String::from_utf8_lossy(&find("etc/os-release").data).contains("ID=pare"));
    assert!(find("etc/ssl/certs/ca-certificates.crt")
        .data
        .starts_with(b"-----BEGIN CERTIFICATE-----"));
    find("etc/nsswitch.conf");
    // Sorted, numeric owners, no names, fixed time.
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort_by_key(|p| p.trim_end_matches('/').to_string());
    assert_eq!(paths, sorted);
    assert!(entries.iter().all(|e| e.mtime == 0));
    // Nothing that is not deliberate: no shell, no package manager.
    assert!(!paths.iter().any(|p| p.contains("bin/")), "{paths:?}");
}

#[test]
fn same_inputs_give_the_same_bytes_whatever_the_mtimes_owners_or_walk_order() {
    let dir = tempfile::tempdir().unwrap();
    let make_tree = |root: &Path, reverse: bool, stamp: &str, owner: u32| {
        fs::create_dir_all(root.join("app/static")).unwrap();
        let mut files = vec![
            ("app/static/a.css", "body{}"),
            ("app/static/b.js", "1"),
            ("app/z.txt", "z"),
        ];
        if reverse {
            files.reverse();
        }
        for (path, text) in files {
            fs::write(root.join(path), text).unwrap();
        }
        fs::copy(static_hello(), root.join("app/hello")).unwrap();
        std::os::unix::fs::symlink("z.txt", root.join("app/link")).unwrap();
        fs::set_permissions(root.join("app/hello"), fs::Permissions::from_mode(0o755)).unwrap();
        ok(Command::new("touch")
            .args(["-h", "-d", stamp])
            .arg(root.join("app/z.txt")));
        ok(Command::new("find")
            .arg(root)
            .args(["-exec", "touch", "-h", "-d", stamp, "{}", "+"]));
        ok(Command::new("chown")
            .args(["-R", &format!("{owner}:{owner}")])
            .arg(root));
    };
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    make_tree(&one, false, "2001-02-03 04:05:06", 1000);
    make_tree(&two, true, "2020-12-31 23:59:59", 4242);
    let build = |src: &Path, out: &str| {
        build_json(&[
            "--copy",
            &format!("{}:/srv/", src.join("app").display()),
            "--entrypoint",
            "/srv/hello",
            "--output",
            &format!("oci:{}:v1", dir.path().join(out).display()),
        ])
    };
    let a = build(&one, "out-a");
    let b = build(&two, "out-b");
    assert_eq!(a["manifest_digest"], b["manifest_digest"]);
    let (ma, _) = image_json(&dir.path().join("out-a"), "v1");
    let (mb, _) = image_json(&dir.path().join("out-b"), "v1");
    assert_eq!(ma, mb);
    let digest = ma["layers"][1]["digest"].as_str().unwrap();
    assert_eq!(
        fs::read(blob(&dir.path().join("out-a"), digest)).unwrap(),
        fs::read(blob(&dir.path().join("out-b"), digest)).unwrap()
    );
    let entries = layer_entries(&blob(&dir.path().join("out-a"), digest));
    assert!(
        entries
            .iter()
            .all(|e| e.mtime == 0 && e.uid == 0 && e.gid == 0),
        "{entries:#?}"
    );
    let link = entries
        .iter()
        .find(|e| e.path == "srv/link")
        .expect("symlink kept");
    assert_eq!(
        (link.kind, link.link.as_deref()),
        (tar::EntryType::Symlink, Some("z.txt"))
    );

    // SOURCE_DATE_EPOCH is honoured and is the only timestamp.
    let out = ok(pare()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "--format", "json", "--copy"])
        .arg(format!("{}:/srv/", one.join("app").display()))
        .args(["--entrypoint", "/srv/hello", "--output"])
        .arg(format!("oci:{}:v1", dir.path().join("out-c").display())));
    let c: Value = serde_json::from_str(&out).unwrap();
    assert_ne!(c["manifest_digest"], a["manifest_digest"]);
    let (mc, cc) = image_json(&dir.path().join("out-c"), "v1");
    assert_eq!(cc["created"], "2023-11-14T22:13:20Z");
    let entries = layer_entries(&blob(
        &dir.path().join("out-c"),
        mc["layers"][1]["digest"].as_str().unwrap(),
    ));
    assert!(entries.iter().all(|e| e.mtime == 1_700_000_000));
}

#[test]
fn a_rebuild_reuses_stored_layers_and_other_tags_stay() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = build_json(&args_ref(&hello_args(&format!(
        "oci:{}:one",
        out.display()
    ))));
    assert!(first["layers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["reused"] == false));
    let second = build_json(&args_ref(&hello_args(&format!(
        "oci:{}:two",
        out.display()
    ))));
    assert!(
        second["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["reused"] == true),
        "{second}"
    );
    assert_eq!(first["manifest_digest"], second["manifest_digest"]);
    image_json(&out, "one");
    image_json(&out, "two");

    // A corrupt stored blob of the right size is not trusted: the layer is written again.
    let (manifest, _) = image_json(&out, "one");
    let digest = manifest["layers"][1]["digest"].as_str().unwrap();
    let path = blob(&out, digest);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let third = build_json(&args_ref(&hello_args(&format!(
        "oci:{}:three",
        out.display()
    ))));
    assert_eq!(third["layers"][1]["reused"], false);
    assert_eq!(third["manifest_digest"], first["manifest_digest"]);
    let repaired = fs::read(&path).unwrap();
    assert_eq!(crate::support::sha256_file(&repaired), digest);
}

#[test]
fn two_builds_into_one_layout_at_once_both_land() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spawn = |tag: &str| {
        pare()
            .args(["build", "-q", "--env", &format!("TAG={tag}")])
            .args(hello_args(&format!("oci:{}:{tag}", out.display())))
            .spawn()
            .unwrap()
    };
    let mut children: Vec<_> = ["a", "b", "c", "d"].iter().map(|t| spawn(t)).collect();
    for child in &mut children {
        assert!(child.wait().unwrap().success());
    }
    for tag in ["a", "b", "c", "d"] {
        let (_, config) = image_json(&out, tag);
        assert!(config["config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == &format!("TAG={tag}")));
    }
}

#[test]
fn tzdata_comes_only_when_asked_and_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = build_json(&["--tzdata", "--output", &format!("oci:{}:tz", out.display())]);
    assert_eq!(report["layers"].as_array().unwrap().len(), 2);
    let (manifest, _) = image_json(&out, "tz");
    let entries = layer_entries(&blob(
        &out,
        manifest["layers"][1]["digest"].as_str().unwrap(),
    ));
    assert!(entries.iter().any(|e| e.path == "usr/share/zoneinfo/UTC"));
    assert!(entries
        .iter()
        .any(|e| e.path == "usr/share/zoneinfo/Europe/Paris"));
    assert!(!entries
        .iter()
        .any(|e| e.path.starts_with("usr/share/zoneinfo/right/")
            || e.path.starts_with("usr/share/zoneinfo/posix/")));
    let base_only = build_json(&["--output", &format!("oci:{}:plain", out.display())]);
    assert_eq!(base_only["layers"].as_array().unwrap().len(), 1);
    assert_eq!(
        base_only["layers"][0]["digest"], report["layers"][0]["digest"],
        "the base layer is shared"
    );
}

#[test]
fn config_settings_reach_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut args = hello_args(&format!("oci:{}:cfg", out.display()));
    args.extend(
        [
            "--cmd",
            "--verbose",
            "--env",
            "A=1",
            "--env",
            "PATH=/bin",
            "--label",
            "team=core",
            "--annotation",
            "org.opencontainers.image.source=https://example.invalid/app",
            "--workdir",
            "/data",
            "--expose",
            "8080",
            "--expose",
            "53/udp",
            "--stop-signal",
            "SIGINT",
            "--user",
            "nobody",
            "--tag",
            "extra",
            "--compression",
            "zstd",
        ]
        .map(String::from),
    );
    build_json(&args_ref(&args));
    let (manifest, config) = image_json(&out, "cfg");
    image_json(&out, "extra");
    let c = &config["config"];
    assert_eq!(c["Cmd"], serde_json::json!(["--verbose"]));
    assert_eq!(c["User"], "65534:65534");
    assert_eq!(c["WorkingDir"], "/data");
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(c["Labels"]["team"], "core");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object() && c["ExposedPorts"]["53/udp"].is_object());
    assert!(c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "PATH=/bin"));
    assert!(c["Env"].as_array().unwrap().iter().any(|e| e == "A=1"));
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.source"],
        "https://example.invalid/app"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let workdir_layer = blob(&out, manifest["layers"][1]["digest"].as_str().unwrap());
    let bytes = fs::read(workdir_layer).unwrap();
    assert!(
        bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]),
        "zstd frame magic"
    );
}

#[test]
fn pare_toml_builds_the_same_image_as_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(static_hello(), dir.path().join("hello")).unwrap();
    fs::write(
        dir.path().join("pare.toml"),
        "[image]\nbase = \"static\"\nentrypoint = [\"/hello\"]\n\n[build]\noutput = \"oci:out:toml\"\n\n\
         [[copy]]\nsrc = \"hello\"\ndst = \"/hello\"\n",
    )
    .unwrap();
    // Run from elsewhere: paths in the file are relative to the file.
    let from_file = build_json(&["-f", dir.path().join("pare.toml").to_str().unwrap()]);
    assert!(dir.path().join("out/index.json").is_file());
    let flags = build_json(&[
        "--copy",
        &format!("{}:/hello", dir.path().join("hello").display()),
        "--entrypoint",
        "/hello",
        "--output",
        &format!("oci:{}:flags", dir.path().join("out2").display()),
    ]);
    assert_eq!(from_file["manifest_digest"], flags["manifest_digest"]);
}

#[test]
fn docker_and_oci_archives_are_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let docker = dir.path().join("app.tar");
    let report = build_json(&args_ref(&hello_args(&format!(
        "docker-archive:{}:team/app:1.0",
        docker.display()
    ))));
    assert_eq!(
        report["layers"][0]["media_type"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    let mut names = Vec::new();
    let mut manifest_json = None;
    let mut archive = tar::Archive::new(fs::File::open(&docker).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "manifest.json" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            manifest_json = Some(serde_json::from_str::<Value>(&text).unwrap());
        }
        names.push(name);
    }
    let manifest_json = manifest_json.expect("manifest.json");
    assert_eq!(
        manifest_json[0]["RepoTags"],
        serde_json::json!(["team/app:1.0"])
    );
    assert_eq!(manifest_json[0]["Layers"].as_array().unwrap().len(), 2);
    assert!(names.contains(&"oci-layout".to_string()) && names.contains(&"index.json".to_string()));
    let oci = dir.path().join("app-oci.tar");
    build_json(&args_ref(&hello_args(&format!(
        "oci-archive:{}",
        oci.display()
    ))));
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

#[test]
fn bad_input_is_exit_2_with_a_clear_message_and_no_layout_left() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let target = format!("oci:{}:x", out.display());
    let fifo = dir.path().join("pipe");
    ok(Command::new("mkfifo").arg(&fifo));
    let hello = static_hello().display().to_string();
    let broken_elf = dir.path().join("broken");
    fs::write(&broken_elf, b"\x7fELF\x02\x01\x01\x00garbage").unwrap();
    fs::set_permissions(&broken_elf, fs::Permissions::from_mode(0o755)).unwrap();
    let bad_toml = dir.path().join("bad.toml");
    fs::write(&bad_toml, "[image]\nentrypoint = /app\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--copy".into(),
                format!("{}/missing:/app", dir.path().display()),
            ],
            "cannot be read",
        ),
        (
            vec!["--copy".into(), format!("{hello}:../etc/x")],
            "not absolute",
        ),
        (
            vec!["--copy".into(), format!("{hello}:/a/../../etc/x")],
            "'..'",
        ),
        (
            vec!["--copy".into(), format!("{}:/p", fifo.display())],
            "FIFO",
        ),
        (vec!["--base".into(), "alpine".into()], "unknown base"),
        (
            vec!["-f".into(), bad_toml.display().to_string()],
            "not a valid pare.toml",
        ),
        (
            vec![
                "--copy".into(),
                format!("{hello}:/hello"),
                "--entrypoint".into(),
                "/nope".into(),
            ],
            "does not exist",
        ),
        (
            vec![
                "--copy".into(),
                format!("{hello}:/hello:0644"),
                "--entrypoint".into(),
                "/hello".into(),
            ],
            "not executable",
        ),
        (
            vec![
                "--no-closure".into(),
                "--copy".into(),
                "/bin/true:/app".into(),
                "--entrypoint".into(),
                "/app".into(),
            ],
            "dynamically linked",
        ),
        (
            vec![
                "--copy".into(),
                format!("{}:/app", needs_missing_library(dir.path()).display()),
                "--entrypoint".into(),
                "/app".into(),
            ],
            "libpare_gone.so (needed by /app)",
        ),
        (
            vec!["--user".into(), "alice".into()],
            "not in the image's /etc/passwd",
        ),
        (vec!["--expose".into(), "http".into()], "--expose"),
        (
            vec!["--compression".into(), "brotli".into()],
            "--compression",
        ),
    ];
    for (args, expected) in cases {
        let (code, stdout, stderr) =
            run(pare().arg("build").args(&args).args(["--output", &target]));
        assert_eq!(
            code, 2,
            "{args:?} should be bad input\nstdout: {stdout}\nstderr: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{args:?}: expected {expected:?} in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out.exists(), "{args:?} left a layout behind");
    }
    // Without the closure, the dynamic-binary refusal names the loader and the libraries.
    let (_, _, stderr) = run(pare()
        .args([
            "build",
            "--no-closure",
            "--copy",
            "/bin/true:/app",
            "--entrypoint",
            "/app",
            "--output",
        ])
        .arg(&target));
    assert!(
        stderr.contains("ld-linux") && stderr.contains("libc.so.6"),
        "{stderr}"
    );
    // An unknown transport and a push to a digest are usage errors too.
    for output in [
        "ftp:x".to_string(),
        format!("docker://127.0.0.1:5000/app@sha256:{}", "a".repeat(64)),
    ] {
        let (code, _, stderr) = run(pare().args(["build", "--output", &output]));
        assert_eq!(code, 2, "{stderr}");
    }
}

#[test]
fn root_user_is_allowed_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = hello_args(&format!("oci:{}:root", dir.path().join("out").display()));
    args.extend(["--user".to_string(), "0".to_string()]);
    let (code, _, stderr) = run(pare().arg("build").args(&args));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("runs as root"), "{stderr}");
}

#[test]
fn help_shows_a_real_example() {
    let out = ok(pare().args(["build", "--help"]));
    assert!(out.contains("pare build --base static --copy target/release/app:/app --entrypoint /app --output oci:out:latest"));
}

#[test]
fn a_killed_build_leaves_a_valid_layout_and_the_next_build_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let target = |tag: &str| format!("oci:{}:{tag}", out.display());
    let first = build_json(&args_ref(&hello_args(&target("one"))));
    // A big, incompressible input so the build is still writing when it is killed.
    let big = dir.path().join("big");
    ok(Command::new("head")
        .args(["-c", "200000000", "/dev/urandom"])
        .stdout(fs::File::create(&big).unwrap()));
    for delay_ms in [30u64, 120, 300] {
        let mut child = pare()
            .args(["build", "-q", "--copy"])
            .arg(format!("{}:/big", big.display()))
            .args(["--output", &target("two")])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let index = read_json(&out.join("index.json"));
        assert!(
            index["manifests"].is_array(),
            "index.json stays whole: {index}"
        );
        let (manifest, _) = image_json(&out, "one");
        for layer in manifest["layers"].as_array().unwrap() {
            assert!(blob(&out, layer["digest"].as_str().unwrap()).is_file());
        }
    }
    let again = build_json(&args_ref(&hello_args(&target("three"))));
    assert_eq!(again["manifest_digest"], first["manifest_digest"]);
    let leftovers: Vec<String> = fs::read_dir(out.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".pare-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "stale temporary files: {leftovers:?}");
}

/// A program linked against a shared library that is then deleted from the machine.
fn needs_missing_library(dir: &Path) -> std::path::PathBuf {
    let lib_dir = dir.join("gone");
    fs::create_dir_all(&lib_dir).unwrap();
    fs::write(
        lib_dir.join("gone.c"),
        "int pare_gone(void) { return 7; }\n",
    )
    .unwrap();
    fs::write(
        dir.join("uses.c"),
        "int pare_gone(void);\nint main(void) { return pare_gone(); }\n",
    )
    .unwrap();
    ok(Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(lib_dir.join("libpare_gone.so"))
        .arg(lib_dir.join("gone.c")));
    let program = dir.join("uses-gone");
    ok(Command::new("gcc")
        .arg("-o")
        .arg(&program)
        .arg(dir.join("uses.c"))
        .arg(format!("-L{}", lib_dir.display()))
        .arg("-lpare_gone"));
    fs::remove_file(lib_dir.join("libpare_gone.so")).unwrap();
    program
}
