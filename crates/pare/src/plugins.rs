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

/// Checks `--no-plugin` names against the table.
pub fn check_names(names: &[String]) -> Result<()> {
    for name in names {
        if !PLUGINS.iter().any(|p| p.name == name) {
            return Err(Error::Input(format!(
                "--no-plugin {name:?}: pare knows the plugins {}",
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
        assert!(check_names(&["gconv".into()]).is_ok());
        assert!(check_names(&["openssl3".into()]).is_err());
    }
}
