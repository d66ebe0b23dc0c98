//! `pare inspect-binary`: file -> `pare::inspect::inspect_binary` -> facts on stdout.

use std::process::ExitCode;

use anyhow::Result;
use pare::inspect::{inspect_binary, BinaryReport, InspectOptions};

use crate::cli::{Format, GlobalArgs, InspectBinaryArgs};
use crate::output::human_bytes;

/// Version of the JSON document `pare inspect-binary --format json` prints.
pub const INSPECT_JSON_SCHEMA: &str = "pare.inspect-binary/v1";

pub fn run(args: &InspectBinaryArgs, global: &GlobalArgs) -> Result<ExitCode> {
    crate::output::text_or_json(global.format, "pare inspect-binary")?;
    let report = inspect_binary(&InspectOptions {
        file: args.file.clone(),
        root: args.root.clone(),
        closure: !args.no_closure,
    })?;
    match global.format {
        Format::Json => crate::output::print_json(&report, INSPECT_JSON_SCHEMA)?,
        Format::Human | Format::Markdown | Format::Sarif => print_human(&report),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(r: &BinaryReport) {
    let f = &r.facts;
    println!("{} ({})", r.file, human_bytes(r.size));
    println!(
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
        println!("  loader       {i}");
    }
    if !f.needed.is_empty() {
        println!("  needs        {}", f.needed.join(", "));
    }
    if let Some(g) = &f.min_glibc {
        println!("  glibc        >= {g}");
    }
    if !f.rpath.is_empty() {
        println!("  rpath        {}", f.rpath.join(":"));
    }
    if !f.runpath.is_empty() {
        println!("  runpath      {}", f.runpath.join(":"));
    }
    if let Some(go) = &r.go {
        println!(
            "  go           {}{}",
            go.go_version,
            go.path
                .as_deref()
                .map(|p| format!(", {p}"))
                .unwrap_or_default()
        );
        if let Some(cgo) = go.setting("CGO_ENABLED") {
            println!("  cgo          CGO_ENABLED={cgo}");
        }
        println!("  go modules   {} dependencies", go.deps.len());
    }
    if let Some(pkgs) = &r.cargo_auditable {
        println!("  cargo        {} packages (cargo-auditable)", pkgs.len());
    }
    if let Some(c) = &r.closure {
        if c.paths.is_empty() {
            println!("  closure      nothing: runs on an empty root");
        } else {
            println!(
                "  closure      {} paths, {}:",
                c.paths.len(),
                human_bytes(r.closure_size)
            );
            for (path, entry) in &c.paths {
                println!("    {path}  ({})", entry.reason);
            }
        }
        for (name, by) in &c.missing {
            println!("  MISSING      {name} (needed by {by})");
        }
    }
}
