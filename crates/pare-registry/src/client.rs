//! The HTTP side of the distribution API: one [`Client`] per registry host, sharing a connection pool,
//! the auth state and request counters between threads. Every request is retried with backoff on 429,
//! 5xx and broken connections where resending is safe; uploads restart their session instead.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::auth::{parse_challenge, Challenge, Credentials};
use crate::{Error, Result};

/// Manifest media types pare accepts, most preferred first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";
/// Largest manifest pare downloads.
pub const MAX_MANIFEST: u64 = 8 << 20;

/// How a [`Client`] behaves.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Allow plain HTTP (always allowed for loopback hosts).
    pub insecure: bool,
    /// Credentials to use; None means look them up in the auth files, then go anonymous.
    pub credentials: Option<Credentials>,
    /// Attempts per request for retryable failures.
    pub max_attempts: u32,
    /// Blobs up to this size are uploaded in one PUT; larger ones in chunks.
    pub monolithic_limit: u64,
    /// Chunk size for chunked uploads.
    pub chunk_size: u64,
    /// First backoff delay; doubles each retry.
    pub backoff: Duration,
    /// Per-request timeout for connecting and for each read or write.
    pub timeout: Duration,
    /// The longest one request may take in all, headers and body, beyond the time its body needs at
    /// `min_rate`: a registry that drips bytes (each read on time, the whole never done) is cut off.
    pub deadline: Duration,
    /// The slowest average rate, in bytes per second, at which a request's body (a blob up or down)
    /// may move before the request is given up.
    pub min_rate: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            insecure: false,
            credentials: None,
            max_attempts: 4,
            monolithic_limit: 64 << 20,
            chunk_size: 32 << 20,
            backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(300),
            min_rate: 16 << 10,
        }
    }
}

/// Counters of what a client did (tests and `--format json` read them).
#[derive(Debug, Default)]
pub struct RequestStats {
    pub requests: AtomicU64,
    pub blobs_uploaded: AtomicU64,
    pub bytes_uploaded: AtomicU64,
    pub blobs_mounted: AtomicU64,
    pub blobs_downloaded: AtomicU64,
    pub bytes_downloaded: AtomicU64,
    pub retries: AtomicU64,
}

impl RequestStats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A request body that can be sent again on retry.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset`; `progress` hears the file position as bytes go out.
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
        progress: Progress<'a>,
    },
}

/// Hears how many bytes of a blob have moved so far (restarts from 0 when a transfer is retried).
pub type Progress<'a> = Option<&'a (dyn Fn(u64) + Sync)>;

/// A reader that reports its position.
struct Reporting<'a, R> {
    inner: R,
    position: u64,
    progress: Progress<'a>,
}

impl<R: Read> Read for Reporting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position += n as u64;
        if let Some(p) = self.progress {
            p(self.position);
        }
        Ok(n)
    }
}

/// What the registry said when it stored a manifest.
#[derive(Clone, Debug)]
pub struct StoredManifest {
    /// The manifest's digest (checked against the registry's `Docker-Content-Digest`).
    pub digest: String,
    /// The `OCI-Subject` header: set by a registry with the referrers API when the manifest has a
    /// `subject`.
    pub subject: Option<String>,
}

/// A downloaded manifest or index.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub digest: String,
}

#[derive(Default)]
struct AuthState {
    basic: bool,
    bearer: Option<(String, Option<String>)>,
    tokens: HashMap<String, String>,
}

/// A client for one registry host.
pub struct Client {
    agent: ureq::Agent,
    host: String,
    base: String,
    credentials: Option<Credentials>,
    state: Mutex<AuthState>,
    options: ClientOptions,
    pub stats: RequestStats,
}

/// True for hosts that only this machine can reach (plain HTTP is fine there).
pub fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    name == "localhost" || name.starts_with("127.") || name == "::1"
}

/// The origin of a URL (`scheme://host[:port]`, lower-cased, default port dropped, user info
/// ignored); None when the URL has no scheme.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?.to_ascii_lowercase();
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host.to_string(),
        _ => authority,
    };
    Some(format!("{scheme}://{authority}"))
}

