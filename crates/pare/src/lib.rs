//! pare: the library behind the `pare` command. Each verb is a plain function over an options struct
//! (`build::build(&BuildOptions, &dyn Reporter)`), returning a report; progress and warnings go through
//! the [`Reporter`] trait. Nothing here parses arguments, prints, or exits: that is `pare-cli`.

pub mod audit;
pub mod build;
pub mod contents;
pub mod diff;
pub mod error;
pub mod gate;
pub mod inspect;
pub mod ldconfig;
pub mod packages;
pub mod paths;
pub mod policy;
pub mod reporter;
pub mod secrets;
pub mod transfer;
pub mod units;

pub use error::{Error, Result};
pub use reporter::{NullReporter, Reporter};
