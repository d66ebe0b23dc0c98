//! The shared-library layer of a build: for every dynamically linked ELF file the user copies in, the
//! loader and the libraries it needs (resolved by `pare_elf::closure` against the build host or a
//! sysroot) become one layer below the artifacts, each file with the reason it is there. A binary
//! whose needs cannot be met fails the build naming what is missing.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pare_elf::closure::{resolve, ClosureOptions, NeededPath};
use pare_oci::tree::{normalize_image_path, Entry, EntryKind, FileSource, LayerTree};
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
    let mut missing: Vec<String> = Vec::new();
    let mut has_glibc = false;
    let options = ClosureOptions {
        root: root.to_path_buf(),
        ld_library_path: ld_library_path.to_vec(),
        nss: true,
        ld_so_cache: false,
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
        let closure = resolve(&image_path, &bytes, &options)
            .map_err(|e| Error::Input(format!("{}: {e}", host.display())))?;
        for (name, by) in &closure.missing {
            missing.push(format!("{name} (needed by {by})"));
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
            });
        }
    }
    if !missing.is_empty() {
        missing.dedup();
        return Err(Error::Refused(format!(
            "the image would not start: these libraries are not on the build host (root {}): {}. \
             Install them, point --sysroot at a root that has them, or link statically",
            root.display(),
            missing.join(", ")
        )));
    }
    if has_glibc && view.resolve("/etc/hosts").is_err() && artifacts.get("etc/hosts").is_none() {
        tree.insert("etc/hosts".into(), Entry::bytes(HOSTS.as_bytes(), 0o644))?;
        added.push(AddedLibrary {
            path: "/etc/hosts".into(),
            reason: "glibc's files NSS module reads it to resolve localhost (runtimes that mount their own hide it)"
                .into(),
        });
    }
    if !added.is_empty() {
        reporter.step(&format!("shared libraries: {} paths added", added.len()));
    }
    Ok((tree, added))
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
