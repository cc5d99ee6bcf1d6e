//! An engine process that restarts: its calls wait for an engine to register
//! under the same name within `--engine-reconnect-grace-ms`. Waiting calls
//! stay queued, a batch in flight when it dropped is sent again to its
//! successor, and jobs naming it are accepted meanwhile; without a successor,
//! the calls fail with an engine error once the grace is over. Every call is
//! answered exactly once either way.

mod common;

use std::time::Duration;

use tokio::time::Instant;
use tonic::Code;

use common::*;
use symbatcher::pb::v1::{engine_reply, Assignment, ErrorKind, JobSpec};

const EXPR: &str = "tests.engine_restart:Expr";
const ENGINE: &str = "py";

fn call_for(task: &Assignment) -> (u64, u64, String) {
    (
        task.task_id,
        100 + task.index,
        format!("prompt {}", task.index),
    )
}

fn job_spec(batch_size: u32) -> JobSpec {
    JobSpec {
        engine: ENGINE.to_string(),
        max_queue_delay_ms: Some(10_000),
        ..spec(EXPR, batch_size)
    }
}

/// A job of `n` items on a worker with a slot each; returns its tasks by index.
async fn job_with_tasks(
    server: &TestServer,
    worker: &mut FakeWorker,
    n: u64,
) -> (JobClient, Vec<Assignment>) {
    let mut job = start_job(&server.channel, job_spec(2)).await;
    job.send_items(items(0..n)).await;
    job.end().await;
    let mut tasks = worker.assignments(n as usize).await;
    tasks.sort_by_key(|t| t.index);
    (job, tasks)
}

/// Items 0 and 1 make calls that leave as one batch, which the engine holds;
/// item 2's call waits behind it. Returns the batch's call prompts.
async fn calls_in_flight_and_waiting(
    server: &TestServer,
    engine: &mut FakeEngine,
    worker: &FakeWorker,
    tasks: &[Assignment],
) -> Vec<String> {
    worker
        .send_calls(&[call_for(&tasks[0]), call_for(&tasks[1])])
        .await;
    let batch = engine.next_batch().await.expect("a batch");
    worker.send_calls(&[call_for(&tasks[2])]).await;
    let waiting = server
        .status()
        .await
        .queues
        .iter()
        .map(|q| q.waiting)
        .sum::<u64>();
    assert_eq!(waiting, 1);
    batch.calls.iter().map(|c| c.prompt.clone()).collect()
}

/// Polls Status until the engine is listed as reconnecting with `waiting`
/// calls queued.
async fn until_reconnecting(server: &TestServer, waiting: u64) {
    within("the engine to be reconnecting", async {
        loop {
            let status = server.status().await;
            let reconnecting = status
                .engines
                .iter()
                .any(|e| e.name == ENGINE && e.reconnecting);
            if reconnecting && status.queues.iter().map(|q| q.waiting).sum::<u64>() == waiting {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn an_engine_that_registers_again_within_its_grace_answers_every_call() {
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 1).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 3).await;
    let (job, tasks) = job_with_tasks(&server, &mut worker, 3).await;
    let first_batch = calls_in_flight_and_waiting(&server, &mut engine, &worker, &tasks).await;
    assert_eq!(first_batch, ["prompt 0", "prompt 1"]);

    // The engine process restarts: it drops, and comes back 3 s later.
    drop(engine);
    // Its two calls in flight go back to the queue with the waiting one.
    until_reconnecting(&server, 3).await;
    // Meanwhile, jobs naming it are accepted.
    let other = try_start_job(&server.channel, job_spec(2)).await;
    assert!(other.is_ok(), "{:?}", other.err());
    drop(other);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut engine = connect_engine(&server.channel, ENGINE, 1).await;
    let mut prompts = Vec::new();
    while prompts.len() < 3 {
        let batch = engine
            .next_batch()
            .await
            .expect("a batch for the successor");
        prompts.extend(batch.calls.iter().map(|c| c.prompt.clone()));
        engine.answer(&batch).await;
    }
    prompts.sort();
    assert_eq!(prompts, ["prompt 0", "prompt 1", "prompt 2"]);

    let answered = replies_by_call(&mut worker, 3).await;
    assert_eq!(
        answered.keys().copied().collect::<Vec<_>>(),
        [100, 101, 102]
    );
    for (call_id, reply) in &answered {
        let index = call_id - 100;
        assert_eq!(reply_text(reply), format!("engine: prompt {index}"));
    }
    let status = server.status().await;
    let py = status
        .engines
        .iter()
        .find(|e| e.name == ENGINE)
        .expect("listed");
    assert!(!py.reconnecting);

    let results = tasks.iter().map(|t| ok_result(t.task_id, b"0")).collect();
    worker.send_results(results).await;
    let out = job.collect().await.expect("job succeeds");
    assert_eq!(out.summary.succeeded, 3);
    assert_eq!(out.summary.failed_engine_calls, 0);
}

#[tokio::test(start_paused = true)]
async fn without_a_successor_the_calls_fail_with_an_engine_error_after_the_grace() {
    let mut config = config();
    config.guards.engine_reconnect_grace_ms = 5_000;
    let server = spawn_server(config).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 1).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 3).await;
    let (job, tasks) = job_with_tasks(&server, &mut worker, 3).await;
    calls_in_flight_and_waiting(&server, &mut engine, &worker, &tasks).await;

    let dropped = Instant::now();
    drop(engine);
    let answered = replies_by_call(&mut worker, 3).await;
    let waited = dropped.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
        "the calls failed after {waited:?}, not after the 5 s grace"
    );
    assert_eq!(
        answered.keys().copied().collect::<Vec<_>>(),
        [100, 101, 102]
    );
    for reply in answered.values() {
        let Some(engine_reply::Outcome::Error(err)) = &reply.outcome else {
            panic!("call {} should have failed: {reply:?}", reply.call_id);
        };
        assert_eq!(err.kind, ErrorKind::Engine as i32, "{err:?}");
        assert!(err.message.contains("disconnected"), "{}", err.message);
    }

    // The name is gone: a later call fails at once, a new job is refused.
    worker
        .send_calls(&[(tasks[0].task_id, 200, "again".to_string())])
        .await;
    let again = replies_by_call(&mut worker, 1).await;
    assert_eq!(reply_error(&again[&200]).kind, ErrorKind::Engine as i32);
    let err = try_start_job(&server.channel, job_spec(2))
        .await
        .err()
        .expect("the engine is gone");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    let results = tasks.iter().map(|t| ok_result(t.task_id, b"0")).collect();
    worker.send_results(results).await;
    let out = job.collect().await.expect("the job itself succeeds");
    assert_eq!(out.summary.succeeded, 3);
}
