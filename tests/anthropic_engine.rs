//! The anthropic engine against a loopback fake of Anthropic's Messages API
//! (`common::fake_anthropic`, written from its documented wire format): the
//! headers and body it sends (a system message in `system`), replies with
//! usage and cost, 429 `rate_limit_error` and 529 `overloaded_error`
//! retried after `retry-after` with none lost and the rpm never exceeded,
//! an exhausted `anthropic-ratelimit-*` budget pausing the engine, a 4xx
//! failing only its call (method, path, status and the provider's message),
//! the API key kept out of errors, and the call cache.
//!
//! These tests run on real time (HTTP cannot run on a paused clock).

mod common;

use std::time::{Duration, Instant};

use serde_json::json;

use common::fake_anthropic::{FakeAnthropic, FakeSettings};
use common::*;
use symbatcher::config::EngineSpec;
use symbatcher::engine::anthropic::AnthropicSettings;
use symbatcher::engine::openai::ApiKey;
use symbatcher::pb::v1::EngineCall;
use symbatcher::ServerConfig;

const ENGINE: &str = "claude";
const MODEL: &str = "claude-sonnet-4-5";

fn config_with(settings: AnthropicSettings) -> ServerConfig {
    let mut config = config();
    config.engines.push(EngineSpec::anthropic(ENGINE, settings));
    config
}

fn settings(fake: &FakeAnthropic) -> AnthropicSettings {
    AnthropicSettings::new(&fake.base_url(), MODEL)
}

