//! The probe runs of `pare slim`: the image's own program started in a sandbox (`pare_sandbox`)
//! as the image's user, with its env and working directory, then the HTTP probes against it
//! (until each answers, or the time runs out), then each `--probe` command in a sandbox of its
//! own, then the program is stopped. The same plan runs on the original tree (traced) and on the
//! slimmed one (to prove it still passes). Not here: what the traces mean (`super::keep`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::{Error, Result};

/// An HTTP probe: `GET http://127.0.0.1:PORT/PATH` must answer below 400.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpProbe {
    pub port: u16,
    pub path: String,
}

impl HttpProbe {
    /// Reads `PORT/PATH` (`8080/health`, `8080` for `/`).
    pub fn parse(text: &str) -> Result<Self> {
        let (port, path) = match text.split_once('/') {
            Some((port, path)) => (port, format!("/{path}")),
            None => (text, "/".to_string()),
        };
        let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
            Error::Input(format!(
                "--http {text:?} is not PORT/PATH (for example 8080/health)"
            ))
        })?;
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::Input(format!(
                "--http {text:?}: the path holds a space or control character"
            )));
        }
        Ok(Self { port, path })
    }
}

impl std::fmt::Display for HttpProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GET 127.0.0.1:{}{}", self.port, self.path)
    }
}

/// A `--probe` command line as its words (shell quoting; no shell runs it).
pub fn parse_probe(text: &str) -> Result<Vec<String>> {
    let words = pare_dockerfile::shell_split(text)
        .map_err(|e| Error::Input(format!("--probe {text:?}: {e}")))?;
    if words.is_empty() {
        return Err(Error::Input(format!("--probe {text:?} names no command")));
    }
    Ok(words)
}

/// One process to start: a path inside the root and its whole argv.
#[derive(Clone, Debug)]
pub struct Command {
    pub program: String,
    pub argv: Vec<String>,
}

/// What every run shares.
#[derive(Clone, Debug)]
pub struct Plan {
    pub entry: Command,
    pub probes: Vec<Command>,
    pub http: Vec<HttpProbe>,
    pub env: Vec<String>,
    pub workdir: String,
    pub uid: u32,
    pub gid: u32,
    /// How long the program may take to end by itself (when no HTTP probe waits on it), and how
    /// long each HTTP probe and each probe command may take.
    pub timeout: Duration,
}

/// One run's result.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    /// `the entrypoint`, `probe 1`, ...
    pub label: String,
    pub argv: Vec<String>,
    /// `exit status 0`, `killed by signal 9`, `still running (stopped)`.
    pub status: String,
    pub passed: bool,
    /// Why it failed.
    pub problem: Option<String>,
    /// The HTTP probes (entrypoint run only): each with the status it answered, or why none.
    pub http: Vec<HttpResult>,
    /// What it wrote to standard output (the first MiB).
    #[serde(skip)]
    pub stdout: Vec<u8>,
    #[serde(skip)]
    pub stderr: Vec<u8>,
    /// Paths it named (traced runs only).
    pub paths_named: usize,
    #[serde(skip)]
    pub touched: std::collections::BTreeMap<String, pare_sandbox::Touch>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HttpResult {
    pub probe: String,
    pub status: Option<u16>,
    pub problem: Option<String>,
}

/// How long a stopped program gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// Output kept per stream.
const OUTPUT_LIMIT: usize = 1 << 20;

