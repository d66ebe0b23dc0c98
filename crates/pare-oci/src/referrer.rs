//! OCI 1.1 referrers: manifests that name an image as their `subject` (an SBOM, a signature, an
//! attestation). Here: the artifact manifest pare writes (the empty config, one blob, the subject),
//! the descriptor a referrers list gives for a referrer (image-spec's rule: `artifactType`, else
//! the config's media type, and the manifest's annotations), the distribution spec's fallback tag
//! (`sha256-<hex>`) and its index, and where an image layout keeps referrers. The image-layout spec
//! names no place for them, so pare does what ORAS's layout store does: each referrer is an
//! untagged `index.json` entry, found again by reading the manifest and its `subject`. Not here:
//! the registry side (`pare-registry`) or carrying referrers between stores (`pare::image_io`).

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{Descriptor, ImageIndex, MediaType};
use serde_json::{json, Value};

use crate::digest::{sha256_digest, sha256_hex};
use crate::image::parse_digest;
use crate::layout::{Layout, MAX_JSON_BLOB, REF_NAME};
use crate::manifest::{IMAGE_MEDIA_TYPES, INDEX_MEDIA_TYPES};
use crate::{canonical_json, Error, Result};

/// The empty JSON object, the config blob of an artifact that needs none.
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// Its media type.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The media type of an OCI image manifest (what every artifact manifest is).
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The annotation pare stamps on artifacts it writes: when the content was made.
pub const CREATED: &str = "org.opencontainers.image.created";

/// A manifest that refers to another: its descriptor (as a referrers list gives it) and the digest
/// of its subject.
#[derive(Clone, Debug, PartialEq)]
pub struct Referrer {
    pub descriptor: Descriptor,
    pub subject: String,
}

impl Referrer {
    /// The artifact type its descriptor carries (empty when it has none).
    pub fn artifact_type(&self) -> String {
        self.descriptor
            .artifact_type()
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// Its annotations, sorted.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.descriptor
            .annotations()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// One artifact to attach: a single blob of `media_type` (also the artifact type), with annotations.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub media_type: String,
    pub content: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

/// The subject descriptor written into a referrer: media type, digest and size only (a layout's
/// ref name or a platform belongs to where the image is kept, not to what it is).
fn subject_of(image: &Descriptor) -> Value {
    json!({
        "mediaType": image.media_type().to_string(),
        "digest": image.digest().to_string(),
        "size": image.size(),
    })
}

/// The artifact manifest for `artifact` about `image`, in canonical JSON: the empty config, one
/// layer (the artifact's blob), `artifactType` and `subject` (image-spec 1.1's guidance for an
/// artifact with no config of its own).
pub fn artifact_manifest(artifact: &Artifact, image: &Descriptor) -> Result<Vec<u8>> {
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": artifact.media_type,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "digest": sha256_digest(EMPTY_CONFIG),
            "size": EMPTY_CONFIG.len(),
        },
        "layers": [{
            "mediaType": artifact.media_type,
            "digest": sha256_digest(&artifact.content),
            "size": artifact.content.len(),
        }],
        "subject": subject_of(image),
    });
    if !artifact.annotations.is_empty() {
        manifest["annotations"] = json!(artifact.annotations);
    }
    canonical_json::to_vec(&manifest, "artifact manifest")
}

/// Stores `artifact` in `layout` as a referrer of `image`: its blobs, its manifest, and an untagged
/// `index.json` entry. Returns it as a referrers list would describe it.
pub fn attach(layout: &Layout, image: &Descriptor, artifact: &Artifact) -> Result<Referrer> {
    layout.write_blob(EMPTY_CONFIG)?;
    layout.write_blob(&artifact.content)?;
    let bytes = artifact_manifest(artifact, image)?;
    let digest = layout.write_blob(&bytes)?;
    let referrer = parse_referrer(&bytes, &digest).ok_or_else(|| {
        Error::Invalid(format!(
            "the artifact manifest {digest} pare wrote has no subject"
        ))
    })?;
    layout.set_tags(&referrer.descriptor, &[])?;
    Ok(referrer)
}

