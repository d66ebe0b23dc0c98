//! The `pare` command: parses arguments with clap, turns them into the library's options structs, calls
//! one library function per verb and prints the result. No image logic lives here.

#[macro_use]
mod output;
mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

/// Exit code for a failed policy, gate or lint.
pub const EXIT_POLICY: u8 = 1;
/// Exit code for bad usage or bad input.
pub const EXIT_INPUT: u8 = 2;
/// Exit code for an internal or machine failure.
pub const EXIT_INTERNAL: u8 = 3;

/// Version of the JSON document an error is printed as under `--format json`.
pub const ERROR_JSON_SCHEMA: &str = "pare.error/v1";

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let json = cli.command.wants_json();
    output::set_json_messages(json);
    let result = match &cli.command {
        cli::Command::Build(args) => commands::build::run(args, &cli.global),
        cli::Command::Lock(args) => commands::build::lock(&args.as_build_args(), &cli.global),
        cli::Command::Push(args) => commands::transfer::run(
            commands::transfer::Verb::Push,
            &args.common,
            &args.upload,
            &cli.global,
        ),
        cli::Command::Pull(args) => commands::transfer::run(
            commands::transfer::Verb::Pull,
            &args.common,
            &cli::UploadArgs::default(),
            &cli.global,
        ),
        cli::Command::Audit(args) => commands::audit::run(args, &cli.global),
        cli::Command::Diff(args) => commands::diff::run(args, &cli.global),
        cli::Command::Inventory(args) => commands::inventory::run(args, &cli.global),
        cli::Command::Sbom(args) => commands::sbom::run(args, &cli.global),
        cli::Command::Referrers(args) => commands::referrers::run(args, &cli.global),
        cli::Command::Sign(args) => commands::sign::sign(args, &cli.global),
        cli::Command::Verify(args) => commands::sign::verify(args, &cli.global),
        cli::Command::Attest(args) => commands::sign::attest(args, &cli.global),
        cli::Command::VerifyAttestation(args) => {
            commands::sign::verify_attestation(args, &cli.global)
        }
        cli::Command::Scan(args) => commands::scan::run(args, &cli.global),
        cli::Command::Lint(args) => commands::lint::run(args),
        cli::Command::Init(args) => commands::init::run(args),
        cli::Command::Db(cli::DbCommand::Fetch(args)) => commands::scan::fetch(args),
        cli::Command::Gate(args) => commands::gate::run(args, &cli.global),
        cli::Command::Compare(args) => commands::compare::run(args, &cli.global),
        cli::Command::Slim(args) => commands::slim::run(args, &cli.global),
        cli::Command::InspectBinary(args) => commands::inspect::run(args, &cli.global),
        cli::Command::Copy(args) => commands::transfer::run(
            commands::transfer::Verb::Copy,
            &args.common,
            &args.upload,
            &cli.global,
        ),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let code = exit_code_for(&error);
            let message = output::chain(&error);
            eprintln!("error: {}", output::printable(&message));
            if json {
                // On stdout, where the report would have been, so CI can parse a failure.
                let _ =
                    output::print_json(&error_document(&error, &message, code), ERROR_JSON_SCHEMA);
            }
            ExitCode::from(code)
        }
    }
}

/// What a failure says under `--format json`: `{"error": {"kind", "message", "path", "exit_code"}}`.
fn error_document(error: &anyhow::Error, message: &str, code: u8) -> serde_json::Value {
    let kind = if error.downcast_ref::<commands::UsageError>().is_some() {
        "usage"
    } else {
        match error.downcast_ref::<pare::Error>() {
            Some(pare::Error::Refused(_)) => "refused",
            Some(e) if e.is_input_error() => "input",
            Some(e) if e.is_remote_error() => "remote",
            _ if code == EXIT_INPUT => "input",
            _ => "internal",
        }
    };
    let path = match error.downcast_ref::<pare::Error>() {
        Some(pare::Error::Io { path, .. }) => Some(path.display().to_string()),
        _ => None,
    };
    serde_json::json!({
        "error": {
            "kind": kind,
            "message": message,
            "path": path,
            "exit_code": code,
        }
    })
}

/// Maps an error to pare's exit codes: 2 when the input is at fault, 3 otherwise.
fn exit_code_for(error: &anyhow::Error) -> u8 {
    if let Some(e) = error.downcast_ref::<pare::Error>() {
        if e.is_input_error() || e.is_remote_error() {
            return EXIT_INPUT;
        }
    }
    if error.downcast_ref::<commands::UsageError>().is_some() {
        return EXIT_INPUT;
    }
    EXIT_INTERNAL
}
