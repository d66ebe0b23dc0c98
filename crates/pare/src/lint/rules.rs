//! The lint checks, one function per concern, each raising rules of the catalog (`LINT_*` in
//! `crate::findings`) at an instruction's or argument's position. Each finding is returned with
//! the line of the instruction it belongs to, so `# pare-ignore=` on the line before applies.

use std::collections::BTreeSet;

use pare_dockerfile::{
    stage_named, Dockerfile, Instruction, Keyword, Position, ProblemKind, Stage,
};

use super::shell::{script, Script, SimpleCommand};
use super::Context;
use crate::findings::{self as f, Finding, Location, Rule};

type Out = Vec<(Finding, u32)>;

/// A finding of `rule` at `at`, owned by the instruction that starts on `owner_line`.
fn push(out: &mut Out, rule: &Rule, at: Position, owner_line: u32, reason: String) {
    let location = Location::FileLine {
        path: String::new(),
        line: at.line,
        column: at.column,
    };
    out.push((Finding::new(rule, location, reason), owner_line));
}

fn hit(out: &mut Out, rule: &Rule, owner: &Instruction, at: Position, reason: String) {
    push(out, rule, at, owner.start.line, reason);
}

/// Runs every check; `shipped` holds the indexes of the stages that ship
/// ([`shipped_stages`]).
pub(super) fn run(
    df: &Dockerfile,
    stages: &[Stage],
    shipped: &BTreeSet<usize>,
    context: &Context,
) -> Out {
    let mut out = Out::new();
    for p in &df.problems {
        let rule = match p.kind {
            ProblemKind::Error => &f::LINT_PARSE,
            ProblemKind::EmptyContinuation => &f::LINT_EMPTY_CONTINUATION,
        };
        let reason = format!(
            "lines {}-{}: {}",
            p.start.line,
            p.end_line,
            first_line(&p.message)
        );
        push(&mut out, rule, p.start, p.start.line, reason);
    }
    for i in &df.instructions {
        if i.keyword == Keyword::Unknown {
            hit(
                &mut out,
                &f::LINT_UNKNOWN_INSTRUCTION,
                i,
                i.start,
                format!("unknown instruction {}", i.word),
            );
        }
    }
    stage_names(&mut out, stages);
    let global = pare_dockerfile::global_args(df);
    for stage in stages {
        let is_final = stage.index + 1 == stages.len();
        base_image(&mut out, stage, stages);
        instructions(&mut out, df, &global, stage, stages);
        for i in &stage.instructions {
            if i.keyword == Keyword::Run {
                run_checks(&mut out, stage, i, shipped.contains(&stage.index));
            }
        }
        if is_final {
            final_stage(&mut out, stage, stages, shipped);
        }
    }
    context_checks(&mut out, stages, context);
    minimal_image(&mut out, stages);
    out
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The final stage and the stages it is built FROM: what ships.
pub(super) fn shipped_stages(stages: &[Stage]) -> BTreeSet<usize> {
    let mut shipped = BTreeSet::new();
    let mut current = stages.last();
    while let Some(stage) = current {
        if !shipped.insert(stage.index) {
            break;
        }
        current = stage_named(stages, &stage.base, stage.index);
    }
    shipped
}

fn stage_names(out: &mut Out, stages: &[Stage]) {
    for (i, stage) in stages.iter().enumerate() {
        let Some(name) = &stage.name else { continue };
        let at = stage
            .from
            .args
            .get(2)
            .map_or(stage.from.start, |a| a.position);
        if stages[..i].iter().any(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        }) {
            hit(
                out,
                &f::LINT_DUPLICATE_STAGE,
                stage.from,
                at,
                format!("stage name {name:?} is used twice"),
            );
        }
        if name.chars().any(|c| c.is_uppercase()) {
            hit(
                out,
                &f::LINT_STAGE_NAME_CASING,
                stage.from,
                at,
                format!("stage name {name:?} should be lowercase"),
            );
        }
        if let Some(as_word) = stage.from.args.get(1) {
            let upper = |s: &str| s.chars().all(|c| !c.is_lowercase());
            let lower = |s: &str| s.chars().all(|c| !c.is_uppercase());
            let (from, word) = (stage.from.word.as_str(), as_word.value.as_str());
            if (upper(from) && lower(word)) || (lower(from) && upper(word)) {
                hit(
                    out,
                    &f::LINT_FROM_AS_CASING,
                    stage.from,
                    as_word.position,
                    format!("'{word}' and '{from}' keywords' casing do not match"),
                );
            }
        }
    }
}

/// Tag and digest of an image reference.
fn tag_and_digest(reference: &str) -> (Option<&str>, Option<&str>) {
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    (last.split_once(':').map(|(_, t)| t), digest)
}

