//! `pare slim`: SRC and DST plus probes -> `pare::slim::slim` -> a summary (or JSON) and, with
//! `--log`, every kept and removed path. Exit 1 when a probe failed and nothing was written.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use pare::slim::run::{parse_probe, HttpProbe};
use pare::slim::{slim, SlimOptions, SlimReport};
use pare::units::human_bytes;
use pare_oci::compress::Compression;
use pare_oci::reference::ImageRef;

use super::access;
use super::UsageError;
use crate::cli::{GlobalArgs, SlimArgs, TextFormat};
use crate::output::{print_json, printable, TerminalReporter};

/// Version of `pare slim --format json`.
pub const SLIM_JSON_SCHEMA: &str = "pare.slim/v1";

/// Removed paths listed in the human summary (all are in `--log` and the JSON).
const LARGEST_REMOVED: usize = 15;

pub fn run(args: &SlimArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let probes = args
        .probe
        .iter()
        .map(|p| parse_probe(p).map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    let http = args
        .http
        .iter()
        .map(|h| HttpProbe::parse(h).map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    let compression = match &args.compression {
        None => Compression::Gzip,
        Some(c) => Compression::parse(c).ok_or_else(|| {
            UsageError(format!(
                "--compression {c:?} is not one of gzip, zstd, none"
            ))
        })?,
    };
    let source_date_epoch = match &args.source_date_epoch {
        None => None,
        Some(e) => Some(e.parse::<u64>().map_err(|_| {
            UsageError(format!(
                "SOURCE_DATE_EPOCH / --source-date-epoch {e:?} is not a whole number of seconds"
            ))
        })?),
    };
    if args.timeout == 0 {
        return Err(UsageError("--timeout must be at least 1 second".into()).into());
    }
    for include in &args.include {
        if !include.starts_with('/') {
            return Err(
                UsageError(format!("--include {include:?} must be an absolute path")).into(),
            );
        }
    }
    let bytecode = pare::bytecode::Bytecode::parse(&args.bytecode).ok_or_else(|| {
        UsageError(format!(
            "--bytecode {:?} is not one of imported, all, none",
            args.bytecode
        ))
    })?;
    let options = SlimOptions {
        bytecode,
        source: ImageRef::parse(&args.source).map_err(pare::Error::from)?,
        destination: ImageRef::parse(&args.destination).map_err(pare::Error::from)?,
        extra_tags: args.extra_tags.clone(),
        access: access(&args.read)?,
        probes,
        http,
        includes: args.include.clone(),
        excludes: args.exclude.clone(),
        allow_probe_failure: args.allow_probe_failure,
        timeout: Duration::from_secs(args.timeout),
        source_date_epoch,
        compression,
    };
    let report = slim(&options, &TerminalReporter::new(global.quiet))?;
    if let Some(path) = &args.log {
        std::fs::write(path, log(&report))
            .with_context(|| format!("write the slim log {}", path.display()))?;
    }
    match args.format {
        TextFormat::Json => print_json(&report, SLIM_JSON_SCHEMA)?,
        TextFormat::Human => crate::output::out(&summary(&report))?,
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The summary: sizes, runs, packages, the largest removed paths.
fn summary(report: &SlimReport) -> String {
    let mut out = String::new();
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            "-".to_string()
        } else {
            format!("{:.2}x", a as f64 / b as f64)
        }
    };
    let _ = writeln!(
        out,
        "{} -> {}",
        printable(&report.source),
        printable(&report.destination)
    );
    let _ = writeln!(
        out,
        "files      {:>8} -> {:<8} file bytes {} -> {} ({})",
        report.before.files,
        report.after.files,
        human_bytes(report.before.file_bytes),
        human_bytes(report.after.file_bytes),
        ratio(report.before.file_bytes, report.after.file_bytes)
    );
    if report.manifest_digest.is_some() {
        let _ = writeln!(
            out,
            "compressed {} -> {} ({})",
            human_bytes(report.before.compressed),
            human_bytes(report.after.compressed),
            ratio(report.before.compressed, report.after.compressed)
        );
    }
    let _ = writeln!(out, "user       {}", report.user);
    for (phase, runs) in [
        ("original", &report.original_runs),
        ("slimmed", &report.slimmed_runs),
    ] {
        for (i, run) in runs.iter().enumerate() {
            let verdict = if run.passed { "ok" } else { "FAILED" };
            let same = match (phase, report.same_output.get(i)) {
                ("slimmed", Some(true)) => ", same output",
                ("slimmed", Some(false)) => ", different output",
                _ => "",
            };
            let _ = writeln!(
                out,
                "{phase:<9} {:<15} {verdict}: {}{same}{}",
                run.label,
                run.status,
                run.problem
                    .as_deref()
                    .map(|p| format!(" ({})", printable(p)))
                    .unwrap_or_default()
            );
            for h in &run.http {
                let _ = writeln!(
                    out,
                    "{:<25} {}: {}",
                    "",
                    h.probe,
                    h.status
                        .map(|s| format!("HTTP {s}"))
                        .or_else(|| h.problem.clone())
                        .unwrap_or_default()
                );
            }
        }
    }
    if report.bytecode.count > 0 {
        let _ = writeln!(
            out,
            "bytecode   {} .pyc files, {}",
            report.bytecode.count,
            human_bytes(report.bytecode.bytes)
        );
    }
    let p = &report.packages;
    if !p.removed.is_empty() || !p.partial.is_empty() || p.whole > 0 {
        let _ = writeln!(
            out,
            "packages   {} kept whole, {} in part, {} removed",
            p.whole,
            p.partial.len(),
            p.removed.len()
        );
    }
    let mut removed: Vec<_> = report.removed.iter().filter(|r| r.size > 0).collect();
    removed.sort_by(|a, b| b.size.cmp(&a.size).then(a.path.cmp(&b.path)));
    if !removed.is_empty() {
        let _ = writeln!(out, "largest removed:");
        for r in removed.iter().take(LARGEST_REMOVED) {
            let _ = writeln!(out, "  {:>10}  {}", human_bytes(r.size), printable(&r.path));
        }
    }
    match (&report.failure, &report.manifest_digest) {
        (Some(why), _) => {
            let _ = writeln!(out, "not written: {}", printable(why));
        }
        (None, Some(digest)) => {
            let _ = writeln!(out, "written {digest}");
        }
        (None, None) => {}
    }
    out
}

/// `kept|removed <TAB> kind <TAB> size <TAB> path <TAB> reason`, one path per line.
fn log(report: &SlimReport) -> String {
    let mut out = String::from("# action\tkind\tbytes\tpath\treason\n");
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    for k in &report.kept {
        let _ = writeln!(
            out,
            "kept\t{}\t{}\t{}\t{}",
            k.kind,
            k.size,
            clean(&k.path),
            clean(&k.reason)
        );
    }
    for r in &report.removed {
        let _ = writeln!(out, "removed\t{}\t{}\t{}\t", r.kind, r.size, clean(&r.path));
    }
    out
}
