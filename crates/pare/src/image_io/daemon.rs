//! The local Docker Engine as a place images come from and go to (`docker-daemon:NAME[:TAG]`), through
//! its API on a unix socket (`DOCKER_HOST=unix://PATH`, else `/var/run/docker.sock`): `GET
//! /images/NAME/get` streams what `docker save` writes and `POST /images/load` takes what `docker load`
//! sends. The tar in between is a docker-archive, read and written by the archive code like any other
//! file. HTTP/1.1 is written by hand here: two calls need only a request line, a streamed body and a
//! (possibly chunked) response over a `UnixStream`, the registry client's HTTP crate cannot use a unix
//! socket, and an async HTTP stack for two calls is not worth its weight. Not here: daemons over TCP or
//! TLS (refused with a hint), or anything but save and load.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use pare_oci::reference::DockerName;

use crate::{Error, Result};

/// Where the Docker Engine listens by default.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Largest response head (status line and headers) read.
const MAX_HEAD: usize = 64 << 10;
/// Largest error or load-report body read.
const MAX_MESSAGE: u64 = 1 << 20;

/// The Engine's socket: `DOCKER_HOST` when it names a unix socket, else the default.
pub fn socket_path() -> Result<PathBuf> {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => match host.strip_prefix("unix://") {
            Some(path) => Ok(PathBuf::from(path)),
            None => Err(Error::Input(format!(
                "DOCKER_HOST={host}: pare speaks to the Docker Engine over a unix socket only \
                 (DOCKER_HOST=unix:///var/run/docker.sock); for a remote engine, use docker save / \
                 docker load with a docker-archive: file"
            ))),
        },
        _ => Ok(PathBuf::from(DEFAULT_SOCKET)),
    }
}

/// Writes the image `name` names in the Engine, as `docker save` would, to the file `into`.
pub fn save(name: &DockerName, into: &Path) -> Result<()> {
    let path = format!("/images/{}/get", encode(&name_with_tag(name)));
    let mut response = request("GET", &path, None)?;
    let mut file = std::fs::File::create(into).map_err(Error::io("create", into))?;
    std::io::copy(&mut response.body, &mut file).map_err(|e| {
        Error::Input(format!(
            "docker-daemon:{name}: the Engine's image stream broke off: {e}"
        ))
    })?;
    file.sync_all().map_err(Error::io("write", into))?;
    Ok(())
}

/// Sends the docker-archive `file` to the Engine as `docker load` would; returns what it said
/// (`Loaded image: app:1`).
pub fn load(file: &Path) -> Result<String> {
    let mut response = request("POST", "/images/load?quiet=1", Some(file))?;
    let mut text = String::new();
    (&mut response.body)
        .take(MAX_MESSAGE)
        .read_to_string(&mut text)
        .map_err(|e| Error::Input(format!("reading the Docker Engine's answer to a load: {e}")))?;
    // The answer is a stream of JSON objects; an `error` in any of them is a failed load.
    let mut said = Vec::new();
    for value in serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>() {
        let Ok(value) = value else { break };
        if let Some(error) = value["error"].as_str() {
            return Err(Error::Input(format!(
                "the Docker Engine refused the image: {error}"
            )));
        }
        if let Some(stream) = value["stream"].as_str() {
            said.push(stream.trim().to_string());
        }
    }
    Ok(said.join("; "))
}

/// `name:tag` (`latest` when the name has none), or `name@digest`.
fn name_with_tag(name: &DockerName) -> String {
    let mut n = name.clone();
    if n.tag.is_none() && n.digest.is_none() {
        n.tag = Some("latest".into());
    }
    n.to_string()
}

/// Percent-encodes what may not stand in a URL path (names hold only `[a-z0-9._/:@-]`, but a name is
/// input).
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"._-/:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A response whose status was 2xx, its body ready to read.
struct Response {
    body: Box<dyn Read>,
}

