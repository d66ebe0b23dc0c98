//! The tracer: a ptrace loop over the sandbox's processes that records, at each syscall entry, the
//! paths that file system calls name. It follows forks, vforks, clones and execs
//! (`PTRACE_O_TRACE*`), reads the call and its arguments with `PTRACE_GET_SYSCALL_INFO` (so the
//! register layout of the architecture does not matter, only its syscall numbers), and reads path
//! strings from the tracee with `process_vm_readv`. Recording starts at the first `execve` of the
//! sandbox's PID 1, so the sandbox's own set-up (mounts, pivot_root) is not counted. Not here:
//! setting the sandbox up (`crate::child`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IoSliceMut;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::ptrace::{self, Event, Options};
use nix::sys::signal::Signal;
use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::{Error, Result, Status};

/// Who first named a path, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touch {
    /// The process's PID inside the sandbox.
    pub pid: i32,
    /// The call's family: `open`, `exec`, `stat`, `access`, `readlink`, `chdir`, ...
    pub call: &'static str,
}

/// Where the directory descriptor argument is, if any (else the path is relative to the working
/// directory).
#[derive(Clone, Copy)]
enum Base {
    Cwd,
    Fd(usize),
}

/// The calls that name files: (number, base, path argument, family).
fn calls() -> Vec<(i64, Base, usize, &'static str)> {
    #[allow(unused_mut)]
    let mut table = vec![
        (libc::SYS_openat, Base::Fd(0), 1, "open"),
        (libc::SYS_openat2, Base::Fd(0), 1, "open"),
        (libc::SYS_execve, Base::Cwd, 0, "exec"),
        (libc::SYS_execveat, Base::Fd(0), 1, "exec"),
        (libc::SYS_newfstatat, Base::Fd(0), 1, "stat"),
        (libc::SYS_statx, Base::Fd(0), 1, "stat"),
        (libc::SYS_faccessat, Base::Fd(0), 1, "access"),
        (libc::SYS_faccessat2, Base::Fd(0), 1, "access"),
        (libc::SYS_readlinkat, Base::Fd(0), 1, "readlink"),
        (libc::SYS_chdir, Base::Cwd, 0, "chdir"),
        (libc::SYS_truncate, Base::Cwd, 0, "truncate"),
        (libc::SYS_statfs, Base::Cwd, 0, "stat"),
        (libc::SYS_getxattr, Base::Cwd, 0, "stat"),
        (libc::SYS_lgetxattr, Base::Cwd, 0, "stat"),
        (libc::SYS_inotify_add_watch, Base::Cwd, 1, "watch"),
    ];
    #[cfg(target_arch = "x86_64")]
    table.extend([
        (libc::SYS_open, Base::Cwd, 0, "open"),
        (libc::SYS_creat, Base::Cwd, 0, "open"),
        (libc::SYS_stat, Base::Cwd, 0, "stat"),
        (libc::SYS_lstat, Base::Cwd, 0, "stat"),
        (libc::SYS_access, Base::Cwd, 0, "access"),
        (libc::SYS_readlink, Base::Cwd, 0, "readlink"),
        (libc::SYS_uselib, Base::Cwd, 0, "open"),
    ]);
    table
}

/// Longest path read from a tracee (PATH_MAX).
const MAX_PATH: usize = 4096;

struct Proc {
    /// Its calls are recorded.
    recording: bool,
    /// The sandbox's PID 1 before its first exec: recording starts at that exec.
    armed: bool,
    /// It was announced by its parent's fork event and its first (SIGSTOP) stop is still due.
    fresh: bool,
    /// Its PID inside the sandbox, once read.
    ns_pid: Option<i32>,
}

