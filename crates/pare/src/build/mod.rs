//! `pare build`: plan the layers (base, time zones, the user's artifacts), check that the image will
//! start, then write the layers in parallel (reusing ones the output layout already holds), the config
//! and the manifest, and tag or export the result. Nothing is written until every input is validated;
//! a failed build into a new layout directory removes it again.

pub mod base_image;
pub mod bytecode;
pub mod checks;
pub mod copy;
pub mod file;
mod index;
pub mod libraries;
pub mod options;

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::ConfigBuilder;
use pare_oci::compress::Compression;
use pare_oci::image::{rfc3339, ImageSpec, StoredImage};
use pare_oci::layer::WrittenLayer;
use pare_oci::reference::ImageRef;
use pare_oci::tree::{normalize_image_path, Entry, LayerTree};
use serde::Serialize;

pub use options::{split_platform, BuildOptions, CaBundle, CopySpec, SignSettings};
use options::{CA_BUNDLE_PATH, DEFAULT_PATH, NONROOT_ID};

use crate::bases::{self, BaseOptions};
use crate::layers::view::ImageView;
use crate::layers::{write_image, PlannedLayer, WriteContext};

use crate::{Error, Reporter, Result};

/// The manifest annotation naming the image a build started from (OCI image spec, annotations).
pub const BASE_NAME_ANNOTATION: &str = "org.opencontainers.image.base.name";
/// The manifest annotation with the digest of the image a build started from.
pub const BASE_DIGEST_ANNOTATION: &str = "org.opencontainers.image.base.digest";

/// One written layer, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct LayerReport {
    pub digest: String,
    pub diff_id: String,
    pub media_type: String,
    /// Compressed (stored) size in bytes.
    pub size: u64,
    pub uncompressed_size: u64,
    pub entries: usize,
    pub created_by: String,
    /// True when the layer was already stored and nothing was compressed.
    pub reused: bool,
}

/// What a build produced.
#[derive(Clone, Debug, Serialize)]
pub struct BuildReport {
    pub output: String,
    pub tags: Vec<String>,
    pub manifest_digest: String,
    pub config_digest: String,
    pub platform: String,
    pub user: String,
    pub layers: Vec<LayerReport>,
    /// Sum of the stored layer sizes (what a pull transfers, less config and manifest).
    pub compressed_size: u64,
    /// Sum of the uncompressed layer sizes.
    pub uncompressed_size: u64,
    /// Files the shared-library closure added, with the reason for each.
    pub libraries: Vec<libraries::AddedLibrary>,
    /// Plugin files the Debian packages brought that nothing in the image can load, left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pruned_plugins: Vec<libraries::PrunedPlugin>,
    /// Debian packages installed from the lock, when the image has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packages: Option<crate::packages::PackageSummary>,
    /// The base image the build started from (`--base docker://…`), when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<base_image::BaseReport>,
    /// The Python bytecode layer (`--bytecode`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytecode: Option<bytecode::BytecodeReport>,
    /// The SBOMs attached to the image (`--sbom`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sbom: Vec<AttachedSbom>,
    /// The signature and attestations made for the image (`--sign`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed: Option<SignedReport>,
    /// For a multi-platform build (`manifest_digest` is then the index's): each platform's image,
    /// as a single-platform build reports it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<BuildReport>,
}

/// What `--sign` made.
#[derive(Clone, Debug, Serialize)]
pub struct SignedReport {
    pub signature: crate::sign::SignReport,
    /// The provenance and SBOM attestations, in that order.
    pub attestations: Vec<crate::sign::attest::AttestReport>,
}

/// An SBOM a build attached to its image as an OCI 1.1 referrer.
#[derive(Clone, Debug, Serialize)]
pub struct AttachedSbom {
    /// `application/spdx+json` or `application/vnd.cyclonedx+json` (the artifact type).
    pub media_type: String,
    /// The artifact manifest's digest (what `pare referrers` lists).
    pub manifest_digest: String,
    /// The document's digest and size.
    pub document_digest: String,
    pub document_size: u64,
}

