//! `pare build`: flags and pare.toml -> `BuildOptions` -> `pare::build::build` -> report.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use pare::build::file;
use pare::build::options::{parse_key_value, Base, BuildOptions, CaBundle, CopySpec};
use pare_oci::compress::Compression;
use pare_oci::image::Platform;
use pare_oci::reference::ImageRef;

use super::UsageError;
use crate::cli::{BuildArgs, GlobalArgs, TextFormat};
use crate::output::{human_bytes, TerminalReporter};

/// Version of the JSON document `pare build --format json` prints.
pub const BUILD_JSON_SCHEMA: &str = "pare.build/v1";

pub fn run(args: &BuildArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let options = options_from(args, true)?;
    let reporter = TerminalReporter::new(global.quiet);
    let report = pare::build::build(&options, &reporter)?;
    match args.format {
        TextFormat::Json => crate::output::print_json(&report, BUILD_JSON_SCHEMA)?,
        TextFormat::Human if !global.quiet => print_human(&report),
        TextFormat::Human => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// Merges pare.toml (if any) and flags into the library's options; flags win.
pub fn options_from(args: &BuildArgs, need_output: bool) -> Result<BuildOptions> {
    let mut options = BuildOptions::default();
    // As cargo finds Cargo.toml: a pare.toml in the current directory is the build file unless -f
    // names another.
    let default_file = Path::new("pare.toml");
    let file = args
        .file
        .clone()
        .or_else(|| default_file.is_file().then(|| default_file.to_path_buf()));
    if let Some(path) = &file {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        file::load(path)?.apply(dir, &mut options)?;
    }
    if let Some(base) = &args.base {
        options.base = Base::parse(base)?;
    }
    for copy in &args.copy {
        options.copies.push(CopySpec::parse(copy)?);
    }
    if !args.entrypoint.is_empty() {
        options.entrypoint = Some(command_words(&args.entrypoint, "--entrypoint")?);
    }
    if !args.cmd.is_empty() {
        options.cmd = Some(command_words(&args.cmd, "--cmd")?);
    }
    for e in &args.env {
        options.env.push(parse_key_value(e, "--env")?);
    }
    for l in &args.label {
        let (k, v) = parse_key_value(l, "--label")?;
        options.labels.insert(k, v);
    }
    for a in &args.annotation {
        let (k, v) = parse_key_value(a, "--annotation")?;
        options.annotations.insert(k, v);
    }
    if args.user.is_some() {
        options.user.clone_from(&args.user);
    }
    if args.workdir.is_some() {
        options.workdir.clone_from(&args.workdir);
    }
    options.expose.extend(args.expose.iter().cloned());
    if args.stop_signal.is_some() {
        options.stop_signal.clone_from(&args.stop_signal);
    }
    options.extra_tags.extend(args.tag.iter().cloned());
    if args.tzdata {
        options.tzdata = true;
    }
    if let Some(dir) = &args.zoneinfo {
        options.zoneinfo_dir.clone_from(dir);
    }
    if let Some(path) = &args.ca_bundle {
        options.ca_bundle = CaBundle::File(path.clone());
    }
    if args.no_ca_certificates {
        options.ca_bundle = CaBundle::Omit;
    }
    if let Some(p) = &args.platform {
        let platforms = p
            .split(',')
            .map(|one| Platform::parse(one.trim()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(pare::Error::from)?;
        options.platform = platforms[0].clone();
        options.platforms = if platforms.len() > 1 {
            platforms
        } else {
            Vec::new()
        };
    }
    if let Some(c) = &args.compression {
        options.compression = Some(Compression::parse(c).ok_or_else(|| {
            UsageError(format!(
                "--compression {c:?} is not one of gzip, zstd, none"
            ))
        })?);
    }
    if let Some(epoch) = &args.source_date_epoch {
        options.source_date_epoch = epoch.trim().parse().map_err(|_| {
            UsageError(format!("SOURCE_DATE_EPOCH / --source-date-epoch {epoch:?} is not a whole number of seconds"))
        })?;
    }
    options.insecure = args.insecure;
    if let Some(creds) = &args.creds {
        options.credentials =
            Some(pare_registry::Credentials::parse(creds).map_err(|e| UsageError(e.to_string()))?);
    }
    if args.no_closure {
        options.closure = false;
    }
    if !args.no_plugin.is_empty() {
        pare::plugins::check_names("--no-plugin", &args.no_plugin)?;
        options.no_plugins.clone_from(&args.no_plugin);
    }
    if !args.plugin.is_empty() {
        pare::plugins::check_names("--plugin", &args.plugin)?;
        options.keep_plugins.clone_from(&args.plugin);
    }
    if let Some(both) = options
        .keep_plugins
        .iter()
        .find(|k| options.no_plugins.contains(k))
    {
        return Err(UsageError(format!(
            "plugin {both} is both kept (--plugin, [image] plugins) and left out (--no-plugin, [image] no_plugins); choose one"
        ))
        .into());
    }
    for root in &args.sysroot {
        match pare::build::split_platform(root, "--sysroot")? {
            (Some(platform), dir) => {
                options.platform_sysroots.retain(|(p, _)| *p != platform);
                options
                    .platform_sysroots
                    .push((platform, std::path::PathBuf::from(dir)));
            }
            (None, dir) => options.sysroot = std::path::PathBuf::from(dir),
        }
    }
    options.bytecode.set(
        args.bytecode.as_deref(),
        &args.bytecode_probe,
        &args.bytecode_http,
        args.bytecode_timeout,
        &pare::build::bytecode::SettingNames {
            which: "--bytecode",
            timeout: "--bytecode-timeout",
        },
    )?;
    if options.bytecode.which != pare::bytecode::Bytecode::Imported
        && !(options.bytecode.probes.is_empty() && options.bytecode.http.is_empty())
    {
        return Err(UsageError(
            "bytecode probes (--bytecode-probe, --bytecode-http, [python] probes/http) only go with \
             bytecode imported"
                .into(),
        )
        .into());
    }
    if args.no_reuse {
        options.reuse_layers = false;
    }
    if let Some(output) = &args.output {
        options.output = Some(ImageRef::parse(output).map_err(pare::Error::from)?);
    }
    for format in &args.sbom {
        let format = super::sbom::format_of(*format);
        if !options.sbom.contains(&format) {
            options.sbom.push(format);
        }
    }
    if let (true, Some(key)) = (args.sign, &args.key) {
        options.sign = Some(pare::build::SignSettings {
            key: super::sign::read_key(key)?,
            identity: args.sign_identity.clone(),
        });
    }
    if file.is_none() || args.lock.is_some() {
        options.packages.lock_file = match &args.lock {
            Some(lock) => lock.clone(),
            None => pare::packages::default_lock_file(None),
        };
    }
    // A lock is written by builds from a pare.toml or with --lock (and by `pare lock`), never by a
    // flag-only build that happens to run next to a project's lock.
    options.packages.write_lock = file.is_some() || args.lock.is_some();
    options.packages.debian.extend(args.package.iter().cloned());
    options.packages.locked |= args.locked;
    options.packages.debug |= args.debug;
    options.packages.keep_copyright |= args.keep_copyright;
    options.packages.allow_insecure |= args.allow_insecure_repositories;
    if let Some(root) = &args.apt_root {
        options.packages.apt_root.clone_from(root);
    }
    if need_output && options.output.is_none() {
        return Err(UsageError(
            "no output: pass --output oci:DIR[:TAG] (or set [build] output in pare.toml)".into(),
        )
        .into());
    }
    Ok(options)
}

/// `pare lock`: the build's recipe and packages (or image base) -> `pare::packages::lock` (or
/// `lock_base`) -> pare.lock, for each platform of the build (one lock per architecture in the
/// file).
pub fn lock(args: &BuildArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let options = options_from(args, false)?;
    let platforms = if options.platforms.is_empty() {
        vec![options.platform.clone()]
    } else {
        options.platforms.clone()
    };
    let reporter = TerminalReporter::new(global.quiet);
    let several = platforms.len() > 1;
    let mut reports = Vec::with_capacity(platforms.len());
    for platform in &platforms {
        let mut options = options.clone();
        options.platform = platform.clone();
        options.platforms.clear();
        let report = lock_one(&options, &reporter)?;
        if args.format != TextFormat::Json && !global.quiet {
            let prefix = if several {
                format!("{platform}: ")
            } else {
                String::new()
            };
            say_lock(&report, &prefix);
        }
        let mut value = serde_json::to_value(&report)?;
        if let (true, Some(map)) = (several, value.as_object_mut()) {
            map.insert("platform".into(), platform.to_string().into());
        }
        reports.push(value);
    }
    if args.format == TextFormat::Json {
        match reports.as_slice() {
            [one] => crate::output::print_json(one, LOCK_JSON_SCHEMA)?,
            _ => crate::output::print_json(
                &serde_json::json!({ "platforms": reports }),
                LOCK_JSON_SCHEMA,
            )?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `pare lock` did for one platform.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum LockOutcome {
    Base(pare::build::base_image::BaseReport),
    Packages(pare::packages::LockReport),
}

/// Locks the image base or the packages of a one-platform build.
fn lock_one(
    options: &pare::build::BuildOptions,
    reporter: &TerminalReporter,
) -> Result<LockOutcome> {
    if let Base::Image { written, reference } = &options.base {
        let mut options = options.clone();
        options.packages.write_lock = true; // writing the lock is what `pare lock` is for
        let report = pare::build::base_image::lock_base(written, reference, &options, reporter)?;
        return Ok(LockOutcome::Base(report));
    }
    let mut packages = options.packages.clone();
    packages.write_lock = true;
    if let Base::Recipe(recipe) = options.base {
        packages.recipe = Some(recipe);
    }
    if !packages.in_use() {
        return Err(UsageError(
            "nothing to lock: choose a Debian recipe base (--base python3, or [image] base in pare.toml) or packages (--package, [packages] debian)".into(),
        )
        .into());
    }
    packages.architecture = pare::packages::debian_architecture(
        &options.platform.architecture,
        options.platform.variant.as_deref(),
    )?;
    let (_, report) = pare::packages::lock(&packages, reporter)?;
    Ok(LockOutcome::Packages(report))
}

/// The human lines of one lock.
fn say_lock(outcome: &LockOutcome, prefix: &str) {
    match outcome {
        LockOutcome::Base(report) => say!(
            "{prefix}{} base {} at {} ({} layers) in {}",
            if report.lock == pare::packages::LockUse::Used {
                "still pinned:"
            } else {
                "pinned"
            },
            report.reference,
            report.digest,
            report.layers,
            report.lock_file
        ),
        LockOutcome::Packages(report) => {
            // The debug layer's packages are locked too but go into an image only with --debug: say
            // so, so this count and the build's "N Debian packages" agree.
            let debug = report.layers.get("debug").copied().unwrap_or(0);
            say!(
                "{prefix}locked {} packages ({} to download) into {}{}",
                report.packages,
                human_bytes(report.download_size),
                report.lock_file,
                if debug > 0 {
                    format!(
                        ": {} for the image, {debug} ({}) only with --debug",
                        report.packages - debug,
                        pare::bases::DEBUG_PACKAGE
                    )
                } else {
                    String::new()
                }
            );
            for (layer, count) in &report.layers {
                say!("  {layer:<10} {count} packages");
            }
            for dropped in &report.dropped {
                say!("  left out: {dropped}");
            }
        }
    }
}

/// Version of the JSON document `pare lock --format json` prints.
pub const LOCK_JSON_SCHEMA: &str = "pare.lock-report/v1";

/// A JSON array (`["/app","serve"]`) or plain words, one per flag.
fn command_words(values: &[String], flag: &str) -> Result<Vec<String>> {
    if let [single] = values {
        if single.trim_start().starts_with('[') {
            return serde_json::from_str::<Vec<String>>(single)
                .with_context(|| {
                    format!("{flag} {single:?} looks like JSON but is not an array of strings")
                })
                .map_err(|e| UsageError(crate::output::chain(&e)).into());
        }
    }
    Ok(values.to_vec())
}

fn print_human(report: &pare::build::BuildReport) {
    if !report.platforms.is_empty() {
        say!("built {} ({})", report.output, report.tags.join(", "));
        say!("  index     {}", report.manifest_digest);
        for image in &report.platforms {
            say!(
                "  {:<14}  {}  {} stored, {} layers",
                image.platform,
                image.manifest_digest,
                human_bytes(image.compressed_size),
                image.layers.len()
            );
        }
        say!(
            "  total     {} stored once for every platform ({} bytes; layers the images share counted once)",
            human_bytes(report.compressed_size),
            report.compressed_size
        );
        return;
    }
    say!("built {} ({})", report.output, report.tags.join(", "));
    say!("  manifest  {}", report.manifest_digest);
    say!("  config    {}", report.config_digest);
    say!("  platform  {}   user {}", report.platform, report.user);
    say!("  layers:");
    for (i, layer) in report.layers.iter().enumerate() {
        say!(
            "    {}  {:>10} stored  {:>10} uncompressed  {:>6} entries  {}{}",
            i + 1,
            human_bytes(layer.size),
            human_bytes(layer.uncompressed_size),
            layer.entries,
            crate::output::shorten(&layer.created_by, crate::output::HISTORY_WIDTH),
            if layer.reused { "  (reused)" } else { "" }
        );
    }
    if !report.libraries.is_empty() {
        say!("  shared libraries added:");
        for lib in &report.libraries {
            say!("    {}  ({})", lib.path, lib.reason);
        }
    }
    if let Some(bytecode) = &report.bytecode {
        say!(
            "  bytecode  {} .pyc files, {} ({}; compiled by {}{})",
            bytecode.files,
            human_bytes(bytecode.bytes),
            match bytecode.which {
                pare::bytecode::Bytecode::All => "every module",
                _ => "the modules the traced run imported",
            },
            crate::output::printable(&bytecode.interpreter),
            if bytecode.skipped > 0 {
                format!("; {} sources would not compile", bytecode.skipped)
            } else {
                String::new()
            }
        );
    }
    for sbom in &report.sbom {
        say!(
            "  sbom      {} ({}) attached as {}",
            sbom.media_type,
            human_bytes(sbom.document_size),
            sbom.manifest_digest
        );
    }
    if let Some(signed) = &report.signed {
        say!(
            "  signed    as {} under {}; attested {}",
            signed.signature.identity,
            signed.signature.tag,
            signed
                .attestations
                .iter()
                .map(|a| a.predicate_type.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(base) = &report.base {
        say!(
            "  base      {} at {} ({} layers reused; {} {})",
            base.reference,
            base.digest,
            base.layers,
            match base.lock {
                pare::packages::LockUse::Used => "pinned by",
                pare::packages::LockUse::Wrote => "pinned into (new)",
                pare::packages::LockUse::Rewrote => "pinned again into",
                pare::packages::LockUse::Unwritten => "not pinned: no lock written to",
            },
            base.lock_file
        );
    }
    if let Some(packages) = &report.packages {
        let how = match packages.lock {
            pare::packages::LockUse::Used => "from",
            pare::packages::LockUse::Wrote => "locked into (new)",
            pare::packages::LockUse::Rewrote => "locked again into",
            pare::packages::LockUse::Unwritten => "resolved now, not written to",
        };
        say!(
            "  packages  {} Debian packages {how} {}",
            packages.installed,
            packages.lock_file
        );
        for p in &packages.provided {
            say!(
                "    {} from the repository: provides {} for {}",
                p.package,
                p.soname,
                p.needed_by
            );
        }
    }
    say!(
        "  total     {} stored ({} bytes), {} uncompressed ({} bytes)",
        human_bytes(report.compressed_size),
        report.compressed_size,
        human_bytes(report.uncompressed_size),
        report.uncompressed_size
    );
}
