//! Keeps the batcher's all-parked index ([`crate::batcher::ParkedIndex`])
//! in step with the runs: a run is re-filed whenever its engine calls, its
//! start, its last sign of life, or its worker's free slots change.

use std::collections::HashSet;

use super::super::worker::Worker;
use super::Scheduler;

impl Scheduler {
    /// Files run `run_id` under its job's engine: it may still add a call
    /// (until it goes silent: its job's `max_queue_delay`, or a batch API
    /// engine's delay) when it waits
    /// on no call and either has started in a slot or is queued in a worker
    /// with a slot free to start it (its RunsStarted may still be on the
    /// way). O(log r).
    pub(super) fn reindex_run(&mut self, run_id: u64) {
        let Some(run) = self.workers.run(run_id) else {
            self.calls.unfile_run(run_id);
            return;
        };
        let Some(job) = self.jobs.get(&run.job_id) else {
            self.calls.unfile_run(run_id);
            return;
        };
        let can_run = run.started.is_some()
            || self
                .workers
                .get(&run.worker_id)
                .is_some_and(Worker::has_free_slot_to_start);
        // A run is silent after its job's max_queue_delay; a run of a
        // batch API engine's job after the engine's (long) delay: a worker
        // busy handing thousands of replies to its runs holds the batch.
        let silence = self
            .engines
            .get(&job.params.engine)
            .and_then(|slot| slot.engine.batch_api_flush())
            .map_or(job.params.max_queue_delay, |flush| flush.max_queue_delay);
        let silent_at = (run.calls.is_empty() && can_run).then(|| run.last_activity + silence);
        self.calls.file_run(run_id, &job.params.engine, silent_at);
    }

    /// The batch API engines with a job whose next items would start at
    /// once and may still come: its client has not ended its input, its
    /// window has room, nothing of it waits in the queue and a worker serving
    /// it has a free slot; or, for a job that replays, items of it wait in
    /// the queue and a worker that parks runs serves it (its slots free up
    /// as its runs park). Their queues are not "all parked" yet: flushing
    /// would leave those items' calls (one step of a `forward()` over the
    /// whole dataset) for a second provider batch, hours later. The engine's
    /// delay still bounds the wait. O(jobs + workers), and only while a batch
    /// API engine is configured.
    pub(super) fn batch_api_engines_receiving_items(&self) -> HashSet<String> {
        let mut receiving = HashSet::new();
        if !self.engines.any_batch_api() {
            return receiving;
        }
        let is_batch_api = |engine: &str| {
            self.engines
                .get(engine)
                .is_some_and(|slot| slot.engine.batch_api_flush().is_some())
        };
        // The expressions that workers parking runs serve, gathered once (on
        // the first replaying job with queued items): O(workers).
        let mut replayed: Option<HashSet<&str>> = None;
        for job in self.jobs.values() {
            let engine = &job.params.engine;
            if receiving.contains(engine) || !is_batch_api(engine) {
                continue;
            }
            let expression = &job.params.expression;
            let arriving = job.may_receive_more() && self.workers.has_free_slot_for(expression);
            let replaying = job.replays && !job.queue.is_empty() && {
                let served = replayed.get_or_insert_with(|| {
                    self.workers
                        .values()
                        .filter(|w| w.replays)
                        .flat_map(|w| w.serving())
                        .collect()
                });
                served.contains(expression.as_str())
            };
            if arriving || replaying {
                receiving.insert(engine.clone());
            }
        }
        receiving
    }

    /// After a worker's started or cancelling runs changed: if that flipped
    /// whether it has a slot free to start a queued run (`had_free` before),
    /// its queued runs are re-filed. O(q log r) for its q queued runs, and
    /// only on a flip.
    pub(super) fn worker_slots_changed(&mut self, worker_id: u64, had_free: bool) {
        let Some(worker) = self.workers.get(&worker_id) else {
            return;
        };
        if worker.has_free_slot_to_start() == had_free {
            return;
        }
        let queued = self.workers.queued_runs_of(worker_id);
        for run_id in queued {
            self.reindex_run(run_id);
        }
    }
}
