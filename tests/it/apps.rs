//! Real applications with bundled libraries: C programs whose libraries ship in the image (found
//! through `$ORIGIN`, `LD_LIBRARY_PATH` from the image's Env, or a default directory), Python wheels
//! with their `*.libs/` directories on the python3 recipe, all run under runc as uid 65532; and the
//! shape of the error when a library is nowhere.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{ok, pare, require, run, runc_run, unpack};

/// Compiles `libNAME.so` (returning 42 from `NAME()`) and a program calling it, linked with `flags`.
fn program(dir: &Path, name: &str, flags: &[&str]) -> (PathBuf, PathBuf) {
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join(format!("{name}.c")),
        format!("int {name}(void) {{ return 42; }}\n"),
    )
    .unwrap();
    fs::write(
        dir.join(format!("{name}-main.c")),
        format!(
            "#include <stdio.h>\nint {name}(void);\nint main(void) {{ printf(\"{name} says %d\\n\", {name}()); return 0; }}\n"
        ),
    )
    .unwrap();
    let lib = dir.join(format!("lib{name}.so"));
    ok(Command::new("gcc")
        .current_dir(dir)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(format!("{name}.c")));
    let exe = dir.join(format!("{name}-app"));
    ok(Command::new("gcc")
        .current_dir(dir)
        .arg("-o")
        .arg(&exe)
        .arg(format!("{name}-main.c"))
        .arg(format!("-L{}", dir.display()))
        .arg(format!("-l{name}"))
        .args(flags));
    (exe, lib)
}

/// Builds `args` into `layout:tag`, runs the entrypoint under runc, returns (build report, stdout).
fn build_and_run(dir: &Path, layout: &Path, tag: &str, args: &[String]) -> (Value, String) {
    let report: Value = serde_json::from_str(&ok(pare()
        .args(["build", "--format", "json"])
        .args(args)
        .arg("--output")
        .arg(format!("oci:{}:{tag}", layout.display()))))
    .unwrap();
    let bundle = unpack(layout, tag, dir);
    let (code, stdout, stderr) = runc_run(&bundle, dir);
    assert_eq!(code, 0, "{tag} failed under runc:\n{stdout}\n{stderr}");
    (report, stdout)
}

