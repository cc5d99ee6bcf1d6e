//! The metrics endpoint (`--metrics-listen ADDR`): `GET /metrics` answers
//! the OpenMetrics text of [`Metrics`], with the gauges taken from a fresh
//! `Status` snapshot. Served by axum on hyper, which tonic already builds on.
//!
//! The endpoint is plain HTTP without authentication (Prometheus scrapes
//! it that way): bind it to an address only the scraper reaches.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Metrics;
use crate::scheduler::{SchedulerCommand, SchedulerHandle};

/// Content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone)]
struct Scrape {
    metrics: Metrics,
    scheduler: SchedulerHandle,
}

/// Serves `/metrics` on `listener` until `cancel` fires.
pub(crate) async fn metrics_task(
    listener: TcpListener,
    metrics: Metrics,
    scheduler: SchedulerHandle,
    cancel: CancellationToken,
) {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape { metrics, scheduler });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await;
    if let Err(err) = served {
        tracing::error!(%err, "metrics endpoint failed");
    }
}

async fn scrape(State(scrape): State<Scrape>) -> Response {
    match scrape
        .scheduler
        .request(|reply| SchedulerCommand::Status { reply })
        .await
    {
        Ok(status) => (
            [(header::CONTENT_TYPE, OPENMETRICS)],
            scrape.metrics.render(&status),
        )
            .into_response(),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()).into_response(),
    }
}
