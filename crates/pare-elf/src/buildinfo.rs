//! What a binary says about how it was built: Go's build info (the `.go.buildinfo` section that
//! `go version -m` prints: Go version, main module, dependencies, build settings such as CGO_ENABLED)
//! and cargo-auditable's dependency list (the zlib-compressed JSON in `.dep-v0`). Go's format is read
//! by hand: no maintained Rust crate reads it. For cargo-auditable, `auditable-extract` and
//! `auditable-info` read the section from bytes too, but with their own object-file parser: pare has
//! the ELF already parsed by goblin for everything else it asks of a binary, so it takes the section
//! from goblin, inflates it with a bounded zlib reader, and reads the four fields
//! it needs (name, version, source, root) with serde; the fixture test pins the format. Lengths and
//! sizes are bounded.

use std::io::Read;

use goblin::elf::Elf;
use serde::{Deserialize, Serialize};

use crate::Error;

/// Go build info.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GoBuildInfo {
    /// `go1.19.8`.
    pub go_version: String,
    /// The main package path (`path` line).
    pub path: Option<String>,
    /// The main module (`mod` line).
    pub main: Option<GoModule>,
    /// Dependencies (`dep` lines, with their `=>` replacements applied).
    pub deps: Vec<GoModule>,
    /// Build settings (`build` lines), in order.
    pub settings: Vec<(String, String)>,
}

impl GoBuildInfo {
    /// The value of a build setting (`CGO_ENABLED`, `GOOS`, ...).
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A Go module in build info.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GoModule {
    pub path: String,
    pub version: String,
    pub sum: Option<String>,
}

const GO_MAGIC: &[u8] = b"\xff Go buildinf:";
const MAX_STRING: u64 = 1 << 20;

fn section<'a>(bytes: &'a [u8], elf: &Elf<'_>, name: &str) -> Option<&'a [u8]> {
    let sh = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(name))?;
    let start = usize::try_from(sh.sh_offset).ok()?;
    let len = usize::try_from(sh.sh_size).ok()?;
    bytes.get(start..start.checked_add(len)?)
}

/// Reads Go build info (Go 1.18+ inline format). None when the binary is not a Go binary.
pub fn go_build_info(bytes: &[u8]) -> Result<Option<GoBuildInfo>, Error> {
    let elf = Elf::parse(bytes).map_err(|e| Error::Malformed(e.to_string()))?;
    let Some(data) = section(bytes, &elf, ".go.buildinfo") else {
        return Ok(None);
    };
    if !data.starts_with(GO_MAGIC) || data.len() < 32 {
        return Err(Error::Malformed(
            ".go.buildinfo does not start with the Go build info header".into(),
        ));
    }
    let flags = data[15];
    if flags & 2 == 0 {
        return Err(Error::Malformed(
            ".go.buildinfo uses the pre-Go 1.18 pointer format, which pare does not read".into(),
        ));
    }
    let mut rest = &data[32..];
    let version = String::from_utf8_lossy(read_varint_bytes(&mut rest)?).into_owned();
    let raw = read_varint_bytes(&mut rest)?;
    // The module text is framed by 16-byte binary sentinels; cut them off before decoding.
    let text = if raw.len() >= 33 && raw[raw.len() - 17] == b'\n' {
        &raw[16..raw.len() - 16]
    } else {
        raw
    };
    let modinfo = String::from_utf8_lossy(text);
    let mut info = GoBuildInfo {
        go_version: version,
        ..GoBuildInfo::default()
    };
    for line in modinfo.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let module = |f: &[&str]| GoModule {
            path: f.get(1).unwrap_or(&"").to_string(),
            version: f.get(2).unwrap_or(&"").to_string(),
            sum: f.get(3).map(|s| s.to_string()),
        };
        match fields.first().copied() {
            Some("path") => info.path = fields.get(1).map(|s| s.to_string()),
            Some("mod") => info.main = Some(module(&fields)),
            Some("dep") => info.deps.push(module(&fields)),
            Some("=>") => {
                if let Some(last) = info.deps.last_mut() {
                    *last = module(&fields);
                }
            }
            Some("build") => {
                if let Some((k, v)) = fields.get(1).and_then(|kv| kv.split_once('=')) {
                    info.settings.push((k.to_string(), v.to_string()));
                }
            }
            _ => {}
        }
    }
    Ok(Some(info))
}

