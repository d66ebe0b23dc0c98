//! Dependency resolution over a [`PackageIndex`]: from requested packages, follow `Pre-Depends` and
//! `Depends` (alternatives in order, version constraints, virtual and versioned `Provides`, `:any`
//! qualifiers, architecture `all`), choosing the highest version that fits, then check `Conflicts`
//! and `Breaks`. `Recommends` only on request. Essential and required packages are never added
//! implicitly, and dependencies that exist only for maintainer scripts (which pare never runs) are
//! dropped by a documented list the user can shorten. Greedy like apt's first pass, deterministic,
//! and explains every failure; it does not search alternatives to undo an earlier choice.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::index::PackageIndex;
use crate::relation::{parse_relations, Dependency};
use crate::version::Version;
use crate::{Error, Result};

/// Packages that other packages depend on only so their maintainer scripts can run (configuration
/// prompts, dpkg triggers, user creation, init scripts). pare runs no scripts, so a dependency on one
/// of these is dropped unless the user requests the package or removes it from the list.
pub const SCRIPT_ONLY: &[(&str, &str)] = &[
    (
        "dpkg",
        "package database and triggers; images are not managed with dpkg at runtime",
    ),
    ("debconf", "configuration prompts in maintainer scripts"),
    ("debconf-2.0", "virtual debconf, for maintainer scripts"),
    ("cdebconf", "configuration prompts in maintainer scripts"),
    (
        "install-info",
        "updates the info directory from maintainer scripts",
    ),
    (
        "init-system-helpers",
        "service registration in maintainer scripts",
    ),
    ("adduser", "creates system users in maintainer scripts"),
    ("passwd", "user tools used by maintainer scripts"),
    ("ucf", "configuration file merging in maintainer scripts"),
    ("lsb-base", "init-script helpers"),
    ("sysvinit-utils", "init-script helpers"),
    (
        "debianutils",
        "run-parts and add-shell for maintainer scripts",
    ),
    ("perl-base", "interpreter of maintainer scripts"),
    (
        "ca-certificates-java",
        "builds the Java trust store in a maintainer script; pare writes it itself",
    ),
    (
        "java-common",
        "update-java-alternatives for maintainer scripts",
    ),
];

/// Dependencies of one package on another that serve only its maintainer scripts.
pub const SCRIPT_ONLY_EDGES: &[(&str, &str, &str)] = &[
    (
        "ca-certificates",
        "openssl",
        "update-ca-certificates runs openssl rehash; pare builds the CA bundle itself",
    ),
    (
        "base-files",
        "awk",
        "base-files' maintainer scripts run awk",
    ),
    (
        "base-files",
        "mawk",
        "base-files' maintainer scripts run awk",
    ),
];

/// What to resolve.
#[derive(Clone, Debug, Default)]
pub struct ResolveOptions {
    /// Requested packages: `name`, `name=version` or `name (>= version)`.
    pub roots: Vec<String>,
    /// Names whose dependencies are dropped (default: [`SCRIPT_ONLY`]) unless requested.
    pub exclude: BTreeSet<String>,
    /// Follow `Recommends` too.
    pub recommends: bool,
    pub architecture: String,
}

impl ResolveOptions {
    /// The default exclusion list.
    pub fn default_exclusions() -> BTreeSet<String> {
        SCRIPT_ONLY.iter().map(|(n, _)| n.to_string()).collect()
    }
}

/// A dependency pare left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub package: String,
    pub dependency: String,
    pub reason: String,
}

/// The chosen packages.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    /// Package ids in the index, sorted by name.
    pub packages: Vec<usize>,
    /// Package name to why it is in (`requested` or `Depends of python3.11`).
    pub why: BTreeMap<String, String>,
    pub dropped: Vec<Dropped>,
}

struct State<'a> {
    index: &'a PackageIndex,
    options: &'a ResolveOptions,
    selected: BTreeMap<String, usize>,
    provided: HashMap<String, Vec<(usize, Option<Version>)>>,
    why: BTreeMap<String, String>,
    queue: VecDeque<usize>,
}

