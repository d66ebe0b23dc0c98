//! `pare push`, `pare pull` and `pare copy`: move an image between any two of an OCI layout, an
//! oci-archive, a docker-archive and a registry. The verb is "write(open(source))": everything it
//! does is [`crate::image_io::copy`]; this module only names its options and report.

use pare_oci::reference::ImageRef;

use crate::image_io::{Access, IoReport};
use crate::{Reporter, Result};

/// What a transfer did.
pub type TransferReport = IoReport;

/// What to move where.
#[derive(Clone, Debug)]
pub struct TransferOptions {
    pub source: ImageRef,
    pub destination: ImageRef,
    pub access: Access,
    /// More tags at the destination.
    pub extra_tags: Vec<String>,
    /// How to compress layers the source stores uncompressed (default gzip, none for a
    /// docker-archive destination).
    pub compression: Option<pare_oci::compress::Compression>,
    /// Copy every platform of an index, not the one image of `access.platform`.
    pub all_platforms: bool,
}

impl TransferOptions {
    /// Options with defaults for everything but the two ends.
    pub fn new(source: ImageRef, destination: ImageRef) -> Self {
        Self {
            source,
            destination,
            access: Access::default(),
            extra_tags: Vec::new(),
            compression: None,
            all_platforms: false,
        }
    }
}

/// Copies an image as `options` say.
pub fn copy(options: &TransferOptions, reporter: &dyn Reporter) -> Result<TransferReport> {
    let mut report = TransferReport::default();
    if options.all_platforms {
        crate::image_io::copy_all_platforms(
            &options.source,
            &options.destination,
            &options.extra_tags,
            options.compression,
            &options.access,
            reporter,
            &mut report,
        )?;
        return Ok(report);
    }
    crate::image_io::copy(
        &options.source,
        &options.destination,
        &options.extra_tags,
        options.compression,
        &options.access,
        reporter,
        &mut report,
    )?;
    Ok(report)
}
