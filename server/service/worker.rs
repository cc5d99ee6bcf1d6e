//! `WorkerService.Work`: a worker registers, then streams results, engine
//! calls and (when stopping) a drain; it receives assignments, engine replies
//! and cancels.

use std::pin::Pin;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::limits::inbound_error;
use super::worker_stream::WorkerCommandStream;
use super::Edge;
use crate::config::{names, MAX_WORKER_CONCURRENCY};
use crate::error::Error;
use crate::pb::v1::worker_service_server::WorkerService;
use crate::pb::v1::{
    engine_reply, worker_command, worker_message, EngineReply, EngineReplyChunk, ErrorKind,
    ItemError, RegisterWorker, WorkerCommand, WorkerEngineCall, WorkerMessage, WorkerUpdate,
};
use crate::scheduler::{NewWorker, SchedulerHandle, WorkerBacklog, STALL_AFTER_INTERVALS};

/// Accepted `RegisterWorker.heartbeat_interval_ms` (0: no heartbeats).
const HEARTBEAT_INTERVAL_MS: std::ops::RangeInclusive<u32> = 100..=60_000;

#[derive(Debug)]
pub struct WorkerApi {
    edge: Edge,
}

impl WorkerApi {
    pub fn new(edge: Edge) -> Self {
        WorkerApi { edge }
    }
}

/// Checks a `RegisterWorker` message, trimming its names.
fn validate_register(register: &mut RegisterWorker) -> Result<(), Error> {
    if register.expressions.is_empty() {
        return Err(Error::invalid(
            "expressions",
            "must name at least one expression",
        ));
    }
    for (pos, expression) in register.expressions.iter_mut().enumerate() {
        *expression = names::check_name(expression)
            .map_err(|reason| Error::invalid("expressions", format!("entry {pos} {reason}")))?;
    }
    if !register.name.trim().is_empty() {
        register.name =
            names::check_name(&register.name).map_err(|reason| Error::invalid("name", reason))?;
    }
    if !(1..=MAX_WORKER_CONCURRENCY).contains(&register.concurrency) {
        return Err(Error::invalid(
            "concurrency",
            format!(
                "must be between 1 and {MAX_WORKER_CONCURRENCY}, got {}",
                register.concurrency
            ),
        ));
    }
    if register.prefetch > MAX_WORKER_CONCURRENCY {
        return Err(Error::invalid(
            "prefetch",
            format!(
                "must be at most {MAX_WORKER_CONCURRENCY}, got {}",
                register.prefetch
            ),
        ));
    }
    let interval = register.heartbeat_interval_ms;
    if interval != 0 && !HEARTBEAT_INTERVAL_MS.contains(&interval) {
        return Err(Error::invalid(
            "heartbeat_interval_ms",
            format!(
                "must be 0 (no heartbeats) or between {} and {}, got {interval}",
                HEARTBEAT_INTERVAL_MS.start(),
                HEARTBEAT_INTERVAL_MS.end()
            ),
        ));
    }
    Ok(())
}

/// How long a worker that declared heartbeats may send nothing before it is
/// stalled; None without heartbeats.
fn stall_after(register: &RegisterWorker) -> Option<Duration> {
    (register.heartbeat_interval_ms > 0).then(|| {
        Duration::from_millis(u64::from(register.heartbeat_interval_ms)) * STALL_AFTER_INTERVALS
    })
}

#[tonic::async_trait]
impl WorkerService for WorkerApi {
    type WorkStream = Pin<Box<dyn Stream<Item = Result<WorkerCommand, Status>> + Send>>;

