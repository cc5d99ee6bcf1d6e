//! The `openai` engine: any OpenAI-compatible chat-completions API (OpenAI,
//! vLLM, llama.cpp server, Ollama, OpenRouter).
//!
//! Every call of a batch is its own `POST {base_url}/chat/completions`; the
//! calls run concurrently, each asking the engine's [`limiter`] for a permit
//! before every attempt. Failures are per call: a retryable one (429, 408,
//! 409, 5xx, timeout, connection) is sent again after a backoff, up to
//! `max_retries` times; any other fails only its call, with the provider's
//! message.
//!
//! - `request`: call → request body (kwargs, `strict`), response → reply;
//! - `tokens`: the token estimate charged before a request;
//! - `retry`: rate-limit headers and backoff;
//! - `limiter`: the rate-limit actor (rpm, tpm, AIMD concurrency, pauses);
//! - `error`: why a call failed.

mod error;
pub mod limiter;
pub(crate) mod request;
pub(crate) mod retry;
mod tokens;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use error::OpenAiError;
use limiter::{Finish, LimiterHandle, LimiterSettings, Permit, Turn};
use request::Completion;
use retry::RateLimitHeaders;

use super::{AnswerTx, BatchAnswer, CallAnswer, CallStats, EngineLimits};
use crate::pb::v1::{engine_reply, EngineCall, EngineReply};

/// Longest time to establish a connection (within the request timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An API key. Its `Debug` output is redacted, and it is sent as a
/// sensitive header, so it reaches neither logs, errors nor `Status`.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    pub(crate) fn header(&self) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// The key itself, for the log writer that scrubs it from every line.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced.
    pub(crate) fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "[redacted]")
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// Settings of one openai engine (see docs/engines.md).
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// Base URL before `/chat/completions`, without a trailing slash.
    pub base_url: String,
    /// Model asked for when a call's kwargs name none.
    pub model: String,
    /// Sent as `Authorization: Bearer ...`; None sends no such header.
    pub api_key: Option<ApiKey>,
    /// Requests per minute at most; None: unlimited.
    pub rpm: Option<u32>,
    /// Tokens per minute at most; None: unlimited.
    pub tpm: Option<u64>,
    /// Requests at once at most (across all batches), before 429s shrink
    /// it; None (the default): no fixed cap, so every call the slots make
    /// is sent at once, until the provider pushes back (429s, see
    /// [`limiter`]).
    pub max_concurrency: Option<usize>,
    /// Retries of a request after a retryable failure.
    pub max_retries: u32,
    /// Time limit of one attempt.
    pub timeout: Duration,
    /// Fail calls with kwargs that are not passed on, instead of dropping them.
    pub strict: bool,
}

impl OpenAiSettings {
    /// Settings with the defaults of the config file for `base_url` and `model`.
    pub fn new(base_url: &str, model: &str) -> Self {
        OpenAiSettings {
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            api_key: None,
            rpm: None,
            tpm: None,
            max_concurrency: None,
            max_retries: 5,
            timeout: Duration::from_secs(60),
            strict: false,
        }
    }
}

/// Handle to an openai engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OpenAiEngine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    settings: OpenAiSettings,
    url: String,
    /// Host of the base URL, for messages.
    host: String,
    client: reqwest::Client,
    limiter: LimiterHandle,
    cancel: CancellationToken,
}

/// How one attempt went.
enum Attempt {
    Answered(Completion),
    Failed {
        error: OpenAiError,
        retry_hint: Option<Duration>,
    },
}

