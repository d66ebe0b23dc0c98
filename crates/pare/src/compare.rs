//! `pare compare A B [C…]`: several images side by side, one column each: sizes, layers (those shared
//! with another of the images marked), files, packages, the attack surface (shells, package
//! managers, network tools, setuid files: the paths of audit's findings of those rules, so the two
//! always agree), user, CA bundle and tzdata, findings by severity and by rule, vulnerabilities by
//! severity against one database, will-it-start, the estimated pull time at a bandwidth and the
//! measured time to decompress and unpack every layer on this machine; ratios against the first
//! image. Each image is audited once (`audit::audit_image`) and scanned from that same reading. Not
//! here: rendering (the CLI's text and markdown, `crate::html`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use pare_oci::read::{read_layer, FileKind, LayerEvent, ReadLimits};
use pare_oci::reference::ImageRef;
use serde::Serialize;

use crate::audit::{audit_image, has_ca_bundle, has_zoneinfo, AuditOptions, Audited};
use crate::findings::{self, Severity};
use crate::image_io::{Access, OpenedImage};
use crate::scan::{database_info, load_database, match_inventory, DatabaseInfo, ScanOptions};
use crate::units::human_bytes;
use crate::{Error, Reporter, Result};

/// What to compare and how.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// The images, the first being the one the others are measured against.
    pub images: Vec<ImageRef>,
    pub access: Access,
    /// The policy every image is audited under.
    pub policy: crate::policy::Policy,
    /// Scan every image against this database (`--db`).
    pub scan: Option<ScanOptions>,
    /// Bits per second the pull-time estimate assumes.
    pub bandwidth: u64,
    /// Decompress and unpack every layer here, and time it.
    pub measure_unpack: bool,
}

/// One layer of one image.
#[derive(Clone, Debug, Serialize)]
pub struct CompareLayer {
    pub digest: String,
    pub diff_id: String,
    /// Stored bytes.
    pub size: u64,
    pub uncompressed_size: u64,
    /// Bytes of regular files the layer ships (dive's layer size).
    pub file_bytes: u64,
    pub created_by: Option<String>,
    /// Another of the compared images has this layer too (same diff_id).
    pub shared: bool,
}

/// A number as a multiple of the first image's (None when the first has none).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Ratios {
    pub compressed_size: Option<f64>,
    pub uncompressed_size: Option<f64>,
    pub files: Option<f64>,
    pub packages: Option<f64>,
}

/// One image's column.
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    pub image: String,
    pub manifest_digest: String,
    pub os: Option<String>,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Bytes of regular files in the final tree.
    pub file_bytes: u64,
    /// Regular files in the final tree.
    pub files: usize,
    pub layers: Vec<CompareLayer>,
    /// Layers another of the images has too.
    pub shared_layers: usize,
    /// Installed packages of every ecosystem.
    pub packages: usize,
    pub shells: Vec<String>,
    pub package_managers: Vec<String>,
    pub network_tools: Vec<String>,
    pub build_tools: Vec<String>,
    pub setuid: Vec<String>,
    /// The config's User (empty: root).
    pub user: String,
    pub ca_bundle: bool,
    pub tzdata: bool,
    /// Findings by severity name (after the policy).
    pub findings: BTreeMap<&'static str, usize>,
    /// Findings by rule id.
    pub rules: BTreeMap<&'static str, usize>,
    /// Vulnerabilities by severity name, when a database was given.
    pub vulnerabilities: Option<BTreeMap<&'static str, usize>>,
    pub will_start: bool,
    /// Why it will not start (the reasons of audit's will-it-start findings).
    pub start_problems: Vec<String>,
    /// Stored bytes over the bandwidth: a cold pull, layers fetched one after the other.
    pub pull_seconds: f64,
    /// Measured: every layer decompressed and its files written to a scratch directory here.
    pub unpack_seconds: Option<f64>,
    /// Against the first image.
    pub ratios: Ratios,
    /// The audit's verdict under the policy.
    pub audit_passed: bool,
}

/// What `pare compare` found.
#[derive(Clone, Debug, Serialize)]
pub struct CompareReport {
    pub images: Vec<Column>,
    /// Bits per second of the pull estimate.
    pub bandwidth: u64,
    /// Distinct layers (by diff_id) that two or more of the images have.
    pub shared_layers: usize,
    /// The database the images were scanned against.
    pub database: Option<DatabaseInfo>,
}

