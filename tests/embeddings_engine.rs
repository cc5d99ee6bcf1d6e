//! The openai-embeddings engine against a loopback fake of OpenAI's
//! embeddings API (`common::fake_embeddings`), and a job's engine per call
//! kind: embedding calls merged into few requests with their vectors split
//! back, chat and embedding calls of one job each to its own engine, a call
//! of a kind the job has no engine for failing alone with an error naming
//! the kind, JobSpec fields naming an engine of the wrong kind refused, the
//! summary counting embedding calls apart, and a dead endpoint failing only
//! the jobs that call its engine.
//!
//! These tests run on real time (HTTP cannot run on a paused clock).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::fake_embeddings::{vector_of, FakeEmbeddings};
use common::fake_openai::{FakeOpenAi, FakeSettings};
use common::*;
use symbatcher::config::EngineSpec;
use symbatcher::engine::openai::OpenAiSettings;
use symbatcher::engine::openai_embeddings::OpenAiEmbeddingsSettings;
use symbatcher::pb::v1::{
    engine_reply, worker_command, worker_message, CallKind, EngineCall, EngineReply, JobSpec,
    WorkerEngineCall, WorkerEngineCallChunk, WorkerMessage,
};
use symbatcher::ServerConfig;

const EMBED: &str = "embed";
const CHAT: &str = "chat";

async fn limited<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("test finished in time")
}

fn config_with(embeddings: OpenAiEmbeddingsSettings) -> ServerConfig {
    let mut config = config();
    config
        .engines
        .push(EngineSpec::openai_embeddings(EMBED, embeddings));
    config
}

fn embed_call(inputs: &[String]) -> EngineCall {
    EngineCall {
        kind: CallKind::Embedding as i32,
        inputs: inputs.to_vec(),
        ..Default::default()
    }
}

fn vectors(reply: &EngineReply) -> Vec<Vec<f64>> {
    match &reply.outcome {
        Some(engine_reply::Outcome::Embeddings(e)) => {
            e.vectors.iter().map(|v| v.values.clone()).collect()
        }
        other => panic!("expected vectors, got {other:?}"),
    }
}

