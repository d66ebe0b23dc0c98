//! `pare build`: plan the layers (base, time zones, the user's artifacts), check that the image will
//! start, then write the layers in parallel (reusing ones the output layout already holds), the config
//! and the manifest, and tag or export the result. Nothing is written until every input is validated;
//! a failed build into a new layout directory removes it again.

pub mod base;
pub mod checks;
pub mod copy;
pub mod file;
pub mod libraries;
pub mod options;
pub mod view;

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{ConfigBuilder, ImageConfiguration, ImageManifest};
use pare_oci::compress::Compression;
use pare_oci::image::{rfc3339, store_image, ImageLayer, ImageSpec, StoredImage};
use pare_oci::layer::{diff_id, write_layer_at, WrittenLayer};
use pare_oci::layout::Layout;
use pare_oci::reference::ImageRef;
use pare_oci::tree::{normalize_image_path, Entry, LayerTree};
use serde::Serialize;

pub use options::{BuildOptions, CaBundle, CopySpec};
use options::{CA_BUNDLE_PATH, DEFAULT_PATH, NONROOT_ID};
use view::ImageView;

use crate::{Error, Reporter, Result};

/// A layer as planned, before it is written.
pub struct PlannedLayer {
    pub tree: LayerTree,
    /// The history line (`created_by`) that explains the layer.
    pub created_by: String,
    pub comment: Option<String>,
    /// Compress harder: the layer is built once and reused by many builds (Debian package layers).
    pub thorough: bool,
}

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
    /// Debian packages installed from the lock, when the image has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packages: Option<crate::packages::PackageSummary>,
}

