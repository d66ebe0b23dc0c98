//! Runs one program of an unpacked image root the way a container runtime would run it, without a
//! runtime or a daemon, and optionally records every path the program and its descendants name in
//! a file system call. pare sets the sandbox up itself, as bubblewrap does: a new user namespace
//! that maps the image's user to the caller (so it works rootless, and as root the program holds
//! no capability outside), new mount, PID, IPC and UTS namespaces, an overlay whose lower layer is
//! the unpacked root (never written: what the program writes lands in a throwaway upper layer), a
//! fresh `/proc`, a small `/dev` of bind-mounted host devices, `pivot_root` into the overlay, the
//! working directory made if missing, then `execve`. The network namespace is the caller's, so a
//! service listens on the host's loopback where a probe can reach it.
//!
//! Tracing is ptrace, strace-style: the first process stops itself before it unshares, the tracer
//! follows forks, vforks, clones and execs, and at each syscall entry reads the path arguments of
//! the calls that name files (open, exec, stat, access, readlink, chdir and their `*at` forms).
//! Relative paths are joined to the caller's working directory or directory descriptor as
//! `/proc/PID/cwd` and `/proc/PID/fd/N` show them. Limits, documented for users: a path reached
//! only through an already-open descriptor (`fstat`, `getdents` of an open directory) is seen when
//! it is opened, not per entry; files the kernel opens itself (the ELF interpreter, a script's
//! interpreter) are the caller's to add from the executed paths; memory-mapped files are seen when
//! opened; io_uring opens are not seen.
//!
//! Written by hand over `libc` and `nix` because no crate runs a program in namespaces under ptrace
//! and records its paths. Not here: unpacking images, deciding what to keep (`pare::slim`).

mod child;
mod trace;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

pub use trace::Touch;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sandbox: {0}")]
    Setup(String),
    /// The sandbox was made but the program could not be executed in it (missing, not
    /// executable, its loader or interpreter missing): a failed run, not a broken sandbox.
    #[error("could not execute the program: {0}")]
    Exec(String),
    #[error("sandbox: {action}: {source}")]
    Os {
        action: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

fn os(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let action = action.into();
    move |source| Error::Os { action, source }
}

/// One program to run.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The unpacked image root: the overlay's lower layer, never written.
    pub rootfs: PathBuf,
    /// An empty directory of the caller's for the overlay's upper, work and mount directories.
    pub scratch: PathBuf,
    /// The program's absolute path inside the root.
    pub program: String,
    /// The whole argument vector, `argv[0]` first.
    pub args: Vec<String>,
    /// `KEY=VALUE` strings.
    pub env: Vec<String>,
    /// The working directory inside the root (made if missing, as runc makes it).
    pub workdir: String,
    pub uid: u32,
    pub gid: u32,
    /// Record the paths the program names.
    pub trace: bool,
    /// Most bytes of stdout and of stderr kept (the rest is read and dropped).
    pub output_limit: usize,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

impl Status {
    pub fn success(self) -> bool {
        self == Status::Exited(0)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Exited(code) => write!(f, "exit status {code}"),
            Status::Signaled(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

/// What a finished run left.
#[derive(Clone, Debug)]
pub struct Finished {
    pub status: Status,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Every path named (inside the root, as the program named it, joined to its directory when
    /// relative), with the first process and call that named it. Empty when not traced.
    pub touched: BTreeMap<String, Touch>,
    /// Whether the run was stopped by [`Running::stop`] rather than ending by itself.
    pub stopped: bool,
}

/// A program running in its sandbox.
pub struct Running {
    supervisor: Option<JoinHandle<Result<Finished>>>,
    done: mpsc::Receiver<()>,
    /// Set once `done` has said the run ended: the supervisor thread sends it before it returns,
    /// so its handle may not count as finished yet.
    ended: AtomicBool,
    /// The host PID of the sandbox's first process (its PID 1), 0 until known.
    init: Arc<AtomicI32>,
    stopped: bool,
}

/// Whether this machine can run sandboxes: user namespaces usable by the caller. The reason when
/// not.
pub fn available() -> std::result::Result<(), String> {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .map_err(|e| format!("cannot read /proc/sys/user/max_user_namespaces: {e}"))?;
    if max.trim() == "0" {
        return Err("user namespaces are disabled (user.max_user_namespaces = 0)".into());
    }
    if let Ok(v) = std::fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone") {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if v.trim() == "0" && unsafe { libc::geteuid() } != 0 {
            return Err(
                "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)"
                    .into(),
            );
        }
    }
    Ok(())
}

/// Starts `spec`'s program. The run goes on in the background until it ends or is stopped.
pub fn start(spec: &Spec) -> Result<Running> {
    let prepared = child::Prepared::new(spec)?;
    let init = Arc::new(AtomicI32::new(0));
    let (done_tx, done) = mpsc::channel();
    let shared = init.clone();
    let trace = spec.trace;
    let limit = spec.output_limit;
    let supervisor = std::thread::Builder::new()
        .name("pare-sandbox".into())
        .spawn(move || {
            let result = supervise(prepared, trace, limit, &shared);
            let _ = done_tx.send(());
            result
        })
        .map_err(os("start the sandbox's supervisor thread"))?;
    Ok(Running {
        supervisor: Some(supervisor),
        done,
        ended: AtomicBool::new(false),
        init,
        stopped: false,
    })
}

impl Running {
    /// Waits up to `timeout` for the run to end by itself; true when it has.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        if self.ended.load(Ordering::SeqCst) {
            return true;
        }
        let ended = match self.done.recv_timeout(timeout) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => true,
            Err(mpsc::RecvTimeoutError::Timeout) => false,
        };
        self.ended.fetch_or(ended, Ordering::SeqCst);
        ended
    }

    /// Whether the run has ended (once [`Running::wait_timeout`] said so, this says so too).
    pub fn finished(&self) -> bool {
        if self.ended.load(Ordering::SeqCst) || self.supervisor.is_none() {
            return true;
        }
        let ended = match self.done.try_recv() {
            Ok(()) | Err(mpsc::TryRecvError::Disconnected) => true,
            Err(mpsc::TryRecvError::Empty) => false,
        };
        self.ended.fetch_or(ended, Ordering::SeqCst);
        ended
    }

    /// Asks the program to stop (SIGTERM to the sandbox's first process, which, as PID 1, heeds
    /// it only when it handles it, as under any runtime), then kills the whole sandbox after
    /// `grace`, and returns what it left.
    pub fn stop(mut self, grace: Duration) -> Result<Finished> {
        if !self.finished() {
            self.stopped = true;
            self.signal(libc::SIGTERM);
            if !self.wait_timeout(grace) {
                self.signal(libc::SIGKILL);
            }
        }
        self.wait()
    }

    /// Waits for the run to end and returns what it left.
    pub fn wait(mut self) -> Result<Finished> {
        let supervisor = self
            .supervisor
            .take()
            .ok_or_else(|| Error::Setup("the run was already collected".into()))?;
        let stopped = self.stopped;
        match supervisor.join() {
            Ok(result) => result.map(|mut f| {
                f.stopped = stopped;
                f
            }),
            Err(_) => Err(Error::Setup(
                "the sandbox's supervisor thread panicked".into(),
            )),
        }
    }

    fn signal(&self, signal: i32) {
        let pid = self.init.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill takes plain integers; a PID that has gone away gives ESRCH, nothing else.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(supervisor) = self.supervisor.take() {
            if !supervisor.is_finished() {
                self.signal(libc::SIGKILL);
            }
            let _ = supervisor.join();
        }
    }
}

