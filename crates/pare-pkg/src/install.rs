//! Installing packages into an image layer without dpkg: each package's data goes into a
//! [`LayerTree`] under merged-/usr (`/bin`, `/sbin`, `/lib*` are links into `/usr`, as in Debian 12),
//! documentation, manual pages, info files, lintian overrides and translations are left out, and
//! distroless-style `status.d` records let scanners see every package. The leap-second time zones
//! (`/usr/share/zoneinfo/right`) are left out too. The few things maintainer
//! scripts would have done that matter at runtime (the CA bundle) are done here by hand.

use pare_oci::tree::{Entry, EntryKind, FileSource, LayerTree};

use crate::deb::{DataKind, DebContents};
use crate::{Error, Result};

/// Top-level directories that are links into `/usr` on a merged-/usr system.
pub const MERGED_USR_DIRS: [&str; 4] = ["bin", "lib", "lib64", "sbin"];
pub use crate::dpkg_db::{status_record, STATUS_DIR};
/// Where the CA bundle is built.
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// Install rules.
#[derive(Clone, Debug, Default)]
pub struct InstallOptions {
    /// Keep `/usr/share/doc/<package>/copyright` (the rest of `/usr/share/doc` is always dropped).
    pub keep_copyright: bool,
}

/// What one package contributed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    /// Files, links and directories added.
    pub entries: usize,
    /// Bytes of file content added.
    pub bytes: u64,
    /// Entries left out by the install rules.
    pub dropped: usize,
}

/// Adds the merged-/usr links (`bin -> usr/bin`, ...) to a tree.
pub fn add_merged_usr_links(tree: &mut LayerTree) -> Result<()> {
    for dir in MERGED_USR_DIRS {
        tree.insert(dir.to_string(), Entry::symlink(format!("usr/{dir}")))
            .map_err(|e| Error::Deb(format!("merged-/usr link /{dir}: {e}")))?;
    }
    Ok(())
}

/// Whether the install rules leave this path out.
pub fn is_dropped(path: &str, options: &InstallOptions) -> bool {
    if let Some(rest) = path.strip_prefix("usr/share/doc") {
        if rest.is_empty() {
            return !options.keep_copyright;
        }
        let Some(rest) = rest.strip_prefix('/') else {
            return false;
        };
        let keep = options.keep_copyright && (!rest.contains('/') || rest.ends_with("/copyright"));
        return !keep;
    }
    [
        "usr/share/man",
        "usr/share/info",
        "usr/share/lintian",
        "usr/share/locale",
        "usr/share/doc-base",
        // Leap-second ("right/") time zones: used only when TZ names one explicitly; pare's --tzdata
        // leaves them out too.
        "usr/share/zoneinfo/right",
    ]
    .iter()
    .any(|d| path == *d || path.starts_with(&format!("{d}/")))
}

/// Where a package path lands on a merged-/usr system.
pub fn merged_path(path: &str) -> String {
    let first = path.split('/').next().unwrap_or("");
    if MERGED_USR_DIRS.contains(&first) {
        format!("usr/{path}")
    } else {
        path.to_string()
    }
}

