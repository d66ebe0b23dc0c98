//! Unpacks an image into a directory the way the runtimes apply layers (containerd's and Docker's
//! appliers, umoci): layer by layer, whiteouts and opaque directories removing what lower layers
//! put there, an entry replacing what was at its path, a missing parent made, a parent that is a
//! symlink followed inside the root (never out of it), hard links as hard links. Alongside, the
//! final tree with each path's metadata as the image states it (the disk copy is owned by the
//! caller, with setuid, setgid and sticky bits dropped and owner access added, because it is only
//! a scratch copy to run and trace). Device nodes and FIFOs are recorded, not made. Not here:
//! deciding what to keep (`super::keep`) or reading layers (`pare_oci::read`).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pare_oci::read::{read_layer, FileKind, LayerEvent, ReadLimits};

use crate::image_io::OpenedImage;
use crate::paths::{resolve, Node};
use crate::{Error, Reporter, Result};

/// One path of the final tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub kind: FileKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Regular files: the size.
    pub size: u64,
    /// Symlinks: the target.
    pub target: Option<String>,
    /// Regular files that came as a hard link: the path they were linked to.
    pub linked_to: Option<String>,
}

/// An unpacked image: its directory and its final tree by normalized path (`usr/bin/app`; the
/// root is not listed).
pub struct Unpacked {
    pub dir: PathBuf,
    pub files: BTreeMap<String, Meta>,
    /// The layer tars' bytes, all layers.
    pub uncompressed: u64,
}

impl Unpacked {
    /// The host path of a normalized image path.
    pub fn host(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// How path resolution sees `key`.
    pub fn node(&self, key: &str) -> Option<Node<'_>> {
        if key.is_empty() {
            return Some(Node::Dir);
        }
        self.files.get(key).map(|m| match m.kind {
            FileKind::Dir => Node::Dir,
            FileKind::Symlink => Node::Symlink(m.target.as_deref().unwrap_or("")),
            _ => Node::Other,
        })
    }

    /// Resolves an absolute image path to the key of what it names, following symlinks inside
    /// the root; also returns every symlink met on the way.
    pub fn resolve_with_links(
        &self,
        path: &str,
    ) -> (
        std::result::Result<String, crate::paths::Unresolved>,
        Vec<String>,
    ) {
        let links = std::cell::RefCell::new(Vec::new());
        let result = resolve(path, |key| {
            let node = self.node(key);
            if matches!(node, Some(Node::Symlink(_))) {
                links.borrow_mut().push(key.to_string());
            }
            node
        });
        (result, links.into_inner())
    }

    /// Where the kernel (and runc's lookup on PATH) finds the program `name`: the first candidate
    /// (`crate::paths::program_candidates`) that resolves to a regular file, as that absolute path.
    pub fn find_program(&self, name: &str, path_env: &str, workdir: &str) -> Option<String> {
        crate::paths::program_candidates(name, path_env, workdir)
            .into_iter()
            .find(|candidate| {
                let (found, _) = self.resolve_with_links(candidate);
                found.is_ok_and(|k| self.files.get(&k).is_some_and(|m| m.kind == FileKind::File))
            })
    }

    /// The first `limit` bytes of the regular file `key` (all of a shorter one).
    pub fn read(&self, key: &str, limit: u64) -> Option<Vec<u8>> {
        use std::io::Read;
        let meta = self.files.get(key)?;
        if meta.kind != FileKind::File {
            return None;
        }
        let mut bytes = Vec::new();
        std::fs::File::open(self.host(key))
            .ok()?
            .take(limit)
            .read_to_end(&mut bytes)
            .ok()?;
        Some(bytes)
    }

    /// The whole regular file `key` (package databases, passwd: files the image itself bounds).
    pub fn read_all(&self, key: &str) -> Option<Vec<u8>> {
        self.read(key, u64::MAX)
    }

