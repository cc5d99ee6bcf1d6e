//! The `openai-embeddings` engine: OpenAI's embeddings API
//! (`POST {base_url}/embeddings`), or any compatible one (vLLM, Ollama,
//! llama.cpp server).
//!
//! One request takes many inputs, so an engine batch (the waiting embedding
//! calls of every item and worker) is merged into as few requests as its
//! limits allow: each request holds calls of the same model and kwargs, up
//! to `max_inputs` inputs and `max_request_tokens` estimated tokens (and
//! never more than `tpm`). Each request goes through the per-call HTTP
//! engine (`http::per_call`: limiter, retries, circuit, errors), then its
//! vectors are split back to its calls in order, and its usage among them
//! by their estimated tokens. A call's cache key is its own request, so a
//! cached call is answered alone.

pub(crate) mod request;

use std::collections::HashMap;

use reqwest::header::HeaderMap;
use reqwest::RequestBuilder;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::http::error::CallError;
use super::http::limiter::LimiterSnapshot;
use super::http::per_call::{
    embeddings_of, error_reply, Endpoint, PerCallEngine, PerCallSettings, Provider,
};
use super::http::request::{Completion, Prepared};
use super::http::retry::RateLimitHeaders;
use super::http::{host_of, ApiKey};
use super::{AnswerTx, BatchAnswer, CacheRequest, CallAnswer, CallStats, EngineLimits};
use crate::pb::v1::{engine_reply, CallKind, EngineCall, EngineReply};
pub use request::MAX_INPUTS;

/// Default `max_request_tokens`: OpenAI's limit of the tokens summed over
/// one request's inputs.
pub const DEFAULT_MAX_REQUEST_TOKENS: u64 = 300_000;

/// Settings of one openai-embeddings engine (see docs/engines.md).
#[derive(Debug, Clone)]
pub struct OpenAiEmbeddingsSettings {
    /// Endpoint, key, rpm, tpm, retries, timeout, strict: as an openai
    /// engine's.
    pub http: PerCallSettings,
    /// Inputs of one request at most, 1..=2048.
    pub max_inputs: usize,
    /// Estimated tokens of one request at most (its inputs' sum).
    pub max_request_tokens: u64,
}

impl OpenAiEmbeddingsSettings {
    /// Settings with the defaults of the config file.
    pub fn new(base_url: &str, model: &str) -> Self {
        OpenAiEmbeddingsSettings {
            http: PerCallSettings::new(base_url, model),
            max_inputs: MAX_INPUTS,
            max_request_tokens: DEFAULT_MAX_REQUEST_TOKENS,
        }
    }
}

/// What the embeddings API sends and reads (see [`Provider`]).
#[derive(Debug)]
pub struct OpenAiEmbeddings {
    model: String,
    strict: bool,
}

impl Provider for OpenAiEmbeddings {
    const KIND: &'static str = "openai-embeddings";

    fn prepare(&self, call: &EngineCall, engine: &str) -> Result<Prepared, CallError> {
        request::prepare(call, engine, &self.model, self.strict)
    }

    fn headers(&self, request: RequestBuilder, key: Option<&ApiKey>) -> RequestBuilder {
        super::openai::bearer(request, key)
    }

    fn rate_limits(&self, headers: &HeaderMap) -> RateLimitHeaders {
        RateLimitHeaders::from_headers(headers)
    }

    fn parse_reply(&self, body: &[u8]) -> Result<Completion, String> {
        request::parse_embeddings(body)
    }

    fn estimate(&self, body: &Map<String, Value>) -> u64 {
        request::estimate(body)
    }
}

/// Handle to an openai-embeddings engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OpenAiEmbeddingsEngine {
    requests: PerCallEngine<OpenAiEmbeddings>,
    max_inputs: usize,
    /// Tokens of one request at most: `max_request_tokens`, and `tpm`.
    max_tokens: u64,
    host: String,
}

/// The calls of one request.
struct Group {
    /// What the calls' bodies share but `input` (model, kwargs); None for a
    /// call whose body cannot be built (it goes alone and fails).
    key: Option<String>,
    calls: Vec<EngineCall>,
    cancels: Vec<CancellationToken>,
    /// Estimated tokens of each call.
    tokens: Vec<u64>,
    inputs: usize,
}

