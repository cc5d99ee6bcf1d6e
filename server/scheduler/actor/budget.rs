//! The spend cap at the scheduler: an answered request is priced and added
//! to its job's spend, and a job that reaches its cap (or one of whose calls
//! can no longer fit under it, `reserve`) stops its waiting items, its runs
//! not started or waiting on a call not sent, and its parked items. Prices
//! are the spend book's (`spend_book`); a job's spend is `spend::JobSpend`.

use super::super::spend_book::budget_outcome;
use super::Scheduler;
use crate::cost::reply_model;
use crate::engine::{CallStats, Engine};
use crate::pb::v1::EngineReply;

impl Scheduler {
    /// Adds the cost of a request answered for item `index` of job
    /// (`owner`) to the job, and stops the job when that reaches its cap.
    pub(super) fn account_sent(
        &mut self,
        engine: &str,
        owner: Option<(u64, u64)>,
        model: &str,
        stats: &CallStats,
        step: u32,
    ) {
        let Some((job_id, index)) = owner else {
            return;
        };
        let tokens = (stats.prompt_tokens, stats.completion_tokens);
        let cost = self.call_cost(engine, model, tokens, stats.batch_priced);
        if cost.is_none() {
            self.spend.report_unpriced(engine, model);
        }
        let online_cost = self.call_cost(engine, model, tokens, false);
        if let Some(job) = self.jobs.get_mut(&job_id) {
            job.spend
                .record_sent(index, stats.prompt_tokens, stats.completion_tokens, cost);
            job.spend
                .record_route(step, stats.batch_priced, cost, online_cost);
        }
        self.enforce_budget(job_id);
    }

    /// The model a reply is priced by: the one it names, else the engine's
    /// default.
    pub(super) fn priced_model(&self, engine: &str, reply: &EngineReply) -> String {
        reply_model(&reply.metadata_json).unwrap_or_else(|| {
            self.engines
                .get(engine)
                .map(|slot| slot.engine.limits().model)
                .unwrap_or_default()
        })
    }

    /// Cost of a call in US dollars; echo engines cost nothing; None: the
    /// model has no price.
    pub(super) fn call_cost(
        &self,
        engine: &str,
        model: &str,
        tokens: (u64, u64),
        batch_priced: bool,
    ) -> Option<f64> {
        let free = self
            .engines
            .get(engine)
            .is_some_and(|slot| matches!(slot.engine, Engine::Echo(_)));
        self.spend
            .call_cost(free, engine, model, tokens, batch_priced)
    }

    /// Once a job's spend reaches its cap, it stops (`stop_over_budget`).
    fn enforce_budget(&mut self, job_id: u64) {
        let reached = self
            .jobs
            .get(&job_id)
            .is_some_and(|job| !job.spend.exceeded && job.spend.over_budget());
        if reached {
            self.stop_over_budget(job_id);
        }
    }

    /// A job whose cap is reached, or one of whose calls' worst case can no
    /// longer fit under it: its waiting items fail with BudgetExceeded, and
    /// so do its runs with no call at an engine that are not started or wait
    /// on a call not yet sent (queued, or held for room); runs with calls at
    /// an engine go on until they make another call.
    pub(super) fn stop_over_budget(&mut self, job_id: u64) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if !job.spend.exceeded {
            job.spend.exceeded = true;
            tracing::warn!(job_id, cost_usd = job.spend.cost_usd,
                reserved_usd = job.spend.reserved_usd, max_cost_usd = ?job.spend.max_cost_usd,
                "job reached its spend cap; none of its calls is sent any more");
        }
        let waiting: Vec<u64> = job.queue.take_all().iter().map(|item| item.index).collect();
        for index in waiting {
            let outcome = budget_outcome(&job.spend);
            job.spend.budget_exceeded_items += 1;
            job.finish_item(index, outcome);
        }
        let stopped: Vec<u64> = self
            .workers
            .runs()
            .filter(|(_, run)| {
                // A run with a call at an engine goes on: stopping it would
                // abandon a request the provider may bill.
                run.job_id == job_id
                    && !run.calls.keys().any(|id| self.calls.is_routed(*id))
                    && (run.started.is_none() || !run.calls.is_empty())
            })
            .map(|(&run_id, _)| run_id)
            .collect();
        for run_id in stopped {
            self.stop_run_over_budget(run_id);
        }
        self.stop_parked_over_budget(job_id);
        self.maybe_finish(job_id);
    }

    /// Ends a run of a job over its cap: its item fails with BudgetExceeded.
    pub(super) fn stop_run_over_budget(&mut self, run_id: u64) {
        let Some(run) = self.remove_run(run_id, true) else {
            return;
        };
        if let Some(job) = self.jobs.get_mut(&run.job_id) {
            let outcome = budget_outcome(&job.spend);
            job.spend.budget_exceeded_items += 1;
            job.finish_item(run.item.index, outcome);
        }
        self.maybe_finish(run.job_id);
    }
}
