//! "Would this program start, and what would it load?", asked of any image tree the way the kernel
//! and glibc's loader answer it inside the container: the program found as the kernel finds
//! ENTRYPOINT[0] (absolute, below the working directory, or on PATH; symlinks followed), a regular
//! file the user may execute, built for the image's architecture; a script's interpreter present; a
//! dynamic ELF's loader present and every DT_NEEDED library found, transitively, in ld.so order in
//! the image itself (`$ORIGIN`, DT_RPATH, LD_LIBRARY_PATH from the image's Env, DT_RUNPATH, the
//! image's `/etc/ld.so.cache`, the default directories), through `pare_elf::closure` over a
//! [`Root`]. One check: `build` refuses on its problems, `audit` reports them. This module also
//! makes a build's planned tree ([`ImageView`]) a root. Not here: adding libraries to an image
//! (`build::libraries`) or reading images.

use pare_elf::closure::{locate, resolve_in, ClosureOptions};
use pare_elf::root::{Node, Root};
use pare_elf::{ElfFacts, Linkage};
use pare_oci::tree::EntryKind;

use crate::layers::view::ImageView;

/// What to check.
#[derive(Clone, Debug, Default)]
pub struct StartRequest<'a> {
    /// ENTRYPOINT[0], else CMD[0].
    pub program: &'a str,
    /// The image's PATH.
    pub path_env: &'a str,
    /// The image's working directory.
    pub workdir: &'a str,
    /// LD_LIBRARY_PATH from the image's Env, split.
    pub ld_library_path: Vec<String>,
    /// The uid and gid the container runs as, when known (else any execute bit will do).
    pub user: Option<(u32, Option<u32>)>,
    /// The image's OCI architecture (`amd64`), when known.
    pub architecture: Option<&'a str>,
}

/// Why the program would not start (or, for `UnknownFormat`, might not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Nothing at any candidate path.
    Missing {
        searched: Vec<String>,
    },
    NotRegular {
        path: String,
    },
    NotExecutable {
        path: String,
        mode: u32,
    },
    WrongArchitecture {
        path: String,
        architecture: String,
    },
    /// The ELF file cannot be parsed.
    Malformed {
        path: String,
        error: String,
    },
    /// The loader (PT_INTERP) is missing; `needed` are the program's own DT_NEEDED names.
    MissingLoader {
        path: String,
        loader: String,
        needed: Vec<String>,
    },
    /// A library no directory of the search order has; `via` names the library that needs it
    /// when that is not the program itself.
    MissingLibrary {
        path: String,
        name: String,
        via: Option<String>,
    },
    MissingInterpreter {
        path: String,
        interpreter: String,
    },
    /// Neither ELF nor a `#!` script: the kernel may refuse it.
    UnknownFormat {
        path: String,
    },
}

/// The answer.
#[derive(Clone, Debug, Default)]
pub struct StartCheck {
    /// The real path of the program, when it was found.
    pub program_path: Option<String>,
    pub problems: Vec<Problem>,
}

/// Bytes read to tell ELF from a script.
const HEAD: u64 = 4096;

/// Checks whether `request.program` would start in `root`.
pub fn check_start(root: &dyn Root, request: &StartRequest<'_>) -> StartCheck {
    let mut check = StartCheck::default();
    let candidates =
        crate::paths::program_candidates(request.program, request.path_env, request.workdir);
    let Some((path, node)) = candidates.iter().find_map(|c| locate(root, c)) else {
        check.problems.push(Problem::Missing {
            searched: candidates,
        });
        return check;
    };
    check.program_path = Some(path.clone());
    if node != Node::File {
        check.problems.push(Problem::NotRegular { path });
        return check;
    }
    if let Some((mode, uid, gid)) = root.mode(&path) {
        if !executable_by(mode, uid, gid, request.user) {
            check.problems.push(Problem::NotExecutable {
                path: path.clone(),
                mode,
            });
        }
    }
    let head = match root.read(&path, HEAD) {
        Ok(head) => head,
        Err(e) => {
            check.problems.push(Problem::Malformed {
                path,
                error: e.to_string(),
            });
            return check;
        }
    };
    if pare_elf::is_elf(&head) {
        match root.elf_facts(&path) {
            Ok(Some(facts)) => elf_problems(root, request, &path, facts, &mut check.problems),
            Ok(None) => check.problems.push(Problem::Malformed {
                path,
                error: "not a valid ELF file".into(),
            }),
            Err(e) => check.problems.push(Problem::Malformed {
                path,
                error: e.to_string(),
            }),
        }
    } else if let Some(interpreter) = shebang(&head) {
        if !matches!(locate(root, &interpreter), Some((_, Node::File))) {
            check
                .problems
                .push(Problem::MissingInterpreter { path, interpreter });
        }
    } else {
        check.problems.push(Problem::UnknownFormat { path });
    }
    check
}

