//! Replay: runs that wait on a provider batch give their slot back.
//!
//! A run of a replaying job (its engine answers through a provider's batch
//! API, in hours) on a worker that registered `replays` does not wait in its
//! slot for a call that cannot be answered at once. The call stays queued
//! (or at its engine); the run's calls are answered `ERROR_KIND_PARKED`, the
//! run ends, and its item is parked here with the calls it waits for. Once
//! the last of them is answered, the item goes back to its job's queue (at
//! the back) with their replies in its [`ReplayLog`]. Its next run makes
//! the same calls again and gets those replies at once, until it makes a
//! call not made before, which parks it again. So a step of every item's
//! `forward()` goes out as one provider batch, whatever the slot count, and
//! a parked item holds no slot, no attempt and no item timeout.

use rustc_hash::{FxHashMap, FxHashSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::actor::Scheduler;
use super::jobs::{error_outcome, Job, PendingItem};
use super::reuse::budget_outcome;
use crate::cache::{call_key, CallKey};
use crate::engine::{Engine, EngineError};
use crate::pb::v1::{EngineCall, EngineReply, ErrorKind, Outcome};

/// Times an item may park before it fails: a `forward()` that makes a new
/// request each time it runs (a timestamp in its prompt) would otherwise
/// send a provider batch per run, for ever. A step per park, so this many
/// steps of calls in a row is far beyond any real `forward()`.
pub(super) const MAX_PARKS_PER_ITEM: u32 = 100;

/// An item whose run parked, until the calls it waits for are answered.
#[derive(Debug)]
pub(super) struct ParkedItem {
    pub item: PendingItem,
    /// Its calls not yet answered (server call ids).
    pub waiting: FxHashSet<u64>,
    /// Its run's token: cancelled when the item's job ends, so that its calls
    /// still at an engine that answers per call are given up.
    pub cancel: CancellationToken,
}

/// Where the reply of a parked item's call goes.
#[derive(Debug, Clone, Copy)]
pub(super) struct ParkedCall {
    pub job_id: u64,
    pub index: u64,
    /// The call's request ([`replay_key`]), which its item's next run asks for.
    pub key: CallKey,
}

/// The replies an item's parked runs were given, by request. A handful per
/// item (one per engine call of its `forward()`), so a list.
#[derive(Debug, Clone, Default)]
pub(super) struct ReplayLog {
    replies: Vec<(CallKey, EngineReply)>,
}

impl ReplayLog {
    /// The reply to an earlier identical call, if there was one.
    pub fn get(&self, key: &CallKey) -> Option<&EngineReply> {
        self.replies.iter().find(|(k, _)| k == key).map(|(_, r)| r)
    }

    fn put(&mut self, key: CallKey, reply: EngineReply) {
        match self.replies.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = reply,
            None => self.replies.push((key, reply)),
        }
    }
}

/// What identifies a call's request for replay: its call-cache key where the
/// engine has one (two calls share it exactly when the provider would see
/// the same request), else its prompt, messages and kwargs as sent.
pub(super) fn replay_key(engine: &Engine, name: &str, call: &EngineCall) -> CallKey {
    match engine.cache_request(name, call) {
        Some(request) => call_key(&request.kind, &request.model, request.canonical.as_bytes()),
        None => call_key(
            &call.prompt,
            &call.messages_json,
            call.kwargs_json.as_bytes(),
        ),
    }
}

impl Scheduler {
    /// Whether the calls of run `run_id` park it when they cannot be
    /// answered at once: its job replays and its worker gives slots back.
    pub(super) fn run_replays(&self, run_id: u64) -> bool {
        let Some(run) = self.runs.get(&run_id) else {
            return false;
        };
        self.jobs.get(&run.job_id).is_some_and(|job| job.replays)
            && self
                .workers
                .get(&run.worker_id)
                .is_some_and(|worker| worker.replays)
    }

    /// Parks run `run_id`, whose calls wait on a provider batch: the worker
    /// is answered `Parked` for each, its slot is free, and the item waits
    /// here for the calls' replies. A run that parked is not charged an
    /// attempt (only runs lost alone with their worker are, see `suspects`).
    pub(super) fn park_run(&mut self, run_id: u64) {
        let Some(run) = self.detach_run(run_id, &EngineError::Parked, false) else {
            return;
        };
        let mut item = run.item;
        item.parks += 1;
        let index = item.index;
        let mut waiting = FxHashSet::default();
        for &server_call_id in run.calls.keys() {
            waiting.insert(server_call_id);
            if let Some(&key) = run.replay_keys.get(&server_call_id) {
                let call = ParkedCall {
                    job_id: run.job_id,
                    index,
                    key,
                };
                self.parked_calls.insert(server_call_id, call);
            }
        }
        let Some(job) = self.jobs.get_mut(&run.job_id) else {
            return;
        };
        let parked = ParkedItem {
            item,
            waiting,
            cancel: run.cancel,
        };
        let parks = parked.item.parks;
        job.parked.insert(index, parked);
        if parks >= MAX_PARKS_PER_ITEM {
            self.stop_parked_items(run.job_id, vec![index], |_| too_many_parks(index));
        }
    }

    /// Answers a call of a replaying run from its item's replay log, if an
    /// earlier run of the item made the same call; false when it did not.
    /// Such a call is no new engine call: it is not counted, priced or sent.
    pub(super) fn answer_replayed(
        &mut self,
        worker_id: u64,
        run_id: u64,
        call: &EngineCall,
        key: &CallKey,
        now: Instant,
    ) -> bool {
        let Some(run) = self.runs.get_mut(&run_id) else {
            return false;
        };
        let Some(mut reply) = run.item.replies.get(key).cloned() else {
            return false;
        };
        run.last_activity = now;
        reply.call_id = call.call_id;
        self.reindex_run(run_id);
        if let Some(worker) = self.workers.get_mut(&worker_id) {
            worker.outbox.replies.push(reply);
        }
        true
    }

