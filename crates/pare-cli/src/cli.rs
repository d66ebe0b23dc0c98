//! The command-line surface of pare: every verb's flags, in one place, with examples in `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "pare makes and keeps container images minimal: your program on scratch or a \
distroless-style base, non-root, reproducible, audited, without a Docker daemon.";

const MAIN_EXAMPLES: &str = "\
Examples:
  pare build --copy target/release/app:/app --entrypoint /app --output oci:out:latest
  pare build -f pare.toml                  # or just `pare build` next to a pare.toml
  pare audit oci:out:latest                # layers, waste, attack surface, will it start
  pare gate oci:out:latest --baseline size-baseline.json --max-growth 5%
  pare push oci:out:latest docker://127.0.0.1:5000/team/app:1.0
`pare COMMAND --help` shows each command's flags and examples.";

#[derive(Parser, Debug)]
#[command(name = "pare", version, about = ABOUT, long_about = None, propagate_version = true,
    after_help = MAIN_EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every verb takes.
#[derive(Args, Debug)]
pub struct GlobalArgs {
    /// Print only errors (and the result in --format json).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// How build, lock, push/pull/copy and inspect-binary print their result.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TextFormat {
    /// Readable text.
    #[default]
    Human,
    /// JSON with a versioned schema (docs/json.md).
    Json,
}

/// How lint prints its findings.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FindingsFormat {
    /// Readable text.
    #[default]
    Human,
    /// JSON with a versioned schema (docs/json.md).
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

/// How audit prints its report.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AuditFormat {
    /// Readable text.
    #[default]
    Human,
    /// JSON with a versioned schema (docs/json.md).
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
    /// One self-contained HTML page with charts (no network, no external files).
    Html,
}

/// How diff, gate and compare print their report.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReportFormat {
    /// Readable text.
    #[default]
    Human,
    /// JSON with a versioned schema (docs/json.md).
    Json,
    /// Markdown, for a pull-request comment.
    Markdown,
    /// One self-contained HTML page with charts (no network, no external files).
    Html,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build a reproducible, minimal, non-root OCI image from your binaries.
    #[command(after_help = BUILD_EXAMPLES)]
    Build(Box<BuildArgs>),
    /// Resolve a build's Debian recipe and packages against the apt repositories and write pare.lock.
    #[command(after_help = LOCK_EXAMPLES)]
    Lock(Box<LockArgs>),
    /// Push an image from a layout or archive to a registry (only the blobs it lacks).
    #[command(after_help = PUSH_EXAMPLES)]
    Push(TransferArgs),
    /// Pull an image from a registry into a layout or archive (blobs already stored are kept).
    #[command(after_help = PULL_EXAMPLES)]
    Pull(PullArgs),
    /// Copy an image between any two of oci:, oci-archive:, docker-archive: and docker://.
    #[command(after_help = COPY_EXAMPLES)]
    Copy(TransferArgs),
    /// Explain an image: layers, waste, attack surface, secrets, and whether it will start.
    #[command(after_help = AUDIT_EXAMPLES)]
    Audit(AuditArgs),
    /// List what an image is made of: OS, C library, packages of every ecosystem, ELF binaries.
    #[command(after_help = INVENTORY_EXAMPLES)]
    Inventory(InventoryArgs),
    /// Match an image's packages against vulnerability data on disk (OSV, Debian tracker), offline.
    #[command(after_help = SCAN_EXAMPLES)]
    Scan(ScanArgs),
    /// Vulnerability data for `pare scan`: `pare db fetch` downloads it.
    #[command(subcommand)]
    Db(DbCommand),
    /// Write an image's SBOM: SPDX 2.3 or CycloneDX 1.6 JSON, byte-identical on every run.
    #[command(after_help = SBOM_EXAMPLES)]
    Sbom(SbomArgs),
    /// Sign an image as cosign does (ECDSA P-256 key; the signature kept under sha256-<hex>.sig).
    #[command(after_help = SIGN_EXAMPLES)]
    Sign(SignArgs),
    /// Check an image's cosign signatures against a public key (exit 1 when none verifies).
    #[command(after_help = SIGN_EXAMPLES)]
    Verify(VerifyArgs),
    /// Sign an in-toto statement about an image (SBOM, SLSA provenance, any predicate), as cosign attest.
    #[command(after_help = ATTEST_EXAMPLES)]
    Attest(AttestArgs),
    /// Check an image's attestations against a public key (exit 1 when none verifies).
    #[command(name = "verify-attestation", after_help = ATTEST_EXAMPLES)]
    VerifyAttestation(VerifyAttestationArgs),
    /// List what refers to an image (OCI 1.1 referrers: SBOMs, signatures, attestations).
    #[command(after_help = REFERRERS_EXAMPLES)]
    Referrers(ReferrersArgs),
    /// Show what changed between two images: files, sizes, layers, config.
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(DiffArgs),
    /// Fail (exit 1) when an image grew past a limit against a baseline.
    #[command(after_help = GATE_EXAMPLES)]
    Gate(GateArgs),
    /// Put several images side by side: sizes, layers, attack surface, findings, pull and unpack time.
    #[command(after_help = COMPARE_EXAMPLES)]
    Compare(CompareArgs),
    /// Slim an image to the files its program uses: static analysis plus traced probe runs.
    #[command(after_help = SLIM_EXAMPLES)]
    Slim(SlimArgs),
    /// Show what an ELF binary is made of and which libraries it needs.
    #[command(name = "inspect-binary", after_help = INSPECT_EXAMPLES)]
    InspectBinary(InspectBinaryArgs),
    /// Lint Dockerfiles: hadolint's and BuildKit's checks and the minimal-image rules.
    #[command(after_help = LINT_EXAMPLES)]
    Lint(LintArgs),
    /// Write a pare.toml from a Dockerfile's final stage, and say what it could not carry.
    #[command(after_help = INIT_EXAMPLES)]
    Init(InitArgs),
}

