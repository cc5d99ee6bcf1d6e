//! The server's Prometheus metrics, through `prometheus-client` (the
//! Prometheus project's Rust client): one [`Registry`] per server instance
//! (no process-wide recorder, so servers in one process, as in tests, keep
//! their counts apart), typed label sets, and OpenMetrics text encoding.
//!
//! Counters and histograms are recorded at the scheduler's boundaries, not
//! inside it: [`EngineRecorder`] where an engine batch leaves for its
//! engine and its engine calls come back, [`JobRecorder`] where a job's results and summary go to
//! its client. Gauges come from the `Status` snapshot at scrape time
//! ([`super::gauges`]).
//!
//! Job counters are labelled by (expression, engine), never by job. So that
//! many distinct expression names cannot grow the registry without bound,
//! the series of at most [`MAX_IDLE_LABEL_SETS`] label sets without a running
//! job are kept (the most recently finished); older ones leave the registry
//! and their counts move to the label set `expression="(evicted)",
//! engine="(evicted)"`, so sums over every label stay monotonic.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use super::gauges::Gauges;
use super::labels::{EngineLabels, JobLabels};
use crate::engine::CallStats;
use crate::pb::v1::{outcome, ItemResult, JobSummary, StatusResponse};

/// Most (expression, engine) label sets without a running job whose job
/// series stay in the registry; the least recently finished go first.
pub const MAX_IDLE_LABEL_SETS: usize = 64;
/// Label value of the series that hold the counts of evicted label sets.
pub const EVICTED: &str = "(evicted)";

/// Latency buckets: 1 ms doubling to about 65 s.
const LATENCY_BUCKETS: u16 = 17;
const LATENCY_FIRST_BUCKET_S: f64 = 0.001;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    engine: String,
    /// "prompt" or "completion".
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    expression: String,
    engine: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SavedLabels {
    expression: String,
    engine: String,
    /// "cache" or "coalesced".
    how: String,
}

type HistogramFamily<L> = Family<L, Histogram, Buckets>;

/// Buckets doubling from `first`, `count` of them.
#[derive(Debug, Clone, Copy)]
struct Buckets {
    first: f64,
    count: u16,
}

impl Buckets {
    /// Engine batch sizes: 1, 2, 4, ... calls, up to `largest_batch`.
    fn batch_size(largest_batch: u32) -> Self {
        Buckets {
            first: 1.0,
            count: largest_batch.max(1).ilog2() as u16 + 1,
        }
    }

    fn latency() -> Self {
        Buckets {
            first: LATENCY_FIRST_BUCKET_S,
            count: LATENCY_BUCKETS,
        }
    }
}

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(self.first, 2.0, self.count))
    }
}

/// The server's metrics. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    engine: EngineFamilies,
    jobs_finished: Family<OutcomeLabels, Counter>,
    items: Family<OutcomeLabels, Counter>,
    requeued: Family<JobLabels, Counter>,
    /// Cost of completed jobs' requests, in US dollars.
    cost_usd: Family<JobLabels, Counter<f64, AtomicU64>>,
    /// Calls of completed jobs answered without a request, by how
    /// (`cache` hit, `coalesced` with an identical call in flight).
    calls_saved: Family<SavedLabels, Counter>,
    /// Cost in US dollars that those calls did not spend.
    cost_saved_usd: Family<JobLabels, Counter<f64, AtomicU64>>,
    /// Set from the snapshot, then encoded, one scrape at a time.
    gauges: Mutex<Gauges>,
    /// Which job label sets have running jobs, and which are idle.
    retention: Mutex<Retention>,
}

/// Job label sets with running jobs (and how many), and the idle ones in
/// the order they went idle.
#[derive(Debug, Default)]
struct Retention {
    live: HashMap<JobLabels, usize>,
    idle: VecDeque<JobLabels>,
}

impl Inner {
    fn retention(&self) -> std::sync::MutexGuard<'_, Retention> {
        self.retention
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A job of `labels` starts.
    fn lease(&self, labels: &JobLabels) {
        let mut retention = self.retention();
        *retention.live.entry(labels.clone()).or_default() += 1;
        retention.idle.retain(|idle| idle != labels);
    }