fn base_image(out: &mut Out, stage: &Stage, stages: &[Stage]) {
    let base = stage.base.as_str();
    let at = stage
        .from
        .args
        .first()
        .map_or(stage.from.start, |a| a.position);
    if base.is_empty() || base.eq_ignore_ascii_case("scratch") || base.contains('$') {
        return;
    }
    if stage_named(stages, base, stage.index).is_some() {
        return;
    }
    match tag_and_digest(base) {
        (None, None) => hit(
            out,
            &f::LINT_UNTAGGED_BASE,
            stage.from,
            at,
            format!("{base} has no tag: it means {base}:latest"),
        ),
        (Some("latest"), None) => hit(
            out,
            &f::LINT_LATEST_TAG,
            stage.from,
            at,
            format!("{base} is tagged :latest"),
        ),
        _ => {}
    }
    if tag_and_digest(base).1.is_none() {
        hit(
            out,
            &f::LINT_BASE_NOT_PINNED,
            stage.from,
            at,
            format!("{base} is not pinned by digest"),
        );
    }
}

/// Names BuildKit or common base images define, so using them is not an undefined variable.
const KNOWN_VARIABLES: &[&str] = &[
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETSTAGE",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "PATH",
    "HOME",
    "HOSTNAME",
    "USER",
    "LANG",
    "LC_ALL",
    "TERM",
    "GOPATH",
    "GOLANG_VERSION",
    "GOTOOLCHAIN",
    "JAVA_HOME",
    "JAVA_VERSION",
    "NODE_VERSION",
    "YARN_VERSION",
    "PYTHON_VERSION",
    "PYTHON_SHA256",
    "PIP_VERSION",
    "GPG_KEY",
    "RUBY_VERSION",
    "RUBY_MAJOR",
    "GEM_HOME",
    "BUNDLE_PATH",
    "RUSTUP_HOME",
    "CARGO_HOME",
    "RUST_VERSION",
    "MAVEN_HOME",
    "MAVEN_CONFIG",
    "PHP_VERSION",
    "PHP_INI_DIR",
    "SSL_CERT_FILE",
];

/// Per-instruction checks of one stage.
fn instructions(
    out: &mut Out,
    df: &Dockerfile,
    global: &std::collections::BTreeMap<String, String>,
    stage: &Stage,
    stages: &[Stage],
) {
    let mut defined: BTreeSet<String> = KNOWN_VARIABLES.iter().map(|s| s.to_string()).collect();
    // FROM may use the global ARGs only.
    if let Some(word) = stage.from.args.first() {
        let known = |n: &str| (global.contains_key(n) || defined.contains(n)).then(String::new);
        for name in pare_dockerfile::expand(&word.value, df.escape, &known).undefined {
            hit(out, &f::LINT_UNDEFINED_VAR, stage.from, word.position, format!("${name} is not defined before FROM (declare it with ARG before the first FROM)"));
        }
    }
    let (mut cmds, mut entrypoints) = (0, 0);
    let mut previous: Option<&Instruction> = None;
    for &i in &stage.instructions {
        // Undefined variables in the instructions BuildKit expands (not RUN/CMD/ENTRYPOINT: the
        // shell expands those at run time).
        let expands = matches!(
            i.keyword,
            Keyword::Add
                | Keyword::Copy
                | Keyword::Env
                | Keyword::Expose
                | Keyword::Label
                | Keyword::User
                | Keyword::Volume
                | Keyword::Workdir
                | Keyword::Stopsignal
        );
        if expands {
            let values: Vec<&pare_dockerfile::Arg> = match i.keyword {
                Keyword::Env | Keyword::Label => i.pairs().into_iter().map(|(_, v)| v).collect(),
                _ => i.args.iter().collect(),
            };
            for arg in values {
                let known = |n: &str| defined.contains(n).then(String::new);
                for name in pare_dockerfile::expand(&arg.value, df.escape, &known).undefined {
                    hit(
                        out,
                        &f::LINT_UNDEFINED_VAR,
                        i,
                        arg.position,
                        format!("${name} is not defined by ARG or ENV in this stage"),
                    );
                }
            }
        }
        match i.keyword {
            Keyword::Arg => {
                for a in &i.args {
                    let (name, value) = a.value.split_once('=').unwrap_or((&a.value, ""));
                    defined.insert(name.to_string());
                    secret_name_or_value(out, i, a.position, "ARG", name, value);
                }
            }
            Keyword::Env => {
                for (name, value) in i.pairs() {
                    defined.insert(name.value.clone());
                    secret_name_or_value(out, i, name.position, "ENV", &name.value, &value.value);
                }
                if i.legacy_key_value {
                    hit(
                        out,
                        &f::LINT_LEGACY_KEY_VALUE,
                        i,
                        i.start,
                        "\"ENV key=value\" should be used instead of the legacy \"ENV key value\""
                            .into(),
                    );
                }
            }
            Keyword::Label if i.legacy_key_value => {
                hit(
                    out,
                    &f::LINT_LEGACY_KEY_VALUE,
                    i,
                    i.start,
                    "\"LABEL key=value\" should be used instead of the legacy \"LABEL key value\""
                        .into(),
                );
            }
            Keyword::Cmd | Keyword::Entrypoint => {
                let count = if i.keyword == Keyword::Cmd {
                    &mut cmds
                } else {
                    &mut entrypoints
                };
                *count += 1;
                if *count > 1 {
                    let rule = if i.keyword == Keyword::Cmd {
                        &f::LINT_MULTIPLE_CMD
                    } else {
                        &f::LINT_MULTIPLE_ENTRYPOINT
                    };
                    hit(
                        out,
                        rule,
                        i,
                        i.start,
                        format!(
                            "{} #{} in this stage: only the last one takes effect",
                            i.word.to_uppercase(),
                            count
                        ),
                    );
                }
                if !i.json && !i.args.is_empty() {
                    hit(
                        out,
                        &f::LINT_SHELL_FORM_COMMAND,
                        i,
                        i.start,
                        format!(
                            "{} in shell form runs under /bin/sh -c",
                            i.word.to_uppercase()
                        ),
                    );
                }
            }
            Keyword::Run => {
                // As hadolint does: the same flags, and neither RUN chains several commands
                // (chained RUNs were split on purpose).
                if let Some(prev) = previous.filter(|p| p.keyword == Keyword::Run) {
                    let flags = |x: &Instruction| {
                        x.flags.iter().map(|f| f.value.clone()).collect::<Vec<_>>()
                    };
                    let single = |x: &Instruction| run_script(x).commands.len() <= 1;
                    if flags(prev) == flags(i) && single(prev) && single(i) {
                        hit(
                            out,
                            &f::LINT_CONSECUTIVE_RUN,
                            i,
                            i.start,
                            format!("RUN right after the RUN on line {}", prev.start.line),
                        );
                    }
                }
            }
            Keyword::Workdir => {
                if let Some(dir) = i.args.first() {
                    let v = dir.value.trim_matches('"');
                    let windows = v.len() >= 2 && v.as_bytes()[1] == b':';
                    if !v.starts_with('/') && !v.starts_with('$') && !windows {
                        hit(
                            out,
                            &f::LINT_WORKDIR_RELATIVE,
                            i,
                            dir.position,
                            format!("WORKDIR {v} is relative"),
                        );
                    }
                }
            }
            Keyword::Maintainer => hit(
                out,
                &f::LINT_MAINTAINER,
                i,
                i.start,
                "MAINTAINER is deprecated".into(),
            ),
            Keyword::Expose => {
                for port in &i.args {
                    if port.value.contains(':') {
                        hit(
                            out,
                            &f::LINT_EXPOSE_FORMAT,
                            i,
                            port.position,
                            format!("EXPOSE {} holds an address or host port", port.value),
                        );
                    }
                }
            }
            Keyword::Copy | Keyword::Add => copy_from(out, stage, stages, i),
            _ => {}
        }
        previous = Some(i);
    }
}

