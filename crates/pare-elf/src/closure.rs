//! The shared-library closure of a binary, found the way glibc's dynamic loader finds it: DT_RPATH
//! (of the object, then of the executable, unless the object has DT_RUNPATH), LD_LIBRARY_PATH,
//! DT_RUNPATH, the directories of `ld.so.conf` (with its includes), then the default directories;
//! `$ORIGIN` expanded; objects of another class or machine skipped as the loader skips them. Everything
//! is looked up in a [`Root`] (the build host's `/` or a sysroot, an image tree being built, an image
//! being read) and every symlink met on the way is reported, so an image gets the same names
//! `ldconfig` would see. With `ld_so_cache`, the root's own `/etc/ld.so.cache` is consulted between
//! DT_RUNPATH and the default directories, as the loader inside the image does. Never follows a link
//! out of the root.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;

use serde::Serialize;

use crate::root::{HostRoot, Node, Root};
use crate::{inspect, ElfFacts, Error, Linkage};

/// Longest symlink chain followed.
const MAX_HOPS: usize = 40;
/// Longest symlink target followed (the kernel's PATH_MAX), and most components one walk visits:
/// a hostile tree's long looping links stop here.
const MAX_TARGET: usize = 4096;
const MAX_COMPONENTS: usize = 8192;
/// Most objects in one closure (a loop guard; real programs need a few dozen).
const MAX_OBJECTS: usize = 4096;

/// Where and how to resolve.
#[derive(Clone, Debug)]
pub struct ClosureOptions {
    /// The directory that plays `/` (the build host's root by default, or a sysroot).
    pub root: PathBuf,
    /// LD_LIBRARY_PATH of the image, if it sets one.
    pub ld_library_path: Vec<String>,
    /// Also bring glibc's NSS modules for files and DNS when the closure has glibc.
    pub nss: bool,
    /// Consult the root's `/etc/ld.so.cache` (and then only the loader's default directories), as
    /// the loader does inside a finished image; without it, the directories of the root's
    /// `ld.so.conf` are searched directly (what ldconfig would put in a fresh cache).
    pub ld_so_cache: bool,
}

impl Default for ClosureOptions {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/"),
            ld_library_path: Vec::new(),
            nss: true,
            ld_so_cache: false,
        }
    }
}

/// One path the image needs, as it is below the root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum NeededPath {
    /// A regular file; `host` is where to read it.
    File { host: PathBuf },
    /// A symlink with this target, kept as a symlink.
    Symlink { target: String },
}

/// Why a path is in the closure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClosureEntry {
    pub path: NeededPath,
    pub reason: String,
}

/// A library the loader would load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResolvedLibrary {
    /// The DT_NEEDED name (`libssl.so.3`).
    pub name: String,
    /// Where the loader finds it (`/usr/lib/x86_64-linux-gnu/libssl.so.3`).
    pub found_at: String,
    /// The real file behind it.
    pub real_path: String,
    /// The object that needs it.
    pub needed_by: String,
}

/// The result of a resolution.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Closure {
    /// Every path to ship (absolute image paths), with the reason.
    pub paths: BTreeMap<String, ClosureEntry>,
    /// The loader (PT_INTERP) as named by the binary.
    pub interpreter: Option<String>,
    /// Libraries in the order found.
    pub libraries: Vec<ResolvedLibrary>,
    /// Libraries that could not be found: (name, needed by).
    pub missing: Vec<(String, String)>,
    /// For each missing library, where the loader looked, in order (directories, and
    /// `/etc/ld.so.cache` when it was consulted).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub searched: BTreeMap<String, Vec<String>>,
    /// The plugin-trigger functions (`crate::PLUGIN_TRIGGERS`) any object of the closure imports.
    #[serde(skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub triggers: std::collections::BTreeSet<String>,
}

struct Object {
    image_path: String,
    facts: ElfFacts,
}

