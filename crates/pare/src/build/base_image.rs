//! A build on an image base: the base opened and pinned in pare.lock (a build without `--locked`
//! takes what the reference names now and records its digest; `--locked` fails when the reference
//! no longer names the locked digest), and the runtime config the build inherits from it. Opening
//! and reading the image is `crate::bases::image`'s job.

use std::collections::BTreeMap;

use pare_oci::reference::ImageRef;
use pare_pkg::lock::{Lock, LockedBase, LOCK_VERSION};
use serde::Serialize;

pub use crate::bases::image::ImageBase;
use crate::image_io::Access;
use crate::packages::LockUse;
use crate::{Error, Reporter, Result};

use super::BuildOptions;

/// What the build report says about an image base.
#[derive(Clone, Debug, Serialize)]
pub struct BaseReport {
    pub reference: String,
    /// The digest of the base's image manifest that was built on.
    pub digest: String,
    pub layers: usize,
    pub lock_file: String,
    /// `used` (the lock pinned this digest), `wrote`, `rewrote` (the reference moved) or `unwritten`.
    pub lock: LockUse,
}

/// Opens the base `reference` names and checks it against, or records it in, the lock file.
pub fn pinned_base(
    written: &str,
    reference: &ImageRef,
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<(ImageBase, BaseReport)> {
    let lock_path = &options.packages.lock_file;
    let key = written.to_string();
    // Each platform pins its own image of the base (an index names one per platform): the
    // architecture's lock of the file, as Debian packages are locked.
    let architecture = crate::packages::debian_architecture(
        &options.platform.architecture,
        options.platform.variant.as_deref(),
    )
    .unwrap_or_else(|_| options.platform.architecture.clone());
    let existing = if lock_path.exists() {
        Some(Lock::read_for(lock_path, &architecture)?)
    } else {
        None
    };
    let pinned = existing
        .as_ref()
        .and_then(|l| l.base.as_ref())
        .filter(|b| b.reference == key)
        .cloned();
    if options.packages.locked && pinned.is_none() {
        return Err(Error::Input(format!(
            "--locked: {} pins no base image for {key}; run `pare lock` (or build once without \
             --locked) and commit the lock",
            lock_path.display()
        )));
    }
    let access = Access {
        insecure: options.insecure,
        credentials: options.credentials.clone(),
        ..Access::default()
    };
    let base = crate::bases::image::open_base(reference, &options.platform, &access, reporter)?;
    let how = match &pinned {
        Some(pin) if pin.digest == base.digest => LockUse::Used,
        Some(pin) if options.packages.locked => {
            return Err(Error::Input(format!(
                "--locked: the base {key} moved: {} pins {}, it now names {}; run `pare lock` to \
                 take the new base, or name the locked one as {}",
                lock_path.display(),
                pin.digest,
                base.digest,
                by_digest(reference, &pin.digest)
            )))
        }
        Some(pin) => {
            reporter.warn(&format!(
                "the base {key} moved since {} pinned {}; taking {}",
                lock_path.display(),
                pin.digest,
                base.digest
            ));
            record(
                existing,
                &architecture,
                &key,
                &base,
                lock_path,
                options.packages.write_lock,
            )?
        }
        None => record(
            existing,
            &architecture,
            &key,
            &base,
            lock_path,
            options.packages.write_lock,
        )?,
    };
    let report = BaseReport {
        reference: key,
        digest: base.digest.clone(),
        layers: base.inherited.layers.len(),
        lock_file: lock_path.display().to_string(),
        lock: how,
    };
    Ok((base, report))
}

/// `pare lock` for an image base: opens what `reference` names now and pins its digest, whatever
/// the lock said before (a build that may write the lock, without `--locked`).
pub fn lock_base(
    written: &str,
    reference: &ImageRef,
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<BaseReport> {
    let mut options = options.clone();
    options.packages.locked = false;
    options.packages.write_lock = true;
    Ok(pinned_base(written, reference, &options, reporter)?.1)
}

/// Writes the base's pin into the lock of `architecture` (keeping whatever else the file holds,
/// the other architectures' locks included) when the build may write a lock.
fn record(
    existing: Option<Lock>,
    architecture: &str,
    written: &str,
    base: &ImageBase,
    path: &std::path::Path,
    write: bool,
) -> Result<LockUse> {
    if !write {
        return Ok(LockUse::Unwritten);
    }
    // Written, not rewritten, when this architecture had no lock yet (another one may have).
    let had_lock = existing
        .as_ref()
        .is_some_and(|l| l.base.is_some() || !l.packages.is_empty() || !l.request.is_empty());
    let mut lock = existing.unwrap_or(Lock {
        version: LOCK_VERSION,
        ..Lock::default()
    });
    lock.architecture = architecture.to_string();
    lock.base = Some(LockedBase {
        reference: written.to_string(),
        digest: base.digest.clone(),
        platform: base.platform.to_string(),
    });
    lock.write_merged(path)?;
    Ok(if had_lock {
        LockUse::Rewrote
    } else {
        LockUse::Wrote
    })
}

/// How to name the locked image by digest, for the error that says the tag moved.
fn by_digest(reference: &ImageRef, digest: &str) -> String {
    match reference {
        ImageRef::Registry(name) => {
            let mut pinned = name.clone();
            pinned.tag = None;
            pinned.digest = Some(digest.to_string());
            format!("docker://{pinned}")
        }
        other => format!("{other} (image {digest})"),
    }
}

/// The runtime settings a build inherits from its base image; flags and pare.toml override each.
#[derive(Clone, Debug, Default)]
pub struct InheritedConfig {
    pub env: Vec<(String, String)>,
    /// The base's user, unless it names none (then pare's non-root default applies).
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub stop_signal: Option<String>,
    pub volumes: Vec<String>,
}

impl InheritedConfig {
    /// The config of `base`, or nothing for pare's own bases.
    pub fn of(base: Option<&ImageBase>) -> Self {
        let Some(config) = base.and_then(|b| b.config.as_ref()) else {
            return Self::default();
        };
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        let mut env: Vec<(String, String)> = Vec::new();
        for pair in config.env().iter().flatten() {
            let (key, value) = pair.split_once('=').unwrap_or((pair.as_str(), ""));
            if key.is_empty() {
                continue;
            }
            super::set_var(&mut env, key, value);
        }
        // `9000` means `9000/tcp` to every runtime; written out so a flag naming it again is one port.
        let mut exposed_ports: Vec<String> = config
            .exposed_ports()
            .iter()
            .flatten()
            .map(|p| super::checks::normalize_port(p).unwrap_or_else(|_| p.clone()))
            .collect();
        exposed_ports.sort();
        exposed_ports.dedup();
        let mut volumes = config.volumes().clone().unwrap_or_default();
        volumes.sort();
        Self {
            env,
            user: non_empty(config.user()),
            working_dir: non_empty(config.working_dir()),
            entrypoint: config.entrypoint().clone().filter(|e| !e.is_empty()),
            cmd: config.cmd().clone().filter(|c| !c.is_empty()),
            labels: config
                .labels()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            exposed_ports,
            stop_signal: non_empty(config.stop_signal()),
            volumes,
        }
    }
}
