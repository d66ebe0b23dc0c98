//! Audit policy files (`--policy FILE`, TOML): which rules count and how much, the severity that
//! fails, and waste limits. A policy changes the verdict, never what pare reads.
//!
//! ```toml
//! fail_on = "high"
//! [rules]
//! PARE-SHELL = "off"          # ignore this rule
//! PARE-BUILD-TOOL = "high"    # count it as high
//! [waste]
//! max_bytes = 10485760        # a PARE-WASTE finding past 10 MiB of waste
//! max_percent = 5.0           # or past 5% of the uncompressed size
//! [size]
//! max_compressed_bytes = 50000000    # a PARE-SIZE finding past these
//! max_uncompressed_bytes = 150000000
//! max_layer_bytes = 100000000        # any one layer, uncompressed
//! [allow]
//! PARE-SHELL = ["/busybox/*"]  # paths a rule does not report (exact, or a prefix ending in *)
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::audit::AuditReport;
use crate::findings::{self, Finding, Location, Severity};
use crate::{Error, Result};

/// A parsed policy.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub fail_on: Option<String>,
    #[serde(default)]
    pub rules: BTreeMap<String, String>,
    #[serde(default)]
    pub waste: WasteLimits,
    #[serde(default)]
    pub size: SizeLimits,
    /// Rule id to the image paths it does not report.
    #[serde(default)]
    pub allow: BTreeMap<String, Vec<String>>,
}

/// Size limits (bytes), each reported as a PARE-SIZE finding when exceeded.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeLimits {
    pub max_compressed_bytes: Option<u64>,
    pub max_uncompressed_bytes: Option<u64>,
    pub max_layer_bytes: Option<u64>,
}

/// Whether an allow-list pattern (an exact path, or a prefix ending in `*`) covers `path`.
fn allowed(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == pattern,
    }
}

/// Waste limits.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasteLimits {
    pub max_bytes: Option<u64>,
    pub max_percent: Option<f64>,
}

impl Policy {
    /// Reads a policy file, checking every rule setting.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = pare_oci::layout::read_bounded(path, 1 << 20)
            .map_err(|e| Error::Input(format!("cannot read the policy: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::Input(format!("{} is not UTF-8", path.display())))?;
        let policy: Policy = toml::from_str(&text)
            .map_err(|e| Error::Input(format!("{} is not a valid policy: {e}", path.display())))?;
        if let Some(f) = &policy.fail_on {
            Severity::parse(f)?;
        }
        let known = |id: &str| {
            findings::known_rule(id).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
        };
        for rule in policy.rules.keys().chain(policy.allow.keys()) {
            known(rule)?;
        }
        for (rule, patterns) in &policy.allow {
            if let Some(bad) = patterns.iter().find(|p| !p.starts_with('/')) {
                return Err(Error::Input(format!(
                    "{}: [allow] {rule}: {bad:?} is not an absolute image path",
                    path.display()
                )));
            }
        }
        for (rule, setting) in &policy.rules {
            if setting != "off" {
                Severity::parse(setting)
                    .map_err(|e| Error::Input(format!("{}: rule {rule}: {e}", path.display())))?;
            }
        }
        Ok(policy)
    }

    /// Applies the policy to a report: drops and re-grades findings, adds waste findings, and sets the
    /// verdict for `fail_on` (the policy's unless `fail_on_flag` overrides it).
    pub fn apply(&self, report: &mut AuditReport, fail_on_flag: Option<Severity>) -> Result<()> {
        let mut findings = Vec::new();
        for mut f in std::mem::take(&mut report.findings) {
            if let (Some(patterns), Some(path)) = (self.allow.get(f.rule), f.path()) {
                if patterns.iter().any(|p| allowed(p, path)) {
                    continue;
                }
            }
            match self.rules.get(f.rule).map(String::as_str) {
                Some("off") => continue,
                Some(level) => f.severity = Severity::parse(level)?,
                None => {}
            }
            findings.push(f);
        }
        let percent = (report.uncompressed_size > 0)
            .then(|| report.waste_bytes as f64 * 100.0 / report.uncompressed_size as f64);
        let over_bytes = self.waste.max_bytes.is_some_and(|m| report.waste_bytes > m);
        let over_percent = matches!((self.waste.max_percent, percent), (Some(m), Some(p)) if p > m);
        if (over_bytes || over_percent)
            && self.rules.get("PARE-WASTE").map(String::as_str) != Some("off")
        {
            let severity = match self.rules.get("PARE-WASTE") {
                Some(level) => Severity::parse(level)?,
                None => Severity::High,
            };
            findings.push(Finding {
                rule: findings::WASTE.id,
                severity,
                location: Location::Image,
                reason: format!(
                    "the image ships {} bytes of waste ({}); the policy allows {}",
                    report.waste_bytes,
                    percent.map_or("n/a".to_string(), |p| format!(
                        "{p:.1}% of its uncompressed size"
                    )),
                    match (self.waste.max_bytes, self.waste.max_percent) {
                        (Some(b), Some(p)) => format!("{b} bytes and {p}%"),
                        (Some(b), None) => format!("{b} bytes"),
                        (None, Some(p)) => format!("{p}%"),
                        (None, None) => "any amount".into(),
                    }
                ),
            });
        }
        let size_severity = match self.rules.get("PARE-SIZE").map(String::as_str) {
            Some("off") => None,
            Some(level) => Some(Severity::parse(level)?),
            None => Some(Severity::High),
        };
        if let Some(severity) = size_severity {
            let mut over = |what: String| {
                findings.push(Finding {
                    rule: findings::SIZE.id,
                    severity,
                    location: Location::Image,
                    reason: what,
                })
            };
            if let Some(max) = self
                .size
                .max_compressed_bytes
                .filter(|m| report.compressed_size > *m)
            {
                over(format!(
                    "the image is {} bytes compressed; the policy allows {max}",
                    report.compressed_size
                ));
            }
            if let Some(max) = self
                .size
                .max_uncompressed_bytes
                .filter(|m| report.uncompressed_size > *m)
            {
                over(format!(
                    "the image is {} bytes uncompressed; the policy allows {max}",
                    report.uncompressed_size
                ));
            }
            if let Some(max) = self.size.max_layer_bytes {
                for (i, layer) in report.layers.iter().enumerate() {
                    if layer.info.uncompressed_size > max {
                        over(format!(
                            "layer {} ({}) is {} bytes uncompressed; the policy allows {max} per layer",
                            i + 1,
                            layer.info.created_by.as_deref().unwrap_or("no history"),
                            layer.info.uncompressed_size
                        ));
                    }
                }
            }
        }
        Finding::sort(&mut findings);
        report.findings = findings;
        report.fail_on = match (fail_on_flag, &self.fail_on) {
            (Some(flag), _) => flag,
            (None, Some(p)) => Severity::parse(p)?,
            (None, None) => Severity::High,
        };
        report.passed = !report.findings.iter().any(|f| f.severity >= report.fail_on);
        Ok(())
    }
}

/// The report as SARIF 2.1.0 (for code-scanning dashboards), rules from the catalog.
pub fn sarif(report: &AuditReport) -> serde_json::Value {
    findings::sarif(findings::Family::Audit, &report.image, &report.findings)
}
