//! `pare build --platform linux/amd64,linux/arm64`: one image per platform, each made by the
//! single-platform build into one staging layout, so that a layer that is the same bytes for
//! every platform (the static base's files, a script) is stored and pushed once; then one OCI
//! index over them, sent to the output with image I/O. Copies qualified with a platform
//! (`linux/arm64=SRC:DST`, `[[copy]] platform`) go only into that platform's image. Debian
//! recipes and packages resolve per architecture into one pare.lock (the first architecture's
//! lock, the others as its `[[other]]` locks). `--sbom` attaches each image's own SBOM to it;
//! `--sign` signs the index and each image (as `cosign sign --recursive`), with the index's and
//! each image's provenance and each image's SBOMs attested. An image base is taken per platform
//! (an index's image for each; a base without one for a platform is an error), each pinned in
//! that architecture's lock. `--bytecode` compiles in each platform's image with that image's
//! own interpreter (an arm64 one through the host's binfmt_misc emulator, qemu-user).

use oci_spec::image::{Descriptor, MediaType};
use pare_oci::image::parse_digest;
use pare_oci::layout::Layout;
use pare_oci::reference::ImageRef;
use serde_json::json;

use super::{build_one, BuildOptions, BuildReport};
use crate::image_io::{destination_names, write_index, Access, IoReport, Scratch};
use crate::{Error, Reporter, Result};

/// The passing tag of one platform's image while the index is made (`pare-building-linux-arm64`).
fn staging_tag(platform: &pare_oci::image::Platform) -> String {
    format!("pare-building-{}", platform.to_string().replace('/', "-"))
}

/// The options of the one-platform build of `platform`: its copies, not the other platforms'.
fn for_platform(options: &BuildOptions, platform: &pare_oci::image::Platform) -> BuildOptions {
    let mut one = options.clone();
    one.platforms.clear();
    one.platform = platform.clone();
    one.copies
        .retain(|c| c.platform.as_ref().is_none_or(|p| p == platform));
    one
}

/// Builds one image per platform of `options.platforms` and the index over them.
pub fn build_index(options: &BuildOptions, reporter: &dyn Reporter) -> Result<BuildReport> {
    let output = options.output.clone().ok_or_else(|| {
        Error::Input("no output given; pass --output oci:DIR[:TAG] or docker://REF".into())
    })?;
    crate::image_io::check_destination(&output, &options.extra_tags)?;
    if !matches!(output, ImageRef::Layout { .. } | ImageRef::Registry(_)) {
        return Err(Error::Input(format!(
            "{output} holds one image; a multi-platform build writes an OCI index to oci:DIR or docker://REF"
        )));
    }
    for (i, p) in options.platforms.iter().enumerate() {
        if options.platforms[..i].contains(p) {
            return Err(Error::Input(format!("--platform names {p} twice")));
        }
    }
    for (p, root) in &options.platform_sysroots {
        if !options.platforms.contains(p) {
            return Err(Error::Input(format!(
                "--sysroot {p}={} is for {p}, which is not one of the platforms built",
                root.display()
            )));
        }
    }
    for copy in &options.copies {
        if let Some(p) = &copy.platform {
            if !options.platforms.contains(p) {
                return Err(Error::Input(format!(
                    "--copy {}:{} is for {p}, which is not one of the platforms built",
                    copy.src.display(),
                    copy.dst
                )));
            }
        }
    }

    // Into the output layout itself (under passing tags), so that its layers are reused as a
    // one-platform build reuses them; for a registry, into a staging layout.
    let (staging, scratch) = match &output {
        ImageRef::Layout { dir, .. } => (dir.clone(), None),
        _ => {
            let scratch = Scratch::new("pare-index-")?;
            (scratch.path().join("layout"), Some(scratch))
        }
    };
    let created = scratch.is_none() && !staging.exists();
    let built = images_and_index(options, &output, &staging, reporter);
    if scratch.is_none() {
        // The passing tags go whether the index was written or not; a layout this build created
        // goes whole when it failed (nothing refers to it yet).
        let passing: Vec<String> = options.platforms.iter().map(staging_tag).collect();
        if built.is_err() && created {
            let _ = std::fs::remove_dir_all(&staging);
        } else {
            let removed = Layout::open(&staging).and_then(|l| l.remove_tags(&passing));
            if built.is_ok() {
                removed?;
            }
        }
    }
    let (mut images, digest) = built?;
    drop(scratch);

    let mut signed = None;
    if let Some(settings) = &options.sign {
        for (platform, image) in options.platforms.iter().zip(images.iter_mut()) {
            let one = for_platform(options, platform);
            let bases: Vec<_> = image.base.iter().map(|b| (None, b)).collect();
            let provenance = super::provenance(&one, &bases, image.packages.as_ref())?;
            image.signed = Some(super::sign_build(
                &output,
                settings,
                &one,
                Some(platform),
                provenance,
                &options.sbom,
                reporter,
            )?);
        }
        let bases: Vec<_> = options
            .platforms
            .iter()
            .zip(&images)
            .filter_map(|(p, i)| i.base.as_ref().map(|b| (Some(p), b)))
            .collect();
        let provenance = super::provenance(options, &bases, images[0].packages.as_ref())?;
        signed = Some(super::sign_build(
            &output,
            settings,
            options,
            None,
            provenance,
            &[],
            reporter,
        )?);
    }

    // The index's sizes count each blob once: what a pull of every platform moves.
    let mut seen = std::collections::BTreeMap::new();
    for image in &images {
        for layer in &image.layers {
            seen.insert(layer.digest.clone(), (layer.size, layer.uncompressed_size));
        }
    }
    let first = &images[0];
    Ok(BuildReport {
        output: super::output_name(&output),
        tags: destination_names(&output, &options.extra_tags),
        manifest_digest: digest,
        config_digest: String::new(),
        platform: options
            .platforms
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        user: first.user.clone(),
        layers: Vec::new(),
        compressed_size: seen.values().map(|(c, _)| c).sum(),
        uncompressed_size: seen.values().map(|(_, u)| u).sum(),
        libraries: Vec::new(),
        pruned_plugins: Vec::new(),
        packages: None,
        // An image base is one image per platform: each platform's report has its own.
        base: None,
        bytecode: None,
        sbom: Vec::new(),
        signed,
        platforms: images,
    })
}

