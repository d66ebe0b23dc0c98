//! Multi-platform images: `pare build --platform linux/amd64,linux/arm64` writes one OCI index
//! over one image per platform (the static base's layer shared), which oci-image-tool validates,
//! skopeo reads and copies with the digest kept, `pare copy --all-platforms` moves whole, and
//! whose arm64 image runs here under runc through qemu-user-static.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{
    blob, in_ci, ok, pare, read_json, require, run, runc_run, unpack, Fault, FaultProxy, Registry,
};

/// A static C program that prints the machine it runs on, for `target` (`gcc` or
/// `aarch64-linux-gnu-gcc`).
fn uname_program(dir: &Path, compiler: &str, name: &str) -> PathBuf {
    let source = dir.join("uname.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\n#include <sys/utsname.h>\n\
         int main(void){struct utsname u; uname(&u); printf(\"hello from %s\\n\", u.machine); return 0;}\n",
    )
    .unwrap();
    let out = dir.join(name);
    ok(Command::new(compiler)
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(&source));
    out
}

/// Whether arm64 programs run here (qemu-user-static registered in binfmt_misc); CI must have it.
fn arm64_runs() -> bool {
    let registered = Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists();
    if !registered {
        assert!(
            !in_ci(),
            "qemu-aarch64 is not registered in binfmt_misc; scripts/peers.sh installs qemu-user-static and registers it"
        );
        eprintln!("SKIP: arm64 programs cannot run here; run scripts/peers.sh");
    }
    registered
}

/// `pare build --format json` for both platforms, each with its own program as `/hello` (the
/// entrypoint), to `output`.
fn build_both_command(amd64: &Path, arm64: &Path, output: &str) -> Command {
    let mut cmd = pare();
    cmd.args([
        "build",
        "--format",
        "json",
        "--platform",
        "linux/amd64,linux/arm64",
    ])
    .arg("--copy")
    .arg(format!("linux/amd64={}:/hello", amd64.display()))
    .arg("--copy")
    .arg(format!("linux/arm64={}:/hello", arm64.display()))
    .args(["--entrypoint", "/hello", "--output", output]);
    cmd
}

/// [`build_both_command`] with `extra` flags, which must succeed: its report.
fn build_both(amd64: &Path, arm64: &Path, output: &str, extra: &[&str]) -> Value {
    serde_json::from_str(&ok(build_both_command(amd64, arm64, output).args(extra))).unwrap()
}

/// The image of `platform` in the index `reference`, copied out into a layout under `dir` and
/// unpacked there into a runtime bundle (umoci): the bundle's path.
fn platform_bundle(reference: &str, platform: &str, dir: &Path) -> PathBuf {
    let tag = platform.replace('/', "-");
    let single = dir.join(format!("single-{tag}"));
    ok(pare()
        .args(["copy", "--platform", platform, reference])
        .arg(format!("oci:{}:{tag}", single.display())));
    unpack(&single, &tag, dir)
}

fn skopeo_raw(reference: &str) -> Value {
    serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        reference,
    ])))
    .unwrap()
}

