//! Reading and writing glibc's `/etc/ld.so.cache` (the `glibc-ld.so.cache1.1` format that `ldconfig`
//! writes since glibc 2.32): the soname-to-path table the dynamic loader consults before its default
//! directories. Written by hand because no crate reads or writes it; the format is a fixed header,
//! 24-byte entries sorted the way the loader binary-searches them, and a string table. The old
//! `ld.so-1.7.0` format is refused, not guessed at. Which libraries go in is the caller's business
//! (`pare::ldconfig` scans an image tree as ldconfig would); glibc-hwcaps subdirectories and the
//! cache's extension section are not written.

use std::cmp::Ordering;

use crate::Error;

const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const HEADER: usize = 48;
const ENTRY: usize = 24;
/// `FLAG_ELF_LIBC6`: an ELF library for glibc.
const FLAG_LIBC6: u32 = 0x0003;
/// Architecture bits of an entry's flags (`FLAG_X8664_LIB64`, `FLAG_AARCH64_LIB64`, ...).
const ARCH_MASK: u32 = 0xff00;

/// Where the loader reads its cache, in any root.
pub const LD_SO_CACHE: &str = "/etc/ld.so.cache";

/// One library the cache lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    pub soname: String,
    pub path: String,
    /// The architecture bits (`0x0300` x86-64, `0x0a00` AArch64), 0 for the default class.
    pub arch: u32,
}

impl CacheEntry {
    /// Whether the entry is for an object of this ELF machine (by the architecture table's cache
    /// flags; machines without known flags match the default class only).
    pub fn fits_machine(&self, machine: u16) -> bool {
        let want = crate::arch::ARCHITECTURES
            .iter()
            .find(|a| a.elf_machine == machine)
            .and_then(|a| a.ld_cache_flags)
            .unwrap_or(0);
        self.arch == want
    }
}

/// Orders two library names as glibc's loader does when it binary-searches the cache: runs of digits
/// compare as numbers (`libfoo.so.10` after `libfoo.so.9`), a digit sorts after any other byte, the
/// rest byte by byte. Names are expected to be ASCII (the writer leaves out any that is not, because
/// glibc compares other bytes as `char`, whose sign differs between architectures).
pub fn compare_names(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        match (a.get(i), b.get(j)) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let number = |bytes: &[u8], at: &mut usize| {
                    let mut value: u64 = 0;
                    while let Some(d) = bytes.get(*at).filter(|d| d.is_ascii_digit()) {
                        value = value.saturating_mul(10).saturating_add(u64::from(d - b'0'));
                        *at += 1;
                    }
                    value
                };
                let (m, n) = (number(a, &mut i), number(b, &mut j));
                if m != n {
                    return m.cmp(&n);
                }
            }
            (Some(x), Some(_)) if x.is_ascii_digit() => return Ordering::Greater,
            (Some(_), Some(y)) if y.is_ascii_digit() => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {
                i += 1;
                j += 1;
            }
        }
    }
}

/// Writes a little-endian cache (x86-64, AArch64, i386) listing `entries`: sorted newest name first
/// as ldconfig sorts them, each with the glibc-libc6 flag and its architecture bits, no OS version
/// and no hwcap. Entries whose soname or path is not ASCII or holds a NUL are left out.
pub fn write_ld_so_cache(entries: &[CacheEntry]) -> Vec<u8> {
    let mut sorted: Vec<&CacheEntry> = entries
        .iter()
        .filter(|e| {
            [&e.soname, &e.path]
                .iter()
                .all(|s| !s.is_empty() && s.is_ascii() && !s.contains('\0'))
        })
        .collect();
    // Descending, as the loader's binary search expects; a stable sort keeps the caller's order
    // (directory order) among equal names.
    sorted.sort_by(|a, b| compare_names(&b.soname, &a.soname).then(b.arch.cmp(&a.arch)));
    let count = sorted.len();
    let strings_start = HEADER + count * ENTRY;
    let mut table = Vec::with_capacity(count * ENTRY);
    let mut strings: Vec<u8> = Vec::new();
    let offset =
        |strings: &Vec<u8>| u32::try_from(strings_start + strings.len()).unwrap_or(u32::MAX);
    for entry in &sorted {
        let value = offset(&strings);
        strings.extend_from_slice(entry.path.as_bytes());
        strings.push(0);
        // The key shares the path's tail when the path ends in `/soname`, as ldconfig's table does.
        let key = match entry.path.strip_suffix(entry.soname.as_str()) {
            Some(dir) if dir.ends_with('/') => value + dir.len() as u32,
            _ => {
                let key = offset(&strings);
                strings.extend_from_slice(entry.soname.as_bytes());
                strings.push(0);
                key
            }
        };
        table.extend_from_slice(&(FLAG_LIBC6 | entry.arch).to_le_bytes());
        table.extend_from_slice(&key.to_le_bytes());
        table.extend_from_slice(&value.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes()); // osversion
        table.extend_from_slice(&0u64.to_le_bytes()); // hwcap
    }
    let mut out = Vec::with_capacity(strings_start + strings.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(count as u32).to_le_bytes());
    out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    // Flags: 2 says little-endian; then 3 bytes of padding, the extension offset (0: none) and three
    // unused words.
    out.extend_from_slice(&[2, 0, 0, 0]);
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&table);
    out.extend_from_slice(&strings);
    out
}

