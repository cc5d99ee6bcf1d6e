//! A connected engine: batches are sent to an engine process connected on
//! `EngineService.Serve` (a Python `BatchEngine`, or any process that speaks
//! the protocol), which answers each batch with one reply per call: all at
//! once, or each as soon as it is ready (`EngineBatchResult.partial`), which
//! the scheduler then routes at once as it does for the HTTP engines.

use std::collections::{HashMap, HashSet};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::{Status, Streaming};

use super::{usage_of, AnswerTx, BatchAnswer, BatchOutcome, CallAnswer, CallStats, EngineError};
use crate::config::MAX_ENGINE_CONCURRENCY;
use crate::pb::v1::{
    engine_command, engine_worker_message, EngineBatch, EngineBatchResult, EngineCall,
    EngineCommand, EngineReply, EngineWorkerMessage,
};

/// A batch on its way to the engine process, with where its answers go.
#[derive(Debug)]
pub struct PendingBatch {
    calls: Vec<EngineCall>,
    answers: AnswerTx,
    reply_tx: oneshot::Sender<BatchAnswer>,
}

/// A batch sent to the engine process and not yet answered in full.
#[derive(Debug)]
struct AwaitedBatch {
    /// Its calls not answered yet.
    unanswered: HashSet<u64>,
    /// Where replies sent ahead go.
    answers: AnswerTx,
    reply_tx: oneshot::Sender<BatchAnswer>,
    sent_at: Instant,
}

impl AwaitedBatch {
    /// What the engine measured about a call answered now.
    fn stats(&self, reply: &EngineReply) -> CallStats {
        let (prompt_tokens, completion_tokens) = usage_of(&reply.metadata_json);
        CallStats {
            latency: self.sent_at.elapsed(),
            prompt_tokens,
            completion_tokens,
            ..Default::default()
        }
    }

    /// Sends replies ahead to their calls (a second reply to a call, or one
    /// to a call not in the batch, is dropped).
    fn answer_ahead(&mut self, replies: Vec<EngineReply>) {
        for reply in replies {
            if !self.unanswered.remove(&reply.call_id) {
                continue;
            }
            let stats = self.stats(&reply);
            // The batch task outlives the batch's answers; a send fails only
            // when it was dropped (shutdown).
            let _ = self.answers.send(CallAnswer { reply, stats });
        }
    }

    /// Ends the batch: the answer for the calls not answered ahead.
    fn finish(self, name: &str, outcome: Option<EngineBatchResult>) {
        self.finish_with(name, outcome.map(Ok))
    }

    /// Ends the batch with the engine's result, or with an error of the
    /// server's own (the process disconnected).
    fn finish_with(self, name: &str, outcome: Option<Result<EngineBatchResult, EngineError>>) {
        let remaining: Vec<u64> = self.unanswered.iter().copied().collect();
        let outcome = match outcome {
            None => Ok(Vec::new()),
            Some(Err(err)) => Err(err),
            Some(Ok(EngineBatchResult {
                batch_error: Some(err),
                ..
            })) => Err(EngineError::Failed {
                type_name: err.r#type,
                message: err.message,
            }),
            Some(Ok(result)) => {
                let replies: Vec<EngineReply> = result
                    .replies
                    .into_iter()
                    .filter(|r| self.unanswered.contains(&r.call_id))
                    .collect();
                let answered: HashSet<u64> = replies.iter().map(|r| r.call_id).collect();
                match remaining.iter().find(|id| !answered.contains(id)) {
                    Some(&call_id) => Err(EngineError::MissingReply {
                        engine: name.to_string(),
                        call_id,
                    }),
                    None => Ok(replies),
                }
            }
        };
        let answer = BatchAnswer::measured(outcome, &remaining, self.sent_at.elapsed());
        // The scheduler may have stopped waiting (shutdown); nothing to do then.
        let _ = self.reply_tx.send(answer);
    }
}

/// Handle to a connected engine process.
#[derive(Debug, Clone)]
pub struct ConnectedEngine {
    name: String,
    batch_tx: mpsc::Sender<PendingBatch>,
    /// Jobs on it use the call cache unless they say otherwise.
    cache_by_default: bool,
    /// The kind of call it answers (`RegisterEngine.call_kind`).
    call_kind: super::CallKind,
    /// Its calls leave at once (`RegisterEngine.answers_per_call`).
    answers_per_call: bool,
}

/// What an engine process said of itself as it registered.
#[derive(Debug, Clone, Copy)]
pub struct ConnectedTraits {
    /// Jobs on it use the call cache unless they say otherwise.
    pub cache_by_default: bool,
    /// The kind of call it answers.
    pub call_kind: super::CallKind,
    /// It answers each call on its own, as soon as it is ready.
    pub answers_per_call: bool,
}

impl ConnectedEngine {
    /// Creates the handle and the receiving end that [`connected_engine_task`] drains.
    /// `max_concurrency` bounds the channel: the scheduler never has more
    /// batches in flight to one engine than that. Without one (batches
    /// follow the slots), the bound is the most a capped engine may have
    /// (1024): the task moves each batch on to the engine's stream at once,
    /// so more wait here only while the engine process does not read it.
    pub fn channel(
        name: &str,
        max_concurrency: Option<usize>,
        traits: ConnectedTraits,
    ) -> (Self, mpsc::Receiver<PendingBatch>) {
        let bound = max_concurrency.unwrap_or(MAX_ENGINE_CONCURRENCY as usize);
        let (batch_tx, batch_rx) = mpsc::channel(bound.max(1));
        (
            ConnectedEngine {
                name: name.to_string(),
                batch_tx,
                cache_by_default: traits.cache_by_default,
                call_kind: traits.call_kind,
                answers_per_call: traits.answers_per_call,
            },
            batch_rx,
        )
    }

