//! Debian packages in images: the distroless-equivalent recipes, `pare lock` (resolve the recipe and
//! the user's packages against the configured apt repositories and write `pare.lock`), and the
//! package layers `pare build` makes from a lock: downloads into the content-addressed cache, verified
//! extraction, merged-/usr, status.d records, the CA bundle, a Java trust-store-free JRE, and the
//! `--debug` busybox layer. The apt and .deb mechanics are `pare-pkg`'s; this module decides what goes
//! into which layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pare_oci::tree::{Entry, LayerTree};
use pare_pkg::cache::Cache;
use pare_pkg::deb::{read_deb, DataKind, DebContents};
use pare_pkg::fetch::{Expected, Fetcher};
use pare_pkg::index::{IndexOptions, PackageIndex};
use pare_pkg::install::{
    add_merged_usr_links, install_package, take_ca_bundle, InstallOptions, CA_BUNDLE,
};
use pare_pkg::lock::LockedProvision;
use pare_pkg::lock::{Lock, LockRequest, LockedPackage, LockedRepository, LOCK_VERSION};
use pare_pkg::resolve::{resolve, ResolveOptions};
use pare_pkg::sources::{host_repositories, Repository};
use pare_pkg::truststore::{jks, pem_certificates, DEFAULT_PASSWORD, JAVA_CACERTS};
use serde::Serialize;

use crate::bases::BUSYBOX_APPLETS;
pub use crate::bases::{Recipe, DEBUG_PACKAGE, RECIPE_NAMES};
use crate::layers::{LayerGroup, PlannedLayer};
use crate::{Error, Reporter, Result};

/// What the package side of a build or lock needs.
#[derive(Clone, Debug)]
pub struct PackageOptions {
    pub recipe: Option<Recipe>,
    /// Extra packages (`[packages] debian`), resolved with their dependencies.
    pub debian: Vec<String>,
    /// More names whose dependencies are dropped.
    pub exclude: Vec<String>,
    /// Names to take off the default script-only exclusion list.
    pub keep: Vec<String>,
    /// Follow Recommends too.
    pub recommends: bool,
    /// The lock file (default `pare.lock` beside pare.toml or in the current directory).
    pub lock_file: PathBuf,
    /// Write or rewrite `lock_file` when it is missing or stale (`pare lock`, a build from a
    /// pare.toml or with `--lock`); a flag-only build resolves in memory and leaves a project's lock
    /// alone.
    pub write_lock: bool,
    /// Fail instead of re-locking when the lock is missing or stale.
    pub locked: bool,
    /// Root whose apt configuration and keyrings are used (`/`).
    pub apt_root: PathBuf,
    pub allow_insecure: bool,
    pub keep_copyright: bool,
    /// Add the busybox debug layer and make `/busybox/sh` the entrypoint.
    pub debug: bool,
    /// Download cache (default `<pare cache>/debian`).
    pub cache_dir: Option<PathBuf>,
    /// Debian architecture (from the image platform).
    pub architecture: String,
    /// Repositories to use instead of the apt sources under `apt_root`.
    pub repositories: Vec<Repository>,
    /// Packages that provide libraries copied programs need (added by the build, kept by the
    /// lock); resolved into the `extra` layer, not part of the request's digest.
    pub provided: Vec<LockedProvision>,
}

impl Default for PackageOptions {
    fn default() -> Self {
        Self {
            recipe: None,
            debian: Vec::new(),
            exclude: Vec::new(),
            keep: Vec::new(),
            recommends: false,
            lock_file: PathBuf::from("pare.lock"),
            write_lock: true,
            locked: false,
            apt_root: PathBuf::from("/"),
            allow_insecure: false,
            keep_copyright: false,
            debug: false,
            cache_dir: None,
            architecture: "amd64".into(),
            repositories: Vec::new(),
            provided: Vec::new(),
        }
    }
}

impl PackageOptions {
    /// Whether any Debian package is involved.
    pub fn in_use(&self) -> bool {
        self.recipe.is_some() || !self.debian.is_empty()
    }

