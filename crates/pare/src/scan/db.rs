//! The vulnerability data `pare scan --db` reads, in formats that exist: OSV records (a directory of
//! `*.json` files, JSON arrays of records, or the per-ecosystem `all.zip` archives osv.dev publishes)
//! and the Debian security tracker's JSON (`tracker/data/json`: source package -> issue -> release),
//! and debian-security-support's lists of packages whose security support ended or is limited.
//! Everything is read into one model of advisories (id, aliases, summary, severity, affected
//! package ranges), with a digest of the inputs and the newest `modified` time. Bounded: file and
//! member sizes are capped, a zip bomb or malformed JSON is an error naming the file. Not here:
//! matching packages against it (`super`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// Largest database file read (the Debian tracker's JSON is about 80 MB).
const MAX_FILE: u64 = 1 << 30;
/// Largest OSV record inside an archive.
const MAX_MEMBER: u64 = 32 << 20;
/// Most members an archive may have.
const MAX_MEMBERS: usize = 2_000_000;

/// One advisory, from any source.
#[derive(Clone, Debug)]
pub struct Advisory {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: String,
    /// RFC 3339, as the record says.
    pub modified: Option<String>,
    /// Where it was read: the file (relative to its `--db` path) and, in an archive, the member.
    pub source: String,
    /// CVSS v3 vector and score, when the record carries one.
    pub cvss: Option<(String, f64)>,
    /// The record's own word for the severity (`HIGH`, `MODERATE`, a Debian urgency).
    pub severity_text: Option<String>,
    pub affected: Vec<Affected>,
}

/// A package an advisory names, and which of its versions it affects.
#[derive(Clone, Debug)]
pub struct Affected {
    /// OSV's ecosystem (`Debian:12`, `Alpine:v3.19`, `Go`, `crates.io`, `PyPI`, `npm`, `Maven`), or
    /// `Debian-tracker:<codename>` for the tracker's per-release data.
    pub ecosystem: String,
    pub name: String,
    pub ranges: Vec<Range>,
    /// Versions listed one by one.
    pub versions: Vec<String>,
    /// A per-package severity word (the tracker's urgency, OSV's `ecosystem_specific.severity`).
    pub severity_text: Option<String>,
}

/// An OSV range: events in the ecosystem's version order (`SEMVER` or `ECOSYSTEM`; `GIT` ranges name
/// commits, which installed packages do not have, and are dropped).
#[derive(Clone, Debug)]
pub struct Range {
    pub events: Vec<Event>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
}

