//! Bounded memory per worker connection: engine calls over the per-run or
//! per-worker cap are answered at once with an error naming the limit, and a
//! worker that does not read its command stream is disconnected (its run
//! re-queued) once its backlog reaches its capacity, instead of the server
//! buffering replies for it without bound.

mod common;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Streaming};

use common::*;
use symbatcher::pb::v1::worker_service_client::WorkerServiceClient;
use symbatcher::pb::v1::{
    engine_reply, worker_command, worker_message, EngineReply, ErrorKind, JobSpec, RegisterWorker,
    WorkerCommand, WorkerEngineCall, WorkerEngineCallChunk, WorkerMessage,
};

const EXPR: &str = "tests.worker_limits:Expr";
const ENGINE: &str = "py";

fn held_spec(batch_size: u32) -> JobSpec {
    JobSpec {
        engine: ENGINE.to_string(),
        max_queue_delay_ms: Some(10_000),
        ..spec(EXPR, batch_size)
    }
}

fn limit_message(reply: &EngineReply) -> &str {
    let Some(engine_reply::Outcome::Error(err)) = &reply.outcome else {
        panic!("call {} should have failed: {reply:?}", reply.call_id);
    };
    assert_eq!(err.kind, ErrorKind::Engine as i32, "{err:?}");
    &err.message
}

#[tokio::test(start_paused = true)]
async fn calls_over_the_per_run_cap_are_answered_at_once_naming_the_limit() {
    let mut config = config();
    config.guards.max_calls_per_run = 4;
    let server = spawn_server(config).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 1).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 1).await;
    let mut job = start_job(&server.channel, held_spec(100)).await;
    job.send_items(items(0..1)).await;
    job.end().await;
    let task = worker.assignments(1).await.remove(0);

    let calls: Vec<_> = (0..6)
        .map(|i| (task.task_id, 100 + i, format!("p{i}")))
        .collect();
    worker.send_calls(&calls).await;
    // The fifth and sixth are over the cap: answered before any engine.
    let over = replies_by_call(&mut worker, 2).await;
    assert_eq!(over.keys().copied().collect::<Vec<_>>(), [104, 105]);
    for reply in over.values() {
        let message = limit_message(reply);
        assert!(
            message.contains("--max-calls-per-run 4"),
            "the error names the flag and the limit: {message}"
        );
    }
    // The four under it leave as one batch and get the engine's answers.
    let batch = engine.next_batch().await.expect("a batch");
    assert_eq!(batch.calls.len(), 4);
    engine.answer(&batch).await;
    let answered = replies_by_call(&mut worker, 4).await;
    assert_eq!(
        answered.keys().copied().collect::<Vec<_>>(),
        [100, 101, 102, 103]
    );
    for (id, reply) in &answered {
        assert_eq!(reply_text(reply), format!("engine: p{}", id - 100));
    }

    worker
        .send_results(vec![ok_result(task.task_id, b"0")])
        .await;
    let out = job.collect().await.expect("job finishes");
    assert_eq!(out.summary.succeeded, 1);
}

#[tokio::test(start_paused = true)]
async fn calls_over_the_per_worker_cap_are_answered_at_once_naming_the_limit() {
    let mut config = config();
    config.guards.max_calls_per_worker = Some(3);
    let server = spawn_server(config).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 1).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 2).await;
    let mut job = start_job(&server.channel, held_spec(100)).await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let mut tasks = worker.assignments(2).await;
    tasks.sort_by_key(|t| t.index);
    let (a, b) = (tasks[0].task_id, tasks[1].task_id);

    worker
        .send_calls(&[
            (a, 100, "a0".into()),
            (a, 101, "a1".into()),
            (b, 102, "b0".into()),
            (b, 103, "b1".into()),
        ])
        .await;
    let over = replies_by_call(&mut worker, 1).await;
    let message = limit_message(&over[&103]);
    assert!(
        message.contains("worker") && message.contains("--max-calls-per-worker 3"),
        "{message}"
    );
    let status = server.status().await;
    assert_eq!(status.workers[0].engine_calls, 3, "{status:?}");

    let batch = engine.next_batch().await.expect("a batch");
    assert_eq!(batch.calls.len(), 3);
    engine.answer(&batch).await;
    let answered = replies_by_call(&mut worker, 3).await;
    assert!(answered
        .values()
        .all(|r| reply_text(r).starts_with("engine: ")));
    assert_eq!(server.status().await.workers[0].engine_calls, 0);

    worker
        .send_results(tasks.iter().map(|t| ok_result(t.task_id, b"0")).collect())
        .await;
    job.collect().await.expect("job finishes");
}

