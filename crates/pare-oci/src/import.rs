//! Reads image archives written by other tools into a layout: `oci-archive` files and
//! `docker-archive` files in both the Docker 25+ form (an OCI layout plus manifest.json) and the
//! classic `docker save` form (manifest.json, `<id>.json` configs, `<id>/layer.tar` layers, symlinks
//! between duplicate layers). Archives are untrusted: no entry name ever becomes a path on disk, every
//! blob is hashed while it is copied and must match its name, and JSON files are read with a bound.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifestBuilder, MediaType};
use serde::Deserialize;

use crate::digest::{sha256_hex, HashingWriter};
use crate::layout::{Layout, MAX_JSON_BLOB, REF_NAME};
use crate::{canonical_json, Error, Result};

/// Which image of an archive to take.
#[derive(Clone, Debug, Default)]
pub struct Selector {
    /// A tag (`org.opencontainers.image.ref.name`) for OCI archives.
    pub tag: Option<String>,
    /// A Docker name with tag (`app:latest`, `docker.io/library/app:latest`) for docker archives.
    pub docker_name: Option<(String, String)>,
}

/// The image found in an archive, its blobs now in the layout.
#[derive(Clone, Debug)]
pub struct Imported {
    pub manifest: Descriptor,
    /// True when pare had to write a new manifest (classic docker-archive), so the digest is not the
    /// one the image had where it came from.
    pub converted: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// An archive entry pare cares about.
enum Member {
    File,
    Link(String),
}

/// Imports the selected image of an archive file into `layout`.
pub fn import_archive(file: &Path, layout: &Layout, selector: &Selector) -> Result<Imported> {
    let open = || -> Result<tar::Archive<io::BufReader<File>>> {
        let f = File::open(file).map_err(Error::io("open archive", file))?;
        let mut head = [0u8; 4];
        let n = (&f)
            .read(&mut head)
            .map_err(Error::io("read archive", file))?;
        if n >= 2 && head[..2] == [0x1f, 0x8b] || n == 4 && head == [0x28, 0xb5, 0x2f, 0xfd] {
            return Err(Error::Invalid(format!(
                "{} is a compressed file; decompress it (gunzip / unzstd) and pass the plain tar",
                file.display()
            )));
        }
        let f = File::open(file).map_err(Error::io("open archive", file))?;
        Ok(tar::Archive::new(io::BufReader::with_capacity(1 << 20, f)))
    };
    let bad = |what: String| Error::Invalid(format!("archive {}: {what}", file.display()));

    // Pass 1: names, links and the small JSON files.
    let mut members: HashMap<String, Member> = HashMap::new();
    let mut index_json = None;
    let mut docker_json = None;
    let mut archive = open()?;
    for entry in archive.entries().map_err(Error::io("read archive", file))? {
        let mut entry = entry.map_err(|e| bad(format!("broken tar entry: {e}")))?;
        let Some(name) = entry_name(&entry) else {
            continue;
        };
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .ok()
                .flatten()
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            let resolved = if kind.is_hard_link() {
                normalize(&target)
            } else {
                let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                normalize(&format!("{dir}/{target}"))
            };
            if let Some(resolved) = resolved {
                members.insert(name, Member::Link(resolved));
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        if name == "index.json" || name == "manifest.json" {
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MAX_JSON_BLOB + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| bad(format!("reading {name}: {e}")))?;
            if bytes.len() as u64 > MAX_JSON_BLOB {
                return Err(bad(format!("{name} is larger than {MAX_JSON_BLOB} bytes")));
            }
            if name == "index.json" {
                index_json = Some(bytes);
            } else {
                docker_json = Some(bytes);
            }
        }
        members.insert(name, Member::File);
    }

    if let (Some(index), true) = (&index_json, members.contains_key("oci-layout")) {
        let index: ImageIndex = serde_json::from_slice(index)
            .map_err(|e| bad(format!("index.json is not an OCI index: {e}")))?;
        let manifest = select_oci(&index, selector).map_err(bad)?;
        // Pass 2: every blob the archive holds, checked against its name.
        copy_blobs(open()?, layout, file, |name| {
            let hex = name.strip_prefix("blobs/sha256/")?;
            sha256_hex(&format!("sha256:{hex}")).map(|_| format!("sha256:{hex}"))
        })?;
        check_present(layout, &manifest, file)?;
        return Ok(Imported {
            manifest,
            converted: false,
        });
    }
    let Some(docker_json) = docker_json else {
        return Err(bad(
            "neither an OCI layout (index.json + oci-layout) nor a docker archive (manifest.json)"
                .into(),
        ));
    };
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(&docker_json).map_err(|e| bad(format!("manifest.json: {e}")))?;
    let entry = select_docker(&entries, selector).map_err(bad)?;
    let mut wanted: Vec<String> = Vec::new();
    for path in std::iter::once(&entry.config).chain(&entry.layers) {
        let name = normalize(path)
            .ok_or_else(|| bad(format!("manifest.json names an unsafe path {path:?}")))?;
        wanted.push(resolve_member(&members, &name).map_err(bad)?);
    }
    let stored = copy_named(open()?, layout, file, &wanted)?;
    let lookup = |name: &String| {
        stored
            .get(name)
            .cloned()
            .ok_or_else(|| bad(format!("{name} is missing")))
    };
    let (config_digest, config_size) = lookup(&wanted[0])?;
    let config_bytes = layout.read_blob(&config_digest, config_size)?;
    let config: serde_json::Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| bad(format!("the image config is not JSON: {e}")))?;
    let diff_ids = config["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len);
    if diff_ids != entry.layers.len() {
        return Err(bad(format!(
            "the config lists {diff_ids} layers but manifest.json names {}",
            entry.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for name in &wanted[1..] {
        let (digest, size) = lookup(name)?;
        let media_type = sniff_layer_type(layout, &digest)?;
        layers.push(Descriptor::new(
            MediaType::from(media_type),
            size,
            crate::image::parse_digest(&digest)?,
        ));
    }
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_size,
            crate::image::parse_digest(&config_digest)?,
        ))
        .layers(layers)
        .build()
        .map_err(|e| bad(format!("cannot form a manifest: {e}")))?;
    let bytes = canonical_json::to_vec(&manifest, "converted manifest")?;
    let digest = layout.write_blob(&bytes)?;
    Ok(Imported {
        manifest: Descriptor::new(
            MediaType::ImageManifest,
            bytes.len() as u64,
            crate::image::parse_digest(&digest)?,
        ),
        converted: true,
    })
}

/// The entry's path, normalized; None for names that are absolute or climb out.
fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> Option<String> {
    let path = entry.path().ok()?;
    normalize(&path.to_string_lossy())
}

/// Normalizes an archive-relative path (`./a/../b` -> `b`); None if it is absolute or escapes.
fn normalize(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn resolve_member(
    members: &HashMap<String, Member>,
    name: &str,
) -> std::result::Result<String, String> {
    let mut current = name.to_string();
    for _ in 0..16 {
        match members.get(&current) {
            Some(Member::File) => return Ok(current),
            Some(Member::Link(target)) => current = target.clone(),
            None => return Err(format!("{name} is not in the archive")),
        }
    }
    Err(format!("{name}: too many links"))
}

fn select_oci(index: &ImageIndex, selector: &Selector) -> std::result::Result<Descriptor, String> {
    let manifests = index.manifests();
    let matches: Vec<&Descriptor> = manifests
        .iter()
        .filter(|d| {
            let annotations = d.annotations().clone().unwrap_or_default();
            match (&selector.tag, &selector.docker_name) {
                (Some(tag), _) => annotations.get(REF_NAME) == Some(tag),
                (None, Some((repo, tag))) => {
                    annotations
                        .get(crate::archive::CONTAINERD_NAME)
                        .is_some_and(|full| {
                            full.ends_with(&format!("/{repo}:{tag}"))
                                || full == &format!("{repo}:{tag}")
                        })
                        || annotations.get(REF_NAME) == Some(tag)
                }
                (None, None) => true,
            }
        })
        .collect();
    let mut unique: BTreeMap<String, &Descriptor> = BTreeMap::new();
    for d in matches {
        unique.insert(d.digest().to_string(), d);
    }
    match unique.len() {
        1 => Ok(unique.into_values().next().cloned().ok_or("no image")?),
        0 => Err(match &selector.tag {
            Some(tag) => format!("no image tagged {tag:?}"),
            None => "no matching image".into(),
        }),
        n => Err(format!("{n} images match; name one (FILE:TAG)")),
    }
}

fn select_docker<'a>(
    entries: &'a [DockerEntry],
    selector: &Selector,
) -> std::result::Result<&'a DockerEntry, String> {
    match &selector.docker_name {
        Some((repo, tag)) => {
            let want = format!("{repo}:{tag}");
            let short = want
                .trim_start_matches("docker.io/")
                .trim_start_matches("library/")
                .to_string();
            entries
                .iter()
                .find(|e| {
                    e.repo_tags.iter().flatten().any(|t| {
                        *t == want
                            || *t == short
                            || t.trim_start_matches("docker.io/library/") == short
                    })
                })
                .ok_or_else(|| format!("no image named {want}"))
        }
        None => match entries {
            [one] => Ok(one),
            [] => Err("manifest.json lists no image".into()),
            _ => Err(format!(
                "{} images in the archive; name one (FILE:NAME:TAG)",
                entries.len()
            )),
        },
    }
}

/// Calls `visit` with the normalized name of every regular-file entry of the archive (entries whose
/// names leave the archive root are skipped: they never name anything pare reads).
fn each_file<R: Read>(
    mut archive: tar::Archive<R>,
    file: &Path,
    mut visit: impl FnMut(&str, &mut tar::Entry<'_, R>) -> Result<()>,
) -> Result<()> {
    for entry in archive.entries().map_err(Error::io("read archive", file))? {
        let mut entry = entry.map_err(|e| {
            Error::Invalid(format!("archive {}: broken tar entry: {e}", file.display()))
        })?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        if let Some(name) = entry_name(&entry) {
            visit(&name, &mut entry)?;
        }
    }
    Ok(())
}

/// Copies every entry for which `digest_of(name)` gives a digest into the layout, checking it.
fn copy_blobs<R: Read>(
    archive: tar::Archive<R>,
    layout: &Layout,
    file: &Path,
    digest_of: impl Fn(&str) -> Option<String>,
) -> Result<()> {
    each_file(archive, file, |name, entry| {
        let Some(expected) = digest_of(name) else {
            return Ok(());
        };
        if layout.has_valid_blob(&expected, entry.size()) {
            return Ok(());
        }
        let (digest, _) = store_entry(entry, layout, file, name)?;
        if digest != expected {
            return Err(Error::Blob {
                digest: expected,
                path: file.to_path_buf(),
                reason: format!("the archive's {name} has digest {digest}; the archive is corrupt"),
            });
        }
        Ok(())
    })
}

/// Copies the named entries into the layout, returning name -> (digest, size).
fn copy_named<R: Read>(
    archive: tar::Archive<R>,
    layout: &Layout,
    file: &Path,
    wanted: &[String],
) -> Result<HashMap<String, (String, u64)>> {
    let mut stored = HashMap::new();
    each_file(archive, file, |name, entry| {
        if wanted.iter().any(|w| w == name) && !stored.contains_key(name) {
            let found = store_entry(entry, layout, file, name)?;
            stored.insert(name.to_string(), found);
        }
        Ok(())
    })?;
    Ok(stored)
}

fn store_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    layout: &Layout,
    file: &Path,
    name: &str,
) -> Result<(String, u64)> {
    let size = entry.size();
    let (temp, temp_path) = layout.temp_blob()?;
    let mut hashing = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, temp));
    let copied = io::copy(&mut entry.take(size), &mut hashing).map_err(|e| {
        Error::Invalid(format!(
            "archive {}: reading {name}: {e} (truncated archive?)",
            file.display()
        ))
    })?;
    if copied != size {
        return Err(Error::Invalid(format!(
            "archive {}: {name} ends after {copied} of {size} bytes (truncated archive)",
            file.display()
        )));
    }
    let (buffered, digest, size) = hashing.finish();
    let temp = buffered
        .into_inner()
        .map_err(|e| Error::io("write blob", &temp_path)(e.into_error()))?;
    layout.commit_blob(temp, &digest)?;
    Ok((digest, size))
}

