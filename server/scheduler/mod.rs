//! The scheduler: one actor task that owns every job, worker, waiting engine
//! call and engine slot. The gRPC edge talks to it through a
//! [`SchedulerHandle`]; engine batches run in tasks of their own and report
//! back with [`SchedulerCommand::BatchDone`].
//!
//! - `actor`: the task's loop and command dispatch;
//! - `jobs`: jobs, their items, results and summaries;
//! - `workers`: worker registry and item assignment;
//! - `queue`: a job's waiting items, in lines by who may take them;
//! - `suspects`: runs of a worker that died with several in progress run
//!   again alone, so that only the one that kills its worker is charged;
//! - `local_wait`: items only the client's process may take wait for a
//!   worker there, and fail alone when none comes;
//! - `worker_index`: the connected workers, with the ones that may take an
//!   item and the ones a turn changed;
//! - `calls`: engine calls from workers, handed to the batcher and sent to
//!   their engines when it forms batches (the flush policy is
//!   [`crate::batcher`]'s);
//! - `parking`: keeps the batcher's all-parked index in step with the runs;
//! - `replay`: runs waiting on a provider batch give their slot back; their
//!   items wait with their calls and run again with the replies kept;
//! - `replies`: batches at their engines, and replies back to workers;
//! - `engines`: engine slots, their counters, engine registration;
//! - `timeouts`: run deadlines (from assignment, then from start), and
//!   workers whose loop stalls (no heartbeat);
//! - `reuse`: the call cache, coalescing and the spend cap at the scheduler;
//! - `spend`: a job's cost, savings, item usage and cap;
//! - `timers`: ordered deadline sets (worker waits, item timeouts, engine
//!   reconnection graces).
//!
//! # Indexes and the cost of each event
//!
//! State is indexed by what each event needs: runs by task id, and listed
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
mod budget;
mod call_book;
mod calls;
mod engine_book;
mod engines;
mod item;
mod job_book;
mod jobs;
mod local_wait;
mod outcome;
mod parking;
mod queue;
mod replay;
mod replies;
mod reuse;
mod reuse_book;
mod run;
mod spend;
mod spend_book;
mod suspects;
mod timeouts;
mod timers;
mod worker;
mod worker_book;
mod worker_index;
mod workers;

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cache::{CacheMode, CallCache};
use crate::config::{EngineKindSpec, EngineSpec, ServerConfig, ECHO_ENGINE, MAX_BATCH_SIZE};
use crate::engine::openai_batch::OpenAiBatchSettings;
use crate::engine::{BatchAnswer, CallAnswer, EchoEngine, Engine, OpenAiBatchEngine, OpenAiEngine};
use crate::error::Error;
use crate::telemetry::Metrics;
pub use backlog::WorkerBacklog;
pub use timeouts::STALL_AFTER_INTERVALS;

use crate::pb::v1::{
    Codec, Item, ItemResult, JobSummary, StatusResponse, WorkResult, WorkerCommand,
    WorkerEngineCall,
};

/// Capacity of the actor's command channel. Senders (stream readers of the
/// gRPC edge, engine tasks) wait when it is full, which pushes back through
/// HTTP/2 flow control to clients and workers instead of growing memory.
const COMMAND_CHANNEL_CAPACITY: usize = 1024;

/// A validated `JobSpec`.
#[derive(Debug, Clone)]
pub struct JobParams {
    pub expression: String,
    pub engine: String,
    pub batch_size: usize,
    pub max_queue_delay: Duration,
    pub kwargs_json: String,
    pub codec: Codec,
    pub window: u32,
    /// Whether `window` is the server's default (the job did not set one):
    /// a job that replays on a batch API engine then gets a window of at
    /// least the engine's batch, so a step fills one provider batch.
    pub window_is_default: bool,
    /// `JobSpec.replay`; None: replay where the engine is a batch API.
    pub replay: Option<bool>,
    pub max_attempts: u32,
    pub worker_wait: Duration,
    /// Longest run of one item from its start (from its assignment, plus
    /// `timeouts::START_GRACE`, until its start is reported); None: no limit.
    pub item_timeout: Option<Duration>,
    /// The client's process token: its `local_only` items go only to
    /// workers registered with the same token.
    pub process_token: String,
    /// How its calls use the call cache; None: the server's choice for its
    /// engine (use for openai engines, off for echo and engine processes).
    pub cache: Option<CacheMode>,
    /// Spend cap in US dollars; None: no cap.
    pub max_cost_usd: Option<f64>,
    /// The job's log span (`job{id=..}`); the scheduler records the id.
    pub span: tracing::Span,
}

/// What a job's client stream receives.
#[derive(Debug)]
pub enum JobEvent {
    Results(Vec<ItemResult>),
    Finished(Box<JobSummary>),
    Failed(Error),
}

