//! `pare audit`: explains an image in one streaming pass: layers and their biggest files, waste
//! (bytes shipped but not in the final tree, each counted once, the kept copy never counted; metadata-only
//! rewrites; identical content at several paths; package-manager residue), findings (shells, package
//! managers, network and build tools, setuid, world-writable, devices, root or unknown user, root
//! directory mode, private keys and tokens in files, ENV and history, `.git`, a missing CA bundle) and
//! "will it start". Every finding names a rule of the catalog (`crate::findings`), a location and a
//! reason. Two analyzers share the one read (`contents::Analyzers`): this module's recorder (waste,
//! secrets, the files will-it-start needs) and the inventory's; will-it-start is `crate::loader`
//! over the tree read. Not here: reading images (`image_io`, `contents`) or the policy (`policy`).

mod access;

use std::collections::{BTreeMap, HashMap};

use pare_oci::read::{ContentHash, FileKind, LayerEvent};
use pare_oci::reference::ImageRef;
use serde::Serialize;
use serde_json::Value;

use crate::contents::{read_opened, Analyzers, FileState, ImageContents, LayerInfo, Observer};
use crate::image_io::{open, Access, IoReport, OpenedImage, Purpose};
use crate::inventory::InventoryCollector;
pub use crate::inventory::Package;
use crate::secrets::secrets_in;
use crate::{Error, Reporter, Result};

use crate::findings::{self, Rule};
pub use crate::findings::{Finding, Location, Severity};

/// Why bytes are counted as waste.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WasteKind {
    /// Replaced by a later layer with other content.
    Overwritten,
    /// Deleted (whiteout) by a later layer.
    Deleted,
    /// Re-shipped by a later layer only to change mode or owner.
    MetadataOnly,
    /// The same content at another path of the final tree.
    Duplicate,
    /// Package-manager caches and lists in the final tree.
    PackageResidue,
}

/// Bytes counted as waste.
#[derive(Clone, Debug, Serialize)]
pub struct Waste {
    pub kind: WasteKind,
    pub path: String,
    pub layer: usize,
    pub bytes: u64,
}

/// A layer with its biggest files.
#[derive(Clone, Debug, Serialize)]
pub struct AuditLayer {
    #[serde(flatten)]
    pub info: LayerInfo,
    /// Bytes of the regular files this layer ships (what dive reports as a layer's size).
    pub file_bytes: u64,
    /// True for layers that come from the base image (named with `--base-image`, else told by pare's
    /// own history comments).
    pub base: bool,
    /// Up to five (path, bytes), biggest first.
    pub largest_files: Vec<(String, u64)>,
}

/// What `pare audit` found.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    pub image: String,
    pub manifest_digest: String,
    pub os: Option<String>,
    pub user: String,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Bytes of regular files in the final tree.
    pub file_bytes: u64,
    pub layers: Vec<AuditLayer>,
    pub waste_bytes: u64,
    pub waste_by_kind: BTreeMap<WasteKind, u64>,
    /// Waste items, biggest first (at most 100).
    pub waste: Vec<Waste>,
    pub findings: Vec<Finding>,
    /// Installed packages, by manager and name (the inventory's).
    pub packages: Vec<Package>,
    /// The C library the image carries, when pare can tell.
    pub libc: Option<crate::inventory::Libc>,
    pub fail_on: Severity,
    pub passed: bool,
}

/// What to audit and how strictly.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    pub image: ImageRef,
    pub access: Access,
    /// Findings at or above this severity fail the audit (exit 1); None: the policy's, else high.
    pub fail_on: Option<Severity>,
    /// Rules turned off or re-graded, allow lists, waste and size limits.
    pub policy: crate::policy::Policy,
    /// The base image: layers it shares (by diff_id, from the bottom) are marked as base layers.
    pub base: Option<ImageRef>,
}

/// Largest file scanned for secrets (first bytes only).
const SECRET_SAMPLE: usize = 64 * 1024;

#[derive(Default)]
struct Recorder {
    /// Per layer: (path, size, content hash) of every regular file shipped.
    shipped: Vec<Vec<(String, u64, Option<ContentHash>)>>,
    findings: Vec<Finding>,
    /// Latest content of the small files audit reads (passwd, group, ld.so.cache).
    small: HashMap<String, Vec<u8>>,
    /// The first bytes of every executable file, by (path, layer): ELF magic or `#!` line.
    heads: HashMap<(String, usize), Vec<u8>>,
}

/// Bytes kept of each executable file for the will-it-start check.
const HEAD: usize = 4096;

