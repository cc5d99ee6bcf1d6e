//! The token estimate a request is charged against `tpm` before it is sent.
//! After the response, the charge is corrected to the `usage` the provider
//! reports, so the estimate only decides how far ahead of the limit the
//! engine may get, never the long-run rate.
//!
//! The estimate, documented in docs/engines.md:
//! - prompt: one token per 4 bytes of UTF-8 message content (rounded up; 4
//!   bytes is about one token of English text, and CJK text, at 3 bytes a
//!   character, comes out near one token per character), plus 4 tokens per
//!   message and 3 for the reply's priming, as OpenAI's chat format adds;
//!   an Anthropic body's top-level `system` counts as one more message;
//! - completion: the request's `max_completion_tokens` or `max_tokens` when
//!   set (OpenAI charges that much up front too), else
//!   [`DEFAULT_COMPLETION_ESTIMATE`].

use serde_json::Value;

/// Completion tokens assumed for a request that sets no `max_tokens`.
pub const DEFAULT_COMPLETION_ESTIMATE: u64 = 256;
/// Tokens added per chat message.
const TOKENS_PER_MESSAGE: u64 = 4;
/// Tokens added per request for the reply's priming.
const TOKENS_PER_REQUEST: u64 = 3;

/// The estimated tokens (prompt + completion) of a chat body: OpenAI's
/// chat completions, or Anthropic's messages (with `system`).
pub fn estimate(body: &serde_json::Map<String, Value>) -> u64 {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let content_tokens = |content: Option<&Value>| {
        let bytes = match content {
            Some(Value::String(text)) => text.len(),
            Some(Value::Null) | None => 0,
            Some(other) => other.to_string().len(),
        };
        (bytes as u64).div_ceil(4) + TOKENS_PER_MESSAGE
    };
    let system = body
        .get("system")
        .map_or(0, |system| content_tokens(Some(system)));
    let prompt: u64 = messages
        .iter()
        .map(|message| content_tokens(message.get("content")))
        .sum::<u64>()
        + system;
    let completion = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|key| body.get(*key).and_then(Value::as_u64))
        .unwrap_or(DEFAULT_COMPLETION_ESTIMATE);
    prompt + TOKENS_PER_REQUEST + completion
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn prompt_bytes_over_four_plus_framing_plus_completion() {
        let b = body(json!({
            "messages": [{"role": "system", "content": "12345678"}, {"role": "user", "content": "abc"}],
            "max_tokens": 10
        }));
        // 8/4 + 4 + ceil(3/4) + 4 + 3 + 10
        assert_eq!(estimate(&b), 2 + 4 + 1 + 4 + 3 + 10);
    }

    #[test]
    fn an_anthropic_system_field_counts_as_a_message() {
        let b = body(json!({
            "system": "12345678",
            "messages": [{"role": "user", "content": "abc"}],
            "max_tokens": 10
        }));
        assert_eq!(estimate(&b), 2 + 4 + 1 + 4 + 3 + 10);
    }

    #[test]
    fn without_max_tokens_the_default_completion_is_assumed() {
        let b = body(json!({"messages": [{"role": "user", "content": ""}]}));
        assert_eq!(estimate(&b), 4 + 3 + DEFAULT_COMPLETION_ESTIMATE);
    }
}
