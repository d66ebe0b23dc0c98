//! Release files: verify an `InRelease` file's OpenPGP cleartext signature against a keyring, then
//! read the suite's metadata and the SHA256 list that every index fetched from it is checked against.
//! Verification uses rpgp (pure Rust); no gpg binary is involved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey};
use pgp::types::KeyDetails;

use crate::control::{paragraphs, value_lines};
use crate::sources::SignedBy;
use crate::{io_err, Error, Result};

/// Where apt keeps its default trusted keys, relative to the system root.
pub const DEFAULT_KEYRINGS: [&str; 2] = ["etc/apt/trusted.gpg", "etc/apt/trusted.gpg.d"];

/// A set of OpenPGP public keys.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    /// The files the keys came from, for messages.
    pub sources: Vec<PathBuf>,
}

impl Keyring {
    /// Reads keys from a file holding one or more keys, binary (`.gpg`) or ASCII-armored (`.asc`).
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let bytes =
            std::fs::read(path).map_err(io_err(format!("reading keyring {}", path.display())))?;
        let before = self.keys.len();
        self.add_bytes(&bytes)
            .map_err(|e| Error::Signature(format!("keyring {}: {e}", path.display())))?;
        if self.keys.len() == before {
            return Err(Error::Signature(format!(
                "keyring {} holds no OpenPGP public key",
                path.display()
            )));
        }
        self.sources.push(path.to_path_buf());
        Ok(())
    }

    /// Adds keys from binary or armored bytes. A subkey is used only if its binding signature by the
    /// primary key verifies (checked when a signature is matched); third-party certifications on user
    /// IDs, which Debian's keys carry, are not needed to trust a key the user installed.
    pub fn add_bytes(&mut self, bytes: &[u8]) -> std::result::Result<(), String> {
        let (keys, _) = SignedPublicKey::from_reader_many(bytes).map_err(|e| e.to_string())?;
        for key in keys {
            self.keys.push(key.map_err(|e| e.to_string())?);
        }
        Ok(())
    }

    /// apt's default keyring under `root`: `etc/apt/trusted.gpg` and `etc/apt/trusted.gpg.d/*.{gpg,asc}`.
    pub fn apt_default(root: &Path) -> Result<Self> {
        let mut ring = Keyring::default();
        let legacy = root.join(DEFAULT_KEYRINGS[0]);
        if legacy.is_file() {
            ring.add_file(&legacy)?;
        }
        let dir = root.join(DEFAULT_KEYRINGS[1]);
        if dir.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(io_err(format!("reading {}", dir.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("gpg" | "asc")))
                .collect();
            files.sort();
            for file in files {
                ring.add_file(&file)?;
            }
        }
        Ok(ring)
    }

    /// The keyring a repository's `Signed-By` names.
    pub fn for_repository(signed_by: &SignedBy, root: &Path) -> Result<Self> {
        match signed_by {
            SignedBy::Default => Self::apt_default(root),
            SignedBy::Files(files) => {
                let mut ring = Keyring::default();
                for file in files {
                    let path = if file.is_absolute() && root != Path::new("/") {
                        root.join(file.strip_prefix("/").unwrap_or(file))
                    } else {
                        file.clone()
                    };
                    ring.add_file(&path)?;
                }
                Ok(ring)
            }
            SignedBy::Fingerprints(wanted) => {
                let all = Self::apt_default(root)?;
                let keys = all
                    .keys
                    .into_iter()
                    .filter(|k| {
                        let fp = hex_upper(k.fingerprint().as_bytes());
                        wanted.iter().any(|w| fp.ends_with(w.as_str()))
                    })
                    .collect();
                Ok(Keyring {
                    keys,
                    sources: all.sources,
                })
            }
            SignedBy::Inline(armored) => {
                let mut ring = Keyring::default();
                ring.add_bytes(armored.as_bytes())
                    .map_err(|e| Error::Signature(format!("the inline Signed-By key: {e}")))?;
                Ok(ring)
            }
        }
    }

    /// Number of primary keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the keyring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Fingerprints (upper-case hex) of the primary keys.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| hex_upper(k.fingerprint().as_bytes()))
            .collect()
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Verifies a cleartext-signed `InRelease` and returns the signed text and the fingerprint of the key
/// that made a good signature. `what` names the file in errors.
pub fn verify_inrelease(text: &str, keyring: &Keyring, what: &str) -> Result<(String, String)> {
    let (message, _) = CleartextSignedMessage::from_string(text).map_err(|e| {
        Error::Signature(format!(
            "{what} is not an OpenPGP cleartext-signed file ({e}); the repository is unsigned or the \
             download is damaged (pass --allow-insecure-repositories only if you trust the transport)"
        ))
    })?;
    if keyring.is_empty() {
        return Err(Error::Signature(format!(
            "{what}: no key to check its signature against (keyrings: {}); install the repository's \
             keyring or name one with Signed-By",
            describe_sources(keyring)
        )));
    }
    for key in &keyring.keys {
        if message.verify(key).is_ok() {
            return Ok((
                message.signed_text().replace("\r\n", "\n"),
                hex_upper(key.fingerprint().as_bytes()),
            ));
        }
        for sub in &key.public_subkeys {
            if message.verify(sub).is_ok() && sub.verify_bindings(&key.primary_key).is_ok() {
                return Ok((
                    message.signed_text().replace("\r\n", "\n"),
                    hex_upper(key.fingerprint().as_bytes()),
                ));
            }
        }
    }
    let issuers: Vec<String> = message
        .signatures()
        .iter()
        .flat_map(|s| {
            s.issuer_fingerprint()
                .into_iter()
                .map(|f| hex_upper(f.as_bytes()))
                .chain(s.issuer_key_id().into_iter().map(|k| hex_upper(k.as_ref())))
                .collect::<Vec<_>>()
        })
        .collect();
    Err(Error::Signature(format!(
        "{what}: BAD or unknown signature: none of its {} signature(s) (issuers {}) verifies with the {} \
         key(s) in {}; the file was altered or is signed by a key you do not trust",
        message.signatures().len(),
        if issuers.is_empty() { "unknown".to_string() } else { issuers.join(", ") },
        keyring.len(),
        describe_sources(keyring)
    )))
}