/// Compares the images of `options`, reading one at a time (each image's tree is dropped once its
/// column is made).
pub fn compare(options: &CompareOptions, reporter: &dyn Reporter) -> Result<CompareReport> {
    if options.images.len() < 2 {
        return Err(Error::Input(
            "pare compare needs at least two images; `pare audit` explains one".into(),
        ));
    }
    if options.bandwidth == 0 {
        return Err(Error::Input("the bandwidth must be above 0 bit/s".into()));
    }
    let database = match &options.scan {
        Some(scan) => Some(load_database(scan, reporter)?),
        None => None,
    };
    let mut columns = Vec::new();
    for image in &options.images {
        let audit_options = AuditOptions {
            image: image.clone(),
            access: options.access.clone(),
            fail_on: None,
            policy: options.policy.clone(),
            base: None,
        };
        let audited = audit_image(&audit_options, reporter)?;
        let vulnerabilities = match (&database, &options.scan) {
            (Some((db, ignores)), Some(scan)) => {
                let report = match_inventory(
                    audited.inventory.clone(),
                    crate::sbom::default_name(image),
                    db,
                    ignores,
                    scan,
                );
                Some(report.counts)
            }
            _ => None,
        };
        let unpack_seconds = if options.measure_unpack {
            reporter.step(&format!("unpacking {image} to time it"));
            Some(time_unpack(&audited.opened)?)
        } else {
            None
        };
        columns.push(column(
            &audited,
            vulnerabilities,
            unpack_seconds,
            options.bandwidth,
        ));
    }
    let shared = mark_shared(&mut columns);
    let first = columns[0].clone();
    for c in &mut columns {
        c.ratios = Ratios {
            compressed_size: ratio(c.compressed_size, first.compressed_size),
            uncompressed_size: ratio(c.uncompressed_size, first.uncompressed_size),
            files: ratio(c.files as u64, first.files as u64),
            packages: ratio(c.packages as u64, first.packages as u64),
        };
    }
    let database = database.map(|(db, _)| database_info(&db));
    Ok(CompareReport {
        images: columns,
        bandwidth: options.bandwidth,
        shared_layers: shared,
        database,
    })
}

fn ratio(value: u64, first: u64) -> Option<f64> {
    (first > 0).then(|| value as f64 / first as f64)
}

/// Marks the layers two or more images have; returns how many distinct ones there are.
fn mark_shared(columns: &mut [Column]) -> usize {
    let mut seen: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (i, c) in columns.iter().enumerate() {
        for l in &c.layers {
            seen.entry(l.diff_id.clone()).or_default().insert(i);
        }
    }
    for c in columns.iter_mut() {
        for l in &mut c.layers {
            l.shared = seen.get(&l.diff_id).is_some_and(|images| images.len() > 1);
        }
        c.shared_layers = c.layers.iter().filter(|l| l.shared).count();
    }
    seen.values().filter(|images| images.len() > 1).count()
}

fn column(
    audited: &Audited,
    vulnerabilities: Option<BTreeMap<&'static str, usize>>,
    unpack_seconds: Option<f64>,
    bandwidth: u64,
) -> Column {
    let report = &audited.report;
    let contents = &audited.contents;
    let paths_of = |rule: &findings::Rule| -> Vec<String> {
        let set: BTreeSet<String> = report
            .findings
            .iter()
            .filter(|f| f.rule == rule.id)
            .filter_map(|f| f.path().map(str::to_string))
            .collect();
        set.into_iter().collect()
    };
    let mut by_severity: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut by_rule: BTreeMap<&'static str, usize> = BTreeMap::new();
    for f in &report.findings {
        *by_severity.entry(f.severity.name()).or_default() += 1;
        *by_rule.entry(f.rule).or_default() += 1;
    }
    let start_problems: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.rule == findings::WONT_START.id)
        .map(|f| f.reason.clone())
        .collect();
    Column {
        image: report.image.clone(),
        manifest_digest: report.manifest_digest.clone(),
        os: report.os.clone(),
        compressed_size: report.compressed_size,
        uncompressed_size: report.uncompressed_size,
        file_bytes: report.file_bytes,
        files: contents
            .files
            .values()
            .filter(|f| f.info.kind == FileKind::File)
            .count(),
        layers: report
            .layers
            .iter()
            .map(|l| CompareLayer {
                digest: l.info.digest.clone(),
                diff_id: l.info.diff_id.clone(),
                size: l.info.size,
                uncompressed_size: l.info.uncompressed_size,
                file_bytes: l.file_bytes,
                created_by: l.info.created_by.clone(),
                shared: false,
            })
            .collect(),
        shared_layers: 0,
        packages: report.packages.len(),
        shells: paths_of(&findings::SHELL),
        package_managers: paths_of(&findings::PACKAGE_MANAGER),
        network_tools: paths_of(&findings::NETWORK_TOOL),
        build_tools: paths_of(&findings::BUILD_TOOL),
        setuid: paths_of(&findings::SETUID),
        user: report.user.clone(),
        ca_bundle: has_ca_bundle(contents),
        tzdata: has_zoneinfo(contents),
        findings: by_severity,
        rules: by_rule,
        vulnerabilities,
        will_start: start_problems.is_empty(),
        start_problems,
        pull_seconds: report.compressed_size as f64 * 8.0 / bandwidth as f64,
        unpack_seconds,
        ratios: Ratios::default(),
        audit_passed: report.passed,
    }
}

