//! Pushing a stored image to a registry and pulling one into a layout, blob by blob, several at a
//! time, skipping what the other side already has.

use std::sync::atomic::{AtomicUsize, Ordering};

use oci_spec::image::{Descriptor, MediaType};
use pare_oci::image::{parse_digest, Platform};
use pare_oci::layout::Layout;
use pare_oci::manifest::{choose_platform, is_index_media_type, parse_document, Document};
use pare_oci::reference::DockerName;
use pare_registry::{Client, RequestStats};
use serde_json::Value;

use super::{mounts, registry_repo, Access, IoReport};
use crate::{Error, Reporter, Result};

/// The config and layer blobs a manifest names, as (digest, size); an index is refused.
pub(super) fn blobs_of(bytes: &[u8], what: &str) -> Result<Vec<(String, u64)>> {
    match parse_document(bytes, &format!("manifest {what}"))? {
        Document::Image(manifest) => Ok(std::iter::once(manifest.config())
            .chain(manifest.layers())
            .map(|d| (d.digest().to_string(), d.size()))
            .collect()),
        Document::Index(_) => Err(Error::Input(format!(
            "{what} is a multi-platform index; pare moves one platform at a time (choose it with --platform)"
        ))),
    }
}

/// Pushes the image `manifest` of `layout` to `name`.
#[allow(clippy::too_many_arguments)] // each is one independent input of a push; a struct would only rename them
pub fn push(
    client: &Client,
    name: &DockerName,
    layout: &Layout,
    manifest: &Descriptor,
    extra_tags: &[String],
    access: &Access,
    reporter: &dyn Reporter,
    report: &mut IoReport,
) -> Result<()> {
    let repo = registry_repo(name);
    let manifest_bytes = layout.read_blob(manifest.digest().as_ref(), manifest.size())?;
    let blobs = blobs_of(&manifest_bytes, manifest.digest().as_ref())?;
    let present = upload_blobs(client, &repo, layout, &blobs, access, reporter)?;
    let media_type = serde_json::from_slice::<Value>(&manifest_bytes)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
        .unwrap_or_else(|| manifest.media_type().to_string());
    let mut references: Vec<String> = name.tag.iter().cloned().collect();
    references.extend(extra_tags.iter().cloned());
    if references.is_empty() {
        references.push(name.digest.clone().unwrap_or_else(|| "latest".into()));
    }
    for reference in &references {
        client.put_manifest(&repo, reference, &media_type, &manifest_bytes)?;
    }
    report.blobs_already_present += present;
    report.blobs_transferred += RequestStats::get(&client.stats.blobs_uploaded);
    report.blobs_mounted += RequestStats::get(&client.stats.blobs_mounted);
    report.bytes_transferred += RequestStats::get(&client.stats.bytes_uploaded);
    Ok(())
}

