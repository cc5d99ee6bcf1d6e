//! Many items, many engine calls: every call is answered exactly once with
//! the right text, batches respect `batch_size`, every item's result reaches
//! the client exactly once, and the summary's counters add up.

mod common;

use std::collections::{BTreeMap, HashMap};

use tokio::task::JoinHandle;

use common::*;
use symbatcher::pb::v1::{worker_command, JobSpec, JobSummary};

const EXPR: &str = "tests.exactly_once:Expr";
const ITEMS: u64 = 200;
const CONCURRENCY: u32 = 16;
const BATCH_SIZE: u32 = 4;

/// Engine calls item `index` makes: 1 to 3.
fn calls_of(index: u64) -> u32 {
    1 + (index % 3) as u32
}

fn total_calls() -> u64 {
    (0..ITEMS).map(|i| calls_of(i) as u64).sum()
}

fn call_prompt(index: u64, call: u32) -> String {
    format!("item {index} call {call}")
}

/// The result the worker sends for `index`: its replies, joined.
fn expected_result(index: u64, reply_prefix: &str) -> String {
    (0..calls_of(index))
        .map(|c| format!("{reply_prefix}{}", call_prompt(index, c)))
        .collect::<Vec<_>>()
        .join("|")
}

/// One running item on the fake worker.
struct Run {
    index: u64,
    next_call: u32,
    replies: Vec<String>,
}

/// What the fake worker saw.
#[derive(Debug, Default)]
struct WorkerLog {
    assignments: u64,
    calls: u64,
    replies: u64,
    max_running: usize,
}

/// Runs a worker like a `forward()` that makes its calls one after the
/// other: each item sends a call, waits for its reply, sends the next, and
/// sends its result after the last reply. Every reply must answer an open
/// call of this worker with `reply_prefix + prompt`. Stops at JobFinished.
fn spawn_worker(mut worker: FakeWorker, reply_prefix: &'static str) -> JoinHandle<WorkerLog> {
    tokio::spawn(async move {
        let mut log = WorkerLog::default();
        let mut runs: HashMap<u64, Run> = HashMap::new();
        // Open calls: worker call id -> (task id, prompt).
        let mut open: HashMap<u64, (u64, String)> = HashMap::new();
        let mut next_call_id = 1u64;
        loop {
            let command = worker.next_command().await.expect("worker stream open");
            match command.kind {
                Some(worker_command::Kind::Assignments(chunk)) => {
                    let mut calls = Vec::new();
                    for a in chunk.assignments {
                        log.assignments += 1;
                        let prompt = call_prompt(a.index, 0);
                        open.insert(next_call_id, (a.task_id, prompt.clone()));
                        calls.push((a.task_id, next_call_id, prompt));
                        next_call_id += 1;
                        let run = Run {
                            index: a.index,
                            next_call: 1,
                            replies: Vec::new(),
                        };
                        assert!(runs.insert(a.task_id, run).is_none(), "task id reused");
                    }
                    log.calls += calls.len() as u64;
                    log.max_running = log.max_running.max(runs.len());
                    worker.send_calls(&calls).await;
                }
                Some(worker_command::Kind::Replies(chunk)) => {
                    let mut calls = Vec::new();
                    let mut results = Vec::new();
                    for reply in chunk.replies {
                        log.replies += 1;
                        let (task_id, prompt) = open.remove(&reply.call_id).unwrap_or_else(|| {
                            panic!("reply to a call that is not open: {reply:?}")
                        });
                        assert_eq!(reply_text(&reply), format!("{reply_prefix}{prompt}"));
                        let run = runs.get_mut(&task_id).expect("reply for a running task");
                        run.replies.push(reply_text(&reply).to_string());
                        if run.next_call < calls_of(run.index) {
                            let prompt = call_prompt(run.index, run.next_call);
                            run.next_call += 1;
                            open.insert(next_call_id, (task_id, prompt.clone()));
                            calls.push((task_id, next_call_id, prompt));
                            next_call_id += 1;
                        } else {
                            let run = runs.remove(&task_id).expect("present");
                            results.push(ok_result(task_id, run.replies.join("|").as_bytes()));
                        }
                    }
                    if !calls.is_empty() {
                        log.calls += calls.len() as u64;
                        worker.send_calls(&calls).await;
                    }
                    if !results.is_empty() {
                        worker.send_results(results).await;
                    }
                }
                Some(worker_command::Kind::Cancel(cancel)) => {
                    panic!("no task should be cancelled: {cancel:?}")
                }
                Some(worker_command::Kind::JobFinished(_)) => break,
                _ => {}
            }
        }
        assert!(runs.is_empty(), "job finished with runs open");
        assert!(open.is_empty(), "job finished with calls unanswered");
        log
    })
}