/// Builds an image as `options` say.
pub fn build(options: &BuildOptions, reporter: &dyn Reporter) -> Result<BuildReport> {
    let output = options.output.clone().ok_or_else(|| {
        Error::Input("no output given; pass --output oci:DIR[:TAG] (or oci-archive:FILE, docker-archive:FILE:NAME:TAG)".into())
    })?;
    crate::image_io::check_destination(&output, &options.extra_tags)?;
    let compression = options.compression.unwrap_or(match output {
        ImageRef::DockerArchive { .. } => Compression::None,
        _ => Compression::Gzip,
    });

    // Plan every layer against the merged view of the ones below it.
    let (mut layers, mut has_ca) = base::base_layers(options)?;
    let mut package_options = options.packages.clone();
    let mut package_summary = None;
    if let options::Base::Recipe(recipe) = options.base {
        package_options.recipe = Some(recipe);
    }
    if package_options.in_use() {
        package_options.architecture = crate::packages::debian_architecture(
            &options.platform.architecture,
            options.platform.variant.as_deref(),
        )?;
        let lock = crate::packages::lock_for_build(&package_options, reporter)?;
        package_summary = Some(crate::packages::PackageSummary::of(&lock, &package_options));
        let mut static_files = LayerTree::new();
        if package_options.recipe.is_some() {
            base::add_static_files(&mut static_files, false)?;
        }
        let (package_layers, package_ca) =
            crate::packages::package_layers(&lock, &package_options, static_files, reporter)?;
        layers.extend(package_layers);
        has_ca |= package_ca;
    } else if package_options.debug {
        return Err(Error::Input(
            "--debug adds busybox from Debian: use it with a Debian recipe base or [packages] debian".into(),
        ));
    }
    let mut view = ImageView::default();
    for layer in &mut layers {
        layer.tree.add_parents(&|p| view.get(p).cloned());
        view.apply(&layer.tree)?;
    }
    let mut artifacts = LayerTree::new();
    copy::add_copies(&mut artifacts, &options.copies, reporter)?;
    let workdir = options
        .workdir
        .as_deref()
        .map(checks::normalize_workdir)
        .transpose()?;
    if let Some(dir) = &workdir {
        let key = normalize_image_path(dir)?;
        if !key.is_empty() && view.get(&key).is_none() && artifacts.get(&key).is_none() {
            artifacts.insert(key, Entry::dir(0o755))?;
        }
    }
    let mut added_libraries = Vec::new();
    if options.closure && !artifacts.is_empty() {
        let ld_library_path: Vec<String> = options
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "LD_LIBRARY_PATH")
            .map(|(_, v)| {
                v.split(':')
                    .filter(|d| !d.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let (mut tree, added) = libraries::libraries_layer(
            &artifacts,
            &view,
            &options.sysroot,
            &ld_library_path,
            reporter,
        )?;
        if !tree.is_empty() {
            tree.add_parents(&|p| view.get(p).cloned());
            view.apply(&tree)?;
            let programs: std::collections::BTreeSet<&str> = added
                .iter()
                .filter_map(|a| {
                    a.reason
                        .strip_prefix("needed by ")
                        .or_else(|| a.reason.strip_prefix("dynamic loader of "))
                })
                .map(|r| r.split(' ').next().unwrap_or(r))
                .collect();
            layers.push(PlannedLayer {
                tree,
                created_by: format!(
                    "pare build: shared libraries for {} ({} paths)",
                    programs.into_iter().collect::<Vec<_>>().join(" "),
                    added.len()
                ),
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

    // Runtime settings, then the guard rails.
    let mut env: Vec<(String, String)> = vec![("PATH".into(), DEFAULT_PATH.into())];
    if has_ca {
        env.push(("SSL_CERT_FILE".into(), CA_BUNDLE_PATH.into()));
    }
    for (key, value) in &options.env {
        if key.contains('=') || key.is_empty() {
            return Err(Error::Input(format!(
                "environment variable name {key:?} is empty or contains '='"
            )));
        }
        match env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.clone(),
            None => env.push((key.clone(), value.clone())),
        }
    }
    let mut entrypoint = options.entrypoint.clone();
    let mut cmd = options.cmd.clone();
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
                run_as,
                &options.platform,
                reporter,
            )?;
        }
        None => reporter
            .warn("the image has no entrypoint and no cmd; `docker run` will need a command"),
    }
    let exposed = options
        .expose
        .iter()
        .map(|p| checks::normalize_port(p))
        .collect::<Result<Vec<_>>>()?;
    if let Some(signal) = &options.stop_signal {
        checks::check_stop_signal(signal)?;
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
    if !options.labels.is_empty() {
        config = config.labels(
            options
                .labels
                .clone()
                .into_iter()
                .collect::<HashMap<_, _>>(),
        );
    }
    if !exposed.is_empty() {
        config = config.exposed_ports(exposed);
    }
    if let Some(signal) = &options.stop_signal {
        config = config.stop_signal(signal.clone());
    }
    let config = config
        .build()
        .map_err(|e| Error::Input(format!("image config: {e}")))?;
    let spec = ImageSpec {
        platform: options.platform.clone(),
        created: rfc3339(options.source_date_epoch),
        config,
        annotations: options.annotations.clone(),
    };

    let context = WriteContext {
        layers: &layers,
        spec: &spec,
        compression,
        mtime: options.source_date_epoch,
        reuse: options.reuse_layers,
        reporter,
    };
    let (stored, written) = write_to(&output, &context, options)?;
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
        output: match &output {
            ImageRef::Layout { dir, .. } => format!("oci:{}", dir.display()),
            ImageRef::OciArchive { file, .. } => format!("oci-archive:{}", file.display()),
            ImageRef::DockerArchive { file, .. } => format!("docker-archive:{}", file.display()),
            ImageRef::Registry(name) => format!("docker://{name}"),
        },
        tags,
        manifest_digest: stored.manifest.digest().to_string(),
        config_digest: stored.config_digest,
        platform: options.platform.to_string(),
        user: run_as.config_value(),
        compressed_size: layer_reports.iter().map(|l| l.size).sum(),
        uncompressed_size: layer_reports.iter().map(|l| l.uncompressed_size).sum(),
        layers: layer_reports,
        libraries: added_libraries,
        packages: package_summary,
    })
}

struct WriteContext<'a> {
    layers: &'a [PlannedLayer],
    spec: &'a ImageSpec,
    compression: Compression,
    mtime: u64,
    reuse: bool,
    reporter: &'a dyn Reporter,
}

