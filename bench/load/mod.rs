//! Native load for the Rust core: workers and job clients that speak the
//! protocol directly (no Python), shared by the `capacity` load generator
//! and the `core` criterion benchmark.
//!
//! - [`worker`]: a `WorkerService.Work` stream whose runs answer at once
//!   (a result, or one engine call per run and the result on its reply).
//! - [`job`]: a `BatchService.Batch` client that streams items and counts
//!   results.
//! - [`latency`]: percentiles of per-call round trips.

pub mod job;
pub mod latency;
pub mod worker;

/// The expression the native workers serve and the native jobs run.
pub const EXPRESSION: &str = "bench.capacity:Echo";