impl OpenAiEmbeddingsEngine {
    /// Builds the engine and starts its limiter (stopped by `cancel`).
    pub fn new(
        name: &str,
        settings: OpenAiEmbeddingsSettings,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, reqwest::Error> {
        let provider = OpenAiEmbeddings {
            model: settings.http.model.clone(),
            strict: settings.http.strict,
        };
        let url = format!("{}/embeddings", settings.http.base_url);
        let host = host_of(&url);
        let max_tokens = settings
            .http
            .tpm
            .map_or(settings.max_request_tokens, |tpm| {
                tpm.min(settings.max_request_tokens)
            });
        let max_inputs = settings.max_inputs.clamp(1, MAX_INPUTS);
        let requests = PerCallEngine::start(
            name,
            provider,
            Endpoint::post(url),
            settings.http,
            cancel,
            tracker,
        )?;
        Ok(OpenAiEmbeddingsEngine {
            requests,
            max_inputs,
            max_tokens,
            host,
        })
    }

    /// The call's own request, for the call cache.
    pub fn cache_request(&self, call: &EngineCall) -> Option<CacheRequest> {
        self.requests.cache_request(call)
    }

    /// The call's own request body (for its spend reservation).
    pub fn request_body(&self, call: &EngineCall) -> Option<Map<String, Value>> {
        self.requests.request_body(call)
    }

    pub fn limits(&self) -> EngineLimits {
        self.requests.limits()
    }

    /// The rate limiter's live state (see [`crate::engine::Engine::holds_new_batches`]).
    pub fn limiter_snapshot(&self) -> LimiterSnapshot {
        self.requests.limiter_snapshot()
    }

    /// The error its calls fail with at once now, while its endpoint's
    /// circuit is open; None when calls are sent.
    pub fn refusing(&self) -> Option<CallError> {
        self.requests.refusing()
    }

    /// Answers an engine batch: its calls merged into requests (see the
    /// module's doc), each call's answer sent on `answers` as soon as its
    /// request is answered. A request is given up only when every call in
    /// it is cancelled.
    pub async fn run(
        &self,
        calls: Vec<EngineCall>,
        cancels: Vec<CancellationToken>,
        answers: AnswerTx,
    ) -> BatchAnswer {
        let groups = self.group(calls, cancels);
        let mut watchers = JoinSet::new();
        let mut merged = Vec::with_capacity(groups.len());
        let mut merged_cancels = Vec::with_capacity(groups.len());
        for (id, group) in groups.iter().enumerate() {
            merged.push(EngineCall {
                call_id: id as u64,
                kind: CallKind::Embedding as i32,
                inputs: group
                    .calls
                    .iter()
                    .flat_map(|c| c.inputs.iter().cloned())
                    .collect(),
                kwargs_json: group.calls[0].kwargs_json.clone(),
                ..Default::default()
            });
            merged_cancels.push(all_cancelled(&group.cancels, &mut watchers));
        }
        let (merged_tx, mut merged_rx) = mpsc::unbounded_channel::<CallAnswer>();
        let mut kept = Vec::new();
        let forward = async {
            while let Some(answer) = merged_rx.recv().await {
                let group = &groups[answer.reply.call_id as usize];
                for split in self.split(group, answer.reply, answer.stats) {
                    if let Err(unsent) = answers.send(split) {
                        kept.push(unsent.0);
                    }
                }
            }
        };
        let (rest, ()) = tokio::join!(
            self.requests.run(merged, merged_cancels, merged_tx),
            forward
        );
        drop(watchers);
        let mut stats: HashMap<u64, CallStats> = HashMap::new();
        let mut replies = Vec::new();
        let left = match rest.outcome {
            Ok(left) => left,
            Err(err) => {
                // The per-call engine answers call by call; kept for safety.
                return BatchAnswer {
                    outcome: Err(err),
                    stats: rest.stats,
                    late_copies: rest.late_copies,
                };
            }
        };
        for reply in left {
            let group = &groups[reply.call_id as usize];
            let call_stats = rest.stats.get(&reply.call_id).copied().unwrap_or_default();
            kept.extend(self.split(group, reply, call_stats));
        }
        for answer in kept {
            stats.insert(answer.reply.call_id, answer.stats);
            replies.push(answer.reply);
        }
        BatchAnswer {
            outcome: Ok(replies),
            stats,
            late_copies: rest.late_copies,
        }
    }

    /// Puts calls into requests: in arrival order, each into the open
    /// request of its model and kwargs while it fits, else into a new one.
    fn group(&self, calls: Vec<EngineCall>, cancels: Vec<CancellationToken>) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        let mut open: HashMap<String, usize> = HashMap::new();
        let mut cancels = cancels.into_iter();
        for call in calls {
            let cancel = cancels.next().unwrap_or_default();
            let key = self.group_key(&call);
            let tokens: u64 = call.inputs.iter().map(|t| request::input_tokens(t)).sum();
            let inputs = call.inputs.len();
            let fits = |group: &Group| {
                group.inputs + inputs <= self.max_inputs
                    && group.tokens.iter().sum::<u64>() + tokens <= self.max_tokens
            };
            let target = key
                .as_ref()
                .and_then(|key| open.get(key).copied())
                .filter(|&index| fits(&groups[index]));
            let index = match target {
                Some(index) => index,
                None => {
                    groups.push(Group {
                        key: key.clone(),
                        calls: Vec::new(),
                        cancels: Vec::new(),
                        tokens: Vec::new(),
                        inputs: 0,
                    });
                    let index = groups.len() - 1;
                    if let Some(key) = key {
                        open.insert(key, index);
                    }
                    index
                }
            };
            let group = &mut groups[index];
            group.calls.push(call);
            group.cancels.push(cancel);
            group.tokens.push(tokens);
            group.inputs += inputs;
        }
        debug_assert!(groups.iter().all(|g| g.key.is_some() || g.calls.len() == 1));
        groups
    }

