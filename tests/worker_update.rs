//! `WorkerUpdate`: a worker's started runs, engine calls and results in one
//! message, each part handled as its own message would be.

mod common;

use std::time::Duration;

use common::*;
use symbatcher::pb::v1::{
    worker_command, worker_message, Assignment, JobSpec, WorkerEngineCall, WorkerMessage,
    WorkerUpdate,
};

const EXPR: &str = "Updated";

/// A server, engine "e", a worker of 2 slots and a job of 2 items on "e"
/// (batch size 8, `max_queue_delay_ms` as given), both items assigned.
struct TwoRuns {
    server: TestServer,
    engine: FakeEngine,
    worker: FakeWorker,
    job: JobClient,
    tasks: Vec<Assignment>,
}

async fn two_runs(max_queue_delay_ms: Option<u32>) -> TwoRuns {
    let server = spawn_server(config()).await;
    let engine = connect_engine(&server.channel, "e", 1).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 2).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            engine: "e".into(),
            max_queue_delay_ms,
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let tasks = worker.assignments(2).await;
    TwoRuns {
        server,
        engine,
        worker,
        job,
        tasks,
    }
}

#[tokio::test(start_paused = true)]
async fn one_update_starts_runs_sends_their_calls_and_finishes_runs() {
    let TwoRuns {
        server,
        mut engine,
        mut worker,
        job,
        tasks,
    } = two_runs(None).await;
    let (calling, done) = (tasks[0].task_id, tasks[1].task_id);

    worker
        .send(WorkerMessage {
            kind: Some(worker_message::Kind::Update(WorkerUpdate {
                started_task_ids: vec![calling, done],
                calls: vec![WorkerEngineCall {
                    task_id: calling,
                    call: Some(engine_call(7, "asked in an update")),
                }],
                results: vec![ok_result(done, b"\"finished in an update\"")],
                ..Default::default()
            })),
        })
        .await;

    // The call reaches the engine (its run started and is parked on it,
    // the other run finished: all parked), and the finished run counts.
    let batch = engine.next_batch().await.expect("a batch");
    assert_eq!(batch.calls.len(), 1);
    assert_eq!(batch.calls[0].prompt, "asked in an update");
    let status = server.status().await;
    assert_eq!(status.jobs[0].completed, 1);
    assert_eq!(status.workers[0].started, 1, "{:?}", status.workers[0]);
    engine.answer(&batch).await;
    let reply = match worker.next_command().await.expect("stream open").kind {
        Some(worker_command::Kind::Replies(r)) => r.replies[0].clone(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(reply.call_id, 7);
    assert_eq!(reply_text(&reply), "engine: asked in an update");

    worker
        .send(WorkerMessage {
            kind: Some(worker_message::Kind::Update(WorkerUpdate {
                results: vec![ok_result(calling, b"\"answered\"")],
                ..Default::default()
            })),
        })
        .await;
    let out = job.collect().await.expect("the job finishes");
    let mut payloads = out.payloads_by_index();
    payloads.sort();
    assert_eq!(
        payloads,
        vec![
            (0, b"\"answered\"".to_vec()),
            (1, b"\"finished in an update\"".to_vec())
        ]
    );
}

/// Two runs of a job with a max_queue_delay of 1 s are assigned at `t0`;
/// 900 ms later one update starts both (the first `started_ms_ago` before
/// it) and carries the second's call. Returns how long after the update the
/// engine got the batch of that call: the first run, without a call, holds
/// the batch back until it is silent, 1 s after its start.
async fn batch_wait_after_update(started_ms_ago: Vec<u32>) -> Duration {
    let TwoRuns {
        server: _server,
        mut engine,
        worker,
        job: _job,
        tasks,
    } = two_runs(Some(1_000)).await;
    let (quiet, calling) = (tasks[0].task_id, tasks[1].task_id);
    tokio::time::sleep(Duration::from_millis(900)).await;

    let sent = tokio::time::Instant::now();
    worker
        .send(WorkerMessage {
            kind: Some(worker_message::Kind::Update(WorkerUpdate {
                started_task_ids: vec![quiet, calling],
                calls: vec![WorkerEngineCall {
                    task_id: calling,
                    call: Some(engine_call(7, "asked beside a quiet run")),
                }],
                started_ms_ago,
                ..Default::default()
            })),
        })
        .await;
    let batch = engine.next_batch().await.expect("a batch");
    assert_eq!(batch.calls.len(), 1, "{batch:?}");
    sent.elapsed()
}

/// Asserts that the batch left `after_ms` (within 50 ms) after the update.
async fn assert_batch_leaves_after(started_ms_ago: Vec<u32>, after_ms: u64) {
    let waited = batch_wait_after_update(started_ms_ago).await;
    let after = Duration::from_millis(after_ms);
    assert!(
        waited >= after && waited < after + Duration::from_millis(50),
        "the batch left {waited:?} after the update, not {after:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_started_before_its_update_is_silent_that_much_sooner() {
    // The quiet run started 800 ms before the update: silent 200 ms after it.
    assert_batch_leaves_after(vec![800, 0], 200).await;
}

#[tokio::test(start_paused = true)]
async fn a_start_is_never_counted_from_before_its_assignment() {
    // 5 s ago is before the run was assigned (900 ms before the update): its
    // start counts from the assignment, silent 100 ms after the update.
    assert_batch_leaves_after(vec![5_000, 0], 100).await;
}

#[tokio::test(start_paused = true)]
async fn an_update_without_start_times_starts_its_runs_when_it_arrives() {
    // An older worker sends no started_ms_ago: the quiet run started with
    // the update and holds the batch for the whole max_queue_delay.
    assert_batch_leaves_after(Vec::new(), 1_000).await;
}