fn read_varint_bytes<'a>(data: &mut &'a [u8]) -> Result<&'a [u8], Error> {
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        let (&byte, rest) = data
            .split_first()
            .ok_or_else(|| Error::Malformed("Go build info ends inside a length".into()))?;
        *data = rest;
        len |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(Error::Malformed(
                "Go build info has an overlong length".into(),
            ));
        }
    }
    if len > MAX_STRING {
        return Err(Error::Malformed(format!(
            "Go build info string of {len} bytes is too long"
        )));
    }
    let len = usize::try_from(len).map_err(|_| Error::Malformed("length does not fit".into()))?;
    let (text, rest) = (data.get(..len), data.get(len..));
    let (Some(text), Some(rest)) = (text, rest) else {
        return Err(Error::Malformed(
            "Go build info string runs past its section".into(),
        ));
    };
    *data = rest;
    Ok(text)
}

/// One package in cargo-auditable data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditablePackage {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub root: bool,
    #[serde(default)]
    pub dependencies: Vec<usize>,
}

#[derive(Deserialize)]
struct AuditableData {
    packages: Vec<AuditablePackage>,
}

/// Largest decompressed cargo-auditable JSON pare accepts.
const MAX_AUDITABLE: u64 = 8 << 20;

/// Reads cargo-auditable's `.dep-v0` data. None when the binary has none.
pub fn cargo_auditable(bytes: &[u8]) -> Result<Option<Vec<AuditablePackage>>, Error> {
    let elf = Elf::parse(bytes).map_err(|e| Error::Malformed(e.to_string()))?;
    let Some(data) = section(bytes, &elf, ".dep-v0") else {
        return Ok(None);
    };
    parse_auditable(data).map(Some)
}

/// Decompresses and parses `.dep-v0` contents (zlib-compressed JSON), bounded.
pub fn parse_auditable(compressed: &[u8]) -> Result<Vec<AuditablePackage>, Error> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_AUDITABLE + 1)
        .read_to_end(&mut json)
        .map_err(|e| Error::Malformed(format!(".dep-v0 is not zlib data: {e}")))?;
    if json.len() as u64 > MAX_AUDITABLE {
        return Err(Error::Malformed(format!(
            ".dep-v0 decompresses to more than {MAX_AUDITABLE} bytes"
        )));
    }
    let data: AuditableData = serde_json::from_slice(&json)
        .map_err(|e| Error::Malformed(format!(".dep-v0 JSON: {e}")))?;
    Ok(data.packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_strings_are_bounded() {
        let mut data: &[u8] = &[3, b'a', b'b', b'c', 1, b'x'];
        assert_eq!(read_varint_bytes(&mut data).unwrap(), b"abc");
        assert_eq!(read_varint_bytes(&mut data).unwrap(), b"x");
        assert!(read_varint_bytes(&mut data).is_err());
        let mut huge: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(read_varint_bytes(&mut huge).is_err());
        let mut short: &[u8] = &[10, b'a'];
        assert!(read_varint_bytes(&mut short).is_err());
    }

    #[test]
    fn auditable_data_round_trips_and_bombs_are_refused() {
        use std::io::Write;
        let json = br#"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true,"dependencies":[1]},{"name":"serde","version":"1.0.200","source":"crates.io","kind":"runtime"}]}"#;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(json).unwrap();
        let packages = parse_auditable(&z.finish().unwrap()).unwrap();
        assert_eq!(packages.len(), 2);
        assert!(packages[0].root);
        assert_eq!(packages[1].name, "serde");
        let mut bomb = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        bomb.write_all(&vec![b' '; (MAX_AUDITABLE + 10) as usize])
            .unwrap();
        assert!(parse_auditable(&bomb.finish().unwrap()).is_err());
        assert!(parse_auditable(b"not zlib").is_err());
    }

    #[test]
    fn a_rust_binary_has_no_go_build_info() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(go_build_info(&me).unwrap(), None);
    }
}
