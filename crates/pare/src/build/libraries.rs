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

use pare_elf::closure::{resolve_in, ClosureOptions, NeededPath};
use pare_elf::root::{HostRoot, Node, Root};
use pare_oci::tree::{normalize_image_path, Entry, EntryKind, FileSource, LayerTree};
use pare_pkg::dpkg_db::{RootDatabase, STATUS_DIR};
use serde::Serialize;

use crate::layers::view::ImageView;
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
}

/// What glibc's `files` NSS module reads for `localhost` when the runtime mounts no /etc/hosts.
const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// Builds the libraries layer for the dynamic ELF files among `artifacts`.
pub fn libraries_layer(
    artifacts: &LayerTree,
    view: &ImageView,
    root: &Path,
    ld_library_path: &[String],
    reporter: &dyn Reporter,
) -> Result<(LayerTree, Vec<AddedLibrary>)> {
    let mut tree = LayerTree::new();
    let mut added: Vec<AddedLibrary> = Vec::new();
    // Missing soname -> (who needs it, where the loader looked).
    let mut missing: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut has_glibc = false;
    let options = ClosureOptions {
        root: root.to_path_buf(),
        ld_library_path: ld_library_path.to_vec(),
        nss: true,
        ld_so_cache: false,
    };
    // The copies with their parent directories, as they will be in the image.
    let mut copies = artifacts.clone();
    copies.add_parents(&|p| view.get(p).cloned());
    let mut image = view.clone();
    image.apply(&copies)?;
    let lookup = ImageThenHost {
        image: &image,
        host: HostRoot::new(root),
    };
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
        let image_path = format!("/{path}");
        let closure = pare_elf::inspect(&bytes)
            .and_then(|facts| resolve_in(&lookup, &image_path, facts, &options))
            .map_err(|e| Error::Input(format!("{}: {e}", host.display())))?;
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
            let key = normalize_image_path(&needed_path)?;
            if artifacts.get(&key).is_some() || view.get(&key).is_some() || tree.get(&key).is_some()
            {
                continue;
            }
            let entry = match &needed.path {
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
            tree.insert(key, entry).map_err(|e| {
                Error::Input(format!(
                    "the libraries of {image_path} do not fit with the copies: {e}"
                ))
            })?;
            added.push(AddedLibrary {
                path: needed_path,
                reason: needed.reason,
                package: None,
            });
        }
    }
    if !missing.is_empty() {
        return Err(Error::Refused(missing_libraries_message(&missing, root)));
    }
    record_host_packages(&mut tree, &mut added, view, artifacts, root)?;
    if has_glibc && view.resolve("/etc/hosts").is_err() && artifacts.get("etc/hosts").is_none() {
        tree.insert("etc/hosts".into(), Entry::bytes(HOSTS.as_bytes(), 0o644))?;
        added.push(AddedLibrary {
            path: "/etc/hosts".into(),
            reason: "glibc's files NSS module reads it to resolve localhost (runtimes that mount their own hide it)"
                .into(),
            package: None,
        });
    }
    if !added.is_empty() {
        reporter.step(&format!("shared libraries: {} paths added", added.len()));
    }
    Ok((tree, added))
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
         point --sysroot at a root that has it, or link statically.",
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
