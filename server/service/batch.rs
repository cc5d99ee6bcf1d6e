//! `BatchService.Batch`: one job per stream. The client sends a JobSpec,
//! item chunks and EndOfInput; it receives JobAccepted, result chunks and a
//! JobSummary.
//!
//! Flow control: an item is admitted only under a permit of the job's window
//! semaphore, and the permit comes back when the item's result is handed to
//! the client's stream. The server so holds at most `window` items of a job,
//! and a client that sends faster than workers finish simply waits (HTTP/2
//! flow control stops it once the stream's buffers are full).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::limits::{inbound_error, split_results};
use super::Edge;
use crate::cache;
use crate::config::{
    names, ServerConfig, MAX_BATCH_SIZE, MAX_ITEM_TIMEOUT_MS, MAX_QUEUE_DELAY_MS, MAX_WINDOW,
};
use crate::error::Error;
use crate::pb::v1::batch_service_server::BatchService;
use crate::pb::v1::CacheMode as PbCacheMode;
use crate::pb::v1::{
    batch_request, batch_response, BatchRequest, BatchResponse, Codec, ItemChunk, JobAccepted,
    JobSpec, ResultChunk,
};
use crate::scheduler::{JobEvent, JobParams, SchedulerHandle};
use crate::telemetry::logging::job_span;
use crate::telemetry::JobRecorder;
use tracing::Instrument;

/// Why a pickle job is refused by default.
const PICKLE_REFUSED: &str = "pickle is refused: this server was not started with \
    --allow-pickle (unpickling runs code; use the json codec, or start the server with \
    --allow-pickle where clients and workers trust each other)";
/// Most runs of one item a job may ask for.
const MAX_ATTEMPTS: u32 = 100;

/// `BatchService.Batch`: the jobs' RPC service, one job per stream.
#[derive(Debug)]
pub struct JobService {
    edge: Edge,
}

impl JobService {
    pub fn new(edge: Edge) -> Self {
        JobService { edge }
    }
}

