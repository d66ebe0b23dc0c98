//! The local content-addressed download cache: `<root>/sha256/<hex>` for every verified index and
//! `.deb`. Files land under a temporary name and are renamed only after their size and SHA256 match,
//! so a crash or a bad download never leaves a file that looks valid. Not a cache of extracted data.

use std::path::{Path, PathBuf};

use crate::fetch::{sha256_file, Expected, Fetcher};
use crate::{io_err, Error, Result};

/// A content-addressed file cache.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// A cache rooted at `root` (created on first store).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob with this SHA256 lives.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(sha256)
    }

    /// The cached file for `expected` if present with the right size. With `verify`, its SHA256 is
    /// checked too and a corrupt file is removed.
    pub fn get(&self, expected: &Expected, verify: bool) -> Result<Option<PathBuf>> {
        if !is_hex64(&expected.sha256) {
            return Err(Error::Parse(format!(
                "{:?} is not a SHA256",
                expected.sha256
            )));
        }
        let path = self.path(&expected.sha256);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.len() == expected.size => {
                if verify && sha256_file(&path)? != expected.sha256 {
                    let _ = std::fs::remove_file(&path);
                    return Ok(None);
                }
                Ok(Some(path))
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
                Ok(None)
            }
            Err(_) => Ok(None),
        }
    }

    /// The cached file for `expected`, downloading it from `url` when missing.
    pub fn fetch(&self, fetcher: &Fetcher, url: &str, expected: &Expected) -> Result<PathBuf> {
        if let Some(path) = self.get(expected, false)? {
            return Ok(path);
        }
        let dir = self.root.join("sha256");
        std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let mut temp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(&dir)
            .map_err(io_err(format!(
                "creating a temporary file in {}",
                dir.display()
            )))?;
        fetcher.download_to(url, expected, temp.as_file_mut())?;
        temp.as_file()
            .sync_all()
            .map_err(io_err(format!("syncing a download into {}", dir.display())))?;
        let path = self.path(&expected.sha256);
        temp.persist(&path)
            .map_err(|e| io_err(format!("storing {}", path.display()))(e.error))?;
        Ok(path)
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::hex;
    use sha2::{Digest, Sha256};

    #[test]
    fn stores_only_verified_content() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("file");
        std::fs::write(&src, b"hello").unwrap();
        let cache = Cache::new(dir.path().join("cache"));
        let good = Expected {
            sha256: hex(&Sha256::digest(b"hello")),
            size: 5,
        };
        let url = format!("file://{}", src.display());
        let fetcher = Fetcher::new();
        let path = cache.fetch(&fetcher, &url, &good).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");

        let wrong_hash = Expected {
            sha256: hex(&Sha256::digest(b"other")),
            size: 5,
        };
        let err = cache
            .fetch(&fetcher, &url, &wrong_hash)
            .unwrap_err()
            .to_string();
        assert!(err.contains("SHA256"), "{err}");
        let short = Expected {
            sha256: good.sha256.clone(),
            size: 9,
        };
        std::fs::remove_file(&path).unwrap();
        let err = cache.fetch(&fetcher, &url, &short).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        // Nothing but the failed downloads' absence: no partial file remains.
        let left: Vec<_> = std::fs::read_dir(dir.path().join("cache/sha256"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
