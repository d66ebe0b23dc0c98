//! `pare scan`: a reference and database paths -> `pare::scan::scan` -> a table, JSON or SARIF, and
//! exit 1 when something at or above `--fail-on` was found.

use std::process::ExitCode;

use anyhow::Result;
use pare::scan::{parse_age, scan, ScanOptions, ScanReport, VulnSeverity};
use pare_oci::reference::ImageRef;

use super::access;
use crate::cli::{DbFetchArgs, GlobalArgs, ScanArgs, ScanFormat, TextFormat};
use crate::output::{print_json, shorten, TerminalReporter};

/// Version of `pare scan --format json`.
pub const SCAN_JSON_SCHEMA: &str = "pare.scan/v1";
/// Version of `pare db fetch --format json`.
pub const DB_FETCH_JSON_SCHEMA: &str = "pare.db-fetch/v1";

/// `pare db fetch`: the URLs -> `pare::scan::db::fetch` -> what was kept.
pub fn fetch(args: &DbFetchArgs) -> Result<ExitCode> {
    let sources = args
        .url
        .iter()
        .map(|u| pare::scan::db::FetchSource::parse(u))
        .collect::<pare::Result<Vec<_>>>()?;
    let fetched = pare::scan::db::fetch(&sources, &args.dir)?;
    match args.format {
        TextFormat::Json => {
            #[derive(serde::Serialize)]
            struct Report<'a> {
                dir: String,
                fetched: &'a [pare::scan::db::Fetched],
            }
            print_json(
                &Report {
                    dir: args.dir.display().to_string(),
                    fetched: &fetched,
                },
                DB_FETCH_JSON_SCHEMA,
            )?
        }
        TextFormat::Human => {
            for f in &fetched {
                say!(
                    "{} -> {} ({} bytes, sha256:{}, {} {} records)",
                    f.url,
                    args.dir.join(&f.file).display(),
                    f.size,
                    f.sha256,
                    f.records,
                    f.kind
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: &ScanArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let reference = ImageRef::parse(&args.image).map_err(pare::Error::from)?;
    let fail_on = args
        .fail_on
        .as_deref()
        .map(VulnSeverity::parse)
        .transpose()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let options = ScanOptions {
        db: args.db.clone(),
        only_fixed: args.only_fixed,
        ignore: args.ignore.clone(),
        now,
        max_db_age: args.max_db_age.as_deref().map(parse_age).transpose()?,
    };
    let report = scan(
        &reference,
        &access(&args.read)?,
        &options,
        &TerminalReporter::new(global.quiet),
    )?;
    match args.format {
        ScanFormat::Json => print_json(&report, SCAN_JSON_SCHEMA)?,
        ScanFormat::Sarif => crate::output::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report.sarif())?
        ))?,
        ScanFormat::CyclonedxVex => {
            crate::output::out(&String::from_utf8(report.cyclonedx_vex()?)?)?
        }
        ScanFormat::Human => print_human(&report),
    }
    let failed = fail_on.is_some_and(|threshold| report.worst().is_some_and(|w| w >= threshold));
    Ok(if failed {
        ExitCode::from(crate::EXIT_POLICY)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_human(r: &ScanReport) {
    say!("{} ({})", r.image, r.manifest_digest);
    say!(
        "  os {}   {} packages",
        r.os.as_deref().unwrap_or("unknown"),
        r.packages
    );
    say!(
        "  database {} ({} advisories, newest record {})",
        r.database.digest,
        r.database.advisories,
        r.database.newest_modified.as_deref().unwrap_or("undated")
    );
    let counts: Vec<String> = ["critical", "high", "medium", "low", "unknown", "negligible"]
        .iter()
        .filter_map(|s| r.counts.get(s).map(|n| format!("{n} {s}")))
        .collect();
    say!(
        "  vulnerabilities: {}",
        if counts.is_empty() {
            "none".to_string()
        } else {
            counts.join(", ")
        }
    );
    if !r.vulnerabilities.is_empty() {
        say!(
            "    {:<10} {:<24} {:<22} {:<22} {:<20} summary",
            "severity",
            "package",
            "installed",
            "fixed in",
            "id"
        );
    }
    for v in &r.vulnerabilities {
        say!(
            "    {:<10} {:<24} {:<22} {:<22} {:<20} {}",
            v.severity.name(),
            v.package,
            v.version,
            v.fixed_in.as_deref().unwrap_or("(no fix)"),
            v.id,
            shorten(&v.summary, 80)
        );
    }
    if r.unfixed_left_out > 0 {
        say!(
            "  {} without a fix left out (--only-fixed)",
            r.unfixed_left_out
        );
    }
    for (v, entry) in &r.ignored {
        say!(
            "  ignored {} in {}: {}{}",
            v.id,
            v.package,
            entry.reason,
            entry
                .expires
                .as_deref()
                .map(|e| format!(" (until {e})"))
                .unwrap_or_default()
        );
    }
    for note in &r.support {
        let when = match (note.status, note.date.as_deref()) {
            ("ended", Some(d)) => format!("security support ended on {d}"),
            ("ends", Some(d)) => format!("security support ends on {d}"),
            _ => "security support is limited".to_string(),
        };
        say!(
            "  {} {} (source {}): {when}; {}",
            note.package,
            note.version,
            note.source,
            note.details
        );
    }
    for entry in &r.expired_ignores {
        say!(
            "  warning: the ignore entry for {} expired on {}; it hides nothing now",
            entry.id,
            entry.expires.as_deref().unwrap_or("?")
        );
    }
}
