//! Unit tests of the lint rules: each rule fires where it should and stays quiet where it should.

use super::*;

fn ids(text: &str) -> Vec<&'static str> {
    let context = Context {
        dir: None,
        ignore: Some(DockerIgnore::parse(".git\n")),
    };
    let report = lint_source(
        "Dockerfile",
        text.as_bytes(),
        &context,
        &LintConfig::default(),
    )
    .unwrap();
    let mut ids: Vec<&str> = report.findings.iter().map(|f| f.rule).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Asserts that each rule fires on `text`.
fn assert_fires(text: &str, expected: &[&str]) {
    let found = ids(text);
    for id in expected {
        assert!(found.contains(id), "{id} missing from {found:?}");
    }
}

#[test]
fn the_seed_go_service_is_clean_but_for_pinning() {
    let text = "FROM golang:1.22 AS build\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /out/my-service .\n\nFROM gcr.io/distroless/static-debian12\nCOPY --from=build /out/my-service /my-service\nUSER 65532:65532\nENTRYPOINT [\"/my-service\"]\n";
    // gcr.io/distroless/static-debian12 has no tag: hadolint (DL3006) says so too.
    assert_eq!(
        ids(text),
        vec!["PARE-LINT-BASE-NOT-PINNED", "PARE-LINT-UNTAGGED-BASE"]
    );
}

#[test]
fn a_static_binary_on_ubuntu_running_as_root() {
    let text = "FROM golang:1.22 AS build\nRUN CGO_ENABLED=0 go build -o /app .\nFROM ubuntu:22.04\nRUN apt-get update && apt-get install -y gcc curl\nCOPY --from=build /app /app\nUSER root\nCMD /app\n";
    assert_fires(
        text,
        &[
            "PARE-LINT-FULL-DISTRO-FOR-STATIC",
            "PARE-LINT-LAST-USER-ROOT",
            "PARE-LINT-APT-LISTS",
            "PARE-LINT-APT-RECOMMENDS",
            "PARE-LINT-APT-UNPINNED",
            "PARE-LINT-BUILD-TOOLS-IN-FINAL",
            "PARE-LINT-SHELL-FORM-COMMAND",
        ],
    );
}

#[test]
fn single_stage_compilers_caches_and_secrets() {
    let text = "FROM python:3.12\nENV API_TOKEN=abc\nARG GITHUB_TOKEN\nRUN pip install flask\nRUN apk add gcc\nCOPY id_rsa /root/.ssh/id_rsa\nCOPY . /app\nUSER app\n";
    assert_fires(
        text,
        &[
            "PARE-LINT-SECRET-ARG-ENV",
            "PARE-LINT-PIP-CACHE",
            "PARE-LINT-PIP-UNPINNED",
            "PARE-LINT-APK-CACHE",
            "PARE-LINT-SINGLE-STAGE-COMPILER",
            "PARE-LINT-SECRET-COPIED",
            "PARE-LINT-USER-NOT-NUMERIC",
            "PARE-LINT-CONSECUTIVE-RUN",
        ],
    );
}

#[test]
fn buildkit_checks() {
    let text = "FROM alpine:3.20 as Build\nMAINTAINER me\nENV A b\nWORKDIR app\nEXPOSE 127.0.0.1:80:80\nCOPY $NOPE /x\nFROM alpine:3.20 AS build\nCOPY --from=build /x /y\nCOPY --from=nowhere /x /y\nCMD [\"a\"]\nCMD [\"b\"]\n";
    assert_fires(
        text,
        &[
            "PARE-LINT-FROM-AS-CASING",
            "PARE-LINT-STAGE-NAME-CASING",
            "PARE-LINT-MAINTAINER",
            "PARE-LINT-LEGACY-KEY-VALUE",
            "PARE-LINT-WORKDIR-RELATIVE",
            "PARE-LINT-EXPOSE-FORMAT",
            "PARE-LINT-UNDEFINED-VAR",
            "PARE-LINT-DUPLICATE-STAGE",
            "PARE-LINT-COPY-FROM-SELF",
            "PARE-LINT-COPY-FROM-UNKNOWN",
            "PARE-LINT-MULTIPLE-CMD",
            "PARE-LINT-NO-USER",
        ],
    );
}

