//! The scenarios the load generator runs, and how one runs: a fresh server,
//! native workers and jobs on loopback, the server's CPU time around it.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint};

use crate::load::job::{run_job, JobPlan};
use crate::load::latency::Latencies;
use crate::load::worker::{pace, Worker, WorkerPlan, PACER_EXPRESSION, PACER_RUNS};
use crate::load::EXPRESSION;
use crate::server_process::{own_cpu_seconds, ServerProcess};

/// Streams per HTTP/2 connection: below the server's limit of concurrent
/// streams per connection (`MAX_STREAMS_PER_CONNECTION`, 256).
const STREAMS_PER_CONNECTION: usize = 100;

/// Batches the echo engine runs at once: with no latency, enough that the
/// engine is never what the scheduler waits for.
const ECHO_CONCURRENCY: u32 = 8;

/// Prefetch asked by each worker (the server caps it at 64).
const PREFETCH: u32 = 64;

/// One load: `workers` streams sharing `slots` slots, `jobs` jobs sharing
/// `items` items, each run making `calls_per_run` engine calls.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub group: &'static str,
    pub workers: u32,
    pub jobs: u32,
    pub items: u64,
    pub slots: u32,
    pub prefetch: u32,
    pub calls_per_run: u32,
    pub batch_size: u32,
    pub max_queue_delay_ms: u32,
    /// A pacer job keeps a fresh unparked run on the engine for the whole
    /// job, so batches flush only on their size or deadline (the latency
    /// scenarios).
    pub paced: bool,
    /// How long each run works before its engine call: zero keeps every
    /// slot calling (the server saturated); more sets a lighter load.
    pub think_ms: u32,
}

/// What one scenario measured.
#[derive(Debug)]
pub struct Measured {
    pub scenario: Scenario,
    pub wall: Duration,
    pub items: u64,
    pub calls: u64,
    pub batches: u64,
    pub server_cpu: f64,
    pub client_cpu: f64,
    pub latencies: Latencies,
}

/// The scenarios of a run; `quick` uses fewer items.
pub fn all(quick: bool) -> Vec<Scenario> {
    let n: u64 = if quick { 50_000 } else { 200_000 };
    let base = Scenario {
        group: "items",
        workers: 1,
        jobs: 1,
        items: n,
        slots: 1024,
        prefetch: PREFETCH,
        calls_per_run: 0,
        batch_size: 256,
        max_queue_delay_ms: 50,
        paced: false,
        think_ms: 0,
    };
    let mut out = Vec::new();
    for workers in [1, 10, 100, 1000] {
        out.push(Scenario {
            workers,
            ..base.clone()
        });
    }
    for workers in [1, 10, 100, 1000] {
        out.push(Scenario {
            group: "calls",
            workers,
            calls_per_run: 1,
            ..base.clone()
        });
    }
    for jobs in [1, 10, 100] {
        out.push(Scenario {
            group: "jobs",
            workers: 100,
            jobs,
            calls_per_run: 1,
            ..base.clone()
        });
    }
    let rounds: u64 = if quick { 20 } else { 100 };
    let latency = Scenario {
        group: "latency",
        slots: 1,
        prefetch: 1,
        calls_per_run: 1,
        batch_size: 4096,
        max_queue_delay_ms: 5,
        paced: true,
        ..base.clone()
    };
    for workers in [1, 100, 500, 1000] {
        out.push(Scenario {
            workers,
            items: rounds * u64::from(workers),
            slots: workers,
            ..latency.clone()
        });
    }
    // The same below saturation: each run works 40 µs per stream before
    // its call, so the streams together offer about half of what `latency`
    // reaches at 500 streams (BENCHMARKS.md: 9,864 to 19,597 calls/s from
    // 100 to 1,000 streams, against 38,363 saturated at 500).
    for workers in [100, 500, 1000] {
        out.push(Scenario {
            group: "latency-load",
            workers,
            items: rounds * u64::from(workers),
            slots: workers,
            think_ms: workers / 25,
            ..latency.clone()
        });
    }
    out
}

async fn connect(addr: std::net::SocketAddr) -> Result<Channel, String> {
    Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|err| err.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|err| format!("connecting to {addr}: {err}"))
}

