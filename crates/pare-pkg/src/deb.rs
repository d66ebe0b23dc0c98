//! Reading `.deb` files without dpkg: the `ar` container, `control.tar.*` (the `control` paragraph
//! and `md5sums`) and `data.tar.{xz,zst,gz}` entries. Paths are normalized and checked (no `..`, no
//! absolute escapes), decompression is bounded, and maintainer scripts are never run or kept.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::{io_err, Error, Result};

/// Smallest cap on a .deb's decompressed data, whatever its size.
const MIN_DATA_LIMIT: u64 = 256 << 20;
/// Largest expansion ratio from .deb size to decompressed data accepted above the minimum cap.
const MAX_RATIO: u64 = 100;
/// Largest control member (Debian's largest are a few hundred KB of md5sums).
const MAX_CONTROL: u64 = 64 << 20;

/// What one data entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataKind {
    Directory,
    File(Arc<[u8]>),
    Symlink(String),
    /// A hard link to another path of the same package (normalized).
    Hardlink(String),
}

/// One entry of a package's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataEntry {
    /// Normalized: no leading `./` or `/`, no `..`; empty for the root.
    pub path: String,
    pub kind: DataKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A package read from its `.deb`.
#[derive(Clone, Debug)]
pub struct DebContents {
    /// The `control` paragraph as shipped.
    pub control: String,
    /// The `md5sums` file, when the package has one.
    pub md5sums: Option<String>,
    /// `conffiles`, one absolute path per line, when present.
    pub conffiles: Option<String>,
    pub entries: Vec<DataEntry>,
}

/// Reads a `.deb` file. `what` names it in errors.
pub fn read_deb(path: &Path, what: &str) -> Result<DebContents> {
    let file = std::fs::File::open(path)
        .map_err(io_err(format!("opening {what} ({})", path.display())))?;
    let deb_size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let limit = MIN_DATA_LIMIT.max(deb_size.saturating_mul(MAX_RATIO));
    let mut archive = ar::Archive::new(std::io::BufReader::new(file));
    let mut saw_version = false;
    let mut control = None;
    let mut data = None;
    let bad = |why: String| Error::Deb(format!("{what}: {why}"));
    while let Some(member) = archive.next_entry() {
        let mut member = member.map_err(|e| bad(format!("not a valid .deb (ar archive): {e}")))?;
        let name = String::from_utf8_lossy(member.header().identifier())
            .trim_end_matches('/')
            .to_string();
        if name == "debian-binary" {
            let mut text = String::new();
            member
                .by_ref()
                .take(64)
                .read_to_string(&mut text)
                .map_err(|e| bad(format!("reading debian-binary: {e}")))?;
            if !text.starts_with("2.") {
                return Err(bad(format!(
                    "unsupported .deb format version {:?}",
                    text.trim()
                )));
            }
            saw_version = true;
        } else if let Some(suffix) = name.strip_prefix("control.tar") {
            let reader = decompressor(suffix, &mut member).map_err(bad)?;
            control = Some(read_control(reader, what)?);
        } else if let Some(suffix) = name.strip_prefix("data.tar") {
            let reader = decompressor(suffix, &mut member).map_err(bad)?;
            data = Some(read_data(reader, limit, what)?);
        }
    }
    if !saw_version {
        return Err(bad("no debian-binary member; not a .deb".into()));
    }
    let (control, md5sums, conffiles) =
        control.ok_or_else(|| bad("no control.tar member".into()))?;
    let entries = data.ok_or_else(|| bad("no data.tar member".into()))?;
    Ok(DebContents {
        control,
        md5sums,
        conffiles,
        entries,
    })
}

fn decompressor<'a>(
    suffix: &str,
    reader: &'a mut dyn Read,
) -> std::result::Result<Box<dyn Read + 'a>, String> {
    Ok(match suffix {
        ".xz" => Box::new(liblzma::read::XzDecoder::new(reader)),
        ".zst" => {
            Box::new(zstd::stream::read::Decoder::new(reader).map_err(|e| format!("zstd: {e}"))?)
        }
        ".gz" => Box::new(flate2::read::GzDecoder::new(reader)),
        "" => Box::new(reader),
        other => {
            return Err(format!(
                "unsupported member compression tar{other} (pare reads xz, zst, gz)"
            ))
        }
    })
}

type ControlFiles = (String, Option<String>, Option<String>);

fn read_control(reader: impl Read, what: &str) -> Result<ControlFiles> {
    let mut archive = tar::Archive::new(reader.take(MAX_CONTROL));
    let mut control = None;
    let mut md5sums = None;
    let mut conffiles = None;
    let entries = archive
        .entries()
        .map_err(|e| Error::Deb(format!("{what}: reading control.tar: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| Error::Deb(format!("{what}: reading control.tar: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| Error::Deb(format!("{what}: control.tar path: {e}")))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let slot = match path.as_str() {
            "control" => &mut control,
            "md5sums" => &mut md5sums,
            "conffiles" => &mut conffiles,
            _ => continue, // maintainer scripts, triggers, shlibs, symbols: not used
        };
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| Error::Deb(format!("{what}: control.tar {path}: {e}")))?;
        *slot = Some(text);
    }
    let control =
        control.ok_or_else(|| Error::Deb(format!("{what}: control.tar has no control file")))?;
    Ok((control, md5sums, conffiles))
}

