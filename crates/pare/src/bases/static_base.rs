//! The bases pare builds on, each file deliberate: `scratch` is nothing; `static` is the
//! distroless-static equivalent (users root/nobody/nonroot without login shells, /tmp 1777,
//! /home/nonroot 0700, nsswitch.conf, an os-release naming pare, and the CA bundle). The time zone
//! database, when asked for, is a layer of its own so the base stays shared between images.

use std::path::Path;

use pare_oci::tree::{normalize_image_path, Entry, EntryKind, FileSource, LayerTree};
use walkdir::WalkDir;

use super::{Base, BaseOptions, CaBundle, CA_BUNDLE_PATH, NONROOT_ID};
use crate::layers::PlannedLayer;
use crate::{Error, Result};

/// Version of the static base's own files; bump it when one of them changes.
pub const STATIC_BASE_VERSION: &str = "1";
/// Largest CA bundle pare accepts (Debian's is about 220 KB).
const MAX_CA_BUNDLE: u64 = 4 << 20;

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n";
const NSSWITCH: &str = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n\
networks: files\nprotocols: files\nservices: files\n";

fn os_release_text() -> String {
    format!(
        "PRETTY_NAME=\"pare static base {STATIC_BASE_VERSION}\"\nNAME=\"pare\"\nID=pare\n\
VERSION_ID=\"{STATIC_BASE_VERSION}\"\nVARIANT=\"static\"\nVARIANT_ID=static\n"
    )
}

/// The layers the chosen base contributes (possibly none), plus whether a CA bundle is in them.
pub fn base_layers(options: &BaseOptions<'_>) -> Result<(Vec<PlannedLayer>, bool)> {
    let ca_source = match (options.ca_bundle, options.base) {
        (CaBundle::Omit, _) | (CaBundle::Default, Base::Scratch) => None,
        // An image base brings its own bundle, or none.
        (CaBundle::Default, Base::Image { .. }) => None,
        (CaBundle::Default, Base::Static) => Some(options.host_ca_bundle),
        // A recipe's CA bundle comes from Debian's ca-certificates package.
        (CaBundle::Default, Base::Recipe(_)) => None,
        (CaBundle::File(path), _) => Some(path.as_path()),
    };
    let ca = ca_source.map(read_ca_bundle).transpose()?;
    let has_ca = ca.is_some();
    let mut layers = Vec::new();
    let mut tree = LayerTree::new();
    let mut parts = Vec::new();
    if *options.base == Base::Static {
        add_static_files(&mut tree, true)?;
        parts.push("passwd, group, nsswitch.conf, os-release, /tmp, /home/nonroot");
    }
    if let Some(bytes) = ca {
        tree.insert(key(CA_BUNDLE_PATH)?, Entry::bytes(bytes, 0o644))?;
        parts.push("CA bundle");
    }
    if !tree.is_empty() {
        tree.add_parents(&|_| None);
        layers.push(PlannedLayer {
            tree,
            created_by: format!(
                "pare build: base {} ({})",
                options.base.name(),
                parts.join(", ")
            ),
            comment: Some(format!("pare {} base", options.base.name())),
            thorough: false,
        });
    }
    if options.tzdata && !matches!(options.base, Base::Recipe(_)) {
        layers.push(PlannedLayer {
            tree: tzdata_tree(options.zoneinfo_dir)?,
            created_by: "pare build: tzdata (zoneinfo without right/ and posix/)".into(),
            comment: Some("time zone database".into()),
            thorough: false,
        });
    }
    Ok((layers, has_ca))
}

fn key(path: &str) -> Result<String> {
    Ok(normalize_image_path(path)?)
}