/// BuildKit's SecretsUsedInArgOrEnv words, and secret values pare's audit knows.
fn secret_name_or_value(
    out: &mut Out,
    i: &Instruction,
    at: Position,
    kind: &str,
    name: &str,
    value: &str,
) {
    const WORDS: &[&str] = &[
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "password",
        "pword",
        "passwd",
        "secret",
        "token",
    ];
    let lower = name.to_ascii_lowercase();
    let by_name = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| WORDS.contains(&w));
    let by_value =
        !value.is_empty() && !crate::secrets::secrets_in(name, value.as_bytes()).is_empty();
    if by_name || by_value {
        let why = if by_value {
            "its value looks like a credential"
        } else {
            "its name says it holds a secret"
        };
        hit(
            out,
            &f::LINT_SECRET_ARG_ENV,
            i,
            at,
            format!("{kind} {name}: {why}; it is stored in the image"),
        );
    }
}

fn copy_from(out: &mut Out, stage: &Stage, stages: &[Stage], i: &Instruction) {
    if let Some(from) = i.flag("from").filter(|f| !f.is_empty()) {
        let at = i
            .flags
            .iter()
            .find(|f| f.value.to_ascii_lowercase().starts_with("--from"))
            .map_or(i.start, |f| f.position);
        let own = stage
            .name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(from))
            || from.parse::<usize>() == Ok(stage.index);
        if own {
            hit(
                out,
                &f::LINT_COPY_FROM_SELF,
                i,
                at,
                format!("--from={from} is this stage"),
            );
        } else if stage_named(stages, from, stage.index).is_none()
            && !from.contains(['/', ':', '@', '$'])
        {
            hit(
                out,
                &f::LINT_COPY_FROM_UNKNOWN,
                i,
                at,
                format!("--from={from} is no earlier stage"),
            );
        }
    }
    if i.keyword == Keyword::Add && i.args.len() >= 2 {
        let sources = &i.args[..i.args.len() - 1];
        let url = |s: &str| {
            s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@")
        };
        if let Some(u) = sources.iter().find(|s| url(&s.value)) {
            if i.flag("checksum").is_none() {
                hit(
                    out,
                    &f::LINT_ADD_URL,
                    i,
                    u.position,
                    format!("ADD {} is not verified", u.value),
                );
            }
        } else if !sources
            .iter()
            .any(|s| is_archive(&s.value) || s.value.starts_with("<<") || s.value.contains('$'))
        {
            hit(
                out,
                &f::LINT_ADD_FOR_COPY,
                i,
                i.start,
                "ADD of local files: COPY does the same, visibly".into(),
            );
        }
    }
}