fn check_present(layout: &Layout, manifest: &Descriptor, file: &Path) -> Result<()> {
    let bytes = layout.read_blob(manifest.digest().as_ref(), manifest.size())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Invalid(format!(
            "archive {}: manifest is not JSON: {e}",
            file.display()
        ))
    })?;
    let mut needed = vec![&value["config"]];
    if let Some(layers) = value["layers"].as_array() {
        needed.extend(layers);
    }
    for d in needed {
        let (Some(digest), Some(size)) = (d["digest"].as_str(), d["size"].as_u64()) else {
            continue;
        };
        if !layout.has_blob(digest, size) {
            return Err(Error::Invalid(format!(
                "archive {}: blob {digest} that the manifest names is not in the archive",
                file.display()
            )));
        }
    }
    Ok(())
}

/// The layer media type that fits a stored blob's first bytes.
fn sniff_layer_type(layout: &Layout, digest: &str) -> Result<&'static str> {
    let path = layout.blob_path(digest)?;
    let mut head = [0u8; 4];
    let n = File::open(&path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(Error::io("read blob", &path))?;
    Ok(if n >= 2 && head[..2] == [0x1f, 0x8b] {
        crate::compress::Compression::Gzip.layer_media_type()
    } else if n == 4 && head == [0x28, 0xb5, 0x2f, 0xfd] {
        crate::compress::Compression::Zstd.layer_media_type()
    } else {
        crate::compress::Compression::None.layer_media_type()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_escape() {
        assert_eq!(
            normalize("./blobs/sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(normalize("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize("../etc/passwd"), None);
        assert_eq!(normalize("/etc/passwd"), None);
        assert_eq!(normalize("."), None);
    }

    #[test]
    fn links_resolve_inside_the_archive() {
        let mut members = HashMap::new();
        members.insert("a/layer.tar".to_string(), Member::File);
        members.insert(
            "b/layer.tar".to_string(),
            Member::Link("a/layer.tar".into()),
        );
        members.insert("loop".to_string(), Member::Link("loop".into()));
        assert_eq!(
            resolve_member(&members, "b/layer.tar").unwrap(),
            "a/layer.tar"
        );
        assert!(resolve_member(&members, "loop").is_err());
        assert!(resolve_member(&members, "missing").is_err());
    }
}
