//! Shared helpers for the integration tests: running pare, making test programs, finding peers,
//! starting a throwaway registry on 127.0.0.1, and reading what pare wrote.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// A `pare` command with a clean environment for reproducible results.
pub fn pare() -> Command {
    let mut cmd = Command::cargo_bin("pare").expect("the pare binary is built");
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd
}

/// Runs a command, returning (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("command starts");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command and panics with its output unless it succeeds; returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(
        code, 0,
        "{cmd:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// True when running under CI, where no interoperability test may skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// True when `tool` is on PATH. Without it: skip with a note locally, fail under CI.
pub fn require(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        assert!(
            !in_ci(),
            "peer tool {tool} is missing; CI must install it (scripts/peers.sh)"
        );
        eprintln!("SKIP: {tool} is not installed; run scripts/peers.sh to install the peers");
    }
    found
}

/// True when a Docker Engine answers. Under CI the engine is required.
pub fn require_docker() -> bool {
    if !require("docker") {
        return false;
    }
    let answers = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !answers {
        assert!(!in_ci(), "no Docker Engine answers; CI machines run one");
        eprintln!("SKIP: no Docker Engine answers");
    }
    answers
}

/// A static "hello" program built with `gcc -static` once per test run; prints its greeting and uid.
pub fn static_hello() -> &'static Path {
    static HELLO: OnceLock<PathBuf> = OnceLock::new();
    HELLO.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("pare-it-hello-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("hello.c");
        std::fs::write(
            &src,
            "#include <stdio.h>\n#include <unistd.h>\n\
             int main(void){printf(\"hello from pare, uid %d\\n\", (int)getuid());return 0;}\n",
        )
        .unwrap();
        let bin = dir.join("hello");
        ok(Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&bin)
            .arg(&src));
        bin
    })
}

/// Builds the static hello image (`/hello` as the entrypoint) into `output` with `extra` flags and
/// returns the `pare build --format json` report.
pub fn build_hello_report(output: &str, extra: &[&str]) -> Value {
    let out = ok(pare()
        .args(["build", "--format", "json", "--copy"])
        .arg(format!("{}:/hello", static_hello().display()))
        .args(["--entrypoint", "/hello", "--output", output])
        .args(extra));
    serde_json::from_str(&out).unwrap()
}

/// Parses a JSON file.
pub fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// A blob of a layout, by digest.
pub fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// The manifest and config of the image a tag names in a layout.
pub fn image_json(layout: &Path, tag: &str) -> (Value, Value) {
    let index = read_json(&layout.join("index.json"));
    let descriptor = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {index}"))
        .clone();
    let manifest = read_json(&blob(layout, descriptor["digest"].as_str().unwrap()));
    let config = read_json(&blob(
        layout,
        manifest["config"]["digest"].as_str().unwrap(),
    ));
    (manifest, config)
}

/// One tar entry as the tests look at it.
#[derive(Debug, Clone)]
pub struct TarEntry {
    pub path: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub kind: tar::EntryType,
    pub link: Option<String>,
    pub data: Vec<u8>,
}

/// Reads every entry of a (possibly gzip-compressed) layer blob.
pub fn layer_entries(path: &Path) -> Vec<TarEntry> {
    let bytes = std::fs::read(path).unwrap();
    let reader: Box<dyn Read> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(&bytes[..]))
    } else {
        Box::new(&bytes[..])
    };
    let mut archive = tar::Archive::new(reader);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let header = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            TarEntry {
                path: e.path().unwrap().to_string_lossy().into_owned(),
                mode: header.mode().unwrap(),
                uid: header.uid().unwrap(),
                gid: header.gid().unwrap(),
                mtime: header.mtime().unwrap(),
                kind: header.entry_type(),
                link: e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned()),
                data,
            }
        })
        .collect()
}

/// A Distribution registry (Debian's docker-registry) on a free 127.0.0.1 port, stopped on drop.
pub struct Registry {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Option<Registry> {
        Self::start_with_auth(None)
    }