fn is_archive(name: &str) -> bool {
    [
        ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".gz",
        ".bz2", ".xz",
    ]
    .iter()
    .any(|s| name.to_ascii_lowercase().ends_with(s))
}

/// Whether a program word names a POSIX shell (`sh`, `/bin/bash`, …).
fn is_posix_shell(word: &str) -> bool {
    matches!(
        word.rsplit('/').next(),
        Some("sh" | "bash" | "ash" | "dash")
    )
}

/// The script a RUN executes: its shell text, plus heredoc bodies fed to a shell.
fn run_script(i: &Instruction) -> Script {
    if i.json {
        let words: Vec<&str> = i.args.iter().map(|a| a.value.as_str()).collect();
        if words.first().is_some_and(|w| is_posix_shell(w)) && words.get(1) == Some(&"-c") {
            return script(words.get(2).copied().unwrap_or(""));
        }
        return Script {
            commands: vec![SimpleCommand {
                assignments: Vec::new(),
                words: words.iter().map(|w| w.to_string()).collect(),
            }],
            has_pipe: false,
            text: words.join(" "),
        };
    }
    let line = i.args.first().map(|a| a.value.as_str()).unwrap_or("");
    let mut text = line.to_string();
    let first = line.split_whitespace().next().unwrap_or("");
    let shell_reads_heredoc = first.starts_with("<<") || is_posix_shell(first);
    if shell_reads_heredoc {
        for doc in &i.heredocs {
            text.push('\n');
            text.push_str(&doc.body());
        }
    }
    let mut s = script(&text);
    // The heredoc words themselves are not commands.
    for c in &mut s.commands {
        c.words.retain(|w| !w.contains("<<"));
    }
    s
}

/// Cache mounts of a RUN (`--mount=type=cache,target=/var/cache/apt`): their targets.
fn cache_targets(i: &Instruction) -> Vec<String> {
    i.flag_values("mount")
        .filter(|m| m.split(',').any(|kv| kv == "type=cache"))
        .filter_map(|m| {
            m.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                matches!(k, "target" | "dst" | "destination").then(|| v.to_string())
            })
        })
        .collect()
}

/// The package arguments after a subcommand (`install`, `add`), flags and their values skipped.
fn packages_after<'a>(c: &'a SimpleCommand, subcommands: &[&str], valued: &[&str]) -> Vec<&'a str> {
    let Some(pos) = c
        .words
        .iter()
        .position(|w| subcommands.contains(&w.as_str()))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut skip = false;
    for w in &c.words[pos + 1..] {
        if skip {
            skip = false;
            continue;
        }
        if w.starts_with('-') {
            skip = valued.contains(&w.as_str());
            continue;
        }
        out.push(w.as_str());
    }
    out
}

const COMPILERS: &[&str] = &[
    "gcc",
    "g++",
    "clang",
    "cc",
    "c++",
    "make",
    "cmake",
    "build-essential",
    "musl-dev",
    "libc-dev",
    "libc6-dev",
    "autoconf",
    "automake",
    "libtool",
    "pkg-config",
    "pkgconf",
    "golang",
    "golang-go",
    "go",
    "rustc",
    "cargo",
    "gfortran",
    "openjdk-17-jdk",
    "openjdk-21-jdk",
    "default-jdk",
    "maven",
    "gradle",
    "nasm",
    "binutils",
];
const MANAGERS: &[&str] = &[
    "python3-pip",
    "py3-pip",
    "pip",
    "npm",
    "yarn",
    "apk-tools",
    "apt",
    "dpkg",
];

/// The packages an `apt-get install` names.
fn apt_packages(c: &SimpleCommand) -> Vec<&str> {
    packages_after(c, &["install"], &["-o", "-t", "--target-release"])
}

/// The packages an `apk add` names.
fn apk_packages(c: &SimpleCommand) -> Vec<&str> {
    packages_after(c, &["add"], &["-t", "--virtual", "--repository", "-X"])
}

/// Build tools and package managers a RUN installs.
fn installed_tools(s: &Script) -> Vec<String> {
    let mut found = Vec::new();
    for c in &s.commands {
        let packages = match c.program() {
            "apt-get" | "apt" => apt_packages(c),
            "apk" => apk_packages(c),
            "dnf" | "yum" | "microdnf" => packages_after(c, &["install"], &[]),
            _ => Vec::new(),
        };
        for p in packages {
            let name = p.split(['=', '<', '>']).next().unwrap_or(p);
            if COMPILERS.contains(&name)
                || name.ends_with("-dev")
                || name.ends_with("-devel")
                || MANAGERS.contains(&name)
            {
                found.push(name.to_string());
            }
        }
    }
    found
}

