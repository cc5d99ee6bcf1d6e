//! A native worker: one `WorkerService.Work` stream whose runs do no work of
//! their own. With `calls_per_run == 0` a run returns its result as soon as
//! it is assigned (a `forward()` that returns at once); otherwise each run
//! makes that many engine calls, one after the other, and returns when the
//! last is answered. Everything that arrives in one command is answered in
//! one `WorkerUpdate`, as the Python worker gathers its slots' output.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use symbatcher::pb::v1::worker_service_client::WorkerServiceClient;
use symbatcher::pb::v1::{
    engine_reply, outcome, worker_command, worker_message, EngineCall, EngineReply, Outcome,
    RegisterWorker, RunsStarted, WorkResult, WorkerEngineCall, WorkerMessage, WorkerUpdate,
};

use super::latency::Latencies;
use super::EXPRESSION;

/// Messages queued towards the server per worker; a few commands' worth of
/// answers, so the worker reads on while tonic writes.
const OUTBOX: usize = 64;

/// What a worker stream does.
#[derive(Debug, Clone)]
pub struct WorkerPlan {
    pub name: String,
    pub concurrency: u32,
    pub prefetch: u32,
    /// Engine calls each run makes in turn (0: it returns at once).
    pub calls_per_run: u32,
    /// How long a started run works before its first engine call (zero:
    /// it calls at once); sets the load below what the server could take.
    pub think: Duration,
}

/// What a worker saw, returned when its stream ends.
#[derive(Debug, Default)]
pub struct WorkerReport {
    pub runs: u64,
    pub calls: u64,
    /// Engine replies that were errors, not the echo engine's text.
    pub failed_calls: u64,
    /// Round trip of every engine call: sent to replied.
    pub latencies: Latencies,
}

/// A run waiting on its engine calls.
struct Run {
    task_id: u64,
    calls_left: u32,
}

/// What one turn (one command read) makes the worker send.
#[derive(Default)]
struct Turn {
    started: Vec<u64>,
    calls: Vec<WorkerEngineCall>,
    results: Vec<WorkResult>,
}

/// The worker's slots: queued runs, runs waiting on a call, what it saw.
#[derive(Default)]
struct Slots {
    /// Assigned, not started, in assignment order.
    queued: VecDeque<u64>,
    /// Runs started and not finished.
    running: u32,
    /// Started runs still working before their first call: when each
    /// calls, and its task id, soonest first.
    thinking: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Runs waiting on an engine call, by call id.
    waiting: HashMap<u64, Run>,
    sent_at: HashMap<u64, Instant>,
    next_call_id: u64,
    report: WorkerReport,
}

impl Slots {
    /// Starts queued runs while a slot is free; a run without engine calls
    /// finishes in the same turn.
    fn start_queued(&mut self, plan: &WorkerPlan, turn: &mut Turn) {
        while self.running < plan.concurrency {
            let Some(task_id) = self.queued.pop_front() else {
                return;
            };
            turn.started.push(task_id);
            self.report.runs += 1;
            if plan.calls_per_run == 0 {
                turn.results.push(done(task_id));
            } else if plan.think.is_zero() {
                self.running += 1;
                self.call(task_id, plan.calls_per_run - 1, Instant::now(), turn);
            } else {
                self.running += 1;
                let at = Instant::now() + think_time(plan.think, task_id);
                self.thinking.push(Reverse((at, task_id)));
            }
        }
    }

    /// When the next thinking run makes its first call.
    fn next_think_end(&self) -> Option<Instant> {
        self.thinking.peek().map(|&Reverse((at, _))| at)
    }

    /// Thinking runs whose time is up make their first call.
    fn thought(&mut self, plan: &WorkerPlan, turn: &mut Turn) {
        let now = Instant::now();
        while let Some(&Reverse((at, task_id))) = self.thinking.peek() {
            if at > now {
                return;
            }
            self.thinking.pop();
            self.call(task_id, plan.calls_per_run - 1, now, turn);
        }
    }