impl Command {
    /// Whether the command was asked for JSON (`--format json`): then its errors and warnings are
    /// JSON too.
    pub fn wants_json(&self) -> bool {
        match self {
            Command::Build(a) => a.format == TextFormat::Json,
            Command::Lock(a) => a.format == TextFormat::Json,
            Command::Push(a) | Command::Copy(a) => a.common.format == TextFormat::Json,
            Command::Pull(a) => a.common.format == TextFormat::Json,
            Command::Audit(a) => a.format == AuditFormat::Json,
            Command::Inventory(a) => a.format == TextFormat::Json,
            Command::Sbom(_) => false,
            Command::Referrers(a) => a.format == TextFormat::Json,
            Command::Sign(a) => a.format == TextFormat::Json,
            Command::Attest(a) => a.format == TextFormat::Json,
            Command::VerifyAttestation(a) => a.format == TextFormat::Json,
            Command::Verify(a) => a.format == TextFormat::Json,
            Command::Scan(a) => a.format == ScanFormat::Json,
            Command::Db(DbCommand::Fetch(a)) => a.format == TextFormat::Json,
            Command::Diff(a) => a.format == ReportFormat::Json,
            Command::Gate(a) => a.format == ReportFormat::Json,
            Command::Compare(a) => a.format == ReportFormat::Json,
            Command::Slim(a) => a.format == TextFormat::Json,
            Command::InspectBinary(a) => a.format == TextFormat::Json,
            Command::Lint(a) => a.format == FindingsFormat::Json,
            Command::Init(a) => a.format == TextFormat::Json,
        }
    }
}

const INSPECT_EXAMPLES: &str = "\
Examples:
  pare inspect-binary target/release/app
  pare inspect-binary --root /srv/sysroot --format json ./app
Shows linkage, loader, needed libraries, RPATH/RUNPATH, the newest GLIBC version needed, Go build
info, cargo-auditable dependencies, and the library closure the loader would resolve.";

const AUDIT_EXAMPLES: &str = "\
Examples:
  pare audit oci:out:latest
  pare audit docker-archive:app.tar --format json > report.json
  pare audit oci:out --fail-on critical       # exit 1 only for critical findings
  pare audit oci:out --policy pare-policy.toml --format sarif > audit.sarif
  pare audit oci:out --format html > audit.html   # charts, file treemap; opens offline
Exit codes: 0 no finding at or above --fail-on, 1 otherwise, 2 bad input.";

/// Arguments of audit.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The image (any reference form).
    #[arg(value_name = "IMAGE", required_unless_present = "list_rules")]
    pub image: Option<String>,
    /// Print the rule catalog (id, severity, title, help) instead of auditing.
    #[arg(long)]
    pub list_rules: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: AuditFormat,
    /// Fail (exit 1) on findings at or above this severity: info, low, medium, high, critical
    /// (default: the policy's, else high).
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
    /// Policy file (TOML): rules to turn off or re-grade, fail_on, waste limits (see README).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The image this one was built on: its layers are marked as base layers.
    #[arg(long, value_name = "REF")]
    pub base_image: Option<String>,
    #[command(flatten)]
    pub read: ReadArgs,
}

const INVENTORY_EXAMPLES: &str = "\
Examples:
  pare inventory oci:out:latest
  pare inventory docker-archive:app.tar --format json | jq -r '.packages[].purl'
Packages come from dpkg (status and distroless status.d), apk, Go build info and cargo-auditable
data in the image's binaries, each with its purl, source package, files and layer.";

