//! Turns `--copy` specs into layer entries: files, whole directories (recursively, symlinks kept as
//! symlinks, hard links kept as links), with exact modes and numeric owners. Special files are refused.
//! Setuid/setgid bits from the source are dropped unless the mode is given explicitly.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use pare_oci::tree::{normalize_image_path, Entry, EntryKind, FileSource, LayerTree};
use walkdir::WalkDir;

use super::options::CopySpec;
use crate::{Error, Reporter, Result};

/// Adds every copy to `tree` (later copies replace earlier ones at the same path).
/// `base_dir` resolves relative sources (the directory of pare.toml, or the working directory).
pub fn add_copies(
    tree: &mut LayerTree,
    copies: &[CopySpec],
    reporter: &dyn Reporter,
) -> Result<()> {
    for spec in copies {
        add_copy(tree, spec, reporter)?;
    }
    Ok(())
}

fn add_copy(tree: &mut LayerTree, spec: &CopySpec, reporter: &dyn Reporter) -> Result<()> {
    let src = &spec.src;
    let meta = fs::metadata(src).map_err(|e| {
        Error::Input(format!(
            "copy source {} cannot be read: {e}; check the path (relative paths start at the directory of pare.toml or the current directory)",
            src.display()
        ))
    })?;
    let dst_is_dir = spec.dst.ends_with('/');
    let dst = normalize_image_path(&spec.dst)
        .map_err(|e| Error::Input(format!("copy destination {:?}: {e}", spec.dst)))?;
    let uid = spec.uid.unwrap_or(0);
    let gid = spec.gid.unwrap_or(0);
    if meta.is_dir() {
        return add_directory(tree, spec, &dst, uid, gid, reporter);
    }
    let target = if dst_is_dir {
        let name = src.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            Error::Input(format!(
                "copy source {} has no usable file name",
                src.display()
            ))
        })?;
        join(&dst, name)
    } else {
        dst
    };
    if target.is_empty() {
        return Err(Error::Input(format!(
            "copy destination {:?} is the root directory; a file needs a name (for example /app)",
            spec.dst
        )));
    }
    let entry = file_entry(src, &meta, spec, uid, gid, reporter)?;
    tree.insert(target, entry)
        .map_err(|e| Error::Input(format!("--copy {}: {e}", src.display())))
}

fn add_directory(
    tree: &mut LayerTree,
    spec: &CopySpec,
    dst: &str,
    uid: u32,
    gid: u32,
    reporter: &dyn Reporter,
) -> Result<()> {
    let mut seen_inodes: HashMap<(u64, u64), String> = HashMap::new();
    for item in WalkDir::new(&spec.src)
        .follow_links(false)
        .sort_by_file_name()
    {
        let item = item.map_err(|e| {
            Error::Input(format!("reading copy source {}: {e}", spec.src.display()))
        })?;
        let rel = item.path().strip_prefix(&spec.src).map_err(|_| {
            Error::Input(format!(
                "unexpected path {} below {}",
                item.path().display(),
                spec.src.display()
            ))
        })?;
        let rel = rel.to_str().ok_or_else(|| {
            Error::Input(format!(
                "{} is not valid UTF-8; pare only writes UTF-8 paths",
                item.path().display()
            ))
        })?;
        let image_path = join(dst, rel);
        let meta = item
            .path()
            .symlink_metadata()
            .map_err(|e| Error::Input(format!("{}: {e}", item.path().display())))?;
        let file_type = meta.file_type();
        let entry = if file_type.is_dir() {
            if image_path.is_empty() {
                // Copying into "/" must not change the root directory's mode.
                continue;
            }
            Entry::owned(
                EntryKind::Directory,
                without_setid(meta.mode(), item.path(), reporter),
                uid,
                gid,
            )
        } else if file_type.is_symlink() {
            let target = fs::read_link(item.path()).map_err(Error::io("read link", item.path()))?;
            let target = target.to_str().ok_or_else(|| {
                Error::Input(format!(
                    "link target of {} is not valid UTF-8",
                    item.path().display()
                ))
            })?;
            Entry::owned(
                EntryKind::Symlink {
                    target: target.to_string(),
                },
                0o777,
                uid,
                gid,
            )
        } else if file_type.is_file() {
            let inode = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = seen_inodes.get(&inode) {
                    let entry = Entry::owned(
                        EntryKind::Hardlink {
                            target: first.clone(),
                        },
                        0o644,
                        uid,
                        gid,
                    );
                    tree.insert(image_path, entry)
                        .map_err(|e| Error::Input(format!("--copy {}: {e}", spec.src.display())))?;
                    continue;
                }
                seen_inodes.insert(inode, image_path.clone());
            }
            file_entry(item.path(), &meta, spec, uid, gid, reporter)?
        } else {
            return Err(special_file(item.path(), &file_type));
        };
        tree.insert(image_path, entry)
            .map_err(|e| Error::Input(format!("--copy {}: {e}", spec.src.display())))?;
    }
    Ok(())
}

