//! `pare scan`: an application image nobody here wrote the parts of, against OSV records, an OSV
//! archive and Debian security tracker data written here around the image's real package versions
//! (fixed / unfixed / not affected / epochs / `~` / source vs binary names / the Go toolchain /
//! PEP 503 names / withdrawn records), and against the real Go vulndb records Debian ships in
//! golang-golang-x-vuln-dev as format fixtures. Also: ignore files with expiry, --only-fixed,
//! --fail-on, a stale database, SARIF against its 2.1.0 schema, and broken data as exit 2.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{ok, pare, require, run};

/// A dpkg version just above `v`: what comes before a `~` (which sorts below the end), else `v+1`.
fn dpkg_above(v: &str) -> String {
    match v.split_once('~') {
        Some((head, _)) => head.to_string(),
        None => format!("{v}+1"),
    }
}

/// A dotted version with its last number one higher (`v28.0.4+incompatible` -> `28.0.5`).
fn bump(v: &str) -> String {
    let core = v.trim_start_matches("go").trim_start_matches('v');
    let core = core.split(['+', '-']).next().unwrap();
    let mut parts: Vec<u64> = core.split('.').map(|p| p.parse().unwrap()).collect();
    *parts.last_mut().unwrap() += 1;
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn rfc3339_days_ago(days: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let out = ok(Command::new("date").args([
        "-u",
        "-d",
        &format!("@{}", now - days * 86_400),
        "+%Y-%m-%dT%H:%M:%SZ",
    ]));
    out.trim().to_string()
}

fn osv(id: &str, aliases: &[&str], ecosystem: &str, name: &str, events: Value) -> Value {
    json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": rfc3339_days_ago(2),
        "aliases": aliases,
        "summary": format!("test advisory {id}"),
        "affected": [{
            "package": {"ecosystem": ecosystem, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": events}],
        }],
    })
}

