//! Engines: what a formed batch of engine calls is sent to.
//!
//! - [`echo`]: built in; answers `"echo: " + prompt`, with simulated latency.
//! - [`connected`]: an engine process connected on `EngineService.Serve`
//!   (any language; the Python client's `BatchEngine` is one). `Status`
//!   reports its kind as `python`, the label clients know it by.
//! - [`openai`]: an OpenAI-compatible HTTP API, one request per call, under
//!   central rate limits.
//! - [`anthropic`]: Anthropic's Messages API, one request per call, under
//!   central rate limits (the same per-call engine as `openai`).
//! - [`http`]: what the engines calling a provider's HTTP API one request
//!   per call share (limiter, retries, token estimate, errors, the engine).
//! - [`provider_batch`]: a provider's batch API at the batch price, one
//!   core for every provider: `openai-batch` (OpenAI's Files + Batches),
//!   `anthropic-batch` (Anthropic's Message Batches).
//! - [`openai_embeddings`]: OpenAI's embeddings API; the embedding calls of
//!   a batch merged into few requests (the same per-call HTTP engine).
//! - [`assemble`]: the engines a server starts with, built from its
//!   configuration and handed to the scheduler ready.

pub mod anthropic;
pub mod assemble;
pub mod connected;
pub mod echo;
pub mod http;
pub mod openai;
pub mod openai_embeddings;
pub mod provider_batch;

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use crate::pb::v1::CallKind;
use crate::pb::v1::{
    engine_reply, EngineCall, EngineReply, ErrorKind, ItemError, ProviderBatchStatus,
};

pub use anthropic::AnthropicEngine;
pub use connected::{ConnectedEngine, ConnectedTraits};
pub use echo::EchoEngine;
pub use openai::OpenAiEngine;
pub use openai_embeddings::OpenAiEmbeddingsEngine;
pub use provider_batch::{AnthropicBatchEngine, OpenAiBatchEngine};

/// A call kind's name, as users and `Status` say it: symai's engine id.
pub fn call_kind_name(kind: CallKind) -> &'static str {
    match kind {
        CallKind::Embedding => "embedding",
        CallKind::Neurosymbolic | CallKind::Unspecified => "neurosymbolic",
    }
}

/// Why an engine could not answer a batch. Every call of the batch fails with it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The call's job has no engine for calls of its kind (its name).
    #[error(
        "no engine for {0} calls in this job: give it one with \
         BatchScheduler({0}_engine=...) (e.g. OpenAIEmbeddingEngine(base_url, model)), \
         `symbatcher run --{0}-engine NAME`, or the server's --default-{0}-engine \
         (the config file's default_{0}_engine, an [engines.NAME] table with \
         kind = \"openai-embeddings\")"
    )]
    NoEngineForKind(&'static str),
    /// The engine reported a failure; the text is the engine's own message.
    #[error("{message}")]
    Failed { type_name: String, message: String },
    /// The engine's connection ended before it answered.
    #[error("engine {0:?} disconnected before answering the batch")]
    Disconnected(String),
    /// The engine answered, but not with one reply per call.
    #[error("engine {engine:?} sent no reply for call {call_id}")]
    MissingReply { engine: String, call_id: u64 },
    /// The call's run ended (its job ended, it timed out, its worker gave it
    /// back) before the engine answered; nobody waits for the answer.
    #[error("the call's item run was cancelled before its engine answered")]
    Cancelled,
    /// The call waits on a provider batch and its run gave its slot back
    /// (replay): the item runs again once the call is answered.
    #[error(
        "the call waits on a provider batch: its run gave its slot back, and its item runs \
         again from the start once the call is answered"
    )]
    Parked,
    /// The call would have put its run or its worker over its cap of
    /// unanswered engine calls; it was answered at once instead of queued.
    #[error(
        "too many engine calls: this {holder} already has {limit} unanswered, its limit \
         ({flag} {limit}); wait for replies before sending more"
    )]
    CallLimit {
        /// "item run" or "worker".
        holder: &'static str,
        limit: usize,
        /// The server flag that sets the limit.
        flag: &'static str,
    },
}

