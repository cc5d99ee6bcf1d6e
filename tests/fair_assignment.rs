//! Assignment cannot be captured by one worker: the server caps a worker's
//! prefetch at --max-prefetch, and hands a job's items to its workers in
//! turn, whatever slots each registered.

mod common;

use common::*;
use symbatcher::pb::v1::{RegisterWorker, StatusResponse, WorkerStatus};

const EXPR: &str = "tests.fair_assignment:Expr";

async fn worker(server: &TestServer, name: &str, concurrency: u32, prefetch: u32) -> FakeWorker {
    try_connect_worker(
        &server.channel,
        RegisterWorker {
            name: name.into(),
            expressions: vec![EXPR.into()],
            concurrency,
            prefetch,
            ..Default::default()
        },
    )
    .await
    .expect("registered")
}

fn listed<'a>(status: &'a StatusResponse, name: &str) -> &'a WorkerStatus {
    status
        .workers
        .iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("worker {name} is listed: {status:?}"))
}

/// Waits until the job has `n` items completed.
async fn until_completed(server: &TestServer, n: u64) {
    within("items to complete", async {
        while server.status().await.jobs[0].completed != n {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn a_greedy_worker_does_not_take_every_item_from_a_normal_one() {
    let server = spawn_server(config()).await;
    let _greedy = worker(&server, "greedy", 4096, 4096).await;
    let mut normal = worker(&server, "normal", 8, 8).await;
    let status = server.status().await;
    assert_eq!(
        listed(&status, "greedy").prefetch,
        64,
        "capped at --max-prefetch"
    );
    assert_eq!(listed(&status, "normal").prefetch, 8);

    let mut job = start_job(&server.channel, spec(EXPR, 16)).await;
    job.send_items(items(0..1000)).await;
    job.end().await;

    // The normal worker fills its 8 slots and 8 queued from the front of the
    // job, taking turns with the greedy one.
    let tasks = normal.assignments(16).await;
    let mut indices: Vec<u64> = tasks.iter().map(|t| t.index).collect();
    indices.sort_unstable();
    assert!(
        indices.iter().all(|&i| i < 40),
        "normal got items far down the job: {indices:?}"
    );
    let status = server.status().await;
    assert_eq!(listed(&status, "normal").running, 16);
    let greedy_running = listed(&status, "greedy").running;
    assert_eq!(greedy_running, 1000 - 16);
    assert!(greedy_running <= 4096 + 64);

    normal
        .send_results(tasks.iter().map(|t| ok_result(t.task_id, b"0")).collect())
        .await;
    until_completed(&server, 16).await;
}

#[tokio::test(start_paused = true)]
async fn a_capped_prefetch_leaves_items_for_a_worker_that_registers_later() {
    let server = spawn_server(config()).await;
    // Asks for 4096 queued items, gets 64.
    let mut greedy = worker(&server, "greedy", 16, 4096).await;
    let mut job = start_job(&server.channel, spec(EXPR, 16)).await;
    job.send_items(items(0..100)).await;
    job.end().await;
    let held = greedy.assignments(80).await;
    let status = server.status().await;
    assert_eq!(listed(&status, "greedy").prefetch, 64);
    assert_eq!(listed(&status, "greedy").running, 80);
    assert_eq!(status.jobs[0].queued, 20);

    // A worker registering now gets its share at once.
    let mut late = worker(&server, "late", 4, 4).await;
    let got = late.assignments(8).await;
    assert!(got.iter().all(|t| t.index >= 80), "{got:?}");
    assert_eq!(server.status().await.jobs[0].queued, 12);

    greedy
        .send_results(held.iter().map(|t| ok_result(t.task_id, b"0")).collect())
        .await;
    late.send_results(got.iter().map(|t| ok_result(t.task_id, b"0")).collect())
        .await;
    until_completed(&server, 88).await;
}