    /// A job of `labels` ended (its recorder is gone). The last one makes
    /// the label set idle, and evicts the oldest idle sets over the limit.
    fn release(&self, labels: &JobLabels) {
        let mut retention = self.retention();
        let Some(live) = retention.live.get_mut(labels) else {
            return;
        };
        *live -= 1;
        if *live > 0 {
            return;
        }
        retention.live.remove(labels);
        if labels.expression == EVICTED && labels.engine == EVICTED {
            return;
        }
        retention.idle.push_back(labels.clone());
        while retention.idle.len() > MAX_IDLE_LABEL_SETS {
            if let Some(oldest) = retention.idle.pop_front() {
                self.evict(&oldest);
            }
        }
    }

    /// Removes the job series of `labels`, adding their counts to the
    /// evicted label set.
    fn evict(&self, labels: &JobLabels) {
        let bucket = JobLabels {
            expression: EVICTED.to_string(),
            engine: EVICTED.to_string(),
        };
        let with = |labels: &JobLabels, extra: &str| OutcomeLabels {
            expression: labels.expression.clone(),
            engine: labels.engine.clone(),
            outcome: extra.to_string(),
        };
        for outcome in ["succeeded", "failed"] {
            fold(&self.items, &with(labels, outcome), &with(&bucket, outcome));
        }
        for outcome in ["completed", "failed", "cancelled"] {
            fold(
                &self.jobs_finished,
                &with(labels, outcome),
                &with(&bucket, outcome),
            );
        }
        for how in ["cache", "coalesced"] {
            let saved = |labels: &JobLabels| SavedLabels {
                expression: labels.expression.clone(),
                engine: labels.engine.clone(),
                how: how.to_string(),
            };
            fold(&self.calls_saved, &saved(labels), &saved(&bucket));
        }
        fold(&self.requeued, labels, &bucket);
        fold_f64(&self.cost_usd, labels, &bucket);
        fold_f64(&self.cost_saved_usd, labels, &bucket);
    }
}

/// Moves the count of `from` to `to`, and removes `from`.
fn fold<L>(family: &Family<L, Counter>, from: &L, to: &L)
where
    L: Clone + std::hash::Hash + Eq,
{
    let count = family.get(from).map(|c| c.get());
    if let Some(count) = count {
        family.remove(from);
        family.get_or_create(to).inc_by(count);
    }
}

/// [`fold`] for the counters in US dollars.
fn fold_f64<L>(family: &Family<L, Counter<f64, AtomicU64>>, from: &L, to: &L)
where
    L: Clone + std::hash::Hash + Eq,
{
    let amount = family.get(from).map(|c| c.get());
    if let Some(amount) = amount {
        family.remove(from);
        family.get_or_create(to).inc_by(amount);
    }
}

/// Marks its job's label set live while any clone of the job's recorder is.
#[derive(Debug)]
struct JobLease {
    inner: Arc<Inner>,
    labels: JobLabels,
}

impl Drop for JobLease {
    fn drop(&mut self) {
        self.inner.release(&self.labels);
    }
}

#[derive(Debug)]
struct EngineFamilies {
    batches: Family<EngineLabels, Counter>,
    calls: Family<EngineLabels, Counter>,
    batch_size: HistogramFamily<EngineLabels>,
    call_latency: HistogramFamily<EngineLabels>,
    batch_duration: HistogramFamily<EngineLabels>,
    failed_batches: Family<EngineLabels, Counter>,
    failed_calls: Family<EngineLabels, Counter>,
    retries: Family<EngineLabels, Counter>,
    rate_limited: Family<EngineLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
}