    /// A registry that requires basic auth (htpasswd with bcrypt) for `user`/`password`.
    pub fn start_with_auth(auth: Option<(&str, &str)>) -> Option<Registry> {
        if !require("docker-registry") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let auth_config = match auth {
            Some((user, password)) => {
                if !require("htpasswd") {
                    return None;
                }
                let out = ok(Command::new("htpasswd").args(["-Bbn", user, password]));
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, out.trim()).unwrap();
                format!(
                    "auth: {{htpasswd: {{realm: pare-test, path: {}}}}}\n",
                    file.display()
                )
            }
            None => String::new(),
        };
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn, accesslog: {{disabled: true}}}}\n\
                 storage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\n\
                 http: {{addr: {addr}}}\n{auth_config}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let registry = Registry {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(&registry.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry on {} did not come up",
                registry.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(registry)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The OCI digest of some bytes.
pub fn sha256_file(bytes: &[u8]) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// What the fault-injecting proxy does to the traffic it forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything untouched (still counts and logs requests).
    None,
    /// Answer 500 to the first request whose request line contains the pattern.
    Status500Once(&'static str),
    /// Close the connection halfway through the body of the first blob upload.
    DropUploadOnce,
    /// Flip one byte in the body of every blob download.
    CorruptBlobs,
    /// Act as a token-auth front: 401 with a Bearer challenge unless a token is presented; tokens
    /// from `/token` for basic credentials alice:s3cret.
    BearerGate,
    /// Point every upload `Location` at another host name of this proxy (`localhost` instead of
    /// `127.0.0.1`), and log each request as `LINE [host=HOST auth=yes|no]`.
    CrossHostLocation,
    /// Send blob bodies one byte every 100 ms (each read on time, the whole never done).
    DripBlobs,
    /// Answer manifest requests with a status line and then one more header line every 100 ms,
    /// for ever.
    EndlessHeaders,
    /// Answer every request with a 500.
    Always500,
    /// Redirect every manifest request to itself.
    RedirectLoop,
    /// Answer every request with a 401 whose WWW-Authenticate is junk.
    JunkChallenge,
    /// Send blob bodies cut off halfway (the Content-Length promises the whole), then close.
    ShortBlobs,
    /// Not a fault: give the registry behind the OCI 1.1 referrers API it lacks (Distribution 2.x
    /// has none). A manifest stored with a `subject` is answered with `OCI-Subject` and listed at
    /// `GET /v2/<repo>/referrers/<digest>` (with the `artifactType` filter), as the distribution
    /// spec 1.1 says.
    ReferrersApi,
}

/// What the referrers API of [`Fault::ReferrersApi`] proxies lists: per proxy, repository and
/// subject, the descriptors of the manifests stored with that subject.
type ReferrersBook = std::collections::HashMap<String, Vec<Value>>;

fn referrers_book() -> &'static std::sync::Mutex<ReferrersBook> {
    static BOOK: std::sync::OnceLock<std::sync::Mutex<ReferrersBook>> = std::sync::OnceLock::new();
    BOOK.get_or_init(Default::default)
}

/// The referrers API's answer for `GET /v2/<repo>/referrers/<digest>[?artifactType=T]`.
fn referrers_answer(own_addr: &str, path: &str) -> String {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let rest = path.trim_start_matches("/v2/");
    let (repo, subject) = rest.split_once("/referrers/").unwrap_or(("", ""));
    let wanted = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("artifactType="))
        .map(|t| t.replace("%2B", "+").replace("%2F", "/"));
    let listed: Vec<Value> = referrers_book()
        .lock()
        .unwrap()
        .get(&format!("{own_addr} {repo} {subject}"))
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|d| {
            wanted
                .as_ref()
                .is_none_or(|t| d["artifactType"] == t.as_str())
        })
        .collect();
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": listed,
    })
    .to_string();
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        if wanted.is_some() { "OCI-Filters-Applied: artifactType\r\n" } else { "" },
        body.len()
    )
}

/// Records a manifest stored with a `subject` in the book; returns the subject's digest.
fn record_referrer(own_addr: &str, path: &str, manifest: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(manifest).ok()?;
    let subject = value["subject"]["digest"].as_str()?.to_string();
    let repo = path
        .trim_start_matches("/v2/")
        .split("/manifests/")
        .next()?;
    let artifact_type = value
        .get("artifactType")
        .or_else(|| value["config"].get("mediaType"))
        .cloned()
        .unwrap_or(Value::Null);
    let mut descriptor = serde_json::json!({
        "mediaType": value["mediaType"],
        "digest": sha256_file(manifest),
        "size": manifest.len(),
        "artifactType": artifact_type,
    });
    if let Some(annotations) = value.get("annotations") {
        descriptor["annotations"] = annotations.clone();
    }
    let mut book = referrers_book().lock().unwrap();
    let listed = book
        .entry(format!("{own_addr} {repo} {subject}"))
        .or_default();
    if !listed.iter().any(|d| d["digest"] == descriptor["digest"]) {
        listed.push(descriptor);
    }
    Some(subject)
}

