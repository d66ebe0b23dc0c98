//! `pare slim`: from a fat image to the files its program really uses, without Docker. The image is
//! unpacked as the runtimes unpack it (`unpack`); what to keep is static analysis of its program
//! and of the files every program needs, every path a traced run of the program and of each probe
//! named, and the user's includes, less the user's excludes (`keep`); package databases are cut to
//! what is left (`databases`); the slimmed tree is run again with the same probes and must pass
//! them (`run`) before the image is written: one layer, the source's config, hard links kept as
//! hard links, every kept file with its reason and every removed file in the report. Not here:
//! the sandbox and tracer (`pare_sandbox`), image transports (`crate::image_io`).

pub mod databases;
pub mod keep;
pub mod run;
pub mod unpack;

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use oci_spec::image::Config;
use pare_oci::compress::Compression;
use pare_oci::image::{ImageSpec, Inherited, Platform};
use pare_oci::read::FileKind;
use pare_oci::reference::ImageRef;
use pare_oci::tree::{Entry, EntryKind, FileSource, LayerTree};
use serde::Serialize;

use crate::bytecode;
use crate::image_io::{open, Access, IoReport, Purpose};
use crate::layers::{write_image, PlannedLayer, WriteContext};
use crate::{Error, Reporter, Result};
use keep::{Keep, Program};
use run::{Command, HttpProbe, Plan, RunResult};
use unpack::Unpacked;

/// What to slim and how.
#[derive(Clone, Debug)]
pub struct SlimOptions {
    pub source: ImageRef,
    pub destination: ImageRef,
    pub extra_tags: Vec<String>,
    pub access: Access,
    /// Commands run inside the image (argv, the program found on the image's PATH).
    pub probes: Vec<Vec<String>>,
    pub http: Vec<HttpProbe>,
    /// Absolute paths kept whatever the analysis says (a directory with all below it).
    pub includes: Vec<String>,
    /// Globs (`.dockerignore` syntax, from the root) never kept.
    pub excludes: Vec<String>,
    /// Slim even when a probe fails on the original image.
    pub allow_probe_failure: bool,
    /// See [`run::Plan::timeout`].
    pub timeout: Duration,
    /// File times and `created` (SOURCE_DATE_EPOCH); None keeps the source's `created`, files at 0.
    pub source_date_epoch: Option<u64>,
    pub compression: Compression,
    /// Python bytecode for the slimmed image (`bytecode::Bytecode`).
    pub bytecode: bytecode::Bytecode,
}

/// Sizes of one side.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sizes {
    /// Regular files.
    pub files: usize,
    /// Their bytes.
    pub file_bytes: u64,
    /// Layer blobs as stored.
    pub compressed: u64,
    /// Layer tars.
    pub uncompressed: u64,
}

/// A kept path and why.
#[derive(Clone, Debug, Serialize)]
pub struct KeptPath {
    pub path: String,
    pub kind: &'static str,
    pub size: u64,
    pub reason: String,
}

/// A removed path.
#[derive(Clone, Debug, Serialize)]
pub struct RemovedPath {
    pub path: String,
    pub kind: &'static str,
    pub size: u64,
}

/// Package records after slimming.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PackageChanges {
    pub removed: Vec<String>,
    pub partial: Vec<String>,
    pub whole: usize,
}

/// What `pare slim` did.
#[derive(Clone, Debug, Serialize)]
pub struct SlimReport {
    pub source: String,
    pub source_digest: String,
    pub destination: String,
    /// The slimmed image, when it was written.
    pub manifest_digest: Option<String>,
    pub before: Sizes,
    pub after: Sizes,
    pub user: String,
    /// The runs on the original image (traced), then on the slimmed one.
    pub original_runs: Vec<RunResult>,
    pub slimmed_runs: Vec<RunResult>,
    /// Whether each run of the slimmed image wrote the same standard output as the original's.
    pub same_output: Vec<bool>,
    pub kept: Vec<KeptPath>,
    pub removed: Vec<RemovedPath>,
    pub packages: PackageChanges,
    /// The `.pyc` files compiled for fast starts (`--bytecode`).
    pub bytecode: bytecode::Compiled,
    /// Why nothing was written (a probe failed), when so.
    pub failure: Option<String>,
}