/// Runs `scenario` against a fresh server started from `binary`.
pub async fn run(binary: &Path, scenario: Scenario) -> Result<Measured, String> {
    let server = ServerProcess::spawn(
        binary,
        &[
            "--echo-max-concurrency".to_string(),
            ECHO_CONCURRENCY.to_string(),
            "--max-queue-delay-ms".to_string(),
            scenario.max_queue_delay_ms.to_string(),
        ],
    )?;
    let streams = (scenario.workers + scenario.jobs + 1) as usize;
    let mut channels = Vec::new();
    for _ in 0..streams.div_ceil(STREAMS_PER_CONNECTION) {
        channels.push(connect(server.addr).await?);
    }
    let channel_for = |i: usize| channels[i / STREAMS_PER_CONNECTION].clone();

    let concurrency = scenario.slots.div_ceil(scenario.workers);
    let mut stops = Vec::new();
    let mut workers = Vec::new();
    for i in 0..scenario.workers as usize {
        let plan = WorkerPlan {
            name: format!("capacity-{i}"),
            concurrency,
            prefetch: scenario.prefetch.min(concurrency),
            calls_per_run: scenario.calls_per_run,
            think: Duration::from_millis(u64::from(scenario.think_ms)),
        };
        let worker = Worker::connect(channel_for(i), plan)
            .await
            .map_err(|status| format!("worker {i} registration: {status}"))?;
        let (stop_tx, stop_rx) = oneshot::channel();
        stops.push(stop_tx);
        workers.push(tokio::spawn(worker.serve(stop_rx)));
    }
    let (release_tx, release_rx) = oneshot::channel();
    let pacer = if scenario.paced {
        let channel = channel_for(scenario.workers as usize);
        let tick = Duration::from_millis(u64::from(scenario.max_queue_delay_ms).div_ceil(3));
        let worker = pace(channel.clone(), tick, release_rx)
            .await
            .map_err(|status| format!("pacer registration: {status}"))?;
        let plan = JobPlan {
            expression: PACER_EXPRESSION,
            items: u64::from(PACER_RUNS),
            batch_size: scenario.batch_size,
        };
        Some((worker, tokio::spawn(run_job(channel, plan))))
    } else {
        None
    };

    let cpu_before = (server.cpu_seconds(), own_cpu_seconds());
    let start = Instant::now();
    let per_job = scenario.items / u64::from(scenario.jobs);
    let mut jobs = Vec::new();
    for j in 0..scenario.jobs as usize {
        let plan = JobPlan {
            expression: EXPRESSION,
            items: per_job,
            batch_size: scenario.batch_size,
        };
        let channel = channel_for(scenario.workers as usize + 1 + j);
        jobs.push(tokio::spawn(run_job(channel, plan)));
    }
    let mut items = 0;
    let mut batches = 0;
    for job in jobs {
        let report = job
            .await
            .map_err(|err| format!("job task: {err}"))?
            .map_err(|status| format!("job: {status}"))?;
        if report.succeeded != per_job {
            return Err(format!("{} of {per_job} items succeeded", report.succeeded));
        }
        items += report.succeeded;
        batches += report.summary.engine_batches;
    }
    let wall = start.elapsed();
    let server_cpu = server.cpu_seconds() - cpu_before.0;
    let client_cpu = own_cpu_seconds() - cpu_before.1;

    for stop in stops {
        let _ = stop.send(());
    }
    let mut calls = 0;
    let mut latencies = Latencies::default();
    for worker in workers {
        let report = worker.await.map_err(|err| format!("worker task: {err}"))?;
        if report.failed_calls > 0 {
            return Err(format!("{} engine calls failed", report.failed_calls));
        }
        calls += report.calls;
        latencies.extend(report.latencies);
    }
    if let Some((worker, job)) = pacer {
        let _ = release_tx.send(());
        job.await
            .map_err(|err| format!("pacer job task: {err}"))?
            .map_err(|status| format!("pacer job: {status}"))?;
        worker.abort();
    }
    Ok(Measured {
        scenario,
        wall,
        items,
        calls,
        batches,
        server_cpu,
        client_cpu,
        latencies,
    })
}