    /// What a call's body holds besides its inputs, in canonical form.
    fn group_key(&self, call: &EngineCall) -> Option<String> {
        let mut probe = call.clone();
        probe.inputs = vec![String::new()];
        let prepared = request::prepare(&probe, "", "", false).ok()?;
        let mut body = prepared.body;
        body.remove("input");
        Some(crate::cache::key::canonical_json(&Value::Object(body)))
    }

    /// One request's reply as its calls' answers.
    fn split(&self, group: &Group, reply: EngineReply, stats: CallStats) -> Vec<CallAnswer> {
        let metadata = match reply.metadata_json.trim() {
            "" => Map::new(),
            text => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            },
        };
        let member_stats = |i: usize, prompt_tokens: u64| CallStats {
            // A request's retries and 429s count once, on its first call.
            retries: if i == 0 { stats.retries } else { 0 },
            rate_limited: if i == 0 { stats.rate_limited } else { 0 },
            prompt_tokens,
            completion_tokens: 0,
            latency: stats.latency,
            batch_priced: false,
        };
        let vectors = match reply.outcome {
            Some(engine_reply::Outcome::Embeddings(embeddings))
                if embeddings.vectors.len() == group.inputs =>
            {
                embeddings.vectors
            }
            Some(engine_reply::Outcome::Embeddings(embeddings)) => {
                let err = CallError::BadResponse {
                    host: self.host.clone(),
                    message: format!(
                        "the response holds {} vectors for the request's {} inputs",
                        embeddings.vectors.len(),
                        group.inputs
                    ),
                };
                return self.fail_all(group, &err, &member_stats);
            }
            Some(engine_reply::Outcome::Error(error)) => {
                return group
                    .calls
                    .iter()
                    .enumerate()
                    .map(|(i, call)| CallAnswer {
                        reply: EngineReply {
                            call_id: call.call_id,
                            outcome: Some(engine_reply::Outcome::Error(error.clone())),
                            metadata_json: String::new(),
                        },
                        stats: member_stats(i, 0),
                    })
                    .collect();
            }
            _ => {
                let err = CallError::BadResponse {
                    host: self.host.clone(),
                    message: "the response holds no vectors".into(),
                };
                return self.fail_all(group, &err, &member_stats);
            }
        };
        let shares = shares(stats.prompt_tokens, &group.tokens);
        let mut vectors = vectors.into_iter();
        group
            .calls
            .iter()
            .enumerate()
            .map(|(i, call)| {
                let own: Vec<Vec<f64>> = vectors
                    .by_ref()
                    .take(call.inputs.len())
                    .map(|v| v.values)
                    .collect();
                let mut meta = metadata.clone();
                let tokens = shares[i];
                meta.insert(
                    "usage".into(),
                    serde_json::json!({"prompt_tokens": tokens, "total_tokens": tokens}),
                );
                meta.insert("request_inputs".into(), group.inputs.into());
                CallAnswer {
                    reply: EngineReply {
                        call_id: call.call_id,
                        outcome: Some(engine_reply::Outcome::Embeddings(embeddings_of(own))),
                        metadata_json: Value::Object(meta).to_string(),
                    },
                    stats: member_stats(i, tokens),
                }
            })
            .collect()
    }

    fn fail_all(
        &self,
        group: &Group,
        err: &CallError,
        member_stats: &dyn Fn(usize, u64) -> CallStats,
    ) -> Vec<CallAnswer> {
        group
            .calls
            .iter()
            .enumerate()
            .map(|(i, call)| CallAnswer {
                reply: error_reply(call.call_id, err, 1),
                stats: member_stats(i, 0),
            })
            .collect()
    }
}