impl EngineError {
    /// A stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::NoEngineForKind(_) => "no_engine_for_kind",
            EngineError::Failed { .. } => "engine_failed",
            EngineError::Disconnected(_) => "engine_disconnected",
            EngineError::MissingReply { .. } => "engine_missing_reply",
            EngineError::Cancelled => "call_cancelled",
            EngineError::Parked => "call_parked",
            EngineError::CallLimit { .. } => "call_limit",
        }
    }

    /// The error as it reaches the worker for each call of the batch.
    pub fn to_item_error(&self) -> ItemError {
        let type_name = match self {
            EngineError::Failed { type_name, .. } if !type_name.is_empty() => type_name.clone(),
            EngineError::Cancelled => "Cancelled".to_string(),
            EngineError::Parked => "RunParked".to_string(),
            EngineError::NoEngineForKind(_) => "NoEngineError".to_string(),
            _ => "EngineError".to_string(),
        };
        let kind = match self {
            EngineError::Cancelled => ErrorKind::Cancelled,
            EngineError::Parked => ErrorKind::Parked,
            _ => ErrorKind::Engine,
        };
        ItemError {
            kind: kind as i32,
            r#type: type_name,
            message: self.to_string(),
            traceback: String::new(),
        }
    }
}

/// The result of one batch: one reply per call (a reply may itself be an
/// error), or a failure of the whole batch.
pub type BatchOutcome = Result<Vec<EngineReply>, EngineError>;

/// What an engine measured about one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Requests sent again after a retryable failure.
    pub retries: u32,
    /// 429 responses.
    pub rate_limited: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// From the batch leaving for the engine to this call's reply.
    pub latency: Duration,
    /// Whether the call was priced at the batch discount (engines that go
    /// through a provider's batch API set it).
    pub batch_priced: bool,
}

/// One call's reply with what the engine measured, sent on its own as soon
/// as the call is answered (by engines that answer calls one by one).
#[derive(Debug)]
pub struct CallAnswer {
    pub reply: EngineReply,
    pub stats: CallStats,
}

/// Where an engine sends each call's answer as soon as it is ready. Unbounded,
/// but holds at most the calls of one batch.
pub type AnswerTx = mpsc::UnboundedSender<CallAnswer>;

/// A batch's outcome with what the engine measured, by call id: every call
/// not already answered through the batch's [`AnswerTx`].
#[derive(Debug)]
pub struct BatchAnswer {
    pub outcome: BatchOutcome,
    pub stats: HashMap<u64, CallStats>,
    /// Requests billed a second time, by the call id they were made for:
    /// a hedged provider batch's copy of a call that was answered online
    /// and that the provider completed (and billed) all the same, seen
    /// after the call's answer. One entry per request (calls that share a
    /// request name it once), its usage at the batch price.
    pub late_copies: HashMap<u64, CallStats>,
}

impl BatchAnswer {
    /// Stats of an engine that answers batches as a whole: every call took
    /// the batch's time; tokens come from each reply's `usage` metadata.
    pub fn measured(outcome: BatchOutcome, call_ids: &[u64], elapsed: Duration) -> Self {
        let mut stats: HashMap<u64, CallStats> = call_ids
            .iter()
            .map(|id| {
                let stats = CallStats {
                    latency: elapsed,
                    ..Default::default()
                };
                (*id, stats)
            })
            .collect();
        if let Ok(replies) = &outcome {
            for reply in replies {
                if let Some(entry) = stats.get_mut(&reply.call_id) {
                    (entry.prompt_tokens, entry.completion_tokens) = usage_of(&reply.metadata_json);
                }
            }
        }
        BatchAnswer {
            outcome,
            stats,
            late_copies: HashMap::new(),
        }
    }
}

/// Prompt and completion tokens of a reply's metadata (`usage` with
/// `prompt_tokens`/`completion_tokens`, or `input_tokens`/`output_tokens`).
pub fn usage_of(metadata_json: &str) -> (u64, u64) {
    if !metadata_json.contains("usage") {
        return (0, 0);
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(metadata_json) else {
        return (0, 0);
    };
    let usage = &value["usage"];
    let count = |a: &str, b: &str| usage[a].as_u64().or_else(|| usage[b].as_u64()).unwrap_or(0);
    (
        count("prompt_tokens", "input_tokens"),
        count("completion_tokens", "output_tokens"),
    )
}

/// True when a reply is an error.
pub fn is_error(reply: &EngineReply) -> bool {
    matches!(reply.outcome, Some(engine_reply::Outcome::Error(_)))
}

/// Why a batch may not leave for an engine now (see
/// [`Engine::holds_new_batches`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchHold {
    /// One of the engine's requests waits for its rate limit: new batches
    /// wait while one of the engine's batches is in flight (its answer
    /// brings the next flush).
    WhileRequestsWait,
    /// The rate limit admits no request before this instant.
    Until(Instant),
}

