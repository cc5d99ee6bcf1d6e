//! The call cache, coalescing and the spend cap at the scheduler. A new
//! call is refused when its job is over its cap, answered from the cache,
//! joined to an identical call in flight, or queued (and then leads the
//! calls that join it). An answered call is priced, and its reply fans out
//! to the calls that joined it; a job that reaches its cap stops.

use super::actor::Scheduler;
use super::calls::CallRoute;
use super::jobs::error_outcome;
use super::spend::Saving;
use crate::batcher::model_of;
use crate::batcher::{BatchKey, QueuedCall};
use crate::cache::{call_key, CachedReply, CallKey};
use crate::cost::reply_model;
use crate::engine::{is_error, CallStats, Engine};
use crate::pb::v1::{engine_reply, EngineReply, ErrorKind, Outcome};

/// A reply to write to the cache before it is delivered: its key, and the
/// model it was asked of.
#[derive(Debug, Clone)]
pub(crate) struct CacheWrite {
    pub key: CallKey,
    pub model: String,
}

impl CacheWrite {
    /// The record to store for a successful reply; None for an error.
    pub fn record(&self, reply: &EngineReply, stats: &CallStats) -> Option<(CallKey, CachedReply)> {
        let Some(engine_reply::Outcome::Text(text)) = &reply.outcome else {
            return None;
        };
        let model = reply_model(&reply.metadata_json).unwrap_or_else(|| self.model.clone());
        let record = CachedReply::new(
            text.clone(),
            reply.metadata_json.clone(),
            model,
            stats.prompt_tokens,
            stats.completion_tokens,
            stats.batch_priced,
        );
        Some((self.key, record))
    }
}

/// `metadata_json` with `"cached": true` added (a JSON object), so that
/// the caller can tell a reply that sent no request.
fn mark_cached(metadata_json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(metadata_json) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("cached".into(), true.into());
            serde_json::Value::Object(map).to_string()
        }
        _ => r#"{"cached":true}"#.to_string(),
    }
}

fn is_cancelled(reply: &EngineReply) -> bool {
    matches!(&reply.outcome, Some(engine_reply::Outcome::Error(e)) if e.kind == ErrorKind::Cancelled as i32)
}

impl Scheduler {
    /// Sends a new call on its way: refused over budget, answered from the
    /// cache, joined to an identical call in flight, or queued in `key`.
    /// The call is already counted in its run's calls.
    pub(super) fn route_call(&mut self, key: BatchKey, queued: QueuedCall) {
        let Some(job) = self.jobs.get(&queued.job_id) else {
            self.batcher.push(key, queued);
            return;
        };
        if job.spend.exceeded {
            match self.parked_owner(queued.call.call_id) {
                // A parked item's call sent on its way again (the identical
                // call it waited on was given up): the item stops here.
                Some((job_id, index)) => self.stop_parked_items(job_id, vec![index], |job| {
                    job.spend.budget_exceeded_items += 1;
                    budget_outcome(job.spend.cost_usd, job.spend.max_cost_usd)
                }),
                None => self.stop_run_over_budget(queued.run_id),
            }
            return;
        }
        let mode = job.cache_mode;
        let request = mode
            .writes()
            .then(|| self.engines.get(&key.engine))
            .flatten()
            .and_then(|slot| slot.engine.cache_request(&key.engine, &queued.call));
        let Some(request) = request else {
            self.batcher.push(key, queued);
            return;
        };
        let cache_key = call_key(&request.kind, &request.model, request.canonical.as_bytes());
        if mode.reads() {
            if let Some(hit) = self.cache.get(&cache_key) {
                self.answer_from_cache(&key.engine, queued, hit);
                return;
            }
        }
        if self.coalescer.contains(&cache_key) {
            self.in_flight.insert(
                queued.call.call_id,
                CallRoute {
                    worker_id: queued.worker_id,
                    worker_call_id: queued.worker_call_id,
                    run_id: queued.run_id,
                    resend: None,
                },
            );
            let joined = self.coalescer.follow(&cache_key, queued);
            debug_assert!(joined.is_ok(), "the key is in flight");
            return;
        }
        self.coalescer.lead(cache_key, queued.call.call_id);
        self.cache_writes.insert(
            queued.call.call_id,
            CacheWrite {
                key: cache_key,
                model: request.model,
            },
        );
        self.batcher.push(key, queued);
    }