/// Builds each platform's image into `staging` under its passing tag, writes the index over them
/// and sends it to `output`. Returns the images' reports and the index's digest.
fn images_and_index(
    options: &BuildOptions,
    output: &ImageRef,
    staging: &std::path::Path,
    reporter: &dyn Reporter,
) -> Result<(Vec<BuildReport>, String)> {
    let mut images = Vec::with_capacity(options.platforms.len());
    for platform in &options.platforms {
        let mut one = for_platform(options, platform);
        one.output = Some(ImageRef::Layout {
            dir: staging.to_path_buf(),
            tag: Some(staging_tag(platform)),
        });
        one.extra_tags.clear();
        one.sbom_name = Some(crate::sbom::default_name(output));
        // Signed where it ends up, once the index is there (below).
        one.sign = None;
        reporter.step(&format!("building the {platform} image"));
        let built = build_one(&one, reporter).map_err(|e| match e {
            Error::Input(m) => Error::Input(format!("the {platform} image: {m}")),
            Error::Refused(m) => Error::Refused(format!("the {platform} image: {m}")),
            other => other,
        })?;
        images.push(built);
    }

    let layout = Layout::open(staging)?;
    let mut manifests: Vec<Descriptor> = Vec::with_capacity(images.len());
    for (platform, image) in options.platforms.iter().zip(&images) {
        let stored = layout.resolve(Some(&staging_tag(platform)))?;
        let mut entry = Descriptor::new(
            stored.media_type().clone(),
            stored.size(),
            parse_digest(&image.manifest_digest)?,
        );
        entry.set_platform(Some(platform.to_oci()?));
        manifests.push(entry);
    }
    let bytes = pare_oci::canonical_json::to_vec(
        &json!({
            "schemaVersion": 2,
            "mediaType": pare_oci::manifest::INDEX_MEDIA_TYPES[0],
            "manifests": manifests,
        }),
        "image index",
    )?;
    let digest = layout.write_blob(&bytes)?;
    let index = Descriptor::new(
        MediaType::ImageIndex,
        bytes.len() as u64,
        parse_digest(&digest)?,
    );
    let access = Access {
        insecure: options.insecure,
        credentials: options.credentials.clone(),
        ..Access::default()
    };
    let mut io = IoReport::default();
    write_index(
        &layout,
        &index,
        &manifests,
        output,
        &options.extra_tags,
        &access,
        reporter,
        &mut io,
    )?;
    Ok((images, digest))
}
