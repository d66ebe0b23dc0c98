//! Canonical JSON: object keys sorted bytewise, no insignificant whitespace, so that the same value
//! always gives the same bytes and therefore the same digest. Not a general JSON library: encoding
//! goes through serde_json, this module only fixes the key order.

use serde::Serialize;
use serde_json::Value;

use crate::{Error, Result};

/// Serializes `value` with object keys sorted at every depth.
pub fn to_vec<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>> {
    let value = serde_json::to_value(value).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })?;
    let mut out = Vec::with_capacity(1024);
    write_value(&value, &mut out);
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_value(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // serde_json writes scalars (strings with escapes, numbers) in one fixed way; reuse it.
    // Writing into a Vec cannot fail and a scalar Value always serializes.
    if serde_json::to_writer(&mut *out, value).is_err() {
        unreachable!("serializing a JSON scalar into memory cannot fail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let mut inner = HashMap::new();
        inner.insert("b", 1);
        inner.insert("a", 2);
        let mut outer = HashMap::new();
        outer.insert("z", vec![inner.clone()]);
        outer.insert("m", vec![]);
        let bytes = to_vec(&outer, "test").unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"m":[],"z":[{"a":2,"b":1}]}"#
        );
    }

    #[test]
    fn strings_are_escaped() {
        let bytes = to_vec(&serde_json::json!({"k": "a\"b\n<"}), "test").unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), r#"{"k":"a\"b\n<"}"#);
    }
}
