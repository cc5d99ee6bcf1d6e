//! symbatcher: runs symai Expressions over datasets and batches the engine
//! calls they make, across every worker, into as few engine requests as the
//! engine allows.
//!
//! # Layout
//!
//! - [`config`]: command-line flags, the engines config file, defaults.
//! - [`auth`]: bearer tokens and roles, checked by a tower layer.
//! - [`tls`]: the server's TLS certificate (rustls) and client CA.
//! - [`error`]: the server's error type; the only place gRPC codes are chosen.
//! - [`shutdown`]: SIGINT/SIGTERM and end-of-stdin signals.
//! - [`pb`]: generated protocol types (`proto/symbatcher/v1`).
//! - `service`: the edge: the gRPC services (decode, validate, hand over,
//!   encode) and the Prometheus `/metrics` endpoint (`--metrics-listen`).
//! - `scheduler`: the actor that owns jobs, workers, engine calls and
//!   engines, behind a typed handle (one method per request).
//! - `batcher`: per (engine, model) call queues and the flush policy.
//! - [`engine`]: the engines engine batches go to (`echo`, `connected`,
//!   `openai`, `openai-batch`), and the ones a server starts with, built
//!   from its configuration (`engine::assemble`).
//! - `cache`: the call cache on disk (redb) and in-flight coalescing.
//! - [`cost`]: prices per model and the cost of a call.
//! - [`telemetry`]: the Prometheus metrics registry, logging
//!   (`--log-format`) with job and engine-batch spans, latency histograms
//!   for summaries and `Status`.
//!
//! [`run`] serves on a TCP listener; [`serve`] on any stream of connections
//! (tests use in-memory pipes). Their `_announced` forms call back once the
//! server is ready, after its stores are open and locked (`calls.redb`,
//! `batches.redb`) and its engines are set up: the binary prints
//! `listening on` then, so a server that cannot take its stores never says
//! it listens.
//!
//! Public is what `main.rs` and the integration tests use: the entry
//! points ([`run`], [`serve`] and their `_announced` forms, which the
//! in-process benchmark `bench/core` drives too), the configuration with
//! the settings types of its engines ([`config`], [`engine`], [`cost`],
//! [`auth`], [`tls`]), [`error`] (its metadata keys), [`shutdown`],
//! [`telemetry`] (logging set-up) and the protocol types ([`pb`]). The
//! scheduler and its handle, the batcher, the call cache and the edge are
//! `pub(crate)`: no caller outside the crate drives them; the scheduler's
//! commands are private to `scheduler/`.

pub mod auth;
pub(crate) mod batcher;
pub(crate) mod cache;
pub mod config;
pub mod cost;
pub mod engine;
pub mod error;
pub mod pb;
pub(crate) mod scheduler;
pub(crate) mod service;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::server::{Connected, TcpIncoming};
use tonic::transport::Server;

pub use config::ServerConfig;
pub use error::Error;

use auth::AuthLayer;
use cache::CallCache;
use scheduler::SchedulerHandle;
use service::Edge;
use telemetry::Metrics;

/// How long background tasks get to finish after the server stopped.
const TASK_EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the call cache, then builds the engines of `config`
/// (`engine::assemble`), and starts the scheduler with both.
fn start_scheduler(
    config: &ServerConfig,
    metrics: Metrics,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<SchedulerHandle, Error> {
    let cache =
        CallCache::open_unshared(config.cache.cache_dir.as_deref(), config.cache.max_bytes())
            .map_err(|err| Error::CacheSetup(err.to_string()))?;
    let engines = engine::assemble::configured_engines(config, cancel, tracker)?;
    Ok(SchedulerHandle::spawn(
        config,
        cache,
        engines,
        metrics,
        cancel.clone(),
        tracker,
    ))
}

/// Serves symbatcher on `listener` until `shutdown` resolves, then drains
/// running jobs for the configured grace period and stops.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    run_announced(listener, config, shutdown, || {}).await
}

/// Like [`run`], calling `ready` once the stores are open and the engines
/// set up, right before serving. A failure before then returns the error
/// without calling it.
pub async fn run_announced(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
    ready: impl FnOnce(),
) -> Result<(), Error> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    serve_announced(incoming, config, shutdown, ready).await
}

/// Like [`run`], on any stream of connections.
pub async fn serve<I, IO, IE>(
    incoming: I,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error>
where
    I: Stream<Item = Result<IO, IE>>,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_announced(incoming, config, shutdown, || {}).await
}

/// Like [`run_announced`], on any stream of connections.
pub async fn serve_announced<I, IO, IE>(
    incoming: I,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
    ready: impl FnOnce(),
) -> Result<(), Error>
where
    I: Stream<Item = Result<IO, IE>>,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    // Bound before anything starts, so that a taken address fails startup
    // with nothing to clean up.
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind {
                    flag: "--metrics-listen",
                    addr,
                    source,
                })?,
        ),
        None => None,
    };
    let metrics = Metrics::new(config::MAX_BATCH_SIZE);
    let scheduler = start_scheduler(&config, metrics.clone(), &cancel, &tracker)?;
    if let Some(listener) = metrics_listener {
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "metrics endpoint listening on /metrics");
        tracker.spawn(service::metrics_http::metrics_task(
            listener,
            config.limits.metrics_connections(),
            metrics.clone(),
            scheduler.clone(),
            cancel.clone(),
        ));
    }
    let grace = config.shutdown_grace();
    let limits = config.limits.clone();
    let mut server = Server::builder()
        .http2_keepalive_interval(Some(limits.keepalive_interval()))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout()))
        .initial_stream_window_size(config::limits::STREAM_WINDOW_BYTES)
        .initial_connection_window_size(config::limits::CONNECTION_WINDOW_BYTES)
        .max_concurrent_streams(config::limits::MAX_STREAMS_PER_CONNECTION);
    if let Some(tls) = &config.tls {
        server = server.tls_config(tls.server_config())?;
    }
    let mut server = server.layer(AuthLayer::new(config.auth.clone()));
    let edge = Edge {
        scheduler: scheduler.clone(),
        metrics,
        config: Arc::new(config),
        cancel: cancel.clone(),
        tracker: tracker.clone(),
    };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|err| Error::Protocol(format!("reflection: {err}")))?;

    let stop = {
        let cancel = cancel.clone();
        async move {
            tokio::select! {
                _ = shutdown => {}
                _ = cancel.cancelled() => {}
            }
            health_reporter
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            tracing::info!(
                grace_ms = grace.as_millis() as u64,
                "shutting down: draining running jobs"
            );
            let drain = scheduler.drain();
            if tokio::time::timeout(grace, drain).await.is_err() {
                tracing::warn!("grace period over; cancelling the jobs still running");
            }
            cancel.cancel();
        }
    };

    ready();
    let result = server
        .add_routes(service::routes(edge))
        .add_service(health_service)
        .add_service(reflection)
        .serve_with_incoming_shutdown(incoming, stop)
        .await;
    cancel.cancel();
    tracker.close();
    if tokio::time::timeout(TASK_EXIT_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("background tasks did not stop in time");
    }
    result.map_err(Error::from)
}
