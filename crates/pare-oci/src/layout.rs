//! The OCI image layout store (`oci-layout`, `index.json`, `blobs/sha256/`), written crash-safely:
//! every blob goes to a temporary file that is synced and renamed into place, blobs already present are
//! kept, and `index.json` is replaced atomically and last. One process at a time holds the layout's
//! lock. Not a garbage collector: blobs no index entry refers to stay in the layout (to drop them,
//! `pare copy` the images you keep into a new layout).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use crate::digest::{sha256_digest, sha256_hex, HashingWriter};
use crate::{canonical_json, Error, Result};

/// Annotation that names a tag in an OCI layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Largest manifest, index or config pare reads into memory.
pub const MAX_JSON_BLOB: u64 = 8 << 20;
const LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// An open, locked OCI image layout directory.
pub struct Layout {
    root: PathBuf,
    // Held for the lifetime of the Layout: a flock on the layout directory itself, exclusive for
    // writers, shared for readers.
    _lock: File,
    writable: bool,
    /// Sync blobs before renaming them (off only for throwaway staging layouts).
    durable: bool,
}

impl Layout {
    /// Opens the layout at `root`, creating it if it does not exist, and takes its lock (waiting for
    /// another pare process that holds it).
    pub fn create_or_open(root: &Path) -> Result<Self> {
        // Writes must land in the layout: a `blobs` or `blobs/sha256` that is a symlink would send
        // them wherever it points.
        for dir in ["blobs", "blobs/sha256"] {
            let path = root.join(dir);
            if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Error::Invalid(format!(
                    "{} is a symlink; pare writes only into a layout's own blobs directory",
                    path.display()
                )));
            }
        }
        fs::create_dir_all(root.join("blobs/sha256"))
            .map_err(Error::io("create the image layout", root))?;
        let layout = Self::lock(root)?;
        let marker = root.join("oci-layout");
        if !marker.exists() {
            layout.write_atomic(&marker, LAYOUT_FILE)?;
        } else {
            layout.check_marker()?;
        }
        if !root.join("index.json").exists() {
            let empty = ImageIndexBuilder::default()
                .schema_version(2u32)
                .media_type(MediaType::ImageIndex)
                .manifests(Vec::<Descriptor>::new())
                .build()
                .map_err(|e| Error::Invalid(format!("empty index: {e}")))?;
            layout.write_index(&empty)?;
        }
        Ok(layout)
    }

    /// A layout for data that dies with the process (a staging copy of an archive or a pull): like
    /// [`Layout::create_or_open`], but blobs are not synced to disk before they are renamed, since a
    /// crash discards the whole directory anyway. Blobs are still hashed as they are written.
    pub fn create_throwaway(root: &Path) -> Result<Self> {
        let mut layout = Self::create_or_open(root)?;
        layout.durable = false;
        Ok(layout)
    }

    /// Opens an existing layout for reading and writing.
    pub fn open(root: &Path) -> Result<Self> {
        if !root.join("oci-layout").is_file() || !root.join("index.json").is_file() {
            return Err(Error::Invalid(format!(
                "{} is not an OCI image layout (no oci-layout or index.json file)",
                root.display()
            )));
        }
        let layout = Self::lock(root)?;
        layout.check_marker()?;
        Ok(layout)
    }

    /// Opens an existing layout for reading only: a shared lock, so any number of readers (also in
    /// one process) can look at it while no writer changes it. Writing through it is refused.
    pub fn open_shared(root: &Path) -> Result<Self> {
        if !root.join("oci-layout").is_file() || !root.join("index.json").is_file() {
            return Err(Error::Invalid(format!(
                "{} is not an OCI image layout (no oci-layout or index.json file)",
                root.display()
            )));
        }
        let dir = File::open(root).map_err(Error::io("open the image layout", root))?;
        dir.lock_shared()
            .map_err(Error::io("lock the image layout", root))?;
        let layout = Self {
            root: root.to_path_buf(),
            _lock: dir,
            writable: false,
            durable: true,
        };
        layout.check_marker()?;
        Ok(layout)
    }

    fn lock(root: &Path) -> Result<Self> {
        let dir = File::open(root).map_err(Error::io("open the image layout", root))?;
        dir.lock()
            .map_err(Error::io("lock the image layout", root))?;
        let layout = Self {
            root: root.to_path_buf(),
            _lock: dir,
            writable: true,
            durable: true,
        };
        layout.remove_stale_temp_files();
        Ok(layout)
    }

    fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "{} was opened for reading; pare does not write through a shared lock",
                self.root.display()
            )))
        }
    }

    /// Removes temporary files a killed pare process left behind. Only the lock holder writes
    /// temporary files, so with the lock held every one of them is stale.
    fn remove_stale_temp_files(&self) {
        for dir in [self.root.clone(), self.root.join("blobs")] {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".pare-tmp-")
                {
                    // Best effort: a file that cannot be removed is harmless to readers.
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }

    fn check_marker(&self) -> Result<()> {
        let path = self.root.join("oci-layout");
        let bytes = read_bounded(&path, 4096)?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                what: path.display().to_string(),
                source,
            })?;
        match value.get("imageLayoutVersion").and_then(|v| v.as_str()) {
            Some(v) if v.starts_with("1.") => Ok(()),
            other => Err(Error::Invalid(format!(
                "{}: unsupported imageLayoutVersion {other:?}",
                path.display()
            ))),
        }
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` lives (the digest is validated before it becomes a path).
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex = sha256_hex(digest).ok_or_else(|| {
            Error::Invalid(format!(
                "{digest:?} is not a sha256 digest of 64 lowercase hex digits"
            ))
        })?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    /// True when the blob is stored with the expected size.
    pub fn has_blob(&self, digest: &str, size: u64) -> bool {
        self.blob_path(digest)
            .ok()
            .and_then(|p| fs::metadata(p).ok())
            .is_some_and(|m| m.is_file() && m.len() == size)
    }

    /// True when the blob is stored with the expected size and its content matches the digest.
    /// Used before trusting a stored blob in place of new work.
    pub fn has_valid_blob(&self, digest: &str, size: u64) -> bool {
        self.has_blob(digest, size) && self.copy_blob(digest, size, &mut std::io::sink()).is_ok()
    }

    /// A new temporary file beside the blobs, to be passed to [`Layout::commit_blob`].
    pub fn temp_blob(&self) -> Result<(tempfile::NamedTempFile, PathBuf)> {
        self.check_writable()?;
        let dir = self.root.join("blobs");
        let temp = temp_file_in(&dir)?;
        let path = temp.path().to_path_buf();
        Ok((temp, path))
    }

    /// Syncs a fully written temporary blob and renames it to its digest. A blob already stored under
    /// that name is replaced atomically (it may be a corrupt copy; the new one was hashed as written).
    pub fn commit_blob(&self, temp: tempfile::NamedTempFile, digest: &str) -> Result<()> {
        self.check_writable()?;
        let dest = self.blob_path(digest)?;
        if self.durable {
            temp.as_file()
                .sync_all()
                .map_err(Error::io("sync blob", temp.path()))?;
        }
        temp.persist(&dest)
            .map_err(|e| Error::io("store blob", &dest)(e.error))?;
        Ok(())
    }

    /// Stores `bytes` as a blob (skipped when present) and returns its digest.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        if self.has_valid_blob(&digest, bytes.len() as u64) {
            return Ok(digest);
        }
        let (mut temp, path) = self.temp_blob()?;
        temp.write_all(bytes)
            .map_err(Error::io("write blob", &path))?;
        self.commit_blob(temp, &digest)?;
        Ok(digest)
    }

    /// Reads a JSON-sized blob, checking its size and digest.
    pub fn read_blob(&self, digest: &str, size: u64) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        if size > MAX_JSON_BLOB {
            return Err(Error::Blob {
                digest: digest.into(),
                path,
                reason: format!("declared size {size} is larger than pare reads into memory"),
            });
        }
        let bytes = read_bounded(&path, size + 1)?;
        if bytes.len() as u64 != size {
            return Err(Error::Blob {
                digest: digest.into(),
                path,
                reason: format!("size is {} bytes, the descriptor says {size}", bytes.len()),
            });
        }
        if sha256_digest(&bytes) != digest {
            return Err(Error::Blob {
                digest: digest.into(),
                path,
                reason: "content does not match the digest (the blob is corrupt)".into(),
            });
        }
        Ok(bytes)
    }

    /// Streams a blob into `out`, checking size and digest at the end.
    pub fn copy_blob(&self, digest: &str, size: u64, out: &mut dyn Write) -> Result<()> {
        let path = self.blob_path(digest)?;
        let file = open_regular(&path)?;
        let mut hashing = HashingWriter::new(out);
        // Big reads: one syscall per MiB instead of per 8 KiB.
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file.take(size + 1));
        std::io::copy(&mut reader, &mut hashing).map_err(Error::io("read blob", &path))?;
        let (_, actual, copied) = hashing.finish();
        if copied != size || actual != digest {
            return Err(Error::Blob {
                digest: digest.into(),
                path,
                reason: format!(
                    "stored blob is {copied} bytes with digest {actual}, expected {size} bytes"
                ),
            });
        }
        Ok(())
    }

    /// Reads and parses `index.json`.
    pub fn read_index(&self) -> Result<ImageIndex> {
        let path = self.root.join("index.json");
        let bytes = read_bounded(&path, MAX_JSON_BLOB)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: path.display().to_string(),
            source,
        })
    }

    /// Points each tag at `manifest` in `index.json` (replacing what the tags pointed at before; other
    /// entries are kept). With no tags the manifest is added untagged. Written atomically.
    pub fn set_tags(&self, manifest: &Descriptor, tags: &[String]) -> Result<()> {
        self.check_writable()?;
        let mut index = self.read_index()?;
        let mut manifests: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| {
                let tag = d.annotations().as_ref().and_then(|a| a.get(REF_NAME));
                match tag {
                    Some(tag) => !tags.contains(tag),
                    None => d.digest() != manifest.digest(),
                }
            })
            .cloned()
            .collect();
        if tags.is_empty() {
            manifests.push(manifest.clone());
        }
        for tag in tags {
            let mut tagged = manifest.clone();
            let mut annotations = tagged.annotations().clone().unwrap_or_default();
            annotations.insert(REF_NAME.to_string(), tag.clone());
            tagged.set_annotations(Some(annotations));
            manifests.push(tagged);
        }
        index.set_manifests(manifests);
        self.write_index(&index)
    }

    /// Removes the `index.json` entries of `tags` (their blobs stay). Written atomically.
    pub fn remove_tags(&self, tags: &[String]) -> Result<()> {
        self.check_writable()?;
        let mut index = self.read_index()?;
        let kept: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| {
                !d.annotations()
                    .as_ref()
                    .and_then(|a| a.get(REF_NAME))
                    .is_some_and(|t| tags.contains(t))
            })
            .cloned()
            .collect();
        index.set_manifests(kept);
        self.write_index(&index)
    }

    /// Finds the manifest a tag (or, without a tag, the only manifest) points at. Without a tag,
    /// referrers (an SBOM or signature kept beside its image: `crate::referrer`) and cosign's
    /// `sha256-<hex>.sig`/`.att`/`.sbom` tags are not candidates.
    pub fn resolve(&self, tag: Option<&str>) -> Result<Descriptor> {
        let index = self.read_index()?;
        let mut found: Vec<&Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| match tag {
                Some(tag) => d
                    .annotations()
                    .as_ref()
                    .and_then(|a| a.get(REF_NAME))
                    .is_some_and(|t| t == tag),
                None => true,
            })
            .collect();
        if tag.is_none() && found.len() > 1 {
            let mut images = Vec::with_capacity(found.len());
            for d in found {
                let cosign_tag = d
                    .annotations()
                    .as_ref()
                    .and_then(|a| a.get(REF_NAME))
                    .is_some_and(|t| crate::referrer::is_cosign_tag(t));
                if !cosign_tag && crate::referrer::referrer_entry(self, d)?.is_none() {
                    images.push(d);
                }
            }
            found = images;
        }
        match (found.as_slice(), tag) {
            ([one], _) => Ok((*one).clone()),
            ([], Some(tag)) => {
                let mut tags: Vec<&str> = index
                    .manifests()
                    .iter()
                    .filter_map(|d| d.annotations().as_ref()?.get(REF_NAME))
                    .map(String::as_str)
                    .collect();
                tags.sort_unstable();
                tags.dedup();
                Err(Error::Invalid(format!(
                    "no image tagged {tag:?} in {}; {}",
                    self.root.display(),
                    if tags.is_empty() {
                        "it has no tagged image".to_string()
                    } else {
                        format!("its tags are: {}", tags.join(", "))
                    }
                )))
            }
            (_, Some(tag)) => Err(Error::Invalid(format!(
                "tag {tag:?} names several images in {}",
                self.root.display()
            ))),
            (_, None) => Err(Error::Invalid(format!(
                "{} holds {} images; name one with oci:{}:TAG",
                self.root.display(),
                found.len(),
                self.root.display()
            ))),
        }
    }

    fn write_index(&self, index: &ImageIndex) -> Result<()> {
        self.check_writable()?;
        let bytes = canonical_json::to_vec(index, "index.json")?;
        self.write_atomic(&self.root.join("index.json"), &bytes)
    }

    /// Replaces `path` atomically: temporary file, sync, rename, sync the directory.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        write_file_atomic(path, bytes)
    }
}

/// How long an unlocked staging directory is left alone after its last change: the time between
/// its creation and its creator's lock, with a wide margin for a machine under load.
pub const STAGING_GRACE: std::time::Duration = std::time::Duration::from_secs(120);

/// Removes what killed pare processes left in `dir`: directories named `dir_prefix*` (staging
/// layouts, which hold their layout's lock while alive: only unlocked ones not changed for
/// [`STAGING_GRACE`] are removed, since a new one is created a moment before its creator locks
/// it) and files named `.pare-tmp-*` not touched for an hour (half-written archives). Best effort:
/// what cannot be removed is left.
pub fn remove_leftovers(dir: &Path, dir_prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    let an_hour_ago = now - std::time::Duration::from_secs(3600);
    let grace_start = now - STAGING_GRACE;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if meta.is_dir()
            && name.starts_with(dir_prefix)
            && meta.modified().is_ok_and(|m| m < grace_start)
        {
            // A live staging layout is locked by its process; a dead one is not.
            let Ok(handle) = File::open(entry.path()) else {
                continue;
            };
            if handle.try_lock().is_ok() {
                let _ = fs::remove_dir_all(entry.path());
            }
        } else if meta.is_file()
            && name.starts_with(".pare-tmp-")
            && meta.modified().is_ok_and(|m| m < an_hour_ago)
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A new world-readable temporary file in `dir`, named so that [`Layout`] recognises and removes it
/// if the process dies before renaming it into place.
pub fn temp_file_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".pare-tmp-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(Error::io("create a temporary file in", dir))
}

/// Replaces `path` atomically with `bytes`: temporary file in the same directory, sync, rename, then
/// sync the directory so the rename itself survives a crash.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = temp_file_in(dir)?;
    temp.write_all(bytes)
        .map_err(Error::io("write", temp.path()))?;
    temp.as_file()
        .sync_all()
        .map_err(Error::io("sync", temp.path()))?;
    temp.persist(path)
        .map_err(|e| Error::io("replace", path)(e.error))?;
    if let Ok(d) = File::open(dir) {
        // Best effort: some filesystems refuse fsync on directories.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes a document to a path a user named (`-o FILE`, a baseline): a regular file (or a new one)
/// is replaced atomically with [`write_file_atomic`], so a reader never sees half of it; a path that
/// already is something else (`/dev/null`, `/dev/stdout`, a FIFO) is written into as it is, never
/// replaced by a file. Not for a layout's own files, where a FIFO in place is refused instead.
pub fn write_output_file(path: &Path, bytes: &[u8]) -> Result<()> {
    match fs::metadata(path) {
        Ok(meta) if !meta.is_file() && !meta.is_dir() => {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(Error::io("open to write", path))?;
            file.write_all(bytes).map_err(Error::io("write", path))
        }
        _ => write_file_atomic(path, bytes),
    }
}

/// Opens a file that must be a regular file: a FIFO, device or socket in its place (a hostile
/// layout, archive or policy path) would block or never end, so it is refused before and after
/// opening (without blocking: O_NONBLOCK on Linux, where a FIFO would otherwise wait for a writer).
pub fn open_regular(path: &Path) -> Result<File> {
    let not_regular = || {
        Error::Invalid(format!(
            "{} is not a regular file (a FIFO, device or socket); refusing to read it",
            path.display()
        ))
    };
    match fs::metadata(path) {
        Ok(m) if !m.is_file() => return Err(not_regular()),
        _ => {}
    }
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK (0o4000 on every Linux architecture pare builds for); it changes nothing
        // for regular files.
        options.custom_flags(0o4000);
    }
    let file = options.open(path).map_err(Error::io("open", path))?;
    let meta = file.metadata().map_err(Error::io("inspect", path))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

/// Reads a whole file, refusing one larger than `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(Error::io("read", path))?;
    if bytes.len() as u64 > limit {
        return Err(Error::Invalid(format!(
            "{} is larger than {limit} bytes; refusing to read it into memory",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Descriptor annotations as a plain map (empty when there are none).
pub fn annotations_of(descriptor: &Descriptor) -> HashMap<String, String> {
    descriptor.annotations().clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_descriptor(layout: &Layout, body: &[u8]) -> Descriptor {
        let digest = layout.write_blob(body).unwrap();
        Descriptor::new(
            MediaType::ImageManifest,
            body.len() as u64,
            oci_spec::image::Digest::try_from(digest.as_str()).unwrap(),
        )
    }

    #[test]
    fn tags_move_and_untagged_entries_stay() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create_or_open(dir.path()).unwrap();
        let a = manifest_descriptor(&layout, b"{\"a\":1}");
        let b = manifest_descriptor(&layout, b"{\"b\":1}");
        layout
            .set_tags(&a, &["latest".into(), "1.0".into()])
            .unwrap();
        layout.set_tags(&b, &["latest".into()]).unwrap();
        assert_eq!(layout.resolve(Some("latest")).unwrap().digest(), b.digest());
        assert_eq!(layout.resolve(Some("1.0")).unwrap().digest(), a.digest());
        assert_eq!(layout.read_index().unwrap().manifests().len(), 2);
        assert!(layout.resolve(Some("nope")).is_err());
        assert!(
            layout.resolve(None).is_err(),
            "two images: the tag is needed"
        );
    }

    #[test]
    fn read_blob_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create_or_open(dir.path()).unwrap();
        let digest = layout.write_blob(b"hello").unwrap();
        assert_eq!(layout.read_blob(&digest, 5).unwrap(), b"hello");
        fs::write(layout.blob_path(&digest).unwrap(), b"jello").unwrap();
        let err = layout.read_blob(&digest, 5).unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");
        assert!(layout.read_blob(&digest, 4).is_err());
        assert!(layout.blob_path("sha256:../../x").is_err());
    }

    #[test]
    fn readers_share_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        drop(Layout::create_or_open(dir.path()).unwrap());
        let a = Layout::open_shared(dir.path()).unwrap();
        let b = Layout::open_shared(dir.path()).unwrap();
        assert!(a.read_index().is_ok() && b.read_index().is_ok());
        assert!(a.write_blob(b"x").is_err());
        assert!(b.temp_blob().is_err());
    }

    #[test]
    fn opening_something_else_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Layout::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("not an OCI image layout"), "{err}");
        fs::write(dir.path().join("oci-layout"), b"{not json").unwrap();
        fs::write(dir.path().join("index.json"), b"{}").unwrap();
        assert!(Layout::open(dir.path()).is_err());
    }
}
