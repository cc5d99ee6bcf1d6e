//! The scheduler's handle: one method per request the edge makes (submit a
//! job, add its items, end its input, cancel or fail it; register a worker
//! and forward what it sends; register an engine and report it gone; status;
//! drain), and the types those requests carry and answer with.
//!
//! Each method sends one [`SchedulerCommand`] to the actor; the methods
//! that wait for an answer carry a `oneshot` reply sender in it. The command
//! enum is the actor's own: nothing outside `scheduler/` builds one.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::backlog::WorkerBacklog;
use crate::cache::CacheMode;
use crate::engine::{BatchAnswer, CallAnswer, Engine};
use crate::error::Error;
use crate::pb::v1::{
    Codec, Item, ItemResult, JobSummary, StatusResponse, WorkResult, WorkerCommand,
    WorkerEngineCall,
};

/// A validated `JobSpec`.
#[derive(Debug, Clone)]
pub struct JobParams {
    pub expression: String,
    /// The engine of its chat (neurosymbolic) calls.
    pub engine: String,
    /// The engine of its embedding calls; None: such calls fail, naming
    /// how to give the job one.
    pub embedding_engine: Option<String>,
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
    /// When the job must be done, in ms since the Unix epoch; None: no
    /// deadline. Its calls carry it to their engine.
    pub deadline_unix_ms: Option<u64>,
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

/// A worker to register: what its `RegisterWorker` declared, validated, and
/// the ends of its command stream.
#[derive(Debug)]
pub struct NewWorker {
    pub name: String,
    pub expressions: Vec<String>,
    pub concurrency: usize,
    pub prefetch: usize,
    pub process_token: String,
    /// `RegisterWorker.replays`: the worker gives a parked run's slot back.
    pub replays: bool,
    /// Bounded by `GuardFlags::worker_command_capacity`, in messages and in
    /// entries (`backlog`): a worker that lets more pile up is disconnected.
    pub command_tx: mpsc::Sender<WorkerCommand>,
    /// Entries sent on `command_tx` and not yet taken by the stream.
    pub backlog: WorkerBacklog,
    /// Ends the worker's command stream with this error when the scheduler
    /// disconnects the worker.
    pub kick_tx: oneshot::Sender<Error>,
}

/// Messages to the scheduler actor.
#[derive(Debug)]
pub(super) enum SchedulerCommand {
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
        worker: NewWorker,
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
    /// The worker's slots started these runs, each that long ago.
    WorkerStarted {
        worker_id: u64,
        starts: Vec<(u64, Duration)>,
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
        /// Engine batches in flight at most; None: they follow the slots.
        max_concurrency: Option<usize>,
        max_batch_size: usize,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    EngineGone {
        name: String,
    },
    /// Calls of an engine batch still in flight were answered (engines that
    /// answer calls one by one).
    CallsAnswered {
        engine: String,
        /// The engine slot's generation when the engine batch left.
        generation: u64,
        answers: Vec<CallAnswer>,
    },
    BatchDone {
        engine: String,
        /// The engine slot's generation when the engine batch left.
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

/// Cheap, cloneable handle to the scheduler actor. Every method fails with
/// `ShuttingDown` once the actor has stopped.
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    pub(super) tx: mpsc::Sender<SchedulerCommand>,
}

impl SchedulerHandle {
    /// Admits a job; its results come on the registration's `events_rx`.
    pub async fn submit_job(&self, params: JobParams) -> Result<JobRegistration, Error> {
        self.request(|reply| SchedulerCommand::SubmitJob { params, reply })
            .await?
    }

    /// Items of a job, admitted under its window.
    pub async fn add_items(&self, job_id: u64, items: Vec<Item>) -> Result<(), Error> {
        self.send(SchedulerCommand::AddItems { job_id, items })
            .await
    }

    /// The job's client sent its last item.
    pub async fn end_input(&self, job_id: u64) -> Result<(), Error> {
        self.send(SchedulerCommand::CloseInput { job_id }).await
    }

    /// The job's client went away.
    pub async fn cancel_job(&self, job_id: u64) -> Result<(), Error> {
        self.send(SchedulerCommand::CancelJob { job_id }).await
    }

    /// The job's client broke the protocol; the job ends with `err`.
    pub async fn fail_job(&self, job_id: u64, err: Error) -> Result<(), Error> {
        self.send(SchedulerCommand::FailJob { job_id, err }).await
    }

    /// Registers a worker; answers with its id.
    pub async fn register_worker(&self, worker: NewWorker) -> Result<u64, Error> {
        self.request(|reply| SchedulerCommand::RegisterWorker { worker, reply })
            .await
    }

    /// Results of a worker's runs.
    pub async fn worker_results(
        &self,
        worker_id: u64,
        results: Vec<WorkResult>,
    ) -> Result<(), Error> {
        self.send(SchedulerCommand::WorkerResults { worker_id, results })
            .await
    }

    /// Engine calls of a worker's runs.
    pub async fn worker_calls(
        &self,
        worker_id: u64,
        calls: Vec<WorkerEngineCall>,
    ) -> Result<(), Error> {
        self.send(SchedulerCommand::WorkerCalls { worker_id, calls })
            .await
    }

    /// The worker's slots started these runs, each the given time before
    /// its message was written.
    pub async fn worker_started(
        &self,
        worker_id: u64,
        starts: Vec<(u64, Duration)>,
    ) -> Result<(), Error> {
        self.send(SchedulerCommand::WorkerStarted { worker_id, starts })
            .await
    }

    /// The worker stops taking items and gives back runs it has not started.
    pub async fn worker_drain(&self, worker_id: u64, unstarted: Vec<u64>) -> Result<(), Error> {
        self.send(SchedulerCommand::WorkerDrain {
            worker_id,
            unstarted,
        })
        .await
    }

    /// The worker's stream ended; its runs go back to their jobs.
    pub async fn worker_gone(&self, worker_id: u64) -> Result<(), Error> {
        self.send(SchedulerCommand::WorkerGone { worker_id }).await
    }

    /// The worker declared heartbeats and has sent nothing for `silent`.
    pub async fn worker_stalled(&self, worker_id: u64, silent: Duration) -> Result<(), Error> {
        self.send(SchedulerCommand::WorkerStalled { worker_id, silent })
            .await
    }

    /// A stalled worker sent a message again.
    pub async fn worker_resumed(&self, worker_id: u64) -> Result<(), Error> {
        self.send(SchedulerCommand::WorkerResumed { worker_id })
            .await
    }

    /// Registers an engine (an engine process) under `name`, taking the
    /// place of one gone within its reconnection grace.
    pub async fn register_engine(
        &self,
        name: String,
        engine: Engine,
        max_concurrency: Option<usize>,
        max_batch_size: usize,
    ) -> Result<(), Error> {
        self.request(|reply| SchedulerCommand::RegisterEngine {
            name,
            engine,
            max_concurrency,
            max_batch_size,
            reply,
        })
        .await?
    }

    /// The engine process registered as `name` disconnected.
    pub async fn engine_gone(&self, name: String) -> Result<(), Error> {
        self.send(SchedulerCommand::EngineGone { name }).await
    }

    /// A snapshot of jobs, workers, queues and engines.
    pub async fn status(&self) -> Result<StatusResponse, Error> {
        self.request(|reply| SchedulerCommand::Status { reply })
            .await
    }

    /// Stops admitting jobs; answers when no job is left.
    pub async fn drain(&self) -> Result<(), Error> {
        self.request(|reply| SchedulerCommand::Drain { reply })
            .await
    }

    /// Sends a command; fails with `ShuttingDown` once the actor has stopped.
    pub(super) async fn send(&self, command: SchedulerCommand) -> Result<(), Error> {
        self.tx.send(command).await.map_err(|_| Error::ShuttingDown)
    }

    /// Sends a command carrying a reply sender and awaits the reply.
    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> SchedulerCommand,
    ) -> Result<T, Error> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.send(make(reply_tx)).await?;
        reply_rx.await.map_err(|_| Error::ShuttingDown)
    }
}
