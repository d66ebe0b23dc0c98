//! The deterministic layer writer: a [`LayerTree`] becomes a tar stream (sorted, numeric owners, fixed
//! mtime, no user or group names), compressed and hashed in one pass into a blob of the store. The same
//! tree always gives the same diff_id and, for a given compression, the same digest.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::compress::{Compression, Compressor};
use crate::digest::HashingWriter;
use crate::layout::Layout;
use crate::tree::{EntryKind, FileSource, LayerTree};
use crate::{Error, Result};

/// A layer blob in the store, with the facts a manifest and config need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenLayer {
    /// Digest of the blob as stored (compressed).
    pub digest: String,
    /// Digest of the uncompressed tar (what goes in the config's `rootfs.diff_ids`).
    pub diff_id: String,
    /// Size of the blob in bytes.
    pub size: u64,
    /// Size of the uncompressed tar in bytes.
    pub uncompressed_size: u64,
    pub compression: Compression,
    /// True when the blob was already in the store and nothing was compressed.
    pub reused: bool,
}

impl WrittenLayer {
    /// The OCI media type of the blob.
    pub fn media_type(&self) -> &'static str {
        self.compression.layer_media_type()
    }
}

/// Read size for host files.
const READ_BUFFER: usize = 1 << 20;

/// Writes the tar stream of `tree` into `out`, every entry with mtime `mtime`.
pub fn write_tar<W: Write>(tree: &LayerTree, mtime: u64, out: W) -> Result<W> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let fail = |path: &str| Error::io("write the tar entry for", format!("/{path}"));
    for (path, entry) in tree.iter() {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(mtime);
        header.set_uid(u64::from(entry.uid));
        header.set_gid(u64::from(entry.gid));
        header.set_mode(entry.mode);
        header.set_size(0);
        match &entry.kind {
            EntryKind::Directory => {
                header.set_entry_type(tar::EntryType::Directory);
                let name = if path.is_empty() {
                    "./".to_string()
                } else {
                    format!("{path}/")
                };
                builder
                    .append_data(&mut header, name, io::empty())
                    .map_err(fail(path))?;
            }
            EntryKind::File { source, size } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(*size);
                match source {
                    FileSource::Bytes(bytes) => builder
                        .append_data(&mut header, path, &bytes[..])
                        .map_err(fail(path))?,
                    FileSource::Host(host) => {
                        let file = File::open(host).map_err(Error::io("open", host))?;
                        // Big reads: the tar writer copies through a small buffer, which would mean
                        // one syscall per 8 KiB.
                        let reader = io::BufReader::with_capacity(
                            READ_BUFFER,
                            ExactReader::new(file, *size, host),
                        );
                        builder
                            .append_data(&mut header, path, reader)
                            .map_err(Error::io("read", host))?;
                    }
                }
            }
            EntryKind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                builder
                    .append_link(&mut header, path, target)
                    .map_err(fail(path))?;
            }
            EntryKind::Hardlink { target } => {
                header.set_entry_type(tar::EntryType::Link);
                builder
                    .append_link(&mut header, path, target)
                    .map_err(fail(path))?;
            }
        }
    }
    builder.into_inner().map_err(fail("(end of archive)"))
}

/// Computes the diff_id and uncompressed size of `tree` without compressing or storing anything;
/// used to find an already stored layer for the same content.
pub fn diff_id(tree: &LayerTree, mtime: u64) -> Result<(String, u64)> {
    let hashing = write_tar(tree, mtime, HashingWriter::new(io::sink()))?;
    let (_, digest, size) = hashing.finish();
    Ok((digest, size))
}

/// Writes `tree` as a layer blob into `layout`, compressing and hashing in one streaming pass.
/// Must be called from a plain thread, not a rayon worker (gzip blocks run on the rayon pool).
pub fn write_layer(
    tree: &LayerTree,
    mtime: u64,
    compression: Compression,
    layout: &Layout,
) -> Result<WrittenLayer> {
    write_layer_at(
        tree,
        mtime,
        compression,
        crate::compress::GZIP_LEVEL,
        layout,
    )
}

/// [`write_layer`] with an explicit gzip level (for layers built once and reused many times).
pub fn write_layer_at(
    tree: &LayerTree,
    mtime: u64,
    compression: Compression,
    gzip_level: u32,
    layout: &Layout,
) -> Result<WrittenLayer> {
    let (temp, temp_path) = layout.temp_blob()?;
    let fail_write = || Error::io("write layer blob", temp_path.clone());
    let stored = HashingWriter::new(BufWriter::with_capacity(1 << 20, temp));
    let compressor =
        Compressor::with_gzip_level(compression, stored, gzip_level).map_err(fail_write())?;
    let tar_hasher = write_tar(tree, mtime, HashingWriter::new(compressor))?;
    let (compressor, diff_id, uncompressed_size) = tar_hasher.finish();
    let stored = compressor.finish().map_err(fail_write())?;
    let (buffered, digest, size) = stored.finish();
    let temp = buffered
        .into_inner()
        .map_err(|e| fail_write()(e.into_error()))?;
    layout.commit_blob(temp, &digest)?;
    Ok(WrittenLayer {
        digest,
        diff_id,
        size,
        uncompressed_size,
        compression,
        reused: false,
    })
}

