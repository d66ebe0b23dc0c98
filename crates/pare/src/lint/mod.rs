//! `pare lint`: Dockerfile hygiene. Reads a Dockerfile with `pare_dockerfile` (BuildKit's
//! reading), groups it into stages, runs the lint rules of the catalog (hadolint's and BuildKit's
//! where they overlap, and the minimal-image rules: static artifacts on full distributions, build
//! tools and caches in the final stage, secrets and whole-context copies without a
//! .dockerignore), and applies `# pare-ignore=` comments and the `[lint]` settings. Not here:
//! parsing (`pare_dockerfile`), rendering (`pare-cli`), the catalog itself (`crate::findings`).

mod rules;
pub mod shell;

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};

use pare_dockerfile::ignore::DockerIgnore;
use pare_dockerfile::stages;
use serde::{Deserialize, Serialize};

use crate::findings::{self, Family, Finding, Location, Severity};
use crate::{Error, Result};

/// `[lint]` in pare.toml.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintConfig {
    /// Rule ids (pare's, or hadolint's and BuildKit's names of the same rule) not to report.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Severities that replace a rule's default (`"PARE-LINT-BASE-NOT-PINNED" = "info"`).
    #[serde(default)]
    pub severity: BTreeMap<String, String>,
}

impl LintConfig {
    /// Reads `[lint]` from a pare.toml (the other sections are `pare build`'s).
    pub fn from_pare_toml(path: &Path) -> Result<Self> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            lint: LintConfig,
        }
        let bytes = pare_oci::layout::read_bounded(path, 1 << 20)
            .map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::Input(format!("{} is not UTF-8 text", path.display())))?;
        let file: File = toml::from_str(&text)
            .map_err(|e| Error::Input(format!("{}: [lint] is not valid: {e}", path.display())))?;
        Ok(file.lint)
    }
}

/// What to lint.
#[derive(Clone, Debug, Default)]
pub struct LintOptions {
    pub dockerfile: PathBuf,
    /// The build context (default: the Dockerfile's directory): its .dockerignore and files.
    pub context: Option<PathBuf>,
    pub config: LintConfig,
}

/// The result of linting one Dockerfile.
#[derive(Clone, Debug, Serialize)]
pub struct LintReport {
    pub file: String,
    pub instructions: usize,
    pub stages: usize,
    /// Findings after ignores and configuration, worst first.
    pub findings: Vec<Finding>,
    /// How many findings `# pare-ignore=` comments and `disable` removed.
    pub ignored: usize,
    /// The stages, in order, with the lines they span and whether they ship (the final stage and
    /// the stages it is built FROM).
    pub stage_list: Vec<StageSummary>,
    /// The source lines, for showing findings in context (not serialized).
    #[serde(skip)]
    pub lines: Vec<String>,
}

/// A stage as reported.
#[derive(Clone, Debug, Serialize)]
pub struct StageSummary {
    pub index: usize,
    pub name: Option<String>,
    pub base: String,
    pub start_line: u32,
    pub end_line: u32,
    pub shipped: bool,
}

/// The context a Dockerfile is built with.
pub(crate) struct Context {
    pub dir: Option<PathBuf>,
    pub ignore: Option<DockerIgnore>,
}

/// Lints the Dockerfile `options` names.
pub fn lint(options: &LintOptions) -> Result<LintReport> {
    let bytes = pare_oci::layout::read_bounded(&options.dockerfile, 16 << 20).map_err(|e| {
        Error::Input(format!(
            "cannot read Dockerfile {}: {e}",
            options.dockerfile.display()
        ))
    })?;
    let context_dir = options.context.clone().or_else(|| {
        options.dockerfile.parent().map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
            .to_path_buf()
        })
    });
    let ignore = context_dir
        .as_ref()
        .map(|d| d.join(".dockerignore"))
        .filter(|p| p.is_file())
        .map(|p| {
            pare_oci::layout::read_bounded(&p, 1 << 20)
                .map(|b| DockerIgnore::parse(&String::from_utf8_lossy(&b)))
                .map_err(|e| Error::Input(format!("cannot read {}: {e}", p.display())))
        })
        .transpose()?;
    let context = Context {
        dir: context_dir.filter(|d| d.is_dir()),
        ignore,
    };
    lint_source(
        &options.dockerfile.display().to_string(),
        &bytes,
        &context,
        &options.config,
    )
}

