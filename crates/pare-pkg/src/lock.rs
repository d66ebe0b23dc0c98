//! `pare.lock`: the exact packages an image is built from (name, version, architecture, SHA256, size,
//! pool path, source repository and the layer it goes into), plus a digest of the request that
//! produced it so a stale lock is detected. TOML, sorted, stable across runs.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fetch::hex;
use crate::{io_err, Error, Result};

/// The lock format's version.
pub const LOCK_VERSION: u32 = 1;

/// What a lock was made for: the recipe, the extra packages and the exclusion list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRequest {
    pub recipe: Option<String>,
    /// The recipe's requested packages as `layer:package`, so a changed recipe makes old locks stale.
    pub roots: Vec<String>,
    pub packages: Vec<String>,
    pub exclude: Vec<String>,
    pub architecture: String,
    pub repositories: Vec<String>,
}

impl LockRequest {
    /// A digest of the request; a lock is stale when it differs.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        let text = toml::to_string(self).unwrap_or_default();
        h.update(text.as_bytes());
        format!("sha256:{}", hex(&h.finalize()))
    }
}

/// A repository the lock's packages come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedRepository {
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    /// Fingerprint of the key that signed its InRelease when locked (absent if insecure).
    pub signed_by: Option<String>,
}

/// One locked package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub sha256: String,
    pub size: u64,
    pub filename: String,
    /// `URI SUITE` of the repository it comes from.
    pub repository: String,
    /// The layer it goes into (`base`, `runtime`, `extra`).
    pub layer: String,
    /// Why it is in (`requested`, `Depends of python3.11`).
    pub why: String,
}

/// The base image a build starts from, pinned: the reference as written and the digest of the image
/// manifest it named when locked (for its platform).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedBase {
    pub reference: String,
    pub digest: String,
    pub platform: String,
}

/// A package the lock holds because a copied program needs a shared library from it that the
/// image lacked (`libpq5` provides `libpq.so.5` for `/app/ext.so`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LockedProvision {
    pub soname: String,
    pub package: String,
    pub needed_by: String,
}

/// The whole lock file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub version: u32,
    /// [`LockRequest::digest`] of the request it was made from (empty when no package is locked).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    /// The base image, when the build starts from one (`--base docker://…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<LockedBase>,
    #[serde(rename = "repository", default)]
    pub repositories: Vec<LockedRepository>,
    #[serde(rename = "package", default)]
    pub packages: Vec<LockedPackage>,
    /// Packages added for the libraries copied programs need (resolved with the request's).
    #[serde(rename = "provided", default, skip_serializing_if = "Vec::is_empty")]
    pub provided: Vec<LockedProvision>,
    /// The locks of the other architectures of a multi-platform build (`[[other]]`), each a
    /// whole lock of its own; empty for a one-architecture project, whose file is as before.
    #[serde(rename = "other", default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<Lock>,
}

impl Lock {
    /// The lock a file holds for `architecture`: the file's own, or one of its `[[other]]` locks;
    /// an empty lock (which no request matches, so it counts as stale) when it has none.
    pub fn read_for(path: &Path, architecture: &str) -> Result<Self> {
        let lock = Self::read(path)?;
        if lock.architecture == architecture || lock.architecture.is_empty() {
            return Ok(lock);
        }
        Ok(lock
            .others
            .into_iter()
            .find(|o| o.architecture == architecture)
            .unwrap_or(Lock {
                version: LOCK_VERSION,
                architecture: architecture.to_string(),
                ..Lock::default()
            }))
    }

    /// Writes this lock into `path`, keeping the locks the file holds for other architectures: a
    /// file for the same architecture (or none) is replaced, keeping its `[[other]]` locks; a file
    /// for another architecture keeps its own lock and gets this one among its others.
    pub fn write_merged(&self, path: &Path) -> Result<()> {
        let mine = Lock {
            others: Vec::new(),
            ..self.clone()
        };
        let merged = match Self::read(path) {
            Ok(existing)
                if !existing.architecture.is_empty()
                    && existing.architecture != mine.architecture =>
            {
                let mut merged = existing;
                merged
                    .others
                    .retain(|o| o.architecture != mine.architecture);
                merged.others.push(mine);
                merged
                    .others
                    .sort_by(|a, b| a.architecture.cmp(&b.architecture));
                merged
            }
            Ok(existing) => Lock {
                others: existing.others,
                ..mine
            },
            Err(_) => mine,
        };
        merged.write(path)
    }

