//! `pare inspect-binary`: file -> `pare::inspect::inspect_binary` -> facts on stdout.

use std::process::ExitCode;

use anyhow::Result;
use pare::inspect::{inspect_binary, BinaryReport, InspectOptions};

use crate::cli::{GlobalArgs, InspectBinaryArgs, TextFormat};
use crate::output::human_bytes;

/// Version of the JSON document `pare inspect-binary --format json` prints.
pub const INSPECT_JSON_SCHEMA: &str = "pare.inspect-binary/v1";

pub fn run(args: &InspectBinaryArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    let report = inspect_binary(&InspectOptions {
        file: args.file.clone(),
        root: args.root.clone(),
        closure: !args.no_closure,
    })?;
    match args.format {
        TextFormat::Json => crate::output::print_json(&report, INSPECT_JSON_SCHEMA)?,
        TextFormat::Human => print_human(&report),
    }
    // A library the loader would not find means the binary would not start there: exit 1, as a
    // failed check (the report says which).
    let missing = report
        .closure
        .as_ref()
        .is_some_and(|c| !c.missing.is_empty());
    Ok(if missing {
        ExitCode::from(crate::EXIT_POLICY)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_human(r: &BinaryReport) {
    let f = &r.facts;
    say!("{} ({})", r.file, human_bytes(r.size));
    say!(
        "  format       ELF{} {}, {:?}{}",
        if f.is_64 { "64" } else { "32" },
        r.architecture.as_deref().unwrap_or("unknown machine"),
        f.linkage,
        if f.stripped {
            ", stripped"
        } else {
            ", not stripped"
        }
    );
    if let Some(i) = &f.interpreter {
        say!("  loader       {i}");
    }
    if !f.needed.is_empty() {
        say!("  needs        {}", f.needed.join(", "));
    }
    if let Some(g) = &f.min_glibc {
        say!("  glibc        >= {g}");
    }
    if !f.rpath.is_empty() {
        say!("  rpath        {}", f.rpath.join(":"));
    }
    if !f.runpath.is_empty() {
        say!("  runpath      {}", f.runpath.join(":"));
    }
    if let Some(go) = &r.go {
        say!(
            "  go           {}{}",
            go.go_version,
            go.path
                .as_deref()
                .map(|p| format!(", {p}"))
                .unwrap_or_default()
        );
        if let Some(cgo) = go.setting("CGO_ENABLED") {
            say!("  cgo          CGO_ENABLED={cgo}");
        }
        say!("  go modules   {} dependencies", go.deps.len());
    }
    if let Some(pkgs) = &r.cargo_auditable {
        say!("  cargo        {} packages (cargo-auditable)", pkgs.len());
    }
    if let Some(c) = &r.closure {
        if c.paths.is_empty() {
            say!("  closure      nothing: runs on an empty root");
        } else {
            say!(
                "  closure      {} paths, {}:",
                c.paths.len(),
                human_bytes(r.closure_size)
            );
            for (path, entry) in &c.paths {
                say!("    {path}  ({})", entry.reason);
            }
        }
        for (name, by) in &c.missing {
            say!("  MISSING      {name} (needed by {by})");
        }
    }
}
