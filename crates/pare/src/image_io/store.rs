//! An image where its artifacts live: an OCI layout or a registry repository, opened once for the
//! verbs that read or add what belongs to an image (referrers, signatures) rather than the image
//! itself. Reads manifests and small blobs into memory, finds and writes tagged manifests. Not for
//! moving whole images (`image_io::copy`).

use oci_spec::image::{Descriptor, MediaType};
use pare_oci::image::parse_digest;
use pare_oci::layout::Layout;
use pare_oci::manifest::resolve_platform;
use pare_oci::reference::ImageRef;
use pare_registry::Client;

use super::registry::{image_manifest, upload_blobs};
use super::{client_for, registry_repo, Access};
use crate::{Error, Reporter, Result};

/// Largest artifact blob pare reads into memory (an SBOM of a very large image is tens of MB).
const MAX_ARTIFACT: u64 = 512 << 20;

/// Where an image's artifacts are read and written: its layout, or its registry repository.
pub(crate) enum Store {
    Layout(Layout),
    Registry { client: Box<Client>, repo: String },
}

/// Opens where `reference`'s image and its artifacts are kept (a layout locked for writing when
/// `write`), and names the image's digest (after choosing a platform).
pub(crate) fn store_of(
    reference: &ImageRef,
    access: &Access,
    write: bool,
    reporter: &dyn Reporter,
) -> Result<(Store, String)> {
    let (store, image) = store_and_image(reference, access, write, reporter)?;
    Ok((store, image.digest().to_string()))
}

/// [`store_of`] for what the reference names as it is ([`store_and_named`]): its digest.
pub(crate) fn store_of_named(
    reference: &ImageRef,
    access: &Access,
    write: bool,
    reporter: &dyn Reporter,
) -> Result<(Store, String)> {
    let (store, named) = store_and_named(reference, access, write, reporter)?;
    Ok((store, named.digest().to_string()))
}

/// [`store_of`], with the image's whole descriptor (media type, size, digest: what a referrer
/// names as its subject).
pub(crate) fn store_and_image(
    reference: &ImageRef,
    access: &Access,
    write: bool,
    reporter: &dyn Reporter,
) -> Result<(Store, Descriptor)> {
    opened(reference, access, write, true, reporter)
}

/// What `reference` names as it is, an index included (what cosign signs for a tag), unless
/// `access.platform` asks for one platform's image: the store and that manifest's descriptor.
pub(crate) fn store_and_named(
    reference: &ImageRef,
    access: &Access,
    write: bool,
    reporter: &dyn Reporter,
) -> Result<(Store, Descriptor)> {
    opened(
        reference,
        access,
        write,
        access.platform.is_some(),
        reporter,
    )
}

fn opened(
    reference: &ImageRef,
    access: &Access,
    write: bool,
    choose_platform: bool,
    reporter: &dyn Reporter,
) -> Result<(Store, Descriptor)> {
    match reference {
        ImageRef::Layout { dir, tag } => {
            let layout = if write {
                Layout::open(dir)?
            } else {
                Layout::open_shared(dir)?
            };
            let top = layout.resolve(tag.as_deref())?;
            let what = reference.to_string();
            let image = if choose_platform {
                resolve_platform(&layout, &top, access.platform.as_ref(), &what)?
            } else {
                top
            };
            Ok((Store::Layout(layout), image))
        }
        ImageRef::Registry(name) => {
            let client = client_for(name, access)?;
            let manifest = if choose_platform {
                image_manifest(&client, name, access, reporter)?.0
            } else {
                client.get_manifest(&registry_repo(name), &name.reference())?
            };
            let repo = registry_repo(name);
            let media_type = if manifest.media_type.is_empty() {
                pare_oci::referrer::MANIFEST_MEDIA_TYPE.to_string()
            } else {
                manifest.media_type.clone()
            };
            let image = Descriptor::new(
                MediaType::from(media_type.as_str()),
                manifest.bytes.len() as u64,
                parse_digest(&manifest.digest)?,
            );
            Ok((
                Store::Registry {
                    client: Box::new(client),
                    repo,
                },
                image,
            ))
        }
        other => Err(Error::Input(format!(
            "{other}: archives and the Docker Engine keep no referrers or signatures; use an oci: layout or a registry"
        ))),
    }
}

impl Store {
    pub(crate) fn manifest(&self, digest: &str, size: u64) -> Result<Vec<u8>> {
        match self {
            Store::Layout(layout) => Ok(layout.read_blob(digest, size)?),
            Store::Registry { client, repo } => Ok(client.get_manifest(repo, digest)?.bytes),
        }
    }

