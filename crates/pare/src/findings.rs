//! Findings and the rule catalog: every rule pare can report (its id, default severity, title and
//! help) lives in one static catalog, grouped by family (audit today; lint and scan later add
//! their own), and every finding names a rule of it, a location and a reason. Policies are checked
//! against the catalog and SARIF is rendered from findings plus catalog. Not here: deciding what
//! is a finding (that is each verb's analyzers) or applying a policy (`crate::policy`).

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use crate::{Error, Result};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Parses `info`, `low`, `medium`, `high`, `critical`.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            other => {
                return Err(Error::Input(format!(
                    "severity {other:?} is not one of info, low, medium, high, critical"
                )))
            }
        })
    }

    /// The lowercase name (`high`).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The SARIF level of a severity.
    fn sarif_level(self) -> &'static str {
        match self {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Info => "note",
        }
    }
}

/// Which verb reports a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// `pare audit`: what an image ships and how it is configured.
    Audit,
    /// `pare scan`: known vulnerabilities of the image's packages.
    Scan,
    /// `pare lint`: Dockerfile hygiene.
    Lint,
}

/// One rule of the catalog.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub family: Family,
    /// The severity a finding of this rule has unless a policy re-grades it.
    pub severity: Severity,
    /// One line: what the rule finds.
    pub title: &'static str,
    /// Why it matters and what to do about it.
    pub help: &'static str,
    /// The change that fixes it, when it is one (lint rules: `apt-get install --no-install-recommends`).
    pub fix: &'static str,
    /// The same rule in other tools (hadolint's `DL3008`, BuildKit's `JSONArgsRecommended`).
    pub peers: &'static [&'static str],
}

macro_rules! rules {
    (@or) => { "" };
    (@or $text:literal) => { $text };
    ($($name:ident = $id:literal, $family:ident, $severity:ident, $title:literal, $help:literal
        $(, fix = $fix:literal)? $(, peers = [$($peer:literal),*])?;)*) => {
        $(
            #[doc = $title]
            pub const $name: Rule = Rule {
                id: $id,
                family: Family::$family,
                severity: Severity::$severity,
                title: $title,
                help: $help,
                fix: rules!(@or $($fix)?),
                peers: &[$($($peer),*)?],
            };
        )*
        /// Every rule, in catalog order.
        pub const CATALOG: &[Rule] = &[$($name),*];
    };
}

