//! Jobs of the provider-batch engine tests: items of a two-step
//! `forward()` (`two_step_worker`) run through a named engine, their
//! results by index and the job's token and cost summary; and a server
//! process started on a config file, to be killed mid-batch.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use symbatcher::config::guards::DEFAULT_MAX_WORKER_SLOTS;
use symbatcher::pb::v1::{outcome, JobSpec};
use tonic::transport::{Channel, Endpoint};

use super::two_step_worker::spawn_two_step_worker;
use super::{spec, start_job};

/// The expression the two-step workers serve.
pub const EXPRESSION: &str = "TwoStep";

/// Each test gets this long before it fails instead of hanging.
pub const TEST_LIMIT: Duration = Duration::from_secs(300);

pub async fn limited<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TEST_LIMIT, fut)
        .await
        .expect("test finished in time")
}

/// A job of `n` items on `engine`, its window the whole job.
pub fn job(engine: &str, n: u64) -> JobSpec {
    JobSpec {
        engine: engine.to_string(),
        window: Some(n.max(1) as u32),
        ..spec(EXPRESSION, 64)
    }
}

/// Runs items `0..n` (payloads `"item-<i>"`, or `payload(i)`) through
/// `engine` with two-step workers of `slots` slots in all; returns the
/// results by index (text, or the error message).
pub async fn run_items(
    channel: &Channel,
    engine: &str,
    payloads: &[String],
    slots: u32,
) -> (HashMap<u64, Result<String, String>>, JobOutputSummary) {
    let mut workers = Vec::new();
    // Workers of at most the slots the server counts for one.
    let per_worker = DEFAULT_MAX_WORKER_SLOTS;
    let mut left = slots;
    while left > 0 {
        let n = left.min(per_worker);
        workers.push(spawn_two_step_worker(channel, EXPRESSION, n).await);
        left -= n;
    }
    let spec = job(engine, payloads.len() as u64);
    let output = run_job(channel, spec, payloads).await;
    for worker in workers {
        worker.abort();
    }
    output
}

/// Runs `payloads` as items of a job `spec` on the workers connected, and
/// returns the results by index (text, or the error message).
pub async fn run_job(
    channel: &Channel,
    spec: JobSpec,
    payloads: &[String],
) -> (HashMap<u64, Result<String, String>>, JobOutputSummary) {
    let mut client = start_job(channel, spec).await;
    let items = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| symbatcher::pb::v1::Item {
            index: i as u64,
            payload: p.clone().into_bytes(),
            local_only: false,
        })
        .collect();
    client.send_items(items).await;
    client.end().await;
    let output = client.collect().await.expect("job completes");
    let results = output
        .results
        .iter()
        .map(|r| {
            let value = match r.outcome.as_ref().and_then(|o| o.value.as_ref()) {
                Some(outcome::Value::Payload(p)) => {
                    Ok(serde_json::from_slice::<String>(p).expect("a JSON string"))
                }
                Some(outcome::Value::Error(e)) => Err(e.message.clone()),
                None => Err("no outcome".into()),
            };
            (r.index, value)
        })
        .collect();
    let summary = JobOutputSummary {
        prompt_tokens: output.summary.prompt_tokens,
        completion_tokens: output.summary.completion_tokens,
        cost_usd: output.summary.cost_usd,
        unpriced_calls: output.summary.unpriced_calls,
    };
    (results, summary)
}

#[derive(Debug, PartialEq)]
pub struct JobOutputSummary {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub unpriced_calls: u64,
}

pub fn payloads(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("\"item-{i}\"")).collect()
}

pub fn text_of(result: &Result<String, String>) -> &str {
    result.as_ref().expect("an answered item")
}

/// Waits (real time, 30 s at most) until `done`.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The server binary with a config file naming the fake, on a free port,
/// with the environment variables `env` set.
pub fn start_server_process(
    config: &Path,
    cache_dir: &Path,
    env: &[(&str, &str)],
) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_symbatcher-server"))
        .envs(env.iter().copied())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--config")
        .arg(config)
        .arg("--cache-dir")
        .arg(cache_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server binary runs");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().expect("stdout")),
        &mut line,
    )
    .expect("read the listening line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, addr)
}

pub async fn connect(addr: &str) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect to the server process")
}