/// The database as read.
#[derive(Debug, Default)]
pub struct Database {
    pub advisories: Vec<Advisory>,
    /// `sha256:` of the sorted (path, content digest) list of every file read.
    pub digest: String,
    /// The newest `modified` of any record.
    pub newest_modified: Option<String>,
    /// What each input gave.
    pub sources: Vec<SourceSummary>,
    /// debian-security-support's lists (`security-support-ended.debN`, `security-support-limited`).
    pub support: Vec<SupportEntry>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct SourceSummary {
    pub path: String,
    /// `osv`, `osv-zip`, `debian-tracker`, `debian-security-support`, or `skipped` (JSON that is
    /// neither: an index file).
    pub kind: &'static str,
    pub records: usize,
    pub digest: String,
}

/// Reads every database path (files or directories, recursively).
pub fn load(paths: &[PathBuf]) -> Result<Database> {
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for root in paths {
        let meta = std::fs::metadata(root).map_err(Error::io("read the database", root))?;
        if meta.is_dir() {
            for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
                let entry = entry.map_err(|e| {
                    Error::Input(format!("read the database {}: {e}", root.display()))
                })?;
                let path = entry.path();
                if entry.file_type().is_file() && is_database_file(path) {
                    let relative = path.strip_prefix(root).unwrap_or(path);
                    files.push((path.to_path_buf(), relative.display().to_string()));
                }
            }
        } else {
            let name = root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((root.clone(), name));
        }
    }
    if files.is_empty() {
        return Err(Error::Input(format!(
            "no vulnerability data (*.json OSV records or tracker JSON, *.zip OSV archives) in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let read: Vec<(Content, SourceSummary)> = files
        .par_iter()
        .map(|(path, relative)| read_file(path, relative))
        .collect::<Result<_>>()?;
    let mut db = Database::default();
    let mut hasher = Sha256::new();
    let mut summaries: Vec<SourceSummary> = Vec::new();
    for (content, summary) in read {
        hasher.update(summary.path.as_bytes());
        hasher.update([0]);
        hasher.update(summary.digest.as_bytes());
        hasher.update([b'\n']);
        match content {
            Content::Advisories(advisories) => db.advisories.extend(advisories),
            Content::Support(entries) => db.support.extend(entries),
        }
        summaries.push(summary);
    }
    db.digest = format!("sha256:{:x}", hasher.finalize());
    db.newest_modified = db
        .advisories
        .iter()
        .filter_map(|a| a.modified.as_deref())
        .max_by_key(|m| pare_oci::image::parse_rfc3339(m).unwrap_or(0))
        .map(str::to_string);
    db.sources = summaries;
    Ok(db)
}

fn is_database_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("zip"))
        || support_list(path).is_some()
}

/// Which of debian-security-support's lists a file is, by its name: `security-support-ended.deb12`
/// (support ended for release 12) or `security-support-limited`.
fn support_list(path: &Path) -> Option<SupportList> {
    let name = path.file_name()?.to_str()?;
    if name == "security-support-limited" {
        return Some(SupportList::Limited);
    }
    let release = name.strip_prefix("security-support-ended.deb")?;
    release.parse().ok().map(SupportList::Ended)
}

/// One of debian-security-support's lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SupportList {
    /// Support ended (or ends) before the release's end of life, for Debian release N.
    Ended(u32),
    /// Supported only in limited ways, in every release.
    Limited,
}

/// One line of those lists: a source package name (or a regular-expression-like `name.*` prefix),
/// for `Ended` the last version with support and the date, and the details.
#[derive(Clone, Debug)]
pub struct SupportEntry {
    pub list: SupportList,
    pub source: String,
    pub last_version: Option<String>,
    pub date: Option<String>,
    pub details: String,
}

impl SupportEntry {
    /// Whether the entry names this source package (`golang.*` names every golang-… source).
    pub fn names(&self, source: &str) -> bool {
        match self.source.strip_suffix(".*") {
            Some(prefix) => source.starts_with(prefix),
            None => self.source == source,
        }
    }
}

/// Parses a debian-security-support list: `#` comments, columns separated by whitespace.
fn support_entries(text: &str, list: SupportList) -> Vec<SupportEntry> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut rest = line;
            let mut column = || {
                let word = rest.split_whitespace().next()?;
                let start = rest.find(word)? + word.len();
                let found = word.to_string();
                rest = rest[start..].trim_start();
                Some(found)
            };
            let source = column()?;
            match list {
                SupportList::Limited => Some(SupportEntry {
                    list,
                    source,
                    last_version: None,
                    date: None,
                    details: rest.to_string(),
                }),
                SupportList::Ended(_) => {
                    let last_version = column()?;
                    let date = column()?;
                    Some(SupportEntry {
                        list,
                        source,
                        last_version: Some(last_version),
                        date: Some(date),
                        details: rest.to_string(),
                    })
                }
            }
        })
        .collect()
}

