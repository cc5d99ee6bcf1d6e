//! Items only the client's process may take (`Item.local_only`: values that
//! are not JSON, handed over in-process) wait in a line of their own
//! (`queue`), so they never hold back the job's other items. While no
//! worker of the client's process serves the job's expression, they wait for
//! one for the job's `worker_wait`; if none has come by then, each fails
//! alone with an `EncodingError` naming its index, and the job goes on.

use tokio::time::Instant;

use super::super::outcome::error_outcome;
use super::Scheduler;
use crate::pb::v1::ErrorKind;

impl Scheduler {
    /// Starts or stops each job's wait for a worker of its client's process
    /// (while it has local items waiting and no such worker), and fails the
    /// local items of the jobs that waited their `worker_wait`. O(jobs) per
    /// turn, plus O(log j) per clock started, stopped or fired.
    pub(super) fn expire_local_items(&mut self, now: Instant) {
        let mut changes = Vec::new();
        for job in self.jobs.values() {
            let stuck = job.queue.has_local()
                && !self
                    .workers
                    .served_locally(&job.params.process_token, &job.params.expression);
            if stuck != job.local_wait_since.is_some() {
                changes.push((job.id, stuck));
            }
        }
        for (job_id, stuck) in changes {
            let since = if stuck { Some(now) } else { None };
            self.jobs.set_local_wait_since(job_id, since);
        }
        for job_id in self.jobs.take_local_waits_due(now) {
            self.fail_local_items(job_id);
        }
    }

    /// Fails the job's waiting local items: no worker of its client's
    /// process came in its `worker_wait`.
    fn fail_local_items(&mut self, job_id: u64) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        let waited_ms = job.params.worker_wait.as_millis();
        let items = job.queue.take_local();
        job.params.span.in_scope(|| {
            tracing::warn!(
                items = items.len(),
                waited_ms,
                "items only the client's process can run found no worker there"
            )
        });
        for item in items {
            let message = format!(
                "item {} can run only in its client's process (its value is not JSON), \
                 and no worker of that process served expression {:?} in {waited_ms} ms",
                item.index, job.params.expression
            );
            job.finish_item(
                item.index,
                error_outcome(ErrorKind::Encoding, "EncodingError", message),
            );
        }
        self.maybe_finish(job_id);
    }
}
