//! The scheduler actor: its state (the books) and its loop, with the event
//! handlers that cross books in the child modules below. The books' own
//! fields are private to their files; `Scheduler`'s fields are private to
//! this module and its handlers.

mod budget;
mod calls;
mod engines;
mod jobs;
mod late_copies;
mod local_wait;
mod parking;
mod replay;
mod replies;
mod requeue;
mod reserve;
mod reuse;
mod suspects;
mod timeouts;
mod unavailable;
mod workers;

pub(crate) use timeouts::STALL_AFTER_INTERVALS;

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::call_book::CallBook;
use super::engine_book::EngineBook;
use super::handle::{NewWorker, SchedulerCommand};
use super::job_book::{Job, JobBook};
use super::job_history::JobHistory;
use super::reuse_book::ReuseBook;
use super::spend_book::SpendBook;
use super::worker::Worker;
use super::worker_book::WorkerBook;
use crate::cache::CallCache;
use crate::config::guards::GuardFlags;
use crate::config::history::JobHistoryFlags;
use crate::cost::Pricing;
use crate::engine::Engine;
use crate::pb::v1::{JobStatus, QueueStatus, StatusResponse, WorkerStatus};
use crate::telemetry::Metrics;

/// Commands handled per loop turn before batches are formed and outboxes
/// flushed; larger turns coalesce more messages per worker and client.
const MAX_COMMANDS_PER_TURN: usize = 256;

/// All scheduling state, in books by concern (each book's state changes
/// only in its own file, through its methods), and the event handlers that
/// reach across them (`jobs`, `workers`, `calls`, `replies`, ...: the child
/// modules of this one, the only code that sees these fields). Only
/// [`scheduler_task`] touches it.
pub(super) struct Scheduler {
    /// The actor's own command channel, for the batch tasks it spawns.
    /// Weak, so that the actor stops once every handle is gone (a batch in
    /// flight holds a strong one until it reports back).
    commands: mpsc::WeakSender<SchedulerCommand>,
    tracker: TaskTracker,
    /// Jobs, their turns, and their waits for workers.
    jobs: JobBook,
    /// The jobs that ended lately, for Status.
    history: JobHistory,
    /// Connected workers, the expressions they serve, and their runs.
    workers: WorkerBook,
    /// Engine calls: waiting for a batch, at an engine, of parked items.
    calls: CallBook,
    /// Engine slots and their reconnection graces.
    engines: EngineBook,
    /// The next id of the one sequence for jobs, workers, runs and calls.
    next_id: u64,
    /// Set by Drain: no job is admitted any more.
    draining: bool,
    drain_waiters: Vec<oneshot::Sender<()>>,
    started: Instant,
    /// Engine reconnection grace, engine-call caps, prefetch cap.
    guards: GuardFlags,
    /// The call cache, coalescing, and what they saved.
    reuse: ReuseBook,
    /// Prices, and the models reported as having none.
    spend: SpendBook,
    /// Engine batches are counted as they leave and come back.
    metrics: Metrics,
}

impl Scheduler {
    pub(super) fn new(
        commands: mpsc::WeakSender<SchedulerCommand>,
        tracker: TaskTracker,
        guards: GuardFlags,
        history: &JobHistoryFlags,
        metrics: Metrics,
    ) -> Self {
        Scheduler {
            commands,
            tracker,
            jobs: JobBook::default(),
            history: JobHistory::new(history),
            workers: WorkerBook::default(),
            calls: CallBook::default(),
            engines: EngineBook::default(),
            next_id: 1,
            draining: false,
            drain_waiters: Vec::new(),
            started: Instant::now(),
            guards,
            reuse: ReuseBook::default(),
            spend: SpendBook::default(),
            metrics,
        }
    }

    /// The call cache the server opened (none without --cache-dir).
    pub(super) fn set_cache(&mut self, cache: CallCache) {
        self.reuse.set_cache(cache);
    }

    /// A configured engine's prices, over the built-in table.
    pub(super) fn set_price(&mut self, engine: &str, pricing: Pricing) {
        self.spend.set_price(engine, pricing);
    }

    /// A fresh id for jobs, workers, runs and calls (one sequence for all).
    pub(super) fn fresh_id(&mut self) -> u64 {
        fresh(&mut self.next_id)
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
            SchedulerCommand::RegisterWorker { worker, reply } => {
                let NewWorker {
                    name,
                    expressions,
                    concurrency,
                    prefetch,
                    process_token,
                    replays,
                    command_tx,
                    backlog,
                    kick_tx,
                } = worker;
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
            SchedulerCommand::WorkerStarted { worker_id, starts } => {
                self.worker_started(worker_id, starts)
            }
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
                let next_id = &mut self.next_id;
                let result =
                    self.engines
                        .register(name, engine, (max_concurrency, max_batch_size), || {
                            fresh(next_id)
                        });
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
        self.fail_items_of_unavailable_engines();
        self.assign_items();
        self.wake_held();
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
            .calls
            .next_deadline(Instant::now(), |engine| engines.has_free_slot(engine));
        [
            batch,
            self.jobs.next_deadline(),
            self.workers.next_run_deadline(),
            self.engines.next_deadline(),
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
        self.engines
            .add(name, engine, max_concurrency, max_batch_size, generation);
    }

    fn status(&self) -> StatusResponse {
        StatusResponse {
            jobs: self
                .jobs
                .values()
                .map(Job::status)
                .collect::<Vec<JobStatus>>(),
            finished_jobs: self.history.statuses(Instant::now()),
            workers: self
                .workers
                .values()
                .map(Worker::status)
                .collect::<Vec<WorkerStatus>>(),
            queues: self
                .calls
                .queue_lengths()
                .into_iter()
                .map(|(key, waiting)| QueueStatus {
                    engine: key.engine,
                    model: key.model,
                    waiting: waiting as u64,
                })
                .collect(),
            engines: self.engines.statuses(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            // Filled in by the Status service, which holds the configuration.
            default_engine: String::new(),
            default_engine_source: String::new(),
            default_embedding_engine: String::new(),
            provider_batches: self.engines.provider_batches(),
            cache: Some(self.reuse.status()),
        }
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

/// The next id of the sequence `next_id`.
fn fresh(next_id: &mut u64) -> u64 {
    let id = *next_id;
    *next_id += 1;
    id
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