fn run_checks(out: &mut Out, stage: &Stage, i: &Instruction, shipped: bool) {
    let s = run_script(i);
    let caches = cache_targets(i);
    let cached = |dir: &str| {
        caches.iter().any(|t| {
            t.trim_end_matches('/').starts_with(dir) || dir.starts_with(t.trim_end_matches('/'))
        })
    };
    let env_set = |name: &str| {
        stage
            .instructions
            .iter()
            .take_while(|x| x.start.line < i.start.line)
            .any(|x| x.keyword == Keyword::Env && x.pairs().iter().any(|(n, _)| n.value == name))
            || s.commands.iter().any(|c| {
                c.assignments
                    .iter()
                    .any(|a| a.starts_with(&format!("{name}=")))
            })
    };
    for c in &s.commands {
        match c.program() {
            "apt-get" | "apt" if c.has("install") => {
                let packages = apt_packages(c);
                let unpinned: Vec<&str> = packages
                    .iter()
                    .copied()
                    .filter(|p| !p.contains('=') && !p.ends_with(".deb") && !p.contains('$'))
                    .collect();
                if !unpinned.is_empty() {
                    hit(
                        out,
                        &f::LINT_APT_UNPINNED,
                        i,
                        i.start,
                        format!("apt-get install {} without versions", unpinned.join(" ")),
                    );
                }
                let no_recommends = c.has("--no-install-recommends")
                    || c.words.iter().any(|w| {
                        w.contains("Install-Recommends=false") || w.contains("Install-Recommends=0")
                    });
                if !no_recommends && !packages.is_empty() {
                    hit(
                        out,
                        &f::LINT_APT_RECOMMENDS,
                        i,
                        i.start,
                        "apt-get install without --no-install-recommends".into(),
                    );
                }
            }
            "apk" if c.has("add") => {
                let packages = apk_packages(c);
                let unpinned: Vec<&str> = packages
                    .iter()
                    .copied()
                    .filter(|p| !p.contains('=') && !p.ends_with(".apk") && !p.contains('$'))
                    .collect();
                if !unpinned.is_empty() {
                    hit(
                        out,
                        &f::LINT_APK_UNPINNED,
                        i,
                        i.start,
                        format!("apk add {} without versions", unpinned.join(" ")),
                    );
                }
                let cleaned = s.mentions("/var/cache/apk") && s.calls("rm").next().is_some();
                if shipped && !c.has("--no-cache") && !cached("/var/cache/apk") && !cleaned {
                    hit(
                        out,
                        &f::LINT_APK_CACHE,
                        i,
                        i.start,
                        "apk add without --no-cache leaves /var/cache/apk in the layer".into(),
                    );
                }
            }
            _ => {}
        }
        if let Some(packages) = pip_install(c) {
            let unpinned: Vec<&str> = packages
                .iter()
                .copied()
                .filter(|p| {
                    // A VCS URL is pinned only with @ref; a path or archive names its content.
                    let vcs =
                        p.starts_with("git+") || p.starts_with("hg+") || p.starts_with("svn+");
                    if vcs {
                        return !p.contains('@');
                    }
                    !p.contains(['=', '<', '>', '@', '/', '$'])
                        && !p.ends_with(".whl")
                        && !p.ends_with(".tar.gz")
                        && *p != "."
                })
                .collect();
            if !unpinned.is_empty() {
                hit(
                    out,
                    &f::LINT_PIP_UNPINNED,
                    i,
                    i.start,
                    format!("pip install {} without versions", unpinned.join(" ")),
                );
            }
            if shipped
                && !c.has("--no-cache-dir")
                && !env_set("PIP_NO_CACHE_DIR")
                && !cached("/root/.cache/pip")
                && !caches
                    .iter()
                    .any(|t| t.ends_with(".cache/pip") || t.ends_with(".cache"))
            {
                hit(
                    out,
                    &f::LINT_PIP_CACHE,
                    i,
                    i.start,
                    "pip install without --no-cache-dir keeps its download cache in the layer"
                        .into(),
                );
            }
        }
        if shipped
            && matches!(c.program(), "npm")
            && c.words
                .get(1)
                .is_some_and(|w| matches!(w.as_str(), "install" | "ci" | "i"))
        {
            let cleaned = s
                .commands
                .iter()
                .any(|x| x.program() == "npm" && x.has("cache") && x.has("clean"));
            if !cleaned && !caches.iter().any(|t| t.ends_with(".npm")) {
                hit(
                    out,
                    &f::LINT_NPM_CACHE,
                    i,
                    i.start,
                    "npm's download cache (~/.npm) stays in the layer".into(),
                );
            }
        }
    }
    let updates = s
        .commands
        .iter()
        .any(|c| matches!(c.program(), "apt-get" | "apt") && c.has("update"));
    let removes_lists = s
        .calls("rm")
        .any(|c| c.words.iter().any(|w| w.starts_with("/var/lib/apt/lists")));
    if shipped
        && updates
        && !removes_lists
        && !cached("/var/lib/apt/lists")
        && !cached("/var/lib/apt")
    {
        hit(
            out,
            &f::LINT_APT_LISTS,
            i,
            i.start,
            "apt-get update without `rm -rf /var/lib/apt/lists/*` in the same RUN".into(),
        );
    }
    let pipefail_shell = stage
        .instructions
        .iter()
        .take_while(|x| x.start.line < i.start.line)
        .filter(|x| x.keyword == Keyword::Shell)
        .last()
        .map(|x| {
            let words: Vec<&str> = x.args.iter().map(|a| a.value.as_str()).collect();
            words.contains(&"pipefail")
                || words
                    .iter()
                    .any(|w| w.contains("pwsh") || w.contains("powershell") || w.contains("cmd"))
        });
    if !i.json && s.has_pipe && pipefail_shell != Some(true) && !s.mentions("pipefail") {
        hit(
            out,
            &f::LINT_PIPEFAIL,
            i,
            i.start,
            "a pipe under /bin/sh -c: a failure before the last command is ignored".into(),
        );
    }
}

