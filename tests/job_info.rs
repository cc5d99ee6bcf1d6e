//! `JobInfo.call_batch_size`: how many of a job's engine calls one batch
//! gathers, as the worker hears it (the job's batch size capped by its
//! engine's; 1 for an engine that sends every call on its own).

mod common;

use std::time::Duration;

use common::*;
use symbatcher::config::{EngineKindSpec, EngineSpec};
use symbatcher::engine::openai::OpenAiSettings;
use symbatcher::pb::v1::JobSpec;

const EXPR: &str = "Informed";

/// The JobInfo a worker gets for a job on `engine` with `batch_size`.
async fn call_batch_size_for(
    config: symbatcher::ServerConfig,
    engine: &str,
    batch_size: u32,
) -> u32 {
    let server = spawn_server(config).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 1).await;
    let job = start_job(
        &server.channel,
        JobSpec {
            engine: engine.into(),
            ..spec(EXPR, batch_size)
        },
    )
    .await;
    job.send_items(items(0..1)).await;
    worker.assignments(1).await;
    assert_eq!(worker.jobs.len(), 1, "one JobInfo before the assignment");
    worker.jobs[0].call_batch_size
}

#[tokio::test]
async fn a_job_on_a_batching_engine_gets_its_batch_size_capped_by_the_engines() {
    let mut config = config();
    config.engines.push(EngineSpec {
        name: "small".into(),
        max_batch_size: 4,
        kind: EngineKindSpec::Echo {
            latency: Duration::ZERO,
            max_concurrency: 1,
        },
        pricing: None,
    });
    assert_eq!(call_batch_size_for(config.clone(), "small", 16).await, 4);
    assert_eq!(call_batch_size_for(config, "small", 3).await, 3);
}

#[tokio::test]
async fn a_job_on_an_engine_that_sends_each_call_alone_gets_one() {
    let mut config = config();
    // Never called: the test only admits a job on it.
    let settings = OpenAiSettings::new("http://127.0.0.1:9/v1", "model");
    config.engines.push(EngineSpec::openai("http", settings));
    assert_eq!(call_batch_size_for(config, "http", 16).await, 1);
}
