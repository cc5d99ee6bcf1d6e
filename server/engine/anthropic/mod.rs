//! The `anthropic` engine: Anthropic's Messages API, one
//! `POST {base_url}/v1/messages` per call, through the per-call engine it
//! shares with `openai` (`http::per_call`: limiter, retries, token
//! estimate, errors).
//!
//! What is Anthropic's here:
//! - headers: `x-api-key` (the key, a sensitive header never logged),
//!   `anthropic-version: 2023-06-01`, `content-type: application/json`;
//! - [`request`]: symai's rendered messages → `system` + `messages`,
//!   `max_tokens` from the call or the engine's default; a reply's text
//!   blocks, usage and `stop_reason`; error bodies led by their type;
//! - [`headers`]: `anthropic-ratelimit-*` (RFC 3339 reset instants) and
//!   `retry-after`, feeding the limiter's pauses and the retry waits;
//! - 429 (`rate_limit_error`) and 529 (`overloaded_error`) both count as
//!   refusals: retried after `retry-after`, and cutting the concurrency limit.

pub mod headers;
pub(crate) mod request;

use std::time::SystemTime;

use reqwest::header::HeaderMap;
use reqwest::RequestBuilder;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::http::error::CallError;
use super::http::per_call::{Endpoint, PerCallEngine, PerCallSettings, Provider};
use super::http::request::{Completion, Prepared};
use super::http::retry::RateLimitHeaders;
use super::http::ApiKey;
use crate::pb::v1::EngineCall;

/// The API version every request names.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Default base URL (before `/v1/messages`).
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// Default model.
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
/// Default environment variable of the API key.
pub const DEFAULT_API_KEY_ENV: &str = "ANTHROPIC_API_KEY";
/// `max_tokens` of a call that sets none (Anthropic requires it).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// Anthropic's status for an API overloaded for every user.
const OVERLOADED: u16 = 529;

/// Settings of one anthropic engine (see docs/engines.md): those of every
/// per-call engine (the API key goes out as `x-api-key`), and the default
/// `max_tokens`.
#[derive(Debug, Clone)]
pub struct AnthropicSettings {
    pub http: PerCallSettings,
    /// `max_tokens` of a call that sets none.
    pub max_tokens: u32,
}

impl AnthropicSettings {
    /// Settings with the defaults of the config file for `base_url` and `model`.
    pub fn new(base_url: &str, model: &str) -> Self {
        AnthropicSettings {
            http: PerCallSettings::new(base_url, model),
            max_tokens: DEFAULT_MAX_TOKENS,
        }
    }
}

/// Handle to an anthropic engine. Cheap to clone.
pub type AnthropicEngine = PerCallEngine<Anthropic>;

/// What the anthropic engine sends and reads (see [`Provider`]).
#[derive(Debug)]
pub struct Anthropic {
    model: String,
    max_tokens: u32,
    strict: bool,
}

impl Anthropic {
    /// The provider of requests for `model` (the default) with
    /// `max_tokens` (the default), `strict` or not.
    pub fn new(model: &str, max_tokens: u32, strict: bool) -> Self {
        Anthropic {
            model: model.to_string(),
            max_tokens,
            strict,
        }
    }
}

impl Provider for Anthropic {
    const KIND: &'static str = "anthropic";

    fn prepare(&self, call: &EngineCall, engine: &str) -> Result<Prepared, CallError> {
        request::prepare(call, engine, &self.model, self.max_tokens, self.strict)
    }

    fn headers(&self, request: RequestBuilder, key: Option<&ApiKey>) -> RequestBuilder {
        let request = request.header("anthropic-version", ANTHROPIC_VERSION);
        match key.and_then(ApiKey::bare_header) {
            Some(value) => request.header("x-api-key", value),
            None => request,
        }
    }

    fn rate_limits(&self, headers: &HeaderMap) -> RateLimitHeaders {
        headers::rate_limits_at(headers, SystemTime::now())
    }

    fn parse_reply(&self, body: &[u8]) -> Result<Completion, String> {
        request::parse_message(body)
    }

    fn error_message(&self, body: &[u8], scrub: &dyn Fn(&str) -> String) -> String {
        request::anthropic_error_message(body, scrub)
    }

    fn is_refusal(&self, status: u16) -> bool {
        status == 429 || status == OVERLOADED
    }
}

impl PerCallEngine<Anthropic> {
    /// Builds the engine and starts its limiter (stopped by `cancel`).
    pub fn new(
        name: &str,
        settings: AnthropicSettings,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, reqwest::Error> {
        let AnthropicSettings { http, max_tokens } = settings;
        let provider = Anthropic::new(&http.model, max_tokens, http.strict);
        let endpoint = Endpoint::post(format!("{}/v1/messages", http.base_url));
        PerCallEngine::start(name, provider, endpoint, http, cancel, tracker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overloaded_and_rate_limited_are_refusals_and_the_key_stays_hidden() {
        let provider = Anthropic {
            model: "m".into(),
            max_tokens: 1,
            strict: false,
        };
        assert!(provider.is_refusal(429) && provider.is_refusal(529));
        assert!(!provider.is_refusal(500));
        let mut settings = AnthropicSettings::new("https://api.anthropic.com/", "m");
        settings.http.api_key = Some(ApiKey::new("sk-ant-secret"));
        assert_eq!(settings.http.base_url, "https://api.anthropic.com");
        assert!(!format!("{settings:?}").contains("sk-ant"));
    }
}
