//! Layers as planned and written: a planned layer (tree, history line, how hard to compress), the
//! layer groups Debian packages go into, the merged view of planned layers (`view`), and writing a
//! planned image into a layout with reuse of layers it already holds. Shared by `build`, the package
//! layers and ldconfig, so none of them reaches into another. Not here: deciding what goes into a
//! layer (bases, packages, copies) or where the image goes (`crate::image_io`).

pub mod view;

use std::collections::HashMap;

use oci_spec::image::{ImageConfiguration, ImageManifest};
use pare_oci::compress::Compression;
use pare_oci::image::{store_image, ImageLayer, ImageSpec, StoredImage};
use pare_oci::layer::{diff_id, write_layer_at, WrittenLayer};
use pare_oci::layout::Layout;
use pare_oci::tree::LayerTree;

use crate::{Reporter, Result};

/// A layer as planned, before it is written.
pub struct PlannedLayer {
    pub tree: LayerTree,
    /// The history line (`created_by`) that explains the layer.
    pub created_by: String,
    pub comment: Option<String>,
    /// Compress harder: the layer is built once and reused by many builds (Debian package layers).
    pub thorough: bool,
}

/// The layers Debian packages are grouped into, bottom first; the names are those `pare.lock`
/// records for each package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LayerGroup {
    /// base-files, netbase, tzdata, the CA bundle: shared by every recipe.
    Base,
    /// The C and C++ runtime libraries.
    Libraries,
    /// The language runtime (python3, nodejs, the JRE).
    Runtime,
    /// Packages the user asked for.
    Extra,
    /// busybox for `--debug`.
    Debug,
}

impl LayerGroup {
    /// Every group, bottom first.
    pub const ALL: [LayerGroup; 5] = [
        LayerGroup::Base,
        LayerGroup::Libraries,
        LayerGroup::Runtime,
        LayerGroup::Extra,
        LayerGroup::Debug,
    ];

    /// The name in `pare.lock` and in history lines.
    pub fn name(self) -> &'static str {
        match self {
            LayerGroup::Base => "base",
            LayerGroup::Libraries => "libraries",
            LayerGroup::Runtime => "runtime",
            LayerGroup::Extra => "extra",
            LayerGroup::Debug => "debug",
        }
    }

    /// The group a lock names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.name() == name)
    }
}

/// How to write a planned image: its layers, the config and manifest settings, the compression, the
/// file time, and whether layers the layout already holds are reused.
pub struct WriteContext<'a> {
    pub layers: &'a [PlannedLayer],
    pub spec: &'a ImageSpec,
    pub compression: Compression,
    pub mtime: u64,
    pub reuse: bool,
    pub reporter: &'a dyn Reporter,
}

/// Writes every planned layer (in parallel, one job per layer; a layer the layout already holds
/// with the same diff_id and compression is reused after its blob is re-verified), then the config
/// and manifest.
pub fn write_image(
    layout: &Layout,
    cx: &WriteContext<'_>,
) -> Result<(StoredImage, Vec<WrittenLayer>)> {
    let known = if cx.reuse {
        known_layers(layout, cx.reporter)
    } else {
        HashMap::new()
    };
    let total = cx.layers.len();
    let numbered: Vec<(usize, &PlannedLayer)> = cx.layers.iter().enumerate().collect();
    // One job per layer, outside rayon: each layer writer waits for its gzip blocks on the pool.
    let written: Vec<WrittenLayer> =
        crate::parallel::map(&numbered, numbered.len(), |&(i, planned)| {
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
        })?;
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
    // The images the index names, and those of the indexes it names (a multi-platform build's
    // images are listed only by their index).
    let mut candidates: Vec<oci_spec::image::Descriptor> = Vec::new();
    for descriptor in index.manifests() {
        if pare_oci::manifest::is_index_media_type(descriptor.media_type().as_ref()) {
            if let Some(nested) = layout
                .read_blob(descriptor.digest().as_ref(), descriptor.size())
                .ok()
                .and_then(|b| serde_json::from_slice::<oci_spec::image::ImageIndex>(&b).ok())
            {
                candidates.extend(nested.manifests().iter().cloned());
            }
        } else {
            candidates.push(descriptor.clone());
        }
    }
    for descriptor in &candidates {
        // Artifacts hold no layers of their own.
        if !image_manifest_types.contains(&descriptor.media_type().to_string().as_str()) {
            continue;
        }
        // cosign's tag-kept signatures and attestations are no images.
        if descriptor
            .annotations()
            .as_ref()
            .and_then(|a| a.get(pare_oci::layout::REF_NAME))
            .is_some_and(|t| pare_oci::referrer::is_cosign_tag(t))
        {
            continue;
        }
        let digest = descriptor.digest().to_string();
        let Some(manifest) = layout
            .read_blob(&digest, descriptor.size())
            .ok()
            .and_then(|b| serde_json::from_slice::<ImageManifest>(&b).ok())
        else {
            reporter.warn(&format!(
                "skipping unreadable image {digest} in {} for layer reuse",
                layout.root().display()
            ));
            continue;
        };
        // Nor is a referrer (an SBOM, a signature: a manifest with a subject) or any manifest
        // whose config is not an image config.
        let config_type = manifest.config().media_type().to_string();
        if manifest.subject().is_some()
            || !config_type.is_empty()
                && ![
                    "application/vnd.oci.image.config.v1+json",
                    "application/vnd.docker.container.image.v1+json",
                ]
                .contains(&config_type.as_str())
        {
            continue;
        }
        let Some(config) = layout
            .read_blob(
                manifest.config().digest().as_ref(),
                manifest.config().size(),
            )
            .ok()
            .and_then(|c| serde_json::from_slice::<ImageConfiguration>(&c).ok())
        else {
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