/// Largest file body written whole by the unpack timing; the rest of a bigger file is written as
/// zeros (the same bytes reach the disk; the decompressor has produced them either way).
const UNPACK_SAMPLE: usize = 256 << 20;

/// Decompresses every layer of `image` and writes each regular file's bytes to a scratch directory,
/// timing it. Files get names pare makes up (a counter), never the layer's own: a hostile name
/// cannot reach outside the scratch directory. Directories, links and metadata are left out; they
/// cost little next to the bytes.
fn time_unpack(image: &OpenedImage) -> Result<f64> {
    let scratch = tempfile::Builder::new()
        .prefix("pare-unpack-")
        .tempdir()
        .map_err(|source| Error::Io {
            action: "create a scratch directory in",
            path: std::env::temp_dir(),
            source,
        })?;
    let documents = &image.documents;
    let started = Instant::now();
    let mut written = 0u64;
    for (descriptor, diff_id) in documents.manifest.layers().iter().zip(documents.diff_ids()) {
        let digest = descriptor.digest().to_string();
        let sample = |_: &str, size: u64, _: u32| {
            usize::try_from(size)
                .unwrap_or(usize::MAX)
                .min(UNPACK_SAMPLE)
        };
        read_layer(
            &image.layout,
            image.layer_blob(&digest, descriptor.size(), Some(diff_id)),
            ReadLimits::default(),
            &sample,
            |event| {
                let LayerEvent::Entry(info) = event else {
                    return Ok(());
                };
                if info.kind != FileKind::File {
                    return Ok(());
                }
                written += 1;
                let path = scratch.path().join(written.to_string());
                write_body(&path, &info.sample, info.size)
                    .map_err(pare_oci::Error::io("write", &path))
            },
        )?;
    }
    Ok(started.elapsed().as_secs_f64())
}

