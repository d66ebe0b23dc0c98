//! The one architecture table: for each architecture pare knows, its OCI name and variant, Debian's
//! name, Rust's (`std::env::consts::ARCH`), the ELF machine and class, the multiarch triple of its
//! library directories, and the architecture bits glibc's ld.so.cache flags give its libraries.
//! Every mapping between these names goes through here. Not here: what a platform string looks
//! like (`pare_oci::image::Platform`).

use goblin::elf::header::{EM_386, EM_AARCH64, EM_ARM, EM_PPC64, EM_RISCV, EM_S390, EM_X86_64};

/// One architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Architecture {
    /// OCI / Go name (`amd64`).
    pub oci: &'static str,
    /// OCI variant, for the architectures that have several (`v7`).
    pub variant: Option<&'static str>,
    /// Debian's name (`amd64`, `armhf`).
    pub debian: &'static str,
    /// Rust's name (`x86_64`).
    pub rust: &'static str,
    pub elf_machine: u16,
    pub is_64: bool,
    /// Multiarch triple of the library directories (`x86_64-linux-gnu`).
    pub triple: &'static str,
    /// Architecture bits of an ld.so.cache entry's flags (`FLAG_X8664_LIB64` is 0x0300); None where
    /// glibc marks none (32-bit x86) or pare does not know them.
    pub ld_cache_flags: Option<u32>,
}

/// Every architecture pare knows.
pub const ARCHITECTURES: &[Architecture] = &[
    Architecture {
        oci: "amd64",
        variant: None,
        debian: "amd64",
        rust: "x86_64",
        elf_machine: EM_X86_64,
        is_64: true,
        triple: "x86_64-linux-gnu",
        ld_cache_flags: Some(0x0300),
    },
    Architecture {
        oci: "arm64",
        variant: None,
        debian: "arm64",
        rust: "aarch64",
        elf_machine: EM_AARCH64,
        is_64: true,
        triple: "aarch64-linux-gnu",
        ld_cache_flags: Some(0x0a00),
    },
    Architecture {
        oci: "386",
        variant: None,
        debian: "i386",
        rust: "x86",
        elf_machine: EM_386,
        is_64: false,
        triple: "i386-linux-gnu",
        ld_cache_flags: Some(0),
    },
    Architecture {
        oci: "arm",
        variant: Some("v7"),
        debian: "armhf",
        rust: "arm",
        elf_machine: EM_ARM,
        is_64: false,
        triple: "arm-linux-gnueabihf",
        ld_cache_flags: None,
    },
    Architecture {
        oci: "arm",
        variant: Some("v6"),
        debian: "armel",
        rust: "arm",
        elf_machine: EM_ARM,
        is_64: false,
        triple: "arm-linux-gnueabi",
        ld_cache_flags: None,
    },
    Architecture {
        oci: "ppc64le",
        variant: None,
        debian: "ppc64el",
        rust: "powerpc64",
        elf_machine: EM_PPC64,
        is_64: true,
        triple: "powerpc64le-linux-gnu",
        ld_cache_flags: None,
    },
    Architecture {
        oci: "s390x",
        variant: None,
        debian: "s390x",
        rust: "s390x",
        elf_machine: EM_S390,
        is_64: true,
        triple: "s390x-linux-gnu",
        ld_cache_flags: None,
    },
    Architecture {
        oci: "riscv64",
        variant: None,
        debian: "riscv64",
        rust: "riscv64",
        elf_machine: EM_RISCV,
        is_64: true,
        triple: "riscv64-linux-gnu",
        ld_cache_flags: None,
    },
];

/// The architecture of an OCI platform (`arm` is armhf unless its variant is `v6` or `v5`, which
/// Debian calls armel).
pub fn by_oci(architecture: &str, variant: Option<&str>) -> Option<&'static Architecture> {
    let variant = match (architecture, variant) {
        ("arm", Some("v6" | "v5")) => Some("v6"),
        ("arm", _) => Some("v7"),
        _ => None,
    };
    ARCHITECTURES
        .iter()
        .find(|a| a.oci == architecture && (a.variant.is_none() || a.variant == variant))
}

/// The architecture of an ELF machine and class (the first listed for 32-bit ARM: armhf).
pub fn by_machine(machine: u16, is_64: bool) -> Option<&'static Architecture> {
    ARCHITECTURES
        .iter()
        .find(|a| a.elf_machine == machine && a.is_64 == is_64)
}

/// The architecture of a Debian architecture name.
pub fn by_debian(name: &str) -> Option<&'static Architecture> {
    ARCHITECTURES.iter().find(|a| a.debian == name)
}

/// The architecture this program was built for.
pub fn host() -> Option<&'static Architecture> {
    ARCHITECTURES
        .iter()
        .find(|a| a.rust == std::env::consts::ARCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        for a in ARCHITECTURES {
            assert_eq!(by_debian(a.debian), Some(a));
            assert_eq!(by_oci(a.oci, a.variant), Some(a));
        }
        assert_eq!(by_oci("arm", None).unwrap().debian, "armhf");
        assert_eq!(by_oci("arm", Some("v5")).unwrap().debian, "armel");
        assert_eq!(by_oci("arm64", Some("v8")).unwrap().debian, "arm64");
        assert_eq!(by_machine(EM_X86_64, true).unwrap().oci, "amd64");
        assert_eq!(by_machine(EM_X86_64, false), None, "x32 is not known");
        assert!(host().is_some());
    }
}