/// The requirement arguments of a `pip install`, or None when the command is not one.
fn pip_install(c: &SimpleCommand) -> Option<Vec<&str>> {
    let program = c.program();
    let pip = program.starts_with("pip")
        || ((program.starts_with("python"))
            && c.words.get(1).map(String::as_str) == Some("-m")
            && c.words.get(2).is_some_and(|w| w.starts_with("pip")));
    if !pip || !c.has("install") {
        return None;
    }
    if c.words
        .iter()
        .any(|w| w == "-r" || w.starts_with("--requirement") || w == "-e" || w == "--editable")
    {
        return Some(Vec::new());
    }
    Some(packages_after(
        c,
        &["install"],
        &[
            "-i",
            "--index-url",
            "--extra-index-url",
            "-c",
            "--constraint",
            "-t",
            "--target",
            "--prefix",
            "--root",
            "-f",
            "--find-links",
            "--platform",
            "--python-version",
            "--trusted-host",
        ],
    ))
}

fn final_stage(out: &mut Out, stage: &Stage, stages: &[Stage], shipped: &BTreeSet<usize>) {
    let last_user = stage
        .instructions
        .iter()
        .rev()
        .find(|i| i.keyword == Keyword::User);
    match last_user {
        Some(u) => {
            let value = u.args.first().map(|a| a.value.as_str()).unwrap_or("");
            let uid = value.split(':').next().unwrap_or("");
            if uid == "root" || uid == "0" {
                hit(
                    out,
                    &f::LINT_LAST_USER_ROOT,
                    u,
                    u.start,
                    format!("the final stage runs as {value}"),
                );
            } else if !uid.chars().all(|c| c.is_ascii_digit()) && !uid.starts_with('$') {
                hit(
                    out,
                    &f::LINT_USER_NOT_NUMERIC,
                    u,
                    u.args.first().map_or(u.start, |a| a.position),
                    format!("USER {value}: use the numeric uid (nonroot is 65532)"),
                );
            }
        }
        None => {
            // A stage built FROM another inherits its USER: the other shipped stages are the
            // final stage's FROM chain.
            let inherited = shipped
                .iter()
                .filter(|&&index| index != stage.index)
                .any(|&index| {
                    stages[index]
                        .instructions
                        .iter()
                        .any(|i| i.keyword == Keyword::User)
                });
            let nonroot_base =
                stage.base.contains("nonroot") || stage.base.starts_with("cgr.dev/chainguard/");
            if !inherited && !nonroot_base {
                hit(
                    out,
                    &f::LINT_NO_USER,
                    stage.from,
                    stage.from.start,
                    format!("the final stage (FROM {}) sets no USER", stage.base),
                );
            }
        }
    }
    for i in &stage.instructions {
        if i.keyword == Keyword::Run {
            let tools = installed_tools(&run_script(i));
            if !tools.is_empty() && stages.len() > 1 {
                hit(
                    out,
                    &f::LINT_BUILD_TOOLS_IN_FINAL,
                    i,
                    i.start,
                    format!("the final stage installs {}", tools.join(", ")),
                );
            }
        }
    }
}

/// Sources of COPY/ADD from the context (not `--from`, not heredocs or URLs).
fn context_sources(i: &Instruction) -> Vec<&pare_dockerfile::Arg> {
    if !matches!(i.keyword, Keyword::Copy | Keyword::Add)
        || i.flag("from").is_some()
        || i.args.len() < 2
    {
        return Vec::new();
    }
    i.args[..i.args.len() - 1]
        .iter()
        .filter(|a| {
            !a.value.starts_with("<<") && !a.value.contains("://") && !a.value.starts_with("git@")
        })
        .collect()
}

