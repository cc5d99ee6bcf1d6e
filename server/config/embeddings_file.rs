//! The `openai-embeddings` tables of the config file, and the fields only
//! they take (`max_inputs`, `max_request_tokens`).
//!
//! ```toml
//! [engines.embed]
//! kind = "openai-embeddings"            # POST {base_url}/embeddings
//! base_url = "https://api.openai.com/v1"
//! model = "text-embedding-3-small"
//! api_key_env = "OPENAI_API_KEY"
//! rpm = 3000                            # rpm, tpm, max_concurrency, max_retries,
//! max_inputs = 2048                     # timeout_s, strict as for openai
//! max_request_tokens = 300000
//! ```

use super::engine_table::{
    range_reason, FieldError, FileEngine, DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL,
};
use super::file::per_call_settings;
use crate::engine::openai_embeddings::{
    OpenAiEmbeddingsSettings, DEFAULT_MAX_REQUEST_TOKENS, MAX_INPUTS,
};

/// Default `model` of an openai-embeddings engine.
pub const DEFAULT_EMBEDDING_MODEL: &str = "text-embedding-3-small";

/// Reads and checks an openai-embeddings table.
pub(super) fn settings(
    engine: &FileEngine,
    max_concurrency: Option<usize>,
) -> Result<OpenAiEmbeddingsSettings, FieldError> {
    if engine.latency_ms.is_some() {
        return Err((
            "latency_ms",
            "is a setting of echo engines only".to_string(),
        ));
    }
    if engine.max_tokens.is_some() {
        return Err((
            "max_tokens",
            "is a setting of anthropic engines only (an embeddings request has no completion; \
             max_request_tokens caps the tokens of a request's inputs)"
                .to_string(),
        ));
    }
    let defaults = [
        DEFAULT_BASE_URL,
        DEFAULT_EMBEDDING_MODEL,
        DEFAULT_API_KEY_ENV,
    ];
    let http = per_call_settings(engine, max_concurrency, defaults)?;
    let max_inputs = match engine.max_inputs {
        None => MAX_INPUTS,
        Some(n) if (1..=MAX_INPUTS as u32).contains(&n) => n as usize,
        Some(n) => return Err(("max_inputs", range_reason(1, MAX_INPUTS as u64, n as u64))),
    };
    let max_request_tokens = match engine.max_request_tokens {
        None => DEFAULT_MAX_REQUEST_TOKENS,
        Some(0) => {
            return Err((
                "max_request_tokens",
                "must be at least 1 (leave it out for OpenAI's 300000)".to_string(),
            ))
        }
        Some(n) => n,
    };
    Ok(OpenAiEmbeddingsSettings {
        http,
        max_inputs,
        max_request_tokens,
    })
}

/// `max_inputs` and `max_request_tokens` are settings of openai-embeddings
/// engines only.
pub(super) fn reject_embedding_fields(engine: &FileEngine) -> Result<(), FieldError> {
    let only = [
        ("max_inputs", engine.max_inputs.is_some()),
        ("max_request_tokens", engine.max_request_tokens.is_some()),
    ];
    match only.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err((
            field,
            "is a setting of openai-embeddings engines only".to_string(),
        )),
        None => Ok(()),
    }
}