/// An admitted job. `events_rx` is unbounded, but holds at most the job's
/// window of results: the edge admits an item only under a window permit,
/// which it returns when the item's result has been handed to the client.
#[derive(Debug)]
pub struct JobRegistration {
    pub job_id: u64,
    pub window: u32,
    pub events_rx: mpsc::UnboundedReceiver<JobEvent>,
}

/// Messages to the scheduler actor.
#[derive(Debug)]
pub enum SchedulerCommand {
    SubmitJob {
        params: JobParams,
        reply: oneshot::Sender<Result<JobRegistration, Error>>,
    },
    AddItems {
        job_id: u64,
        items: Vec<Item>,
    },
    CloseInput {
        job_id: u64,
    },
    CancelJob {
        job_id: u64,
    },
    /// The client broke the protocol; the job ends with `err`.
    FailJob {
        job_id: u64,
        err: Error,
    },
    RegisterWorker {
        name: String,
        expressions: Vec<String>,
        concurrency: usize,
        prefetch: usize,
        process_token: String,
        /// `RegisterWorker.replays`: the worker gives a parked run's slot back.
        replays: bool,
        /// Bounded by `GuardFlags::worker_command_capacity`, in messages
        /// and in entries (`backlog`): a worker that lets more pile up is
        /// disconnected.
        command_tx: mpsc::Sender<WorkerCommand>,
        /// Entries sent on `command_tx` and not yet taken by the stream.
        backlog: WorkerBacklog,
        /// Ends the worker's command stream with this error when the
        /// scheduler disconnects the worker.
        kick_tx: oneshot::Sender<Error>,
        reply: oneshot::Sender<u64>,
    },
    WorkerResults {
        worker_id: u64,
        results: Vec<WorkResult>,
    },
    WorkerCalls {
        worker_id: u64,
        calls: Vec<WorkerEngineCall>,
    },
    /// The worker's slots started these runs.
    WorkerStarted {
        worker_id: u64,
        task_ids: Vec<u64>,
    },
    /// The worker stops taking items and gives back runs it has not started.
    WorkerDrain {
        worker_id: u64,
        unstarted: Vec<u64>,
    },
    WorkerGone {
        worker_id: u64,
    },
    /// The worker declared heartbeats and has sent nothing for `silent`:
    /// its loop is blocked, its runs go elsewhere.
    WorkerStalled {
        worker_id: u64,
        silent: Duration,
    },
    /// A stalled worker sent a message again.
    WorkerResumed {
        worker_id: u64,
    },
    RegisterEngine {
        name: String,
        engine: Engine,
        /// Batches in flight at most; None: they follow the slots.
        max_concurrency: Option<usize>,
        max_batch_size: usize,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    EngineGone {
        name: String,
    },
    /// Calls of a batch still in flight were answered (engines that answer
    /// calls one by one).
    CallsAnswered {
        engine: String,
        /// The engine slot's generation when the batch left.
        generation: u64,
        answers: Vec<CallAnswer>,
    },
    BatchDone {
        engine: String,
        /// The engine slot's generation when the batch left.
        generation: u64,
        batch_id: u64,
        call_ids: Vec<u64>,
        /// Answers of the calls not answered by `CallsAnswered`.
        answer: BatchAnswer,
        elapsed: Duration,
    },
    Status {
        reply: oneshot::Sender<StatusResponse>,
    },
    /// Stop admitting jobs; answers when no job is left.
    Drain {
        reply: oneshot::Sender<()>,
    },
}

/// Cheap, cloneable handle to the scheduler actor.
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    tx: mpsc::Sender<SchedulerCommand>,
}

