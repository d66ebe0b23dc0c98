//! `pare scan`: an image's inventory matched against vulnerability data on disk (OSV records and the
//! Debian security tracker, `db`), offline. Matching follows what the trusted scanners document:
//! Debian packages by their source package and source version within the image's release (OSV's
//! `Debian:12`, the tracker's `bookworm`), in dpkg order, fixed / unfixed / not affected (`0`),
//! urgency as severity; Alpine by origin in apk order; Go modules by semver and the standard
//! library by the toolchain version in the binary's build info; crates.io and npm by semver; PyPI
//! by PEP 440 with PEP 503 names; Maven artifacts as `group:artifact` in Maven's order. Each match says which record, which range and why. Reports go
//! out as the `ScanReport` (JSON, human) or as findings of the catalog's `PARE-VULNERABILITY` rule
//! (SARIF). Not here: reading the image (`crate::inventory`) or the data formats (`db`).

pub mod cvss;
pub mod db;
pub mod versions;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::Serialize;

use crate::findings::{Finding, Location, Severity};
use crate::image_io::Access;
use crate::inventory::{Inventory, Package};
use crate::{Error, Reporter, Result};
use db::{Advisory, Affected, Database, Event};
use versions::Order;

/// What `pare scan` is asked for.
#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    /// Database files or directories.
    pub db: Vec<PathBuf>,
    /// Leave out vulnerabilities that have no fixed version yet.
    pub only_fixed: bool,
    /// A TOML file of `[[ignore]]` entries (id, optional package, reason, optional expires).
    pub ignore: Option<PathBuf>,
    /// Now, in seconds since the epoch (for ignore expiry and the database's age).
    pub now: u64,
    /// Refuse a database whose newest record is older than this many seconds.
    pub max_db_age: Option<u64>,
}

/// How bad a vulnerability is, in the scanners' words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VulnSeverity {
    /// Debian's "unimportant": no security impact in Debian.
    Negligible,
    /// The record says nothing pare can read.
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl VulnSeverity {
    /// Parses the names `--fail-on` takes.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "negligible" => VulnSeverity::Negligible,
            "unknown" => VulnSeverity::Unknown,
            "low" => VulnSeverity::Low,
            "medium" => VulnSeverity::Medium,
            "high" => VulnSeverity::High,
            "critical" => VulnSeverity::Critical,
            other => {
                return Err(Error::Input(format!(
                "severity {other:?} is not one of negligible, unknown, low, medium, high, critical"
            )))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            VulnSeverity::Negligible => "negligible",
            VulnSeverity::Unknown => "unknown",
            VulnSeverity::Low => "low",
            VulnSeverity::Medium => "medium",
            VulnSeverity::High => "high",
            VulnSeverity::Critical => "critical",
        }
    }

    /// The CVSS v3 qualitative rating of a base score.
    fn from_score(score: f64) -> Self {
        match score {
            s if s >= 9.0 => VulnSeverity::Critical,
            s if s >= 7.0 => VulnSeverity::High,
            s if s >= 4.0 => VulnSeverity::Medium,
            s if s > 0.0 => VulnSeverity::Low,
            _ => VulnSeverity::Negligible,
        }
    }

    /// A record's or the tracker's word: GHSA's `MODERATE`, Debian's urgencies (`low**` is low,
    /// `unimportant` negligible, `not yet assigned` unknown).
    fn from_word(word: &str) -> Self {
        match word
            .trim()
            .trim_end_matches('*')
            .to_ascii_lowercase()
            .as_str()
        {
            "critical" => VulnSeverity::Critical,
            "high" | "important" => VulnSeverity::High,
            "medium" | "moderate" => VulnSeverity::Medium,
            "low" => VulnSeverity::Low,
            "unimportant" | "negligible" => VulnSeverity::Negligible,
            _ => VulnSeverity::Unknown,
        }
    }

    /// The finding severity of a vulnerability of this severity.
    fn finding(self) -> Severity {
        match self {
            VulnSeverity::Critical => Severity::Critical,
            VulnSeverity::High => Severity::High,
            VulnSeverity::Medium => Severity::Medium,
            VulnSeverity::Low | VulnSeverity::Unknown => Severity::Low,
            VulnSeverity::Negligible => Severity::Info,
        }
    }
}

