//! `pare audit` end to end: no findings on pare's own images, every planted finding reported on an image
//! full of them, waste checked against a hand computation on layers umoci added, and exit codes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::Value;

use crate::support::{ok, pare, require, run, static_hello};

fn audit(reference: &str, extra: &[&str]) -> (i32, Value) {
    let (code, stdout, stderr) = run(pare()
        .args(["audit", "--format", "json", reference])
        .args(extra));
    assert!(code == 0 || code == 1, "audit failed: {stderr}");
    (
        code,
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")),
    )
}

fn rules(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn pare_images_have_no_findings_and_no_waste() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("out");
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--tzdata", "--output"])
        .arg(format!("oci:{}:static", layout.display())));
    let (code, report) = audit(&format!("oci:{}:static", layout.display()), &[]);
    assert_eq!(code, 0);
    assert_eq!(report["schema"], "pare.audit/v1");
    assert_eq!(
        report["findings"],
        serde_json::json!([]),
        "no false positives on a pare static image"
    );
    assert_eq!(report["waste_bytes"], 0);
    assert_eq!(report["os"], "pare static base 1");
    assert_eq!(report["layers"].as_array().unwrap().len(), 3);
    assert_eq!(
        report["layers"][0]["largest_files"][0][0],
        "/etc/ssl/certs/ca-certificates.crt"
    );
    let base: Vec<bool> = report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["base"].as_bool().unwrap())
        .collect();
    assert_eq!(
        base,
        [true, false, false],
        "pare's history marks its base layer"
    );
}

