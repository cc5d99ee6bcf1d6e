//! The scheduler's timers: for each kind of deadline, an ordered set of
//! (instant, key), so the next deadline is the first entry and a timer is
//! set, cancelled or fired in O(log n). (A set rather than a heap: the
//! scheduler knows every timer's instant when it cancels it, so entries are
//! removed at once instead of lazily.)

use std::collections::BTreeSet;

use tokio::time::Instant;

/// Deadlines of one kind, each under a key (a job, a run, an engine).
#[derive(Debug)]
pub(super) struct Deadlines<K: Ord> {
    set: BTreeSet<(Instant, K)>,
}

impl<K: Ord> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            set: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Clone> Deadlines<K> {
    pub(super) fn insert(&mut self, at: Instant, key: K) {
        self.set.insert((at, key));
    }

    pub(super) fn remove(&mut self, at: Instant, key: K) {
        self.set.remove(&(at, key));
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.set.first().map(|(at, _)| *at)
    }

    /// Removes and returns the keys whose deadline is at or before `now`,
    /// earliest first.
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<K> {
        let mut due = Vec::new();
        while self.set.first().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, key)) = self.set.pop_first() {
                due.push(key);
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_keys_leave_in_deadline_order_and_cancelled_ones_never() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let mut deadlines = Deadlines::default();
        deadlines.insert(now + ms(30), 3u64);
        deadlines.insert(now + ms(10), 1);
        deadlines.insert(now + ms(20), 2);
        deadlines.remove(now + ms(20), 2);
        assert_eq!(deadlines.next(), Some(now + ms(10)));
        assert_eq!(deadlines.take_due(now + ms(25)), vec![1]);
        assert_eq!(deadlines.next(), Some(now + ms(30)));
        assert_eq!(deadlines.take_due(now + ms(30)), vec![3]);
        assert_eq!(deadlines.next(), None);
    }
}
