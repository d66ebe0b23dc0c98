//! `pare push`, `pull` and `copy` against a real Distribution registry on 127.0.0.1 (through a
//! fault-injecting proxy where a test needs to count or break requests), and against archives and
//! layouts that other tools wrote.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{
    assert_layout_intact, ok, pare, read_json, require, require_docker, run, static_hello, Fault,
    FaultProxy, Registry,
};

/// pare with its cache and the auth files pointed at a temporary directory, so the host's logins and
/// earlier runs play no part.
fn isolated_pare(home: &Path) -> Command {
    let mut cmd = pare();
    cmd.env("PARE_CACHE_DIR", home.join("cache"))
        .env("HOME", home)
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CONFIG_HOME");
    cmd
}

fn transfer(home: &Path, verb: &str, args: &[&str]) -> Value {
    let out = ok(isolated_pare(home)
        .args([verb, "--format", "json"])
        .args(args));
    serde_json::from_str(&out).unwrap()
}

/// Builds the static hello image into a layout under `dir`; returns (layout reference, digest).
fn hello_layout(dir: &Path) -> (String, String) {
    let reference = format!("oci:{}:latest", dir.join("src").display());
    let out = ok(pare()
        .args(["build", "--format", "json", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output", &reference]));
    let report: Value = serde_json::from_str(&out).unwrap();
    (
        reference,
        report["manifest_digest"].as_str().unwrap().to_string(),
    )
}

fn skopeo_digest(reference: &str) -> String {
    let out = ok(Command::new("skopeo").args(["inspect", "--tls-verify=false", reference]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

#[test]
fn push_and_pull_keep_the_digest_and_interoperate_with_skopeo() {
    if !require("skopeo") || !require("oci-image-tool") {
        return;
    }
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (src, digest) = hello_layout(dir.path());
    let remote = format!("docker://{}/pare/hello:1", registry.addr);
    let pushed = transfer(dir.path(), "push", &[&src, &remote]);
    assert_eq!(pushed["schema"], "pare.transfer/v1");
    assert_eq!(pushed["manifest_digest"], digest);
    assert_eq!(pushed["blobs_transferred"], 3);
    // skopeo reads what pare pushed.
    assert_eq!(skopeo_digest(&remote), digest);
    // pare pulls it back with the same digest, into a valid layout.
    let back = dir.path().join("back");
    let pulled = transfer(
        dir.path(),
        "pull",
        &[&remote, &format!("oci:{}:again", back.display())],
    );
    assert_eq!(pulled["manifest_digest"], digest);
    ok(Command::new("oci-image-tool")
        .args(["validate", "--type", "image"])
        .arg(&back));
    // pare pulls what skopeo pushed.
    let by_skopeo = format!("docker://{}/skopeo/hello:2", registry.addr);
    ok(Command::new("skopeo").args(["copy", "--dest-tls-verify=false", &src, &by_skopeo]));
    let theirs = transfer(
        dir.path(),
        "pull",
        &[&by_skopeo, &format!("oci:{}:skopeo", back.display())],
    );
    assert_eq!(theirs["manifest_digest"], skopeo_digest(&by_skopeo));
    assert_eq!(
        theirs["blobs_transferred"], 0,
        "every blob was already in the layout: {theirs}"
    );
    // And a pull by digest.
    let by_digest = format!("docker://{}/pare/hello@{digest}", registry.addr);
    let pinned = transfer(
        dir.path(),
        "copy",
        &[
            &by_digest,
            &format!("oci-archive:{}", dir.path().join("a.tar").display()),
        ],
    );
    assert_eq!(pinned["manifest_digest"], digest);
}

#[test]
fn an_unchanged_push_uploads_nothing_and_other_repositories_mount() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let proxy = FaultProxy::start(&registry.addr, Fault::None);
    let dir = tempfile::tempdir().unwrap();
    let (src, _) = hello_layout(dir.path());
    let first = transfer(
        dir.path(),
        "push",
        &[&src, &format!("docker://{}/team/app:1", proxy.addr)],
    );
    assert_eq!(first["blobs_transferred"], 3);
    proxy.clear();
    let second = transfer(
        dir.path(),
        "push",
        &[&src, &format!("docker://{}/team/app:1", proxy.addr)],
    );
    assert_eq!(second["blobs_transferred"], 0);
    assert_eq!(second["blobs_already_present"], 3);
    let requests = proxy.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.starts_with("HEAD") || r.starts_with("PUT /v2/team/app/manifests/")),
        "a no-op push only asks and writes the manifest: {requests:#?}"
    );
    assert_eq!(requests.len(), 4, "{requests:#?}");
    proxy.clear();
    let other = transfer(
        dir.path(),
        "push",
        &[&src, &format!("docker://{}/team/other:1", proxy.addr)],
    );
    assert_eq!(other["blobs_mounted"], 3, "{other}");
    let requests = proxy.requests();
    assert_eq!(
        requests.iter().filter(|r| r.contains("mount=")).count(),
        3,
        "{requests:#?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.starts_with("PATCH") || r.contains("digest=")),
        "{requests:#?}"
    );
}

#[test]
fn basic_auth_works_and_a_wrong_password_is_a_clear_error() {
    let Some(registry) = Registry::start_with_auth(Some(("alice", "s3cret"))) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (src, digest) = hello_layout(dir.path());
    let remote = format!("docker://{}/private/app:1", registry.addr);
    let pushed = transfer(
        dir.path(),
        "push",
        &["--creds", "alice:s3cret", &src, &remote],
    );
    assert_eq!(pushed["manifest_digest"], digest);

    let (code, _, stderr) = run(isolated_pare(dir.path())
        .args(["pull", "--creds", "alice:wrong", &remote])
        .arg(format!("oci:{}:x", dir.path().join("denied").display())));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("refused the credentials of user \"alice\""),
        "{stderr}"
    );
    let (code, _, stderr) = run(isolated_pare(dir.path())
        .args(["pull", &remote])
        .arg(format!("oci:{}:x", dir.path().join("anonymous").display())));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("requires credentials"), "{stderr}");
    assert!(
        !dir.path().join("denied/index.json").exists() || {
            let index = read_json(&dir.path().join("denied/index.json"));
            index["manifests"].as_array().unwrap().is_empty()
        }
    );

    // Credentials stored the way `docker login` stores them are found.
    fs::create_dir_all(dir.path().join("docker")).unwrap();
    let auth = base64_encode(b"alice:s3cret");
    fs::write(
        dir.path().join("docker/config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.addr),
    )
    .unwrap();
    let pulled = transfer(
        dir.path(),
        "pull",
        &[
            &remote,
            &format!("oci:{}:x", dir.path().join("ok").display()),
        ],
    );
    assert_eq!(pulled["manifest_digest"], digest);

    // And so are the answers of a docker credential helper named in credHelpers.
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-pare-test");
    fs::write(
        &helper,
        "#!/bin/sh\nread server\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"s3cret\"}' \"$server\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        dir.path().join("docker/config.json"),
        format!(r#"{{"credHelpers":{{"{}":"pare-test"}}}}"#, registry.addr),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = ok(isolated_pare(dir.path())
        .env("PATH", path)
        .args(["pull", "--format", "json", &remote])
        .arg(format!("oci:{}:x", dir.path().join("helper").display())));
    let pulled: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(pulled["manifest_digest"], digest);
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_500_or_a_dropped_upload_is_retried() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (src, digest) = hello_layout(dir.path());
    let flaky = FaultProxy::start(
        &registry.addr,
        Fault::Status500Once("PUT /v2/flaky/app/manifests/"),
    );
    let pushed = transfer(
        dir.path(),
        "push",
        &[&src, &format!("docker://{}/flaky/app:1", flaky.addr)],
    );
    assert_eq!(pushed["manifest_digest"], digest);
    assert!(pushed["retries"].as_u64().unwrap() >= 1, "{pushed}");

    let dropping = FaultProxy::start(&registry.addr, Fault::DropUploadOnce);
    let pushed = transfer(
        dir.path(),
        "push",
        &[&src, &format!("docker://{}/dropped/app:1", dropping.addr)],
    );
    assert_eq!(pushed["manifest_digest"], digest);
    assert!(pushed["retries"].as_u64().unwrap() >= 1, "{pushed}");
    // What landed is whole: pull it back directly and check every blob.
    let back = dir.path().join("back");
    transfer(
        dir.path(),
        "pull",
        &[
            &format!("docker://{}/dropped/app:1", registry.addr),
            &format!("oci:{}:x", back.display()),
        ],
    );
    assert_layout_intact(&back);
}

#[test]
fn a_blob_that_does_not_match_its_digest_fails_and_leaves_no_corrupt_layout() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (src, _) = hello_layout(dir.path());
    transfer(
        dir.path(),
        "push",
        &[&src, &format!("docker://{}/app/x:1", registry.addr)],
    );
    let corrupting = FaultProxy::start(&registry.addr, Fault::CorruptBlobs);
    let dest = dir.path().join("dest");
    let (code, _, stderr) = run(isolated_pare(dir.path())
        .args(["pull", &format!("docker://{}/app/x:1", corrupting.addr)])
        .arg(format!("oci:{}:x", dest.display())));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("digest") && stderr.contains("nothing was stored"),
        "{stderr}"
    );
    assert_layout_intact(&dest);
    assert!(
        !dest.exists(),
        "a failed pull into a new directory leaves nothing"
    );
    if dest.join("index.json").exists() {
        let index = read_json(&dest.join("index.json"));
        assert!(
            index["manifests"].as_array().unwrap().is_empty(),
            "no tag points at a broken image: {index}"
        );
    }
}

#[test]
fn archives_and_layouts_other_tools_wrote_are_read() {
    if !require("skopeo") || !require("umoci") || !require("oci-image-tool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (src, digest) = hello_layout(dir.path());
    // skopeo's oci-archive: same image, same digest.
    let skopeo_archive = dir.path().join("skopeo.tar");
    ok(Command::new("skopeo").args([
        "copy",
        &src,
        &format!("oci-archive:{}:v1", skopeo_archive.display()),
    ]));
    let copied = transfer(
        dir.path(),
        "copy",
        &[
            &format!("oci-archive:{}:v1", skopeo_archive.display()),
            &format!("oci:{}:from-skopeo", dir.path().join("l1").display()),
        ],
    );
    assert_eq!(copied["manifest_digest"], digest);
    // umoci's layout: a new layer added by umoci, read back by pare into a docker-archive skopeo reads.
    let umoci_layout = dir.path().join("umoci");
    ok(Command::new("skopeo").args([
        "copy",
        &src,
        &format!("oci:{}:base", umoci_layout.display()),
    ]));
    let extra = dir.path().join("extra.txt");
    fs::write(&extra, "added by umoci\n").unwrap();
    ok(Command::new("umoci")
        .args(["insert", "--image"])
        .arg(format!("{}:base", umoci_layout.display()))
        .arg(&extra)
        .arg("/extra.txt"));
    let converted = dir.path().join("from-umoci.tar");
    let report = transfer(
        dir.path(),
        "copy",
        &[
            &format!("oci:{}:base", umoci_layout.display()),
            &format!("docker-archive:{}:from/umoci:1", converted.display()),
        ],
    );
    assert_eq!(report["blobs"], 4);
    ok(Command::new("skopeo").args([
        "inspect",
        &format!("docker-archive:{}:from/umoci:1", converted.display()),
    ]));
    // A skopeo-written docker-archive (the classic docker save layout) converts with a note.
    let classic = dir.path().join("classic.tar");
    ok(Command::new("skopeo").args([
        "copy",
        &src,
        &format!("docker-archive:{}:classic/app:1", classic.display()),
    ]));
    let from_classic = transfer(
        dir.path(),
        "copy",
        &[
            &format!("docker-archive:{}", classic.display()),
            &format!("oci:{}:classic", dir.path().join("l2").display()),
        ],
    );
    assert!(from_classic["digest_changed"].is_string(), "{from_classic}");
    ok(Command::new("oci-image-tool")
        .args(["validate", "--type", "image"])
        .arg(dir.path().join("l2")));
}

#[test]
fn docker_save_output_is_read_and_runs_again() {
    if !require_docker() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("pare-it-saved:{}", std::process::id());
    let archive = dir.path().join("built.tar");
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output"])
        .arg(format!("docker-archive:{}:{name}", archive.display())));
    ok(Command::new("docker").args(["load", "-i"]).arg(&archive));
    let saved = dir.path().join("saved.tar");
    ok(Command::new("docker")
        .args(["save", "-o"])
        .arg(&saved)
        .arg(&name));
    let _ = Command::new("docker").args(["rmi", "-f", &name]).output();
    let renamed = format!("pare-it-resaved:{}", std::process::id());
    let report = transfer(
        dir.path(),
        "copy",
        &[
            &format!("docker-archive:{}:{name}", saved.display()),
            &format!(
                "docker-archive:{}:{renamed}",
                dir.path().join("again.tar").display()
            ),
        ],
    );
    assert_eq!(report["blobs"], 3);
    ok(Command::new("docker")
        .args(["load", "-i"])
        .arg(dir.path().join("again.tar")));
    let out = ok(Command::new("docker").args(["run", "--rm", &renamed]));
    let _ = Command::new("docker")
        .args(["rmi", "-f", &renamed])
        .output();
    assert_eq!(out.trim(), "hello from pare, uid 65532");
}

#[test]
fn hostile_archives_are_refused_without_writing_outside() {
    let dir = tempfile::tempdir().unwrap();
    let (src, _) = hello_layout(dir.path());
    let good = dir.path().join("good.tar");
    transfer(
        dir.path(),
        "copy",
        &[&src, &format!("oci-archive:{}", good.display())],
    );
    let bytes = fs::read(&good).unwrap();
    let dest = |name: &str| format!("oci:{}:x", dir.path().join(name).display());

    // Truncated.
    let truncated = dir.path().join("truncated.tar");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, stderr) = run(isolated_pare(dir.path()).args([
        "copy",
        &format!("oci-archive:{}", truncated.display()),
        &dest("t"),
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        !dir.path().join("t").exists(),
        "no layout from a truncated archive"
    );

    // A blob whose bytes do not match its name.
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut builder = tar::Builder::new(Vec::new());
    let mut flipped = false;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let path = entry.path().unwrap().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if !flipped && path.to_string_lossy().starts_with("blobs/sha256/") && data.len() > 1000 {
            data[500] ^= 1;
            flipped = true;
        }
        builder.append_data(&mut header, &path, &data[..]).unwrap();
    }
    // And an entry that tries to climb out, which must be ignored.
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    let evil = b"evil";
    header.as_gnu_mut().unwrap().name[..16].copy_from_slice(b"../../escaped.tx");
    header.set_cksum();
    builder.append(&header, &evil[..]).unwrap();
    let corrupt = dir.path().join("corrupt.tar");
    fs::write(&corrupt, builder.into_inner().unwrap()).unwrap();
    let (code, _, stderr) = run(isolated_pare(dir.path()).args([
        "copy",
        &format!("oci-archive:{}", corrupt.display()),
        &dest("c"),
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("corrupt"), "{stderr}");
    assert!(!dir.path().join("c").exists());
    assert!(!dir.path().parent().unwrap().join("escaped.tx").exists());

    // Not an archive at all, and malformed JSON inside one.
    let garbage = dir.path().join("garbage.tar");
    fs::write(&garbage, b"this is not a tar file at all, just text").unwrap();
    let (code, _, stderr) = run(isolated_pare(dir.path()).args([
        "copy",
        &format!("oci-archive:{}", garbage.display()),
        &dest("g"),
    ]));
    assert_eq!(code, 2, "{stderr}");
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("oci-layout", &br#"{"imageLayoutVersion":"1.0.0"}"#[..]),
        ("index.json", &b"{\"manifests\": [oops"[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        builder.append_data(&mut h, name, data).unwrap();
    }
    let bad_json = dir.path().join("badjson.tar");
    fs::write(&bad_json, builder.into_inner().unwrap()).unwrap();
    let (code, _, stderr) = run(isolated_pare(dir.path()).args([
        "copy",
        &format!("oci-archive:{}", bad_json.display()),
        &dest("j"),
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("index.json"), "{stderr}");
}

#[test]
fn build_pushes_straight_to_a_registry() {
    if !require("skopeo") {
        return;
    }
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, digest) = hello_layout(dir.path());
    let remote = format!("docker://{}/built/app:1", registry.addr);
    let out = ok(isolated_pare(dir.path())
        .args(["build", "--format", "json", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output", &remote]));
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["manifest_digest"], digest,
        "same inputs, same digest, wherever it goes"
    );
    assert_eq!(skopeo_digest(&remote), digest);
}

#[test]
fn bearer_tokens_are_fetched_once_per_scope_and_bad_credentials_are_refused() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let gate = FaultProxy::start(&registry.addr, Fault::BearerGate);
    let dir = tempfile::tempdir().unwrap();
    let (src, digest) = hello_layout(dir.path());
    let remote = format!("docker://{}/tokens/app:1", gate.addr);
    let pushed = transfer(
        dir.path(),
        "push",
        &["--creds", "alice:s3cret", &src, &remote],
    );
    assert_eq!(pushed["manifest_digest"], digest);
    let requests = gate.requests();
    let tokens = requests
        .iter()
        .filter(|r| r.starts_with("GET /token"))
        .count();
    assert!(
        (1..=6).contains(&tokens),
        "tokens are cached per scope: {requests:#?}"
    );
    assert!(requests.len() > 2 * tokens, "{requests:#?}");
    let (code, _, stderr) = run(isolated_pare(dir.path())
        .args(["pull", "--creds", "alice:nope", &remote])
        .arg(format!("oci:{}:x", dir.path().join("denied").display())));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
}

#[test]
fn large_blobs_go_up_in_chunks() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let proxy = FaultProxy::start(&registry.addr, Fault::None);
    let dir = tempfile::tempdir().unwrap();
    let (src, digest) = hello_layout(dir.path());
    let remote = format!("docker://{}/chunks/app:1", proxy.addr);
    let pushed = transfer(
        dir.path(),
        "push",
        &["--chunk-size", "65536", &src, &remote],
    );
    assert_eq!(pushed["manifest_digest"], digest);
    let patches = proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with("PATCH"))
        .count();
    // The 340 KB program layer and the 127 KB base layer, in 64 KiB chunks.
    assert!(patches >= 6 + 2, "{:#?}", proxy.requests());
    let back = dir.path().join("back");
    transfer(
        dir.path(),
        "pull",
        &[
            &format!("docker://{}/chunks/app:1", registry.addr),
            &format!("oci:{}:x", back.display()),
        ],
    );
    assert_layout_intact(&back);
}

#[test]
fn docker_v2_manifests_and_multi_platform_indexes_are_pulled() {
    if !require("skopeo") {
        return;
    }
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (src, _) = hello_layout(dir.path());
    // Docker schema 2, written by skopeo: pare keeps its bytes and digest.
    let v2 = format!("docker://{}/docker/v2s2:1", registry.addr);
    ok(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        &src,
        &v2,
    ]));
    let pulled = transfer(
        dir.path(),
        "pull",
        &[&v2, &format!("oci:{}:v2", dir.path().join("v2").display())],
    );
    assert_eq!(pulled["manifest_digest"], skopeo_digest(&v2));

    // An OCI index with an amd64 and an arm64 image, pushed by skopeo --all.
    let multi = dir.path().join("multi");
    let marker = dir.path().join("marker");
    fs::write(&marker, "platform marker\n").unwrap();
    let mut digests = Vec::new();
    for platform in ["linux/amd64", "linux/arm64"] {
        let out = ok(pare()
            .args([
                "build",
                "--format",
                "json",
                "--base",
                "scratch",
                "--platform",
                platform,
                "--copy",
            ])
            .arg(format!("{}:/etc/marker", marker.display()))
            .args([
                "--output",
                &format!("oci:{}:{}", multi.display(), platform.replace('/', "-")),
            ]));
        let report: Value = serde_json::from_str(&out).unwrap();
        digests.push(report["manifest_digest"].as_str().unwrap().to_string());
    }
    let index = read_json(&multi.join("index.json"));
    let mut entries = Vec::new();
    for d in index["manifests"].as_array().unwrap() {
        let mut d = d.clone();
        d.as_object_mut().unwrap().remove("annotations");
        entries.push(d);
    }
    let image_index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    let bytes = serde_json::to_vec(&image_index).unwrap();
    let index_digest = crate::support::sha256_file(&bytes);
    fs::write(crate::support::blob(&multi, &index_digest), &bytes).unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": bytes.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"}}]});
    fs::write(multi.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    let remote = format!("docker://{}/multi/app:1", registry.addr);
    ok(Command::new("skopeo").args([
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", multi.display()),
        &remote,
    ]));
    let p = dir.path().join("p");
    let arm = transfer(
        dir.path(),
        "pull",
        &[
            "--platform",
            "linux/arm64",
            &remote,
            &format!("oci:{}:arm", p.display()),
        ],
    );
    assert_eq!(arm["manifest_digest"], digests[1]);
    let amd = transfer(
        dir.path(),
        "pull",
        &[
            "--platform",
            "linux/amd64",
            &remote,
            &format!("oci:{}:amd", p.display()),
        ],
    );
    assert_eq!(amd["manifest_digest"], digests[0]);
    let (code, _, stderr) = run(isolated_pare(dir.path())
        .args(["pull", "--platform", "linux/s390x", &remote])
        .arg(format!("oci:{}:s", p.display())));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("linux/amd64") && stderr.contains("linux/arm64"),
        "{stderr}"
    );
}

