//! Messages API requests and responses: an `EngineCall` becomes a
//! `POST /v1/messages` body, a response body becomes the reply text and its
//! metadata.
//!
//! symai renders a call as OpenAI-style chat messages. They map onto
//! Anthropic's body so:
//! - every `system` (or `developer`) message goes into the top-level
//!   `system` field, their texts joined by a blank line, in order;
//! - `user` and `assistant` messages stay in `messages`, in order; a
//!   content list keeps its `text` parts, and an `image_url` part becomes an
//!   `image` block (`base64` for a `data:` URL, else `url`); parts already
//!   in Anthropic's shape pass as they are;
//! - a call without messages (or with only system messages) sends its
//!   prompt as the one user message.
//!
//! Request kwargs (see `http::request`): `model`, the parameters in
//! [`PASSED_ON`], `stop` as `stop_sequences` and `max_completion_tokens` as
//! `max_tokens`, and `extra_body`. `max_tokens`, which Anthropic requires,
//! is the engine's default when the call sets none.

use serde_json::{json, Map, Value};

use crate::engine::http::error::CallError;
use crate::engine::http::request::{
    apply_kwargs, error_message, json_body, Completion, KwargRules, Prepared,
};
use crate::pb::v1::EngineCall;

/// Request kwargs passed on to the body unchanged.
pub const PASSED_ON: &[&str] = &[
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "metadata",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
];

/// How the anthropic engine takes a call's kwargs.
const RULES: KwargRules = KwargRules {
    passed_on: PASSED_ON,
    renamed: &[
        ("stop", "stop_sequences"),
        ("max_completion_tokens", "max_tokens"),
    ],
};

/// Builds the body of `call` for the engine `engine`, whose default model
/// is `model` and default `max_tokens` is `max_tokens`.
pub fn prepare(
    call: &EngineCall,
    engine: &str,
    model: &str,
    max_tokens: u32,
    strict: bool,
) -> Result<Prepared, CallError> {
    let (system, messages) = split_messages(call)?;
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_string()));
    if let Some(system) = system {
        body.insert("system".into(), Value::String(system));
    }
    body.insert("messages".into(), Value::Array(messages));
    let dropped = apply_kwargs(&mut body, call, engine, strict, &RULES)?;
    body.entry("max_tokens").or_insert(max_tokens.into());
    // OpenAI's `stop` may be one string; Anthropic wants a list.
    if let Some(Value::String(stop)) = body.get("stop_sequences") {
        let list = json!([stop]);
        body.insert("stop_sequences".into(), list);
    }
    Ok(Prepared { body, dropped })
}

/// The call's system text (None when it has none) and its user and
/// assistant messages in Anthropic's shape.
fn split_messages(call: &EngineCall) -> Result<(Option<String>, Vec<Value>), CallError> {
    let invalid = |reason: String| CallError::InvalidCall {
        field: "messages_json",
        reason,
    };
    let rendered = match call.messages_json.trim() {
        "" => Vec::new(),
        text => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(messages)) => messages,
            _ => return Err(invalid("must be a JSON list of chat messages".into())),
        },
    };
    let mut system = Vec::new();
    let mut messages = Vec::new();
    for message in rendered {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        let content = message.get("content").cloned().unwrap_or(Value::Null);
        match role {
            "system" | "developer" => system.push(text_of(&content)),
            "user" | "assistant" => {
                messages.push(json!({"role": role, "content": content_blocks(content)}));
            }
            other => {
                return Err(invalid(format!(
                    "a message of role {other:?}: Anthropic's messages are user or assistant \
                     (system messages go into `system`)"
                )))
            }
        }
    }
    if messages.is_empty() {
        messages.push(json!({"role": "user", "content": call.prompt}));
    }
    let system = system.join("\n\n");
    Ok(((!system.is_empty()).then_some(system), messages))
}

/// The text of a message's content: a string, or its text parts joined.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| match part {
                Value::String(text) => Some(text.as_str()),
                _ => part.get("text").and_then(Value::as_str),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// A message's content in Anthropic's shape: a string as it is, a list with
/// OpenAI's `image_url` parts turned into `image` blocks.
fn content_blocks(content: Value) -> Value {
    match content {
        Value::Array(parts) => Value::Array(parts.into_iter().map(block_of).collect()),
        Value::Null => Value::String(String::new()),
        other => other,
    }
}

fn block_of(part: Value) -> Value {
    if let Value::String(text) = part {
        return json!({"type": "text", "text": text});
    }
    if part.get("type").and_then(Value::as_str) != Some("image_url") {
        return part;
    }
    let url = part
        .pointer("/image_url/url")
        .or_else(|| part.get("image_url"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let data_url = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"));
    match data_url {
        Some((media_type, data)) => json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data}
        }),
        None => json!({"type": "image", "source": {"type": "url", "url": url}}),
    }
}

