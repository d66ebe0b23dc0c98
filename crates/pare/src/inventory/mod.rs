//! What an image is made of: its OS (os-release), its C library, the packages of every ecosystem
//! pare can read (dpkg `status` and `status.d`, apk, Go build info and cargo-auditable data in
//! binaries, Python and npm metadata: `languages`) with their purls, source packages, licenses,
//! dependencies, files and layer, and the ELF binaries with their linkage facts. Collected by [`InventoryCollector`], one analyzer of the single reading pass
//! (`crate::contents`); `pare audit` embeds it, `pare inventory` prints it, sbom and scan build on
//! it. Not here: judging what is found (findings) or where the image comes from (`crate::image_io`).

use std::collections::{BTreeMap, HashMap};

use pare_elf::ElfFacts;
use pare_oci::read::{FileKind, LayerEvent};
use pare_oci::reference::ImageRef;
use pare_pkg::{apk_db, dpkg_db};
use serde::Serialize;

use crate::contents::{read_image_with, ImageContents, Observer};
use crate::image_io::Access;
use crate::{Reporter, Result};

pub mod languages;

/// Largest package database or os-release file read.
const MAX_DATABASE: usize = 64 << 20;
/// Largest binary read whole for its build info and linkage.
pub const MAX_BINARY: u64 = 256 << 20;

const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// The OS an image says it is (os-release).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OsRelease {
    pub id: Option<String>,
    pub version_id: Option<String>,
    /// `bookworm`: the release name the Debian security tracker uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_codename: Option<String>,
    pub pretty_name: Option<String>,
}

/// The image's C library, and how pare knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Libc {
    /// `glibc` or `musl`.
    pub kind: &'static str,
    pub version: Option<String>,
    /// What told pare: a package, or the dynamic loader's file.
    pub evidence: String,
}

/// One package of any ecosystem.
#[derive(Clone, Debug, Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// `dpkg` (status or distroless status.d), `apk`, `go` (build info in a binary), `cargo`
    /// (cargo-auditable data in a binary), `python` (dist-info or egg-info), `npm` (package.json) or
    /// `maven` (pom.properties in a Java archive; `binary` names the archive).
    pub manager: &'static str,
    /// The source package it was built from, when the database says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// Package URL (purl).
    pub purl: String,
    /// Files of the package present in the final tree (for binaries' packages: the binary).
    pub files: usize,
    /// Bytes of those files (0 when the database lists none).
    pub file_bytes: u64,
    /// 0-based layer of the record that lists it (the database file, metadata file or binary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// For packages found in a binary: its path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// Where pare read it (absolute in the image): the database, metadata file or binary.
    pub location: String,
    /// Licenses as the package states them (a DEP-5 copyright file's `License:` fields, Python
    /// metadata, package.json), in order; empty when it states none where the image still holds it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// Names of the packages it depends on (every alternative of dpkg's `Depends` and
    /// `Pre-Depends`), sorted; relationships keep those present in the image.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends: Vec<String>,
    /// The files of the final tree it owns (absolute, sorted): locations for scan findings.
    #[serde(skip)]
    pub paths: Vec<String>,
}

/// An ELF binary of the final tree.
#[derive(Clone, Debug, Serialize)]
pub struct Binary {
    pub path: String,
    pub layer: usize,
    pub size: u64,
    /// OCI architecture name (`amd64`), when pare knows the machine.
    pub architecture: Option<&'static str>,
    pub linkage: pare_elf::Linkage,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    /// DT_SONAME, for libraries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soname: Option<String>,
    /// Imported functions that make a plugin load at run time (`pare_elf::PLUGIN_TRIGGERS`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<String>,
    pub executable: bool,
    /// A Go program that links crypto/x509: it verifies TLS certificates with the system's CA bundle.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub go_x509: bool,
    /// A Go program that links `time.LoadLocation` without the embedded `time/tzdata` package: it
    /// loads named time zones from the image's zoneinfo.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub go_zones: bool,
}

/// Everything the inventory found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Inventory {
    pub image: String,
    pub manifest_digest: String,
    /// The config's `created` time, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The config's platform (`linux/amd64`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub os: Option<OsRelease>,
    pub libc: Option<Libc>,
    /// Packages, by manager, name and architecture.
    pub packages: Vec<Package>,
    /// ELF files of the final tree, by path.
    pub binaries: Vec<Binary>,
    /// Databases that could not be read, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The layers' diff ids (digests of their uncompressed tars), in order: what `layer` indexes.
    #[serde(skip)]
    pub layer_diff_ids: Vec<String>,
}