/// The referrer a manifest or index is, when it has a `subject`: its descriptor with the artifact
/// type (`artifactType`, else the config's media type) and the manifest's annotations, as the
/// distribution spec's referrers list and fallback tag describe it. None for anything else.
pub fn parse_referrer(bytes: &[u8], digest: &str) -> Option<Referrer> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let subject = value.get("subject")?.get("digest")?.as_str()?;
    sha256_hex(subject)?;
    let media_type = value
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(MANIFEST_MEDIA_TYPE);
    let artifact_type = value
        .get("artifactType")
        .and_then(Value::as_str)
        .or_else(|| value.get("config")?.get("mediaType")?.as_str());
    let annotations: Option<HashMap<String, String>> = value
        .get("annotations")
        .and_then(|a| serde_json::from_value(a.clone()).ok())
        .filter(|a: &HashMap<String, String>| !a.is_empty());
    let mut descriptor = Descriptor::new(
        MediaType::from(media_type),
        bytes.len() as u64,
        parse_digest(digest).ok()?,
    );
    descriptor.set_artifact_type(artifact_type.map(MediaType::from));
    descriptor.set_annotations(annotations);
    Some(Referrer {
        descriptor,
        subject: subject.to_string(),
    })
}

/// The distribution spec's fallback tag for the referrers of `digest`: `<algorithm>-<hex>`.
pub fn fallback_tag(digest: &str) -> Result<String> {
    let hex = sha256_hex(digest).ok_or_else(|| {
        Error::Invalid(format!(
            "{digest:?} is not a sha256 digest of 64 lowercase hex digits"
        ))
    })?;
    Ok(format!("sha256-{hex}"))
}

/// Whether `tag` is one of cosign's tags for an image's signatures, attestations or SBOM
/// (`sha256-<64 hex>.sig`, `.att`, `.sbom`).
pub fn is_cosign_tag(tag: &str) -> bool {
    let Some((base, suffix)) = tag.rsplit_once('.') else {
        return false;
    };
    ["sig", "att", "sbom"].contains(&suffix)
        && base
            .strip_prefix("sha256-")
            .is_some_and(|hex| sha256_hex(&format!("sha256:{hex}")).is_some())
}

/// The descriptors of a referrers list (the referrers API's answer, or the fallback tag's index);
/// `what` names it in errors. An answer that is not an image index is refused, as the spec asks.
pub fn parse_list(bytes: &[u8], what: &str) -> Result<Vec<Descriptor>> {
    let index: ImageIndex = serde_json::from_slice(bytes)
        .map_err(|e| Error::Invalid(format!("{what}: not an image index of referrers: {e}")))?;
    for d in index.manifests() {
        if sha256_hex(d.digest().as_ref()).is_none() {
            return Err(Error::Invalid(format!(
                "{what}: a referrer has no valid sha256 digest ({})",
                d.digest()
            )));
        }
    }
    Ok(index.manifests().clone())
}

/// The fallback tag's index with `referrer` added (the spec's steps: begin from the current list,
/// or an empty index when there is none; no duplicate entry); None when it is listed already.
pub fn add_to_list(
    current: Option<&[u8]>,
    referrer: &Referrer,
    what: &str,
) -> Result<Option<Vec<u8>>> {
    let mut manifests = match current {
        Some(bytes) => parse_list(bytes, what)?,
        None => Vec::new(),
    };
    if manifests
        .iter()
        .any(|d| d.digest() == referrer.descriptor.digest())
    {
        return Ok(None);
    }
    manifests.push(referrer.descriptor.clone());
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPES[0],
        "manifests": manifests,
    });
    canonical_json::to_vec(&index, what).map(Some)
}

/// The referrers of `subject` kept in `layout`: untagged `index.json` entries whose manifest names
/// it, in index order. Entries whose blob the layout lacks are passed over (they refer to nothing
/// pare can carry); a stored manifest that fails its digest is an error.
pub fn in_layout(layout: &Layout, subject: &str) -> Result<Vec<Referrer>> {
    let index = layout.read_index()?;
    let mut found: Vec<Referrer> = Vec::new();
    for entry in index.manifests() {
        if let Some(referrer) = referrer_entry(layout, entry)? {
            if referrer.subject == subject
                && !found
                    .iter()
                    .any(|r| r.descriptor.digest() == referrer.descriptor.digest())
            {
                found.push(referrer);
            }
        }
    }
    Ok(found)
}

