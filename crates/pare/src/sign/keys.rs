//! The keys `pare sign` and `pare verify` take: an ECDSA P-256 private key as PKCS#8 PEM
//! (`PRIVATE KEY`), SEC1 PEM (`EC PRIVATE KEY`), or cosign's encrypted PEM (`ENCRYPTED SIGSTORE
//! PRIVATE KEY`, formerly `ENCRYPTED COSIGN PRIVATE KEY`: a JSON document of go-securesystemslib's
//! `encrypted` package, scrypt key derivation and a NaCl secretbox around the PKCS#8 DER); a public
//! key as PKIX PEM (`PUBLIC KEY`). The cryptography is RustCrypto's (p256, scrypt,
//! crypto_secretbox); only the small JSON wrapper is read here, since no crate reads it. Not here:
//! what is signed (`super`).

use base64::Engine as _;
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use serde::Deserialize;

use crate::{Error, Result};

/// cosign's PEM labels for an encrypted private key, newest first.
const ENCRYPTED_LABELS: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];
/// The largest scrypt cost pare accepts from a key file (cosign writes 2^15; a hostile file must
/// not make pare spend gigabytes).
const MAX_SCRYPT_LOG_N: u8 = 20;

#[derive(Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Deserialize)]
#[allow(non_snake_case)] // the field names of the format
struct ScryptParams {
    N: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// A key as read from its file: the PEM text, the file's name for errors, and the password that
/// opens cosign's encrypted form (`COSIGN_PASSWORD`; unused for a public key).
#[derive(Clone, Debug)]
pub struct KeyFile {
    pub pem: String,
    pub name: String,
    pub password: Option<Vec<u8>>,
}

impl KeyFile {
    /// The ECDSA P-256 private key it holds.
    pub fn private_key(&self) -> Result<SigningKey> {
        private_key(&self.pem, self.password.as_deref(), &self.name)
    }

    /// The ECDSA P-256 public key it holds.
    pub fn public_key(&self) -> Result<VerifyingKey> {
        public_key(&self.pem, &self.name)
    }
}

/// Reads an ECDSA P-256 private key from PEM text; `password` opens cosign's encrypted form
/// (`COSIGN_PASSWORD`). `what` names the file in errors.
pub fn private_key(pem: &str, password: Option<&[u8]>, what: &str) -> Result<SigningKey> {
    let (label, body) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).map_err(|e| {
        Error::Input(format!(
            "{what}: not a PEM private key ({e}); pare reads PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) and cosign's encrypted keys"
        ))
    })?;
    let not_p256 = |e: String| {
        Error::Input(format!(
            "{what}: not an ECDSA P-256 private key ({e}); pare signs with P-256, as cosign's default keys are"
        ))
    };
    match label {
        "PRIVATE KEY" => SigningKey::from_pkcs8_der(&body).map_err(|e| not_p256(e.to_string())),
        "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&body)
            .map(SigningKey::from)
            .map_err(|e| not_p256(e.to_string())),
        label if ENCRYPTED_LABELS.contains(&label) => {
            let password = password.ok_or_else(|| {
                Error::Input(format!(
                    "{what} is an encrypted cosign key; set COSIGN_PASSWORD to its password"
                ))
            })?;
            let der = decrypt(&body, password, what)?;
            SigningKey::from_pkcs8_der(&der).map_err(|e| not_p256(e.to_string()))
        }
        other => Err(Error::Input(format!(
            "{what}: a PEM {other:?} block is not a private key pare reads (PRIVATE KEY, EC PRIVATE KEY, ENCRYPTED SIGSTORE PRIVATE KEY)"
        ))),
    }
}

/// Reads an ECDSA P-256 public key from PKIX PEM text (`PUBLIC KEY`, as `cosign.pub`).
pub fn public_key(pem: &str, what: &str) -> Result<VerifyingKey> {
    VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| {
        Error::Input(format!(
            "{what}: not an ECDSA P-256 public key in PEM (`PUBLIC KEY`): {e}"
        ))
    })
}