/// An upload `Location` on another host never gets the registry's credentials (issue 16, defect 9):
/// the proxy answers every upload with a Location naming `localhost` instead of `127.0.0.1`; pare
/// must not send `Authorization` there, so the (authenticating) registry behind it refuses the
/// upload and the push fails with a clear error instead of leaking the password.
#[test]
fn credentials_never_follow_an_upload_location_to_another_host() {
    let Some(registry) = Registry::start_with_auth(Some(("alice", "s3cret"))) else {
        return;
    };
    let proxy = FaultProxy::start(&registry.addr, Fault::CrossHostLocation);
    let dir = tempfile::tempdir().unwrap();
    let (src, _) = hello_layout(dir.path());
    let remote = format!("docker://{}/moved/app:1", proxy.addr);
    let (code, _, stderr) =
        run(isolated_pare(dir.path()).args(["push", "--creds", "alice:s3cret", &src, &remote]));
    let requests = proxy.requests();
    let elsewhere: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains("[host=localhost"))
        .collect();
    assert!(
        !elsewhere.is_empty(),
        "the uploads went to the moved Location: {requests:#?}"
    );
    assert!(
        elsewhere.iter().all(|r| r.ends_with("auth=no]")),
        "credentials were sent to another host: {elsewhere:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.contains(&format!("[host={}", proxy.addr)) && r.ends_with("auth=yes]")),
        "the registry's own host still gets them: {requests:#?}"
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A pull into an archive counts each blob once (issue 15, point 8): the download is the transfer.
#[test]
fn a_pull_into_an_archive_counts_each_blob_once() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (src, _) = hello_layout(dir.path());
    let remote = format!("docker://{}/count/hello:1", registry.addr);
    transfer(dir.path(), "push", &[&src, &remote]);
    let archive = dir.path().join("pulled.tar");
    let pulled = transfer(
        dir.path(),
        "pull",
        &[
            &remote,
            &format!("docker-archive:{}:hello:1", archive.display()),
        ],
    );
    // The source layout holds exactly the config, two layers and the manifest.
    let layout = dir.path().join("src");
    let index = read_json(&layout.join("index.json"));
    let manifest_size = index["manifests"][0]["size"].as_u64().unwrap();
    let all: u64 = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(pulled["blobs"], 3, "{pulled}");
    assert_eq!(pulled["blobs_transferred"], 3, "each blob once: {pulled}");
    assert_eq!(pulled["bytes_transferred"], all - manifest_size, "{pulled}");
}

