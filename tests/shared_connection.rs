//! A client whose job stream and worker stream share one HTTP/2 connection,
//! and whose job sends items faster than its window lets the server read
//! them (docs/protocol.md allows that: the writes wait on flow control).
//! The unread items must not take the connection's whole flow-control
//! window, or the worker's results, which would open the job's window,
//! cannot reach the server either, and both streams wait forever.

mod common;

use common::*;
use symbatcher::pb::v1::batch_service_client::BatchServiceClient;
use symbatcher::pb::v1::{
    batch_request, batch_response, worker_command, BatchRequest, EndOfInput, Item, ItemChunk,
    JobSpec, WorkResultChunk, WorkerMessage,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const EXPR: &str = "SharedConnection";
/// Items of 2 KiB: 4,000 of them are 8 MiB, far more than one stream's
/// window, all sent without waiting for results.
const ITEMS: u64 = 4_000;
const PAYLOAD_BYTES: usize = 2048;

#[tokio::test(start_paused = true)]
async fn a_job_writing_past_its_window_does_not_block_its_own_worker_on_the_same_connection() {
    let server = spawn_server(config()).await;
    let channel = server.channel.clone();
    let mut worker = connect_worker(&channel, "w", &[EXPR], 8).await;

    let (tx, rx) = mpsc::channel(64);
    let request = |kind| BatchRequest { kind: Some(kind) };
    tx.send(request(batch_request::Kind::Spec(JobSpec {
        window: Some(16),
        ..spec(EXPR, 8)
    })))
    .await
    .expect("fresh channel");
    let mut responses = BatchServiceClient::new(channel.clone())
        .batch(ReceiverStream::new(rx))
        .await
        .expect("job accepted")
        .into_inner();
    let payload = format!("\"{}\"", "x".repeat(PAYLOAD_BYTES)).into_bytes();
    // Writes every item at once, whatever the window: only flow control
    // holds it back.
    let feeder = tokio::spawn(async move {
        for start in (0..ITEMS).step_by(50) {
            let items = (start..start + 50)
                .map(|index| Item {
                    index,
                    payload: payload.clone(),
                    local_only: false,
                })
                .collect();
            let chunk = request(batch_request::Kind::Items(ItemChunk { items }));
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
        let _ = tx
            .send(request(batch_request::Kind::End(EndOfInput {})))
            .await;
    });
    // The worker answers each run as soon as it is assigned.
    let serving = tokio::spawn(async move {
        while let Some(command) = worker.next_command().await {
            if let Some(worker_command::Kind::Assignments(chunk)) = command.kind {
                worker.start(&chunk.assignments).await;
                let results = chunk
                    .assignments
                    .iter()
                    .map(|a| ok_result(a.task_id, b"\"done\""))
                    .collect();
                worker
                    .send(WorkerMessage {
                        kind: Some(symbatcher::pb::v1::worker_message::Kind::Results(
                            WorkResultChunk { results },
                        )),
                    })
                    .await;
            }
        }
    });

    let mut results = 0;
    let summary = loop {
        let response = within("the job's results", responses.message())
            .await
            .expect("job stream healthy")
            .expect("a summary before the stream ends");
        match response.kind {
            Some(batch_response::Kind::Results(chunk)) => results += chunk.results.len() as u64,
            Some(batch_response::Kind::Summary(summary)) => break summary,
            _ => {}
        }
    };
    assert_eq!(results, ITEMS);
    assert_eq!(summary.succeeded, ITEMS);
    feeder.await.expect("feeder");
    serving.abort();
}
