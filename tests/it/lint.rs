//! `pare lint` and `pare init --from-dockerfile` against real peers: hadolint on a corpus of real
//! Dockerfiles (per-rule agreement, every difference put in a named, checked category), the
//! heredocs hadolint cannot parse, SARIF against the 2.1.0 schema, and the seeds' multi-stage Go
//! Dockerfile turned into a pare.toml whose image runs as 65532 under runc.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::models::SARIF_SCHEMA;
use crate::support::{dockerfile_corpus, ok, pare, require, run, runc_run, static_hello, unpack};

/// pare's findings and stages for files, from `pare lint --format json`.
fn pare_lint(files: &[PathBuf]) -> Value {
    let (code, out, err) = run(pare()
        .args(["lint", "--format", "json", "--fail-on", "none"])
        .args(files));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// hadolint's findings (`-f json`), as (file, line, code).
fn hadolint(files: &[PathBuf]) -> Vec<(String, u32, String)> {
    let out = Command::new("hadolint")
        .args(["-f", "json", "--no-fail"])
        .args(files)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "hadolint -f json: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["file"].as_str().unwrap().to_string(),
                x["line"].as_u64().unwrap() as u32,
                x["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The text of the instruction that starts at `line` (continuation lines joined).
fn instruction_text(file: &str, line: u32) -> String {
    let text = fs::read_to_string(file).unwrap_or_default();
    let mut out = String::new();
    for l in text.lines().skip(line.saturating_sub(1) as usize) {
        out.push_str(l);
        out.push('\n');
        let t = l.trim_end();
        if !(t.ends_with('\\') || t.ends_with('`')) {
            break;
        }
    }
    out
}

/// Why pare and hadolint differ on one finding, when it is a known, checked reason.
fn explain(
    code: &str,
    only_hadolint: bool,
    file: &str,
    line: u32,
    report: &Value,
    parse_failed: &BTreeSet<String>,
) -> Option<&'static str> {
    if parse_failed.contains(file) {
        return Some("hadolint could not parse the file (DL1000): it reports nothing else in it");
    }
    let text = instruction_text(file, line);
    let stages = report["stage_list"].as_array().cloned().unwrap_or_default();
    let stage = stages.iter().find(|s| {
        s["start_line"].as_u64().unwrap() as u32 <= line
            && line <= s["end_line"].as_u64().unwrap() as u32
    });
    if stage.is_none() {
        return Some(
            "before the first FROM: no stage (BuildKit refuses such a file), pare lints stages",
        );
    }
    let shipped = stage.is_some_and(|s| s["shipped"] == true);
    let windows = text.to_ascii_lowercase().contains("powershell")
        || fs::read_to_string(file)
            .unwrap_or_default()
            .contains("# escape=`")
        || text.contains("setx ");
    match (code, only_hadolint) {
        ("DL3009" | "DL3019" | "DL3042", true) if !shipped => Some("a package cache in a build stage that does not ship: pare reports caches only where they reach the image"),
        ("DL3009" | "DL3019", true) if text.contains("rm ") && (text.contains("/var/cache/apk") || text.contains("/var/lib/apt/lists")) => Some("the cache is removed in the same RUN, so it is not in the layer"),
        ("DL3006" | "DL3007" | "DL3013" | "DL3018" | "DL3020" | "DL3022", _) if text.contains('$') => Some("a variable: pare substitutes ARG defaults (FROM busybox:$VERSION with VERSION=latest is :latest) and does not judge values it cannot know; hadolint reads the text literally"),
        ("DL3059", true) if windows => Some("a Windows (PowerShell/cmd) RUN: pare's POSIX command splitter counts several commands and, like hadolint for chained commands, stays quiet"),
        ("DL3066", true) if text.trim_start().to_ascii_lowercase().starts_with("user root") => Some("USER root: pare reports it as root (PARE-LINT-LAST-USER-ROOT, hadolint's DL3002) rather than as a name"),
        ("DL3066", true) if later_user(file, line, stage) => Some("an earlier USER of a stage, replaced by a later one: pare judges the USER that runs"),
        ("DL3066", true) if stage.is_some_and(|s| s["index"].as_u64() != Some(stages.len() as u64 - 1)) => Some("a USER name in a stage that is not final: only the final stage's user runs"),
        ("DL3025", true) if text.trim_start().to_ascii_uppercase().starts_with("HEALTHCHECK") => Some("HEALTHCHECK CMD in shell form: pare's rule covers CMD and ENTRYPOINT, whose signals reach PID 1"),
        ("DL3064", false) => Some("the name holds one of BuildKit's SecretsUsedInArgOrEnv words (auth, key, token, ...) that hadolint's list lacks"),
        _ => None,
    }
}

/// Whether a USER after `line` in the same stage replaces it.
fn later_user(file: &str, line: u32, stage: Option<&Value>) -> bool {
    let end = stage.and_then(|s| s["end_line"].as_u64()).unwrap_or(0) as usize;
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .enumerate()
        .any(|(i, l)| {
            i + 1 > line as usize
                && i < end
                && l.trim_start().to_ascii_uppercase().starts_with("USER ")
        })
}

#[test]
fn lint_agrees_with_hadolint_on_a_corpus_of_real_dockerfiles() {
    if !require("hadolint") {
        return;
    }
    let corpus = dockerfile_corpus();
    if corpus.is_empty() {
        return;
    }
    assert!(corpus.len() >= 150, "{} Dockerfiles", corpus.len());
    let ours = pare_lint(&corpus);
    let theirs = hadolint(&corpus);
    let rules: Value = serde_json::from_str(&ok(pare().args([
        "lint",
        "--list-rules",
        "--format",
        "json",
    ])))
    .unwrap();
    // hadolint id -> pare rules that name it.
    let mut peers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rules["rules"].as_array().unwrap() {
        for p in r["peers"].as_array().unwrap() {
            let p = p.as_str().unwrap();
            if p.starts_with("DL") {
                peers
                    .entry(p.to_string())
                    .or_default()
                    .push(r["id"].as_str().unwrap().to_string());
            }
        }
    }
    let reports: BTreeMap<String, &Value> = ours["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["file"].as_str().unwrap().to_string(), r))
        .collect();
    let parse_failed: BTreeSet<String> = theirs
        .iter()
        .filter(|t| t.2 == "DL1000")
        .map(|t| t.0.clone())
        .collect();
    let mut table = Vec::new();
    let mut unexplained = Vec::new();
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for (code, ids) in &peers {
        let h: BTreeSet<(String, u32)> = theirs
            .iter()
            .filter(|t| &t.2 == code)
            .map(|t| (t.0.clone(), t.1))
            .collect();
        let p: BTreeSet<(String, u32)> = reports
            .iter()
            .flat_map(|(file, r)| {
                r["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|f| ids.iter().any(|id| f["rule"] == id.as_str()))
                    .map(move |f| (file.clone(), f["location"]["line"].as_u64().unwrap() as u32))
            })
            .collect();
        let both = h.intersection(&p).count();
        for (set, only_h) in [(h.difference(&p), true), (p.difference(&h), false)] {
            for (file, line) in set {
                let empty = Value::Null;
                match explain(
                    code,
                    only_h,
                    file,
                    *line,
                    reports.get(file).copied().unwrap_or(&empty),
                    &parse_failed,
                ) {
                    Some(why) => *reasons.entry(why).or_default() += 1,
                    None => unexplained.push(format!(
                        "{code} {} {file}:{line}: {}",
                        if only_h { "hadolint only" } else { "pare only" },
                        instruction_text(file, *line).lines().next().unwrap_or("")
                    )),
                }
            }
        }
        table.push(format!(
            "| {code} | {} | {} | {} | {both} |",
            ids.join(", "),
            h.len(),
            p.len()
        ));
    }
    eprintln!(
        "| hadolint | pare rule | hadolint | pare | both |\n|---|---|---|---|---|\n{}",
        table.join("\n")
    );
    for (why, n) in &reasons {
        eprintln!("{n:>4}  {why}");
    }
    eprintln!(
        "{} files hadolint could not parse (DL1000)",
        parse_failed.len()
    );
    assert!(
        unexplained.is_empty(),
        "{} unexplained differences:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
}

/// The heredoc Dockerfiles hadolint fails on (hadolint#960, #1137): pare reads and lints them.
#[test]
fn heredocs_hadolint_cannot_parse_are_linted() {
    if !require("hadolint") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("after-first-word", "FROM debian:12\nRUN cat <<EOF > /etc/motd\nhello\nEOF\nRUN apt-get update && apt-get install -y curl\nUSER 65532\n"),
        ("chomp", "FROM debian:12\nRUN <<-EOF bash\n\tapt-get update\n\tapt-get install -y curl\n\tEOF\nUSER 65532\n"),
    ];
    let mut files = Vec::new();
    for (name, text) in cases {
        let p = dir.path().join(name);
        fs::write(&p, text).unwrap();
        files.push(p);
    }
    let theirs = hadolint(&files);
    let ours = pare_lint(&files);
    for (file, report) in files.iter().zip(ours["files"].as_array().unwrap()) {
        let file = file.display().to_string();
        let codes: Vec<&str> = theirs
            .iter()
            .filter(|t| t.0 == file)
            .map(|t| t.2.as_str())
            .collect();
        let rules: Vec<&str> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        assert!(!rules.contains(&"PARE-LINT-PARSE"), "{file}: {rules:?}");
        for rule in [
            "PARE-LINT-APT-LISTS",
            "PARE-LINT-APT-RECOMMENDS",
            "PARE-LINT-APT-UNPINNED",
        ] {
            assert!(
                rules.contains(&rule),
                "{file}: {rule} missing from {rules:?}"
            );
        }
        eprintln!("{file}: hadolint {codes:?}, pare {rules:?}");
    }
    // hadolint 2.15 still fails on `RUN cat <<EOF > /x` followed by an instruction.
    let first = files[0].display().to_string();
    assert!(
        theirs.iter().any(|t| t.0 == first && t.2 == "DL1000"),
        "hadolint now parses it: {theirs:?}"
    );
}

#[test]
fn sarif_regions_validate_and_exit_codes_follow_fail_on() {
    if !require("check-jsonschema") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let df = dir.path().join("Dockerfile");
    fs::write(&df, "FROM golang:1.22 AS build\nRUN CGO_ENABLED=0 go build -o /app .\nFROM ubuntu\n  COPY --from=build /app /app\nCMD /app\n").unwrap();
    let (code, sarif, err) = run(pare().args(["lint", "--format", "sarif"]).arg(&df));
    assert_eq!(code, 1, "{err}");
    let file = dir.path().join("lint.sarif");
    fs::write(&file, &sarif).unwrap();
    ok(Command::new("check-jsonschema")
        .args(["--schemafile", SARIF_SCHEMA])
        .arg(&file));
    let sarif: Value = serde_json::from_str(&sarif).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let static_on_distro = results
        .iter()
        .find(|r| r["ruleId"] == "PARE-LINT-FULL-DISTRO-FOR-STATIC")
        .expect("static on ubuntu");
    let region = &static_on_distro["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (region["startLine"].as_u64(), region["startColumn"].as_u64()),
        (Some(3), Some(1))
    );
    let untagged = results
        .iter()
        .find(|r| r["ruleId"] == "PARE-LINT-UNTAGGED-BASE")
        .unwrap();
    assert_eq!(
        untagged["locations"][0]["physicalLocation"]["region"]["startColumn"],
        6
    );
    // `--fail-on critical`: nothing that bad, exit 0; an unknown rule in [lint] is exit 2.
    assert_eq!(
        run(pare().args(["lint", "--fail-on", "critical"]).arg(&df)).0,
        0
    );
    let toml = dir.path().join("pare.toml");
    fs::write(&toml, "[lint]\ndisable = [\"PARE-LINT-NOPE\"]\n").unwrap();
    let (code, _, err) = run(pare().args(["lint", "--config"]).arg(&toml).arg(&df));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("PARE-LINT-NOPE"), "{err}");
    let (code, _, err) = run(pare().args(["lint"]).arg(dir.path().join("missing")));
    assert_eq!(code, 2);
    assert!(err.contains("missing"), "{err}");
}

/// The seeds' multi-stage Go Dockerfile: `pare init` writes a pare.toml whose image runs as
/// 65532 with the same entrypoint.
#[test]
fn init_turns_the_seed_dockerfile_into_a_pare_toml_that_runs_as_nonroot() {
    if !require("umoci") || !require("runc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("svc");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        project.join("Dockerfile"),
        "FROM golang:1.22 AS build\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /my-service .\n\nFROM gcr.io/distroless/static-debian12\nCOPY --from=build /my-service /my-service\nUSER nonroot:nonroot\nENTRYPOINT [\"/my-service\"]\n",
    )
    .unwrap();
    let (code, _, err) =
        run(pare()
            .current_dir(&project)
            .args(["init", "--from-dockerfile", "Dockerfile"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("produce build:/my-service"), "{err}");
    let toml = fs::read_to_string(project.join("pare.toml")).unwrap();
    assert!(toml.contains("base = \"static\""), "{toml}");
    // `[lint]` in the same file is lint's; pare build leaves it alone.
    fs::write(
        project.join("pare.toml"),
        format!("{toml}\n[lint]\ndisable = [\"DL3006\"]\n"),
    )
    .unwrap();
    // The build stage's artifact: any static program stands in for the Go service.
    fs::copy(static_hello(), project.join("my-service")).unwrap();
    let (code, _, err) =
        run(pare()
            .current_dir(&project)
            .args(["build", "--output", "oci:out:svc"]));
    assert_eq!(code, 0, "{err}");
    let bundle = unpack(&project.join("out"), "svc", dir.path());
    let config: Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"][0], "/my-service");
    let (code, stdout, stderr) = runc_run(&bundle, dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("uid 65532"), "{stdout}");
    // A second init does not overwrite without --force.
    assert_eq!(
        run(pare()
            .current_dir(&project)
            .args(["init", "--from-dockerfile", "Dockerfile"]))
        .0,
        2
    );
}
