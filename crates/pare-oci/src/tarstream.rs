//! A tar stream read the way the container runtimes read a layer (Go's archive/tar, under Docker,
//! containerd and umoci), one header at a time: ustar and GNU headers with octal or base-256
//! numbers and a checked checksum, the ustar prefix, GNU long names and long link names (`L`, `K`),
//! PAX extended headers (`x`) parsed record by record by their decimal length, the PAX `path`,
//! `linkpath`, `size`, `uid` and `gid` overriding the header, PAX global headers (`g`) skipped as the
//! runtimes skip them. What Go's reader refuses is refused here (a malformed record, a NUL in a PAX
//! path or link path), and so are what the runtimes would not unpack (unknown typeflags, GNU sparse
//! files). Names are bytes. Written by hand because tar 0.4 splits PAX records on newlines instead of
//! reading them by length (tar-rs #452, unmerged fixes #470 and #476), so a record value holding a
//! newline can smuggle a second `path=` that the runtimes never see. Not here: what the entries
//! mean (`crate::read`) or writing tars (`crate::layer`, which uses tar 0.4's writer).

use std::io::{self, Read};

use crate::read::read_full;

/// Largest PAX extended header or GNU long name read (Go's limit is 1 MiB as well).
const MAX_META: u64 = 1 << 20;

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Hardlink,
    Symlink,
    Char,
    Block,
    Dir,
    Fifo,
}

/// One entry's header, with every extension applied.
#[derive(Clone, Debug)]
pub struct Header {
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Bytes of data that follow.
    pub size: u64,
}

/// Why a stream is not a tar the runtimes would unpack.
#[derive(Debug)]
pub enum TarError {
    Io(io::Error),
    /// Malformed or refused input, with the reason.
    Invalid(String),
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        TarError::Io(e)
    }
}

/// Reads headers and data of a tar stream in order.
pub struct TarReader<R: Read> {
    inner: R,
    /// Bytes of the current entry's data (and padding) not read yet.
    remaining: u64,
    padding: u64,
    done: bool,
}

fn octal_or_binary(field: &[u8], what: &str) -> Result<u64, TarError> {
    if let Some((&first, rest)) = field.split_first() {
        // Base-256 (GNU, star, Go): the high bit of the first byte set, the number big-endian.
        if first & 0x80 != 0 {
            if first & 0x40 != 0 {
                return Err(TarError::Invalid(format!(
                    "negative {what} in a tar header"
                )));
            }
            let mut value: u64 = u64::from(first & 0x3f);
            for &b in rest {
                value = value
                    .checked_mul(256)
                    .and_then(|v| v.checked_add(u64::from(b)))
                    .ok_or_else(|| {
                        TarError::Invalid(format!("{what} in a tar header is too large"))
                    })?;
            }
            return Ok(value);
        }
    }
    // Octal, as Go's reader takes it: spaces and NULs trimmed at both ends, then only octal digits
    // (a field of binary junk behind a leading NUL is refused, not read as 0).
    let padding = |b: &u8| *b == 0 || *b == b' ';
    let start = field
        .iter()
        .position(|b| !padding(b))
        .unwrap_or(field.len());
    let end = field
        .iter()
        .rposition(|b| !padding(b))
        .map_or(start, |e| e + 1);
    let text = &field[start..end];
    if text.is_empty() {
        return Ok(0);
    }
    let text = std::str::from_utf8(text)
        .map_err(|_| TarError::Invalid(format!("{what} in a tar header is not a number")))?;
    u64::from_str_radix(text, 8)
        .map_err(|_| TarError::Invalid(format!("{what} {text:?} in a tar header is not octal")))
}

fn cstr(field: &[u8]) -> &[u8] {
    &field[..field.iter().position(|&b| b == 0).unwrap_or(field.len())]
}

