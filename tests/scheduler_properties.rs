//! Property tests of the scheduler state machine, end to end: random
//! sequences of what clients, workers and an engine may do, played against
//! the real server on in-memory connections and a paused clock.
//!
//! A scenario has 2 or 3 jobs (batch_size 1..4, a few items, a queue delay,
//! maybe an item timeout, 1..3 attempts, submitted at the start or later) on
//! one engine process (the test's), 2 to 4 workers (concurrency 1..3,
//! prefetch 0..2) serving one or both of two expressions, and up to 40
//! actions: a worker starts its next run, a run makes an engine call or
//! returns, a worker acknowledges its cancelled runs, drains or disconnects,
//! a worker joins, a job is submitted, the engine answers or fails a batch, a
//! client cancels its job, time passes (a job's queue delay or item timeout).
//! Workers keep to docs/protocol.md (`common::protocol_worker`). Then the
//! jobs not yet submitted are, and everything left runs to completion:
//! workers start their runs, each makes an engine call if it has made none
//! and returns once answered, the engine answers every batch, and time
//! passes while nothing else can happen.
//!
//! Checked along the way and at the end:
//! - every item of every job not cancelled ends exactly once in its client's
//!   results (its own result, or a TimeoutError / WorkerLostError), and the
//!   summary counts them; no job ever gets an index twice;
//! - every engine call of a worker that stayed connected gets exactly one
//!   reply, its own (checked in `ProtocolWorker`), and `Cancelled` only after
//!   its run's CancelTasks;
//! - no batch at the engine is larger than the smallest batch_size of the
//!   jobs whose calls it holds;
//! - at the end, Status shows no job, no waiting call, no batch in flight,
//!   and every connected worker with nothing running, started or cancelling.
//!
//! Cases: 48 by default (a few seconds in `make test`), or `PROPTEST_CASES`:
//! `PROPTEST_CASES=5000 cargo test --release --locked --test scheduler_properties`.
//! A failure prints the shrunk scenario: its jobs, workers and actions.

mod common;

use std::collections::BTreeSet;
use std::task::Poll;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use common::protocol_worker::{job_of_prompt, result_payload_of, ProtocolWorker};
use common::*;
use symbatcher::pb::v1::{
    batch_response, outcome, EngineBatch, ErrorKind, ItemResult, JobSpec, JobSummary,
    RegisterWorker,
};

const DEFAULT_CASES: u32 = 48;
const ENGINE: &str = "props-engine";
const EXPRESSIONS: [&str; 2] = ["tests.props:A", "tests.props:B"];
/// Far beyond the time a scenario lets pass: no job fails for want of a
/// worker while all its workers are gone.
const WORKER_WAIT_MS: u32 = 3_600_000;
/// Rounds of the final run to completion before the test gives up.
const MAX_ROUNDS: usize = 400;

#[derive(Debug, Clone)]
struct JobPlan {
    expression: usize,
    batch_size: u32,
    items: u64,
    max_queue_delay_ms: u32,
    item_timeout_ms: Option<u32>,
    max_attempts: u32,
    /// Submitted by an action (or at the end), not at the start.
    late: bool,
}

#[derive(Debug, Clone)]
struct WorkerPlan {
    /// Indices into EXPRESSIONS.
    serves: Vec<usize>,
    concurrency: u32,
    prefetch: u32,
}

/// One step. Workers, runs, batches and jobs are picked by index modulo
/// those that exist when the step is played; a step with none is skipped.
#[derive(Debug, Clone)]
enum Action {
    Start {
        worker: usize,
    },
    Call {
        worker: usize,
        run: usize,
    },
    Finish {
        worker: usize,
        run: usize,
    },
    AckCancels {
        worker: usize,
    },
    Answer {
        batch: usize,
    },
    FailBatch {
        batch: usize,
    },
    Disconnect {
        worker: usize,
    },
    Drain {
        worker: usize,
    },
    Join(WorkerPlan),
    /// A job that starts late is submitted.
    Submit {
        job: usize,
    },
    Cancel {
        job: usize,
    },
    /// Time passes by the job's max_queue_delay.
    QueueDelay {
        job: usize,
    },
    /// Time passes by the job's item timeout (its queue delay if it has none).
    ItemTimeout {
        job: usize,
    },
}

