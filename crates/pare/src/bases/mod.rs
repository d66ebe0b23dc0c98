//! The bases images start from, all in one place: `scratch` (nothing), `static` (pare's own
//! distroless-static equivalent, in `static_base`), the Debian recipes (the package sets pare
//! mirrors from distroless, their layer groups and the dependencies each leaves out), and any image
//! someone else made (`image`). Not here:
//! resolving, fetching or installing packages (`crate::packages`) or writing layers (`crate::layers`).

pub mod image;
pub mod static_base;

use std::path::{Path, PathBuf};

pub use static_base::{add_static_files, base_layers, static_passwd, STATIC_BASE_VERSION};

use pare_oci::reference::ImageRef;

use crate::layers::LayerGroup;
use crate::{Error, Result};

/// The UID and GID images run as unless told otherwise (`nonroot` in the static base).
pub const NONROOT_ID: u32 = 65532;
/// Where images keep their CA bundle.
pub const CA_BUNDLE_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The base an image starts from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Base {
    /// Nothing at all.
    Scratch,
    /// The distroless-static equivalent: passwd/group with nonroot, /tmp, /home/nonroot, nsswitch.conf,
    /// os-release and a CA bundle.
    #[default]
    Static,
    /// A distroless-equivalent package set from Debian ([`Recipe`]).
    Recipe(Recipe),
    /// An image someone else made, named by any image reference ([`image`]): the reference as
    /// written (which pare.lock records) and as it is opened (paths made relative to pare.toml).
    Image {
        written: String,
        reference: ImageRef,
    },
}

/// The transports a base image may be named with.
const IMAGE_TRANSPORTS: [&str; 5] = [
    "oci:",
    "oci-archive:",
    "docker-archive:",
    "docker://",
    "docker-daemon:",
];

impl Base {
    /// Parses a base name or an image reference (`oci:DIR[:TAG]`, `docker://REF[@DIGEST]`, ...).
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "scratch" => Ok(Base::Scratch),
            "static" => Ok(Base::Static),
            other if IMAGE_TRANSPORTS.iter().any(|t| other.starts_with(t)) => {
                Ok(Base::Image {
                    written: other.to_string(),
                    reference: ImageRef::parse(other)?,
                })
            }
            other => Recipe::parse(other).map(Base::Recipe).ok_or_else(|| {
                Error::Input(format!(
                    "unknown base {other:?}; pare knows 'scratch', 'static', the Debian recipes {}                      and images named oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or                      docker://REF[@DIGEST]",
                    RECIPE_NAMES
                ))
            }),
        }
    }

    /// The base's name (for an image, the reference).
    pub fn name(&self) -> String {
        match self {
            Base::Scratch => "scratch".into(),
            Base::Static => "static".into(),
            Base::Recipe(recipe) => recipe.name().into(),
            Base::Image { written, .. } => written.clone(),
        }
    }
}

/// Where the image's CA bundle comes from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum CaBundle {
    /// The build host's bundle for the static base, none for scratch.
    #[default]
    Default,
    /// A PEM file the user names (added for any base).
    File(PathBuf),
    /// No CA bundle.
    Omit,
}

/// What the base layers of a build depend on.
#[derive(Clone, Copy, Debug)]
pub struct BaseOptions<'a> {
    pub base: &'a Base,
    pub ca_bundle: &'a CaBundle,
    /// The build host's CA bundle, used for the static base by default.
    pub host_ca_bundle: &'a Path,
    /// Add the time zone database as a layer of its own (static and scratch bases).
    pub tzdata: bool,
    pub zoneinfo_dir: &'a Path,
}

/// The package sets pare mirrors from distroless (Debian 12), smallest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// base-files, netbase, tzdata and the CA bundle: distroless `static`.
    StaticDebian,
    /// static-debian plus glibc: distroless `base-nossl`.
    BaseNossl,
    /// base-nossl plus OpenSSL: distroless `base`.
    Base,
    /// base plus the GCC runtime libraries: distroless `cc`.
    Cc,
    /// cc plus Debian's python3: distroless `python3`.
    Python3,
    /// cc plus Debian's nodejs.
    Nodejs,
    /// base plus Debian's headless JRE: distroless `java`.
    Java,
}