    async fn work(
        &self,
        request: Request<Streaming<WorkerMessage>>,
    ) -> Result<Response<Self::WorkStream>, Status> {
        let mut inbound = request.into_inner();
        let mut register = match inbound.message().await.map_err(inbound_error)? {
            Some(WorkerMessage {
                kind: Some(worker_message::Kind::Register(register)),
            }) => register,
            _ => {
                return Err(Error::Protocol(
                    "the first WorkerMessage must be RegisterWorker".into(),
                )
                .into())
            }
        };
        validate_register(&mut register)?;
        // Bounded: a worker that does not read its stream is disconnected
        // when it is full (see `GuardFlags::worker_command_capacity`).
        let capacity = self
            .edge
            .config
            .guards
            .worker_command_capacity(register.concurrency as usize, register.prefetch as usize);
        let (command_tx, command_rx) = mpsc::channel(capacity);
        // The edge answers calls it refuses on the same stream.
        let refusals_tx = command_tx.clone();
        let backlog = WorkerBacklog::default();
        let (kick_tx, kick_rx) = oneshot::channel();
        let stall_after = stall_after(&register);
        let name = if register.name.trim().is_empty() {
            "worker".to_string()
        } else {
            register.name
        };
        let worker_id = self
            .edge
            .scheduler
            .register_worker(NewWorker {
                name,
                expressions: register.expressions,
                concurrency: register.concurrency as usize,
                prefetch: register.prefetch as usize,
                process_token: register.process_token,
                replays: register.replays,
                command_tx,
                backlog: backlog.clone(),
                kick_tx,
            })
            .await?;
        self.edge.tracker.spawn(worker_inbound_task(
            worker_id,
            inbound,
            stall_after,
            refusals_tx,
            self.edge.scheduler.clone(),
            self.edge.cancel.clone(),
        ));
        let limit = self.edge.config.limits.max_message_bytes();
        let stream = WorkerCommandStream::new(command_rx, backlog, kick_rx, limit);
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Splits `calls` into those the scheduler gets and the error replies to
/// those whose `kwargs_json` nests deeper than the limit: such a call fails
/// alone, at once, and its run goes on.
fn refuse_deep_calls(calls: Vec<WorkerEngineCall>) -> (Vec<WorkerEngineCall>, Vec<EngineReply>) {
    let mut kept = Vec::with_capacity(calls.len());
    let mut refused = Vec::new();
    for call in calls {
        let kwargs = call.call.as_ref().map_or("", |c| c.kwargs_json.as_str());
        match names::check_kwargs_depth(kwargs) {
            Ok(()) => kept.push(call),
            Err(reason) => refused.push(EngineReply {
                call_id: call.call.as_ref().map_or(0, |c| c.call_id),
                outcome: Some(engine_reply::Outcome::Error(ItemError {
                    kind: ErrorKind::Encoding as i32,
                    r#type: "EncodingError".to_string(),
                    message: format!("kwargs_json: {reason}"),
                    traceback: String::new(),
                })),
                metadata_json: String::new(),
            }),
        }
    }
    (kept, refused)
}

/// Each started run with how long before its message its slot started it
/// (`WorkerUpdate.started_ms_ago`, in the same order; 0 where it is short).
fn run_starts(task_ids: Vec<u64>, ms_ago: &[u32]) -> Vec<(u64, Duration)> {
    let ago = ms_ago
        .iter()
        .map(|&ms| Duration::from_millis(u64::from(ms)));
    let zeros = std::iter::repeat(Duration::ZERO);
    task_ids.into_iter().zip(ago.chain(zeros)).collect()
}

/// Hands the parts of a `WorkerUpdate` to the scheduler, in its order:
/// started runs, engine calls, results (none for an empty part). False
/// when the scheduler or the worker's stream is gone.
async fn forward_update(
    worker_id: u64,
    update: WorkerUpdate,
    refusals_tx: &mpsc::Sender<WorkerCommand>,
    scheduler: &SchedulerHandle,
) -> bool {
    if !update.started_task_ids.is_empty()
        && scheduler
            .worker_started(
                worker_id,
                run_starts(update.started_task_ids, &update.started_ms_ago),
            )
            .await
            .is_err()
    {
        return false;
    }
    if !update.calls.is_empty()
        && !forward_calls(worker_id, update.calls, refusals_tx, scheduler).await
    {
        return false;
    }
    if !update.results.is_empty()
        && scheduler
            .worker_results(worker_id, update.results)
            .await
            .is_err()
    {
        return false;
    }
    true
}

/// Answers the calls nested too deep at once, on the worker's stream, and
/// hands the others to the scheduler. False when the scheduler or the
/// worker's stream is gone.
async fn forward_calls(
    worker_id: u64,
    calls: Vec<WorkerEngineCall>,
    refusals_tx: &mpsc::Sender<WorkerCommand>,
    scheduler: &SchedulerHandle,
) -> bool {
    let (calls, refused) = refuse_deep_calls(calls);
    if !refused.is_empty() {
        let replies = WorkerCommand {
            kind: Some(worker_command::Kind::Replies(EngineReplyChunk {
                replies: refused,
            })),
        };
        if refusals_tx.send(replies).await.is_err() {
            return false;
        }
    }
    calls.is_empty() || scheduler.worker_calls(worker_id, calls).await.is_ok()
}

/// Forwards a worker's results and engine calls to the scheduler until the
/// worker disconnects; then reports it gone so its items are re-queued. A
/// worker that declared heartbeats and sends nothing for `stall_after` is
/// reported stalled, and resumed when it sends again.
async fn worker_inbound_task(
    worker_id: u64,
    mut inbound: Streaming<WorkerMessage>,
    stall_after: Option<Duration>,
    refusals_tx: mpsc::Sender<WorkerCommand>,
    scheduler: SchedulerHandle,
    cancel: tokio_util::sync::CancellationToken,
) {
    let mut stalled = false;
    loop {
        let silence = async {
            match stall_after {
                Some(after) if !stalled => tokio::time::sleep(after).await,
                _ => std::future::pending().await,
            }
        };
        let message = tokio::select! {
            _ = cancel.cancelled() => return,
            message = inbound.message() => message,
            () = silence => {
                stalled = true;
                let silent = stall_after.unwrap_or_default();
                if scheduler.worker_stalled(worker_id, silent).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if stalled && matches!(message, Ok(Some(_))) {
            stalled = false;
            if scheduler.worker_resumed(worker_id).await.is_err() {
                return;
            }
        }
        let forwarded = match message {
            Ok(Some(WorkerMessage { kind: Some(kind) })) => match kind {
                worker_message::Kind::Update(update) => {
                    forward_update(worker_id, update, &refusals_tx, &scheduler).await
                }
                worker_message::Kind::Results(chunk) => scheduler
                    .worker_results(worker_id, chunk.results)
                    .await
                    .is_ok(),
                worker_message::Kind::EngineCalls(chunk) => {
                    forward_calls(worker_id, chunk.calls, &refusals_tx, &scheduler).await
                }
                worker_message::Kind::Started(started) => scheduler
                    .worker_started(worker_id, run_starts(started.task_ids, &[]))
                    .await
                    .is_ok(),
                worker_message::Kind::Drain(drain) => scheduler
                    .worker_drain(worker_id, drain.unstarted_task_ids)
                    .await
                    .is_ok(),
                // Its arrival was the point (it restarted the stall timer).
                worker_message::Kind::Heartbeat(_) => continue,
                worker_message::Kind::Register(_) => {
                    tracing::warn!(worker_id, "ignoring a second RegisterWorker");
                    continue;
                }
            },
            Ok(Some(WorkerMessage { kind: None })) => continue,
            Ok(None) => break,
            Err(status) => {
                tracing::debug!(worker_id, %status, "worker stream ended");
                break;
            }
        };
        if !forwarded {
            return;
        }
    }
    let _ = scheduler.worker_gone(worker_id).await;
}