impl SlimReport {
    /// True when the image was written.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::File => "file",
        FileKind::Dir => "directory",
        FileKind::Symlink => "symlink",
        FileKind::Hardlink => "hard link",
        FileKind::Char => "character device",
        FileKind::Block => "block device",
        FileKind::Fifo => "fifo",
    }
}

/// Slims `options.source` into `options.destination`.
pub fn slim(options: &SlimOptions, reporter: &dyn Reporter) -> Result<SlimReport> {
    if let Err(why) = pare_sandbox::available() {
        return Err(Error::Input(format!(
            "pare slim runs the image's program in a sandbox of user namespaces, which this \
             machine does not allow: {why}"
        )));
    }
    crate::image_io::check_destination(&options.destination, &options.extra_tags)?;
    let mut io = IoReport::default();
    let image = open(
        &options.source,
        &options.access,
        Purpose::Read,
        reporter,
        &mut io,
    )?;
    let scratch = crate::image_io::Scratch::new("pare-slim-")?;
    let result = slim_in(options, image, scratch.path(), reporter);
    if std::env::var_os("PARE_SLIM_KEEP_SCRATCH").is_some() {
        reporter.warn(&format!(
            "PARE_SLIM_KEEP_SCRATCH: the unpacked tree, the slimmed tree and the sandboxes' upper \
             layers are left in {}",
            scratch.path().display()
        ));
        scratch.keep();
    }
    result
}

