//! `pare attest` and `pare verify-attestation`: in-toto statements about an image (an SBOM, SLSA v1
//! provenance, any predicate), signed in a DSSE envelope and kept as cosign keeps attestations.
//! The statement (`https://in-toto.io/Statement/v1`) names the image by its repository and
//! digest. The envelope's signature is ECDSA P-256 over DSSE's pre-authentication encoding of
//! the payload type and the statement. The envelope is a layer (`application/vnd.dsse.envelope.
//! v1+json`, annotations `predicateType` and an empty `dev.cosignproject.cosign/signature`) of the
//! manifest under `sha256-<hex>.att`. Not here: what a predicate says (the SBOM is
//! `crate::sbom`'s, the provenance `crate::build`'s).

use std::collections::BTreeMap;

use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, VerifyingKey};
use pare_oci::reference::ImageRef;
use serde::Serialize;
use serde_json::{json, Value};

use super::{append_layer, claimed_identity, keys, payload_layers, SIGNATURE_ANNOTATION};
use crate::image_io::store::{store_of_named, Store};
use crate::image_io::Access;
use crate::{Error, Reporter, Result};

/// The media type of a DSSE envelope layer.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto statement type pare writes.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Predicate types of the `--type` shorthands, as cosign names them.
pub const PREDICATE_TYPES: [(&str, &str); 4] = [
    ("spdxjson", "https://spdx.dev/Document"),
    ("cyclonedx", "https://cyclonedx.org/bom"),
    ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
    ("custom", "https://cosign.sigstore.dev/attestation/v1"),
];
/// The layer annotation naming the predicate type.
const PREDICATE_ANNOTATION: &str = "predicateType";

/// The predicate type a `--type` value names: a shorthand, or a URI as given.
pub fn predicate_type(given: &str) -> Result<String> {
    if let Some((_, uri)) = PREDICATE_TYPES.iter().find(|(short, _)| *short == given) {
        return Ok((*uri).to_string());
    }
    if given.contains(':') {
        return Ok(given.to_string());
    }
    Err(Error::Input(format!(
        "--type {given:?} is neither a predicate type URI nor one of {}",
        PREDICATE_TYPES
            .iter()
            .map(|(s, _)| *s)
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// DSSE's pre-authentication encoding: what is signed for `payload_type` and `body`.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The in-toto statement that `predicate` (of `predicate_type`) holds for the image.
pub fn statement(
    identity: &str,
    digest: &str,
    predicate_type: &str,
    predicate: &Value,
) -> Result<Vec<u8>> {
    let hex = pare_oci::digest::sha256_hex(digest)
        .ok_or_else(|| Error::Input(format!("{digest:?} is not a sha256 digest")))?;
    Ok(pare_oci::canonical_json::to_vec(
        &json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": identity, "digest": {"sha256": hex}}],
            "predicateType": predicate_type,
            "predicate": predicate,
        }),
        "in-toto statement",
    )?)
}

/// What `pare attest` is asked for.
#[derive(Clone, Debug)]
pub struct AttestOptions {
    pub image: ImageRef,
    /// The private key.
    pub key: keys::KeyFile,
    /// The subject's name; default: the registry repository (required for a layout).
    pub identity: Option<String>,
    /// The predicate type URI.
    pub predicate_type: String,
    /// The predicate (any JSON value).
    pub predicate: Value,
    pub access: Access,
}

/// What an attestation did.
#[derive(Clone, Debug, Serialize)]
pub struct AttestReport {
    pub image: String,
    pub digest: String,
    pub predicate_type: String,
    pub tag: String,
    /// The digest of the envelope (the layer).
    pub envelope_digest: String,
    /// Attestations under the tag now.
    pub attestations: usize,
    pub added: bool,
}

/// The tag cosign keeps an image's attestations under.
pub fn attestation_tag(digest: &str) -> Result<String> {
    Ok(format!("{}.att", pare_oci::referrer::fallback_tag(digest)?))
}

/// Signs a statement about the image and keeps it beside the image.
pub fn attest(options: &AttestOptions, reporter: &dyn Reporter) -> Result<AttestReport> {
    let key = options.key.private_key()?;
    let identity = claimed_identity(&options.image, &options.identity).ok_or_else(|| {
        Error::Input(format!(
            "{}: a layout has no registry name for the statement's subject; pass --identity HOST/REPO",
            options.image
        ))
    })?;
    let (store, digest) = store_of_named(&options.image, &options.access, true, reporter)?;
    let body = statement(
        &identity,
        &digest,
        &options.predicate_type,
        &options.predicate,
    )?;
    let signature: DerSignature = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &body));
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let envelope = pare_oci::canonical_json::to_vec(
        &json!({
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "payload": b64(&body),
            "signatures": [{"keyid": "", "sig": b64(signature.as_bytes())}],
        }),
        "DSSE envelope",
    )?;
    let envelope_digest = pare_oci::digest::sha256_digest(&envelope);
    let tag = attestation_tag(&digest)?;
    let appended = append_layer(
        &store,
        &tag,
        ENVELOPE_MEDIA_TYPE,
        envelope,
        json!({PREDICATE_ANNOTATION: options.predicate_type, SIGNATURE_ANNOTATION: ""}),
        &options.access,
        reporter,
    )?;
    Ok(AttestReport {
        image: options.image.to_string(),
        digest,
        predicate_type: options.predicate_type.clone(),
        tag,
        envelope_digest,
        attestations: appended.layers,
        added: appended.added,
    })
}

