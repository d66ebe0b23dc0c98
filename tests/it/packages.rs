//! `pare lock` and `pare build` with Debian packages: a signed apt repository served on 127.0.0.1 from
//! `.deb` files made with dpkg-deb in the test (resolver, signatures, corrupt and truncated downloads,
//! unmet dependencies, cycles, stale locks), and the real Debian archive through the host's configured
//! mirror (the python3 recipe under runc, syft's package list against pare.lock, reproducibility).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{ok, pare, require, run, runc_run, unpack};

/// A package for the test repository: name, version, control fields beyond the basics, and files
/// (path in the package, content).
struct TestPackage {
    name: &'static str,
    version: &'static str,
    fields: &'static str,
    files: &'static [(&'static str, &'static str)],
}

const PACKAGES: &[TestPackage] = &[
    TestPackage {
        name: "demo-app",
        version: "1.2-1",
        fields: "Depends: libdemo1 (>= 1.0), missing-pkg | hello-data, dpkg (>= 1.19)\n",
        files: &[
            ("usr/bin/demo-app", HELLO),
            ("usr/share/doc/demo-app/copyright", "(c) test\n"),
            ("usr/share/doc/demo-app/changelog.Debian.gz", "log"),
            ("usr/share/man/man1/demo-app.1.gz", "man"),
        ],
    },
    TestPackage {
        name: "libdemo1",
        version: "1.0-1",
        fields: "",
        files: &[(
            "lib/x86_64-linux-gnu/libdemo.so.1",
            "not really a library\n",
        )],
    },
    TestPackage {
        name: "hello-data",
        version: "0.1",
        fields: "Provides: greeting-data\n",
        files: &[("usr/share/hello/data.txt", "hello\n")],
    },
    TestPackage {
        name: "dpkg",
        version: "1.21.22",
        fields: "",
        files: &[("usr/bin/dpkg", "not dpkg\n")],
    },
    TestPackage {
        name: "needs-new",
        version: "1",
        fields: "Depends: libdemo1 (>= 2)\n",
        files: &[("usr/share/needs-new/x", "x\n")],
    },
    TestPackage {
        name: "cycle-a",
        version: "1",
        fields: "Depends: cycle-b\n",
        files: &[("usr/share/cycle/a", "a\n")],
    },
    TestPackage {
        name: "cycle-b",
        version: "1",
        fields: "Pre-Depends: cycle-a (= 1)\n",
        files: &[("usr/share/cycle/b", "b\n")],
    },
];

/// Stands for the static hello program (built by the test support) as a file's content.
const HELLO: &str = "@static-hello";

/// A signed apt repository on 127.0.0.1 and an apt root whose sources point at it.
struct TestRepo {
    dir: tempfile::TempDir,
    server: Child,
    port: u16,
    gnupg: PathBuf,
}

impl Drop for TestRepo {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl TestRepo {
    fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }
    fn apt_root(&self) -> PathBuf {
        self.dir.path().join("aptroot")
    }
    fn pool(&self, name: &str) -> PathBuf {
        self.root().join(format!("pool/main/{name}.deb"))
    }
    fn dists(&self) -> PathBuf {
        self.root().join("dists/stable")
    }

