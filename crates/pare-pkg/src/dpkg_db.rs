//! The dpkg database as images hold it: `var/lib/dpkg/status` (every package, with its `Status`),
//! distroless-style `var/lib/dpkg/status.d/<name>` records with `<name>.md5sums` beside them, and
//! `var/lib/dpkg/info/<name>[:<arch>].list` file lists. Reads them into records (through the one
//! deb822 parser, `control`) and writes the status.d records pare's images carry. Not here: where
//! the files come from (an image's layers, a tree being built).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::control::{paragraphs, Paragraph};
use crate::install::merged_path;
use crate::{io_err, Result};

/// dpkg's status file.
pub const STATUS_FILE: &str = "var/lib/dpkg/status";
/// Where distroless-style images keep one status record per package.
pub const STATUS_DIR: &str = "var/lib/dpkg/status.d";
/// Where dpkg keeps each package's file list.
pub const INFO_DIR: &str = "var/lib/dpkg/info";

/// One installed package as the database records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpkgRecord {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The source package, when it differs from the binary package's name or version.
    pub source: Option<String>,
    pub source_version: Option<String>,
    /// The raw `Depends` field.
    pub depends: Option<String>,
    /// The raw `Pre-Depends` field.
    pub pre_depends: Option<String>,
}

impl DpkgRecord {
    /// Every package name its `Pre-Depends` and `Depends` fields mention (all alternatives),
    /// sorted and each once; a field that does not parse contributes nothing.
    pub fn dependency_names(&self) -> Vec<String> {
        let mut names: Vec<String> = [&self.pre_depends, &self.depends]
            .into_iter()
            .flatten()
            .filter_map(|field| crate::relation::parse_relations(field, &self.name).ok())
            .flatten()
            .flatten()
            .map(|d| d.name)
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Whether `path` (relative to the image root) is a file of the dpkg database.
pub fn is_database_file(path: &str) -> bool {
    path == STATUS_FILE
        || path
            .strip_prefix(STATUS_DIR)
            .is_some_and(|rest| rest.starts_with('/'))
        || (path.starts_with("var/lib/dpkg/info/") && path.ends_with(".list"))
}

/// The installed packages of a status file or status.d record (`what` names it in errors):
/// paragraphs whose `Status` says installed (records without a `Status`, as distroless writes some,
/// count as installed) and that name a package and a version.
pub fn parse_records(text: &str, what: &str) -> Result<Vec<DpkgRecord>> {
    Ok(paragraphs(text, what)?
        .iter()
        .filter(|p| p.get("Status").is_none_or(|s| s.ends_with(" installed")))
        .filter_map(record)
        .collect())
}

fn record(p: &Paragraph<'_>) -> Option<DpkgRecord> {
    let name = p.get("Package")?.to_string();
    let version = p.get("Version")?.to_string();
    // `Source: openssl` or `Source: openssl (3.0.11-1)` when the versions differ.
    let (source, source_version) = match p.get("Source") {
        Some(s) => match s.split_once('(') {
            Some((n, v)) => (
                Some(n.trim().to_string()),
                Some(v.trim_end_matches(')').trim().to_string()),
            ),
            None => (Some(s.trim().to_string()), None),
        },
        None => (None, None),
    };
    Some(DpkgRecord {
        name,
        version,
        architecture: p.get("Architecture").unwrap_or_default().to_string(),
        source,
        source_version,
        depends: p.get("Depends").map(str::to_string),
        pre_depends: p.get("Pre-Depends").map(str::to_string),
    })
}

/// The file list of a package in `info/` (with the architecture-qualified name first, as
/// multi-arch dpkg writes it).
pub fn list_file_candidates(name: &str, architecture: &str) -> [String; 2] {
    [
        format!("{INFO_DIR}/{name}:{architecture}.list"),
        format!("{INFO_DIR}/{name}.list"),
    ]
}

/// The paths (absolute, as dpkg writes them) of an `info/*.list` file.
pub fn list_paths(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.is_empty())
}

/// The paths (relative to the root, as in md5sums files) of a `*.md5sums` file.
pub fn md5sums_paths(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|l| l.split_whitespace().nth(1))
}

