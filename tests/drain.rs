//! Workers that drain (`DrainWorker`): they get no new items, the runs they
//! give back as not started go to other workers without using an attempt,
//! the runs they still hold finish there, and ids they do not hold are
//! ignored.

mod common;

use std::time::Duration;

use common::*;
use symbatcher::pb::v1::{worker_message, DrainWorker, JobSpec, WorkerMessage};
use tonic::Code;

const EXPR: &str = "tests.drain:Expr";

fn drain(task_ids: &[u64]) -> WorkerMessage {
    WorkerMessage {
        kind: Some(worker_message::Kind::Drain(DrainWorker {
            unstarted_task_ids: task_ids.to_vec(),
        })),
    }
}

#[tokio::test(start_paused = true)]
async fn unstarted_runs_given_back_rerun_elsewhere_without_using_an_attempt() {
    let server = spawn_server(config()).await;
    let mut a = connect_worker(&server.channel, "a", &[EXPR], 3).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            // Two attempts per item: the run given back by A must not count,
            // or B's lost run below would be the item's last.
            max_attempts: Some(2),
            max_queue_delay_ms: Some(10_000),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..3)).await;
    job.end().await;
    let mut a_tasks = a.assignments(3).await;
    a_tasks.sort_by_key(|t| t.index);
    // A started item 0 (it made an engine call), then drains, listing all
    // three: item 0 has started, so it stays with A.
    a.send_calls(&[(a_tasks[0].task_id, 1, "item 0".to_string())])
        .await;
    a.send(drain(
        &a_tasks.iter().map(|t| t.task_id).collect::<Vec<_>>(),
    ))
    .await;

    // B, with one slot, gets one of them (the other waits on the server).
    let mut b = connect_worker(&server.channel, "b", &[EXPR], 1).await;
    let b_task = b.assignments(1).await.remove(0);
    assert!([1, 2].contains(&b_task.index), "{b_task:?}");
    let other = 3 - b_task.index;
    let status = server.status().await;
    let a_status = status
        .workers
        .iter()
        .find(|w| w.worker_id == a.worker_id)
        .expect("A is still connected");
    assert!(a_status.draining, "{status:?}");
    assert_eq!(a_status.running, 1, "A keeps only its started run");

    // B is lost with its item running alone: its first charged attempt.
    b.start(std::slice::from_ref(&b_task)).await;
    b.disconnect();
    let mut c = connect_worker(&server.channel, "c", &[EXPR], 4).await;
    // B's item runs alone on C (a run of it was lost), then the other.
    for index in [b_task.index, other] {
        let task = c.assignments(1).await.remove(0);
        assert_eq!(task.index, index);
        let payload = format!("\"c{index}\"");
        c.send_results(vec![ok_result(task.task_id, payload.as_bytes())])
            .await;
    }
    // A's started run finishes and reports after the drain.
    a.send_results(vec![ok_result(a_tasks[0].task_id, b"\"a0\"")])
        .await;
    a.disconnect();

    let out = job.collect().await.expect("job succeeds");
    let results = out.payloads_by_index();
    assert_eq!(
        results,
        vec![
            (0, b"\"a0\"".to_vec()),
            (1, b"\"c1\"".to_vec()),
            (2, b"\"c2\"".to_vec())
        ]
    );
    assert_eq!(out.summary.failed, 0, "a given-back run used an attempt");
    assert_eq!(out.summary.requeued, 3, "2 given back by A, 1 lost with B");
}

#[tokio::test(start_paused = true)]
async fn a_draining_worker_gets_no_new_items() {
    let server = spawn_server(config()).await;
    let mut a = connect_worker(&server.channel, "a", &[EXPR], 2).await;
    a.send(drain(&[])).await;
    // Let the server see the drain before the job arrives.
    while !server.status().await.workers[0].draining {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut job = start_job(
        &server.channel,
        JobSpec {
            worker_wait_ms: Some(5_000),
            ..spec(EXPR, 4)
        },
    )
    .await;
    job.send_items(items(0..2)).await;
    job.end().await;
    // Nobody else serves the job: it fails after its wait, and A, with free
    // slots all along, was given nothing.
    let err = job.collect().await.expect_err("job fails");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let status = server.status().await;
    assert_eq!(status.workers[0].running, 0, "{status:?}");
    while let Ok(Some(command)) =
        tokio::time::timeout(Duration::from_millis(10), a.next_command()).await
    {
        assert!(
            !matches!(
                command.kind,
                Some(symbatcher::pb::v1::worker_command::Kind::Assignments(_))
            ),
            "a draining worker got items: {command:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_drain_cannot_give_back_another_workers_run() {
    let server = spawn_server(config()).await;
    let mut c = connect_worker(&server.channel, "c", &[EXPR], 1).await;
    let mut job = start_job(&server.channel, spec(EXPR, 8)).await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let c_task = c.assignments(1).await.remove(0);
    let mut d = connect_worker(&server.channel, "d", &[EXPR], 1).await;
    let d_task = d.assignments(1).await.remove(0);

    // C drains naming D's run and a run that never existed: both ignored.
    c.send(drain(&[d_task.task_id, 999_999])).await;
    c.send_results(vec![ok_result(c_task.task_id, b"\"c\"")])
        .await;
    let first = job.next_results().await;
    assert_eq!(first.len(), 1, "{first:?}");
    let status = server.status().await;
    assert_eq!(
        status.jobs[0].running, 1,
        "D's run was taken away: {status:?}"
    );
    d.send_results(vec![ok_result(d_task.task_id, b"\"d\"")])
        .await;
    let out = job.collect().await.expect("job succeeds");
    assert_eq!(out.summary.succeeded, 2);
    assert_eq!(out.summary.requeued, 0);
}