fn describe_sources(keyring: &Keyring) -> String {
    if keyring.sources.is_empty() {
        "(inline)".into()
    } else {
        keyring
            .sources
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One file a Release lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexFile {
    pub sha256: String,
    pub size: u64,
}

/// The parts of a Release file pare uses.
#[derive(Clone, Debug, Default)]
pub struct Release {
    pub origin: String,
    pub suite: String,
    pub codename: String,
    pub date: Option<u64>,
    pub valid_until: Option<u64>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    /// `Acquire-By-Hash: yes`: indexes can be fetched under `by-hash/SHA256/<hash>`.
    pub by_hash: bool,
    /// Whether `all` packages are listed only in `binary-all` (`all` among the architectures and no
    /// `No-Support-for-Architecture-all`), as apt decides it.
    pub arch_all_separate: bool,
    /// Path under `dists/SUITE/` to its SHA256 and size.
    pub files: BTreeMap<String, IndexFile>,
}

impl Release {
    /// Parses the (already verified) text of a Release file.
    pub fn parse(text: &str, what: &str) -> Result<Self> {
        let paragraph = paragraphs(text, what)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Parse(format!("{what} is empty")))?;
        let field = |n: &str| paragraph.get(n).unwrap_or("").to_string();
        let words = |n: &str| -> Vec<String> {
            paragraph
                .get(n)
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        let mut files = BTreeMap::new();
        let list = paragraph.get("SHA256").ok_or_else(|| {
            Error::Parse(format!(
                "{what} has no SHA256 list; pare does not trust MD5 or SHA1 alone"
            ))
        })?;
        for line in value_lines(list) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [hash, size, path] = parts.as_slice() else {
                return Err(Error::Parse(format!("{what}: bad SHA256 line {line:?}")));
            };
            let size = size
                .parse::<u64>()
                .map_err(|_| Error::Parse(format!("{what}: bad size in SHA256 line {line:?}")))?;
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::Parse(format!(
                    "{what}: bad hash in SHA256 line {line:?}"
                )));
            }
            files.insert(
                path.to_string(),
                IndexFile {
                    sha256: hash.to_ascii_lowercase(),
                    size,
                },
            );
        }
        let date = |n: &str| -> Result<Option<u64>> {
            match paragraph.get(n) {
                None => Ok(None),
                Some(v) => parse_rfc2822(v)
                    .map(Some)
                    .ok_or_else(|| Error::Parse(format!("{what}: cannot read {n} date {v:?}"))),
            }
        };
        Ok(Self {
            origin: field("Origin"),
            suite: field("Suite"),
            codename: field("Codename"),
            date: date("Date")?,
            valid_until: date("Valid-Until")?,
            architectures: words("Architectures"),
            components: words("Components"),
            by_hash: paragraph
                .get("Acquire-By-Hash")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            arch_all_separate: paragraph.get("No-Support-for-Architecture-all").is_none()
                && words("Architectures").iter().any(|a| a == "all"),
            files,
        })
    }
}

