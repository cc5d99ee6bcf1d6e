//! Requests billed twice: a hedged provider batch that did not end within
//! its engine's `cancel_wait` was given up and its calls answered online,
//! but the provider completed (and billed) some of its requests all the
//! same. The engine reports those late copies with its batch's end
//! (`BatchAnswer::late_copies`); each is priced at the batch price and
//! added to its engine's totals, and, while its job runs, to the job's,
//! item's and step's cost and the job's `billed_twice_usd`.

use std::collections::HashMap;

use super::super::call_book::CallOwner;
use super::Scheduler;
use crate::batcher::QueuedCall;
use crate::engine::CallStats;

impl Scheduler {
    /// Records who `queued`, about to leave for a provider-batch engine,
    /// was made for: its run's item, or its parked item's.
    pub(super) fn own_batch_api_call(&mut self, queued: &QueuedCall) {
        let call_id = queued.call.call_id;
        let index = self
            .workers
            .run(queued.run_id)
            .map(|run| run.item.index)
            .or_else(|| self.calls.parked_owner(call_id).map(|(_, index)| index));
        if let Some(index) = index {
            let owner = CallOwner {
                job_id: queued.job_id,
                index,
                step: queued.step,
            };
            self.calls.own_batch_api_call(call_id, owner);
        }
    }

    /// The engine batch of `call_ids` on `engine` is back with `copies`
    /// billed twice: each is priced and counted (see the module docs).
    pub(super) fn bill_late_copies(
        &mut self,
        engine: &str,
        call_ids: &[u64],
        copies: HashMap<u64, CallStats>,
    ) {
        let owners = self.calls.take_batch_api_owners(call_ids);
        if copies.is_empty() {
            return;
        }
        let model = self
            .engines
            .get(engine)
            .map(|slot| slot.engine.limits().model)
            .unwrap_or_default();
        for (call_id, stats) in copies {
            let tokens = (stats.prompt_tokens, stats.completion_tokens);
            let cost = self.call_cost(engine, &model, tokens, true);
            self.engines.record_billed_twice(engine, &stats, cost);
            let Some(owner) = owners.get(&call_id) else {
                continue;
            };
            if let Some(job) = self.jobs.get_mut(&owner.job_id) {
                job.spend
                    .record_billed_twice(owner.index, owner.step, tokens, cost);
                job.params.span.in_scope(|| {
                    tracing::warn!(index = owner.index, step = owner.step, cost_usd = ?cost,
                        "a hedged batch's copy of a call answered online was billed too")
                });
            }
        }
    }
}
