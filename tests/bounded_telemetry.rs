//! Names, metrics and the metrics endpoint stay bounded whatever clients
//! send: names over the limit are refused at the edge, the job series of
//! finished jobs leave the registry, and idle sockets on the metrics port
//! cannot take the file descriptors gRPC needs.
//!
//! The full-size figures (3,000 jobs, 20,000 sockets) come from the same
//! tests with `SYMBATCHER_TELEMETRY_JOBS=3000` and
//! `SYMBATCHER_IDLE_SOCKETS=20000 SYMBATCHER_IDLE_CAP=64`, printed with `--nocapture`.

mod common;

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tonic::Code;

use common::fake_openai::{FakeOpenAi, FakeSettings};
use common::server_process::ServerProcess;
use common::{
    config, connect_worker, ok_result, run_engine_job_on, spawn_server, spec, start_job,
    try_connect_engine, try_connect_worker, try_start_job,
};
use symbatcher::pb::v1::status_service_client::StatusServiceClient;
use symbatcher::pb::v1::{
    engine_reply, worker_message, EngineCall, Item, JobSpec, RegisterWorker, StatusRequest,
    WorkerEngineCall, WorkerEngineCallChunk, WorkerMessage,
};

fn field(status: &tonic::Status) -> &str {
    status
        .metadata()
        .get("symbatcher-field")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test]
async fn names_over_the_limit_or_with_control_characters_are_refused_naming_the_field() {
    let server = spawn_server(config()).await;
    // The figure: 20 jobs with 1 MB expression names.
    for i in 0..20 {
        let name = format!("{i}{}", "x".repeat(1 << 20));
        let err = try_start_job(&server.channel, spec(&name, 4))
            .await
            .err()
            .expect("a 1 MB name is refused");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(field(&err), "expression");
        assert!(err.message().contains("limit of 256"), "{}", err.message());
    }
    let injected = JobSpec {
        engine: "echo\nINFO forged line".into(),
        ..spec("m:E", 4)
    };
    let err = try_start_job(&server.channel, injected)
        .await
        .err()
        .expect("refused");
    assert_eq!((err.code(), field(&err)), (Code::InvalidArgument, "engine"));
    assert!(err.message().contains("U+000A"), "{}", err.message());

    let worker = RegisterWorker {
        name: "w\r\n".repeat(2),
        expressions: vec!["m:E".into()],
        concurrency: 1,
        ..Default::default()
    };
    let err = try_connect_worker(&server.channel, worker)
        .await
        .err()
        .expect("refused");
    assert_eq!((err.code(), field(&err)), (Code::InvalidArgument, "name"));

    for (name, why) in [("ECHO", "only in case"), ("py\0thon", "U+0000")] {
        let err = try_connect_engine(&server.channel, name, None)
            .await
            .err()
            .expect("refused");
        assert_eq!((err.code(), field(&err)), (Code::InvalidArgument, "name"));
        assert!(err.message().contains(why), "{}", err.message());
    }
    // Surrounding whitespace is not part of a name: " echo " is echo.
    let job = start_job(
        &server.channel,
        JobSpec {
            engine: " echo ".into(),
            ..spec("m:E", 4)
        },
    )
    .await;
    assert_eq!(job.accepted.engine, "echo");
}

#[tokio::test]
async fn kwargs_nested_deeper_than_the_limit_are_refused_naming_the_limit() {
    let server = spawn_server(config()).await;
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(65), "]".repeat(65));
    let err = try_start_job(
        &server.channel,
        JobSpec {
            kwargs_json: deep,
            ..spec("m:E", 4)
        },
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(
        (err.code(), field(&err)),
        (Code::InvalidArgument, "kwargs_json")
    );
    assert!(err.message().contains("limit of 64"), "{}", err.message());
}