/// Runs the job over items `0..ITEMS` (sent in chunks of 50) and checks
/// every result and the summary; returns the summary.
async fn run_job(server: &TestServer, engine: &str, reply_prefix: &str) -> JobSummary {
    let mut job = start_job(
        &server.channel,
        JobSpec {
            engine: engine.to_string(),
            ..spec(EXPR, BATCH_SIZE)
        },
    )
    .await;
    for start in (0..ITEMS).step_by(50) {
        job.send_items(items(start..(start + 50).min(ITEMS))).await;
    }
    job.end().await;
    let out = job.collect().await.expect("job succeeds");

    let mut by_index: BTreeMap<u64, String> = BTreeMap::new();
    for result in &out.results {
        let payload = String::from_utf8(result_payload(result).to_vec()).expect("utf-8");
        let previous = by_index.insert(result.index, payload);
        assert!(previous.is_none(), "item {} answered twice", result.index);
    }
    assert_eq!(by_index.len() as u64, ITEMS, "one result per item");
    for (index, payload) in &by_index {
        assert!(*index < ITEMS);
        assert_eq!(
            *payload,
            expected_result(*index, reply_prefix),
            "item {index}"
        );
    }

    let s = &out.summary;
    assert_eq!(s.items, ITEMS);
    assert_eq!(s.succeeded, ITEMS);
    assert_eq!(s.failed, 0);
    assert_eq!(s.requeued, 0);
    assert_eq!(s.engine_calls, total_calls());
    assert!(s.mean_batch_size <= BATCH_SIZE as f64, "{s:?}");
    assert!(s.mean_batch_size >= 1.0, "{s:?}");
    // One job: its batches hold exactly its calls.
    let batched = s.mean_batch_size * s.engine_batches as f64;
    assert!((batched - s.engine_calls as f64).abs() < 1e-6, "{s:?}");
    assert!(
        s.engine_batches >= total_calls().div_ceil(BATCH_SIZE as u64),
        "{s:?}"
    );
    out.summary
}

#[tokio::test(start_paused = true)]
async fn every_call_and_item_is_answered_exactly_once_by_the_echo_engine() {
    let server = spawn_server(config()).await;
    let worker = connect_worker(&server.channel, "w", &[EXPR], CONCURRENCY).await;
    let worker = spawn_worker(worker, "echo: ");

    // The default engine is the built-in echo.
    let summary = run_job(&server, "", "echo: ").await;

    let log = within("the worker", worker)
        .await
        .expect("worker checks pass");
    assert_eq!(log.assignments, ITEMS, "no item ran twice");
    assert_eq!(log.calls, total_calls());
    assert_eq!(log.replies, total_calls());
    assert!(log.max_running <= CONCURRENCY as usize, "{log:?}");

    let status = server.status().await;
    let echo = status
        .engines
        .iter()
        .find(|e| e.name == "echo")
        .expect("echo engine listed");
    assert_eq!(echo.calls, total_calls());
    assert_eq!(echo.batches, summary.engine_batches);
    assert_eq!(echo.failed_batches, 0);
    assert_eq!(echo.in_flight, 0);
    assert!(
        status.jobs.is_empty(),
        "finished job still listed: {status:?}"
    );
    assert!(status.queues.iter().all(|q| q.waiting == 0), "{status:?}");
}

#[tokio::test(start_paused = true)]
async fn engine_batches_never_exceed_batch_size() {
    const ENGINE: &str = "observer";
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 2).await;
    let engine = tokio::spawn(async move {
        // Answers until every call of the job was seen; returns batch sizes.
        let mut sizes = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while (seen.len() as u64) < total_calls() {
            let batch = engine.next_batch().await.expect("engine stream open");
            for call in &batch.calls {
                assert!(
                    seen.insert(call.prompt.clone()),
                    "call sent twice: {call:?}"
                );
            }
            sizes.push(batch.calls.len());
            engine.answer(&batch).await;
        }
        (sizes, engine)
    });
    let worker = connect_worker(&server.channel, "w", &[EXPR], CONCURRENCY).await;
    let worker = spawn_worker(worker, "engine: ");

    let summary = run_job(&server, ENGINE, "engine: ").await;

    let log = within("the worker", worker)
        .await
        .expect("worker checks pass");
    assert_eq!(log.replies, total_calls());
    let (sizes, _engine) = within("the engine", engine)
        .await
        .expect("engine checks pass");
    assert!(
        sizes
            .iter()
            .all(|&n| (1..=BATCH_SIZE as usize).contains(&n)),
        "{sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>() as u64, total_calls());
    assert_eq!(sizes.len() as u64, summary.engine_batches);
    // Sixteen items call at once: full batches do form.
    assert_eq!(
        sizes.iter().max(),
        Some(&(BATCH_SIZE as usize)),
        "{sizes:?}"
    );
}