/// Whether `url` is on the same origin as the registry's `base`.
fn same_origin(url: &str, base: &str) -> bool {
    match (origin(url), origin(base)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Whether credentials may go to the token service at `realm`: over HTTPS to any host (token
/// services often live on another host), over plain HTTP only on loopback, or to the registry's own
/// host when `--insecure` allows plain HTTP to it.
fn may_send_credentials(realm: &str, registry_host: &str, insecure: bool) -> bool {
    let Some(origin) = origin(realm) else {
        return false;
    };
    if origin.starts_with("https://") {
        return true;
    }
    let Some(host) = origin.strip_prefix("http://") else {
        return false;
    };
    is_loopback(host) || (insecure && host == registry_host.to_ascii_lowercase())
}

impl Client {
    /// A client for `host` (`registry.example`, `127.0.0.1:5000`).
    pub fn new(host: &str, options: ClientOptions) -> Result<Self> {
        let scheme = if options.insecure || is_loopback(host) {
            "http"
        } else {
            "https"
        };
        let credentials = match &options.credentials {
            Some(c) => Some(c.clone()),
            None => crate::auth::lookup(host)?,
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(options.timeout)
            .timeout_read(options.timeout)
            .timeout_write(options.timeout)
            .user_agent(concat!("pare/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            agent,
            host: host.to_string(),
            base: format!("{scheme}://{host}"),
            credentials,
            state: Mutex::new(AuthState::default()),
            options,
            stats: RequestStats::default(),
        })
    }

    /// The registry host this client talks to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Checks that the registry speaks the distribution API and that we may talk to it.
    pub fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self.request(
            "GET",
            &url,
            &[],
            &[],
            Body::Empty,
            true,
            "check the registry API",
        )?;
        self.expect(resp, &[200], "check the registry API")
            .map(drop)
    }

    /// The size of a blob if the repository has it.
    pub fn blob_size(&self, repo: &str, digest: &str) -> Result<Option<u64>> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        let action = format!("look up blob {digest} in {repo}");
        let resp = self.request(
            "HEAD",
            &url,
            &[pull_scope(repo)],
            &[],
            Body::Empty,
            true,
            &action,
        )?;
        match resp.status() {
            200 => Ok(resp.header("Content-Length").and_then(|v| v.parse().ok())),
            404 => Ok(None),
            _ => self.expect(resp, &[200], &action).map(|_| None),
        }
    }

    /// Asks the registry to link a blob from another repository; true when it did.
    pub fn mount_blob(&self, repo: &str, digest: &str, from: &str) -> Result<bool> {
        let url = format!(
            "{}/v2/{repo}/blobs/uploads/?mount={}&from={}",
            self.base,
            query_escape(digest),
            query_escape(from)
        );
        let action = format!("mount blob {digest} from {from} into {repo}");
        let scopes = [push_scope(repo), pull_scope(from)];
        let resp = self.request("POST", &url, &scopes, &[], Body::Empty, true, &action)?;
        match resp.status() {
            201 => {
                RequestStats::add(&self.stats.blobs_mounted, 1);
                Ok(true)
            }
            // The registry opened an ordinary upload instead; leave it to expire.
            202 => Ok(false),
            _ => self.expect(resp, &[201, 202], &action).map(|_| false),
        }
    }

    /// Uploads a blob from a file, in one request or in chunks, restarting the upload session on a
    /// retryable failure.
    pub fn upload_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        path: &Path,
        progress: Progress<'_>,
    ) -> Result<()> {
        let action = format!("upload blob {digest} to {repo}");
        self.with_retries(|| self.upload_once(repo, digest, size, path, progress, &action))?;
        RequestStats::add(&self.stats.blobs_uploaded, 1);
        RequestStats::add(&self.stats.bytes_uploaded, size);
        Ok(())
    }

    /// Runs a whole operation again (a new upload session, a download from the start) after a
    /// retryable failure, with backoff, up to the attempt limit.
    fn with_retries(&self, mut operation: impl FnMut() -> Result<()>) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match operation() {
                Err(e) if attempt < self.options.max_attempts && retryable(&e) => {
                    RequestStats::add(&self.stats.retries, 1);
                    std::thread::sleep(self.backoff(attempt));
                }
                other => return other,
            }
        }
    }

    fn upload_once(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        path: &Path,
        progress: Progress<'_>,
        action: &str,
    ) -> Result<()> {
        let scopes = [push_scope(repo)];
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let resp = self.request("POST", &start, &scopes, &[], Body::Empty, false, action)?;
        let resp = self.expect(resp, &[202], action)?;
        let mut location = self.location(&resp, action)?;
        let octet = [("Content-Type", "application/octet-stream")];
        if size > self.options.monolithic_limit {
            let mut offset = 0;
            while offset < size {
                let len = self.options.chunk_size.min(size - offset);
                let range = format!("{offset}-{}", offset + len - 1);
                let headers = [
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", range.as_str()),
                ];
                let body = Body::File {
                    path,
                    offset,
                    len,
                    progress,
                };
                let resp =
                    self.request("PATCH", &location, &scopes, &headers, body, false, action)?;
                let resp = self.expect(resp, &[202], action)?;
                location = self.location(&resp, action)?;
                offset += len;
            }
            let url = with_query(&location, "digest", digest);
            let resp = self.request("PUT", &url, &scopes, &octet, Body::Empty, false, action)?;
            self.expect(resp, &[201], action).map(drop)
        } else {
            let url = with_query(&location, "digest", digest);
            let body = Body::File {
                path,
                offset: 0,
                len: size,
                progress,
            };
            let resp = self.request("PUT", &url, &scopes, &octet, body, false, action)?;
            self.expect(resp, &[201], action).map(drop)
        }
    }

    /// Stores a manifest or index under a tag or digest; returns the digest the registry reports.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String> {
        self.store_manifest(repo, reference, media_type, bytes)
            .map(|stored| stored.digest)
    }

    /// [`Client::put_manifest`], also telling whether the registry answered with `OCI-Subject`: a
    /// registry with the referrers API says so when it stores a manifest that has a `subject`.
    pub fn store_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<StoredManifest> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let action = format!("store manifest {repo}:{reference}");
        let headers = [("Content-Type", media_type)];
        let resp = self.request(
            "PUT",
            &url,
            &[push_scope(repo)],
            &headers,
            Body::Bytes(bytes),
            true,
            &action,
        )?;
        let resp = self.expect(resp, &[201, 200], &action)?;
        let ours = pare_oci::digest::sha256_digest(bytes);
        match resp.header("Docker-Content-Digest") {
            Some(theirs) if theirs != ours => Err(Error::Integrity(format!(
                "{action}: the registry stored digest {theirs}, pare sent {ours}"
            ))),
            _ => Ok(StoredManifest {
                digest: ours,
                subject: resp.header("OCI-Subject").map(str::to_string),
            }),
        }
    }

    /// Fetches a manifest or index by tag or digest as [`Client::get_manifest`] does, or None when
    /// the registry has nothing under that reference (404).
    pub fn find_manifest(&self, repo: &str, reference: &str) -> Result<Option<Manifest>> {
        match self.get_manifest(repo, reference) {
            Ok(found) => Ok(Some(found)),
            Err(Error::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The referrers API (distribution spec 1.1): the image index listing the manifests whose
    /// `subject` is `digest`, or None when the registry does not offer the API (it must not answer
    /// 200 then; Distribution 2.x answers 404). The index is returned as sent, for the caller to
    /// parse.
    pub fn referrers(&self, repo: &str, digest: &str) -> Result<Option<Vec<u8>>> {
        let url = format!("{}/v2/{repo}/referrers/{digest}", self.base);
        let action = format!("list the referrers of {repo}@{digest}");
        let headers = [("Accept", "application/vnd.oci.image.index.v1+json")];
        let resp = self.request(
            "GET",
            &url,
            &[pull_scope(repo)],
            &headers,
            Body::Empty,
            true,
            &action,
        )?;
        if resp.status() != 200 {
            return match resp.status() {
                400 | 404 | 405 | 406 | 501 => Ok(None),
                _ => self.expect(resp, &[200], &action).map(|_| None),
            };
        }
        Ok(Some(self.read_document(resp, &action, "referrers list")?))
    }

    /// The body of a manifest-sized answer (a manifest, an index, a referrers list), refused past
    /// [`MAX_MANIFEST`] bytes; `what` names it in the error.
    fn read_document(&self, resp: ureq::Response, action: &str, what: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.transport(action, &e.to_string()))?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(Error::Integrity(format!(
                "{action}: the {what} is larger than {MAX_MANIFEST} bytes"
            )));
        }
        Ok(bytes)
    }

    /// Fetches a manifest or index by tag or digest, verifying the digest when one was asked for.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<Manifest> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let action = format!("fetch manifest {repo}:{reference}");
        let headers = [("Accept", MANIFEST_ACCEPT)];
        let resp = self.request(
            "GET",
            &url,
            &[pull_scope(repo)],
            &headers,
            Body::Empty,
            true,
            &action,
        )?;
        let resp = self.expect(resp, &[200], &action)?;
        let media_type = resp
            .header("Content-Type")
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
            .unwrap_or_default();
        let bytes = self.read_document(resp, &action, "manifest")?;
        let digest = pare_oci::digest::sha256_digest(&bytes);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(Error::Integrity(format!(
                "{action}: the registry sent content with digest {digest}"
            )));
        }
        Ok(Manifest {
            media_type,
            bytes,
            digest,
        })
    }

    /// Downloads a blob into `file` (truncated first), checking its size and digest while streaming;
    /// retried from the start on a broken connection.
    pub fn download_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        file: &mut File,
        progress: Progress<'_>,
    ) -> Result<()> {
        let action = format!("download blob {digest} from {repo}");
        self.with_retries(|| self.download_once(repo, digest, size, file, progress, &action))?;
        RequestStats::add(&self.stats.blobs_downloaded, 1);
        RequestStats::add(&self.stats.bytes_downloaded, size);
        Ok(())
    }

    fn download_once(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        file: &mut File,
        progress: Progress<'_>,
        action: &str,
    ) -> Result<()> {
        let local = |e: io::Error| Error::Io {
            action: "write downloaded blob",
            path: digest.to_string(),
            source: e,
        };
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        file.set_len(0).map_err(local)?;
        file.seek(SeekFrom::Start(0)).map_err(local)?;
        let resp = self.request_sized(
            "GET",
            &url,
            &[pull_scope(repo)],
            &[],
            Body::Empty,
            true,
            action,
            size,
        )?;
        let resp = self.expect(resp, &[200], action)?;
        let mut reader = resp.into_reader().take(size + 1);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        let mut out = io::BufWriter::with_capacity(1 << 20, &mut *file);
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(self.transport(
                        action,
                        &format!("connection broke after {total} bytes: {e}"),
                    ))
                }
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(local)?;
            total += n as u64;
            if let Some(p) = progress {
                p(total);
            }
        }
        out.flush().map_err(local)?;
        drop(out);
        if total < size {
            return Err(self.transport(
                action,
                &format!("the blob ended after {total} of {size} bytes"),
            ));
        }
        let actual = pare_oci::digest::format_sha256(&hasher.finalize());
        if total != size || actual != digest {
            return Err(Error::Integrity(format!(
                "{action}: the registry sent {total} bytes with digest {actual}, expected {size} bytes; \
                 nothing was stored"
            )));
        }
        Ok(())
    }

    /// Sends one request, handling auth challenges and (if `retry`) retrying on 429, 5xx and
    /// broken connections. Returns the response for any other status.
    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        method: &str,
        url: &str,
        scopes: &[String],
        headers: &[(&str, &str)],
        body: Body<'_>,
        retry: bool,
        action: &str,
    ) -> Result<ureq::Response> {
        self.request_sized(method, url, scopes, headers, body, retry, action, 0)
    }

    /// The time one request may take in all: the deadline, plus its body bytes (sent and expected
    /// back) at the minimum rate.
    fn budget(&self, body_bytes: u64) -> Duration {
        let rate = self.options.min_rate.max(1);
        self.options.deadline + Duration::from_secs(body_bytes / rate + 1)
    }

    /// [`Client::request`] for a request whose response body is `response_bytes` long (a blob), so
    /// that its time budget allows for it.
    #[allow(clippy::too_many_arguments)]
    fn request_sized(
        &self,
        method: &str,
        url: &str,
        scopes: &[String],
        headers: &[(&str, &str)],
        body: Body<'_>,
        retry: bool,
        action: &str,
        response_bytes: u64,
    ) -> Result<ureq::Response> {
        let request_bytes = match &body {
            Body::Empty => 0,
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::File { len, .. } => *len,
        };
        let budget = self.budget(request_bytes + response_bytes);
        let mut attempt = 0;
        let mut answered_challenge = false;
        loop {
            attempt += 1;
            RequestStats::add(&self.stats.requests, 1);
            let mut req = self.agent.request(method, url).timeout(budget);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            // Credentials and tokens go to the registry's own origin only: an upload Location (or
            // any URL) on another host gets no Authorization header.
            if same_origin(url, &self.base) {
                if let Some(auth) = self.authorization(scopes)? {
                    req = req.set("Authorization", &auth);
                }
            }
            let result = match body {
                Body::Empty => req.call(),
                Body::Bytes(bytes) => req.send_bytes(bytes),
                Body::File {
                    path,
                    offset,
                    len,
                    progress,
                } => {
                    let mut file = File::open(path).map_err(|e| Error::Io {
                        action: "open",
                        path: path.display().to_string(),
                        source: e,
                    })?;
                    file.seek(SeekFrom::Start(offset)).map_err(|e| Error::Io {
                        action: "seek in",
                        path: path.display().to_string(),
                        source: e,
                    })?;
                    let reader = Reporting {
                        inner: io::BufReader::with_capacity(1 << 20, file.take(len)),
                        position: offset,
                        progress,
                    };
                    req.set("Content-Length", &len.to_string()).send(reader)
                }
            };
            let can_retry = retry && attempt < self.options.max_attempts;
            let resp = match result {
                Ok(resp) | Err(ureq::Error::Status(_, resp)) => resp,
                Err(ureq::Error::Transport(t)) => {
                    if can_retry {
                        RequestStats::add(&self.stats.retries, 1);
                        std::thread::sleep(self.backoff(attempt));
                        continue;
                    }
                    return Err(self.transport(action, &t.to_string()));
                }
            };
            match resp.status() {
                401 if !answered_challenge => {
                    answered_challenge = true;
                    attempt -= 1;
                    let header = resp.header("WWW-Authenticate").unwrap_or("").to_string();
                    self.answer_challenge(&header, scopes, action)?;
                }
                401 => {
                    return Err(Error::Auth(match &self.credentials {
                        Some(c) => format!(
                            "{action} at {}: the registry refused the credentials of user {:?}; check the password",
                            self.host, c.username
                        ),
                        None => format!(
                            "{action} at {}: the registry requires credentials; pass --creds USER:PASSWORD or log in (docker login / podman login)",
                            self.host
                        ),
                    }))
                }
                403 => {
                    return Err(Error::Auth(format!(
                        "{action} at {}: access denied{}",
                        self.host,
                        self.credentials
                            .as_ref()
                            .map(|c| format!(" for user {:?}", c.username))
                            .unwrap_or_default()
                    )))
                }
                429 | 500..=599 if can_retry => {
                    RequestStats::add(&self.stats.retries, 1);
                    let wait = resp
                        .header("Retry-After")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(30)))
                        .unwrap_or_else(|| self.backoff(attempt));
                    std::thread::sleep(wait);
                }
                _ => return Ok(resp),
            }
        }
    }

    fn authorization(&self, scopes: &[String]) -> Result<Option<String>> {
        let (bearer, basic) = {
            let state = self.lock_state();
            if let Some(token) = state.tokens.get(&scope_key(scopes)) {
                return Ok(Some(format!("Bearer {token}")));
            }
            (state.bearer.clone(), state.basic)
        };
        if let Some((realm, service)) = bearer {
            // A new scope on a token registry: fetch its token now rather than after a 401.
            let token = self.fetch_token(&realm, service.as_deref(), scopes)?;
            return Ok(Some(format!("Bearer {token}")));
        }
        Ok(if basic {
            self.credentials.as_ref().map(Credentials::basic_header)
        } else {
            None
        })
    }

    fn answer_challenge(&self, header: &str, scopes: &[String], action: &str) -> Result<()> {
        match parse_challenge(header) {
            Some(Challenge::Basic) => {
                if self.credentials.is_none() {
                    return Err(Error::Auth(format!(
                        "{action} at {}: the registry requires credentials; pass --creds USER:PASSWORD or log in (docker login / podman login)",
                        self.host
                    )));
                }
                self.lock_state().basic = true;
                Ok(())
            }
            Some(Challenge::Bearer { realm, service, scope }) => {
                let mut wanted: Vec<String> = scopes.to_vec();
                if let Some(s) = scope {
                    if !wanted.contains(&s) {
                        wanted.push(s);
                    }
                }
                self.lock_state().bearer = Some((realm.clone(), service.clone()));
                let token = self.fetch_token(&realm, service.as_deref(), &wanted)?;
                self.lock_state().tokens.insert(scope_key(scopes), token);
                Ok(())
            }
            None if header.trim().is_empty() => Err(Error::Auth(format!(
                "{action} at {}: the registry answered 401 without a WWW-Authenticate challenge pare can read (missing, empty or not text); it cannot say how to authenticate",
                self.host
            ))),
            None => Err(Error::Auth(format!(
                "{action} at {}: the registry asked for authentication pare does not know (WWW-Authenticate: {header:?})",
                self.host
            ))),
        }
    }

    fn fetch_token(&self, realm: &str, service: Option<&str>, scopes: &[String]) -> Result<String> {
        let mut url = realm.to_string();
        let mut params: Vec<String> = Vec::new();
        if let Some(s) = service {
            params.push(format!("service={}", query_escape(s)));
        }
        for scope in scopes {
            params.push(format!("scope={}", query_escape(scope)));
        }
        if !params.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&params.join("&"));
        }
        if self.credentials.is_some()
            && !may_send_credentials(realm, &self.host, self.options.insecure)
        {
            return Err(Error::Auth(format!(
                "{} sends pare for a token to {realm}, which is plain HTTP on another host; pare sends \
                 credentials to a token service only over HTTPS (plain HTTP only on loopback, or to the \
                 registry's own host with --insecure)",
                self.host
            )));
        }
        RequestStats::add(&self.stats.requests, 1);
        let mut req = self.agent.get(&url);
        if let Some(c) = &self.credentials {
            req = req.set("Authorization", &c.basic_header());
        }
        let action = format!("get a token from {realm}");
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(401 | 403, _)) => {
                return Err(Error::Auth(format!(
                    "{action}: the credentials{} were refused",
                    self.credentials
                        .as_ref()
                        .map(|c| format!(" of user {:?}", c.username))
                        .unwrap_or_default()
                )))
            }
            Err(ureq::Error::Status(code, _)) => {
                return Err(Error::Status {
                    host: self.host.clone(),
                    action,
                    status: code,
                    detail: String::new(),
                })
            }
            Err(ureq::Error::Transport(t)) => return Err(self.transport(&action, &t.to_string())),
        };
        #[derive(serde::Deserialize)]
        struct TokenReply {
            token: Option<String>,
            access_token: Option<String>,
        }
        let mut body = Vec::new();
        resp.into_reader()
            .take(1 << 20)
            .read_to_end(&mut body)
            .map_err(|e| self.transport(&action, &e.to_string()))?;
        let reply: TokenReply = serde_json::from_slice(&body)
            .map_err(|e| Error::Auth(format!("{action}: the reply is not a token: {e}")))?;
        let token = reply
            .token
            .or(reply.access_token)
            .ok_or_else(|| Error::Auth(format!("{action}: the reply holds no token")))?;
        self.lock_state()
            .tokens
            .insert(scope_key(scopes), token.clone());
        Ok(token)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, AuthState> {
        // A panic while holding this lock cannot leave the map inconsistent; keep going.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn expect(&self, resp: ureq::Response, ok: &[u16], action: &str) -> Result<ureq::Response> {
        if ok.contains(&resp.status()) {
            return Ok(resp);
        }
        let status = resp.status();
        let mut body = String::new();
        // The error body is only a hint for the message.
        let _ = resp.into_reader().take(4096).read_to_string(&mut body);
        let detail = registry_error_detail(&body);
        Err(Error::Status {
            host: self.host.clone(),
            action: action.to_string(),
            status,
            detail,
        })
    }

    fn location(&self, resp: &ureq::Response, action: &str) -> Result<String> {
        let loc = resp.header("Location").ok_or_else(|| Error::Status {
            host: self.host.clone(),
            action: action.to_string(),
            status: resp.status(),
            detail: ": the registry sent no upload Location".into(),
        })?;
        Ok(
            if loc.starts_with("http://") || loc.starts_with("https://") {
                loc.to_string()
            } else if loc.starts_with('/') {
                format!("{}{loc}", self.base)
            } else {
                format!("{}/{loc}", self.base)
            },
        )
    }

    fn transport(&self, action: &str, detail: &str) -> Error {
        let hint = if detail.contains("timed out") || detail.contains("Timeout") {
            format!(
                " (the registry answered too slowly: each request gets {} s plus its bytes at {} bytes/s; \
                 PARE_REGISTRY_DEADLINE and PARE_REGISTRY_MIN_RATE change that)",
                self.options.deadline.as_secs(),
                self.options.min_rate
            )
        } else {
            String::new()
        };
        Error::Transport {
            host: self.host.clone(),
            action: action.to_string(),
            detail: format!("{detail}{hint}"),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.options.backoff * 2u32.saturating_pow(attempt.saturating_sub(1).min(6))
    }
}

