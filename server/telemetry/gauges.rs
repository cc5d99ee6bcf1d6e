//! Gauges set at scrape time from the scheduler's `Status` snapshot, so the
//! scheduler keeps no metric state of its own: jobs running, queue depth
//! (items waiting for a worker), items running, workers and slots per
//! expression, engine-call queues and batches in flight.
//!
//! A series once seen stays, at 0, while its expression still has a job or
//! a worker (an autoscaler sees the queue drain to 0 rather than vanish);
//! after that it is dropped, so series do not pile up.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::labels::{EngineLabels, JobLabels};
use crate::pb::v1::StatusResponse;

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ExpressionLabels {
    expression: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct QueueLabels {
    engine: String,
    model: String,
}

/// A gauge family whose values all come from one snapshot.
#[derive(Debug)]
struct SnapshotGauge<L> {
    family: Family<L, Gauge>,
    seen: HashSet<L>,
}

impl<L: Clone + Hash + Eq + Ord + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static>
    SnapshotGauge<L>
{
    fn register(registry: &mut Registry, name: &str, help: &str) -> Self {
        let family = Family::<L, Gauge>::default();
        registry.register(name, help, family.clone());
        SnapshotGauge {
            family,
            seen: HashSet::new(),
        }
    }

    /// Sets every series of `values`; series seen before and absent now are
    /// set to 0 while `keep` holds for them, and dropped after.
    fn set(&mut self, values: &BTreeMap<L, i64>, keep: impl Fn(&L) -> bool) {
        let family = &self.family;
        self.seen.retain(|labels| {
            if values.contains_key(labels) {
                return true;
            }
            if keep(labels) {
                family.get_or_create(labels).set(0);
                true
            } else {
                family.remove(labels);
                false
            }
        });
        for (labels, value) in values {
            self.family.get_or_create(labels).set(*value);
            self.seen.insert(labels.clone());
        }
    }
}

/// The gauges of the registry.
#[derive(Debug)]
pub(super) struct Gauges {
    jobs_running: SnapshotGauge<JobLabels>,
    queue_depth: SnapshotGauge<JobLabels>,
    items_running: SnapshotGauge<JobLabels>,
    workers: SnapshotGauge<ExpressionLabels>,
    worker_slots: SnapshotGauge<ExpressionLabels>,
    worker_slots_busy: SnapshotGauge<ExpressionLabels>,
    engine_calls_waiting: SnapshotGauge<QueueLabels>,
    engine_batches_in_flight: SnapshotGauge<EngineLabels>,
}

fn add<L: Ord>(map: &mut BTreeMap<L, i64>, labels: L, value: i64) {
    *map.entry(labels).or_default() += value;
}

impl Gauges {
    pub(super) fn register(registry: &mut Registry) -> Self {
        Gauges {
            jobs_running: SnapshotGauge::register(registry, "jobs_running", "Jobs running now"),
            queue_depth: SnapshotGauge::register(
                registry,
                "queue_depth",
                "Items received and waiting for a worker slot, by the expression and engine \
                 of their jobs",
            ),
            items_running: SnapshotGauge::register(
                registry,
                "items_running",
                "Items with a run assigned to a worker (started, or queued in the worker)",
            ),
            workers: SnapshotGauge::register(
                registry,
                "workers",
                "Workers connected, by expression served (draining ones included)",
            ),
            worker_slots: SnapshotGauge::register(
                registry,
                "worker_slots",
                "Worker slots taking items, by expression served (draining workers excluded)",
            ),
            worker_slots_busy: SnapshotGauge::register(
                registry,
                "worker_slots_busy",
                "Runs assigned to workers, by expression served",
            ),
            engine_calls_waiting: SnapshotGauge::register(
                registry,
                "engine_calls_waiting",
                "Engine calls waiting for their engine batch, by engine and model",
            ),
            engine_batches_in_flight: SnapshotGauge::register(
                registry,
                "engine_batches_in_flight",
                "Engine batches sent and not yet answered",
            ),
        }
    }

    /// Sets every gauge from `status`.
    pub(super) fn set_from(&mut self, status: &StatusResponse) {
        let mut jobs = BTreeMap::new();
        let mut queued = BTreeMap::new();
        let mut running = BTreeMap::new();
        for job in &status.jobs {
            let labels = JobLabels {
                expression: job.expression.clone(),
                engine: job.engine.clone(),
            };
            add(&mut jobs, labels.clone(), 1);
            add(&mut queued, labels.clone(), job.queued as i64);
            add(&mut running, labels, job.running as i64);
        }
        let mut workers = BTreeMap::new();
        let mut slots = BTreeMap::new();
        let mut busy = BTreeMap::new();
        for worker in &status.workers {
            for expression in &worker.expressions {
                let labels = ExpressionLabels {
                    expression: expression.clone(),
                };
                add(&mut workers, labels.clone(), 1);
                let free = if worker.draining {
                    0
                } else {
                    worker.concurrency
                };
                add(&mut slots, labels.clone(), free as i64);
                add(&mut busy, labels, worker.running as i64);
            }
        }
        let mut calls = BTreeMap::new();
        for queue in &status.queues {
            let labels = QueueLabels {
                engine: queue.engine.clone(),
                model: queue.model.clone(),
            };
            add(&mut calls, labels, queue.waiting as i64);
        }
        let mut in_flight = BTreeMap::new();
        let mut engines = HashSet::new();
        for engine in &status.engines {
            engines.insert(engine.name.clone());
            let labels = EngineLabels {
                engine: engine.name.clone(),
            };
            add(&mut in_flight, labels, engine.in_flight as i64);
        }

        let live: HashSet<&str> = status
            .jobs
            .iter()
            .map(|j| j.expression.as_str())
            .chain(
                status
                    .workers
                    .iter()
                    .flat_map(|w| w.expressions.iter().map(String::as_str)),
            )
            .collect();
        let keep_job = |l: &JobLabels| live.contains(l.expression.as_str());
        let keep_expression = |l: &ExpressionLabels| live.contains(l.expression.as_str());
        self.jobs_running.set(&jobs, keep_job);
        self.queue_depth.set(&queued, keep_job);
        self.items_running.set(&running, keep_job);
        self.workers.set(&workers, keep_expression);
        self.worker_slots.set(&slots, keep_expression);
        self.worker_slots_busy.set(&busy, keep_expression);
        self.engine_calls_waiting
            .set(&calls, |l| engines.contains(&l.engine));
        self.engine_batches_in_flight.set(&in_flight, |_| false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::v1::{JobStatus, WorkerStatus};

    fn job(expression: &str, queued: u64) -> JobStatus {
        JobStatus {
            expression: expression.into(),
            engine: "echo".into(),
            queued,
            ..Default::default()
        }
    }

    fn worker(expression: &str, concurrency: u32, draining: bool) -> WorkerStatus {
        WorkerStatus {
            expressions: vec![expression.into()],
            concurrency,
            draining,
            ..Default::default()
        }
    }

    fn render(gauges: &mut Gauges, registry: &Registry, status: &StatusResponse) -> String {
        gauges.set_from(status);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
        text
    }

    #[test]
    fn queue_depth_sums_jobs_and_drops_to_zero_while_a_worker_serves() {
        let mut registry = Registry::with_prefix("symbatcher");
        let mut gauges = Gauges::register(&mut registry);
        let busy = StatusResponse {
            jobs: vec![job("m:A", 3), job("m:A", 4), job("m:B", 1)],
            workers: vec![worker("m:A", 8, false), worker("m:A", 2, true)],
            ..Default::default()
        };
        let text = render(&mut gauges, &registry, &busy);
        assert!(text.contains("symbatcher_queue_depth{expression=\"m:A\",engine=\"echo\"} 7"));
        assert!(text.contains("symbatcher_queue_depth{expression=\"m:B\",engine=\"echo\"} 1"));
        assert!(text.contains("symbatcher_jobs_running{expression=\"m:A\",engine=\"echo\"} 2"));
        assert!(text.contains("symbatcher_workers{expression=\"m:A\"} 2"));
        assert!(text.contains("symbatcher_worker_slots{expression=\"m:A\"} 8"));

        // The jobs end; m:A still has a worker, m:B has nothing left.
        let idle = StatusResponse {
            workers: vec![worker("m:A", 8, false)],
            ..Default::default()
        };
        let text = render(&mut gauges, &registry, &idle);
        assert!(text.contains("symbatcher_queue_depth{expression=\"m:A\",engine=\"echo\"} 0"));
        assert!(!text.contains("expression=\"m:B\""), "{text}");
    }
}
