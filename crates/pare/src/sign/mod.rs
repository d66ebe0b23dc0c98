//! `pare sign` and `pare verify`: cosign-compatible signatures of an image. A signature is the
//! simple-signing payload (`critical.identity.docker-reference`, `critical.image.docker-manifest-
//! digest`, `critical.type` "cosign container image signature", `optional` annotations) signed
//! with ECDSA P-256 over its SHA-256, ASN.1 DER, base64 in the layer annotation
//! `dev.cosignproject.cosign/signature`. The payloads are the layers (media type
//! `application/vnd.dev.cosign.simplesigning.v1+json`) of one manifest kept under the tag
//! `sha256-<hex>.sig` beside the image, as `cosign sign` writes it and `cosign verify` and
//! admission controllers read it; signing again adds a layer. Keyless (OIDC, Fulcio, Rekor) is out
//! of scope: this machine reaches no such service. Not here: key formats (`keys`), or where the
//! manifest is stored (`image_io::store`).

pub mod attest;
pub mod keys;

use std::collections::BTreeMap;

use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, VerifyingKey};
use pare_oci::digest::sha256_digest;
use pare_oci::reference::{DockerName, ImageRef};
use serde::Serialize;
use serde_json::{json, Value};

use crate::image_io::store::{store_and_named, store_of_named, Store};
use crate::image_io::Access;
use crate::{Error, Reporter, Result};

/// The media type of a simple-signing payload layer.
pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The artifact type of cosign's signatures kept as an OCI 1.1 referrer (its
/// `--registry-referrers-mode oci-1-1`: the `.sig` manifest with this config media type and a
/// subject).
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// `critical.type` of a cosign payload.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Largest number of signatures pare reads from one `.sig` manifest.
const MAX_SIGNATURES: usize = 256;

/// What `pare sign` is asked for.
#[derive(Clone, Debug)]
pub struct SignOptions {
    pub image: ImageRef,
    /// The private key.
    pub key: keys::KeyFile,
    /// The claimed identity (`docker-reference`); default: the registry repository of `image`.
    /// Required for a layout.
    pub identity: Option<String>,
    /// `optional` entries of the payload (cosign's `-a key=value`).
    pub annotations: BTreeMap<String, String>,
    pub access: Access,
}

/// What a signing did.
#[derive(Clone, Debug, Serialize)]
pub struct SignReport {
    pub image: String,
    /// The signed manifest digest.
    pub digest: String,
    pub identity: String,
    /// The tag the signature manifest is kept under (`sha256-<hex>.sig`).
    pub tag: String,
    /// The signature manifest's digest.
    pub signature_manifest: String,
    pub payload_digest: String,
    /// Signatures in the manifest now (earlier ones are kept).
    pub signatures: usize,
    /// False when this very signature was there already.
    pub added: bool,
    /// The signatures also kept as an OCI 1.1 referrer (a layout, or a registry with the
    /// referrers API): that manifest's digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
}

/// What `pare verify` is asked for.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    pub image: ImageRef,
    /// The public key.
    pub key: keys::KeyFile,
    /// The identity a signature must claim; default: the registry repository of `image`. For a
    /// layout without it, the identity is reported but not checked.
    pub identity: Option<String>,
    pub access: Access,
}

/// One signature found, and what checking it found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckedSignature {
    pub payload_digest: String,
    /// True when the signature, the payload's digest claim, its type and its identity all check.
    pub verified: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

/// What a verification found.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub image: String,
    pub digest: String,
    pub tag: String,
    /// The identity checked, when one was.
    pub identity: Option<String>,
    pub signatures: Vec<CheckedSignature>,
    /// True when at least one signature verified.
    pub verified: bool,
}

