//! The scheduler: one actor task that owns every job, worker, waiting engine
//! call and engine slot. The gRPC edge talks to it through a
//! [`SchedulerHandle`]; engine batches run in tasks of their own and report
//! back with a `BatchDone` command.
//!
//! Files import downward only: the handle, then the actor and its event
//! handlers, then the books, then plain data.
//!
//! - `handle`: [`SchedulerHandle`], one method per request of the edge, and
//!   the commands it sends (private to `scheduler/`);
//! - `actor`: the `Scheduler` state (the books below) and the task's loop;
//!   its child modules are the event handlers that reach across books:
//!   `jobs` (jobs, their items, results and summaries), `workers` (worker
//!   registry and item assignment), `suspects` (runs of a worker that died
//!   with several in progress run again alone), `local_wait` (items only
//!   the client's process may take), `calls` (engine calls from workers,
//!   handed to the batcher and sent when it forms engine batches; the flush
//!   policy is [`crate::batcher`]'s), `parking` (the batcher's all-parked
//!   index), `replay` (runs waiting on a provider batch give their slot
//!   back), `replies` (engine batches at their engines, replies back to
//!   workers), `engines` (engine registration and slots), `timeouts` (run
//!   deadlines, stalled workers), `reuse` (the call cache and coalescing at
//!   the scheduler), `budget` (the spend cap), `unavailable` (a job's
//!   waiting items fail without running while its engine's circuit is
//!   open);
//! - the books, each one's fields private to its file: `job_book` (jobs,
//!   their turns, waits for workers), `worker_book` (workers, the
//!   expressions they serve, their runs and run deadlines), `call_book`
//!   (the batcher, calls in flight, parked calls, engine batch to jobs),
//!   `engine_book` (engine slots, reconnection graces), `reuse_book` (call
//!   cache, coalescer, pending cache writes, counters), `spend_book` (prices,
//!   unpriced models, the cost of a call), `job_history` (the jobs that
//!   ended lately, for Status);
//! - plain data: `item` (pending and parked items, replay logs), `run` (one
//!   run of an item on a worker slot), `worker`, `worker_index` (the
//!   connected workers, indexed by whether they may take an item), `queue`
//!   (a job's waiting items, in lines by who may take them), `spend` (a
//!   job's cost, savings, usage and cap), `outcome`, `backlog`, `timers`
//!   (ordered deadline sets).
//!
//! # Indexes and the cost of each event
//!
//! State is indexed by what each event needs: runs by run id, and listed
//! per job (`Job::runs`) and per worker (`Worker::running`); waiting calls
//! by call id and per (engine, model) key with their deadline and batch-size
//! indexes (`crate::batcher`); per engine, the runs that may still add a call
//! (`crate::batcher::ParkedIndex`); jobs per expression and serving workers
//! per expression; every deadline in a `timers::Deadlines` set. With n
//! waiting calls, r runs, j jobs, k batch keys, c a run's calls, q a worker's
//! queued runs (at most its concurrency plus prefetch):
//!
//! | event | cost |
//! |---|---|
//! | engine call from a worker | O(log n + log r) |
//! | engine reply to a call | O(log r) |
//! | run started | O(log r), plus O(q log r) when its worker's free-slot state flips |
//! | run ends (result, cancel, timeout) | O(c log n + log r), plus the flip above |
//! | job ends / is cancelled | O(its runs × the above) |
//! | worker registers / disconnects | O(its expressions' jobs) + its runs × the above |
//! | timer fires (worker wait, item timeout, engine grace) | O(log) per expired entry |
//! | next wake-up (`next_deadline`) | O(k) + O(1) per timer set |
//! | forming batches, per turn | O(k log n), plus O(log n) per call that leaves |
//!
//! Workers are indexed by whether they may take a new item, ordered by how
//! full they are relative to their (capped) slots, and by whether the turn
//! changed them (`worker_index`): item assignment visits the jobs in turn
//! and, per item, only workers with a free slot, the least full first,
//! until one serves the job's expression (so each worker's share of a
//! job's items follows its slots); the end of a turn sends the outboxes of
//! the workers the turn changed, not of every worker. Per item handed out:
//! O(jobs + log w), plus the free workers of other expressions skipped.
//! Jobs with suspects (`suspects`) or local items waiting (`local_wait`)
//! add O(jobs) per turn, and O(workers) when a worker is set aside.

