//! An engine process may answer a batch's calls one by one
//! (`EngineBatchResult.partial`): each reply reaches its worker at once, the
//! batch ends when every call is answered (or a whole result ends it), and
//! a failure or a disconnection afterwards touches only the calls not
//! answered yet. An engine that registers `answers_per_call` gets each call
//! at once, without waiting for its batch to fill.

mod common;

use std::time::Duration;

use common::*;
use symbatcher::pb::v1::{
    engine_reply, Assignment, EngineBatch, EngineBatchResult, ErrorKind, ItemError, JobSpec,
    JobSummary, RegisterEngine,
};

const EXPR: &str = "tests.engine_replies_ahead:Expr";
const ENGINE: &str = "py";

fn call_for(task: &Assignment) -> (u64, u64, String) {
    (
        task.task_id,
        100 + task.index,
        format!("prompt {}", task.index),
    )
}

/// A job of `n` items on the engine, each making one call, sent together
/// so that the engine gets them as one batch.
async fn one_batch(
    server: &TestServer,
    engine: &mut FakeEngine,
    worker: &mut FakeWorker,
    n: u64,
) -> (JobClient, Vec<Assignment>, EngineBatch) {
    let mut job = start_job(
        &server.channel,
        JobSpec {
            engine: ENGINE.to_string(),
            max_queue_delay_ms: Some(10_000),
            ..spec(EXPR, n as u32)
        },
    )
    .await;
    job.send_items(items(0..n)).await;
    job.end().await;
    let mut tasks = worker.assignments(n as usize).await;
    tasks.sort_by_key(|t| t.index);
    let calls: Vec<_> = tasks.iter().map(call_for).collect();
    worker.send_calls(&calls).await;
    let batch = engine.next_batch().await.expect("a batch");
    assert_eq!(batch.calls.len(), n as usize, "one batch of every call");
    (job, tasks, batch)
}

/// The worker's replies until `n` arrived, by call id (text or error message).
async fn replies(worker: &mut FakeWorker, n: usize) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        for reply in worker.next_replies().await {
            let text = match &reply.outcome {
                Some(engine_reply::Outcome::Text(text)) => text.clone(),
                Some(engine_reply::Outcome::Error(err)) => format!("error: {}", err.message),
                other => panic!("unexpected reply {other:?}"),
            };
            out.push((reply.call_id, text));
        }
    }
    out.sort();
    out
}

/// Every item of the job succeeds; its summary.
async fn finish(worker: &FakeWorker, job: JobClient, tasks: &[Assignment]) -> JobSummary {
    let results = tasks.iter().map(|t| ok_result(t.task_id, b"0")).collect();
    worker.send_results(results).await;
    job.collect().await.expect("the job succeeds").summary
}

async fn no_reply_within(worker: &mut FakeWorker, wait: Duration) {
    if let Ok(command) = tokio::time::timeout(wait, worker.next_replies()).await {
        panic!("no reply was due yet, got {command:?}");
    }
}

async fn engine_row(server: &TestServer) -> (u64, u64, u32) {
    let status = server.status().await;
    let py = status
        .engines
        .iter()
        .find(|e| e.name == ENGINE)
        .expect("listed");
    (py.batches, py.failed_batches, py.in_flight)
}

#[tokio::test(start_paused = true)]
async fn a_reply_sent_ahead_reaches_its_worker_before_the_batch_ends() {
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 4).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 3).await;
    let (job, tasks, batch) = one_batch(&server, &mut engine, &mut worker, 3).await;

    engine
        .answer_ahead(&batch, vec![engine_reply_to(&batch.calls[1])])
        .await;
    assert_eq!(
        replies(&mut worker, 1).await,
        vec![(101, "engine: prompt 1".into())]
    );
    no_reply_within(&mut worker, Duration::from_millis(500)).await;
    assert_eq!(
        engine_row(&server).await.2,
        1,
        "the batch is still in flight"
    );

    // The last two answered ahead, one of them twice and one call that is
    // not in the batch: the batch ends without a result of its own.
    let mut stray = engine_reply_to(&batch.calls[0]);
    stray.call_id = 999;
    let last = vec![
        engine_reply_to(&batch.calls[0]),
        engine_reply_to(&batch.calls[1]),
        engine_reply_to(&batch.calls[2]),
        stray,
    ];
    engine.answer_ahead(&batch, last).await;
    assert_eq!(
        replies(&mut worker, 2).await,
        vec![
            (100, "engine: prompt 0".into()),
            (102, "engine: prompt 2".into())
        ]
    );
    no_reply_within(&mut worker, Duration::from_millis(500)).await;
    assert_eq!(engine_row(&server).await, (1, 0, 0));

    let summary = finish(&worker, job, &tasks).await;
    assert_eq!(summary.succeeded, 3);
    assert_eq!(summary.engine_calls, 3);
    assert_eq!(summary.engine_batches, 1);
}