/// Serves `expression` with `concurrency` slots: every item makes one
/// embedding call of the text "text {index}" and finishes with "1" once
/// answered. Returns each item's reply.
async fn embedding_worker(
    server: &TestServer,
    expression: &str,
    concurrency: u32,
) -> BTreeMap<u64, EngineReply> {
    let mut worker = connect_worker(&server.channel, "embedder", &[expression], concurrency).await;
    let mut index_of = BTreeMap::new();
    let mut replies = BTreeMap::new();
    while let Some(command) = worker.next_command().await {
        match command.kind {
            Some(worker_command::Kind::Assignments(chunk)) => {
                let calls = chunk
                    .assignments
                    .iter()
                    .map(|a| {
                        index_of.insert(a.task_id, a.index);
                        WorkerEngineCall {
                            task_id: a.task_id,
                            call: Some(EngineCall {
                                call_id: a.task_id,
                                ..embed_call(&[format!("text {}", a.index)])
                            }),
                        }
                    })
                    .collect();
                worker
                    .send(WorkerMessage {
                        kind: Some(worker_message::Kind::EngineCalls(WorkerEngineCallChunk {
                            calls,
                        })),
                    })
                    .await;
            }
            Some(worker_command::Kind::Replies(chunk)) => {
                let results = chunk
                    .replies
                    .iter()
                    .map(|r| ok_result(r.call_id, b"1"))
                    .collect();
                for reply in chunk.replies {
                    replies.insert(index_of[&reply.call_id], reply);
                }
                worker.send_results(results).await;
            }
            Some(worker_command::Kind::JobFinished(_)) => break,
            _ => {}
        }
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_embedding_calls_go_out_in_at_most_ten_requests() {
    limited(async {
        let fake = FakeEmbeddings::start().await;
        let server = spawn_server(config_with(OpenAiEmbeddingsSettings::new(
            &fake.base_url(),
            "text-embedding-3-small",
        )))
        .await;
        let n = 10_000u64;
        let expression = "tests.embed:Embed";
        let spec = JobSpec {
            embedding_engine: EMBED.to_string(),
            window: Some(n as u32),
            ..spec(expression, 1024)
        };
        let mut job = start_job(&server.channel, spec).await;
        // Three workers hold every item at once (4,096 slots at most each).
        let workers = futures_join3(
            embedding_worker(&server, expression, 3_334),
            embedding_worker(&server, expression, 3_334),
            embedding_worker(&server, expression, 3_334),
        );
        let feed = async {
            job.send_items(items(0..n)).await;
            job.end().await;
            job.collect().await.expect("job finishes")
        };
        let ((a, b, c), out) = tokio::join!(workers, feed);
        let mut replies = a;
        replies.extend(b);
        replies.extend(c);

        assert_eq!(out.summary.succeeded, n);
        assert_eq!(replies.len() as u64, n);
        for (index, reply) in &replies {
            let text = format!("text {index}");
            assert_eq!(vectors(reply), vec![vector_of(&text, 8)], "item {index}");
        }
        let requests = fake.requests();
        assert!(
            requests.len() <= 10,
            "{} requests for {n} calls in batches of 1024",
            requests.len()
        );
        let inputs: usize = requests.iter().map(|r| r.inputs.len()).sum();
        assert_eq!(inputs as u64, n, "every input sent once");
        assert_eq!(out.summary.embedding_engine, EMBED);
        assert_eq!(out.summary.engine_calls, n);
        assert_eq!(out.summary.embedding_calls, n);
        // "text N" is two words: the fake's usage, split back per call.
        assert_eq!(out.summary.prompt_tokens, 2 * n);
        // text-embedding-3-small: $0.02 per million tokens.
        let expected = 2.0 * n as f64 * 0.02 / 1e6;
        assert!(
            (out.summary.cost_usd - expected).abs() < 1e-12,
            "{}",
            out.summary.cost_usd
        );
    })
    .await;
}

async fn futures_join3<A, B, C>(
    a: impl std::future::Future<Output = A>,
    b: impl std::future::Future<Output = B>,
    c: impl std::future::Future<Output = C>,
) -> (A, B, C) {
    tokio::join!(a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_close_at_max_inputs_and_calls_keep_their_own_vectors() {
    limited(async {
        let fake = FakeEmbeddings::start().await;
        let mut settings = OpenAiEmbeddingsSettings::new(&fake.base_url(), "e-1");
        settings.max_inputs = 5;
        let server = spawn_server(config_with(settings)).await;
        // Calls of 1, 2 and 3 inputs; one of another model; one retried 429.
        let calls: Vec<EngineCall> = (0..6)
            .map(|i| {
                let inputs: Vec<String> = (0..=(i % 3)).map(|j| format!("c{i} t{j}")).collect();
                let mut call = embed_call(&inputs);
                if i == 4 {
                    call.kwargs_json = r#"{"model": "e-2", "dimensions": 3}"#.into();
                }
                if i == 5 {
                    call.inputs[0] = "[429-once] c5".into();
                }
                call
            })
            .collect();
        let spec = JobSpec {
            embedding_engine: EMBED.to_string(),
            ..spec("", 6)
        };
        let (replies, out) = run_job_calls_on(&server.channel, "Mixed", spec, &calls).await;

        for (index, reply) in &replies {
            let call = &calls[*index as usize];
            let dims = if *index == 4 { 3 } else { 8 };
            let want: Vec<Vec<f64>> = call.inputs.iter().map(|t| vector_of(t, dims)).collect();
            assert_eq!(vectors(reply), want, "call {index}");
        }
        let requests = fake.requests();
        let ok: Vec<_> = requests.iter().filter(|r| r.status == 200).collect();
        assert!(ok.iter().all(|r| r.inputs.len() <= 5), "{requests:?}");
        assert!(ok.iter().any(|r| r.model == "e-2" && r.inputs.len() == 2));
        assert!(ok.iter().all(|r| r.model != "e-2" || r.inputs.len() == 2));
        assert_eq!(requests.iter().filter(|r| r.status == 429).count(), 1);
        assert_eq!(out.summary.retries, 1);
        assert_eq!(out.summary.rate_limited, 1);
        assert_eq!(out.summary.failed_engine_calls, 0);
        // Usage per call adds up to what the fake reported.
        let reported: usize = ok
            .iter()
            .flat_map(|r| r.inputs.iter())
            .map(|t| t.split_whitespace().count())
            .sum();
        assert_eq!(out.summary.prompt_tokens, reported as u64);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_sends_chat_and_embedding_calls_each_to_its_engine() {
    limited(async {
        let embeddings = FakeEmbeddings::start().await;
        let chat = FakeOpenAi::start(FakeSettings::default()).await;
        let mut config = config_with(OpenAiEmbeddingsSettings::new(&embeddings.base_url(), "e"));
        config.engines.push(EngineSpec::openai(
            CHAT,
            OpenAiSettings::new(&chat.base_url(), "m"),
        ));
        let server = spawn_server(config).await;
        let calls = vec![
            embed_call(&["first".into()]),
            EngineCall {
                prompt: "second".into(),
                ..Default::default()
            },
        ];
        let spec = JobSpec {
            engine: CHAT.to_string(),
            embedding_engine: EMBED.to_string(),
            ..spec("", 2)
        };
        let (replies, out) = run_job_calls_on(&server.channel, "Both", spec, &calls).await;

        assert_eq!(vectors(&replies[&0]), vec![vector_of("first", 8)]);
        assert_eq!(reply_text(&replies[&1]), "reply to: second");
        assert_eq!(embeddings.requests().len(), 1);
        assert_eq!(chat.arrivals().len(), 1);
        assert_eq!(out.summary.engine, CHAT);
        assert_eq!(out.summary.embedding_engine, EMBED);
        assert_eq!(
            (out.summary.engine_calls, out.summary.embedding_calls),
            (2, 1),
            "two calls, one of them an embedding call"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_circuit_fails_the_waiting_items_only_of_jobs_that_call_its_engine() {
    limited(async {
        let dead_port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("bound").port()
        };
        let embeddings = FakeEmbeddings::start().await;
        let mut config = config_with(OpenAiEmbeddingsSettings::new(&embeddings.base_url(), "e"));
        let mut dead = OpenAiSettings::new(&format!("http://127.0.0.1:{dead_port}/v1"), "m");
        dead.max_retries = 0;
        config.engines.push(EngineSpec::openai(CHAT, dead));
        let server = spawn_server(config).await;

        // A chat job opens the dead endpoint's circuit (5 failures in a row).
        let texts: Vec<String> = (0..8).map(|i| format!("q{i}")).collect();
        let prompts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (replies, _) =
            run_engine_job_on(&server.channel, "Chat", CHAT, &prompt_calls(&prompts), 8).await;
        assert!(replies.values().all(|r| matches!(
            &r.outcome,
            Some(engine_reply::Outcome::Error(e)) if e.r#type == "EngineUnavailableError"
                || e.message.contains("127.0.0.1")
        )));
        let opened = std::time::Instant::now();

        // A job with that chat engine that only embeds: its items wait for
        // its 2 slots while the circuit is open, and all of them run.
        let n = 40u64;
        let expression = "tests.embed:OnlyEmbeds";
        let spec = JobSpec {
            engine: CHAT.to_string(),
            embedding_engine: EMBED.to_string(),
            ..spec(expression, 2)
        };
        let mut job = start_job(&server.channel, spec).await;
        let feed = async {
            job.send_items(items(0..n)).await;
            job.end().await;
            job.collect().await.expect("job finishes")
        };
        // Bounded: a worker whose items failed without running may wait on.
        let worker = tokio::time::timeout(
            Duration::from_secs(10),
            embedding_worker(&server, expression, 2),
        );
        let (replies, out) = tokio::join!(worker, feed);
        assert_eq!((out.summary.succeeded, out.summary.failed), (n, 0));
        let replies = replies.expect("the worker saw the job finish");
        assert!(
            opened.elapsed() < Duration::from_secs(2),
            "the circuit (2 s cool-down) was open while the job ran: it took {:?}",
            opened.elapsed()
        );
        assert_eq!(replies.len() as u64, n);
        assert_eq!(
            (out.summary.engine_calls, out.summary.embedding_calls),
            (n, n)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedding_call_without_an_embedding_engine_fails_naming_the_kind() {
    limited(async {
        let server = spawn_server(config()).await;
        let calls = vec![
            embed_call(&["x".into()]),
            EngineCall {
                prompt: "y".into(),
                ..Default::default()
            },
        ];
        let (replies, out) =
            run_job_calls_on(&server.channel, "NoEmbed", spec("", 2), &calls).await;

        let err = reply_error(&replies[&0]);
        assert_eq!(err.r#type, "NoEngineError");
        assert!(
            err.message
                .contains("no engine for embedding calls in this job")
                && err.message.contains("BatchScheduler(embedding_engine=...)")
                && err.message.contains("--embedding-engine"),
            "{}",
            err.message
        );
        assert_eq!(reply_text(&replies[&1]), "echo: y");
        assert_eq!(out.summary.embedding_engine, "");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_naming_an_engine_of_the_wrong_kind_or_none_is_refused() {
    limited(async {
        let server = spawn_server(config_with(OpenAiEmbeddingsSettings::new(
            "http://127.0.0.1:9/v1",
            "e",
        )))
        .await;
        for (spec, field, kind) in [
            (
                JobSpec {
                    engine: EMBED.into(),
                    ..spec("x:Y", 1)
                },
                "engine",
                "wrong_engine_kind",
            ),
            (
                JobSpec {
                    embedding_engine: "echo".into(),
                    ..spec("x:Y", 1)
                },
                "embedding_engine",
                "wrong_engine_kind",
            ),
            (
                JobSpec {
                    embedding_engine: "nope".into(),
                    ..spec("x:Y", 1)
                },
                "embedding_engine",
                "unknown_engine",
            ),
        ] {
            let status = try_start_job(&server.channel, spec)
                .await
                .err()
                .expect("refused");
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            let meta = status.metadata();
            assert_eq!(
                meta.get("symbatcher-field").and_then(|v| v.to_str().ok()),
                Some(field)
            );
            assert_eq!(
                meta.get("symbatcher-error-kind")
                    .and_then(|v| v.to_str().ok()),
                Some(kind)
            );
            assert!(status.message().starts_with(field), "{}", status.message());
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_each_jobs_engines_and_each_engines_call_kind() {
    limited(async {
        let mut config = config_with(OpenAiEmbeddingsSettings::new("http://127.0.0.1:9/v1", "e"));
        config.default_embedding_engine = Some(EMBED.into());
        let server = spawn_server(config).await;
        let _worker = connect_worker(&server.channel, "w", &["x:Y"], 1).await;
        let _job = start_job(&server.channel, spec("x:Y", 1)).await;
        let status = server.status().await;
        assert_eq!(status.default_embedding_engine, EMBED);
        assert_eq!(status.jobs[0].engine, "echo");
        assert_eq!(status.jobs[0].embedding_engine, EMBED);
        let kind_of = |name: &str| {
            status
                .engines
                .iter()
                .find(|e| e.name == name)
                .map(|e| (e.kind.clone(), e.call_kind.clone()))
        };
        assert_eq!(
            kind_of(EMBED),
            Some(("openai-embeddings".into(), "embedding".into()))
        );
        assert_eq!(
            kind_of("echo"),
            Some(("echo".into(), "neurosymbolic".into()))
        );
    })
    .await;
}
