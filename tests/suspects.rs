//! Poison items are found, not guessed: the runs of a worker lost with
//! several in progress are charged nothing and run again one at a time,
//! each alone on a worker; only a run lost while it ran alone is charged.

mod common;

use std::time::Duration;

use common::*;
use symbatcher::pb::v1::{outcome, Assignment, ErrorKind, ItemResult, JobSpec, RegisterWorker};

const EXPR: &str = "tests.suspects:Expr";

fn error_of(result: &ItemResult) -> (ErrorKind, String) {
    match result.outcome.as_ref().and_then(|o| o.value.as_ref()) {
        Some(outcome::Value::Error(err)) => (
            ErrorKind::try_from(err.kind).expect("known error kind"),
            err.message.clone(),
        ),
        other => panic!("item {} did not fail: {other:?}", result.index),
    }
}

/// Waits one (virtual) second and checks that no assignment arrived.
async fn no_assignment_for(worker: &mut FakeWorker, why: &str) {
    let waited = tokio::time::timeout(Duration::from_secs(1), worker.assignments(1)).await;
    assert!(waited.is_err(), "{why}: {waited:?}");
}

async fn finish(worker: &FakeWorker, task: &Assignment) {
    let payload = format!("\"done-{}\"", task.index);
    worker
        .send_results(vec![ok_result(task.task_id, payload.as_bytes())])
        .await;
}

#[tokio::test(start_paused = true)]
async fn runs_lost_together_run_again_alone_and_only_the_poison_is_charged() {
    let server = spawn_server(config()).await;
    let mut a = connect_worker(&server.channel, "a", &[EXPR], 4).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            // One charge fails an item: an innocent run charged for the
            // poison's crash would fail too.
            max_attempts: Some(1),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..4)).await;
    job.end().await;
    let lost = a.assignments(4).await;
    a.start(&lost).await;
    // Item 2 is the poison: A is lost with its four runs in progress.
    a.disconnect();

    let mut b = connect_worker(&server.channel, "b", &[EXPR], 4).await;
    for index in [0, 1] {
        let task = b.assignments(1).await.remove(0);
        assert_eq!(task.index, index);
        b.start(std::slice::from_ref(&task)).await;
        no_assignment_for(&mut b, "a suspect ran beside another run").await;
        finish(&b, &task).await;
    }
    // The poison runs alone and takes B down: it is the one charged.
    let poison = b.assignments(1).await.remove(0);
    assert_eq!(poison.index, 2);
    b.start(std::slice::from_ref(&poison)).await;
    b.disconnect();

    let mut c = connect_worker(&server.channel, "c", &[EXPR], 4).await;
    let last = c.assignments(1).await.remove(0);
    assert_eq!(last.index, 3);
    finish(&c, &last).await;

    let out = job.collect().await.expect("job ends normally");
    let mut results = out.results.clone();
    results.sort_by_key(|r| r.index);
    assert_eq!(results.len(), 4);
    for result in results.iter().filter(|r| r.index != 2) {
        let expected = format!("\"done-{}\"", result.index);
        assert_eq!(result_payload(result), expected.as_bytes());
    }
    let (kind, message) = error_of(&results[2]);
    assert_eq!(kind, ErrorKind::WorkerLost);
    assert!(
        message.contains("item 2") && message.contains("alone"),
        "{message}"
    );
    assert_eq!(out.summary.failed, 1);
    assert_eq!(out.summary.succeeded, 3);
}

#[tokio::test(start_paused = true)]
async fn a_run_lost_alone_is_charged_and_runs_alone_again() {
    let server = spawn_server(config()).await;
    let mut a = connect_worker(&server.channel, "a", &[EXPR], 1).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            max_attempts: Some(2),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..3)).await;
    job.end().await;
    let first = a.assignments(1).await.remove(0);
    a.start(std::slice::from_ref(&first)).await;
    a.disconnect();

    // Charged once, it runs again alone: B's other slots stay empty.
    let mut b = connect_worker(&server.channel, "b", &[EXPR], 4).await;
    let again = b.assignments(1).await.remove(0);
    assert_eq!(again.index, first.index);
    b.start(std::slice::from_ref(&again)).await;
    no_assignment_for(&mut b, "an item lost alone ran beside others").await;
    finish(&b, &again).await;
    // Then B takes the other items together.
    let rest = b.assignments(2).await;
    for task in &rest {
        finish(&b, task).await;
    }
    let out = job.collect().await.expect("job succeeds");
    assert_eq!(out.summary.succeeded, 3);
    assert_eq!(out.summary.failed, 0, "one charge of two is not a failure");
}

