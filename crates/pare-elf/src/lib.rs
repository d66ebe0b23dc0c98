//! pare-elf: facts about ELF files: static or dynamic, program interpreter, DT_NEEDED, RPATH/RUNPATH,
//! the newest glibc symbol version a file needs, whether it is stripped, Go build info and
//! cargo-auditable dependency data; and the shared-library closure of a binary, resolved the way the
//! dynamic loader would against a root directory. Parsing is goblin's; this crate never panics on
//! hostile input (truncated files, wild offsets, huge counts give errors) and reads no file outside the
//! root it is given. Not a loader or a linker: nothing is executed.

pub mod arch;
pub mod buildinfo;
pub mod closure;
pub mod ldcache;
pub mod root;

use goblin::elf::program_header::PT_INTERP;
use goblin::elf::Elf;
use serde::Serialize;

/// The first four bytes of every ELF file.
pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// What went wrong reading an ELF file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes start like ELF but do not parse as one.
    #[error("malformed ELF file: {0}")]
    Malformed(String),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// How a binary is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Linkage {
    /// No interpreter and no needed libraries: runs on an empty root.
    Static,
    /// Position-independent static executable (no interpreter, no needed libraries, type DYN).
    StaticPie,
    /// Needs a dynamic loader and shared libraries.
    Dynamic,
}

/// The facts pare uses about one ELF file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ElfFacts {
    /// True for 64-bit ELF.
    pub is_64: bool,
    /// `e_machine` (62 = x86-64, 183 = aarch64, ...).
    pub machine: u16,
    pub linkage: Linkage,
    /// PT_INTERP, e.g. `/lib64/ld-linux-x86-64.so.2`.
    pub interpreter: Option<String>,
    /// DT_NEEDED entries in file order.
    pub needed: Vec<String>,
    /// True for shared objects and PIE executables (ET_DYN).
    pub is_shared_object: bool,
    /// DT_SONAME, for libraries.
    pub soname: Option<String>,
    /// DT_RPATH entries (colon lists split).
    pub rpath: Vec<String>,
    /// DT_RUNPATH entries (colon lists split).
    pub runpath: Vec<String>,
    /// The newest `GLIBC_x.y` version any needed symbol asks for.
    pub min_glibc: Option<String>,
    /// True when the file has no symbol table (`.symtab`).
    pub stripped: bool,
    /// The functions of [`PLUGIN_TRIGGERS`] the file imports (undefined dynamic symbols), sorted:
    /// what tells that glibc or the program will load a plugin at run time.
    pub triggers: Vec<String>,
}

/// Imported functions that make glibc or a library load code at run time that no DT_NEEDED names:
/// thread cancellation and `pthread_exit` (glibc loads `libgcc_s.so.1` to unwind), `iconv_open`
/// (glibc's gconv modules), OpenSSL's provider and engine loaders.
pub const PLUGIN_TRIGGERS: &[&str] = &[
    "ENGINE_by_id",
    "OSSL_PROVIDER_load",
    "OSSL_PROVIDER_try_load",
    "iconv_open",
    "pthread_cancel",
    "pthread_exit",
];

/// True when `bytes` start with the ELF magic.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(ELF_MAGIC)
}

