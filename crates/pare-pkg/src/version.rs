//! Debian package versions (`[epoch:]upstream[-revision]`) and their ordering, exactly as dpkg orders
//! them: epochs numerically, then upstream and revision by dpkg's character-class comparison where `~`
//! sorts before everything, even the end of the string, and letters sort before other symbols.
//! Not a parser for other ecosystems' versions. Written here rather than taken from the
//! `debversion` crate so that the one ordering pare uses is the one `tests/dpkg_versions.rs` checks
//! against `dpkg --compare-versions` itself (random versions, and every adjacent pair of the host
//! repositories' versions); a crate swapped in would have to pass the same test.

use std::cmp::Ordering;
use std::fmt;

/// A parsed Debian version. Ordering follows `dpkg --compare-versions`; equality is dpkg's too
/// (`1.0` equals `0:1.0` and `1.0-0`... except that dpkg treats a missing revision as empty, which
/// compares equal to `0`).
#[derive(Clone, Debug)]
pub struct Version {
    text: String,
    epoch: u64,
    /// Byte offsets of upstream within `text`.
    upstream: (usize, usize),
    /// Byte offsets of the revision within `text` (empty when there is none).
    revision: (usize, usize),
}

/// Why a version string is not a valid Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid Debian version: {reason}")]
pub struct VersionError {
    pub text: String,
    pub reason: &'static str,
}

impl Version {
    /// Parses a version with dpkg's rules: an optional numeric epoch before the first `:`, a revision
    /// after the last `-`, an upstream part that starts with a digit, and only the characters dpkg
    /// allows (`A-Za-z0-9.+~-:` in upstream, no `-`/`:` in the revision).
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let bad = |reason| VersionError {
            text: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(bad("it is empty"));
        }
        if trimmed.contains(char::is_whitespace) {
            return Err(bad("it contains whitespace"));
        }
        let (epoch, rest_start) = match trimmed.find(':') {
            Some(colon) => {
                let digits = &trimmed[..colon];
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("the epoch is not a number"));
                }
                let epoch = digits
                    .parse::<u64>()
                    .ok()
                    .filter(|e| *e <= i32::MAX as u64)
                    .ok_or_else(|| bad("the epoch is too big"))?;
                if colon + 1 == trimmed.len() {
                    return Err(bad("nothing follows the epoch's ':'"));
                }
                (epoch, colon + 1)
            }
            None => (0, 0),
        };
        let rest = &trimmed[rest_start..];
        let (upstream, revision) = match rest.rfind('-') {
            Some(dash) => {
                if dash + 1 == rest.len() {
                    return Err(bad("the revision after the last '-' is empty"));
                }
                (
                    (rest_start, rest_start + dash),
                    (rest_start + dash + 1, trimmed.len()),
                )
            }
            None => ((rest_start, trimmed.len()), (trimmed.len(), trimmed.len())),
        };
        let up = &trimmed[upstream.0..upstream.1];
        if up.is_empty() {
            return Err(bad("the upstream version is empty"));
        }
        if !up.as_bytes()[0].is_ascii_digit() {
            return Err(bad("the upstream version does not start with a digit"));
        }
        let allowed = |b: u8, extra: &[u8]| {
            b.is_ascii_alphanumeric() || b".+~".contains(&b) || extra.contains(&b)
        };
        if !up.bytes().all(|b| allowed(b, b"-:")) {
            return Err(bad(
                "the upstream version has a character other than A-Za-z0-9.+~-:",
            ));
        }
        if !trimmed[revision.0..revision.1]
            .bytes()
            .all(|b| allowed(b, b""))
        {
            return Err(bad("the revision has a character other than A-Za-z0-9.+~"));
        }
        Ok(Self {
            text: trimmed.to_string(),
            epoch,
            upstream,
            revision,
        })
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The upstream version.
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream.0..self.upstream.1]
    }

    /// The Debian revision (empty when absent).
    pub fn revision(&self) -> &str {
        &self.text[self.revision.0..self.revision.1]
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| compare_part(self.revision().as_bytes(), other.revision().as_bytes()))
    }
}