/// The identity cosign claims for a registry image: its repository with the registry host
/// (`index.docker.io/library/x` for Docker Hub).
pub fn default_identity(name: &DockerName) -> String {
    let host = name
        .host
        .clone()
        .unwrap_or_else(|| "index.docker.io".into());
    let host = if host == "docker.io" || host == "registry-1.docker.io" {
        "index.docker.io".to_string()
    } else {
        host
    };
    let repo = if host == "index.docker.io" && !name.repository.contains('/') {
        format!("library/{}", name.repository)
    } else {
        name.repository.clone()
    };
    format!("{host}/{repo}")
}

/// The simple-signing payload, as cosign writes it (Go's encoding/json of its structs: the same
/// key order as canonical JSON, no spaces; `optional` null without annotations).
pub fn payload(
    identity: &str,
    digest: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let optional = if annotations.is_empty() {
        Value::Null
    } else {
        json!(annotations)
    };
    let value = json!({
        "critical": {
            "identity": {"docker-reference": identity},
            "image": {"docker-manifest-digest": digest},
            "type": PAYLOAD_TYPE,
        },
        "optional": optional,
    });
    Ok(pare_oci::canonical_json::to_vec(
        &value,
        "signature payload",
    )?)
}

/// The tag cosign keeps an image's signatures under.
pub fn signature_tag(digest: &str) -> Result<String> {
    Ok(format!("{}.sig", pare_oci::referrer::fallback_tag(digest)?))
}

fn claimed_identity(image: &ImageRef, given: &Option<String>) -> Option<String> {
    given.clone().or(match image {
        ImageRef::Registry(name) => Some(default_identity(name)),
        _ => None,
    })
}

/// A signature manifest's payload layers, as JSON descriptors.
fn payload_layers(manifest: &[u8], what: &str) -> Result<Vec<Value>> {
    let value: Value = serde_json::from_slice(manifest)
        .map_err(|e| Error::Input(format!("{what}: the signature manifest is not JSON: {e}")))?;
    let layers = value["layers"].as_array().cloned().unwrap_or_default();
    if layers.len() > MAX_SIGNATURES {
        return Err(Error::Input(format!(
            "{what} holds {} signatures, more than pare reads ({MAX_SIGNATURES})",
            layers.len()
        )));
    }
    Ok(layers)
}

/// Signs the image as `options` say and stores the signature beside it.
pub fn sign(options: &SignOptions, reporter: &dyn Reporter) -> Result<SignReport> {
    let key = options.key.private_key()?;
    let identity = claimed_identity(&options.image, &options.identity).ok_or_else(|| {
        Error::Input(format!(
            "{}: a layout has no registry name to claim; pass --identity HOST/REPO (what the signature says the image is)",
            options.image
        ))
    })?;
    let (store, image) = store_and_named(&options.image, &options.access, true, reporter)?;
    let digest = image.digest().to_string();
    let tag = signature_tag(&digest)?;
    let body = payload(&identity, &digest, &options.annotations)?;
    let signature: DerSignature = key.sign(&body);
    let signature = base64::engine::general_purpose::STANDARD.encode(signature.as_bytes());
    let payload_digest = sha256_digest(&body);

    let appended = append_layer(
        &store,
        &tag,
        PAYLOAD_MEDIA_TYPE,
        body,
        json!({SIGNATURE_ANNOTATION: signature}),
        &options.access,
        reporter,
    )?;
    // As cosign's oci-1-1 mode: the same manifest, typed by its config and naming the image.
    let referrer = if store.lists_referrers(&digest)? {
        let mut manifest: Value = serde_json::from_slice(&appended.bytes)
            .map_err(|e| Error::Input(format!("the signature manifest pare made: {e}")))?;
        manifest["config"]["mediaType"] = json!(SIGNATURE_ARTIFACT_TYPE);
        manifest["subject"] = json!({
            "mediaType": image.media_type().to_string(),
            "digest": digest,
            "size": image.size(),
        });
        let bytes = pare_oci::canonical_json::to_vec(&manifest, "signature referrer")?;
        Some(store.put_referrer(&[], &bytes, &options.access, reporter)?)
    } else {
        None
    };
    Ok(SignReport {
        image: options.image.to_string(),
        digest,
        identity,
        tag,
        signature_manifest: appended.manifest,
        payload_digest,
        signatures: appended.layers,
        added: appended.added,
        referrer,
    })
}

