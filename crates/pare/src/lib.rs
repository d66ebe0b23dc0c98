//! pare: the library behind the `pare` command. Each verb is a plain function over an options struct
//! (`build::build(&BuildOptions, &dyn Reporter)`), returning a report; progress and warnings go through
//! the [`Reporter`] trait. Nothing here parses arguments, prints, or exits: that is `pare-cli`.

pub mod audit;
pub mod bases;
pub mod build;
pub mod bytecode;
pub mod compare;
pub mod contents;
pub mod diff;
pub mod error;
pub mod findings;
pub mod gate;
pub mod html;
pub mod image_io;
pub mod init;
pub mod inspect;
pub mod inventory;
pub mod layers;
pub mod ldconfig;
pub mod lint;
pub mod loader;
pub mod packages;
pub mod parallel;
pub mod paths;
pub mod plugins;
pub mod policy;
pub mod reporter;
pub mod sbom;
pub mod scan;
pub mod secrets;
pub mod sign;
pub mod slim;
pub mod transfer;
pub mod units;

pub use error::{Error, Result};

/// Where pare keeps its caches (`$PARE_CACHE_DIR`, `$XDG_CACHE_HOME/pare`, `~/.cache/pare`): Debian
/// indexes and packages, and which registry repository holds which blob.
pub fn cache_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    if let Some(d) = std::env::var_os("PARE_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("pare"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/pare"))
}
pub use reporter::{NullReporter, Reporter};
