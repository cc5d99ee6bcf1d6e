//! The scheduler actor: its state and its loop.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rustc_hash::FxHashMap;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::calls::CallRoute;
use super::engines::EngineSlot;
use super::jobs::Job;
use super::replay::ParkedCall;
use super::reuse::CacheWrite;
use super::timers::Deadlines;
use super::worker_index::WorkerIndex;
use super::workers::{Run, Worker};
use super::SchedulerCommand;
use crate::batcher::{Batcher, ParkedIndex, QueuedCall};
use crate::cache::{CallCache, Coalescer};
use crate::config::guards::GuardFlags;
use crate::cost::PriceBook;
use crate::engine::Engine;
use crate::pb::v1::{
    CacheStatus, EngineStatus, JobStatus, QueueStatus, StatusResponse, WorkerStatus,
};
use crate::telemetry::Metrics;

/// Commands handled per loop turn before batches are formed and outboxes
/// flushed; larger turns coalesce more messages per worker and client.
const MAX_COMMANDS_PER_TURN: usize = 256;

/// All scheduling state. Only [`scheduler_task`] touches it.
pub(super) struct Scheduler {
    /// The actor's own command channel, for the batch tasks it spawns.
    /// Weak, so that the actor stops once every handle is gone (a batch in
    /// flight holds a strong one until it reports back).
    pub(super) commands: mpsc::WeakSender<SchedulerCommand>,
    pub(super) tracker: TaskTracker,
    pub(super) jobs: BTreeMap<u64, Job>,
    /// Job ids in assignment order; rotated so that jobs share workers fairly.
    pub(super) job_order: Vec<u64>,
    /// Ids of the jobs running each expression.
    pub(super) jobs_by_expression: HashMap<String, BTreeSet<u64>>,
    /// Connected workers not draining, per expression they serve.
    pub(super) serving: HashMap<String, usize>,
    /// The same, per process token (of workers that name their process).
    pub(super) local_serving: HashMap<String, HashMap<String, usize>>,
    pub(super) workers: WorkerIndex,
    /// Item runs by run id; each job lists its own (`Job::runs`), each
    /// worker its own (`Worker::running`).
    pub(super) runs: FxHashMap<u64, Run>,
    pub(super) batcher: Batcher,
    /// Per engine, the runs that may still add a call (the all-parked trigger).
    pub(super) parked: ParkedIndex,
    /// When each job without a worker gives up waiting for one.
    pub(super) worker_wait_deadlines: Deadlines<u64>,
    /// When each run with an item timeout times out.
    pub(super) run_deadlines: Deadlines<u64>,
    /// When each job's items that only its client's process may take give
    /// up waiting for a worker there.
    pub(super) local_wait_deadlines: Deadlines<u64>,
    /// When each disconnected engine's reconnection grace ends.
    pub(super) grace_deadlines: Deadlines<String>,
    /// Calls sent to an engine and not yet answered, by server call id.
    pub(super) in_flight: FxHashMap<u64, CallRoute>,
    /// Calls of parked items (replay), by server call id: their replies go
    /// to the item's replay log, not to a worker.
    pub(super) parked_calls: FxHashMap<u64, ParkedCall>,
    /// Jobs with calls in each batch in flight, by batch id.
    pub(super) batch_jobs: FxHashMap<u64, Vec<u64>>,
    pub(super) engines: BTreeMap<String, EngineSlot>,
    pub(super) next_id: u64,
    pub(super) draining: bool,
    pub(super) drain_waiters: Vec<oneshot::Sender<()>>,
    pub(super) started: Instant,
    /// Engine reconnection grace, engine-call caps, prefetch cap.
    pub(super) guards: GuardFlags,
    /// The call cache on disk (none without --cache-dir).
    pub(super) cache: CallCache,
    /// Calls in flight by cache key, with the identical calls waiting on them.
    pub(super) coalescer: Coalescer<QueuedCall>,
    /// Replies to store before delivery, by the server call id of the call
    /// that leads its key.
    pub(super) cache_writes: FxHashMap<u64, CacheWrite>,
    /// Prices of configured engines over the built-in table.
    pub(super) prices: PriceBook,
    /// Calls answered from the cache since the server started.
    pub(super) cache_hits: u64,
    /// Calls answered by an identical call in flight since the server started.
    pub(super) coalesced: u64,
    /// Models already reported as having no price.
    pub(super) unpriced_models: HashSet<String>,
    /// Engine batches are counted as they leave and come back.
    pub(super) metrics: Metrics,
}

