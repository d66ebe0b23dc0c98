//! Whether the image's user can read its application: every file below the entrypoint's own
//! directory and the working directory (system directories such as `/usr/bin` aside) must be
//! readable, and every directory there enterable, by the uid and primary gid the image runs as, the
//! way the kernel checks permission bits (owner, then group, then others; root reads everything).
//! A 0600 root-owned config in `/app` is what this finds: the program starts and then fails to open
//! it. Not here: whether the program itself can be executed (`crate::loader`).

use crate::contents::{FileState, ImageContents};
use crate::findings::{self, Finding, Location};
use pare_oci::read::FileKind;

/// Directories that hold programs of the system, not an application's own files.
const SYSTEM_DIRS: &[&str] = &[
    "",
    "bin",
    "sbin",
    "usr",
    "usr/bin",
    "usr/sbin",
    "usr/local",
    "usr/local/bin",
    "usr/local/sbin",
    "usr/lib",
    "usr/libexec",
    "lib",
    "lib64",
    "etc",
    "tmp",
    "var",
    "opt",
];

/// At most this many files are named; the rest are counted in the last finding.
const MAX_NAMED: usize = 20;

/// `PARE-UNREADABLE` findings for the application trees of an image running as `uid:gid`.
pub fn unreadable_findings(
    contents: &ImageContents,
    program_path: Option<&str>,
    user: Option<(u32, Option<u32>)>,
) -> Vec<Finding> {
    let Some((uid, gid)) = user else {
        return Vec::new();
    };
    if uid == 0 {
        return Vec::new();
    }
    let mut roots: Vec<String> = Vec::new();
    if let Some(dir) = program_path
        .map(|p| p.trim_start_matches('/'))
        .and_then(|p| p.rsplit_once('/').map(|(d, _)| d.to_string()))
    {
        roots.push(dir);
    }
    if let Some(dir) = contents.config["config"]["WorkingDir"].as_str() {
        roots.push(dir.trim_matches('/').to_string());
    }
    roots.retain(|r| !SYSTEM_DIRS.contains(&r.as_str()));
    roots.sort();
    roots.dedup();
    // A root inside another is covered by it.
    let covered: Vec<String> = roots
        .iter()
        .filter(|r| {
            !roots
                .iter()
                .any(|o| o != *r && r.starts_with(&format!("{o}/")))
        })
        .cloned()
        .collect();
    let mut blocked: Vec<String> = Vec::new();
    let mut found: Vec<(&FileState, &'static str)> = Vec::new();
    for root in &covered {
        let prefix = format!("{root}/");
        let below = contents
            .files
            .range(root.clone()..)
            .take_while(|(k, _)| *k == root || k.starts_with(&prefix));
        for (path, state) in below {
            if blocked.iter().any(|b| path.starts_with(&format!("{b}/"))) {
                continue;
            }
            let allowed = permission(state, uid, gid);
            match state.info.kind {
                FileKind::Dir if allowed & 0o5 != 0o5 => {
                    blocked.push(path.clone());
                    found.push((state, "a directory it cannot enter and list"));
                }
                FileKind::File if allowed & 0o4 == 0 => {
                    found.push((state, "a file it cannot read"));
                }
                _ => {}
            }
        }
    }
    let total = found.len();
    let mut out: Vec<Finding> = found
        .into_iter()
        .take(MAX_NAMED)
        .map(|(state, what)| {
            let info = &state.info;
            Finding::new(
                &findings::UNREADABLE,
                Location::image_path(&info.path, Some(state.layer)),
                format!(
                    "/{} is {what} for the image's user {uid}:{} (mode {:04o}, owner {}:{})",
                    info.path,
                    gid.map_or_else(|| "?".to_string(), |g| g.to_string()),
                    info.mode & 0o7777,
                    info.uid,
                    info.gid
                ),
            )
        })
        .collect();
    if total > MAX_NAMED {
        if let Some(last) = out.last_mut() {
            last.reason
                .push_str(&format!(" ({} more like it not named)", total - MAX_NAMED));
        }
    }
    out
}

/// The rwx bits that apply to `uid:gid` for this file (owner, else group, else others).
fn permission(state: &FileState, uid: u32, gid: Option<u32>) -> u32 {
    let info = &state.info;
    let mode = info.mode;
    if info.uid == u64::from(uid) {
        (mode >> 6) & 0o7
    } else if gid.is_some_and(|g| info.gid == u64::from(g)) {
        (mode >> 3) & 0o7
    } else {
        mode & 0o7
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pare_oci::read::FileInfo;
    use std::collections::BTreeMap;

    fn state(path: &str, kind: FileKind, mode: u32, uid: u64) -> (String, FileState) {
        (
            path.to_string(),
            FileState {
                info: FileInfo {
                    path: path.into(),
                    kind,
                    size: 1,
                    mode,
                    uid,
                    gid: uid,
                    link: None,
                    content: None,
                    sample: Vec::new(),
                },
                layer: 0,
            },
        )
    }

    fn image(files: Vec<(String, FileState)>, workdir: &str) -> ImageContents {
        ImageContents {
            reference: "test".into(),
            manifest_digest: String::new(),
            config: serde_json::json!({"config": {"WorkingDir": workdir}}),
            layers: Vec::new(),
            files: files.into_iter().collect::<BTreeMap<_, _>>(),
            compressed_size: 0,
            uncompressed_size: 0,
        }
    }

    #[test]
    fn a_root_only_config_in_the_app_is_found_and_its_owner_may_read_it() {
        let contents = image(
            vec![
                state("app", FileKind::Dir, 0o755, 0),
                state("app/server", FileKind::File, 0o755, 0),
                state("app/config.toml", FileKind::File, 0o600, 0),
                state("app/mine.toml", FileKind::File, 0o600, 65532),
                state("app/private", FileKind::Dir, 0o700, 0),
                state("app/private/a", FileKind::File, 0o644, 0),
                state("usr/bin/secret", FileKind::File, 0o700, 0),
            ],
            "/",
        );
        let found = unreadable_findings(&contents, Some("/app/server"), Some((65532, Some(65532))));
        let paths: Vec<String> = found.iter().map(|f| f.reason.clone()).collect();
        assert_eq!(found.len(), 2, "{paths:?}");
        assert!(paths[0].starts_with("/app/config.toml is a file it cannot read"));
        assert!(
            paths[1].starts_with("/app/private is a directory"),
            "{paths:?}"
        );
        assert!(unreadable_findings(&contents, Some("/app/server"), Some((0, Some(0)))).is_empty());
        // The working directory counts as the application's too; system directories never.
        let by_workdir = image(vec![state("srv/key.pem", FileKind::File, 0o640, 0)], "/srv");
        assert_eq!(
            unreadable_findings(&by_workdir, Some("/usr/bin/python3"), Some((1000, None))).len(),
            1
        );
    }
}
