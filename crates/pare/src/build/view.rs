//! The merged filesystem of an image being built (every layer applied in order), used to check what
//! the finished image will contain: does the entrypoint exist, is its loader there, who is user `app`.
//! Path resolution follows symlinks the way the kernel would inside the image root, never outside it.

use std::collections::VecDeque;

use pare_oci::tree::{Entry, EntryKind, FileSource, LayerTree};

use crate::{Error, Result};

/// Longest chain of symlinks followed before giving up (the kernel's limit is 40).
const MAX_SYMLINK_HOPS: usize = 40;

/// Why a path does not resolve in the image.
#[derive(Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// Nothing at this path (normalized, without leading `/`).
    Missing(String),
    /// A component that must be a directory is something else.
    NotADirectory(String),
    /// Too many symlinks.
    Loop,
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unresolved::Missing(p) => write!(f, "/{p} does not exist in the image"),
            Unresolved::NotADirectory(p) => write!(f, "/{p} is not a directory in the image"),
            Unresolved::Loop => write!(f, "too many levels of symbolic links"),
        }
    }
}

/// The image's merged file tree.
#[derive(Default)]
pub struct ImageView {
    tree: LayerTree,
}

impl ImageView {
    /// Applies a layer on top of what is there.
    pub fn apply(&mut self, layer: &LayerTree) -> Result<()> {
        for (path, entry) in layer.iter() {
            self.tree.insert(path.clone(), entry.clone())?;
        }
        Ok(())
    }

    /// The entry stored at a normalized path, without following symlinks.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.tree.get(path)
    }

    /// Resolves an absolute or root-relative path, following symlinks (also in the middle of the path)
    /// and hard links, and returns the final normalized path and entry.
    pub fn resolve(&self, path: &str) -> std::result::Result<(String, &Entry), Unresolved> {
        let mut queue: VecDeque<String> = path.split('/').map(str::to_string).collect();
        let mut current: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(component) = queue.pop_front() {
            match component.as_str() {
                "" | "." => continue,
                ".." => {
                    current.pop();
                    continue;
                }
                _ => {}
            }
            current.push(component);
            let key = current.join("/");
            let Some(entry) = self.tree.get(&key) else {
                return Err(Unresolved::Missing(key));
            };
            match &entry.kind {
                EntryKind::Symlink { target } => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(Unresolved::Loop);
                    }
                    current.pop();
                    if target.starts_with('/') {
                        current.clear();
                    }
                    for part in target.split('/').rev() {
                        queue.push_front(part.to_string());
                    }
                }
                EntryKind::Directory => {}
                _ if !queue.iter().all(|c| c.is_empty() || c == ".") => {
                    return Err(Unresolved::NotADirectory(key));
                }
                _ => {}
            }
        }
        let key = current.join("/");
        match self.tree.get(&key) {
            Some(Entry {
                kind: EntryKind::Hardlink { target },
                ..
            }) => {
                let target = target.clone();
                self.tree
                    .get(&target)
                    .map(|e| (target.clone(), e))
                    .ok_or(Unresolved::Missing(target))
            }
            Some(entry) => Ok((key, entry)),
            None if key.is_empty() => Err(Unresolved::Missing(key)),
            None => Err(Unresolved::Missing(key)),
        }
    }

    /// Reads up to `limit` bytes of a regular file in the image.
    pub fn read_file(&self, entry: &Entry, limit: u64) -> Result<Vec<u8>> {
        match &entry.kind {
            EntryKind::File {
                source: FileSource::Bytes(bytes),
                ..
            } => Ok(bytes[..bytes
                .len()
                .min(usize::try_from(limit).unwrap_or(usize::MAX))]
                .to_vec()),
            EntryKind::File {
                source: FileSource::Host(path),
                ..
            } => {
                use std::io::Read;
                let file = std::fs::File::open(path).map_err(Error::io("open", path))?;
                let mut bytes = Vec::new();
                file.take(limit)
                    .read_to_end(&mut bytes)
                    .map_err(Error::io("read", path))?;
                Ok(bytes)
            }
            _ => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> ImageView {
        let mut tree = LayerTree::new();
        tree.insert("usr/bin/app".into(), Entry::bytes(&b"x"[..], 0o755))
            .unwrap();
        tree.insert("bin".into(), Entry::symlink("usr/bin"))
            .unwrap();
        tree.insert("usr/bin/alias".into(), Entry::symlink("../bin/app"))
            .unwrap();
        tree.insert("abs".into(), Entry::symlink("/usr/bin/alias"))
            .unwrap();
        tree.insert("loop".into(), Entry::symlink("loop")).unwrap();
        tree.insert("escape".into(), Entry::symlink("../../../../usr/bin/app"))
            .unwrap();
        tree.add_parents(&|_| None);
        let mut view = ImageView::default();
        view.apply(&tree).unwrap();
        view
    }

    #[test]
    fn follows_links_in_the_middle_and_at_the_end() {
        let v = view();
        assert_eq!(v.resolve("/bin/app").unwrap().0, "usr/bin/app");
        assert_eq!(v.resolve("/abs").unwrap().0, "usr/bin/app");
        assert_eq!(
            v.resolve("/escape").unwrap().0,
            "usr/bin/app",
            ".. stops at the image root"
        );
        assert_eq!(v.resolve("/loop").unwrap_err(), Unresolved::Loop);
        assert_eq!(
            v.resolve("/nope").unwrap_err(),
            Unresolved::Missing("nope".into())
        );
        assert_eq!(
            v.resolve("/usr/bin/app/x").unwrap_err(),
            Unresolved::NotADirectory("usr/bin/app".into())
        );
    }
}
