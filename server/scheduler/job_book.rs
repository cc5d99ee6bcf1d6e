//! The job book: every job by id, the order jobs take turns in, the jobs
//! of each expression, and the clocks of jobs waiting for a worker (any
//! worker of their expression, or one in their client's process for their
//! local items). Its state changes only here; the scheduler's job events
//! are in `jobs` and `local_wait`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::handle::{JobEvent, JobParams};
use super::item::ParkedItem;
use super::queue::ItemQueue;
use super::spend::JobSpend;
use super::timers::Deadlines;
use crate::cache::CacheMode;
use crate::engine::{CallKind, CallStats};
use crate::error::Error;
use crate::pb::v1::{outcome, ItemResult, JobState, JobStatus, JobSummary, Outcome};
use crate::telemetry::CallTotals;

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
    /// Engine calls its workers made, of every kind.
    pub engine_calls: u64,
    /// Of those, the embedding calls.
    pub embedding_calls: u64,
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
    /// How its calls use the call cache, by call kind (resolved for the
    /// engine of each kind): chat, embedding.
    cache_modes: [CacheMode; 2],
    /// Its cost, savings, items' usage and spend cap.
    pub spend: JobSpend,
}

impl Job {
    /// A job admitted at `now` under `id`; `events_tx` reaches its client.
    pub fn new(
        id: u64,
        params: JobParams,
        (engine_wants_messages, call_batch_size, replays): (bool, usize, bool),
        cache_modes: [CacheMode; 2],
        events_tx: mpsc::UnboundedSender<JobEvent>,
        now: Instant,
    ) -> Self {
        let spend = JobSpend::new(params.max_cost_usd);
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
            embedding_calls: 0,
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
            cache_modes,
            spend,
        }
    }

    /// How its calls of `kind` use the call cache.
    pub fn cache_mode(&self, kind: CallKind) -> CacheMode {
        match kind {
            CallKind::Embedding => self.cache_modes[1],
            CallKind::Neurosymbolic | CallKind::Unspecified => self.cache_modes[0],
        }
    }

    /// The engine of its calls of `kind`, if it has one.
    pub fn engine_for(&self, kind: CallKind) -> Option<&str> {
        match kind {
            CallKind::Embedding => self.params.embedding_engine.as_deref(),
            CallKind::Neurosymbolic | CallKind::Unspecified => Some(&self.params.engine),
        }
    }

    /// Counts a call of `kind` its worker made.
    pub fn count_call(&mut self, kind: CallKind) {
        self.engine_calls += 1;
        if kind == CallKind::Embedding {
            self.embedding_calls += 1;
        }
    }

    /// Whether it has made a call of `kind`.
    pub fn has_called(&self, kind: CallKind) -> bool {
        match kind {
            CallKind::Embedding => self.embedding_calls > 0,
            CallKind::Neurosymbolic | CallKind::Unspecified => {
                self.engine_calls > self.embedding_calls
            }
        }
    }

    /// Counts an item received under `index`; false when an item of that
    /// index is already in flight.
    pub fn receive(&mut self, index: u64) -> bool {
        if !self.open_indices.insert(index) {
            return false;
        }
        self.received += 1;
        true
    }

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

    /// Its status while it runs.
    pub fn status(&self) -> JobStatus {
        JobStatus {
            job_id: self.id,
            expression: self.params.expression.clone(),
            engine: self.params.engine.clone(),
            embedding_engine: self.params.embedding_engine.clone().unwrap_or_default(),
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
            state: JobState::Running.into(),
            ended_unix_ms: 0,
            wall_seconds: self.started.elapsed().as_secs_f64(),
            error: String::new(),
        }
    }

    /// Its last status, as it ends now in `state` (with the error that
    /// failed it): its final counts, and nothing queued, running or parked
    /// any more.
    pub fn ended_status(&self, state: JobState, error: String) -> JobStatus {
        let ended_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        JobStatus {
            queued: 0,
            running: 0,
            parked: 0,
            state: state.into(),
            ended_unix_ms,
            error,
            ..self.status()
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
            embedding_engine: self.params.embedding_engine.clone().unwrap_or_default(),
            cost_usd: self.spend.cost_usd,
            saved: Some(self.spend.saved),
            unpriced_calls: self.spend.unpriced_calls,
            budget_exceeded: self.spend.budget_exceeded_items,
            steps: self.spend.steps(),
            embedding_calls: self.embedding_calls,
            billed_twice_usd: self.spend.billed_twice_usd,
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

    /// Ends the job if its input is closed and every item is answered: its
    /// last results and its summary go to its client. True when it ended.
    pub fn finish_if_done(&mut self) -> bool {
        if !self.is_done() {
            return false;
        }
        self.flush();
        let summary = self.summary();
        self.params.span.in_scope(|| {
            tracing::info!(
                items = summary.items,
                failed = summary.failed,
                batches = summary.engine_batches,
                mean_batch = summary.mean_batch_size,
                "job finished"
            );
        });
        let _ = self.events_tx.send(JobEvent::Finished(Box::new(summary)));
        true
    }

    /// Ends the job with `err`: its results so far, then the error, go to
    /// its client.
    pub fn fail(&mut self, err: Error) {
        self.params
            .span
            .in_scope(|| tracing::warn!(kind = err.kind(), %err, "job failed"));
        self.flush();
        let _ = self.events_tx.send(JobEvent::Failed(err));
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

#[derive(Debug, Default)]
pub(super) struct JobBook {
    jobs: BTreeMap<u64, Job>,
    /// Job ids in assignment order; rotated so that jobs share workers fairly.
    order: Vec<u64>,
    /// Ids of the jobs running each expression.
    by_expression: HashMap<String, BTreeSet<u64>>,
    /// When each job without a worker gives up waiting for one.
    worker_wait_deadlines: Deadlines<u64>,
    /// When each job's items that only its client's process may take give
    /// up waiting for a worker there.
    local_wait_deadlines: Deadlines<u64>,
}

impl JobBook {
    pub fn get(&self, id: &u64) -> Option<&Job> {
        self.jobs.get(id)
    }

    pub fn get_mut(&mut self, id: &u64) -> Option<&mut Job> {
        self.jobs.get_mut(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Adds a job, last in the order.
    pub fn insert(&mut self, job: Job) {
        let (id, expression) = (job.id, job.params.expression.clone());
        self.jobs.insert(id, job);
        self.by_expression.entry(expression).or_default().insert(id);
        self.order.push(id);
    }

    /// Takes a job out, with its place in the order and its clocks.
    pub fn remove(&mut self, id: u64) -> Option<Job> {
        let job = self.jobs.remove(&id)?;
        self.order.retain(|other| *other != id);
        if let Some(since) = job.no_worker_since {
            self.worker_wait_deadlines
                .remove(since + job.params.worker_wait, id);
        }
        if let Some(ids) = self.by_expression.get_mut(&job.params.expression) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_expression.remove(&job.params.expression);
            }
        }
        if let Some(since) = job.local_wait_since {
            self.local_wait_deadlines
                .remove(since + job.params.worker_wait, id);
        }
        Some(job)
    }

    /// How many jobs take turns.
    pub fn order_len(&self) -> usize {
        self.order.len()
    }

    /// The job whose turn is `i`-th.
    pub fn order_at(&self, i: usize) -> u64 {
        self.order[i]
    }

    /// The next turn starts with a different job.
    pub fn rotate_order(&mut self) {
        self.order.rotate_left(1);
    }

    /// The jobs of `expression` that wait for a worker (`waiting`), or that
    /// do not.
    pub fn of_expression(&self, expression: &str, waiting: bool) -> Vec<u64> {
        self.by_expression
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

    /// Starts (`Some(since)`) or stops (None) a job's wait for a worker,
    /// with its `worker_wait` timer. O(log j).
    pub fn set_no_worker_since(&mut self, id: u64, since: Option<Instant>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let wait = job.params.worker_wait;
        if let Some(old) = std::mem::replace(&mut job.no_worker_since, since) {
            self.worker_wait_deadlines.remove(old + wait, id);
        }
        if let Some(since) = since {
            self.worker_wait_deadlines.insert(since + wait, id);
        }
    }

    /// The jobs whose wait for a worker ended by `now`, their clocks
    /// stopped. O(log j) per job.
    pub fn take_worker_waits_due(&mut self, now: Instant) -> Vec<u64> {
        let due = self.worker_wait_deadlines.take_due(now);
        for id in &due {
            if let Some(job) = self.jobs.get_mut(id) {
                job.no_worker_since = None;
            }
        }
        due
    }

    /// Starts (`Some(since)`) or stops (None) the wait of a job's local
    /// items for a worker of its client's process, with its timer.
    pub fn set_local_wait_since(&mut self, id: u64, since: Option<Instant>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let wait = job.params.worker_wait;
        if let Some(old) = std::mem::replace(&mut job.local_wait_since, since) {
            self.local_wait_deadlines.remove(old + wait, id);
        }
        if let Some(since) = since {
            self.local_wait_deadlines.insert(since + wait, id);
        }
    }

    /// The jobs whose local items' wait ended by `now`, their clocks
    /// stopped.
    pub fn take_local_waits_due(&mut self, now: Instant) -> Vec<u64> {
        let due = self.local_wait_deadlines.take_due(now);
        for id in &due {
            if let Some(job) = self.jobs.get_mut(id) {
                job.local_wait_since = None;
            }
        }
        due
    }

    /// When the next wait for a worker ends.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.worker_wait_deadlines.next(),
            self.local_wait_deadlines.next(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Sends every job's results of this turn.
    pub fn flush_all(&mut self) {
        for job in self.jobs.values_mut() {
            job.flush();
        }
    }
}
