//! `pare build`'s Python bytecode (`--bytecode`, `[python] bytecode`): the planned image is written
//! uncompressed into a scratch layout, unpacked as the runtimes unpack it, and the image's own
//! interpreter compiles its modules in pare's sandbox as the image's user: every `.py` for `all`,
//! only those a traced run of the image's program (and of the bytecode probes) read for `imported`.
//! The `.pyc` files become one more layer on top. Going through a written image, rather than the
//! planned trees, makes a base image's files count as the runtime would see them. Not here: the
//! compiler run itself (`crate::bytecode`), the sandbox (`pare_sandbox`).

use std::path::Path;
use std::time::Duration;

use pare_oci::compress::Compression;
use pare_oci::image::ImageSpec;
use pare_oci::layout::Layout;
use pare_oci::reference::ImageRef;
use pare_oci::tree::{Entry, EntryKind, FileSource, LayerTree};
use serde::Serialize;

use crate::bases::image::ImageBase;
use crate::bytecode::{self, Bytecode};
use crate::image_io::{open, Access, IoReport, Purpose, Scratch};
use crate::layers::{write_image, PlannedLayer, WriteContext};
use crate::reporter::NullReporter;
use crate::slim::keep::{closure_options, traced_keep, Keep};
use crate::slim::run::{run_plan, HttpProbe};
use crate::slim::unpack::unpack;
use crate::slim::{image_settings, ImageSettings};
use crate::{Error, Reporter, Result};

/// Which modules get bytecode, and the runs that tell which were imported.
#[derive(Clone, Debug)]
pub struct BytecodeOptions {
    pub which: Bytecode,
    /// Commands run inside the image beside its program (argv; for `imported`).
    pub probes: Vec<Vec<String>>,
    /// HTTP probes against the program (for `imported`).
    pub http: Vec<HttpProbe>,
    /// How long the program may run before it counts as a service, and each probe may take.
    pub timeout: Duration,
}

