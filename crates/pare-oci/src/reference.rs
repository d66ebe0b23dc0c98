//! Image references in skopeo's transport syntax (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
//! `docker-archive:FILE[:NAME[:TAG]]`, `docker://HOST/REPO[:TAG|@DIGEST]`, `docker-daemon:NAME[:TAG]`),
//! parsed and validated.
//! Not a resolver: nothing here touches the filesystem or the network.

use std::fmt;
use std::path::PathBuf;

use crate::{Error, Result};

/// Where an image is read from or written to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// An OCI image layout directory, optionally one tag in it.
    Layout { dir: PathBuf, tag: Option<String> },
    /// An OCI image layout packed as a tar file.
    OciArchive { file: PathBuf, tag: Option<String> },
    /// A `docker save` style tar file, optionally with the repository name and tag it carries.
    DockerArchive {
        file: PathBuf,
        name: Option<DockerName>,
    },
    /// A registry (OCI distribution API).
    Registry(DockerName),
    /// An image in the local Docker Engine, by name (`docker-daemon:app:1`).
    DockerDaemon(DockerName),
}

/// A Docker-style image name: `[host[:port]/]path[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerName {
    /// Registry host (with port), if the name has one.
    pub host: Option<String>,
    /// Repository path (`team/app`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl DockerName {
    /// Parses `[host[:port]/]path[:tag][@digest]`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::Reference {
            reference: text.to_string(),
            reason: reason.to_string(),
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                if crate::digest::sha256_hex(digest).is_none() {
                    return Err(bad(
                        "the digest after '@' must be sha256:<64 lowercase hex digits>",
                    ));
                }
                (rest, Some(digest.to_string()))
            }
            None => (text, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag.to_string())),
            _ => (rest, None),
        };
        if let Some(tag) = &tag {
            validate_tag(tag).map_err(|reason| bad(&reason))?;
        }
        let (host, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first.to_string()), path.to_string())
            }
            _ => (None, name.to_string()),
        };
        if repository.is_empty() {
            return Err(bad("the repository name is empty"));
        }
        for component in repository.split('/') {
            if !valid_path_component(component) {
                return Err(bad(&format!(
                    "repository component {component:?} must be lowercase letters and digits, \
                     separated by '.', '_', '__' or '-'"
                )));
            }
        }
        Ok(Self {
            host,
            repository,
            tag,
            digest,
        })
    }

    /// The name as Docker stores it, with the default registry and `library/` filled in
    /// (`app` -> `docker.io/library/app`).
    pub fn normalized_repository(&self) -> String {
        match &self.host {
            Some(host) => format!("{host}/{}", self.repository),
            None if self.repository.contains('/') => format!("docker.io/{}", self.repository),
            None => format!("docker.io/library/{}", self.repository),
        }
    }

    /// What to ask a registry for: the digest, else the tag, else `latest`.
    pub fn reference(&self) -> String {
        self.digest
            .clone()
            .or_else(|| self.tag.clone())
            .unwrap_or_else(|| "latest".into())
    }

    /// The name without a tag or digest, as written by the user.
    pub fn repository_with_host(&self) -> String {
        match &self.host {
            Some(host) => format!("{host}/{}", self.repository),
            None => self.repository.clone(),
        }
    }
}

