//! The metrics endpoint (`--metrics-listen ADDR`): `GET /metrics` answers
//! the OpenMetrics text of [`Metrics`], with the gauges taken from a fresh
//! `Status` snapshot of the scheduler. Served by axum on hyper, which tonic
//! already builds on. It sits at the edge, beside the gRPC services: it
//! asks the scheduler, and telemetry only renders.
//!
//! The endpoint is plain HTTP without authentication (Prometheus scrapes
//! it that way): bind it to an address only the scraper reaches.
//!
//! It holds at most `--metrics-max-connections` connections; one more is
//! accepted and closed at once, so idle sockets cannot use up the process's
//! file descriptors (which the gRPC listener needs too). A connection that
//! moves no byte either way for `--metrics-idle-timeout-ms` is closed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::config::limits::ConnectionLimits;
use crate::scheduler::SchedulerHandle;
use crate::telemetry::Metrics;

/// Content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Pause after a failed accept (e.g. out of file descriptors), so the loop
/// does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

#[derive(Clone)]
struct Scrape {
    metrics: Metrics,
    scheduler: SchedulerHandle,
}

/// Serves `/metrics` on `listener` until `cancel` fires.
pub(crate) async fn metrics_task(
    listener: TcpListener,
    limits: ConnectionLimits,
    metrics: Metrics,
    scheduler: SchedulerHandle,
    cancel: CancellationToken,
) {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape { metrics, scheduler });
    let listener = CappedListener {
        listener,
        permits: Arc::new(Semaphore::new(limits.max_connections)),
        idle_timeout: limits.idle_timeout,
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await;
    if let Err(err) = served {
        tracing::error!(%err, "metrics endpoint failed");
    }
}

async fn scrape(State(scrape): State<Scrape>) -> Response {
    match scrape.scheduler.status().await {
        Ok(status) => (
            [(header::CONTENT_TYPE, OPENMETRICS)],
            scrape.metrics.render(&status),
        )
            .into_response(),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()).into_response(),
    }
}

/// A TCP listener that hands out at most `permits` connections at once,
/// each closed after `idle_timeout` without traffic.
struct CappedListener {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    idle_timeout: Duration,
}

impl axum::serve::Listener for CappedListener {
    type Io = IdleTimeout;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::debug!(%err, "metrics endpoint: accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            };
            match Arc::clone(&self.permits).try_acquire_owned() {
                Ok(permit) => {
                    let _ = stream.set_nodelay(true);
                    return (IdleTimeout::new(stream, permit, self.idle_timeout), addr);
                }
                // Over the cap: closed at once (dropped), freeing its descriptor.
                Err(_) => tracing::debug!(%addr, "metrics endpoint: connection cap reached"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A connection that fails with `TimedOut` once no byte has moved for
/// `timeout`, and gives its permit back when dropped.
pub(crate) struct IdleTimeout {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl IdleTimeout {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit, timeout: Duration) -> Self {
        IdleTimeout {
            stream,
            _permit: permit,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn progressed(&mut self) {
        let next = Instant::now() + self.timeout;
        self.deadline.as_mut().reset(next);
    }

    /// `Ready(Err)` once the deadline passed (the caller's waker is
    /// registered with it otherwise).
    fn expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        ready!(self.deadline.as_mut().poll(cx));
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "metrics connection idle for --metrics-idle-timeout-ms",
        ))
    }
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.progressed();
                }
                Poll::Ready(result)
            }
            Poll::Pending => self.expired(cx).map(Err),
        }
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Ready(result) => {
                if matches!(result, Ok(n) if n > 0) {
                    self.progressed();
                }
                Poll::Ready(result)
            }
            Poll::Pending => self.expired(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
