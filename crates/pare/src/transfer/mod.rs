//! `pare push`, `pare pull` and `pare copy`: move an image between any two of an OCI layout, an
//! oci-archive, a docker-archive and a registry. Every path goes through a layout (the destination
//! itself, or a throwaway staging one), so blobs are verified once and written crash-safely; registry
//! transfers move only the blobs the other side lacks, several at a time.

mod mounts;
mod registry;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::image::Descriptor;
use pare_oci::image::Platform;
use pare_oci::import::{import_archive, open_archive, Selector};
use pare_oci::layout::Layout;
use pare_oci::read::{LayerBlob, Section};
use pare_oci::reference::{DockerName, ImageRef};
use pare_registry::{Client, ClientOptions, Credentials, RequestStats};
use serde::Serialize;

use crate::{Error, Reporter, Result};

/// How to reach registries: shared by every verb that reads or writes images.
#[derive(Clone, Debug)]
pub struct Access {
    /// Allow plain HTTP to registries that are not on loopback.
    pub insecure: bool,
    /// Credentials for the registry side(s); None looks them up in the usual auth files.
    pub credentials: Option<Credentials>,
    /// Which image of a multi-platform index to take (default: this machine's).
    pub platform: Option<Platform>,
    /// Blobs moved at once.
    pub jobs: usize,
    /// Blobs larger than this are uploaded in chunks of this size (default 64 MiB).
    pub chunk_size: Option<u64>,
}

impl Default for Access {
    fn default() -> Self {
        Self {
            insecure: false,
            credentials: None,
            platform: None,
            jobs: 4,
            chunk_size: None,
        }
    }
}

/// What to move where.
#[derive(Clone, Debug)]
pub struct TransferOptions {
    pub source: ImageRef,
    pub destination: ImageRef,
    pub access: Access,
    /// More tags at the destination.
    pub extra_tags: Vec<String>,
}

impl TransferOptions {
    /// Options with defaults for everything but the two ends.
    pub fn new(source: ImageRef, destination: ImageRef) -> Self {
        Self {
            source,
            destination,
            access: Access::default(),
            extra_tags: Vec::new(),
        }
    }
}

/// What a transfer did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TransferReport {
    pub source: String,
    pub destination: String,
    /// Digest of the manifest at the destination.
    pub manifest_digest: String,
    /// Set when the destination's digest differs from the source's, with the reason.
    pub digest_changed: Option<String>,
    pub blobs: usize,
    pub blobs_transferred: u64,
    pub blobs_mounted: u64,
    pub blobs_already_present: u64,
    pub bytes_transferred: u64,
    pub http_requests: u64,
    pub retries: u64,
}

/// Copies an image as `options` say.
pub fn copy(options: &TransferOptions, reporter: &dyn Reporter) -> Result<TransferReport> {
    let mut report = TransferReport {
        source: options.source.to_string(),
        destination: options.destination.to_string(),
        ..TransferReport::default()
    };
    if let (
        ImageRef::Layout { dir: a, tag },
        ImageRef::Layout {
            dir: b,
            tag: new_tag,
        },
    ) = (&options.source, &options.destination)
    {
        if same_dir(a, b) {
            let layout = Layout::open(a)?;
            let manifest = layout.resolve(tag.as_deref())?;
            layout.set_tags(&manifest, &dest_tags(new_tag, &options.extra_tags))?;
            report.manifest_digest = manifest.digest().to_string();
            return Ok(report);
        }
    }
    // A registry pulled into a layout goes straight into it (blobs already there are not fetched).
    if let (ImageRef::Registry(name), ImageRef::Layout { dir, tag }) =
        (&options.source, &options.destination)
    {
        let client = client_for(name, &options.access)?;
        let created = !dir.exists();
        let result = (|| -> Result<Descriptor> {
            let layout = Layout::create_or_open(dir)?;
            let manifest = registry::pull(
                &client,
                name,
                &options.access,
                &layout,
                reporter,
                &mut report,
            )?;
            layout.set_tags(&manifest, &dest_tags(tag, &options.extra_tags))?;
            Ok(manifest)
        })();
        finish_stats(&client, &mut report);
        return match result {
            Ok(manifest) => {
                report.manifest_digest = manifest.digest().to_string();
                Ok(report)
            }
            Err(e) => {
                if created {
                    // Best effort: nothing refers to a layout this pull just made.
                    let _ = std::fs::remove_dir_all(dir);
                }
                Err(e)
            }
        };
    }
    let source = open_image(&options.source, &options.access, reporter, &mut report)?;
    write_destination(&source, options, reporter, &mut report)?;
    Ok(report)
}