/// Normalizes a path from a package's data tar: strips `./` and `/`, refuses `..` and NUL.
pub fn normalize_data_path(raw: &str, what: &str) -> Result<String> {
    let trimmed = raw.trim_start_matches("./").trim_start_matches('/');
    let mut parts = Vec::new();
    for part in trimmed.split('/') {
        match part {
            "" | "." => continue,
            ".." => {
                return Err(Error::Deb(format!(
                    "{what}: entry {raw:?} climbs out of the root with '..'; refusing the package"
                )))
            }
            p if p.contains('\0') => {
                return Err(Error::Deb(format!("{what}: entry name with a NUL byte")))
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

fn read_data(reader: impl Read, limit: u64, what: &str) -> Result<Vec<DataEntry>> {
    let mut archive = tar::Archive::new(reader.take(limit.saturating_add(1 << 20)));
    let mut out = Vec::new();
    let mut total = 0u64;
    let entries = archive
        .entries()
        .map_err(|e| Error::Deb(format!("{what}: reading data.tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| {
            Error::Deb(format!(
                "{what}: reading data.tar (truncated or corrupt?): {e}"
            ))
        })?;
        let raw = entry
            .path()
            .map_err(|e| Error::Deb(format!("{what}: data.tar path: {e}")))?
            .to_string_lossy()
            .into_owned();
        let path = normalize_data_path(&raw, what)?;
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let uid = u32::try_from(header.uid().unwrap_or(0)).unwrap_or(0);
        let gid = u32::try_from(header.gid().unwrap_or(0)).unwrap_or(0);
        let link = || -> Result<String> {
            let target = entry
                .link_name()
                .map_err(|e| Error::Deb(format!("{what}: link {raw:?}: {e}")))?
                .ok_or_else(|| Error::Deb(format!("{what}: link {raw:?} without a target")))?;
            Ok(target.to_string_lossy().into_owned())
        };
        let kind = match header.entry_type() {
            tar::EntryType::Directory => DataKind::Directory,
            tar::EntryType::Symlink => DataKind::Symlink(link()?),
            tar::EntryType::Link => DataKind::Hardlink(normalize_data_path(&link()?, what)?),
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = header.size().unwrap_or(0);
                total = total.saturating_add(size);
                if total > limit {
                    return Err(Error::Deb(format!(
                        "{what}: data expands past {limit} bytes; refusing (decompression bomb?)"
                    )));
                }
                let mut bytes = Vec::with_capacity(usize::try_from(size.min(1 << 30)).unwrap_or(0));
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::Deb(format!("{what}: reading {raw:?} (truncated?): {e}")))?;
                if bytes.len() as u64 != size {
                    return Err(Error::Deb(format!("{what}: {raw:?} is shorter than its header says")));
                }
                DataKind::File(bytes.into())
            }
            other => {
                return Err(Error::Deb(format!(
                    "{what}: entry {raw:?} has type {other:?}; packages for images carry files, directories and links only"
                )))
            }
        };
        out.push(DataEntry {
            path,
            kind,
            mode,
            uid,
            gid,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses_escapes() {
        assert_eq!(
            normalize_data_path("./usr/bin/x", "t").unwrap(),
            "usr/bin/x"
        );
        assert_eq!(normalize_data_path("./", "t").unwrap(), "");
        assert_eq!(
            normalize_data_path("/etc//passwd", "t").unwrap(),
            "etc/passwd"
        );
        assert!(normalize_data_path("./usr/../../etc/shadow", "t").is_err());
    }

    /// A tar with one entry whose name is written raw (the tar crate refuses `..` in set_path).
    fn raw_tar(name: &str, kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        {
            let gnu = header.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder.append(&header, data).unwrap();
        builder.into_inner().unwrap()
    }

    fn deb_with_data(data_tar: Vec<u8>) -> tempfile::NamedTempFile {
        let control = {
            let mut b = tar::Builder::new(Vec::new());
            let text = b"Package: evil\nVersion: 1\nArchitecture: all\n";
            let mut h = tar::Header::new_gnu();
            h.set_path("./control").unwrap();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, &text[..]).unwrap();
            b.into_inner().unwrap()
        };
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut ar = ar::Builder::new(file.reopen().unwrap());
        for (name, bytes) in [
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar", control),
            ("data.tar", data_tar),
        ] {
            let header = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
            ar.append(&header, &bytes[..]).unwrap();
        }
        file
    }

    #[test]
    fn hostile_packages_are_refused() {
        let deb = deb_with_data(raw_tar(
            "./usr/../../etc/passwd",
            tar::EntryType::Regular,
            b"x",
        ));
        let err = read_deb(deb.path(), "evil.deb").unwrap_err().to_string();
        assert!(err.contains("evil.deb") && err.contains(".."), "{err}");
        let deb = deb_with_data(raw_tar("./dev/sda", tar::EntryType::Block, b""));
        let err = read_deb(deb.path(), "evil.deb").unwrap_err().to_string();
        assert!(err.contains("files, directories and links only"), "{err}");
        let good = deb_with_data(raw_tar("./usr/share/x", tar::EntryType::Regular, b"hello"));
        let contents = read_deb(good.path(), "good.deb").unwrap();
        assert_eq!(contents.entries[0].path, "usr/share/x");
        assert!(contents.control.starts_with("Package: evil"));
    }

    #[test]
    fn data_past_the_limit_is_refused() {
        let tar = raw_tar("./big", tar::EntryType::Regular, &vec![0u8; 4096]);
        let err = read_data(&tar[..], 1024, "bomb.deb")
            .unwrap_err()
            .to_string();
        assert!(err.contains("decompression bomb"), "{err}");
        // A truncated data.tar is an error, not a short file.
        let err = read_data(&tar[..700], 1 << 20, "short.deb")
            .unwrap_err()
            .to_string();
        assert!(err.contains("short.deb"), "{err}");
    }

    #[test]
    fn rejects_non_debs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.deb");
        std::fs::write(&path, b"not an ar archive at all").unwrap();
        let err = read_deb(&path, "x.deb").unwrap_err().to_string();
        assert!(err.contains("x.deb"), "{err}");
    }
}
