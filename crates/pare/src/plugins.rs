//! Code a program loads at run time that no DT_NEEDED entry names, as one table: what triggers each
//! plugin, what it brings, and why. `build` adds a triggered plugin's files (from the image, else the
//! build host or sysroot) unless `--no-plugin NAME` turns it off; `audit` reports, as info, an image
//! whose library would look for a plugin directory the image lacks. Not here: the closure of the
//! plugins themselves (the libraries they need are resolved like any other object's).
//!
//! | name | trigger | brings | why |
//! |---|---|---|---|
//! | `openssl` | libcrypto.so.3 in the closure | `ossl-modules/*.so`, `engines-3/*.so` | OpenSSL 3 loads providers (`legacy`, `fips`) and engines by path at run time; a program that asks for one fails with "cannot open shared object file" without them |
//! | `libgcc_s` | glibc and an import of `pthread_cancel` or `pthread_exit` | `libgcc_s.so.1` | glibc dlopens it to unwind a cancelled or exiting thread, and aborts when it is missing |
//! | `gconv` | an import of `iconv_open` | `gconv/` (`gconv-modules`, `gconv-modules.d/`, the modules) | glibc's iconv loads a module per character set other than UTF-8 and ASCII |
//! | `nss` | glibc | `libnss_files.so.2`, `libnss_dns.so.2` (and `/etc/hosts`) | glibc loads NSS modules to resolve users and host names (`nsswitch.conf`: files, dns) |

use std::collections::BTreeMap;

use crate::{Error, Result};

/// What makes a plugin needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A library of this soname is loaded.
    Library(&'static str),
    /// Some object imports one of these functions, and the C library is glibc.
    GlibcImports(&'static [&'static str]),
    /// Some object imports one of these functions.
    Imports(&'static [&'static str]),
    /// The C library is glibc.
    Glibc,
}

/// What a plugin brings, relative to the library directory of the architecture
/// (`/usr/lib/<triple>/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Brings {
    /// Every file of these directories (and of their subdirectories one level down).
    Directories(&'static [&'static str]),
    /// These files.
    Files(&'static [&'static str]),
}

/// One entry of the table.
#[derive(Clone, Copy, Debug)]
pub struct Plugin {
    /// The name `--no-plugin` takes.
    pub name: &'static str,
    pub trigger: Trigger,
    pub brings: Brings,
    pub why: &'static str,
}

/// The plugins pare knows.
pub const PLUGINS: &[Plugin] = &[
    Plugin {
        name: "openssl",
        trigger: Trigger::Library("libcrypto.so.3"),
        brings: Brings::Directories(&["ossl-modules", "engines-3"]),
        why: "OpenSSL 3 loads its providers (legacy, fips) and engines at run time",
    },
    Plugin {
        name: "libgcc_s",
        trigger: Trigger::GlibcImports(&["pthread_cancel", "pthread_exit"]),
        brings: Brings::Files(&["libgcc_s.so.1"]),
        why: "glibc loads it to unwind a cancelled or exiting thread",
    },
    Plugin {
        name: "gconv",
        trigger: Trigger::Imports(&["iconv_open"]),
        brings: Brings::Directories(&["gconv"]),
        why: "glibc's iconv loads a module for each character set other than UTF-8 and ASCII",
    },
    Plugin {
        name: "nss",
        trigger: Trigger::Glibc,
        brings: Brings::Files(&["libnss_files.so.2", "libnss_dns.so.2"]),
        why: "glibc loads NSS modules to resolve users and host names (nsswitch.conf: files, dns)",
    },
];

/// The table's entry of this name.
pub fn named(name: &str) -> Option<&'static Plugin> {
    PLUGINS.iter().find(|p| p.name == name)
}

