//! One `[engines.NAME]` table of the config file as written, and the
//! checks that every engine kind's table shares (its endpoint, its prices,
//! a timeout, a range). [`super::file`] reads the file and checks the
//! openai, anthropic and echo tables; [`super::batch_file`] the
//! openai-batch and anthropic-batch ones.

use std::time::Duration;

use serde::Deserialize;

use super::read_api_key;
use crate::cost::pricing::DEFAULT_BATCH_DISCOUNT;
use crate::cost::Pricing;

/// Default `base_url` of an openai engine.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Default `model` of an openai engine.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// Default `api_key_env` of an openai engine.
pub const DEFAULT_API_KEY_ENV: &str = "OPENAI_API_KEY";
/// Default `max_retries` of an openai engine.
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// Default `timeout_s` of an openai engine (per request).
pub const DEFAULT_TIMEOUT_S: f64 = 60.0;
/// Longest `timeout_s`.
const MAX_TIMEOUT_S: f64 = 3600.0;

/// One `[engines.NAME]` table. Fields that do not apply to its kind are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileEngine {
    /// "openai" (OpenAI-compatible HTTP), "openai-batch" (its Batch API),
    /// "anthropic" (Messages API), "anthropic-batch" (Message Batches) or
    /// "echo".
    pub(super) kind: FileKind,
    /// openai: base URL before `/chat/completions` (default OpenAI's).
    pub(super) base_url: Option<String>,
    /// openai: model used when a call names none (default gpt-4o-mini).
    pub(super) model: Option<String>,
    /// openai: environment variable holding the API key (default
    /// OPENAI_API_KEY; "" for none).
    pub(super) api_key_env: Option<String>,
    /// openai: requests per minute (default unlimited).
    pub(super) rpm: Option<u32>,
    /// openai: tokens per minute (default unlimited).
    pub(super) tpm: Option<u64>,
    /// openai: requests at once (default: no cap, so as many as the slots
    /// make, until 429s cut it); echo: batches at once (default 1).
    pub(super) max_concurrency: Option<u32>,
    /// openai: retries after 429, 5xx, timeouts, connection errors (default 5).
    pub(super) max_retries: Option<u32>,
    /// openai: time limit of one request in seconds (default 60).
    pub(super) timeout_s: Option<f64>,
    /// Largest batch formed for this engine (default 4096, no cap).
    pub(super) max_batch_size: Option<u32>,
    /// openai: fail calls with kwargs it does not pass on (default false: drop them).
    pub(super) strict: Option<bool>,
    /// echo: simulated latency per batch in ms (default 0).
    pub(super) latency_ms: Option<u64>,
    /// openai-batch: the batch's completion window (default "24h").
    pub(super) completion_window: Option<String>,
    /// openai-batch: first wait between polls of a batch, in ms (default 10000).
    pub(super) poll_interval_ms: Option<u64>,
    /// openai-batch: longest wait between polls, in ms (default 300000).
    pub(super) poll_max_interval_ms: Option<u64>,
    /// openai-batch: requests per batch file (default and most 50000).
    pub(super) max_requests_per_batch: Option<u32>,
    /// openai-batch: bytes per batch file (default and most 200000000).
    pub(super) max_file_bytes: Option<u64>,
    /// anthropic-batch: bytes per batch (default and most 256000000).
    pub(super) max_batch_bytes: Option<u64>,
    /// openai-batch: longest wait of a call for its batch to fill, in ms,
    /// unless every running item is parked sooner (default 600000).
    pub(super) max_queue_delay_ms: Option<u64>,
    /// anthropic, anthropic-batch: `max_tokens` of a call that sets none
    /// (default 4096).
    pub(super) max_tokens: Option<u32>,
    /// openai-embeddings: inputs of one request at most (default and most 2048).
    pub(super) max_inputs: Option<u32>,
    /// openai-embeddings: estimated tokens of one request's inputs at most
    /// (default 300000).
    pub(super) max_request_tokens: Option<u64>,
    /// openai-batch, anthropic-batch: an online engine of the provider
    /// (kind openai, anthropic) for requests that expired or failed for a
    /// passing reason (default: none, they go into the next batch).
    pub(super) fallback: Option<String>,
    /// Provider-batch engines, deadlines (`batch_deadline`): the turnaround
    /// planned with before a batch completed, the margin kept before a
    /// deadline, the longest wait for a hedged batch, the time of one
    /// online request; in ms.
    pub(super) turnaround_guess_ms: Option<u64>,
    pub(super) deadline_margin_ms: Option<u64>,
    pub(super) cancel_wait_ms: Option<u64>,
    pub(super) online_latency_ms: Option<u64>,
    /// Prices of the engine's calls (default: the built-in table by model;
    /// a model in neither has no cost).
    pub(super) pricing: Option<FilePricing>,
}

