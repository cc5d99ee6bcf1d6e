//! The worst case of a call: the most tokens its request may be billed for,
//! which a job with a spend cap reserves before the request is sent.
//!
//! - **Prompt.** For OpenAI models (those `tiktoken-rs` knows: o200k_base
//!   for gpt-4o, gpt-4.1, o-series; cl100k_base for gpt-4 and gpt-3.5) the
//!   request's messages are counted with the model's tokenizer, as OpenAI
//!   counts chat input: per message its role, name and content tokens plus
//!   4, plus 3 for the reply's priming; other body fields (`tools`,
//!   `response_format`, ...) are counted as the tokens of their JSON text.
//!   For every other model, and for a message part that is not text (an
//!   image), the bound is the bytes of the rendered request body: a token of
//!   a byte-level tokenizer stands for at least one byte of text, and the
//!   body holds every byte of the text plus the role and key names that
//!   stand for the chat format's own tokens. (An image given by URL is
//!   billed by its pixels, which no bound on the request can see.)
//! - **Completion.** The request's `max_completion_tokens` or `max_tokens`
//!   (the anthropic engine always sets one), else the model's output
//!   ceiling (`Pricing::max_output_tokens`: the built-in table, or
//!   `[engines.NAME.pricing] max_output_tokens`). A call with neither cannot
//!   be bounded.

use serde_json::{Map, Value};
use tiktoken_rs::CoreBPE;

use crate::pb::v1::EngineCall;

/// The most tokens a call may be billed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WorstCase {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Tokens OpenAI's chat format adds per message.
const TOKENS_PER_MESSAGE: u64 = 4;
/// Tokens OpenAI's chat format adds per request for the reply's priming.
const TOKENS_PER_REQUEST: u64 = 3;
/// Bytes counted for the framing of a call sent without a rendered body
/// (a connected engine): a chat message's role and keys, and the priming.
const FRAMING_BYTES: u64 = 64;

/// The worst case of a rendered request `body` for `model` whose output
/// ceiling is `ceiling`. Err: why it cannot be bounded.
pub(crate) fn of_body(
    body: &Map<String, Value>,
    model: &str,
    ceiling: Option<u64>,
) -> Result<WorstCase, String> {
    let completion_tokens = completion_of(body, model, ceiling)?;
    let prompt_tokens = tokenizer(model)
        .and_then(|bpe| counted_prompt(bpe, body))
        .unwrap_or_else(|| body_bytes(body));
    Ok(WorstCase {
        prompt_tokens,
        completion_tokens,
    })
}

/// The worst case of a call sent as it is (a connected engine renders its
/// own request): the bytes of its prompt, messages and kwargs, and the
/// completion its kwargs allow, else `ceiling`.
pub(crate) fn of_call(
    call: &EngineCall,
    model: &str,
    ceiling: Option<u64>,
) -> Result<WorstCase, String> {
    let kwargs = match serde_json::from_str::<Value>(&call.kwargs_json) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let completion_tokens = completion_of(&kwargs, model, ceiling)?;
    let bytes = call.prompt.len() + call.messages_json.len() + call.kwargs_json.len();
    Ok(WorstCase {
        prompt_tokens: bytes as u64 + FRAMING_BYTES,
        completion_tokens,
    })
}

/// The output tokens a request allows: its own limit, else `ceiling`.
fn completion_of(
    fields: &Map<String, Value>,
    model: &str,
    ceiling: Option<u64>,
) -> Result<u64, String> {
    ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|key| fields.get(*key).and_then(Value::as_u64))
        .or(ceiling)
        .ok_or_else(|| {
            format!(
                "the call sets no max_tokens and model {model:?} has no known output ceiling, \
                 so its cost cannot be bounded under the job's spend cap: set max_tokens in \
                 the call, or max_output_tokens in the engine's [engines.NAME.pricing]"
            )
        })
}

/// The tokenizer of an OpenAI model, if `tiktoken-rs` knows the model.
fn tokenizer(model: &str) -> Option<&'static CoreBPE> {
    tiktoken_rs::tokenizer::get_tokenizer(model)?;
    tiktoken_rs::bpe_for_model(model).ok()
}

