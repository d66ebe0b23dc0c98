//! Building on an image someone else made (`--base oci:DIR[:TAG]`, `oci-archive:`, `docker-archive:`,
//! `docker://REF[@DIGEST]`): the image is opened through image I/O for the build's platform, its layers
//! are kept as the blobs they are (never recompressed: the built image shares their digests), its
//! history and runtime config are handed to the build to inherit, and its merged file tree is read
//! once, whiteouts applied, so the build's checks and the library closure see the base's files. Not
//! here: merging the config with the flags or pinning the digest in pare.lock (`crate::build`).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use oci_spec::image::{Config, Descriptor, MediaType};
use pare_oci::image::{Inherited, Platform};
use pare_oci::read::{FileKind, LayerEvent};
use pare_oci::reference::ImageRef;
use pare_oci::tree::{Entry, EntryKind, FileSource, LayerTree};
use serde_json::Value;

use crate::contents::{read_opened, Observer};
use crate::image_io::{open, Access, IoReport, OpenedImage, Purpose};
use crate::layers::view::ImageView;
use crate::{Error, Reporter, Result};

/// The largest part of one base file pare keeps for its checks (the loader, ELF headers, scripts'
/// first line, passwd); bigger files are kept up to this size, which every check reads within.
const MAX_KEPT_FILE: u64 = 1 << 30;

/// A base image, opened and read.
pub struct ImageBase {
    /// The reference as the user gave it (`docker://127.0.0.1:5000/base:1`).
    pub reference: ImageRef,
    /// The image, its blobs in a layout (the user's own for `oci:`, a staging one otherwise); None
    /// once [`ImageBase::release_for`] let go of the user's layout for a build into it.
    image: Option<OpenedImage>,
    /// The config and layer blobs of the image, as (digest, size).
    blobs: Vec<(String, u64)>,
    /// The digest of its image manifest (for the build's platform).
    pub digest: String,
    /// Its platform, from its config.
    pub platform: Platform,
    /// Its layers (in OCI media types) and history, for the built image.
    pub inherited: Inherited,
    /// Its runtime config (Env, User, Entrypoint, ...), if it has one.
    pub config: Option<Config>,
    /// Its merged file tree; regular files read from `files`.
    pub view: ImageView,
    _files: (tempfile::TempDir, pare_oci::layout::Layout),
}

impl ImageBase {
    /// Lets go of the base's layout (and its shared lock) when the build writes into that same
    /// layout, so the build can lock it: the base's files were read already, and its blobs stay
    /// where they are.
    pub fn release_for(&mut self, output: &ImageRef) {
        if let (Some(image), ImageRef::Layout { dir, .. }) = (&self.image, output) {
            if crate::image_io::same_dir(image.layout.root(), dir) {
                self.image = None;
            }
        }
    }

    /// Puts the base's blobs into `layout` (those it lacks); for a released base, checks that the
    /// layout still holds them.
    pub fn carry_into(&self, layout: &pare_oci::layout::Layout) -> Result<()> {
        match &self.image {
            Some(image) => crate::image_io::carry_blobs(image, layout),
            None => {
                for (digest, size) in &self.blobs {
                    if !layout.has_blob(digest, *size) {
                        return Err(Error::Input(format!(
                            "base image {}: blob {digest} is gone from {} while building",
                            self.reference,
                            layout.root().display()
                        )));
                    }
                }
                Ok(())
            }
        }
    }

    /// The name the `org.opencontainers.image.base.name` annotation records: a name others can pull
    /// (a registry reference, a docker-archive's `NAME:TAG`); none for files named by a host path,
    /// which must not reach the image.
    pub fn public_name(&self) -> Option<String> {
        match &self.reference {
            ImageRef::Registry(name) | ImageRef::DockerDaemon(name) => Some(name.to_string()),
            ImageRef::DockerArchive {
                name: Some(name), ..
            } => Some(name.to_string()),
            _ => None,
        }
    }
}

