//! What every provider's request and reply share: the call's kwargs put
//! into the body by the provider's rules, a reply's text and usage, and the
//! provider's own message in an error body.
//!
//! Request kwargs: `model` selects the model; the provider's passed-on
//! kwargs go into the body as they are (some under the provider's name for
//! them); `extra_body` (an object) is merged into the body last, for
//! provider-specific parameters. Any other kwarg is dropped, and listed in
//! the reply's metadata as `dropped_kwargs`, unless the engine is `strict`:
//! then the call fails naming it.

use serde_json::{Map, Value};

use super::error::CallError;
use crate::pb::v1::EngineCall;

/// A call turned into a request body.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub body: Map<String, Value>,
    /// Kwargs dropped (not strict).
    pub dropped: Vec<String>,
}

/// What a successful response holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// `usage`, `model`, `id`, `finish_reason` and the like of the response.
    pub metadata: Map<String, Value>,
    /// An embeddings response's vectors, one per input in input order
    /// (`text` is then empty); None for a chat response.
    pub embeddings: Option<Vec<Vec<f64>>>,
}

impl Completion {
    /// A reply of `text` with the response's `usage` (an object, or null)
    /// counted under the provider's `keys` (prompt, completion) and added to
    /// `metadata` when there is one.
    pub fn counted(
        text: String,
        mut metadata: Map<String, Value>,
        usage: Value,
        keys: [&str; 2],
    ) -> Completion {
        let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
        let (prompt_tokens, completion_tokens) = (count(keys[0]), count(keys[1]));
        if !usage.is_null() {
            metadata.insert("usage".into(), usage);
        }
        Completion {
            text,
            prompt_tokens,
            completion_tokens,
            metadata,
            embeddings: None,
        }
    }
}

/// How a provider takes a call's kwargs.
#[derive(Debug, Clone, Copy)]
pub struct KwargRules {
    /// Passed on unchanged.
    pub passed_on: &'static [&'static str],
    /// Passed on under the provider's name: (kwarg, body field). A kwarg of
    /// the provider's own name, if also given, wins.
    pub renamed: &'static [(&'static str, &'static str)],
}

impl KwargRules {
    /// The kwargs taken, for the message of a strict engine.
    fn known(&self) -> String {
        let renamed = self.renamed.iter().map(|(kwarg, _)| *kwarg);
        self.passed_on
            .iter()
            .copied()
            .chain(renamed)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Puts `call`'s kwargs into `body` by `rules` and returns the kwargs
/// dropped (sorted). `engine` names the engine in a strict engine's error.
pub fn apply_kwargs(
    body: &mut Map<String, Value>,
    call: &EngineCall,
    engine: &str,
    strict: bool,
    rules: &KwargRules,
) -> Result<Vec<String>, CallError> {
    let kwargs = match call.kwargs_json.trim() {
        "" => Map::new(),
        text => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(CallError::InvalidCall {
                    field: "kwargs_json",
                    reason: "must be a JSON object".into(),
                })
            }
        },
    };
    let mut extra = None;
    let mut renamed = Vec::new();
    let mut dropped = Vec::new();
    for (key, value) in kwargs {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "model" => match value {
                Value::String(m) if !m.is_empty() => {
                    body.insert(key, Value::String(m));
                }
                _ => {
                    return Err(CallError::InvalidCall {
                        field: "model",
                        reason: "must be a non-empty string".into(),
                    })
                }
            },
            "extra_body" => match value {
                Value::Object(map) => extra = Some(map),
                _ => {
                    return Err(CallError::InvalidCall {
                        field: "extra_body",
                        reason: "must be a JSON object".into(),
                    })
                }
            },
            k if rules.passed_on.contains(&k) => {
                body.insert(key, value);
            }
            k => match rules.renamed.iter().find(|(kwarg, _)| *kwarg == k) {
                Some((_, field)) => renamed.push((*field, value)),
                None if strict => {
                    return Err(CallError::UnknownKwarg {
                        engine: engine.to_string(),
                        kwarg: key,
                        known: rules.known(),
                    })
                }
                None => dropped.push(key),
            },
        }
    }
    for (field, value) in renamed {
        body.entry(field).or_insert(value);
    }
    if let Some(extra) = extra {
        for (key, value) in extra {
            if key != "messages" && key != "stream" {
                body.insert(key, value);
            }
        }
    }
    dropped.sort();
    Ok(dropped)
}

/// A response body as JSON; the error is a description.
pub fn json_body(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|err| format!("body is not JSON: {err}"))
}

/// Longest provider error message kept, in bytes.
const MAX_MESSAGE_BYTES: usize = 2000;

/// The provider's own message in an error response body: `error.message`,
/// `error` (a string), `message` or `detail`; else the body's text. `scrub`
/// removes secrets (the API key) from the whole message before it is cut to
/// [`MAX_MESSAGE_BYTES`], so that no part of a secret straddling the cut
/// survives.
pub fn error_message(body: &[u8], scrub: impl Fn(&str) -> String) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let found = value
            .pointer("/error/message")
            .or_else(|| value.get("error").filter(|e| e.is_string()))
            .or_else(|| value.get("message"))
            .or_else(|| value.get("detail"));
        if let Some(found) = found {
            return truncate(scrub(&match found {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            }));
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if text.is_empty() {
        "(empty response body)".to_string()
    } else {
        truncate(scrub(&text))
    }
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: KwargRules = KwargRules {
        passed_on: &["temperature"],
        renamed: &[("stop", "stop_sequences")],
    };

    fn kwargs(text: &str) -> EngineCall {
        EngineCall {
            kwargs_json: text.into(),
            ..Default::default()
        }
    }

    #[test]
    fn renamed_kwargs_take_the_providers_name_unless_it_is_given() {
        let mut body = Map::new();
        let dropped = apply_kwargs(
            &mut body,
            &kwargs(r#"{"stop": ["x"], "temperature": 0.5, "foo": 1}"#),
            "e",
            false,
            &RULES,
        )
        .expect("applied");
        assert_eq!(body["stop_sequences"], json!(["x"]));
        assert_eq!(body["temperature"], json!(0.5));
        assert_eq!(dropped, vec!["foo".to_string()]);
        let mut body = Map::new();
        apply_kwargs(
            &mut body,
            &kwargs(r#"{"stop": ["x"], "extra_body": {"stop_sequences": ["y"]}}"#),
            "e",
            true,
            &RULES,
        )
        .expect("applied");
        assert_eq!(body["stop_sequences"], json!(["y"]));
        let err = apply_kwargs(&mut Map::new(), &kwargs(r#"{"foo": 1}"#), "e", true, &RULES)
            .expect_err("strict");
        assert!(err.to_string().contains("temperature, stop"), "{err}");
    }

    #[test]
    fn provider_messages_are_found_in_common_shapes() {
        assert_eq!(
            error_message(br#"{"error": {"message": "bad model"}}"#, str::to_string),
            "bad model"
        );
        assert_eq!(
            error_message(br#"{"error": "nope"}"#, str::to_string),
            "nope"
        );
        assert_eq!(error_message(br#"{"detail": "x"}"#, str::to_string), "x");
        assert_eq!(error_message(b"plain text", str::to_string), "plain text");
        assert_eq!(error_message(b"", str::to_string), "(empty response body)");
    }
}