/// Arguments of inventory.
#[derive(Args, Debug)]
pub struct InventoryArgs {
    /// The image (any reference form).
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

const SCAN_EXAMPLES: &str = "\
Examples:
  pare scan oci:out:latest --db osv/                      # a directory of OSV records and all.zip files
  pare scan oci:out --db Debian.zip --db tracker.json --fail-on high
  pare scan docker-archive:app.tar --db osv/ --only-fixed --ignore pare-ignore.toml --format sarif
  pare scan oci:out --db osv/ --max-db-age 7d              # refuse data older than a week
Debian packages match by source package and version within the image's release (OSV `Debian:12`, the
tracker's `bookworm`); Alpine by origin; Go, crates.io and npm by semver, the Go toolchain by the
binary's build info; PyPI by PEP 440. An ignore file holds [[ignore]] tables: id, reason, and
optionally package and expires = \"YYYY-MM-DD\" (an expired entry stops hiding).
Exit codes: 0 nothing at or above --fail-on, 1 otherwise, 2 bad input or a stale database.";

const LINT_EXAMPLES: &str = "\
Examples:
  pare lint                                   # ./Dockerfile, its directory as the context
  pare lint build/Dockerfile --context . --format sarif > lint.sarif
  pare lint Dockerfile* --fail-on high        # several files in one run
  pare lint --list-rules                      # the rules, with hadolint's and BuildKit's names
Silence a rule for one instruction with a comment on the line before it:
  # pare-ignore=PARE-LINT-APT-UNPINNED,DL3015
and for the project in pare.toml: [lint] disable = [\"PARE-LINT-BASE-NOT-PINNED\"] and
[lint.severity] \"PARE-LINT-CONSECUTIVE-RUN\" = \"low\". hadolint's and BuildKit's rule names work too.
Exit codes: 0 nothing at or above --fail-on (default medium), 1 otherwise, 2 unreadable input.";

const INIT_EXAMPLES: &str = "\
Examples:
  pare init --from-dockerfile Dockerfile            # writes ./pare.toml
  pare init --from-dockerfile Dockerfile -o -       # prints it
The final stage's base becomes a pare base (distroless static -> static, cc -> cc, python3 -> python3,
java -> java, scratch -> scratch; another image stays a reference), COPY --from lines become [[copy]]
entries with a comment naming the build-stage path to produce, and USER, ENV, WORKDIR, ENTRYPOINT, CMD,
EXPOSE, LABEL and STOPSIGNAL carry over. RUN steps of the final stage are listed, not carried.";

/// Arguments of lint.
#[derive(Args, Debug)]
pub struct LintArgs {
    /// Dockerfiles to lint (default ./Dockerfile).
    #[arg(value_name = "DOCKERFILE")]
    pub files: Vec<PathBuf>,
    /// The build context, for .dockerignore and the files a COPY takes (default: each
    /// Dockerfile's directory).
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: FindingsFormat,
    /// Fail (exit 1) on findings at or above this severity (info, low, medium, high, critical,
    /// or none).
    #[arg(long, value_name = "SEVERITY", default_value = "medium")]
    pub fail_on: String,
    /// pare.toml whose [lint] table turns rules off or re-grades them (default ./pare.toml when
    /// it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the lint rules instead of linting.
    #[arg(long)]
    pub list_rules: bool,
}

/// Arguments of init.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// The Dockerfile whose final stage becomes the pare.toml.
    #[arg(long, value_name = "DOCKERFILE")]
    pub from_dockerfile: PathBuf,
    /// Where to write (default pare.toml; `-` for standard output).
    #[arg(short, long, value_name = "FILE", default_value = "pare.toml")]
    pub output: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
}

/// `pare db` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum DbCommand {
    /// Download vulnerability data (OSV all.zip archives or records, the Debian security tracker's
    /// JSON, debian-security-support lists) into a directory for `pare scan --db`.
    #[command(after_help = DB_FETCH_EXAMPLES)]
    Fetch(DbFetchArgs),
}

const DB_FETCH_EXAMPLES: &str = "\
Examples:
  pare db fetch --url https://OSV-HOST/Debian/all.zip --url https://OSV-HOST/PyPI/all.zip osv/
  pare db fetch --url tracker.json=https://TRACKER-HOST/tracker/data/json osv/
  pare scan oci:out:latest --db osv/ --max-db-age 7d
Each download is read as the scan will read it before it replaces the file of the same name; a download
that is not vulnerability data leaves the directory as it was. pare-db.toml in the directory records
each URL, file, SHA-256 and record count. NAME=URL chooses the file name (default: the URL's last part;
.../Debian/all.zip becomes Debian-all.zip).";

/// Arguments of db fetch.
#[derive(Args, Debug)]
pub struct DbFetchArgs {
    /// What to download: URL or NAME=URL (repeatable; http, https or file).
    #[arg(long, value_name = "URL", required = true)]
    pub url: Vec<String>,
    /// The directory to keep the data in.
    #[arg(value_name = "DIR")]
    pub dir: std::path::PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
}

/// How scan prints its report.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ScanFormat {
    /// Readable text.
    #[default]
    Human,
    /// JSON with a versioned schema (docs/json.md).
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
    /// CycloneDX 1.6 with vulnerabilities (VEX) over the image's SBOM components.
    CyclonedxVex,
}

/// Arguments of scan.
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// The image (any reference form).
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Vulnerability data: an OSV record, a directory of them, an osv.dev all.zip, or the Debian
    /// security tracker's JSON (repeatable).
    #[arg(long, value_name = "PATH", required = true)]
    pub db: Vec<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ScanFormat,
    /// Exit 1 when a vulnerability at or above this severity is found (negligible, unknown, low,
    /// medium, high, critical).
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
    /// Report only vulnerabilities that have a fixed version.
    #[arg(long)]
    pub only_fixed: bool,
    /// TOML file of [[ignore]] entries (id, reason, optional package and expires).
    #[arg(long, value_name = "FILE")]
    pub ignore: Option<std::path::PathBuf>,
    /// Fail when the database's newest record is older than this (7d, 48h, 2w).
    #[arg(long, value_name = "AGE")]
    pub max_db_age: Option<String>,
    #[command(flatten)]
    pub read: ReadArgs,
}