/// A small HTTP/1.1 proxy on 127.0.0.1 in front of a registry, one request per connection, that logs
/// request lines and injects one kind of fault.
pub struct FaultProxy {
    pub addr: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FaultProxy {
    pub fn start(upstream: &str, fault: Fault) -> FaultProxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let fired = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_string();
        let thread_log = Arc::clone(&log);
        let own_addr = addr.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let (log, fired, upstream) = (
                    Arc::clone(&thread_log),
                    Arc::clone(&fired),
                    upstream.clone(),
                );
                let me = own_addr.clone();
                std::thread::spawn(move || {
                    let _ = proxy_one(
                        client,
                        &upstream,
                        fault,
                        &log,
                        &fired,
                        Ordering::SeqCst,
                        &me,
                    );
                });
            }
        });
        FaultProxy { addr, log }
    }

    /// Request lines seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }
}

fn read_head(stream: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::Error::other("connection closed in the head"));
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Err(std::io::Error::other("head too long"));
        }
    }
    Ok(head)
}

fn proxy_one(
    mut client: TcpStream,
    upstream: &str,
    fault: Fault,
    log: &std::sync::Mutex<Vec<String>>,
    fired: &std::sync::atomic::AtomicBool,
    order: std::sync::atomic::Ordering,
    own_addr: &str,
) -> std::io::Result<()> {
    use std::io::Write;
    let head = read_head(&mut client)?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let request_line = text.lines().next().unwrap_or("").to_string();
    let header_of = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    if fault == Fault::CrossHostLocation {
        let host = header_of("host").unwrap_or_default();
        let auth = if header_of("authorization").is_some() {
            "yes"
        } else {
            "no"
        };
        log.lock()
            .unwrap()
            .push(format!("{request_line} [host={host} auth={auth}]"));
    } else {
        log.lock().unwrap().push(request_line.clone());
    }
    let content_length: u64 = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    if fault == Fault::BearerGate {
        let header = |name: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let mut body = vec![0u8; content_length as usize];
        if request_line.starts_with("GET /token") {
            client.read_exact(&mut body)?;
            // base64("alice:s3cret")
            let reply = if header("authorization").as_deref() == Some("Basic YWxpY2U6czNjcmV0") {
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 30\r\nConnection: close\r\n\r\n{\"token\":\"pare-test-token-ok\"}"
            } else {
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            client.write_all(reply.as_bytes())?;
            return Ok(());
        }
        if header("authorization").as_deref() != Some("Bearer pare-test-token-ok") {
            client.read_exact(&mut body)?;
            let reply = format!(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://{own_addr}/token\",service=\"pare-test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            client.write_all(reply.as_bytes())?;
            return Ok(());
        }
    }
    match fault {
        Fault::Status500Once(pattern)
            if request_line.contains(pattern) && !fired.swap(true, order) =>
        {
            let mut body = vec![0u8; content_length as usize];
            let _ = client.read_exact(&mut body);
            client.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
            return Ok(());
        }
        Fault::DropUploadOnce
            if request_line.contains("/blobs/uploads/")
                && (request_line.starts_with("PUT") || request_line.starts_with("PATCH"))
                && content_length > 0
                && !fired.swap(true, order) =>
        {
            // Forward half the body upstream, then cut both sides.
            let mut upstream_conn = TcpStream::connect(upstream)?;
            upstream_conn.write_all(&head)?;
            let mut half = vec![0u8; (content_length / 2) as usize];
            client.read_exact(&mut half)?;
            upstream_conn.write_all(&half)?;
            let _ = client.shutdown(std::net::Shutdown::Both);
            let _ = upstream_conn.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        _ => {}
    }
    match fault {
        Fault::Always500 => {
            client.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
        Fault::RedirectLoop if request_line.contains("/manifests/") => {
            let path = request_line.split_whitespace().nth(1).unwrap_or("/");
            client.write_all(
                format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{own_addr}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )?;
            return Ok(());
        }
        Fault::JunkChallenge => {
            client.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer ,,=\"\x01realm\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
        _ => {}
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    if fault == Fault::ReferrersApi
        && request_line.starts_with("GET")
        && path.contains("/referrers/")
    {
        client.write_all(referrers_answer(own_addr, &path).as_bytes())?;
        return Ok(());
    }
    let manifest_put = fault == Fault::ReferrersApi
        && request_line.starts_with("PUT")
        && path.contains("/manifests/");
    if fault == Fault::EndlessHeaders && request_line.contains("/manifests/") {
        client.write_all(b"HTTP/1.1 200 OK\r\n")?;
        loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
            client.write_all(b"X-Drip: a\r\n")?;
        }
    }
    // One request per connection: ask both ends to close after it.
    let mut forwarded = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    let mut upstream_conn = TcpStream::connect(upstream)?;
    upstream_conn.write_all(forwarded.as_bytes())?;
    let mut manifest = Vec::new();
    if manifest_put {
        (&mut client)
            .take(content_length)
            .read_to_end(&mut manifest)?;
        upstream_conn.write_all(&manifest)?;
    } else {
        std::io::copy(&mut (&mut client).take(content_length), &mut upstream_conn)?;
    }
    let mut response_head = read_head(&mut upstream_conn)?;
    if manifest_put && response_head.starts_with(b"HTTP/1.1 201") {
        if let Some(subject) = record_referrer(own_addr, &path, &manifest) {
            response_head.truncate(response_head.len() - 2);
            response_head.extend_from_slice(format!("OCI-Subject: {subject}\r\n\r\n").as_bytes());
        }
    }
    if fault == Fault::CrossHostLocation {
        let port = own_addr.rsplit(':').next().unwrap_or("");
        let rewritten: Vec<String> = String::from_utf8_lossy(&response_head)
            .split("\r\n")
            .map(|line| match line.split_once(':') {
                Some((k, v)) if k.eq_ignore_ascii_case("location") => {
                    let v = v.trim();
                    let path = match v.split_once("://") {
                        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]).to_string(),
                        None => v.to_string(),
                    };
                    format!("Location: http://localhost:{port}{path}")
                }
                _ => line.to_string(),
            })
            .collect();
        response_head = rewritten.join("\r\n").into_bytes();
    }
    client.write_all(&response_head)?;
    let mut body = Vec::new();
    upstream_conn.read_to_end(&mut body)?;
    let is_blob_get = request_line.starts_with("GET") && request_line.contains("/blobs/sha256:");
    if fault == Fault::CorruptBlobs && is_blob_get && !body.is_empty() {
        let middle = body.len() / 2;
        body[middle] ^= 0x55;
    }
    if fault == Fault::ShortBlobs && is_blob_get {
        client.write_all(&body[..body.len() / 2])?;
        let _ = client.shutdown(std::net::Shutdown::Both);
        return Ok(());
    }
    if fault == Fault::DripBlobs && is_blob_get {
        for byte in body {
            client.write_all(&[byte])?;
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        return Ok(());
    }
    client.write_all(&body)?;
    Ok(())
}

/// Every blob of a layout matches its name (a layout is never left corrupt).
pub fn assert_layout_intact(layout: &Path) {
    let Ok(entries) = std::fs::read_dir(layout.join("blobs/sha256")) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        assert_eq!(
            sha256_file(&bytes),
            format!("sha256:{}", entry.file_name().to_string_lossy()),
            "blob {} is corrupt",
            entry.path().display()
        );
    }
}

/// Unpacks `layout:tag` with umoci into a runc bundle under `dir` (the process without a terminal).
pub fn unpack(layout: &Path, tag: &str, dir: &Path) -> PathBuf {
    let bundle = dir.join(format!("bundle-{tag}"));
    ok(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(&bundle));
    let config_path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["process"]["terminal"] = Value::Bool(false);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    bundle
}

/// Runs a bundle with runc (state kept under `dir`); returns (exit code, stdout, stderr).
pub fn runc_run(bundle: &Path, dir: &Path) -> (i32, String, String) {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let id = format!(
        "pare-it-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    run(Command::new("runc")
        .arg("--root")
        .arg(dir.join("runc-state"))
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id))
}

/// The Debian mirror this machine's apt uses for its own release (read from the apt configuration at
/// run time; no mirror is written into the tests), and the release's codename.
pub fn debian_mirror() -> Option<(String, String)> {
    let os_release = std::fs::read_to_string("/etc/os-release").ok()?;
    let codename = os_release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))?
        .trim_matches('"')
        .to_string();
    let mut texts = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for e in dir.flatten() {
            if let Ok(t) = std::fs::read_to_string(e.path()) {
                texts.push((e.path().extension().is_some_and(|x| x == "sources"), t));
            }
        }
    }
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.push((false, t));
    }
    for (deb822, text) in texts {
        if deb822 {
            for stanza in text.split("\n\n") {
                let field = |name: &str| {
                    stanza
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_string())
                };
                let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) else {
                    continue;
                };
                if suites.split_whitespace().any(|s| s == codename) {
                    return uris
                        .split_whitespace()
                        .next()
                        .map(|u| (u.to_string(), codename.clone()));
                }
            }
        } else {
            for line in text
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("deb "))
            {
                let words: Vec<&str> = line
                    .split_whitespace()
                    .filter(|w| !w.starts_with('['))
                    .collect();
                if words.len() >= 3 && words[2] == codename {
                    return Some((words[1].to_string(), codename.clone()));
                }
            }
        }
    }
    None
}

