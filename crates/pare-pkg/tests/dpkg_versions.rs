//! pare's version ordering against `dpkg --compare-versions` itself: on random version strings
//! (proptest) and on every version string of the host's configured Debian repositories (sorted by
//! pare, each adjacent pair checked by dpkg). Needs dpkg; the second test needs the host's apt
//! repositories, like `pare lock`.

use std::cmp::Ordering;
use std::io::Write;
use std::process::{Command, Stdio};

use pare_pkg::version::Version;
use proptest::prelude::*;

fn have_dpkg() -> bool {
    let found = Command::new("dpkg")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found || std::env::var("CI").is_err(),
        "CI machines have dpkg"
    );
    found
}

/// Checks many (a, b, expected ordering) triples with one shell running dpkg per pair; returns the
/// pairs dpkg disagrees on.
fn dpkg_disagreements(pairs: &[(String, String, Ordering)]) -> Vec<String> {
    let mut script = String::new();
    for (a, b, ord) in pairs {
        let op = match ord {
            Ordering::Less => "lt",
            Ordering::Equal => "eq",
            Ordering::Greater => "gt",
        };
        // Valid versions hold only [A-Za-z0-9.+~:-], so single quotes are safe.
        script.push_str(&format!(
            "dpkg --compare-versions '{a}' {op} '{b}' || echo '{a} {op} {b}'\n"
        ));
    }
    let mut child = Command::new("sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script written");
    let out = child.wait_with_output().expect("sh finishes");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn version_strategy() -> impl Strategy<Value = String> {
    let part = "[0-9A-Za-z.+~]{0,6}";
    (
        prop::option::of(0u32..3),
        "[0-9]{1,3}",
        part,
        prop::option::of("[0-9A-Za-z.+~]{1,5}"),
    )
        .prop_map(|(epoch, first, rest, revision)| {
            let mut v = String::new();
            if let Some(e) = epoch {
                v.push_str(&format!("{e}:"));
            }
            v.push_str(&first);
            v.push_str(&rest);
            if let Some(r) = revision {
                v.push('-');
                v.push_str(&r);
            }
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn random_versions_order_like_dpkg(batch in prop::collection::vec((version_strategy(), version_strategy()), 32)) {
        if !have_dpkg() {
            return Ok(());
        }
        let pairs: Vec<(String, String, Ordering)> = batch
            .into_iter()
            .map(|(a, b)| {
                let ord = Version::parse(&a).unwrap().cmp(&Version::parse(&b).unwrap());
                (a, b, ord)
            })
            .collect();
        let bad = dpkg_disagreements(&pairs);
        prop_assert!(bad.is_empty(), "dpkg disagrees: {:?}", bad);
    }
}

#[test]
fn every_version_of_the_host_repositories_orders_like_dpkg() {
    if !have_dpkg() {
        return;
    }
    let root = std::path::Path::new("/");
    let repositories = match pare_pkg::sources::host_repositories(root) {
        Ok(r) => r,
        Err(e) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI machines have apt sources: {e}"
            );
            return;
        }
    };
    let cache = std::env::var_os("PARE_TEST_DEBIAN_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("pare-test-debian-cache"))
        .join("debian");
    let index = pare_pkg::index::PackageIndex::load(
        &repositories,
        &pare_pkg::index::IndexOptions {
            architecture: "amd64".into(),
            root: root.into(),
            allow_insecure: false,
            cache: pare_pkg::cache::Cache::new(cache),
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        },
        &pare_pkg::fetch::Fetcher::new(),
    )
    .expect("the host's repositories load");
    let mut versions: Vec<Version> = index.packages.iter().map(|p| p.version.clone()).collect();
    versions.sort_by(|a, b| a.cmp(b).then_with(|| a.as_str().cmp(b.as_str())));
    versions.dedup_by(|a, b| a.as_str() == b.as_str());
    assert!(versions.len() > 10_000, "only {} versions", versions.len());
    let pairs: Vec<(String, String, Ordering)> = versions
        .windows(2)
        .map(|w| (w[0].to_string(), w[1].to_string(), w[0].cmp(&w[1])))
        .collect();
    // Two shells side by side: dpkg is one process per comparison.
    let (first, second) = pairs.split_at(pairs.len() / 2);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| dpkg_disagreements(first));
        let b = s.spawn(|| dpkg_disagreements(second));
        (a.join().expect("worker"), b.join().expect("worker"))
    });
    let bad: Vec<String> = a.into_iter().chain(b).collect();
    assert!(
        bad.is_empty(),
        "dpkg disagrees on {} of {} pairs: {:?}",
        bad.len(),
        pairs.len(),
        &bad[..bad.len().min(20)]
    );
    eprintln!(
        "{} distinct versions, {} adjacent pairs agree with dpkg",
        versions.len(),
        pairs.len()
    );
}