fn is_whole_context(source: &str) -> bool {
    matches!(source.trim_end_matches('/'), "." | "" | "*" | "./*") || source == "./"
}

/// Names of files that hold secrets.
fn secret_name(path: &str) -> bool {
    let name = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    lower == ".env"
        || lower.starts_with(".env.") && !lower.ends_with(".example") && !lower.ends_with(".sample")
        || matches!(
            lower.as_str(),
            "id_rsa"
                | "id_dsa"
                | "id_ecdsa"
                | "id_ed25519"
                | ".netrc"
                | ".git-credentials"
                | "credentials"
                | ".pgpass"
                | "kubeconfig"
        )
        || lower.ends_with(".pem")
        || lower.ends_with(".key")
        || lower.ends_with(".p12")
        || lower.ends_with(".pfx")
        || path.ends_with(".aws")
        || path.ends_with(".ssh")
        || path.ends_with(".docker/config.json")
}

fn context_checks(out: &mut Out, stages: &[Stage], context: &Context) {
    let mut gaps_reported = false;
    for stage in stages {
        for &i in &stage.instructions {
            for source in context_sources(i) {
                let path = source
                    .value
                    .trim_start_matches("./")
                    .trim_start_matches('/');
                if let Some(ignore) = &context.ignore {
                    if !is_whole_context(&source.value)
                        && !path.contains(['*', '?', '[', '$'])
                        && ignore.excludes(path)
                    {
                        let pattern = ignore
                            .matching(path)
                            .map(|p| format!(" (pattern {:?}, line {})", p.text, p.line))
                            .unwrap_or_default();
                        hit(
                            out,
                            &f::LINT_COPY_IGNORED_FILE,
                            i,
                            source.position,
                            format!("{} is excluded by .dockerignore{pattern}", source.value),
                        );
                    }
                }
                let token_file = context
                    .dir
                    .as_ref()
                    .is_some_and(|d| holds_registry_token(&d.join(path)));
                if (secret_name(path) || token_file) && !is_whole_context(&source.value) {
                    hit(
                        out,
                        &f::LINT_SECRET_COPIED,
                        i,
                        source.position,
                        format!("{} is copied into the image", source.value),
                    );
                }
                if !is_whole_context(&source.value) {
                    continue;
                }
                match &context.ignore {
                    None => hit(
                        out,
                        &f::LINT_NO_DOCKERIGNORE,
                        i,
                        source.position,
                        format!(
                            "{} {} copies the whole context and there is no .dockerignore",
                            i.word.to_uppercase(),
                            source.value
                        ),
                    ),
                    Some(ignore) if !gaps_reported => {
                        gaps_reported = true;
                        let missing = context_gaps(context, ignore);
                        if !missing.is_empty() {
                            hit(
                                out,
                                &f::LINT_DOCKERIGNORE_GAPS,
                                i,
                                source.position,
                                format!(".dockerignore does not exclude {}", missing.join(", ")),
                            );
                        }
                    }
                    Some(_) => {}
                }
                for secret in context_secrets(context) {
                    hit(
                        out,
                        &f::LINT_SECRET_COPIED,
                        i,
                        source.position,
                        format!("{} copies {secret} from the context", source.value),
                    );
                }
            }
        }
    }
}

/// What a whole-context copy would send that a .dockerignore should leave out.
fn context_gaps(context: &Context, ignore: &pare_dockerfile::ignore::DockerIgnore) -> Vec<String> {
    let Some(dir) = &context.dir else {
        return Vec::new();
    };
    let mut missing = Vec::new();
    for name in [".git", "node_modules", "target", ".env"] {
        if dir.join(name).exists() && !ignore.excludes(name) {
            missing.push(name.to_string());
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if (name.ends_with(".pem") || name.ends_with(".key")) && !ignore.excludes(&name) {
                missing.push(name);
            }
        }
    }
    missing.sort();
    missing
}

/// An `.npmrc` or `.pypirc` that holds a token or password.
fn holds_registry_token(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    matches!(name.as_str(), ".npmrc" | ".pypirc")
        && pare_oci::layout::read_bounded(path, 1 << 20).is_ok_and(|b| {
            let t = String::from_utf8_lossy(&b);
            t.contains("_authToken") || t.contains("_auth=") || t.contains("password")
        })
}

/// Secret files in the top two levels of the context that a whole-context copy takes along.
fn context_secrets(context: &Context) -> Vec<String> {
    let Some(dir) = &context.dir else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut visit = |rel: String, path: &std::path::Path| {
        let excluded = context.ignore.as_ref().is_some_and(|i| i.excludes(&rel));
        if excluded {
            return;
        }
        if (secret_name(&rel) && path.is_file()) || holds_registry_token(path) {
            found.push(rel);
        }
    };
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            visit(name.clone(), &e.path());
            if e.path().is_dir() && !matches!(name.as_str(), ".git" | "node_modules" | "target") {
                if let Ok(inner) = std::fs::read_dir(e.path()) {
                    for x in inner.flatten().take(1000) {
                        visit(
                            format!("{name}/{}", x.file_name().to_string_lossy()),
                            &x.path(),
                        );
                    }
                }
            }
        }
    }
    found.sort();
    found
}

