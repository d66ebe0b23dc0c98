//! Path resolution inside an image's file tree, the way the kernel resolves paths below a container's
//! root: symlinks anywhere in the path (absolute ones restart at the image root), `..` that stops at the
//! root, a hop limit, and hard links followed once at the end. One walker for every tree pare keeps
//! (the tree a build plans, the tree an audit reads); each supplies a lookup.

use std::collections::VecDeque;

/// Longest chain of symlinks followed (the kernel's limit is 40).
const MAX_SYMLINK_HOPS: usize = 40;
/// Longest symlink target followed (the kernel's PATH_MAX).
const MAX_TARGET: usize = 4096;
/// Most path components one resolution walks: 40 hops of a PATH_MAX target each, at most. A
/// hostile layer's long looping targets stop here instead of costing minutes.
const MAX_COMPONENTS: usize = 8192;
/// Most PATH directories searched for a program (a PATH is one environment string, at most
/// 128 KiB in Linux; runtimes search it all, but no real image has more than a handful).
const MAX_PATH_ENTRIES: usize = 4096;

/// What a path is, as far as resolution cares.
pub enum Node<'a> {
    Dir,
    Symlink(&'a str),
    /// A hard link to another path of the tree (normalized or with a leading `/`).
    Hardlink(&'a str),
    Other,
}

/// Why a path does not resolve in the image.
#[derive(Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// Nothing at this path (normalized, without leading `/`).
    Missing(String),
    /// A component that must be a directory is something else.
    NotADirectory(String),
    /// Too many symlinks.
    Loop,
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unresolved::Missing(p) => write!(f, "/{p} does not exist in the image"),
            Unresolved::NotADirectory(p) => write!(f, "/{p} is not a directory in the image"),
            Unresolved::Loop => write!(f, "too many levels of symbolic links"),
        }
    }
}

/// Where the kernel would look for the program a container starts (`ENTRYPOINT[0]` or `CMD[0]`):
/// itself when absolute, below the working directory when relative with a `/`, else in each absolute
/// directory of `PATH`.
pub fn program_candidates(program: &str, path_env: &str, workdir: &str) -> Vec<String> {
    if program.starts_with('/') {
        vec![program.to_string()]
    } else if program.contains('/') {
        vec![format!("{workdir}/{program}")]
    } else {
        // Each directory once, in order: a second look in the same place finds the same thing.
        let mut seen = std::collections::HashSet::new();
        path_env
            .split(':')
            .filter(|d| d.starts_with('/') && seen.insert(*d))
            .take(MAX_PATH_ENTRIES)
            .map(|d| format!("{d}/{program}"))
            .collect()
    }
}

/// Resolves `path` and returns the normalized key (no leading `/`) of what it finally names.
pub fn resolve<'a>(
    path: &str,
    lookup: impl Fn(&str) -> Option<Node<'a>>,
) -> Result<String, Unresolved> {
    walk(path, lookup, false)
}

/// Where a directory path lands when it is created the way the runtimes create an entry's parents
/// (containerd and Docker resolve each entry's path inside the root, following symlinks, then make
/// what is missing as directories): symlinks followed, missing components taken as the directories
/// they will become. A component that is a file, or a symlink loop, is an error.
pub fn resolve_creating<'a>(
    path: &str,
    lookup: impl Fn(&str) -> Option<Node<'a>>,
) -> Result<String, Unresolved> {
    walk(path, lookup, true)
}

fn walk<'a>(
    path: &str,
    lookup: impl Fn(&str) -> Option<Node<'a>>,
    creating: bool,
) -> Result<String, Unresolved> {
    let mut queue: VecDeque<String> = path.split('/').map(str::to_string).collect();
    // The path walked so far, kept as one string with the lengths it had before each component
    // (so a component is added or dropped without joining the whole path again).
    let mut key = String::new();
    let mut lengths: Vec<usize> = Vec::new();
    let mut hops = 0;
    let mut walked = 0;
    while let Some(component) = queue.pop_front() {
        walked += 1;
        if walked > MAX_COMPONENTS {
            return Err(Unresolved::Loop);
        }
        match component.as_str() {
            "" | "." => continue,
            ".." => {
                if let Some(len) = lengths.pop() {
                    key.truncate(len);
                }
                continue;
            }
            _ => {}
        }
        lengths.push(key.len());
        if !key.is_empty() {
            key.push('/');
        }
        key.push_str(&component);
        match lookup(&key) {
            None if creating => {}
            None => return Err(Unresolved::Missing(key)),
            Some(Node::Symlink(target)) => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS
                    || target.len() > MAX_TARGET
                    || walked + queue.len() + target.matches('/').count() > MAX_COMPONENTS
                {
                    return Err(Unresolved::Loop);
                }
                if let Some(len) = lengths.pop() {
                    key.truncate(len);
                }
                if target.starts_with('/') {
                    key.clear();
                    lengths.clear();
                }
                for part in target.split('/').rev() {
                    queue.push_front(part.to_string());
                }
            }
            Some(Node::Dir) => {}
            Some(_) if !queue.iter().all(|c| c.is_empty() || c == ".") => {
                return Err(Unresolved::NotADirectory(key));
            }
            Some(_) => {}
        }
    }
    match lookup(&key) {
        Some(Node::Hardlink(target)) => {
            let target = target
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect::<Vec<_>>()
                .join("/");
            match lookup(&target) {
                Some(_) => Ok(target),
                None => Err(Unresolved::Missing(target)),
            }
        }
        Some(_) => Ok(key),
        None if creating => Ok(key),
        None => Err(Unresolved::Missing(key)),
    }
}
