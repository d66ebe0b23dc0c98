//! Exports an image from a layout into a single tar file: `oci-archive` (the layout, packed) or
//! `docker-archive` (what `docker save` writes: `manifest.json` with RepoTags, plus an OCI layout so
//! newer engines and skopeo read it too). Archives are deterministic (sorted, mtime 0, numeric owners)
//! and appear atomically: written to a temporary file beside the destination and renamed.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use oci_spec::image::{Descriptor, ImageIndexBuilder, ImageManifest, MediaType};
use serde::Serialize;

use crate::digest::sha256_hex;
use crate::layout::{Layout, REF_NAME};
use crate::reference::DockerName;
use crate::{canonical_json, Error, Result};

/// Annotation containerd and Docker use for the full image name in an index.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Writes `manifest` (from `layout`) and its blobs into an oci-archive at `dest`, tagged with `tags`.
pub fn write_oci_archive(
    layout: &Layout,
    manifest: &Descriptor,
    tags: &[String],
    dest: &Path,
) -> Result<()> {
    let entries: Vec<Descriptor> = if tags.is_empty() {
        vec![manifest.clone()]
    } else {
        tags.iter()
            .map(|tag| with_annotations(manifest, &[(REF_NAME, tag.as_str())]))
            .collect()
    };
    write_archive(layout, manifest, entries, None, dest)
}

/// Writes `manifest` (from `layout`) into a docker-archive at `dest`, carrying `names` as RepoTags.
pub fn write_docker_archive(
    layout: &Layout,
    manifest: &Descriptor,
    names: &[DockerName],
    dest: &Path,
) -> Result<()> {
    let entries: Vec<Descriptor> = if names.is_empty() {
        vec![manifest.clone()]
    } else {
        names
            .iter()
            .map(|n| {
                let full = format!(
                    "{}:{}",
                    n.normalized_repository(),
                    n.tag.as_deref().unwrap_or("latest")
                );
                with_annotations(
                    manifest,
                    &[
                        (CONTAINERD_NAME, full.as_str()),
                        (REF_NAME, n.tag.as_deref().unwrap_or("latest")),
                    ],
                )
            })
            .collect()
    };
    let repo_tags: Vec<String> = names
        .iter()
        .map(|n| {
            format!(
                "{}:{}",
                n.repository_with_host(),
                n.tag.as_deref().unwrap_or("latest")
            )
        })
        .collect();
    write_archive(layout, manifest, entries, Some(repo_tags), dest)
}

