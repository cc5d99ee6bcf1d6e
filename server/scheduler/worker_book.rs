//! The worker book: the connected workers (indexed by who may take an item
//! and who a turn changed, `worker_index`), how many serve each expression
//! (in all, and per client process), and the runs they hold with the
//! deadlines of those that have an item timeout. Its state changes only
//! here; the scheduler's worker events are in `workers`, `timeouts`,
//! `suspects`.

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use tokio::time::Instant;

use super::run::Run;
use super::timers::Deadlines;
use super::worker::Worker;
use super::worker_index::WorkerIndex;

#[derive(Debug, Default)]
pub(super) struct WorkerBook {
    workers: WorkerIndex,
    /// Connected workers not draining, per expression they serve.
    serving: HashMap<String, usize>,
    /// The same, per process token (of workers that name their process).
    local_serving: HashMap<String, HashMap<String, usize>>,
    /// Item runs by run id; each job lists its own (`Job::runs`), each
    /// worker its own (`Worker::running`).
    runs: FxHashMap<u64, Run>,
    /// When each run with an item timeout times out.
    run_deadlines: Deadlines<u64>,
}

impl WorkerBook {
    pub fn get(&self, id: &u64) -> Option<&Worker> {
        self.workers.get(id)
    }

    /// The worker, recorded as touched (see `worker_index`).
    pub fn get_mut(&mut self, id: &u64) -> Option<&mut Worker> {
        self.workers.get_mut(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &Worker> {
        self.workers.values()
    }

    /// Adds a worker, counted as serving its expressions.
    pub fn insert(&mut self, worker: Worker) {
        self.count_serving(worker.expressions(), worker.process_token(), 1);
        self.workers.insert(worker);
    }

    /// Removes a worker; no longer counted as serving (if it was not
    /// draining, when it was counted out already).
    pub fn remove(&mut self, id: &u64) -> Option<Worker> {
        let worker = self.workers.remove(id)?;
        if !worker.is_draining() {
            self.count_serving(worker.expressions(), worker.process_token(), -1);
        }
        Some(worker)
    }

    /// Worker `id` drains: it takes no new item and no longer counts as
    /// serving its expressions. False when it was draining already (or is
    /// gone).
    pub fn start_draining(&mut self, id: u64) -> bool {
        let Some(worker) = self.workers.get_mut(&id) else {
            return false;
        };
        if !worker.start_draining() {
            return false;
        }
        tracing::info!(
            worker_id = id,
            running = worker.running.len(),
            "worker draining"
        );
        let expressions = worker.expressions().to_vec();
        let token = worker.process_token().to_string();
        self.count_serving(&expressions, &token, -1);
        true
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

    /// True if some connected worker that is not draining serves
    /// `expression`. O(1).
    pub fn served(&self, expression: &str) -> bool {
        self.serving.get(expression).is_some_and(|&n| n > 0)
    }

    /// True if some connected worker of the process `process_token` that is
    /// not draining serves `expression`. O(1).
    pub fn served_locally(&self, process_token: &str, expression: &str) -> bool {
        self.local_serving
            .get(process_token)
            .and_then(|counts| counts.get(expression))
            .is_some_and(|&n| n > 0)
    }

    /// Whether a worker serving `expression` has a slot free for a new
    /// item. O(workers with a free slot).
    pub fn has_free_slot_for(&self, expression: &str) -> bool {
        self.workers.any_taking_items(|w| w.serves(expression))
    }

    /// Whether `worker_id` has a slot free to start a queued run; false for
    /// a worker that is gone.
    pub fn has_free_start_slot(&self, worker_id: u64) -> bool {
        self.workers
            .get(&worker_id)
            .is_some_and(Worker::has_free_slot_to_start)
    }

    /// The workers that may take a new item, the least full first (see
    /// `WorkerIndex::taking_items`); call [`Self::refile`] first.
    pub fn taking_items(&self) -> impl Iterator<Item = &Worker> {
        self.workers.taking_items()
    }

    /// Re-files the touched workers in the free set.
    pub fn refile(&mut self) {
        self.workers.refile();
    }

    /// Sends the outboxes of the workers touched since the last flush;
    /// returns the workers whose command stream was full.
    pub fn flush_touched(&mut self) -> Vec<u64> {
        self.workers.flush_touched()
    }

    pub fn run(&self, run_id: u64) -> Option<&Run> {
        self.runs.get(&run_id)
    }

    pub fn run_mut(&mut self, run_id: u64) -> Option<&mut Run> {
        self.runs.get_mut(&run_id)
    }

    pub fn runs(&self) -> impl Iterator<Item = (&u64, &Run)> {
        self.runs.iter()
    }

    /// Adds a run (with no deadline yet, see [`Self::set_run_deadline`]).
    pub fn insert_run(&mut self, run_id: u64, run: Run) {
        self.runs.insert(run_id, run);
    }

    /// Takes a run out, with its deadline's timer.
    pub fn take_run(&mut self, run_id: u64) -> Option<Run> {
        let run = self.runs.remove(&run_id)?;
        if let Some(at) = run.timeout_at {
            self.run_deadlines.remove(at, run_id);
        }
        Some(run)
    }

    /// The runs of worker `worker_id` queued in it (not started yet).
    pub fn queued_runs_of(&self, worker_id: u64) -> Vec<u64> {
        let Some(worker) = self.workers.get(&worker_id) else {
            return Vec::new();
        };
        worker
            .running
            .iter()
            .copied()
            .filter(|id| self.runs.get(id).is_some_and(|r| r.started.is_none()))
            .collect()
    }

    /// Sets (or clears) a run's deadline and its timer.
    pub fn set_run_deadline(&mut self, run_id: u64, at: Option<Instant>) {
        let Some(run) = self.runs.get_mut(&run_id) else {
            return;
        };
        if let Some(old) = run.timeout_at {
            self.run_deadlines.remove(old, run_id);
        }
        run.timeout_at = at;
        if let Some(at) = at {
            self.run_deadlines.insert(at, run_id);
        }
    }

    /// The runs past their deadline at `now`, taken off the timers (their
    /// deadline is cleared). O(log r) per run due.
    pub fn take_runs_due(&mut self, now: Instant) -> Vec<u64> {
        let due = self.run_deadlines.take_due(now);
        for run_id in &due {
            if let Some(run) = self.runs.get_mut(run_id) {
                run.timeout_at = None;
            }
        }
        due
    }

    /// When the next run deadline is due.
    pub fn next_run_deadline(&self) -> Option<Instant> {
        self.run_deadlines.next()
    }
}