/// Checks a JobSpec and fills its defaults. Every error names the field.
pub fn validate_spec(spec: JobSpec, config: &ServerConfig) -> Result<JobParams, Error> {
    let expression = names::check_name(&spec.expression)
        .map_err(|reason| Error::invalid("expression", reason))?;
    if !(1..=MAX_BATCH_SIZE).contains(&spec.batch_size) {
        return Err(Error::invalid(
            "batch_size",
            format!(
                "must be between 1 and {MAX_BATCH_SIZE}, got {}",
                spec.batch_size
            ),
        ));
    }
    let max_queue_delay_ms = match spec.max_queue_delay_ms {
        Some(ms) if ms > MAX_QUEUE_DELAY_MS => {
            return Err(Error::invalid(
                "max_queue_delay_ms",
                format!("must be at most {MAX_QUEUE_DELAY_MS}, got {ms}"),
            ))
        }
        Some(ms) => ms as u64,
        None => config.max_queue_delay_ms,
    };
    let kwargs_json = if spec.kwargs_json.trim().is_empty() {
        "{}".to_string()
    } else {
        names::check_kwargs_depth(&spec.kwargs_json)
            .map_err(|reason| Error::invalid("kwargs_json", reason))?;
        match serde_json::from_str::<serde_json::Value>(&spec.kwargs_json) {
            Ok(serde_json::Value::Object(_)) => spec.kwargs_json,
            Ok(_) => return Err(Error::invalid("kwargs_json", "must be a JSON object")),
            Err(err) => return Err(Error::invalid("kwargs_json", format!("is not JSON: {err}"))),
        }
    };
    let codec = match Codec::try_from(spec.codec) {
        Ok(Codec::Unspecified) | Ok(Codec::Json) => Codec::Json,
        Ok(Codec::Pickle) if config.security.allow_pickle => Codec::Pickle,
        Ok(Codec::Pickle) => return Err(Error::invalid("codec", PICKLE_REFUSED)),
        Err(_) => {
            return Err(Error::invalid(
                "codec",
                format!("unknown codec {}", spec.codec),
            ))
        }
    };
    let window = in_range("window", spec.window, MAX_WINDOW)?;
    let max_attempts =
        in_range("max_attempts", spec.max_attempts, MAX_ATTEMPTS)?.unwrap_or(config.max_attempts);
    let item_timeout_ms = match spec.item_timeout_ms {
        Some(ms) if ms == 0 || ms as u64 > MAX_ITEM_TIMEOUT_MS => {
            return Err(Error::invalid(
                "item_timeout_ms",
                format!("must be between 1 and {MAX_ITEM_TIMEOUT_MS} (or unset for the server's default), got {ms}"),
            ))
        }
        Some(ms) => Some(ms as u64),
        None => config.item_timeout_ms,
    };
    let worker_wait_ms = spec
        .worker_wait_ms
        .map_or(config.worker_wait_ms, |ms| ms as u64);
    let cache = match PbCacheMode::try_from(spec.cache) {
        Ok(PbCacheMode::Unspecified) => None,
        Ok(PbCacheMode::Use) => Some(cache::CacheMode::Use),
        Ok(PbCacheMode::Refresh) => Some(cache::CacheMode::Refresh),
        Ok(PbCacheMode::Off) => Some(cache::CacheMode::Off),
        Err(_) => {
            return Err(Error::invalid(
                "cache",
                format!(
                    "unknown cache mode {} (1 use, 2 refresh, 3 off, 0 the server's choice)",
                    spec.cache
                ),
            ))
        }
    };
    let max_cost_usd = match spec.max_cost_usd {
        Some(cap) if !cap.is_finite() || cap < 0.0 => {
            return Err(Error::invalid(
                "max_cost_usd",
                format!(
                    "must be a finite number of US dollars >= 0 (or unset for no cap), got {cap}"
                ),
            ))
        }
        cap => cap,
    };
    let deadline_unix_ms = spec
        .deadline_unix_ms
        .map(|ms| check_deadline(ms, unix_ms_now()))
        .transpose()?;
    let engine = if spec.engine.trim().is_empty() {
        config.default_engine().to_string()
    } else {
        names::check_name(&spec.engine).map_err(|reason| Error::invalid("engine", reason))?
    };
    let embedding_engine = if spec.embedding_engine.trim().is_empty() {
        config.default_embedding_engine().map(str::to_string)
    } else {
        Some(
            names::check_name(&spec.embedding_engine)
                .map_err(|reason| Error::invalid("embedding_engine", reason))?,
        )
    };
    Ok(JobParams {
        span: job_span(&expression, &engine),
        expression,
        engine,
        embedding_engine,
        batch_size: spec.batch_size as usize,
        max_queue_delay: Duration::from_millis(max_queue_delay_ms),
        kwargs_json,
        codec,
        window: window.unwrap_or(config.window),
        window_is_default: window.is_none(),
        replay: spec.replay,
        max_attempts,
        worker_wait: Duration::from_millis(worker_wait_ms),
        item_timeout: item_timeout_ms.map(Duration::from_millis),
        process_token: spec.process_token,
        cache,
        max_cost_usd,
        deadline_unix_ms,
    })
}

/// Longest a deadline may lie ahead: beyond it, it is taken for a mistake
/// of unit.
const MAX_DEADLINE_AHEAD_MS: u64 = 366 * 24 * 3600 * 1000;

/// A job's deadline, in ms since the Unix epoch: in the future, and at most
/// [`MAX_DEADLINE_AHEAD_MS`] ahead of `now_ms`.
fn check_deadline(ms: u64, now_ms: u64) -> Result<u64, Error> {
    if ms <= now_ms {
        return Err(Error::invalid(
            "deadline_unix_ms",
            format!(
                "must be in the future (the server's clock reads {now_ms} ms since the Unix \
                 epoch), got {ms}: {} s ago",
                (now_ms - ms) as f64 / 1000.0
            ),
        ));
    }
    if ms - now_ms > MAX_DEADLINE_AHEAD_MS {
        return Err(Error::invalid(
            "deadline_unix_ms",
            format!(
                "must be at most 366 days ahead (milliseconds since the Unix epoch), got {ms}, \
                 {} days ahead",
                (ms - now_ms) / (24 * 3600 * 1000)
            ),
        ));
    }
    Ok(ms)
}

fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A field that, when set, must be in `1..=max`; unset stays `None` (the
/// server's default then applies).
fn in_range(field: &'static str, value: Option<u32>, max: u32) -> Result<Option<u32>, Error> {
    match value {
        Some(v) if !(1..=max).contains(&v) => Err(Error::invalid(
            field,
            format!("must be between 1 and {max} (or unset for the server's default), got {v}"),
        )),
        other => Ok(other),
    }
}

#[tonic::async_trait]
impl BatchService for JobService {
    type BatchStream = Pin<Box<dyn Stream<Item = Result<BatchResponse, Status>> + Send>>;

    async fn batch(
        &self,
        request: Request<Streaming<BatchRequest>>,
    ) -> Result<Response<Self::BatchStream>, Status> {
        let mut inbound = request.into_inner();
        let spec = match inbound.message().await.map_err(inbound_error)? {
            Some(BatchRequest {
                kind: Some(batch_request::Kind::Spec(spec)),
            }) => spec,
            _ => {
                return Err(
                    Error::Protocol("the first BatchRequest must be a JobSpec".into()).into(),
                )
            }
        };
        let params = validate_spec(spec, &self.edge.config)?;
        let engine = params.engine.clone();
        let embedding_engine = params.embedding_engine.clone().unwrap_or_default();
        let span = params.span.clone();
        let recorder = self.edge.metrics.job(&params.expression, &engine);
        let registration = self.edge.scheduler.submit_job(params).await?;
        let job_id = registration.job_id;
        let window = Arc::new(Semaphore::new(registration.window as usize));
        let inbound = job_inbound_task(
            job_id,
            inbound,
            window.clone(),
            registration.window as usize,
            self.edge.scheduler.clone(),
            self.edge.cancel.clone(),
        );
        self.edge.tracker.spawn(inbound.instrument(span));
        let stream = JobResponseStream {
            job_id,
            accepted: Some(JobAccepted {
                job_id,
                window: registration.window,
                engine,
                embedding_engine,
            }),
            events_rx: registration.events_rx,
            pending: VecDeque::new(),
            max_message_bytes: self.edge.config.limits.max_message_bytes(),
            window,
            scheduler: self.edge.scheduler.clone(),
            recorder,
            finished: false,
        };
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Reads a job's items and end of input, admitting items under window permits.
async fn job_inbound_task(
    job_id: u64,
    mut inbound: Streaming<BatchRequest>,
    window: Arc<Semaphore>,
    window_size: usize,
    scheduler: SchedulerHandle,
    cancel: tokio_util::sync::CancellationToken,
) {
    let mut input_closed = false;
    loop {
        let message = tokio::select! {
            _ = cancel.cancelled() => return,
            message = inbound.message() => message,
        };
        let kind = match message {
            Ok(Some(BatchRequest { kind: Some(kind) })) => kind,
            Ok(Some(BatchRequest { kind: None })) => continue,
            Ok(None) => {
                // A half-close without EndOfInput still ends the input.
                if !input_closed {
                    let _ = scheduler.end_input(job_id).await;
                }
                return;
            }
            Err(status) => {
                let status = inbound_error(status);
                tracing::debug!(job_id, %status, "client stream ended");
                if status.code() == tonic::Code::InvalidArgument {
                    // An undecodable message: the job fails with the reason.
                    let err = Error::Protocol(status.message().to_string());
                    let _ = scheduler.fail_job(job_id, err).await;
                } else {
                    let _ = scheduler.cancel_job(job_id).await;
                }
                return;
            }
        };
        let violation = match kind {
            _ if input_closed => Some("no message may follow EndOfInput"),
            batch_request::Kind::Spec(_) => Some("a job has exactly one JobSpec"),
            batch_request::Kind::End(_) => {
                input_closed = true;
                if scheduler.end_input(job_id).await.is_err() {
                    return;
                }
                None
            }
            batch_request::Kind::Items(ItemChunk { items }) => {
                let mut items = items.into_iter().peekable();
                while items.peek().is_some() {
                    let part: Vec<_> = items.by_ref().take(window_size).collect();
                    let permits = tokio::select! {
                        _ = cancel.cancelled() => return,
                        permits = window.acquire_many(part.len() as u32) => permits,
                    };
                    let Ok(permits) = permits else { return };
                    // Returned by the response stream as results go out.
                    permits.forget();
                    if scheduler.add_items(job_id, part).await.is_err() {
                        return;
                    }
                }
                None
            }
        };
        if let Some(reason) = violation {
            let err = Error::Protocol(reason.into());
            let _ = scheduler.fail_job(job_id, err).await;
            return;
        }
    }
}

/// The response half of a job: JobAccepted, then results as the scheduler
/// sends them (returning window permits), then the summary or the error.
/// Dropped early (the client went away), it cancels the job.
struct JobResponseStream {
    job_id: u64,
    accepted: Option<JobAccepted>,
    events_rx: mpsc::UnboundedReceiver<JobEvent>,
    /// Result chunks split below the message limit, not yet sent.
    pending: VecDeque<ResultChunk>,
    max_message_bytes: usize,
    window: Arc<Semaphore>,
    scheduler: SchedulerHandle,
    /// Counts results, and how the job ended.
    recorder: JobRecorder,
    finished: bool,
}

impl Stream for JobResponseStream {
    type Item = Result<BatchResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(accepted) = self.accepted.take() {
            return Poll::Ready(Some(Ok(response(batch_response::Kind::Accepted(accepted)))));
        }
        if let Some(chunk) = self.pending.pop_front() {
            return Poll::Ready(Some(Ok(response(batch_response::Kind::Results(chunk)))));
        }
        if self.finished {
            return Poll::Ready(None);
        }
        match self.events_rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.finished = true;
                self.recorder.failed();
                Poll::Ready(Some(Err(Error::ShuttingDown.into())))
            }
            Poll::Ready(Some(JobEvent::Results(results))) => {
                self.window.add_permits(results.len());
                self.recorder.results_sent(&results);
                let limit = self.max_message_bytes;
                let mut parts = split_results(results, limit).into_iter();
                let first = parts.next().unwrap_or_default();
                self.pending
                    .extend(parts.map(|results| ResultChunk { results }));
                let chunk = ResultChunk { results: first };
                Poll::Ready(Some(Ok(response(batch_response::Kind::Results(chunk)))))
            }
            Poll::Ready(Some(JobEvent::Finished(summary))) => {
                self.finished = true;
                self.recorder.completed(&summary);
                Poll::Ready(Some(Ok(response(batch_response::Kind::Summary(*summary)))))
            }
            Poll::Ready(Some(JobEvent::Failed(err))) => {
                self.finished = true;
                self.recorder.failed();
                Poll::Ready(Some(Err(err.into())))
            }
        }
    }
}

impl Drop for JobResponseStream {
    fn drop(&mut self) {
        if !self.finished {
            self.recorder.cancelled();
            let job_id = self.job_id;
            let scheduler = self.scheduler.clone();
            // Cannot await in drop; the send completes on its own task.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = scheduler.cancel_job(job_id).await;
                });
            }
        }
    }
}

fn response(kind: batch_response::Kind) -> BatchResponse {
    BatchResponse { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_must_lie_ahead_and_within_a_year() {
        let now = 1_800_000_000_000;
        assert_eq!(check_deadline(now + 1, now).ok(), Some(now + 1));
        let past = check_deadline(now - 5_000, now).unwrap_err().to_string();
        assert!(
            past.contains("deadline_unix_ms")
                && past.contains("future")
                && past.contains("5 s ago"),
            "{past}"
        );
        assert!(check_deadline(now, now).is_err(), "now is not ahead");
        let far = check_deadline(now + MAX_DEADLINE_AHEAD_MS + 1, now)
            .unwrap_err()
            .to_string();
        assert!(far.contains("366 days"), "{far}");
        assert!(check_deadline(now + MAX_DEADLINE_AHEAD_MS, now).is_ok());
    }
}