#[test]
fn planted_findings_are_all_reported_and_waste_is_counted_once() {
    if !require("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    for d in [
        "bin",
        "usr/bin",
        "usr/local/bin",
        "srv/shared",
        "srv/app/.git",
        "root/.docker",
    ] {
        fs::create_dir_all(tree.join(d)).unwrap();
    }
    fs::copy(static_hello(), tree.join("bin/sh")).unwrap();
    fs::write(tree.join("usr/bin/curl"), "not really curl\n").unwrap();
    fs::write(tree.join("usr/bin/apt-get"), "not really apt\n").unwrap();
    fs::write(tree.join("usr/bin/gcc"), "not really gcc\n").unwrap();
    fs::write(tree.join("usr/local/bin/helper"), "helper\n").unwrap();
    fs::set_permissions(
        tree.join("usr/local/bin/helper"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fs::set_permissions(tree.join("srv/shared"), fs::Permissions::from_mode(0o777)).unwrap();
    fs::write(tree.join("srv/app/.git/config"), "[core]\n").unwrap();
    fs::write(tree.join("srv/app/.env"), "DB_HOST=db\n").unwrap();
    fs::write(
        tree.join("srv/app/id_ed25519"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    fs::write(
        tree.join("srv/app/deploy.sh"),
        format!("export GH=ghp_{}\n", "Zz09".repeat(9)),
    )
    .unwrap();
    fs::write(
        tree.join("root/.docker/config.json"),
        r#"{"auths":{"registry.invalid":{"auth":"dTpw"}}}"#,
    )
    .unwrap();
    fs::write(tree.join("srv/big.bin"), vec![1u8; 30_000]).unwrap();
    fs::write(tree.join("srv/deleted.bin"), vec![2u8; 12_000]).unwrap();
    fs::write(tree.join("srv/mode.bin"), vec![3u8; 7_000]).unwrap();
    fs::write(tree.join("srv/copy-a.bin"), vec![4u8; 5_000]).unwrap();
    fs::write(tree.join("srv/copy-b.bin"), vec![4u8; 5_000]).unwrap();
    // Bytecode caches: one for a module that is shipped, one whose source is gone (residue).
    fs::create_dir_all(tree.join("srv/app/__pycache__")).unwrap();
    fs::write(tree.join("srv/app/kept.py"), "print('kept')\n").unwrap();
    fs::write(
        tree.join("srv/app/__pycache__/kept.cpython-311.pyc"),
        vec![6u8; 2_000],
    )
    .unwrap();
    fs::write(
        tree.join("srv/app/__pycache__/gone.cpython-311.pyc"),
        vec![5u8; 3_000],
    )
    .unwrap();
    let layout = dir.path().join("out");
    ok(pare()
        .args(["build", "-q", "--base", "static", "--copy"])
        .arg(format!("{}:/", tree.display()))
        .args(["--copy"])
        .arg(format!(
            "{}:/usr/local/bin/helper:4755",
            tree.join("usr/local/bin/helper").display()
        ))
        .args([
            "--user",
            "0",
            "--env",
            "API_TOKEN=abc123",
            "--entrypoint",
            "/bin/sh",
            "--output",
        ])
        .arg(format!("oci:{}:fat", layout.display())));
    // Layers nobody here wrote: an overwrite, a deletion and a chmod-only rewrite, by umoci.
    let image = |tag: &str| format!("{}:{tag}", layout.display());
    let newer = dir.path().join("big.bin");
    fs::write(&newer, vec![5u8; 31_000]).unwrap();
    ok(Command::new("umoci")
        .args(["insert", "--image", &image("fat"), "--tag", "t1"])
        .arg(&newer)
        .arg("/srv/big.bin"));
    ok(Command::new("umoci").args([
        "insert",
        "--image",
        &image("t1"),
        "--tag",
        "t2",
        "--whiteout",
        "/srv/deleted.bin",
    ]));
    let same = dir.path().join("mode.bin");
    fs::write(&same, vec![3u8; 7_000]).unwrap();
    fs::set_permissions(&same, fs::Permissions::from_mode(0o600)).unwrap();
    ok(Command::new("umoci")
        .args(["insert", "--image", &image("t2"), "--tag", "planted"])
        .arg(&same)
        .arg("/srv/mode.bin"));

    let (code, report) = audit(&format!("oci:{}", image("planted")), &[]);
    assert_eq!(
        code, 1,
        "high and critical findings fail the default --fail-on high"
    );
    let found = rules(&report);
    let has = |rule: &str, path: &str| found.iter().any(|(r, p)| r == rule && p == path);
    for (rule, path) in [
        ("PARE-SHELL", "/bin/sh"),
        ("PARE-NETWORK-TOOL", "/usr/bin/curl"),
        ("PARE-PACKAGE-MANAGER", "/usr/bin/apt-get"),
        ("PARE-BUILD-TOOL", "/usr/bin/gcc"),
        ("PARE-SETUID", "/usr/local/bin/helper"),
        ("PARE-WORLD-WRITABLE", "/srv/shared"),
        ("PARE-GIT-DIR", "/srv/app/.git"),
        ("PARE-SECRET-DOTENV", "/srv/app/.env"),
        ("PARE-SECRET-PRIVATE-KEY", "/srv/app/id_ed25519"),
        ("PARE-SECRET-TOKEN", "/srv/app/deploy.sh"),
        ("PARE-SECRET-DOCKER-AUTH", "/root/.docker/config.json"),
        ("PARE-USER-ROOT", ""),
        ("PARE-SECRET-ENV", ""),
    ] {
        assert!(has(rule, path), "{rule} {path} missing from {found:#?}");
    }
    // curl without a CA bundle would be flagged; this image has the static base's bundle.
    assert!(
        !found.iter().any(|(r, _)| r == "PARE-NO-CA-BUNDLE"),
        "{found:#?}"
    );
    // Waste by hand: the first big.bin (30,000, overwritten), deleted.bin (12,000), the first mode.bin
    // (7,000, re-shipped for a chmod), one of the two identical copies (5,000).
    assert_eq!(report["waste_by_kind"]["overwritten"], 30_000);
    assert_eq!(report["waste_by_kind"]["deleted"], 12_000);
    assert_eq!(report["waste_by_kind"]["metadata-only"], 7_000);
    assert_eq!(report["waste_by_kind"]["duplicate"], 5_000);
    assert_eq!(report["waste_by_kind"]["package-residue"], 3_000);
    assert_eq!(
        report["waste_bytes"],
        30_000 + 12_000 + 7_000 + 5_000 + 3_000
    );
    // Named as the base, the image umoci started from marks the bottom layers.
    let (_, based) = audit(
        &format!("oci:{}", image("planted")),
        &["--base-image", &format!("oci:{}", image("fat"))],
    );
    let base: Vec<bool> = based["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["base"].as_bool().unwrap())
        .collect();
    assert_eq!(base, [true, true, false, false, false]);
    // A waste limit in a policy turns the 57,000 wasted bytes into a finding.
    let policy = dir.path().join("waste.toml");
    fs::write(&policy, "[waste]\nmax_bytes = 50000\n").unwrap();
    let (_, limited) = audit(
        &format!("oci:{}", image("planted")),
        &["--policy", policy.to_str().unwrap()],
    );
    assert!(
        rules(&limited).iter().any(|(r, _)| r == "PARE-WASTE"),
        "{limited}"
    );
    // Only critical findings fail with --fail-on critical; still failing (secrets are critical).
    let (code, _) = audit(
        &format!("oci:{}", image("planted")),
        &["--fail-on", "critical"],
    );
    assert_eq!(code, 1);
    // dive on the same image (as a docker-archive): per-layer sizes agree; its waste figure counts the
    // kept copy of every rewritten file too (31,000 + 7,000) and ignores identical content at other paths.
    if require("dive") {
        let archive = dir.path().join("planted.tar");
        ok(pare()
            .args(["copy", "-q", &format!("oci:{}", image("planted"))])
            .arg(format!("docker-archive:{}:planted/x:1", archive.display())));
        let (dive, theirs) = crate::support::dive_report(&archive);
        let ours: Vec<u64> = report["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["file_bytes"].as_u64().unwrap())
            .collect();
        assert_eq!(ours, theirs, "per-layer file bytes, pare vs dive");
        let kept_copies_of_rewritten = 31_000 + 7_000;
        assert_eq!(
            dive["image"]["inefficientBytes"].as_u64().unwrap(),
            30_000 + 12_000 + 7_000 + kept_copies_of_rewritten
        );
    }
    let (code, text, _) = run(pare()
        .args(["audit"])
        .arg(format!("oci:{}", image("planted"))));
    assert_eq!(code, 1);
    assert!(
        text.contains("PARE-SECRET-PRIVATE-KEY") && text.contains("FAIL"),
        "{text}"
    );
}

#[test]
fn images_that_will_not_start_are_reported() {
    if !require("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("out");
    // A dynamic binary without its libraries: built without an entrypoint (so no guard rail runs),
    // then given one by umoci.
    ok(pare()
        .args([
            "build",
            "-q",
            "--no-closure",
            "--copy",
            "/bin/true:/app",
            "--output",
        ])
        .arg(format!("oci:{}:nolibs", layout.display())));
    let image = |tag: &str| format!("{}:{tag}", layout.display());
    ok(Command::new("umoci").args([
        "config",
        "--image",
        &image("nolibs"),
        "--tag",
        "broken",
        "--config.entrypoint",
        "/app",
    ]));
    let (code, report) = audit(
        &format!("oci:{}", image("broken")),
        &["--fail-on", "critical"],
    );
    assert_eq!(code, 1);
    let reasons: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("needs the loader /lib64/ld-linux-x86-64.so.2")),
        "{reasons:#?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("needs libc.so.6")),
        "{reasons:#?}"
    );
    // The program deleted by a later layer.
    ok(Command::new("umoci").args([
        "insert",
        "--image",
        &image("broken"),
        "--tag",
        "gone",
        "--whiteout",
        "/app",
    ]));
    let (_, report) = audit(&format!("oci:{}", image("gone")), &[]);
    let reasons: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("/app does not exist")),
        "{reasons:#?}"
    );
    // Libraries are followed transitively: /app needs libA.so (shipped), which needs libB.so (not).
    let libs = dir.path().join("libs");
    fs::create_dir_all(&libs).unwrap();
    fs::write(libs.join("b.c"), "int b(void) { return 2; }\n").unwrap();
    fs::write(
        libs.join("a.c"),
        "int b(void);\nint a(void) { return b(); }\n",
    )
    .unwrap();
    fs::write(
        libs.join("m.c"),
        "int a(void);\nint main(void) { return a(); }\n",
    )
    .unwrap();
    let gcc = |args: &[&str]| ok(Command::new("gcc").current_dir(&libs).args(args));
    gcc(&["-shared", "-fPIC", "-o", "libB.so", "b.c"]);
    gcc(&["-shared", "-fPIC", "-o", "libA.so", "a.c", "-L.", "-lB"]);
    gcc(&["-o", "m", "m.c", "-L.", "-lA", "-Wl,-rpath-link,."]);
    ok(pare()
        .args(["build", "-q", "--no-closure", "--copy"])
        .arg(format!("{}:/app", libs.join("m").display()))
        .arg("--copy")
        .arg(format!(
            "{}:/usr/lib/libA.so",
            libs.join("libA.so").display()
        ))
        .arg("--output")
        .arg(format!("oci:{}:transitive", layout.display())));
    ok(Command::new("umoci").args([
        "config",
        "--image",
        &image("transitive"),
        "--tag",
        "transitive-app",
        "--config.entrypoint",
        "/app",
    ]));
    let (_, report) = audit(&format!("oci:{}", image("transitive-app")), &[]);
    let reasons: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("needs libB.so (via libA.so)")),
        "{reasons:#?}"
    );
    assert!(
        !reasons.iter().any(|r| r.contains("needs libA.so,")),
        "libA.so is there: {reasons:#?}"
    );
    // A library outside the default directories is found through the image's ld.so.cache, as the
    // loader finds it; the cache is written by the host's ldconfig for that root.
    let root = dir.path().join("cacheroot");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("opt/vendor/lib")).unwrap();
    fs::copy(libs.join("libB.so"), root.join("opt/vendor/lib/libB.so")).unwrap();
    fs::write(root.join("etc/ld.so.conf"), "/opt/vendor/lib\n").unwrap();
    ok(Command::new("ldconfig").arg("-r").arg(&root));
    let with_cache = |tag: &str, cache: bool| {
        let mut cmd = pare();
        cmd.args(["build", "-q", "--no-closure", "--copy"])
            .arg(format!("{}:/app", libs.join("m").display()))
            .arg("--copy")
            .arg(format!(
                "{}:/usr/lib/libA.so",
                libs.join("libA.so").display()
            ))
            .arg("--copy")
            .arg(format!(
                "{}:/opt/vendor/lib/libB.so",
                libs.join("libB.so").display()
            ));
        if cache {
            cmd.arg("--copy").arg(format!(
                "{}:/etc/ld.so.cache",
                root.join("etc/ld.so.cache").display()
            ));
        }
        ok(cmd
            .arg("--output")
            .arg(format!("oci:{}:{tag}-base", layout.display())));
        ok(Command::new("umoci").args([
            "config",
            "--image",
            &image(&format!("{tag}-base")),
            "--tag",
            tag,
            "--config.entrypoint",
            "/app",
        ]));
        let (_, report) = audit(&format!("oci:{}", image(tag)), &[]);
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["reason"].as_str().unwrap().to_string())
            .filter(|r| r.contains("libB.so"))
            .collect::<Vec<String>>()
    };
    let without = with_cache("vendor-nocache", false);
    assert!(
        without
            .iter()
            .any(|r| r.contains("needs libB.so (via libA.so)")),
        "{without:#?}"
    );
    let with = with_cache("vendor-cache", true);
    assert!(with.is_empty(), "the ld.so.cache names libB.so: {with:#?}");
    // With the closure, the same binary is fine.
    ok(pare()
        .args([
            "build",
            "-q",
            "--copy",
            "/bin/true:/app",
            "--entrypoint",
            "/app",
            "--output",
        ])
        .arg(format!("oci:{}:closure", layout.display())));
    let (code, report) = audit(&format!("oci:{}", image("closure")), &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["findings"], serde_json::json!([]));
}