/// The supervisor thread: forks the sandbox, traces it (or just waits), collects its output.
fn supervise(
    prepared: child::Prepared,
    trace: bool,
    limit: usize,
    init: &AtomicI32,
) -> Result<Finished> {
    let pipes = child::Pipes::new()?;
    let fds = pipes.child_fds();
    let (argv, envp) = prepared.vectors();
    // SAFETY: the child runs only `child::run_outer`, which calls async-signal-safe functions on
    // memory prepared before the fork (no allocation, no lock), then execs or `_exit`s; the parent
    // continues normally.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::Os {
            action: "fork the sandbox".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    if pid == 0 {
        child::run_outer(&prepared, &fds, &argv, &envp);
    }
    let parent = pipes.into_parent();
    let stdout = reader(parent.stdout, limit);
    let stderr = reader(parent.stderr, limit);
    let mut info = std::fs::File::from(parent.info);
    let outcome = if trace {
        trace::trace(pid, init, &prepared.merged_path)
    } else {
        let mut word = [0u8; 4];
        if info.read_exact(&mut word).is_ok() {
            init.store(i32::from_ne_bytes(word), Ordering::SeqCst);
        }
        let mut status = 0;
        // SAFETY: waitpid writes only into `status`, a valid i32.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
        let inner = if info.read_exact(&mut word).is_ok() {
            decode(i32::from_ne_bytes(word))
        } else {
            decode(status)
        };
        Ok((inner, BTreeMap::new()))
    };
    let mut failure = Vec::new();
    let _ = std::fs::File::from(parent.failure).read_to_end(&mut failure);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if let Some(failed) = child::describe_failure(&failure) {
        return Err(failed);
    }
    let (status, touched) = outcome?;
    Ok(Finished {
        status,
        stdout,
        stderr,
        touched,
        stopped: false,
    })
}

fn decode(status: i32) -> Status {
    if libc::WIFSIGNALED(status) {
        Status::Signaled(libc::WTERMSIG(status))
    } else {
        Status::Exited(libc::WEXITSTATUS(status))
    }
}

/// Reads a pipe to its end, keeping the first `limit` bytes.
fn reader(fd: OwnedFd, limit: usize) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut file = std::fs::File::from(fd);
        let mut kept = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = limit.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        kept
    })
}

fn cstring(text: &str, what: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::Setup(format!("{what} {text:?} holds a NUL byte")))
}

fn cpath(path: &Path, what: &str) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::Setup(format!("{what} {} holds a NUL byte", path.display())))
}

/// A pipe whose two ends close on exec.
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given, which has room for two.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::Os {
            action: "make a pipe".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: both descriptors were just returned by pipe2 and belong to no one else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