/// A Debian minbase root file system made by debootstrap from the host's own mirror, once per test
/// run and shared by the tests that read it (they must not change it), in TMPDIR; None (a failure under CI)
/// without debootstrap or an apt mirror.
pub fn debootstrap_minbase() -> Option<&'static Path> {
    static ROOTFS: OnceLock<Option<PathBuf>> = OnceLock::new();
    ROOTFS
        .get_or_init(|| {
            if !require("debootstrap") {
                return None;
            }
            let Some((mirror, codename)) = debian_mirror() else {
                assert!(!in_ci(), "CI machines have an apt configuration");
                eprintln!("SKIP: no Debian mirror in the apt configuration");
                return None;
            };
            // One fixed place, made again by each run: a run's copy replaces the last one's.
            let dir = std::env::temp_dir().join("pare-it-debootstrap");
            let _ = std::fs::remove_dir_all(&dir);
            ok(Command::new("debootstrap")
                .args(["--variant=minbase", &codename])
                .arg(&dir)
                .arg(&mirror));
            Some(dir)
        })
        .as_deref()
}

/// The Debian packages syft finds in the single image of an OCI layout directory: its `deb`
/// artifacts as JSON (name, version, purl, ...).
pub fn syft_debs(layout: &Path) -> Vec<Value> {
    let syft: Value = serde_json::from_str(&ok(Command::new("syft")
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .args(["scan", "-q", "-o", "json"])
        .arg(format!("oci-dir:{}", layout.display()))))
    .unwrap();
    syft["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "deb")
        .cloned()
        .collect()
}

/// [`syft_debs`] as (name, version) pairs.
pub fn syft_deb_versions(layout: &Path) -> std::collections::BTreeSet<(String, String)> {
    syft_debs(layout)
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Where tests keep downloaded Debian packages between runs (`PARE_TEST_DEBIAN_CACHE`, else a
/// directory in TMPDIR), used as `PARE_CACHE_DIR` by tests that build from the host's archive.
pub fn debian_cache() -> PathBuf {
    std::env::var_os("PARE_TEST_DEBIAN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("pare-test-debian-cache"))
}

/// True when the machine has an apt configuration to take the Debian archive from; without one a
/// test skips with a note locally and fails under CI.
pub fn require_apt_sources() -> bool {
    let found = Path::new("/etc/apt/sources.list.d").exists()
        || Path::new("/etc/apt/sources.list").exists();
    if !found {
        assert!(!in_ci(), "CI machines have apt sources");
        eprintln!("SKIP: no apt sources on this machine");
    }
    found
}

/// Where downloaded wheels are kept between test runs (`PARE_TEST_WHEELS`, else a directory in
/// TMPDIR): downloads are slow and the wheels do not change.
pub fn wheel_dir() -> PathBuf {
    std::env::var_os("PARE_TEST_WHEELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("pare-test-wheels"))
}

/// `pip install --target` of `packages` as CPython 3.11 manylinux x86_64 wheels from PyPI (as the
/// host's pip is configured), into `wheel_dir()/name`; downloaded again only when one of the
/// `expect`ed entries is missing.
pub fn pip_target(name: &str, packages: &[&str], expect: &[&str]) -> PathBuf {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let target = wheel_dir().join(name);
    if expect.iter().any(|e| !target.join(e).exists()) {
        let _ = std::fs::remove_dir_all(&target);
        ok(Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--no-compile",
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--platform",
                "manylinux_2_28_x86_64",
                "--platform",
                "manylinux2014_x86_64",
                "--target",
            ])
            .arg(&target)
            .args(packages));
    }
    target
}

/// The Python of the peers' venv (scripts/peers.sh), which holds the SBOM validators and version
/// oracles; None (a failure under CI) when it is missing.
pub fn peers_python() -> Option<PathBuf> {
    let venv = std::env::var_os("PARE_PEERS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/pare-peers"));
    let python = venv.join("bin/python3");
    if !python.is_file() {
        assert!(
            !in_ci(),
            "the peers' venv {} is missing; CI must install it (scripts/peers.sh)",
            venv.display()
        );
        eprintln!(
            "SKIP: no peers' venv at {}; run scripts/peers.sh",
            venv.display()
        );
        return None;
    }
    Some(python)
}

/// The image paths a build report says the library closure added.
pub fn added_libraries(report: &Value) -> Vec<String> {
    report["libraries"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["path"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The Dockerfiles of the Debian source packages of container tools (buildah, docker.io, podman,
/// …), fetched once per machine by scripts/dockerfile-corpus.py from the host's apt mirror into
/// TMPDIR; empty (a failure under CI) without an apt mirror.
pub fn dockerfile_corpus() -> Vec<PathBuf> {
    static CORPUS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    CORPUS
        .get_or_init(|| {
            if debian_mirror().is_none() {
                assert!(!in_ci(), "CI machines have an apt configuration");
                eprintln!("SKIP: no Debian mirror in the apt configuration");
                return Vec::new();
            }
            let dir = std::env::temp_dir().join("pare-it-dockerfiles");
            ok(Command::new("python3")
                .arg(
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("../../scripts/dockerfile-corpus.py"),
                )
                .arg(&dir));
            let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
                .into_iter()
                .flatten()
                .filter(|e| e.file_type().is_file() && e.file_name() != ".complete")
                .map(|e| e.into_path())
                .collect();
            files.sort();
            files
        })
        .clone()
}

/// dive's JSON report of a docker-archive (`dive --source docker-archive FILE --json`), and its
/// per-layer sizes (`layer[].sizeBytes`: bytes of the regular files each layer ships).
pub fn dive_report(archive: &Path) -> (Value, Vec<u64>) {
    let json = archive.with_extension("dive.json");
    ok(Command::new("dive")
        .args(["--source", "docker-archive"])
        .arg(archive)
        .arg("--json")
        .arg(&json)
        .env("CI", "true"));
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let sizes = report["layer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["sizeBytes"].as_u64().unwrap())
        .collect();
    (report, sizes)
}

/// The layer digests a `pare build --format json` report lists, bottom first.
pub fn report_layer_digests(report: &Value) -> Vec<String> {
    report["layers"]
        .as_array()
        .expect("a build report lists its layers")
        .iter()
        .map(|l| {
            l["digest"]
                .as_str()
                .expect("a layer has a digest")
                .to_string()
        })
        .collect()
}

/// One layer of a handmade image: the blob as stored, the uncompressed tar (its diff_id) and the
/// media type.
pub struct HandmadeLayer<'a> {
    pub stored: &'a [u8],
    pub tar: &'a [u8],
    pub media_type: &'a str,
}

impl<'a> HandmadeLayer<'a> {
    /// An uncompressed layer.
    pub fn tar(tar: &'a [u8]) -> Self {
        Self {
            stored: tar,
            tar,
            media_type: "application/vnd.oci.image.layer.v1.tar",
        }
    }
}

/// Writes an image by hand into `layout` (made if missing) and adds it to `index.json` as `tag`:
/// the layers as given (nothing checked, so they may lie), an amd64 config whose `config` object is
/// `config`. Returns the layers' digests.
pub fn handmade_image(
    layout: &Path,
    tag: &str,
    layers: &[HandmadeLayer<'_>],
    config: Value,
) -> Vec<String> {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256_file(bytes);
        std::fs::write(blob(layout, &digest), bytes).unwrap();
        digest
    };
    let digests: Vec<String> = layers.iter().map(|l| put(l.stored)).collect();
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256_file(l.tar)).collect();
    let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_digest = put(&config_bytes);
    let descriptors: Vec<Value> = layers
        .iter()
        .zip(&digests)
        .map(|(l, d)| serde_json::json!({"mediaType": l.media_type, "digest": d, "size": l.stored.len()}))
        .collect();
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_bytes.len()},
        "layers": descriptors});
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = put(&manifest_bytes);
    let index_path = layout.join("index.json");
    let mut index: Value = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::json!({"schemaVersion": 2, "manifests": []}));
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
        "size": manifest_bytes.len(), "annotations": {"org.opencontainers.image.ref.name": tag}}));
    std::fs::write(index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    digests
}