impl EngineFamilies {
    fn new(largest_batch: u32) -> Self {
        EngineFamilies {
            batches: Family::default(),
            calls: Family::default(),
            batch_size: Family::new_with_constructor(Buckets::batch_size(largest_batch)),
            call_latency: Family::new_with_constructor(Buckets::latency()),
            batch_duration: Family::new_with_constructor(Buckets::latency()),
            failed_batches: Family::default(),
            failed_calls: Family::default(),
            retries: Family::default(),
            rate_limited: Family::default(),
            tokens: Family::default(),
        }
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "engine_batches",
            "Engine batches sent to their engine",
            self.batches.clone(),
        );
        registry.register(
            "engine_calls",
            "Engine calls sent to their engine, in engine batches (an engine call sent again \
             after its engine process disconnected counts again)",
            self.calls.clone(),
        );
        registry.register(
            "engine_batch_size",
            "Engine calls per engine batch, as formed",
            self.batch_size.clone(),
        );
        registry.register_with_unit(
            "engine_call_latency",
            "Time from an engine batch leaving for its engine to the answer of each of its \
             engine calls",
            Unit::Seconds,
            self.call_latency.clone(),
        );
        registry.register_with_unit(
            "engine_batch_duration",
            "Time from an engine batch leaving for its engine to its last answer",
            Unit::Seconds,
            self.batch_duration.clone(),
        );
        registry.register(
            "engine_failed_batches",
            "Engine batches that failed as a whole",
            self.failed_batches.clone(),
        );
        registry.register(
            "engine_failed_calls",
            "Engine calls answered with an error",
            self.failed_calls.clone(),
        );
        registry.register(
            "engine_retries",
            "HTTP requests to an engine's provider sent again after a retryable failure (429, \
             5xx, timeout, connection error)",
            self.retries.clone(),
        );
        registry.register(
            "engine_rate_limited",
            "Responses of an engine's provider that were 429 Too Many Requests",
            self.rate_limited.clone(),
        );
        registry.register(
            "engine_tokens",
            "Tokens the engines reported, by kind (prompt, completion)",
            self.tokens.clone(),
        );
    }
}

impl Metrics {
    /// A fresh registry. `largest_batch` is the largest engine batch the
    /// server forms: the batch-size histogram's buckets double from 1 up
    /// to it.
    pub fn new(largest_batch: u32) -> Self {
        let mut registry = Registry::with_prefix("symbatcher");
        let engine = EngineFamilies::new(largest_batch);
        engine.register(&mut registry);
        let jobs_finished = Family::default();
        registry.register(
            "jobs_finished",
            "Jobs ended, by outcome: completed (summary sent), failed, cancelled (client gone)",
            Family::clone(&jobs_finished),
        );
        let items = Family::default();
        registry.register(
            "items",
            "Item results sent to clients, by outcome (succeeded, failed)",
            Family::clone(&items),
        );
        let requeued = Family::default();
        registry.register(
            "items_requeued",
            "Runs whose item went back to its job's queue (worker disconnected or drained), \
             counted when the job completes",
            Family::clone(&requeued),
        );
        let cost_usd = Family::default();
        registry.register(
            "cost_usd",
            "Cost in US dollars of the engine calls sent for completed jobs (those of priced \
             models), counted when the job completes",
            Family::clone(&cost_usd),
        );
        let calls_saved = Family::default();
        registry.register(
            "calls_saved",
            "Engine calls of completed jobs answered without a request, by how: cache (the \
             call cache) or coalesced (an identical engine call in flight)",
            Family::clone(&calls_saved),
        );
        let cost_saved_usd = Family::default();
        registry.register(
            "cost_saved_usd",
            "Cost in US dollars that cache hits and coalesced engine calls of completed jobs \
             did not spend",
            Family::clone(&cost_saved_usd),
        );
        let gauges = Gauges::register(&mut registry);
        Metrics {
            inner: Arc::new(Inner {
                registry,
                engine,
                jobs_finished,
                items,
                requeued,
                cost_usd,
                calls_saved,
                cost_saved_usd,
                gauges: Mutex::new(gauges),
                retention: Mutex::new(Retention::default()),
            }),
        }
    }

