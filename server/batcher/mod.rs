//! Engine-call batching: one queue per (engine, model) key and the flush
//! policy. Pure data, owned by the scheduler actor; no tasks, no I/O.
//!
//! A key's waiting calls leave as one batch, when its engine has a free slot,
//! as soon as any of these holds:
//! - **size**: at least `batch_size` calls wait (the smallest `batch_size`
//!   among the waiting calls' jobs, so no job sees a batch larger than its own);
//! - **delay**: the oldest waiting call has waited its job's `max_queue_delay`;
//! - **all parked**: every running item that could add a call to this
//!   engine's queue is waiting on an engine call (or has gone silent), so no
//!   new call can arrive and waiting longer only adds latency. The scheduler
//!   decides this per engine (`take_ready`'s `all_parked`).
//!
//! Batches are formed when the engine can take them, not before: calls that
//! arrive while an engine is busy join the next batch instead of queueing
//! behind a batch formed too early.

use std::collections::{HashMap, VecDeque};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::pb::v1::EngineCall;

/// Calls with the same key may share a batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchKey {
    pub engine: String,
    pub model: String,
}

/// One engine call waiting for its batch.
#[derive(Debug, Clone)]
pub struct QueuedCall {
    /// The call; its `call_id` is the server's, unique while it is pending.
    pub call: EngineCall,
    pub worker_id: u64,
    /// The id the worker gave the call; its reply carries it back.
    pub worker_call_id: u64,
    pub task_id: u64,
    pub job_id: u64,
    pub enqueued: Instant,
    /// When the delay trigger fires for this call.
    pub deadline: Instant,
    /// The `batch_size` of the call's job.
    pub batch_size: usize,
    /// Cancelled when nobody waits for the reply any more (its run ended).
    pub cancel: CancellationToken,
    /// Times it was sent again because its engine process disconnected
    /// before answering it.
    pub resends: u32,
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

/// The waiting calls of every key.
#[derive(Debug, Default)]
pub struct Batcher {
    queues: HashMap<BatchKey, VecDeque<QueuedCall>>,
}

impl Batcher {
    pub fn push(&mut self, key: BatchKey, call: QueuedCall) {
        self.queues.entry(key).or_default().push_back(call);
    }

    /// Number of calls waiting in all queues.
    pub fn waiting(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// Waiting calls per key, for `Status`.
    pub fn queue_lengths(&self) -> Vec<(BatchKey, usize)> {
        let mut out: Vec<_> = self
            .queues
            .iter()
            .map(|(key, queue)| (key.clone(), queue.len()))
            .collect();
        out.sort();
        out
    }

    /// The earliest delay deadline among calls whose engine can take a
    /// batch now (`has_capacity(engine)`). Calls waiting for a busy engine
    /// have no deadline to wake for: the batch that frees the engine does.
    pub fn next_deadline(&self, mut has_capacity: impl FnMut(&str) -> bool) -> Option<Instant> {
        self.queues
            .iter()
            .filter(|(key, _)| has_capacity(&key.engine))
            .flat_map(|(_, queue)| queue.iter().map(|call| call.deadline))
            .min()
    }

    /// Forms every batch that is due at `now`. `reserve(engine)` is asked
    /// before each batch and returns false when that engine has no free slot;
    /// a true answer reserves the slot.
    pub fn take_ready(
        &mut self,
        now: Instant,
        all_parked: impl Fn(&str) -> bool,
        mut reserve: impl FnMut(&str) -> bool,
    ) -> Vec<Flush> {
        let mut flushes = Vec::new();
        let mut keys: Vec<BatchKey> = self.queues.keys().cloned().collect();
        keys.sort();
        for key in keys {
            let Some(queue) = self.queues.get_mut(&key) else {
                continue;
            };
            let parked = all_parked(&key.engine);
            while let Some(reason) = due(queue, now, parked) {
                if !reserve(&key.engine) {
                    break;
                }
                let limit = batch_limit(queue);
                let calls: Vec<QueuedCall> = queue.drain(..limit.min(queue.len())).collect();
                flushes.push(Flush {
                    key: key.clone(),
                    calls,
                    reason,
                });
            }
            if queue.is_empty() {
                self.queues.remove(&key);
            }
        }
        flushes
    }

    /// Removes and returns every call waiting for `engine`.
    pub fn remove_engine(&mut self, engine: &str) -> Vec<QueuedCall> {
        let keys: Vec<BatchKey> = self
            .queues
            .keys()
            .filter(|key| key.engine == engine)
            .cloned()
            .collect();
        keys.into_iter()
            .filter_map(|key| self.queues.remove(&key))
            .flatten()
            .collect()
    }

    /// Removes and returns the calls for which `remove` is true.
    pub fn remove_where(&mut self, mut remove: impl FnMut(&QueuedCall) -> bool) -> Vec<QueuedCall> {
        let mut removed = Vec::new();
        for queue in self.queues.values_mut() {
            let mut kept = VecDeque::with_capacity(queue.len());
            for call in queue.drain(..) {
                if remove(&call) {
                    removed.push(call);
                } else {
                    kept.push_back(call);
                }
            }
            *queue = kept;
        }
        self.queues.retain(|_, queue| !queue.is_empty());
        removed
    }
}

/// The smallest `batch_size` among the waiting calls.
fn batch_limit(queue: &VecDeque<QueuedCall>) -> usize {
    queue
        .iter()
        .map(|call| call.batch_size)
        .min()
        .unwrap_or(1)
        .max(1)
}

fn due(queue: &VecDeque<QueuedCall>, now: Instant, all_parked: bool) -> Option<FlushReason> {
    if queue.is_empty() {
        return None;
    }
    if queue.len() >= batch_limit(queue) {
        Some(FlushReason::Size)
    } else if queue.iter().any(|call| call.deadline <= now) {
        Some(FlushReason::Delay)
    } else if all_parked {
        Some(FlushReason::AllParked)
    } else {
        None
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
            task_id: id,
            job_id: 1,
            cancel: CancellationToken::new(),
            resends: 0,
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
            batcher.next_deadline(|_| true),
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
        assert_eq!(batcher.next_deadline(|_| false), None);
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
