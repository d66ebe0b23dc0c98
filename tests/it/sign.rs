//! `pare sign` and `pare verify`: the signature is cosign's (payload fields, DER ECDSA P-256 in the
//! layer annotation, the `sha256-<hex>.sig` tag), openssl verifies it with the public key, keys
//! come from openssl in PKCS#8 and SEC1 form, and a tampered image, payload or signature, a wrong
//! key or a wrong identity fails verification with exit 1.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{
    build_hello_report, ok, pare, require, run, sha256_file, static_hello, Registry,
};

/// A P-256 key pair from openssl: (private key file, public key file). `sec1` writes the private
/// key as `EC PRIVATE KEY` instead of PKCS#8.
pub fn key_pair(dir: &Path, name: &str, sec1: bool) -> (String, String) {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    if sec1 {
        ok(Command::new("openssl")
            .args([
                "ecparam",
                "-genkey",
                "-name",
                "prime256v1",
                "-noout",
                "-out",
            ])
            .arg(&private));
    } else {
        ok(Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
            ])
            .arg(&private));
    }
    ok(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public));
    (private.display().to_string(), public.display().to_string())
}

fn verify(image: &str, public: &str, extra: &[&str]) -> (i32, Value) {
    let (code, stdout, stderr) = run(pare()
        .args(["verify", "--format", "json", "--key", public, image])
        .args(extra));
    assert!(code == 0 || code == 1, "{stderr}");
    (code, serde_json::from_str(&stdout).unwrap())
}

fn put_manifest(registry: &str, repo: &str, tag: &str, manifest: &Value, dir: &Path) {
    let file = dir.join("manifest-put.json");
    std::fs::write(&file, manifest.to_string()).unwrap();
    ok(Command::new("curl").args([
        "-sf",
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.oci.image.manifest.v1+json",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("http://{registry}/v2/{repo}/manifests/{tag}"),
    ]));
}

fn put_blob(registry: &str, repo: &str, bytes: &[u8], dir: &Path) -> String {
    let digest = sha256_file(bytes);
    let file = dir.join("blob-put");
    std::fs::write(&file, bytes).unwrap();
    let location = ok(Command::new("curl").args([
        "-sf",
        "-X",
        "POST",
        "-o",
        "/dev/null",
        "-w",
        "%header{location}",
        &format!("http://{registry}/v2/{repo}/blobs/uploads/"),
    ]));
    let sep = if location.contains('?') { '&' } else { '?' };
    let url = if location.starts_with("http") {
        format!("{location}{sep}digest={digest}")
    } else {
        format!("http://{registry}{location}{sep}digest={digest}")
    };
    ok(Command::new("curl").args([
        "-sf",
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &format!("@{}", file.display()),
        &url,
    ]));
    digest
}

