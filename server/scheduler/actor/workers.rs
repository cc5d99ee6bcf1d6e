//! Workers: registration, item assignment, results and disconnects.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::super::backlog::WorkerBacklog;
use super::super::item::PendingItem;
use super::super::outcome::{error_outcome, error_reply};
use super::super::queue::Line;
use super::super::run::Run;
use super::super::worker::Worker;
use super::Scheduler;
use crate::engine::EngineError;
use crate::error::Error;
use crate::pb::v1::{
    worker_command, Assignment, ErrorKind, JobInfo, WorkResult, WorkerCommand, WorkerRegistered,
};

impl Scheduler {
    pub(super) fn register_worker(
        &mut self,
        name: String,
        expressions: Vec<String>,
        (concurrency, prefetch): (usize, usize),
        (process_token, replays): (String, bool),
        (command_tx, backlog, kick_tx): (
            mpsc::Sender<WorkerCommand>,
            WorkerBacklog,
            oneshot::Sender<Error>,
        ),
    ) -> u64 {
        let id = self.fresh_id();
        let (asked_slots, asked) = (concurrency, prefetch);
        let concurrency = self.guards.slots_for(concurrency);
        let prefetch = self.guards.prefetch_for(prefetch);
        let calls_limit = self.guards.calls_per_worker(concurrency, prefetch);
        tracing::info!(worker_id = id, %name, ?expressions, concurrency, prefetch, asked_prefetch = asked,
            calls_limit, "worker registered");
        if concurrency < asked_slots {
            tracing::warn!(worker_id = id, %name, asked = asked_slots, slots = concurrency,
                "worker concurrency lowered to --max-worker-slots");
        }
        // First on the worker's stream, before any assignment; the stream
        // has room for it (its capacity is far above one).
        let registered = WorkerCommand {
            kind: Some(worker_command::Kind::Registered(WorkerRegistered {
                worker_id: id,
            })),
        };
        if command_tx.try_send(registered).is_ok() {
            backlog.add(1);
        }
        let worker = Worker::new(
            id,
            name,
            expressions,
            (concurrency, prefetch, calls_limit),
            (process_token, replays),
            (command_tx, backlog, kick_tx),
        );
        for expression in worker.expressions() {
            let waiting = self.jobs.of_expression(expression, true);
            for job_id in waiting {
                self.jobs.set_no_worker_since(job_id, None);
            }
        }
        self.workers.insert(worker);
        id
    }