/// Parses an ld.so.cache file's bytes.
pub fn parse_ld_so_cache(bytes: &[u8]) -> Result<Vec<CacheEntry>, Error> {
    let bad = |why: &str| Error::Malformed(format!("ld.so.cache: {why}"));
    if bytes.starts_with(b"ld.so-1.7.0") {
        return Err(bad(
            "the old ld.so-1.7.0 format is not supported (run a newer ldconfig)",
        ));
    }
    if !bytes.starts_with(MAGIC) || bytes.len() < HEADER {
        return Err(bad("not a glibc-ld.so.cache1.1 file"));
    }
    let u32_at = |offset: usize| -> Result<u32, Error> {
        bytes
            .get(offset..offset + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| bad("truncated"))
    };
    let count = u32_at(20)? as usize;
    let table_end = count
        .checked_mul(ENTRY)
        .and_then(|n| n.checked_add(HEADER))
        .filter(|end| *end <= bytes.len())
        .ok_or_else(|| bad("more entries than the file holds"))?;
    let string_at = |offset: u32| -> Result<String, Error> {
        let start = offset as usize;
        let tail = bytes
            .get(start..)
            .ok_or_else(|| bad("a string offset past the end"))?;
        let len = tail
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| bad("an unterminated string"))?;
        String::from_utf8(tail[..len].to_vec()).map_err(|_| bad("a name that is not UTF-8"))
    };
    let mut out = Vec::with_capacity(count);
    for entry in (HEADER..table_end).step_by(ENTRY) {
        let flags = u32_at(entry)?;
        if flags & 0xff != FLAG_LIBC6 {
            continue;
        }
        out.push(CacheEntry {
            soname: string_at(u32_at(entry + 4)?)?,
            path: string_at(u32_at(entry + 8)?)?,
            arch: flags & ARCH_MASK,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's cache, read by pare and by `ldconfig -p`: the same (soname, path) pairs.
    #[test]
    fn agrees_with_ldconfig_on_the_host_cache() {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let Ok(bytes) = std::fs::read("/etc/ld.so.cache") else {
            assert!(!in_ci, "CI machines (Debian) have /etc/ld.so.cache");
            eprintln!("SKIP: no /etc/ld.so.cache");
            return;
        };
        let Ok(out) = std::process::Command::new("ldconfig").arg("-p").output() else {
            assert!(!in_ci, "CI machines (Debian) have ldconfig");
            eprintln!("SKIP: no ldconfig");
            return;
        };
        let ours: std::collections::BTreeSet<(String, String)> = parse_ld_so_cache(&bytes)
            .unwrap()
            .into_iter()
            .map(|e| (e.soname, e.path))
            .collect();
        let theirs: std::collections::BTreeSet<(String, String)> =
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .skip(1)
                .filter_map(|l| {
                    let (left, path) = l.trim().split_once(" => ")?;
                    let soname = left.split(" (").next()?;
                    Some((soname.to_string(), path.to_string()))
                })
                .collect();
        assert!(ours.len() > 10, "{}", ours.len());
        assert_eq!(ours, theirs);
    }

    #[test]
    fn names_compare_like_the_loader() {
        use Ordering::*;
        assert_eq!(compare_names("libfoo.so.10", "libfoo.so.9"), Greater);
        assert_eq!(compare_names("libz3.so", "libzstd.so.1"), Greater);
        assert_eq!(compare_names("libz.so.1", "libz.so"), Greater);
        assert_eq!(compare_names("libzstd.so.1", "libz.so.1"), Greater);
        assert_eq!(compare_names("libc.so.6", "libc.so.6"), Equal);
        assert_eq!(compare_names("lib01.so", "lib1.so"), Equal);
        assert_eq!(compare_names("libA.so", "liba.so"), Less);
    }

    #[test]
    fn written_caches_read_back_in_loader_order() {
        let entry = |soname: &str, dir: &str| CacheEntry {
            soname: soname.into(),
            path: format!("{dir}/{soname}"),
            arch: 0x0300,
        };
        let dir = "/lib/x86_64-linux-gnu";
        let mut odd = entry("libodd.so.1", dir);
        odd.path = "/opt/odd/real-name.so".into();
        let entries = vec![
            entry("libz.so.1", dir),
            entry("libc.so.6", dir),
            entry("libzstd.so.1", dir),
            entry("libfoo.so.10", dir),
            entry("libfoo.so.9", dir),
            odd,
            entry("libbad\u{e9}.so", dir),
        ];
        let bytes = write_ld_so_cache(&entries);
        let read = parse_ld_so_cache(&bytes).unwrap();
        let names: Vec<&str> = read.iter().map(|e| e.soname.as_str()).collect();
        assert_eq!(
            names,
            [
                "libzstd.so.1",
                "libz.so.1",
                "libodd.so.1",
                "libfoo.so.10",
                "libfoo.so.9",
                "libc.so.6"
            ]
        );
        assert_eq!(read[2].path, "/opt/odd/real-name.so");
        assert!(read.iter().all(|e| e.arch == 0x0300 && e.fits_machine(62)));
        assert_eq!(parse_ld_so_cache(&write_ld_so_cache(&[])).unwrap(), []);
    }

    /// glibc's own `ldconfig -p` reads what pare writes, in the same order.
    #[test]
    fn ldconfig_reads_written_caches() {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ld.so.cache");
        let entries: Vec<CacheEntry> = ["libz.so.1", "libc.so.6", "libfoo.so.10", "libfoo.so.9"]
            .iter()
            .map(|s| CacheEntry {
                soname: s.to_string(),
                path: format!("/usr/lib/x86_64-linux-gnu/{s}"),
                arch: 0x0300,
            })
            .collect();
        std::fs::write(&path, write_ld_so_cache(&entries)).unwrap();
        let out = match std::process::Command::new("ldconfig")
            .arg("-p")
            .arg("-C")
            .arg(&path)
            .output()
        {
            Ok(out) => out,
            Err(e) => {
                assert!(!in_ci, "CI machines (Debian) have ldconfig: {e}");
                eprintln!("SKIP: no ldconfig");
                return;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        let listed: Vec<&str> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(
            listed,
            ["libz.so.1", "libfoo.so.10", "libfoo.so.9", "libc.so.6"],
            "{text}"
        );
        assert!(
            text.contains("libc.so.6 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libc.so.6"),
            "{text}"
        );
    }

    proptest::proptest! {
        /// The order is total (the sort relies on it) and what is written reads back sorted by it,
        /// every entry present.
        #[test]
        fn written_caches_are_sorted_by_a_total_order(
            names in proptest::collection::vec("lib[a-c0-9.]{0,6}", 0..40),
            third in "lib[a-c0-9.]{0,6}",
        ) {
            for a in &names {
                for b in &names {
                    proptest::prop_assert_eq!(compare_names(a, b), compare_names(b, a).reverse());
                    if compare_names(a, b) != Ordering::Greater && compare_names(b, &third) != Ordering::Greater {
                        proptest::prop_assert_ne!(compare_names(a, &third), Ordering::Greater);
                    }
                }
            }
            let entries: Vec<CacheEntry> = names
                .iter()
                .map(|n| CacheEntry { soname: n.clone(), path: format!("/lib/{n}"), arch: 0x0300 })
                .collect();
            let read = parse_ld_so_cache(&write_ld_so_cache(&entries)).unwrap();
            proptest::prop_assert_eq!(read.len(), entries.len());
            for pair in read.windows(2) {
                proptest::prop_assert_ne!(compare_names(&pair[0].soname, &pair[1].soname), Ordering::Less);
            }
            for entry in &read {
                proptest::prop_assert_eq!(&entry.path, &format!("/lib/{}", entry.soname));
            }
        }
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse_ld_so_cache(b"ld.so-1.7.0\0\0\0\0").is_err());
        assert!(parse_ld_so_cache(b"nothing").is_err());
        let mut header = MAGIC.to_vec();
        header.resize(HEADER, 0);
        header[20] = 200; // 200 entries, none present
        assert!(parse_ld_so_cache(&header).is_err());
        let mut one = MAGIC.to_vec();
        one.resize(HEADER, 0);
        one[20] = 1;
        one.extend_from_slice(&[3, 3, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0]);
        one.extend_from_slice(&[0; 12]);
        assert!(
            parse_ld_so_cache(&one).is_err(),
            "string offset past the end"
        );
    }
}
