//! Pushing a stored image to a registry and pulling one into a layout, blob by blob, several at a
//! time, skipping what the other side already has.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use oci_spec::image::{Descriptor, MediaType};
use pare_oci::digest::sha256_hex;
use pare_oci::image::{parse_digest, Platform};
use pare_oci::layout::Layout;
use pare_oci::reference::DockerName;
use pare_registry::{Client, RequestStats};
use serde_json::Value;

use super::{mounts, registry_repo, Access, TransferOptions, TransferReport};
use crate::{Error, Reporter, Result};

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The config and layer blobs a stored image manifest names, as (digest, size).
pub fn manifest_blobs(layout: &Layout, manifest: &Descriptor) -> Result<Vec<(String, u64)>> {
    let bytes = layout.read_blob(manifest.digest().as_ref(), manifest.size())?;
    blobs_of(&bytes, manifest.digest().as_ref())
}

fn blobs_of(bytes: &[u8], what: &str) -> Result<Vec<(String, u64)>> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::Input(format!("manifest {what} is not JSON: {e}")))?;
    if value.get("manifests").is_some() {
        return Err(Error::Input(format!(
            "{what} is a multi-platform index; pare moves one platform at a time (choose it with --platform)"
        )));
    }
    let mut out = Vec::new();
    let config = std::iter::once(&value["config"]);
    let layers = value["layers"].as_array().into_iter().flatten();
    for d in config.chain(layers) {
        let digest = d["digest"].as_str().unwrap_or_default();
        let size = d["size"].as_u64();
        match (sha256_hex(digest), size) {
            (Some(_), Some(size)) => out.push((digest.to_string(), size)),
            _ => {
                return Err(Error::Input(format!(
                    "manifest {what} has a descriptor without a sha256 digest and size: {d}"
                )))
            }
        }
    }
    Ok(out)
}