#[test]
fn c_programs_use_the_libraries_shipped_in_the_image() {
    if !require("gcc") || !require("umoci") || !require("runc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("apps");
    let src = dir.path().join("src");
    let no_host_copy = |report: &Value, name: &str| {
        let libraries = crate::support::added_libraries(report);
        assert!(
            !libraries.iter().any(|p| p.contains(name)),
            "{name} is shipped; the closure must not add a host copy: {libraries:?}"
        );
        assert!(
            libraries.iter().any(|p| p.contains("libc.so")),
            "glibc still comes from the host: {libraries:?}"
        );
    };
    // 1. RUNPATH $ORIGIN/../lib, the layout of a relocatable application under /opt/app.
    let (exe, lib) = program(&src, "origin", &["-Wl,-rpath,$ORIGIN/../lib"]);
    let (report, out) = build_and_run(
        dir.path(),
        &layout,
        "origin",
        &[
            "--copy".into(),
            format!("{}:/opt/app/bin/app:0755", exe.display()),
            "--copy".into(),
            format!("{}:/opt/app/lib/liborigin.so", lib.display()),
            "--entrypoint".into(),
            "/opt/app/bin/app".into(),
        ],
    );
    assert_eq!(out, "origin says 42\n");
    no_host_copy(&report, "liborigin");
    // 2. No RPATH at all: LD_LIBRARY_PATH from the image's Env.
    let (exe, lib) = program(&src, "ldpath", &[]);
    let (report, out) = build_and_run(
        dir.path(),
        &layout,
        "ldpath",
        &[
            "--copy".into(),
            format!("{}:/app:0755", exe.display()),
            "--copy".into(),
            format!("{}:/opt/vendor/libldpath.so", lib.display()),
            "--env".into(),
            "LD_LIBRARY_PATH=/opt/vendor".into(),
            "--entrypoint".into(),
            "/app".into(),
        ],
    );
    assert_eq!(out, "ldpath says 42\n");
    no_host_copy(&report, "libldpath");
    // 3. The library shipped where the loader looks by default.
    let (exe, lib) = program(&src, "multiarch", &[]);
    let triple = if cfg!(target_arch = "aarch64") {
        "aarch64-linux-gnu"
    } else {
        "x86_64-linux-gnu"
    };
    let (report, out) = build_and_run(
        dir.path(),
        &layout,
        "multiarch",
        &[
            "--copy".into(),
            format!("{}:/app:0755", exe.display()),
            "--copy".into(),
            format!("{}:/usr/lib/{triple}/libmultiarch.so", lib.display()),
            "--entrypoint".into(),
            "/app".into(),
        ],
    );
    assert_eq!(out, "multiarch says 42\n");
    no_host_copy(&report, "libmultiarch");
    // Each image passes audit's will-it-start, which asks the same loader model.
    for tag in ["origin", "ldpath", "multiarch"] {
        let (code, stdout, stderr) = run(pare()
            .args(["audit", "--format", "json"])
            .arg(format!("oci:{}:{tag}", layout.display())));
        assert_eq!(code, 0, "{tag}: {stderr}\n{stdout}");
    }
}

#[test]
fn a_missing_library_error_names_each_soname_once_with_who_needs_it_and_where_it_was_sought() {
    if !require("gcc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    // Two programs and a library, all needing libgone.so, which is nowhere.
    let (gone_exe, gone_lib) = program(&src, "gone", &[]);
    fs::write(
        src.join("mid.c"),
        "int gone(void);\nint mid(void) { return gone(); }\n",
    )
    .unwrap();
    ok(Command::new("gcc").current_dir(&src).args([
        "-shared",
        "-fPIC",
        "-o",
        "libmid.so",
        "mid.c",
        "-L.",
        "-lgone",
    ]));
    fs::write(
        src.join("top.c"),
        "int mid(void);\nint main(void) { return mid(); }\n",
    )
    .unwrap();
    ok(Command::new("gcc").current_dir(&src).args([
        "-o",
        "top",
        "top.c",
        "-L.",
        "-lmid",
        "-Wl,-rpath,$ORIGIN/lib",
        "-Wl,-rpath-link,.",
    ]));
    fs::remove_file(&gone_lib).unwrap();
    let layout = dir.path().join("out");
    let (code, stdout, stderr) = run(pare()
        .args(["build", "--copy"])
        .arg(format!("{}:/srv/gone-app:0755", gone_exe.display()))
        .arg("--copy")
        .arg(format!("{}:/srv/top:0755", src.join("top").display()))
        .arg("--copy")
        .arg(format!(
            "{}:/srv/lib/libmid.so",
            src.join("libmid.so").display()
        ))
        .args(["--entrypoint", "/srv/top", "--output"])
        .arg(format!("oci:{}:x", layout.display())));
    assert_eq!(code, 2, "{stdout}{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[0],
        "error: the image would not start: 1 shared library is neither in the image nor on the build host (root /):",
        "{stderr}"
    );
    // One line for the one soname, with both programs' objects that need it, and the search path:
    // the program's own RUNPATH expanded for /srv/lib/libmid.so's needer, then the defaults.
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(
        lines[1]
            .starts_with("  libgone.so (needed by /srv/gone-app, /srv/lib/libmid.so); looked in "),
        "{stderr}"
    );
    assert!(
        lines[1].contains("/lib/x86_64-linux-gnu") || !cfg!(target_arch = "x86_64"),
        "{stderr}"
    );
    assert!(lines[2].starts_with("Ship each with --copy"), "{stderr}");
    assert!(!layout.exists(), "nothing is written for a refused build");
}

#[test]
fn manylinux_wheels_with_bundled_libraries_run_on_the_python3_recipe() {
    if !require("runc") || !require("umoci") || !require("python3") {
        return;
    }
    if !crate::support::require_apt_sources() {
        return;
    }
    // Wheels for the recipe's Python (Debian 12: CPython 3.11), from PyPI as the host's pip is set up.
    let deps = crate::support::pip_target(
        "cp311-x86_64",
        &["numpy<2.3", "psycopg2-binary", "pillow"],
        &["numpy", "psycopg2", "PIL"],
    );
    for bundled in ["numpy.libs", "psycopg2_binary.libs", "pillow.libs"] {
        assert!(
            deps.join(bundled).is_dir(),
            "{bundled} ships its own libraries"
        );
    }
    let cache = crate::support::debian_cache();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("wheels");
    let report: Value = serde_json::from_str(&ok(pare()
        .env("PARE_CACHE_DIR", &cache)
        .args(["build", "--format", "json", "--base", "python3", "--lock"])
        .arg(work.path().join("python3.lock"))
        .arg("--copy")
        .arg(format!("{}/:/app/deps/", deps.display()))
        .args([
            "--env",
            "PYTHONPATH=/app/deps",
            "--entrypoint",
            "/usr/bin/python3",
            "--output",
        ])
        .arg(format!("oci:{}:wheels", layout.display()))))
    .unwrap();
    let added = crate::support::added_libraries(&report);
    assert!(
        !added
            .iter()
            .any(|p| p.contains("openblas") || p.contains("libpq")),
        "the wheels' own libraries are used where they are: {added:?}"
    );
    let bundle = unpack(&layout, "wheels", work.path());
    let config_path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&fs::read(&config_path).unwrap()).unwrap();
    config["process"]["args"] = serde_json::json!([
        "/usr/bin/python3",
        "-c",
        "import os, numpy, psycopg2, PIL.Image, io\n\
         a = numpy.arange(6.0).reshape(2, 3)\n\
         print('dot', numpy.dot(a, a.T).tolist())\n\
         print('libpq', psycopg2.__libpq_version__)\n\
         im = PIL.Image.new('RGB', (4, 4), 'red'); b = io.BytesIO(); im.save(b, 'JPEG')\n\
         print('jpeg', b.getvalue()[:2].hex(), os.getuid())"
    ]);
    fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let (code, stdout, stderr) = runc_run(&bundle, work.path());
    assert_eq!(code, 0, "the wheels failed under runc:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("dot [[5.0, 14.0], [14.0, 50.0]]"),
        "{stdout}"
    );
    assert!(stdout.contains("libpq 1"), "{stdout}");
    assert!(stdout.contains("jpeg ffd8 65532"), "{stdout}");
}

#[test]
fn host_libraries_the_closure_copies_are_recorded_for_scanners() {
    if !require("gcc") || !require("syft") || !require("dpkg-query") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tls.c");
    fs::write(
        &src,
        "#include <stdio.h>\n#include <zlib.h>\n#include <openssl/crypto.h>\n\
         int main(void) { printf(\"%s %s\\n\", zlibVersion(), OpenSSL_version(OPENSSL_VERSION)); return 0; }\n",
    )
    .unwrap();
    let exe = dir.path().join("tls");
    ok(Command::new("gcc")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .args(["-lz", "-lcrypto"]));
    let layout = dir.path().join("out");
    let report: Value = serde_json::from_str(&ok(pare()
        .args(["build", "--format", "json", "--copy"])
        .arg(format!("{}:/app:0755", exe.display()))
        .args(["--entrypoint", "/app", "--output"])
        .arg(format!("oci:{}:tls", layout.display()))))
    .unwrap();
    // Every regular file the closure copied names its host package.
    let host_version =
        |package: &str| ok(Command::new("dpkg-query").args(["-W", "-f", "${Version}", package]));
    let owners: std::collections::BTreeSet<String> = report["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["package"].as_str())
        .map(|p| p.split(' ').next().unwrap().to_string())
        .collect();
    for package in ["libc6", "zlib1g", "libssl3"] {
        assert!(owners.contains(package), "{package} in {owners:?}");
    }
    let reference = format!("oci:{}:tls", layout.display());
    let inventory: Value = serde_json::from_str(&ok(pare().args([
        "inventory",
        "--format",
        "json",
        &reference,
    ])))
    .unwrap();
    let ours: std::collections::BTreeSet<(String, String)> = inventory["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["manager"] == "dpkg")
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for package in ["libc6", "zlib1g", "libssl3"] {
        assert!(
            ours.contains(&(package.to_string(), host_version(package))),
            "{package} {} in {ours:?}",
            host_version(package)
        );
    }
    let libc = inventory["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "libc6")
        .unwrap();
    assert!(
        libc["files"].as_u64().unwrap() >= 2,
        "md5sums list the copied files: {libc}"
    );
    let theirs = crate::support::syft_deb_versions(&layout);
    assert_eq!(ours, theirs, "pare's inventory vs syft");
    // And the image still runs as it did.
    if require("umoci") && require("runc") {
        let bundle = unpack(&layout, "tls", dir.path());
        let (code, stdout, stderr) = runc_run(&bundle, dir.path());
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(stdout.contains("OpenSSL 3."), "{stdout}");
    }
}

/// Compiles one C file into `dir`.
/// A C program that converts "café" from ISO-8859-1 with iconv (glibc loads a gconv module for it).
const ICONV_PROGRAM: &str = "#include <iconv.h>\n#include <stdio.h>\n\
    int main(void) { iconv_t cd = iconv_open(\"UTF-8\", \"ISO-8859-1\");\n\
    if (cd == (iconv_t)-1) { perror(\"iconv_open\"); return 1; }\n\
    char in[] = \"caf\\xe9\", out[16] = {0}; char *ip = in, *op = out; size_t il = 4, ol = 15;\n\
    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1) { perror(\"iconv\"); return 1; }\n\
    printf(\"%s\\n\", out); return 0; }\n";

fn compile(dir: &Path, name: &str, source: &str, libs: &[&str]) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    fs::write(&src, source).unwrap();
    let exe = dir.join(name);
    ok(Command::new("gcc").arg("-o").arg(&exe).arg(&src).args(libs));
    exe
}

#[test]
fn plugins_loaded_at_run_time_come_along() {
    if !require("gcc") || !require("umoci") || !require("runc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let layout = dir.path().join("plugins");
    let cases = [
        (
            "legacy",
            "#include <stdio.h>\n#include <openssl/provider.h>\n\
             int main(void) { OSSL_PROVIDER *p = OSSL_PROVIDER_load(NULL, \"legacy\");\n\
             if (!p) { puts(\"no legacy provider\"); return 1; } puts(\"legacy provider loaded\"); return 0; }\n",
            vec!["-lcrypto"],
            "legacy provider loaded\n",
            "ossl-modules/legacy.so",
        ),
        (
            "cancel",
            "#include <pthread.h>\n#include <stdio.h>\n#include <unistd.h>\n\
             static void *wait_forever(void *a) { for (;;) pause(); return a; }\n\
             int main(void) { pthread_t t; void *r; pthread_create(&t, 0, wait_forever, 0);\n\
             pthread_cancel(t); pthread_join(t, &r); printf(\"cancelled %d\\n\", r == PTHREAD_CANCELED); return 0; }\n",
            vec!["-pthread"],
            "cancelled 1\n",
            "libgcc_s.so.1",
        ),
        (
            "iconv",
            ICONV_PROGRAM,
            vec![],
            "café\n",
            "gconv/ISO8859-1.so",
        ),
    ];
    for (name, source, libs, expected, plugin) in cases {
        let exe = compile(&src, name, source, &libs);
        let (report, out) = build_and_run(
            dir.path(),
            &layout,
            name,
            &[
                "--copy".into(),
                format!("{}:/app:0755", exe.display()),
                "--entrypoint".into(),
                "/app".into(),
            ],
        );
        assert_eq!(out, expected, "{name}");
        let reason = report["libraries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["path"].as_str().unwrap().ends_with(plugin))
            .unwrap_or_else(|| panic!("{name}: {plugin} added: {report}"))["reason"]
            .clone();
        assert!(reason.as_str().unwrap().starts_with("plugin "), "{reason}");
    }
    // Turned off, the plugin is missing and the program fails as it would on a bare image.
    let exe = src.join("iconv");
    ok(pare()
        .args(["build", "-q", "--no-plugin", "gconv", "--copy"])
        .arg(format!("{}:/app:0755", exe.display()))
        .args(["--entrypoint", "/app", "--output"])
        .arg(format!("oci:{}:no-gconv", layout.display())));
    let bundle = unpack(&layout, "no-gconv", dir.path());
    let (code, _, _) = runc_run(&bundle, dir.path());
    assert_eq!(code, 1, "iconv_open fails without the gconv modules");
    // audit says so, as information (it does not fail the audit by default).
    let (code, out, stderr) = run(pare()
        .args(["audit", "--format", "json"])
        .arg(format!("oci:{}:no-gconv", layout.display())));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let plugin: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "PARE-PLUGIN-MISSING")
        .collect();
    assert_eq!(plugin.len(), 1, "{report}");
    assert_eq!(plugin[0]["severity"], "info");
    assert_eq!(plugin[0]["path"], "/app");
    assert!(
        plugin[0]["reason"].as_str().unwrap().contains("gconv"),
        "{plugin:?}"
    );
    let (code, _, stderr) = run(pare()
        .args(["build", "--no-plugin", "gconv2", "--copy"])
        .arg(format!("{}:/app:0755", exe.display()))
        .args(["--output"])
        .arg(format!("oci:{}:x", layout.display())));
    assert_eq!(code, 2);
    assert!(stderr.contains("openssl, libgcc_s, gconv, nss"), "{stderr}");
}

#[test]
fn a_go_program_that_verifies_certificates_needs_a_ca_bundle() {
    if !require("go") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(
        src.join("go.mod"),
        "module example.com/pare/tlsclient\n\ngo 1.19\n",
    )
    .unwrap();
    fs::write(
        src.join("main.go"),
        "package main\n\nimport (\n\t\"crypto/x509\"\n\t\"fmt\"\n)\n\n\
         func main() { pool, err := x509.SystemCertPool(); fmt.Println(pool != nil, err) }\n",
    )
    .unwrap();
    let binary = dir.path().join("tlsclient");
    ok(Command::new("go")
        .current_dir(&src)
        .env("CGO_ENABLED", "0")
        .env("GOPROXY", "off")
        .env("GOCACHE", dir.path().join("gocache"))
        .env("GOPATH", dir.path().join("gopath"))
        .env("GOFLAGS", "-trimpath")
        .args(["build", "-ldflags=-s -w", "-o"])
        .arg(&binary));
    let layout = dir.path().join("out");
    let audit = |base: &str| -> Vec<Value> {
        ok(pare()
            .args(["build", "-q", "--base", base, "--copy"])
            .arg(format!("{}:/tlsclient:0755", binary.display()))
            .args(["--entrypoint", "/tlsclient", "--output"])
            .arg(format!("oci:{}:{base}", layout.display())));
        let (code, out, stderr) = run(pare()
            .args(["audit", "--format", "json"])
            .arg(format!("oci:{}:{base}", layout.display())));
        assert!(code == 0 || code == 1, "{stderr}");
        let report: Value = serde_json::from_str(&out).unwrap();
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "PARE-NO-CA-BUNDLE")
            .cloned()
            .collect()
    };
    let scratch = audit("scratch");
    assert_eq!(
        scratch.len(),
        1,
        "a stripped Go TLS client on scratch: {scratch:?}"
    );
    assert_eq!(scratch[0]["path"], "/tlsclient");
    assert!(
        audit("static").is_empty(),
        "the static base has the CA bundle"
    );
}

#[test]
fn a_library_the_recipe_lacks_comes_from_the_repository_and_is_locked() {
    for tool in ["gcc", "runc", "umoci", "syft"] {
        if !require(tool) {
            return;
        }
    }
    if !crate::support::require_apt_sources() {
        return;
    }
    // A shared object linked against the host's libpq (Debian's libpq5), loaded by Python via ctypes.
    let work = tempfile::tempdir().unwrap();
    let ext = work.path().join("ext");
    fs::create_dir_all(&ext).unwrap();
    fs::write(
        work.path().join("pqver.c"),
        "int PQlibVersion(void);\nint pqver(void) { return PQlibVersion(); }\n",
    )
    .unwrap();
    let linked = run(Command::new("gcc")
        .current_dir(work.path())
        .args(["-shared", "-fPIC", "-o"])
        .arg(ext.join("libpqver.so"))
        .args(["pqver.c", "-l:libpq.so.5"]));
    if linked.0 != 0 {
        assert!(
            !crate::support::in_ci(),
            "CI hosts have libpq5: {}",
            linked.2
        );
        eprintln!("SKIP: the host has no libpq.so.5");
        return;
    }
    let cache = crate::support::debian_cache();
    let layout = work.path().join("pq");
    let lock = work.path().join("python3.lock");
    let build = |tag: &str, extra: &[&str]| -> Value {
        serde_json::from_str(&ok(pare()
            .env("PARE_CACHE_DIR", &cache)
            .args(["build", "--format", "json", "--base", "python3", "--lock"])
            .arg(&lock)
            .arg("--copy")
            .arg(format!("{}/:/app/ext/", ext.display()))
            .args(["--entrypoint", "/usr/bin/python3", "--output"])
            .arg(format!("oci:{}:{tag}", layout.display()))
            .args(extra)))
        .unwrap()
    };
    let report = build("first", &[]);
    let added = crate::support::added_libraries(&report);
    assert!(
        !added.iter().any(|p| p.contains("libpq")),
        "libpq comes from the repository, not as a host file: {added:?}"
    );
    let text = fs::read_to_string(&lock).unwrap();
    assert!(
        text.contains("provides libpq.so.5 for /app/ext/libpqver.so"),
        "{text}"
    );
    assert!(text.contains("[[provided]]"), "{text}");
    let packages = report["packages"]["packages"].as_array().unwrap();
    assert!(
        packages
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("libpq5=")),
        "{packages:?}"
    );
    assert_eq!(report["packages"]["provided"][0]["package"], "libpq5");
    assert_eq!(report["packages"]["provided"][0]["soname"], "libpq.so.5");
    // The lock now holds it: a --locked build takes it from there, with the same digest.
    let again = build("again", &["--locked"]);
    assert_eq!(again["manifest_digest"], report["manifest_digest"]);
    assert_eq!(again["packages"]["lock"], "used");
    // `pare lock` resolves again and keeps what the lock holds for the programs' libraries.
    ok(pare()
        .env("PARE_CACHE_DIR", &cache)
        .args(["lock", "-q", "--base", "python3", "--lock"])
        .arg(&lock));
    let relocked = fs::read_to_string(&lock).unwrap();
    assert!(
        relocked.contains("provides libpq.so.5 for /app/ext/libpqver.so"),
        "{relocked}"
    );

    // syft reads a layout that holds one image.
    let single = work.path().join("single");
    ok(pare()
        .args(["copy"])
        .arg(format!("oci:{}:first", layout.display()))
        .arg(format!("oci:{}:first", single.display())));
    let seen = crate::support::syft_deb_versions(&single);
    assert!(
        seen.iter().any(|(name, _)| name == "libpq5"),
        "syft sees libpq5: {seen:?}"
    );
    let bundle = unpack(&layout, "first", work.path());
    let config_path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&fs::read(&config_path).unwrap()).unwrap();
    config["process"]["args"] = serde_json::json!([
        "/usr/bin/python3",
        "-c",
        "import ctypes, os; print('pq', ctypes.CDLL('/app/ext/libpqver.so').pqver(), os.getuid())"
    ]);
    fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let (code, stdout, stderr) = runc_run(&bundle, work.path());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("pq 1") && stdout.contains(" 65532"),
        "{stdout}"
    );
}

