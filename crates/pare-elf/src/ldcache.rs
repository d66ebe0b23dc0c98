//! Reading glibc's `/etc/ld.so.cache` (the `glibc-ld.so.cache1.1` format that `ldconfig` writes since
//! glibc 2.32): the soname-to-path table the dynamic loader consults before its default directories.
//! Written by hand because no crate reads it; the format is a fixed header, 24-byte entries and a
//! string table. The old `ld.so-1.7.0` format is refused, not guessed at. Not a writer.

use crate::Error;

const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const HEADER: usize = 48;
const ENTRY: usize = 24;
/// `FLAG_ELF_LIBC6`: an ELF library for glibc.
const FLAG_LIBC6: u32 = 0x0003;
/// Architecture bits of an entry's flags (`FLAG_X8664_LIB64`, `FLAG_AARCH64_LIB64`, ...).
const ARCH_MASK: u32 = 0xff00;

/// One library the cache lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    pub soname: String,
    pub path: String,
    /// The architecture bits (`0x0300` x86-64, `0x0a00` AArch64), 0 for the default class.
    pub arch: u32,
}

impl CacheEntry {
    /// Whether the entry is for an object of this ELF machine (x86-64 or AArch64; others match the
    /// default class only).
    pub fn fits_machine(&self, machine: u16) -> bool {
        match machine {
            62 => self.arch == 0x0300,
            183 => self.arch == 0x0a00,
            _ => self.arch == 0,
        }
    }
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
