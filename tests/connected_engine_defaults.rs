//! What a connected engine (an engine process on `EngineService.Serve`)
//! gets when it registers without limits: every batch as it forms, so that
//! batches in flight follow the worker slots calling it; an explicit
//! `max_concurrency` is kept exactly; and `cache_by_default` makes the call
//! cache (here: coalescing of identical calls in flight) the default of the
//! jobs on it.

mod common;

use std::time::Duration;

use common::*;
use symbatcher::pb::v1::{JobSpec, RegisterEngine};

const EXPR: &str = "tests.connected:Expr";
const ENGINE: &str = "py";
const SLOTS: u64 = 16;

/// A job of `SLOTS` items on `ENGINE`, all running in one worker's slots,
/// each making one call (batch size 1): the calls wait at the engine.
async fn every_slot_calls(server: &TestServer) -> (FakeWorker, JobClient) {
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], SLOTS as u32).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            engine: ENGINE.to_string(),
            ..spec(EXPR, 1)
        },
    )
    .await;
    job.send_items(items(0..SLOTS)).await;
    job.end().await;
    let tasks = worker.assignments(SLOTS as usize).await;
    let calls: Vec<(u64, u64, String)> = tasks
        .iter()
        .map(|t| (t.task_id, 100 + t.index, format!("prompt {}", t.index)))
        .collect();
    worker.send_calls(&calls).await;
    (worker, job)
}

#[tokio::test(start_paused = true)]
async fn without_max_concurrency_every_slots_batch_is_sent_at_once() {
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, ENGINE, None).await;
    let (_worker, _job) = every_slot_calls(&server).await;
    // None is answered, yet all 16 one-call batches arrive.
    for _ in 0..SLOTS {
        let batch = engine.next_batch().await.expect("a batch");
        assert_eq!(batch.calls.len(), 1);
    }
    let status = server.status().await;
    let py = status
        .engines
        .iter()
        .find(|e| e.name == ENGINE)
        .expect("py");
    assert_eq!(py.in_flight, SLOTS as u32);
}

#[tokio::test(start_paused = true)]
async fn a_max_concurrency_is_kept_exactly() {
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 3).await;
    let (_worker, _job) = every_slot_calls(&server).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(engine.next_batch().await.expect("a batch"));
    }
    assert!(
        engine.batch_within(Duration::from_secs(1)).await.is_none(),
        "a fourth batch while three are unanswered"
    );
    // One answered: one more may go.
    engine.answer(&held.remove(0)).await;
    assert!(engine.batch_within(Duration::from_secs(1)).await.is_some());
    assert!(engine.batch_within(Duration::from_secs(1)).await.is_none());
}

/// Connects an engine registered with `cache_by_default` as given.
async fn connect_engine_caching(server: &TestServer, cache_by_default: bool) -> FakeEngine {
    let register = RegisterEngine {
        name: ENGINE.to_string(),
        max_concurrency: None,
        cache_by_default,
        ..Default::default()
    };
    try_register_engine(&server.channel, register)
        .await
        .expect("registration accepted")
}

/// Two items make the same call at once; returns how many calls the
/// engine received for them.
async fn calls_sent_for_two_identical_calls(cache_by_default: bool) -> usize {
    let server = spawn_server(config()).await;
    let mut engine = connect_engine_caching(&server, cache_by_default).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 2).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            engine: ENGINE.to_string(),
            ..spec(EXPR, 2)
        },
    )
    .await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let tasks = worker.assignments(2).await;
    let same = "the same prompt".to_string();
    worker
        .send_calls(&[
            (tasks[0].task_id, 1, same.clone()),
            (tasks[1].task_id, 2, same.clone()),
        ])
        .await;
    let mut sent = 0;
    while let Some(batch) = engine.batch_within(Duration::from_millis(100)).await {
        sent += batch.calls.len();
        engine.answer(&batch).await;
    }
    // Both items are answered either way.
    let mut replies = 0;
    while replies < 2 {
        replies += worker.next_replies().await.len();
    }
    sent
}

#[tokio::test(start_paused = true)]
async fn cache_by_default_makes_the_call_cache_the_jobs_default() {
    assert_eq!(calls_sent_for_two_identical_calls(true).await, 1);
    assert_eq!(calls_sent_for_two_identical_calls(false).await, 2);
}
