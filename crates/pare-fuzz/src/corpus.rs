//! Tricky layer tars, written byte by byte (not through a tar library, so nothing is normalized on
//! the way): PAX records of every kind pare reads, GNU long names and links, old GNU sparse files,
//! base-256 numbers, ustar prefixes, V7 headers, odd typeflags, names that are not UTF-8, links
//! that escape, duplicate paths, devices, whiteouts across layers, and headers that lie. The
//! differential test (`tests/it/tar_differential.rs`) unpacks each with umoci (Go's archive/tar)
//! and compares its tree with pare's merged view; the fuzz targets start from them. Each case is a
//! list of layers, bottom first.

/// One image's layers and a name for it.
pub struct Case {
    pub name: &'static str,
    pub layers: Vec<Vec<u8>>,
}

/// The fields of one header; the rest of the 512 bytes are zero.
#[derive(Clone)]
pub struct Header<'a> {
    pub name: &'a [u8],
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub link: &'a [u8],
    pub prefix: &'a [u8],
    /// Write size, uid and gid in base-256 (GNU) instead of octal.
    pub base256: bool,
    /// GNU magic (`ustar  \0`) instead of POSIX ustar.
    pub gnu: bool,
    pub devmajor: u32,
    pub devminor: u32,
}

impl<'a> Header<'a> {
    pub fn new(name: &'a [u8], typeflag: u8, mode: u32) -> Self {
        Self {
            name,
            typeflag,
            mode,
            uid: 0,
            gid: 0,
            size: 0,
            link: b"",
            prefix: b"",
            base256: false,
            gnu: false,
            devmajor: 0,
            devminor: 0,
        }
    }

    /// The 512 header bytes with a correct checksum.
    pub fn bytes(&self) -> [u8; 512] {
        let mut h = [0u8; 512];
        put(&mut h[0..100], self.name);
        octal(&mut h[100..108], u64::from(self.mode));
        self.number(&mut h[108..116], self.uid);
        self.number(&mut h[116..124], self.gid);
        self.number(&mut h[124..136], self.size);
        octal(&mut h[136..148], 1_700_000_000);
        h[156] = self.typeflag;
        put(&mut h[157..257], self.link);
        if self.gnu {
            h[257..265].copy_from_slice(b"ustar  \0");
        } else {
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
        }
        put(&mut h[265..297], b"root");
        put(&mut h[297..329], b"root");
        octal(&mut h[329..337], u64::from(self.devmajor));
        octal(&mut h[337..345], u64::from(self.devminor));
        put(&mut h[345..500], self.prefix);
        checksum(&mut h);
        h
    }

    fn number(&self, field: &mut [u8], value: u64) {
        if self.base256 {
            field.fill(0);
            field[0] = 0x80;
            // Big-endian in the bytes after the marker (7 of an 8-byte field, 11 of a 12-byte one).
            let bytes = value.to_be_bytes();
            let n = field.len();
            let take = (n - 1).min(8);
            field[n - take..].copy_from_slice(&bytes[8 - take..]);
        } else {
            octal(field, value);
        }
    }
}

fn put(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// A NUL-terminated, zero-padded octal number filling the field.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    let text = text.as_bytes();
    let start = text.len().saturating_sub(width);
    field[..width].copy_from_slice(&text[start..]);
    field[width] = 0;
}

fn checksum(h: &mut [u8; 512]) {
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
}

/// A tar being written.
#[derive(Default)]
pub struct Tar(pub Vec<u8>);

impl Tar {
    /// A header and its data, padded to the block.
    pub fn raw(&mut self, header: &Header<'_>, data: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&header.bytes());
        self.0.extend_from_slice(data);
        self.pad();
        self
    }

    fn pad(&mut self) {
        let n = self.0.len().div_ceil(512) * 512;
        self.0.resize(n, 0);
    }

    pub fn dir(&mut self, name: &[u8], mode: u32) -> &mut Self {
        self.raw(&Header::new(name, b'5', mode), b"")
    }

    pub fn file(&mut self, name: &[u8], mode: u32, data: &[u8]) -> &mut Self {
        let mut h = Header::new(name, b'0', mode);
        h.size = data.len() as u64;
        self.raw(&h, data)
    }

