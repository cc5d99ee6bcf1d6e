//! Capacity of one symbatcher server, with no Python in the loop.
//!
//! Starts the release `symbatcher-server` on a loopback port for each
//! scenario and drives it with native Rust job clients (`BatchService.Batch`)
//! and native Rust workers (`WorkerService.Work`) whose runs return at once or
//! make one engine call each, answered by the built-in echo engine with no
//! latency. It reports items/s and engine calls/s sustained, the server's CPU
//! per item (`/proc/PID/stat`), the round trip of engine calls, and how they
//! change from 1 to 1,000 worker streams and from 1 to 100 concurrent jobs.
//!
//! Groups of scenarios:
//! - `items`: runs without engine calls (the item path alone), 1..1000 workers.
//! - `calls`: one engine call per run, batches of 256, 1..1000 workers.
//! - `jobs`: as `calls` with 100 workers, the items split over 1..100 jobs.
//! - `latency`: one slot per worker stream, batches larger than all of them,
//!   and a pacer job that keeps a freshly started run on the engine, so no
//!   batch flushes as "all parked": each flushes on its 5 ms deadline. A
//!   call's round trip minus 5 ms is what scheduling, the codec and loopback
//!   add (the p99 is a batch's oldest call, which waits the whole delay).
//!   Every slot calls again as soon as its run ends, so the server runs
//!   saturated and the round trip holds its queueing.
//! - `latency-load`: as `latency`, but each run works `think ms` (40 µs
//!   per stream) before its call, so the streams offer about half of what
//!   the server takes: the round trip without saturation.
//!
//! ```text
//! cargo run --release --example capacity -- [--quick] [--json] [--only GROUP]
//!     [--server target/release/symbatcher-server]
//! ```

#[path = "../load/mod.rs"]
mod load;
mod scenarios;
mod server_process;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use scenarios::Measured;

#[derive(Parser, Debug)]
#[command(about = "Capacity of one symbatcher server, driven by native clients and workers")]
struct Args {
    /// The server binary (default: symbatcher-server beside this program's
    /// directory, i.e. target/release/symbatcher-server).
    #[arg(long)]
    server: Option<PathBuf>,
    /// Fewer items per scenario (about a quarter).
    #[arg(long)]
    quick: bool,
    /// One JSON object per scenario instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// Only the scenarios of this group: items, calls, jobs, latency or
    /// latency-load.
    #[arg(long)]
    only: Option<String>,
}

fn default_server() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/examples/capacity -> target/<profile>/symbatcher-server
    Some(exe.parent()?.parent()?.join("symbatcher-server"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(binary) = args.server.clone().or_else(default_server) else {
        eprintln!("error: --server: cannot find symbatcher-server; pass its path");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut scenarios = scenarios::all(args.quick);
    if let Some(only) = &args.only {
        scenarios.retain(|s| s.group == only.as_str());
        if scenarios.is_empty() {
            eprintln!(
                "error: --only: no group {only:?} (items, calls, jobs, latency, latency-load)"
            );
            return ExitCode::from(2);
        }
    }
    if !args.json {
        println!("{}", table_header());
    }
    for scenario in scenarios {
        let measured = match runtime.block_on(scenarios::run(&binary, scenario.clone())) {
            Ok(measured) => measured,
            Err(err) => {
                eprintln!("error: scenario {scenario:?}: {err}");
                return ExitCode::FAILURE;
            }
        };
        if args.json {
            println!("{}", json_row(measured));
        } else {
            println!("{}", table_row(measured));
        }
    }
    ExitCode::SUCCESS
}

fn table_header() -> String {
    [
        "| group | worker streams | jobs | items | think ms | items/s | engine calls/s | mean batch \
         | server CPU µs/item | load generator CPU s | call p50 ms | call p99 ms | p99 above delay ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    .join("\n")
}

fn fmt_ms(ms: Option<f64>) -> String {
    ms.map_or("-".to_string(), |ms| format!("{ms:.2}"))
}

fn table_row(mut m: Measured) -> String {
    let secs = m.wall.as_secs_f64();
    let s = &m.scenario;
    let (p50, p99) = (m.latencies.quantile_ms(0.5), m.latencies.quantile_ms(0.99));
    let above = if s.paced {
        fmt_ms(p99.map(|p| p - f64::from(s.max_queue_delay_ms)))
    } else {
        "-".to_string()
    };
    let mean_batch = if m.batches > 0 {
        format!("{:.0}", m.calls as f64 / m.batches as f64)
    } else {
        "-".to_string()
    };
    format!(
        "| {} | {} | {} | {} | {} | {:.0} | {:.0} | {} | {:.1} | {:.2} | {} | {} | {} |",
        s.group,
        s.workers,
        s.jobs,
        m.items,
        s.think_ms,
        m.items as f64 / secs,
        m.calls as f64 / secs,
        mean_batch,
        m.server_cpu * 1e6 / m.items as f64,
        m.client_cpu,
        fmt_ms(p50),
        fmt_ms(p99),
        above,
    )
}

fn json_row(mut m: Measured) -> String {
    let secs = m.wall.as_secs_f64();
    let s = &m.scenario;
    serde_json::json!({
        "group": s.group,
        "workers": s.workers,
        "jobs": s.jobs,
        "items": m.items,
        "calls": m.calls,
        "batches": m.batches,
        "max_queue_delay_ms": s.max_queue_delay_ms,
        "wall_s": secs,
        "items_per_s": m.items as f64 / secs,
        "calls_per_s": m.calls as f64 / secs,
        "server_cpu_us_per_item": m.server_cpu * 1e6 / m.items as f64,
        "client_cpu_s": m.client_cpu,
        "call_p50_ms": m.latencies.quantile_ms(0.5),
        "call_p99_ms": m.latencies.quantile_ms(0.99),
        "paced": s.paced,
        "think_ms": s.think_ms,
    })
    .to_string()
}
