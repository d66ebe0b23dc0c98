//! The package universe: for each repository, fetch and verify `InRelease`, fetch the `Packages`
//! index its SHA256 list names (by hash when the archive offers it), check it, and read every binary
//! package of the target architecture (and `all`). Indexes are cached by content; nothing is trusted
//! that a verified Release did not vouch for.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::cache::Cache;
use crate::control::paragraphs;
use crate::fetch::{Expected, Fetcher};
use crate::relation::parse_relations;
use crate::release::{verify_inrelease, Keyring, Release};
use crate::sources::Repository;
use crate::version::Version;
use crate::{io_err, Error, Result};

/// Largest InRelease pare reads (Debian's is about 150 KB).
const MAX_RELEASE: u64 = 16 << 20;
/// Largest decompressed Packages index (Debian main amd64 is about 50 MB).
const MAX_PACKAGES: u64 = 1 << 30;

/// One binary package as an index lists it.
#[derive(Clone, Debug)]
pub struct Package {
    pub name: String,
    pub version: Version,
    pub architecture: String,
    pub multi_arch: Option<String>,
    pub pre_depends: String,
    pub depends: String,
    pub recommends: String,
    pub provides: String,
    pub conflicts: String,
    pub breaks: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub priority: String,
    pub essential: bool,
    pub source: Option<String>,
    /// Index into [`PackageIndex::repositories`].
    pub repository: usize,
}

impl Package {
    /// `name=version:arch`.
    pub fn id(&self) -> String {
        format!("{}={}:{}", self.name, self.version, self.architecture)
    }
}

/// A repository as loaded: what it is, which key signed it, and the indexes read.
#[derive(Clone, Debug)]
pub struct LoadedRepository {
    pub repository: Repository,
    pub release: Release,
    /// Fingerprint of the key with a good signature, or `None` when insecure repositories are allowed
    /// and it had none.
    pub signed_by: Option<String>,
}

/// Every package of every repository, with lookups by name and by provided name.
#[derive(Debug, Default)]
pub struct PackageIndex {
    pub repositories: Vec<LoadedRepository>,
    pub packages: Vec<Package>,
    by_name: HashMap<String, Vec<usize>>,
    /// Virtual name to (provider, provided version).
    providers: HashMap<String, Vec<(usize, Option<Version>)>>,
}

/// How to load the indexes.
#[derive(Clone, Debug)]
pub struct IndexOptions {
    pub architecture: String,
    /// Root of the system whose apt keyrings are used (`/`).
    pub root: PathBuf,
    /// Accept repositories without a valid signature (apt's `--allow-insecure-repositories`).
    pub allow_insecure: bool,
    pub cache: Cache,
    /// Now, in seconds since the epoch, for `Valid-Until`.
    pub now: u64,
}

impl PackageIndex {
    /// Loads every repository's indexes.
    pub fn load(
        repositories: &[Repository],
        options: &IndexOptions,
        fetcher: &Fetcher,
    ) -> Result<Self> {
        let mut index = PackageIndex::default();
        for repository in repositories {
            let loaded = load_release(repository, options, fetcher)?;
            let repo_index = index.repositories.len();
            let mut texts = Vec::new();
            for component in &repository.components {
                let mut dirs = vec![format!("{component}/binary-{}", options.architecture)];
                if loaded.release.arch_all_separate {
                    dirs.push(format!("{component}/binary-all"));
                }
                for dir in dirs {
                    if let Some(text) =
                        fetch_packages(repository, &loaded.release, &dir, options, fetcher)?
                    {
                        texts.push((dir, text));
                    } else if dir.ends_with(&format!("binary-{}", options.architecture)) {
                        return Err(Error::Fetch(format!(
                            "{}: the Release of {} lists no Packages index for {dir}; check the component and \
                             architecture ({})",
                            repository.origin,
                            repository.describe(),
                            options.architecture
                        )));
                    }
                }
            }
            index.repositories.push(loaded);
            for (dir, text) in texts {
                let what = format!("{} {dir}/Packages", repository.dists_url(""));
                for package in parse_packages(&text, repo_index, &options.architecture, &what)? {
                    index.add(package);
                }
            }
        }
        Ok(index)
    }