#[test]
fn heredoc_scripts_are_linted_and_caches_in_build_stages_do_not_ship() {
    let text = "FROM debian:12 AS build\nRUN <<EOF\napt-get update\napt-get install -y --no-install-recommends gcc=12\nEOF\nFROM debian:12\nRUN <<EOF\napt-get update\napt-get install -y --no-install-recommends curl=7\nEOF\nUSER 65532\n";
    let context = Context {
        dir: None,
        ignore: None,
    };
    let report = lint_source(
        "Dockerfile",
        text.as_bytes(),
        &context,
        &LintConfig::default(),
    )
    .unwrap();
    let lists: Vec<u32> = report
        .findings
        .iter()
        .filter(|f| f.rule == "PARE-LINT-APT-LISTS")
        .map(|f| match f.location {
            Location::FileLine { line, .. } => line,
            _ => 0,
        })
        .collect();
    assert_eq!(lists, vec![7], "{:?}", report.findings);
}

#[test]
fn ignore_comments_config_and_parse_errors() {
    let text = "FROM debian\n# pare-ignore=DL3008,PARE-LINT-APT-RECOMMENDS\nRUN apt-get install -y curl && rm -rf /var/lib/apt/lists/*\nENV ONLY\nUSER 65532\n";
    let context = Context {
        dir: None,
        ignore: None,
    };
    let config = LintConfig {
        disable: vec!["DL3006".into()],
        severity: [("PARE-LINT-BASE-NOT-PINNED".to_string(), "info".to_string())].into(),
    };
    let report = lint_source("Dockerfile", text.as_bytes(), &context, &config).unwrap();
    let found: Vec<&str> = report.findings.iter().map(|f| f.rule).collect();
    assert!(
        !found.contains(&"PARE-LINT-APT-UNPINNED") && !found.contains(&"PARE-LINT-APT-RECOMMENDS"),
        "{found:?}"
    );
    assert!(!found.contains(&"PARE-LINT-UNTAGGED-BASE"));
    assert!(found.contains(&"PARE-LINT-PARSE"), "{found:?}");
    assert_eq!(report.ignored, 3);
    let pinned = report
        .findings
        .iter()
        .find(|f| f.rule == "PARE-LINT-BASE-NOT-PINNED")
        .unwrap();
    assert_eq!(pinned.severity, Severity::Info);
    let bad = LintConfig {
        disable: vec!["PARE-LINT-NOPE".into()],
        ..LintConfig::default()
    };
    assert!(lint_source("Dockerfile", text.as_bytes(), &context, &bad).is_err());
}

#[test]
fn token_files_in_the_context_are_secrets_whether_named_or_swept_in() {
    let dir = std::env::temp_dir().join(format!("pare-lint-ctx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(".npmrc"),
        "//registry.npmjs.org/:_authToken=npm_abc\n",
    )
    .unwrap();
    std::fs::write(dir.join(".dockerignore"), ".git\n").unwrap();
    let context = Context {
        dir: Some(dir.clone()),
        ignore: Some(DockerIgnore::parse(".git\n")),
    };
    for text in [
        "FROM node:22\nCOPY .npmrc /app/\nUSER 65532\n",
        "FROM node:22\nCOPY . /app\nUSER 65532\n",
    ] {
        let report = lint_source(
            "Dockerfile",
            text.as_bytes(),
            &context,
            &LintConfig::default(),
        )
        .unwrap();
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.rule == "PARE-LINT-SECRET-COPIED" && f.reason.contains(".npmrc")),
            "{text}: {:?}",
            report.findings
        );
    }
    // A .npmrc without a token is configuration, not a secret.
    std::fs::write(dir.join(".npmrc"), "fund=false\n").unwrap();
    let report = lint_source(
        "Dockerfile",
        b"FROM node:22\nCOPY .npmrc /app/\nUSER 65532\n",
        &context,
        &LintConfig::default(),
    )
    .unwrap();
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.rule == "PARE-LINT-SECRET-COPIED"),
        "{:?}",
        report.findings
    );
    let _ = std::fs::remove_dir_all(&dir);
}