/// Sends one request over the Engine's socket (`body`: a file sent as `application/x-tar`).
fn request(method: &str, path: &str, body: Option<&Path>) -> Result<Response> {
    let socket = socket_path()?;
    let stream = UnixStream::connect(&socket).map_err(|e| {
        Error::Input(format!(
            "cannot reach the Docker Engine at {}: {e}; is it running, and may this user use it?",
            socket.display()
        ))
    })?;
    let mut writer = std::io::BufWriter::new(&stream);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
    let file = match body {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(Error::io("open", path))?;
            let len = file.metadata().map_err(Error::io("read", path))?.len();
            head.push_str(&format!(
                "Content-Type: application/x-tar\r\nContent-Length: {len}\r\n"
            ));
            Some(file)
        }
        None => None,
    };
    head.push_str("\r\n");
    let broken = |e: std::io::Error| {
        Error::Input(format!(
            "the connection to the Docker Engine at {} broke: {e}",
            socket.display()
        ))
    };
    writer.write_all(head.as_bytes()).map_err(broken)?;
    if let Some(mut file) = file {
        std::io::copy(&mut file, &mut writer).map_err(broken)?;
    }
    writer.flush().map_err(broken)?;
    drop(writer);
    let mut reader = BufReader::with_capacity(1 << 20, stream);
    let (status, chunked, length) = read_head(&mut reader).map_err(broken)?;
    let body: Box<dyn Read> = match (chunked, length) {
        (true, _) => Box::new(Chunked::new(reader)),
        (false, Some(len)) => Box::new(reader.take(len)),
        (false, None) => Box::new(reader),
    };
    if !(200..300).contains(&status) {
        let mut text = String::new();
        let _ = body.take(MAX_MESSAGE).read_to_string(&mut text);
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.trim().to_string());
        return Err(Error::Input(format!(
            "the Docker Engine answered {status} to {method} {path}: {message}"
        )));
    }
    Ok(Response { body })
}

/// Reads the status line and headers: (status, chunked, content length).
fn read_head(reader: &mut impl BufRead) -> std::io::Result<(u16, bool, Option<u64>)> {
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    let mut read = 0usize;
    let mut line = String::new();
    let mut next_line = |line: &mut String| -> std::io::Result<()> {
        line.clear();
        let n = reader
            .by_ref()
            .take((MAX_HEAD - read.min(MAX_HEAD)) as u64)
            .read_line(line)?;
        read += n;
        if n == 0 || !line.ends_with('\n') {
            return Err(bad("the response head is cut off or longer than 64 KiB"));
        }
        Ok(())
    };
    next_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("no HTTP status line"))?;
    let (mut chunked, mut length) = (false, None);
    loop {
        next_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((key, value)) = header.split_once(':') {
            let value = value.trim();
            if key.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if key.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse().map_err(|_| bad("a bad Content-Length"))?);
            }
        }
    }
    Ok((status, chunked, length))
}

/// A chunked transfer-encoded body, decoded.
struct Chunked<R: BufRead> {
    inner: R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Chunked<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            left: 0,
            done: false,
        }
    }

    fn size_line(&mut self) -> std::io::Result<u64> {
        let mut line = String::new();
        (&mut self.inner).take(1024).read_line(&mut line)?;
        let digits = line.trim().split(';').next().unwrap_or("");
        u64::from_str_radix(digits, 16).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a bad chunk size line {line:?}"),
            )
        })
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            self.left = self.size_line()?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        if self.left == 0 {
            let mut crlf = [0u8; 2];
            self.inner.read_exact(&mut crlf)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_and_heads_parse() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
        let mut reader = BufReader::new(&raw[..]);
        let (status, chunked, length) = read_head(&mut reader).unwrap();
        assert_eq!((status, chunked, length), (200, true, None));
        let mut body = String::new();
        Chunked::new(reader).read_to_string(&mut body).unwrap();
        assert_eq!(body, "hello world");
        let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
        let mut reader = BufReader::new(&cut[..]);
        read_head(&mut reader).unwrap();
        assert!(Chunked::new(reader)
            .read_to_string(&mut String::new())
            .is_err());
        assert!(read_head(&mut BufReader::new(&b"garbage"[..])).is_err());
    }

    #[test]
    fn names_get_a_tag_and_are_encoded() {
        let name = DockerName::parse("team/app").unwrap();
        assert_eq!(name_with_tag(&name), "team/app:latest");
        assert_eq!(encode("team/app:1 x"), "team/app:1%20x");
    }
}
