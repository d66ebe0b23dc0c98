//! What `ldconfig` would have done after Debian packages were installed: the `/etc/ld.so.cache` that
//! lets the dynamic loader (and `dlopen` users such as Python's ctypes) find libraries by soname,
//! including those in directories that packages list under `/etc/ld.so.conf.d/`. It scans the merged
//! package trees the way glibc's ldconfig scans a root: the configured directories, then the
//! architecture's built-in ones, each directory once however it is reached, `lib*`/`ld-*` files with
//! `.so` in their names that are ELF shared objects for the image's machine. Not done: glibc-hwcaps
//! subdirectories and running anything inside the image. The cache bytes come from
//! [`pare_elf::ldcache::write_ld_so_cache`]; the interop test compares them with the real ldconfig's.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use pare_elf::ldcache::{write_ld_so_cache, CacheEntry};
use pare_oci::tree::{Entry, EntryKind, FileSource};

use crate::layers::view::ImageView;
use crate::Result;

/// Where the cache goes in the image.
pub const LD_SO_CACHE: &str = "etc/ld.so.cache";

/// How the loader of a Debian architecture names its libraries.
struct Machine {
    multiarch: &'static str,
    elf_machine: u16,
    is_64: bool,
    /// The architecture bits of a cache entry's flags.
    arch_flags: u32,
}

/// The machine of a Debian architecture, from the one architecture table; None where pare does not
/// know the cache flags (then no cache is written).
fn machine(debian_architecture: &str) -> Option<Machine> {
    let a = pare_elf::arch::by_debian(debian_architecture)?;
    Some(Machine {
        multiarch: a.triple,
        elf_machine: a.elf_machine,
        is_64: a.is_64,
        arch_flags: a.ld_cache_flags?,
    })
}

/// The normalized path `path` finally names in the image, if it resolves.
fn resolved(view: &ImageView, path: &str) -> Option<String> {
    view.resolve(path).ok().map(|(key, _)| key)
}

/// The bytes of a regular file (None for anything else), borrowed when pare holds them already.
fn file_bytes<'a>(view: &ImageView, entry: &'a Entry) -> Result<Option<Cow<'a, [u8]>>> {
    match &entry.kind {
        EntryKind::File {
            source: FileSource::Bytes(bytes),
            ..
        } => Ok(Some(Cow::Borrowed(bytes))),
        EntryKind::File { .. } => view.read_file(entry, u64::MAX).map(|b| Some(Cow::Owned(b))),
        _ => Ok(None),
    }
}

/// The directories `etc/ld.so.conf` names (following `include` globs of the form `dir/*.conf` or
/// single files), in order. Without an `etc/ld.so.conf` (libc-bin, which owns it, is not installed in
/// these images) Debian's own default is used: `include /etc/ld.so.conf.d/*.conf`.
fn configured_directories(view: &ImageView) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let main = view.resolve("etc/ld.so.conf").ok();
    let text = match main.map(|(_, entry)| file_bytes(view, entry)).transpose()? {
        Some(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => "include /etc/ld.so.conf.d/*.conf\n".to_string(),
    };
    read_conf(view, &text, &mut out, 0)?;
    Ok(out)
}

fn read_conf(view: &ImageView, text: &str, out: &mut Vec<String>, depth: usize) -> Result<()> {
    if depth > 8 {
        return Ok(()); // an include loop: ldconfig would warn and go on
    }
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with("hwcap ") {
            continue;
        }
        if let Some(pattern) = line.strip_prefix("include") {
            for pattern in pattern.split_whitespace() {
                for file in conf_files(view, pattern) {
                    let Some(entry) = view.get(&file) else {
                        continue;
                    };
                    if let Some(bytes) = file_bytes(view, entry)? {
                        read_conf(view, &String::from_utf8_lossy(&bytes), out, depth + 1)?;
                    }
                }
            }
            continue;
        }
        // Directory lines may be separated by spaces, tabs, commas or colons.
        for dir in line.split(|c: char| c.is_whitespace() || c == ',' || c == ':') {
            if dir.starts_with('/') {
                out.push(dir.trim_end_matches('/').to_string());
            }
        }
    }
    Ok(())
}

