//! Engine slots: each engine with its batch concurrency, its batch-size cap
//! and its counters; registration and disconnection of engine processes.

use super::actor::Scheduler;
use crate::engine::{CallStats, Engine, EngineError};
use crate::error::Error;
use crate::metrics::CallTotals;
use crate::pb::v1::EngineStatus;

/// An engine with its concurrency limit and counters.
#[derive(Debug)]
pub(super) struct EngineSlot {
    pub engine: Engine,
    /// Distinguishes successive engines registered under one name, so that a
    /// late batch of a disconnected engine does not count against its successor.
    pub generation: u64,
    /// Batches in flight at most.
    max_concurrency: usize,
    /// Largest batch formed for this engine.
    pub max_batch_size: usize,
    pub in_flight: usize,
    pub batches: u64,
    pub calls: u64,
    pub failed_batches: u64,
    /// What the engine measured about its calls.
    pub totals: CallTotals,
}

impl EngineSlot {
    pub fn new(
        engine: Engine,
        max_concurrency: usize,
        max_batch_size: usize,
        generation: u64,
    ) -> Self {
        EngineSlot {
            engine,
            generation,
            max_concurrency: max_concurrency.max(1),
            max_batch_size: max_batch_size.max(1),
            in_flight: 0,
            batches: 0,
            calls: 0,
            failed_batches: 0,
            totals: CallTotals::default(),
        }
    }

    pub fn wants_messages(&self) -> bool {
        self.engine.wants_messages()
    }

    pub fn has_free_slot(&self) -> bool {
        self.in_flight < self.max_concurrency
    }

    pub fn try_reserve(&mut self) -> bool {
        let free = self.in_flight < self.max_concurrency;
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
            max_concurrency: self.max_concurrency as u32,
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
        }
    }
}

impl Scheduler {
    pub(super) fn register_engine(
        &mut self,
        name: String,
        engine: Engine,
        max_concurrency: usize,
        max_batch_size: usize,
    ) -> Result<(), Error> {
        if self.engines.contains_key(&name) {
            return Err(Error::EngineNameTaken(name));
        }
        tracing::info!(engine = %name, kind = engine.kind(), max_concurrency, "engine registered");
        self.add_engine(&name, engine, max_concurrency, max_batch_size);
        Ok(())
    }

    /// An engine process disconnected: its waiting calls fail now; its
    /// in-flight batches fail when their tasks report back.
    pub(super) fn engine_gone(&mut self, name: &str) {
        if self.engines.remove(name).is_none() {
            return;
        }
        let err = EngineError::Disconnected(name.to_string());
        for queued in self.batcher.remove_engine(name) {
            let reply = super::calls::error_reply(queued.worker_call_id, &err);
            self.deliver_reply(queued.worker_id, queued.task_id, queued.call.call_id, reply);
        }
    }
}
