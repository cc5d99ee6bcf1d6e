//! Retries of the openai engine that cannot starve: a retried call goes ahead
//! of calls not yet sent, a request larger than the whole tpm budget fails at
//! once, and a failure other than 429 gives its token charge back. Measured
//! at the loopback fake provider (tests/common/fake_openai.rs).

mod common;

use std::time::Duration;

use serde_json::json;

use common::fake_openai::{FakeOpenAi, FakeSettings};
use common::*;
use symbatcher::config::EngineSpec;
use symbatcher::engine::openai::OpenAiSettings;

const ENGINE: &str = "retried";

async fn limited<T>(seconds: u64, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), fut)
        .await
        .expect("test finished in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fifth_request_refused_loses_no_call() {
    limited(90, async {
        let fake = FakeOpenAi::start(FakeSettings {
            rate_limit_every: 5,
            retry_after: Some("0.2"),
            ..Default::default()
        })
        .await;
        let mut config = config();
        let settings = OpenAiSettings {
            max_retries: 8,
            ..OpenAiSettings::new(&fake.base_url(), "m")
        };
        config.engines.push(EngineSpec::openai(ENGINE, settings));
        let server = spawn_server(config).await;
        let n = 1000;
        let calls: Vec<(String, String)> = (0..n)
            .map(|i| (format!("call {i}"), String::new()))
            .collect();
        let (replies, summary) = run_engine_job(&server, ENGINE, &calls, 32).await;
        let failed: Vec<String> = replies
            .values()
            .filter_map(|reply| match &reply.outcome {
                Some(symbatcher::pb::v1::engine_reply::Outcome::Text(_)) => None,
                other => Some(format!("{other:?}")),
            })
            .collect();
        assert!(
            failed.is_empty(),
            "{} calls lost, e.g. {}",
            failed.len(),
            failed[0]
        );
        assert_eq!(replies.len(), n);
        let arrivals = fake.arrivals();
        let refused = arrivals.iter().filter(|a| a.status == 429).count();
        // One request in five was refused, and every refused call was sent again.
        assert_eq!(arrivals.len(), n + refused);
        assert!(refused >= n / 5, "{refused} refused");
        assert_eq!(summary.rate_limited as usize, refused, "{summary:?}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_request_larger_than_the_whole_tpm_budget_fails_at_once() {
    // Nothing listens at the base URL: the call must fail before any request.
    let mut config = config();
    let settings = OpenAiSettings {
        tpm: Some(100),
        ..OpenAiSettings::new("http://127.0.0.1:9/v1", "m")
    };
    config.engines.push(EngineSpec::openai(ENGINE, settings));
    let server = spawn_server(config).await;
    let kwargs = json!({"max_tokens": 500}).to_string();
    let started = tokio::time::Instant::now();
    let (replies, _) = run_engine_job(&server, ENGINE, &[("hello".to_string(), kwargs)], 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let err = reply_error(&replies[&0]);
    assert_eq!(err.r#type, "InvalidRequestError", "{err:?}");
    assert!(err.message.contains("tpm budget of 100"), "{}", err.message);
    assert!(err.message.contains("estimated at 5"), "{}", err.message);
    assert!(!err.message.contains("attempts"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_gives_its_tokens_back() {
    limited(30, async {
        let fake = FakeOpenAi::start(FakeSettings::default()).await;
        let mut config = config();
        // 10 tokens a second; a call below is estimated at 16 tokens.
        let settings = OpenAiSettings {
            tpm: Some(600),
            max_concurrency: Some(1),
            ..OpenAiSettings::new(&fake.base_url(), "m")
        };
        config.engines.push(EngineSpec::openai(ENGINE, settings));
        let server = spawn_server(config).await;
        let kwargs = json!({"max_tokens": 5}).to_string();
        let calls: Vec<(String, String)> = (0..3)
            .map(|i| (format!("fails {i} [400]"), kwargs.clone()))
            .collect();
        let (replies, _) = run_engine_job(&server, ENGINE, &calls, 3).await;
        for reply in replies.values() {
            assert_eq!(reply_error(reply).r#type, "BadRequestError");
        }
        let arrivals = fake.arrivals();
        assert_eq!(arrivals.len(), 3);
        // Charged and kept, each failure's 15 tokens would hold the next
        // request back for about 1.4 s.
        let first = arrivals.iter().map(|a| a.at).min().expect("arrivals");
        let last = arrivals.iter().map(|a| a.at).max().expect("arrivals");
        assert!(
            last - first < Duration::from_millis(700),
            "{:?}",
            last - first
        );
    })
    .await;
}
