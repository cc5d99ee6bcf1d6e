//! Workers that disconnect: their items run again elsewhere (at least once),
//! yet the client gets exactly one result per item; results and calls for
//! task ids a worker does not own are dropped; an item fails with
//! WORKER_LOST once it used up its attempts.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use symbatcher::pb::v1::{outcome, Assignment, ErrorKind, ItemResult, JobSpec};

const EXPR: &str = "tests.requeue:Expr";

fn by_index(mut tasks: Vec<Assignment>) -> Vec<Assignment> {
    tasks.sort_by_key(|a| a.index);
    tasks
}

fn error_kind(result: &ItemResult) -> (ErrorKind, String) {
    match result.outcome.as_ref().and_then(|o| o.value.as_ref()) {
        Some(outcome::Value::Error(err)) => (
            ErrorKind::try_from(err.kind).expect("known error kind"),
            err.message.clone(),
        ),
        other => panic!("item {} did not fail: {other:?}", result.index),
    }
}

#[tokio::test(start_paused = true)]
async fn items_of_a_disconnected_worker_rerun_elsewhere_and_answer_once() {
    let server = spawn_server(config()).await;
    let mut a = connect_worker(&server.channel, "a", &[EXPR], 2).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            max_queue_delay_ms: Some(10_000),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let a_tasks = by_index(a.assignments(2).await);
    assert_eq!(a_tasks[0].index, 0);
    assert_eq!(a_tasks[1].index, 1);
    // A's item 0 waits on an engine call (item 1 is busy, so it stays queued).
    a.send_calls(&[(a_tasks[0].task_id, 1, "from a".to_string())])
        .await;

    // B connects while A holds both items: nothing for B yet.
    let mut b = connect_worker(&server.channel, "b", &[EXPR], 2).await;
    assert!(
        tokio::time::timeout(Duration::from_secs(1), b.next_command())
            .await
            .is_err(),
        "B got work while A still ran every item"
    );

    a.disconnect();
    // Both may have been in progress when A was lost: each runs again alone
    // on B, item 0 first, and neither is charged.
    let b0 = b.assignments(1).await.remove(0);
    assert_eq!(b0.index, 0);
    assert_eq!(b0.payload, a_tasks[0].payload);
    assert_eq!(b.jobs.len(), 1, "B was told about the job before its items");
    assert_eq!(b.jobs[0].job_id, job.accepted.job_id);
    assert!(
        tokio::time::timeout(Duration::from_secs(1), b.next_command())
            .await
            .is_err(),
        "B got a second item while a suspect ran"
    );

    // A is gone, and so is the engine call its run left waiting.
    let status = server.status().await;
    assert_eq!(status.workers.len(), 1, "{status:?}");
    assert_eq!(status.workers[0].worker_id, b.worker_id);
    assert_eq!(status.workers[0].running, 1);
    assert!(status.queues.iter().all(|q| q.waiting == 0), "{status:?}");

    // B reports A's stale run of item 0 first, then its own run, twice:
    // only B's first result may reach the client.
    b.send_results(vec![ok_result(a_tasks[0].task_id, b"\"stale\"")])
        .await;
    b.send_results(vec![
        ok_result(b0.task_id, b"\"b0\""),
        ok_result(b0.task_id, b"\"dup\""),
    ])
    .await;
    let b1 = b.assignments(1).await.remove(0);
    assert_eq!(b1.index, 1);
    let a_ids: BTreeSet<u64> = a_tasks.iter().map(|t| t.task_id).collect();
    assert!(
        !a_ids.contains(&b0.task_id) && !a_ids.contains(&b1.task_id),
        "re-runs need new task ids: {a_ids:?} vs {b0:?} {b1:?}"
    );
    b.send_results(vec![ok_result(b1.task_id, b"\"b1\"")]).await;

    let out = job.collect().await.expect("job succeeds");
    let results = out.payloads_by_index();
    assert_eq!(
        results,
        vec![(0, b"\"b0\"".to_vec()), (1, b"\"b1\"".to_vec())]
    );
    let s = out.summary;
    assert_eq!(s.items, 2);
    assert_eq!(s.succeeded, 2);
    assert_eq!(s.failed, 0);
    assert_eq!(s.requeued, 2);
    // A's call never went to the engine.
    assert_eq!(s.engine_batches, 0);
}

