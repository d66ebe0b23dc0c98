//! `pare sbom`: an image's inventory as an SPDX 2.3 or CycloneDX 1.6 JSON document. The image is
//! the root element (with an `oci` purl), its OS its own element, every package of every ecosystem
//! with its purl, stated licenses, where pare read it and in which layer, and the dpkg dependencies
//! between packages that are both present. Reproducible: the same image gives the same bytes on any
//! machine and any day (time from the image's `created` or SOURCE_DATE_EPOCH, document namespace
//! and serial number derived from the manifest digest, everything sorted, no host path). The
//! documents are built as JSON values by hand: the Rust SPDX and CycloneDX crates either model an
//! older version or cannot write 1.6, and both formats are plain JSON. Not here: finding the
//! packages (`crate::inventory`) or matching vulnerabilities.

mod cyclonedx;
mod spdx;

use std::collections::HashMap;

use pare_oci::reference::{DockerName, ImageRef};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::image_io::Access;
use crate::inventory::{inventory, Inventory, Package};
use crate::{Reporter, Result};

/// The document formats pare writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SbomFormat {
    /// SPDX 2.3, JSON serialization.
    SpdxJson,
    /// CycloneDX 1.6, JSON serialization.
    CycloneDxJson,
}

impl SbomFormat {
    /// The format of a name as the CLI and pare.toml spell it (`spdx-json`, `cyclonedx-json`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "spdx-json" => Some(SbomFormat::SpdxJson),
            "cyclonedx-json" => Some(SbomFormat::CycloneDxJson),
            _ => None,
        }
    }

    /// The media type of the document (for OCI artifacts).
    pub fn media_type(self) -> &'static str {
        match self {
            SbomFormat::SpdxJson => "application/spdx+json",
            SbomFormat::CycloneDxJson => "application/vnd.cyclonedx+json",
        }
    }
}

/// What `pare sbom` is asked for.
#[derive(Clone, Debug)]
pub struct SbomOptions {
    pub format: SbomFormat,
    /// The image's name in the document; by default from the reference (a registry or Docker name
    /// as given, else the layout's or archive's file name and tag: never a directory path).
    pub name: Option<String>,
    /// The document's creation time in seconds since the epoch (SOURCE_DATE_EPOCH); by default the
    /// image config's `created`, else the epoch.
    pub created: Option<u64>,
}

/// Reads `reference` and returns its SBOM document, serialized, ending in a newline.
pub fn sbom(
    reference: &ImageRef,
    access: &Access,
    options: &SbomOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<u8>> {
    let found = inventory(reference, access, reporter)?;
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| default_name(reference));
    render(&found, &name, options)
}

/// The SBOM of an opened image as an artifact to attach to it (`pare build --sbom`): the document
/// as `pare sbom` would write it for `name`, its media type, and its creation time as the
/// `org.opencontainers.image.created` annotation, so the artifact's digest is as reproducible as
/// the document.
pub fn artifact(
    image: &crate::image_io::OpenedImage,
    name: &str,
    options: &SbomOptions,
    reporter: &dyn Reporter,
) -> Result<pare_oci::referrer::Artifact> {
    let found = crate::inventory::inventory_of_opened(image, name, reporter)?;
    let content = render(&found, name, options)?;
    let created = Subject::new(&found, name, options).created;
    Ok(pare_oci::referrer::Artifact {
        media_type: options.format.media_type().to_string(),
        content,
        annotations: [(pare_oci::referrer::CREATED.to_string(), created)]
            .into_iter()
            .collect(),
    })
}