/// The inventory's analyzer: keeps the package databases and os-release (latest copy of each),
/// the ELF facts of every ELF file read whole and the packages found in executables.
#[derive(Default)]
pub struct InventoryCollector {
    databases: HashMap<String, (usize, Vec<u8>)>,
    elf: HashMap<(String, usize), ElfFacts>,
    executables: std::collections::HashSet<(String, usize)>,
    /// Go programs that link crypto/x509 (they verify certificates against the system's CA bundle).
    go_x509: std::collections::HashSet<(String, usize)>,
    /// Go programs that load named time zones from the file system (see [`Binary::go_zones`]).
    go_zones: std::collections::HashSet<(String, usize)>,
    binary_packages: Vec<(String, usize, Package)>,
}

/// `libfoo.so`, `libfoo.so.1.2`: names the loader opens, often without execute bits.
pub fn is_shared_object(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".so") || name.contains(".so.")
}

/// Largest language metadata file read (METADATA, RECORD, package.json, copyright).
const MAX_METADATA: usize = 8 << 20;
/// Largest Java archive opened for its Maven metadata.
const MAX_JAVA_ARCHIVE: u64 = 128 << 20;

fn is_database(path: &str) -> bool {
    OS_RELEASE.contains(&path) || dpkg_db::is_database_file(path) || path == apk_db::INSTALLED
}

/// Package metadata kept beside the databases: language packages' and dpkg copyright files.
fn is_metadata(path: &str) -> bool {
    languages::is_python_metadata(path)
        || languages::is_python_file_list(path)
        || languages::is_npm_manifest(path)
        || is_copyright(path)
}

fn is_copyright(path: &str) -> bool {
    path.strip_prefix("usr/share/doc/")
        .and_then(|rest| rest.strip_suffix("/copyright"))
        .is_some_and(|name| !name.contains('/'))
}

impl Observer for InventoryCollector {
    fn sample(&self, path: &str, size: u64, mode: u32) -> usize {
        if is_database(path) {
            MAX_DATABASE
        } else if is_metadata(path) {
            MAX_METADATA
        } else if languages::is_java_archive(path) && size <= MAX_JAVA_ARCHIVE {
            usize::try_from(size).unwrap_or(0)
        } else if size <= MAX_BINARY && (mode & 0o111 != 0 || is_shared_object(path)) {
            // Whole programs and libraries, for their build info and linkage; each sample is
            // dropped once seen, so this costs one file's size of memory at a time.
            usize::try_from(size).unwrap_or(0)
        } else {
            0
        }
    }

    fn event(&mut self, layer: usize, event: &LayerEvent) {
        let LayerEvent::Entry(info) = event else {
            return;
        };
        if info.kind != FileKind::File {
            return;
        }
        if is_database(&info.path) || is_metadata(&info.path) {
            self.databases
                .insert(info.path.clone(), (layer, info.sample.clone()));
        }
        if languages::is_java_archive(&info.path) && info.sample.len() as u64 == info.size {
            let archive = format!("/{}", info.path);
            for (i, found) in languages::java_packages(&info.path, &info.sample)
                .into_iter()
                .enumerate()
            {
                self.binary_packages.push((
                    info.path.clone(),
                    layer,
                    Package {
                        name: found.name,
                        version: found.version,
                        architecture: String::new(),
                        manager: "maven",
                        source: None,
                        source_version: None,
                        purl: found.purl,
                        // The archive's own bytes go to its first artifact, as a binary's to its
                        // main module.
                        files: usize::from(i == 0),
                        file_bytes: if i == 0 { info.size } else { 0 },
                        layer: None,
                        binary: Some(archive.clone()),
                        location: archive.clone(),
                        licenses: found.licenses,
                        depends: Vec::new(),
                        paths: vec![archive.clone()],
                    },
                ));
            }
            return;
        }
        if !pare_elf::is_elf(&info.sample) {
            return;
        }
        let key = (info.path.clone(), layer);
        if info.sample.len() as u64 == info.size {
            if let Ok(facts) = pare_elf::inspect(&info.sample) {
                self.elf.insert(key.clone(), facts);
            }
        }
        if info.mode & 0o111 != 0 {
            let go = pare_elf::buildinfo::go_build_info(&info.sample)
                .ok()
                .flatten();
            // Go keeps its function names (pclntab) even when stripped.
            if go.is_some() {
                let links = |name: &[u8]| memchr::memmem::find(&info.sample, name).is_some();
                if links(b"crypto/x509.") {
                    self.go_x509.insert(key.clone());
                }
                if links(b"time.LoadLocation") && !links(b"time/tzdata.") {
                    self.go_zones.insert(key.clone());
                }
            }
            self.executables.insert(key);
            self.binary_packages.extend(
                packages_in_binary(&info.path, &info.sample, info.size, go)
                    .into_iter()
                    .map(|p| (info.path.clone(), layer, p)),
            );
        }
    }
}

