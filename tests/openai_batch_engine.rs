//! The openai-batch engine against a loopback fake of the Files and Batches
//! endpoints (`common::fake_openai_batch`), with two-call-per-item workers:
//! one provider batch per step of `forward()`, splits at the file limits,
//! the same results as the online engine, expired and failed requests sent
//! again or to the fallback engine, and a server killed mid-batch that waits for that batch after a restart
//! instead of submitting it again.
//!
//! These tests run on real time (HTTP cannot run on a paused clock), with
//! poll intervals of a few ms.

mod common;

use std::path::Path;
use std::time::Duration;

use common::batch_jobs::{
    connect, job, limited, payloads, run_items, run_job, start_server_process, text_of, wait_until,
    EXPRESSION,
};
use common::fake_openai::{FakeOpenAi, FakeSettings};
use common::fake_openai_batch::{FakeBatchApi, FakeBatchSettings};
use common::two_step_worker::{
    expected_result, spawn_replaying_two_step_worker, spawn_two_step_worker,
};
use common::*;
use symbatcher::config::{EngineKindSpec, EngineSpec};
use symbatcher::cost::Pricing;
use symbatcher::engine::openai::OpenAiSettings;
use symbatcher::engine::provider_batch::OpenAiBatchSettings;
use symbatcher::pb::v1::JobSpec;
use symbatcher::ServerConfig;

const BATCH: &str = "batch";
const ONLINE: &str = "online";

fn batch_settings(fake: &FakeBatchApi) -> OpenAiBatchSettings {
    OpenAiBatchSettings {
        poll_interval: Duration::from_millis(5),
        poll_max_interval: Duration::from_millis(20),
        ..OpenAiBatchSettings::new(&fake.base_url(), "m-1")
    }
}

