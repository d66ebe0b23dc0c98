//! Fast starts for Python, for `pare slim` and `pare build` alike: bytecode for an image's Python
//! modules, made by the image's own interpreter in pare's sandbox (so the bytes are that
//! interpreter's, whatever the host has), with unchecked-hash invalidation (PEP 552): the
//! interpreter loads the `.pyc` without comparing the source's mtime, so the layer's fixed file
//! times do not matter and nothing is recompiled at start. `imported` compiles the modules a traced
//! run read, `all` every `.py`. Not here: unpacking the image and the traced runs
//! (`crate::slim::unpack`, `crate::slim::run`), what slim keeps (`crate::slim::keep`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::slim::keep::{is_content, python_version};
use crate::slim::run::{Command, Plan, RunResult};
use crate::slim::unpack::Unpacked;
use crate::{Error, Result};

/// Which modules get bytecode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bytecode {
    #[default]
    None,
    Imported,
    All,
}

impl Bytecode {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "none" => Some(Self::None),
            "imported" => Some(Self::Imported),
            "all" => Some(Self::All),
            _ => None,
        }
    }
}

/// What was compiled.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Compiled {
    /// `.pyc` files added (or put in place of the image's own), by key, with where they are.
    #[serde(skip)]
    pub files: BTreeMap<String, PathBuf>,
    pub count: usize,
    pub bytes: u64,
    /// Sources the interpreter would not compile (syntax of another Python version, say).
    pub skipped: usize,
}

/// The compiler run inside the image: one `py_compile` per file named on the command line,
/// printing the path of each `.pyc` written.
const COMPILE: &str = r#"import sys, py_compile
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
for f in sys.argv[1:]:
    try:
        print(py_compile.compile(f, doraise=True, invalidation_mode=mode))
    except Exception as e:
        print('skip', f, type(e).__name__, file=sys.stderr)
"#;

/// Most sources compiled in one interpreter run (the argument vector's size stays far below the
/// kernel's limit).
const BATCH: usize = 500;

/// The Python sources `which` asks for among `candidates` (normalized keys of the unpacked tree):
/// every `.py` file (or symlink to one) for `all`, only those a traced run named for `imported`.
/// `main` (see [`main_script`]) is left out: Python compiles the script it runs as `__main__` from
/// its source every time and never reads a `.pyc` for it.
pub fn sources<'a>(
    which: Bytecode,
    unpacked: &Unpacked,
    candidates: impl Iterator<Item = &'a String>,
    traced: &BTreeSet<String>,
    main: Option<&str>,
) -> Vec<String> {
    if which == Bytecode::None {
        return Vec::new();
    }
    candidates
        .filter(|k| k.ends_with(".py"))
        .filter(|k| Some(k.as_str()) != main)
        .filter(|k| which == Bytecode::All || traced.contains(*k))
        .filter(|k| is_content(unpacked, k))
        .cloned()
        .collect()
}

/// The script (a normalized key) the image's command runs as `__main__`: for a Python interpreter,
/// its first argument after the interpreter's own options (relative to `workdir`); for a program
/// that is itself a script (`#!` naming a Python), the program. None for `-c CMD`, `-m MODULE`,
/// `-` (stdin), no script, or a program that is not Python.
pub fn main_script(unpacked: &Unpacked, entry: &Command, workdir: &str) -> Option<String> {
    let key_of = |path: &str| unpacked.resolve_with_links(path).0.ok();
    let program = key_of(&entry.program)?;
    if python_version(&program).is_none() {
        let head = unpacked.read(&program, 256)?;
        let interpreter = crate::loader::shebang(&head)?;
        let named = key_of(&interpreter)?;
        return python_version(&named).map(|_| program);
    }
    let mut args = entry.argv.iter().skip(1);
    let script = loop {
        let arg = args.next()?;
        match arg.as_str() {
            "-" => return None,
            "--" => break args.next()?.as_str(),
            "--check-hash-based-pycs" => {
                args.next()?;
            }
            long if long.starts_with("--") => {}
            short if short.starts_with('-') => {
                // Flags combine (`-uB`); -c and -m end the options, -W and -X take a value (here
                // or as the next argument).
                for (i, c) in short.char_indices().skip(1) {
                    match c {
                        'c' | 'm' => return None,
                        'W' | 'X' => {
                            if i + 1 == short.len() {
                                args.next()?;
                            }
                            break;
                        }
                        _ => {}
                    }
                }
            }
            script => break script,
        }
    };
    let path = if script.starts_with('/') {
        script.to_string()
    } else {
        format!("{}/{script}", workdir.trim_end_matches('/'))
    };
    key_of(&path)
}

