//! The shared-library layer of a build: for every dynamically linked ELF file the user copies in, the
//! loader and the libraries it needs become one layer below the artifacts, each file with the reason
//! it is there. Libraries are resolved by `pare_elf::closure` in the image first (its base and the
//! copies: a library shipped beside the program and found through `$ORIGIN` or RPATH is used where
//! it is) and then on the build host or a sysroot, whose files are the ones added. A binary whose
//! needs cannot be met fails the build naming what is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pare_elf::closure::{path_steps, resolve_in, ClosureOptions, NeededPath};
use pare_elf::root::{HostRoot, Node, Root};
use pare_oci::tree::{normalize_image_path, Entry, EntryKind, FileSource, LayerTree};
use pare_pkg::dpkg_db::{RootDatabase, STATUS_DIR};
use serde::Serialize;

use crate::layers::view::ImageView;
use crate::plugins::{triggered, Brings};
use crate::{Error, Reporter, Result};

/// Largest binary inspected for its closure.
const MAX_BINARY: u64 = 2 << 30;

/// A file the closure added, and why.
#[derive(Clone, Debug, Serialize)]
pub struct AddedLibrary {
    pub path: String,
    pub reason: String,
    /// The host (or sysroot) package that owns the file, `name version`, when its dpkg database
    /// says; recorded in the image's `status.d` so scanners see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The copied program (or plugin) whose closure brought it, for the layer's history line.
    #[serde(skip)]
    pub program: String,
}

/// What glibc's `files` NSS module reads for `localhost` when the runtime mounts no /etc/hosts.
const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// What the closure adds, checked against what the image already has.
struct Additions<'a> {
    tree: LayerTree,
    added: Vec<AddedLibrary>,
    artifacts: &'a LayerTree,
    view: &'a ImageView,
}

impl Additions<'_> {
    /// Adds `path` (from the host, or a symlink) unless the image already has it; `program` is the
    /// copied program whose closure needs it (empty for a plugin's files).
    fn add(
        &mut self,
        path: String,
        needed: &NeededPath,
        reason: &str,
        object: &str,
        program: &str,
    ) -> Result<()> {
        let key = normalize_image_path(&path)?;
        if self.artifacts.get(&key).is_some()
            || self.view.get(&key).is_some()
            || self.tree.get(&key).is_some()
        {
            return Ok(());
        }
        let entry = match needed {
            NeededPath::Symlink { target } => Entry::symlink(target.clone()),
            NeededPath::File { host } => {
                let meta = std::fs::metadata(host).map_err(Error::io("read", host))?;
                Entry::owned(
                    EntryKind::File {
                        source: FileSource::Host(host.clone()),
                        size: meta.len(),
                    },
                    meta.permissions().mode() & 0o777,
                    0,
                    0,
                )
            }
        };
        self.tree.insert(key, entry).map_err(|e| {
            Error::Input(format!(
                "the libraries of {object} do not fit with the copies: {e}"
            ))
        })?;
        self.added.push(AddedLibrary {
            path,
            reason: reason.to_string(),
            package: None,
            program: program.to_string(),
        });
        Ok(())
    }
}

