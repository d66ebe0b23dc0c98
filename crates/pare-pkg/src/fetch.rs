//! Downloads over HTTP(S) and from `file:` URIs, bounded in size, with retries on transient failures.
//! Content checks (size and SHA256 against what a signed index promised) happen while streaming.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::{io_err, Error, Result};

/// A size and SHA256 a download must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub sha256: String,
    pub size: u64,
}

/// A synchronous downloader.
pub struct Fetcher {
    agent: ureq::Agent,
    retries: u32,
}

impl Default for Fetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Fetcher {
    /// A downloader with 30 s connect/read timeouts and two retries.
    pub fn new() -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(60))
            .build();
        Self { agent, retries: 2 }
    }

    /// Opens `url` for reading; `Ok(None)` when the server says 404 (or a `file:` path is missing).
    fn open(&self, url: &str) -> Result<Option<Box<dyn Read + Send>>> {
        if let Some(path) = url
            .strip_prefix("file://")
            .or_else(|| url.strip_prefix("file:"))
        {
            return match std::fs::File::open(path) {
                Ok(f) => Ok(Some(Box::new(f))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err(format!("reading {path}"))(e)),
            };
        }
        let mut attempt = 0;
        loop {
            match self.agent.get(url).call() {
                Ok(response) => return Ok(Some(Box::new(response.into_reader()))),
                Err(ureq::Error::Status(404 | 410, _)) => return Ok(None),
                Err(ureq::Error::Status(code, _)) if code < 500 || attempt >= self.retries => {
                    return Err(Error::Fetch(format!("GET {url}: HTTP status {code}")))
                }
                Err(ureq::Error::Transport(t)) if attempt >= self.retries => {
                    return Err(Error::Fetch(format!(
                        "GET {url}: {t}; check the network and the repository URI"
                    )))
                }
                Err(_) => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                }
            }
        }
    }

    /// Reads a whole small file (an InRelease) into memory, refusing more than `max` bytes.
    pub fn get_bytes(&self, url: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let Some(reader) = self.open(url)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        reader
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Fetch(format!("GET {url}: {e}")))?;
        if bytes.len() as u64 > max {
            return Err(Error::Fetch(format!(
                "GET {url}: more than {max} bytes; refusing"
            )));
        }
        Ok(Some(bytes))
    }

    /// Streams `url` into `out`, checking size and SHA256 against `expected`. On any mismatch the
    /// caller's temporary file must be discarded.
    pub fn download_to(&self, url: &str, expected: &Expected, out: &mut dyn Write) -> Result<()> {
        let Some(reader) = self.open(url)? else {
            return Err(Error::Fetch(format!("GET {url}: not found (404); the index may be newer than the mirror, run pare lock again")));
        };
        copy_verified(reader, expected, out, url)
    }
}

/// Copies `reader` to `out` while hashing; fails if the size or SHA256 differ from `expected`.
pub fn copy_verified(
    mut reader: impl Read,
    expected: &Expected,
    out: &mut dyn Write,
    what: &str,
) -> Result<()> {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| Error::Fetch(format!("{what}: read failed after {total} bytes: {e}")))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > expected.size {
            return Err(Error::Fetch(format!(
                "{what}: more than the {} bytes the index lists; refusing",
                expected.size
            )));
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| Error::Fetch(format!("{what}: writing: {e}")))?;
    }
    if total != expected.size {
        return Err(Error::Fetch(format!(
            "{what}: got {total} bytes but the index lists {} (truncated download?)",
            expected.size
        )));
    }
    let actual = hex(&hasher.finalize());
    if actual != expected.sha256 {
        return Err(Error::Fetch(format!(
            "{what}: SHA256 {actual} differs from {} listed in the signed index; the file was altered or \
             the mirror is inconsistent",
            expected.sha256
        )));
    }
    Ok(())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io_err(format!("reading {}", path.display())))?;
    Ok(hex(&hasher.finalize()))
}
