//! An engine that sends every call of an engine batch as its own request to
//! a provider's HTTP API. The calls run concurrently, each asking the
//! engine's [`limiter`](super::limiter) for a permit before every attempt.
//! Failures are per call: a retryable one (429, Anthropic's 529, 408, 409,
//! 5xx, timeout, connection) is sent again after a backoff, up to
//! `max_retries` times; any other fails only its call, with the provider's
//! message.
//!
//! What differs between providers (the body, the headers, the reply, the
//! rate-limit headers) is a [`Provider`]; `openai` and `anthropic` are two.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::RequestBuilder;
use serde_json::{Map, Value};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::circuit::{Circuit, Gate};
use super::error::CallError;
use super::limiter::{Finish, LimiterHandle, LimiterSettings, LimiterSnapshot, Permit, Turn};
use super::request::{Completion, Prepared};
use super::retry::{self, RateLimitHeaders};
use super::{describe, tokens, ApiKey};
use crate::engine::{AnswerTx, BatchAnswer, CacheRequest, CallAnswer, CallStats, EngineLimits};
use crate::pb::v1::{engine_reply, Embeddings, EngineCall, EngineReply, Vector};

/// Longest time to establish a connection (within the request timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What one provider's API differs in.
pub trait Provider: fmt::Debug + Send + Sync + 'static {
    /// The engine kind, as `Status`, logs and the call cache name it.
    const KIND: &'static str;

    /// The request body of `call` (`engine` names the engine in errors).
    fn prepare(&self, call: &EngineCall, engine: &str) -> Result<Prepared, CallError>;

    /// The provider's headers of every request: authentication with `key`
    /// (when there is one), version.
    fn headers(&self, request: RequestBuilder, key: Option<&ApiKey>) -> RequestBuilder;

    /// The rate-limit headers of a response.
    fn rate_limits(&self, headers: &HeaderMap) -> RateLimitHeaders;

    /// A successful response body as a reply; the error is a description.
    fn parse_reply(&self, body: &[u8]) -> Result<Completion, String>;

    /// The tokens a request body is charged against `tpm` before it is sent.
    fn estimate(&self, body: &serde_json::Map<String, Value>) -> u64 {
        tokens::estimate(body)
    }

    /// The provider's own message in an error body, `scrub`bed of secrets.
    fn error_message(&self, body: &[u8], scrub: &dyn Fn(&str) -> String) -> String {
        super::request::error_message(body, scrub)
    }

    /// Statuses that mean "too much": counted as rate limited, and cutting
    /// the concurrency limit.
    fn is_refusal(&self, status: u16) -> bool {
        status == 429
    }
}

/// Settings of one per-call engine, whatever its provider (see
/// docs/engines.md).
#[derive(Debug, Clone)]
pub struct PerCallSettings {
    /// Base URL before the provider's path, without a trailing slash.
    pub base_url: String,
    /// Model asked for when a call's kwargs name none.
    pub model: String,
    /// Sent in the provider's authentication header; None sends none.
    pub api_key: Option<ApiKey>,
    /// Requests per minute at most; None: unlimited.
    pub rpm: Option<u32>,
    /// Tokens per minute at most; None: unlimited.
    pub tpm: Option<u64>,
    /// Requests at once at most (across all batches), before refusals
    /// (429s) shrink it; None (the default): no fixed cap, so every call the
    /// slots make is sent at once, until the provider pushes back (see
    /// [`limiter`](super::limiter)).
    pub max_concurrency: Option<usize>,
    /// Retries of a request after a retryable failure.
    pub max_retries: u32,
    /// Time limit of one attempt.
    pub timeout: Duration,
    /// Fail calls with kwargs that are not passed on, instead of dropping them.
    pub strict: bool,
}