/// For an image whose packages come from Debian (a recipe): the libraries the copied programs need
/// that the image lacks and the build host has, each with the host package that owns it (the host's
/// dpkg database is the hint), so the build can take that package from the repository instead of
/// copying host files. Libraries no host package owns are left to the closure.
pub fn host_provisions(
    artifacts: &LayerTree,
    view: &ImageView,
    root: &Path,
    ld_library_path: &[String],
) -> Result<Vec<pare_pkg::lock::LockedProvision>> {
    let Some(db) = RootDatabase::read(root)
        .map_err(|e| Error::Input(format!("the dpkg database of {}: {e}", root.display())))?
    else {
        return Ok(Vec::new());
    };
    let options = closure_options(root, ld_library_path, false);
    let image = with_copies(view, artifacts)?;
    let lookup = ImageThenHost {
        image: &image,
        host: HostRoot::new(root),
    };
    let mut provisions: BTreeMap<String, pare_pkg::lock::LockedProvision> = BTreeMap::new();
    for (image_path, host, facts) in dynamic_programs(artifacts)? {
        let closure = resolve_in(&lookup, &image_path, facts, &options)
            .map_err(|e| Error::Input(format!("{}: {e}", host.display())))?;
        // Only what the image's own objects need: the libraries of a host library come with its
        // package's dependencies.
        for library in &closure.libraries {
            if lookup.in_image(&library.real_path) || !lookup.in_image(&library.needed_by) {
                continue;
            }
            if let Some((_, record)) = db.owner(&library.real_path) {
                provisions.entry(record.name.clone()).or_insert_with(|| {
                    pare_pkg::lock::LockedProvision {
                        soname: library.name.clone(),
                        package: record.name.clone(),
                        needed_by: library.needed_by.clone(),
                    }
                });
            }
        }
    }
    Ok(provisions.into_values().collect())
}

/// How the build resolves closures: against `root` (the host or a sysroot) behind the image, with the
/// image's LD_LIBRARY_PATH, the NSS modules when `nss`, and the loader's directories (the image being
/// built has no ld.so.cache yet).
fn closure_options(root: &Path, ld_library_path: &[String], nss: bool) -> ClosureOptions {
    ClosureOptions {
        root: root.to_path_buf(),
        ld_library_path: ld_library_path.to_vec(),
        nss,
        ld_so_cache: false,
    }
}

/// The image as it will be: `view` with the copies (and their parent directories) on top.
fn with_copies(view: &ImageView, artifacts: &LayerTree) -> Result<ImageView> {
    let mut copies = artifacts.clone();
    copies.add_parents(&|p| view.get(p).cloned());
    let mut image = view.clone();
    image.apply(&copies)?;
    Ok(image)
}

/// The dynamically linked ELF files among `artifacts`: image path, host file, ELF facts.
fn dynamic_programs(
    artifacts: &LayerTree,
) -> Result<Vec<(String, std::path::PathBuf, pare_elf::ElfFacts)>> {
    let mut programs = Vec::new();
    for (path, entry) in artifacts.iter() {
        let EntryKind::File {
            source: FileSource::Host(host),
            ..
        } = &entry.kind
        else {
            continue;
        };
        let Some(bytes) = read_if_dynamic_elf(host)? else {
            continue;
        };
        let facts = pare_elf::inspect(&bytes)
            .map_err(|e| Error::Input(format!("{}: {e}", host.display())))?;
        programs.push((format!("/{path}"), host.clone(), facts));
    }
    Ok(programs)
}