#[test]
fn uncompressed_archive_layers_are_compressed_on_the_way_as_skopeo_does() {
    if !require("skopeo") {
        return;
    }
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // A docker-archive as `docker save` writes it: plain tar layers, here with 2 MB of text.
    let text = dir.path().join("words.txt");
    fs::write(
        &text,
        "the quick brown fox jumps over the lazy dog\n".repeat(50_000),
    )
    .unwrap();
    let archive = dir.path().join("app.tar");
    let built: Value = serde_json::from_str(&ok(pare()
        .args(["build", "--format", "json", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .arg("--copy")
        .arg(format!("{}:/words.txt", text.display()))
        .args(["--entrypoint", "/hello", "--output"])
        .arg(format!("docker-archive:{}:app:1", archive.display()))))
    .unwrap();
    let source = format!("docker-archive:{}:app:1", archive.display());
    let plain_bytes: u64 = built["compressed_size"].as_u64().unwrap();
    let layer_types = |layout: &Path| -> (Vec<String>, Vec<String>) {
        let (manifest, config) = crate::support::image_json(layout, "1");
        (
            manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["mediaType"].as_str().unwrap().to_string())
                .collect(),
            config["rootfs"]["diff_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_string())
                .collect(),
        )
    };
    let (_, source_diff_ids) = {
        let plain = dir.path().join("plain");
        let report = transfer(
            &home,
            "copy",
            &[
                &source,
                &format!("oci:{}:1", plain.display()),
                "--compression",
                "none",
            ],
        );
        assert_eq!(
            report["manifest_digest"], built["manifest_digest"],
            "none keeps the blobs"
        );
        assert!(report["digest_changed"].is_null(), "{report}");
        layer_types(&plain)
    };
    for (name, flag, media) in [
        ("gz", None, "application/vnd.oci.image.layer.v1.tar+gzip"),
        (
            "zst",
            Some("zstd"),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    ] {
        let layout = dir.path().join(name);
        let mut args = vec![source.clone(), format!("oci:{}:1", layout.display())];
        if let Some(flag) = flag {
            args.extend(["--compression".to_string(), flag.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let report = transfer(&home, "copy", &args);
        assert!(
            report["digest_changed"]
                .as_str()
                .is_some_and(|w| w.contains("compressed with")),
            "{report}"
        );
        let (types, diff_ids) = layer_types(&layout);
        assert!(types.iter().all(|t| t == media), "{types:?}");
        assert_eq!(diff_ids, source_diff_ids, "the same files, only compressed");
        assert_layout_intact(&layout);
        // skopeo reads it, and runs nothing but its own checks on the blobs it copies.
        ok(Command::new("skopeo")
            .args(["copy", &format!("oci:{}:1", layout.display())])
            .arg(format!(
                "oci:{}:1",
                dir.path().join(format!("{name}-skopeo")).display()
            )));
    }
    // To a registry: what pare uploads against what skopeo uploads for the same archive.
    let pushed = transfer(
        &home,
        "push",
        &[&source, &format!("docker://{}/pare/app:1", registry.addr)],
    );
    let pare_bytes = pushed["bytes_transferred"].as_u64().unwrap();
    ok(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &source,
        &format!("docker://{}/skopeo/app:1", registry.addr),
    ]));
    let skopeo_raw: Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/skopeo/app:1", registry.addr),
    ])))
    .unwrap();
    let skopeo_bytes: u64 = skopeo_raw["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum::<u64>()
        + skopeo_raw["config"]["size"].as_u64().unwrap();
    assert!(
        pare_bytes * 4 < plain_bytes,
        "pare sent {pare_bytes} bytes of a {plain_bytes}-byte archive"
    );
    assert!(
        pare_bytes <= skopeo_bytes + skopeo_bytes / 10,
        "pare sent {pare_bytes} bytes, skopeo {skopeo_bytes}"
    );
}

#[test]
fn the_docker_engine_is_a_source_and_a_destination() {
    if !require_docker() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (source, _) = hello_layout(dir.path());
    let name = format!("pare-it/daemon-{}:1", std::process::id());
    let daemon = format!("docker-daemon:{name}");
    let loaded = transfer(&home, "copy", &[&source, &daemon]);
    assert_eq!(loaded["destination"], daemon.as_str());
    let result = || {
        let out = ok(Command::new("docker").args(["run", "--rm", &name]));
        assert!(out.contains("hello"), "{out}");
        // Read back from the Engine: audit and copy see the same layers (by diff_id).
        let (code, stdout, stderr) = run(pare().args(["audit", "--format", "json", &daemon]));
        assert_eq!(code, 0, "{stderr}");
        let audited: Value = serde_json::from_str(&stdout).unwrap();
        let (_, src_config) = crate::support::image_json(&dir.path().join("src"), "latest");
        let diff_ids: Vec<&str> = audited["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["diff_id"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = src_config["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert_eq!(diff_ids, expected);
        let back = dir.path().join("back");
        transfer(
            &home,
            "copy",
            &[&daemon, &format!("oci:{}:back", back.display())],
        );
        assert_layout_intact(&back);
        // An image the Engine does not have, and a daemon pare cannot reach, are clear input errors.
        let (code, _, stderr) =
            run(pare().args(["audit", "docker-daemon:pare-it/no-such-image:1"]));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("Docker Engine answered 404"), "{stderr}");
        let (code, _, stderr) = run(pare()
            .env("DOCKER_HOST", "tcp://127.0.0.1:2375")
            .args(["audit", &daemon]));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("unix socket only"), "{stderr}");
    };
    let outcome = std::panic::catch_unwind(result);
    let _ = Command::new("docker").args(["rmi", "-f", &name]).output();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Pushes the hello image to `name` on the registry at `addr`.
fn push_hello(dir: &Path, addr: &str, name: &str) {
    let (src, _) = hello_layout(dir);
    transfer(dir, "push", &[&src, &format!("docker://{addr}/{name}")]);
}

/// Defect 16.8: a registry that drips a blob body or never ends its headers is given up after the
/// request's budget (PARE_REGISTRY_DEADLINE plus the body at PARE_REGISTRY_MIN_RATE), with exit 2
/// and a message naming both knobs, instead of keeping pare running for ever.
#[test]
fn a_dripping_or_endless_registry_is_given_up_in_time() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    push_hello(dir.path(), &registry.addr, "slow/app:1");
    for fault in [Fault::DripBlobs, Fault::EndlessHeaders] {
        let proxy = FaultProxy::start(&registry.addr, fault);
        let started = std::time::Instant::now();
        let (code, _, err) = crate::support::run(
            pare()
                .env("PARE_REGISTRY_DEADLINE", "1")
                .env("PARE_REGISTRY_MIN_RATE", "1000000")
                .args(["pull", "-q"])
                .arg(format!("docker://{}/slow/app:1", proxy.addr))
                .arg(format!("oci:{}:slow", dir.path().join("slow").display())),
        );
        assert_eq!(code, 2, "{fault:?}: {err}");
        assert!(
            err.contains("PARE_REGISTRY_DEADLINE") && err.contains("too slowly"),
            "{fault:?}: {err}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{fault:?}: took {:?}",
            started.elapsed()
        );
    }
    let (code, _, err) = crate::support::run(
        pare()
            .env("PARE_REGISTRY_DEADLINE", "soon")
            .args(["pull", "-q"])
            .arg(format!("docker://{}/slow/app:1", registry.addr))
            .arg(format!("oci:{}:x", dir.path().join("x").display())),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("PARE_REGISTRY_DEADLINE"), "{err}");
}

