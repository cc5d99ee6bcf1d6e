//! Engines that fail: a batch error fails each call of the batch with the
//! engine's own message; with no reconnection grace, an engine process that
//! disconnects fails its in-flight and waiting calls at once and frees its
//! name (tests/engine_restart.rs covers the grace).

mod common;

use std::collections::BTreeMap;

use tonic::Code;

use common::*;
use symbatcher::pb::v1::{engine_reply, Assignment, EngineBatchResult, ErrorKind, JobSpec};

const EXPR: &str = "tests.engine_failures:Expr";
const ENGINE: &str = "py";

fn call_for(task: &Assignment) -> (u64, u64, String) {
    (
        task.task_id,
        100 + task.index,
        format!("prompt {}", task.index),
    )
}

/// Reads replies until `n` arrived; returns each call's error (type, message).
async fn expect_errors(worker: &mut FakeWorker, n: usize) -> BTreeMap<u64, (String, String)> {
    let mut errors = BTreeMap::new();
    while errors.len() < n {
        for reply in worker.next_replies().await {
            let err = match reply.outcome {
                Some(engine_reply::Outcome::Error(err)) => err,
                other => panic!("call {} should have failed: {other:?}", reply.call_id),
            };
            assert_eq!(err.kind, ErrorKind::Engine as i32, "{err:?}");
            let previous = errors.insert(reply.call_id, (err.r#type, err.message));
            assert!(previous.is_none(), "second reply to call {}", reply.call_id);
        }
    }
    errors
}

async fn job_with_tasks(
    server: &TestServer,
    worker: &mut FakeWorker,
    n: u64,
    batch_size: u32,
) -> (JobClient, Vec<Assignment>) {
    let mut job = start_job(
        &server.channel,
        JobSpec {
            engine: ENGINE.to_string(),
            max_queue_delay_ms: Some(10_000),
            ..spec(EXPR, batch_size)
        },
    )
    .await;
    job.send_items(items(0..n)).await;
    job.end().await;
    let mut tasks = worker.assignments(n as usize).await;
    tasks.sort_by_key(|t| t.index);
    (job, tasks)
}

#[tokio::test(start_paused = true)]
async fn a_failed_batch_fails_each_call_with_the_engines_message() {
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 1).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 2).await;
    let (job, tasks) = job_with_tasks(&server, &mut worker, 2, 8).await;
    let calls: Vec<_> = tasks.iter().map(call_for).collect();
    worker.send_calls(&calls).await;
    let batch = engine.next_batch().await.expect("a batch");
    assert_eq!(batch.calls.len(), 2);
    engine
        .fail(&batch, "RateLimitError", "slow down, please")
        .await;

    let errors = expect_errors(&mut worker, 2).await;
    assert_eq!(errors.keys().copied().collect::<Vec<_>>(), vec![100, 101]);
    for (type_name, message) in errors.values() {
        assert_eq!(type_name, "RateLimitError");
        assert_eq!(message, "slow down, please");
    }
    let status = server.status().await;
    let py = status
        .engines
        .iter()
        .find(|e| e.name == ENGINE)
        .expect("listed");
    assert_eq!((py.batches, py.failed_batches, py.in_flight), (1, 1, 0));

    let results = tasks.iter().map(|t| ok_result(t.task_id, b"0")).collect();
    worker.send_results(results).await;
    let out = job.collect().await.expect("the job itself succeeds");
    assert_eq!(out.summary.succeeded, 2);
    assert_eq!(out.summary.engine_batches, 1);
}

#[tokio::test(start_paused = true)]
async fn a_batch_answered_without_a_reply_for_every_call_fails() {
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 1).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 2).await;
    let (_job, tasks) = job_with_tasks(&server, &mut worker, 2, 8).await;
    let calls: Vec<_> = tasks.iter().map(call_for).collect();
    worker.send_calls(&calls).await;
    let batch = engine.next_batch().await.expect("a batch");
    assert_eq!(batch.calls.len(), 2);
    // Only the first call is answered.
    engine
        .send_result(EngineBatchResult {
            batch_id: batch.batch_id,
            replies: vec![engine_reply_to(&batch.calls[0])],
            ..Default::default()
        })
        .await;

    let errors = expect_errors(&mut worker, 2).await;
    for (_, message) in errors.values() {
        assert!(message.contains("no reply"), "{message}");
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_grace_a_disconnected_engine_fails_its_calls_and_frees_its_name() {
    let mut config = config();
    config.guards.engine_reconnect_grace_ms = 0;
    let server = spawn_server(config).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 1).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 3).await;
    let (job, tasks) = job_with_tasks(&server, &mut worker, 3, 2).await;
    // Items 0 and 1 fill a batch, which the engine holds; item 2's call
    // waits behind it (the engine's only slot is taken).
    worker
        .send_calls(&[call_for(&tasks[0]), call_for(&tasks[1])])
        .await;
    let batch = engine.next_batch().await.expect("a batch");
    assert_eq!(batch.calls.len(), 2);
    worker.send_calls(&[call_for(&tasks[2])]).await;
    let status = server.status().await;
    assert_eq!(
        status.queues.iter().map(|q| q.waiting).sum::<u64>(),
        1,
        "{status:?}"
    );

    drop(engine);
    let errors = expect_errors(&mut worker, 3).await;
    assert_eq!(
        errors.keys().copied().collect::<Vec<_>>(),
        vec![100, 101, 102]
    );
    for (_, message) in errors.values() {
        assert!(message.contains("disconnected"), "{message}");
    }

    // A later call of the job fails at once: its engine is gone.
    worker
        .send_calls(&[(tasks[0].task_id, 200, "again".to_string())])
        .await;
    let again = expect_errors(&mut worker, 1).await;
    assert!(again.contains_key(&200), "{again:?}");

    // New jobs cannot name it; its name can be registered again.
    let err = try_start_job(
        &server.channel,
        JobSpec {
            engine: ENGINE.to_string(),
            ..spec(EXPR, 2)
        },
    )
    .await
    .err()
    .expect("engine is gone");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(!server
        .status()
        .await
        .engines
        .iter()
        .any(|e| e.name == ENGINE));
    let _again = connect_engine(&server.channel, ENGINE, 1).await;

    let results = tasks.iter().map(|t| ok_result(t.task_id, b"0")).collect();
    worker.send_results(results).await;
    let out = job.collect().await.expect("job succeeds");
    assert_eq!(out.summary.succeeded, 3);
}