fn file_entry(
    path: &Path,
    meta: &fs::Metadata,
    spec: &CopySpec,
    uid: u32,
    gid: u32,
    reporter: &dyn Reporter,
) -> Result<Entry> {
    if !meta.is_file() {
        return Err(special_file(path, &meta.file_type()));
    }
    let mode = match spec.mode {
        Some(mode) => mode,
        None => without_setid(meta.mode(), path, reporter),
    };
    Ok(Entry::owned(
        EntryKind::File {
            source: FileSource::Host(path.to_path_buf()),
            size: meta.len(),
        },
        mode,
        uid,
        gid,
    ))
}

fn without_setid(mode: u32, path: &Path, reporter: &dyn Reporter) -> u32 {
    let mode = mode & 0o7777;
    if mode & 0o6000 != 0 {
        reporter.warn(&format!(
            "{}: dropped the setuid/setgid bit; give the mode explicitly (SRC:DST:MODE) to keep it",
            path.display()
        ));
    }
    mode & !0o6000
}

fn special_file(path: &Path, file_type: &fs::FileType) -> Error {
    let kind = if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_char_device() {
        "a character device"
    } else {
        "a special file"
    };
    Error::Input(format!(
        "copy source {} is {kind}; pare copies regular files, directories and symlinks only",
        path.display()
    ))
}

fn join(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (_, true) => dir.to_string(),
        (true, false) => name.to_string(),
        (false, false) => format!("{dir}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NullReporter;
    use std::os::unix::fs::PermissionsExt;

    fn spec(src: &Path, dst: &str) -> CopySpec {
        CopySpec {
            platform: None,
            src: src.to_path_buf(),
            dst: dst.into(),
            mode: None,
            uid: None,
            gid: None,
        }
    }

    #[test]
    fn directories_keep_links_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("app");
        fs::create_dir_all(root.join("lib")).unwrap();
        fs::write(root.join("lib/a.so"), b"a").unwrap();
        fs::set_permissions(root.join("lib/a.so"), fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink("a.so", root.join("lib/b.so")).unwrap();
        fs::hard_link(root.join("lib/a.so"), root.join("lib/c.so")).unwrap();
        let mut tree = LayerTree::new();
        add_copies(&mut tree, &[spec(&root, "/opt/app")], &NullReporter).unwrap();
        assert_eq!(
            tree.get("opt/app/lib/a.so").unwrap().mode,
            0o755,
            "setuid dropped"
        );
        assert_eq!(
            tree.get("opt/app/lib/b.so").unwrap().kind,
            EntryKind::Symlink {
                target: "a.so".into()
            }
        );
        assert_eq!(
            tree.get("opt/app/lib/c.so").unwrap().kind,
            EntryKind::Hardlink {
                target: "opt/app/lib/a.so".into()
            }
        );
    }

    #[test]
    fn trailing_slash_keeps_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tool");
        fs::write(&file, b"x").unwrap();
        let mut tree = LayerTree::new();
        add_copies(&mut tree, &[spec(&file, "/usr/bin/")], &NullReporter).unwrap();
        assert!(tree.get("usr/bin/tool").is_some());
    }

    #[test]
    fn fifos_and_escapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let mut tree = LayerTree::new();
        let err = add_copies(&mut tree, &[spec(&fifo, "/p")], &NullReporter).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        let err = add_copies(&mut tree, &[spec(&file, "/../etc/x")], &NullReporter).unwrap_err();
        assert!(err.to_string().contains(".."), "{err}");
        let err = add_copies(
            &mut tree,
            &[spec(&dir.path().join("missing"), "/x")],
            &NullReporter,
        )
        .unwrap_err();
        assert!(err.to_string().contains("cannot be read"), "{err}");
    }
}