#[tokio::test]
async fn an_engine_call_with_kwargs_nested_too_deep_fails_alone_naming_the_limit() {
    let server = spawn_server(config()).await;
    let mut worker = connect_worker(&server.channel, "w", &["m:Deep"], 2).await;
    let mut job = start_job(&server.channel, spec("m:Deep", 2)).await;
    job.send_items(common::items(0..2)).await;
    job.end().await;
    let tasks = worker.assignments(2).await;
    worker.start(&tasks).await;
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(65), "]".repeat(65));
    let calls = vec![
        WorkerEngineCall {
            task_id: tasks[0].task_id,
            call: Some(EngineCall {
                kwargs_json: deep,
                ..common::engine_call(1, "deep")
            }),
        },
        WorkerEngineCall {
            task_id: tasks[1].task_id,
            call: Some(common::engine_call(2, "fine")),
        },
    ];
    worker
        .send(WorkerMessage {
            kind: Some(worker_message::Kind::EngineCalls(WorkerEngineCallChunk {
                calls,
            })),
        })
        .await;
    let mut replies = Vec::new();
    while replies.len() < 2 {
        replies.extend(worker.next_replies().await);
    }
    replies.sort_by_key(|r| r.call_id);
    let Some(engine_reply::Outcome::Error(err)) = &replies[0].outcome else {
        panic!("the deep call fails: {:?}", replies[0]);
    };
    assert!(
        err.message.contains("kwargs_json") && err.message.contains("limit of 64"),
        "{}",
        err.message
    );
    assert_eq!(common::reply_text(&replies[1]), "echo: fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_stay_bounded_after_many_jobs_with_distinct_names() {
    let jobs = env_count("SYMBATCHER_TELEMETRY_JOBS", 300);
    let mut server = ServerProcess::start(&["--metrics-listen", "127.0.0.1:0"]);
    let metrics = server.metrics_addr();
    let channel = server.channel().await;
    let names: Vec<String> = (0..jobs)
        .map(|i| format!("bench.distinct_{i:05}:{}", "E".repeat(200)))
        .collect();
    let run = |name: String| {
        let channel = channel.clone();
        async move {
            let mut job = start_job(&channel, spec(&name, 1)).await;
            job.send_items(vec![Item {
                index: 0,
                payload: b"1".to_vec(),
                local_only: false,
            }])
            .await;
            job.end().await;
            job
        }
    };
    // Warm up (allocator arenas, the first connection) before measuring.
    let warmup = connect_worker(&channel, "warmup", &["bench.warmup:E"], 1).await;
    drop(run("bench.warmup:E".to_string()).await);
    drop(warmup);
    let rss_before = server.rss_bytes();
    let started = Instant::now();
    for name in &names {
        // A worker per expression, gone with its job, as a client's own.
        let mut worker = connect_worker(&channel, "distinct", &[name], 1).await;
        let job = run(name.clone()).await;
        let task = worker.assignments(1).await.remove(0);
        worker
            .send_results(vec![ok_result(task.task_id, b"1")])
            .await;
        let output = job.collect().await.expect("job completes");
        assert_eq!(output.summary.succeeded, 1);
        worker.disconnect();
    }
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let rss_after = server.rss_bytes();
    eprintln!(
        "{jobs} jobs with distinct names in {:?}: /metrics {} bytes, RSS {} -> {} kB ({:+} kB)",
        started.elapsed(),
        text.len(),
        rss_before / 1024,
        rss_after / 1024,
        (rss_after as i64 - rss_before as i64) / 1024
    );
    let kept = names
        .iter()
        .filter(|n| text.contains(&format!("symbatcher_items_total{{expression=\"{n}\"")))
        .count();
    assert!(kept <= 64, "{kept} finished expressions still have series");
    assert!(text.contains(&names[jobs - 1]), "the latest one is kept");
    assert!(
        text.contains("symbatcher_jobs_finished_total{expression=\"(evicted)\",engine=\"(evicted)\",outcome=\"completed\"}"),
        "the counts of evicted series are kept"
    );
    assert!(text.len() < 1 << 20, "/metrics is {} bytes", text.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_beyond_the_metrics_connection_cap_leave_grpc_answering() {
    let sockets = env_count("SYMBATCHER_IDLE_SOCKETS", 300);
    let cap = env_count("SYMBATCHER_IDLE_CAP", 4).to_string();
    let mut server = ServerProcess::start(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-max-connections",
        &cap,
        "--metrics-idle-timeout-ms",
        "500",
    ]);
    let metrics = server.metrics_addr();
    let mut idle = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        match TcpStream::connect(metrics).await {
            Ok(socket) => idle.push(socket),
            Err(err) => panic!("socket {} of {sockets}: {err}", idle.len()),
        }
    }
    let started = Instant::now();
    let status = tokio::time::timeout(
        Duration::from_secs(10),
        StatusServiceClient::new(server.channel().await).status(StatusRequest {}),
    )
    .await
    .expect("Status answers within 10 s")
    .expect("Status succeeds");
    eprintln!(
        "{sockets} idle sockets on the metrics port: Status answered in {:?} ({} engines)",
        started.elapsed(),
        status.into_inner().engines.len()
    );
    // One beyond the cap was closed at once; one within it after the idle
    // timeout: both read end of file.
    let mut byte = [0u8; 1];
    let last = idle.len() - 1;
    for at in [last, 0] {
        let socket = &mut idle[at];
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut byte))
            .await
            .expect("the server closes the socket");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    drop(idle);
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .expect("a fresh scrape is served once the idle sockets are gone")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("symbatcher_engine_batches"),
        "{}",
        &text[..text.len().min(200)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_echoed_back_as_the_model_is_scrubbed_from_every_log_line() {
    let key = "sk-test-4f1c9a7e2b";
    let fake = FakeOpenAi::start(FakeSettings::default()).await;
    let config = format!(
        "[engines.gpt]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"H1_TEST_KEY\"",
        fake.base_url()
    );
    let server =
        ServerProcess::start_with_env(&["--config-toml", &config], &[("H1_TEST_KEY", key)]);
    let channel = server.channel().await;
    // The provider answers with the request's model: here the key itself,
    // which has no price, so the server warns about that "model".
    let kwargs = format!("{{\"model\": \"{key}\"}}");
    let calls = vec![("hello".to_string(), kwargs)];
    let (replies, _) = run_engine_job_on(&channel, "Scrub", "gpt", &calls, 1).await;
    assert_eq!(replies.len(), 1);
    drop(channel);
    let lines = server.stop();
    let warned = lines
        .iter()
        .find(|l| l.contains("model has no price"))
        .unwrap_or_else(|| panic!("no unpriced-model WARN in {lines:#?}"));
    assert!(warned.contains("[redacted]"), "{warned}");
    let leaked: Vec<&String> = lines.iter().filter(|l| l.contains(key)).collect();
    assert!(leaked.is_empty(), "the key reached: {leaked:#?}");
}