/// A real Debian minbase rootfs (debootstrap, from the host's own mirror), packed by umoci, with a layer
/// deleting the apt lists, a layer re-shipping a binary with another mode, and a planted token.
#[test]
fn a_debootstrap_image_with_planted_layers() {
    if !require("umoci") || !require("syft") {
        return;
    }
    let Some(rootfs) = crate::support::debootstrap_minbase() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("oci");
    let image = |tag: &str| format!("{}:{tag}", layout.display());
    ok(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    ok(Command::new("umoci").args(["new", "--image", &image("base")]));
    ok(Command::new("umoci")
        .args(["insert", "--image", &image("base")])
        .arg(rootfs)
        .arg("/"));
    // Hand computation of what the planted layers waste.
    let deleted_bytes: u64 = walk_file_bytes(&rootfs.join("var/lib/apt/lists"))
        + walk_file_bytes(&rootfs.join("usr/share/doc"));
    let ls = rootfs.join("usr/bin/ls");
    let ls_bytes = fs::metadata(&ls).unwrap().len();
    ok(Command::new("umoci").args([
        "insert",
        "--image",
        &image("base"),
        "--tag",
        "l1",
        "--whiteout",
        "/var/lib/apt/lists",
    ]));
    ok(Command::new("umoci").args([
        "insert",
        "--image",
        &image("l1"),
        "--whiteout",
        "/usr/share/doc",
    ]));
    let ls_copy = dir.path().join("ls");
    fs::copy(&ls, &ls_copy).unwrap();
    fs::set_permissions(&ls_copy, fs::Permissions::from_mode(0o700)).unwrap();
    ok(Command::new("umoci")
        .args(["insert", "--image", &image("l1"), "--tag", "l2"])
        .arg(&ls_copy)
        .arg("/usr/bin/ls"));
    let npmrc = dir.path().join("npmrc");
    fs::write(
        &npmrc,
        format!("//registry.invalid/:_authToken=npm_{}\n", "Ab1".repeat(12)),
    )
    .unwrap();
    ok(Command::new("umoci")
        .args(["insert", "--image", &image("l2"), "--tag", "planted"])
        .arg(&npmrc)
        .arg("/root/.npmrc"));

    let (code, report) = audit(&format!("oci:{}", image("planted")), &[]);
    assert_eq!(code, 1);
    let found = rules(&report);
    for (rule, path) in [
        ("PARE-SHELL", "/usr/bin/sh"),
        ("PARE-SHELL", "/usr/bin/bash"),
        ("PARE-PACKAGE-MANAGER", "/usr/bin/apt-get"),
        ("PARE-PACKAGE-MANAGER", "/usr/bin/dpkg"),
        ("PARE-SECRET-TOKEN", "/root/.npmrc"),
        ("PARE-USER-ROOT", ""),
    ] {
        assert!(
            found.iter().any(|(r, p)| r == rule && p == path),
            "{rule} {path} missing: {found:#?}"
        );
    }
    assert!(
        report["os"]
            .as_str()
            .unwrap()
            .starts_with("Debian GNU/Linux"),
        "{}",
        report["os"]
    );
    assert_eq!(
        report["waste_by_kind"]["metadata-only"], ls_bytes,
        "the chmod layer re-ships ls"
    );
    assert!(
        deleted_bytes > 100_000,
        "minbase ships docs: {deleted_bytes}"
    );
    assert_eq!(
        report["waste_by_kind"]["deleted"], deleted_bytes,
        "the deleted apt lists and docs"
    );

    // The dpkg package list agrees with syft's.
    let ours: std::collections::BTreeSet<(String, String)> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(ours.len() > 50, "{} packages", ours.len());
    // syft reads a layout with one image: copy the planted one out.
    let single = dir.path().join("single");
    ok(pare()
        .args(["copy", "-q", &format!("oci:{}", image("planted"))])
        .arg(format!("oci:{}:planted", single.display())));
    let theirs = crate::support::syft_deb_versions(&single);
    assert_eq!(
        ours,
        theirs,
        "pare vs syft: only pare {:?}, only syft {:?}",
        ours.difference(&theirs).collect::<Vec<_>>(),
        theirs.difference(&ours).collect::<Vec<_>>()
    );
    let dpkg = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "dpkg")
        .unwrap();
    assert!(dpkg["file_bytes"].as_u64().unwrap() > 100_000, "{dpkg}");

    // The debootstrap image is a base too: a zlib program on it needs none of the host's libraries.
    if !require("gcc") || !require("runc") {
        return;
    }
    fs::write(
        dir.path().join("zv.c"),
        "#include <stdio.h>\n#include <unistd.h>\n#include <zlib.h>\n\
         int main(void) { printf(\"zlib %s uid %d\\n\", zlibVersion(), (int)getuid()); return 0; }\n",
    )
    .unwrap();
    ok(Command::new("gcc")
        .current_dir(dir.path())
        .args(["-o", "zv", "zv.c", "-lz"]));
    let built = dir.path().join("on-debian");
    let report: Value = serde_json::from_str(&ok(pare()
        .args(["build", "--format", "json", "--base"])
        .arg(format!("oci:{}", image("base")))
        .arg("--copy")
        .arg(format!("{}:/app/zv:0755", dir.path().join("zv").display()))
        .args(["--entrypoint", "/app/zv", "--output"])
        .arg(format!("oci:{}:app", built.display()))))
    .unwrap();
    let added = crate::support::added_libraries(&report);
    assert!(
        !added.iter().any(|p| p.contains(".so")),
        "Debian's libc and zlib are in the base: {added:?}"
    );
    assert_eq!(report["user"], "65532:65532");
    let bundle = crate::support::unpack(&built, "app", dir.path());
    let (code, out, err) = crate::support::runc_run(&bundle, dir.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("uid 65532"), "{out}");
}

