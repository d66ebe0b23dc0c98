//! The options of `pare build`, one struct that flags and pare.toml both fill in, with the defaults a
//! minimal non-root image wants.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pare_oci::compress::Compression;
use pare_oci::image::Platform;
use pare_oci::reference::ImageRef;

pub use crate::bases::{Base, CaBundle, CA_BUNDLE_PATH, NONROOT_ID};
use crate::packages::PackageOptions;
use crate::{Error, Result};

/// The PATH every image gets unless the user sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where the build host keeps its CA bundle (Debian, Ubuntu, Alpine, Arch).
pub const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Where the build host keeps its time zone database.
pub const HOST_ZONEINFO: &str = "/usr/share/zoneinfo";

/// One `--copy SRC:DST[:MODE[:UID:GID]]` or `[[copy]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopySpec {
    /// File or directory on the build host.
    pub src: PathBuf,
    /// Absolute path in the image; a trailing `/` puts a file under that directory by its own name.
    pub dst: String,
    /// Mode for every regular file this copy adds (default: the source file's permission bits).
    pub mode: Option<u32>,
    /// Owner for every entry this copy adds (default 0:0).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The one platform of a multi-platform build this copy is for (`linux/arm64=SRC:DST`);
    /// None: every platform.
    pub platform: Option<Platform>,
}

/// Splits the `OS/ARCH[/VARIANT]=` that limits a flag's value to one platform (`--copy
/// linux/arm64=SRC:DST`, `--sysroot linux/arm64=DIR`) from the value. Text before the first `=`
/// is a platform when it has a `/`, no `:`, and does not begin like a path (`/`, `.`, `~`);
/// anything else is all value.
pub fn split_platform<'a>(text: &'a str, flag: &str) -> Result<(Option<Platform>, &'a str)> {
    match text.split_once('=') {
        Some((p, rest))
            if p.contains('/') && !p.contains(':') && !p.starts_with(['/', '.', '~']) =>
        {
            let platform = Platform::parse(p).map_err(|e| {
                Error::Input(format!("{flag} {text:?}: {p:?} is not a platform: {e}"))
            })?;
            Ok((Some(platform), rest))
        }
        _ => Ok((None, text)),
    }
}

impl CopySpec {
    /// Parses `[PLATFORM=]SRC:DST[:MODE[:UID:GID]]` (MODE in octal; may be empty to keep the
    /// source's mode; PLATFORM as `linux/arm64` limits the copy to that platform's image).
    pub fn parse(text: &str) -> Result<Self> {
        let (platform, text) = split_platform(text, "--copy")?;
        let parts: Vec<&str> = text.split(':').collect();
        let bad = |why: &str| {
            Error::Input(format!(
                "--copy {text:?}: {why}; write SRC:DST, SRC:DST:MODE or SRC:DST:MODE:UID:GID \
                 (for example target/release/app:/app:0755)"
            ))
        };
        let (src, dst, mode, owner) = match parts.as_slice() {
            [src, dst] => (*src, *dst, None, None),
            [src, dst, mode] => (*src, *dst, Some(*mode), None),
            [src, dst, mode, uid, gid] => (*src, *dst, Some(*mode), Some((*uid, *gid))),
            _ => return Err(bad("wrong number of ':'-separated fields")),
        };
        if src.is_empty() || dst.is_empty() {
            return Err(bad("SRC and DST must not be empty"));
        }
        let mode = match mode {
            None | Some("") => None,
            Some(m) => Some(parse_mode(m).map_err(|e| bad(&e))?),
        };
        let (uid, gid) = match owner {
            None => (None, None),
            Some((u, g)) => (
                Some(u.parse::<u32>().map_err(|_| bad("UID must be a number"))?),
                Some(g.parse::<u32>().map_err(|_| bad("GID must be a number"))?),
            ),
        };
        Ok(Self {
            src: PathBuf::from(src),
            dst: dst.to_string(),
            mode,
            uid,
            gid,
            platform,
        })
    }
}

/// Parses an octal mode such as `0755` or `755`, at most `07777`.
pub fn parse_mode(text: &str) -> std::result::Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 && !digits.is_empty() => Ok(mode),
        _ => Err(format!(
            "mode {text:?} is not an octal mode between 0 and 07777"
        )),
    }
}