/// A call rendered as symai renders one: a system message, then the user's.
fn chat_call(system: &str, user: &str, kwargs: &str) -> EngineCall {
    let messages = json!([
        {"role": "system", "content": system},
        {"role": "user", "content": user}
    ]);
    EngineCall {
        messages_json: messages.to_string(),
        kwargs_json: kwargs.to_string(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_message_goes_into_system_with_the_headers_usage_and_cost() {
    within("the test", async {
        let key = "sk-ant-test-DO-NOT-LEAK-4242";
        let fake = FakeAnthropic::start(FakeSettings {
            api_key: Some(key.to_string()),
            ..Default::default()
        })
        .await;
        let mut settings = settings(&fake);
        settings.http.api_key = Some(ApiKey::new(key));
        let server = spawn_server(config_with(settings)).await;
        let calls: Vec<EngineCall> = (0..6)
            .map(|i| {
                chat_call(
                    "Answer briefly",
                    &format!("item {i}"),
                    r#"{"temperature": 0.5, "stop": "END"}"#,
                )
            })
            .collect();
        let (replies, out) = run_engine_calls_on(&server.channel, "Chat", ENGINE, &calls, 4).await;

        for (index, reply) in &replies {
            assert_eq!(reply_text(reply), format!("reply to: item {index}"));
            let metadata: serde_json::Value =
                serde_json::from_str(&reply.metadata_json).expect("metadata is JSON");
            assert_eq!(
                metadata["usage"],
                json!({"input_tokens": 10, "output_tokens": 5})
            );
            assert_eq!(metadata["stop_reason"], json!("end_turn"));
            assert_eq!(metadata["finish_reason"], json!("stop"));
            assert_eq!(metadata["model"], json!(MODEL));
        }
        let arrivals = fake.arrivals();
        assert_eq!(arrivals.len(), 6, "one request per call");
        for a in &arrivals {
            assert_eq!(a.path, "/v1/messages");
            assert_eq!(a.api_key.as_deref(), Some(key));
            assert_eq!(a.authorization, None);
            assert_eq!(a.version.as_deref(), Some("2023-06-01"));
            assert_eq!(a.content_type.as_deref(), Some("application/json"));
            assert_eq!(a.body["system"], json!("Answer briefly"));
            let messages = a.body["messages"].as_array().expect("messages");
            assert_eq!(messages.len(), 1, "the system message left `messages`");
            assert_eq!(messages[0]["role"], json!("user"));
            assert_eq!(a.body["max_tokens"], json!(4096));
            assert_eq!(a.body["temperature"], json!(0.5));
            assert_eq!(a.body["stop_sequences"], json!(["END"]));
        }
        // Usage and cost per item: 10 × $3 + 5 × $15 per million tokens.
        let per_item = (10.0 * 3.0 + 5.0 * 15.0) / 1e6;
        for result in &out.results {
            let usage = result.usage.as_ref().expect("an item's usage");
            assert_eq!(
                (usage.prompt_tokens, usage.completion_tokens, usage.calls),
                (10, 5, 1)
            );
            assert!((usage.cost_usd - per_item).abs() < 1e-12, "{usage:?}");
        }
        assert!((out.summary.cost_usd - 6.0 * per_item).abs() < 1e-9);
        assert_eq!(out.summary.unpriced_calls, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_429_and_529_are_retried_after_retry_after_none_lost_and_rpm_held() {
    within("the test", async {
        // 200 items, every 5th request refused (429 and 529 in turn) with
        // `retry-after: 1`, under rpm 3,000 (50 a second).
        let fake = FakeAnthropic::start(FakeSettings {
            refuse_every: 5,
            retry_after_s: Some(1),
            ..Default::default()
        })
        .await;
        let rpm = 3000;
        let mut settings = settings(&fake);
        settings.http.rpm = Some(rpm);
        let server = spawn_server(config_with(settings)).await;
        let n = 200;
        let calls: Vec<EngineCall> = (0..n)
            .map(|i| chat_call("Be brief", &format!("item {i}"), ""))
            .collect();
        let (replies, out) = run_engine_calls_on(&server.channel, "Chat", ENGINE, &calls, 32).await;

        assert_eq!(replies.len(), n);
        for (index, reply) in &replies {
            assert_eq!(
                reply_text(reply),
                format!("reply to: item {index}"),
                "none lost"
            );
        }
        let arrivals = fake.arrivals();
        let refused: Vec<_> = arrivals.iter().filter(|a| a.status != 200).collect();
        assert_eq!(arrivals.len(), n + refused.len());
        assert!(refused.iter().any(|a| a.status == 429) && refused.iter().any(|a| a.status == 529));
        assert_eq!(out.summary.retries as usize, refused.len());
        assert_eq!(
            out.summary.rate_limited as usize,
            refused.len(),
            "429s and 529s counted"
        );
        assert_eq!(out.summary.failed_engine_calls, 0);
        // Each refused item came back no sooner than its retry-after.
        for a in &refused {
            let content = a.content();
            let next = arrivals
                .iter()
                .find(|b| b.at > a.at && b.content() == content)
                .expect("a refused call is sent again");
            assert!(
                next.at.duration_since(a.at) >= Duration::from_secs(1),
                "{content}"
            );
        }
        // The rate over every window of 2 s (refused requests count): 100,
        // plus the limiter's burst of 100 ms of the rate and the first, plus
        // 3 for the jitter of arrival times. (No minute holds more than rpm:
        // the limiter's own test, and bench/anthropic_refusals.py at full
        // size.)
        let peak = fake.peak_in(Duration::from_secs(2));
        let allowed = 2 * (rpm / 60) as usize + (rpm as usize / 600).max(1) + 1 + 3;
        assert!(
            peak <= allowed,
            "{peak} requests in a second, over {allowed}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_requests_budget_pauses_until_its_reset_instant() {
    within("the test", async {
        let fake = FakeAnthropic::start(FakeSettings::default()).await;
        let server = spawn_server(config_with(settings(&fake))).await;
        let calls = prompt_calls(&["a [exhausted-once]", "b [529-once]"]);
        let (replies, summary) = run_engine_job(&server, ENGINE, &calls, 2).await;
        assert!(replies
            .values()
            .all(|r| reply_text(r).starts_with("reply to: ")));
        assert_eq!((summary.retries, summary.rate_limited), (2, 2));
        let arrivals = fake.arrivals();
        let times: Vec<Instant> = arrivals
            .iter()
            .filter(|a| a.content() == "a [exhausted-once]")
            .map(|a| a.at)
            .collect();
        assert_eq!(times.len(), 2);
        // The reset was 600 ms ahead, to the millisecond.
        assert!(times[1].duration_since(times[0]) >= Duration::from_millis(550));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_fails_only_its_call_naming_method_path_status_and_message_never_the_key() {
    within("the test", async {
        let key = "sk-ant-test-SECRET-777";
        let fake = FakeAnthropic::start(FakeSettings::default()).await;
        let mut settings = settings(&fake);
        settings.http.api_key = Some(ApiKey::new(key));
        let server = spawn_server(config_with(settings)).await;
        let calls = prompt_calls(&["fine", "broken [400]", "who [401-key]"]);
        let (replies, summary) = run_engine_job(&server, ENGINE, &calls, 4).await;

        assert_eq!(reply_text(&replies[&0]), "reply to: fine");
        let err = reply_error(&replies[&1]);
        assert_eq!(err.r#type, "BadRequestError");
        let host = fake.addr.to_string();
        assert_eq!(
            err.message,
            format!(
                "HTTP 400 from {host} (POST /v1/messages): invalid_request_error: provider says: \
                 cannot handle \"broken [400]\""
            )
        );
        let err = reply_error(&replies[&2]);
        assert_eq!(err.r#type, "AuthenticationError");
        assert!(
            err.message
                .contains("authentication_error: invalid x-api-key: [redacted]"),
            "{}",
            err.message
        );
        assert!(!err.message.contains(key));
        assert_eq!(fake.arrivals().len(), 3, "4xx are not retried");
        assert_eq!((summary.failed_engine_calls, summary.retries), (2, 0));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_cache_answers_a_repeated_request_without_sending_it() {
    within("the test", async {
        let fake = FakeAnthropic::start(FakeSettings::default()).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = config_with(settings(&fake));
        config.cache.cache_dir = Some(dir.path().to_path_buf());
        let server = spawn_server(config).await;
        let calls = vec![chat_call("S", "same question", "")];
        let (first, _) = run_engine_calls_on(&server.channel, "Chat", ENGINE, &calls, 1).await;
        let (again, out) = run_engine_calls_on(&server.channel, "Chat", ENGINE, &calls, 1).await;
        assert_eq!(reply_text(&first[&0]), reply_text(&again[&0]));
        assert_eq!(fake.arrivals().len(), 1, "the second came from the cache");
        assert_eq!(out.summary.saved.as_ref().map(|s| s.cache_hits), Some(1));
    })
    .await;
}
