//! What the server tells the outside about itself: Prometheus metrics,
//! structured logs with a span per job and per engine batch, and the
//! latency histograms of job summaries and `Status`.
//!
//! - `latency`: call totals and latency histograms for summaries and `Status`;
//! - `prometheus`: the metrics registry; counters and histograms recorded
//!   where work crosses a boundary (a batch leaves for its engine, its calls
//!   are answered, a job's results and summary go to its client);
//! - `labels`: the label sets that counters and gauges share;
//! - `gauges`: gauges set from a `Status` snapshot at each scrape (jobs,
//!   queue depth, workers and slots, engine queues);
//! - `logging`: `--log-format text|json`, the log filter, and the `job` and
//!   `engine_batch` spans.

mod gauges;
mod labels;
mod latency;
pub mod logging;
mod prometheus;

pub use latency::{CallTotals, LatencyHistogram};
pub use logging::LogFormat;
pub use prometheus::{EngineRecorder, JobRecorder, Metrics};