/// Resolves the closure of the binary at `image_path`, whose bytes are `bytes`, below the host
/// directory `options.root`.
pub fn resolve(image_path: &str, bytes: &[u8], options: &ClosureOptions) -> Result<Closure, Error> {
    let facts = inspect(bytes)?;
    resolve_in(&HostRoot::new(&options.root), image_path, facts, options)
}

/// Resolves the closure of the binary at `image_path` (its real path: `$ORIGIN` is its directory)
/// with ELF facts `facts`, in `root`. `options.root` is not used.
pub fn resolve_in(
    root: &dyn Root,
    image_path: &str,
    facts: ElfFacts,
    options: &ClosureOptions,
) -> Result<Closure, Error> {
    let mut closure = Closure::default();
    if facts.linkage != Linkage::Dynamic {
        return Ok(closure);
    }
    let resolver = Resolver::new(root, options, &facts)?;
    let mut loaded: HashSet<String> = HashSet::new();
    if let Some(interp) = &facts.interpreter {
        closure.interpreter = Some(interp.clone());
        match resolver.walk(interp) {
            Some((_, steps)) => {
                // The loader is in memory before any library: a library that needs it by its name
                // (libc.so.6 needs ld-linux-x86-64.so.2) gets the loaded one, never a search.
                loaded.insert(file_name(interp).to_string());
                resolver.record(
                    &mut closure,
                    steps,
                    &format!("dynamic loader of {image_path}"),
                )
            }
            None => closure
                .missing
                .push((interp.clone(), image_path.to_string())),
        }
    }
    let executable_rpath = if facts.runpath.is_empty() {
        facts.rpath.clone()
    } else {
        Vec::new()
    };
    let mut queue = VecDeque::from([Object {
        image_path: image_path.to_string(),
        facts,
    }]);
    let mut seen_real: HashSet<String> = HashSet::new();
    let mut has_glibc = false;
    let mut objects = 0;
    while let Some(object) = queue.pop_front() {
        closure
            .triggers
            .extend(object.facts.triggers.iter().cloned());
        objects += 1;
        if objects > MAX_OBJECTS {
            return Err(Error::Malformed(format!(
                "more than {MAX_OBJECTS} shared objects; refusing to go on"
            )));
        }
        for name in &object.facts.needed {
            if !loaded.insert(name.clone()) {
                continue;
            }
            has_glibc |= name.starts_with("libc.so.");
            let mut trace = Vec::new();
            match resolver.find(name, &object, &executable_rpath, &mut trace)? {
                Some(found) => {
                    let reason = if object.image_path == image_path {
                        format!("needed by {image_path}")
                    } else {
                        format!(
                            "needed by {image_path} via {}",
                            file_name(&object.image_path)
                        )
                    };
                    resolver.record(&mut closure, found.steps, &reason);
                    closure.libraries.push(ResolvedLibrary {
                        name: name.clone(),
                        found_at: found.path.clone(),
                        real_path: found.real.clone(),
                        needed_by: object.image_path.clone(),
                    });
                    if seen_real.insert(found.real.clone()) {
                        queue.push_back(Object {
                            image_path: found.path,
                            facts: found.facts,
                        });
                    }
                }
                None => {
                    closure.searched.entry(name.clone()).or_insert(trace);
                    closure
                        .missing
                        .push((name.clone(), object.image_path.clone()))
                }
            }
        }
        if queue.is_empty() && has_glibc && options.nss {
            has_glibc = false;
            for module in ["libnss_files.so.2", "libnss_dns.so.2"] {
                if loaded.contains(module) {
                    continue;
                }
                let libc = Object {
                    image_path: "libc.so.6".into(),
                    facts: ElfFacts {
                        needed: Vec::new(),
                        rpath: Vec::new(),
                        runpath: Vec::new(),
                        ..object.facts.clone()
                    },
                };
                if let Some(found) = resolver.find(module, &libc, &[], &mut Vec::new())? {
                    loaded.insert(module.to_string());
                    resolver.record(
                        &mut closure,
                        found.steps,
                        &format!(
                            "{module}: glibc loads it to resolve names (nsswitch.conf: files, dns)"
                        ),
                    );
                    if seen_real.insert(found.real.clone()) {
                        queue.push_back(Object {
                            image_path: found.path,
                            facts: found.facts,
                        });
                    }
                }
            }
        }
    }
    Ok(closure)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// One step of walking a path below the root.
enum Step {
    Link { path: String, target: String },
    File { path: String, host: PathBuf },
}

struct Found {
    path: String,
    real: String,
    facts: ElfFacts,
    steps: Vec<Step>,
}

struct Resolver<'a> {
    root: &'a dyn Root,
    /// The same search over `root.front()` alone, tried first (the image before the host).
    front: Option<Box<Resolver<'a>>>,
    options: &'a ClosureOptions,
    is_64: bool,
    machine: u16,
    system_dirs: Vec<String>,
    /// soname -> path from the root's ld.so.cache, for objects of this machine.
    cache: HashMap<String, String>,
}