    /// Builds the debs, the index, a key, the signed InRelease and the apt root; starts the server.
    fn start() -> Option<TestRepo> {
        if !require("dpkg-deb") || !require("gpg") || !require("python3") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("pool/main")).unwrap();
        std::fs::create_dir_all(root.join("dists/stable/main/binary-amd64")).unwrap();
        let mut index = String::new();
        for package in PACKAGES {
            let build = dir.path().join(format!("build-{}", package.name));
            std::fs::create_dir_all(build.join("DEBIAN")).unwrap();
            std::fs::write(
                build.join("DEBIAN/control"),
                format!(
                    "Package: {}\nVersion: {}\nArchitecture: amd64\nMaintainer: pare tests <tests@invalid>\n{}Description: test package\n",
                    package.name, package.version, package.fields
                ),
            )
            .unwrap();
            for (path, content) in package.files {
                let file = build.join(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                if *content == HELLO {
                    std::fs::copy(crate::support::static_hello(), &file).unwrap();
                } else {
                    std::fs::write(&file, content).unwrap();
                }
                if path.contains("/bin/") {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
                        .unwrap();
                }
            }
            // md5sums as debhelper writes them (dpkg-deb alone does not).
            let sums = ok(Command::new("sh")
                .arg("-c")
                .arg("find . -path ./DEBIAN -prune -o -type f -print | sed 's|^./||' | sort | xargs md5sum")
                .current_dir(&build));
            std::fs::write(build.join("DEBIAN/md5sums"), sums).unwrap();
            let deb = root.join(format!("pool/main/{}.deb", package.name));
            ok(Command::new("dpkg-deb")
                .args(["--root-owner-group", "-Zxz", "--build"])
                .arg(&build)
                .arg(&deb));
            let bytes = std::fs::read(&deb).unwrap();
            let control = ok(Command::new("dpkg-deb").arg("--field").arg(&deb));
            index.push_str(control.trim_end());
            index.push_str(&format!(
                "\nFilename: pool/main/{}.deb\nSize: {}\nSHA256: {}\n\n",
                package.name,
                bytes.len(),
                hex(&Sha256::digest(&bytes))
            ));
        }
        let packages = root.join("dists/stable/main/binary-amd64/Packages");
        std::fs::write(&packages, &index).unwrap();
        ok(Command::new("gzip").arg("-k").arg("-n").arg(&packages));

        let gnupg = dir.path().join("gnupg");
        std::fs::create_dir_all(&gnupg).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        ok(Command::new("gpg").env("GNUPGHOME", &gnupg).args([
            "--batch",
            "--passphrase",
            "",
            "--quick-generate-key",
            "pare test archive <archive@invalid>",
            "ed25519",
            "sign",
            "never",
        ]));
        let key = ok(Command::new("gpg")
            .env("GNUPGHOME", &gnupg)
            .args(["--export", "--armor"]));
        let apt_root = dir.path().join("aptroot");
        std::fs::create_dir_all(apt_root.join("etc/apt/sources.list.d")).unwrap();
        let keyring = apt_root.join("etc/apt/test-archive.asc");
        std::fs::write(&keyring, key).unwrap();

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            apt_root.join("etc/apt/sources.list.d/test.sources"),
            format!(
                // Signed-By names the keyring as seen inside the apt root, as in a chroot.
                "Types: deb\nURIs: http://127.0.0.1:{port}/\nSuites: stable\nComponents: main\n\
                 Signed-By: /etc/apt/test-archive.asc\n"
            ),
        )
        .unwrap();
        let server = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
            ])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 http.server starts");
        let repo = TestRepo {
            dir,
            server,
            port,
            gnupg,
        };
        repo.sign_release();
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", repo.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the test repository did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(repo)
    }

    /// The Release text for the current indexes.
    fn release_text(&self) -> String {
        let mut text = String::from(
            "Origin: pare-test\nLabel: pare-test\nSuite: stable\nCodename: stable\nDate: Tue, 24 Nov 2026 00:00:00 UTC\nArchitectures: amd64\nComponents: main\nSHA256:\n",
        );
        for name in ["Packages", "Packages.gz"] {
            let bytes = std::fs::read(self.dists().join("main/binary-amd64").join(name)).unwrap();
            text.push_str(&format!(
                " {} {} main/binary-amd64/{name}\n",
                hex(&Sha256::digest(&bytes)),
                bytes.len()
            ));
        }
        text
    }

    fn sign_release(&self) {
        let release = self.dists().join("Release");
        std::fs::write(&release, self.release_text()).unwrap();
        let inrelease = self.dists().join("InRelease");
        let _ = std::fs::remove_file(&inrelease);
        ok(Command::new("gpg")
            .env("GNUPGHOME", &self.gnupg)
            .args(["--batch", "--yes", "--clearsign", "--output"])
            .arg(&inrelease)
            .arg(&release));
    }

    /// `pare lock`/`pare build` against this repository, with a private cache.
    fn pare(&self, verb: &str) -> Command {
        let mut cmd = pare();
        cmd.arg(verb)
            .arg("--apt-root")
            .arg(self.apt_root())
            .env("PARE_CACHE_DIR", self.dir.path().join("cache"));
        cmd
    }

    fn cache_files(&self) -> Vec<String> {
        let dir = self.dir.path().join("cache/debian/sha256");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn lock_names(lock: &Path) -> BTreeSet<String> {
    let value: toml::Value = toml::from_str(&std::fs::read_to_string(lock).unwrap()).unwrap();
    value["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn lock_and_build_from_a_signed_local_repository() {
    let Some(repo) = TestRepo::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let lock = work.path().join("pare.lock");
    let out = ok(repo
        .pare("lock")
        .args(["--base", "scratch", "--package", "demo-app", "--lock"])
        .arg(&lock));
    assert!(
        out.contains("left out: demo-app -> dpkg (>= 1.19)"),
        "{out}"
    );
    assert_eq!(
        lock_names(&lock),
        ["demo-app", "hello-data", "libdemo1"]
            .map(String::from)
            .into()
    );
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains("why = \"Depends of demo-app\""), "{text}");

    let build = |tag: &str| {
        let mut cmd = repo.pare("build");
        cmd.args([
            "--base",
            "scratch",
            "--package",
            "demo-app",
            "--locked",
            "--entrypoint",
            "/usr/bin/demo-app",
            "--lock",
        ])
        .arg(&lock)
        .arg("--output")
        .arg(format!("oci:{}:{tag}", work.path().join("out").display()))
        .args(["--format", "json"]);
        let report: Value = serde_json::from_str(&ok(&mut cmd)).unwrap();
        let installed: Vec<&str> = report["packages"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().split('=').next().unwrap())
            .collect();
        assert_eq!(
            installed,
            ["demo-app", "hello-data", "libdemo1"],
            "{report}"
        );
        assert_eq!(report["packages"]["installed"], 3, "{report}");
        report["manifest_digest"].as_str().unwrap().to_string()
    };
    let first = build("one");
    assert_eq!(first, build("two"), "two builds from the same lock differ");

    // What the image holds: merged-/usr, no docs or man pages, status.d records.
    let listing: Value = serde_json::from_str(&ok(pare()
        .args(["audit", "--format", "json"])
        .arg(format!("oci:{}:one", work.path().join("out").display()))))
    .unwrap();
    let packages: BTreeSet<String> = listing["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        packages,
        ["demo-app", "hello-data", "libdemo1"]
            .map(String::from)
            .into(),
        "{listing}"
    );
    if require("umoci") {
        let bundle = unpack(&work.path().join("out"), "one", work.path());
        let rootfs = bundle.join("rootfs");
        assert!(rootfs
            .join("usr/lib/x86_64-linux-gnu/libdemo.so.1")
            .is_file());
        assert_eq!(
            std::fs::read_link(rootfs.join("lib")).unwrap(),
            Path::new("usr/lib")
        );
        assert!(!rootfs.join("usr/share/doc").exists() && !rootfs.join("usr/share/man").exists());
        let status =
            std::fs::read_to_string(rootfs.join("var/lib/dpkg/status.d/demo-app")).unwrap();
        assert!(
            status.starts_with("Package: demo-app\nStatus: install ok installed\n"),
            "{status}"
        );
        assert!(rootfs
            .join("var/lib/dpkg/status.d/demo-app.md5sums")
            .is_file());
        if require("runc") {
            let (code, stdout, stderr) = runc_run(&bundle, work.path());
            assert_eq!(code, 0, "{stdout}\n{stderr}");
            assert!(stdout.contains("65532"), "{stdout}");
        }
    }

    // A stale lock is refused with --locked and re-made without it.
    let (code, _, err) = run(repo
        .pare("build")
        .args([
            "--base",
            "scratch",
            "--package",
            "hello-data",
            "--locked",
            "--lock",
        ])
        .arg(&lock)
        .arg("--output")
        .arg(format!("oci:{}", work.path().join("stale").display())));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("stale"), "{err}");
    assert!(!work.path().join("stale").exists());
}

