//! Version orders of the ecosystems vulnerability records speak of, as each ecosystem's own tools
//! order them: Debian (dpkg, from `pare_pkg::version`), Alpine (apk-tools' rules: numbers, letter,
//! `_alpha`…`_p` suffixes, `-rN`), semantic versions for Go modules, crates.io and npm (Go's `v` and
//! `+incompatible` accepted), PEP 440 for PyPI (the `pep440_rs` crate, uv's). apk and the lenient
//! semver are written here: no maintained crate orders apk versions, and the `semver` crate refuses
//! the `v` prefix and pre-1.0 leading zeros records carry. Not here: which records match.

use std::cmp::Ordering;

/// An ecosystem whose versions pare can order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Order {
    Dpkg,
    Apk,
    Semver,
    Pep440,
}

impl Order {
    /// `a` against `b`; None when either is not a version of this ecosystem.
    pub fn compare(self, a: &str, b: &str) -> Option<Ordering> {
        match self {
            Order::Dpkg => {
                let a = pare_pkg::version::Version::parse(a).ok()?;
                let b = pare_pkg::version::Version::parse(b).ok()?;
                Some(a.cmp(&b))
            }
            Order::Apk => Some(apk_compare(&ApkVersion::parse(a)?, &ApkVersion::parse(b)?)),
            Order::Semver => Some(Semver::parse(a)?.cmp(&Semver::parse(b)?)),
            Order::Pep440 => {
                use std::str::FromStr;
                let a = pep440_rs::Version::from_str(a.trim()).ok()?;
                let b = pep440_rs::Version::from_str(b.trim()).ok()?;
                Some(a.cmp(&b))
            }
        }
    }
}

/// A semantic version read leniently: an optional `v`, up to three numeric parts (missing ones are
/// 0), a pre-release after `-`, build metadata (ignored, as semver says) after `+`.
#[derive(Debug, PartialEq, Eq)]
struct Semver {
    core: [u64; 3],
    pre: Vec<PreId>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PreId {
    /// Numeric identifiers sort before alphanumeric ones.
    Number(u64),
    Text(String),
}

impl Semver {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let text = text.split_once('+').map_or(text, |(v, _)| v);
        let (core_text, pre_text) = match text.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (text, None),
        };
        let mut core = [0u64; 3];
        let parts: Vec<&str> = core_text.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return None;
        }
        for (slot, part) in core.iter_mut().zip(&parts) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *slot = part.parse().ok()?;
        }
        let pre = match pre_text {
            Some("") => return None,
            Some(p) => p
                .split('.')
                .map(|id| match id.parse::<u64>() {
                    Ok(n) if id.bytes().all(|b| b.is_ascii_digit()) => PreId::Number(n),
                    _ => PreId::Text(id.to_string()),
                })
                .collect(),
            None => Vec::new(),
        };
        Some(Semver { core, pre })
    }
}

impl Ord for Semver {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core.cmp(&other.core).then_with(|| {
            // A version with a pre-release sorts before the same version without one.
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            }
        })
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An apk version: `1.2.3a_rc1_p2-r4` is numbers 1.2.3, letter a, suffixes (rc 1) (p 2), release 4.
#[derive(Debug)]
struct ApkVersion {
    numbers: Vec<String>,
    letter: Option<u8>,
    suffixes: Vec<(i8, u64)>,
    release: u64,
}

/// apk's suffixes in order; the ones before the plain version sort below it.
const APK_SUFFIXES: [(&str, i8); 10] = [
    ("alpha", -4),
    ("beta", -3),
    ("pre", -2),
    ("rc", -1),
    ("cvs", 1),
    ("svn", 2),
    ("git", 3),
    ("hg", 4),
    ("p", 5),
    ("", 0),
];