impl Default for BytecodeOptions {
    fn default() -> Self {
        Self {
            which: Bytecode::None,
            probes: Vec::new(),
            http: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Where bytecode settings came from, for messages: the flags or pare.toml's `[python]`.
pub struct SettingNames {
    pub which: &'static str,
    pub timeout: &'static str,
}

impl BytecodeOptions {
    /// Takes settings as written (`imported`, probe command lines, `PORT/PATH`, seconds), each
    /// replacing or extending what is there.
    pub fn set(
        &mut self,
        which: Option<&str>,
        probes: &[String],
        http: &[String],
        timeout: Option<u64>,
        names: &SettingNames,
    ) -> Result<()> {
        if let Some(which) = which {
            self.which = Bytecode::parse(which).ok_or_else(|| {
                Error::Input(format!(
                    "{} {which:?} is not one of imported, all, none",
                    names.which
                ))
            })?;
        }
        for probe in probes {
            self.probes.push(crate::slim::run::parse_probe(probe)?);
        }
        for h in http {
            self.http.push(HttpProbe::parse(h)?);
        }
        match timeout {
            Some(0) => {
                return Err(Error::Input(format!(
                    "{} must be at least 1 second",
                    names.timeout
                )))
            }
            Some(seconds) => self.timeout = Duration::from_secs(seconds),
            None => {}
        }
        Ok(())
    }
}

/// One traced run, as the build report lists it.
#[derive(Clone, Debug, Serialize)]
pub struct TracedRun {
    pub label: String,
    pub argv: Vec<String>,
    pub status: String,
    pub passed: bool,
    pub problem: Option<String>,
}

/// What the build compiled.
#[derive(Clone, Debug, Serialize)]
pub struct BytecodeReport {
    pub which: Bytecode,
    /// The interpreter that compiled (a path inside the image).
    pub interpreter: String,
    /// `.pyc` files in the bytecode layer and their bytes.
    pub files: usize,
    pub bytes: u64,
    /// Sources the interpreter would not compile.
    pub skipped: usize,
    /// The traced runs (`imported` only).
    pub runs: Vec<TracedRun>,
}

/// The bytecode layer for the image `layers` and `spec` describe (on `base`, when there is one),
/// the report, and the scratch directory that holds the layer's files until the image is written.
pub(crate) fn bytecode_layer(
    layers: &[PlannedLayer],
    spec: &ImageSpec,
    base: Option<&ImageBase>,
    options: &BytecodeOptions,
    reporter: &dyn Reporter,
) -> Result<Option<(PlannedLayer, BytecodeReport, Scratch)>> {
    if options.which == Bytecode::None {
        return Ok(None);
    }
    if let Err(why) = pare_sandbox::available() {
        return Err(Error::Input(format!(
            "--bytecode runs the image's Python in a sandbox of user namespaces, which this \
             machine does not allow: {why}; build with --bytecode none"
        )));
    }
    let scratch = Scratch::new("pare-bytecode-")?;
    let (layer, report) = compile_in(scratch.path(), layers, spec, base, options, reporter)?;
    Ok(Some((layer, report, scratch)))
}

fn compile_in(
    dir: &Path,
    layers: &[PlannedLayer],
    spec: &ImageSpec,
    base: Option<&ImageBase>,
    options: &BytecodeOptions,
    reporter: &dyn Reporter,
) -> Result<(PlannedLayer, BytecodeReport)> {
    reporter.step("bytecode: unpacking the image for its Python");
    let layout_dir = dir.join("layout");
    let layout = Layout::create_throwaway(&layout_dir)?;
    if let Some(base) = base {
        base.carry_into(&layout)?;
    }
    let context = WriteContext {
        layers,
        spec,
        compression: Compression::None,
        mtime: 0,
        reuse: false,
        reporter: &NullReporter,
    };
    let (stored, _) = write_image(&layout, &context)?;
    layout.set_tags(&stored.manifest, &["bytecode".to_string()])?;
    drop(layout);
    let reference = ImageRef::Layout {
        dir: layout_dir,
        tag: Some("bytecode".into()),
    };
    let image = open(
        &reference,
        &Access::default(),
        Purpose::Read,
        &NullReporter,
        &mut IoReport::default(),
    )?;
    let rootfs = dir.join("rootfs");
    std::fs::create_dir(&rootfs).map_err(Error::io("create", &rootfs))?;
    let unpacked = unpack(&image, &rootfs, &NullReporter)?;
    let config = image.documents.config_json.clone();
    drop(image);
    let settings: ImageSettings = image_settings(&config, &unpacked, &reference).map_err(|e| {
        Error::Input(format!(
            "--bytecode needs the image's program to find its Python: {e}"
        ))
    })?;
    let plan = settings.plan(&unpacked, &options.probes, &options.http, options.timeout)?;

    let mut keep = Keep::default();
    let mut runs = Vec::new();
    if options.which == Bytecode::Imported {
        reporter.step("bytecode: running the image's program traced");
        let results = run_plan(&plan, &rootfs, &dir.join("traced"), true)?;
        let closure = closure_options(&settings.program);
        for run in &results {
            traced_keep(&unpacked, &run.touched, &run.label, &closure, &mut keep);
            if let Some(problem) = &run.problem {
                reporter.warn(&format!(
                    "bytecode: {} ({}): {problem}; only what it imported until then is compiled",
                    run.label,
                    run.argv.join(" ")
                ));
            }
        }
        runs = results;
    }
    let python = bytecode::interpreter(&unpacked, &runs, &plan.entry.program).ok_or_else(|| {
        Error::Input(format!(
            "--bytecode: the image's program {} is not a Python interpreter, a script run by one, \
             or a program a traced run saw execute one; build with --bytecode none",
            plan.entry.program
        ))
    })?;
    let main = bytecode::main_script(&unpacked, &plan.entry, &plan.workdir);
    let sources = bytecode::sources(
        options.which,
        &unpacked,
        unpacked.files.keys(),
        &keep.traced,
        main.as_deref(),
    );
    reporter.step(&format!(
        "bytecode: compiling {} modules with {python}",
        sources.len()
    ));
    let compiled = bytecode::compile(&python, &sources, &unpacked, &plan, &dir.join("compile"))?;

    let mut tree = LayerTree::new();
    for (key, host) in &compiled.files {
        tree.insert(key.clone(), pyc_entry(host)?)?;
    }
    let report = BytecodeReport {
        which: options.which,
        interpreter: python,
        files: compiled.count,
        bytes: compiled.bytes,
        skipped: compiled.skipped,
        runs: runs
            .iter()
            .map(|r| TracedRun {
                label: r.label.clone(),
                argv: r.argv.clone(),
                status: r.status.clone(),
                passed: r.passed,
                problem: r.problem.clone(),
            })
            .collect(),
    };
    let layer = PlannedLayer {
        tree,
        created_by: format!(
            "pare build: Python bytecode ({}, {} files, unchecked hash)",
            match options.which {
                Bytecode::All => "all modules",
                _ => "imported modules",
            },
            compiled.count
        ),
        comment: Some(format!("compiled by the image's {}", report.interpreter)),
        thorough: false,
    };
    Ok((layer, report))
}

/// A `.pyc` the interpreter left in a sandbox's upper layer, as a root-owned 0644 file.
fn pyc_entry(host: &Path) -> Result<Entry> {
    let size = std::fs::symlink_metadata(host)
        .map_err(Error::io("read the metadata of", host))?
        .len();
    Ok(Entry::owned(
        EntryKind::File {
            source: FileSource::Host(host.to_path_buf()),
            size,
        },
        0o644,
        0,
        0,
    ))
}
