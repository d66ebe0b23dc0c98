//! One module per verb: each turns its arguments into the library's options and prints the report.

pub mod build;
pub mod compare;
pub mod inspect;
pub mod transfer;

/// An error in how pare was called (exit code 2), as opposed to a failure while working.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
