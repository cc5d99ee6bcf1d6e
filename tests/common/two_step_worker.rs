//! A worker whose every item makes two engine calls in a row, like a
//! `forward()` that summarises and then judges its summary: first
//! `"summarize <payload>"`, then `"judge: <first reply>"`; the item's result
//! is the second reply's text (a JSON string), or `"error: <message>"` when
//! a call fails. It runs as a task until the server closes its stream.
//! A replaying one (`spawn_replaying_two_step_worker`) registers `replays`
//! and drops a run whose call is answered `ERROR_KIND_PARKED`: its item
//! comes back as a new run, which makes both calls again from the start.

use std::collections::HashMap;

use tokio::task::JoinHandle;
use tonic::transport::Channel;

use super::{connect_worker, ok_result, reply_text, try_connect_worker, FakeWorker};
use symbatcher::pb::v1::{engine_reply, worker_command, ErrorKind, RegisterWorker};

/// Starts the worker; it serves `expression` with `concurrency` slots.
pub async fn spawn_two_step_worker(
    channel: &Channel,
    expression: &str,
    concurrency: u32,
) -> JoinHandle<()> {
    let worker = connect_worker(channel, "two-step", &[expression], concurrency).await;
    tokio::spawn(run(worker))
}

/// Starts a worker that registers `replays`: its runs give their slot back
/// when their call waits on a provider batch.
pub async fn spawn_replaying_two_step_worker(
    channel: &Channel,
    expression: &str,
    concurrency: u32,
) -> JoinHandle<()> {
    let register = RegisterWorker {
        name: "two-step-replaying".to_string(),
        expressions: vec![expression.to_string()],
        concurrency,
        replays: true,
        ..Default::default()
    };
    let worker = try_connect_worker(channel, register)
        .await
        .expect("worker registration accepted");
    tokio::spawn(run(worker))
}

async fn run(mut worker: FakeWorker) {
    // call id → (task id, step); call ids are task id * 2 + step.
    let mut payloads: HashMap<u64, String> = HashMap::new();
    while let Some(command) = worker.next_command().await {
        match command.kind {
            Some(worker_command::Kind::Assignments(chunk)) => {
                worker.start(&chunk.assignments).await;
                let calls: Vec<(u64, u64, String)> = chunk
                    .assignments
                    .iter()
                    .map(|a| {
                        let payload = String::from_utf8_lossy(&a.payload).to_string();
                        payloads.insert(a.task_id, payload.clone());
                        (a.task_id, a.task_id * 2, format!("summarize {payload}"))
                    })
                    .collect();
                worker.send_calls(&calls).await;
            }
            Some(worker_command::Kind::Replies(chunk)) => {
                let mut calls = Vec::new();
                let mut results = Vec::new();
                for reply in &chunk.replies {
                    let task_id = reply.call_id / 2;
                    if let Some(engine_reply::Outcome::Error(err)) = &reply.outcome {
                        if err.kind == ErrorKind::Parked as i32 {
                            // The server ended the run; no result.
                            payloads.remove(&task_id);
                            continue;
                        }
                    }
                    let text = match &reply.outcome {
                        Some(engine_reply::Outcome::Text(_)) => reply_text(reply).to_string(),
                        Some(engine_reply::Outcome::Error(err)) => {
                            format!("error: {}", err.message)
                        }
                        Some(engine_reply::Outcome::Embeddings(_)) | None => {
                            "error: no text".to_string()
                        }
                    };
                    // A failed call ends its item: its result is the error.
                    if reply.call_id % 2 == 0 && !text.starts_with("error: ") {
                        calls.push((task_id, task_id * 2 + 1, format!("judge: {text}")));
                    } else {
                        payloads.remove(&task_id);
                        let payload = serde_json::Value::String(text).to_string();
                        results.push(ok_result(task_id, payload.as_bytes()));
                    }
                }
                if !calls.is_empty() {
                    worker.send_calls(&calls).await;
                }
                if !results.is_empty() {
                    worker.send_results(results).await;
                }
            }
            _ => {}
        }
    }
}

/// What the two-step worker returns for the item with JSON payload
/// `payload`, given an engine that answers `"reply to: " + prompt`.
pub fn expected_result(payload: &str) -> String {
    format!("reply to: judge: reply to: summarize {payload}")
}