fn slim_in(
    options: &SlimOptions,
    image: crate::image_io::OpenedImage,
    scratch: &Path,
    reporter: &dyn Reporter,
) -> Result<SlimReport> {
    let rootfs = scratch.join("rootfs");
    std::fs::create_dir(&rootfs).map_err(Error::io("create", &rootfs))?;
    let unpacked = unpack::unpack(&image, &rootfs, reporter)?;
    let config = image.documents.config_json.clone();
    let source_digest = image.manifest().digest().to_string();
    let source_compressed: u64 = image
        .documents
        .manifest
        .layers()
        .iter()
        .map(|l| l.size())
        .sum();
    // Nothing more is read from the source: its layout's lock goes, so the slimmed image may be
    // written into the same layout.
    drop(image);
    let config = &config;

    let settings = image_settings(config, &unpacked, &options.source)?;
    let plan = settings.plan(&unpacked, &options.probes, &options.http, options.timeout)?;
    let ImageSettings {
        uid, gid, program, ..
    } = settings;

    let mut keep = Keep::default();
    keep::static_keep(&unpacked, &program, &mut keep);
    // Includes are checked before anything runs: a path the image lacks is a typo.
    for include in &options.includes {
        let path = format!("/{}", include.trim_start_matches('/'));
        match keep.path(&unpacked, &path, "--include") {
            Some(key) => keep.tree(&unpacked, &key, "--include", &|_| false),
            None => {
                return Err(Error::Input(format!(
                    "--include {include}: the image has no such path"
                )))
            }
        }
    }
    reporter.step("running the image's program traced");
    let original_runs = run::run_plan(&plan, &rootfs, &scratch.join("traced"), true)?;
    let closure_options = keep::closure_options(&program);
    for r in &original_runs {
        keep::traced_keep(&unpacked, &r.touched, &r.label, &closure_options, &mut keep);
    }
    let mut report = SlimReport {
        source: options.source.to_string(),
        source_digest,
        destination: options.destination.to_string(),
        manifest_digest: None,
        before: Sizes {
            files: unpacked
                .files
                .values()
                .filter(|m| m.kind == FileKind::File)
                .count(),
            file_bytes: unpacked
                .files
                .values()
                .filter(|m| m.kind == FileKind::File)
                .map(|m| m.size)
                .sum(),
            compressed: source_compressed,
            uncompressed: unpacked.uncompressed,
        },
        after: Sizes::default(),
        user: format!("{uid}:{gid}"),
        original_runs,
        slimmed_runs: Vec::new(),
        same_output: Vec::new(),
        kept: Vec::new(),
        removed: Vec::new(),
        packages: PackageChanges::default(),
        bytecode: bytecode::Compiled::default(),
        failure: None,
    };
    if let Some(failed) = report.original_runs.iter().find(|r| !r.passed) {
        let why = format!(
            "{} failed on the original image: {}",
            failed.label,
            failed.problem.clone().unwrap_or_default()
        );
        if !options.allow_probe_failure {
            report.failure = Some(format!(
                "{why}; fix the probe, or pass --allow-probe-failure to slim anyway"
            ));
            return Ok(report);
        }
        reporter.warn(&format!("{why} (slimming anyway: --allow-probe-failure)"));
    }
    if !options.excludes.is_empty() {
        let globs = pare_dockerfile::ignore::DockerIgnore::parse(&options.excludes.join("\n"));
        keep.reasons.retain(|k, _| !globs.excludes(k));
    }
    let pruned = databases::prune(&unpacked, &mut keep);
    report.packages = PackageChanges {
        removed: pruned.removed.clone(),
        partial: pruned.partial.clone(),
        whole: pruned.whole.len(),
    };

    if options.bytecode != bytecode::Bytecode::None {
        match bytecode::interpreter(&unpacked, &report.original_runs, &plan.entry.program) {
            Some(python) => {
                reporter.step(&format!("compiling Python bytecode with {python}"));
                let main = bytecode::main_script(&unpacked, &plan.entry, &plan.workdir);
                let sources = bytecode::sources(
                    options.bytecode,
                    &unpacked,
                    keep.reasons.keys(),
                    &keep.traced,
                    main.as_deref(),
                );
                report.bytecode = bytecode::compile(
                    &python,
                    &sources,
                    &unpacked,
                    &plan,
                    &scratch.join("bytecode"),
                )?;
            }
            None => reporter.warn("--bytecode: the image's program runs no Python interpreter"),
        }
    }

    // The slimmed tree: every kept path and the directories above it.
    let mut kept_keys: BTreeMap<String, String> = BTreeMap::new();
    for (key, reason) in &keep.reasons {
        if report.bytecode.files.contains_key(key) {
            continue;
        }
        let Some(meta) = unpacked.files.get(key) else {
            continue;
        };
        if matches!(meta.kind, FileKind::Char | FileKind::Block | FileKind::Fifo) {
            continue;
        }
        let mut parent = key.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            kept_keys
                .entry(up.to_string())
                .or_insert_with(|| format!("holds /{key}"));
            parent = up;
        }
        kept_keys.insert(key.clone(), reason.clone());
    }
    let slim_root = scratch.join("slim");
    std::fs::create_dir(&slim_root).map_err(Error::io("create", &slim_root))?;
    let mut tree = stage(&unpacked, &kept_keys, &pruned.rewritten, &slim_root)?;
    stage_added(&report.bytecode.files, &mut tree, &slim_root)?;

    reporter.step("running the slimmed image's program");
    report.slimmed_runs = run::run_plan(&plan, &slim_root, &scratch.join("check"), false)?;
    report.same_output = report
        .original_runs
        .iter()
        .zip(&report.slimmed_runs)
        .map(|(a, b)| a.stdout == b.stdout)
        .collect();
    for (original, slimmed) in report.original_runs.iter().zip(&report.slimmed_runs) {
        if original.passed && !slimmed.passed {
            report.failure = Some(format!(
                "{} passes on the original image but fails on the slimmed one: {}; keep what \
                 it needs with --include PATH",
                slimmed.label,
                slimmed.problem.clone().unwrap_or_default()
            ));
            break;
        }
    }

    for (key, meta) in &unpacked.files {
        match kept_keys.get(key) {
            Some(reason) if !matches!(meta.kind, FileKind::Dir) => report.kept.push(KeptPath {
                path: format!("/{key}"),
                kind: kind_name(meta.kind),
                size: pruned
                    .rewritten
                    .get(key)
                    .map_or(meta.size, |b| b.len() as u64),
                reason: reason.clone(),
            }),
            Some(_) => {}
            // An image .pyc that bytecode replaced is listed with the bytecode below.
            None if report.bytecode.files.contains_key(key) => {}
            None => report.removed.push(RemovedPath {
                path: format!("/{key}"),
                kind: kind_name(meta.kind),
                size: meta.size,
            }),
        }
    }
    for (key, host) in &report.bytecode.files {
        report.kept.push(KeptPath {
            path: format!("/{key}"),
            kind: "file",
            size: std::fs::metadata(host).map(|m| m.len()).unwrap_or(0),
            reason: "bytecode compiled by the image's interpreter (--bytecode, unchecked hash)"
                .into(),
        });
    }
    report.kept.sort_by(|a, b| a.path.cmp(&b.path));
    report.after.files = report.kept.iter().filter(|k| k.kind == "file").count();
    report.after.file_bytes = report
        .kept
        .iter()
        .filter(|k| k.kind == "file")
        .map(|k| k.size)
        .sum();
    if report.failure.is_some() {
        return Ok(report);
    }

    reporter.step("writing the slimmed image");
    let spec = image_spec(options, config, &report)?;
    let mtime = options.source_date_epoch.unwrap_or(0);
    let layers = [PlannedLayer {
        tree,
        created_by: format!(
            "pare slim: kept {} of {} files from {}",
            report.after.files, report.before.files, report.source_digest
        ),
        comment: None,
        thorough: false,
    }];
    let cx = WriteContext {
        layers: &layers,
        spec: &spec,
        compression: options.compression,
        mtime,
        reuse: false,
        reporter,
    };
    let assembly = crate::image_io::assembly_for(&options.destination)?;
    let (stored, written) = match write_image(&assembly.layout, &cx) {
        Ok(done) => done,
        Err(e) => {
            assembly.discard();
            return Err(e);
        }
    };
    let mut io = IoReport::default();
    assembly.finish(
        &stored.manifest,
        &mut |_| Ok(()),
        &options.destination,
        &options.extra_tags,
        &options.access,
        reporter,
        &mut io,
    )?;
    report.after.compressed = written.iter().map(|w| w.size).sum();
    report.after.uncompressed = written.iter().map(|w| w.uncompressed_size).sum();
    report.manifest_digest = Some(stored.manifest.digest().to_string());
    Ok(report)
}