/// The Python interpreter that compiles: the first program a traced run executed, else the
/// image's program itself, else the interpreter its `#!` line names, that is a `pythonX.Y` in the
/// image (found through its links).
pub fn interpreter(unpacked: &Unpacked, runs: &[RunResult], program: &str) -> Option<String> {
    let script_interpreter = unpacked
        .resolve_with_links(program)
        .0
        .ok()
        .and_then(|key| unpacked.read(&key, 256))
        .and_then(|head| crate::loader::shebang(&head));
    runs.iter()
        .flat_map(|r| r.touched.iter())
        .filter(|(_, t)| t.call == "exec")
        .map(|(path, _)| path.clone())
        .chain(std::iter::once(program.to_string()))
        .chain(script_interpreter)
        .find(|path| {
            let (found, _) = unpacked.resolve_with_links(path);
            found.is_ok_and(|k| python_version(&k).is_some())
        })
}

/// Compiles `sources` (normalized keys) with the interpreter `python` (a path inside the image),
/// run as the plan's user with its environment, in sandboxes under `scratch`; the `.pyc` files are
/// left in the sandboxes' upper layers, where [`Compiled::files`] points.
pub fn compile(
    python: &str,
    sources: &[String],
    unpacked: &Unpacked,
    plan: &Plan,
    scratch: &Path,
) -> Result<Compiled> {
    let mut compiled = Compiled::default();
    let sources: Vec<String> = sources.iter().map(|k| format!("/{k}")).collect();
    for (n, batch) in sources.chunks(BATCH).enumerate() {
        let mut args = vec![python.to_string(), "-c".into(), COMPILE.into()];
        args.extend(batch.iter().cloned());
        let dir = scratch.join(format!("bytecode-{n}"));
        let spec = pare_sandbox::Spec {
            rootfs: unpacked.dir.clone(),
            scratch: dir.clone(),
            program: python.to_string(),
            args,
            env: plan.env.clone(),
            workdir: "/".into(),
            uid: plan.uid,
            gid: plan.gid,
            trace: false,
            output_limit: 16 << 20,
        };
        let failed =
            |e: pare_sandbox::Error| Error::Input(format!("compiling Python bytecode: {e}"));
        let run = pare_sandbox::start(&spec).map_err(failed)?;
        let timeout = plan.timeout.max(Duration::from_secs(120));
        let done = run.wait_timeout(timeout);
        let finished = run.stop(Duration::from_secs(1)).map_err(failed)?;
        if !done || !finished.status.success() {
            return Err(Error::Input(format!(
                "the image's {python} could not compile its modules ({}): {}",
                finished.status,
                String::from_utf8_lossy(&finished.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )));
        }
        compiled.skipped += String::from_utf8_lossy(&finished.stderr)
            .lines()
            .filter(|l| l.starts_with("skip "))
            .count();
        for line in String::from_utf8_lossy(&finished.stdout).lines() {
            let Some(key) = line.strip_prefix('/') else {
                continue;
            };
            if key.split('/').any(|c| c == ".." || c.is_empty()) || !key.ends_with(".pyc") {
                continue;
            }
            let host = dir.join("upper").join(key);
            let Ok(meta) = std::fs::symlink_metadata(&host) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            compiled.count += 1;
            compiled.bytes += meta.len();
            compiled.files.insert(key.to_string(), host);
        }
    }
    Ok(compiled)
}
