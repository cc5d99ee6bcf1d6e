//! A run that goes back to its job's queue (its worker stalled or
//! disconnected) while one of its requests is at an engine: the request is
//! not given up. The item's next run, making the same call, is answered by
//! that request (coalesced with it while it is in flight, or from the call
//! cache once it is answered), so the provider is paid once; the old run's
//! call gets exactly one reply (`Cancelled`), and the request is billed to
//! the job once, within its cap.
//!
//! These tests run on real time (HTTP cannot run on a paused clock).

mod common;

use std::time::Duration;

use common::fake_openai::{FakeOpenAi, FakeSettings};
use common::*;
use symbatcher::config::EngineSpec;
use symbatcher::cost::Pricing;
use symbatcher::engine::openai::OpenAiSettings;
use symbatcher::pb::v1::{engine_reply, ErrorKind, JobSpec, RegisterWorker};
use symbatcher::ServerConfig;

const ENGINE: &str = "fake";
const EXPR: &str = "tests.requeued_calls:Expr";
/// Stalled after four intervals: 400 ms, well inside the fake's latency.
const HEARTBEAT_MS: u32 = 100;
/// The fake's answer takes this long: the old run is requeued meanwhile.
const LATENCY: Duration = Duration::from_millis(1_500);
/// $1 per output token; the fake bills 5: a request costs $5.
const PER_REQUEST_USD: f64 = 5.0;

const TEST_LIMIT: Duration = Duration::from_secs(30);

async fn limited<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TEST_LIMIT, fut)
        .await
        .expect("test finished in time")
}

fn config_with(fake: &FakeOpenAi, cache_dir: Option<&std::path::Path>) -> ServerConfig {
    let mut config = config();
    let mut engine = EngineSpec::openai(ENGINE, OpenAiSettings::new(&fake.base_url(), "m-1"));
    engine.pricing = Some(Pricing::new(0.0, 1_000_000.0, 0.5).with_max_output_tokens(Some(10)));
    config.engines.push(engine);
    config.cache.cache_dir = cache_dir.map(|dir| dir.to_path_buf());
    config
}

fn register(name: &str, heartbeat_interval_ms: u32) -> RegisterWorker {
    RegisterWorker {
        name: name.into(),
        expressions: vec![EXPR.into()],
        concurrency: 1,
        heartbeat_interval_ms,
        ..Default::default()
    }
}

fn job_spec(max_cost_usd: Option<f64>) -> JobSpec {
    JobSpec {
        engine: ENGINE.to_string(),
        max_cost_usd,
        ..spec(EXPR, 1)
    }
}

/// How a worker loses its run while its call is at the engine.
#[derive(Clone, Copy)]
enum Loss {
    /// It goes silent past four heartbeat intervals.
    Stall,
    /// Its stream ends.
    Disconnect,
}

/// One item, one call: the first worker's run makes the call and is lost
/// (`loss`) while the request is at the fake; a second worker runs the item
/// again and makes the same call. Returns the job's output, the text the
/// second worker got, and the requests the fake received.
async fn lose_a_run_with_its_request_at_the_engine(
    loss: Loss,
    max_cost_usd: Option<f64>,
    cache_dir: Option<&std::path::Path>,
    second_call_after: Duration,
) -> (JobOutput, String, usize) {
    let fake = FakeOpenAi::start(FakeSettings {
        latency: LATENCY,
        ..Default::default()
    })
    .await;
    let server = spawn_server(config_with(&fake, cache_dir)).await;
    let heartbeat = match loss {
        Loss::Stall => HEARTBEAT_MS,
        Loss::Disconnect => 0,
    };
    let mut first = try_connect_worker(&server.channel, register("first", heartbeat))
        .await
        .expect("registered");
    let mut job = start_job(&server.channel, job_spec(max_cost_usd)).await;
    job.send_items(items(0..1)).await;
    job.end().await;
    let held = first.assignments(1).await;
    first.start(&held).await;
    first.send_calls(&[(held[0].task_id, 1, "q".into())]).await;
    fake.wait_for_arrivals(1).await;
    match loss {
        // Silent from here: stalled 400 ms after its last message.
        Loss::Stall => {
            let cancelled = first.next_replies().await;
            assert_eq!(cancelled.len(), 1, "{cancelled:?}");
            assert_eq!(reply_error(&cancelled[0]).kind, ErrorKind::Cancelled as i32);
        }
        Loss::Disconnect => first.disconnect(),
    }
    let mut second = try_connect_worker(&server.channel, register("second", 0))
        .await
        .expect("registered");
    let moved = second.assignments(1).await;
    assert_eq!(moved[0].index, 0);
    second.start(&moved).await;
    tokio::time::sleep(second_call_after).await;
    second
        .send_calls(&[(moved[0].task_id, 7, "q".into())])
        .await;
    let replies = second.next_replies().await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].call_id, 7);
    let text = match &replies[0].outcome {
        Some(engine_reply::Outcome::Text(text)) => text.clone(),
        other => panic!("the second run's call failed: {other:?}"),
    };
    second
        .send_results(vec![ok_result(moved[0].task_id, b"\"done\"")])
        .await;
    let out = job.collect().await.expect("the job finishes");
    if let Loss::Stall = loss {
        // The first worker's call was answered once (Cancelled, above):
        // nothing more reaches it.
        while let std::task::Poll::Ready(Some(command)) = first.try_next_command() {
            assert!(
                !matches!(
                    command.kind,
                    Some(symbatcher::pb::v1::worker_command::Kind::Replies(_))
                ),
                "a second reply to the first worker: {command:?}"
            );
        }
    }
    // Every request the fake got, once it had time to answer them all.
    tokio::time::sleep(Duration::from_millis(100)).await;
    (out, text, fake.arrivals().len())
}

