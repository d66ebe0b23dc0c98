//! Fast starts for Python: the slimmed image gets bytecode for its Python modules, made by the
//! image's own interpreter in the same sandbox as the probes (so the bytes are that interpreter's,
//! whatever the host has), with unchecked-hash invalidation (PEP 552): the interpreter loads the
//! `.pyc` without comparing the source's mtime, so the layer's fixed file times do not matter and
//! nothing is recompiled at start. `imported` compiles the modules a traced run read, `all` every
//! kept `.py`. Not here: deciding what is kept (`super::keep`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::keep::Keep;
use super::run::Plan;
use super::unpack::Unpacked;
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

/// Compiles the kept Python sources `which` asks for with the interpreter `python` (a path inside
/// the image), in sandboxes under `scratch`.
pub fn compile(
    which: Bytecode,
    python: &str,
    unpacked: &Unpacked,
    keep: &Keep,
    plan: &Plan,
    scratch: &Path,
) -> Result<Compiled> {
    let mut compiled = Compiled::default();
    if which == Bytecode::None {
        return Ok(compiled);
    }
    let sources: Vec<String> = keep
        .reasons
        .iter()
        .filter(|(k, _)| k.ends_with(".py"))
        .filter(|(k, _)| which == Bytecode::All || keep.traced.contains(*k))
        .filter(|(k, _)| super::keep::is_content(unpacked, k))
        .map(|(k, _)| format!("/{k}"))
        .collect();
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
            |e: pare_sandbox::Error| Error::Input(format!("pare slim: compiling bytecode: {e}"));
        let run = pare_sandbox::start(&spec).map_err(failed)?;
        let timeout = plan.timeout.max(Duration::from_secs(120));
        let done = run.wait_timeout(timeout);
        let finished = run.stop(Duration::from_secs(1)).map_err(failed)?;
        if !done || !finished.status.success() {
            return Err(Error::Input(format!(
                "pare slim: the image's {python} could not compile its modules ({}): {}",
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
