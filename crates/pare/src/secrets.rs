//! Finds credentials in bytes: PEM private keys, cloud access keys, GitHub/GitLab/npm/PyPI tokens,
//! docker registry auths and `.env` files. Audit runs it over the first bytes of every file in an
//! image, so it scans raw bytes (no UTF-8 decoding) with one Aho-Corasick automaton for every marker
//! at once, then checks the characters after a token prefix. It only recognizes well-known shapes;
//! it is not an entropy scanner and does not decide severities (audit does).

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};

/// What a marker means once found.
#[derive(Clone, Copy)]
enum Marker {
    /// A PEM private key header; the name is what the finding calls it.
    PrivateKey(&'static str),
    /// A token prefix that must be followed by `len` characters of `charset`.
    Token {
        family: Family,
        len: usize,
        charset: fn(u8) -> bool,
    },
    /// A prefix that is a token on its own (a PyPI token's fixed macaroon header).
    Fixed(Family),
}

/// The token families, in the order findings are reported.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    Aws,
    GitHub,
    GitLab,
    Npm,
    PyPi,
}

impl Family {
    fn finding(self) -> (&'static str, &'static str) {
        match self {
            Family::Aws => ("PARE-SECRET-CLOUD-KEY", "an AWS access key id"),
            Family::GitHub => ("PARE-SECRET-TOKEN", "a GitHub token"),
            Family::GitLab => ("PARE-SECRET-TOKEN", "a GitLab token"),
            Family::Npm => ("PARE-SECRET-TOKEN", "an npm token"),
            Family::PyPi => ("PARE-SECRET-TOKEN", "a PyPI token"),
        }
    }
}

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn upper_digit(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

fn url_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

const MARKERS: [(&str, Marker); 17] = [
    (
        "-----BEGIN RSA PRIVATE KEY-----",
        Marker::PrivateKey("BEGIN RSA PRIVATE KEY"),
    ),
    (
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        Marker::PrivateKey("BEGIN OPENSSH PRIVATE KEY"),
    ),
    (
        "-----BEGIN EC PRIVATE KEY-----",
        Marker::PrivateKey("BEGIN EC PRIVATE KEY"),
    ),
    (
        "-----BEGIN DSA PRIVATE KEY-----",
        Marker::PrivateKey("BEGIN DSA PRIVATE KEY"),
    ),
    (
        "-----BEGIN ENCRYPTED PRIVATE KEY-----",
        Marker::PrivateKey("BEGIN ENCRYPTED PRIVATE KEY"),
    ),
    (
        "-----BEGIN PRIVATE KEY-----",
        Marker::PrivateKey("BEGIN PRIVATE KEY"),
    ),
    ("AKIA", token(Family::Aws, 16, upper_digit)),
    ("ASIA", token(Family::Aws, 16, upper_digit)),
    ("ghp_", token(Family::GitHub, 36, alnum)),
    ("gho_", token(Family::GitHub, 36, alnum)),
    ("ghu_", token(Family::GitHub, 36, alnum)),
    ("ghs_", token(Family::GitHub, 36, alnum)),
    ("ghr_", token(Family::GitHub, 36, alnum)),
    ("github_pat_", token(Family::GitHub, 40, url_safe)),
    ("glpat-", token(Family::GitLab, 20, url_safe)),
    ("npm_", token(Family::Npm, 36, alnum)),
    ("pypi-AgEIcHlwaS5vcmc", Marker::Fixed(Family::PyPi)),
];

const fn token(family: Family, len: usize, charset: fn(u8) -> bool) -> Marker {
    Marker::Token {
        family,
        len,
        charset,
    }
}

static AUTOMATON: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(MARKERS.iter().map(|(pattern, _)| pattern))
        .ok()
});

