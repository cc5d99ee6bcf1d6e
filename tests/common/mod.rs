//! Shared helpers of the integration tests: an in-memory server, a fake
//! worker, a fake engine process and a job client.
//!
//! The server runs over `tokio::io::duplex` pipes instead of sockets, so the
//! tests can run on tokio's paused clock: with no real I/O, the runtime is
//! idle only when every task waits, and only then does virtual time jump to
//! the next timer. Waiting is therefore always for a message or a deadline,
//! never a sleep.

#![allow(dead_code)]

pub mod batch_jobs;
pub mod fake_anthropic;
pub mod fake_anthropic_batch;
pub mod fake_embeddings;
pub mod fake_openai;
pub mod fake_openai_batch;
pub mod protocol_worker;
pub mod server_process;
pub mod two_step_worker;

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Status, Streaming};

use symbatcher::pb::v1::batch_service_client::BatchServiceClient;
use symbatcher::pb::v1::engine_service_client::EngineServiceClient;
use symbatcher::pb::v1::status_service_client::StatusServiceClient;
use symbatcher::pb::v1::worker_service_client::WorkerServiceClient;
use symbatcher::pb::v1::{
    batch_request, batch_response, engine_command, engine_reply, engine_worker_message, outcome,
    worker_command, worker_message, Assignment, BatchRequest, BatchResponse, EndOfInput,
    EngineBatch, EngineBatchResult, EngineCall, EngineCommand, EngineReply, EngineResults,
    EngineWorkerMessage, ErrorKind, Item, ItemChunk, ItemError, ItemResult, JobAccepted, JobInfo,
    JobSpec, JobSummary, Outcome, RegisterEngine, RegisterWorker, RunsStarted, StatusRequest,
    StatusResponse, WorkResult, WorkResultChunk, WorkerCommand, WorkerEngineCall,
    WorkerEngineCallChunk, WorkerMessage,
};
use symbatcher::ServerConfig;

/// Bytes buffered in each direction of an in-memory connection.
const PIPE_BYTES: usize = 1 << 20;

/// Longest (virtual, on a paused clock) wait for a message the test expects.
/// Far above any deadline a test configures, so a missing message fails the
/// test instead of hanging it.
pub const WAIT: Duration = Duration::from_secs(600);

/// Awaits `fut`, failing the test with `what` if it does not finish in [`WAIT`].
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Polls `fut` once, without waiting: its output if it is ready now.
/// Stream reads (`Streaming::message`) are cancel-safe, so a read that is
/// not ready loses nothing.
pub fn ready_now<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = std::pin::pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

