//! Errors of the registry client; every one names the registry and what was being done.

/// Result alias for pare-registry.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry could not be reached or the connection broke (after retries).
    #[error("{action} at {host}: {detail}")]
    Transport {
        host: String,
        action: String,
        detail: String,
    },
    /// The registry answered with an unexpected status (after retries where they make sense).
    #[error("{action} at {host}: HTTP {status}{detail}")]
    Status {
        host: String,
        action: String,
        status: u16,
        detail: String,
    },
    /// Credentials are missing or were refused.
    #[error("{0}")]
    Auth(String),
    /// Content did not match its digest or size.
    #[error("{0}")]
    Integrity(String),
    /// Something the registry sent or the user gave cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// Local I/O while streaming.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// True when the user can fix this (credentials, names, content), not the network or the registry.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Error::Auth(_) | Error::Invalid(_) | Error::Integrity(_)
        ) || matches!(self, Error::Status { status, .. } if *status == 404 || *status == 400)
    }

    /// True when the registry or the way to it failed (unreachable, too slow, 5xx or 429 after the
    /// retries, an answer the API does not allow): not pare's fault, and reported as bad input is.
    pub fn is_remote_error(&self) -> bool {
        matches!(self, Error::Transport { .. } | Error::Status { .. })
    }
}
