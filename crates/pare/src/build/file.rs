//! `pare.toml`: the same settings as `pare build`'s flags, declared in a file. Relative paths in it
//! are relative to the file's own directory, so a build means the same wherever it is started from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pare_oci::compress::Compression;
use pare_oci::image::Platform;
use pare_oci::reference::ImageRef;
use serde::Deserialize;

use super::options::{parse_mode, Base, BuildOptions, CaBundle, CopySpec};
use crate::{Error, Result};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildFile {
    #[serde(default)]
    pub image: ImageSection,
    #[serde(default)]
    pub build: BuildSection,
    #[serde(default)]
    pub copy: Vec<CopyEntry>,
    #[serde(default)]
    pub packages: PackagesSection,
    /// `[python]`: bytecode for fast starts.
    #[serde(default)]
    pub python: PythonSection,
    /// `[lint]`: `pare lint`'s settings (checked there, not by build).
    #[serde(default)]
    pub lint: Option<toml::Table>,
}

/// `[packages]`: Debian packages beyond the recipe, and how they are locked and installed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackagesSection {
    /// Extra packages, resolved with their dependencies (`libpq5`, `name=version`).
    #[serde(default)]
    pub debian: Vec<String>,
    /// More names whose dependencies are dropped.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Names taken off the default list of script-only dependencies (e.g. `dpkg`).
    #[serde(default)]
    pub keep: Vec<String>,
    pub recommends: Option<bool>,
    /// Lock file path (default `pare.lock` beside this file).
    pub lock: Option<String>,
    pub keep_copyright: Option<bool>,
    pub allow_insecure_repositories: Option<bool>,
    /// Repositories to use instead of the host's apt sources.
    #[serde(default)]
    pub repository: Vec<RepositoryEntry>,
}

/// `[python]`: Python bytecode compiled at build time by the image's own interpreter.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonSection {
    /// `"all"`, `"imported"` or `"none"` (the default).
    pub bytecode: Option<String>,
    /// Commands run beside the image's program in the traced run (`imported`), shell-quoted.
    #[serde(default)]
    pub probes: Vec<String>,
    /// HTTP probes `PORT/PATH` against the program in the traced run.
    #[serde(default)]
    pub http: Vec<String>,
    /// Seconds the program may run before it counts as a service, and each probe may take.
    pub timeout: Option<u64>,
}

/// One `[[packages.repository]]`: an apt repository suite and its keyring.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryEntry {
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    /// Keyring file (binary or armored) that signs its InRelease; default: apt's trusted keys.
    pub keyring: Option<String>,
}

/// `[image]`: what the image is and how it runs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    pub base: Option<String>,
    /// A path (`"/web"`) or the words (`["/web", "--port", "80"]`), as `--entrypoint` takes them.
    pub entrypoint: Option<Words>,
    pub cmd: Option<Words>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    /// Ports as numbers (`8080`) or `PORT/PROTO` strings (`"53/udp"`), as `--expose` takes them.
    pub expose: Vec<Port>,
    pub stop_signal: Option<String>,
    pub tzdata: Option<bool>,
    /// A PEM file, or `false` for no CA bundle.
    pub ca_bundle: Option<CaSetting>,
    pub platform: Option<String>,
    /// Several platforms: one image each, in one OCI index.
    pub platforms: Option<Vec<String>>,
    /// Add shared libraries of dynamic binaries (default true).
    pub closure: Option<bool>,
    /// Root to resolve libraries in.
    pub sysroot: Option<String>,
    /// Roots for one platform's programs: `{ "linux/arm64" = "sysroot-arm64" }`.
    #[serde(default)]
    pub sysroots: BTreeMap<String, String>,
    /// Plugins not to add (see `pare::plugins`).
    pub no_plugins: Option<Vec<String>>,
    pub plugins: Option<Vec<String>>,
}

/// One word or a list of words (`entrypoint = "/web"` or `["/web", "serve"]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Words {
    One(String),
    Many(Vec<String>),
}

impl Words {
    fn into_vec(self) -> Vec<String> {
        match self {
            Words::One(w) => vec![w],
            Words::Many(ws) => ws,
        }
    }
}

/// A port as a number (`8080`) or a string (`"8080/tcp"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Port {
    Number(u32),
    Text(String),
}

impl Port {
    fn into_string(self) -> String {
        match self {
            Port::Number(n) => n.to_string(),
            Port::Text(t) => t,
        }
    }
}

/// `ca_bundle = "path"` or `ca_bundle = false`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum CaSetting {
    Path(String),
    Enabled(bool),
}

/// `[build]`: where the image goes and how it is written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    pub output: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub compression: Option<String>,
    /// SBOM formats to attach (`spdx-json`, `cyclonedx-json`).
    #[serde(default)]
    pub sbom: Vec<String>,
}

/// One `[[copy]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyEntry {
    pub src: String,
    pub dst: String,
    /// Octal string ("0755") or TOML octal integer (0o755).
    pub mode: Option<ModeSetting>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Only for this platform's image of a multi-platform build.
    pub platform: Option<String>,
}

/// A file mode as written in TOML.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ModeSetting {
    Text(String),
    Number(u32),
}

