//! Differential test of pare's layer reader against Go's archive/tar as umoci uses it: every tricky
//! tar of `pare_fuzz::corpus` (PAX, GNU long names, old GNU sparse, base-256 numbers, odd
//! typeflags, names that are not UTF-8, links, whiteouts across layers, headers that lie) becomes
//! an image; pare's merged view (`pare::contents`, what audit, diff, sbom and scan see) must equal
//! the tree `umoci unpack` writes (path, kind, mode, owner, size, content, link target, hard-link
//! groups), or both must refuse. Where they differ, the case is in `KNOWN_DIFFERENCES` with why;
//! a difference not listed there, or a listed one that went away, fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use pare_oci::read::{ContentHash, FileKind};

use crate::support::{handmade_image, require, HandmadeLayer};

/// Cases where pare's view and umoci's tree differ on purpose, and why.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "dotdot_in_name",
        "umoci clamps `a/../../evil` to `/evil`; containerd and Docker refuse an entry that climbs \
         out of the root (their breakout check) and GNU tar skips it with an error; pare refuses",
    ),
    (
        "pax_global_header",
        "umoci refuses a PAX global header (typeflag g); containerd and Docker skip it, GNU tar \
         applies its records (here a comment and an mtime, which change no path); pare skips it",
    ),
    (
        "typeflag_contiguous",
        "umoci, containerd and Docker refuse typeflag 7 (contiguous file); GNU tar extracts it as \
         a regular file, and pare lists it as one, so nothing in it is hidden",
    ),
];

/// One path as both sides describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    link: Option<String>,
    content: Option<ContentHash>,
    /// For regular files with more than one name: the first name of the group.
    group: Option<String>,
}

fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::File | FileKind::Hardlink => "file",
        FileKind::Dir => "dir",
        FileKind::Symlink => "symlink",
        FileKind::Char => "char",
        FileKind::Block => "block",
        FileKind::Fifo => "fifo",
    }
}

/// pare's merged view of `layout:case`, or its error.
fn pare_view(layout: &Path) -> Result<BTreeMap<String, Node>, String> {
    let reference =
        pare_oci::reference::ImageRef::parse(&format!("oci:{}:case", layout.display())).unwrap();
    let contents = pare::contents::read_image(
        &reference,
        &pare::image_io::Access::default(),
        &pare::reporter::NullReporter,
    )
    .map_err(|e| e.to_string())?;
    let files = &contents.files;
    let mut view = BTreeMap::new();
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, state) in files {
        if path.is_empty() {
            continue;
        }
        let info = &state.info;
        // A hard link is its target's inode: the target's metadata and content, one group.
        let (source, group) = match info.kind {
            FileKind::Hardlink => {
                let target = info.link.clone().unwrap_or_default();
                let Some(t) = files.get(&target) else {
                    return Err(format!("hard link {path} to {target}, which is not there"));
                };
                groups
                    .entry(target.clone())
                    .or_insert_with(|| BTreeSet::from([target.clone()]))
                    .insert(path.clone());
                (&t.info, Some(target))
            }
            _ => (info, None),
        };
        view.insert(
            path.clone(),
            Node {
                kind: kind_name(source.kind),
                mode: source.mode & 0o7777,
                uid: source.uid,
                gid: source.gid,
                size: if source.kind == FileKind::File {
                    source.size
                } else {
                    0
                },
                link: (source.kind == FileKind::Symlink)
                    .then(|| source.link.clone())
                    .flatten(),
                content: source.content,
                group,
            },
        );
    }
    // Every name of a group (the target is one of them) is named by its first name, on both
    // sides alike.
    for names in groups.values() {
        let first = names.iter().next().cloned();
        for name in names {
            if let Some(node) = view.get_mut(name) {
                node.group.clone_from(&first);
            }
        }
    }
    Ok(view)
}

