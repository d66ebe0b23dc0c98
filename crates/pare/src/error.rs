//! The pare library's error type, split by whose fault it is: bad input (exit code 2) or a failure of
//! the machine or of pare itself (exit code 3).

/// Result alias for the pare library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in a pare pipeline.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input (flags, pare.toml, source files) cannot make an image; the message says what to fix.
    #[error("{0}")]
    Input(String),
    /// A guard rail refused the image (it would not start, or breaks an invariant).
    #[error("{0}")]
    Refused(String),
    /// A failure while reading or writing images.
    #[error(transparent)]
    Oci(#[from] pare_oci::Error),
    /// A failure talking to a registry.
    #[error(transparent)]
    Registry(#[from] pare_registry::Error),
    /// A failure reading Debian repositories or packages.
    #[error(transparent)]
    Package(#[from] pare_pkg::Error),
    /// An I/O failure on a named path.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// True when a registry or the network to it failed (see `pare_registry::Error::is_remote_error`).
    pub fn is_remote_error(&self) -> bool {
        matches!(self, Error::Registry(e) if e.is_remote_error())
    }

    /// Wraps an I/O error with the action and path it concerns.
    pub fn io(
        action: &'static str,
        path: impl Into<std::path::PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }

    /// True when the user can fix this by changing the input (exit code 2).
    pub fn is_input_error(&self) -> bool {
        match self {
            Error::Input(_) | Error::Refused(_) => true,
            Error::Oci(e) => e.is_input_error(),
            Error::Registry(e) => e.is_input_error(),
            Error::Package(e) => !matches!(e, pare_pkg::Error::Io { .. }),
            Error::Io { source, .. } => pare_oci::error::is_path_fault(source),
        }
    }
}