/// Every recipe name, for messages.
pub const RECIPE_NAMES: &str = "static-debian, base-nossl, base, cc, python3, nodejs, java";
/// The package the `--debug` layer comes from.
pub const DEBUG_PACKAGE: &str = "busybox-static";
/// Applets the debug layer links to busybox.
pub(crate) const BUSYBOX_APPLETS: &[&str] = &[
    "[", "awk", "cat", "chmod", "chown", "cp", "cut", "date", "df", "du", "echo", "env", "find",
    "grep", "head", "hostname", "id", "kill", "less", "ln", "ls", "mkdir", "more", "mv", "netstat",
    "nslookup", "ping", "printf", "ps", "pwd", "rm", "sed", "sh", "sleep", "sort", "stat", "tail",
    "tee", "test", "top", "touch", "tr", "uname", "vi", "wc", "wget", "which", "whoami",
];

impl Recipe {
    /// Parses a recipe name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "static-debian" => Recipe::StaticDebian,
            "base-nossl" => Recipe::BaseNossl,
            "base" => Recipe::Base,
            "cc" => Recipe::Cc,
            "python3" => Recipe::Python3,
            "nodejs" => Recipe::Nodejs,
            "java" => Recipe::Java,
            _ => return None,
        })
    }

    /// The recipe's name.
    pub fn name(self) -> &'static str {
        match self {
            Recipe::StaticDebian => "static-debian",
            Recipe::BaseNossl => "base-nossl",
            Recipe::Base => "base",
            Recipe::Cc => "cc",
            Recipe::Python3 => "python3",
            Recipe::Nodejs => "nodejs",
            Recipe::Java => "java",
        }
    }

    /// Dependencies the recipe leaves out beyond the script-only list, with the reason: the headless
    /// JRE loads these only on demand (printing, sound, smart cards, the NSS PKCS#11 provider) or for its
    /// maintainer scripts, and distroless's java images leave them out too.
    pub fn exclusions(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Recipe::Java => &[
                (
                    "libcups2",
                    "printing; loaded only by java.desktop print services",
                ),
                ("libasound2", "sound; loaded only by javax.sound"),
                (
                    "libpcsclite1",
                    "smart cards; loaded only by javax.smartcardio",
                ),
                ("libnss3", "the optional SunPKCS11-NSS provider"),
                ("util-linux", "used by the JRE's maintainer scripts"),
            ],
            _ => &[],
        }
    }

    /// The recipe's requested packages, grouped by the layer they go into: `base` (shared by every
    /// recipe), `libraries` (the C and C++ runtime), `runtime` (the language).
    pub fn groups(self) -> Vec<(LayerGroup, Vec<&'static str>)> {
        let base = vec!["base-files", "netbase", "tzdata", "ca-certificates"];
        let libc = vec!["libc6"];
        let ssl = vec!["libc6", "libssl3"];
        let cc = vec!["libc6", "libssl3", "libgcc-s1", "libgomp1", "libstdc++6"];
        match self {
            Recipe::StaticDebian => vec![(LayerGroup::Base, base)],
            Recipe::BaseNossl => vec![(LayerGroup::Base, base), (LayerGroup::Libraries, libc)],
            Recipe::Base => vec![(LayerGroup::Base, base), (LayerGroup::Libraries, ssl)],
            Recipe::Cc => vec![(LayerGroup::Base, base), (LayerGroup::Libraries, cc)],
            Recipe::Python3 => vec![
                (LayerGroup::Base, base),
                (LayerGroup::Libraries, cc),
                // What distroless ships: the interpreter and standard library without Debian's
                // python3 metapackages; /usr/bin/python3 is linked like update-alternatives would.
                (
                    LayerGroup::Runtime,
                    vec!["python3.11-minimal", "libpython3.11-stdlib"],
                ),
            ],
            Recipe::Nodejs => vec![
                (LayerGroup::Base, base),
                (LayerGroup::Libraries, cc),
                (LayerGroup::Runtime, vec!["nodejs"]),
            ],
            Recipe::Java => vec![
                (LayerGroup::Base, base),
                (LayerGroup::Libraries, ssl),
                (LayerGroup::Runtime, vec!["openjdk-17-jre-headless"]),
            ],
        }
    }
}
