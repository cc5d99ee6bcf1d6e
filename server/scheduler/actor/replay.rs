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

use super::super::call_book::ParkedCall;
use super::super::item::ParkedItem;
use super::super::job_book::Job;
use super::super::outcome::error_outcome;
use super::super::spend_book::budget_outcome;
use super::Scheduler;
use crate::cache::CallKey;
use crate::engine::EngineError;
use crate::pb::v1::{EngineCall, EngineReply, ErrorKind, Outcome};

/// Times an item may park before it fails: a `forward()` that makes a new
/// request each time it runs (a timestamp in its prompt) would otherwise
/// send a provider batch per run, for ever. A step per park, so this many
/// steps of calls in a row is far beyond any real `forward()`.
pub(super) const MAX_PARKS_PER_ITEM: u32 = 100;

impl Scheduler {
    /// Whether the calls of run `run_id` park it when they cannot be
    /// answered at once: its job replays and its worker gives slots back.
    pub(super) fn run_replays(&self, run_id: u64) -> bool {
        let Some(run) = self.workers.run(run_id) else {
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
                self.calls.park_call(server_call_id, call);
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
        let Some(run) = self.workers.run_mut(run_id) else {
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
        let call = self.calls.take_parked_call(server_call_id)?;
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
        for queued in self.calls.give_up_parked(calls) {
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
            .filter(|(_, p)| p.waiting.iter().any(|id| !self.calls.is_routed(*id)))
            .map(|(&index, _)| index)
            .collect();
        self.stop_parked_items(job_id, unsent, |job| {
            job.spend.budget_exceeded_items += 1;
            budget_outcome(&job.spend)
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
