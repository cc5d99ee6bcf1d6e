//! Fail fast on a dead engine: while the circuit of an engine a job uses is
//! open (its endpoint refused or could not be reached several times in a
//! row, see `crate::engine::http::circuit`), the job's items that have not
//! started fail at once with the engine's `EngineUnavailableError`, without
//! running. An engine the job uses is the engine of a kind of call (chat,
//! embedding) the job has made: a job that only embeds is not failed for
//! its chat engine's circuit, which another job opened.
//! Run, each would only make a call that fails at once, and pay for
//! `forward()` and the failure's handling (symai formats and logs a
//! traceback per failed query) on the way: about 1.3 ms an item, 13 s for
//! 10,000. Once the circuit's cool-down ends, items run again and their
//! first call probes the endpoint: a job after it is back succeeds.
//!
//! A job whose calls the cache has answered is left to run: its items may
//! need no request at all.

use super::Scheduler;
use crate::pb::v1::{outcome, CallKind, Outcome};

impl Scheduler {
    /// Fails the waiting items of the jobs that use an engine that refuses
    /// every call now. O(jobs) per turn, plus O(1) per item failed.
    pub(super) fn fail_items_of_unavailable_engines(&mut self) {
        let mut refused = Vec::new();
        for job in self.jobs.values() {
            if job.queue.is_empty() || job.spend.saved.cache_hits > 0 {
                continue;
            }
            let error = [CallKind::Neurosymbolic, CallKind::Embedding]
                .into_iter()
                .filter(|&kind| job.has_called(kind))
                .filter_map(|kind| self.engines.get(job.engine_for(kind)?))
                .find_map(|slot| slot.engine.refusing());
            if let Some(error) = error {
                refused.push((job.id, error));
            }
        }
        for (job_id, error) in refused {
            let Some(job) = self.jobs.get_mut(&job_id) else {
                continue;
            };
            let items = job.queue.take_all();
            job.params.span.in_scope(|| {
                tracing::debug!(
                    items = items.len(),
                    engine = %job.params.engine,
                    "engine unavailable: waiting items fail without running"
                )
            });
            for item in items {
                let outcome = Outcome {
                    value: Some(outcome::Value::Error(error.clone())),
                    local_only: false,
                };
                job.finish_item(item.index, outcome);
            }
            self.maybe_finish(job_id);
        }
    }
}