    pub fn symlink(&mut self, name: &[u8], target: &[u8]) -> &mut Self {
        let mut h = Header::new(name, b'2', 0o777);
        h.link = target;
        self.raw(&h, b"")
    }

    pub fn hardlink(&mut self, name: &[u8], target: &[u8]) -> &mut Self {
        let mut h = Header::new(name, b'1', 0o644);
        h.link = target;
        self.raw(&h, b"")
    }

    /// A PAX extended header (`x`, or `g` for global) holding `records` (key, value).
    pub fn pax(&mut self, typeflag: u8, records: &[(&str, &[u8])]) -> &mut Self {
        let body: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        self.pax_raw(typeflag, &body)
    }

    /// A PAX header with exactly `body` as its data.
    pub fn pax_raw(&mut self, typeflag: u8, body: &[u8]) -> &mut Self {
        let mut h = Header::new(b"././@PaxHeader", typeflag, 0o644);
        h.size = body.len() as u64;
        self.raw(&h, body)
    }

    /// A GNU long name (`L`) or long link (`K`) entry.
    pub fn gnu_long(&mut self, typeflag: u8, value: &[u8]) -> &mut Self {
        let mut data = value.to_vec();
        data.push(0);
        let mut h = Header::new(b"././@LongLink", typeflag, 0o644);
        h.size = data.len() as u64;
        h.gnu = true;
        self.raw(&h, &data)
    }

    /// The two zero blocks that end an archive.
    pub fn end(&mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        std::mem::take(&mut self.0)
    }
}

/// A PAX record `"%d key=value\n"` whose length counts itself.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len.to_string().len() + body != len {
        len = len.to_string().len() + body;
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// An old-GNU sparse file (`S`): `regions` (offset, length) of data in a file of `real_size`
/// bytes, the map in the header, the data regions stored one after another.
fn old_gnu_sparse(tar: &mut Tar, name: &[u8], real_size: u64, regions: &[(u64, u64)]) {
    let stored: u64 = regions.iter().map(|(_, n)| n).sum();
    let mut h = Header::new(name, b'S', 0o644);
    h.size = stored;
    h.gnu = true;
    let mut bytes = h.bytes();
    for (i, (offset, length)) in regions.iter().take(4).enumerate() {
        let at = 386 + i * 24;
        octal(&mut bytes[at..at + 12], *offset);
        octal(&mut bytes[at + 12..at + 24], *length);
    }
    bytes[482] = 0; // no extension blocks
    octal(&mut bytes[483..495], real_size);
    checksum(&mut bytes);
    tar.0.extend_from_slice(&bytes);
    for (i, (_, length)) in regions.iter().enumerate() {
        tar.0
            .extend(std::iter::repeat_n(b'a' + i as u8, *length as usize));
    }
    tar.pad();
}

