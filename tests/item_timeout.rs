//! Item timeouts, on a paused clock: a run longer than its job's
//! `item_timeout_ms`, counted from the worker's RunsStarted, fails with
//! ERROR_KIND_TIMEOUT, its worker is told to cancel it, and its waiting
//! engine call is answered `Cancelled`; a run still queued in its worker
//! does not time out.

mod common;

use std::time::Duration;

use common::*;
use symbatcher::pb::v1::{outcome, worker_command, ErrorKind, JobSpec};

const EXPR: &str = "tests.timeout:Expr";

#[tokio::test(start_paused = true)]
async fn a_started_run_past_its_timeout_fails_and_is_cancelled() {
    let server = spawn_server(config()).await;
    // An engine that never answers: the run waits on its call until it times out.
    let _engine = connect_engine(&server.channel, "silent", 1).await;
    // One slot and one queued item: the second run waits in the worker.
    let mut worker = try_connect_worker(
        &server.channel,
        symbatcher::pb::v1::RegisterWorker {
            name: "w".into(),
            expressions: vec![EXPR.into()],
            concurrency: 1,
            prefetch: 1,
            ..Default::default()
        },
    )
    .await
    .expect("registered");
    let mut job = start_job(
        &server.channel,
        JobSpec {
            item_timeout_ms: Some(1_000),
            engine: "silent".into(),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let tasks = worker.assignments(2).await;
    let (first, queued) = (&tasks[0], &tasks[1]);
    worker.start(std::slice::from_ref(first)).await;
    worker
        .send_calls(&[(first.task_id, 7, "never answered in time".into())])
        .await;
    tokio::time::sleep(Duration::from_millis(999)).await;
    assert_eq!(server.status().await.jobs[0].completed, 0);
    tokio::time::sleep(Duration::from_millis(10)).await;

    let mut cancelled = Vec::new();
    let mut replies = Vec::new();
    while cancelled.is_empty() || replies.is_empty() {
        match worker.next_command().await.expect("stream open").kind {
            Some(worker_command::Kind::Cancel(c)) => cancelled.extend(c.task_ids),
            Some(worker_command::Kind::Replies(r)) => replies.extend(r.replies),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(cancelled, vec![first.task_id]);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].call_id, 7);
    assert_eq!(reply_error(&replies[0]).kind, ErrorKind::Cancelled as i32);

    // The queued run (never started) did not time out: it runs now.
    worker.start(std::slice::from_ref(queued)).await;
    worker
        .send_results(vec![
            ok_result(first.task_id, b"ack"),
            ok_result(queued.task_id, b"\"fine\""),
        ])
        .await;
    let out = job.collect().await.expect("the job finishes");
    assert_eq!(out.summary.failed, 1);
    let by_index: Vec<_> = {
        let mut r = out.results.clone();
        r.sort_by_key(|r| r.index);
        r
    };
    let Some(outcome::Value::Error(error)) =
        by_index[0].outcome.as_ref().and_then(|o| o.value.clone())
    else {
        panic!("item 0 failed: {:?}", by_index[0]);
    };
    assert_eq!(error.kind, ErrorKind::Timeout as i32);
    assert_eq!(error.r#type, "TimeoutError");
    assert!(error.message.contains("1000 ms"), "{}", error.message);
    assert_eq!(result_payload(&by_index[1]), b"\"fine\"");
}

#[tokio::test(start_paused = true)]
async fn a_zero_item_timeout_is_refused_naming_the_field() {
    let server = spawn_server(config()).await;
    let err = try_start_job(
        &server.channel,
        JobSpec {
            item_timeout_ms: Some(0),
            ..spec(EXPR, 8)
        },
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("item_timeout_ms"),
        "{}",
        err.message()
    );
}
