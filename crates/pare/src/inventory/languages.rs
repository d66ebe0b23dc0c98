//! Language packages found by their installed metadata: Python distributions (`*.dist-info/METADATA`,
//! `*.egg-info/PKG-INFO`, `*.egg-info` files, wherever they are, `pip install --target` trees too)
//! npm packages (every `package.json` that names a package and a version, as syft's and trivy's
//! image catalogers read them) and Java archives: the Maven artifacts of `META-INF/maven/*/*/
//! pom.properties` of a jar, war or ear and of the jars nested in it, and, for an archive none of
//! whose pom.properties is its own (a Gradle or Ant build, a shaded jar), the archive itself named
//! as syft names it from its file name and `META-INF/MANIFEST.MF`; with the licenses they state and
//! the files they list.
//! Pure functions over a file's bytes and path; the inventory decides which files to read. Not
//! here: packages found in binaries (Go, cargo-auditable: `pare_elf::buildinfo`) or OS databases.

use std::io::Read;

use serde_json::Value;

use super::purl_escape;

/// A package read from one metadata file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LanguagePackage {
    pub name: String,
    pub version: String,
    /// Licenses as stated (an SPDX expression, a name or a classifier's last part), in order.
    pub licenses: Vec<String>,
    pub purl: String,
}

/// Whether `path` (relative to the root) is a Python distribution's metadata file.
pub fn is_python_metadata(path: &str) -> bool {
    path.ends_with(".dist-info/METADATA")
        || path.ends_with(".egg-info/PKG-INFO")
        || path.ends_with(".egg-info")
}

/// The file that lists a Python distribution's installed files, beside its metadata file:
/// `RECORD` for a dist-info, `installed-files.txt` for an egg-info directory.
pub fn python_file_list(metadata: &str) -> Option<String> {
    if let Some(dir) = metadata.strip_suffix("/METADATA") {
        Some(format!("{dir}/RECORD"))
    } else {
        metadata
            .strip_suffix("/PKG-INFO")
            .map(|dir| format!("{dir}/installed-files.txt"))
    }
}

/// Whether `path` is one of the files [`python_file_list`] names.
pub fn is_python_file_list(path: &str) -> bool {
    path.ends_with(".dist-info/RECORD") || path.ends_with(".egg-info/installed-files.txt")
}

/// Whether `path` is an npm package manifest.
pub fn is_npm_manifest(path: &str) -> bool {
    path == "package.json" || path.ends_with("/package.json")
}

/// The paths (relative to the root, normalized) a Python file list names. RECORD entries are
/// relative to the directory that holds the dist-info (`path,hash,size`, CSV with optional
/// quoting); installed-files.txt lines are relative to the egg-info directory.
pub fn python_listed_paths(list_path: &str, text: &str) -> Vec<String> {
    let (base, record) = match list_path.strip_suffix("/RECORD") {
        Some(dist_info) => (parent(dist_info), true),
        None => (parent(list_path), false),
    };
    text.lines()
        .filter_map(|line| {
            let line = line.trim_end_matches('\r');
            let entry = if record {
                csv_first_field(line)
            } else {
                line.to_string()
            };
            (!entry.is_empty()).then(|| join_normalized(base, &entry))
        })
        .flatten()
        .collect()
}

/// A Python distribution from its METADATA / PKG-INFO text (RFC 822 headers up to the first empty
/// line); None without a Name and a Version.
pub fn python_package(text: &str) -> Option<LanguagePackage> {
    let headers = rfc822_headers(text);
    let get = |key: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim().to_string())
    };
    let name = get("Name").filter(|n| !n.is_empty())?;
    let version = get("Version").filter(|v| !v.is_empty())?;
    let mut licenses = Vec::new();
    if let Some(expression) = get("License-Expression").filter(|e| !e.is_empty()) {
        licenses.push(expression);
    } else {
        // `License` is free text: keep it when it is a short name, not a whole license text.
        if let Some(license) = get("License").filter(|l| {
            !l.is_empty()
                && !l.contains('\n')
                && l.len() <= 80
                && !l.eq_ignore_ascii_case("UNKNOWN")
        }) {
            licenses.push(license);
        }
        if licenses.is_empty() {
            for (_, classifier) in headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("Classifier"))
            {
                if let Some(rest) = classifier.trim().strip_prefix("License ::") {
                    let last = rest.rsplit("::").next().unwrap_or(rest).trim();
                    if !last.is_empty() && !licenses.iter().any(|l| l == last) {
                        licenses.push(last.to_string());
                    }
                }
            }
        }
    }
    let purl = format!(
        "pkg:pypi/{}@{}",
        purl_escape(&pypi_normalized(&name)),
        purl_escape(&version)
    );
    Some(LanguagePackage {
        name,
        version,
        licenses,
        purl,
    })
}

