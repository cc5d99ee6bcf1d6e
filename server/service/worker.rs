//! `WorkerService.Work`: a worker registers, then streams results, engine
//! calls and (when stopping) a drain; it receives assignments, engine replies
//! and cancels.

use std::pin::Pin;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::limits::{inbound_error, WorkerCommandStream};
use super::Edge;
use crate::config::MAX_WORKER_CONCURRENCY;
use crate::error::Error;
use crate::pb::v1::worker_service_server::WorkerService;
use crate::pb::v1::{worker_message, RegisterWorker, WorkerCommand, WorkerMessage, WorkerUpdate};
use crate::scheduler::{SchedulerCommand, SchedulerHandle, WorkerBacklog, STALL_AFTER_INTERVALS};

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

/// Checks a `RegisterWorker` message.
fn validate_register(register: &RegisterWorker) -> Result<(), Error> {
    if register.expressions.is_empty() {
        return Err(Error::invalid(
            "expressions",
            "must name at least one expression",
        ));
    }
    if let Some(pos) = register
        .expressions
        .iter()
        .position(|e| e.trim().is_empty())
    {
        return Err(Error::invalid(
            "expressions",
            format!("entry {pos} is empty"),
        ));
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
        let register = match inbound.message().await.map_err(inbound_error)? {
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
        validate_register(&register)?;
        // Bounded: a worker that does not read its stream is disconnected
        // when it is full (see `GuardFlags::worker_command_capacity`).
        let capacity = self
            .edge
            .config
            .guards
            .worker_command_capacity(register.concurrency as usize, register.prefetch as usize);
        let (command_tx, command_rx) = mpsc::channel(capacity);
        let backlog = WorkerBacklog::default();
        let (kick_tx, kick_rx) = oneshot::channel();
        let stall_after = stall_after(&register);
        let name = if register.name.is_empty() {
            "worker".to_string()
        } else {
            register.name
        };
        let worker_id = self
            .edge
            .scheduler
            .request(|reply| SchedulerCommand::RegisterWorker {
                name,
                expressions: register.expressions,
                concurrency: register.concurrency as usize,
                prefetch: register.prefetch as usize,
                process_token: register.process_token,
                replays: register.replays,
                command_tx,
                backlog: backlog.clone(),
                kick_tx,
                reply,
            })
            .await?;
        self.edge.tracker.spawn(worker_inbound_task(
            worker_id,
            inbound,
            stall_after,
            self.edge.scheduler.clone(),
            self.edge.cancel.clone(),
        ));
        let limit = self.edge.config.limits.max_message_bytes();
        let stream = WorkerCommandStream::new(command_rx, backlog, kick_rx, limit);
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The scheduler commands of a `WorkerUpdate`, in its order: started runs,
/// engine calls, results (none for an empty part).
fn update_commands(worker_id: u64, update: WorkerUpdate) -> Vec<SchedulerCommand> {
    let mut commands = Vec::with_capacity(3);
    if !update.started_task_ids.is_empty() {
        commands.push(SchedulerCommand::WorkerStarted {
            worker_id,
            task_ids: update.started_task_ids,
        });
    }
    if !update.calls.is_empty() {
        commands.push(SchedulerCommand::WorkerCalls {
            worker_id,
            calls: update.calls,
        });
    }
    if !update.results.is_empty() {
        commands.push(SchedulerCommand::WorkerResults {
            worker_id,
            results: update.results,
        });
    }
    commands
}

/// Forwards a worker's results and engine calls to the scheduler until the
/// worker disconnects; then reports it gone so its items are re-queued. A
/// worker that declared heartbeats and sends nothing for `stall_after` is
/// reported stalled, and resumed when it sends again.
async fn worker_inbound_task(
    worker_id: u64,
    mut inbound: Streaming<WorkerMessage>,
    stall_after: Option<Duration>,
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
                let command = SchedulerCommand::WorkerStalled { worker_id, silent };
                if scheduler.send(command).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if stalled && matches!(message, Ok(Some(_))) {
            stalled = false;
            let command = SchedulerCommand::WorkerResumed { worker_id };
            if scheduler.send(command).await.is_err() {
                return;
            }
        }
        let commands = match message {
            Ok(Some(WorkerMessage { kind: Some(kind) })) => match kind {
                worker_message::Kind::Update(update) => update_commands(worker_id, update),
                worker_message::Kind::Results(chunk) => vec![SchedulerCommand::WorkerResults {
                    worker_id,
                    results: chunk.results,
                }],
                worker_message::Kind::EngineCalls(chunk) => vec![SchedulerCommand::WorkerCalls {
                    worker_id,
                    calls: chunk.calls,
                }],
                worker_message::Kind::Started(started) => vec![SchedulerCommand::WorkerStarted {
                    worker_id,
                    task_ids: started.task_ids,
                }],
                worker_message::Kind::Drain(drain) => vec![SchedulerCommand::WorkerDrain {
                    worker_id,
                    unstarted: drain.unstarted_task_ids,
                }],
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
        for command in commands {
            if scheduler.send(command).await.is_err() {
                return;
            }
        }
    }
    let _ = scheduler
        .send(SchedulerCommand::WorkerGone { worker_id })
        .await;
}