#[test]
fn resolver_failures_and_cycles() {
    let Some(repo) = TestRepo::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let lock = work.path().join("pare.lock");
    let (code, _, err) = run(repo
        .pare("lock")
        .args(["--base", "scratch", "--package", "needs-new", "--lock"])
        .arg(&lock));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("libdemo1 (>= 2) wanted, only libdemo1 1.0-1 available"),
        "{err}"
    );
    assert!(err.contains("Depends of needs-new"), "{err}");
    assert!(!lock.exists(), "a failed lock wrote a file");
    let (code, _, err) = run(repo
        .pare("lock")
        .args([
            "--base",
            "scratch",
            "--package",
            "no-such-package",
            "--lock",
        ])
        .arg(&lock));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no package no-such-package"), "{err}");
    // Debian allows dependency cycles (dpkg configures them together); pare resolves them and stops.
    ok(repo
        .pare("lock")
        .args(["--base", "scratch", "--package", "cycle-a", "--lock"])
        .arg(&lock));
    assert_eq!(
        lock_names(&lock),
        ["cycle-a", "cycle-b"].map(String::from).into()
    );
    // Repositories named in pare.toml, with their keyring, instead of the apt sources.
    let toml_dir = work.path().join("project");
    std::fs::create_dir_all(&toml_dir).unwrap();
    std::fs::write(
        toml_dir.join("pare.toml"),
        format!(
            "[image]\nbase = \"scratch\"\n[packages]\ndebian = [\"hello-data\"]\n\
             [[packages.repository]]\nuri = \"http://127.0.0.1:{}\"\nsuite = \"stable\"\ncomponents = [\"main\"]\n\
             keyring = \"{}\"\n",
            repo.port,
            repo.apt_root().join("etc/apt/test-archive.asc").display()
        ),
    )
    .unwrap();
    ok(pare()
        .env("PARE_CACHE_DIR", repo.dir.path().join("cache"))
        .args(["lock", "-f"])
        .arg(toml_dir.join("pare.toml")));
    assert_eq!(
        lock_names(&toml_dir.join("pare.lock")),
        ["hello-data"].map(String::from).into()
    );
    // Naming a script-only package explicitly installs it.
    ok(repo
        .pare("lock")
        .args([
            "--base",
            "scratch",
            "--package",
            "demo-app",
            "--package",
            "dpkg",
            "--lock",
        ])
        .arg(&lock));
    assert!(lock_names(&lock).contains("dpkg"));
}