/// The weight dpkg gives one character of a non-digit run: `~` below the end of the string, the end
/// below letters, letters below every other symbol.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternate non-digit runs (by weight) and digit runs (numerically).
fn compare_part(mut a: &[u8], mut b: &[u8]) -> Ordering {
    while !a.is_empty() || !b.is_empty() {
        // Non-digit run.
        while a.first().is_some_and(|c| !c.is_ascii_digit())
            || b.first().is_some_and(|c| !c.is_ascii_digit())
        {
            let wa = weight(a.first().copied());
            let wb = weight(b.first().copied());
            if wa != wb {
                return wa.cmp(&wb);
            }
            a = a.get(1..).unwrap_or_default();
            b = b.get(1..).unwrap_or_default();
        }
        // Digit run, numerically, without overflow: skip leading zeros, then longer is bigger.
        let skip_zeros = |s: &[u8]| -> usize { s.iter().take_while(|c| **c == b'0').count() };
        a = &a[skip_zeros(a)..];
        b = &b[skip_zeros(b)..];
        let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
        let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let by_value = da.cmp(&db).then_with(|| a[..da].cmp(&b[..db]));
        if by_value != Ordering::Equal {
            return by_value;
        }
        a = &a[da..];
        b = &b[db..];
    }
    Ordering::Equal
}

/// A version relation operator from a dependency field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Relation {
    /// `<<`
    Less,
    /// `<=` (and the obsolete `<`)
    LessEqual,
    /// `=`
    Equal,
    /// `>=` (and the obsolete `>`)
    GreaterEqual,
    /// `>>`
    Greater,
}

impl Relation {
    /// Parses an operator as it appears in `Depends`.
    pub fn parse(op: &str) -> Option<Self> {
        Some(match op {
            "<<" => Relation::Less,
            "<=" | "<" => Relation::LessEqual,
            "=" => Relation::Equal,
            ">=" | ">" => Relation::GreaterEqual,
            ">>" => Relation::Greater,
            _ => return None,
        })
    }

    /// The operator as Debian writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Less => "<<",
            Relation::LessEqual => "<=",
            Relation::Equal => "=",
            Relation::GreaterEqual => ">=",
            Relation::Greater => ">>",
        }
    }

    /// Whether `candidate RELATION wanted` holds.
    pub fn holds(self, candidate: &Version, wanted: &Version) -> bool {
        let ord = candidate.cmp(wanted);
        match self {
            Relation::Less => ord == Ordering::Less,
            Relation::LessEqual => ord != Ordering::Greater,
            Relation::Equal => ord == Ordering::Equal,
            Relation::GreaterEqual => ord != Ordering::Less,
            Relation::Greater => ord == Ordering::Greater,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn parts() {
        let x = v("2:1.2-3-4");
        assert_eq!((x.epoch(), x.upstream(), x.revision()), (2, "1.2-3", "4"));
        let y = v("1.0");
        assert_eq!((y.epoch(), y.upstream(), y.revision()), (0, "1.0", ""));
    }

    #[test]
    fn orders_like_dpkg() {
        let ordered = [
            "1.0~rc1", "1.0", "1.0-0.1", "1.0-1", "1.0a", "1.0+b1", "1.00.1", "1.1", "1.10", "2~",
            "2", "1:0.1",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("1.0"), v("0:1.0"));
        assert_eq!(v("1.0"), v("1.0-0"));
        assert_eq!(v("01.0"), v("1.0"));
        assert!(v("1.0~~") < v("1.0~"));
        assert!(v("1.0~") < v("1.0"));
        assert!(v("1.0a") < v("1.0."));
        assert!(v("99999999999999999999999") > v("9999999999999999999999"));
    }

    #[test]
    fn rejects_bad_versions() {
        for bad in ["", "a1", ":1", "1:", "x:1", "1.0-", "1 0", "1.0_1", "1-a:b"] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn relations() {
        let r = |op: &str, a: &str, b: &str| Relation::parse(op).unwrap().holds(&v(a), &v(b));
        assert!(r(">=", "1.0", "1.0"));
        assert!(r(">>", "1.1", "1.0"));
        assert!(!r("<<", "1.0", "1.0"));
        assert!(r("=", "0:1.0-0", "1.0"));
        assert!(r("<=", "1.0~1", "1.0"));
    }
}