impl<'a> Resolver<'a> {
    fn new(root: &'a dyn Root, options: &'a ClosureOptions, exe: &ElfFacts) -> Result<Self, Error> {
        let mut system_dirs = Vec::new();
        let mut cache = HashMap::new();
        if options.ld_so_cache {
            if let Some((real, Node::File)) = locate(root, crate::ldcache::LD_SO_CACHE) {
                let bytes = root.read(&real, 64 << 20)?;
                // An unreadable cache is ignored by the loader too: it falls back to its defaults.
                for entry in crate::ldcache::parse_ld_so_cache(&bytes).unwrap_or_default() {
                    if entry.fits_machine(exe.machine) {
                        cache.entry(entry.soname).or_insert(entry.path); // the first wins
                    }
                }
            }
        } else {
            let mut visited = HashSet::new();
            read_ld_so_conf(root, "/etc/ld.so.conf", &mut system_dirs, &mut visited, 0);
        }
        let triple = crate::arch::by_machine(exe.machine, exe.is_64).map_or("", |a| a.triple);
        let mut defaults = Vec::new();
        if !triple.is_empty() {
            defaults.push(format!("/lib/{triple}"));
            defaults.push(format!("/usr/lib/{triple}"));
        }
        if exe.is_64 {
            defaults.extend(["/lib64".to_string(), "/usr/lib64".to_string()]);
        }
        defaults.extend(["/lib".to_string(), "/usr/lib".to_string()]);
        for d in defaults {
            if !system_dirs.contains(&d) {
                system_dirs.push(d);
            }
        }
        let front = match root.front() {
            Some(front) => Some(Box::new(Resolver::new(front, options, exe)?)),
            None => None,
        };
        Ok(Self {
            root,
            front,
            options,
            is_64: exe.is_64,
            machine: exe.machine,
            system_dirs,
            cache,
        })
    }

    fn find(
        &self,
        name: &str,
        object: &Object,
        executable_rpath: &[String],
        trace: &mut Vec<String>,
    ) -> Result<Option<Found>, Error> {
        if let Some(front) = &self.front {
            if let Some(found) = front.find(name, object, executable_rpath, &mut Vec::new())? {
                return Ok(Some(found));
            }
        }
        if name.contains('/') {
            let path = if name.starts_with('/') {
                name.to_string()
            } else {
                format!("/{name}")
            };
            trace.push(path.clone());
            return self.try_candidate(&path);
        }
        let origin =
            object
                .image_path
                .rsplit_once('/')
                .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
        let mut dirs: Vec<String> = Vec::new();
        if object.facts.runpath.is_empty() {
            dirs.extend(object.facts.rpath.iter().cloned());
            dirs.extend(executable_rpath.iter().cloned());
        }
        dirs.extend(self.options.ld_library_path.iter().cloned());
        dirs.extend(object.facts.runpath.iter().cloned());
        let mut tried = HashSet::new();
        // The object's own directories, then the cache, then the defaults; each directory once.
        let mut search =
            |dirs: &[String], trace: &mut Vec<String>| -> Result<Option<Found>, Error> {
                for dir in dirs {
                    let dir = dir.replace("${ORIGIN}", origin).replace("$ORIGIN", origin);
                    if !dir.starts_with('/') || !tried.insert(dir.clone()) {
                        continue;
                    }
                    trace.push(dir.clone());
                    if let Some(found) =
                        self.try_candidate(&format!("{}/{name}", dir.trim_end_matches('/')))?
                    {
                        return Ok(Some(found));
                    }
                }
                Ok(None)
            };
        if let Some(found) = search(&dirs, trace)? {
            return Ok(Some(found));
        }
        if self.options.ld_so_cache {
            trace.push(crate::ldcache::LD_SO_CACHE.to_string());
        }
        if let Some(path) = self.cache.get(name) {
            if let Some(found) = self.try_candidate(path)? {
                return Ok(Some(found));
            }
        }
        search(&self.system_dirs, trace)
    }