/// Runs `work` over `items` on up to `jobs` threads; the first error wins.
fn parallel<T: Sync>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if let Err(e) = work(item) {
                    let mut slot = failure
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    slot.get_or_insert(e);
                    next.store(items.len(), Ordering::Relaxed);
                    break;
                }
            });
        }
    });
    match failure
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Pushes the image `manifest` of `layout` to `name`.
pub fn push(
    client: &Client,
    name: &DockerName,
    layout: &Layout,
    manifest: &Descriptor,
    options: &TransferOptions,
    reporter: &dyn Reporter,
    report: &mut TransferReport,
) -> Result<()> {
    let repo = registry_repo(name);
    let host = client.host().to_string();
    let manifest_bytes = layout.read_blob(manifest.digest().as_ref(), manifest.size())?;
    let blobs = blobs_of(&manifest_bytes, manifest.digest().as_ref())?;
    let present = AtomicUsize::new(0);
    parallel(&blobs, options.access.jobs, |(digest, size)| {
        if client.blob_size(&repo, digest)? == Some(*size) {
            present.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        for from in mounts::known_repositories(&host, digest) {
            if from != repo && client.mount_blob(&repo, digest, &from)? {
                reporter.step(&format!("mounted {digest} from {from}"));
                return Ok(());
            }
        }
        reporter.step(&format!("uploading {digest} ({size} bytes)"));
        let progress = |done: u64| reporter.transfer(digest, done, *size);
        client.upload_blob(
            &repo,
            digest,
            *size,
            &layout.blob_path(digest)?,
            Some(&progress),
        )?;
        reporter.transfer_done(digest);
        Ok(())
    })?;
    let media_type = serde_json::from_slice::<Value>(&manifest_bytes)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
        .unwrap_or_else(|| manifest.media_type().to_string());
    let mut references: Vec<String> = name.tag.iter().cloned().collect();
    references.extend(options.extra_tags.iter().cloned());
    if references.is_empty() {
        references.push(name.digest.clone().unwrap_or_else(|| "latest".into()));
    }
    for reference in &references {
        client.put_manifest(&repo, reference, &media_type, &manifest_bytes)?;
    }
    for (digest, _) in &blobs {
        mounts::remember(&host, digest, &repo);
    }
    report.blobs_already_present += present.load(Ordering::Relaxed) as u64;
    report.blobs_transferred += RequestStats::get(&client.stats.blobs_uploaded);
    report.blobs_mounted += RequestStats::get(&client.stats.blobs_mounted);
    report.bytes_transferred += RequestStats::get(&client.stats.bytes_uploaded);
    Ok(())
}

/// Pulls `name` into `layout` (blobs already stored and intact are not fetched again) and returns the
/// manifest's descriptor, ready to be tagged.
pub fn pull(
    client: &Client,
    name: &DockerName,
    access: &Access,
    layout: &Layout,
    reporter: &dyn Reporter,
    report: &mut TransferReport,
) -> Result<Descriptor> {
    let repo = registry_repo(name);
    let reference = name
        .digest
        .clone()
        .or_else(|| name.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let mut manifest = client.get_manifest(&repo, &reference)?;
    let mut platform_of = None;
    if INDEX_TYPES.contains(&manifest.media_type.as_str()) || is_index(&manifest.bytes) {
        let want = access.platform.clone().unwrap_or_else(Platform::host);
        let (digest, platform) = choose_platform(&manifest.bytes, &want, &name.to_string())?;
        reporter.step(&format!("{name} is multi-platform; taking {platform}"));
        manifest = client.get_manifest(&repo, &digest)?;
        platform_of = Some(platform);
    }
    let blobs = blobs_of(&manifest.bytes, &manifest.digest)?;
    report.blobs = blobs.len();
    let present = AtomicUsize::new(0);
    parallel(&blobs, access.jobs, |(digest, size)| {
        if layout.has_valid_blob(digest, *size) {
            present.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        reporter.step(&format!("downloading {digest} ({size} bytes)"));
        let (mut temp, _) = layout.temp_blob()?;
        let progress = |done: u64| reporter.transfer(digest, done, *size);
        client.download_blob(&repo, digest, *size, temp.as_file_mut(), Some(&progress))?;
        reporter.transfer_done(digest);
        layout.commit_blob(temp, digest)?;
        Ok(())
    })?;
    let stored = layout.write_blob(&manifest.bytes)?;
    for (digest, _) in &blobs {
        mounts::remember(client.host(), digest, &repo);
    }
    report.blobs_already_present += present.load(Ordering::Relaxed) as u64;
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
        if let Ok(platform) = oci_spec::image::PlatformBuilder::default()
            .os(oci_spec::image::Os::from(p.os.as_str()))
            .architecture(oci_spec::image::Arch::from(p.architecture.as_str()))
            .build()
        {
            descriptor.set_platform(Some(platform));
        }
    }
    Ok(descriptor)
}

fn is_index(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v.get("manifests").is_some())
}

fn choose_platform(bytes: &[u8], want: &Platform, what: &str) -> Result<(String, Platform)> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::Input(format!("index of {what} is not JSON: {e}")))?;
    let mut available = Vec::new();
    for m in value["manifests"].as_array().into_iter().flatten() {
        let p = &m["platform"];
        let found = Platform {
            os: p["os"].as_str().unwrap_or("").to_string(),
            architecture: p["architecture"].as_str().unwrap_or("").to_string(),
            variant: p["variant"].as_str().map(str::to_string),
        };
        let variant_ok = want.variant.is_none() || want.variant == found.variant;
        if found.os == want.os && found.architecture == want.architecture && variant_ok {
            let digest = m["digest"].as_str().unwrap_or_default();
            if sha256_hex(digest).is_none() {
                return Err(Error::Input(format!(
                    "index of {what} has a malformed digest {digest:?}"
                )));
            }
            return Ok((digest.to_string(), found));
        }
        if !found.os.is_empty() {
            available.push(found.to_string());
        }
    }
    Err(Error::Input(format!(
        "{what} has no image for {want}; it has: {}. Choose one with --platform",
        available.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_chosen_from_an_index() {
        let index = serde_json::json!({"manifests": [
            {"digest": format!("sha256:{}", "a".repeat(64)), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": format!("sha256:{}", "b".repeat(64)), "platform": {"os": "linux", "architecture": "amd64"}}
        ]});
        let bytes = serde_json::to_vec(&index).unwrap();
        let (d, _) =
            choose_platform(&bytes, &Platform::parse("linux/amd64").unwrap(), "x").unwrap();
        assert!(d.ends_with('b'));
        let (d, _) =
            choose_platform(&bytes, &Platform::parse("linux/arm64").unwrap(), "x").unwrap();
        assert!(d.ends_with('a'));
        let err =
            choose_platform(&bytes, &Platform::parse("linux/s390x").unwrap(), "x").unwrap_err();
        assert!(
            err.to_string().contains("linux/arm64/v8, linux/amd64"),
            "{err}"
        );
    }

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