rules! {
    SHELL = "PARE-SHELL", Audit, Medium,
        "A shell ships in the image",
        "A shell lets an attacker who gets code execution run anything. Ship the program alone (scratch, static or a distroless-style base); use `pare build --debug` for a debug variant.";
    PACKAGE_MANAGER = "PARE-PACKAGE-MANAGER", Audit, Medium,
        "A package manager ships in the image",
        "A package manager lets an attacker install tools. Install packages at build time and leave the manager out (`pare build --base` recipes have none).";
    NETWORK_TOOL = "PARE-NETWORK-TOOL", Audit, Medium,
        "A network tool ships in the image",
        "curl, wget, nc and friends help an attacker fetch payloads and exfiltrate data. Health checks belong in the orchestrator or in the service itself.";
    BUILD_TOOL = "PARE-BUILD-TOOL", Audit, Medium,
        "A compiler or build tool ships in the image",
        "Build tools belong in the build stage: build with the full toolchain, then copy only the artifact into the runtime image.";
    SETUID = "PARE-SETUID", Audit, High,
        "A setuid or setgid file",
        "A setuid/setgid program runs with its owner's or group's rights and is a classic privilege escalation path. Clear the bit (chmod u-s,g-s) unless the program is needed and asked for by name.";
    WORLD_WRITABLE = "PARE-WORLD-WRITABLE", Audit, Medium,
        "A world-writable file, or a world-writable directory without the sticky bit",
        "Anyone in the container can change such a file or replace files in such a directory. Use 0644/0755, or 1777 for shared scratch directories.";
    DEVICE = "PARE-DEVICE", Audit, Medium,
        "A device node in the image",
        "Container runtimes provide /dev; a device node in a layer can expose host hardware if the runtime does not mask it. Remove it from the layer.";
    GIT_DIR = "PARE-GIT-DIR", Audit, Medium,
        "A .git directory in the image",
        "A .git directory ships source history and sometimes credentials. Exclude it from the build context (.dockerignore) or from the copies.";
    ROOT_MODE = "PARE-ROOT-MODE", Audit, High,
        "The root directory is not mode 0755",
        "Non-root users need to traverse /; a root directory with another mode breaks them or opens the tree to everyone.";
    NO_CA_BUNDLE = "PARE-NO-CA-BUNDLE", Audit, Medium,
        "A TLS library or client but no CA bundle",
        "TLS connections will fail to verify without CA certificates. Add /etc/ssl/certs/ca-certificates.crt (pare build adds it by default) or set SSL_CERT_FILE.";
    NO_TZDATA = "PARE-NO-TZDATA", Audit, Medium,
        "A program loads time zones but the image has no zoneinfo",
        "Named time zones (`time.LoadLocation(\"Europe/Paris\")`) fail to load without /usr/share/zoneinfo. Add tzdata (`pare build --tzdata`; the static-debian and distroless bases have it), embed it (Go: `import _ \"time/tzdata\"`), or set ZONEINFO.";
    USER_ROOT = "PARE-USER-ROOT", Audit, High,
        "The image runs as root",
        "A compromised process running as uid 0 owns the container and is one kernel bug from the host. Run as a non-root user such as 65532:65532 (nonroot).";
    USER_UNKNOWN = "PARE-USER-UNKNOWN", Audit, High,
        "The configured user is not in the image's /etc/passwd",
        "A user given by name must exist in /etc/passwd, or the container will not start. Use a numeric uid:gid or add the user.";
    SECRET_ENV = "PARE-SECRET-ENV", Audit, Critical,
        "A secret in the image's environment",
        "ENV values are stored in the image config, readable by anyone who can pull the image. Pass secrets at run time (secret mounts, the orchestrator's secrets).";
    SECRET_PRIVATE_KEY = "PARE-SECRET-PRIVATE-KEY", Audit, Critical,
        "A private key in a file or in the image history",
        "Anyone who pulls the image can read every layer, deleted files included. Rotate the key and keep it out of the build context and the layers.";
    SECRET_CLOUD_KEY = "PARE-SECRET-CLOUD-KEY", Audit, Critical,
        "A cloud access key in a file or in the image history",
        "Anyone who pulls the image can read it. Revoke the key and pass credentials at run time.";
    SECRET_TOKEN = "PARE-SECRET-TOKEN", Audit, Critical,
        "An API token (GitHub, GitLab, npm, PyPI) in a file or in the image history",
        "Anyone who pulls the image can read it. Revoke the token; use build secrets (--mount=type=secret) instead of files or ARGs.";
    SECRET_DOCKER_AUTH = "PARE-SECRET-DOCKER-AUTH", Audit, Critical,
        "Registry credentials (a Docker config with auths) in the image",
        "A docker config.json with auths gives registry access to anyone who pulls the image. Remove it and rotate the credentials.";
    SECRET_DOTENV = "PARE-SECRET-DOTENV", Audit, Critical,
        "A .env file in the image",
        ".env files usually hold credentials. Keep them out of the build context and pass configuration at run time.";
    WONT_START = "PARE-WONT-START", Audit, Critical,
        "The image's program cannot start",
        "The entrypoint is missing, not executable, or needs a loader, library or script interpreter the image does not have. Add what is missing or link statically.";
    UNREADABLE = "PARE-UNREADABLE", Audit, High,
        "An application file the image's user cannot read",
        "Files below the entrypoint's directory or the working directory that the user the image runs as cannot read (or directories it cannot enter) make the program fail when it opens them: a 0600 root-owned config under a non-root user. Give them to the user (--copy SRC:DST:0644, or MODE:UID:GID) or make them readable.";
    PLUGIN_MISSING = "PARE-PLUGIN-MISSING", Audit, Info,
        "A library that loads plugins at run time, without them",
        "libcrypto without its ossl-modules and engines, iconv users without glibc's gconv modules, thread cancellation without libgcc_s: the program fails when it gets there. pare build adds them (see the plugin table in the README); add them, or ignore this if the program never asks for them.";
    WASTE = "PARE-WASTE", Audit, High,
        "More waste than the policy allows",
        "Bytes shipped but not in the final tree (overwritten, deleted, metadata-only copies), duplicates and package-manager residue. Clean up in the same layer that made the mess.";
    VULNERABILITY = "PARE-VULNERABILITY", Scan, High,
        "A package with a known vulnerability",
        "An advisory (OSV, the Debian security tracker) names this package and version as affected; the finding's severity is the advisory's. Update the package to the fixed version, rebuild on a newer base, or drop the package if the service does not need it; record a reasoned, expiring exception in an ignore file otherwise.";
    SIZE = "PARE-SIZE", Audit, High,
        "The image or a layer is larger than the policy allows",
        "Size limits from the policy's [size] table. See the largest files per layer in `pare audit` to find what to drop.";
    LINT_PARSE = "PARE-LINT-PARSE", Lint, High,
        "BuildKit cannot read this instruction",
        "The instruction is malformed (a JSON array with a non-string, ENV without a value, an unterminated heredoc, a bad escape directive); `docker build` stops here. The rest of the file is still linted.",
        fix = "Correct the instruction at the position shown.", peers = ["DL1000"];
    LINT_EMPTY_CONTINUATION = "PARE-LINT-EMPTY-CONTINUATION", Lint, Low,
        "An empty line inside a line continuation",
        "BuildKit warns that empty continuation lines will become errors; they also hide where an instruction ends.",
        fix = "Remove the empty line or end the instruction before it.", peers = ["NoEmptyContinuation"];
    LINT_UNKNOWN_INSTRUCTION = "PARE-LINT-UNKNOWN-INSTRUCTION", Lint, High,
        "An instruction BuildKit does not know",
        "BuildKit reads the line but refuses to build it; often a continuation was forgotten on the line before.",
        fix = "Fix the keyword or add the missing `\\` on the line before.";
    LINT_LAST_USER_ROOT = "PARE-LINT-LAST-USER-ROOT", Lint, High,
        "The final stage's last USER is root",
        "The container runs as uid 0: a compromised process owns the container and is one kernel bug from the host.",
        fix = "End the final stage with `USER 65532:65532` (distroless's nonroot).", peers = ["DL3002"];
    LINT_NO_USER = "PARE-LINT-NO-USER", Lint, Medium,
        "The final stage sets no USER",
        "Without USER the container runs as the base image's user, root for most bases. scratch and most distribution bases default to root.",
        fix = "Add `USER 65532:65532` to the final stage (distroless `:nonroot` bases set it for you).";
    LINT_USER_NOT_NUMERIC = "PARE-LINT-USER-NOT-NUMERIC", Lint, Medium,
        "The final stage's USER is a name, not a number",
        "Kubernetes `runAsNonRoot` can only verify a numeric uid; a user name also needs /etc/passwd in the image, which scratch lacks.",
        fix = "Use the numeric uid:gid (`USER 65532:65532` for nonroot).", peers = ["DL3066"];
    LINT_UNTAGGED_BASE = "PARE-LINT-UNTAGGED-BASE", Lint, Medium,
        "A base image without a tag",
        "An untagged FROM means :latest, which changes under you: builds stop being repeatable.",
        fix = "Name a tag, better a digest: `FROM debian:12-slim@sha256:…`.", peers = ["DL3006"];
    LINT_LATEST_TAG = "PARE-LINT-LATEST-TAG", Lint, Medium,
        "A base image tagged :latest",
        ":latest moves; two builds of the same Dockerfile get different bases.",
        fix = "Pin a version tag and a digest.", peers = ["DL3007"];
    LINT_BASE_NOT_PINNED = "PARE-LINT-BASE-NOT-PINNED", Lint, Low,
        "A base image not pinned by digest",
        "A tag can be moved to other content at any time; only a digest names exactly what you tested.",
        fix = "Append the digest: `FROM image:tag@sha256:…` (`pare lock` records digests for pare builds).";
    LINT_APT_UNPINNED = "PARE-LINT-APT-UNPINNED", Lint, Low,
        "apt-get install without versions",
        "Unpinned packages make the image depend on the day it was built.",
        fix = "Pin versions (`apt-get install curl=7.88.1-10+deb12u5`) or build on a dated snapshot; pare builds lock packages in pare.lock.", peers = ["DL3008"];
    LINT_APT_LISTS = "PARE-LINT-APT-LISTS", Lint, Medium,
        "apt lists left in the layer",
        "`apt-get update` writes ~20-50 MB of lists under /var/lib/apt/lists; removing them in a later RUN does not shrink the earlier layer.",
        fix = "End the same RUN with `&& rm -rf /var/lib/apt/lists/*`, or use `--mount=type=cache,target=/var/lib/apt/lists`.", peers = ["DL3009"];
    LINT_APT_RECOMMENDS = "PARE-LINT-APT-RECOMMENDS", Lint, Low,
        "apt-get install without --no-install-recommends",
        "Recommended packages often double what gets installed.",
        fix = "Add `--no-install-recommends`.", peers = ["DL3015"];
    LINT_APK_UNPINNED = "PARE-LINT-APK-UNPINNED", Lint, Low,
        "apk add without versions",
        "Unpinned packages make the image depend on the day it was built.",
        fix = "Pin versions: `apk add curl=8.5.0-r0`.", peers = ["DL3018"];
    LINT_APK_CACHE = "PARE-LINT-APK-CACHE", Lint, Medium,
        "apk add without --no-cache",
        "apk keeps its index cache under /var/cache/apk in the layer.",
        fix = "Use `apk add --no-cache`, or a cache mount on /var/cache/apk.", peers = ["DL3019"];
    LINT_PIP_UNPINNED = "PARE-LINT-PIP-UNPINNED", Lint, Low,
        "pip install without versions",
        "Unpinned requirements make the image depend on the day it was built.",
        fix = "Pin (`pip install flask==3.0.3`) or install from a locked requirements file.", peers = ["DL3013"];
    LINT_PIP_CACHE = "PARE-LINT-PIP-CACHE", Lint, Medium,
        "pip install without --no-cache-dir",
        "pip keeps downloaded wheels in ~/.cache/pip in the layer.",
        fix = "Add `--no-cache-dir` (or `PIP_NO_CACHE_DIR=1`), or a cache mount on /root/.cache/pip.", peers = ["DL3042"];
    LINT_NPM_CACHE = "PARE-LINT-NPM-CACHE", Lint, Low,
        "npm install or ci leaves its cache in the layer",
        "npm keeps every downloaded tarball in ~/.npm/_cacache.",
        fix = "Use a cache mount (`--mount=type=cache,target=/root/.npm`) or end the RUN with `npm cache clean --force`.";
    LINT_ADD_FOR_COPY = "PARE-LINT-ADD-FOR-COPY", Lint, Low,
        "ADD for plain local files",
        "ADD also unpacks archives and fetches URLs; for a plain copy COPY says what happens.",
        fix = "Use COPY.", peers = ["DL3020"];
    LINT_ADD_URL = "PARE-LINT-ADD-URL", Lint, Medium,
        "ADD from a URL without a checksum",
        "The download is not verified and is fetched again on every build.",
        fix = "Add `--checksum=sha256:…` or fetch and verify in a build stage.";
    LINT_COPY_FROM_SELF = "PARE-LINT-COPY-FROM-SELF", Lint, High,
        "COPY --from names the stage it is in",
        "A stage cannot copy from itself; the build fails.",
        fix = "Name an earlier stage.", peers = ["DL3023"];
    LINT_COPY_FROM_UNKNOWN = "PARE-LINT-COPY-FROM-UNKNOWN", Lint, Medium,
        "COPY --from names no earlier stage",
        "A name that is not an earlier stage is pulled as an image; usually a typo or a stage defined later.",
        fix = "Name an earlier stage, or write the image reference with a tag or digest.", peers = ["DL3022"];
    LINT_DUPLICATE_STAGE = "PARE-LINT-DUPLICATE-STAGE", Lint, High,
        "Two stages with the same name",
        "BuildKit refuses a Dockerfile whose stage names repeat.",
        fix = "Rename one of them.", peers = ["DL3024", "DuplicateStageName"];
    LINT_SHELL_FORM_COMMAND = "PARE-LINT-SHELL-FORM-COMMAND", Lint, Medium,
        "CMD or ENTRYPOINT in shell form",
        "The shell form runs the program under `/bin/sh -c`: signals reach the shell, not the program, and the image needs a shell.",
        fix = "Use the JSON form: `ENTRYPOINT [\"/app\"]`.", peers = ["DL3025", "JSONArgsRecommended"];
    LINT_CONSECUTIVE_RUN = "PARE-LINT-CONSECUTIVE-RUN", Lint, Info,
        "Consecutive RUN instructions",
        "Each RUN is a layer; what one RUN deletes still ships in the layer of the one before.",
        fix = "Join them with `&&` or a heredoc.", peers = ["DL3059"];
    LINT_MULTIPLE_CMD = "PARE-LINT-MULTIPLE-CMD", Lint, Medium,
        "More than one CMD in a stage",
        "Only the last CMD takes effect.",
        fix = "Keep one CMD.", peers = ["DL4003", "MultipleInstructionsDisallowed"];
    LINT_MULTIPLE_ENTRYPOINT = "PARE-LINT-MULTIPLE-ENTRYPOINT", Lint, Medium,
        "More than one ENTRYPOINT in a stage",
        "Only the last ENTRYPOINT takes effect.",
        fix = "Keep one ENTRYPOINT.", peers = ["DL4004", "MultipleInstructionsDisallowed"];
    LINT_PIPEFAIL = "PARE-LINT-PIPEFAIL", Lint, Low,
        "A pipe in RUN without pipefail",
        "`/bin/sh -c 'curl … | tar x'` succeeds when curl fails: the build goes on with a broken download.",
        fix = "Add `SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]` before it, or `set -o pipefail &&` in the RUN.", peers = ["DL4006"];
    LINT_SECRET_ARG_ENV = "PARE-LINT-SECRET-ARG-ENV", Lint, High,
        "A secret in ARG or ENV",
        "ARG and ENV values are stored in the image config and history, readable by anyone who can pull the image.",
        fix = "Use a build secret: `RUN --mount=type=secret,id=token …`, and pass run-time secrets from the orchestrator.", peers = ["DL3064", "SecretsUsedInArgOrEnv"];
    LINT_FROM_AS_CASING = "PARE-LINT-FROM-AS-CASING", Lint, Info,
        "FROM and AS in different cases",
        "BuildKit warns when the keywords' cases do not match.",
        fix = "Write `FROM … AS …` or `from … as …`.", peers = ["FromAsCasing"];
    LINT_STAGE_NAME_CASING = "PARE-LINT-STAGE-NAME-CASING", Lint, Info,
        "A stage name with capitals",
        "Stage names are case-insensitive and BuildKit warns about capitals.",
        fix = "Use a lowercase name.", peers = ["StageNameCasing"];
    LINT_WORKDIR_RELATIVE = "PARE-LINT-WORKDIR-RELATIVE", Lint, Low,
        "A relative WORKDIR",
        "A relative WORKDIR depends on the WORKDIR before it, which a base image can change.",
        fix = "Use an absolute path.", peers = ["DL3000", "WorkdirRelativePath"];
    LINT_MAINTAINER = "PARE-LINT-MAINTAINER", Lint, Info,
        "MAINTAINER is deprecated",
        "MAINTAINER is deprecated since Docker 1.13.",
        fix = "Use `LABEL org.opencontainers.image.authors=\"…\"`.", peers = ["DL4000", "MaintainerDeprecated"];
    LINT_LEGACY_KEY_VALUE = "PARE-LINT-LEGACY-KEY-VALUE", Lint, Info,
        "ENV or LABEL in the legacy `NAME value` form",
        "The space-separated form is deprecated and ambiguous with values holding spaces.",
        fix = "Write `NAME=value`.", peers = ["LegacyKeyValueFormat"];
    LINT_EXPOSE_FORMAT = "PARE-LINT-EXPOSE-FORMAT", Lint, Low,
        "EXPOSE with a host address or port mapping",
        "EXPOSE documents container ports; an IP or `host:container` mapping is ignored or refused.",
        fix = "Write the container port alone: `EXPOSE 8080/tcp`.", peers = ["ExposeInvalidFormat", "DL3011"];
    LINT_UNDEFINED_VAR = "PARE-LINT-UNDEFINED-VAR", Lint, Medium,
        "A variable used but never defined",
        "The variable expands to an empty string; usually a typo or a missing ARG (ARGs before FROM must be declared again inside the stage).",
        fix = "Declare it with ARG or ENV, or fix the name.", peers = ["UndefinedVar"];
    LINT_COPY_IGNORED_FILE = "PARE-LINT-COPY-IGNORED-FILE", Lint, High,
        "COPY or ADD of a file that .dockerignore leaves out",
        "The file is not in the build context, so the build fails or copies nothing.",
        fix = "Remove the pattern from .dockerignore or the source from the instruction.", peers = ["CopyIgnoredFile"];
    LINT_FULL_DISTRO_FOR_STATIC = "PARE-LINT-FULL-DISTRO-FOR-STATIC", Lint, Medium,
        "A static artifact shipped on a full distribution",
        "A build stage makes a static binary (CGO_ENABLED=0, -static, a musl target), yet the final stage is a full distribution with a shell and package manager it does not need.",
        fix = "Ship it on `scratch` or `gcr.io/distroless/static-debian12`, or `pare build --base static`.";
    LINT_BUILD_TOOLS_IN_FINAL = "PARE-LINT-BUILD-TOOLS-IN-FINAL", Lint, Medium,
        "Compilers, -dev packages or package managers installed in the final stage",
        "Build tools in the runtime image are attack surface and size.",
        fix = "Install them in a build stage and copy only the artifact into the final stage.";
    LINT_SINGLE_STAGE_COMPILER = "PARE-LINT-SINGLE-STAGE-COMPILER", Lint, Medium,
        "A compiler and no second stage",
        "The toolchain used to build ships in the only stage, the runtime image.",
        fix = "Build in one stage, then `FROM scratch` (or distroless) and `COPY --from=build` the artifact.";
    LINT_SECRET_COPIED = "PARE-LINT-SECRET-COPIED", Lint, Critical,
        "A secret file copied into the image",
        "Keys, .env files, .npmrc or .pypirc with tokens and cloud credentials copied in are readable by anyone who pulls the image, even if a later step deletes them.",
        fix = "Use `RUN --mount=type=secret` for build-time secrets, list the file in .dockerignore, and rotate it.";
    LINT_NO_DOCKERIGNORE = "PARE-LINT-NO-DOCKERIGNORE", Lint, Medium,
        "COPY of the whole context without a .dockerignore",
        "`COPY . .` copies everything in the context: .git, node_modules, build output, local secrets.",
        fix = "Add a .dockerignore with at least `.git`, `node_modules`, `target/`, `.env`, `*.pem`.";
    LINT_DOCKERIGNORE_GAPS = "PARE-LINT-DOCKERIGNORE-GAPS", Lint, Medium,
        "The .dockerignore misses something the context holds",
        "The context holds .git, node_modules, target/, .env or key files that a whole-context COPY sends to the build and into the image.",
        fix = "Add the missing entries to .dockerignore.";
}