impl InventoryCollector {
    /// The ELF facts of the file `path` shipped by `layer`, when it was read whole.
    pub fn elf_facts(&self, path: &str, layer: usize) -> Option<&ElfFacts> {
        self.elf.get(&(path.to_string(), layer))
    }

    /// The inventory of the image the collector saw, against its final tree.
    pub fn finish(&self, contents: &ImageContents) -> Inventory {
        let mut notes = Vec::new();
        let records = FinalRecords {
            collector: self,
            contents,
        };
        let os = OS_RELEASE
            .iter()
            .find_map(|p| records.text(p))
            .map(|(_, t)| os_release(&t));
        let distro = os
            .as_ref()
            .and_then(|o| Some(format!("{}-{}", o.id.as_deref()?, o.version_id.as_deref()?)));
        let mut by_key: BTreeMap<(&'static str, String, String), Package> = BTreeMap::new();
        let mut dpkg = |record: dpkg_db::DpkgRecord, layer: usize, location: &str, paths| {
            let purl = deb_purl(&record, os.as_ref(), distro.as_deref());
            let (files, file_bytes, paths) = records.owned(paths);
            let licenses = records
                .text(&format!("usr/share/doc/{}/copyright", record.name))
                .map(|(_, t)| languages::dep5_licenses(&t))
                .unwrap_or_default();
            let depends = record.dependency_names();
            by_key.insert(
                ("dpkg", record.name.clone(), record.architecture.clone()),
                Package {
                    name: record.name,
                    version: record.version,
                    architecture: record.architecture,
                    manager: "dpkg",
                    source: record.source,
                    source_version: record.source_version,
                    purl,
                    files,
                    file_bytes,
                    layer: Some(layer),
                    binary: None,
                    location: format!("/{location}"),
                    licenses,
                    depends,
                    paths,
                },
            );
        };
        if let Some((layer, status)) = records.text(dpkg_db::STATUS_FILE) {
            match dpkg_db::parse_records(&status, dpkg_db::STATUS_FILE) {
                Ok(found) => {
                    for record in found {
                        let list =
                            dpkg_db::list_file_candidates(&record.name, &record.architecture)
                                .iter()
                                .find_map(|p| records.text(p))
                                .map(|(_, t)| t)
                                .unwrap_or_default();
                        let paths = dpkg_db::list_paths(&list)
                            .map(|p| p.trim_start_matches('/').to_string())
                            .collect();
                        dpkg(record, layer, dpkg_db::STATUS_FILE, paths);
                    }
                }
                Err(e) => notes.push(format!("/{}: {e}", dpkg_db::STATUS_FILE)),
            }
        }
        let mut status_d: Vec<&String> = self
            .databases
            .keys()
            .filter(|p| {
                p.starts_with(dpkg_db::STATUS_DIR)
                    && dpkg_db::is_database_file(p)
                    && !p.ends_with(".md5sums")
            })
            .collect();
        status_d.sort();
        for path in status_d {
            let Some((layer, paragraph)) = records.text(path) else {
                continue;
            };
            let md5sums = records
                .text(&format!("{path}.md5sums"))
                .map(|(_, t)| t)
                .unwrap_or_default();
            match dpkg_db::parse_records(&paragraph, path) {
                Ok(found) => {
                    for record in found {
                        let paths = dpkg_db::md5sums_paths(&md5sums)
                            .map(str::to_string)
                            .collect();
                        dpkg(record, layer, path, paths);
                    }
                }
                Err(e) => notes.push(format!("/{path}: {e}")),
            }
        }
        if let Some((layer, db)) = records.text(apk_db::INSTALLED) {
            for record in apk_db::parse_installed(&db) {
                let (files, file_bytes, paths) = records.owned(record.files.clone());
                let purl = format!(
                    "pkg:apk/{}/{}@{}?arch={}",
                    os.as_ref()
                        .and_then(|o| o.id.as_deref())
                        .unwrap_or("alpine"),
                    purl_escape(&record.name),
                    purl_escape(&record.version),
                    purl_escape(&record.architecture)
                );
                by_key.insert(
                    ("apk", record.name.clone(), record.architecture.clone()),
                    Package {
                        name: record.name,
                        version: record.version,
                        architecture: record.architecture,
                        manager: "apk",
                        source: record.origin,
                        source_version: None,
                        purl,
                        files,
                        file_bytes,
                        layer: Some(layer),
                        binary: None,
                        location: format!("/{}", apk_db::INSTALLED),
                        licenses: record.license.into_iter().collect(),
                        depends: Vec::new(),
                        paths,
                    },
                );
            }
        }
        let mut packages: Vec<Package> = by_key.into_values().collect();
        packages.extend(records.language_packages());
        for (path, layer, package) in &self.binary_packages {
            if contents.files.get(path).is_some_and(|f| f.layer == *layer) {
                packages.push(Package {
                    layer: Some(*layer),
                    ..package.clone()
                });
            }
        }
        let mut binaries: Vec<Binary> = self
            .elf
            .iter()
            .filter(|((path, layer), _)| {
                contents.files.get(path).is_some_and(|f| f.layer == *layer)
            })
            .map(|((path, layer), facts)| Binary {
                path: format!("/{path}"),
                layer: *layer,
                size: contents.files.get(path).map_or(0, |f| f.info.size),
                architecture: pare_elf::oci_architecture(facts.machine),
                linkage: facts.linkage,
                interpreter: facts.interpreter.clone(),
                needed: facts.needed.clone(),
                soname: facts.soname.clone(),
                triggers: facts.triggers.clone(),
                executable: self.executables.contains(&(path.clone(), *layer)),
                go_x509: self.go_x509.contains(&(path.clone(), *layer)),
                go_zones: self.go_zones.contains(&(path.clone(), *layer)),
            })
            .collect();
        binaries.sort_by(|a, b| a.path.cmp(&b.path));
        let libc = libc_of(&packages, contents);
        let config_text = |key: &str| contents.config[key].as_str().map(str::to_string);
        Inventory {
            image: contents.reference.clone(),
            manifest_digest: contents.manifest_digest.clone(),
            created: config_text("created"),
            platform: config_text("architecture").map(|arch| {
                let os = config_text("os").unwrap_or_else(|| "linux".into());
                match config_text("variant") {
                    Some(v) => format!("{os}/{arch}/{v}"),
                    None => format!("{os}/{arch}"),
                }
            }),
            os,
            libc,
            packages,
            binaries,
            notes,
            layer_diff_ids: contents.layers.iter().map(|l| l.diff_id.clone()).collect(),
        }
    }
}

/// The collector's records that are the final tree's copies, and what they own there.
struct FinalRecords<'a> {
    collector: &'a InventoryCollector,
    contents: &'a ImageContents,
}