    pub(crate) fn blob(&self, digest: &str, size: u64) -> Result<Vec<u8>> {
        if size > MAX_ARTIFACT {
            return Err(Error::Input(format!(
                "the artifact blob {digest} is {size} bytes, more than pare reads ({MAX_ARTIFACT})"
            )));
        }
        match self {
            Store::Layout(layout) => {
                let mut bytes = Vec::with_capacity(size as usize);
                layout.copy_blob(digest, size, &mut bytes)?;
                Ok(bytes)
            }
            Store::Registry { client, repo } => {
                let mut temp = tempfile::tempfile().map_err(Error::io(
                    "create a temporary file in",
                    std::env::temp_dir(),
                ))?;
                client.download_blob(repo, digest, size, &mut temp, None)?;
                let mut bytes = Vec::with_capacity(size as usize);
                std::io::Seek::rewind(&mut temp)
                    .and_then(|_| std::io::Read::read_to_end(&mut temp, &mut bytes))
                    .map_err(Error::io("read back", std::env::temp_dir()))?;
                Ok(bytes)
            }
        }
    }

    /// The manifest stored under `tag`, when there is one.
    pub(crate) fn tagged(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Store::Layout(layout) => {
                let index = layout.read_index()?;
                let found = index.manifests().iter().find(|d| {
                    d.annotations()
                        .as_ref()
                        .and_then(|a| a.get(pare_oci::layout::REF_NAME))
                        .is_some_and(|t| t == tag)
                });
                match found {
                    Some(d) => Ok(Some(layout.read_blob(d.digest().as_ref(), d.size())?)),
                    None => Ok(None),
                }
            }
            Store::Registry { client, repo } => {
                Ok(client.find_manifest(repo, tag)?.map(|m| m.bytes))
            }
        }
    }

    /// Stores `blobs` and then `manifest` (of `media_type`) under `tag`.
    pub(crate) fn put_tagged(
        &self,
        blobs: &[&[u8]],
        manifest: &[u8],
        media_type: &str,
        tag: &str,
        access: &Access,
        reporter: &dyn Reporter,
    ) -> Result<String> {
        match self {
            Store::Layout(layout) => {
                for blob in blobs {
                    layout.write_blob(blob)?;
                }
                let digest = layout.write_blob(manifest)?;
                let descriptor = Descriptor::new(
                    MediaType::from(media_type),
                    manifest.len() as u64,
                    parse_digest(&digest)?,
                );
                layout.set_tags(&descriptor, &[tag.to_string()])?;
                Ok(digest)
            }
            Store::Registry { client, repo } => {
                upload_bytes(client, repo, blobs, access, reporter)?;
                Ok(client.put_manifest(repo, tag, media_type, manifest)?)
            }
        }
    }

    /// Whether referrers of `digest` are listed where they are stored: always in a layout, at a
    /// registry when it offers the referrers API.
    pub(crate) fn lists_referrers(&self, digest: &str) -> Result<bool> {
        match self {
            Store::Layout(_) => Ok(true),
            Store::Registry { client, repo } => Ok(client.referrers(repo, digest)?.is_some()),
        }
    }

    /// Stores `blobs` and the referrer `manifest` (which names its subject) by digest, listed as a
    /// referrer: an untagged entry in a layout; at a registry, the manifest (the caller asked
    /// [`Store::lists_referrers`] first).
    pub(crate) fn put_referrer(
        &self,
        blobs: &[&[u8]],
        manifest: &[u8],
        access: &Access,
        reporter: &dyn Reporter,
    ) -> Result<String> {
        let digest = pare_oci::digest::sha256_digest(manifest);
        let referrer = pare_oci::referrer::parse_referrer(manifest, &digest).ok_or_else(|| {
            Error::Input(format!("the referrer {digest} pare made names no subject"))
        })?;
        match self {
            Store::Layout(layout) => {
                for blob in blobs {
                    layout.write_blob(blob)?;
                }
                layout.write_blob(manifest)?;
                layout.set_tags(&referrer.descriptor, &[])?;
            }
            Store::Registry { client, repo } => {
                upload_bytes(client, repo, blobs, access, reporter)?;
                client.put_manifest(
                    repo,
                    &digest,
                    referrer.descriptor.media_type().as_ref(),
                    manifest,
                )?;
            }
        }
        Ok(digest)
    }
}

/// Uploads in-memory blobs that `repo` lacks (uploads stream from files, so they go through a
/// staging layout).
fn upload_bytes(
    client: &Client,
    repo: &str,
    blobs: &[&[u8]],
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<()> {
    let (_staging, layout) = super::staging()?;
    let mut listed = Vec::with_capacity(blobs.len());
    for blob in blobs {
        listed.push((layout.write_blob(blob)?, blob.len() as u64));
    }
    upload_blobs(client, repo, &layout, &listed, access, reporter)?;
    Ok(())
}