    /// Handles to one engine's counters, for one batch.
    pub fn engine(&self, engine: &str) -> EngineRecorder {
        let families = &self.inner.engine;
        let labels = EngineLabels {
            engine: engine.to_string(),
        };
        let tokens = |kind: &str| {
            families.tokens.get_or_create_owned(&TokenLabels {
                engine: engine.to_string(),
                kind: kind.to_string(),
            })
        };
        EngineRecorder {
            batches: families.batches.get_or_create_owned(&labels),
            calls: families.calls.get_or_create_owned(&labels),
            batch_size: families.batch_size.get_or_create_owned(&labels),
            call_latency: families.call_latency.get_or_create_owned(&labels),
            batch_duration: families.batch_duration.get_or_create_owned(&labels),
            failed_batches: families.failed_batches.get_or_create_owned(&labels),
            failed_calls: families.failed_calls.get_or_create_owned(&labels),
            retries: families.retries.get_or_create_owned(&labels),
            rate_limited: families.rate_limited.get_or_create_owned(&labels),
            prompt_tokens: tokens("prompt"),
            completion_tokens: tokens("completion"),
        }
    }

    /// Removes the series of an engine gone for good (an engine process
    /// that did not register again within its grace): engine names of
    /// processes that come and go (`python-<Class>-<id>`) leave no series
    /// behind. A batch of it still in flight counts into handles that no
    /// longer render.
    pub fn forget_engine(&self, engine: &str) {
        let families = &self.inner.engine;
        let labels = EngineLabels {
            engine: engine.to_string(),
        };
        families.batches.remove(&labels);
        families.calls.remove(&labels);
        families.batch_size.remove(&labels);
        families.call_latency.remove(&labels);
        families.batch_duration.remove(&labels);
        families.failed_batches.remove(&labels);
        families.failed_calls.remove(&labels);
        families.retries.remove(&labels);
        families.rate_limited.remove(&labels);
        for kind in ["prompt", "completion"] {
            families.tokens.remove(&TokenLabels {
                engine: engine.to_string(),
                kind: kind.to_string(),
            });
        }
    }

    /// Handles to one job's counters (creating their series, at 0).
    pub fn job(&self, expression: &str, engine: &str) -> JobRecorder {
        let outcome = |family: &Family<OutcomeLabels, Counter>, outcome: &str| {
            family.get_or_create_owned(&OutcomeLabels {
                expression: expression.to_string(),
                engine: engine.to_string(),
                outcome: outcome.to_string(),
            })
        };
        let inner = &self.inner;
        let job = JobLabels {
            expression: expression.to_string(),
            engine: engine.to_string(),
        };
        let saved = |how: &str| {
            inner.calls_saved.get_or_create_owned(&SavedLabels {
                expression: expression.to_string(),
                engine: engine.to_string(),
                how: how.to_string(),
            })
        };
        // Live before its series exist, so no eviction removes them under it.
        inner.lease(&job);
        let lease = Arc::new(JobLease {
            inner: Arc::clone(&self.inner),
            labels: job.clone(),
        });
        JobRecorder {
            _lease: lease,
            cost_usd: inner.cost_usd.get_or_create_owned(&job),
            cache_hits: saved("cache"),
            coalesced: saved("coalesced"),
            cost_saved_usd: inner.cost_saved_usd.get_or_create_owned(&job),
            succeeded: outcome(&inner.items, "succeeded"),
            failed: outcome(&inner.items, "failed"),
            completed: outcome(&inner.jobs_finished, "completed"),
            job_failed: outcome(&inner.jobs_finished, "failed"),
            cancelled: outcome(&inner.jobs_finished, "cancelled"),
            requeued: inner.requeued.get_or_create_owned(&job),
        }
    }

    /// The OpenMetrics text of every metric, with the gauges set from
    /// `status`. Every engine of `status` has its series, at 0 before its
    /// first batch (so rates start from a sample, not from nothing).
    pub fn render(&self, status: &StatusResponse) -> String {
        for engine in &status.engines {
            self.engine(&engine.name);
        }
        let mut gauges = self
            .inner
            .gauges
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        gauges.set_from(status);
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }
}

/// One engine's counters and histograms.
#[derive(Debug, Clone)]
pub struct EngineRecorder {
    batches: Counter,
    calls: Counter,
    batch_size: Histogram,
    call_latency: Histogram,
    batch_duration: Histogram,
    failed_batches: Counter,
    failed_calls: Counter,
    retries: Counter,
    rate_limited: Counter,
    prompt_tokens: Counter,
    completion_tokens: Counter,
}