    /// The job and item a parked call belongs to, for its accounting.
    pub(super) fn parked_owner(&self, server_call_id: u64) -> Option<(u64, u64)> {
        self.parked_calls
            .get(&server_call_id)
            .map(|call| (call.job_id, call.index))
    }

    /// A parked item's call was answered: the reply goes into the item's
    /// replay log, and the item back to its job's queue once it waits for
    /// nothing more: at the back, behind the items not started yet, so that
    /// the calls of one step gather in one batch even when a provider batch
    /// answers before every item has made its call of that step. Returns the
    /// job, or None when the call was not a parked one.
    pub(super) fn parked_call_answered(
        &mut self,
        server_call_id: u64,
        reply: EngineReply,
    ) -> Option<u64> {
        let call = self.parked_calls.remove(&server_call_id)?;
        let job = self.jobs.get_mut(&call.job_id)?;
        let parked = job.parked.get_mut(&call.index)?;
        parked.waiting.remove(&server_call_id);
        parked.item.replies.put(call.key, reply);
        if parked.waiting.is_empty() {
            if let Some(parked) = job.parked.remove(&call.index) {
                job.queue.push_back(parked.item);
            }
        }
        Some(call.job_id)
    }

    /// A job ended: its parked items' calls are given up (taken out of their
    /// queues, or left to their engine with nobody waiting for the reply).
    pub(super) fn drop_parked(&mut self, parked: FxHashMap<u64, ParkedItem>) {
        let mut calls = Vec::new();
        for item in parked.into_values() {
            item.cancel.cancel();
            calls.extend(item.waiting);
        }
        for server_call_id in &calls {
            self.parked_calls.remove(server_call_id);
            self.in_flight.remove(server_call_id);
        }
        for queued in self.batcher.remove_calls(calls) {
            // Identical calls that waited on it go on without it.
            self.leader_gone(queued.call.call_id);
        }
    }

    /// The job reached its spend cap: its parked items whose calls have not
    /// all left for the engine fail with `BudgetExceeded` now; those whose
    /// calls are at the engine wait for them, and their next new call is
    /// refused.
    pub(super) fn stop_parked_over_budget(&mut self, job_id: u64) {
        let Some(job) = self.jobs.get(&job_id) else {
            return;
        };
        let unsent: Vec<u64> = job
            .parked
            .iter()
            .filter(|(_, p)| p.waiting.iter().any(|id| !self.in_flight.contains_key(id)))
            .map(|(&index, _)| index)
            .collect();
        self.stop_parked_items(job_id, unsent, |job| {
            job.spend.budget_exceeded_items += 1;
            budget_outcome(job.spend.cost_usd, job.spend.max_cost_usd)
        });
    }

    /// Ends parked items of a job with the outcome `outcome` makes for each,
    /// giving up their calls.
    pub(super) fn stop_parked_items(
        &mut self,
        job_id: u64,
        indices: Vec<u64>,
        mut outcome: impl FnMut(&mut Job) -> Outcome,
    ) {
        let mut stopped = FxHashMap::default();
        if let Some(job) = self.jobs.get_mut(&job_id) {
            for index in indices {
                if let Some(parked) = job.parked.remove(&index) {
                    let result = outcome(job);
                    job.finish_item(index, result);
                    stopped.insert(index, parked);
                }
            }
        }
        self.drop_parked(stopped);
        self.maybe_finish(job_id);
    }
}

/// The outcome of an item that parked more than [`MAX_PARKS_PER_ITEM`] times.
fn too_many_parks(index: u64) -> Outcome {
    let message = format!(
        "item {index} ran {MAX_PARKS_PER_ITEM} times, and each run made an engine request \
         that no earlier run had made, to wait on a provider batch (replay needs the same \
         requests for the same answers: no timestamp or random text in a prompt); its last \
         request was not sent; run the job with replay=False"
    );
    error_outcome(ErrorKind::Engine, "EngineError", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EchoEngine;
    use crate::pb::v1::engine_reply;

    fn call(prompt: &str, kwargs: &str) -> EngineCall {
        EngineCall {
            call_id: 7,
            prompt: prompt.into(),
            messages_json: String::new(),
            kwargs_json: kwargs.into(),
            local_ref: String::new(),
        }
    }

    #[test]
    fn the_same_request_has_the_same_key_whatever_its_call_id_or_kwargs_order() {
        let engine = Engine::Echo(EchoEngine::new(std::time::Duration::ZERO));
        let a = replay_key(&engine, "echo", &call("p", r#"{"a": 1, "b": 2}"#));
        let mut other = call("p", r#"{"b": 2, "a": 1}"#);
        other.call_id = 8;
        other.local_ref = "ref-1".into();
        assert_eq!(a, replay_key(&engine, "echo", &other));
        assert_ne!(
            a,
            replay_key(&engine, "echo", &call("q", r#"{"a": 1, "b": 2}"#))
        );
    }

    #[test]
    fn the_log_answers_a_request_it_holds_and_keeps_the_latest_reply() {
        let reply = |text: &str| EngineReply {
            call_id: 1,
            outcome: Some(engine_reply::Outcome::Text(text.into())),
            metadata_json: String::new(),
        };
        let mut log = ReplayLog::default();
        log.put([1; 32], reply("one"));
        log.put([2; 32], reply("two"));
        log.put([1; 32], reply("again"));
        assert_eq!(log.get(&[1; 32]), Some(&reply("again")));
        assert_eq!(log.get(&[2; 32]), Some(&reply("two")));
        assert_eq!(log.get(&[3; 32]), None);
    }
}