#[test]
fn bad_signatures_and_unsigned_repositories_are_refused() {
    let Some(repo) = TestRepo::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let lock = work.path().join("pare.lock");
    let inrelease = repo.dists().join("InRelease");
    let signed = std::fs::read_to_string(&inrelease).unwrap();
    // Altered after signing: the signature no longer matches.
    std::fs::write(
        &inrelease,
        signed.replace("Origin: pare-test", "Origin: pare-evil"),
    )
    .unwrap();
    let (code, _, err) = run(repo
        .pare("lock")
        .args(["--base", "scratch", "--package", "hello-data", "--lock"])
        .arg(&lock));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("BAD or unknown signature"), "{err}");
    // Unsigned: refused unless insecure repositories are allowed.
    std::fs::write(&inrelease, repo.release_text()).unwrap();
    let (code, _, err) = run(repo
        .pare("lock")
        .args(["--base", "scratch", "--package", "hello-data", "--lock"])
        .arg(&lock));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("not an OpenPGP cleartext-signed file"),
        "{err}"
    );
    assert!(!lock.exists());
    ok(repo
        .pare("lock")
        .args([
            "--base",
            "scratch",
            "--package",
            "hello-data",
            "--allow-insecure-repositories",
            "--lock",
        ])
        .arg(&lock));
    assert_eq!(lock_names(&lock), ["hello-data"].map(String::from).into());
    // A Packages index that differs from what the signed Release lists is refused.
    repo.sign_release();
    let packages = repo.dists().join("main/binary-amd64/Packages");
    let text = std::fs::read_to_string(&packages).unwrap();
    std::fs::write(&packages, text.replace("Version: 0.1", "Version: 9.9")).unwrap();
    std::fs::remove_file(repo.dists().join("main/binary-amd64/Packages.gz")).unwrap();
    let _ = std::fs::remove_dir_all(repo.dir.path().join("cache"));
    let (code, _, err) = run(repo
        .pare("lock")
        .args(["--base", "scratch", "--package", "hello-data", "--lock"])
        .arg(&lock));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("matches its signed Release"), "{err}");
}