    fn cache(&self) -> Result<Cache> {
        let dir = match &self.cache_dir {
            Some(d) => d.clone(),
            None => crate::cache_dir()
                .ok_or_else(|| {
                    Error::Input("no cache directory: set PARE_CACHE_DIR or HOME".into())
                })?
                .join("debian"),
        };
        Ok(Cache::new(dir))
    }

    fn repositories(&self) -> Result<Vec<Repository>> {
        if !self.repositories.is_empty() {
            return Ok(self.repositories.clone());
        }
        Ok(host_repositories(&self.apt_root)?)
    }

    /// The request a lock is made from; its digest tells whether a lock is stale.
    pub fn request(&self, repositories: &[Repository]) -> LockRequest {
        let mut exclude: Vec<String> = self.exclusions().into_iter().collect();
        exclude.sort();
        LockRequest {
            recipe: self.recipe.map(|r| r.name().to_string()),
            roots: self
                .groups(false)
                .into_iter()
                .flat_map(|(layer, roots)| {
                    roots
                        .into_iter()
                        .map(move |r| format!("{}:{r}", layer.name()))
                })
                .collect(),
            packages: self.debian.clone(),
            exclude,
            architecture: self.architecture.clone(),
            repositories: repositories.iter().map(Repository::describe).collect(),
        }
    }

    fn exclusions(&self) -> std::collections::BTreeSet<String> {
        let mut set = ResolveOptions::default_exclusions();
        set.extend(self.exclude.iter().cloned());
        if let Some(recipe) = self.recipe {
            set.extend(recipe.exclusions().iter().map(|(name, _)| name.to_string()));
        }
        for k in &self.keep {
            set.remove(k);
        }
        set
    }

    /// The packages to resolve, by layer group: the recipe's groups and the user's packages (what
    /// the request and its digest name), and with `provided` the provided packages in `extra` too.
    fn groups(&self, provided: bool) -> Vec<(LayerGroup, Vec<String>)> {
        let mut groups: Vec<(LayerGroup, Vec<String>)> = self
            .recipe
            .map(|r| {
                r.groups()
                    .into_iter()
                    .map(|(name, roots)| (name, roots.into_iter().map(str::to_string).collect()))
                    .collect()
            })
            .unwrap_or_default();
        let mut extra = self.debian.clone();
        for p in self.provided.iter().filter(|_| provided) {
            if !extra.contains(&p.package) {
                extra.push(p.package.clone());
            }
        }
        if !extra.is_empty() {
            groups.push((LayerGroup::Extra, extra));
        }
        groups
    }
}

/// Maps an OCI architecture (and variant) to Debian's name for it (the architecture table).
pub fn debian_architecture(oci_arch: &str, variant: Option<&str>) -> Result<String> {
    pare_elf::arch::by_oci(oci_arch, variant)
        .map(|a| a.debian.to_string())
        .ok_or_else(|| {
            Error::Input(format!(
                "no Debian architecture for the platform architecture {oci_arch:?}"
            ))
        })
}

/// What `pare lock` did.
#[derive(Clone, Debug, Serialize)]
pub struct LockReport {
    pub lock_file: String,
    pub packages: usize,
    /// Sum of the .deb sizes.
    pub download_size: u64,
    pub layers: BTreeMap<String, usize>,
    /// Dependencies left out, with the reason.
    pub dropped: Vec<String>,
    pub repositories: Vec<String>,
}

