//! apt repositories: read from the host's apt configuration (`sources.list` one-line entries and
//! deb822 `.sources` files under `sources.list.d`), or given explicitly. Only binary (`deb`)
//! repositories with a suite are supported; flat repositories (`suite/`) and `deb-src` are skipped.

use std::path::{Path, PathBuf};

use crate::control::paragraphs;
use crate::{io_err, Error, Result};

/// Where a repository's signing keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignedBy {
    /// apt's default trusted keys (`/etc/apt/trusted.gpg` and `/etc/apt/trusted.gpg.d/*`).
    Default,
    /// Keyring files (binary or ASCII-armored).
    Files(Vec<PathBuf>),
    /// Keys by fingerprint, looked up in the default keyring.
    Fingerprints(Vec<String>),
    /// An ASCII-armored key written in the `.sources` file itself.
    Inline(String),
}

/// One `deb` repository suite with its components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// Base URI without a trailing `/` (`http://host/debian`, `file:///srv/repo`).
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    pub signed_by: SignedBy,
    /// `[trusted=yes]` / `Trusted: yes`: apt would accept it unsigned.
    pub trusted: bool,
    /// Where this entry was read from (`/etc/apt/sources.list.d/debian.sources`), for messages.
    pub origin: String,
}

impl Repository {
    /// `URI SUITE COMPONENT...`, the way apt prints a source.
    pub fn describe(&self) -> String {
        format!("{} {} {}", self.uri, self.suite, self.components.join(" "))
    }

    /// The URL of a file under `dists/SUITE/`.
    pub fn dists_url(&self, path: &str) -> String {
        format!("{}/dists/{}/{}", self.uri, self.suite, path)
    }

    /// The URL of a pool file named by a Packages index's `Filename`.
    pub fn file_url(&self, filename: &str) -> String {
        format!("{}/{}", self.uri, filename.trim_start_matches('/'))
    }
}

/// Reads the apt sources of the system rooted at `root` (`/` for the host): `etc/apt/sources.list`
/// and every `*.list` and `*.sources` file in `etc/apt/sources.list.d`, in name order.
pub fn host_repositories(root: &Path) -> Result<Vec<Repository>> {
    let apt = root.join("etc/apt");
    let mut files = Vec::new();
    let main = apt.join("sources.list");
    if main.is_file() {
        files.push(main);
    }
    let dir = apt.join("sources.list.d");
    if dir.is_dir() {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(io_err(format!("reading {}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("list" | "sources")
                )
            })
            .collect();
        names.sort();
        files.extend(names);
    }
    let mut repos = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(io_err(format!("reading {}", file.display())))?;
        let origin = file.display().to_string();
        if file.extension().and_then(|e| e.to_str()) == Some("sources") {
            repos.extend(parse_deb822_sources(&text, &origin)?);
        } else {
            repos.extend(parse_one_line_sources(&text, &origin)?);
        }
    }
    if repos.is_empty() {
        return Err(Error::Parse(format!(
            "no 'deb' repository found in {}/sources.list or {}/sources.list.d; configure apt, or name \
             repositories in pare.toml under [[packages.repository]]",
            apt.display(),
            apt.display()
        )));
    }
    Ok(repos)
}

