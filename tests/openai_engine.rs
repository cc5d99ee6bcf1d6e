//! The openai engine against a real HTTP server on loopback (the fake in
//! `common::fake_openai`): one request per call, replies matched to their
//! calls, retries of 429 and 5xx counted, a 400 failing only its call with
//! the provider's message, a hang turned into a timeout, and strict kwargs
//! (`openai_key_logging.rs`: the API key never shows in logs, Status or errors).
//!
//! These tests run on real time (HTTP cannot run on a paused clock).

mod common;

use std::time::{Duration, Instant};

use serde_json::json;

use common::fake_openai::{FakeOpenAi, FakeSettings};
use common::*;
use symbatcher::config::EngineSpec;
use symbatcher::engine::openai::OpenAiSettings;
use symbatcher::ServerConfig;

const ENGINE: &str = "fake";

/// Each test gets this long before it fails instead of hanging.
const TEST_LIMIT: Duration = Duration::from_secs(30);

async fn limited<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TEST_LIMIT, fut)
        .await
        .expect("test finished in time")
}

fn config_with(settings: OpenAiSettings) -> ServerConfig {
    let mut config = config();
    config.engines.push(EngineSpec::openai(ENGINE, settings));
    config
}

fn prompts(texts: &[&str]) -> Vec<(String, String)> {
    texts
        .iter()
        .map(|t| (t.to_string(), String::new()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_gets_the_reply_to_its_own_request() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings {
            latency: Duration::from_millis(5),
            ..Default::default()
        })
        .await;
        let server = spawn_server(config_with(OpenAiSettings::new(&fake.base_url(), "m-1"))).await;
        let calls: Vec<(String, String)> = (0..24)
            .map(|i| (format!("item {i}"), String::new()))
            .collect();
        let (replies, summary) = run_engine_job(&server, ENGINE, &calls, 8).await;

        for (index, reply) in &replies {
            assert_eq!(reply_text(reply), format!("reply to: item {index}"));
            let metadata: serde_json::Value =
                serde_json::from_str(&reply.metadata_json).expect("metadata is JSON");
            assert_eq!(metadata["usage"]["prompt_tokens"], json!(10));
            assert_eq!(metadata["model"], json!("m-1"));
        }
        let arrivals = fake.arrivals();
        assert_eq!(arrivals.len(), 24, "one request per call");
        assert!(arrivals.iter().all(|a| a.body["model"] == json!("m-1")));
        assert!(arrivals.iter().all(|a| a.authorization.is_none()));
        assert_eq!(summary.engine_calls, 24);
        assert_eq!(summary.prompt_tokens, 240);
        assert_eq!(summary.completion_tokens, 120);
        assert_eq!(summary.retries, 0);
        assert_eq!(summary.failed_engine_calls, 0);
        let latency = summary.engine_latency.expect("latency percentiles");
        assert_eq!(latency.count, 24);
        assert!(latency.p50_ms >= 5.0 && latency.p50_ms <= latency.p99_ms);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_fails_only_its_call_with_the_providers_message() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings::default()).await;
        let server = spawn_server(config_with(OpenAiSettings::new(&fake.base_url(), "m"))).await;
        let calls = prompts(&["fine 0", "broken [400]", "fine 2"]);
        let (replies, summary) = run_engine_job(&server, ENGINE, &calls, 4).await;

        assert_eq!(reply_text(&replies[&0]), "reply to: fine 0");
        assert_eq!(reply_text(&replies[&2]), "reply to: fine 2");
        let err = reply_error(&replies[&1]);
        assert_eq!(err.r#type, "BadRequestError");
        assert!(
            err.message
                .contains("provider says: cannot handle \"broken [400]\""),
            "{}",
            err.message
        );
        assert_eq!(fake.arrivals().len(), 3, "a 400 is not retried");
        assert_eq!(summary.failed_engine_calls, 1);
        assert_eq!(summary.retries, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_5xx_are_retried_honouring_retry_after_and_counted() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings {
            retry_after_ms: Some(300),
            ..Default::default()
        })
        .await;
        let server = spawn_server(config_with(OpenAiSettings::new(&fake.base_url(), "m"))).await;
        let calls = prompts(&[
            "a [429-once]",
            "b [429-once]",
            "c [500-once]",
            "d",
            "e [429-once]",
        ]);
        let (replies, summary) = run_engine_job(&server, ENGINE, &calls, 8).await;

        for (index, reply) in &replies {
            assert!(
                reply_text(reply).starts_with("reply to: "),
                "item {index}: {reply:?}"
            );
        }
        assert_eq!(summary.retries, 4);
        assert_eq!(summary.rate_limited, 3);
        assert_eq!(summary.failed_engine_calls, 0);
        // Each 429'd request came back no sooner than its Retry-After.
        let arrivals = fake.arrivals();
        for marker in ["a [429-once]", "b [429-once]", "e [429-once]"] {
            let times: Vec<Instant> = arrivals
                .iter()
                .filter(|a| a.content() == marker)
                .map(|a| a.at)
                .collect();
            assert_eq!(times.len(), 2, "{marker}: {times:?}");
            let waited = times[1] - times[0];
            assert!(
                waited >= Duration::from_millis(300),
                "{marker}: retried after {waited:?}"
            );
        }
        let status = server.status().await;
        let engine = status
            .engines
            .iter()
            .find(|e| e.name == ENGINE)
            .expect("engine listed");
        assert_eq!((engine.retries, engine.rate_limited), (4, 3));
        assert_eq!(engine.kind, "openai");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_max_retries() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings {
            rate_limit_every: 1,
            retry_after_ms: Some(10),
            ..Default::default()
        })
        .await;
        let settings = OpenAiSettings {
            max_retries: 2,
            ..OpenAiSettings::new(&fake.base_url(), "m")
        };
        let server = spawn_server(config_with(settings)).await;
        let (replies, summary) = run_engine_job(&server, ENGINE, &prompts(&["x"]), 1).await;
        let err = reply_error(&replies[&0]);
        assert_eq!(err.r#type, "RateLimitError");
        assert!(err.message.contains("slow down"), "{}", err.message);
        assert!(
            err.message.contains("gave up after 3 attempts"),
            "{}",
            err.message
        );
        assert_eq!(fake.arrivals().len(), 3);
        assert_eq!((summary.retries, summary.rate_limited), (2, 3));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_becomes_a_timeout_error_after_the_timeout() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings::default()).await;
        let settings = OpenAiSettings {
            timeout: Duration::from_millis(400),
            max_retries: 0,
            ..OpenAiSettings::new(&fake.base_url(), "m")
        };
        let server = spawn_server(config_with(settings)).await;
        let started = Instant::now();
        let (replies, _) = run_engine_job(&server, ENGINE, &prompts(&["[hang]", "ok"]), 2).await;
        let elapsed = started.elapsed();

        assert_eq!(reply_text(&replies[&1]), "reply to: ok");
        let err = reply_error(&replies[&0]);
        assert_eq!(err.r#type, "APITimeoutError");
        assert!(err.message.contains("timeout of 0.4s"), "{}", err.message);
        assert!(
            elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(3),
            "{elapsed:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kwargs_pass_through_and_unknown_ones_follow_the_strict_rule() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings::default()).await;
        let mut config = config_with(OpenAiSettings::new(&fake.base_url(), "m"));
        config.engines.push(EngineSpec::openai(
            "strict",
            OpenAiSettings {
                strict: true,
                ..OpenAiSettings::new(&fake.base_url(), "m")
            },
        ));
        let server = spawn_server(config).await;
        let kwargs = json!({
            "temperature": 0.1, "max_tokens": 7, "seed": 3, "stop": ["\n"],
            "response_format": {"type": "json_object"}, "model": "m-2",
            "extra_body": {"top_k": 5}, "colour": "blue"
        })
        .to_string();
        let calls = vec![("lenient".to_string(), kwargs.clone())];
        let (replies, _) = run_engine_job(&server, ENGINE, &calls, 1).await;
        let metadata: serde_json::Value =
            serde_json::from_str(&replies[&0].metadata_json).expect("metadata");
        assert_eq!(metadata["dropped_kwargs"], json!(["colour"]));
        let body = &fake.arrivals()[0].body;
        assert_eq!(body["temperature"], json!(0.1));
        assert_eq!(body["max_tokens"], json!(7));
        assert_eq!(body["seed"], json!(3));
        assert_eq!(body["stop"], json!(["\n"]));
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        assert_eq!(body["model"], json!("m-2"));
        assert_eq!(body["top_k"], json!(5));
        assert!(body.get("colour").is_none());

        let calls = vec![("strict".to_string(), kwargs)];
        let (replies, _) = run_engine_job(&server, "strict", &calls, 1).await;
        let err = reply_error(&replies[&0]);
        assert!(err.message.contains("\"colour\""), "{}", err.message);
        assert_eq!(fake.arrivals().len(), 1, "a rejected call sends no request");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_for_different_models_never_share_a_batch() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings::default()).await;
        let server = spawn_server(config_with(OpenAiSettings::new(&fake.base_url(), "m"))).await;
        let calls: Vec<(String, String)> = (0..6u64)
            .map(|i| {
                let model = if i.is_multiple_of(2) { "even" } else { "odd" };
                (format!("p{i}"), json!({"model": model}).to_string())
            })
            .collect();
        let (replies, summary) = run_engine_job(&server, ENGINE, &calls, 6).await;
        assert_eq!(replies.len(), 6);
        assert!(summary.engine_batches >= 2, "{summary:?}");
        for arrival in fake.arrivals() {
            let index: usize = arrival.content()[1..].parse().expect("p<i>");
            let model = if index.is_multiple_of(2) {
                "even"
            } else {
                "odd"
            };
            assert_eq!(arrival.body["model"], json!(model));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_call_holds_back_no_other_reply_of_its_batch() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings {
            retry_after_ms: Some(1000),
            ..Default::default()
        })
        .await;
        let server = spawn_server(config_with(OpenAiSettings::new(&fake.base_url(), "m"))).await;
        let expression = "tests.openai_engine:Early";
        let mut worker = connect_worker(&server.channel, "w", &[expression], 3).await;
        let mut job = start_job(
            &server.channel,
            symbatcher::pb::v1::JobSpec {
                engine: ENGINE.to_string(),
                ..spec(expression, 3)
            },
        )
        .await;
        job.send_items(items(0..3)).await;
        job.end().await;
        let mut tasks = worker.assignments(3).await;
        tasks.sort_by_key(|t| t.index);
        let started = Instant::now();
        worker
            .send_calls(&[
                (tasks[0].task_id, 1, "slow [429-once]".to_string()),
                (tasks[1].task_id, 2, "quick".to_string()),
                (tasks[2].task_id, 3, "also quick".to_string()),
            ])
            .await;
        let mut order = Vec::new();
        while order.len() < 3 {
            for reply in worker.next_replies().await {
                assert!(reply_text(&reply).starts_with("reply to: "), "{reply:?}");
                order.push((reply.call_id, started.elapsed()));
            }
        }
        // The quick calls came back long before the retried one.
        let (last_id, last_at) = order[2];
        assert_eq!(last_id, 1, "{order:?}");
        assert!(order[1].1 < Duration::from_millis(500), "{order:?}");
        assert!(last_at >= Duration::from_millis(1000), "{order:?}");
        drop(job);
    })
    .await;
}