/// What `pare verify-attestation` is asked for.
#[derive(Clone, Debug)]
pub struct VerifyAttestationOptions {
    pub image: ImageRef,
    /// The public key.
    pub key: keys::KeyFile,
    pub identity: Option<String>,
    /// Only attestations of this predicate type count.
    pub predicate_type: Option<String>,
    pub access: Access,
}

/// One attestation found and checked.
#[derive(Clone, Debug, Serialize)]
pub struct CheckedAttestation {
    pub envelope_digest: String,
    pub predicate_type: Option<String>,
    pub verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The statement's predicate, when it verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate: Option<Value>,
}

/// What verifying attestations found.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyAttestationReport {
    pub image: String,
    pub digest: String,
    pub tag: String,
    pub identity: Option<String>,
    pub attestations: Vec<CheckedAttestation>,
    /// True when at least one attestation (of the asked type) verified.
    pub verified: bool,
}

/// Checks the attestations kept beside the image against a public key.
pub fn verify_attestations(
    options: &VerifyAttestationOptions,
    reporter: &dyn Reporter,
) -> Result<VerifyAttestationReport> {
    let key = options.key.public_key()?;
    let identity = claimed_identity(&options.image, &options.identity);
    let (store, digest) = store_of_named(&options.image, &options.access, false, reporter)?;
    let tag = attestation_tag(&digest)?;
    let mut attestations = Vec::new();
    if let Some(manifest) = store.tagged(&tag)? {
        for layer in payload_layers(&manifest, &format!("{}:{tag}", options.image))? {
            let checked = check(&store, &layer, &key, &digest, identity.as_deref());
            let wanted = options
                .predicate_type
                .as_ref()
                .is_none_or(|t| checked.predicate_type.as_ref() == Some(t));
            if wanted {
                attestations.push(checked);
            }
        }
    }
    let verified = attestations.iter().any(|a| a.verified);
    Ok(VerifyAttestationReport {
        image: options.image.to_string(),
        digest,
        tag,
        identity,
        attestations,
        verified,
    })
}