/// The manifest of the image `name` names: itself, or for an index the entry for `access`'s
/// platform (this machine's by default), with the platform it was chosen for.
pub(super) fn image_manifest(
    client: &Client,
    name: &DockerName,
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<(pare_registry::Manifest, Option<Platform>)> {
    let repo = registry_repo(name);
    let mut manifest = client.get_manifest(&repo, &name.reference())?;
    let mut platform_of = None;
    if is_index_media_type(&manifest.media_type) || is_index(&manifest.bytes) {
        let want = access.platform.clone().unwrap_or_else(Platform::host);
        let what = name.to_string();
        let Document::Index(index) = parse_document(&manifest.bytes, &format!("index of {what}"))?
        else {
            return Err(Error::Input(format!(
                "{what}: the registry calls an image manifest an index"
            )));
        };
        let chosen = choose_platform(&index, &want, &what)?;
        let platform = pare_oci::manifest::descriptor_platform(&chosen).unwrap_or(want);
        reporter.step(&format!("{name} is multi-platform; taking {platform}"));
        manifest = client.get_manifest(&repo, chosen.digest().as_ref())?;
        platform_of = Some(platform);
    }
    Ok((manifest, platform_of))
}

/// Pulls `name` into `layout` (blobs already stored and intact are not fetched again) and returns the
/// manifest's descriptor, ready to be tagged.
pub fn pull(
    client: &Client,
    name: &DockerName,
    access: &Access,
    layout: &Layout,
    reporter: &dyn Reporter,
    report: &mut IoReport,
) -> Result<Descriptor> {
    let repo = registry_repo(name);
    let (manifest, platform_of) = image_manifest(client, name, access, reporter)?;
    let blobs = blobs_of(&manifest.bytes, &manifest.digest)?;
    report.blobs = blobs.len();
    let present = download_blobs(client, &repo, &blobs, layout, access, reporter)?;
    let stored = layout.write_blob(&manifest.bytes)?;
    report.blobs_already_present += present;
    report.blobs_transferred += RequestStats::get(&client.stats.blobs_downloaded);
    report.bytes_transferred += RequestStats::get(&client.stats.bytes_downloaded);
    let media_type = if manifest.media_type.is_empty() {
        serde_json::from_slice::<Value>(&manifest.bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into())
    } else {
        manifest.media_type.clone()
    };
    let mut descriptor = Descriptor::new(
        MediaType::from(media_type.as_str()),
        manifest.bytes.len() as u64,
        parse_digest(&stored)?,
    );
    if let Some(p) = platform_of {
        descriptor.set_platform(Some(p.to_oci()?));
    }
    Ok(descriptor)
}

/// Uploads the blobs of `layout` that `repo` lacks (mounted from another repository of the host
/// where pare saw them before), several at a time; returns how many were there already.
pub(super) fn upload_blobs(
    client: &Client,
    repo: &str,
    layout: &Layout,
    blobs: &[(String, u64)],
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<u64> {
    let host = client.host().to_string();
    let present = AtomicUsize::new(0);
    crate::parallel::run(blobs, access.jobs, |(digest, size)| {
        if client.blob_size(repo, digest)? == Some(*size) {
            present.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        for from in mounts::known_repositories(&host, digest) {
            if from != repo && client.mount_blob(repo, digest, &from)? {
                reporter.step(&format!("mounted {digest} from {from}"));
                return Ok(());
            }
        }
        reporter.step(&format!("uploading {digest} ({size} bytes)"));
        let progress = |done: u64| reporter.transfer(digest, done, *size);
        client.upload_blob(
            repo,
            digest,
            *size,
            &layout.blob_path(digest)?,
            Some(&progress),
        )?;
        reporter.transfer_done(digest);
        Ok(())
    })?;
    for (digest, _) in blobs {
        mounts::remember(&host, digest, repo);
    }
    Ok(present.load(Ordering::Relaxed) as u64)
}

/// Downloads the blobs of `repo` that `layout` lacks (or holds corrupt), several at a time, each
/// verified as it streams; returns how many were there already.
pub(super) fn download_blobs(
    client: &Client,
    repo: &str,
    blobs: &[(String, u64)],
    layout: &Layout,
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<u64> {
    let present = AtomicUsize::new(0);
    crate::parallel::run(blobs, access.jobs, |(digest, size)| {
        if layout.has_valid_blob(digest, *size) {
            present.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        reporter.step(&format!("downloading {digest} ({size} bytes)"));
        let (mut temp, _) = layout.temp_blob()?;
        let progress = |done: u64| reporter.transfer(digest, done, *size);
        client.download_blob(repo, digest, *size, temp.as_file_mut(), Some(&progress))?;
        reporter.transfer_done(digest);
        layout.commit_blob(temp, digest)?;
        Ok(())
    })?;
    for (digest, _) in blobs {
        mounts::remember(client.host(), digest, repo);
    }
    Ok(present.load(Ordering::Relaxed) as u64)
}

fn is_index(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v.get("manifests").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_with_bad_descriptors_are_refused() {
        assert!(blobs_of(
            br#"{"config":{"digest":"sha256:../x","size":1},"layers":[]}"#,
            "m"
        )
        .is_err());
        assert!(blobs_of(br#"{"manifests":[]}"#, "m").is_err());
        assert!(blobs_of(b"not json", "m").is_err());
    }
}