/// What adding a layer to a manifest under one of cosign's tags did.
struct Appended {
    /// The manifest's digest now.
    manifest: String,
    /// Its layers now.
    layers: usize,
    /// False when the same layer was there already.
    added: bool,
    /// The manifest as stored.
    bytes: Vec<u8>,
}

/// Adds `blob` as a layer of `media_type` with `annotations` to the manifest under `tag` (made
/// when there is none), keeping the layers there: cosign's way of holding several signatures or
/// attestations of one image. Nothing is added when a layer with the same digest and annotations
/// is there.
fn append_layer(
    store: &Store,
    tag: &str,
    media_type: &str,
    blob: Vec<u8>,
    annotations: Value,
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<Appended> {
    let what = format!("the manifest under {tag}");
    let mut layers = match store.tagged(tag)? {
        Some(existing) => payload_layers(&existing, &what)?,
        None => Vec::new(),
    };
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    for layer in &layers {
        let d = layer["digest"].as_str().unwrap_or_default();
        let size = layer["size"].as_u64().unwrap_or_default();
        blobs.push(store.blob(d, size)?);
    }
    let digest = sha256_digest(&blob);
    let added = !layers
        .iter()
        .any(|l| l["digest"] == digest.as_str() && l["annotations"] == annotations);
    if added {
        layers.push(json!({
            "mediaType": media_type,
            "digest": digest,
            "size": blob.len(),
            "annotations": annotations,
        }));
        blobs.push(blob);
    }
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let config = pare_oci::canonical_json::to_vec(
        &json!({
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }),
        "signature config",
    )?;
    let manifest = pare_oci::canonical_json::to_vec(
        &json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "digest": sha256_digest(&config),
                "size": config.len(),
            },
            "layers": layers,
        }),
        "signature manifest",
    )?;
    let mut all: Vec<&[u8]> = vec![&config];
    all.extend(blobs.iter().map(Vec::as_slice));
    let stored = store.put_tagged(&all, &manifest, MANIFEST_MEDIA_TYPE, tag, access, reporter)?;
    Ok(Appended {
        manifest: stored,
        layers: layers.len(),
        added,
        bytes: manifest,
    })
}

/// Checks the signatures kept beside the image against a public key.
pub fn verify(options: &VerifyOptions, reporter: &dyn Reporter) -> Result<VerifyReport> {
    let key = options.key.public_key()?;
    let identity = claimed_identity(&options.image, &options.identity);
    let (store, digest) = store_of_named(&options.image, &options.access, false, reporter)?;
    let tag = signature_tag(&digest)?;
    let what = format!("{}:{tag}", options.image);
    // The `.sig` tag's layers, then those of signature referrers, each signature once.
    let mut layers = Vec::new();
    if let Some(manifest) = store.tagged(&tag)? {
        layers.extend(payload_layers(&manifest, &what)?);
    }
    let (referrers, _) = crate::image_io::referrers::list_in(&store, &digest)?;
    for r in referrers
        .iter()
        .filter(|r| r.subject == digest && r.artifact_type() == SIGNATURE_ARTIFACT_TYPE)
    {
        let d = r.descriptor.digest().to_string();
        let manifest = store.manifest(&d, r.descriptor.size())?;
        layers.extend(payload_layers(
            &manifest,
            &format!("{} referrer {d}", options.image),
        )?);
    }
    let mut seen = std::collections::HashSet::new();
    layers.retain(|l| seen.insert(format!("{} {}", l["digest"], l["annotations"])));
    let signatures: Vec<CheckedSignature> = layers
        .iter()
        .map(|layer| check(&store, layer, &key, &digest, identity.as_deref()))
        .collect();
    let verified = signatures.iter().any(|s| s.verified);
    Ok(VerifyReport {
        image: options.image.to_string(),
        digest,
        tag,
        identity,
        signatures,
        verified,
    })
}

