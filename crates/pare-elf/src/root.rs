//! The file tree a loader looks in, as a trait: the build host's `/` or a sysroot ([`HostRoot`]), an
//! image tree being built, or an image being read (implemented in `pare` over its own trees). The
//! closure and the start check ask it what is at a path, for a file's bytes and ELF facts, and for a
//! directory's names, and never see where the tree really lives. Not here: resolving paths (the
//! closure walks them itself, recording every symlink it meets).

use std::io::Read;
use std::path::PathBuf;

use crate::{inspect, is_elf, ElfFacts, Error};

/// What is at a path of a root, without following a symlink in its last component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Dir,
    /// A regular file.
    File,
    /// A symlink with its target.
    Symlink(String),
    /// A hard link to another path of the tree (a layer's `link` entry): the same file.
    Hardlink(String),
    /// A device, fifo or socket.
    Other,
}

/// A tree of files with absolute paths (`/usr/lib/libc.so.6`).
pub trait Root {
    /// What is at `path`, or None when nothing is.
    fn node(&self, path: &str) -> Option<Node>;

    /// Up to `limit` leading bytes of the regular file at `path`.
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, Error>;

    /// The names in the directory `dir` (for `include` globs in ld.so.conf), in any order.
    fn names_in(&self, dir: &str) -> Vec<String>;

    /// The permission bits and owner of the file at `path`, when the root knows them.
    fn mode(&self, _path: &str) -> Option<(u32, u32, u32)> {
        None
    }

    /// The ELF facts of the regular file at `path`: None when it is no ELF file (or one that cannot
    /// be parsed). Roots that already know the facts (an image read once) answer without reading.
    fn elf_facts(&self, path: &str) -> Result<Option<ElfFacts>, Error> {
        let bytes = self.read(path, MAX_OBJECT)?;
        if !is_elf(&bytes) {
            return Ok(None);
        }
        Ok(inspect(&bytes).ok())
    }

    /// Where the bytes of `path` can be copied from, for closures that become layers: a host path
    /// for a directory root; the path itself for trees that are already images.
    fn source(&self, path: &str) -> PathBuf {
        PathBuf::from(path)
    }

    /// A root searched whole before this one, for a root that layers one tree in front of another
    /// (the image being built in front of the build host): the loader's search for a library runs
    /// in it first, and only what it lacks is looked for in this root. None for a plain root.
    fn front(&self) -> Option<&dyn Root> {
        None
    }
}

/// Largest shared object read.
pub const MAX_OBJECT: u64 = 1 << 30;

/// A directory of the build host playing `/` (the host's own root, or a sysroot). Symlinks are
/// reported as they are; the closure keeps every walk inside the root.
#[derive(Clone, Debug)]
pub struct HostRoot {
    pub dir: PathBuf,
}

impl HostRoot {
    /// A root at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn host(&self, path: &str) -> PathBuf {
        self.dir.join(path.trim_start_matches('/'))
    }
}

impl Root for HostRoot {
    fn node(&self, path: &str) -> Option<Node> {
        let host = self.host(path);
        let meta = std::fs::symlink_metadata(&host).ok()?;
        let kind = meta.file_type();
        Some(if kind.is_symlink() {
            Node::Symlink(std::fs::read_link(&host).ok()?.to_str()?.to_string())
        } else if kind.is_dir() {
            Node::Dir
        } else if kind.is_file() {
            Node::File
        } else {
            Node::Other
        })
    }

    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, Error> {
        let host = self.host(path);
        let io = |e| Error::Io {
            path: host.display().to_string(),
            source: e,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(&host)
            .map_err(io)?
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        Ok(bytes)
    }

    fn names_in(&self, dir: &str) -> Vec<String> {
        std::fs::read_dir(self.host(dir))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn mode(&self, path: &str) -> Option<(u32, u32, u32)> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(self.host(path)).ok()?;
        Some((meta.mode() & 0o7777, meta.uid(), meta.gid()))
    }

    fn source(&self, path: &str) -> PathBuf {
        self.host(path)
    }
}
