//! In-flight coalescing: while a call is queued or at its engine (the
//! leader), identical calls (same key) wait for its reply instead of being
//! sent; when it lands, its reply fans out to all of them.

use std::collections::HashMap;

use super::key::CallKey;

/// One key in flight: the call that was sent and the calls waiting on it.
#[derive(Debug)]
struct Flight<F> {
    leader: u64,
    followers: Vec<F>,
}

/// Calls in flight by key. `F` is whatever the owner needs to answer a
/// follower later (the scheduler keeps the queued call).
#[derive(Debug)]
pub(crate) struct Coalescer<F> {
    flights: HashMap<CallKey, Flight<F>>,
    /// Key of each leader, by its call id.
    leaders: HashMap<u64, CallKey>,
}

impl<F> Default for Coalescer<F> {
    fn default() -> Self {
        Coalescer {
            flights: HashMap::new(),
            leaders: HashMap::new(),
        }
    }
}

impl<F> Coalescer<F> {
    /// Records `call_id` as the call sent for `key`. A key has one leader.
    pub fn lead(&mut self, key: CallKey, call_id: u64) {
        debug_assert!(!self.flights.contains_key(&key), "a key has one leader");
        self.flights.insert(
            key,
            Flight {
                leader: call_id,
                followers: Vec::new(),
            },
        );
        self.leaders.insert(call_id, key);
    }

    /// Adds a follower to the call in flight for `key`; gives it back when
    /// none is in flight.
    pub fn follow(&mut self, key: &CallKey, follower: F) -> Result<(), F> {
        match self.flights.get_mut(key) {
            Some(flight) => {
                flight.followers.push(follower);
                Ok(())
            }
            None => Err(follower),
        }
    }

    /// Whether a call with `key` is in flight.
    pub fn contains(&self, key: &CallKey) -> bool {
        self.flights.contains_key(key)
    }

    /// Whether `call_id` leads a flight (its reply has followers to answer).
    pub fn is_leader(&self, call_id: u64) -> bool {
        self.leaders.contains_key(&call_id)
    }

    /// The leader `call_id` is answered (or gone): ends its flight and
    /// returns its key and followers.
    pub fn land(&mut self, call_id: u64) -> Option<(CallKey, Vec<F>)> {
        let key = self.leaders.remove(&call_id)?;
        let Some(flight) = self.flights.remove(&key) else {
            // Every leader has its flight; should that ever break, the
            // leader is forgotten (it has no followers to answer) and the
            // scheduler goes on, instead of every client's scheduling
            // ending with a panic in the actor.
            tracing::error!(
                call_id,
                "coalescing: a leading call had no flight; it is dropped without followers"
            );
            return None;
        };
        debug_assert_eq!(flight.leader, call_id);
        Some((key, flight.followers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followers_wait_on_the_leader_and_land_with_it() {
        let mut c: Coalescer<&str> = Coalescer::default();
        let key = [1u8; 32];
        assert_eq!(c.follow(&key, "early"), Err("early"), "no flight yet");
        c.lead(key, 10);
        assert!(c.is_leader(10));
        assert_eq!(c.follow(&key, "a"), Ok(()));
        assert_eq!(c.follow(&key, "b"), Ok(()));
        assert!(c.contains(&key));
        assert_eq!(c.land(10), Some((key, vec!["a", "b"])));
        assert!(!c.is_leader(10));
        assert!(!c.contains(&key));
        assert_eq!(c.land(10), None, "a flight lands once");
        assert_eq!(
            c.follow(&key, "late"),
            Err("late"),
            "landed flights take none"
        );
    }

    #[test]
    fn a_leader_without_its_flight_lands_empty_instead_of_panicking() {
        let mut c: Coalescer<&str> = Coalescer::default();
        let key = [2u8; 32];
        c.lead(key, 20);
        // Break the invariant by hand: the flight is gone, the leader not.
        c.flights.remove(&key);
        assert_eq!(c.land(20), None, "no followers to answer");
        assert!(!c.is_leader(20), "the leader is forgotten");
        c.lead(key, 21);
        assert_eq!(c.follow(&key, "a"), Ok(()));
        assert_eq!(c.land(21), Some((key, vec!["a"])), "the key works again");
    }
}
