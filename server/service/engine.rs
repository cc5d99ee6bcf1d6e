//! `EngineService.Serve`: an engine process registers under a name and then
//! answers batches.

use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::limits::inbound_error;
use super::Edge;
use crate::config::{MAX_BATCH_SIZE, MAX_ENGINE_CONCURRENCY};
use crate::engine::connected::connected_engine_task;
use crate::engine::{ConnectedEngine, Engine};
use crate::error::Error;
use crate::pb::v1::engine_service_server::EngineService;
use crate::pb::v1::{
    engine_command, engine_worker_message, EngineCommand, EngineRegistered, EngineWorkerMessage,
};
use crate::scheduler::SchedulerCommand;

#[derive(Debug)]
pub struct EngineApi {
    edge: Edge,
}

impl EngineApi {
    pub fn new(edge: Edge) -> Self {
        EngineApi { edge }
    }
}

#[tonic::async_trait]
impl EngineService for EngineApi {
    type ServeStream = Pin<Box<dyn Stream<Item = Result<EngineCommand, Status>> + Send>>;

    async fn serve(
        &self,
        request: Request<Streaming<EngineWorkerMessage>>,
    ) -> Result<Response<Self::ServeStream>, Status> {
        let mut inbound = request.into_inner();
        let register = match inbound.message().await.map_err(inbound_error)? {
            Some(EngineWorkerMessage {
                kind: Some(engine_worker_message::Kind::Register(register)),
            }) => register,
            _ => {
                return Err(Error::Protocol(
                    "the first EngineWorkerMessage must be RegisterEngine".into(),
                )
                .into())
            }
        };
        if register.name.trim().is_empty() {
            return Err(Error::invalid("name", "must not be empty").into());
        }
        if !(1..=MAX_ENGINE_CONCURRENCY).contains(&register.max_concurrency) {
            return Err(Error::invalid(
                "max_concurrency",
                format!(
                    "must be between 1 and {MAX_ENGINE_CONCURRENCY}, got {}",
                    register.max_concurrency
                ),
            )
            .into());
        }
        let max_concurrency = register.max_concurrency as usize;
        let name = register.name;
        let (engine, batch_rx) = ConnectedEngine::channel(&name, max_concurrency);
        self.edge
            .scheduler
            .request(|reply| SchedulerCommand::RegisterEngine {
                name: name.clone(),
                engine: Engine::Connected(engine),
                max_concurrency,
                max_batch_size: MAX_BATCH_SIZE as usize,
                reply,
            })
            .await??;
        // Bounded by the engine's concurrency (no more batches are in flight)
        // plus the registration acknowledgement.
        let (out_tx, out_rx) = mpsc::channel(max_concurrency + 1);
        let registered = EngineCommand {
            kind: Some(engine_command::Kind::Registered(EngineRegistered {
                name: name.clone(),
            })),
        };
        out_tx
            .send(Ok(registered))
            .await
            .map_err(|_| Status::cancelled("engine stream closed during registration"))?;
        let scheduler = self.edge.scheduler.clone();
        let cancel = self.edge.cancel.clone();
        self.edge.tracker.spawn(async move {
            connected_engine_task(name.clone(), inbound, out_tx, batch_rx, cancel).await;
            let _ = scheduler.send(SchedulerCommand::EngineGone { name }).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }
}
