//! Guards that keep one peer from hurting the others: the grace an engine
//! process gets to come back after it disconnects, the engine calls a run and
//! a worker may have unanswered, and the slots and queued items a worker may
//! hold.

use std::time::Duration;

use clap::Args;

use super::MAX_WORKER_CONCURRENCY;

/// Default of `--engine-reconnect-grace-ms`: long enough for an engine
/// process to restart.
pub const DEFAULT_ENGINE_RECONNECT_GRACE_MS: u64 = 30_000;
/// Longest `--engine-reconnect-grace-ms`: one hour.
pub const MAX_ENGINE_RECONNECT_GRACE_MS: u64 = 3_600_000;
/// Default of `--max-calls-per-run`.
pub const DEFAULT_MAX_CALLS_PER_RUN: u32 = 64;
/// Largest `--max-calls-per-run` and `--max-calls-per-worker`.
pub const MAX_CALLS_LIMIT: u32 = 1_000_000;
/// Default of `--max-prefetch`.
pub const DEFAULT_MAX_PREFETCH: u32 = 64;
/// Default of `--max-worker-slots`.
pub const DEFAULT_MAX_WORKER_SLOTS: u32 = 1024;
/// Without `--max-calls-per-worker`, a worker may have this many unanswered
/// engine calls per item it may hold (concurrency + prefetch).
pub const CALLS_PER_WORKER_ITEM: usize = 4;
/// Commands a worker's stream may hold besides one per item, call and reply
/// it can have in flight: job infos and job-finished notices.
const WORKER_COMMAND_SLACK: usize = 256;

/// Engine reconnection, engine-call caps and the slot and prefetch caps.
#[derive(Debug, Clone, Args)]
pub struct GuardFlags {
    /// How long, in ms, the engine calls of an engine process that
    /// disconnected wait for an engine to register under the same name
    /// again (a restart). Until then its waiting calls stay queued, batches
    /// it had not answered are sent again to its successor, and jobs naming
    /// it are accepted; after it, they fail with the engine's disconnection
    /// error. 0: fail them at once.
    #[arg(long, default_value_t = DEFAULT_ENGINE_RECONNECT_GRACE_MS,
          value_parser = clap::value_parser!(u64).range(0..=MAX_ENGINE_RECONNECT_GRACE_MS))]
    pub engine_reconnect_grace_ms: u64,

    /// Most engine calls one item run may have unanswered at once; a call
    /// over it is answered at once with an engine error naming this flag.
    #[arg(long, default_value_t = DEFAULT_MAX_CALLS_PER_RUN,
          value_parser = clap::value_parser!(u32).range(1..=MAX_CALLS_LIMIT as i64))]
    pub max_calls_per_run: u32,

    /// Most engine calls one worker may have unanswered at once; a call over
    /// it is answered at once with an engine error naming this flag.
    /// Default: 4 per item the worker may hold (concurrency + prefetch), and
    /// at least --max-calls-per-run.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_CALLS_LIMIT as i64))]
    pub max_calls_per_worker: Option<u32>,

    /// Most items a worker holds queued beyond its running slots: a larger
    /// registered prefetch is lowered to this, so that a worker that asks
    /// for a large prefetch does not take items that other workers could
    /// start.
    #[arg(long, default_value_t = DEFAULT_MAX_PREFETCH,
          value_parser = clap::value_parser!(u32).range(0..=MAX_WORKER_CONCURRENCY as i64))]
    pub max_prefetch: u32,

    /// Most slots (concurrency) the server counts for one worker: a larger
    /// registered concurrency is lowered to this (logged, and shown in
    /// Status), so that a worker that claims many slots holds at most this
    /// many running items, plus its capped prefetch. Items are spread over
    /// the workers of an expression in proportion to their (capped) slots.
    #[arg(long, default_value_t = DEFAULT_MAX_WORKER_SLOTS,
          value_parser = clap::value_parser!(u32).range(1..=MAX_WORKER_CONCURRENCY as i64))]
    pub max_worker_slots: u32,
}