const SMALL_FILES: [&str; 3] = [
    "etc/passwd",
    "etc/group",
    // The loader's soname table, for the will-it-start library check.
    "etc/ld.so.cache",
];

/// Largest small file read.
const MAX_SMALL: usize = 64 << 20;

impl Observer for Recorder {
    fn sample(&self, path: &str, _size: u64, _mode: u32) -> usize {
        // Programs and libraries are read whole for the inventory; the rest (a JRE's 130 MB
        // `modules`, data) only needs the secret scan's head.
        if SMALL_FILES.contains(&path) {
            MAX_SMALL
        } else {
            SECRET_SAMPLE
        }
    }

    fn event(&mut self, layer: usize, event: &LayerEvent) {
        if self.shipped.len() <= layer {
            self.shipped.resize(layer + 1, Vec::new());
        }
        let LayerEvent::Entry(info) = event else {
            return;
        };
        if info.kind != FileKind::File {
            return;
        }
        self.shipped[layer].push((info.path.clone(), info.size, info.content));
        if SMALL_FILES.contains(&info.path.as_str()) {
            self.small.insert(info.path.clone(), info.sample.clone());
        }
        if info.mode & 0o111 != 0 {
            let head = info.sample[..info.sample.len().min(HEAD)].to_vec();
            self.heads.insert((info.path.clone(), layer), head);
        }
        let head = &info.sample[..info.sample.len().min(SECRET_SAMPLE)];
        for (id, reason) in secrets_in(&info.path, head) {
            if let Some(rule) = findings::rule(id) {
                let location = Location::image_path(&info.path, Some(layer));
                self.findings.push(Finding::new(rule, location, reason));
            }
        }
    }
}

/// Audits an image.
pub fn audit(options: &AuditOptions, reporter: &dyn Reporter) -> Result<AuditReport> {
    Ok(audit_image(options, reporter)?.report)
}

/// An audit with what it was made from: the merged tree and the inventory (for the HTML report's
/// file tree, and for `pare compare`'s scan of the same reading).
pub struct Audited {
    pub report: AuditReport,
    pub contents: ImageContents,
    pub inventory: crate::inventory::Inventory,
    /// The image as opened (its layout stays readable while this lives).
    pub opened: OpenedImage,
}