/// The SBOM of `format` attached to `reference`'s image (by `pare build --sbom`, or any tool that
/// attaches SPDX or CycloneDX JSON as an OCI 1.1 referrer), as stored: not recomputed. An error
/// when none is attached.
pub fn attached(
    reference: &ImageRef,
    access: &Access,
    format: SbomFormat,
    reporter: &dyn Reporter,
) -> Result<Vec<u8>> {
    let media_type = format.media_type();
    match crate::image_io::referrers::attached(reference, access, media_type, reporter)? {
        Some(found) => {
            reporter.step(&format!(
                "read the {media_type} attached as {}",
                found.referrer.descriptor.digest()
            ));
            Ok(found.content)
        }
        None => Err(crate::Error::Input(format!(
            "{reference}: no SBOM of type {media_type} is attached (build with --sbom, or drop --attached to compute one)"
        ))),
    }
}

/// The SBOM document of an inventory, serialized (sorted keys, two-space indent, newline).
pub fn render(found: &Inventory, name: &str, options: &SbomOptions) -> Result<Vec<u8>> {
    to_bytes(&document(found, name, options))
}

/// The SBOM document of an inventory as a JSON value (for documents built on it: scan's VEX).
pub(crate) fn document(found: &Inventory, name: &str, options: &SbomOptions) -> Value {
    let subject = Subject::new(found, name, options);
    let packages = Entry::all(found);
    match options.format {
        SbomFormat::SpdxJson => spdx::document(&subject, &packages),
        SbomFormat::CycloneDxJson => cyclonedx::document(&subject, &packages),
    }
}

/// A document serialized as pare writes them: sorted keys, two-space indent, a final newline.
pub(crate) fn to_bytes(document: &Value) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(document)
        .map_err(|e| crate::Error::Input(format!("serialize the SBOM: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The image an SBOM describes.
struct Subject<'a> {
    name: String,
    inventory: &'a Inventory,
    /// `2024-01-02T03:04:05Z`.
    created: String,
    purl: String,
    tool: String,
    /// Deterministic UUID (v5) of the document: manifest digest, format and pare version.
    uuid: uuid::Uuid,
}

impl<'a> Subject<'a> {
    fn new(inventory: &'a Inventory, name: &str, options: &SbomOptions) -> Self {
        let created = options
            .created
            .or_else(|| {
                inventory
                    .created
                    .as_deref()
                    .and_then(pare_oci::image::parse_rfc3339)
            })
            .unwrap_or(0);
        let tool = format!("pare-{}", env!("CARGO_PKG_VERSION"));
        let seed = format!(
            "pare sbom {:?} {} {} {name}",
            options.format, tool, inventory.manifest_digest
        );
        Subject {
            name: name.to_string(),
            inventory,
            created: pare_oci::image::rfc3339(created),
            purl: oci_purl(
                name,
                &inventory.manifest_digest,
                inventory.platform.as_deref(),
            ),
            tool,
            uuid: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, seed.as_bytes()),
        }
    }

    /// The OS element's name and version, when os-release says.
    fn os(&self) -> Option<(String, String)> {
        let os = self.inventory.os.as_ref()?;
        Some((os.id.clone()?, os.version_id.clone().unwrap_or_default()))
    }

    /// `layer N (sha256:…)` for a package's layer.
    fn layer(&self, layer: Option<usize>) -> Option<String> {
        let index = layer?;
        Some(match self.inventory.layer_diff_ids.get(index) {
            Some(diff_id) => format!("layer {index} ({diff_id})"),
            None => format!("layer {index}"),
        })
    }
}

/// A package with the identifier both formats use for it and the identifiers of the packages it
/// depends on that are present.
struct Entry<'a> {
    package: &'a Package,
    /// `Package-dpkg-libssl3-1f2e…`: unique in the document, stable for the same package.
    id: String,
    depends_on: Vec<String>,
}

