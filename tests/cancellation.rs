//! A client that goes away: its job's runs are cancelled on their workers,
//! its waiting engine calls are answered `Cancelled` (every call gets exactly
//! one reply), and late results only acknowledge the cancellation.

mod common;

use std::collections::BTreeSet;

use common::*;
use symbatcher::pb::v1::{worker_command, ErrorKind, JobSpec};

const EXPR: &str = "tests.cancellation:Expr";

#[tokio::test(start_paused = true)]
async fn a_client_that_goes_away_cancels_its_running_tasks() {
    let server = spawn_server(config()).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 2).await;
    let job = start_job(
        &server.channel,
        JobSpec {
            max_queue_delay_ms: Some(10_000),
            ..spec(EXPR, 8)
        },
    )
    .await;
    let job_id = job.accepted.job_id;
    job.send_items(items(0..5)).await;
    let tasks = worker.assignments(2).await;
    // One run waits on an engine call (the other is busy, so it stays queued).
    worker
        .send_calls(&[(tasks[0].task_id, 1, "pending".to_string())])
        .await;
    assert_eq!(server.status().await.jobs.len(), 1);

    drop(job);

    let mut cancelled = BTreeSet::new();
    let mut replies = Vec::new();
    loop {
        let command = worker.next_command().await.expect("worker stream open");
        match command.kind {
            Some(worker_command::Kind::Cancel(c)) => cancelled.extend(c.task_ids),
            Some(worker_command::Kind::Replies(r)) => replies.extend(r.replies),
            Some(worker_command::Kind::JobFinished(f)) => {
                assert_eq!(f.job_id, job_id);
                break;
            }
            other => panic!("unexpected command after the client left: {other:?}"),
        }
    }
    let expected: BTreeSet<u64> = tasks.iter().map(|t| t.task_id).collect();
    assert_eq!(cancelled, expected);
    // The waiting call was answered, once, so its slot does not wait forever.
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].call_id, 1);
    let error = reply_error(&replies[0]);
    assert_eq!(error.kind, ErrorKind::Cancelled as i32, "{error:?}");

    let status = server.status().await;
    assert!(status.jobs.is_empty(), "{status:?}");
    assert_eq!(status.workers[0].running, 0);
    // Until the worker acknowledges them, the cancelled runs hold its slots.
    assert_eq!(status.workers[0].cancelling, 2);
    assert!(status.queues.iter().all(|q| q.waiting == 0), "{status:?}");
    let echo = status
        .engines
        .iter()
        .find(|e| e.name == "echo")
        .expect("echo");
    assert_eq!(echo.calls, 0, "a cancelled run's call reached the engine");

    // Late results of the cancelled runs acknowledge them (and are dropped);
    // the worker's slots are free for the next job.
    let results = tasks
        .iter()
        .map(|t| ok_result(t.task_id, b"late"))
        .collect();
    worker.send_results(results).await;
    let mut next = start_job(&server.channel, spec(EXPR, 8)).await;
    next.send_items(items(0..2)).await;
    next.end().await;
    let fresh = worker.assignments(2).await;
    assert!(fresh.iter().all(|t| !expected.contains(&t.task_id)));
    assert_eq!(server.status().await.workers[0].cancelling, 0);
    let results = fresh.iter().map(|t| ok_result(t.task_id, b"1")).collect();
    worker.send_results(results).await;
    let out = next.collect().await.expect("next job succeeds");
    assert_eq!(out.results.len(), 2);
    assert!(out.results.iter().all(|r| result_payload(r) == b"1"));
}