fn read_file(path: &Path, relative: &str) -> Result<(Content, SourceSummary)> {
    let meta = std::fs::metadata(path).map_err(Error::io("read the database file", path))?;
    if meta.len() > MAX_FILE {
        return Err(Error::Input(format!(
            "database file {} is {} bytes, more than the {MAX_FILE} pare reads",
            path.display(),
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(Error::io("read the database file", path))?;
    read_bytes(&bytes, path, relative)
}

/// Reads a database file's bytes; `path` tells a support list by its name and names the file in
/// errors.
fn read_bytes(bytes: &[u8], path: &Path, relative: &str) -> Result<(Content, SourceSummary)> {
    let digest = format!("sha256:{:x}", Sha256::digest(bytes));
    if let Some(list) = support_list(path) {
        let entries = support_entries(&String::from_utf8_lossy(bytes), list);
        let summary = SourceSummary {
            path: relative.to_string(),
            kind: "debian-security-support",
            records: entries.len(),
            digest,
        };
        return Ok((Content::Support(entries), summary));
    }
    let is_zip = bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06");
    let (kind, advisories) = if is_zip {
        ("osv-zip", read_zip(bytes, path, relative)?)
    } else {
        read_json(bytes, path, relative)?
    };
    let summary = SourceSummary {
        path: relative.to_string(),
        kind,
        records: advisories.len(),
        digest,
    };
    Ok((Content::Advisories(advisories), summary))
}

/// What one database file holds.
enum Content {
    Advisories(Vec<Advisory>),
    Support(Vec<SupportEntry>),
}

fn read_zip(bytes: &[u8], path: &Path, relative: &str) -> Result<Vec<Advisory>> {
    let bad = |why: String| Error::Input(format!("OSV archive {}: {why}", path.display()));
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    if archive.len() > MAX_MEMBERS {
        return Err(bad(format!(
            "{} members, more than the {MAX_MEMBERS} pare reads",
            archive.len()
        )));
    }
    let mut members: Vec<(String, Vec<u8>)> = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let mut member = archive.by_index(index).map_err(|e| bad(e.to_string()))?;
        let name = member
            .name()
            .map_err(|e| bad(format!("member {index} has an unreadable name: {e}")))?
            .to_string();
        if !member.is_file() || !name.ends_with(".json") {
            continue;
        }
        if member.size() > MAX_MEMBER {
            return Err(bad(format!(
                "member {name} expands to {} bytes, more than the {MAX_MEMBER} pare reads",
                member.size()
            )));
        }
        let mut body = Vec::with_capacity(member.size() as usize);
        // The declared size can lie: read at most one byte more than the cap allows.
        (&mut member)
            .take(MAX_MEMBER + 1)
            .read_to_end(&mut body)
            .map_err(|e| bad(format!("member {name}: {e}")))?;
        if body.len() as u64 > MAX_MEMBER {
            return Err(bad(format!(
                "member {name} expands past {MAX_MEMBER} bytes (a zip bomb?)"
            )));
        }
        members.push((name, body));
    }
    members
        .par_iter()
        .map(|(name, body)| {
            let record: OsvRecord = serde_json::from_slice(body)
                .map_err(|e| bad(format!("member {name} is not an OSV record: {e}")))?;
            Ok(osv_advisory(record, format!("{relative}!{name}")))
        })
        .collect::<Result<Vec<Option<Advisory>>>>()
        .map(|v| v.into_iter().flatten().collect())
}

fn read_json(bytes: &[u8], path: &Path, relative: &str) -> Result<(&'static str, Vec<Advisory>)> {
    let bad = |why: String| Error::Input(format!("database file {}: {why}", path.display()));
    let first = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied()
        .ok_or_else(|| bad("it is empty".into()))?;
    if first == b'[' {
        let items: Vec<serde_json::Value> =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        if !items
            .iter()
            .all(|i| i.get("id").is_some_and(|v| v.is_string()))
        {
            return Ok(("skipped", Vec::new()));
        }
        let records: Vec<OsvRecord> = items
            .into_iter()
            .map(serde_json::from_value)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(format!("not a JSON array of OSV records: {e}")))?;
        return Ok((
            "osv",
            records
                .into_iter()
                .enumerate()
                .filter_map(|(i, r)| osv_advisory(r, format!("{relative}[{i}]")))
                .collect(),
        ));
    }
    // An OSV record has an `id`; the tracker's document is keyed by source package. Nearly every
    // file of a directory of records is one record: read it as one straight away, and only when
    // that fails look at what else the JSON is (the answer is then the one below).
    if let Ok(record) = serde_json::from_slice::<OsvRecord>(bytes) {
        return Ok((
            "osv",
            osv_advisory(record, relative.to_string())
                .into_iter()
                .collect(),
        ));
    }
    let probe: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    if probe.get("id").is_some_and(|v| v.is_string()) {
        let record: OsvRecord = serde_json::from_value(serde_json::Value::Object(probe))
            .map_err(|e| bad(format!("not an OSV record: {e}")))?;
        return Ok((
            "osv",
            osv_advisory(record, relative.to_string())
                .into_iter()
                .collect(),
        ));
    }
    // Any other JSON (an index or alias map beside the records, as Go's vulndb layout has) is
    // listed as skipped rather than failing the scan; JSON that does not parse did fail above.
    let looks_like_tracker = probe.values().next().is_some_and(|v| {
        v.as_object()
            .is_some_and(|o| o.values().all(|i| i.get("releases").is_some()))
    });
    if !looks_like_tracker {
        return Ok(("skipped", Vec::new()));
    }
    let tracker: BTreeMap<String, BTreeMap<String, TrackerIssue>> =
        serde_json::from_value(serde_json::Value::Object(probe))
            .map_err(|e| bad(format!("not the Debian security tracker's JSON: {e}")))?;
    Ok(("debian-tracker", tracker_advisories(tracker, relative)))
}

#[derive(Deserialize)]
struct OsvRecord {
    id: String,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    upstream: Vec<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    severity: Vec<OsvSeverity>,
    #[serde(default)]
    affected: Vec<OsvAffected>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OsvSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct OsvAffected {
    #[serde(default)]
    package: Option<OsvPackage>,
    #[serde(default)]
    ranges: Vec<OsvRange>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    severity: Vec<OsvSeverity>,
    #[serde(default)]
    ecosystem_specific: Option<serde_json::Value>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OsvPackage {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct OsvRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<BTreeMap<String, String>>,
}

/// The advisory of an OSV record; None for a withdrawn one.
fn osv_advisory(record: OsvRecord, source: String) -> Option<Advisory> {
    if record.withdrawn.is_some() {
        return None;
    }
    let cvss = |list: &[OsvSeverity]| {
        list.iter()
            .filter(|s| s.kind == "CVSS_V3")
            .find_map(|s| Some((s.score.clone(), super::cvss::base_score(&s.score)?)))
    };
    let word = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .and_then(|v| v.get("severity").or_else(|| v.get("urgency")))
            .and_then(|s| s.as_str())
            .map(str::to_string)
    };
    let affected = record
        .affected
        .iter()
        .filter_map(|a| {
            let package = a.package.as_ref()?;
            let ranges = a
                .ranges
                .iter()
                .filter(|r| r.kind == "SEMVER" || r.kind == "ECOSYSTEM")
                .map(|r| Range {
                    events: r
                        .events
                        .iter()
                        .filter_map(|e| {
                            let (kind, version) = e.iter().next()?;
                            Some(match kind.as_str() {
                                "introduced" => Event::Introduced(version.clone()),
                                "fixed" => Event::Fixed(version.clone()),
                                "last_affected" => Event::LastAffected(version.clone()),
                                _ => return None,
                            })
                        })
                        .collect(),
                })
                .collect();
            Some(Affected {
                ecosystem: package.ecosystem.clone(),
                name: package.name.clone(),
                ranges,
                versions: a.versions.clone(),
                severity_text: word(&a.ecosystem_specific).or_else(|| word(&a.database_specific)),
            })
        })
        .collect();
    let own_cvss =
        cvss(&record.severity).or_else(|| record.affected.iter().find_map(|a| cvss(&a.severity)));
    let mut aliases = record.aliases;
    for upstream in record.upstream {
        if !aliases.contains(&upstream) {
            aliases.push(upstream);
        }
    }
    Some(Advisory {
        summary: record
            .summary
            .filter(|s| !s.trim().is_empty())
            .or_else(|| record.details.map(|d| first_line(&d)))
            .unwrap_or_default(),
        id: record.id,
        aliases,
        modified: record.modified,
        source,
        cvss: own_cvss,
        severity_text: word(&record.database_specific),
        affected,
    })
}

#[derive(Deserialize)]
struct TrackerIssue {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    releases: BTreeMap<String, TrackerRelease>,
}

#[derive(Deserialize)]
struct TrackerRelease {
    #[serde(default)]
    status: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
}

/// The tracker's issues as advisories: per source package and release, affected from the start up
/// to `fixed_version` (resolved), or with no fix (open, undetermined); `fixed_version` "0" means the
/// release was never affected, and gives no range at all.
fn tracker_advisories(
    tracker: BTreeMap<String, BTreeMap<String, TrackerIssue>>,
    relative: &str,
) -> Vec<Advisory> {
    let mut out = Vec::new();
    for (source, issues) in tracker {
        for (id, issue) in issues {
            let affected: Vec<Affected> = issue
                .releases
                .iter()
                .filter_map(|(release, state)| {
                    let fixed = state.fixed_version.as_deref().map(str::trim);
                    let events = match (state.status.as_str(), fixed) {
                        (_, Some("0")) => return None,
                        ("resolved", Some(v)) if !v.is_empty() => {
                            vec![Event::Introduced("0".into()), Event::Fixed(v.to_string())]
                        }
                        ("resolved", _) => return None,
                        ("open" | "undetermined", _) => vec![Event::Introduced("0".into())],
                        _ => return None,
                    };
                    Some(Affected {
                        ecosystem: format!("Debian-tracker:{release}"),
                        name: source.clone(),
                        ranges: vec![Range { events }],
                        versions: Vec::new(),
                        severity_text: state.urgency.clone(),
                    })
                })
                .collect();
            if affected.is_empty() {
                continue;
            }
            out.push(Advisory {
                summary: issue
                    .description
                    .as_deref()
                    .map(first_line)
                    .unwrap_or_default(),
                id,
                aliases: Vec::new(),
                modified: None,
                source: format!("{relative}#{source}"),
                cvss: None,
                severity_text: None,
                affected,
            });
        }
    }
    out
}

fn first_line(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or_default().trim();
    if line.chars().count() > 200 {
        format!("{}...", line.chars().take(200).collect::<String>())
    } else {
        line.to_string()
    }
}

/// One download of `pare db fetch`: a URL and the file name it is kept under.
#[derive(Clone, Debug)]
pub struct FetchSource {
    pub url: String,
    pub name: String,
}

impl FetchSource {
    /// `URL` or `NAME=URL`; without a name, the URL's last path segment (`Debian/all.zip` becomes
    /// `Debian-all.zip`, and a name with neither `.json` nor `.zip` gets `.json`).
    pub fn parse(text: &str) -> Result<Self> {
        let (name, url) = match text.split_once('=') {
            Some((name, url)) if !name.contains([':', '/']) && !name.is_empty() => {
                (Some(name.to_string()), url.to_string())
            }
            _ => (None, text.to_string()),
        };
        let path = url
            .split_once("://")
            .map(|(_, rest)| rest.split_once('/').map_or("", |(_, p)| p))
            .ok_or_else(|| Error::Input(format!("{url:?} is not an http(s) or file URL")))?;
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let name = match name {
            Some(n) => n,
            None => {
                let last = segments.last().copied().ok_or_else(|| {
                    Error::Input(format!("{url:?} names no file; give one as NAME=URL"))
                })?;
                let mut n = if last == "all.zip" && segments.len() > 1 {
                    format!("{}-all.zip", segments[segments.len() - 2])
                } else {
                    last.to_string()
                };
                if !n.ends_with(".json")
                    && !n.ends_with(".zip")
                    && support_list(Path::new(&n)).is_none()
                {
                    n.push_str(".json");
                }
                n
            }
        };
        if name.contains('/') || name.starts_with('.') {
            return Err(Error::Input(format!(
                "{name:?} is not a plain file name for {url}"
            )));
        }
        Ok(FetchSource { url, name })
    }
}

/// What `pare db fetch` kept.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Fetched {
    pub url: String,
    pub file: String,
    pub sha256: String,
    pub size: u64,
    /// What the file was read as, and how many records it holds.
    pub kind: &'static str,
    pub records: usize,
}

/// Largest download.
const MAX_DOWNLOAD: u64 = 2 << 30;

/// Downloads each source into `dir`, reads it as the scan will (a download that is not vulnerability
/// data, an HTML error page say, is refused and leaves `dir` as it was), then renames it into place
/// and records URL, digest and record count in `dir/pare-db.toml`.
pub fn fetch(sources: &[FetchSource], dir: &Path) -> Result<Vec<Fetched>> {
    std::fs::create_dir_all(dir).map_err(Error::io("create the database directory", dir))?;
    let fetcher = pare_pkg::fetch::Fetcher::new();
    let mut staged = Vec::new();
    for source in sources {
        let bytes = fetcher
            .get_bytes(&source.url, MAX_DOWNLOAD)?
            .ok_or_else(|| Error::Input(format!("GET {}: not found (404)", source.url)))?;
        let mut temp = pare_oci::layout::temp_file_in(dir)?;
        std::io::Write::write_all(&mut temp, &bytes).map_err(Error::io("write", temp.path()))?;
        // Read it under its final name, so a support list is recognised as one.
        let (_, summary) =
            read_bytes(&bytes, Path::new(&source.name), &source.name).map_err(|e| {
                Error::Input(format!(
                    "{} is not vulnerability data pare can read: {e}",
                    source.url
                ))
            })?;
        if summary.kind == "skipped" {
            return Err(Error::Input(format!(
                "{} is JSON but neither OSV records nor the Debian security tracker's data",
                source.url
            )));
        }
        staged.push((
            temp,
            Fetched {
                url: source.url.clone(),
                file: source.name.clone(),
                sha256: summary.digest.trim_start_matches("sha256:").to_string(),
                size: bytes.len() as u64,
                kind: summary.kind,
                records: summary.records,
            },
        ));
    }
    let mut out = Vec::new();
    for (temp, fetched) in staged {
        let target = dir.join(&fetched.file);
        temp.persist(&target)
            .map_err(|e| Error::io("replace", &target)(e.error))?;
        out.push(fetched);
    }
    let mut manifest = String::from("# What `pare db fetch` downloaded here.\n");
    for f in &out {
        manifest.push_str(&format!(
            "\n[[fetched]]\nurl = {:?}\nfile = {:?}\nsha256 = {:?}\nsize = {}\nkind = {:?}\nrecords = {}\n",
            f.url, f.file, f.sha256, f.size, f.kind, f.records
        ));
    }
    pare_oci::layout::write_file_atomic(&dir.join("pare-db.toml"), manifest.as_bytes())?;
    Ok(out)
}