fn walk_file_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let meta = e.path().symlink_metadata().unwrap();
            if meta.is_dir() {
                walk_file_bytes(&e.path())
            } else if meta.is_file() {
                meta.len()
            } else {
                0
            }
        })
        .sum()
}

#[test]
fn policies_regrade_and_silence_rules_and_sarif_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("out");
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/bin/sh", static_hello().display()))
        .args(["--entrypoint", "/bin/sh", "--output"])
        .arg(format!("oci:{}:shell", layout.display())));
    let image = format!("oci:{}:shell", layout.display());
    let (code, report) = audit(&image, &[]);
    assert_eq!(
        code, 0,
        "a medium finding passes the default --fail-on high: {report}"
    );
    assert_eq!(
        rules(&report),
        [("PARE-SHELL".to_string(), "/bin/sh".to_string())]
    );
    assert_eq!(audit(&image, &["--fail-on", "medium"]).0, 1);

    let policy = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let off = policy(
        "off.toml",
        "fail_on = \"medium\"\n[rules]\nPARE-SHELL = \"off\"\n",
    );
    let (code, report) = audit(&image, &["--policy", &off]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["findings"], serde_json::json!([]));
    assert_eq!(report["fail_on"], "medium");
    let critical = policy("critical.toml", "[rules]\nPARE-SHELL = \"critical\"\n");
    let (code, report) = audit(&image, &["--policy", &critical]);
    assert_eq!(
        (code, report["findings"][0]["severity"].as_str()),
        (1, Some("critical"))
    );
    let waste = policy(
        "waste.toml",
        "[rules]\nPARE-SHELL = \"off\"\n[waste]\nmax_bytes = 0\n",
    );
    let (code, report) = audit(&image, &["--policy", &waste]);
    assert_eq!(code, 0, "no waste, no finding: {report}");
    // Per-rule allow lists by path, and size limits.
    let allow = policy(
        "allow.toml",
        "fail_on = \"medium\"\n[allow]\nPARE-SHELL = [\"/bin/*\"]\n",
    );
    let (code, report) = audit(&image, &["--policy", &allow]);
    assert_eq!(
        (code, report["findings"].clone()),
        (0, serde_json::json!([])),
        "{report}"
    );
    let other = policy(
        "other.toml",
        "fail_on = \"medium\"\n[allow]\nPARE-SHELL = [\"/busybox/*\"]\n",
    );
    assert_eq!(
        audit(&image, &["--policy", &other]).0,
        1,
        "the allow list covers only its paths"
    );
    let compressed = audit(&image, &[]).1["compressed_size"].as_u64().unwrap();
    let size = policy(
        "size.toml",
        &format!(
            "[rules]\nPARE-SHELL = \"off\"\n[size]\nmax_compressed_bytes = {}\nmax_layer_bytes = 1000\n",
            compressed - 1
        ),
    );
    let (code, report) = audit(&image, &["--policy", &size]);
    assert_eq!(code, 1, "{report}");
    let reasons: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "PARE-SIZE")
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("compressed; the policy allows")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("per layer")),
        "{reasons:?}"
    );
    let relative = policy("relative.toml", "[allow]\nPARE-SHELL = [\"bin/sh\"]\n");
    assert_eq!(
        run(pare().args(["audit", "--policy", &relative, &image])).0,
        2
    );

    let sarif: Value = serde_json::from_str(&ok(pare().args([
        "audit",
        "--format",
        "sarif",
        "--fail-on",
        "critical",
        &image,
    ])))
    .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "PARE-SHELL");
    assert_eq!(result["level"], "warning");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "bin/sh"
    );
    assert_eq!(sarif["runs"][0]["tool"]["driver"]["name"], "pare");

    let bad = policy("bad.toml", "[rules]\nPARE-SHELL = \"sometimes\"\n");
    let (code, _, stderr) = run(pare().args(["audit", "--policy", &bad, &image]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("PARE-SHELL"), "{stderr}");
    let typo = policy("typo.toml", "fail_onn = \"low\"\n");
    assert_eq!(run(pare().args(["audit", "--policy", &typo, &image])).0, 2);
}

