//! One module per verb: each turns its arguments into the library's options and prints the report.

pub mod audit;
pub mod build;
pub mod compare;
pub mod diff;
pub mod gate;
pub mod init;
pub mod inspect;
pub mod inventory;
pub mod lint;
pub mod referrers;
pub mod sbom;
pub mod scan;
pub mod sign;
pub mod slim;
pub mod transfer;

use pare::image_io::Access;
use pare_oci::image::Platform;

use crate::cli::ReadArgs;

/// An error in how pare was called (exit code 2), as opposed to a failure while working.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// How the reading verbs (audit, diff, gate) reach images, from their shared flags.
pub fn access(read: &ReadArgs) -> anyhow::Result<Access> {
    let mut access = Access {
        insecure: read.insecure,
        ..Access::default()
    };
    if let Some(creds) = &read.creds {
        access.credentials =
            Some(pare_registry::Credentials::parse(creds).map_err(|e| UsageError(e.to_string()))?);
    }
    if let Some(p) = &read.platform {
        access.platform = Some(Platform::parse(p).map_err(pare::Error::from)?);
    }
    Ok(access)
}
