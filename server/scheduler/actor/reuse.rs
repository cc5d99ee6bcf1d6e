//! Reuse at the scheduler: a new call is refused when its job is over its
//! cap, answered from the cache, joined to an identical call in flight, or
//! queued (and then leads the calls that join it). An answered call's reply
//! fans out to the calls that joined it. The state is the reuse book's
//! (`reuse_book`); pricing and the cap are `budget`'s.

use super::super::call_book::CallRoute;
use super::super::reuse_book::CacheWrite;
use super::super::spend::Saving;
use super::super::spend_book::budget_outcome;
use super::Scheduler;
use crate::batcher::model_of;
use crate::batcher::{BatchKey, QueuedCall};
use crate::cache::{call_key, CachedReply};
use crate::engine::http::per_call::embeddings_of;
use crate::engine::{is_error, CallStats};
use crate::pb::v1::{engine_reply, EngineReply, ErrorKind};

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

pub(super) fn is_cancelled(reply: &EngineReply) -> bool {
    matches!(&reply.outcome, Some(engine_reply::Outcome::Error(e)) if e.kind == ErrorKind::Cancelled as i32)
}

impl Scheduler {
    /// Sends a new call on its way: refused over budget, answered from the
    /// cache, joined to an identical call in flight, or queued in `key`.
    /// The call is already counted in its run's calls.
    pub(super) fn route_call(&mut self, key: BatchKey, queued: QueuedCall) {
        let Some(job) = self.jobs.get(&queued.job_id) else {
            self.calls.queue(key, queued);
            return;
        };
        if job.spend.exceeded {
            match self.calls.parked_owner(queued.call.call_id) {
                // A parked item's call sent on its way again (the identical
                // call it waited on was given up): the item stops here.
                Some((job_id, index)) => self.stop_parked_items(job_id, vec![index], |job| {
                    job.spend.budget_exceeded_items += 1;
                    budget_outcome(&job.spend)
                }),
                None => self.stop_run_over_budget(queued.run_id),
            }
            return;
        }
        let mode = job.cache_mode(queued.call.kind());
        let request = mode
            .writes()
            .then(|| self.engines.get(&key.engine))
            .flatten()
            .and_then(|slot| slot.engine.cache_request(&key.engine, &queued.call));
        let Some(request) = request else {
            self.calls.queue(key, queued);
            return;
        };
        let cache_key = call_key(&request.kind, &request.model, request.canonical.as_bytes());
        // The reply of the same request made by an earlier run of the item
        // (`requeue`), whatever the mode: it was made for this call.
        if let Some(kept) = self.reuse.take_kept_reply(queued.job_id, &cache_key) {
            self.answer_from_cache(&key.engine, queued, kept);
            return;
        }
        if mode.reads() {
            if let Some(hit) = self.reuse.hit(&cache_key) {
                self.answer_from_cache(&key.engine, queued, hit);
                return;
            }
        }
        if self.reuse.is_in_flight(&cache_key) {
            self.calls.route(
                queued.call.call_id,
                CallRoute {
                    worker_id: queued.worker_id,
                    worker_call_id: queued.worker_call_id,
                    run_id: queued.run_id,
                    resend: None,
                    step: queued.step,
                },
            );
            let joined = self.reuse.follow(&cache_key, queued);
            debug_assert!(joined, "the key is in flight");
            return;
        }
        let write = CacheWrite {
            key: cache_key,
            model: request.model,
        };
        self.reuse.lead(cache_key, queued.call.call_id, write);
        self.calls.queue(key, queued);
    }

    fn answer_from_cache(&mut self, engine: &str, queued: QueuedCall, hit: CachedReply) {
        let cost = self.call_cost(
            engine,
            &hit.model,
            (hit.prompt_tokens, hit.completion_tokens),
            hit.batch_priced,
        );
        self.record_saving(
            queued.job_id,
            queued.run_id,
            Saving::CacheHit,
            (hit.prompt_tokens, hit.completion_tokens),
            cost,
        );
        let reply = EngineReply {
            call_id: queued.worker_call_id,
            outcome: Some(match hit.embeddings {
                Some(vectors) => engine_reply::Outcome::Embeddings(embeddings_of(vectors)),
                None => engine_reply::Outcome::Text(hit.text),
            }),
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
        let Some(index) = self.workers.run(run_id).map(|t| t.item.index) else {
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
        let Some(followers) = self.reuse.land(leader) else {
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
                    (stats.prompt_tokens, stats.completion_tokens),
                    stats.batch_priced,
                )
            })
            .flatten();
        for follower in followers {
            let call_id = follower.call.call_id;
            let Some(route) = self.calls.take_route(call_id) else {
                continue; // its run ended meanwhile
            };
            self.reuse.count_coalesced();
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
        if let Some(followers) = self.reuse.land(call_id) {
            for follower in followers {
                self.reroute(follower);
            }
        }
    }

    fn reroute(&mut self, follower: QueuedCall) {
        if self.calls.take_route(follower.call.call_id).is_none() {
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