#[test]
fn corrupt_and_truncated_downloads_leave_cache_and_output_clean() {
    let Some(repo) = TestRepo::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let lock = work.path().join("pare.lock");
    ok(repo
        .pare("lock")
        .args(["--base", "scratch", "--package", "hello-data", "--lock"])
        .arg(&lock));
    let before = repo.cache_files();
    let deb = repo.pool("hello-data");
    let good = std::fs::read(&deb).unwrap();
    let build = |name: &str| {
        run(repo
            .pare("build")
            .args([
                "--base",
                "scratch",
                "--package",
                "hello-data",
                "--locked",
                "--lock",
            ])
            .arg(&lock)
            .arg("--output")
            .arg(format!("oci:{}", work.path().join(name).display())))
    };
    // Same size, one byte changed: the SHA256 differs from the index.
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    std::fs::write(&deb, &flipped).unwrap();
    let (code, _, err) = build("corrupt");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("SHA256") && err.contains("hello-data"),
        "{err}"
    );
    assert!(
        !work.path().join("corrupt").exists(),
        "a failed build left its output"
    );
    assert_eq!(
        repo.cache_files(),
        before,
        "a bad download stayed in the cache"
    );
    // Truncated.
    std::fs::write(&deb, &good[..good.len() / 2]).unwrap();
    let (code, _, err) = build("truncated");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("truncated"), "{err}");
    assert!(!work.path().join("truncated").exists());
    assert_eq!(repo.cache_files(), before);
    // Restored, the build works; afterwards it builds offline from the cache.
    std::fs::write(&deb, &good).unwrap();
    let (code, _, err) = build("good");
    assert_eq!(code, 0, "{err}");
    std::fs::remove_file(&deb).unwrap();
    let (code, _, err) = build("offline");
    assert_eq!(code, 0, "offline build from the cache failed: {err}");
}