    fn call(&mut self, task_id: u64, calls_left: u32, now: Instant, turn: &mut Turn) {
        self.next_call_id += 1;
        let call_id = self.next_call_id;
        turn.calls.push(call(task_id, call_id));
        self.sent_at.insert(call_id, now);
        self.waiting.insert(
            call_id,
            Run {
                task_id,
                calls_left,
            },
        );
    }

    /// Each reply makes its run's next call, or finishes the run.
    fn replied(&mut self, replies: Vec<EngineReply>, turn: &mut Turn) {
        let now = Instant::now();
        for reply in replies {
            self.report.calls += 1;
            if let Some(at) = self.sent_at.remove(&reply.call_id) {
                self.report.latencies.record(now - at);
            }
            if !matches!(reply.outcome, Some(engine_reply::Outcome::Text(_))) {
                self.report.failed_calls += 1;
            }
            let Some(run) = self.waiting.remove(&reply.call_id) else {
                continue;
            };
            if run.calls_left == 0 {
                self.running -= 1;
                turn.results.push(done(run.task_id));
            } else {
                self.call(run.task_id, run.calls_left - 1, now, turn);
            }
        }
    }
}

/// How long run `task_id` works: spread evenly over 0.5 to 1.5 times
/// `mean` by its id (Fibonacci hashing), so that streams do not call in
/// step and their calls arrive spread over time, as independent clients'.
fn think_time(mean: Duration, task_id: u64) -> Duration {
    let spread = task_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) as f64 / u64::MAX as f64;
    mean.mul_f64(0.5 + spread)
}

/// A registered worker stream.
pub struct Worker {
    outbox: mpsc::Sender<WorkerMessage>,
    commands: tonic::Streaming<symbatcher::pb::v1::WorkerCommand>,
    plan: WorkerPlan,
}

fn message(kind: worker_message::Kind) -> WorkerMessage {
    WorkerMessage { kind: Some(kind) }
}

impl Worker {
    /// Opens the stream and registers for the benchmark's expression;
    /// returns once the server accepted.
    pub async fn connect(channel: Channel, plan: WorkerPlan) -> Result<Worker, tonic::Status> {
        Worker::register(channel, plan, EXPRESSION).await
    }

    async fn register(
        channel: Channel,
        plan: WorkerPlan,
        expression: &str,
    ) -> Result<Worker, tonic::Status> {
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let register = RegisterWorker {
            name: plan.name.clone(),
            expressions: vec![expression.to_string()],
            concurrency: plan.concurrency,
            prefetch: plan.prefetch,
            ..Default::default()
        };
        outbox
            .send(message(worker_message::Kind::Register(register)))
            .await
            .map_err(|_| tonic::Status::internal("fresh outbox closed"))?;
        let mut commands = WorkerServiceClient::new(channel)
            .work(ReceiverStream::new(rx))
            .await?
            .into_inner();
        match commands.message().await?.and_then(|c| c.kind) {
            Some(worker_command::Kind::Registered(_)) => Ok(Worker {
                outbox,
                commands,
                plan,
            }),
            other => Err(tonic::Status::internal(format!(
                "first worker command is not WorkerRegistered: {other:?}"
            ))),
        }
    }

    /// Serves runs until `stop` fires or the server ends the stream.
    pub async fn serve(mut self, mut stop: oneshot::Receiver<()>) -> WorkerReport {
        let mut slots = Slots::default();
        loop {
            let think_end = slots.next_think_end();
            let wake = tokio::time::sleep_until(think_end.unwrap_or_else(Instant::now).into());
            let command = tokio::select! {
                _ = &mut stop => break,
                _ = wake, if think_end.is_some() => {
                    let mut turn = Turn::default();
                    slots.thought(&self.plan, &mut turn);
                    self.flush(turn).await;
                    continue;
                }
                command = self.commands.message() => command,
            };
            let Ok(Some(command)) = command else { break };
            let mut turn = Turn::default();
            match command.kind {
                Some(worker_command::Kind::Assignments(chunk)) => slots
                    .queued
                    .extend(chunk.assignments.iter().map(|a| a.task_id)),
                Some(worker_command::Kind::Replies(chunk)) => {
                    slots.replied(chunk.replies, &mut turn)
                }
                _ => {}
            }
            slots.start_queued(&self.plan, &mut turn);
            self.flush(turn).await;
        }
        slots.report
    }