/// Every case.
pub fn tricky_tars() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut one = |name: &'static str, build: &dyn Fn(&mut Tar)| {
        let mut tar = Tar::default();
        build(&mut tar);
        cases.push(Case {
            name,
            layers: vec![tar.end()],
        });
    };
    one("plain", &|t| {
        t.dir(b"app/", 0o755)
            .file(b"app/hello", 0o644, b"hello\n")
            .file(b"app/run", 0o755, b"#!/bin/sh\n")
            .symlink(b"app/link", b"hello")
            .hardlink(b"app/hard", b"app/hello");
    });
    one("ustar_prefix", &|t| {
        let prefix = [b'p'; 120];
        let mut h = Header::new(b"file-in-a-long-directory", b'0', 0o644);
        h.prefix = &prefix;
        h.size = 3;
        t.raw(&h, b"abc");
    });
    one("gnu_long_name_and_link", &|t| {
        let long = format!("{}/{}", "d".repeat(90), "f".repeat(90));
        t.gnu_long(b'L', long.as_bytes())
            .raw(
                &{
                    let mut h = Header::new(&long.as_bytes()[..100], b'0', 0o644);
                    h.size = 4;
                    h.gnu = true;
                    h
                },
                b"long",
            )
            .gnu_long(b'K', long.as_bytes())
            .gnu_long(b'L', b"long-link")
            .raw(
                &{
                    let mut h = Header::new(b"long-lin", b'2', 0o777);
                    h.link = b"truncated";
                    h.gnu = true;
                    h
                },
                b"",
            );
    });
    one("pax_path_and_linkpath", &|t| {
        let long = format!("{}/{}", "x".repeat(150), "y".repeat(60));
        t.pax(b'x', &[("path", long.as_bytes())])
            .file(b"short-name", 0o640, b"pax")
            .pax(
                b'x',
                &[("path", b"pax-link"), ("linkpath", long.as_bytes())],
            )
            .symlink(b"ignored", b"ignored-target");
    });
    one("pax_value_with_newline", &|t| {
        t.pax(b'x', &[("comment", b"nothing\n19 path=harmless\n")])
            .file(b"bin/sh", 0o755, b"shell");
    });
    one("pax_size_over_zero_header", &|t| {
        t.pax(b'x', &[("size", b"6")]);
        let h = Header::new(b"big", b'0', 0o644);
        t.raw(&h, b"sixsix");
    });
    one("base256_size_uid_gid", &|t| {
        let mut h = Header::new(b"b256", b'0', 0o600);
        h.size = 5;
        h.uid = 3_000_000;
        h.gid = 4_000_000;
        h.base256 = true;
        h.gnu = true;
        t.raw(&h, b"bytes");
    });
    one("number_field_of_junk", &|t| {
        let mut h = Header::new(b"junk-uid", b'0', 0o644);
        h.size = 4;
        let mut bytes = h.bytes();
        bytes[108..116].copy_from_slice(b"\0\0\0\0\0\x2d\xc6\xc0");
        checksum(&mut bytes);
        t.0.extend_from_slice(&bytes);
        t.0.extend_from_slice(b"junk");
        t.pad();
    });
    one("pax_uid_gid_mtime", &|t| {
        t.pax(
            b'x',
            &[
                ("uid", b"5000000"),
                ("gid", b"6000000"),
                ("uname", b"someone"),
                ("mtime", b"1700000000.123456789"),
            ],
        )
        .file(b"owned", 0o644, b"owned");
    });
    one("not_utf8_names", &|t| {
        t.dir(b"bin/", 0o755)
            .file(b"bin/su\xff", 0o4755, b"setuid")
            .file(b"bin/su\xfe", 0o755, b"plain");
    });
    one("pax_binary_charset", &|t| {
        t.pax(b'x', &[("hdrcharset", b"BINARY"), ("path", b"caf\xe9")])
            .file(b"placeholder", 0o644, b"latin-1");
    });
    one("typeflag_contiguous", &|t| {
        let mut h = Header::new(b"contiguous", b'7', 0o644);
        h.size = 4;
        t.raw(&h, b"cont");
    });
    one("typeflag_v7", &|t| {
        let mut h = Header::new(b"v7-regular", 0, 0o644);
        h.size = 2;
        t.raw(&h, b"v7");
        t.raw(&Header::new(b"v7-dir/", 0, 0o755), b"");
    });
    one("typeflag_unknown", &|t| {
        let mut h = Header::new(b"mystery", b'Z', 0o4755);
        h.size = 6;
        t.raw(&h, b"secret");
    });
    one("pax_global_header", &|t| {
        t.pax(b'g', &[("comment", b"global"), ("mtime", b"1")])
            .file(b"after-global", 0o644, b"g");
    });
    one("old_gnu_sparse", &|t| {
        old_gnu_sparse(t, b"sparse", 4096, &[(0, 512), (2048, 512)]);
    });
    one("names_spelled_oddly", &|t| {
        t.file(b"./dot-slash", 0o644, b"1")
            .file(b"double//slash", 0o644, b"2")
            .file(b"/absolute", 0o644, b"3")
            .dir(b"dir-no-slash", 0o700);
    });
    one("duplicate_paths", &|t| {
        t.file(b"dup", 0o644, b"one")
            .file(b"dup", 0o600, b"second")
            .dir(b"was-dir/", 0o755)
            .file(b"was-dir", 0o644, b"now a file");
    });
    one("links_absolute_and_dangling", &|t| {
        t.dir(b"etc/", 0o755)
            .file(b"etc/passwd", 0o644, b"root:x:0:0::/:/bin/sh\n")
            .symlink(b"etc/alt", b"/etc/passwd")
            .symlink(b"dangling", b"nowhere/at/all")
            .symlink(b"up", b"../../../..")
            .hardlink(b"hard-abs", b"/etc/passwd");
    });
    one("hardlink_escapes", &|t| {
        t.file(b"target", 0o644, b"t")
            .hardlink(b"escape", b"../../etc/passwd");
    });
    one("hardlink_before_target", &|t| {
        t.hardlink(b"early", b"later").file(b"later", 0o644, b"l");
    });
    one("hardlink_to_directory", &|t| {
        t.dir(b"d/", 0o755).hardlink(b"linked-dir", b"d");
    });
    one("hardlink_through_symlink_dir", &|t| {
        t.dir(b"real/", 0o755)
            .file(b"real/f", 0o644, b"f")
            .symlink(b"alias", b"real")
            .hardlink(b"hl", b"alias/f");
    });
    one("dotdot_in_name", &|t| {
        t.file(b"a/../../evil", 0o644, b"evil");
    });
    one("nul_in_pax_path", &|t| {
        t.pax(b'x', &[("path", b"etc/passwd\0/../../harmless")])
            .file(b"x", 0o644, b"nul");
    });
    one("devices_and_fifo", &|t| {
        t.dir(b"dev/", 0o755);
        let mut h = Header::new(b"dev/null", b'3', 0o666);
        h.devmajor = 1;
        h.devminor = 3;
        t.raw(&h, b"");
        let mut h = Header::new(b"dev/loop9", b'4', 0o660);
        h.devmajor = 7;
        h.devminor = 9;
        t.raw(&h, b"");
        t.raw(&Header::new(b"fifo", b'6', 0o644), b"");
    });
    one("special_modes", &|t| {
        t.dir(b"shared/", 0o2775)
            .dir(b"tmp/", 0o1777)
            .file(b"no-perms", 0, b"0")
            .file(b"setgid", 0o2755, b"g");
    });
    one("write_through_symlink_dir", &|t| {
        t.dir(b"usr/", 0o755)
            .dir(b"usr/lib/", 0o755)
            .symlink(b"lib", b"usr/lib")
            .file(b"lib/through", 0o644, b"via link")
            .symlink(b"abs", b"/usr")
            .file(b"abs/lib/absolute", 0o644, b"abs")
            .symlink(b"missing", b"not/yet")
            .file(b"missing/made", 0o644, b"made");
    });
    let mut unended = Tar::default();
    unended.file(b"only", 0o644, b"no zero blocks");
    cases.push(Case {
        name: "no_end_of_archive",
        layers: vec![unended.0],
    });
    let mut bad = Tar::default();
    bad.file(b"checksum", 0o644, b"bad");
    let mut bytes = bad.end();
    bytes[148] = b'7';
    cases.push(Case {
        name: "bad_checksum",
        layers: vec![bytes],
    });
    let mut lie = Tar::default();
    lie.pax_raw(b'x', b"99 path=short\n");
    lie.file(b"y", 0o644, b"y");
    cases.push(Case {
        name: "pax_record_length_lies",
        layers: vec![lie.end()],
    });

    // Whiteouts work across layers.
    let mut lower = Tar::default();
    lower
        .dir(b"a/", 0o755)
        .file(b"a/gone", 0o644, b"g")
        .file(b"a/stays", 0o644, b"s")
        .dir(b"o/", 0o755)
        .file(b"o/hidden", 0o644, b"h")
        .dir(b"o/sub/", 0o755)
        .file(b"o/sub/deep", 0o644, b"d")
        .file(b"replaced", 0o644, b"old");
    let mut upper = Tar::default();
    upper
        .file(b"a/.wh.gone", 0o644, b"")
        .file(b"o/.wh..wh..opq", 0o644, b"")
        .file(b"o/new", 0o644, b"n")
        .file(b".wh.replaced", 0o644, b"")
        .dir(b"replaced/", 0o750)
        .file(b"replaced/inside", 0o644, b"i");
    cases.push(Case {
        name: "whiteouts_across_layers",
        layers: vec![lower.end(), upper.end()],
    });
    let mut lower = Tar::default();
    lower
        .dir(b"usr/", 0o755)
        .dir(b"usr/lib/", 0o755)
        .file(b"usr/lib/old", 0o644, b"o")
        .symlink(b"lib", b"usr/lib");
    let mut upper = Tar::default();
    upper.file(b"lib/.wh.old", 0o644, b"");
    cases.push(Case {
        name: "whiteout_through_symlink_dir",
        layers: vec![lower.end(), upper.end()],
    });
    cases
}
