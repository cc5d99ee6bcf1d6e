//! `StatusService.Status`: a snapshot of jobs, workers, queues and engines.

use tonic::{Request, Response, Status};

use super::Edge;
use crate::pb::v1::status_service_server::StatusService;
use crate::pb::v1::{StatusRequest, StatusResponse};

#[derive(Debug)]
pub struct StatusApi {
    edge: Edge,
}

impl StatusApi {
    pub fn new(edge: Edge) -> Self {
        StatusApi { edge }
    }
}

#[tonic::async_trait]
impl StatusService for StatusApi {
    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let mut status = self.edge.scheduler.status().await?;
        status.default_engine = self.edge.config.default_engine().to_string();
        status.default_engine_source = self.edge.config.default_engine_source.to_string();
        status.default_embedding_engine = self
            .edge
            .config
            .default_embedding_engine()
            .unwrap_or_default()
            .to_string();
        Ok(Response::new(status))
    }
}
