//! The call book: every engine call between a worker and an engine. Calls
//! waiting for a batch (the batcher's queues, and per engine the runs that
//! may still add a call, for the all-parked trigger), calls of capped jobs
//! held until reserved spend comes back (`reserve`), calls sent to an
//! engine and not yet answered, calls of parked items (replay), and the
//! jobs with calls in each engine batch in flight. Its state changes only
//! here; the scheduler's call events are in `calls`, `replies`, `reuse`.

use std::collections::{BTreeMap, HashSet};

use rustc_hash::FxHashMap;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::batcher::{policy, BatchKey, Batcher, Flush, ParkedIndex, QueuedCall};
use crate::cache::CallKey;

/// Times a call is sent again after its engine process disconnected before
/// answering it: a call whose batch has brought down its engine that often
/// fails instead of taking down the engine's successors.
const MAX_CALL_RESENDS: u32 = 2;

/// Where the reply to an in-flight call goes.
#[derive(Debug)]
pub(super) struct CallRoute {
    pub worker_id: u64,
    pub worker_call_id: u64,
    pub run_id: u64,
    /// The call as it was queued, kept for engines that may disconnect and
    /// register again: its batch is then sent again to the successor.
    pub resend: Option<QueuedCall>,
    /// The call's step in its item's forward() ([`QueuedCall::step`]).
    pub step: u32,
}

/// Where the reply of a parked item's call goes.
#[derive(Debug, Clone, Copy)]
pub(super) struct ParkedCall {
    pub job_id: u64,
    pub index: u64,
    /// The call's request ([`replay_key`]), which its item's next run asks for.
    pub key: CallKey,
}

/// A request at an engine whose run went back to its job's queue (its
/// worker stalled or disconnected): kept for the item's next run, which is
/// answered by it (see `requeue`). Its reply goes to no worker; it is
/// billed to its item.
#[derive(Debug)]
pub(super) struct KeptCall {
    pub job_id: u64,
    pub index: u64,
    /// The call's step in its item's forward() ([`QueuedCall::step`]).
    pub step: u32,
    /// Its run's token: cancelled when its job ends, so that a request still
    /// waiting for a rate limit or a retry is not sent for nobody.
    pub cancel: CancellationToken,
}

#[derive(Debug, Default)]
pub(super) struct CallBook {
    batcher: Batcher,
    /// Per engine, the runs that may still add a call (the all-parked trigger).
    parked: ParkedIndex,
    /// Calls sent to an engine and not yet answered, by server call id.
    in_flight: FxHashMap<u64, CallRoute>,
    /// Calls of parked items (replay), by server call id: their replies go
    /// to the item's replay log, not to a worker.
    parked_calls: FxHashMap<u64, ParkedCall>,
    /// Jobs with calls in each engine batch in flight, by batch id.
    batch_jobs: FxHashMap<u64, Vec<u64>>,
    /// Calls held back because their worst case fits under their job's cap
    /// only once calls in flight give back their reservation, by (job,
    /// server call id): in arrival order per job.
    held: BTreeMap<(u64, u64), (BatchKey, QueuedCall)>,
    /// The job of each held call, by server call id.
    held_jobs: FxHashMap<u64, u64>,
    /// Requests of runs that went back to their queue, kept at their engine
    /// for the item's next run, by server call id.
    kept: FxHashMap<u64, KeptCall>,
    /// The job, item and step of each call at a provider-batch engine, by
    /// server call id, until its engine batch is back: a hedged batch may
    /// report a late copy of it then, billed to its item.
    batch_api_owners: FxHashMap<u64, CallOwner>,
}

/// The item and step a call was made for.
#[derive(Debug, Clone, Copy)]
pub(super) struct CallOwner {
    pub job_id: u64,
    pub index: u64,
    pub step: u32,
}

impl CallBook {
    /// Queues a call for a batch under `key`.
    pub fn queue(&mut self, key: BatchKey, queued: QueuedCall) {
        self.batcher.push(key, queued);
    }

    /// Calls waiting for a batch.
    pub fn waiting(&self) -> usize {
        self.batcher.waiting()
    }

    /// Calls waiting per (engine, model).
    pub fn queue_lengths(&self) -> Vec<(BatchKey, usize)> {
        self.batcher.queue_lengths()
    }

