//! The Java trust store (`/etc/ssl/certs/java/cacerts`) that Debian's ca-certificates-java builds in
//! a maintainer script by running Java itself. pare writes the same certificates as a JKS key store
//! (the format the JDK reads for `cacerts` with its default password `changeit`) straight from the
//! PEM bundle. Written by hand: the format is a short fixed layout (trusted-certificate entries and a
//! SHA-1 integrity digest) and no maintained crate writes JKS.

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::{Error, Result};

/// Where Debian's JREs look for the trust store.
pub const JAVA_CACERTS: &str = "etc/ssl/certs/java/cacerts";
/// The JDK's default trust store password.
pub const DEFAULT_PASSWORD: &str = "changeit";
const JKS_MAGIC: u32 = 0xFEED_FEED;
const JKS_VERSION: u32 = 2;
const TRUSTED_CERT_TAG: u32 = 2;
/// The JDK mixes this phrase into the key store's integrity digest.
const INTEGRITY_SALT: &[u8] = b"Mighty Aphrodite";

/// Splits a PEM bundle into DER certificates.
pub fn pem_certificates(bundle: &[u8]) -> Result<Vec<Vec<u8>>> {
    let text = std::str::from_utf8(bundle)
        .map_err(|_| Error::Deb("the CA bundle is not UTF-8 text".into()))?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body_start = start + "-----BEGIN CERTIFICATE-----".len();
        let end = rest[body_start..]
            .find("-----END CERTIFICATE-----")
            .ok_or_else(|| {
                Error::Deb("a PEM certificate in the CA bundle has no END line".into())
            })?;
        let body: String = rest[body_start..body_start + end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| {
                Error::Deb(format!(
                    "a PEM certificate in the CA bundle is not valid base64: {e}"
                ))
            })?;
        out.push(der);
        rest = &rest[body_start + end + "-----END CERTIFICATE-----".len()..];
    }
    Ok(out)
}

/// A JKS key store holding each certificate as a trusted entry named `debian:<n>`, with timestamp
/// `created_ms` (for reproducible output) and the given store password.
pub fn jks(certificates: &[Vec<u8>], created_ms: u64, password: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    out.extend_from_slice(&JKS_MAGIC.to_be_bytes());
    out.extend_from_slice(&JKS_VERSION.to_be_bytes());
    let count = u32::try_from(certificates.len())
        .map_err(|_| Error::Deb("too many certificates".into()))?;
    out.extend_from_slice(&count.to_be_bytes());
    for (index, der) in certificates.iter().enumerate() {
        out.extend_from_slice(&TRUSTED_CERT_TAG.to_be_bytes());
        write_utf(&mut out, &format!("debian:{index:04}"));
        out.extend_from_slice(&created_ms.to_be_bytes());
        write_utf(&mut out, "X.509");
        let len = u32::try_from(der.len())
            .map_err(|_| Error::Deb("a certificate is too large".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(der);
    }
    let mut digest = Sha1::new();
    for unit in password.encode_utf16() {
        digest.update(unit.to_be_bytes());
    }
    digest.update(INTEGRITY_SALT);
    digest.update(&out);
    out.extend_from_slice(&digest.finalize());
    Ok(out)
}

/// Java's modified UTF-8 for ASCII names: a 16-bit length, then the bytes.
fn write_utf(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_pem_and_writes_a_well_formed_store() {
        let pem = b"-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nAwQF\n-----END CERTIFICATE-----\n";
        let certs = pem_certificates(pem).unwrap();
        assert_eq!(certs, vec![vec![0, 1, 2], vec![3, 4, 5]]);
        let store = jks(&certs, 0, DEFAULT_PASSWORD).unwrap();
        assert_eq!(&store[..4], &[0xfe, 0xed, 0xfe, 0xed]);
        assert_eq!(u32::from_be_bytes(store[8..12].try_into().unwrap()), 2);
        // Body, then a 20-byte SHA-1 over password || salt || body.
        let (body, tail) = store.split_at(store.len() - 20);
        let mut d = Sha1::new();
        for u in DEFAULT_PASSWORD.encode_utf16() {
            d.update(u.to_be_bytes());
        }
        d.update(INTEGRITY_SALT);
        d.update(body);
        assert_eq!(tail, &d.finalize()[..]);
        assert!(pem_certificates(b"-----BEGIN CERTIFICATE-----\nAAEC\n").is_err());
    }
}
