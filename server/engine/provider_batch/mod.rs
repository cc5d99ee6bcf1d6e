//! Provider-batch engines: a provider's batch API (OpenAI's Files +
//! Batches, Anthropic's Message Batches) at the batch price, through one
//! core. A batch of engine calls formed by the scheduler becomes one or
//! more provider batches (split at `max_requests_per_batch` requests and
//! `max_batch_bytes`); a watcher polls each batch until it ends, reads its
//! results, and every call gets the reply whose `custom_id` is its key.
//!
//! Durable: each submitted batch and the keys of its requests are recorded
//! in `batches.redb` in the cache directory before anyone waits on it; a
//! call whose key is in a live batch (after a restart, or from a re-run
//! job) waits for that batch instead of being submitted again.
//!
//! Requests that expired, or failed for a passing reason (429, 5xx, a
//! failed or cancelled batch), go to the `fallback` engine (the provider's
//! online engine), or into a next batch (at most
//! [`settings::MAX_RESUBMITS`] times). When every call of a run waiting on
//! a batch is given up (its job cancelled), and no other run waits on it,
//! the batch is cancelled on the provider.
//!
//! The core (shared by every provider):
//! - here: the engine: requests keyed, placed in live batches or
//!   submitted, waited on, answered, resubmitted or sent to the fallback;
//! - `settings`: settings and their defaults;
//! - `key`: the call key (custom id and store key);
//! - `requests`: splitting at the limits, result lines to outcomes;
//! - `http`: the batch endpoints' client (retries, errors, headers);
//! - `store`: `batches.redb`;
//! - `watch`: one polling task per provider batch;
//! - `provider`: the [`BatchProvider`] trait, what a provider differs in;
//! - `deadline`: which calls go by batch and which online to meet a job's
//!   deadline, and when a batch is hedged (a pure policy);
//! - `hedge`: that policy applied to a run's calls and batches.
//!
//! The providers, one file each: `openai` (kind `openai-batch`) and
//! `anthropic` (kind `anthropic-batch`).

pub mod anthropic;
pub mod deadline;
mod hedge;
pub mod http;
mod key;
mod late;
pub mod openai;
pub mod provider;
pub mod requests;
pub mod settings;
pub mod store;
mod watch;

use std::collections::HashSet;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::http::error::CallError;
use super::http::per_call::{PerCallEngine, Provider};
use super::http::request::Completion;
use super::{AnswerTx, BatchAnswer, CallAnswer, CallStats};
use crate::pb::v1::{engine_reply, EngineCall, EngineReply, ProviderBatchStatus};
pub use anthropic::{AnthropicBatch, AnthropicBatchSettings};
use deadline::Route;
use http::BatchHttp;
pub use openai::{OpenAiBatch, OpenAiBatchSettings};
pub use provider::BatchProvider;
use requests::{Outcome, Request};
pub use settings::BatchSettings;
use store::BatchRecord;
pub use store::{BatchStore, StoreError};
use watch::{Finished, Watcher};

/// Handle to an openai-batch engine.
pub type OpenAiBatchEngine = ProviderBatchEngine<OpenAiBatch>;
/// Handle to an anthropic-batch engine.
pub type AnthropicBatchEngine = ProviderBatchEngine<AnthropicBatch>;

/// Batches of an engine that `Status` lists at most (the newest).
const STATUS_BATCHES: usize = 100;

/// Handle to a provider-batch engine of provider `P`. Cheap to clone.
#[derive(Debug)]
pub struct ProviderBatchEngine<P: BatchProvider> {
    inner: Arc<Inner<P>>,
}