/// The (`a`, `b`) string fields of each object of a JSON array.
fn pairs(list: &Value, a: &str, b: &str) -> BTreeSet<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o[a].as_str().unwrap().to_string(),
                o[b].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn write(dir: &Path, name: &str, value: &Value) {
    fs::write(dir.join(name), serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

#[test]
fn scan_matches_as_the_trusted_scanners_document() {
    if !require("python3") || !require("date") {
        return;
    }
    let Some(layout) = crate::sbom::mixed_image() else {
        return;
    };
    let image = format!("oci:{}:mixed", layout.display());
    let inventory: Value =
        serde_json::from_str(&ok(pare().args(["inventory", "--format", "json", &image]))).unwrap();
    let packages = inventory["packages"].as_array().unwrap();
    let version_of = |name: &str| -> String {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in the image"))["version"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let openssl_binaries: Vec<String> = packages
        .iter()
        .filter(|p| p["manager"] == "dpkg" && p["source"] == "openssl")
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert!(openssl_binaries.contains(&"libssl3".to_string()));
    let openssl = version_of("libssl3");
    let zlib = version_of("zlib1g");
    assert!(zlib.starts_with("1:"), "zlib1g has an epoch: {zlib}");

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let osv_dir = db.join("osv");
    fs::create_dir_all(&osv_dir).unwrap();
    let mut dsa = osv(
        "DSA-9999-1",
        &["CVE-2099-1000"],
        "Debian:12",
        "openssl",
        json!([{"introduced": "0"}, {"fixed": dpkg_above(&openssl)}]),
    );
    dsa["severity"] =
        json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}]);
    write(&osv_dir, "DSA-9999-1.json", &dsa);
    // Debian's records name source packages: one naming the binary package matches nothing.
    write(
        &osv_dir,
        "DEBIAN-CVE-2099-1001.json",
        &osv(
            "DEBIAN-CVE-2099-1001",
            &[],
            "Debian:12",
            "libssl3",
            json!([{"introduced": "0"}]),
        ),
    );
    write(
        &osv_dir,
        "DSA-9999-3.json",
        &osv(
            "DSA-9999-3",
            &["CVE-2099-1006"],
            "Debian:12",
            "glibc",
            json!([{"introduced": "0"}, {"fixed": "2.0-1"}]),
        ),
    );
    // zlib1g has epoch 1: a fix without an epoch is older than it; one with the epoch is not.
    write(
        &osv_dir,
        "DSA-9999-4.json",
        &osv(
            "DSA-9999-4",
            &["CVE-2099-2001"],
            "Debian:12",
            "zlib",
            json!([{"introduced": "0"}, {"fixed": "1.2.14-1"}]),
        ),
    );
    write(
        &osv_dir,
        "DSA-9999-2.json",
        &osv(
            "DSA-9999-2",
            &["CVE-2099-2000"],
            "Debian:12",
            "zlib",
            json!([{"introduced": "0"}, {"fixed": dpkg_above(&zlib)}]),
        ),
    );
    let stdlib_fix = bump(&version_of("stdlib"));
    let mut go_std = osv(
        "GO-2099-0001",
        &["CVE-2099-3000"],
        "Go",
        "stdlib",
        json!([{"introduced": "0"}, {"fixed": stdlib_fix}]),
    );
    go_std["affected"][0]["ranges"][0]["type"] = json!("SEMVER");
    go_std["severity"] =
        json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]);
    write(&osv_dir, "GO-2099-0001.json", &go_std);
    let docker = version_of("github.com/docker/docker");
    let mut go_mod = osv(
        "GO-2099-0002",
        &[],
        "Go",
        "github.com/docker/docker",
        json!([{"introduced": "0"}, {"fixed": bump(&docker)}]),
    );
    go_mod["affected"][0]["ranges"][0]["type"] = json!("SEMVER");
    write(&osv_dir, "GO-2099-0002.json", &go_mod);
    // PyPI names compare as PEP 503 normalizes them.
    let numpy = version_of("numpy");
    write(
        &osv_dir,
        "PYSEC-2099-1.json",
        &osv(
            "PYSEC-2099-1",
            &[],
            "PyPI",
            "NumPy",
            json!([{"introduced": "2.0"}, {"fixed": bump(&numpy)}]),
        ),
    );
    let mut withdrawn = osv(
        "PYSEC-2099-9",
        &[],
        "PyPI",
        "numpy",
        json!([{"introduced": "0"}]),
    );
    withdrawn["withdrawn"] = json!("2026-01-01T00:00:00Z");
    write(&osv_dir, "PYSEC-2099-9.json", &withdrawn);
    write(
        &osv_dir,
        "PYSEC-2099-3.json",
        &osv(
            "PYSEC-2099-3",
            &[],
            "PyPI",
            "pillow",
            json!([{"introduced": "0"}, {"last_affected": "12.0"}]),
        ),
    );
    let semver = version_of("semver");
    let mut ghsa = osv(
        "GHSA-test-0000-0001",
        &["CVE-2099-4000"],
        "npm",
        "semver",
        json!([{"introduced": "0"}, {"fixed": bump(&semver)}]),
    );
    ghsa["database_specific"] = json!({"severity": "MODERATE"});
    write(&osv_dir, "GHSA-test-0000-0001.json", &ghsa);
    // An osv.dev style archive.
    let member = dir.path().join("PYSEC-2099-2.json");
    write(
        dir.path(),
        "PYSEC-2099-2.json",
        &osv(
            "PYSEC-2099-2",
            &[],
            "PyPI",
            "psycopg2_binary",
            json!([{"introduced": "0"}, {"fixed": "99.0"}]),
        ),
    );
    ok(Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED); z.write(sys.argv[2], 'PYSEC-2099-2.json'); z.close()",
        ])
        .arg(db.join("PyPI-all.zip"))
        .arg(&member));
    // The Debian security tracker's JSON, by source package.
    let tracker = json!({
        "openssl": {
            "CVE-2099-1000": {"description": "the same issue as DSA-9999-1", "releases": {
                "bookworm": {"status": "resolved", "fixed_version": dpkg_above(&openssl), "urgency": "medium"}}},
            "CVE-2099-1002": {"description": "open, no fix", "releases": {
                "bookworm": {"status": "open", "urgency": "low**"}}},
            "CVE-2099-1003": {"description": "bookworm never affected", "releases": {
                "bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "high"}}},
            "CVE-2099-1004": {"description": "no security impact in Debian", "releases": {
                "bookworm": {"status": "open", "urgency": "unimportant"}}},
            "CVE-2099-1007": {"description": "another release only", "releases": {
                "trixie": {"status": "open", "urgency": "high"}}},
        },
        "libssl3": {"CVE-2099-1005": {"description": "a binary name", "releases": {
            "bookworm": {"status": "open", "urgency": "high"}}}},
    });
    write(&db, "tracker.json", &tracker);
    // debian-security-support's real lists, with one line each added for this image's packages.
    let support = Path::new("/usr/share/debian-security-support");
    let (ended, limited) = if support.is_dir() {
        (
            fs::read_to_string(support.join("security-support-ended.deb12")).unwrap(),
            fs::read_to_string(support.join("security-support-limited")).unwrap(),
        )
    } else {
        assert!(
            !crate::support::in_ci(),
            "debian-security-support is a peer (scripts/peers.sh)"
        );
        (String::new(), String::new())
    };
    fs::write(
        db.join("security-support-ended.deb12"),
        format!(
            "{ended}\nopenssl         {openssl}          2020-01-01      test: support ended\n"
        ),
    )
    .unwrap();
    fs::write(
        db.join("security-support-limited"),
        format!("{limited}\nzlib            test: trusted input only\n"),
    )
    .unwrap();
    fs::write(
        db.join("security-support-ended.deb11"),
        "zlib 0 2020-01-01 another release: not for this image\n",
    )
    .unwrap();

    let scan = |extra: &[&str]| -> (i32, Value) {
        let (code, out, err) = run(pare()
            .args(["scan", &image, "--format", "json", "--db"])
            .arg(&db)
            .args(extra));
        assert!(code == 0 || code == 1, "{code}: {err}");
        (code, serde_json::from_str(&out).unwrap())
    };
    let (code, report) = scan(&[]);
    assert_eq!(code, 0, "no --fail-on: exit 0");
    assert_eq!(report["schema"], "pare.scan/v1");
    let found = pairs(&report["vulnerabilities"], "id", "package");
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for binary in &openssl_binaries {
        for id in ["CVE-2099-1000", "CVE-2099-1002", "CVE-2099-1004"] {
            expected.insert((id.into(), binary.clone()));
        }
    }
    for (id, package) in [
        ("CVE-2099-2000", "zlib1g"),
        ("CVE-2099-3000", "stdlib"),
        ("GO-2099-0002", "github.com/docker/docker"),
        ("PYSEC-2099-1", "numpy"),
        ("PYSEC-2099-2", "psycopg2-binary"),
        ("CVE-2099-4000", "semver"),
    ] {
        expected.insert((id.into(), package.into()));
    }
    assert_eq!(found, expected);
    let vuln = |id: &str, package: &str| -> Value {
        report["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == id && v["package"] == package)
            .unwrap()
            .clone()
    };
    let merged = vuln("CVE-2099-1000", "libssl3");
    assert_eq!(
        merged["severity"], "medium",
        "Debian's urgency wins: {merged}"
    );
    assert_eq!(merged["cvss_score"], 7.5);
    assert_eq!(
        merged["fixed_in"].as_str(),
        Some(dpkg_above(&openssl).as_str())
    );
    assert!(merged["aliases"]
        .as_array()
        .unwrap()
        .contains(&json!("DSA-9999-1")));
    assert_eq!(merged["records"].as_array().unwrap().len(), 2, "{merged}");
    assert_eq!(merged["matched_name"], "openssl");
    assert!(
        merged["why"]
            .as_str()
            .unwrap()
            .contains("binary package libssl3"),
        "{merged}"
    );
    assert!(merged["layer"].is_u64() && merged["files"].as_array().is_some_and(|f| !f.is_empty()));
    let unfixed = vuln("CVE-2099-1002", "libssl3");
    assert_eq!(
        (unfixed["severity"].as_str(), &unfixed["fixed_in"]),
        (Some("low"), &Value::Null)
    );
    assert_eq!(vuln("CVE-2099-1004", "libssl3")["severity"], "negligible");
    let stdlib = vuln("CVE-2099-3000", "stdlib");
    assert_eq!(stdlib["severity"], "critical");
    assert_eq!(stdlib["ecosystem"], "Go");
    assert_eq!(
        stdlib["matched_version"],
        version_of("stdlib").trim_start_matches("go")
    );
    assert_eq!(
        vuln("CVE-2099-4000", "semver")["severity"],
        "medium",
        "GHSA's MODERATE"
    );
    assert_eq!(
        vuln("GO-2099-0002", "github.com/docker/docker")["severity"],
        "unknown"
    );
    assert!(report["database"]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let kinds: BTreeSet<&str> = report["database"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "debian-security-support",
            "debian-tracker",
            "osv",
            "osv-zip"
        ])
    );
    let support = pairs(&report["support"], "package", "status");
    for binary in &openssl_binaries {
        assert!(
            support.contains(&(binary.clone(), "ended".into())),
            "{support:?}"
        );
    }
    assert!(
        support.contains(&("zlib1g".into(), "limited".into())),
        "{support:?}"
    );
    assert!(
        !report["support"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["details"].as_str().unwrap().contains("another release")),
        "the deb11 list is not this image's"
    );

    let (_, fixed_only) = scan(&["--only-fixed"]);
    assert!(fixed_only["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["fixed_in"].is_string()));
    assert_eq!(fixed_only["unfixed_left_out"], 2 * openssl_binaries.len());

    let (code, _) = scan(&["--fail-on", "critical"]);
    assert_eq!(
        code, 1,
        "the Go toolchain's critical advisory fails the scan"
    );
    let ignore = dir.path().join("ignore.toml");
    fs::write(
        &ignore,
        "[[ignore]]\nid = \"GO-2099-0001\"\nreason = \"the service never calls the affected package\"\nexpires = \"2999-12-31\"\n\n\
         [[ignore]]\nid = \"GO-2099-0002\"\npackage = \"github.com/docker/docker\"\nreason = \"was fine last year\"\nexpires = \"2020-01-01\"\n",
    )
    .unwrap();
    let (code, ignored) = scan(&[
        "--fail-on",
        "critical",
        "--ignore",
        ignore.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "ignored by its CVE alias: {}", ignored["ignored"]);
    assert_eq!(ignored["ignored"][0][0]["id"], "CVE-2099-3000");
    assert_eq!(ignored["expired_ignores"][0]["id"], "GO-2099-0002");
    assert!(
        ignored["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["id"] == "GO-2099-0002"),
        "an expired entry hides nothing"
    );
    if let Some(python) = crate::support::peers_python() {
        let vex = dir.path().join("scan.vex.json");
        fs::write(
            &vex,
            ok(pare()
                .args(["scan", &image, "--format", "cyclonedx-vex", "--ignore"])
                .arg(&ignore)
                .arg("--db")
                .arg(&db)),
        )
        .unwrap();
        crate::sbom::assert_valid_cyclonedx(&python, &vex);
        let vex: Value = serde_json::from_slice(&fs::read(&vex).unwrap()).unwrap();
        let refs: BTreeSet<&str> = vex["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["bom-ref"].as_str().unwrap())
            .collect();
        let vulnerabilities = vex["vulnerabilities"].as_array().unwrap();
        assert_eq!(
            vulnerabilities.len(),
            found.len(),
            "every match, the ignored one too"
        );
        assert!(vulnerabilities
            .iter()
            .all(|v| refs.contains(v["affects"][0]["ref"].as_str().unwrap())));
        let hidden = vulnerabilities
            .iter()
            .find(|v| v["id"] == "CVE-2099-3000")
            .unwrap();
        assert_eq!(hidden["analysis"]["state"], "not_affected");
        assert_eq!(
            hidden["analysis"]["detail"],
            "the service never calls the affected package"
        );
        assert_eq!(hidden["ratings"][0]["method"], "CVSSv31");
    }
    fs::write(&ignore, "[[ignore]]\nid = \"X\"\nreason = \"\"\n").unwrap();
    let (code, _, err) = run(pare()
        .args(["scan", &image, "--db"])
        .arg(&db)
        .arg("--ignore")
        .arg(&ignore));
    assert_eq!(code, 2, "an entry without a reason: {err}");

    let human = ok(pare().args(["scan", &image, "--db"]).arg(&db));
    assert!(
        human.contains("CVE-2099-1000") && human.contains("fixed in"),
        "{human}"
    );

    if require("check-jsonschema") {
        let sarif = dir.path().join("scan.sarif");
        fs::write(
            &sarif,
            ok(pare()
                .args(["scan", &image, "--format", "sarif", "--db"])
                .arg(&db)),
        )
        .unwrap();
        ok(Command::new("check-jsonschema")
            .arg("--schemafile")
            .arg("/usr/local/share/pare-peers/sarif-schema-2.1.0.json")
            .arg(&sarif));
        let sarif: Value = serde_json::from_slice(&fs::read(&sarif).unwrap()).unwrap();
        let results = sarif["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), found.len());
        assert!(results.iter().all(|r| r["ruleId"] == "PARE-VULNERABILITY"
            && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].is_string()));
    }

    // A stale database fails a scan that asks for fresh data; broken data is exit 2 naming the file.
    let stale = dir.path().join("stale");
    fs::create_dir_all(&stale).unwrap();
    let mut old = osv(
        "GHSA-old",
        &[],
        "npm",
        "semver",
        json!([{"introduced": "0"}]),
    );
    old["modified"] = json!(rfc3339_days_ago(30));
    write(&stale, "old.json", &old);
    let (code, _, err) = run(pare()
        .args(["scan", &image, "--max-db-age", "7d", "--db"])
        .arg(&stale));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("stale"), "{err}");
    let (code, _, _) = run(pare()
        .args(["scan", &image, "--max-db-age", "7d", "--db"])
        .arg(&db));
    assert_eq!(code, 0, "two days old is fresh enough");
    fs::write(stale.join("broken.json"), b"{\"id\": ").unwrap();
    let (code, _, err) = run(pare().args(["scan", &image, "--db"]).arg(&stale));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("broken.json"), "{err}");
}

/// The Go vulndb records Debian ships (golang-golang-x-vuln-dev's test data: single records by id,
/// arrays of records per module, and index files that are not records) read as OSV.
#[test]
fn real_go_vulndb_records_are_read_as_osv() {
    let vulndb = Path::new("/usr/share/gocode/src/golang.org/x/vuln/client/testdata/vulndb");
    if !vulndb.is_dir() {
        assert!(
            !crate::support::in_ci(),
            "golang-golang-x-vuln-dev is a peer (scripts/peers.sh)"
        );
        eprintln!("SKIP: golang-golang-x-vuln-dev is not installed");
        return;
    }
    let Some(layout) = crate::sbom::mixed_image() else {
        return;
    };
    let image = format!("oci:{}:mixed", layout.display());
    let report: Value = serde_json::from_str(&ok(pare()
        .args(["scan", &image, "--format", "json", "--db"])
        .arg(vulndb)))
    .unwrap();
    let records: u64 = report["database"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "osv")
        .map(|s| s["records"].as_u64().unwrap())
        .sum();
    assert!(records >= 10, "{}", report["database"]);
    assert_eq!(report["database"]["advisories"].as_u64(), Some(records));
    assert!(report["database"]["newest_modified"]
        .as_str()
        .unwrap()
        .starts_with("20"));
    // Those records are about beego, gjson and x/text of 2021-2022: dive's modules are newer.
    assert_eq!(report["vulnerabilities"], json!([]));
}

/// The seeds' hardening drill: the same vulnerability data against a fat image (a Debian minbase
/// rootfs made by debootstrap, packed by umoci), the distroless-style python3 recipe and a static
/// image. Every source package of the three gets one unfixed advisory in the tracker and one
/// fixed-above advisory in OSV: the counts fall with the attack surface, and the static image
/// carries none ("the CVEs aren't gone, the attack surface is reduced").
#[test]
fn the_three_image_drill_counts_fall_with_the_attack_surface() {
    if !require("umoci") || !require("gcc") || !crate::support::require_apt_sources() {
        return;
    }
    let Some(rootfs) = crate::support::debootstrap_minbase() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fat = dir.path().join("fat");
    let fat_image = format!("{}:minbase", fat.display());
    ok(Command::new("umoci").args(["init", "--layout"]).arg(&fat));
    ok(Command::new("umoci").args(["new", "--image", &fat_image]));
    ok(Command::new("umoci")
        .args(["insert", "--image", &fat_image])
        .arg(rootfs)
        .arg("/"));
    let python3 = dir.path().join("python3");
    ok(pare()
        .env("PARE_CACHE_DIR", crate::support::debian_cache())
        .args(["build", "-q", "--base", "python3", "--output"])
        .arg(format!("oci:{}:recipe", python3.display())));
    let static_layout = dir.path().join("static");
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!(
            "{}:/hello",
            crate::support::static_hello().display()
        ))
        .args(["--entrypoint", "/hello", "--output"])
        .arg(format!("oci:{}:hello", static_layout.display())));
    let images = [
        format!("oci:{fat_image}"),
        format!("oci:{}:recipe", python3.display()),
        format!("oci:{}:hello", static_layout.display()),
    ];
    let mut sources: BTreeSet<(String, String)> = BTreeSet::new();
    for image in &images {
        let inventory: Value =
            serde_json::from_str(&ok(pare().args(["inventory", "--format", "json", image])))
                .unwrap();
        for p in inventory["packages"].as_array().unwrap() {
            if p["manager"] == "dpkg" {
                let name = p["source"].as_str().or(p["name"].as_str()).unwrap();
                let version = p["source_version"]
                    .as_str()
                    .or(p["version"].as_str())
                    .unwrap();
                sources.insert((name.to_string(), version.to_string()));
            }
        }
    }
    let db = dir.path().join("db");
    fs::create_dir_all(&db).unwrap();
    let mut tracker = serde_json::Map::new();
    for (i, (source, version)) in sources.iter().enumerate() {
        tracker.insert(
            source.clone(),
            json!({ format!("CVE-2099-{:05}", i): {"description": "unfixed", "releases": {
                "bookworm": {"status": "open", "urgency": "medium"}}}}),
        );
        write(
            &db,
            &format!("DSA-{i}.json"),
            &osv(
                &format!("DSA-{i}"),
                &[&format!("CVE-2098-{i:05}")],
                "Debian:12",
                source,
                json!([{"introduced": "0"}, {"fixed": dpkg_above(version)}]),
            ),
        );
    }
    write(&db, "tracker.json", &Value::Object(tracker));
    let counts: Vec<usize> = images
        .iter()
        .map(|image| {
            let report: Value = serde_json::from_str(&ok(pare()
                .args(["scan", "--format", "json", image, "--db"])
                .arg(&db)))
            .unwrap();
            report["vulnerabilities"].as_array().unwrap().len()
        })
        .collect();
    assert!(
        counts[0] > counts[1] && counts[1] > counts[2] && counts[2] == 0,
        "fat {} > python3 {} > static {} = 0",
        counts[0],
        counts[1],
        counts[2]
    );
}

/// `pare db fetch` from a local HTTP server: an osv.dev-style all.zip and the tracker's JSON are
/// kept under their names with pare-db.toml recording them, and scan reads the directory; an HTML
/// error page or a missing file is exit 2 and leaves the directory as it was.
#[test]
fn db_fetch_downloads_checks_and_records() {
    if !require("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    fs::create_dir_all(served.join("Debian")).unwrap();
    fs::create_dir_all(served.join("tracker/data")).unwrap();
    let record = dir.path().join("DSA-1.json");
    write(
        dir.path(),
        "DSA-1.json",
        &osv(
            "DSA-1",
            &["CVE-2099-1"],
            "Debian:12",
            "openssl",
            json!([{"introduced": "0"}]),
        ),
    );
    ok(Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED); z.write(sys.argv[2], 'DSA-1.json'); z.close()",
        ])
        .arg(served.join("Debian/all.zip"))
        .arg(&record));
    fs::write(
        served.join("tracker/data/json"),
        serde_json::to_vec(&json!({"zlib": {"CVE-2099-2": {"releases": {
            "bookworm": {"status": "open", "urgency": "low"}}}}}))
        .unwrap(),
    )
    .unwrap();
    fs::write(served.join("error.html"), "<html>rate limited</html>").unwrap();
    let port = crate::support::free_port();
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(&served)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "http.server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let base = format!("http://127.0.0.1:{port}");
    let db = dir.path().join("db");
    let report: Value = serde_json::from_str(&ok(pare()
        .args(["db", "fetch", "--format", "json", "--url"])
        .arg(format!("{base}/Debian/all.zip"))
        .arg("--url")
        .arg(format!("tracker.json={base}/tracker/data/json"))
        .arg(&db)))
    .unwrap();
    assert_eq!(report["schema"], "pare.db-fetch/v1");
    let fetched = report["fetched"].as_array().unwrap();
    assert_eq!(fetched[0]["file"], "Debian-all.zip");
    assert_eq!(fetched[0]["kind"], "osv-zip");
    assert_eq!(fetched[0]["records"], 1);
    assert_eq!(fetched[1]["file"], "tracker.json");
    assert_eq!(fetched[1]["kind"], "debian-tracker");
    let zip_digest = crate::support::sha256_file(&fs::read(db.join("Debian-all.zip")).unwrap());
    assert_eq!(
        format!("sha256:{}", fetched[0]["sha256"].as_str().unwrap()),
        zip_digest
    );
    let manifest = fs::read_to_string(db.join("pare-db.toml")).unwrap();
    assert!(manifest.contains("Debian-all.zip") && manifest.contains("/tracker/data/json"));
    let before: BTreeSet<String> = fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for bad in [
        format!("{base}/error.html"),
        format!("Debian-all.zip={base}/missing.zip"),
    ] {
        let (code, _, err) = run(pare().args(["db", "fetch", "--url", &bad]).arg(&db));
        assert_eq!(code, 2, "{bad}: {err}");
    }
    let after: BTreeSet<String> = fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(before, after, "a refused download leaves nothing behind");
    assert_eq!(
        crate::support::sha256_file(&fs::read(db.join("Debian-all.zip")).unwrap()),
        zip_digest
    );
    let _ = server.kill();
    let _ = server.wait();
    // What was fetched is what scan reads.
    let scan: Value = serde_json::from_str(&ok(pare()
        .args(["scan", "--format", "json", "--db"])
        .arg(&db)
        .arg(format!("oci:{}:hello", {
            let layout = dir.path().join("hello");
            ok(pare()
                .args(["build", "-q", "--copy"])
                .arg(format!(
                    "{}:/hello",
                    crate::support::static_hello().display()
                ))
                .args(["--entrypoint", "/hello", "--output"])
                .arg(format!("oci:{}:hello", layout.display())));
            layout.display().to_string()
        }))))
    .unwrap();
    assert_eq!(scan["database"]["advisories"], 2);
}