    /// A candidate is taken when it exists below the root and is an ELF object of the right class
    /// and machine (the loader skips others and keeps searching).
    fn try_candidate(&self, path: &str) -> Result<Option<Found>, Error> {
        let Some((real, steps)) = self.walk(path) else {
            return Ok(None);
        };
        let Some(facts) = self.root.elf_facts(&real)? else {
            return Ok(None);
        };
        if facts.is_64 != self.is_64 || facts.machine != self.machine {
            return Ok(None);
        }
        Ok(Some(Found {
            path: path.to_string(),
            real,
            facts,
            steps,
        }))
    }

    /// Walks `path` in the root component by component, following symlinks (kept inside the
    /// root) and hard links, and returns the real path of the regular file it names and every step
    /// on the way.
    fn walk(&self, path: &str) -> Option<(String, Vec<Step>)> {
        self.front
            .as_ref()
            .and_then(|front| front.walk(path))
            .or_else(|| walk(self.root, path))
    }

    fn record(&self, closure: &mut Closure, steps: Vec<Step>, reason: &str) {
        for step in steps {
            let (path, needed) = match step {
                Step::Link { path, target } => (path, NeededPath::Symlink { target }),
                Step::File { path, host } => (path, NeededPath::File { host }),
            };
            closure.paths.entry(path).or_insert_with(|| ClosureEntry {
                path: needed,
                reason: reason.to_string(),
            });
        }
    }
}

/// The paths an image needs to hold `path` of `root` as it is there: every symlink met on the way,
/// then the regular file. None when `path` names no regular file.
pub fn path_steps(root: &dyn Root, path: &str) -> Option<Vec<(String, NeededPath)>> {
    let (_, steps) = walk(root, path)?;
    Some(
        steps
            .into_iter()
            .map(|step| match step {
                Step::Link { path, target } => (path, NeededPath::Symlink { target }),
                Step::File { path, host } => (path, NeededPath::File { host }),
            })
            .collect(),
    )
}

/// Resolves `path` in `root` the way the kernel resolves a path below a container's root:
/// symlinks anywhere (absolute ones restart at the root, `..` stops at it, at most 40 hops) and a
/// hard link at the end. Returns the real path and what is there, or None when nothing is (or a
/// component that must be a directory is not).
pub fn locate(root: &dyn Root, path: &str) -> Option<(String, Node)> {
    walk_any(root, path).map(|(real, node, _)| (real, node))
}

/// Walks `path` in `root` (see [`Resolver::walk`]): the real path of the regular file it names.
fn walk(root: &dyn Root, path: &str) -> Option<(String, Vec<Step>)> {
    let (real, node, mut steps) = walk_any(root, path)?;
    if node != Node::File {
        return None;
    }
    steps.push(Step::File {
        path: real.clone(),
        host: root.source(&real),
    });
    Some((real, steps))
}

