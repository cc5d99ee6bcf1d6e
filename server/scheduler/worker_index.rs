//! The connected workers, indexed by what each turn needs: the workers that
//! may take a new item (a free slot, not draining), ordered by how full they
//! are relative to their slots (so each worker's
//! share of the items follows its slots), and the workers a turn changed
//! (their outboxes to send). Without
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

use rustc_hash::FxHashMap;

use super::worker::Worker;

#[derive(Debug, Default)]
pub(super) struct WorkerIndex {
    all: BTreeMap<u64, Worker>,
    /// Every worker that may take a new item, by (`Worker::fill_key`, id)
    /// as of when it was last re-filed, and perhaps some that filled up
    /// since (scans skip those).
    free: BTreeSet<(u64, u64)>,
    /// The key each worker in `free` is filed under.
    filed: FxHashMap<u64, u64>,
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
        if let Some(key) = self.filed.remove(id) {
            self.free.remove(&(key, *id));
        }
        self.all.remove(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &Worker> {
        self.all.values()
    }

    /// The workers that may take a new item, the least full relative to
    /// its slots first (ties in id order). O(log w) to start, then O(1) per
    /// worker visited; call [`Self::refile`] first.
    pub fn taking_items(&self) -> impl Iterator<Item = &Worker> {
        self.free
            .iter()
            .filter_map(|(_, id)| self.all.get(id))
            .filter(|worker| worker.may_take_item())
    }

    /// Whether some worker that may take a new item satisfies `pred`,
    /// without re-filing first: the touched workers are looked at too.
    /// O(workers with a free slot + touched).
    pub fn any_taking_items(&self, pred: impl Fn(&Worker) -> bool) -> bool {
        self.free
            .iter()
            .map(|(_, id)| id)
            .chain(&self.touched)
            .filter_map(|id| self.all.get(id))
            .any(|worker| worker.may_take_item() && pred(worker))
    }

    /// Re-files the touched workers in the free set. O(t log w) for the t
    /// touched since the last call.
    pub fn refile(&mut self) {
        for id in self.touched.drain(..) {
            let Some(worker) = self.all.get(&id) else {
                continue;
            };
            if let Some(key) = self.filed.remove(&id) {
                self.free.remove(&(key, id));
            }
            if worker.may_take_item() {
                let key = worker.fill_key();
                self.free.insert((key, id));
                self.filed.insert(id, key);
            }
            self.to_flush.push(id);
        }
    }

    /// Checks (in debug builds) that every worker that may take an item is
    /// filed under its current key.
    fn debug_check(&self) {
        debug_assert!(
            self.all
                .values()
                .filter(|worker| worker.may_take_item())
                .all(|worker| self.free.contains(&(worker.fill_key(), worker.id))),
            "a worker that may take an item is missing from the free set, or filed stale"
        );
    }

    /// Sends the outboxes of the workers touched since the last flush (the
    /// only ones with something in them), each once, in id order. Returns
    /// the workers whose command stream was full (`Worker::flush`).
    pub fn flush_touched(&mut self) -> Vec<u64> {
        self.refile();
        self.debug_check();
        let mut ids = std::mem::take(&mut self.to_flush);
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|id| self.all.get_mut(id).is_some_and(|w| !w.flush()));
        ids
    }
}