/// Checks the plugin names given to `setting` (`--no-plugin`, `[image] plugins`) against the table.
pub fn check_names(setting: &str, names: &[String]) -> Result<()> {
    for name in names {
        if !PLUGINS.iter().any(|p| p.name == name) {
            return Err(Error::Input(format!(
                "{setting} {name:?}: pare knows the plugins {}",
                PLUGINS
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// The plugins an image needs: `libraries` are the sonames its closure loads, `imports` the
/// plugin-trigger functions its objects import (`pare_elf::PLUGIN_TRIGGERS`), `glibc` whether the C
/// library is glibc; `off` the names turned off.
pub fn triggered<'a>(
    libraries: &[String],
    imports: &[String],
    glibc: bool,
    off: &'a [String],
) -> impl Iterator<Item = &'static Plugin> + 'a {
    let libraries = libraries.to_vec();
    let imports = imports.to_vec();
    PLUGINS.iter().filter(move |p| {
        !off.iter().any(|o| o == p.name)
            && match p.trigger {
                Trigger::Library(soname) => libraries.iter().any(|l| l == soname),
                Trigger::GlibcImports(names) => {
                    glibc && imports.iter().any(|i| names.contains(&i.as_str()))
                }
                Trigger::Imports(names) => imports.iter().any(|i| names.contains(&i.as_str())),
                Trigger::Glibc => glibc,
            }
    })
}

/// One ELF object of an image, as far as "can anything load it" asks.
#[derive(Clone, Copy, Debug)]
pub struct Object<'a> {
    /// Its path in the image.
    pub path: &'a str,
    /// DT_SONAME, for libraries.
    pub soname: Option<&'a str>,
    /// DT_NEEDED.
    pub needed: &'a [String],
    /// The plugin-trigger functions it imports (`pare_elf::PLUGIN_TRIGGERS`).
    pub triggers: &'a [String],
}

/// True for a path directly in a directory the loader searches by name (`/usr/lib`,
/// `/usr/lib/<triple>`, `/lib64`, `/usr/local/lib`, ...). A library there is loaded only when
/// something names it: a DT_NEEDED entry, or a `dlopen` of its soname.
pub fn in_library_directory(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let dir = dir.strip_prefix("usr/").unwrap_or(dir);
    let dir = dir.strip_prefix("local/").unwrap_or(dir);
    match dir.split_once('/') {
        None => matches!(dir, "lib" | "lib64" | "lib32"),
        Some(("lib", sub)) => pare_elf::arch::ARCHITECTURES
            .iter()
            .any(|a| a.triple == sub),
        Some(_) => false,
    }
}

/// The objects of an image that can be loaded at run time, as indices into `objects`: every
/// program, every shared object outside the loader's library directories (a Python extension, a
/// Node add-on, a plugin: loaded by path), and, transitively, every library one of those names in
/// DT_NEEDED (matched by soname or file name, wherever it is: more than ld.so would find, never
/// less). A library nothing names is left out: only a `dlopen` of its name (Python's `ctypes`, say)
/// would load it.
pub fn loadable(objects: &[Object<'_>]) -> Vec<usize> {
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, o) in objects.iter().enumerate() {
        let file = o.path.rsplit('/').next().unwrap_or(o.path);
        by_name.entry(file).or_default().push(i);
        if let Some(soname) = o.soname.filter(|s| *s != file) {
            by_name.entry(soname).or_default().push(i);
        }
    }
    let mut reached = vec![false; objects.len()];
    let mut queue: Vec<usize> = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        if o.soname.is_none() || !in_library_directory(o.path) {
            reached[i] = true;
            queue.push(i);
        }
    }
    while let Some(i) = queue.pop() {
        for name in objects[i].needed {
            for &j in by_name.get(name.as_str()).into_iter().flatten() {
                if !reached[j] {
                    reached[j] = true;
                    queue.push(j);
                }
            }
        }
    }
    (0..objects.len()).filter(|&i| reached[i]).collect()
}

/// The loadable object (see [`loadable`]) that triggers `plugin` on its own, if any, as an index
/// into `objects`: the first by path. `glibc` says whether the image's C library is glibc.
pub fn first_trigger(objects: &[Object<'_>], plugin: &Plugin, glibc: bool) -> Option<usize> {
    loadable(objects)
        .into_iter()
        .filter(|&i| {
            let o = &objects[i];
            let loaded: Vec<String> = o.soname.iter().map(|s| s.to_string()).collect();
            triggered(&loaded, o.triggers, glibc, &[]).any(|p| p.name == plugin.name)
        })
        .min_by_key(|&i| objects[i].path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_pick_the_plugins() {
        let names = |libraries: &[&str], imports: &[&str], glibc: bool, off: &[String]| {
            let libraries: Vec<String> = libraries.iter().map(|s| s.to_string()).collect();
            let imports: Vec<String> = imports.iter().map(|s| s.to_string()).collect();
            triggered(&libraries, &imports, glibc, off)
                .map(|p| p.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&["libcrypto.so.3"], &[], true, &[]),
            ["openssl", "nss"]
        );
        assert_eq!(
            names(&[], &["pthread_exit"], true, &[]),
            ["libgcc_s", "nss"]
        );
        assert_eq!(
            names(&[], &["pthread_exit"], false, &[]),
            Vec::<&str>::new()
        );
        assert_eq!(
            names(&[], &["iconv_open"], true, &["nss".into()]),
            ["gconv"]
        );
        assert!(check_names("--no-plugin", &["gconv".into()]).is_ok());
        assert!(check_names("--no-plugin", &["openssl3".into()]).is_err());
    }

    #[test]
    fn library_directories_are_the_loaders() {
        for path in [
            "usr/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/lib/aarch64-linux-gnu/libc.so.6",
            "usr/lib/libz.so.1",
            "usr/local/lib/libfoo.so",
            "lib64/libbar.so",
        ] {
            assert!(in_library_directory(path), "{path}");
        }
        for path in [
            "usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so",
            "usr/lib/x86_64-linux-gnu/gconv/IBM1047.so",
            "app/node_modules/x/build/Release/x.node",
            "usr/lib/jvm/java-17/lib/libjava.so",
            "libtop.so",
        ] {
            assert!(!in_library_directory(path), "{path}");
        }
    }

    #[test]
    fn only_what_something_loads_counts() {
        let none: Vec<String> = Vec::new();
        let iconv = vec!["iconv_open".to_string()];
        let needs_stdcxx = vec!["libstdc++.so.6".to_string(), "libc.so.6".to_string()];
        let needs_c = vec!["libc.so.6".to_string()];
        let lib = |path, soname, needed, triggers| Object {
            path,
            soname: Some(soname),
            needed,
            triggers,
        };
        let stdcxx = lib(
            "usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30",
            "libstdc++.so.6",
            &needs_c,
            &iconv,
        );
        let libc = lib(
            "usr/lib/x86_64-linux-gnu/libc.so.6",
            "libc.so.6",
            &none,
            &none,
        );
        let python = Object {
            path: "usr/bin/python3.11",
            soname: None,
            needed: &needs_c,
            triggers: &none,
        };
        let gconv = named("gconv").expect("gconv is in the table");
        // Nothing names libstdc++: its iconv_open does not count.
        let objects = [stdcxx, libc, python];
        assert_eq!(loadable(&objects), [1, 2]);
        assert!(first_trigger(&objects, gconv, true).is_none());
        // A C++ extension module (outside the library directories) names it.
        let extension = Object {
            path: "usr/lib/python3/dist-packages/x.cpython-311-x86_64-linux-gnu.so",
            soname: None,
            needed: &needs_stdcxx,
            triggers: &none,
        };
        let objects = [stdcxx, libc, python, extension];
        assert_eq!(loadable(&objects), [0, 1, 2, 3]);
        assert_eq!(
            first_trigger(&objects, gconv, true).map(|i| objects[i].path),
            Some(stdcxx.path)
        );
        // A program that imports iconv_open itself, found by file name through a symlinked soname.
        let iconv_user = Object {
            path: "app/convert",
            soname: None,
            needed: &needs_c,
            triggers: &iconv,
        };
        let objects = [stdcxx, libc, iconv_user];
        assert_eq!(
            first_trigger(&objects, gconv, true).map(|i| objects[i].path),
            Some("app/convert")
        );
    }
}