impl ApkVersion {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (main, release) = match text.rsplit_once("-r") {
            Some((m, r)) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) => {
                (m, r.parse().ok()?)
            }
            _ => (text, 0),
        };
        let (head, suffix_text) = match main.split_once('_') {
            Some((h, s)) => (h, Some(s)),
            None => (main, None),
        };
        let (digits, letter) = match head.as_bytes().last() {
            Some(c) if c.is_ascii_lowercase() => (&head[..head.len() - 1], Some(*c)),
            _ => (head, None),
        };
        let numbers: Vec<String> = digits.split('.').map(str::to_string).collect();
        if numbers
            .iter()
            .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        let mut suffixes = Vec::new();
        if let Some(all) = suffix_text {
            for s in all.split('_') {
                let name_len = s.bytes().take_while(|b| b.is_ascii_lowercase()).count();
                let (name, number) = s.split_at(name_len);
                let rank = APK_SUFFIXES
                    .iter()
                    .find(|(n, _)| *n == name && !n.is_empty())?
                    .1;
                let number = if number.is_empty() {
                    0
                } else {
                    number.parse().ok()?
                };
                suffixes.push((rank, number));
            }
        }
        Some(ApkVersion {
            numbers,
            letter,
            suffixes,
            release,
        })
    }
}

/// apk-tools' order: the first number numerically; later numbers as in apk (a leading zero makes a
/// part compare as a decimal fraction, so 1.01 < 1.1); then the letter; then the suffixes (none
/// counts as 0, between `_rc` and `_cvs`); then the release.
fn apk_compare(a: &ApkVersion, b: &ApkVersion) -> Ordering {
    for i in 0..a.numbers.len().max(b.numbers.len()) {
        match (a.numbers.get(i), b.numbers.get(i)) {
            (Some(x), Some(y)) => {
                let order = if i > 0 && (x.starts_with('0') || y.starts_with('0')) {
                    let (x, y) = (x.trim_end_matches('0'), y.trim_end_matches('0'));
                    x.cmp(y)
                } else {
                    numeric(x).cmp(&numeric(y))
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (None, None) => break,
        }
    }
    let order = a.letter.cmp(&b.letter);
    if order != Ordering::Equal {
        return order;
    }
    for i in 0..a.suffixes.len().max(b.suffixes.len()) {
        let x = a.suffixes.get(i).copied().unwrap_or((0, 0));
        let y = b.suffixes.get(i).copied().unwrap_or((0, 0));
        let order = x.cmp(&y);
        if order != Ordering::Equal {
            return order;
        }
    }
    a.release.cmp(&b.release)
}

/// A digit string by value, without overflow: longer (once leading zeros go) is larger.
fn numeric(digits: &str) -> (usize, &str) {
    let trimmed = digits.trim_start_matches('0');
    (trimmed.len(), trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn semver_orders_go_npm_and_cargo_versions() {
        let cases = [
            ("1.2.3", "1.2.4", Less),
            ("v1.10.0", "v1.9.9", Greater),
            ("1.0.0-alpha", "1.0.0", Less),
            ("1.0.0-alpha.1", "1.0.0-alpha.beta", Less),
            ("1.0.0-rc.1", "1.0.0-beta.11", Greater),
            ("v0.0.0-20210101000000-abcdef123456", "v0.1.0", Less),
            ("v2.0.0+incompatible", "v2.0.0", Equal),
            ("1.21", "1.21.0", Equal),
        ];
        for (a, b, expected) in cases {
            assert_eq!(Order::Semver.compare(a, b), Some(expected), "{a} vs {b}");
        }
        assert_eq!(Order::Semver.compare("one", "1.0.0"), None);
    }

    #[test]
    fn apk_orders_as_apk_tools() {
        let cases = [
            ("1.2.3-r0", "1.2.3-r1", Less),
            ("1.2.3_rc1", "1.2.3", Less),
            ("1.2.3_p1", "1.2.3", Greater),
            ("1.2.3a", "1.2.3", Greater),
            ("1.2.10", "1.2.9", Greater),
            ("1.01", "1.1", Less),
            ("3.0.12-r4", "3.0.12-r4", Equal),
            ("1.2_alpha", "1.2_beta", Less),
        ];
        for (a, b, expected) in cases {
            assert_eq!(Order::Apk.compare(a, b), Some(expected), "{a} vs {b}");
        }
    }

    #[test]
    fn pep440_and_dpkg_orders() {
        assert_eq!(Order::Pep440.compare("1.0rc1", "1.0"), Some(Less));
        assert_eq!(Order::Pep440.compare("1.0.post1", "1.0"), Some(Greater));
        assert_eq!(Order::Pep440.compare("2.0", "10.0"), Some(Less));
        assert_eq!(
            Order::Dpkg.compare("3.0.15-1~deb12u1", "3.0.15-1"),
            Some(Less)
        );
        assert_eq!(Order::Dpkg.compare("1:1.0", "2.0"), Some(Greater));
    }
}
