//! `pare audit`, `pare diff` and `pare gate`: references -> `pare::contents` -> `pare::audit`,
//! `pare::diff` or `pare::gate` -> text, JSON or markdown.

use std::process::ExitCode;

use anyhow::Result;
use pare::contents::{read_image, ImageContents};
use pare::diff::{diff as diff_images, markdown, percent, signed_bytes, DiffReport};
use pare::gate::{gate as run_gate, BaselineSource, GateOptions, GateReport, Limit, Measure};
use pare::transfer::Access;
use pare_oci::image::Platform;
use pare_oci::reference::ImageRef;

use super::UsageError;
use crate::cli::{AuditArgs, DiffArgs, Format, GateArgs, GlobalArgs, ReadArgs};
use crate::output::{human_bytes, print_json, TerminalReporter};

/// Version of `pare audit --format json`.
pub const AUDIT_JSON_SCHEMA: &str = "pare.audit/v1";
/// Versions of the JSON documents.
pub const DIFF_JSON_SCHEMA: &str = "pare.diff/v1";
pub const GATE_JSON_SCHEMA: &str = "pare.gate/v1";

fn access(read: &ReadArgs) -> Result<Access> {
    let mut access = Access {
        insecure: read.insecure,
        ..Access::default()
    };
    if let Some(creds) = &read.creds {
        access.credentials =
            Some(pare_registry::Credentials::parse(creds).map_err(|e| UsageError(e.to_string()))?);
    }
    if let Some(p) = &read.platform {
        access.platform = Some(Platform::parse(p).map_err(pare::Error::from)?);
    }
    Ok(access)
}

fn read(reference: &str, access: &Access, global: &GlobalArgs) -> Result<ImageContents> {
    let reference = ImageRef::parse(reference).map_err(pare::Error::from)?;
    Ok(read_image(
        &reference,
        access,
        &TerminalReporter::new(global.quiet),
    )?)
}

pub fn diff(args: &DiffArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let access = access(&args.read)?;
    let a = read(&args.a, &access, global)?;
    let b = read(&args.b, &access, global)?;
    let report = diff_images(&a, &b);
    match global.format {
        Format::Json => print_json(&report, DIFF_JSON_SCHEMA)?,
        Format::Markdown => print!("{}", markdown(&report, args.limit)),
        Format::Human | Format::Sarif => print_diff(&report, args.limit),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_diff(r: &DiffReport, limit: usize) {
    println!("{} -> {}", r.a, r.b);
    for (name, d) in [
        ("compressed", r.compressed_size),
        ("uncompressed", r.uncompressed_size),
        ("files", r.file_bytes),
    ] {
        println!(
            "  {name:<13} {:>10} -> {:>10}  {} ({})",
            human_bytes(d.a),
            human_bytes(d.b),
            signed_bytes(d.delta),
            percent(d.percent)
        );
    }
    println!(
        "  layers        {} shared, {} added, {} removed",
        r.layers_shared,
        r.layers_added.len(),
        r.layers_removed.len()
    );
    for f in r.added.iter().take(limit) {
        println!("  + {:>10}  {}", human_bytes(f.size), f.path);
    }
    for f in r.removed.iter().take(limit) {
        println!("  - {:>10}  {}", human_bytes(f.size), f.path);
    }
    for c in r.changed.iter().take(limit) {
        println!(
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
        println!("  ... {hidden} more (--limit, or --format json for all)");
    }
    for c in &r.config {
        println!("  config {}: {} -> {}", c.field, c.a, c.b);
    }
    if r.added.is_empty() && r.removed.is_empty() && r.changed.is_empty() && r.config.is_empty() {
        println!("  no file or config changes");
    }
}

pub fn gate(args: &GateArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let access = access(&args.read)?;
    let options = GateOptions {
        measure: if args.by == "uncompressed" {
            Measure::Uncompressed
        } else {
            Measure::Compressed
        },
        limit: Limit::parse(&args.max_growth)?,
        baseline_file: args.baseline.clone(),
        update: args.update_baseline,
    };
    let image = read(&args.image, &access, global)?;
    let source = match (&args.baseline, &args.baseline_image) {
        (Some(file), _) => BaselineSource::File(file.clone()),
        (None, Some(reference)) => {
            BaselineSource::Image(Box::new(read(reference, &access, global)?))
        }
        (None, None) => {
            return Err(UsageError("give --baseline FILE or --baseline-image REF".into()).into())
        }
    };
    let report = run_gate(&image, source, &options)?;
    match global.format {
        Format::Json => print_json(&report, GATE_JSON_SCHEMA)?,
        Format::Markdown => print!("{}", gate_markdown(&report)),
        Format::Human | Format::Sarif => print_gate(&report),
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_POLICY)
    })
}

fn verdict(r: &GateReport) -> &'static str {
    match (r.updated_baseline, r.passed) {
        (true, _) => "BASELINE UPDATED",
        (false, true) => "PASS",
        (false, false) => "FAIL",
    }
}

