//! Assignment cannot be captured by one worker: the server caps a worker's
//! slots at --max-worker-slots and its prefetch at --max-prefetch, and
//! spreads a job's items over its workers in proportion to their capped
//! slots.

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
async fn a_worker_claiming_4096_slots_gets_at_most_its_capped_share() {
    let server = spawn_server(config()).await;
    let _greedy = worker(&server, "greedy", 4096, 4096).await;
    let mut normal = worker(&server, "normal", 16, 0).await;
    let status = server.status().await;
    let greedy = listed(&status, "greedy");
    assert_eq!(greedy.concurrency, 1024, "capped at --max-worker-slots");
    assert_eq!(greedy.prefetch, 64, "capped at --max-prefetch");
    assert_eq!(listed(&status, "normal").concurrency, 16);

    let mut job = start_job(&server.channel, spec(EXPR, 16)).await;
    job.send_items(items(0..1000)).await;
    job.end().await;

    // Items spread in proportion to the (capped) slots: of 1,000 items the
    // greedy worker's share is 1000 x 1024 / (1024 + 16) = 984.6, and the
    // normal one gets its share of 15.4 (16, its slots) at once: one item
    // in every 65 of the job, from its front on.
    let tasks = normal.assignments(16).await;
    let mut indices: Vec<u64> = tasks.iter().map(|t| t.index).collect();
    indices.sort_unstable();
    assert!(indices[0] < 65, "{indices:?}");
    assert!(
        indices.windows(2).all(|w| w[1] - w[0] <= 65),
        "normal's items are not spread over the job: {indices:?}"
    );
    let status = server.status().await;
    let greedy_running = listed(&status, "greedy").running;
    assert!(greedy_running <= 985, "greedy holds {greedy_running}");
    assert_eq!(greedy_running + listed(&status, "normal").running, 1000);

    normal
        .send_results(tasks.iter().map(|t| ok_result(t.task_id, b"0")).collect())
        .await;
    until_completed(&server, 16).await;
}

#[tokio::test(start_paused = true)]
async fn a_worker_holds_no_more_than_its_capped_slots_and_prefetch() {
    let mut config = config();
    config.guards.max_worker_slots = 100;
    let server = spawn_server(config).await;
    let _greedy = worker(&server, "greedy", 4096, 4096).await;
    let mut normal = worker(&server, "normal", 16, 0).await;
    assert_eq!(listed(&server.status().await, "greedy").concurrency, 100);

    let mut job = start_job(&server.channel, spec(EXPR, 16)).await;
    job.send_items(items(0..1000)).await;
    job.end().await;
    let first = normal.assignments(16).await;
    let status = server.status().await;
    // 100 slots and 64 queued: the rest waits on the server for workers
    // that run it.
    assert_eq!(listed(&status, "greedy").running, 164);
    assert_eq!(listed(&status, "normal").running, 16);
    assert_eq!(status.jobs[0].queued, 1000 - 164 - 16);

    // The normal worker's free slots take the items still queued.
    normal
        .send_results(first.iter().map(|t| ok_result(t.task_id, b"0")).collect())
        .await;
    let next = normal.assignments(16).await;
    assert!(next.iter().all(|t| t.index >= 164), "{next:?}");
    assert_eq!(listed(&server.status().await, "greedy").running, 164);
}

#[tokio::test(start_paused = true)]
async fn items_spread_over_workers_in_proportion_to_their_slots() {
    let server = spawn_server(config()).await;
    let mut big = worker(&server, "big", 48, 0).await;
    let mut small = worker(&server, "small", 16, 0).await;
    let mut job = start_job(&server.channel, spec(EXPR, 16)).await;
    job.send_items(items(0..32)).await;
    job.end().await;
    // Round robin would give each 16, half the small worker's... all of
    // its slots while two thirds of the big one's stay idle.
    let big_tasks = big.assignments(24).await;
    let small_tasks = small.assignments(8).await;
    let status = server.status().await;
    assert_eq!(listed(&status, "big").running, 24);
    assert_eq!(listed(&status, "small").running, 8);
    big.send_results(
        big_tasks
            .iter()
            .map(|t| ok_result(t.task_id, b"0"))
            .collect(),
    )
    .await;
    small
        .send_results(
            small_tasks
                .iter()
                .map(|t| ok_result(t.task_id, b"0"))
                .collect(),
        )
        .await;
    let out = job.collect().await.expect("job succeeds");
    assert_eq!(out.summary.succeeded, 32);
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
