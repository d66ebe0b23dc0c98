//! Builds on images other tools made: a two-layer buildah image (its second layer a whiteout) pushed
//! to a local Distribution registry, the same image as a docker-archive written by skopeo, and an
//! umoci image. Each build shares the base's layer blobs, inherits its config, carries the
//! base.name/base.digest annotations, runs under runc, and pins the base in pare.lock; `--locked`
//! fails once the tag moves.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{image_json, ok, pare, read_json, require, run, runc_run, unpack, Registry};

/// buildah with its storage under `dir` (vfs, no daemon), so tests share no global state.
fn buildah(dir: &Path) -> Command {
    let mut cmd = Command::new("buildah");
    cmd.arg("--root")
        .arg(dir.join("storage"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args(["--storage-driver", "vfs"]);
    cmd
}

/// Copies the host file `host` (following symlinks) to `rootfs/at`.
fn put(rootfs: &Path, at: &str, host: &str) {
    let dest = rootfs.join(at.trim_start_matches('/'));
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::copy(fs::canonicalize(host).unwrap(), &dest).unwrap();
}

/// The real path of a host library by soname, from the host's ld.so cache.
fn host_library(soname: &str) -> String {
    let out = ok(Command::new("ldconfig").arg("-p"));
    out.lines()
        .find(|l| l.trim_start().starts_with(soname) && l.contains("x86-64"))
        .and_then(|l| l.rsplit("=> ").next())
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|| panic!("the host has no {soname}"))
}

/// A glibc base: libc, the loader and zlib in the first layer with a passwd naming user `app`
/// (1000); the second layer deletes zlib again (a whiteout). Config: user app, an Env variable, a
/// label, a port, a working directory and a cmd. Returns the image's name in buildah's storage.
fn buildah_base(dir: &Path, name: &str, marker: &str) -> String {
    let container = ok(buildah(dir).args(["from", "scratch"]))
        .trim()
        .to_string();
    let mount = PathBuf::from(ok(buildah(dir).args(["mount", &container])).trim());
    put(
        &mount,
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        &host_library("libc.so.6"),
    );
    put(
        &mount,
        "/lib64/ld-linux-x86-64.so.2",
        "/lib64/ld-linux-x86-64.so.2",
    );
    put(
        &mount,
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        &host_library("libz.so.1"),
    );
    fs::create_dir_all(mount.join("etc")).unwrap();
    fs::write(
        mount.join("etc/passwd"),
        "root:x:0:0::/root:/bin/false\napp:x:1000:1000::/home/app:/bin/false\n",
    )
    .unwrap();
    fs::write(mount.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    fs::write(mount.join("etc/marker"), marker).unwrap();
    ok(buildah(dir).args([
        "config",
        "--env",
        "APP_MODE=from-base",
        "--env",
        "PATH=/usr/bin:/bin",
        "--user",
        "app",
        "--workingdir",
        "/srv",
        "--label",
        "made-by=buildah",
        "--port",
        "9000",
        "--cmd",
        "--serve",
        &container,
    ]));
    ok(buildah(dir).args(["commit", &container, &format!("localhost/{name}-one")]));
    let second = ok(buildah(dir).args(["from", &format!("localhost/{name}-one")]))
        .trim()
        .to_string();
    let mount = PathBuf::from(ok(buildah(dir).args(["mount", &second])).trim());
    fs::remove_file(mount.join("usr/lib/x86_64-linux-gnu/libz.so.1")).unwrap();
    fs::create_dir_all(mount.join("srv")).unwrap();
    ok(buildah(dir).args(["commit", &second, &format!("localhost/{name}")]));
    format!("localhost/{name}")
}

/// A program printing zlib's version, its uid and APP_MODE.
fn zlib_program(dir: &Path) -> PathBuf {
    let src = dir.join("zv.c");
    fs::write(
        &src,
        "#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n#include <zlib.h>\n\
         int main(int argc, char **argv) { printf(\"zlib %s uid %d mode %s arg %s\\n\", zlibVersion(), \
         (int)getuid(), getenv(\"APP_MODE\"), argc > 1 ? argv[1] : \"-\"); return 0; }\n",
    )
    .unwrap();
    let exe = dir.join("zv");
    ok(Command::new("gcc").arg("-o").arg(&exe).arg(&src).arg("-lz"));
    exe
}

fn layer_digests(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// The manifest a registry reference names, and its digest as skopeo reports it.
fn skopeo_manifest(reference: &str) -> (Value, String) {
    let raw =
        ok(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", reference]));
    let inspect: Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        reference,
    ])))
    .unwrap();
    let digest = inspect["Digest"].as_str().unwrap().to_string();
    (serde_json::from_str(&raw).unwrap(), digest)
}