    /// The text of the file an absolute path names (through symlinks), empty when there is none.
    pub fn read_text(&self, path: &str) -> String {
        let (found, _) = self.resolve_with_links(path);
        found
            .ok()
            .and_then(|key| self.read_all(&key))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

/// Unpacks every layer of `image` into the empty directory `dir`.
pub fn unpack(image: &OpenedImage, dir: &Path, reporter: &dyn Reporter) -> Result<Unpacked> {
    let mut unpacked = Unpacked {
        dir: dir.to_path_buf(),
        files: BTreeMap::new(),
        uncompressed: 0,
    };
    let documents = &image.documents;
    let layers = documents.manifest.layers();
    for (index, (descriptor, diff_id)) in layers.iter().zip(documents.diff_ids()).enumerate() {
        let digest = descriptor.digest().to_string();
        reporter.step(&format!(
            "unpacking layer {}/{}: {digest}",
            index + 1,
            layers.len()
        ));
        // Whole files are handed over, one at a time.
        let sample = |_: &str, size: u64, _: u32| usize::try_from(size).unwrap_or(usize::MAX);
        let mut applier = Applier {
            unpacked: &mut unpacked,
            layer: index,
            owner: BTreeMap::new(),
        };
        let stats = read_layer(
            &image.layout,
            image.layer_blob(&digest, descriptor.size(), Some(diff_id)),
            ReadLimits::default(),
            &sample,
            |event| applier.apply(event).map_err(to_oci),
        )?;
        unpacked.uncompressed += stats.uncompressed_size;
    }
    Ok(unpacked)
}

fn to_oci(e: Error) -> pare_oci::Error {
    pare_oci::Error::Invalid(e.to_string())
}

/// Applies one layer's events.
struct Applier<'a> {
    unpacked: &'a mut Unpacked,
    layer: usize,
    /// Paths this layer itself put there (a whiteout hides only lower layers).
    owner: BTreeMap<String, ()>,
}

impl Applier<'_> {
    fn apply(&mut self, event: LayerEvent) -> Result<()> {
        match event {
            LayerEvent::Whiteout(path) => {
                let Some(key) = self.real_key(&path)? else {
                    return Ok(());
                };
                if !self.owner.contains_key(&key) {
                    self.remove_tree(&key, true)?;
                }
                Ok(())
            }
            LayerEvent::Opaque(dir) => {
                let Some(key) = self.real_key(&dir)? else {
                    return Ok(());
                };
                let below: Vec<String> = self
                    .below(&key)
                    .filter(|k| !self.owner.contains_key(k.as_str()))
                    .collect();
                for k in below.iter().rev() {
                    self.remove_one(k)?;
                }
                Ok(())
            }
            LayerEvent::Entry(info) => {
                if info.path.is_empty() {
                    return Ok(());
                }
                if info.path.contains('\\') {
                    return Err(Error::Input(format!(
                        "layer {}: {:?} is not a UTF-8 name; pare slim keeps names as text and \
                         refuses such images",
                        self.layer + 1,
                        info.path
                    )));
                }
                let Some(key) = self.real_key(&info.path)? else {
                    return Err(Error::Input(format!(
                        "layer {}: the parent of /{} is not a directory in the image",
                        self.layer + 1,
                        info.path
                    )));
                };
                if let Some(existing) = self.unpacked.files.get(&key) {
                    if !(existing.kind == FileKind::Dir && info.kind == FileKind::Dir) {
                        self.remove_tree(&key, false)?;
                    }
                }
                self.make_parents(&key)?;
                let host = self.unpacked.host(&key);
                let mut meta = Meta {
                    kind: info.kind,
                    mode: info.mode & 0o7777,
                    uid: info.uid,
                    gid: info.gid,
                    size: info.size,
                    target: None,
                    linked_to: None,
                };
                match info.kind {
                    FileKind::Dir => {
                        if !host.is_dir() {
                            std::fs::create_dir(&host).map_err(Error::io("create", &host))?;
                        }
                        set_mode(&host, (meta.mode & 0o777) | 0o700)?;
                    }
                    FileKind::File => {
                        let mut file = std::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .open(&host)
                            .map_err(Error::io("create", &host))?;
                        file.write_all(&info.sample)
                            .map_err(Error::io("write", &host))?;
                        set_mode(&host, (meta.mode & 0o777) | 0o600)?;
                    }
                    FileKind::Symlink => {
                        let target = info.link.clone().unwrap_or_default();
                        std::os::unix::fs::symlink(&target, &host)
                            .map_err(Error::io("create the symlink", &host))?;
                        meta.target = Some(target);
                    }
                    FileKind::Hardlink => {
                        let target = info.link.clone().unwrap_or_default();
                        let Some(target_key) = self.real_key(&target)? else {
                            return Err(Error::Input(format!(
                                "layer {}: hard link /{} points at /{target}, which is not there",
                                self.layer + 1,
                                info.path
                            )));
                        };
                        let Some(linked) = self
                            .unpacked
                            .files
                            .get(&target_key)
                            .filter(|m| m.kind == FileKind::File)
                            .cloned()
                        else {
                            return Err(Error::Input(format!(
                                "layer {}: hard link /{} points at /{target}, which is no regular file",
                                self.layer + 1,
                                info.path
                            )));
                        };
                        let from = self.unpacked.host(&target_key);
                        std::fs::hard_link(&from, &host)
                            .map_err(Error::io("create the hard link", &host))?;
                        meta = Meta {
                            linked_to: Some(target_key),
                            ..linked
                        };
                    }
                    FileKind::Char | FileKind::Block | FileKind::Fifo => {}
                }
                self.owner.insert(key.clone(), ());
                self.unpacked.files.insert(key, meta);
                Ok(())
            }
        }
    }

