//! Reads image archives written by other tools into a layout: `oci-archive` files and
//! `docker-archive` files in both the Docker 25+ form (an OCI layout plus manifest.json) and the
//! classic `docker save` form (manifest.json, `<id>.json` configs, `<id>/layer.tar` layers, symlinks
//! between duplicate layers), either copied into the layout or, for one reading pass, left in the
//! archive as byte ranges found by one walk over the tar headers. Archives are untrusted: no entry name
//! ever becomes a path on disk, every blob is hashed while it is copied (or, in place, while it is
//! read) and must match its name, and JSON files are read with a bound.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::Path;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifestBuilder, MediaType};
use serde::Deserialize;

use crate::compress::Compression;
use crate::digest::{sha256_hex, HashingWriter};
use crate::layout::{Layout, MAX_JSON_BLOB, REF_NAME};
use crate::read::{read_full, Section};
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
    /// A regular file: where its data starts in the archive and how long it is.
    File {
        offset: u64,
        size: u64,
    },
    Link(String),
}

/// What one pass over an archive's tar headers finds.
struct Scanned {
    members: HashMap<String, Member>,
    index_json: Option<Vec<u8>>,
    docker_json: Option<Vec<u8>>,
}

/// How the layers of an archive are made available.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every blob is copied into the layout (to be written elsewhere).
    Copy,
    /// Layers stay in the archive as [`Section`]s (to be read once); small JSON blobs are copied.
    InPlace,
}

/// An image of an archive opened for reading in place: the manifest and config are in the layout,
/// the layers (by digest) are byte ranges of the archive. Layers that could not be left in place
/// (a compressed layer of a classic `docker save` archive, whose digest is only known by hashing it)
/// were copied into the layout and are not in `sections`.
#[derive(Clone, Debug)]
pub struct InPlace {
    pub imported: Imported,
    pub sections: HashMap<String, Section>,
}

/// Imports the selected image of an archive file into `layout`, every blob copied and verified.
pub fn import_archive(file: &Path, layout: &Layout, selector: &Selector) -> Result<Imported> {
    Ok(import(file, layout, selector, Mode::Copy)?.imported)
}

/// Opens the selected image of an archive for reading without copying its layers: they are read
/// from the archive where they are (and hashed against their digests when read). Faster than
/// [`import_archive`] for a single pass (audit, diff, sbom); the archive must not change meanwhile.
pub fn open_archive(file: &Path, layout: &Layout, selector: &Selector) -> Result<InPlace> {
    import(file, layout, selector, Mode::InPlace)
}

/// Reads the tar headers of an archive once, seeking over member data; keeps the JSON files that
/// say what the archive is.
fn scan(file: &Path) -> Result<Scanned> {
    let mut f = crate::layout::open_regular(file)?;
    let mut head = [0u8; 4];
    let n = read_full(&mut f, &mut head).map_err(Error::io("read archive", file))?;
    if Compression::sniff(&head[..n]) != Compression::None {
        return Err(Error::Invalid(format!(
            "{} is a compressed file; decompress it (gunzip / unzstd) and pass the plain tar",
            file.display()
        )));
    }
    io::Seek::rewind(&mut f).map_err(Error::io("read archive", file))?;
    // Members are skipped by seeking, and a seek past the end is not an error: sizes are checked
    // against the file's length instead.
    let length = f.metadata().map_err(Error::io("read archive", file))?.len();
    let bad = |what: String| Error::Invalid(format!("archive {}: {what}", file.display()));
    // A small buffer: every skipped member is a seek, which drops what is buffered.
    let mut archive = tar::Archive::new(io::BufReader::with_capacity(16 << 10, f));
    let mut scanned = Scanned {
        members: HashMap::new(),
        index_json: None,
        docker_json: None,
    };
    for entry in archive
        .entries_with_seek()
        .map_err(Error::io("read archive", file))?
    {
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
                scanned.members.insert(name, Member::Link(resolved));
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let (offset, size) = (entry.raw_file_position(), entry.size());
        if name == "index.json" || name == "manifest.json" {
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MAX_JSON_BLOB + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| bad(format!("reading {name}: {e}")))?;
            if bytes.len() as u64 > MAX_JSON_BLOB {
                return Err(bad(format!("{name} is larger than {MAX_JSON_BLOB} bytes")));
            }
            if bytes.len() as u64 != size {
                return Err(bad(format!("{name} is truncated")));
            }
            if name == "index.json" {
                scanned.index_json = Some(bytes);
            } else {
                scanned.docker_json = Some(bytes);
            }
        }
        if offset.saturating_add(size) > length {
            return Err(bad(format!(
                "{name} should end at byte {} but the file has {length} bytes: the archive is \
                 truncated",
                offset.saturating_add(size)
            )));
        }
        scanned.members.insert(name, Member::File { offset, size });
    }
    Ok(scanned)
}