fn retryable(e: &Error) -> bool {
    match e {
        Error::Transport { .. } => true,
        Error::Status { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn scope_key(scopes: &[String]) -> String {
    scopes.join(" ")
}

fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", query_escape(value))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The first error of a registry's JSON error body, as `: CODE message`.
fn registry_error_detail(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(e) => e
            .errors
            .first()
            .map(|i| {
                format!(
                    ": {} {}",
                    i.code.as_deref().unwrap_or(""),
                    i.message.as_deref().unwrap_or("")
                )
                .trim_end()
                .to_string()
            })
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_on_the_registry_origin() {
        let base = "https://registry.example";
        assert!(same_origin(
            "https://registry.example/v2/a/blobs/uploads/1?x",
            base
        ));
        assert!(same_origin("https://REGISTRY.example:443/v2/", base));
        assert!(!same_origin("https://storage.example/upload?sig=1", base));
        assert!(
            !same_origin("http://registry.example/v2/", base),
            "scheme matters"
        );
        assert!(!same_origin("https://registry.example.evil/v2/", base));
        assert!(!same_origin("https://user@storage.example/", base));
        assert!(same_origin(
            "http://127.0.0.1:5000/v2/x",
            "http://127.0.0.1:5000"
        ));
        assert!(!same_origin(
            "http://localhost:5000/v2/x",
            "http://127.0.0.1:5000"
        ));
        assert!(
            !same_origin("/v2/relative", base),
            "relative URLs are made absolute first"
        );
    }

    #[test]
    fn token_realms_get_credentials_only_over_https_or_loopback() {
        assert!(may_send_credentials(
            "https://auth.example/token",
            "registry.example",
            false
        ));
        assert!(!may_send_credentials(
            "http://auth.example/token",
            "registry.example",
            false
        ));
        assert!(!may_send_credentials(
            "http://auth.example/token",
            "registry.example",
            true
        ));
        assert!(may_send_credentials(
            "http://registry.example/token",
            "registry.example",
            true
        ));
        assert!(may_send_credentials(
            "http://127.0.0.1:5001/token",
            "127.0.0.1:5000",
            false
        ));
        assert!(may_send_credentials(
            "http://localhost/token",
            "registry.example",
            false
        ));
        assert!(!may_send_credentials(
            "ftp://auth.example/token",
            "registry.example",
            false
        ));
        assert!(!may_send_credentials("token", "registry.example", false));
    }

    #[test]
    fn loopback_hosts_use_plain_http() {
        for host in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:5000",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "registry.example",
            "10.0.0.1:5000",
            "localhost.example:5000",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn queries_are_escaped() {
        assert_eq!(
            query_escape("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
        assert_eq!(
            with_query("http://h/u?x=1", "digest", "sha256:ab"),
            "http://h/u?x=1&digest=sha256%3Aab"
        );
    }

    #[test]
    fn registry_errors_are_summarized() {
        let body = r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#;
        assert_eq!(
            registry_error_detail(body),
            ": BLOB_UNKNOWN blob unknown to registry"
        );
        assert_eq!(registry_error_detail("<html>"), "");
    }
}