    /// When the next batch is due, among engines `has_capacity` accepts: a
    /// call's delay, or the instant after `now` the engine's last running
    /// item goes silent (its silence needs no event, but the flush it
    /// allows needs a wake).
    pub fn next_deadline(
        &self,
        now: Instant,
        has_capacity: impl FnMut(&str) -> bool,
    ) -> Option<Instant> {
        let parked = &self.parked;
        self.batcher.next_deadline(has_capacity, |engine| {
            parked.all_silent_at(engine).filter(|&at| at > now)
        })
    }

    /// Forms every batch due at `now`: an engine's queues flush early once
    /// all its runs wait on a call, unless it is `receiving` items;
    /// `reserve(engine)` takes a slot of the engine for each batch.
    pub fn take_ready(
        &mut self,
        now: Instant,
        receiving: &HashSet<String>,
        reserve: impl FnMut(&str) -> bool,
    ) -> Vec<Flush> {
        let parked = &self.parked;
        self.batcher.take_ready(
            now,
            |engine| !receiving.contains(engine) && parked.all_parked(engine, now),
            reserve,
        )
    }

    /// Takes the waiting (and held) calls of `engine` out of their queues.
    pub fn remove_engine(&mut self, engine: &str) -> Vec<QueuedCall> {
        let mut removed = self.batcher.remove_engine(engine);
        let held: Vec<u64> = self
            .held
            .iter()
            .filter(|(_, (key, _))| key.engine == engine)
            .map(|(&(_, call_id), _)| call_id)
            .collect();
        removed.extend(held.into_iter().filter_map(|id| self.unhold(id)));
        removed
    }

    /// Gives up calls (a run ended): they leave their queues, and their
    /// replies are not routed any more. Returns those that were still
    /// queued (or held).
    pub fn give_up(&mut self, call_ids: impl IntoIterator<Item = u64> + Clone) -> Vec<QueuedCall> {
        let mut unsent = self.batcher.remove_calls(call_ids.clone());
        for call_id in call_ids {
            self.in_flight.remove(&call_id);
            unsent.extend(self.unhold(call_id));
        }
        unsent
    }

    /// Gives up calls of parked items (their job ended or stopped them).
    pub fn give_up_parked(&mut self, call_ids: Vec<u64>) -> Vec<QueuedCall> {
        let mut unsent = Vec::new();
        for call_id in &call_ids {
            self.parked_calls.remove(call_id);
            self.in_flight.remove(call_id);
            unsent.extend(self.unhold(*call_id));
        }
        unsent.extend(self.batcher.remove_calls(call_ids));
        unsent
    }

    /// Holds a call of job `job_id` until its job gets a reservation back.
    pub fn hold(&mut self, job_id: u64, key: BatchKey, queued: QueuedCall) {
        let call_id = queued.call.call_id;
        self.held_jobs.insert(call_id, job_id);
        self.held.insert((job_id, call_id), (key, queued));
    }