/// One `[engines.NAME.pricing]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePricing {
    /// US dollars per million prompt tokens.
    input_per_million: f64,
    /// US dollars per million completion tokens.
    output_per_million: f64,
    /// Share of the price taken off at the batch price, 0..=1 (default 0.5).
    batch_discount: Option<f64>,
    /// The most output tokens one reply may have: what a spend cap
    /// reserves for a call that sets no `max_tokens` (default: the built-in
    /// table's ceiling of the model, if it has one).
    max_output_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum FileKind {
    Openai,
    Echo,
    #[serde(rename = "openai-batch")]
    OpenaiBatch,
    Anthropic,
    #[serde(rename = "anthropic-batch")]
    AnthropicBatch,
    #[serde(rename = "openai-embeddings")]
    OpenaiEmbeddings,
}

/// A field error: (field within the engine table, reason).
pub(super) type FieldError = (&'static str, String);

pub(super) fn check_pricing(pricing: &FilePricing) -> Result<Pricing, FieldError> {
    let price = |field: &'static str, value: f64| {
        if value.is_finite() && value >= 0.0 {
            Ok(value)
        } else {
            Err((
                field,
                format!("must be a number of US dollars >= 0, got {value}"),
            ))
        }
    };
    let discount = pricing.batch_discount.unwrap_or(DEFAULT_BATCH_DISCOUNT);
    if !(0.0..=1.0).contains(&discount) {
        return Err((
            "pricing.batch_discount",
            format!("must be a share between 0 and 1, got {discount}"),
        ));
    }
    if pricing.max_output_tokens == Some(0) {
        return Err((
            "pricing.max_output_tokens",
            "must be at least 1 token".to_string(),
        ));
    }
    Ok(Pricing::new(
        price("pricing.input_per_million", pricing.input_per_million)?,
        price("pricing.output_per_million", pricing.output_per_million)?,
        discount,
    )
    .with_max_output_tokens(pricing.max_output_tokens))
}

/// The endpoint settings that every OpenAI-style engine kind shares.
pub(super) struct Endpoint {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<crate::engine::openai::ApiKey>,
}

/// Reads and checks `base_url`, `model` and `api_key_env` of an engine
/// table, with the kind's defaults of each.
pub(super) fn endpoint_or(
    engine: &FileEngine,
    defaults: [&str; 3],
) -> Result<Endpoint, FieldError> {
    let [base_url, model, api_key_env] = defaults;
    let base_url = check_base_url(engine.base_url.as_deref().unwrap_or(base_url))
        .map_err(|r| ("base_url", r))?;
    let model = engine.model.clone().unwrap_or_else(|| model.to_string());
    if model.trim().is_empty() {
        return Err(("model", "must not be empty".to_string()));
    }
    let api_key = read_api_key(engine.api_key_env.as_deref().unwrap_or(api_key_env))
        .map_err(|r| ("api_key_env", r))?;
    Ok(Endpoint {
        base_url,
        model,
        api_key,
    })
}

/// `max_tokens` is a setting of anthropic engines only.
pub(super) fn reject_max_tokens(engine: &FileEngine) -> Result<(), FieldError> {
    match engine.max_tokens {
        Some(_) => Err((
            "max_tokens",
            "is a setting of anthropic engines only (give it per call as a kwarg)".to_string(),
        )),
        None => Ok(()),
    }
}

pub(super) fn range_reason(min: u64, max: u64, got: u64) -> String {
    format!("must be between {min} and {max}, got {got}")
}

/// A base URL without its trailing slash; http or https only.
pub(crate) fn check_base_url(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed).map_err(|err| format!("{raw:?} is not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{raw:?} must start with http:// or https://"));
    }
    if url.host_str().is_none() {
        return Err(format!("{raw:?} has no host"));
    }
    Ok(trimmed.to_string())
}

/// A per-request timeout in seconds: finite, above 0, at most an hour.
pub(crate) fn check_timeout(seconds: f64) -> Result<Duration, String> {
    if seconds.is_finite() && seconds > 0.0 && seconds <= MAX_TIMEOUT_S {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(format!(
            "must be above 0 and at most {MAX_TIMEOUT_S}, got {seconds}"
        ))
    }
}