impl EngineRecorder {
    /// A batch of `calls` calls leaves for the engine.
    pub fn batch_sent(&self, calls: usize) {
        self.batches.inc();
        self.calls.inc_by(calls as u64);
        self.batch_size.observe(calls as f64);
    }

    /// The engine answered one call (`failed`: with an error).
    pub fn call_answered(&self, stats: &CallStats, failed: bool) {
        self.call_latency.observe(stats.latency.as_secs_f64());
        self.retries.inc_by(stats.retries as u64);
        self.rate_limited.inc_by(stats.rate_limited as u64);
        self.prompt_tokens.inc_by(stats.prompt_tokens);
        self.completion_tokens.inc_by(stats.completion_tokens);
        if failed {
            self.failed_calls.inc();
        }
    }

    /// The batch ended after `elapsed` (`failed`: as a whole).
    pub fn batch_answered(&self, elapsed: Duration, failed: bool) {
        self.batch_duration.observe(elapsed.as_secs_f64());
        if failed {
            self.failed_batches.inc();
        }
    }
}

/// One job's counters.
#[derive(Debug, Clone)]
pub struct JobRecorder {
    /// Keeps the job's label set live; the last clone's drop releases it.
    _lease: Arc<JobLease>,
    succeeded: Counter,
    failed: Counter,
    completed: Counter,
    job_failed: Counter,
    cancelled: Counter,
    requeued: Counter,
    cost_usd: Counter<f64, AtomicU64>,
    cache_hits: Counter,
    coalesced: Counter,
    cost_saved_usd: Counter<f64, AtomicU64>,
}

impl JobRecorder {
    /// Results on their way to the client.
    pub fn results_sent(&self, results: &[ItemResult]) {
        let failed = results
            .iter()
            .filter(|r| {
                matches!(
                    r.outcome.as_ref().and_then(|o| o.value.as_ref()),
                    Some(outcome::Value::Error(_))
                )
            })
            .count() as u64;
        self.failed.inc_by(failed);
        self.succeeded.inc_by(results.len() as u64 - failed);
    }

    /// The job completed with `summary`.
    pub fn completed(&self, summary: &JobSummary) {
        self.completed.inc();
        self.requeued.inc_by(summary.requeued);
        self.cost_usd.inc_by(summary.cost_usd);
        if let Some(saved) = &summary.saved {
            self.cache_hits.inc_by(saved.cache_hits);
            self.coalesced.inc_by(saved.coalesced);
            self.cost_saved_usd.inc_by(saved.cost_usd);
        }
    }

    /// The job failed as a whole.
    pub fn failed(&self) {
        self.job_failed.inc();
    }

