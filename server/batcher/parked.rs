//! The "all parked" trigger's index: per engine, the running items that may
//! still add a call to its queues, each with the instant it goes silent.
//!
//! A run may still add a call while it waits on none, can run (its slot
//! started it, or its worker has a slot free to start it), and has been
//! heard from within its job's `max_queue_delay` (a run silent for longer is
//! doing CPU work or hangs, and does not hold a batch back). The scheduler
//! tells the index whenever one of these changes for a run ([`ParkedIndex::set`]);
//! silence needs no event: a run's entry carries the instant it goes
//! silent, and the question compares it with `now`.
//!
//! Costs, with r indexed runs: `set` and `remove` O(log r); `all_parked`
//! O(log r) (the latest silence instant of the engine's runs).

use std::collections::{BTreeSet, HashMap};

use rustc_hash::FxHashMap;

use tokio::time::Instant;

/// An engine's position in [`ParkedIndex::active`] (not an engine slot of
/// the scheduler: a number this index gives each engine name it sees).
type EnginePos = usize;

/// Per engine, the runs that may still add a call, by when they go silent.
#[derive(Debug, Default)]
pub(crate) struct ParkedIndex {
    /// Engine name → its position in `active`.
    engines: HashMap<String, EnginePos>,
    /// Per engine position: (silent at, run id) of its runs that may add a call.
    active: Vec<BTreeSet<(Instant, u64)>>,
    /// Each indexed run's engine position and silence instant.
    entries: FxHashMap<u64, (EnginePos, Instant)>,
}

impl ParkedIndex {
    fn position(&mut self, engine: &str) -> EnginePos {
        if let Some(&pos) = self.engines.get(engine) {
            return pos;
        }
        let pos = self.active.len();
        self.active.push(BTreeSet::new());
        self.engines.insert(engine.to_string(), pos);
        pos
    }

    /// Records run `run_id` of a job on `engine`: `Some(silent_at)` when it
    /// may still add a call until `silent_at`, None when it cannot (it waits
    /// on a call, or its worker has no slot to start it).
    pub(crate) fn set(&mut self, run_id: u64, engine: &str, silent_at: Option<Instant>) {
        self.remove(run_id);
        if let Some(silent_at) = silent_at {
            let pos = self.position(engine);
            self.active[pos].insert((silent_at, run_id));
            self.entries.insert(run_id, (pos, silent_at));
        }
    }

    /// Forgets a run (it ended).
    pub(crate) fn remove(&mut self, run_id: u64) {
        if let Some((pos, silent_at)) = self.entries.remove(&run_id) {
            self.active[pos].remove(&(silent_at, run_id));
        }
    }

    /// When every run that may add a call to `engine`'s queues has gone
    /// silent, unless one changes before (None: none may add a call).
    /// O(log r).
    pub(crate) fn all_silent_at(&self, engine: &str) -> Option<Instant> {
        let &pos = self.engines.get(engine)?;
        self.active[pos].last().map(|&(silent_at, _)| silent_at)
    }

    /// Whether no run may add a call to `engine`'s queues any more at `now`.
    pub(crate) fn all_parked(&self, engine: &str, now: Instant) -> bool {
        let Some(&pos) = self.engines.get(engine) else {
            return true;
        };
        self.active[pos]
            .last()
            .is_none_or(|&(silent_at, _)| silent_at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn a_run_holds_its_engine_until_it_goes_silent() {
        let now = Instant::now();
        let mut index = ParkedIndex::default();
        assert!(index.all_parked("a", now));
        index.set(1, "a", Some(now + Duration::from_millis(5)));
        assert!(!index.all_parked("a", now));
        assert!(
            index.all_parked("b", now),
            "runs of other engines do not count"
        );
        assert!(index.all_parked("a", now + Duration::from_millis(5)));
        index.set(2, "a", Some(now + Duration::from_millis(3)));
        assert_eq!(
            index.all_silent_at("a"),
            Some(now + Duration::from_millis(5)),
            "the latest silence"
        );
        assert_eq!(index.all_silent_at("b"), None);
        index.remove(2);
        index.set(1, "a", None);
        assert_eq!(index.all_silent_at("a"), None);
        assert!(index.all_parked("a", now));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set {
            run: u64,
            engine: usize,
            silent_in_ms: Option<u64>,
        },
        Remove {
            run: u64,
        },
        Ask {
            engine: usize,
            at_ms: u64,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..12u64, 0..3usize, proptest::option::of(0..50u64)).prop_map(
                |(run, engine, silent_in_ms)| Op::Set {
                    run,
                    engine,
                    silent_in_ms
                }
            ),
            (0..12u64).prop_map(|run| Op::Remove { run }),
            (0..3usize, 0..60u64).prop_map(|(engine, at_ms)| Op::Ask { engine, at_ms }),
        ]
    }

    proptest! {
        /// The index answers as a scan over every run would.
        #[test]
        fn all_parked_matches_a_scan_of_every_run(ops in proptest::collection::vec(op(), 1..80)) {
            const ENGINES: [&str; 3] = ["a", "b", "c"];
            let start = Instant::now();
            let mut index = ParkedIndex::default();
            let mut runs: HashMap<u64, (usize, Instant)> = HashMap::new();
            for op in ops {
                match op {
                    Op::Set { run, engine, silent_in_ms } => {
                        let silent_at = silent_in_ms.map(|ms| start + Duration::from_millis(ms));
                        index.set(run, ENGINES[engine], silent_at);
                        match silent_at {
                            Some(at) => { runs.insert(run, (engine, at)); }
                            None => { runs.remove(&run); }
                        }
                    }
                    Op::Remove { run } => {
                        index.remove(run);
                        runs.remove(&run);
                    }
                    Op::Ask { engine, at_ms } => {
                        let now = start + Duration::from_millis(at_ms);
                        let scan = !runs.values().any(|&(e, at)| e == engine && at > now);
                        prop_assert_eq!(index.all_parked(ENGINES[engine], now), scan);
                    }
                }
            }
        }
    }
}