/// The rule with this id, if the catalog has one.
pub fn rule(id: &str) -> Option<&'static Rule> {
    CATALOG.iter().find(|r| r.id == id)
}

/// The rule with this id; an unknown id is an error naming it (and the nearest known ids).
pub fn known_rule(id: &str) -> Result<&'static Rule> {
    rule(id).ok_or_else(|| {
        let mut near: Vec<&str> = CATALOG
            .iter()
            .map(|r| r.id)
            .filter(|known| similar(known, id))
            .collect();
        near.truncate(3);
        let hint = if near.is_empty() {
            "`pare audit --list-rules` lists them".to_string()
        } else {
            format!("did you mean {}?", near.join(" or "))
        };
        Error::Input(format!("unknown rule id {id:?}; {hint}"))
    })
}

/// Whether two ids differ by little: one a prefix of the other, or at most two edits apart.
fn similar(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_uppercase(), b.to_ascii_uppercase());
    if a.starts_with(&b) || b.starts_with(&a) {
        return !b.is_empty();
    }
    edit_distance(a.as_bytes(), b.as_bytes()) <= 2
}

fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(x != y));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Where a finding is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    /// A path of the image's file tree (`/usr/bin/sh`), with the 0-based layer that ships it when
    /// known.
    ImagePath { path: String, layer: Option<usize> },
    /// A field of the image config (`User`, `Env`, `history[3]`).
    Config { field: String },
    /// A package of the image's inventory.
    Package {
        ecosystem: String,
        name: String,
        version: String,
    },
    /// A line and column of a source file (a Dockerfile, a policy).
    FileLine {
        path: String,
        line: u32,
        column: u32,
    },
    /// The image as a whole (its size, its waste).
    Image,
}

