//! Referrers on the move: the SBOMs, signatures and attestations (OCI 1.1 manifests whose `subject`
//! is an image) travel with their image. They are found in a layout as untagged entries
//! (`pare_oci::referrer`), or at a registry through the referrers API, else the distribution spec's
//! fallback tag `sha256-<hex>`. They are written to a layout as untagged entries, and to a registry
//! by digest, maintaining the fallback tag where the registry answers without `OCI-Subject` and
//! has no referrers API. Referrers of referrers (a signature of an SBOM) go too, to a bounded
//! depth. Not here: what the artifacts say (`crate::sbom`), or the registry protocol
//! (`pare-registry`).

use std::collections::HashSet;

use pare_oci::layout::Layout;
use pare_oci::reference::ImageRef;
use pare_oci::referrer::{self, Referrer};
use pare_registry::Client;
use serde::Serialize;

use super::registry::{blobs_of, download_blobs, upload_blobs};
use super::store::{store_of, Store};
use super::Access;
use crate::{Error, Reporter, Result};

/// How deep referrers of referrers are followed (image → signature of an SBOM is depth 2).
const MAX_DEPTH: usize = 4;
/// The most referrers pare carries for one image, over all depths: a bound against a registry or a
/// layout that lists without end.
const MAX_REFERRERS: usize = 1024;

/// Where a list of referrers was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListedVia {
    /// Untagged entries of an OCI layout.
    Layout,
    /// The registry's referrers API.
    ReferrersApi,
    /// The fallback tag `sha256-<hex>` (a registry without the API).
    FallbackTag,
}

/// The referrers of `subject` in `layout` and theirs, parents before their own referrers.
pub fn in_layout(layout: &Layout, subject: &str) -> Result<Vec<Referrer>> {
    walk(subject, |digest| {
        Ok(pare_oci::referrer::in_layout(layout, digest)?)
    })
}

