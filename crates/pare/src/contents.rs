//! What an image holds: its config, its layers (sizes, history) and the merged file tree after every
//! layer with whiteouts and opaque whiteouts applied, read in one streaming pass per layer. The base of
//! `pare diff` and `pare gate` (and of `pare audit` and `pare inventory`): any number of independent
//! analyzers ([`Observer`], several at once through [`Analyzers`]) see every layer event and file
//! sample during that one pass. Not here: opening images (`crate::image_io`) or judging what is read.

use std::collections::BTreeMap;

use pare_oci::read::{read_layer, FileInfo, LayerEvent, ReadLimits};
use pare_oci::reference::ImageRef;
use serde::Serialize;
use serde_json::Value;

use crate::image_io::{open, Access, IoReport, OpenedImage, Purpose};
use crate::{Reporter, Result};

/// One layer as read.
#[derive(Clone, Debug, Serialize)]
pub struct LayerInfo {
    pub digest: String,
    pub diff_id: String,
    pub media_type: String,
    /// Stored (compressed) bytes.
    pub size: u64,
    pub uncompressed_size: u64,
    pub entries: u64,
    /// The history step that made it, if the config says.
    pub created_by: Option<String>,
}

/// A path in the merged file tree, with the layer (0-based) that put it there.
#[derive(Clone, Debug, Serialize)]
pub struct FileState {
    #[serde(flatten)]
    pub info: FileInfo,
    pub layer: usize,
}

/// Everything read from an image.
#[derive(Clone, Debug, Serialize)]
pub struct ImageContents {
    pub reference: String,
    pub manifest_digest: String,
    pub config: Value,
    pub layers: Vec<LayerInfo>,
    /// The final file tree, by normalized path.
    pub files: BTreeMap<String, FileState>,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
}

impl ImageContents {
    /// Sum of the sizes of regular files in the final tree.
    pub fn file_bytes(&self) -> u64 {
        self.files.values().map(|f| f.info.size).sum()
    }

    /// The entries below directory `dir` of the final tree (relative, no slashes at either end;
    /// `""` is the root, whose own entry, if any, comes first), in path order.
    pub fn below<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a str, &'a FileState)> + 'a {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let start = prefix.clone();
        self.files
            .range(start..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(k, f)| (k.as_str(), f))
    }