    /// Whether jobs on this engine use the call cache when they do not say
    /// (`RegisterEngine.cache_by_default`).
    pub fn cache_by_default(&self) -> bool {
        self.cache_by_default
    }

    /// The kind of call it answers.
    pub fn call_kind(&self) -> super::CallKind {
        self.call_kind
    }

    /// Whether it answers each call on its own, as soon as it is ready: its
    /// calls then leave at once, as for the server's per-call engines.
    pub fn answers_per_call(&self) -> bool {
        self.answers_per_call
    }

    /// False once [`connected_engine_task`] has ended (the process disconnected).
    pub fn is_connected(&self) -> bool {
        !self.batch_tx.is_closed()
    }

    /// Answers a batch: replies the engine process sends ahead go on
    /// `answers` as they come; the returned answer holds the others.
    pub async fn run(&self, calls: Vec<EngineCall>, answers: AnswerTx) -> BatchAnswer {
        let started = Instant::now();
        let call_ids: Vec<u64> = calls.iter().map(|c| c.call_id).collect();
        let (reply_tx, reply_rx) = oneshot::channel();
        let batch = PendingBatch {
            calls,
            answers,
            reply_tx,
        };
        let disconnected = |started: Instant| {
            let outcome: BatchOutcome = Err(EngineError::Disconnected(self.name.clone()));
            BatchAnswer::measured(outcome, &call_ids, started.elapsed())
        };
        if self.batch_tx.send(batch).await.is_err() {
            return disconnected(started);
        }
        // The task answers every batch it took, also when the process
        // disconnects; this is for one it never took.
        reply_rx.await.unwrap_or_else(|_| disconnected(started))
    }
}

/// Moves batches to the engine process and its answers back, until the
/// process disconnects or the server shuts down. Batches still unanswered
/// then fail with [`EngineError::Disconnected`] (their senders are dropped).
pub async fn connected_engine_task(
    name: String,
    mut inbound: Streaming<EngineWorkerMessage>,
    out_tx: mpsc::Sender<Result<EngineCommand, Status>>,
    mut batch_rx: mpsc::Receiver<PendingBatch>,
    cancel: CancellationToken,
) {
    let mut pending: HashMap<u64, AwaitedBatch> = HashMap::new();
    let mut next_batch_id: u64 = 1;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            batch = batch_rx.recv() => {
                let Some(batch) = batch else { break };
                let batch_id = next_batch_id;
                next_batch_id += 1;
                let PendingBatch { calls, answers, reply_tx } = batch;
                let unanswered = calls.iter().map(|call| call.call_id).collect();
                let msg = EngineCommand {
                    kind: Some(engine_command::Kind::Batch(EngineBatch { batch_id, calls })),
                };
                let awaited = AwaitedBatch {
                    unanswered,
                    answers,
                    reply_tx,
                    sent_at: Instant::now(),
                };
                pending.insert(batch_id, awaited);
                if out_tx.send(Ok(msg)).await.is_err() {
                    break;
                }
            }
            msg = inbound.message() => {
                match msg {
                    Ok(Some(EngineWorkerMessage { kind: Some(engine_worker_message::Kind::Result(result)) })) => {
                        answer(&name, &mut pending, result);
                    }
                    Ok(Some(EngineWorkerMessage { kind: Some(engine_worker_message::Kind::Results(results)) })) => {
                        for result in results.results {
                            answer(&name, &mut pending, result);
                        }
                    }
                    Ok(Some(_)) => {
                        tracing::warn!(engine = %name, "ignoring a second RegisterEngine");
                    }
                    Ok(None) => break,
                    Err(status) => {
                        tracing::info!(engine = %name, %status, "engine stream ended");
                        break;
                    }
                }
            }
        }
    }
    tracing::info!(engine = %name, unanswered = pending.len(), "engine disconnected");
    // Their calls answered ahead stay answered; the others fail, and the
    // scheduler sends them again if the engine registers again in time.
    for (_, batch) in pending.drain() {
        let disconnected = EngineError::Disconnected(name.clone());
        batch.finish_with(&name, Some(Err(disconnected)));
    }
}

fn answer(name: &str, pending: &mut HashMap<u64, AwaitedBatch>, result: EngineBatchResult) {
    let Some(batch) = pending.get_mut(&result.batch_id) else {
        tracing::warn!(engine = %name, batch_id = result.batch_id, "result for an unknown batch");
        return;
    };
    if result.partial && result.batch_error.is_none() {
        batch.answer_ahead(result.replies);
        if !batch.unanswered.is_empty() {
            return;
        }
        if let Some(batch) = pending.remove(&result.batch_id) {
            batch.finish(name, None);
        }
        return;
    }
    if let Some(batch) = pending.remove(&result.batch_id) {
        batch.finish(name, Some(result));
    }
}