/// An npm package from a package.json; None when it is not JSON or names no package and version.
pub fn npm_package(bytes: &[u8]) -> Option<LanguagePackage> {
    let json: Value = serde_json::from_slice(bytes).ok()?;
    let name = json.get("name")?.as_str()?.trim().to_string();
    let version = json.get("version")?.as_str()?.trim().to_string();
    if name.is_empty() || version.is_empty() {
        return None;
    }
    let mut licenses = Vec::new();
    let mut add = |v: &Value| {
        let text = match v {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o.get("type").and_then(Value::as_str),
            _ => None,
        };
        if let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) {
            if !licenses.iter().any(|l: &String| l == t) {
                licenses.push(t.to_string());
            }
        }
    };
    if let Some(license) = json.get("license") {
        add(license);
    }
    if let Some(Value::Array(list)) = json.get("licenses") {
        list.iter().for_each(&mut add);
    }
    // `@scope/name`: the scope is the purl's namespace.
    let purl_name = match name.split_once('/') {
        Some((scope, rest)) if scope.starts_with('@') => {
            format!("{}/{}", purl_escape(scope), purl_escape(rest))
        }
        _ => purl_escape(&name),
    };
    let purl = format!("pkg:npm/{purl_name}@{}", purl_escape(&version));
    Some(LanguagePackage {
        name,
        version,
        licenses,
        purl,
    })
}

/// Whether `path` is a Java archive (jar, war, ear, and Jenkins' hpi/jpi).
pub fn is_java_archive(path: &str) -> bool {
    let lower = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    [".jar", ".war", ".ear", ".hpi", ".jpi"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Largest archive nested in a Java archive that is opened in turn.
const MAX_NESTED_ARCHIVE: u64 = 64 << 20;
/// Largest pom.properties read.
const MAX_POM_PROPERTIES: u64 = 1 << 20;

/// The Maven artifacts a Java archive says it holds: one per `META-INF/maven/<group>/<artifact>/
/// pom.properties`, then those of the archives nested in it (Spring Boot's `BOOT-INF/lib`, a war's
/// `WEB-INF/lib`), one level deep. An archive that is not a readable zip gives none.
/// `path` is the archive's (its file name names it when no pom.properties does).
pub fn java_packages(path: &str, bytes: &[u8]) -> Vec<LanguagePackage> {
    let mut out = Vec::new();
    java_packages_into(path, bytes, 0, &mut out);
    out
}

/// The largest `META-INF/MANIFEST.MF` read.
const MAX_MANIFEST: u64 = 1 << 20;

fn java_packages_into(path: &str, bytes: &[u8], depth: usize, out: &mut Vec<LanguagePackage>) {
    let Ok(mut archive) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        return;
    };
    let mut nested = Vec::new();
    let mut manifest = None;
    let mut poms = Vec::new();
    for index in 0..archive.len() {
        let Ok(mut member) = archive.by_index(index) else {
            continue;
        };
        let Ok(name) = member.name().map(|n| n.to_string()) else {
            continue;
        };
        let read = |member: &mut dyn std::io::Read, cap: u64| {
            let mut body = Vec::new();
            member.take(cap + 1).read_to_end(&mut body).ok()?;
            (body.len() as u64 <= cap).then_some(body)
        };
        if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") {
            if let Some(body) = read(&mut member, MAX_POM_PROPERTIES) {
                poms.extend(pom_properties(&String::from_utf8_lossy(&body)));
            }
        } else if name == "META-INF/MANIFEST.MF" {
            manifest = read(&mut member, MAX_MANIFEST)
                .map(|body| JavaManifest::parse(&String::from_utf8_lossy(&body)));
        } else if depth == 0 && is_java_archive(&name) && member.size() <= MAX_NESTED_ARCHIVE {
            if let Some(body) = read(&mut member, MAX_NESTED_ARCHIVE) {
                nested.push((name, body));
            }
        }
    }
    let file = ArchiveFileName::of(path);
    let own_pom = poms.iter().any(|p| file.is_named_by(&p.name, &poms));
    // As syft: the archive is a package of its own from its manifest (not when a weaving agent's
    // manifest says it only instruments others), unless one of its pom.properties names it.
    if let Some(manifest) = manifest.filter(|m| !own_pom && m.main("Weave-Classes").is_none()) {
        out.extend(manifest_package(&manifest, &file));
    }
    out.extend(poms);
    for (name, body) in nested {
        java_packages_into(&name, &body, depth + 1, out);
    }
}