fn write_body(path: &std::path::Path, head: &[u8], size: u64) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(head)?;
    let mut left = size.saturating_sub(head.len() as u64);
    let zeros = [0u8; 64 * 1024];
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// The comparison as a table of text: one (label, one cell per image) row per measure, then one
/// row per rule any image has findings of. The CLI's text and markdown and the HTML all show it.
pub fn rows(report: &CompareReport) -> Vec<(String, Vec<String>)> {
    let images = &report.images;
    let each = |f: &dyn Fn(usize, &Column) -> String| -> Vec<String> {
        images.iter().enumerate().map(|(i, c)| f(i, c)).collect()
    };
    let with_ratio = |text: String, ratio: Option<f64>, i: usize| match ratio {
        Some(x) if i > 0 => format!("{text} ({})", ratio_text(x)),
        _ => text,
    };
    let paths = |list: &[String]| -> String {
        match list.len() {
            0 => "none".into(),
            n => {
                let shown: Vec<&str> = list.iter().take(3).map(String::as_str).collect();
                let more = if n > 3 {
                    format!(" +{}", n - 3)
                } else {
                    String::new()
                };
                format!("{n}: {}{more}", shown.join(" "))
            }
        }
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let by_severity = |counts: &BTreeMap<&'static str, usize>, order: &[&str]| -> String {
        let parts: Vec<String> = order
            .iter()
            .filter_map(|s| {
                counts
                    .get(s)
                    .filter(|n| **n > 0)
                    .map(|n| format!("{n} {s}"))
            })
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    };
    let mut rows = vec![
        (
            "digest".to_string(),
            each(&|_, c| short_digest(&c.manifest_digest)),
        ),
        (
            "os".to_string(),
            each(&|_, c| c.os.clone().unwrap_or_else(|| "none".into())),
        ),
        (
            "stored size".to_string(),
            each(&|i, c| with_ratio(human_bytes(c.compressed_size), c.ratios.compressed_size, i)),
        ),
        (
            "uncompressed size".to_string(),
            each(&|i, c| {
                with_ratio(
                    human_bytes(c.uncompressed_size),
                    c.ratios.uncompressed_size,
                    i,
                )
            }),
        ),
        (
            "layers".to_string(),
            each(&|_, c| match c.shared_layers {
                0 => c.layers.len().to_string(),
                n => format!("{} ({n} shared)", c.layers.len()),
            }),
        ),
        (
            "files".to_string(),
            each(&|i, c| with_ratio(c.files.to_string(), c.ratios.files, i)),
        ),
        (
            "packages".to_string(),
            each(&|i, c| with_ratio(c.packages.to_string(), c.ratios.packages, i)),
        ),
        ("shells".to_string(), each(&|_, c| paths(&c.shells))),
        (
            "package managers".to_string(),
            each(&|_, c| paths(&c.package_managers)),
        ),
        (
            "network tools".to_string(),
            each(&|_, c| paths(&c.network_tools)),
        ),
        (
            "build tools".to_string(),
            each(&|_, c| paths(&c.build_tools)),
        ),
        ("setuid files".to_string(), each(&|_, c| paths(&c.setuid))),
        (
            "user".to_string(),
            each(&|_, c| {
                if c.user.is_empty() {
                    "(unset: root)".into()
                } else {
                    c.user.clone()
                }
            }),
        ),
        ("CA bundle".to_string(), each(&|_, c| yes_no(c.ca_bundle))),
        ("tzdata".to_string(), each(&|_, c| yes_no(c.tzdata))),
        (
            "findings".to_string(),
            each(&|_, c| by_severity(&c.findings, &SEVERITIES.map(Severity::name))),
        ),
    ];
    if images.iter().any(|c| c.vulnerabilities.is_some()) {
        let order = ["critical", "high", "medium", "low", "unknown", "negligible"];
        rows.push((
            "vulnerabilities".into(),
            each(&|_, c| match &c.vulnerabilities {
                Some(counts) => by_severity(counts, &order),
                None => "not scanned".into(),
            }),
        ));
    }
    rows.push((
        "will it start".into(),
        each(&|_, c| {
            if c.will_start {
                "yes".into()
            } else {
                format!("no: {}", c.start_problems.join("; "))
            }
        }),
    ));
    rows.push((
        format!("pull at {}", bandwidth_text(report.bandwidth)),
        each(&|_, c| format!("{:.2} s", c.pull_seconds)),
    ));
    if images.iter().any(|c| c.unpack_seconds.is_some()) {
        rows.push((
            "unpack here (measured)".into(),
            each(&|_, c| match c.unpack_seconds {
                Some(s) => format!("{s:.3} s"),
                None => "not measured".into(),
            }),
        ));
    }
    let rules: BTreeSet<&'static str> = images
        .iter()
        .flat_map(|c| c.rules.keys().copied())
        .collect();
    for rule in rules {
        rows.push((
            rule.to_string(),
            each(&|_, c| c.rules.get(rule).map_or("-".into(), |n| n.to_string())),
        ));
    }
    rows
}

/// `0.026x`: three significant decimals for small ratios, two for the rest.
fn ratio_text(x: f64) -> String {
    if x < 0.1 {
        format!("{x:.3}x")
    } else {
        format!("{x:.2}x")
    }
}

/// `sha256:0123456789ab`.
fn short_digest(digest: &str) -> String {
    digest.chars().take("sha256:".len() + 12).collect()
}

/// `100 Mbit/s`.
pub fn bandwidth_text(bits: u64) -> String {
    match bits {
        b if b >= 1_000_000_000 && b % 1_000_000_000 == 0 => {
            format!("{} Gbit/s", b / 1_000_000_000)
        }
        b if b >= 1_000_000 && b % 1_000_000 == 0 => format!("{} Mbit/s", b / 1_000_000),
        b if b >= 1_000 && b % 1_000 == 0 => format!("{} kbit/s", b / 1_000),
        b => format!("{b} bit/s"),
    }
}