    /// Adds a package unless the same name, version and architecture is already known (the first
    /// repository wins, like apt with equal pins).
    pub fn add(&mut self, package: Package) {
        let slot = self.by_name.entry(package.name.clone()).or_default();
        if slot.iter().any(|&i| {
            let p = &self.packages[i];
            p.version == package.version && p.architecture == package.architecture
        }) {
            return;
        }
        let id = self.packages.len();
        slot.push(id);
        if let Ok(provides) = parse_relations(&package.provides, &package.name) {
            for group in provides {
                for p in group {
                    let version = p.constraint.map(|(_, v)| v);
                    self.providers
                        .entry(p.name)
                        .or_default()
                        .push((id, version));
                }
            }
        }
        self.packages.push(package);
    }

    /// The packages with this name, any version.
    pub fn by_name(&self, name: &str) -> &[usize] {
        self.by_name
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The packages providing this virtual name, with the provided version.
    pub fn providers(&self, name: &str) -> &[(usize, Option<Version>)] {
        self.providers
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// A package by id.
    pub fn get(&self, id: usize) -> &Package {
        &self.packages[id]
    }
}

fn load_release(
    repository: &Repository,
    options: &IndexOptions,
    fetcher: &Fetcher,
) -> Result<LoadedRepository> {
    let url = repository.dists_url("InRelease");
    let bytes = fetcher.get_bytes(&url, MAX_RELEASE)?.ok_or_else(|| {
        Error::Fetch(format!(
            "{url}: not found; {} ({}) has no InRelease for suite {:?} (pare needs a signed InRelease)",
            repository.describe(),
            repository.origin,
            repository.suite
        ))
    })?;
    let text =
        String::from_utf8(bytes).map_err(|_| Error::Parse(format!("{url} is not UTF-8 text")))?;
    let (signed_text, signed_by) =
        if text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") || !options.allow_insecure {
            let keyring = Keyring::for_repository(&repository.signed_by, &options.root)?;
            match verify_inrelease(&text, &keyring, &url) {
                Ok((signed, fpr)) => (signed, Some(fpr)),
                Err(e) if options.allow_insecure || repository.trusted => {
                    let _ = e;
                    (strip_cleartext(&text), None)
                }
                Err(e) => return Err(e),
            }
        } else {
            (text.clone(), None)
        };
    let release = Release::parse(&signed_text, &url)?;
    if let Some(until) = release.valid_until {
        if until < options.now && !options.allow_insecure {
            return Err(Error::Signature(format!(
                "{url}: the Release expired (Valid-Until is {} s before now); the mirror is stale or replaying \
                 old metadata",
                options.now - until
            )));
        }
    }
    Ok(LoadedRepository {
        repository: repository.clone(),
        release,
        signed_by,
    })
}

/// The text of a cleartext-signed message without its armor (used only for insecure repositories).
fn strip_cleartext(text: &str) -> String {
    let body = text.split_once("\n\n").map(|(_, b)| b).unwrap_or(text);
    body.split("-----BEGIN PGP SIGNATURE-----")
        .next()
        .unwrap_or(body)
        .lines()
        .map(|l| l.strip_prefix("- ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fetches and decompresses one `Packages` index: each compression the Release lists (xz, gzip,
/// plain), by hash first when the archive offers it, then by name; the first that matches the signed
/// SHA256 wins. Mirrors caught mid-update serve a stale name or miss a by-hash file; this rides over both.
fn fetch_packages(
    repository: &Repository,
    release: &Release,
    dir: &str,
    options: &IndexOptions,
    fetcher: &Fetcher,
) -> Result<Option<String>> {
    let mut failures = Vec::new();
    for suffix in [".xz", ".gz", ""] {
        let path = format!("{dir}/Packages{suffix}");
        let Some(file) = release.files.get(&path) else {
            continue;
        };
        let expected = Expected {
            sha256: file.sha256.clone(),
            size: file.size,
        };
        let mut urls = Vec::new();
        if release.by_hash {
            urls.push(repository.dists_url(&format!("{dir}/by-hash/SHA256/{}", file.sha256)));
        }
        urls.push(repository.dists_url(&path));
        for url in urls {
            match options.cache.fetch(fetcher, &url, &expected) {
                Ok(stored) => return decompress_file(&stored, suffix, &url).map(Some),
                Err(e) => failures.push(e.to_string()),
            }
        }
    }
    if failures.is_empty() {
        Ok(None)
    } else {
        Err(Error::Fetch(format!(
            "no copy of {dir}/Packages from {} matches its signed Release: {}",
            repository.describe(),
            failures.join("; ")
        )))
    }
}

fn decompress_file(path: &Path, suffix: &str, what: &str) -> Result<String> {
    let file = std::fs::File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let reader: Box<dyn Read> = match suffix {
        ".xz" => Box::new(liblzma::read::XzDecoder::new(std::io::BufReader::new(file))),
        ".gz" => Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file))),
        _ => Box::new(file),
    };
    let mut text = String::new();
    reader
        .take(MAX_PACKAGES + 1)
        .read_to_string(&mut text)
        .map_err(|e| Error::Parse(format!("{what}: cannot decompress the Packages index: {e}")))?;
    if text.len() as u64 > MAX_PACKAGES {
        return Err(Error::Parse(format!(
            "{what}: the Packages index is bigger than {MAX_PACKAGES} bytes"
        )));
    }
    Ok(text)
}

/// Reads the packages of a `Packages` index that run on `architecture` (or are `all`).
pub fn parse_packages(
    text: &str,
    repository: usize,
    architecture: &str,
    what: &str,
) -> Result<Vec<Package>> {
    let mut out = Vec::new();
    for paragraph in paragraphs(text, what)? {
        let at = || format!("{what} line {}", paragraph.line);
        let need = |field: &str| {
            paragraph
                .get(field)
                .ok_or_else(|| Error::Parse(format!("{}: the stanza has no {field} field", at())))
        };
        let arch = need("Architecture")?;
        if arch != architecture && arch != "all" {
            continue;
        }
        let name = need("Package")?;
        let version =
            Version::parse(need("Version")?).map_err(|e| Error::Parse(format!("{}: {e}", at())))?;
        let size = need("Size")?
            .parse::<u64>()
            .map_err(|_| Error::Parse(format!("{}: Size is not a number", at())))?;
        let sha256 = need("SHA256")?.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Parse(format!("{}: SHA256 is not a SHA256", at())));
        }
        let filename = need("Filename")?;
        if filename.split('/').any(|c| c == "..") || filename.starts_with('/') {
            return Err(Error::Parse(format!(
                "{}: Filename {filename:?} escapes the repository",
                at()
            )));
        }
        let field = |f: &str| paragraph.get(f).unwrap_or("").to_string();
        out.push(Package {
            name: name.to_string(),
            version,
            architecture: arch.to_string(),
            multi_arch: paragraph.get("Multi-Arch").map(str::to_string),
            pre_depends: field("Pre-Depends"),
            depends: field("Depends"),
            recommends: field("Recommends"),
            provides: field("Provides"),
            conflicts: field("Conflicts"),
            breaks: field("Breaks"),
            filename: filename.to_string(),
            size,
            sha256,
            priority: field("Priority"),
            essential: paragraph.get("Essential").is_some_and(|v| v == "yes"),
            source: paragraph.get("Source").map(str::to_string),
            repository,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Package: a\nVersion: 1.0\nArchitecture: amd64\nProvides: virt (= 2), other\nFilename: pool/a.deb\nSize: 10\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n\n\
Package: b\nVersion: 2\nArchitecture: arm64\nFilename: pool/b.deb\nSize: 10\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n\n\
Package: c\nVersion: 1\nArchitecture: all\nFilename: pool/c.deb\nSize: 10\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n";

    #[test]
    fn reads_packages_of_the_architecture() {
        let packages = parse_packages(SAMPLE, 0, "amd64", "t").unwrap();
        assert_eq!(
            packages.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["a", "c"]
        );
        let mut index = PackageIndex::default();
        for p in packages {
            index.add(p);
        }
        assert_eq!(index.providers("virt").len(), 1);
        assert_eq!(index.providers("virt")[0].1.as_ref().unwrap().as_str(), "2");
        assert_eq!(index.by_name("c").len(), 1);
    }

    #[test]
    fn refuses_escaping_filenames_and_missing_fields() {
        let bad = SAMPLE.replace("pool/a.deb", "../../etc/passwd");
        assert!(parse_packages(&bad, 0, "amd64", "t").is_err());
        let bad = SAMPLE.replace("Size: 10\n", "");
        assert!(parse_packages(&bad, 0, "amd64", "t").is_err());
    }
}