#[test]
fn signatures_are_cosigns_verify_with_openssl_and_tampering_fails() {
    if !require("openssl") || !require("skopeo") || !require("curl") {
        return;
    }
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}:latest", dir.path().join("out").display());
    let built = build_hello_report(&layout, &[]);
    let digest = built["manifest_digest"].as_str().unwrap().to_string();
    let image = format!("docker://{}/app:1", registry.addr);
    ok(pare().args(["push", &layout, &image]));

    let (key, public) = key_pair(dir.path(), "a", false);
    let signed: Value = serde_json::from_str(&ok(pare().args([
        "sign",
        "--format",
        "json",
        "--key",
        &key,
        "-a",
        "git=1f2e3d",
        &image,
    ])))
    .unwrap();
    assert_eq!(signed["digest"], digest);
    let tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    assert_eq!(signed["tag"], tag);
    assert_eq!(signed["identity"], format!("{}/app", registry.addr));
    let (code, report) = verify(&image, &public, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["signatures"][0]["annotations"]["git"], "1f2e3d");

    // The stored signature, field by field, as cosign documents it.
    let manifest: Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/app:{tag}", registry.addr),
    ])))
    .unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let signature = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap()
        .to_string();
    let payload_url = format!(
        "http://{}/v2/app/blobs/{}",
        registry.addr,
        layer["digest"].as_str().unwrap()
    );
    let payload = Command::new("curl")
        .args(["-sf", &payload_url])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(sha256_file(&payload), layer["digest"].as_str().unwrap());
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        claims["critical"]["identity"]["docker-reference"],
        format!("{}/app", registry.addr)
    );
    assert_eq!(
        claims["critical"]["image"]["docker-manifest-digest"],
        digest
    );
    assert_eq!(
        claims["critical"]["type"],
        "cosign container image signature"
    );
    assert_eq!(claims["optional"], serde_json::json!({"git": "1f2e3d"}));
    assert_eq!(claims.as_object().unwrap().len(), 2);
    // openssl checks the signature over the payload with the public key.
    let payload_file = dir.path().join("payload.json");
    std::fs::write(&payload_file, &payload).unwrap();
    let sig_b64 = dir.path().join("payload.sig.b64");
    std::fs::write(&sig_b64, &signature).unwrap();
    let sig_file = dir.path().join("payload.sig");
    ok(Command::new("openssl")
        .args(["base64", "-d", "-A", "-in"])
        .arg(&sig_b64)
        .arg("-out")
        .arg(&sig_file));
    let out = ok(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", &public, "-signature"])
        .arg(&sig_file)
        .arg(&payload_file));
    assert!(out.contains("Verified OK"), "{out}");

    // A second signer (a SEC1 key) adds a layer; both verify with their own keys.
    let (key_b, public_b) = key_pair(dir.path(), "b", true);
    let signed_b: Value = serde_json::from_str(&ok(
        pare().args(["sign", "--format", "json", "--key", &key_b, &image])
    ))
    .unwrap();
    assert_eq!(signed_b["signatures"], 2);
    assert_eq!(verify(&image, &public_b, &[]).0, 0);
    assert_eq!(verify(&image, &public, &[]).0, 0);

    // Copies carry the signature tag: registry to layout to another repository, where it verifies
    // under the identity it was signed with.
    let copied = dir.path().join("copied");
    let pulled: Value = serde_json::from_str(&ok(pare()
        .args(["pull", "--format", "json", &image])
        .arg(format!("oci:{}:1", copied.display()))))
    .unwrap();
    assert_eq!(pulled["cosign_tags"], 1);
    let copied_ref = format!("oci:{}:1", copied.display());
    let identity = format!("{}/app", registry.addr);
    assert_eq!(
        verify(&copied_ref, &public, &["--identity", &identity]).0,
        0
    );
    let mirror = format!("docker://{}/mirror:1", registry.addr);
    let pushed: Value = serde_json::from_str(&ok(pare().args([
        "push",
        "--format",
        "json",
        &copied_ref,
        &mirror,
    ])))
    .unwrap();
    assert_eq!(pushed["cosign_tags"], 1);
    assert_eq!(verify(&mirror, &public, &["--identity", &identity]).0, 0);
    assert_eq!(verify(&mirror, &public_b, &["--identity", &identity]).0, 0);
    // ... and a signature claims its own repository: at the mirror's name it does not verify.
    assert_eq!(verify(&mirror, &public, &[]).0, 1);
    let direct = format!("docker://{}/direct:1", registry.addr);
    let copy: Value = serde_json::from_str(&ok(
        pare().args(["copy", "--format", "json", &image, &direct])
    ))
    .unwrap();
    assert_eq!(copy["cosign_tags"], 1);
    assert_eq!(verify(&direct, &public, &["--identity", &identity]).0, 0);
    let bare = format!("docker://{}/bare:1", registry.addr);
    ok(pare().args(["copy", "--no-referrers", &image, &bare]));
    assert_eq!(verify(&bare, &public, &["--identity", &identity]).0, 1);

    // Wrong key, wrong identity: exit 1, with the reason.
    let (_, public_c) = key_pair(dir.path(), "c", false);
    let (code, report) = verify(&image, &public_c, &[]);
    assert_eq!(code, 1);
    assert!(report["signatures"][0]["problem"]
        .as_str()
        .unwrap()
        .contains("does not verify"));
    let (code, report) = verify(&image, &public, &["--identity", "registry.example/other"]);
    assert_eq!(code, 1);
    assert!(report.to_string().contains("claims identity"), "{report}");

    // A tampered signature: one flipped character of the annotation.
    let mut tampered = manifest.clone();
    let mut flipped: Vec<char> = signature.chars().collect();
    let i = flipped.len() / 2;
    flipped[i] = if flipped[i] == 'A' { 'B' } else { 'A' };
    tampered["layers"] = serde_json::json!([{
        "mediaType": layer["mediaType"],
        "digest": layer["digest"],
        "size": layer["size"],
        "annotations": {"dev.cosignproject.cosign/signature": flipped.into_iter().collect::<String>()},
    }]);
    put_manifest(&registry.addr, "app", &tag, &tampered, dir.path());
    let (code, report) = verify(&image, &public, &[]);
    assert_eq!(code, 1, "{report}");
    // A tampered payload: another image's digest in it, the original signature kept.
    let forged = String::from_utf8(payload.clone())
        .unwrap()
        .replace(digest.trim_start_matches("sha256:"), &"0".repeat(64));
    let forged_digest = put_blob(&registry.addr, "app", forged.as_bytes(), dir.path());
    tampered["layers"] = serde_json::json!([{
        "mediaType": layer["mediaType"],
        "digest": forged_digest,
        "size": forged.len(),
        "annotations": {"dev.cosignproject.cosign/signature": signature},
    }]);
    put_manifest(&registry.addr, "app", &tag, &tampered, dir.path());
    let (code, report) = verify(&image, &public, &[]);
    assert_eq!(code, 1, "{report}");
    assert!(report.to_string().contains("does not verify"), "{report}");
    // The original manifest back: it verifies again.
    put_manifest(&registry.addr, "app", &tag, &manifest, dir.path());
    assert_eq!(verify(&image, &public, &[]).0, 0);
    // A tampered image: another image under the tag has no signature.
    let other = format!("oci:{}:latest", dir.path().join("other").display());
    build_hello_report(&other, &["--label", "tampered=yes"]);
    ok(pare().args(["push", &other, &image]));
    let (code, report) = verify(&image, &public, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["signatures"], serde_json::json!([]));

    // A layout is signed in place; its identity is given, since a layout has no registry name.
    let (code, _, err) = run(pare().args(["sign", "--key", &key, &layout]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--identity"), "{err}");
    ok(pare().args([
        "sign",
        "--key",
        &key,
        "--identity",
        "registry.example/team/app",
        &layout,
    ]));
    assert_eq!(
        verify(
            &layout,
            &public,
            &["--identity", "registry.example/team/app"]
        )
        .0,
        0
    );
    assert_eq!(verify(&layout, &public_b, &[]).0, 1);
    // With the referrers API, the signatures are also an OCI 1.1 referrer (cosign's oci-1-1 mode),
    // which verify reads when the tag is gone or spoiled.
    let api =
        crate::support::FaultProxy::start(&registry.addr, crate::support::Fault::ReferrersApi);
    let via_api = format!("docker://{}/viaapi:1", api.addr);
    ok(pare().args(["push", &layout, &via_api]));
    let signed: Value = serde_json::from_str(&ok(
        pare().args(["sign", "--format", "json", "--key", &key, &via_api])
    ))
    .unwrap();
    let referrer = signed["referrer"]
        .as_str()
        .expect("a referrer was written")
        .to_string();
    let listed: Value = serde_json::from_str(&ok(pare().args([
        "referrers",
        "--format",
        "json",
        &via_api,
    ])))
    .unwrap();
    // The layout's own signature referrer came along with the push; the new one is listed too.
    let ours: Vec<&Value> = listed["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["digest"] == referrer.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{listed}");
    assert_eq!(
        ours[0]["artifact_type"],
        "application/vnd.dev.cosign.artifact.sig.v1+json"
    );
    let api_tag = signed["tag"].as_str().unwrap();
    // Spoil every signature under the tag: each one's annotation replaced by another signature.
    let mut spoiled: Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/viaapi:{api_tag}", registry.addr),
    ])))
    .unwrap();
    for layer in spoiled["layers"].as_array_mut().unwrap() {
        layer["annotations"]["dev.cosignproject.cosign/signature"] =
            Value::String(signature.clone());
    }
    put_manifest(&registry.addr, "viaapi", api_tag, &spoiled, dir.path());
    let identity_api = format!("{}/viaapi", api.addr);
    let (code, report) = verify(&via_api, &public, &["--identity", &identity_api]);
    assert_eq!(code, 0, "{report}");
    let signatures = report["signatures"].as_array().unwrap();
    assert!(signatures.iter().any(|s| s["verified"] == true), "{report}");
    assert!(
        signatures.iter().any(|s| s["problem"]
            .as_str()
            .is_some_and(|p| p.contains("does not verify"))),
        "the spoiled tag's signatures are read and fail: {report}"
    );
    assert_eq!(
        verify(&via_api, &public_c, &["--identity", &identity_api]).0,
        1
    );

    // Bad keys are exit 2.
    let (code, _, err) = run(pare().args(["sign", "--key", &public, &image]));
    assert_eq!(code, 2, "{err}");
}

