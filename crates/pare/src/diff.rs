//! `pare diff A B`: what changed between two images: files added, removed and changed (content, mode,
//! owner, kind, link target) with size deltas; layers shared, added and removed; runtime config fields;
//! and the total size delta, compressed and uncompressed. Renders as text, JSON or markdown.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use pare_oci::reference::ImageRef;

use crate::contents::{read_image, FileState, ImageContents};
use crate::image_io::Access;
pub use crate::units::{human_bytes as human, percent, signed_bytes};
use crate::{Reporter, Result};

/// A number in both images and how it moved.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SizeDelta {
    pub a: u64,
    pub b: u64,
    pub delta: i64,
    /// Percent of `a`; None when `a` is 0 (no percentage of nothing).
    pub percent: Option<f64>,
}

impl SizeDelta {
    pub fn new(a: u64, b: u64) -> Self {
        let delta = i64::try_from(b).unwrap_or(i64::MAX) - i64::try_from(a).unwrap_or(i64::MAX);
        let percent = (a > 0).then(|| delta as f64 * 100.0 / a as f64);
        Self {
            a,
            b,
            delta,
            percent,
        }
    }
}

/// A file only one side has.
#[derive(Clone, Debug, Serialize)]
pub struct FileSide {
    pub path: String,
    pub kind: pare_oci::read::FileKind,
    pub size: u64,
}

/// A file both sides have, that differs.
#[derive(Clone, Debug, Serialize)]
pub struct FileChange {
    pub path: String,
    pub size: SizeDelta,
    /// What differs: `content`, `mode`, `owner`, `kind`, `link`.
    pub what: Vec<&'static str>,
}

/// A config field that differs.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigChange {
    pub field: String,
    pub a: Value,
    pub b: Value,
    /// For `Env`: the variables that changed, one by one (`b` null when removed, `a` null when
    /// added).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<VariableChange>,
}

