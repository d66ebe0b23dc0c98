//! `pare compare`: two or more references -> `pare::compare::compare` -> a table (text or
//! markdown), JSON or HTML.

use std::process::ExitCode;

use anyhow::Result;
use pare::compare::{compare, parse_bandwidth, rows, CompareOptions, CompareReport};
use pare::policy::Policy;
use pare::scan::ScanOptions;
use pare_oci::reference::ImageRef;

use super::access;
use crate::cli::{CompareArgs, GlobalArgs, ReportFormat};
use crate::output::{print_json, TerminalReporter};

/// Version of `pare compare --format json`.
pub const COMPARE_JSON_SCHEMA: &str = "pare.compare/v1";

pub fn run(args: &CompareArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let images = args
        .images
        .iter()
        .map(|r| ImageRef::parse(r).map_err(pare::Error::from))
        .collect::<Result<Vec<_>, _>>()?;
    let scan = (!args.db.is_empty()).then(|| ScanOptions {
        db: args.db.clone(),
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        ..ScanOptions::default()
    });
    let options = CompareOptions {
        images,
        access: access(&args.read)?,
        policy: match &args.policy {
            Some(path) => Policy::load(path)?,
            None => Policy::default(),
        },
        scan,
        bandwidth: parse_bandwidth(&args.bandwidth)?,
        measure_unpack: !args.no_unpack,
    };
    let report = compare(&options, &TerminalReporter::new(global.quiet))?;
    match args.format {
        ReportFormat::Json => print_json(&report, COMPARE_JSON_SCHEMA)?,
        ReportFormat::Markdown => crate::output::out(&markdown(&report))?,
        ReportFormat::Html => crate::output::out(&pare::html::compare(&report))?,
        ReportFormat::Human => crate::output::out(&text_table(&report))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Column headers: the images' names, numbered when two are the same.
fn headers(report: &CompareReport) -> Vec<String> {
    report
        .images
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let same = report.images.iter().filter(|o| o.image == c.image).count();
            if same > 1 {
                format!("{} [{}]", c.image, i + 1)
            } else {
                c.image.clone()
            }
        })
        .collect()
}

/// The table in aligned columns; a cell wider than a column's limit is cut with an ellipsis.
fn text_table(report: &CompareReport) -> String {
    const MAX: usize = 44;
    let cut = |s: &str| {
        let s = crate::output::printable(s);
        if s.chars().count() <= MAX {
            s.into_owned()
        } else {
            s.chars().take(MAX - 1).chain(['…']).collect()
        }
    };
    let mut table: Vec<Vec<String>> = vec![std::iter::once(String::new())
        .chain(headers(report).iter().map(|h| cut(h)))
        .collect()];
    for (label, cells) in rows(report) {
        table.push(
            std::iter::once(label)
                .chain(cells.iter().map(|c| cut(c)))
                .collect(),
        );
    }
    let columns = table[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            table
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The table as GitHub-flavoured markdown.
fn markdown(report: &CompareReport) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = String::from("| |");
    for h in headers(report) {
        out.push_str(&format!(" {} |", cell(&h)));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(report.images.len()));
    out.push('\n');
    for (label, cells) in rows(report) {
        out.push_str(&format!("| {} |", cell(&label)));
        for c in cells {
            out.push_str(&format!(" {} |", cell(&c)));
        }
        out.push('\n');
    }
    out
}