/// The dpkg database of a root directory (the build host's `/` or a sysroot): its installed
/// packages, their status paragraphs, and which package owns each path (by the merged-/usr path, so
/// `/lib/x86_64-linux-gnu/libz.so.1` in a list matches `/usr/lib/x86_64-linux-gnu/libz.so.1` in an
/// image). Used to say which host package a file copied from the host belongs to.
#[derive(Clone, Debug, Default)]
pub struct RootDatabase {
    root: PathBuf,
    /// By `name` or `name:arch` (as the info files are named): the record and its paragraph text.
    packages: BTreeMap<String, (DpkgRecord, String)>,
    /// Merged relative path -> package key.
    owners: HashMap<String, String>,
}

/// Largest status file or file list read from a root.
const MAX_ROOT_FILE: u64 = 256 << 20;

fn read_text(path: &Path) -> Result<Option<String>> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_ROOT_FILE => {
            return Err(crate::Error::Parse(format!(
                "{} is larger than {MAX_ROOT_FILE} bytes",
                path.display()
            )))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(format!("read {}", path.display()))(e)),
    }
    let bytes = std::fs::read(path).map_err(io_err(format!("read {}", path.display())))?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

impl RootDatabase {
    /// Reads the database below `root`; None when the root has no dpkg status file.
    pub fn read(root: &Path) -> Result<Option<Self>> {
        let Some(status) = read_text(&root.join(STATUS_FILE))? else {
            return Ok(None);
        };
        let what = root.join(STATUS_FILE).display().to_string();
        let mut db = RootDatabase {
            root: root.to_path_buf(),
            ..Self::default()
        };
        let parsed = paragraphs(&status, &what)?;
        let multi: BTreeMap<&str, usize> =
            parsed
                .iter()
                .filter_map(|p| p.get("Package"))
                .fold(BTreeMap::new(), |mut m, n| {
                    *m.entry(n).or_default() += 1;
                    m
                });
        for p in &parsed {
            if !p.get("Status").is_none_or(|s| s.ends_with(" installed")) {
                continue;
            }
            let Some(record) = record(p) else { continue };
            let text: String = p
                .fields()
                .iter()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("Status"))
                .map(|(name, value)| format!("{name}: {value}\n"))
                .collect();
            // Info files are named `name:arch` for Multi-Arch: same packages, else `name`.
            let qualified = format!("{}:{}", record.name, record.architecture);
            let key = if root
                .join(INFO_DIR)
                .join(format!("{qualified}.list"))
                .is_file()
                || multi.get(record.name.as_str()).copied().unwrap_or(0) > 1
            {
                qualified
            } else {
                record.name.clone()
            };
            if let Some(list) = read_text(&root.join(INFO_DIR).join(format!("{key}.list")))? {
                for path in list_paths(&list) {
                    let relative = path.trim_start_matches('/');
                    if !relative.is_empty() {
                        db.owners
                            .entry(merged_path(relative))
                            .or_insert_with(|| key.clone());
                    }
                }
            }
            db.packages.insert(key, (record, text));
        }
        Ok(Some(db))
    }

    /// The package that owns `path` (absolute or relative, as in an image), with its key.
    pub fn owner(&self, path: &str) -> Option<(&str, &DpkgRecord)> {
        let key = self
            .owners
            .get(&merged_path(path.trim_start_matches('/')))?;
        self.packages.get(key).map(|(r, _)| (key.as_str(), r))
    }

    /// The package's status.d record (its status paragraph with dpkg's `Status` line).
    pub fn status_record(&self, key: &str) -> Option<String> {
        self.packages.get(key).map(|(_, text)| status_record(text))
    }

    /// The package's md5sums lines for the files of `paths` (image paths, relative or absolute),
    /// written with those paths, in the order of `paths`.
    pub fn md5sums_for(&self, key: &str, paths: &BTreeSet<String>) -> Result<String> {
        let file = self.root.join(INFO_DIR).join(format!("{key}.md5sums"));
        let Some(text) = read_text(&file)? else {
            return Ok(String::new());
        };
        let sums: HashMap<String, &str> = text
            .lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(sum, path)| (merged_path(path.trim_start_matches('/')), sum))
            .collect();
        Ok(paths
            .iter()
            .filter_map(|p| {
                let relative = p.trim_start_matches('/');
                sums.get(&merged_path(relative))
                    .map(|sum| format!("{sum}  {relative}\n"))
            })
            .collect())
    }
}