/// The python3 recipe from the real Debian archive, through the mirror this machine's apt uses.
#[test]
fn python3_recipe_from_the_debian_archive_runs_under_runc() {
    if !require("runc") || !require("umoci") || !require("syft") {
        return;
    }
    if !crate::support::require_apt_sources() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("main.py"),
        "import sys\nprint('app', sys.version_info[0])\n",
    )
    .unwrap();
    std::fs::write(
        work.path().join("pare.toml"),
        "[image]\nbase = \"python3\"\nentrypoint = [\"/usr/bin/python3\", \"/app/main.py\"]\n\
         [[copy]]\nsrc = \"main.py\"\ndst = \"/app/\"\n[build]\noutput = \"oci:out:latest\"\n",
    )
    .unwrap();
    let cache = crate::support::debian_cache();
    let build = || {
        let report: Value = serde_json::from_str(&ok(pare()
            .env("PARE_CACHE_DIR", &cache)
            .args(["build", "--format", "json", "-f"])
            .arg(work.path().join("pare.toml"))))
        .unwrap();
        report
    };
    let first = build();
    let second = build();
    assert_eq!(
        first["manifest_digest"], second["manifest_digest"],
        "rebuild from the lock differs"
    );
    let layout = work.path().join("out");
    let bundle = unpack(&layout, "latest", work.path());
    let config_path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["process"]["args"] = serde_json::json!([
        "/usr/bin/python3",
        "-c",
        "import ssl, sqlite3, json, zlib, ctypes, hashlib, os; ctypes.CDLL('libsqlite3.so.0'); \
         print(ssl.OPENSSL_VERSION, os.getuid())"
    ]);
    // The loader tells how it found each library: through the cache pare wrote.
    config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!("LD_DEBUG=libs"));
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let (code, stdout, stderr) = runc_run(&bundle, work.path());
    assert_eq!(code, 0, "python3 failed under runc:\n{stdout}\n{stderr}");
    assert!(stdout.starts_with("OpenSSL 3."), "{stdout}");
    assert!(
        stdout.trim_end().ends_with(" 65532"),
        "not uid 65532: {stdout}"
    );
    // "find library=libsqlite3.so.0", then " search cache=/etc/ld.so.cache" and the file it tried; a
    // loader without a usable cache prints " search path=..." there instead.
    let lookup: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.contains("find library=libsqlite3.so.0"))
        .take_while(|l| !l.contains("calling init"))
        .collect();
    let lookup = lookup.join("\n");
    assert!(
        lookup.contains("search cache=/etc/ld.so.cache")
            && !lookup.contains("search path=")
            && lookup.contains("trying file=/lib/x86_64-linux-gnu/libsqlite3.so.0"),
        "the loader did not find libsqlite3 through /etc/ld.so.cache:\n{lookup}\n---\n{stderr}"
    );

    // glibc's own ldconfig, run on the same tree (with Debian's /etc/ld.so.conf, which libc-bin would
    // have brought), lists exactly what pare's cache lists, in the same order.
    let rootfs = bundle.join("rootfs");
    std::fs::write(
        rootfs.join("etc/ld.so.conf"),
        "include /etc/ld.so.conf.d/*.conf\n",
    )
    .unwrap();
    ok(Command::new("ldconfig")
        .arg("-X")
        .arg("-r")
        .arg(&rootfs)
        .args(["-C", "/etc/ld.so.cache.glibc"]));
    let listing = |cache: &Path| -> Vec<String> {
        ok(Command::new("ldconfig").arg("-p").arg("-C").arg(cache))
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with("Cache generated by"))
            .map(str::to_string)
            .collect()
    };
    let ours = listing(&rootfs.join("etc/ld.so.cache"));
    assert!(ours.len() > 30, "{ours:?}");
    assert_eq!(ours, listing(&rootfs.join("etc/ld.so.cache.glibc")));

    // The debug variant: one more layer (busybox), every other layer shared, /busybox/sh runs.
    let debug: Value = serde_json::from_str(&ok(pare()
        .env("PARE_CACHE_DIR", &cache)
        .args(["build", "--format", "json", "--debug", "--locked", "-f"])
        .arg(work.path().join("pare.toml"))
        .arg("--output")
        .arg(format!(
            "oci:{}:debug",
            work.path().join("debug-out").display()
        ))))
    .unwrap();
    let digests = crate::support::report_layer_digests;
    let (normal, with_debug) = (digests(&first), digests(&debug));
    assert_eq!(with_debug.len(), normal.len() + 1, "{with_debug:?}");
    assert!(
        normal.iter().all(|d| with_debug.contains(d)),
        "the debug image does not share the normal layers"
    );
    let debug_bundle = unpack(&work.path().join("debug-out"), "debug", work.path());
    let busybox_status = debug_bundle.join("rootfs/var/lib/dpkg/status.d/busybox-static");
    assert!(
        busybox_status.is_file(),
        "scanners cannot see busybox in the debug layer"
    );
    let config_path = debug_bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    assert_eq!(config["process"]["args"][0], "/busybox/sh");
    config["process"]["args"] =
        serde_json::json!(["/busybox/sh", "-c", "echo debug-shell $(id -u)"]);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let (code, stdout, stderr) = runc_run(&debug_bundle, work.path());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "debug-shell 65532");

    // syft sees exactly the locked packages (the debug layer's busybox is locked but not installed).
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(work.path().join("pare.lock")).unwrap()).unwrap();
    let locked: BTreeSet<(String, String)> = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["layer"].as_str() != Some("debug"))
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let seen = crate::support::syft_deb_versions(&layout);
    assert_eq!(
        locked,
        seen,
        "pare.lock vs syft: only locked {:?}, only syft {:?}",
        locked.difference(&seen).collect::<Vec<_>>(),
        seen.difference(&locked).collect::<Vec<_>>()
    );
}

