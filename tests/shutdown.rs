//! Shutdown: stop admitting, let running jobs finish within the grace
//! period, then stop; jobs still running after it end with Unavailable.

mod common;

use std::time::Duration;

use tokio::time::Instant;
use tonic::Code;

use common::*;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const EXPR: &str = "tests.shutdown:Expr";

/// Triggers shutdown and waits until health reports NOT_SERVING, i.e. the
/// server is draining.
async fn start_draining(server: &mut TestServer) {
    let mut watch = HealthClient::new(server.channel.clone())
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health watch")
        .into_inner();
    let first = within("health", watch.message())
        .await
        .expect("health")
        .expect("status");
    assert_eq!(first.status(), ServingStatus::Serving);
    server.trigger_shutdown();
    let next = within("health change", watch.message())
        .await
        .expect("health")
        .expect("status");
    assert_eq!(next.status(), ServingStatus::NotServing);
}

#[tokio::test(start_paused = true)]
async fn running_jobs_finish_during_the_grace_period() {
    let mut config = config();
    config.shutdown_grace_ms = 3_000;
    let mut server = spawn_server(config).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 1).await;
    let mut job = start_job(&server.channel, spec(EXPR, 4)).await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let first = worker.assignments(1).await.remove(0);

    let start = Instant::now();
    start_draining(&mut server).await;
    // No new jobs while draining.
    let err = try_start_job(&server.channel, spec(EXPR, 4))
        .await
        .err()
        .expect("refused while draining");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");

    // The running job still gets its queued item and finishes.
    worker
        .send_results(vec![ok_result(first.task_id, b"0")])
        .await;
    let second = worker.assignments(1).await.remove(0);
    worker
        .send_results(vec![ok_result(second.task_id, b"1")])
        .await;
    let out = job.collect().await.expect("job finishes while draining");
    assert_eq!(out.summary.succeeded, 2);

    server.shutdown().await.expect("clean stop");
    assert!(
        start.elapsed() < Duration::from_millis(3_000),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn jobs_still_running_after_the_grace_period_end_unavailable() {
    let mut config = config();
    config.shutdown_grace_ms = 3_000;
    let mut server = spawn_server(config).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 1).await;
    let mut job = start_job(&server.channel, spec(EXPR, 4)).await;
    job.send_items(items(0..1)).await;
    job.end().await;
    worker.assignments(1).await;

    let start = Instant::now();
    start_draining(&mut server).await;
    // The worker never answers.
    let err = job.collect().await.expect_err("job cut off");
    let waited = start.elapsed();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        (Duration::from_millis(3_000)..Duration::from_millis(3_100)).contains(&waited),
        "{waited:?}"
    );
    server.shutdown().await.expect("stop after grace");
}