/// pare's own base files: users and groups (root, nobody, nonroot), nsswitch.conf, /tmp,
/// /home/nonroot, /root, and (unless Debian's base-files provides one) os-release.
pub fn add_static_files(tree: &mut LayerTree, os_release: bool) -> Result<()> {
    tree.insert(String::new(), Entry::dir(0o755))?;
    tree.insert("etc".into(), Entry::dir(0o755))?;
    tree.insert("etc/passwd".into(), Entry::bytes(PASSWD.as_bytes(), 0o644))?;
    tree.insert("etc/group".into(), Entry::bytes(GROUP.as_bytes(), 0o644))?;
    tree.insert(
        "etc/nsswitch.conf".into(),
        Entry::bytes(NSSWITCH.as_bytes(), 0o644),
    )?;
    if os_release {
        tree.insert(
            "etc/os-release".into(),
            Entry::bytes(os_release_text().into_bytes(), 0o644),
        )?;
    }
    tree.insert("home".into(), Entry::dir(0o755))?;
    tree.insert(
        "home/nonroot".into(),
        Entry::owned(EntryKind::Directory, 0o700, NONROOT_ID, NONROOT_ID),
    )?;
    tree.insert("root".into(), Entry::dir(0o700))?;
    tree.insert("tmp".into(), Entry::dir(0o1777))?;
    Ok(())
}

/// Reads and sanity-checks a PEM CA bundle.
fn read_ca_bundle(path: &Path) -> Result<Vec<u8>> {
    let bytes = pare_oci::layout::read_bounded(path, MAX_CA_BUNDLE).map_err(|e| {
        Error::Input(format!(
            "cannot read the CA bundle {}: {e}; install the ca-certificates package, name a PEM bundle \
             with --ca-bundle FILE, or build without one using --no-ca-certificates",
            path.display()
        ))
    })?;
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::Input(format!(
            "{} holds no PEM certificate (no BEGIN CERTIFICATE line); name a PEM bundle with --ca-bundle",
            path.display()
        )));
    }
    Ok(bytes)
}

/// The time zone database under `zoneinfo` as a layer at /usr/share/zoneinfo, leaving out the
/// `right/` (leap-second) and `posix/` duplicates. Symlinks stay symlinks.
fn tzdata_tree(zoneinfo: &Path) -> Result<LayerTree> {
    if !zoneinfo.is_dir() {
        return Err(Error::Input(format!(
            "--tzdata: no time zone database at {}; install the tzdata package or name a directory with --zoneinfo",
            zoneinfo.display()
        )));
    }
    let mut tree = LayerTree::new();
    let walker = WalkDir::new(zoneinfo)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            !(e.depth() == 1 && matches!(e.file_name().to_str(), Some("right" | "posix")))
        });
    for item in walker {
        let item =
            item.map_err(|e| Error::Input(format!("reading {}: {e}", zoneinfo.display())))?;
        let rel = item.path().strip_prefix(zoneinfo).map_err(|_| {
            Error::Input(format!(
                "unexpected path {} in zoneinfo",
                item.path().display()
            ))
        })?;
        let rel = rel
            .to_str()
            .ok_or_else(|| Error::Input(format!("{} is not valid UTF-8", item.path().display())))?;
        let image_path = if rel.is_empty() {
            "usr/share/zoneinfo".to_string()
        } else {
            format!("usr/share/zoneinfo/{rel}")
        };
        let file_type = item.file_type();
        let entry = if file_type.is_dir() {
            Entry::dir(0o755)
        } else if file_type.is_symlink() {
            let target =
                std::fs::read_link(item.path()).map_err(Error::io("read link", item.path()))?;
            let target = target.to_str().ok_or_else(|| {
                Error::Input(format!(
                    "link target of {} is not UTF-8",
                    item.path().display()
                ))
            })?;
            if target.starts_with("right/") || target.starts_with("posix/") {
                continue;
            }
            Entry::symlink(target)
        } else if file_type.is_file() {
            let meta = item
                .metadata()
                .map_err(|e| Error::Input(format!("{}: {e}", item.path().display())))?;
            Entry::owned(
                EntryKind::File {
                    source: FileSource::Host(item.path().to_path_buf()),
                    size: meta.len(),
                },
                0o644,
                0,
                0,
            )
        } else {
            continue;
        };
        tree.insert(image_path, entry)?;
    }
    tree.add_parents(&|_| None);
    Ok(tree)
}

/// The static base's passwd file (for tests and user resolution).
pub fn static_passwd() -> &'static str {
    PASSWD
}