/// A worker connection read by hand, so that the test can stop reading it.
struct RawWorker {
    tx: mpsc::Sender<WorkerMessage>,
    commands: Streaming<WorkerCommand>,
}

async fn raw_worker(server: &TestServer, register: RegisterWorker) -> RawWorker {
    let (tx, rx) = mpsc::channel(64);
    tx.send(WorkerMessage {
        kind: Some(worker_message::Kind::Register(register)),
    })
    .await
    .expect("fresh channel");
    let commands = WorkerServiceClient::new(server.channel.clone())
        .work(ReceiverStream::new(rx))
        .await
        .expect("registered")
        .into_inner();
    RawWorker { tx, commands }
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_does_not_read_its_stream_is_disconnected_with_a_bounded_backlog() {
    let config = config();
    let capacity = config.guards.worker_command_capacity(1, 0) as u32;
    let server = spawn_server(config).await;
    let mut slow = raw_worker(
        &server,
        RegisterWorker {
            name: "slow".into(),
            expressions: vec![EXPR.into()],
            concurrency: 1,
            ..Default::default()
        },
    )
    .await;
    // The echo engine answers at once.
    let mut job = start_job(&server.channel, spec(EXPR, 64)).await;
    job.send_items(items(0..1)).await;
    job.end().await;
    let task_id = loop {
        let command = within("the assignment", slow.commands.message())
            .await
            .expect("healthy")
            .expect("open");
        if let Some(worker_command::Kind::Assignments(chunk)) = command.kind {
            break chunk.assignments[0].task_id;
        }
    };
    let mut other = connect_worker(&server.channel, "other", &[EXPR], 1).await;

    // The slow worker keeps making engine calls and never reads a reply.
    let prompt = "x".repeat(1024);
    let mut most_buffered = 0;
    let mut chunks = 0u64;
    loop {
        let status = server.status().await;
        let Some(listed) = status.workers.iter().find(|w| w.name == "slow") else {
            break;
        };
        most_buffered = most_buffered.max(listed.buffered);
        assert!(
            chunks < 5_000,
            "never disconnected; {} entries buffered",
            listed.buffered
        );
        let calls = (0..64)
            .map(|i| WorkerEngineCall {
                task_id,
                call: Some(engine_call(chunks * 64 + i, &prompt)),
            })
            .collect();
        let message = WorkerMessage {
            kind: Some(worker_message::Kind::EngineCalls(WorkerEngineCallChunk {
                calls,
            })),
        };
        slow.tx.send(message).await.expect("request stream open");
        chunks += 1;
    }
    assert!(
        most_buffered > 0 && most_buffered <= capacity,
        "backlog peaked at {most_buffered} entries, capacity {capacity}"
    );

    // Its run went back to the queue, and to the other worker.
    let requeued = other.assignments(1).await;
    assert_eq!(requeued[0].index, 0);
    other
        .send_results(vec![ok_result(requeued[0].task_id, b"0")])
        .await;
    let out = job.collect().await.expect("job finishes");
    assert_eq!((out.summary.succeeded, out.summary.requeued), (1, 1));

    // What was in transit reaches it, then the reason it was disconnected.
    let mut read = 0u64;
    let status = loop {
        match within("the end of the slow stream", slow.commands.message()).await {
            Ok(Some(_)) => read += 1,
            Ok(None) => panic!("the stream ended without an error after {read} messages"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("did not read its command stream"),
        "{status:?} (after {read} messages)"
    );
}
