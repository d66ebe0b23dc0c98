//! The merged filesystem of an image being built (every layer applied in order), used to check what
//! the finished image will contain: does the entrypoint exist, is its loader there, who is user `app`.
//! Path resolution follows symlinks the way the kernel would inside the image root, never outside it.

use pare_oci::tree::{Entry, EntryKind, FileSource, LayerTree};

use crate::paths::Node;
use crate::{Error, Result};

pub use crate::paths::Unresolved;

/// The image's merged file tree.
#[derive(Clone, Default)]
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

    /// The names directly inside the directory at the normalized path `dir` (`""` for the root),
    /// without following symlinks.
    pub fn names_in(&self, dir: &str) -> Vec<String> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.tree
            .iter()
            .filter_map(|(path, _)| path.strip_prefix(&prefix))
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .map(str::to_string)
            .collect()
    }

    /// Resolves an absolute or root-relative path, following symlinks (also in the middle of the path)
    /// and hard links, and returns the final normalized path and entry.
    pub fn resolve(&self, path: &str) -> std::result::Result<(String, &Entry), Unresolved> {
        let key = crate::paths::resolve(path, |k| {
            self.tree.get(k).map(|e| match &e.kind {
                EntryKind::Directory => Node::Dir,
                EntryKind::Symlink { target } => Node::Symlink(target),
                EntryKind::Hardlink { target } => Node::Hardlink(target),
                EntryKind::File { .. } => Node::Other,
            })
        })?;
        self.tree
            .get(&key)
            .map(|e| (key.clone(), e))
            .ok_or(Unresolved::Missing(key))
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
