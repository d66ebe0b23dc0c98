//! Guard rails run on the finished file tree before anything is written: the user resolves, the
//! program the image starts exists, is executable by that user, and can actually be loaded (a dynamic
//! ELF needs its loader in the image; a script needs its interpreter). Also validates ports and signals.

use pare_oci::image::Platform;
use pare_oci::tree::{normalize_image_path, EntryKind};

use crate::layers::view::ImageView;
use crate::{Error, Reporter, Result};

/// The numeric user and group an image runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: Option<u32>,
}

impl RunAs {
    /// The config's `User` value: `uid:gid`, or `uid` when the group is unknown.
    pub fn config_value(self) -> String {
        match self.gid {
            Some(gid) => format!("{}:{gid}", self.uid),
            None => self.uid.to_string(),
        }
    }
}

/// Resolves `user[:group]` (names or numbers) against the image's /etc/passwd and /etc/group.
pub fn resolve_user(view: &ImageView, user: &str) -> Result<RunAs> {
    let passwd = read_db(view, "etc/passwd")?;
    let group = read_db(view, "etc/group")?;
    resolve_user_in(&passwd, &group, user)
}

/// [`resolve_user`] over the texts of an image's /etc/passwd and /etc/group (empty when absent).
pub fn resolve_user_in(passwd: &str, group: &str, user: &str) -> Result<RunAs> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    if user_part.is_empty() || group_part.is_some_and(str::is_empty) {
        return Err(Error::Input(format!(
            "user {user:?} is not USER[:GROUP] (for example 65532:65532 or nonroot)"
        )));
    }
    let (uid, primary_gid) = match user_part.parse::<u32>() {
        Ok(uid) => (
            uid,
            lookup(passwd, |f| f.get(2) == Some(&user_part)).and_then(|f| field_u32(&f, 3)),
        ),
        Err(_) => {
            let fields = lookup(passwd, |f| f.first() == Some(&user_part)).ok_or_else(|| {
                Error::Input(format!(
                    "user {user_part:?} is not in the image's /etc/passwd; use a numeric UID or a user the base defines (root, nobody, nonroot)"
                ))
            })?;
            let uid = field_u32(&fields, 2).ok_or_else(|| {
                Error::Input(format!(
                    "/etc/passwd has a malformed entry for {user_part:?}"
                ))
            })?;
            (uid, field_u32(&fields, 3))
        }
    };
    let gid = match group_part {
        None => primary_gid,
        Some(g) => Some(match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let fields = lookup(group, |f| f.first() == Some(&g)).ok_or_else(|| {
                    Error::Input(format!(
                        "group {g:?} is not in the image's /etc/group; use a numeric GID"
                    ))
                })?;
                field_u32(&fields, 2).ok_or_else(|| {
                    Error::Input(format!("/etc/group has a malformed entry for {g:?}"))
                })?
            }
        }),
    };
    Ok(RunAs { uid, gid })
}

fn read_db(view: &ImageView, path: &str) -> Result<String> {
    match view.resolve(path) {
        Ok((_, entry)) if matches!(entry.kind, EntryKind::File { .. }) => {
            Ok(String::from_utf8_lossy(&view.read_file(entry, 1 << 20)?).into_owned())
        }
        _ => Ok(String::new()),
    }
}

fn lookup<'a>(db: &'a str, pred: impl Fn(&Vec<&'a str>) -> bool) -> Option<Vec<&'a str>> {
    db.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| pred(f))
}

fn field_u32(fields: &[&str], index: usize) -> Option<u32> {
    fields.get(index).and_then(|v| v.parse().ok())
}

/// Checks that the program the image starts can start (`crate::loader`, the same check audit
/// reports with), refusing the build with what is missing and what to do. `program` is
/// ENTRYPOINT[0] or CMD[0].
#[allow(clippy::too_many_arguments)] // the image's settings the check reads, each a separate input
pub fn check_program(
    view: &ImageView,
    program: &str,
    path_env: &str,
    workdir: &str,
    ld_library_path: &[String],
    run_as: RunAs,
    platform: &Platform,
    reporter: &dyn Reporter,
) -> Result<()> {
    use crate::loader::{check_start, Problem, StartRequest};
    let check = check_start(
        view,
        &StartRequest {
            program,
            path_env,
            workdir,
            ld_library_path: ld_library_path.to_vec(),
            user: Some((run_as.uid, run_as.gid)),
            architecture: Some(&platform.architecture),
        },
    );
    let mut missing_libraries = Vec::new();
    for problem in check.problems {
        let refuse = |why: String| Err(Error::Refused(format!("the image would not start: {why}")));
        match problem {
            Problem::Missing { .. } => {
                let where_ = if program.contains('/') {
                    String::new()
                } else {
                    format!(" (searched PATH={path_env})")
                };
                return refuse(format!(
                    "its program {program} does not exist in the image{where_}; \
                     copy it in with --copy SRC:{} or fix --entrypoint",
                    if program.starts_with('/') { program.to_string() } else { format!("/{program}") }
                ));
            }
            Problem::NotRegular { path } => {
                return refuse(format!("its program {program} ({path}) is not a regular file"))
            }
            Problem::NotExecutable { path, mode } => {
                let key = path.trim_start_matches('/');
                return refuse(format!(
                    "{program} ({path}) has mode {mode:04o} and is not executable by user {}; \
                     give it an executable mode, for example --copy SRC:/{key}:0755",
                    run_as.config_value()
                ));
            }
            Problem::WrongArchitecture { architecture, .. } => {
                return Err(Error::Refused(format!(
                    "{program} is a {architecture} binary but the image platform is {platform}; \
                     build for {platform} or pass --platform linux/{architecture}"
                )))
            }
            Problem::Malformed { path, error } => {
                return refuse(format!("{program} ({path}) is a {error}"))
            }
            Problem::MissingLoader { loader, needed, .. } => {
                let needed = if needed.is_empty() {
                    "no libraries".to_string()
                } else {
                    needed.join(", ")
                };
                let loader = if loader.is_empty() {
                    "a dynamic loader (no PT_INTERP entry)".to_string()
                } else {
                    format!("the loader {loader}")
                };
                return refuse(format!(
                    "{program} is dynamically linked and needs {loader} and {needed}, \
                     which the image does not have (with --no-closure pare does not add them). Link it statically (gcc -static; CGO_ENABLED=0 go build; \
                     cargo build --target x86_64-unknown-linux-musl) or copy the loader and libraries in"
                ));
            }
            Problem::MissingLibrary { name, via, .. } => missing_libraries.push(match via {
                Some(via) => format!("{name} (via {via})"),
                None => name,
            }),
            Problem::MissingInterpreter { interpreter, .. } => {
                return refuse(format!(
                    "{program} is a script for {interpreter}, which the image does not have; \
                     ship a compiled binary or a base that has the interpreter"
                ))
            }
            Problem::UnknownFormat { .. } => reporter.warn(&format!(
                "{program} is neither an ELF binary nor a script with #!; the kernel may refuse to run it"
            )),
        }
    }
    if !missing_libraries.is_empty() {
        return Err(Error::Refused(format!(
            "the image would not start: {program} needs {}, which the image does not have where the \
             loader looks (RPATH, LD_LIBRARY_PATH, RUNPATH, /etc/ld.so.cache, the default directories); \
             copy them in, or drop --no-closure to let pare add them",
            missing_libraries.join(", ")
        )));
    }
    Ok(())
}

