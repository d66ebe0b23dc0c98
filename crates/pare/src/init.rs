//! `pare init --from-dockerfile`: the final stage of a Dockerfile as a pare.toml. Its base maps to
//! a pare base (distroless static → `static`, cc → `cc`, python3 → `python3`, java → `java`,
//! nodejs → `nodejs`, base → `base`, scratch → `scratch`; another image stays a `docker://`
//! reference), `COPY` lines become `[[copy]]` entries (from a build stage: with a comment naming
//! the path that stage produces), and USER, ENV, WORKDIR, ENTRYPOINT, CMD, EXPOSE, LABEL and
//! STOPSIGNAL carry over. What cannot carry (RUN steps, ADD, VOLUME, HEALTHCHECK …) is listed with
//! the reason. Not here: building (`crate::build` reads the file this writes).

use std::collections::BTreeMap;

use pare_dockerfile::{Instruction, Keyword, Stage};
use serde::Serialize;

use crate::{Error, Result};

/// What `init` made of a Dockerfile.
#[derive(Clone, Debug, Serialize)]
pub struct InitReport {
    /// The pare.toml text.
    pub toml: String,
    /// The pare base the final stage's base became.
    pub base: String,
    /// Instructions of the final stage not carried, each with the reason.
    pub not_carried: Vec<String>,
    /// Build-stage paths the `[[copy]]` entries expect to be produced.
    pub produce: Vec<String>,
}

/// A distroless (or similar) base image as a pare base.
fn pare_base(base: &str) -> String {
    let lower = base.to_ascii_lowercase();
    if lower == "scratch" {
        return "scratch".into();
    }
    let name = lower.split('@').next().unwrap_or(&lower);
    let repo = name.rsplit('/').next().unwrap_or(name);
    let repo = repo.split(':').next().unwrap_or(repo);
    if name.contains("distroless/") || name.starts_with("cgr.dev/chainguard/") {
        let family = repo.split('-').next().unwrap_or(repo);
        let mapped = match (family, repo) {
            ("static", _) => "static",
            (_, r) if r.starts_with("base-nossl") => "base-nossl",
            ("base", _) => "base",
            ("cc", _) => "cc",
            ("python3", _) | ("python", _) => "python3",
            ("java", _) | ("java17", _) | ("java21", _) | ("jre", _) => "java",
            ("nodejs", _) | ("nodejs20", _) | ("nodejs22", _) | ("node", _) => "nodejs",
            _ => "",
        };
        if !mapped.is_empty() {
            return mapped.into();
        }
    }
    format!("docker://{base}")
}

fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn words(values: &[String]) -> String {
    format!(
        "[{}]",
        values
            .iter()
            .map(|v| quote(v))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Reads a Dockerfile's final stage into a pare.toml.
pub fn from_dockerfile(bytes: &[u8]) -> Result<InitReport> {
    let df = pare_dockerfile::parse(bytes);
    if let Some(p) = df
        .problems
        .iter()
        .find(|p| p.kind == pare_dockerfile::ProblemKind::Error)
    {
        return Err(Error::Input(format!(
            "the Dockerfile cannot be read at line {}: {} (pare lint shows every problem)",
            p.start.line, p.message
        )));
    }
    let stages = pare_dockerfile::stages(&df);
    let Some(last) = stages.last() else {
        return Err(Error::Input("the Dockerfile has no FROM".into()));
    };
    let mut not_carried = Vec::new();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let expand = |text: &str, vars: &BTreeMap<String, String>| {
        pare_dockerfile::expand(text, df.escape, &|n| vars.get(n).cloned()).value
    };
    // FROM names a stage by name only (an index is for COPY --from).
    let base = match stages[..last.index].iter().find(|s| {
        s.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(&last.base))
    }) {
        Some(s) => {
            not_carried.push(format!(
                "line {}: FROM {} is a build stage; the pare.toml builds on that stage's base ({}) without its steps",
                last.from.start.line, last.base, s.base
            ));
            pare_base(&s.base)
        }
        None => pare_base(&last.base),
    };
    let mut image: Vec<String> = vec![format!("base = {}", quote(&base))];
    let mut env: Vec<(String, String)> = Vec::new();
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut expose: Vec<String> = Vec::new();
    let mut copies: Vec<String> = Vec::new();
    let mut produce = Vec::new();
    let (mut user, mut workdir, mut entrypoint, mut cmd, mut stop) = (None, None, None, None, None);
    for &i in &last.instructions {
        let line = i.start.line;
        match i.keyword {
            Keyword::Arg => {
                for a in &i.args {
                    let (n, v) = a.value.split_once('=').unwrap_or((&a.value, ""));
                    vars.insert(n.to_string(), expand(v, &vars));
                }
            }
            Keyword::Env => {
                for (n, v) in i.pairs() {
                    let value = expand(&v.value, &vars);
                    vars.insert(n.value.clone(), value.clone());
                    env.push((n.value.clone(), value));
                }
            }
            Keyword::Label => {
                for (n, v) in i.pairs() {
                    labels.push((expand(&n.value, &vars), expand(&v.value, &vars)));
                }
            }
            Keyword::User => user = i.args.first().map(|a| expand(&a.value, &vars)),
            Keyword::Workdir => workdir = i.args.first().map(|a| expand(&a.value, &vars)),
            Keyword::Stopsignal => stop = i.args.first().map(|a| expand(&a.value, &vars)),
            Keyword::Expose => expose.extend(i.args.iter().map(|a| expand(&a.value, &vars))),
            Keyword::Entrypoint | Keyword::Cmd => {
                let value = command_words(i, &mut not_carried);
                if i.keyword == Keyword::Entrypoint {
                    entrypoint = value;
                    cmd = None;
                } else {
                    cmd = value;
                }
            }
            Keyword::Copy => copy_entries(i, &stages, last, &vars, &df, &mut copies, &mut produce, &mut not_carried),
            Keyword::Run => not_carried.push(format!(
                "line {line}: RUN {}: pare does not run commands in the runtime image (it has no shell); run it in a build stage and copy the result",
                first_words(i)
            )),
            other => not_carried.push(format!(
                "line {line}: {} is not carried: {}",
                i.word.to_uppercase(),
                match other {
                    Keyword::Add => "ADD fetches or unpacks; fetch in a build stage and copy the files",
                    Keyword::Volume => "pare images declare no volumes; mount them at run time",
                    Keyword::Healthcheck => "health checks belong to the orchestrator (and need a program in the image)",
                    Keyword::Shell => "pare bases have no shell",
                    Keyword::Onbuild => "ONBUILD triggers have no pare equivalent",
                    Keyword::Maintainer => "use a LABEL",
                    _ => "no pare equivalent",
                }
            )),
        }
    }
    if let Some(v) = &entrypoint {
        image.push(format!("entrypoint = {}", words(v)));
    }
    if let Some(v) = &cmd {
        image.push(format!("cmd = {}", words(v)));
    }
    for (key, value) in [
        ("user", &user),
        ("workdir", &workdir),
        ("stop_signal", &stop),
    ] {
        if let Some(v) = value {
            image.push(format!("{key} = {}", quote(v)));
        }
    }
    if !expose.is_empty() {
        image.push(format!("expose = {}", words(&expose)));
    }
    let mut out = String::from(
        "# Written by `pare init --from-dockerfile` from the Dockerfile's final stage.\n",
    );
    if !not_carried.is_empty() {
        out.push_str("# Not carried over:\n");
        for n in &not_carried {
            out.push_str(&format!("#   {n}\n"));
        }
    }
    out.push_str("\n[image]\n");
    for l in &image {
        out.push_str(l);
        out.push('\n');
    }
    for (table, pairs) in [("image.env", &env), ("image.labels", &labels)] {
        if !pairs.is_empty() {
            out.push_str(&format!("\n[{table}]\n"));
            for (k, v) in pairs {
                out.push_str(&format!("{} = {}\n", quote(k), quote(v)));
            }
        }
    }
    for c in &copies {
        out.push('\n');
        out.push_str(c);
    }
    // What the file says must be what pare build reads.
    toml::from_str::<toml::Table>(&out).map_err(|e| {
        Error::Refused(format!(
            "init wrote a pare.toml that does not parse (a bug in pare): {e}"
        ))
    })?;
    Ok(InitReport {
        toml: out,
        base,
        not_carried,
        produce,
    })
}

fn first_words(i: &Instruction) -> String {
    let text = i.command_text();
    let short: String = text.chars().take(60).collect();
    if short.len() < text.len() {
        format!("{short}…")
    } else {
        short
    }
}

fn command_words(i: &Instruction, not_carried: &mut Vec<String>) -> Option<Vec<String>> {
    let words: Vec<String> = i.args.iter().map(|a| a.value.clone()).collect();
    if i.json {
        return Some(words);
    }
    if words.is_empty() {
        return None;
    }
    not_carried.push(format!(
        "line {}: {} is in shell form; kept as /bin/sh -c, which needs a shell the pare bases do not have: write it as a JSON array",
        i.start.line,
        i.word.to_uppercase()
    ));
    Some(vec!["/bin/sh".into(), "-c".into(), words.join(" ")])
}

#[allow(clippy::too_many_arguments)]
fn copy_entries(
    i: &Instruction,
    stages: &[Stage],
    last: &Stage,
    vars: &BTreeMap<String, String>,
    df: &pare_dockerfile::Dockerfile,
    copies: &mut Vec<String>,
    produce: &mut Vec<String>,
    not_carried: &mut Vec<String>,
) {
    let expand = |t: &str| pare_dockerfile::expand(t, df.escape, &|n| vars.get(n).cloned()).value;
    if i.args.len() < 2 || i.args.iter().any(|a| a.value.starts_with("<<")) {
        not_carried.push(format!(
            "line {}: COPY with a heredoc or no destination",
            i.start.line
        ));
        return;
    }
    let from = i.flag("from");
    let stage = from.and_then(|f| pare_dockerfile::stage_named(stages, f, last.index));
    if from.is_some() && stage.is_none() {
        not_carried.push(format!(
            "line {}: COPY --from={} copies from an image; pull it and copy the files from a local tree",
            i.start.line,
            from.unwrap_or("")
        ));
        return;
    }
    let dst = expand(&i.args[i.args.len() - 1].value);
    let sources = &i.args[..i.args.len() - 1];
    let (uid, gid) = match i.flag("chown").map(&expand) {
        Some(owner) => {
            let (u, g) = owner.split_once(':').unwrap_or((&owner, &owner));
            match (u.parse::<u32>(), g.parse::<u32>()) {
                (Ok(u), Ok(g)) => (Some(u), Some(g)),
                _ => {
                    not_carried.push(format!(
                        "line {}: --chown={owner} is not numeric; pare needs uid:gid numbers",
                        i.start.line
                    ));
                    (None, None)
                }
            }
        }
        None => (None, None),
    };
    let mode = i.flag("chmod").map(&expand);
    for source in sources {
        let src = expand(&source.value);
        let name = src
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(&src)
            .to_string();
        let target = if dst.ends_with('/') || sources.len() > 1 {
            format!("{}/{}", dst.trim_end_matches('/'), name)
        } else {
            dst.clone()
        };
        let mut entry = String::new();
        let local = match stage {
            Some(s) => {
                let label = s.name.clone().unwrap_or_else(|| s.index.to_string());
                entry.push_str(&format!(
                    "# From build stage {label:?} (line {}): put the stage's {src} here first, e.g. build it on the host or `docker cp` it out.\n",
                    i.start.line
                ));
                produce.push(format!("{label}:{src}"));
                name.clone()
            }
            None => src.trim_start_matches("./").to_string(),
        };
        entry.push_str("[[copy]]\n");
        entry.push_str(&format!(
            "src = {}\ndst = {}\n",
            quote(&local),
            quote(&target)
        ));
        if let Some(m) = &mode {
            entry.push_str(&format!("mode = {}\n", quote(m)));
        }
        if let (Some(u), Some(g)) = (uid, gid) {
            entry.push_str(&format!("uid = {u}\ngid = {g}\n"));
        }
        copies.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_multi_stage_go_service() {
        let text = b"FROM golang:1.22 AS build\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /my-service .\n\nFROM gcr.io/distroless/static-debian12\nCOPY --from=build /my-service /my-service\nUSER nonroot:nonroot\nENTRYPOINT [\"/my-service\"]\n";
        let r = from_dockerfile(text).unwrap();
        assert_eq!(r.base, "static");
        let t: toml::Table = toml::from_str(&r.toml).unwrap();
        assert_eq!(
            t["image"]["entrypoint"].as_array().unwrap()[0].as_str(),
            Some("/my-service")
        );
        assert_eq!(t["image"]["user"].as_str(), Some("nonroot:nonroot"));
        let copy = &t["copy"].as_array().unwrap()[0];
        assert_eq!(
            (copy["src"].as_str(), copy["dst"].as_str()),
            (Some("my-service"), Some("/my-service"))
        );
        assert_eq!(r.produce, vec!["build:/my-service"]);
        assert!(r.not_carried.is_empty(), "{:?}", r.not_carried);
    }

    #[test]
    fn what_cannot_carry_is_listed() {
        let text = b"FROM python:3.12-slim\nARG V=1\nENV APP_VERSION=$V PORT=8080\nRUN pip install flask\nCOPY --chown=1000:1000 app/ /srv/app/\nADD x.tar.gz /x\nEXPOSE 8080\nLABEL org.opencontainers.image.title=\"web app\"\nCMD python -m app\n";
        let r = from_dockerfile(text).unwrap();
        assert_eq!(r.base, "docker://python:3.12-slim");
        let t: toml::Table = toml::from_str(&r.toml).unwrap();
        assert_eq!(t["image"]["env"]["APP_VERSION"].as_str(), Some("1"));
        assert_eq!(t["image"]["cmd"].as_array().unwrap().len(), 3);
        assert_eq!(
            t["copy"].as_array().unwrap()[0]["uid"].as_integer(),
            Some(1000)
        );
        assert_eq!(r.not_carried.len(), 3, "{:?}", r.not_carried);
        assert!(r.not_carried[0].contains("RUN pip install flask"));
        assert_eq!(pare_base("gcr.io/distroless/cc-debian12:nonroot"), "cc");
        assert_eq!(pare_base("gcr.io/distroless/java21-debian12"), "java");
        assert_eq!(pare_base("scratch"), "scratch");
    }
}
