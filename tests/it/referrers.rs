//! OCI 1.1 referrers: `pare build --sbom` attaches the SBOM to the image, `pare sbom --attached`
//! reads it back, `pare referrers` lists it, and push/pull/copy carry it: through the fallback tag
//! on Debian's Distribution registry (no referrers API), and through the referrers API where a
//! registry has one (the test proxy adds it in front of Distribution). Checked with skopeo, umoci,
//! oci-image-tool, the image-spec JSON schemas Debian packages, and the SBOM validators.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{
    build_hello_report, in_ci, ok, pare, peers_python, read_json, require, run, static_hello,
    Fault, FaultProxy, Registry,
};

const SPDX: &str = "application/spdx+json";
const CYCLONEDX: &str = "application/vnd.cyclonedx+json";

/// `pare referrers IMAGE --format json`.
fn referrers(image: &str) -> Value {
    serde_json::from_str(&ok(pare().args(["referrers", "--format", "json", image]))).unwrap()
}

/// The artifact types a `pare referrers` report lists, sorted.
fn artifact_types(report: &Value) -> Vec<String> {
    let mut types: Vec<String> = report["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["artifact_type"].as_str().unwrap().to_string())
        .collect();
    types.sort();
    types
}

fn sbom(image: &str, format: &str, attached: bool) -> Vec<u8> {
    let mut cmd = pare();
    cmd.args(["-q", "sbom", "--format", format, image]);
    if attached {
        cmd.arg("--attached");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The image-spec JSON schemas of Debian's golang-github-opencontainers-image-spec-dev.
fn image_spec_schemas() -> Option<PathBuf> {
    let dir = PathBuf::from("/usr/share/gocode/src/github.com/opencontainers/image-spec/schema");
    if dir.join("image-manifest-schema.json").is_file() {
        return Some(dir);
    }
    assert!(
        !in_ci(),
        "the image-spec schemas are missing; CI must install golang-github-opencontainers-image-spec-dev (scripts/peers.sh)"
    );
    eprintln!("SKIP: the image-spec schemas are not installed; run scripts/peers.sh");
    None
}

fn check_schema(schemas: &Path, schema: &str, document: &Path) {
    ok(Command::new("check-jsonschema")
        .arg("--base-uri")
        .arg(format!("file://{}/", schemas.display()))
        .arg("--schemafile")
        .arg(schemas.join(schema))
        .arg(document));
}

#[test]
fn build_sbom_attaches_a_referrer_that_reads_back_and_validates() {
    if !require("skopeo") || !require("umoci") || !require("oci-image-tool") {
        return;
    }
    let Some(schemas) = image_spec_schemas() else {
        return;
    };
    let Some(python) = peers_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    let out = dir.path().join("out");
    let image = format!("oci:{}:latest", out.display());
    let plain_report = build_hello_report(&format!("oci:{}:latest", plain.display()), &[]);
    let report = build_hello_report(&image, &["--sbom", "spdx-json", "--sbom", "cyclonedx-json"]);
    // The SBOM goes beside the image: the image itself is the one a plain build makes.
    assert_eq!(report["manifest_digest"], plain_report["manifest_digest"]);
    let attached = report["sbom"].as_array().unwrap();
    assert_eq!(attached.len(), 2);
    // Reproducible: a second build elsewhere attaches the same artifacts (the document names the
    // image by the layout's file name and tag, so that is kept).
    std::fs::create_dir(dir.path().join("second")).unwrap();
    let again = build_hello_report(
        &format!("oci:{}:latest", dir.path().join("second/out").display()),
        &["--sbom", "spdx-json", "--sbom", "cyclonedx-json"],
    );
    assert_eq!(again["sbom"], report["sbom"]);

    // Building into the layout again reuses its layers and takes the SBOM referrers for what
    // they are, not for unreadable images.
    let (code, _, stderr) = run(pare()
        .args(["build", "--sbom", "spdx-json", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output", &image]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("skipping"), "{stderr}");

    let listed = referrers(&image);
    assert_eq!(listed["subject"], report["manifest_digest"]);
    assert_eq!(listed["via"], "layout");
    assert_eq!(artifact_types(&listed), [SPDX, CYCLONEDX]);
    let only_spdx: Value = serde_json::from_str(&ok(pare().args([
        "referrers",
        "--format",
        "json",
        "--artifact-type",
        SPDX,
        &image,
    ])))
    .unwrap();
    assert_eq!(only_spdx["referrers"].as_array().unwrap().len(), 1);

    // --attached reads what the build stored: the same bytes `pare sbom` computes, for both.
    for format in ["spdx-json", "cyclonedx-json"] {
        let stored = sbom(&image, format, true);
        assert_eq!(stored, sbom(&image, format, false), "{format}");
        let file = dir.path().join(format!("attached-{format}.json"));
        std::fs::write(&file, &stored).unwrap();
        if format == "spdx-json" {
            crate::sbom::assert_valid_spdx(&python, &file);
        } else {
            crate::sbom::assert_valid_cyclonedx(&python, &file);
        }
    }

    // Peers: the index and the artifact manifest fit the image-spec schemas; skopeo and umoci see
    // the one tagged image; the referrers are untagged entries.
    check_schema(&schemas, "image-index-schema.json", &out.join("index.json"));
    let index = read_json(&out.join("index.json"));
    for entry in index["manifests"].as_array().unwrap() {
        let hex = entry["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        check_schema(
            &schemas,
            "image-manifest-schema.json",
            &out.join("blobs/sha256").join(hex),
        );
    }
    let untagged: Vec<&Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["annotations"]["org.opencontainers.image.ref.name"].is_null())
        .collect();
    assert_eq!(untagged.len(), 2);
    for entry in untagged {
        let manifest = read_json(
            &out.join("blobs/sha256").join(
                entry["digest"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:"),
            ),
        );
        assert_eq!(manifest["subject"]["digest"], report["manifest_digest"]);
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(manifest["artifactType"], entry["artifactType"]);
    }
    let inspected: Value =
        serde_json::from_str(&ok(Command::new("skopeo").args(["inspect", &image]))).unwrap();
    assert_eq!(inspected["Digest"], report["manifest_digest"]);
    let tags = ok(Command::new("umoci").arg("ls").arg("--layout").arg(&out));
    assert_eq!(tags.trim(), "latest");
    // oci-image-tool implements image-spec 1.0, which has no empty config: it checks the image
    // once the referrers are left behind, and the digest is the same.
    let bare = dir.path().join("bare");
    ok(pare()
        .args(["copy", "--no-referrers", &image])
        .arg(format!("oci:{}:latest", bare.display())));
    let stdout = ok(Command::new("oci-image-tool")
        .args(["validate", "--type", "image"])
        .arg(&bare));
    assert!(stdout.contains("Validation succeeded"), "{stdout}");
    assert_eq!(
        referrers(&format!("oci:{}:latest", bare.display()))["referrers"],
        serde_json::json!([])
    );
    // A layout copy carries them.
    let copied = dir.path().join("copied");
    let copy: Value = serde_json::from_str(&ok(pare()
        .args(["copy", "--format", "json", &image])
        .arg(format!("oci:{}:v1", copied.display()))))
    .unwrap();
    assert_eq!(copy["referrers"], 2);
    assert_eq!(
        sbom(&format!("oci:{}:v1", copied.display()), "spdx-json", true),
        sbom(&image, "spdx-json", true)
    );

    // What cannot hold a referrer, or has none, is a clear exit 2.
    let (code, _, err) = run(pare()
        .args(["build", "--sbom", "spdx-json", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output"])
        .arg(format!(
            "docker-archive:{}",
            dir.path().join("a.tar").display()
        )));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot hold"), "{err}");
    let (code, _, err) = run(pare().args([
        "sbom",
        "--attached",
        &format!("oci:{}:latest", plain.display()),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no SBOM"), "{err}");
}

/// The fallback tag's index at a registry, as skopeo reads it.
fn fallback_index(registry: &str, repo: &str, subject: &str) -> Value {
    let tag = subject.replace(':', "-");
    serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{registry}/{repo}:{tag}"),
    ])))
    .unwrap()
}

#[test]
fn push_pull_and_copy_carry_referrers_by_fallback_tag_or_referrers_api() {
    if !require("skopeo") {
        return;
    }
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let image = format!("oci:{}:latest", out.display());
    let report = build_hello_report(&image, &["--sbom", "spdx-json", "--sbom", "cyclonedx-json"]);
    let subject = report["manifest_digest"].as_str().unwrap().to_string();
    let spdx = sbom(&image, "spdx-json", true);

    // Distribution 2.x has no referrers API: the fallback tag lists both, once each.
    let remote = format!("docker://{}/app:1", registry.addr);
    let pushed: Value = serde_json::from_str(&ok(
        pare().args(["push", "--format", "json", &image, &remote])
    ))
    .unwrap();
    assert_eq!(pushed["referrers"], 2);
    assert_eq!(pushed["fallback_tags"], 2);
    let fallback = fallback_index(&registry.addr, "app", &subject);
    assert_eq!(
        fallback["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let mut listed: Vec<String> = fallback["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["artifactType"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, [SPDX, CYCLONEDX]);
    // Pushing again adds no duplicate.
    let again: Value = serde_json::from_str(&ok(
        pare().args(["push", "--format", "json", &image, &remote])
    ))
    .unwrap();
    assert_eq!(again["fallback_tags"], 0);
    assert_eq!(
        fallback_index(&registry.addr, "app", &subject)["manifests"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let remote_listing = referrers(&remote);
    assert_eq!(remote_listing["via"], "fallback-tag");
    assert_eq!(remote_listing["subject"], subject);
    assert_eq!(sbom(&remote, "spdx-json", true), spdx);

    // A pull brings them into the layout.
    let pulled = dir.path().join("pulled");
    let pull: Value = serde_json::from_str(&ok(pare()
        .args(["pull", "--format", "json", &remote])
        .arg(format!("oci:{}:1", pulled.display()))))
    .unwrap();
    assert_eq!(pull["referrers"], 2);
    assert_eq!(
        sbom(&format!("oci:{}:1", pulled.display()), "spdx-json", true),
        spdx
    );

    // Behind a registry with the referrers API: the manifests are answered with OCI-Subject and no
    // fallback tag is written; the listing comes from the API.
    let api = FaultProxy::start(&registry.addr, Fault::ReferrersApi);
    let with_api = format!("docker://{}/api:1", api.addr);
    let pushed: Value = serde_json::from_str(&ok(
        pare().args(["push", "--format", "json", &image, &with_api])
    ))
    .unwrap();
    assert_eq!(pushed["referrers"], 2);
    assert_eq!(pushed["fallback_tags"], 0);
    assert!(
        !api.requests()
            .iter()
            .any(|r| r.contains("/manifests/sha256-")),
        "{:?}",
        api.requests()
    );
    let api_listing = referrers(&with_api);
    assert_eq!(api_listing["via"], "referrers-api");
    assert_eq!(artifact_types(&api_listing), [SPDX, CYCLONEDX]);
    assert_eq!(
        sbom(&with_api, "cyclonedx-json", true),
        sbom(&image, "cyclonedx-json", true)
    );

    // Registry to registry: from the API side to the plain side, which then gets a fallback tag.
    let copied = format!("docker://{}/copied:1", registry.addr);
    let copy: Value = serde_json::from_str(&ok(
        pare().args(["copy", "--format", "json", &with_api, &copied])
    ))
    .unwrap();
    assert_eq!(copy["manifest_digest"], subject);
    assert_eq!(copy["referrers"], 2);
    assert_eq!(copy["fallback_tags"], 2);
    assert_eq!(sbom(&copied, "spdx-json", true), spdx);
    // --no-referrers leaves them behind.
    let bare = format!("docker://{}/bare:1", registry.addr);
    let copy: Value = serde_json::from_str(&ok(pare().args([
        "copy",
        "--no-referrers",
        "--format",
        "json",
        &with_api,
        &bare,
    ])))
    .unwrap();
    assert_eq!(copy["referrers"], 0);
    assert_eq!(referrers(&bare)["via"], Value::Null);
}

#[test]
fn a_lying_fallback_tag_is_not_believed() {
    if !require("skopeo") {
        return;
    }
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let image = format!("oci:{}:latest", out.display());
    let report = build_hello_report(&image, &[]);
    let subject = report["manifest_digest"].as_str().unwrap().to_string();
    let remote = format!("docker://{}/lie:1", registry.addr);
    ok(pare().args(["push", &image, &remote]));
    // Another image's SBOM in the same repository, listed by a forged fallback tag as this
    // image's.
    let other_image = format!("oci:{}:latest", dir.path().join("other").display());
    build_hello_report(
        &other_image,
        &["--sbom", "spdx-json", "--label", "other=yes"],
    );
    ok(pare().args([
        "push",
        &other_image,
        &format!("docker://{}/lie:other", registry.addr),
    ]));
    let other = referrers(&other_image);
    let forged = &other["referrers"][0];
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": forged["media_type"],
            "digest": forged["digest"],
            "size": forged["size"],
            "artifactType": SPDX,
        }],
    });
    let index_file = dir.path().join("index.json");
    std::fs::write(&index_file, index.to_string()).unwrap();
    let tag = subject.replace(':', "-");
    let url = format!("http://{}/v2/lie/manifests/{tag}", registry.addr);
    ok(Command::new("curl").args([
        "-sf",
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.oci.image.index.v1+json",
        "--data-binary",
        &format!("@{}", index_file.display()),
        &url,
    ]));
    let pulled = dir.path().join("pulled");
    let (code, stdout, stderr) = run(pare()
        .args(["pull", "--format", "json", &remote])
        .arg(format!("oci:{}:1", pulled.display())));
    assert_eq!(code, 0, "{stderr}");
    let pull: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(pull["referrers"], 0);
    assert!(stderr.contains("names another subject"), "{stderr}");
    // --attached does not take the image for its SBOM either.
    let (code, _, err) = run(pare().args(["sbom", "--attached", &remote]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("forged"), "{err}");
    // A fallback tag that is not an index makes a push of a referrer fail with exit 2, naming it.
    let sbom_image = format!("oci:{}:s", dir.path().join("with-sbom").display());
    build_hello_report(&sbom_image, &["--sbom", "spdx-json"]);
    let other = format!("docker://{}/notindex:1", registry.addr);
    let url = format!("http://{}/v2/notindex/manifests/{tag}", registry.addr);
    let manifest = out
        .join("blobs/sha256")
        .join(subject.trim_start_matches("sha256:"));
    ok(pare().args([
        "push",
        &image,
        &format!("docker://{}/notindex:plain", registry.addr),
    ]));
    ok(Command::new("curl").args([
        "-sf",
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.oci.image.manifest.v1+json",
        "--data-binary",
        &format!("@{}", manifest.display()),
        &url,
    ]));
    let (code, _, err) = run(pare().args(["push", &sbom_image, &other]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sha256-"), "{err}");
}
