//! What a slimmed image keeps, each path with the first reason it was kept for: what static
//! analysis of the image says its program needs (the program as the kernel finds it, its loader
//! and libraries through `pare_elf::closure`, a script's interpreter and that one's closure, paths
//! named on the command line, CA bundles, the time zone database, the user and name-service
//! files, the user's home, the working directory, the interpreter's codec package), every path a
//! traced run named, and the user's `--include`s. Keeping a path keeps every symlink met on the way
//! to it and every directory above it. Not here: running anything (`pare_sandbox`) or writing the
//! result (`super`).

use std::collections::BTreeMap;

use pare_elf::closure::{resolve_in, ClosureOptions, NeededPath};
use pare_elf::root::{HostRoot, Root};
use pare_oci::read::FileKind;

use super::unpack::Unpacked;

/// Kept paths (normalized keys) with their reasons.
#[derive(Clone, Debug, Default)]
pub struct Keep {
    pub reasons: BTreeMap<String, String>,
    /// The keys a traced run named itself (whatever reason kept them first).
    pub traced: std::collections::BTreeSet<String>,
}

/// What static analysis reads off the image's config.
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// ENTRYPOINT followed by CMD.
    pub argv: Vec<String>,
    pub path_env: String,
    pub ld_library_path: Vec<String>,
    pub workdir: String,
    /// The run user's home directory from /etc/passwd.
    pub home: Option<String>,
}

/// Files the C library, TLS libraries and name services read by fixed paths.
const SYSTEM_FILES: [(&str, &str); 17] = [
    (
        "etc/passwd",
        "user database (the runtime resolves USER with it)",
    ),
    ("etc/group", "group database"),
    ("etc/nsswitch.conf", "name service configuration"),
    ("etc/hosts", "name service: hosts"),
    ("etc/host.conf", "name service: resolver configuration"),
    ("etc/resolv.conf", "name service: DNS"),
    ("etc/gai.conf", "name service: address sorting"),
    ("etc/services", "name service: ports"),
    ("etc/protocols", "name service: protocols"),
    ("etc/networks", "name service: networks"),
    ("etc/localtime", "the local time zone"),
    ("etc/timezone", "the local time zone's name"),
    ("etc/os-release", "the OS release (scanners read it)"),
    ("usr/lib/os-release", "the OS release (scanners read it)"),
    ("etc/ld.so.cache", "the loader's library cache"),
    ("etc/ld.so.conf", "the loader's library directories"),
    (
        "etc/mime.types",
        "MIME types (web servers and language runtimes read them)",
    ),
];

/// Trees kept whole: (directory, reason).
const SYSTEM_TREES: [(&str, &str); 4] = [
    ("etc/ssl", "TLS configuration and CA certificates"),
    ("etc/pki", "TLS configuration and CA certificates"),
    ("usr/share/zoneinfo", "the time zone database"),
    ("etc/ld.so.conf.d", "the loader's library directories"),
];

/// Working directories that are system directories, not an application's own: only the
/// directory itself is kept.
const SYSTEM_DIRS: [&str; 12] = [
    "", "usr", "bin", "sbin", "lib", "lib64", "etc", "var", "opt", "root", "tmp", "home",
];

/// Names in a home directory that are caches, never kept whole.
const CACHE_NAMES: [&str; 6] = [
    ".cache",
    ".npm",
    ".cargo",
    ".m2",
    ".gradle",
    ".local/share/Trash",
];

impl Keep {
    /// Keeps `key` itself (and, implicitly, its parents) for `reason`, unless already kept.
    pub fn add(&mut self, key: &str, reason: &str) {
        if !key.is_empty() {
            self.reasons
                .entry(key.to_string())
                .or_insert_with(|| reason.to_string());
        }
    }

    /// Keeps what the absolute path `path` names in `unpacked`, with every symlink on the way.
    /// A directory is kept as a directory, without its contents. Returns the key kept, if the
    /// path names anything.
    pub fn path(&mut self, unpacked: &Unpacked, path: &str, reason: &str) -> Option<String> {
        let (found, links) = unpacked.resolve_with_links(path);
        for link in &links {
            self.add(link, reason);
        }
        let key = found.ok()?;
        self.add(&key, reason);
        Some(key)
    }

