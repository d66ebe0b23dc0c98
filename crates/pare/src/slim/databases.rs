//! Package databases made to tell the truth about a slimmed tree, so scanners and SBOM tools list
//! only what is left: dpkg's `status` with `info/<pkg>.list`, `.md5sums` and `.conffiles`;
//! distroless-style `status.d/<pkg>` records with their `.md5sums`; apk's `lib/apk/db/installed`.
//! A package with no file left is removed from its database (and its info files go); one with
//! some left keeps its record, with its file lists cut to the files kept. A record with no file
//! list to judge by is kept as it is. File lists are matched through the tree's symlinks, so a
//! merged-/usr image's `/lib/...` entries find their `usr/lib/...` files. Not here: deciding what
//! to keep (`super::keep`).

use std::collections::BTreeMap;

use pare_pkg::control::paragraphs;
use pare_pkg::dpkg_db::{list_file_candidates, STATUS_DIR, STATUS_FILE};

use super::keep::{is_content, Keep};
use super::unpack::Unpacked;

/// The apk database.
const APK_INSTALLED: &str = "lib/apk/db/installed";

/// What pruning did.
#[derive(Clone, Debug, Default)]
pub struct Pruned {
    /// Database files with new contents, by key.
    pub rewritten: BTreeMap<String, Vec<u8>>,
    /// Packages removed (`name`), in order.
    pub removed: Vec<String>,
    /// Packages that keep part of their files.
    pub partial: Vec<String>,
    /// Packages that keep every file.
    pub whole: Vec<String>,
}

impl Pruned {
    /// Counts package `name` by what is left of it; true when it stays (in whole or in part).
    fn record(&mut self, name: String, left: &Left) -> bool {
        match left {
            Left::Nothing => self.removed.push(name),
            Left::Part => self.partial.push(name),
            Left::All => self.whole.push(name),
        }
        !matches!(left, Left::Nothing)
    }
}

/// Prunes every package database of the tree to the kept paths, and keeps the databases (their
/// files join `keep`).
pub fn prune(unpacked: &Unpacked, keep: &mut Keep) -> Pruned {
    let mut pruned = Pruned::default();
    dpkg_status(unpacked, keep, &mut pruned);
    dpkg_status_d(unpacked, keep, &mut pruned);
    apk(unpacked, keep, &mut pruned);
    python_distributions(unpacked, keep, &mut pruned);
    pruned
}

/// Python distributions (`*.dist-info` with a `RECORD`): one with a kept file keeps its metadata
/// directory (what SBOM tools and `importlib.metadata` read), one with none loses it.
fn python_distributions(unpacked: &Unpacked, keep: &mut Keep, pruned: &mut Pruned) {
    let records: Vec<String> = unpacked
        .files
        .keys()
        .filter(|k| k.ends_with(".dist-info/RECORD"))
        .cloned()
        .collect();
    for record in records {
        let Some((info_dir, _)) = record.rsplit_once('/') else {
            continue;
        };
        let site = info_dir.rsplit_once('/').map_or("", |(s, _)| s).to_string();
        let name = info_dir
            .rsplit('/')
            .next()
            .unwrap_or(info_dir)
            .trim_end_matches(".dist-info")
            .to_string();
        let text = unpacked
            .read_all(&record)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        // RECORD names files relative to the site directory (scripts with `../`).
        let rows: Vec<(&str, String)> = text
            .lines()
            .filter_map(|l| l.split(',').next().map(|p| (l, p)))
            .filter(|(_, p)| !p.is_empty() && !p.contains(".dist-info/"))
            .map(|(l, p)| (l, format!("{site}/{p}")))
            .collect();
        let (_, left) = cut(unpacked, keep, rows.iter().map(|(l, p)| (*l, p.as_str())));
        if !pruned.record(name, &left) {
            continue;
        }
        keep.tree(
            unpacked,
            info_dir,
            "the metadata of a Python distribution that keeps files",
            &|_| false,
        );
    }
}

/// How much of a file list survives.
enum Left {
    Nothing,
    Part,
    All,
}

