//! Typed reads of the documents that describe a stored image: a manifest or index blob parsed once
//! into oci-spec types and checked in one place (every descriptor a sha256 digest, a config that is
//! not the manifest itself, as many diff_ids as layers), and the image of an index chosen by
//! platform. Every reader of images (audit, diff, gate, copy, push) goes through here. Not where
//! blobs come from (layout, archive, registry) nor how images are written (`image.rs`).

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use serde_json::Value;

use crate::digest::sha256_hex;
use crate::image::Platform;
use crate::layout::Layout;
use crate::{Error, Result};

/// Media types of a multi-platform index (OCI and Docker's manifest list).
pub const INDEX_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Media types of a single-image manifest (OCI and Docker v2 schema 2).
pub const IMAGE_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// How deep indexes may nest (an index of indexes of images) before pare gives up.
const MAX_INDEX_DEPTH: usize = 4;

/// A manifest blob: one image, or an index of images.
#[derive(Clone, Debug)]
pub enum Document {
    Image(Box<ImageManifest>),
    Index(Box<ImageIndex>),
}

/// Parses a manifest or index blob and checks its descriptors; `what` names it in errors.
pub fn parse_document(bytes: &[u8], what: &str) -> Result<Document> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::Invalid(format!("{what}: the manifest is not JSON: {e}")))?;
    if value.get("manifests").is_some() {
        let index: ImageIndex = serde_json::from_value(value)
            .map_err(|e| Error::Invalid(format!("{what}: not a valid image index: {e}")))?;
        for d in index.manifests() {
            check_descriptor(d, what, "index entry")?;
        }
        return Ok(Document::Index(Box::new(index)));
    }
    let manifest: ImageManifest = serde_json::from_value(value)
        .map_err(|e| Error::Invalid(format!("{what}: not a valid image manifest: {e}")))?;
    check_descriptor(manifest.config(), what, "config")?;
    for layer in manifest.layers() {
        check_descriptor(layer, what, "layer")?;
    }
    Ok(Document::Image(Box::new(manifest)))
}

/// Whether a descriptor (or the blob it names) is an index rather than one image.
pub fn is_index_media_type(media_type: &str) -> bool {
    INDEX_MEDIA_TYPES.contains(&media_type)
}

fn check_descriptor(d: &Descriptor, what: &str, role: &str) -> Result<()> {
    if sha256_hex(d.digest().as_ref()).is_none() {
        return Err(Error::Invalid(format!(
            "{what}: the manifest's {role} has no valid sha256 digest ({})",
            d.digest()
        )));
    }
    Ok(())
}

/// One image as stored: its manifest and config, parsed and checked against each other.
#[derive(Clone, Debug)]
pub struct ImageDocuments {
    /// The descriptor the image was reached by (an index entry, a tag, a registry reply).
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    /// The config as the JSON it was stored as (for fields oci-spec does not model and for reports
    /// that show the config as found).
    pub config_json: Value,
}

impl ImageDocuments {
    /// The diff_ids of the layers, in order.
    pub fn diff_ids(&self) -> &[String] {
        self.config.rootfs().diff_ids()
    }

    /// The history line that made each layer (history entries marked `empty_layer` skipped).
    pub fn layer_history(&self) -> Vec<Option<String>> {
        self.config
            .history()
            .iter()
            .flatten()
            .filter(|h| !h.empty_layer().unwrap_or(false))
            .map(|h| h.created_by().clone())
            .collect()
    }

    /// The layer comments of the history, in the same order as [`ImageDocuments::layer_history`].
    pub fn layer_comments(&self) -> Vec<Option<String>> {
        self.config
            .history()
            .iter()
            .flatten()
            .filter(|h| !h.empty_layer().unwrap_or(false))
            .map(|h| h.comment().clone())
            .collect()
    }
}