/// Reads and parses a pare.toml.
pub fn load(path: &Path) -> Result<BuildFile> {
    let bytes = pare_oci::layout::read_bounded(path, 1 << 20)
        .map_err(|e| Error::Input(format!("cannot read build file: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Input(format!("{} is not UTF-8 text", path.display())))?;
    toml::from_str(&text)
        .map_err(|e| Error::Input(format!("{} is not a valid pare.toml: {e}", path.display())))
}

impl BuildFile {
    /// Applies the file onto `options`; `dir` is the file's directory.
    pub fn apply(self, dir: &Path, options: &mut BuildOptions) -> Result<()> {
        let relative = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            }
        };
        let image = self.image;
        if let Some(base) = image.base {
            options.base = match Base::parse(&base)? {
                Base::Image { written, reference } => Base::Image {
                    written,
                    reference: relative_ref(reference, dir),
                },
                other => other,
            };
        }
        options.entrypoint = image
            .entrypoint
            .map(Words::into_vec)
            .or(options.entrypoint.take());
        options.cmd = image.cmd.map(Words::into_vec).or(options.cmd.take());
        options.user = image.user.or(options.user.take());
        options.workdir = image.workdir.or(options.workdir.take());
        options.env.extend(image.env);
        options.labels.extend(image.labels);
        options.annotations.extend(image.annotations);
        options
            .expose
            .extend(image.expose.into_iter().map(Port::into_string));
        options.stop_signal = image.stop_signal.or(options.stop_signal.take());
        if let Some(tz) = image.tzdata {
            options.tzdata = tz;
        }
        match image.ca_bundle {
            None | Some(CaSetting::Enabled(true)) => {}
            Some(CaSetting::Enabled(false)) => options.ca_bundle = CaBundle::Omit,
            Some(CaSetting::Path(p)) => options.ca_bundle = CaBundle::File(relative(&p)),
        }
        if let Some(closure) = image.closure {
            options.closure = closure;
        }
        if let Some(root) = image.sysroot {
            options.sysroot = relative(&root);
        }
        for (platform, root) in image.sysroots {
            let platform = Platform::parse(&platform).map_err(|e| {
                Error::Input(format!(
                    "[image] sysroots: {platform:?} is not a platform: {e}"
                ))
            })?;
            options.platform_sysroots.push((platform, relative(&root)));
        }
        if let Some(off) = image.no_plugins {
            crate::plugins::check_names("[image] no_plugins", &off)?;
            options.no_plugins = off;
        }
        if let Some(keep) = image.plugins {
            crate::plugins::check_names("[image] plugins", &keep)?;
            options.keep_plugins = keep;
        }
        if let Some(platform) = image.platform {
            options.platform = Platform::parse(&platform)?;
        }
        if let Some(platforms) = image.platforms {
            options.platforms = platforms
                .iter()
                .map(|p| Platform::parse(p))
                .collect::<std::result::Result<_, _>>()?;
        }
        let python = self.python;
        options.bytecode.set(
            python.bytecode.as_deref(),
            &python.probes,
            &python.http,
            python.timeout,
            &super::bytecode::SettingNames {
                which: "[python] bytecode =",
                timeout: "[python] timeout",
            },
        )?;
        let packages = self.packages;
        options.packages.debian.extend(packages.debian);
        options.packages.exclude.extend(packages.exclude);
        options.packages.keep.extend(packages.keep);
        if let Some(r) = packages.recommends {
            options.packages.recommends = r;
        }
        options.packages.lock_file = match packages.lock {
            Some(lock) => relative(&lock),
            None => dir.join("pare.lock"),
        };
        if let Some(k) = packages.keep_copyright {
            options.packages.keep_copyright = k;
        }
        if let Some(a) = packages.allow_insecure_repositories {
            options.packages.allow_insecure = a;
        }
        for (index, entry) in packages.repository.into_iter().enumerate() {
            let what = format!("[[packages.repository]] #{}", index + 1);
            if !(entry.uri.starts_with("http://")
                || entry.uri.starts_with("https://")
                || entry.uri.starts_with("file:/"))
                || entry.components.is_empty()
            {
                return Err(Error::Input(format!(
                    "{what}: uri must be http://, https:// or file:/ and components must not be empty"
                )));
            }
            options
                .packages
                .repositories
                .push(pare_pkg::sources::Repository {
                    uri: entry.uri.trim_end_matches('/').to_string(),
                    suite: entry.suite,
                    components: entry.components,
                    signed_by: match entry.keyring {
                        Some(k) => pare_pkg::sources::SignedBy::Files(vec![relative(&k)]),
                        None => pare_pkg::sources::SignedBy::Default,
                    },
                    trusted: false,
                    origin: what,
                });
        }
        for entry in self.copy {
            let mode = match entry.mode {
                None => None,
                Some(ModeSetting::Number(n)) if n <= 0o7777 => Some(n),
                Some(ModeSetting::Number(n)) => {
                    return Err(Error::Input(format!(
                        "[[copy]] {}: mode {n} is larger than 0o7777",
                        entry.src
                    )))
                }
                Some(ModeSetting::Text(t)) => Some(
                    parse_mode(&t)
                        .map_err(|e| Error::Input(format!("[[copy]] {}: {e}", entry.src)))?,
                ),
            };
            let platform = match &entry.platform {
                Some(p) => Some(Platform::parse(p)?),
                None => None,
            };
            options.copies.push(CopySpec {
                src: relative(&entry.src),
                dst: entry.dst,
                mode,
                uid: entry.uid,
                gid: entry.gid,
                platform,
            });
        }
        if let Some(output) = self.build.output {
            options.output = Some(relative_ref(ImageRef::parse(&output)?, dir));
        }
        options.extra_tags.extend(self.build.tags);
        for name in self.build.sbom {
            let format = crate::sbom::SbomFormat::parse(&name).ok_or_else(|| {
                Error::Input(format!(
                    "[build] sbom {name:?} is not one of spdx-json, cyclonedx-json"
                ))
            })?;
            if !options.sbom.contains(&format) {
                options.sbom.push(format);
            }
        }
        if let Some(c) = self.build.compression {
            options.compression = Some(Compression::parse(&c).ok_or_else(|| {
                Error::Input(format!(
                    "[build] compression {c:?} is not one of gzip, zstd, none"
                ))
            })?);
        }
        Ok(())
    }
}

/// Makes the path of a file-based reference relative to `dir`.
fn relative_ref(reference: ImageRef, dir: &Path) -> ImageRef {
    let fix = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
    match reference {
        ImageRef::Layout { dir: d, tag } => ImageRef::Layout { dir: fix(d), tag },
        ImageRef::OciArchive { file, tag } => ImageRef::OciArchive {
            file: fix(file),
            tag,
        },
        ImageRef::DockerArchive { file, name } => ImageRef::DockerArchive {
            file: fix(file),
            name,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_take_what_the_flags_take() {
        let file: BuildFile = toml::from_str(
            "[image]\nentrypoint = \"/web\"\ncmd = \"serve\"\nexpose = [8080, \"53/udp\"]\n",
        )
        .unwrap();
        let mut options = BuildOptions::default();
        file.apply(Path::new("/proj"), &mut options).unwrap();
        assert_eq!(options.entrypoint, Some(vec!["/web".to_string()]));
        assert_eq!(options.cmd, Some(vec!["serve".to_string()]));
        assert_eq!(options.expose, ["8080", "53/udp"]);
    }

    #[test]
    fn build_sbom_names_the_formats_once_each() {
        let file: BuildFile =
            toml::from_str("[build]\nsbom = [\"spdx-json\", \"cyclonedx-json\", \"spdx-json\"]\n")
                .unwrap();
        let mut options = BuildOptions::default();
        file.apply(Path::new("/proj"), &mut options).unwrap();
        assert_eq!(
            options.sbom,
            [
                crate::sbom::SbomFormat::SpdxJson,
                crate::sbom::SbomFormat::CycloneDxJson
            ]
        );
        let bad: BuildFile = toml::from_str("[build]\nsbom = [\"spdx\"]\n").unwrap();
        let err = bad
            .apply(Path::new("/proj"), &mut BuildOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("spdx-json"), "{err}");
    }

    #[test]
    fn a_full_file_applies() {
        let file: BuildFile = toml::from_str(
            r#"
[image]
base = "scratch"
entrypoint = ["/app"]
env = { RUST_LOG = "info" }
expose = ["8080"]
ca_bundle = false
[build]
output = "oci:out:v1"
tags = ["latest"]
compression = "zstd"
[[copy]]
src = "bin/app"
dst = "/app"
mode = 0o755
[[copy]]
src = "/abs/conf"
dst = "/etc/app/"
mode = "0644"
uid = 65532
gid = 65532
"#,
        )
        .unwrap();
        let mut options = BuildOptions::default();
        file.apply(Path::new("/proj"), &mut options).unwrap();
        assert_eq!(options.base, Base::Scratch);
        assert_eq!(options.copies[0].src, PathBuf::from("/proj/bin/app"));
        assert_eq!(options.copies[0].mode, Some(0o755));
        assert_eq!(options.copies[1].src, PathBuf::from("/abs/conf"));
        assert_eq!(options.ca_bundle, CaBundle::Omit);
        assert_eq!(options.compression, Some(Compression::Zstd));
        assert_eq!(options.output.unwrap().to_string(), "oci:/proj/out:v1");
    }

    #[test]
    fn an_image_base_is_found_beside_the_file_and_locked_as_written() {
        let file: BuildFile = toml::from_str("[image]\nbase = \"oci:layouts/base:1\"\n").unwrap();
        let mut options = BuildOptions::default();
        file.apply(Path::new("/proj"), &mut options).unwrap();
        let Base::Image { written, reference } = &options.base else {
            panic!("{:?}", options.base);
        };
        assert_eq!(written, "oci:layouts/base:1");
        assert_eq!(reference.to_string(), "oci:/proj/layouts/base:1");
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<BuildFile>("[image]\nbsae = \"static\"\n").is_err());
        assert!(toml::from_str::<BuildFile>("[image\n").is_err());
    }
}
