//! Rate limits of the openai engine, measured at a real HTTP server on
//! loopback: requests per minute and tokens per minute stay within 5% of
//! their limits over several seconds, for several jobs at once, and a
//! response saying the provider's budget is exhausted pauses every request.
//!
//! The rates are scaled down (thousands per minute instead of per-second
//! limits of a provider) so that a few seconds hold a hundred requests.

mod common;

use std::time::{Duration, Instant};

use serde_json::json;

use common::fake_openai::{Arrival, FakeOpenAi, FakeSettings};
use common::*;
use symbatcher::config::EngineSpec;
use symbatcher::engine::openai::OpenAiSettings;
use symbatcher::pb::v1::JobSpec;

const ENGINE: &str = "limited";

async fn limited<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("test finished in time")
}

/// Requests per minute between the first and the last arrival.
fn observed_rpm(arrivals: &[Arrival]) -> f64 {
    let first = arrivals.iter().map(|a| a.at).min().expect("arrivals");
    let last = arrivals.iter().map(|a| a.at).max().expect("arrivals");
    (arrivals.len() - 1) as f64 * 60.0 / (last - first).as_secs_f64()
}

fn within_five_percent(observed: f64, limit: f64) -> bool {
    (observed - limit).abs() <= 0.05 * limit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_minute_hold_within_five_percent_across_jobs() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings {
            latency: Duration::from_millis(10),
            ..Default::default()
        })
        .await;
        let rpm = 2400; // 40 requests per second
        let mut config = config();
        let settings = OpenAiSettings {
            rpm: Some(rpm),
            ..OpenAiSettings::new(&fake.base_url(), "m")
        };
        config.engines.push(EngineSpec::openai(ENGINE, settings));
        let server = spawn_server(config).await;
        // Two jobs with workers of their own share the engine's one limit.
        let calls_a: Vec<(String, String)> =
            (0..85).map(|i| (format!("a{i}"), String::new())).collect();
        let calls_b: Vec<(String, String)> =
            (0..85).map(|i| (format!("b{i}"), String::new())).collect();
        let started = Instant::now();
        let (a, b) = tokio::join!(
            run_engine_job_as(&server, "A", ENGINE, &calls_a, 16),
            run_engine_job_as(&server, "B", ENGINE, &calls_b, 16),
        );
        let elapsed = started.elapsed();
        assert_eq!(a.0.len() + b.0.len(), 170);
        let arrivals = fake.arrivals();
        assert_eq!(arrivals.len(), 170);
        let observed = observed_rpm(&arrivals);
        eprintln!("observed {observed:.0} rpm against {rpm}");
        assert!(
            within_five_percent(observed, rpm as f64),
            "observed {observed:.0} rpm against a limit of {rpm} (job took {elapsed:?})"
        );
        assert!(elapsed >= Duration::from_secs(4), "{elapsed:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_per_minute_hold_within_five_percent() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings {
            latency: Duration::from_millis(10),
            ..Default::default()
        })
        .await;
        // The fake reports 15 tokens per request: 20 requests per second.
        let tpm = 18_000;
        let mut config = config();
        let settings = OpenAiSettings {
            tpm: Some(tpm),
            ..OpenAiSettings::new(&fake.base_url(), "m")
        };
        config.engines.push(EngineSpec::openai(ENGINE, settings));
        let server = spawn_server(config).await;
        // max_tokens keeps the estimate near the usage; the correction to
        // the reported usage does the rest.
        let kwargs = json!({"max_tokens": 5}).to_string();
        let calls: Vec<(String, String)> =
            (0..81).map(|i| (format!("t{i}"), kwargs.clone())).collect();
        let (_, summary) = run_engine_job(&server, ENGINE, &calls, 16).await;
        assert_eq!(summary.prompt_tokens + summary.completion_tokens, 81 * 15);
        let arrivals = fake.arrivals();
        let observed_tpm = observed_rpm(&arrivals) * 15.0;
        eprintln!("observed {observed_tpm:.0} tokens/min against {tpm}");
        assert!(
            within_five_percent(observed_tpm, tpm as f64),
            "observed {observed_tpm:.0} tokens/min against a limit of {tpm}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_budget_pauses_every_request_until_its_reset() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings::default()).await;
        let mut config = config();
        config.engines.push(EngineSpec::openai(
            ENGINE,
            OpenAiSettings::new(&fake.base_url(), "m"),
        ));
        let server = spawn_server(config).await;
        let expression = "tests.rate_limits:Pause";
        let mut worker = connect_worker(&server.channel, "w", &[expression], 2).await;
        let mut job = start_job(
            &server.channel,
            JobSpec {
                engine: ENGINE.to_string(),
                ..spec(expression, 1)
            },
        )
        .await;
        job.send_items(items(0..2)).await;
        job.end().await;
        let mut tasks = worker.assignments(2).await;
        tasks.sort_by_key(|t| t.index);
        worker
            .send_calls(&[(tasks[0].task_id, 1, "first [exhausted-once]".to_string())])
            .await;
        let first = fake.wait_for_arrivals(1).await[0].at;
        // Let the engine read the 429 before the second call arrives.
        tokio::time::sleep(Duration::from_millis(100)).await;
        worker
            .send_calls(&[(tasks[1].task_id, 2, "second".to_string())])
            .await;
        let mut answered = 0;
        while answered < 2 {
            let replies = worker.next_replies().await;
            for reply in &replies {
                assert!(reply_text(reply).starts_with("reply to: "), "{reply:?}");
            }
            answered += replies.len();
        }
        let arrivals = fake.arrivals();
        let second = arrivals
            .iter()
            .find(|a| a.content() == "second")
            .expect("second arrived");
        let waited = second.at - first;
        assert!(
            waited >= Duration::from_millis(600),
            "second call sent after {waited:?}"
        );
        drop(job);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_of_a_cancelled_job_waiting_for_the_limit_are_never_sent() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings::default()).await;
        let rpm = 600; // 10 requests per second
        let mut config = config();
        let settings = OpenAiSettings {
            rpm: Some(rpm),
            ..OpenAiSettings::new(&fake.base_url(), "m")
        };
        config.engines.push(EngineSpec::openai(ENGINE, settings));
        let server = spawn_server(config).await;
        let expression = "tests.rate_limits:Cancelled";
        let n = 60;
        let mut worker = connect_worker(&server.channel, "w", &[expression], n).await;
        let job = start_job(
            &server.channel,
            JobSpec {
                engine: ENGINE.to_string(),
                ..spec(expression, 8)
            },
        )
        .await;
        job.send_items(items(0..n as u64)).await;
        let tasks = worker.assignments(n as usize).await;
        let calls: Vec<(u64, u64, String)> = tasks
            .iter()
            .map(|t| (t.task_id, t.index + 1, format!("call {}", t.index)))
            .collect();
        worker.send_calls(&calls).await;
        // A few are sent; the rest wait for the rpm limit. Then the client
        // goes away, which cancels the job.
        fake.wait_for_arrivals(3).await;
        drop(job);
        let cancelled_at = Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let arrivals = fake.arrivals();
        let late = arrivals
            .iter()
            .filter(|a| a.at > cancelled_at + Duration::from_millis(200))
            .count();
        // At 10 per second, the 2 s after the cancel would have sent about 20.
        assert_eq!(late, 0, "{late} requests sent after the job was cancelled");
        assert!(arrivals.len() < 15, "{} requests sent", arrivals.len());
        let status = server.status().await;
        let engine = status
            .engines
            .iter()
            .find(|e| e.name == ENGINE)
            .expect("engine");
        assert_eq!(engine.requests_waiting, 0, "{engine:?}");
        assert_eq!(
            engine.failed_calls, 0,
            "given-up calls counted as failures: {engine:?}"
        );
    })
    .await;
}
