//! `pare audit`: a reference, flags and a policy file -> `pare::audit::audit` -> text, JSON or
//! SARIF, exit 1 on findings at or above the fail-on severity; `--list-rules` prints the catalog.

use std::process::ExitCode;

use anyhow::Result;
use pare::audit::{audit_image, AuditOptions, AuditReport, Severity};
use pare::findings::CATALOG;
use pare::policy::Policy;
use pare_oci::reference::ImageRef;

use super::{access, UsageError};
use crate::cli::{AuditArgs, AuditFormat, GlobalArgs};
use crate::output::{human_bytes, print_json, TerminalReporter};

/// Version of `pare audit --format json`.
pub const AUDIT_JSON_SCHEMA: &str = "pare.audit/v1";
/// Version of `pare audit --list-rules --format json`.
pub const RULES_JSON_SCHEMA: &str = "pare.rules/v1";

pub fn run(args: &AuditArgs, global: &GlobalArgs) -> Result<ExitCode> {
    if args.list_rules {
        return list_rules(args.format);
    }
    let Some(image) = &args.image else {
        return Err(UsageError("pare audit needs an IMAGE (or --list-rules)".into()).into());
    };
    let options = AuditOptions {
        image: ImageRef::parse(image).map_err(pare::Error::from)?,
        access: access(&args.read)?,
        fail_on: args.fail_on.as_deref().map(Severity::parse).transpose()?,
        policy: match &args.policy {
            Some(path) => Policy::load(path)?,
            None => Policy::default(),
        },
        base: args
            .base_image
            .as_deref()
            .map(ImageRef::parse)
            .transpose()
            .map_err(pare::Error::from)?,
    };
    let audited = audit_image(&options, &TerminalReporter::new(global.quiet))?;
    let report = &audited.report;
    match args.format {
        AuditFormat::Html => crate::output::out(&pare::html::audit(&audited))?,
        AuditFormat::Json => print_json(report, AUDIT_JSON_SCHEMA)?,
        AuditFormat::Sarif => crate::output::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&pare::policy::sarif(report))?
        ))?,
        AuditFormat::Human => print_audit(report),
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_POLICY)
    })
}

fn list_rules(format: AuditFormat) -> Result<ExitCode> {
    match format {
        AuditFormat::Json => {
            #[derive(serde::Serialize)]
            struct Rules {
                rules: &'static [pare::findings::Rule],
            }
            print_json(&Rules { rules: CATALOG }, RULES_JSON_SCHEMA)?;
        }
        AuditFormat::Sarif | AuditFormat::Html => {
            return Err(UsageError("--list-rules prints text or JSON".into()).into())
        }
        AuditFormat::Human => {
            for rule in CATALOG {
                say!("{:<24} {:<8} {}", rule.id, rule.severity.name(), rule.title);
                say!("{:<33} {}", "", rule.help);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Duplicates smaller than this are summed in human output.
const SMALL_DUPLICATE: u64 = 1024;

fn print_audit(r: &AuditReport) {
    say!("{} ({})", r.image, r.manifest_digest);
    say!(
        "  os {}   user {}",
        r.os.as_deref().unwrap_or("unknown"),
        if r.user.is_empty() {
            "(unset: root)"
        } else {
            r.user.as_str()
        }
    );
    say!(
        "  size {} stored, {} uncompressed, {} in files",
        human_bytes(r.compressed_size),
        human_bytes(r.uncompressed_size),
        human_bytes(r.file_bytes)
    );
    say!("  layers:");
    for (i, l) in r.layers.iter().enumerate() {
        say!(
            "    {:>2}{} {:>10} stored {:>10} uncompressed {:>6} entries  {}",
            i,
            if l.base { " base" } else { "" },
            human_bytes(l.info.size),
            human_bytes(l.info.uncompressed_size),
            l.info.entries,
            crate::output::shorten(
                l.info.created_by.as_deref().unwrap_or(""),
                crate::output::HISTORY_WIDTH
            )
        );
        for (path, size) in l.largest_files.iter().take(3) {
            say!("         {:>10}  {path}", human_bytes(*size));
        }
    }
    say!(
        "  waste: {} ({} bytes)",
        human_bytes(r.waste_bytes),
        r.waste_bytes
    );
    for (kind, bytes) in &r.waste_by_kind {
        say!(
            "    {:<16} {}",
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            human_bytes(*bytes)
        );
    }
    // Identical small files (licenses, __init__.py) are many and matter little: summed, not listed.
    let small = |w: &&pare::audit::Waste| {
        w.kind == pare::audit::WasteKind::Duplicate && w.bytes < SMALL_DUPLICATE
    };
    for w in r.waste.iter().filter(|w| !small(w)).take(10) {
        say!(
            "    {:>10}  {} (layer {})",
            human_bytes(w.bytes),
            w.path,
            w.layer
        );
    }
    let (count, bytes) = r
        .waste
        .iter()
        .filter(small)
        .fold((0usize, 0u64), |(n, b), w| (n + 1, b + w.bytes));
    if count > 0 {
        say!(
            "    {:>10}  {count} duplicate {} under 1 KiB (listed in --format json)",
            human_bytes(bytes),
            if count == 1 { "file" } else { "files" }
        );
    }
    if r.findings.is_empty() {
        say!("  findings: none");
    } else {
        say!("  findings:");
        for f in &r.findings {
            let severity = f.severity.name();
            let place = match (f.path(), f.location.layer()) {
                (Some(p), Some(l)) => format!(" {p} (layer {l})"),
                (Some(p), None) => format!(" {p}"),
                _ => String::new(),
            };
            say!("    {severity:<8} {}{place}: {}", f.rule, f.reason);
        }
    }
    say!(
        "  {}",
        if r.passed {
            "PASS"
        } else {
            "FAIL: findings at or above the --fail-on severity"
        }
    );
}