/// Compresses the uncompressed (plain tar) layer blob `digest` of `from` into `to` with
/// `compression`, in one streaming pass that also checks the stored blob against its digest. The
/// diff_id stays what it was: the plain blob's own digest. Must be called from a plain thread.
pub fn compress_plain_blob(
    from: &Layout,
    digest: &str,
    size: u64,
    compression: Compression,
    to: &Layout,
) -> Result<WrittenLayer> {
    let (temp, temp_path) = to.temp_blob()?;
    let fail_write = || Error::io("write layer blob", temp_path.clone());
    let stored = HashingWriter::new(BufWriter::with_capacity(1 << 20, temp));
    let mut compressor = Compressor::new(compression, stored).map_err(fail_write())?;
    from.copy_blob(digest, size, &mut compressor)?;
    let stored = compressor.finish().map_err(fail_write())?;
    let (buffered, compressed_digest, compressed_size) = stored.finish();
    let temp = buffered
        .into_inner()
        .map_err(|e| fail_write()(e.into_error()))?;
    to.commit_blob(temp, &compressed_digest)?;
    Ok(WrittenLayer {
        digest: compressed_digest,
        diff_id: digest.to_string(),
        size: compressed_size,
        uncompressed_size: size,
        compression,
        reused: false,
    })
}

/// Reads exactly `expected` bytes from a host file, failing if the file is shorter or longer than it
/// was when the build planned it (it changed during the build).
struct ExactReader {
    inner: File,
    remaining: u64,
    path: PathBuf,
}

impl ExactReader {
    fn new(inner: File, expected: u64, path: &Path) -> Self {
        Self {
            inner,
            remaining: expected,
            path: path.to_path_buf(),
        }
    }

    fn changed(&self) -> io::Error {
        io::Error::other(format!(
            "{} changed size while the layer was written; rebuild once it is stable",
            self.path.display()
        ))
    }
}

impl Read for ExactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(self.changed()),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(self.changed());
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Entry;

    fn sample_tree() -> LayerTree {
        let mut tree = LayerTree::new();
        tree.insert(
            "etc/passwd".into(),
            Entry::bytes(&b"root:x:0:0::/root:/sbin/nologin\n"[..], 0o644),
        )
        .unwrap();
        tree.insert("bin".into(), Entry::symlink("usr/bin"))
            .unwrap();
        let long = format!("opt/{}/file", "x".repeat(150));
        tree.insert(long, Entry::bytes(&b"long"[..], 0o600))
            .unwrap();
        tree.add_parents(&|_| None);
        tree
    }

    #[test]
    fn tar_is_sorted_with_fixed_metadata() {
        let bytes = write_tar(&sample_tree(), 0, Vec::new()).unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut names = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let header = entry.header();
            assert_eq!(header.mtime().unwrap(), 0);
            assert_eq!(header.uid().unwrap(), 0);
            assert_eq!(header.username().unwrap(), Some(""));
            names.push(entry.path().unwrap().to_string_lossy().into_owned());
        }
        assert_eq!(names[0], "./");
        assert_eq!(names[1], "bin");
        assert_eq!(names[2], "etc/");
        assert!(
            names.iter().any(|n| n.len() > 150),
            "long names survive: {names:?}"
        );
    }

    #[test]
    fn the_same_tree_gives_the_same_diff_id() {
        let (a, size) = diff_id(&sample_tree(), 0).unwrap();
        let (b, _) = diff_id(&sample_tree(), 0).unwrap();
        assert_eq!(a, b);
        assert_eq!(size % 512, 0);
        let (c, _) = diff_id(&sample_tree(), 1).unwrap();
        assert_ne!(a, c, "mtime is part of the content");
    }

    #[test]
    fn a_file_that_shrank_is_an_error_not_a_corrupt_tar() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        let mut tree = LayerTree::new();
        tree.insert(
            "f".into(),
            Entry::owned(
                EntryKind::File {
                    source: FileSource::Host(path.clone()),
                    size: 10,
                },
                0o644,
                0,
                0,
            ),
        )
        .unwrap();
        let err = write_tar(&tree, 0, Vec::new()).unwrap_err().to_string();
        assert!(err.contains("changed size"), "{err}");
    }
}
