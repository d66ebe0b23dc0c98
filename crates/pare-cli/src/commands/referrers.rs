//! `pare referrers`: a reference -> `pare::image_io::referrers::list` -> a table or JSON.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use pare::image_io::referrers::{list, ListedVia};
use pare_oci::reference::ImageRef;
use serde::Serialize;

use super::access;
use crate::cli::{GlobalArgs, ReferrersArgs, TextFormat};
use crate::output::{human_bytes, TerminalReporter};

/// Version of the JSON document `pare referrers --format json` prints.
pub const REFERRERS_JSON_SCHEMA: &str = "pare.referrers/v1";

#[derive(Serialize)]
struct Report {
    image: String,
    subject: String,
    via: Option<ListedVia>,
    referrers: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    digest: String,
    media_type: String,
    artifact_type: String,
    size: u64,
    /// What it refers to: the image, or another referrer (a signature of an SBOM).
    subject: String,
    annotations: BTreeMap<String, String>,
}

pub fn run(args: &ReferrersArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let reference = ImageRef::parse(&args.image).map_err(pare::Error::from)?;
    let reporter = TerminalReporter::new(global.quiet);
    let listing = list(&reference, &access(&args.read)?, &reporter)?;
    let rows: Vec<Row> = listing
        .referrers
        .iter()
        .filter(|r| {
            args.artifact_type
                .as_ref()
                .is_none_or(|want| *want == r.artifact_type())
        })
        .map(|r| Row {
            digest: r.descriptor.digest().to_string(),
            media_type: r.descriptor.media_type().to_string(),
            artifact_type: r.artifact_type(),
            size: r.descriptor.size(),
            subject: r.subject.clone(),
            annotations: r.annotations(),
        })
        .collect();
    let report = Report {
        image: reference.to_string(),
        subject: listing.subject,
        via: listing.via,
        referrers: rows,
    };
    match args.format {
        TextFormat::Json => crate::output::print_json(&report, REFERRERS_JSON_SCHEMA)?,
        TextFormat::Human => print_human(&report),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(report: &Report) {
    let via = match report.via {
        Some(ListedVia::Layout) => "the layout's index.json",
        Some(ListedVia::ReferrersApi) => "the registry's referrers API",
        Some(ListedVia::FallbackTag) => "the fallback tag (the registry has no referrers API)",
        None => "nothing: the registry has no referrers API and no fallback tag for it",
    };
    say!("{} ({})", report.image, report.subject);
    say!("  listed by {via}");
    if report.referrers.is_empty() {
        say!("  no referrers");
        return;
    }
    for r in &report.referrers {
        let of = if r.subject == report.subject {
            String::new()
        } else {
            format!("  (refers to {})", r.subject)
        };
        let created = r
            .annotations
            .get(pare_oci::referrer::CREATED)
            .map(|c| format!("  created {c}"))
            .unwrap_or_default();
        say!(
            "  {}  {:<40} {:>10}{created}{of}",
            r.digest,
            crate::output::printable(&r.artifact_type),
            human_bytes(r.size)
        );
    }
}