fn split_paths(list: &[&str]) -> Vec<String> {
    list.iter()
        .flat_map(|l| l.split(':'))
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads the facts of an ELF file held in memory.
pub fn inspect(bytes: &[u8]) -> Result<ElfFacts, Error> {
    let elf = Elf::parse(bytes).map_err(|e| Error::Malformed(e.to_string()))?;
    let has_interp_header = elf.program_headers.iter().any(|ph| ph.p_type == PT_INTERP);
    let interpreter = elf.interpreter.map(str::to_string);
    let needed: Vec<String> = elf.libraries.iter().map(|s| s.to_string()).collect();
    let is_shared_object = elf.header.e_type == goblin::elf::header::ET_DYN;
    let linkage = if interpreter.is_some() || has_interp_header || !needed.is_empty() {
        Linkage::Dynamic
    } else if is_shared_object {
        Linkage::StaticPie
    } else {
        Linkage::Static
    };
    let mut min_glibc: Option<(Vec<u32>, String)> = None;
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            for aux in need.iter() {
                let Some(name) = elf.dynstrtab.get_at(aux.vna_name) else {
                    continue;
                };
                let Some(version) = name.strip_prefix("GLIBC_") else {
                    continue;
                };
                let parts: Vec<u32> = version.split('.').map_while(|p| p.parse().ok()).collect();
                if parts.is_empty() {
                    continue;
                }
                if min_glibc.as_ref().is_none_or(|(best, _)| parts > *best) {
                    min_glibc = Some((parts, version.to_string()));
                }
            }
        }
    }
    let stripped = !elf
        .section_headers
        .iter()
        .any(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".symtab"));
    let mut triggers: Vec<String> = elf
        .dynsyms
        .iter()
        .filter(|sym| sym.st_shndx == 0 && sym.st_name != 0)
        .filter_map(|sym| elf.dynstrtab.get_at(sym.st_name))
        .filter(|name| PLUGIN_TRIGGERS.contains(name))
        .map(str::to_string)
        .collect();
    triggers.sort();
    triggers.dedup();
    Ok(ElfFacts {
        is_64: elf.is_64,
        machine: elf.header.e_machine,
        linkage,
        interpreter,
        needed,
        is_shared_object,
        soname: elf.soname.map(str::to_string),
        rpath: split_paths(&elf.rpaths),
        runpath: split_paths(&elf.runpaths),
        min_glibc: min_glibc.map(|(_, v)| v),
        stripped,
        triggers,
    })
}

/// How many leading bytes of a file [`inspect_static_prefix`] wants to see.
pub const PREFIX_LEN: usize = 64 * 1024;