#[test]
fn a_two_platform_index_validates_copies_whole_and_its_arm64_image_runs() {
    if !require("aarch64-linux-gnu-gcc")
        || !require("skopeo")
        || !require("oci-image-tool")
        || !require("umoci")
        || !require("runc")
        || !arm64_runs()
    {
        return;
    }
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let amd64 = uname_program(dir.path(), "gcc", "uname-amd64");
    let arm64 = uname_program(dir.path(), "aarch64-linux-gnu-gcc", "uname-arm64");
    let build = |output: &str| build_both(&amd64, &arm64, output, &[]);
    let layout = dir.path().join("multi");
    let image = format!("oci:{}:v1", layout.display());
    let report = build(&image);
    let index_digest = report["manifest_digest"].as_str().unwrap().to_string();
    let platforms = report["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    assert_eq!(platforms[0]["platform"], "linux/amd64");
    assert_eq!(platforms[1]["platform"], "linux/arm64");
    // The static base's layer is the same bytes for both: stored once, listed by both.
    assert_eq!(
        platforms[0]["layers"][0]["digest"],
        platforms[1]["layers"][0]["digest"]
    );
    assert_ne!(
        platforms[0]["layers"][1]["digest"],
        platforms[1]["layers"][1]["digest"]
    );
    let stored: u64 = platforms[0]["compressed_size"].as_u64().unwrap()
        + platforms[1]["layers"][1]["size"].as_u64().unwrap();
    assert_eq!(report["compressed_size"].as_u64().unwrap(), stored);

    // The per-platform images were built into the output layout (its layers reused next time)
    // under passing tags that are gone now: the index is the one tag.
    let tags = ok(Command::new("umoci").arg("ls").arg("--layout").arg(&layout));
    assert_eq!(tags.trim(), "v1");

    // Peers read the index.
    let stdout = ok(Command::new("oci-image-tool")
        .args(["validate", "--type", "image", "--ref", "name=v1"])
        .arg(&layout));
    assert!(stdout.contains("Validation succeeded"), "{stdout}");
    let raw = skopeo_raw(&image);
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let listed: Vec<String> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(listed, ["linux/amd64", "linux/arm64"]);
    let arm_config: Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--config",
        "--override-arch",
        "arm64",
        &image,
    ])))
    .unwrap();
    assert_eq!(arm_config["architecture"], "arm64");

    // Built straight to a registry, the index is the same bytes; skopeo copies it with every
    // platform and the digest kept; pare copies it back and forth whole.
    let remote = format!("docker://{}/multi:1", registry.addr);
    assert_eq!(build(&remote)["manifest_digest"], index_digest.as_str());
    // A tag that names an index is signed as it is (as cosign signs it): the index's digest.
    let (key, public) = crate::sign::key_pair(dir.path(), "index", false);
    let signed: Value = serde_json::from_str(&ok(pare()
        .args(["sign", "--format", "json", "--key"])
        .arg(&key)
        .arg(&remote)))
    .unwrap();
    assert_eq!(signed["digest"], index_digest.as_str());
    let (code, _, err) = run(pare().args(["verify", "--key"]).arg(&public).arg(&remote));
    assert_eq!(code, 0, "{err}");
    // One platform's image is another digest, which this signature does not cover.
    let (code, _, _) = run(pare()
        .args(["verify", "--platform", "linux/arm64", "--key"])
        .arg(&public)
        .arg(&remote));
    assert_eq!(code, 1);
    let copied = format!("docker://{}/skopeo-copy:1", registry.addr);
    ok(Command::new("skopeo").args([
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &remote,
        &copied,
    ]));
    let ours = ok(pare()
        .args(["copy", "--all-platforms", "--format", "json", &copied])
        .arg(format!("oci:{}:back", dir.path().join("back").display())));
    let ours: Value = serde_json::from_str(&ours).unwrap();
    assert_eq!(ours["manifest_digest"], index_digest.as_str());
    let again = format!("docker://{}/again:1", registry.addr);
    let pushed: Value = serde_json::from_str(&ok(pare().args([
        "copy",
        "--all-platforms",
        "--format",
        "json",
        &format!("oci:{}:back", dir.path().join("back").display()),
        &again,
    ])))
    .unwrap();
    assert_eq!(pushed["manifest_digest"], index_digest.as_str());
    assert_eq!(skopeo_raw(&again), raw);
    // `pare push` sends what was built: the index whole; `--platform` picks one image of it.
    let push = |extra: &[&str], to: &str| -> Value {
        serde_json::from_str(&ok(pare()
            .args(["push", "--format", "json"])
            .args(extra)
            .args([&image, to])))
        .unwrap()
    };
    let pushed_index = format!("docker://{}/pushed:1", registry.addr);
    assert_eq!(
        push(&[], &pushed_index)["manifest_digest"],
        index_digest.as_str()
    );
    assert_eq!(skopeo_raw(&pushed_index), raw);
    let pushed_arm = format!("docker://{}/pushed-arm64:1", registry.addr);
    assert_eq!(
        push(&["--platform", "linux/arm64"], &pushed_arm)["manifest_digest"],
        platforms[1]["manifest_digest"]
    );

    // Each platform's image runs: the arm64 one through qemu.
    for (platform, machine) in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")] {
        let bundle = platform_bundle(&image, platform, dir.path());
        let (code, stdout, stderr) = runc_run(&bundle, dir.path());
        assert_eq!(code, 0, "{platform}: {stderr}");
        assert_eq!(stdout.trim(), format!("hello from {machine}"));
    }
    // audit picks a platform of the index.
    let audit: Value = serde_json::from_str(&ok(pare().args([
        "audit",
        "--format",
        "json",
        "--platform",
        "linux/arm64",
        &image,
    ])))
    .unwrap();
    assert_eq!(audit["manifest_digest"], platforms[1]["manifest_digest"]);

    // An archive holds one image: a clear exit 2.
    let (code, _, err) = run(pare()
        .args(["build", "--platform", "linux/amd64,linux/arm64", "--copy"])
        .arg(format!("{}:/hello", amd64.display()))
        .args(["--entrypoint", "/hello", "--output", "docker-archive:x.tar"])
        .current_dir(dir.path()));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds one image"), "{err}");
    let (code, _, err) = run(pare()
        .args(["build", "--platform", "linux/amd64,linux/arm64", "--copy"])
        .arg(format!("linux/riscv64={}:/hello", amd64.display()))
        .args([
            "--output",
            &format!("oci:{}:x", dir.path().join("never").display()),
        ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not one of the platforms"), "{err}");
}

#[test]
fn a_static_go_program_for_both_platforms_runs_on_each_with_its_build_info() {
    if !require("go")
        || !require("oci-image-tool")
        || !require("umoci")
        || !require("runc")
        || !arm64_runs()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("go.mod"),
        "module example.com/pare/machine\n\ngo 1.19\n",
    )
    .unwrap();
    std::fs::write(
        src.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\t\"runtime\"\n\t\"syscall\"\n)\n\n\
         func main() {\n\tvar u syscall.Utsname\n\t_ = syscall.Uname(&u)\n\tvar m []byte\n\
         \tfor _, c := range u.Machine {\n\t\tif c == 0 {\n\t\t\tbreak\n\t\t}\n\t\tm = append(m, byte(c))\n\t}\n\
         \tfmt.Printf(\"hello from %s (GOARCH %s)\\n\", m, runtime.GOARCH)\n}\n",
    )
    .unwrap();
    // Go cross-compiles without cgo: a static binary per GOARCH from the same source.
    let go_build = |goarch: &str| -> PathBuf {
        let out = dir.path().join(format!("machine-{goarch}"));
        ok(Command::new("go")
            .current_dir(&src)
            .env("CGO_ENABLED", "0")
            .env("GOOS", "linux")
            .env("GOARCH", goarch)
            .env("GOPROXY", "off")
            .env("GOCACHE", dir.path().join("gocache"))
            .env("GOPATH", dir.path().join("gopath"))
            .env("GOFLAGS", "-trimpath")
            .args(["build", "-o"])
            .arg(&out));
        out
    };
    let amd64 = go_build("amd64");
    let arm64 = go_build("arm64");
    let layout = dir.path().join("go");
    let image = format!("oci:{}:1", layout.display());
    let report = build_both(&amd64, &arm64, &image, &[]);
    for platform in ["linux/amd64", "linux/arm64"] {
        // A static program brings no libraries.
        let image = platform_report(&report, platform);
        assert!(
            crate::support::added_libraries(image).is_empty(),
            "{platform}: {image}"
        );
    }
    let stdout = ok(Command::new("oci-image-tool")
        .args(["validate", "--type", "image", "--ref", "name=1"])
        .arg(&layout));
    assert!(stdout.contains("Validation succeeded"), "{stdout}");
    for (platform, machine, goarch) in [
        ("linux/amd64", "x86_64", "amd64"),
        ("linux/arm64", "aarch64", "arm64"),
    ] {
        let bundle = platform_bundle(&image, platform, dir.path());
        let (code, stdout, stderr) = runc_run(&bundle, dir.path());
        assert_eq!(code, 0, "{platform}: {stderr}");
        assert_eq!(
            stdout.trim(),
            format!("hello from {machine} (GOARCH {goarch})")
        );
        // What the image holds is Go's build info for that architecture.
        let inventory: Value = serde_json::from_str(&ok(pare().args([
            "inventory",
            "--format",
            "json",
            "--platform",
            platform,
            &image,
        ])))
        .unwrap();
        let binary = &inventory["binaries"][0];
        assert_eq!(binary["path"], "/hello");
        assert_eq!(binary["architecture"], goarch, "{platform}");
        assert_eq!(binary["linkage"], "static");
        let go: Vec<(&str, &str)> = inventory["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["manager"] == "go")
            .map(|p| {
                (
                    p["name"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap(),
                )
            })
            .collect();
        assert!(
            go.contains(&("example.com/pare/machine", goarch)),
            "{platform}: {go:?}"
        );
        assert!(go.contains(&("stdlib", goarch)), "{platform}: {go:?}");
    }
}

/// The per-platform images of `report` (a multi-platform build's), by platform.
fn platform_report<'a>(report: &'a Value, platform: &str) -> &'a Value {
    report["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["platform"] == platform)
        .unwrap_or_else(|| panic!("no {platform} image in {report}"))
}

#[test]
fn a_signed_two_platform_index_with_sboms_travels_whole() {
    if !require("aarch64-linux-gnu-gcc") || !require("openssl") || !require("skopeo") {
        return;
    }
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let amd64 = uname_program(dir.path(), "gcc", "uname-amd64");
    let arm64 = uname_program(dir.path(), "aarch64-linux-gnu-gcc", "uname-arm64");
    let (key, public) = crate::sign::key_pair(dir.path(), "multi", false);
    let remote = format!("docker://{}/signed-multi:1", registry.addr);
    let signing = ["--sbom", "spdx-json", "--sign", "--key", &key];
    let report = build_both(&amd64, &arm64, &remote, &signing);
    let index = report["manifest_digest"].as_str().unwrap();
    // The index is signed (what its tag names), and so is each image (cosign sign --recursive).
    assert_eq!(report["signed"]["signature"]["digest"], index);
    let attested: Vec<&str> = report["signed"]["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["predicate_type"].as_str().unwrap())
        .collect();
    assert_eq!(attested, ["https://slsa.dev/provenance/v1"]);
    for platform in ["linux/amd64", "linux/arm64"] {
        let image = platform_report(&report, platform);
        let digest = image["manifest_digest"].as_str().unwrap();
        assert_ne!(digest, index);
        assert_eq!(image["signed"]["signature"]["digest"], digest);
        let attested: Vec<&str> = image["signed"]["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["predicate_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            attested,
            [
                "https://slsa.dev/provenance/v1",
                "https://spdx.dev/Document"
            ],
            "{platform}"
        );
        assert_eq!(image["sbom"].as_array().unwrap().len(), 1, "{platform}");
    }

    // Each SBOM is its own image's, read back from the registry (fallback tags: Debian's registry
    // has no referrers API) and equal to what `pare sbom` computes for that platform.
    let sbom = |attached: bool, reference: &str, platform: &str| -> Value {
        let mut cmd = pare();
        cmd.args(["sbom", "--platform", platform, reference]);
        if attached {
            cmd.arg("--attached");
        }
        serde_json::from_str(&ok(&mut cmd)).unwrap()
    };
    for platform in ["linux/amd64", "linux/arm64"] {
        assert_eq!(
            sbom(true, &remote, platform),
            sbom(false, &remote, platform),
            "{platform}"
        );
    }
    // Copies carry the document as it was attached (naming where it was built).
    let carries_sboms = |reference: &str| {
        for platform in ["linux/amd64", "linux/arm64"] {
            assert_eq!(
                sbom(true, reference, platform),
                sbom(true, &remote, platform),
                "{reference} {platform}"
            );
        }
    };
    let arm_sbom = sbom(true, &remote, "linux/arm64");
    assert_ne!(sbom(true, &remote, "linux/amd64"), arm_sbom);
    assert!(
        arm_sbom.to_string().contains("?arch=arm64&"),
        "the arm64 SBOM names its platform: {arm_sbom}"
    );

    // `pare verify` of the index and of each image, and the attestations of both.
    let verify = |args: &[&str], reference: &str| -> i32 {
        run(pare().args(args).arg("--key").arg(&public).arg(reference)).0
    };
    let identity = format!("{}/signed-multi", registry.addr);
    let check_signed = |reference: &str| {
        let base = ["--identity", identity.as_str()];
        for platform in [None, Some("linux/amd64"), Some("linux/arm64")] {
            let mut args = vec!["verify"];
            args.extend(&base);
            if let Some(p) = platform {
                args.extend(["--platform", p]);
            }
            assert_eq!(
                verify(&args, reference),
                0,
                "verify {reference} {platform:?}"
            );
            args[0] = "verify-attestation";
            args.extend(["--type", "slsaprovenance1"]);
            assert_eq!(
                verify(&args, reference),
                0,
                "provenance {reference} {platform:?}"
            );
        }
        for platform in ["linux/amd64", "linux/arm64"] {
            let mut args = vec![
                "verify-attestation",
                "--type",
                "spdxjson",
                "--platform",
                platform,
            ];
            args.extend(&base);
            assert_eq!(
                verify(&args, reference),
                0,
                "SBOM attestation {reference} {platform}"
            );
        }
    };
    check_signed(&remote);

    // `copy --all-platforms` carries all of it: registry to registry (fallback tags again), to a
    // registry with the referrers API (no fallback tag), and into a layout.
    let copy = |to: &str| -> Value {
        serde_json::from_str(&ok(pare().args([
            "copy",
            "--all-platforms",
            "--format",
            "json",
            &remote,
            to,
        ])))
        .unwrap()
    };
    let elsewhere = format!("docker://{}/carried:1", registry.addr);
    let carried = copy(&elsewhere);
    assert_eq!(carried["manifest_digest"], index);
    assert_eq!(carried["referrers"], 2, "{carried}");
    assert_eq!(carried["fallback_tags"], 2, "{carried}");
    // A .sig and an .att for the index and for each image.
    assert_eq!(carried["cosign_tags"], 6, "{carried}");
    check_signed(&elsewhere);
    carries_sboms(&elsewhere);

    let api = FaultProxy::start(&registry.addr, Fault::ReferrersApi);
    let with_api = format!("docker://{}/carried-api:1", api.addr);
    let carried = copy(&with_api);
    assert_eq!(carried["referrers"], 2, "{carried}");
    assert_eq!(carried["fallback_tags"], 0, "{carried}");
    carries_sboms(&with_api);
    assert!(
        !api.requests().iter().any(|r| r.contains("PUT")
            && r.contains("/manifests/sha256-")
            && !r.contains(".sig")
            && !r.contains(".att")),
        "no fallback tag is written where the registry lists referrers: {:?}",
        api.requests()
    );

    let layout = dir.path().join("carried");
    let in_layout = format!("oci:{}:1", layout.display());
    let carried = copy(&in_layout);
    assert_eq!(carried["referrers"], 2, "{carried}");
    assert_eq!(carried["cosign_tags"], 6, "{carried}");
    check_signed(&in_layout);
    carries_sboms(&in_layout);
    let listed: Value = serde_json::from_str(&ok(pare().args([
        "referrers",
        "--format",
        "json",
        "--platform",
        "linux/arm64",
        &in_layout,
    ])))
    .unwrap();
    assert_eq!(
        listed["subject"],
        platform_report(&report, "linux/arm64")["manifest_digest"]
    );
    // And back to a registry from the layout, whole.
    let back = format!("docker://{}/from-layout:1", registry.addr);
    let pushed: Value = serde_json::from_str(&ok(pare().args([
        "copy",
        "--all-platforms",
        "--format",
        "json",
        &in_layout,
        &back,
    ])))
    .unwrap();
    assert_eq!(pushed["referrers"], 2, "{pushed}");
    assert_eq!(pushed["cosign_tags"], 6, "{pushed}");
    check_signed(&back);
    carries_sboms(&back);

    // `--no-referrers` leaves them behind.
    let bare = format!("docker://{}/bare:1", registry.addr);
    let plain: Value = serde_json::from_str(&ok(pare().args([
        "copy",
        "--all-platforms",
        "--no-referrers",
        "--format",
        "json",
        &remote,
        &bare,
    ])))
    .unwrap();
    assert_eq!(plain["referrers"], 0);
    assert_eq!(plain["cosign_tags"], 0);
    assert_eq!(verify(&["verify", "--identity", &identity], &bare), 1);

    // Built into a layout, the same: signed where it is, with the identity given.
    let built = format!("oci:{}:1", dir.path().join("built").display());
    let mut with_identity = signing.to_vec();
    with_identity.extend(["--sign-identity", &identity]);
    let report = build_both(&amd64, &arm64, &built, &with_identity);
    assert_eq!(report["manifest_digest"], index);
    check_signed(&built);
}

#[test]
fn a_two_platform_build_on_a_two_platform_base_pins_each_and_runs() {
    if !require("aarch64-linux-gnu-gcc") || !require("umoci") || !require("runc") || !arm64_runs() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let amd64 = uname_program(dir.path(), "gcc", "uname-amd64");
    let arm64 = uname_program(dir.path(), "aarch64-linux-gnu-gcc", "uname-arm64");
    let base = format!("oci:{}:1", dir.path().join("base").display());
    let base_report = build_both(&amd64, &arm64, &base, &[]);
    let message = dir.path().join("message.txt");
    std::fs::write(&message, "on top\n").unwrap();
    let lock = dir.path().join("pare.lock");
    let out = format!("oci:{}:app", dir.path().join("app").display());
    let build = |extra: &[&str]| -> Value {
        serde_json::from_str(&ok(pare()
            .args([
                "build",
                "--format",
                "json",
                "--platform",
                "linux/amd64,linux/arm64",
            ])
            .args(["--base", &base, "--lock"])
            .arg(&lock)
            .arg("--copy")
            .arg(format!("{}:/message.txt", message.display()))
            .args(["--output", &out])
            .args(extra)))
        .unwrap()
    };
    let report = build(&[]);
    assert!(
        report["base"].is_null(),
        "an index has one base per platform"
    );
    let mut pinned = Vec::new();
    for platform in ["linux/amd64", "linux/arm64"] {
        let image = platform_report(&report, platform);
        let base_image = platform_report(&base_report, platform);
        // Each platform's image is built on the base's image for that platform, and inherits it:
        // its layers below, and its entrypoint.
        assert_eq!(
            image["base"]["digest"], base_image["manifest_digest"],
            "{platform}"
        );
        assert_eq!(image["base"]["lock"], "wrote", "{platform}");
        let layers = |layout: &str, digest: &Value| -> Vec<Value> {
            let manifest = read_json(&blob(&dir.path().join(layout), digest.as_str().unwrap()));
            manifest["layers"].as_array().unwrap().clone()
        };
        let own = layers("app", &image["manifest_digest"]);
        let below = layers("base", &base_image["manifest_digest"]);
        assert_eq!(own.len(), below.len() + 1, "{platform}");
        assert_eq!(own[..below.len()], below[..], "{platform}");
        pinned.push(base_image["manifest_digest"].as_str().unwrap().to_string());
    }
    // One lock per architecture in the file: amd64's on top, arm64's among the others.
    let text = std::fs::read_to_string(&lock).unwrap();
    let parsed: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(parsed["architecture"].as_str(), Some("amd64"), "{text}");
    assert_eq!(
        parsed["base"]["digest"].as_str(),
        Some(pinned[0].as_str()),
        "{text}"
    );
    let others = parsed["other"].as_array().unwrap();
    assert_eq!(others.len(), 1, "{text}");
    assert_eq!(others[0]["architecture"].as_str(), Some("arm64"));
    assert_eq!(
        others[0]["base"]["digest"].as_str(),
        Some(pinned[1].as_str())
    );

    // `--locked` uses both pins, for the same index; `pare lock` finds both still pinned.
    let again = build(&["--locked"]);
    assert_eq!(again["manifest_digest"], report["manifest_digest"]);
    for platform in ["linux/amd64", "linux/arm64"] {
        assert_eq!(platform_report(&again, platform)["base"]["lock"], "used");
    }
    let locked: Value = serde_json::from_str(&ok(pare()
        .args([
            "lock",
            "--format",
            "json",
            "--platform",
            "linux/amd64,linux/arm64",
        ])
        .args(["--base", &base, "--lock"])
        .arg(&lock)))
    .unwrap();
    let listed = locked["platforms"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{locked}");
    for (entry, (platform, digest)) in listed
        .iter()
        .zip(["linux/amd64", "linux/arm64"].iter().zip(&pinned))
    {
        assert_eq!(entry["platform"], *platform);
        assert_eq!(entry["lock"], "used");
        assert_eq!(entry["digest"], digest.as_str());
    }
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        text,
        "nothing moved"
    );

    // The arm64 image runs the base's program through qemu, with the file on top.
    let bundle = platform_bundle(&out, "linux/arm64", dir.path());
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/message.txt")).unwrap(),
        "on top\n"
    );
    let (code, stdout, stderr) = runc_run(&bundle, dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "hello from aarch64");

    // A base with no image for one of the platforms is a clear exit 2.
    let amd64_only = format!("oci:{}:1", dir.path().join("amd64-only").display());
    ok(pare()
        .args(["build", "--platform", "linux/amd64", "--copy"])
        .arg(format!("{}:/hello", amd64.display()))
        .args(["--entrypoint", "/hello", "--output", &amd64_only]));
    let (code, _, err) = run(pare()
        .args(["build", "--platform", "linux/amd64,linux/arm64"])
        .args(["--base", &amd64_only, "--output"])
        .arg(format!("oci:{}:x", dir.path().join("never").display())));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("linux/arm64"), "{err}");

    // A broken base (its arm64 manifest gone) fails that platform's build with exit 2, after the
    // amd64 image was built: a layout the build created is removed, and an existing one keeps
    // its own tags only (no passing tag left behind).
    let broken = dir.path().join("broken-base");
    ok(Command::new("cp")
        .arg("-r")
        .arg(dir.path().join("base"))
        .arg(&broken));
    let arm_manifest = platform_report(&base_report, "linux/arm64")["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(blob(&broken, &arm_manifest)).unwrap();
    let fails_on_broken = |output: &Path| {
        let (code, _, err) = run(pare()
            .args(["build", "--platform", "linux/amd64,linux/arm64", "--base"])
            .arg(format!("oci:{}:1", broken.display()))
            .args(["--output"])
            .arg(format!("oci:{}:new", output.display())));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("the linux/arm64 image"), "{err}");
    };
    let fresh = dir.path().join("fresh");
    fails_on_broken(&fresh);
    assert!(!fresh.exists(), "the layout this build created is gone");
    fails_on_broken(&dir.path().join("app"));
    let tags = ok(Command::new("umoci")
        .arg("ls")
        .arg("--layout")
        .arg(dir.path().join("app")));
    assert_eq!(tags.trim(), "app");
}

#[test]
fn each_platforms_dynamic_program_takes_its_libraries_from_that_platforms_sysroot() {
    if !require("aarch64-linux-gnu-gcc") || !require("umoci") || !require("runc") || !arm64_runs() {
        return;
    }
    // Debian's libc6-arm64-cross: an arm64 root with the loader in lib/ (as the program's
    // PT_INTERP names it) and libc beside it.
    let arm_root = Path::new("/usr/aarch64-linux-gnu");
    assert!(
        arm_root.join("lib/ld-linux-aarch64.so.1").exists(),
        "libc6-arm64-cross (scripts/peers.sh) has no loader in {}",
        arm_root.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("uname.c");
    uname_program(dir.path(), "gcc", "unused");
    let dynamic = |compiler: &str, name: &str| -> PathBuf {
        let out = dir.path().join(name);
        ok(Command::new(compiler)
            .args(["-O2", "-o"])
            .arg(&out)
            .arg(&source));
        out
    };
    let amd64 = dynamic("gcc", "dyn-amd64");
    let arm64 = dynamic("aarch64-linux-gnu-gcc", "dyn-arm64");
    let out = format!("oci:{}:1", dir.path().join("dyn").display());
    let build = |extra: &[&str]| {
        let mut cmd = build_both_command(&amd64, &arm64, &out);
        cmd.args(extra).current_dir(dir.path());
        run(&mut cmd)
    };
    // Against the build host's root the arm64 program's loader and libc are not there (the
    // host's x86-64 libc is not taken for it): a clear exit 2 naming the platform and the fix.
    let (code, _, err) = build(&[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the linux/arm64 image"), "{err}");
    assert!(err.contains("ld-linux-aarch64.so.1"), "{err}");
    assert!(err.contains("--sysroot OS/ARCH=DIR"), "{err}");

    let sysroot = format!("linux/arm64={}", arm_root.display());
    let (code, stdout, err) = build(&["--sysroot", &sysroot]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let arm = crate::support::added_libraries(platform_report(&report, "linux/arm64"));
    assert!(
        arm.iter().any(|p| p == "/lib/ld-linux-aarch64.so.1"),
        "{arm:?}"
    );
    let arm_libc = arm
        .iter()
        .find(|p| p.ends_with("/libc.so.6"))
        .unwrap_or_else(|| panic!("no libc in {arm:?}"));
    let amd = crate::support::added_libraries(platform_report(&report, "linux/amd64"));
    assert!(
        amd.iter().any(|p| p.ends_with("ld-linux-x86-64.so.2")),
        "{amd:?}"
    );

    // Each image runs: the arm64 one with the sysroot's libc (the same bytes), through qemu.
    for (platform, machine) in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")] {
        let bundle = platform_bundle(&out, platform, dir.path());
        if platform == "linux/arm64" {
            let in_image =
                std::fs::read(bundle.join("rootfs").join(arm_libc.trim_start_matches('/')))
                    .unwrap();
            let in_root =
                std::fs::read(std::fs::canonicalize(arm_root.join("lib/libc.so.6")).unwrap())
                    .unwrap();
            assert!(in_image == in_root, "the image's libc is the sysroot's");
        }
        let (code, stdout, stderr) = runc_run(&bundle, dir.path());
        assert_eq!(code, 0, "{platform}: {stderr}");
        assert_eq!(stdout.trim(), format!("hello from {machine}"));
    }

    // pare.toml's `[image] sysroots` is the same build.
    std::fs::write(
        dir.path().join("pare.toml"),
        format!(
            "[image]\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\nentrypoint = \"/hello\"\n\
             sysroots = {{ \"linux/arm64\" = \"{}\" }}\n\n\
             [[copy]]\nsrc = \"dyn-amd64\"\ndst = \"/hello\"\nplatform = \"linux/amd64\"\n\n\
             [[copy]]\nsrc = \"dyn-arm64\"\ndst = \"/hello\"\nplatform = \"linux/arm64\"\n\n\
             [build]\noutput = \"{out}\"\n",
            arm_root.display()
        ),
    )
    .unwrap();
    let from_file: Value = serde_json::from_str(&ok(pare()
        .args(["build", "--format", "json"])
        .current_dir(dir.path())))
    .unwrap();
    assert_eq!(from_file["manifest_digest"], report["manifest_digest"]);

    // A sysroot for a platform not built is a mistake, said as one.
    let (code, _, err) = build(&["--sysroot", "linux/riscv64=/srv/riscv"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not one of the platforms"), "{err}");
}

#[test]
fn the_python3_recipe_for_two_platforms_locks_both_and_runs_on_arm64() {
    if !crate::support::require_apt_sources()
        || !require("umoci")
        || !require("runc")
        || !arm64_runs()
    {
        return;
    }
    let cache = crate::support::debian_cache();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "import platform, ssl, json\nprint('python on', platform.machine(), json.dumps(ssl.OPENSSL_VERSION.startswith('OpenSSL')))\n",
    )
    .unwrap();
    let output = format!("oci:{}:1", dir.path().join("out").display());
    let build_to = |output: &str, extra: &[&str]| -> Value {
        serde_json::from_str(&ok(pare()
            .current_dir(dir.path())
            .env("PARE_CACHE_DIR", &cache)
            .args(["build", "--format", "json", "--base", "python3"])
            .args([
                "--platform",
                "linux/amd64,linux/arm64",
                "--lock",
                "pare.lock",
            ])
            .args([
                "--copy",
                "app.py:/app/app.py",
                "--entrypoint",
                "python3",
                "--cmd",
                "/app/app.py",
            ])
            .args(["--output", output])
            .args(extra)))
        .unwrap()
    };
    let build = || build_to(&output, &[]);
    let first = build();
    // One pare.lock: the amd64 lock, with the arm64 one as its [[other]] lock, arm64 .debs in it.
    let lock = std::fs::read_to_string(dir.path().join("pare.lock")).unwrap();
    assert!(lock.contains("[[other]]"), "{lock}");
    assert!(lock.contains("architecture = \"arm64\""), "{lock}");
    assert!(lock.contains("_arm64.deb"), "{lock}");
    // Built again, both platforms use the lock and the index is the same.
    let second = build();
    assert_eq!(second["manifest_digest"], first["manifest_digest"]);
    for image in second["platforms"].as_array().unwrap() {
        assert_eq!(image["packages"]["lock"], "used", "{image}");
    }
    // `pare lock` for both platforms writes the same file the build wrote, one report each.
    let locked: Value = serde_json::from_str(&ok(pare()
        .current_dir(dir.path())
        .env("PARE_CACHE_DIR", &cache)
        .args(["lock", "--format", "json", "--base", "python3"])
        .args([
            "--platform",
            "linux/amd64,linux/arm64",
            "--lock",
            "again.lock",
        ])))
    .unwrap();
    let reports = locked["platforms"].as_array().unwrap();
    assert_eq!(reports.len(), 2, "{locked}");
    for (report, platform) in reports.iter().zip(["linux/amd64", "linux/arm64"]) {
        assert_eq!(report["platform"], platform);
        assert!(report["packages"].as_u64().unwrap() > 10, "{report}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("again.lock")).unwrap(),
        lock
    );
    // With bytecode: each image's own interpreter compiles what its traced run imported, the arm64
    // one under qemu. Bytecode does not depend on the machine, so both get the same layer.
    let compiled = format!("oci:{}:1", dir.path().join("pyc").display());
    let with_pyc = build_to(&compiled, &["--bytecode", "imported"]);
    let top_layer = |platform: &str| -> Value {
        let image = platform_report(&with_pyc, platform);
        assert_eq!(image["bytecode"]["which"], "imported", "{image}");
        assert!(image["bytecode"]["files"].as_u64().unwrap() > 5, "{image}");
        let layers = image["layers"].as_array().unwrap();
        layers[layers.len() - 1].clone()
    };
    let (amd_pyc, arm_pyc) = (top_layer("linux/amd64"), top_layer("linux/arm64"));
    assert_eq!(amd_pyc["digest"], arm_pyc["digest"]);
    assert_eq!(
        build_to(&compiled, &["--bytecode", "imported"])["manifest_digest"],
        with_pyc["manifest_digest"]
    );
    for (reference, what) in [(&output, "as-built"), (&compiled, "with-bytecode")] {
        let here = dir.path().join(what);
        std::fs::create_dir(&here).unwrap();
        for (platform, machine) in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")] {
            let bundle = platform_bundle(reference, platform, &here);
            let (code, stdout, stderr) = runc_run(&bundle, &here);
            assert_eq!(code, 0, "{platform} {what}: {stderr}");
            assert_eq!(stdout.trim(), format!("python on {machine} true"), "{what}");
        }
    }
}
