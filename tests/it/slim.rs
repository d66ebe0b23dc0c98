//! `pare slim` on images nobody here wrote the insides of: a debootstrap rootfs with Debian's Python
//! and a CLI app (packed by umoci), the python3 recipe with a Flask app from PyPI's wheels, and the
//! nodejs recipe with a Node service. Each slimmed image is run under runc with the same command as
//! the original and must print the same; the package database syft reads lists only what is left;
//! failed probes write nothing; two slims give one digest. Also `pare build --bytecode`, which
//! shares slim's sandbox runs and compiler.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{blob, image_json, layer_entries, ok, pare, require, run, runc_run, unpack};

/// `pare slim --format json` with `args`; (exit code, report).
fn slim(args: &[String]) -> (i32, Value, String) {
    let (code, stdout, stderr) = run(pare().args(["slim", "--format", "json"]).args(args));
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (code, report, stderr)
}

fn oci(layout: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", layout.display())
}

/// Runs `layout:tag` under runc with `args` as the process; (exit code, stdout).
fn runc_with(layout: &Path, tag: &str, args: &[&str], work: &Path) -> (i32, String, String) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = work.join(format!("runc-{tag}-{n}"));
    fs::create_dir_all(&dir).unwrap();
    let bundle = unpack(layout, tag, &dir);
    let config_path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&fs::read(&config_path).unwrap()).unwrap();
    if !args.is_empty() {
        config["process"]["args"] = serde_json::json!(args);
    }
    fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    runc_run(&bundle, &dir)
}

/// Slims the service image `layout:fat` into `layout:slim` with an HTTP probe on `port` and
/// `probe`; asserts both trees answered HTTP 200 and the service was stopped, prints the
/// reduction under `label`, and returns the report with the file bytes before and after.
fn slim_service(layout: &Path, port: u16, probe: &str, label: &str) -> (Value, u64, u64) {
    let (code, report, stderr) = slim(&[
        oci(layout, "fat"),
        oci(layout, "slim"),
        "--http".into(),
        format!("{port}/"),
        "--probe".into(),
        probe.into(),
    ]);
    assert_eq!(code, 0, "{stderr}\n{report}");
    let entry = &report["original_runs"][0];
    assert_eq!(entry["http"][0]["status"], 200, "{report}");
    assert_eq!(entry["status"], "still running (stopped)", "{report}");
    assert_eq!(
        report["slimmed_runs"][0]["http"][0]["status"], 200,
        "{report}"
    );
    let before = report["before"]["file_bytes"].as_u64().unwrap();
    let after = report["after"]["file_bytes"].as_u64().unwrap();
    eprintln!(
        "{label}: {before} -> {after} file bytes ({:.2}x)",
        before as f64 / after as f64
    );
    (report, before, after)
}

/// Runs `check` under runc in `layout:fat` and in `layout:tag`: both must exit 0 and print the
/// same, which is returned.
fn same_under_runc(layout: &Path, tag: &str, check: &[&str], work: &Path) -> String {
    let (code_fat, out_fat, err_fat) = runc_with(layout, "fat", check, work);
    assert_eq!(code_fat, 0, "{out_fat}\n{err_fat}");
    let (code, out, err) = runc_with(layout, tag, check, work);
    assert_eq!(code, 0, "{tag}: {out}\n{err}");
    assert_eq!(out_fat, out, "{tag} prints what the original prints");
    out
}

/// The entries of the single layer of `layout:tag`.
fn single_layer(layout: &Path, tag: &str) -> Vec<crate::support::TarEntry> {
    let (manifest, _) = image_json(layout, tag);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "a slimmed image is one layer");
    layer_entries(&blob(layout, layers[0]["digest"].as_str().unwrap()))
}

fn kept_reason<'a>(report: &'a Value, path: &str) -> Option<&'a str> {
    report["kept"]
        .as_array()?
        .iter()
        .find(|k| k["path"] == path)
        .and_then(|k| k["reason"].as_str())
}