fn check(
    store: &Store,
    layer: &Value,
    key: &VerifyingKey,
    digest: &str,
    identity: Option<&str>,
) -> CheckedAttestation {
    let mut checked = CheckedAttestation {
        envelope_digest: layer["digest"].as_str().unwrap_or_default().to_string(),
        predicate_type: layer["annotations"][PREDICATE_ANNOTATION]
            .as_str()
            .map(str::to_string),
        verified: false,
        problem: None,
        predicate: None,
    };
    let result = (|| -> std::result::Result<Value, String> {
        if layer["mediaType"] != ENVELOPE_MEDIA_TYPE {
            return Err(format!(
                "the layer is {}, not a DSSE envelope",
                layer["mediaType"]
            ));
        }
        let size = layer["size"].as_u64().ok_or("the layer has no size")?;
        let bytes = store
            .blob(&checked.envelope_digest, size)
            .map_err(|e| format!("the envelope cannot be read: {e}"))?;
        let envelope: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("the envelope is not JSON: {e}"))?;
        let b64 = |v: &Value, what: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().ok_or(format!("the envelope has no {what}"))?)
                .map_err(|e| format!("the envelope's {what} is not base64: {e}"))
        };
        let payload_type = envelope["payloadType"].as_str().unwrap_or_default();
        if payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(format!(
                "the payload type is {payload_type:?}, not an in-toto statement"
            ));
        }
        let body = b64(&envelope["payload"], "payload")?;
        let signed = pae(payload_type, &body);
        let signatures = envelope["signatures"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let verifies = signatures.iter().any(|s| {
            b64(&s["sig"], "signature")
                .ok()
                .and_then(|raw| p256::ecdsa::Signature::from_der(&raw).ok())
                .is_some_and(|sig| key.verify(&signed, &sig).is_ok())
        });
        if !verifies {
            return Err("no signature of the envelope verifies with this key".into());
        }
        let statement: Value =
            serde_json::from_slice(&body).map_err(|e| format!("the statement is not JSON: {e}"))?;
        let hex = pare_oci::digest::sha256_hex(digest).unwrap_or_default();
        let subjects = statement["subject"].as_array().cloned().unwrap_or_default();
        let ours = subjects
            .iter()
            .find(|s| s["digest"]["sha256"] == hex)
            .ok_or_else(|| {
                format!("the statement is about another image (its subjects do not name {digest})")
            })?;
        if let Some(want) = identity {
            if ours["name"] != want {
                return Err(format!(
                    "the statement names the image {}, not {want:?}",
                    ours["name"]
                ));
            }
        }
        if checked.predicate_type.is_some()
            && statement["predicateType"].as_str() != checked.predicate_type.as_deref()
        {
            return Err("the layer's predicateType annotation differs from the statement's".into());
        }
        checked.predicate_type = statement["predicateType"].as_str().map(str::to_string);
        Ok(statement["predicate"].clone())
    })();
    match result {
        Ok(predicate) => {
            checked.verified = true;
            checked.predicate = Some(predicate);
        }
        Err(problem) => checked.problem = Some(problem),
    }
    checked
}

/// A SLSA v1 provenance predicate for a build by pare: what was asked (`external`), what it
/// resolved (`dependencies`: name → sha256 hex), and when (SOURCE_DATE_EPOCH, so the same build
/// gives the same statement).
pub fn slsa_provenance(
    external: Value,
    dependencies: &BTreeMap<String, String>,
    source_date_epoch: u64,
) -> Value {
    let resolved: Vec<Value> = dependencies
        .iter()
        .map(|(name, hex)| json!({"name": name, "digest": {"sha256": hex}}))
        .collect();
    json!({
        "buildDefinition": {
            "buildType": "urn:pare:build:v1",
            "externalParameters": external,
            "internalParameters": {"pare": env!("CARGO_PKG_VERSION")},
            "resolvedDependencies": resolved,
        },
        "runDetails": {
            "builder": {"id": "urn:pare", "version": {"pare": env!("CARGO_PKG_VERSION")}},
            "metadata": {
                "startedOn": pare_oci::image::rfc3339(source_date_epoch),
                "finishedOn": pare_oci::image::rfc3339(source_date_epoch),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dsses() {
        // The DSSE spec's own example: "DSSEv1 29 http://example.com/HelloWorld 11 hello world".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn a_statement_names_its_image_and_predicate() {
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let bytes = statement(
            "r/app",
            digest,
            "https://slsa.dev/provenance/v1",
            &json!({}),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["_type"], STATEMENT_TYPE);
        assert_eq!(v["subject"][0]["name"], "r/app");
        assert_eq!(
            v["subject"][0]["digest"]["sha256"],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            predicate_type("spdxjson").unwrap(),
            "https://spdx.dev/Document"
        );
        assert_eq!(
            predicate_type("https://x.example/p").unwrap(),
            "https://x.example/p"
        );
        assert!(predicate_type("nonsense").is_err());
    }
}