/// One package matched by one advisory.
#[derive(Clone, Debug, Serialize)]
pub struct Vulnerability {
    pub id: String,
    /// Other ids of the same issue (CVE, DSA, GHSA, the records merged into this one).
    pub aliases: Vec<String>,
    pub severity: VulnSeverity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss_vector: Option<String>,
    /// The installed package (binary package name for dpkg).
    pub package: String,
    pub version: String,
    pub purl: String,
    /// The ecosystem and name the match was made under (`Debian:12` `openssl`).
    pub ecosystem: String,
    pub matched_name: String,
    pub matched_version: String,
    /// The first fixed version above the installed one; None while unfixed.
    pub fixed_in: Option<String>,
    pub summary: String,
    /// The record(s) the match came from: database file and member.
    pub records: Vec<String>,
    /// The range the installed version fell in, as the record gives it.
    pub range: String,
    /// Why this is a match, in one sentence.
    pub why: String,
    /// Where the package is in the image: its record, layer and files.
    pub location: String,
    pub layer: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// The package's id in pare's SBOMs (CycloneDX bom-ref), for VEX.
    #[serde(skip)]
    pub bom_ref: String,
}

/// A vulnerability an ignore entry hid, or an entry that no longer hides.
#[derive(Clone, Debug, Serialize)]
pub struct IgnoreEntry {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// A package debian-security-support names.
#[derive(Clone, Debug, Serialize)]
pub struct SupportNote {
    pub package: String,
    pub version: String,
    /// The source package the list names.
    pub source: String,
    /// `ended` (the date has passed), `ends` (a date to come) or `limited`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The last version with support, for `ended` and `ends`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_supported: Option<String>,
    pub details: String,
}

/// The packages of a Debian image that debian-security-support's lists name: an `ended` list of
/// the image's release whose last supported version is at or above the installed source version
/// (`0` means every version), and the `limited` list.
fn support_notes(inventory: &Inventory, database: &Database, now: u64) -> Vec<SupportNote> {
    let os = inventory.os.as_ref();
    if os.and_then(|o| o.id.as_deref()) != Some("debian") {
        return Vec::new();
    }
    let release: Option<u32> = os
        .and_then(|o| o.version_id.as_deref())
        .and_then(|v| v.split('.').next()?.parse().ok());
    let mut out = Vec::new();
    for package in inventory.packages.iter().filter(|p| p.manager == "dpkg") {
        let source = package.source.as_deref().unwrap_or(&package.name);
        let version = package
            .source_version
            .as_deref()
            .unwrap_or(&package.version);
        for entry in database.support.iter().filter(|e| e.names(source)) {
            let status = match entry.list {
                db::SupportList::Limited => "limited",
                db::SupportList::Ended(r) if Some(r) == release => {
                    let last = entry.last_version.as_deref().unwrap_or("0");
                    let covered = last == "0"
                        || Order::Dpkg
                            .compare(version, last)
                            .is_some_and(|o| o != Ordering::Greater);
                    if !covered {
                        continue;
                    }
                    let passed = entry
                        .date
                        .as_deref()
                        .and_then(|d| pare_oci::image::parse_rfc3339(&format!("{d}T00:00:00Z")))
                        .is_none_or(|t| t <= now);
                    if passed {
                        "ended"
                    } else {
                        "ends"
                    }
                }
                db::SupportList::Ended(_) => continue,
            };
            out.push(SupportNote {
                package: package.name.clone(),
                version: package.version.clone(),
                source: source.to_string(),
                status,
                date: entry.date.clone(),
                last_supported: entry.last_version.clone(),
                details: entry.details.clone(),
            });
        }
    }
    out
}

/// The database a scan used.
#[derive(Clone, Debug, Serialize)]
pub struct DatabaseInfo {
    pub digest: String,
    pub advisories: usize,
    pub newest_modified: Option<String>,
    pub sources: Vec<db::SourceSummary>,
}

/// What `pare scan` found.
#[derive(Clone, Debug, Serialize)]
pub struct ScanReport {
    pub image: String,
    pub manifest_digest: String,
    pub os: Option<String>,
    pub database: DatabaseInfo,
    pub packages: usize,
    /// Worst first, then by package and id.
    pub vulnerabilities: Vec<Vulnerability>,
    /// Vulnerabilities by severity name.
    pub counts: BTreeMap<&'static str, usize>,
    /// Matches an ignore entry hid.
    pub ignored: Vec<(Vulnerability, IgnoreEntry)>,
    /// Entries past their expiry date: they hide nothing any more.
    pub expired_ignores: Vec<IgnoreEntry>,
    /// Matches left out by `--only-fixed`.
    pub unfixed_left_out: usize,
    /// Packages whose Debian security support has ended, will end, or is limited
    /// (debian-security-support's lists, when the database holds them).
    pub support: Vec<SupportNote>,
    /// The inventory scanned, and the image's name for documents (VEX).
    #[serde(skip)]
    pub inventory: Inventory,
    #[serde(skip)]
    pub name: String,
}

impl ScanReport {
    /// The worst severity found (after ignores).
    pub fn worst(&self) -> Option<VulnSeverity> {
        self.vulnerabilities.iter().map(|v| v.severity).max()
    }