/// Parses the dates Release files use (`Sat, 11 Jul 2026 10:16:37 UTC`, also `+0000` zones) into
/// seconds since the epoch.
pub fn parse_rfc2822(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text.split_once(", ").map_or(text, |(_, rest)| rest);
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [day, month, year, time, zone @ ..] = parts.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m.eq_ignore_ascii_case(month))? as u64
        + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    let offset: i64 = match zone.first().copied() {
        None | Some("UTC" | "GMT" | "Z") => 0,
        Some(z) if (z.starts_with('+') || z.starts_with('-')) && z.len() == 5 => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let hh: i64 = z[1..3].parse().ok()?;
            let mm: i64 = z[3..5].parse().ok()?;
            sign * (hh * 3600 + mm * 60)
        }
        _ => return None,
    };
    // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo as i64 + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + (*h as i64) * 3600 + (*m as i64) * 60 + *s as i64 - offset;
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_rfc2822("Thu, 01 Jan 1970 00:00:00 UTC"), Some(0));
        assert_eq!(
            parse_rfc2822("Sat, 11 Jul 2026 10:16:37 UTC"),
            Some(1_783_764_997)
        );
        assert_eq!(
            parse_rfc2822("Sat, 11 Jul 2026 12:16:37 +0200"),
            Some(1_783_764_997)
        );
        assert_eq!(parse_rfc2822("yesterday"), None);
    }

    #[test]
    fn release_fields() {
        let text = "Origin: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 11 Jul 2026 10:16:37 UTC\n\
                    Acquire-By-Hash: yes\nNo-Support-for-Architecture-all: Packages\nArchitectures: amd64 arm64\n\
                    Components: main\nSHA256:\n 9e0b5aabb2465b3d2e7a7fe27f9913846277833f7a2826e7767acccff5b588c5  8790396 main/binary-amd64/Packages.xz\n";
        let r = Release::parse(text, "t").unwrap();
        assert!(r.by_hash && !r.arch_all_separate);
        let separate = text.replace("No-Support-for-Architecture-all: Packages\n", "");
        assert!(
            !Release::parse(&separate, "t").unwrap().arch_all_separate,
            "no 'all' architecture"
        );
        let separate = separate.replace("amd64 arm64", "all amd64 arm64");
        assert!(Release::parse(&separate, "t").unwrap().arch_all_separate);
        assert_eq!(r.files["main/binary-amd64/Packages.xz"].size, 8_790_396);
        assert!(Release::parse("Origin: x\n", "t").is_err());
    }

    #[test]
    fn refuses_unsigned_and_garbage() {
        let ring = Keyring::default();
        assert!(matches!(
            verify_inrelease("Origin: x\n", &ring, "t"),
            Err(Error::Signature(_))
        ));
    }
}