/// Checks one payload layer: its blob against its digest, the signature over it, and the claims
/// (type, digest, identity) it makes.
fn check(
    store: &Store,
    layer: &Value,
    key: &VerifyingKey,
    digest: &str,
    identity: Option<&str>,
) -> CheckedSignature {
    let payload_digest = layer["digest"].as_str().unwrap_or_default().to_string();
    let mut checked = CheckedSignature {
        payload_digest: payload_digest.clone(),
        verified: false,
        problem: None,
        identity: None,
        annotations: None,
    };
    let result = (|| -> std::result::Result<(), String> {
        if layer["mediaType"] != PAYLOAD_MEDIA_TYPE {
            return Err(format!(
                "the layer is {}, not a simple-signing payload",
                layer["mediaType"]
            ));
        }
        let size = layer["size"].as_u64().ok_or("the layer has no size")?;
        let body = store
            .blob(&payload_digest, size)
            .map_err(|e| format!("the payload cannot be read: {e}"))?;
        let encoded = layer["annotations"][SIGNATURE_ANNOTATION]
            .as_str()
            .ok_or("the layer carries no signature annotation")?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("the signature is not base64: {e}"))?;
        let signature = p256::ecdsa::Signature::from_der(&raw)
            .map_err(|e| format!("the signature is not an ECDSA DER signature: {e}"))?;
        key.verify(&body, &signature)
            .map_err(|_| "the signature does not verify with this key".to_string())?;
        let claims: Value =
            serde_json::from_slice(&body).map_err(|e| format!("the payload is not JSON: {e}"))?;
        let critical = &claims["critical"];
        checked.identity = critical["identity"]["docker-reference"]
            .as_str()
            .map(str::to_string);
        checked.annotations = Some(claims["optional"].clone()).filter(|v| !v.is_null());
        if critical["type"] != PAYLOAD_TYPE {
            return Err(format!(
                "the payload's type is {}, not {PAYLOAD_TYPE:?}",
                critical["type"]
            ));
        }
        if critical["image"]["docker-manifest-digest"] != digest {
            return Err(format!(
                "the payload signs {}, not this image ({digest})",
                critical["image"]["docker-manifest-digest"]
            ));
        }
        if let Some(want) = identity {
            if checked.identity.as_deref() != Some(want) {
                return Err(format!(
                    "the payload claims identity {:?}, not {want:?}",
                    checked.identity.as_deref().unwrap_or("")
                ));
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => checked.verified = true,
        Err(problem) => checked.problem = Some(problem),
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_cosigns_bytes() {
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let none = payload("127.0.0.1:5000/app", digest, &BTreeMap::new()).unwrap();
        assert_eq!(
            String::from_utf8(none).unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/app"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        let some = payload(
            "x/y",
            digest,
            &[
                ("b".to_string(), "2".to_string()),
                ("a".to_string(), "1".to_string()),
            ]
            .into_iter()
            .collect(),
        )
        .unwrap();
        assert!(String::from_utf8(some)
            .unwrap()
            .ends_with(r#""optional":{"a":"1","b":"2"}}"#));
        assert_eq!(
            signature_tag(digest).unwrap(),
            "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.sig"
        );
    }

    #[test]
    fn identities_are_cosigns() {
        let name = |s: &str| match ImageRef::parse(s).unwrap() {
            ImageRef::Registry(n) => n,
            _ => unreachable!(),
        };
        assert_eq!(
            default_identity(&name("docker://ubuntu:22.04")),
            "index.docker.io/library/ubuntu"
        );
        assert_eq!(
            default_identity(&name("docker://127.0.0.1:5000/team/app:1")),
            "127.0.0.1:5000/team/app"
        );
    }
}