/// The files an include pattern names: a plain path, or `dir/prefix*suffix` (the only glob Debian's
/// configuration uses), sorted as glob(3) sorts them.
fn conf_files(view: &ImageView, pattern: &str) -> Vec<String> {
    let relative = pattern.trim_start_matches('/');
    let Some((dir, glob)) = relative.rsplit_once('/') else {
        return Vec::new();
    };
    let Some(canonical_dir) = resolved(view, dir) else {
        return Vec::new();
    };
    match glob.split_once('*') {
        None => resolved(view, relative).into_iter().collect(),
        Some((prefix, suffix)) => view
            .names_in(&canonical_dir)
            .into_iter()
            .filter(|n| {
                n.len() >= prefix.len() + suffix.len()
                    && n.starts_with(prefix)
                    && n.ends_with(suffix)
                    && !n.starts_with('.')
            })
            .filter_map(|n| resolved(view, &format!("{canonical_dir}/{n}")))
            .collect(),
    }
}

/// What ldconfig would have written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdCache {
    /// The `/etc/ld.so.cache` file.
    pub bytes: Vec<u8>,
    /// Soname links ldconfig would have made where a package did not ship them: (path, target).
    pub links: Vec<(String, String)>,
}

/// The ld.so.cache for `view` (the package layers applied in order), an image of
/// `debian_architecture`. None when no library is found or the architecture is not one pare knows
/// the cache flags of.
pub fn ld_so_cache(view: &ImageView, debian_architecture: &str) -> Result<Option<LdCache>> {
    let Some(machine) = machine(debian_architecture) else {
        return Ok(None);
    };
    let mut directories = configured_directories(view)?;
    for builtin in [
        format!("/lib/{}", machine.multiarch),
        format!("/usr/lib/{}", machine.multiarch),
        "/lib".to_string(),
        "/usr/lib".to_string(),
    ] {
        directories.push(builtin);
    }
    let mut seen_dirs = BTreeSet::new();
    let mut entries = Vec::new();
    let mut links = Vec::new();
    for dir in directories {
        let Some(canonical) = resolved(view, dir.trim_start_matches('/')) else {
            continue;
        };
        if !matches!(
            view.get(&canonical).map(|e| &e.kind),
            Some(EntryKind::Directory)
        ) || !seen_dirs.insert(canonical.clone())
        {
            continue;
        }
        // Per directory: key -> the name of the file that provides it.
        let mut found: BTreeMap<String, String> = BTreeMap::new();
        for name in view.names_in(&canonical) {
            if name.starts_with('.')
                || !(name.starts_with("lib") || name.starts_with("ld-"))
                || !name.contains(".so")
            {
                continue;
            }
            let path = format!("{canonical}/{name}");
            let is_link = matches!(
                view.get(&path).map(|e| &e.kind),
                Some(EntryKind::Symlink { .. })
            );
            let Ok((target, entry)) = view.resolve(&path) else {
                continue; // a dangling link
            };
            let Some(bytes) = file_bytes(view, entry)? else {
                continue; // a directory (hwcap subdirectories are not scanned)
            };
            if !pare_elf::is_elf(&bytes) {
                continue; // a linker script such as libc.so
            }
            let Ok(facts) = pare_elf::inspect(&bytes) else {
                continue;
            };
            if !facts.is_shared_object
                || facts.machine != machine.elf_machine
                || facts.is_64 != machine.is_64
            {
                continue;
            }
            let soname = facts.soname.clone().unwrap_or_else(|| name.clone());
            // A link keeps its own name only when it is the `.so` development link for ld(1) whose
            // name starts the soname (`libz.so` -> libz.so.1); any other name is filed under the
            // soname, like a regular file.
            let key = if is_link
                && name != soname
                && name.ends_with(".so")
                && soname.starts_with(&name)
            {
                name.clone()
            } else {
                soname
            };
            let file_name = target.rsplit('/').next().unwrap_or(&target).to_string();
            found.entry(key).or_insert(file_name);
        }
        let shown = dir.trim_end_matches('/');
        for (key, file_name) in found {
            if view.get(&format!("{canonical}/{key}")).is_none() {
                links.push((format!("{canonical}/{key}"), file_name));
            }
            entries.push(CacheEntry {
                path: format!("{shown}/{key}"),
                soname: key,
                arch: machine.arch_flags,
            });
        }
    }
    if entries.is_empty() {
        return Ok(None);
    }
    Ok(Some(LdCache {
        bytes: write_ld_so_cache(&entries),
        links,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pare_elf::ldcache::parse_ld_so_cache;
    use pare_oci::tree::LayerTree;

    /// A real x86-64 shared object with a soname: the host's libc (always there on Debian amd64).
    fn host_library() -> Option<Vec<u8>> {
        [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
        ]
        .iter()
        .find_map(|p| std::fs::read(p).ok())
    }

    #[test]
    fn scans_configured_and_builtin_directories_once() {
        let Some(libc) = host_library() else {
            eprintln!("SKIP: no x86-64 libc on this host");
            return;
        };
        let mut base = LayerTree::new();
        for (path, entry) in [
            ("usr", Entry::dir(0o755)),
            ("usr/lib", Entry::dir(0o755)),
            ("usr/lib/x86_64-linux-gnu", Entry::dir(0o755)),
            ("lib", Entry::symlink("usr/lib")),
            (
                "usr/lib/x86_64-linux-gnu/libc.so.6",
                Entry::bytes(libc.clone(), 0o755),
            ),
            // The development link keeps its own name; other links go under the soname.
            (
                "usr/lib/x86_64-linux-gnu/libc.so",
                Entry::symlink("libc.so.6"),
            ),
            (
                "usr/lib/x86_64-linux-gnu/libc-alias.so.6",
                Entry::symlink("/lib/x86_64-linux-gnu/libc.so.6"),
            ),
            (
                "usr/lib/x86_64-linux-gnu/libnot.so.1",
                Entry::bytes(b"INPUT(x)".to_vec(), 0o644),
            ),
            (
                "usr/lib/x86_64-linux-gnu/libdangling.so.1",
                Entry::symlink("nowhere"),
            ),
        ] {
            base.insert(path.into(), entry).unwrap();
        }
        let mut extra = LayerTree::new();
        for (path, entry) in [
            ("etc", Entry::dir(0o755)),
            ("etc/ld.so.conf.d", Entry::dir(0o755)),
            (
                "etc/ld.so.conf.d/private.conf",
                Entry::bytes(b"# a private dir\n/opt/private/lib\n".to_vec(), 0o644),
            ),
            ("opt", Entry::dir(0o755)),
            ("opt/private", Entry::dir(0o755)),
            ("opt/private/lib", Entry::dir(0o755)),
            ("opt/private/lib/libprivate-1.so", Entry::bytes(libc, 0o644)),
        ] {
            extra.insert(path.into(), entry).unwrap();
        }
        let mut view = ImageView::default();
        view.apply(&base).unwrap();
        view.apply(&extra).unwrap();
        let LdCache { bytes, links } = ld_so_cache(&view, "amd64").unwrap().unwrap();
        let read = parse_ld_so_cache(&bytes).unwrap();
        let listed: Vec<(&str, &str)> = read
            .iter()
            .map(|e| (e.soname.as_str(), e.path.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("libc.so.6", "/opt/private/lib/libc.so.6"),
                ("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"),
                ("libc.so", "/lib/x86_64-linux-gnu/libc.so"),
            ]
        );
        // ldconfig would have linked the soname inside the private directory.
        assert_eq!(
            links,
            [(
                "opt/private/lib/libc.so.6".to_string(),
                "libprivate-1.so".to_string()
            )]
        );
        assert!(ld_so_cache(&view, "s390x").unwrap().is_none());
        assert!(ld_so_cache(&ImageView::default(), "amd64")
            .unwrap()
            .is_none());
    }
}
