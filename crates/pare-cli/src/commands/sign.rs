//! `pare sign` and `pare verify`: flags -> `pare::sign` options -> a report; verify exits 1 when no
//! signature verifies.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use pare::sign::keys::KeyFile;
use pare::sign::{sign as sign_image, verify as verify_image, SignOptions, VerifyOptions};
use pare_oci::reference::ImageRef;

use super::{access, UsageError};
use crate::cli::{AttestArgs, GlobalArgs, SignArgs, TextFormat, VerifyArgs, VerifyAttestationArgs};
use crate::output::TerminalReporter;

/// Version of the JSON document `pare sign --format json` prints.
pub const SIGN_JSON_SCHEMA: &str = "pare.sign/v1";
/// Version of the JSON document `pare verify --format json` prints.
pub const VERIFY_JSON_SCHEMA: &str = "pare.verify/v1";
/// Version of the JSON document `pare attest --format json` prints.
pub const ATTEST_JSON_SCHEMA: &str = "pare.attest/v1";
/// Version of the JSON document `pare verify-attestation --format json` prints.
pub const VERIFY_ATTESTATION_JSON_SCHEMA: &str = "pare.verify-attestation/v1";

/// The key file `path` (at most 64 KiB of PEM text), with COSIGN_PASSWORD to open an encrypted one.
pub fn read_key(path: &Path) -> Result<KeyFile> {
    let bytes = pare_oci::layout::read_bounded(path, 64 << 10).map_err(pare::Error::from)?;
    let pem = String::from_utf8(bytes)
        .map_err(|_| UsageError(format!("{} is not a PEM text file", path.display())))?;
    Ok(KeyFile {
        pem,
        name: path.display().to_string(),
        password: std::env::var_os("COSIGN_PASSWORD").map(|p| p.into_encoded_bytes()),
    })
}

pub fn sign(args: &SignArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let mut annotations = BTreeMap::new();
    for pair in &args.annotation {
        let (k, v) = pare::build::options::parse_key_value(pair, "--annotation")?;
        annotations.insert(k, v);
    }
    let options = SignOptions {
        image: ImageRef::parse(&args.image).map_err(pare::Error::from)?,
        key: read_key(&args.key)?,
        identity: args.identity.clone(),
        annotations,
        access: access(&args.read)?,
    };
    let report = sign_image(&options, &TerminalReporter::new(global.quiet))?;
    match args.format {
        TextFormat::Json => crate::output::print_json(&report, SIGN_JSON_SCHEMA)?,
        TextFormat::Human if !global.quiet => {
            say!("{} ({})", report.image, report.digest);
            say!(
                "  {} as {} under the tag {} ({} signature(s) there now)",
                if report.added {
                    "signed"
                } else {
                    "already signed with this key and payload"
                },
                report.identity,
                report.tag,
                report.signatures
            );
        }
        TextFormat::Human => {}
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify(args: &VerifyArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let options = VerifyOptions {
        image: ImageRef::parse(&args.image).map_err(pare::Error::from)?,
        key: read_key(&args.key)?,
        identity: args.identity.clone(),
        access: access(&args.read)?,
    };
    let report = verify_image(&options, &TerminalReporter::new(global.quiet))?;
    match args.format {
        TextFormat::Json => crate::output::print_json(&report, VERIFY_JSON_SCHEMA)?,
        TextFormat::Human if !global.quiet => {
            say!("{} ({})", report.image, report.digest);
            if report.signatures.is_empty() {
                say!("  no signatures under {}", report.tag);
            }
            for s in &report.signatures {
                match &s.problem {
                    None => say!(
                        "  verified  {} (identity {})",
                        s.payload_digest,
                        s.identity.as_deref().unwrap_or("?")
                    ),
                    Some(problem) => say!("  FAILED    {}: {problem}", s.payload_digest),
                }
            }
        }
        TextFormat::Human => {}
    }
    Ok(if report.verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn attest(args: &AttestArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let bytes =
        pare_oci::layout::read_bounded(&args.predicate, 256 << 20).map_err(pare::Error::from)?;
    let predicate: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        UsageError(format!(
            "--predicate {}: not JSON: {e}",
            args.predicate.display()
        ))
    })?;
    let options = pare::sign::attest::AttestOptions {
        image: ImageRef::parse(&args.image).map_err(pare::Error::from)?,
        key: read_key(&args.key)?,
        identity: args.identity.clone(),
        predicate_type: pare::sign::attest::predicate_type(&args.predicate_type)?,
        predicate,
        access: access(&args.read)?,
    };
    let report = pare::sign::attest::attest(&options, &TerminalReporter::new(global.quiet))?;
    match args.format {
        TextFormat::Json => crate::output::print_json(&report, ATTEST_JSON_SCHEMA)?,
        TextFormat::Human if !global.quiet => {
            say!("{} ({})", report.image, report.digest);
            say!(
                "  {} {} under the tag {} ({} attestation(s) there now)",
                if report.added {
                    "attested"
                } else {
                    "already attested, the same statement:"
                },
                report.predicate_type,
                report.tag,
                report.attestations
            );
        }
        TextFormat::Human => {}
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify_attestation(args: &VerifyAttestationArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let options = pare::sign::attest::VerifyAttestationOptions {
        image: ImageRef::parse(&args.image).map_err(pare::Error::from)?,
        key: read_key(&args.key)?,
        identity: args.identity.clone(),
        predicate_type: args
            .predicate_type
            .as_deref()
            .map(pare::sign::attest::predicate_type)
            .transpose()?,
        access: access(&args.read)?,
    };
    let report =
        pare::sign::attest::verify_attestations(&options, &TerminalReporter::new(global.quiet))?;
    match args.format {
        TextFormat::Json => crate::output::print_json(&report, VERIFY_ATTESTATION_JSON_SCHEMA)?,
        TextFormat::Human if !global.quiet => {
            say!("{} ({})", report.image, report.digest);
            if report.attestations.is_empty() {
                say!("  no attestations (of that type) under {}", report.tag);
            }
            for a in &report.attestations {
                let kind = a.predicate_type.as_deref().unwrap_or("?");
                match &a.problem {
                    None => say!("  verified  {kind}  {}", a.envelope_digest),
                    Some(problem) => say!("  FAILED    {kind}  {}: {problem}", a.envelope_digest),
                }
            }
        }
        TextFormat::Human => {}
    }
    Ok(if report.verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