/// Secret patterns found in a file's bytes (`path` is the file's path in the image, for name-based
/// rules): (rule, reason), at most one finding per family.
pub fn secrets_in(path: &str, bytes: &[u8]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let name = path.rsplit('/').next().unwrap_or(path);
    if name == ".env" || name.starts_with(".env.") {
        out.push((
            "PARE-SECRET-DOTENV",
            format!("{name}: environment files usually hold credentials"),
        ));
    }
    let mut key: Option<(usize, &str)> = None;
    let mut families: Vec<Family> = Vec::new();
    // The automaton is built from constant patterns and cannot fail to build; if it ever did, the
    // scan would find nothing rather than take audit down, and the unit tests would catch it.
    if let Some(automaton) = AUTOMATON.as_ref() {
        // No marker is part of another, so leftmost non-overlapping matches (which the automaton's
        // SIMD prefilter serves fastest) miss nothing: a failed token check resumes right after
        // its prefix.
        for found in automaton.find_iter(bytes) {
            let index = found.pattern().as_usize();
            match MARKERS[index].1 {
                Marker::PrivateKey(what) => {
                    if key.is_none_or(|(first, _)| index < first) {
                        key = Some((index, what));
                    }
                }
                Marker::Token {
                    family,
                    len,
                    charset,
                } => {
                    let rest = &bytes[found.end()..];
                    if rest.len() >= len && rest[..len].iter().all(|&b| charset(b)) {
                        families.push(family);
                    }
                }
                Marker::Fixed(family) => families.push(family),
            }
        }
    }
    if let Some((_, what)) = key {
        out.push((
            "PARE-SECRET-PRIVATE-KEY",
            format!("a PEM private key ({what})"),
        ));
    }
    families.sort();
    families.dedup();
    for family in families {
        let (rule, reason) = family.finding();
        out.push((rule, reason.to_string()));
    }
    let contains = |needle: &[u8]| memchr::memmem::find(bytes, needle).is_some();
    if name == "config.json"
        && path.contains(".docker/")
        && contains(b"\"auths\"")
        && contains(b"\"auth\"")
    {
        out.push((
            "PARE-SECRET-DOCKER-AUTH",
            "docker registry credentials (.docker/config.json auths)".into(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_is_found() {
        let key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n";
        assert_eq!(
            secrets_in("home/x/id", key),
            [(
                "PARE-SECRET-PRIVATE-KEY",
                "a PEM private key (BEGIN OPENSSH PRIVATE KEY)".to_string()
            )]
        );
        let gh = format!("token=ghp_{}", "a1B2".repeat(9));
        assert_eq!(secrets_in("x", gh.as_bytes())[0].1, "a GitHub token");
        let pat = format!("github_pat_{}", "a_B-".repeat(10));
        assert_eq!(secrets_in("x", pat.as_bytes())[0].1, "a GitHub token");
        assert_eq!(
            secrets_in("x", b"AKIAABCDEFGHIJKLMNOP")[0].0,
            "PARE-SECRET-CLOUD-KEY"
        );
        let gitlab = format!("glpat-{}", "x".repeat(20));
        assert_eq!(secrets_in("x", gitlab.as_bytes())[0].1, "a GitLab token");
        let npm = format!("//registry/:_authToken=npm_{}", "Z9".repeat(18));
        assert_eq!(secrets_in("x", npm.as_bytes())[0].1, "an npm token");
        assert_eq!(
            secrets_in("x", b"password = pypi-AgEIcHlwaS5vcmcCJDA")[0].1,
            "a PyPI token"
        );
        assert_eq!(secrets_in("app/.env", b"X=1")[0].0, "PARE-SECRET-DOTENV");
        let docker = br#"{"auths":{"r":{"auth":"eDp5"}}}"#;
        assert_eq!(
            secrets_in("root/.docker/config.json", docker)[0].0,
            "PARE-SECRET-DOCKER-AUTH"
        );
    }

    #[test]
    fn near_misses_are_not_secrets() {
        assert!(secrets_in("x", b"ghp_short").is_empty());
        assert!(secrets_in("x", b"AKIAabcdefghijklmnop").is_empty());
        assert!(secrets_in("etc/ssl/certs/ca.crt", b"-----BEGIN CERTIFICATE-----").is_empty());
        assert!(secrets_in("srv/config.json", br#"{"auths":{"r":{"auth":"eDp5"}}}"#).is_empty());
        assert!(secrets_in("x", b"").is_empty());
    }

    #[test]
    fn raw_bytes_around_a_token_do_not_hide_it() {
        // Invalid UTF-8 right before and after: the scan works on bytes, not on decoded text.
        let mut bytes = vec![0xff, 0xfe, 0x00];
        bytes.extend_from_slice(b"AKIA");
        bytes.extend_from_slice(b"ABCDEFGHIJKLMNOP");
        bytes.extend_from_slice(&[0xc3, 0x28]);
        assert_eq!(secrets_in("bin/app", &bytes)[0].0, "PARE-SECRET-CLOUD-KEY");
    }

    #[test]
    fn no_marker_is_part_of_another() {
        for (i, (a, _)) in MARKERS.iter().enumerate() {
            for (j, (b, _)) in MARKERS.iter().enumerate() {
                assert!(i == j || !a.contains(b), "{a} contains {b}");
            }
        }
        // A failed prefix does not swallow a real token right after it.
        let text = format!("AKIAshort AKIA{}", "ABCDEFGHIJKLMNOP");
        assert_eq!(secrets_in("x", text.as_bytes()).len(), 1);
    }

    #[test]
    fn one_finding_per_family_and_the_first_key_kind() {
        let many = format!(
            "AKIA{k}\nASIA{k}\n-----BEGIN PRIVATE KEY-----\n-----BEGIN RSA PRIVATE KEY-----\n",
            k = "ABCDEFGHIJKLMNOP"
        );
        let found = secrets_in("x", many.as_bytes());
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].1, "a PEM private key (BEGIN RSA PRIVATE KEY)");
        assert_eq!(found[1].0, "PARE-SECRET-CLOUD-KEY");
    }
}
