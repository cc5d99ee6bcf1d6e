//! Engine slots: each engine with its batch concurrency, its batch-size cap
//! and its counters; registration and disconnection of engine processes,
//! and the grace a disconnected one gets to register again.

use tokio::time::Instant;

use super::actor::Scheduler;
use crate::engine::{CallStats, Engine, EngineError};
use crate::error::Error;
use crate::pb::v1::EngineStatus;
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
    pub in_flight: usize,
    pub batches: u64,
    pub calls: u64,
    pub failed_batches: u64,
    /// What the engine measured about its calls.
    pub totals: CallTotals,
    /// Set while the engine process is gone and its name waits for it to
    /// register again: its calls wait (no batch is formed) until then, and
    /// fail after it.
    pub reconnect_deadline: Option<Instant>,
}

impl EngineSlot {
    pub fn new(
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

    /// Whether a batch may leave for the engine now: it is connected and
    /// below its concurrency, if it has a cap.
    pub fn has_free_slot(&self) -> bool {
        self.reconnect_deadline.is_none()
            && self.engine.is_connected()
            && self.max_concurrency.is_none_or(|max| self.in_flight < max)
    }

    pub fn try_reserve(&mut self) -> bool {
        let free = self.has_free_slot();
        if free {
            self.in_flight += 1;
        }
        free
    }

    /// Adds what the engine measured about one call.
    pub fn record(&mut self, stats: &CallStats, failed: bool) {
        self.totals.record(stats, failed);
    }

    pub fn status(&self, name: &str) -> EngineStatus {
        let limits = self.engine.limits();
        EngineStatus {
            name: name.to_string(),
            kind: self.engine.kind().to_string(),
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
        }
    }
}

impl Scheduler {
    pub(super) fn register_engine(
        &mut self,
        name: String,
        engine: Engine,
        max_concurrency: Option<usize>,
        max_batch_size: usize,
    ) -> Result<(), Error> {
        // A name is free again once its engine's connection has ended, even
        // before its EngineGone arrives (which is then ignored).
        let waiting = self
            .engines
            .get(&name)
            .map(|slot| slot.reconnect_deadline.is_some() || !slot.engine.is_connected());
        match waiting {
            Some(false) => return Err(Error::EngineNameTaken(name)),
            Some(true) => {
                let generation = self.fresh_id();
                tracing::info!(engine = %name, kind = engine.kind(), ?max_concurrency,
                    "engine registered again within its grace; its waiting calls go to it");
                if let Some(slot) = self.engines.get_mut(&name) {
                    if let Some(deadline) = slot.reconnect_deadline {
                        self.grace_deadlines.remove(deadline, name.clone());
                    }
                    slot.reconnect(engine, max_concurrency, max_batch_size, generation);
                }
            }
            None => {
                tracing::info!(engine = %name, kind = engine.kind(), ?max_concurrency,
                    "engine registered");
                self.add_engine(&name, engine, max_concurrency, max_batch_size);
            }
        }
        Ok(())
    }

    /// An engine process disconnected. Its calls wait for an engine to
    /// register under its name within `--engine-reconnect-grace-ms`: waiting
    /// calls stay queued, and batches it had not answered come back to the
    /// queue (`batch_done`). With no grace, they fail now.
    pub(super) fn engine_gone(&mut self, name: &str) {
        let grace = self.guards.engine_reconnect_grace();
        if grace.is_zero() {
            if self
                .engines
                .get(name)
                .is_some_and(|s| !s.engine.is_connected())
            {
                self.expire_engine(name);
            }
            return;
        }
        let Some(slot) = self.engines.get_mut(name) else {
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

    /// Engines whose grace ran out without a new registration: their
    /// waiting calls fail. O(log e) per engine whose grace ends.
    pub(super) fn expire_engines(&mut self, now: Instant) {
        for name in self.grace_deadlines.take_due(now) {
            let expired = self
                .engines
                .get(&name)
                .is_some_and(|slot| slot.reconnect_deadline.is_some_and(|d| d <= now));
            if !expired {
                continue;
            }
            tracing::warn!(engine = %name, "engine did not register again within its grace; \
                failing its waiting calls");
            self.expire_engine(&name);
        }
    }

    /// Removes an engine process for good: its waiting calls fail now, its
    /// batches still in flight when they report back, and later calls of
    /// jobs naming it at once.
    fn expire_engine(&mut self, name: &str) {
        if self.engines.remove(name).is_none() {
            return;
        }
        self.metrics.forget_engine(name);
        let err = EngineError::Disconnected(name.to_string());
        for queued in self.batcher.remove_engine(name) {
            let reply = super::calls::error_reply(queued.worker_call_id, &err);
            self.land_flight(name, queued.call.call_id, &reply, &CallStats::default());
            self.deliver_reply(queued.worker_id, queued.run_id, queued.call.call_id, reply);
        }
    }
}
