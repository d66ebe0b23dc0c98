//! Alpine's apk database (`lib/apk/db/installed`): one paragraph per package of single-letter
//! `X:value` lines (P name, V version, A architecture, o origin, L license, F directory, R file in it). Read
//! by hand: the format is a few lines of key letters, and no maintained crate reads it. Not here:
//! where the file comes from.

/// Where apk keeps its database.
pub const INSTALLED: &str = "lib/apk/db/installed";

/// One installed apk package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApkRecord {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The origin (source) package.
    pub origin: Option<String>,
    /// The license it states (`L:`).
    pub license: Option<String>,
    /// Its files, relative to the root.
    pub files: Vec<String>,
}

/// The packages of an apk `installed` database; paragraphs without a name or version are skipped.
pub fn parse_installed(text: &str) -> Vec<ApkRecord> {
    let mut out = Vec::new();
    for paragraph in text.split("\n\n") {
        let (mut name, mut version, mut origin, mut license) = (None, None, None, None);
        let mut architecture = String::new();
        let mut dir = String::new();
        let mut files = Vec::new();
        for line in paragraph.lines() {
            match line.split_once(':') {
                Some(("P", v)) => name = Some(v.to_string()),
                Some(("V", v)) => version = Some(v.to_string()),
                Some(("A", v)) => architecture = v.to_string(),
                Some(("o", v)) => origin = Some(v.to_string()),
                Some(("L", v)) if !v.trim().is_empty() => license = Some(v.trim().to_string()),
                Some(("F", v)) => dir = v.to_string(),
                Some(("R", v)) => files.push(if dir.is_empty() {
                    v.to_string()
                } else {
                    format!("{dir}/{v}")
                }),
                _ => {}
            }
        }
        if let (Some(name), Some(version)) = (name, version) {
            out.push(ApkRecord {
                name,
                version,
                architecture,
                origin,
                license,
                files,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_and_their_files_are_read() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\no:musl\nL:MIT\nF:lib\nR:ld-musl-x86_64.so.1\nR:libc.musl-x86_64.so.1\n\nP:broken\n\nP:busybox\nV:1.36.1-r5\nA:x86_64\nF:bin\nR:busybox\n";
        let records = parse_installed(db);
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[0].files,
            ["lib/ld-musl-x86_64.so.1", "lib/libc.musl-x86_64.so.1"]
        );
        assert_eq!(records[0].origin.as_deref(), Some("musl"));
        assert_eq!(records[0].license.as_deref(), Some("MIT"));
        assert_eq!(records[1].license, None);
        assert_eq!(records[1].name, "busybox");
    }
}
