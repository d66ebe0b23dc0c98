//! The file tree of one layer, as pare means to write it: normalized paths, exact metadata, and where each
//! file's bytes come from. Sorting and parent directories live here so every writer gets them for free.
//! Not a filesystem walker: collecting entries from the host is the `pare` crate's job.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::{Error, Result};

/// Where a regular file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileSource {
    /// A file on the build host, read when the layer is written; its size is checked again then.
    Host(PathBuf),
    /// Bytes pare made itself (passwd, os-release, ...).
    Bytes(Arc<[u8]>),
}

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File {
        source: FileSource,
        size: u64,
    },
    Symlink {
        target: String,
    },
    /// A hard link to another path in the same layer (normalized, without leading `/`).
    Hardlink {
        target: String,
    },
}

/// One entry of a layer, with the metadata that goes into its tar header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    /// Permission bits including setuid/setgid/sticky (`0o7777` at most).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Entry {
    /// A directory owned by root.
    pub fn dir(mode: u32) -> Self {
        Self::owned(EntryKind::Directory, mode, 0, 0)
    }

    /// A root-owned file holding `bytes`.
    pub fn bytes(bytes: impl Into<Arc<[u8]>>, mode: u32) -> Self {
        let bytes: Arc<[u8]> = bytes.into();
        let size = bytes.len() as u64;
        Self::owned(
            EntryKind::File {
                source: FileSource::Bytes(bytes),
                size,
            },
            mode,
            0,
            0,
        )
    }

    /// A root-owned symlink.
    pub fn symlink(target: impl Into<String>) -> Self {
        Self::owned(
            EntryKind::Symlink {
                target: target.into(),
            },
            0o777,
            0,
            0,
        )
    }

    /// Any entry with an owner.
    pub fn owned(kind: EntryKind, mode: u32, uid: u32, gid: u32) -> Self {
        Self {
            kind,
            mode: mode & 0o7777,
            uid,
            gid,
        }
    }

    /// True for directories.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, EntryKind::Directory)
    }
}

/// Normalizes an absolute image path (`/usr/bin/app`) into the key form used in trees (`usr/bin/app`).
/// Refuses relative paths, `..`, NUL bytes and empty results so that no entry can point outside the root.
pub fn normalize_image_path(path: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(Error::Invalid(format!(
            "image path {path:?} is not absolute; write it as /{path}"
        )));
    }
    if path.contains('\0') {
        return Err(Error::Invalid(format!(
            "image path {path:?} contains a NUL byte"
        )));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Error::Invalid(format!(
                "image path {path:?} contains '..'; give the destination as a plain absolute path"
            )))
            }
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

/// The files of one layer, keyed by normalized path (`""` is the root directory).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerTree {
    entries: BTreeMap<String, Entry>,
}