/// Reads a Messages API response body; the error is a description.
pub fn parse_message(body: &[u8]) -> Result<Completion, String> {
    let value = json_body(body)?;
    let blocks = value
        .get("content")
        .and_then(Value::as_array)
        .ok_or("no content in the response")?;
    let text: String = blocks
        .iter()
        .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect();
    let mut metadata = Map::new();
    for key in ["model", "id", "stop_reason", "stop_sequence"] {
        if let Some(v) = value.get(key).filter(|v| !v.is_null()) {
            metadata.insert(key.into(), v.clone());
        }
    }
    if let Some(reason) = value.get("stop_reason").and_then(Value::as_str) {
        metadata.insert("finish_reason".into(), finish_reason(reason).into());
    }
    let tool_uses: Vec<Value> = blocks
        .iter()
        .filter(|block| block.get("type").and_then(Value::as_str) == Some("tool_use"))
        .cloned()
        .collect();
    if !tool_uses.is_empty() {
        metadata.insert("tool_calls".into(), Value::Array(tool_uses));
    }
    let usage = value.get("usage").cloned().unwrap_or(Value::Null);
    let keys = ["input_tokens", "output_tokens"];
    Ok(Completion::counted(text, metadata, usage, keys))
}

/// Anthropic's `stop_reason` in OpenAI's `finish_reason` terms, which symai
/// and the other engines use; a reason without a counterpart stays as it is.
fn finish_reason(stop_reason: &str) -> &str {
    match stop_reason {
        "end_turn" | "stop_sequence" => "stop",
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        other => other,
    }
}

/// The provider's message of an error body (`{"type": "error", "error":
/// {"type": ..., "message": ...}}`), led by its error type.
pub fn anthropic_error_message(body: &[u8], scrub: &dyn Fn(&str) -> String) -> String {
    let message = error_message(body, scrub);
    let kind = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| {
            value
                .pointer("/error/type")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    match kind {
        Some(kind) if !kind.is_empty() => format!("{kind}: {message}"),
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(messages: Value, kwargs: &str) -> EngineCall {
        EngineCall {
            call_id: 1,
            prompt: "the prompt".into(),
            messages_json: if messages.is_null() {
                String::new()
            } else {
                messages.to_string()
            },
            kwargs_json: kwargs.into(),
            ..Default::default()
        }
    }

    #[test]
    fn system_messages_go_into_system_and_the_rest_stay_in_order() {
        let c = call(
            json!([
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1"},
                {"role": "developer", "content": [{"type": "text", "text": "in English"}]},
                {"role": "user", "content": "q2"}
            ]),
            r#"{"temperature": 0.2, "stop": "END", "seed": 3}"#,
        );
        let p = prepare(&c, "claude", "m", 4096, false).expect("prepared");
        assert_eq!(p.body["system"], json!("be brief\n\nin English"));
        assert_eq!(
            p.body["messages"],
            json!([
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1"},
                {"role": "user", "content": "q2"}
            ])
        );
        assert_eq!(p.body["max_tokens"], json!(4096));
        assert_eq!(p.body["stop_sequences"], json!(["END"]));
        assert_eq!(p.body["temperature"], json!(0.2));
        assert_eq!(p.dropped, vec!["seed".to_string()]);
    }

    #[test]
    fn without_messages_the_prompt_is_the_user_message_and_kwargs_set_max_tokens() {
        let p = prepare(
            &call(Value::Null, r#"{"max_tokens": 50, "model": "x"}"#),
            "c",
            "m",
            4096,
            true,
        )
        .expect("prepared");
        assert_eq!(
            p.body["messages"],
            json!([{"role": "user", "content": "the prompt"}])
        );
        assert!(!p.body.contains_key("system"));
        assert_eq!(
            (p.body["max_tokens"].clone(), p.body["model"].clone()),
            (json!(50), json!("x"))
        );
        let only_system = call(json!([{"role": "system", "content": "s"}]), "");
        let p = prepare(&only_system, "c", "m", 9, false).expect("prepared");
        assert_eq!(p.body["system"], json!("s"));
        assert_eq!(p.body["messages"][0]["content"], json!("the prompt"));
    }

    #[test]
    fn image_parts_become_image_blocks_and_unknown_roles_fail() {
        let c = call(
            json!([{"role": "user", "content": [
                {"type": "text", "text": "what is it?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.jpg"}}
            ]}]),
            "",
        );
        let p = prepare(&c, "c", "m", 9, false).expect("prepared");
        let blocks = &p.body["messages"][0]["content"];
        assert_eq!(blocks[0], json!({"type": "text", "text": "what is it?"}));
        assert_eq!(
            blocks[1]["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "AAAA"})
        );
        assert_eq!(
            blocks[2]["source"],
            json!({"type": "url", "url": "https://x/y.jpg"})
        );
        let err = prepare(
            &call(json!([{"role": "tool", "content": "x"}]), ""),
            "c",
            "m",
            9,
            false,
        )
        .expect_err("a tool message");
        assert_eq!(err.kind(), "invalid_call");
    }

    #[test]
    fn a_message_yields_its_text_blocks_usage_and_stop_reason() {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": ", world"}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 3}
        });
        let c = parse_message(body.to_string().as_bytes()).expect("parsed");
        assert_eq!(
            (c.text.as_str(), c.prompt_tokens, c.completion_tokens),
            ("Hello, world", 12, 3)
        );
        assert_eq!(c.metadata["stop_reason"], json!("end_turn"));
        assert_eq!(c.metadata["finish_reason"], json!("stop"));
        assert_eq!(c.metadata["model"], json!("claude-x"));
        assert!(!c.metadata.contains_key("stop_sequence"));
        assert!(parse_message(b"{\"type\": \"message\"}").is_err());
    }

    #[test]
    fn error_messages_carry_the_error_type() {
        let body =
            br#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#;
        assert_eq!(
            anthropic_error_message(body, &str::to_string),
            "overloaded_error: Overloaded"
        );
        assert_eq!(anthropic_error_message(b"oops", &str::to_string), "oops");
    }
}
