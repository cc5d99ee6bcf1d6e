//! One key's waiting calls, in arrival order, with the indexes the flush
//! policy asks about on every scheduler turn: the smallest `batch_size`
//! among them and their earliest delay deadline. Each answer costs
//! O(log n); a push or a removal O(log n); taking a batch of b calls
//! O(b log n).

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;

use super::{FlushReason, QueuedCall};

/// The waiting calls of one (engine, model) key.
#[derive(Debug, Default)]
pub(crate) struct CallQueue {
    /// Calls by arrival sequence number: the front leaves first.
    calls: BTreeMap<u64, QueuedCall>,
    /// (delay deadline, sequence number) of every waiting call.
    deadlines: BTreeSet<(Instant, u64)>,
    /// Multiset of the waiting calls' `batch_size`s: size → calls.
    batch_sizes: BTreeMap<usize, usize>,
}

impl CallQueue {
    /// Adds `call` under `seq`, which must be larger than any seq pushed
    /// before (arrival order).
    pub(crate) fn push(&mut self, seq: u64, call: QueuedCall) {
        self.deadlines.insert((call.deadline, seq));
        *self.batch_sizes.entry(call.batch_size).or_default() += 1;
        self.calls.insert(seq, call);
    }

    /// Removes the call pushed under `seq`.
    pub(crate) fn remove(&mut self, seq: u64) -> Option<QueuedCall> {
        let call = self.calls.remove(&seq)?;
        self.unindex(seq, &call);
        Some(call)
    }

    fn unindex(&mut self, seq: u64, call: &QueuedCall) {
        self.deadlines.remove(&(call.deadline, seq));
        if let Some(count) = self.batch_sizes.get_mut(&call.batch_size) {
            *count -= 1;
            if *count == 0 {
                self.batch_sizes.remove(&call.batch_size);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The largest batch that may leave: the smallest `batch_size` among
    /// the waiting calls (at least 1).
    pub(crate) fn limit(&self) -> usize {
        self.batch_sizes.keys().next().copied().unwrap_or(1).max(1)
    }

    /// The earliest delay deadline among the waiting calls.
    pub(crate) fn earliest_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    /// Which trigger, if any, makes a batch due at `now`.
    pub(crate) fn due(&self, now: Instant, all_parked: bool) -> Option<FlushReason> {
        if self.is_empty() {
            None
        } else if self.len() >= self.limit() {
            Some(FlushReason::Size)
        } else if self.earliest_deadline().is_some_and(|d| d <= now) {
            Some(FlushReason::Delay)
        } else if all_parked {
            Some(FlushReason::AllParked)
        } else {
            None
        }
    }

    /// Takes the next batch off the front: `limit()` calls, or all of them
    /// when fewer wait. Returns them with their sequence numbers.
    pub(crate) fn take_batch(&mut self) -> Vec<(u64, QueuedCall)> {
        let size = self.limit().min(self.len());
        let mut batch = Vec::with_capacity(size);
        for _ in 0..size {
            let Some((seq, call)) = self.calls.pop_first() else {
                break;
            };
            self.unindex(seq, &call);
            batch.push((seq, call));
        }
        batch
    }

    /// Takes every waiting call, in arrival order.
    pub(crate) fn take_all(&mut self) -> Vec<QueuedCall> {
        self.deadlines.clear();
        self.batch_sizes.clear();
        std::mem::take(&mut self.calls).into_values().collect()
    }

    /// The calls in arrival order (for tests and brute-force checks).
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &QueuedCall> {
        self.calls.values()
    }
}