impl FinalRecords<'_> {
    /// A database or metadata file's text and layer, when its sample is the final tree's copy.
    fn text(&self, path: &str) -> Option<(usize, String)> {
        let (layer, bytes) = self.bytes(path)?;
        Some((layer, String::from_utf8_lossy(bytes).into_owned()))
    }

    fn bytes(&self, path: &str) -> Option<(usize, &[u8])> {
        let state = self.contents.files.get(path)?;
        let (layer, bytes) = self.collector.databases.get(path)?;
        (*layer == state.layer).then_some((*layer, bytes.as_slice()))
    }

    /// Of `paths` (relative to the root), the regular files of the final tree: how many, their
    /// bytes, and their absolute paths, sorted and each once.
    fn owned(&self, paths: Vec<String>) -> (usize, u64, Vec<String>) {
        let mut kept: Vec<String> = paths
            .into_iter()
            .map(|p| p.trim_start_matches('/').to_string())
            .filter(|p| {
                self.contents
                    .files
                    .get(p)
                    .is_some_and(|f| f.info.kind == FileKind::File)
            })
            .collect();
        kept.sort();
        kept.dedup();
        let bytes = kept
            .iter()
            .filter_map(|p| self.contents.files.get(p))
            .map(|f| f.info.size)
            .sum();
        let files = kept.len();
        (
            files,
            bytes,
            kept.into_iter().map(|p| format!("/{p}")).collect(),
        )
    }

    /// The regular files below `dir`, outside nested `node_modules` directories (npm packages own
    /// their directory, not the packages installed inside it).
    fn files_below(&self, dir: &str) -> Vec<String> {
        let skip = if dir.is_empty() { 0 } else { dir.len() + 1 };
        self.contents
            .below(dir)
            .filter(|(p, _)| !p[skip..].contains("node_modules/"))
            .map(|(p, _)| p.to_string())
            .collect()
    }

    /// Python distributions and npm packages, by their metadata files' paths.
    fn language_packages(&self) -> Vec<Package> {
        let mut paths: Vec<&String> = self
            .collector
            .databases
            .keys()
            .filter(|p| languages::is_python_metadata(p) || languages::is_npm_manifest(p))
            .collect();
        paths.sort();
        let mut out = Vec::new();
        for path in paths {
            let Some((layer, bytes)) = self.bytes(path) else {
                continue;
            };
            let (manager, found, owned) = if languages::is_npm_manifest(path) {
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                ("npm", languages::npm_package(bytes), self.files_below(dir))
            } else {
                let text = String::from_utf8_lossy(bytes);
                let listed = languages::python_file_list(path)
                    .and_then(|list| {
                        let (_, text) = self.text(&list)?;
                        Some(languages::python_listed_paths(&list, &text))
                    })
                    .unwrap_or_else(|| vec![path.clone()]);
                ("python", languages::python_package(&text), listed)
            };
            let Some(found) = found else {
                continue;
            };
            let (files, file_bytes, paths) = self.owned(owned);
            out.push(Package {
                name: found.name,
                version: found.version,
                architecture: String::new(),
                manager,
                source: None,
                source_version: None,
                purl: found.purl,
                files,
                file_bytes,
                layer: Some(layer),
                binary: None,
                location: format!("/{path}"),
                licenses: found.licenses,
                depends: Vec::new(),
                paths,
            });
        }
        out
    }
}