const SBOM_EXAMPLES: &str = "\
Examples:
  pare sbom oci:out:latest > sbom.spdx.json
  pare sbom docker://127.0.0.1:5000/team/app:1 --format cyclonedx-json -o sbom.cdx.json
  pare sbom docker-archive:app.tar --name team/app:1.4
Lists OS packages (dpkg, apk), Python distributions, npm packages, Go modules and the Go toolchain,
and Rust crates (cargo-auditable), with purls, stated licenses and the layer each came from. The same
image gives the same bytes on any machine: the time is the image's `created` (or SOURCE_DATE_EPOCH),
the document namespace and serial number come from the manifest digest.";

/// SBOM document formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum SbomFormatArg {
    /// SPDX 2.3 JSON.
    #[default]
    SpdxJson,
    /// CycloneDX 1.6 JSON.
    CyclonedxJson,
}

/// Arguments of sbom.
#[derive(Args, Debug)]
pub struct SbomArgs {
    /// The image (any reference form).
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Document format.
    #[arg(long, value_enum, default_value_t)]
    pub format: SbomFormatArg,
    /// Write the document to FILE (atomically) instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// The image's name in the document (default: the reference's name, or the layout's or
    /// archive's file name and tag).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The document's time, in seconds since the epoch (default: the image's `created`).
    #[arg(long, env = "SOURCE_DATE_EPOCH", value_name = "SECONDS")]
    pub source_date_epoch: Option<String>,
    /// Read the SBOM attached to the image (an OCI 1.1 referrer, as `pare build --sbom` writes)
    /// instead of computing one; an error when none of --format is attached.
    #[arg(long, conflicts_with_all = ["name", "source_date_epoch"])]
    pub attached: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

const SIGN_EXAMPLES: &str = "\
Examples:
  COSIGN_PASSWORD=... pare sign docker://127.0.0.1:5000/app:1 --key cosign.key
  pare sign docker://127.0.0.1:5000/app:1 --key key.pem -a git=1f2e3d   # PKCS#8 or SEC1 PEM
  pare verify docker://127.0.0.1:5000/app:1 --key cosign.pub
  pare sign oci:out:latest --key key.pem --identity registry.example/team/app

The payload, the signature and the sha256-<hex>.sig tag are cosign's, so `cosign verify --key` and
admission controllers that read cosign signatures accept what pare signs. Keyless signing is not
offered. verify: exit 0 when a signature verifies, 1 when none does, 2 for bad input.";

/// Arguments of sign.
#[derive(Args, Debug)]
pub struct SignArgs {
    /// The image: docker://REF or oci:DIR[:TAG].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The private key: PKCS#8 or SEC1 PEM, or cosign's encrypted key (password in COSIGN_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The identity the signature claims (docker-reference); default: the image's repository.
    #[arg(long, value_name = "HOST/REPO")]
    pub identity: Option<String>,
    /// An annotation KEY=VALUE in the payload's `optional` part. Repeatable.
    #[arg(long, short = 'a', value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Arguments of verify.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The image: docker://REF or oci:DIR[:TAG].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The public key (PEM `PUBLIC KEY`, as cosign.pub).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The identity a signature must claim; default: the image's repository (not checked for a
    /// layout without it).
    #[arg(long, value_name = "HOST/REPO")]
    pub identity: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

const ATTEST_EXAMPLES: &str = "\
Examples:
  pare sbom docker://127.0.0.1:5000/app:1 > sbom.spdx.json
  pare attest docker://127.0.0.1:5000/app:1 --key key.pem --type spdxjson --predicate sbom.spdx.json
  pare verify-attestation docker://127.0.0.1:5000/app:1 --key key.pub --type spdxjson

Types: spdxjson, cyclonedx, slsaprovenance1, custom, or a predicate type URI. The statement is
in-toto v1 in a DSSE envelope under the tag sha256-<hex>.att, as cosign attest keeps it.";

/// Arguments of attest.
#[derive(Args, Debug)]
pub struct AttestArgs {
    /// The image: docker://REF or oci:DIR[:TAG].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The private key (as for pare sign).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The predicate: a JSON file.
    #[arg(long, value_name = "FILE")]
    pub predicate: PathBuf,
    /// The predicate type: spdxjson, cyclonedx, slsaprovenance1, custom, or a URI.
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    pub predicate_type: String,
    /// The statement subject's name; default: the image's repository.
    #[arg(long, value_name = "HOST/REPO")]
    pub identity: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Arguments of verify-attestation.
#[derive(Args, Debug)]
pub struct VerifyAttestationArgs {
    /// The image: docker://REF or oci:DIR[:TAG].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The public key (PEM `PUBLIC KEY`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Only attestations of this type count (spdxjson, cyclonedx, slsaprovenance1, custom, or a URI).
    #[arg(long = "type", value_name = "TYPE")]
    pub predicate_type: Option<String>,
    /// The name the statement must give the image; default: the image's repository.
    #[arg(long, value_name = "HOST/REPO")]
    pub identity: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

const REFERRERS_EXAMPLES: &str = "\
Examples:
  pare referrers oci:out:latest
  pare referrers docker://127.0.0.1:5000/app:1 --artifact-type application/spdx+json --format json

A registry is asked through the referrers API, else the fallback tag sha256-<hex> (registries
without the API); an oci: layout keeps referrers as untagged index.json entries.";

/// Arguments of referrers.
#[derive(Args, Debug)]
pub struct ReferrersArgs {
    /// The image: oci:DIR[:TAG] or docker://REF.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Only referrers of this artifact type (application/spdx+json, ...).
    #[arg(long, value_name = "MEDIA-TYPE")]
    pub artifact_type: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

const DIFF_EXAMPLES: &str = "\
Examples:
  pare diff oci:old:1.3 oci:new:1.4
  pare diff docker-archive:a.tar oci:out:latest --format markdown >> pr-comment.md
  pare diff oci:old:1.3 oci:new:1.4 --format html > diff.html";

const GATE_EXAMPLES: &str = "\
Examples:
  pare gate oci:out:latest --baseline size-baseline.json --max-growth 5%
  pare gate oci:out:latest --baseline size-baseline.json --update-baseline     # accept the new size
  pare gate oci:new:1.4 --baseline-image oci:old:1.3 --max-growth 200KiB --by uncompressed
Exit codes: 0 within the limit, 1 past it, 2 bad input.";

const COMPARE_EXAMPLES: &str = "\
Examples:
  pare compare docker-archive:naive.tar oci:distroless:latest oci:scratch:latest
  pare compare oci:a oci:b --format markdown >> pr-comment.md
  pare compare oci:a oci:b --db osv/ --bandwidth 50Mbit --format html > compare.html
The first image is the one the others are measured against (ratios). Exit codes: 0, 2 bad input.";

/// Arguments of compare.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Two or more images (any reference form); ratios are against the first.
    #[arg(value_name = "IMAGE", num_args = 2.., required = true)]
    pub images: Vec<String>,
    /// Scan every image against this vulnerability database (OSV or Debian tracker files, or
    /// directories; repeatable).
    #[arg(long, value_name = "PATH")]
    pub db: Vec<PathBuf>,
    /// Bandwidth the pull-time estimate assumes: 100Mbit, 1Gbit, 12.5MB (per second).
    #[arg(long, default_value = "100Mbit", value_name = "RATE")]
    pub bandwidth: String,
    /// Do not decompress and unpack the layers to time it.
    #[arg(long)]
    pub no_unpack: bool,
    /// Policy file (TOML) every image is audited under.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ReportFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

const SLIM_EXAMPLES: &str = "\
Examples:
  # a CLI image: its ENTRYPOINT/CMD is run (traced) until it ends
  pare slim docker-archive:fat.tar oci:slim:latest