impl LayerTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces an entry at a normalized path. Refuses to turn a directory that has
    /// children into something else, or to put an entry below a non-directory.
    pub fn insert(&mut self, path: String, entry: Entry) -> Result<()> {
        // Every runtime reads `.wh.NAME` as "delete NAME below" and `.wh..wh..opq` as "hide this
        // directory's lower contents": such a name would silently remove files of the base.
        if let Some(name) = path.split('/').find(|c| c.starts_with(".wh.")) {
            let hidden = name.strip_prefix(".wh.").unwrap_or(name);
            return Err(Error::Invalid(format!(
                "/{path}: a name starting with .wh. is a whiteout to every container runtime (it would \
                 delete {} from the layers below); rename it",
                if hidden == ".wh..opq" {
                    "the directory's contents".to_string()
                } else {
                    format!("{hidden:?}")
                }
            )));
        }
        if let Some(existing) = self.entries.get(&path) {
            if existing.is_dir() && !entry.is_dir() && self.has_children(&path) {
                return Err(Error::Invalid(format!(
                    "/{path} is a directory with contents; it cannot be replaced by a file or link"
                )));
            }
        }
        let mut ancestor = path.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            if let Some(existing) = self.entries.get(parent) {
                if !existing.is_dir() {
                    return Err(Error::Invalid(format!(
                        "cannot place /{path}: /{parent} is not a directory"
                    )));
                }
            }
            ancestor = parent;
        }
        self.entries.insert(path, entry);
        Ok(())
    }

    fn has_children(&self, path: &str) -> bool {
        let prefix = format!("{path}/");
        self.entries
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// The entry at a normalized path.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Entries in tar order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the tree has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds every missing parent directory (and the root), taking each one's metadata from
    /// `lower` when a lower layer already has it (so `/tmp` stays 1777), else root-owned 0755.
    pub fn add_parents(&mut self, lower: &dyn Fn(&str) -> Option<Entry>) {
        let mut missing = Vec::new();
        for path in self.entries.keys() {
            let mut current = path.as_str();
            while let Some((parent, _)) = current.rsplit_once('/') {
                if !self.entries.contains_key(parent) {
                    missing.push(parent.to_string());
                }
                current = parent;
            }
            if !path.is_empty() && !self.entries.contains_key("") {
                missing.push(String::new());
            }
        }
        for path in missing {
            let entry = lower(&path)
                .filter(Entry::is_dir)
                .unwrap_or_else(|| Entry::dir(0o755));
            self.entries.entry(path).or_insert(entry);
        }
    }

    /// Keeps only the entries for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &Entry) -> bool) {
        self.entries.retain(|path, entry| keep(path, entry));
    }

    /// Total size of regular file contents.
    pub fn content_size(&self) -> u64 {
        self.entries
            .values()
            .map(|e| match &e.kind {
                EntryKind::File { size, .. } => *size,
                _ => 0,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteout_names_are_refused() {
        let mut tree = LayerTree::new();
        for bad in [".wh.etc", "app/.wh..wh..opq", ".wh.x/y"] {
            let err = tree
                .insert(bad.into(), Entry::dir(0o755))
                .unwrap_err()
                .to_string();
            assert!(err.contains("whiteout"), "{bad}: {err}");
        }
        assert!(tree
            .insert("app/not.wh.x".into(), Entry::dir(0o755))
            .is_ok());
    }

    #[test]
    fn normalize_refuses_escapes_and_relative_paths() {
        assert_eq!(
            normalize_image_path("/usr//bin/./app").unwrap(),
            "usr/bin/app"
        );
        assert_eq!(normalize_image_path("/").unwrap(), "");
        assert!(normalize_image_path("../etc").is_err());
        assert!(normalize_image_path("/a/../../etc").is_err());
        assert!(normalize_image_path("app").is_err());
        assert!(normalize_image_path("/a\0b").is_err());
    }

    #[test]
    fn parents_take_lower_metadata() {
        let mut tree = LayerTree::new();
        tree.insert("tmp/x/y".into(), Entry::bytes(&b"hi"[..], 0o644))
            .unwrap();
        let lower = |p: &str| (p == "tmp").then(|| Entry::dir(0o1777));
        tree.add_parents(&lower);
        let paths: Vec<_> = tree.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(paths, ["", "tmp", "tmp/x", "tmp/x/y"]);
        assert_eq!(tree.get("tmp").unwrap().mode, 0o1777);
        assert_eq!(tree.get("tmp/x").unwrap().mode, 0o755);
        assert_eq!(tree.get("").unwrap().mode, 0o755);
    }

    #[test]
    fn a_file_cannot_sit_below_a_file() {
        let mut tree = LayerTree::new();
        tree.insert("app".into(), Entry::bytes(&b"x"[..], 0o755))
            .unwrap();
        assert!(tree
            .insert("app/x".into(), Entry::bytes(&b"x"[..], 0o644))
            .is_err());
        let mut tree = LayerTree::new();
        tree.insert("d/f".into(), Entry::bytes(&b"x"[..], 0o644))
            .unwrap();
        tree.insert("d".into(), Entry::dir(0o755)).unwrap();
        assert!(tree
            .insert("d".into(), Entry::bytes(&b"x"[..], 0o644))
            .is_err());
    }
}
