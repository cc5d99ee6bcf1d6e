//! The connected workers, indexed by what each turn needs: the workers that
//! may take a new item (a free slot, not draining), in id order for round
//! robin, and the workers a turn changed (their outboxes to send). Without
//! them every turn visited every worker twice, to assign items and to flush
//! outboxes: O(workers) per turn, the scheduler's largest self-time symbols
//! in a profile at 500 worker streams (BENCHMARKS.md, "What bounds the Rust
//! core"), though not what bounds throughput there.
//!
//! One rule keeps both right: every mutable access to a worker goes through
//! [`WorkerIndex::get_mut`], which records the worker as touched. Touched
//! workers are re-filed in the free set before items are assigned and
//! before outboxes are sent, so a worker that gained a slot is always in it.

use std::collections::{BTreeMap, BTreeSet};

use super::workers::Worker;

#[derive(Debug, Default)]
pub(super) struct WorkerIndex {
    all: BTreeMap<u64, Worker>,
    /// Every worker that may take a new item, and perhaps some that filled
    /// up since they were last re-filed (scans skip those).
    free: BTreeSet<u64>,
    /// Workers borrowed mutably and not yet re-filed (ids may repeat).
    touched: Vec<u64>,
    /// Re-filed workers whose outboxes the next flush sends.
    to_flush: Vec<u64>,
}

impl WorkerIndex {
    pub fn get(&self, id: &u64) -> Option<&Worker> {
        self.all.get(id)
    }

    /// The worker, recorded as touched: its slots and outbox are looked at
    /// again before the turn ends.
    pub fn get_mut(&mut self, id: &u64) -> Option<&mut Worker> {
        let worker = self.all.get_mut(id)?;
        self.touched.push(*id);
        Some(worker)
    }

    pub fn insert(&mut self, worker: Worker) {
        let id = worker.id;
        self.all.insert(id, worker);
        self.touched.push(id);
    }

    pub fn remove(&mut self, id: &u64) -> Option<Worker> {
        self.free.remove(id);
        self.all.remove(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &Worker> {
        self.all.values()
    }

    /// The workers that may take a new item, in id order starting after
    /// `last` and wrapping around. O(log w) to start, then O(1) per worker
    /// visited; call [`Self::refile`] first.
    pub fn taking_items_after(&self, last: u64) -> impl Iterator<Item = &Worker> {
        self.free
            .range(last.saturating_add(1)..)
            .chain(self.free.range(..=last))
            .filter_map(|id| self.all.get(id))
            .filter(|worker| worker.may_take_item())
    }

    /// Whether some worker that may take a new item satisfies `pred`,
    /// without re-filing first: the touched workers are looked at too.
    /// O(workers with a free slot + touched).
    pub fn any_taking_items(&self, pred: impl Fn(&Worker) -> bool) -> bool {
        self.free
            .iter()
            .chain(&self.touched)
            .filter_map(|id| self.all.get(id))
            .any(|worker| worker.may_take_item() && pred(worker))
    }

    /// Re-files the touched workers in the free set. O(t log w) for the t
    /// touched since the last call.
    pub fn refile(&mut self) {
        for id in self.touched.drain(..) {
            match self.all.get(&id) {
                Some(worker) if worker.may_take_item() => {
                    self.free.insert(id);
                }
                Some(_) => {
                    self.free.remove(&id);
                }
                None => continue,
            }
            self.to_flush.push(id);
        }
        debug_assert!(
            self.all
                .values()
                .filter(|worker| worker.may_take_item())
                .all(|worker| self.free.contains(&worker.id)),
            "a worker that may take an item is missing from the free set"
        );
    }

    /// Sends the outboxes of the workers touched since the last flush (the
    /// only ones with something in them), each once, in id order. Returns
    /// the workers whose command stream was full (`Worker::flush`).
    pub fn flush_touched(&mut self) -> Vec<u64> {
        self.refile();
        let mut ids = std::mem::take(&mut self.to_flush);
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|id| self.all.get_mut(id).is_some_and(|w| !w.flush()));
        ids
    }
}
