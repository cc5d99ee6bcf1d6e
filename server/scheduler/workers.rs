//! Workers: registration, item assignment, results and disconnects.

use std::collections::HashMap;

use rustc_hash::FxHashSet;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::actor::Scheduler;
use super::backlog::WorkerBacklog;
use super::calls::error_reply;
use super::jobs::{error_outcome, PendingItem};
use super::queue::Line;
use crate::cache::CallKey;
use crate::engine::EngineError;
use crate::error::Error;
use crate::pb::v1::{
    worker_command, Assignment, AssignmentChunk, CancelTasks, EngineReply, EngineReplyChunk,
    ErrorKind, JobFinished, JobInfo, WorkResult, WorkerCommand, WorkerRegistered, WorkerStatus,
};

/// One run of one item on one worker.
#[derive(Debug)]
pub(super) struct Run {
    pub job_id: u64,
    pub worker_id: u64,
    pub item: PendingItem,
    /// Engine calls made by this run and not yet answered: the server's call
    /// id (in the batcher's queues or at an engine) to the worker's. Every
    /// one gets exactly one reply: from its engine, or `Cancelled` when the
    /// run ends first.
    pub calls: HashMap<u64, u64>,
    /// When the worker's slot started the run (RunsStarted); None while it
    /// waits in the worker's queue.
    pub started: Option<Instant>,
    /// The run's last sign of life: its start, or its last engine call or
    /// reply. A started run silent for longer than its job's
    /// `max_queue_delay` does not hold back "all parked" batches.
    pub last_activity: Instant,
    /// Cancelled when the run ends for any reason: its engine calls still
    /// at an engine that answers per call (waiting for a rate limit, or
    /// being retried) are then given up instead of sent.
    pub cancel: CancellationToken,
    /// When the run times out, if its job has an item timeout: from its
    /// assignment, then from its start (see `timeouts`); its timer is set
    /// for that instant.
    pub timeout_at: Option<Instant>,
    /// The replay key of each of its calls (server call id), for runs that
    /// park (see `replay`).
    pub replay_keys: HashMap<u64, CallKey>,
}

/// Commands for one worker gathered during a turn, sent as few messages.
#[derive(Debug, Default)]
pub(super) struct WorkerOutbox {
    pub jobs: Vec<JobInfo>,
    pub assignments: Vec<Assignment>,
    pub replies: Vec<EngineReply>,
    pub cancels: Vec<u64>,
    pub finished_jobs: Vec<u64>,
}

/// A connected worker.
#[derive(Debug)]
pub(super) struct Worker {
    pub id: u64,
    name: String,
    expressions: Vec<String>,
    /// Its registered concurrency, capped (`GuardFlags::slots_for`).
    concurrency: usize,
    /// Its registered prefetch, capped (`GuardFlags::prefetch_for`).
    prefetch: usize,
    /// Engine calls of its runs not yet answered.
    pub calls: usize,
    /// Most unanswered engine calls it may have (`--max-calls-per-worker`).
    pub calls_limit: usize,
    /// Runs assigned to this worker: running in a slot or queued in it.
    pub running: FxHashSet<u64>,
    /// Sent DrainWorker: it finishes what it runs and gets nothing new.
    draining: bool,
    /// Silent past its heartbeat interval (see `timeouts`): it gets nothing
    /// new until it sends again.
    pub stalled: bool,
    /// Assigned runs its slots have started.
    pub started: usize,
    /// Cancelled runs not yet acknowledged with a WorkResult: they may still
    /// occupy a slot, so they count against it.
    pub cancelling: FxHashSet<u64>,
    /// The process the worker runs in (`RegisterWorker.process_token`).
    process_token: String,
    /// Whether it gives a parked run's slot back (`RegisterWorker.replays`).
    pub replays: bool,
    /// The job whose suspects it runs, one at a time and alone: it takes
    /// no other item meanwhile (see `suspects`).
    pub isolating: Option<u64>,
    /// Its command stream; bounded, see `GuardFlags::worker_command_capacity`.
    command_tx: mpsc::Sender<WorkerCommand>,
    /// Entries on `command_tx` its stream has not taken; at most the
    /// channel's capacity.
    backlog: WorkerBacklog,
    /// Ends its command stream with an error when it is disconnected.
    kick_tx: Option<oneshot::Sender<Error>>,
    pub outbox: WorkerOutbox,
}