/// Defect 16.15, the remote cases: a registry that keeps answering 500, redirects a manifest to
/// itself, sends a junk WWW-Authenticate, or cuts blobs short is exit 2 with a message, in time, and
/// leaves no corrupt blob behind.
#[test]
fn misbehaving_registries_are_exit_2_with_a_reason() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    push_hello(dir.path(), &registry.addr, "bad/app:1");
    for (fault, says) in [
        (Fault::Always500, "500"),
        (Fault::RedirectLoop, "redirect"),
        (Fault::JunkChallenge, "WWW-Authenticate"),
        (Fault::ShortBlobs, "broke after"),
    ] {
        let proxy = FaultProxy::start(&registry.addr, fault);
        let out = dir.path().join(format!("{fault:?}"));
        let started = std::time::Instant::now();
        let (code, _, err) = crate::support::run(
            pare()
                .args(["pull", "-q"])
                .arg(format!("docker://{}/bad/app:1", proxy.addr))
                .arg(format!("oci:{}:x", out.display())),
        );
        assert_eq!(code, 2, "{fault:?}: {err}");
        assert!(
            err.to_lowercase().contains(&says.to_lowercase()),
            "{fault:?} should say {says:?}: {err}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(90),
            "{fault:?} took {:?}",
            started.elapsed()
        );
        assert_layout_intact(&out);
    }
}
