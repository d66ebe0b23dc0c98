//! The command-line surface of pare: every verb's flags, in one place, with examples in `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// pare makes and keeps container images minimal.
#[derive(Parser, Debug)]
#[command(name = "pare", version, about, long_about = None, propagate_version = true)]
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
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human, global = true)]
    pub format: Format,
}

/// How results are printed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Readable text.
    Human,
    /// JSON with a versioned schema (docs/json.md).
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build a reproducible, minimal, non-root OCI image from your binaries.
    #[command(after_help = BUILD_EXAMPLES)]
    Build(BuildArgs),
}

const BUILD_EXAMPLES: &str = "\
Examples:
  # a static binary on the distroless-static equivalent, as an OCI layout
  pare build --base static --copy target/release/app:/app --entrypoint /app --output oci:out:latest

  # the same, loadable with `docker load -i app.tar`
  pare build --copy app:/app --entrypoint /app --output docker-archive:app.tar:app:latest

  # everything declared in a file (see README: pare.toml)
  pare build -f pare.toml

Reproducible: the same inputs give the same digests; file times are SOURCE_DATE_EPOCH (or 0).";

/// `pare build` flags; each also has a pare.toml field.
#[derive(Args, Debug, Default)]
pub struct BuildArgs {
    /// Build file (pare.toml); flags given as well override or extend it.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Base: `static` (users, /tmp, CA bundle; the default) or `scratch` (nothing).
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
    /// Image platform OS/ARCH[/VARIANT] (default: this machine's).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Layer compression: gzip (default), zstd, or none (default for docker-archive).
    #[arg(long, value_name = "ALGO")]
    pub compression: Option<String>,
    /// Timestamp for files and `created`, in seconds since the epoch.
    #[arg(long, env = "SOURCE_DATE_EPOCH", value_name = "SECONDS")]
    pub source_date_epoch: Option<String>,
    /// Always compress layers, even ones the output layout already holds.
    #[arg(long)]
    pub no_reuse: bool,
    /// Where the image goes: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG].
    #[arg(long, short = 'o', value_name = "REF")]
    pub output: Option<String>,
}