/// Decides from the first bytes of a file alone (ELF header and program headers) whether it is a
/// static executable, so a large static binary need not be read whole. Returns `None` when the file
/// may be dynamic or its program headers lie beyond `prefix`; then read it all and call [`inspect`].
/// The facts it returns leave the fields that need section headers empty.
pub fn inspect_static_prefix(prefix: &[u8]) -> Result<Option<ElfFacts>, Error> {
    use goblin::container::{Container, Ctx};
    use goblin::elf::program_header::{ProgramHeader, PT_DYNAMIC};
    let header = Elf::parse_header(prefix).map_err(|e| Error::Malformed(e.to_string()))?;
    let container =
        if header.e_ident[goblin::elf::header::EI_CLASS] == goblin::elf::header::ELFCLASS64 {
            Container::Big
        } else {
            Container::Little
        };
    let endian = header
        .endianness()
        .map_err(|e| Error::Malformed(e.to_string()))?;
    let ctx = Ctx::new(container, endian);
    let Ok(offset) = usize::try_from(header.e_phoff) else {
        return Ok(None);
    };
    let count = usize::from(header.e_phnum);
    let end = count
        .checked_mul(ProgramHeader::size(ctx))
        .and_then(|n| n.checked_add(offset));
    if end.is_none_or(|end| end > prefix.len()) {
        return Ok(None);
    }
    let headers = ProgramHeader::parse(prefix, offset, count, ctx)
        .map_err(|e| Error::Malformed(e.to_string()))?;
    if headers
        .iter()
        .any(|ph| ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
    {
        return Ok(None);
    }
    let is_shared_object = header.e_type == goblin::elf::header::ET_DYN;
    Ok(Some(ElfFacts {
        is_64: container.is_big(),
        machine: header.e_machine,
        linkage: if is_shared_object {
            Linkage::StaticPie
        } else {
            Linkage::Static
        },
        interpreter: None,
        needed: Vec::new(),
        is_shared_object,
        soname: None,
        rpath: Vec::new(),
        runpath: Vec::new(),
        min_glibc: None,
        stripped: false,
        triggers: Vec::new(),
    }))
}

/// The OCI architecture name of an ELF machine number, when pare knows it.
pub fn oci_architecture(machine: u16) -> Option<&'static str> {
    arch::ARCHITECTURES
        .iter()
        .find(|a| a.elf_machine == machine)
        .map(|a| a.oci)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_itself_is_understood() {
        let me = std::env::current_exe().unwrap();
        let bytes = std::fs::read(me).unwrap();
        let facts = inspect(&bytes).unwrap();
        assert!(is_elf(&bytes));
        if cfg!(target_env = "gnu") {
            assert_eq!(facts.linkage, Linkage::Dynamic);
            assert!(facts.interpreter.is_some());
            assert!(facts.needed.iter().any(|n| n.starts_with("libc.so")));
            let glibc = facts
                .min_glibc
                .expect("a glibc program needs some GLIBC_ version");
            assert!(glibc.starts_with("2."), "{glibc}");
        }
        assert!(!facts.stripped, "test binaries keep their symbols");
        assert_eq!(
            oci_architecture(facts.machine),
            Some(match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                other => other,
            })
        );
    }

    #[test]
    fn the_prefix_shortcut_never_calls_a_dynamic_binary_static() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let prefix = &me[..PREFIX_LEN.min(me.len())];
        match inspect_static_prefix(prefix).unwrap() {
            Some(facts) => assert_eq!(facts.linkage, inspect(&me).unwrap().linkage),
            None => assert_eq!(inspect(&me).unwrap().linkage, Linkage::Dynamic),
        }
        assert!(inspect_static_prefix(&me[..10]).is_err());
    }

    #[test]
    fn truncated_and_garbage_inputs_are_errors_not_panics() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        for len in [0, 4, 16, 52, 64, 200, 4096] {
            let _ = inspect(&me[..len.min(me.len())]);
            let _ = inspect_static_prefix(&me[..len.min(me.len())]);
        }
        let mut garbage = me[..4096.min(me.len())].to_vec();
        for (i, b) in garbage.iter_mut().enumerate().skip(16) {
            *b = (i * 31 % 251) as u8;
        }
        let _ = inspect(&garbage);
        assert!(inspect(b"\x7fELF\x02\x01\x01").is_err());
        assert!(!is_elf(b"#!/bin/sh\n"));
    }

    #[test]
    fn the_fuzz_corpus_parses_as_expected() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pare-fuzz/fuzz/seeds/elf");
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        assert_eq!(inspect(&read("dynamic")).unwrap().linkage, Linkage::Dynamic);
        assert!(inspect(&read("dynamic-stripped")).unwrap().stripped);
        assert!(!inspect(&read("dynamic")).unwrap().stripped);
        let shared = inspect(&read("shared.so")).unwrap();
        assert!(shared.is_shared_object && shared.interpreter.is_none());
        assert!(inspect(&read("truncated-header")).is_err());
        assert!(inspect(&read("truncated-1000")).is_err());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let _ = inspect(&bytes);
            let _ = inspect_static_prefix(&bytes);
            let _ = buildinfo::go_build_info(&bytes);
            let _ = buildinfo::cargo_auditable(&bytes);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Random corruption of a real binary's first 8 KiB never panics any parser here.
        #[test]
        fn corrupted_headers_never_panic(flips in proptest::collection::vec((0usize..8192, proptest::prelude::any::<u8>()), 1..24)) {
            static ME: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
            let me = ME.get_or_init(|| std::fs::read(std::env::current_exe().unwrap()).unwrap());
            let mut bytes = me[..me.len().min(1 << 20)].to_vec();
            for (at, value) in flips {
                if at < bytes.len() {
                    bytes[at] = value;
                }
            }
            let _ = inspect(&bytes);
            let _ = inspect_static_prefix(&bytes[..bytes.len().min(PREFIX_LEN)]);
            let _ = buildinfo::go_build_info(&bytes);
            let _ = buildinfo::cargo_auditable(&bytes);
        }
    }
}
