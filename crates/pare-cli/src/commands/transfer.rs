//! `pare push`, `pare pull`, `pare copy`: references and flags -> `TransferOptions` ->
//! `pare::transfer::copy` -> report.

use std::process::ExitCode;

use anyhow::Result;
use pare::transfer::{copy, TransferOptions, TransferReport};
use pare_oci::image::Platform;
use pare_oci::reference::ImageRef;

use super::UsageError;
use crate::cli::{GlobalArgs, TextFormat, TransferCommon, UploadArgs};
use crate::output::{human_bytes, TerminalReporter};

/// Version of the JSON document push/pull/copy print with --format json.
pub const TRANSFER_JSON_SCHEMA: &str = "pare.transfer/v1";

/// Which verb was called (they differ only in what they accept).
#[derive(Clone, Copy, Debug)]
pub enum Verb {
    Push,
    Pull,
    Copy,
}

pub fn run(
    verb: Verb,
    args: &TransferCommon,
    upload: &UploadArgs,
    global: &GlobalArgs,
) -> Result<ExitCode> {
    let source = ImageRef::parse(&args.source).map_err(pare::Error::from)?;
    let destination = ImageRef::parse(&args.destination).map_err(pare::Error::from)?;
    match verb {
        Verb::Push if !matches!(destination, ImageRef::Registry(_)) => {
            return Err(UsageError(format!(
                "pare push sends an image to a registry: the destination must be docker://HOST/REPO:TAG, not {destination}; use pare copy for other moves"
            ))
            .into())
        }
        Verb::Pull if !matches!(source, ImageRef::Registry(_)) => {
            return Err(UsageError(format!(
                "pare pull fetches from a registry: the source must be docker://HOST/REPO:TAG, not {source}; use pare copy for other moves"
            ))
            .into())
        }
        _ => {}
    }
    let mut options = TransferOptions::new(source, destination);
    options.access.insecure = args.insecure;
    options.access.jobs = args.jobs.max(1);
    options.extra_tags.clone_from(&args.tag);
    options.access.chunk_size = upload.chunk_size;
    options.access.referrers = !args.no_referrers;
    // `pare push` sends what was built: an index whole (a platform only when --platform picks
    // one). pull and copy take this machine's image of an index unless --all-platforms, as
    // skopeo and docker pull do.
    options.all_platforms = args.all_platforms
        || (matches!(verb, Verb::Push)
            && args.platform.is_none()
            && matches!(
                options.source,
                ImageRef::Layout { .. } | ImageRef::Registry(_)
            ));
    if let Some(c) = &upload.compression {
        options.compression = Some(pare_oci::compress::Compression::parse(c).ok_or_else(|| {
            UsageError(format!(
                "--compression {c:?} is not one of gzip, zstd, none"
            ))
        })?);
    }
    if let Some(creds) = &args.creds {
        options.access.credentials =
            Some(pare_registry::Credentials::parse(creds).map_err(|e| UsageError(e.to_string()))?);
    }
    if let Some(p) = &args.platform {
        options.access.platform = Some(Platform::parse(p).map_err(pare::Error::from)?);
    }
    let reporter = TerminalReporter::new(global.quiet);
    let report = copy(&options, &reporter)?;
    match args.format {
        TextFormat::Json => crate::output::print_json(&report, TRANSFER_JSON_SCHEMA)?,
        TextFormat::Human if !global.quiet => print_human(&report),
        TextFormat::Human => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(report: &TransferReport) {
    say!("{} -> {}", report.source, report.destination);
    say!("  manifest  {}", report.manifest_digest);
    if let Some(why) = &report.digest_changed {
        say!("  note      the digest differs from the source's: {why}");
    }
    say!(
        "  blobs     {} in the image: {} transferred ({}), {} mounted, {} already there",
        report.blobs,
        report.blobs_transferred,
        human_bytes(report.bytes_transferred),
        report.blobs_mounted,
        report.blobs_already_present
    );
    if report.referrers > 0 {
        say!(
            "  referrers {} carried (SBOMs, signatures){}",
            report.referrers,
            if report.fallback_tags > 0 {
                format!(
                    ", {} fallback tag(s) written (the registry has no referrers API)",
                    report.fallback_tags
                )
            } else {
                String::new()
            }
        );
    }
    if report.cosign_tags > 0 {
        say!(
            "  signature tags {} carried (cosign's sha256-<hex>.sig/.att/.sbom)",
            report.cosign_tags
        );
    }
    if report.http_requests > 0 {
        say!(
            "  requests  {} HTTP, {} retried",
            report.http_requests,
            report.retries
        );
    }
}
