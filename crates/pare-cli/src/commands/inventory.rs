//! `pare inventory`: a reference -> `pare::inventory::inventory` -> text or JSON.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use pare::inventory::{inventory, Inventory};
use pare_oci::reference::ImageRef;

use super::access;
use crate::cli::{GlobalArgs, InventoryArgs, TextFormat};
use crate::output::{human_bytes, print_json, TerminalReporter};

/// Version of `pare inventory --format json`.
pub const INVENTORY_JSON_SCHEMA: &str = "pare.inventory/v1";

pub fn run(args: &InventoryArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let reference = ImageRef::parse(&args.image).map_err(pare::Error::from)?;
    let report = inventory(
        &reference,
        &access(&args.read)?,
        &TerminalReporter::new(global.quiet),
    )?;
    match args.format {
        TextFormat::Json => print_json(&report, INVENTORY_JSON_SCHEMA)?,
        TextFormat::Human => print_human(&report),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(r: &Inventory) {
    say!("{} ({})", r.image, r.manifest_digest);
    let os =
        r.os.as_ref()
            .and_then(|o| o.pretty_name.clone().or_else(|| o.id.clone()))
            .unwrap_or_else(|| "unknown".into());
    let libc = r.libc.as_ref().map_or("none found".to_string(), |l| {
        format!(
            "{} {} ({})",
            l.kind,
            l.version.as_deref().unwrap_or("?"),
            l.evidence
        )
    });
    say!("  os {os}   libc {libc}");
    let mut by_manager: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &r.packages {
        *by_manager.entry(p.manager).or_default() += 1;
    }
    let counts: Vec<String> = by_manager.iter().map(|(m, n)| format!("{n} {m}")).collect();
    say!(
        "  packages: {}",
        if counts.is_empty() {
            "none".to_string()
        } else {
            counts.join(", ")
        }
    );
    for p in &r.packages {
        say!(
            "    {:<6} {:<40} {:<24} {:>10}  {}",
            p.manager,
            p.name,
            p.version,
            human_bytes(p.file_bytes),
            p.purl
        );
    }
    say!("  ELF binaries: {}", r.binaries.len());
    for b in r.binaries.iter().filter(|b| b.executable) {
        say!(
            "    {:<40} {:>10}  {:?}{}",
            b.path,
            human_bytes(b.size),
            b.linkage,
            b.interpreter
                .as_deref()
                .map(|i| format!(", loader {i}"))
                .unwrap_or_default()
        );
    }
    for note in &r.notes {
        say!("  note: {note}");
    }
}