/// One environment variable that differs.
#[derive(Clone, Debug, Serialize)]
pub struct VariableChange {
    pub name: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

/// The variables of two `Env` arrays that differ, by name (the last setting of a name wins, as in
/// the runtime).
fn env_changes(a: &Value, b: &Value) -> Vec<VariableChange> {
    let vars = |v: &Value| -> BTreeMap<String, String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str()?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let (va, vb) = (vars(a), vars(b));
    let names: BTreeSet<&String> = va.keys().chain(vb.keys()).collect();
    names
        .into_iter()
        .filter(|n| va.get(*n) != vb.get(*n))
        .map(|n| VariableChange {
            name: n.clone(),
            a: va.get(n).cloned(),
            b: vb.get(n).cloned(),
        })
        .collect()
}

/// The difference between two images.
#[derive(Clone, Debug, Serialize)]
pub struct DiffReport {
    pub a: String,
    pub b: String,
    pub a_digest: String,
    pub b_digest: String,
    pub compressed_size: SizeDelta,
    pub uncompressed_size: SizeDelta,
    pub file_bytes: SizeDelta,
    pub added: Vec<FileSide>,
    pub removed: Vec<FileSide>,
    pub changed: Vec<FileChange>,
    pub layers_shared: usize,
    pub layers_added: Vec<String>,
    pub layers_removed: Vec<String>,
    pub config: Vec<ConfigChange>,
}

/// Runtime config fields compared.
const CONFIG_FIELDS: [&str; 9] = [
    "User",
    "Entrypoint",
    "Cmd",
    "Env",
    "WorkingDir",
    "ExposedPorts",
    "Labels",
    "StopSignal",
    "Volumes",
];

/// Which two images to compare.
#[derive(Clone, Debug)]
pub struct DiffOptions {
    pub a: ImageRef,
    pub b: ImageRef,
    pub access: Access,
}

/// Reads both images of `options` (one after the other) and compares them.
pub fn diff_images(options: &DiffOptions, reporter: &dyn Reporter) -> Result<DiffReport> {
    let a = read_image(&options.a, &options.access, reporter)?;
    let b = read_image(&options.b, &options.access, reporter)?;
    Ok(diff(&a, &b))
}

/// Compares two images.
pub fn diff(a: &ImageContents, b: &ImageContents) -> DiffReport {
    let side = |f: &FileState| FileSide {
        path: format!("/{}", f.info.path),
        kind: f.info.kind,
        size: f.info.size,
    };
    let mut added: Vec<FileSide> = b
        .files
        .iter()
        .filter(|(k, _)| !a.files.contains_key(*k))
        .map(|(_, f)| side(f))
        .collect();
    let mut removed: Vec<FileSide> = a
        .files
        .iter()
        .filter(|(k, _)| !b.files.contains_key(*k))
        .map(|(_, f)| side(f))
        .collect();
    let mut changed = Vec::new();
    for (path, fa) in &a.files {
        let Some(fb) = b.files.get(path) else {
            continue;
        };
        let (x, y) = (&fa.info, &fb.info);
        let mut what = Vec::new();
        if x.kind != y.kind {
            what.push("kind");
        }
        if x.content != y.content || x.size != y.size {
            what.push("content");
        }
        if x.mode != y.mode {
            what.push("mode");
        }
        if (x.uid, x.gid) != (y.uid, y.gid) {
            what.push("owner");
        }
        if x.link != y.link {
            what.push("link");
        }
        if !what.is_empty() {
            changed.push(FileChange {
                path: format!("/{path}"),
                size: SizeDelta::new(x.size, y.size),
                what,
            });
        }
    }
    // Biggest first, then by path.
    added.sort_by(|p, q| q.size.cmp(&p.size).then_with(|| p.path.cmp(&q.path)));
    removed.sort_by(|p, q| q.size.cmp(&p.size).then_with(|| p.path.cmp(&q.path)));
    changed.sort_by(|p, q| {
        q.size
            .delta
            .unsigned_abs()
            .cmp(&p.size.delta.unsigned_abs())
            .then_with(|| p.path.cmp(&q.path))
    });
    let layers_a: BTreeSet<&str> = a.layers.iter().map(|l| l.digest.as_str()).collect();
    let layers_b: BTreeSet<&str> = b.layers.iter().map(|l| l.digest.as_str()).collect();
    let mut config = Vec::new();
    for field in CONFIG_FIELDS {
        let va = a.config["config"]
            .get(field)
            .cloned()
            .unwrap_or(Value::Null);
        let vb = b.config["config"]
            .get(field)
            .cloned()
            .unwrap_or(Value::Null);
        if va != vb {
            let variables = if field == "Env" {
                env_changes(&va, &vb)
            } else {
                Vec::new()
            };
            config.push(ConfigChange {
                field: field.to_string(),
                a: va,
                b: vb,
                variables,
            });
        }
    }
    for field in ["architecture", "os", "variant"] {
        let (va, vb) = (a.config[field].clone(), b.config[field].clone());
        if va != vb {
            config.push(ConfigChange {
                field: field.to_string(),
                a: va,
                b: vb,
                variables: Vec::new(),
            });
        }
    }
    DiffReport {
        a: a.reference.clone(),
        b: b.reference.clone(),
        a_digest: a.manifest_digest.clone(),
        b_digest: b.manifest_digest.clone(),
        compressed_size: SizeDelta::new(a.compressed_size, b.compressed_size),
        uncompressed_size: SizeDelta::new(a.uncompressed_size, b.uncompressed_size),
        file_bytes: SizeDelta::new(a.file_bytes(), b.file_bytes()),
        added,
        removed,
        changed,
        layers_shared: layers_a.intersection(&layers_b).count(),
        layers_added: layers_b
            .difference(&layers_a)
            .map(|s| s.to_string())
            .collect(),
        layers_removed: layers_a
            .difference(&layers_b)
            .map(|s| s.to_string())
            .collect(),
        config,
    }
}

/// The report as markdown (for a pull-request comment). Lists are cut at `limit` rows each.
pub fn markdown(report: &DiffReport, limit: usize) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "### Image diff: `{}` → `{}`\n\n",
        report.a, report.b
    ));
    out.push_str("| size | before | after | change |\n|---|---:|---:|---:|\n");
    for (name, d) in [
        ("compressed (pulled)", report.compressed_size),
        ("uncompressed", report.uncompressed_size),
        ("files", report.file_bytes),
    ] {
        out.push_str(&format!(
            "| {name} | {} | {} | {} ({}) |\n",
            human(d.a),
            human(d.b),
            signed_bytes(d.delta),
            percent(d.percent)
        ));
    }
    out.push_str(&format!(
        "\nLayers: {} shared, {} added, {} removed. Files: {} added, {} removed, {} changed.\n",
        report.layers_shared,
        report.layers_added.len(),
        report.layers_removed.len(),
        report.added.len(),
        report.removed.len(),
        report.changed.len()
    ));
    let mut rows: Vec<String> = Vec::new();
    rows.extend(
        report
            .added
            .iter()
            .map(|f| format!("| added | `{}` | +{} |", f.path, human(f.size))),
    );
    rows.extend(
        report
            .removed
            .iter()
            .map(|f| format!("| removed | `{}` | -{} |", f.path, human(f.size))),
    );
    rows.extend(report.changed.iter().map(|c| {
        format!(
            "| changed ({}) | `{}` | {} |",
            c.what.join(", "),
            c.path,
            signed_bytes(c.size.delta)
        )
    }));
    if !rows.is_empty() {
        out.push_str("\n| change | path | size |\n|---|---|---:|\n");
        for row in rows.iter().take(limit) {
            out.push_str(row);
            out.push('\n');
        }
        if rows.len() > limit {
            out.push_str(&format!("\n…and {} more.\n", rows.len() - limit));
        }
    }
    if !report.config.is_empty() {
        out.push_str("\n| config | before | after |\n|---|---|---|\n");
        for c in &report.config {
            out.push_str(&format!("| {} | `{}` | `{}` |\n", c.field, c.a, c.b));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_never_divide_by_zero() {
        assert_eq!(SizeDelta::new(0, 10).percent, None);
        assert_eq!(SizeDelta::new(200, 210).percent, Some(5.0));
        assert_eq!(SizeDelta::new(10, 5).delta, -5);
        assert_eq!(percent(None), "n/a");
        assert_eq!(signed_bytes(-2048), "-2.0 KiB");
    }
}