/// Builds the libraries layer for the dynamic ELF files among `artifacts`: their closures, then
/// the plugins they trigger (`crate::plugins`) but for those named in `no_plugins`.
pub fn libraries_layer(
    artifacts: &LayerTree,
    view: &ImageView,
    root: &Path,
    ld_library_path: &[String],
    no_plugins: &[String],
    reporter: &dyn Reporter,
) -> Result<(LayerTree, Vec<AddedLibrary>)> {
    let mut additions = Additions {
        tree: LayerTree::new(),
        added: Vec::new(),
        artifacts,
        view,
    };
    // Missing soname -> (who needs it, where the loader looked).
    let mut missing: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut has_glibc = false;
    // What the closures load and import, for the plugin table; and their library directories.
    let mut loaded: BTreeSet<String> = BTreeSet::new();
    let mut imports: BTreeSet<String> = BTreeSet::new();
    let mut triples: BTreeSet<&'static str> = BTreeSet::new();
    let options = closure_options(
        root,
        ld_library_path,
        !no_plugins.iter().any(|p| p == "nss"),
    );
    let image = with_copies(view, artifacts)?;
    let lookup = ImageThenHost {
        image: &image,
        host: HostRoot::new(root),
    };
    for (image_path, host, facts) in dynamic_programs(artifacts)? {
        if let Some(a) = pare_elf::arch::by_machine(facts.machine, facts.is_64) {
            triples.insert(a.triple);
        }
        let closure = resolve_in(&lookup, &image_path, facts, &options)
            .map_err(|e| Error::Input(format!("{}: {e}", host.display())))?;
        loaded.extend(closure.libraries.iter().map(|l| l.name.clone()));
        imports.extend(closure.triggers.iter().cloned());
        for (name, by) in &closure.missing {
            let entry = missing.entry(name.clone()).or_default();
            if !entry.0.contains(by) {
                entry.0.push(by.clone());
            }
            if entry.1.is_empty() {
                entry.1 = closure.searched.get(name).cloned().unwrap_or_default();
            }
        }
        has_glibc |= closure
            .libraries
            .iter()
            .any(|l| l.name.starts_with("libc.so."));
        for (needed_path, needed) in closure.paths {
            additions.add(
                needed_path,
                &needed.path,
                &needed.reason,
                &image_path,
                &image_path,
            )?;
        }
    }
    if !missing.is_empty() {
        return Err(Error::Refused(missing_libraries_message(&missing, root)));
    }
    add_plugins(
        &mut additions,
        &lookup,
        &options,
        &PluginNeeds {
            loaded: loaded.into_iter().collect(),
            imports: imports.into_iter().collect(),
            glibc: has_glibc,
            triples,
        },
        no_plugins,
        reporter,
    )?;
    let Additions {
        mut tree,
        mut added,
        ..
    } = additions;
    record_host_packages(&mut tree, &mut added, view, artifacts, root)?;
    if has_glibc && view.resolve("/etc/hosts").is_err() && artifacts.get("etc/hosts").is_none() {
        tree.insert("etc/hosts".into(), Entry::bytes(HOSTS.as_bytes(), 0o644))?;
        added.push(AddedLibrary {
            path: "/etc/hosts".into(),
            reason: "glibc's files NSS module reads it to resolve localhost (runtimes that mount their own hide it)"
                .into(),
            package: None,
            program: String::new(),
        });
    }
    if !added.is_empty() {
        reporter.step(&format!("shared libraries: {} paths added", added.len()));
    }
    Ok((tree, added))
}

/// What the closures of a build load and import.
struct PluginNeeds {
    loaded: Vec<String>,
    imports: Vec<String>,
    glibc: bool,
    triples: BTreeSet<&'static str>,
}

/// Adds the files of every triggered plugin (and the libraries they need) from the image or the
/// host; NSS modules are the closure's own business (`ClosureOptions::nss`).
fn add_plugins(
    additions: &mut Additions<'_>,
    lookup: &ImageThenHost<'_>,
    options: &ClosureOptions,
    needs: &PluginNeeds,
    no_plugins: &[String],
    reporter: &dyn Reporter,
) -> Result<()> {
    let plugin_options = ClosureOptions {
        nss: false,
        ..options.clone()
    };
    for plugin in triggered(&needs.loaded, &needs.imports, needs.glibc, no_plugins) {
        if plugin.name == "nss" {
            continue;
        }
        let reason = format!("plugin {}: {}", plugin.name, plugin.why);
        for triple in &needs.triples {
            let dir = format!("/usr/lib/{triple}");
            let files: Vec<String> = match plugin.brings {
                Brings::Directories(dirs) => dirs
                    .iter()
                    .flat_map(|d| files_below(lookup, &format!("{dir}/{d}")))
                    .collect(),
                Brings::Files(files) => files.iter().map(|f| format!("{dir}/{f}")).collect(),
            };
            for file in files {
                let Some(steps) = path_steps(lookup, &file) else {
                    continue;
                };
                let real = steps.last().map(|(p, _)| p.clone()).unwrap_or_default();
                for (path, needed) in &steps {
                    additions.add(path.clone(), needed, &reason, &file, "")?;
                }
                // The plugin's own libraries, resolved like any object's.
                let Ok(Some(facts)) = lookup.elf_facts(&real) else {
                    continue;
                };
                let closure = resolve_in(lookup, &real, facts, &plugin_options)
                    .map_err(|e| Error::Input(format!("plugin {file}: {e}")))?;
                for (name, _) in &closure.missing {
                    reporter.warn(&format!(
                        "plugin {file} needs {name}, which neither the image nor the host has; it will fail to load"
                    ));
                }
                for (path, needed) in closure.paths {
                    additions.add(path, &needed.path, &reason, &file, "")?;
                }
            }
        }
    }
    Ok(())
}

