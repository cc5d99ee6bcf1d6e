//! Item timeouts: a run that has been started for longer than its job's
//! `item_timeout` ends with a `TimeoutError` in place of its result, and its
//! worker is told to cancel it (see `Scheduler::remove_task`).

use tokio::time::Instant;

use super::actor::Scheduler;
use super::jobs::error_outcome;
use crate::pb::v1::ErrorKind;

impl Scheduler {
    /// Ends every started run that is past its job's item timeout. Each run
    /// with a timeout has a timer (`run_deadlines`, set when it starts):
    /// O(log r) per run that times out.
    pub(super) fn expire_runs(&mut self, now: Instant) {
        for task_id in self.run_deadlines.take_due(now) {
            let Some(limit_ms) = self
                .tasks
                .get(&task_id)
                .and_then(|task| self.jobs.get(&task.job_id))
                .and_then(|job| job.params.item_timeout)
                .map(|limit| limit.as_millis() as u64)
            else {
                continue;
            };
            let Some(task) = self.remove_task(task_id, true) else {
                continue;
            };
            let span = self
                .jobs
                .get(&task.job_id)
                .map(|job| job.params.span.clone());
            span.unwrap_or_else(tracing::Span::none).in_scope(|| {
                tracing::warn!(
                    task_id,
                    job_id = task.job_id,
                    index = task.item.index,
                    limit_ms,
                    "item run timed out"
                )
            });
            if let Some(job) = self.jobs.get_mut(&task.job_id) {
                let message = format!(
                    "item {} ran longer than its item timeout of {limit_ms} ms",
                    task.item.index
                );
                job.finish_item(
                    task.item.index,
                    error_outcome(ErrorKind::Timeout, "TimeoutError", message),
                );
            }
            self.maybe_finish(task.job_id);
        }
    }
}