/// glibc's gconv modules (8 MB of libc6) stay in a recipe image only when something there can load
/// them: a copied iconv user keeps them (taken from the package, in the same package layers a
/// `--plugin gconv` build has), a recipe image with nothing that calls iconv_open leaves them out
/// (libstdc++ imports it, but nothing there loads libstdc++), and `--no-plugin gconv` leaves them
/// out even for an iconv user, which then fails as on a bare image.
#[test]
fn recipe_gconv_modules_stay_only_for_iconv_users() {
    for tool in ["gcc", "runc", "umoci"] {
        if !require(tool) {
            return;
        }
    }
    if !crate::support::require_apt_sources() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let exe = compile(&work.path().join("src"), "iconv", ICONV_PROGRAM, &[]);
    let cache = crate::support::debian_cache();
    let layout = work.path().join("out");
    let lock = work.path().join("cc.lock");
    let copy = [
        "--copy".to_string(),
        format!("{}:/app:0755", exe.display()),
        "--entrypoint".into(),
        "/app".into(),
    ];
    let build = |tag: &str, extra: &[String]| -> Value {
        serde_json::from_str(&ok(pare()
            .env("PARE_CACHE_DIR", &cache)
            .args(["build", "--format", "json", "--base", "cc", "--lock"])
            .arg(&lock)
            .args(extra)
            .arg("--output")
            .arg(format!("oci:{}:{tag}", layout.display()))))
        .unwrap()
    };
    let layer_digests = crate::support::report_layer_digests;
    let gconv_files = |tag: &str| -> usize {
        let (manifest, _) = crate::support::image_json(&layout, tag);
        manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| {
                crate::support::layer_entries(&crate::support::blob(
                    &layout,
                    l["digest"].as_str().unwrap(),
                ))
            })
            .filter(|e| e.path.contains("-linux-gnu/gconv/"))
            .count()
    };

    // Nothing to load them: left out, and said so.
    let bare = build("bare", &[]);
    let pruned = &bare["pruned_plugins"][0];
    assert_eq!(pruned["name"], "gconv", "{bare}");
    assert!(pruned["files"].as_u64().unwrap() > 100, "{pruned}");
    assert!(pruned["bytes"].as_u64().unwrap() > 5_000_000, "{pruned}");
    assert_eq!(
        pruned["directories"][0], "/usr/lib/x86_64-linux-gnu/gconv",
        "{pruned}"
    );
    assert_eq!(gconv_files("bare"), 0);
    // audit agrees: nothing in the image wants them (it fails the image for having no entrypoint).
    let (_, out, stderr) = run(pare()
        .args(["audit", "--format", "json"])
        .arg(format!("oci:{}:bare", layout.display())));
    let audit: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert!(
        !audit["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "PARE-PLUGIN-MISSING"),
        "{audit}"
    );

    // An iconv user keeps them, from the package (no host copy), and converts.
    let (user, out) = build_and_run(
        work.path(),
        &layout,
        "iconv",
        &[
            ["--base", "cc", "--lock"].map(String::from).to_vec(),
            vec![lock.display().to_string()],
            copy.to_vec(),
        ]
        .concat(),
    );
    assert_eq!(out, "café\n");
    assert!(user.get("pruned_plugins").is_none(), "{user}");
    assert!(
        !crate::support::added_libraries(&user)
            .iter()
            .any(|p| p.contains("gconv")),
        "gconv came from the host: {user}"
    );
    assert!(gconv_files("iconv") > 100);
    // --plugin keeps them without a user: the same package layers as the iconv user's.
    let kept = build("kept", &["--plugin".into(), "gconv".into()]);
    assert!(kept.get("pruned_plugins").is_none(), "{kept}");
    let kept_layers = layer_digests(&kept);
    assert_eq!(kept_layers[..], layer_digests(&user)[..kept_layers.len()]);
    assert_ne!(layer_digests(&bare), kept_layers);

    // --no-plugin leaves them out even for an iconv user, which then fails.
    let off = build(
        "off",
        &[copy.to_vec(), vec!["--no-plugin".into(), "gconv".into()]].concat(),
    );
    assert_eq!(
        off["pruned_plugins"][0]["why"], "--no-plugin gconv",
        "{off}"
    );
    let bundle = unpack(&layout, "off", work.path());
    let (code, _, stderr) = runc_run(&bundle, work.path());
    assert_eq!(
        code, 1,
        "iconv_open fails without the gconv modules: {stderr}"
    );
    // Both ways at once is a usage error.
    let (code, _, stderr) = run(pare()
        .args([
            "build",
            "--plugin",
            "gconv",
            "--no-plugin",
            "gconv",
            "--base",
            "cc",
        ])
        .arg("--output")
        .arg(format!("oci:{}:both", layout.display())));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("choose one"), "{stderr}");
}
