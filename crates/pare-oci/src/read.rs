//! Reads image layers without unpacking them: each layer blob is hashed against its digest while it is
//! decompressed (gzip, zstd or plain, told by its first bytes) and walked as a tar stream, once. Entry
//! names are normalized and any that climbs out of the root is an error; whiteouts and opaque whiteouts
//! become events; regular files are fingerprinted on the way (BLAKE3, see [`ContentHash`]) so changed
//! content can be told from unchanged.
//! Decompression is bounded: a layer that expands past a ratio of its stored size is refused as a bomb.
//! The work is split across cores by stages joined with bounded channels of chunks: an uncompressed
//! layer is read and walked on one core and SHA-256'd on another; a compressed one is read and hashed,
//! inflated, and walked on three threads. Not here: what the entries mean (that is the caller's).

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::compress::Compression;
use crate::digest::format_sha256;
use crate::layout::Layout;
use crate::tarstream::{Kind, TarError, TarReader};
use crate::{Error, Result};

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

/// One entry of a layer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FileInfo {
    /// Normalized path without leading `/` (`usr/bin/app`); empty for the root.
    pub path: String,
    pub kind: FileKind,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Link target for symlinks and hard links.
    pub link: Option<String>,
    /// A regular file's content fingerprint.
    pub content: Option<ContentHash>,
    /// The first bytes of a regular file, as many as the caller asked for (see [`read_layer`]).
    #[serde(skip)]
    pub sample: Vec<u8>,
}

/// The BLAKE3 hash of a regular file's content. It only tells contents apart inside pare (duplicates,
/// metadata-only rewrites, diffs) and is never shown as an OCI digest, so it need not be SHA-256:
/// BLAKE3 is as collision-resistant (a hostile image cannot make two different files look the same)
/// and, with SIMD, about three times faster here, which matters because every byte of every file goes
/// through it besides the layer's own SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The fingerprint of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }
}

impl std::fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "blake3:")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl serde::Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{self:?}"))
    }
}

/// What walking a layer finds, in tar order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerEvent {
    Entry(FileInfo),
    /// `.wh.NAME`: NAME (and what is below it) is deleted from the layers below.
    Whiteout(String),
    /// `.wh..wh..opq`: everything the layers below put in this directory is hidden.
    Opaque(String),
}

/// Limits for reading layers.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    /// A layer may expand to at most this many times its stored size...
    pub max_ratio: u64,
    /// ...or this many bytes, whichever is larger.
    pub min_allowance: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_ratio: 100,
            min_allowance: 256 << 20,
        }
    }
}

/// Sizes found while walking a layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerStats {
    pub uncompressed_size: u64,
    pub entries: u64,
}

/// Which layer blob to walk and what is known about it.
#[derive(Clone, Copy, Debug)]
pub struct LayerBlob<'a> {
    pub digest: &'a str,
    pub size: u64,
    /// The config's diff_id, which the uncompressed stream must match.
    pub diff_id: Option<&'a str>,
    /// The caller hashed this blob against its digest in this process (pare wrote it to a staging
    /// layout while verifying), so it is not hashed again.
    pub stored_verified: bool,
    /// Where the blob's bytes are when they are not in the layout: a member of an archive read in
    /// place. They are hashed against `digest` while walked, like any blob not verified before.
    pub location: Option<&'a Section>,
}

/// A blob stored as a byte range of a bigger file (a layer inside an `oci-archive` or
/// `docker-archive`, found by the archive's tar headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub file: std::path::PathBuf,
    /// Where the blob's first byte is.
    pub offset: u64,
}

impl Section {
    /// Opens the section for reading `size` bytes; the file must hold all of them.
    pub fn open(&self, size: u64) -> Result<io::Take<File>> {
        let mut file = crate::layout::open_regular(&self.file)?;
        let length = file
            .metadata()
            .map_err(Error::io("read archive", &self.file))?
            .len();
        if self.offset.saturating_add(size) > length {
            return Err(Error::Invalid(format!(
                "archive {}: a blob of {size} bytes at offset {} runs past the end of the file \
                 ({length} bytes): the archive is truncated",
                self.file.display(),
                self.offset
            )));
        }
        io::Seek::seek(&mut file, io::SeekFrom::Start(self.offset))
            .map_err(Error::io("read archive", &self.file))?;
        Ok(file.take(size))
    }