/// securesystemslib (an independent DSSE implementation) verifies the envelope with the public key,
/// in-toto's attestation models accept the statement, and a SLSA v1 provenance predicate parses
/// strictly (no unknown field) into in-toto's provenance message. Prints the predicate type.
const CHECK_ENVELOPE: &str = r#"
import json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
key = SSlibKey.from_crypto(load_pem_public_key(open(sys.argv[2], "rb").read()))
raw = json.load(open(sys.argv[1]))
# The keyid is an unsigned hint (cosign leaves it empty); securesystemslib matches keys by it.
for s in raw["signatures"]:
    s["keyid"] = key.keyid
envelope = Envelope.from_dict(raw)
envelope.verify([key], 1)
pb = json_format.ParseDict(json.loads(envelope.payload), statement_pb2.Statement())
Statement.copy_from_pb(pb).validate()
doc = json.loads(envelope.payload)
if doc["predicateType"] == "https://slsa.dev/provenance/v1":
    json_format.ParseDict(doc["predicate"], provenance_pb2.Provenance())
print(doc["predicateType"], doc["subject"][0]["digest"]["sha256"])
"#;

#[test]
fn build_sign_attests_provenance_and_sbom_in_dsse_envelopes() {
    if !require("openssl") || !require("skopeo") || !require("curl") {
        return;
    }
    let Some(python) = crate::support::peers_python() else {
        return;
    };
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = key_pair(dir.path(), "k", false);
    let image = format!("docker://{}/built:1", registry.addr);
    let report = build_hello_report(&image, &["--sbom", "spdx-json", "--sign", "--key", &key]);
    let digest = report["manifest_digest"].as_str().unwrap().to_string();
    let hex = digest.trim_start_matches("sha256:").to_string();
    assert_eq!(report["signed"]["signature"]["digest"], digest);
    let kinds: Vec<&str> = report["signed"]["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["predicate_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "https://slsa.dev/provenance/v1",
            "https://spdx.dev/Document"
        ]
    );
    assert_eq!(verify(&image, &public, &[]).0, 0);
    let verify_attestation = |extra: &[&str]| -> (i32, Value) {
        let (code, stdout, stderr) = run(pare()
            .args([
                "verify-attestation",
                "--format",
                "json",
                "--key",
                &public,
                &image,
            ])
            .args(extra));
        assert!(code == 0 || code == 1, "{stderr}");
        (code, serde_json::from_str(&stdout).unwrap())
    };
    let (code, provenance) = verify_attestation(&["--type", "slsaprovenance1"]);
    assert_eq!(code, 0, "{provenance}");
    let predicate = &provenance["attestations"][0]["predicate"];
    let dependencies = predicate["buildDefinition"]["resolvedDependencies"].to_string();
    let hello = std::fs::read(static_hello()).unwrap();
    assert!(
        dependencies.contains(sha256_file(&hello).trim_start_matches("sha256:")),
        "the copied binary's digest is a resolved dependency: {dependencies}"
    );
    let (code, spdx) = verify_attestation(&["--type", "spdxjson"]);
    assert_eq!(code, 0);
    assert_eq!(
        spdx["attestations"][0]["predicate"]["spdxVersion"],
        "SPDX-2.3"
    );

    // The stored envelopes, checked by securesystemslib and in-toto's models.
    let att = format!("docker://{}/built:sha256-{hex}.att", registry.addr);
    let manifest: Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &att,
    ])))
    .unwrap();
    let layers = manifest["layers"].as_array().unwrap().clone();
    assert_eq!(layers.len(), 2);
    for layer in &layers {
        assert_eq!(layer["mediaType"], "application/vnd.dsse.envelope.v1+json");
        assert_eq!(
            layer["annotations"]["dev.cosignproject.cosign/signature"],
            ""
        );
        let url = format!(
            "http://{}/v2/built/blobs/{}",
            registry.addr,
            layer["digest"].as_str().unwrap()
        );
        let file = dir.path().join("envelope.json");
        std::fs::write(
            &file,
            Command::new("curl")
                .args(["-sf", &url])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let out = ok(Command::new(&python)
            .args(["-c", CHECK_ENVELOPE])
            .arg(&file)
            .arg(&public));
        assert_eq!(
            out.trim(),
            format!(
                "{} {hex}",
                layer["annotations"]["predicateType"].as_str().unwrap()
            )
        );
    }

    // A custom predicate from a file; then a forged statement under the original signature.
    let predicate_file = dir.path().join("predicate.json");
    std::fs::write(
        &predicate_file,
        r#"{"scanner":"pare-test","result":"clean"}"#,
    )
    .unwrap();
    ok(pare()
        .args(["attest", "--key", &key, "--type", "custom", "--predicate"])
        .arg(&predicate_file)
        .arg(&image));
    let (code, custom) = verify_attestation(&["--type", "custom"]);
    assert_eq!(code, 0);
    assert_eq!(custom["attestations"][0]["predicate"]["result"], "clean");
    let (_, public_other) = key_pair(dir.path(), "other", false);
    let (code, _, _) = run(pare().args(["verify-attestation", "--key", &public_other, &image]));
    assert_eq!(code, 1);

    let first = &layers[0];
    let url = format!(
        "http://{}/v2/built/blobs/{}",
        registry.addr,
        first["digest"].as_str().unwrap()
    );
    let envelope: Value = serde_json::from_slice(
        &Command::new("curl")
            .args(["-sf", &url])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let statement = String::from_utf8(
        Command::new("openssl")
            .args(["base64", "-d", "-A"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(envelope["payload"].as_str().unwrap().as_bytes())?;
                child.wait_with_output()
            })
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(statement.contains(&hex));
    let forged_statement = statement.replace("urn:pare", "urn:forged");
    let forged_b64 = {
        let file = dir.path().join("forged-statement.json");
        std::fs::write(&file, &forged_statement).unwrap();
        ok(Command::new("openssl")
            .args(["base64", "-A", "-in"])
            .arg(&file))
    };
    let mut forged = envelope.clone();
    forged["payload"] = Value::String(forged_b64.trim().to_string());
    let forged_bytes = forged.to_string();
    let forged_digest = put_blob(&registry.addr, "built", forged_bytes.as_bytes(), dir.path());
    let mut tampered = manifest.clone();
    tampered["layers"] = serde_json::json!([{
        "mediaType": first["mediaType"],
        "digest": forged_digest,
        "size": forged_bytes.len(),
        "annotations": first["annotations"],
    }]);
    put_manifest(
        &registry.addr,
        "built",
        &format!("sha256-{hex}.att"),
        &tampered,
        dir.path(),
    );
    let (code, report) = verify_attestation(&[]);
    assert_eq!(code, 1, "{report}");
    assert!(
        report
            .to_string()
            .contains("no signature of the envelope verifies"),
        "{report}"
    );
}