impl OpenAiEngine {
    /// Builds the engine and starts its limiter (stopped by `cancel`).
    pub fn new(
        name: &str,
        settings: OpenAiSettings,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, reqwest::Error> {
        // Connections are kept for reuse, as many as requests can run at
        // once (reqwest keeps any number by default). HTTP/2 is used where a
        // TLS server offers it (ALPN), one connection carrying every request;
        // plain http:// is HTTP/1.1, one connection per request in flight.
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
            .pool_max_idle_per_host(settings.max_concurrency.unwrap_or(usize::MAX))
            .user_agent(concat!("symbatcher/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let limiter = LimiterHandle::spawn(
            LimiterSettings {
                rpm: settings.rpm,
                tpm: settings.tpm,
                max_concurrency: settings.max_concurrency,
            },
            cancel.clone(),
            tracker,
        );
        let host = host_of(&settings.base_url);
        Ok(OpenAiEngine {
            inner: Arc::new(Inner {
                name: name.to_string(),
                url: format!("{}/chat/completions", settings.base_url),
                host,
                settings,
                client,
                limiter,
                cancel,
            }),
        })
    }

    /// The request this engine would send for `call`, for the call cache:
    /// the endpoint and the body, model included.
    pub fn cache_request(&self, call: &EngineCall) -> Option<super::CacheRequest> {
        let inner = &*self.inner;
        let prepared = request::prepare(
            call,
            &inner.name,
            &inner.settings.model,
            inner.settings.strict,
        )
        .ok()?;
        let model = prepared
            .body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let body = crate::cache::key::canonical_json(&Value::Object(prepared.body));
        Some(super::CacheRequest {
            kind: "openai".to_string(),
            model,
            canonical: format!("{}\n{body}", inner.url),
        })
    }

    pub fn limits(&self) -> EngineLimits {
        let snapshot = self.inner.limiter.snapshot();
        let settings = &self.inner.settings;
        EngineLimits {
            model: settings.model.clone(),
            rpm: settings.rpm.unwrap_or(0),
            tpm: settings.tpm.unwrap_or(0),
            concurrency_limit: snapshot.concurrency_limit.unwrap_or(0),
            requests_in_flight: snapshot.in_flight,
            requests_waiting: snapshot.waiting,
        }
    }

    /// Answers a batch: every call concurrently, each with its own outcome,
    /// sent on `answers` as soon as it is ready (a slow or retried call holds
    /// back no other). A call whose token in `cancels` is cancelled stops
    /// where it is (waiting for the limiter, in a request, or between
    /// retries) and answers `Cancelled`. The returned answer holds the calls
    /// `answers` could not take.
    pub async fn run(
        &self,
        calls: Vec<EngineCall>,
        cancels: Vec<CancellationToken>,
        answers: AnswerTx,
    ) -> BatchAnswer {
        let started = Instant::now();
        let call_ids: Vec<u64> = calls.iter().map(|c| c.call_id).collect();
        let mut cancels = cancels.into_iter();
        let mut set = JoinSet::new();
        for call in calls {
            let engine = self.clone();
            let cancel = cancels.next().unwrap_or_default();
            let task = async move {
                let call_id = call.call_id;
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {
                        let stats = CallStats { latency: started.elapsed(), ..Default::default() };
                        (error_reply(call_id, &OpenAiError::Cancelled, 1), stats)
                    }
                    answered = engine.call(call, started) => answered,
                }
            };
            // Each call's lines (retries, 429s) carry the batch's span.
            set.spawn(task.instrument(tracing::Span::current()));
        }
        let mut replies = Vec::new();
        let mut stats = HashMap::new();
        let mut answered = HashSet::with_capacity(call_ids.len());
        loop {
            let joined = tokio::select! {
                _ = self.inner.cancel.cancelled() => break,
                joined = set.join_next() => joined,
            };
            match joined {
                None => break,
                Some(Ok((reply, call_stats))) => {
                    let call_id = reply.call_id;
                    answered.insert(call_id);
                    let answer = CallAnswer {
                        reply,
                        stats: call_stats,
                    };
                    if let Err(unsent) = answers.send(answer) {
                        let CallAnswer { reply, stats: s } = unsent.0;
                        stats.insert(call_id, s);
                        replies.push(reply);
                    }
                }
                Some(Err(err)) => {
                    tracing::error!(engine = %self.inner.name, %err, "openai call task failed");
                }
            }
        }
        // Calls without a reply (shutdown, or a failed task) fail alone.
        let missing = if self.inner.cancel.is_cancelled() {
            OpenAiError::ShuttingDown
        } else {
            OpenAiError::Internal("the call's task failed; see the server log".into())
        };
        for call_id in call_ids {
            if !answered.contains(&call_id) {
                let latency = started.elapsed();
                stats.insert(
                    call_id,
                    CallStats {
                        latency,
                        ..Default::default()
                    },
                );
                replies.push(error_reply(call_id, &missing, 1));
            }
        }
        BatchAnswer {
            outcome: Ok(replies),
            stats,
        }
    }

    /// One call: prepare, then attempt until it succeeds, fails for good or
    /// runs out of retries.
    async fn call(&self, call: EngineCall, batch_started: Instant) -> (EngineReply, CallStats) {
        let inner = &*self.inner;
        let settings = &inner.settings;
        let mut stats = CallStats::default();
        let prepared = match request::prepare(&call, &inner.name, &settings.model, settings.strict)
        {
            Ok(prepared) => prepared,
            Err(err) => {
                stats.latency = batch_started.elapsed();
                return (error_reply(call.call_id, &err, 1), stats);
            }
        };
        let estimate = tokens::estimate(&prepared.body);
        if let Some(tpm) = settings.tpm.filter(|&tpm| estimate > tpm) {
            // The bucket could never hold it; waiting would only delay every
            // call behind it.
            stats.latency = batch_started.elapsed();
            let err = OpenAiError::ExceedsTpm {
                engine: inner.name.clone(),
                tokens: estimate,
                tpm,
            };
            return (error_reply(call.call_id, &err, 1), stats);
        }
        let body = Value::Object(prepared.body).to_string().into_bytes();
        let mut attempts = 0u32;
        let outcome = loop {
            let turn = if attempts == 0 {
                Turn::First
            } else {
                Turn::Retry
            };
            let Some(permit) = inner.limiter.acquire_turn(estimate, turn).await else {
                break Err(OpenAiError::ShuttingDown);
            };
            attempts += 1;
            match self.attempt(&body, permit).await {
                Attempt::Answered(completion) => break Ok(completion),
                Attempt::Failed { error, retry_hint } => {
                    if matches!(error, OpenAiError::Status { status: 429, .. }) {
                        stats.rate_limited += 1;
                    }
                    if !error.is_retryable() || attempts > settings.max_retries {
                        break Err(error);
                    }
                    stats.retries += 1;
                    let wait = retry::backoff(attempts, retry_hint);
                    tracing::debug!(engine = %inner.name, call_id = call.call_id, kind = error.kind(),
                        attempt = attempts, wait_ms = wait.as_millis() as u64, "retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        };
        stats.latency = batch_started.elapsed();
        let reply = match outcome {
            Ok(completion) => {
                stats.prompt_tokens = completion.prompt_tokens;
                stats.completion_tokens = completion.completion_tokens;
                let mut metadata = completion.metadata;
                if !prepared.dropped.is_empty() {
                    metadata.insert("dropped_kwargs".into(), prepared.dropped.into());
                }
                if attempts > 1 {
                    metadata.insert("attempts".into(), attempts.into());
                }
                EngineReply {
                    call_id: call.call_id,
                    outcome: Some(engine_reply::Outcome::Text(completion.text)),
                    metadata_json: Value::Object(metadata).to_string(),
                }
            }
            Err(err) => {
                tracing::debug!(engine = %inner.name, call_id = call.call_id, kind = err.kind(),
                    attempts, "call failed");
                error_reply(call.call_id, &err, attempts)
            }
        };
        (reply, stats)
    }

    /// Sends one request under `permit` and reports to the limiter how it went.
    async fn attempt(&self, body: &[u8], permit: Permit) -> Attempt {
        let inner = &*self.inner;
        let mut request = inner
            .client
            .post(&inner.url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(value) = inner.settings.api_key.as_ref().and_then(ApiKey::header) {
            request = request.header(AUTHORIZATION, value);
        }
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let headers = RateLimitHeaders::from_headers(response.headers());
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, bytes))
        };
        let result = tokio::time::timeout(inner.settings.timeout, exchange).await;
        let (status, headers, bytes) = match result {
            Err(_) => {
                permit.finish(Finish::Failed, None);
                let error = OpenAiError::Timeout {
                    host: inner.host.clone(),
                    timeout: inner.settings.timeout,
                };
                return Attempt::Failed {
                    error,
                    retry_hint: None,
                };
            }
            Ok(Err(err)) => {
                permit.finish(Finish::Failed, None);
                let error = OpenAiError::Connection {
                    host: inner.host.clone(),
                    message: self.scrub(&describe(err)),
                };
                return Attempt::Failed {
                    error,
                    retry_hint: None,
                };
            }
            Ok(Ok(exchange)) => exchange,
        };
        let pause_until = headers.exhausted_for().map(|d| Instant::now() + d);
        if status.is_success() {
            match request::parse_completion(&bytes) {
                Ok(completion) => {
                    let used = completion.prompt_tokens + completion.completion_tokens;
                    let tokens = (used > 0).then_some(used);
                    permit.finish(Finish::Succeeded { tokens }, pause_until);
                    Attempt::Answered(completion)
                }
                Err(message) => {
                    permit.finish(Finish::Failed, pause_until);
                    Attempt::Failed {
                        error: OpenAiError::BadResponse {
                            host: inner.host.clone(),
                            message,
                        },
                        retry_hint: None,
                    }
                }
            }
        } else {
            let finish = if status.as_u16() == 429 {
                Finish::RateLimited
            } else {
                Finish::Failed
            };
            permit.finish(finish, pause_until);
            Attempt::Failed {
                error: OpenAiError::Status {
                    status: status.as_u16(),
                    host: inner.host.clone(),
                    message: request::error_message(&bytes, |text| self.scrub(text)),
                },
                retry_hint: headers.retry_hint(),
            }
        }
    }

    fn scrub(&self, text: &str) -> String {
        match &self.inner.settings.api_key {
            Some(key) => key.scrub(text),
            None => text.to_string(),
        }
    }
}

/// `host[:port]` of a base URL, for messages (the URL itself when it has
/// no host).
pub(crate) fn host_of(base_url: &str) -> String {
    reqwest::Url::parse(base_url)
        .ok()
        .and_then(|url| {
            url.host_str()
                .map(|h| url.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
        })
        .unwrap_or_else(|| base_url.to_string())
}

/// A reqwest error with its causes, without the URL (the host is named
/// separately).
pub(crate) fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn error_reply(call_id: u64, err: &OpenAiError, attempts: u32) -> EngineReply {
    EngineReply {
        call_id,
        outcome: Some(engine_reply::Outcome::Error(err.to_item_error(attempts))),
        metadata_json: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_redacted_in_debug_output_and_scrubbed_from_text() {
        let key = ApiKey::new("sk-secret-123");
        assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
        let settings = OpenAiSettings {
            api_key: Some(key.clone()),
            ..OpenAiSettings::new("http://h/v1", "m")
        };
        assert!(!format!("{settings:?}").contains("sk-secret"));
        assert_eq!(key.scrub("bad key sk-secret-123!"), "bad key [redacted]!");
        assert!(key.header().expect("valid header").is_sensitive());
    }

    #[test]
    fn a_key_straddling_the_message_cut_is_scrubbed_whole() {
        let key = ApiKey::new("sk-proj-abcdefghijklmnopqrstuvwxyz0123456789");
        // The key starts 10 bytes before the 2,000-byte cut.
        for message in [
            format!("{}{}", "x".repeat(1990), key.0),
            format!("{} {} tail", "y".repeat(1994), key.0),
        ] {
            let body = serde_json::json!({"error": {"message": message}}).to_string();
            for body in [body.as_bytes(), message.as_bytes()] {
                let text = request::error_message(body, |t| key.scrub(t));
                assert!(!text.contains("sk-"), "{}", &text[1980..]);
                assert!(text.len() <= 2003, "{}", text.len());
            }
        }
    }
}
