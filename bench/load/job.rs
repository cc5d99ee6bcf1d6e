//! A native job client: streams `items` small JSON items on
//! `BatchService.Batch` while it reads the results, then returns the
//! server's summary.

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use symbatcher::pb::v1::batch_service_client::BatchServiceClient;
use symbatcher::pb::v1::{
    batch_request, batch_response, outcome, BatchRequest, EndOfInput, Item, ItemChunk, JobSpec,
    JobSummary,
};

/// Items per `ItemChunk`, as the Python client sends them.
const CHUNK: u64 = 256;

/// Requests queued towards the server; flow control is the server's window.
const OUTBOX: usize = 16;

/// What a job sends.
#[derive(Debug, Clone)]
pub struct JobPlan {
    pub expression: &'static str,
    pub items: u64,
    pub batch_size: u32,
}

/// What a job got back.
#[derive(Debug)]
pub struct JobReport {
    pub succeeded: u64,
    pub summary: JobSummary,
}

/// Runs one job to its summary.
pub async fn run_job(channel: Channel, plan: JobPlan) -> Result<JobReport, tonic::Status> {
    let (tx, rx) = mpsc::channel(OUTBOX);
    let spec = JobSpec {
        expression: plan.expression.to_string(),
        batch_size: plan.batch_size,
        engine: "echo".to_string(),
        ..Default::default()
    };
    let request = |kind| BatchRequest { kind: Some(kind) };
    tx.send(request(batch_request::Kind::Spec(spec)))
        .await
        .map_err(|_| tonic::Status::internal("fresh outbox closed"))?;
    let mut responses = BatchServiceClient::new(channel)
        .batch(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let items = plan.items;
    let feeder = tokio::spawn(async move {
        let mut next = 0;
        while next < items {
            let end = (next + CHUNK).min(items);
            let chunk = (next..end)
                .map(|index| Item {
                    index,
                    payload: b"\"item\"".to_vec(),
                    local_only: false,
                })
                .collect();
            next = end;
            if tx
                .send(request(batch_request::Kind::Items(ItemChunk {
                    items: chunk,
                })))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = tx
            .send(request(batch_request::Kind::End(EndOfInput {})))
            .await;
    });
    let mut received = 0u64;
    let mut succeeded = 0u64;
    let summary = loop {
        let Some(response) = responses.message().await? else {
            return Err(tonic::Status::internal(
                "job stream ended before its summary",
            ));
        };
        match response.kind {
            Some(batch_response::Kind::Results(chunk)) => {
                for result in &chunk.results {
                    received += 1;
                    let value = result.outcome.as_ref().and_then(|o| o.value.as_ref());
                    if matches!(value, Some(outcome::Value::Payload(_))) {
                        succeeded += 1;
                    }
                }
            }
            Some(batch_response::Kind::Summary(summary)) => break summary,
            _ => {}
        }
    };
    feeder.abort();
    if received != items {
        return Err(tonic::Status::internal(format!(
            "{received} results for {items} items"
        )));
    }
    Ok(JobReport { succeeded, summary })
}
