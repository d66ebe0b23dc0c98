//! Behaving like the tools users know (issue 15): exit codes by whose fault it is, help that starts
//! with what pare is, suggestions for near misses, pare.toml fields that take what the flags take.

use std::fs;

use crate::support::{ok, pare, run, static_hello};

/// A missing or unreadable input is the user's to fix: exit 2, with the path, for every verb.
#[test]
fn missing_inputs_are_exit_2_for_every_verb() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.tar");
    let missing = missing.display().to_string();
    let layout = dir.path().join("out");
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output"])
        .arg(format!("oci:{}:x", layout.display())));
    let good = format!("oci:{}:x", layout.display());
    let cases: Vec<Vec<String>> = vec![
        vec!["audit".into(), format!("docker-archive:{missing}")],
        vec!["audit".into(), format!("oci-archive:{missing}")],
        vec!["inventory".into(), format!("docker-archive:{missing}")],
        vec![
            "diff".into(),
            good.clone(),
            format!("oci-archive:{missing}"),
        ],
        vec![
            "gate".into(),
            good.clone(),
            "--baseline".into(),
            format!("{missing}.json"),
        ],
        vec![
            "audit".into(),
            "--policy".into(),
            format!("{missing}.toml"),
            good.clone(),
        ],
        vec![
            "copy".into(),
            format!("docker-archive:{missing}"),
            format!("oci:{}:y", dir.path().join("o2").display()),
        ],
        vec![
            "push".into(),
            format!("docker-archive:{missing}"),
            "docker://127.0.0.1:9/x:1".into(),
        ],
        vec![
            "build".into(),
            "--copy".into(),
            format!("{missing}:/x"),
            "--output".into(),
            format!("oci:{}:z", dir.path().join("o3").display()),
        ],
        vec!["inspect-binary".into(), missing.clone()],
    ];
    for args in cases {
        let (code, _, stderr) = run(pare().args(&args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("missing.tar"),
            "{args:?} names the path: {stderr}"
        );
    }
}

#[test]
fn help_starts_with_what_pare_is_and_near_misses_get_suggestions() {
    let help = ok(pare().arg("--help"));
    assert!(
        help.starts_with("pare makes and keeps container images minimal"),
        "{help}"
    );
    assert!(
        help.contains("Examples:") && help.contains("pare audit oci:out:latest"),
        "{help}"
    );
    let build = ok(pare().args(["build", "--help"]));
    assert!(
        build.contains("python3") && build.contains("static-debian"),
        "--base lists the recipes"
    );
    let (code, _, stderr) = run(pare().args(["audit", "127.0.0.1:5000/team/web:1.0"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("did you mean docker://127.0.0.1:5000/team/web:1.0"),
        "{stderr}"
    );
}

/// pare.toml takes what the flags take: `entrypoint = "/web"`, `expose = [8080]`.
#[test]
fn pare_toml_takes_what_the_flags_take() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(static_hello(), dir.path().join("web")).unwrap();
    fs::write(
        dir.path().join("pare.toml"),
        "[image]\nentrypoint = \"/web\"\nexpose = [8080, \"53/udp\"]\n\
         [[copy]]\nsrc = \"web\"\ndst = \"/web\"\nmode = 0o755\n[build]\noutput = \"oci:out:web\"\n",
    )
    .unwrap();
    // No -f: the pare.toml of the current directory is the build file.
    ok(pare().args(["build", "-q"]).current_dir(dir.path()));
    let (_, config) = crate::support::image_json(&dir.path().join("out"), "web");
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/web"]));
    let ports = config["config"]["ExposedPorts"].as_object().unwrap();
    assert!(
        ports.contains_key("8080/tcp") && ports.contains_key("53/udp"),
        "{ports:?}"
    );
}

/// inspect-binary exits 1 when a library would be MISSING; gate echoes a limit in the units given.
#[test]
fn inspect_binary_fails_on_missing_libraries_and_gate_speaks_the_users_units() {
    if !crate::support::require("gcc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("g.c"), "int gone(void) { return 0; }\n").unwrap();
    fs::write(
        dir.path().join("m.c"),
        "int gone(void);\nint main(void) { return gone(); }\n",
    )
    .unwrap();
    let gcc = |args: &[&str]| {
        ok(std::process::Command::new("gcc")
            .current_dir(dir.path())
            .args(args))
    };
    gcc(&["-shared", "-fPIC", "-o", "libgone.so", "g.c"]);
    gcc(&["-o", "app", "m.c", "-L.", "-lgone"]);
    fs::remove_file(dir.path().join("libgone.so")).unwrap();
    let (code, stdout, _) = run(pare().arg("inspect-binary").arg(dir.path().join("app")));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("MISSING      libgone.so"), "{stdout}");
    let (code, _, _) = run(pare().arg("inspect-binary").arg(static_hello()));
    assert_eq!(code, 0);

    let layout = dir.path().join("out");
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output"])
        .arg(format!("oci:{}:x", layout.display())));
    let image = format!("oci:{}:x", layout.display());
    let report: serde_json::Value = serde_json::from_str(&ok(pare().args([
        "gate",
        "--format",
        "json",
        "--max-growth",
        "200KiB",
        "--baseline-image",
        &image,
        &image,
    ])))
    .unwrap();
    assert_eq!(report["limit"], "200KiB (204800 bytes)");
    assert!(report["reason"]
        .as_str()
        .unwrap()
        .ends_with("the limit is 200KiB (204800 bytes)"));
}

