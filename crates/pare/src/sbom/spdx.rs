//! The SPDX 2.3 JSON document of an inventory: the image as the described `CONTAINER` package, the
//! OS as an `OPERATING_SYSTEM` package, every package with its purl, declared license and where it
//! was read; `DESCRIBES`, `CONTAINS` and `DEPENDS_ON` relationships; `LicenseRef-` texts in
//! `hasExtractedLicensingInfos`. Not here: choosing or ordering the packages (`super`).

use serde_json::{json, Map, Value};

use super::{licensing, text, Entry, Subject};

const IMAGE_ID: &str = "SPDXRef-Image";
const OS_ID: &str = "SPDXRef-OperatingSystem";

pub(super) fn document(subject: &Subject<'_>, entries: &[Entry<'_>]) -> Value {
    let mut packages = vec![image_package(subject)];
    let mut relationships = vec![relationship("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID)];
    if let Some((name, version)) = subject.os() {
        packages.push(json!({
            "SPDXID": OS_ID,
            "name": name,
            "versionInfo": version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "OPERATING_SYSTEM",
            "sourceInfo": "the image's os-release file",
        }));
        relationships.push(relationship(IMAGE_ID, "CONTAINS", OS_ID));
    }
    let mut extracted: Vec<(String, String)> = Vec::new();
    for entry in entries {
        let id = format!("SPDXRef-{}", entry.id);
        let (package, references) = package(subject, entry, &id);
        packages.push(package);
        for reference in references {
            if !extracted.iter().any(|(r, _)| *r == reference.0) {
                extracted.push(reference);
            }
        }
        relationships.push(relationship(IMAGE_ID, "CONTAINS", &id));
        for other in &entry.depends_on {
            relationships.push(relationship(&id, "DEPENDS_ON", &format!("SPDXRef-{other}")));
        }
    }
    extracted.sort();
    let mut document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject.name,
        "documentNamespace": format!(
            "https://spdx.org/spdxdocs/{}-{}",
            super::id_safe(&subject.name),
            subject.uuid
        ),
        "creationInfo": {
            "created": subject.created,
            "creators": [format!("Tool: {}", subject.tool)],
            "licenseListVersion": ::spdx::identifiers::VERSION
                .rsplit_once('.')
                .map_or(::spdx::identifiers::VERSION, |(major_minor, _)| major_minor),
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        document["hasExtractedLicensingInfos"] = extracted
            .into_iter()
            .map(|(id, stated)| {
                json!({
                    "licenseId": id,
                    "name": stated,
                    "extractedText": format!("The package states its license as: {stated}"),
                })
            })
            .collect();
    }
    document
}

fn image_package(subject: &Subject<'_>) -> Value {
    let digest = &subject.inventory.manifest_digest;
    let mut image = json!({
        "SPDXID": IMAGE_ID,
        "name": subject.name,
        "versionInfo": digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [purl_ref(&subject.purl)],
    });
    if let Some(hex) = digest.strip_prefix("sha256:") {
        image["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": hex }]);
    }
    image
}

/// One package element and the `LicenseRef-` texts it uses.
fn package(subject: &Subject<'_>, entry: &Entry<'_>, id: &str) -> (Value, Vec<(String, String)>) {
    let p = entry.package;
    let licensing = licensing(&p.licenses);
    let mut source_info = format!("read from {}", p.location);
    if let Some(layer) = subject.layer(p.layer) {
        source_info.push_str(&format!(" in {layer}"));
    }
    let mut package = Map::new();
    package.insert("SPDXID".into(), text(id));
    package.insert("name".into(), text(&p.name));
    package.insert("versionInfo".into(), text(&p.version));
    package.insert("downloadLocation".into(), text("NOASSERTION"));
    package.insert("filesAnalyzed".into(), Value::Bool(false));
    package.insert("licenseConcluded".into(), text("NOASSERTION"));
    package.insert(
        "licenseDeclared".into(),
        text(
            licensing
                .as_ref()
                .map_or("NOASSERTION", |l| l.expression.as_str()),
        ),
    );
    package.insert("copyrightText".into(), text("NOASSERTION"));
    package.insert("externalRefs".into(), json!([purl_ref(&p.purl)]));
    let application = p.binary.is_some() && p.files > 0 && matches!(p.manager, "go" | "cargo");
    package.insert(
        "primaryPackagePurpose".into(),
        text(if application {
            "APPLICATION"
        } else {
            "LIBRARY"
        }),
    );
    package.insert("sourceInfo".into(), text(source_info));
    if let Some(source) = &p.source {
        let version = p.source_version.as_deref().unwrap_or(&p.version);
        package.insert(
            "comment".into(),
            text(format!("built from the source package {source} {version}")),
        );
    }
    (
        Value::Object(package),
        licensing.map(|l| l.references).unwrap_or_default(),
    )
}

fn purl_ref(purl: &str) -> Value {
    json!({
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    })
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({
        "spdxElementId": from,
        "relationshipType": kind,
        "relatedSpdxElement": to,
    })
}
