//! Jobs: admission, items, results, completion and summaries.

use std::collections::HashSet;

use rustc_hash::{FxHashMap, FxHashSet};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::actor::Scheduler;
use super::queue::ItemQueue;
use super::replay::{ParkedItem, ReplayLog};
use super::reuse::budget_outcome;
use super::spend::JobSpend;
use super::{JobEvent, JobParams, JobRegistration};
use crate::batcher::policy;
use crate::cache::CacheMode;
use crate::config::MAX_WINDOW;
use crate::engine::{CallStats, Engine};
use crate::error::Error;
use crate::pb::v1::{
    outcome, ErrorKind, Item, ItemError, ItemResult, JobStatus, JobSummary, Outcome,
};
use crate::telemetry::CallTotals;

/// An item waiting for (or re-queued for) a worker.
#[derive(Debug, Clone)]
pub(super) struct PendingItem {
    pub index: u64,
    pub payload: Vec<u8>,
    pub local_only: bool,
    /// Runs of it that were in progress alone on a worker that disconnected
    /// (see `suspects`); it fails with WorkerLostError at its job's
    /// `max_attempts`.
    pub charged: u32,
    /// A run of it was in progress on a worker that disconnected: it runs
    /// alone on a worker until it ends (see `suspects`).
    pub suspect: bool,
    /// Replies to the calls of its earlier runs that parked (replay): its
    /// next run's identical calls are answered from here.
    pub replies: ReplayLog,
    /// Runs of it that parked (see `replay::MAX_PARKS_PER_ITEM`).
    pub parks: u32,
    /// The deadline of a run of it that a stalled worker held: its next runs
    /// end by then too (see `timeouts`).
    pub deadline: Option<tokio::time::Instant>,
}

/// One job's state.
#[derive(Debug)]
pub(super) struct Job {
    pub id: u64,
    pub params: JobParams,
    /// Whether the job's engine reads chat messages (sent in `JobInfo`).
    pub engine_wants_messages: bool,
    /// How many of its calls a batch gathers (sent in `JobInfo`).
    pub call_batch_size: usize,
    /// Whether its runs park on calls to its batch API engine (replay).
    pub replays: bool,
    /// Its items whose runs parked, by index, until their calls are answered.
    pub parked: FxHashMap<u64, ParkedItem>,
    events_tx: mpsc::UnboundedSender<JobEvent>,
    /// Its items waiting for a worker.
    pub queue: ItemQueue,
    /// The worker set aside to run its suspects one at a time, alone.
    pub isolation: Option<u64>,
    /// Since when an item only a worker of its client's process may take
    /// waits with no such worker connected (see `suspects`).
    pub local_wait_since: Option<Instant>,
    /// Indices received and not yet answered (duplicate detection).
    open_indices: HashSet<u64>,
    pub running: usize,
    pub input_closed: bool,
    received: u64,
    succeeded: u64,
    failed: u64,
    pub requeued: u64,
    pub engine_calls: u64,
    pub engine_batches: u64,
    pub batched_calls: u64,
    pub engine_seconds: f64,
    pub queue_wait_seconds: f64,
    /// What the engines measured about this job's calls.
    calls: CallTotals,
    started: Instant,
    /// Set while no worker serves the job's expression.
    pub no_worker_since: Option<Instant>,
    /// Workers that have been sent this job's `JobInfo`.
    pub informed_workers: FxHashSet<u64>,
    /// Its runs (run ids) on workers.
    pub runs: FxHashSet<u64>,
    outbox: Vec<ItemResult>,
    /// How its calls use the call cache (resolved for its engine).
    pub cache_mode: CacheMode,
    /// Its cost, savings, items' usage and spend cap.
    pub spend: JobSpend,
}

impl Job {
    /// Adds what the engine measured about one of this job's calls.
    /// Whether its client may still send items that would be handed out at
    /// once: input not ended, room in its window, none of its items queued.
    pub fn may_receive_more(&self) -> bool {
        !self.input_closed
            && self.queue.is_empty()
            && self.open_indices.len() < self.params.window as usize
    }

    pub fn record_call(&mut self, stats: &CallStats, failed: bool) {
        self.calls.record(stats, failed);
    }

    pub fn status(&self) -> JobStatus {
        JobStatus {
            job_id: self.id,
            expression: self.params.expression.clone(),
            engine: self.params.engine.clone(),
            received: self.received,
            queued: self.queue.len() as u64,
            running: self.running as u64,
            completed: self.succeeded,
            failed: self.failed,
            input_closed: self.input_closed,
            cost_usd: self.spend.cost_usd,
            max_cost_usd: self.spend.max_cost_usd.unwrap_or(0.0),
            saved: Some(self.spend.saved),
            parked: self.parked.len() as u64,
        }
    }

