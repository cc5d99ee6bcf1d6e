//! Deadlines from assignment and stalled workers, on a paused clock: a run
//! whose worker never reports it started times out at its assignment plus
//! the item timeout plus the 1 s start grace; a worker that declared
//! heartbeats and goes silent for four intervals loses its runs to other
//! workers (its late results are dropped), and the items it held keep their
//! deadlines wherever they run next.

mod common;

use std::time::Duration;

use common::*;
use symbatcher::pb::v1::{
    outcome, worker_message, ErrorKind, Heartbeat, ItemError, ItemResult, JobSpec, RegisterWorker,
    WorkerMessage,
};

const EXPR: &str = "tests.stall:Expr";
/// Stalled after four intervals: 400 ms.
const HEARTBEAT_MS: u32 = 100;

fn register(name: &str, concurrency: u32, heartbeat_interval_ms: u32) -> RegisterWorker {
    RegisterWorker {
        name: name.into(),
        expressions: vec![EXPR.into()],
        concurrency,
        heartbeat_interval_ms,
        ..Default::default()
    }
}

fn error_of(result: &ItemResult) -> Option<ItemError> {
    match result.outcome.as_ref()?.value.as_ref()? {
        outcome::Value::Error(error) => Some(error.clone()),
        _ => None,
    }
}

fn sorted(mut results: Vec<ItemResult>) -> Vec<ItemResult> {
    results.sort_by_key(|r| r.index);
    results
}