/// Normalizes `port[/proto]` into `port/proto` (tcp by default), checking both parts.
pub fn normalize_port(text: &str) -> Result<String> {
    let (port, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let valid_port = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
    let ports_ok = match port.split_once('-') {
        Some((a, b)) => {
            valid_port(a) && valid_port(b) && a.parse::<u16>().ok() <= b.parse::<u16>().ok()
        }
        None => valid_port(port),
    };
    if !ports_ok || !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(Error::Input(format!(
            "--expose {text:?} is not PORT[/tcp|udp|sctp] with PORT between 1 and 65535 (for example 8080/tcp)"
        )));
    }
    Ok(format!("{port}/{proto}"))
}

/// Checks a stop signal: a name like SIGTERM / SIGRTMIN+3 or a number.
pub fn check_stop_signal(signal: &str) -> Result<()> {
    let ok = signal.parse::<u8>().is_ok_and(|n| n > 0 && n < 65)
        || (signal.starts_with("SIG")
            && signal.len() > 3
            && signal[3..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'+' || b == b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Input(format!(
            "stop signal {signal:?} is not a signal name like SIGTERM or a number"
        )))
    }
}

/// Normalizes the working directory into an absolute path.
pub fn normalize_workdir(workdir: &str) -> Result<String> {
    let key = normalize_image_path(workdir).map_err(|e| Error::Input(format!("--workdir: {e}")))?;
    Ok(format!("/{key}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::shebang;
    use pare_oci::tree::{Entry, LayerTree};

    fn static_view() -> ImageView {
        let mut tree = LayerTree::new();
        tree.insert(
            "etc/passwd".into(),
            Entry::bytes(crate::bases::static_passwd().as_bytes(), 0o644),
        )
        .unwrap();
        tree.insert(
            "etc/group".into(),
            Entry::bytes(&b"root:x:0:\nnonroot:x:65532:\nstaff:x:50:\n"[..], 0o644),
        )
        .unwrap();
        tree.add_parents(&|_| None);
        let mut v = ImageView::default();
        v.apply(&tree).unwrap();
        v
    }

    #[test]
    fn users_resolve_by_name_and_number() {
        let v = static_view();
        assert_eq!(
            resolve_user(&v, "nonroot").unwrap(),
            RunAs {
                uid: 65532,
                gid: Some(65532)
            }
        );
        assert_eq!(
            resolve_user(&v, "65532").unwrap(),
            RunAs {
                uid: 65532,
                gid: Some(65532)
            }
        );
        assert_eq!(
            resolve_user(&v, "1000").unwrap(),
            RunAs {
                uid: 1000,
                gid: None
            }
        );
        assert_eq!(
            resolve_user(&v, "root:staff").unwrap(),
            RunAs {
                uid: 0,
                gid: Some(50)
            }
        );
        assert!(resolve_user(&v, "alice").is_err());
        assert!(resolve_user(&v, "root:wheel").is_err());
        assert!(resolve_user(&v, ":1").is_err());
    }

    #[test]
    fn ports_and_signals() {
        assert_eq!(normalize_port("8080").unwrap(), "8080/tcp");
        assert_eq!(normalize_port("53/UDP").unwrap(), "53/udp");
        assert!(normalize_port("0").is_err());
        assert!(normalize_port("70000").is_err());
        assert!(normalize_port("80/http").is_err());
        assert!(check_stop_signal("SIGRTMIN+3").is_ok());
        assert!(check_stop_signal("15").is_ok());
        assert!(check_stop_signal("TERM").is_err());
    }

    #[test]
    fn scripts_need_their_interpreter() {
        assert_eq!(shebang(b"#!/bin/sh -e\necho").as_deref(), Some("/bin/sh"));
        assert_eq!(shebang(b"\x7fELF"), None);
    }
}