#[test]
fn a_buildah_image_on_a_registry_is_a_base_and_its_tag_is_pinned() {
    for tool in [
        "buildah",
        "skopeo",
        "gcc",
        "umoci",
        "runc",
        "oci-image-tool",
    ] {
        if !require(tool) {
            return;
        }
    }
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let image = buildah_base(dir.path(), "pare-base", "one");
    let base_ref = format!("docker://{}/pare/base:1", registry.addr);
    ok(buildah(dir.path()).args(["push", "--tls-verify=false", &image, &base_ref]));
    let (base_manifest, base_digest) = skopeo_manifest(&base_ref);
    assert_eq!(layer_digests(&base_manifest).len(), 2, "{base_manifest}");

    let exe = zlib_program(dir.path());
    let layout = dir.path().join("out");
    let lock = dir.path().join("pare.lock");
    let build = |tag: &str, extra: &[&str]| {
        let mut cmd = pare();
        cmd.args(["build", "--format", "json", "--base", &base_ref])
            .arg("--copy")
            .arg(format!("{}:/app/zv:0755", exe.display()))
            .args(["--entrypoint", "/app/zv", "--lock"])
            .arg(&lock)
            .arg("--output")
            .arg(format!("oci:{}:{tag}", layout.display()))
            .args(extra);
        run(&mut cmd)
    };
    let (code, stdout, stderr) = build("1", &[]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["base"]["digest"], base_digest.as_str());
    assert_eq!(report["base"]["lock"], "wrote");
    // zlib is whited out in the base's second layer: the closure must bring the host's.
    let added = crate::support::added_libraries(&report);
    assert!(added.iter().any(|p| p.contains("libz.so")), "{added:?}");
    assert!(
        !added
            .iter()
            .any(|p| p.contains("libc.so") || p.contains("ld-linux")),
        "libc and the loader are in the base: {added:?}"
    );

    let (manifest, config) = image_json(&layout, "1");
    let ours = layer_digests(&manifest);
    assert_eq!(
        ours[..2],
        layer_digests(&base_manifest)[..],
        "base blobs reused as they are"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.digest"],
        base_digest.as_str()
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.name"],
        format!("{}/pare/base:1", registry.addr).as_str()
    );
    let runtime = &config["config"];
    let env: Vec<&str> = runtime["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"APP_MODE=from-base") && env.contains(&"PATH=/usr/bin:/bin"),
        "{env:?}"
    );
    assert_eq!(
        runtime["User"], "1000:1000",
        "the base's user app, by number"
    );
    assert_eq!(runtime["WorkingDir"], "/srv");
    assert_eq!(runtime["Labels"]["made-by"], "buildah");
    assert!(
        runtime["ExposedPorts"].get("9000/tcp").is_some(),
        "{runtime}"
    );
    assert!(
        runtime.get("Cmd").is_none(),
        "a new entrypoint drops the base's cmd: {runtime}"
    );
    let base_history =
        ok(Command::new("skopeo").args(["inspect", "--config", "--tls-verify=false", &base_ref]));
    let base_history: Value = serde_json::from_str(&base_history).unwrap();
    let history = config["history"].as_array().unwrap();
    assert_eq!(
        history[..base_history["history"].as_array().unwrap().len()],
        base_history["history"].as_array().unwrap()[..],
        "the base's history comes first, unchanged"
    );
    let validated = ok(Command::new("oci-image-tool")
        .args(["validate", "--type", "image", "--ref", "name=1"])
        .arg(&layout));
    assert!(validated.contains("Validation succeeded"), "{validated}");
    let bundle = unpack(&layout, "1", dir.path());
    let (code, out, err) = runc_run(&bundle, dir.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("uid 1000 mode from-base arg -"), "{out}");

    // The lock pins the digest; --locked builds while the tag still names it.
    let text = fs::read_to_string(&lock).unwrap();
    assert!(
        text.contains(&base_digest) && text.contains(&base_ref),
        "{text}"
    );
    let (code, _, stderr) = build("2", &["--locked"]);
    assert_eq!(code, 0, "{stderr}");

    // Move the tag: --locked fails and says how to go on; a build without it re-pins.
    let moved = buildah_base(dir.path(), "pare-base-two", "two");
    ok(buildah(dir.path()).args(["push", "--tls-verify=false", &moved, &base_ref]));
    let (_, moved_digest) = skopeo_manifest(&base_ref);
    assert_ne!(moved_digest, base_digest);
    let (code, _, stderr) = build("3", &["--locked"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("moved") && stderr.contains(&base_digest),
        "{stderr}"
    );
    assert!(
        fs::read_to_string(&lock).unwrap().contains(&base_digest),
        "--locked leaves the lock"
    );
    let (code, stdout, stderr) = build("3", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("moved"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["base"]["lock"], "rewrote");
    assert!(fs::read_to_string(&lock).unwrap().contains(&moved_digest));
}

#[test]
fn docker_archives_and_umoci_images_are_bases() {
    for tool in ["buildah", "skopeo", "gcc", "umoci", "runc"] {
        if !require(tool) {
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let image = buildah_base(dir.path(), "pare-archive-base", "one");
    let archive = dir.path().join("base.tar");
    ok(buildah(dir.path()).args([
        "push",
        &image,
        &format!("docker-archive:{}:base:1", archive.display()),
    ]));
    let exe = zlib_program(dir.path());
    let layout = dir.path().join("out");
    let report: Value = serde_json::from_str(&ok(pare()
        .args(["build", "--format", "json"])
        .arg("--base")
        .arg(format!("docker-archive:{}:base:1", archive.display()))
        .arg("--copy")
        .arg(format!("{}:/app/zv:0755", exe.display()))
        .args(["--cmd", "/app/zv"])
        .arg("--output")
        .arg(format!("oci:{}:archive", layout.display()))))
    .unwrap();
    assert_eq!(report["base"]["layers"], 2);
    let (manifest, config) = image_json(&layout, "archive");
    // docker save's layers are plain tar: the blobs carried over are the base's diff_ids.
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(layer_digests(&manifest)[..2], diff_ids[..2]);
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.name"],
        "base:1"
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/app/zv"]));

    // A pare image is a base too: with no entrypoint or cmd given, its cmd is inherited and runs.
    let on_pare: Value = serde_json::from_str(&ok(pare()
        .args(["build", "--format", "json"])
        .arg("--base")
        .arg(format!("oci:{}:archive", layout.display()))
        .arg("--output")
        .arg(format!("oci:{}:on-pare", layout.display()))))
    .unwrap();
    assert_eq!(on_pare["base"]["layers"], 4);
    assert_eq!(on_pare["user"], "1000:1000");
    let bundle = unpack(&layout, "on-pare", dir.path());
    let (code, out, err) = runc_run(&bundle, dir.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("uid 1000 mode from-base arg -"), "{out}");
    let (manifest, _) = image_json(&layout, "on-pare");
    assert!(
        manifest["annotations"]
            .get("org.opencontainers.image.base.name")
            .is_none(),
        "a base named by a host path leaves no name in the image: {manifest}"
    );

    // umoci: a layout made, unpacked, filled and repacked by umoci alone.
    let umoci_layout = dir.path().join("umoci");
    let image_ref = format!("{}:base", umoci_layout.display());
    ok(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&umoci_layout));
    ok(Command::new("umoci").args(["new", "--image", &image_ref]));
    let bundle = dir.path().join("umoci-bundle");
    ok(Command::new("umoci")
        .args(["unpack", "--rootless", "--image", &image_ref])
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    put(
        &rootfs,
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        &host_library("libc.so.6"),
    );
    put(
        &rootfs,
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        &host_library("libz.so.1"),
    );
    put(
        &rootfs,
        "/lib64/ld-linux-x86-64.so.2",
        "/lib64/ld-linux-x86-64.so.2",
    );
    ok(Command::new("umoci")
        .args(["repack", "--image", &image_ref])
        .arg(&bundle));
    ok(Command::new("umoci").args([
        "config",
        "--image",
        &image_ref,
        "--config.env",
        "APP_MODE=umoci",
    ]));
    let report: Value = serde_json::from_str(&ok(pare()
        .args(["build", "--format", "json"])
        .arg("--base")
        .arg(format!("oci:{image_ref}"))
        .arg("--copy")
        .arg(format!("{}:/app/zv:0755", exe.display()))
        .args(["--entrypoint", "/app/zv"])
        .arg("--output")
        .arg(format!("oci:{}:umoci", layout.display()))))
    .unwrap();
    let added = report["libraries"].as_array().unwrap();
    assert!(
        !added
            .iter()
            .any(|l| l["path"].as_str().unwrap().contains("libz")),
        "zlib is in the umoci base: {added:?}"
    );
    assert_eq!(
        report["user"], "65532:65532",
        "a base without a user runs as nonroot"
    );
    let bundle = unpack(&layout, "umoci", dir.path());
    let (code, out, err) = runc_run(&bundle, dir.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("uid 65532 mode umoci"), "{out}");
}

#[test]
fn a_base_for_another_platform_or_with_packages_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("arm");
    ok(pare()
        .args(["build", "--platform", "linux/arm64", "--output"])
        .arg(format!("oci:{}:arm", layout.display())));
    let base = format!("oci:{}:arm", layout.display());
    let (code, _, stderr) = run(pare()
        .args([
            "build",
            "--platform",
            "linux/amd64",
            "--base",
            &base,
            "--output",
        ])
        .arg(format!("oci:{}:x", dir.path().join("x").display())));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is for linux/arm64"), "{stderr}");
    assert!(
        !dir.path().join("x").exists(),
        "a refused build leaves nothing"
    );
    let (code, _, stderr) = run(pare()
        .args([
            "build",
            "--platform",
            "linux/arm64",
            "--base",
            &base,
            "--package",
            "zlib1g",
        ])
        .arg("--output")
        .arg(format!("oci:{}:x", dir.path().join("x").display())));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("Debian packages"), "{stderr}");
    // The same arm64 base for an arm64 build: its layers are carried over, pare's static base too.
    ok(pare()
        .args([
            "build",
            "--platform",
            "linux/arm64",
            "--base",
            &base,
            "--output",
        ])
        .arg(format!("oci:{}:on-arm", layout.display())));
    let (manifest, _) = image_json(&layout, "on-arm");
    let (base_manifest, _) = image_json(&layout, "arm");
    assert_eq!(layer_digests(&manifest), layer_digests(&base_manifest));
    let index = read_json(&layout.join("index.json"));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
}

#[test]
fn a_project_pins_its_image_base_with_pare_lock() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    fs::create_dir_all(&project).unwrap();
    let build_base = |marker: &str| {
        let file = dir.path().join("marker");
        fs::write(&file, marker).unwrap();
        ok(pare()
            .args(["build", "--copy"])
            .arg(format!("{}:/etc/marker", file.display()))
            .arg("--output")
            .arg(format!("oci:{}:1", project.join("base").display())));
    };
    build_base("one");
    fs::write(
        project.join("pare.toml"),
        "[image]\nbase = \"oci:base:1\"\n[build]\noutput = \"oci:out:app\"\n",
    )
    .unwrap();
    // `pare lock` from another directory, naming the file: the path is the file's, the pin as written.
    let said = ok(pare()
        .current_dir(dir.path())
        .args(["lock", "-f", "proj/pare.toml"]));
    assert!(said.contains("pinned base oci:base:1"), "{said}");
    let lock = fs::read_to_string(project.join("pare.lock")).unwrap();
    assert!(lock.contains("reference = \"oci:base:1\""), "{lock}");
    let pinned = ok(pare().current_dir(&project).args(["lock"]));
    assert!(pinned.contains("still pinned"), "{pinned}");
    let (code, _, stderr) = run(pare().current_dir(&project).args(["build", "--locked"]));
    assert_eq!(code, 0, "{stderr}");
    build_base("two");
    let (code, _, stderr) = run(pare().current_dir(&project).args(["build", "--locked"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("the base oci:base:1 moved"), "{stderr}");
    assert_eq!(fs::read_to_string(project.join("pare.lock")).unwrap(), lock);
    let (code, _, stderr) = run(pare().current_dir(&project).args(["build"]));
    assert_eq!(code, 0, "{stderr}");
    assert_ne!(
        fs::read_to_string(project.join("pare.lock")).unwrap(),
        lock,
        "re-pinned"
    );
}