/// Runs 64 calls (one per slot of a 64-slot worker, batch size 5) against
/// the fake answering each after 300 ms; returns the most requests it held
/// at once and the engine's `concurrency_limit` in Status afterwards.
async fn peak_requests_with_64_slots(max_concurrency: Option<usize>) -> (usize, u32) {
    let fake = FakeOpenAi::start(FakeSettings {
        latency: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let settings = OpenAiSettings {
        max_concurrency,
        ..OpenAiSettings::new(&fake.base_url(), "m")
    };
    let server = spawn_server(config_with(settings)).await;
    let calls: Vec<(String, String)> = (0..64)
        .map(|i| (format!("item {i}"), String::new()))
        .collect();
    let (replies, _) = run_engine_job(&server, ENGINE, &calls, 5).await;
    for (index, reply) in &replies {
        assert_eq!(reply_text(reply), format!("reply to: item {index}"));
    }
    assert_eq!(fake.arrivals().len(), 64, "one request per call");
    let status = server.status().await;
    let engine = status
        .engines
        .iter()
        .find(|e| e.name == ENGINE)
        .expect("engine listed");
    (fake.peak_in_flight(), engine.concurrency_limit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_every_slot_has_its_request_in_flight() {
    limited(async {
        let (peak, limit) = peak_requests_with_64_slots(None).await;
        assert_eq!(peak, 64, "all 64 slots' requests at once");
        assert_eq!(limit, 0, "Status: no limit");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_max_concurrency_is_kept_exactly() {
    limited(async {
        let (peak, limit) = peak_requests_with_64_slots(Some(10)).await;
        assert_eq!(peak, 10, "never more than the user's 10, and that many");
        assert_eq!(limit, 10);
    })
    .await;
}