/// The PAX records of an extended header, by record length; refuses what Go's reader refuses.
fn pax_records(data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, TarError> {
    let bad = |why: &str| TarError::Invalid(format!("malformed PAX record: {why}"));
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("no length"))?;
        let digits =
            std::str::from_utf8(&rest[..space]).map_err(|_| bad("length is not decimal"))?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("length is not decimal"));
        }
        let length: usize = digits.parse().map_err(|_| bad("length too large"))?;
        if length <= space + 1 || length > rest.len() {
            return Err(bad("length does not fit the header"));
        }
        let record = &rest[space + 1..length];
        let Some(record) = record.strip_suffix(b"\n") else {
            return Err(bad("record does not end with a newline"));
        };
        let equals = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("no '=' in a record"))?;
        let key = std::str::from_utf8(&record[..equals]).map_err(|_| bad("key is not UTF-8"))?;
        if key.is_empty() {
            return Err(bad("empty key"));
        }
        let value = record[equals + 1..].to_vec();
        if matches!(key, "path" | "linkpath" | "uname" | "gname") && value.contains(&0) {
            return Err(TarError::Invalid(format!(
                "PAX {key} record holds a NUL byte (hostile layer: runtimes refuse it)"
            )));
        }
        out.push((key.to_string(), value));
        rest = &rest[length..];
    }
    Ok(out)
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            remaining: 0,
            padding: 0,
            done: false,
        }
    }

    /// Reads the current entry's data (call until it returns 0).
    pub fn read_data(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Ok(0); // the caller sees the short entry and reports it truncated
        }
        self.remaining -= n as u64;
        Ok(n)
    }

    /// Skips what is left of the current entry's data and its padding. A stream that ends right
    /// after the data, without padding (umoci 0.4's whiteout layers), ends there.
    fn skip_rest(&mut self) -> Result<(), TarError> {
        let mut sink = [0u8; 8192];
        while self.remaining > 0 {
            let want = sink
                .len()
                .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
            let n = read_full(&mut self.inner, &mut sink[..want])?;
            if n == 0 {
                return Err(TarError::Invalid(
                    "the stream ends inside an entry's data (truncated layer)".into(),
                ));
            }
            self.remaining -= n as u64;
        }
        let padding = usize::try_from(self.padding).unwrap_or(0);
        let n = read_full(&mut self.inner, &mut sink[..padding])?;
        if n < padding {
            self.done = true;
        }
        self.padding = 0;
        Ok(())
    }

    fn data_of(&mut self, size: u64, what: &str) -> Result<Vec<u8>, TarError> {
        if size > MAX_META {
            return Err(TarError::Invalid(format!(
                "a {what} of {size} bytes (more than {MAX_META}; hostile layer)"
            )));
        }
        let mut data = vec![0u8; usize::try_from(size).unwrap_or(0)];
        if read_full(&mut self.inner, &mut data)? < data.len() {
            return Err(TarError::Invalid(format!(
                "the stream ends inside a {what} (truncated layer)"
            )));
        }
        self.remaining = 0;
        self.padding = (512 - size % 512) % 512;
        self.skip_rest()?;
        Ok(data)
    }

    /// The next entry's header, or None at the end of the archive. Any data of the previous entry
    /// that was not read is skipped.
    pub fn next_header(&mut self) -> Result<Option<Header>, TarError> {
        self.skip_rest()?;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        loop {
            if self.done {
                return Ok(None);
            }
            let mut block = [0u8; 512];
            let n = read_full(&mut self.inner, &mut block)?;
            if n == 0 {
                // No end-of-archive blocks: the stream simply ends (some writers do this).
                return Ok(None);
            }
            if n < 512 {
                return Err(TarError::Invalid(
                    "the stream ends inside a tar header (truncated layer)".into(),
                ));
            }
            if block.iter().all(|&b| b == 0) {
                // End of archive (the second zero block, if any, is read by the caller's drain).
                self.done = true;
                return Ok(None);
            }
            let stored = octal_or_binary(&block[148..156], "checksum")?;
            let unsigned: u64 = block
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        u64::from(b)
                    }
                })
                .sum();
            let signed: i64 = block
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        i64::from(b as i8)
                    }
                })
                .sum();
            if stored != unsigned && i64::try_from(stored).ok() != Some(signed) {
                return Err(TarError::Invalid(
                    "a tar header's checksum does not match (corrupt or not a tar)".into(),
                ));
            }
            let typeflag = block[156];
            let mut size = octal_or_binary(&block[124..136], "size")?;
            if matches!(typeflag, b'x' | b'g' | b'L' | b'K') {
                let what = match typeflag {
                    b'x' | b'g' => "PAX header",
                    _ => "GNU long name",
                };
                let data = self.data_of(size, what)?;
                match typeflag {
                    b'x' => pax.extend(pax_records(&data)?),
                    // Global headers: the runtimes ignore them (Docker and containerd skip them).
                    b'g' => {
                        pax_records(&data)?;
                    }
                    b'L' => long_name = Some(cstr(&data).to_vec()),
                    _ => long_link = Some(cstr(&data).to_vec()),
                }
                continue;
            }
            let mut kind = match typeflag {
                b'0' | 0 | b'7' => Kind::File,
                b'1' => Kind::Hardlink,
                b'2' => Kind::Symlink,
                b'3' => Kind::Char,
                b'4' => Kind::Block,
                b'5' => Kind::Dir,
                b'6' => Kind::Fifo,
                b'S' => {
                    return Err(TarError::Invalid(
                        "a GNU sparse file (typeflag S); pare does not read sparse layers".into(),
                    ))
                }
                other => {
                    return Err(TarError::Invalid(format!(
                        "an entry of unknown type {:?} (typeflag {other}); container runtimes refuse to unpack it",
                        other as char
                    )))
                }
            };
            let ustar = &block[257..263] == b"ustar\0";
            let mut name = cstr(&block[0..100]).to_vec();
            if ustar {
                let prefix = cstr(&block[345..500]);
                if !prefix.is_empty() {
                    let mut full = prefix.to_vec();
                    full.push(b'/');
                    full.extend_from_slice(&name);
                    name = full;
                }
            }
            let mut link = cstr(&block[157..257]).to_vec();
            if let Some(n) = long_name.take() {
                name = n;
            }
            if let Some(l) = long_link.take() {
                link = l;
            }
            let mut uid = octal_or_binary(&block[108..116], "uid")?;
            let mut gid = octal_or_binary(&block[116..124], "gid")?;
            let mode =
                u32::try_from(octal_or_binary(&block[100..108], "mode")? & 0o7777).unwrap_or(0);
            for (key, value) in pax.drain(..) {
                let number = |v: &[u8]| -> Result<u64, TarError> {
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|t| t.parse().ok())
                        .ok_or_else(|| TarError::Invalid(format!("PAX {key} is not a number")))
                };
                match key.as_str() {
                    "path" => name = value,
                    "linkpath" => link = value,
                    "size" => size = number(&value)?,
                    "uid" => uid = number(&value)?,
                    "gid" => gid = number(&value)?,
                    k if k.starts_with("GNU.sparse.") => {
                        return Err(TarError::Invalid(
                            "a PAX GNU sparse file; pare does not read sparse layers".into(),
                        ))
                    }
                    _ => {}
                }
            }
            // An old (V7) regular-file typeflag on a name that ends in `/` is a directory, as in
            // Go's reader and GNU tar.
            if typeflag == 0 && name.ends_with(b"/") {
                kind = Kind::Dir;
            }
            // Links, devices, fifos and directories are header-only, as in Go's reader: whatever
            // their size field says, no data follows them (the next block is a header).
            let data_size = if kind == Kind::File { size } else { 0 };
            self.remaining = data_size;
            self.padding = (512 - data_size % 512) % 512;
            return Ok(Some(Header {
                name,
                link,
                kind,
                mode,
                uid,
                gid,
                size: data_size,
            }));
        }
    }

    /// The stream after the archive (to be drained so a hash covers every byte).
    pub fn into_inner(self) -> R {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, typeflag: u8, size: u64) -> [u8; 512] {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::new(typeflag));
        h.set_cksum();
        let mut out = [0u8; 512];
        out.copy_from_slice(h.as_bytes());
        out
    }

    fn entry(out: &mut Vec<u8>, name: &str, typeflag: u8, data: &[u8]) {
        out.extend_from_slice(&header(name, typeflag, data.len() as u64));
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    fn record(key: &str, value: &[u8]) -> Vec<u8> {
        // "%d %s=%s\n" where the length counts itself.
        let body_len = key.len() + value.len() + 3;
        let mut len = body_len + 1;
        while len.to_string().len() + body_len != len {
            len = len.to_string().len() + body_len;
        }
        let mut r = format!("{len} {key}=").into_bytes();
        r.extend_from_slice(value);
        r.push(b'\n');
        r
    }

    fn names(bytes: &[u8]) -> Result<Vec<(Vec<u8>, u64)>, TarError> {
        let mut r = TarReader::new(bytes);
        let mut out = Vec::new();
        while let Some(h) = r.next_header()? {
            out.push((h.name, h.size));
        }
        Ok(out)
    }

    #[test]
    fn numbers_are_read_as_gos_reader_reads_them() {
        assert_eq!(octal_or_binary(b"0000644\0", "mode").unwrap(), 0o644);
        assert_eq!(octal_or_binary(b"  644 \0\0", "mode").unwrap(), 0o644);
        assert_eq!(octal_or_binary(b"\0\0\0\0\0\0\0\0", "uid").unwrap(), 0);
        // Binary junk behind a leading NUL is not a 0.
        assert!(octal_or_binary(b"\0\0\0\0\0\x2d\xc6\xc0", "uid").is_err());
        assert!(octal_or_binary(b"06 44\0", "mode").is_err());
        assert_eq!(
            octal_or_binary(&[0x80, 0, 0, 0, 0, 0x2d, 0xc6, 0xc0], "uid").unwrap(),
            3_000_000
        );
    }

    #[test]
    fn an_old_regular_typeflag_on_a_slash_name_is_a_directory() {
        // tar-rs writes typeflag 0 as `0` and drops a trailing slash from names: the headers are
        // patched by hand, and their checksums made again.
        let v7 = |name: &str, size: u64| {
            let mut h = header(name.trim_end_matches('/'), 0, size);
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[156] = 0;
            h[148..156].fill(b' ');
            let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
            h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            h
        };
        let mut tar = Vec::new();
        tar.extend_from_slice(&v7("v7-dir/", 0));
        tar.extend_from_slice(&v7("v7-file", 1));
        tar.extend_from_slice(&[b'x'; 512]);
        tar.extend_from_slice(&[0u8; 1024]);
        let mut r = TarReader::new(&tar[..]);
        let mut kinds = Vec::new();
        while let Some(h) = r.next_header().unwrap() {
            kinds.push(h.kind);
        }
        assert_eq!(kinds, [Kind::Dir, Kind::File]);
    }

    #[test]
    fn a_newline_in_a_pax_value_does_not_smuggle_a_path() {
        let mut pax = record("comment", b"x\n18 path=harmless\n");
        pax.extend(record("mtime", b"0"));
        let mut tar = Vec::new();
        entry(&mut tar, "PaxHeaders/sh", b'x', &pax);
        entry(&mut tar, "bin/sh", b'0', b"#!");
        tar.extend([0u8; 1024]);
        assert_eq!(names(&tar).unwrap(), [(b"bin/sh".to_vec(), 2)]);
    }

    #[test]
    fn pax_path_size_and_gnu_long_names_apply_to_the_next_entry() {
        let long = "d/".repeat(80) + "file";
        let mut tar = Vec::new();
        entry(
            &mut tar,
            "././@LongLink",
            b'L',
            format!("{long}\0").as_bytes(),
        );
        entry(&mut tar, "short", b'0', b"abc");
        let mut pax = record("path", "caf\u{e9}/\u{fffd}".as_bytes());
        pax.extend(record("size", b"5"));
        entry(&mut tar, "PaxHeaders/x", b'x', &pax);
        tar.extend_from_slice(&header("ignored", b'0', 0));
        tar.extend_from_slice(b"hello");
        tar.resize(tar.len().div_ceil(512) * 512, 0);
        entry(&mut tar, "global", b'g', &record("path", b"nowhere"));
        entry(&mut tar, "last", b'0', b"");
        let found = names(&tar).unwrap();
        assert_eq!(found[0], (long.into_bytes(), 3));
        assert_eq!(found[1], ("caf\u{e9}/\u{fffd}".as_bytes().to_vec(), 5));
        assert_eq!(found[2].0, b"last", "a global header changes no entry");
    }

    #[test]
    fn what_the_runtimes_refuse_is_refused() {
        let nul = {
            let mut tar = Vec::new();
            entry(
                &mut tar,
                "p",
                b'x',
                &record("path", b"etc/passwd\0/../../harmless"),
            );
            entry(&mut tar, "x", b'0', b"");
            tar
        };
        assert!(matches!(names(&nul), Err(TarError::Invalid(m)) if m.contains("NUL")));
        let unknown = {
            let mut tar = Vec::new();
            entry(&mut tar, "bin/su", b'Z', b"key");
            tar
        };
        assert!(matches!(names(&unknown), Err(TarError::Invalid(m)) if m.contains("unknown type")));
        let bad_record = {
            let mut tar = Vec::new();
            entry(&mut tar, "p", b'x', b"99 path=x\n");
            tar
        };
        assert!(names(&bad_record).is_err());
        let mut corrupt = Vec::new();
        entry(&mut corrupt, "a", b'0', b"x");
        corrupt[0] ^= 1;
        assert!(matches!(names(&corrupt), Err(TarError::Invalid(m)) if m.contains("checksum")));
        let mut cut = Vec::new();
        entry(&mut cut, "a", b'0', b"x");
        assert!(names(&cut[..300]).is_err(), "a header cut short");
    }

    #[test]
    fn base_256_sizes_and_unpadded_ends_are_read() {
        let mut h = header("big", b'0', 0);
        // 8 GiB in base-256 in the size field.
        h[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]);
        for b in &mut h[148..156] {
            *b = b' ';
        }
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        let mut r = TarReader::new(&h[..]);
        assert_eq!(r.next_header().unwrap().unwrap().size, 8 << 30);
        let mut tar = Vec::new();
        tar.extend_from_slice(&header("a", b'0', 3));
        tar.extend_from_slice(b"abc"); // no padding, no end blocks
        assert_eq!(names(&tar).unwrap(), [(b"a".to_vec(), 3)]);
    }
}
