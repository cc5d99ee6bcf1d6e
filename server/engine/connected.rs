//! A connected engine: batches are sent to an engine process connected on
//! `EngineService.Serve` (a Python `BatchEngine`, or any process that speaks
//! the protocol), which answers each batch with one reply per call.

use std::collections::{HashMap, HashSet};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tonic::{Status, Streaming};

use super::{BatchOutcome, EngineError};
use crate::config::MAX_ENGINE_CONCURRENCY;
use crate::pb::v1::{
    engine_command, engine_worker_message, EngineBatch, EngineBatchResult, EngineCall,
    EngineCommand, EngineWorkerMessage,
};

/// A batch on its way to the engine process, with where its answer goes.
#[derive(Debug)]
pub struct PendingBatch {
    calls: Vec<EngineCall>,
    reply_tx: oneshot::Sender<BatchOutcome>,
}

/// A batch sent to the engine process and not yet answered.
#[derive(Debug)]
struct AwaitedBatch {
    call_ids: Vec<u64>,
    reply_tx: oneshot::Sender<BatchOutcome>,
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
        cache_by_default: bool,
        call_kind: super::CallKind,
    ) -> (Self, mpsc::Receiver<PendingBatch>) {
        let bound = max_concurrency.unwrap_or(MAX_ENGINE_CONCURRENCY as usize);
        let (batch_tx, batch_rx) = mpsc::channel(bound.max(1));
        (
            ConnectedEngine {
                name: name.to_string(),
                batch_tx,
                cache_by_default,
                call_kind,
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

    /// False once [`connected_engine_task`] has ended (the process disconnected).
    pub fn is_connected(&self) -> bool {
        !self.batch_tx.is_closed()
    }

    pub async fn run(&self, calls: Vec<EngineCall>) -> BatchOutcome {
        let (reply_tx, reply_rx) = oneshot::channel();
        let disconnected = || EngineError::Disconnected(self.name.clone());
        self.batch_tx
            .send(PendingBatch { calls, reply_tx })
            .await
            .map_err(|_| disconnected())?;
        reply_rx.await.map_err(|_| disconnected())?
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
                let PendingBatch { calls, reply_tx } = batch;
                let call_ids = calls.iter().map(|call| call.call_id).collect();
                let msg = EngineCommand {
                    kind: Some(engine_command::Kind::Batch(EngineBatch { batch_id, calls })),
                };
                pending.insert(batch_id, AwaitedBatch { call_ids, reply_tx });
                if out_tx.send(Ok(msg)).await.is_err() {
                    break;
                }
            }
            msg = inbound.message() => {
                match msg {
                    Ok(Some(EngineWorkerMessage { kind: Some(engine_worker_message::Kind::Result(result)) })) => {
                        answer(&name, &mut pending, result);
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
}

fn answer(name: &str, pending: &mut HashMap<u64, AwaitedBatch>, result: EngineBatchResult) {
    let Some(batch) = pending.remove(&result.batch_id) else {
        tracing::warn!(engine = %name, batch_id = result.batch_id, "result for an unknown batch");
        return;
    };
    let outcome = match result.batch_error {
        Some(err) => Err(EngineError::Failed {
            type_name: err.r#type,
            message: err.message,
        }),
        None => {
            let answered: HashSet<u64> = result.replies.iter().map(|r| r.call_id).collect();
            match batch.call_ids.iter().find(|id| !answered.contains(id)) {
                Some(&call_id) => Err(EngineError::MissingReply {
                    engine: name.to_string(),
                    call_id,
                }),
                None => Ok(result.replies),
            }
        }
    };
    // The scheduler may have stopped waiting (shutdown); nothing to do then.
    let _ = batch.reply_tx.send(outcome);
}
