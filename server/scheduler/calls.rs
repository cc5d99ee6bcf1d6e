//! Engine calls: queueing calls from workers, forming batches, dispatching
//! them to engines and routing each reply back to the worker that asked.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use super::actor::Scheduler;
use super::SchedulerCommand;
use crate::batcher::{BatchKey, Flush, QueuedCall};

use crate::engine::{BatchOutcome, Engine, EngineError};
use crate::error::Error;
use crate::pb::v1::{engine_reply, EngineReply, EngineStatus, WorkerEngineCall};

/// Where the reply to an in-flight call goes.
#[derive(Debug)]
pub(super) struct CallRoute {
    worker_id: u64,
    worker_call_id: u64,
    task_id: u64,
}

/// An engine with its concurrency limit and counters.
#[derive(Debug)]
pub(super) struct EngineSlot {
    engine: Engine,
    /// Distinguishes successive engines registered under one name, so that a
    /// late batch of a disconnected engine does not count against its successor.
    generation: u64,
    max_concurrency: usize,
    in_flight: usize,
    batches: u64,
    calls: u64,
    failed_batches: u64,
}

impl EngineSlot {
    pub fn new(engine: Engine, max_concurrency: usize, generation: u64) -> Self {
        EngineSlot {
            engine,
            generation,
            max_concurrency: max_concurrency.max(1),
            in_flight: 0,
            batches: 0,
            calls: 0,
            failed_batches: 0,
        }
    }

    pub fn wants_messages(&self) -> bool {
        self.engine.wants_messages()
    }

    pub fn has_free_slot(&self) -> bool {
        self.in_flight < self.max_concurrency
    }

    fn try_reserve(&mut self) -> bool {
        let free = self.in_flight < self.max_concurrency;
        if free {
            self.in_flight += 1;
        }
        free
    }

    pub fn status(&self, name: &str) -> EngineStatus {
        EngineStatus {
            name: name.to_string(),
            kind: self.engine.kind().to_string(),
            max_concurrency: self.max_concurrency as u32,
            in_flight: self.in_flight as u32,
            batches: self.batches,
            calls: self.calls,
            failed_batches: self.failed_batches,
        }
    }
}