impl Scheduler {
    pub(super) fn new(
        commands: mpsc::WeakSender<SchedulerCommand>,
        tracker: TaskTracker,
        guards: GuardFlags,
        metrics: Metrics,
    ) -> Self {
        Scheduler {
            commands,
            tracker,
            jobs: BTreeMap::new(),
            job_order: Vec::new(),
            jobs_by_expression: HashMap::new(),
            serving: HashMap::new(),
            local_serving: HashMap::new(),
            workers: WorkerIndex::default(),
            runs: FxHashMap::default(),
            batcher: Batcher::default(),
            parked: ParkedIndex::default(),
            worker_wait_deadlines: Deadlines::default(),
            run_deadlines: Deadlines::default(),
            local_wait_deadlines: Deadlines::default(),
            grace_deadlines: Deadlines::default(),
            in_flight: FxHashMap::default(),
            parked_calls: FxHashMap::default(),
            batch_jobs: FxHashMap::default(),
            engines: BTreeMap::new(),
            next_id: 1,
            draining: false,
            drain_waiters: Vec::new(),
            started: Instant::now(),
            guards,
            cache: CallCache::default(),
            coalescer: Coalescer::default(),
            cache_writes: FxHashMap::default(),
            prices: PriceBook::default(),
            cache_hits: 0,
            coalesced: 0,
            unpriced_models: HashSet::new(),
            metrics,
        }
    }

    /// A fresh id for jobs, workers, runs and calls (one sequence for all).
    pub(super) fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn handle(&mut self, command: SchedulerCommand) {
        match command {
            SchedulerCommand::SubmitJob { params, reply } => {
                let _ = reply.send(self.submit_job(params));
            }
            SchedulerCommand::AddItems { job_id, items } => self.add_items(job_id, items),
            SchedulerCommand::CloseInput { job_id } => self.close_input(job_id),
            SchedulerCommand::CancelJob { job_id } => self.cancel_job(job_id),
            SchedulerCommand::FailJob { job_id, err } => self.fail_job(job_id, err),
            SchedulerCommand::RegisterWorker {
                name,
                expressions,
                concurrency,
                prefetch,
                process_token,
                replays,
                command_tx,
                backlog,
                kick_tx,
                reply,
            } => {
                let id = self.register_worker(
                    name,
                    expressions,
                    (concurrency, prefetch),
                    (process_token, replays),
                    (command_tx, backlog, kick_tx),
                );
                let _ = reply.send(id);
            }
            SchedulerCommand::WorkerResults { worker_id, results } => {
                self.worker_results(worker_id, results)
            }
            SchedulerCommand::WorkerCalls { worker_id, calls } => {
                self.worker_calls(worker_id, calls)
            }
            SchedulerCommand::WorkerStarted {
                worker_id,
                task_ids,
            } => self.worker_started(worker_id, task_ids),
            SchedulerCommand::WorkerDrain {
                worker_id,
                unstarted,
            } => self.worker_drain(worker_id, unstarted),
            SchedulerCommand::WorkerGone { worker_id } => self.worker_gone(worker_id),
            SchedulerCommand::WorkerStalled { worker_id, silent } => {
                self.worker_stalled(worker_id, silent)
            }
            SchedulerCommand::WorkerResumed { worker_id } => self.worker_resumed(worker_id),
            SchedulerCommand::RegisterEngine {
                name,
                engine,
                max_concurrency,
                max_batch_size,
                reply,
            } => {
                let result = self.register_engine(name, engine, max_concurrency, max_batch_size);
                let _ = reply.send(result);
            }
            SchedulerCommand::EngineGone { name } => self.engine_gone(&name),
            SchedulerCommand::CallsAnswered {
                engine,
                generation,
                answers,
            } => self.calls_answered(&engine, generation, answers),
            SchedulerCommand::BatchDone {
                engine,
                generation,
                batch_id,
                call_ids,
                answer,
                elapsed,
            } => self.batch_done(&engine, generation, batch_id, call_ids, answer, elapsed),
            SchedulerCommand::Status { reply } => {
                let _ = reply.send(self.status());
            }
            SchedulerCommand::Drain { reply } => {
                self.draining = true;
                self.drain_waiters.push(reply);
            }
        }
    }