/// Reads an image and returns its inventory.
pub fn inventory(
    reference: &ImageRef,
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<Inventory> {
    let mut collector = InventoryCollector::default();
    let contents = read_image_with(reference, access, reporter, &mut collector)?;
    Ok(collector.finish(&contents))
}

/// The inventory of an image already opened (a build's own, before it is sent on); `what` names
/// it in messages.
pub fn inventory_of_opened(
    image: &crate::image_io::OpenedImage,
    what: &str,
    reporter: &dyn Reporter,
) -> Result<Inventory> {
    let mut collector = InventoryCollector::default();
    let contents = crate::contents::read_opened(image, what, reporter, &mut collector)?;
    Ok(collector.finish(&contents))
}

fn os_release(text: &str) -> OsRelease {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_string())
    };
    OsRelease {
        id: field("ID"),
        version_id: field("VERSION_ID"),
        version_codename: field("VERSION_CODENAME"),
        pretty_name: field("PRETTY_NAME"),
    }
}

/// glibc from the libc6 package or a glibc loader, musl from the musl package or its loader.
fn libc_of(packages: &[Package], contents: &ImageContents) -> Option<Libc> {
    for (kind, names) in [
        ("glibc", ["libc6", "glibc"]),
        ("musl", ["musl", "musl-libc"]),
    ] {
        if let Some(p) = packages.iter().find(|p| names.contains(&p.name.as_str())) {
            return Some(Libc {
                kind,
                version: Some(p.version.clone()),
                evidence: format!("package {} {}", p.name, p.version),
            });
        }
    }
    contents.files.keys().find_map(|path| {
        let name = path.rsplit('/').next().unwrap_or(path);
        let kind = if name.starts_with("ld-musl-") {
            "musl"
        } else if name.starts_with("ld-linux") && name.contains(".so") {
            "glibc"
        } else {
            return None;
        };
        Some(Libc {
            kind,
            version: None,
            evidence: format!("loader /{path}"),
        })
    })
}

