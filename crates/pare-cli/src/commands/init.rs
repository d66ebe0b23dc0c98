//! `pare init --from-dockerfile`: a Dockerfile -> `pare::init::from_dockerfile` -> pare.toml on
//! disk (or stdout), and the list of what could not carry over.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::UsageError;
use crate::cli::{InitArgs, TextFormat};
use crate::output::print_json;

/// Version of `pare init --format json`.
pub const INIT_JSON_SCHEMA: &str = "pare.init/v1";

pub fn run(args: &InitArgs) -> Result<ExitCode> {
    let bytes = pare_oci::layout::read_bounded(&args.from_dockerfile, 16 << 20).map_err(|e| {
        pare::Error::Input(format!(
            "cannot read Dockerfile {}: {e}",
            args.from_dockerfile.display()
        ))
    })?;
    let report = pare::init::from_dockerfile(&bytes)?;
    let to_stdout = args.output.as_os_str() == "-";
    if !to_stdout {
        if args.output.exists() && !args.force {
            return Err(UsageError(format!(
                "{} exists; pass --force to replace it",
                args.output.display()
            ))
            .into());
        }
        std::fs::write(&args.output, &report.toml)
            .with_context(|| format!("write {}", args.output.display()))?;
    }
    match args.format {
        TextFormat::Json => print_json(&report, INIT_JSON_SCHEMA)?,
        TextFormat::Human => {
            if to_stdout {
                crate::output::out(&report.toml)?;
            } else {
                say!("wrote {} (base {})", args.output.display(), report.base);
            }
            for p in &report.produce {
                eprintln!(
                    "note: produce {p} before `pare build` (see the comments above each [[copy]])"
                );
            }
            for n in &report.not_carried {
                eprintln!("note: not carried: {n}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