/// Builds a recipe from the Debian archive (host's mirror) with an app layer, and runs `args` in it
/// under runc as the default user; returns stdout.
fn run_recipe(recipe: &str, copies: &[(&Path, &str)], args: &[&str], work: &Path) -> String {
    let cache = crate::support::debian_cache();
    let layout = work.join(format!("out-{recipe}"));
    let mut cmd = pare();
    cmd.env("PARE_CACHE_DIR", &cache)
        .args(["build", "-q", "--base", recipe, "--lock"])
        .arg(work.join(format!("{recipe}.lock")))
        .args(["--entrypoint", args[0]])
        .arg("--output")
        .arg(format!("oci:{}:{recipe}", layout.display()));
    for (src, dst) in copies {
        cmd.arg("--copy").arg(format!("{}:{dst}", src.display()));
    }
    ok(&mut cmd);
    let bundle = unpack(&layout, recipe, work);
    let config_path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["process"]["args"] = serde_json::json!(args);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let (code, stdout, stderr) = runc_run(&bundle, work);
    assert_eq!(
        code, 0,
        "{recipe}: {args:?} failed under runc:\n{stdout}\n{stderr}"
    );
    stdout
}

/// The java recipe: the JRE starts as uid 65532 and trusts the CA certificates through the JKS trust
/// store pare writes in place of ca-certificates-java's maintainer script.
#[test]
fn java_recipe_trusts_the_ca_certificates() {
    if !require("runc") || !require("umoci") || !require("javac") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("Trust.java");
    std::fs::write(
        &source,
        "import javax.net.ssl.*;\nimport java.security.KeyStore;\n\
         public class Trust { public static void main(String[] a) throws Exception {\n\
         TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());\n\
         f.init((KeyStore) null);\n\
         int n = ((X509TrustManager) f.getTrustManagers()[0]).getAcceptedIssuers().length;\n\
         System.out.println(\"trusted \" + n + \" uid \" + new com.sun.security.auth.module.UnixSystem().getUid()); } }\n",
    )
    .unwrap();
    ok(Command::new("javac")
        .args(["--release", "17", "-d"])
        .arg(work.path())
        .arg(&source));
    let class = work.path().join("Trust.class");
    let out = run_recipe(
        "java",
        &[(&class, "/app/Trust.class")],
        &["/usr/bin/java", "-cp", "/app", "Trust"],
        work.path(),
    );
    let count: usize = out
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {out:?}"));
    assert!(count > 100, "only {count} trusted certificates: {out}");
    assert!(out.trim_end().ends_with("uid 65532"), "{out}");
}

/// The nodejs recipe (Debian's nodejs): node starts and has OpenSSL's hashes.
#[test]
fn nodejs_recipe_runs_under_runc() {
    if !require("runc") || !require("umoci") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let out = run_recipe(
        "nodejs",
        &[],
        &["/usr/bin/node", "-e", "console.log(process.versions.node, require('crypto').getHashes().includes('sha256'), process.getuid())"],
        work.path(),
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words.len(), 3, "{out}");
    assert!(words[0].starts_with("18."), "{out}");
    assert_eq!(&words[1..], ["true", "65532"], "{out}");
}