/// Parses a bandwidth: `100Mbit`, `1Gbit/s`, `500kbit`, `12.5MB/s` (bytes), or plain bits per second.
pub fn parse_bandwidth(text: &str) -> Result<u64> {
    let t = text.trim().trim_end_matches("/s").trim_end_matches("ps");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        Error::Input(format!(
            "bandwidth {text:?}: expected a number and a unit, like 100Mbit or 12.5MB/s"
        ))
    })?;
    let factor = match unit.trim() {
        "" | "bit" | "b" => 1.0,
        "kbit" | "Kbit" | "kb" => 1e3,
        "Mbit" | "mbit" | "Mb" => 1e6,
        "Gbit" | "gbit" | "Gb" => 1e9,
        "kB" | "KB" => 8e3,
        "MB" => 8e6,
        "GB" => 8e9,
        other => {
            return Err(Error::Input(format!(
                "bandwidth {text:?}: unknown unit {other:?}; use bit, kbit, Mbit, Gbit, kB, MB or GB (per second)"
            )))
        }
    };
    let bits = value * factor;
    if !(bits >= 1.0 && bits.is_finite()) {
        return Err(Error::Input(format!(
            "bandwidth {text:?}: must be at least 1 bit/s"
        )));
    }
    Ok(bits.round() as u64)
}

/// Severities in the order columns show them, worst first.
pub const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(diff_id: &str) -> CompareLayer {
        CompareLayer {
            digest: format!("d-{diff_id}"),
            diff_id: diff_id.into(),
            size: 1,
            uncompressed_size: 1,
            file_bytes: 1,
            created_by: None,
            shared: false,
        }
    }

    fn col(layers: &[&str]) -> Column {
        Column {
            image: String::new(),
            manifest_digest: String::new(),
            os: None,
            compressed_size: 0,
            uncompressed_size: 0,
            file_bytes: 0,
            files: 0,
            layers: layers.iter().map(|d| layer(d)).collect(),
            shared_layers: 0,
            packages: 0,
            shells: vec![],
            package_managers: vec![],
            network_tools: vec![],
            build_tools: vec![],
            setuid: vec![],
            user: String::new(),
            ca_bundle: false,
            tzdata: false,
            findings: BTreeMap::new(),
            rules: BTreeMap::new(),
            vulnerabilities: None,
            will_start: true,
            start_problems: vec![],
            pull_seconds: 0.0,
            unpack_seconds: None,
            ratios: Ratios::default(),
            audit_passed: true,
        }
    }

    #[test]
    fn shared_layers_are_those_of_two_images_or_more() {
        let mut columns = vec![col(&["a", "b"]), col(&["a", "c"]), col(&["c", "d", "a"])];
        assert_eq!(mark_shared(&mut columns), 2);
        let marks: Vec<Vec<bool>> = columns
            .iter()
            .map(|c| c.layers.iter().map(|l| l.shared).collect())
            .collect();
        assert_eq!(
            marks,
            vec![vec![true, false], vec![true, true], vec![true, false, true]]
        );
        assert_eq!(columns[2].shared_layers, 2);
        // One image's own repeated layer is not "shared".
        let mut alone = vec![col(&["x", "x"]), col(&["y"])];
        assert_eq!(mark_shared(&mut alone), 0);
    }

    #[test]
    fn bandwidths_parse() {
        assert_eq!(parse_bandwidth("100Mbit").unwrap(), 100_000_000);
        assert_eq!(parse_bandwidth("1Gbit/s").unwrap(), 1_000_000_000);
        assert_eq!(parse_bandwidth("12.5MB/s").unwrap(), 100_000_000);
        assert_eq!(parse_bandwidth("500kbps").unwrap(), 500_000);
        assert_eq!(parse_bandwidth("64000").unwrap(), 64_000);
        for bad in ["", "fast", "10 parsecs", "0Mbit", "-5Mbit"] {
            assert!(parse_bandwidth(bad).is_err(), "{bad}");
        }
        assert_eq!(bandwidth_text(100_000_000), "100 Mbit/s");
        assert_eq!(bandwidth_text(1_500_000), "1500 kbit/s");
    }

    #[test]
    fn ratios_need_a_first_value() {
        assert_eq!(ratio(5, 10), Some(0.5));
        assert_eq!(ratio(5, 0), None);
    }

    #[test]
    fn unpack_writes_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_body(&path, b"abc", 70_000).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 70_000);
    }
}
