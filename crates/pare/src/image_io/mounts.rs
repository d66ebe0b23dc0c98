//! Remembers which repository of a registry holds a blob (after pare pushed or pulled it there), so a
//! later push to another repository of the same registry can mount the blob instead of uploading it.
//! A plain cache: one small file per (registry, blob); losing it only costs an upload.

use std::path::PathBuf;

use pare_oci::digest::sha256_hex;

use crate::cache_dir;

fn record_path(host: &str, digest: &str) -> Option<PathBuf> {
    let hex = sha256_hex(digest)?;
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(cache_dir()?.join("registry-blobs").join(host).join(hex))
}

/// Repositories of `host` known to hold `digest`.
pub fn known_repositories(host: &str, digest: &str) -> Vec<String> {
    record_path(host, digest)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|text| {
            text.lines()
                .map(str::to_string)
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Notes that `repo` on `host` holds `digest` (best effort: a cache that cannot be written is skipped).
pub fn remember(host: &str, digest: &str, repo: &str) {
    let Some(path) = record_path(host, digest) else {
        return;
    };
    let mut repos = known_repositories(host, digest);
    if repos.iter().any(|r| r == repo) {
        return;
    }
    repos.push(repo.to_string());
    // Keep the newest few.
    let start = repos.len().saturating_sub(8);
    let text = repos[start..].join("\n") + "\n";
    if let Some(dir) = path.parent() {
        if std::fs::create_dir_all(dir).is_ok() {
            let _ = pare_oci::layout::write_file_atomic(&path, text.as_bytes());
        }
    }
}