    /// The config's `Env` as (key, value) pairs, in order.
    pub fn env(&self) -> Vec<(String, String)> {
        self.config["config"]["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .filter_map(|kv| {
                        kv.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Reads `reference` (any transport) into [`ImageContents`].
pub fn read_image(
    reference: &ImageRef,
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<ImageContents> {
    read_image_with(reference, access, reporter, &mut NoObserver)
}

/// Reads `reference` while an observer sees every layer event (with file samples) before it is applied.
pub fn read_image_with(
    reference: &ImageRef,
    access: &Access,
    reporter: &dyn Reporter,
    observer: &mut dyn Observer,
) -> Result<ImageContents> {
    let mut io = IoReport::default();
    let image = open(reference, access, Purpose::Read, reporter, &mut io)?;
    read_opened(&image, &reference.to_string(), reporter, observer)
}

/// Sees an image while it is read: the config first, then every layer event in order.
pub trait Observer {
    /// The config, before any layer (to learn the entrypoint, say).
    fn config(&mut self, _config: &Value) {}
    /// How many leading bytes of a regular file to sample for [`Observer::event`].
    fn sample(&self, _path: &str, _size: u64, _mode: u32) -> usize {
        0
    }
    /// One layer event, before it is applied to the merged tree.
    fn event(&mut self, _layer: usize, _event: &LayerEvent) {}
}

/// Sees nothing.
pub struct NoObserver;

impl Observer for NoObserver {}

/// Several independent analyzers sharing one reading pass: each file is sampled as much as the
/// most demanding of them asks, and every analyzer sees every event.
pub struct Analyzers<'a>(pub Vec<&'a mut dyn Observer>);

impl Observer for Analyzers<'_> {
    fn config(&mut self, config: &Value) {
        for a in &mut self.0 {
            a.config(config);
        }
    }

    fn sample(&self, path: &str, size: u64, mode: u32) -> usize {
        self.0
            .iter()
            .map(|a| a.sample(path, size, mode))
            .max()
            .unwrap_or(0)
    }

    fn event(&mut self, layer: usize, event: &LayerEvent) {
        for a in &mut self.0 {
            a.event(layer, event);
        }
    }
}

/// Reads an image that is already in a layout.
pub fn read_opened(
    image: &OpenedImage,
    reference: &str,
    reporter: &dyn Reporter,
    observer: &mut dyn Observer,
) -> Result<ImageContents> {
    let layout = &image.layout;
    let documents = &image.documents;
    let manifest_digest = documents.descriptor.digest().to_string();
    let config = documents.config_json.clone();
    observer.config(&config);
    let layer_descriptors = documents.manifest.layers();
    let diff_ids = documents.diff_ids();
    let history = documents.layer_history();
    let mut files: BTreeMap<String, FileState> = BTreeMap::new();
    let mut layers = Vec::new();
    for (index, (descriptor, diff_id)) in layer_descriptors.iter().zip(diff_ids).enumerate() {
        let digest = descriptor.digest().to_string();
        let size = descriptor.size();
        let media_type = descriptor.media_type().to_string();
        reporter.step(&format!(
            "reading layer {}/{}: {digest}",
            index + 1,
            layer_descriptors.len()
        ));
        // The observer is asked for a sample size and then told of the entry, one after the other,
        // never at once: a RefCell lets both callbacks reach it, and each sample is dropped as soon
        // as it has been seen, so memory stays at one file's sample.
        let cell = std::cell::RefCell::new(&mut *observer);
        let sample = |path: &str, size: u64, mode: u32| cell.borrow().sample(path, size, mode);
        let stats = read_layer(
            layout,
            image.layer_blob(&digest, size, Some(diff_id)),
            ReadLimits::default(),
            &sample,
            |event| {
                let mut event = as_the_runtimes_write(&files, event)?;
                cell.borrow_mut().event(index, &event);
                if let LayerEvent::Entry(info) = &mut event {
                    info.sample = Vec::new();
                }
                apply(&mut files, index, event);
                Ok(())
            },
        )?;
        layers.push(LayerInfo {
            digest,
            diff_id: diff_id.to_string(),
            media_type,
            size,
            uncompressed_size: stats.uncompressed_size,
            entries: stats.entries,
            created_by: history.get(index).cloned().flatten(),
        });
    }
    Ok(ImageContents {
        reference: reference.to_string(),
        manifest_digest,
        config,
        compressed_size: layers.iter().map(|l| l.size).sum(),
        uncompressed_size: layers.iter().map(|l| l.uncompressed_size).sum(),
        layers,
        files,
    })
}

/// A layer event where the runtimes apply it. containerd, Docker and umoci resolve the directory an
/// entry goes into inside the root, following symlinks the layers below (or earlier entries) made,
/// so `lib/x` after `lib -> usr/lib` is written to `usr/lib/x`; whiteouts are resolved the same way.
/// A hard link must name something already there that is not a directory: the runtimes and GNU
/// tar fail to make it otherwise, and so does this read.
pub fn as_the_runtimes_write(
    files: &BTreeMap<String, FileState>,
    event: LayerEvent,
) -> pare_oci::Result<LayerEvent> {
    let place = |path: &str| -> pare_oci::Result<String> {
        let Some((parent, name)) = path.rsplit_once('/') else {
            return Ok(path.to_string());
        };
        // Nearly every entry has only directories (or nothing yet) above it: its path stands as
        // it is. A symlink above it is followed; anything else cannot hold it.
        let mut through_link = false;
        for dir in parent
            .match_indices('/')
            .map(|(at, _)| &parent[..at])
            .chain(std::iter::once(parent))
        {
            match files.get(dir).map(|f| f.info.kind) {
                None | Some(pare_oci::read::FileKind::Dir) => {}
                Some(pare_oci::read::FileKind::Symlink) => {
                    through_link = true;
                    break;
                }
                Some(_) => {
                    return Err(pare_oci::Error::Invalid(format!(
                        "layer entry /{path}: /{dir} above it is not a directory; the runtimes \
                         refuse to unpack it"
                    )))
                }
            }
        }
        if !through_link {
            return Ok(path.to_string());
        }
        let resolved = crate::paths::resolve_creating(parent, |key| {
            files.get(key).map(|f| match f.info.kind {
                pare_oci::read::FileKind::Dir => crate::paths::Node::Dir,
                pare_oci::read::FileKind::Symlink => {
                    crate::paths::Node::Symlink(f.info.link.as_deref().unwrap_or(""))
                }
                _ => crate::paths::Node::Other,
            })
        })
        .map_err(|why| {
            pare_oci::Error::Invalid(format!(
                "layer entry /{path}: its directory /{parent} cannot be made ({why}); the \
                 runtimes refuse to unpack it"
            ))
        })?;
        Ok(if resolved.is_empty() {
            name.to_string()
        } else {
            format!("{resolved}/{name}")
        })
    };
    Ok(match event {
        LayerEvent::Whiteout(path) => LayerEvent::Whiteout(place(&path)?),
        LayerEvent::Opaque(dir) if dir.is_empty() => LayerEvent::Opaque(dir),
        LayerEvent::Opaque(dir) => LayerEvent::Opaque(place(&dir)?),
        LayerEvent::Entry(mut info) => {
            if !info.path.is_empty() {
                info.path = place(&info.path)?;
            }
            if info.kind == pare_oci::read::FileKind::Hardlink {
                let target = place(info.link.as_deref().unwrap_or(""))?;
                match files.get(&target).map(|f| f.info.kind) {
                    Some(pare_oci::read::FileKind::Dir) | None => {
                        return Err(pare_oci::Error::Invalid(format!(
                            "hard link /{} names /{target}, which {}; Docker, containerd and GNU \
                             tar cannot make it",
                            info.path,
                            if files.contains_key(&target) {
                                "is a directory"
                            } else {
                                "no entry before it wrote"
                            }
                        )))
                    }
                    Some(_) => info.link = Some(target),
                }
            }
            LayerEvent::Entry(info)
        }
    })
}

/// Applies one layer event to the merged tree: whiteouts and opaque directories hide only what lower
/// layers put there; an entry replaces what was at its path (and a non-directory hides what was below).
pub fn apply(files: &mut BTreeMap<String, FileState>, layer: usize, event: LayerEvent) {
    let below = |files: &BTreeMap<String, FileState>, dir: &str, lower_only: bool| -> Vec<String> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, f)| !k.is_empty() && (!lower_only || f.layer < layer))
            .map(|(k, _)| k.clone())
            .collect()
    };
    match event {
        LayerEvent::Whiteout(path) => {
            if files.get(&path).is_some_and(|f| f.layer < layer) {
                files.remove(&path);
            }
            for k in below(files, &path, true) {
                files.remove(&k);
            }
        }
        LayerEvent::Opaque(dir) => {
            for k in below(files, &dir, true) {
                files.remove(&k);
            }
        }
        LayerEvent::Entry(info) => {
            if info.kind != pare_oci::read::FileKind::Dir {
                for k in below(files, &info.path, false) {
                    files.remove(&k);
                }
            }
            files.insert(info.path.clone(), FileState { info, layer });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pare_oci::read::FileKind;

    fn file(path: &str, size: u64) -> LayerEvent {
        LayerEvent::Entry(FileInfo {
            path: path.into(),
            kind: if size == 0 {
                FileKind::Dir
            } else {
                FileKind::File
            },
            size,
            mode: 0o644,
            uid: 0,
            gid: 0,
            link: None,
            content: None,
            sample: Vec::new(),
        })
    }

    fn link(path: &str, kind: FileKind, target: &str) -> LayerEvent {
        LayerEvent::Entry(FileInfo {
            path: path.into(),
            kind,
            size: 0,
            mode: 0o777,
            uid: 0,
            gid: 0,
            link: Some(target.into()),
            content: None,
            sample: Vec::new(),
        })
    }

    fn placed(files: &mut BTreeMap<String, FileState>, event: LayerEvent) -> pare_oci::Result<()> {
        let event = as_the_runtimes_write(files, event)?;
        apply(files, 0, event);
        Ok(())
    }

    #[test]
    fn entries_below_a_symlinked_directory_land_where_it_points() {
        let mut files = BTreeMap::new();
        for e in [
            file("usr", 0),
            file("usr/lib", 0),
            link("lib", FileKind::Symlink, "usr/lib"),
            link("abs", FileKind::Symlink, "/usr"),
            file("lib/a", 1),
            file("abs/lib/b", 2),
            link("gone", FileKind::Symlink, "not/yet"),
            file("gone/c", 3),
            link("hard", FileKind::Hardlink, "lib/a"),
        ] {
            placed(&mut files, e).unwrap();
        }
        let paths: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "abs",
                "gone",
                "hard",
                "lib",
                "not/yet/c",
                "usr",
                "usr/lib",
                "usr/lib/a",
                "usr/lib/b"
            ]
        );
        assert_eq!(files["hard"].info.link.as_deref(), Some("usr/lib/a"));
        placed(&mut files, LayerEvent::Whiteout("lib/a".into())).unwrap();
        // The whiteout is resolved too (and hides nothing of its own layer).
        assert!(files.contains_key("usr/lib/a"));
        let mut upper = files.clone();
        let event = as_the_runtimes_write(&upper, LayerEvent::Whiteout("lib/a".into())).unwrap();
        apply(&mut upper, 1, event);
        assert!(!upper.contains_key("usr/lib/a"));
    }

    #[test]
    fn a_hard_link_needs_a_target_that_is_there_and_not_a_directory() {
        let mut files = BTreeMap::new();
        placed(&mut files, file("d", 0)).unwrap();
        placed(&mut files, file("d/f", 1)).unwrap();
        assert!(placed(&mut files, link("to-later", FileKind::Hardlink, "later")).is_err());
        assert!(placed(&mut files, link("to-dir", FileKind::Hardlink, "d")).is_err());
        placed(&mut files, link("ok", FileKind::Hardlink, "d/f")).unwrap();
        placed(&mut files, file("f", 1)).unwrap();
        assert!(
            placed(&mut files, file("f/below", 1)).is_err(),
            "a file is no directory"
        );
    }

    #[test]
    fn whiteouts_and_opaque_directories_hide_lower_layers_only() {
        let mut files = BTreeMap::new();
        for e in [
            file("etc", 0),
            file("etc/a", 1),
            file("etc/b", 2),
            file("opt", 0),
            file("opt/x", 3),
            file("optical", 4),
        ] {
            apply(&mut files, 0, e);
        }
        apply(&mut files, 1, file("opt/y", 5));
        apply(&mut files, 1, LayerEvent::Opaque("opt".into()));
        apply(&mut files, 1, LayerEvent::Whiteout("etc/a".into()));
        let paths: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(paths, ["etc", "etc/b", "opt", "opt/y", "optical"]);
        apply(&mut files, 2, LayerEvent::Whiteout("etc".into()));
        let paths: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(paths, ["opt", "opt/y", "optical"]);
        apply(&mut files, 3, file("opt", 9));
        assert_eq!(
            files.keys().map(String::as_str).collect::<Vec<_>>(),
            ["opt", "optical"]
        );
    }
}