    fn answer_from_cache(&mut self, engine: &str, queued: QueuedCall, hit: CachedReply) {
        let cost = self.call_cost(
            engine,
            &hit.model,
            hit.prompt_tokens,
            hit.completion_tokens,
            hit.batch_priced,
        );
        self.cache_hits += 1;
        self.record_saving(
            queued.job_id,
            queued.run_id,
            Saving::CacheHit,
            (hit.prompt_tokens, hit.completion_tokens),
            cost,
        );
        let reply = EngineReply {
            call_id: queued.worker_call_id,
            outcome: Some(engine_reply::Outcome::Text(hit.text)),
            metadata_json: mark_cached(&hit.metadata_json),
        };
        self.deliver_reply(queued.worker_id, queued.run_id, queued.call.call_id, reply);
    }

    fn record_saving(
        &mut self,
        job_id: u64,
        run_id: u64,
        saving: Saving,
        (prompt, completion): (u64, u64),
        cost: Option<f64>,
    ) {
        let Some(index) = self.runs.get(&run_id).map(|t| t.item.index) else {
            return;
        };
        if let Some(job) = self.jobs.get_mut(&job_id) {
            job.spend
                .record_saved(index, saving, prompt, completion, cost);
        }
    }

    /// The call `leader` was answered with `reply`: the calls that joined
    /// it get the same reply, or, when it was cancelled (its own run
    /// ended), go on their way again without it.
    pub(super) fn land_flight(
        &mut self,
        engine: &str,
        leader: u64,
        reply: &EngineReply,
        stats: &CallStats,
    ) {
        self.cache_writes.remove(&leader);
        let Some((_, followers)) = self.coalescer.land(leader) else {
            return;
        };
        if is_cancelled(reply) {
            for follower in followers {
                self.reroute(follower);
            }
            return;
        }
        let cost = (!is_error(reply))
            .then(|| {
                let model = self.priced_model(engine, reply);
                self.call_cost(
                    engine,
                    &model,
                    stats.prompt_tokens,
                    stats.completion_tokens,
                    stats.batch_priced,
                )
            })
            .flatten();
        for follower in followers {
            let call_id = follower.call.call_id;
            let Some(route) = self.in_flight.remove(&call_id) else {
                continue; // its run ended meanwhile
            };
            self.coalesced += 1;
            self.record_saving(
                follower.job_id,
                follower.run_id,
                Saving::Coalesced,
                (stats.prompt_tokens, stats.completion_tokens),
                cost,
            );
            let mut shared = reply.clone();
            shared.call_id = route.worker_call_id;
            self.deliver_reply(route.worker_id, route.run_id, call_id, shared);
        }
    }

    /// A queued call left its queue unanswered (its run ended): the calls
    /// that joined it go on their way without it.
    pub(super) fn leader_gone(&mut self, call_id: u64) {
        self.cache_writes.remove(&call_id);
        if let Some((_, followers)) = self.coalescer.land(call_id) {
            for follower in followers {
                self.reroute(follower);
            }
        }
    }

    fn reroute(&mut self, follower: QueuedCall) {
        if self.in_flight.remove(&follower.call.call_id).is_none() {
            return; // its run ended too
        }
        let Some(engine) = self
            .jobs
            .get(&follower.job_id)
            .map(|job| job.params.engine.clone())
        else {
            return;
        };
        let key = BatchKey {
            engine,
            model: model_of(&follower.call.kwargs_json),
        };
        self.route_call(key, follower);
    }

