//! A connected worker: its slots, the runs it holds, and the commands a
//! turn gathers for it (its outbox), sent as few messages.

use rustc_hash::FxHashSet;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use super::backlog::WorkerBacklog;
use crate::error::Error;
use crate::pb::v1::{
    worker_command, Assignment, AssignmentChunk, CancelTasks, EngineReply, EngineReplyChunk,
    JobFinished, JobInfo, WorkerCommand, WorkerStatus,
};

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
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        name: String,
        expressions: Vec<String>,
        (concurrency, prefetch, calls_limit): (usize, usize, usize),
        (process_token, replays): (String, bool),
        (command_tx, backlog, kick_tx): (
            mpsc::Sender<WorkerCommand>,
            WorkerBacklog,
            oneshot::Sender<Error>,
        ),
    ) -> Self {
        Worker {
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
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every expression it registered, draining or not.
    pub fn expressions(&self) -> &[String] {
        &self.expressions
    }

    pub fn process_token(&self) -> &str {
        &self.process_token
    }

    /// Its slots (its registered concurrency, capped).
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Its command stream's capacity, in messages.
    pub fn command_capacity(&self) -> usize {
        self.command_tx.max_capacity()
    }

    /// It stops taking items; false when it was draining already.
    pub fn start_draining(&mut self) -> bool {
        !std::mem::replace(&mut self.draining, true)
    }

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
    pub fn kick(&mut self, err: Error) {
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