    /// Sends one turn's output in one `WorkerUpdate`, as the Python worker
    /// does: started runs, then engine calls, then results.
    async fn flush(&self, turn: Turn) {
        if turn.started.is_empty() && turn.calls.is_empty() && turn.results.is_empty() {
            return;
        }
        self.send(worker_message::Kind::Update(WorkerUpdate {
            started_task_ids: turn.started,
            calls: turn.calls,
            results: turn.results,
            // Sent within the turn its runs started in.
            started_ms_ago: Vec::new(),
        }))
        .await;
    }

    async fn send(&self, kind: worker_message::Kind) {
        // A closed outbox means the stream ended; the read loop sees it next.
        let _ = self.outbox.send(message(kind)).await;
    }
}

/// The expression of the pacer job (see [`pace`]).
pub const PACER_EXPRESSION: &str = "bench.capacity:Pacer";

/// Runs the pacer holds at most: it starts one per tick, so this many ticks
/// of pacing.
pub const PACER_RUNS: u32 = 4096;

/// A worker of the pacer job that starts one of its runs every `every` and
/// holds it unfinished. A run that started less than its job's
/// `max_queue_delay` ago may still make an engine call, so while the pacer
/// paces, the engine's calls are never all parked: each batch flushes on its
/// size or on its deadline, which is what the latency scenarios measure.
/// When `release` fires, it finishes every run it holds or is given until the
/// job finishes.
pub async fn pace(
    channel: Channel,
    every: std::time::Duration,
    mut release: oneshot::Receiver<()>,
) -> Result<tokio::task::JoinHandle<()>, tonic::Status> {
    let plan = WorkerPlan {
        name: "pacer".to_string(),
        concurrency: PACER_RUNS,
        prefetch: 0,
        calls_per_run: 0,
        think: Duration::ZERO,
    };
    let mut worker = Worker::register(channel, plan, PACER_EXPRESSION).await?;
    Ok(tokio::spawn(async move {
        let mut queued = VecDeque::new();
        let mut held = Vec::new();
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = &mut release => break,
                _ = tick.tick() => {
                    if let Some(task_id) = queued.pop_front() {
                        held.push(task_id);
                        let started = RunsStarted { task_ids: vec![task_id] };
                        worker.send(worker_message::Kind::Started(started)).await;
                    }
                }
                command = worker.commands.message() => match command {
                    Ok(Some(command)) => {
                        if let Some(worker_command::Kind::Assignments(chunk)) = command.kind {
                            queued.extend(chunk.assignments.iter().map(|a| a.task_id));
                        }
                    }
                    _ => return,
                },
            }
        }
        let mut turn = Turn {
            started: queued.iter().copied().collect(),
            ..Turn::default()
        };
        turn.results = held.iter().chain(&queued).map(|&t| done(t)).collect();
        worker.flush(turn).await;
        while let Ok(Some(command)) = worker.commands.message().await {
            match command.kind {
                Some(worker_command::Kind::Assignments(chunk)) => {
                    let ids: Vec<u64> = chunk.assignments.iter().map(|a| a.task_id).collect();
                    let turn = Turn {
                        results: ids.iter().map(|&t| done(t)).collect(),
                        started: ids,
                        ..Turn::default()
                    };
                    worker.flush(turn).await;
                }
                Some(worker_command::Kind::JobFinished(_)) => return,
                _ => {}
            }
        }
    }))
}

fn call(task_id: u64, call_id: u64) -> WorkerEngineCall {
    WorkerEngineCall {
        task_id,
        call: Some(EngineCall {
            call_id,
            prompt: "capacity".to_string(),
            messages_json: String::new(),
            kwargs_json: "{}".to_string(),
            ..Default::default()
        }),
    }
}

fn done(task_id: u64) -> WorkResult {
    WorkResult {
        task_id,
        outcome: Some(Outcome {
            value: Some(outcome::Value::Payload(b"\"ok\"".to_vec())),
            local_only: false,
        }),
    }
}