    fn summary(&self) -> JobSummary {
        let mean_batch_size = if self.engine_batches == 0 {
            0.0
        } else {
            self.batched_calls as f64 / self.engine_batches as f64
        };
        let mean_queue_wait_ms = if self.engine_calls == 0 {
            0.0
        } else {
            self.queue_wait_seconds * 1000.0 / self.engine_calls as f64
        };
        JobSummary {
            items: self.received,
            succeeded: self.succeeded,
            failed: self.failed,
            engine_calls: self.engine_calls,
            engine_batches: self.engine_batches,
            mean_batch_size,
            requeued: self.requeued,
            wall_seconds: self.started.elapsed().as_secs_f64(),
            engine_seconds: self.engine_seconds,
            mean_queue_wait_ms,
            retries: self.calls.retries,
            rate_limited: self.calls.rate_limited,
            prompt_tokens: self.calls.prompt_tokens,
            completion_tokens: self.calls.completion_tokens,
            failed_engine_calls: self.calls.failed,
            engine_latency: Some(self.calls.latency.percentiles()),
            engine: self.params.engine.clone(),
            cost_usd: self.spend.cost_usd,
            saved: Some(self.spend.saved),
            unpriced_calls: self.spend.unpriced_calls,
            budget_exceeded: self.spend.budget_exceeded_items,
        }
    }

    /// Records an item's final outcome for delivery to the client.
    pub fn finish_item(&mut self, index: u64, outcome: Outcome) {
        if !self.open_indices.remove(&index) {
            return;
        }
        match outcome.value {
            Some(outcome::Value::Error(_)) => self.failed += 1,
            _ => self.succeeded += 1,
        }
        self.outbox.push(ItemResult {
            index,
            outcome: Some(outcome),
            usage: self.spend.take_item(index),
        });
    }

    fn is_done(&self) -> bool {
        self.input_closed && self.queue.is_empty() && self.running == 0 && self.parked.is_empty()
    }

    /// Sends the results gathered this turn.
    pub fn flush(&mut self) {
        if !self.outbox.is_empty() {
            let results = std::mem::take(&mut self.outbox);
            // A closed receiver means the client is gone; CancelJob follows.
            let _ = self.events_tx.send(JobEvent::Results(results));
        }
    }
}

/// An error outcome produced by the scheduler itself.
pub(super) fn error_outcome(kind: ErrorKind, type_name: &str, message: String) -> Outcome {
    Outcome {
        value: Some(outcome::Value::Error(ItemError {
            kind: kind as i32,
            r#type: type_name.to_string(),
            message,
            traceback: String::new(),
        })),
        local_only: false,
    }
}

impl Scheduler {
    pub(super) fn submit_job(&mut self, mut params: JobParams) -> Result<JobRegistration, Error> {
        if self.draining {
            return Err(Error::ShuttingDown);
        }
        let Some(engine) = self.engines.get(&params.engine) else {
            return Err(Error::UnknownEngine {
                name: params.engine.clone(),
                known: self.engines.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        };
        let engine_wants_messages = engine.wants_messages();
        let batch_api = engine.engine.batch_api_flush();
        let call_batch_size =
            policy::job_call_batch_size(params.batch_size, engine.max_batch_size, &engine.engine);
        // Only engines that call a provider are cached unless the job asks.
        let cache_mode = params.cache.unwrap_or(match &engine.engine {
            Engine::OpenAi(_) | Engine::OpenAiBatch(_) => CacheMode::Use,
            Engine::Connected(connected) if connected.cache_by_default() => CacheMode::Use,
            _ => CacheMode::Off,
        });
        let spend = JobSpend::new(params.max_cost_usd);
        let id = self.fresh_id();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let served = self.served(&params.expression);
        let replays = batch_api.is_some() && params.replay != Some(false);
        // A step of a replaying job goes out as one provider batch only if
        // the window holds that many items.
        let window = match batch_api {
            Some(flush) if replays && params.window_is_default => {
                let batch = u32::try_from(flush.batch_size).unwrap_or(MAX_WINDOW);
                params.window.max(batch).min(MAX_WINDOW)
            }
            _ => params.window,
        };
        params.window = window;
        params.span.record("id", id);
        params.span.in_scope(|| {
            tracing::info!(batch_size = params.batch_size, "job admitted");
        });
        let expression = params.expression.clone();
        self.jobs.insert(
            id,
            Job {
                id,
                params,
                engine_wants_messages,
                call_batch_size,
                replays,
                parked: FxHashMap::default(),
                events_tx,
                queue: ItemQueue::default(),
                isolation: None,
                local_wait_since: None,
                open_indices: HashSet::new(),
                running: 0,
                input_closed: false,
                received: 0,
                succeeded: 0,
                failed: 0,
                requeued: 0,
                engine_calls: 0,
                engine_batches: 0,
                batched_calls: 0,
                engine_seconds: 0.0,
                queue_wait_seconds: 0.0,
                calls: CallTotals::default(),
                started: now,
                no_worker_since: None,
                informed_workers: FxHashSet::default(),
                runs: FxHashSet::default(),
                outbox: Vec::new(),
                cache_mode,
                spend,
            },
        );
        if !served {
            self.set_no_worker_since(id, Some(now));
        }
        self.jobs_by_expression
            .entry(expression)
            .or_default()
            .insert(id);
        self.job_order.push(id);
        Ok(JobRegistration {
            job_id: id,
            window,
            events_rx,
        })
    }

    pub(super) fn add_items(&mut self, job_id: u64, items: Vec<Item>) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        for item in items {
            if !job.open_indices.insert(item.index) {
                let err = Error::invalid(
                    "items.index",
                    format!("index {} is already in flight in this job", item.index),
                );
                self.fail_job(job_id, err);
                return;
            }
            job.received += 1;
            if job.spend.exceeded {
                let outcome = budget_outcome(job.spend.cost_usd, job.spend.max_cost_usd);
                job.spend.budget_exceeded_items += 1;
                job.finish_item(item.index, outcome);
                continue;
            }
            job.queue.push_back(PendingItem {
                index: item.index,
                payload: item.payload,
                local_only: item.local_only,
                charged: 0,
                suspect: false,
                replies: ReplayLog::default(),
                parks: 0,
                deadline: None,
            });
        }
    }

    pub(super) fn close_input(&mut self, job_id: u64) {
        if let Some(job) = self.jobs.get_mut(&job_id) {
            job.input_closed = true;
        }
        self.maybe_finish(job_id);
    }

    /// Ends the job if its input is closed and every item is answered.
    pub(super) fn maybe_finish(&mut self, job_id: u64) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if !job.is_done() {
            return;
        }
        job.flush();
        let summary = job.summary();
        job.params.span.in_scope(|| {
            tracing::info!(
                items = summary.items,
                failed = summary.failed,
                batches = summary.engine_batches,
                mean_batch = summary.mean_batch_size,
                "job finished"
            );
        });
        let _ = job.events_tx.send(JobEvent::Finished(Box::new(summary)));
        self.remove_job(job_id);
    }