/// An image ready to be read or written somewhere: its layout and manifest, and for an archive opened
/// to be read in place, where its layers are in the archive.
pub struct OpenedImage {
    pub layout: Layout,
    pub manifest: Descriptor,
    /// Layers (by digest) that were left in an archive instead of being copied into `layout`.
    pub sections: HashMap<String, Section>,
    _staging: Option<tempfile::TempDir>,
}

impl OpenedImage {
    /// Whether every blob in `layout` was hashed against its digest as pare wrote it into a staging
    /// layout in this process (archives and registries); a user's layout is read as found and
    /// verified when read, and so are layers read in place from an archive.
    pub fn blobs_verified(&self) -> bool {
        self._staging.is_some()
    }

    /// How to read one layer of the image: from the layout or the archive, hashed or already verified.
    pub fn layer_blob<'a>(
        &'a self,
        digest: &'a str,
        size: u64,
        diff_id: Option<&'a str>,
    ) -> LayerBlob<'a> {
        let location = self.sections.get(digest);
        LayerBlob {
            digest,
            size,
            diff_id,
            stored_verified: location.is_none() && self.blobs_verified(),
            location,
        }
    }

    /// Wraps an image that is already in a layout.
    pub fn in_layout(layout: Layout, manifest: Descriptor) -> Self {
        Self {
            layout,
            manifest,
            sections: HashMap::new(),
            _staging: None,
        }
    }
}

/// Opens any image reference to be written elsewhere: a layout in place, archives and registries
/// through a throwaway staging layout that holds every blob. `report` learns about conversions and
/// registry traffic.
pub fn open_image(
    source: &ImageRef,
    access: &Access,
    reporter: &dyn Reporter,
    report: &mut TransferReport,
) -> Result<OpenedImage> {
    open(source, access, reporter, report, false)
}

/// Opens any image reference to be read once (audit, diff, gate, sbom): like [`open_image`], except
/// that an archive's layers are read where they are in the archive rather than copied first.
pub fn open_image_to_read(
    source: &ImageRef,
    access: &Access,
    reporter: &dyn Reporter,
    report: &mut TransferReport,
) -> Result<OpenedImage> {
    open(source, access, reporter, report, true)
}

fn open(
    source: &ImageRef,
    access: &Access,
    reporter: &dyn Reporter,
    report: &mut TransferReport,
    in_place: bool,
) -> Result<OpenedImage> {
    let from_archive = |file: &Path, selector: Selector| -> Result<(OpenedImage, bool)> {
        let (staging, layout) = staging()?;
        let (imported, sections) = if in_place {
            let opened = open_archive(file, &layout, &selector)?;
            (opened.imported, opened.sections)
        } else {
            (import_archive(file, &layout, &selector)?, HashMap::new())
        };
        let converted = imported.converted;
        Ok((
            OpenedImage {
                layout,
                manifest: imported.manifest,
                sections,
                _staging: Some(staging),
            },
            converted,
        ))
    };
    match source {
        ImageRef::Layout { dir, tag } => {
            let layout = Layout::open_shared(dir)?;
            let manifest = layout.resolve(tag.as_deref())?;
            Ok(OpenedImage::in_layout(layout, manifest))
        }
        ImageRef::OciArchive { file, tag } => {
            let selector = Selector {
                tag: tag.clone(),
                docker_name: None,
            };
            Ok(from_archive(file, selector)?.0)
        }
        ImageRef::DockerArchive { file, name } => {
            let selector = Selector {
                tag: None,
                docker_name: name.as_ref().map(|n| {
                    (
                        n.repository_with_host(),
                        n.tag.clone().unwrap_or_else(|| "latest".into()),
                    )
                }),
            };
            let (opened, converted) = from_archive(file, selector)?;
            if converted {
                report.digest_changed = Some(
                    "a classic docker-archive has no OCI manifest; pare wrote one, so the digest is new".into(),
                );
            }
            Ok(opened)
        }
        ImageRef::Registry(name) => {
            let client = client_for(name, access)?;
            let (staging, layout) = staging()?;
            let manifest = registry::pull(&client, name, access, &layout, reporter, report)?;
            finish_stats(&client, report);
            Ok(OpenedImage {
                layout,
                manifest,
                sections: HashMap::new(),
                _staging: Some(staging),
            })
        }
    }
}