/// Reads the image `descriptor` names from `layout`: the manifest (which must be one image, not an
/// index: see [`resolve_platform`]) and its config, each digest-checked, parsed and validated.
pub fn read_image(layout: &Layout, descriptor: &Descriptor, what: &str) -> Result<ImageDocuments> {
    let digest = descriptor.digest().to_string();
    let bytes = layout.read_blob(&digest, descriptor.size())?;
    let manifest = match parse_document(&bytes, what)? {
        Document::Image(m) => *m,
        Document::Index(_) => {
            return Err(Error::Invalid(format!(
                "{what} is a multi-platform index; choose one image of it with --platform"
            )))
        }
    };
    let config_descriptor = manifest.config();
    if config_descriptor.digest().as_ref() == digest {
        return Err(Error::Invalid(format!(
            "{what}: the manifest names itself as its config"
        )));
    }
    let config_bytes = layout.read_blob(
        config_descriptor.digest().as_ref(),
        config_descriptor.size(),
    )?;
    let config_json: Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| Error::Invalid(format!("{what}: the image config is not JSON: {e}")))?;
    let config: ImageConfiguration = serde_json::from_value(config_json.clone())
        .map_err(|e| Error::Invalid(format!("{what}: not a valid image config: {e}")))?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(Error::Invalid(format!(
            "{what}: the manifest has {} layers but the config lists {} diff_ids",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    if let Some(bad) = diff_ids.iter().find(|d| sha256_hex(d).is_none()) {
        return Err(Error::Invalid(format!(
            "{what}: the config lists a diff_id that is not a sha256 digest: {bad:?}"
        )));
    }
    Ok(ImageDocuments {
        descriptor: descriptor.clone(),
        manifest,
        config,
        config_json,
    })
}

/// The platform an index entry says its image is for, when it says.
pub fn descriptor_platform(d: &Descriptor) -> Option<Platform> {
    d.platform().as_ref().map(Platform::from_oci)
}

/// The entry of `index` for `want`: same os and architecture, and the same variant when `want`
/// names one. Attestation manifests (`unknown/unknown`) never match.
pub fn choose_platform(index: &ImageIndex, want: &Platform, what: &str) -> Result<Descriptor> {
    let mut available = Vec::new();
    for d in index.manifests() {
        let Some(found) = descriptor_platform(d) else {
            continue;
        };
        let variant_ok = want.variant.is_none() || want.variant == found.variant;
        if found.os == want.os && found.architecture == want.architecture && variant_ok {
            return Ok(d.clone());
        }
        if found.os != "unknown" {
            available.push(found.to_string());
        }
    }
    Err(Error::Invalid(format!(
        "{what} has no image for {want}; it has: {}. Choose one with --platform",
        if available.is_empty() {
            "no platform-tagged image".to_string()
        } else {
            available.join(", ")
        }
    )))
}

/// Follows `descriptor` through any indexes in `layout` to the one image for `platform` (the
/// machine's own when None). A descriptor that names an image is returned as it is.
pub fn resolve_platform(
    layout: &Layout,
    descriptor: &Descriptor,
    platform: Option<&Platform>,
    what: &str,
) -> Result<Descriptor> {
    let want = platform.cloned().unwrap_or_else(Platform::host);
    let mut current = descriptor.clone();
    for _ in 0..=MAX_INDEX_DEPTH {
        let media_type = current.media_type().to_string();
        let declared_index = is_index_media_type(&media_type);
        let declared_image = IMAGE_MEDIA_TYPES.contains(&media_type.as_str());
        if declared_image {
            return Ok(current);
        }
        let bytes = layout.read_blob(current.digest().as_ref(), current.size())?;
        match parse_document(&bytes, what)? {
            Document::Image(_) if !declared_index => return Ok(current),
            Document::Image(_) => {
                return Err(Error::Invalid(format!(
                    "{what}: {} is declared an index but holds an image manifest",
                    current.digest()
                )))
            }
            Document::Index(index) => current = choose_platform(&index, &want, what)?,
        }
    }
    Err(Error::Invalid(format!(
        "{what}: indexes nest more than {MAX_INDEX_DEPTH} deep"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: serde_json::Value) -> ImageIndex {
        serde_json::from_value(serde_json::json!({"schemaVersion": 2, "manifests": entries}))
            .unwrap()
    }

    #[test]
    fn platforms_are_chosen_from_an_index() {
        let index = index(serde_json::json!([
            {"mediaType": IMAGE_MEDIA_TYPES[0], "size": 1, "digest": format!("sha256:{}", "a".repeat(64)),
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": IMAGE_MEDIA_TYPES[0], "size": 1, "digest": format!("sha256:{}", "b".repeat(64)),
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": IMAGE_MEDIA_TYPES[0], "size": 1, "digest": format!("sha256:{}", "c".repeat(64)),
             "platform": {"os": "unknown", "architecture": "unknown"}}
        ]));
        let pick = |p: &str| choose_platform(&index, &Platform::parse(p).unwrap(), "x");
        assert!(pick("linux/amd64")
            .unwrap()
            .digest()
            .to_string()
            .ends_with('b'));
        assert!(pick("linux/arm64")
            .unwrap()
            .digest()
            .to_string()
            .ends_with('a'));
        assert!(pick("linux/arm64/v8")
            .unwrap()
            .digest()
            .to_string()
            .ends_with('a'));
        assert!(pick("linux/arm64/v7").is_err());
        let err = pick("linux/s390x").unwrap_err().to_string();
        assert!(
            err.contains("it has: linux/arm64/v8, linux/amd64."),
            "{err}"
        );
    }

    #[test]
    fn bad_documents_are_refused_with_the_reason() {
        let bad_digest = br#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:../x","size":1},"layers":[]}"#;
        assert!(parse_document(bad_digest, "m").is_err());
        let sha512 = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"a","digest":"sha512:{}","size":1}},"layers":[]}}"#,
            "a".repeat(128)
        );
        let err = parse_document(sha512.as_bytes(), "m")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sha256"), "{err}");
        assert!(parse_document(b"not json", "m")
            .unwrap_err()
            .to_string()
            .contains("not JSON"));
        assert!(matches!(
            parse_document(br#"{"schemaVersion":2,"manifests":[]}"#, "m").unwrap(),
            Document::Index(_)
        ));
    }
}