/// The name of the blob with `digest` in an archive's OCI layout.
fn blob_name(digest: &str) -> Option<String> {
    sha256_hex(digest).map(|hex| format!("blobs/sha256/{hex}"))
}

/// For the single image `manifest` of an archive's OCI layout: copies its manifest and config into
/// the layout and returns its layers as sections of the archive. None when the manifest is an index:
/// its images are copied whole, as for writing.
fn oci_layers_in_place(
    members: &HashMap<String, Member>,
    layout: &Layout,
    file: &Path,
    manifest: &Descriptor,
) -> Result<Option<HashMap<String, Section>>> {
    let bad = |what: String| Error::Invalid(format!("archive {}: {what}", file.display()));
    let digest = manifest.digest().to_string();
    copy_member(members, layout, file, blob_name(&digest), &digest)?;
    let bytes = layout.read_blob(&digest, manifest.size())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("manifest {digest} is not JSON: {e}")))?;
    let Some(layers) = value["layers"]
        .as_array()
        .filter(|_| value.get("manifests").is_none())
    else {
        return Ok(None);
    };
    let config = value["config"]["digest"].as_str().unwrap_or_default();
    copy_member(members, layout, file, blob_name(config), config)?;
    let mut sections = HashMap::new();
    for layer in layers {
        let digest = layer["digest"].as_str().unwrap_or_default();
        let declared = layer["size"].as_u64();
        let name = blob_name(digest).ok_or_else(|| {
            bad(format!(
                "the manifest names a layer without a sha256 digest: {layer}"
            ))
        })?;
        match resolve_member(members, &name) {
            Ok((_, offset, size)) if Some(size) == declared => {
                let section = Section {
                    file: file.to_path_buf(),
                    offset,
                };
                sections.insert(digest.to_string(), section);
            }
            Ok((_, _, size)) => {
                return Err(bad(format!(
                    "layer {digest} has {size} bytes in the archive, the manifest says {}",
                    declared.unwrap_or_default()
                )))
            }
            Err(_) => {
                return Err(bad(format!(
                    "blob {digest} that the manifest names is not in the archive"
                )))
            }
        }
    }
    Ok(Some(sections))
}

