//! Image config and manifest assembly: turns the layers of a build and its runtime settings into the
//! config and manifest blobs, with OCI media types and canonical JSON. Not where settings are decided.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{
    Arch, Config, Descriptor, Digest, History, HistoryBuilder, ImageConfiguration, ImageManifest,
    ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};

use crate::layer::WrittenLayer;
use crate::layout::Layout;
use crate::{canonical_json, Error, Result};

/// Platform of an image (`linux/amd64`, `linux/arm64/v8`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of the machine pare runs on, in OCI (Go) names (the architecture table's).
    pub fn host() -> Self {
        let (architecture, variant) = match pare_elf::arch::host() {
            Some(a) => (a.oci, a.variant.filter(|_| a.oci == "arm")),
            None => (std::env::consts::ARCH, None),
        };
        Self {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(str::to_string),
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(text: &str) -> Result<Self> {
        let parts: Vec<&str> = text.split('/').collect();
        let bad = || {
            Error::Invalid(format!(
                "platform {text:?} is not os/arch[/variant], for example linux/amd64 or linux/arm64/v8"
            ))
        };
        if parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(bad());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Self {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] => Ok(Self {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(bad()),
        }
    }
}

impl Platform {
    /// The platform as oci-spec's type, for descriptors and indexes.
    pub fn to_oci(&self) -> Result<oci_spec::image::Platform> {
        let mut p = oci_spec::image::PlatformBuilder::default()
            .os(Os::from(self.os.as_str()))
            .architecture(Arch::from(self.architecture.as_str()))
            .build()
            .map_err(invalid("platform"))?;
        p.set_variant(self.variant.clone());
        Ok(p)
    }

    /// The platform oci-spec's type describes.
    pub fn from_oci(p: &oci_spec::image::Platform) -> Self {
        Self {
            os: p.os().to_string(),
            architecture: p.architecture().to_string(),
            variant: p.variant().clone(),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One layer of the image with the history line that explains it.
pub struct ImageLayer {
    pub layer: WrittenLayer,
    pub created_by: String,
    pub comment: Option<String>,
}

/// What an image built on another image takes from it unchanged: its layers (the blobs as they are,
/// never recompressed) with their diff_ids, and its history, all below the build's own layers.
#[derive(Clone, Debug, Default)]
pub struct Inherited {
    /// Layer descriptors in OCI media types, with the config's diff_id of each.
    pub layers: Vec<(Descriptor, String)>,
    /// The base's history entries, empty-layer steps included.
    pub history: Vec<History>,
}

/// Everything but the layers that goes into an image's config and manifest.
pub struct ImageSpec {
    pub platform: Platform,
    /// RFC 3339 creation time (from SOURCE_DATE_EPOCH or the epoch).
    pub created: String,
    pub config: Config,
    /// Manifest annotations (`org.opencontainers.image.*` and the user's own).
    pub annotations: BTreeMap<String, String>,
    /// The base image's layers and history, when the build starts from one.
    pub inherited: Inherited,
}

/// The stored image: manifest descriptor and the config and manifest themselves.
pub struct StoredImage {
    pub manifest: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub config_digest: String,
    pub config_bytes: Vec<u8>,
}

/// Writes the config and manifest blobs of an image made of `layers` into `layout`.
pub fn store_image(
    layout: &Layout,
    spec: &ImageSpec,
    layers: &[ImageLayer],
) -> Result<StoredImage> {
    let own_history = layers.iter().map(|l| {
        let mut builder = HistoryBuilder::default()
            .created(spec.created.clone())
            .created_by(l.created_by.clone());
        if let Some(comment) = &l.comment {
            builder = builder.comment(comment.clone());
        }
        builder.build().map_err(invalid("history entry"))
    });
    let history: Vec<History> = spec
        .inherited
        .history
        .iter()
        .cloned()
        .map(Ok)
        .chain(own_history)
        .collect::<Result<_>>()?;
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(
            spec.inherited
                .layers
                .iter()
                .map(|(_, diff_id)| diff_id.clone())
                .chain(layers.iter().map(|l| l.layer.diff_id.clone()))
                .collect::<Vec<_>>(),
        )
        .build()
        .map_err(invalid("rootfs"))?;
    let mut config = ImageConfiguration::default();
    config.set_created(Some(spec.created.clone()));
    config.set_architecture(Arch::from(spec.platform.architecture.as_str()));
    config.set_os(Os::from(spec.platform.os.as_str()));
    config.set_variant(spec.platform.variant.clone());
    config.set_config(Some(spec.config.clone()));
    config.set_rootfs(rootfs);
    config.set_history(Some(history));
    let config_bytes = canonical_json::to_vec(&config, "image config")?;
    let config_digest = layout.write_blob(&config_bytes)?;

    let layer_descriptors = spec
        .inherited
        .layers
        .iter()
        .map(|(descriptor, _)| Ok(descriptor.clone()))
        .chain(layers.iter().map(|l| {
            Ok(Descriptor::new(
                MediaType::from(l.layer.media_type()),
                l.layer.size,
                parse_digest(&l.layer.digest)?,
            ))
        }))
        .collect::<Result<Vec<_>>>()?;
    let mut manifest_builder = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_bytes.len() as u64,
            parse_digest(&config_digest)?,
        ))
        .layers(layer_descriptors);
    if !spec.annotations.is_empty() {
        let map: HashMap<String, String> = spec.annotations.clone().into_iter().collect();
        manifest_builder = manifest_builder.annotations(map);
    }
    let manifest: ImageManifest = manifest_builder.build().map_err(invalid("manifest"))?;
    let manifest_bytes = canonical_json::to_vec(&manifest, "image manifest")?;
    let manifest_digest = layout.write_blob(&manifest_bytes)?;
    let mut descriptor = Descriptor::new(
        MediaType::ImageManifest,
        manifest_bytes.len() as u64,
        parse_digest(&manifest_digest)?,
    );
    descriptor.set_platform(Some(spec.platform.to_oci()?));
    Ok(StoredImage {
        manifest: descriptor,
        manifest_bytes,
        config_digest,
        config_bytes,
    })
}

/// Writes an OCI image index of `manifests` (image descriptors, each with the platform it is for, as
/// [`store_image`] returns them) into `layout` and returns the index's descriptor, ready to be tagged
/// with `Layout::set_tags`. Two images for one platform are refused: a runtime could not choose.
pub fn store_index(
    layout: &Layout,
    manifests: &[Descriptor],
    annotations: &BTreeMap<String, String>,
) -> Result<Descriptor> {
    let mut seen = Vec::new();
    for m in manifests {
        let platform = m
            .platform()
            .as_ref()
            .map(Platform::from_oci)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "image {} has no platform; an index entry needs one",
                    m.digest()
                ))
            })?;
        if seen.contains(&platform) {
            return Err(Error::Invalid(format!(
                "two images for {platform} in one index"
            )));
        }
        seen.push(platform);
    }
    let mut builder = oci_spec::image::ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests.to_vec());
    if !annotations.is_empty() {
        let map: HashMap<String, String> = annotations.clone().into_iter().collect();
        builder = builder.annotations(map);
    }
    let index = builder.build().map_err(invalid("image index"))?;
    let bytes = canonical_json::to_vec(&index, "image index")?;
    let digest = layout.write_blob(&bytes)?;
    Ok(Descriptor::new(
        MediaType::ImageIndex,
        bytes.len() as u64,
        parse_digest(&digest)?,
    ))
}