/// Makes a relative link target absolute from the link's original directory, so it stays right after
/// the link moves into `/usr`.
fn absolute_target(original_path: &str, target: &str) -> String {
    if target.starts_with('/') {
        return target.to_string();
    }
    let mut parts: Vec<&str> = original_path.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Adds one package's data to `tree`, plus its `status.d` record and md5sums.
pub fn install_package(
    tree: &mut LayerTree,
    deb: &DebContents,
    options: &InstallOptions,
) -> Result<InstalledPackage> {
    let field = |name: &str| {
        deb.control
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let name = field("Package");
    let version = field("Version");
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
    {
        return Err(Error::Deb(format!(
            "a package's control file has a bad Package name {name:?}"
        )));
    }
    let mut installed = InstalledPackage {
        name: name.clone(),
        version,
        entries: 0,
        bytes: 0,
        dropped: 0,
    };
    for entry in &deb.entries {
        if entry.path.is_empty() {
            continue;
        }
        if MERGED_USR_DIRS.contains(&entry.path.as_str())
            && matches!(entry.kind, DataKind::Directory)
        {
            continue; // the merged-/usr link stands for it
        }
        if is_dropped(&entry.path, options) {
            installed.dropped += 1;
            continue;
        }
        let path = merged_path(&entry.path);
        let kind = match &entry.kind {
            DataKind::Directory => {
                if tree.get(&path).is_some() {
                    continue;
                }
                EntryKind::Directory
            }
            DataKind::File(bytes) => {
                installed.bytes += bytes.len() as u64;
                EntryKind::File {
                    source: FileSource::Bytes(bytes.clone()),
                    size: bytes.len() as u64,
                }
            }
            DataKind::Symlink(target) => {
                let target = if path != entry.path {
                    absolute_target(&entry.path, target)
                } else {
                    target.clone()
                };
                EntryKind::Symlink { target }
            }
            DataKind::Hardlink(target) => {
                let target = merged_path(target);
                if tree.get(&target).is_none() {
                    installed.dropped += 1;
                    continue; // its target was left out
                }
                EntryKind::Hardlink { target }
            }
        };
        tree.insert(
            path.clone(),
            Entry::owned(kind, entry.mode, entry.uid, entry.gid),
        )
        .map_err(|e| Error::Deb(format!("package {name}: cannot place /{path}: {e}")))?;
        installed.entries += 1;
    }
    let record = status_record(&deb.control);
    tree.insert(
        format!("{STATUS_DIR}/{name}"),
        Entry::bytes(record.into_bytes(), 0o644),
    )
    .map_err(|e| Error::Deb(format!("package {name}: status.d record: {e}")))?;
    if let Some(md5sums) = &deb.md5sums {
        tree.insert(
            format!("{STATUS_DIR}/{name}.md5sums"),
            Entry::bytes(md5sums.as_bytes().to_vec(), 0o644),
        )
        .map_err(|e| Error::Deb(format!("package {name}: md5sums: {e}")))?;
    }
    Ok(installed)
}

/// Moves the certificates under `/usr/share/ca-certificates/` into one bundle, the way
/// `update-ca-certificates` would build it (every certificate, in path order, concatenated), and
/// leaves the per-certificate copies out of the tree: the bundle holds the same certificates, as in
/// distroless. `None` (and no change) when the tree has no certificate.
pub fn take_ca_bundle(tree: &mut LayerTree) -> Option<Vec<u8>> {
    let bundle = ca_bundle(tree)?;
    tree.retain(|path, _| {
        !(path.starts_with("usr/share/ca-certificates/") && path.ends_with(".crt"))
    });
    Some(bundle)
}

/// The CA bundle `update-ca-certificates` would build: every certificate under
/// `/usr/share/ca-certificates/`, in path order, concatenated. `None` when there is none.
pub fn ca_bundle(tree: &LayerTree) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (path, entry) in tree.iter() {
        if !(path.starts_with("usr/share/ca-certificates/") && path.ends_with(".crt")) {
            continue;
        }
        if let EntryKind::File {
            source: FileSource::Bytes(bytes),
            ..
        } = &entry.kind
        {
            out.extend_from_slice(bytes);
            if !bytes.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::DataEntry;
    use std::sync::Arc;

    fn entry(path: &str, kind: DataKind) -> DataEntry {
        DataEntry {
            path: path.into(),
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
        }
    }

    #[test]
    fn installs_under_merged_usr_and_drops_docs() {
        let file = |b: &[u8]| DataKind::File(Arc::from(b));
        let deb = DebContents {
            control: "Package: demo\nVersion: 1.0\nArchitecture: amd64\n".into(),
            md5sums: Some("abc  bin/demo\n".into()),
            conffiles: None,
            entries: vec![
                entry("", DataKind::Directory),
                entry("bin", DataKind::Directory),
                entry("bin/demo", file(b"ELF")),
                entry("lib/x86_64-linux-gnu/libdemo.so.1", file(b"lib")),
                entry(
                    "lib/libdemo.so",
                    DataKind::Symlink("../usr/lib/real.so".into()),
                ),
                entry("usr/share/doc/demo/copyright", file(b"(c)")),
                entry("usr/share/doc/demo/changelog.gz", file(b"log")),
                entry("usr/share/man/man1/demo.1.gz", file(b"man")),
                entry("usr/share/locale/de/LC_MESSAGES/demo.mo", file(b"mo")),
            ],
        };
        let mut tree = LayerTree::new();
        add_merged_usr_links(&mut tree).unwrap();
        let got = install_package(&mut tree, &deb, &InstallOptions::default()).unwrap();
        assert_eq!(got.name, "demo");
        assert_eq!(got.dropped, 4);
        assert!(tree.get("usr/bin/demo").is_some());
        assert!(tree.get("usr/lib/x86_64-linux-gnu/libdemo.so.1").is_some());
        assert_eq!(
            tree.get("usr/lib/libdemo.so").unwrap().kind,
            EntryKind::Symlink {
                target: "/usr/lib/real.so".into()
            }
        );
        assert!(tree.get("usr/share/doc/demo/copyright").is_none());
        let status = tree.get("var/lib/dpkg/status.d/demo").unwrap();
        match &status.kind {
            EntryKind::File {
                source: FileSource::Bytes(b),
                ..
            } => {
                assert_eq!(&b[..], b"Package: demo\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n")
            }
            other => panic!("{other:?}"),
        }
        assert!(tree.get("var/lib/dpkg/status.d/demo.md5sums").is_some());

        let mut keep = LayerTree::new();
        install_package(
            &mut keep,
            &deb,
            &InstallOptions {
                keep_copyright: true,
            },
        )
        .unwrap();
        assert!(keep.get("usr/share/doc/demo/copyright").is_some());
        assert!(keep.get("usr/share/doc/demo/changelog.gz").is_none());
    }

    #[test]
    fn builds_the_ca_bundle() {
        let mut tree = LayerTree::new();
        tree.insert(
            "usr/share/ca-certificates/mozilla/B.crt".into(),
            Entry::bytes(b"B".to_vec(), 0o644),
        )
        .unwrap();
        tree.insert(
            "usr/share/ca-certificates/mozilla/A.crt".into(),
            Entry::bytes(b"A\n".to_vec(), 0o644),
        )
        .unwrap();
        assert_eq!(ca_bundle(&tree).unwrap(), b"A\nB\n");
        assert_eq!(take_ca_bundle(&mut tree).unwrap(), b"A\nB\n");
        assert!(tree
            .get("usr/share/ca-certificates/mozilla/A.crt")
            .is_none());
        assert!(ca_bundle(&LayerTree::new()).is_none());
    }
}