/// Plugins whose files Debian packages bring in whether or not anything loads them, and that a
/// build leaves out of its package layers when nothing can: glibc's gconv modules (8 MB of libc6,
/// loaded only through `iconv_open`). The others stay: OpenSSL's providers are small and wanted by
/// any program that links libcrypto, which a user's image adds later.
const PRUNABLE_PLUGINS: &[&str] = &["gconv"];

/// A plugin's files a build left out of its package layers, and why.
#[derive(Clone, Debug, Serialize)]
pub struct PrunedPlugin {
    pub name: String,
    /// The directories removed (`/usr/lib/x86_64-linux-gnu/gconv`).
    pub directories: Vec<String>,
    pub files: usize,
    pub bytes: u64,
    pub why: String,
}

/// Leaves a prunable plugin's directories (`PRUNABLE_PLUGINS`) out of the Debian package layers
/// when no object of the image that something can load (`crate::plugins::loadable`, over the
/// package layers and the copies) triggers it, or when `off` names it; `keep` keeps it regardless.
pub fn prune_unloaded_plugins(
    package_layers: &mut [crate::layers::PlannedLayer],
    artifacts: &LayerTree,
    keep: &[String],
    off: &[String],
    reporter: &dyn Reporter,
) -> Result<Vec<PrunedPlugin>> {
    // The image's ELF objects, a later layer's file over an earlier one's.
    let mut elf: BTreeMap<String, pare_elf::ElfFacts> = BTreeMap::new();
    for tree in package_layers.iter().map(|l| &l.tree).chain([artifacts]) {
        for (path, entry) in tree.iter() {
            let EntryKind::File { source, .. } = &entry.kind else {
                continue;
            };
            let facts = match source {
                FileSource::Bytes(bytes) if pare_elf::is_elf(bytes) => {
                    pare_elf::inspect(bytes).ok()
                }
                FileSource::Bytes(_) => None,
                FileSource::Host(host) => {
                    read_if_dynamic_elf(host)?.and_then(|bytes| pare_elf::inspect(&bytes).ok())
                }
            };
            match facts {
                Some(facts) => elf.insert(path.clone(), facts),
                None => elf.remove(path),
            };
        }
    }
    let glibc = elf
        .values()
        .any(|f| f.soname.as_deref() == Some("libc.so.6"));
    let objects: Vec<crate::plugins::Object<'_>> = elf
        .iter()
        .map(|(path, f)| crate::plugins::Object {
            path,
            soname: f.soname.as_deref(),
            needed: &f.needed,
            triggers: &f.triggers,
        })
        .collect();
    let mut pruned = Vec::new();
    for name in PRUNABLE_PLUGINS {
        let Some(plugin) = crate::plugins::named(name) else {
            continue;
        };
        let why = if off.iter().any(|o| o == name) {
            format!("--no-plugin {name}")
        } else if keep.iter().any(|k| k == name) {
            continue;
        } else if let Some(user) = crate::plugins::first_trigger(&objects, plugin, glibc) {
            reporter.step(&format!(
                "plugin {name} kept: /{} can load it ({})",
                objects[user].path, plugin.why
            ));
            continue;
        } else {
            format!(
                "nothing in the image that can be loaded triggers it ({}); --plugin {name} keeps it",
                plugin.why
            )
        };
        let Brings::Directories(dirs) = plugin.brings else {
            continue;
        };
        let prefixes: Vec<String> = pare_elf::arch::ARCHITECTURES
            .iter()
            .flat_map(|a| {
                dirs.iter()
                    .map(move |d| format!("usr/lib/{}/{d}", a.triple))
            })
            .collect();
        let mut removed = PrunedPlugin {
            name: name.to_string(),
            directories: Vec::new(),
            files: 0,
            bytes: 0,
            why,
        };
        for layer in package_layers.iter_mut() {
            layer.tree.retain(|path, entry| {
                let Some(prefix) = prefixes
                    .iter()
                    .find(|p| path == p.as_str() || path.starts_with(&format!("{p}/")))
                else {
                    return true;
                };
                let directory = format!("/{prefix}");
                if !removed.directories.contains(&directory) {
                    removed.directories.push(directory);
                }
                if let EntryKind::File { size, .. } = &entry.kind {
                    removed.files += 1;
                    removed.bytes += size;
                }
                false
            });
        }
        if removed.files > 0 {
            removed.directories.sort();
            reporter.step(&format!(
                "plugin {name} left out of the packages: {} files, {} bytes ({})",
                removed.files, removed.bytes, removed.why
            ));
            pruned.push(removed);
        }
    }
    Ok(pruned)
}