/// Resolves `options.roots` and everything they need.
pub fn resolve(index: &PackageIndex, options: &ResolveOptions) -> Result<Resolved> {
    let mut state = State {
        index,
        options,
        selected: BTreeMap::new(),
        provided: HashMap::new(),
        why: BTreeMap::new(),
        queue: VecDeque::new(),
    };
    let requested: BTreeSet<String> = options
        .roots
        .iter()
        .map(|r| parse_root(r).map(|d| d.name))
        .collect::<Result<_>>()?;
    for root in &options.roots {
        let dependency = parse_root(root)?;
        if state.satisfied(&dependency) {
            continue;
        }
        let id = state.choose(&dependency).map_err(|why| {
            Error::Resolve(format!(
                "cannot install the requested package {root}: {why}"
            ))
        })?;
        state.select(id, "requested".into());
    }
    let mut dropped = Vec::new();
    while let Some(id) = state.queue.pop_front() {
        let package = index.get(id);
        let mut fields = vec![
            ("Pre-Depends", &package.pre_depends),
            ("Depends", &package.depends),
        ];
        if options.recommends {
            fields.push(("Recommends", &package.recommends));
        }
        for (field, value) in fields {
            let groups = parse_relations(value, &format!("{} {field}", package.id()))?;
            for group in groups {
                if group.iter().any(|d| state.satisfied(d)) {
                    continue;
                }
                let excluded = |d: &Dependency| {
                    !requested.contains(&d.name)
                        && (options.exclude.contains(&d.name)
                            || SCRIPT_ONLY_EDGES
                                .iter()
                                .any(|(from, to, _)| *from == package.name && *to == d.name))
                };
                let live: Vec<&Dependency> = group.iter().filter(|d| !excluded(d)).collect();
                if live.is_empty() {
                    dropped.push(Dropped {
                        package: package.name.clone(),
                        dependency: describe_group(&group),
                        reason: drop_reason(&package.name, &group),
                    });
                    continue;
                }
                let mut failures = Vec::new();
                let mut chosen = None;
                for dependency in live {
                    match state.choose(dependency) {
                        Ok(choice) => {
                            chosen = Some(choice);
                            break;
                        }
                        Err(why) => failures.push(why),
                    }
                }
                match chosen {
                    Some(choice) => state.select(choice, format!("{field} of {}", package.name)),
                    None if field == "Recommends" => {}
                    None => {
                        return Err(Error::Resolve(format!(
                            "cannot satisfy {} ({field} of {} {}, needed because {}): {}",
                            describe_group(&group),
                            package.name,
                            package.version,
                            state.chain(&package.name),
                            failures.join("; ")
                        )))
                    }
                }
            }
        }
    }
    state.check_conflicts()?;
    let mut packages: Vec<usize> = state.selected.values().copied().collect();
    packages.sort_by(|a, b| index.get(*a).name.cmp(&index.get(*b).name));
    Ok(Resolved {
        packages,
        why: state.why,
        dropped,
    })
}

fn parse_root(root: &str) -> Result<Dependency> {
    let text = match root.split_once('=') {
        Some((name, version)) if !root.contains('(') => format!("{name} (= {version})"),
        _ => root.to_string(),
    };
    let mut groups = parse_relations(&text, "a requested package")?;
    match (groups.len(), groups.first().map(Vec::len)) {
        (1, Some(1)) => Ok(groups.remove(0).remove(0)),
        _ => Err(Error::Resolve(format!(
            "{root:?} is not one package; write name, name=version or 'name (>= version)'"
        ))),
    }
}

