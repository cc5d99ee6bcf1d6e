//! Chat-completions requests and responses: an `EngineCall` becomes a request
//! body, a response body becomes the reply text and its metadata.
//!
//! Request kwargs: `model` selects the model; the parameters in
//! [`PASSED_ON`] go into the body as they are; `extra_body` (an object) is
//! merged into the body last, for provider-specific parameters (vLLM's
//! `top_k`, ...). Any other kwarg is dropped, and listed in the reply's
//! metadata as `dropped_kwargs`, unless the engine is `strict`: then the call
//! fails naming it.

use serde_json::{Map, Value};

use super::error::OpenAiError;
use crate::pb::v1::EngineCall;

/// Request kwargs passed on to the request body unchanged.
pub const PASSED_ON: &[&str] = &[
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "response_format",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
    "service_tier",
];

/// A call turned into a request body.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub body: Map<String, Value>,
    /// Kwargs dropped (not strict).
    pub dropped: Vec<String>,
}

/// Builds the request body of `call` for the engine `engine` whose default
/// model is `model`.
pub fn prepare(
    call: &EngineCall,
    engine: &str,
    model: &str,
    strict: bool,
) -> Result<Prepared, OpenAiError> {
    let messages = messages_of(call)?;
    let kwargs = match call.kwargs_json.trim() {
        "" => Map::new(),
        text => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(OpenAiError::InvalidCall {
                    field: "kwargs_json",
                    reason: "must be a JSON object".into(),
                })
            }
        },
    };
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_string()));
    body.insert("messages".into(), Value::Array(messages));
    let mut extra = None;
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
                    return Err(OpenAiError::InvalidCall {
                        field: "model",
                        reason: "must be a non-empty string".into(),
                    })
                }
            },
            "extra_body" => match value {
                Value::Object(map) => extra = Some(map),
                _ => {
                    return Err(OpenAiError::InvalidCall {
                        field: "extra_body",
                        reason: "must be a JSON object".into(),
                    })
                }
            },
            k if PASSED_ON.contains(&k) => {
                body.insert(key, value);
            }
            _ if strict => {
                return Err(OpenAiError::UnknownKwarg {
                    engine: engine.to_string(),
                    kwarg: key,
                    known: PASSED_ON.join(", "),
                })
            }
            _ => dropped.push(key),
        }
    }
    if let Some(extra) = extra {
        for (key, value) in extra {
            if key != "messages" && key != "stream" {
                body.insert(key, value);
            }
        }
    }
    dropped.sort();
    Ok(Prepared { body, dropped })
}

/// The call's chat messages, or one user message holding its prompt.
fn messages_of(call: &EngineCall) -> Result<Vec<Value>, OpenAiError> {
    if !call.messages_json.trim().is_empty() {
        match serde_json::from_str::<Value>(&call.messages_json) {
            Ok(Value::Array(messages)) if !messages.is_empty() => return Ok(messages),
            Ok(Value::Array(_)) => {}
            _ => {
                return Err(OpenAiError::InvalidCall {
                    field: "messages_json",
                    reason: "must be a JSON list of chat messages".into(),
                })
            }
        }
    }
    let mut user = Map::new();
    user.insert("role".into(), Value::String("user".into()));
    user.insert("content".into(), Value::String(call.prompt.clone()));
    Ok(vec![Value::Object(user)])
}

/// What a successful response holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// `usage`, `model`, `id`, `finish_reason` and `tool_calls` of the response.
    pub metadata: Map<String, Value>,
}

/// Reads a chat-completions response body; the error is a description.
pub fn parse_completion(body: &[u8]) -> Result<Completion, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|err| format!("body is not JSON: {err}"))?;
    let choice = value
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|choices| choices.first())
        .ok_or("no choices in the response")?;
    let message = choice
        .get("message")
        .ok_or("the first choice has no message")?;
    let text = match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let mut metadata = Map::new();
    let usage = value.get("usage").cloned().unwrap_or(Value::Null);
    let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    let (prompt_tokens, completion_tokens) = (count("prompt_tokens"), count("completion_tokens"));
    for key in ["model", "id"] {
        if let Some(v) = value.get(key) {
            metadata.insert(key.into(), v.clone());
        }
    }
    if let Some(reason) = choice.get("finish_reason") {
        metadata.insert("finish_reason".into(), reason.clone());
    }
    if let Some(calls) = message.get("tool_calls").filter(|c| !c.is_null()) {
        metadata.insert("tool_calls".into(), calls.clone());
    }
    if !usage.is_null() {
        metadata.insert("usage".into(), usage);
    }
    Ok(Completion {
        text,
        prompt_tokens,
        completion_tokens,
        metadata,
    })
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

    fn call(messages: &str, kwargs: &str) -> EngineCall {
        EngineCall {
            call_id: 1,
            prompt: "the prompt".into(),
            messages_json: messages.into(),
            kwargs_json: kwargs.into(),
            ..Default::default()
        }
    }

    #[test]
    fn messages_and_passed_on_kwargs_form_the_body() {
        let c = call(
            r#"[{"role":"system","content":"s"},{"role":"user","content":"u"}]"#,
            r#"{"temperature": 0.2, "max_tokens": 5, "model": "other", "foo": 1}"#,
        );
        let p = prepare(&c, "gpt", "m", false).expect("prepared");
        assert_eq!(p.body["model"], json!("other"));
        assert_eq!(p.body["temperature"], json!(0.2));
        assert_eq!(p.body["messages"][1]["content"], json!("u"));
        assert!(!p.body.contains_key("foo"));
        assert_eq!(p.dropped, vec!["foo".to_string()]);
    }

    #[test]
    fn without_messages_the_prompt_is_the_user_message() {
        let p = prepare(&call("", ""), "gpt", "m", false).expect("prepared");
        assert_eq!(
            p.body["messages"],
            json!([{"role": "user", "content": "the prompt"}])
        );
        assert_eq!(p.body["model"], json!("m"));
    }

    #[test]
    fn strict_engines_reject_unknown_kwargs() {
        let err = prepare(&call("", r#"{"foo": 1}"#), "gpt", "m", true).expect_err("strict");
        assert_eq!(err.kind(), "unknown_kwarg");
        assert!(err.to_string().contains("\"foo\""));
    }

    #[test]
    fn extra_body_is_merged_but_cannot_replace_messages() {
        let c = call("", r#"{"extra_body": {"top_k": 4, "messages": []}}"#);
        let p = prepare(&c, "gpt", "m", true).expect("prepared");
        assert_eq!(p.body["top_k"], json!(4));
        assert_eq!(p.body["messages"][0]["content"], json!("the prompt"));
    }

    #[test]
    fn a_completion_yields_text_usage_and_metadata() {
        let body = json!({
            "id": "c1", "model": "m",
            "choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
        });
        let c = parse_completion(body.to_string().as_bytes()).expect("parsed");
        assert_eq!(
            (c.text.as_str(), c.prompt_tokens, c.completion_tokens),
            ("hi", 9, 2)
        );
        assert_eq!(c.metadata["usage"]["total_tokens"], json!(11));
        assert_eq!(c.metadata["finish_reason"], json!("stop"));
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
