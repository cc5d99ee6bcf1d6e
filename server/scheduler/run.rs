//! A run: one execution of one item on one worker slot, from its
//! assignment until its result, its cancellation, its timeout, or its
//! worker's end.

use std::collections::HashMap;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::item::PendingItem;
use crate::cache::CallKey;

/// One run of one item on one worker.
#[derive(Debug)]
pub(super) struct Run {
    pub job_id: u64,
    pub worker_id: u64,
    pub item: PendingItem,
    /// Engine calls made by this run and not yet answered: the server's call
    /// id (in the batcher's queues or at an engine) to the worker's. Every
    /// one gets exactly one reply: from its engine, or `Cancelled` when the
    /// run ends first.
    pub calls: HashMap<u64, u64>,
    /// When the worker's slot started the run (RunsStarted); None while it
    /// waits in the worker's queue.
    pub started: Option<Instant>,
    /// The run's last sign of life: its start, or its last engine call or
    /// reply. A started run silent for longer than its job's
    /// `max_queue_delay` does not hold back "all parked" batches.
    pub last_activity: Instant,
    /// Cancelled when the run ends for any reason: its engine calls still
    /// at an engine that answers per call (waiting for a rate limit, or
    /// being retried) are then given up instead of sent.
    pub cancel: CancellationToken,
    /// When the run times out, if its job has an item timeout: from its
    /// assignment, then from its start (see `timeouts`); its timer is set
    /// for that instant.
    pub timeout_at: Option<Instant>,
    /// The replay key of each of its calls (server call id), for runs that
    /// park (see `replay`).
    pub replay_keys: HashMap<u64, CallKey>,
    /// Engine calls the run has made so far (answered from the replay log
    /// included): the next one is step `calls_made + 1` of its forward().
    pub calls_made: u32,
}
