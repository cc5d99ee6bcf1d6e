//! Chat-completions requests and responses: an `EngineCall` becomes a request
//! body, a response body becomes the reply text and its metadata.
//!
//! Request kwargs (see `http::request`): `model`, the parameters in
//! [`PASSED_ON`], and `extra_body` (vLLM's `top_k`, ...).

use serde_json::{Map, Value};

use crate::engine::http::error::CallError;
use crate::engine::http::request::json_body;
use crate::engine::http::request::{apply_kwargs, KwargRules};
pub use crate::engine::http::request::{Completion, Prepared};
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

/// How the openai engine takes a call's kwargs.
const RULES: KwargRules = KwargRules {
    passed_on: PASSED_ON,
    renamed: &[],
};

/// Builds the request body of `call` for the engine `engine` whose default
/// model is `model`.
pub fn prepare(
    call: &EngineCall,
    engine: &str,
    model: &str,
    strict: bool,
) -> Result<Prepared, CallError> {
    let messages = messages_of(call)?;
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_string()));
    body.insert("messages".into(), Value::Array(messages));
    let dropped = apply_kwargs(&mut body, call, engine, strict, &RULES)?;
    Ok(Prepared { body, dropped })
}

/// The call's chat messages, or one user message holding its prompt.
fn messages_of(call: &EngineCall) -> Result<Vec<Value>, CallError> {
    if !call.messages_json.trim().is_empty() {
        match serde_json::from_str::<Value>(&call.messages_json) {
            Ok(Value::Array(messages)) if !messages.is_empty() => return Ok(messages),
            Ok(Value::Array(_)) => {}
            _ => {
                return Err(CallError::InvalidCall {
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

/// Reads a chat-completions response body; the error is a description.
pub fn parse_completion(body: &[u8]) -> Result<Completion, String> {
    let value = json_body(body)?;
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
    let usage = value.get("usage").cloned().unwrap_or(Value::Null);
    let keys = ["prompt_tokens", "completion_tokens"];
    Ok(Completion::counted(text, metadata, usage, keys))
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
}
