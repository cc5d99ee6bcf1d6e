//! Engine-call batching: one queue per (engine, model) key and the flush
//! policy, all of it. Pure data, owned by the scheduler actor; no tasks, no I/O.
//!
//! A key's waiting calls leave as one batch, when its engine has a free slot,
//! as soon as any of these holds:
//! - **size**: at least `batch_size` calls wait (the smallest `batch_size`
//!   among the waiting calls' jobs, so no job sees a batch larger than its own,
//!   and never more than the engine's largest batch: [`policy`]);
//! - **delay**: the oldest waiting call has waited its job's `max_queue_delay`
//!   (at once for engines that answer per call, and for calls sent again
//!   after their engine process disconnected: [`policy`]);
//! - **all parked**: every running item that could add a call to this
//!   engine's queue is waiting on an engine call (or has gone silent for its
//!   job's `max_queue_delay`), so no new call can arrive and waiting longer
//!   only adds latency. [`ParkedIndex`] answers this per engine.
//!
//! Batches are formed when the engine can take them, not before: calls that
//! arrive while an engine is busy join the next batch instead of queueing
//! behind a batch formed too early.
//!
//! # Costs
//!
//! With n waiting calls and k keys that have waiting calls (one per engine
//! and model in use, a handful):
//! - [`Batcher::push`], [`Batcher::remove_calls`] (per call): O(log n);
//! - a key's due / limit / earliest-deadline answers: O(log n)
//!   ([`queue::CallQueue`] keeps a deadline set and a batch-size multiset);
//! - [`Batcher::take_ready`]: O(k log n), plus O(log n) per call that leaves;
//! - the next deadline ([`Batcher::next_deadline`]): O(k);
//! - [`ParkedIndex`]: O(log r) per change of a run, O(1) per question,
//!   with r running items.

mod parked;
pub(crate) mod policy;
mod queue;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::pb::v1::EngineCall;

pub(crate) use parked::ParkedIndex;
use queue::CallQueue;

/// Calls with the same key may share a batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchKey {
    pub engine: String,
    pub model: String,
}

impl BatchKey {
    /// The key of `call` to `engine`: the engine and the call's `model`
    /// request kwarg.
    pub fn of_call(engine: &str, call: &EngineCall) -> Self {
        BatchKey {
            engine: engine.to_string(),
            model: model_of(&call.kwargs_json),
        }
    }
}

