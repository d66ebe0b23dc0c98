//! pare-dockerfile against BuildKit's own parser (PyPI `dockerfile`, BuildKit v0.12.5 compiled
//! in): every Dockerfile of a corpus nobody here wrote (the Dockerfiles in the Debian source
//! packages of buildah, docker.io, podman, containerd, runc, skopeo, … fetched by
//! `scripts/dockerfile-corpus.py` from this machine's apt mirror) plus the heredoc and quirk cases
//! below must give the same instructions, flags, values, heredoc bodies and lines, or both must
//! refuse the file. The few places where current BuildKit reads differently from v0.12.5 are
//! cases of their own, each with the reason; pare follows current BuildKit there.

#![allow(clippy::print_stderr)] // a skipped or summarised comparison says so on stderr

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn venv_python() -> Option<PathBuf> {
    let venv = std::env::var_os("PARE_PEERS_VENV").unwrap_or_else(|| "/opt/pare-peers".into());
    let python = Path::new(&venv).join("bin/python3");
    let ok = Command::new(&python)
        .args(["-c", "import dockerfile"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    assert!(
        !in_ci(),
        "BuildKit's parser (PyPI dockerfile) is missing: run scripts/peers.sh"
    );
    eprintln!("SKIP: BuildKit's parser (PyPI dockerfile) is not installed; run scripts/peers.sh");
    None
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The corpus directory (fetched once per machine into TMPDIR) and its files.
fn corpus() -> Vec<PathBuf> {
    let dir = std::env::temp_dir().join("pare-it-dockerfiles");
    let out = Command::new("python3")
        .arg(repo().join("scripts/dockerfile-corpus.py"))
        .arg(&dir)
        .output()
        .expect("run scripts/dockerfile-corpus.py");
    assert!(
        out.status.success(),
        "dockerfile-corpus.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != ".complete") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// BuildKit's reading of each file.
fn buildkit(python: &Path, files: &[PathBuf]) -> Vec<Value> {
    let mut all = Vec::new();
    for chunk in files.chunks(200) {
        let out = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/buildkit_parse.py"))
            .args(chunk)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        all.extend(v.as_array().unwrap().iter().cloned());
    }
    all
}

/// pare's reading in the shape the binding reports (BuildKit v0.12.5's AST: ENV pairs without
/// separators, an unknown instruction's one empty value, ONBUILD's inner instruction's values).
fn pare(path: &Path) -> Value {
    let df = pare_dockerfile::parse(&std::fs::read(path).unwrap());
    if let Some(p) = df
        .problems
        .iter()
        .find(|p| p.kind == pare_dockerfile::ProblemKind::Error)
    {
        return json!({"error": p.message, "commands": []});
    }
    let commands: Vec<Value> = df
        .instructions
        .iter()
        .map(|i| {
            let target = i.onbuild.as_deref().unwrap_or(i);
            let mut values: Vec<&str> = target.args.iter().map(|a| a.value.as_str()).collect();
            if target.keyword == pare_dockerfile::Keyword::Unknown {
                values = vec![""];
            }
            let heredocs: Vec<Value> = if i.onbuild.is_some() {
                Vec::new()
            } else {
                i.heredocs
                    .iter()
                    .map(|h| json!({"name": h.name, "fd": h.fd, "content": h.content}))
                    .collect()
            };
            json!({
                "cmd": i.word,
                "sub_cmd": i.onbuild.as_ref().map(|c| c.word.clone()),
                "json": target.json,
                "start_line": i.start.line,
                "end_line": i.end_line,
                "flags": i.flags.iter().map(|f| f.value.as_str()).collect::<Vec<_>>(),
                "value": values,
                "heredocs": heredocs,
            })
        })
        .collect();
    json!({"error": null, "commands": commands})
}

/// Whether pare and BuildKit agree on one file; the difference when not.
fn agree(bk: &Value, ours: &Value) -> Result<(), String> {
    match (bk["error"].is_null(), ours["error"].is_null()) {
        (false, false) => Ok(()),
        (true, true) if bk["commands"] == ours["commands"] => Ok(()),
        (true, true) => {
            let (a, b) = (
                bk["commands"].as_array().unwrap(),
                ours["commands"].as_array().unwrap(),
            );
            for (x, y) in a.iter().zip(b) {
                if x != y {
                    return Err(format!("BuildKit {x}\n   pare {y}"));
                }
            }
            Err(format!(
                "BuildKit has {} instructions, pare {}",
                a.len(),
                b.len()
            ))
        }
        _ => Err(format!(
            "BuildKit error {:?}, pare error {:?}",
            bk["error"], ours["error"]
        )),
    }
}

/// Heredoc and quirk cases written for this test: BuildKit and pare must agree on each.
const CASES: &[(&str, &str)] = &[
    ("heredoc-not-first-word", "FROM debian\nRUN cat <<EOF > /x\nhello\nEOF\nUSER 65532\n"),
    ("heredoc-chomp", "FROM debian\nRUN <<-EOT bash\n\tset -e\n\techo hi\n\tEOT\nCMD x\n"),
    ("heredoc-several", "FROM d\nRUN <<A cat - <<'B' 2<<\"C\"\n1\nA\n$two\nB\n3\nC\nCOPY <<X <<Y /dest/\nx\nX\ny\nY\n"),
    ("heredoc-copy-add", "FROM d\nCOPY <<EOF /etc/app.conf\nkey=value\nEOF\nADD --chmod=755 <<EOF /usr/bin/x\n#!/bin/sh\nexit 0\nEOF\n"),
    ("heredoc-flags", "FROM d\nRUN --mount=type=cache,target=/var/cache/apt <<EOF\napt-get update\nEOF\n"),
    ("heredoc-json-not", "FROM d\nRUN [\"sh\", \"-c\", \"<<EOF\"]\nENV X=<<EOF\nEXPOSE 80\n"),
    ("heredoc-quoted-word", "FROM d\nRUN echo '<<EOF' \"<<X\" a<<B\nB\nRUN x\n"),
    ("heredoc-continued-line", "FROM d\nRUN python3 <<EOF \\\n  && echo done\nprint(1)\nEOF\n"),
    ("heredoc-unterminated", "FROM d\nRUN <<EOF\nnever ends\n"),
    ("heredoc-in-onbuild", "FROM d\nONBUILD RUN <<X\ny\nX\nUSER 1\n"),
    ("heredoc-crlf", "FROM d\r\nRUN <<EOF\r\nline\r\nEOF\r\nUSER 1\r\n"),
    ("heredoc-terminator-spaces", "FROM d\nRUN <<EOF\nbody\nEOF \nEOF\n"),
    ("heredoc-empty-body", "FROM d\nRUN <<EOF\nEOF\n"),
    ("heredoc-expand-escape", "FROM d\nRUN <<\\EOF\nx\nEOF\n"),
    ("heredoc-python-app", "FROM python:3.12-slim\nWORKDIR /app\nCOPY <<EOF /app/main.py\nimport http.server\nprint('hi')\nEOF\nRUN <<EOF\nset -eux\npip install --no-cache-dir flask==3.0.0\nEOF\nCMD [\"python\", \"/app/main.py\"]\n"),
    ("heredoc-then-instructions", "FROM alpine\nRUN <<-EOF sh\n\tapk add --no-cache curl\nEOF\nRUN cat <<EOF >/etc/motd\nwelcome\nEOF\nUSER 65532\nENTRYPOINT [\"/bin/true\"]\n"),
    ("heredoc-fd-and-redirect", "FROM d\nRUN cat 3<<EOF >&3 <<EOT\nthree\nEOF\nzero\nEOT\n"),
    ("heredoc-name-with-dash", "FROM d\nRUN <<END-OF-FILE\nbody\nEND-OF-FILE\nRUN <<\"A B\"\nx\nA B\n"),
    ("continuation-comments", "FROM d\nRUN a \\\n# c\n  b \\\n\n  c\n"),
    ("continuation-escape-directive", "# escape=`\nFROM d\nRUN a `\n  b\nCOPY c:\\x d\n"),
    ("directive-after-comment", "# hello\n# escape=`\nFROM d\nRUN a `\nRUN b\n"),
    ("escaped-escape-end", "FROM d\nRUN echo a\\\\\nRUN b\n"),
    ("flags-quoted", "FROM d\nRUN --mount=\"type=secret,id=a b\" --network=none make\nCOPY --from=0 -- --weird /x\n"),
    ("json-forms", "FROM d\nCMD [\"a\", \"b c\"]\nENTRYPOINT [ \"/x\" ]\nCMD [ bad json ]\nSHELL [\"/bin/bash\", \"-c\"]\nVOLUME [\"/v\"]\nVOLUME /a /b\n"),
    ("env-label-forms", "FROM d\nENV A=1 B=\"2 3\" C='4'\nENV D 5 6\nLABEL a=b \"c d\"=e\nARG X Y=1\n"),
    ("healthcheck", "FROM d\nHEALTHCHECK NONE\nHEALTHCHECK --interval=5s CMD curl -f http://x/ || exit 1\nHEALTHCHECK CMD [\"/hc\"]\n"),
    ("unknown-and-empty", "FROM d\nFOO bar\nUSER\nEXPOSE\nonbuild copy . /x\n"),
    ("bom-and-case", "\u{feff}from d As b\nrun echo\n"),
    ("bad-env", "FROM d\nENV ONLY\n"),
    ("bad-json", "FROM d\nCMD [\"a\", 1]\n"),
    ("empty", "# just a comment\n"),
];

/// Cases where current BuildKit reads differently from v0.12.5: what v0.12.5 says is checked to
/// differ, and pare's reading is checked against current BuildKit's.
#[test]
fn where_current_buildkit_differs_from_v0_12_5() {
    let Some(python) = venv_python() else { return };
    let dir = tempfile_dir();
    // 1. JSON followed by more text: v0.12.5 decodes the first JSON value and drops the rest;
    //    BuildKit since v0.13 (json.Unmarshal) reads the line as shell form.
    // 2. `<< EOF` (space after <<): a heredoc since BuildKit v0.19 ("allow whitespace in
    //    heredocs"), a plain word before.
    // 3. `# check=` is a directive since v0.15; v0.12.5 ends the directives there, so a later
    //    `# escape=` is a comment to it.
    let cases = [
        ("json-trailing", "FROM d\nCMD [\"a\"] trailing\n"),
        ("heredoc-space", "FROM d\nRUN << EOF\nbody\nEOF\n"),
        (
            "check-then-escape",
            "# check=skip=all\n# escape=`\nFROM d\nRUN a `\n  b\n",
        ),
    ];
    let files: Vec<PathBuf> = cases
        .iter()
        .map(|(name, text)| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        })
        .collect();
    let bk = buildkit(&python, &files);
    for ((name, _), (file, old)) in cases.iter().zip(files.iter().zip(&bk)) {
        assert!(
            agree(old, &pare(file)).is_err(),
            "{name}: v0.12.5 and pare now agree; drop the case"
        );
    }
    let df = |i: usize| pare_dockerfile::parse(&std::fs::read(&files[i]).unwrap());
    let json_trailing = df(0);
    assert!(!json_trailing.instructions[1].json);
    assert_eq!(
        json_trailing.instructions[1].args[0].value,
        "[\"a\"] trailing"
    );
    let heredoc_space = df(1);
    assert_eq!(heredoc_space.instructions.len(), 2);
    assert_eq!(heredoc_space.instructions[1].heredocs[0].content, "body\n");
    let check = df(2);
    assert_eq!(check.escape, '`');
    assert_eq!(check.instructions[1].args[0].value, "a   b");
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pare-dockerfile-cases-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn pare_reads_what_buildkit_reads() {
    let Some(python) = venv_python() else { return };
    let corpus = corpus();
    assert!(
        corpus.len() >= 150,
        "the corpus has {} Dockerfiles, the issue asks for 150",
        corpus.len()
    );
    let dir = tempfile_dir();
    let mut files = corpus.clone();
    for (name, text) in CASES {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        files.push(p);
    }
    let bk = buildkit(&python, &files);
    assert_eq!(bk.len(), files.len());
    let mut failures = Vec::new();
    let (mut instructions, mut refused, mut heredocs) = (0, 0, 0);
    for (file, reading) in files.iter().zip(&bk) {
        let ours = pare(file);
        instructions += reading["commands"].as_array().map_or(0, Vec::len);
        heredocs += reading["commands"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["heredocs"].as_array().map_or(0, Vec::len))
            .sum::<usize>();
        refused += usize::from(!reading["error"].is_null());
        if let Err(e) = agree(reading, &ours) {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    eprintln!(
        "{} files ({} from the corpus), {instructions} instructions, {heredocs} heredocs, {refused} refused by both",
        files.len(),
        corpus.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} files read differently:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    assert!(heredocs >= 20, "the cases hold heredocs: {heredocs}");
}