/// Runs the plan over `rootfs`, each sandbox in its own directory under `scratch`.
pub fn run_plan(plan: &Plan, rootfs: &Path, scratch: &Path, trace: bool) -> Result<Vec<RunResult>> {
    let spec = |command: &Command, n: usize| pare_sandbox::Spec {
        rootfs: rootfs.to_path_buf(),
        scratch: scratch.join(format!("run-{n}")),
        program: command.program.clone(),
        args: command.argv.clone(),
        env: plan.env.clone(),
        workdir: plan.workdir.clone(),
        uid: plan.uid,
        gid: plan.gid,
        trace,
        output_limit: OUTPUT_LIMIT,
    };
    let entry = pare_sandbox::start(&spec(&plan.entry, 0)).map_err(sandbox_error)?;
    let mut http = Vec::new();
    let mut ended_early = false;
    if plan.http.is_empty() {
        entry.wait_timeout(plan.timeout);
    } else {
        for probe in &plan.http {
            let (status, problem) = poll_http(probe, plan.timeout, &entry);
            ended_early |= entry.finished();
            http.push(HttpResult {
                probe: probe.to_string(),
                status,
                problem,
            });
        }
    }
    let mut results = Vec::new();
    for (i, probe) in plan.probes.iter().enumerate() {
        let run = pare_sandbox::start(&spec(probe, i + 1)).map_err(sandbox_error)?;
        let timed_out = !run.wait_timeout(plan.timeout);
        let finished = match ended(run.stop(GRACE))? {
            Ok(finished) => finished,
            Err(why) => {
                results.push(not_started(format!("probe {}", i + 1), probe, why));
                continue;
            }
        };
        let problem = if timed_out {
            Some(format!("did not end within {} s", plan.timeout.as_secs()))
        } else if !finished.status.success() {
            Some(format!("ended with {}", finished.status))
        } else {
            None
        };
        results.push(result(
            format!("probe {}", i + 1),
            probe,
            finished,
            problem,
            Vec::new(),
        ));
    }
    let running = !entry.finished();
    let finished = match ended(entry.stop(GRACE))? {
        Ok(finished) => finished,
        Err(why) => {
            results.insert(0, not_started("the entrypoint".into(), &plan.entry, why));
            return Ok(results);
        }
    };
    let mut problem = None;
    if !running && !finished.status.success() {
        problem = Some(format!("ended with {}", finished.status));
    } else if ended_early {
        problem = Some("ended before the HTTP probes were done".to_string());
    }
    if let Some(failed) = http.iter().find(|h| h.problem.is_some()) {
        problem.get_or_insert_with(|| {
            format!(
                "{}: {}",
                failed.probe,
                failed.problem.clone().unwrap_or_default()
            )
        });
    }
    let mut entry_result = result(
        "the entrypoint".into(),
        &plan.entry,
        finished,
        problem,
        http,
    );
    if running {
        entry_result.status = "still running (stopped)".into();
    }
    results.insert(0, entry_result);
    Ok(results)
}

/// A finished run, or why its program could not be executed (a failed run, not an error).
fn ended(
    outcome: pare_sandbox::Result<pare_sandbox::Finished>,
) -> Result<std::result::Result<pare_sandbox::Finished, String>> {
    match outcome {
        Ok(finished) => Ok(Ok(finished)),
        Err(pare_sandbox::Error::Exec(why)) => Ok(Err(why)),
        Err(e) => Err(sandbox_error(e)),
    }
}

/// A sandbox that could not be made or run: the machine's fault or the input's, said as such.
fn sandbox_error(e: pare_sandbox::Error) -> Error {
    Error::Input(format!("pare slim: {e}"))
}

fn not_started(label: String, command: &Command, why: String) -> RunResult {
    RunResult {
        label,
        argv: command.argv.clone(),
        status: "not started".into(),
        passed: false,
        problem: Some(format!("{} could not be executed: {why}", command.program)),
        http: Vec::new(),
        stdout: Vec::new(),
        stderr: Vec::new(),
        paths_named: 0,
        touched: Default::default(),
    }
}

fn result(
    label: String,
    command: &Command,
    finished: pare_sandbox::Finished,
    problem: Option<String>,
    http: Vec<HttpResult>,
) -> RunResult {
    RunResult {
        label,
        argv: command.argv.clone(),
        status: finished.status.to_string(),
        passed: problem.is_none(),
        problem,
        http,
        stdout: finished.stdout,
        stderr: finished.stderr,
        paths_named: finished.touched.len(),
        touched: finished.touched,
    }
}

/// Asks `probe` until it answers, the program ends, or `timeout` passes.
fn poll_http(
    probe: &HttpProbe,
    timeout: Duration,
    entry: &pare_sandbox::Running,
) -> (Option<u16>, Option<String>) {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match get(probe) {
            Ok(code) if code < 400 => return (Some(code), None),
            Ok(code) => return (Some(code), Some(format!("answered HTTP {code}"))),
            Err(e) => e,
        };
        if entry.finished() {
            return (None, Some(format!("the program ended ({last})")));
        }
        if Instant::now() >= deadline {
            return (
                None,
                Some(format!("no answer within {} s ({last})", timeout.as_secs())),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One `GET`, HTTP/1.1 with `Connection: close`; the status code.
fn get(probe: &HttpProbe) -> std::result::Result<u16, String> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], probe.port));
    let mut stream =
        TcpStream::connect_timeout(&address, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: pare-slim\r\nConnection: close\r\n\r\n",
        probe.path, probe.port
    )
    .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.contains(&b'\n') && head.len() < 8192 {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    // Drain the rest, so the server sees its whole answer read.
    let _ = std::io::copy(&mut stream.take(1 << 20), &mut std::io::sink());
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| {
            format!(
                "not an HTTP answer: {:?}",
                line.lines().next().unwrap_or("")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_probes_read_port_and_path() {
        assert_eq!(
            HttpProbe::parse("8080/health").unwrap(),
            HttpProbe {
                port: 8080,
                path: "/health".into()
            }
        );
        assert_eq!(HttpProbe::parse("80").unwrap().path, "/");
        assert!(HttpProbe::parse("0/x").is_err());
        assert!(HttpProbe::parse("http://x").is_err());
        assert!(HttpProbe::parse("80/a b").is_err());
    }
}