fn config_with(settings: OpenAiBatchSettings, cache_dir: &Path) -> ServerConfig {
    let mut config = config();
    config.cache.cache_dir = Some(cache_dir.to_path_buf());
    config.engines.push(EngineSpec {
        name: BATCH.to_string(),
        max_batch_size: settings.max_requests_per_batch,
        kind: EngineKindSpec::OpenAiBatch(settings),
        pricing: None,
    });
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_two_step_items_go_in_one_batch_per_step_with_the_online_results() {
    limited(async {
        let n = 10_000;
        let fake = FakeBatchApi::start(FakeBatchSettings {
            finalizing_polls: 3,
        })
        .await;
        let online = FakeOpenAi::start(FakeSettings::default()).await;
        let cache = tempfile::tempdir().expect("temp dir");
        let mut config = config_with(batch_settings(&fake), cache.path());
        config.engines.push(EngineSpec::openai(
            ONLINE,
            OpenAiSettings {
                max_concurrency: Some(64),
                ..OpenAiSettings::new(&online.base_url(), "m-1")
            },
        ));
        // The same price on both engines; the batch engine's calls are
        // charged at the batch price.
        let price = Pricing::new(2.0, 8.0, 0.5);
        for spec in &mut config.engines {
            spec.pricing = Some(price);
        }
        let server = spawn_server(config).await;
        let items = payloads(n);

        let (batched, batch_summary) = run_items(&server.channel, BATCH, &items, n as u32).await;
        // The online engine on the first 1,000 items (20,000 HTTP requests
        // would only slow the test down).
        let compared = 1000;
        let (direct, online_summary) =
            run_items(&server.channel, ONLINE, &items[..compared], 256).await;

        assert_eq!(batched.len(), n);
        for (index, result) in &direct {
            assert_eq!(
                &batched[index], result,
                "the batch engine answers as the online one"
            );
        }
        for (index, result) in &batched {
            assert_eq!(text_of(result), expected_result(&items[*index as usize]));
        }
        assert_eq!(
            batch_summary.prompt_tokens,
            10 * 2 * n as u64,
            "usage per call"
        );
        assert_eq!(batch_summary.completion_tokens, 5 * 2 * n as u64);
        assert_eq!(online_summary.prompt_tokens, 10 * 2 * compared as u64);
        let online_per_item = online_summary.cost_usd / compared as f64;
        let batch_per_item = batch_summary.cost_usd / n as f64;
        assert!(online_per_item > 0.0, "the online calls are priced");
        assert!(
            (batch_per_item - online_per_item / 2.0).abs() < 1e-12,
            "the batch engine costs half the online one per item: {batch_per_item} vs {online_per_item}"
        );
        assert_eq!(batch_summary.unpriced_calls, 0);
        let batches = fake.batches();
        let sizes: Vec<usize> = batches.iter().map(|b| b.custom_ids.len()).collect();
        assert_eq!(sizes, [n, n], "one batch per step of forward()");
        assert!(batches.iter().all(|b| b.status == "completed"));
        assert!(batches.iter().all(|b| b.polls >= 5), "finalizing was slow");

        let status = server.status().await;
        let shown: Vec<(String, u32, u32)> = status
            .provider_batches
            .iter()
            .map(|b| (b.state.clone(), b.total, b.completed))
            .collect();
        assert_eq!(
            shown,
            vec![("completed".to_string(), n as u32, n as u32); 2],
            "Status lists each batch with its state and counts"
        );
        assert_eq!(status.provider_batches[0].batch_id, batches[0].id);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_workers_send_one_batch_per_step_from_four_slots() {
    limited(async {
        let fake = FakeBatchApi::start(FakeBatchSettings::default()).await;
        let cache = tempfile::tempdir().expect("temp dir");
        let server = spawn_server(config_with(batch_settings(&fake), cache.path())).await;
        let n = 1000;
        let items = payloads(n);
        let worker = spawn_replaying_two_step_worker(&server.channel, EXPRESSION, 4).await;
        // The window is left to the server: a replaying job on a batch API
        // engine gets at least the engine's batch.
        let spec = JobSpec {
            engine: BATCH.to_string(),
            ..spec(EXPRESSION, 64)
        };
        let (results, summary) = run_job(&server.channel, spec, &items).await;
        worker.abort();

        let sizes: Vec<usize> = fake.batches().iter().map(|b| b.custom_ids.len()).collect();
        assert_eq!(
            sizes,
            [n, n],
            "one batch per step of forward() from 4 slots"
        );
        assert_eq!(results.len(), n);
        for (index, result) in &results {
            assert_eq!(text_of(result), expected_result(&items[*index as usize]));
        }
        // Calls answered from the replies kept for a replay are not sent
        // or counted again.
        assert_eq!(summary.prompt_tokens, 10 * 2 * n as u64);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_is_split_into_files_at_the_request_and_byte_limits() {
    limited(async {
        let fake = FakeBatchApi::start(FakeBatchSettings::default()).await;
        let cache = tempfile::tempdir().expect("temp dir");
        let line_bytes = 200; // a request line here is ~150 bytes
        let settings = OpenAiBatchSettings {
            max_requests_per_batch: 40,
            max_batch_bytes: 12 * line_bytes,
            ..batch_settings(&fake)
        };
        let server = spawn_server(config_with(settings, cache.path())).await;
        let (results, _) = run_items(&server.channel, BATCH, &payloads(100), 100).await;

        assert_eq!(results.len(), 100);
        for (index, result) in &results {
            assert_eq!(
                text_of(result),
                expected_result(&format!("\"item-{index}\""))
            );
        }
        let batches = fake.batches();
        let requests: usize = batches.iter().map(|b| b.custom_ids.len()).sum();
        assert_eq!(requests, 200, "every request sent once");
        assert!(batches.iter().all(|b| b.custom_ids.len() <= 12), "byte cap");
        // The scheduler forms batches of at most 40 calls, each split into
        // files of at most 12: 4 files per 40 calls, per step.
        assert!(batches.len() >= 2 * 9, "{} batches", batches.len());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_failed_requests_go_into_the_next_batch_and_4xx_fail_their_item() {
    limited(async {
        let fake = FakeBatchApi::start(FakeBatchSettings::default()).await;
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
            error.starts_with("error: HTTP 400"),
            "a 400 fails its item: {error}"
        );
        assert!(error.contains("provider says"), "{error}");
        let batches = fake.batches();
        assert_eq!(batches[0].status, "expired");
        assert!(
            batches[0]
                .custom_ids
                .iter()
                .any(|id| batches[1..].iter().any(|b| b.custom_ids.contains(id))),
            "the expired request went into a next batch"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_requests_go_to_the_fallback_engine() {
    limited(async {
        let fake = FakeBatchApi::start(FakeBatchSettings::default()).await;
        let online = FakeOpenAi::start(FakeSettings::default()).await;
        let cache = tempfile::tempdir().expect("temp dir");
        let settings = OpenAiBatchSettings {
            fallback: Some(ONLINE.to_string()),
            ..batch_settings(&fake)
        };
        let mut config = config_with(settings, cache.path());
        config.engines.push(EngineSpec::openai(
            ONLINE,
            OpenAiSettings::new(&online.base_url(), "m-1"),
        ));
        let server = spawn_server(config).await;
        let items = vec!["\"[expire] late\"".to_string(), "\"on time\"".to_string()];
        let (results, _) = run_items(&server.channel, BATCH, &items, 2).await;

        assert_eq!(text_of(&results[&0]), expected_result(&items[0]));
        assert_eq!(text_of(&results[&1]), expected_result(&items[1]));
        let online_contents: Vec<String> = online.arrivals().iter().map(|a| a.content()).collect();
        // Both steps of the first item expire (each content expires once):
        // each goes to the online engine; nothing is submitted again.
        assert_eq!(
            online_contents,
            [
                "summarize \"[expire] late\"",
                "judge: reply to: summarize \"[expire] late\""
            ]
        );
        let batches = fake.batches();
        let expired = batches.iter().filter(|b| b.status == "expired").count();
        assert_eq!(expired, 2, "{batches:?}");
        let requests: usize = batches.iter().map(|b| b.custom_ids.len()).sum();
        assert_eq!(requests, 4, "no request went into a batch twice");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_its_client_cancels_cancels_its_provider_batch() {
    limited(async {
        let fake = FakeBatchApi::start(FakeBatchSettings::default()).await;
        fake.hold(true);
        let cache = tempfile::tempdir().expect("temp dir");
        let server = spawn_server(config_with(batch_settings(&fake), cache.path())).await;
        let worker = spawn_two_step_worker(&server.channel, EXPRESSION, 8).await;
        let mut client = start_job(&server.channel, job(BATCH, 8)).await;
        client.send_items(items(0..8)).await;
        client.end().await;
        wait_until("the first step's batch is submitted", || {
            fake.batches().len() == 1
        })
        .await;
        assert_eq!(fake.cancels(), 0);

        drop(client); // the client goes away: its job is cancelled
        wait_until("the batch is cancelled on the provider", || {
            fake.cancels() == 1
        })
        .await;
        wait_until("the provider reports it cancelled", || {
            fake.batches()[0].status == "cancelled"
        })
        .await;
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
        let fake = FakeBatchApi::start(FakeBatchSettings::default()).await;
        fake.hold(true);
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("symbatcher.toml");
        std::fs::write(
            &config,
            format!(
                "[engines.{BATCH}]\nkind = \"openai-batch\"\nbase_url = \"{}\"\n\
                 api_key_env = \"\"\nmodel = \"m-1\"\npoll_interval_ms = 5\n\
                 poll_max_interval_ms = 20\n",
                fake.base_url()
            ),
        )
        .expect("write config");
        let cache = dir.path().join("cache");
        let item_payloads = payloads(20);

        let (mut first, addr) = start_server_process(&config, &cache, &[]);
        let channel = connect(&addr).await;
        let worker = spawn_two_step_worker(&channel, EXPRESSION, 20).await;
        let client = start_job(&channel, job(BATCH, 20)).await;
        client.send_items(items(0..20)).await;
        // Polled: the server has recorded the batch.
        wait_until("step 1 is submitted and polled", || {
            fake.batches().first().is_some_and(|b| b.polls > 0)
        })
        .await;
        first.kill().expect("SIGKILL the server");
        first.wait().expect("reaped");
        worker.abort();
        drop(client);

        let (mut second, addr) = start_server_process(&config, &cache, &[]);
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
        let batches = fake.batches();
        let sizes: Vec<usize> = batches.iter().map(|b| b.custom_ids.len()).collect();
        assert_eq!(sizes, [20, 20], "step 1 was not submitted again");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_job_on_a_batch_engine_with_a_fallback_reserves_the_online_price() {
    limited(async {
        let fake = FakeBatchApi::start(FakeBatchSettings::default()).await;
        let online = FakeOpenAi::start(FakeSettings::default()).await;
        let cache = tempfile::tempdir().expect("temp dir");
        let settings = OpenAiBatchSettings {
            fallback: Some(ONLINE.to_string()),
            ..batch_settings(&fake)
        };
        let mut config = config_with(settings, cache.path());
        config.engines.push(EngineSpec::openai(
            ONLINE,
            OpenAiSettings::new(&online.base_url(), "m-1"),
        ));
        // As below, but a call may go online through the fallback (expired,
        // failed, or to meet a deadline): its worst case is $10, the online
        // price, so one fits under $15, not three.
        let price = Pricing::new(0.0, 1_000_000.0, 0.5).with_max_output_tokens(Some(10));
        config.engines[0].pricing = Some(price);
        let server = spawn_server(config).await;
        let items = payloads(20);
        let worker = spawn_replaying_two_step_worker(&server.channel, EXPRESSION, 4).await;
        let spec = JobSpec {
            engine: BATCH.to_string(),
            max_cost_usd: Some(15.0),
            ..spec(EXPRESSION, 64)
        };
        let (_, summary) = run_job(&server.channel, spec, &items).await;
        worker.abort();

        let sizes: Vec<usize> = fake.batches().iter().map(|b| b.custom_ids.len()).collect();
        assert_eq!(sizes, [1], "one online worst case fits under the cap");
        assert_eq!(summary.cost_usd, 2.5, "one call billed at the batch price");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_job_submits_only_the_calls_whose_worst_case_fits_and_the_rest_fail() {
    limited(async {
        let fake = FakeBatchApi::start(FakeBatchSettings::default()).await;
        let cache = tempfile::tempdir().expect("temp dir");
        let mut config = config_with(batch_settings(&fake), cache.path());
        // $1 per output token, nothing for input; a reply has at most 10
        // output tokens: a call's worst case is $5 at the batch price, and
        // the fake bills 5 output tokens ($2.50).
        let price = Pricing::new(0.0, 1_000_000.0, 0.5).with_max_output_tokens(Some(10));
        config.engines[0].pricing = Some(price);
        let server = spawn_server(config).await;
        let n = 20;
        let items = payloads(n);
        let worker = spawn_replaying_two_step_worker(&server.channel, EXPRESSION, 4).await;
        let spec = JobSpec {
            engine: BATCH.to_string(),
            max_cost_usd: Some(15.0),
            ..spec(EXPRESSION, 64)
        };
        let (results, summary) = run_job(&server.channel, spec, &items).await;
        worker.abort();

        let sizes: Vec<usize> = fake.batches().iter().map(|b| b.custom_ids.len()).collect();
        assert_eq!(
            sizes,
            [3],
            "three worst cases fit under the cap: they go, the rest of the batch does not"
        );
        assert_eq!(summary.cost_usd, 7.5, "three calls billed, under the cap");
        assert_eq!(results.len(), n);
        for result in results.values() {
            let message = result.as_ref().expect_err("every item stops at the cap");
            assert!(
                message.contains("max_cost_usd 15.000000") && message.contains("reserved"),
                "{message}"
            );
        }
    })
    .await;
}