/// The files in `dir` of `root` and in its subdirectories one level down (sorted).
fn files_below(root: &dyn Root, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut names = root.names_in(dir);
    names.sort();
    for name in names {
        let path = format!("{dir}/{name}");
        match root.node(&path) {
            Some(Node::Dir) => {
                let mut inner = root.names_in(&path);
                inner.sort();
                out.extend(
                    inner
                        .into_iter()
                        .map(|n| format!("{path}/{n}"))
                        .filter(|p| !matches!(root.node(p), Some(Node::Dir) | None)),
                );
            }
            Some(_) => out.push(path),
            None => {}
        }
    }
    out
}

/// Attributes every file the closure copied from the host to the host package that owns it (the
/// root's dpkg database) and records those packages the distroless way, in
/// `/var/lib/dpkg/status.d/<name>` with `<name>.md5sums` listing only the copied files, so scanners
/// and `pare inventory` see them. A root without a dpkg database records nothing; a package the image
/// already records (a Debian recipe's) is not recorded twice.
fn record_host_packages(
    tree: &mut LayerTree,
    added: &mut [AddedLibrary],
    view: &ImageView,
    artifacts: &LayerTree,
    root: &Path,
) -> Result<()> {
    if added.is_empty() {
        return Ok(());
    }
    let Some(db) = RootDatabase::read(root)
        .map_err(|e| Error::Input(format!("the dpkg database of {}: {e}", root.display())))?
    else {
        return Ok(());
    };
    let mut by_package: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for library in added.iter_mut() {
        if let Some((key, record)) = db.owner(&library.path) {
            library.package = Some(format!("{} {}", record.name, record.version));
            by_package
                .entry(key.to_string())
                .or_insert_with(|| (record.name.clone(), BTreeSet::new()))
                .1
                .insert(library.path.clone());
        }
    }
    for (key, (name, paths)) in by_package {
        let record_path = format!("{STATUS_DIR}/{name}");
        if view.get(&record_path).is_some() || artifacts.get(&record_path).is_some() {
            continue;
        }
        let Some(record) = db.status_record(&key) else {
            continue;
        };
        let md5sums = db
            .md5sums_for(&key, &paths)
            .map_err(|e| Error::Input(format!("the dpkg database of {}: {e}", root.display())))?;
        tree.insert(record_path, Entry::bytes(record.into_bytes(), 0o644))?;
        if !md5sums.is_empty() {
            tree.insert(
                format!("{STATUS_DIR}/{name}.md5sums"),
                Entry::bytes(md5sums.into_bytes(), 0o644),
            )?;
        }
    }
    Ok(())
}