#[tokio::test(start_paused = true)]
async fn other_items_go_on_while_a_worker_is_set_aside_for_suspects() {
    let server = spawn_server(config()).await;
    let mut a = connect_worker(&server.channel, "a", &[EXPR], 2).await;
    let mut job = start_job(&server.channel, spec(EXPR, 8)).await;
    job.send_items(items(0..2)).await;
    let lost = a.assignments(2).await;
    a.start(&lost).await;
    // B is busy with two runs when A is lost with items 0 and 1.
    job.send_items(items(2..4)).await;
    let mut b = connect_worker(&server.channel, "b", &[EXPR], 2).await;
    let busy = b.assignments(2).await;
    assert_eq!(busy.iter().map(|t| t.index).collect::<Vec<_>>(), vec![2, 3]);
    a.disconnect();
    // B is set aside for the suspects: C, connecting now, gets the new
    // items while B finishes its runs.
    job.send_items(items(4..8)).await;
    job.end().await;
    let mut c = connect_worker(&server.channel, "c", &[EXPR], 2).await;
    let others = c.assignments(2).await;
    assert_eq!(
        others.iter().map(|t| t.index).collect::<Vec<_>>(),
        vec![4, 5]
    );
    no_assignment_for(&mut b, "a worker set aside for suspects took new items").await;
    for task in &busy {
        finish(&b, task).await;
    }
    // B, now idle, runs the suspects one at a time.
    for index in [0, 1] {
        let task = b.assignments(1).await.remove(0);
        assert_eq!(task.index, index);
        no_assignment_for(&mut b, "a suspect ran beside another run").await;
        finish(&b, &task).await;
    }
    // Then B is back with the other items.
    let back = b.assignments(2).await;
    assert_eq!(back.iter().map(|t| t.index).collect::<Vec<_>>(), vec![6, 7]);
    for task in &others {
        finish(&c, task).await;
    }
    for task in &back {
        finish(&b, task).await;
    }
    let out = job.collect().await.expect("job succeeds");
    assert_eq!(out.summary.succeeded, 8);
    assert_eq!(out.summary.failed, 0);
}

#[tokio::test(start_paused = true)]
async fn suspects_leave_a_set_aside_worker_that_stalls_for_another() {
    let server = spawn_server(config()).await;
    let mut a = connect_worker(&server.channel, "a", &[EXPR], 4).await;
    let mut job = start_job(&server.channel, spec(EXPR, 8)).await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let lost = a.assignments(2).await;
    a.start(&lost).await;
    a.disconnect();

    // B is set aside for the suspects, takes the first, then its loop
    // blocks: it declared heartbeats and goes silent (stalled after four
    // intervals).
    let mut b = try_connect_worker(
        &server.channel,
        RegisterWorker {
            name: "b".into(),
            expressions: vec![EXPR.into()],
            concurrency: 4,
            heartbeat_interval_ms: 100,
            ..Default::default()
        },
    )
    .await
    .expect("registered");
    let first = b.assignments(1).await.remove(0);
    tokio::time::sleep(Duration::from_millis(600)).await;

    // The suspects go to C, each alone, instead of waiting for B.
    let mut c = connect_worker(&server.channel, "c", &[EXPR], 4).await;
    let mut done = Vec::new();
    for _ in 0..2 {
        let task = tokio::time::timeout(Duration::from_secs(5), c.assignments(1))
            .await
            .expect("a suspect reaches the worker that is not stalled")
            .remove(0);
        c.start(std::slice::from_ref(&task)).await;
        no_assignment_for(&mut c, "a suspect ran beside another run").await;
        finish(&c, &task).await;
        done.push(task.index);
    }
    done.sort_unstable();
    assert_eq!(done, vec![0, 1]);
    assert!(lost.iter().any(|t| t.index == first.index));
    let out = job.collect().await.expect("job ends normally");
    assert_eq!((out.summary.succeeded, out.summary.failed), (2, 0));
}
