//! Hostile inputs (issue 16): pare's view of an image must be the runtime's, and nothing it reads
//! may mislead a reader of its output. Each test here failed before its fix.

use std::fs;

use serde_json::Value;

use crate::support::{ok, pare, run, static_hello};

/// A build input named `.wh.NAME` would be a whiteout to every runtime (defect 5): refused, exit 2,
/// nothing written.
#[test]
fn build_inputs_named_like_whiteouts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, what) in [
        (".wh.etc", "\"etc\""),
        (".wh..wh..opq", "the directory's contents"),
    ] {
        let tree = dir.path().join(format!("tree-{}", name.len()));
        fs::create_dir_all(tree.join("app")).unwrap();
        fs::write(tree.join("app").join(name), "x").unwrap();
        let layout = dir.path().join(format!("out-{}", name.len()));
        let (code, _, stderr) = run(pare()
            .args(["build", "--copy"])
            .arg(format!("{}/:/", tree.display()))
            .args(["--output"])
            .arg(format!("oci:{}:x", layout.display())));
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(
            stderr.contains("whiteout") && stderr.contains(what),
            "{stderr}"
        );
        assert!(!layout.exists(), "nothing written for {name}");
    }
}

/// File names with terminal control sequences (defect 11) are shown escaped in human output and
/// kept exact in JSON.
#[test]
fn control_characters_in_names_are_escaped_in_human_output() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    let hostile = "evil\x1b]0;pwned\x07\x1b[2J.bin";
    fs::write(tree.join(hostile), vec![b'x'; 100_000]).unwrap();
    let layout = dir.path().join("out");
    let image = format!("oci:{}:x", layout.display());
    ok(pare()
        .args(["build", "-q", "--copy"])
        .arg(format!("{}:/hello:0755", static_hello().display()))
        .arg("--copy")
        .arg(format!("{}/:/data/", tree.display()))
        .args(["--entrypoint", "/hello", "--output", &image]));
    let (_, human, _) = run(pare().args(["audit", &image]));
    assert!(human.contains("/data/evil"), "{human}");
    assert!(
        !human.contains('\x1b') && !human.contains('\x07'),
        "raw escapes in: {human:?}"
    );
    assert!(
        human.contains("evil\\x1b]0;pwned\\x07\\x1b[2J.bin"),
        "{human}"
    );
    let (_, diff, _) = run(pare().args(["diff", &image, &image]));
    assert!(!diff.contains('\x1b'), "{diff:?}");
    let (_, json, _) = run(pare().args(["audit", "--format", "json", &image]));
    let report: Value = serde_json::from_str(&json).unwrap();
    let biggest = report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["largest_files"].as_array().unwrap().iter())
        .any(|f| f[0] == format!("/data/{hostile}"));
    assert!(biggest, "JSON keeps the exact name: {report}");
}
