//! `EngineService.Serve`: an engine process registers under a name and then
//! answers batches.

use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::limits::inbound_error;
use super::Edge;
use crate::config::{names, ECHO_ENGINE, MAX_BATCH_SIZE, MAX_ENGINE_CONCURRENCY};
use crate::engine::connected::connected_engine_task;
use crate::engine::{CallKind, ConnectedEngine, ConnectedTraits, Engine};
use crate::error::Error;
use crate::pb::v1::engine_service_server::EngineService;
use crate::pb::v1::{
    engine_command, engine_worker_message, EngineCommand, EngineRegistered, EngineWorkerMessage,
};

#[derive(Debug)]
pub struct EngineApi {
    edge: Edge,
}

impl EngineApi {
    pub fn new(edge: Edge) -> Self {
        EngineApi { edge }
    }

    /// Refuses `name` when it differs only in case from a configured or
    /// connected engine (or echo): `ECHO` is never a second `echo`. The same
    /// name is left to the scheduler (a restart within the reconnect grace
    /// takes its place; else ALREADY_EXISTS).
    async fn refuse_case_variant(&self, name: &str) -> Result<(), Error> {
        let status = self.edge.scheduler.status().await?;
        let clash = status
            .engines
            .iter()
            .map(|e| e.name.as_str())
            .chain([ECHO_ENGINE])
            .find(|other| names::differ_only_in_case(other, name))
            .map(str::to_string);
        match clash {
            Some(other) => Err(Error::invalid(
                "name",
                format!(
                    "{name:?} differs from the engine {other:?} only in case; engine names \
                     that differ only in case are refused"
                ),
            )),
            None => Ok(()),
        }
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
        let name =
            names::check_name(&register.name).map_err(|reason| Error::invalid("name", reason))?;
        self.refuse_case_variant(&name).await?;
        let max_concurrency = match register.max_concurrency {
            None => None,
            Some(n) if (1..=MAX_ENGINE_CONCURRENCY).contains(&n) => Some(n as usize),
            Some(n) => {
                return Err(Error::invalid(
                    "max_concurrency",
                    format!(
                        "must be between 1 and {MAX_ENGINE_CONCURRENCY}, got {n} (batches at \
                         once; leave it unset for no cap: batches then follow the worker slots)"
                    ),
                )
                .into())
            }
        };
        let call_kind = match CallKind::try_from(register.call_kind) {
            Ok(CallKind::Unspecified) | Ok(CallKind::Neurosymbolic) => CallKind::Neurosymbolic,
            Ok(CallKind::Embedding) => CallKind::Embedding,
            Err(_) => {
                return Err(Error::invalid(
                    "call_kind",
                    format!(
                        "unknown call kind {} (1 neurosymbolic, 2 embedding, 0 neurosymbolic)",
                        register.call_kind
                    ),
                )
                .into())
            }
        };
        let traits = ConnectedTraits {
            cache_by_default: register.cache_by_default,
            call_kind,
            answers_per_call: register.answers_per_call,
        };
        let (engine, batch_rx) = ConnectedEngine::channel(&name, max_concurrency, traits);
        self.edge
            .scheduler
            .register_engine(
                name.clone(),
                Engine::Connected(engine),
                max_concurrency,
                MAX_BATCH_SIZE as usize,
            )
            .await?;
        // Bounded by the engine's concurrency (no more batches are in flight)
        // plus the registration acknowledgement; without one, by as many
        // batches as a capped engine may have: beyond that the engine
        // process is not reading its stream, and the batches wait for it.
        let bound = max_concurrency.unwrap_or(MAX_ENGINE_CONCURRENCY as usize);
        let (out_tx, out_rx) = mpsc::channel(bound + 1);
        let registered = EngineCommand {
            kind: Some(engine_command::Kind::Registered(EngineRegistered {
                name: name.clone(),
                replies_ahead: true,
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
            let _ = scheduler.engine_gone(name).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }
}
