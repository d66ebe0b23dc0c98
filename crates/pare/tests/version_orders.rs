#![allow(clippy::print_stderr)] // a test may say why it skips
//! pare's version orders for vulnerability matching against the ecosystems' own reference
//! implementations: every pair of a list of PEP 440 versions against Python's `packaging`, of apk
//! versions against `univers` (AlpineLinuxVersion, which follows apk-tools), of semver versions
//! against `univers`' SemverVersion. The oracles live in the peers' venv (scripts/peers.sh); under
//! CI=true a missing venv fails.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::process::Command;

use pare::scan::versions::Order;

fn peers_python() -> Option<PathBuf> {
    let venv = std::env::var_os("PARE_PEERS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/pare-peers"));
    let python = venv.join("bin/python3");
    if python.is_file() {
        return Some(python);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI machines have the peers' venv with packaging and univers (scripts/peers.sh)"
    );
    eprintln!("SKIP: no peers' venv at {}", venv.display());
    None
}

/// The oracle's ordering of every pair, as a matrix of -1/0/1, from one Python run.
fn oracle(python: &PathBuf, class: &str, versions: &[&str]) -> Vec<Vec<i32>> {
    let script = format!(
        "import json, sys\n{class}\nvs = [V(v) for v in json.load(sys.stdin)]\n\
         print(json.dumps([[(a > b) - (a < b) for b in vs] for a in vs]))\n"
    );
    let mut child = Command::new(python)
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(versions).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check(order: Order, class: &str, versions: &[&str]) {
    let Some(python) = peers_python() else {
        return;
    };
    let expected = oracle(&python, class, versions);
    let mut disagreements = Vec::new();
    for (i, a) in versions.iter().enumerate() {
        for (j, b) in versions.iter().enumerate() {
            let ours = match order.compare(a, b) {
                Some(Ordering::Less) => -1,
                Some(Ordering::Equal) => 0,
                Some(Ordering::Greater) => 1,
                None => panic!("pare cannot read {a:?} or {b:?}"),
            };
            if ours != expected[i][j] {
                disagreements.push(format!(
                    "{a} vs {b}: pare {ours}, oracle {}",
                    expected[i][j]
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

#[test]
fn pep440_agrees_with_packaging() {
    check(
        Order::Pep440,
        "from packaging.version import Version as V",
        &[
            "0.9",
            "1.0.dev1",
            "1.0a1",
            "1.0a2.dev3",
            "1.0b1",
            "1.0rc1",
            "1.0c2",
            "1.0",
            "1.0.0",
            "1.0.post1",
            "1.0.post1.dev1",
            "1.0.1",
            "1!0.5",
            "1.0+local.1",
            "1.0+local.2",
            "2.2.6",
            "2.10",
            "10.0",
            "1.0.0.0.1",
            "2024.1",
            "v1.3",
            "1.3.0rc2",
            "0.0.1",
        ],
    );
}

#[test]
fn apk_agrees_with_univers() {
    check(
        Order::Apk,
        "from univers.versions import AlpineLinuxVersion as V",
        &[
            "1.2.3",
            "1.2.3-r0",
            "1.2.3-r1",
            "1.2.3-r10",
            "1.2.3_rc1",
            "1.2.3_alpha",
            "1.2.3_beta2",
            "1.2.3_pre1",
            "1.2.3_p1",
            "1.2.3_p1-r2",
            "1.2.3a",
            "1.2.3b-r1",
            "1.2.4",
            "1.2.10",
            "1.10",
            "1.1",
            "2.0",
            "3.0.12-r4",
            "3.0.13-r0",
            "1.36.1-r5",
            "20230506-r0",
        ],
    );
}

#[test]
fn semver_agrees_with_univers() {
    check(
        Order::Semver,
        "from univers.versions import SemverVersion as V",
        &[
            "0.1.0",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.2.3",
            "1.10.0",
            "2.0.0",
            "28.0.4",
            "28.0.5",
            "0.0.0-20210101000000-abcdef123456",
        ],
    );
}

#[test]
fn maven_agrees_with_univers() {
    check(
        Order::Maven,
        "from univers.versions import MavenVersion as V",
        &[
            "1",
            "1.0",
            "1.0.0",
            "1-alpha",
            "1-a1",
            "1-beta-2",
            "1-rc",
            "1-cr",
            "1-SNAPSHOT",
            "1-ga",
            "1-final",
            "1-sp",
            "1-sp1",
            "1.1",
            "1-foo",
            "1-1",
            "1.0.1",
            "2.0.0-M1",
            "2.0.0-milestone-2",
            "1.0-alpha-1-SNAPSHOT",
            "1.2.3.Final",
            "3.12.0",
            "1-0.1",
            "2.13.4.2",
            "2.13.4",
            "1.0.0-RC1",
            "1.0.0.RC2",
            "9.4.51.v20230217",
            "10.0",
        ],
    );
}
