//! pare-elf: facts about ELF files that decide whether a binary can start in an image: static or
//! dynamic, the program interpreter (dynamic loader) and the shared libraries it names (DT_NEEDED).
//! Parsing is goblin's; this crate turns its answer into the few facts pare needs and never panics on
//! hostile input. Not (yet) a loader: resolving the full library closure is a later step.

use goblin::elf::program_header::PT_INTERP;
use goblin::elf::Elf;

/// The first four bytes of every ELF file.
pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// What went wrong reading an ELF file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes start like ELF but do not parse as one.
    #[error("malformed ELF file: {0}")]
    Malformed(String),
}

/// How a binary is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linkage {
    /// No interpreter and no needed libraries: runs on an empty root.
    Static,
    /// Position-independent static executable (no interpreter, no needed libraries, type DYN).
    StaticPie,
    /// Needs a dynamic loader and shared libraries.
    Dynamic,
}

/// The facts pare uses about one ELF file.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

/// True when `bytes` start with the ELF magic.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(ELF_MAGIC)
}

/// Reads the linkage facts of an ELF file held in memory.
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
    Ok(ElfFacts {
        is_64: elf.is_64,
        machine: elf.header.e_machine,
        linkage,
        interpreter,
        needed,
        is_shared_object,
    })
}

/// How many leading bytes of a file [`inspect_static_prefix`] wants to see.
pub const PREFIX_LEN: usize = 64 * 1024;

/// Decides from the first bytes of a file alone (ELF header and program headers) whether it is a
/// static executable, so a large static binary need not be read whole. Returns `None` when the file
/// may be dynamic or its program headers lie beyond `prefix`; then read it all and call [`inspect`].
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
    }))
}

/// The OCI architecture name of an ELF machine number, when pare knows it.
pub fn oci_architecture(machine: u16) -> Option<&'static str> {
    use goblin::elf::header::{EM_386, EM_AARCH64, EM_ARM, EM_PPC64, EM_RISCV, EM_S390, EM_X86_64};
    match machine {
        EM_X86_64 => Some("amd64"),
        EM_AARCH64 => Some("arm64"),
        EM_386 => Some("386"),
        EM_ARM => Some("arm"),
        EM_PPC64 => Some("ppc64le"),
        EM_S390 => Some("s390x"),
        EM_RISCV => Some("riscv64"),
        _ => None,
    }
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
        }
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
        let quick = inspect_static_prefix(prefix).unwrap();
        let full = inspect(&me).unwrap();
        match quick {
            Some(facts) => assert_eq!(facts, full),
            None => assert_eq!(full.linkage, Linkage::Dynamic),
        }
        assert!(inspect_static_prefix(&me[..10]).is_err());
    }

    #[test]
    fn truncated_and_garbage_inputs_are_errors_not_panics() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        for len in [0, 4, 16, 52, 64, 200, 4096] {
            let _ = inspect(&me[..len.min(me.len())]);
        }
        let mut garbage = me[..4096.min(me.len())].to_vec();
        for (i, b) in garbage.iter_mut().enumerate().skip(16) {
            *b = (i * 31 % 251) as u8;
        }
        let _ = inspect(&garbage);
        assert!(inspect(b"\x7fELF\x02\x01\x01").is_err());
        assert!(!is_elf(b"#!/bin/sh\n"));
    }
}