/// Limits and live state of an engine that calls a provider, for `Status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineLimits {
    pub model: String,
    pub rpm: u32,
    pub tpm: u64,
    /// Requests that may run at once now (the AIMD limit); 0: no limit.
    pub concurrency_limit: u32,
    pub requests_in_flight: u32,
    pub requests_waiting: u32,
}

/// A call's request as the call cache keys it (see `cache::key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRequest {
    pub kind: String,
    pub model: String,
    pub canonical: String,
}

/// The request of an engine that gets calls as they are: prompt, messages
/// and kwargs (and an embedding call's inputs), each in canonical JSON (a
/// `local_ref` is the same call as an object of the worker's process, built
/// from the same input).
fn generic_cache_request(kind: String, call: &EngineCall) -> Option<CacheRequest> {
    let parse = |text: &str| -> Option<serde_json::Value> {
        if text.trim().is_empty() {
            Some(serde_json::Value::Null)
        } else {
            serde_json::from_str(text).ok()
        }
    };
    let kwargs = parse(&call.kwargs_json)?;
    let model = kwargs
        .get("model")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_string();
    let mut request = serde_json::json!({
        "prompt": call.prompt,
        "messages": parse(&call.messages_json)?,
        "kwargs": kwargs,
    });
    // An embedding call is its inputs (its prompt and messages are empty);
    // a chat call's key stays what it was before calls had kinds.
    if call.kind() == CallKind::Embedding {
        request["inputs"] = call.inputs.clone().into();
    }
    Some(CacheRequest {
        kind,
        model,
        canonical: crate::cache::key::canonical_json(&request),
    })
}

/// An engine the scheduler can send batches to. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Engine {
    Echo(EchoEngine),
    Connected(ConnectedEngine),
    OpenAi(OpenAiEngine),
    OpenAiBatch(OpenAiBatchEngine),
    Anthropic(AnthropicEngine),
    AnthropicBatch(AnthropicBatchEngine),
    OpenAiEmbeddings(OpenAiEmbeddingsEngine),
}

/// How calls to an engine that answers through a batch API wait for their
/// batch, in place of their job's `batch_size` and `max_queue_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchApiFlush {
    /// Calls in one batch at most.
    pub batch_size: usize,
    /// Longest wait of a call for its batch to fill (every running item
    /// parked on a call flushes it sooner).
    pub max_queue_delay: Duration,
}