impl<'a> Entry<'a> {
    /// Every package once (by purl and location), sorted by manager, name, version and location.
    fn all(found: &'a Inventory) -> Vec<Entry<'a>> {
        let mut packages: Vec<&Package> = found.packages.iter().collect();
        packages.sort_by(|a, b| {
            (a.manager, &a.name, &a.version, &a.location, &a.purl).cmp(&(
                b.manager,
                &b.name,
                &b.version,
                &b.location,
                &b.purl,
            ))
        });
        packages.dedup_by(|a, b| a.purl == b.purl && a.location == b.location);
        let ids: Vec<String> = packages.iter().map(|p| package_id(p)).collect();
        // The ids of the packages of one manager under one name (several architectures, copies).
        let mut by_name: HashMap<(&str, &str), Vec<&String>> = HashMap::new();
        for (package, id) in packages.iter().zip(&ids) {
            by_name
                .entry((package.manager, package.name.as_str()))
                .or_default()
                .push(id);
        }
        packages
            .iter()
            .zip(&ids)
            .map(|(package, id)| {
                let mut depends_on: Vec<String> = package
                    .depends
                    .iter()
                    .filter_map(|name| by_name.get(&(package.manager, name.as_str())))
                    .flatten()
                    .copied()
                    .filter(|other| *other != id)
                    .cloned()
                    .collect();
                depends_on.sort();
                depends_on.dedup();
                Entry {
                    package,
                    id: id.clone(),
                    depends_on,
                }
            })
            .collect()
    }
}

/// A document-unique id: readable prefix, then a hash of what makes the package distinct.
pub(crate) fn package_id(package: &Package) -> String {
    let hash = Sha256::digest(format!("{}\0{}", package.purl, package.location).as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "Package-{}-{}-{hex}",
        package.manager,
        id_safe(&package.name)
    )
}

/// Letters, digits, `.` and `-` (what SPDX ids allow); anything else becomes `-`.
fn id_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The image's name when the user gives none: what a registry or Docker Engine calls it, the name
/// a docker-archive carries, else the file or directory's own name with the tag.
pub fn default_name(reference: &ImageRef) -> String {
    let docker = |n: &DockerName| {
        let mut text = match &n.host {
            Some(host) => format!("{host}/{}", n.repository),
            None => n.repository.clone(),
        };
        if let Some(tag) = &n.tag {
            text.push(':');
            text.push_str(tag);
        }
        text
    };
    let file_name = |path: &std::path::Path, strip: &[&str]| {
        let mut name = path
            .canonicalize()
            .unwrap_or_else(|_| path.to_path_buf())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into());
        for suffix in strip {
            if let Some(stem) = name.strip_suffix(suffix).filter(|s| !s.is_empty()) {
                name = stem.to_string();
            }
        }
        name
    };
    let with_tag = |name: String, tag: &Option<String>| match tag {
        Some(t) => format!("{name}:{t}"),
        None => name,
    };
    match reference {
        ImageRef::Registry(n) | ImageRef::DockerDaemon(n) => docker(n),
        ImageRef::DockerArchive { name: Some(n), .. } => docker(n),
        ImageRef::DockerArchive { file, name: None } => file_name(file, &[".tar"]),
        ImageRef::Layout { dir, tag } => with_tag(file_name(dir, &[]), tag),
        ImageRef::OciArchive { file, tag } => with_tag(file_name(file, &[".tar"]), tag),
    }
}

/// `pkg:oci/app@sha256:…?arch=amd64&repository_url=host/team/app&tag=1`: the purl
/// specification's oci type (name: the repository's last part, lowercased), escaped as
/// packageurl-python writes it (the digest's `:` left as it is).
fn oci_purl(name: &str, digest: &str, platform: Option<&str>) -> String {
    let (repository, tag) = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (name, None),
    };
    let last = repository.rsplit('/').next().unwrap_or(repository);
    let escape = crate::inventory::purl_escape;
    let mut qualifiers = Vec::new();
    if let Some(arch) = platform.and_then(|p| p.split('/').nth(1)) {
        qualifiers.push(format!("arch={}", escape(arch)));
    }
    if repository.contains('/') {
        qualifiers.push(format!(
            "repository_url={}",
            crate::units::percent_encode(repository, b".-_~/:")
        ));
    }
    if let Some(tag) = tag {
        qualifiers.push(format!("tag={}", escape(tag)));
    }
    let mut purl = format!(
        "pkg:oci/{}@{}",
        escape(&last.to_ascii_lowercase()),
        escape(digest)
    );
    if !qualifiers.is_empty() {
        purl.push('?');
        purl.push_str(&qualifiers.join("&"));
    }
    purl
}