/// Traces the sandbox whose first process is `first` (stopped by its own SIGSTOP after
/// PTRACE_TRACEME) until every traced process has gone. Returns how the sandbox's PID 1 ended
/// and the paths named; `init` receives PID 1's host PID as soon as it is known. `merged` is the
/// host directory the sandbox's root was mounted on, for descriptor paths shown from outside.
pub(crate) fn trace(
    first: i32,
    init: &AtomicI32,
    merged: &Path,
) -> Result<(Status, BTreeMap<String, Touch>)> {
    let first = Pid::from_raw(first);
    let table = calls();
    let traced = |e: Errno, what: &str| Error::Os {
        action: format!("trace the sandbox ({what})"),
        source: std::io::Error::from(e),
    };
    match waitpid(first, Some(WaitPidFlag::__WALL)) {
        Ok(WaitStatus::Stopped(_, Signal::SIGSTOP)) => {}
        Ok(WaitStatus::Exited(_, code)) => return Ok((Status::Exited(code), BTreeMap::new())),
        Ok(other) => {
            return Err(Error::Setup(format!(
                "the sandbox did not stop to be traced ({other:?})"
            )))
        }
        Err(e) => return Err(traced(e, "first stop")),
    }
    ptrace::setoptions(
        first,
        Options::PTRACE_O_EXITKILL
            | Options::PTRACE_O_TRACESYSGOOD
            | Options::PTRACE_O_TRACEFORK
            | Options::PTRACE_O_TRACEVFORK
            | Options::PTRACE_O_TRACECLONE
            | Options::PTRACE_O_TRACEEXEC,
    )
    .map_err(|e| traced(e, "set options"))?;
    resume(first, None);
    let mut procs: HashMap<Pid, Proc> = HashMap::new();
    procs.insert(
        first,
        Proc {
            recording: false,
            armed: false,
            fresh: false,
            ns_pid: None,
        },
    );
    let mut parked: HashSet<Pid> = HashSet::new();
    let mut init_pid: Option<Pid> = None;
    let mut status = None;
    let mut touched = BTreeMap::new();
    loop {
        let event = match waitpid(None, Some(WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD)) {
            Ok(event) => event,
            Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) => break,
            Err(e) => return Err(traced(e, "wait")),
        };
        match event {
            WaitStatus::PtraceSyscall(pid) => {
                if let Some(proc) = procs.get_mut(&pid) {
                    on_syscall(pid, proc, &table, merged, &mut touched);
                }
                resume(pid, None);
            }
            WaitStatus::PtraceEvent(pid, _, event)
                if event == Event::PTRACE_EVENT_FORK as i32
                    || event == Event::PTRACE_EVENT_VFORK as i32
                    || event == Event::PTRACE_EVENT_CLONE as i32 =>
            {
                if let Ok(child) = ptrace::getevent(pid) {
                    let child = Pid::from_raw(child as i32);
                    let is_init = pid == first && init_pid.is_none();
                    if is_init {
                        init_pid = Some(child);
                        init.store(child.as_raw(), Ordering::SeqCst);
                    }
                    let recording = procs.get(&pid).is_some_and(|p| p.recording);
                    let was_parked = parked.remove(&child);
                    procs.insert(
                        child,
                        Proc {
                            recording,
                            armed: is_init,
                            fresh: !was_parked,
                            ns_pid: None,
                        },
                    );
                    if was_parked {
                        resume(child, None);
                    }
                }
                resume(pid, None);
            }
            WaitStatus::PtraceEvent(pid, _, _) => resume(pid, None),
            WaitStatus::Stopped(pid, signal) => {
                let Some(proc) = procs.get_mut(&pid) else {
                    // A new process whose parent's fork event has not been seen: it waits until
                    // then, so it is recorded (or not) as its parent is.
                    parked.insert(pid);
                    continue;
                };
                if proc.fresh && signal == Signal::SIGSTOP {
                    proc.fresh = false;
                    resume(pid, None);
                } else if matches!(
                    signal,
                    Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU
                ) && ptrace::getsiginfo(pid).is_err()
                {
                    // A group stop, not a signal to deliver.
                    resume(pid, None);
                } else {
                    resume(pid, Some(signal));
                }
            }
            WaitStatus::Exited(pid, code) => {
                procs.remove(&pid);
                if Some(pid) == init_pid {
                    status = Some(Status::Exited(code));
                }
            }
            WaitStatus::Signaled(pid, signal, _) => {
                procs.remove(&pid);
                if Some(pid) == init_pid {
                    status = Some(Status::Signaled(signal as i32));
                }
            }
            _ => {}
        }
    }
    let status = status.unwrap_or(Status::Exited(126));
    Ok((status, touched))
}