/// A Java archive's `META-INF/MANIFEST.MF`: sections of `Key: value` attributes (a blank line
/// ends a section, a line beginning with a space continues the last value), the main section first.
struct JavaManifest {
    sections: Vec<Vec<(String, String)>>,
}

impl JavaManifest {
    fn parse(text: &str) -> Self {
        let mut sections: Vec<Vec<(String, String)>> = Vec::new();
        let mut in_section = false;
        for line in text.lines() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                in_section = false;
                continue;
            }
            if let Some(more) = line.strip_prefix(' ') {
                if let Some((_, value)) = sections.last_mut().and_then(|s| s.last_mut()) {
                    if in_section {
                        value.push_str(more.trim());
                    }
                }
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim();
            if key.is_empty() {
                continue;
            }
            if !in_section {
                sections.push(Vec::new());
                in_section = true;
            }
            if let Some(section) = sections.last_mut() {
                section.push((key.to_string(), value.trim().to_string()));
            }
        }
        Self { sections }
    }

    /// The first non-empty value of `key` in the main section.
    fn main(&self, key: &str) -> Option<&str> {
        Self::get(self.sections.first()?, key)
    }

    /// The first non-empty value of `key` in the main section, else in the others in order.
    fn anywhere(&self, key: &str) -> Option<&str> {
        self.sections.iter().find_map(|s| Self::get(s, key))
    }

    fn get<'a>(section: &'a [(String, String)], key: &str) -> Option<&'a str> {
        section
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of `key`, in every section.
    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.sections
            .iter()
            .flat_map(move |s| s.iter().filter(move |(k, _)| k == key))
            .map(|(_, v)| v.as_str())
    }
}

/// A Java archive's file name split into a name and a version as syft splits it
/// (`commons-lang3-3.12.0.jar`: `commons-lang3`, `3.12.0`; `org.eclipse.osgi_3.18.0.v2022.jar`:
/// `org.eclipse.osgi`, `3.18.0.v2022`).
#[derive(Debug, PartialEq, Eq)]
struct ArchiveFileName {
    name: String,
    version: String,
}

impl ArchiveFileName {
    fn of(path: &str) -> Self {
        let base = path.rsplit('/').next().unwrap_or(path);
        let stem = match base.rfind('.') {
            Some(dot) => &base[..dot],
            None => base,
        };
        // The shortest name (words that begin with a letter, joined by '-') after which a '-'
        // and a version end the stem; else the whole stem as the name.
        let split = stem
            .match_indices('-')
            .map(|(i, _)| i)
            .find(|&i| is_archive_name(&stem[..i]) && is_version(&stem[i + 1..], true));
        let (name, version) = match split {
            Some(i) => (stem[..i].to_string(), stem[i + 1..].to_string()),
            None if is_archive_name(stem) => (stem.to_string(), String::new()),
            None => (String::new(), String::new()),
        };
        if !version.is_empty() {
            return Self { name, version };
        }
        // Else a version after the first '.', '_' or '-' that begins one (`osgi_3.18.0`).
        let second = name
            .char_indices()
            .filter(|(_, c)| matches!(c, '.' | '_' | '-'))
            .map(|(i, _)| i)
            .find(|&i| is_version(&name[i + 1..], false));
        match second {
            Some(i) => Self {
                version: name[i + 1..].to_string(),
                name: name[..i].to_string(),
            },
            None => Self { name, version },
        }
    }