#[test]
fn binaries_report_the_go_modules_and_crates_they_were_built_from() {
    if !require("dive") || !require("objcopy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dive = std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("dive"))
                .find(|p| p.is_file())
        })
        .and_then(|p| fs::canonicalize(p).ok())
        .unwrap();
    let json = r#"{"packages":[{"name":"demo","version":"0.3.0","source":"local","root":true,"dependencies":[1]},{"name":"serde","version":"1.0.219","source":"crates.io"}]}"#;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, json.as_bytes()).unwrap();
    fs::write(dir.path().join("dep-v0"), z.finish().unwrap()).unwrap();
    let auditable = dir.path().join("demo");
    ok(Command::new("objcopy")
        .arg(format!(
            "--add-section=.dep-v0={}",
            dir.path().join("dep-v0").display()
        ))
        .arg(static_hello())
        .arg(&auditable));
    let layout = dir.path().join("out");
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/usr/local/bin/dive:0755", dive.display()))
        .arg("--copy")
        .arg(format!("{}:/app:0755", auditable.display()))
        .args(["--entrypoint", "/app", "--output"])
        .arg(format!("oci:{}:bins", layout.display())));
    let (_, report) = audit(&format!("oci:{}:bins", layout.display()), &[]);
    let packages = report["packages"].as_array().unwrap();
    let by = |manager: &str| {
        packages
            .iter()
            .filter(|p| p["manager"] == manager)
            .collect::<Vec<_>>()
    };
    let go = by("go");
    assert_eq!(go[0]["name"], "github.com/wagoodman/dive");
    assert_eq!(
        go[0]["file_bytes"].as_u64().unwrap(),
        fs::metadata(&dive).unwrap().len()
    );
    assert_eq!(
        go.len(),
        1 + 1 + 54,
        "main module, stdlib and 54 dependencies (as go version -m lists them)"
    );
    let cargo: Vec<(&str, &str)> = by("cargo")
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect();
    assert_eq!(cargo, [("demo", "0.3.0"), ("serde", "1.0.219")]);
}