/// Walks `path` component by component, recording the symlinks met.
fn walk_any(root: &dyn Root, path: &str) -> Option<(String, Node, Vec<Step>)> {
    let mut queue: VecDeque<String> = path.split('/').map(str::to_string).collect();
    // The absolute path walked so far, with the lengths it had before each component.
    let mut current = String::new();
    let mut lengths: Vec<usize> = Vec::new();
    let mut steps = Vec::new();
    let mut hops = 0;
    let mut walked = 0;
    let rest_is_empty = |queue: &VecDeque<String>| queue.iter().all(|p| p.is_empty() || p == ".");
    while let Some(part) = queue.pop_front() {
        walked += 1;
        if walked > MAX_COMPONENTS {
            return None;
        }
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                if let Some(len) = lengths.pop() {
                    current.truncate(len);
                }
                continue;
            }
            _ => {}
        }
        lengths.push(current.len());
        current.push('/');
        current.push_str(&part);
        match root.node(&current)? {
            Node::Symlink(target) => {
                hops += 1;
                if hops > MAX_HOPS
                    || target.len() > MAX_TARGET
                    || walked + queue.len() + target.matches('/').count() > MAX_COMPONENTS
                {
                    return None;
                }
                steps.push(Step::Link {
                    path: current.clone(),
                    target: target.clone(),
                });
                if let Some(len) = lengths.pop() {
                    current.truncate(len);
                }
                if target.starts_with('/') {
                    current.clear();
                    lengths.clear();
                }
                for p in target.split('/').rev() {
                    queue.push_front(p.to_string());
                }
            }
            Node::Hardlink(target) if rest_is_empty(&queue) => {
                hops += 1;
                if hops > MAX_HOPS {
                    return None;
                }
                current.clear();
                lengths.clear();
                for p in target.split('/').rev() {
                    queue.push_front(p.to_string());
                }
            }
            Node::Dir => {}
            _ if !rest_is_empty(&queue) => return None,
            _ => {}
        }
    }
    if current.is_empty() {
        return Some(("/".to_string(), Node::Dir, steps));
    }
    let node = root.node(&current)?;
    Some((current, node, steps))
}

/// Adds the directories named by an ld.so.conf file (and its `include` globs) below `root`.
fn read_ld_so_conf(
    root: &dyn Root,
    path: &str,
    dirs: &mut Vec<String>,
    visited: &mut HashSet<String>,
    depth: usize,
) {
    if depth > 8 || !visited.insert(path.to_string()) {
        return;
    }
    let Some((real, _)) = walk(root, path) else {
        return;
    };
    let Ok(bytes) = root.read(&real, 1 << 20) else {
        return;
    };
    let text = String::from_utf8_lossy(&bytes);
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include") {
            let pattern = pattern.trim();
            let pattern = if pattern.starts_with('/') {
                pattern.to_string()
            } else {
                format!("/etc/{pattern}")
            };
            for file in glob_files(root, &pattern) {
                read_ld_so_conf(root, &file, dirs, visited, depth + 1);
            }
        } else if line.starts_with('/') {
            for dir in line
                .split([':', ',', ' ', '\t'])
                .filter(|d| d.starts_with('/'))
            {
                let dir = dir.trim_end_matches('/').to_string();
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
    }
}