/// What `umoci unpack` wrote for `layout:case`, or its error. Directories the tar never named
/// (made by umoci for an entry below them) are left out, as pare's view does not list them.
fn umoci_tree(layout: &Path, work: &Path) -> Result<BTreeMap<String, Node>, String> {
    let bundle = work.join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:case", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let root = bundle.join("rootfs");
    let mut tree = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), BTreeSet<String>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&root).min_depth(1) {
        let entry = entry.map_err(|e| e.to_string())?;
        use std::os::unix::ffi::OsStrExt;
        let relative = entry.path().strip_prefix(&root).unwrap();
        let path = pare_oci::read::name_string(relative.as_os_str().as_bytes());
        let meta = entry.path().symlink_metadata().unwrap();
        let file_type = meta.file_type();
        let kind = if file_type.is_file() {
            "file"
        } else if file_type.is_dir() {
            "dir"
        } else if file_type.is_symlink() {
            "symlink"
        } else if file_type.is_char_device() {
            "char"
        } else if file_type.is_block_device() {
            "block"
        } else {
            "fifo"
        };
        if kind == "file" && meta.nlink() > 1 {
            inodes
                .entry((meta.dev(), meta.ino()))
                .or_default()
                .insert(path.clone());
        }
        tree.insert(
            path,
            Node {
                kind,
                mode: meta.mode() & 0o7777,
                uid: u64::from(meta.uid()),
                gid: u64::from(meta.gid()),
                size: if kind == "file" { meta.len() } else { 0 },
                link: (kind == "symlink").then(|| {
                    pare_oci::read::name_string(
                        fs::read_link(entry.path()).unwrap().as_os_str().as_bytes(),
                    )
                }),
                content: (kind == "file")
                    .then(|| ContentHash::of(&fs::read(entry.path()).unwrap())),
                group: None,
            },
        );
    }
    for names in inodes.values() {
        let first = names.iter().next().cloned();
        for name in names {
            if let Some(node) = tree.get_mut(name) {
                node.group.clone_from(&first);
            }
        }
    }
    Ok(tree)
}

/// How the two sides differ, one line per path, empty when they agree.
fn differences(
    pare: &Result<BTreeMap<String, Node>, String>,
    umoci: &Result<BTreeMap<String, Node>, String>,
) -> Vec<String> {
    match (pare, umoci) {
        (Err(_), Err(_)) => Vec::new(),
        (Err(e), Ok(_)) => vec![format!("pare refuses ({e}), umoci unpacks it")],
        (Ok(_), Err(e)) => vec![format!("umoci refuses ({e}), pare reads it")],
        (Ok(p), Ok(u)) => {
            let mut out = Vec::new();
            for (path, node) in p {
                match u.get(path) {
                    Some(other) if other == node => {}
                    Some(other) => out.push(format!("{path}: pare {node:?}, umoci {other:?}")),
                    None => out.push(format!("{path}: only pare lists it ({node:?})")),
                }
            }
            for (path, node) in u {
                let implicit_dir =
                    node.kind == "dir" && p.keys().any(|k| k.starts_with(&format!("{path}/")));
                if !p.contains_key(path) && !implicit_dir {
                    out.push(format!("{path}: only umoci wrote it ({node:?})"));
                }
            }
            out
        }
    }
}

#[test]
fn pare_sees_each_tricky_tar_as_umoci_unpacks_it() {
    if !require("umoci") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let mut found: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut agreed = Vec::new();
    for case in pare_fuzz::corpus::tricky_tars() {
        let dir = work.path().join(case.name);
        let layout = dir.join("oci");
        let layers: Vec<_> = case.layers.iter().map(|l| HandmadeLayer::tar(l)).collect();
        handmade_image(
            &layout,
            "case",
            &layers,
            serde_json::json!({"Entrypoint": ["/x"]}),
        );
        let pare = pare_view(&layout);
        let umoci = umoci_tree(&layout, &dir);
        let diff = differences(&pare, &umoci);
        if diff.is_empty() {
            agreed.push(format!(
                "{}: {}",
                case.name,
                match &pare {
                    Ok(view) => format!("both read {} paths", view.len()),
                    Err(_) => "both refuse".to_string(),
                }
            ));
        } else {
            found.insert(case.name, diff);
        }
    }
    eprintln!("agreed:\n  {}", agreed.join("\n  "));
    let known: BTreeSet<&str> = KNOWN_DIFFERENCES.iter().map(|(c, _)| *c).collect();
    let unexplained: Vec<String> = found
        .iter()
        .filter(|(case, _)| !known.contains(*case))
        .map(|(case, diff)| format!("{case}:\n    {}", diff.join("\n    ")))
        .collect();
    let gone: Vec<&&str> = known.iter().filter(|c| !found.contains_key(**c)).collect();
    for (case, why) in KNOWN_DIFFERENCES {
        if let Some(diff) = found.get(case) {
            eprintln!(
                "known difference {case} ({why}):\n    {}",
                diff.join("\n    ")
            );
        }
    }
    assert!(
        unexplained.is_empty(),
        "pare and umoci differ:\n{}",
        unexplained.join("\n")
    );
    assert!(
        gone.is_empty(),
        "listed differences that went away: {gone:?}"
    );
}
