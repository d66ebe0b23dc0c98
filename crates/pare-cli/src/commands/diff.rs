//! `pare diff`: two references -> `pare::diff::diff_images` -> text, JSON, markdown or HTML.

use std::process::ExitCode;

use anyhow::Result;
use pare::diff::{diff_images, markdown, percent, signed_bytes, DiffOptions, DiffReport};
use pare_oci::reference::ImageRef;

use super::access;
use crate::cli::{DiffArgs, GlobalArgs, ReportFormat};
use crate::output::{human_bytes, print_json, TerminalReporter};

/// Version of `pare diff --format json`.
pub const DIFF_JSON_SCHEMA: &str = "pare.diff/v1";

pub fn run(args: &DiffArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let options = DiffOptions {
        a: ImageRef::parse(&args.a).map_err(pare::Error::from)?,
        b: ImageRef::parse(&args.b).map_err(pare::Error::from)?,
        access: access(&args.read)?,
    };
    let report = diff_images(&options, &TerminalReporter::new(global.quiet))?;
    match args.format {
        ReportFormat::Json => print_json(&report, DIFF_JSON_SCHEMA)?,
        ReportFormat::Markdown => crate::output::out(&markdown(&report, args.limit))?,
        ReportFormat::Html => crate::output::out(&pare::html::diff(&report))?,
        ReportFormat::Human => print_diff(&report, args.limit),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_diff(r: &DiffReport, limit: usize) {
    say!("{} -> {}", r.a, r.b);
    for (name, d) in [
        ("compressed", r.compressed_size),
        ("uncompressed", r.uncompressed_size),
        ("files", r.file_bytes),
    ] {
        say!(
            "  {name:<13} {:>10} -> {:>10}  {} ({})",
            human_bytes(d.a),
            human_bytes(d.b),
            signed_bytes(d.delta),
            percent(d.percent)
        );
    }
    say!(
        "  layers        {} shared, {} added, {} removed",
        r.layers_shared,
        r.layers_added.len(),
        r.layers_removed.len()
    );
    for f in r.added.iter().take(limit) {
        say!("  + {:>10}  {}", human_bytes(f.size), f.path);
    }
    for f in r.removed.iter().take(limit) {
        say!("  - {:>10}  {}", human_bytes(f.size), f.path);
    }
    for c in r.changed.iter().take(limit) {
        say!(
            "  ~ {:>10}  {} ({})",
            signed_bytes(c.size.delta),
            c.path,
            c.what.join(", ")
        );
    }
    let hidden = [r.added.len(), r.removed.len(), r.changed.len()]
        .iter()
        .map(|n| n.saturating_sub(limit))
        .sum::<usize>();
    if hidden > 0 {
        say!("  ... {hidden} more (--limit, or --format json for all)");
    }
    for c in &r.config {
        if c.variables.is_empty() {
            say!("  config {}: {} -> {}", c.field, c.a, c.b);
        }
        for v in &c.variables {
            let show =
                |x: &Option<String>| x.as_deref().map_or("(unset)".into(), |s| format!("{s:?}"));
            say!("  config Env {}: {} -> {}", v.name, show(&v.a), show(&v.b));
        }
    }
    if r.added.is_empty() && r.removed.is_empty() && r.changed.is_empty() && r.config.is_empty() {
        say!("  no file or config changes");
    }
}
