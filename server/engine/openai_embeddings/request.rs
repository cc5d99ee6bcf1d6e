//! Embeddings requests and responses (`POST {base_url}/embeddings`): an
//! embedding call becomes a request body, a response body becomes one
//! vector per input with the response's usage.
//!
//! Request: `{"model", "input": [texts], ...passed-on kwargs}` (the kwargs
//! rules of `http::request`: `model`, [`PASSED_ON`], `extra_body`).
//! Response: `{"data": [{"embedding": [numbers], "index": i}], "model",
//! "usage": {"prompt_tokens", "total_tokens"}}`; vectors are put in
//! `index` order.

use serde_json::{Map, Value};

use crate::engine::http::error::CallError;
use crate::engine::http::request::{apply_kwargs, json_body, KwargRules};
pub use crate::engine::http::request::{Completion, Prepared};
use crate::pb::v1::EngineCall;

/// Inputs of one embeddings request at most (OpenAI's limit), and of one
/// call.
pub const MAX_INPUTS: usize = 2048;

/// Request kwargs passed on to the body unchanged. symai's `new_dim` is not
/// one: symai cuts vectors in the caller's process, and so does the client.
pub const PASSED_ON: &[&str] = &["dimensions", "user"];

const RULES: KwargRules = KwargRules {
    passed_on: PASSED_ON,
    renamed: &[],
};

/// Builds the request body of embedding `call` for the engine `engine`
/// whose default model is `model`.
pub fn prepare(
    call: &EngineCall,
    engine: &str,
    model: &str,
    strict: bool,
) -> Result<Prepared, CallError> {
    if call.inputs.is_empty() || call.inputs.len() > MAX_INPUTS {
        return Err(CallError::InvalidCall {
            field: "inputs",
            reason: format!(
                "an embedding call holds 1 to {MAX_INPUTS} texts, got {}",
                call.inputs.len()
            ),
        });
    }
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_string()));
    let inputs = call.inputs.iter().cloned().map(Value::String).collect();
    body.insert("input".into(), Value::Array(inputs));
    let dropped = apply_kwargs(&mut body, call, engine, strict, &RULES)?;
    Ok(Prepared { body, dropped })
}

/// Tokens of one input as charged before the request: one per 4 bytes of
/// UTF-8, rounded up (the chat estimate's rule), at least 1.
pub fn input_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4).max(1)
}

/// The estimate of a whole body: its inputs' tokens (embeddings have no
/// completion).
pub fn estimate(body: &Map<String, Value>) -> u64 {
    body.get("input")
        .and_then(Value::as_array)
        .map(|inputs| {
            inputs
                .iter()
                .map(|v| input_tokens(v.as_str().unwrap_or_default()))
                .sum()
        })
        .unwrap_or(0)
}

/// Reads an embeddings response body; the error is a description.
pub fn parse_embeddings(body: &[u8]) -> Result<Completion, String> {
    let value = json_body(body)?;
    let data = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or("no data list in the response")?;
    let mut indexed = Vec::with_capacity(data.len());
    for (position, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        let vector = item
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                format!(
                    "data[{position}].embedding is not a list of numbers (the engine asks for \
                     encoding_format \"float\", the default)"
                )
            })?
            .iter()
            .map(Value::as_f64)
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| {
                format!("data[{position}].embedding holds a value that is not a number")
            })?;
        indexed.push((index, vector));
    }
    indexed.sort_by_key(|(index, _)| *index);
    if indexed
        .iter()
        .enumerate()
        .any(|(i, (index, _))| *index != i as u64)
    {
        return Err("the data indexes are not 0..n, each once".to_string());
    }
    let mut metadata = Map::new();
    if let Some(model) = value.get("model") {
        metadata.insert("model".into(), model.clone());
    }
    let usage = value.get("usage").cloned().unwrap_or(Value::Null);
    let mut completion = Completion::counted(
        String::new(),
        metadata,
        usage,
        ["prompt_tokens", "completion_tokens"],
    );
    completion.embeddings = Some(indexed.into_iter().map(|(_, v)| v).collect());
    Ok(completion)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(inputs: &[&str], kwargs: &str) -> EngineCall {
        EngineCall {
            call_id: 1,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            kwargs_json: kwargs.into(),
            ..Default::default()
        }
    }

    #[test]
    fn inputs_model_and_passed_on_kwargs_form_the_body() {
        let c = call(
            &["a", "bb"],
            r#"{"dimensions": 8, "new_dim": 4, "model": "e-2"}"#,
        );
        let p = prepare(&c, "emb", "e-1", false).expect("prepared");
        assert_eq!(p.body["input"], json!(["a", "bb"]));
        assert_eq!(p.body["model"], json!("e-2"));
        assert_eq!(p.body["dimensions"], json!(8));
        assert_eq!(p.dropped, vec!["new_dim".to_string()]);
        assert_eq!(estimate(&p.body), 2);
    }

    #[test]
    fn a_call_without_inputs_or_with_too_many_names_the_limit() {
        let err = prepare(&call(&[], ""), "emb", "m", false).expect_err("empty");
        assert!(err.to_string().contains("1 to 2048"), "{err}");
        let many: Vec<&str> = vec!["x"; MAX_INPUTS + 1];
        let err = prepare(&call(&many, ""), "emb", "m", false).expect_err("too many");
        assert!(err.to_string().contains("got 2049"), "{err}");
    }

    #[test]
    fn vectors_come_back_in_index_order_with_usage() {
        let body = json!({
            "object": "list", "model": "e-1",
            "data": [
                {"object": "embedding", "index": 1, "embedding": [0.5, -1.25]},
                {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}
            ],
            "usage": {"prompt_tokens": 7, "total_tokens": 7}
        });
        let c = parse_embeddings(body.to_string().as_bytes()).expect("parsed");
        assert_eq!(c.embeddings, Some(vec![vec![0.1, 0.2], vec![0.5, -1.25]]));
        assert_eq!((c.prompt_tokens, c.completion_tokens), (7, 0));
        assert_eq!(c.metadata["model"], json!("e-1"));
    }

    #[test]
    fn a_base64_or_gapped_response_is_refused() {
        let b64 = json!({"data": [{"index": 0, "embedding": "AAAA"}]});
        let err = parse_embeddings(b64.to_string().as_bytes()).expect_err("base64");
        assert!(err.contains("encoding_format"), "{err}");
        let gap = json!({"data": [{"index": 1, "embedding": [1.0]}]});
        assert!(parse_embeddings(gap.to_string().as_bytes()).is_err());
    }
}