impl Worker {
    /// The expressions new items of which may go to this worker.
    pub fn serving(&self) -> impl Iterator<Item = &str> {
        let expressions = if self.draining {
            &[][..]
        } else {
            &self.expressions[..]
        };
        expressions.iter().map(String::as_str)
    }

    pub(super) fn serves(&self, expression: &str) -> bool {
        !self.draining && self.expressions.iter().any(|e| e == expression)
    }

    /// Runs it holds: running, queued in it, or cancelled and not yet
    /// acknowledged.
    pub(super) fn held(&self) -> usize {
        self.running.len() + self.cancelling.len()
    }

    fn free_slots(&self) -> usize {
        (self.concurrency + self.prefetch).saturating_sub(self.held())
    }

    /// Whether it holds no run at all.
    pub(super) fn is_idle(&self) -> bool {
        self.held() == 0
    }

    pub(super) fn is_draining(&self) -> bool {
        self.draining
    }

    /// Whether it may take a new item: a free slot, not draining, and not
    /// set aside for suspects.
    pub fn may_take_item(&self) -> bool {
        !self.draining && !self.stalled && self.isolating.is_none() && self.free_slots() > 0
    }

    /// How full it is relative to its slots (a fixed-point fraction):
    /// items go to the worker this is lowest for, so that each worker's
    /// share of the items follows its slots, and an idle worker gets an item
    /// at once.
    pub fn fill_key(&self) -> u64 {
        ((self.held() as u64) << 32) / self.concurrency.max(1) as u64
    }

    /// Whether a slot of this worker is free to start a queued run.
    pub fn has_free_slot_to_start(&self) -> bool {
        self.started + self.cancelling.len() < self.concurrency
    }

    /// Whether this worker may run an item that only its client's process
    /// can read.
    pub(super) fn is_local_to(&self, process_token: &str) -> bool {
        !process_token.is_empty() && self.process_token == process_token
    }

    pub fn status(&self) -> WorkerStatus {
        WorkerStatus {
            worker_id: self.id,
            name: self.name.clone(),
            expressions: self.expressions.clone(),
            concurrency: self.concurrency as u32,
            running: self.running.len() as u32,
            draining: self.draining,
            started: self.started as u32,
            cancelling: self.cancelling.len() as u32,
            prefetch: self.prefetch as u32,
            engine_calls: self.calls as u32,
            buffered: self.backlog.get() as u32,
        }
    }

    /// Sends a command unless its stream is full: as many entries unread
    /// as its capacity, or as many messages. Returns false when it is full.
    fn try_send(&self, kind: worker_command::Kind) -> bool {
        let command = WorkerCommand { kind: Some(kind) };
        let entries = WorkerBacklog::entries(&command);
        if self.backlog.get() + entries > self.command_tx.max_capacity() {
            return false;
        }
        match self.command_tx.try_send(command) {
            Ok(()) => {
                self.backlog.add(entries);
                true
            }
            Err(TrySendError::Full(_)) => false,
            // The worker is gone; WorkerGone follows.
            Err(TrySendError::Closed(_)) => true,
        }
    }

    /// Ends its command stream with `err` (its runs are re-queued by
    /// `worker_gone`).
    fn kick(&mut self, err: Error) {
        if let Some(kick_tx) = self.kick_tx.take() {
            let _ = kick_tx.send(err);
        }
    }