#[tokio::test(start_paused = true)]
async fn a_whole_result_after_replies_ahead_needs_only_the_others() {
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 4).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 2).await;
    let (job, tasks, batch) = one_batch(&server, &mut engine, &mut worker, 2).await;

    engine
        .answer_ahead(&batch, vec![engine_reply_to(&batch.calls[0])])
        .await;
    assert_eq!(replies(&mut worker, 1).await[0].0, 100);
    // The whole result holds call 101's reply only: that is complete.
    engine
        .send_result(EngineBatchResult {
            batch_id: batch.batch_id,
            replies: vec![engine_reply_to(&batch.calls[1])],
            ..Default::default()
        })
        .await;
    assert_eq!(
        replies(&mut worker, 1).await,
        vec![(101, "engine: prompt 1".into())]
    );
    assert_eq!(engine_row(&server).await, (1, 0, 0));
    assert_eq!(finish(&worker, job, &tasks).await.succeeded, 2);
}

#[tokio::test(start_paused = true)]
async fn a_batch_error_after_replies_ahead_fails_only_the_unanswered_calls() {
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 4).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 3).await;
    let (_job, _tasks, batch) = one_batch(&server, &mut engine, &mut worker, 3).await;

    engine
        .answer_ahead(&batch, vec![engine_reply_to(&batch.calls[0])])
        .await;
    assert_eq!(replies(&mut worker, 1).await[0].0, 100);
    engine
        .send_result(EngineBatchResult {
            batch_id: batch.batch_id,
            batch_error: Some(ItemError {
                kind: ErrorKind::Engine as i32,
                r#type: "Boom".into(),
                message: "the engine broke".into(),
                traceback: String::new(),
            }),
            partial: true,
            ..Default::default()
        })
        .await;
    assert_eq!(
        replies(&mut worker, 2).await,
        vec![
            (101, "error: the engine broke".into()),
            (102, "error: the engine broke".into())
        ]
    );
    no_reply_within(&mut worker, Duration::from_millis(500)).await;
    assert_eq!(engine_row(&server).await, (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn results_of_several_batches_in_one_message_each_reach_their_calls() {
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 4).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 2).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            engine: ENGINE.to_string(),
            max_queue_delay_ms: Some(10_000),
            ..spec(EXPR, 1)
        },
    )
    .await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let mut tasks = worker.assignments(2).await;
    tasks.sort_by_key(|t| t.index);
    worker.send_calls(&[call_for(&tasks[0])]).await;
    let first = engine.next_batch().await.expect("a batch");
    worker.send_calls(&[call_for(&tasks[1])]).await;
    let second = engine.next_batch().await.expect("a batch");
    assert_ne!(first.batch_id, second.batch_id);

    engine
        .send_results(vec![
            EngineBatchResult {
                batch_id: second.batch_id,
                replies: vec![engine_reply_to(&second.calls[0])],
                partial: true,
                ..Default::default()
            },
            EngineBatchResult {
                batch_id: first.batch_id,
                replies: vec![engine_reply_to(&first.calls[0])],
                ..Default::default()
            },
        ])
        .await;
    assert_eq!(
        replies(&mut worker, 2).await,
        vec![
            (100, "engine: prompt 0".into()),
            (101, "engine: prompt 1".into())
        ]
    );
    assert_eq!(engine_row(&server).await, (2, 0, 0));
    assert_eq!(finish(&worker, job, &tasks).await.succeeded, 2);
}

#[tokio::test(start_paused = true)]
async fn a_disconnection_after_replies_ahead_fails_only_the_unanswered_calls() {
    let mut config = config();
    config.guards.engine_reconnect_grace_ms = 0;
    let server = spawn_server(config).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 4).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 2).await;
    let (job, tasks, batch) = one_batch(&server, &mut engine, &mut worker, 2).await;

    engine
        .answer_ahead(&batch, vec![engine_reply_to(&batch.calls[1])])
        .await;
    assert_eq!(
        replies(&mut worker, 1).await,
        vec![(101, "engine: prompt 1".into())]
    );
    drop(engine);
    let failed = replies(&mut worker, 1).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, 100);
    assert!(failed[0].1.contains("disconnected"), "{failed:?}");
    no_reply_within(&mut worker, Duration::from_millis(500)).await;

    assert_eq!(finish(&worker, job, &tasks).await.engine_calls, 2);
}

/// Two running items, one of which has sent its call: with `answers_per_call`
/// the call leaves at once; without, it waits for the other item's call (or
/// the job's max_queue_delay) to fill its batch.
async fn first_call_leaves_at_once(answers_per_call: bool) -> bool {
    let server = spawn_server(config()).await;
    let register = RegisterEngine {
        name: ENGINE.to_string(),
        answers_per_call,
        ..Default::default()
    };
    let mut engine = try_register_engine(&server.channel, register)
        .await
        .expect("registered");
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 2).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            engine: ENGINE.to_string(),
            max_queue_delay_ms: Some(10_000),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let mut tasks = worker.assignments(2).await;
    tasks.sort_by_key(|t| t.index);
    worker.send_calls(&[call_for(&tasks[0])]).await;
    engine.batch_within(Duration::from_secs(5)).await.is_some()
}

#[tokio::test(start_paused = true)]
async fn an_engine_that_answers_per_call_gets_each_call_at_once() {
    assert!(first_call_leaves_at_once(true).await);
    assert!(!first_call_leaves_at_once(false).await);
}