fn with_annotations(manifest: &Descriptor, pairs: &[(&str, &str)]) -> Descriptor {
    let mut d = manifest.clone();
    let mut annotations: HashMap<String, String> = d.annotations().clone().unwrap_or_default();
    for (k, v) in pairs {
        annotations.insert((*k).to_string(), (*v).to_string());
    }
    d.set_annotations(Some(annotations));
    d
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

fn write_archive(
    layout: &Layout,
    manifest: &Descriptor,
    index_entries: Vec<Descriptor>,
    docker_repo_tags: Option<Vec<String>>,
    dest: &Path,
) -> Result<()> {
    let manifest_digest = manifest.digest().to_string();
    let manifest_bytes = layout.read_blob(&manifest_digest, manifest.size())?;
    let parsed: ImageManifest =
        serde_json::from_slice(&manifest_bytes).map_err(|source| Error::Json {
            what: format!("manifest {manifest_digest}"),
            source,
        })?;
    // Every blob once, in digest order.
    let mut blobs: BTreeSet<(String, u64)> = BTreeSet::new();
    blobs.insert((manifest_digest.clone(), manifest.size()));
    blobs.insert((parsed.config().digest().to_string(), parsed.config().size()));
    for layer in parsed.layers() {
        blobs.insert((layer.digest().to_string(), layer.size()));
    }
    let blob_name = |digest: &str| -> Result<String> {
        let hex = sha256_hex(digest).ok_or_else(|| {
            Error::Invalid(format!(
                "manifest {manifest_digest} names a non-sha256 blob {digest:?}"
            ))
        })?;
        Ok(format!("blobs/sha256/{hex}"))
    };

    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(index_entries)
        .build()
        .map_err(|e| Error::Invalid(format!("archive index: {e}")))?;
    let index_bytes = canonical_json::to_vec(&index, "index.json")?;
    let docker_manifest = match docker_repo_tags {
        Some(repo_tags) => {
            let entry = DockerManifestEntry {
                config: blob_name(parsed.config().digest().as_ref())?,
                repo_tags,
                layers: parsed
                    .layers()
                    .iter()
                    .map(|l| blob_name(l.digest().as_ref()))
                    .collect::<Result<_>>()?,
            };
            Some(canonical_json::to_vec(&vec![entry], "manifest.json")?)
        }
        None => None,
    };

    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::layout::remove_leftovers(dir, ".pare-build-");
    let temp = crate::layout::temp_file_in(dir)?;
    let fail = |e: io::Error| Error::io("write archive", dest)(e);
    let mut builder = tar::Builder::new(BufWriter::with_capacity(1 << 20, temp));
    append_dir(&mut builder, "blobs/").map_err(fail)?;
    append_dir(&mut builder, "blobs/sha256/").map_err(fail)?;
    for (digest, size) in &blobs {
        let name = blob_name(digest)?;
        let mut header = file_header(*size);
        // Stream the blob through a pipe-like adapter: copy into the tar via a reader over the file,
        // verifying digest and size as it goes.
        let path = layout.blob_path(digest)?;
        let file = crate::layout::open_regular(&path)?;
        let mut verified = VerifyingReader::new(file, digest, *size, &path);
        builder
            .append_data(&mut header, &name, &mut verified)
            .map_err(fail)?;
        verified.check()?;
    }
    append_bytes(&mut builder, "index.json", &index_bytes).map_err(fail)?;
    if let Some(bytes) = &docker_manifest {
        append_bytes(&mut builder, "manifest.json", bytes).map_err(fail)?;
    }
    append_bytes(
        &mut builder,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(fail)?;
    let buffered = builder.into_inner().map_err(fail)?;
    let temp = buffered.into_inner().map_err(|e| fail(e.into_error()))?;
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(dest)
        .map_err(|e| Error::io("move the archive into place at", dest)(e.error))?;
    Ok(())
}

fn file_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn append_dir<W: Write>(builder: &mut tar::Builder<W>, name: &str) -> io::Result<()> {
    let mut header = file_header(0);
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    builder.append_data(&mut header, name, io::empty())
}

fn append_bytes<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let mut header = file_header(bytes.len() as u64);
    builder.append_data(&mut header, name, bytes)
}

/// Reads a stored blob while hashing it; [`VerifyingReader::check`] then confirms digest and size,
/// so a blob corrupted in the store never ends up in an archive unnoticed.
struct VerifyingReader<'a> {
    inner: io::Take<std::fs::File>,
    hasher: sha2::Sha256,
    read: u64,
    digest: &'a str,
    size: u64,
    path: std::path::PathBuf,
}

impl<'a> VerifyingReader<'a> {
    fn new(file: std::fs::File, digest: &'a str, size: u64, path: &Path) -> Self {
        use io::Read as _;
        Self {
            inner: file.take(size),
            hasher: <sha2::Sha256 as sha2::Digest>::new(),
            read: 0,
            digest,
            size,
            path: path.to_path_buf(),
        }
    }

    fn check(self) -> Result<()> {
        let actual = crate::digest::format_sha256(&sha2::Digest::finalize(self.hasher));
        if self.read != self.size || actual != self.digest {
            return Err(Error::Blob {
                digest: self.digest.to_string(),
                path: self.path,
                reason: format!(
                    "stored blob is {} bytes with digest {actual}; the store is corrupt",
                    self.read
                ),
            });
        }
        Ok(())
    }
}

impl io::Read for VerifyingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.read < self.size {
            return Err(io::Error::other(format!(
                "blob {} in {} is shorter than its descriptor ({} of {} bytes)",
                self.digest,
                self.path.display(),
                self.read,
                self.size
            )));
        }
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}
