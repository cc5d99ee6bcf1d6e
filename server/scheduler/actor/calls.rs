//! Engine calls: queueing calls from workers, forming batches and sending
//! them to their engines (see `replies` for the way back). When a batch
//! leaves is the batcher's decision (`crate::batcher`).

use std::collections::{HashMap, HashSet};

use tokio::time::Instant;

use super::super::call_book::CallRoute;
use super::super::handle::SchedulerHandle;
use super::super::item::replay_key;
use super::super::outcome::error_reply;
use super::replies::{batch_task, CacheWriter};
use super::Scheduler;
use crate::batcher::{policy, BatchKey, Flush, FlushReason, QueuedCall};
use crate::engine::{call_kind_name, EngineError};
use crate::pb::v1::WorkerEngineCall;
use crate::telemetry::logging::batch_span;
use tracing::Instrument;

impl Scheduler {
    pub(super) fn worker_calls(&mut self, worker_id: u64, calls: Vec<WorkerEngineCall>) {
        let now = Instant::now();
        // Runs of replaying jobs with a call not answered at once: they park
        // once all of this message's calls are in.
        let mut to_park = Vec::new();
        for WorkerEngineCall {
            task_id: run_id,
            call,
        } in calls
        {
            let Some(mut call) = call else { continue };
            let Some(run) = self
                .workers
                .run(run_id)
                .filter(|t| t.worker_id == worker_id)
            else {
                // The run ended (cancelled, timed out, re-queued): nobody
                // waits for an answer, but the caller gets one.
                if let Some(worker) = self.workers.get_mut(&worker_id) {
                    let reply = error_reply(call.call_id, &EngineError::Cancelled);
                    worker.outbox.replies.push(reply);
                }
                continue;
            };
            let job_id = run.job_id;
            let cancel = run.cancel.clone();
            let step = run.calls_made.saturating_add(1);
            let run_calls = run.calls.len();
            if let Some(run) = self.workers.run_mut(run_id) {
                run.calls_made = step;
            }
            let replays = self.run_replays(run_id);
            if let Some(err) = self.call_limit(worker_id, run_calls) {
                if let Some(worker) = self.workers.get_mut(&worker_id) {
                    worker.outbox.replies.push(error_reply(call.call_id, &err));
                }
                continue;
            }
            let Some(job) = self.jobs.get(&job_id) else {
                continue;
            };
            let kind = call.kind();
            let Some(engine) = job.engine_for(kind).map(str::to_string) else {
                let err = EngineError::NoEngineForKind(call_kind_name(kind));
                if let Some(worker) = self.workers.get_mut(&worker_id) {
                    worker.outbox.replies.push(error_reply(call.call_id, &err));
                }
                continue;
            };
            let Some(slot) = self.engines.get(&engine) else {
                let err = EngineError::Disconnected(engine);
                if let Some(worker) = self.workers.get_mut(&worker_id) {
                    worker.outbox.replies.push(error_reply(call.call_id, &err));
                }
                continue;
            };
            let replay = replays.then(|| replay_key(&slot.engine, &engine, &call));
            // A call to a batch API waits for a large batch (or for
            // all-parked) under its engine's flush; every other call under
            // its job's.
            let (batch_size, deadline) = match slot.engine.batch_api_flush() {
                Some(flush) => (flush.batch_size, now + flush.max_queue_delay),
                None => (
                    policy::call_batch_size(job.params.batch_size, slot.max_batch_size),
                    policy::call_deadline(
                        now,
                        job.params.max_queue_delay,
                        slot.engine.answers_per_call(),
                    ),
                ),
            };
            if let Some(key) = &replay {
                if self.answer_replayed(worker_id, run_id, &call, key, now) {
                    continue;
                }
            }
            let key = BatchKey::of_call(&engine, &call);
            let worker_call_id = call.call_id;
            let server_call_id = self.fresh_id();
            call.call_id = server_call_id;
            let queued = QueuedCall {
                call,
                worker_id,
                worker_call_id,
                run_id,
                job_id,
                enqueued: now,
                deadline,
                batch_size,
                cancel,
                resends: 0,
                step,
            };
            if let Some(job) = self.jobs.get_mut(&job_id) {
                job.count_call(kind);
            }
            let held = match self.workers.run_mut(run_id) {
                Some(run) => {
                    run.calls.insert(server_call_id, worker_call_id);
                    run.last_activity = now;
                    if let Some(key) = replay {
                        run.replay_keys.insert(server_call_id, key);
                        to_park.push(run_id);
                    }
                    true
                }
                None => false,
            };
            if held {
                if let Some(worker) = self.workers.get_mut(&worker_id) {
                    worker.calls += 1;
                }
            }
            self.reindex_run(run_id);
            self.route_call(key, queued);
        }
        to_park.dedup();
        for run_id in to_park {
            // Calls answered at once (cache, replay log) need no parking.
            if self
                .workers
                .run(run_id)
                .is_some_and(|t| !t.calls.is_empty())
            {
                self.park_run(run_id);
            }
        }
    }