/// Resolves the request against the repositories and writes the lock. The packages the lock file
/// already holds for copied programs' libraries (`[[provided]]`) stay in it.
pub fn lock(options: &PackageOptions, reporter: &dyn Reporter) -> Result<(Lock, LockReport)> {
    let repositories = options.repositories()?;
    let mut carried = options.clone();
    if let Ok(existing) = Lock::read_for(&options.lock_file, &options.architecture) {
        // Only from the project's own lock (this run rewrites it) or one made for this very request:
        // a flag-only build beside another project's lock takes nothing from it.
        if options.write_lock || existing.request == options.request(&repositories).digest() {
            for p in existing.provided {
                if !carried.provided.iter().any(|o| o.package == p.package) {
                    carried.provided.push(p);
                }
            }
        }
    }
    let options = &carried;
    reporter.step(&format!(
        "reading {} repositories ({})",
        repositories.len(),
        repositories
            .iter()
            .map(|r| format!("{} {}", r.uri, r.suite))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let index = PackageIndex::load(
        &repositories,
        &IndexOptions {
            architecture: options.architecture.clone(),
            root: options.apt_root.clone(),
            allow_insecure: options.allow_insecure,
            cache: options.cache()?,
            now,
        },
        &Fetcher::new(),
    )?;
    reporter.step(&format!(
        "resolving against {} packages",
        index.packages.len()
    ));
    let exclude = options.exclusions();
    let resolve_roots = |roots: Vec<String>| {
        resolve(
            &index,
            &ResolveOptions {
                roots,
                exclude: exclude.clone(),
                recommends: options.recommends,
                architecture: options.architecture.clone(),
            },
        )
    };
    // Each package goes into the first layer whose cumulative request needs it.
    let mut layer_of: BTreeMap<String, LayerGroup> = BTreeMap::new();
    let mut roots = Vec::new();
    let mut last = None;
    for (layer, group) in options.groups(true) {
        roots.extend(group);
        let resolved = resolve_roots(roots.clone())?;
        for id in &resolved.packages {
            layer_of.entry(index.get(*id).name.clone()).or_insert(layer);
        }
        last = Some(resolved);
    }
    let mut resolved =
        last.ok_or_else(|| Error::Input("nothing to lock: name a recipe or packages".into()))?;
    // The debug layer's package, locked whenever the repositories have it so `--debug` works from
    // the same lock; a repository without it only loses `--debug`.
    let debug = match resolve_roots(vec![DEBUG_PACKAGE.to_string()]) {
        Ok(debug) => debug.packages,
        Err(e) => {
            if options.debug {
                return Err(Error::Input(format!("--debug needs {DEBUG_PACKAGE}: {e}")));
            }
            Vec::new()
        }
    };
    for id in debug {
        let name = index.get(id).name.clone();
        if !layer_of.contains_key(&name) {
            layer_of.insert(name.clone(), LayerGroup::Debug);
            resolved.why.insert(name, "the --debug layer".into());
            resolved.packages.push(id);
        }
    }
    let describe_repo = |i: usize| {
        let r = &index.repositories[i].repository;
        format!("{} {}", r.uri, r.suite)
    };
    let mut packages = Vec::new();
    for id in &resolved.packages {
        let p = index.get(*id);
        packages.push(LockedPackage {
            name: p.name.clone(),
            version: p.version.to_string(),
            architecture: p.architecture.clone(),
            sha256: p.sha256.clone(),
            size: p.size,
            filename: p.filename.clone(),
            repository: describe_repo(p.repository),
            layer: layer_of
                .get(&p.name)
                .copied()
                .unwrap_or(LayerGroup::Extra)
                .name()
                .to_string(),
            why: match options.provided.iter().find(|v| v.package == p.name) {
                Some(v) if !options.debian.contains(&p.name) => {
                    format!("provides {} for {}", v.soname, v.needed_by)
                }
                _ => resolved.why.get(&p.name).cloned().unwrap_or_default(),
            },
        });
    }
    let used: std::collections::BTreeSet<&str> =
        packages.iter().map(|p| p.repository.as_str()).collect();
    let lock = Lock {
        version: LOCK_VERSION,
        request: options.request(&repositories).digest(),
        architecture: options.architecture.clone(),
        base: None,
        repositories: index
            .repositories
            .iter()
            .filter(|r| {
                used.contains(format!("{} {}", r.repository.uri, r.repository.suite).as_str())
            })
            .map(|r| LockedRepository {
                uri: r.repository.uri.clone(),
                suite: r.repository.suite.clone(),
                components: r.repository.components.clone(),
                signed_by: r.signed_by.clone(),
            })
            .collect(),
        packages,
        provided: options.provided.clone(),
        others: Vec::new(),
    };
    if options.write_lock {
        lock.write_merged(&options.lock_file)?;
    }
    let mut layers = BTreeMap::new();
    for p in &lock.packages {
        *layers.entry(p.layer.clone()).or_insert(0) += 1;
    }
    let report = LockReport {
        lock_file: options.lock_file.display().to_string(),
        packages: lock.packages.len(),
        download_size: lock.packages.iter().map(|p| p.size).sum(),
        layers,
        dropped: resolved
            .dropped
            .iter()
            .map(|d| format!("{} -> {}: {}", d.package, d.dependency, d.reason))
            .collect(),
        repositories: repositories.iter().map(Repository::describe).collect(),
    };
    Ok((lock, report))
}

/// The lock a build uses: the existing one when it matches the request, else a new one (refused
/// with `--locked`).
pub fn lock_for_build(
    options: &PackageOptions,
    reporter: &dyn Reporter,
) -> Result<(Lock, LockUse)> {
    let path = &options.lock_file;
    let existed = path.exists();
    if existed {
        let lock = Lock::read_for(path, &options.architecture)?;
        let repositories = options.repositories()?;
        let wanted = options.request(&repositories).digest();
        let provided = options
            .provided
            .iter()
            .all(|p| lock.provided.iter().any(|l| l.package == p.package));
        if lock.request == wanted && provided {
            return Ok((lock, LockUse::Used));
        }
        if lock.request == wanted && options.locked {
            let lacking: Vec<String> = options
                .provided
                .iter()
                .filter(|p| !lock.provided.iter().any(|l| l.package == p.package))
                .map(|p| format!("{} (provides {} for {})", p.package, p.soname, p.needed_by))
                .collect();
            return Err(Error::Input(format!(
                "--locked: {} lacks {}; build once without --locked and commit the lock",
                path.display(),
                lacking.join(", ")
            )));
        }
        if options.locked {
            return Err(Error::Input(format!(
                "{} is stale: it was made for a different recipe, package list, exclusion list, architecture or \
                 set of apt repositories; run `pare lock` and commit the result",
                path.display()
            )));
        }
        if lock.request == wanted {
            reporter.step(&format!(
                "adding the packages that provide copied programs' libraries to {}",
                path.display()
            ));
        } else if options.write_lock {
            reporter.warn(&format!("{} is stale; locking again", path.display()));
        } else {
            reporter.warn(&format!(
                "{} was made for another request; this flag-only build resolves without rewriting it \
                 (run `pare lock`, build from pare.toml, or pass --lock FILE to keep a lock)",
                path.display()
            ));
        }
    } else if options.locked {
        return Err(Error::Input(format!(
            "--locked: no lock file at {}; run `pare lock` first",
            path.display()
        )));
    }
    let lock = lock(options, reporter)?.0;
    let how = match (options.write_lock, existed) {
        (true, true) => LockUse::Rewrote,
        (true, false) => LockUse::Wrote,
        (false, _) => LockUse::Unwritten,
    };
    Ok((lock, how))
}

/// What a build did with its lock file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LockUse {
    /// Read it; it matched the request.
    #[default]
    Used,
    /// There was none: resolved and written.
    Wrote,
    /// It was stale: resolved and rewritten.
    Rewrote,
    /// Resolved in memory; no file written (a flag-only build).
    Unwritten,
}

/// Downloads (or finds in the cache) every locked package of the given layers; returns paths in lock
/// order.
fn fetch_packages(
    lock: &Lock,
    wanted: &[&LockedPackage],
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<Vec<PathBuf>> {
    let fetcher = Fetcher::new();
    let missing: u64 = wanted
        .iter()
        .filter(|p| {
            !matches!(
                cache.get(
                    &Expected {
                        sha256: p.sha256.clone(),
                        size: p.size
                    },
                    false
                ),
                Ok(Some(_))
            )
        })
        .map(|p| p.size)
        .sum();
    if missing > 0 {
        reporter.step(&format!(
            "downloading {} of packages",
            crate::units::human_bytes(missing)
        ));
    }
    wanted
        .iter()
        .map(|p| {
            let url = lock.url(p)?;
            cache
                .fetch(
                    &fetcher,
                    &url,
                    &Expected {
                        sha256: p.sha256.clone(),
                        size: p.size,
                    },
                )
                .map_err(|e| Error::Input(format!("package {} {}: {e}", p.name, p.version)))
        })
        .collect()
}

/// Reads .deb files on all cores (rayon's pool), keeping their order.
fn read_debs(paths: &[PathBuf], names: &[String]) -> Result<Vec<DebContents>> {
    use rayon::prelude::*;
    paths
        .par_iter()
        .zip(names)
        .map(|(path, name)| read_deb(path, name).map_err(Error::from))
        .collect()
}

/// What the package layers hold, for the build report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PackageSummary {
    pub lock_file: String,
    /// `used`, `wrote`, `rewrote` or `unwritten`.
    pub lock: LockUse,
    /// Packages installed (the debug layer's only with `--debug`).
    pub installed: usize,
    /// `name=version` of each installed package, sorted.
    pub packages: Vec<String>,
    /// Packages taken from the repository for a copied program's library, instead of host files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub provided: Vec<LockedProvision>,
}

impl PackageSummary {
    /// The summary of what a lock puts into an image.
    pub fn of(lock: &Lock, how: LockUse, options: &PackageOptions) -> Self {
        let mut packages: Vec<String> = lock
            .packages
            .iter()
            .filter(|p| options.debug || p.layer != LayerGroup::Debug.name())
            .map(|p| format!("{}={}", p.name, p.version))
            .collect();
        packages.sort();
        Self {
            lock_file: options.lock_file.display().to_string(),
            lock: how,
            installed: packages.len(),
            packages,
            provided: lock.provided.clone(),
        }
    }
}

/// The image's package layers from a lock, in order (`base`, `libraries`, `runtime`, `extra`, then
/// `debug` when asked for). `static_files` are pare's own base files (passwd, group, /tmp, ...),
/// added to the first layer. Returns the layers and whether a CA bundle is in them.
pub fn package_layers(
    lock: &Lock,
    options: &PackageOptions,
    static_files: LayerTree,
    reporter: &dyn Reporter,
) -> Result<(Vec<PlannedLayer>, bool)> {
    if let Some(p) = lock
        .packages
        .iter()
        .find(|p| LayerGroup::parse(&p.layer).is_none())
    {
        return Err(Error::Input(format!(
            "{}: package {} is locked into layer {:?}, which pare does not know ({}); run `pare lock` again",
            options.lock_file.display(),
            p.name,
            p.layer,
            LayerGroup::ALL.map(LayerGroup::name).join(", ")
        )));
    }
    let cache = options.cache()?;
    let mut layers: Vec<PlannedLayer> = Vec::new();
    let mut has_ca = false;
    let install = InstallOptions {
        keep_copyright: options.keep_copyright,
    };
    let mut first = true;
    let mut ca_pem: Option<Vec<u8>> = None;
    for group in LayerGroup::ALL {
        let layer_name = group.name();
        if group == LayerGroup::Debug {
            // What ldconfig would have written for everything installed so far, as a layer of its
            // own: the package layers stay the same whether or not more packages follow them, and
            // the debug variant shares it too (busybox is static).
            let mut view = crate::layers::view::ImageView::default();
            for layer in &layers {
                view.apply(&layer.tree)?;
            }
            if let Some(layer) = ld_so_cache_layer(&view, &options.architecture)? {
                reporter.step("ld.so.cache layer: what ldconfig would have written");
                layers.push(layer);
            }
            if !options.debug {
                continue;
            }
        }
        let wanted: Vec<&LockedPackage> = lock
            .packages
            .iter()
            .filter(|p| p.layer == layer_name)
            .collect();
        if wanted.is_empty() {
            if group == LayerGroup::Debug {
                return Err(Error::Input(format!(
                    "--debug: {} locks no {DEBUG_PACKAGE} (the repositories had none when it was made)",
                    options.lock_file.display()
                )));
            }
            continue;
        }
        let paths = fetch_packages(lock, &wanted, &cache, reporter)?;
        let names: Vec<String> = wanted
            .iter()
            .map(|p| format!("{} {} ({})", p.name, p.version, p.filename))
            .collect();
        let debs = read_debs(&paths, &names)?;
        let mut tree = LayerTree::new();
        if group == LayerGroup::Debug {
            debug_tree(&mut tree, &debs)?;
        } else {
            if first {
                for (path, entry) in static_files.iter() {
                    tree.insert(path.clone(), entry.clone())?;
                }
                add_merged_usr_links(&mut tree)?;
            }
            for deb in &debs {
                install_package(&mut tree, deb, &install)?;
            }
            if let Some(bundle) = take_ca_bundle(&mut tree) {
                tree.insert(CA_BUNDLE.into(), Entry::bytes(bundle.clone(), 0o644))?;
                ca_pem = Some(bundle);
                has_ca = true;
            }
            add_alternatives(&mut tree)?;
            add_java_trust_store(&mut tree, ca_pem.as_deref())?;
        }
        first = false;
        reporter.step(&format!("{layer_name} layer: {} packages", wanted.len()));
        layers.push(PlannedLayer {
            tree,
            created_by: format!(
                "pare build: Debian packages ({layer_name}): {}",
                wanted
                    .iter()
                    .map(|p| format!("{}={}", p.name, p.version))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            // The lock's file name only: a host path would make the digest depend on where and
            // how the build was invoked.
            comment: Some(format!(
                "{} packages from {}",
                wanted.len(),
                options
                    .lock_file
                    .file_name()
                    .map_or_else(|| "the lock".into(), |n| n.to_string_lossy())
            )),
            thorough: true,
        });
    }
    Ok((layers, has_ca))
}

/// The layer holding `/etc/ld.so.cache` (and any soname link a package did not ship), or None when the
/// packages hold no shared library.
fn ld_so_cache_layer(
    view: &crate::layers::view::ImageView,
    architecture: &str,
) -> Result<Option<PlannedLayer>> {
    let Some(crate::ldconfig::LdCache {
        bytes: cache,
        links,
    }) = crate::ldconfig::ld_so_cache(view, architecture)?
    else {
        return Ok(None);
    };
    let mut tree = LayerTree::new();
    tree.insert(
        crate::ldconfig::LD_SO_CACHE.into(),
        Entry::bytes(cache, 0o644),
    )?;
    for (path, target) in &links {
        tree.insert(path.clone(), Entry::symlink(target.clone()))?;
    }
    Ok(Some(PlannedLayer {
        tree,
        created_by: "pare build: ldconfig (/etc/ld.so.cache for the package layers)".into(),
        comment: Some(format!(
            "the loader's soname cache{}",
            if links.is_empty() {
                String::new()
            } else {
                format!(" and {} soname links", links.len())
            }
        )),
        thorough: true,
    }))
}

/// The `--debug` layer: busybox at `/busybox/busybox` with links for the common applets, and its
/// status.d record so scanners see it.
fn debug_tree(tree: &mut LayerTree, debs: &[DebContents]) -> Result<()> {
    let busybox = debs
        .iter()
        .flat_map(|d| d.entries.iter())
        .find(|e| e.path == "bin/busybox" || e.path == "usr/bin/busybox")
        .ok_or_else(|| Error::Input(format!("{DEBUG_PACKAGE} holds no bin/busybox")))?;
    let DataKind::File(bytes) = &busybox.kind else {
        return Err(Error::Input(format!(
            "{DEBUG_PACKAGE}'s busybox is not a regular file"
        )));
    };
    for deb in debs {
        let record = pare_pkg::install::status_record(&deb.control);
        let name = record
            .lines()
            .find_map(|l| l.strip_prefix("Package: "))
            .unwrap_or(DEBUG_PACKAGE)
            .to_string();
        tree.insert(
            format!("{}/{name}", pare_pkg::install::STATUS_DIR),
            Entry::bytes(record.into_bytes(), 0o644),
        )?;
    }
    tree.insert("busybox".into(), Entry::dir(0o755))?;
    tree.insert("busybox/busybox".into(), Entry::bytes(bytes.clone(), 0o755))?;
    for applet in BUSYBOX_APPLETS {
        tree.insert(format!("busybox/{applet}"), Entry::symlink("busybox"))?;
    }
    Ok(())
}

/// What `update-alternatives` and the python3 metapackages would have linked for the runtimes the
/// recipes ship: `/usr/bin/java`, `/usr/bin/python3` and `/usr/bin/python`.
fn add_alternatives(tree: &mut LayerTree) -> Result<()> {
    let java: Option<String> = tree
        .iter()
        .map(|(p, _)| p)
        .find(|p| {
            p.starts_with("usr/lib/jvm/") && p.ends_with("/bin/java") && p.matches('/').count() == 5
        })
        .cloned();
    if let Some(java) = java {
        if tree.get("usr/bin/java").is_none() {
            tree.insert("usr/bin/java".into(), Entry::symlink(format!("/{java}")))?;
        }
    }
    // python3.X-minimal without python3-minimal: link python3 and python to the interpreter.
    let python: Option<String> = tree
        .iter()
        .map(|(p, _)| p)
        .filter_map(|p| p.strip_prefix("usr/bin/"))
        .find(|name| {
            name.strip_prefix("python3.")
                .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string);
    if let Some(python) = python {
        for link in ["usr/bin/python3", "usr/bin/python"] {
            if tree.get(link).is_none() {
                tree.insert(link.into(), Entry::symlink(python.clone()))?;
            }
        }
    }
    Ok(())
}

/// The Java trust store ca-certificates-java would have built, in the layer that brings a JRE.
fn add_java_trust_store(tree: &mut LayerTree, ca_pem: Option<&[u8]>) -> Result<()> {
    let has_jre = tree
        .iter()
        .any(|(p, _)| p.starts_with("usr/lib/jvm/") && p.ends_with("/lib/security/cacerts"));
    if !has_jre || tree.get(JAVA_CACERTS).is_some() {
        return Ok(());
    }
    let pem = ca_pem.ok_or_else(|| {
        Error::Input(
            "a JRE is installed but no CA certificates are: add ca-certificates to the packages"
                .into(),
        )
    })?;
    let store = jks(&pem_certificates(pem)?, 0, DEFAULT_PASSWORD)?;
    tree.insert(JAVA_CACERTS.into(), Entry::bytes(store, 0o644))?;
    Ok(())
}

/// Where `pare.lock` lives by default: beside the build file, else in the current directory.
pub fn default_lock_file(build_file: Option<&Path>) -> PathBuf {
    build_file
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .map(|d| d.join("pare.lock"))
        .unwrap_or_else(|| PathBuf::from("pare.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_parse_and_nest() {
        for name in RECIPE_NAMES.split(", ") {
            let recipe = Recipe::parse(name).unwrap();
            assert_eq!(recipe.name(), name);
            assert_eq!(recipe.groups()[0].0.name(), "base");
        }
        assert!(Recipe::parse("alpine").is_none());
        let python = Recipe::Python3.groups();
        assert_eq!(
            python.last().unwrap().1,
            ["python3.11-minimal", "libpython3.11-stdlib"]
        );
    }

    #[test]
    fn architectures_map_to_debian_names() {
        assert_eq!(debian_architecture("amd64", None).unwrap(), "amd64");
        assert_eq!(debian_architecture("arm", Some("v7")).unwrap(), "armhf");
        assert_eq!(debian_architecture("386", None).unwrap(), "i386");
        assert!(debian_architecture("mips", None).is_err());
    }

    #[test]
    fn stale_requests_differ() {
        let a = PackageOptions {
            recipe: Some(Recipe::Python3),
            ..Default::default()
        };
        let mut b = a.clone();
        b.debian.push("libpq5".into());
        assert_ne!(a.request(&[]).digest(), b.request(&[]).digest());
        let mut c = a.clone();
        c.keep.push("dpkg".into());
        assert_ne!(a.request(&[]).digest(), c.request(&[]).digest());
    }
}
