//! Images pare builds, checked by tools nobody here wrote: oci-image-tool, skopeo, umoci, runc,
//! a Distribution registry, podman, syft and the Docker Engine.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{
    in_ci, ok, pare, require, require_docker, runc_run, static_hello, unpack, Registry,
};

/// Builds the static hello image into `output`, returning the manifest digest.
fn build_hello(output: &str, extra: &[&str]) -> String {
    let out = ok(pare()
        .args(["build", "--format", "json", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output", output])
        .args(extra));
    let report: Value = serde_json::from_str(&out).unwrap();
    report["manifest_digest"].as_str().unwrap().to_string()
}

#[test]
fn oci_image_tool_validates_gzip_and_zstd_images() {
    if !require("oci-image-tool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    build_hello(&format!("oci:{}:gz", out.display()), &[]);
    build_hello(
        &format!("oci:{}:plain", out.display()),
        &["--compression", "none"],
    );
    let stdout = ok(Command::new("oci-image-tool")
        .args(["validate", "--type", "image"])
        .arg(&out));
    assert!(stdout.contains("Validation succeeded"), "{stdout}");
    let stdout = ok(Command::new("oci-image-tool")
        .args(["validate", "--type", "image", "--ref", "name=gz"])
        .arg(&out));
    assert!(stdout.contains("Validation succeeded"), "{stdout}");
}

#[test]
fn skopeo_reads_what_pare_writes_in_every_format() {
    if !require("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let digest = build_hello(
        &format!("oci:{}:latest", out.display()),
        &["--label", "k=v"],
    );
    let inspect = |reference: &str| -> Value {
        serde_json::from_str(&ok(Command::new("skopeo").args(["inspect", reference]))).unwrap()
    };
    let layout = inspect(&format!("oci:{}:latest", out.display()));
    assert_eq!(layout["Digest"], digest);
    assert_eq!(layout["Labels"]["k"], "v");
    assert_eq!(layout["Layers"].as_array().unwrap().len(), 2);
    let oci_archive = dir.path().join("a.tar");
    let archived = build_hello(
        &format!("oci-archive:{}", oci_archive.display()),
        &["--label", "k=v"],
    );
    assert_eq!(archived, digest, "the archive holds the same image");
    assert_eq!(
        inspect(&format!("oci-archive:{}", oci_archive.display()))["Digest"],
        digest
    );
    let docker_archive = dir.path().join("d.tar");
    build_hello(
        &format!("docker-archive:{}:pare/hello:t", docker_archive.display()),
        &[],
    );
    // Naming the image inside the archive only works if the archive carries that name.
    let from_docker = inspect(&format!(
        "docker-archive:{}:pare/hello:t",
        docker_archive.display()
    ));
    assert_eq!(from_docker["Layers"].as_array().unwrap().len(), 2);
}

#[test]
fn umoci_unpacks_and_runc_runs_the_image_as_nonroot() {
    if !require("umoci") || !require("runc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    build_hello(&format!("oci:{}:latest", out.display()), &[]);
    let bundle = unpack(&out, "latest", dir.path());
    let rootfs = bundle.join("rootfs");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(rootfs.join("home/nonroot")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (65532, 65532, 0o700)
    );
    assert_eq!(
        std::fs::metadata(rootfs.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    let config: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["user"]["uid"], 65532);
    let (code, stdout, stderr) = runc_run(&bundle, dir.path());
    assert_eq!(code, 0, "runc failed: {stderr}");
    assert_eq!(stdout.trim(), "hello from pare, uid 65532");
}

#[test]
fn a_registry_accepts_the_image_and_the_digest_survives_a_round_trip() {
    if !require("skopeo") {
        return;
    }
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let digest = build_hello(&format!("oci:{}:latest", out.display()), &[]);
    let remote = format!("docker://{}/pare/hello:1", registry.addr);
    ok(Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:latest", out.display()))
        .arg(&remote));
    let inspect: Value = serde_json::from_str(&ok(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(&remote)))
    .unwrap();
    assert_eq!(inspect["Digest"], digest);
    let back = dir.path().join("back");
    ok(Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(&remote)
        .arg(format!("oci:{}:back", back.display())));
    let index: Value =
        serde_json::from_slice(&std::fs::read(back.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest);
}

#[test]
fn podman_loads_the_docker_archive() {
    if !require("podman") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app.tar");
    build_hello(
        &format!("docker-archive:{}:pare-podman:1", archive.display()),
        &[],
    );
    let storage = dir.path().join("storage");
    let podman = |args: &[&str]| {
        let mut cmd = Command::new("podman");
        cmd.args(["--storage-driver", "vfs", "--root"])
            .arg(storage.join("root"))
            .arg("--runroot")
            .arg(storage.join("run"))
            .args(args);
        cmd
    };
    let stdout = ok(&mut podman(&["load", "-i", archive.to_str().unwrap()]));
    assert!(stdout.contains("pare-podman:1"), "{stdout}");
    let user = ok(&mut podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}}",
        "pare-podman:1",
    ]));
    assert_eq!(user.trim(), "65532:65532");
    // vfs storage leaves root-owned files; podman removes them itself.
    let _ = podman(&["system", "reset", "--force"]).output();
}

#[test]
fn syft_understands_the_image() {
    if !require("syft") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    build_hello(&format!("oci:{}:latest", out.display()), &[]);
    let stdout = ok(Command::new("syft")
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .args(["scan", "-q", "-o", "json"])
        .arg(format!("oci-dir:{}", out.display())));
    let sbom: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(sbom["source"]["type"], "image");
    let layers = sbom["source"]["metadata"]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    let os = &sbom["distro"];
    assert_eq!(
        os["id"], "pare",
        "syft reads the os-release pare writes: {os}"
    );
}

#[test]
fn docker_loads_runs_and_explains_the_image() {
    if !require_docker() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app.tar");
    let name = format!("pare-it-hello:{}", std::process::id());
    build_hello(
        &format!("docker-archive:{}:{name}", archive.display()),
        &["--label", "org.example=pare"],
    );
    let cleanup = Cleanup(name.clone());
    let loaded = ok(Command::new("docker").args(["load", "-i"]).arg(&archive));
    assert!(loaded.contains(&name), "{loaded}");
    let stdout = ok(Command::new("docker").args(["run", "--rm", &name]));
    assert_eq!(stdout.trim(), "hello from pare, uid 65532");
    let history = ok(Command::new("docker").args([
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        &name,
    ]));
    assert!(history.contains("pare build: copy to /hello"), "{history}");
    assert!(history.contains("pare build: base static"), "{history}");
    let inspect: Value =
        serde_json::from_str(&ok(Command::new("docker").args(["image", "inspect", &name])))
            .unwrap();
    let config = &inspect[0]["Config"];
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/hello"]));
    assert_eq!(config["Labels"]["org.example"], "pare");
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    drop(cleanup);
}

/// Removes a Docker image when the test ends, pass or fail.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

#[test]
fn ci_has_every_peer() {
    if !in_ci() {
        return;
    }
    for tool in [
        "oci-image-tool",
        "skopeo",
        "umoci",
        "runc",
        "podman",
        "docker-registry",
        "syft",
        "docker",
    ] {
        assert!(require(tool), "{tool}");
    }
    let _ = Path::new("/");
}