/// The refusal for libraries found neither in the image nor on the host: one line per soname with
/// who needs it and where the loader looked, then what to do.
fn missing_libraries_message(
    missing: &BTreeMap<String, (Vec<String>, Vec<String>)>,
    root: &Path,
) -> String {
    let mut text = format!(
        "the image would not start: {} shared {} neither in the image nor on the build host (root {}):",
        missing.len(),
        if missing.len() == 1 { "library is" } else { "libraries are" },
        root.display()
    );
    for (name, (needed_by, searched)) in missing {
        text.push_str(&format!(
            "\n  {name} (needed by {}); looked in {}",
            needed_by.join(", "),
            if searched.is_empty() {
                "nothing (no search directory applies)".to_string()
            } else {
                searched.join(", ")
            }
        ));
    }
    text.push_str(
        "\nShip each with --copy into a directory the program's RPATH or RUNPATH names (or one of the \
         loader's default directories), add the Debian package that provides it (--package NAME), \
         point --sysroot at a root that has it (--sysroot OS/ARCH=DIR for one platform's \
         programs: an arm64 root for arm64), or link statically.",
    );
    text
}

/// The image being built (base and copies) in front of the build host or sysroot: what the image
/// has is found there, everything else on the host.
struct ImageThenHost<'a> {
    image: &'a ImageView,
    host: HostRoot,
}

impl ImageThenHost<'_> {
    fn in_image(&self, path: &str) -> bool {
        self.image.get(path.trim_start_matches('/')).is_some()
    }
}

impl Root for ImageThenHost<'_> {
    fn node(&self, path: &str) -> Option<Node> {
        self.image.node(path).or_else(|| self.host.node(path))
    }

    fn read(&self, path: &str, limit: u64) -> std::result::Result<Vec<u8>, pare_elf::Error> {
        if self.in_image(path) {
            self.image.read(path, limit)
        } else {
            self.host.read(path, limit)
        }
    }

    fn names_in(&self, dir: &str) -> Vec<String> {
        let mut names = Root::names_in(self.image, dir);
        names.extend(self.host.names_in(dir));
        names.sort();
        names.dedup();
        names
    }

    fn mode(&self, path: &str) -> Option<(u32, u32, u32)> {
        if self.in_image(path) {
            self.image.mode(path)
        } else {
            self.host.mode(path)
        }
    }

    fn elf_facts(
        &self,
        path: &str,
    ) -> std::result::Result<Option<pare_elf::ElfFacts>, pare_elf::Error> {
        if self.in_image(path) {
            self.image.elf_facts(path)
        } else {
            self.host.elf_facts(path)
        }
    }

    fn source(&self, path: &str) -> std::path::PathBuf {
        if self.in_image(path) {
            self.image.source(path)
        } else {
            self.host.source(path)
        }
    }

    fn front(&self) -> Option<&dyn Root> {
        Some(self.image)
    }
}

/// Reads a host file whole if it is a dynamically linked ELF file; None for anything else.
fn read_if_dynamic_elf(host: &Path) -> Result<Option<Vec<u8>>> {
    let mut file = std::fs::File::open(host).map_err(Error::io("open", host))?;
    let mut prefix = Vec::new();
    (&mut file)
        .take(pare_elf::PREFIX_LEN as u64)
        .read_to_end(&mut prefix)
        .map_err(Error::io("read", host))?;
    if !pare_elf::is_elf(&prefix) {
        return Ok(None);
    }
    match pare_elf::inspect_static_prefix(&prefix) {
        Ok(Some(_)) => return Ok(None),
        Ok(None) => {}
        // A malformed ELF is reported by the entrypoint check if it matters; here it needs nothing.
        Err(_) => return Ok(None),
    }
    let mut bytes = prefix;
    file.take(MAX_BINARY)
        .read_to_end(&mut bytes)
        .map_err(Error::io("read", host))?;
    match pare_elf::inspect(&bytes) {
        Ok(facts) if facts.linkage == pare_elf::Linkage::Dynamic => Ok(Some(bytes)),
        _ => Ok(None),
    }
}
