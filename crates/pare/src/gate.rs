//! `pare gate`: fail CI when an image grows. Compares an image against a baseline (a small JSON file
//! kept in the user's repository, or another image) by compressed or uncompressed size, fails past a
//! growth limit in percent or bytes, and explains the growth by the files that grew most.
//! `--update-baseline` writes the new baseline instead of judging.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use pare_oci::reference::ImageRef;

use crate::contents::{read_image, ImageContents};
use crate::diff::SizeDelta;
use crate::image_io::Access;
use crate::{Error, Reporter, Result};

/// Version tag of baseline files.
pub const BASELINE_SCHEMA: &str = "pare.baseline/v1";
/// How many file deltas explain a growth.
const EXPLAIN: usize = 10;

/// Which size is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    /// Stored layer bytes: what users pull.
    #[default]
    Compressed,
    /// Uncompressed layer bytes: what sits on disk after a pull.
    Uncompressed,
}

/// How much growth is allowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    Percent(f64),
    Bytes(u64),
}

impl Limit {
    /// Parses `5%`, `0.5%`, `200KiB`, `1MB`, `4096B`.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let bad = || {
            Error::Input(format!(
                "--max-growth {text:?}: write a percentage (5%) or a size (200KiB, 1MB, 4096B)"
            ))
        };
        if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !p.is_finite() || p < 0.0 {
                return Err(bad());
            }
            return Ok(Limit::Percent(p));
        }
        let split = t
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let (number, unit) = t.split_at(split);
        let number: f64 = number.parse().map_err(|_| bad())?;
        let factor: f64 = match unit.trim() {
            "B" => 1.0,
            "KB" | "kB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "KiB" => 1024.0,
            "MiB" => 1024.0 * 1024.0,
            "GiB" => 1024.0 * 1024.0 * 1024.0,
            _ => return Err(bad()),
        };
        if !number.is_finite() || number < 0.0 {
            return Err(bad());
        }
        Ok(Limit::Bytes((number * factor).round() as u64))
    }
}

/// A recorded size and the sizes of the files behind it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Baseline {
    pub schema: String,
    pub image: String,
    pub manifest_digest: String,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Regular files and their sizes (image paths).
    pub files: BTreeMap<String, u64>,
}

impl Baseline {
    /// The baseline of an image.
    pub fn of(image: &ImageContents) -> Self {
        Self {
            schema: BASELINE_SCHEMA.into(),
            image: image.reference.clone(),
            manifest_digest: image.manifest_digest.clone(),
            compressed_size: image.compressed_size,
            uncompressed_size: image.uncompressed_size,
            files: image
                .files
                .iter()
                .filter(|(_, f)| f.info.kind == pare_oci::read::FileKind::File)
                .map(|(p, f)| (format!("/{p}"), f.info.size))
                .collect(),
        }
    }

    /// Reads a baseline file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = pare_oci::layout::read_bounded(path, 256 << 20).map_err(|e| {
            Error::Input(format!(
                "cannot read the baseline: {e}; create it with `pare gate IMAGE --baseline {} --update-baseline`",
                path.display()
            ))
        })?;
        let baseline: Baseline = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Input(format!("{} is not a pare baseline: {e}", path.display())))?;
        if baseline.schema != BASELINE_SCHEMA {
            return Err(Error::Input(format!(
                "{} has schema {:?}; this pare reads {BASELINE_SCHEMA}",
                path.display(),
                baseline.schema
            )));
        }
        Ok(baseline)
    }

    /// Writes the baseline file atomically, or into a FIFO or device named instead (sorted keys,
    /// one file per line for readable diffs).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Input(format!("baseline: {e}")))?;
        text.push('\n');
        pare_oci::layout::write_output_file(path, text.as_bytes())?;
        Ok(())
    }

    fn size(&self, measure: Measure) -> u64 {
        match measure {
            Measure::Compressed => self.compressed_size,
            Measure::Uncompressed => self.uncompressed_size,
        }
    }
}

/// What to judge.
#[derive(Clone, Debug)]
pub struct GateOptions {
    /// The image to judge.
    pub image: ImageRef,
    /// What it is judged against.
    pub baseline: BaselineSource,
    pub access: Access,
    pub measure: Measure,
    pub limit: Limit,
    /// The limit as the user wrote it (`200KiB`), echoed in the report; None: pare's own words.
    pub limit_text: Option<String>,
    /// Write the current image as the new baseline file instead of judging.
    pub update: bool,
}

/// A file whose size moved, explaining growth.
#[derive(Clone, Debug, Serialize)]
pub struct FileGrowth {
    pub path: String,
    pub size: SizeDelta,
}

/// The verdict.
#[derive(Clone, Debug, Serialize)]
pub struct GateReport {
    pub image: String,
    pub baseline: String,
    pub measure: Measure,
    pub size: SizeDelta,
    /// The limit as given, in bytes or percent.
    pub limit: String,
    pub passed: bool,
    /// True when the baseline was (re)written instead of judged.
    pub updated_baseline: bool,
    /// The files that grew or shrank most.
    pub biggest_changes: Vec<FileGrowth>,
    pub reason: String,
}

