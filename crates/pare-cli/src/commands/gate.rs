//! `pare gate`: an image and a baseline (file or image) -> `pare::gate::gate` -> verdict as text,
//! JSON, markdown or HTML, exit 1 past the limit.

use std::process::ExitCode;

use anyhow::Result;
use pare::diff::{percent, signed_bytes};
use pare::gate::{gate, BaselineSource, GateOptions, GateReport, Limit, Measure};
use pare_oci::reference::ImageRef;

use super::{access, UsageError};
use crate::cli::{GateArgs, GlobalArgs, ReportFormat};
use crate::output::{human_bytes, print_json, TerminalReporter};

/// Version of `pare gate --format json`.
pub const GATE_JSON_SCHEMA: &str = "pare.gate/v1";

pub fn run(args: &GateArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let parse = |r: &str| ImageRef::parse(r).map_err(pare::Error::from);
    let baseline = match (&args.baseline, &args.baseline_image) {
        (Some(file), _) => BaselineSource::File(file.clone()),
        (None, Some(reference)) => BaselineSource::Image(parse(reference)?),
        (None, None) => {
            return Err(UsageError("give --baseline FILE or --baseline-image REF".into()).into())
        }
    };
    let options = GateOptions {
        image: parse(&args.image)?,
        baseline,
        access: access(&args.read)?,
        measure: if args.by == "uncompressed" {
            Measure::Uncompressed
        } else {
            Measure::Compressed
        },
        limit: Limit::parse(&args.max_growth)?,
        limit_text: Some(args.max_growth.clone()),
        update: args.update_baseline,
    };
    let report = gate(&options, &TerminalReporter::new(global.quiet))?;
    match args.format {
        ReportFormat::Json => print_json(&report, GATE_JSON_SCHEMA)?,
        ReportFormat::Markdown => crate::output::out(&gate_markdown(&report))?,
        ReportFormat::Html => crate::output::out(&pare::html::gate(&report))?,
        ReportFormat::Human => print_gate(&report),
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_POLICY)
    })
}

fn print_gate(r: &GateReport) {
    let measure = match r.measure {
        Measure::Compressed => "compressed",
        Measure::Uncompressed => "uncompressed",
    };
    say!(
        "{}: {} ({measure} size, limit {})",
        r.verdict(),
        r.reason,
        r.limit
    );
    say!(
        "  {} ({} bytes) -> {} ({} bytes): {} ({})",
        human_bytes(r.size.a),
        r.size.a,
        human_bytes(r.size.b),
        r.size.b,
        signed_bytes(r.size.delta),
        percent(r.size.percent)
    );
    say!("  baseline {}", r.baseline);
    if !r.biggest_changes.is_empty() && !r.updated_baseline {
        say!("  biggest file changes (uncompressed):");
        for c in &r.biggest_changes {
            say!("    {:>10}  {}", signed_bytes(c.size.delta), c.path);
        }
    }
}

fn gate_markdown(r: &GateReport) -> String {
    let mut out = format!(
        "### Image size gate: {}\n\n{} → {} ({}, {}); limit {}. {}\n",
        r.verdict(),
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