/// A package's `status.d` record: its control paragraph with dpkg's `Status` line added after
/// `Package`, as dpkg's own database would hold it.
pub fn status_record(control: &str) -> String {
    let mut out = String::with_capacity(control.len() + 32);
    let mut added = false;
    for line in control.trim_end().lines() {
        if line.starts_with("Status:") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if !added && line.starts_with("Package:") {
            out.push_str("Status: install ok installed\n");
            added = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_files_give_installed_packages_with_their_source() {
        let status = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n\
Source: openssl\nVersion: 3.0.15-1~deb12u1\nDepends: libc6 (>= 2.34)\n\n\
Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
Package: libgcc-s1\nStatus: install ok installed\nArchitecture: amd64\n\
Source: gcc-12 (12.2.0-14)\nVersion: 12.2.0-14\n\nPackage: noversion\n";
        let records = parse_records(status, "status").unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].name, "libssl3");
        assert_eq!(records[0].source.as_deref(), Some("openssl"));
        assert_eq!(records[0].source_version, None);
        assert_eq!(records[0].depends.as_deref(), Some("libc6 (>= 2.34)"));
        assert_eq!(records[1].source.as_deref(), Some("gcc-12"));
        assert_eq!(records[1].source_version.as_deref(), Some("12.2.0-14"));
        assert_eq!(records[0].dependency_names(), ["libc6"]);
        let both = parse_records(
            "Package: a\nVersion: 1\nPre-Depends: libc6 (>= 2.34), dpkg\n\
             Depends: zlib1g | libz-ng:any, libc6\n",
            "status",
        )
        .unwrap();
        assert_eq!(
            both[0].dependency_names(),
            ["dpkg", "libc6", "libz-ng", "zlib1g"]
        );
        // A status.d record pare writes reads back.
        let written = status_record("Package: demo\nVersion: 1.0\nArchitecture: all\n");
        assert_eq!(parse_records(&written, "demo").unwrap()[0].version, "1.0");
        assert!(parse_records(" bad continuation\n", "x").is_err());
    }

    #[test]
    fn a_root_database_names_the_owner_of_merged_usr_paths() {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join(INFO_DIR);
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(
            dir.path().join(STATUS_FILE),
            "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\n\
Source: zlib\nVersion: 1:1.2.13.dfsg-1\nDescription: compression\n library\n\n\
Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n",
        )
        .unwrap();
        std::fs::write(
            info.join("zlib1g:amd64.list"),
            "/.\n/lib\n/lib/x86_64-linux-gnu/libz.so.1.2.13\n/lib/x86_64-linux-gnu/libz.so.1\n",
        )
        .unwrap();
        std::fs::write(
            info.join("zlib1g:amd64.md5sums"),
            "c7c774d91213e966a04b2e51c787be23  lib/x86_64-linux-gnu/libz.so.1.2.13\n0123  usr/share/doc/x\n",
        )
        .unwrap();
        let db = RootDatabase::read(dir.path()).unwrap().unwrap();
        let (key, record) = db.owner("/usr/lib/x86_64-linux-gnu/libz.so.1").unwrap();
        assert_eq!(
            (key, record.version.as_str()),
            ("zlib1g:amd64", "1:1.2.13.dfsg-1")
        );
        assert!(db.owner("/usr/lib/x86_64-linux-gnu/libgone.so").is_none());
        let record = db.status_record(key).unwrap();
        assert!(
            record.starts_with("Package: zlib1g\nStatus: install ok installed\n"),
            "{record}"
        );
        assert!(
            record.contains("Description: compression\n library\n"),
            "{record}"
        );
        let paths: BTreeSet<String> =
            ["/usr/lib/x86_64-linux-gnu/libz.so.1.2.13".to_string()].into();
        assert_eq!(
            db.md5sums_for(key, &paths).unwrap(),
            "c7c774d91213e966a04b2e51c787be23  usr/lib/x86_64-linux-gnu/libz.so.1.2.13\n"
        );
        assert!(RootDatabase::read(&dir.path().join("nowhere"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn database_files_are_recognised() {
        assert!(is_database_file("var/lib/dpkg/status"));
        assert!(is_database_file("var/lib/dpkg/status.d/libc6"));
        assert!(is_database_file("var/lib/dpkg/info/libc6:amd64.list"));
        assert!(!is_database_file("var/lib/dpkg/status.dx"));
        assert!(!is_database_file("var/lib/dpkg/info/libc6.postinst"));
        assert_eq!(
            md5sums_paths("abc  usr/bin/x\n").collect::<Vec<_>>(),
            ["usr/bin/x"]
        );
    }
}