/// Assembles the image in the layout image I/O gives for `output` (the output layout itself, or a
/// staging one) and sends it there.
fn write_to(
    output: &ImageRef,
    cx: &WriteContext<'_>,
    options: &BuildOptions,
) -> Result<(StoredImage, Vec<WrittenLayer>)> {
    let assembly = crate::image_io::assembly_for(output)?;
    let (stored, written) = match write_image(&assembly.layout, cx) {
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
    assembly.finish(
        &stored.manifest,
        output,
        &options.extra_tags,
        &access,
        cx.reporter,
        &mut report,
    )?;
    Ok((stored, written))
}

fn write_image(layout: &Layout, cx: &WriteContext<'_>) -> Result<(StoredImage, Vec<WrittenLayer>)> {
    let known = if cx.reuse {
        known_layers(layout, cx.reporter)
    } else {
        HashMap::new()
    };
    let total = cx.layers.len();
    let written: Vec<Result<WrittenLayer>> = std::thread::scope(|scope| {
        let handles: Vec<_> = cx
            .layers
            .iter()
            .enumerate()
            .map(|(i, planned)| {
                let known = &known;
                scope.spawn(move || -> Result<WrittenLayer> {
                    if !known.is_empty() {
                        let (diff, uncompressed_size) = diff_id(&planned.tree, cx.mtime)?;
                        if let Some((digest, size)) = known.get(&(diff.clone(), cx.compression)) {
                            if layout.has_valid_blob(digest, *size) {
                                cx.reporter
                                    .step(&format!("layer {}/{total}: reused {digest}", i + 1));
                                return Ok(WrittenLayer {
                                    digest: digest.clone(),
                                    diff_id: diff,
                                    size: *size,
                                    uncompressed_size,
                                    compression: cx.compression,
                                    reused: true,
                                });
                            }
                        }
                    }
                    cx.reporter.step(&format!(
                        "layer {}/{total}: writing {} entries ({})",
                        i + 1,
                        planned.tree.len(),
                        cx.compression.name()
                    ));
                    let level = if planned.thorough {
                        pare_oci::compress::GZIP_LEVEL_THOROUGH
                    } else {
                        pare_oci::compress::GZIP_LEVEL
                    };
                    Ok(write_layer_at(
                        &planned.tree,
                        cx.mtime,
                        cx.compression,
                        level,
                        layout,
                    )?)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Input("a layer writer thread panicked".into())))
            })
            .collect()
    });
    let written: Vec<WrittenLayer> = written.into_iter().collect::<Result<_>>()?;
    let image_layers: Vec<ImageLayer> = written
        .iter()
        .zip(cx.layers)
        .map(|(w, p)| ImageLayer {
            layer: w.clone(),
            created_by: p.created_by.clone(),
            comment: p.comment.clone(),
        })
        .collect();
    let stored = store_image(layout, cx.spec, &image_layers)?;
    Ok((stored, written))
}

/// Layers the layout already holds, by (diff_id, compression) -> (digest, size), read from the configs
/// and manifests its index names. An unreadable image is skipped with a warning, never trusted.
fn known_layers(
    layout: &Layout,
    reporter: &dyn Reporter,
) -> HashMap<(String, Compression), (String, u64)> {
    let mut known = HashMap::new();
    let Ok(index) = layout.read_index() else {
        return known;
    };
    let image_manifest_types = [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ];
    for descriptor in index.manifests() {
        // Indexes and other artifacts hold no layers of their own.
        if !image_manifest_types.contains(&descriptor.media_type().to_string().as_str()) {
            continue;
        }
        let digest = descriptor.digest().to_string();
        let parsed = layout
            .read_blob(&digest, descriptor.size())
            .ok()
            .and_then(|b| serde_json::from_slice::<ImageManifest>(&b).ok())
            .and_then(|m| {
                let config = layout
                    .read_blob(m.config().digest().as_ref(), m.config().size())
                    .ok()?;
                let config: ImageConfiguration = serde_json::from_slice(&config).ok()?;
                Some((m, config))
            });
        let Some((manifest, config)) = parsed else {
            reporter.warn(&format!(
                "skipping unreadable image {digest} in {} for layer reuse",
                layout.root().display()
            ));
            continue;
        };
        for (layer, diff) in manifest.layers().iter().zip(config.rootfs().diff_ids()) {
            let compression = match layer.media_type().to_string().as_str() {
                "application/vnd.oci.image.layer.v1.tar+gzip" => Compression::Gzip,
                "application/vnd.oci.image.layer.v1.tar+zstd" => Compression::Zstd,
                "application/vnd.oci.image.layer.v1.tar" => Compression::None,
                _ => continue,
            };
            known.insert(
                (diff.clone(), compression),
                (layer.digest().to_string(), layer.size()),
            );
        }
    }
    known
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
