//! `pare lint`: Dockerfiles and settings -> `pare::lint::lint` per file -> findings as text (with
//! the line shown and the fix), JSON or SARIF; exit 1 on findings at or above `--fail-on`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use pare::findings::{Family, Location, Severity, CATALOG};
use pare::lint::{lint, LintConfig, LintOptions, LintReport};

use super::UsageError;
use crate::cli::{FindingsFormat, LintArgs};
use crate::output::print_json;

/// Version of `pare lint --format json`.
pub const LINT_JSON_SCHEMA: &str = "pare.lint/v1";

pub fn run(args: &LintArgs) -> Result<ExitCode> {
    if args.list_rules {
        return list_rules(args.format);
    }
    let fail_on = match args.fail_on.as_str() {
        "none" => None,
        other => Some(Severity::parse(other)?),
    };
    let config = match &args.config {
        Some(path) => LintConfig::from_pare_toml(path)?,
        None if Path::new("pare.toml").is_file() => {
            LintConfig::from_pare_toml(Path::new("pare.toml"))?
        }
        None => LintConfig::default(),
    };
    let files = if args.files.is_empty() {
        vec![PathBuf::from("Dockerfile")]
    } else {
        args.files.clone()
    };
    let mut reports = Vec::with_capacity(files.len());
    for file in &files {
        reports.push(lint(&LintOptions {
            dockerfile: file.clone(),
            context: args.context.clone(),
            config: config.clone(),
        })?);
    }
    let failed = reports
        .iter()
        .flat_map(|r| &r.findings)
        .any(|f| fail_on.is_some_and(|s| f.severity >= s));
    match args.format {
        FindingsFormat::Json => {
            #[derive(serde::Serialize)]
            struct Report<'a> {
                files: &'a [LintReport],
                fail_on: &'a str,
                passed: bool,
            }
            print_json(
                &Report {
                    files: &reports,
                    fail_on: &args.fail_on,
                    passed: !failed,
                },
                LINT_JSON_SCHEMA,
            )?
        }
        FindingsFormat::Sarif => {
            let findings: Vec<_> = reports
                .iter()
                .flat_map(|r| r.findings.iter().cloned())
                .collect();
            let subject = files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(" ");
            crate::output::out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&pare::findings::sarif(
                    Family::Lint,
                    &subject,
                    &findings
                ))?
            ))?
        }
        FindingsFormat::Human => {
            for report in &reports {
                print_human(report);
            }
            let total: usize = reports.iter().map(|r| r.findings.len()).sum();
            say!(
                "{} file(s), {} finding(s){}: {}",
                reports.len(),
                total,
                match reports.iter().map(|r| r.ignored).sum::<usize>() {
                    0 => String::new(),
                    n => format!(", {n} ignored"),
                },
                if failed {
                    format!("FAIL (at or above {})", args.fail_on)
                } else {
                    "pass".into()
                }
            );
        }
    }
    Ok(if failed {
        ExitCode::from(crate::EXIT_POLICY)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_human(report: &LintReport) {
    for f in &report.findings {
        let Location::FileLine { path, line, column } = &f.location else {
            continue;
        };
        say!(
            "{path}:{line}:{column} {} {} {}",
            f.rule,
            f.severity.name(),
            f.reason
        );
        if let Some(text) = report.lines.get((*line as usize).wrapping_sub(1)) {
            say!("    {line:>4} | {}", crate::output::shorten(text, 100));
        }
        if let Some(rule) = pare::findings::rule(f.rule).filter(|r| !r.fix.is_empty()) {
            say!("         fix: {}", rule.fix);
        }
    }
}

fn list_rules(format: FindingsFormat) -> Result<ExitCode> {
    let rules: Vec<&pare::findings::Rule> = CATALOG
        .iter()
        .filter(|r| r.family == Family::Lint)
        .collect();
    match format {
        FindingsFormat::Json => {
            #[derive(serde::Serialize)]
            struct Rules<'a> {
                rules: &'a [&'a pare::findings::Rule],
            }
            print_json(&Rules { rules: &rules }, super::audit::RULES_JSON_SCHEMA)?;
        }
        FindingsFormat::Sarif => {
            return Err(UsageError("--list-rules prints text or JSON".into()).into())
        }
        FindingsFormat::Human => {
            for rule in rules {
                let peers = if rule.peers.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", rule.peers.join(", "))
                };
                say!(
                    "{:<34} {:<8} {}{}",
                    rule.id,
                    rule.severity.name(),
                    rule.title,
                    peers
                );
                say!("{:<43} {}", "", rule.help);
                if !rule.fix.is_empty() {
                    say!("{:<43} fix: {}", "", rule.fix);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
