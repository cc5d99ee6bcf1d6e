//! The engine book: every engine slot by name (each engine with its batch
//! concurrency, its batch-size cap and its counters), and the reconnection
//! grace of each engine whose process disconnected. Its state changes only
//! here; the scheduler's engine events are in `engines`.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::timers::Deadlines;
use crate::engine::{BatchHold, CallStats, Engine};
use crate::error::Error;
use crate::pb::v1::{EngineStatus, ProviderBatchStatus};
use crate::telemetry::CallTotals;

/// An engine with its batch concurrency limit and counters.
#[derive(Debug)]
pub(super) struct EngineSlot {
    pub engine: Engine,
    /// Distinguishes successive engines registered under one name, so that a
    /// late batch of a disconnected engine does not count against its successor.
    pub generation: u64,
    /// Batches in flight at most; None: no cap, so batches in flight follow
    /// the slots (each batch holds at least one call of a running item, so
    /// there are never more than the slots calling the engine).
    max_concurrency: Option<usize>,
    /// Largest batch formed for this engine.
    pub max_batch_size: usize,
    in_flight: usize,
    batches: u64,
    calls: u64,
    failed_batches: u64,
    /// What the engine measured about its calls.
    totals: CallTotals,
    /// Cost of its requests billed twice (a hedged batch's late copies).
    billed_twice_usd: f64,
    /// Set while the engine process is gone and its name waits for it to
    /// register again: its calls wait (no batch is formed) until then, and
    /// fail after it.
    reconnect_deadline: Option<Instant>,
}

impl EngineSlot {
    fn new(
        engine: Engine,
        max_concurrency: Option<usize>,
        max_batch_size: usize,
        generation: u64,
    ) -> Self {
        EngineSlot {
            engine,
            generation,
            max_concurrency: max_concurrency.map(|n| n.max(1)),
            max_batch_size: max_batch_size.max(1),
            in_flight: 0,
            batches: 0,
            calls: 0,
            failed_batches: 0,
            totals: CallTotals::default(),
            billed_twice_usd: 0.0,
            reconnect_deadline: None,
        }
    }

    /// A new engine process registered under this slot's name during its
    /// grace: it takes the waiting calls; the counters carry on.
    fn reconnect(
        &mut self,
        engine: Engine,
        max_concurrency: Option<usize>,
        max_batch_size: usize,
        generation: u64,
    ) {
        self.engine = engine;
        self.generation = generation;
        self.max_concurrency = max_concurrency.map(|n| n.max(1));
        self.max_batch_size = max_batch_size.max(1);
        // Batches of the old connection report under the old generation.
        self.in_flight = 0;
        self.reconnect_deadline = None;
    }

    pub fn wants_messages(&self) -> bool {
        self.engine.wants_messages()
    }

    /// Whether a batch may leave for the engine now: it is connected, below
    /// its concurrency, if it has a cap, and not holding new batches back
    /// (see [`Engine::holds_new_batches`]: the batch in flight answering, or
    /// the instant the engine's rate limit admits a request, brings the next
    /// flush).
    pub fn has_free_slot(&self) -> bool {
        self.reconnect_deadline.is_none()
            && self.engine.is_connected()
            && self.max_concurrency.is_none_or(|max| self.in_flight < max)
            && match self.engine.holds_new_batches() {
                None => true,
                Some(BatchHold::WhileRequestsWait) => self.in_flight == 0,
                Some(BatchHold::Until(_)) => false,
            }
    }

    /// When the engine's rate limit admits a request again, while it holds
    /// new batches until then.
    fn held_until(&self) -> Option<Instant> {
        match self.engine.holds_new_batches() {
            Some(BatchHold::Until(at)) => Some(at),
            _ => None,
        }
    }

    fn try_reserve(&mut self) -> bool {
        let free = self.has_free_slot();
        if free {
            self.in_flight += 1;
        }
        free
    }

    /// Adds what the engine measured about one call.
    fn record(&mut self, stats: &CallStats, failed: bool) {
        self.totals.record(stats, failed);
    }