fn print_gate(r: &GateReport) {
    let measure = match r.measure {
        Measure::Compressed => "compressed",
        Measure::Uncompressed => "uncompressed",
    };
    println!(
        "{}: {} ({measure} size, limit {})",
        verdict(r),
        r.reason,
        r.limit
    );
    println!(
        "  {} ({} bytes) -> {} ({} bytes): {} ({})",
        human_bytes(r.size.a),
        r.size.a,
        human_bytes(r.size.b),
        r.size.b,
        signed_bytes(r.size.delta),
        percent(r.size.percent)
    );
    println!("  baseline {}", r.baseline);
    if !r.biggest_changes.is_empty() && !r.updated_baseline {
        println!("  biggest file changes (uncompressed):");
        for c in &r.biggest_changes {
            println!("    {:>10}  {}", signed_bytes(c.size.delta), c.path);
        }
    }
}

fn gate_markdown(r: &GateReport) -> String {
    let mut out = format!(
        "### Image size gate: {}\n\n{} → {} ({}, {}); limit {}. {}\n",
        verdict(r),
        human_bytes(r.size.a),
        human_bytes(r.size.b),
        signed_bytes(r.size.delta),
        percent(r.size.percent),
        r.limit,
        r.reason
    );
    if !r.biggest_changes.is_empty() && !r.updated_baseline {
        out.push_str("\n| file | change |\n|---|---:|\n");
        for c in &r.biggest_changes {
            out.push_str(&format!(
                "| `{}` | {} |\n",
                c.path,
                signed_bytes(c.size.delta)
            ));
        }
    }
    out
}

pub fn audit(args: &AuditArgs, global: &GlobalArgs) -> Result<ExitCode> {
    if global.format == Format::Markdown {
        return Err(UsageError("pare audit prints text, JSON or SARIF".into()).into());
    }
    let policy = match &args.policy {
        Some(path) => pare::policy::Policy::load(path)?,
        None => pare::policy::Policy::default(),
    };
    let flag = args
        .fail_on
        .as_deref()
        .map(pare::audit::Severity::parse)
        .transpose()?;
    let options = pare::audit::AuditOptions {
        image: ImageRef::parse(&args.image).map_err(pare::Error::from)?,
        access: access(&args.read)?,
        fail_on: flag.unwrap_or(pare::audit::Severity::High),
        base: args
            .base_image
            .as_deref()
            .map(ImageRef::parse)
            .transpose()
            .map_err(pare::Error::from)?,
    };
    let mut report = pare::audit::audit(&options, &TerminalReporter::new(global.quiet))?;
    policy.apply(&mut report, flag)?;
    match global.format {
        Format::Json => print_json(&report, AUDIT_JSON_SCHEMA)?,
        Format::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&pare::policy::sarif(&report))?
        ),
        _ => print_audit(&report),
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_POLICY)
    })
}

fn print_audit(r: &pare::audit::AuditReport) {
    println!("{} ({})", r.image, r.manifest_digest);
    println!(
        "  os {}   user {}",
        r.os.as_deref().unwrap_or("unknown"),
        if r.user.is_empty() {
            "(unset: root)"
        } else {
            r.user.as_str()
        }
    );
    println!(
        "  size {} stored, {} uncompressed, {} in files",
        human_bytes(r.compressed_size),
        human_bytes(r.uncompressed_size),
        human_bytes(r.file_bytes)
    );
    println!("  layers:");
    for (i, l) in r.layers.iter().enumerate() {
        println!(
            "    {:>2}{} {:>10} stored {:>10} uncompressed {:>6} entries  {}",
            i,
            if l.base { " base" } else { "" },
            human_bytes(l.info.size),
            human_bytes(l.info.uncompressed_size),
            l.info.entries,
            l.info.created_by.as_deref().unwrap_or("")
        );
        for (path, size) in l.largest_files.iter().take(3) {
            println!("         {:>10}  {path}", human_bytes(*size));
        }
    }
    println!(
        "  waste: {} ({} bytes)",
        human_bytes(r.waste_bytes),
        r.waste_bytes
    );
    for (kind, bytes) in &r.waste_by_kind {
        println!(
            "    {:<16} {}",
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            human_bytes(*bytes)
        );
    }
    for w in r.waste.iter().take(10) {
        println!(
            "    {:>10}  {} (layer {})",
            human_bytes(w.bytes),
            w.path,
            w.layer
        );
    }
    if r.findings.is_empty() {
        println!("  findings: none");
    } else {
        println!("  findings:");
        for f in &r.findings {
            let severity = serde_json::to_value(f.severity)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let place = match (&f.path, f.layer) {
                (Some(p), Some(l)) => format!(" {p} (layer {l})"),
                (Some(p), None) => format!(" {p}"),
                _ => String::new(),
            };
            println!("    {severity:<8} {}{place}: {}", f.rule, f.reason);
        }
    }
    println!(
        "  {}",
        if r.passed {
            "PASS"
        } else {
            "FAIL: findings at or above the --fail-on severity"
        }
    );
}