impl<P: BatchProvider> Clone for ProviderBatchEngine<P> {
    fn clone(&self) -> Self {
        ProviderBatchEngine {
            inner: Arc::clone(&self.inner),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Inner<P: BatchProvider> {
    name: String,
    settings: BatchSettings<P>,
    provider: P,
    http: BatchHttp<P::Online>,
    store: Arc<BatchStore>,
    fallback: Option<PerCallEngine<P::Online>>,
    /// The watcher of each batch being polled now, by provider batch id.
    watchers: Mutex<HashMap<String, Watcher>>,
    /// The latest known state of the engine's batches, for `Status`.
    views: Mutex<BTreeMap<String, BatchRecord<P::Refs>>>,
    /// Turnarounds of its latest completed batches, in seconds (`store`).
    turnarounds: Mutex<Vec<f64>>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

/// Why a provider-batch engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum BatchSetupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build its HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The calls of one run that share a key (they are one request).
type KeyCalls = HashMap<String, Vec<usize>>;

impl<P: BatchProvider> ProviderBatchEngine<P> {
    /// The body of `call`'s request as the batch's line carries it (the
    /// online engine's body); None for a call that cannot become a request.
    pub fn request_body(&self, call: &EngineCall) -> Option<Map<String, Value>> {
        let inner = &*self.inner;
        Some(inner.http.online.prepare(call, &inner.name).ok()?.body)
    }

    /// Builds the engine on `store` (the server's `batches.redb`, which
    /// every provider-batch engine shares); `fallback` is the online engine
    /// named by `settings.fallback`.
    pub fn new(
        name: &str,
        settings: BatchSettings<P>,
        store: Arc<BatchStore>,
        fallback: Option<PerCallEngine<P::Online>>,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, BatchSetupError> {
        let (provider, online) = P::new(&settings);
        let http = BatchHttp::new(
            &settings.base_url,
            settings.api_key.clone(),
            settings.max_retries,
            settings.timeout,
            online,
        )?;
        let turnarounds = store.turnarounds(name)?;
        let recorded = store.batches_of::<P::Refs>(name)?;
        let skip = recorded.len().saturating_sub(STATUS_BATCHES);
        let views = recorded
            .into_iter()
            .skip(skip)
            .map(|r| (r.batch_id.clone(), r))
            .collect();
        Ok(ProviderBatchEngine {
            inner: Arc::new(Inner {
                name: name.to_string(),
                settings,
                provider,
                http,
                store,
                fallback,
                watchers: Mutex::new(HashMap::new()),
                views: Mutex::new(views),
                turnarounds: Mutex::new(turnarounds),
                cancel,
                tracker: tracker.clone(),
            }),
        })
    }

    pub fn settings(&self) -> &BatchSettings<P> {
        &self.inner.settings
    }

    /// Whether some of its calls may be answered online, at the online
    /// price: those of expired or failed requests, and those a deadline
    /// sends online, go to its fallback engine.
    pub fn has_fallback(&self) -> bool {
        self.inner.fallback.is_some()
    }

    /// The engine's batches (the newest [`STATUS_BATCHES`]), for `Status`.
    pub fn batches(&self) -> Vec<ProviderBatchStatus> {
        let views = self.inner.views.lock().expect("views lock");
        let mut records: Vec<&BatchRecord<P::Refs>> = views.values().collect();
        records.sort_by_key(|r| r.created_unix);
        let skip = records.len().saturating_sub(STATUS_BATCHES);
        records
            .into_iter()
            .skip(skip)
            .map(|r| ProviderBatchStatus {
                engine: r.engine.clone(),
                batch_id: r.batch_id.clone(),
                state: r.state.clone(),
                total: r.total,
                completed: r.completed,
                failed: r.failed,
            })
            .collect()
    }

    /// Answers a batch of calls through the provider's batch API. Every
    /// answer goes out on `answers` as soon as its provider batch ends; the
    /// returned answer holds those `answers` could not take. When every
    /// token in `cancels` is cancelled, the run ends at once (its calls
    /// answer `Cancelled`).
    pub async fn run(
        &self,
        calls: Vec<EngineCall>,
        cancels: Vec<CancellationToken>,
        answers: AnswerTx,
    ) -> BatchAnswer {
        let started = Instant::now();
        let mut out = Outbox {
            answers,
            started,
            left: BatchAnswer {
                outcome: Ok(Vec::new()),
                stats: HashMap::new(),
                late_copies: HashMap::new(),
            },
            answered: HashSet::new(),
        };
        let inner = &self.inner;
        let mut requests: HashMap<String, Request> = HashMap::new();
        let mut by_key: KeyCalls = HashMap::new();
        for (index, call) in calls.iter().enumerate() {
            match inner.http.online.prepare(call, &inner.name) {
                Ok(prepared) => {
                    let model = prepared.body["model"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let key = key::call_key(&model, &prepared.body);
                    by_key.entry(key.clone()).or_default().push(index);
                    requests.entry(key.clone()).or_insert_with(|| {
                        let line = inner.provider.request_line(&key, prepared.body);
                        Request::new(key, line)
                    });
                }
                Err(err) => out.fail(call.call_id, &err),
            }
        }
        let run_cancelled = all_cancelled(&cancels);
        let _stop_watching = run_cancelled.1.drop_guard();
        let run_cancelled = run_cancelled.0;

        let mut pending: Vec<String> = by_key.keys().cloned().collect();
        // The batches given up on after their hedge (see `late`).
        let mut hedged_away: Vec<late::Hedged> = Vec::new();
        let mut rounds = 0u32;
        let mut reasons: HashMap<String, String> = HashMap::new();
        // A job's deadline decides whether the calls go by batch at all, and
        // when their batches are hedged (`deadline`).
        let (by_batch, hedge_at) = match inner.route(hedge::deadline_of(&calls), pending.len()) {
            Route::Batch { hedge_at } => (true, hedge_at),
            Route::Online => {
                tracing::info!(engine = %inner.name, requests = pending.len(),
                    "the deadline leaves no time for a provider batch: the requests go online");
                (false, None)
            }
        };
        while by_batch && !pending.is_empty() {
            let fresh_only = rounds > 0;
            let waits = self
                .place(&pending, &requests, fresh_only, &by_key, &calls, &mut out)
                .await;
            // Before anything else: a run given up while its batch was being
            // submitted must still count as waiting on it, or nobody cancels
            // the batch on the provider.
            for (watcher, _) in &waits {
                watch_for_cancellation(watcher, &run_cancelled);
            }
            let interests: Vec<_> = waits.iter().map(|(w, _)| w.interest.clone()).collect();
            let watched = late::watched(&waits);
            let waited = {
                let collect = self.collect(waits, &by_key, &calls, &mut out);
                tokio::pin!(collect);
                let hedge = hedge::until(hedge_at);
                tokio::pin!(hedge);
                let give_up = tokio::time::sleep(Duration::from_secs(366 * 86_400));
                tokio::pin!(give_up);
                let mut hedged = false;
                loop {
                    tokio::select! {
                        _ = run_cancelled.cancelled() => break Waited::Cancelled,
                        retry = &mut collect => break Waited::Ended(retry),
                        _ = &mut hedge, if !hedged => {
                            hedged = true;
                            tracing::info!(engine = %inner.name, batches = interests.len(),
                                "hedge point reached: the batches are cancelled, and their \
                                 requests not answered go online");
                            for interest in &interests {
                                interest.hedge();
                            }
                            give_up.as_mut().reset(Instant::now() + inner.settings.cancel_wait);
                        }
                        _ = &mut give_up, if hedged => break Waited::GaveUp,
                    }
                }
            };
            let retry = match waited {
                Waited::Ended(retry) => retry,
                Waited::Cancelled => {
                    for index in by_key.values().flatten() {
                        out.fail_unanswered(calls[*index].call_id, &CallError::Cancelled);
                    }
                    return out.finish();
                }
                Waited::GaveUp => {
                    tracing::warn!(engine = %inner.name, wait = ?inner.settings.cancel_wait,
                        "hedged batches did not end within cancel_wait: their requests not \
                         answered go online, and the batches' copies are ignored");
                    hedged_away.extend(watched);
                    let reason = "its batch was hedged and did not end in time".to_string();
                    by_key
                        .iter()
                        .filter(|(_, indices)| {
                            indices.iter().any(|i| !out.is_answered(calls[*i].call_id))
                        })
                        .map(|(key, _)| (key.clone(), reason.clone()))
                        .collect()
                }
            };
            pending = retry.keys().cloned().collect();
            reasons = retry;
            if pending.is_empty() || inner.fallback.is_some() || rounds >= settings::MAX_RESUBMITS {
                break;
            }
            rounds += 1;
            tracing::info!(engine = %inner.name, requests = pending.len(), round = rounds,
                "requests not answered by their batch go into a next batch");
        }
        if pending.is_empty() {
            return out.finish();
        }
        if let Some(fallback) = &inner.fallback {
            tracing::info!(engine = %inner.name, requests = pending.len(),
                fallback = ?inner.settings.fallback, "requests not answered by their batch go to the fallback engine");
            let mut fallback_calls = Vec::new();
            let mut fallback_cancels = Vec::new();
            for key in &pending {
                for index in &by_key[key] {
                    if !out.is_answered(calls[*index].call_id) {
                        fallback_calls.push(calls[*index].clone());
                        fallback_cancels.push(cancels[*index].clone());
                    }
                }
            }
            let answer = fallback
                .run(fallback_calls, fallback_cancels, out.answers.clone())
                .await;
            out.absorb(answer);
            if !hedged_away.is_empty() {
                let online: HashSet<&String> = pending.iter().collect();
                let copies = late::wait_for_copies(&inner.name, hedged_away, &online).await;
                out.left.late_copies = late::by_call(copies, &by_key, &calls);
            }
            return out.finish();
        }
        for key in &pending {
            let err = CallError::Internal(format!(
                "not answered in {} batches: {}",
                rounds + 1,
                reasons.get(key).map(String::as_str).unwrap_or("no result")
            ));
            for index in &by_key[key] {
                out.fail(calls[*index].call_id, &err);
            }
        }
        out.finish()
    }

    /// Finds or submits the batch of each key: a live recorded batch
    /// (unless `fresh_only`), else new batch files. Returns the batches to
    /// wait on with the keys each holds; calls that cannot be submitted
    /// fail now.
    async fn place(
        &self,
        keys: &[String],
        requests: &HashMap<String, Request>,
        fresh_only: bool,
        by_key: &KeyCalls,
        calls: &[EngineCall],
        out: &mut Outbox,
    ) -> Vec<(Watcher, Vec<String>)> {
        let inner = &self.inner;
        let mut attached: HashMap<String, (BatchRecord<P::Refs>, Vec<String>)> = HashMap::new();
        let mut fresh = Vec::new();
        for key in keys {
            let live = if fresh_only {
                Ok(None)
            } else {
                inner.store.live_batch_of(&inner.name, key, P::DEAD)
            };
            match live {
                Ok(Some(record)) => {
                    attached
                        .entry(record.batch_id.clone())
                        .or_insert_with(|| (record, Vec::new()))
                        .1
                        .push(key.clone());
                }
                Ok(None) => fresh.push(requests[key].clone()),
                Err(err) => {
                    let err = CallError::Internal(err.to_string());
                    for index in &by_key[key] {
                        out.fail(calls[*index].call_id, &err);
                    }
                }
            }
        }
        if !attached.is_empty() {
            let count: usize = attached.values().map(|(_, keys)| keys.len()).sum();
            tracing::info!(engine = %inner.name, requests = count, batches = attached.len(),
                "requests already in submitted batches: waiting for those");
        }
        let mut waits: Vec<(Watcher, Vec<String>)> = attached
            .into_values()
            .map(|(record, keys)| (inner.watcher(record), keys))
            .collect();
        let (batches, too_large) = requests::split(
            fresh,
            inner.settings.max_requests_per_batch,
            inner.settings.max_batch_bytes,
            P::ENVELOPE_BYTES,
        );
        for request in too_large {
            let err = CallError::InvalidCall {
                field: "messages",
                reason: format!(
                    "the request is {} bytes, more than a batch may hold: max_batch_bytes = {}",
                    request.bytes(),
                    inner.settings.max_batch_bytes
                ),
            };
            for index in &by_key[&request.key] {
                out.fail(calls[*index].call_id, &err);
            }
        }
        for batch in batches {
            let keys: Vec<String> = batch.iter().map(|r| r.key.clone()).collect();
            match self.submit(&batch).await {
                Ok(record) => waits.push((inner.watcher(record), keys)),
                Err(err) => {
                    tracing::warn!(engine = %inner.name, %err, requests = keys.len(),
                        "cannot submit a batch");
                    for key in &keys {
                        for index in &by_key[key] {
                            out.fail(calls[*index].call_id, &err);
                        }
                    }
                }
            }
        }
        waits
    }

    /// Submits one batch and records it.
    async fn submit(&self, batch: &[Request]) -> Result<BatchRecord<P::Refs>, CallError> {
        let inner = &self.inner;
        let keys: Vec<String> = batch.iter().map(|r| r.key.clone()).collect();
        let submitted = inner
            .provider
            .submit(&inner.http, &inner.name, batch)
            .await?;
        let record = BatchRecord {
            engine: inner.name.clone(),
            batch_id: submitted.batch_id,
            state: submitted.state,
            refs: submitted.refs,
            total: batch.len() as u32,
            completed: 0,
            failed: 0,
            created_unix: unix_now(),
            created_ms: Some(unix_ms_now()),
        };
        inner
            .store
            .record_submitted(&record, &keys)
            .map_err(|err| CallError::Internal(err.to_string()))?;
        inner
            .views
            .lock()
            .expect("views lock")
            .insert(record.batch_id.clone(), record.clone());
        tracing::info!(engine = %inner.name, kind = P::KIND, batch = %record.batch_id,
            requests = batch.len(), "batch submitted");
        Ok(record)
    }

    /// Waits for every batch in `waits` and answers the calls of each as it
    /// ends. Returns the keys to try again, with why.
    async fn collect(
        &self,
        waits: Vec<(Watcher, Vec<String>)>,
        by_key: &KeyCalls,
        calls: &[EngineCall],
        out: &mut Outbox,
    ) -> HashMap<String, String> {
        let mut set = JoinSet::new();
        for (watcher, keys) in waits {
            let mut result = watcher.result;
            set.spawn(async move {
                let finished = match result.wait_for(Option::is_some).await {
                    Ok(value) => value.clone(),
                    Err(_) => None,
                };
                (finished, keys)
            });
        }
        let mut retry = HashMap::new();
        while let Some(joined) = set.join_next().await {
            let Ok((finished, keys)) = joined else {
                continue;
            };
            let Some(finished) = finished else {
                // The watcher stopped: the server is shutting down.
                for key in &keys {
                    for index in &by_key[key] {
                        out.fail(calls[*index].call_id, &CallError::ShuttingDown);
                    }
                }
                continue;
            };
            for key in keys {
                self.answer_key(&finished, key, by_key, calls, out, &mut retry);
            }
        }
        retry
    }

    fn answer_key(
        &self,
        finished: &Finished,
        key: String,
        by_key: &KeyCalls,
        calls: &[EngineCall],
        out: &mut Outbox,
        retry: &mut HashMap<String, String>,
    ) {
        match finished.outcomes.get(&key) {
            Some(Outcome::Answered(completion)) => {
                for index in &by_key[&key] {
                    out.answer(calls[*index].call_id, completion);
                }
            }
            Some(Outcome::Failed(err)) => {
                for index in &by_key[&key] {
                    out.fail(calls[*index].call_id, err);
                }
            }
            Some(Outcome::Retry(reason)) => {
                retry.insert(key, reason.clone());
            }
            None => {
                retry.insert(key, finished.note.clone());
            }
        }
    }
}

impl<P: BatchProvider> Inner<P> {
    /// The watcher of `record`'s batch: the one polling it now, or a new one.
    fn watcher(self: &Arc<Self>, record: BatchRecord<P::Refs>) -> Watcher {
        let mut watchers = self.watchers.lock().expect("watchers lock");
        if let Some(watcher) = watchers.get(&record.batch_id) {
            return watcher.clone();
        }
        let id = record.batch_id.clone();
        let watcher = watch::spawn(self, record);
        watchers.insert(id, watcher.clone());
        watcher
    }

    fn forget_watcher(&self, batch_id: &str) {
        self.watchers
            .lock()
            .expect("watchers lock")
            .remove(batch_id);
    }

    /// Keeps a batch's new state in the store and the view.
    fn remember(&self, record: &BatchRecord<P::Refs>) {
        if let Err(err) = self.store.update(record) {
            tracing::warn!(engine = %self.name, batch = %record.batch_id, %err,
                "cannot record the batch's state");
        }
        self.views
            .lock()
            .expect("views lock")
            .insert(record.batch_id.clone(), record.clone());
    }
}

/// Counts the run behind `run_cancelled` as waiting on `watcher`'s batch,
/// and wakes the watcher when the run is given up (at once if it already
/// is), so that it cancels the batch now rather than at its next poll.
fn watch_for_cancellation(watcher: &Watcher, run_cancelled: &CancellationToken) {
    watcher.interest.add(run_cancelled.clone());
    let (cancelled, interest) = (run_cancelled.clone(), watcher.interest.clone());
    let mut finished = watcher.result.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = cancelled.cancelled() => interest.changed.notify_one(),
            _ = finished.wait_for(Option::is_some) => {}
        }
    });
}

/// A token cancelled once every token of `cancels` is (never for none),
/// and the token that stops watching them.
fn all_cancelled(cancels: &[CancellationToken]) -> (CancellationToken, CancellationToken) {
    let all = CancellationToken::new();
    let stop = CancellationToken::new();
    if !cancels.is_empty() {
        let (tokens, all, stop) = (cancels.to_vec(), all.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = async { for token in &tokens { token.cancelled().await } } => all.cancel(),
            }
        });
    }
    (all, stop)
}

/// How a run's wait on its batches ended.
enum Waited {
    /// Every batch ended; the keys to try again, with why.
    Ended(HashMap<String, String>),
    /// Every call of the run was given up.
    Cancelled,
    /// The batches were hedged and did not end within `cancel_wait`.
    GaveUp,
}

/// Where a run's answers go: out at once on `answers`, else kept for the
/// returned [`BatchAnswer`]. Each call is answered once.
struct Outbox {
    answers: AnswerTx,
    started: Instant,
    left: BatchAnswer,
    /// The calls answered so far.
    answered: HashSet<u64>,
}

impl Outbox {
    fn is_answered(&self, call_id: u64) -> bool {
        self.answered.contains(&call_id)
    }

