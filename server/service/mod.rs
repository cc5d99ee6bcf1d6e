//! The gRPC edge: decode and validate requests, hand them to the scheduler,
//! encode what comes back. No scheduling logic lives here.
//!
//! - `batch`: `BatchService.Batch` (jobs) and JobSpec validation;
//! - `worker`: `WorkerService.Work` (workers);
//! - `engine`: `EngineService.Serve` (engine processes);
//! - `status`: `StatusService.Status`;
//! - `limits`: chunks below the message limit, undecodable requests;
//! - `worker_stream`: a worker's commands, gathered and paced into few
//!   messages;
//! - `metrics_http`: the Prometheus endpoint (`--metrics-listen`), plain
//!   HTTP beside the gRPC services.

mod batch;
mod engine;
mod limits;
pub(crate) mod metrics_http;
mod status;
mod worker;
mod worker_stream;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::service::Routes;

use crate::config::ServerConfig;
use crate::pb::v1::batch_service_server::BatchServiceServer;
use crate::pb::v1::engine_service_server::EngineServiceServer;
use crate::pb::v1::status_service_server::StatusServiceServer;
use crate::pb::v1::worker_service_server::WorkerServiceServer;
use crate::scheduler::SchedulerHandle;
use crate::telemetry::Metrics;

/// What every service of the edge shares.
#[derive(Debug, Clone)]
pub struct Edge {
    pub scheduler: SchedulerHandle,
    /// Where job results and summaries are counted on their way out.
    pub metrics: Metrics,
    pub config: Arc<ServerConfig>,
    pub cancel: CancellationToken,
    pub tracker: TaskTracker,
}

/// The symbatcher services (without health and reflection).
pub fn routes(edge: Edge) -> Routes {
    // Largest message received or sent (`--max-message-bytes`).
    let max_message = edge.config.limits.max_message_bytes();
    let mut builder = Routes::builder();
    builder
        .add_service(
            BatchServiceServer::new(batch::JobService::new(edge.clone()))
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
        )
        .add_service(
            WorkerServiceServer::new(worker::WorkerApi::new(edge.clone()))
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
        )
        .add_service(
            EngineServiceServer::new(engine::EngineApi::new(edge.clone()))
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
        )
        .add_service(StatusServiceServer::new(status::StatusApi::new(edge)));
    builder.routes()
}