/// Lints Dockerfile bytes; `file` names it in locations.
pub(crate) fn lint_source(
    file: &str,
    bytes: &[u8],
    context: &Context,
    config: &LintConfig,
) -> Result<LintReport> {
    let disabled: Vec<&'static str> = config
        .disable
        .iter()
        .map(|id| rule_for(id).map(|r| r.id))
        .collect::<Result<_>>()?;
    let severities: Vec<(&'static str, Severity)> = config
        .severity
        .iter()
        .map(|(id, s)| Ok((rule_for(id)?.id, Severity::parse(s)?)))
        .collect::<Result<_>>()?;
    let df = pare_dockerfile::parse(bytes);
    let stages = stages(&df);
    let shipped = rules::shipped_stages(&stages);
    let mut raw = rules::run(&df, &stages, &shipped, context);
    // Comments `# pare-ignore=RULE[,RULE]` on the line before an instruction.
    let ignores: Vec<(u32, Vec<&'static str>)> = df
        .comments
        .iter()
        .filter_map(|c| {
            let list = c.text.strip_prefix("pare-ignore=")?;
            let ids = list
                .split(',')
                .filter_map(|id| rule_for(id.trim()).ok().map(|r| r.id))
                .collect();
            Some((c.line, ids))
        })
        .collect();
    let before = raw.len();
    raw.retain(|(f, instruction_line)| {
        !disabled.contains(&f.rule)
            && !ignores
                .iter()
                .any(|(line, ids)| *line + 1 == *instruction_line && ids.contains(&f.rule))
    });
    let ignored = before - raw.len();
    let mut findings: Vec<Finding> = raw
        .into_iter()
        .map(|(mut f, _)| {
            if let Some((_, s)) = severities.iter().find(|(id, _)| *id == f.rule) {
                f.severity = *s;
            }
            if let Location::FileLine { path, .. } = &mut f.location {
                *path = file.to_string();
            }
            f
        })
        .collect();
    Finding::sort(&mut findings);
    findings.sort_by(|a, b| {
        line_of(a)
            .cmp(&line_of(b))
            .then(b.severity.cmp(&a.severity))
    });
    let stage_list = stages
        .iter()
        .map(|s| StageSummary {
            index: s.index,
            name: s.name.clone(),
            base: s.base.clone(),
            start_line: s.from.start.line,
            end_line: s
                .instructions
                .last()
                .map_or(s.from.end_line, |i| i.end_line),
            shipped: shipped.contains(&s.index),
        })
        .collect();
    Ok(LintReport {
        stage_list,
        file: file.to_string(),
        instructions: df.instructions.len(),
        stages: stages.len(),
        findings,
        ignored,
        lines: String::from_utf8_lossy(bytes)
            .lines()
            .map(str::to_string)
            .collect(),
    })
}

fn line_of(f: &Finding) -> (u32, u32) {
    match f.location {
        Location::FileLine { line, column, .. } => (line, column),
        _ => (0, 0),
    }
}

/// A lint rule by pare id or by the id a peer gives it (`DL3008`, `JSONArgsRecommended`).
pub fn rule_for(id: &str) -> Result<&'static findings::Rule> {
    if let Some(rule) = findings::CATALOG.iter().find(|r| {
        r.family == Family::Lint
            && (r.id == id || r.peers.iter().any(|p| p.eq_ignore_ascii_case(id)))
    }) {
        return Ok(rule);
    }
    match findings::known_rule(id) {
        Ok(r) if r.family != Family::Lint => Err(Error::Input(format!(
            "{id} is a {} rule, not a lint rule",
            serde_json::to_value(r.family)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ))),
        Ok(r) => Ok(r),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