/// Writes an opened image to the destination of `options`.
pub fn write_destination(
    image: &OpenedImage,
    options: &TransferOptions,
    reporter: &dyn Reporter,
    report: &mut TransferReport,
) -> Result<()> {
    report.manifest_digest = image.manifest.digest().to_string();
    let blobs = registry::manifest_blobs(&image.layout, &image.manifest)?;
    report.blobs = blobs.len();
    let whole_image = |report: &mut TransferReport| {
        report.blobs_transferred += blobs.len() as u64;
        report.bytes_transferred += blobs.iter().map(|(_, size)| size).sum::<u64>();
    };
    match &options.destination {
        ImageRef::Layout { dir, tag } => {
            let created = !dir.exists();
            let result = (|| -> Result<()> {
                let dest = Layout::create_or_open(dir)?;
                for (digest, size) in &blobs {
                    if dest.has_valid_blob(digest, *size) {
                        report.blobs_already_present += 1;
                        continue;
                    }
                    copy_blob(&image.layout, &dest, digest, *size)?;
                    report.blobs_transferred += 1;
                    report.bytes_transferred += size;
                }
                copy_blob(
                    &image.layout,
                    &dest,
                    image.manifest.digest().as_ref(),
                    image.manifest.size(),
                )?;
                dest.set_tags(&image.manifest, &dest_tags(tag, &options.extra_tags))?;
                Ok(())
            })();
            if result.is_err() && created {
                // Best effort: the directory is ours and holds nothing anyone refers to yet.
                let _ = std::fs::remove_dir_all(dir);
            }
            result
        }
        ImageRef::OciArchive { file, tag } => {
            pare_oci::archive::write_oci_archive(
                &image.layout,
                &image.manifest,
                &dest_tags(tag, &options.extra_tags),
                file,
            )?;
            whole_image(report);
            Ok(())
        }
        ImageRef::DockerArchive { file, name } => {
            let names = match name {
                Some(n) => {
                    let mut names = vec![DockerName {
                        tag: Some(n.tag.clone().unwrap_or_else(|| "latest".into())),
                        ..n.clone()
                    }];
                    for t in &options.extra_tags {
                        names.push(DockerName {
                            tag: Some(t.clone()),
                            ..n.clone()
                        });
                    }
                    names
                }
                None => Vec::new(),
            };
            pare_oci::archive::write_docker_archive(&image.layout, &image.manifest, &names, file)?;
            whole_image(report);
            Ok(())
        }
        ImageRef::Registry(name) => {
            let client = client_for(name, &options.access)?;
            registry::push(
                &client,
                name,
                &image.layout,
                &image.manifest,
                options,
                reporter,
                report,
            )?;
            finish_stats(&client, report);
            Ok(())
        }
    }
}

fn copy_blob(from: &Layout, to: &Layout, digest: &str, size: u64) -> Result<()> {
    let (temp, path) = to.temp_blob()?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, temp);
    from.copy_blob(digest, size, &mut writer)?;
    let temp = writer
        .into_inner()
        .map_err(|e| Error::io("write blob", &path)(e.into_error()))?;
    to.commit_blob(temp, digest)?;
    Ok(())
}

/// The tags an image gets at a destination: the reference's own, then the extra ones, else `latest`.
pub(crate) fn dest_tags(tag: &Option<String>, extra: &[String]) -> Vec<String> {
    let mut tags: Vec<String> = tag.iter().cloned().collect();
    for t in extra {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    if tags.is_empty() {
        tags.push("latest".into());
    }
    tags
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A throwaway layout in the temporary directory, removed when the returned guard is dropped.
pub(crate) fn staging() -> Result<(tempfile::TempDir, Layout)> {
    let dir = tempfile::Builder::new()
        .prefix("pare-staging-")
        .tempdir()
        .map_err(Error::io(
            "create a staging directory in",
            std::env::temp_dir(),
        ))?;
    let layout = Layout::create_throwaway(dir.path())?;
    Ok((dir, layout))
}

/// A client for the registry a name points at.
pub fn client_for(name: &DockerName, access: &Access) -> Result<Client> {
    let host = registry_host(name);
    Ok(Client::new(&host, {
        let defaults = ClientOptions::default();
        ClientOptions {
            insecure: access.insecure,
            credentials: access.credentials.clone(),
            monolithic_limit: access.chunk_size.unwrap_or(defaults.monolithic_limit),
            chunk_size: access.chunk_size.unwrap_or(defaults.monolithic_limit),
            ..defaults
        }
    })?)
}

/// The host a Docker name lives on (Docker Hub's API host when it names none).
pub fn registry_host(name: &DockerName) -> String {
    match name.host.as_deref() {
        None | Some("docker.io") | Some("index.docker.io") => "registry-1.docker.io".into(),
        Some(h) => h.to_string(),
    }
}

/// The repository path on the registry (`library/` added for Docker Hub's official images).
pub fn registry_repo(name: &DockerName) -> String {
    if registry_host(name) == "registry-1.docker.io" && !name.repository.contains('/') {
        format!("library/{}", name.repository)
    } else {
        name.repository.clone()
    }
}

fn finish_stats(client: &Client, report: &mut TransferReport) {
    report.http_requests += RequestStats::get(&client.stats.requests);
    report.retries += RequestStats::get(&client.stats.retries);
}

/// Where pare keeps its cache (`$PARE_CACHE_DIR`, `$XDG_CACHE_HOME/pare`, `~/.cache/pare`).
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("PARE_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("pare"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/pare"))
}