/// Builds an image as `options` say: one image, or for several platforms one image each in an
/// OCI index.
pub fn build(options: &BuildOptions, reporter: &dyn Reporter) -> Result<BuildReport> {
    match options.platforms.as_slice() {
        [] => build_one(options, reporter),
        [one] => {
            let mut single = options.clone();
            single.platform = one.clone();
            single.platforms.clear();
            build_one(&single, reporter)
        }
        _ => index::build_index(options, reporter),
    }
}

/// The output as the report names it (`oci:DIR`, `docker://REF`, …).
fn output_name(output: &ImageRef) -> String {
    match output {
        ImageRef::Layout { dir, .. } => format!("oci:{}", dir.display()),
        ImageRef::OciArchive { file, .. } => format!("oci-archive:{}", file.display()),
        ImageRef::DockerArchive { file, .. } => format!("docker-archive:{}", file.display()),
        ImageRef::Registry(name) => format!("docker://{name}"),
        ImageRef::DockerDaemon(name) => format!("docker-daemon:{name}"),
    }
}

/// Builds the one image of `options.platform` (copies for other platforms left out).
fn build_one(options: &BuildOptions, reporter: &dyn Reporter) -> Result<BuildReport> {
    let for_others = |c: &CopySpec| c.platform.as_ref().is_some_and(|p| *p != options.platform);
    if options.copies.iter().any(for_others) {
        let mut only = options.clone();
        only.copies.retain(|c| !for_others(c));
        return build_one(&only, reporter);
    }
    let output = options.output.clone().ok_or_else(|| {
        Error::Input("no output given; pass --output oci:DIR[:TAG] (or oci-archive:FILE, docker-archive:FILE:NAME:TAG)".into())
    })?;
    crate::image_io::check_destination(&output, &options.extra_tags)?;
    let attaches = !options.sbom.is_empty() || options.sign.is_some();
    let can_hold = matches!(output, ImageRef::Layout { .. } | ImageRef::Registry(_));
    if attaches && !can_hold {
        return Err(Error::Input(format!(
            "--sbom and --sign attach an SBOM or signature beside the image, which {output} cannot hold; build to oci:DIR or docker://REF (or write the SBOM with `pare sbom IMAGE -o FILE`)"
        )));
    }
    let compression = options.compression.unwrap_or(match output {
        ImageRef::DockerArchive { .. } => Compression::None,
        _ => Compression::Gzip,
    });

    let (mut image_base, base_report) = match &options.base {
        bases::Base::Image { written, reference } => {
            let (base, report) = base_image::pinned_base(written, reference, options, reporter)?;
            (Some(base), Some(report))
        }
        _ => (None, None),
    };
    // Plan every layer against the merged view of the ones below it.
    let (mut layers, mut has_ca) = bases::base_layers(&BaseOptions {
        base: &options.base,
        ca_bundle: &options.ca_bundle,
        host_ca_bundle: &options.host_ca_bundle,
        tzdata: options.tzdata,
        zoneinfo_dir: &options.zoneinfo_dir,
    })?;
    let mut package_options = options.packages.clone();
    let mut package_summary = None;
    let mut pruned_plugins = Vec::new();
    if let bases::Base::Recipe(recipe) = options.base {
        package_options.recipe = Some(recipe);
    }
    if image_base.is_some() && (package_options.in_use() || package_options.debug) {
        return Err(Error::Input(format!(
            "--base {}: Debian packages (--package, [packages], --debug) go only on pare's own bases \
             (static, scratch, the Debian recipes); install them in the base image instead",
            options.base.name()
        )));
    }
    // The copies are known before any package: a copied program's libraries may decide one.
    let mut artifacts = LayerTree::new();
    copy::add_copies(&mut artifacts, &options.copies, reporter)?;
    let inherited = base_image::InheritedConfig::of(image_base.as_ref());
    // The loader's LD_LIBRARY_PATH in the image (the user's --env over the base's), for the closure
    // and the check.
    let ld_library_path = options
        .env
        .iter()
        .rev()
        .chain(inherited.env.iter().rev())
        .find(|(k, _)| k == "LD_LIBRARY_PATH")
        .map(|(_, v)| crate::loader::search_path(v))
        .unwrap_or_default();
    if package_options.in_use() {
        package_options.architecture = crate::packages::debian_architecture(
            &options.platform.architecture,
            options.platform.variant.as_deref(),
        )?;
        let mut planned = plan_packages(&package_options, reporter)?;
        // On a Debian recipe, a library a copied program needs and the image lacks comes from the
        // repository (the package the host's copy belongs to) rather than as a host file.
        if package_options.recipe.is_some() && options.closure && !artifacts.is_empty() {
            let mut below = ImageView::default();
            for layer in layers.iter().chain(&planned.layers) {
                below.apply(&layer.tree)?;
            }
            let wanted = libraries::host_provisions(
                &artifacts,
                &below,
                options.sysroot_for(&options.platform),
                &ld_library_path,
            )?;
            let locked = &planned.summary.provided;
            let new: Vec<_> = wanted
                .into_iter()
                .filter(|w| !locked.iter().any(|p| p.package == w.package))
                .collect();
            if !new.is_empty() {
                let mut with = package_options.clone();
                with.provided.clone_from(locked);
                for p in &new {
                    reporter.step(&format!(
                        "taking {} from the repository: it provides {} for {}",
                        p.package, p.soname, p.needed_by
                    ));
                }
                with.provided.extend(new.iter().cloned());
                match plan_packages(&with, reporter) {
                    Ok(again) => {
                        planned = again;
                        package_options = with;
                    }
                    Err(e) if options.packages.locked => return Err(e),
                    Err(e) => reporter.warn(&format!(
                        "the repository cannot provide {}: {e}; copying the build host's files instead",
                        new.iter()
                            .map(|p| p.package.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
            }
        }
        package_summary = Some(planned.summary);
        let mut package_layers = planned.layers;
        pruned_plugins = libraries::prune_unloaded_plugins(
            &mut package_layers,
            &artifacts,
            &options.keep_plugins,
            &options.no_plugins,
            reporter,
        )?;
        layers.extend(package_layers);
        has_ca |= planned.has_ca;
    } else if package_options.debug {
        return Err(Error::Input(
            "--debug adds busybox from Debian: use it with a Debian recipe base or [packages] debian".into(),
        ));
    }
    let mut view = match &image_base {
        Some(base) => {
            if options.ca_bundle == CaBundle::Omit && base.view.resolve(CA_BUNDLE_PATH).is_ok() {
                return Err(Error::Input(format!(
                    "--no-ca-certificates: the base image {} has a CA bundle at {CA_BUNDLE_PATH}, and a \
                     build on an image adds to it, never removes; choose a base without one",
                    options.base.name()
                )));
            }
            base.view.clone()
        }
        None => ImageView::default(),
    };
    for layer in &mut layers {
        layer.tree.add_parents(&|p| view.get(p).cloned());
        view.apply(&layer.tree)?;
    }
    let workdir = options
        .workdir
        .as_deref()
        .or(inherited.working_dir.as_deref())
        .map(checks::normalize_workdir)
        .transpose()?;
    if let Some(dir) = &workdir {
        let key = normalize_image_path(dir)?;
        if !key.is_empty() && view.get(&key).is_none() && artifacts.get(&key).is_none() {
            artifacts.insert(key, Entry::dir(0o755))?;
        }
    }
    // Runtime settings: the base image's (if any), then pare's defaults, then the user's.
    let mut env: Vec<(String, String)> = inherited.env.clone();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.insert(0, ("PATH".into(), DEFAULT_PATH.into()));
    }
    if has_ca && !env.iter().any(|(k, _)| k == "SSL_CERT_FILE") {
        env.push(("SSL_CERT_FILE".into(), CA_BUNDLE_PATH.into()));
    }
    for (key, value) in &options.env {
        if key.contains('=') || key.is_empty() {
            return Err(Error::Input(format!(
                "environment variable name {key:?} is empty or contains '='"
            )));
        }
        set_var(&mut env, key, value);
    }

    let mut added_libraries = Vec::new();
    if options.closure && !artifacts.is_empty() {
        let (mut tree, added) = libraries::libraries_layer(
            &artifacts,
            &view,
            options.sysroot_for(&options.platform),
            &ld_library_path,
            &options.no_plugins,
            reporter,
        )?;
        if !tree.is_empty() {
            tree.add_parents(&|p| view.get(p).cloned());
            view.apply(&tree)?;
            let programs: std::collections::BTreeSet<&str> = added
                .iter()
                .map(|a| a.program.as_str())
                .filter(|p| !p.is_empty())
                .collect();
            layers.push(PlannedLayer {
                tree,
                created_by: if programs.is_empty() {
                    // Only what glibc reads at run time (/etc/hosts): every library was there.
                    format!(
                        "pare build: files glibc reads at run time ({} paths)",
                        added.len()
                    )
                } else {
                    format!(
                        "pare build: shared libraries for {} ({} paths)",
                        programs.into_iter().collect::<Vec<_>>().join(" "),
                        added.len()
                    )
                },
                comment: Some("loader and libraries, resolved like ld.so".into()),
                thorough: false,
            });
        }
        added_libraries = added;
    }
    if !artifacts.is_empty() {
        artifacts.add_parents(&|p| view.get(p).cloned());
        view.apply(&artifacts)
            .map_err(|e| Error::Input(format!("the copies do not fit on the base: {e}")))?;
        layers.push(PlannedLayer {
            tree: artifacts,
            created_by: describe_copies(&options.copies),
            comment: None,
            thorough: false,
        });
    }

    // Then the guard rails. A new entrypoint drops the base's cmd, as Docker's ENTRYPOINT does.
    let (mut entrypoint, mut cmd) = match (&options.entrypoint, &options.cmd) {
        (Some(entrypoint), cmd) => (Some(entrypoint.clone()), cmd.clone()),
        (None, Some(cmd)) => (inherited.entrypoint.clone(), Some(cmd.clone())),
        (None, None) => (inherited.entrypoint.clone(), inherited.cmd.clone()),
    };
    if package_options.debug {
        if let Some((_, path)) = env.iter_mut().find(|(k, _)| k == "PATH") {
            path.push_str(":/busybox");
        }
        entrypoint = Some(vec!["/busybox/sh".to_string()]);
        cmd = None;
    }
    let user = options
        .user
        .clone()
        .or(inherited.user.clone())
        .unwrap_or_else(|| format!("{NONROOT_ID}:{NONROOT_ID}"));
    let run_as = checks::resolve_user(&view, &user)?;
    if run_as.uid == 0 {
        reporter.warn("the image runs as root (uid 0); a compromised process then owns the container. Drop --user to run as 65532:65532 (nonroot)");
    }
    let program = entrypoint
        .as_ref()
        .filter(|e| !e.is_empty())
        .or(cmd.as_ref().filter(|c| !c.is_empty()))
        .and_then(|v| v.first());
    match program {
        Some(program) => {
            let path_env = env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map_or("", |(_, v)| v.as_str());
            checks::check_program(
                &view,
                program,
                path_env,
                workdir.as_deref().unwrap_or(""),
                &ld_library_path,
                run_as,
                &options.platform,
                reporter,
            )?;
        }
        None => reporter
            .warn("the image has no entrypoint and no cmd; `docker run` will need a command"),
    }
    let mut exposed = inherited.exposed_ports.clone();
    for port in &options.expose {
        let port = checks::normalize_port(port)?;
        if !exposed.contains(&port) {
            exposed.push(port);
        }
    }
    let stop_signal = options
        .stop_signal
        .clone()
        .or(inherited.stop_signal.clone());
    if let Some(signal) = &options.stop_signal {
        checks::check_stop_signal(signal)?;
    }
    let mut labels = inherited.labels.clone();
    labels.extend(options.labels.clone());
    let mut annotations = options.annotations.clone();
    if let Some(base) = &image_base {
        annotations
            .entry(BASE_DIGEST_ANNOTATION.into())
            .or_insert_with(|| base.digest.clone());
        if let Some(name) = base.public_name() {
            annotations
                .entry(BASE_NAME_ANNOTATION.into())
                .or_insert(name);
        }
    }
    for key in options.annotations.keys().chain(options.labels.keys()) {
        if key.is_empty() {
            return Err(Error::Input(
                "a label or annotation has an empty key".into(),
            ));
        }
    }

    let mut config = ConfigBuilder::default().user(run_as.config_value()).env(
        env.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
    );
    if let Some(entrypoint) = entrypoint {
        config = config.entrypoint(entrypoint);
    }
    if let Some(cmd) = cmd {
        config = config.cmd(cmd);
    }
    if let Some(dir) = &workdir {
        config = config.working_dir(dir.clone());
    }
    if !labels.is_empty() {
        config = config.labels(labels.into_iter().collect::<HashMap<_, _>>());
    }
    if !exposed.is_empty() {
        config = config.exposed_ports(exposed);
    }
    if let Some(signal) = stop_signal {
        config = config.stop_signal(signal);
    }
    if !inherited.volumes.is_empty() {
        config = config.volumes(inherited.volumes.clone());
    }
    let config = config
        .build()
        .map_err(|e| Error::Input(format!("image config: {e}")))?;
    let spec = ImageSpec {
        platform: options.platform.clone(),
        created: rfc3339(options.source_date_epoch),
        config,
        annotations,
        inherited: image_base
            .as_ref()
            .map(|b| b.inherited.clone())
            .unwrap_or_default(),
    };

    // The bytecode layer goes on top; its files live in `_bytecode_scratch` until written.
    let mut bytecode_report = None;
    let _bytecode_scratch = match bytecode::bytecode_layer(
        &layers,
        &spec,
        image_base.as_ref(),
        &options.bytecode,
        reporter,
    )? {
        Some((layer, report, scratch)) => {
            if !layer.tree.is_empty() {
                let mut tree = layer.tree;
                tree.add_parents(&|p| view.get(p).cloned());
                layers.push(PlannedLayer { tree, ..layer });
            }
            bytecode_report = Some(report);
            Some(scratch)
        }
        None => None,
    };
    let context = WriteContext {
        layers: &layers,
        spec: &spec,
        compression,
        mtime: options.source_date_epoch,
        reuse: options.reuse_layers,
        reporter,
    };
    if let Some(base) = &mut image_base {
        base.release_for(&output);
    }
    let (stored, written, sbom) = write_to(&output, &context, options, image_base.as_ref())?;
    let signed = match &options.sign {
        Some(settings) => {
            let bases: Vec<_> = base_report.iter().map(|b| (None, b)).collect();
            let provenance = provenance(options, &bases, package_summary.as_ref())?;
            Some(sign_build(
                &output,
                settings,
                options,
                None,
                provenance,
                &options.sbom,
                reporter,
            )?)
        }
        None => None,
    };
    let tags = crate::image_io::destination_names(&output, &options.extra_tags);
    let layer_reports: Vec<LayerReport> = written
        .iter()
        .zip(&layers)
        .map(|(w, planned)| LayerReport {
            digest: w.digest.clone(),
            diff_id: w.diff_id.clone(),
            media_type: w.media_type().to_string(),
            size: w.size,
            uncompressed_size: w.uncompressed_size,
            entries: planned.tree.len(),
            created_by: planned.created_by.clone(),
            reused: w.reused,
        })
        .collect();
    Ok(BuildReport {
        output: output_name(&output),
        tags,
        manifest_digest: stored.manifest.digest().to_string(),
        config_digest: stored.config_digest,
        platform: options.platform.to_string(),
        user: run_as.config_value(),
        compressed_size: layer_reports.iter().map(|l| l.size).sum(),
        uncompressed_size: layer_reports.iter().map(|l| l.uncompressed_size).sum(),
        layers: layer_reports,
        libraries: added_libraries,
        pruned_plugins,
        packages: package_summary,
        base: base_report,
        bytecode: bytecode_report,
        sbom,
        signed,
        platforms: Vec::new(),
    })
}

/// Signs the image (or index) a build wrote at `output` and attests its SLSA v1 `provenance` and
/// the SBOM attached in each of `sboms`' formats (`--sign`): what `pare sign` and `pare attest`
/// would do, in one go. `platform` picks one image of an index there.
pub(super) fn sign_build(
    output: &ImageRef,
    settings: &SignSettings,
    options: &BuildOptions,
    platform: Option<&pare_oci::image::Platform>,
    provenance: serde_json::Value,
    sboms: &[crate::sbom::SbomFormat],
    reporter: &dyn Reporter,
) -> Result<SignedReport> {
    let access = crate::image_io::Access {
        insecure: options.insecure,
        credentials: options.credentials.clone(),
        platform: platform.cloned(),
        ..crate::image_io::Access::default()
    };
    reporter.step(&match platform {
        Some(p) => format!("signing the {p} image"),
        None => "signing the image".to_string(),
    });
    let signature = crate::sign::sign(
        &crate::sign::SignOptions {
            image: output.clone(),
            key: settings.key.clone(),
            identity: settings.identity.clone(),
            annotations: BTreeMap::new(),
            access: access.clone(),
        },
        reporter,
    )?;
    let attest = |predicate_type: &str, predicate: serde_json::Value| {
        crate::sign::attest::attest(
            &crate::sign::attest::AttestOptions {
                image: output.clone(),
                key: settings.key.clone(),
                identity: settings.identity.clone(),
                predicate_type: predicate_type.to_string(),
                predicate,
                access: access.clone(),
            },
            reporter,
        )
    };
    let mut attestations = vec![attest("https://slsa.dev/provenance/v1", provenance)?];
    for format in sboms {
        let document = crate::sbom::attached(output, &access, *format, reporter)?;
        let predicate: serde_json::Value = serde_json::from_slice(&document)
            .map_err(|e| Error::Input(format!("the attached SBOM is not JSON: {e}")))?;
        let predicate_type = match format {
            crate::sbom::SbomFormat::SpdxJson => "https://spdx.dev/Document",
            crate::sbom::SbomFormat::CycloneDxJson => "https://cyclonedx.org/bom",
        };
        attestations.push(attest(predicate_type, predicate)?);
    }
    Ok(SignedReport {
        signature,
        attestations,
    })
}

/// The SLSA v1 provenance of a build: the request (base, entrypoint, copies by destination,
/// packages, platforms, output), and the digests of what it resolved: the base image (for each
/// platform of an index, named with it), pare.lock, and every file copied in (named
/// `copy:<path in the image>`, with ` (OS/ARCH)` for a copy for one platform, so no host path is
/// written).
pub(super) fn provenance(
    options: &BuildOptions,
    bases: &[(Option<&pare_oci::image::Platform>, &base_image::BaseReport)],
    packages: Option<&crate::packages::PackageSummary>,
) -> Result<serde_json::Value> {
    use sha2::Digest as _;
    let mut dependencies: BTreeMap<String, String> = BTreeMap::new();
    let hash_file = |path: &std::path::Path| -> Result<String> {
        let mut file = std::fs::File::open(path).map_err(Error::io("read", path))?;
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut file, &mut hasher).map_err(Error::io("read", path))?;
        Ok(hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    };
    for copy in &options.copies {
        let for_platform = copy
            .platform
            .as_ref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        if copy.src.is_dir() {
            for entry in walkdir::WalkDir::new(&copy.src).sort_by_file_name() {
                let entry =
                    entry.map_err(|e| Error::Input(format!("read {}: {e}", copy.src.display())))?;
                if entry.file_type().is_file() {
                    let rel = entry
                        .path()
                        .strip_prefix(&copy.src)
                        .unwrap_or(entry.path())
                        .to_string_lossy()
                        .into_owned();
                    let name = format!(
                        "copy:{}/{rel}{for_platform}",
                        copy.dst.trim_end_matches('/')
                    );
                    dependencies.insert(name, hash_file(entry.path())?);
                }
            }
        } else if copy.src.is_file() {
            dependencies.insert(
                format!("copy:{}{for_platform}", copy.dst),
                hash_file(&copy.src)?,
            );
        }
    }
    for (platform, base) in bases {
        if let Some(hex) = pare_oci::digest::sha256_hex(&base.digest) {
            let name = match platform {
                Some(p) => format!("base:{} ({p})", base.reference),
                None => format!("base:{}", base.reference),
            };
            dependencies.insert(name, hex.to_string());
        }
    }
    if let Some(summary) = packages {
        let lock = std::path::Path::new(&summary.lock_file);
        if lock.is_file() {
            dependencies.insert("pare.lock".into(), hash_file(lock)?);
        }
    }
    let external = serde_json::json!({
        "base": options.base.name(),
        "entrypoint": options.entrypoint,
        "cmd": options.cmd,
        "copies": options.copies.iter().map(|c| &c.dst).collect::<Vec<_>>(),
        "packages": packages.map(|p| &p.packages),
        "platform": match options.platforms.as_slice() {
            [] => options.platform.to_string(),
            several => several.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        },
        "user": options.user,
        "sourceDateEpoch": options.source_date_epoch,
    });
    Ok(crate::sign::attest::slsa_provenance(
        external,
        &dependencies,
        options.source_date_epoch,
    ))
}

/// Sets `key` in an environment list: replaces its value where it is, else appends it.
pub(crate) fn set_var(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    }
}

/// The package layers of a build and what the report says of them.
struct PlannedPackages {
    layers: Vec<PlannedLayer>,
    has_ca: bool,
    summary: crate::packages::PackageSummary,
}

/// Locks (or reads the lock of) `options` and plans its package layers.
fn plan_packages(
    options: &crate::packages::PackageOptions,
    reporter: &dyn Reporter,
) -> Result<PlannedPackages> {
    let (lock, how) = crate::packages::lock_for_build(options, reporter)?;
    let summary = crate::packages::PackageSummary::of(&lock, how, options);
    let mut static_files = LayerTree::new();
    if options.recipe.is_some() {
        bases::add_static_files(&mut static_files, false)?;
    }
    let (layers, has_ca) = crate::packages::package_layers(&lock, options, static_files, reporter)?;
    Ok(PlannedPackages {
        layers,
        has_ca,
        summary,
    })
}

/// Assembles the image in the layout image I/O gives for `output` (the output layout itself, or a
/// staging one), attaches the SBOMs asked for, and sends it there.
fn write_to(
    output: &ImageRef,
    cx: &WriteContext<'_>,
    options: &BuildOptions,
    base: Option<&base_image::ImageBase>,
) -> Result<(StoredImage, Vec<WrittenLayer>, Vec<AttachedSbom>)> {
    let assembly = crate::image_io::assembly_for(output)?;
    let carried = match base {
        Some(base) => base.carry_into(&assembly.layout),
        None => Ok(()),
    };
    let written = carried.and_then(|()| write_image(&assembly.layout, cx));
    let (stored, written) = match written {
        Ok(done) => done,
        Err(e) => {
            assembly.discard();
            return Err(e);
        }
    };
    let access = crate::image_io::Access {
        insecure: options.insecure,
        credentials: options.credentials.clone(),
        ..crate::image_io::Access::default()
    };
    let mut report = crate::image_io::IoReport::default();
    let mut attached = Vec::new();
    let name = options
        .sbom_name
        .clone()
        .unwrap_or_else(|| crate::sbom::default_name(output));
    let mut attach_sboms = |image: &mut crate::image_io::OpenedImage| -> Result<()> {
        for format in &options.sbom {
            let sbom_options = crate::sbom::SbomOptions {
                format: *format,
                name: None,
                created: None,
            };
            cx.reporter
                .step(&format!("attaching an SBOM ({})", format.media_type()));
            let artifact = crate::sbom::artifact(image, &name, &sbom_options, cx.reporter)?;
            let referrer = image.attach(&artifact)?;
            attached.push(AttachedSbom {
                media_type: artifact.media_type.clone(),
                manifest_digest: referrer.descriptor.digest().to_string(),
                document_digest: pare_oci::digest::sha256_digest(&artifact.content),
                document_size: artifact.content.len() as u64,
            });
        }
        Ok(())
    };
    assembly.finish(
        &stored.manifest,
        &mut attach_sboms,
        output,
        &options.extra_tags,
        &access,
        cx.reporter,
        &mut report,
    )?;
    Ok((stored, written, attached))
}

fn describe_copies(copies: &[CopySpec]) -> String {
    let mut dsts: BTreeMap<&str, ()> = BTreeMap::new();
    for c in copies {
        dsts.insert(c.dst.as_str(), ());
    }
    if dsts.is_empty() {
        "pare build: workdir".into()
    } else {
        format!(
            "pare build: copy to {}",
            dsts.keys().copied().collect::<Vec<_>>().join(" ")
        )
    }
}
