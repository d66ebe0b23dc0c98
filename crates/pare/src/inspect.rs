//! `pare inspect-binary`: everything pare knows about one ELF file: linkage, loader, needed libraries,
//! RPATH/RUNPATH, the newest glibc version it needs, stripped or not, Go build info, cargo-auditable
//! dependencies, and the closure of libraries the loader would pull in from a root.

use std::io::Read;
use std::path::{Path, PathBuf};

use pare_elf::buildinfo::{cargo_auditable, go_build_info, AuditablePackage, GoBuildInfo};
use pare_elf::closure::{resolve, Closure, ClosureOptions};
use pare_elf::ElfFacts;
use serde::Serialize;

use crate::{Error, Result};

/// Largest file inspected.
const MAX_FILE: u64 = 2 << 30;

/// What to inspect.
#[derive(Clone, Debug)]
pub struct InspectOptions {
    pub file: PathBuf,
    /// Root the closure is resolved in (`/` by default).
    pub root: PathBuf,
    /// Whether to resolve the closure at all.
    pub closure: bool,
}

/// Everything about one binary.
#[derive(Clone, Debug, Serialize)]
pub struct BinaryReport {
    pub file: String,
    pub size: u64,
    pub architecture: Option<String>,
    #[serde(flatten)]
    pub facts: ElfFacts,
    pub go: Option<GoBuildInfo>,
    pub cargo_auditable: Option<Vec<AuditablePackage>>,
    pub closure: Option<Closure>,
    /// Total bytes of the files the closure adds (symlinks count 0).
    pub closure_size: u64,
}

/// Inspects one file.
pub fn inspect_binary(options: &InspectOptions) -> Result<BinaryReport> {
    let path = &options.file;
    let file = std::fs::File::open(path)
        .map_err(|e| Error::Input(format!("cannot open {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(Error::io("read", path))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Error::Input(format!(
            "{} is larger than {MAX_FILE} bytes",
            path.display()
        )));
    }
    if !pare_elf::is_elf(&bytes) {
        return Err(Error::Input(format!(
            "{} is not an ELF file",
            path.display()
        )));
    }
    let bad = |e: pare_elf::Error| Error::Input(format!("{}: {e}", path.display()));
    let facts = pare_elf::inspect(&bytes).map_err(bad)?;
    let go = go_build_info(&bytes).map_err(bad)?;
    let auditable = cargo_auditable(&bytes).map_err(bad)?;
    let closure = if options.closure {
        let image_path = image_name(path);
        Some(
            resolve(
                &image_path,
                &bytes,
                &ClosureOptions {
                    root: options.root.clone(),
                    ..ClosureOptions::default()
                },
            )
            .map_err(bad)?,
        )
    } else {
        None
    };
    let closure_size = closure
        .as_ref()
        .map(|c| {
            c.paths
                .values()
                .filter_map(|e| match &e.path {
                    pare_elf::closure::NeededPath::File { host } => {
                        std::fs::metadata(host).ok().map(|m| m.len())
                    }
                    pare_elf::closure::NeededPath::Symlink { .. } => None,
                })
                .sum()
        })
        .unwrap_or(0);
    Ok(BinaryReport {
        file: path.display().to_string(),
        size: bytes.len() as u64,
        architecture: pare_elf::oci_architecture(facts.machine).map(str::to_string),
        facts,
        go,
        cargo_auditable: auditable,
        closure,
        closure_size,
    })
}

fn image_name(path: &Path) -> String {
    match path.canonicalize() {
        Ok(p) => p.display().to_string(),
        Err(_) => format!(
            "/{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
    }
}
