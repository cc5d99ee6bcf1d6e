//! The gRPC edge: decode and validate requests, hand them to the scheduler,
//! encode what comes back. No scheduling logic lives here.
//!
//! - `batch`: `BatchService.Batch` (jobs) and JobSpec validation;
//! - `worker`: `WorkerService.Work` (workers);
//! - `engine`: `EngineService.Serve` (engine processes);
//! - `status`: `StatusService.Status`.

mod batch;
mod engine;
mod status;
mod worker;

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

pub use batch::validate_spec;

/// What every service of the edge shares.
#[derive(Debug, Clone)]
pub struct Edge {
    pub scheduler: SchedulerHandle,
    pub config: Arc<ServerConfig>,
    pub cancel: CancellationToken,
    pub tracker: TaskTracker,
}

/// Largest message the server accepts (an `ItemChunk` of large items, or a
/// worker's chunk of results).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The symbatcher services (without health and reflection).
pub fn routes(edge: Edge) -> Routes {
    let mut builder = Routes::builder();
    builder
        .add_service(
            BatchServiceServer::new(batch::BatchApi::new(edge.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            WorkerServiceServer::new(worker::WorkerApi::new(edge.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            EngineServiceServer::new(engine::EngineApi::new(edge.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(StatusServiceServer::new(status::StatusApi::new(edge)));
    builder.routes()
}
