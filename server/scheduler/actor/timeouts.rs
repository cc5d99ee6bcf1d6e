//! Deadlines of runs, and workers whose loop stalls.
//!
//! Every run of a job with an `item_timeout` has a deadline from the moment
//! it is assigned, whether or not its worker reports it started:
//! - assigned: `item_timeout` plus [`START_GRACE`] from the assignment;
//! - started (RunsStarted): `item_timeout` from the start;
//! - either way no later than its item's carried deadline (see below).
//!
//! A run past its deadline ends with a `TimeoutError` in place of its result,
//! and its worker is told to cancel it (see `Scheduler::remove_run`). One
//! exception: a run not yet started on a worker whose slots are all busy
//! with started runs, and that is not stalled, waits in the worker's queue
//! behind runs that have deadlines of their own; its deadline moves on by
//! another `item_timeout` plus grace (never past a carried deadline).
//!
//! A worker that declared a heartbeat interval and then sends nothing for
//! four intervals is *stalled* (its loop is blocked, e.g. by a greenlet
//! slot's forward() that does not yield): it gets no new items, and every
//! run it holds goes back to the front of its job's queue at once, with a
//! CancelTasks to the worker so that what it sends for them later is
//! dropped. Which of its runs blocks the loop cannot be told apart, so the
//! re-queued items keep the deadline of the run they left (a stall gives
//! them no fresh clock): an item that blocks every worker it runs on still
//! ends as a `TimeoutError` by its first run's deadline, and the items moved
//! with it lose the time they spent on the stalled worker from their budget.
//! Those runs are not charged an attempt when their job has an item timeout
//! (the deadline bounds them); without one, the runs the worker reported
//! started are charged, as when a worker disconnects.

use std::time::Duration;

use tokio::time::Instant;

use super::super::outcome::error_outcome;
use super::Scheduler;
use crate::pb::v1::ErrorKind;

/// Time a run has, beyond its job's item timeout, between its assignment and
/// the worker's RunsStarted (the assignment's and the report's trips, the
/// worker's gathering of messages); a run not reported started by then has
/// used its whole budget.
pub(super) const START_GRACE: Duration = Duration::from_secs(1);

/// Heartbeat intervals a worker may stay silent before it is stalled.
pub const STALL_AFTER_INTERVALS: u32 = 4;

impl Scheduler {
    /// The deadline of a run of `job_id`'s item whose clock starts `from`
    /// (`grace`: its start is not reported yet), capped by the item's
    /// carried deadline; None when the job has no item timeout.
    pub(super) fn run_deadline(
        &self,
        job_id: u64,
        carried: Option<Instant>,
        from: Instant,
        grace: bool,
    ) -> Option<Instant> {
        let limit = self.jobs.get(&job_id)?.params.item_timeout?;
        let own = from + limit + if grace { START_GRACE } else { Duration::ZERO };
        Some(carried.map_or(own, |carried| carried.min(own)))
    }

    /// Ends every run that is past its deadline. O(log r) per run due.
    pub(super) fn expire_runs(&mut self, now: Instant) {
        for run_id in self.workers.take_runs_due(now) {
            let Some(run) = self.workers.run(run_id) else {
                continue;
            };
            let (job_id, worker_id) = (run.job_id, run.worker_id);
            let (started, carried) = (run.started, run.item.deadline);
            let queued_behind_busy_slots = started.is_none()
                && self
                    .workers
                    .get(&worker_id)
                    .is_some_and(|w| !w.stalled && !w.has_free_slot_to_start());
            if queued_behind_busy_slots && carried.is_none_or(|at| at > now) {
                let next = self.run_deadline(job_id, carried, now, true);
                self.workers.set_run_deadline(run_id, next);
                continue;
            }
            let Some(limit_ms) = self
                .jobs
                .get(&job_id)
                .and_then(|job| job.params.item_timeout)
                .map(|limit| limit.as_millis() as u64)
            else {
                continue;
            };
            let Some(run) = self.remove_run(run_id, true) else {
                continue;
            };
            let span = self.jobs.get(&job_id).map(|job| job.params.span.clone());
            span.unwrap_or_else(tracing::Span::none).in_scope(|| {
                tracing::warn!(
                    run_id,
                    job_id,
                    index = run.item.index,
                    limit_ms,
                    reported_started = started.is_some(),
                    "item run timed out"
                )
            });
            if let Some(job) = self.jobs.get_mut(&job_id) {
                let message = if started.is_some() || carried.is_some() {
                    format!(
                        "item {} ran longer than its item timeout of {limit_ms} ms",
                        run.item.index
                    )
                } else {
                    format!(
                        "item {} passed its item timeout of {limit_ms} ms (plus {} ms to \
                         start) without its worker reporting it started; the worker's loop \
                         may be blocked",
                        run.item.index,
                        START_GRACE.as_millis()
                    )
                };
                job.finish_item(
                    run.item.index,
                    error_outcome(ErrorKind::Timeout, "TimeoutError", message),
                );
            }
            self.maybe_finish(job_id);
        }
    }

    /// A worker sent nothing for `STALL_AFTER_INTERVALS` heartbeat
    /// intervals: it takes no new items, and its runs go back to their jobs
    /// (see the module docs for what they keep and what they are charged).
    pub(super) fn worker_stalled(&mut self, worker_id: u64, silent: Duration) {
        let Some(worker) = self.workers.get_mut(&worker_id) else {
            return;
        };
        worker.stalled = true;
        let mut run_ids: Vec<u64> = worker.running.iter().copied().collect();
        tracing::warn!(
            worker_id,
            silent_ms = silent.as_millis() as u64,
            runs = run_ids.len(),
            "worker stalled (no heartbeat); its runs go to other workers"
        );
        // Pushed to the front in reverse, so they keep their queue order.
        run_ids.sort_unstable_by(|a, b| b.cmp(a));
        let mut touched = Vec::new();
        for run_id in run_ids {
            let Some(mut run) = self.requeue_run(run_id, true) else {
                continue;
            };
            let Some(job) = self.jobs.get_mut(&run.job_id) else {
                continue;
            };
            touched.push(run.job_id);
            let has_deadline = run.timeout_at.is_some();
            if has_deadline {
                run.item.deadline = run.timeout_at;
            }
            // Without a deadline to bound it, a started run is charged.
            if !has_deadline && run.started.is_some() {
                run.item.charged += 1;
            }
            if run.item.charged >= job.params.max_attempts {
                let message = format!(
                    "item {} was started {} times and its worker stalled or disconnected \
                     each time",
                    run.item.index, run.item.charged
                );
                job.finish_item(
                    run.item.index,
                    error_outcome(ErrorKind::WorkerLost, "WorkerLostError", message),
                );
            } else {
                job.requeued += 1;
                job.queue.push_front(run.item);
            }
        }
        for job_id in touched {
            self.maybe_finish(job_id);
        }
    }

    /// A stalled worker sends again: it may take items again. The runs it
    /// held are cancelled; it acknowledges them as usual.
    pub(super) fn worker_resumed(&mut self, worker_id: u64) {
        if let Some(worker) = self.workers.get_mut(&worker_id) {
            if worker.stalled {
                worker.stalled = false;
                tracing::info!(worker_id, "stalled worker sends again");
            }
        }
    }
}