/// What an image's config says about how its program runs, with the user resolved against its
/// own /etc/passwd and /etc/group.
pub(crate) struct ImageSettings {
    /// ENTRYPOINT followed by CMD.
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub path_env: String,
    pub workdir: String,
    pub uid: u32,
    pub gid: u32,
    /// The same, as static analysis takes it.
    pub program: Program,
}

impl ImageSettings {
    /// The runs of the image's program and of `probes` (argv, the program found on the image's
    /// PATH) as this image's user, with its env and workdir.
    pub fn plan(
        &self,
        unpacked: &Unpacked,
        probes: &[Vec<String>],
        http: &[HttpProbe],
        timeout: Duration,
    ) -> Result<Plan> {
        let find = |name: &str, what: &str| -> Result<String> {
            unpacked
                .find_program(name, &self.path_env, &self.workdir)
                .ok_or_else(|| {
                    Error::Input(format!(
                        "{what} {name:?} is not in the image (looked on PATH {:?} and in {})",
                        self.path_env, self.workdir
                    ))
                })
        };
        let entry = Command {
            program: find(&self.argv[0], "the image's program")?,
            argv: self.argv.clone(),
        };
        let probes = probes
            .iter()
            .map(|p| {
                let first = p
                    .first()
                    .ok_or_else(|| Error::Input("an empty --probe".into()))?;
                Ok(Command {
                    program: find(first, "the probe's program")?,
                    argv: p.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Plan {
            entry,
            probes,
            http: http.to_vec(),
            env: self.env.clone(),
            workdir: self.workdir.clone(),
            uid: self.uid,
            gid: self.gid,
            timeout,
        })
    }
}

pub(crate) fn image_settings(
    config: &serde_json::Value,
    unpacked: &Unpacked,
    source: &ImageRef,
) -> Result<ImageSettings> {
    let settings = &config["config"];
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut argv = strings(&settings["Entrypoint"]);
    argv.extend(strings(&settings["Cmd"]));
    if argv.is_empty() {
        return Err(Error::Input(format!(
            "{}: the image has neither ENTRYPOINT nor CMD, so there is no program to keep",
            source
        )));
    }
    let env = strings(&settings["Env"]);
    let env_value = |name: &str| {
        env.iter()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_string))
    };
    let path_env = env_value("PATH").unwrap_or_else(|| {
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()
    });
    let workdir = settings["WorkingDir"]
        .as_str()
        .filter(|w| !w.is_empty())
        .unwrap_or("/")
        .to_string();
    let user = settings["User"].as_str().unwrap_or("").to_string();
    let passwd = unpacked.read_text("/etc/passwd");
    let group = unpacked.read_text("/etc/group");
    let run_as = if user.is_empty() {
        crate::build::checks::RunAs {
            uid: 0,
            gid: Some(0),
        }
    } else {
        crate::build::checks::resolve_user_in(&passwd, &group, &user)?
    };
    let uid = run_as.uid;
    let gid = run_as.gid.unwrap_or(0);
    let home = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2).and_then(|u| u.parse::<u32>().ok()) == Some(uid))
        .and_then(|f| f.get(5).map(|h| h.to_string()))
        .filter(|h| h.starts_with('/'));
    let program = Program {
        argv: argv.clone(),
        path_env: path_env.clone(),
        ld_library_path: env_value("LD_LIBRARY_PATH")
            .map(|v| crate::loader::search_path(&v))
            .unwrap_or_default(),
        workdir: workdir.clone(),
        home,
    };
    Ok(ImageSettings {
        argv,
        env,
        path_env,
        workdir,
        uid,
        gid,
        program,
    })
}