/// A config with every default (the listen address is unused in memory).
pub fn config() -> ServerConfig {
    ServerConfig::with_listen(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// A server running on in-memory connections.
pub struct TestServer {
    pub channel: Channel,
    shutdown_tx: Option<oneshot::Sender<()>>,
    serve: Option<JoinHandle<Result<(), symbatcher::Error>>>,
}

/// Starts the server on in-memory pipes and connects a channel to it. The
/// channel is connected when this returns; no waiting for start is needed.
pub async fn spawn_server(config: ServerConfig) -> TestServer {
    let (conn_tx, conn_rx) = mpsc::channel::<Result<DuplexStream, std::io::Error>>(16);
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let serve = tokio::spawn(symbatcher::serve(
        ReceiverStream::new(conn_rx),
        config,
        async move {
            let _ = shutdown_rx.await;
        },
    ));
    let connector = tower::service_fn(move |_: Uri| {
        let conn_tx = conn_tx.clone();
        async move {
            let (client_half, server_half) = tokio::io::duplex(PIPE_BYTES);
            conn_tx
                .send(Ok(server_half))
                .await
                .map_err(|_| std::io::Error::other("server stopped accepting"))?;
            Ok::<_, std::io::Error>(TokioIo::new(client_half))
        }
    });
    let channel = Endpoint::from_static("http://in-memory")
        .connect_with_connector(connector)
        .await
        .expect("in-memory connection");
    TestServer {
        channel,
        shutdown_tx: Some(shutdown_tx),
        serve: Some(serve),
    }
}

impl TestServer {
    /// Triggers shutdown (SIGTERM's equivalent) without waiting.
    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
    }

    /// Triggers shutdown and waits for the server to stop.
    pub async fn shutdown(mut self) -> Result<(), symbatcher::Error> {
        self.trigger_shutdown();
        let serve = self.serve.take().expect("served once");
        within("server shutdown", serve)
            .await
            .expect("server task did not panic")
    }

    pub async fn status(&self) -> StatusResponse {
        StatusServiceClient::new(self.channel.clone())
            .status(StatusRequest {})
            .await
            .expect("status")
            .into_inner()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------- worker ---

/// A worker driven by the test: it registers, then the test reads its
/// commands and sends its results and engine calls.
pub struct FakeWorker {
    pub worker_id: u64,
    tx: Option<mpsc::Sender<WorkerMessage>>,
    commands: Streaming<WorkerCommand>,
    /// Commands read from the stream but not yet taken by the test.
    pending: VecDeque<WorkerCommand>,
    /// Every `JobInfo` received so far.
    pub jobs: Vec<JobInfo>,
    /// Every task id the server cancelled so far.
    pub cancelled: Vec<u64>,
}

fn worker_msg(kind: worker_message::Kind) -> WorkerMessage {
    WorkerMessage { kind: Some(kind) }
}

/// Opens `WorkerService.Work` and sends `register` first; returns the
/// server's answer (the error status when it refused the registration).
pub async fn try_connect_worker(
    channel: &Channel,
    register: RegisterWorker,
) -> Result<FakeWorker, Status> {
    let (tx, rx) = mpsc::channel(64);
    tx.send(worker_msg(worker_message::Kind::Register(register)))
        .await
        .expect("fresh channel");
    let mut commands = WorkerServiceClient::new(channel.clone())
        .work(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let first = within("WorkerRegistered", commands.message())
        .await?
        .expect("a first command");
    let worker_id = match first.kind {
        Some(worker_command::Kind::Registered(r)) => r.worker_id,
        other => panic!("first command must be WorkerRegistered, got {other:?}"),
    };
    Ok(FakeWorker {
        worker_id,
        tx: Some(tx),
        commands,
        pending: VecDeque::new(),
        jobs: Vec::new(),
        cancelled: Vec::new(),
    })
}

/// Connects a worker serving `expressions` with `concurrency` slots.
pub async fn connect_worker(
    channel: &Channel,
    name: &str,
    expressions: &[&str],
    concurrency: u32,
) -> FakeWorker {
    try_connect_worker(
        channel,
        RegisterWorker {
            name: name.to_string(),
            expressions: expressions.iter().map(|e| e.to_string()).collect(),
            concurrency,
            ..Default::default()
        },
    )
    .await
    .expect("worker registration accepted")
}

impl FakeWorker {
    /// The next command from the server (`None` when its stream ended).
    pub async fn next_command(&mut self) -> Option<WorkerCommand> {
        if let Some(command) = self.pending.pop_front() {
            return Some(command);
        }
        let command = within("a worker command", self.commands.message())
            .await
            .expect("worker stream healthy")?;
        self.record(&command);
        Some(command)
    }

    /// The next command if one has arrived, without waiting (`Ready(None)`
    /// when the stream ended).
    pub fn try_next_command(&mut self) -> Poll<Option<WorkerCommand>> {
        if let Some(command) = self.pending.pop_front() {
            return Poll::Ready(Some(command));
        }
        let polled = ready_now(self.commands.message());
        let Poll::Ready(command) = polled else {
            return Poll::Pending;
        };
        let command = command.expect("worker stream healthy");
        if let Some(command) = &command {
            self.record(command);
        }
        Poll::Ready(command)
    }

    fn record(&mut self, command: &WorkerCommand) {
        match &command.kind {
            Some(worker_command::Kind::Job(info)) => self.jobs.push(info.clone()),
            Some(worker_command::Kind::Cancel(cancel)) => {
                self.cancelled.extend(cancel.task_ids.iter().copied())
            }
            _ => {}
        }
    }

    /// Reads commands until `n` assignments have arrived; other commands
    /// (JobInfo, cancels, job-finished) are recorded, replies are kept for
    /// [`FakeWorker::next_replies`].
    pub async fn assignments(&mut self, n: usize) -> Vec<Assignment> {
        let mut out = Vec::new();
        let mut kept = VecDeque::new();
        while out.len() < n {
            let command = self.next_command().await.unwrap_or_else(|| {
                panic!("worker stream ended after {} of {n} assignments", out.len())
            });
            match command.kind {
                Some(worker_command::Kind::Assignments(chunk)) => out.extend(chunk.assignments),
                Some(worker_command::Kind::Replies(_)) => kept.push_back(command),
                _ => {}
            }
        }
        assert_eq!(out.len(), n, "more assignments than expected: {out:?}");
        kept.extend(self.pending.drain(..));
        self.pending = kept;
        out
    }

    /// Reads commands until engine replies arrive and returns them.
    pub async fn next_replies(&mut self) -> Vec<EngineReply> {
        loop {
            let command = self.next_command().await.expect("worker stream ended");
            if let Some(worker_command::Kind::Replies(chunk)) = command.kind {
                return chunk.replies;
            }
        }
    }

    pub async fn send(&self, message: WorkerMessage) {
        self.tx
            .as_ref()
            .expect("worker is connected")
            .send(message)
            .await
            .expect("worker request stream open");
    }

    /// Sends engine calls `(task_id, call_id, prompt)` in one message.
    pub async fn send_calls(&self, calls: &[(u64, u64, String)]) {
        let calls = calls
            .iter()
            .map(|(task_id, call_id, prompt)| WorkerEngineCall {
                task_id: *task_id,
                call: Some(engine_call(*call_id, prompt)),
            })
            .collect();
        self.send(worker_msg(worker_message::Kind::EngineCalls(
            WorkerEngineCallChunk { calls },
        )))
        .await;
    }

    /// Tells the server its slots started these runs (RunsStarted).
    pub async fn start(&self, tasks: &[Assignment]) {
        let task_ids = tasks.iter().map(|t| t.task_id).collect();
        self.send(worker_msg(worker_message::Kind::Started(RunsStarted {
            task_ids,
        })))
        .await;
    }

    /// Sends results in one message.
    pub async fn send_results(&self, results: Vec<WorkResult>) {
        self.send(worker_msg(worker_message::Kind::Results(WorkResultChunk {
            results,
        })))
        .await;
    }

    /// Ends the worker's request stream: the server sees it disconnect.
    pub fn disconnect(&mut self) {
        self.tx = None;
    }
}

pub fn engine_call(call_id: u64, prompt: &str) -> EngineCall {
    EngineCall {
        call_id,
        prompt: prompt.to_string(),
        messages_json: "[]".to_string(),
        kwargs_json: "{}".to_string(),
        ..Default::default()
    }
}

/// A successful result carrying `payload`.
pub fn ok_result(task_id: u64, payload: &[u8]) -> WorkResult {
    WorkResult {
        task_id,
        outcome: Some(Outcome {
            value: Some(outcome::Value::Payload(payload.to_vec())),
            local_only: false,
        }),
    }
}

/// The text of a successful engine reply.
pub fn reply_text(reply: &EngineReply) -> &str {
    match &reply.outcome {
        Some(engine_reply::Outcome::Text(text)) => text,
        other => panic!("engine reply {} is not text: {other:?}", reply.call_id),
    }
}

// ---------------------------------------------------------------- engine ---

/// An engine process driven by the test (`EngineService.Serve`).
pub struct FakeEngine {
    tx: mpsc::Sender<EngineWorkerMessage>,
    commands: Streaming<EngineCommand>,
}

/// Registers an engine named `name` accepting `max_concurrency` batches
/// (None: no cap, batches follow the slots).
pub async fn try_connect_engine(
    channel: &Channel,
    name: &str,
    max_concurrency: impl Into<Option<u32>>,
) -> Result<FakeEngine, Status> {
    let register = RegisterEngine {
        name: name.to_string(),
        max_concurrency: max_concurrency.into(),
        cache_by_default: false,
        ..Default::default()
    };
    try_register_engine(channel, register).await
}

/// Registers an engine with every field of `register` as given.
pub async fn try_register_engine(
    channel: &Channel,
    register: RegisterEngine,
) -> Result<FakeEngine, Status> {
    let name = register.name.clone();
    let (tx, rx) = mpsc::channel(64);
    tx.send(EngineWorkerMessage {
        kind: Some(engine_worker_message::Kind::Register(register)),
    })
    .await
    .expect("fresh channel");
    let mut commands = EngineServiceClient::new(channel.clone())
        .serve(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let first = within("EngineRegistered", commands.message())
        .await?
        .expect("a first engine command");
    match first.kind {
        Some(engine_command::Kind::Registered(registered)) => {
            assert_eq!(registered.name, name);
            assert!(
                registered.replies_ahead,
                "the server takes replies sent ahead"
            );
        }
        other => panic!("first engine command must be EngineRegistered, got {other:?}"),
    }
    Ok(FakeEngine { tx, commands })
}

pub async fn connect_engine(
    channel: &Channel,
    name: &str,
    max_concurrency: impl Into<Option<u32>>,
) -> FakeEngine {
    try_connect_engine(channel, name, max_concurrency)
        .await
        .expect("engine registration accepted")
}

impl FakeEngine {
    /// The next batch the server sends (`None` when the stream ended).
    pub async fn next_batch(&mut self) -> Option<EngineBatch> {
        let command = within("an engine batch", self.commands.message())
            .await
            .expect("engine stream healthy")?;
        Some(expect_batch(command))
    }

    /// The next batch if one has arrived, without waiting (`Ready(None)`
    /// when the stream ended).
    pub fn try_next_batch(&mut self) -> Poll<Option<EngineBatch>> {
        ready_now(self.commands.message())
            .map(|command| command.expect("engine stream healthy").map(expect_batch))
    }

    /// The next batch if one arrives within `wait` (virtual time).
    pub async fn batch_within(&mut self, wait: Duration) -> Option<EngineBatch> {
        match tokio::time::timeout(wait, self.commands.message()).await {
            Ok(command) => command.expect("engine stream healthy").map(expect_batch),
            Err(_) => None,
        }
    }

    /// Answers every call of `batch` with `"engine: " + prompt`.
    pub async fn answer(&self, batch: &EngineBatch) {
        let replies = batch.calls.iter().map(engine_reply_to).collect();
        self.send_result(EngineBatchResult {
            batch_id: batch.batch_id,
            replies,
            ..Default::default()
        })
        .await;
    }

    /// Sends `replies` to some calls of `batch` ahead of the others
    /// (`EngineBatchResult.partial`).
    pub async fn answer_ahead(&self, batch: &EngineBatch, replies: Vec<EngineReply>) {
        self.send_result(EngineBatchResult {
            batch_id: batch.batch_id,
            replies,
            partial: true,
            ..Default::default()
        })
        .await;
    }

    /// Fails the whole of `batch` with an error of `type_name` and `message`.
    pub async fn fail(&self, batch: &EngineBatch, type_name: &str, message: &str) {
        self.send_result(EngineBatchResult {
            batch_id: batch.batch_id,
            replies: Vec::new(),
            batch_error: Some(ItemError {
                kind: ErrorKind::Engine as i32,
                r#type: type_name.to_string(),
                message: message.to_string(),
                traceback: String::new(),
            }),
            ..Default::default()
        })
        .await;
    }

    pub async fn send_result(&self, result: EngineBatchResult) {
        self.tx
            .send(EngineWorkerMessage {
                kind: Some(engine_worker_message::Kind::Result(result)),
            })
            .await
            .expect("engine request stream open");
    }

    /// Sends several results in one message (`EngineWorkerMessage.results`).
    pub async fn send_results(&self, results: Vec<EngineBatchResult>) {
        self.tx
            .send(EngineWorkerMessage {
                kind: Some(engine_worker_message::Kind::Results(EngineResults {
                    results,
                })),
            })
            .await
            .expect("engine request stream open");
    }
}

/// The fake engine's answer to `call`: `"engine: " + prompt`.
pub fn engine_reply_to(call: &EngineCall) -> EngineReply {
    EngineReply {
        call_id: call.call_id,
        outcome: Some(engine_reply::Outcome::Text(format!(
            "engine: {}",
            call.prompt
        ))),
        metadata_json: "{}".to_string(),
    }
}

fn expect_batch(command: EngineCommand) -> EngineBatch {
    match command.kind {
        Some(engine_command::Kind::Batch(batch)) => batch,
        other => panic!("expected an engine batch, got {other:?}"),
    }
}

// ------------------------------------------------------------------- job ---

/// A job driven by the test (`BatchService.Batch`).
pub struct JobClient {
    tx: Option<mpsc::Sender<BatchRequest>>,
    responses: Streaming<BatchResponse>,
    pub accepted: JobAccepted,
}

/// What a job returned: its results in arrival order and its summary.
#[derive(Debug)]
pub struct JobOutput {
    pub results: Vec<ItemResult>,
    pub summary: JobSummary,
}

/// A JobSpec for `expression` with `batch_size`; other fields default.
pub fn spec(expression: &str, batch_size: u32) -> JobSpec {
    JobSpec {
        expression: expression.to_string(),
        batch_size,
        ..Default::default()
    }
}

fn batch_req(kind: batch_request::Kind) -> BatchRequest {
    BatchRequest { kind: Some(kind) }
}

/// Opens `BatchService.Batch` with `first` as the first message; returns the
/// server's refusal as an error status.
pub async fn try_start_job_with(
    channel: &Channel,
    first: BatchRequest,
) -> Result<JobClient, Status> {
    let (tx, rx) = mpsc::channel(64);
    tx.send(first).await.expect("fresh channel");
    let mut responses = BatchServiceClient::new(channel.clone())
        .batch(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let first = within("JobAccepted", responses.message())
        .await?
        .expect("a first response");
    let accepted = match first.kind {
        Some(batch_response::Kind::Accepted(accepted)) => accepted,
        other => panic!("first response must be JobAccepted, got {other:?}"),
    };
    Ok(JobClient {
        tx: Some(tx),
        responses,
        accepted,
    })
}

pub async fn try_start_job(channel: &Channel, spec: JobSpec) -> Result<JobClient, Status> {
    try_start_job_with(channel, batch_req(batch_request::Kind::Spec(spec))).await
}

pub async fn start_job(channel: &Channel, spec: JobSpec) -> JobClient {
    try_start_job(channel, spec).await.expect("job accepted")
}

/// Items `0..n` with JSON string payloads `"item-<i>"`.
pub fn items(range: std::ops::Range<u64>) -> Vec<Item> {
    range
        .map(|index| Item {
            index,
            payload: format!("\"item-{index}\"").into_bytes(),
            local_only: false,
        })
        .collect()
}

impl JobClient {
    /// Sends any request on the job's stream.
    pub async fn send(&self, request: BatchRequest) {
        self.tx
            .as_ref()
            .expect("input still open")
            .send(request)
            .await
            .expect("job request stream open");
    }

    pub async fn send_items(&self, items: Vec<Item>) {
        self.tx
            .as_ref()
            .expect("input still open")
            .send(batch_req(batch_request::Kind::Items(ItemChunk { items })))
            .await
            .expect("job request stream open");
    }

    /// Sends EndOfInput and closes the request stream.
    pub async fn end(&mut self) {
        let tx = self.tx.take().expect("input still open");
        tx.send(batch_req(batch_request::Kind::End(EndOfInput {})))
            .await
            .expect("job request stream open");
    }

    /// The next response after JobAccepted (`Ok(None)` at end of stream).
    pub async fn next(&mut self) -> Result<Option<BatchResponse>, Status> {
        within("a job response", self.responses.message()).await
    }

    /// The next response if one has arrived, without waiting.
    pub fn try_next(&mut self) -> Poll<Result<Option<BatchResponse>, Status>> {
        ready_now(self.responses.message())
    }

    /// The next result chunk (panics on anything else).
    pub async fn next_results(&mut self) -> Vec<ItemResult> {
        let response = self
            .next()
            .await
            .expect("job stream healthy")
            .expect("job stream ended");
        match response.kind {
            Some(batch_response::Kind::Results(chunk)) => chunk.results,
            other => panic!("expected results, got {other:?}"),
        }
    }

    /// Reads results until the summary; fails with the status that ended
    /// the stream, if any. Checks that the summary is the last message.
    pub async fn collect(mut self) -> Result<JobOutput, Status> {
        let mut results = Vec::new();
        loop {
            let response = self.next().await?.expect("stream ended before the summary");
            match response.kind {
                Some(batch_response::Kind::Results(chunk)) => results.extend(chunk.results),
                Some(batch_response::Kind::Summary(summary)) => {
                    let after = self.next().await?;
                    assert!(after.is_none(), "message after the summary: {after:?}");
                    return Ok(JobOutput { results, summary });
                }
                other => panic!("unexpected job response {other:?}"),
            }
        }
    }
}

impl JobOutput {
    /// `(index, payload)` of every result, by index; panics on a failed item.
    pub fn payloads_by_index(&self) -> Vec<(u64, Vec<u8>)> {
        let mut payloads: Vec<(u64, Vec<u8>)> = self
            .results
            .iter()
            .map(|r| (r.index, result_payload(r).to_vec()))
            .collect();
        payloads.sort();
        payloads
    }
}

/// The payload bytes of a successful item result.
pub fn result_payload(result: &ItemResult) -> &[u8] {
    match result.outcome.as_ref().and_then(|o| o.value.as_ref()) {
        Some(outcome::Value::Payload(payload)) => payload,
        other => panic!("item {} did not succeed: {other:?}", result.index),
    }
}

// ------------------------------------------------------- engine job ---

/// Runs a job of one item per entry of `calls` on `engine`: a worker with a
/// slot per item makes one engine call per item (prompt, kwargs JSON) and
/// finishes the item when its reply arrives. Returns every call's reply by
/// item index, and the job's summary.
pub async fn run_engine_job(
    server: &TestServer,
    engine: &str,
    calls: &[(String, String)],
    batch_size: u32,
) -> (BTreeMap<u64, EngineReply>, JobSummary) {
    run_engine_job_as(server, "EngineJob", engine, calls, batch_size).await
}

/// Like [`run_engine_job`], for an expression (and worker) of its own named
/// `name`, so that several such jobs can run at once.
pub async fn run_engine_job_as(
    server: &TestServer,
    name: &str,
    engine: &str,
    calls: &[(String, String)],
    batch_size: u32,
) -> (BTreeMap<u64, EngineReply>, JobSummary) {
    run_engine_job_on(&server.channel, name, engine, calls, batch_size).await
}

/// Like [`run_engine_job_as`], on any channel to a server (e.g. a server
/// process).
pub async fn run_engine_job_on(
    channel: &Channel,
    name: &str,
    engine: &str,
    calls: &[(String, String)],
    batch_size: u32,
) -> (BTreeMap<u64, EngineReply>, JobSummary) {
    let calls: Vec<EngineCall> = calls
        .iter()
        .map(|(prompt, kwargs)| EngineCall {
            prompt: prompt.clone(),
            kwargs_json: kwargs.clone(),
            ..Default::default()
        })
        .collect();
    let (replies, out) = run_engine_calls_on(channel, name, engine, &calls, batch_size).await;
    (replies, out.summary)
}

/// Like [`run_engine_job_on`], for calls with messages (their `call_id`s
/// are set here), returning the job's whole output (results with their
/// usage, and the summary).
pub async fn run_engine_calls_on(
    channel: &Channel,
    name: &str,
    engine: &str,
    calls: &[EngineCall],
    batch_size: u32,
) -> (BTreeMap<u64, EngineReply>, JobOutput) {
    let spec = JobSpec {
        engine: engine.to_string(),
        ..spec("", batch_size)
    };
    run_job_calls_on(channel, name, spec, calls).await
}

/// Like [`run_engine_calls_on`], for a job of `spec` (its expression is
/// set here).
pub async fn run_job_calls_on(
    channel: &Channel,
    name: &str,
    spec: JobSpec,
    calls: &[EngineCall],
) -> (BTreeMap<u64, EngineReply>, JobOutput) {
    let n = calls.len();
    let expression = format!("tests.engine_job:{name}");
    let mut worker = connect_worker(channel, "engine-job", &[&expression], n as u32).await;
    let mut job = start_job(
        channel,
        JobSpec {
            expression: expression.clone(),
            ..spec
        },
    )
    .await;
    job.send_items(items(0..n as u64)).await;
    job.end().await;
    let tasks = worker.assignments(n).await;
    let task_of_call: BTreeMap<u64, (u64, u64)> = tasks
        .iter()
        .map(|t| (10_000 + t.index, (t.task_id, t.index)))
        .collect();
    let engine_calls = tasks
        .iter()
        .map(|t| WorkerEngineCall {
            task_id: t.task_id,
            call: Some(EngineCall {
                call_id: 10_000 + t.index,
                ..calls[t.index as usize].clone()
            }),
        })
        .collect();
    worker
        .send(worker_msg(worker_message::Kind::EngineCalls(
            WorkerEngineCallChunk {
                calls: engine_calls,
            },
        )))
        .await;
    let mut replies = BTreeMap::new();
    while replies.len() < n {
        let chunk = worker.next_replies().await;
        let results = chunk
            .iter()
            .map(|reply| {
                let (task_id, _) = task_of_call[&reply.call_id];
                ok_result(task_id, b"1")
            })
            .collect();
        for reply in chunk {
            let (_, index) = task_of_call[&reply.call_id];
            assert!(
                replies.insert(index, reply).is_none(),
                "two replies for item {index}"
            );
        }
        worker.send_results(results).await;
    }
    let out = job.collect().await.expect("job finishes");
    (replies, out)
}

/// Calls of `run_engine_job` with these prompts and no kwargs.
pub fn prompt_calls(texts: &[&str]) -> Vec<(String, String)> {
    texts
        .iter()
        .map(|t| (t.to_string(), String::new()))
        .collect()
}

/// The error of a failed engine reply.
pub fn reply_error(reply: &EngineReply) -> &ItemError {
    match &reply.outcome {
        Some(engine_reply::Outcome::Error(err)) => err,
        other => panic!("engine reply {} did not fail: {other:?}", reply.call_id),
    }
}

/// Reads replies until `n` arrived, checking that none repeats.
pub async fn replies_by_call(worker: &mut FakeWorker, n: usize) -> BTreeMap<u64, EngineReply> {
    let mut out = BTreeMap::new();
    while out.len() < n {
        for reply in worker.next_replies().await {
            let id = reply.call_id;
            assert!(out.insert(id, reply).is_none(), "second reply to call {id}");
        }
    }
    out
}
