//! Image I/O: the one way into and out of an image for every verb. [`open`] takes any reference
//! (OCI layout, oci-archive, docker-archive, registry), chooses the platform from an index, and
//! hands back the image in a layout with its manifest and config parsed and checked once
//! (`pare_oci::manifest`); [`write`] sends an opened image to any destination. `build` assembles
//! into [`assembly_for`]'s layout and ends in [`write`]; `copy`/`push`/`pull` are [`copy`]; audit,
//! diff and gate read what [`open`] returns. Not here: the registry protocol (`pare-registry`),
//! what a verb reports, or reading layers (`pare_oci::read`, `crate::contents`).

mod daemon;
mod mounts;
pub mod referrers;
mod registry;
pub(crate) mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::image::Descriptor;
use pare_oci::compress::Compression;
use pare_oci::image::Platform;
use pare_oci::import::{import_archive, open_archive, Selector};
use pare_oci::layout::Layout;
use pare_oci::manifest::{read_image, resolve_platform, ImageDocuments};
use pare_oci::read::{LayerBlob, Section};
use pare_oci::reference::{validate_tag, DockerName, ImageRef};
use pare_oci::referrer::Referrer;
use pare_registry::{Client, ClientOptions, Credentials, RequestStats};
use serde::Serialize;

use crate::{Error, Reporter, Result};

/// How to reach images: registry access and the platform to take from an index. Shared by every
/// verb that reads or writes images.
#[derive(Clone, Debug)]
pub struct Access {
    /// Allow plain HTTP to registries that are not on loopback.
    pub insecure: bool,
    /// Credentials for the registry side(s); None looks them up in the usual auth files.
    pub credentials: Option<Credentials>,
    /// Which image of a multi-platform index to take (default: this machine's), for every transport.
    pub platform: Option<Platform>,
    /// Blobs moved at once.
    pub jobs: usize,
    /// Blobs larger than this are uploaded in chunks of this size (default 64 MiB).
    pub chunk_size: Option<u64>,
    /// Whether an image copied somewhere takes its referrers along (SBOMs, signatures,
    /// attestations: OCI 1.1 manifests whose subject it is). On by default.
    pub referrers: bool,
}

impl Default for Access {
    fn default() -> Self {
        Self {
            insecure: false,
            credentials: None,
            platform: None,
            jobs: 4,
            chunk_size: None,
            referrers: true,
        }
    }
}

/// What an image is opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// To be read once (audit, diff, gate, sbom): an archive's layers are read where they are in the
    /// archive instead of being copied first.
    Read,
    /// To be written elsewhere: every blob ends up in a layout.
    Copy,
}

/// What moving an image did: blobs, bytes and registry traffic.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IoReport {
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
    /// Referrers of the image (SBOMs, signatures, attestations) written at the destination.
    pub referrers: u64,
    /// Registry fallback tags (`sha256-<hex>`) written for them, where the registry has no
    /// referrers API.
    pub fallback_tags: u64,
    /// cosign's tags beside the image (`sha256-<hex>.sig`, `.att`, `.sbom`: signatures,
    /// attestations, SBOMs) written at the destination.
    pub cosign_tags: u64,
}

/// An image ready to be read or written somewhere: the layout that holds it, its manifest and
/// config (parsed and checked), and for an archive opened to be read in place, where its layers are.
pub struct OpenedImage {
    pub layout: Layout,
    pub documents: ImageDocuments,
    /// Layers (by digest) that were left in an archive instead of being copied into `layout`.
    pub sections: HashMap<String, Section>,
    /// The image's referrers kept in `layout`, parents first (found when the image is opened to be
    /// copied, or attached by a build).
    pub referrers: Vec<Referrer>,
    /// What the layout keeps under cosign's tags for the image (found as the referrers are).
    pub tagged: Vec<referrers::TaggedArtifact>,
    _staging: Option<tempfile::TempDir>,
}

impl OpenedImage {
    /// The descriptor of the image's manifest.
    pub fn manifest(&self) -> &Descriptor {
        &self.documents.descriptor
    }

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

    /// The config and layer blobs of the image, as (digest, size).
    pub fn blobs(&self) -> Vec<(String, u64)> {
        let manifest = &self.documents.manifest;
        std::iter::once(manifest.config())
            .chain(manifest.layers())
            .map(|d| (d.digest().to_string(), d.size()))
            .collect()
    }

    /// Wraps the image `manifest` names in a layout (which must be one image, not an index), with
    /// the referrers the layout keeps for it.
    pub fn in_layout(layout: Layout, manifest: &Descriptor) -> Result<Self> {
        let what = format!("oci:{}", layout.root().display());
        let documents = read_image(&layout, manifest, &what)?;
        let referrers = referrers::in_layout(&layout, manifest.digest().as_ref())?;
        let tagged = referrers::tagged_in_layout(&layout, manifest.digest().as_ref())?;
        Ok(Self {
            layout,
            documents,
            sections: HashMap::new(),
            referrers,
            tagged,
            _staging: None,
        })
    }