/// Makes the slimmed tree in `dir` (hard links to the unpacked files, so inodes shared in the
/// image stay shared; rewritten databases as new files) and returns the layer tree to write.
fn stage(
    unpacked: &Unpacked,
    kept: &BTreeMap<String, String>,
    rewritten: &BTreeMap<String, Vec<u8>>,
    dir: &Path,
) -> Result<LayerTree> {
    let mut tree = LayerTree::new();
    let mut first_of_inode: HashMap<(u64, u64), String> = HashMap::new();
    for key in kept.keys() {
        let Some(meta) = unpacked.files.get(key) else {
            continue;
        };
        let host = dir.join(key);
        let (uid, gid) = (owner(meta.uid, key)?, owner(meta.gid, key)?);
        let entry = match meta.kind {
            FileKind::Dir => {
                std::fs::create_dir(&host).map_err(Error::io("create", &host))?;
                Entry::owned(EntryKind::Directory, meta.mode, uid, gid)
            }
            FileKind::Symlink => {
                let target = meta.target.clone().unwrap_or_default();
                std::os::unix::fs::symlink(&target, &host)
                    .map_err(Error::io("create the symlink", &host))?;
                Entry::owned(EntryKind::Symlink { target }, 0o777, uid, gid)
            }
            FileKind::File | FileKind::Hardlink => {
                if let Some(bytes) = rewritten.get(key) {
                    std::fs::write(&host, bytes).map_err(Error::io("write", &host))?;
                    Entry::owned(
                        EntryKind::File {
                            source: FileSource::Bytes(bytes.clone().into()),
                            size: bytes.len() as u64,
                        },
                        meta.mode,
                        uid,
                        gid,
                    )
                } else {
                    let from = unpacked.host(key);
                    std::fs::hard_link(&from, &host).map_err(Error::io("link", &host))?;
                    let disk =
                        std::fs::symlink_metadata(&from).map_err(Error::io("read", &from))?;
                    match first_of_inode.get(&(disk.dev(), disk.ino())) {
                        Some(first) => Entry::owned(
                            EntryKind::Hardlink {
                                target: first.clone(),
                            },
                            meta.mode,
                            uid,
                            gid,
                        ),
                        None => {
                            first_of_inode.insert((disk.dev(), disk.ino()), key.clone());
                            Entry::owned(
                                EntryKind::File {
                                    source: FileSource::Host(from),
                                    size: disk.len(),
                                },
                                meta.mode,
                                uid,
                                gid,
                            )
                        }
                    }
                }
            }
            FileKind::Char | FileKind::Block | FileKind::Fifo => continue,
        };
        tree.insert(key.clone(), entry)?;
    }
    Ok(tree)
}

