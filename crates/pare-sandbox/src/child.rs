//! The sandbox's own side of the fork: everything it needs is made before the fork
//! ([`Prepared`], [`Pipes`]); after it, only async-signal-safe calls on that memory, until `execve`
//! or `_exit`. A failing step writes its number and errno to a close-on-exec pipe, which the parent
//! turns into a message ([`describe_failure`]). Not here: tracing (`crate::trace`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};

use libc::{c_char, c_int};

use crate::{cpath, cstring, pipe, Error, Result, Spec};

/// Host devices bind-mounted into the sandbox's `/dev`, as runc's defaults.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
/// `/dev` symlinks every runtime makes.
const DEV_LINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// The steps that can fail, in order; the number goes through the failure pipe.
const STEPS: [&str; 16] = [
    "ask to be traced (PTRACE_TRACEME)",
    "redirect standard input and output",
    "unshare the user, mount, PID, IPC and UTS namespaces (are user namespaces enabled?)",
    "write the user namespace's uid_map",
    "write the user namespace's setgroups",
    "write the user namespace's gid_map",
    "fork the sandbox's first process",
    "make the mounts private",
    "mount the overlay over the unpacked root (does the kernel allow overlayfs in a user namespace?)",
    "mount /proc",
    "mount /dev",
    "bind-mount a device into /dev",
    "pivot_root into the overlay",
    "enter the working directory",
    "execute the program",
    "set the parent-death signal",
];

/// Everything the child needs, made before the fork.
pub(crate) struct Prepared {
    /// The host directory the overlay is mounted on.
    pub(crate) merged_path: std::path::PathBuf,
    program: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    merged: CString,
    overlay_options: CString,
    overlay_options_userxattr: CString,
    proc_dir: CString,
    dev_dir: CString,
    shm_dir: CString,
    devices: Vec<(CString, CString)>,
    links: Vec<(CString, CString)>,
    workdir_prefixes: Vec<CString>,
    workdir: CString,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    trace: bool,
}