#[test]
fn application_files_the_user_cannot_read_are_findings() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config.toml");
    fs::write(&conf, "password_file = \"/run/secrets/db\"\n").unwrap();
    let layout = dir.path().join("out");
    let build = |tag: &str, conf_spec: &str| {
        ok(pare()
            .args(["build", "-q", "--copy"])
            .arg(format!("{}:/app/hello", static_hello().display()))
            .arg("--copy")
            .arg(format!("{}:/app/config.toml:{conf_spec}", conf.display()))
            .args(["--entrypoint", "/app/hello", "--output"])
            .arg(format!("oci:{}:{tag}", layout.display())));
    };
    // 0600 and owned by root (the --copy default): the program, running as 65532, cannot read it.
    build("root-only", "0600");
    let (code, report) = audit(&format!("oci:{}:root-only", layout.display()), &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        rules(&report),
        [(
            "PARE-UNREADABLE".to_string(),
            "/app/config.toml".to_string()
        )]
    );
    let reason = report["findings"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("65532:65532") && reason.contains("0600"),
        "{reason}"
    );
    // Given to the user, or readable by all: no finding.
    build("owned", "0600:65532:65532");
    build("readable", "0644");
    for tag in ["owned", "readable"] {
        let (code, report) = audit(&format!("oci:{}:{tag}", layout.display()), &[]);
        assert_eq!(code, 0, "{tag}: {report}");
    }
}

