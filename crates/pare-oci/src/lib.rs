//! pare-oci: the OCI image model pare writes and reads, and the byte-exact machinery under it.
//!
//! What is here: sha256 digests, canonical JSON, the deterministic layer writer (tar -> gzip/zstd with
//! digest and diff_id in one streaming pass), the OCI image layout store, oci-archive and docker-archive
//! writers, and image references in skopeo's transport syntax. What is not: deciding what goes into an
//! image (that is the `pare` crate), talking to registries (`pare-registry`), or printing anything.

pub mod archive;
pub mod canonical_json;
pub mod compress;
pub mod digest;
pub mod error;
pub mod image;
pub mod import;
pub mod layer;
pub mod layout;
pub mod manifest;
pub mod read;
pub mod reference;
pub mod referrer;
pub mod tarstream;
pub mod tree;

pub use error::{Error, Result};