    /// Work done after every turn: assign items, form batches, time out jobs
    /// without workers, and send what the turn produced.
    fn settle(&mut self) {
        let now = Instant::now();
        self.assign_items();
        self.flush_batches(now);
        self.expire_waiting_jobs(now);
        self.expire_local_items(now);
        self.expire_runs(now);
        self.expire_engines(now);
        self.flush_outboxes();
        if self.jobs.is_empty() {
            for waiter in self.drain_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }

    /// The next instant at which a timer-driven decision is due.
    fn next_deadline(&self) -> Option<Instant> {
        let engines = &self.engines;
        let batch = self
            .batcher
            .next_deadline(|engine| engines.get(engine).is_some_and(EngineSlot::has_free_slot));
        [
            batch,
            self.worker_wait_deadlines.next(),
            self.local_wait_deadlines.next(),
            self.run_deadlines.next(),
            self.grace_deadlines.next(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(super) fn add_engine(
        &mut self,
        name: &str,
        engine: Engine,
        max_concurrency: Option<usize>,
        max_batch_size: usize,
    ) {
        let generation = self.fresh_id();
        let slot = EngineSlot::new(engine, max_concurrency, max_batch_size, generation);
        self.engines.insert(name.to_string(), slot);
    }

    fn status(&self) -> StatusResponse {
        StatusResponse {
            jobs: self
                .jobs
                .values()
                .map(Job::status)
                .collect::<Vec<JobStatus>>(),
            workers: self
                .workers
                .values()
                .map(Worker::status)
                .collect::<Vec<WorkerStatus>>(),
            queues: self
                .batcher
                .queue_lengths()
                .into_iter()
                .map(|(key, waiting)| QueueStatus {
                    engine: key.engine,
                    model: key.model,
                    waiting: waiting as u64,
                })
                .collect(),
            engines: self
                .engines
                .iter()
                .map(|(name, slot)| slot.status(name))
                .collect::<Vec<EngineStatus>>(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            // Filled in by the Status service, which holds the configuration.
            default_engine: String::new(),
            default_engine_source: String::new(),
            provider_batches: self
                .engines
                .values()
                .flat_map(|slot| slot.engine.provider_batches())
                .collect(),
            cache: Some(self.cache_status()),
        }
    }

    fn cache_status(&self) -> CacheStatus {
        let mut status = CacheStatus {
            hits: self.cache_hits,
            coalesced: self.coalesced,
            ..Default::default()
        };
        if let Some((dir, size, max_bytes)) = self.cache.describe() {
            status.dir = dir.display().to_string();
            status.entries = size.entries;
            status.bytes = size.bytes;
            status.max_bytes = max_bytes;
        }
        status
    }
}

/// Runs the actor until cancelled or until every handle is gone (the
/// actor's own sender is weak, and batch tasks hold theirs only until they
/// report back).
pub(super) async fn scheduler_task(
    mut scheduler: Scheduler,
    mut rx: mpsc::Receiver<SchedulerCommand>,
    cancel: CancellationToken,
) {
    loop {
        let deadline = scheduler.next_deadline();
        let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(far_future));
        tokio::select! {
            _ = cancel.cancelled() => break,
            command = rx.recv() => {
                let Some(command) = command else { break };
                scheduler.handle(command);
                for _ in 1..MAX_COMMANDS_PER_TURN {
                    match rx.try_recv() {
                        Ok(command) => scheduler.handle(command),
                        Err(_) => break,
                    }
                }
            }
            _ = sleep, if deadline.is_some() => {}
        }
        scheduler.settle();
    }
    tracing::debug!("scheduler stopped");
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