    /// Sends this turn's commands: job infos before the assignments that
    /// need them, then cancels, replies and finished jobs. Returns false when
    /// its stream is full: the worker does not read it.
    pub fn flush(&mut self) -> bool {
        let outbox = std::mem::take(&mut self.outbox);
        let mut full = false;
        let mut send = |kind: worker_command::Kind| {
            if !full && !self.try_send(kind) {
                full = true;
            }
        };
        for job in outbox.jobs {
            send(worker_command::Kind::Job(job));
        }
        if !outbox.assignments.is_empty() {
            send(worker_command::Kind::Assignments(AssignmentChunk {
                assignments: outbox.assignments,
            }));
        }
        // Cancels before replies: a worker learns that a run ended before it
        // sees the `Cancelled` replies to that run's calls.
        if !outbox.cancels.is_empty() {
            send(worker_command::Kind::Cancel(CancelTasks {
                task_ids: outbox.cancels,
            }));
        }
        if !outbox.replies.is_empty() {
            send(worker_command::Kind::Replies(EngineReplyChunk {
                replies: outbox.replies,
            }));
        }
        for job_id in outbox.finished_jobs {
            send(worker_command::Kind::JobFinished(JobFinished { job_id }));
        }
        !full
    }
}

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
        let worker = Worker {
            id,
            name,
            expressions,
            concurrency,
            prefetch,
            calls: 0,
            calls_limit,
            running: FxHashSet::default(),
            draining: false,
            stalled: false,
            started: 0,
            cancelling: FxHashSet::default(),
            process_token,
            replays,
            isolating: None,
            command_tx,
            backlog,
            kick_tx: Some(kick_tx),
            outbox: WorkerOutbox::default(),
        };
        self.count_serving(&worker.expressions, &worker.process_token, 1);
        for expression in &worker.expressions {
            let waiting = self.jobs_of_expression(expression, true);
            for job_id in waiting {
                self.set_no_worker_since(job_id, None);
            }
        }
        self.workers.insert(worker);
        id
    }

    /// True if some connected worker that is not draining serves
    /// `expression`. O(1).
    pub(super) fn served(&self, expression: &str) -> bool {
        self.serving.get(expression).is_some_and(|&n| n > 0)
    }

    /// The jobs of `expression` that wait for a worker (`waiting`), or that
    /// do not.
    fn jobs_of_expression(&self, expression: &str, waiting: bool) -> Vec<u64> {
        self.jobs_by_expression
            .get(expression)
            .into_iter()
            .flatten()
            .copied()
            .filter(|id| {
                self.jobs
                    .get(id)
                    .is_some_and(|j| j.no_worker_since.is_some() == waiting)
            })
            .collect()
    }

    /// Whether a worker serving `expression` has a slot free for a new
    /// item. O(workers with a free slot).
    pub(super) fn has_free_slot_for(&self, expression: &str) -> bool {
        self.workers.any_taking_items(|w| w.serves(expression))
    }

    /// Counts a worker in (`delta` 1) or out (-1, when it drains or
    /// leaves) of the workers serving its expressions, and of those local to
    /// its process.
    fn count_serving(&mut self, expressions: &[String], process_token: &str, delta: isize) {
        fn add(counts: &mut HashMap<String, usize>, key: &str, delta: isize) {
            let n = counts.entry(key.to_string()).or_default();
            *n = n.saturating_add_signed(delta);
            if *n == 0 {
                counts.remove(key);
            }
        }
        for expression in expressions {
            add(&mut self.serving, expression, delta);
            if !process_token.is_empty() {
                let local = self
                    .local_serving
                    .entry(process_token.to_string())
                    .or_default();
                add(local, expression, delta);
                if local.is_empty() {
                    self.local_serving.remove(process_token);
                }
            }
        }
    }

    /// True if some connected worker of the process `process_token` that is
    /// not draining serves `expression`. O(1).
    pub(super) fn served_locally(&self, process_token: &str, expression: &str) -> bool {
        self.local_serving
            .get(process_token)
            .and_then(|counts| counts.get(expression))
            .is_some_and(|&n| n > 0)
    }

    /// Hands queued items to free worker slots, one item per job in turn so
    /// that jobs sharing workers progress together. Suspects go first, to the
    /// workers set aside for them (`run_suspects`).
    pub(super) fn assign_items(&mut self) {
        if self.job_order.is_empty() {
            return;
        }
        self.run_suspects();
        self.workers.refile();
        loop {
            let mut progressed = false;
            for i in 0..self.job_order.len() {
                let job_id = self.job_order[i];
                if self.assign_one(job_id) {
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        // The next turn starts with a different job.
        self.job_order.rotate_left(1);
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
        self.runs.insert(
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
            },
        );
        self.set_run_deadline(run_id, deadline);
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
        if !run.calls.is_empty() {
            let unsent = self.batcher.remove_calls(run.calls.keys().copied());
            for server_call_id in run.calls.keys() {
                self.in_flight.remove(server_call_id);
            }
            // Identical calls that waited on an unsent one go on without it.
            for queued in unsent {
                self.leader_gone(queued.call.call_id);
            }
        }
        Some(run)
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
        let run = self.runs.remove(&run_id)?;
        self.parked.remove(run_id);
        if let Some(at) = run.timeout_at {
            self.run_deadlines.remove(at, run_id);
        }
        if let Some(job) = self.jobs.get_mut(&run.job_id) {
            job.running -= 1;
            job.runs.remove(&run_id);
        }
        let had_free = self.has_free_start_slot(run.worker_id);
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
    pub(super) fn worker_started(&mut self, worker_id: u64, run_ids: Vec<u64>) {
        let now = Instant::now();
        let had_free = self.has_free_start_slot(worker_id);
        for run_id in run_ids {
            let Some(run) = self
                .runs
                .get_mut(&run_id)
                .filter(|t| t.worker_id == worker_id && t.started.is_none())
            else {
                continue; // a run that ended meanwhile
            };
            run.started = Some(now);
            run.last_activity = now;
            let (job_id, carried) = (run.job_id, run.item.deadline);
            let deadline = self.run_deadline(job_id, carried, now, false);
            self.set_run_deadline(run_id, deadline);
            if let Some(worker) = self.workers.get_mut(&worker_id) {
                worker.started += 1;
            }
            self.reindex_run(run_id);
        }
        self.worker_slots_changed(worker_id, had_free);
    }

    pub(super) fn worker_results(&mut self, worker_id: u64, results: Vec<WorkResult>) {
        for result in results {
            let had_free = self.has_free_start_slot(worker_id);
            if let Some(worker) = self.workers.get_mut(&worker_id) {
                if worker.cancelling.remove(&result.task_id) {
                    // The acknowledgement of a cancelled run.
                    self.worker_slots_changed(worker_id, had_free);
                    continue;
                }
            }
            let current = self
                .runs
                .get(&result.task_id)
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
        let Some(worker) = self.workers.get_mut(&worker_id) else {
            return;
        };
        if !worker.draining {
            worker.draining = true;
            tracing::info!(worker_id, running = worker.running.len(), "worker draining");
            let expressions = worker.expressions.clone();
            let token = worker.process_token.clone();
            self.count_serving(&expressions, &token, -1);
        }
        for run_id in unstarted {
            let returnable = self
                .runs
                .get(&run_id)
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
            if self.served(expression) {
                continue;
            }
            let unserved = self.jobs_of_expression(expression, false);
            for job_id in unserved {
                self.set_no_worker_since(job_id, Some(now));
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
        let mut maybe_started = if worker.draining {
            0
        } else {
            worker.concurrency.saturating_sub(worker.started)
        };
        let mut in_progress = Vec::new();
        let mut queued = Vec::new();
        for run_id in run_ids {
            let started = self.runs.get(&run_id).is_some_and(|t| t.started.is_some());
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
            if !worker.draining {
                self.count_serving(&worker.expressions, &worker.process_token, -1);
            }
            self.start_waiting_for_workers(&worker.expressions);
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
        let mut run = self.remove_run(run_id, false)?;
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
        let capacity = worker.command_tx.max_capacity();
        tracing::warn!(worker_id, name = %worker.name, capacity,
            "worker does not read its command stream; disconnecting it");
        worker.kick(Error::WorkerTooSlow {
            worker_id,
            capacity,
        });
        self.worker_gone(worker_id);
    }
}