impl GuardFlags {
    pub fn engine_reconnect_grace(&self) -> Duration {
        Duration::from_millis(self.engine_reconnect_grace_ms)
    }

    /// The prefetch a worker gets: what it asked for, capped at
    /// `--max-prefetch`.
    pub fn prefetch_for(&self, prefetch: usize) -> usize {
        prefetch.min(self.max_prefetch as usize)
    }

    /// The slots a worker gets: its registered concurrency, capped at
    /// `--max-worker-slots`.
    pub fn slots_for(&self, concurrency: usize) -> usize {
        concurrency.min(self.max_worker_slots as usize)
    }

    /// Most unanswered engine calls of one run.
    pub fn calls_per_run(&self) -> usize {
        self.max_calls_per_run as usize
    }

    /// Most unanswered engine calls of a worker with `concurrency` slots and
    /// (capped) `prefetch`.
    pub fn calls_per_worker(&self, concurrency: usize, prefetch: usize) -> usize {
        match self.max_calls_per_worker {
            Some(limit) => limit as usize,
            None => (CALLS_PER_WORKER_ITEM * (concurrency + prefetch)).max(self.calls_per_run()),
        }
    }

    /// Capacity, in entries (and messages, each of at least one entry), of a
    /// worker's command stream on the server (see `WorkerBacklog`). A
    /// worker that reads its stream never has more commands waiting than
    /// this: at most one assignment, job info and cancel per item it may
    /// hold, one reply message per call it may have waiting (each answered
    /// call it has not read is one its slots still wait on), and a few
    /// job-finished notices. A worker that lets more pile up does not read
    /// its stream (frozen, or slower than the server sends), and is
    /// disconnected rather than let the server's memory grow without bound.
    pub fn worker_command_capacity(&self, concurrency: usize, prefetch: usize) -> usize {
        let concurrency = self.slots_for(concurrency);
        let prefetch = self.prefetch_for(prefetch);
        let items = concurrency + prefetch;
        3 * items + 2 * self.calls_per_worker(concurrency, prefetch) + WORKER_COMMAND_SLACK
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::ServerConfig;

    #[test]
    fn defaults() {
        let config = ServerConfig::parse_from(["symbatcher-server"]);
        let guards = &config.guards;
        assert_eq!(guards.engine_reconnect_grace().as_secs(), 30);
        assert_eq!(guards.calls_per_run(), 64);
        assert_eq!(guards.prefetch_for(4096), 64);
        assert_eq!(guards.prefetch_for(8), 8);
        assert_eq!(guards.slots_for(4096), 1024);
        assert_eq!(guards.slots_for(16), 16);
        // 4 per item, at least the per-run cap.
        assert_eq!(guards.calls_per_worker(8, 8), 64);
        assert_eq!(guards.calls_per_worker(32, 0), 128);
        assert_eq!(guards.calls_per_worker(1, 0), 64);
    }

    #[test]
    fn flags_parse_and_name_themselves_when_out_of_range() {
        let config = ServerConfig::parse_from([
            "symbatcher-server",
            "--engine-reconnect-grace-ms",
            "0",
            "--max-calls-per-worker",
            "10",
            "--max-prefetch",
            "0",
            "--max-worker-slots",
            "32",
        ]);
        assert_eq!(config.guards.slots_for(4096), 32);
        assert!(config.guards.engine_reconnect_grace().is_zero());
        assert_eq!(config.guards.calls_per_worker(8, 8), 10);
        assert_eq!(config.guards.prefetch_for(8), 0);
        let err = ServerConfig::try_parse_from(["symbatcher-server", "--max-calls-per-run", "0"])
            .expect_err("0 is out of range");
        assert!(err.to_string().contains("--max-calls-per-run"), "{err}");
        for bad in ["0", "4097"] {
            let err =
                ServerConfig::try_parse_from(["symbatcher-server", "--max-worker-slots", bad])
                    .expect_err("out of range");
            assert!(err.to_string().contains("--max-worker-slots"), "{err}");
        }
    }
}
