//! sha256 digests in OCI form (`sha256:<64 hex>`) and a writer that hashes what passes through it.

use sha2::{Digest as _, Sha256};
use std::io::{self, Write};

/// Formats a finished sha256 as an OCI digest string.
pub fn format_sha256(hash: &[u8]) -> String {
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The OCI digest of a byte slice.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format_sha256(&Sha256::digest(bytes))
}

/// Checks that `digest` is a well-formed sha256 digest and returns its hex part.
/// Used before a digest from input becomes part of a file path.
pub fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(hex)
}

/// A writer that forwards to `inner` and hashes every byte written, counting them.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Returns the inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (
            self.inner,
            format_sha256(&self.hasher.finalize()),
            self.written,
        )
    }

    /// The inner writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_digest_is_the_well_known_one() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hashing_writer_matches_one_shot() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (inner, digest, n) = w.finish();
        assert_eq!(inner, b"hello world");
        assert_eq!(n, 11);
        assert_eq!(digest, sha256_digest(b"hello world"));
    }

    #[test]
    fn sha256_hex_refuses_malformed_digests() {
        assert!(sha256_hex("sha256:../../etc/passwd").is_none());
        assert!(sha256_hex("sha512:00").is_none());
        assert!(sha256_hex(&format!("sha256:{}", "A".repeat(64))).is_none());
        assert!(sha256_hex(&format!("sha256:{}", "a".repeat(64))).is_some());
    }
}