fn import(file: &Path, layout: &Layout, selector: &Selector, mode: Mode) -> Result<InPlace> {
    let bad = |what: String| Error::Invalid(format!("archive {}: {what}", file.display()));
    let scanned = scan(file)?;
    let members = &scanned.members;
    if let (Some(index), true) = (&scanned.index_json, members.contains_key("oci-layout")) {
        let index: ImageIndex = serde_json::from_slice(index)
            .map_err(|e| bad(format!("index.json is not an OCI index: {e}")))?;
        let manifest = select_oci(&index, selector).map_err(bad)?;
        let in_place = match mode {
            Mode::InPlace => oci_layers_in_place(members, layout, file, &manifest)?,
            Mode::Copy => None,
        };
        let sections = match in_place {
            Some(sections) => sections,
            None => {
                copy_blobs(members, layout, file)?;
                check_present(layout, &manifest, file)?;
                HashMap::new()
            }
        };
        return Ok(InPlace {
            imported: Imported {
                manifest,
                converted: false,
            },
            sections,
        });
    }
    let Some(docker_json) = &scanned.docker_json else {
        return Err(bad(
            "neither an OCI layout (index.json + oci-layout) nor a docker archive (manifest.json)"
                .into(),
        ));
    };
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(docker_json).map_err(|e| bad(format!("manifest.json: {e}")))?;
    let entry = select_docker(&entries, selector).map_err(bad)?;
    let mut sections = HashMap::new();
    let mut wanted: Vec<(String, u64, u64)> = Vec::new();
    for path in std::iter::once(&entry.config).chain(&entry.layers) {
        let name = normalize(path)
            .ok_or_else(|| bad(format!("manifest.json names an unsafe path {path:?}")))?;
        wanted.push(resolve_member(members, &name).map_err(bad)?);
    }
    let (config_name, config_offset, config_size) = &wanted[0];
    let (config_digest, config_size) =
        store_member(layout, file, config_name, *config_offset, *config_size)?;
    let config_bytes = layout.read_blob(&config_digest, config_size)?;
    let config: serde_json::Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| bad(format!("the image config is not JSON: {e}")))?;
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|ids| ids.iter().map(|d| d.as_str().unwrap_or_default()).collect())
        .unwrap_or_default();
    if diff_ids.len() != entry.layers.len() {
        return Err(bad(format!(
            "the config lists {} layers but manifest.json names {}",
            diff_ids.len(),
            entry.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for ((name, offset, size), diff_id) in wanted[1..].iter().zip(diff_ids) {
        let section = Section {
            file: file.to_path_buf(),
            offset: *offset,
        };
        let media_type = sniff(&mut section.open(*size)?, file)?;
        // A plain layer's digest is its diff_id: it stays in place and is checked when read. Any
        // other layer is hashed to learn its digest, and copied on the way.
        let digest = if mode == Mode::InPlace
            && media_type == Compression::None.layer_media_type()
            && sha256_hex(diff_id).is_some()
        {
            sections.insert(diff_id.to_string(), section);
            diff_id.to_string()
        } else {
            store_member(layout, file, name, *offset, *size)?.0
        };
        layers.push(Descriptor::new(
            MediaType::from(media_type),
            *size,
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
    Ok(InPlace {
        imported: Imported {
            manifest: Descriptor::new(
                MediaType::ImageManifest,
                bytes.len() as u64,
                crate::image::parse_digest(&digest)?,
            ),
            converted: true,
        },
        sections,
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
) -> std::result::Result<(String, u64, u64), String> {
    let mut current = name.to_string();
    for _ in 0..16 {
        match members.get(&current) {
            Some(Member::File { offset, size }) => return Ok((current, *offset, *size)),
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

/// Copies every blob of an archive's OCI layout into the layout, each checked against its name, in
/// archive order.
fn copy_blobs(members: &HashMap<String, Member>, layout: &Layout, file: &Path) -> Result<()> {
    let mut blobs: Vec<(u64, &String)> = members
        .iter()
        .filter_map(|(name, member)| match member {
            Member::File { offset, .. } if name.starts_with("blobs/sha256/") => {
                Some((*offset, name))
            }
            _ => None,
        })
        .collect();
    blobs.sort();
    for (_, name) in blobs {
        let digest = format!("sha256:{}", &name["blobs/sha256/".len()..]);
        if sha256_hex(&digest).is_some() {
            copy_member(members, layout, file, Some(name.clone()), &digest)?;
        }
    }
    Ok(())
}

/// Copies the member `name` (a blob that must hash to `digest`) into the layout, unless the layout
/// already holds it intact.
fn copy_member(
    members: &HashMap<String, Member>,
    layout: &Layout,
    file: &Path,
    name: Option<String>,
    digest: &str,
) -> Result<()> {
    let missing = || {
        Error::Invalid(format!(
            "archive {}: blob {digest} that the manifest names is not in the archive",
            file.display()
        ))
    };
    let name = name.ok_or_else(missing)?;
    let (resolved, offset, size) = resolve_member(members, &name).map_err(|_| missing())?;
    if layout.has_valid_blob(digest, size) {
        return Ok(());
    }
    let (actual, _) = store_member(layout, file, &resolved, offset, size)?;
    if actual != digest {
        return Err(Error::Blob {
            digest: digest.to_string(),
            path: file.to_path_buf(),
            reason: format!("the archive's {name} has digest {actual}; the archive is corrupt"),
        });
    }
    Ok(())
}

/// Copies one member's data into the layout, hashing it on the way; returns its digest and size.
fn store_member(
    layout: &Layout,
    file: &Path,
    name: &str,
    offset: u64,
    size: u64,
) -> Result<(String, u64)> {
    let mut reader = Section {
        file: file.to_path_buf(),
        offset,
    }
    .open(size)?;
    let (temp, temp_path) = layout.temp_blob()?;
    let mut hashing = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, temp));
    let copied = io::copy(&mut reader, &mut hashing).map_err(|e| {
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

/// The layer media type that fits a blob's first bytes.
fn sniff(reader: &mut impl Read, file: &Path) -> Result<&'static str> {
    let mut head = [0u8; 4];
    let n = read_full(reader, &mut head).map_err(Error::io("read archive", file))?;
    Ok(Compression::sniff(&head[..n]).layer_media_type())
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
        members.insert(
            "a/layer.tar".to_string(),
            Member::File { offset: 0, size: 1 },
        );
        members.insert(
            "b/layer.tar".to_string(),
            Member::Link("a/layer.tar".into()),
        );
        members.insert("loop".to_string(), Member::Link("loop".into()));
        assert_eq!(
            resolve_member(&members, "b/layer.tar").unwrap(),
            ("a/layer.tar".to_string(), 0, 1)
        );
        assert!(resolve_member(&members, "loop").is_err());
        assert!(resolve_member(&members, "missing").is_err());
    }
}
