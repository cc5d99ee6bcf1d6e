//! Items only the client's process may take (`Item.local_only`) never hold
//! back the items behind them: they wait for a worker of that process, and
//! fail alone with an encoding error naming their index when none comes in
//! the job's worker wait.

mod common;

use std::time::Duration;

use common::*;
use symbatcher::pb::v1::{outcome, worker_command, ErrorKind, Item, JobSpec, RegisterWorker};

const EXPR: &str = "tests.local_items:Expr";
const TOKEN: &str = "client-process-1";

/// Items 0..n, item `local` of them local only (no payload).
fn items_with_local(n: u64, local: u64) -> Vec<Item> {
    let mut items = items(0..n);
    items[local as usize] = Item {
        index: local,
        payload: Vec::new(),
        local_only: true,
    };
    items
}

fn job_spec() -> JobSpec {
    JobSpec {
        process_token: TOKEN.into(),
        worker_wait_ms: Some(2_000),
        ..spec(EXPR, 8)
    }
}

async fn worker_of(server: &TestServer, name: &str, token: &str) -> FakeWorker {
    try_connect_worker(
        &server.channel,
        RegisterWorker {
            name: name.into(),
            expressions: vec![EXPR.into()],
            concurrency: 4,
            process_token: token.into(),
            ..Default::default()
        },
    )
    .await
    .expect("registered")
}

/// Runs `n` items on `worker`, answering each with its index.
async fn run_items(worker: &mut FakeWorker, n: usize) -> Vec<u64> {
    let mut done = Vec::new();
    while done.len() < n {
        let command = worker.next_command().await.expect("worker stream open");
        let Some(worker_command::Kind::Assignments(chunk)) = command.kind else {
            continue;
        };
        for task in chunk.assignments {
            let payload = format!("{}", task.index);
            worker
                .send_results(vec![ok_result(task.task_id, payload.as_bytes())])
                .await;
            done.push(task.index);
        }
    }
    done
}

#[tokio::test(start_paused = true)]
async fn a_local_item_with_no_worker_of_its_process_fails_alone_and_blocks_nothing() {
    let server = spawn_server(config()).await;
    let mut remote = worker_of(&server, "remote", "another-process").await;
    let mut job = start_job(&server.channel, job_spec()).await;
    // The local item is at the front of the queue.
    job.send_items(items_with_local(20, 0)).await;
    job.end().await;

    let started = tokio::time::Instant::now();
    let mut done = run_items(&mut remote, 19).await;
    done.sort_unstable();
    assert_eq!(done, (1..20).collect::<Vec<u64>>());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the items behind the local one waited"
    );

    let out = job.collect().await.expect("the job ends normally");
    let failed: Vec<_> = out
        .results
        .iter()
        .filter_map(
            |r| match r.outcome.as_ref().and_then(|o| o.value.as_ref()) {
                Some(outcome::Value::Error(err)) => Some((r.index, err.clone())),
                _ => None,
            },
        )
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let (index, err) = &failed[0];
    assert_eq!(*index, 0);
    assert_eq!(err.kind, ErrorKind::Encoding as i32);
    assert_eq!(err.r#type, "EncodingError");
    assert!(
        err.message.contains("item 0") && err.message.contains("2000 ms"),
        "{}",
        err.message
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "failed before the job's worker wait"
    );
    assert_eq!(out.summary.succeeded, 19);
    assert_eq!(out.summary.failed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_local_item_waits_for_a_worker_of_its_process() {
    let server = spawn_server(config()).await;
    let mut remote = worker_of(&server, "remote", "another-process").await;
    let mut job = start_job(&server.channel, job_spec()).await;
    job.send_items(items_with_local(10, 3)).await;
    job.end().await;
    let mut done = run_items(&mut remote, 9).await;
    done.sort_unstable();
    assert_eq!(done, vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);

    // A worker of the client's process comes within the wait: it runs the
    // local item.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut local = worker_of(&server, "local", TOKEN).await;
    let task = local.assignments(1).await.remove(0);
    assert_eq!(task.index, 3);
    assert!(task.local_only);
    local
        .send_results(vec![ok_result(task.task_id, b"3")])
        .await;
    let out = job.collect().await.expect("job succeeds");
    assert_eq!(out.summary.succeeded, 10);
    assert_eq!(out.summary.failed, 0);
}