/// Breadth-first over referrers: `list` gives the direct referrers of a digest.
fn walk(
    subject: &str,
    mut list: impl FnMut(&str) -> Result<Vec<Referrer>>,
) -> Result<Vec<Referrer>> {
    let mut found: Vec<Referrer> = Vec::new();
    let mut seen: HashSet<String> = HashSet::from([subject.to_string()]);
    let mut level = vec![subject.to_string()];
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for digest in &level {
            for r in list(digest)? {
                let d = r.descriptor.digest().to_string();
                if !seen.insert(d.clone()) {
                    continue;
                }
                if found.len() == MAX_REFERRERS {
                    return Err(Error::Input(format!(
                        "{subject} has more than {MAX_REFERRERS} referrers; pare carries no more"
                    )));
                }
                next.push(d);
                found.push(r);
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    Ok(found)
}

/// The direct referrers a registry lists for `digest` in `repo`, and how they were listed (None
/// when there is neither the API nor a fallback tag).
pub fn list_remote(
    client: &Client,
    repo: &str,
    digest: &str,
) -> Result<(Vec<Referrer>, Option<ListedVia>)> {
    let what = format!("referrers of {}/{repo}@{digest}", client.host());
    let (bytes, via) = match client.referrers(repo, digest)? {
        Some(bytes) => (bytes, ListedVia::ReferrersApi),
        None => match client.find_manifest(repo, &referrer::fallback_tag(digest)?)? {
            Some(found) => (found.bytes, ListedVia::FallbackTag),
            None => return Ok((Vec::new(), None)),
        },
    };
    let listed = referrer::parse_list(&bytes, &what)?
        .into_iter()
        .map(|descriptor| Referrer {
            descriptor,
            subject: digest.to_string(),
        })
        .collect();
    Ok((listed, Some(via)))
}

/// Copies the referrers of `subject` (and theirs) from `repo` into `layout`: each manifest fetched
/// by digest and checked to name the subject it was listed for, its blobs downloaded where the
/// layout lacks them. A listed manifest that names another subject is passed over with a warning
/// (a stale or forged fallback tag). Returns them as stored, parents first; the caller decides
/// whether they become `index.json` entries.
pub fn pull(
    client: &Client,
    repo: &str,
    subject: &str,
    layout: &Layout,
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<Vec<Referrer>> {
    walk(subject, |digest| {
        let (listed, _) = list_remote(client, repo, digest)?;
        let mut stored = Vec::with_capacity(listed.len());
        for entry in listed {
            let want = entry.descriptor.digest().to_string();
            let manifest = client.get_manifest(repo, &want)?;
            if manifest.digest != want {
                return Err(Error::Input(format!(
                    "{}/{repo}: the referrer {want} came back with digest {}",
                    client.host(),
                    manifest.digest
                )));
            }
            let Some(found) =
                referrer::parse_referrer(&manifest.bytes, &want).filter(|r| r.subject == digest)
            else {
                reporter.warn(&format!(
                    "{}/{repo} lists {want} as a referrer of {digest}, but its manifest names another subject (or none); not carried",
                    client.host()
                ));
                continue;
            };
            let blobs = blobs_of(&manifest.bytes, &want)?;
            download_blobs(client, repo, &blobs, layout, access, reporter)?;
            layout.write_blob(&manifest.bytes)?;
            stored.push(found);
        }
        Ok(stored)
    })
}

/// Copies everything attached to `subject` in `repo` into `layout`: its referrers ([`pull`]) and
/// what cosign keeps under its tags ([`pull_tagged`]).
pub fn pull_attached(
    client: &Client,
    repo: &str,
    subject: &str,
    layout: &Layout,
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<(Vec<Referrer>, Vec<TaggedArtifact>)> {
    Ok((
        pull(client, repo, subject, layout, access, reporter)?,
        pull_tagged(client, repo, subject, layout, access, reporter)?,
    ))
}

/// [`pull_attached`], then kept in `layout` as a layout keeps them: referrers as untagged entries,
/// cosign's manifests under their tags. Returns how many of each.
pub fn pull_attached_into(
    client: &Client,
    repo: &str,
    subject: &str,
    layout: &Layout,
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<(usize, usize)> {
    let (found, tagged) = pull_attached(client, repo, subject, layout, access, reporter)?;
    list_in_layout(layout, &found)?;
    for t in &tagged {
        layout.set_tags(&t.descriptor, std::slice::from_ref(&t.tag))?;
    }
    Ok((found.len(), tagged.len()))
}

/// What pushing referrers did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pushed {
    pub referrers: u64,
    /// Fallback tags written or updated.
    pub fallback_tags: u64,
}

/// Pushes `referrers` (kept in `layout`, parents first) to `repo`: blobs the registry lacks, the
/// manifest by digest, then, when the registry neither answered `OCI-Subject` nor offers the
/// referrers API, the subject's fallback tag with the referrer added (the spec's steps: read the
/// tag's index, or begin with an empty one; no duplicate; write it back).
pub fn push(
    client: &Client,
    repo: &str,
    layout: &Layout,
    referrers: &[Referrer],
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<Pushed> {
    let mut pushed = Pushed::default();
    let mut api: Option<bool> = None;
    for r in referrers {
        let digest = r.descriptor.digest().to_string();
        let bytes = layout.read_blob(&digest, r.descriptor.size())?;
        let blobs = blobs_of(&bytes, &digest)?;
        upload_blobs(client, repo, layout, &blobs, access, reporter)?;
        let stored =
            client.store_manifest(repo, &digest, r.descriptor.media_type().as_ref(), &bytes)?;
        pushed.referrers += 1;
        let listed_by_registry = match (&stored.subject, api) {
            (Some(_), _) => true,
            (None, Some(known)) => known,
            (None, None) => {
                let has_api = client.referrers(repo, &r.subject)?.is_some();
                api = Some(has_api);
                has_api
            }
        };
        if listed_by_registry {
            continue;
        }
        let tag = referrer::fallback_tag(&r.subject)?;
        let what = format!("{}/{repo}:{tag}", client.host());
        let current = client.find_manifest(repo, &tag)?;
        if let Some(index) =
            referrer::add_to_list(current.as_ref().map(|m| &m.bytes[..]), r, &what)?
        {
            reporter.step(&format!(
                "{what}: listing {digest} (the registry has no referrers API)"
            ));
            client.put_manifest(repo, &tag, pare_oci::manifest::INDEX_MEDIA_TYPES[0], &index)?;
            pushed.fallback_tags += 1;
        }
    }
    Ok(pushed)
}

/// Copies `referrers` from one layout into another and lists each as an untagged entry there.
pub fn copy_between_layouts(from: &Layout, to: &Layout, referrers: &[Referrer]) -> Result<()> {
    for r in referrers {
        copy_manifest(from, to, &r.descriptor)?;
        to.set_tags(&r.descriptor, &[])?;
    }
    Ok(())
}

/// Copies the manifest `descriptor` names, with the blobs `to` lacks, from one layout to another.
fn copy_manifest(
    from: &Layout,
    to: &Layout,
    descriptor: &oci_spec::image::Descriptor,
) -> Result<()> {
    let digest = descriptor.digest().to_string();
    let bytes = from.read_blob(&digest, descriptor.size())?;
    for (blob, size) in blobs_of(&bytes, &digest)? {
        if !to.has_valid_blob(&blob, size) {
            super::copy_blob(from, to, &blob, size)?;
        }
    }
    to.write_blob(&bytes)?;
    Ok(())
}

/// Lists each referrer as an untagged entry of `layout` (where its blobs already are).
pub fn list_in_layout(layout: &Layout, referrers: &[Referrer]) -> Result<()> {
    for r in referrers {
        layout.set_tags(&r.descriptor, &[])?;
    }
    Ok(())
}

/// The referrers of an image where it is kept, as `pare referrers` lists them.
#[derive(Clone, Debug, Serialize)]
pub struct Listing {
    /// The image they refer to (the manifest digest, after choosing a platform).
    pub subject: String,
    /// How they were found: None for a registry with neither the referrers API nor a fallback tag.
    pub via: Option<ListedVia>,
    /// Parents first.
    #[serde(skip)]
    pub referrers: Vec<Referrer>,
}

/// The direct and deeper referrers of `subject` in `store`, and how the first level was listed.
pub(crate) fn list_in(store: &Store, subject: &str) -> Result<(Vec<Referrer>, Option<ListedVia>)> {
    match store {
        Store::Layout(layout) => Ok((in_layout(layout, subject)?, Some(ListedVia::Layout))),
        Store::Registry { client, repo } => {
            let mut via = None;
            let found = walk(subject, |digest| {
                let (listed, how) = list_remote(client, repo, digest)?;
                if digest == subject {
                    via = how;
                }
                Ok(listed)
            })?;
            Ok((found, via))
        }
    }
}

/// The referrers of the image `reference` names (and theirs), where it is kept.
pub fn list(reference: &ImageRef, access: &Access, reporter: &dyn Reporter) -> Result<Listing> {
    let (store, subject) = store_of(reference, access, false, reporter)?;
    let (referrers, via) = list_in(&store, &subject)?;
    Ok(Listing {
        subject,
        via,
        referrers,
    })
}

/// An artifact attached to an image: which referrer, and its blob.
pub struct Attached {
    pub referrer: Referrer,
    pub content: Vec<u8>,
}

/// The content of the artifact of `artifact_type` attached to `reference`'s image (a direct
/// referrer with one blob): the newest by its `org.opencontainers.image.created` annotation, then
/// the greatest digest, so the choice does not depend on listing order. None when there is none.
pub fn attached(
    reference: &ImageRef,
    access: &Access,
    artifact_type: &str,
    reporter: &dyn Reporter,
) -> Result<Option<Attached>> {
    let (store, subject) = store_of(reference, access, false, reporter)?;
    let (referrers, _) = list_in(&store, &subject)?;
    let created = |r: &Referrer| {
        r.annotations()
            .get(referrer::CREATED)
            .cloned()
            .unwrap_or_default()
    };
    let Some(chosen) = referrers
        .into_iter()
        .filter(|r| r.subject == subject && r.artifact_type() == artifact_type)
        .max_by(|a, b| {
            created(a).cmp(&created(b)).then_with(|| {
                a.descriptor
                    .digest()
                    .to_string()
                    .cmp(&b.descriptor.digest().to_string())
            })
        })
    else {
        return Ok(None);
    };
    let digest = chosen.descriptor.digest().to_string();
    let bytes = store.manifest(&digest, chosen.descriptor.size())?;
    let what = format!("{reference}: the referrer {digest}");
    // A list is only a claim (a fallback tag is a tag anyone may write): the manifest must name
    // the image and be of the type it was listed as.
    if referrer::parse_referrer(&bytes, &digest)
        .is_none_or(|r| r.subject != subject || r.artifact_type() != artifact_type)
    {
        return Err(Error::Input(format!(
            "{what} is listed as a {artifact_type} of {subject}, but its manifest names another subject or type (a stale or forged referrers list)"
        )));
    }
    let layers = match pare_oci::manifest::parse_document(&bytes, &what)? {
        pare_oci::manifest::Document::Image(m) => m.layers().clone(),
        pare_oci::manifest::Document::Index(_) => {
            return Err(Error::Input(format!(
                "{what} is an index, not an artifact with one blob"
            )))
        }
    };
    let [layer] = layers.as_slice() else {
        return Err(Error::Input(format!(
            "{what} has {} blobs; pare reads artifacts of one",
            layers.len()
        )));
    };
    let content = store.blob(layer.digest().as_ref(), layer.size())?;
    Ok(Some(Attached {
        referrer: chosen,
        content,
    }))
}

/// The suffixes of the tags cosign keeps an image's signatures, attestations and SBOMs under
/// (`sha256-<hex>.sig` and so on): artifacts attached by tag rather than by `subject`.
pub const COSIGN_TAG_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// A manifest kept under one of cosign's tags beside an image.
#[derive(Clone, Debug)]
pub struct TaggedArtifact {
    pub tag: String,
    pub descriptor: oci_spec::image::Descriptor,
}

/// cosign's tags for the image `digest`.
pub fn cosign_tags(digest: &str) -> Result<Vec<String>> {
    let base = referrer::fallback_tag(digest)?;
    Ok(COSIGN_TAG_SUFFIXES
        .iter()
        .map(|suffix| format!("{base}.{suffix}"))
        .collect())
}

/// The manifests `layout` keeps under cosign's tags for `digest`.
pub fn tagged_in_layout(layout: &Layout, digest: &str) -> Result<Vec<TaggedArtifact>> {
    let tags = cosign_tags(digest)?;
    let index = layout.read_index()?;
    Ok(index
        .manifests()
        .iter()
        .filter_map(|d| {
            let tag = d.annotations().as_ref()?.get(pare_oci::layout::REF_NAME)?;
            tags.contains(tag).then(|| TaggedArtifact {
                tag: tag.clone(),
                descriptor: d.clone(),
            })
        })
        .collect())
}

/// Copies what `repo` keeps under cosign's tags for `digest` into `layout` (manifests and blobs;
/// the caller tags them where they belong).
pub fn pull_tagged(
    client: &Client,
    repo: &str,
    digest: &str,
    layout: &Layout,
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<Vec<TaggedArtifact>> {
    let mut found = Vec::new();
    for tag in cosign_tags(digest)? {
        let Some(manifest) = client.find_manifest(repo, &tag)? else {
            continue;
        };
        let blobs = blobs_of(&manifest.bytes, &format!("{repo}:{tag}"))?;
        download_blobs(client, repo, &blobs, layout, access, reporter)?;
        let stored = layout.write_blob(&manifest.bytes)?;
        let media_type = if manifest.media_type.is_empty() {
            pare_oci::referrer::MANIFEST_MEDIA_TYPE.to_string()
        } else {
            manifest.media_type.clone()
        };
        found.push(TaggedArtifact {
            tag,
            descriptor: oci_spec::image::Descriptor::new(
                oci_spec::image::MediaType::from(media_type.as_str()),
                manifest.bytes.len() as u64,
                pare_oci::image::parse_digest(&stored)?,
            ),
        });
    }
    Ok(found)
}

/// Pushes tagged artifacts kept in `layout` to `repo` under their tags (what is there is replaced,
/// as `cosign copy` does).
pub fn push_tagged(
    client: &Client,
    repo: &str,
    layout: &Layout,
    tagged: &[TaggedArtifact],
    access: &Access,
    reporter: &dyn Reporter,
) -> Result<()> {
    for t in tagged {
        let digest = t.descriptor.digest().to_string();
        let bytes = layout.read_blob(&digest, t.descriptor.size())?;
        let blobs = blobs_of(&bytes, &format!("{repo}:{}", t.tag))?;
        upload_blobs(client, repo, layout, &blobs, access, reporter)?;
        client.put_manifest(repo, &t.tag, t.descriptor.media_type().as_ref(), &bytes)?;
    }
    Ok(())
}

/// Copies tagged artifacts from one layout to another and tags them there.
pub fn copy_tagged_between_layouts(
    from: &Layout,
    to: &Layout,
    tagged: &[TaggedArtifact],
) -> Result<()> {
    for t in tagged {
        copy_manifest(from, to, &t.descriptor)?;
        let mut untagged = t.descriptor.clone();
        if let Some(mut a) = untagged.annotations().clone() {
            a.remove(pare_oci::layout::REF_NAME);
            untagged.set_annotations(Some(a).filter(|a| !a.is_empty()));
        }
        to.set_tags(&untagged, std::slice::from_ref(&t.tag))?;
    }
    Ok(())
}