/// What a path a database names (absolute or relative to the root) is in the slimmed tree: None
/// when it names no file or symlink (a directory, or nothing), else whether it is kept. A symlink
/// counts by its own name, a file by its real path.
fn judge(unpacked: &Unpacked, keep: &Keep, path: &str) -> Option<bool> {
    let absolute = format!("/{}", path.trim_start_matches('/'));
    let real = unpacked.resolve_with_links(&absolute).0.ok()?;
    if !is_content(unpacked, &real) {
        return None;
    }
    let own = &absolute[1..];
    Some(
        keep.reasons.contains_key(&real)
            || (keep.reasons.contains_key(own) && is_content(unpacked, own)),
    )
}

/// Whether the directory a database names is kept (kept itself or holding something kept).
fn kept_dir(unpacked: &Unpacked, keep: &Keep, path: &str) -> bool {
    let absolute = format!("/{}", path.trim_start_matches('/'));
    let (found, _) = unpacked.resolve_with_links(&absolute);
    let Ok(real) = found else {
        return false;
    };
    if real.is_empty() || keep.reasons.contains_key(&real) {
        return true;
    }
    let prefix = format!("{real}/");
    keep.reasons
        .range(prefix.clone()..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(&prefix))
}

/// Cuts a list of paths to the kept ones: the lines kept, and how much is left.
fn cut<'a>(
    unpacked: &Unpacked,
    keep: &Keep,
    lines: impl Iterator<Item = (&'a str, &'a str)>,
) -> (Vec<&'a str>, Left) {
    let mut kept = Vec::new();
    let (mut files, mut files_kept) = (0usize, 0usize);
    for (line, path) in lines {
        match judge(unpacked, keep, path) {
            Some(true) => {
                files += 1;
                files_kept += 1;
                kept.push(line);
            }
            Some(false) => files += 1,
            None if path == "/." || kept_dir(unpacked, keep, path) => kept.push(line),
            None => {}
        }
    }
    let left = if files_kept == 0 {
        Left::Nothing
    } else if files_kept == files {
        Left::All
    } else {
        Left::Part
    };
    (kept, left)
}

fn joined(lines: &[&str]) -> Vec<u8> {
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text.into_bytes()
}

/// `var/lib/dpkg/status` and its `info/` lists.
fn dpkg_status(unpacked: &Unpacked, keep: &mut Keep, pruned: &mut Pruned) {
    let Some(status) = unpacked.read_all(STATUS_FILE) else {
        return;
    };
    let status = String::from_utf8_lossy(&status).into_owned();
    let mut out = String::new();
    for chunk in status.split("\n\n").filter(|c| !c.trim().is_empty()) {
        let Ok(parsed) = paragraphs(chunk, STATUS_FILE) else {
            continue;
        };
        let Some(paragraph) = parsed.first() else {
            continue;
        };
        let name = paragraph.get("Package").unwrap_or_default().to_string();
        let arch = paragraph
            .get("Architecture")
            .unwrap_or_default()
            .to_string();
        let list = list_file_candidates(&name, &arch)
            .into_iter()
            .find(|k| unpacked.files.contains_key(k));
        let left = match &list {
            None => Left::Nothing,
            Some(list_key) => {
                let text = unpacked
                    .read_all(list_key)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let (lines, left) = cut(unpacked, keep, text.lines().map(|l| (l, l)));
                if !matches!(left, Left::Nothing) {
                    keep.add(list_key, "dpkg's file list of a package that keeps files");
                    pruned.rewritten.insert(list_key.clone(), joined(&lines));
                    let stem = list_key.trim_end_matches(".list");
                    for (suffix, column) in [(".md5sums", 1usize), (".conffiles", 0)] {
                        let key = format!("{stem}{suffix}");
                        if let Some(bytes) = unpacked.read_all(&key) {
                            let text = String::from_utf8_lossy(&bytes).into_owned();
                            let rows = text
                                .lines()
                                .filter_map(|l| l.split_whitespace().nth(column).map(|p| (l, p)));
                            let (lines, _) = cut(unpacked, keep, rows);
                            keep.add(&key, "dpkg's checksums of a package that keeps files");
                            pruned.rewritten.insert(key, joined(&lines));
                        }
                    }
                }
                left
            }
        };
        if pruned.record(name, &left) {
            out.push_str(chunk.trim_matches('\n'));
            out.push_str("\n\n");
        }
    }
    keep.add(
        STATUS_FILE,
        "dpkg's status, cut to the packages that keep files",
    );
    if unpacked.files.contains_key("var/lib/dpkg/info/format") {
        keep.add("var/lib/dpkg/info/format", "dpkg's database format");
    }
    // Paragraphs apart by one blank line, the last one ended by its newline, as dpkg writes it.
    let text = out.trim_end_matches('\n');
    let text = if text.is_empty() {
        String::new()
    } else {
        format!("{text}\n")
    };
    pruned
        .rewritten
        .insert(STATUS_FILE.to_string(), text.into_bytes());
}