fn resume(pid: Pid, signal: Option<Signal>) {
    // A tracee that has just been killed is gone (ESRCH): its exit is reported by wait.
    let _ = ptrace::syscall(pid, signal);
}

fn on_syscall(
    pid: Pid,
    proc: &mut Proc,
    table: &[(i64, Base, usize, &'static str)],
    merged: &Path,
    touched: &mut BTreeMap<String, Touch>,
) {
    let Ok(info) = ptrace::syscall_info(pid) else {
        return;
    };
    if info.op != libc::PTRACE_SYSCALL_INFO_ENTRY {
        return;
    }
    // SAFETY: the kernel fills the `entry` member of the union when `op` is
    // PTRACE_SYSCALL_INFO_ENTRY, checked just above.
    let (nr, args) = unsafe { (info.u.entry.nr as i64, info.u.entry.args) };
    if proc.armed && (nr == libc::SYS_execve || nr == libc::SYS_execveat) {
        proc.armed = false;
        proc.recording = true;
    }
    if !proc.recording {
        return;
    }
    let Some(&(_, base, path_arg, call)) = table.iter().find(|(n, ..)| *n == nr) else {
        return;
    };
    let Some(path) = read_string(pid, args[path_arg]) else {
        return;
    };
    if path.is_empty() {
        return;
    }
    let full = if path.starts_with('/') {
        path
    } else {
        let link = match base {
            Base::Fd(arg) if args[arg] as i32 != libc::AT_FDCWD => {
                format!("/proc/{pid}/fd/{}", args[arg] as i32)
            }
            _ => format!("/proc/{pid}/cwd"),
        };
        let Some(dir) = std::fs::read_link(&link)
            .ok()
            .and_then(|d| inside(&d, merged))
        else {
            return;
        };
        if dir == "/" {
            format!("/{path}")
        } else {
            format!("{dir}/{path}")
        }
    };
    if touched.contains_key(&full) {
        return;
    }
    let ns_pid = *proc.ns_pid.get_or_insert_with(|| ns_pid(pid));
    touched.insert(full, Touch { pid: ns_pid, call });
}

/// A directory as the sandbox sees it, from a `/proc` link read outside: the sandbox's root is
/// the overlay mounted on `merged`, which the kernel shows either as that host path or, when the
/// mount is out of the reader's reach, as the path below the sandbox's root.
fn inside(link: &Path, merged: &Path) -> Option<String> {
    let text = link.to_str()?;
    if let Ok(rest) = link.strip_prefix(merged) {
        let rest = rest.to_str()?;
        return Some(format!("/{rest}"));
    }
    text.starts_with('/').then(|| text.to_string())
}

/// The PID `pid` has inside its own (innermost) PID namespace, from `/proc/PID/status`.
fn ns_pid(pid: Pid) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|ids| ids.split_whitespace().last().map(str::to_string))
        })
        .and_then(|id| id.parse().ok())
        .unwrap_or(pid.as_raw())
}

/// A NUL-terminated string at `address` in the tracee, read a page at a time (a string may end
/// just before an unmapped page). None when it cannot be read or is longer than PATH_MAX.
fn read_string(pid: Pid, address: u64) -> Option<String> {
    const PAGE: u64 = 4096;
    let mut bytes = Vec::new();
    let mut at = address;
    while bytes.len() < MAX_PATH {
        let chunk = (PAGE - at % PAGE) as usize;
        let mut buf = vec![0u8; chunk];
        let read = process_vm_readv(
            pid,
            &mut [IoSliceMut::new(&mut buf)],
            &[RemoteIoVec {
                base: at as usize,
                len: chunk,
            }],
        )
        .ok()?;
        if read == 0 {
            return None;
        }
        if let Some(end) = buf[..read].iter().position(|&b| b == 0) {
            bytes.extend_from_slice(&buf[..end]);
            return String::from_utf8(bytes).ok();
        }
        bytes.extend_from_slice(&buf[..read]);
        at += read as u64;
    }
    None
}