/// Audits an image and keeps what the audit read.
pub fn audit_image(options: &AuditOptions, reporter: &dyn Reporter) -> Result<Audited> {
    let mut io = IoReport::default();
    let opened = open(
        &options.image,
        &options.access,
        Purpose::Read,
        reporter,
        &mut io,
    )?;
    let mut recorder = Recorder::default();
    let mut collector = InventoryCollector::default();
    let contents = read_opened(
        &opened,
        &options.image.to_string(),
        reporter,
        &mut Analyzers(vec![&mut recorder, &mut collector]),
    )?;
    let inventory = collector.finish(&contents);
    let mut findings = std::mem::take(&mut recorder.findings);
    findings.extend(tree_findings(&contents));
    findings.extend(config_findings(&contents, &recorder));
    findings.extend(plugin_findings(&contents, &inventory));
    findings.extend(ca_bundle_finding(&contents, &inventory));
    findings.extend(tzdata_finding(&contents, &inventory));
    findings.extend(start_findings(
        &contents, &opened, &recorder, &collector, reporter,
    )?);
    Finding::sort(&mut findings);
    let waste = waste(&contents, &recorder);
    let mut waste_by_kind: BTreeMap<WasteKind, u64> = BTreeMap::new();
    for w in &waste {
        *waste_by_kind.entry(w.kind).or_default() += w.bytes;
    }
    let waste_bytes = waste.iter().map(|w| w.bytes).sum();
    let base_layers = match &options.base {
        Some(reference) => shared_prefix(
            &contents,
            &base_diff_ids(reference, &options.access, reporter)?,
        ),
        None => contents.config["history"]
            .as_array()
            .map(|h| {
                h.iter()
                    .filter(|e| !e["empty_layer"].as_bool().unwrap_or(false))
                    .take_while(|e| {
                        e["comment"]
                            .as_str()
                            .is_some_and(|c| c.starts_with("pare ") && c.ends_with(" base"))
                    })
                    .count()
            })
            .unwrap_or(0),
    };
    let layers = contents
        .layers
        .iter()
        .enumerate()
        .map(|(i, info)| {
            let mut files: Vec<(String, u64)> = recorder
                .shipped
                .get(i)
                .map(|v| v.iter().map(|(p, s, _)| (format!("/{p}"), *s)).collect())
                .unwrap_or_default();
            let file_bytes = files.iter().map(|(_, s)| s).sum();
            files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            files.truncate(5);
            AuditLayer {
                info: info.clone(),
                file_bytes,
                base: i < base_layers,
                largest_files: files,
            }
        })
        .collect();
    let os = inventory.os.as_ref().and_then(|o| o.pretty_name.clone());
    let fail_on = options.fail_on.unwrap_or(Severity::High);
    let passed = !findings.iter().any(|f| f.severity >= fail_on);
    let mut waste_top = waste;
    waste_top.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    waste_top.truncate(100);
    let mut report = AuditReport {
        image: contents.reference.clone(),
        manifest_digest: contents.manifest_digest.clone(),
        os,
        user: contents.config["config"]["User"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        compressed_size: contents.compressed_size,
        uncompressed_size: contents.uncompressed_size,
        file_bytes: contents.file_bytes(),
        layers,
        waste_bytes,
        waste_by_kind,
        waste: waste_top,
        findings,
        packages: inventory.packages.clone(),
        libc: inventory.libc.clone(),
        fail_on,
        passed,
    };
    options.policy.apply(&mut report, options.fail_on)?;
    Ok(Audited {
        report,
        contents,
        inventory,
        opened,
    })
}

/// The diff_ids of a base image (its config only; no layer is read).
fn base_diff_ids(
    reference: &ImageRef,
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<Vec<String>> {
    let mut io = IoReport::default();
    let opened = open(reference, access, Purpose::Read, reporter, &mut io)?;
    Ok(opened.documents.diff_ids().to_vec())
}

/// How many bottom layers the image shares with a base, by diff_id.
fn shared_prefix(contents: &ImageContents, base: &[String]) -> usize {
    contents
        .layers
        .iter()
        .zip(base)
        .take_while(|(layer, diff_id)| layer.diff_id == **diff_id)
        .count()
}

/// Waste: every shipped copy that is not the one in the final tree, plus duplicates and residue.
fn waste(contents: &ImageContents, recorder: &Recorder) -> Vec<Waste> {
    let mut out = Vec::new();
    for (layer, files) in recorder.shipped.iter().enumerate() {
        for (path, size, content) in files {
            if *size == 0 {
                continue;
            }
            let kind = match contents.files.get(path) {
                Some(kept) if kept.layer == layer => continue,
                Some(kept) if kept.info.content == *content && kept.layer > layer => {
                    WasteKind::MetadataOnly
                }
                Some(_) => WasteKind::Overwritten,
                None => WasteKind::Deleted,
            };
            out.push(Waste {
                kind,
                path: format!("/{path}"),
                layer,
                bytes: *size,
            });
        }
    }
    let mut by_content: BTreeMap<ContentHash, Vec<&FileState>> = BTreeMap::new();
    for f in contents.files.values() {
        if let (FileKind::File, Some(hash), true) = (f.info.kind, f.info.content, f.info.size > 0) {
            by_content.entry(hash).or_default().push(f);
        }
    }
    for copies in by_content.values().filter(|c| c.len() > 1) {
        for extra in &copies[1..] {
            out.push(Waste {
                kind: WasteKind::Duplicate,
                path: format!("/{}", extra.info.path),
                layer: extra.layer,
                bytes: extra.info.size,
            });
        }
    }
    const RESIDUE: [&str; 7] = [
        "var/lib/apt/lists/",
        "var/cache/apt/",
        "var/cache/apk/",
        "root/.cache/pip/",
        "root/.npm/",
        "var/cache/yum/",
        "var/cache/dnf/",
    ];
    for f in contents.files.values() {
        let residue = RESIDUE.iter().any(|r| f.info.path.starts_with(r))
            && !f.info.path.ends_with("/lock")
            || orphan_bytecode(&f.info.path)
                .is_some_and(|source| !contents.files.contains_key(&source));
        if f.info.kind == FileKind::File && f.info.size > 0 && residue {
            out.push(Waste {
                kind: WasteKind::PackageResidue,
                path: format!("/{}", f.info.path),
                layer: f.layer,
                bytes: f.info.size,
            });
        }
    }
    out
}

/// For a CPython bytecode cache file (`pkg/__pycache__/mod.cpython-311.pyc`, also `.opt-1.pyc`),
/// the source it was compiled from (`pkg/mod.py`). A cache whose source is not shipped is residue of
/// running or installing the code at build time.
fn orphan_bytecode(path: &str) -> Option<String> {
    let (dir, file) = path.rsplit_once("/__pycache__/")?;
    let stem = file.strip_suffix(".pyc")?;
    // mod.cpython-311 or mod.cpython-311.opt-2: the module name is everything before the first '.'.
    let module = stem.split('.').next().filter(|m| !m.is_empty())?;
    if !stem[module.len()..].starts_with('.') {
        return None;
    }
    Some(format!("{dir}/{module}.py"))
}

const BIN_DIRS: [&str; 6] = [
    "bin",
    "sbin",
    "usr/bin",
    "usr/sbin",
    "usr/local/bin",
    "usr/local/sbin",
];

/// (names, rule, what) for tools an attacker would love.
const TOOLS: [(&[&str], &Rule, &str); 4] = [
    (
        &["sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"],
        &findings::SHELL,
        "a shell lets an attacker run anything",
    ),
    (
        &[
            "apt", "apt-get", "dpkg", "apk", "yum", "dnf", "rpm", "pip", "pip3", "npm", "gem",
        ],
        &findings::PACKAGE_MANAGER,
        "a package manager lets an attacker install tools",
    ),
    (
        &[
            "curl", "wget", "nc", "ncat", "netcat", "telnet", "ssh", "scp", "socat",
        ],
        &findings::NETWORK_TOOL,
        "a network tool helps an attacker fetch payloads and exfiltrate",
    ),
    (
        &[
            "gcc", "cc", "g++", "c++", "clang", "make", "go", "rustc", "cargo", "javac", "as", "ld",
        ],
        &findings::BUILD_TOOL,
        "build tools belong in the build stage, not the runtime image",
    ),
];

/// Libraries and programs of the final tree that will load plugins (`crate::plugins`) the image
/// does not have: one info finding per missing plugin, naming the first object that wants it among
/// those something in the image can load (`crate::plugins::loadable`).
fn plugin_findings(
    contents: &ImageContents,
    inventory: &crate::inventory::Inventory,
) -> Vec<Finding> {
    use crate::plugins::{first_trigger, Brings, Object, PLUGINS};
    let glibc = inventory.libc.as_ref().is_some_and(|l| l.kind == "glibc");
    let objects: Vec<Object<'_>> = inventory
        .binaries
        .iter()
        .map(|b| Object {
            path: &b.path,
            soname: b.soname.as_deref(),
            needed: &b.needed,
            triggers: &b.triggers,
        })
        .collect();
    let mut out = Vec::new();
    for plugin in PLUGINS.iter().filter(|p| p.name != "nss") {
        // The first object something can load that triggers it on its own.
        let Some(wanting) = first_trigger(&objects, plugin, glibc) else {
            continue;
        };
        let binary = &inventory.binaries[wanting];
        let present = |name: &str| {
            contents
                .files
                .keys()
                .any(|p| p.rsplit('/').next() == Some(name) || p.split('/').any(|c| c == name))
        };
        let have = match plugin.brings {
            Brings::Directories(dirs) => dirs.iter().any(|d| present(d)),
            Brings::Files(files) => files.iter().all(|f| present(f)),
        };
        if !have {
            let wants = match plugin.brings {
                Brings::Directories(d) | Brings::Files(d) => d.join(", "),
            };
            out.push(Finding::new(
                &findings::PLUGIN_MISSING,
                Location::image_path(&binary.path, Some(binary.layer)),
                format!(
                    "{} will look for {wants} at run time (plugin {}: {}), which the image does not have",
                    binary.path, plugin.name, plugin.why
                ),
            ));
        }
    }
    out
}

/// The findings about the final file tree, family by family.
fn tree_findings(contents: &ImageContents) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in contents.files.values() {
        out.extend(tool_finding(f));
        out.extend(mode_findings(f));
        out.extend(tree_shape_finding(f));
    }
    out
}

fn file_finding(rule: &Rule, f: &FileState, reason: String) -> Finding {
    Finding::new(
        rule,
        Location::image_path(&f.info.path, Some(f.layer)),
        reason,
    )
}

/// Shells, package managers, network and build tools, by name in the bin directories.
fn tool_finding(f: &FileState) -> Vec<Finding> {
    let path = f.info.path.as_str();
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    if !BIN_DIRS.contains(&dir) || f.info.kind == FileKind::Dir {
        return Vec::new();
    }
    TOOLS
        .iter()
        .filter(|(names, _, _)| names.contains(&name))
        .map(|(_, rule, why)| file_finding(rule, f, format!("{name}: {why}")))
        .collect()
}

/// Setuid and setgid files, world-writable files and directories, device nodes.
fn mode_findings(f: &FileState) -> Vec<Finding> {
    let mut out = Vec::new();
    let mode = f.info.mode;
    if f.info.kind == FileKind::File && mode & 0o6000 != 0 {
        out.push(file_finding(
            &findings::SETUID,
            f,
            format!("mode {mode:04o}: runs with its owner's or group's rights"),
        ));
    }
    let world_writable = mode & 0o002 != 0;
    match f.info.kind {
        FileKind::Dir if world_writable && mode & 0o1000 == 0 => out.push(file_finding(
            &findings::WORLD_WRITABLE,
            f,
            format!("directory mode {mode:04o}: anyone can replace files in it (no sticky bit)"),
        )),
        FileKind::File if world_writable => out.push(file_finding(
            &findings::WORLD_WRITABLE,
            f,
            format!("file mode {mode:04o}: anyone can change it"),
        )),
        FileKind::Char | FileKind::Block => out.push(file_finding(
            &findings::DEVICE,
            f,
            "device node shipped in the image; runtimes provide /dev".into(),
        )),
        _ => {}
    }
    out
}

/// A `.git` directory, and a root directory other than 0755.
fn tree_shape_finding(f: &FileState) -> Option<Finding> {
    let path = f.info.path.as_str();
    let name = path.rsplit('/').next().unwrap_or(path);
    let mode = f.info.mode;
    if f.info.kind != FileKind::Dir {
        return None;
    }
    if name == ".git" {
        return Some(file_finding(
            &findings::GIT_DIR,
            f,
            "a .git directory ships source history and maybe credentials".into(),
        ));
    }
    (path.is_empty() && mode != 0o755).then(|| {
        file_finding(
            &findings::ROOT_MODE,
            f,
            format!("the root directory has mode {mode:04o}; 0755 is needed for non-root users"),
        )
    })
}

/// A TLS library or client (a Go program linking crypto/x509 included) without a CA bundle (or
/// SSL_CERT_FILE).
fn ca_bundle_finding(
    contents: &ImageContents,
    inventory: &crate::inventory::Inventory,
) -> Option<Finding> {
    let go = inventory.binaries.iter().find(|b| b.go_x509);
    let tls_client = go.is_some()
        || contents.files.keys().any(|p| {
            let name = p.rsplit('/').next().unwrap_or(p);
            name.starts_with("libssl.so")
                || name.starts_with("libgnutls.so")
                || (name == "curl" || name == "wget")
        });
    let has_bundle = has_ca_bundle(contents);
    let env_bundle = contents.env().iter().any(|(k, _)| k == "SSL_CERT_FILE");
    (tls_client && !has_bundle && !env_bundle).then(|| match go {
        Some(b) => Finding::new(
            &findings::NO_CA_BUNDLE,
            Location::image_path(&b.path, Some(b.layer)),
            format!("{} is a Go program that verifies certificates (crypto/x509) but the image has no CA bundle; its TLS connections will fail to verify", b.path),
        ),
        None => Finding::new(
            &findings::NO_CA_BUNDLE,
            Location::Image,
            "the image ships a TLS library or client but no CA bundle; TLS connections will fail to verify".into(),
        ),
    })
}

/// Where TLS libraries look for a CA bundle (OpenSSL, Go's crypto/x509, GnuTLS, NSS, Java's
/// converted store beside them), as image keys.
pub const CA_BUNDLE_LOCATIONS: [&str; 3] = [
    "etc/ssl/certs/ca-certificates.crt",
    "etc/pki/tls/certs/ca-bundle.crt",
    "etc/ssl/cert.pem",
];

/// Whether the tree has a CA bundle at one of the places TLS libraries look.
pub fn has_ca_bundle(contents: &ImageContents) -> bool {
    CA_BUNDLE_LOCATIONS
        .iter()
        .any(|p| contents.files.contains_key(*p))
}

/// Whether the tree has a time zone database (a file under /usr/share/zoneinfo).
pub fn has_zoneinfo(contents: &ImageContents) -> bool {
    contents
        .below("usr/share/zoneinfo")
        .any(|(_, f)| f.info.kind == FileKind::File)
}

/// A Go program that loads named zones from the file system, in an image without zoneinfo.
fn tzdata_finding(
    contents: &ImageContents,
    inventory: &crate::inventory::Inventory,
) -> Option<Finding> {
    let program = inventory.binaries.iter().find(|b| b.go_zones)?;
    let has_zones = has_zoneinfo(contents);
    let env_zones = contents.env().iter().any(|(k, _)| k == "ZONEINFO");
    (!has_zones && !env_zones).then(|| {
        Finding::new(
            &findings::NO_TZDATA,
            Location::image_path(&program.path, Some(program.layer)),
            format!(
                "{} is a Go program that loads named time zones (time.LoadLocation) but the image has no /usr/share/zoneinfo and no ZONEINFO; every zone but UTC will fail to load",
                program.path
            ),
        )
    })
}

fn config_findings(contents: &ImageContents, recorder: &Recorder) -> Vec<Finding> {
    let mut out = Vec::new();
    let user = contents.config["config"]["User"].as_str().unwrap_or("");
    let name = user.split(':').next().unwrap_or("");
    let finding = |rule: &Rule, field: &str, reason: String| {
        Finding::new(rule, Location::config(field), reason)
    };
    if name.is_empty() || name == "0" || name == "root" {
        out.push(finding(
            &findings::USER_ROOT,
            "User",
            format!(
                "the image runs as root (User {user:?}); a compromised process owns the container"
            ),
        ));
    } else if name.parse::<u32>().is_err() && passwd_entry(recorder, contents, name).is_none() {
        out.push(finding(
            &findings::USER_UNKNOWN,
            "User",
            format!(
                "User {name:?} is not in the image's /etc/passwd; the container will not start"
            ),
        ));
    }
    for (key, value) in contents.env() {
        let upper = key.to_ascii_uppercase();
        let secret_name = [
            "PASSWORD",
            "SECRET",
            "TOKEN",
            "API_KEY",
            "PRIVATE_KEY",
            "ACCESS_KEY",
        ]
        .iter()
        .any(|s| upper.contains(s));
        if (secret_name && !value.is_empty()) || !secrets_in("env", value.as_bytes()).is_empty() {
            out.push(finding(
                &findings::SECRET_ENV,
                "Env",
                format!("ENV {key} holds a secret; anyone who pulls the image can read it"),
            ));
        }
    }
    if let Some(history) = contents.config["history"].as_array() {
        for (i, h) in history.iter().enumerate() {
            let created_by = h["created_by"].as_str().unwrap_or("");
            for (id, reason) in secrets_in("history", created_by.as_bytes()) {
                if let Some(rule) = findings::rule(id) {
                    out.push(finding(
                        rule,
                        &format!("history[{i}]"),
                        format!("image history: {reason}"),
                    ));
                }
            }
        }
    }
    out
}

/// "Will it start", as `crate::loader` answers it for the tree the audit read: the program exists,
/// the user may execute it, it is built for the image's architecture, and its script interpreter,
/// loader and libraries (transitively, in ld.so order, with the image's ld.so.cache) are there.
fn start_findings(
    contents: &ImageContents,
    opened: &OpenedImage,
    recorder: &Recorder,
    inventory: &InventoryCollector,
    reporter: &dyn Reporter,
) -> Result<Vec<Finding>> {
    use crate::loader::{check_start, Problem, StartRequest};
    let config = &contents.config["config"];
    let first = |v: &Value| {
        v.as_array()
            .and_then(|a| a.first())
            .and_then(|s| s.as_str())
            .map(str::to_string)
    };
    let Some(program) = first(&config["Entrypoint"]).or_else(|| first(&config["Cmd"])) else {
        return Ok(vec![start(
            "the image has no entrypoint and no cmd".into(),
            None,
        )]);
    };
    let env = contents.env();
    let var = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let path_env = var("PATH");
    let ld_library_path = crate::loader::search_path(&var("LD_LIBRARY_PATH"));
    let root = AuditRoot {
        contents,
        opened,
        recorder,
        inventory,
        reread: std::cell::RefCell::new(HashMap::new()),
    };
    let user = run_as(config["User"].as_str().unwrap_or(""), recorder, contents);
    let check = check_start(
        &root,
        &StartRequest {
            program: &program,
            path_env: &path_env,
            workdir: config["WorkingDir"].as_str().unwrap_or(""),
            ld_library_path,
            user,
            architecture: contents.config["architecture"].as_str(),
        },
    );
    let unreadable = access::unreadable_findings(contents, check.program_path.as_deref(), user);
    if let Some(e) = root.reread.borrow().values().find_map(|r| r.as_ref().err()) {
        return Err(Error::Input(e.clone()));
    }
    reporter.step(&format!("checked {program}"));
    let out = check
        .problems
        .into_iter()
        .filter_map(|problem| {
            Some(match problem {
                Problem::Missing { .. } => start(
                    format!("the program {program} does not exist in the image"),
                    None,
                ),
                Problem::NotRegular { path } => start(
                    format!("{program} ({path}) is not a regular file"),
                    Some(&path),
                ),
                Problem::NotExecutable { path, mode } => start(
                    format!("{program} ({path}) is not executable (mode {mode:04o}) by the image's user"),
                    Some(&path),
                ),
                Problem::WrongArchitecture { path, architecture } => start(
                    format!(
                        "{program} ({path}) is a {architecture} binary; the image is for {}",
                        contents.config["architecture"].as_str().unwrap_or("another architecture")
                    ),
                    Some(&path),
                ),
                Problem::Malformed { path, error } => {
                    start(format!("{program}: {error}"), Some(&path))
                }
                Problem::MissingLoader { path, loader, .. } if loader.is_empty() => start(
                    format!("{program} is dynamically linked but names no loader (PT_INTERP)"),
                    Some(&path),
                ),
                Problem::MissingLoader { path, loader, .. } => start(
                    format!("{program} needs the loader {loader}, which the image does not have"),
                    Some(&path),
                ),
                Problem::MissingLibrary { path, name, via } => {
                    let via = via.map(|v| format!(" (via {v})")).unwrap_or_default();
                    start(
                        format!("{program} needs {name}{via}, which the image does not have"),
                        Some(&path),
                    )
                }
                Problem::MissingInterpreter { path, interpreter } => start(
                    format!(
                        "{program} is a script for {interpreter}, which the image does not have"
                    ),
                    Some(&path),
                ),
                // The kernel may still run it (binfmt_misc); not a finding.
                Problem::UnknownFormat { .. } => return None,
            })
        })
        .chain(unreadable)
        .collect();
    Ok(out)
}

/// The fields of `name`'s line in the image's final `/etc/passwd`, if it has one.
fn passwd_entry(recorder: &Recorder, contents: &ImageContents, name: &str) -> Option<Vec<String>> {
    if !contents.files.contains_key("etc/passwd") {
        return None;
    }
    let passwd = String::from_utf8_lossy(recorder.small.get("etc/passwd")?).into_owned();
    passwd
        .lines()
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .find(|f| f.first().map(String::as_str) == Some(name))
}

/// The uid and gid the image runs as: numeric `uid[:gid]`, or a name from the image's passwd; None
/// when it cannot be told (then any execute bit counts).
fn run_as(user: &str, recorder: &Recorder, contents: &ImageContents) -> Option<(u32, Option<u32>)> {
    let (name, group) = match user.split_once(':') {
        Some((n, g)) => (n, Some(g)),
        None => (user, None),
    };
    if name.is_empty() {
        return Some((0, Some(0)));
    }
    let entry = passwd_entry(recorder, contents, name);
    let uid = name
        .parse::<u32>()
        .ok()
        .or_else(|| entry.as_ref().and_then(|f| f.get(2)?.parse().ok()))?;
    let gid = match group {
        Some(g) => g.parse().ok(),
        None => entry.as_ref().and_then(|f| f.get(3)?.parse().ok()),
    };
    Some((uid, gid))
}

/// The tree the audit read, as a loader root: what the reading pass kept (ELF facts of every ELF
/// file read whole, the heads of executables) answers first; only a file it did not keep is read
/// again from its layer.
struct AuditRoot<'a> {
    contents: &'a ImageContents,
    opened: &'a OpenedImage,
    recorder: &'a Recorder,
    inventory: &'a InventoryCollector,
    /// Files read again from their layer, by key (an error is kept and reported once).
    reread: std::cell::RefCell<HashMap<String, std::result::Result<Vec<u8>, String>>>,
}