    /// Whether a pom.properties `artifact_id` is this archive's own (syft's test: the same name
    /// when another pom of the archive has exactly the file's name, else a prefix or suffix match).
    fn is_named_by(&self, artifact_id: &str, poms: &[LanguagePackage]) -> bool {
        if artifact_id.is_empty() || self.name.is_empty() {
            return false;
        }
        if poms.iter().any(|p| p.name == self.name) {
            return artifact_id == self.name;
        }
        artifact_id.starts_with(&self.name) || self.name.ends_with(artifact_id)
    }
}

/// Words that begin with an ASCII letter and hold letters, digits, '_' and '.', each optionally
/// followed by a '-' (the name part of a Java archive's file name).
fn is_archive_name(text: &str) -> bool {
    let mut expect_letter = true;
    for c in text.chars() {
        if expect_letter {
            if !c.is_ascii_alphabetic() {
                return false;
            }
            expect_letter = false;
        } else if c == '-' {
            expect_letter = true;
        } else if !(c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return false;
        }
    }
    // A name may end with its '-' (`a--1.0`), but not be empty.
    !text.is_empty()
}

/// A version as syft's file name patterns take one: a digit and anything after, `build` and a
/// digit and anything after, or `r`/`rc` and digits only; `any_case` for the first pattern's
/// case-insensitive `build`, `r`, `rc`.
fn is_version(text: &str, any_case: bool) -> bool {
    let folded;
    let text = if any_case {
        folded = text.to_ascii_lowercase();
        folded.as_str()
    } else {
        text
    };
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        return true;
    }
    if let Some(rest) = text.strip_prefix("build") {
        return rest.starts_with(|c: char| c.is_ascii_digit());
    }
    let digits = text
        .strip_prefix("rc")
        .or_else(|| text.strip_prefix('r'))
        .unwrap_or("");
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// Whether `field` begins as a Java identifier does: with a letter (or letter number), `_` or `$`
/// (not a digit).
fn starts_java_identifier(field: &str) -> bool {
    field
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
}