    /// The cap a new call of a run with `run_calls` unanswered calls would
    /// go over, if any: `--max-calls-per-run`, or the worker's
    /// `--max-calls-per-worker`.
    fn call_limit(&self, worker_id: u64, run_calls: usize) -> Option<EngineError> {
        let per_run = self.guards.calls_per_run();
        if run_calls >= per_run {
            return Some(EngineError::CallLimit {
                holder: "item run",
                limit: per_run,
                flag: "--max-calls-per-run",
            });
        }
        let worker = self.workers.get(&worker_id)?;
        (worker.calls >= worker.calls_limit).then_some(EngineError::CallLimit {
            holder: "worker",
            limit: worker.calls_limit,
            flag: "--max-calls-per-worker",
        })
    }

    pub(super) fn flush_batches(&mut self, now: Instant) {
        if self.calls.waiting() == 0 {
            return;
        }
        let receiving = self.batch_api_engines_receiving_items();
        let engines = &mut self.engines;
        let flushes = self
            .calls
            .take_ready(now, &receiving, |engine| engines.try_reserve(engine));
        for flush in flushes {
            self.dispatch(flush, now);
        }
    }

    /// Sends a formed batch: the worst case of each call of a capped job is
    /// reserved first (`reserve`), and the calls that do not fit stay back.
    fn dispatch(&mut self, flush: Flush, now: Instant) {
        let (key, reason) = (flush.key.clone(), flush.reason);
        let (calls, over_budget) = self.reserve_flush(flush);
        if calls.is_empty() {
            // Every call was held back for its job's cap: the engine slot
            // the batch took is free again.
            self.engines.unreserve(&key.engine);
        } else {
            self.send_batch(key, calls, reason, now);
        }
        // Jobs stopped by their cap, once the calls that fit are on their way.
        for job_id in over_budget {
            self.stop_over_budget(job_id);
        }
    }

    /// Routes the calls of a batch and spawns its task.
    fn send_batch(
        &mut self,
        key: BatchKey,
        calls: Vec<QueuedCall>,
        reason: FlushReason,
        now: Instant,
    ) {
        let flush = Flush { key, calls, reason };
        let size = flush.calls.len() as u64;
        let keep_for_resend = self
            .engines
            .get(&flush.key.engine)
            .is_some_and(|slot| slot.engine.may_reconnect());
        let batch_api = self
            .engines
            .get(&flush.key.engine)
            .is_some_and(|slot| slot.engine.batch_api_flush().is_some());
        let mut jobs_in_batch = HashSet::new();
        let mut writes = HashMap::new();
        let mut calls = Vec::with_capacity(flush.calls.len());
        let mut cancels = Vec::with_capacity(flush.calls.len());
        for mut queued in flush.calls {
            if let Some(job) = self.jobs.get_mut(&queued.job_id) {
                queued.call.deadline_unix_ms = job.params.deadline_unix_ms;
                job.queue_wait_seconds += (now - queued.enqueued).as_secs_f64();
                if jobs_in_batch.insert(queued.job_id) {
                    job.engine_batches += 1;
                    job.batched_calls += size;
                }
            }
            self.calls.route(
                queued.call.call_id,
                CallRoute {
                    worker_id: queued.worker_id,
                    worker_call_id: queued.worker_call_id,
                    run_id: queued.run_id,
                    resend: keep_for_resend.then(|| queued.clone()),
                    step: queued.step,
                },
            );
            if let Some(write) = self.reuse.write_of(queued.call.call_id) {
                writes.insert(queued.call.call_id, write);
            }
            if batch_api {
                self.own_batch_api_call(&queued);
            }
            calls.push(queued.call);
            cancels.push(queued.cancel);
        }
        let Some(slot) = self.engines.get(&flush.key.engine) else {
            return;
        };
        let Some(commands) = self.commands.upgrade() else {
            // Every handle is gone: the actor is stopping and nobody would
            // read the batch's answers.
            return;
        };
        let engine = slot.engine.clone();
        let generation = slot.generation;
        let batch_id = self.fresh_id();
        let mut job_ids: Vec<u64> = jobs_in_batch.into_iter().collect();
        job_ids.sort_unstable();
        let job_spans: Vec<(u64, &tracing::Span)> = job_ids
            .iter()
            .filter_map(|id| Some((*id, &self.jobs.get(id)?.params.span)))
            .collect();
        let span = batch_span(&flush.key.engine, batch_id, calls.len(), &job_spans);
        span.in_scope(
            || tracing::debug!(model = %flush.key.model, reason = ?flush.reason, "batch formed"),
        );
        self.calls.batch_sent(batch_id, job_ids);
        let writer = CacheWriter {
            cache: self.reuse.cache(),
            writes,
        };
        let recorder = self.metrics.engine(&flush.key.engine);
        let batch = batch_task(
            engine,
            flush.key.engine,
            generation,
            batch_id,
            calls,
            cancels,
            writer,
            SchedulerHandle { tx: commands },
            recorder,
        );
        self.tracker.spawn(batch.instrument(span));
    }
}