/// `pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12` (with `upstream=` naming
/// the source package when it differs).
fn deb_purl(record: &dpkg_db::DpkgRecord, os: Option<&OsRelease>, distro: Option<&str>) -> String {
    let vendor = os.and_then(|o| o.id.as_deref()).unwrap_or("debian");
    let mut purl = format!(
        "pkg:deb/{}/{}@{}",
        purl_escape(vendor),
        purl_escape(&record.name),
        purl_escape(&record.version)
    );
    let mut qualifiers = Vec::new();
    if !record.architecture.is_empty() {
        qualifiers.push(format!("arch={}", purl_escape(&record.architecture)));
    }
    if let Some(d) = distro {
        qualifiers.push(format!("distro={}", purl_escape(d)));
    }
    if let Some(source) = record.source.as_deref().filter(|s| *s != record.name) {
        let upstream = match &record.source_version {
            Some(v) => format!("{source}@{v}"),
            None => source.to_string(),
        };
        qualifiers.push(format!("upstream={}", purl_escape(&upstream)));
    }
    if !qualifiers.is_empty() {
        purl.push('?');
        purl.push_str(&qualifiers.join("&"));
    }
    purl
}

/// Percent-encodes a purl component as the purl specification's reference implementations do
/// (packageurl-python, and syft's and trivy's packageurl-go): everything but ASCII letters, digits,
/// `.-_~` and the `:` of Debian epochs (`+` becomes `%2B`), so purls match across tools.
pub(crate) fn purl_escape(text: &str) -> String {
    crate::units::percent_encode(text, b".-_~:")
}

/// Go modules and cargo-auditable packages a binary says it was built from. The binary's own module
/// (Go) or root package (cargo) carries the binary's size.
fn packages_in_binary(
    path: &str,
    bytes: &[u8],
    size: u64,
    go: Option<pare_elf::buildinfo::GoBuildInfo>,
) -> Vec<Package> {
    let mut out = Vec::new();
    let binary = Some(format!("/{path}"));
    let package = |manager: &'static str, name: String, version: String, arch: &str, own: bool| {
        let purl = match manager {
            "go" => format!(
                "pkg:golang/{}@{}",
                name.split('/')
                    .map(purl_escape)
                    .collect::<Vec<_>>()
                    .join("/"),
                purl_escape(&version)
            ),
            _ => format!("pkg:cargo/{}@{}", purl_escape(&name), purl_escape(&version)),
        };
        Package {
            name,
            version,
            architecture: arch.to_string(),
            manager,
            source: None,
            source_version: None,
            purl,
            files: usize::from(own),
            file_bytes: if own { size } else { 0 },
            layer: None,
            binary: binary.clone(),
            location: format!("/{path}"),
            licenses: Vec::new(),
            depends: Vec::new(),
            paths: if own {
                vec![format!("/{path}")]
            } else {
                Vec::new()
            },
        }
    };
    if let Some(go) = go {
        let arch = go.setting("GOARCH").unwrap_or_default().to_string();
        let main = go.main.clone().unwrap_or(pare_elf::buildinfo::GoModule {
            path: go.path.clone().unwrap_or_else(|| format!("/{path}")),
            version: go.go_version.clone(),
            sum: None,
        });
        out.push(package("go", main.path, main.version, &arch, true));
        out.push(package(
            "go",
            "stdlib".into(),
            go.go_version.clone(),
            &arch,
            false,
        ));
        for dep in go.deps {
            out.push(package("go", dep.path, dep.version, &arch, false));
        }
    }
    if let Ok(Some(crates)) = pare_elf::buildinfo::cargo_auditable(bytes) {
        for krate in crates {
            out.push(package("cargo", krate.name, krate.version, "", krate.root));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb_purls_carry_arch_distro_and_upstream() {
        let record = dpkg_db::DpkgRecord {
            name: "libssl3".into(),
            version: "3.0.15-1~deb12u1".into(),
            architecture: "amd64".into(),
            source: Some("openssl".into()),
            source_version: None,
            depends: None,
            pre_depends: None,
        };
        let os = OsRelease {
            id: Some("debian".into()),
            version_id: Some("12".into()),
            version_codename: None,
            pretty_name: None,
        };
        assert_eq!(
            deb_purl(&record, Some(&os), Some("debian-12")),
            "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl"
        );
        assert_eq!(purl_escape("1:1.2+dfsg"), "1:1.2%2Bdfsg");
        assert_eq!(purl_escape("a b/c?d&e@f"), "a%20b%2Fc%3Fd%26e%40f");
    }

    #[test]
    fn os_release_fields_are_unquoted() {
        let os = os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        );
        assert_eq!(os.id.as_deref(), Some("debian"));
        assert_eq!(os.version_id.as_deref(), Some("12"));
        assert_eq!(
            os.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }
}