mod actor;
mod backlog;
mod call_book;
mod engine_book;
mod handle;
mod item;
mod job_book;
mod job_history;
mod outcome;
mod queue;
mod reuse_book;
mod run;
mod spend;
mod spend_book;
mod timers;
mod worker;
mod worker_book;
mod worker_index;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cache::CallCache;
use crate::config::ServerConfig;
use crate::engine::assemble::ConfiguredEngine;
use crate::telemetry::Metrics;
pub(crate) use actor::STALL_AFTER_INTERVALS;
pub use backlog::WorkerBacklog;
pub use handle::{JobEvent, JobParams, NewWorker, SchedulerHandle};

/// Capacity of the actor's command channel. Senders (stream readers of the
/// gRPC edge, engine tasks) wait when it is full, which pushes back through
/// HTTP/2 flow control to clients and workers instead of growing memory.
const COMMAND_CHANNEL_CAPACITY: usize = 1024;

impl SchedulerHandle {
    /// Starts the actor with `cache` and `engines` (the built-in `echo`
    /// engine first; see `crate::engine::assemble`), the prices and guards
    /// of `config`.
    pub fn spawn(
        config: &ServerConfig,
        cache: CallCache,
        engines: Vec<ConfiguredEngine>,
        metrics: Metrics,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Self {
        let (tx, rx) = mpsc::channel(COMMAND_CHANNEL_CAPACITY);
        let mut actor = actor::Scheduler::new(
            tx.downgrade(),
            tracker.clone(),
            config.guards.clone(),
            &config.history,
            metrics,
        );
        let handle = SchedulerHandle { tx };
        actor.set_cache(cache);
        for spec in &config.engines {
            if let Some(pricing) = spec.pricing {
                actor.set_price(&spec.name, pricing);
            }
        }
        for engine in engines {
            actor.add_engine(
                &engine.name,
                engine.engine,
                engine.max_concurrency,
                engine.max_batch_size,
            );
        }
        tracker.spawn(actor::scheduler_task(actor, rx, cancel));
        handle
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn spawn(tracker: &TaskTracker) -> SchedulerHandle {
        SchedulerHandle::spawn(
            &config(),
            CallCache::default(),
            Vec::new(),
            Metrics::new(crate::config::MAX_BATCH_SIZE),
            CancellationToken::new(),
            tracker,
        )
    }

    fn config() -> ServerConfig {
        ServerConfig::with_listen("127.0.0.1:0".parse().expect("a valid address"))
    }

    #[tokio::test(start_paused = true)]
    async fn the_actor_stops_once_every_handle_is_gone() {
        let tracker = TaskTracker::new();
        let handle = spawn(&tracker);
        let status = handle
            .status()
            .await
            .expect("the actor answers while a handle is held");
        assert!(status.jobs.is_empty());
        drop(handle);
        tracker.close();
        tokio::time::timeout(Duration::from_secs(60), tracker.wait())
            .await
            .expect("the actor task ended without being cancelled");
    }

    #[tokio::test(start_paused = true)]
    async fn the_actor_runs_while_a_handle_is_held() {
        let tracker = TaskTracker::new();
        let handle = spawn(&tracker);
        tracker.close();
        let waited = tokio::time::timeout(Duration::from_secs(60), tracker.wait()).await;
        assert!(waited.is_err(), "the actor stopped with a handle alive");
        assert!(handle.status().await.is_ok());
    }
}
