//! `WorkerUpdate`: a worker's started runs, engine calls and results in one
//! message, each part handled as its own message would be.

mod common;

use common::*;
use symbatcher::pb::v1::{
    worker_command, worker_message, JobSpec, WorkerEngineCall, WorkerMessage, WorkerUpdate,
};

const EXPR: &str = "Updated";

#[tokio::test(start_paused = true)]
async fn one_update_starts_runs_sends_their_calls_and_finishes_runs() {
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, "e", 1).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 2).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            engine: "e".into(),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let tasks = worker.assignments(2).await;
    let (calling, done) = (tasks[0].task_id, tasks[1].task_id);

    worker
        .send(WorkerMessage {
            kind: Some(worker_message::Kind::Update(WorkerUpdate {
                started_task_ids: vec![calling, done],
                calls: vec![WorkerEngineCall {
                    task_id: calling,
                    call: Some(engine_call(7, "asked in an update")),
                }],
                results: vec![ok_result(done, b"\"finished in an update\"")],
            })),
        })
        .await;

    // The call reaches the engine (its run started and is parked on it,
    // the other run finished: all parked), and the finished run counts.
    let batch = engine.next_batch().await.expect("a batch");
    assert_eq!(batch.calls.len(), 1);
    assert_eq!(batch.calls[0].prompt, "asked in an update");
    let status = server.status().await;
    assert_eq!(status.jobs[0].completed, 1);
    assert_eq!(status.workers[0].started, 1, "{:?}", status.workers[0]);
    engine.answer(&batch).await;
    let reply = match worker.next_command().await.expect("stream open").kind {
        Some(worker_command::Kind::Replies(r)) => r.replies[0].clone(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(reply.call_id, 7);
    assert_eq!(reply_text(&reply), "engine: asked in an update");

    worker
        .send(WorkerMessage {
            kind: Some(worker_message::Kind::Update(WorkerUpdate {
                results: vec![ok_result(calling, b"\"answered\"")],
                ..Default::default()
            })),
        })
        .await;
    let out = job.collect().await.expect("the job finishes");
    let mut payloads = out.payloads_by_index();
    payloads.sort();
    assert_eq!(
        payloads,
        vec![
            (0, b"\"answered\"".to_vec()),
            (1, b"\"finished in an update\"".to_vec())
        ]
    );
}