/// A token cancelled once every one of `tokens` is (the token itself when
/// there is one). The watcher tasks live in `watchers`, dropped (and so
/// aborted) when the batch is answered.
fn all_cancelled(tokens: &[CancellationToken], watchers: &mut JoinSet<()>) -> CancellationToken {
    if let [one] = tokens {
        return one.clone();
    }
    let all = CancellationToken::new();
    let (each, done) = (tokens.to_vec(), all.clone());
    watchers.spawn(async move {
        for token in each {
            token.cancelled().await;
        }
        done.cancel();
    });
    all
}

/// `total` split in proportion to `weights`, the rounding put on the last.
fn shares(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u64 = weights.iter().sum::<u64>().max(1);
    let mut shares: Vec<u64> = weights
        .iter()
        .map(|w| ((total as u128 * *w as u128) / sum as u128) as u64)
        .collect();
    let given: u64 = shares.iter().sum();
    if let Some(last) = shares.last_mut() {
        *last += total.saturating_sub(given);
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_shared_by_estimated_tokens_and_adds_up() {
        assert_eq!(shares(10, &[1, 1, 2]), vec![2, 2, 6]);
        assert_eq!(shares(7, &[3, 3, 3]), vec![2, 2, 3]);
        assert_eq!(shares(0, &[1, 2]), vec![0, 0]);
        assert_eq!(shares(5, &[0]), vec![5]);
    }

    fn engine(max_inputs: usize, max_request_tokens: u64) -> OpenAiEmbeddingsEngine {
        let mut settings = OpenAiEmbeddingsSettings::new("http://127.0.0.1:9/v1", "e");
        settings.max_inputs = max_inputs;
        settings.max_request_tokens = max_request_tokens;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        OpenAiEmbeddingsEngine::new(
            "emb",
            settings,
            CancellationToken::new(),
            &TaskTracker::new(),
        )
        .expect("engine")
    }

    fn call(id: u64, inputs: &[&str], kwargs: &str) -> EngineCall {
        EngineCall {
            call_id: id,
            kind: CallKind::Embedding as i32,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            kwargs_json: kwargs.into(),
            ..Default::default()
        }
    }

    fn grouped(engine: &OpenAiEmbeddingsEngine, calls: Vec<EngineCall>) -> Vec<Vec<u64>> {
        let cancels = calls.iter().map(|_| CancellationToken::new()).collect();
        engine
            .group(calls, cancels)
            .iter()
            .map(|g| g.calls.iter().map(|c| c.call_id).collect())
            .collect()
    }

    #[test]
    fn calls_fill_requests_up_to_max_inputs_per_model() {
        let e = engine(3, 1000);
        let calls = vec![
            call(1, &["a"], ""),
            call(2, &["b", "c"], ""),
            call(3, &["d"], r#"{"model": "other"}"#),
            call(4, &["e"], ""),
            call(5, &["f"], r#"{"model": "other"}"#),
        ];
        assert_eq!(grouped(&e, calls), vec![vec![1, 2], vec![3, 5], vec![4]]);
    }

    #[test]
    fn the_token_budget_closes_a_request() {
        // 8 bytes: 2 tokens each; a budget of 5 holds two.
        let e = engine(100, 5);
        let calls = (1..=5).map(|i| call(i, &["12345678"], "")).collect();
        assert_eq!(grouped(&e, calls), vec![vec![1, 2], vec![3, 4], vec![5]]);
    }

    #[test]
    fn a_call_whose_body_cannot_be_built_goes_alone() {
        let e = engine(100, 1000);
        let calls = vec![
            call(1, &["a"], ""),
            call(2, &["b"], "[1]"),
            call(3, &["c"], ""),
        ];
        assert_eq!(grouped(&e, calls), vec![vec![1, 3], vec![2]]);
    }
}