/// The `model` request kwarg of a call, which with the engine keys its batch.
fn model_of(kwargs_json: &str) -> String {
    if !kwargs_json.contains("\"model\"") {
        return String::new();
    }
    serde_json::from_str::<serde_json::Value>(kwargs_json)
        .ok()
        .and_then(|v| v.get("model").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_default()
}

fn error_reply(call_id: u64, err: &EngineError) -> EngineReply {
    EngineReply {
        call_id,
        outcome: Some(engine_reply::Outcome::Error(err.to_item_error())),
        metadata_json: String::new(),
    }
}

impl Scheduler {
    pub(super) fn worker_calls(&mut self, worker_id: u64, calls: Vec<WorkerEngineCall>) {
        let now = Instant::now();
        for WorkerEngineCall { task_id, call } in calls {
            let Some(mut call) = call else { continue };
            let Some(task) = self
                .tasks
                .get(&task_id)
                .filter(|t| t.worker_id == worker_id)
            else {
                // The run was cancelled or re-queued; nobody waits for this answer.
                continue;
            };
            let job_id = task.job_id;
            let Some(job) = self.jobs.get(&job_id) else {
                continue;
            };
            let engine = job.params.engine.clone();
            let deadline = now + job.params.max_queue_delay;
            let batch_size = job.params.batch_size;
            if !self.engines.contains_key(&engine) {
                let err = EngineError::Disconnected(engine);
                if let Some(worker) = self.workers.get_mut(&worker_id) {
                    worker.outbox.replies.push(error_reply(call.call_id, &err));
                }
                continue;
            }
            let key = BatchKey {
                engine,
                model: model_of(&call.kwargs_json),
            };
            let worker_call_id = call.call_id;
            call.call_id = self.fresh_id();
            let queued = QueuedCall {
                call,
                worker_id,
                worker_call_id,
                task_id,
                job_id,
                enqueued: now,
                deadline,
                batch_size,
            };
            self.batcher.push(key, queued);
            if let Some(job) = self.jobs.get_mut(&job_id) {
                job.engine_calls += 1;
            }
            if let Some(task) = self.tasks.get_mut(&task_id) {
                task.outstanding_calls += 1;
                if task.outstanding_calls == 1 {
                    if let Some(worker) = self.workers.get_mut(&worker_id) {
                        worker.parked += 1;
                    }
                }
            }
        }
    }

    /// True when every running item waits on an engine call, so no new call
    /// can arrive before some reply goes out.
    fn all_parked(&self) -> bool {
        !self.tasks.is_empty() && self.workers.values().all(|w| w.all_parked())
    }

    pub(super) fn flush_batches(&mut self, now: Instant) {
        if self.batcher.waiting() == 0 {
            return;
        }
        let all_parked = self.all_parked();
        let engines = &mut self.engines;
        let flushes = self.batcher.take_ready(now, all_parked, |engine| {
            engines.get_mut(engine).is_some_and(EngineSlot::try_reserve)
        });
        for flush in flushes {
            self.dispatch(flush, now);
        }
    }

    fn dispatch(&mut self, flush: Flush, now: Instant) {
        let size = flush.calls.len() as u64;
        tracing::debug!(engine = %flush.key.engine, model = %flush.key.model, size,
            reason = ?flush.reason, "batch formed");
        let mut jobs_in_batch = HashSet::new();
        let mut calls = Vec::with_capacity(flush.calls.len());
        for queued in flush.calls {
            if let Some(job) = self.jobs.get_mut(&queued.job_id) {
                job.queue_wait_seconds += (now - queued.enqueued).as_secs_f64();
                if jobs_in_batch.insert(queued.job_id) {
                    job.engine_batches += 1;
                    job.batched_calls += size;
                }
            }
            self.in_flight.insert(
                queued.call.call_id,
                CallRoute {
                    worker_id: queued.worker_id,
                    worker_call_id: queued.worker_call_id,
                    task_id: queued.task_id,
                },
            );
            calls.push(queued.call);
        }
        let Some(slot) = self.engines.get(&flush.key.engine) else {
            return;
        };
        let engine = slot.engine.clone();
        let generation = slot.generation;
        let name = flush.key.engine;
        let handle = self.handle.clone();
        let call_ids: Vec<u64> = calls.iter().map(|c| c.call_id).collect();
        self.tracker.spawn(async move {
            let started = Instant::now();
            let outcome = engine.run(calls).await;
            let done = SchedulerCommand::BatchDone {
                engine: name,
                generation,
                call_ids,
                outcome,
                elapsed: started.elapsed(),
            };
            // Fails only when the scheduler has stopped (shutdown).
            let _ = handle.send(done).await;
        });
    }

    pub(super) fn batch_done(
        &mut self,
        engine: &str,
        generation: u64,
        call_ids: Vec<u64>,
        outcome: BatchOutcome,
        elapsed: Duration,
    ) {
        if let Some(slot) = self
            .engines
            .get_mut(engine)
            .filter(|slot| slot.generation == generation)
        {
            slot.in_flight = slot.in_flight.saturating_sub(1);
            slot.batches += 1;
            slot.calls += call_ids.len() as u64;
            if outcome.is_err() {
                slot.failed_batches += 1;
            }
        }
        let (mut replies, batch_error) = match outcome {
            Ok(replies) => (
                replies
                    .into_iter()
                    .map(|r| (r.call_id, r))
                    .collect::<HashMap<u64, EngineReply>>(),
                None,
            ),
            Err(err) => {
                tracing::warn!(engine, kind = err.kind(), %err, "engine batch failed");
                (HashMap::new(), Some(err))
            }
        };
        let mut jobs_in_batch = HashSet::new();
        for call_id in call_ids {
            let Some(route) = self.in_flight.remove(&call_id) else {
                continue;
            };
            let mut reply = match &batch_error {
                Some(err) => error_reply(call_id, err),
                None => replies.remove(&call_id).unwrap_or_else(|| {
                    let missing = EngineError::MissingReply {
                        engine: engine.to_string(),
                        call_id,
                    };
                    error_reply(call_id, &missing)
                }),
            };
            reply.call_id = route.worker_call_id;
            let Some(job_id) = self.deliver_reply(route.worker_id, route.task_id, reply) else {
                continue;
            };
            if jobs_in_batch.insert(job_id) {
                if let Some(job) = self.jobs.get_mut(&job_id) {
                    job.engine_seconds += elapsed.as_secs_f64();
                }
            }
        }
    }

    pub(super) fn register_engine(
        &mut self,
        name: String,
        engine: Engine,
        max_concurrency: usize,
    ) -> Result<(), Error> {
        if self.engines.contains_key(&name) {
            return Err(Error::EngineNameTaken(name));
        }
        tracing::info!(engine = %name, kind = engine.kind(), max_concurrency, "engine registered");
        self.add_engine(&name, engine, max_concurrency);
        Ok(())
    }

    /// An engine process disconnected: its waiting calls fail now; its
    /// in-flight batches fail when their tasks report back.
    pub(super) fn engine_gone(&mut self, name: &str) {
        if self.engines.remove(name).is_none() {
            return;
        }
        let err = EngineError::Disconnected(name.to_string());
        for queued in self.batcher.remove_engine(name) {
            let reply = error_reply(queued.worker_call_id, &err);
            self.deliver_reply(queued.worker_id, queued.task_id, reply);
        }
    }
}

impl Scheduler {
    /// Hands an engine reply to the run that made the call, unparking it when
    /// it was its last outstanding call. Returns the run's job, or None when
    /// the run no longer exists (its reply is dropped).
    fn deliver_reply(&mut self, worker_id: u64, task_id: u64, reply: EngineReply) -> Option<u64> {
        let task = self
            .tasks
            .get_mut(&task_id)
            .filter(|t| t.worker_id == worker_id)?;
        task.outstanding_calls -= 1;
        let unparked = task.outstanding_calls == 0;
        let job_id = task.job_id;
        let worker = self.workers.get_mut(&worker_id)?;
        if unparked {
            worker.parked -= 1;
        }
        worker.outbox.replies.push(reply);
        Some(job_id)
    }
}