impl Prepared {
    pub(crate) fn new(spec: &Spec) -> Result<Self> {
        if !spec.program.starts_with('/') {
            return Err(Error::Setup(format!(
                "the program {:?} must be an absolute path inside the root",
                spec.program
            )));
        }
        if !spec.workdir.starts_with('/') {
            return Err(Error::Setup(format!(
                "the working directory {:?} must be absolute",
                spec.workdir
            )));
        }
        let upper = spec.scratch.join("upper");
        let work = spec.scratch.join("work");
        let merged = spec.scratch.join("merged");
        for dir in [&upper, &work, &merged] {
            std::fs::create_dir_all(dir).map_err(crate::os(format!("create {}", dir.display())))?;
        }
        for dir in [&spec.rootfs, &upper, &work] {
            let text = dir.display().to_string();
            if text.contains([',', ':', '\\']) {
                return Err(Error::Setup(format!(
                    "{text} holds a comma, colon or backslash, which overlayfs options cannot \
                     carry; set TMPDIR to a plainer directory"
                )));
            }
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            spec.rootfs.display(),
            upper.display(),
            work.display()
        );
        let argv = spec
            .args
            .iter()
            .map(|a| cstring(a, "the argument"))
            .collect::<Result<Vec<_>>>()?;
        let env = spec
            .env
            .iter()
            .map(|e| cstring(e, "the environment entry"))
            .collect::<Result<Vec<_>>>()?;
        let in_merged = |rest: &str| cpath(&merged.join(rest), "the sandbox path");
        let devices = DEVICES
            .iter()
            .map(|d| {
                Ok((
                    cstring(&format!("/dev/{d}"), "device")?,
                    in_merged(&format!("dev/{d}"))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let links = DEV_LINKS
            .iter()
            .map(|(name, target)| {
                Ok((cstring(target, "link")?, in_merged(&format!("dev/{name}"))?))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut workdir_prefixes = Vec::new();
        let mut prefix = String::new();
        for part in spec.workdir.split('/').filter(|p| !p.is_empty()) {
            prefix.push('/');
            prefix.push_str(part);
            workdir_prefixes.push(cstring(&prefix, "the working directory")?);
        }
        // SAFETY: geteuid and getegid have no preconditions and cannot fail.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Ok(Self {
            merged_path: merged.clone(),
            program: cstring(&spec.program, "the program")?,
            argv,
            env,
            merged: cpath(&merged, "the sandbox root")?,
            overlay_options: cstring(&options, "the overlay options")?,
            overlay_options_userxattr: cstring(
                &format!("{options},userxattr"),
                "the overlay options",
            )?,
            proc_dir: in_merged("proc")?,
            dev_dir: in_merged("dev")?,
            shm_dir: in_merged("dev/shm")?,
            devices,
            links,
            workdir_prefixes,
            workdir: cstring(&spec.workdir, "the working directory")?,
            uid_map: format!("{} {euid} 1\n", spec.uid).into_bytes(),
            gid_map: format!("{} {egid} 1\n", spec.gid).into_bytes(),
            trace: spec.trace,
        })
    }
}

/// The pipes between the sandbox and its supervisor.
pub(crate) struct Pipes {
    stdout: (OwnedFd, OwnedFd),
    stderr: (OwnedFd, OwnedFd),
    failure: (OwnedFd, OwnedFd),
    info: (OwnedFd, OwnedFd),
    null: OwnedFd,
}

/// The raw descriptors the child uses.
pub(crate) struct ChildFds {
    stdout: c_int,
    stderr: c_int,
    failure: c_int,
    info: c_int,
    null: c_int,
}

/// The parent's ends.
pub(crate) struct ParentEnds {
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub failure: OwnedFd,
    pub info: OwnedFd,
}

impl Pipes {
    pub(crate) fn new() -> Result<Self> {
        let null = std::fs::File::open("/dev/null").map_err(crate::os("open /dev/null"))?;
        Ok(Self {
            stdout: pipe()?,
            stderr: pipe()?,
            failure: pipe()?,
            info: pipe()?,
            null: null.into(),
        })
    }

    pub(crate) fn child_fds(&self) -> ChildFds {
        ChildFds {
            stdout: self.stdout.1.as_raw_fd(),
            stderr: self.stderr.1.as_raw_fd(),
            failure: self.failure.1.as_raw_fd(),
            info: self.info.1.as_raw_fd(),
            null: self.null.as_raw_fd(),
        }
    }

    /// Keeps the read ends and closes the write ends (so the reads end when the sandbox does).
    pub(crate) fn into_parent(self) -> ParentEnds {
        ParentEnds {
            stdout: self.stdout.0,
            stderr: self.stderr.0,
            failure: self.failure.0,
            info: self.info.0,
        }
    }
}

/// The step number of `execve`.
const EXEC_STEP: u8 = 14;

/// Turns what the failure pipe carried into an error (None when the sandbox started).
pub(crate) fn describe_failure(bytes: &[u8]) -> Option<Error> {
    let (&step, rest) = bytes.split_first()?;
    let errno = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
        .unwrap_or(0);
    let cause = std::io::Error::from_raw_os_error(errno);
    if step == EXEC_STEP {
        return Some(Error::Exec(cause.to_string()));
    }
    let what = STEPS.get(usize::from(step)).copied().unwrap_or("set up");
    Some(Error::Setup(format!("could not {what}: {cause}")))
}

/// Reports the failed `step` with the current errno and ends the process.
fn fail(fds: &ChildFds, step: u8) -> ! {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let mut message = [0u8; 5];
    message[0] = step;
    message[1..].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: write and _exit are async-signal-safe; `message` is a live stack buffer of 5 bytes.
    unsafe {
        libc::write(fds.failure, message.as_ptr().cast(), message.len());
        libc::_exit(126)
    }
}

fn pointers(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Writes `bytes` to the file at `path` (a `/proc/self` map); false on failure.
///
/// # Safety
/// Async-signal-safe: open, write and close only.
unsafe fn write_file(path: &[u8], bytes: &[u8]) -> bool {
    // SAFETY: `path` is a NUL-terminated literal, `bytes` a live slice.
    unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::close(fd);
        written == bytes.len() as isize
    }
}

/// The forked child: namespaces, then the sandbox's first process, whose exit it mirrors. `argv`
/// and `envp` are [`Prepared::vectors`], made before the fork, so nothing here allocates.
pub(crate) fn run_outer(
    p: &Prepared,
    fds: &ChildFds,
    argv: &[*const c_char],
    envp: &[*const c_char],
) -> ! {
    // SAFETY: every call below is async-signal-safe (ptrace, raise, prctl, dup2, unshare, open,
    // write, close, fork, waitpid, _exit), on NUL-terminated strings and buffers made before the
    // fork and alive for the whole function.
    unsafe {
        if p.trace {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) < 0 {
                fail(fds, 0);
            }
            libc::raise(libc::SIGSTOP);
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
            fail(fds, 15);
        }
        if libc::dup2(fds.null, 0) < 0
            || libc::dup2(fds.stdout, 1) < 0
            || libc::dup2(fds.stderr, 2) < 0
        {
            fail(fds, 1);
        }
        let flags = libc::CLONE_NEWUSER
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS;
        if libc::unshare(flags) < 0 {
            fail(fds, 2);
        }
        if !write_file(b"/proc/self/uid_map\0", &p.uid_map) {
            fail(fds, 3);
        }
        if !write_file(b"/proc/self/setgroups\0", b"deny") {
            fail(fds, 4);
        }
        if !write_file(b"/proc/self/gid_map\0", &p.gid_map) {
            fail(fds, 5);
        }
        let init = libc::fork();
        if init < 0 {
            fail(fds, 6);
        }
        if init == 0 {
            run_init(p, fds, argv, envp);
        }
        libc::write(fds.info, (&init as *const i32).cast(), 4);
        let mut status = 0;
        while libc::waitpid(init, &mut status, 0) < 0 {
            if *libc::__errno_location() != libc::EINTR {
                libc::_exit(125);
            }
        }
        libc::write(fds.info, (&status as *const i32).cast(), 4);
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status))
        }
        libc::_exit(128 + libc::WTERMSIG(status))
    }
}

