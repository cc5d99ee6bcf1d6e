//! The openai-embeddings engine under an rpm limit: embedding calls that
//! arrive while the limit admits no request wait in the server's queue and
//! leave together, as one request, when it admits one, instead of each
//! small batch taking a request of the budget (`Engine::holds_new_batches`).
//!
//! Runs on real time (HTTP cannot run on a paused clock); the waves below
//! are hundreds of milliseconds apart inside the limit's one-second gap.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::fake_embeddings::FakeEmbeddings;
use common::*;
use symbatcher::config::EngineSpec;
use symbatcher::engine::openai_embeddings::OpenAiEmbeddingsSettings;
use symbatcher::pb::v1::{
    worker_command, worker_message, CallKind, EngineCall, JobSpec, WorkerEngineCall,
    WorkerEngineCallChunk, WorkerMessage,
};

const EMBED: &str = "embed";

fn embed_call(task_id: u64, index: u64) -> WorkerEngineCall {
    WorkerEngineCall {
        task_id,
        call: Some(EngineCall {
            call_id: task_id,
            kind: CallKind::Embedding as i32,
            inputs: vec![format!("text {index}")],
            ..Default::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_arriving_while_the_rpm_limit_admits_no_request_leave_as_one_request() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let fake = FakeEmbeddings::start().await;
        let mut settings =
            OpenAiEmbeddingsSettings::new(&fake.base_url(), "text-embedding-3-small");
        // One request a second: after the first, the next is admitted about
        // 0.9 s later (the limiter's burst is 100 ms).
        settings.http.rpm = Some(60);
        let mut config = config();
        config
            .engines
            .push(EngineSpec::openai_embeddings(EMBED, settings));
        let server = spawn_server(config).await;
        let expression = "tests.embed:Waves";
        let spec = JobSpec {
            embedding_engine: EMBED.to_string(),
            ..spec(expression, 100)
        };
        let mut job = start_job(&server.channel, spec).await;
        let mut worker = connect_worker(&server.channel, "waves", &[expression], 16).await;
        job.send_items(items(0..13)).await;
        job.end().await;

        // Every item is assigned at once (16 slots, 13 items).
        let mut tasks: HashMap<u64, u64> = HashMap::new();
        while tasks.len() < 13 {
            if let Some(worker_command::Kind::Assignments(chunk)) =
                worker.next_command().await.expect("assignments").kind
            {
                for a in chunk.assignments {
                    tasks.insert(a.index, a.task_id);
                }
            }
        }
        let send_calls = |indexes: std::ops::Range<u64>| {
            let calls = indexes.map(|i| embed_call(tasks[&i], i)).collect();
            WorkerMessage {
                kind: Some(worker_message::Kind::EngineCalls(WorkerEngineCallChunk {
                    calls,
                })),
            }
        };
        // Wave A: item 0 alone, the limit's first request, answered at once.
        worker.send(send_calls(0..1)).await;
        let mut answered: Vec<u64> = Vec::new();
        while answered.is_empty() {
            if let Some(worker_command::Kind::Replies(chunk)) =
                worker.next_command().await.expect("A's reply").kind
            {
                answered.extend(chunk.replies.iter().map(|r| r.call_id));
            }
        }
        // Waves B, C and D, 250 ms apart, all before the limit admits the
        // next request.
        for (wave, gap) in [(1..5, 100), (5..9, 250), (9..13, 250)] {
            tokio::time::sleep(Duration::from_millis(gap)).await;
            worker.send(send_calls(wave)).await;
        }
        let mut results = vec![ok_result(tasks[&0], b"1")];
        while answered.len() < 13 {
            if let Some(worker_command::Kind::Replies(chunk)) =
                worker.next_command().await.expect("replies").kind
            {
                for reply in chunk.replies {
                    answered.push(reply.call_id);
                    results.push(ok_result(reply.call_id, b"1"));
                }
            }
        }
        worker.send_results(results).await;
        let out = job.collect().await.expect("job finishes");
        assert_eq!(out.summary.succeeded, 13);

        let requests = fake.requests();
        let sizes: Vec<usize> = requests.iter().map(|r| r.inputs.len()).collect();
        assert_eq!(
            sizes,
            vec![1, 12],
            "wave A alone, then B, C and D together in the limit's next request"
        );
    })
    .await
    .expect("test finished in time");
}
