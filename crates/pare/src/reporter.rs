//! How pipelines tell the caller what they are doing without printing: the CLI implements [`Reporter`]
//! for the terminal, tests collect messages, embedders ignore them.

/// Receives progress and warnings from a pipeline.
pub trait Reporter: Sync {
    /// A step starts (`writing layer 2 of 3`).
    fn step(&self, message: &str);
    /// Something the user should know that does not stop the pipeline.
    fn warn(&self, message: &str);
    /// `done` of `total` bytes of the transfer `id` (a blob digest) have moved.
    fn transfer(&self, _id: &str, _done: u64, _total: u64) {}
    /// The transfer `id` finished.
    fn transfer_done(&self, _id: &str) {}
}

/// A reporter that drops everything.
pub struct NullReporter;

impl Reporter for NullReporter {
    fn step(&self, _message: &str) {}
    fn warn(&self, _message: &str) {}
}