impl PerCallSettings {
    /// Settings with the defaults of the config file for `base_url` and `model`.
    pub fn new(base_url: &str, model: &str) -> Self {
        PerCallSettings {
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

/// Where a per-call engine sends: the URL every request is posted to, and
/// the engine's target as messages name it (the host, maybe the path).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub target: String,
}

impl Endpoint {
    /// Requests posted to `url`, named in messages as `host (POST /path)`.
    pub fn post(url: String) -> Self {
        let path = reqwest::Url::parse(&url)
            .map(|u| u.path().to_string())
            .unwrap_or_default();
        Endpoint {
            target: format!("{} (POST {path})", super::host_of(&url)),
            url,
        }
    }
}

/// Handle to a per-call engine of provider `P`. Cheap to clone.
#[derive(Debug)]
pub struct PerCallEngine<P> {
    inner: Arc<Inner<P>>,
}

impl<P> Clone for PerCallEngine<P> {
    fn clone(&self) -> Self {
        PerCallEngine {
            inner: Arc::clone(&self.inner),
        }
    }
}

#[derive(Debug)]
struct Inner<P> {
    name: String,
    provider: P,
    endpoint: Endpoint,
    settings: PerCallSettings,
    client: reqwest::Client,
    limiter: LimiterHandle,
    /// Opens on a dead or wrong endpoint: calls then fail at once.
    circuit: Circuit,
    cancel: CancellationToken,
}

/// How one attempt went.
enum Attempt {
    Answered(Completion),
    Failed {
        error: CallError,
        retry_hint: Option<Duration>,
    },
}

impl<P: Provider> PerCallEngine<P> {
    /// The error its calls fail with at once now, while its circuit is open
    /// (a dead or wrong endpoint); None when calls are sent.
    pub fn refusing(&self) -> Option<CallError> {
        self.inner.circuit.refusing()
    }

    /// Builds the engine and starts its limiter (stopped by `cancel`).
    pub fn start(
        name: &str,
        provider: P,
        endpoint: Endpoint,
        settings: PerCallSettings,
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
        Ok(PerCallEngine {
            inner: Arc::new(Inner {
                circuit: Circuit::new(name, format!("POST {}", endpoint.url), settings.timeout),
                name: name.to_string(),
                provider,
                endpoint,
                settings,
                client,
                limiter,
                cancel,
            }),
        })
    }

    /// The request body this engine would send for `call` (None: the call
    /// cannot become a request; it fails when sent).
    pub fn request_body(&self, call: &EngineCall) -> Option<Map<String, Value>> {
        let inner = &*self.inner;
        Some(inner.provider.prepare(call, &inner.name).ok()?.body)
    }

    /// The request this engine would send for `call`, for the call cache:
    /// the engine kind, the endpoint and the body, model included.
    pub fn cache_request(&self, call: &EngineCall) -> Option<CacheRequest> {
        let inner = &*self.inner;
        let body = self.request_body(call)?;
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let body = crate::cache::key::canonical_json(&Value::Object(body));
        Some(CacheRequest {
            kind: P::KIND.to_string(),
            model,
            canonical: format!("{}\n{body}", inner.endpoint.url),
        })
    }

    /// The limiter's live state.
    pub fn limiter_snapshot(&self) -> LimiterSnapshot {
        self.inner.limiter.snapshot()
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

    /// Answers an engine batch: every call concurrently, each with its own
    /// outcome, sent on `answers` as soon as it is ready (a slow or retried
    /// call holds back no other). A call whose token in `cancels` is
    /// cancelled stops where it is (waiting for the limiter, in a request,
    /// or between retries) and answers `Cancelled`. The returned answer
    /// holds the calls `answers` could not take.
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
                        (error_reply(call_id, &CallError::Cancelled, 1), stats)
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
                    tracing::error!(engine = %self.inner.name, kind = P::KIND, %err,
                        "engine call task failed");
                }
            }
        }
        // Calls without a reply (shutdown, or a failed task) fail alone.
        let missing = if self.inner.cancel.is_cancelled() {
            CallError::ShuttingDown
        } else {
            CallError::Internal("the call's task failed; see the server log".into())
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
            late_copies: HashMap::new(),
        }
    }

    /// One call: prepare, then attempt until it succeeds, fails for good or
    /// runs out of retries.
    async fn call(&self, call: EngineCall, batch_started: Instant) -> (EngineReply, CallStats) {
        let inner = &*self.inner;
        let settings = &inner.settings;
        let mut stats = CallStats::default();
        let prepared = match inner.provider.prepare(&call, &inner.name) {
            Ok(prepared) => prepared,
            Err(err) => {
                stats.latency = batch_started.elapsed();
                return (error_reply(call.call_id, &err, 1), stats);
            }
        };
        let estimate = inner.provider.estimate(&prepared.body);
        if let Some(tpm) = settings.tpm.filter(|&tpm| estimate > tpm) {
            // The bucket could never hold it; waiting would only delay every
            // call behind it.
            stats.latency = batch_started.elapsed();
            let err = CallError::ExceedsTpm {
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
            if let Gate::Fail(error) = inner.circuit.gate().await {
                break Err(error);
            }
            let Some(permit) = inner.limiter.acquire_turn(estimate, turn).await else {
                break Err(CallError::ShuttingDown);
            };
            attempts += 1;
            let attempt = self.attempt(&body, permit).await;
            inner.circuit.record(match &attempt {
                Attempt::Answered(_) => Ok(()),
                Attempt::Failed { error, .. } => Err(error),
            });
            match attempt {
                Attempt::Answered(completion) => break Ok(completion),
                Attempt::Failed { error, retry_hint } => {
                    if matches!(error, CallError::Status { status, .. } if inner.provider.is_refusal(status))
                    {
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
                let outcome = match completion.embeddings {
                    Some(vectors) => engine_reply::Outcome::Embeddings(embeddings_of(vectors)),
                    None => engine_reply::Outcome::Text(completion.text),
                };
                EngineReply {
                    call_id: call.call_id,
                    outcome: Some(outcome),
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
        let endpoint = &inner.endpoint;
        let request = inner
            .client
            .post(&endpoint.url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        let request = inner
            .provider
            .headers(request, inner.settings.api_key.as_ref());
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let headers = inner.provider.rate_limits(response.headers());
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, bytes))
        };
        let timeout = inner.settings.timeout;
        let result = tokio::time::timeout(timeout, exchange).await;
        let (status, headers, bytes) = match result {
            Err(_) => {
                permit.finish(Finish::Failed, None);
                let error = CallError::Timeout {
                    host: endpoint.target.clone(),
                    timeout,
                };
                return Attempt::Failed {
                    error,
                    retry_hint: None,
                };
            }
            Ok(Err(err)) => {
                permit.finish(Finish::Failed, None);
                let error = CallError::Connection {
                    host: endpoint.target.clone(),
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
            match inner.provider.parse_reply(&bytes) {
                Ok(completion) => {
                    let used = completion.prompt_tokens + completion.completion_tokens;
                    let tokens = (used > 0).then_some(used);
                    permit.finish(Finish::Succeeded { tokens }, pause_until);
                    Attempt::Answered(completion)
                }
                Err(message) => {
                    permit.finish(Finish::Failed, pause_until);
                    Attempt::Failed {
                        error: CallError::BadResponse {
                            host: endpoint.target.clone(),
                            message,
                        },
                        retry_hint: None,
                    }
                }
            }
        } else {
            let finish = if inner.provider.is_refusal(status.as_u16()) {
                Finish::RateLimited
            } else {
                Finish::Failed
            };
            permit.finish(finish, pause_until);
            Attempt::Failed {
                error: CallError::Status {
                    status: status.as_u16(),
                    host: endpoint.target.clone(),
                    message: inner
                        .provider
                        .error_message(&bytes, &|text| self.scrub(text)),
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

/// Vectors as an embedding call's reply.
pub(crate) fn embeddings_of(vectors: Vec<Vec<f64>>) -> Embeddings {
    Embeddings {
        vectors: vectors
            .into_iter()
            .map(|values| Vector { values })
            .collect(),
    }
}

pub(crate) fn error_reply(call_id: u64, err: &CallError, attempts: u32) -> EngineReply {
    EngineReply {
        call_id,
        outcome: Some(engine_reply::Outcome::Error(err.to_item_error(attempts))),
        metadata_json: String::new(),
    }
}