    /// Stores `artifact` in the image's layout as a referrer of the image (an SBOM a build makes),
    /// to travel with it wherever [`write`] sends it.
    pub fn attach(&mut self, artifact: &pare_oci::referrer::Artifact) -> Result<Referrer> {
        let attached = pare_oci::referrer::attach(&self.layout, self.manifest(), artifact)?;
        if !self
            .referrers
            .iter()
            .any(|r| r.descriptor.digest() == attached.descriptor.digest())
        {
            self.referrers.push(attached.clone());
        }
        Ok(attached)
    }

    fn staged(
        layout: Layout,
        staging: tempfile::TempDir,
        manifest: &Descriptor,
        sections: HashMap<String, Section>,
        access: &Access,
        what: &str,
    ) -> Result<Self> {
        let image = resolve_platform(&layout, manifest, access.platform.as_ref(), what)?;
        let documents = read_image(&layout, &image, what)?;
        Ok(Self {
            layout,
            documents,
            sections,
            referrers: Vec::new(),
            tagged: Vec::new(),
            _staging: Some(staging),
        })
    }
}

/// Opens any image reference: a layout in place, archives and registries through a throwaway
/// staging layout (for [`Purpose::Read`], an archive's layers stay in the archive). An index is
/// followed to the image for `access.platform` (this machine's by default). `report` learns about
/// conversions and registry traffic.
pub fn open(
    source: &ImageRef,
    access: &Access,
    purpose: Purpose,
    reporter: &dyn Reporter,
    report: &mut IoReport,
) -> Result<OpenedImage> {
    let what = source.to_string();
    let from_archive = |file: &Path, selector: Selector| -> Result<(OpenedImage, bool)> {
        let (staging, layout) = staging()?;
        let (imported, sections) = match purpose {
            Purpose::Read => {
                let opened = open_archive(file, &layout, &selector)?;
                (opened.imported, opened.sections)
            }
            Purpose::Copy => (import_archive(file, &layout, &selector)?, HashMap::new()),
        };
        let converted = imported.converted;
        let image =
            OpenedImage::staged(layout, staging, &imported.manifest, sections, access, &what)?;
        Ok((image, converted))
    };
    match source {
        ImageRef::Layout { dir, tag } => {
            let layout = Layout::open_shared(dir)?;
            let top = layout.resolve(tag.as_deref())?;
            let image = resolve_platform(&layout, &top, access.platform.as_ref(), &what)?;
            let documents = read_image(&layout, &image, &what)?;
            let (referrers, tagged) = if purpose == Purpose::Copy && access.referrers {
                (
                    referrers::in_layout(&layout, image.digest().as_ref())?,
                    referrers::tagged_in_layout(&layout, image.digest().as_ref())?,
                )
            } else {
                (Vec::new(), Vec::new())
            };
            Ok(OpenedImage {
                layout,
                documents,
                sections: HashMap::new(),
                referrers,
                tagged,
                _staging: None,
            })
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
        ImageRef::DockerDaemon(name) => {
            // What `docker save` would write, into the staging directory, imported and then dropped.
            let (staging, layout) = staging()?;
            let file = staging.path().join("docker-save.tar");
            reporter.step(&format!("saving {name} from the Docker Engine"));
            daemon::save(name, &file)?;
            let selector = Selector {
                tag: None,
                docker_name: Some((
                    name.repository_with_host(),
                    name.tag.clone().unwrap_or_else(|| "latest".into()),
                )),
            };
            let imported = import_archive(&file, &layout, &selector)?;
            std::fs::remove_file(&file).map_err(Error::io("remove", &file))?;
            if imported.converted {
                report.digest_changed = Some(
                    "the Docker Engine saved a classic archive with no OCI manifest; pare wrote one, so the digest is new".into(),
                );
            }
            OpenedImage::staged(
                layout,
                staging,
                &imported.manifest,
                HashMap::new(),
                access,
                &what,
            )
        }
        ImageRef::Registry(name) => {
            let client = client_for(name, access)?;
            let (staging, layout) = staging()?;
            let pulled = registry::pull(&client, name, access, &layout, reporter, report).and_then(
                |manifest| {
                    let found = if purpose == Purpose::Copy && access.referrers {
                        let subject = manifest.digest().to_string();
                        let repo = registry_repo(name);
                        referrers::pull_attached(
                            &client, &repo, &subject, &layout, access, reporter,
                        )?
                    } else {
                        (Vec::new(), Vec::new())
                    };
                    Ok((manifest, found))
                },
            );
            finish_stats(&client, report);
            let (manifest, (found, tagged)) = pulled?;
            let mut image =
                OpenedImage::staged(layout, staging, &manifest, HashMap::new(), access, &what)?;
            image.referrers = found;
            image.tagged = tagged;
            Ok(image)
        }
    }
}

/// Copies `source` to `destination` with `tags` (see [`destination_tags`]): a retag when both are
/// the same layout, a pull straight into a destination layout (blobs it holds are not fetched
/// again), else [`open`] then [`write`]. Layers the source stores uncompressed (a docker-archive's)
/// are compressed with `compression` on the way; by default gzip to a registry and from a
/// docker-archive into `oci:` or an oci-archive, else kept as they are (`Compression::None`).
pub fn copy(
    source: &ImageRef,
    destination: &ImageRef,
    extra_tags: &[String],
    compression: Option<Compression>,
    access: &Access,
    reporter: &dyn Reporter,
    report: &mut IoReport,
) -> Result<()> {
    report.source = source.to_string();
    report.destination = destination.to_string();
    if let (
        ImageRef::Layout { dir: a, tag },
        ImageRef::Layout {
            dir: b,
            tag: new_tag,
        },
    ) = (source, destination)
    {
        if same_dir(a, b) {
            let layout = Layout::open(a)?;
            let manifest = layout.resolve(tag.as_deref())?;
            layout.set_tags(&manifest, &destination_tags(new_tag, extra_tags))?;
            report.manifest_digest = manifest.digest().to_string();
            return Ok(());
        }
    }
    if let (ImageRef::Registry(name), ImageRef::Layout { dir, tag }) = (source, destination) {
        let client = client_for(name, access)?;
        let created = !dir.exists();
        let result = (|| -> Result<Descriptor> {
            let layout = Layout::create_or_open(dir)?;
            let manifest = registry::pull(&client, name, access, &layout, reporter, report)?;
            if access.referrers {
                let repo = registry_repo(name);
                let subject = manifest.digest().to_string();
                let (found, tagged) = referrers::pull_attached_into(
                    &client, &repo, &subject, &layout, access, reporter,
                )?;
                report.referrers += found as u64;
                report.cosign_tags += tagged as u64;
            }
            layout.set_tags(&manifest, &destination_tags(tag, extra_tags))?;
            Ok(manifest)
        })();
        finish_stats(&client, report);
        return match result {
            Ok(manifest) => {
                report.manifest_digest = manifest.digest().to_string();
                Ok(())
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
    let image = open(source, access, Purpose::Copy, reporter, report)?;
    // As skopeo: what goes to a registry is compressed, and so is a docker-archive's content
    // moving into OCI storage; an OCI image stored uncompressed on purpose stays so between files.
    let compression = compression.unwrap_or(match (source, destination) {
        (_, ImageRef::Registry(_)) => Compression::Gzip,
        (ImageRef::DockerArchive { .. }, ImageRef::Layout { .. } | ImageRef::OciArchive { .. }) => {
            Compression::Gzip
        }
        _ => Compression::None,
    });
    let image = compress_plain_layers(image, compression, reporter, report)?;
    write(&image, destination, extra_tags, access, reporter, report)
}

/// The layer media types of blobs stored as plain tar.
const PLAIN_LAYER_TYPES: [&str; 2] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
];

/// The image with every plain-tar layer compressed with `compression` (in a staging layout of its
/// own, with the other blobs beside them and a new manifest), or the image itself when it has no
/// such layer, `compression` is none, or its manifest is not an OCI one.
fn compress_plain_layers(
    image: OpenedImage,
    compression: Compression,
    reporter: &dyn Reporter,
    report: &mut IoReport,
) -> Result<OpenedImage> {
    let manifest = &image.documents.manifest;
    let plain = manifest
        .layers()
        .iter()
        .filter(|l| PLAIN_LAYER_TYPES.contains(&l.media_type().to_string().as_str()))
        .count();
    let is_oci =
        image.manifest().media_type().to_string() == "application/vnd.oci.image.manifest.v1+json";
    if plain == 0 || compression == Compression::None || !is_oci {
        return Ok(image);
    }
    let (staging, layout) = staging()?;
    let config = manifest.config();
    copy_blob(
        &image.layout,
        &layout,
        config.digest().as_ref(),
        config.size(),
    )?;
    let mut new_manifest = manifest.clone();
    let total = manifest.layers().len();
    let mut layers = Vec::with_capacity(total);
    for (i, layer) in manifest.layers().iter().enumerate() {
        let digest = layer.digest().to_string();
        if !PLAIN_LAYER_TYPES.contains(&layer.media_type().to_string().as_str()) {
            copy_blob(&image.layout, &layout, &digest, layer.size())?;
            layers.push(layer.clone());
            continue;
        }
        reporter.step(&format!(
            "layer {}/{total}: compressing {digest} ({})",
            i + 1,
            compression.name()
        ));
        let written = pare_oci::layer::compress_plain_blob(
            &image.layout,
            &digest,
            layer.size(),
            compression,
            &layout,
        )?;
        let mut compressed = Descriptor::new(
            oci_spec::image::MediaType::from(written.media_type()),
            written.size,
            pare_oci::image::parse_digest(&written.digest)?,
        );
        compressed.set_annotations(layer.annotations().clone());
        layers.push(compressed);
    }
    new_manifest.set_layers(layers);
    let bytes = pare_oci::canonical_json::to_vec(&new_manifest, "image manifest")?;
    let digest = layout.write_blob(&bytes)?;
    let mut descriptor = Descriptor::new(
        image.manifest().media_type().clone(),
        bytes.len() as u64,
        pare_oci::image::parse_digest(&digest)?,
    );
    descriptor.set_platform(image.manifest().platform().clone());
    let note = format!(
        "{plain} uncompressed {} compressed with {} (--compression none keeps them as they are), so the digest is new",
        if plain == 1 { "layer was" } else { "layers were" },
        compression.name()
    );
    report.digest_changed = Some(match report.digest_changed.take() {
        Some(earlier) => format!("{earlier}; {note}"),
        None => note,
    });
    let documents = read_image(&layout, &descriptor, "the compressed image")?;
    let attached = image.referrers.len() + image.tagged.len();
    if attached > 0 {
        reporter.warn(&format!(
            "{attached} referrer(s) and signature tag(s) of the image (SBOMs, signatures) name its old digest {} and are not carried; copy with --compression none to keep the digest and them",
            image.manifest().digest()
        ));
    }
    Ok(OpenedImage {
        layout,
        documents,
        sections: HashMap::new(),
        referrers: Vec::new(),
        tagged: Vec::new(),
        _staging: Some(staging),
    })
}

/// Checks a destination before anything is made for it: tags are valid, an archive's directory
/// exists, a layout path is not a file, a registry destination names a tag, not a digest.
pub fn check_destination(destination: &ImageRef, extra_tags: &[String]) -> Result<()> {
    for tag in extra_tags {
        validate_tag(tag).map_err(Error::Input)?;
    }
    let check_parent = |file: &Path| -> Result<()> {
        let parent = parent_dir(file);
        if parent.is_dir() {
            Ok(())
        } else {
            Err(Error::Input(format!(
                "cannot write {}: the directory {} does not exist",
                file.display(),
                parent.display()
            )))
        }
    };
    match destination {
        ImageRef::Layout { dir, .. } if dir.exists() && !dir.is_dir() => Err(Error::Input(
            format!("{} exists and is not a directory", dir.display()),
        )),
        ImageRef::Layout { .. } => Ok(()),
        ImageRef::OciArchive { file, .. } => check_parent(file),
        ImageRef::DockerArchive { file, name } => {
            check_parent(file)?;
            if name.is_none() && !extra_tags.is_empty() {
                return Err(Error::Input(
                    "--tag needs an image name in a docker-archive output: docker-archive:FILE:NAME:TAG".into(),
                ));
            }
            Ok(())
        }
        ImageRef::Registry(name) if name.digest.is_some() => Err(Error::Input(format!(
            "docker://{name}: push to a tag, not a digest (the digest is known only after the image is made)"
        ))),
        ImageRef::Registry(_) => Ok(()),
        ImageRef::DockerDaemon(name) if name.digest.is_some() => Err(Error::Input(format!(
            "docker-daemon:{name}: load under a NAME:TAG, not a digest"
        ))),
        ImageRef::DockerDaemon(_) => Ok(()),
    }
}

/// The tags (or, for a docker-archive, `NAME:TAG` names) an image gets at `destination`.
pub fn destination_names(destination: &ImageRef, extra_tags: &[String]) -> Vec<String> {
    match destination {
        ImageRef::Layout { tag, .. } | ImageRef::OciArchive { tag, .. } => {
            destination_tags(tag, extra_tags)
        }
        ImageRef::DockerArchive { name, .. } => docker_names(name, extra_tags)
            .iter()
            .map(ToString::to_string)
            .collect(),
        ImageRef::Registry(name) => destination_tags(&name.tag, extra_tags),
        ImageRef::DockerDaemon(name) => docker_names(&Some(name.clone()), extra_tags)
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

/// Where an image is assembled before [`write`] sends it to its destination: the destination
/// layout itself, or a staging layout (beside an archive being written, so the final rename stays
/// on one filesystem; in the temporary directory for a registry).
pub struct Assembly {
    pub layout: Layout,
    /// A layout directory this assembly created, removed again by [`Assembly::discard`].
    created: Option<PathBuf>,
    _staging: Option<tempfile::TempDir>,
}

impl Assembly {
    /// Removes what the assembly created (after a failure; best effort: nothing refers to it yet).
    pub fn discard(self) {
        if let Some(dir) = &self.created {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// Sends the image `manifest` names, assembled in this layout, to `destination` with [`write`],
    /// after `prepare` has seen it (to attach referrers: a build's SBOM); on failure removes what
    /// the assembly created.
    #[allow(clippy::too_many_arguments)] // write's inputs plus the one hook; a struct would only rename them
    pub fn finish(
        self,
        manifest: &Descriptor,
        prepare: &mut dyn FnMut(&mut OpenedImage) -> Result<()>,
        destination: &ImageRef,
        extra_tags: &[String],
        access: &Access,
        reporter: &dyn Reporter,
        report: &mut IoReport,
    ) -> Result<()> {
        let Assembly {
            layout,
            created,
            _staging: staging,
        } = self;
        let result = OpenedImage::in_layout(layout, manifest).and_then(|mut image| {
            prepare(&mut image)?;
            write(&image, destination, extra_tags, access, reporter, report)
        });
        if result.is_err() {
            if let Some(dir) = &created {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        drop(staging);
        result
    }
}

/// The layout to assemble an image for `destination` in.
pub fn assembly_for(destination: &ImageRef) -> Result<Assembly> {
    match destination {
        ImageRef::Layout { dir, .. } => {
            let created = (!dir.exists()).then(|| dir.clone());
            let layout = match Layout::create_or_open(dir) {
                Ok(layout) => layout,
                Err(e) => {
                    if let Some(dir) = &created {
                        let _ = std::fs::remove_dir_all(dir);
                    }
                    return Err(e.into());
                }
            };
            Ok(Assembly {
                layout,
                created,
                _staging: None,
            })
        }
        ImageRef::OciArchive { file, .. } | ImageRef::DockerArchive { file, .. } => {
            let parent = parent_dir(file);
            pare_oci::layout::remove_leftovers(parent, ".pare-build-");
            let staging = tempfile::Builder::new()
                .prefix(".pare-build-")
                .tempdir_in(parent)
                .map_err(Error::io("create a staging directory in", parent))?;
            let layout = Layout::create_or_open(staging.path())?;
            Ok(Assembly {
                layout,
                created: None,
                _staging: Some(staging),
            })
        }
        ImageRef::Registry(_) | ImageRef::DockerDaemon(_) => {
            // Layers go to a throwaway store (uploads stream from it and can be retried), then up.
            let (staging, layout) = staging()?;
            Ok(Assembly {
                layout,
                created: None,
                _staging: Some(staging),
            })
        }
    }
}

/// Writes an opened image to `destination`, tagged with the reference's own tag and `extra_tags`
/// (`latest` when there is none). A destination layout that already is the image's layout is only
/// tagged; another layout gets the blobs it lacks.
pub fn write(
    image: &OpenedImage,
    destination: &ImageRef,
    extra_tags: &[String],
    access: &Access,
    reporter: &dyn Reporter,
    report: &mut IoReport,
) -> Result<()> {
    let manifest = image.manifest();
    report.manifest_digest = manifest.digest().to_string();
    let blobs = image.blobs();
    report.blobs = blobs.len();
    // Writing an archive moves every blob, unless this copy already counted them (a pull from a
    // registry into an archive downloads each blob once: that is the transfer).
    let counted = report.blobs_transferred > 0 || report.blobs_already_present > 0;
    let whole_image = |report: &mut IoReport| {
        if !counted {
            report.blobs_transferred += blobs.len() as u64;
            report.bytes_transferred += blobs.iter().map(|(_, size)| size).sum::<u64>();
        }
    };
    let referrers_dropped = || {
        let attached = image.referrers.len() + image.tagged.len();
        if attached > 0 {
            reporter.warn(&format!(
                "{destination} has no place for referrers or signature tags: the image's {attached} (SBOMs, signatures) are not carried; write to oci:DIR or a registry to keep them"
            ));
        }
    };
    match destination {
        ImageRef::Layout { dir, tag } => {
            let tags = destination_tags(tag, extra_tags);
            if same_dir(image.layout.root(), dir) {
                image.layout.set_tags(manifest, &tags)?;
                report.referrers += image.referrers.len() as u64;
                report.cosign_tags += image.tagged.len() as u64;
                return Ok(());
            }
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
                    manifest.digest().as_ref(),
                    manifest.size(),
                )?;
                dest.set_tags(manifest, &tags)?;
                referrers::copy_between_layouts(&image.layout, &dest, &image.referrers)?;
                report.referrers += image.referrers.len() as u64;
                referrers::copy_tagged_between_layouts(&image.layout, &dest, &image.tagged)?;
                report.cosign_tags += image.tagged.len() as u64;
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
                manifest,
                &destination_tags(tag, extra_tags),
                file,
            )?;
            whole_image(report);
            referrers_dropped();
            Ok(())
        }
        ImageRef::DockerArchive { file, name } => {
            let names = docker_names(name, extra_tags);
            if names.is_empty() {
                reporter.warn(&format!(
                    "{} records no NAME:TAG, so `docker load` loads the image untagged; write docker-archive:{}:NAME:TAG to name it",
                    file.display(),
                    file.display()
                ));
            }
            pare_oci::archive::write_docker_archive(&image.layout, manifest, &names, file)?;
            whole_image(report);
            referrers_dropped();
            Ok(())
        }
        ImageRef::DockerDaemon(name) => {
            let names = docker_names(&Some(name.clone()), extra_tags);
            // A staging directory, so the next pare removes the file if this one is killed.
            let (dir, _lock) = staging()?;
            let file = dir.path().join("docker-load.tar");
            pare_oci::archive::write_docker_archive(&image.layout, manifest, &names, &file)?;
            reporter.step(&format!("loading {name} into the Docker Engine"));
            let said = daemon::load(&file)?;
            if !said.is_empty() {
                reporter.step(&said);
            }
            whole_image(report);
            referrers_dropped();
            Ok(())
        }
        ImageRef::Registry(name) => {
            let client = client_for(name, access)?;
            let pushed = registry::push(
                &client,
                name,
                &image.layout,
                manifest,
                extra_tags,
                access,
                reporter,
                report,
            )
            .and_then(|()| {
                let repo = registry_repo(name);
                referrers::push_tagged(
                    &client,
                    &repo,
                    &image.layout,
                    &image.tagged,
                    access,
                    reporter,
                )?;
                referrers::push(
                    &client,
                    &repo,
                    &image.layout,
                    &image.referrers,
                    access,
                    reporter,
                )
            });
            finish_stats(&client, report);
            let pushed = pushed?;
            report.cosign_tags += image.tagged.len() as u64;
            report.referrers += pushed.referrers;
            report.fallback_tags += pushed.fallback_tags;
            Ok(())
        }
    }
}

/// The names a docker-archive records: `NAME:TAG` (`latest` by default), then NAME with each extra
/// tag; none when the reference names no image.
fn docker_names(name: &Option<DockerName>, extra_tags: &[String]) -> Vec<DockerName> {
    let Some(n) = name else {
        return Vec::new();
    };
    let mut names = vec![DockerName {
        tag: Some(n.tag.clone().unwrap_or_else(|| "latest".into())),
        ..n.clone()
    }];
    for t in extra_tags {
        names.push(DockerName {
            tag: Some(t.clone()),
            ..n.clone()
        });
    }
    names
}

/// Puts the config and layer blobs of `image` into `layout` (those it lacks), for a build that
/// reuses another image's layers.
pub fn carry_blobs(image: &OpenedImage, layout: &Layout) -> Result<()> {
    if same_dir(image.layout.root(), layout.root()) {
        return Ok(());
    }
    for (digest, size) in image.blobs() {
        if !layout.has_valid_blob(&digest, size) {
            copy_blob(&image.layout, layout, &digest, size)?;
        }
    }
    Ok(())
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
pub fn destination_tags(tag: &Option<String>, extra: &[String]) -> Vec<String> {
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

fn parent_dir(file: &Path) -> &Path {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Whether two paths name the same directory.
pub(crate) fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A throwaway layout in the temporary directory, removed when the returned guard is dropped (and,
/// if pare is killed first, by the next pare that stages: dead staging layouts hold no lock). Also
/// the place for other scratch files of a run, which then go the same way.
pub(crate) fn staging() -> Result<(tempfile::TempDir, Layout)> {
    pare_oci::layout::remove_leftovers(&std::env::temp_dir(), "pare-staging-");
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

/// A scratch directory in the temporary directory (`pare slim`'s trees, `pare build --bytecode`'s
/// image), locked while it lives, which is what [`pare_oci::layout::remove_leftovers`] looks for:
/// what killed runs left is removed when the next one is made. Dropped, it is removed, also where
/// a sandbox left directories without write permission (overlayfs's work directory is mode 000).
pub(crate) struct Scratch {
    dir: Option<tempfile::TempDir>,
    _lock: std::fs::File,
}

impl Scratch {
    /// A new one named `prefix*`.
    pub fn new(prefix: &str) -> Result<Self> {
        pare_oci::layout::remove_leftovers(&std::env::temp_dir(), prefix);
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(Error::io(
                "create a scratch directory in",
                std::env::temp_dir(),
            ))?;
        let lock = std::fs::File::open(dir.path()).map_err(Error::io("open", dir.path()))?;
        lock.lock().map_err(Error::io("lock", dir.path()))?;
        Ok(Self {
            dir: Some(dir),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), |d| d.path())
    }

    /// Leaves the directory where it is (for inspection); its lock goes with the process.
    pub fn keep(mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else {
            return;
        };
        if std::fs::remove_dir_all(dir.path()).is_ok() {
            return;
        }
        for entry in walkdir::WalkDir::new(dir.path()).into_iter().flatten() {
            if entry.file_type().is_dir() {
                use std::os::unix::fs::PermissionsExt;
                let _ =
                    std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o700));
            }
        }
        // The TempDir's own drop removes what is left.
    }
}

/// A client for the registry a name points at.
fn client_for(name: &DockerName, access: &Access) -> Result<Client> {
    let host = registry_host(name);
    let defaults = ClientOptions::default();
    let number = |var: &str| -> Result<Option<u64>> {
        match std::env::var(var) {
            Ok(text) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Error::Input(format!("{var}={text:?} is not a whole number"))),
            Err(_) => Ok(None),
        }
    };
    Ok(Client::new(
        &host,
        ClientOptions {
            insecure: access.insecure,
            credentials: access.credentials.clone(),
            monolithic_limit: access.chunk_size.unwrap_or(defaults.monolithic_limit),
            chunk_size: access.chunk_size.unwrap_or(defaults.monolithic_limit),
            // A total budget per request: PARE_REGISTRY_DEADLINE seconds plus its body at
            // PARE_REGISTRY_MIN_RATE bytes per second.
            deadline: number("PARE_REGISTRY_DEADLINE")?
                .map_or(defaults.deadline, std::time::Duration::from_secs),
            min_rate: number("PARE_REGISTRY_MIN_RATE")?.unwrap_or(defaults.min_rate),
            ..defaults
        },
    )?)
}

/// The host a Docker name lives on (Docker Hub's API host when it names none).
fn registry_host(name: &DockerName) -> String {
    match name.host.as_deref() {
        None | Some("docker.io") | Some("index.docker.io") => "registry-1.docker.io".into(),
        Some(h) => h.to_string(),
    }
}

/// The repository path on the registry (`library/` added for Docker Hub's official images).
fn registry_repo(name: &DockerName) -> String {
    if registry_host(name) == "registry-1.docker.io" && !name.repository.contains('/') {
        format!("library/{}", name.repository)
    } else {
        name.repository.clone()
    }
}

fn finish_stats(client: &Client, report: &mut IoReport) {
    report.http_requests += RequestStats::get(&client.stats.requests);
    report.retries += RequestStats::get(&client.stats.retries);
}

/// Sends the index `index` (in `layout`, with the image manifests `images` it lists, each in
/// `layout` too) to `destination` with its tags: into a layout (the blobs it lacks, then the index
/// tagged), or to a registry (each image pushed by digest, then the index under each tag). What
/// `layout` keeps attached to the index and to each image (referrers, cosign's tags) goes along
/// unless `access.referrers` is off. Archives and the Docker Engine hold one image and are refused.
#[allow(clippy::too_many_arguments)] // write's inputs for an index; a struct would only rename them
pub fn write_index(
    layout: &Layout,
    index: &Descriptor,
    images: &[Descriptor],
    destination: &ImageRef,
    extra_tags: &[String],
    access: &Access,
    reporter: &dyn Reporter,
    report: &mut IoReport,
) -> Result<()> {
    report.manifest_digest = index.digest().to_string();
    let (attached, tagged) = if access.referrers {
        attached_to_index(layout, index, images)?
    } else {
        (Vec::new(), Vec::new())
    };
    match destination {
        ImageRef::Layout { dir, tag } if same_dir(layout.root(), dir) => {
            layout.set_tags(index, &destination_tags(tag, extra_tags))?;
            report.referrers += attached.len() as u64;
            report.cosign_tags += tagged.len() as u64;
            Ok(())
        }
        ImageRef::Layout { dir, tag } => {
            let tags = destination_tags(tag, extra_tags);
            let created = !dir.exists();
            let result = (|| -> Result<()> {
                let dest = Layout::create_or_open(dir)?;
                for image in images {
                    let opened = read_image(layout, image, "an image of the index")?;
                    let mut blobs: Vec<(String, u64)> = std::iter::once(opened.manifest.config())
                        .chain(opened.manifest.layers())
                        .map(|d| (d.digest().to_string(), d.size()))
                        .collect();
                    blobs.push((image.digest().to_string(), image.size()));
                    for (digest, size) in blobs {
                        report.blobs += 1;
                        if dest.has_valid_blob(&digest, size) {
                            report.blobs_already_present += 1;
                            continue;
                        }
                        copy_blob(layout, &dest, &digest, size)?;
                        report.blobs_transferred += 1;
                        report.bytes_transferred += size;
                    }
                }
                copy_blob(layout, &dest, index.digest().as_ref(), index.size())?;
                dest.set_tags(index, &tags)?;
                referrers::copy_between_layouts(layout, &dest, &attached)?;
                report.referrers += attached.len() as u64;
                referrers::copy_tagged_between_layouts(layout, &dest, &tagged)?;
                report.cosign_tags += tagged.len() as u64;
                Ok(())
            })();
            if result.is_err() && created {
                let _ = std::fs::remove_dir_all(dir);
            }
            result
        }
        ImageRef::Registry(name) => {
            let client = client_for(name, access)?;
            let pushed = (|| -> Result<referrers::Pushed> {
                for image in images {
                    let opened = read_image(layout, image, "an image of the index")?;
                    report.blobs += 1 + opened.manifest.layers().len();
                    let by_digest = DockerName {
                        tag: None,
                        digest: Some(image.digest().to_string()),
                        ..name.clone()
                    };
                    // Per image, only what it found present: the client's counters, which
                    // push also adds, are cumulative and read once below.
                    let mut part = IoReport::default();
                    registry::push(&client, &by_digest, layout, image, &[], access, reporter, &mut part)?;
                    report.blobs_already_present += part.blobs_already_present;
                }
                report.blobs_transferred += RequestStats::get(&client.stats.blobs_uploaded);
                report.blobs_mounted += RequestStats::get(&client.stats.blobs_mounted);
                report.bytes_transferred += RequestStats::get(&client.stats.bytes_uploaded);
                let bytes = layout.read_blob(index.digest().as_ref(), index.size())?;
                let repo = registry_repo(name);
                for tag in destination_tags(&name.tag, extra_tags) {
                    client.put_manifest(&repo, &tag, index.media_type().as_ref(), &bytes)?;
                }
                // After the index and its images, so every subject is there before what names it.
                referrers::push_tagged(&client, &repo, layout, &tagged, access, reporter)?;
                report.cosign_tags += tagged.len() as u64;
                referrers::push(&client, &repo, layout, &attached, access, reporter)
            })();
            finish_stats(&client, report);
            let pushed = pushed?;
            report.referrers += pushed.referrers;
            report.fallback_tags += pushed.fallback_tags;
            Ok(())
        }
        other => Err(Error::Input(format!(
            "{other} holds one image, not a multi-platform index; write the index to oci:DIR or docker://REF (or build one platform)"
        ))),
    }
}

/// What `layout` keeps attached to an index and to each image it lists: their referrers (parents
/// first) and cosign's tags.
fn attached_to_index(
    layout: &Layout,
    index: &Descriptor,
    images: &[Descriptor],
) -> Result<(Vec<Referrer>, Vec<referrers::TaggedArtifact>)> {
    let mut found: Vec<Referrer> = Vec::new();
    let mut tagged = Vec::new();
    for subject in std::iter::once(index).chain(images) {
        let digest = subject.digest().to_string();
        for r in referrers::in_layout(layout, &digest)? {
            if !found
                .iter()
                .any(|f| f.descriptor.digest() == r.descriptor.digest())
            {
                found.push(r);
            }
        }
        tagged.extend(referrers::tagged_in_layout(layout, &digest)?);
    }
    Ok((found, tagged))
}

/// Copies every platform of a multi-platform index (`--all-platforms`, `pare push` of an index):
/// the index and each image it lists, with their digests kept (so `compression` does not apply),
/// and what is attached to them. A source that is one image is copied as [`copy`] does, with
/// `compression`. Sources and destinations are layouts and registries (archives hold one image).
pub fn copy_all_platforms(
    source: &ImageRef,
    destination: &ImageRef,
    extra_tags: &[String],
    compression: Option<Compression>,
    access: &Access,
    reporter: &dyn Reporter,
    report: &mut IoReport,
) -> Result<()> {
    report.source = source.to_string();
    report.destination = destination.to_string();
    let what = source.to_string();
    let images_of = |bytes: &[u8]| -> Result<Vec<Descriptor>> {
        match pare_oci::manifest::parse_document(bytes, &what)? {
            pare_oci::manifest::Document::Index(index) => {
                let images = index.manifests().clone();
                if let Some(nested) = images
                    .iter()
                    .find(|d| pare_oci::manifest::is_index_media_type(d.media_type().as_ref()))
                {
                    return Err(Error::Input(format!(
                        "{what}: the index lists another index ({}); pare copies one level",
                        nested.digest()
                    )));
                }
                Ok(images)
            }
            pare_oci::manifest::Document::Image(_) => Ok(Vec::new()),
        }
    };
    match source {
        ImageRef::Layout { dir, tag } => {
            let layout = Layout::open_shared(dir)?;
            let top = layout.resolve(tag.as_deref())?;
            let bytes = layout.read_blob(top.digest().as_ref(), top.size())?;
            let images = images_of(&bytes)?;
            if images.is_empty() {
                drop(layout);
                return copy(
                    source,
                    destination,
                    extra_tags,
                    compression,
                    access,
                    reporter,
                    report,
                );
            }
            write_index(
                &layout,
                &top,
                &images,
                destination,
                extra_tags,
                access,
                reporter,
                report,
            )
        }
        ImageRef::Registry(name) => {
            let client = client_for(name, access)?;
            let top = client.get_manifest(&registry_repo(name), &name.reference())?;
            let images = images_of(&top.bytes)?;
            if images.is_empty() {
                return copy(
                    source,
                    destination,
                    extra_tags,
                    compression,
                    access,
                    reporter,
                    report,
                );
            }
            let (_staging, layout) = staging()?;
            let repo = registry_repo(name);
            let pulled = (|| -> Result<()> {
                for image in &images {
                    let by_digest = DockerName {
                        tag: None,
                        digest: Some(image.digest().to_string()),
                        ..name.clone()
                    };
                    let mut part = IoReport::default();
                    registry::pull(&client, &by_digest, access, &layout, reporter, &mut part)?;
                }
                if access.referrers {
                    // What is attached to the index and to each image, kept in the staging
                    // layout as a layout keeps it, for `write_index` to carry.
                    let subjects = std::iter::once(top.digest.clone())
                        .chain(images.iter().map(|i| i.digest().to_string()));
                    for subject in subjects {
                        referrers::pull_attached_into(
                            &client, &repo, &subject, &layout, access, reporter,
                        )?;
                    }
                }
                Ok(())
            })();
            finish_stats(&client, report);
            pulled?;
            let stored = layout.write_blob(&top.bytes)?;
            let index = Descriptor::new(
                oci_spec::image::MediaType::from(if top.media_type.is_empty() {
                    pare_oci::manifest::INDEX_MEDIA_TYPES[0]
                } else {
                    top.media_type.as_str()
                }),
                top.bytes.len() as u64,
                pare_oci::image::parse_digest(&stored)?,
            );
            let mut out = IoReport::default();
            write_index(
                &layout,
                &index,
                &images,
                destination,
                extra_tags,
                access,
                reporter,
                &mut out,
            )?;
            report.manifest_digest = out.manifest_digest;
            report.blobs += out.blobs;
            report.blobs_transferred += out.blobs_transferred;
            report.blobs_already_present += out.blobs_already_present;
            report.bytes_transferred += out.bytes_transferred;
            report.http_requests += out.http_requests;
            report.retries += out.retries;
            report.referrers += out.referrers;
            report.fallback_tags += out.fallback_tags;
            report.cosign_tags += out.cosign_tags;
            Ok(())
        }
        other => Err(Error::Input(format!(
            "{other} holds one image; --all-platforms copies an index from oci:DIR or docker://REF"
        ))),
    }
}