    /// Adds the cost of a request answered for item `index` of job
    /// (`owner`) to the job, and stops the job when that reaches its cap.
    pub(super) fn account_sent(
        &mut self,
        engine: &str,
        owner: Option<(u64, u64)>,
        model: &str,
        stats: &CallStats,
    ) {
        let Some((job_id, index)) = owner else {
            return;
        };
        let cost = self.call_cost(
            engine,
            model,
            stats.prompt_tokens,
            stats.completion_tokens,
            stats.batch_priced,
        );
        if cost.is_none() && !self.unpriced_models.contains(model) {
            tracing::warn!(engine, model = %model,
                "model has no price: its calls are counted as unpriced, not in the cost \
                 (set [engines.NAME.pricing] in the config file)");
            self.unpriced_models.insert(model.to_string());
        }
        if let Some(job) = self.jobs.get_mut(&job_id) {
            job.spend
                .record_sent(index, stats.prompt_tokens, stats.completion_tokens, cost);
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
    fn call_cost(
        &self,
        engine: &str,
        model: &str,
        prompt: u64,
        completion: u64,
        batch_priced: bool,
    ) -> Option<f64> {
        let free = self
            .engines
            .get(engine)
            .is_some_and(|slot| matches!(slot.engine, Engine::Echo(_)));
        if free {
            return Some(0.0);
        }
        self.prices
            .cost(engine, model, prompt, completion, batch_priced)
    }

    /// Once a job's spend reaches its cap: its waiting items fail with
    /// BudgetExceeded, and so do its runs that are not started or wait on a
    /// call not yet sent; runs with calls at an engine go on until they
    /// make another call.
    fn enforce_budget(&mut self, job_id: u64) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if job.spend.exceeded || !job.spend.over_budget() {
            return;
        }
        job.spend.exceeded = true;
        tracing::warn!(job_id, cost_usd = job.spend.cost_usd, max_cost_usd = ?job.spend.max_cost_usd,
            "job reached its spend cap; none of its calls is sent any more");
        let waiting: Vec<u64> = job.queue.take_all().iter().map(|item| item.index).collect();
        for index in waiting {
            let outcome = budget_outcome(job.spend.cost_usd, job.spend.max_cost_usd);
            job.spend.budget_exceeded_items += 1;
            job.finish_item(index, outcome);
        }
        let stopped: Vec<u64> = self
            .runs
            .iter()
            .filter(|(_, run)| {
                run.job_id == job_id
                    && (run.started.is_none()
                        || run.calls.keys().any(|id| !self.in_flight.contains_key(id)))
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
    fn stop_run_over_budget(&mut self, run_id: u64) {
        let Some(run) = self.remove_run(run_id, true) else {
            return;
        };
        if let Some(job) = self.jobs.get_mut(&run.job_id) {
            let outcome = budget_outcome(job.spend.cost_usd, job.spend.max_cost_usd);
            job.spend.budget_exceeded_items += 1;
            job.finish_item(run.item.index, outcome);
        }
        self.maybe_finish(run.job_id);
    }
}

/// The outcome of an item stopped by its job's spend cap.
pub(super) fn budget_outcome(cost_usd: f64, max_cost_usd: Option<f64>) -> Outcome {
    let message = format!(
        "the job reached its spend cap (max_cost_usd {:.6}; spent {cost_usd:.6} USD): \
         this item's engine calls were not sent; run again with a higher max_cost_usd \
         to continue from the cache",
        max_cost_usd.unwrap_or(0.0)
    );
    error_outcome(ErrorKind::BudgetExceeded, "BudgetExceeded", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_replies_say_so_in_their_metadata() {
        let marked: serde_json::Value = serde_json::from_str(&mark_cached(
            r#"{"model": "m", "usage": {"prompt_tokens": 3}}"#,
        ))
        .expect("json");
        assert_eq!(marked["cached"], true);
        assert_eq!(marked["model"], "m");
        assert_eq!(mark_cached(""), r#"{"cached":true}"#);
    }
}