/// A debootstrap minbase tree with Debian's own python3-minimal installed by dpkg in a chroot,
/// and a CLI app: slimmed, it runs under runc with the same output, keeps no shell, no apt, no
/// dpkg, keeps perl's two hard-linked names as one file, and syft sees only the packages left.
#[test]
fn a_debootstrap_python_app_slims_and_prints_the_same() {
    for tool in ["umoci", "runc", "syft", "chroot", "apt-get"] {
        if !require(tool) {
            return;
        }
    }
    if !crate::support::require_apt_sources() {
        return;
    }
    let Some(minbase) = crate::support::debootstrap_minbase() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    ok(Command::new("cp").arg("-a").arg(minbase).arg(&rootfs));
    // Debian's python3-minimal from the host's apt sources, installed by the image's own dpkg.
    let debs = rootfs.join("tmp/debs");
    fs::create_dir_all(&debs).unwrap();
    // Installed in two steps: python3-minimal pre-depends on python3.11-minimal.
    for group in [
        &[
            "libexpat1",
            "libssl3",
            "libpython3.11-minimal",
            "python3.11-minimal",
        ][..],
        &["python3-minimal"][..],
    ] {
        for name in fs::read_dir(&debs).unwrap() {
            fs::remove_file(name.unwrap().path()).unwrap();
        }
        ok(Command::new("apt-get")
            .current_dir(&debs)
            .args(["download", "-q"])
            .args(group));
        let names: Vec<String> = fs::read_dir(&debs)
            .unwrap()
            .map(|e| format!("/tmp/debs/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        ok(Command::new("chroot")
            .arg(&rootfs)
            .args(["dpkg", "-i"])
            .args(&names));
    }
    fs::remove_dir_all(&debs).unwrap();
    let app = rootfs.join("app");
    fs::create_dir_all(app.join("data")).unwrap();
    fs::write(app.join("data/words.txt"), "slim\nfast\nsafe\n").unwrap();
    fs::write(
        app.join("main.py"),
        "import base64, hashlib, os, re, collections\n\
         words = open('/app/data/words.txt').read().split()\n\
         counts = collections.Counter(w[0] for w in words)\n\
         digest = hashlib.sha256(' '.join(words).encode()).hexdigest()[:16]\n\
         print('words', sorted(counts.items()), digest, base64.b64encode(b'pare').decode())\n\
         print('user', os.getuid(), re.sub('[aeiou]', '_', 'container'))\n",
    )
    .unwrap();
    let layout = work.path().join("oci");
    let image = |tag: &str| format!("{}:{tag}", layout.display());
    ok(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    ok(Command::new("umoci").args(["new", "--image", &image("fat")]));
    ok(Command::new("umoci")
        .args(["insert", "--image", &image("fat")])
        .arg(&rootfs)
        .arg("/"));
    ok(Command::new("umoci").args([
        "config",
        "--image",
        &image("fat"),
        "--config.workingdir",
        "/app",
        "--config.user",
        "nobody",
        "--config.entrypoint",
        "python3",
        "--config.cmd",
        "/app/main.py",
    ]));

    // A probe that fails on the original image writes nothing (exit 1).
    let (code, report, stderr) = slim(&[
        oci(&layout, "fat"),
        oci(&layout, "never"),
        "--probe".into(),
        "python3 -c 'raise SystemExit(3)'".into(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        report["failure"]
            .as_str()
            .unwrap()
            .contains("probe 1 failed on the original image"),
        "{report}"
    );
    assert!(!fs::read_to_string(layout.join("index.json"))
        .unwrap()
        .contains("\"never\""));

    // Excluding what the program needs: the slimmed tree fails its check, nothing is written.
    let (code, report, stderr) = slim(&[
        oci(&layout, "fat"),
        oci(&layout, "broken"),
        "--exclude".into(),
        "/usr/lib/python3.11/base64.py".into(),
    ]);
    assert_eq!(code, 1, "{stderr}\n{report}");
    assert!(
        report["failure"]
            .as_str()
            .unwrap()
            .contains("passes on the original image but fails on the slimmed one"),
        "{report}"
    );
    assert!(!fs::read_to_string(layout.join("index.json"))
        .unwrap()
        .contains("\"broken\""));

    let log = work.path().join("slim.tsv");
    let args = |tag: &str| {
        vec![
            oci(&layout, "fat"),
            oci(&layout, tag),
            "--probe".into(),
            "perl -e 'print 6*7, qq(\\n)'".into(),
            "--include".into(),
            "/usr/bin/perl5.36.0".into(),
            "--log".into(),
            log.display().to_string(),
        ]
    };
    let (code, report, stderr) = slim(&args("slim"));
    assert_eq!(code, 0, "{stderr}\n{report}");
    let (code, again, stderr) = slim(&args("slim2"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        report["manifest_digest"], again["manifest_digest"],
        "two slims of one image with the same probes give one digest"
    );
    let before = report["before"]["file_bytes"].as_u64().unwrap();
    let after = report["after"]["file_bytes"].as_u64().unwrap();
    eprintln!(
        "debootstrap python: {before} -> {after} file bytes ({:.1}x), compressed {} -> {}",
        before as f64 / after as f64,
        report["before"]["compressed"],
        report["after"]["compressed"]
    );
    assert!(before > 5 * after, "{before} -> {after}");
    assert_eq!(
        report["same_output"],
        serde_json::json!([true, true]),
        "{report}"
    );

    // Same output under runc, original and slimmed.
    let (code_fat, out_fat, err_fat) = runc_with(&layout, "fat", &[], work.path());
    assert_eq!(code_fat, 0, "{out_fat}\n{err_fat}");
    let (code_slim, out_slim, err_slim) = runc_with(&layout, "slim", &[], work.path());
    assert_eq!(code_slim, 0, "{out_slim}\n{err_slim}");
    assert_eq!(out_fat, out_slim);
    assert!(out_slim.contains("user 65534 c_nt__n_r"), "{out_slim}");
    let perl = ["/usr/bin/perl", "-e", "print 6*7, qq(\\n)"];
    assert_eq!(runc_with(&layout, "slim", &perl, work.path()).1, "42\n");

    // What is left, by path, as the layer holds it.
    let entries = single_layer(&layout, "slim");
    let by_path: BTreeMap<&str, &crate::support::TarEntry> = entries
        .iter()
        .map(|e| (e.path.trim_start_matches("./").trim_end_matches('/'), e))
        .collect();
    for gone in [
        "usr/bin/bash",
        "usr/bin/apt-get",
        "usr/bin/dpkg",
        "usr/share/doc",
        "var/lib/apt",
    ] {
        assert!(!by_path.contains_key(gone), "{gone} is kept");
    }
    for kept in [
        "usr/bin/python3.11",
        "app/main.py",
        "app/data/words.txt",
        "etc/passwd",
    ] {
        assert!(by_path.contains_key(kept), "{kept} is missing");
    }
    // perl and perl5.36.0 are one file in Debian: one regular entry and one hard link to it.
    let perls: Vec<_> = ["usr/bin/perl", "usr/bin/perl5.36.0"]
        .iter()
        .map(|p| by_path[p])
        .collect();
    let kinds: Vec<_> = perls.iter().map(|e| e.kind).collect();
    assert!(
        kinds.contains(&tar::EntryType::Regular) && kinds.contains(&tar::EntryType::Link),
        "{kinds:?}"
    );
    // Every kept path says why.
    assert!(
        kept_reason(&report, "/usr/bin/python3.11")
            .is_some_and(|r| r.contains("entrypoint") || r.contains("ENTRYPOINT")),
        "{:?}",
        kept_reason(&report, "/usr/bin/python3.11")
    );
    assert!(kept_reason(&report, "/usr/lib/python3.11/base64.py")
        .is_some_and(|r| r.ends_with("by PID 1 during the entrypoint")));
    assert!(kept_reason(&report, "/usr/bin/perl").is_some_and(|r| r.contains("during probe 1")));
    let log_text = fs::read_to_string(&log).unwrap();
    assert!(log_text
        .lines()
        .any(|l| l.starts_with("removed\tfile\t") && l.ends_with("/usr/bin/bash\t")));

    // The package database tells the truth: syft lists the packages left, not the removed ones.
    let slim_layout = work.path().join("slim-only");
    ok(pare().args(["copy", &oci(&layout, "slim"), &oci(&slim_layout, "slim")]));
    let debs = crate::support::syft_deb_versions(&slim_layout);
    let names: Vec<&str> = debs.iter().map(|(n, _)| n.as_str()).collect();
    for present in [
        "python3.11-minimal",
        "libpython3.11-minimal",
        "libc6",
        "perl-base",
    ] {
        assert!(names.contains(&present), "{present} missing from {names:?}");
    }
    for absent in ["apt", "bash", "dpkg", "coreutils", "debconf"] {
        assert!(!names.contains(&absent), "{absent} still listed: {names:?}");
    }
    let removed: Vec<&str> = report["packages"]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        removed.contains(&"apt") && removed.contains(&"bash"),
        "{removed:?}"
    );
}

/// The python3 recipe with Flask from PyPI: slimmed with an HTTP probe and a probe command; the
/// slimmed image answers the same under runc.
#[test]
fn a_flask_app_on_the_python3_recipe_slims_and_answers_the_same() {
    for tool in ["umoci", "runc", "python3"] {
        if !require(tool) {
            return;
        }
    }
    if !crate::support::require_apt_sources() {
        return;
    }
    let deps = crate::support::pip_target("flask-cp311", &["flask"], &["flask", "werkzeug"]);
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app.py");
    fs::write(
        &app,
        "import os, sys\n\
         from flask import Flask, jsonify\n\
         app = Flask(__name__)\n\
         @app.route('/')\n\
         def index():\n    return jsonify(greeting='hello from flask', uid=os.getuid())\n\
         if __name__ == '__main__':\n\
         \x20   if '--check' in sys.argv:\n\
         \x20       r = app.test_client().get('/')\n\
         \x20       print(r.status_code, r.get_json())\n\
         \x20   else:\n\
         \x20       app.run(host='127.0.0.1', port=int(os.environ['PORT']))\n",
    )
    .unwrap();
    let port = crate::support::free_port();
    let layout = work.path().join("oci");
    ok(pare()
        .env("PARE_CACHE_DIR", crate::support::debian_cache())
        .args(["build", "-q", "--base", "python3", "--lock"])
        .arg(work.path().join("python3.lock"))
        .arg("--copy")
        .arg(format!("{}/:/app/deps/", deps.display()))
        .arg("--copy")
        .arg(format!("{}:/app/app.py", app.display()))
        .args(["--env", "PYTHONPATH=/app/deps", "--env"])
        .arg(format!("PORT={port}"))
        .args([
            "--workdir",
            "/app",
            "--entrypoint",
            "/usr/bin/python3",
            "--cmd",
            "/app/app.py",
            "--output",
        ])
        .arg(oci(&layout, "fat")));
    let (_, before, after) = slim_service(
        &layout,
        port,
        "python3 /app/app.py --check",
        "python3 recipe + flask",
    );
    assert!(before as f64 > 1.5 * after as f64, "{before} -> {after}");
    let check = ["/usr/bin/python3", "/app/app.py", "--check"];
    let out_fat = same_under_runc(&layout, "slim", &check, work.path());
    assert!(
        out_fat.contains("200 {'greeting': 'hello from flask', 'uid': 65532}"),
        "{out_fat}"
    );
    let entries = single_layer(&layout, "slim");
    assert!(entries.iter().any(|e| e.path.ends_with("flask/app.py")));
    assert!(
        !entries.iter().any(|e| e.path.contains("gconv/IBM")),
        "gconv modules nothing loaded are gone"
    );

    // Fast starts: bytecode from the image's own interpreter, unchecked-hash (PEP 552 flags 1),
    // the same bytes on a second slim, and the same answer under runc.
    let with_pyc = |tag: &str| {
        slim(&[
            oci(&layout, "fat"),
            oci(&layout, tag),
            "--probe".into(),
            "python3 /app/app.py --check".into(),
            "--bytecode".into(),
            "imported".into(),
        ])
    };
    let (code, pyc, stderr) = with_pyc("pyc");
    assert_eq!(code, 0, "{stderr}\n{pyc}");
    let (_, again, _) = with_pyc("pyc2");
    assert_eq!(pyc["manifest_digest"], again["manifest_digest"]);
    assert!(
        pyc["bytecode"]["count"].as_u64().unwrap() > 100,
        "{}",
        pyc["bytecode"]
    );
    let entries = single_layer(&layout, "pyc");
    let flask_pyc = entries
        .iter()
        .find(|e| e.path.contains("flask/__pycache__/app.cpython-311.pyc"))
        .expect("flask/app.py has its bytecode");
    assert_eq!(
        &flask_pyc.data[4..8],
        &[1, 0, 0, 0],
        "unchecked-hash bytecode"
    );
    assert_eq!(
        same_under_runc(&layout, "pyc", &check, work.path()),
        out_fat
    );
}

/// The nodejs recipe with a Node service: slimmed with an HTTP probe; the same answer under runc.
#[test]
fn a_node_service_on_the_nodejs_recipe_slims_and_answers_the_same() {
    for tool in ["umoci", "runc"] {
        if !require(tool) {
            return;
        }
    }
    if !crate::support::require_apt_sources() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("server.js");
    fs::write(
        &app,
        "const http = require('http'), crypto = require('crypto'), zlib = require('zlib');\n\
         const body = () => JSON.stringify({hash: crypto.createHash('sha256').update('pare').digest('hex').slice(0, 12),\n\
         \x20 gz: zlib.gzipSync('x'.repeat(100)).length > 0, uid: process.getuid()});\n\
         if (process.argv.includes('--check')) { console.log(body()); }\n\
         else { http.createServer((q, s) => s.end(body())).listen(+process.env.PORT, '127.0.0.1'); }\n",
    )
    .unwrap();
    let port = crate::support::free_port();
    let layout = work.path().join("oci");
    ok(pare()
        .env("PARE_CACHE_DIR", crate::support::debian_cache())
        .args(["build", "-q", "--base", "nodejs", "--lock"])
        .arg(work.path().join("nodejs.lock"))
        .arg("--copy")
        .arg(format!("{}:/app/server.js", app.display()))
        .arg("--env")
        .arg(format!("PORT={port}"))
        .args([
            "--entrypoint",
            "/usr/bin/node",
            "--cmd",
            "/app/server.js",
            "--output",
        ])
        .arg(oci(&layout, "fat")));
    let (_, before, after) = slim_service(
        &layout,
        port,
        "node /app/server.js --check",
        "nodejs recipe + service",
    );
    assert!(before > after, "{before} -> {after}");
    let check = ["/usr/bin/node", "/app/server.js", "--check"];
    let out_slim = same_under_runc(&layout, "slim", &check, work.path());
    assert!(out_slim.contains("\"uid\":65532"), "{out_slim}");
}

/// A static program on the static-debian base, slimmed as root and again as an unprivileged user
/// (user namespaces, no capability): both work and give the same digest; what the base carries
/// and the program never reads (the license texts) is gone, its CA bundle and zoneinfo stay.
#[test]
fn a_static_image_slims_the_same_as_root_and_rootless() {
    if !require("setpriv") || !require("gcc") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    // Readable by the unprivileged user below: the source layout and the copy of pare.
    fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let layout = work.path().join("oci");
    ok(pare()
        .args(["build", "-q", "--base", "static-debian", "--copy"])
        .arg(format!(
            "{}:/app/hello",
            crate::support::static_hello().display()
        ))
        .args(["--entrypoint", "/app/hello", "--output"])
        .arg(oci(&layout, "fat")));
    let (code, as_root, stderr) = slim(&[oci(&layout, "fat"), oci(&layout, "slim")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(as_root["original_runs"][0]["status"], "exit status 0");
    let kept: Vec<&str> = as_root["kept"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["path"].as_str())
        .collect();
    assert!(kept.contains(&"/app/hello") && kept.contains(&"/etc/ssl/certs/ca-certificates.crt"));
    assert!(
        !kept
            .iter()
            .any(|p| p.starts_with("/usr/share/common-licenses")),
        "{kept:?}"
    );
    // The distroless-style status.d records follow the files: base-files keeps os-release (a
    // record in part), tzdata keeps its zoneinfo, and the .md5sums are cut to match.
    let partial = as_root["packages"]["partial"].to_string();
    let removed = as_root["packages"]["removed"].to_string();
    assert!(partial.contains("\"base-files\""), "{partial}");
    assert!(
        !removed.contains("\"tzdata\"") && !removed.contains("\"base-files\""),
        "{removed}"
    );
    let sums = single_layer(&layout, "slim")
        .into_iter()
        .find(|e| e.path.ends_with("var/lib/dpkg/status.d/base-files.md5sums"))
        .expect("base-files keeps its file list");
    let sums = String::from_utf8(sums.data).unwrap();
    assert!(sums.contains("usr/lib/os-release"), "{sums}");
    assert!(!sums.contains("common-licenses"), "{sums}");
    // The same as an unprivileged user, with a copy of pare it may run and a layout it owns.
    let euid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    if euid.trim() != "0" {
        return;
    }
    let bin = work.path().join("pare");
    fs::copy(assert_cmd::cargo::cargo_bin("pare"), &bin).unwrap();
    let user_dir = work.path().join("user");
    fs::create_dir(&user_dir).unwrap();
    ok(Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&user_dir));
    let user_layout = user_dir.join("oci");
    let (code, stdout, stderr) = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg("env")
        .arg(format!("TMPDIR={}", user_dir.display()))
        .arg(format!("HOME={}", user_dir.display()))
        .arg(&bin)
        .args(["slim", "--format", "json"])
        .arg(oci(&layout, "fat"))
        .arg(oci(&user_layout, "slim")));
    assert_eq!(code, 0, "rootless slim failed:\n{stdout}\n{stderr}");
    let rootless: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rootless["manifest_digest"], as_root["manifest_digest"]);
    assert_eq!(rootless["user"], "65532:65532");
}

/// `pare build --bytecode`: the python3 recipe with an app gets one more layer of unchecked-hash
/// `.pyc` files made by the image's own interpreter. `imported` holds what a traced run of the
/// program (and a bytecode probe) read and nothing else, the interpreter loads them at start
/// under runc, two builds give one digest, `[python]` in pare.toml gives the same image as the
/// flags, `all` compiles every module, and wrong settings are usage or input errors.
#[test]
fn build_bytecode_is_the_images_own_and_loaded_at_start() {
    for tool in ["umoci", "runc"] {
        if !require(tool) {
            return;
        }
    }
    if !crate::support::require_apt_sources() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app.py");
    fs::write(
        &app,
        "import json, decimal\nprint(json.dumps({'d': str(decimal.Decimal('1.5') * 2)}))\n",
    )
    .unwrap();
    let lock = work.path().join("python3.lock");
    let layout = work.path().join("oci");
    let build = |tag: &str, extra: &[&str]| -> Value {
        let stdout = ok(pare()
            .env("PARE_CACHE_DIR", crate::support::debian_cache())
            .args([
                "build", "-q", "--format", "json", "--base", "python3", "--lock",
            ])
            .arg(&lock)
            .arg("--copy")
            .arg(format!("{}:/app/app.py", app.display()))
            .args(["--entrypoint", "/usr/bin/python3", "--cmd", "/app/app.py"])
            .args(extra)
            .arg("--output")
            .arg(oci(&layout, tag)));
        serde_json::from_str(&stdout).unwrap()
    };
    let top_layer = |tag: &str| -> Vec<crate::support::TarEntry> {
        let (manifest, _) = image_json(&layout, tag);
        let last = manifest["layers"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        layer_entries(&blob(&layout, last["digest"].as_str().unwrap()))
    };
    let has =
        |entries: &[crate::support::TarEntry], path: &str| entries.iter().any(|e| e.path == path);
    let stdlib = "usr/lib/python3.11";
    let json_pyc = format!("{stdlib}/json/__pycache__/__init__.cpython-311.pyc");
    let decimal_pyc = format!("{stdlib}/__pycache__/decimal.cpython-311.pyc");
    let smtplib_pyc = format!("{stdlib}/__pycache__/smtplib.cpython-311.pyc");

    let plain = build("plain", &[]);
    assert!(plain.get("bytecode").is_none(), "{plain}");
    let imported = build("pyc", &["--bytecode", "imported"]);
    let again = build("pyc-again", &["--bytecode", "imported"]);
    assert_eq!(imported["manifest_digest"], again["manifest_digest"]);
    let report = &imported["bytecode"];
    assert_eq!(report["which"], "imported", "{report}");
    assert!(report["interpreter"].as_str().unwrap().contains("python3"));
    assert_eq!(report["runs"][0]["passed"], true, "{report}");
    let layers = imported["layers"].as_array().unwrap();
    assert_eq!(layers.len(), plain["layers"].as_array().unwrap().len() + 1);
    assert!(layers.last().unwrap()["created_by"]
        .as_str()
        .unwrap()
        .contains("Python bytecode"));
    // The layers below are the plain build's, byte for byte.
    let plain_digests = crate::support::report_layer_digests(&plain);
    assert_eq!(
        crate::support::report_layer_digests(&imported)[..plain_digests.len()],
        plain_digests[..]
    );
    let entries = top_layer("pyc");
    let files: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == tar::EntryType::Regular)
        .collect();
    assert_eq!(files.len() as u64, report["files"].as_u64().unwrap());
    assert!(files.iter().all(|e| e.path.ends_with(".pyc")
        && e.mode == 0o644
        && e.uid == 0
        && e.data[4..8] == [1, 0, 0, 0]));
    assert!(has(&entries, &json_pyc) && has(&entries, &decimal_pyc));
    assert!(!has(&entries, &smtplib_pyc), "nothing imported smtplib");
    // The script run as __main__ is compiled from source at every start: no .pyc for it.
    assert!(
        !entries.iter().any(|e| e.path.contains("app/__pycache__/")),
        "no bytecode for /app/app.py"
    );

    // The interpreter loads the bytecode instead of compiling (python -v says where each code
    // object came from), as the image's user.
    let (code, out, err) = runc_with(
        &layout,
        "pyc",
        &["/usr/bin/python3", "-v", "/app/app.py"],
        work.path(),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out.trim(), r#"{"d": "3.0"}"#);
    assert!(
        err.contains(&format!("code object from '/{json_pyc}'")),
        "{err}"
    );
    assert!(!err.contains(&format!("code object from '/{stdlib}/json/__init__.py'")));
    let (code, plain_out, _) = runc_with(&layout, "plain", &[], work.path());
    assert_eq!((code, plain_out), (0, out));

    // A probe adds what it imports; `all` compiles every module.
    let probed = build(
        "probed",
        &[
            "--bytecode",
            "imported",
            "--bytecode-probe",
            "python3 -c 'import smtplib'",
        ],
    );
    assert!(has(&top_layer("probed"), &smtplib_pyc), "{probed}");
    let all = build("all", &["--bytecode", "all"]);
    assert!(all["bytecode"]["files"].as_u64() > report["files"].as_u64());
    assert!(has(&top_layer("all"), &smtplib_pyc));

    // pare.toml's [python] gives the image the flags give.
    fs::write(
        work.path().join("pare.toml"),
        format!(
            "[image]\nbase = \"python3\"\nentrypoint = \"/usr/bin/python3\"\ncmd = \"/app/app.py\"\n\
             [[copy]]\nsrc = \"app.py\"\ndst = \"/app/app.py\"\n\
             [packages]\nlock = \"python3.lock\"\n\
             [python]\nbytecode = \"imported\"\n\
             [build]\noutput = \"{}\"\n",
            oci(&layout, "toml")
        ),
    )
    .unwrap();
    let from_file: Value = serde_json::from_str(&ok(pare()
        .current_dir(work.path())
        .env("PARE_CACHE_DIR", crate::support::debian_cache())
        .args(["build", "-q", "--format", "json"])))
    .unwrap();
    assert_eq!(from_file["manifest_digest"], imported["manifest_digest"]);

    // Wrong settings: exit 2, saying what is wrong.
    let fails = |args: &[&str], says: &str| {
        let (code, _, stderr) = run(pare()
            .env("PARE_CACHE_DIR", crate::support::debian_cache())
            .args(["build", "-q"])
            .args(args)
            .arg("--output")
            .arg(oci(&layout, "bad")));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    fails(&["--bytecode", "maybe"], "not one of imported, all, none");
    fails(
        &["--bytecode-probe", "python3 -c pass"],
        "only go with bytecode imported",
    );
    let hello = crate::support::static_hello();
    fails(
        &[
            "--copy",
            &format!("{}:/hello", hello.display()),
            "--entrypoint",
            "/hello",
            "--bytecode",
            "all",
        ],
        "is not a Python interpreter",
    );
}