    /// Keeps `key` and everything below it, except what `skip` refuses.
    pub fn tree(
        &mut self,
        unpacked: &Unpacked,
        key: &str,
        reason: &str,
        skip: &dyn Fn(&str) -> bool,
    ) {
        if !unpacked.files.contains_key(key) {
            return;
        }
        self.add(key, reason);
        let prefix = format!("{key}/");
        let below: Vec<String> = unpacked
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .filter(|k| !skip(k))
            .collect();
        for k in below {
            self.add(&k, reason);
            // A symlink inside the tree that leads out of it brings its target too.
            if unpacked
                .files
                .get(&k)
                .is_some_and(|m| m.kind == FileKind::Symlink)
            {
                self.path(unpacked, &format!("/{k}"), reason);
            }
        }
    }

    /// Keeps an executed program's own needs: an ELF's loader and libraries, a script's
    /// interpreter (and its needs), at most a few interpreters deep; for a Python interpreter
    /// (the program itself or a script's), its codec package.
    pub fn program_needs(&mut self, unpacked: &Unpacked, key: &str, options: &ClosureOptions) {
        let root = HostRoot::new(unpacked.dir.clone());
        let mut current = key.to_string();
        for _ in 0..4 {
            let Some(head) = unpacked.read(&current, 4096) else {
                return;
            };
            if pare_elf::is_elf(&head) {
                if let Some(python) = python_version(&current) {
                    keep_python_codecs(unpacked, &python, self);
                }
                let Ok(Some(facts)) = root.elf_facts(&format!("/{current}")) else {
                    return;
                };
                let Ok(closure) = resolve_in(&root, &format!("/{current}"), facts, options) else {
                    return;
                };
                for (path, entry) in &closure.paths {
                    // Files and the symlinks on the way to them alike: both are kept as they are.
                    let (NeededPath::File { .. } | NeededPath::Symlink { .. }) = &entry.path;
                    self.path(unpacked, path, &entry.reason);
                }
                return;
            }
            let Some(interpreter) = crate::loader::shebang(&head) else {
                return;
            };
            let reason = format!("the interpreter of /{current}");
            let Some(found) = self.path(unpacked, &interpreter, &reason) else {
                return;
            };
            current = found;
        }
    }
}

/// The static part of what to keep.
pub fn static_keep(unpacked: &Unpacked, program: &Program, keep: &mut Keep) {
    let options = closure_options(program);
    let workdir = if program.workdir.is_empty() {
        "/".to_string()
    } else {
        program.workdir.clone()
    };
    let found = program
        .argv
        .first()
        .and_then(|first| unpacked.find_program(first, &program.path_env, &workdir));
    if let Some(candidate) = found {
        if let Some(key) = keep.path(unpacked, &candidate, "the image's program (ENTRYPOINT/CMD)") {
            keep.program_needs(unpacked, &key, &options);
        }
    }
    for arg in program.argv.iter().skip(1) {
        let value = arg.split_once('=').map_or(arg.as_str(), |(_, v)| v);
        if value.is_empty() || value.starts_with('-') {
            continue;
        }
        let path = if value.starts_with('/') {
            value.to_string()
        } else if value.contains('/') || value.contains('.') {
            format!("{}/{value}", workdir.trim_end_matches('/'))
        } else {
            continue;
        };
        if let Some(key) = keep.path(unpacked, &path, "named on the image's command line") {
            if unpacked
                .files
                .get(&key)
                .is_some_and(|m| m.kind == FileKind::Dir)
            {
                keep.tree(unpacked, &key, "named on the image's command line", &|_| {
                    false
                });
            }
        }
    }
    for (key, reason) in SYSTEM_FILES {
        keep.path(unpacked, &format!("/{key}"), reason);
    }
    for location in crate::audit::CA_BUNDLE_LOCATIONS {
        keep.path(unpacked, &format!("/{location}"), "the CA bundle");
    }
    for (dir, reason) in SYSTEM_TREES {
        if let Some(key) = keep.path(unpacked, &format!("/{dir}"), reason) {
            keep.tree(unpacked, &key, reason, &|_| false);
        }
    }
    let work_key = workdir.trim_matches('/').to_string();
    if let Some(key) = keep.path(unpacked, &workdir, "the working directory") {
        if !SYSTEM_DIRS.contains(&work_key.as_str()) {
            // The application's own files, but not the package trees installed beside them
            // (`pip install --target`, node_modules): of those, what runs is traced.
            let roots = package_roots(unpacked, &key);
            let skip = move |k: &str| {
                k.split('/').any(|c| c == "node_modules")
                    || roots.iter().any(|r| k.starts_with(&format!("{r}/")))
            };
            keep.tree(unpacked, &key, "in the working directory", &skip);
        }
    }
    if let Some(home) = &program.home {
        if let Some(key) = keep.path(unpacked, home, "the user's home directory") {
            let home_key = key.clone();
            if !SYSTEM_DIRS.contains(&home_key.as_str()) {
                let skip = move |k: &str| {
                    let rest = k
                        .strip_prefix(&home_key)
                        .unwrap_or(k)
                        .trim_start_matches('/');
                    CACHE_NAMES
                        .iter()
                        .any(|c| rest == *c || rest.starts_with(&format!("{c}/")))
                };
                keep.tree(unpacked, &key, "in the user's home directory", &skip);
            }
        }
    }
}