/// The package a Java archive is by its manifest and file name, as syft names it when none of its
/// pom.properties does: the name from a Maven bundle plugin's `Bundle-SymbolicName`, else from the
/// file name (the last dotted part of a `group.artifact` name, but `org.eclipse.*` whole), else from
/// the manifest's `Name`, `Bundle-Name`, `Short-Name`, `Extension-Name`, `Implementation-Title`;
/// the version from the file name, else `Implementation-Version`, `Specification-Version`,
/// `Plugin-Version`, `Bundle-Version`. The purl's namespace is the first (in sorted order) of the
/// manifest's group-like values that begins like a reverse domain (`com`, `org`, `net`, `io`,
/// `be`), else the name itself.
fn manifest_package(manifest: &JavaManifest, file: &ArchiveFileName) -> Option<LanguagePackage> {
    let from_bundle_plugin = manifest
        .main("Created-By")
        .filter(|c| c.contains("Apache Maven Bundle Plugin"))
        .and_then(|_| manifest.main("Bundle-SymbolicName"))
        .filter(|symbolic| manifest.main("Implementation-Vendor-Id") != Some(*symbolic))
        .and_then(|symbolic| symbolic.rsplit('.').next())
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let from_file = || {
        let name = &file.name;
        if name.contains('.') && !name.starts_with("org.eclipse.") {
            let fields: Vec<&str> = name.split('.').collect();
            if fields.iter().all(|f| starts_java_identifier(f)) {
                return fields.last().map(|f| f.to_string());
            }
        }
        Some(name.clone()).filter(|n| !n.is_empty())
    };
    let from_manifest = || {
        [
            "Name",
            "Bundle-Name",
            "Short-Name",
            "Extension-Name",
            "Implementation-Title",
        ]
        .iter()
        .find_map(|k| manifest.main(k))
        .map(str::to_string)
    };
    let name = from_bundle_plugin
        .or_else(from_file)
        .or_else(from_manifest)?;
    let version = Some(file.version.clone())
        .filter(|v| !v.is_empty())
        .or_else(|| {
            [
                "Implementation-Version",
                "Specification-Version",
                "Plugin-Version",
                "Bundle-Version",
            ]
            .iter()
            .find_map(|k| manifest.anywhere(k))
            .map(str::to_string)
        })
        .unwrap_or_default();
    let group_like = |fields: &[&str]| -> Option<String> {
        let mut found: Vec<String> = fields
            .iter()
            .flat_map(|k| manifest.all(k))
            .filter(|v| {
                ["com", "org", "net", "io", "be"]
                    .iter()
                    .any(|d| v.starts_with(d))
            })
            .map(|v| {
                let v = v.split(';').next().unwrap_or(v);
                v.split('#').next().unwrap_or(v).trim().to_string()
            })
            .collect();
        found.sort();
        found.into_iter().next()
    };
    let group = group_like(&[
        "Group-Id",
        "Bundle-SymbolicName",
        "Extension-Name",
        "Specification-Vendor",
        "Implementation-Vendor",
        "Implementation-Vendor-Id",
        "Implementation-Title",
        "Bundle-Activator",
    ])
    .or_else(|| group_like(&["Automatic-Module-Name", "Main-Class", "Package"]))
    .unwrap_or_else(|| name.clone());
    let purl = if version.is_empty() {
        format!("pkg:maven/{}/{}", purl_escape(&group), purl_escape(&name))
    } else {
        format!(
            "pkg:maven/{}/{}@{}",
            purl_escape(&group),
            purl_escape(&name),
            purl_escape(&version)
        )
    };
    Some(LanguagePackage {
        name,
        version,
        licenses: ["Bundle-License", "Plugin-License-Name"]
            .iter()
            .filter_map(|k| manifest.anywhere(k))
            .map(str::to_string)
            .collect(),
        purl,
    })
}

/// A Maven artifact from a pom.properties file (`groupId`, `artifactId`, `version`).
fn pom_properties(text: &str) -> Option<LanguagePackage> {
    let get = |key: &str| {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && !l.starts_with('!'))
            .find_map(|l| {
                let (k, v) = l.split_once(['=', ':'])?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
            .filter(|v| !v.is_empty())
    };
    let (group, artifact, version) = (get("groupId")?, get("artifactId")?, get("version")?);
    let purl = format!(
        "pkg:maven/{}/{}@{}",
        purl_escape(&group),
        purl_escape(&artifact),
        purl_escape(&version)
    );
    Some(LanguagePackage {
        name: artifact,
        version,
        licenses: Vec::new(),
        purl,
    })
}

/// The licenses a Debian machine-readable copyright file (DEP-5) names in its `License:` fields,
/// each once, in order of appearance; empty for a free-form file.
pub fn dep5_licenses(text: &str) -> Vec<String> {
    if !text
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("Format:") || l.starts_with("Format-Specification:"))
    {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some(value) = line.strip_prefix("License:") else {
            continue;
        };
        let value = value.trim();
        if !value.is_empty() && !out.iter().any(|l| l == value) {
            out.push(value.to_string());
        }
    }
    out
}