impl SchedulerHandle {
    /// Starts the actor with the built-in `echo` engine configured from
    /// `config` and the engines of `config.engines`.
    pub fn spawn(
        config: &ServerConfig,
        metrics: Metrics,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, Error> {
        let (tx, rx) = mpsc::channel(COMMAND_CHANNEL_CAPACITY);
        let mut actor = actor::Scheduler::new(
            tx.downgrade(),
            tracker.clone(),
            config.guards.clone(),
            metrics,
        );
        let handle = SchedulerHandle { tx };
        actor.reuse.set_cache(open_cache(config)?);
        for spec in &config.engines {
            if let Some(pricing) = spec.pricing {
                actor.spend.set_price(&spec.name, pricing);
            }
        }
        actor.add_engine(
            ECHO_ENGINE,
            Engine::Echo(EchoEngine::new(Duration::from_millis(
                config.echo_latency_ms,
            ))),
            Some(config.echo_max_concurrency as usize),
            MAX_BATCH_SIZE as usize,
        );
        // Batch engines last: their fallback engines exist by then.
        let mut specs: Vec<&EngineSpec> = config.engines.iter().collect();
        specs.sort_by_key(|spec| matches!(spec.kind, EngineKindSpec::OpenAiBatch(_)));
        for spec in specs {
            let (engine, max_batches) = match &spec.kind {
                EngineKindSpec::Echo {
                    latency,
                    max_concurrency,
                } => (
                    Engine::Echo(EchoEngine::new(*latency)),
                    Some(*max_concurrency),
                ),
                EngineKindSpec::OpenAi(settings) => {
                    let engine =
                        OpenAiEngine::new(&spec.name, settings.clone(), cancel.clone(), tracker)
                            .map_err(|err| Error::EngineSetup {
                                name: spec.name.clone(),
                                reason: err.to_string(),
                            })?;
                    // Its limiter bounds the requests; batches are only
                    // groupings of calls and are not held back.
                    (Engine::OpenAi(engine), None)
                }
                EngineKindSpec::OpenAiBatch(settings) => {
                    let engine = batch_engine(spec, settings, config, &actor, &cancel, tracker)?;
                    (Engine::OpenAiBatch(engine), Some(settings.max_concurrency))
                }
            };
            tracing::info!(engine = %spec.name, kind = engine.kind(), "engine configured");
            actor.add_engine(&spec.name, engine, max_batches, spec.max_batch_size);
        }
        tracker.spawn(actor::scheduler_task(actor, rx, cancel));
        Ok(handle)
    }

    /// Sends a command; fails with `ShuttingDown` once the actor has stopped.
    pub async fn send(&self, command: SchedulerCommand) -> Result<(), Error> {
        self.tx.send(command).await.map_err(|_| Error::ShuttingDown)
    }

    /// Sends a command carrying a reply sender and awaits the reply.
    pub async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> SchedulerCommand,
    ) -> Result<T, Error> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.send(make(reply_tx)).await?;
        reply_rx.await.map_err(|_| Error::ShuttingDown)
    }
}

/// Builds an openai-batch engine with its store in the cache directory and
/// its fallback (an openai engine added before it).
fn batch_engine(
    spec: &EngineSpec,
    settings: &OpenAiBatchSettings,
    config: &ServerConfig,
    actor: &actor::Scheduler,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<OpenAiBatchEngine, Error> {
    let fallback = settings.fallback.as_ref().and_then(|name| {
        match actor.engines.get(name).map(|slot| &slot.engine) {
            Some(Engine::OpenAi(engine)) => Some(engine.clone()),
            _ => None,
        }
    });
    OpenAiBatchEngine::new(
        &spec.name,
        settings.clone(),
        &config.cache_dir(),
        fallback,
        cancel.clone(),
        tracker,
    )
    .map_err(|err| Error::EngineSetup {
        name: spec.name.clone(),
        reason: err.to_string(),
    })
}

/// Opens the call cache of `--cache-dir` (or the config file's
/// `cache_dir`). A database held by another running server is not shared:
/// this one then keeps no cache on disk, and says so.
fn open_cache(config: &ServerConfig) -> Result<CallCache, Error> {
    let dir = config.cache.cache_dir.as_deref();
    match CallCache::open(dir, config.cache.max_bytes()) {
        Ok(cache) => Ok(cache),
        Err(crate::cache::StoreError::Db { source, path })
            if matches!(*source, redb::Error::DatabaseAlreadyOpen) =>
        {
            tracing::warn!(path = %path.display(),
                "call cache is open in another server; this one keeps no cache on disk \
                 (identical calls in flight are still sent once)");
            Ok(CallCache::default())
        }
        Err(err) => Err(Error::CacheSetup(err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ServerConfig {
        ServerConfig::with_listen("127.0.0.1:0".parse().expect("a valid address"))
    }

    #[tokio::test(start_paused = true)]
    async fn the_actor_stops_once_every_handle_is_gone() {
        let tracker = TaskTracker::new();
        let handle = SchedulerHandle::spawn(
            &config(),
            Metrics::new(),
            CancellationToken::new(),
            &tracker,
        )
        .expect("spawns");
        let status = handle
            .request(|reply| SchedulerCommand::Status { reply })
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
        let handle = SchedulerHandle::spawn(
            &config(),
            Metrics::new(),
            CancellationToken::new(),
            &tracker,
        )
        .expect("spawns");
        tracker.close();
        let waited = tokio::time::timeout(Duration::from_secs(60), tracker.wait()).await;
        assert!(waited.is_err(), "the actor stopped with a handle alive");
        assert!(handle
            .request(|reply| SchedulerCommand::Status { reply })
            .await
            .is_ok());
    }
}