    /// Takes the held calls of job `job_id`, in arrival order.
    pub fn take_held(&mut self, job_id: u64) -> Vec<(BatchKey, QueuedCall)> {
        let ids: Vec<(u64, u64)> = self
            .held
            .range((job_id, 0)..=(job_id, u64::MAX))
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| {
                self.held_jobs.remove(&id.1);
                self.held.remove(&id)
            })
            .collect()
    }

    fn unhold(&mut self, call_id: u64) -> Option<QueuedCall> {
        let job_id = self.held_jobs.remove(&call_id)?;
        self.held
            .remove(&(job_id, call_id))
            .map(|(_, queued)| queued)
    }

    /// Routes the reply of call `call_id` by `route`.
    pub fn route(&mut self, call_id: u64, route: CallRoute) {
        self.in_flight.insert(call_id, route);
    }

    /// Whether call `call_id` is routed (sent, or joined to one that is).
    pub fn is_routed(&self, call_id: u64) -> bool {
        self.in_flight.contains_key(&call_id)
    }

    /// Takes the route of call `call_id` (it is answered).
    pub fn take_route(&mut self, call_id: u64) -> Option<CallRoute> {
        self.in_flight.remove(&call_id)
    }

    /// Keeps the in-flight call `call_id` of a run that went back to its
    /// job's queue: its reply no longer goes to the run's worker. False when
    /// it is not in flight.
    pub fn keep(
        &mut self,
        call_id: u64,
        job_id: u64,
        index: u64,
        cancel: CancellationToken,
    ) -> bool {
        let Some(route) = self.in_flight.remove(&call_id) else {
            return false;
        };
        let kept = KeptCall {
            job_id,
            index,
            step: route.step,
            cancel,
        };
        self.kept.insert(call_id, kept);
        true
    }

    /// Call `call_id`, sent to a provider-batch engine, was made for `owner`.
    pub fn own_batch_api_call(&mut self, call_id: u64, owner: CallOwner) {
        self.batch_api_owners.insert(call_id, owner);
    }

    /// The owners of calls `call_ids`, whose engine batch is back; taken.
    pub fn take_batch_api_owners(&mut self, call_ids: &[u64]) -> FxHashMap<u64, CallOwner> {
        if self.batch_api_owners.is_empty() {
            return FxHashMap::default();
        }
        call_ids
            .iter()
            .filter_map(|id| Some((*id, self.batch_api_owners.remove(id)?)))
            .collect()
    }

    /// Takes the kept call `call_id` (it is answered).
    pub fn take_kept(&mut self, call_id: u64) -> Option<KeptCall> {
        self.kept.remove(&call_id)
    }

    /// Takes the kept calls of job `job_id` (it ended). O(kept calls).
    pub fn take_kept_of(&mut self, job_id: u64) -> Vec<KeptCall> {
        let ids: Vec<u64> = self
            .kept
            .iter()
            .filter(|(_, kept)| kept.job_id == job_id)
            .map(|(&id, _)| id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.kept.remove(&id))
            .collect()
    }

    /// Puts an in-flight call whose engine process disconnected back in its
    /// queue, to leave with the next batch its successor takes. False when
    /// it cannot go again (not kept, or sent too often): it fails then.
    pub fn requeue(&mut self, engine: &str, server_call_id: u64) -> bool {
        let resendable = self
            .in_flight
            .get(&server_call_id)
            .and_then(|route| route.resend.as_ref())
            .is_some_and(|queued| queued.resends < MAX_CALL_RESENDS);
        if !resendable {
            return false;
        }
        let Some(mut queued) = self
            .in_flight
            .remove(&server_call_id)
            .and_then(|route| route.resend)
        else {
            return false;
        };
        let now = Instant::now();
        queued.resends += 1;
        queued.enqueued = now;
        queued.deadline = policy::resend_deadline(now);
        let key = BatchKey::of_call(engine, &queued.call);
        self.batcher.push(key, queued);
        true
    }

    /// Files run `run_id` under `engine` as one that may add a call until
    /// `silent_at` (None: it cannot).
    pub fn file_run(&mut self, run_id: u64, engine: &str, silent_at: Option<Instant>) {
        self.parked.set(run_id, engine, silent_at);
    }

    /// Forgets run `run_id` in the all-parked index (it ended).
    pub fn unfile_run(&mut self, run_id: u64) {
        self.parked.remove(run_id);
    }

    /// Call `call_id` belongs to a parked item: its reply goes to `call`.
    pub fn park_call(&mut self, call_id: u64, call: ParkedCall) {
        self.parked_calls.insert(call_id, call);
    }

    /// Whether call `call_id` belongs to a parked item.
    pub fn is_parked_call(&self, call_id: u64) -> bool {
        self.parked_calls.contains_key(&call_id)
    }

    /// The job and item a parked call belongs to, for its accounting.
    pub fn parked_owner(&self, call_id: u64) -> Option<(u64, u64)> {
        self.parked_calls
            .get(&call_id)
            .map(|call| (call.job_id, call.index))
    }

    /// Takes the parked call `call_id` (it is answered).
    pub fn take_parked_call(&mut self, call_id: u64) -> Option<ParkedCall> {
        self.parked_calls.remove(&call_id)
    }

    /// Engine batch `batch_id` left with calls of `job_ids`.
    pub fn batch_sent(&mut self, batch_id: u64, job_ids: Vec<u64>) {
        self.batch_jobs.insert(batch_id, job_ids);
    }

    /// Engine batch `batch_id` is back: the jobs it had calls of.
    pub fn batch_back(&mut self, batch_id: u64) -> Vec<u64> {
        self.batch_jobs.remove(&batch_id).unwrap_or_default()
    }
}