    fn status(&self, name: &str) -> EngineStatus {
        let limits = self.engine.limits();
        EngineStatus {
            name: name.to_string(),
            kind: self.engine.kind().to_string(),
            call_kind: crate::engine::call_kind_name(self.engine.call_kind()).to_string(),
            // 0: no cap (batches follow the slots).
            max_concurrency: self.max_concurrency.map_or(0, |n| n as u32),
            in_flight: self.in_flight as u32,
            batches: self.batches,
            calls: self.calls,
            failed_batches: self.failed_batches,
            retries: self.totals.retries,
            rate_limited: self.totals.rate_limited,
            prompt_tokens: self.totals.prompt_tokens,
            completion_tokens: self.totals.completion_tokens,
            failed_calls: self.totals.failed,
            latency: Some(self.totals.latency.percentiles()),
            max_batch_size: self.max_batch_size as u32,
            model: limits.model,
            rpm: limits.rpm,
            tpm: limits.tpm,
            concurrency_limit: limits.concurrency_limit,
            requests_in_flight: limits.requests_in_flight,
            requests_waiting: limits.requests_waiting,
            reconnecting: self.reconnect_deadline.is_some(),
            billed_twice_usd: self.billed_twice_usd,
        }
    }
}

/// Every engine slot by name, with the reconnection graces.
#[derive(Debug, Default)]
pub(super) struct EngineBook {
    slots: BTreeMap<String, EngineSlot>,
    /// When each disconnected engine's reconnection grace ends.
    grace_deadlines: Deadlines<String>,
}

impl EngineBook {
    pub fn get(&self, name: &str) -> Option<&EngineSlot> {
        self.slots.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.slots.contains_key(name)
    }

    /// The engine names, comma-separated (for errors naming the known ones).
    pub fn names(&self) -> String {
        self.slots.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// Adds an engine under `name` (replacing any slot of that name).
    pub fn add(
        &mut self,
        name: &str,
        engine: Engine,
        max_concurrency: Option<usize>,
        max_batch_size: usize,
        generation: u64,
    ) {
        let slot = EngineSlot::new(engine, max_concurrency, max_batch_size, generation);
        self.slots.insert(name.to_string(), slot);
    }

    /// An engine process registers under `name`: a new slot, or the slot of
    /// its predecessor within its grace (which takes the waiting calls; the
    /// counters carry on). `generation` gives the new connection its
    /// generation (not called when the name is taken).
    pub fn register(
        &mut self,
        name: String,
        engine: Engine,
        (max_concurrency, max_batch_size): (Option<usize>, usize),
        generation: impl FnOnce() -> u64,
    ) -> Result<(), Error> {
        // A name is free again once its engine's connection has ended, even
        // before its EngineGone arrives (which is then ignored).
        let waiting = self
            .slots
            .get(&name)
            .map(|slot| slot.reconnect_deadline.is_some() || !slot.engine.is_connected());
        match waiting {
            Some(false) => return Err(Error::EngineNameTaken(name)),
            Some(true) => {
                let generation = generation();
                tracing::info!(engine = %name, kind = engine.kind(), ?max_concurrency,
                    "engine registered again within its grace; its waiting calls go to it");
                if let Some(slot) = self.slots.get_mut(&name) {
                    if let Some(deadline) = slot.reconnect_deadline {
                        self.grace_deadlines.remove(deadline, name.clone());
                    }
                    slot.reconnect(engine, max_concurrency, max_batch_size, generation);
                }
            }
            None => {
                tracing::info!(engine = %name, kind = engine.kind(), ?max_concurrency,
                    "engine registered");
                let generation = generation();
                self.add(&name, engine, max_concurrency, max_batch_size, generation);
            }
        }
        Ok(())
    }

    /// Whether the engine named `name` exists and its process is gone.
    pub fn is_disconnected(&self, name: &str) -> bool {
        self.slots
            .get(name)
            .is_some_and(|slot| !slot.engine.is_connected())
    }

    /// The engine process of `name` disconnected: its grace starts, unless
    /// a successor registered already or it has begun.
    pub fn start_grace(&mut self, name: &str, grace: Duration) {
        let Some(slot) = self.slots.get_mut(name) else {
            return;
        };
        if slot.engine.is_connected() {
            return; // a successor registered already
        }
        if slot.reconnect_deadline.is_none() {
            let deadline = Instant::now() + grace;
            slot.reconnect_deadline = Some(deadline);
            self.grace_deadlines.insert(deadline, name.to_string());
            tracing::warn!(engine = %name, grace_ms = grace.as_millis() as u64,
                "engine disconnected; its calls wait for it to register again \
                 (--engine-reconnect-grace-ms)");
        }
    }

    /// The engines whose grace ran out by `now` without a new registration.
    /// O(log e) per engine whose grace ends.
    pub fn take_expired(&mut self, now: Instant) -> Vec<String> {
        let mut expired = self.grace_deadlines.take_due(now);
        expired.retain(|name| {
            self.slots
                .get(name)
                .is_some_and(|slot| slot.reconnect_deadline.is_some_and(|d| d <= now))
        });
        expired
    }

    /// Removes an engine for good; false when there was none of that name.
    pub fn remove(&mut self, name: &str) -> bool {
        self.slots.remove(name).is_some()
    }

    /// When the next reconnection grace ends, or an engine holding new
    /// batches for its rate limit may take one again.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.slots
            .values()
            .filter_map(EngineSlot::held_until)
            .chain(self.grace_deadlines.next())
            .min()
    }

