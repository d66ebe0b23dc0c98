//! pare-pkg: Debian packages without dpkg or apt. Reads the host's apt sources, verifies signed
//! Release files, fetches Packages indexes by hash, orders versions like dpkg, resolves dependencies,
//! writes and reads `pare.lock`, downloads `.deb` files into a content-addressed cache and extracts
//! their data safely. It never runs maintainer scripts and never writes outside the paths it is given.

pub mod apk_db;
pub mod cache;
pub mod control;
pub mod deb;
pub mod dpkg_db;
pub mod fetch;
pub mod index;
pub mod install;
pub mod lock;
pub mod relation;
pub mod release;
pub mod resolve;
pub mod sources;
pub mod truststore;
pub mod version;

/// What can go wrong reading repositories and packages.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed control data, relation, version or lock file.
    #[error("{0}")]
    Parse(String),
    /// A signature is missing, bad or made by an unknown key.
    #[error("{0}")]
    Signature(String),
    /// A download failed or its content is not what the index promised.
    #[error("{0}")]
    Fetch(String),
    /// Dependencies cannot be satisfied.
    #[error("{0}")]
    Resolve(String),
    /// A .deb is malformed or hostile.
    #[error("{0}")]
    Deb(String),
    /// A local file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Result with pare-pkg's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with what was being done.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}