/// Opens go-securesystemslib's encrypted JSON: scrypt(password, salt, N, r, p) gives a 32-byte key
/// for the NaCl secretbox (XSalsa20-Poly1305, tag first) that holds the PKCS#8 DER.
fn decrypt(body: &[u8], password: &[u8], what: &str) -> Result<Vec<u8>> {
    use crypto_secretbox::aead::{Aead, KeyInit};
    let bad = |why: &str| Error::Input(format!("{what}: not a cosign encrypted key: {why}"));
    let doc: Encrypted = serde_json::from_slice(body).map_err(|e| bad(&e.to_string()))?;
    if doc.kdf.name != "scrypt" || doc.cipher.name != "nacl/secretbox" {
        return Err(bad(&format!(
            "it uses {} and {}, pare reads scrypt and nacl/secretbox",
            doc.kdf.name, doc.cipher.name
        )));
    }
    let b64 = |text: &str, field: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| bad(&format!("{field} is not base64: {e}")))
    };
    let salt = b64(&doc.kdf.salt, "the salt")?;
    let nonce = b64(&doc.cipher.nonce, "the nonce")?;
    let ciphertext = b64(&doc.ciphertext, "the ciphertext")?;
    let n = doc.kdf.params.N;
    if !n.is_power_of_two() || n < 2 {
        return Err(bad("scrypt N is not a power of two"));
    }
    let log_n = n.trailing_zeros() as u8;
    if log_n > MAX_SCRYPT_LOG_N {
        return Err(bad(&format!(
            "scrypt N = 2^{log_n} is more than pare spends (2^{MAX_SCRYPT_LOG_N})"
        )));
    }
    let params = scrypt::Params::new(log_n, doc.kdf.params.r, doc.kdf.params.p, 32)
        .map_err(|e| bad(&format!("scrypt parameters: {e}")))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, &salt, &params, &mut key).map_err(|e| bad(&format!("scrypt: {e}")))?;
    if nonce.len() != 24 {
        return Err(bad("the nonce is not 24 bytes"));
    }
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
    cipher
        .decrypt(crypto_secretbox::Nonce::from_slice(&nonce), ciphertext.as_ref())
        .map_err(|_| {
            Error::Input(format!(
                "{what}: the password does not open this key (COSIGN_PASSWORD is wrong, or the file is damaged)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

    /// A key from fixed bytes (a test needs no randomness).
    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32].into()).unwrap()
    }

    /// cosign's encrypted form of `key`, written here as go-securesystemslib writes it.
    fn encrypted(key: &SigningKey, password: &[u8], log_n: u8) -> String {
        use crypto_secretbox::aead::{Aead, KeyInit};
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let salt = [1u8; 32];
        let nonce = [2u8; 24];
        let mut derived = [0u8; 32];
        scrypt::scrypt(
            password,
            &salt,
            &scrypt::Params::new(log_n, 8, 1, 32).unwrap(),
            &mut derived,
        )
        .unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let sealed = crypto_secretbox::XSalsa20Poly1305::new(&derived.into())
            .encrypt(crypto_secretbox::Nonce::from_slice(&nonce), der.as_bytes())
            .unwrap();
        let json = serde_json::json!({
            "kdf": {"name": "scrypt", "params": {"N": 1u64 << log_n, "r": 8, "p": 1}, "salt": b64(&salt)},
            "cipher": {"name": "nacl/secretbox", "nonce": b64(&nonce)},
            "ciphertext": b64(&sealed),
        });
        pem_rfc7468::encode_string(
            "ENCRYPTED SIGSTORE PRIVATE KEY",
            pem_rfc7468::LineEnding::LF,
            json.to_string().as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn every_private_key_form_gives_the_same_key() {
        let k = key();
        let pkcs8 = k.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(private_key(&pkcs8, None, "k").unwrap(), k);
        let sec1 = p256::SecretKey::from(&k)
            .to_sec1_pem(LineEnding::LF)
            .unwrap();
        assert_eq!(private_key(&sec1, None, "k").unwrap(), k);
        let enc = encrypted(&k, b"hello", 10);
        assert_eq!(private_key(&enc, Some(b"hello"), "k").unwrap(), k);
        let wrong = private_key(&enc, Some(b"wrong"), "k").unwrap_err();
        assert!(wrong.to_string().contains("COSIGN_PASSWORD"), "{wrong}");
        assert!(private_key(&enc, None, "k").is_err());
        let public = k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        assert_eq!(&public_key(&public, "p").unwrap(), k.verifying_key());
        assert!(private_key(&public, None, "k").is_err());
    }

    #[test]
    fn hostile_key_files_are_refused_cheaply() {
        let k = key();
        assert!(private_key("not pem", None, "k").is_err());
        let costly = encrypted(&k, b"x", 10);
        // Rewrite N to 2^30: refused before any scrypt work.
        let (label, body) = pem_rfc7468::decode_vec(costly.as_bytes()).unwrap();
        let mut doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        doc["kdf"]["params"]["N"] = serde_json::json!(1u64 << 30);
        let pem = pem_rfc7468::encode_string(
            label,
            pem_rfc7468::LineEnding::LF,
            doc.to_string().as_bytes(),
        )
        .unwrap();
        let err = private_key(&pem, Some(b"x"), "k").unwrap_err();
        assert!(err.to_string().contains("more than pare spends"), "{err}");
        doc["kdf"]["params"]["N"] = serde_json::json!(1000);
        let pem = pem_rfc7468::encode_string(
            label,
            pem_rfc7468::LineEnding::LF,
            doc.to_string().as_bytes(),
        )
        .unwrap();
        assert!(private_key(&pem, Some(b"x"), "k").is_err());
    }
}