/// The prompt tokens of a chat body counted with `bpe`; None when a
/// message holds a part that is not text.
fn counted_prompt(bpe: &CoreBPE, body: &Map<String, Value>) -> Option<u64> {
    let count = |text: &str| bpe.count_ordinary(text) as u64;
    let mut tokens = TOKENS_PER_REQUEST;
    for message in body.get("messages")?.as_array()? {
        tokens += TOKENS_PER_MESSAGE;
        for (key, value) in message.as_object()? {
            tokens += match (key.as_str(), value) {
                ("content", content) => content_tokens(content, &count)?,
                (_, Value::String(text)) => count(text) + 1,
                (_, other) => count(&other.to_string()),
            };
        }
    }
    for (key, value) in body {
        if key != "messages" {
            tokens += count(key) + count(&value.to_string());
        }
    }
    Some(tokens)
}

/// Tokens of a message's content: a string, or a list of text parts.
fn content_tokens(content: &Value, count: &impl Fn(&str) -> u64) -> Option<u64> {
    match content {
        Value::String(text) => Some(count(text)),
        Value::Null => Some(0),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match part.get("type").and_then(Value::as_str) {
                Some("text") => part.get("text").and_then(Value::as_str).map(count),
                _ => None,
            })
            .sum(),
        _ => None,
    }
}

fn body_bytes(body: &Map<String, Value>) -> u64 {
    Value::Object(body.clone()).to_string().len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn openai_prompts_are_counted_with_the_models_tokenizer() {
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(20);
        let b = body(json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}],
            "max_tokens": 50
        }));
        let worst = of_body(&b, "gpt-4o-mini", Some(16_384)).expect("bounded");
        assert_eq!(worst.completion_tokens, 50);
        let bpe = tiktoken_rs::o200k_base_singleton();
        let content = bpe.count_ordinary(&text) as u64 + bpe.count_ordinary("Be brief.") as u64;
        assert!(worst.prompt_tokens > content, "{worst:?} vs {content}");
        // Counted, not bounded by bytes: far below the text's length.
        assert!(worst.prompt_tokens < content + 40, "{worst:?} vs {content}");
        assert!(worst.prompt_tokens < body_bytes(&b) / 3);
    }

    #[test]
    fn other_models_are_bounded_by_the_bytes_of_the_request() {
        let b = body(json!({
            "model": "claude-sonnet-4-5",
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "héllo wörld"}],
            "max_tokens": 4096
        }));
        let worst = of_body(&b, "claude-sonnet-4-5", Some(64_000)).expect("bounded");
        assert_eq!(worst.prompt_tokens, body_bytes(&b));
        assert_eq!(worst.completion_tokens, 4096);
    }

    #[test]
    fn an_image_part_falls_back_to_the_byte_bound() {
        let b = body(json!({
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
            ]}]
        }));
        let worst = of_body(&b, "gpt-4o", Some(16_384)).expect("bounded");
        assert_eq!(worst.prompt_tokens, body_bytes(&b));
        assert_eq!(worst.completion_tokens, 16_384, "the model's ceiling");
    }

    #[test]
    fn without_max_tokens_or_a_ceiling_the_call_cannot_be_bounded() {
        let b = body(json!({"model": "my-model", "messages": []}));
        let err = of_body(&b, "my-model", None).expect_err("unbounded");
        assert!(
            err.contains("max_tokens") && err.contains("my-model"),
            "{err}"
        );
        let call = EngineCall {
            prompt: "abc".into(),
            kwargs_json: r#"{"max_completion_tokens": 7}"#.into(),
            ..Default::default()
        };
        let worst = of_call(&call, "my-model", None).expect("bounded by kwargs");
        assert_eq!(worst.completion_tokens, 7);
        assert_eq!(
            worst.prompt_tokens,
            3 + call.kwargs_json.len() as u64 + FRAMING_BYTES
        );
    }
}