/// Opens `reference` for `platform` and reads its files. Refuses an image whose platform differs
/// from the build's or whose layers pare cannot carry over unchanged.
pub fn open_base(
    reference: &ImageRef,
    platform: &Platform,
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<ImageBase> {
    let what = reference.to_string();
    let access = Access {
        platform: Some(platform.clone()),
        ..access.clone()
    };
    reporter.step(&format!("opening base image {what}"));
    let mut io = IoReport::default();
    let image = open(reference, &access, Purpose::Copy, reporter, &mut io)
        .map_err(|e| Error::Input(format!("base image {what}: {e}")))?;
    let documents = &image.documents;
    let config = &documents.config;
    let found = Platform {
        os: config.os().to_string(),
        architecture: config.architecture().to_string(),
        variant: config.variant().clone(),
    };
    if found.os != platform.os
        || found.architecture != platform.architecture
        || (platform.variant.is_some() && found.variant != platform.variant)
    {
        return Err(Error::Input(format!(
            "base image {what} is for {found}, the build is for {platform}; pass --platform {found} \
             or choose a base for {platform}"
        )));
    }
    let diff_ids = documents.diff_ids();
    let layers = documents.manifest.layers();
    if diff_ids.len() != layers.len() {
        return Err(Error::Input(format!(
            "base image {what}: its manifest lists {} layers but its config {} diff_ids",
            layers.len(),
            diff_ids.len()
        )));
    }
    let inherited = Inherited {
        layers: layers
            .iter()
            .zip(diff_ids)
            .map(|(d, diff_id)| Ok((carried_layer(d, &what)?, diff_id.clone())))
            .collect::<Result<_>>()?,
        history: config.history().clone().unwrap_or_default(),
    };
    // In a staging directory, so a killed build's copy of the base is removed by the next pare.
    let files = crate::image_io::staging()?;
    let mut keeper = FileKeeper {
        dir: files.0.path().join("base-files"),
        kept: HashMap::new(),
        failure: None,
    };
    std::fs::create_dir(&keeper.dir).map_err(Error::io("create", &keeper.dir))?;
    reporter.step(&format!("reading the files of base image {what}"));
    let contents = read_opened(&image, &what, reporter, &mut keeper)?;
    if let Some(e) = keeper.failure.take() {
        return Err(e);
    }
    let mut tree = LayerTree::new();
    for (path, state) in &contents.files {
        let info = &state.info;
        let kind = match info.kind {
            FileKind::Dir => EntryKind::Directory,
            FileKind::File => EntryKind::File {
                source: FileSource::Host(
                    keeper
                        .kept
                        .remove(&(state.layer, path.clone()))
                        .ok_or_else(|| {
                            Error::Input(format!(
                                "base image {what}: /{path} was listed but its content never read"
                            ))
                        })?,
                ),
                size: info.size,
            },
            FileKind::Symlink => EntryKind::Symlink {
                target: info.link.clone().unwrap_or_default(),
            },
            FileKind::Hardlink => EntryKind::Hardlink {
                target: info.link.clone().unwrap_or_default(),
            },
            // Device nodes and FIFOs are neither programs nor libraries nor configuration: no check
            // reads them, so the view leaves them out.
            FileKind::Char | FileKind::Block | FileKind::Fifo => continue,
        };
        let owner = |id: u64| u32::try_from(id).unwrap_or(u32::MAX);
        tree.insert(
            path.clone(),
            Entry::owned(kind, info.mode, owner(info.uid), owner(info.gid)),
        )
        .map_err(|e| Error::Input(format!("base image {what}: {e}")))?;
    }
    tree.add_parents(&|_| None);
    let mut view = ImageView::default();
    view.apply(&tree)?;
    let digest = image.manifest().digest().to_string();
    let runtime = config.config().clone();
    Ok(ImageBase {
        reference: reference.clone(),
        digest,
        platform: found,
        inherited,
        config: runtime,
        view,
        blobs: image.blobs(),
        image: Some(image),
        _files: files,
    })
}

/// The descriptor a base layer gets in the built OCI manifest: the same blob, in the OCI media type
/// for its bytes. Layers the image does not carry itself (foreign or non-distributable, with URLs)
/// are refused: pare cannot vouch for what it never read.
fn carried_layer(layer: &Descriptor, what: &str) -> Result<Descriptor> {
    let media_type = layer.media_type().to_string();
    let oci = match media_type.as_str() {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.v1.tar+zstd" => media_type.clone(),
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.v1.tar+gzip".into()
        }
        "application/vnd.docker.image.rootfs.diff.tar" => {
            "application/vnd.oci.image.layer.v1.tar".into()
        }
        other => {
            return Err(Error::Input(format!(
                "base image {what}: layer {} has media type {other:?}; pare builds on images whose \
                 layers are plain, gzip or zstd tar blobs the image carries itself",
                layer.digest()
            )))
        }
    };
    if layer.urls().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(Error::Input(format!(
            "base image {what}: layer {} is fetched from external URLs; pare builds only on layers the \
             image carries itself",
            layer.digest()
        )));
    }
    let mut carried = Descriptor::new(
        MediaType::from(oci.as_str()),
        layer.size(),
        layer.digest().clone(),
    );
    carried.set_annotations(layer.annotations().clone());
    Ok(carried)
}

/// Keeps each regular file of the base in a directory of its own, one file per (layer, path), while
/// the layers are read: the view's checks then read them like any host file.
struct FileKeeper {
    dir: PathBuf,
    kept: HashMap<(usize, String), PathBuf>,
    failure: Option<Error>,
}

impl Observer for FileKeeper {
    fn config(&mut self, _config: &Value) {}

    fn sample(&self, _path: &str, size: u64, _mode: u32) -> usize {
        usize::try_from(size.min(MAX_KEPT_FILE)).unwrap_or(usize::MAX)
    }

    fn event(&mut self, layer: usize, event: &LayerEvent) {
        let LayerEvent::Entry(info) = event else {
            return;
        };
        if info.kind != FileKind::File || self.failure.is_some() {
            return;
        }
        let file = self.dir.join(self.kept.len().to_string());
        let written = std::fs::File::create(&file).and_then(|mut f| f.write_all(&info.sample));
        match written {
            Ok(()) => {
                self.kept.insert((layer, info.path.clone()), file);
            }
            Err(e) => self.failure = Some(Error::io("write", &file)(e)),
        }
    }
}