/// Directories below `dir` that hold Python distributions (a `*.dist-info` or `*.egg-info`
/// entry): site-packages trees, whatever they are called.
fn package_roots(unpacked: &Unpacked, dir: &str) -> Vec<String> {
    let prefix = format!("{dir}/");
    let mut roots: Vec<String> = unpacked
        .files
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(k, m)| {
            m.kind == FileKind::Dir && (k.ends_with(".dist-info") || k.ends_with(".egg-info"))
        })
        .filter_map(|(k, _)| k.rsplit_once('/').map(|(parent, _)| parent.to_string()))
        .collect();
    roots.dedup();
    roots
}

/// `3.11` for a program `usr/bin/python3.11` (or `python3` resolved to it).
pub fn python_version(key: &str) -> Option<String> {
    let name = key.rsplit('/').next()?;
    let version = name.strip_prefix("python")?;
    (version.contains('.') && version.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .then(|| version.to_string())
}

/// Python looks codecs up by name when text is first decoded in them, long after start: its
/// `encodings` package is kept whole.
fn keep_python_codecs(unpacked: &Unpacked, version: &str, keep: &mut Keep) {
    for prefix in ["usr/lib", "usr/local/lib"] {
        let key = format!("{prefix}/python{version}/encodings");
        keep.tree(
            unpacked,
            &key,
            "Python's codec package (codecs are looked up by name at run time)",
            &|_| false,
        );
    }
}

/// Keeps what each traced path names, and an executed program's own needs.
pub fn traced_keep(
    unpacked: &Unpacked,
    touched: &BTreeMap<String, pare_sandbox::Touch>,
    run: &str,
    options: &ClosureOptions,
    keep: &mut Keep,
) {
    for (path, touch) in touched {
        if ["/proc", "/dev", "/sys"]
            .iter()
            .any(|p| path == p || path.starts_with(&format!("{p}/")))
        {
            continue;
        }
        let verb = match touch.call {
            "open" => "opened",
            "exec" => "executed",
            "stat" => "looked up",
            "access" => "checked",
            "readlink" => "read as a link",
            "chdir" => "entered",
            "watch" => "watched",
            other => other,
        };
        let reason = format!("{verb} by PID {} during {run}", touch.pid);
        let Some(key) = keep.path(unpacked, path, &reason) else {
            continue;
        };
        keep.traced.insert(key.clone());
        if touch.call == "exec" {
            keep.program_needs(unpacked, &key, options);
        }
    }
}

/// Whether `key` is a regular file, symlink or hard link (what counts as "something left").
pub fn is_content(unpacked: &Unpacked, key: &str) -> bool {
    unpacked
        .files
        .get(key)
        .is_some_and(|m| matches!(m.kind, FileKind::File | FileKind::Symlink))
}

/// The options the closure is resolved with inside an image.
pub fn closure_options(program: &Program) -> ClosureOptions {
    ClosureOptions {
        ld_library_path: program.ld_library_path.clone(),
        nss: true,
        ld_so_cache: true,
        ..ClosureOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_versions_come_from_the_real_program() {
        assert_eq!(
            python_version("usr/bin/python3.11").as_deref(),
            Some("3.11")
        );
        assert_eq!(python_version("usr/bin/python3"), None);
        assert_eq!(python_version("usr/bin/pythonista"), None);
    }
}