#[tokio::test(start_paused = true)]
async fn results_and_calls_for_another_workers_task_are_dropped() {
    let server = spawn_server(config()).await;
    let mut c = connect_worker(&server.channel, "c", &[EXPR], 1).await;
    let mut job = start_job(&server.channel, spec(EXPR, 8)).await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let c_task = c.assignments(1).await.remove(0);
    let mut d = connect_worker(&server.channel, "d", &[EXPR], 1).await;
    let d_task = d.assignments(1).await.remove(0);
    assert_ne!(c_task.index, d_task.index);

    // C claims D's task: a result and an engine call, both dropped.
    c.send_calls(&[(d_task.task_id, 7, "not mine".to_string())])
        .await;
    c.send_results(vec![ok_result(d_task.task_id, b"\"forged\"")])
        .await;
    c.send_results(vec![ok_result(c_task.task_id, b"\"c\"")])
        .await;
    let first = job.next_results().await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].index, c_task.index);
    assert_eq!(result_payload(&first[0]), b"\"c\"");
    // D's item is still open, and C got no reply to the forged call.
    let status = server.status().await;
    assert_eq!(status.jobs.len(), 1);
    assert_eq!(status.jobs[0].running, 1, "{status:?}");
    assert_eq!(status.jobs[0].completed, 1, "{status:?}");

    d.send_results(vec![ok_result(d_task.task_id, b"\"d\"")])
        .await;
    let out = job.collect().await.expect("job succeeds");
    assert_eq!(out.results.len(), 1);
    assert_eq!(out.results[0].index, d_task.index);
    assert_eq!(result_payload(&out.results[0]), b"\"d\"");
    assert_eq!(out.summary.succeeded, 2);
    assert_eq!(out.summary.engine_calls, 0, "the forged call was counted");
    loop {
        match c.next_command().await.and_then(|cmd| cmd.kind) {
            Some(symbatcher::pb::v1::worker_command::Kind::JobFinished(f)) => {
                assert_eq!(f.job_id, job_id_of(&c));
                break;
            }
            Some(symbatcher::pb::v1::worker_command::Kind::Replies(r)) => {
                // Every call gets one reply: C's forged call is answered
                // `Cancelled`, without reaching an engine.
                assert_eq!(r.replies.len(), 1, "{r:?}");
                let error = reply_error(&r.replies[0]);
                assert_eq!(error.kind, ErrorKind::Cancelled as i32, "{error:?}");
            }
            Some(_) => {}
            None => panic!("C's stream ended before JobFinished"),
        }
    }
}

fn job_id_of(worker: &FakeWorker) -> u64 {
    worker.jobs[0].job_id
}

#[tokio::test(start_paused = true)]
async fn with_max_attempts_one_a_lost_worker_fails_its_item() {
    let server = spawn_server(config()).await;
    let mut a = connect_worker(&server.channel, "a", &[EXPR], 1).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            max_attempts: Some(1),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..1)).await;
    job.end().await;
    let started = a.assignments(1).await;
    a.start(&started).await;
    a.disconnect();

    let out = job.collect().await.expect("job ends normally");
    assert_eq!(out.results.len(), 1);
    assert_eq!(out.results[0].index, 0);
    let (kind, message) = error_kind(&out.results[0]);
    assert_eq!(kind, ErrorKind::WorkerLost);
    assert!(message.contains("1 times"), "{message}");
    assert_eq!(out.summary.failed, 1);
    assert_eq!(out.summary.succeeded, 0);
    assert_eq!(out.summary.requeued, 0);
}

#[tokio::test(start_paused = true)]
async fn an_item_fails_after_max_attempts_disconnects() {
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
    job.send_items(items(0..1)).await;
    job.end().await;
    let first = a.assignments(1).await.remove(0);
    a.start(std::slice::from_ref(&first)).await;
    let mut b = connect_worker(&server.channel, "b", &[EXPR], 1).await;
    a.disconnect();
    let second = b.assignments(1).await.remove(0);
    assert_eq!(second.index, 0);
    assert_ne!(second.task_id, first.task_id);
    b.start(std::slice::from_ref(&second)).await;
    b.disconnect();

    let out = job.collect().await.expect("job ends normally");
    assert_eq!(out.results.len(), 1);
    let (kind, message) = error_kind(&out.results[0]);
    assert_eq!(kind, ErrorKind::WorkerLost);
    assert!(message.contains("2 times"), "{message}");
    assert_eq!(out.summary.requeued, 1);
    assert_eq!(out.summary.failed, 1);
}