impl Engine {
    /// Engine kind label, as `Status` reports it. A connected engine keeps
    /// the `python` label that clients and configurations already use.
    pub fn kind(&self) -> &'static str {
        match self {
            Engine::Echo(_) => "echo",
            Engine::Connected(_) => "python",
            Engine::OpenAi(_) => "openai",
            Engine::OpenAiBatch(_) => "openai-batch",
            Engine::Anthropic(_) => "anthropic",
            Engine::AnthropicBatch(_) => "anthropic-batch",
            Engine::OpenAiEmbeddings(_) => "openai-embeddings",
        }
    }

    /// The kind of call the engine answers.
    pub fn call_kind(&self) -> CallKind {
        match self {
            Engine::OpenAiEmbeddings(_) => CallKind::Embedding,
            Engine::Connected(engine) => engine.call_kind(),
            _ => CallKind::Neurosymbolic,
        }
    }

    /// Whether a call may be answered at the batch price only: a provider
    /// batch engine without a fallback. With one, a call may go online
    /// (expired, failed, or sent online to meet a deadline), so its worst
    /// case is the online price.
    pub fn answers_at_batch_price_only(&self) -> bool {
        match self {
            Engine::OpenAiBatch(engine) => !engine.has_fallback(),
            Engine::AnthropicBatch(engine) => !engine.has_fallback(),
            _ => false,
        }
    }

    /// For engines answering through a provider's batch API: how their
    /// calls wait for a batch (large batches, a long delay).
    pub fn batch_api_flush(&self) -> Option<BatchApiFlush> {
        match self {
            Engine::OpenAiBatch(engine) => Some(BatchApiFlush {
                batch_size: engine.settings().max_requests_per_batch,
                max_queue_delay: engine.settings().max_queue_delay,
            }),
            Engine::AnthropicBatch(engine) => Some(BatchApiFlush {
                batch_size: engine.settings().max_requests_per_batch,
                max_queue_delay: engine.settings().max_queue_delay,
            }),
            _ => None,
        }
    }

    /// The provider batches of an engine that submits them, for `Status`.
    pub fn provider_batches(&self) -> Vec<ProviderBatchStatus> {
        match self {
            Engine::OpenAiBatch(engine) => engine.batches(),
            Engine::AnthropicBatch(engine) => engine.batches(),
            _ => Vec::new(),
        }
    }

    /// Whether the engine reads `EngineCall.messages_json` (echo uses only
    /// the prompt).
    pub fn wants_messages(&self) -> bool {
        !matches!(self, Engine::Echo(_) | Engine::OpenAiEmbeddings(_))
    }

    /// True for engines that send every call as a request of its own
    /// (openai, anthropic, an engine process that registered so): a call gains nothing by waiting for its batch to
    /// fill, and its reply goes back as soon as its request is answered.
    pub fn answers_per_call(&self) -> bool {
        match self {
            Engine::OpenAi(_) | Engine::Anthropic(_) => true,
            Engine::Connected(engine) => engine.answers_per_call(),
            _ => false,
        }
    }

    /// Whether a batch sent now would only wait, for an engine that merges
    /// a batch's calls into few requests (openai-embeddings): one of its
    /// requests already waits for its rate limit, or the limit (rpm, tpm, a
    /// provider's pause) admits no request before an instant. Its calls keep gathering in
    /// the server's queue meanwhile and leave together, as one request, when
    /// the limit admits one (or a batch in flight is answered), instead of
    /// each small batch taking a request of the rpm budget. None: a batch
    /// may leave now.
    pub fn holds_new_batches(&self) -> Option<BatchHold> {
        match self {
            Engine::OpenAiEmbeddings(engine) => {
                let snapshot = engine.limiter_snapshot();
                if snapshot.waiting > 0 {
                    Some(BatchHold::WhileRequestsWait)
                } else {
                    snapshot
                        .ready_at
                        .filter(|&at| at > Instant::now())
                        .map(BatchHold::Until)
                }
            }
            _ => None,
        }
    }

    /// True for engines in a process of their own (connected), which may
    /// disconnect and register again under the same name.
    pub fn may_reconnect(&self) -> bool {
        matches!(self, Engine::Connected(_))
    }

    /// The error (an `EngineUnavailableError`) every call to this engine
    /// fails with at once now, because its endpoint refused or could not be
    /// reached several times in a row (`http::circuit`); None when calls are
    /// sent.
    pub fn refusing(&self) -> Option<ItemError> {
        let error = match self {
            Engine::OpenAi(engine) => engine.refusing(),
            Engine::Anthropic(engine) => engine.refusing(),
            Engine::OpenAiEmbeddings(engine) => engine.refusing(),
            _ => None,
        };
        error.map(|error| error.to_item_error(1))
    }

    /// False once an engine process's connection has ended: no batch is
    /// sent to it any more.
    pub fn is_connected(&self) -> bool {
        match self {
            Engine::Connected(engine) => engine.is_connected(),
            _ => true,
        }
    }

    /// What identifies a call's request for the call cache: the engine kind
    /// as keyed, the model, and the request in canonical form. None when the
    /// call cannot be turned into a request (it then fails at the engine,
    /// and is neither cached nor coalesced). `name` is the engine's name:
    /// an engine process is keyed by it, as the server cannot tell what
    /// code answers.
    pub fn cache_request(&self, name: &str, call: &EngineCall) -> Option<CacheRequest> {
        match self {
            Engine::OpenAi(engine) => engine.cache_request(call),
            Engine::Anthropic(engine) => engine.cache_request(call),
            Engine::OpenAiEmbeddings(engine) => engine.cache_request(call),
            Engine::Echo(_) => generic_cache_request("echo".to_string(), call),
            Engine::Connected(_) => generic_cache_request(format!("python:{name}"), call),
            Engine::OpenAiBatch(_) => generic_cache_request(format!("openai-batch:{name}"), call),
            Engine::AnthropicBatch(_) => {
                generic_cache_request(format!("anthropic-batch:{name}"), call)
            }
        }
    }

    /// The request body the engine sends for `call`, for engines that
    /// render one (openai, anthropic, their batch engines, openai-embeddings); None
    /// for the others,
    /// and for a call that cannot become a request (it fails when sent).
    pub fn request_body(
        &self,
        call: &EngineCall,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        match self {
            Engine::OpenAi(engine) => engine.request_body(call),
            Engine::Anthropic(engine) => engine.request_body(call),
            Engine::OpenAiBatch(engine) => engine.request_body(call),
            Engine::AnthropicBatch(engine) => engine.request_body(call),
            Engine::OpenAiEmbeddings(engine) => engine.request_body(call),
            Engine::Echo(_) | Engine::Connected(_) => None,
        }
    }

    /// Limits and live state, for engines that have them.
    pub fn limits(&self) -> EngineLimits {
        match self {
            Engine::OpenAi(engine) => engine.limits(),
            Engine::Anthropic(engine) => engine.limits(),
            Engine::OpenAiEmbeddings(engine) => engine.limits(),
            Engine::OpenAiBatch(engine) => EngineLimits {
                model: engine.settings().model.clone(),
                ..Default::default()
            },
            Engine::AnthropicBatch(engine) => EngineLimits {
                model: engine.settings().model.clone(),
                ..Default::default()
            },
            _ => EngineLimits::default(),
        }
    }

    /// Answers one batch. Engines that answer calls one by one send each
    /// answer on `answers` as soon as it is ready, and give up a call whose
    /// token in `cancels` (one per call) is cancelled; the others answer
    /// whole batches and ignore the tokens.
    pub async fn run(
        &self,
        calls: Vec<EngineCall>,
        cancels: Vec<CancellationToken>,
        answers: AnswerTx,
    ) -> BatchAnswer {
        let started = Instant::now();
        let call_ids: Vec<u64> = calls.iter().map(|c| c.call_id).collect();
        let outcome = match self {
            Engine::OpenAi(engine) => return engine.run(calls, cancels, answers).await,
            Engine::Anthropic(engine) => return engine.run(calls, cancels, answers).await,
            Engine::OpenAiBatch(engine) => return engine.run(calls, cancels, answers).await,
            Engine::AnthropicBatch(engine) => return engine.run(calls, cancels, answers).await,
            Engine::OpenAiEmbeddings(engine) => return engine.run(calls, cancels, answers).await,
            Engine::Connected(engine) => return engine.run(calls, answers).await,
            Engine::Echo(engine) => Ok(engine.run(calls).await),
        };
        BatchAnswer::measured(outcome, &call_ids, started.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_process_keys_embedding_calls_by_their_inputs() {
        let embed = |inputs: &[&str]| EngineCall {
            kind: CallKind::Embedding as i32,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let key = |call: &EngineCall| {
            generic_cache_request("python:e".into(), call)
                .expect("a request")
                .canonical
        };
        assert_ne!(key(&embed(&["a"])), key(&embed(&["b"])));
        assert_ne!(key(&embed(&["a", "b"])), key(&embed(&["b", "a"])));
        assert_eq!(key(&embed(&["a"])), key(&embed(&["a"])));
        // A chat call's key is the one it had before calls had kinds.
        let chat = EngineCall {
            prompt: "p".into(),
            ..Default::default()
        };
        assert_eq!(
            key(&chat),
            r#"{"kwargs":null,"messages":null,"prompt":"p"}"#
        );
    }

    #[test]
    fn usage_is_read_from_reply_metadata() {
        let metadata = r#"{"usage": {"prompt_tokens": 12, "completion_tokens": 3}}"#;
        assert_eq!(usage_of(metadata), (12, 3));
        assert_eq!(
            usage_of(r#"{"usage": {"input_tokens": 5, "output_tokens": 1}}"#),
            (5, 1)
        );
        assert_eq!(usage_of(""), (0, 0));
        assert_eq!(usage_of("{\"usage\": 3}"), (0, 0));
    }

    #[test]
    fn measured_stats_cover_every_call() {
        let replies = vec![EngineReply {
            call_id: 1,
            outcome: Some(engine_reply::Outcome::Text("x".into())),
            metadata_json: r#"{"usage": {"prompt_tokens": 7, "completion_tokens": 2}}"#.into(),
        }];
        let answer = BatchAnswer::measured(Ok(replies), &[1, 2], Duration::from_millis(5));
        assert_eq!(answer.stats[&1].prompt_tokens, 7);
        assert_eq!(answer.stats[&2].latency, Duration::from_millis(5));
    }
}