impl fmt::Display for DockerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository_with_host())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut separator_run = String::new();
    for &b in bytes {
        if is_alnum(b) {
            if !matches!(separator_run.as_str(), "" | "." | "_" | "__")
                && !separator_run.bytes().all(|c| c == b'-')
            {
                return false;
            }
            separator_run.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            separator_run.push(char::from(b));
        } else {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Checks a tag: 1 to 128 characters of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`.
pub fn validate_tag(tag: &str) -> std::result::Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ))
    }
}

impl ImageRef {
    /// Parses a reference in transport syntax.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: String| Error::Reference {
            reference: text.to_string(),
            reason,
        };
        let (transport, rest) = text.split_once(':').ok_or_else(|| {
            bad(
                "expected TRANSPORT:..., for example oci:out:latest, oci-archive:app.tar, \
                 docker-archive:app.tar:app:latest or docker://registry/app:tag"
                    .into(),
            )
        })?;
        let path_and_tag = |rest: &str| -> Result<(PathBuf, Option<String>)> {
            let (path, tag) = match rest.split_once(':') {
                Some((path, tag)) => (path, Some(tag.to_string())),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(bad("the path is empty".into()));
            }
            if let Some(tag) = &tag {
                validate_tag(tag).map_err(bad)?;
            }
            Ok((PathBuf::from(path), tag))
        };
        match transport {
            "oci" => {
                let (dir, tag) = path_and_tag(rest)?;
                Ok(ImageRef::Layout { dir, tag })
            }
            "oci-archive" => {
                let (file, tag) = path_and_tag(rest)?;
                Ok(ImageRef::OciArchive { file, tag })
            }
            "docker-archive" => {
                let (file, name) = match rest.split_once(':') {
                    Some((file, name)) => (file, Some(DockerName::parse(name)?)),
                    None => (rest, None),
                };
                if file.is_empty() {
                    return Err(bad("the path is empty".into()));
                }
                if name.as_ref().is_some_and(|n| n.digest.is_some()) {
                    return Err(bad("a docker-archive name takes a tag, not a digest".into()));
                }
                Ok(ImageRef::DockerArchive {
                    file: PathBuf::from(file),
                    name,
                })
            }
            "docker" => {
                let name = rest
                    .strip_prefix("//")
                    .ok_or_else(|| bad("registry references are written docker://HOST/REPO:TAG".into()))?;
                Ok(ImageRef::Registry(DockerName::parse(name)?))
            }
            "docker-daemon" => Ok(ImageRef::DockerDaemon(DockerName::parse(rest)?)),
            // `127.0.0.1:5000/team/web:1.0`, `ghcr.io/org/app:1`: a registry reference without
            // its transport.
            _ if text.contains('/') && DockerName::parse(text).is_ok() => Err(bad(format!(
                "no transport given; did you mean docker://{text} ? (pare knows oci:, oci-archive:, docker-archive:, docker:// and docker-daemon:)"
            ))),
            other => Err(bad(format!(
                "unknown transport {other:?}; pare knows oci:, oci-archive:, docker-archive:, docker:// and docker-daemon:"
            ))),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_tag =
            |f: &mut fmt::Formatter<'_>, prefix: &str, path: &PathBuf, tag: &Option<String>| {
                write!(f, "{prefix}:{}", path.display())?;
                match tag {
                    Some(t) => write!(f, ":{t}"),
                    None => Ok(()),
                }
            };
        match self {
            ImageRef::Layout { dir, tag } => with_tag(f, "oci", dir, tag),
            ImageRef::OciArchive { file, tag } => with_tag(f, "oci-archive", file, tag),
            ImageRef::DockerArchive { file, name } => {
                write!(f, "docker-archive:{}", file.display())?;
                match name {
                    Some(n) => write!(f, ":{n}"),
                    None => Ok(()),
                }
            }
            ImageRef::Registry(name) => write!(f, "docker://{name}"),
            ImageRef::DockerDaemon(name) => write!(f, "docker-daemon:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_reference_without_a_transport_gets_a_suggestion() {
        let err = ImageRef::parse("127.0.0.1:5000/team/web:1.0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("did you mean docker://127.0.0.1:5000/team/web:1.0"),
            "{err}"
        );
        let err = ImageRef::parse("ghcr.io/org/app:1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("did you mean docker://ghcr.io/org/app:1"),
            "{err}"
        );
        let err = ImageRef::parse("ftp:x").unwrap_err().to_string();
        assert!(err.contains("unknown transport \"ftp\""), "{err}");
    }

    #[test]
    fn parses_every_transport() {
        assert_eq!(
            ImageRef::parse("oci:out:latest").unwrap(),
            ImageRef::Layout {
                dir: "out".into(),
                tag: Some("latest".into())
            }
        );
        assert_eq!(
            ImageRef::parse("oci-archive:/tmp/a.tar").unwrap(),
            ImageRef::OciArchive {
                file: "/tmp/a.tar".into(),
                tag: None
            }
        );
        let ImageRef::DockerArchive {
            name: Some(name), ..
        } = ImageRef::parse("docker-archive:app.tar:app:latest").unwrap()
        else {
            panic!("docker-archive with a name");
        };
        assert_eq!(name.normalized_repository(), "docker.io/library/app");
        assert_eq!(name.tag.as_deref(), Some("latest"));
        let ImageRef::Registry(name) =
            ImageRef::parse("docker://127.0.0.1:5000/team/app:1.4").unwrap()
        else {
            panic!("registry");
        };
        assert_eq!(name.host.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(name.repository, "team/app");
        assert_eq!(name.tag.as_deref(), Some("1.4"));
    }

    #[test]
    fn refuses_bad_references() {
        for bad in [
            "out",
            "oci:",
            "oci:out:",
            "oci:out:-x",
            "ftp:x",
            "docker-archive:a.tar:App:1",
            "docker://localhost:5000/app@sha256:12",
            "docker:registry/app",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn round_trips_through_display() {
        for text in [
            "oci:out:latest",
            "oci-archive:a.tar",
            "docker-archive:a.tar:team/app:v1",
            "docker://localhost:5000/a/b:c",
        ] {
            assert_eq!(ImageRef::parse(text).unwrap().to_string(), text);
        }
    }
}