    /// The report as findings of the catalog's vulnerability rule, located at each package's first
    /// file (or its database record) and layer.
    pub fn findings(&self) -> Vec<Finding> {
        self.vulnerabilities
            .iter()
            .map(|v| {
                let path = v
                    .files
                    .first()
                    .cloned()
                    .unwrap_or_else(|| v.location.clone());
                let fixed = match &v.fixed_in {
                    Some(f) => format!("fixed in {f}"),
                    None => "no fix yet".to_string(),
                };
                let mut finding = Finding::new(
                    &crate::findings::VULNERABILITY,
                    Location::image_path(&path, v.layer),
                    format!(
                        "{} in {} {} ({fixed}, {}): {}",
                        v.id,
                        v.package,
                        v.version,
                        v.severity.name(),
                        v.summary
                    ),
                );
                finding.severity = v.severity.finding();
                finding
            })
            .collect()
    }
}

impl ScanReport {
    /// SARIF 2.1.0: one result per vulnerability under the catalog's `PARE-VULNERABILITY` rule,
    /// located at the package's first file and layer, with the id, package, versions and records
    /// as result properties.
    pub fn sarif(&self) -> serde_json::Value {
        let findings = self.findings();
        let mut sarif =
            crate::findings::sarif(crate::findings::Family::Scan, &self.image, &findings);
        if let Some(results) = sarif["runs"][0]["results"].as_array_mut() {
            for (result, v) in results.iter_mut().zip(&self.vulnerabilities) {
                let properties = &mut result["properties"];
                properties["vulnerability"] = serde_json::json!(v.id);
                properties["aliases"] = serde_json::json!(v.aliases);
                properties["package"] = serde_json::json!(v.package);
                properties["installedVersion"] = serde_json::json!(v.version);
                properties["fixedVersion"] = serde_json::json!(v.fixed_in);
                properties["purl"] = serde_json::json!(v.purl);
                properties["records"] = serde_json::json!(v.records);
                properties["vulnerabilitySeverity"] = serde_json::json!(v.severity);
                if let Some(score) = v.cvss_score {
                    properties["security-severity"] = serde_json::json!(format!("{score:.1}"));
                }
            }
        }
        sarif
    }
}

impl ScanReport {
    /// CycloneDX 1.6 with vulnerabilities (VEX): the image's SBOM components (the same bom-refs as
    /// `pare sbom --format cyclonedx-json`) and one vulnerability per match, affecting its package,
    /// with its rating, source and fix. A match is `in_triage` (found by version, not analysed);
    /// one an ignore entry hides is `not_affected` with the entry's reason as the detail.
    pub fn cyclonedx_vex(&self) -> Result<Vec<u8>> {
        let mut document = crate::sbom::document(
            &self.inventory,
            &self.name,
            &crate::sbom::SbomOptions {
                format: crate::sbom::SbomFormat::CycloneDxJson,
                name: None,
                created: None,
            },
        );
        let serial = document["serialNumber"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let seed = format!("pare scan vex {serial} {}", self.database.digest);
        document["serialNumber"] = serde_json::json!(format!(
            "urn:uuid:{}",
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, seed.as_bytes())
        ));
        let entry = |v: &Vulnerability, ignored: Option<&IgnoreEntry>| {
            let source = if v.ecosystem.starts_with("Debian-tracker:") {
                "Debian security tracker"
            } else {
                "OSV"
            };
            let severity = match v.severity {
                VulnSeverity::Negligible => "info",
                other => other.name(),
            };
            let mut rating = serde_json::json!({ "severity": severity, "method": "other" });
            if let (Some(score), Some(vector)) = (v.cvss_score, &v.cvss_vector) {
                rating = serde_json::json!({
                    "severity": severity,
                    "score": score,
                    "vector": vector,
                    "method": if vector.starts_with("CVSS:3.1") { "CVSSv31" } else { "CVSSv3" },
                });
            }
            let analysis = match ignored {
                Some(entry) => {
                    serde_json::json!({ "state": "not_affected", "detail": entry.reason })
                }
                None => match &v.fixed_in {
                    Some(_) => serde_json::json!({ "state": "in_triage", "response": ["update"] }),
                    None => serde_json::json!({ "state": "in_triage" }),
                },
            };
            let mut out = serde_json::json!({
                "bom-ref": format!("vulnerability-{}-{}", v.id, v.bom_ref),
                "id": v.id,
                "source": { "name": source },
                "ratings": [rating],
                "description": v.summary,
                "detail": v.why,
                "affects": [{ "ref": v.bom_ref, "versions": [{ "version": v.version, "status": "affected" }] }],
                "analysis": analysis,
                "references": v.aliases.iter().map(|a| serde_json::json!({
                    "id": a, "source": { "name": source },
                })).collect::<Vec<_>>(),
            });
            if let Some(fixed) = &v.fixed_in {
                out["recommendation"] =
                    serde_json::json!(format!("Update {} to {fixed} or later.", v.package));
            }
            out
        };
        let mut vulnerabilities: Vec<serde_json::Value> = self
            .vulnerabilities
            .iter()
            .map(|v| entry(v, None))
            .collect();
        vulnerabilities.extend(self.ignored.iter().map(|(v, e)| entry(v, Some(e))));
        document["vulnerabilities"] = serde_json::Value::Array(vulnerabilities);
        crate::sbom::to_bytes(&document)
    }
}

/// Reads the image and the database and matches them.
pub fn scan(
    reference: &pare_oci::reference::ImageRef,
    access: &Access,
    options: &ScanOptions,
    reporter: &dyn Reporter,
) -> Result<ScanReport> {
    let (database, ignores) = load_database(options, reporter)?;
    let found = crate::inventory::inventory(reference, access, reporter)?;
    Ok(match_inventory(
        found,
        crate::sbom::default_name(reference),
        &database,
        &ignores,
        options,
    ))
}

/// Loads the database and the ignore entries of `options`, refusing a database past `max_db_age`.
pub fn load_database(
    options: &ScanOptions,
    reporter: &dyn Reporter,
) -> Result<(Database, Vec<IgnoreRule>)> {
    reporter.step("reading the vulnerability database");
    let database = db::load(&options.db)?;
    check_age(&database, options)?;
    let ignores = match &options.ignore {
        Some(path) => read_ignores(path)?,
        None => Vec::new(),
    };
    Ok((database, ignores))
}

/// What a report says about the database it used.
pub fn database_info(database: &Database) -> DatabaseInfo {
    DatabaseInfo {
        digest: database.digest.clone(),
        advisories: database.advisories.len(),
        newest_modified: database.newest_modified.clone(),
        sources: database.sources.clone(),
    }
}

fn check_age(database: &Database, options: &ScanOptions) -> Result<()> {
    let Some(max) = options.max_db_age else {
        return Ok(());
    };
    let newest = database
        .newest_modified
        .as_deref()
        .and_then(pare_oci::image::parse_rfc3339)
        .ok_or_else(|| {
            Error::Input(
                "--max-db-age: no record of the database says when it was modified, so its age is unknown; fetch fresh OSV data or drop --max-db-age".into(),
            )
        })?;
    let age = options.now.saturating_sub(newest);
    if age > max {
        return Err(Error::Refused(format!(
            "the vulnerability database is stale: its newest record is from {} ({} days ago), more than --max-db-age allows ({} days); fetch fresh data (pare db fetch)",
            pare_oci::image::rfc3339(newest),
            age / 86_400,
            max / 86_400
        )));
    }
    Ok(())
}

/// What one package is looked up as: ecosystem, name, version, order.
struct Target {
    ecosystem: String,
    name: String,
    version: String,
    order: Order,
}

/// The ecosystems a package is known under in vulnerability data.
fn targets(package: &Package, inventory: &Inventory) -> Vec<Target> {
    let os = inventory.os.as_ref();
    let mut out = Vec::new();
    let mut push = |ecosystem: String, name: &str, version: &str, order| {
        out.push(Target {
            ecosystem,
            name: normalized_name(order, name),
            version: version.to_string(),
            order,
        })
    };
    match package.manager {
        "dpkg" => {
            let name = package.source.as_deref().unwrap_or(&package.name);
            let version = package
                .source_version
                .as_deref()
                .unwrap_or(&package.version);
            if os.and_then(|o| o.id.as_deref()) == Some("debian") {
                if let Some(major) = os
                    .and_then(|o| o.version_id.as_deref())
                    .and_then(|v| v.split('.').next())
                {
                    push(format!("Debian:{major}"), name, version, Order::Dpkg);
                }
                if let Some(codename) = os.and_then(|o| o.version_codename.as_deref()) {
                    push(
                        format!("Debian-tracker:{codename}"),
                        name,
                        version,
                        Order::Dpkg,
                    );
                }
            }
        }
        "apk" => {
            let name = package.source.as_deref().unwrap_or(&package.name);
            if let Some(branch) = os.and_then(|o| o.version_id.as_deref()).map(|v| {
                let mut parts = v.split('.');
                format!(
                    "v{}.{}",
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default()
                )
            }) {
                push(
                    format!("Alpine:{branch}"),
                    name,
                    &package.version,
                    Order::Apk,
                );
            }
        }
        "go" => {
            if package.name == "stdlib" {
                if let Some(v) = package.version.strip_prefix("go") {
                    // `go1.22.1 X:boringcrypto` and the like: the version is the first word.
                    let v = v.split_whitespace().next().unwrap_or(v);
                    push("Go".into(), "stdlib", v, Order::Semver);
                }
            } else if package.version.starts_with('v') {
                push("Go".into(), &package.name, &package.version, Order::Semver);
            }
        }
        "cargo" => push(
            "crates.io".into(),
            &package.name,
            &package.version,
            Order::Semver,
        ),
        "python" => push(
            "PyPI".into(),
            &package.name,
            &package.version,
            Order::Pep440,
        ),
        "npm" => push("npm".into(), &package.name, &package.version, Order::Semver),
        // OSV names Maven artifacts `group:artifact`; the group is in the purl.
        "maven" => {
            if let Some(group) = package
                .purl
                .strip_prefix("pkg:maven/")
                .and_then(|rest| rest.split('/').next())
            {
                let name = format!("{group}:{}", package.name);
                push("Maven".into(), &name, &package.version, Order::Maven);
            }
        }
        _ => {}
    }
    out
}

/// PyPI names compare as PEP 503 normalizes them; other ecosystems' names exactly.
fn normalized_name(order: Order, name: &str) -> String {
    if order == Order::Pep440 {
        let mut out = String::with_capacity(name.len());
        let mut dash = false;
        for c in name.chars() {
            if matches!(c, '-' | '_' | '.') {
                dash = true;
            } else {
                if dash && !out.is_empty() {
                    out.push('-');
                }
                dash = false;
                out.push(c.to_ascii_lowercase());
            }
        }
        out
    } else {
        name.to_string()
    }
}

/// The order a record's ecosystem uses, from its name.
fn ecosystem_order(ecosystem: &str) -> Option<Order> {
    let base = ecosystem.split(':').next().unwrap_or(ecosystem);
    Some(match base {
        "Debian" | "Debian-tracker" => Order::Dpkg,
        "Alpine" => Order::Apk,
        "Go" | "crates.io" | "npm" => Order::Semver,
        "PyPI" => Order::Pep440,
        "Maven" => Order::Maven,
        _ => return None,
    })
}

/// A package's version falling in an affected entry: the range as text and the fix above it.
struct Hit {
    range: String,
    fixed: Option<String>,
}

/// Whether `version` is affected, by OSV's evaluation: listed versions, or a range whose events
/// (sorted in the ecosystem's order) leave it affected: at or past an `introduced`, below the
/// next `fixed`, not past a `last_affected`.
fn evaluate(affected: &Affected, version: &str, order: Order) -> Option<Hit> {
    if affected.versions.iter().any(|v| v == version) {
        return Some(Hit {
            range: format!("listed version {version}"),
            fixed: None,
        });
    }
    let cmp = |a: &str, b: &str| -> Option<Ordering> {
        if a == "0" && b == "0" {
            return Some(Ordering::Equal);
        }
        if a == "0" {
            return Some(Ordering::Less);
        }
        if b == "0" {
            return Some(Ordering::Greater);
        }
        order.compare(a, b)
    };
    for range in &affected.ranges {
        let version_of = |e: &Event| match e {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) => v.clone(),
        };
        let mut events = range.events.clone();
        // Events that do not parse in this ecosystem leave the range unreadable: skip it.
        if events
            .iter()
            .any(|e| cmp(&version_of(e), &version_of(e)).is_none())
        {
            continue;
        }
        events.sort_by(|a, b| cmp(&version_of(a), &version_of(b)).unwrap_or(Ordering::Equal));
        let mut is_affected = false;
        for event in &events {
            match event {
                Event::Introduced(v) if cmp(version, v)? != Ordering::Less => is_affected = true,
                Event::Fixed(v) if cmp(version, v)? != Ordering::Less => is_affected = false,
                Event::LastAffected(v) if cmp(version, v)? == Ordering::Greater => {
                    is_affected = false
                }
                _ => {}
            }
        }
        if is_affected {
            let fixed = events.iter().find_map(|e| match e {
                Event::Fixed(v) if cmp(version, v) == Some(Ordering::Less) => Some(v.clone()),
                _ => None,
            });
            let text = events
                .iter()
                .map(|e| match e {
                    Event::Introduced(v) => format!("introduced {v}"),
                    Event::Fixed(v) => format!("fixed {v}"),
                    Event::LastAffected(v) => format!("last affected {v}"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            return Some(Hit { range: text, fixed });
        }
    }
    None
}

/// The id two records of one issue share: the CVE among the id and aliases, else the id.
fn canonical_id(advisory: &Advisory) -> &str {
    if advisory.id.starts_with("CVE-") {
        return &advisory.id;
    }
    advisory
        .aliases
        .iter()
        .find(|a| a.starts_with("CVE-"))
        .map_or(&advisory.id, String::as_str)
}

/// Matches every package of the inventory against the database; the report keeps the inventory
/// (for VEX) and `name`, the image's name in documents.
pub fn match_inventory(
    inventory: Inventory,
    name: String,
    database: &Database,
    ignores: &[IgnoreRule],
    options: &ScanOptions,
) -> ScanReport {
    let mut index: HashMap<(&str, String), Vec<(usize, usize)>> = HashMap::new();
    for (a, advisory) in database.advisories.iter().enumerate() {
        for (f, affected) in advisory.affected.iter().enumerate() {
            let Some(order) = ecosystem_order(&affected.ecosystem) else {
                continue;
            };
            index
                .entry((
                    affected.ecosystem.as_str(),
                    normalized_name(order, &affected.name),
                ))
                .or_default()
                .push((a, f));
        }
    }
    // (package index, canonical id) -> the match so far.
    let mut found: BTreeMap<(usize, String), Vulnerability> = BTreeMap::new();
    for (p, package) in inventory.packages.iter().enumerate() {
        for target in targets(package, &inventory) {
            let Some(candidates) = index.get(&(target.ecosystem.as_str(), target.name.clone()))
            else {
                continue;
            };
            for &(a, f) in candidates {
                let advisory = &database.advisories[a];
                let affected = &advisory.affected[f];
                let Some(hit) = evaluate(affected, &target.version, target.order) else {
                    continue;
                };
                let tracker = target.ecosystem.starts_with("Debian-tracker:");
                let severity = if tracker {
                    affected
                        .severity_text
                        .as_deref()
                        .map_or(VulnSeverity::Unknown, VulnSeverity::from_word)
                } else if let Some((_, score)) = &advisory.cvss {
                    VulnSeverity::from_score(*score)
                } else {
                    affected
                        .severity_text
                        .as_deref()
                        .or(advisory.severity_text.as_deref())
                        .map_or(VulnSeverity::Unknown, VulnSeverity::from_word)
                };
                let source_note = if package.manager == "dpkg"
                    && (target.name != package.name || target.version != package.version)
                {
                    format!(
                        " (binary package {} {} is built from it)",
                        package.name, package.version
                    )
                } else {
                    String::new()
                };
                let why = match &hit.fixed {
                    Some(fixed) => format!(
                        "{} {} {} is below the fixed version {fixed} in {} ({}){source_note}",
                        target.ecosystem, target.name, target.version, advisory.id, hit.range
                    ),
                    None => format!(
                        "{} {} {} is affected by {} with no fixed version ({}){source_note}",
                        target.ecosystem, target.name, target.version, advisory.id, hit.range
                    ),
                };
                let key = (p, canonical_id(advisory).to_string());
                let candidate = Vulnerability {
                    id: key.1.clone(),
                    aliases: std::iter::once(advisory.id.clone())
                        .chain(advisory.aliases.iter().cloned())
                        .filter(|x| *x != key.1)
                        .collect(),
                    severity,
                    cvss_score: advisory.cvss.as_ref().map(|c| c.1),
                    cvss_vector: advisory.cvss.as_ref().map(|c| c.0.clone()),
                    package: package.name.clone(),
                    version: package.version.clone(),
                    purl: package.purl.clone(),
                    ecosystem: target.ecosystem.clone(),
                    matched_name: target.name.clone(),
                    matched_version: target.version.clone(),
                    fixed_in: hit.fixed,
                    summary: advisory.summary.clone(),
                    records: vec![advisory.source.clone()],
                    range: hit.range,
                    why,
                    location: package.location.clone(),
                    layer: package.layer,
                    files: package.paths.iter().take(20).cloned().collect(),
                    bom_ref: crate::sbom::package_id(package),
                };
                match found.get_mut(&key) {
                    None => {
                        found.insert(key, candidate);
                    }
                    Some(existing) => merge(existing, candidate, tracker),
                }
            }
        }
    }
    let mut vulnerabilities: Vec<Vulnerability> = found.into_values().collect();
    let mut ignored = Vec::new();
    let expired_ignores: Vec<IgnoreEntry> = ignores
        .iter()
        .filter(|r| r.expires_at.is_some_and(|t| t <= options.now))
        .map(|r| r.entry.clone())
        .collect();
    vulnerabilities.retain(|v| {
        let hit = ignores.iter().find(|r| {
            r.expires_at.is_none_or(|t| t > options.now)
                && (r.entry.id == v.id || v.aliases.contains(&r.entry.id))
                && r.entry.package.as_ref().is_none_or(|p| *p == v.package)
        });
        match hit {
            Some(rule) => {
                ignored.push((v.clone(), rule.entry.clone()));
                false
            }
            None => true,
        }
    });
    let before = vulnerabilities.len();
    if options.only_fixed {
        vulnerabilities.retain(|v| v.fixed_in.is_some());
    }
    let unfixed_left_out = before - vulnerabilities.len();
    vulnerabilities.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut counts = BTreeMap::new();
    for v in &vulnerabilities {
        *counts.entry(v.severity.name()).or_default() += 1;
    }
    ScanReport {
        image: inventory.image.clone(),
        manifest_digest: inventory.manifest_digest.clone(),
        os: inventory
            .os
            .as_ref()
            .and_then(|o| o.pretty_name.clone().or_else(|| o.id.clone())),
        database: database_info(database),
        packages: inventory.packages.len(),
        vulnerabilities,
        counts,
        ignored,
        expired_ignores,
        unfixed_left_out,
        support: support_notes(&inventory, database, options.now),
        inventory,
        name,
    }
}

/// Two records of one issue on one package become one match: the Debian tracker's urgency wins
/// for Debian packages (it is Debian's own assessment), else the worse severity; the lower fix;
/// every id and record kept.
fn merge(existing: &mut Vulnerability, other: Vulnerability, other_is_tracker: bool) {
    let existing_is_tracker = existing.ecosystem.starts_with("Debian-tracker:");
    if (other_is_tracker && !existing_is_tracker)
        || (other_is_tracker == existing_is_tracker && other.severity > existing.severity)
    {
        existing.severity = other.severity;
    }
    if existing.cvss_score.is_none() {
        existing.cvss_score = other.cvss_score;
        existing.cvss_vector = other.cvss_vector.clone();
    }
    if existing.fixed_in.is_none() {
        existing.fixed_in = other.fixed_in.clone();
    }
    if existing.summary.is_empty() {
        existing.summary = other.summary.clone();
    }
    for alias in other.aliases.into_iter() {
        if alias != existing.id && !existing.aliases.contains(&alias) {
            existing.aliases.push(alias);
        }
    }
    for record in other.records {
        if !existing.records.contains(&record) {
            existing.records.push(record);
        }
    }
}

/// One `[[ignore]]` entry, with its expiry as a time.
#[derive(Clone, Debug)]
pub struct IgnoreRule {
    pub entry: IgnoreEntry,
    /// Seconds since the epoch from which it stops hiding.
    pub expires_at: Option<u64>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreFile {
    #[serde(default)]
    ignore: Vec<IgnoreToml>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreToml {
    id: String,
    #[serde(default)]
    package: Option<String>,
    reason: String,
    #[serde(default)]
    expires: Option<String>,
}

/// Reads an ignore file: `[[ignore]]` tables with `id`, `reason`, and optionally `package` and
/// `expires` (`2027-01-31`: hides until the end of that day, UTC).
pub fn read_ignores(path: &std::path::Path) -> Result<Vec<IgnoreRule>> {
    let text = std::fs::read_to_string(path).map_err(Error::io("read the ignore file", path))?;
    let file: IgnoreFile = toml::from_str(&text)
        .map_err(|e| Error::Input(format!("ignore file {}: {e}", path.display())))?;
    file.ignore
        .into_iter()
        .map(|entry| {
            if entry.reason.trim().is_empty() {
                return Err(Error::Input(format!(
                    "ignore file {}: the entry for {} gives no reason; say why it is safe to ignore",
                    path.display(),
                    entry.id
                )));
            }
            let expires_at = match &entry.expires {
                None => None,
                Some(date) => Some(
                    pare_oci::image::parse_rfc3339(&format!("{date}T00:00:00Z"))
                        .map(|start| start + 86_400)
                        .or_else(|| pare_oci::image::parse_rfc3339(date))
                        .ok_or_else(|| {
                            Error::Input(format!(
                                "ignore file {}: expires {date:?} for {} is not a date (YYYY-MM-DD)",
                                path.display(),
                                entry.id
                            ))
                        })?,
                ),
            };
            Ok(IgnoreRule {
                entry: IgnoreEntry {
                    id: entry.id,
                    package: entry.package,
                    reason: entry.reason,
                    expires: entry.expires,
                },
                expires_at,
            })
        })
        .collect()
}

/// `7d`, `12h`, `30m`, `2w`, or plain seconds, as seconds.
pub fn parse_age(text: &str) -> Result<u64> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| Error::Input(format!("{text:?} is not an age like 7d, 12h or 2w")))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(Error::Input(format!(
                "{text:?} is not an age like 7d, 12h or 2w"
            )))
        }
    };
    Ok(n.saturating_mul(factor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use db::Range;

    fn affected(ecosystem: &str, events: Vec<Event>) -> Affected {
        Affected {
            ecosystem: ecosystem.into(),
            name: "x".into(),
            ranges: vec![Range { events }],
            versions: Vec::new(),
            severity_text: None,
        }
    }

    #[test]
    fn ranges_are_evaluated_as_osv_says() {
        use Event::*;
        let a = affected(
            "Debian:12",
            vec![Introduced("0".into()), Fixed("3.0.15-1~deb12u1".into())],
        );
        let hit = evaluate(&a, "3.0.11-1~deb12u2", Order::Dpkg).unwrap();
        assert_eq!(hit.fixed.as_deref(), Some("3.0.15-1~deb12u1"));
        assert!(evaluate(&a, "3.0.15-1~deb12u1", Order::Dpkg).is_none());
        assert!(evaluate(&a, "3.0.15-1", Order::Dpkg).is_none());
        // Two introduced/fixed pairs: between them is safe.
        let b = affected(
            "Go",
            vec![
                Introduced("0".into()),
                Fixed("1.20.5".into()),
                Introduced("1.21.0".into()),
                Fixed("1.21.2".into()),
            ],
        );
        assert!(evaluate(&b, "1.20.4", Order::Semver).is_some());
        assert!(evaluate(&b, "1.20.9", Order::Semver).is_none());
        assert_eq!(
            evaluate(&b, "1.21.1", Order::Semver)
                .unwrap()
                .fixed
                .as_deref(),
            Some("1.21.2")
        );
        let c = affected(
            "PyPI",
            vec![Introduced("1.0".into()), LastAffected("1.4".into())],
        );
        assert!(evaluate(&c, "1.4", Order::Pep440).is_some());
        assert!(evaluate(&c, "1.4.post1", Order::Pep440).is_none());
        assert!(evaluate(&c, "0.9", Order::Pep440).is_none());
        let maven = affected(
            "Maven",
            vec![Introduced("2.0.0".into()), Fixed("2.13.4.2".into())],
        );
        assert!(evaluate(&maven, "2.13.4", Order::Maven).is_some());
        assert!(evaluate(&maven, "2.13.4.2", Order::Maven).is_none());
        assert!(evaluate(&maven, "2.0.0-rc1", Order::Maven).is_none());
        let unfixed = affected("Debian-tracker:bookworm", vec![Introduced("0".into())]);
        assert!(evaluate(&unfixed, "1:2.0-1", Order::Dpkg)
            .unwrap()
            .fixed
            .is_none());
    }

    #[test]
    fn severities_come_from_scores_and_words() {
        assert_eq!(VulnSeverity::from_score(9.8), VulnSeverity::Critical);
        assert_eq!(VulnSeverity::from_score(4.0), VulnSeverity::Medium);
        assert_eq!(VulnSeverity::from_word("low**"), VulnSeverity::Low);
        assert_eq!(
            VulnSeverity::from_word("unimportant"),
            VulnSeverity::Negligible
        );
        assert_eq!(VulnSeverity::from_word("MODERATE"), VulnSeverity::Medium);
        assert_eq!(
            VulnSeverity::from_word("not yet assigned"),
            VulnSeverity::Unknown
        );
        assert_eq!(parse_age("7d").unwrap(), 7 * 86_400);
        assert!(parse_age("7 days").is_err());
        assert_eq!(
            normalized_name(Order::Pep440, "Flask__Cors.x"),
            "flask-cors-x"
        );
    }
}