    /// The key a layer path lands on: its parent resolved inside the root (a symlinked parent is
    /// followed, as the runtimes follow it), then its own name. None when the parent is no
    /// directory.
    fn real_key(&self, path: &str) -> Result<Option<String>> {
        let (parent, name) = match path.rsplit_once('/') {
            Some((parent, name)) => (parent, name),
            None => ("", path),
        };
        if parent.is_empty() {
            return Ok(Some(name.to_string()));
        }
        let (found, _) = self.unpacked.resolve_with_links(&format!("/{parent}"));
        match found {
            Ok(real) => match self.unpacked.node(&real) {
                Some(Node::Dir) => Ok(Some(if real.is_empty() {
                    name.to_string()
                } else {
                    format!("{real}/{name}")
                })),
                _ => Ok(None),
            },
            // A parent that is not there yet is made, as the runtimes make it.
            Err(crate::paths::Unresolved::Missing(_)) => Ok(Some(path.to_string())),
            Err(crate::paths::Unresolved::NotADirectory(_)) => Ok(None),
            Err(crate::paths::Unresolved::Loop) => Err(Error::Input(format!(
                "layer {}: the parent of /{path} is a symlink loop",
                self.layer + 1
            ))),
        }
    }

    /// Makes the missing parent directories of `key` (0755, root-owned, as the runtimes do).
    fn make_parents(&mut self, key: &str) -> Result<()> {
        let mut prefix = String::new();
        let parts: Vec<&str> = key.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            match self.unpacked.files.get(&prefix) {
                Some(m) if m.kind == FileKind::Dir => continue,
                Some(_) => {
                    return Err(Error::Input(format!(
                        "layer {}: /{prefix} is not a directory, yet /{key} is below it",
                        self.layer + 1
                    )))
                }
                None => {}
            }
            let host = self.unpacked.host(&prefix);
            std::fs::create_dir(&host).map_err(Error::io("create", &host))?;
            self.unpacked.files.insert(
                prefix.clone(),
                Meta {
                    kind: FileKind::Dir,
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    size: 0,
                    target: None,
                    linked_to: None,
                },
            );
        }
        Ok(())
    }

    fn below<'b>(&'b self, key: &str) -> impl DoubleEndedIterator<Item = String> + 'b {
        let prefix = format!("{key}/");
        self.unpacked
            .files
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// Removes `key` and everything below it (from lower layers only when `lower_only`).
    fn remove_tree(&mut self, key: &str, lower_only: bool) -> Result<()> {
        let below: Vec<String> = self
            .below(key)
            .filter(|k| !lower_only || !self.owner.contains_key(k.as_str()))
            .collect();
        for k in below.iter().rev() {
            self.remove_one(k)?;
        }
        if self.unpacked.files.contains_key(key) {
            self.remove_one(key)?;
        }
        Ok(())
    }

    fn remove_one(&mut self, key: &str) -> Result<()> {
        let Some(meta) = self.unpacked.files.remove(key) else {
            return Ok(());
        };
        self.owner.remove(key);
        let host = self.unpacked.host(key);
        let removed = match meta.kind {
            FileKind::Dir => match std::fs::remove_dir(&host) {
                // What this layer put below stays, and so does the directory holding it.
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
                    self.unpacked.files.insert(key.to_string(), meta);
                    Ok(())
                }
                other => other,
            },
            FileKind::Char | FileKind::Block | FileKind::Fifo => Ok(()),
            _ => std::fs::remove_file(&host),
        };
        match removed {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
                action: "remove",
                path: host,
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(Error::io("set the mode of", path))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use pare_oci::compress::Compression;
    use pare_oci::image::{store_image, ImageLayer, ImageSpec, Inherited, Platform};
    use pare_oci::layer::WrittenLayer;
    use pare_oci::layout::Layout;

    use super::*;
    use crate::reporter::NullReporter;

    /// A plain tar of `(name, type, body or link)` entries.
    fn tar(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(if *kind == tar::EntryType::Directory {
                0o755
            } else {
                0o4755
            });
            header.set_uid(0);
            header.set_gid(0);
            match kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    header.set_size(0);
                    builder.append_link(&mut header, name, data).unwrap();
                }
                _ => {
                    header.set_size(data.len() as u64);
                    builder
                        .append_data(&mut header, name, data.as_bytes())
                        .unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    fn image(dir: &Path, layers: &[Vec<u8>]) -> OpenedImage {
        let layout = Layout::create_or_open(&dir.join("oci")).unwrap();
        let written: Vec<ImageLayer> = layers
            .iter()
            .map(|bytes| {
                let digest = layout.write_blob(bytes).unwrap();
                ImageLayer {
                    layer: WrittenLayer {
                        digest: digest.clone(),
                        diff_id: digest,
                        size: bytes.len() as u64,
                        uncompressed_size: bytes.len() as u64,
                        compression: Compression::None,
                        reused: false,
                    },
                    created_by: "test".into(),
                    comment: None,
                }
            })
            .collect();
        let spec = ImageSpec {
            platform: Platform::host(),
            created: pare_oci::image::rfc3339(0),
            config: Default::default(),
            annotations: Default::default(),
            inherited: Inherited::default(),
        };
        let stored = store_image(&layout, &spec, &written).unwrap();
        OpenedImage::in_layout(layout, &stored.manifest).unwrap()
    }

    #[test]
    fn layers_are_applied_as_the_runtimes_apply_them() {
        use tar::EntryType::{Directory as D, Link as H, Regular as F, Symlink as S};
        let dir = tempfile::tempdir().unwrap();
        let lower = tar(&[
            ("usr/", D, ""),
            ("usr/lib/", D, ""),
            ("usr/lib/a", F, "a"),
            ("lib", S, "usr/lib"),
            ("usr/bin/perl", F, "perl"),
            ("usr/bin/perl5", H, "usr/bin/perl"),
            ("opt/x/y", F, "y"),
            ("etc/old", F, "old"),
        ]);
        let upper = tar(&[
            // Through the symlinked parent, inside the root.
            ("lib/z", F, "z"),
            // Opaque: hides usr/lib's lower contents, not what this layer puts there.
            ("usr/lib/.wh..wh..opq", F, ""),
            ("usr/lib/b", F, "b"),
            ("opt/.wh.x", F, ""),
            // A directory replaced by a file.
            ("etc", F, "now a file"),
        ]);
        let opened = image(dir.path(), &[lower, upper]);
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let unpacked = unpack(&opened, &root, &NullReporter).unwrap();
        let keys: Vec<&str> = unpacked.files.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "etc",
                "lib",
                "opt",
                "usr",
                "usr/bin",
                "usr/bin/perl",
                "usr/bin/perl5",
                "usr/lib",
                "usr/lib/b",
                "usr/lib/z"
            ],
            "lib/z lands in usr/lib through the symlink; the opaque directory hides only the lower \
             layer's usr/lib/a, not what its own layer put there"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("usr/lib/z")).unwrap(),
            "z"
        );
        assert!(!root.join("usr/lib/a").exists() && !root.join("opt/x").exists());
        assert_eq!(
            std::fs::read_to_string(root.join("etc")).unwrap(),
            "now a file"
        );
        // One inode for the hard link, as the layer says; the metadata says so too.
        let a = std::fs::metadata(root.join("usr/bin/perl")).unwrap();
        let b = std::fs::metadata(root.join("usr/bin/perl5")).unwrap();
        assert_eq!(a.ino(), b.ino());
        assert_eq!(
            unpacked.files["usr/bin/perl5"].linked_to.as_deref(),
            Some("usr/bin/perl")
        );
        // The image's mode is kept in the tree; the scratch copy drops setuid.
        assert_eq!(unpacked.files["usr/bin/perl"].mode, 0o4755);
        assert_eq!(a.mode() & 0o7000, 0);
    }
}