fn elf_problems(
    root: &dyn Root,
    request: &StartRequest<'_>,
    path: &str,
    facts: ElfFacts,
    problems: &mut Vec<Problem>,
) {
    if let (Some(arch), Some(want)) = (
        pare_elf::oci_architecture(facts.machine),
        request.architecture,
    ) {
        if arch != want {
            problems.push(Problem::WrongArchitecture {
                path: path.to_string(),
                architecture: arch.to_string(),
            });
            return;
        }
    }
    if facts.linkage != Linkage::Dynamic {
        return;
    }
    let needed = facts.needed.clone();
    let options = ClosureOptions {
        ld_library_path: request.ld_library_path.clone(),
        nss: false,
        ld_so_cache: true,
        ..ClosureOptions::default()
    };
    let closure = match resolve_in(root, path, facts, &options) {
        Ok(closure) => closure,
        Err(e) => {
            problems.push(Problem::Malformed {
                path: path.to_string(),
                error: e.to_string(),
            });
            return;
        }
    };
    let loader = closure.interpreter.clone();
    match &loader {
        None => problems.push(Problem::MissingLoader {
            path: path.to_string(),
            loader: String::new(),
            needed: needed.clone(),
        }),
        Some(l) if closure.missing.iter().any(|(name, _)| name == l) => {
            problems.push(Problem::MissingLoader {
                path: path.to_string(),
                loader: l.clone(),
                needed: needed.clone(),
            })
        }
        Some(_) => {}
    }
    for (name, by) in &closure.missing {
        if Some(name) == loader.as_ref() {
            continue;
        }
        let via = (by != path).then(|| by.rsplit('/').next().unwrap_or(by).to_string());
        problems.push(Problem::MissingLibrary {
            path: path.to_string(),
            name: name.clone(),
            via,
        });
    }
}

/// A colon-separated search path (`LD_LIBRARY_PATH`) as its directories, empty entries left out.
pub fn search_path(value: &str) -> Vec<String> {
    value
        .split(':')
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether `mode`, owned by `uid:gid`, lets `user` execute it (root needs any execute bit).
fn executable_by(mode: u32, uid: u32, gid: u32, user: Option<(u32, Option<u32>)>) -> bool {
    match user {
        None | Some((0, _)) => mode & 0o111 != 0,
        Some((u, _)) if u == uid => mode & 0o100 != 0,
        Some((_, Some(g))) if g == gid => mode & 0o010 != 0,
        Some(_) => mode & 0o001 != 0,
    }
}

/// The interpreter of a `#!` line.
pub fn shebang(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"#!")?;
    let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = String::from_utf8_lossy(&rest[..line_end]).into_owned();
    line.split_whitespace().next().map(str::to_string)
}

/// A build's merged planned layers as a loader root.
impl Root for ImageView {
    fn node(&self, path: &str) -> Option<Node> {
        let key = path.trim_start_matches('/').trim_end_matches('/');
        if key.is_empty() {
            return Some(Node::Dir);
        }
        self.get(key).map(|e| match &e.kind {
            EntryKind::Directory => Node::Dir,
            EntryKind::File { .. } => Node::File,
            EntryKind::Symlink { target } => Node::Symlink(target.clone()),
            EntryKind::Hardlink { target } => {
                Node::Hardlink(format!("/{}", target.trim_start_matches('/')))
            }
        })
    }

    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, pare_elf::Error> {
        let key = path.trim_start_matches('/');
        let entry = self.get(key).ok_or_else(|| pare_elf::Error::Io {
            path: path.to_string(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?;
        self.read_file(entry, limit)
            .map_err(|e| pare_elf::Error::Io {
                path: path.to_string(),
                source: std::io::Error::other(e.to_string()),
            })
    }

    fn names_in(&self, dir: &str) -> Vec<String> {
        ImageView::names_in(self, dir.trim_start_matches('/').trim_end_matches('/'))
    }

    fn mode(&self, path: &str) -> Option<(u32, u32, u32)> {
        self.get(path.trim_start_matches('/'))
            .map(|e| (e.mode, e.uid, e.gid))
    }

    fn elf_facts(&self, path: &str) -> Result<Option<ElfFacts>, pare_elf::Error> {
        // A static binary is told from its headers; only a possibly dynamic one is read whole.
        let prefix = self.read(path, pare_elf::PREFIX_LEN as u64)?;
        if !pare_elf::is_elf(&prefix) {
            return Ok(None);
        }
        if let Some(facts) = pare_elf::inspect_static_prefix(&prefix)? {
            return Ok(Some(facts));
        }
        pare_elf::inspect(&self.read(path, pare_elf::root::MAX_OBJECT)?).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_permission_follows_the_user() {
        assert!(executable_by(0o700, 10, 10, Some((10, Some(10)))));
        assert!(!executable_by(0o700, 10, 10, Some((11, Some(10)))));
        assert!(executable_by(0o750, 10, 20, Some((11, Some(20)))));
        assert!(!executable_by(0o750, 10, 20, Some((11, Some(21)))));
        assert!(executable_by(0o001, 10, 20, Some((11, None))));
        assert!(
            executable_by(0o100, 10, 20, Some((0, None))),
            "root needs any x bit"
        );
        assert!(!executable_by(0o644, 0, 0, None));
    }

    #[test]
    fn shebang_lines_name_their_interpreter() {
        assert_eq!(
            shebang(b"#!/usr/bin/env python3\n").as_deref(),
            Some("/usr/bin/env")
        );
        assert_eq!(shebang(b"#! /bin/sh -e\nexit").as_deref(), Some("/bin/sh"));
        assert_eq!(shebang(b"\x7fELF"), None);
    }
}
