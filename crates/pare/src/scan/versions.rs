//! Version orders of the ecosystems vulnerability records speak of, as each ecosystem's own tools
//! order them: Debian (dpkg, from `pare_pkg::version`), Alpine (apk-tools' rules: numbers, letter,
//! `_alpha`…`_p` suffixes, `-rN`), semantic versions for Go modules, crates.io and npm (Go's `v` and
//! `+incompatible` accepted), PEP 440 for PyPI (the `pep440_rs` crate, uv's), and Maven's
//! ComparableVersion (items split at `.`, `-` and digit/letter changes, qualifiers alpha < beta <
//! milestone < rc = cr < snapshot < release = ga = final < sp < others). apk, Maven and the lenient
//! semver are written here: no maintained crate orders apk or Maven versions, and the `semver` crate
//! refuses the `v` prefix and pre-1.0 leading zeros records carry. Not here: which records match.

use std::cmp::Ordering;

/// An ecosystem whose versions pare can order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Order {
    Dpkg,
    Apk,
    Semver,
    Pep440,
    Maven,
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
            Order::Maven => Some(maven_compare_lists(&maven_parse(a), &maven_parse(b))),
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

/// One item of a Maven version: a number (digits without leading zeros), a qualifier (normalized:
/// `ga`, `final`, `release` are the empty release qualifier, `cr` is `rc`, a lone `a`/`b`/`m` before a
/// digit is alpha/beta/milestone), or a sub-list (what follows a `-` or a digit/letter change).
#[derive(Debug, Clone)]
enum MavenItem {
    Int(String),
    Str(String),
    List(Vec<MavenItem>),
}

const MAVEN_QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

fn maven_parse(version: &str) -> Vec<MavenItem> {
    let version = version.trim().to_ascii_lowercase();
    let chars: Vec<char> = version.chars().collect();
    // A stack of lists by their path of indexes from the root; the last is the one being filled.
    let mut stack: Vec<Vec<MavenItem>> = vec![Vec::new()];
    let mut start = 0;
    let mut is_digit = false;
    let item = |digit: bool, text: &str, followed_by_digit: bool| {
        if digit {
            let trimmed = text.trim_start_matches('0');
            MavenItem::Int(trimmed.to_string())
        } else {
            let mut value = text.to_string();
            if followed_by_digit && value.len() == 1 {
                value = match value.as_str() {
                    "a" => "alpha".into(),
                    "b" => "beta".into(),
                    "m" => "milestone".into(),
                    _ => value,
                };
            }
            let value = match value.as_str() {
                "ga" | "final" | "release" => String::new(),
                "cr" => "rc".into(),
                _ => value,
            };
            MavenItem::Str(value)
        }
    };
    let text_of = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
    for (i, &c) in chars.iter().enumerate() {
        let top = stack.len() - 1;
        if c == '.' || c == '-' {
            if i == start {
                stack[top].push(MavenItem::Int(String::new()));
            } else {
                stack[top].push(item(is_digit, &text_of(start, i), false));
            }
            start = i + 1;
            if c == '-' {
                stack.push(Vec::new());
            }
        } else if c.is_ascii_digit() {
            if !is_digit && i > start {
                stack[top].push(item(false, &text_of(start, i), true));
                start = i;
                stack.push(Vec::new());
            }
            is_digit = true;
        } else {
            if is_digit && i > start {
                stack[top].push(item(true, &text_of(start, i), false));
                start = i;
                stack.push(Vec::new());
            }
            is_digit = false;
        }
    }
    if chars.len() > start {
        let top = stack.len() - 1;
        stack[top].push(item(is_digit, &text_of(start, chars.len()), false));
    }
    // Close the lists innermost first: each is normalized and becomes the last item of its parent.
    while stack.len() > 1 {
        let mut list = stack.pop().unwrap_or_default();
        maven_normalize(&mut list);
        if let Some(parent) = stack.last_mut() {
            parent.push(MavenItem::List(list));
        }
    }
    let mut root = stack.pop().unwrap_or_default();
    maven_normalize(&mut root);
    root
}

fn maven_is_null(item: &MavenItem) -> bool {
    match item {
        MavenItem::Int(digits) => digits.is_empty(),
        MavenItem::Str(s) => s.is_empty(),
        MavenItem::List(l) => l.is_empty(),
    }
}

/// Drops trailing null items (0, the release qualifier, empty lists), looking past sub-lists.
fn maven_normalize(list: &mut Vec<MavenItem>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if maven_is_null(&list[i]) {
            list.remove(i);
        } else if !matches!(list[i], MavenItem::List(_)) {
            break;
        }
    }
}

fn maven_qualifier(q: &str) -> String {
    match MAVEN_QUALIFIERS.iter().position(|k| *k == q) {
        Some(i) => i.to_string(),
        None => format!("{}-{q}", MAVEN_QUALIFIERS.len()),
    }
}

/// An item against another, or against nothing (`None`: the other version ran out).
fn maven_compare(a: &MavenItem, b: Option<&MavenItem>) -> Ordering {
    use MavenItem::{Int, List, Str};
    match (a, b) {
        (Int(x), None) => {
            if x.is_empty() {
                Ordering::Equal
            } else {
                Ordering::Greater
            }
        }
        (Int(x), Some(Int(y))) => numeric(x).cmp(&numeric(y)),
        (Int(_), Some(_)) => Ordering::Greater,
        (Str(x), None) => maven_qualifier(x).cmp(&maven_qualifier("")),
        (Str(_), Some(Int(_))) | (Str(_), Some(List(_))) => Ordering::Less,
        (Str(x), Some(Str(y))) => maven_qualifier(x).cmp(&maven_qualifier(y)),
        (List(l), None) => l
            .first()
            .map_or(Ordering::Equal, |f| maven_compare(f, None)),
        (List(_), Some(Int(_))) => Ordering::Less,
        (List(_), Some(Str(_))) => Ordering::Greater,
        (List(l), Some(List(r))) => maven_compare_lists(l, r),
    }
}

fn maven_compare_lists(l: &[MavenItem], r: &[MavenItem]) -> Ordering {
    for i in 0..l.len().max(r.len()) {
        let order = match (l.get(i), r.get(i)) {
            (Some(x), y) => maven_compare(x, y),
            (None, Some(y)) => maven_compare(y, None).reverse(),
            (None, None) => Ordering::Equal,
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
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