    /// Whether the section's bytes hash to `digest`.
    pub fn matches(&self, digest: &str, size: u64) -> bool {
        let Ok(mut reader) = self.open(size) else {
            return false;
        };
        let mut hasher = crate::digest::HashingWriter::new(io::sink());
        io::copy(&mut reader, &mut hasher).is_ok_and(|n| n == size) && {
            let (_, actual, _) = hasher.finish();
            actual == digest
        }
    }
}

/// Walks a layer blob of `layout`, calling `on_event` for each entry. `sample(path, size, mode)` says
/// how many leading bytes of a regular file to hand over in [`FileInfo::sample`] (0 for none).
pub fn read_layer(
    layout: &Layout,
    blob: LayerBlob<'_>,
    limits: ReadLimits,
    sample: &dyn Fn(&str, u64, u32) -> usize,
    mut on_event: impl FnMut(LayerEvent) -> Result<()>,
) -> Result<LayerStats> {
    let LayerBlob { digest, size, .. } = blob;
    let path = match blob.location {
        Some(section) => section.file.clone(),
        None => layout.blob_path(digest)?,
    };
    if blob.location.is_none() && !layout.has_blob(digest, size) {
        return Err(Error::Blob {
            digest: digest.into(),
            path,
            reason: "the layer blob is missing or has the wrong size".into(),
        });
    }
    let corrupt = || Error::Blob {
        digest: digest.into(),
        path: path.clone(),
        reason: "content does not match the digest (the blob is corrupt)".into(),
    };
    // The blob is hashed while it is read (one pass, not a check first and a walk after). Events
    // reach the caller before the check ends, so an error at the end voids all of them; when the walk
    // fails on the way, a corrupt blob is named as such rather than by its first symptom.
    let walked = walk(&path, blob, limits, sample, &mut on_event);
    match walked {
        Ok((stats, None)) => Ok(stats),
        Ok((stats, Some(stored_digest))) if stored_digest == digest => Ok(stats),
        Ok(_) => Err(corrupt()),
        Err(e)
            if !match blob.location {
                Some(section) => section.matches(digest, size),
                None => layout.has_valid_blob(digest, size),
            } =>
        {
            let _ = e;
            Err(corrupt())
        }
        Err(e) => Err(e),
    }
}