fn assert_paid_once(out: &JobOutput, text: &str, requests: usize) {
    assert_eq!(text, "reply to: q");
    assert_eq!(requests, 1, "the item's request was sent once");
    assert_eq!((out.summary.succeeded, out.summary.failed), (1, 0));
    assert_eq!(out.summary.requeued, 1);
    assert_eq!(out.summary.cost_usd, PER_REQUEST_USD, "billed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_workers_request_answers_the_items_next_run() {
    limited(async {
        let (out, text, requests) =
            lose_a_run_with_its_request_at_the_engine(Loss::Stall, None, None, Duration::ZERO)
                .await;
        assert_paid_once(&out, &text, requests);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_workers_request_answers_the_items_next_run() {
    limited(async {
        let (out, text, requests) =
            lose_a_run_with_its_request_at_the_engine(Loss::Disconnect, None, None, Duration::ZERO)
                .await;
        assert_paid_once(&out, &text, requests);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_job_pays_once_for_a_requeued_runs_request() {
    limited(async {
        // Room for two requests' worst case ($10 each): without the kept
        // request, both would be sent and billed.
        let (out, text, requests) = lose_a_run_with_its_request_at_the_engine(
            Loss::Stall,
            Some(25.0),
            None,
            Duration::ZERO,
        )
        .await;
        assert_paid_once(&out, &text, requests);
    })
    .await;
}

/// The next run asks after the fake answered the first request.
async fn ask_after_the_answer(cache_dir: Option<&std::path::Path>) {
    let (out, text, requests) =
        lose_a_run_with_its_request_at_the_engine(Loss::Stall, None, cache_dir, LATENCY).await;
    assert_paid_once(&out, &text, requests);
    let saved = out.summary.saved.expect("saved usage");
    assert_eq!(saved.cache_hits, 1, "{saved:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_answered_before_the_next_run_asks_answers_it_with_a_cache_on_disk() {
    limited(async {
        let cache = tempfile::tempdir().expect("temp dir");
        ask_after_the_answer(Some(cache.path())).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_answered_before_the_next_run_asks_answers_it_without_a_cache_on_disk() {
    limited(async {
        ask_after_the_answer(None).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_request_is_given_up_when_its_job_ends() {
    limited(async {
        let fake = FakeOpenAi::start(FakeSettings {
            latency: LATENCY,
            ..Default::default()
        })
        .await;
        let server = spawn_server(config_with(&fake, None)).await;
        let mut first = try_connect_worker(&server.channel, register("first", HEARTBEAT_MS))
            .await
            .expect("registered");
        let mut job = start_job(&server.channel, job_spec(None)).await;
        job.send_items(items(0..1)).await;
        job.end().await;
        let held = first.assignments(1).await;
        first.start(&held).await;
        first.send_calls(&[(held[0].task_id, 1, "q".into())]).await;
        fake.wait_for_arrivals(1).await;
        // Stalled: the call is answered Cancelled, its request kept.
        let cancelled = first.next_replies().await;
        assert_eq!(reply_error(&cancelled[0]).kind, ErrorKind::Cancelled as i32);
        let in_flight = |status: symbatcher::pb::v1::StatusResponse| {
            status
                .engines
                .iter()
                .find(|e| e.name == ENGINE)
                .map(|e| e.requests_in_flight)
        };
        assert_eq!(
            in_flight(server.status().await),
            Some(1),
            "the request is kept"
        );
        // The client goes away: the job ends, and its kept request with it,
        // long before the fake would answer it.
        drop(job);
        let given_up = std::time::Instant::now() + LATENCY / 2;
        while in_flight(server.status().await) != Some(0) {
            assert!(
                std::time::Instant::now() < given_up,
                "the kept request was not given up"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
