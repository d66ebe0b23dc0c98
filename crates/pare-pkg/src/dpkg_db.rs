//! The dpkg database as images hold it: `var/lib/dpkg/status` (every package, with its `Status`),
//! distroless-style `var/lib/dpkg/status.d/<name>` records with `<name>.md5sums` beside them, and
//! `var/lib/dpkg/info/<name>[:<arch>].list` file lists. Reads them into records (through the one
//! deb822 parser, `control`) and writes the status.d records pare's images carry. Not here: where
//! the files come from (an image's layers, a tree being built).

use crate::control::{paragraphs, Paragraph};
use crate::Result;

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
        // A status.d record pare writes reads back.
        let written = status_record("Package: demo\nVersion: 1.0\nArchitecture: all\n");
        assert_eq!(parse_records(&written, "demo").unwrap()[0].version, "1.0");
        assert!(parse_records(" bad continuation\n", "x").is_err());
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