impl Prepared {
    /// The NUL-terminated pointer arrays `execve` takes, pointing into `self`.
    pub(crate) fn vectors(&self) -> (Vec<*const c_char>, Vec<*const c_char>) {
        (pointers(&self.argv), pointers(&self.env))
    }
}

/// The sandbox's PID 1: mounts, pivot_root, working directory, exec.
///
/// # Safety
/// Called only in the forked child, where it uses async-signal-safe calls only.
fn run_init(p: &Prepared, fds: &ChildFds, argv: &[*const c_char], envp: &[*const c_char]) -> ! {
    let none: *const c_char = std::ptr::null();
    // SAFETY: as in `run_outer`: async-signal-safe calls on memory made before the fork.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
            fail(fds, 15);
        }
        libc::setsid();
        if libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) < 0
        {
            fail(fds, 7);
        }
        let overlay = c"overlay".as_ptr();
        if libc::mount(
            overlay,
            p.merged.as_ptr(),
            overlay,
            0,
            p.overlay_options.as_ptr().cast(),
        ) < 0
            && libc::mount(
                overlay,
                p.merged.as_ptr(),
                overlay,
                0,
                p.overlay_options_userxattr.as_ptr().cast(),
            ) < 0
        {
            fail(fds, 8);
        }
        libc::mkdir(p.proc_dir.as_ptr(), 0o555);
        let proc_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        if libc::mount(
            c"proc".as_ptr(),
            p.proc_dir.as_ptr(),
            c"proc".as_ptr(),
            proc_flags,
            std::ptr::null(),
        ) < 0
        {
            fail(fds, 9);
        }
        libc::mkdir(p.dev_dir.as_ptr(), 0o755);
        if libc::mount(
            c"tmpfs".as_ptr(),
            p.dev_dir.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_STRICTATIME,
            c"mode=755,size=65536k".as_ptr().cast(),
        ) < 0
        {
            fail(fds, 10);
        }
        for (host, target) in &p.devices {
            let fd = libc::open(
                target.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o666,
            );
            if fd >= 0 {
                libc::close(fd);
            }
            if libc::mount(
                host.as_ptr(),
                target.as_ptr(),
                none,
                libc::MS_BIND,
                std::ptr::null(),
            ) < 0
            {
                fail(fds, 11);
            }
        }
        for (target, link) in &p.links {
            libc::symlink(target.as_ptr(), link.as_ptr());
        }
        libc::mkdir(p.shm_dir.as_ptr(), 0o1777);
        libc::mount(
            c"shm".as_ptr(),
            p.shm_dir.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            c"mode=1777,size=65536k".as_ptr().cast(),
        );
        if libc::chdir(p.merged.as_ptr()) < 0
            || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) < 0
            || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) < 0
            || libc::chdir(c"/".as_ptr()) < 0
        {
            fail(fds, 12);
        }
        let name = b"pare-slim";
        libc::sethostname(name.as_ptr().cast(), name.len());
        for prefix in &p.workdir_prefixes {
            libc::mkdir(prefix.as_ptr(), 0o755);
        }
        if libc::chdir(p.workdir.as_ptr()) < 0 {
            fail(fds, 13);
        }
        libc::execve(p.program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail(fds, EXEC_STEP)
    }
}