impl AuditRoot<'_> {
    fn state(&self, path: &str) -> Option<&FileState> {
        self.contents.files.get(path.trim_start_matches('/'))
    }

    fn whole(&self, key: &str, state: &FileState) -> std::result::Result<Vec<u8>, pare_elf::Error> {
        let mut cache = self.reread.borrow_mut();
        let result = cache.entry(key.to_string()).or_insert_with(|| {
            read_from_layer(self.opened, &self.contents.layers[state.layer], key)
                .map_err(|e| e.to_string())
        });
        result.clone().map_err(|e| pare_elf::Error::Io {
            path: format!("/{key}"),
            source: std::io::Error::other(e),
        })
    }
}

impl pare_elf::root::Root for AuditRoot<'_> {
    fn node(&self, path: &str) -> Option<pare_elf::root::Node> {
        use pare_elf::root::Node;
        let key = path.trim_start_matches('/').trim_end_matches('/');
        if key.is_empty() {
            return Some(Node::Dir);
        }
        let f = self.contents.files.get(key)?;
        let link = || f.info.link.clone().unwrap_or_default();
        Some(match f.info.kind {
            FileKind::Dir => Node::Dir,
            FileKind::File => Node::File,
            FileKind::Symlink => Node::Symlink(link()),
            FileKind::Hardlink => Node::Hardlink(format!("/{}", link().trim_start_matches('/'))),
            _ => Node::Other,
        })
    }

    fn read(&self, path: &str, limit: u64) -> std::result::Result<Vec<u8>, pare_elf::Error> {
        let key = path.trim_start_matches('/');
        let Some(state) = self.state(key) else {
            return Ok(Vec::new());
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        if let Some(head) = self.recorder.heads.get(&(key.to_string(), state.layer)) {
            if head.len() >= limit.min(usize::try_from(state.info.size).unwrap_or(usize::MAX)) {
                return Ok(head[..head.len().min(limit)].to_vec());
            }
        }
        if key == LD_SO_CACHE_KEY {
            if let Some(bytes) = self.recorder.small.get(key) {
                return Ok(bytes[..bytes.len().min(limit)].to_vec());
            }
        }
        let bytes = self.whole(key, state)?;
        Ok(bytes[..bytes.len().min(limit)].to_vec())
    }

    fn names_in(&self, dir: &str) -> Vec<String> {
        let dir = dir.trim_start_matches('/').trim_end_matches('/');
        let skip = if dir.is_empty() { 0 } else { dir.len() + 1 };
        self.contents
            .below(dir)
            .map(|(k, _)| &k[skip..])
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .map(str::to_string)
            .collect()
    }

    fn mode(&self, path: &str) -> Option<(u32, u32, u32)> {
        let id = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        self.state(path)
            .map(|f| (f.info.mode, id(f.info.uid), id(f.info.gid)))
    }

    fn elf_facts(
        &self,
        path: &str,
    ) -> std::result::Result<Option<pare_elf::ElfFacts>, pare_elf::Error> {
        let key = path.trim_start_matches('/');
        let Some(state) = self.state(key) else {
            return Ok(None);
        };
        if let Some(facts) = self.inventory.elf_facts(key, state.layer) {
            return Ok(Some(facts.clone()));
        }
        // Not read whole while reading (too big, or not named like a program or library): read it.
        let head = self.read(key, 4)?;
        if !pare_elf::is_elf(&head) {
            return Ok(None);
        }
        pare_elf::inspect(&self.whole(key, state)?).map(Some)
    }
}