#[tokio::test(start_paused = true)]
async fn a_run_never_reported_started_times_out_from_its_assignment() {
    let server = spawn_server(config()).await;
    let mut worker = try_connect_worker(&server.channel, register("silent-starts", 1, 0))
        .await
        .expect("registered");
    let mut job = start_job(
        &server.channel,
        JobSpec {
            item_timeout_ms: Some(1_000),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..1)).await;
    job.end().await;
    let tasks = worker.assignments(1).await;
    // Timeout plus start grace: nothing before 2 s.
    tokio::time::sleep(Duration::from_millis(1_990)).await;
    assert_eq!(server.status().await.jobs[0].completed, 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The worker is told to cancel it; its acknowledgement is not a result.
    while !worker.cancelled.contains(&tasks[0].task_id) {
        worker.next_command().await.expect("stream open");
    }
    worker
        .send_results(vec![ok_result(tasks[0].task_id, b"\"late\"")])
        .await;
    let out = job.collect().await.expect("the job finishes");
    let error = error_of(&out.results[0]).expect("item 0 failed");
    assert_eq!(error.kind, ErrorKind::Timeout as i32);
    assert!(
        error.message.contains("reporting it started"),
        "{}",
        error.message
    );
    assert_eq!((out.summary.succeeded, out.summary.failed), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_run_queued_behind_a_busy_slot_waits_past_its_assignment_deadline() {
    let server = spawn_server(config()).await;
    let mut worker = try_connect_worker(
        &server.channel,
        RegisterWorker {
            prefetch: 1,
            ..register("busy", 1, 0)
        },
    )
    .await
    .expect("registered");
    let mut job = start_job(
        &server.channel,
        JobSpec {
            item_timeout_ms: Some(1_000),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let tasks = worker.assignments(2).await;
    // The first run starts late (its deadline: 1.5 + 1 s); the second waits
    // in the worker behind it past its own assignment deadline (2 s).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    worker.start(&tasks[..1]).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(server.status().await.jobs[0].completed, 0);
    worker
        .send_results(vec![ok_result(tasks[0].task_id, b"\"first\"")])
        .await;
    worker.start(&tasks[1..]).await;
    worker
        .send_results(vec![ok_result(tasks[1].task_id, b"\"second\"")])
        .await;
    let out = job.collect().await.expect("the job finishes");
    assert_eq!((out.summary.succeeded, out.summary.failed), (2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_silent_worker_loses_its_runs_and_its_late_results_are_dropped() {
    let server = spawn_server(config()).await;
    let mut stalled = try_connect_worker(&server.channel, register("stalls", 2, HEARTBEAT_MS))
        .await
        .expect("registered");
    let mut job = start_job(&server.channel, spec(EXPR, 8)).await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let held = stalled.assignments(2).await;
    stalled.start(&held[..1]).await;
    // Silent from here: stalled 400 ms after its last message.
    tokio::time::sleep(Duration::from_millis(450)).await;
    let status = server.status().await;
    assert_eq!(status.workers[0].running, 0, "{status:?}");
    assert_eq!(status.workers[0].cancelling, 2, "{status:?}");
    let mut healthy = connect_worker(&server.channel, "healthy", &[EXPR], 2).await;
    let moved = healthy.assignments(2).await;
    let mut indices: Vec<u64> = moved.iter().map(|a| a.index).collect();
    indices.sort_unstable();
    assert_eq!(indices, vec![0, 1]);
    // The stalled worker comes back and sends what it had: only the
    // acknowledgements of its cancelled runs.
    stalled
        .send(WorkerMessage {
            kind: Some(worker_message::Kind::Heartbeat(Heartbeat {})),
        })
        .await;
    while stalled.cancelled.len() < 2 {
        stalled.next_command().await.expect("stream open");
    }
    stalled
        .send_results(
            held.iter()
                .map(|a| ok_result(a.task_id, b"\"stale\""))
                .collect(),
        )
        .await;
    healthy.start(&moved).await;
    healthy
        .send_results(
            moved
                .iter()
                .map(|a| ok_result(a.task_id, b"\"fresh\""))
                .collect(),
        )
        .await;
    let out = job.collect().await.expect("the job finishes");
    assert_eq!(out.results.len(), 2, "each item exactly once");
    for result in &out.results {
        assert_eq!(result_payload(result), b"\"fresh\"");
    }
    assert_eq!(out.summary.requeued, 2);
    assert_eq!(server.status().await.workers.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_started_run_of_a_stalled_worker_is_charged_when_its_job_has_no_timeout() {
    let server = spawn_server(config()).await;
    let mut stalled = try_connect_worker(&server.channel, register("stalls", 2, HEARTBEAT_MS))
        .await
        .expect("registered");
    let mut job = start_job(
        &server.channel,
        JobSpec {
            max_attempts: Some(1),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let held = stalled.assignments(2).await;
    stalled.start(&held[..1]).await;
    tokio::time::sleep(Duration::from_millis(450)).await;
    let mut healthy = connect_worker(&server.channel, "healthy", &[EXPR], 2).await;
    let moved = healthy.assignments(1).await;
    assert_eq!(
        moved[0].index, held[1].index,
        "the unstarted run moves, uncharged"
    );
    healthy.start(&moved).await;
    healthy
        .send_results(vec![ok_result(moved[0].task_id, b"\"fresh\"")])
        .await;
    let out = sorted(job.collect().await.expect("the job finishes").results);
    let started = out
        .iter()
        .find(|r| r.index == held[0].index)
        .expect("a result");
    let error = error_of(started).expect("the started run failed");
    assert_eq!(error.kind, ErrorKind::WorkerLost as i32);
    assert!(error.message.contains("stalled"), "{}", error.message);
}

#[tokio::test(start_paused = true)]
async fn items_moved_off_a_stalled_worker_keep_their_deadline() {
    let server = spawn_server(config()).await;
    let mut stalled = try_connect_worker(&server.channel, register("stalls", 1, HEARTBEAT_MS))
        .await
        .expect("registered");
    let mut job = start_job(
        &server.channel,
        JobSpec {
            item_timeout_ms: Some(1_000),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..1)).await;
    job.end().await;
    // Assigned at 0, never reported started: its deadline is 2 s.
    stalled.assignments(1).await;
    tokio::time::sleep(Duration::from_millis(450)).await;
    let mut healthy = connect_worker(&server.channel, "healthy", &[EXPR], 1).await;
    let moved = healthy.assignments(1).await;
    // Started at 1.5 s, its own clock would run to 2.5 s; the carried
    // deadline ends it at 2 s.
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    healthy.start(&moved).await;
    tokio::time::sleep(Duration::from_millis(490)).await;
    assert_eq!(server.status().await.jobs[0].completed, 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    while !healthy.cancelled.contains(&moved[0].task_id) {
        healthy.next_command().await.expect("stream open");
    }
    healthy
        .send_results(vec![ok_result(moved[0].task_id, b"\"ack\"")])
        .await;
    let out = job.collect().await.expect("the job finishes");
    let error = error_of(&out.results[0]).expect("item 0 timed out");
    assert_eq!(error.kind, ErrorKind::Timeout as i32);
    // Not charged: the deadline, not attempts, bounded it.
    assert_eq!(out.summary.requeued, 1);
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_interval_out_of_range_is_refused_naming_the_field() {
    let server = spawn_server(config()).await;
    for interval in [99, 60_001] {
        let err = try_connect_worker(&server.channel, register("w", 1, interval))
            .await
            .err()
            .expect("refused");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().contains("heartbeat_interval_ms"),
            "{}",
            err.message()
        );
        assert!(err.message().contains("60000"), "{}", err.message());
    }
}