#[test]
fn small_duplicates_are_summed_on_screen_and_listed_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    for i in 0..5 {
        fs::write(tree.join(format!("__init__{i}.py")), "# package\n").unwrap();
    }
    let big = vec![b'z'; 50_000];
    fs::write(tree.join("big-a.bin"), &big).unwrap();
    fs::write(tree.join("big-b.bin"), &big).unwrap();
    let layout = dir.path().join("out");
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .arg("--copy")
        .arg(format!("{}/:/app/", tree.display()))
        .args(["--entrypoint", "/hello", "--output"])
        .arg(format!("oci:{}:dups", layout.display())));
    let reference = format!("oci:{}:dups", layout.display());
    let (_, human, _) = run(pare().args(["audit", &reference]));
    assert!(
        human.contains("4 duplicate files under 1 KiB (listed in --format json)"),
        "{human}"
    );
    assert!(
        human.contains("/app/big-"),
        "the big duplicate is listed: {human}"
    );
    assert!(
        !human.contains("__init__"),
        "small ones are not listed: {human}"
    );
    let (_, report) = audit(&reference, &[]);
    let small = report["waste"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["kind"] == "duplicate" && w["bytes"].as_u64().unwrap() < 1024)
        .count();
    assert_eq!(small, 4, "JSON lists every one");
}
