//! The `openai` engine: any OpenAI-compatible chat-completions API (OpenAI,
//! vLLM, llama.cpp server, Ollama, OpenRouter).
//!
//! Every call of an engine batch is its own `POST {base_url}/chat/completions`
//! (see `http::per_call`, which this engine shares with `anthropic`). Here:
//! the settings, the `Authorization: Bearer` header, the `x-ratelimit-*`
//! headers, and (`request`) call → request body, response → reply.

pub(crate) mod request;

use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::RequestBuilder;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use super::http::error::CallError as OpenAiError;
pub use super::http::limiter;
use super::http::per_call::{Endpoint, PerCallEngine, PerCallSettings, Provider};
use super::http::request::{Completion, Prepared};
pub(crate) use super::http::retry;
pub use super::http::ApiKey;
use crate::pb::v1::EngineCall;
use retry::RateLimitHeaders;

/// Settings of one openai engine (see docs/engines.md); the API key goes
/// out as `Authorization: Bearer ...`.
pub type OpenAiSettings = PerCallSettings;

/// Handle to an openai engine. Cheap to clone.
pub type OpenAiEngine = PerCallEngine<OpenAi>;

/// `request` with `Authorization: Bearer <key>` when there is a key, as the
/// OpenAI API (and every compatible one) takes it.
pub(crate) fn bearer(request: RequestBuilder, key: Option<&ApiKey>) -> RequestBuilder {
    match key.and_then(ApiKey::header) {
        Some(value) => request.header(AUTHORIZATION, value),
        None => request,
    }
}

/// What the openai engine sends and reads (see [`Provider`]).
#[derive(Debug)]
pub struct OpenAi {
    model: String,
    strict: bool,
}

impl OpenAi {
    /// The provider of requests for `model` (the default), `strict` or not.
    pub fn new(model: &str, strict: bool) -> Self {
        OpenAi {
            model: model.to_string(),
            strict,
        }
    }
}

impl Provider for OpenAi {
    const KIND: &'static str = "openai";

    fn prepare(&self, call: &EngineCall, engine: &str) -> Result<Prepared, OpenAiError> {
        request::prepare(call, engine, &self.model, self.strict)
    }

    fn headers(&self, request: RequestBuilder, key: Option<&ApiKey>) -> RequestBuilder {
        bearer(request, key)
    }

    fn rate_limits(&self, headers: &HeaderMap) -> RateLimitHeaders {
        RateLimitHeaders::from_headers(headers)
    }

    fn parse_reply(&self, body: &[u8]) -> Result<Completion, String> {
        request::parse_completion(body)
    }
}

impl PerCallEngine<OpenAi> {
    /// Builds the engine and starts its limiter (stopped by `cancel`).
    pub fn new(
        name: &str,
        settings: OpenAiSettings,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, reqwest::Error> {
        let provider = OpenAi::new(&settings.model, settings.strict);
        let endpoint = Endpoint::post(format!("{}/chat/completions", settings.base_url));
        PerCallEngine::start(name, provider, endpoint, settings, cancel, tracker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_redacted_in_settings_debug_output() {
        let settings = OpenAiSettings {
            api_key: Some(ApiKey::new("sk-secret-123")),
            ..OpenAiSettings::new("http://h/v1", "m")
        };
        assert!(!format!("{settings:?}").contains("sk-secret"));
    }
}