  # a service: wait for it to answer, run a command inside, keep a directory whatever happens
  pare slim oci:app oci:app-slim --http 8080/health --probe 'python3 -c \"import app\"' \\
      --include /app/templates --exclude '/usr/share/doc/**'

  # the full list of kept files (with reasons) and removed files (with sizes)
  pare slim oci:app oci:app-slim --log slim.tsv
The program and each probe run as the image's user in a sandbox pare makes itself (user, mount
and PID namespaces, an overlay over the unpacked image; the host's network), traced with ptrace.
Then the slimmed tree runs the same probes and must pass them before anything is written.
Exit codes: 0 written, 1 a probe failed (nothing written), 2 bad input.";

/// Arguments of slim.
#[derive(Args, Debug)]
pub struct SlimArgs {
    /// The image to slim (any reference form).
    #[arg(value_name = "SRC")]
    pub source: String,
    /// Where the slimmed image goes (any reference form).
    #[arg(value_name = "DST")]
    pub destination: String,
    /// A command run inside the image while its program runs (shell-style quoting; no shell is
    /// needed in the image); it must exit 0. Repeatable.
    #[arg(long, value_name = "CMD")]
    pub probe: Vec<String>,
    /// An HTTP probe PORT/PATH: GET http://127.0.0.1:PORT/PATH must answer below 400. Repeatable.
    #[arg(long, value_name = "PORT/PATH")]
    pub http: Vec<String>,
    /// Keep this absolute path (a directory with everything below it). Repeatable.
    #[arg(long, value_name = "PATH")]
    pub include: Vec<String>,
    /// Never keep what this glob matches (.dockerignore syntax, from /). Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Slim even when a probe fails on the original image.
    #[arg(long)]
    pub allow_probe_failure: bool,
    /// Seconds the program may run before it counts as a service, and each probe may take.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
    /// Write every kept path (with its reason) and removed path (with its size) to FILE, as
    /// tab-separated lines.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Layer compression: gzip (default), zstd, or none.
    #[arg(long, value_name = "gzip|zstd|none")]
    pub compression: Option<String>,
    /// Python bytecode for fast starts, made by the image's own interpreter with unchecked-hash
    /// invalidation: `imported` (the modules the probes imported), `all` (every kept .py), `none`.
    #[arg(long, default_value = "none", value_name = "imported|all|none")]
    pub bytecode: String,
    /// File times and `created` (default: the source's `created`, file times 0).
    #[arg(long, env = "SOURCE_DATE_EPOCH", value_name = "SECONDS")]
    pub source_date_epoch: Option<String>,
    /// Also tag the result with these tags.
    #[arg(long = "tag", value_name = "TAG")]
    pub extra_tags: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Registry flags shared by the verbs that read images.
#[derive(Args, Debug, Default)]
pub struct ReadArgs {
    /// Allow plain HTTP to a registry that is not on this machine.
    #[arg(long)]
    pub insecure: bool,
    /// Registry credentials USER:PASSWORD.
    #[arg(long, value_name = "USER:PASSWORD")]
    pub creds: Option<String>,
    /// Platform to take from a multi-platform image.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
}

/// Arguments of diff.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The image before (any reference form).
    #[arg(value_name = "A")]
    pub a: String,
    /// The image after.
    #[arg(value_name = "B")]
    pub b: String,
    /// Rows per list in text and markdown output.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ReportFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Arguments of gate.
#[derive(Args, Debug)]
pub struct GateArgs {
    /// The image to judge.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Baseline file (JSON, kept in your repository).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "baseline_image",
        conflicts_with = "baseline_image"
    )]
    pub baseline: Option<PathBuf>,
    /// Compare against another image instead of a file.
    #[arg(long, value_name = "REF")]
    pub baseline_image: Option<String>,
    /// Allowed growth: a percentage (5%) or a size (200KiB, 1MB).
    #[arg(long, default_value = "5%", value_name = "LIMIT")]
    pub max_growth: String,
    /// Which size to judge: compressed (what users pull) or uncompressed.
    #[arg(long, value_name = "SIZE", default_value = "compressed", value_parser = ["compressed", "uncompressed"])]
    pub by: String,
    /// Write the image as the new baseline file instead of judging it.
    #[arg(long, requires = "baseline")]
    pub update_baseline: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ReportFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Arguments of inspect-binary.
#[derive(Args, Debug)]
pub struct InspectBinaryArgs {
    /// The ELF file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Resolve libraries below this root instead of `/`.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Do not resolve the library closure.
    #[arg(long)]
    pub no_closure: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
}

const PUSH_EXAMPLES: &str = "\
Examples:
  pare push oci:out:latest docker://registry.example/team/app:1.4
  pare push docker-archive:app.tar docker://127.0.0.1:5000/app:dev
Credentials: --creds USER:PASSWORD, or what docker login / podman login stored.";

const PULL_EXAMPLES: &str = "\
Examples:
  pare pull docker://registry.example/team/app:1.4 oci:cache:app
  pare pull --platform linux/arm64 docker://127.0.0.1:5000/app:dev oci-archive:app-arm64.tar";

const COPY_EXAMPLES: &str = "\
Examples:
  pare copy docker-archive:app.tar docker://127.0.0.1:5000/app:dev --insecure
  pare copy oci:out:latest docker-archive:app.tar:app:latest
Digests are kept wherever the formats allow; the report says when a conversion changes them.";

/// What push, pull and copy all take.
#[derive(Args, Debug)]
pub struct TransferCommon {
    /// Where the image comes from (oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], docker://HOST/REPO:TAG, docker-daemon:NAME:TAG).
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Where it goes (same forms).
    #[arg(value_name = "DESTINATION")]
    pub destination: String,
    /// Allow plain HTTP to a registry that is not on this machine (loopback always may).
    #[arg(long)]
    pub insecure: bool,
    /// Registry credentials USER:PASSWORD (default: docker/podman login files and credential helpers).
    #[arg(long, value_name = "USER:PASSWORD")]
    pub creds: Option<String>,
    /// Platform to take from a multi-platform image (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Blobs moved at once.
    #[arg(long, short = 'j', default_value_t = 4, value_name = "N")]
    pub jobs: usize,
    /// More tags at the destination. Repeatable.
    #[arg(long, short = 't', value_name = "TAG")]
    pub tag: Vec<String>,
    /// Leave the image's referrers (SBOMs, signatures, attestations) behind; by default they go
    /// with it.
    #[arg(long)]
    pub no_referrers: bool,
    /// Copy every platform of a multi-platform index (digests kept), not one image.
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
}

/// What only an upload takes (push and copy; a pull downloads).
#[derive(Args, Debug, Default)]
pub struct UploadArgs {
    /// How to compress layers the source stores uncompressed: gzip (the default to a registry and
    /// from a docker-archive into oci: or oci-archive:), zstd, or none to keep them as they are (the
    /// default otherwise). Layers already compressed are never recompressed.
    #[arg(long, value_name = "gzip|zstd|none")]
    pub compression: Option<String>,
    /// Upload blobs larger than this many bytes in chunks of this size (default 67108864), for
    /// registries or proxies that limit request bodies.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..))]
    pub chunk_size: Option<u64>,
}

/// Arguments of push and copy.
#[derive(Args, Debug)]
pub struct TransferArgs {
    #[command(flatten)]
    pub common: TransferCommon,
    #[command(flatten)]
    pub upload: UploadArgs,
}

/// Arguments of pull: no upload flags.
#[derive(Args, Debug)]
pub struct PullArgs {
    #[command(flatten)]
    pub common: TransferCommon,
}

const LOCK_EXAMPLES: &str = "\
Examples:
  # lock what pare.toml asks for ([image] base = \"python3\", [packages] debian = [...])
  pare lock -f pare.toml

