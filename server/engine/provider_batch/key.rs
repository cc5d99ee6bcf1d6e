//! The key of one call: what identifies "the same request" across runs and
//! restarts, so a re-run attaches to the batch that already holds it.
//!
//! This is the one place the key is computed; when the server has a shared
//! call-cache key function, this is where to call it instead.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// sha256 (hex) of the model and the canonical request body: JSON with
/// object keys sorted (serde_json's `Map` is a `BTreeMap`), no whitespace.
pub(crate) fn call_key(model: &str, body: &Map<String, Value>) -> String {
    let canonical = Value::Object(body.clone()).to_string();
    let mut hasher = Sha256::new();
    hasher.update(model.as_bytes());
    hasher.update([0u8]);
    hasher.update(canonical.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn equal_requests_have_equal_keys_whatever_the_key_order() {
        let a = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0}),
        );
        let b = body(
            json!({"temperature": 0, "messages": [{"content": "x", "role": "user"}], "model": "m"}),
        );
        assert_eq!(call_key("m", &a), call_key("m", &b));
        assert_eq!(call_key("m", &a).len(), 64);
    }

    #[test]
    fn a_different_prompt_or_model_changes_the_key() {
        let a = body(json!({"messages": [{"role": "user", "content": "x"}]}));
        let b = body(json!({"messages": [{"role": "user", "content": "y"}]}));
        assert_ne!(call_key("m", &a), call_key("m", &b));
        assert_ne!(call_key("m", &a), call_key("n", &a));
    }
}