fn describe_group(group: &[Dependency]) -> String {
    group
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn drop_reason(package: &str, group: &[Dependency]) -> String {
    group
        .iter()
        .map(|d| {
            SCRIPT_ONLY_EDGES
                .iter()
                .find(|(from, to, _)| *from == package && *to == d.name)
                .map(|(_, _, why)| why.to_string())
                .or_else(|| {
                    SCRIPT_ONLY
                        .iter()
                        .find(|(n, _)| *n == d.name)
                        .map(|(_, w)| w.to_string())
                })
                .unwrap_or_else(|| "excluded in pare.toml".into())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn priority_rank(priority: &str) -> u8 {
    match priority {
        "required" => 0,
        "important" => 1,
        "standard" => 2,
        "optional" => 3,
        _ => 4,
    }
}

impl State<'_> {
    fn arch_ok(&self, dependency: &Dependency) -> bool {
        match dependency.arch.as_deref() {
            None | Some("any" | "native") => true,
            Some(arch) => arch == self.options.architecture,
        }
    }

    fn satisfied(&self, dependency: &Dependency) -> bool {
        if !self.arch_ok(dependency) {
            return false;
        }
        if let Some(&id) = self.selected.get(&dependency.name) {
            let version = &self.index.get(id).version;
            if dependency
                .constraint
                .as_ref()
                .is_none_or(|(op, v)| op.holds(version, v))
            {
                return true;
            }
        }
        self.provided
            .get(&dependency.name)
            .is_some_and(|providers| {
                providers
                    .iter()
                    .any(|(_, provided)| provides_match(dependency, provided.as_ref()))
            })
    }

    fn choose(&self, dependency: &Dependency) -> std::result::Result<usize, String> {
        if !self.arch_ok(dependency) {
            return Err(format!(
                "{dependency}: pare installs one architecture ({})",
                self.options.architecture
            ));
        }
        let mut real: Vec<usize> = self.index.by_name(&dependency.name).to_vec();
        real.sort_by(|a, b| self.index.get(*b).version.cmp(&self.index.get(*a).version));
        if let Some(&chosen) = self.selected.get(&dependency.name) {
            return Err(format!(
                "{dependency} is wanted but {} {} is already chosen ({})",
                dependency.name,
                self.index.get(chosen).version,
                self.why.get(&dependency.name).map_or("", String::as_str)
            ));
        }
        if let Some(&id) = real.iter().find(|&&id| {
            dependency
                .constraint
                .as_ref()
                .is_none_or(|(op, v)| op.holds(&self.index.get(id).version, v))
        }) {
            return Ok(id);
        }
        let mut providers: Vec<(usize, &Option<Version>)> = self
            .index
            .providers(&dependency.name)
            .iter()
            .filter(|(id, provided)| {
                provides_match(dependency, provided.as_ref())
                    && !self.options.exclude.contains(&self.index.get(*id).name)
                    && !self.selected.contains_key(&self.index.get(*id).name)
            })
            .map(|(id, v)| (*id, v))
            .collect();
        providers.sort_by(|(a, _), (b, _)| {
            let (a, b) = (self.index.get(*a), self.index.get(*b));
            priority_rank(&a.priority)
                .cmp(&priority_rank(&b.priority))
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| b.version.cmp(&a.version))
        });
        if let Some((id, _)) = providers.first() {
            return Ok(*id);
        }
        if real.is_empty() {
            Err(format!(
                "no package {} in the repositories (and none provides it)",
                dependency.name
            ))
        } else {
            let versions: Vec<String> = real
                .iter()
                .map(|id| self.index.get(*id).version.to_string())
                .collect();
            Err(format!(
                "{dependency} wanted, only {} {} available",
                dependency.name,
                versions.join(", ")
            ))
        }
    }

    fn select(&mut self, id: usize, why: String) {
        let package = self.index.get(id);
        self.selected.insert(package.name.clone(), id);
        self.why.insert(package.name.clone(), why);
        if let Ok(groups) = parse_relations(&package.provides, &package.name) {
            for p in groups.into_iter().flatten() {
                self.provided
                    .entry(p.name)
                    .or_default()
                    .push((id, p.constraint.map(|(_, v)| v)));
            }
        }
        self.queue.push_back(id);
    }

    /// `a <- Depends of b <- requested`.
    fn chain(&self, name: &str) -> String {
        let mut out = vec![name.to_string()];
        let mut current = name.to_string();
        for _ in 0..32 {
            match self.why.get(&current) {
                Some(why) if why != "requested" => {
                    let parent = why.rsplit(' ').next().unwrap_or("").to_string();
                    out.push(parent.clone());
                    current = parent;
                }
                _ => break,
            }
        }
        out.reverse();
        format!("{} was requested", out.join(" -> "))
    }

    fn check_conflicts(&self) -> Result<()> {
        for (name, &id) in &self.selected {
            let package = self.index.get(id);
            for (field, value) in [
                ("Conflicts", &package.conflicts),
                ("Breaks", &package.breaks),
            ] {
                for dependency in parse_relations(value, &format!("{} {field}", package.id()))?
                    .into_iter()
                    .flatten()
                {
                    if let Some(&other) = self.selected.get(&dependency.name) {
                        let version = &self.index.get(other).version;
                        if other != id
                            && dependency
                                .constraint
                                .as_ref()
                                .is_none_or(|(op, v)| op.holds(version, v))
                        {
                            return Err(Error::Resolve(format!(
                                "{name} {} {field} with {dependency}, but {} {version} is needed too ({}); \
                                 remove one of them from the request",
                                package.version,
                                dependency.name,
                                self.chain(&dependency.name)
                            )));
                        }
                    }
                    if dependency.constraint.is_none() {
                        if let Some(providers) = self.provided.get(&dependency.name) {
                            if let Some((other, _)) = providers.iter().find(|(p, _)| *p != id) {
                                return Err(Error::Resolve(format!(
                                    "{name} {field} with {}, which {} provides",
                                    dependency.name,
                                    self.index.get(*other).name
                                )));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether a provided name (with its provided version, if any) satisfies a dependency: an
/// unversioned Provides never satisfies a versioned dependency.
fn provides_match(dependency: &Dependency, provided: Option<&Version>) -> bool {
    match (&dependency.constraint, provided) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((op, wanted)), Some(v)) => op.holds(v, wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::parse_packages;

    fn index(text: &str) -> PackageIndex {
        let mut index = PackageIndex::default();
        for p in parse_packages(text, 0, "amd64", "test").unwrap() {
            index.add(p);
        }
        index
    }

    fn stanza(name: &str, version: &str, extra: &str) -> String {
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: amd64\n{extra}Filename: pool/{name}_{version}.deb\nSize: 1\n\
             SHA256: 0000000000000000000000000000000000000000000000000000000000000000\n\n"
        )
    }

    fn names(index: &PackageIndex, resolved: &Resolved) -> Vec<String> {
        resolved
            .packages
            .iter()
            .map(|id| format!("{}={}", index.get(*id).name, index.get(*id).version))
            .collect()
    }

    fn options(roots: &[&str]) -> ResolveOptions {
        ResolveOptions {
            roots: roots.iter().map(|s| s.to_string()).collect(),
            exclude: ResolveOptions::default_exclusions(),
            recommends: false,
            architecture: "amd64".into(),
        }
    }

    #[test]
    fn follows_alternatives_versions_and_provides() {
        let text = [
            stanza("app", "1", "Pre-Depends: libc (>= 2)\nDepends: missing | alt, virt, vers (>= 3), dpkg (>= 1.0)\nRecommends: rec\n"),
            stanza("libc", "1", ""),
            stanza("libc", "2.1", "Depends: libgcc\n"),
            stanza("libgcc", "1", "Depends: libc\n"),
            stanza("alt", "1", ""),
            stanza("impl", "1", "Provides: virt, vers (= 3)\n"),
            stanza("rec", "1", ""),
            stanza("dpkg", "1.21", ""),
        ]
        .concat();
        let index = index(&text);
        let resolved = resolve(&index, &options(&["app"])).unwrap();
        assert_eq!(
            names(&index, &resolved),
            ["alt=1", "app=1", "impl=1", "libc=2.1", "libgcc=1"]
        );
        assert_eq!(resolved.why["libgcc"], "Depends of libc");
        assert_eq!(resolved.dropped.len(), 1);
        assert_eq!(resolved.dropped[0].dependency, "dpkg (>= 1.0)");
        let mut with_recommends = options(&["app"]);
        with_recommends.recommends = true;
        assert!(names(&index, &resolve(&index, &with_recommends).unwrap())
            .contains(&"rec=1".to_string()));
        // Requested explicitly, an excluded package is installed.
        assert!(names(
            &index,
            &resolve(&index, &options(&["app", "dpkg"])).unwrap()
        )
        .contains(&"dpkg=1.21".into()));
    }

    #[test]
    fn explains_unmet_dependencies() {
        let text = [
            stanza("bar", "1", "Depends: libfoo (>= 2)\n"),
            stanza("libfoo", "1.5", ""),
        ]
        .concat();
        let index = index(&text);
        let err = resolve(&index, &options(&["bar"])).unwrap_err().to_string();
        assert!(
            err.contains("libfoo (>= 2) wanted, only libfoo 1.5 available"),
            "{err}"
        );
        assert!(err.contains("Depends of bar"), "{err}");
        let err = resolve(&index, &options(&["nothere"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no package nothere"), "{err}");
        // Unversioned Provides does not satisfy a versioned dependency.
        let text = [
            stanza("a", "1", "Depends: v (>= 1)\n"),
            stanza("p", "1", "Provides: v\n"),
        ]
        .concat();
        assert!(resolve(&index_of(&text), &options(&["a"])).is_err());
    }

    fn index_of(text: &str) -> PackageIndex {
        index(text)
    }

    #[test]
    fn cycles_terminate_and_conflicts_fail() {
        let text = [
            stanza("a", "1", "Depends: b\n"),
            stanza("b", "1", "Pre-Depends: a\n"),
            stanza("c", "1", "Conflicts: a\n"),
        ]
        .concat();
        let index = index(&text);
        assert_eq!(
            names(&index, &resolve(&index, &options(&["a"])).unwrap()),
            ["a=1", "b=1"]
        );
        let err = resolve(&index, &options(&["a", "c"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("Conflicts"), "{err}");
    }

    #[test]
    fn exact_versions_can_be_requested() {
        let text = [stanza("x", "1", ""), stanza("x", "2", "")].concat();
        let index = index(&text);
        assert_eq!(
            names(&index, &resolve(&index, &options(&["x=1"])).unwrap()),
            ["x=1"]
        );
        assert_eq!(
            names(&index, &resolve(&index, &options(&["x"])).unwrap()),
            ["x=2"]
        );
    }
}