#[derive(Debug, Clone)]
struct Scenario {
    engine_concurrency: u32,
    jobs: Vec<JobPlan>,
    workers: Vec<WorkerPlan>,
    actions: Vec<Action>,
}

fn job_plan() -> impl Strategy<Value = JobPlan> {
    (
        0..EXPRESSIONS.len(),
        1..=4u32,
        1..=6u64,
        5..=100u32,
        prop::option::of(100..=1_000u32),
        1..=3u32,
        prop::bool::weighted(0.25),
    )
        .prop_map(
            |(expression, batch_size, items, delay, item_timeout_ms, max_attempts, late)| JobPlan {
                expression,
                batch_size,
                items,
                max_queue_delay_ms: delay,
                item_timeout_ms,
                max_attempts,
                late,
            },
        )
}

fn worker_plan() -> impl Strategy<Value = WorkerPlan> {
    let serves = prop_oneof![Just(vec![0]), Just(vec![1]), Just(vec![0, 1])];
    (serves, 1..=3u32, 0..=2u32).prop_map(|(serves, concurrency, prefetch)| WorkerPlan {
        serves,
        concurrency,
        prefetch,
    })
}

fn action() -> impl Strategy<Value = Action> {
    let pick = || 0..8usize;
    prop_oneof![
        6 => pick().prop_map(|worker| Action::Start { worker }),
        6 => (pick(), pick()).prop_map(|(worker, run)| Action::Call { worker, run }),
        4 => (pick(), pick()).prop_map(|(worker, run)| Action::Finish { worker, run }),
        3 => pick().prop_map(|worker| Action::AckCancels { worker }),
        5 => pick().prop_map(|batch| Action::Answer { batch }),
        1 => pick().prop_map(|batch| Action::FailBatch { batch }),
        1 => pick().prop_map(|worker| Action::Disconnect { worker }),
        1 => pick().prop_map(|worker| Action::Drain { worker }),
        1 => worker_plan().prop_map(Action::Join),
        1 => pick().prop_map(|job| Action::Submit { job }),
        1 => pick().prop_map(|job| Action::Cancel { job }),
        2 => pick().prop_map(|job| Action::QueueDelay { job }),
        1 => pick().prop_map(|job| Action::ItemTimeout { job }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        1..=2u32,
        prop::collection::vec(job_plan(), 2..=3),
        prop::collection::vec(worker_plan(), 2..=4),
        prop::collection::vec(action(), 0..40),
    )
        .prop_map(|(engine_concurrency, jobs, workers, actions)| Scenario {
            engine_concurrency,
            jobs,
            workers,
            actions,
        })
}

/// `selector` modulo `len`, or None when there is nothing to pick.
fn pick(len: usize, selector: usize) -> Option<usize> {
    (len > 0).then(|| selector % len)
}

struct LiveWorker {
    plan: WorkerPlan,
    worker: ProtocolWorker,
}

struct JobState {
    plan: JobPlan,
    id: u64,
    client: Option<JobClient>,
    results: Vec<ItemResult>,
    summary: Option<JobSummary>,
    cancelled: bool,
}

impl JobState {
    fn is_open(&self) -> bool {
        !self.cancelled && self.summary.is_none()
    }

    /// Reads every response that has arrived.
    fn pump(&mut self) {
        while let Some(client) = self.client.as_mut() {
            let response = match client.try_next() {
                Poll::Pending => return,
                Poll::Ready(Err(status)) => panic!("job {} failed: {status:?}", self.id),
                Poll::Ready(Ok(None)) => {
                    assert!(
                        self.summary.is_some(),
                        "job {} ended without a summary",
                        self.id
                    );
                    self.client = None;
                    return;
                }
                Poll::Ready(Ok(Some(response))) => response,
            };
            assert!(
                self.summary.is_none(),
                "job {}: a response after the summary",
                self.id
            );
            match response.kind {
                Some(batch_response::Kind::Results(chunk)) => {
                    for result in chunk.results {
                        assert!(
                            self.results.iter().all(|r| r.index != result.index),
                            "job {}: item {} delivered twice",
                            self.id,
                            result.index
                        );
                        self.results.push(result);
                    }
                }
                Some(batch_response::Kind::Summary(summary)) => self.summary = Some(summary),
                other => panic!("job {}: unexpected response {other:?}", self.id),
            }
        }
    }

    /// The job's results: every item exactly once, each its own result or a
    /// timeout or lost-worker error, and a summary that counts them.
    fn check(&self) {
        let id = self.id;
        let summary = self.summary.as_ref().expect("the job finished");
        let indices: BTreeSet<u64> = self.results.iter().map(|r| r.index).collect();
        assert_eq!(self.results.len(), indices.len(), "job {id}: a duplicate");
        assert_eq!(indices, (0..self.plan.items).collect(), "job {id}: items");
        let mut failed = 0;
        for result in &self.results {
            match result.outcome.as_ref().and_then(|o| o.value.as_ref()) {
                Some(outcome::Value::Payload(payload)) => assert_eq!(
                    String::from_utf8_lossy(payload),
                    result_payload_of(id, result.index),
                    "job {id}: item {} has another run's result",
                    result.index
                ),
                Some(outcome::Value::Error(err)) => {
                    let kind = ErrorKind::try_from(err.kind);
                    assert!(
                        matches!(kind, Ok(ErrorKind::Timeout | ErrorKind::WorkerLost)),
                        "job {id}: item {} failed unexpectedly: {err:?}",
                        result.index
                    );
                    failed += 1;
                }
                None => panic!("job {id}: item {} has no outcome", result.index),
            }
        }
        assert_eq!(summary.items, self.plan.items, "job {id}: summary items");
        assert_eq!(summary.failed, failed, "job {id}: summary failed");
        assert_eq!(
            summary.succeeded,
            self.plan.items - failed,
            "job {id}: summary succeeded"
        );
    }
}

/// The server and everything connected to it.
struct World {
    server: TestServer,
    engine: FakeEngine,
    /// Batches at the engine, not answered yet.
    batches: Vec<EngineBatch>,
    workers: Vec<LiveWorker>,
    jobs: Vec<JobState>,
    /// Jobs not submitted yet.
    waiting: Vec<JobPlan>,
}

impl World {
    async fn start(scenario: &Scenario) -> World {
        let server = spawn_server(config()).await;
        let engine = connect_engine(&server.channel, ENGINE, scenario.engine_concurrency).await;
        let mut world = World {
            server,
            engine,
            batches: Vec::new(),
            workers: Vec::new(),
            jobs: Vec::new(),
            waiting: Vec::new(),
        };
        for plan in &scenario.workers {
            world.join(plan.clone()).await;
        }
        world.waiting = scenario.jobs.iter().filter(|p| p.late).cloned().collect();
        for plan in scenario.jobs.iter().filter(|p| !p.late) {
            world.submit(plan.clone()).await;
        }
        world.settle().await;
        world
    }

    /// A client submits a job with all its items and ends its input.
    async fn submit(&mut self, plan: JobPlan) {
        let mut client = start_job(
            &self.server.channel,
            JobSpec {
                engine: ENGINE.to_string(),
                max_queue_delay_ms: Some(plan.max_queue_delay_ms),
                item_timeout_ms: plan.item_timeout_ms,
                max_attempts: Some(plan.max_attempts),
                worker_wait_ms: Some(WORKER_WAIT_MS),
                ..spec(EXPRESSIONS[plan.expression], plan.batch_size)
            },
        )
        .await;
        client.send_items(items(0..plan.items)).await;
        client.end().await;
        self.jobs.push(JobState {
            id: client.accepted.job_id,
            plan,
            client: Some(client),
            results: Vec::new(),
            summary: None,
            cancelled: false,
        });
    }

    async fn join(&mut self, plan: WorkerPlan) {
        let register = RegisterWorker {
            name: format!("props-{}", self.workers.len()),
            expressions: plan.serves.iter().map(|&e| EXPRESSIONS[e].into()).collect(),
            concurrency: plan.concurrency,
            prefetch: plan.prefetch,
            ..Default::default()
        };
        let worker = try_connect_worker(&self.server.channel, register)
            .await
            .expect("worker registered");
        let worker = ProtocolWorker::new(worker, plan.concurrency, plan.prefetch);
        self.workers.push(LiveWorker { plan, worker });
    }

    /// Lets every task run until all wait (the paused clock then moves on by
    /// at most a millisecond), and reads what reached the test's ends.
    async fn settle(&mut self) {
        tokio::time::sleep(Duration::from_millis(1)).await;
        for live in &mut self.workers {
            let id = live.worker.worker.worker_id;
            assert!(
                live.worker.pump().await,
                "worker {id}: the server closed it"
            );
        }
        while let Poll::Ready(batch) = self.engine.try_next_batch() {
            let batch = batch.expect("the engine stays connected");
            self.check_batch(&batch);
            self.batches.push(batch);
        }
        for job in &mut self.jobs {
            job.pump();
        }
    }

    /// No batch is larger than the smallest batch_size of its calls' jobs.
    fn check_batch(&self, batch: &EngineBatch) {
        let jobs: BTreeSet<u64> = batch
            .calls
            .iter()
            .map(|c| job_of_prompt(&c.prompt))
            .collect();
        let limit = jobs
            .iter()
            .map(|id| self.plan_of(*id).batch_size)
            .min()
            .expect("a batch has calls");
        assert!(
            batch.calls.len() <= limit as usize,
            "a batch of {} calls of jobs {jobs:?}, whose smallest batch_size is {limit}",
            batch.calls.len()
        );
    }

    fn plan_of(&self, job_id: u64) -> &JobPlan {
        let job = self.jobs.iter().find(|j| j.id == job_id);
        &job.unwrap_or_else(|| panic!("a call of unknown job {job_id}"))
            .plan
    }

    fn worker(&mut self, selector: usize) -> Option<&mut ProtocolWorker> {
        let i = pick(self.workers.len(), selector)?;
        Some(&mut self.workers[i].worker)
    }

    async fn play(&mut self, action: &Action) {
        match action {
            Action::Start { worker } => {
                if let Some(w) = self.worker(*worker) {
                    w.start_next().await;
                }
            }
            Action::Call { worker, run } => {
                if let Some(w) = self.worker(*worker) {
                    let runs = w.live_runs();
                    if let Some(i) = pick(runs.len(), *run) {
                        w.call(runs[i]).await;
                    }
                }
            }
            Action::Finish { worker, run } => {
                if let Some(w) = self.worker(*worker) {
                    let runs = w.live_runs();
                    if let Some(i) = pick(runs.len(), *run) {
                        w.finish(runs[i]).await;
                    }
                }
            }
            Action::AckCancels { worker } => {
                if let Some(w) = self.worker(*worker) {
                    w.ack_cancels().await;
                }
            }
            Action::Answer { batch } => {
                if let Some(i) = pick(self.batches.len(), *batch) {
                    let batch = self.batches.remove(i);
                    self.engine.answer(&batch).await;
                }
            }
            Action::FailBatch { batch } => {
                if let Some(i) = pick(self.batches.len(), *batch) {
                    let batch = self.batches.remove(i);
                    self.engine
                        .fail(&batch, "EngineError", "failed by the test")
                        .await;
                }
            }
            Action::Disconnect { worker } => {
                if let Some(i) = pick(self.workers.len(), *worker) {
                    // Its calls still waiting are exempt: nobody reads them.
                    drop(self.workers.remove(i));
                }
            }
            Action::Drain { worker } => {
                if let Some(w) = self.worker(*worker) {
                    if !w.is_draining() {
                        w.drain().await;
                    }
                }
            }
            Action::Join(plan) => self.join(plan.clone()).await,
            Action::Submit { job } => {
                if let Some(i) = pick(self.waiting.len(), *job) {
                    let plan = self.waiting.remove(i);
                    self.submit(plan).await;
                }
            }
            Action::Cancel { job } => {
                let open: Vec<usize> = (0..self.jobs.len())
                    .filter(|&i| self.jobs[i].is_open())
                    .collect();
                if let Some(i) = pick(open.len(), *job) {
                    let job = &mut self.jobs[open[i]];
                    job.cancelled = true;
                    job.client = None;
                }
            }
            Action::QueueDelay { job } | Action::ItemTimeout { job } => {
                let Some(i) = pick(self.jobs.len(), *job) else {
                    return;
                };
                let plan = &self.jobs[i].plan;
                let ms = match (action, plan.item_timeout_ms) {
                    (Action::ItemTimeout { .. }, Some(timeout)) => timeout,
                    _ => plan.max_queue_delay_ms,
                };
                tokio::time::sleep(Duration::from_millis(ms.into())).await;
            }
        }
    }

    /// Whether nothing is left: every job finished or cancelled, every
    /// worker idle and none draining, no batch at the engine.
    fn quiet(&self) -> bool {
        self.jobs.iter().all(|j| !j.is_open())
            && self
                .workers
                .iter()
                .all(|w| w.worker.is_idle() && !w.worker.is_draining())
            && self.batches.is_empty()
    }

    /// Runs everything left to completion: workers acknowledge, start and
    /// finish runs (each run makes an engine call first, if it has not, and
    /// returns once its calls are answered), the engine
    /// answers every batch, draining workers that are done close, a worker
    /// joins for a job nobody serves, and time passes when nothing else can.
    async fn complete(&mut self) {
        for plan in std::mem::take(&mut self.waiting) {
            self.submit(plan).await;
        }
        for _ in 0..MAX_ROUNDS {
            self.settle().await;
            if self.quiet() {
                return;
            }
            let mut acted = self.serve_unserved().await;
            for live in &mut self.workers {
                let w = &mut live.worker;
                acted |= w.ack_cancels().await;
                while w.start_next().await {
                    acted = true;
                }
                for task_id in w.unparked_runs() {
                    if w.has_called(task_id) {
                        w.finish(task_id).await;
                    } else {
                        w.call(task_id).await;
                    }
                    acted = true;
                }
            }
            for batch in std::mem::take(&mut self.batches) {
                self.engine.answer(&batch).await;
                acted = true;
            }
            let before = self.workers.len();
            self.workers
                .retain(|w| !(w.worker.is_draining() && w.worker.is_idle()));
            acted |= self.workers.len() != before;
            if !acted {
                let longest = self.jobs.iter().map(|j| j.plan.max_queue_delay_ms).max();
                let ms = longest.unwrap_or(0) + 1;
                tokio::time::sleep(Duration::from_millis(ms.into())).await;
            }
        }
        let open: Vec<u64> = self
            .jobs
            .iter()
            .filter(|j| j.is_open())
            .map(|j| j.id)
            .collect();
        let workers: Vec<String> = self.workers.iter().map(|w| w.worker.describe()).collect();
        panic!(
            "not done after {MAX_ROUNDS} rounds: open jobs {open:?}, {} batches at the engine; \
             {workers:#?}; status {:?}",
            self.batches.len(),
            self.server.status().await
        );
    }

    /// Connects a worker for every expression that an open job needs and no
    /// connected, non-draining worker serves. Returns whether it did.
    async fn serve_unserved(&mut self) -> bool {
        let needed: BTreeSet<usize> = self
            .jobs
            .iter()
            .filter(|j| j.is_open())
            .map(|j| j.plan.expression)
            .filter(|e| {
                !self
                    .workers
                    .iter()
                    .any(|w| !w.worker.is_draining() && w.plan.serves.contains(e))
            })
            .collect();
        if needed.is_empty() {
            return false;
        }
        let plan = WorkerPlan {
            serves: needed.into_iter().collect(),
            concurrency: 2,
            prefetch: 1,
        };
        self.join(plan).await;
        true
    }

    /// The end state: the jobs' results, and the server's Status.
    async fn check(&self) {
        for job in self.jobs.iter().filter(|j| !j.cancelled) {
            job.check();
        }
        let status = self.server.status().await;
        assert!(status.jobs.is_empty(), "jobs left: {:?}", status.jobs);
        assert!(status.queues.is_empty(), "calls left: {:?}", status.queues);
        for engine in &status.engines {
            assert_eq!(engine.in_flight, 0, "batches left: {engine:?}");
        }
        let connected: BTreeSet<u64> = status.workers.iter().map(|w| w.worker_id).collect();
        let ours: BTreeSet<u64> = self
            .workers
            .iter()
            .map(|w| w.worker.worker.worker_id)
            .collect();
        assert_eq!(connected, ours, "connected workers");
        for worker in &status.workers {
            assert!(
                worker.running == 0 && worker.started == 0 && worker.cancelling == 0,
                "worker left busy: {worker:?}"
            );
        }
    }
}

fn run_case(scenario: &Scenario) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a test runtime");
    runtime.block_on(async {
        let mut world = World::start(scenario).await;
        for action in &scenario.actions {
            world.play(action).await;
            world.settle().await;
        }
        world.complete().await;
        world.check().await;
        let World {
            server,
            engine,
            workers,
            jobs,
            ..
        } = world;
        drop((engine, workers, jobs));
        server.shutdown().await.expect("clean shutdown");
    });
}

#[test]
fn scheduler_keeps_its_guarantees_under_any_interleaving() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&scenario(), |scenario| {
        run_case(&scenario);
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
}