/// Expands a `/dir/prefix*suffix` pattern (one `*`, in the file name only) in `root`, sorted.
fn glob_files(root: &dyn Root, pattern: &str) -> Vec<String> {
    let Some((dir, name_pattern)) = pattern.rsplit_once('/') else {
        return Vec::new();
    };
    let (prefix, suffix) = name_pattern.split_once('*').unwrap_or((name_pattern, ""));
    let exact = !name_pattern.contains('*');
    let mut files: Vec<String> = root
        .names_in(if dir.is_empty() { "/" } else { dir })
        .into_iter()
        .filter(|n| {
            if exact {
                n == name_pattern
            } else {
                n.starts_with(prefix) && n.ends_with(suffix)
            }
        })
        .map(|n| format!("{dir}/{n}"))
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_test_binary_resolves_to_libc_on_this_host() {
        if !cfg!(target_env = "gnu") {
            return;
        }
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let closure = resolve("/app", &bytes, &ClosureOptions::default()).unwrap();
        assert!(closure.missing.is_empty(), "{:?}", closure.missing);
        assert!(closure.libraries.iter().any(|l| l.name == "libc.so.6"));
        let interp = closure.interpreter.clone().unwrap();
        assert!(
            closure.paths.contains_key(&interp)
                || closure
                    .paths
                    .keys()
                    .any(|p| p.ends_with("ld-linux-x86-64.so.2"))
        );
        assert!(closure
            .paths
            .values()
            .any(|e| e.reason.contains("needed by /app")));
    }

    /// Real files ldd reports for a program (loader included, the vDSO left out), and the names it
    /// cannot find.
    fn ldd(path: &Path) -> Option<(std::collections::BTreeSet<PathBuf>, Vec<String>)> {
        let out = std::process::Command::new("ldd").arg(path).output().ok()?;
        if !out.status.success() {
            return None;
        }
        let mut files = std::collections::BTreeSet::new();
        let mut missing = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let line = line.trim();
            if let Some((name, rest)) = line.split_once(" => ") {
                if rest.starts_with("not found") {
                    missing.push(name.to_string());
                } else if let Some(p) = rest.split(" (").next() {
                    files.insert(std::fs::canonicalize(p).ok()?);
                }
            } else if line.starts_with('/') {
                let p = line.split(" (").next()?;
                files.insert(std::fs::canonicalize(p).ok()?);
            }
        }
        Some((files, missing))
    }

    #[test]
    fn matches_ldd_on_at_least_100_host_binaries() {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        if !cfg!(all(target_os = "linux", target_env = "gnu"))
            || !Path::new("/usr/bin/ldd").exists()
        {
            assert!(!in_ci, "CI machines are glibc Linux with ldd");
            return;
        }
        let me = inspect(&std::fs::read(std::env::current_exe().unwrap()).unwrap()).unwrap();
        let mut entries: Vec<PathBuf> = std::fs::read_dir("/usr/bin")
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        let options = ClosureOptions {
            nss: false,
            ..ClosureOptions::default()
        };
        let mut compared = 0;
        let mut differences = Vec::new();
        for path in entries {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() || meta.len() > 64 << 20 {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let Ok(facts) = inspect(&bytes) else { continue };
            if facts.linkage != Linkage::Dynamic
                || facts.machine != me.machine
                || facts.is_64 != me.is_64
            {
                continue;
            }
            let Some((theirs, their_missing)) = ldd(&path) else {
                continue;
            };
            let image_path = path.to_string_lossy().into_owned();
            let closure = resolve(&image_path, &bytes, &options).unwrap();
            let mut ours = std::collections::BTreeSet::new();
            for lib in &closure.libraries {
                ours.insert(std::fs::canonicalize(&lib.real_path).unwrap());
            }
            if let Some(interp) = &closure.interpreter {
                ours.insert(std::fs::canonicalize(interp).unwrap());
            }
            let our_missing: Vec<String> = closure.missing.iter().map(|(n, _)| n.clone()).collect();
            if ours != theirs || our_missing != their_missing {
                differences.push(format!(
                    "{image_path}: only pare {:?}, only ldd {:?}, missing pare {our_missing:?} ldd {their_missing:?}",
                    ours.difference(&theirs).collect::<Vec<_>>(),
                    theirs.difference(&ours).collect::<Vec<_>>()
                ));
            }
            compared += 1;
            if compared == 200 {
                break;
            }
        }
        eprintln!("compared the closure with ldd on {compared} binaries of /usr/bin");
        assert!(
            compared >= 100,
            "only {compared} dynamic binaries in /usr/bin"
        );
        assert!(
            differences.is_empty(),
            "{} of {compared} differ:\n{}",
            differences.len(),
            differences.join("\n")
        );
    }

    #[test]
    fn needed_loops_end_and_missing_libraries_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let lib = root.join("usr/lib");
        std::fs::create_dir_all(&lib).unwrap();
        let gcc = |args: &[&str]| {
            let status = std::process::Command::new("gcc")
                .args(args)
                .current_dir(dir.path())
                .status();
            assert!(status.is_ok_and(|s| s.success()), "gcc {args:?}");
        };
        std::fs::write(
            dir.path().join("a.c"),
            "int b(void); int a(void) { return 1; }\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.c"),
            "int a(void); int b(void) { return a(); }\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("m.c"),
            "int a(void); int main(void) { return a(); }\n",
        )
        .unwrap();
        let libdir = lib.to_str().unwrap();
        // libA needs libB and libB needs libA.
        gcc(&[
            "-shared",
            "-fPIC",
            "-o",
            &format!("{libdir}/libA.so"),
            "a.c",
        ]);
        gcc(&[
            "-shared",
            "-fPIC",
            "-o",
            &format!("{libdir}/libB.so"),
            "b.c",
            &format!("-L{libdir}"),
            "-lA",
        ]);
        gcc(&[
            "-shared",
            "-fPIC",
            "-o",
            &format!("{libdir}/libA.so"),
            "a.c",
            "-Wl,--no-as-needed",
            &format!("-L{libdir}"),
            "-lB",
        ]);
        gcc(&["-o", "m", "m.c", &format!("-L{libdir}"), "-lA"]);
        let bytes = std::fs::read(dir.path().join("m")).unwrap();
        let options = ClosureOptions {
            root: root.clone(),
            ..ClosureOptions::default()
        };
        let closure = resolve("/m", &bytes, &options).unwrap();
        let names: Vec<&str> = closure.libraries.iter().map(|l| l.name.as_str()).collect();
        assert!(
            names.contains(&"libA.so") && names.contains(&"libB.so"),
            "{names:?}"
        );
        // This root has no libc and no loader: both are reported, nothing is taken from the host.
        assert!(
            closure.missing.iter().any(|(n, _)| n == "libc.so.6"),
            "{:?}",
            closure.missing
        );
        assert!(
            closure.paths.keys().all(|p| p.starts_with("/usr/lib/")),
            "{:?}",
            closure.paths.keys()
        );
    }

    #[test]
    fn links_never_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("lib")).unwrap();
        std::os::unix::fs::symlink("/../../../../etc/passwd", root.join("lib/libescape.so"))
            .unwrap();
        std::os::unix::fs::symlink("libloop.so", root.join("lib/libloop.so")).unwrap();
        let options = ClosureOptions {
            root: root.to_path_buf(),
            ..ClosureOptions::default()
        };
        let me = inspect(&std::fs::read(std::env::current_exe().unwrap()).unwrap()).unwrap();
        let host = HostRoot::new(root);
        let resolver = Resolver::new(&host, &options, &me).unwrap();
        // The escaping link lands on <root>/etc/passwd, which does not exist: not found, not the host's.
        assert!(resolver.walk("/lib/libescape.so").is_none());
        assert!(resolver.walk("/lib/libloop.so").is_none());
    }

    #[test]
    fn ld_so_conf_includes_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
        std::fs::write(
            root.join("etc/ld.so.conf"),
            "include /etc/ld.so.conf.d/*.conf\n/opt/lib # comment\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/ld.so.conf.d/a.conf"), "/usr/local/lib\n").unwrap();
        std::fs::write(
            root.join("etc/ld.so.conf.d/b.conf"),
            "include /etc/ld.so.conf\n/srv/lib\n",
        )
        .unwrap();
        let mut dirs = Vec::new();
        let host = HostRoot::new(root);
        read_ld_so_conf(&host, "/etc/ld.so.conf", &mut dirs, &mut HashSet::new(), 0);
        assert_eq!(dirs, ["/usr/local/lib", "/srv/lib", "/opt/lib"]);
    }
}