    /// The client went away: drop the job's queue and tell its workers.
    pub(super) fn cancel_job(&mut self, job_id: u64) {
        if let Some(job) = self.jobs.get(&job_id) {
            job.params.span.in_scope(|| tracing::info!("job cancelled"));
            self.remove_job(job_id);
        }
    }

    /// Fails the whole job with `err` (ends the client's stream with it).
    pub(super) fn fail_job(&mut self, job_id: u64, err: Error) {
        if let Some(job) = self.jobs.get_mut(&job_id) {
            job.params
                .span
                .in_scope(|| tracing::warn!(kind = err.kind(), %err, "job failed"));
            job.flush();
            let _ = job.events_tx.send(JobEvent::Failed(err));
            self.remove_job(job_id);
        }
    }

    /// Removes a job with its runs and waiting engine calls.
    fn remove_job(&mut self, job_id: u64) {
        let Some(job) = self.jobs.remove(&job_id) else {
            return;
        };
        self.job_order.retain(|id| *id != job_id);
        if let Some(since) = job.no_worker_since {
            self.worker_wait_deadlines
                .remove(since + job.params.worker_wait, job_id);
        }
        self.release_job_waits(&job);
        if let Some(ids) = self.jobs_by_expression.get_mut(&job.params.expression) {
            ids.remove(&job_id);
            if ids.is_empty() {
                self.jobs_by_expression.remove(&job.params.expression);
            }
        }
        for &run_id in &job.runs {
            self.remove_run(run_id, true);
        }
        self.drop_parked(job.parked);
        for worker_id in job.informed_workers {
            if let Some(worker) = self.workers.get_mut(&worker_id) {
                worker.outbox.finished_jobs.push(job_id);
            }
        }
    }

    /// Starts (`Some(since)`) or stops (None) a job's wait for a worker,
    /// with its `worker_wait` timer. O(log j).
    pub(super) fn set_no_worker_since(&mut self, job_id: u64, since: Option<Instant>) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        let wait = job.params.worker_wait;
        if let Some(old) = std::mem::replace(&mut job.no_worker_since, since) {
            self.worker_wait_deadlines.remove(old + wait, job_id);
        }
        if let Some(since) = since {
            self.worker_wait_deadlines.insert(since + wait, job_id);
        }
    }

    /// Fails jobs that have waited too long for a worker. O(log j) per job
    /// that expires.
    pub(super) fn expire_waiting_jobs(&mut self, now: Instant) {
        for job_id in self.worker_wait_deadlines.take_due(now) {
            let Some(job) = self.jobs.get_mut(&job_id) else {
                continue;
            };
            job.no_worker_since = None;
            let err = Error::NoWorker {
                expression: job.params.expression.clone(),
                waited_ms: job.params.worker_wait.as_millis() as u64,
            };
            self.fail_job(job_id, err);
        }
    }

    /// Sends every job's results and every worker's commands of this turn.
    pub(super) fn flush_outboxes(&mut self) {
        loop {
            let too_slow = self.workers.flush_touched();
            if too_slow.is_empty() {
                break;
            }
            for worker_id in too_slow {
                self.disconnect_slow_worker(worker_id);
            }
            // Their runs went back to the queues: hand them out now.
            self.assign_items();
        }
        for job in self.jobs.values_mut() {
            job.flush();
        }
    }
}
