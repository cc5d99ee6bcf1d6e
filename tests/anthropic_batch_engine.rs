//! The anthropic-batch engine against a loopback fake of Anthropic's
//! Message Batches API (`common::fake_anthropic_batch`), with
//! two-call-per-item workers: one provider batch per step of `forward()`,
//! the online anthropic engine's results at half its cost, expired and
//! errored requests sent again or to the fallback engine, a cancelled job
//! that cancels its batch, and a server killed mid-batch that waits for
//! that batch after a restart instead of submitting it again.
//!
//! These tests run on real time (HTTP cannot run on a paused clock), with
//! poll intervals of a few ms.

mod common;

use std::path::Path;
use std::time::Duration;

use common::batch_jobs::{
    connect, job, limited, payloads, run_items, start_server_process, text_of, wait_until,
    EXPRESSION,
};
use common::fake_anthropic::{FakeAnthropic, FakeSettings};
use common::fake_anthropic_batch::{FakeBatchSettings, FakeMessageBatches};
use common::two_step_worker::{expected_result, spawn_two_step_worker};
use common::*;
use symbatcher::config::{EngineKindSpec, EngineSpec};
use symbatcher::engine::anthropic::AnthropicSettings;
use symbatcher::engine::provider_batch::AnthropicBatchSettings;
use symbatcher::ServerConfig;

const BATCH: &str = "claude-batch";
const ONLINE: &str = "claude";
/// A model of the built-in price table.
const MODEL: &str = "claude-sonnet-4-5";

fn batch_settings(fake: &FakeMessageBatches) -> AnthropicBatchSettings {
    AnthropicBatchSettings {
        poll_interval: Duration::from_millis(5),
        poll_max_interval: Duration::from_millis(20),
        ..AnthropicBatchSettings::new(&fake.base_url(), MODEL)
    }
}

fn config_with(settings: AnthropicBatchSettings, cache_dir: &Path) -> ServerConfig {
    let mut config = config();
    config.cache.cache_dir = Some(cache_dir.to_path_buf());
    config.engines.push(EngineSpec {
        name: BATCH.to_string(),
        max_batch_size: settings.max_requests_per_batch,
        kind: EngineKindSpec::AnthropicBatch(settings),
        pricing: None,
    });
    config
}

