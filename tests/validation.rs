//! The edge's checks and the server's introspection: invalid requests get
//! InvalidArgument naming the field, jobs nobody serves fail with
//! FailedPrecondition after their wait, Status and health report the server.

mod common;

use std::time::Duration;

use tokio::time::Instant;
use tonic::Code;

use common::*;
use symbatcher::pb::v1::{
    batch_request, worker_message, BatchRequest, EndOfInput, ItemChunk, JobSpec, RegisterWorker,
    WorkResult, WorkResultChunk, WorkerMessage,
};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const EXPR: &str = "tests.validation:Expr";

fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().starts_with(&format!("{field}:")),
        "message should name {field}: {:?}",
        status.message()
    );
    // And the trailers name it for programs.
    let md = status.metadata();
    let kind = md.get("symbatcher-error-kind").unwrap();
    assert!(
        kind == "invalid_argument" || kind == "unknown_engine",
        "{kind:?}"
    );
    assert_eq!(md.get("symbatcher-field").unwrap(), field);
}

#[tokio::test(start_paused = true)]
async fn invalid_job_specs_are_refused_naming_the_field() {
    let server = spawn_server(config()).await;
    let valid = spec(EXPR, 4);
    let cases: Vec<(&str, JobSpec)> = vec![
        (
            "batch_size",
            JobSpec {
                batch_size: 0,
                ..valid.clone()
            },
        ),
        (
            "batch_size",
            JobSpec {
                batch_size: 5000,
                ..valid.clone()
            },
        ),
        (
            "kwargs_json",
            JobSpec {
                kwargs_json: "[1]".into(),
                ..valid.clone()
            },
        ),
        (
            "kwargs_json",
            JobSpec {
                kwargs_json: "not json".into(),
                ..valid.clone()
            },
        ),
        (
            "expression",
            JobSpec {
                expression: String::new(),
                ..valid.clone()
            },
        ),
        (
            "expression",
            JobSpec {
                expression: "   ".into(),
                ..valid.clone()
            },
        ),
        (
            "engine",
            JobSpec {
                engine: "no-such-engine".into(),
                ..valid.clone()
            },
        ),
        (
            "max_queue_delay_ms",
            JobSpec {
                max_queue_delay_ms: Some(60_001),
                ..valid.clone()
            },
        ),
        (
            "codec",
            JobSpec {
                codec: 99,
                ..valid.clone()
            },
        ),
        (
            "window",
            JobSpec {
                window: Some(1_000_001),
                ..valid.clone()
            },
        ),
        (
            "max_attempts",
            JobSpec {
                max_attempts: Some(101),
                ..valid.clone()
            },
        ),
        // Set to 0 is not unset: a window or attempt count of 0 is refused
        // rather than replaced by the server's default.
        (
            "window",
            JobSpec {
                window: Some(0),
                ..valid.clone()
            },
        ),
        (
            "max_attempts",
            JobSpec {
                max_attempts: Some(0),
                ..valid.clone()
            },
        ),
    ];
    for (field, bad) in cases {
        let err = match try_start_job(&server.channel, bad.clone()).await {
            Ok(_) => panic!("accepted an invalid spec ({field}): {bad:?}"),
            Err(err) => err,
        };
        assert_invalid(&err, field);
    }
    let unknown = try_start_job(
        &server.channel,
        JobSpec {
            engine: "no-such-engine".into(),
            ..valid.clone()
        },
    )
    .await
    .err()
    .expect("unknown engine refused");
    assert!(unknown.message().contains("no-such-engine"), "{unknown:?}");
    assert!(
        unknown.message().contains("echo"),
        "lists known engines: {unknown:?}"
    );

    // The limits themselves are accepted, and defaults are filled in.
    let job = start_job(
        &server.channel,
        JobSpec {
            batch_size: 4096,
            ..valid.clone()
        },
    )
    .await;
    assert_eq!(job.accepted.window, config().window);
    let job = start_job(
        &server.channel,
        JobSpec {
            window: Some(10),
            ..spec(EXPR, 1)
        },
    )
    .await;
    assert_eq!(job.accepted.window, 10);
    assert_eq!(server.status().await.jobs.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_job_must_start_with_its_spec() {
    let server = spawn_server(config()).await;
    let firsts = [
        batch_request::Kind::Items(ItemChunk { items: items(0..1) }),
        batch_request::Kind::End(EndOfInput {}),
    ];
    for first in firsts {
        let request = BatchRequest { kind: Some(first) };
        let err = try_start_job_with(&server.channel, request)
            .await
            .err()
            .expect("refused");
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains("JobSpec"), "{err:?}");
    }
    assert!(server.status().await.jobs.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_second_spec_fails_the_job() {
    let server = spawn_server(config()).await;
    let _worker = connect_worker(&server.channel, "w", &[EXPR], 1).await;
    let job = start_job(&server.channel, spec(EXPR, 4)).await;
    job.send(BatchRequest {
        kind: Some(batch_request::Kind::Spec(spec(EXPR, 4))),
    })
    .await;
    let err = job.collect().await.expect_err("second spec fails the job");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("exactly one JobSpec"), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn invalid_worker_registrations_are_refused_naming_the_field() {
    let server = spawn_server(config()).await;
    let valid = RegisterWorker {
        name: "w".into(),
        expressions: vec![EXPR.into()],
        concurrency: 2,
        ..Default::default()
    };
    let cases = [
        (
            "concurrency",
            RegisterWorker {
                concurrency: 0,
                ..valid.clone()
            },
        ),
        (
            "concurrency",
            RegisterWorker {
                concurrency: 4097,
                ..valid.clone()
            },
        ),
        (
            "expressions",
            RegisterWorker {
                expressions: vec![],
                ..valid.clone()
            },
        ),
        (
            "expressions",
            RegisterWorker {
                expressions: vec![EXPR.into(), " ".into()],
                ..valid.clone()
            },
        ),
    ];
    for (field, bad) in cases {
        let err = try_connect_worker(&server.channel, bad.clone())
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted an invalid registration: {bad:?}"));
        assert_invalid(&err, field);
    }
    assert!(server.status().await.workers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_worker_must_register_first() {
    let server = spawn_server(config()).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let results = WorkResultChunk {
        results: vec![WorkResult {
            task_id: 1,
            outcome: None,
        }],
    };
    tx.send(WorkerMessage {
        kind: Some(worker_message::Kind::Results(results)),
    })
    .await
    .expect("open");
    let err =
        symbatcher::pb::v1::worker_service_client::WorkerServiceClient::new(server.channel.clone())
            .work(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .expect_err("refused");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("RegisterWorker"), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn invalid_engine_registrations_are_refused() {
    let server = spawn_server(config()).await;
    // An explicit 0 is an error naming the field and its limit (unset is
    // no cap), and so is a value above the limit.
    for refused in [0, 1025] {
        let err = try_connect_engine(&server.channel, "py", refused)
            .await
            .err()
            .expect("refused");
        assert_invalid(&err, "max_concurrency");
        assert!(
            err.message().contains("between 1 and 1024") && err.message().contains("unset"),
            "{err:?}"
        );
    }
    let err = try_connect_engine(&server.channel, " ", 1)
        .await
        .err()
        .expect("refused");
    assert_invalid(&err, "name");
    // A configured engine's name is taken.
    let err = try_connect_engine(&server.channel, "echo", 1)
        .await
        .err()
        .expect("refused");
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    // So is a connected one's.
    let _py = connect_engine(&server.channel, "py", 1).await;
    let err = try_connect_engine(&server.channel, "py", 1)
        .await
        .err()
        .expect("refused");
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn a_job_nobody_serves_fails_after_its_worker_wait() {
    let server = spawn_server(config()).await;
    // A worker for another expression does not count.
    let _other = connect_worker(&server.channel, "other", &["tests:Other"], 1).await;
    let start = Instant::now();
    let mut job = start_job(
        &server.channel,
        JobSpec {
            worker_wait_ms: Some(5_000),
            ..spec(EXPR, 4)
        },
    )
    .await;
    job.send_items(items(0..3)).await;
    job.end().await;
    let err = job.collect().await.expect_err("job fails");
    let waited = start.elapsed();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains(EXPR), "{err:?}");
    // The same facts, machine-readable, in the trailers.
    let md = err.metadata();
    assert_eq!(md.get("symbatcher-error-kind").unwrap(), "no_worker");
    assert_eq!(md.get("symbatcher-expression").unwrap(), EXPR);
    assert_eq!(md.get("symbatcher-waited-ms").unwrap(), "5000");
    assert!(
        waited >= Duration::from_millis(5_000),
        "failed early: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(5_100),
        "failed late: {waited:?}"
    );
    assert!(server.status().await.jobs.is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_server_default_worker_wait_applies() {
    let mut config = config();
    config.worker_wait_ms = 2_000;
    let server = spawn_server(config).await;
    let start = Instant::now();
    let mut job = start_job(&server.channel, spec(EXPR, 4)).await;
    job.send_items(items(0..1)).await;
    job.end().await;
    let err = job.collect().await.expect_err("job fails");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let waited = start.elapsed();
    assert!(
        (Duration::from_millis(2_000)..Duration::from_millis(2_100)).contains(&waited),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_worker_arriving_within_the_wait_serves_the_job() {
    let server = spawn_server(config()).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            worker_wait_ms: Some(5_000),
            ..spec(EXPR, 4)
        },
    )
    .await;
    job.send_items(items(0..1)).await;
    job.end().await;
    tokio::time::advance(Duration::from_secs(4)).await;
    let mut worker = connect_worker(&server.channel, "late", &[EXPR], 1).await;
    let task = worker.assignments(1).await.remove(0);
    // Well past the original wait: the job must not fail now.
    tokio::time::advance(Duration::from_secs(10)).await;
    worker
        .send_results(vec![ok_result(task.task_id, b"1")])
        .await;
    let out = job.collect().await.expect("job succeeds");
    assert_eq!(out.summary.succeeded, 1);
}

#[tokio::test(start_paused = true)]
async fn status_lists_workers_engines_and_jobs() {
    let mut config = config();
    config.echo_max_concurrency = 3;
    let server = spawn_server(config).await;
    let mut worker =
        connect_worker(&server.channel, "status-worker", &[EXPR, "tests:Other"], 7).await;
    let _engine = connect_engine(&server.channel, "py", 2).await;
    let _uncapped = connect_engine(&server.channel, "py-uncapped", None).await;
    let job = start_job(&server.channel, spec(EXPR, 4)).await;
    job.send_items(items(0..9)).await;
    // Seven run, two wait in the job's queue.
    worker.assignments(7).await;

    let status = server.status().await;
    assert_eq!(status.workers.len(), 1, "{status:?}");
    let w = &status.workers[0];
    assert_eq!(w.name, "status-worker");
    assert_eq!(
        w.expressions,
        vec![EXPR.to_string(), "tests:Other".to_string()]
    );
    assert_eq!(w.concurrency, 7);
    assert_eq!(w.running, 7);

    let echo = status
        .engines
        .iter()
        .find(|e| e.name == "echo")
        .expect("echo listed");
    assert_eq!(echo.kind, "echo");
    assert_eq!(echo.max_concurrency, 3);
    let py = status
        .engines
        .iter()
        .find(|e| e.name == "py")
        .expect("py listed");
    assert_eq!(py.kind, "python");
    assert_eq!(py.max_concurrency, 2);
    let uncapped = status
        .engines
        .iter()
        .find(|e| e.name == "py-uncapped")
        .expect("py-uncapped listed");
    assert_eq!(
        uncapped.max_concurrency, 0,
        "0: no cap, batches follow the slots"
    );

    assert_eq!(status.jobs.len(), 1);
    let j = &status.jobs[0];
    assert_eq!(j.received, 9);
    assert_eq!(j.job_id, job.accepted.job_id);
    assert_eq!(j.expression, EXPR);
    assert_eq!(j.engine, "echo");
    assert_eq!((j.queued, j.running, j.completed), (2, 7, 0));
    assert!(!j.input_closed);
}

#[tokio::test(start_paused = true)]
async fn health_reports_serving() {
    let server = spawn_server(config()).await;
    let response = HealthClient::new(server.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(response.status(), ServingStatus::Serving);
}

#[tokio::test(start_paused = true)]
async fn an_idle_server_shuts_down_cleanly_at_once() {
    let server = spawn_server(config()).await;
    let _ = server.status().await;
    let start = Instant::now();
    server.shutdown().await.expect("clean shutdown");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}