impl Location {
    /// A path of the image (given with or without the leading `/`).
    pub fn image_path(path: &str, layer: Option<usize>) -> Self {
        Location::ImagePath {
            path: format!("/{}", path.trim_start_matches('/')),
            layer,
        }
    }

    /// A field of the image config.
    pub fn config(field: impl Into<String>) -> Self {
        Location::Config {
            field: field.into(),
        }
    }

    /// The image path, for findings about a file.
    pub fn path(&self) -> Option<&str> {
        match self {
            Location::ImagePath { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The layer, for findings about a file of a known layer.
    pub fn layer(&self) -> Option<usize> {
        match self {
            Location::ImagePath { layer, .. } => *layer,
            _ => None,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Location::ImagePath { path, layer } => {
                json!({"kind": "image-path", "path": path, "layer": layer})
            }
            Location::Config { field } => json!({"kind": "config", "field": field}),
            Location::Package {
                ecosystem,
                name,
                version,
            } => {
                json!({"kind": "package", "ecosystem": ecosystem, "name": name, "version": version})
            }
            Location::FileLine { path, line, column } => {
                json!({"kind": "file-line", "path": path, "line": line, "column": column})
            }
            Location::Image => json!({"kind": "image"}),
        }
    }

    /// A short human form: ` /usr/bin/sh (layer 2)`, ` config User`, or nothing for the image.
    pub fn describe(&self) -> String {
        match self {
            Location::ImagePath {
                path,
                layer: Some(layer),
            } => format!(" {path} (layer {})", layer + 1),
            Location::ImagePath { path, layer: None } => format!(" {path}"),
            Location::Config { field } => format!(" config {field}"),
            Location::Package { name, version, .. } => format!(" package {name} {version}"),
            Location::FileLine { path, line, column } => format!(" {path}:{line}:{column}"),
            Location::Image => String::new(),
        }
    }
}

/// One finding: a rule of the catalog, where, how bad (the rule's severity unless a policy
/// re-graded it) and why.
#[derive(Clone, Debug)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub location: Location,
    pub reason: String,
}

impl Finding {
    /// A finding of `rule` at its default severity.
    pub fn new(rule: &Rule, location: Location, reason: String) -> Self {
        Self {
            rule: rule.id,
            severity: rule.severity,
            location,
            reason,
        }
    }

    /// The image path, for findings about a file.
    pub fn path(&self) -> Option<&str> {
        self.location.path()
    }

    /// Sorts findings worst first, then by rule and place.
    pub fn sort(findings: &mut [Finding]) {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.rule.cmp(b.rule))
                .then_with(|| a.location.cmp(&b.location))
        });
    }
}

