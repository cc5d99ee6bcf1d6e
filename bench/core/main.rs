//! Criterion benchmark of the scheduler core in-process: a server started
//! with `symbatcher::serve` on in-memory pipes (no sockets, no other
//! process), native workers that answer at once, and one job per iteration.
//! It measures what one engine call and one item cost the batcher and
//! scheduler together with the gRPC edge that feeds them, through the
//! crate's public entry point only.
//!
//!     cargo bench --bench core [-- --quick]

mod in_memory;
#[allow(dead_code)] // shared with the capacity load generator, which uses all of it
#[path = "../load/mod.rs"]
mod load;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use load::job::{run_job, JobPlan};
use load::worker::{Worker, WorkerPlan};

/// Items per job (one job per iteration).
const ITEMS: u64 = 20_000;
/// Worker streams and slots per stream.
const WORKERS: u32 = 4;
const SLOTS: u32 = 256;
const BATCH: u32 = 256;

/// A server in memory with `WORKERS` native workers whose runs make
/// `calls_per_run` engine calls each.
struct Bench {
    server: in_memory::InMemoryServer,
    stops: Vec<oneshot::Sender<()>>,
}

fn start(runtime: &Runtime, calls_per_run: u32) -> Bench {
    runtime.block_on(async {
        let server = in_memory::InMemoryServer::start().await;
        let mut stops = Vec::new();
        for i in 0..WORKERS {
            let plan = WorkerPlan {
                name: format!("core-{i}"),
                concurrency: SLOTS,
                prefetch: 64,
                calls_per_run,
                think: Duration::ZERO,
            };
            let worker = Worker::connect(server.channel.clone(), plan)
                .await
                .expect("worker registration accepted");
            let (stop_tx, stop_rx) = oneshot::channel();
            stops.push(stop_tx);
            tokio::spawn(worker.serve(stop_rx));
        }
        Bench { server, stops }
    })
}

fn one_job(runtime: &Runtime, bench: &Bench) {
    let plan = JobPlan {
        expression: load::EXPRESSION,
        items: ITEMS,
        batch_size: BATCH,
    };
    let report = runtime
        .block_on(run_job(bench.server.channel.clone(), plan))
        .expect("job finishes");
    assert_eq!(report.succeeded, ITEMS, "every item succeeds");
}

fn core(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut group = c.benchmark_group("core");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(ITEMS));
    for (name, calls_per_run) in [("items_without_calls", 0), ("engine_calls", 1)] {
        let bench = start(&runtime, calls_per_run);
        group.bench_function(name, |b| b.iter(|| one_job(&runtime, &bench)));
        for stop in bench.stops {
            let _ = stop.send(());
        }
        runtime.block_on(bench.server.shutdown());
    }
    group.finish();
}

criterion_group!(benches, core);
criterion_main!(benches);