/// A missing tag lists the tags there are; a docker-archive without NAME:TAG warns it loads untagged.
#[test]
fn near_misses_on_tags_and_names_say_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("out");
    for tag in ["v1", "v2"] {
        ok(pare()
            .args(["build", "-q", "--copy"])
            .arg(format!("{}:/hello", static_hello().display()))
            .args(["--entrypoint", "/hello", "--output"])
            .arg(format!("oci:{}:{tag}", layout.display())));
    }
    let (code, _, stderr) = run(pare()
        .arg("audit")
        .arg(format!("oci:{}:v3", layout.display())));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no image tagged \"v3\"") && stderr.contains("its tags are: v1, v2"),
        "{stderr}"
    );
    let (code, _, stderr) = run(pare()
        .arg("copy")
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!(
            "docker-archive:{}",
            dir.path().join("a.tar").display()
        )));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("loads the image untagged"), "{stderr}");
}

#[test]
fn with_format_json_errors_and_warnings_are_json_too() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("oci:{}", dir.path().join("nothing").display());
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "audit".into(),
                "--format".into(),
                "json".into(),
                missing.clone(),
            ],
            "input",
        ),
        (
            vec![
                "diff".into(),
                "--format".into(),
                "json".into(),
                missing.clone(),
                missing.clone(),
            ],
            "input",
        ),
        (
            vec![
                "copy".into(),
                "--format".into(),
                "json".into(),
                "--compression".into(),
                "brotli".into(),
                missing.clone(),
                format!("oci:{}", dir.path().join("out").display()),
            ],
            "usage",
        ),
        (
            vec![
                "build".into(),
                "--format".into(),
                "json".into(),
                "--copy".into(),
                "/nonexistent/app:/app".into(),
                "--output".into(),
                format!("oci:{}", dir.path().join("out").display()),
            ],
            "input",
        ),
    ];
    for (args, kind) in cases {
        let (code, stdout, stderr) = run(pare().args(&args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        let doc: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {stdout}"));
        assert_eq!(doc["schema"], "pare.error/v1");
        assert_eq!(doc["error"]["kind"], kind, "{args:?}: {doc}");
        assert_eq!(doc["error"]["exit_code"], 2);
        assert!(
            doc["error"]["message"].as_str().unwrap().len() > 10,
            "{doc}"
        );
        assert!(
            stderr.starts_with("error: "),
            "humans still get the line: {stderr}"
        );
    }
    // A warning under --format json is a JSON line on stderr; the report on stdout stays clean.
    let (code, stdout, stderr) = run(pare()
        .args(["build", "--format", "json", "--user", "0:0", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output"])
        .arg(format!("oci:{}:root", dir.path().join("out").display())));
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["user"], "0:0");
    let warning: serde_json::Value = serde_json::from_str(
        stderr
            .lines()
            .find(|l| l.contains("root"))
            .unwrap_or_else(|| panic!("no warning: {stderr}")),
    )
    .unwrap();
    assert!(
        warning["warning"].as_str().unwrap().contains("uid 0"),
        "{warning}"
    );
}

#[test]
fn long_history_lines_are_shortened_on_screen_and_whole_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("out");
    let mut cmd = pare();
    cmd.args(["build", "-q", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello"]);
    for i in 0..30 {
        cmd.arg("--copy").arg(format!(
            "{}:/srv/a-rather-long-directory-name/{i}",
            static_hello().display()
        ));
    }
    ok(cmd
        .arg("--output")
        .arg(format!("oci:{}:long", layout.display())));
    let reference = format!("oci:{}:long", layout.display());
    let (_, human, _) = run(pare().args(["audit", &reference]));
    let line = human
        .lines()
        .find(|l| l.contains("pare build: copy to"))
        .unwrap_or_else(|| panic!("{human}"));
    assert!(
        line.contains("more characters; --format json shows it whole"),
        "{line}"
    );
    assert!(line.chars().count() < 330, "{line}");
    let (_, json, _) = run(pare().args(["audit", "--format", "json", &reference]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let whole = report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["created_by"].as_str())
        .find(|c| c.starts_with("pare build: copy to"))
        .unwrap();
    assert!(
        whole.ends_with("/srv/a-rather-long-directory-name/9"),
        "{whole}"
    );
    assert!(whole.len() > 1000);
}

#[test]
fn without_a_terminal_progress_is_plain_lines_and_quiet_means_none() {
    let dir = tempfile::tempdir().unwrap();
    let build = |tag: &str, extra: &[&str], interval: Option<&str>| {
        let mut cmd = pare();
        if let Some(ms) = interval {
            cmd.env("PARE_PROGRESS_INTERVAL_MS", ms);
        }
        let (code, stdout, stderr) = run(cmd
            .arg("build")
            .args(extra)
            .arg("--copy")
            .arg(format!("{}:/hello", static_hello().display()))
            .args(["--entrypoint", "/hello", "--output"])
            .arg(format!("oci:{}:{tag}", dir.path().join("out").display())));
        assert_eq!(code, 0, "{stderr}");
        (stdout, stderr)
    };
    // stderr is a pipe here, as in a CI log: with every step due, each is a plain line (no bar codes).
    let (_, stderr) = build("a", &[], Some("0"));
    assert!(stderr.contains("  layer 1/"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no escape codes without a terminal: {stderr:?}"
    );
    // --format json: the progress lines are JSON too.
    let (_, stderr) = build("b", &["--format", "json"], Some("0"));
    for line in stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v.get("progress").is_some() || v.get("warning").is_some(),
            "{line}"
        );
    }
    assert!(!stderr.is_empty());
    // --quiet: nothing; the default interval: a build done within it prints no progress at all.
    let (_, stderr) = build("c", &["-q"], Some("0"));
    assert_eq!(stderr, "");
    let (_, stderr) = build("d", &[], None);
    assert_eq!(stderr, "", "a quick build leaves the log alone");
}

#[test]
fn lock_and_pull_offer_only_the_flags_that_matter_to_them() {
    let help = ok(pare().args(["lock", "--help"]));
    for flag in [
        "--base",
        "--package",
        "--lock",
        "--platform",
        "--apt-root",
        "--file",
    ] {
        assert!(help.contains(flag), "pare lock --help lacks {flag}");
    }
    for flag in [
        "--copy",
        "--entrypoint",
        "--output",
        "--tzdata",
        "--compression",
        "--no-closure",
    ] {
        assert!(
            !help.contains(flag),
            "pare lock --help offers {flag}, which changes no lock"
        );
    }
    let (code, _, stderr) = run(pare().args(["lock", "--copy", "a:/a"]));
    assert_eq!(code, 2, "{stderr}");
    let help = ok(pare().args(["pull", "--help"]));
    for flag in ["--chunk-size", "--compression"] {
        assert!(
            !help.contains(flag),
            "pare pull --help offers the upload-only {flag}"
        );
    }
    assert!(ok(pare().args(["push", "--help"])).contains("--chunk-size"));
}