impl GateReport {
    /// The verdict in one word: `PASS`, `FAIL`, or `BASELINE UPDATED`.
    pub fn verdict(&self) -> &'static str {
        match (self.updated_baseline, self.passed) {
            (true, _) => "BASELINE UPDATED",
            (false, true) => "PASS",
            (false, false) => "FAIL",
        }
    }
}

/// Judges `image` against `baseline`.
pub fn judge(
    image: &ImageContents,
    baseline: &Baseline,
    baseline_name: &str,
    options: &GateOptions,
) -> GateReport {
    let before = baseline.size(options.measure);
    let after = match options.measure {
        Measure::Compressed => image.compressed_size,
        Measure::Uncompressed => image.uncompressed_size,
    };
    let size = SizeDelta::new(before, after);
    let (passed, limit, reason) = match options.limit {
        Limit::Bytes(max) => {
            let ok = size.delta <= i64::try_from(max).unwrap_or(i64::MAX);
            let given = match &options.limit_text {
                Some(text) if text.trim() != max.to_string() && text.trim() != format!("{max}B") => {
                    format!("{} ({max} bytes)", text.trim())
                }
                _ => format!("{max} bytes"),
            };
            (
                ok,
                given.clone(),
                format!("grew by {} bytes; the limit is {given}", size.delta),
            )
        }
        Limit::Percent(max) => match size.percent {
            Some(p) => (p <= max, format!("{max}%"), format!("grew by {p:.2}%; the limit is {max}%")),
            None if size.delta <= 0 => (true, format!("{max}%"), "the baseline and the image are both empty".into()),
            None => (
                false,
                format!("{max}%"),
                "the baseline size is 0 bytes, so any growth is beyond a percentage; use a byte limit".into(),
            ),
        },
    };
    let current: BTreeMap<String, u64> = Baseline::of(image).files;
    let mut changes: Vec<FileGrowth> = Vec::new();
    for (path, &after) in &current {
        let before = baseline.files.get(path).copied().unwrap_or(0);
        if before != after {
            changes.push(FileGrowth {
                path: path.clone(),
                size: SizeDelta::new(before, after),
            });
        }
    }
    for (path, &before) in &baseline.files {
        if !current.contains_key(path) {
            changes.push(FileGrowth {
                path: path.clone(),
                size: SizeDelta::new(before, 0),
            });
        }
    }
    changes.sort_by(|a, b| {
        b.size
            .delta
            .cmp(&a.size.delta)
            .then_with(|| a.path.cmp(&b.path))
    });
    changes.truncate(EXPLAIN);
    GateReport {
        image: image.reference.clone(),
        baseline: baseline_name.to_string(),
        measure: options.measure,
        size,
        limit,
        passed,
        updated_baseline: false,
        biggest_changes: changes,
        reason,
    }
}

/// Where the baseline comes from.
#[derive(Clone, Debug)]
pub enum BaselineSource {
    /// A baseline file (written by `--update-baseline`).
    File(PathBuf),
    /// Another image, read after the judged one.
    Image(ImageRef),
}

/// Runs the gate: reads the image (and a baseline image) and judges it, or with `options.update`
/// writes it as the new baseline file.
pub fn gate(options: &GateOptions, reporter: &dyn Reporter) -> Result<GateReport> {
    let image = read_image(&options.image, &options.access, reporter)?;
    let image = &image;
    match options.baseline.clone() {
        BaselineSource::File(path) if options.update => {
            let baseline = Baseline::of(image);
            baseline.save(&path)?;
            let mut report = judge(image, &baseline, &path.display().to_string(), options);
            report.updated_baseline = true;
            report.passed = true;
            report.reason = format!("wrote {} as the new baseline", path.display());
            Ok(report)
        }
        BaselineSource::File(path) => {
            let baseline = Baseline::load(&path)?;
            Ok(judge(
                image,
                &baseline,
                &path.display().to_string(),
                options,
            ))
        }
        BaselineSource::Image(_) if options.update => Err(Error::Input(
            "--update-baseline writes a baseline file; give it with --baseline FILE".into(),
        )),
        BaselineSource::Image(reference) => {
            let base = read_image(&reference, &options.access, reporter)?;
            let baseline = Baseline::of(&base);
            Ok(judge(image, &baseline, &base.reference, options))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!(Limit::parse("5%").unwrap(), Limit::Percent(5.0));
        assert_eq!(Limit::parse("0.5 %").unwrap(), Limit::Percent(0.5));
        assert_eq!(Limit::parse("200KiB").unwrap(), Limit::Bytes(204_800));
        assert_eq!(Limit::parse("1MB").unwrap(), Limit::Bytes(1_000_000));
        assert_eq!(Limit::parse("4096B").unwrap(), Limit::Bytes(4096));
        for bad in ["5", "-1%", "abc", "10XB", "%"] {
            assert!(Limit::parse(bad).is_err(), "{bad}");
        }
    }
}
