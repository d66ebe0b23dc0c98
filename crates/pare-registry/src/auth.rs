//! Registry credentials and auth challenges: `user:password` from the command line, the
//! `auths`/`credHelpers`/`credsStore` entries of `$REGISTRY_AUTH_FILE`, containers' `auth.json` and
//! docker's `config.json`, docker credential helpers, and parsing of `WWW-Authenticate` headers.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

use crate::{Error, Result};

/// A username and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

impl Credentials {
    /// Parses `USER:PASSWORD` (the password may contain ':').
    pub fn parse(text: &str) -> Result<Self> {
        match text.split_once(':') {
            Some((user, pass)) if !user.is_empty() => Ok(Self {
                username: user.to_string(),
                password: pass.to_string(),
            }),
            _ => Err(Error::Invalid("--creds must be USER:PASSWORD".into())),
        }
    }

    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// The auth files consulted, in order (the first that names the host wins).
pub fn auth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(p));
    }
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
        files.push(PathBuf::from(run).join("containers/auth.json"));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    if let Some(c) = config_home {
        files.push(c.join("containers/auth.json"));
    }
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => files.push(PathBuf::from(d).join("config.json")),
        None => {
            if let Some(h) = home {
                files.push(h.join(".docker/config.json"));
            }
        }
    }
    files
}

/// Keys a host may appear under in auth files.
fn host_keys(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ];
    if host == "docker.io" || host == "registry-1.docker.io" || host == "index.docker.io" {
        keys.push("https://index.docker.io/v1/".into());
    }
    keys
}

/// Finds stored credentials for `host` in the auth files and credential helpers.
pub fn lookup(host: &str) -> Result<Option<Credentials>> {
    for path in auth_files() {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let file: AuthFile = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Invalid(format!("{} is not a valid auth file: {e}", path.display()))
        })?;
        let keys = host_keys(host);
        if let Some(helper) = keys.iter().find_map(|k| file.cred_helpers.get(k)) {
            return helper_get(helper, host);
        }
        if let Some(entry) = keys.iter().find_map(|k| file.auths.get(k)) {
            if let Some(creds) = decode_entry(entry, &path)? {
                return Ok(Some(creds));
            }
        }
        if let Some(store) = &file.creds_store {
            if let Some(creds) = helper_get(store, host)? {
                return Ok(Some(creds));
            }
        }
    }
    Ok(None)
}

fn decode_entry(entry: &AuthEntry, path: &std::path::Path) -> Result<Option<Credentials>> {
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials {
            username: u.clone(),
            password: p.clone(),
        }));
    }
    let Some(auth) = &entry.auth else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| {
            Error::Invalid(format!(
                "{}: an \"auth\" value is not base64",
                path.display()
            ))
        })?;
    let text = String::from_utf8(raw).map_err(|_| {
        Error::Invalid(format!(
            "{}: an \"auth\" value is not UTF-8",
            path.display()
        ))
    })?;
    Credentials::parse(&text).map(Some).map_err(|_| {
        Error::Invalid(format!(
            "{}: an \"auth\" value is not base64 of USER:PASSWORD",
            path.display()
        ))
    })
}

/// Asks `docker-credential-<helper> get` for the host's credentials.
fn helper_get(helper: &str, host: &str) -> Result<Option<Credentials>> {
    if !helper
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(Error::Invalid(format!(
            "credential helper name {helper:?} is not a plain name"
        )));
    }
    let program = format!("docker-credential-{helper}");
    let mut child = match Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            return Err(Error::Auth(format!(
                "the credential helper {program} configured for {host} cannot run: {e}"
            )))
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // The helper reads the server URL on stdin; a helper that exits early is reported below.
        let _ = stdin.write_all(host.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Error::Auth(format!("{program} get: {e}")))?;
    if !output.status.success() {
        // Helpers exit non-zero for "no credentials for this server".
        return Ok(None);
    }
    #[derive(Deserialize)]
    struct HelperReply {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let reply: HelperReply = serde_json::from_slice(&output.stdout).map_err(|e| {
        Error::Auth(format!(
            "{program} get answered something that is not its JSON: {e}"
        ))
    })?;
    Ok(Some(Credentials {
        username: reply.username,
        password: reply.secret,
    }))
}

/// An auth challenge from a `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Basic realm="..."` or `Bearer realm="...",service="...",scope="..."`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(params);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// Parses `key="value",key2=value2` (quoted values may contain commas).
fn parse_params(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = remaining.trim_start_matches([',', ' ']);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        assert_eq!(
            parse_challenge("Basic realm=\"Registry Realm\""),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                "Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\""
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn credentials_parse_and_hide() {
        let c = Credentials::parse("bob:pa:ss").unwrap();
        assert_eq!(c.password, "pa:ss");
        assert!(!format!("{c:?}").contains("pa:ss"));
        assert_eq!(
            Credentials::parse("u:p").unwrap().basic_header(),
            "Basic dTpw"
        );
        assert!(Credentials::parse("nopass").is_err());
    }

    #[test]
    fn auth_file_entries_decode() {
        let dir = std::env::temp_dir().join(format!("pare-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("auth.json");
        let entry = AuthEntry {
            auth: Some(base64::engine::general_purpose::STANDARD.encode("alice:secret")),
            username: None,
            password: None,
        };
        let creds = decode_entry(&entry, &path).unwrap().unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.password.as_str()),
            ("alice", "secret")
        );
        let bad = AuthEntry {
            auth: Some("!!!".into()),
            username: None,
            password: None,
        };
        assert!(decode_entry(&bad, &path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