/// PEP 503 normalization as the purl specification asks for pypi names: lowercase, `_` as `-`.
fn pypi_normalized(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Header fields of an RFC 822 style text up to the first empty line; continuation lines (leading
/// whitespace) are joined with a newline.
fn rfc822_headers(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            out.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

/// The first field of a CSV line (RECORD files quote paths holding commas).
fn csv_first_field(line: &str) -> String {
    if let Some(rest) = line.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    out.push('"');
                    chars.next();
                } else {
                    break;
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        line.split(',').next().unwrap_or_default().to_string()
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// `base/relative` with `.` and `..` resolved lexically (an absolute `relative` ignores `base`);
/// None when it climbs above the root.
fn join_normalized(base: &str, relative: &str) -> Option<String> {
    if relative.starts_with('/') {
        pare_oci::read::normalize_entry(relative)
    } else {
        pare_oci::read::normalize_entry(&format!("{base}/{relative}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_metadata_gives_name_version_license_and_purl() {
        let text = "Metadata-Version: 2.1\nName: Flask_Cors\nVersion: 4.0.0\nLicense: MIT\n\
                    Classifier: License :: OSI Approved :: BSD License\n\nLicense: body\n";
        let p = python_package(text).unwrap();
        assert_eq!(p.name, "Flask_Cors");
        assert_eq!(p.version, "4.0.0");
        assert_eq!(p.licenses, ["MIT"]);
        assert_eq!(p.purl, "pkg:pypi/flask-cors@4.0.0");
        let classified = "Name: six\nVersion: 1.16.0\nLicense: UNKNOWN\n\
                          Classifier: License :: OSI Approved :: MIT License\n";
        assert_eq!(
            python_package(classified).unwrap().licenses,
            ["MIT License"]
        );
        let pep639 = "Name: x\nVersion: 1\nLicense-Expression: Apache-2.0 OR MIT\nLicense: MIT\n";
        assert_eq!(
            python_package(pep639).unwrap().licenses,
            ["Apache-2.0 OR MIT"]
        );
        let whole_text = "Name: y\nVersion: 2\nLicense: Copyright (c) somebody\n        line two\n";
        assert!(python_package(whole_text).unwrap().licenses.is_empty());
        assert_eq!(python_package("Name: z\n"), None);
    }

    #[test]
    fn record_paths_are_relative_to_the_site_directory() {
        let record = "numpy/__init__.py,sha256=abc,100\n\"odd,name.py\",,\n\
                      ../../../bin/f2py,sha256=x,1\nnumpy-1.26.dist-info/RECORD,,\n";
        let site = "usr/lib/python3/dist-packages";
        let paths = python_listed_paths(&format!("{site}/numpy-1.26.dist-info/RECORD"), record);
        assert_eq!(
            paths,
            [
                format!("{site}/numpy/__init__.py"),
                format!("{site}/odd,name.py"),
                "usr/bin/f2py".to_string(),
                format!("{site}/numpy-1.26.dist-info/RECORD")
            ]
        );
        assert!(python_listed_paths("a/x.dist-info/RECORD", "../../../../etc,,\n").is_empty());
        let egg = python_listed_paths(
            "usr/lib/python3/dist-packages/six.egg-info/installed-files.txt",
            "../six.py\nPKG-INFO\n",
        );
        assert_eq!(
            egg,
            [
                "usr/lib/python3/dist-packages/six.py",
                "usr/lib/python3/dist-packages/six.egg-info/PKG-INFO"
            ]
        );
    }

    #[test]
    fn npm_manifests_give_scoped_purls_and_licenses() {
        let p =
            npm_package(br#"{"name":"@babel/core","version":"7.1.0","license":"MIT"}"#).unwrap();
        assert_eq!(p.purl, "pkg:npm/%40babel/core@7.1.0");
        assert_eq!(p.licenses, ["MIT"]);
        let old = npm_package(
            br#"{"name":"x","version":"1.0.0","licenses":[{"type":"MIT"},{"type":"Apache-2.0"}]}"#,
        )
        .unwrap();
        assert_eq!(old.licenses, ["MIT", "Apache-2.0"]);
        assert_eq!(npm_package(br#"{"name":"private-app"}"#), None);
        assert_eq!(npm_package(b"not json"), None);
        assert_eq!(npm_package(br#"{"name":1,"version":"1"}"#), None);
    }

    #[test]
    fn archive_file_names_split_as_syft_splits_them() {
        for (path, name, version) in [
            (
                "usr/share/java/commons-lang3-3.12.0.jar",
                "commons-lang3",
                "3.12.0",
            ),
            (
                "lib/spring-data-r2dbc-1.1.0.RELEASE.jar",
                "spring-data-r2dbc",
                "1.1.0.RELEASE",
            ),
            ("guava-r06.jar", "guava", "r06"),
            (
                "trilead-ssh2-build212-hudson-5.jar",
                "trilead-ssh2",
                "build212-hudson-5",
            ),
            ("a/pkg-maven.4.3.2.jar", "pkg-maven", "4.3.2"),
            ("pkg-maven_4.3.2.jar", "pkg-maven", "4.3.2"),
            (
                "jboss-saaj-api_1.4_spec-1.0.2.Final.jar",
                "jboss-saaj-api_1.4_spec",
                "1.0.2.Final",
            ),
            ("liferay-package.lpkg", "liferay-package", ""),
            ("app.jar", "app", ""),
            ("2fa.jar", "", ""),
        ] {
            assert_eq!(
                ArchiveFileName::of(path),
                ArchiveFileName {
                    name: name.into(),
                    version: version.into()
                },
                "{path}"
            );
        }
    }

    #[test]
    fn an_archive_without_its_own_pom_is_named_by_its_manifest_and_file() {
        let manifest = |text: &str| JavaManifest::parse(text);
        let package = |text: &str, path: &str| {
            manifest_package(&manifest(text), &ArchiveFileName::of(path))
                .map(|p| (p.name, p.version, p.purl))
        };
        // A Gradle jar: the name and version from the file name.
        assert_eq!(
            package(
                "Manifest-Version: 1.0\r\nImplementation-Title: greeter\r\n",
                "greeter-2.4.1.jar"
            ),
            Some((
                "greeter".into(),
                "2.4.1".into(),
                "pkg:maven/greeter/greeter@2.4.1".into()
            ))
        );
        // No version in the file name: the manifest's, from a later section too; a continued line.
        assert_eq!(
            package(
                "Manifest-Version: 1.0\nImplementation-Title: Billing\n\nName: a/b/\nSpecification-Ver\n sion: x\nImplementation-Version: 3.1\n",
                "srv/app.jar"
            ),
            Some(("app".into(), "3.1".into(), "pkg:maven/app/app@3.1".into()))
        );
        // The Maven bundle plugin's symbolic name, with its group from a reverse-domain field.
        assert_eq!(
            package(
                "Created-By: Apache Maven Bundle Plugin\nBundle-SymbolicName: org.example.widgets\nBundle-Version: 5.0\n",
                "widgets-bundle.jar"
            ),
            Some((
                "widgets".into(),
                "5.0".into(),
                "pkg:maven/org.example.widgets/widgets@5.0".into()
            ))
        );
        // A dotted file name of Java identifiers is group.artifact: the last part names it.
        assert_eq!(
            package("Manifest-Version: 1.0\n", "com.acme.tools-1.2.jar").map(|p| p.0),
            Some("tools".into())
        );
    }

    #[test]
    fn pom_properties_name_maven_artifacts() {
        let p = pom_properties(
            "#Generated by Maven\nartifactId=commons-lang3\ngroupId=org.apache.commons\nversion=3.12.0\n",
        )
        .unwrap();
        assert_eq!(p.name, "commons-lang3");
        assert_eq!(p.purl, "pkg:maven/org.apache.commons/commons-lang3@3.12.0");
        assert_eq!(pom_properties("artifactId=x\n"), None);
        assert!(java_packages("a.jar", b"not a zip").is_empty());
        assert!(is_java_archive("usr/share/java/Foo.JAR") && !is_java_archive("a/jar"));
    }

    #[test]
    fn dep5_copyright_licenses_are_collected_once() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
                    Files: *\nLicense: GPL-2+\n\nFiles: lib/*\nLicense: LGPL-2.1+\n \
                    text\n\nLicense: GPL-2+\n text\n";
        assert_eq!(dep5_licenses(text), ["GPL-2+", "LGPL-2.1+"]);
        assert!(dep5_licenses("This package was debianized by...\nLicense: GPL\n").is_empty());
    }
}
