//! The per-call part of the flush policy: the batch size a call is batched
//! under and when its delay trigger fires.

use std::time::Duration;

use tokio::time::Instant;

use crate::engine::Engine;

/// The `batch_size` a call is batched under: its job's, capped by its
/// engine's largest batch.
pub(crate) fn call_batch_size(job_batch_size: usize, engine_max_batch_size: usize) -> usize {
    job_batch_size.min(engine_max_batch_size)
}

/// How many calls of a job one batch gathers, as workers hear it
/// (`JobInfo.call_batch_size`): a batch API engine's own batch size; 1 for
/// an engine that sends every call on its own (its calls go at once, see
/// [`call_deadline`]); else [`call_batch_size`].
pub(crate) fn job_call_batch_size(
    job_batch_size: usize,
    engine_max_batch_size: usize,
    engine: &Engine,
) -> usize {
    match engine.batch_api_flush() {
        Some(flush) => flush.batch_size,
        None if engine.answers_per_call() => 1,
        None => call_batch_size(job_batch_size, engine_max_batch_size),
    }
}

/// When the delay trigger fires for a call that arrives at `now`: after its
/// job's `max_queue_delay`, or at once for an engine that sends every call
/// as a request of its own (the call gains nothing by waiting).
pub(crate) fn call_deadline(
    now: Instant,
    max_queue_delay: Duration,
    answers_per_call: bool,
) -> Instant {
    if answers_per_call {
        now
    } else {
        now + max_queue_delay
    }
}

/// When the delay trigger fires for a call sent again after its engine
/// process disconnected: at once, it waited for its batch already.
pub(crate) fn resend_deadline(now: Instant) -> Instant {
    now
}