  # lock a recipe plus one package, from the host's apt sources
  pare lock --base python3 --package libpq5 --lock pare.lock

pare build uses the lock when it matches the request; `pare build --locked` fails when it does not.";

const BUILD_EXAMPLES: &str = "\
Examples:
  # a static binary on the distroless-static equivalent, as an OCI layout
  pare build --base static --copy target/release/app:/app --entrypoint /app --output oci:out:latest

  # the same, loadable with `docker load -i app.tar`
  pare build --copy app:/app --entrypoint /app --output docker-archive:app.tar:app:latest

  # everything declared in a file (see README: pare.toml)
  pare build -f pare.toml

Reproducible: the same inputs give the same digests; file times are SOURCE_DATE_EPOCH (or 0).";

/// `pare lock` flags: only those that change what a lock holds (the rest of a build's settings come
/// from pare.toml, which `pare lock` reads as `pare build` does).
#[derive(Args, Debug, Default)]
pub struct LockArgs {
    /// Build file (pare.toml); flags given as well override or extend it.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Base: a Debian recipe (static-debian, base-nossl, base, cc, python3, nodejs, java) whose
    /// packages are locked, or an image (oci:, oci-archive:, docker-archive:, docker://) whose digest
    /// is pinned.
    #[arg(long, value_name = "BASE")]
    pub base: Option<String>,
    /// Debian package to lock with its dependencies (name or name=version). Repeatable.
    #[arg(long = "package", short = 'p', value_name = "NAME")]
    pub package: Vec<String>,
    /// Lock file (default: pare.lock beside pare.toml, or in the current directory).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Platform OS/ARCH[/VARIANT] whose packages or base image are locked (default: this machine's).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Accept apt repositories whose InRelease is unsigned or badly signed.
    #[arg(long)]
    pub allow_insecure_repositories: bool,
    /// Use the apt sources and keyrings below this root instead of the host's /etc/apt.
    #[arg(long, value_name = "DIR", env = "PARE_APT_ROOT")]
    pub apt_root: Option<PathBuf>,
    /// For a docker:// base: allow plain HTTP to a registry that is not on this machine.
    #[arg(long)]
    pub insecure: bool,
    /// For a docker:// base: registry credentials USER:PASSWORD.
    #[arg(long, value_name = "USER:PASSWORD")]
    pub creds: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
}

impl LockArgs {
    /// The build flags these stand for (every other one at its default).
    pub fn as_build_args(&self) -> BuildArgs {
        BuildArgs {
            file: self.file.clone(),
            base: self.base.clone(),
            package: self.package.clone(),
            lock: self.lock.clone(),
            platform: self.platform.clone(),
            allow_insecure_repositories: self.allow_insecure_repositories,
            apt_root: self.apt_root.clone(),
            insecure: self.insecure,
            creds: self.creds.clone(),
            format: self.format,
            ..BuildArgs::default()
        }
    }
}

/// `pare build` flags; each also has a pare.toml field.
#[derive(Args, Debug, Default)]
pub struct BuildArgs {
    /// Build file (pare.toml); flags given as well override or extend it.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Base: `static` (users, /tmp, CA bundle; the default), `scratch` (nothing), a Debian recipe
    /// from pare.lock (static-debian, base-nossl, base, cc, python3, nodejs, java), or any image:
    /// oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE[:NAME:TAG], docker://REF[@DIGEST]
    /// (its layers reused as they are, its config inherited, its digest pinned in pare.lock).
    #[arg(long, value_name = "BASE")]
    pub base: Option<String>,
    /// Copy a file or directory into the image: SRC:DST[:MODE[:UID:GID]]. Repeatable.
    #[arg(long, value_name = "SRC:DST[:MODE]")]
    pub copy: Vec<String>,
    /// Entrypoint: a path, or a JSON array ('["/app","serve"]'). Repeat to add arguments.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub entrypoint: Vec<String>,
    /// Default arguments (CMD): a value, or a JSON array. Repeat to add arguments.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub cmd: Vec<String>,
    /// Environment variable KEY=VALUE. Repeatable.
    #[arg(long, short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Config label KEY=VALUE. Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Manifest annotation KEY=VALUE (e.g. org.opencontainers.image.source=...). Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// User to run as: UID[:GID] or NAME[:GROUP] from the image's /etc/passwd (default 65532:65532).
    #[arg(long, short = 'u', value_name = "USER")]
    pub user: Option<String>,
    /// Working directory (created if missing).
    #[arg(long, short = 'w', value_name = "DIR")]
    pub workdir: Option<String>,
    /// Port to expose: PORT[/tcp|udp|sctp]. Repeatable.
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,
    /// Signal that stops the container (e.g. SIGINT).
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Extra tag for the output. Repeatable.
    #[arg(long, short = 't', value_name = "TAG")]
    pub tag: Vec<String>,
    /// Add the time zone database (host zoneinfo without right/ and posix/).
    #[arg(long)]
    pub tzdata: bool,
    /// Where --tzdata reads the time zone database.
    #[arg(long, value_name = "DIR")]
    pub zoneinfo: Option<PathBuf>,
    /// PEM CA bundle to ship at /etc/ssl/certs/ca-certificates.crt (default: the build host's).
    #[arg(long, value_name = "FILE", conflicts_with = "no_ca_certificates")]
    pub ca_bundle: Option<PathBuf>,
    /// Ship no CA bundle.
    #[arg(long)]
    pub no_ca_certificates: bool,
    /// Image platform OS/ARCH[/VARIANT] (default: this machine's); several, comma-separated (linux/amd64,linux/arm64), build one image each into one OCI index.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Layer compression: gzip (default), zstd, or none (default for docker-archive).
    #[arg(long, value_name = "ALGO")]
    pub compression: Option<String>,
    /// Timestamp for files and `created`, in seconds since the epoch.
    #[arg(long, env = "SOURCE_DATE_EPOCH", value_name = "SECONDS")]
    pub source_date_epoch: Option<String>,
    /// Do not add the loader and shared libraries of copied dynamic ELF files.
    #[arg(long)]
    pub no_closure: bool,
    /// Resolve shared libraries below this root instead of the build host's `/`; with
    /// `OS/ARCH=` only for that platform's programs (an arm64 root for arm64). Repeatable.
    #[arg(long, value_name = "[OS/ARCH=]DIR")]
    pub sysroot: Vec<String>,
    /// Do not add this run-time plugin of the closure: openssl (providers, engines), libgcc_s
    /// (thread cancellation), gconv (iconv), nss (name resolution). Repeatable.
    #[arg(long = "no-plugin", value_name = "NAME")]
    pub no_plugin: Vec<String>,
    /// Keep this plugin's files from the Debian packages even when nothing in the image loads it
    /// (gconv: kept only for iconv users otherwise). Repeatable.
    #[arg(long = "plugin", value_name = "NAME")]
    pub plugin: Vec<String>,
    /// Python bytecode for fast starts, compiled by the image's own interpreter in a sandbox, with
    /// unchecked-hash invalidation, as one more layer: `imported` (what a traced run of the image's
    /// program and the --bytecode-probe commands read), `all` (every .py), `none` (the default).
    #[arg(long, value_name = "imported|all|none")]
    pub bytecode: Option<String>,
    /// A command run beside the image's program in the traced run of --bytecode imported.
    /// Repeatable.
    #[arg(long = "bytecode-probe", value_name = "CMD")]
    pub bytecode_probe: Vec<String>,
    /// An HTTP probe PORT/PATH against the program in the traced run of --bytecode imported.
    /// Repeatable.
    #[arg(long = "bytecode-http", value_name = "PORT/PATH")]
    pub bytecode_http: Vec<String>,
    /// Seconds the traced program may run before it counts as a service (default 10), and each
    /// bytecode probe may take.
    #[arg(long = "bytecode-timeout", value_name = "SECONDS")]
    pub bytecode_timeout: Option<u64>,
    /// Always compress layers, even ones the output layout already holds.
    #[arg(long)]
    pub no_reuse: bool,
    /// For docker:// outputs: allow plain HTTP to a registry that is not on this machine.
    #[arg(long)]
    pub insecure: bool,
    /// For docker:// outputs: registry credentials USER:PASSWORD.
    #[arg(long, value_name = "USER:PASSWORD")]
    pub creds: Option<String>,
    /// Where the image goes: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], docker://HOST/REPO:TAG.
    #[arg(long, short = 'o', value_name = "REF")]
    pub output: Option<String>,
    /// Attach an SBOM of the image, as an OCI 1.1 referrer that `pare push` and `pare copy` carry
    /// (oci: and docker:// outputs). Repeatable for both formats.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub sbom: Vec<SbomFormatArg>,
    /// Sign the image as `pare sign` does, and attest its SLSA v1 provenance and each --sbom as
    /// `pare attest` does (oci: and docker:// outputs).
    #[arg(long, requires = "key")]
    pub sign: bool,
    /// The private key for --sign (PKCS#8, SEC1, or cosign's encrypted key with COSIGN_PASSWORD).
    #[arg(long, value_name = "FILE", requires = "sign")]
    pub key: Option<PathBuf>,
    /// The identity --sign claims (HOST/REPO); default: the output's repository (needed for oci:).
    #[arg(long, value_name = "HOST/REPO", requires = "sign")]
    pub sign_identity: Option<String>,
    /// Debian package to install with its dependencies (name or name=version). Repeatable.
    #[arg(long = "package", short = 'p', value_name = "NAME")]
    pub package: Vec<String>,
    /// Lock file (default: pare.lock beside pare.toml, or in the current directory).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Fail if the lock file is missing or stale instead of locking again.
    #[arg(long)]
    pub locked: bool,
    /// Add a busybox layer at /busybox and make /busybox/sh the entrypoint (a debug variant sharing every other layer).
    #[arg(long)]
    pub debug: bool,
    /// Keep /usr/share/doc/*/copyright files from packages.
    #[arg(long)]
    pub keep_copyright: bool,
    /// Accept apt repositories whose InRelease is unsigned or badly signed.
    #[arg(long)]
    pub allow_insecure_repositories: bool,
    /// Use the apt sources and keyrings below this root instead of the host's /etc/apt.
    #[arg(long, value_name = "DIR", env = "PARE_APT_ROOT")]
    pub apt_root: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextFormat,
}
