//! Engine events that reach past the engine book: an engine process that
//! disconnects, and one whose reconnection grace ends (its waiting calls
//! fail). Registration is the book's own (`engine_book`).

use tokio::time::Instant;

use super::super::outcome::error_reply;
use super::Scheduler;
use crate::engine::{CallStats, EngineError};

impl Scheduler {
    /// An engine process disconnected. Its calls wait for an engine to
    /// register under its name within `--engine-reconnect-grace-ms`: waiting
    /// calls stay queued, and batches it had not answered come back to the
    /// queue (`batch_done`). With no grace, they fail now.
    pub(super) fn engine_gone(&mut self, name: &str) {
        let grace = self.guards.engine_reconnect_grace();
        if grace.is_zero() {
            if self.engines.is_disconnected(name) {
                self.expire_engine(name);
            }
            return;
        }
        self.engines.start_grace(name, grace);
    }

    /// Engines whose grace ran out without a new registration: their
    /// waiting calls fail. O(log e) per engine whose grace ends.
    pub(super) fn expire_engines(&mut self, now: Instant) {
        for name in self.engines.take_expired(now) {
            tracing::warn!(engine = %name, "engine did not register again within its grace; \
                failing its waiting calls");
            self.expire_engine(&name);
        }
    }

    /// Removes an engine process for good: its waiting calls fail now, its
    /// batches still in flight when they report back, and later calls of
    /// jobs naming it at once.
    fn expire_engine(&mut self, name: &str) {
        if !self.engines.remove(name) {
            return;
        }
        self.metrics.forget_engine(name);
        let err = EngineError::Disconnected(name.to_string());
        for queued in self.calls.remove_engine(name) {
            let reply = error_reply(queued.worker_call_id, &err);
            self.land_flight(name, queued.call.call_id, &reply, &CallStats::default());
            self.deliver_reply(queued.worker_id, queued.run_id, queued.call.call_id, reply);
        }
    }
}