/// Adds files made during the slim (bytecode) to the slimmed tree, root-owned and 0644, with
/// any directory they need that the tree lacks.
fn stage_added(
    added: &BTreeMap<String, std::path::PathBuf>,
    tree: &mut LayerTree,
    dir: &Path,
) -> Result<()> {
    for (key, host) in added {
        let mut parents = Vec::new();
        let mut at = key.as_str();
        while let Some((parent, _)) = at.rsplit_once('/') {
            if tree.get(parent).is_none() {
                parents.push(parent.to_string());
            }
            at = parent;
        }
        for parent in parents.iter().rev() {
            let path = dir.join(parent);
            std::fs::create_dir_all(&path).map_err(Error::io("create", &path))?;
            tree.insert(parent.clone(), Entry::dir(0o755))?;
        }
        let target = dir.join(key);
        let _ = std::fs::remove_file(&target);
        std::fs::hard_link(host, &target).map_err(Error::io("link", &target))?;
        let size = std::fs::metadata(host)
            .map_err(Error::io("read", host))?
            .len();
        tree.insert(
            key.clone(),
            Entry::owned(
                EntryKind::File {
                    source: FileSource::Host(host.clone()),
                    size,
                },
                0o644,
                0,
                0,
            ),
        )?;
    }
    Ok(())
}

fn owner(id: u64, key: &str) -> Result<u32> {
    u32::try_from(id).map_err(|_| {
        Error::Input(format!(
            "/{key} is owned by id {id}, which does not fit a 32-bit uid or gid"
        ))
    })
}

/// The slimmed image's config and manifest settings: the source's own.
fn image_spec(
    options: &SlimOptions,
    config: &serde_json::Value,
    report: &SlimReport,
) -> Result<ImageSpec> {
    let settings: Config = serde_json::from_value(config["config"].clone()).map_err(|e| {
        Error::Input(format!(
            "{}: the image config's `config` is not valid: {e}",
            options.source
        ))
    })?;
    let text = |name: &str| config[name].as_str().map(str::to_string);
    let platform = Platform {
        os: text("os").unwrap_or_else(|| "linux".into()),
        architecture: text("architecture").unwrap_or_else(|| "amd64".into()),
        variant: text("variant"),
    };
    let created = match options.source_date_epoch {
        Some(epoch) => pare_oci::image::rfc3339(epoch),
        None => text("created").unwrap_or_else(|| pare_oci::image::rfc3339(0)),
    };
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.base.digest".to_string(),
        report.source_digest.clone(),
    );
    Ok(ImageSpec {
        platform,
        created,
        config: settings,
        annotations,
        inherited: Inherited::default(),
    })
}