/// The `model` request kwarg of a call, which with the engine keys its batch.
pub(crate) fn model_of(kwargs_json: &str) -> String {
    if !kwargs_json.contains("\"model\"") {
        return String::new();
    }
    serde_json::from_str::<serde_json::Value>(kwargs_json)
        .ok()
        .and_then(|v| v.get("model").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// One engine call waiting for its batch.
#[derive(Debug, Clone)]
pub struct QueuedCall {
    /// The call; its `call_id` is the server's, unique while it is pending.
    pub call: EngineCall,
    pub worker_id: u64,
    /// The id the worker gave the call; its reply carries it back.
    pub worker_call_id: u64,
    pub run_id: u64,
    pub job_id: u64,
    pub enqueued: Instant,
    /// When the delay trigger fires for this call ([`policy::call_deadline`]).
    pub deadline: Instant,
    /// The `batch_size` it is batched under ([`policy::call_batch_size`]).
    pub batch_size: usize,
    /// Cancelled when nobody waits for the reply any more (its run ended).
    pub cancel: CancellationToken,
    /// Times it was sent again because its engine process disconnected
    /// before answering it.
    pub resends: u32,
    /// Its place among its run's engine calls: 1 for the first call of the
    /// item's forward(), 2 for the second, ...
    pub step: u32,
}

/// Which trigger formed a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushReason {
    Size,
    Delay,
    AllParked,
}

/// A batch ready to be sent to its engine.
#[derive(Debug)]
pub struct Flush {
    pub key: BatchKey,
    pub calls: Vec<QueuedCall>,
    pub reason: FlushReason,
}

/// The waiting calls of every key, indexed by call id.
#[derive(Debug, Default)]
pub struct Batcher {
    /// Queues with waiting calls, in key order (batches form in that order).
    queues: BTreeMap<Arc<BatchKey>, CallQueue>,
    /// Each waiting call's key and sequence number, by server call id.
    located: FxHashMap<u64, (Arc<BatchKey>, u64)>,
    /// The next arrival sequence number.
    next_seq: u64,
}

impl Batcher {
    /// Queues `call` behind the calls waiting under `key`. O(log n).
    pub fn push(&mut self, key: BatchKey, call: QueuedCall) {
        let key = match self.queues.get_key_value(&key) {
            Some((shared, _)) => Arc::clone(shared),
            None => Arc::new(key),
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.located
            .insert(call.call.call_id, (Arc::clone(&key), seq));
        self.queues.entry(key).or_default().push(seq, call);
    }

    /// Number of calls waiting in all queues. O(1).
    pub fn waiting(&self) -> usize {
        self.located.len()
    }

    /// Waiting calls per key, in key order, for `Status`. O(k).
    pub fn queue_lengths(&self) -> Vec<(BatchKey, usize)> {
        self.queues
            .iter()
            .map(|(key, queue)| (BatchKey::clone(key), queue.len()))
            .collect()
    }

    /// The earliest instant a queue whose engine can take a batch now
    /// (`has_capacity(engine)`) may be due: its earliest delay deadline, or
    /// `all_silent_at(engine)`, when the engine's last running item goes
    /// silent (its queues flush then as all parked). Calls waiting for a
    /// busy engine have no deadline to wake for: the batch that frees the
    /// engine does.
    pub fn next_deadline(
        &self,
        mut has_capacity: impl FnMut(&str) -> bool,
        mut all_silent_at: impl FnMut(&str) -> Option<Instant>,
    ) -> Option<Instant> {
        self.queues
            .iter()
            .filter(|(key, queue)| !queue.is_empty() && has_capacity(&key.engine))
            .filter_map(|(key, queue)| {
                let silent = all_silent_at(&key.engine);
                [queue.earliest_deadline(), silent]
                    .into_iter()
                    .flatten()
                    .min()
            })
            .min()
    }

    /// Forms every batch that is due at `now`. `all_parked(engine)` tells
    /// whether every run that could add a call to that engine waits on one;
    /// `reserve(engine)` is asked before each batch and returns false when
    /// that engine has no free slot; a true answer reserves the slot.
    pub fn take_ready(
        &mut self,
        now: Instant,
        mut all_parked: impl FnMut(&str) -> bool,
        mut reserve: impl FnMut(&str) -> bool,
    ) -> Vec<Flush> {
        let mut flushes = Vec::new();
        for (key, queue) in self.queues.iter_mut() {
            if queue.is_empty() {
                continue;
            }
            let parked = all_parked(&key.engine);
            while let Some(reason) = queue.due(now, parked) {
                if !reserve(&key.engine) {
                    break;
                }
                let calls: Vec<QueuedCall> = queue
                    .take_batch()
                    .into_iter()
                    .map(|(_, call)| {
                        self.located.remove(&call.call.call_id);
                        call
                    })
                    .collect();
                flushes.push(Flush {
                    key: BatchKey::clone(key),
                    calls,
                    reason,
                });
            }
        }
        if !flushes.is_empty() {
            self.queues.retain(|_, queue| !queue.is_empty());
        }
        flushes
    }

    /// Removes and returns every call waiting for `engine`. O(k + removed).
    pub fn remove_engine(&mut self, engine: &str) -> Vec<QueuedCall> {
        let keys: Vec<Arc<BatchKey>> = self
            .queues
            .keys()
            .filter(|key| key.engine == engine)
            .cloned()
            .collect();
        let mut removed = Vec::new();
        for key in keys {
            if let Some(mut queue) = self.queues.remove(&key) {
                removed.extend(queue.take_all());
            }
        }
        for call in &removed {
            self.located.remove(&call.call.call_id);
        }
        removed
    }

    /// Removes and returns the waiting calls among `call_ids` (ids of calls
    /// not waiting, e.g. at an engine, are skipped). O(log n) per id.
    pub fn remove_calls(&mut self, call_ids: impl IntoIterator<Item = u64>) -> Vec<QueuedCall> {
        let mut removed = Vec::new();
        for call_id in call_ids {
            let Some((key, seq)) = self.located.remove(&call_id) else {
                continue;
            };
            let Some(queue) = self.queues.get_mut(&key) else {
                continue;
            };
            removed.extend(queue.remove(seq));
            if queue.is_empty() {
                self.queues.remove(&key);
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key() -> BatchKey {
        BatchKey {
            engine: "echo".into(),
            model: String::new(),
        }
    }

    fn call(id: u64, now: Instant, delay_ms: u64, batch_size: usize) -> QueuedCall {
        QueuedCall {
            call: EngineCall {
                call_id: id,
                ..Default::default()
            },
            worker_id: 1,
            worker_call_id: id,
            run_id: id,
            job_id: 1,
            cancel: CancellationToken::new(),
            resends: 0,
            step: 1,
            enqueued: now,
            deadline: now + Duration::from_millis(delay_ms),
            batch_size,
        }
    }

    #[test]
    fn size_trigger_forms_full_batches_only() {
        let now = Instant::now();
        let mut batcher = Batcher::default();
        for id in 0..5 {
            batcher.push(key(), call(id, now, 1000, 2));
        }
        let flushes = batcher.take_ready(now, |_| false, |_| true);
        assert_eq!(flushes.len(), 2);
        assert!(flushes
            .iter()
            .all(|f| f.calls.len() == 2 && f.reason == FlushReason::Size));
        assert_eq!(batcher.waiting(), 1);
    }

    #[test]
    fn delay_trigger_fires_at_the_oldest_deadline() {
        let now = Instant::now();
        let mut batcher = Batcher::default();
        batcher.push(key(), call(1, now, 10, 8));
        assert!(batcher.take_ready(now, |_| false, |_| true).is_empty());
        assert_eq!(
            batcher.next_deadline(|_| true, |_| None),
            Some(now + Duration::from_millis(10))
        );
        let flushes = batcher.take_ready(now + Duration::from_millis(10), |_| false, |_| true);
        assert_eq!(flushes[0].reason, FlushReason::Delay);
    }

    #[test]
    fn calls_for_a_busy_engine_have_no_deadline() {
        let now = Instant::now();
        let mut batcher = Batcher::default();
        batcher.push(key(), call(1, now, 10, 8));
        assert_eq!(batcher.next_deadline(|_| false, |_| None), None);
    }

    #[test]
    fn all_parked_flushes_a_partial_batch() {
        let now = Instant::now();
        let mut batcher = Batcher::default();
        batcher.push(key(), call(1, now, 1000, 8));
        let flushes = batcher.take_ready(now, |_| true, |_| true);
        assert_eq!(flushes[0].reason, FlushReason::AllParked);
    }

    #[test]
    fn busy_engine_keeps_calls_waiting_and_batch_grows() {
        let now = Instant::now();
        let mut batcher = Batcher::default();
        batcher.push(key(), call(1, now, 0, 4));
        assert!(batcher.take_ready(now, |_| true, |_| false).is_empty());
        for id in 2..=4 {
            batcher.push(key(), call(id, now, 0, 4));
        }
        let flushes = batcher.take_ready(now, |_| true, |_| true);
        assert_eq!(flushes.len(), 1);
        assert_eq!(flushes[0].calls.len(), 4);
    }

    #[test]
    fn smallest_job_batch_size_bounds_a_mixed_batch() {
        let now = Instant::now();
        let mut batcher = Batcher::default();
        batcher.push(key(), call(1, now, 1000, 8));
        batcher.push(key(), call(2, now, 1000, 2));
        let flushes = batcher.take_ready(now, |_| false, |_| true);
        assert_eq!(flushes.len(), 1);
        assert_eq!(flushes[0].calls.len(), 2);
    }
}

/// The indexed batcher against a brute-force model: the flush policy as
/// scans over plain per-key lists, under random operations.
#[cfg(test)]
mod model_tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    const KEYS: [(&str, &str); 3] = [("a", ""), ("a", "m"), ("b", "")];

    #[derive(Debug, Clone)]
    enum Op {
        Push {
            key: usize,
            delay_ms: u64,
            batch_size: usize,
        },
        /// Removes the waiting call at this position (modulo) of all calls.
        Remove { pick: usize },
        /// Forms batches at this time; `parked` per engine; `slots` free
        /// slots per engine.
        Take {
            at_ms: u64,
            parked: (bool, bool),
            slots: (usize, usize),
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..3usize, 0..40u64, 1..5usize).prop_map(|(key, delay_ms, batch_size)| Op::Push {
                key,
                delay_ms,
                batch_size
            }),
            1 => (0..64usize).prop_map(|pick| Op::Remove { pick }),
            2 => (0..60u64, any::<(bool, bool)>(), (0..3usize, 0..3usize)).prop_map(
                |(at_ms, parked, slots)| Op::Take { at_ms, parked, slots }
            ),
        ]
    }

    /// (call id, deadline, batch size) per key, in arrival order.
    type Model = BTreeMap<BatchKey, Vec<(u64, Instant, usize)>>;

    fn model_limit(queue: &[(u64, Instant, usize)]) -> usize {
        queue.iter().map(|c| c.2).min().unwrap_or(1).max(1)
    }

    fn model_due(
        queue: &[(u64, Instant, usize)],
        now: Instant,
        parked: bool,
    ) -> Option<FlushReason> {
        if queue.is_empty() {
            None
        } else if queue.len() >= model_limit(queue) {
            Some(FlushReason::Size)
        } else if queue.iter().any(|c| c.1 <= now) {
            Some(FlushReason::Delay)
        } else if parked {
            Some(FlushReason::AllParked)
        } else {
            None
        }
    }

    fn key_of(i: usize) -> BatchKey {
        BatchKey {
            engine: KEYS[i].0.into(),
            model: KEYS[i].1.into(),
        }
    }

    proptest! {
        #[test]
        fn batches_match_a_scan_of_every_queue(ops in proptest::collection::vec(op(), 1..120)) {
            let start = Instant::now();
            let mut batcher = Batcher::default();
            let mut model = Model::new();
            let mut next_id = 1;
            for op in ops {
                match op {
                    Op::Push { key, delay_ms, batch_size } => {
                        let deadline = start + Duration::from_millis(delay_ms);
                        let call = QueuedCall {
                            call: EngineCall { call_id: next_id, ..Default::default() },
                            worker_id: 1,
                            worker_call_id: next_id,
                            run_id: next_id,
                            job_id: 1,
                            enqueued: start,
                            deadline,
                            batch_size,
                            cancel: CancellationToken::new(),
                            resends: 0,
                            step: 1,
                        };
                        batcher.push(key_of(key), call);
                        model.entry(key_of(key)).or_default().push((next_id, deadline, batch_size));
                        next_id += 1;
                    }
                    Op::Remove { pick } => {
                        let all: Vec<u64> = model.values().flatten().map(|c| c.0).collect();
                        if all.is_empty() {
                            continue;
                        }
                        let id = all[pick % all.len()];
                        let removed = batcher.remove_calls([id, id + 1_000_000]);
                        prop_assert_eq!(removed.len(), 1);
                        prop_assert_eq!(removed[0].call.call_id, id);
                        for queue in model.values_mut() {
                            queue.retain(|c| c.0 != id);
                        }
                        model.retain(|_, q| !q.is_empty());
                    }
                    Op::Take { at_ms, parked, slots } => {
                        let now = start + Duration::from_millis(at_ms);
                        let parked_of = |engine: &str| if engine == "a" { parked.0 } else { parked.1 };
                        // Next deadline, for engines with a free slot.
                        let expected_deadline = model
                            .iter()
                            .filter(|(k, _)| (if k.engine == "a" { slots.0 } else { slots.1 }) > 0)
                            .flat_map(|(_, q)| q.iter().map(|c| c.1))
                            .min();
                        let has_slot = |engine: &str| (if engine == "a" { slots.0 } else { slots.1 }) > 0;
                        prop_assert_eq!(batcher.next_deadline(has_slot, |_| None), expected_deadline);
                        let mut expected = Vec::new();
                        let mut free = slots;
                        for (key, queue) in model.iter_mut() {
                            let parked = parked_of(&key.engine);
                            while let Some(reason) = model_due(queue, now, parked) {
                                let slot = if key.engine == "a" { &mut free.0 } else { &mut free.1 };
                                if *slot == 0 {
                                    break;
                                }
                                *slot -= 1;
                                let limit = model_limit(queue).min(queue.len());
                                let ids: Vec<u64> = queue.drain(..limit).map(|c| c.0).collect();
                                expected.push((key.clone(), ids, reason));
                            }
                        }
                        model.retain(|_, q| !q.is_empty());
                        let mut free = slots;
                        let flushes = batcher.take_ready(now, parked_of, |engine| {
                            let slot = if engine == "a" { &mut free.0 } else { &mut free.1 };
                            let ok = *slot > 0;
                            if ok {
                                *slot -= 1;
                            }
                            ok
                        });
                        let got: Vec<(BatchKey, Vec<u64>, FlushReason)> = flushes
                            .into_iter()
                            .map(|f| (f.key, f.calls.iter().map(|c| c.call.call_id).collect(), f.reason))
                            .collect();
                        prop_assert_eq!(got, expected);
                    }
                }
                prop_assert_eq!(batcher.waiting(), model.values().map(Vec::len).sum::<usize>());
                let lengths: Vec<(BatchKey, usize)> =
                    model.iter().map(|(k, q)| (k.clone(), q.len())).collect();
                prop_assert_eq!(batcher.queue_lengths(), lengths);
                for (key, queue) in &model {
                    let indexed = &batcher.queues[key];
                    prop_assert_eq!(indexed.limit(), model_limit(queue));
                    prop_assert_eq!(indexed.earliest_deadline(), queue.iter().map(|c| c.1).min());
                    let order: Vec<u64> = indexed.iter().map(|c| c.call.call_id).collect();
                    prop_assert_eq!(order, queue.iter().map(|c| c.0).collect::<Vec<_>>());
                }
            }
        }
    }
}