/// Distroless-style `status.d/<pkg>` records with `<pkg>.md5sums`.
fn dpkg_status_d(unpacked: &Unpacked, keep: &mut Keep, pruned: &mut Pruned) {
    let prefix = format!("{STATUS_DIR}/");
    let records: Vec<String> = unpacked
        .files
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .filter(|k| !k.ends_with(".md5sums") && !k[prefix.len()..].contains('/'))
        .filter(|k| is_content(unpacked, k))
        .collect();
    for record in records {
        let name = record[prefix.len()..].to_string();
        let sums_key = format!("{record}.md5sums");
        let Some(bytes) = unpacked.read_all(&sums_key) else {
            keep.add(&record, "a dpkg record without a file list (kept as it is)");
            pruned.whole.push(name);
            continue;
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let rows = text
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(|p| (l, p)));
        let (lines, left) = cut(unpacked, keep, rows);
        if !pruned.record(name, &left) {
            continue;
        }
        keep.add(&record, "the dpkg record of a package that keeps files");
        keep.add(&sums_key, "the file list of a package that keeps files");
        pruned.rewritten.insert(sums_key, joined(&lines));
    }
}

/// An `F:` line with its attribute lines, and its `R:` files, each with its attribute lines and
/// whether it is kept.
type ApkFolder<'a> = (Vec<&'a str>, Vec<(Vec<&'a str>, bool)>);

/// apk's installed database: `F:` folders with their `R:` files, each followed by its attribute
/// lines (`a:`, `M:`, `Z:`).
fn apk(unpacked: &Unpacked, keep: &mut Keep, pruned: &mut Pruned) {
    let Some(bytes) = unpacked.read_all(APK_INSTALLED) else {
        return;
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut out = String::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut name = String::new();
        let mut head: Vec<&str> = Vec::new();
        let mut folders: Vec<ApkFolder> = Vec::new();
        let mut folder = String::new();
        let (mut any_kept, mut any_dropped) = (false, false);
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("P:") {
                name = n.to_string();
            }
            if let Some(dir) = line.strip_prefix("F:") {
                folder = dir.to_string();
                folders.push((vec![line], Vec::new()));
            } else if let Some(file) = line.strip_prefix("R:") {
                let path = if folder.is_empty() {
                    file.to_string()
                } else {
                    format!("{folder}/{file}")
                };
                let kept = judge(unpacked, keep, &path) == Some(true);
                any_kept |= kept;
                any_dropped |= !kept;
                if let Some((_, files)) = folders.last_mut() {
                    files.push((vec![line], kept));
                } else {
                    head.push(line);
                }
            } else if let Some((lines, files)) = folders.last_mut() {
                match files.last_mut() {
                    Some((file_lines, _)) => file_lines.push(line),
                    None => lines.push(line),
                }
            } else {
                head.push(line);
            }
        }
        // A package that lists no file at all is kept as it is.
        let left = match (any_kept, any_dropped) {
            (false, true) => Left::Nothing,
            (true, true) => Left::Part,
            _ => Left::All,
        };
        if !pruned.record(name, &left) {
            continue;
        }
        let mut lines: Vec<&str> = head;
        for (folder_lines, files) in &folders {
            let dir = folder_lines[0].trim_start_matches("F:");
            let any = files.iter().any(|(_, k)| *k);
            if !any && !kept_dir(unpacked, keep, dir) {
                continue;
            }
            lines.extend(folder_lines);
            for (file_lines, kept) in files {
                if *kept {
                    lines.extend(file_lines);
                }
            }
        }
        out.push_str(&lines.join("\n"));
        out.push_str("\n\n");
    }
    keep.add(
        APK_INSTALLED,
        "apk's database, cut to the packages that keep files",
    );
    pruned
        .rewritten
        .insert(APK_INSTALLED.to_string(), out.into_bytes());
}
