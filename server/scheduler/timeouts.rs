//! Item timeouts: a run that has been started for longer than its job's
//! `item_timeout` ends with a `TimeoutError` in place of its result, and its
//! worker is told to cancel it (see `Scheduler::remove_task`).

use tokio::time::Instant;

use super::actor::Scheduler;
use super::jobs::error_outcome;
use crate::pb::v1::ErrorKind;

impl Scheduler {
    /// Whether some job has an item timeout (most have none: then no run is
    /// looked at).
    fn any_item_timeout(&self) -> bool {
        self.jobs
            .values()
            .any(|job| job.params.item_timeout.is_some())
    }

    /// When the next started run times out, if any run has a limit.
    pub(super) fn next_run_deadline(&self) -> Option<Instant> {
        if !self.any_item_timeout() {
            return None;
        }
        self.tasks
            .values()
            .filter_map(|task| {
                let limit = self.jobs.get(&task.job_id)?.params.item_timeout?;
                Some(task.started? + limit)
            })
            .min()
    }

    /// Ends every started run that is past its job's item timeout.
    pub(super) fn expire_runs(&mut self, now: Instant) {
        if !self.any_item_timeout() {
            return;
        }
        let expired: Vec<(u64, u64)> = self
            .tasks
            .iter()
            .filter_map(|(&task_id, task)| {
                let limit = self.jobs.get(&task.job_id)?.params.item_timeout?;
                (now >= task.started? + limit).then_some((task_id, limit.as_millis() as u64))
            })
            .collect();
        for (task_id, limit_ms) in expired {
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