/// Everything `pare build` needs.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub base: Base,
    pub copies: Vec<CopySpec>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `KEY=VALUE` pairs in order; later ones replace earlier ones with the same key.
    pub env: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    /// Manifest annotations (`org.opencontainers.image.source`, ...).
    pub annotations: BTreeMap<String, String>,
    /// `uid[:gid]` or `name[:group]`; default 65532:65532.
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// `port[/proto]` entries.
    pub expose: Vec<String>,
    pub stop_signal: Option<String>,
    pub ca_bundle: CaBundle,
    /// Add the host's time zone database (without the `right/` and `posix/` copies).
    pub tzdata: bool,
    /// Where the time zone database is read from.
    pub zoneinfo_dir: PathBuf,
    /// Where the default CA bundle is read from.
    pub host_ca_bundle: PathBuf,
    pub platform: Platform,
    /// Layer compression; default gzip, or none for docker-archive (what `docker save` writes).
    pub compression: Option<Compression>,
    /// Timestamp for every file and the `created` field (SOURCE_DATE_EPOCH), default 0.
    pub source_date_epoch: u64,
    pub output: Option<ImageRef>,
    /// Tags beyond the one in the output reference.
    pub extra_tags: Vec<String>,
    /// Reuse layers already stored in the output layout (default on).
    pub reuse_layers: bool,
    /// Bring the loader and shared libraries of copied dynamic ELF files (default on).
    pub closure: bool,
    /// The root libraries are resolved against (default `/`, the build host).
    pub sysroot: PathBuf,
    /// Roots for one platform's programs (`--sysroot linux/arm64=DIR`, `[image] sysroots`): an
    /// arm64 program's libraries come from an arm64 root, not the build host's.
    pub platform_sysroots: Vec<(Platform, PathBuf)>,
    /// Plugins of `crate::plugins::PLUGINS` not to add (`openssl`, `libgcc_s`, `gconv`, `nss`).
    pub no_plugins: Vec<String>,
    /// Plugins to keep in the Debian package layers even when nothing in the image triggers them
    /// (`build::libraries::prune_unloaded_plugins`).
    pub keep_plugins: Vec<String>,
    /// For a `docker://` output: allow plain HTTP to a registry that is not on loopback.
    pub insecure: bool,
    /// For a `docker://` output: credentials (default: the usual auth files).
    pub credentials: Option<pare_registry::Credentials>,
    /// Debian packages: extra packages, lock file, cache, `--debug` (the recipe is `base`).
    pub packages: PackageOptions,
    /// Python bytecode for fast starts (`[python]`, `--bytecode`).
    pub bytecode: super::bytecode::BytecodeOptions,
    /// SBOMs to attach to the image as OCI 1.1 referrers (`--sbom`, `[build] sbom`).
    pub sbom: Vec<crate::sbom::SbomFormat>,
    /// What the attached SBOMs name the image (default: the output reference's name, as `pare
    /// sbom` names it); a multi-platform build names each platform's image after the index's
    /// output, not after the layout it is built in.
    pub sbom_name: Option<String>,
    /// Sign what the build wrote, and attest its provenance and SBOMs (`--sign --key`).
    pub sign: Option<SignSettings>,
    /// More than one: build one image per platform into one OCI index (`--platform a,b`,
    /// `[image] platforms`); `platform` is then each in turn.
    pub platforms: Vec<Platform>,
}

/// How `pare build --sign` signs: the key, and the identity to claim (needed for a layout).
#[derive(Clone, Debug)]
pub struct SignSettings {
    pub key: crate::sign::keys::KeyFile,
    pub identity: Option<String>,
}

impl BuildOptions {
    /// The root the libraries of `platform`'s programs are resolved in: that platform's own
    /// sysroot, else [`BuildOptions::sysroot`].
    pub fn sysroot_for(&self, platform: &Platform) -> &std::path::Path {
        self.platform_sysroots
            .iter()
            .find(|(p, _)| p == platform)
            .map_or(self.sysroot.as_path(), |(_, root)| root.as_path())
    }
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            base: Base::default(),
            copies: Vec::new(),
            entrypoint: None,
            cmd: None,
            env: Vec::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            user: None,
            workdir: None,
            expose: Vec::new(),
            stop_signal: None,
            ca_bundle: CaBundle::Default,
            tzdata: false,
            zoneinfo_dir: PathBuf::from(HOST_ZONEINFO),
            host_ca_bundle: PathBuf::from(HOST_CA_BUNDLE),
            platform: Platform::host(),
            compression: None,
            source_date_epoch: 0,
            output: None,
            extra_tags: Vec::new(),
            reuse_layers: true,
            closure: true,
            sysroot: PathBuf::from("/"),
            platform_sysroots: Vec::new(),
            no_plugins: Vec::new(),
            keep_plugins: Vec::new(),
            insecure: false,
            credentials: None,
            packages: PackageOptions::default(),
            bytecode: super::bytecode::BytecodeOptions::default(),
            sbom: Vec::new(),
            sbom_name: None,
            sign: None,
            platforms: Vec::new(),
        }
    }
}

/// Splits `KEY=VALUE` (for --env, --label, --annotation).
pub fn parse_key_value(text: &str, what: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(Error::Input(format!("{what} {text:?} is not KEY=VALUE"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platform_prefix_is_told_from_a_path() {
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert_eq!(
            split_platform("linux/arm64=/srv/root", "--sysroot").unwrap(),
            (Some(arm64), "/srv/root")
        );
        // Paths with `=` in them stay whole: absolute, relative with `./`, home, or with a `:`.
        for whole in ["/srv/a=b", "./a/b=c", "~/x/y=z", "dir/a:b=c:/app", "plain"] {
            assert_eq!(
                split_platform(whole, "--sysroot").unwrap(),
                (None, whole),
                "{whole}"
            );
        }
        let err = split_platform("linux/no-such=/srv", "--sysroot").unwrap_err();
        assert!(err.to_string().contains("is not a platform"), "{err}");
    }

    #[test]
    fn copy_spec_forms() {
        let c = CopySpec::parse("a:/app").unwrap();
        assert_eq!((c.mode, c.uid), (None, None));
        let c = CopySpec::parse("a:/app:0755").unwrap();
        assert_eq!(c.mode, Some(0o755));
        let c = CopySpec::parse("a:/app::1000:1001").unwrap();
        assert_eq!((c.mode, c.uid, c.gid), (None, Some(1000), Some(1001)));
        for bad in ["a", "a:/b:999", "a:/b:0755:x:1", ":/b", "a:/b:1:2"] {
            assert!(CopySpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modes_are_octal_and_bounded() {
        assert_eq!(parse_mode("4755").unwrap(), 0o4755);
        assert!(parse_mode("17777").is_err());
        assert!(parse_mode("").is_err());
        assert!(parse_mode("8").is_err());
    }
}