fn online_engine(fake: &FakeAnthropic) -> EngineSpec {
    EngineSpec::anthropic(ONLINE, AnthropicSettings::new(&fake.base_url(), MODEL))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_two_step_items_go_in_two_batches_with_the_online_results_at_half_the_cost() {
    limited(async {
        let n = 2000;
        let fake = FakeMessageBatches::start(FakeBatchSettings {
            in_progress_polls: 3,
            ..Default::default()
        })
        .await;
        let online = FakeAnthropic::start(FakeSettings::default()).await;
        let cache = tempfile::tempdir().expect("temp dir");
        let mut config = config_with(batch_settings(&fake), cache.path());
        config.engines.push(online_engine(&online));
        let server = spawn_server(config).await;
        let items = payloads(n);

        let (batched, batch_summary) = run_items(&server.channel, BATCH, &items, n as u32).await;
        // The online engine on the first 500 items (1,000 requests).
        let compared = 500;
        let (direct, online_summary) =
            run_items(&server.channel, ONLINE, &items[..compared], 256).await;

        assert_eq!(batched.len(), n);
        assert_eq!(direct.len(), compared);
        for (index, result) in &direct {
            assert_eq!(&batched[index], result, "the batch engine answers as the online one");
        }
        for (index, result) in &batched {
            assert_eq!(text_of(result), expected_result(&items[*index as usize]));
        }
        let batches = fake.batches();
        let sizes: Vec<usize> = batches.iter().map(|b| b.custom_ids.len()).collect();
        assert_eq!(sizes, [n, n], "one provider batch per step of forward()");
        assert!(batches.iter().all(|b| b.status == "ended" && b.polls > 3));
        // Each request's params are the online engine's body.
        let params = &batches[0].params[0];
        assert_eq!((params["model"].as_str(), params["max_tokens"].as_u64()), (Some(MODEL), Some(4096)));
        assert_eq!(params["messages"][0]["role"], "user");

        assert_eq!(batch_summary.prompt_tokens, 10 * 2 * n as u64, "usage per call");
        assert_eq!(batch_summary.completion_tokens, 5 * 2 * n as u64);
        assert_eq!(batch_summary.unpriced_calls, 0, "priced from the built-in table");
        let online_per_item = online_summary.cost_usd / compared as f64;
        let batch_per_item = batch_summary.cost_usd / n as f64;
        assert!(online_per_item > 0.0, "the online calls are priced");
        assert!(
            (batch_per_item - online_per_item / 2.0).abs() < 1e-12,
            "the batch engine costs half the online one per item: {batch_per_item} vs {online_per_item}"
        );

        let status = server.status().await;
        let shown: Vec<(String, u32, u32)> = status
            .provider_batches
            .iter()
            .map(|b| (b.state.clone(), b.total, b.completed))
            .collect();
        assert_eq!(shown, vec![("ended".to_string(), n as u32, n as u32); 2]);
        assert_eq!(status.provider_batches[0].engine, BATCH);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_errored_requests_go_into_the_next_batch_and_invalid_ones_fail_their_item() {
    limited(async {
        let fake = FakeMessageBatches::start(FakeBatchSettings::default()).await;
        let cache = tempfile::tempdir().expect("temp dir");
        let server = spawn_server(config_with(batch_settings(&fake), cache.path())).await;
        let items: Vec<String> = ["plain", "[expire] late", "[500-once] flaky", "[400] bad"]
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect();
        let (results, _) = run_items(&server.channel, BATCH, &items, 4).await;

        for index in 0..3 {
            assert_eq!(
                text_of(&results[&index]),
                expected_result(&items[index as usize])
            );
        }
        let error = text_of(&results[&3]);
        assert!(
            error.starts_with("error: HTTP 400") && error.contains("invalid_request_error"),
            "an invalid request fails its item: {error}"
        );
        assert!(error.contains("provider says"), "{error}");
        let batches = fake.batches();
        let mut first = batches[0].result_types();
        first.sort();
        assert_eq!(first, ["errored", "errored", "expired", "succeeded"]);
        let retried: Vec<&String> = batches[1].custom_ids.iter().collect();
        assert_eq!(
            retried.len(),
            2,
            "the expired and the api_error request go again"
        );
        assert!(retried.iter().all(|id| batches[0].custom_ids.contains(id)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_requests_go_to_the_online_fallback_engine() {
    limited(async {
        let fake = FakeMessageBatches::start(FakeBatchSettings::default()).await;
        let online = FakeAnthropic::start(FakeSettings::default()).await;
        let cache = tempfile::tempdir().expect("temp dir");
        let settings = AnthropicBatchSettings {
            fallback: Some(ONLINE.to_string()),
            ..batch_settings(&fake)
        };
        let mut config = config_with(settings, cache.path());
        config.engines.push(online_engine(&online));
        let server = spawn_server(config).await;
        let items = vec!["\"[expire] late\"".to_string(), "\"on time\"".to_string()];
        let (results, _) = run_items(&server.channel, BATCH, &items, 2).await;

        assert_eq!(text_of(&results[&0]), expected_result(&items[0]));
        assert_eq!(text_of(&results[&1]), expected_result(&items[1]));
        let online_contents: Vec<String> = online.arrivals().iter().map(|a| a.content()).collect();
        assert_eq!(
            online_contents,
            [
                "summarize \"[expire] late\"",
                "judge: reply to: summarize \"[expire] late\""
            ]
        );
        let requests: usize = fake.batches().iter().map(|b| b.custom_ids.len()).sum();
        assert_eq!(requests, 4, "no request went into a batch twice");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_its_client_cancels_cancels_its_message_batch() {
    limited(async {
        let fake = FakeMessageBatches::start(FakeBatchSettings::default()).await;
        fake.hold(true);
        let cache = tempfile::tempdir().expect("temp dir");
        let server = spawn_server(config_with(batch_settings(&fake), cache.path())).await;
        let worker = spawn_two_step_worker(&server.channel, EXPRESSION, 8).await;
        let mut client = start_job(&server.channel, job(BATCH, 8)).await;
        client.send_items(items(0..8)).await;
        client.end().await;
        wait_until("the first step's batch is created", || {
            fake.batches().len() == 1
        })
        .await;
        assert_eq!(fake.cancels(), 0);

        drop(client); // the client goes away: its job is cancelled
        wait_until("the batch is cancelled on the provider", || {
            fake.cancels() == 1
        })
        .await;
        wait_until("the batch ends with its requests canceled", || {
            fake.batches()[0].status == "ended"
        })
        .await;
        assert!(fake.batches()[0]
            .result_types()
            .iter()
            .all(|t| t == "canceled"));
        let status = server.status().await;
        assert!(status.jobs.is_empty(), "the job is gone: {:?}", status.jobs);
        assert_eq!(fake.batches().len(), 1, "nothing is submitted again");
        assert_eq!(fake.cancels(), 1, "the batch is cancelled once");
        worker.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_batch_waits_for_that_batch_after_a_restart() {
    limited(async {
        let fake = FakeMessageBatches::start(FakeBatchSettings {
            api_key: Some("sk-ant-test".into()),
            ..Default::default()
        })
        .await;
        fake.hold(true);
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("symbatcher.toml");
        std::fs::write(
            &config,
            format!(
                "[engines.{BATCH}]\nkind = \"anthropic-batch\"\nbase_url = \"{}\"\n\
                 api_key_env = \"SYMBATCHER_TEST_ANTHROPIC_KEY\"\nmodel = \"{MODEL}\"\n\
                 poll_interval_ms = 5\npoll_max_interval_ms = 20\n",
                fake.base_url()
            ),
        )
        .expect("write config");
        let cache = dir.path().join("cache");
        let item_payloads = payloads(20);
        let env = [("SYMBATCHER_TEST_ANTHROPIC_KEY", "sk-ant-test")];

        let (mut first, addr) = start_server_process(&config, &cache, &env);
        let channel = connect(&addr).await;
        let worker = spawn_two_step_worker(&channel, EXPRESSION, 20).await;
        let client = start_job(&channel, job(BATCH, 20)).await;
        client.send_items(items(0..20)).await;
        wait_until("step 1 is submitted and polled", || {
            fake.batches().first().is_some_and(|b| b.polls > 0)
        })
        .await;
        first.kill().expect("SIGKILL the server");
        first.wait().expect("reaped");
        worker.abort();
        drop(client);

        let (mut second, addr) = start_server_process(&config, &cache, &env);
        let channel = connect(&addr).await;
        fake.hold(false);
        let (results, _) = run_items(&channel, BATCH, &item_payloads, 20).await;
        second.kill().expect("stop the server");
        let _ = second.wait();

        assert_eq!(results.len(), 20);
        for (index, result) in &results {
            assert_eq!(
                text_of(result),
                expected_result(&item_payloads[*index as usize])
            );
        }
        let sizes: Vec<usize> = fake.batches().iter().map(|b| b.custom_ids.len()).collect();
        assert_eq!(sizes, [20, 20], "step 1 was not submitted again");
    })
    .await;
}