/// Parses one-line `sources.list` entries: `deb [opt=value ...] URI SUITE [COMPONENT...]`.
pub fn parse_one_line_sources(text: &str, origin: &str) -> Result<Vec<Repository>> {
    let mut repos = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let what = format!("{origin} line {}", index + 1);
        let (kind, mut rest) = line.split_once(char::is_whitespace).ok_or_else(|| {
            Error::Parse(format!(
                "{what}: {line:?} is not 'deb URI SUITE COMPONENT...'"
            ))
        })?;
        if kind != "deb" {
            continue; // deb-src and anything else
        }
        rest = rest.trim_start();
        let mut options: Vec<(String, String)> = Vec::new();
        if let Some(after) = rest.strip_prefix('[') {
            let close = after
                .find(']')
                .ok_or_else(|| Error::Parse(format!("{what}: an option list '[' without ']'")))?;
            for option in after[..close].split_whitespace() {
                let (k, v) = option.split_once('=').ok_or_else(|| {
                    Error::Parse(format!("{what}: option {option:?} is not key=value"))
                })?;
                options.push((k.to_ascii_lowercase(), v.to_string()));
            }
            rest = after[close + 1..].trim_start();
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        let [uri, suite, components @ ..] = words.as_slice() else {
            return Err(Error::Parse(format!(
                "{what}: a 'deb' line needs a URI and a suite"
            )));
        };
        let option = |name: &str| {
            options
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if let Some(repo) = make_repository(
            uri,
            suite,
            components,
            option("signed-by"),
            option("trusted"),
            &what,
        )? {
            repos.push(repo);
        }
    }
    Ok(repos)
}

/// Parses a deb822 `.sources` file (`Types`, `URIs`, `Suites`, `Components`, `Signed-By`, `Enabled`).
pub fn parse_deb822_sources(text: &str, origin: &str) -> Result<Vec<Repository>> {
    let mut repos = Vec::new();
    for paragraph in paragraphs(text, origin)? {
        let what = format!("{origin} line {}", paragraph.line);
        let words = |field: &str| -> Vec<&str> {
            paragraph
                .get(field)
                .map(|v| v.split_whitespace().collect())
                .unwrap_or_default()
        };
        if !words("Types").contains(&"deb") {
            continue;
        }
        if paragraph
            .get("Enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        let uris = words("URIs");
        let suites = words("Suites");
        if uris.is_empty() || suites.is_empty() {
            return Err(Error::Parse(format!(
                "{what}: a deb822 source needs URIs and Suites"
            )));
        }
        let components = words("Components");
        for uri in &uris {
            for suite in &suites {
                if let Some(repo) = make_repository(
                    uri,
                    suite,
                    &components,
                    paragraph.get("Signed-By"),
                    paragraph.get("Trusted"),
                    &what,
                )? {
                    repos.push(repo);
                }
            }
        }
    }
    Ok(repos)
}

fn make_repository(
    uri: &str,
    suite: &str,
    components: &[&str],
    signed_by: Option<&str>,
    trusted: Option<&str>,
    what: &str,
) -> Result<Option<Repository>> {
    if suite.ends_with('/') {
        return Ok(None); // flat repository: not supported
    }
    if !(uri.starts_with("http://") || uri.starts_with("https://") || uri.starts_with("file:/")) {
        return Err(Error::Parse(format!(
            "{what}: repository URI {uri:?} is not http://, https:// or file:/"
        )));
    }
    if components.is_empty() {
        return Err(Error::Parse(format!(
            "{what}: suite {suite:?} names no component"
        )));
    }
    let signed_by = match signed_by.map(str::trim) {
        None | Some("") => SignedBy::Default,
        Some(value) if value.contains("BEGIN PGP PUBLIC KEY BLOCK") => {
            // Inline keys in .sources files mark empty lines with " ." continuation lines.
            let key: Vec<&str> = value
                .lines()
                .map(|l| {
                    let l = l.trim();
                    if l == "." {
                        ""
                    } else {
                        l
                    }
                })
                .collect();
            SignedBy::Inline(key.join("\n"))
        }
        Some(value) => {
            let items: Vec<&str> = value
                .split([',', ' ', '\n'])
                .filter(|s| !s.is_empty())
                .collect();
            if items.iter().all(|i| i.starts_with('/')) {
                SignedBy::Files(items.iter().map(PathBuf::from).collect())
            } else {
                SignedBy::Fingerprints(
                    items
                        .iter()
                        .map(|s| s.trim_end_matches('!').to_ascii_uppercase())
                        .collect(),
                )
            }
        }
    };
    Ok(Some(Repository {
        uri: uri.trim_end_matches('/').to_string(),
        suite: suite.to_string(),
        components: components.iter().map(|c| c.to_string()).collect(),
        signed_by,
        trusted: trusted.is_some_and(|t| t.eq_ignore_ascii_case("yes")),
        origin: what.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_entries() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://example.invalid/debian/ bookworm main contrib\n\
                    deb-src http://example.invalid/debian bookworm main\n\
                    deb http://example.invalid/debian-security bookworm-security main # trailing\n";
        let repos = parse_one_line_sources(text, "t").unwrap();
        assert_eq!(repos.len(), 2);
        assert_eq!(repos[0].uri, "http://example.invalid/debian");
        assert_eq!(repos[0].components, ["main", "contrib"]);
        assert_eq!(repos[0].signed_by, SignedBy::Files(vec!["/k.gpg".into()]));
        assert_eq!(repos[1].signed_by, SignedBy::Default);
        assert_eq!(
            repos[1].dists_url("InRelease"),
            "http://example.invalid/debian-security/dists/bookworm-security/InRelease"
        );
    }

    #[test]
    fn deb822_entries() {
        let text = "Types: deb deb-src\nURIs: http://a.invalid/debian\nSuites: bookworm bookworm-updates\n\
                    Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                    Types: deb\nURIs: http://b.invalid/x\nSuites: s\nComponents: main\nEnabled: no\n\n\
                    Types: deb\nURIs: file:///srv/repo\nSuites: stable\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n -----END PGP PUBLIC KEY BLOCK-----\n";
        let repos = parse_deb822_sources(text, "t").unwrap();
        assert_eq!(repos.len(), 3);
        assert_eq!(repos[1].suite, "bookworm-updates");
        match &repos[2].signed_by {
            SignedBy::Inline(key) => {
                assert!(key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nabc"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_bad_entries() {
        assert!(parse_one_line_sources("deb http://x.invalid\n", "t").is_err());
        assert!(parse_one_line_sources("deb ftp://x.invalid s main\n", "t").is_err());
        assert!(parse_deb822_sources("Types: deb\nURIs: http://x.invalid\n", "t").is_err());
    }
}
