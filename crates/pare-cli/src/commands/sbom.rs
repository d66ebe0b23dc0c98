//! `pare sbom`: a reference -> `pare::sbom::sbom` -> the document on stdout or in a file.

use std::process::ExitCode;

use anyhow::Result;
use pare::sbom::{attached, sbom, SbomFormat, SbomOptions};
use pare_oci::reference::ImageRef;

use super::{access, UsageError};
use crate::cli::{GlobalArgs, SbomArgs, SbomFormatArg};
use crate::output::TerminalReporter;

/// The library's format for the CLI's spelling of it.
pub fn format_of(arg: SbomFormatArg) -> SbomFormat {
    match arg {
        SbomFormatArg::SpdxJson => SbomFormat::SpdxJson,
        SbomFormatArg::CyclonedxJson => SbomFormat::CycloneDxJson,
    }
}

pub fn run(args: &SbomArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let reference = ImageRef::parse(&args.image).map_err(pare::Error::from)?;
    let reporter = TerminalReporter::new(global.quiet);
    let created = match &args.source_date_epoch {
        Some(epoch) => Some(epoch.trim().parse::<u64>().map_err(|_| {
            UsageError(format!(
                "SOURCE_DATE_EPOCH / --source-date-epoch {epoch:?} is not a whole number of seconds"
            ))
        })?),
        None => None,
    };
    let options = SbomOptions {
        format: format_of(args.format),
        name: args.name.clone(),
        created,
    };
    let document = if args.attached {
        attached(&reference, &access(&args.read)?, options.format, &reporter)?
    } else {
        sbom(&reference, &access(&args.read)?, &options, &reporter)?
    };
    match &args.output {
        Some(path) => {
            pare_oci::layout::write_output_file(path, &document).map_err(pare::Error::from)?
        }
        None => {
            let text = String::from_utf8(document)?;
            crate::output::write_stdout(format_args!("{text}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
