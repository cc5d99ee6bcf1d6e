//! The deadline policy (`deadline`) applied to an engine batch: the
//! batch's deadline (the earliest of its calls'), the route its calls take
//! now, with the engine's measured turnaround and its fallback's pace, and
//! the waits until the hedge point and for a hedged batch to end.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::deadline::{self, OnlinePace, Route, Timing};
use super::provider::BatchProvider;
use super::Inner;
use crate::pb::v1::EngineCall;

/// The deadline of a batch of calls: the earliest of theirs (None: none
/// has one).
pub(super) fn deadline_of(calls: &[EngineCall]) -> Option<SystemTime> {
    calls
        .iter()
        .filter_map(|call| call.deadline_unix_ms)
        .min()
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
}

impl<P: BatchProvider> Inner<P> {
    /// The times the engine plans with now: its measured turnaround (the
    /// configured guess before any batch completed) and its settings.
    pub(super) fn timing(&self) -> Timing {
        let samples = self.turnarounds.lock().expect("turnarounds lock");
        Timing {
            turnaround: deadline::turnaround(&samples, self.settings.turnaround_guess),
            margin: self.settings.deadline_margin,
            cancel_wait: self.settings.cancel_wait,
        }
    }

    /// How fast the fallback answers: its limits, and the configured time
    /// of one request. None without a fallback.
    pub(super) fn online_pace(&self) -> Option<OnlinePace> {
        let limits = self.fallback.as_ref()?.limits();
        Some(OnlinePace {
            concurrency: limits.concurrency_limit,
            rpm: limits.rpm,
            latency: self.settings.online_latency,
        })
    }

    /// Where `requests` requests of calls due by `deadline` go now. Without
    /// a fallback there is no online way: always the batch, never hedged.
    pub(super) fn route(&self, deadline: Option<SystemTime>, requests: usize) -> Route {
        let Some(pace) = self.online_pace() else {
            return Route::Batch { hedge_at: None };
        };
        deadline::route(SystemTime::now(), deadline, requests, &self.timing(), &pace)
    }

    /// Adds a completed batch's turnaround, in the store and in memory.
    pub(super) fn record_turnaround(&self, seconds: f64) {
        let recorded = self.store.record_turnaround(&self.name, seconds);
        let mut samples = self.turnarounds.lock().expect("turnarounds lock");
        match recorded {
            Ok(all) => *samples = all,
            Err(err) => {
                tracing::warn!(engine = %self.name, %err, "cannot record the batch's turnaround");
                deadline::record_turnaround(&mut samples, seconds);
            }
        }
        tracing::debug!(engine = %self.name, seconds, "batch turnaround");
    }
}

/// Waits until the wall-clock time `at`; forever for None.
pub(super) async fn until(at: Option<SystemTime>) {
    match at {
        Some(at) => {
            let left = at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            tokio::time::sleep(left).await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_due_at_its_earliest_call_deadline() {
        let call = |deadline_unix_ms| EngineCall {
            deadline_unix_ms,
            ..Default::default()
        };
        assert_eq!(deadline_of(&[call(None), call(None)]), None);
        let due = deadline_of(&[call(Some(9_000)), call(None), call(Some(5_000))]);
        assert_eq!(due, Some(UNIX_EPOCH + Duration::from_secs(5)));
    }
}
