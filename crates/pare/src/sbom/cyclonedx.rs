//! The CycloneDX 1.6 JSON document of an inventory: the image as `metadata.component` (type
//! `container`, with its `oci` purl and digest), the OS as an `operating-system` component, every
//! package as a component with purl, licenses and `pare:` properties (where it was read, its
//! layer, its source package), and the dependency graph (the image on everything, packages on
//! their dpkg dependencies). Not here: choosing or ordering the packages (`super`).

use serde_json::{json, Map, Value};

use super::{licensing, spdx_expression, text, Entry, Subject};

const IMAGE_REF: &str = "image";
const OS_REF: &str = "os";

pub(super) fn document(subject: &Subject<'_>, entries: &[Entry<'_>]) -> Value {
    let mut components = Vec::new();
    let mut image_depends = Vec::new();
    let mut dependencies = Vec::new();
    if let Some((name, version)) = subject.os() {
        components.push(json!({
            "type": "operating-system",
            "bom-ref": OS_REF,
            "name": name,
            "version": version,
        }));
        image_depends.push(text(OS_REF));
        dependencies.push(json!({ "ref": OS_REF, "dependsOn": [] }));
    }
    for entry in entries {
        components.push(component(subject, entry));
        image_depends.push(text(&entry.id));
        dependencies.push(json!({ "ref": entry.id, "dependsOn": entry.depends_on }));
    }
    dependencies.insert(0, json!({ "ref": IMAGE_REF, "dependsOn": image_depends }));
    let mut image = json!({
        "type": "container",
        "bom-ref": IMAGE_REF,
        "name": subject.name,
        "version": subject.inventory.manifest_digest,
        "purl": subject.purl,
    });
    if let Some(hex) = subject.inventory.manifest_digest.strip_prefix("sha256:") {
        image["hashes"] = json!([{ "alg": "SHA-256", "content": hex }]);
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", subject.uuid),
        "version": 1,
        "metadata": {
            "timestamp": subject.created,
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "pare",
                    "version": env!("CARGO_PKG_VERSION"),
                }],
            },
            "component": image,
        },
        "components": components,
        "dependencies": dependencies,
    })
}

fn component(subject: &Subject<'_>, entry: &Entry<'_>) -> Value {
    let p = entry.package;
    let mut component = Map::new();
    let application = p.binary.is_some() && p.files > 0 && matches!(p.manager, "go" | "cargo");
    component.insert(
        "type".into(),
        text(if application {
            "application"
        } else {
            "library"
        }),
    );
    component.insert("bom-ref".into(), text(&entry.id));
    component.insert("name".into(), text(&p.name));
    component.insert("version".into(), text(&p.version));
    component.insert("purl".into(), text(&p.purl));
    if let Some(licenses) = licenses(&p.licenses) {
        component.insert("licenses".into(), licenses);
    }
    let mut properties = vec![property("pare:location", &p.location)];
    if let Some(layer) = subject.layer(p.layer) {
        properties.push(property("pare:layer", &layer));
    }
    if let Some(source) = &p.source {
        let version = p.source_version.as_deref().unwrap_or(&p.version);
        properties.push(property(
            "pare:source-package",
            &format!("{source} {version}"),
        ));
    }
    component.insert("properties".into(), Value::Array(properties));
    Value::Object(component)
}

/// One SPDX id per stated license (a name where it is none), or a single expression when one of
/// them is compound: CycloneDX allows either a list of licenses or exactly one expression.
fn licenses(stated: &[String]) -> Option<Value> {
    if stated.is_empty() {
        return None;
    }
    let expressions: Vec<Option<String>> = stated.iter().map(|s| spdx_expression(s)).collect();
    if expressions.iter().flatten().any(|e| e.contains(' ')) {
        let expression = licensing(stated)?.expression;
        return Some(json!([{ "expression": expression }]));
    }
    let ids = expressions
        .into_iter()
        .map(|e| e.filter(|e| ::spdx::license_id(e).is_some()));
    let mut out: Vec<Value> = Vec::new();
    for (text, id) in stated.iter().zip(ids) {
        let license = match id {
            Some(id) => json!({ "license": { "id": id } }),
            None => json!({ "license": { "name": text } }),
        };
        if !out.contains(&license) {
            out.push(license);
        }
    }
    Some(Value::Array(out))
}

fn property(name: &str, value: &str) -> Value {
    json!({ "name": name, "value": value })
}