/// Issue 15, points 1-3: `pare build` in a project directory uses its pare.toml; the same project
/// built from two directories, named three ways, with other HOME, TMPDIR, umask and TZ, has one
/// digest (no host path reaches the image); a flag-only build never rewrites a project's lock, and a
/// written lock is 0644.
#[test]
fn one_project_one_digest_however_it_is_built() {
    let Some(repo) = TestRepo::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let project = |at: &Path| {
        std::fs::create_dir_all(at).unwrap();
        std::fs::write(
            at.join("pare.toml"),
            "[image]\nbase = \"scratch\"\nentrypoint = [\"/usr/bin/demo-app\"]\n\
             [packages]\ndebian = [\"demo-app\"]\n[build]\noutput = \"oci:out:latest\"\n",
        )
        .unwrap();
    };
    let a = work.path().join("one/proj");
    let b = work.path().join("elsewhere/two/proj");
    project(&a);
    project(&b);
    // `pare lock` in the project directory finds pare.toml by itself.
    ok(repo.pare("lock").arg("-q").current_dir(&a));
    let lock = a.join("pare.lock");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777,
        0o644,
        "the lock is committed: world-readable"
    );
    std::fs::copy(&lock, b.join("pare.lock")).unwrap();
    let digest = |cmd: &mut Command| -> String {
        let report: Value = serde_json::from_str(&ok(cmd.args(["--format", "json"]))).unwrap();
        report["manifest_digest"].as_str().unwrap().to_string()
    };
    let plain = digest(repo.pare("build").current_dir(&a));
    let relative = digest(
        repo.pare("build")
            .args(["-f", "proj/pare.toml"])
            .current_dir(a.parent().unwrap()),
    );
    let absolute = digest(
        repo.pare("build")
            .arg("-f")
            .arg(a.join("pare.toml"))
            .current_dir("/"),
    );
    let other_home = work.path().join("home");
    std::fs::create_dir_all(&other_home).unwrap();
    let mut elsewhere = Command::new("sh");
    elsewhere
        .arg("-c")
        .arg(format!(
            "umask 077; exec '{}' build --apt-root '{}' --format json",
            env!("CARGO_BIN_EXE_pare"),
            repo.apt_root().display()
        ))
        .current_dir(&b)
        .env("PARE_CACHE_DIR", repo.dir.path().join("cache"))
        .env("HOME", &other_home)
        .env("TMPDIR", &other_home)
        .env("TZ", "Asia/Tokyo")
        .env("LC_ALL", "C")
        .env_remove("SOURCE_DATE_EPOCH");
    let report: Value = serde_json::from_str(&ok(&mut elsewhere)).unwrap();
    let moved = report["manifest_digest"].as_str().unwrap().to_string();
    assert_eq!(plain, relative, "-f proj/pare.toml");
    assert_eq!(plain, absolute, "-f $PWD/pare.toml");
    assert_eq!(
        plain, moved,
        "another directory, HOME, TMPDIR, umask and TZ"
    );
    assert_eq!(report["packages"]["lock"], "used");
    // A flag-only build next to a project's lock reads it but never rewrites it.
    let c = work.path().join("flags-only");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::copy(&lock, c.join("pare.lock")).unwrap();
    let before = std::fs::read(c.join("pare.lock")).unwrap();
    let (code, stdout, stderr) = run(repo
        .pare("build")
        .args([
            "--base",
            "scratch",
            "--package",
            "hello-data",
            "--format",
            "json",
        ])
        .args(["--output", "oci:out:flags"])
        .current_dir(&c));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("without rewriting it"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["packages"]["lock"], "unwritten");
    assert_eq!(
        std::fs::read(c.join("pare.lock")).unwrap(),
        before,
        "the project's lock is untouched"
    );
}

#[test]
fn the_lock_and_the_build_count_the_same_packages() {
    if !crate::support::require_apt_sources() {
        return;
    }
    let cache = crate::support::debian_cache();
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("pare.lock");
    let said = ok(pare()
        .env("PARE_CACHE_DIR", &cache)
        .args(["lock", "--base", "static-debian", "--lock"])
        .arg(&lock));
    let first = said.lines().next().unwrap();
    // "locked 5 packages (...) into FILE: 4 for the image, 1 (busybox-static) only with --debug"
    let for_image: usize = first
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{first}"));
    assert!(
        first.contains("(busybox-static) only with --debug"),
        "{first}"
    );
    let built = ok(pare()
        .env("PARE_CACHE_DIR", &cache)
        .args(["build", "--base", "static-debian", "--lock"])
        .arg(&lock)
        .arg("--output")
        .arg(format!("oci:{}", dir.path().join("out").display())));
    assert!(
        built.contains(&format!("packages  {for_image} Debian packages from")),
        "{first}\n{built}"
    );
}