    /// Whether a batch may leave for `name` now.
    pub fn has_free_slot(&self, name: &str) -> bool {
        self.slots.get(name).is_some_and(EngineSlot::has_free_slot)
    }

    /// Counts a batch leaving for `name` if it may leave now.
    pub fn try_reserve(&mut self, name: &str) -> bool {
        self.slots
            .get_mut(name)
            .is_some_and(EngineSlot::try_reserve)
    }

    /// The slot of `name` if it still has this `generation` (a batch of a
    /// disconnected predecessor does not count against its successor).
    fn current_mut(&mut self, name: &str, generation: u64) -> Option<&mut EngineSlot> {
        self.slots
            .get_mut(name)
            .filter(|slot| slot.generation == generation)
    }

    /// Frees the slot `try_reserve` took for a batch that did not leave.
    pub fn unreserve(&mut self, name: &str) {
        if let Some(slot) = self.slots.get_mut(name) {
            slot.in_flight = slot.in_flight.saturating_sub(1);
        }
    }

    /// A batch of `calls` calls came back from `name`.
    pub fn batch_done(&mut self, name: &str, generation: u64, calls: usize, failed: bool) {
        if let Some(slot) = self.current_mut(name, generation) {
            slot.in_flight = slot.in_flight.saturating_sub(1);
            slot.batches += 1;
            slot.calls += calls as u64;
            if failed {
                slot.failed_batches += 1;
            }
        }
    }

    /// Adds what `name` measured about one call.
    pub fn record_call(&mut self, name: &str, generation: u64, stats: &CallStats, failed: bool) {
        if let Some(slot) = self.current_mut(name, generation) {
            slot.record(stats, failed);
        }
    }

    /// Adds a request of `name` billed twice (a hedged batch's late copy):
    /// its tokens, and its cost when priced.
    pub fn record_billed_twice(&mut self, name: &str, stats: &CallStats, cost: Option<f64>) {
        if let Some(slot) = self.slots.get_mut(name) {
            slot.totals.prompt_tokens += stats.prompt_tokens;
            slot.totals.completion_tokens += stats.completion_tokens;
            slot.billed_twice_usd += cost.unwrap_or(0.0);
        }
    }

    /// Whether some engine answers through a provider's batch API.
    pub fn any_batch_api(&self) -> bool {
        self.slots
            .values()
            .any(|slot| slot.engine.batch_api_flush().is_some())
    }

    pub fn statuses(&self) -> Vec<EngineStatus> {
        self.slots
            .iter()
            .map(|(name, slot)| slot.status(name))
            .collect()
    }

    pub fn provider_batches(&self) -> Vec<ProviderBatchStatus> {
        self.slots
            .values()
            .flat_map(|slot| slot.engine.provider_batches())
            .collect()
    }
}