/// The loader's cache, as a tree key.
const LD_SO_CACHE_KEY: &str = "etc/ld.so.cache";

/// Reads one file of a layer whole.
fn read_from_layer(opened: &OpenedImage, layer: &LayerInfo, path: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    pare_oci::read::read_layer(
        &opened.layout,
        opened.layer_blob(&layer.digest, layer.size, Some(&layer.diff_id)),
        pare_oci::read::ReadLimits::default(),
        &|p: &str, size: u64, _mode: u32| {
            if p == path {
                usize::try_from(size).unwrap_or(0)
            } else {
                0
            }
        },
        |event| {
            if let LayerEvent::Entry(info) = event {
                if info.path == path {
                    bytes = info.sample;
                }
            }
            Ok(())
        },
    )?;
    Ok(bytes)
}

fn start(reason: String, path: Option<&str>) -> Finding {
    let location = match path {
        Some(p) => Location::image_path(p, None),
        None => Location::config("Entrypoint"),
    };
    Finding::new(&findings::WONT_START, location, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytecode_caches_name_their_source() {
        assert_eq!(
            orphan_bytecode("app/pkg/__pycache__/mod.cpython-311.pyc").as_deref(),
            Some("app/pkg/mod.py")
        );
        assert_eq!(
            orphan_bytecode("usr/lib/python3.11/__pycache__/os.cpython-311.opt-1.pyc").as_deref(),
            Some("usr/lib/python3.11/os.py")
        );
        assert_eq!(orphan_bytecode("app/mod.pyc"), None);
        assert_eq!(orphan_bytecode("app/__pycache__/.pyc"), None);
        assert_eq!(orphan_bytecode("app/__pycache__/notes.txt"), None);
    }
}