    /// Reads and validates a lock file.
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(io_err(format!("reading {}", path.display())))?;
        let lock: Lock = toml::from_str(&text).map_err(|e| {
            Error::Parse(format!(
                "{} is not a valid pare.lock: {e}; regenerate it with pare lock",
                path.display()
            ))
        })?;
        if lock.version != LOCK_VERSION {
            return Err(Error::Parse(format!(
                "{}: lock version {} is not {LOCK_VERSION}; regenerate it with pare lock",
                path.display(),
                lock.version
            )));
        }
        if let Some(base) = &lock.base {
            let hex = base.digest.strip_prefix("sha256:").unwrap_or("");
            if hex.len() != 64
                || !hex
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return Err(Error::Parse(format!(
                    "{}: base {}: digest {:?} is not sha256: and 64 lower-case hex digits",
                    path.display(),
                    base.reference,
                    base.digest
                )));
            }
        }
        for p in &lock.packages {
            let bad =
                |why: &str| Error::Parse(format!("{}: package {}: {why}", path.display(), p.name));
            if p.sha256.len() != 64
                || !p
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return Err(bad("sha256 is not 64 lower-case hex digits"));
            }
            if p.filename.starts_with('/') || p.filename.split('/').any(|c| c == "..") {
                return Err(bad("filename escapes the repository"));
            }
            if !lock
                .repositories
                .iter()
                .any(|r| format!("{} {}", r.uri, r.suite) == p.repository)
            {
                return Err(bad("its repository is not among the lock's repositories"));
            }
        }
        Ok(lock)
    }

    /// The lock as TOML text, packages sorted by name.
    pub fn to_toml(&self) -> Result<String> {
        let mut sorted = self.clone();
        sorted
            .packages
            .sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
        for other in &mut sorted.others {
            other
                .packages
                .sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
        }
        let body = toml::to_string(&sorted)
            .map_err(|e| Error::Parse(format!("serializing the lock: {e}")))?;
        Ok(format!(
            "# pare.lock: written by `pare lock`; do not edit by hand.\n{body}"
        ))
    }

    /// Writes the lock atomically (temporary file, then rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = self.to_toml()?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // 0644: the lock is committed and read by everyone who builds the project.
        let mut temp = tempfile::Builder::new()
            .prefix(".pare-tmp-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(dir)
            .map_err(io_err(format!("creating a file in {}", dir.display())))?;
        std::io::Write::write_all(&mut temp, text.as_bytes())
            .map_err(io_err(format!("writing {}", path.display())))?;
        temp.as_file()
            .sync_all()
            .map_err(io_err(format!("writing {}", path.display())))?;
        temp.persist(path)
            .map_err(|e| io_err(format!("writing {}", path.display()))(e.error))?;
        Ok(())
    }

    /// The URL of a locked package.
    pub fn url(&self, package: &LockedPackage) -> Result<String> {
        let repo = self
            .repositories
            .iter()
            .find(|r| format!("{} {}", r.uri, r.suite) == package.repository)
            .ok_or_else(|| {
                Error::Parse(format!(
                    "package {} names an unknown repository",
                    package.name
                ))
            })?;
        Ok(format!("{}/{}", repo.uri, package.filename))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        Lock {
            version: LOCK_VERSION,
            request: LockRequest::default().digest(),
            architecture: "amd64".into(),
            repositories: vec![LockedRepository {
                uri: "http://repo.invalid/debian".into(),
                suite: "stable".into(),
                components: vec!["main".into()],
                signed_by: Some("ABCD".into()),
            }],
            packages: vec![LockedPackage {
                name: "zlib1g".into(),
                version: "1:1.2.13.dfsg-1".into(),
                architecture: "amd64".into(),
                sha256: "a".repeat(64),
                size: 10,
                filename: "pool/main/z/zlib/zlib1g.deb".into(),
                repository: "http://repo.invalid/debian stable".into(),
                layer: "base".into(),
                why: "requested".into(),
            }],
            base: None,
            provided: Vec::new(),
            others: Vec::new(),
        }
    }

    #[test]
    fn a_base_only_lock_round_trips_and_its_digest_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pare.lock");
        let lock = Lock {
            version: LOCK_VERSION,
            base: Some(LockedBase {
                reference: "docker://127.0.0.1:5000/base:1".into(),
                digest: format!("sha256:{}", "b".repeat(64)),
                platform: "linux/amd64".into(),
            }),
            ..Lock::default()
        };
        lock.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("request"), "{text}");
        assert!(text.contains("[base]"), "{text}");
        assert_eq!(Lock::read(&path).unwrap(), lock);
        std::fs::write(&path, text.replace(&"b".repeat(64), "B")).unwrap();
        let err = Lock::read(&path).unwrap_err().to_string();
        assert!(err.contains("not sha256:"), "{err}");
    }

    #[test]
    fn round_trips_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pare.lock");
        let lock = sample();
        lock.write(&path).unwrap();
        assert_eq!(Lock::read(&path).unwrap(), lock);
        assert_eq!(
            lock.url(&lock.packages[0]).unwrap(),
            "http://repo.invalid/debian/pool/main/z/zlib/zlib1g.deb"
        );
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("pool/main", "../main");
        std::fs::write(&path, text).unwrap();
        assert!(Lock::read(&path)
            .unwrap_err()
            .to_string()
            .contains("escapes"));
        std::fs::write(&path, "version = [").unwrap();
        assert!(Lock::read(&path).is_err());
    }

    #[test]
    fn request_digest_changes_with_the_request() {
        let a = LockRequest {
            packages: vec!["a".into()],
            ..Default::default()
        };
        let b = LockRequest {
            packages: vec!["b".into()],
            ..Default::default()
        };
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest(), a.clone().digest());
    }

    #[test]
    fn one_file_holds_a_lock_per_architecture() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pare.lock");
        let amd64 = sample();
        amd64.write_merged(&path).unwrap();
        let single = std::fs::read_to_string(&path).unwrap();
        assert!(
            !single.contains("[[other]]"),
            "one architecture, the file as before"
        );
        let mut arm64 = sample();
        arm64.architecture = "arm64".into();
        arm64.packages[0].architecture = "arm64".into();
        arm64.write_merged(&path).unwrap();
        assert_eq!(
            Lock::read_for(&path, "amd64").unwrap().architecture,
            "amd64"
        );
        let read = Lock::read_for(&path, "arm64").unwrap();
        assert_eq!(read.packages[0].architecture, "arm64");
        assert!(read.others.is_empty());
        // Relocking amd64 keeps arm64; an unknown architecture reads as an empty (stale) lock.
        amd64.write_merged(&path).unwrap();
        assert_eq!(Lock::read(&path).unwrap().others.len(), 1);
        let none = Lock::read_for(&path, "riscv64").unwrap();
        assert!(none.packages.is_empty() && none.request.is_empty());
    }
}