fn invalid(what: &'static str) -> impl Fn(oci_spec::OciSpecError) -> Error {
    move |e| Error::Invalid(format!("{what}: {e}"))
}

/// Parses a digest string that pare produced or validated.
pub fn parse_digest(digest: &str) -> Result<Digest> {
    Digest::try_from(digest).map_err(|e| Error::Invalid(format!("digest {digest:?}: {e}")))
}

/// Formats seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339(epoch_seconds: u64) -> String {
    let days = epoch_seconds / 86_400;
    let secs = epoch_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Seconds since the epoch of an RFC 3339 time (`2024-05-06T07:08:09.5+02:00`, `...Z`; a fraction
/// is dropped), as image configs write `created`; None for anything else or a time before 1970.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .filter(|&n| n > 0)?;
        rest = &fraction[end..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let r = rest.as_bytes();
            if r.len() != 6 || r[3] != b':' {
                return None;
            }
            let (h, m) = (digits_of(&rest[1..3])?, digits_of(&rest[4..6])?);
            sign * (h * 3600 + m * 60)
        }
    };
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(seconds).ok()
}

fn digits_of(text: &str) -> Option<i64> {
    text.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| text.parse().ok())?
}

/// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's days-from-civil algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Gregorian date from days since 1970-01-01 (Howard Hinnant's civil-from-days algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_back() {
        for epoch in [0, 1_700_000_000, 951_782_400, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(epoch)), Some(epoch));
        }
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T19:13:20-03:00"),
            Some(1_700_000_000)
        );
        for bad in [
            "",
            "2023-11-14",
            "2023-13-14T23:13:20Z",
            "2023-11-14T23:13:20",
            "2023-11-14T23:13:20.Z",
            "1969-12-31T23:59:59Z",
            "２０２３-11-14T23:13:20Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn an_index_of_two_images_is_stored_and_its_platforms_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create_or_open(dir.path()).unwrap();
        let image = |platform: &str| {
            let spec = ImageSpec {
                platform: Platform::parse(platform).unwrap(),
                created: rfc3339(0),
                config: Config::default(),
                annotations: BTreeMap::new(),
                inherited: Inherited::default(),
            };
            store_image(&layout, &spec, &[]).unwrap().manifest
        };
        let (amd, arm) = (image("linux/amd64"), image("linux/arm64/v8"));
        let index = store_index(&layout, &[amd.clone(), arm.clone()], &BTreeMap::new()).unwrap();
        layout.set_tags(&index, &["multi".into()]).unwrap();
        let top = layout.resolve(Some("multi")).unwrap();
        let pick = |p: &str| {
            let want = Platform::parse(p).unwrap();
            crate::manifest::resolve_platform(&layout, &top, Some(&want), "test").unwrap()
        };
        assert_eq!(pick("linux/arm64").digest(), arm.digest());
        assert_eq!(pick("linux/amd64").digest(), amd.digest());
        let docs = crate::manifest::read_image(&layout, &pick("linux/arm64/v8"), "test").unwrap();
        assert_eq!(docs.config.variant().as_deref(), Some("v8"));
        assert!(store_index(&layout, &[amd.clone(), amd], &BTreeMap::new()).is_err());
    }

    #[test]
    fn platform_parsing() {
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux/../x").is_err());
    }
}