/// The referrer an `index.json` entry is: an untagged manifest that names a subject.
pub(crate) fn referrer_entry(layout: &Layout, entry: &Descriptor) -> Result<Option<Referrer>> {
    let tagged = entry
        .annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key(REF_NAME));
    let media_type = entry.media_type().to_string();
    let is_manifest = IMAGE_MEDIA_TYPES[..1].contains(&media_type.as_str())
        || INDEX_MEDIA_TYPES[..1].contains(&media_type.as_str());
    let digest = entry.digest().to_string();
    if tagged
        || !is_manifest
        || entry.size() > MAX_JSON_BLOB
        || !layout.has_blob(&digest, entry.size())
    {
        return Ok(None);
    }
    let bytes = layout.read_blob(&digest, entry.size())?;
    Ok(parse_referrer(&bytes, &digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Descriptor {
        let mut d = Descriptor::new(
            MediaType::ImageManifest,
            1234,
            parse_digest(&sha256_digest(b"image")).unwrap(),
        );
        let mut a = HashMap::new();
        a.insert(REF_NAME.to_string(), "latest".to_string());
        d.set_annotations(Some(a));
        d
    }

    fn sbom() -> Artifact {
        Artifact {
            media_type: "application/spdx+json".into(),
            content: br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec(),
            annotations: [(CREATED.to_string(), "2024-01-01T00:00:00Z".to_string())]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn an_artifact_manifest_is_the_specs_shape_and_its_own_referrer() {
        let bytes = artifact_manifest(&sbom(), &image()).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["artifactType"], "application/spdx+json");
        assert_eq!(v["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        assert_eq!(
            v["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(v["subject"]["size"], 1234);
        assert!(
            v["subject"].get("annotations").is_none(),
            "no ref name in the subject"
        );
        assert_eq!(v["layers"][0]["size"], sbom().content.len());
        let digest = sha256_digest(&bytes);
        let r = parse_referrer(&bytes, &digest).unwrap();
        assert_eq!(r.subject, image().digest().to_string());
        assert_eq!(r.artifact_type(), "application/spdx+json");
        assert_eq!(r.annotations()[CREATED], "2024-01-01T00:00:00Z");
        assert_eq!(r.descriptor.size(), bytes.len() as u64);
    }

    #[test]
    fn without_an_artifact_type_the_config_media_type_is_the_type() {
        let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}}"#;
        let r = parse_referrer(bytes, &sha256_digest(bytes)).unwrap();
        assert_eq!(
            r.artifact_type(),
            "application/vnd.dev.cosign.simplesigning.v1+json"
        );
        assert!(parse_referrer(b"{}", &sha256_digest(b"{}")).is_none());
        assert!(parse_referrer(
            br#"{"subject":{"digest":"sha256:../x"}}"#,
            &sha256_digest(b"x")
        )
        .is_none());
    }

    #[test]
    fn the_fallback_list_grows_once_per_referrer() {
        let bytes = artifact_manifest(&sbom(), &image()).unwrap();
        let r = parse_referrer(&bytes, &sha256_digest(&bytes)).unwrap();
        let first = add_to_list(None, &r, "tag").unwrap().unwrap();
        assert_eq!(parse_list(&first, "tag").unwrap().len(), 1);
        assert!(add_to_list(Some(&first), &r, "tag").unwrap().is_none());
        assert!(add_to_list(Some(b"not json"), &r, "tag").is_err());
        assert_eq!(
            fallback_tag(&sha256_digest(b"image")).unwrap(),
            format!("sha256-{}", sha256_hex(&sha256_digest(b"image")).unwrap())
        );
        assert!(fallback_tag("md5:abc").is_err());
    }

    #[test]
    fn a_layout_keeps_referrers_as_untagged_entries() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create_or_open(dir.path()).unwrap();
        let subject = image();
        let attached = attach(&layout, &subject, &sbom()).unwrap();
        // Attaching again changes nothing.
        attach(&layout, &subject, &sbom()).unwrap();
        let found = in_layout(&layout, subject.digest().as_ref()).unwrap();
        assert_eq!(found, vec![attached]);
        assert!(in_layout(&layout, &sha256_digest(b"other"))
            .unwrap()
            .is_empty());
    }
}