/// A package's stated licenses as one SPDX license expression, and the texts that are not SPDX
/// identifiers as `LicenseRef-…` with the text they stand for. None when it states none.
#[derive(Debug, PartialEq, Eq)]
struct Licensing {
    expression: String,
    /// `(LicenseRef-…, stated text)` for each stated name that is no SPDX expression.
    references: Vec<(String, String)>,
}

fn licensing(stated: &[String]) -> Option<Licensing> {
    let mut terms: Vec<String> = Vec::new();
    let mut references = Vec::new();
    for text in stated {
        let term = match spdx_expression(text) {
            Some(expression) => expression,
            None => {
                let reference = license_ref(text);
                if !references.iter().any(|(r, _)| *r == reference) {
                    references.push((reference.clone(), text.clone()));
                }
                reference
            }
        };
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    if terms.is_empty() {
        return None;
    }
    let expression = if terms.len() == 1 {
        terms.remove(0)
    } else {
        terms
            .iter()
            .map(|t| {
                if t.contains(' ') {
                    format!("({t})")
                } else {
                    t.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    Some(Licensing {
        expression,
        references,
    })
}

/// `LicenseRef-public-domain`; a text that is not already id-safe gets a short hash of itself, so
/// two texts never share a reference.
fn license_ref(text: &str) -> String {
    let trimmed = text.trim();
    let safe = id_safe(trimmed);
    if safe == trimmed {
        format!("LicenseRef-{safe}")
    } else {
        let hash = Sha256::digest(trimmed.as_bytes());
        let hex: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!("LicenseRef-{safe}-{hex}")
    }
}

/// `text` as a valid SPDX license expression: as it is when it is one; else term by term, with
/// Debian's DEP-5 short names (`GPL-2+`, `Expat`, `BSD-3-clause`), SPDX ids and full names in any
/// case, and lower-case `or`/`and`/`with`; else the spdx crate's lax canonical form (`Apache 2.0`,
/// `MIT/X11`). None when no reading gives an expression that parses strictly.
fn spdx_expression(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let valid = |candidate: &str| ::spdx::Expression::parse(candidate).is_ok();
    if valid(text) {
        return Some(text.to_string());
    }
    if let Some(term) = license_term(text).filter(|t| valid(t)) {
        return Some(term);
    }
    let termwise: Option<Vec<String>> = text
        .split_whitespace()
        .map(|word| match word.to_ascii_uppercase().as_str() {
            op @ ("OR" | "AND" | "WITH") => Some(op.to_string()),
            _ => {
                let (open, rest) = split_leading(word, '(');
                let (core, close) = split_trailing(rest, ')');
                Some(format!("{open}{}{close}", license_term(core)?))
            }
        })
        .collect();
    if let Some(joined) = termwise.map(|t| t.join(" ")).filter(|j| valid(j)) {
        return Some(joined);
    }
    let canonical = ::spdx::Expression::canonicalize(text).ok()??;
    valid(&canonical).then_some(canonical)
}

fn split_leading(word: &str, c: char) -> (&str, &str) {
    let n = word.len() - word.trim_start_matches(c).len();
    word.split_at(n)
}

fn split_trailing(word: &str, c: char) -> (&str, &str) {
    let n = word.trim_end_matches(c).len();
    word.split_at(n)
}

/// One license name as an SPDX id: Debian's short names (`GPL-2+` is GPL-2.0-or-later, `GPL-2`
/// GPL-2.0-only, `Expat` MIT), else an SPDX id or full name matched without regard to case.
fn license_term(name: &str) -> Option<String> {
    let (base, or_later) = match name.strip_suffix('+') {
        Some(b) => (b, true),
        None => (name, false),
    };
    let upper = base.to_ascii_uppercase();
    for family in ["AGPL", "LGPL", "GPL", "GFDL"] {
        if let Some(version) = upper.strip_prefix(family).and_then(|v| v.strip_prefix('-')) {
            let version = if version.contains('.') {
                version.to_string()
            } else {
                format!("{version}.0")
            };
            let suffix = if or_later { "or-later" } else { "only" };
            let id = format!("{family}-{version}-{suffix}");
            return ::spdx::license_id(&id).map(|_| id);
        }
    }
    if upper == "EXPAT" {
        return Some("MIT".into());
    }
    let found = ::spdx::identifiers::LICENSES
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(base) || l.full_name.eq_ignore_ascii_case(base))?;
    Some(if or_later {
        format!("{}+", found.name)
    } else {
        found.name.to_string()
    })
}

/// A JSON string value.
fn text(value: impl Into<String>) -> Value {
    Value::String(value.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_become_one_valid_expression() {
        let one = licensing(&["MIT".into()]).unwrap();
        assert_eq!(one.expression, "MIT");
        assert!(one.references.is_empty());
        let dep5 = licensing(&["GPL-2+".into(), "LGPL-2.1+".into(), "GPL-2+".into()]).unwrap();
        assert_eq!(dep5.expression, "GPL-2.0-or-later AND LGPL-2.1-or-later");
        let mixed = licensing(&["Apache-2.0 OR MIT".into(), "public-domain".into()]).unwrap();
        assert_eq!(
            mixed.expression,
            "(Apache-2.0 OR MIT) AND LicenseRef-public-domain"
        );
        assert_eq!(
            mixed.references,
            [(
                "LicenseRef-public-domain".to_string(),
                "public-domain".to_string()
            )]
        );
        assert_eq!(licensing(&[]), None);
        for (stated, expected) in [
            ("GPL-2", "GPL-2.0-only"),
            ("LGPL-2.1+", "LGPL-2.1-or-later"),
            ("Expat", "MIT"),
            ("BSD-3-clause", "BSD-3-Clause"),
            ("GPL-2+ or Artistic-1.0", "GPL-2.0-or-later OR Artistic-1.0"),
            ("MIT License", "MIT"),
            ("Apache 2.0", "Apache-2.0"),
        ] {
            assert_eq!(
                spdx_expression(stated).as_deref(),
                Some(expected),
                "{stated}"
            );
        }
        assert_eq!(spdx_expression("public-domain"), None);
        let odd = licensing(&["Free for all".into(), "Free-for-all".into()]).unwrap();
        assert_eq!(odd.references.len(), 2, "{odd:?}");
        assert_ne!(odd.references[0].0, odd.references[1].0);
    }

    #[test]
    fn names_never_carry_a_directory_path() {
        let layout = ImageRef::parse("oci:/tmp/somewhere/out:v1").unwrap();
        assert_eq!(default_name(&layout), "out:v1");
        let archive = ImageRef::parse("docker-archive:/x/y/app.tar").unwrap();
        assert_eq!(default_name(&archive), "app");
        let named = ImageRef::parse("docker-archive:/x/app.tar:team/app:2").unwrap();
        assert_eq!(default_name(&named), "team/app:2");
        let registry = ImageRef::parse("docker://127.0.0.1:5000/team/app:1").unwrap();
        assert_eq!(default_name(&registry), "127.0.0.1:5000/team/app:1");
    }

    #[test]
    fn oci_purls_follow_the_purl_specification() {
        assert_eq!(
            oci_purl(
                "127.0.0.1:5000/team/App:1",
                "sha256:abc",
                Some("linux/amd64")
            ),
            "pkg:oci/app@sha256:abc?arch=amd64&repository_url=127.0.0.1:5000/team/App&tag=1"
        );
        assert_eq!(
            oci_purl("out", "sha256:abc", None),
            "pkg:oci/out@sha256:abc"
        );
    }
}