    /// Fails `call_id` unless it is answered already.
    fn fail_unanswered(&mut self, call_id: u64, err: &CallError) {
        if !self.is_answered(call_id) {
            self.fail(call_id, err);
        }
    }

    fn send(&mut self, reply: EngineReply, stats: CallStats) {
        let call_id = reply.call_id;
        if !self.answered.insert(call_id) {
            return; // answered already: the first answer stands
        }
        if let Err(unsent) = self.answers.send(CallAnswer { reply, stats }) {
            let CallAnswer { reply, stats } = unsent.0;
            self.left.stats.insert(call_id, stats);
            if let Ok(replies) = &mut self.left.outcome {
                replies.push(reply);
            }
        }
    }

    fn answer(&mut self, call_id: u64, completion: &Completion) {
        let stats = CallStats {
            prompt_tokens: completion.prompt_tokens,
            completion_tokens: completion.completion_tokens,
            latency: self.started.elapsed(),
            batch_priced: true,
            ..Default::default()
        };
        let reply = EngineReply {
            call_id,
            outcome: Some(engine_reply::Outcome::Text(completion.text.clone())),
            metadata_json: Value::Object(completion.metadata.clone()).to_string(),
        };
        self.send(reply, stats);
    }

    fn fail(&mut self, call_id: u64, err: &CallError) {
        let stats = CallStats {
            latency: self.started.elapsed(),
            ..Default::default()
        };
        let reply = EngineReply {
            call_id,
            outcome: Some(engine_reply::Outcome::Error(err.to_item_error(1))),
            metadata_json: String::new(),
        };
        self.send(reply, stats);
    }

