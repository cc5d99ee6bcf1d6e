//! Cache keys: a SHA-256 of the engine kind, the model and the canonical
//! request, so that two calls share a key exactly when the provider would
//! see the same request.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// A call's cache key.
pub(crate) type CallKey = [u8; 32];

/// The key of a request: `kind` (the engine kind, e.g. "openai"), `model`
/// and `canonical`, the request as the engine would send it, in canonical
/// form (see [`canonical_json`]). Each part is length-prefixed, so no two
/// different triples hash the same bytes.
pub(crate) fn call_key(kind: &str, model: &str, canonical: &[u8]) -> CallKey {
    let mut hasher = Sha256::new();
    for part in [kind.as_bytes(), model.as_bytes(), canonical] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut key = [0u8; 32];
    key.copy_from_slice(&digest);
    key
}

/// `value` as compact JSON with every object's keys sorted, whatever order
/// they were built or parsed in.
pub(crate) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Lowercase hex of a key, for logs.
pub(crate) fn hex(key: &CallKey) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_does_not_change_the_canonical_form() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": 2, "x": [1, {"d": 0, "c": 1}]}}"#)
                .expect("json");
        let b: Value =
            serde_json::from_str(r#"{"a": {"x": [1, {"c": 1, "d": 0}], "y": 2}, "b": 1}"#)
                .expect("json");
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":[1,{"c":1,"d":0}],"y":2},"b":1}"#
        );
    }

    #[test]
    fn kind_model_and_request_each_change_the_key() {
        let base = call_key("openai", "gpt-4o-mini", b"{}");
        assert_eq!(base, call_key("openai", "gpt-4o-mini", b"{}"));
        assert_ne!(base, call_key("openai-batch", "gpt-4o-mini", b"{}"));
        assert_ne!(base, call_key("openai", "gpt-4o", b"{}"));
        assert_ne!(base, call_key("openai", "gpt-4o-mini", b"{ }"));
        // Length prefixes: moving bytes between parts changes the key.
        assert_ne!(call_key("ab", "c", b""), call_key("a", "bc", b""));
        assert_eq!(hex(&base).len(), 64);
    }
}