/// Walks one blob; returns the stats and the sha256 digest of the stored bytes (None when the caller
/// vouched for them and they were not hashed again).
fn walk(
    path: &std::path::Path,
    blob: LayerBlob<'_>,
    limits: ReadLimits,
    sample: &dyn Fn(&str, u64, u32) -> usize,
    on_event: &mut dyn FnMut(LayerEvent) -> Result<()>,
) -> Result<(LayerStats, Option<String>)> {
    let LayerBlob {
        digest,
        size,
        diff_id,
        stored_verified,
        location,
    } = blob;
    let bad = |reason: String| Error::Blob {
        digest: digest.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    let broken = |e: io::Error| {
        if e.to_string().contains("decompression bomb") {
            bad(format!("{e}"))
        } else {
            bad(format!(
                "the layer is not a readable tar stream: {e} (truncated or corrupt)"
            ))
        }
    };
    let mut stored = match location {
        Some(section) => section.open(size)?,
        None => crate::layout::open_regular(path)?.take(u64::MAX),
    };
    // The compression is told by the first bytes, which are then put back in front of the rest.
    let mut head = [0u8; 4];
    let peeked = read_full(&mut stored, &mut head).map_err(Error::io("read layer", path))?;
    let compression = Compression::sniff(&head[..peeked]);
    let inner = io::Cursor::new(head[..peeked].to_vec()).chain(stored);
    if compression == Compression::None {
        // The stored bytes are the tar stream: one hash covers digest and diff_id alike.
        let (entries, hashed, read) =
            walk_plain(inner, !stored_verified, sample, on_event, &bad, &broken)?;
        let stored_digest = hashed.map(|h| format_sha256(&h));
        let actual = stored_digest.clone().unwrap_or_else(|| digest.to_string());
        check_diff_id(&actual, diff_id, stored_digest.as_deref(), digest, &bad)?;
        let stats = LayerStats {
            uncompressed_size: read,
            entries,
        };
        return Ok((stats, stored_digest));
    }
    // Three stages joined by bounded channels of chunks (about 1 MiB in flight each): reading the
    // stored bytes with their hash, decompressing, and walking the tar with the diff_id hash and the
    // per-file hashes. Inflate is the slowest and gets a core of its own; the other two share the
    // second core, which they about fill.
    let limit = size
        .saturating_mul(limits.max_ratio)
        .max(limits.min_allowance);
    let (raw_chunks, raw_receiver) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    let (chunks, receiver) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    let (walked, stored_hasher, uncompressed_hasher, uncompressed_size) =
        std::thread::scope(|scope| {
            let reader = scope.spawn(move || {
                let mut inner = inner;
                let mut hasher = (!stored_verified).then(Sha256::new);
                send_chunks(&mut inner, &raw_chunks, |chunk| {
                    if let Some(hasher) = hasher.as_mut() {
                        hasher.update(chunk);
                    }
                });
                hasher
            });
            let inflater = scope.spawn(move || {
                let stored = Chunks::new(raw_receiver, None);
                let decompressed: Box<dyn Read> = if compression == Compression::Gzip {
                    Box::new(flate2::bufread::MultiGzDecoder::new(stored))
                } else {
                    match zstd::stream::read::Decoder::with_buffer(stored) {
                        Ok(decoder) => Box::new(decoder),
                        Err(e) => {
                            let _ = chunks.send(Err(io::Error::other(format!(
                                "cannot start zstd decoding: {e}"
                            ))));
                            return 0;
                        }
                    }
                };
                let mut counted = Counted {
                    inner: decompressed,
                    read: 0,
                    limit,
                };
                send_chunks(&mut counted, &chunks, |_| {});
                counted.read
            });
            let mut pipe = Chunks::new(receiver, Some(Sha256::new()));
            let walked = walk_entries(&mut pipe, sample, on_event, &bad, &broken);
            drop(pipe.chunks); // lets the stages behind stop if the walk ended early
            let read = inflater.join().unwrap_or(u64::MAX);
            (walked, reader.join(), pipe.hasher, read)
        });
    let entries = walked?;
    if uncompressed_size == u64::MAX {
        return Err(bad("the decompressing thread failed".into()));
    }
    let stored_digest = stored_hasher
        .map_err(|_| bad("the reading thread failed".into()))?
        .map(|hasher| format_sha256(&hasher.finalize()));
    let actual = format_sha256(
        &uncompressed_hasher
            .ok_or_else(|| bad("the stream was not hashed".into()))?
            .finalize(),
    );
    check_diff_id(&actual, diff_id, stored_digest.as_deref(), digest, &bad)?;
    Ok((
        LayerStats {
            uncompressed_size,
            entries,
        },
        stored_digest,
    ))
}

/// The uncompressed stream must hash to the config's diff_id. When the stored bytes were hashed and
/// do not match their digest, the caller reports that corruption instead.
fn check_diff_id(
    actual: &str,
    diff_id: Option<&str>,
    stored_digest: Option<&str>,
    digest: &str,
    bad: &dyn Fn(String) -> Error,
) -> Result<()> {
    match diff_id {
        Some(expected) if actual != expected && stored_digest.is_none_or(|d| d == digest) => {
            Err(bad(format!(
                "the uncompressed layer has digest {actual}, but the config's diff_id is {expected}"
            )))
        }
        _ => Ok(()),
    }
}

/// Chunks a layer is read and handed between cores in.
const CHUNK: usize = 256 * 1024;

/// How many chunks (1 MiB) the hashing thread may lag behind the walk. Deeper queues (2 and 8 MiB)
/// measured no faster on a 229 MB layer: what is in flight should stay in the core's cache.
const HASHER_QUEUE: usize = 4;

/// Walks an uncompressed layer read on this core while, when `hash` is set, another core hashes the
/// same chunks (shared, not copied); returns the entry count, the stream's SHA-256 and its length.
fn walk_plain(
    inner: impl Read,
    hash: bool,
    sample: &dyn Fn(&str, u64, u32) -> usize,
    on_event: &mut dyn FnMut(LayerEvent) -> Result<()>,
    bad: &dyn Fn(String) -> Error,
    broken: &dyn Fn(io::Error) -> Error,
) -> Result<(u64, Option<[u8; 32]>, u64)> {
    std::thread::scope(|scope| {
        let (to_hasher, chunks) =
            std::sync::mpsc::sync_channel::<(Arc<Vec<u8>>, usize)>(HASHER_QUEUE);
        let hasher = hash.then(|| {
            scope.spawn(move || {
                let mut hasher = Sha256::new();
                for (chunk, filled) in chunks {
                    hasher.update(&chunk[..filled]);
                }
                <[u8; 32]>::from(hasher.finalize())
            })
        });
        let mut reader = SharedChunks {
            inner,
            to_hasher: hash.then_some(to_hasher),
            current: Arc::new(Vec::new()),
            filled: 0,
            position: 0,
            recent: std::collections::VecDeque::new(),
            read: 0,
        };
        let walked = walk_entries(&mut reader, sample, on_event, bad, broken);
        let read = reader.read;
        drop(reader); // ends the hasher's stream
        let hashed = match hasher.map(|h| h.join()) {
            Some(Ok(digest)) => Some(digest),
            Some(Err(_)) => return Err(bad("the hashing thread failed".into())),
            None => None,
        };
        Ok((walked?, hashed, read))
    })
}

/// Reads a file in [`CHUNK`]s, hands each (shared) to a hashing thread and serves it as a reader.
/// Chunks come back for reuse once both sides are done with them, so a layer costs a few chunks of
/// memory and no zeroing per chunk.
struct SharedChunks<R> {
    inner: R,
    to_hasher: Option<std::sync::mpsc::SyncSender<(Arc<Vec<u8>>, usize)>>,
    current: Arc<Vec<u8>>,
    filled: usize,
    position: usize,
    /// Chunks handed out lately, oldest first: reused when the hasher has let go of them.
    recent: std::collections::VecDeque<Arc<Vec<u8>>>,
    read: u64,
}

impl<R: Read> SharedChunks<R> {
    fn next_chunk(&mut self) -> io::Result<bool> {
        let mut buffer = match self.recent.front().map(Arc::strong_count) {
            Some(1) if self.recent.len() > 2 => self
                .recent
                .pop_front()
                .and_then(|c| Arc::try_unwrap(c).ok())
                .unwrap_or_else(|| vec![0; CHUNK]),
            _ => vec![0; CHUNK],
        };
        if self.recent.len() > HASHER_QUEUE + 4 {
            self.recent.pop_front();
        }
        let filled = read_full(&mut self.inner, &mut buffer)?;
        if filled == 0 {
            return Ok(false);
        }
        self.read += filled as u64;
        let chunk = Arc::new(buffer);
        if let Some(sender) = &self.to_hasher {
            sender
                .send((chunk.clone(), filled))
                .map_err(|_| io::Error::other("the hashing thread stopped"))?;
        }
        self.recent.push_back(chunk.clone());
        self.current = chunk;
        self.filled = filled;
        self.position = 0;
        Ok(true)
    }
}

impl<R: Read> Read for SharedChunks<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position == self.filled && !self.next_chunk()? {
            return Ok(0);
        }
        let n = buf.len().min(self.filled - self.position);
        buf[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

/// Walks the entries of an uncompressed tar stream, then reads it to the end (so the stream's hash
/// covers every byte); returns the number of entries.
fn walk_entries(
    reader: impl Read,
    sample: &dyn Fn(&str, u64, u32) -> usize,
    on_event: &mut dyn FnMut(LayerEvent) -> Result<()>,
    bad: &dyn Fn(String) -> Error,
    broken: &dyn Fn(io::Error) -> Error,
) -> Result<u64> {
    let mut archive = TarReader::new(io::BufReader::with_capacity(256 << 10, reader));
    let mut entries = 0u64;
    let tar_error = |e: TarError| match e {
        TarError::Io(e) => broken(e),
        TarError::Invalid(why) => bad(why),
    };
    while let Some(header) = archive.next_header().map_err(tar_error)? {
        entries += 1;
        let name = name_string(&header.name);
        let normalized = normalize_entry(&name).ok_or_else(|| {
            bad(format!(
                "entry {name:?} points outside the image root (hostile layer)"
            ))
        })?;
        let (dir, base) = match normalized.rsplit_once('/') {
            Some((d, b)) => (d.to_string(), b.to_string()),
            None => (String::new(), normalized.clone()),
        };
        if base == ".wh..wh..opq" {
            on_event(LayerEvent::Opaque(dir))?;
            continue;
        }
        if let Some(hidden) = base.strip_prefix(".wh.") {
            let target = if dir.is_empty() {
                hidden.to_string()
            } else {
                format!("{dir}/{hidden}")
            };
            on_event(LayerEvent::Whiteout(target))?;
            continue;
        }
        let kind = match header.kind {
            Kind::File => FileKind::File,
            Kind::Dir => FileKind::Dir,
            Kind::Symlink => FileKind::Symlink,
            Kind::Hardlink => FileKind::Hardlink,
            Kind::Char => FileKind::Char,
            Kind::Block => FileKind::Block,
            Kind::Fifo => FileKind::Fifo,
        };
        let link = match kind {
            FileKind::Symlink => Some(name_string(&header.link)),
            // A hard link names another member of the layers; one that climbs out of the root is
            // refused, as umoci refuses it.
            FileKind::Hardlink => {
                let target = name_string(&header.link);
                Some(normalize_entry(&target).filter(|t| !t.is_empty()).ok_or_else(|| {
                    bad(format!(
                        "hard link {normalized:?} points at {target:?}, outside the image root (hostile layer)"
                    ))
                })?)
            }
            _ => None,
        };
        let mode = header.mode;
        let uid = header.uid;
        let gid = header.gid;
        let declared = header.size;
        let mut kept = Vec::new();
        let (size, content) = if kind == FileKind::File {
            let want = sample(&normalized, declared, mode);
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0u64;
            loop {
                let n = archive.read_data(&mut buf).map_err(broken)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                if kept.len() < want {
                    let take = (want - kept.len()).min(n);
                    kept.extend_from_slice(&buf[..take]);
                }
                total += n as u64;
            }
            if total != declared {
                return Err(bad(format!(
                    "{normalized:?} ends after {total} of {declared} bytes (truncated layer)"
                )));
            }
            (total, Some(ContentHash(*hasher.finalize().as_bytes())))
        } else {
            (0, None)
        };
        on_event(LayerEvent::Entry(FileInfo {
            path: normalized,
            kind,
            size,
            mode,
            uid,
            gid,
            link,
            content,
            sample: kept,
        }))?;
    }
    // Read what follows the end-of-archive blocks, so the diff_id covers the whole stream.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(broken)?;
    Ok(entries)
}

/// A tar name as a path string, losslessly: UTF-8 as it is, every byte that is not valid UTF-8 as
/// `\xNN` and a backslash as `\\`, so two different byte names never become one entry (a
/// setuid `bin/su\xff` cannot hide behind a `bin/su\xfe`). Names without backslashes or invalid
/// bytes, nearly all of them, are unchanged.
pub fn name_string(bytes: &[u8]) -> String {
    if !bytes.contains(&b'\\') {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return text.to_string();
        }
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The receiving end of a channel of chunks, as a buffered reader; optionally hashing every chunk
/// as it arrives (the uncompressed stream, for the layer's diff_id).
struct Chunks {
    chunks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    position: usize,
    hasher: Option<Sha256>,
}

impl Chunks {
    fn new(chunks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>, hasher: Option<Sha256>) -> Self {
        Self {
            chunks,
            current: Vec::new(),
            position: 0,
            hasher,
        }
    }
}

impl io::BufRead for Chunks {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.position == self.current.len() {
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    if let Some(hasher) = self.hasher.as_mut() {
                        hasher.update(&chunk);
                    }
                    self.current = chunk;
                    self.position = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(&[]), // the sender finished: end of stream
            }
        }
        Ok(&self.current[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position = (self.position + amount).min(self.current.len());
    }
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = io::BufRead::fill_buf(self)?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        io::BufRead::consume(self, n);
        Ok(n)
    }
}

/// Reads `reader` to its end in [`CHUNK`]s, showing each to `seen` and then sending it down `to`; a
/// read error is sent down `to` too. Stops early when the receiving end is gone (the stage after
/// this one failed and wants nothing more).
fn send_chunks(
    reader: &mut impl Read,
    to: &std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>,
    mut seen: impl FnMut(&[u8]),
) {
    loop {
        let mut chunk = vec![0u8; CHUNK];
        match read_full(reader, &mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                chunk.truncate(n);
                seen(&chunk);
                if to.send(Ok(chunk)).is_err() {
                    break;
                }
            }
            Err(e) => {
                let _ = to.send(Err(e));
                break;
            }
        }
    }
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Normalizes a tar entry name: strips `./` and leading `/`, resolves `..` without leaving the root;
/// None when it would leave the root. Also the normal form of any image path pare compares.
pub fn normalize_entry(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Counts the uncompressed stream, refusing to go past its limit (a decompression bomb).
struct Counted {
    inner: Box<dyn Read>,
    read: u64,
    limit: u64,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(format!(
                "decompression bomb: the layer expands past {} bytes; refusing to read on",
                self.limit
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, &data[..]).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn walk_blob(layout: &Layout, blob: LayerBlob<'_>) -> Result<Vec<FileInfo>> {
        let mut files = Vec::new();
        read_layer(
            layout,
            blob,
            ReadLimits::default(),
            &|_, _, _| 16,
            |event| {
                if let LayerEvent::Entry(info) = event {
                    files.push(info);
                }
                Ok(())
            },
        )?;
        Ok(files)
    }

    /// Plain layers are read on one core and hashed on another, in chunks: files that span many
    /// chunks keep their content hash, and the stream's digest covers every byte.
    #[test]
    fn plain_layers_spanning_many_chunks_are_walked_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create_or_open(&dir.path().join("l")).unwrap();
        let big: Vec<u8> = (0..3 * CHUNK + 777).map(|i| (i * 7 % 251) as u8).collect();
        let bytes = tar_of(&[("a/big", big.clone()), ("a/small", b"x".to_vec())]);
        let digest = layout.write_blob(&bytes).unwrap();
        let size = bytes.len() as u64;
        let blob = LayerBlob {
            digest: &digest,
            size,
            diff_id: Some(&digest),
            stored_verified: false,
            location: None,
        };
        let files = walk_blob(&layout, blob).unwrap();
        assert_eq!(files[0].path, "a/big");
        assert_eq!(files[0].content, Some(ContentHash::of(&big)));
        assert_eq!(files[0].sample, big[..16]);
        assert_eq!(files[1].content, Some(ContentHash::of(b"x")));

        // The same bytes as a member of a bigger file (an archive read in place).
        let archive = dir.path().join("archive.tar");
        let mut outer = vec![7u8; 1024];
        outer.extend_from_slice(&bytes);
        outer.extend_from_slice(&[0u8; 512]);
        std::fs::write(&archive, &outer).unwrap();
        let section = Section {
            file: archive.clone(),
            offset: 1024,
        };
        let in_place = LayerBlob {
            location: Some(&section),
            ..blob
        };
        assert_eq!(walk_blob(&layout, in_place).unwrap(), files);

        // One flipped byte in file content (the tar structure still walks) is caught.
        outer[1024 + 512 + CHUNK * 2] ^= 1;
        std::fs::write(&archive, &outer).unwrap();
        let err = walk_blob(&layout, in_place).unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");

        // A caller that verified the blob itself is not second-guessed, but the diff_id still is.
        let vouched = LayerBlob {
            stored_verified: true,
            ..blob
        };
        assert_eq!(walk_blob(&layout, vouched).unwrap(), files);
        let other = format!("sha256:{}", "0".repeat(64));
        for stored_verified in [false, true] {
            let wrong = LayerBlob {
                diff_id: Some(&other),
                stored_verified,
                ..blob
            };
            let err = walk_blob(&layout, wrong).unwrap_err().to_string();
            assert!(err.contains("diff_id"), "{err}");
        }
    }

    /// Compressed layers go through three stages (read and hash, inflate, walk): the same entries
    /// come out as from the plain stream, gzip in several members included, and any broken stage is
    /// an error rather than a hang.
    #[test]
    fn compressed_layers_walk_like_plain_ones() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create_or_open(&dir.path().join("l")).unwrap();
        let big: Vec<u8> = (0..2 * CHUNK + 99).map(|i| (i * 13 % 255) as u8).collect();
        let tar = tar_of(&[("big", big.clone()), ("small", b"s".to_vec())]);
        let diff_id = format_sha256(&Sha256::digest(&tar));
        let mut members = Vec::new();
        for part in tar.chunks(100_000) {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(part).unwrap();
            members.extend(encoder.finish().unwrap());
        }
        let zstd = zstd::encode_all(&tar[..], 3).unwrap();
        for stored in [members, zstd] {
            let digest = layout.write_blob(&stored).unwrap();
            let blob = LayerBlob {
                digest: &digest,
                size: stored.len() as u64,
                diff_id: Some(&diff_id),
                stored_verified: false,
                location: None,
            };
            let files = walk_blob(&layout, blob).unwrap();
            assert_eq!(files.len(), 2);
            assert_eq!(files[0].content, Some(ContentHash::of(&big)));
            // The stored bytes damaged past the magic: corrupt, named as such.
            let mut damaged = stored.clone();
            let middle = damaged.len() / 2;
            damaged[middle] ^= 0x55;
            let path = layout.blob_path(&digest).unwrap();
            std::fs::write(&path, &damaged).unwrap();
            let err = walk_blob(&layout, blob).unwrap_err().to_string();
            assert!(err.contains("corrupt"), "{err}");
            // Cut short and vouched for by the caller: the stream ends early, still an error.
            std::fs::write(&path, &stored[..middle]).unwrap();
            let cut = LayerBlob {
                size: middle as u64,
                stored_verified: true,
                ..blob
            };
            assert!(walk_blob(&layout, cut).is_err());
        }
    }

    #[test]
    fn a_plain_layer_cut_inside_a_file_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create_or_open(&dir.path().join("l")).unwrap();
        let bytes = tar_of(&[("f", vec![1u8; CHUNK + 5000])]);
        let cut = &bytes[..CHUNK];
        let digest = layout.write_blob(cut).unwrap();
        let blob = LayerBlob {
            digest: &digest,
            size: cut.len() as u64,
            diff_id: None,
            stored_verified: false,
            location: None,
        };
        let err = walk_blob(&layout, blob).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn entry_names_stay_inside() {
        assert_eq!(normalize_entry("./usr/bin/").as_deref(), Some("usr/bin"));
        assert_eq!(
            normalize_entry("/etc/passwd").as_deref(),
            Some("etc/passwd")
        );
        assert_eq!(normalize_entry("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize_entry("./").as_deref(), Some(""));
        assert_eq!(normalize_entry("../evil"), None);
        assert_eq!(normalize_entry("a/../../evil"), None);
    }
}