/// JSON: `rule`, `severity`, `path` and `layer` (null unless the finding is about a file), `reason`,
/// and the full `location`.
impl Serialize for Finding {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Finding", 6)?;
        s.serialize_field("rule", self.rule)?;
        s.serialize_field("severity", &self.severity)?;
        s.serialize_field("path", &self.location.path())?;
        s.serialize_field("layer", &self.location.layer())?;
        s.serialize_field("reason", &self.reason)?;
        s.serialize_field("location", &self.location.to_json())?;
        s.end()
    }
}

/// Base ids of the SARIF artifact locations: the image's file tree, and its config and manifest.
const SARIF_IMAGE_ROOT: &str = "IMAGE_ROOT";
const SARIF_IMAGE_METADATA: &str = "IMAGE_METADATA";

/// SARIF 2.1.0 for `findings` about `subject` (an image reference), with the catalog's rules of
/// `family` as the tool's rules. Every result has a location: image paths as artifacts under the
/// image's root, config fields and image-wide findings as logical locations on the image's config
/// or manifest, file lines with their region.
pub fn sarif(family: Family, subject: &str, findings: &[Finding]) -> Value {
    let rules: Vec<&Rule> = CATALOG.iter().filter(|r| r.family == family).collect();
    // Lint findings are about source files, the others about an image.
    let subject_key = if family == Family::Lint {
        "files"
    } else {
        "image"
    };
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let index = rules.iter().position(|r| r.id == f.rule);
            let mut result = json!({
                "ruleId": f.rule,
                "level": f.severity.sarif_level(),
                "message": {"text": f.reason},
                "locations": [sarif_location(&f.location)],
                "properties": {"severity": f.severity, subject_key: subject},
            });
            if let Some(i) = index {
                result["ruleIndex"] = json!(i);
            }
            if let Some(layer) = f.location.layer() {
                result["properties"]["layer"] = json!(layer);
            }
            result
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "pare",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|r| json!({
                    "id": r.id,
                    "name": rule_name(r.id),
                    "shortDescription": {"text": r.title},
                    "fullDescription": {"text": r.help},
                    "help": {"text": if r.fix.is_empty() { r.help.to_string() } else { format!("{} Fix: {}", r.help, r.fix) }},
                    "defaultConfiguration": {"level": r.severity.sarif_level()},
                    "properties": {"severity": r.severity, "family": r.family, "peers": r.peers},
                })).collect::<Vec<_>>(),
            }},
            "originalUriBaseIds": {
                SARIF_IMAGE_ROOT: {"description": {"text": format!("the merged file tree of {subject}")}},
                SARIF_IMAGE_METADATA: {"description": {"text": format!("the manifest and config of {subject}")}},
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// `PARE-NO-CA-BUNDLE` as a SARIF rule name: `NoCaBundle`.
fn rule_name(id: &str) -> String {
    id.trim_start_matches("PARE-")
        .split('-')
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(c) => {
                    c.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect()
}

fn sarif_location(location: &Location) -> Value {
    let metadata = |uri: &str, logical: Value| {
        json!({
            "physicalLocation": {"artifactLocation": {"uri": uri, "uriBaseId": SARIF_IMAGE_METADATA}},
            "logicalLocations": [logical],
        })
    };
    match location {
        Location::ImagePath { path, layer } => {
            let mut logical = json!({"fullyQualifiedName": path, "kind": "resource"});
            if let Some(layer) = layer {
                logical["name"] = json!(format!("layer {}", layer + 1));
            }
            json!({
                "physicalLocation": {"artifactLocation": {
                    "uri": uri_escape(path.trim_start_matches('/')),
                    "uriBaseId": SARIF_IMAGE_ROOT,
                }},
                "logicalLocations": [logical],
            })
        }
        Location::Config { field } => metadata(
            "config.json",
            json!({"fullyQualifiedName": format!("config.{field}"), "kind": "member"}),
        ),
        Location::Package {
            ecosystem,
            name,
            version,
        } => metadata(
            "config.json",
            json!({"fullyQualifiedName": format!("{ecosystem}:{name}@{version}"), "kind": "package"}),
        ),
        Location::FileLine { path, line, column } => json!({
            "physicalLocation": {
                "artifactLocation": {"uri": uri_escape(path)},
                "region": {"startLine": line, "startColumn": column},
            }
        }),
        Location::Image => metadata(
            "manifest.json",
            json!({"fullyQualifiedName": "image", "kind": "module"}),
        ),
    }
}

/// Percent-escapes what may not stand in a relative URI reference (RFC 3986), byte by byte.
fn uri_escape(path: &str) -> String {
    crate::units::percent_encode(path, b"-._~/!$&'()*+,;=:@")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_ids_are_unique_and_well_formed() {
        let mut ids: Vec<&str> = CATALOG.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "duplicate rule ids");
        for r in CATALOG {
            assert!(
                r.id.starts_with("PARE-")
                    && r.id.bytes().all(|b| b.is_ascii_uppercase() || b == b'-')
            );
            assert!(
                !r.title.is_empty() && r.help.len() > r.title.len() / 2,
                "{}",
                r.id
            );
        }
    }

    #[test]
    fn unknown_ids_are_errors_with_a_suggestion() {
        assert_eq!(known_rule("PARE-SHELL").unwrap().severity, Severity::Medium);
        let err = known_rule("PARE-SHEL").unwrap_err().to_string();
        assert!(
            err.contains("\"PARE-SHEL\"") && err.contains("PARE-SHELL"),
            "{err}"
        );
        let err = known_rule("NOPE").unwrap_err().to_string();
        assert!(err.contains("--list-rules"), "{err}");
    }

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Critical > Severity::High && Severity::Info < Severity::Low);
        assert_eq!(Severity::parse("medium").unwrap(), Severity::Medium);
        assert!(Severity::parse("urgent").is_err());
    }

    #[test]
    fn every_sarif_result_has_a_location() {
        let findings = vec![
            Finding::new(&SHELL, Location::image_path("bin/sh", Some(0)), "sh".into()),
            Finding::new(&USER_ROOT, Location::config("User"), "root".into()),
            Finding::new(&WASTE, Location::Image, "waste".into()),
            Finding::new(
                &SETUID,
                Location::image_path("bin/su\u{ff}x y", None),
                "su".into(),
            ),
        ];
        let sarif = sarif(Family::Audit, "oci:x:y", &findings);
        let results = sarif["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 4);
        for r in results {
            let uri = &r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
            assert!(uri.is_string(), "{r}");
            let rule = &sarif["runs"][0]["tool"]["driver"]["rules"]
                [r["ruleIndex"].as_u64().unwrap() as usize];
            assert_eq!(rule["id"], r["ruleId"]);
        }
        assert_eq!(
            results[3]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "bin/su%C3%BFx%20y"
        );
        assert_eq!(rule_name("PARE-NO-CA-BUNDLE"), "NoCaBundle");
    }
}