    /// Takes in what another engine (the fallback) could not send.
    fn absorb(&mut self, answer: BatchAnswer) {
        if let Ok(replies) = answer.outcome {
            for reply in replies {
                let stats = answer
                    .stats
                    .get(&reply.call_id)
                    .copied()
                    .unwrap_or_default();
                self.send(reply, stats);
            }
        }
    }

    fn finish(self) -> BatchAnswer {
        self.left
    }
}

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_answered_once_whichever_copy_comes_second() {
        let (answers, mut received) = tokio::sync::mpsc::unbounded_channel();
        let mut out = Outbox {
            answers,
            started: Instant::now(),
            left: BatchAnswer {
                outcome: Ok(Vec::new()),
                stats: HashMap::new(),
                late_copies: HashMap::new(),
            },
            answered: HashSet::new(),
        };
        let text = |t: &str| EngineReply {
            call_id: 7,
            outcome: Some(engine_reply::Outcome::Text(t.into())),
            metadata_json: String::new(),
        };
        out.send(text("online"), CallStats::default());
        out.send(text("batch"), CallStats::default());
        out.fail_unanswered(7, &CallError::Cancelled);
        assert!(out.is_answered(7) && !out.is_answered(8));
        let first = received.try_recv().expect("one answer");
        assert_eq!(
            first.reply.outcome,
            Some(engine_reply::Outcome::Text("online".into()))
        );
        assert!(received.try_recv().is_err(), "no second answer");
    }
}
