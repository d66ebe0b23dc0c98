//! The error type of pare-oci: every variant names the file or reference it is about.

use std::path::PathBuf;

/// Result alias for pare-oci.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while writing or reading images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a named path failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An input (file, tree entry, JSON) is not acceptable; the message says why and what to do.
    #[error("{0}")]
    Invalid(String),
    /// An image reference could not be parsed.
    #[error("invalid image reference {reference:?}: {reason}")]
    Reference { reference: String, reason: String },
    /// A blob's content did not match its digest or size.
    #[error("blob {digest} in {path}: {reason}")]
    Blob {
        digest: String,
        path: PathBuf,
        reason: String,
    },
    /// The layout is locked by another pare process.
    #[error("the image layout {0} is locked by another pare process; wait for it to finish or remove the stale process")]
    Locked(PathBuf),
    /// JSON could not be encoded or decoded.
    #[error("JSON in {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the action and path it concerns.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }

    /// True when the error comes from what the user gave (bad input), not from the machine or pare:
    /// also an I/O error that says the path given is wrong (missing, not allowed, a directory where
    /// a file belongs), as opposed to the machine failing (a full disk, an I/O error).
    pub fn is_input_error(&self) -> bool {
        match self {
            Error::Invalid(_)
            | Error::Reference { .. }
            | Error::Blob { .. }
            | Error::Json { .. } => true,
            Error::Io { source, .. } => is_path_fault(source),
            Error::Locked(_) => false,
        }
    }
}

/// Whether an I/O error is about the path named (the user's to fix) rather than the machine.
pub fn is_path_fault(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        NotFound | PermissionDenied | IsADirectory | NotADirectory | AlreadyExists | InvalidInput
    )
}