    /// The client went away before the job ended.
    pub fn cancelled(&self) {
        self.cancelled.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's largest engine batch (`config::MAX_BATCH_SIZE`).
    const LARGEST_BATCH: u32 = 4096;

    fn sample(text: &str, line_start: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line_start))
            .unwrap_or_else(|| panic!("no line {line_start:?} in\n{text}"))
            .trim()
            .parse()
            .expect("a number")
    }

    #[test]
    fn an_engine_gone_for_good_leaves_no_series() {
        let metrics = Metrics::new(LARGEST_BATCH);
        let gone = metrics.engine("python-Gone-1");
        gone.batch_sent(2);
        metrics.engine("echo").batch_sent(1);
        assert!(metrics
            .render(&StatusResponse::default())
            .contains("engine=\"python-Gone-1\""));
        metrics.forget_engine("python-Gone-1");
        // A batch still in flight counts into a handle that no longer renders.
        gone.batch_sent(1);
        let text = metrics.render(&StatusResponse::default());
        assert!(!text.contains("python-Gone-1"), "{text}");
        assert!(text.contains("engine=\"echo\""));
    }

    #[test]
    fn batch_sizes_fall_in_power_of_two_buckets_up_to_the_largest_batch() {
        let metrics = Metrics::new(LARGEST_BATCH);
        let echo = metrics.engine("echo");
        for size in [1, 3, 4, 4096] {
            echo.batch_sent(size);
        }
        let text = metrics.render(&StatusResponse::default());
        let bucket = |le: &str| {
            sample(
                &text,
                &format!("symbatcher_engine_batch_size_bucket{{le=\"{le}\",engine=\"echo\"}}"),
            )
        };
        assert_eq!(bucket("1.0"), 1.0);
        assert_eq!(bucket("2.0"), 1.0);
        assert_eq!(bucket("4.0"), 3.0);
        assert_eq!(bucket("2048.0"), 3.0);
        assert_eq!(bucket("4096.0"), 4.0);
        assert_eq!(
            sample(&text, "symbatcher_engine_batch_size_sum{engine=\"echo\"}"),
            4104.0
        );
        assert_eq!(
            sample(&text, "symbatcher_engine_calls_total{engine=\"echo\"}"),
            4104.0
        );
    }

    #[test]
    fn item_results_count_by_outcome() {
        use crate::pb::v1::{ItemError, Outcome};
        let metrics = Metrics::new(LARGEST_BATCH);
        let job = metrics.job("m:E", "echo");
        let ok = ItemResult {
            index: 0,
            outcome: Some(Outcome {
                value: Some(outcome::Value::Payload(b"1".to_vec())),
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = ItemResult {
            index: 1,
            outcome: Some(Outcome {
                value: Some(outcome::Value::Error(ItemError::default())),
                ..Default::default()
            }),
            ..Default::default()
        };
        job.results_sent(&[ok.clone(), err, ok]);
        let text = metrics.render(&StatusResponse::default());
        let items = |outcome: &str| {
            sample(
                &text,
                &format!(
                    "symbatcher_items_total{{expression=\"m:E\",engine=\"echo\",outcome=\"{outcome}\"}}"
                ),
            )
        };
        assert_eq!(items("succeeded"), 2.0);
        assert_eq!(items("failed"), 1.0);
    }

    #[test]
    fn a_completed_job_adds_its_cost_and_its_saved_calls() {
        use crate::pb::v1::Usage;
        let metrics = Metrics::new(LARGEST_BATCH);
        let job = metrics.job("m:E", "gpt");
        let summary = JobSummary {
            cost_usd: 0.25,
            saved: Some(Usage {
                cache_hits: 7,
                coalesced: 3,
                cost_usd: 0.5,
                ..Default::default()
            }),
            ..Default::default()
        };
        job.completed(&summary);
        job.completed(&summary);
        let text = metrics.render(&StatusResponse::default());
        let labels = "{expression=\"m:E\",engine=\"gpt\"}";
        assert_eq!(
            sample(&text, &format!("symbatcher_cost_usd_total{labels}")),
            0.5
        );
        assert_eq!(
            sample(&text, &format!("symbatcher_cost_saved_usd_total{labels}")),
            1.0
        );
        let saved = |how: &str| {
            sample(
                &text,
                &format!("symbatcher_calls_saved_total{{expression=\"m:E\",engine=\"gpt\",how=\"{how}\"}}"),
            )
        };
        assert_eq!(saved("cache"), 14.0);
        assert_eq!(saved("coalesced"), 6.0);
    }

    #[test]
    fn idle_label_sets_over_the_limit_leave_with_their_counts_kept_as_evicted() {
        let metrics = Metrics::new(LARGEST_BATCH);
        let running = metrics.job("m:Running", "echo");
        let total = MAX_IDLE_LABEL_SETS + 10;
        for i in 0..total {
            let job = metrics.job(&format!("m:E{i}"), "echo");
            job.completed(&JobSummary {
                cost_usd: 1.0,
                ..Default::default()
            });
        }
        let text = metrics.render(&StatusResponse::default());
        assert!(!text.contains("m:E0\""), "the oldest idle set left");
        assert!(!text.contains("m:E9\""));
        assert!(
            text.contains(&format!("m:E{}\"", total - 1)),
            "the newest stays"
        );
        assert!(text.contains("m:Running\""), "a running job's set stays");
        let evicted = "{expression=\"(evicted)\",engine=\"(evicted)\"";
        assert_eq!(
            sample(&text, &format!("symbatcher_cost_usd_total{evicted}}}")),
            10.0
        );
        assert_eq!(
            sample(
                &text,
                &format!("symbatcher_jobs_finished_total{evicted},outcome=\"completed\"}}")
            ),
            10.0
        );
        drop(running);
    }
}