/// Base images that are full distributions or language images (with a shell and a package
/// manager), by their last path component.
fn is_full_distribution(base: &str) -> bool {
    let name = base.split('@').next().unwrap_or(base);
    let last = name.rsplit('/').next().unwrap_or(name);
    let repo = last.split(':').next().unwrap_or(last);
    if base.contains("distroless") || base.starts_with("cgr.dev/") {
        return false;
    }
    matches!(
        repo,
        "ubuntu"
            | "debian"
            | "alpine"
            | "centos"
            | "fedora"
            | "rockylinux"
            | "almalinux"
            | "amazonlinux"
            | "oraclelinux"
            | "leap"
            | "archlinux"
            | "busybox"
            | "golang"
            | "rust"
            | "node"
            | "python"
            | "openjdk"
            | "eclipse-temurin"
            | "ruby"
            | "php"
            | "buildpack-deps"
            | "ubi"
            | "ubi8"
            | "ubi9"
    )
}

/// Whether a stage makes a static artifact.
fn builds_static(stage: &Stage) -> Option<String> {
    let cgo_env = stage.instructions.iter().any(|i| {
        i.keyword == Keyword::Env
            && i.pairs()
                .iter()
                .any(|(n, v)| n.value == "CGO_ENABLED" && v.value == "0")
    });
    for i in stage
        .instructions
        .iter()
        .filter(|i| i.keyword == Keyword::Run)
    {
        let s = run_script(i);
        for c in &s.commands {
            let cgo_off = cgo_env || c.assignments.iter().any(|a| a == "CGO_ENABLED=0");
            if c.program() == "go" && c.has("build") && cgo_off {
                return Some(format!(
                    "line {}: go build with CGO_ENABLED=0",
                    i.start.line
                ));
            }
            if c.words
                .iter()
                .any(|w| w == "-static" || w.contains("-extldflags") && s.mentions("-static"))
            {
                return Some(format!("line {}: linked with -static", i.start.line));
            }
            if c.words
                .iter()
                .any(|w| w.ends_with("-linux-musl") || w.contains("-unknown-linux-musl"))
            {
                return Some(format!("line {}: a musl target", i.start.line));
            }
        }
    }
    None
}

fn minimal_image(out: &mut Out, stages: &[Stage]) {
    let Some(last) = stages.last() else { return };
    if stages.len() == 1 {
        let s = last;
        let compiles = s
            .instructions
            .iter()
            .filter(|i| i.keyword == Keyword::Run)
            .find_map(|i| {
                let script = run_script(i);
                let tools = installed_tools(&script);
                if let Some(t) = tools
                    .iter()
                    .find(|t| COMPILERS.contains(&t.as_str()) || t.ends_with("-dev"))
                {
                    return Some(format!("installs {t} on line {}", i.start.line));
                }
                script
                    .commands
                    .iter()
                    .find(|c| {
                        matches!(
                            (c.program(), c.words.get(1).map(String::as_str)),
                            ("go", Some("build"))
                                | ("cargo", Some("build"))
                                | ("mvn", _)
                                | ("gradle", _)
                                | ("gcc", _)
                                | ("make", _)
                        )
                    })
                    .map(|c| {
                        format!(
                            "runs {} on line {}",
                            c.words.join(" ").chars().take(40).collect::<String>(),
                            i.start.line
                        )
                    })
            });
        let toolchain_base = ["golang", "rust", "maven", "gradle"].iter().any(|t| {
            let last = s.base.rsplit('/').next().unwrap_or(&s.base);
            last.split(':').next() == Some(t)
        });
        if let Some(why) = compiles
            .or_else(|| toolchain_base.then(|| format!("its base {} is a toolchain", s.base)))
        {
            hit(
                out,
                &f::LINT_SINGLE_STAGE_COMPILER,
                s.from,
                s.from.start,
                format!("one stage builds and ships: {why}"),
            );
        }
        return;
    }
    if !is_full_distribution(&last.base) {
        return;
    }
    let copied_from: Vec<&str> = last
        .instructions
        .iter()
        .filter(|i| i.keyword == Keyword::Copy)
        .filter_map(|i| i.flag("from"))
        .collect();
    for name in copied_from {
        if let Some(source) = stage_named(stages, name, last.index) {
            if let Some(why) = builds_static(source) {
                hit(out, &f::LINT_FULL_DISTRO_FOR_STATIC, last.from, last.from.start, format!("stage {name} makes a static artifact ({why}); the final stage ships it on {}", last.base));
                return;
            }
        }
    }
}