    /// Hands queued items to free worker slots, one item per job in turn so
    /// that jobs sharing workers progress together. Suspects go first, to the
    /// workers set aside for them (`run_suspects`).
    pub(super) fn assign_items(&mut self) {
        if self.jobs.order_len() == 0 {
            return;
        }
        self.run_suspects();
        self.workers.refile();
        loop {
            let mut progressed = false;
            for i in 0..self.jobs.order_len() {
                let job_id = self.jobs.order_at(i);
                if self.assign_one(job_id) {
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        // The next turn starts with a different job.
        self.jobs.rotate_order();
    }

    /// Hands one of the job's waiting items to a worker: the front of the
    /// line (any worker, or local only) whose front came first in the job,
    /// or else of the other line, so that an item no connected worker can
    /// take does not hold back the others.
    fn assign_one(&mut self, job_id: u64) -> bool {
        let Some(job) = self.jobs.get(&job_id) else {
            return false;
        };
        let index = |line| job.queue.front(line).map(|item| item.index);
        let lines = match (index(Line::Any), index(Line::Local)) {
            (Some(any), Some(local)) if local < any => [Line::Local, Line::Any],
            _ => [Line::Any, Line::Local],
        };
        for line in lines {
            if job.queue.front(line).is_none() {
                continue;
            }
            let token = (line == Line::Local).then_some(job.params.process_token.as_str());
            let Some(worker_id) = self.least_filled_worker(&job.params.expression, token) else {
                continue;
            };
            let Some(item) = self
                .jobs
                .get_mut(&job_id)
                .and_then(|job| job.queue.pop_front(line))
            else {
                return false;
            };
            self.hand_out(job_id, worker_id, item);
            // Its fill changed: file it again before the next item.
            self.workers.refile();
            return true;
        }
        false
    }

    /// The worker that may take an item of `expression` (only a worker of
    /// the process `local_to`, when set) and is the least full relative to
    /// its slots. O(log w), plus the free workers of other
    /// expressions skipped.
    fn least_filled_worker(&self, expression: &str, local_to: Option<&str>) -> Option<u64> {
        self.workers
            .taking_items()
            .filter(|w| w.serves(expression))
            .find(|w| local_to.is_none_or(|token| w.is_local_to(token)))
            .map(|w| w.id)
    }

    /// Sends `item` of the job to the worker as a new run: the job's
    /// `JobInfo` first if the worker has not had it.
    pub(super) fn hand_out(&mut self, job_id: u64, worker_id: u64, item: PendingItem) {
        let run_id = self.fresh_id();
        let (Some(job), Some(worker)) =
            (self.jobs.get_mut(&job_id), self.workers.get_mut(&worker_id))
        else {
            return;
        };
        if job.informed_workers.insert(worker_id) {
            worker.outbox.jobs.push(JobInfo {
                job_id,
                expression: job.params.expression.clone(),
                kwargs_json: job.params.kwargs_json.clone(),
                codec: job.params.codec as i32,
                engine_wants_messages: job.engine_wants_messages,
                has_embedding_engine: job.params.embedding_engine.is_some(),
                call_batch_size: u32::try_from(job.call_batch_size).unwrap_or(u32::MAX),
                max_queue_delay_ms: Some(
                    u32::try_from(job.params.max_queue_delay.as_millis()).unwrap_or(u32::MAX),
                ),
                replay_calls: job.replays && worker.replays,
            });
        }
        worker.outbox.assignments.push(Assignment {
            task_id: run_id,
            job_id,
            index: item.index,
            payload: item.payload.clone(),
            local_only: item.local_only,
        });
        worker.running.insert(run_id);
        job.running += 1;
        job.runs.insert(run_id);
        let now = Instant::now();
        let deadline = self.run_deadline(job_id, item.deadline, now, true);
        self.workers.insert_run(
            run_id,
            Run {
                job_id,
                worker_id,
                item,
                calls: HashMap::new(),
                started: None,
                last_activity: now,
                cancel: CancellationToken::new(),
                timeout_at: None,
                replay_keys: HashMap::new(),
                calls_made: 0,
            },
        );
        self.workers.set_run_deadline(run_id, deadline);
        self.reindex_run(run_id);
    }

    /// Removes a run from every index: worker, job, parked and started
    /// counts, and the engine-call queues. Its engine calls still waiting
    /// (queued here or at an engine) are answered `Cancelled` at once: every
    /// call a worker sends gets exactly one reply, whatever ends its run.
    /// With `cancel_on_worker` the worker is told to abandon the run (its
    /// job ended, or it timed out), and the run keeps counting against the
    /// worker's slots until the worker acknowledges it.
    pub(super) fn remove_run(&mut self, run_id: u64, cancel_on_worker: bool) -> Option<Run> {
        let run = self.detach_run(run_id, &EngineError::Cancelled, cancel_on_worker)?;
        run.cancel.cancel();
        self.give_up_calls(run.calls.keys().copied().collect());
        Some(run)
    }

    /// Gives up calls of a run that ended: out of their queues, their
    /// replies routed nowhere.
    pub(super) fn give_up_calls(&mut self, call_ids: Vec<u64>) {
        if call_ids.is_empty() {
            return;
        }
        let unsent = self.calls.give_up(call_ids);
        // Identical calls that waited on an unsent one go on without it.
        for queued in unsent {
            self.leader_gone(queued.call.call_id);
        }
    }

    /// Takes a run off its worker and job (indices, slot and call counts,
    /// timers) and answers its worker `call_error` for each of its calls
    /// still waiting; the calls themselves stay where they are (queued, or
    /// at an engine) for the caller to give up (`remove_run`) or keep
    /// (`park_run`).
    pub(super) fn detach_run(
        &mut self,
        run_id: u64,
        call_error: &EngineError,
        cancel_on_worker: bool,
    ) -> Option<Run> {
        let run = self.workers.take_run(run_id)?;
        self.calls.unfile_run(run_id);
        if let Some(job) = self.jobs.get_mut(&run.job_id) {
            job.running -= 1;
            job.runs.remove(&run_id);
        }
        let had_free = self.workers.has_free_start_slot(run.worker_id);
        if let Some(worker) = self.workers.get_mut(&run.worker_id) {
            worker.running.remove(&run_id);
            worker.calls -= run.calls.len();
            if run.started.is_some() {
                worker.started -= 1;
            }
            for &worker_call_id in run.calls.values() {
                worker
                    .outbox
                    .replies
                    .push(error_reply(worker_call_id, call_error));
            }
            if cancel_on_worker {
                worker.outbox.cancels.push(run_id);
                worker.cancelling.insert(run_id);
            }
        }
        self.worker_slots_changed(run.worker_id, had_free);
        Some(run)
    }

    /// The worker's slots started these runs.
    /// The worker's slots started these runs, each `ago` before the worker
    /// wrote its message (see `WorkerUpdate.started_ms_ago`): a run's start,
    /// which its silence and item timeout count from, is then, but never
    /// before its assignment (its `last_activity` until it starts).
    pub(super) fn worker_started(&mut self, worker_id: u64, starts: Vec<(u64, Duration)>) {
        let now = Instant::now();
        let had_free = self.workers.has_free_start_slot(worker_id);
        for (run_id, ago) in starts {
            let Some(run) = self
                .workers
                .run_mut(run_id)
                .filter(|t| t.worker_id == worker_id && t.started.is_none())
            else {
                continue; // a run that ended meanwhile
            };
            let started = now
                .checked_sub(ago)
                .map_or(run.last_activity, |at| at.max(run.last_activity));
            run.started = Some(started);
            run.last_activity = started;
            let (job_id, carried) = (run.job_id, run.item.deadline);
            let deadline = self.run_deadline(job_id, carried, started, false);
            self.workers.set_run_deadline(run_id, deadline);
            if let Some(worker) = self.workers.get_mut(&worker_id) {
                worker.started += 1;
            }
            self.reindex_run(run_id);
        }
        self.worker_slots_changed(worker_id, had_free);
    }

    pub(super) fn worker_results(&mut self, worker_id: u64, results: Vec<WorkResult>) {
        for result in results {
            let had_free = self.workers.has_free_start_slot(worker_id);
            if let Some(worker) = self.workers.get_mut(&worker_id) {
                if worker.cancelling.remove(&result.task_id) {
                    // The acknowledgement of a cancelled run.
                    self.worker_slots_changed(worker_id, had_free);
                    continue;
                }
            }
            let current = self
                .workers
                .run(result.task_id)
                .is_some_and(|run| run.worker_id == worker_id);
            if !current {
                // A late result of a run that was re-queued or cancelled.
                tracing::debug!(worker_id, run_id = result.task_id, "dropping stale result");
                continue;
            }
            let Some(run) = self.remove_run(result.task_id, false) else {
                continue;
            };
            let outcome = result.outcome.unwrap_or_else(|| {
                error_outcome(
                    ErrorKind::Encoding,
                    "ProtocolError",
                    "worker sent a result without an outcome".into(),
                )
            });
            if let Some(job) = self.jobs.get_mut(&run.job_id) {
                job.finish_item(run.item.index, outcome);
            }
            self.maybe_finish(run.job_id);
        }
    }

    /// A worker is stopping: it gets no new items, and the runs it lists as
    /// not started go back to the front of their jobs' queues. Ids of other workers' runs, of runs
    /// already gone, or of runs that made engine calls (so started) are
    /// ignored.
    pub(super) fn worker_drain(&mut self, worker_id: u64, unstarted: Vec<u64>) {
        if self.workers.get(&worker_id).is_none() {
            return;
        }
        self.workers.start_draining(worker_id);
        for run_id in unstarted {
            let returnable = self
                .workers
                .run(run_id)
                .is_some_and(|run| run.worker_id == worker_id && run.calls.is_empty());
            if !returnable {
                tracing::debug!(
                    worker_id,
                    run_id,
                    "ignoring a returned run it does not hold"
                );
                continue;
            }
            let Some(run) = self.remove_run(run_id, false) else {
                continue;
            };
            if let Some(job) = self.jobs.get_mut(&run.job_id) {
                job.requeued += 1;
                job.queue.push_front(run.item);
            }
        }
        // Jobs it alone served start their worker_wait clock when it leaves
        // (worker_gone), not now: it still runs their items.
    }

    /// Jobs of `expressions` that no worker serves any more start their
    /// `worker_wait` clock. O(jobs of those expressions).
    fn start_waiting_for_workers(&mut self, expressions: &[String]) {
        let now = Instant::now();
        for expression in expressions {
            if self.workers.served(expression) {
                continue;
            }
            let unserved = self.jobs.of_expression(expression, false);
            for job_id in unserved {
                self.jobs.set_no_worker_since(job_id, Some(now));
            }
        }
    }

    /// A worker disconnected: its runs go back to the front of their jobs'
    /// queues. Runs that were surely still queued in it go back as they
    /// were. Runs that may have been in progress (started, or perhaps
    /// started) go back as suspects when there were several: none of them is
    /// charged, and each runs again alone (`suspects`), so that the one that
    /// kills its worker is found. A run that was in progress alone is
    /// charged one of its job's `max_attempts`, and runs again alone, or
    /// fails with WorkerLostError once it has used them up.
    pub(super) fn worker_gone(&mut self, worker_id: u64) {
        let Some(worker) = self.workers.get(&worker_id) else {
            return;
        };
        let mut run_ids: Vec<u64> = worker.running.iter().copied().collect();
        tracing::info!(worker_id, running = run_ids.len(), "worker disconnected");
        // A worker that dies right after starting a run may not have told us:
        // its slots take runs in assignment order (run ids grow), so the
        // oldest unreported runs, as many as it had idle slots, may have
        // started. The rest were surely still queued. A draining worker
        // stopped starting runs and closed in order, having reported every
        // run it started: its unreported runs (assignments it read after it
        // closed its side) never started.
        run_ids.sort_unstable();
        let mut maybe_started = if worker.is_draining() {
            0
        } else {
            worker.concurrency().saturating_sub(worker.started)
        };
        let mut in_progress = Vec::new();
        let mut queued = Vec::new();
        for run_id in run_ids {
            let started = self
                .workers
                .run(run_id)
                .is_some_and(|t| t.started.is_some());
            if started || maybe_started > 0 {
                if !started {
                    maybe_started -= 1;
                }
                in_progress.push(run_id);
            } else {
                queued.push(run_id);
            }
        }
        let alone = in_progress.len() == 1;
        if in_progress.len() > 1 {
            tracing::warn!(
                worker_id,
                suspects = in_progress.len(),
                "worker disconnected with several runs in progress; each runs again alone \
                 to find the one that ends its worker"
            );
        }
        // Back to the fronts of the queues in reverse, so the oldest leads.
        let mut touched = Vec::new();
        for run_id in queued.into_iter().rev() {
            if let Some(job_id) = self.requeue_lost_run(run_id, false, false) {
                touched.push(job_id);
            }
        }
        for run_id in in_progress.into_iter().rev() {
            if let Some(job_id) = self.requeue_lost_run(run_id, true, alone) {
                touched.push(job_id);
            }
        }
        if let Some(worker) = self.workers.remove(&worker_id) {
            self.start_waiting_for_workers(worker.expressions());
            if let Some(job) = worker.isolating.and_then(|id| self.jobs.get_mut(&id)) {
                job.isolation = None;
            }
        }
        for job_id in touched {
            self.maybe_finish(job_id);
        }
    }

    /// Puts a run of a worker that disconnected back in its job's queue:
    /// as a suspect if it may have been in progress (`in_progress`), charged
    /// if it was in progress alone (`charge`); or fails it with
    /// WorkerLostError once it has been charged `max_attempts` times.
    /// Returns its job.
    fn requeue_lost_run(&mut self, run_id: u64, in_progress: bool, charge: bool) -> Option<u64> {
        let mut run = self.requeue_run(run_id, false)?;
        let job = self.jobs.get_mut(&run.job_id)?;
        let item = &mut run.item;
        item.suspect |= in_progress;
        if charge {
            item.charged += 1;
            job.params.span.in_scope(|| {
                tracing::warn!(
                    index = item.index,
                    charged = item.charged,
                    max_attempts = job.params.max_attempts,
                    "a run in progress alone on its worker was lost with it"
                )
            });
        }
        if item.charged >= job.params.max_attempts {
            let message = format!(
                "item {} was lost with its worker {} times while it ran alone there \
                 (max_attempts {})",
                item.index, item.charged, job.params.max_attempts
            );
            job.finish_item(
                item.index,
                error_outcome(ErrorKind::WorkerLost, "WorkerLostError", message),
            );
        } else {
            job.requeued += 1;
            job.queue.push_front(run.item);
        }
        Some(run.job_id)
    }

    /// Disconnects a worker whose command stream is full: it does not read
    /// it (frozen, or slower than the server sends). Its stream ends with
    /// `worker_too_slow`, and its runs go back to their jobs as when it
    /// disconnects; the commands buffered for it are dropped with it.
    pub(super) fn disconnect_slow_worker(&mut self, worker_id: u64) {
        let Some(worker) = self.workers.get_mut(&worker_id) else {
            return;
        };
        let capacity = worker.command_capacity();
        tracing::warn!(worker_id, name = %worker.name(), capacity,
            "worker does not read its command stream; disconnecting it");
        worker.kick(Error::WorkerTooSlow {
            worker_id,
            capacity,
        });
        self.worker_gone(worker_id);
    }
}
